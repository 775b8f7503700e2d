/*
 * test_layers.c - hidden states of any layer (issue 16, item 5: `embed
 * --layer K|all`, HF's output_hidden_states): `hyenac run --layer` by
 * the JIT against the reference interpreter (every state) and, for the
 * last, the golden hidden.npy; a compiled binary's embed --tokens and
 * --fasta, pooled or not, against the JIT and against pooling done here;
 * the library's hyenac_model_hidden; bad --layer values refused in one
 * line with exit 2 and no output.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/hyenac_model.h"
#include "runtime/npy.h"
#include "testutil.h"

#define GOLD "tiny-1k"
enum { NS = 4, D = 128 }; /* tiny-1k: n_layer 2, so 4 states */

/* The first L tokens of each golden row, as T.npy. */
static const char *short_tokens(int64_t L)
{
	NpyArray t;
	Diag d;
	char name[32];

	tu_load_npy(tu_golden(GOLD, "tokens.npy"), &t);
	int64_t B = t.dim[0], W = t.dim[1];
	int32_t *s = malloc((size_t)(B * L) * sizeof *s);
	const int32_t *src = (const int32_t *)t.data;
	for (int64_t b = 0; b < B; b++)
		memcpy(s + b * L, src + b * W, (size_t)L * sizeof *s);
	snprintf(name, sizeof name, "tok%lld.npy", (long long)L);
	static char p[4096]; /* one token file per test */
	snprintf(p, sizeof p, "%s", tu_path(tu_tmpdir(), name));
	diag_init(&d);
	ck_assert_msg(npy_save_i32(p, s, 2, (int64_t[]){B, L}, &d), "%s", d.msg);
	free(s);
	npy_free(&t);
	return p;
}

/* hyenac run GOLD embed --layer K --tokens T -o OUT [--interp] */
static const char *run_layer(const char *tok, const char *k, bool interp)
{
	RunResult r;
	char name[64];
	snprintf(name, sizeof name, "run-%s-%d.npy", k, interp);
	static char ring[8][4096]; /* the last 8 outputs' names */
	static int next;
	char *out = ring[next++ % 8];
	snprintf(out, sizeof ring[0], "%s", tu_path(tu_tmpdir(), name));
	const char *args[] = {"run", tu_golden(GOLD, NULL), "embed", "--layer",
	                      k, "--tokens", tok, "-o", out,
	                      interp ? "--interp" : NULL, NULL};
	tu_run_hyenac(&r, args);
	ck_assert_msg(r.status == 0, "run --layer %s: %s", k, r.err);
	return out;
}

static double diff_files(const char *a, const char *b)
{
	NpyArray x, y;
	tu_load_npy(a, &x);
	tu_load_npy(b, &y);
	ck_assert_int_eq(x.rank, y.rank);
	for (int i = 0; i < x.rank; i++)
		ck_assert_int_eq(x.dim[i], y.dim[i]);
	double e = tu_max_abs_diff(x.data, y.data, x.numel);
	npy_free(&x);
	npy_free(&y);
	return e;
}

/* Every state by the JIT equals the interpreter's; --layer all stacks
 * them at axis 1; each --layer K is its slice. */
START_TEST(jit_equals_interp)
{
	const char *tok = short_tokens(100);
	const char *all = run_layer(tok, "all", false);
	double e = diff_files(all, run_layer(tok, "all", true));
	printf("--layer all, JIT vs interpreter: max abs %.3g\n", e);
	ck_assert_msg(e <= 1e-4, "JIT vs interpreter: %g", e);
	NpyArray a, one;
	tu_load_npy(all, &a);
	ck_assert_int_eq(a.rank, 4);
	ck_assert_int_eq(a.dim[0], 2);
	ck_assert_int_eq(a.dim[1], NS);
	ck_assert_int_eq(a.dim[2], 100);
	ck_assert_int_eq(a.dim[3], D);
	for (int k = 0; k < NS; k++) {
		char ks[8];
		snprintf(ks, sizeof ks, "%d", k);
		tu_load_npy(run_layer(tok, ks, false), &one);
		ck_assert_int_eq(one.rank, 3);
		for (int b = 0; b < 2; b++)
			ck_assert(memcmp((const float *)one.data + (size_t)b * 100 * D,
			                 (const float *)a.data + ((size_t)b * NS + k) * 100 * D,
			                 100 * D * sizeof(float)) == 0);
		npy_free(&one);
	}
	npy_free(&a);
}
END_TEST

