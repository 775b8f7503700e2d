/*
 * sgemm_limit.c - what this CPU can do on a HyenaDNA model's own kernel
 * shapes: OpenBLAS cblas_sgemm for the projections and FFTW for the long
 * convolution. bench/run prints these beside hyenac's and PyTorch's
 * forward times, so every figure says how far it is from the library
 * limit on the same shapes.
 *
 *   sgemm_limit --batch B --seq-len L --d-model D --d-inner I
 *               [--order O] [--n-layer N] [--vocab V] [--threads T]
 *               [--reps R] [--estimate] [--conv-only]
 *
 * One line per kernel, key=value (--conv-only: the long convolution's
 * lines alone, no projections), then a `limit` line whose limit_ms is
 * the forward's lower bound from these kernels alone: n_layer x (in_proj +
 * out_proj + fc1 + fc2 + (order-1) x long convolution) + head. It leaves
 * out the position-wise work (LayerNorm, short filter, gates, GELU, the
 * implicit filter MLP), so a real forward cannot reach it, only approach.
 *
 * Projections: y[M, N] = x[M, K] W[N, K]^T (the nn.Linear layout hyenac
 * and PyTorch use), M = B L rows, through cblas_sgemm with
 * openblas_set_num_threads(T). GFLOP/s counts 2 M N K.
 *
 * Long convolution, the library limit (`longconv_fftw`): the layout the
 * best case would have, channels-first rows of u, each zero-padded to N
 * (the runtime's choice, hyrt_fft_size), one r2c, a
 * product with the filter's spectrum computed beforehand (a compiled model
 * knows its filters), one c2r; plans from FFTW_MEASURE (or
 * FFTW_ESTIMATE with --estimate), channels split over T threads. For
 * comparison, `longconv_hyrt` times the hyenac runtime's convolution as
 * a compiled model calls it (hyrt_hyena_conv_fft_const with a slot that
 * keeps the filter's spectra, as the memory plan allows for the catalogue
 * models up to 160k; made on the warm-up call) on the channels-last
 * [B, L, C] tensors generated code hands it: gather, transforms and
 * scatter, with the gate and the skip term of a Hyena layer, FFTW wisdom
 * measured beforehand as `hyenac compile` does; `longconv_hyrt_streamed`
 * the same with the spectra made per call (what layers past the plan's
 * budget of kept spectra do).
 * Build with -DNO_HYRT to leave it out.
 *
 * Data are filled with small pseudo-random values; each kernel runs once
 * to warm up, then R times. Lines give the median (ms) and the best
 * (min_ms) of the R; GFLOP/s and the limit line use the best, since a
 * limit should be a bound: on a shared machine the median carries other
 * processes' time slices.
 */
/* fftw3.h before cblas.h: OpenBLAS's header pulls in <complex.h>, which
 * would turn fftwf_complex into float _Complex (and defines I). */
#include <fftw3.h>
#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/hyrt.h" /* hyrt_fft_size, inline, even with NO_HYRT */

void openblas_set_num_threads(int); /* OpenBLAS's cblas.h has it too */

typedef struct Opts {
	long batch, len, dm, di, order, nlayer, vocab, threads, reps;
	int estimate, conv_only;
} Opts;

static void die(const char *msg, const char *arg)
{
	fprintf(stderr, "sgemm_limit: %s%s\n", msg, arg ? arg : "");
	exit(2);
}

