/*
 * test_safetensors.c - the HF checkpoint door: st_open() on the golden
 * files and on one small file per way a safetensors file can be wrong, and
 * fe_hf_config_load() on the golden config.json files and bad ones. Every
 * refusal must be NULL/false with one line naming the file and the problem.
 */
#include "../frontend/frontend.h"
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static Arena *A;
static Diag D;

static void setup(void)
{
	A = arena_new();
	diag_init(&D);
}

static void teardown(void)
{
	arena_free(A);
}

/* Write name: an 8-byte length `hlen` (the header's own length when
 * hlen < 0), the header, then `ndata` bytes of floats 0, 1, 2, ... */
static const char *write_st_len(const char *name, const char *header,
                                long long hlen, size_t ndata)
{
	size_t n = strlen(header), total = 8 + n + ndata;
	unsigned char *buf = calloc(1, total);
	uint64_t len = hlen < 0 ? n : (uint64_t)hlen;
	const char *path;

	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)(len >> (8 * i));
	memcpy(buf + 8, header, n);
	for (size_t i = 0; i + 4 <= ndata; i += 4) {
		float f = (float)(i / 4);
		memcpy(buf + 8 + n + i, &f, 4);
	}
	path = tu_write(name, buf, total);
	free(buf);
	return path;
}

static const char *write_st(const char *name, const char *header,
                            size_t ndata)
{
	return write_st_len(name, header, -1, ndata);
}

/* st_open(path) must fail with a message naming path and containing
 * want. */
static void bad_st(const char *path, const char *want)
{
	diag_init(&D);
	SafeTensors *st = st_open(A, path, &D);
	ck_assert_msg(st == NULL, "%s was accepted", path);
	ck_assert_msg(strstr(D.msg, path) != NULL, "no file name in: %s",
	              D.msg);
	ck_assert_msg(strstr(D.msg, want) != NULL, "wanted '%s' in: %s",
	              want, D.msg);
	ck_assert(strchr(D.msg, '\n') == NULL);
}

/* A header padded with spaces to a multiple of 8, as writers do. */
static const char *pad8(const char *h)
{
	static char buf[4096];
	size_t n = strlen(h);
	snprintf(buf, sizeof buf, "%s", h);
	while (n % 8)
		buf[n++] = ' ';
	buf[n] = 0;
	return buf;
}

#define T(name, dt, shape, b, e)                                      \
	"\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape             \
	",\"data_offsets\":[" #b "," #e "]}"

START_TEST(test_valid)
{
	const char *p = write_st(
	    "ok.safetensors",
	    pad8("{\"__metadata__\":{\"format\":\"pt\"}," T("b", "F32", "[4]",
	                                                     24, 40) ","
	         T("a", "F32", "[2,3]", 0, 24) "," T("e", "F32", "[0,5]",
	                                             40, 40) "}"),
	    40);
	SafeTensors *st = st_open(A, p, &D);

	ck_assert_msg(st != NULL, "%s", D.msg);
	ck_assert_int_eq(st->n, 3);
	/* file order is kept */
	ck_assert_str_eq(st->t[0].name, "b");
	ck_assert_str_eq(st->t[1].name, "a");
	ck_assert_int_eq(st->t[1].type.dtype, DT_F32);
	ck_assert_int_eq(st->t[1].type.rank, 2);
	ck_assert_int_eq(st->t[1].type.dim[0], 2);
	ck_assert_int_eq(st->t[1].type.dim[1], 3);
	ck_assert(st->t[1].data[5] == 5.0f);
	ck_assert(st->t[0].data[0] == 6.0f && st->t[0].data[3] == 9.0f);
	ck_assert_int_eq(st->t[2].type.rank, 2);
	ck_assert_int_eq(st->t[2].type.dim[0], 0);
	st_close(st);
	st_close(st); /* twice is harmless */
	st_close(NULL);

	/* Scalars (rank 0) and an empty file of tensors are valid. */
	p = write_st("scalar.safetensors", pad8("{" T("s", "F32", "[]", 0, 4)
	                                        "}"),
	             4);
	st = st_open(A, p, &D);
	ck_assert_msg(st != NULL, "%s", D.msg);
	ck_assert_int_eq(st->t[0].type.rank, 0);
	ck_assert(st->t[0].data[0] == 0.0f);
	st_close(st);
	p = write_st("none.safetensors", pad8("{}"), 0);
	st = st_open(A, p, &D);
	ck_assert_msg(st != NULL && st->n == 0, "%s", D.msg);
	st_close(st);
}
END_TEST

