/*
 * test_yaml.c - the YAML model description (frontend/yaml_model.c) and the
 * spec checks behind it (frontend/spec.c): every description in models/
 * loads with its released shape, a description using the whole schema
 * parses, and each class of bad input fails with one line naming the
 * file, the place and the problem. A last test feeds truncated and
 * mangled descriptions and asks only that the loader answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "testutil.h"

typedef struct Loaded {
	Arena *a;
	ModelSpec s;
	WeightSource w;
	Diag d;
	bool ok;
} Loaded;

static void load(Loaded *l, const char *path)
{
	l->a = arena_new();
	diag_init(&l->d);
	l->ok = fe_yaml_load(l->a, path, &l->s, &l->w, &l->d);
	ck_assert_msg(l->ok == diag_ok(&l->d), "%s: ok=%d but diag '%s'",
	              path, l->ok, l->d.msg);
}

/* ---- the shipped descriptions ----------------------------------------- */

static const struct {
	const char *name;
	int64_t d_model, n_layer, d_inner, max_seq_len;
} released[] = {
	{"hyenadna-tiny-1k", 128, 2, 512, 1026},
	{"hyenadna-tiny-1k-d256", 256, 2, 1024, 1026},
	{"hyenadna-tiny-16k-d128", 128, 2, 512, 16386},
	{"hyenadna-small-32k", 256, 4, 1024, 32770},
	{"hyenadna-medium-160k", 256, 8, 1024, 160002},
	{"hyenadna-medium-450k", 256, 8, 1024, 450002},
	{"hyenadna-large-1m", 256, 8, 1024, 1000002},
};

START_TEST(test_released_models)
{
	char rel[256];
	Loaded l;

	snprintf(rel, sizeof rel, "models/%s.yaml", released[_i].name);
	load(&l, tu_source(rel));
	ck_assert_msg(l.ok, "%s", l.d.msg);
	ck_assert_str_eq(l.s.name, released[_i].name);
	ck_assert_int_eq(l.s.d_model, released[_i].d_model);
	ck_assert_int_eq(l.s.n_layer, released[_i].n_layer);
	ck_assert_int_eq(l.s.d_inner, released[_i].d_inner);
	ck_assert_int_eq(l.s.max_seq_len, released[_i].max_seq_len);
	ck_assert_int_eq(l.s.mlp_act, ACT_GELU_TANH);
	ck_assert_int_eq(l.s.order, 2);
	ck_assert_int_eq(l.s.short_filter, 3);
	ck_assert_int_eq(l.s.emb_dim, 5);
	ck_assert_int_eq(l.s.filter_order, 64);
	ck_assert_int_eq(l.s.num_inner_mlps, 2);
	ck_assert_double_eq(l.s.sin_freq, 10.0);
	ck_assert_double_eq(l.s.fast_decay_pct, 0.3);
	ck_assert_double_eq(l.s.slow_decay_pct, 1.5);
	ck_assert_double_eq(l.s.decay_target, 1e-2);
	ck_assert_double_eq(l.s.mod_shift, 0.05);
	ck_assert(l.s.modulate);
	ck_assert_double_eq(l.s.norm_eps, 1e-5);
	ck_assert_int_eq(l.s.vocab_size, 12);
	ck_assert_int_eq(l.s.pad_vocab_multiple, 8);
	ck_assert_int_eq(fe_vocab_padded(&l.s), 16);
	ck_assert(l.s.lm_head);
	ck_assert_ptr_null(l.w.safetensors);
	ck_assert_uint_eq(l.w.seed, 1);
	arena_free(l.a);
}
END_TEST

START_TEST(test_defaults_pass_check)
{
	ModelSpec s;
	Diag d;

	fe_spec_defaults(&s);
	diag_init(&d);
	ck_assert_msg(fe_spec_check(&s, "defaults", &d), "%s", d.msg);
	ck_assert_int_eq(fe_vocab_padded(&s), 16);
	ck_assert_str_eq(fe_activation_name(ACT_GELU_TANH), "gelu_tanh");
	ck_assert_str_eq(fe_activation_name(ACT_GELU), "gelu");
	ck_assert_str_eq(fe_activation_name(ACT_RELU), "relu");
}
END_TEST