static void *xalloc(size_t n)
{
	void *p = fftwf_malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "sgemm_limit: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *ms, long R)
{
	qsort(ms, (size_t)R, sizeof *ms, cmp_double);
	return R % 2 ? ms[R / 2] : 0.5 * (ms[R / 2 - 1] + ms[R / 2]);
}

static void fill(float *x, size_t n, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15u + 1;
	for (size_t i = 0; i < n; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		x[i] = (float)((double)(s >> 40) / (double)(1 << 24) - 0.5) * 0.1f;
	}
}

/* ---- projections ------------------------------------------------------- */

static double time_sgemm(const char *name, long M, long K, long N, long R)
{
	float *x = xalloc(sizeof(float) * (size_t)M * (size_t)K);
	float *w = xalloc(sizeof(float) * (size_t)N * (size_t)K);
	float *y = xalloc(sizeof(float) * (size_t)M * (size_t)N);
	double *ms = malloc(sizeof(double) * (size_t)R);

	fill(x, (size_t)M * (size_t)K, 1);
	fill(w, (size_t)N * (size_t)K, 2);
	for (long r = -1; r < R; r++) {
		double t0 = now_ms();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N,
		            (int)K, 1.0f, x, (int)K, w, (int)K, 0.0f, y, (int)N);
		if (r >= 0)
			ms[r] = now_ms() - t0;
	}
	double med = median(ms, R), best = ms[0];
	printf("kernel=%s M=%ld K=%ld N=%ld ms=%.3f min_ms=%.3f gflops=%.1f\n",
	       name, M, K, N, med, best,
	       2.0 * (double)M * (double)N * (double)K / best * 1e-6);
	fftwf_free(x);
	fftwf_free(w);
	fftwf_free(y);
	free(ms);
	return best;
}

/* ---- long convolution, library limit ----------------------------------- */

typedef struct Conv {
	long B, L, C, N;
	fftwf_plan fwd, inv;
	const float *u;            /* [B, C, L] */
	const fftwf_complex *kf;   /* [C, N/2+1], 1/N folded in */
	float *y;                  /* [B, C, L] */
} Conv;

typedef struct Part {
	const Conv *cv;
	long r0, r1; /* rows (b, c) of this thread */
} Part;

static void *conv_rows(void *p)
{
	const Part *pt = p;
	const Conv *cv = pt->cv;
	long N = cv->N, nf = N / 2 + 1, L = cv->L;
	float *x = xalloc(sizeof(float) * (size_t)N);
	fftwf_complex *X = xalloc(sizeof(fftwf_complex) * (size_t)nf);

	for (long row = pt->r0; row < pt->r1; row++) {
		const fftwf_complex *K = cv->kf + (row % cv->C) * nf;
		memcpy(x, cv->u + row * L, sizeof(float) * (size_t)L);
		memset(x + L, 0, sizeof(float) * (size_t)(N - L));
		fftwf_execute_dft_r2c(cv->fwd, x, X);
		for (long f = 0; f < nf; f++) {
			float re = X[f][0] * K[f][0] - X[f][1] * K[f][1];
			float im = X[f][0] * K[f][1] + X[f][1] * K[f][0];
			X[f][0] = re;
			X[f][1] = im;
		}
		fftwf_execute_dft_c2r(cv->inv, X, x);
		memcpy(cv->y + row * L, x, sizeof(float) * (size_t)L);
	}
	fftwf_free(x);
	fftwf_free(X);
	return NULL;
}

static void conv_run(const Conv *cv, long T)
{
	long rows = cv->B * cv->C;
	pthread_t th[64];
	Part pt[64];

	if (T > 64)
		T = 64;
	for (long i = 0; i < T; i++) {
		pt[i] = (Part){cv, rows * i / T, rows * (i + 1) / T};
		if (i > 0 && pthread_create(&th[i], NULL, conv_rows, &pt[i]))
			die("cannot start a thread", NULL);
	}
	conv_rows(&pt[0]);
	for (long i = 1; i < T; i++)
		pthread_join(th[i], NULL);
}

