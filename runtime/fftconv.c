/*
 * fftconv.c - the causal long convolution of HyenaDNA through FFTW
 * (hyrt_longconv_fft), and the same by definition (hyrt_longconv_direct).
 *
 * u and y are [B, L, C] channels-last, k is [L, C]. The channels are taken
 * in blocks of cb: a block's L rows are gathered into cb contiguous,
 * zero-padded rows of N floats (reading whole cache lines of the input,
 * writing cb sequential streams), transformed by one FFTW "many" plan of cb
 * contiguous transforms, multiplied, transformed back and scattered into
 * y. The block's filter spectrum is made once and used for every batch
 * row; the 1/N of the inverse transform is folded into it. N is the
 * smallest 2^a 3^b 5^c 7^d >= 2L, so the circular convolution equals the
 * linear one on the first L outputs, as the reference's zero-padded
 * rfft/irfft of size 2L does.
 *
 * cb is chosen so a block's buffers (about 12 N bytes a channel) stay in
 * L2, but not below 4 so the gather uses a fair part of each cache line:
 * measured on x86-64 (AVX2) against interleaved layouts (FFTW strides of
 * cb, no gather), which ran 10-40% slower at every size tried.
 *
 * Plans are made once per (N, cb) and kept for the life of the process in
 * a list behind a mutex, since FFTW's planner is not thread-safe; the
 * new-array execute functions that use them are. Plans come from
 * FFTW_ESTIMATE, or from FFTW_MEASURE when HYRT_WISDOM names a wisdom file,
 * which is read before the first plan and rewritten after each new one
 * (through outfile.h, as every output).
 * Work buffers are per thread (fftwf_malloc, SIMD aligned), grown as needed
 * and kept: the largest sizes a thread has used stay with it until it
 * exits, when a thread-specific key's destructor frees them (worker
 * threads would otherwise leak them; LeakSanitizer said so).
 *
 * Running out of memory here has no caller to report to (generated code
 * calls this as a kernel), so it prints one line and exits 1.
 */
#include "hyrt.h"
#include "outfile.h"

#include <fftw3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bounds on channels per block, and the L2 budget that picks between. */
enum { CB_MIN = 4, CB_MAX = 16, BLOCK_BYTES = 256 << 10 };

typedef struct Plan {
	int n, howmany;
	fftwf_plan fwd, inv;
	struct Plan *next;
} Plan;

static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;
static Plan *plans; /* never freed: a thread may be running any of them */
static bool wisdom_read;

static _Thread_local float *t_real;
static _Thread_local fftwf_complex *t_kf, *t_uf;
static _Thread_local size_t t_real_cap, t_cplx_cap;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void oom(size_t bytes)
{
	fprintf(stderr, "hyenac runtime: out of memory allocating %zu bytes "
	        "for the FFT convolution\n", bytes);
	exit(1);
}

/* Smallest 7-smooth integer >= n: FFTW has codelets for these radices. */
int64_t hyrt_fft_size(int64_t L)
{
	int64_t n = 2 * L;
	for (int64_t m = n > 1 ? n : 1;; m++) {
		int64_t r = m;
		static const int p[] = {2, 3, 5, 7};
		for (int i = 0; i < 4; i++)
			while (r % p[i] == 0)
				r /= p[i];
		if (r == 1)
			return m;
	}
}

static void *xfftw_malloc(size_t bytes)
{
	void *p = fftwf_malloc(bytes ? bytes : 1);
	if (!p)
		oom(bytes);
	return p;
}

/* Rewrite the wisdom file as every output is written (outfile.h): a
 * temporary beside it renamed into place, so concurrent runs never read
 * a half-written file and nothing but a regular file is replaced. It is
 * a cache: when it cannot be written the run goes on without it. */
static void save_wisdom(const char *wisdom)
{
	HyrtOut o, *op = &o;
	Diag d;

	diag_init(&d);
	if (!hyrt_out_open(&o, wisdom, &d))
		return;
	if (o.std) { /* "-" names no file to keep */
		hyrt_out_abort(&o);
		return;
	}
	fftwf_export_wisdom_to_file(o.f);
	if (ferror(o.f) || !hyrt_out_commit(&op, 1, &d))
		hyrt_out_abort(&o);
}