/* ---- variants --------------------------------------------------------- */

START_TEST(test_full_schema)
{
	const char *path = tu_write_str("full.yaml",
		"# every key, none at its default\n"
		"name: my-variant\n"
		"d_model: 96\n"
		"n_layer: 3\n"
		"max_seq_len: 4096\n"
		"vocab:\n"
		"  size: 20\n"
		"  pad_multiple: 16\n"
		"mlp:\n"
		"  d_inner: 200\n"
		"  activation: relu\n"
		"hyena:\n"
		"  order: 3\n"
		"  short_filter: 4\n"
		"  filter:\n"
		"    emb_dim: 9\n"
		"    order: 32\n"
		"    inner_mlps: 0\n"
		"    sin_freq: 1.5\n"
		"    modulation:\n"
		"      fast_decay_pct: 0.25\n"
		"      slow_decay_pct: 2\n"
		"      target: 1e-3\n"
		"      shift: -0.5\n"
		"      enabled: false\n"
		"norm_eps: 1.0e-6\n"
		"head: none\n"
		"weights:\n"
		"  safetensors: \"ckpt/model.safetensors\"\n");
	Loaded l;

	load(&l, path);
	ck_assert_msg(l.ok, "%s", l.d.msg);
	ck_assert_str_eq(l.s.name, "my-variant");
	ck_assert_int_eq(l.s.d_model, 96);
	ck_assert_int_eq(l.s.n_layer, 3);
	ck_assert_int_eq(l.s.max_seq_len, 4096);
	ck_assert_int_eq(l.s.vocab_size, 20);
	ck_assert_int_eq(l.s.pad_vocab_multiple, 16);
	ck_assert_int_eq(fe_vocab_padded(&l.s), 32);
	ck_assert_int_eq(l.s.d_inner, 200);
	ck_assert_int_eq(l.s.mlp_act, ACT_RELU);
	ck_assert_int_eq(l.s.order, 3);
	ck_assert_int_eq(l.s.short_filter, 4);
	ck_assert_int_eq(l.s.emb_dim, 9);
	ck_assert_int_eq(l.s.filter_order, 32);
	ck_assert_int_eq(l.s.num_inner_mlps, 0);
	ck_assert_double_eq(l.s.sin_freq, 1.5);
	ck_assert_double_eq(l.s.fast_decay_pct, 0.25);
	ck_assert_double_eq(l.s.slow_decay_pct, 2.0);
	ck_assert_double_eq(l.s.decay_target, 1e-3);
	ck_assert_double_eq(l.s.mod_shift, -0.5);
	ck_assert(!l.s.modulate);
	ck_assert_double_eq(l.s.norm_eps, 1e-6);
	ck_assert(!l.s.lm_head);
	ck_assert_str_eq(l.w.safetensors,
	                 tu_path(tu_tmpdir(), "ckpt/model.safetensors"));
	arena_free(l.a);
}
END_TEST

START_TEST(test_minimal_falls_back)
{
	const char *path = tu_write_str("minimal.yml",
		"d_model: 64\n"
		"n_layer: 1\n"
		"max_seq_len: 100\n"
		"weights: {seed: 18446744073709551615}\n");
	ModelSpec def;
	Loaded l;

	load(&l, path);
	ck_assert_msg(l.ok, "%s", l.d.msg);
	fe_spec_defaults(&def);
	ck_assert_str_eq(l.s.name, "minimal");
	ck_assert_int_eq(l.s.d_inner, 4 * 64);
	ck_assert_int_eq(l.s.emb_dim, def.emb_dim);
	ck_assert_int_eq(l.s.filter_order, def.filter_order);
	ck_assert_double_eq(l.s.norm_eps, def.norm_eps);
	ck_assert_int_eq(l.s.vocab_size, def.vocab_size);
	ck_assert(l.s.lm_head);
	ck_assert_uint_eq(l.w.seed, UINT64_MAX);
	ck_assert_ptr_null(l.w.safetensors);
	arena_free(l.a);
}
END_TEST

