/*
 * test_bf16.c - the accuracy contract of `--precision bf16` (issue 15):
 * a bf16 binary against fp32 on the golden checkpoints (against the
 * official outputs, hidden.npy and logits.npy) and on seeded random
 * models (against the fp32 binary of the same model):
 *
 *   - hidden states within 1e-2 relative (Frobenius), and a cosine
 *     similarity of at least 0.999 at every position;
 *   - the top-1 next token the same at 99% of positions or more;
 *   - each window's `score` sum_logp within 0.5% relative;
 *   - the bf16 binary nearer the reference interpreter's bf16
 *     expectation (`hyenac run --interp --precision bf16`) than the fp32
 *     reference, so the bound is met by computing in bf16, not by luck;
 *   - its weights smaller, and `generate` running on it (its step
 *     logits within 1e-2 of the fp32 binary's);
 *   - `--emit lib --precision bf16`: the library's embed is the bf16
 *     binary's (within 1e-3 relative: each compile measures its own FFTW
 *     plans, whose float differences a bf16 rounding can turn into a
 *     step of bf16; an fp32 library would be 2e-3 away).
 *
 * The kernels themselves (every edge size, each GEMM path) are in
 * test_codegen.c; the bad command lines are here.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/hyenac_model.h"
#include "runtime/npy.h"
#include "testutil.h"

enum { VOCAB = 12 }; /* every model here: A C G T N and the specials */

typedef struct Model {
	const char *name;   /* scratch prefix */
	const char *path;   /* a golden case name, or models/NAME.yaml */
	bool golden;
	const char *seq_len; /* compile --seq-len */
	int window;          /* score --window */
	const char *cpu;     /* compile --target-cpu, or NULL: the host */
	double near;         /* the bf16 binary's distance to the bf16
	                      * interpreter, at most this part of its
	                      * distance to fp32 (0: 0.25) */
} Model;

/* The host's GEMM (AMX tiles on Sapphire Rapids), and x86-64-v3's: the
 * fallback that widens the weights' bf16 pairs to fp32 FMAs; small-32k
 * for a model whose filters are made at run time. */
static const Model models[] = {
	{"tiny", "tiny-1k", true, "1024", 500, NULL, 0},
	{"odd3", "odd-order3", true, "700", 300, NULL, 0},
	{"rand", "models/hyenadna-tiny-1k.yaml", false, "1024", 500, NULL, 0},
	{"rand256", "models/hyenadna-tiny-1k-d256.yaml", false, "1024", 400,
	 NULL, 0},
	{"tinyv3", "tiny-1k", true, "1024", 500, "x86-64-v3", 0},
	/* filters made at run time (too long to fold): the post gate
	 * projected after the convolution (fuse's late_post), the bf16
	 * panels read from a row window. Its 4 layers at D = 256 add up
	 * more bf16 rounding flips (fp32 differences of 1e-7 crossing a
	 * bf16 boundary) between the binary and the interpreter: 0.35 of
	 * the distance to fp32, with or without late_post (0.00131 and
	 * 0.00129 from the interpreter, 0.0037 from fp32, both builds). */
	{"s32k", "models/hyenadna-small-32k.yaml", false, "32768", 500, NULL,
	 0.5},
};

static const char *model_path(const Model *m)
{
	return m->golden ? tu_golden(m->path, NULL) : tu_source(m->path);
}

static const char *compile(const Model *m, bool bf16)
{
	RunResult r;
	char name[64];
	snprintf(name, sizeof name, "%s-%s", m->name, bf16 ? "bf16" : "fp32");
	const char *out = tu_path(tu_tmpdir(), name);
	tu_run_hyenac(&r, (const char *[]){"compile", model_path(m), "-o", out,
	                                   "--seq-len", m->seq_len,
	                                   "--precision", bf16 ? "bf16" : "fp32",
	                                   m->cpu ? "--target-cpu" : NULL,
	                                   m->cpu, NULL});
	ck_assert_msg(r.status == 0, "compile %s: %s", name, r.err);
	return out;
}

/* exe CMD --tokens tok -o NAME.npy, loaded. */
static void run_npy(const char *exe, const char *cmd, const char *tok,
                    const char *name, NpyArray *a)
{
	RunResult r;
	const char *out = tu_path(tu_tmpdir(), name);
	tu_run(&r, exe, (const char *[]){cmd, "--tokens", tok, "-o", out,
	                                 "--threads", "1", NULL});
	ck_assert_msg(r.status == 0, "%s %s: %s", exe, cmd, r.err);
	tu_load_npy(out, a);
}

