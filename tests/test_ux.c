/*
 * test_ux.c - what a new user meets first on a compiled model binary
 * (issue 16, point 5): a binary whose weights came from a YAML seed says
 * so (`info`, `--help`), one whose weights were trained does not;
 * `--version` and `COMMAND --help`; token arrays [L] read as [1, L];
 * FASTA warnings on what was read as [UNK] (soft-masked bases, protein).
 *
 * Two binaries are compiled once, before the tests fork, at --seq-len 64:
 * `seeded` from a tiny-1k YAML with a seed no other file uses, and
 * `trained` from the golden tiny-1k checkpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/hyrt.h"
#include "runtime/npy.h"
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
	/* and hyenac info on the YAML itself */
	tu_run_hyenac(&r, (const char *[]){"info",
	                                   tu_path(tu_tmpdir(), "seeded.yaml"),
	                                   NULL});
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "weights=random (seed " SEED "): outputs "
	                            "carry no biology\n"), "%s", r.out);
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

/* Run `cmd --tokens tok -o out [--pool pool]` and load out. */
static NpyArray run_npy(const char *cmd, const char *tok, const char *out,
                        const char *pool)
{
	RunResult r;
	NpyArray a;
	Diag d;

	if (pool)
		ok_run(&r, seeded, (const char *[]){cmd, "--tokens", tok, "-o",
		                                    out, "--pool", pool, NULL});
	else
		ok_run(&r, seeded, (const char *[]){cmd, "--tokens", tok, "-o",
		                                    out, NULL});
	ck_assert_str_eq(r.err, "");
	diag_init(&d);
	ck_assert_msg(npy_load(out, &a, &d), "%s", d.msg);
	return a;
}

/* (c) tokens [L] are one row [1, L]: embed, logits and embed --pool
 * give what [1, L] gives, batch dim 1 included; --help says so. */
START_TEST(one_d_tokens_one_row)
{
	static const int32_t ids[5] = {7, 8, 9, 10, 11};
	const char *cmds[3] = {"embed", "logits", "embed"};
	const char *pools[3] = {NULL, NULL, "mean"};
	Diag d;

	diag_init(&d);
	const char *t1 = tu_path(tu_tmpdir(), "t1.npy");
	const char *t2 = tu_path(tu_tmpdir(), "t2.npy");
	ck_assert(npy_save_i32(t1, ids, 1, (int64_t[]){5}, &d));
	ck_assert(npy_save_i32(t2, ids, 2, (int64_t[]){1, 5}, &d));
	for (int i = 0; i < 3; i++) {
		NpyArray a = run_npy(cmds[i], t1, tu_path(tu_tmpdir(), "o1.npy"),
		                     pools[i]);
		NpyArray b = run_npy(cmds[i], t2, tu_path(tu_tmpdir(), "o2.npy"),
		                     pools[i]);
		ck_assert_int_eq(a.rank, pools[i] ? 2 : 3);
		ck_assert_int_eq(a.rank, b.rank);
		ck_assert_int_eq(a.dim[0], 1);
		if (!pools[i])
			ck_assert_int_eq(a.dim[1], 5);
		for (int k = 0; k < a.rank; k++)
			ck_assert_int_eq(a.dim[k], b.dim[k]);
		ck_assert(a.numel == b.numel);
		ck_assert(memcmp(a.data, b.data, a.numel * sizeof(float)) == 0);
		npy_free(&a);
		npy_free(&b);
	}
	/* rank 3 is still refused, exit 1 */
	const char *t3 = tu_path(tu_tmpdir(), "t3.npy");
	ck_assert(npy_save_i32(t3, ids, 3, (int64_t[]){1, 1, 5}, &d));
	RunResult r;
	tu_run(&r, seeded, (const char *[]){"embed", "--tokens", t3, "-o",
	                                    tu_path(tu_tmpdir(), "o3.npy"),
	                                    NULL});
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "rank 3"), "%s", r.err);
	ck_assert_int_eq(tu_lines(r.err), 1);

	ok_run(&r, seeded, (const char *[]){"--help", NULL});
	ck_assert_msg(strstr(r.out, "[L] is one row [1, L]"), "%s", r.out);
}
END_TEST

