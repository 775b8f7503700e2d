/*
 * test_runtime.c - the runtime that model binaries link with: the FFT
 * long convolution against the direct sum (double accumulation) over
 * lengths that hit every FFT radix and channel counts that leave partial
 * channel blocks; plan reuse and concurrent callers; the thread pool
 * (every index once, nested and concurrent calls) and the convolutions
 * over it (the same bits at any thread count, generated filters, no
 * gate); the weight blob's
 * append/open round trip and every way a trailer can be wrong; and
 * rt_main.c end to end, linked with a small hand-written stand-in for a
 * generated module, for each command and each way its input can be wrong.
 */
#include "runtime/cpucheck.h"
#include "runtime/hyrt.h"
#include "runtime/npy.h"
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- FFT convolution ---------------------------------------------------- */

static uint64_t rng = 88172645463325252u;

static float frand(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

static float *rand_array(size_t n)
{
	float *p = malloc(sizeof(float) * (n ? n : 1));
	ck_assert(p);
	for (size_t i = 0; i < n; i++)
		p[i] = frand();
	return p;
}

/* max |y - ref|, and max |ref| in *m; NaN when y has one (fmax would
 * pass over it, and the callers fill y with NaN to see that every
 * output is written). */
static double max_err(const float *y, const float *ref, size_t n, double *m)
{
	double e = 0;
	*m = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)y[i] - ref[i]);
		if (isnan(d))
			return d;
		e = fmax(e, d);
		*m = fmax(*m, fabs((double)ref[i]));
	}
	return e;
}

/* max |y - ref| / max |ref|, ggml's normalised error in max norm. */
static double norm_err(const float *y, const float *ref, size_t n)
{
	double m, e = max_err(y, ref, n, &m);
	return m > 0 ? e / m : e;
}

static double check_conv(int64_t B, int64_t L, int64_t C)
{
	size_t n = (size_t)(B * L * C);
	float *u = rand_array(n), *k = rand_array((size_t)(L * C));
	float *y = malloc(sizeof(float) * n), *ref = malloc(sizeof(float) * n);

	/* A decaying filter, like HyenaDNA's, and a flat one in channel 0. */
	for (int64_t t = 0; t < L; t++)
		for (int64_t c = 1; c < C; c++)
			k[t * C + c] *= (float)exp(-0.01 * (double)(t * c % 97));
	hyrt_longconv_direct(ref, u, k, B, L, C);
	memset(y, 0xff, sizeof(float) * n); /* NaN: every output written */
	hyrt_longconv_fft(y, u, k, B, L, C);
	double e = norm_err(y, ref, n);
	free(u);
	free(k);
	free(y);
	free(ref);
	return e;
}

START_TEST(direct_small)
{
	/* B=1, L=3, C=2 by hand: y[t] = sum_s k[t-s] u[s]. */
	float u[] = {1, 10, 2, 20, 3, 30};
	float k[] = {1, 0, 0.5f, 1, 0.25f, 0};
	float y[6];
	hyrt_longconv_direct(y, u, k, 1, 3, 2);
	float want[] = {1, 0, 2 + 0.5f, 10, 3 + 1 + 0.25f, 20};
	for (int i = 0; i < 6; i++)
		ck_assert_float_eq_tol(y[i], want[i], 1e-6);
	hyrt_longconv_fft(y, u, k, 1, 3, 2);
	for (int i = 0; i < 6; i++)
		ck_assert_float_eq_tol(y[i], want[i], 1e-5);
}
END_TEST

/* Whether n has no prime factor but 2, 3, 5 and 7. */
static bool smooth7(int64_t n)
{
	for (int64_t p = 2; p <= 7; p++)
		while (n % p == 0)
			n /= p;
	return n == 1;
}

/* hyrt_fft_size: >= 2L, 7-smooth, a multiple of 32 from 1024 points (of
 * 2 below), and the least such; the catalogue's lengths keep the sizes
 * they had, and the lengths whose least 7-smooth size is odd or slow get
 * a fast one (1,600,000 = 2^9 5^5, not 3^13 = 1,594,323). */
START_TEST(fft_size_rule)
{
	for (int64_t L = 1; L <= 70000; L++) {
		int64_t N = hyrt_fft_size(L), q = 2 * L >= 1024 ? 32 : 2;
		ck_assert_msg(N >= 2 * L && N % q == 0 && smooth7(N),
		              "L=%lld: N=%lld", (long long)L, (long long)N);
		for (int64_t m = N - q; m >= 2 * L; m -= q)
			ck_assert_msg(!smooth7(m), "L=%lld: N=%lld, %lld is smaller",
			              (long long)L, (long long)N, (long long)m);
	}
	static const int64_t want[][2] = {
	    {1, 2},          {13, 28},          {1024, 2048},
	    {32768, 65536},  {160000, 320000},  {796204, 1600000},
	    {1000000, 2000000}};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_int_eq(hyrt_fft_size(want[i][0]), want[i][1]);
}
END_TEST

/* The smaps field `key` of the mapping of this process that holds p;
 * -1 when there is no such mapping or field. */