static double rel_frob(const float *x, const float *ref, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		double e = (double)x[i] - ref[i];
		num += e * e;
		den += (double)ref[i] * ref[i];
	}
	return isnan(num) ? INFINITY : sqrt(num / den);
}

/* The smallest cosine similarity of a row (of d) of x with ref's. */
static double min_cos(const float *x, const float *ref, size_t rows, int64_t d)
{
	double worst = 1;
	for (size_t r = 0; r < rows; r++) {
		double xy = 0, xx = 0, yy = 0;
		for (int64_t k = 0; k < d; k++) {
			double a = x[r * d + k], b = ref[r * d + k];
			xy += a * b, xx += a * a, yy += b * b;
		}
		double c = xy / sqrt(xx * yy);
		if (!(c >= worst))
			worst = c;
	}
	return worst;
}

static int64_t argmax(const float *x, int n)
{
	int64_t best = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* The fraction of rows whose argmax over the real vocabulary agree. */
static double top1_same(const float *x, const float *ref, size_t rows,
                        int64_t v)
{
	size_t same = 0;
	for (size_t r = 0; r < rows; r++)
		same += argmax(x + r * v, VOCAB) == argmax(ref + r * v, VOCAB);
	return (double)same / (double)rows;
}

/* A FASTA of 3 records of pseudo-random bases, some N and lower case. */
static const char *fasta(void)
{
	static char text[3 * 2100];
	uint64_t s = 0x2545F4914F6CDD1DULL;
	size_t n = 0;
	for (int rec = 0; rec < 3; rec++) {
		n += (size_t)sprintf(text + n, ">r%d\n", rec);
		for (int i = 0; i < 1900 + 50 * rec; i++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			int b = (int)(s >> 60);
			text[n++] = b == 0 ? 'N' : "ACGTacgt"[b % 8];
		}
		text[n++] = '\n';
	}
	text[n] = 0;
	return tu_write_str("bf16.fa", text);
}

/* score's sum_logp column (the 5th) of exe's table, at most max rows. */
static int score_sums(const char *exe, const char *fa, int window,
                      const char *name, double *sum, int max)
{
	RunResult r;
	char w[16];
	const char *out = tu_path(tu_tmpdir(), name);
	snprintf(w, sizeof w, "%d", window);
	tu_run(&r, exe, (const char *[]){"score", "--fasta", fa, "-o", out,
	                                 "--window", w, "--quiet", NULL});
	ck_assert_msg(r.status == 0, "%s score: %s", exe, r.err);
	char *t = tu_read(out, NULL), *line = strchr(t, '\n');
	int n = 0;
	ck_assert(line);
	for (line++; *line && n < max; n++) {
		char *f = line;
		for (int col = 0; col < 4; col++)
			f = strchr(f, '\t') + 1;
		sum[n] = strtod(f, NULL);
		line = strchr(line, '\n');
		ck_assert(line);
		line++;
	}
	free(t);
	return n;
}

START_TEST(contract)
{
	const Model *m = &models[_i];
	const char *e32 = compile(m, false), *e16 = compile(m, true);
	const char *tok = tu_golden(m->golden ? m->path : "tiny-1k",
	                            "tokens.npy");
	char name[96];
	NpyArray h16, l16, h32, l32, hi;

	snprintf(name, sizeof name, "%s-h16.npy", m->name);
	run_npy(e16, "embed", tok, name, &h16);
	snprintf(name, sizeof name, "%s-l16.npy", m->name);
	run_npy(e16, "logits", tok, name, &l16);
	if (m->golden) {
		tu_load_npy(tu_golden(m->path, "hidden.npy"), &h32);
		tu_load_npy(tu_golden(m->path, "logits.npy"), &l32);
	} else {
		snprintf(name, sizeof name, "%s-h32.npy", m->name);
		run_npy(e32, "embed", tok, name, &h32);
		snprintf(name, sizeof name, "%s-l32.npy", m->name);
		run_npy(e32, "logits", tok, name, &l32);
	}
	ck_assert_int_eq(h16.numel, h32.numel);
	ck_assert_int_eq(l16.numel, l32.numel);
	int64_t d = h16.dim[2], v = l16.dim[2];
	size_t rows = h16.numel / (size_t)d;
	double rel = rel_frob(h16.data, h32.data, h16.numel);
	double cos = min_cos(h16.data, h32.data, rows, d);
	double top = top1_same(l16.data, l32.data, rows, v);

	/* the interpreter's bf16 expectation */
	RunResult r;
	snprintf(name, sizeof name, "%s-hi.npy", m->name);
	const char *hp = tu_path(tu_tmpdir(), name);
	tu_run_hyenac(&r, (const char *[]){"run", model_path(m), "embed",
	                                   "--tokens", tok, "-o", hp, "--interp",
	                                   "--precision", "bf16", NULL});
	ck_assert_msg(r.status == 0, "run --interp: %s", r.err);
	tu_load_npy(hp, &hi);
	double rel_i = rel_frob(h16.data, hi.data, h16.numel);

	/* score, per window */
	double s16[64], s32[64], worst = 0;
	const char *fa = fasta();
	snprintf(name, sizeof name, "%s-16.tsv", m->name);
	int n16 = score_sums(e16, fa, m->window, name, s16, 64);
	snprintf(name, sizeof name, "%s-32.tsv", m->name);
	int n32 = score_sums(e32, fa, m->window, name, s32, 64);
	ck_assert_int_eq(n16, n32);
	ck_assert_int_gt(n16, 10);
	for (int i = 0; i < n16; i++) {
		double e = fabs(s16[i] - s32[i]) / fabs(s32[i]);
		if (!(e <= worst))
			worst = e;
	}

	struct stat st16, st32;
	ck_assert(stat(e16, &st16) == 0 && stat(e32, &st32) == 0);
	for (int i = 0; i < 2; i++) {
		tu_run(&r, i ? e16 : e32, (const char *[]){"info", NULL});
		ck_assert_msg(r.status == 0, "info: %s", r.err);
		ck_assert_msg(strstr(r.out, i ? "\nprecision=bf16\n"
		                              : "\nprecision=fp32\n"), "%s", r.out);
	}
	printf("bf16 %s: hidden rel %.3g (interp bf16 %.3g), min cos %.6f, "
	       "top-1 same %.4f, score worst rel %.3g over %d windows; "
	       "binary %lld vs %lld bytes\n", m->name, rel, rel_i, cos, top,
	       worst, n16, (long long)st16.st_size, (long long)st32.st_size);
	ck_assert_msg(rel <= 1e-2, "%s: hidden rel %g", m->name, rel);
	ck_assert_msg(cos >= 0.999, "%s: cosine %g", m->name, cos);
	ck_assert_msg(top >= 0.99, "%s: top-1 same at %g", m->name, top);
	ck_assert_msg(worst <= 5e-3, "%s: score rel %g", m->name, worst);
	ck_assert_msg(rel_i < (m->near > 0 ? m->near : 0.25) * rel,
	              "%s: bf16 binary %g from the bf16 interpreter, %g from "
	              "fp32", m->name, rel_i, rel);
	ck_assert_msg(st16.st_size < st32.st_size, "%s: bf16 binary not smaller",
	              m->name);
	npy_free(&h16);
	npy_free(&l16);
	npy_free(&h32);
	npy_free(&l32);
	npy_free(&hi);
}
END_TEST

/* generate on a bf16 binary: the decode step's projections in bf16 (a
 * GEMM of B rows), its tail projections on the fp32 originals that the
 * blob keeps for them; greedy logits near the fp32 binary's. */
START_TEST(generate_bf16)
{
	const Model *m = &models[0];
	const char *exe[2] = {compile(m, false), compile(m, true)};
	NpyArray lg[2];
	for (int i = 0; i < 2; i++) {
		RunResult r;
		const char *fa = tu_path(tu_tmpdir(), i ? "g16.fa" : "g32.fa");
		const char *lo = tu_path(tu_tmpdir(), i ? "g16.npy" : "g32.npy");
		tu_run(&r, exe[i], (const char *[]){"generate", "--prompt",
		                                    "ACGTACGTTTGACCAGGCATTACGATCG",
		                                    "--max-new", "120",
		                                    "--temperature", "0", "-o", fa,
		                                    "--logits-out", lo, NULL});
		ck_assert_msg(r.status == 0, "generate: %s", r.err);
		tu_load_npy(lo, &lg[i]);
	}
	ck_assert_int_eq(lg[0].numel, lg[1].numel);
	double rel = rel_frob(lg[1].data, lg[0].data, lg[0].numel);
	printf("bf16 generate: step logits rel %.3g to fp32\n", rel);
	ck_assert_msg(rel <= 1e-2, "generate logits rel %g", rel);
	npy_free(&lg[0]);
	npy_free(&lg[1]);
}
END_TEST

START_TEST(library_bf16)
{
	const Model *m = &models[0];
	const char *exe = compile(m, true), *so = tu_path(tu_tmpdir(),
	                                                   "libbf16.so");
	const char *tok = tu_golden(m->path, "tokens.npy");
	RunResult r;
	NpyArray want, t;
	char err[512];

	tu_run_hyenac(&r, (const char *[]){"compile", model_path(m), "-o", so,
	                                   "--emit", "lib", "--seq-len",
	                                   m->seq_len, "--precision", "bf16",
	                                   NULL});
	ck_assert_msg(r.status == 0, "compile --emit lib: %s", r.err);
	run_npy(exe, "embed", tok, "lib-want.npy", &want);
	tu_load_npy(tok, &t);
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h, "%s", dlerror());
	int (*load)(const char *, HyenacModel **, char *, size_t) =
	    (int (*)(const char *, HyenacModel **, char *, size_t))dlsym(
	        h, "hyenac_model_load");
	int (*embed)(HyenacModel *, const int32_t *, int64_t, int64_t,
	             float *) = (int (*)(HyenacModel *, const int32_t *, int64_t,
	                                 int64_t, float *))dlsym(
	    h, "hyenac_model_embed");
	void (*mfree)(HyenacModel *) =
	    (void (*)(HyenacModel *))dlsym(h, "hyenac_model_free");
	ck_assert(load && embed && mfree);
	HyenacModel *hm = NULL;
	ck_assert_msg(load(NULL, &hm, err, sizeof err) == HYENAC_OK, "%s", err);
	float *got = malloc(want.numel * sizeof *got);
	ck_assert(got);
	ck_assert_int_eq(embed(hm, t.data, t.dim[0], t.dim[1], got), HYENAC_OK);
	double e = rel_frob(got, want.data, want.numel);
	printf("bf16 library: rel %.3g from the bf16 binary\n", e);
	ck_assert_msg(e <= 1e-3, "library embed %g from the binary's", e);
	free(got);
	mfree(hm);
	dlclose(h);
	npy_free(&want);
	npy_free(&t);
}
END_TEST