START_TEST(test_golden)
{
	SafeTensors *st = st_open(A, tu_golden("tiny-1k", "model.safetensors"),
	                          &D);
	const Tensor *head = NULL;

	ck_assert_msg(st != NULL, "%s", D.msg);
	ck_assert_int_eq(st->n, 56);
	for (int i = 0; i < st->n; i++)
		if (!strcmp(st->t[i].name, "lm_head.weight"))
			head = &st->t[i];
	ck_assert(head != NULL);
	ck_assert_int_eq(head->type.rank, 2);
	ck_assert_int_eq(head->type.dim[0], 16);
	ck_assert_int_eq(head->type.dim[1], 128);
	ck_assert(((uintptr_t)head->data & 3) == 0);
	st_close(st);

	st = st_open(A, tu_golden("odd-order3", "model.safetensors"), &D);
	ck_assert_msg(st != NULL, "%s", D.msg);
	st_close(st);
}
END_TEST

START_TEST(test_bad_files)
{
	const char *dir = tu_tmpdir();

	bad_st(tu_path(dir, "absent.safetensors"), "cannot open");
	bad_st(dir, "is a directory");
	bad_st(tu_write("empty.safetensors", "", 0), "file is empty");
	bad_st(tu_write("short.safetensors", "\x10\0\0", 3),
	       "shorter than 8 bytes");
	/* the header length says 100, but 16 bytes follow */
	bad_st(write_st_len("trunc.safetensors", "{\"a\":1}", 100, 9),
	       "header length 100 at byte offset 0 runs past the end");
	bad_st(write_st_len("huge.safetensors", "{}", 1LL << 40, 0),
	       "exceeds the limit");
	bad_st(write_st_len("zero.safetensors", "", 0, 0), "empty");
	bad_st(write_st("json.safetensors", "{\"a\": {\"dtype\": ", 0),
	       "header");
	bad_st(write_st("json2.safetensors", "{'a': 1}", 0),
	       "single-quoted");
	bad_st(write_st("arr.safetensors", "[1, 2]", 0),
	       "header must be a JSON object");
}
END_TEST