static long smaps_field(const void *p, const char *key)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false;
	long v = -1;
	size_t kl = strlen(key);

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (inside && !strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

START_TEST(big_alloc_pages)
{
	size_t big = ((size_t)5 << 20) + 123;
	char *small = hyrt_alloc_big(100), *p = hyrt_alloc_big(big);
	ck_assert(small && p);
	ck_assert_uint_eq((uintptr_t)small % 64, 0);
	ck_assert_uint_eq((uintptr_t)p % ((size_t)2 << 20), 0);
	memset(small, 1, 100);
	memset(p, 1, big);
	ck_assert(p[big - 1] == 1);

	if (!hyrt_big_pages()) {
		printf("big_alloc_pages: transparent huge pages are off on this "
		       "kernel (or it has no sysfs file): page size not checked\n");
	} else {
		long el = smaps_field(p, "THPeligible");
		ck_assert_msg(el == 1, "a %zu-byte buffer is not eligible for "
		              "huge pages (THPeligible %ld)", big, el);
	}
	free(small);
	free(p);
}
END_TEST

/* Every form of the spectrum product this CPU runs against the product
 * in double, at lengths around each vector width (tails included). */
START_TEST(spec_mul_forms)
{
	static const char *names[] = {"scalar", "avx2", "avx512"};
	float row[2 * 70], kf[2 * 70], got[2 * 70];
	uint64_t s = 12345;
	int ran = 0;

	for (int i = 0; i < 2 * 70; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		row[i] = (float)((int)(s % 2001) - 1000) / 250.0f;
		kf[i] = (float)((int)((s >> 20) % 2001) - 1000) / 300.0f;
	}
	for (int form = 0; form < HYRT_SPECMUL_FORMS; form++) {
		if (!hyrt_spec_mul_form_ok(form)) {
			printf("spec_mul_forms: skipped %s: this CPU lacks it\n",
			       names[form]);
			continue;
		}
		ran++;
		for (int64_t nf = 0; nf <= 70; nf++) {
			for (int i = 0; i < 2 * 70; i++)
				got[i] = row[i];
			hyrt_spec_mul_form(form, got, kf, nf);
			for (int64_t f = 0; f < 70; f++) {
				double ar = row[2 * f], ai = row[2 * f + 1];
				double br = kf[2 * f], bi = kf[2 * f + 1];
				double re = f < nf ? ar * br - ai * bi : ar;
				double im = f < nf ? ar * bi + ai * br : ai;
				double tol = 1e-6 * (fabs(ar * br) + fabs(ai * bi) +
				                     fabs(ar * bi) + fabs(ai * br)) + 1e-30;
				ck_assert_msg(fabs(got[2 * f] - re) <= tol &&
				              fabs(got[2 * f + 1] - im) <= tol,
				              "%s, nf=%lld, f=%lld: (%g, %g), want (%g, %g)",
				              names[form], (long long)nf, (long long)f,
				              got[2 * f], got[2 * f + 1], re, im);
			}
		}
	}
	ck_assert(hyrt_spec_mul_form_ok(HYRT_SPECMUL_SCALAR) && ran >= 1);
	ck_assert(!hyrt_spec_mul_form_ok(HYRT_SPECMUL_FORMS) &&
	          !hyrt_spec_mul_form_ok(-1));
}
END_TEST

START_TEST(fft_matches_direct)
{
	static const int64_t Ls[] = {1, 2, 3, 17, 64, 333, 1024, 4097};
	static const int64_t Cs[] = {1, 5, 128};
	for (int li = 0; li < 8; li++)
		for (int ci = 0; ci < 3; ci++)
			for (int64_t B = 1; B <= 2; B++) {
				int64_t L = Ls[li], C = Cs[ci];
				double e = check_conv(B, L, C);
				ck_assert_msg(e < 1e-5, "B=%lld L=%lld C=%lld: "
				              "normalised error %g", (long long)B,
				              (long long)L, (long long)C, e);
			}
}
END_TEST

START_TEST(fft_odd_channels)
{
	/* channel blocks of 16 with a remainder of 1, 15, and 17 = 16 + 1 */
	static const int64_t Cs[] = {15, 17, 33, 256};
	for (int i = 0; i < 4; i++) {
		double e = check_conv(3, 100, Cs[i]);
		ck_assert_msg(e < 1e-5, "C=%lld: %g", (long long)Cs[i], e);
	}
}
END_TEST

/* A gated convolution's operands: z [B, L, 3C] as a Hyena layer's
 * projection lays them out ([post | g | v]), the filter k [L, C] and its
 * bias, random; y and ref [B, L, C] for the result and the reference. */
typedef struct Gated {
	int64_t B, L, C, W;
	size_t n;
	float *z, *k, *bias, *y, *ref;
} Gated;

static Gated gated_new(int64_t B, int64_t L, int64_t C)
{
	Gated q = {B, L, C, 3 * C, (size_t)(B * L * C), NULL, NULL, NULL, NULL,
	           NULL};
	q.z = rand_array((size_t)(B * L * q.W));
	q.k = rand_array((size_t)(L * C));
	q.bias = rand_array((size_t)C);
	q.y = malloc(sizeof(float) * q.n);
	q.ref = malloc(sizeof(float) * q.n);
	ck_assert(q.y && q.ref);
	return q;
}

static void gated_free(Gated *q)
{
	free(q->z), free(q->k), free(q->bias), free(q->y), free(q->ref);
}

/* q->ref = (conv(x, k) + x bias) (* post), x = v (* g), by definition in
 * double. */
static void gated_direct(Gated *q, bool gate_in, bool gate_out)
{
	int64_t L = q->L, C = q->C, W = q->W;
	for (int64_t b = 0; b < q->B; b++)
		for (int64_t t = 0; t < L; t++)
			for (int64_t c = 0; c < C; c++) {
				const float *zb = q->z + b * L * W;
				double acc = 0, x;
				for (int64_t s = 0; s <= t; s++) {
					x = zb[s * W + 2 * C + c];
					if (gate_in)
						x *= zb[s * W + C + c];
					acc += (double)q->k[(t - s) * C + c] * x;
				}
				x = zb[t * W + 2 * C + c];
				if (gate_in)
					x *= zb[t * W + C + c];
				acc += x * q->bias[c];
				if (gate_out)
					acc *= zb[t * W + c];
				q->ref[(b * L + t) * C + c] = (float)acc;
			}
}

/* The gated entry against the same formula by definition, summed in
 * double: y = (conv(v g, k) + v g bias) post, v, g and post read from
 * one [B, L, 3C] tensor as a Hyena layer's projection lays them out, at
 * sizes that leave partial channel blocks and partial tiles of positions
 * in the gather and the scatter (C and L below, at and past one block
 * of 16, and not multiples of 4), with and without the output gate; and
 * blocks whose whole tiles go by vectors of 16, 8 and 4 channels (C = 8,
 * 24 = 16 + 8, 36 = 16 + 16 + 4), with each tile width this CPU has and
 * with none (hyrt_conv_tile_width). */
START_TEST(gated_fft_matches_direct)
{
	static const int64_t Ls[] = {1, 3, 6, 17, 130};
	static const int64_t Cs[] = {1, 3, 6, 8, 21, 24, 36};
	static const int widths[] = {16, 8, 4, 0};
	int ran = 0;
	for (int wi = 0; wi < 4; wi++) {
		int w = hyrt_conv_tile_width(widths[wi]);
		if (w != widths[wi])
			continue; /* not on this CPU (x86-64 has 4 at least) */
		ran++;
		for (int li = 0; li < 5; li++)
			for (int ci = 0; ci < 7; ci++)
				for (int gated = 0; gated < 2; gated++) {
					Gated q = gated_new(2, Ls[li], Cs[ci]);
					int64_t C = q.C, W = q.W;
					const float *post = gated ? q.z : NULL;
					double e, m;

					gated_direct(&q, true, post);
					/* NaN until written */
					memset(q.y, 0xff, sizeof(float) * q.n);
					hyrt_hyena_conv_fft(q.y, q.z + 2 * C, W, q.z + C, W,
					                    q.k, q.bias, post, W, q.B, q.L,
					                    C);
					e = max_err(q.y, q.ref, q.n, &m);
					ck_assert_msg(e <= 1e-5 * (m > 1 ? m : 1),
					              "tiles %d L=%lld C=%lld gated=%d: "
					              "max error %g", w, (long long)q.L,
					              (long long)C, gated, e);
					gated_free(&q);
				}
	}
	hyrt_conv_tile_width(-1);
#if defined(__x86_64__)
	ck_assert_int_ge(ran, 2); /* SSE's squares and none, at least */
#else
	ck_assert_int_ge(ran, 1);
#endif
}
END_TEST

START_TEST(fft_plan_reuse)
{
	int64_t B = 2, L = 333, C = 40;
	size_t n = (size_t)(B * L * C);
	float *u = rand_array(n), *k = rand_array((size_t)(L * C));
	float *y1 = malloc(sizeof(float) * n), *y2 = malloc(sizeof(float) * n);
	float *z = rand_array(64 * 7);
	float *zy = malloc(sizeof(float) * 64 * 7);

	hyrt_longconv_fft(y1, u, k, B, L, C);
	hyrt_longconv_fft(zy, z, z, 1, 64, 7); /* another size between */
	hyrt_longconv_fft(y2, u, k, B, L, C);
	ck_assert(memcmp(y1, y2, sizeof(float) * n) == 0);
	/* the first row of a batch is the same alone and in a batch */
	hyrt_longconv_fft(y2, u, k, 1, L, C);
	ck_assert(memcmp(y1, y2, sizeof(float) * (size_t)(L * C)) == 0);
	free(u);
	free(k);
	free(y1);
	free(y2);
	free(z);
	free(zy);
}
END_TEST

typedef struct Job {
	int64_t L, C;
	float *u, *k, *y, *want;
} Job;

static void *run_job(void *arg)
{
	Job *j = arg;
	for (int r = 0; r < 20; r++)
		hyrt_longconv_fft(j->y, j->u, j->k, 1, j->L, j->C);
	return NULL;
}

START_TEST(fft_threads)
{
	/* Fresh sizes in every thread at once: plans are made concurrently
	 * and each thread keeps its own buffers. */
	enum { NT = 6 };
	Job jobs[NT];
	pthread_t th[NT];
	for (int i = 0; i < NT; i++) {
		Job *j = &jobs[i];
		j->L = 500 + 37 * i;
		j->C = 3 + 9 * i;
		size_t n = (size_t)(j->L * j->C);
		j->u = rand_array(n);
		j->k = rand_array(n);
		j->y = malloc(sizeof(float) * n);
		j->want = malloc(sizeof(float) * n);
		hyrt_longconv_direct(j->want, j->u, j->k, 1, j->L, j->C);
	}
	for (int i = 0; i < NT; i++)
		ck_assert(pthread_create(&th[i], NULL, run_job, &jobs[i]) == 0);
	for (int i = 0; i < NT; i++) {
		Job *j = &jobs[i];
		ck_assert(pthread_join(th[i], NULL) == 0);
		double e = norm_err(j->y, j->want, (size_t)(j->L * j->C));
		ck_assert_msg(e < 1e-5, "thread %d: %g", i, e);
		free(j->u);
		free(j->k);
		free(j->y);
		free(j->want);
	}
}
END_TEST

/* ---- the weight blob ---------------------------------------------------- */

static off_t file_size(const char *p)
{
	struct stat st;
	ck_assert(stat(p, &st) == 0);
	return st.st_size;
}

/* A fake program of n bytes with a blob of nb bytes appended. */
static const char *with_blob(const char *name, size_t n, size_t nb,
                             unsigned char **blob_out)
{
	unsigned char *prog = malloc(n + 1), *blob = malloc(nb + 1);
	Diag d;
	for (size_t i = 0; i < n; i++)
		prog[i] = (unsigned char)(i * 7);
	for (size_t i = 0; i < nb; i++)
		blob[i] = (unsigned char)(i * 13 + 1);
	const char *p = tu_write(name, prog, n);
	diag_init(&d);
	ck_assert_msg(hyrt_append_blob(p, blob, nb, &d), "%s", d.msg);
	free(prog);
	if (blob_out)
		*blob_out = blob;
	else
		free(blob);
	return p;
}

/* The constant-filter entry keeps the spectrum it made for (k, L) in its
 * slot and gives the same bits as the per-call one, on the first call and
 * from the slot; another L gets its own spectrum while the slot's budget
 * has room, and is made per call (same bits) when it has none; a budget
 * of 0 keeps nothing. */
START_TEST(const_filter_spectrum_cache)
{
	enum { B = 2, LMAX = 300, C = 20, W = 3 * C };
	float *z = rand_array((size_t)(B * LMAX * W));
	float *k = rand_array((size_t)(LMAX * C)), *bias = rand_array(C);
	float *y0 = malloc(sizeof(float) * B * LMAX * C);
	float *y1 = malloc(sizeof(float) * B * LMAX * C);
	int64_t full = hyrt_conv_spectra_bytes(LMAX, C);
	HyrtSpectra roomy = {NULL, 2 * full, 0}, tight = {NULL, full, 0};
	HyrtSpectra none = {NULL, 0, 0};
	HyrtSpectra *slots[] = {&roomy, &tight, &none};
	static const int64_t lens[] = {300, 77, 300, 77, 1};
	for (size_t si = 0; si < 3; si++)
		for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
			int64_t L = lens[i];
			size_t n = (size_t)(B * L * C);
			hyrt_hyena_conv_fft(y0, z + 2 * C, W, z + C, W, k, bias, z, W,
			                    B, L, C);
			memset(y1, 0xff, sizeof(float) * n);
			hyrt_hyena_conv_fft_const(y1, z + 2 * C, W, z + C, W, k, bias,
			                          z, W, B, L, C, slots[si]);
			ck_assert_msg(memcmp(y0, y1, sizeof(float) * n) == 0,
			              "slot %zu L=%lld: kept spectrum differs", si,
			              (long long)L);
			ck_assert(slots[si]->used <= slots[si]->budget);
		}
	ck_assert_int_eq(roomy.used, full + hyrt_conv_spectra_bytes(77, C) +
	                                 hyrt_conv_spectra_bytes(1, C));
	ck_assert_int_eq(tight.used, full);
	ck_assert_int_eq(none.used, 0);
	ck_assert(none.head == NULL);
	free(z), free(k), free(bias), free(y0), free(y1);
}
END_TEST