START_TEST(test_absolute_safetensors_path)
{
	const char *path = tu_write_str("abs.yaml",
		"d_model: 8\nn_layer: 1\nmax_seq_len: 16\n"
		"weights: {safetensors: /data/w.safetensors}\n");
	Loaded l;

	load(&l, path);
	ck_assert_msg(l.ok, "%s", l.d.msg);
	ck_assert_str_eq(l.w.safetensors, "/data/w.safetensors");
	arena_free(l.a);
}
END_TEST

/* ---- bad input -------------------------------------------------------- */

static const struct {
	const char *what; /* also the file name */
	const char *text;
	const char *where; /* ":LINE:COL: " or "" for whole-file problems */
	const char *problem;
} bad[] = {
	{"broken-flow", "vocab: {size: 12\n", ":2:1: ",
	 "invalid YAML: did not find expected ',' or '}' (while parsing a "
	 "flow mapping at 1:8)"},
	{"broken-tab", "\td_model: 8\n", ":1:1: ",
	 "invalid YAML: found character that cannot start any token"},
	{"broken-block", "d_model: 8\nn_layer: 1\n]\n", ":3:1: ",
	 "invalid YAML: did not find expected key"},
	{"broken-quote", "name: \"abc\n", ":2:1: ",
	 "invalid YAML: found unexpected end of stream (while scanning a "
	 "quoted scalar at 1:7)"},
	{"broken-utf8", "d_model: 8\nname: ab\xff\n", ":2:9: ",
	 "invalid YAML: invalid leading UTF-8 octet (byte 19)"},
	{"unknown-key", "d_modle: 128\n", ":1:1: ",
	 "unknown key 'd_modle'; did you mean 'd_model'?"},
	{"unknown-nested", "d_model: 8\nhyena:\n  ordr: 2\n", ":3:3: ",
	 "unknown key 'ordr' in 'hyena'; did you mean 'order'?"},
	{"misplaced-key", "d_model: 8\nd_inner: 32\n", ":2:1: ",
	 "unknown key 'd_inner'; did you mean 'mlp.d_inner'?"},
	{"unknown-far", "d_model: 8\ncolour: red\n", ":2:1: ",
	 "unknown key 'colour' (known: name, d_model, n_layer"},
	{"nul-key", "\"d_model\\0x\": 8\n", ":1:1: ",
	 "unknown key 'd_model?x'"},
	{"type-string", "d_model: \"128\"\n", ":1:10: ",
	 "'d_model' must be an integer, not a string '128'"},
	{"type-float-int", "d_model: 8\nn_layer: 1e3\n", ":2:10: ",
	 "'n_layer' must be an integer, not a float '1e3'"},
	{"type-float-point", "d_model: 128.0\n", ":1:10: ",
	 "'d_model' must be an integer, not a float '128.0'"},
	{"type-map-for-int", "d_model: {a: 1}\n", ":1:10: ",
	 "'d_model' must be an integer, not a mapping"},
	{"type-seq-for-int", "d_model: 8\nn_layer: [1]\n", ":2:10: ",
	 "'n_layer' must be an integer, not a sequence"},
	{"type-scalar-for-map", "d_model: 8\nhyena: 2\n", ":2:8: ",
	 "'hyena' must be a mapping, not an integer '2'"},
	{"type-null", "d_model:\nn_layer: 2\n", ":1:9: ",
	 "'d_model' must be an integer, not null"},
	{"type-string-for-float", "d_model: 8\nnorm_eps: small\n", ":2:11: ",
	 "'norm_eps' must be a number, not a string 'small'"},
	{"type-bool", "hyena: {filter: {modulation: {enabled: yes}}}\n",
	 ":1:40: ", "'hyena.filter.modulation.enabled' must be true or "
	 "false, not a string 'yes'"},
	{"type-head", "head: lmm\n", ":1:7: ",
	 "'head' must be lm or none, not a string 'lmm'"},
	{"type-activation", "mlp: {activation: gelu_tahn}\n", ":1:19: ",
	 "unknown activation 'gelu_tahn' for 'mlp.activation'; did you mean "
	 "'gelu_tanh'?"},
	{"type-top-seq", "- d_model: 8\n", ":1:1: ",
	 "the top level must be a mapping, not a sequence"},
	{"type-top-scalar", "hello\n", ":1:1: ",
	 "the top level must be a mapping, not a string 'hello'"},
	{"type-key-map", "{a: 1}: 2\n", ":1:1: ",
	 "a key must be a plain name, not a mapping"},
	{"value-zero", "d_model: 0\n", ":1:10: ",
	 "d_model must be at least 1, not 0"},
	{"value-even-emb", "hyena: {filter: {emb_dim: 4}}\n", ":1:27: ",
	 "emb_dim must be odd, not 4"},
	{"value-order", "hyena:\n  order: 1\n", ":2:10: ",
	 "order must be at least 2, not 1"},
	{"value-target", "hyena: {filter: {modulation: {target: 1.5}}}\n",
	 ":1:39: ", "decay_target must be below 1, not 1.5"},
	{"value-eps", "norm_eps: -1e-5\n", ":1:11: ",
	 "norm_eps must be greater than 0, not -1e-05"},
	{"value-inf", "norm_eps: .inf\n", ":1:11: ",
	 "norm_eps must be a finite number, not inf"},
	{"value-seq-len", "max_seq_len: 4294967296\n", ":1:14: ",
	 "max_seq_len must be at most 2147483648, not 4294967296"},
	{"value-layers", "n_layer: 100000\n", ":1:10: ",
	 "n_layer must be at most 1024, not 100000"},
	{"value-overflow", "d_model: 99999999999999999999999\n", ":1:10: ",
	 "'d_model': 99999999999999999999999 is out of range"},
	{"value-negative-seed", "weights: {seed: -1}\n", ":1:17: ",
	 "'weights.seed' must be a non-negative integer, not -1"},
	{"value-empty-path", "weights: {safetensors: ''}\n", ":1:24: ",
	 "'weights.safetensors' must not be empty"},
	{"value-mlp-zero", "mlp: {d_inner: 0}\n", ":1:16: ",
	 "d_inner must be at least 1, not 0"},
	{"value-cross", "d_model: 65536\nn_layer: 1\nmax_seq_len: 8\n"
	 "hyena: {order: 16}\nweights: {seed: 1}\n", "",
	 "d_model * (order + 1) must be at most 1048576"},
	{"duplicate-key", "d_model: 8\nn_layer: 1\nd_model: 16\n", ":3:1: ",
	 "duplicate key 'd_model' (first at 1:1)"},
	{"duplicate-nested", "vocab: {size: 12, size: 13}\n", ":1:19: ",
	 "duplicate key 'vocab.size' (first at 1:9)"},
	{"missing-required", "d_model: 8\nmax_seq_len: 16\n"
	 "weights: {seed: 1}\n", ":1:1: ",
	 "missing required key 'n_layer'"},
	{"missing-weights", "d_model: 8\nn_layer: 1\nmax_seq_len: 16\n",
	 ":1:1: ", "missing required key 'weights'"},
	{"weights-neither", "weights: {}\n", ":1:10: ",
	 "'weights' needs 'seed' or 'safetensors'"},
	{"weights-both", "weights:\n  seed: 1\n  safetensors: w.st\n",
	 ":3:16: ", "'weights' takes 'seed' or 'safetensors', not both"},
	{"empty-file", "", ":1:1: ", "empty model description"},
	{"empty-comments", "# nothing here\n\n", ":3:1: ",
	 "empty model description"},
	{"empty-document", "---\n", ":2:1: ", "empty model description"},
	{"alias", "d_model: 8\nn_layer: *x\n", ":2:10: ",
	 "aliases are not supported (*x)"},
	{"anchor", "d_model: &w 8\nn_layer: 2\n", ":1:10: ",
	 "anchors are not supported (&w)"},
	{"tag", "d_model: !!int 8\n", ":1:10: ",
	 "tags are not supported (tag:yaml.org,2002:int)"},
	{"two-documents", "d_model: 8\nn_layer: 1\nmax_seq_len: 16\n"
	 "weights: {seed: 1}\n---\nd_model: 9\n", ":5:1: ",
	 "a second YAML document"},
};

