/*
 * test_libapi.c - what the model library (runtime/hyenac_model.h) has
 * beside the raw forward, as a C program meets it through dlopen():
 * pooled embeddings against the golden tiny-1k hidden states (mean and
 * last computed here, in double), window scores against the golden
 * logits (log-softmax computed here) and against the binary's `score
 * --fasta` on the same bases, the thread count (every count gives the
 * one-thread result), the FASTA window reader against the windows the
 * binary's index TSV lists, hyenac_model_generate against the binary's
 * `generate` (the same settings give the same bases), and the errors of
 * each call (a status and one line). The golden files come from the official PyTorch code, so
 * nothing here is checked against our own output alone.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/hyenac_model.h"
#include "runtime/npy.h"
#include "testutil.h"

static const double TOL = 2e-4;

/* p_NAME: NAME looked up in the library handle `so`. */
#define SYM(name) __typeof__(&name) p_##name = (__typeof__(&name))dlsym(so, #name); \
	ck_assert_msg(p_##name != NULL, "no %s", #name)

static char lib[4096], cls_lib[4096], exe[4096];

static void compile(const char *gold, const char *out, const char *emit)
{
	RunResult r;

	tu_run_hyenac(&r, (const char *[]){"compile", tu_golden(gold, NULL),
	                                   "-o", out, "--emit", emit, NULL});
	if (r.status != 0) {
		fprintf(stderr, "compile %s failed: %s\n", gold, r.err);
		exit(1);
	}
}

static void setup(void)
{
	char dir[4096];

	snprintf(dir, sizeof dir, "%s", tu_path(tu_tmpdir(), "lm"));
	mkdir(dir, 0755);
	snprintf(lib, sizeof lib, "%s", tu_path(dir, "libtiny.so"));
	snprintf(dir, sizeof dir, "%s", tu_path(tu_tmpdir(), "cls"));
	mkdir(dir, 0755);
	snprintf(cls_lib, sizeof cls_lib, "%s", tu_path(dir, "libcls.so"));
	snprintf(exe, sizeof exe, "%s", tu_path(tu_tmpdir(), "tiny"));
	compile("tiny-1k", lib, "lib");
	compile("tiny-1k-cls", cls_lib, "lib");
	compile("tiny-1k", exe, "exe");
}

static void *open_lib(const char *path, HyenacModel **m)
{
	char err[512];
	void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	ck_assert_msg(so != NULL, "%s", dlerror());
	SYM(hyenac_model_load);
	ck_assert_msg(p_hyenac_model_load(NULL, m, err, sizeof err) ==
	                  HYENAC_OK, "%s", err);
	return so;
}

/* The golden rows with [SEP] appended: [2, 1025]. */
static int32_t *golden_tokens_sep(const NpyArray *t)
{
	int32_t *tok = malloc(sizeof *tok * 2 * 1025);
	for (int b = 0; b < 2; b++) {
		memcpy(tok + b * 1025, (const int32_t *)t->data + b * 1024,
		       sizeof *tok * 1024);
		tok[b * 1025 + 1024] = 1;
	}
	return tok;
}

START_TEST(pooled_matches_golden)
{
	HyenacModel *m;
	void *so = open_lib(lib, &m);
	SYM(hyenac_model_embed_pooled);
	SYM(hyenac_model_error);
	SYM(hyenac_model_free);
	NpyArray t, h;
	tu_load_npy(tu_golden("tiny-1k", "tokens.npy"), &t);
	tu_load_npy(tu_golden("tiny-1k", "hidden.npy"), &h);
	const int64_t B = 2, L = 1024, D = 128;
	const float *hid = h.data;
	float want[2][2 * 128], got[2][2 * 128];

	for (int64_t b = 0; b < B; b++)
		for (int64_t c = 0; c < D; c++) {
			double s = 0;
			for (int64_t p = 0; p < L; p++)
				s += hid[(b * L + p) * D + c];
			want[0][b * D + c] = (float)(s / (double)L);
			want[1][b * D + c] = hid[(b * L + L - 1) * D + c];
		}
	for (int k = 0; k < 2; k++) {
		int pool = k == 0 ? HYENAC_POOL_MEAN : HYENAC_POOL_LAST;
		ck_assert_msg(p_hyenac_model_embed_pooled(m, t.data, B, L, pool,
		                                          got[k]) == HYENAC_OK,
		              "%s", p_hyenac_model_error(m));
		double e = tu_max_abs_diff(got[k], want[k], (size_t)(B * D));
		printf("pooled %s vs golden: %.3g\n", k ? "last" : "mean", e);
		ck_assert(e <= TOL);
	}
	/* errors: a bad mode, a bad token, B = 0 */
	ck_assert_int_eq(p_hyenac_model_embed_pooled(m, t.data, B, L, 7,
	                                             got[0]),
	                 HYENAC_ERR_ARGUMENT);
	ck_assert_int_eq(tu_lines(p_hyenac_model_error(m)), 1);
	ck_assert_ptr_nonnull(strstr(p_hyenac_model_error(m), "pool 7"));
	((int32_t *)t.data)[5] = 99;
	ck_assert_int_eq(p_hyenac_model_embed_pooled(m, t.data, B, L, 0,
	                                             got[0]),
	                 HYENAC_ERR_TOKEN);
	ck_assert_ptr_nonnull(strstr(p_hyenac_model_error(m), "99"));
	ck_assert_int_eq(p_hyenac_model_embed_pooled(m, t.data, 0, L, 0, NULL),
	                 HYENAC_OK);
	p_hyenac_model_free(m);
	npy_free(&t);
	npy_free(&h);
	dlclose(so);
}
END_TEST

/* log p of each golden row from the golden logits, in double. */
static void golden_logp(double out[2])
{
	NpyArray t, g;
	tu_load_npy(tu_golden("tiny-1k", "tokens.npy"), &t);
	tu_load_npy(tu_golden("tiny-1k", "logits.npy"), &g);
	const int64_t L = 1024, V = g.dim[2];
	for (int b = 0; b < 2; b++) {
		double s = 0;
		for (int64_t p = 0; p + 1 < L; p++) {
			const float *row = (const float *)g.data + (b * L + p) * V;
			double z = 0;
			for (int64_t v = 0; v < V; v++)
				z += exp((double)row[v]);
			int32_t next = ((const int32_t *)t.data)[b * L + p + 1];
			s += (double)row[next] - log(z);
		}
		out[b] = s;
	}
	npy_free(&t);
	npy_free(&g);
}

START_TEST(score_matches_golden_and_binary)
{
	HyenacModel *m, *c;
	void *so = open_lib(lib, &m), *lm_so = so;
	SYM(hyenac_model_score);
	SYM(hyenac_model_scored_tokens);
	SYM(hyenac_model_error);
	SYM(hyenac_model_free);
	NpyArray t;
	tu_load_npy(tu_golden("tiny-1k", "tokens.npy"), &t);
	int32_t *sep = golden_tokens_sep(&t);
	double want[2], got[2], got_sep[2];

	golden_logp(want);
	ck_assert_int_eq(p_hyenac_model_scored_tokens(t.data, 1024), 1023);
	ck_assert_int_eq(p_hyenac_model_scored_tokens(sep, 1025), 1023);
	ck_assert_int_eq(p_hyenac_model_scored_tokens(sep, 1), 0);
	ck_assert_msg(p_hyenac_model_score(m, t.data, 2, 1024, got) ==
	                  HYENAC_OK, "%s", p_hyenac_model_error(m));
	ck_assert_int_eq(p_hyenac_model_score(m, sep, 2, 1025, got_sep),
	                 HYENAC_OK);
	for (int b = 0; b < 2; b++) {
		printf("score row %d: %.6f, with [SEP] %.6f, golden %.6f\n", b,
		       got[b], got_sep[b], want[b]);
		/* a sum of 1023 terms: 7e-5 off the golden one when written */
		ck_assert(fabs(got[b] - want[b]) <= 1e-3);
		/* causal: the [SEP] changes no earlier logit; the FFT size of
		 * L + 1 rounds differently */
		ck_assert(fabs(got[b] - got_sep[b]) <= 1e-6 * fabs(got[b]));
	}

	/* The binary's `score --fasta` on the same bases: the same code on
	 * the same logits, to its 9 printed digits. */
	char fa[2 * 1100 + 32];
	size_t n = 0;
	for (int b = 0; b < 2; b++) {
		n += (size_t)sprintf(fa + n, ">row%d\n", b);
		for (int p = 0; p < 1024; p++)
			fa[n++] = "ACGTN"[((int32_t *)t.data)[b * 1024 + p] - 7];
		fa[n++] = '\n';
	}
	fa[n] = 0;
	const char *fp = tu_write_str("rows.fa", fa);
	const char *sp = tu_path(tu_tmpdir(), "rows.tsv");
	RunResult r;
	tu_run(&r, exe, (const char *[]){"score", "--fasta", fp, "-o", sp,
	                                 NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	char *tsv = tu_read(sp, NULL), *line = strchr(tsv, '\n') + 1;
	for (int b = 0; b < 2; b++) {
		char name[16];
		long s, e, k;
		double sum;
		ck_assert_int_eq(sscanf(line, "%15s %ld %ld %ld %lf", name, &s, &e,
		                        &k, &sum), 5);
		ck_assert_int_eq(k, 1023);
		printf("binary row %d: %.9g\n", b, sum);
		ck_assert(fabs(sum - got_sep[b]) <= 1e-7 * fabs(sum));
		line = strchr(line, '\n') + 1;
	}
	free(tsv);

	/* errors: a model without an LM head; B = 0 */
	so = open_lib(cls_lib, &c);
	__typeof__(&hyenac_model_score) cls_score =
	    (__typeof__(&hyenac_model_score))dlsym(so, "hyenac_model_score");
	__typeof__(&hyenac_model_error) cls_error =
	    (__typeof__(&hyenac_model_error))dlsym(so, "hyenac_model_error");
	ck_assert_int_eq(cls_score(c, sep, 2, 1025, got), HYENAC_ERR_NO_HEAD);
	ck_assert_int_eq(tu_lines(cls_error(c)), 1);
	ck_assert_ptr_nonnull(strstr(cls_error(c), "LM head"));
	((__typeof__(&hyenac_model_free))dlsym(so, "hyenac_model_free"))(c);
	dlclose(so);
	ck_assert_int_eq(p_hyenac_model_score(m, sep, 0, 1025, NULL),
	                 HYENAC_OK);
	p_hyenac_model_free(m);
	npy_free(&t);
	free(sep);
	dlclose(lm_so);
}
END_TEST

START_TEST(threads_give_one_result)
{
	HyenacModel *m;
	void *so = open_lib(lib, &m);
	SYM(hyenac_model_set_threads);
	SYM(hyenac_model_threads);
	SYM(hyenac_model_embed);
	SYM(hyenac_model_error);
	SYM(hyenac_model_free);
	NpyArray t, h;
	tu_load_npy(tu_golden("tiny-1k", "tokens.npy"), &t);
	tu_load_npy(tu_golden("tiny-1k", "hidden.npy"), &h);
	size_t n = 2 * 1024 * 128;
	float *one = malloc(sizeof *one * n), *many = malloc(sizeof *many * n);

	ck_assert_int_eq(p_hyenac_model_threads(m), 1);
	ck_assert_int_eq(p_hyenac_model_embed(m, t.data, 2, 1024, one),
	                 HYENAC_OK);
	ck_assert_int_eq(p_hyenac_model_set_threads(m, 4), HYENAC_OK);
	ck_assert_int_eq(p_hyenac_model_threads(m), 4);
	ck_assert_int_eq(p_hyenac_model_embed(m, t.data, 2, 1024, many),
	                 HYENAC_OK);
	double e1 = tu_max_abs_diff(one, h.data, n);
	double e4 = tu_max_abs_diff(many, h.data, n);
	printf("1 thread vs golden %.3g, 4 threads %.3g, between %.3g\n", e1,
	       e4, tu_max_abs_diff(one, many, n));
	ck_assert(e1 <= TOL && e4 <= TOL);
	ck_assert(tu_max_abs_diff(one, many, n) <= 1e-6);
	ck_assert_int_eq(p_hyenac_model_set_threads(m, 0), HYENAC_OK);
	ck_assert_int_ge(p_hyenac_model_threads(m), 1);
	ck_assert_int_eq(p_hyenac_model_set_threads(m, -1), HYENAC_ERR_ARGUMENT);
	ck_assert_int_eq(tu_lines(p_hyenac_model_error(m)), 1);
	ck_assert_ptr_nonnull(strstr(p_hyenac_model_error(m), "-1 threads"));
	ck_assert_int_eq(p_hyenac_model_set_threads(m, HYENAC_MAX_THREADS + 1),
	                 HYENAC_ERR_ARGUMENT);
	ck_assert_int_eq(p_hyenac_model_set_threads(NULL, 2),
	                 HYENAC_ERR_ARGUMENT);
	p_hyenac_model_set_threads(m, 1);
	p_hyenac_model_free(m);
	free(one);
	free(many);
	npy_free(&t);
	npy_free(&h);
	dlclose(so);
}
END_TEST

START_TEST(fasta_windows)
{
	HyenacModel *m;
	void *so = open_lib(lib, &m);
	SYM(hyenac_model_fasta_open);
	SYM(hyenac_model_fasta_next);
	SYM(hyenac_model_fasta_error);
	SYM(hyenac_model_fasta_close);
	SYM(hyenac_model_free);
	/* 700 bases in lines of 60, then a short soft-masked record */
	char fa[1024];
	size_t n = (size_t)sprintf(fa, ">chr1 desc\n");
	for (int i = 0; i < 700; i++) {
		fa[n++] = "ACGTN"[(i * 7 + i / 5) % 5];
		if (i % 60 == 59)
			fa[n++] = '\n';
	}
	n += (size_t)sprintf(fa + n, "\n>chr2\nacgTX\n");
	const char *fp = tu_write_str("w.fa", fa);
	HyenacFasta *f;
	HyenacWindow w;
	char err[512];
	static const int64_t starts[4] = {0, 300, 600, 0};
	static const int64_t ends[4] = {300, 600, 700, 5};

	for (int mode = 0; mode < 2; mode++) {
		unsigned flags = mode ? HYENAC_FASTA_NO_SEP | HYENAC_TOKENIZE_UPPER
		                      : 0;
		ck_assert_msg(p_hyenac_model_fasta_open(fp, 300, 0, flags, &f, err,
		                                        sizeof err) == HYENAC_OK,
		              "%s", err);
		for (int k = 0; k < 4; k++) {
			ck_assert_int_eq(p_hyenac_model_fasta_next(f, &w), 1);
			ck_assert_str_eq(w.record, k < 3 ? "chr1" : "chr2");
			ck_assert_int_eq(w.record_index, k < 3 ? 0 : 1);
			ck_assert_int_eq(w.start, starts[k]);
			ck_assert_int_eq(w.end, ends[k]);
			ck_assert_int_eq(w.ntokens, ends[k] - starts[k] + !mode);
			if (!mode)
				ck_assert_int_eq(w.tokens[w.ntokens - 1], 1);
			if (k == 1) /* base 300 + 3 */
				ck_assert_int_eq(w.tokens[3],
				                 7 + (303 * 7 + 303 / 5) % 5);
			if (k == 3) {
				ck_assert_int_eq(w.tokens[0], mode ? 7 : 6);
				ck_assert_int_eq(w.tokens[3], 10);
				ck_assert_int_eq(w.tokens[4], 6);
			}
		}
		ck_assert_int_eq(p_hyenac_model_fasta_next(f, &w), 0);
		p_hyenac_model_fasta_close(f);
	}

	/* a stride: windows every 250 bases, the tail shorter */
	ck_assert_int_eq(p_hyenac_model_fasta_open(fp, 300, 250, 0, &f, err,
	                                           sizeof err), HYENAC_OK);
	ck_assert_int_eq(p_hyenac_model_fasta_next(f, &w), 1);
	ck_assert_int_eq(p_hyenac_model_fasta_next(f, &w), 1);
	ck_assert_int_eq(w.start, 250);
	ck_assert_int_eq(w.end, 550);
	p_hyenac_model_fasta_close(f);

	/* errors: bases before the first header, a missing file, a bad
	 * window */
	const char *bad = tu_write_str("bad.fa", "ACGT\n>x\nACGT\n");
	ck_assert_int_eq(p_hyenac_model_fasta_open(bad, 300, 0, 0, &f, err,
	                                           sizeof err), HYENAC_OK);
	ck_assert_int_eq(p_hyenac_model_fasta_next(f, &w), -HYENAC_ERR_INPUT);
	ck_assert_int_eq(tu_lines(p_hyenac_model_fasta_error(f)), 1);
	ck_assert_ptr_nonnull(strstr(p_hyenac_model_fasta_error(f), "bad.fa"));
	ck_assert_int_eq(p_hyenac_model_fasta_next(f, &w), -HYENAC_ERR_INPUT);
	p_hyenac_model_fasta_close(f);
	ck_assert_int_eq(p_hyenac_model_fasta_open(tu_path(tu_tmpdir(), "none.fa"),
	                                           300, 0, 0, &f, err, sizeof err),
	                 HYENAC_ERR_INPUT);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(tu_lines(err), 1);
	ck_assert_ptr_nonnull(strstr(err, "none.fa"));
	ck_assert_int_eq(p_hyenac_model_fasta_open(fp, 0, 0, 0, &f, err,
	                                           sizeof err),
	                 HYENAC_ERR_ARGUMENT);
	ck_assert_int_eq(tu_lines(err), 1);
	p_hyenac_model_free(m);
	dlclose(so);
}
END_TEST

/* The library's generate gives the binary's `generate` samples, byte for
 * byte; its refusals are one line with a status. */
START_TEST(generate_matches_binary)
{
	HyenacModel *m, *c;
	void *so = open_lib(lib, &m);
	SYM(hyenac_model_generate);
	SYM(hyenac_model_error);
	SYM(hyenac_model_free);
	enum { P = 9, N = 40, M = 3 };
	const char *prompt = "GATTACAGA";
	int32_t tok[1000], out[M * N];

	for (int i = 0; i < P; i++)
		tok[i] = (int32_t)(strchr("ACGTN", prompt[i]) - "ACGTN") + 7;
	ck_assert_msg(p_hyenac_model_generate(m, tok, P, N, M, 0.7, 3, 0.95, 42,
	                                      "ACGT", out) == HYENAC_OK,
	              "%s", p_hyenac_model_error(m));
	const char *fa = tu_path(tu_tmpdir(), "gen.fa");
	RunResult r;
	tu_run(&r, exe, (const char *[]){"generate", "--prompt", prompt,
	                                 "--max-new", "40", "--num-samples", "3",
	                                 "--temperature", "0.7", "--top-k", "3",
	                                 "--top-p", "0.95", "--seed", "42",
	                                 "--allowed", "ACGT", "-o", fa, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	char *text = tu_read(fa, NULL), *line = text;
	for (int s = 0; s < M; s++) {
		line = strchr(line, '\n') + 1; /* the header */
		char want[P + N + 1];
		for (int i = 0; i < P + N; i++)
			want[i] = i < P ? prompt[i] : "ACGTN"[out[s * N + i - P] - 7];
		want[P + N] = 0;
		ck_assert_msg(strncmp(line, want, P + N) == 0 &&
		                  line[P + N] == '\n',
		              "sample %d: library %s, binary %.*s", s, want,
		              P + N, line);
		line += P + N + 1;
	}
	free(text);

	/* refusals: too long, a prompt id that is no base, bad settings */
	for (int i = 0; i < 1000; i++)
		tok[i] = 7;
	ck_assert_int_eq(p_hyenac_model_generate(m, tok, 1000, 27, 1, 1, 0, 1,
	                                         0, NULL, out),
	                 HYENAC_ERR_LENGTH);
	ck_assert_ptr_nonnull(strstr(p_hyenac_model_error(m), "1027"));
	ck_assert_int_eq(p_hyenac_model_generate(m, tok, 1000, 26, 1, 0, 0, 1,
	                                         0, NULL, out), HYENAC_OK);
	tok[2] = 6;
	ck_assert_int_eq(p_hyenac_model_generate(m, tok, 3, 2, 1, 1, 0, 1, 0,
	                                         NULL, out), HYENAC_ERR_TOKEN);
	tok[2] = 7;
	ck_assert_int_eq(p_hyenac_model_generate(m, tok, 3, 2, 1, 1, 0, 1, 0,
	                                         "AZ", out), HYENAC_ERR_ARGUMENT);
	ck_assert_int_eq(tu_lines(p_hyenac_model_error(m)), 1);
	ck_assert_int_eq(p_hyenac_model_generate(m, tok, 3, 2, 1, 1, 0, 0, 0,
	                                         NULL, out), HYENAC_ERR_ARGUMENT);
	ck_assert_int_eq(p_hyenac_model_generate(m, tok, 3, 2, 1, 1, 0, 1, 0,
	                                         NULL, NULL),
	                 HYENAC_ERR_ARGUMENT);
	p_hyenac_model_free(m);
	dlclose(so);
	so = open_lib(cls_lib, &c);
	__typeof__(&hyenac_model_generate) cls_gen =
	    (__typeof__(&hyenac_model_generate))dlsym(so,
	                                              "hyenac_model_generate");
	ck_assert_int_eq(cls_gen(c, tok, 3, 2, 1, 1, 0, 1, 0, NULL, out),
	                 HYENAC_ERR_NO_HEAD);
	((__typeof__(&hyenac_model_free))dlsym(so, "hyenac_model_free"))(c);
	dlclose(so);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("libapi");
	TCase *tc = tcase_create("libapi");
	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, pooled_matches_golden);
	tcase_add_test(tc, score_matches_golden_and_binary);
	tcase_add_test(tc, threads_give_one_result);
	tcase_add_test(tc, fasta_windows);
	tcase_add_test(tc, generate_matches_binary);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