/* The kept convolution with 16 channels in the lanes of AVX-512 vectors
 * (lanefft.c) against the formula in double and against FFTW's
 * per-channel transforms (the streamed entry). The radix-2 form: FFT
 * sizes 64 (L = 32), 1024, 2048 (L = 1023, odd, and 1024), 8192 (L =
 * 4095) and 16384 (L = 8191). The four-step form: 200 (L = 100; 100 =
 * 10 x 10 complex points, radices 2 and 5), 2016 (L = 1000; 36 x 28,
 * with 3s, and a row pair k2 = 14 that is its own partner), 6048 (L =
 * 3001, odd; 56 x 54, 3s and 7) and 250 (L = 125; 125 = 25 x 5, all
 * radix 5, odd rows and columns), 84 (L = 42; 7 x 6: an odd number of
 * rows whose pair k2 = 3 is its own partner) and 8000 (L = 4000, the
 * form's largest size; 80 x 50). One and three blocks of channels,
 * with and without the gates, on the call that makes the spectra and on
 * the one that reads them. Past 8192 points, where the four-step form
 * needs 2 MB pages (and FFTW's path runs without them): 131072 (L =
 * 65536, a power of two past the radix-2 form: 256 x 256; against FFTW's
 * alone, the formula being too slow there, as at 65536, L = 32768,
 * small-32k's) and 10080 (L = 5000; 72 x 70). C = 24 stays with FFTW, as
 * hyrt_conv_lanes says. */