/* Make the plans for howmany contiguous transforms of size n on scratch
 * arrays (FFTW_MEASURE writes to them); callers execute them on their
 * own fftwf_malloc'd buffers, which have the same alignment. */
static void make_plan(Plan *p, int n, int howmany)
{
	const char *wisdom = getenv("HYRT_WISDOM");
	unsigned flags = wisdom && *wisdom ? FFTW_MEASURE : FFTW_ESTIMATE;
	size_t nc = (size_t)(n / 2 + 1) * (size_t)howmany;
	float *r = xfftw_malloc(sizeof(float) * (size_t)n * (size_t)howmany);
	fftwf_complex *c = xfftw_malloc(sizeof(fftwf_complex) * nc);

	if (wisdom && *wisdom && !wisdom_read) {
		fftwf_import_wisdom_from_filename(wisdom); /* absent is fine */
		wisdom_read = true;
	}
	p->n = n;
	p->howmany = howmany;
	int nf = n / 2 + 1;
	p->fwd = fftwf_plan_many_dft_r2c(1, &n, howmany, r, NULL, 1, n,
	                                 c, NULL, 1, nf, flags);
	p->inv = fftwf_plan_many_dft_c2r(1, &n, howmany, c, NULL, 1, nf,
	                                 r, NULL, 1, n, flags);
	if (!p->fwd || !p->inv) {
		fprintf(stderr, "hyenac runtime: FFTW cannot plan %d transforms "
		        "of size %d\n", howmany, n);
		exit(1);
	}
	if (wisdom && *wisdom)
		save_wisdom(wisdom);
	fftwf_free(r);
	fftwf_free(c);
}

static const Plan *get_plan(int n, int howmany)
{
	Plan *p;

	pthread_mutex_lock(&plan_lock);
	for (p = plans; p; p = p->next)
		if (p->n == n && p->howmany == howmany)
			break;
	if (!p) {
		p = calloc(1, sizeof *p);
		if (!p)
			oom(sizeof *p);
		make_plan(p, n, howmany);
		p->next = plans;
		plans = p;
	}
	pthread_mutex_unlock(&plan_lock);
	return p;
}

/* At thread exit (glibc runs key destructors while the thread's TLS is
 * still there). The main thread's buffers stay reachable to the end. */
static void free_scratch(void *unused)
{
	(void)unused;
	fftwf_free(t_real);
	fftwf_free(t_kf);
	fftwf_free(t_uf);
	t_real = NULL;
	t_kf = t_uf = NULL;
	t_real_cap = t_cplx_cap = 0;
}

static void make_scratch_key(void)
{
	if (pthread_key_create(&scratch_key, free_scratch) != 0)
		oom(0);
}

static void reserve(size_t nreal, size_t ncplx)
{
	if ((nreal > t_real_cap || ncplx > t_cplx_cap) && !t_real_cap &&
	    !t_cplx_cap) {
		/* first buffers of this thread: free them when it exits */
		pthread_once(&scratch_once, make_scratch_key);
		pthread_setspecific(scratch_key, &scratch_key);
	}
	if (nreal > t_real_cap) {
		fftwf_free(t_real);
		t_real = xfftw_malloc(sizeof(float) * nreal);
		t_real_cap = nreal;
	}
	if (ncplx > t_cplx_cap) {
		fftwf_free(t_kf);
		fftwf_free(t_uf);
		t_kf = xfftw_malloc(sizeof(fftwf_complex) * ncplx);
		t_uf = xfftw_malloc(sizeof(fftwf_complex) * ncplx);
		t_cplx_cap = ncplx;
	}
}

/* Channels per block for size N: as many as keep a block's buffers in
 * BLOCK_BYTES, between CB_MIN and CB_MAX, and no more than C. */
static int64_t block_width(int64_t N, int64_t C)
{
	int64_t cb = CB_MIN;
	while (cb < CB_MAX && 2 * cb * 12 * N <= BLOCK_BYTES)
		cb *= 2;
	return cb > C ? C : cb;
}

/* Zero rows 0..cb-1 of x (row stride N) from L on: the FFT's padding. */
static void zero_tail(float *x, int64_t L, int64_t N, int64_t cb)
{
	for (int64_t i = 0; i < cb; i++)
		memset(x + i * N + L, 0, sizeof(float) * (size_t)(N - L));
}