START_TEST(test_bad_tensors)
{
	bad_st(write_st("dtype.safetensors", pad8("{" T("x", "F33", "[2]", 0, 8)
	                                          "}"),
	                8),
	       "tensor 'x': unknown dtype 'F33'");
	bad_st(write_st("bf16.safetensors", pad8("{" T("x", "BF16", "[4]", 0, 8)
	                                         "}"),
	                8),
	       "tensor 'x': dtype BF16 is not supported; hyenac reads F32");
	bad_st(write_st("dtnum.safetensors",
	                pad8("{\"x\":{\"dtype\":32,\"shape\":[1],"
	                     "\"data_offsets\":[0,4]}}"),
	                4),
	       "dtype must be a string");
	bad_st(write_st("size.safetensors",
	                pad8("{" T("lm_head.weight", "F32", "[16,128]", 0, 100)
	                     "}"),
	                100),
	       "tensor 'lm_head.weight': data_offsets [0, 100] hold 100 bytes "
	       "but shape [16, 128] of F32 needs 8192");
	bad_st(write_st("overlap.safetensors",
	                pad8("{" T("a", "F32", "[6]", 0, 24) "," T(
	                    "b", "F32", "[6]", 16, 40) "}"),
	                40),
	       "tensors 'a' and 'b' overlap");
	bad_st(write_st("gap.safetensors",
	                pad8("{" T("a", "F32", "[6]", 0, 24) "," T(
	                    "b", "F32", "[6]", 28, 52) "}"),
	                52),
	       "4 unused bytes at byte offset");
	bad_st(write_st("lead.safetensors",
	                pad8("{" T("a", "F32", "[1]", 4, 8) "}"), 8),
	       "before the first tensor 'a'");
	bad_st(write_st("tail.safetensors",
	                pad8("{" T("a", "F32", "[1]", 0, 4) "}"), 12),
	       "8 unused bytes at byte offset");
	bad_st(write_st("past.safetensors",
	                pad8("{" T("a", "F32", "[6]", 0, 24) "}"), 16),
	       "tensor 'a': data_offsets [0, 24] run past the end of the "
	       "file");
	bad_st(write_st("overflow.safetensors",
	                pad8("{" T("a", "F32",
	                           "[4294967296,4294967296,4294967296]", 0, 4)
	                     "}"),
	                4),
	       "too many elements");
	bad_st(write_st("overflow2.safetensors",
	                pad8("{" T("a", "F32", "[4611686018427387904]", 0, 4)
	                     "}"),
	                4),
	       "too many elements");
	bad_st(write_st("dup.safetensors",
	                pad8("{" T("a", "F32", "[1]", 0, 4) "," T(
	                    "a", "F32", "[1]", 4, 8) "}"),
	                8),
	       "duplicate key 'a'");
	bad_st(write_st("rank.safetensors",
	                pad8("{" T("a", "F32", "[1,1,1,1,1]", 0, 4) "}"), 4),
	       "tensor 'a': shape has 5 dims; hyenac supports at most 4");
	bad_st(write_st("neg.safetensors", pad8("{" T("a", "F32", "[-1]", 0, 4)
	                                        "}"),
	                4),
	       "shape[0] must be a non-negative integer, got -1");
	bad_st(write_st("fdim.safetensors",
	                pad8("{" T("a", "F32", "[1.5]", 0, 4) "}"), 4),
	       "shape[0] must be a non-negative integer, got 1.5");
	bad_st(write_st("back.safetensors",
	                pad8("{" T("a", "F32", "[1]", 8, 4) "}"), 8),
	       "data_offsets [8, 4] end before they begin");
	bad_st(write_st("offs.safetensors",
	                pad8("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
	                     "\"data_offsets\":[0]}}"),
	                4),
	       "data_offsets must be [begin, end]");
	bad_st(write_st("field.safetensors",
	                pad8("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
	                     "\"data_offsets\":[0,4],\"extra\":1}}"),
	                4),
	       "tensor 'a': unknown field 'extra'");
	bad_st(write_st("miss.safetensors",
	                pad8("{\"a\":{\"dtype\":\"F32\","
	                     "\"data_offsets\":[0,4]}}"),
	                4),
	       "tensor 'a': missing 'shape'");
	bad_st(write_st("notobj.safetensors", pad8("{\"a\":[1]}"), 0),
	       "tensor 'a': expected an object");
	bad_st(write_st("meta.safetensors",
	                pad8("{\"__metadata__\":{\"format\":1}}"), 0),
	       "'__metadata__' entry 'format' must be a string");
	bad_st(write_st("meta2.safetensors", pad8("{\"__metadata__\":[]}"), 0),
	       "'__metadata__' must be an object");
	/* 8 + N = 1 (mod 4): the data starts off a 4-byte boundary */
	char h[256];
	snprintf(h, sizeof h, "%s", "{" T("a", "F32", "[1]", 0, 4) "}");
	while ((8 + strlen(h)) % 4 != 1)
		strcat(h, " ");
	bad_st(write_st("align.safetensors", h, 4),
	       "tensor 'a': data at byte offset");
}
END_TEST