START_TEST(lane_fft_matches_direct)
{
	static const struct {
		int64_t B, L, C;
		int lanes, direct;
	} cs[] = {{2, 32, 48, 1, 1},     {2, 512, 16, 1, 1},
	          {2, 1023, 32, 1, 1},   {2, 1024, 48, 1, 1},
	          {2, 4095, 16, 1, 1},   {1, 8191, 16, 1, 1},
	          {1, 32768, 16, 1, 0},  {2, 100, 32, 1, 1},
	          {2, 1000, 16, 1, 1},   {1, 3001, 16, 1, 1},
	          {2, 125, 32, 1, 1},    {2, 42, 16, 1, 1},
	          {1, 4000, 16, 1, 1},   {1, 65536, 16, 2, 0},
	          {1, 5000, 16, 2, 1},   {2, 1024, 24, 0, 1}};
	int avx512 = hyrt_cpu_has("avx512f");

	if (!avx512)
		printf("lane_fft_matches_direct: this CPU has no AVX-512: every "
		       "case takes FFTW and the lanes go untested here\n");
	for (size_t ci = 0; ci < sizeof cs / sizeof *cs; ci++)
		for (int gated = 0; gated < 2; gated++) {
			Gated q = gated_new(cs[ci].B, cs[ci].L, cs[ci].C);
			int64_t L = q.L, C = q.C, W = q.W;
			float *yf = malloc(sizeof(float) * q.n);
			const float *g = gated ? q.z + C : NULL, *post = gated ? q.z : NULL;
			HyrtSpectra slot = {NULL, hyrt_conv_spectra_bytes(L, C), 0};
			double e, m = 0;

			ck_assert(yf);
			/* lanes 2: the four-step form past 8192 points, only on
			 * 2 MB pages */
			ck_assert_int_eq(hyrt_conv_lanes(L, C),
			                 avx512 && cs[ci].lanes &&
			                     (cs[ci].lanes == 1 ||
			                      hyrt_big_pages()));
			for (int64_t t = 0; t < L; t++)
				for (int64_t c = 1; c < C; c++)
					q.k[t * C + c] *= (float)exp(-0.003 * (double)(t * c % 101));
			if (cs[ci].direct)
				gated_direct(&q, g, post);
			memset(yf, 0xff, sizeof(float) * q.n);
			hyrt_hyena_conv_fft(yf, q.z + 2 * C, W, g, W, q.k, q.bias, post, W,
			                    q.B, L, C);
			for (int call = 0; call < 2; call++) {
				memset(q.y, 0xff, sizeof(float) * q.n); /* NaN until written */
				hyrt_hyena_conv_fft_const(q.y, q.z + 2 * C, W, g, W, q.k,
				                          q.bias, post, W, q.B, L, C, &slot);
				e = cs[ci].direct ? max_err(q.y, q.ref, q.n, &m) : 0;
				ck_assert_msg(e <= 1e-5 * (m > 1 ? m : 1),
				              "L=%lld C=%lld gated=%d call %d: max error %g",
				              (long long)L, (long long)C, gated, call, e);
				e = max_err(q.y, yf, q.n, &m);
				ck_assert_msg(e <= 1e-5 * (m > 1 ? m : 1),
				              "L=%lld C=%lld gated=%d call %d: %g from FFTW's",
				              (long long)L, (long long)C, gated, call, e);
			}
			ck_assert_int_eq(slot.used, slot.budget);
			free(yf);
			gated_free(&q);
		}
}
END_TEST

/* ---- the thread pool, and the convolutions over it ---------------------- */

typedef struct Cover {
	int *hits;
	int64_t calls_nested;
} Cover;

static void cover(void *arg, int64_t lo, int64_t hi)
{
	Cover *c = arg;
	ck_assert(lo < hi);
	for (int64_t i = lo; i < hi; i++)
		__atomic_fetch_add(&c->hits[i], 1, __ATOMIC_RELAXED);
}

/* Every index exactly once, for sizes, grains and thread counts that
 * leave partial chunks, one chunk, and more threads than chunks. */
START_TEST(pool_covers_once)
{
	static const int64_t ns[] = {0, 1, 7, 1000};
	static const int64_t grains[] = {1, 3, 64};
	static const int threads[] = {1, 2, 3, 8};
	for (size_t t = 0; t < 4; t++) {
		hyrt_set_threads(threads[t]);
		ck_assert_int_eq(hyrt_get_threads(), threads[t]);
		for (size_t a = 0; a < 4; a++)
			for (size_t g = 0; g < 3; g++) {
				Cover c = {calloc((size_t)ns[a] + 1, sizeof(int)), 0};
				hyrt_parallel_for(cover, &c, ns[a], grains[g]);
				for (int64_t i = 0; i < ns[a]; i++)
					ck_assert_msg(c.hits[i] == 1, "n=%lld grain=%lld "
					              "threads=%d: index %lld ran %d times",
					              (long long)ns[a], (long long)grains[g],
					              threads[t], (long long)i, c.hits[i]);
				free(c.hits);
			}
	}
	hyrt_set_threads(1);
}
END_TEST

static void nested(void *arg, int64_t lo, int64_t hi)
{
	Cover *c = arg;
	for (int64_t i = lo; i < hi; i++) {
		Cover inner = {c->hits + i * 10, 0};
		hyrt_parallel_for(cover, &inner, 10, 3); /* runs inline */
	}
}

static void *concurrent(void *arg)
{
	Cover *c = arg;
	hyrt_parallel_for(cover, c, 5000, 7);
	return NULL;
}

/* A call from inside a chunk, and two application threads calling at
 * once: both finish, every index once. */
START_TEST(pool_nested_and_concurrent)
{
	hyrt_set_threads(3);
	Cover c = {calloc(200, sizeof(int)), 0};
	hyrt_parallel_for(nested, &c, 20, 1);
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(c.hits[i], 1);
	free(c.hits);

	Cover a = {calloc(5000, sizeof(int)), 0}, b = {calloc(5000, sizeof(int)), 0};
	pthread_t th;
	ck_assert(pthread_create(&th, NULL, concurrent, &a) == 0);
	concurrent(&b);
	pthread_join(th, NULL);
	for (int i = 0; i < 5000; i++)
		ck_assert(a.hits[i] == 1 && b.hits[i] == 1);
	free(a.hits);
	free(b.hits);
	hyrt_set_threads(1);
}
END_TEST