/* x[i*N + t] = v[t*vs + i] (* g[t*gs + i]) for t < L, i < cb, and zero
 * from L to N: row by row of v, so each cache line of the activations is
 * read once however long L is; the branches stay outside the loops. */
static void gather_gated(float *restrict x, const float *restrict v,
                         int64_t vs, const float *restrict g, int64_t gs,
                         int64_t L, int64_t N, int64_t cb)
{
	if (g)
		for (int64_t t = 0; t < L; t++)
			for (int64_t i = 0; i < cb; i++)
				x[i * N + t] = v[t * vs + i] * g[t * gs + i];
	else
		for (int64_t t = 0; t < L; t++)
			for (int64_t i = 0; i < cb; i++)
				x[i * N + t] = v[t * vs + i];
	zero_tail(x, L, N, cb);
}

/* The spectrum of the cb filter rows in x (padded) into kf, with the
 * inverse transform's 1/N folded in. */
static void row_spectrum(const Plan *p, fftwf_complex *kf, float *x,
                         int64_t N, int64_t cb)
{
	float scale = 1.0f / (float)N;
	int64_t nc = (N / 2 + 1) * cb;

	fftwf_execute_dft_r2c(p->fwd, x, kf);
	for (int64_t i = 0; i < nc; i++) {
		kf[i][0] *= scale;
		kf[i][1] *= scale;
	}
}

/* The spectrum of filter channels [c0, c0+cb) of k [L, C] into kf; x is
 * the real work buffer. */
static void filter_spectrum(const Plan *p, fftwf_complex *kf, float *x,
                            const float *k, int64_t L, int64_t N, int64_t C,
                            int64_t c0, int64_t cb)
{
	gather_gated(x, k + c0, C, NULL, 0, L, N, cb);
	row_spectrum(p, kf, x, N, cb);
}

void hyrt_longconv_direct(float *y, const float *u, const float *k,
                          int64_t B, int64_t L, int64_t C)
{
	double *acc = malloc(sizeof(double) * (size_t)(C > 0 ? C : 1));
	if (!acc)
		oom(sizeof(double) * (size_t)C);
	for (int64_t b = 0; b < B; b++) {
		const float *ub = u + b * L * C;
		for (int64_t t = 0; t < L; t++) {
			for (int64_t c = 0; c < C; c++)
				acc[c] = 0;
			for (int64_t s = 0; s <= t; s++) {
				const float *kr = k + (t - s) * C, *ur = ub + s * C;
				for (int64_t c = 0; c < C; c++)
					acc[c] += (double)kr[c] * ur[c];
			}
			for (int64_t c = 0; c < C; c++)
				y[(b * L + t) * C + c] = (float)acc[c];
		}
	}
	free(acc);
}

/* hyrt_hyena_conv_fft: the block structure of hyrt_longconv_fft, with the
 * gate v * g made while gathering and the skip term and output gate
 * applied while scattering, so neither u nor the plain convolution is
 * ever stored. Each step rounds to float as the unfused ops do. */
/* ---- spectra of constant filters -------------------------------------
 *
 * A folded filter is a weight: the same k for every call at a given L, so
 * its spectrum (all channel blocks, block after block: block c0 starts at
 * nf * c0) is made once per process and kept. Entries are never freed;
 * past SPECTRA_BYTES in all, further filters are transformed per call.
 * An entry is found by k's address, L and C and a signature of k's
 * values (spread samples), so a process that frees one weight blob and
 * gets another at the same address (a JIT compiling several models)
 * never reuses a stale spectrum. */

enum { MAX_SPECTRA = 256 };
#define SPECTRA_BYTES ((size_t)1 << 30)

typedef struct Spectrum {
	const float *k;
	int64_t L, C;
	uint64_t sig;
	fftwf_complex *kf;
} Spectrum;

/* FNV-1a over the bits of up to 1024 values spread over k[0, n), and
 * the last one. */
static uint64_t filter_sig(const float *k, int64_t n)
{
	uint64_t h = 1469598103934665603u;
	int64_t step = n > 1024 ? n / 1024 : 1;
	for (int64_t i = 0; i < n; i += step) {
		uint32_t b;
		memcpy(&b, &k[i], sizeof b);
		h = (h ^ b) * 1099511628211u;
	}
	if (n > 0) {
		uint32_t b;
		memcpy(&b, &k[n - 1], sizeof b);
		h = (h ^ b) * 1099511628211u;
	}
	return h;
}

