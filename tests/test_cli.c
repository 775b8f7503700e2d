/*
 * test_cli.c - hyenac as a user meets it: one test per class of bad input
 * or usage. Each must give exactly one line on stderr naming the file and
 * the problem, exit 1 (input) or 2 (usage), never a signal, and leave no
 * output file behind.
 */
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/npy.h"
#include "testutil.h"

/* Run hyenac, expect failure with `code`, one stderr line containing every
 * string in `needles`, and no file at out (if given). */
static void expect_fail(const char *const *args, int code,
                        const char *const *needles, const char *out)
{
	RunResult r;
	tu_run_hyenac(&r, args);
	ck_assert_msg(r.signal == 0, "killed by signal %d: %s", r.signal, r.err);
	ck_assert_msg(r.status == code, "exit %d, want %d; stderr: %s", r.status,
	              code, r.err);
	ck_assert_msg(tu_lines(r.err) == 1, "want one line, got: %s", r.err);
	for (; needles && *needles; needles++)
		ck_assert_msg(strstr(r.err, *needles), "'%s' not in: %s", *needles,
		              r.err);
	if (out)
		ck_assert_msg(access(out, F_OK) != 0, "%s was left behind", out);
}

/* A checkpoint directory in the scratch dir: golden tiny-1k's files, with
 * config.json and/or model.safetensors replaced when given. */
static const char *make_ckpt(const char *dir, const char *config,
                             const void *st, size_t st_len)
{
	char rel[256];
	size_t n;
	const char *path = tu_path(tu_tmpdir(), dir);
	mkdir(path, 0755);
	char *cfg = config ? NULL : tu_read(tu_golden("tiny-1k", "config.json"), &n);
	snprintf(rel, sizeof rel, "%s/config.json", dir);
	if (config)
		tu_write_str(rel, config);
	else
		tu_write(rel, cfg, n);
	free(cfg);
	char *w = st ? NULL : tu_read(tu_golden("tiny-1k", "model.safetensors"), &n);
	snprintf(rel, sizeof rel, "%s/model.safetensors", dir);
	tu_write(rel, st ? st : w, st ? st_len : n);
	free(w);
	return path;
}

/* golden tiny-1k config.json with one substitution */
static char *config_with(const char *from, const char *to)
{
	size_t n;
	char *cfg = tu_read(tu_golden("tiny-1k", "config.json"), &n);
	char *p = strstr(cfg, from);
	ck_assert_msg(p, "'%s' not in config.json", from);
	char *out = malloc(n + strlen(to) + 1);
	memcpy(out, cfg, (size_t)(p - cfg));
	strcpy(out + (p - cfg), to);
	strcat(out, p + strlen(from));
	free(cfg);
	return out;
}

static const char *tokens_file(const char *name, const int32_t *ids, int64_t B,
                               int64_t L)
{
	Diag d;
	const char *p = tu_path(tu_tmpdir(), name);
	int64_t dims[2] = {B, L};
	diag_init(&d);
	ck_assert_msg(npy_save_i32(p, ids, 2, dims, &d), "%s", d.msg);
	return p;
}

static const char *out_path(void)
{
	return tu_path(tu_tmpdir(), "never-written.npy");
}

static const char *good_tokens(void)
{
	static const int32_t ids[8] = {7, 8, 9, 10, 11, 7, 8, 9};
	return tokens_file("good.npy", ids, 2, 4);
}

START_TEST(usage_errors)
{
	const char *none[] = {NULL};
	expect_fail(none, 2, (const char *[]){"no command", NULL}, NULL);
	expect_fail((const char *[]){"frobnicate", "x", NULL}, 2,
	            (const char *[]){"unknown command 'frobnicate'", NULL}, NULL);
	expect_fail((const char *[]){"run", "--bogus", NULL}, 2,
	            (const char *[]){"unknown option '--bogus'", NULL}, NULL);
	expect_fail((const char *[]){"run", tu_source("models/hyenadna-tiny-1k.yaml"),
	                             "embed", NULL},
	            2, (const char *[]){"--tokens", NULL}, NULL);
	expect_fail((const char *[]){"run", tu_source("models/hyenadna-tiny-1k.yaml"),
	                             "hidden", "--tokens", "t", "-o", "o", NULL},
	            2, (const char *[]){"embed, logits or classify", NULL}, NULL);
	expect_fail((const char *[]){"run", "m", "embed", "--tokens", NULL}, 2,
	            (const char *[]){"needs a value", NULL}, NULL);
}
END_TEST