typedef struct GenCtx {
	const float *k; /* [L, C] */
	int64_t C;
} GenCtx;

static void gen_from(void *arg, int64_t c0, int64_t cb, int64_t L,
                     float *dst, int64_t ld)
{
	const GenCtx *g = arg;
	for (int64_t j = 0; j < cb; j++)
		for (int64_t t = 0; t < L; t++)
			dst[j * ld + t] = g->k[t * g->C + c0 + j];
}

/* The gated convolution gives the same bits at any thread count, with a
 * generated filter as with the stored one, and with no gate as with a
 * gate of ones. */
START_TEST(conv_threads_gen_nogate)
{
	enum { B = 2, C = 37, W = 3 * C };
	static const int64_t lens[] = {1, 5, 1000};
	for (size_t li = 0; li < 3; li++) {
		int64_t L = lens[li];
		size_t n = (size_t)(B * L * C);
		float *z = rand_array((size_t)(B * L * W));
		float *k = rand_array((size_t)(L * C)), *bias = rand_array(C);
		float *ones = malloc(sizeof(float) * (size_t)(B * L * C));
		float *y1 = malloc(sizeof(float) * n), *y3 = malloc(sizeof(float) * n);
		float *yg = malloc(sizeof(float) * n), *yn = malloc(sizeof(float) * n);
		float *yo = malloc(sizeof(float) * n);
		for (size_t i = 0; i < (size_t)(B * L * C); i++)
			ones[i] = 1.0f;
		GenCtx gc = {k, C};

		hyrt_set_threads(1);
		hyrt_hyena_conv_fft(y1, z + 2 * C, W, z + C, W, k, bias, z, W, B, L,
		                    C);
		hyrt_set_threads(3);
		memset(y3, 0xff, sizeof(float) * n);
		hyrt_hyena_conv_fft(y3, z + 2 * C, W, z + C, W, k, bias, z, W, B, L,
		                    C);
		memset(yg, 0xff, sizeof(float) * n);
		hyrt_hyena_conv_fft_gen(yg, z + 2 * C, W, z + C, W, gen_from, &gc,
		                        bias, z, W, B, L, C, NULL);
		ck_assert_msg(memcmp(y1, yg, sizeof(float) * n) == 0,
		              "L=%lld: generated filter differs", (long long)L);
		HyrtSpectra kept = {NULL, hyrt_conv_spectra_bytes(L, C), 0};
		for (int rep = 0; rep < 2; rep++) { /* made, then kept */
			memset(yg, 0xff, sizeof(float) * n);
			hyrt_hyena_conv_fft_gen(yg, z + 2 * C, W, z + C, W, gen_from,
			                        &gc, bias, z, W, B, L, C, &kept);
			ck_assert_msg(memcmp(y1, yg, sizeof(float) * n) == 0,
			              "L=%lld: kept generated spectrum differs",
			              (long long)L);
		}
		ck_assert(kept.head != NULL);
		hyrt_hyena_conv_fft(yn, z + 2 * C, W, NULL, 0, k, bias, z, W, B, L,
		                    C);
		hyrt_hyena_conv_fft(yo, z + 2 * C, W, ones, C, k, bias, z, W, B, L,
		                    C);
		ck_assert_msg(memcmp(y1, y3, sizeof(float) * n) == 0,
		              "L=%lld: 1 and 3 threads differ", (long long)L);
		ck_assert_msg(memcmp(y1, yg, sizeof(float) * n) == 0,
		              "L=%lld: generated filter differs", (long long)L);
		ck_assert_msg(memcmp(yn, yo, sizeof(float) * n) == 0,
		              "L=%lld: no gate differs from a gate of ones",
		              (long long)L);
		ck_assert(hyrt_conv_work_bytes(L, C) > 0);
		free(z), free(k), free(bias), free(ones);
		free(y1), free(y3), free(yg), free(yn), free(yo);
	}
	hyrt_set_threads(1);
}
END_TEST

START_TEST(blob_roundtrip)
{
	static const size_t sizes[][2] = {
		{1000, 10000}, {4096, 5}, {0, 100}, {5000, 0}, {8191, 4096},
	};
	for (int i = 0; i < 5; i++) {
		size_t n = sizes[i][0], nb = sizes[i][1];
		unsigned char *blob;
		char name[32];
		HyrtBlob b;
		Diag d;

		snprintf(name, sizeof name, "blob%d", i);
		const char *p = with_blob(name, n, nb, &blob);
		size_t off = (n + 4095) / 4096 * 4096;
		ck_assert_int_eq(file_size(p),
		                 (off_t)(off + nb + sizeof(HyrtTrailer)));
		diag_init(&d);
		ck_assert_msg(hyrt_blob_open(&b, p, nb, &d), "%s", d.msg);
		ck_assert_uint_eq(b.bytes, nb);
		ck_assert(b.data != NULL);
		ck_assert_uint_eq((uintptr_t)b.data % 64, 0);
		ck_assert(nb == 0 || memcmp(b.data, blob, nb) == 0);
		hyrt_blob_close(&b);
		ck_assert(b.data == NULL && b.map == NULL);
		/* the program bytes are untouched and the padding is zero */
		size_t len;
		unsigned char *all = (unsigned char *)tu_read(p, &len);
		for (size_t j = 0; j < n; j++)
			ck_assert_uint_eq(all[j], (unsigned char)(j * 7));
		for (size_t j = n; j < off; j++)
			ck_assert_uint_eq(all[j], 0);
		free(all);
		free(blob);
	}
}
END_TEST

/* Opening p expecting `expect` bytes must fail with one line naming p and
 * containing want. */
static void open_fails(const char *p, uint64_t expect, const char *want)
{
	HyrtBlob b;
	Diag d;

	diag_init(&d);
	ck_assert_msg(!hyrt_blob_open(&b, p, expect, &d), "%s opened", p);
	ck_assert_msg(strstr(d.msg, p) && strstr(d.msg, want),
	              "want '%s' in: %s", want, d.msg);
	ck_assert_msg(!strchr(d.msg, '\n'), "two lines: %s", d.msg);
	ck_assert(b.map == NULL && b.data == NULL);
}

static void put_trailer(const char *name, size_t prog, const char *magic,
                        uint64_t off, uint64_t bytes, size_t body)
{
	size_t n = prog + body + sizeof(HyrtTrailer);
	unsigned char *buf = calloc(1, n);
	HyrtTrailer t;
	memcpy(t.magic, magic, 8);
	t.blob_offset = off;
	t.blob_bytes = bytes;
	t.blob_crc32 = 0xdeadbeef; /* no blob of these tests has it */
	memcpy(buf + prog + body, &t, sizeof t);
	tu_write(name, buf, n);
	free(buf);
}