START_TEST(test_bad_input)
{
	char name[96], want[256];
	const char *path;
	Loaded l;

	snprintf(name, sizeof name, "%s.yaml", bad[_i].what);
	path = tu_write_str(name, bad[_i].text);
	load(&l, path);
	ck_assert_msg(!l.ok, "%s: loaded", bad[_i].what);
	snprintf(want, sizeof want, "%s%s%s", path,
	         *bad[_i].where ? bad[_i].where : ": ", bad[_i].problem);
	ck_assert_msg(strncmp(l.d.msg, want, strlen(want)) == 0,
	              "%s:\n  got  '%s'\n  want '%s...'", bad[_i].what,
	              l.d.msg, want);
	ck_assert_int_eq(tu_lines(l.d.msg), 1);
	arena_free(l.a);
}
END_TEST

START_TEST(test_missing_file)
{
	Loaded l;
	const char *path = tu_path(tu_tmpdir(), "no-such.yaml");

	load(&l, path);
	ck_assert(!l.ok);
	ck_assert_msg(strstr(l.d.msg, path) && strstr(l.d.msg, "cannot open"),
	              "%s", l.d.msg);
	arena_free(l.a);
	load(&l, tu_tmpdir());
	ck_assert(!l.ok);
	ck_assert_msg(strstr(l.d.msg, "not a regular file"), "%s", l.d.msg);
	arena_free(l.a);
}
END_TEST