START_TEST(missing_model)
{
	const char *o = out_path();
	expect_fail((const char *[]){"run", "/nonexistent/model.yaml", "embed",
	                             "--tokens", good_tokens(), "-o", o, NULL},
	            1, (const char *[]){"/nonexistent/model.yaml", NULL}, o);
}
END_TEST

START_TEST(broken_yaml)
{
	const char *o = out_path();
	const char *y = tu_write_str("broken.yaml", "d_model: [128\nn_layer: 2\n");
	expect_fail((const char *[]){"run", y, "embed", "--tokens", good_tokens(),
	                             "-o", o, NULL},
	            1, (const char *[]){"broken.yaml:", NULL}, o);
	y = tu_write_str("typo.yaml", "d_modle: 128\n");
	expect_fail((const char *[]){"info", y, NULL}, 1,
	            (const char *[]){"typo.yaml:1:1", "d_modle", "d_model", NULL},
	            NULL);
}
END_TEST

START_TEST(bad_config_json)
{
	const char *dir = make_ckpt("ck-badjson", "{\"d_model\": 128,,}", NULL, 0);
	expect_fail((const char *[]){"info", dir, NULL}, 1,
	            (const char *[]){"config.json", NULL}, NULL);
	char *cfg = config_with("\"d_model\"", "\"d_modle\"");
	dir = make_ckpt("ck-typo", cfg, NULL, 0);
	free(cfg);
	expect_fail((const char *[]){"info", dir, NULL}, 1,
	            (const char *[]){"config.json", "d_modle", "d_model", NULL},
	            NULL);
}
END_TEST

START_TEST(wrong_tensor_shape)
{
	/* d_inner 256 makes every fc1/fc2 tensor the wrong shape */
	char *cfg = config_with("\"d_inner\": 512", "\"d_inner\": 256");
	const char *dir = make_ckpt("ck-shape", cfg, NULL, 0);
	free(cfg);
	expect_fail((const char *[]){"info", dir, NULL}, 1,
	            (const char *[]){"model.safetensors", "mlp.fc1.weight",
	                             "[512,128]", NULL},
	            NULL);
}
END_TEST

START_TEST(missing_and_unexpected_tensor)
{
	char *cfg = config_with("\"n_layer\": 2", "\"n_layer\": 3");
	const char *dir = make_ckpt("ck-missing", cfg, NULL, 0);
	free(cfg);
	expect_fail((const char *[]){"info", dir, NULL}, 1,
	            (const char *[]){"missing tensor", "layers.2.", NULL}, NULL);
	cfg = config_with("\"n_layer\": 2", "\"n_layer\": 1");
	dir = make_ckpt("ck-extra", cfg, NULL, 0);
	free(cfg);
	expect_fail((const char *[]){"info", dir, NULL}, 1,
	            (const char *[]){"unexpected tensor", "layers.1.", NULL}, NULL);
}
END_TEST

START_TEST(truncated_safetensors)
{
	size_t n;
	char *w = tu_read(tu_golden("tiny-1k", "model.safetensors"), &n);
	const char *dir = make_ckpt("ck-trunc", NULL, w, n / 2);
	expect_fail((const char *[]){"info", dir, NULL}, 1,
	            (const char *[]){"model.safetensors", NULL}, NULL);
	dir = make_ckpt("ck-tiny", NULL, w, 5);
	expect_fail((const char *[]){"info", dir, NULL}, 1,
	            (const char *[]){"model.safetensors", NULL}, NULL);
	free(w);
}
END_TEST

/* golden tiny-1k's model.safetensors with element `elem` of tensor `name`
 * set to the float with bits `bits`, found through the header's
 * data_offsets. */
static char *safetensors_with(const char *name, size_t elem, uint32_t bits,
                              size_t *n)
{
	char *w = tu_read(tu_golden("tiny-1k", "model.safetensors"), n);
	char key[200];
	uint64_t hlen = 0;

	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | (unsigned char)w[i];
	snprintf(key, sizeof key, "\"%s\":", name);
	char *p = strstr(w + 8, key);
	ck_assert_msg(p && (uint64_t)(p - w) < 8 + hlen, "%s not in header",
	              name);
	p = strstr(p, "\"data_offsets\":[");
	ck_assert_ptr_nonnull(p);
	size_t begin = strtoull(p + strlen("\"data_offsets\":["), NULL, 10);
	size_t at = 8 + hlen + begin + elem * sizeof bits;
	ck_assert_uint_le(at + sizeof bits, *n);
	memcpy(w + at, &bits, sizeof bits);
	return w;
}

/* info, compile, run and run --interp each refuse the checkpoint in dir
 * with one line holding every needle. */