static Spectrum spectra[MAX_SPECTRA];
static int nspectra;
static size_t spectra_bytes;
static pthread_mutex_t spectra_lock = PTHREAD_MUTEX_INITIALIZER;

static const fftwf_complex *find_spectrum(const float *k, int64_t L,
                                          int64_t C, uint64_t sig)
{
	const fftwf_complex *kf = NULL;
	pthread_mutex_lock(&spectra_lock);
	for (int i = 0; i < nspectra && !kf; i++)
		if (spectra[i].k == k && spectra[i].L == L && spectra[i].C == C &&
		    spectra[i].sig == sig)
			kf = spectra[i].kf;
	pthread_mutex_unlock(&spectra_lock);
	return kf;
}

/* The cached spectrum of constant filter k at length L, made now if
 * there is none and room for one; NULL means "transform per call". */
static const fftwf_complex *const_spectrum(const float *k, int64_t L,
                                           int64_t C, int64_t N,
                                           int64_t cbmax, float *x)
{
	uint64_t sig = filter_sig(k, L * C);
	const fftwf_complex *hit = find_spectrum(k, L, C, sig);
	size_t bytes = sizeof(fftwf_complex) * (size_t)(N / 2 + 1) * (size_t)C;
	if (hit)
		return hit;
	pthread_mutex_lock(&spectra_lock);
	bool room = nspectra < MAX_SPECTRA && spectra_bytes + bytes <= SPECTRA_BYTES;
	pthread_mutex_unlock(&spectra_lock);
	if (!room)
		return NULL;
	fftwf_complex *kf = xfftw_malloc(bytes);
	for (int64_t c0 = 0; c0 < C; c0 += cbmax) {
		int64_t cb = C - c0 < cbmax ? C - c0 : cbmax;
		filter_spectrum(get_plan((int)N, (int)cb), kf + (N / 2 + 1) * c0, x,
		                k, L, N, C, c0, cb);
	}
	pthread_mutex_lock(&spectra_lock);
	for (int i = 0; i < nspectra; i++)
		if (spectra[i].k == k && spectra[i].L == L && spectra[i].C == C &&
		    spectra[i].sig == sig) {
			/* another thread made it meanwhile: keep theirs */
			pthread_mutex_unlock(&spectra_lock);
			fftwf_free(kf);
			return spectra[i].kf;
		}
	if (nspectra < MAX_SPECTRA) {
		spectra[nspectra++] = (Spectrum){k, L, C, sig, kf};
		spectra_bytes += bytes;
	}
	pthread_mutex_unlock(&spectra_lock);
	return kf; /* if the table filled meanwhile, it lives on unlisted */
}

/* One long convolution's arguments, for the pool's workers: each takes
 * channel blocks [lo, hi) and convolves every batch row of each. */
typedef struct ConvJob {
	float *y;
	const float *v, *g, *k, *bias, *post;
	int64_t vs, gs, ps, B, L, C, N, cbmax;
	HyrtFilterGen gen;
	void *gen_ctx;
	const fftwf_complex *cached; /* spectra of a constant k, or NULL */
} ConvJob;

/* The spectrum of a generated filter's channels [c0, c0+cb) into kf:
 * the generator writes the first L floats of each row of x. */
static void gen_spectrum(const ConvJob *j, const Plan *p, fftwf_complex *kf,
                         float *x, int64_t c0, int64_t cb)
{
	j->gen(j->gen_ctx, c0, cb, j->L, x, j->N);
	zero_tail(x, j->L, j->N, cb);
	row_spectrum(p, kf, x, j->N, cb);
}

/* y[t*C + i] = (x[i*N + t] + u * bias[i]) (* post[t*ps + i]), with u the
 * gated input as gather_gated made it: the skip term and the output
 * gate, in the unfused ops' order of float operations. */
static void scatter_gated(float *restrict y, int64_t C,
                          const float *restrict x, int64_t N, int64_t L,
                          int64_t cb, const float *restrict v, int64_t vs,
                          const float *restrict g, int64_t gs,
                          const float *restrict bias,
                          const float *restrict post, int64_t ps)
{
	for (int64_t t = 0; t < L; t++) {
		const float *vt = v + t * vs, *gt = g ? g + t * gs : NULL;
		float *yt = y + t * C;
		if (bias && gt)
			for (int64_t i = 0; i < cb; i++)
				yt[i] = x[i * N + t] + vt[i] * gt[i] * bias[i];
		else if (bias)
			for (int64_t i = 0; i < cb; i++)
				yt[i] = x[i * N + t] + vt[i] * bias[i];
		else
			for (int64_t i = 0; i < cb; i++)
				yt[i] = x[i * N + t];
		if (post)
			for (int64_t i = 0; i < cb; i++)
				yt[i] *= post[t * ps + i];
	}
}