START_TEST(blob_bad)
{
	const char *p = with_blob("bad-size", 3000, 800, NULL);
	open_fails(p, 801, "packed weights are 800 bytes but the compiled "
	                   "model expects 801");

	/* cut off: the last 24 bytes are weights now, not a trailer */
	p = with_blob("bad-cut", 3000, 800, NULL);
	ck_assert(truncate(p, file_size(p) - 100) == 0);
	open_fails(p, 800, "no packed weights");

	/* more appended after the trailer */
	p = with_blob("bad-tail", 3000, 800, NULL);
	FILE *f = fopen(p, "ab");
	fputs("junk", f);
	fclose(f);
	open_fails(p, 800, "no packed weights");

	put_trailer("bad-magic", 4096, "HYENACW0", 4096, 16, 16);
	open_fails(tu_path(tu_tmpdir(), "bad-magic"), 16, "no packed weights");
	put_trailer("bad-len", 4096, HYRT_TRAILER_MAGIC, 4096, 32, 16);
	open_fails(tu_path(tu_tmpdir(), "bad-len"), 32,
	           "does not end where the trailer starts");
	put_trailer("bad-off", 4096, HYRT_TRAILER_MAGIC, 1ull << 62, 16, 16);
	open_fails(tu_path(tu_tmpdir(), "bad-off"), 16,
	           "does not end where the trailer starts");
	put_trailer("bad-align", 4000, HYRT_TRAILER_MAGIC, 4000, 16, 16);
	open_fails(tu_path(tu_tmpdir(), "bad-align"), 16,
	           "not a multiple of 4096");
	put_trailer("bad-huge", 4096, HYRT_TRAILER_MAGIC, 4096,
	            UINT64_MAX - 100, 16);
	open_fails(tu_path(tu_tmpdir(), "bad-huge"), 16,
	           "does not end where the trailer starts");

	/* one byte of the weights flipped, first, middle or last */
	static const size_t at[] = {0, 400, 799};
	for (int i = 0; i < 3; i++) {
		p = with_blob("bad-crc", 3000, 800, NULL);
		size_t len;
		unsigned char *all = (unsigned char *)tu_read(p, &len);
		all[4096 + at[i]] ^= 0x01;
		tu_write("bad-crc", all, len);
		free(all);
		open_fails(p, 800, "weights damaged (checksum mismatch");
	}
	/* a trailer that records another checksum, of no bytes too */
	put_trailer("bad-crc0", 4096, HYRT_TRAILER_MAGIC, 4096, 0, 0);
	open_fails(tu_path(tu_tmpdir(), "bad-crc0"), 0, "checksum mismatch");
	/* a binary of an older hyenac, whose trailer had no checksum */
	put_trailer("old-w1", 4096, HYRT_TRAILER_MAGIC_V1, 4096, 16, 16);
	open_fails(tu_path(tu_tmpdir(), "old-w1"), 16, "older hyenac");

	p = tu_write("bad-short", "HYENACW1", 8);
	open_fails(p, 0, "too short");
	open_fails(tu_path(tu_tmpdir(), "absent"), 0, "cannot open");

	Diag d;
	diag_init(&d);
	ck_assert(!hyrt_append_blob(tu_path(tu_tmpdir(), "no/such"), "x", 1,
	                            &d));
	ck_assert_msg(strstr(d.msg, "cannot open"), "%s", d.msg);
}
END_TEST

/* ---- rt_main end to end ------------------------------------------------- */

/* A stand-in for a generated module: d_model 4, logits 8 wide, 5 token
 * ids, length up to 16, weights w[4]; hidden[b,t,j] = w[j] * token,
 * logits[b,t,j] = token + j + scratch check. */
static const char *fake_src =
	"#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n"
	/* room for every HYRT_META_* slot, later ones 0: batch 1 */
	"const int64_t hyenac_meta[32] = {4, 8, 5, 16, NOUT, 16, 1, 1000, 1};\n"
	"const char hyenac_model_name[] = \"fake\";\n"
	"size_t hyenac_scratch_bytes(int64_t B, int64_t L)\n"
	"{ return (size_t)(B * L) * 4; }\n"
	"void hyenac_run(const float *w, const int32_t *tok, int64_t B,\n"
	"                int64_t L, float *const *out, void *scratch)\n"
	"{\n"
	"	memset(scratch, 0, (size_t)(B * L) * 4);\n"
	"	for (int64_t i = 0; i < B * L; i++) {\n"
	"		for (int j = 0; out[0] && j < 4; j++)\n"
	"			out[0][i * 4 + j] = w[j] * (float)tok[i];\n"
	"		for (int j = 0; NOUT > 1 && out[NOUT - 1] && j < 8; j++)\n"
	"			out[NOUT - 1][i * 8 + j] = (float)(tok[i] + j);\n"
	"	}\n"
	"}\n"
	"int hyenac_run_pooled(const float *w, const int32_t *tok, int64_t B,\n"
	"                      int64_t L, float *mean, float *last, void *s)\n"
	"{ (void)w; (void)tok; (void)B; (void)L; (void)mean; (void)last;\n"
	"  (void)s; return 0; }\n"
	"int hyenac_run_classify(const float *w, const int32_t *tok, int64_t B,\n"
	"                        int64_t L, float *logits, void *s)\n"
	"{ (void)w; (void)tok; (void)B; (void)L; (void)logits; (void)s;\n"
	"  return 0; }\n"
	"int hyenac_run_hidden(const float *w, const int32_t *tok, int64_t B,\n"
	"                      int64_t L, float *const *o, void *s)\n"
	"{ (void)w; (void)tok; (void)B; (void)L; (void)o; (void)s;\n"
	"  return 0; }\n"
	"const char hyenac_labels[] = \"\";\n"
	"int64_t hyenac_state_bytes(int64_t B) { (void)B; return 0; }\n"
	"int hyenac_prefill(const float *w, const int32_t *t, int64_t B,\n"
	"                   int64_t L, float *l, void *s, void *st)\n"
	"{ (void)w; (void)t; (void)B; (void)L; (void)l; (void)s; (void)st;\n"
	"  return 0; }\n"
	"int hyenac_step(const float *w, const int32_t *t, int64_t B,\n"
	"                int64_t p, float *l, void *s, void *st)\n"
	"{ (void)w; (void)t; (void)B; (void)p; (void)l; (void)s; (void)st;\n"
	"  return 0; }\n";

static const char *exe_head, *exe_nohead, *exe_noweights;