static double time_conv_fftw(long B, long L, long C, long T, long R,
                             int estimate)
{
	long N = (long)hyrt_fft_size(L), nf = N / 2 + 1;
	float *u = xalloc(sizeof(float) * (size_t)(B * C * L));
	float *y = xalloc(sizeof(float) * (size_t)(B * C * L));
	float *x = xalloc(sizeof(float) * (size_t)N);
	fftwf_complex *kf = xalloc(sizeof(fftwf_complex) * (size_t)(C * nf));
	double *ms = malloc(sizeof(double) * (size_t)R);
	int n = (int)N;
	Conv cv = {B, L, C, N, NULL, NULL, u, (const fftwf_complex *)kf, y};
	unsigned flags = estimate ? FFTW_ESTIMATE : FFTW_MEASURE;

	double p0 = now_ms();
	cv.fwd = fftwf_plan_dft_r2c_1d(n, x, kf, flags);
	cv.inv = fftwf_plan_dft_c2r_1d(n, kf, x, flags);
	double plan_ms = now_ms() - p0;
	if (!cv.fwd || !cv.inv)
		die("FFTW cannot plan this size", NULL);
	fill(u, (size_t)(B * C * L), 3);
	/* The filter spectra, made once. Transformed into an aligned buffer
	 * and copied: new-array execution needs the planning alignment,
	 * which kf + c nf does not keep. */
	fftwf_complex *X = xalloc(sizeof(fftwf_complex) * (size_t)nf);
	for (long c = 0; c < C; c++) {
		fill(x, (size_t)L, 4 + (uint64_t)c);
		memset(x + L, 0, sizeof(float) * (size_t)(N - L));
		fftwf_execute_dft_r2c(cv.fwd, x, X);
		for (long f = 0; f < nf; f++) {
			kf[c * nf + f][0] = X[f][0] / (float)N;
			kf[c * nf + f][1] = X[f][1] / (float)N;
		}
	}
	fftwf_free(X);
	for (long r = -1; r < R; r++) {
		double t0 = now_ms();
		conv_run(&cv, T);
		if (r >= 0)
			ms[r] = now_ms() - t0;
	}
	double med = median(ms, R), best = ms[0];
	printf("kernel=longconv_fftw B=%ld L=%ld C=%ld fft_n=%ld plan=%s "
	       "plan_ms=%.0f ms=%.3f min_ms=%.3f\n", B, L, C, N,
	       estimate ? "estimate" : "measure", plan_ms, med, best);
	fftwf_destroy_plan(cv.fwd);
	fftwf_destroy_plan(cv.inv);
	fftwf_free(u);
	fftwf_free(y);
	fftwf_free(x);
	fftwf_free(kf);
	free(ms);
	return best;
}

#ifndef NO_HYRT
/* The activations as a compiled model has them: hyrt_alloc_big's (2 MB
 * pages where the kernel gives them). */
static void *xalloc_big(size_t n)
{
	void *p = hyrt_alloc_big(n);
	if (!p)
		die("out of memory", NULL);
	return p;
}

static void time_conv_hyrt(long B, long L, long C, long R, int kept)
{
	float *u = xalloc_big(sizeof(float) * (size_t)(B * L * 3 * C));
	float *k = xalloc(sizeof(float) * (size_t)(L * C));
	float *bias = xalloc(sizeof(float) * (size_t)C);
	float *y = xalloc_big(sizeof(float) * (size_t)(B * L * C));
	double *ms = malloc(sizeof(double) * (size_t)R);
	HyrtSpectra slot = {NULL, kept ? hyrt_conv_spectra_bytes(L, C) : 0, 0};

	fill(u, (size_t)(B * L * 3 * C), 5);
	fill(k, (size_t)(L * C), 6);
	fill(bias, (size_t)C, 7);
	for (long r = -1; r < R; r++) {
		double t0 = now_ms();
		/* [post | g | v] rows of 3C, as a Hyena layer's projection */
		hyrt_hyena_conv_fft_const(y, u + 2 * C, 3 * C, u + C, 3 * C, k,
		                          bias, u, 3 * C, B, L, C, &slot);
		if (r >= 0)
			ms[r] = now_ms() - t0;
	}
	double med = median(ms, R);
	printf("kernel=longconv_hyrt%s B=%ld L=%ld C=%ld threads=1 ms=%.3f "
	       "min_ms=%.3f\n", kept ? "" : "_streamed", B, L, C, med, ms[0]);
	free(u);
	fftwf_free(k);
	fftwf_free(bias);
	free(y);
	free(ms);
}
#endif