static void expect_refused_everywhere(const char *dir,
                                      const char *const *needles)
{
	const char *o = out_path();
	const char *exe = tu_path(tu_tmpdir(), "never-compiled");
	expect_fail((const char *[]){"info", dir, NULL}, 1, needles, NULL);
	expect_fail((const char *[]){"compile", dir, "-o", exe, NULL}, 1,
	            needles, exe);
	expect_fail((const char *[]){"run", dir, "embed", "--tokens",
	                             good_tokens(), "-o", o, NULL},
	            1, needles, o);
	expect_fail((const char *[]){"run", dir, "logits", "--tokens",
	                             good_tokens(), "-o", o, "--interp", NULL},
	            1, needles, o);
}

START_TEST(nonfinite_weights)
{
	size_t n;
	char *w = safetensors_with("hyena.backbone.layers.1.mlp.fc1.weight",
	                           130, 0x7fc00000u, &n);
	const char *dir = make_ckpt("ck-nan", NULL, w, n);
	free(w);
	/* fc1.weight is [512, 128]: element 130 is [1, 2] */
	expect_refused_everywhere(
	    dir, (const char *[]){"model.safetensors",
	                          "'hyena.backbone.layers.1.mlp.fc1.weight'",
	                          "element 130 [1, 2]", "NaN", NULL});

	w = safetensors_with("hyena.backbone.ln_f.bias", 127, 0x7f800000u, &n);
	dir = make_ckpt("ck-inf", NULL, w, n);
	free(w);
	expect_refused_everywhere(
	    dir, (const char *[]){"model.safetensors",
	                          "'hyena.backbone.ln_f.bias'",
	                          "element 127 [127]", "+Inf", NULL});

	w = safetensors_with("hyena.backbone.embeddings.word_embeddings.weight",
	                     0, 0xff800000u, &n);
	dir = make_ckpt("ck-minf", NULL, w, n);
	free(w);
	expect_fail((const char *[]){"info", dir, NULL}, 1,
	            (const char *[]){"word_embeddings.weight'", "element 0 [0, 0]",
	                             "-Inf", NULL},
	            NULL);
}
END_TEST

START_TEST(bad_token_files)
{
	const char *model = tu_source("models/hyenadna-tiny-1k.yaml");
	const char *o = out_path();
	const char *junk = tu_write_str("junk.npy", "this is not numpy");
	expect_fail((const char *[]){"run", model, "embed", "--tokens", junk, "-o",
	                             o, NULL},
	            1, (const char *[]){"junk.npy", NULL}, o);

	static const int32_t bad[4] = {7, 8, 99, 9};
	const char *t = tokens_file("oov.npy", bad, 1, 4);
	expect_fail((const char *[]){"run", model, "embed", "--tokens", t, "-o", o,
	                             NULL},
	            1, (const char *[]){"oov.npy", "token id 99 at [0, 2]", NULL},
	            o);

	int32_t *many = calloc(2000, sizeof *many);
	for (int i = 0; i < 2000; i++)
		many[i] = 7;
	t = tokens_file("long.npy", many, 1, 2000);
	free(many);
	expect_fail((const char *[]){"run", model, "logits", "--tokens", t, "-o",
	                             o, NULL},
	            1, (const char *[]){"long.npy", "2000", "max_seq_len 1026", NULL},
	            o);

	Diag d;
	float f[4] = {7, 8, 9, 10};
	int64_t dims[2] = {1, 4};
	const char *fp = tu_path(tu_tmpdir(), "float.npy");
	diag_init(&d);
	ck_assert(npy_save_f32(fp, f, 2, dims, &d));
	expect_fail((const char *[]){"run", model, "embed", "--tokens", fp, "-o",
	                             o, NULL},
	            1, (const char *[]){"float.npy", NULL}, o);
}
END_TEST

START_TEST(help_and_version)
{
	RunResult r;
	tu_run_hyenac(&r, (const char *[]){"--help", NULL});
	ck_assert_int_eq(r.status, 0);
	ck_assert(strstr(r.out, "usage: hyenac"));
	tu_run_hyenac(&r, (const char *[]){"--version", NULL});
	ck_assert_int_eq(r.status, 0);
	ck_assert(strstr(r.out, "LLVM 19."));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("errors");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, usage_errors);
	tcase_add_test(tc, missing_model);
	tcase_add_test(tc, broken_yaml);
	tcase_add_test(tc, bad_config_json);
	tcase_add_test(tc, wrong_tensor_shape);
	tcase_add_test(tc, missing_and_unexpected_tensor);
	tcase_add_test(tc, truncated_safetensors);
	tcase_add_test(tc, nonfinite_weights);
	tcase_add_test(tc, bad_token_files);
	tcase_add_test(tc, help_and_version);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