static void conv_blocks(void *arg, int64_t lo, int64_t hi)
{
	const ConvJob *j = arg;
	int64_t N = j->N, nf = N / 2 + 1, L = j->L, C = j->C;
	const float *g = j->g, *post = j->post;

	reserve((size_t)(N * j->cbmax), (size_t)(nf * j->cbmax));
	float *x = t_real;
	fftwf_complex *uf = t_uf;
	for (int64_t blk = lo; blk < hi; blk++) {
		int64_t c0 = blk * j->cbmax;
		int64_t cb = C - c0 < j->cbmax ? C - c0 : j->cbmax;
		const Plan *p = get_plan((int)N, (int)cb);
		int64_t nc = nf * cb;
		fftwf_complex *kf = t_kf;

		if (j->cached)
			kf = (fftwf_complex *)(j->cached + nf * c0);
		else if (j->gen)
			gen_spectrum(j, p, kf, x, c0, cb);
		else
			filter_spectrum(p, kf, x, j->k, L, N, C, c0, cb);
		for (int64_t b = 0; b < j->B; b++) {
			const float *vb = j->v + b * L * j->vs + c0;
			const float *gb = g ? g + b * L * j->gs + c0 : NULL;
			const float *pb = post ? post + b * L * j->ps + c0 : NULL;
			float *yb = j->y + b * L * C + c0;

			gather_gated(x, vb, j->vs, gb, j->gs, L, N, cb);
			fftwf_execute_dft_r2c(p->fwd, x, uf);
			for (int64_t i = 0; i < nc; i++) {
				float ar = uf[i][0], ai = uf[i][1];
				float br = kf[i][0], bi = kf[i][1];
				uf[i][0] = ar * br - ai * bi;
				uf[i][1] = ar * bi + ai * br;
			}
			fftwf_execute_dft_c2r(p->inv, uf, x);
			scatter_gated(yb, C, x, N, L, cb, vb, j->vs, gb, j->gs,
			              j->bias ? j->bias + c0 : NULL, pb, j->ps);
		}
	}
}

/* Every long convolution: the channel blocks of j over the pool. */
static void conv_run(ConvJob *j, bool k_const)
{
	if (j->B <= 0 || j->L <= 0 || j->C <= 0)
		return;
	j->N = hyrt_fft_size(j->L);
	j->cbmax = block_width(j->N, j->C);
	if (k_const) {
		reserve((size_t)(j->N * j->cbmax),
		        (size_t)((j->N / 2 + 1) * j->cbmax));
		j->cached = const_spectrum(j->k, j->L, j->C, j->N, j->cbmax, t_real);
	}
	hyrt_parallel_for(conv_blocks, j, (j->C + j->cbmax - 1) / j->cbmax, 1);
}

int64_t hyrt_conv_work_bytes(int64_t L, int64_t C)
{
	if (L <= 0 || C <= 0)
		return 0;
	int64_t N = hyrt_fft_size(L), cb = block_width(N, C);
	return (int64_t)sizeof(float) * N * cb +
	       2 * (int64_t)sizeof(fftwf_complex) * (N / 2 + 1) * cb;
}

void hyrt_longconv_fft(float *y, const float *u, const float *k, int64_t B,
                       int64_t L, int64_t C)
{
	ConvJob j = {.y = y, .v = u, .k = k, .vs = C, .B = B, .L = L, .C = C};
	conv_run(&j, false);
}

void hyrt_hyena_conv_fft(float *y, const float *v, int64_t vs,
                         const float *g, int64_t gs, const float *k,
                         const float *bias, const float *post, int64_t ps,
                         int64_t B, int64_t L, int64_t C)
{
	ConvJob j = {y, v, g, k, bias, post, vs, gs, ps, B, L, C, 0, 0,
	             NULL, NULL, NULL};
	conv_run(&j, false);
}