/* ---- command line ------------------------------------------------------ */

static long num(const char *opt, const char *v, long lo)
{
	char *end;
	long x;
	if (!v)
		die("missing value after ", opt);
	x = strtol(v, &end, 10);
	if (*end || x < lo)
		die("bad value for ", opt);
	return x;
}

int main(int argc, char **argv)
{
	Opts o = {1, 1024, 128, 512, 2, 2, 16, 1, 5, 0, 0};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--estimate")) {
			o.estimate = 1;
			continue;
		}
		if (!strcmp(a, "--conv-only")) {
			o.conv_only = 1;
			continue;
		}
		long *dst = !strcmp(a, "--batch") ? &o.batch
		          : !strcmp(a, "--seq-len") ? &o.len
		          : !strcmp(a, "--d-model") ? &o.dm
		          : !strcmp(a, "--d-inner") ? &o.di
		          : !strcmp(a, "--order") ? &o.order
		          : !strcmp(a, "--n-layer") ? &o.nlayer
		          : !strcmp(a, "--vocab") ? &o.vocab
		          : !strcmp(a, "--threads") ? &o.threads
		          : !strcmp(a, "--reps") ? &o.reps : NULL;
		if (!dst)
			die("unknown option ", a);
		*dst = num(a, v, dst == &o.order ? 2 : 1);
		i++;
	}
	openblas_set_num_threads((int)o.threads);
	long M = o.batch * o.len, D = o.dm;
	printf("limit_config batch=%ld seq_len=%ld d_model=%ld d_inner=%ld "
	       "order=%ld n_layer=%ld threads=%ld reps=%ld openblas=%s\n",
	       o.batch, o.len, D, o.di, o.order, o.nlayer, o.threads, o.reps, openblas_get_corename());
	fflush(stdout);

	double in = 0, out = 0, fc1 = 0, fc2 = 0, head = 0;
	if (!o.conv_only) {
		in = time_sgemm("in_proj", M, D, D * (o.order + 1), o.reps);
		out = time_sgemm("out_proj", M, D, D, o.reps);
		fc1 = time_sgemm("fc1", M, D, o.di, o.reps);
		fc2 = time_sgemm("fc2", M, o.di, D, o.reps);
		head = time_sgemm("head", M, D, o.vocab, o.reps);
		fflush(stdout);
	}
	double conv = time_conv_fftw(o.batch, o.len, D, o.threads, o.reps, o.estimate);
	fflush(stdout);
#ifndef NO_HYRT
	if (o.threads == 1) {
		/* the wisdom `hyenac compile` would embed, imported as the
		 * runtime imports a binary's */
		char *w = hyrt_fft_measure_wisdom(o.len,
		                                  HYRT_FFT_MEASURE_SECONDS);
		if (w)
			fftwf_import_wisdom_from_string(w);
		free(w);
		time_conv_hyrt(o.batch, o.len, D, o.reps, 1);
		time_conv_hyrt(o.batch, o.len, D, o.reps, 0);
	}
#endif
	double gemm = (double)o.nlayer * (in + out + fc1 + fc2) + head;
	double convs = (double)o.nlayer * (double)(o.order - 1) * conv;
	double flops = 2.0 * (double)M *
	               ((double)o.nlayer * (double)D *
	                    ((double)D * (double)(o.order + 2) + 2.0 * (double)o.di) +
	                (double)D * (double)o.vocab);
	printf("limit gemm_ms=%.3f conv_ms=%.3f limit_ms=%.3f "
	       "gemm_gflops=%.1f\n", gemm, convs, gemm + convs,
	       gemm > 0 ? flops / gemm * 1e-6 : 0.0); /* 0: --conv-only */
	return 0;
}