static const char *build_fake(const char *name, int nout, bool weights)
{
	char def[32], *lib, *out;
	const char *src = tu_write_str("fake.c", fake_src);
	const char *bindir = HYENAC_BIN;
	const char *slash = strrchr(bindir, '/');
	RunResult r;

	ck_assert(slash);
	snprintf(def, sizeof def, "-DNOUT=%d", nout);
	ck_assert(asprintf(&lib, "%.*s/libhyenac_rt.a", (int)(slash - bindir),
	                   bindir) > 0);
	out = strdup(tu_path(tu_tmpdir(), name));
	const char *args[] = {
		"-std=c11", "-D_GNU_SOURCE", "-O1", def, "-I", HYENAC_SOURCE_DIR,
		"-o", out, src, HYENAC_SOURCE_DIR "/runtime/main/rt_main.c",
		HYENAC_SOURCE_DIR "/runtime/main/rt_fasta.c",
		HYENAC_SOURCE_DIR "/runtime/main/rt_gen.c",
		HYENAC_SOURCE_DIR "/runtime/main/rt_dispatch.c",
		HYENAC_SOURCE_DIR "/runtime/main/rt_shard.c",
		HYENAC_SOURCE_DIR "/runtime/main/rt_par_one.c",
		HYENAC_SOURCE_DIR "/runtime/main/rt_vep.c",
		HYENAC_SOURCE_DIR "/runtime/main/rt_regions.c",
		lib, "-Wl,-Bstatic", "-lfftw3f", "-Wl,-Bdynamic", "-lhts", "-lz",
		"-lm", "-lpthread", NULL,
	};
	/* $CC when it is a path: the sanitizer build's cc-san adds the
	 * runtimes the instrumented libhyenac_rt.a needs. */
	const char *cc = getenv("CC");
	tu_run(&r, cc && cc[0] == '/' ? cc : "/usr/bin/cc", args);
	ck_assert_msg(r.status == 0, "cc: %s", r.err);
	free(lib);
	if (weights) {
		float w[4] = {1, 2, 3, 4};
		Diag d;
		diag_init(&d);
		ck_assert_msg(hyrt_append_blob(out, w, sizeof w, &d), "%s",
		              d.msg);
	}
	return out;
}

static void setup_fake(void)
{
	if (exe_head)
		return;
	exe_head = build_fake("fake-head", 2, true);
	exe_nohead = build_fake("fake-nohead", 1, true);
	exe_noweights = build_fake("fake-noweights", 2, false);
}

/* A lasting copy of a tu_path() result (its buffers are reused). Kept
 * reachable, so the sanitizer build's leak check stays quiet. */
static char *kept[256];

static const char *keep(const char *s)
{
	static int n;
	char *p = strdup(s);
	ck_assert(p != NULL && n < 256);
	kept[n++] = p;
	return p;
}

static const char *tokens(const char *name, int64_t B, int64_t L,
                          const int32_t *ids)
{
	const char *p = keep(tu_path(tu_tmpdir(), name));
	int64_t dim[2] = {B, L};
	Diag d;
	diag_init(&d);
	ck_assert_msg(npy_save_i32(p, ids, 2, dim, &d), "%s", d.msg);
	return p;
}

/* Run exe with args; expect exit status st, no signal, and for failures a
 * single line of stderr containing want. */
static void run_expect(RunResult *r, const char *exe,
                       const char *const *args, int st, const char *want)
{
	tu_run(r, exe, args);
	ck_assert_msg(r->signal == 0, "signal %d", r->signal);
	ck_assert_msg(r->status == st, "status %d, want %d; stderr: %s",
	              r->status, st, r->err);
	if (st != 0) {
		ck_assert_msg(tu_lines(r->err) == 1, "stderr: %s", r->err);
		ck_assert_msg(strstr(r->err, want), "want '%s' in: %s", want,
		              r->err);
		if (st == 2)
			ck_assert_msg(strstr(r->err, "--help'"), "%s", r->err);
	}
}

START_TEST(main_forward)
{
	static const int32_t ids[] = {0, 1, 2, 3, 4, 0};
	const char *t = tokens("t23.npy", 2, 3, ids);
	const char *h = keep(tu_path(tu_tmpdir(), "h.npy"));
	const char *g = keep(tu_path(tu_tmpdir(), "g.npy"));
	NpyArray a;
	RunResult r;
	Diag d;

	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", t, "-o", h, NULL}, 0,
	           NULL);
	diag_init(&d);
	ck_assert_msg(npy_load(h, &a, &d), "%s", d.msg);
	ck_assert_int_eq(a.rank, 3);
	ck_assert(a.dim[0] == 2 && a.dim[1] == 3 && a.dim[2] == 4);
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 4; j++)
			ck_assert_float_eq(((float *)a.data)[i * 4 + j],
			                   (float)((j + 1) * ids[i]));
	npy_free(&a);

	run_expect(&r, exe_head,
	           (const char *[]){"logits", "--tokens=", NULL}, 2, "needs");
	run_expect(&r, exe_head,
	           (const char *[]){"logits", "--tokens=" "x", "-o", g, NULL},
	           1, "x: cannot open");
	char targ[4200];
	snprintf(targ, sizeof targ, "--tokens=%s", t);
	run_expect(&r, exe_head,
	           (const char *[]){"logits", targ, "--output", g, NULL}, 0,
	           NULL);
	ck_assert_msg(npy_load(g, &a, &d), "%s", d.msg);
	ck_assert(a.rank == 3 && a.dim[0] == 2 && a.dim[1] == 3 &&
	          a.dim[2] == 8);
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 8; j++)
			ck_assert_float_eq(((float *)a.data)[i * 8 + j],
			                   (float)(ids[i] + j));
	npy_free(&a);

	/* the full compiled length, and an empty batch */
	int32_t full[16] = {0};
	t = tokens("t16.npy", 1, 16, full);
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", t, "-o", h, NULL}, 0,
	           NULL);
	t = tokens("t0.npy", 0, 4, full);
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", t, "-o", h, NULL}, 0,
	           NULL);
	ck_assert(npy_load(h, &a, &d));
	ck_assert(a.rank == 3 && a.dim[0] == 0 && a.dim[1] == 4);
	npy_free(&a);

	run_expect(&r, exe_nohead,
	           (const char *[]){"embed", "--tokens", t, "-o", h, NULL}, 0,
	           NULL);
	run_expect(&r, exe_nohead,
	           (const char *[]){"logits", "--tokens", t, "-o", g, NULL}, 2,
	           "without its LM head");
}
END_TEST