static unsigned rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/* Mutations of a small valid file: st_open may refuse but not crash. */
START_TEST(test_fuzz)
{
	const char *h = pad8("{\"__metadata__\":{\"format\":\"pt\"}," T(
	    "w", "F32", "[2,3]", 0, 24) "," T("b", "F32", "[3]", 24, 36) "}");
	size_t hn = strlen(h), total = 8 + hn + 36;
	unsigned char *good = calloc(1, total), *buf = malloc(total);
	unsigned s = 7;
	int accepted = 0;

	for (int i = 0; i < 8; i++)
		good[i] = (unsigned char)((uint64_t)hn >> (8 * i));
	memcpy(good + 8, h, hn);
	for (int it = 0; it < 3000; it++) {
		size_t n = total;
		memcpy(buf, good, total);
		for (int e = 1 + (int)(rnd(&s) % 3); e > 0; e--) {
			size_t at = rnd(&s) % (rnd(&s) % 4 ? hn + 8 : n);
			if (rnd(&s) % 2)
				buf[at] = (unsigned char)"0123456789[]{},:\"-"
				    [rnd(&s) % 18];
			else
				buf[at] = (unsigned char)rnd(&s);
		}
		if (rnd(&s) % 6 == 0)
			n = rnd(&s) % (n + 1);
		const char *p = tu_write("fuzz.safetensors", buf, n);
		diag_init(&D);
		SafeTensors *st = st_open(A, p, &D);
		ck_assert((st != NULL) == diag_ok(&D));
		if (st) {
			float sum = 0;
			accepted++;
			for (int i = 0; i < st->n; i++) {
				size_t numel = 1;
				for (int k = 0; k < st->t[i].type.rank; k++)
					numel *= (size_t)st->t[i].type.dim[k];
				for (size_t k = 0; k < numel; k++)
					sum += st->t[i].data[k];
			}
			(void)sum;
			st_close(st);
		} else {
			ck_assert(strstr(D.msg, p) != NULL);
		}
	}
	ck_assert(accepted > 0);
	free(good);
	free(buf);
}
END_TEST

/* ---- config.json ------------------------------------------------------ */

/* Write dir/config.json under the scratch dir and return its path. */
static const char *write_config(const char *dir, const char *text)
{
	char rel[256];
	snprintf(rel, sizeof rel, "%s", tu_path(tu_tmpdir(), dir));
	mkdir(rel, 0777);
	snprintf(rel, sizeof rel, "%s/config.json", dir);
	return tu_write_str(rel, text);
}

static void bad_cfg(const char *text, const char *want)
{
	ModelSpec s;
	const char *p = write_config("badcfg", text);
	diag_init(&D);
	ck_assert_msg(!fe_hf_config_load(A, p, &s, &D), "accepted: %s", text);
	ck_assert_msg(strstr(D.msg, p) != NULL, "no file name in: %s", D.msg);
	ck_assert_msg(strstr(D.msg, want) != NULL, "wanted '%s' in: %s", want,
	              D.msg);
	ck_assert(strchr(D.msg, '\n') == NULL);
}

START_TEST(test_config_golden)
{
	ModelSpec s;

	ck_assert_msg(fe_hf_config_load(A, tu_golden("tiny-1k", "config.json"),
	                                &s, &D),
	              "%s", D.msg);
	ck_assert_str_eq(s.name, "tiny-1k");
	ck_assert_int_eq(s.d_model, 128);
	ck_assert_int_eq(s.d_inner, 512);
	ck_assert_int_eq(s.n_layer, 2);
	ck_assert_int_eq(s.max_seq_len, 1026);
	ck_assert_int_eq(s.emb_dim, 5);
	ck_assert_int_eq(s.filter_order, 64);
	ck_assert_int_eq(s.order, 2);
	ck_assert_int_eq(s.short_filter, 3);
	ck_assert_int_eq(s.num_inner_mlps, 2);
	ck_assert(s.sin_freq == 10.0);
	ck_assert_int_eq(s.vocab_size, 12);
	ck_assert_int_eq(s.pad_vocab_multiple, 8);
	ck_assert(s.norm_eps == 1e-5);
	ck_assert(s.lm_head);
	ck_assert_int_eq(s.mlp_act, ACT_GELU_TANH);

	ck_assert_msg(fe_hf_config_load(A,
	                                tu_golden("odd-order3", "config.json"),
	                                &s, &D),
	              "%s", D.msg);
	ck_assert_str_eq(s.name, "odd-order3");
	ck_assert_int_eq(s.d_model, 96);
	ck_assert_int_eq(s.d_inner, 200);
	ck_assert_int_eq(s.n_layer, 3);
	ck_assert_int_eq(s.order, 3);
	ck_assert_int_eq(s.emb_dim, 7);
	ck_assert_int_eq(s.max_seq_len, 700);
	ck_assert(s.sin_freq == 8.0);
}
END_TEST