void hyrt_hyena_conv_fft_const(float *y, const float *v, int64_t vs,
                               const float *g, int64_t gs, const float *k,
                               const float *bias, const float *post,
                               int64_t ps, int64_t B, int64_t L, int64_t C)
{
	ConvJob j = {y, v, g, k, bias, post, vs, gs, ps, B, L, C, 0, 0,
	             NULL, NULL, NULL};
	conv_run(&j, true);
}

void hyrt_hyena_conv_fft_gen(float *y, const float *v, int64_t vs,
                             const float *g, int64_t gs, HyrtFilterGen gen,
                             void *gen_ctx, const float *bias,
                             const float *post, int64_t ps, int64_t B,
                             int64_t L, int64_t C)
{
	ConvJob j = {y, v, g, NULL, bias, post, vs, gs, ps, B, L, C, 0, 0,
	             gen, gen_ctx, NULL};
	conv_run(&j, false);
}

/* ---- a prefill's part of later outputs (hyrt_conv_carry) -------------
 *
 * The same blocks of channels, the filter's M rows transformed per call
 * (a prefill runs once; the spectra above are kept for the forward's
 * own sizes) and each batch row's P inputs zero-padded to N >= M: for
 * t in [P, M) and j < P, 0 < t-j < M <= N, so no term wraps around and
 * the circular convolution is the linear one there. */
typedef struct CarryJob {
	float *out;
	const float *v, *g, *k;
	int64_t vs, gs, B, P, R, C, N, cbmax;
} CarryJob;

static void carry_blocks(void *arg, int64_t lo, int64_t hi)
{
	const CarryJob *j = arg;
	int64_t N = j->N, nf = N / 2 + 1, P = j->P, R = j->R, M = R - 1;
	int64_t C = j->C;

	reserve((size_t)(N * j->cbmax), (size_t)(nf * j->cbmax));
	float *x = t_real;
	fftwf_complex *uf = t_uf, *kf = t_kf;
	for (int64_t blk = lo; blk < hi; blk++) {
		int64_t c0 = blk * j->cbmax;
		int64_t cb = C - c0 < j->cbmax ? C - c0 : j->cbmax;
		const Plan *p = get_plan((int)N, (int)cb);
		int64_t nc = nf * cb;

		filter_spectrum(p, kf, x, j->k, M, N, C, c0, cb);
		for (int64_t b = 0; b < j->B; b++) {
			const float *vb = j->v + b * P * j->vs + c0;
			const float *gb = j->g ? j->g + b * P * j->gs + c0 : NULL;
			float *ob = j->out + b * R * C + c0;

			gather_gated(x, vb, j->vs, gb, j->gs, P, N, cb);
			fftwf_execute_dft_r2c(p->fwd, x, uf);
			for (int64_t i = 0; i < nc; i++) {
				float ar = uf[i][0], ai = uf[i][1];
				float br = kf[i][0], bi = kf[i][1];
				uf[i][0] = ar * br - ai * bi;
				uf[i][1] = ar * bi + ai * br;
			}
			fftwf_execute_dft_c2r(p->inv, uf, x);
			for (int64_t t = P; t < M; t++) {
				float *o = ob + (M - 1 - t) * C;
				for (int64_t i = 0; i < cb; i++)
					o[i] = x[i * N + t];
			}
		}
	}
}

void hyrt_conv_carry(float *out, const float *v, int64_t vs, const float *g,
                     int64_t gs, const float *k, int64_t B, int64_t P,
                     int64_t R, int64_t C)
{
	int64_t M = R - 1; /* rows [from, M) are positions < P: zero */
	int64_t from = P > 0 && P < M ? M - P : 0;

	if (B <= 0 || C <= 0 || M < 1)
		return;
	for (int64_t b = 0; b < B; b++) {
		float *ob = out + b * R * C;
		memset(ob + from * C, 0, sizeof(float) * (size_t)((R - from) * C));
		ob[M * C] = (float)P;
	}
	if (P <= 0 || P >= M)
		return;
	CarryJob j = {out, v, g, k, vs, gs, B, P, R, C, 0, 0};
	j.N = hyrt_fft_size((M + 1) / 2); /* >= M */
	j.cbmax = block_width(j.N, C);
	hyrt_parallel_for(carry_blocks, &j, (C + j.cbmax - 1) / j.cbmax, 1);
}