START_TEST(test_deep_nesting)
{
	enum { DEPTH = 100000 };
	char *text = malloc(2 * DEPTH + 16);
	const char *path;
	Loaded l;
	size_t k = 0;

	/* As a value, then as the whole document. */
	k += (size_t)sprintf(text, "d_model: ");
	for (int i = 0; i < DEPTH; i++)
		text[k++] = '[';
	text[k] = 0;
	path = tu_write_str("deep.yaml", text);
	load(&l, path);
	ck_assert(!l.ok);
	ck_assert_msg(strstr(l.d.msg, "deep.yaml:1:10: "), "%s", l.d.msg);
	arena_free(l.a);
	path = tu_write_str("deep2.yaml", text + 9);
	load(&l, path);
	ck_assert(!l.ok);
	arena_free(l.a);
	free(text);
}
END_TEST

/* Cut and mangle a valid description everywhere; the loader must answer
 * with success or one diagnostic, never crash. */
START_TEST(test_truncated_and_mangled)
{
	static const char junk[] = "\0\n:{}[]&*!'\"#-? \t\xff\xfe";
	char *full;
	size_t n;

	full = tu_read(tu_source("models/hyenadna-tiny-1k.yaml"), &n);
	ck_assert_ptr_nonnull(full);
	for (size_t cut = 0; cut <= n; cut++) {
		const char *path = tu_write("cut.yaml", full, cut);
		Loaded l;
		load(&l, path);
		arena_free(l.a);
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < sizeof junk - 1; j++) {
			char saved = full[i];
			const char *path;
			Loaded l;

			full[i] = junk[j];
			path = tu_write("mangled.yaml", full, n);
			full[i] = saved;
			load(&l, path);
			ck_assert_int_le(tu_lines(l.d.msg), 1);
			arena_free(l.a);
		}
	}
	free(full);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("yaml");
	TCase *tc = tcase_create("yaml");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_released_models, 0,
	                    (int)(sizeof released / sizeof released[0]));
	tcase_add_test(tc, test_defaults_pass_check);
	tcase_add_test(tc, test_full_schema);
	tcase_add_test(tc, test_minimal_falls_back);
	tcase_add_test(tc, test_absolute_safetensors_path);
	tcase_add_loop_test(tc, test_bad_input, 0,
	                    (int)(sizeof bad / sizeof bad[0]));
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_truncated_and_mangled);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