START_TEST(test_config_defaults)
{
	ModelSpec s;
	const char *p = write_config("hyenadna-x", "{\"d_model\": 64, "
	                                           "\"d_inner\": null,\n"
	                                           "\"model_type\": "
	                                           "\"hyenadna\"}");

	ck_assert_msg(fe_hf_config_load(A, p, &s, &D), "%s", D.msg);
	ck_assert_str_eq(s.name, "hyenadna-x");
	ck_assert_int_eq(s.d_inner, 256);
	/* HyenaConfig's defaults for what the file leaves out */
	ck_assert_int_eq(s.n_layer, 12);
	ck_assert_int_eq(s.emb_dim, 3);
	ck_assert_int_eq(s.max_seq_len, 1024);
	ck_assert(s.sin_freq == 1.0);
}
END_TEST

START_TEST(test_config_bad)
{
	bad_cfg("{\"d_model\": 128,\n \"d_modle\": 3}",
	        "config.json:2:2: unknown key 'd_modle' (did you mean "
	        "'d_model'?)");
	bad_cfg("{\"hyena_ordr\": 2}", "did you mean 'hyena_order'?");
	bad_cfg("{\"zzzzzzzz\": 2}", "unknown key 'zzzzzzzz'");
	bad_cfg("{\"d_model\": \"128\"}",
	        "config.json:1:13: 'd_model' must be an integer, got \"128\"");
	bad_cfg("{\"n_layer\": 2.5}", "'n_layer' must be an integer, got 2.5");
	bad_cfg("{\"n_layer\": 2.0}", "'n_layer' must be an integer");
	bad_cfg("{\"d_model\": -4}", "'d_model' must be at least 1, got -4");
	bad_cfg("{\"d_model\": 99999999999}", "more than hyenac supports");
	bad_cfg("{\"d_inner\": true}",
	        "'d_inner' must be an integer, got true");
	bad_cfg("{\"activation_freq\": \"x\"}",
	        "'activation_freq' must be a number");
	bad_cfg("{\"layer_norm_epsilon\": 0}", "must be positive");
	bad_cfg("{\"d_model\": 128, \"d_model\": 256}",
	        "duplicate key 'd_model'");
	bad_cfg("{'d_model': 128}", "single-quoted");
	bad_cfg("[1, 2]", "must be a JSON object, got an array");
	bad_cfg("", "empty");
	bad_cfg("{\"tie_word_embeddings\": true}",
	        "tie_word_embeddings true is not supported");
	bad_cfg("{\"model_type\": \"bert\"}", "model_type is \"bert\"");
	/* fe_spec_check runs last */
	bad_cfg("{\"emb_dim\": 4}", "emb_dim");
}
END_TEST

START_TEST(test_config_files)
{
	ModelSpec s;
	const char *absent = tu_path(tu_tmpdir(), "nothere/config.json");

	ck_assert(!fe_hf_config_load(A, absent, &s, &D));
	ck_assert_msg(strstr(D.msg, absent) && strstr(D.msg, "cannot open"),
	              "%s", D.msg);
	diag_init(&D);
	ck_assert(!fe_hf_config_load(A, tu_tmpdir(), &s, &D));
	ck_assert_msg(strstr(D.msg, "not a regular file"), "%s", D.msg);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("safetensors");
	TCase *tc = tcase_create("safetensors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_golden);
	tcase_add_test(tc, test_bad_files);
	tcase_add_test(tc, test_bad_tensors);
	tcase_add_test(tc, test_fuzz);
	suite_add_tcase(s, tc);
	tc = tcase_create("hf_config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_config_golden);
	tcase_add_test(tc, test_config_defaults);
	tcase_add_test(tc, test_config_bad);
	tcase_add_test(tc, test_config_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