/* The last state is HF's last_hidden_state: the golden hidden.npy. */
START_TEST(last_is_golden)
{
	double e = diff_files(run_layer(tu_golden(GOLD, "tokens.npy"), "3",
	                                false),
	                      tu_golden(GOLD, "hidden.npy"));
	printf("--layer 3 vs golden hidden.npy: max abs %.3g\n", e);
	ck_assert_msg(e <= 2e-4, "golden: %g", e);
}
END_TEST

static void expect_usage(RunResult *r, const char *what, const char *out)
{
	ck_assert_msg(r->status == 2 && tu_lines(r->err) == 1,
	              "%s: status %d, %s", what, r->status, r->err);
	ck_assert(access(out, F_OK) != 0);
}

START_TEST(driver_refuses)
{
	RunResult r;
	const char *tok = tu_golden(GOLD, "tokens.npy");
	const char *out = tu_path(tu_tmpdir(), "never.npy");
	static const char *const bad[] = {"4", "-1", "x", "1x", ""};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		tu_run_hyenac(&r, (const char *[]){"run", tu_golden(GOLD, NULL),
		                                   "embed", "--layer", bad[i],
		                                   "--tokens", tok, "-o", out,
		                                   NULL});
		expect_usage(&r, bad[i], out);
		ck_assert(strstr(r.err, "--layer"));
	}
	tu_run_hyenac(&r, (const char *[]){"run", tu_golden(GOLD, NULL),
	                                   "logits", "--layer", "1", "--tokens",
	                                   tok, "-o", out, NULL});
	expect_usage(&r, "logits --layer", out);
	tu_run_hyenac(&r, (const char *[]){"ir", tu_golden(GOLD, NULL),
	                                   "--layer", "1", NULL});
	ck_assert_int_eq(r.status, 2);
}
END_TEST

static const char *compile(const char *name, const char *emit)
{
	RunResult r;
	static char path[4096];
	snprintf(path, sizeof path, "%s", tu_path(tu_tmpdir(), name));
	tu_run_hyenac(&r, (const char *[]){"compile", tu_golden(GOLD, NULL),
	                                   "-o", path, "--emit", emit, NULL});
	ck_assert_msg(r.status == 0, "compile: %s", r.err);
	return path;
}

/* The binary: embed --tokens --layer all is the JIT's; --pool mean and
 * last of a state are its mean (in double) and last row; embed --fasta
 * --layer of windows tokenized here is embed --tokens of them. */
