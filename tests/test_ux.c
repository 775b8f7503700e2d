/*
 * test_ux.c - what a new user meets first on a compiled model binary
 * (issue 16, point 5): a binary whose weights came from a YAML seed says
 * so (`info`, `--help`), one whose weights were trained does not;
 * `--version` and `COMMAND --help`.
 *
 * Two binaries are compiled once, before the tests fork, at --seq-len 64:
 * `seeded` from a tiny-1k YAML with a seed no other file uses, and
 * `trained` from the golden tiny-1k checkpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/hyrt.h"
#include "testutil.h"

#define SEED "9876543210123"

static char seeded[4096], trained[4096];

static void compile_or_die(const char *model, const char *out)
{
	RunResult r;

	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", out,
	                                   "--seq-len", "64", NULL});
	if (r.status != 0) {
		fprintf(stderr, "compile %s failed: %s\n", model, r.err);
		exit(1);
	}
}

static void setup(void)
{
	size_t n;
	char *yaml = tu_read(tu_source("models/hyenadna-tiny-1k.yaml"), &n);
	char *p = yaml ? strstr(yaml, "weights: {seed: 1}") : NULL;

	if (!p) {
		fprintf(stderr, "models/hyenadna-tiny-1k.yaml has no seed\n");
		exit(1);
	}
	*p = '\0';
	char *text = malloc(n + 64);
	snprintf(text, n + 64, "%sweights: {seed: " SEED "}\n", yaml);
	const char *model = tu_write_str("seeded.yaml", text);
	free(text);
	free(yaml);
	snprintf(seeded, sizeof seeded, "%s", tu_path(tu_tmpdir(), "seeded"));
	snprintf(trained, sizeof trained, "%s",
	         tu_path(tu_tmpdir(), "trained"));
	compile_or_die(model, seeded);
	compile_or_die(HYENAC_GOLDEN_DIR "/tiny-1k", trained);
}

static void ok_run(RunResult *r, const char *exe, const char *const *args)
{
	tu_run(r, exe, args);
	ck_assert_msg(r->status == 0, "%s failed (status %d, signal %d): %s",
	              exe, r->status, r->signal, r->err);
}

/* (a) info and --help of a seeded binary name the seed and say the
 * outputs mean nothing; a trained binary's say nothing of the kind. */
START_TEST(random_weights_said)
{
	RunResult r;

	ok_run(&r, seeded, (const char *[]){"info", NULL});
	ck_assert_msg(strstr(r.out, "random_weights=seed " SEED
	                            ": outputs carry no biology\n"),
	              "info: %s", r.out);
	ok_run(&r, seeded, (const char *[]){"--help", NULL});
	ck_assert_msg(strstr(r.out, "weights are random (seed " SEED ")"),
	              "--help: %s", r.out);
	ck_assert_msg(strstr(r.out, "no biology"), "--help: %s", r.out);

	ok_run(&r, trained, (const char *[]){"info", NULL});
	ck_assert_msg(strstr(r.out, "random_weights=no\n"), "info: %s", r.out);
	ck_assert_msg(!strstr(r.out, "biology"), "info: %s", r.out);
	ok_run(&r, trained, (const char *[]){"--help", NULL});
	ck_assert_msg(!strstr(r.out, "weights are random"), "--help: %s",
	              r.out);
}
END_TEST

/* (a) the demo script says it too (checked on its text: running it
 * compiles and benchmarks a model). */
START_TEST(demo_says_random)
{
	size_t n;
	char *demo = tu_read(tu_source("scripts/demo.sh"), &n);

	ck_assert_ptr_nonnull(demo);
	ck_assert_msg(strstr(demo, "random_weights=seed"), "demo.sh");
	ck_assert_msg(strstr(demo, "carry no biology"), "demo.sh");
	free(demo);
}
END_TEST

/* (b) --version: the model's name and hyenac's version, exit 0. */
START_TEST(version)
{
	RunResult r;

	ok_run(&r, seeded, (const char *[]){"--version", NULL});
	ck_assert_msg(strstr(r.out, "hyenadna-tiny-1k"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "hyenac " HYRT_HYENAC_VERSION), "%s",
	              r.out);
	ck_assert_int_eq(tu_lines(r.out), 1);
	ck_assert_str_eq(r.err, "");
}
END_TEST

/* (b) COMMAND --help: that command's usage alone, exit 0; embed's
 * includes its --fasta variant. */
START_TEST(command_help)
{
	RunResult r;

	ok_run(&r, seeded, (const char *[]){"embed", "--help", NULL});
	ck_assert_msg(strstr(r.out, "--tokens"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "--fasta"), "%s", r.out);
	ck_assert_msg(!strstr(r.out, "bench"), "%s", r.out);
	ck_assert_msg(!strstr(r.out, "logits --tokens"), "%s", r.out);
	ok_run(&r, seeded, (const char *[]){"bench", "--help", NULL});
	ck_assert_msg(strstr(r.out, "--reps"), "%s", r.out);
	ck_assert_msg(!strstr(r.out, "--tokens"), "%s", r.out);
	ok_run(&r, seeded, (const char *[]){"score", "--fasta", "x.fa", "-h",
	                                    NULL});
	ck_assert_msg(strstr(r.out, "score"), "%s", r.out);
	ck_assert_msg(!strstr(r.out, "info"), "%s", r.out);
	/* the whole help still lists every command */
	ok_run(&r, seeded, (const char *[]){"--help", NULL});
	ck_assert_msg(strstr(r.out, "bench") && strstr(r.out, "--tokens") &&
	              strstr(r.out, "--version"), "%s", r.out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ux");
	TCase *tc = tcase_create("ux");
	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, random_weights_said);
	tcase_add_test(tc, demo_says_random);
	tcase_add_test(tc, version);
	tcase_add_test(tc, command_help);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