START_TEST(main_bad_tokens)
{
	static const int32_t ids[] = {0, 1, 2, 3, 4, 5};
	int32_t long_ids[17] = {0};
	const char *h = keep(tu_path(tu_tmpdir(), "hb.npy"));
	RunResult r;
	char want[4200];

	const char *t = tokens("tbad.npy", 2, 3, ids);
	snprintf(want, sizeof want, "%s: token id 5 at [1, 2] is outside the "
	         "vocabulary [0, 5)", t);
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", t, "-o", h, NULL}, 1,
	           want);
	ck_assert(access(h, F_OK) != 0);

	t = tokens("tneg.npy", 1, 1, (int32_t[]){-1});
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", t, "-o", h, NULL}, 1,
	           "token id -1 at [0, 0]");
	t = tokens("tlong.npy", 1, 17, long_ids);
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", t, "-o", h, NULL}, 1,
	           "sequence length 17 exceeds 16");
	t = tokens("tzero.npy", 3, 0, long_ids);
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", t, "-o", h, NULL}, 1,
	           "sequence length is 0");

	Diag d;
	diag_init(&d);
	const char *tf = keep(tu_path(tu_tmpdir(), "tf.npy"));
	ck_assert(npy_save_f32(tf, (float[]){1, 2}, 2, (int64_t[]){1, 2}, &d));
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", tf, "-o", h, NULL}, 1,
	           "must be integers");
	const char *t1 = keep(tu_path(tu_tmpdir(), "t1.npy"));
	ck_assert(npy_save_i32(t1, (int32_t[]){1, 2}, 3, (int64_t[]){1, 1, 2},
	                       &d));
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", t1, "-o", h, NULL}, 1,
	           "rank 3"); /* [L] is one row (test_ux.c) */
	const char *junk = tu_write_str("junk.npy", "not numpy");
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", junk, "-o", h, NULL},
	           1, "junk.npy");

	t = tokens("tok.npy", 1, 2, (int32_t[]){1, 2});
	run_expect(&r, exe_noweights,
	           (const char *[]){"embed", "--tokens", t, "-o", h, NULL}, 1,
	           "cannot load the packed weights");
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", t, "-o",
	                            "/nonexistent/dir/h.npy", NULL},
	           1, "/nonexistent/dir/h.npy");
	ck_assert(access(h, F_OK) != 0);
}
END_TEST

START_TEST(main_usage)
{
	RunResult r;

	run_expect(&r, exe_head, (const char *[]){NULL}, 2, "no command");
	run_expect(&r, exe_head, (const char *[]){"embd", NULL}, 2,
	           "did you mean 'embed'");
	run_expect(&r, exe_head, (const char *[]){"frobnicate", NULL}, 2,
	           "unknown command 'frobnicate'");
	run_expect(&r, exe_head, (const char *[]){"embed", "-o", "x", NULL},
	           2, "needs --tokens");
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", "a", NULL}, 2,
	           "needs -o");
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--tokens", NULL}, 2,
	           "needs a value");
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "--token", "a", NULL}, 2,
	           "did you mean '--tokens'");
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "stray", NULL}, 2,
	           "unexpected argument 'stray'");
	run_expect(&r, exe_head,
	           (const char *[]){"embed", "-o", "a", "-o", "b", NULL}, 2,
	           "given twice");
	run_expect(&r, exe_head,
	           (const char *[]){"bench", "--threads", "0", NULL}, 2,
	           "--threads 0 is out of range");
	run_expect(&r, exe_head,
	           (const char *[]){"bench", "--seq-len", "17", NULL}, 2,
	           "takes 1 to 16");
	run_expect(&r, exe_head,
	           (const char *[]){"bench", "--batch", "2x", NULL}, 2,
	           "wants an integer");
	run_expect(&r, exe_head,
	           (const char *[]){"bench", "--reps", "", NULL}, 2,
	           "wants an integer");
	run_expect(&r, exe_head,
	           (const char *[]){"info", "--verbose", NULL}, 2,
	           "unknown option");

	run_expect(&r, exe_head, (const char *[]){"--help", NULL}, 0, NULL);
	ck_assert(strstr(r.out, "usage: fake-head"));
	ck_assert(strstr(r.out, "'fake'") && strstr(r.out, "d_model 4"));
	ck_assert(strstr(r.out, "1 to 16 tokens"));
	ck_assert(strstr(r.out, "logits --tokens"));
	run_expect(&r, exe_nohead, (const char *[]){"embed", "--help", NULL},
	           0, NULL);
	ck_assert(!strstr(r.out, "logits --tokens"));
}
END_TEST

START_TEST(main_bench_info)
{
	RunResult r;

	run_expect(&r, exe_head,
	           (const char *[]){"bench", "--batch", "2", "--seq-len", "8",
	                            "--threads", "3", "--reps", "4", NULL},
	           0, NULL);
	ck_assert_int_eq(tu_lines(r.out), 1);
	const char *head = "model=fake batch=2 seq_len=8 threads=3 reps=4 "
	                   "median_ms=";
	ck_assert_msg(strncmp(r.out, head, strlen(head)) == 0, "%s", r.out);
	ck_assert(strstr(r.out, " min_ms=") && strstr(r.out, " tokens_per_s=")
	          && strstr(r.out, " gflops="));
	run_expect(&r, exe_head, (const char *[]){"bench", NULL}, 0, NULL);
	/* defaults: batch 1, the compiled length, every core, 10 reps */
	char want[96];
	snprintf(want, sizeof want, "batch=1 seq_len=16 threads=%ld reps=10",
	         sysconf(_SC_NPROCESSORS_ONLN));
	ck_assert_msg(strstr(r.out, want), "%s", r.out);
	run_expect(&r, exe_noweights, (const char *[]){"bench", NULL}, 1,
	           "cannot load the packed weights");

	run_expect(&r, exe_head, (const char *[]){"info", NULL}, 0, NULL);
	ck_assert(strstr(r.out, "model=fake\n") && strstr(r.out, "d_model=4\n")
	          && strstr(r.out, "max_len=16\n") &&
	          strstr(r.out, "outputs=hidden,logits\n") &&
	          strstr(r.out, "weights=ok\n"));
	run_expect(&r, exe_noweights, (const char *[]){"info", NULL}, 1,
	           "no packed weights");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("runtime");
	TCase *tc = tcase_create("fft");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, direct_small);
	tcase_add_test(tc, fft_size_rule);
	tcase_add_test(tc, spec_mul_forms);
	tcase_add_test(tc, fft_matches_direct);
	tcase_add_test(tc, fft_odd_channels);
	tcase_add_test(tc, gated_fft_matches_direct);
	tcase_add_test(tc, fft_plan_reuse);
	tcase_add_test(tc, fft_threads);
	tcase_add_test(tc, const_filter_spectrum_cache);
	tcase_add_test(tc, lane_fft_matches_direct);
	suite_add_tcase(s, tc);
	tc = tcase_create("pool");
	tcase_add_test(tc, pool_covers_once);
	tcase_add_test(tc, big_alloc_pages);
	tcase_add_test(tc, pool_nested_and_concurrent);
	tcase_add_test(tc, conv_threads_gen_nogate);
	suite_add_tcase(s, tc);
	tc = tcase_create("blob");
	tcase_add_test(tc, blob_roundtrip);
	tcase_add_test(tc, blob_bad);
	suite_add_tcase(s, tc);
	tc = tcase_create("main");
	tcase_set_timeout(tc, 120);
	/* built once, in the runner's process, before the tests fork */
	tcase_add_unchecked_fixture(tc, setup_fake, NULL);
	tcase_add_test(tc, main_forward);
	tcase_add_test(tc, main_bad_tokens);
	tcase_add_test(tc, main_usage);
	tcase_add_test(tc, main_bench_info);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