/* One line, exit 2, nothing written. */
START_TEST(bad_precision)
{
	RunResult r;
	const char *out = tu_path(tu_tmpdir(), "never");
	const char *m = tu_golden("tiny-1k", NULL);

	tu_run_hyenac(&r, (const char *[]){"compile", m, "-o", out,
	                                   "--precision", "fp16", NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_int_eq(tu_lines(r.err), 1);
	ck_assert_msg(strstr(r.err, "--precision takes fp32 or bf16, not "
	                            "'fp16'"), "%s", r.err);
	tu_run_hyenac(&r, (const char *[]){"info", m, "--precision", "bf16",
	                                   NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_int_eq(tu_lines(r.err), 1);
	ck_assert_msg(strstr(r.err, "--precision is for 'compile' and 'run'"),
	              "%s", r.err);
	tu_run_hyenac(&r, (const char *[]){"compile", m, "-o", out,
	                                   "--precision", "bf16", "--precision",
	                                   "bf16", NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_int_eq(tu_lines(r.err), 1);
	tu_run_hyenac(&r, (const char *[]){"compile", m, "-o", out,
	                                   "--precision", NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_int_eq(tu_lines(r.err), 1);
	struct stat st;
	ck_assert(stat(out, &st) != 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bf16");
	TCase *t = tcase_create("contract");
	tcase_set_timeout(t, 300);
	tcase_add_loop_test(t, contract, 0,
	                    (int)(sizeof models / sizeof models[0]));
	tcase_add_test(t, generate_bf16);
	tcase_add_test(t, library_bf16);
	tcase_add_test(t, bad_precision);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