/* Run `embed --fasta fa` with extra arguments; exit 0, output made. */
static void embed_fasta(RunResult *r, const char *fa, const char *extra)
{
	const char *x = tu_path(tu_tmpdir(), "fa.npy");

	if (extra)
		ok_run(r, seeded, (const char *[]){"embed", "--fasta", fa, "-o",
		                                   x, extra, NULL});
	else
		ok_run(r, seeded, (const char *[]){"embed", "--fasta", fa, "-o",
		                                   x, NULL});
}

/* (d) soft-masked bases under --case strict: one warning with their
 * fraction (5 of 40 bases; lowercase r is [UNK] either way, not
 * counted) and the way out; none with --case upper or --quiet. */
START_TEST(soft_masked_fraction)
{
	RunResult r;
	const char *fa = tu_write_str("soft.fa",
	                              ">a\nACGTACGTACGTACGTacgt\n"
	                              ">b\nACGTACGTACGTACGTACrn\n");

	embed_fasta(&r, fa, NULL);
	ck_assert_msg(tu_lines(r.err) == 1, "%s", r.err);
	ck_assert_msg(strstr(r.err, "warning: 12.5% of the bases of "),
	              "%s", r.err);
	ck_assert_msg(strstr(r.err, "lowercase (soft-masked) and read as "
	                            "[UNK]"), "%s", r.err);
	ck_assert_msg(strstr(r.err, "use --case upper"), "%s", r.err);
	ck_assert_msg(!strstr(r.err, "mostly"), "%s", r.err);
	embed_fasta(&r, fa, "--quiet");
	ck_assert_str_eq(r.err, "");
	embed_fasta(&r, fa, "--case=upper");
	ck_assert_str_eq(r.err, "");

	/* a wholly soft-masked record is not "mostly [UNK]": the warning
	 * above covers it */
	fa = tu_write_str("soft2.fa", ">a\nacgtacgtac\n");
	embed_fasta(&r, fa, NULL);
	ck_assert_int_eq(tu_lines(r.err), 1);
	ck_assert_msg(strstr(r.err, "100.0% of the bases"), "%s", r.err);
}
END_TEST

/* (d) a record over half [UNK] (protein) is named, escaped, with its
 * share; half exactly is not; --quiet silences it; exit 0 throughout. */
START_TEST(mostly_unk_record)
{
	RunResult r;
	const char *fa = tu_write_str("prot.fa",
	                              ">dna\nACGTRRRR\n"            /* 4/8 */
	                              ">sp|P1\x1b[31m desc\nMKVLAAGIVG\n" /* 6/10 */
	                              ">p2\nMKWWWWWWWA\n");         /* 9/10 */

	embed_fasta(&r, fa, NULL);
	ck_assert_int_eq(tu_lines(r.err), 1);
	ck_assert_msg(strstr(r.err, "warning: record 'sp|P1\\x1b[31m' of "),
	              "%s", r.err);
	ck_assert_msg(strstr(r.err, "is mostly [UNK] (60.0% of its 10 bases"),
	              "%s", r.err);
	ck_assert_msg(strstr(r.err, "2 record(s) in all"), "%s", r.err);
	ck_assert_msg(!strstr(r.err, "lowercase"), "%s", r.err);
	embed_fasta(&r, fa, "-q");
	ck_assert_str_eq(r.err, "");

	fa = tu_write_str("half.fa", ">dna\nACGTRRRR\n");
	embed_fasta(&r, fa, NULL);
	ck_assert_str_eq(r.err, "");
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
	tcase_add_test(tc, one_d_tokens_one_row);
	tcase_add_test(tc, soft_masked_fraction);
	tcase_add_test(tc, mostly_unk_record);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