START_TEST(binary_layers)
{
	const char *exe = compile("tiny", "exe");
	const char *tok = short_tokens(60);
	const char *out = tu_path(tu_tmpdir(), "bin-all.npy");
	RunResult r;

	tu_run(&r, exe, (const char *[]){"embed", "--tokens", tok, "--layer",
	                                 "all", "-o", out, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	double e = diff_files(out, run_layer(tok, "all", false));
	ck_assert_msg(e <= 1e-5, "binary vs JIT: %g", e);

	NpyArray all, p;
	tu_load_npy(out, &all);
	const char *pooled = tu_path(tu_tmpdir(), "bin-pool.npy");
	static const char *const pools[] = {"mean", "last"};
	for (int m = 0; m < 2; m++) {
		tu_run(&r, exe, (const char *[]){"embed", "--tokens", tok,
		                                 "--layer", "1", "--pool",
		                                 pools[m], "-o", pooled, NULL});
		ck_assert_msg(r.status == 0, "%s", r.err);
		tu_load_npy(pooled, &p);
		ck_assert_int_eq(p.rank, 2);
		ck_assert_int_eq(p.dim[0], 2);
		ck_assert_int_eq(p.dim[1], D);
		for (int b = 0; b < 2; b++)
			for (int c = 0; c < D; c++) {
				const float *h = (const float *)all.data + ((size_t)b * NS + 1) * 60 * D;
				double want = 0;
				if (m == 0) {
					for (int t = 0; t < 60; t++)
						want += h[t * D + c];
					want /= 60;
				} else {
					want = h[59 * D + c];
				}
				ck_assert_double_le(fabs(((const float *)p.data)[b * D + c] - want), 1e-6);
			}
		npy_free(&p);
	}
	tu_run(&r, exe, (const char *[]){"embed", "--tokens", tok, "--layer",
	                                 "all", "--pool", "last", "-o", pooled,
	                                 NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	tu_load_npy(pooled, &p);
	ck_assert_int_eq(p.rank, 3);
	ck_assert_int_eq(p.dim[1], NS);
	for (int b = 0; b < 2; b++)
		for (int k = 0; k < NS; k++)
			ck_assert(memcmp((const float *)p.data + ((size_t)b * NS + k) * D,
			                 (const float *)all.data + (((size_t)b * NS + k) * 60 + 59) * D,
			                 D * sizeof(float)) == 0);
	npy_free(&p);
	npy_free(&all);

	/* FASTA: ACGTACG then TT, windows of 7: [7 8 9 10 7 8 9 1] and
	 * [10 10 1], each state zero-padded to 8 positions */
	const char *fa = tu_write_str("l.fa", ">r\nACGTACGTT\n");
	const char *fx = tu_path(tu_tmpdir(), "fa.npy");
	tu_run(&r, exe, (const char *[]){"embed", "--fasta", fa, "--window",
	                                 "7", "--pool", "none", "--layer",
	                                 "all", "-o", fx, "--quiet", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	NpyArray fxa;
	tu_load_npy(fx, &fxa);
	ck_assert_int_eq(fxa.rank, 4);
	ck_assert_int_eq(fxa.dim[0], 2);
	ck_assert_int_eq(fxa.dim[1], NS);
	ck_assert_int_eq(fxa.dim[2], 8);
	static const int32_t w0[] = {7, 8, 9, 10, 7, 8, 9, 1};
	static const int32_t w1[] = {10, 10, 1};
	const int32_t *win[] = {w0, w1};
	const int64_t wl[] = {8, 3};
	for (int w = 0; w < 2; w++) {
		Diag d;
		diag_init(&d);
		const char *tp = tu_path(tu_tmpdir(), "win.npy");
		ck_assert(npy_save_i32(tp, win[w], 2, (int64_t[]){1, wl[w]}, &d));
		tu_run(&r, exe, (const char *[]){"embed", "--tokens", tp,
		                                 "--layer", "all", "-o", out,
		                                 NULL});
		ck_assert_msg(r.status == 0, "%s", r.err);
		tu_load_npy(out, &p);
		for (int k = 0; k < NS; k++) {
			const float *row = (const float *)fxa.data + ((size_t)w * NS + k) * 8 * D;
			ck_assert(memcmp(row, (const float *)p.data + (size_t)k * wl[w] * D,
			                 (size_t)(wl[w] * D) * sizeof(float)) == 0);
			for (int64_t i = wl[w] * D; i < 8 * D; i++)
				ck_assert(row[i] == 0);
		}
		npy_free(&p);
	}
	npy_free(&fxa);

	/* refused: out of range, not a number, on score */
	const char *never = tu_path(tu_tmpdir(), "never.npy");
	tu_run(&r, exe, (const char *[]){"embed", "--tokens", tok, "--layer",
	                                 "4", "-o", never, NULL});
	expect_usage(&r, "binary --layer 4", never);
	ck_assert(strstr(r.err, "0 (the embeddings) to 3"));
	tu_run(&r, exe, (const char *[]){"embed", "--fasta", fa, "--layer",
	                                 "last", "-o", never, NULL});
	expect_usage(&r, "binary --layer last", never);
	tu_run(&r, exe, (const char *[]){"score", "--fasta", fa, "--layer",
	                                 "1", "-o", "-", NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert(strstr(r.err, "--layer is for 'embed'"));
	tu_run(&r, exe, (const char *[]){"logits", "--tokens", tok, "--layer",
	                                 "1", "-o", never, NULL});
	expect_usage(&r, "logits --layer", never);
}
END_TEST

#define SYM(name)                                                          \
	__typeof__(&name) p_##name = (__typeof__(&name))dlsym(so, #name);  \
	ck_assert_msg(p_##name != NULL, "no %s", #name)

/* hyenac_model_hidden: layer 3 is the golden hidden.npy, layer 1 the
 * JIT's; a layer out of range is HYENAC_ERR_ARGUMENT. */
START_TEST(library_hidden)
{
	const char *dir = tu_path(tu_tmpdir(), "libdir");
	mkdir(dir, 0755);
	char lib[4096];
	snprintf(lib, sizeof lib, "%s", tu_path(dir, "libtiny.so"));
	RunResult r;
	tu_run_hyenac(&r, (const char *[]){"compile", tu_golden(GOLD, NULL),
	                                   "-o", lib, "--emit", "lib", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	void *so = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(so, "%s", dlerror());
	SYM(hyenac_model_load);
	SYM(hyenac_model_free);
	SYM(hyenac_model_hidden);
	SYM(hyenac_model_error);
	HyenacModel *m = NULL;
	char err[256];
	ck_assert_msg(p_hyenac_model_load(NULL, &m, err, sizeof err) ==
	                  HYENAC_OK, "%s", err);
	NpyArray tok, hid, j1;
	tu_load_npy(tu_golden(GOLD, "tokens.npy"), &tok);
	tu_load_npy(tu_golden(GOLD, "hidden.npy"), &hid);
	int64_t B = tok.dim[0], L = tok.dim[1];
	float *h = malloc(hid.numel * sizeof *h);
	ck_assert_msg(p_hyenac_model_hidden(m, (const int32_t *)tok.data, B, L,
	                                    3, h) == HYENAC_OK,
	              "%s", p_hyenac_model_error(m));
	double e = tu_max_abs_diff(h, hid.data, hid.numel);
	printf("library hidden layer 3 vs golden: max abs %.3g\n", e);
	ck_assert_msg(e <= 2e-4, "library layer 3: %g", e);
	ck_assert_msg(p_hyenac_model_hidden(m, (const int32_t *)tok.data, B, L,
	                                    1, h) == HYENAC_OK,
	              "%s", p_hyenac_model_error(m));
	tu_load_npy(run_layer(tu_golden(GOLD, "tokens.npy"), "1", false), &j1);
	e = tu_max_abs_diff(h, j1.data, j1.numel);
	ck_assert_msg(e <= 1e-5, "library layer 1 vs JIT: %g", e);
	ck_assert_int_eq(p_hyenac_model_hidden(m, (const int32_t *)tok.data, B,
	                                       L, 4, h),
	                 HYENAC_ERR_ARGUMENT);
	ck_assert(strstr(p_hyenac_model_error(m), "out of range"));
	ck_assert_int_eq(p_hyenac_model_hidden(m, (const int32_t *)tok.data, B,
	                                       L, -1, h),
	                 HYENAC_ERR_ARGUMENT);
	free(h);
	npy_free(&tok);
	npy_free(&hid);
	npy_free(&j1);
	p_hyenac_model_free(m);
	/* not dlclose'd: see test_classify.c's golden_library */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("layers");
	TCase *tc = tcase_create("layers");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, jit_equals_interp);
	tcase_add_test(tc, last_is_golden);
	tcase_add_test(tc, driver_refuses);
	tcase_add_test(tc, binary_layers);
	tcase_add_test(tc, library_hidden);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
