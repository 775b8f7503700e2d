/*
 * lanefft.c - the long convolution of 16 channels at once with each
 * channel in one lane of the AVX-512 vectors: FFTs of our own, for the
 * power-of-two sizes up to LANEFFT_MAX_N (tiny-1k's 2048 points,
 * small-32k's 65536), used by fftconv.c in place of FFTW where the CPU
 * has AVX-512.
 *
 * Why: in the channels-last activations the 16 channels of a block at
 * one position are one 64-byte line, so a transform whose vectors hold
 * one value of 16 channels reads v and g and writes y straight from and
 * to their rows: no gather into per-channel rows, no transposes, no
 * scatter, and every butterfly a plain vector operation with no
 * shuffles. FFTW transforms one channel's row at a time, in Debian's
 * build with 8-float AVX codelets and no FMA; at 2048 points a pair of
 * its transforms, the product and the gather and scatter around them
 * were about a quarter of a tiny-1k 8x1024 forward.
 *
 * The transform. A real row x of N = 2M points (the gated input, zero
 * from L on) is packed as M complex points z[n] = x[2n] + i x[2n+1] and
 * transformed by a radix-2 decimation in frequency (natural order in,
 * bit-reversed out). The real spectrum X[k], k = 0..M, comes from each
 * pair Z[k], Z[M-k] (E = the even points' transform, O the odd's):
 *     E = (Z[k] + conj Z[M-k]) / 2,  O = (Z[k] - conj Z[M-k]) / 2i,
 *     X[k] = E + W^k O,  X[M-k] = conj(E - W^k O),  W = e^(-2 pi i / N);
 * it is multiplied by the filter's spectrum, and the same pair of bins
 * is folded back into the packed spectrum of the output:
 *     Z'[k] = E' + i O',  Z'[M-k] = conj E' + i conj O',
 *     E' = Y[k] + conj Y[M-k],  O' = (Y[k] - conj Y[M-k]) conj(W^k),
 * all in one pass over the bit-reversed positions, so no reordering is
 * ever done; the inverse is a radix-2 decimation in time (bit-reversed
 * in, natural out) whose output's real and imaginary parts are the even
 * and odd output points. Both transforms are unnormalised, as FFTW's;
 * the 1/N is folded into the filter's spectrum (fftconv.c), and so is
 * the skip term (the filter's bias at lag 0).
 *
 * The filter's spectrum of a block: (M+1) x 16 real parts, then (M+1) x
 * 16 imaginary parts, bin by bin in natural order; the same bytes as
 * FFTW's 16 rows of M+1 complex numbers, so the kept spectra's budget
 * (hyrt_conv_spectra_bytes) holds either layout.
 *
 * A block's work is N x 16 floats: 128 KB at 2048 points, in the L2;
 * 4 MB at 65536, past it, where each pass of two stages streams the work
 * through the L3 (seven passes each way). Even so, small-32k's
 * convolution ran at or under FFTW's per-channel bound there, where
 * FFTW's path with its gather and scatter ran 1.3x it (docs/
 * performance.md); a four-step form (column and row transforms that
 * each fit the L1) would take the passes down to two.
 *
 * Twiddles and the bit-reversal table are made once per size, in double,
 * and kept (at most 384 KB, at 65536 points) until the process ends or
 * the library holding them is unloaded (hyrt_lanefft_release).
 */
#include "hyrt.h"
#include "lanefft.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_LANEFFT 1
#endif

enum { LOG_MIN = 6, LOG_MAX = 16, LANES = 16 };
_Static_assert(LANEFFT_MAX_N == 1 << LOG_MAX, "LANEFFT_MAX_N is 2^LOG_MAX");

typedef struct Tables {
	float *c, *s; /* cos and -sin of 2 pi j / N, j < N/2 */
	int32_t *rev; /* bit reversal of log2(M) bits, j < M */
} Tables;

static Tables tables[LOG_MAX + 1];
static pthread_mutex_t tables_lock = PTHREAD_MUTEX_INITIALIZER;

bool hyrt_lanefft_fits(int64_t N)
{
	return N >= ((int64_t)1 << LOG_MIN) && N <= LANEFFT_MAX_N &&
	       (N & (N - 1)) == 0;
}

static void *xmalloc(size_t bytes)
{
	void *p = malloc(bytes);
	if (!p)
		hyrt_conv_oom(bytes);
	return p;
}

static const Tables *tables_for(int64_t N)
{
	int ln = __builtin_ctzll((unsigned long long)N); /* N = 2^ln */
	Tables *t = &tables[ln];
	int32_t *ready = __atomic_load_n(&t->rev, __ATOMIC_ACQUIRE);

	if (ready)
		return t;
	pthread_mutex_lock(&tables_lock);
	if (!t->rev) {
		int64_t M = N / 2;
		int lm = ln - 1;
		float *c = xmalloc(sizeof(float) * (size_t)M);
		float *s = xmalloc(sizeof(float) * (size_t)M);
		int32_t *rev = xmalloc(sizeof(int32_t) * (size_t)M);
		for (int64_t j = 0; j < M; j++) {
			double a = 2.0 * M_PI * (double)j / (double)N;
			c[j] = (float)cos(a);
			s[j] = (float)-sin(a);
			int32_t r = 0;
			for (int b = 0; b < lm; b++)
				r |= (int32_t)((j >> b) & 1) << (lm - 1 - b);
			rev[j] = r;
		}
		t->c = c;
		t->s = s;
		__atomic_store_n(&t->rev, rev, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&tables_lock);
	return t;
}

void hyrt_lanefft_release(void)
{
	pthread_mutex_lock(&tables_lock);
	for (int l = 0; l <= LOG_MAX; l++) {
		free(tables[l].c);
		free(tables[l].s);
		free(tables[l].rev);
		tables[l] = (Tables){NULL, NULL, NULL};
	}
	pthread_mutex_unlock(&tables_lock);
}

#ifdef HAVE_LANEFFT
#define TGT __attribute__((target("avx512f")))

/* (a + ib)(c + id) */
#define CMUL_RE(a, b, c, d) _mm512_fmsub_ps(a, c, _mm512_mul_ps(b, d))
#define CMUL_IM(a, b, c, d) _mm512_fmadd_ps(a, d, _mm512_mul_ps(b, c))

/* A complex value of 16 lanes, and its product with a twiddle (c, s)
 * broadcast to every lane. */
typedef struct V {
	__m512 r, i;
} V;

TGT static inline V vld(const float *re, const float *im, int64_t n)
{
	return (V){_mm512_load_ps(re + n * LANES), _mm512_load_ps(im + n * LANES)};
}

TGT static inline void vst(float *re, float *im, int64_t n, V x)
{
	_mm512_store_ps(re + n * LANES, x.r);
	_mm512_store_ps(im + n * LANES, x.i);
}

TGT static inline V add(V a, V b)
{
	return (V){_mm512_add_ps(a.r, b.r), _mm512_add_ps(a.i, b.i)};
}

TGT static inline V sub(V a, V b)
{
	return (V){_mm512_sub_ps(a.r, b.r), _mm512_sub_ps(a.i, b.i)};
}

/* x (c + i s) with the twiddle j of the N-point table (conj: c - i s);
 * j = 0 is 1, and x is left as it is. */
TGT static inline V twiddle(V x, const Tables *t, int64_t j, bool conj)
{
	if (!j)
		return x;
	__m512 c = _mm512_set1_ps(t->c[j]);
	__m512 s = _mm512_set1_ps(conj ? -t->s[j] : t->s[j]);
	return (V){CMUL_RE(x.r, x.i, c, s), CMUL_IM(x.r, x.i, c, s)};
}

/* The M-point transform of (re, im), vectors of 16 lanes, in place, by
 * decimation in frequency (natural order in, bit-reversed out), from the
 * stage of span h0 down (the caller has done the spans above it): two
 * stages a pass where two remain (the four points j+k, +h/2, +h, +3h/2
 * close under the spans h and h/2), so each pass reads and writes the
 * work once for two stages, with the same operations as one stage a
 * pass. The span-h stage's twiddle for k is W_N^(k N/2h). */
TGT static void dif_from(float *re, float *im, int64_t M, int64_t h0,
                         const Tables *t)
{
	int64_t N = 2 * M, h = h0;
	for (; h >= 2; h /= 4) {
		int64_t q = h / 2, sa = N / (2 * h), sb = N / h;
		for (int64_t j = 0; j < M; j += 2 * h)
			for (int64_t k = 0; k < q; k++) {
				int64_t n = j + k;
				V x0 = vld(re, im, n), x1 = vld(re, im, n + q);
				V x2 = vld(re, im, n + h), x3 = vld(re, im, n + h + q);
				V a0 = add(x0, x2), a2 = twiddle(sub(x0, x2), t, k * sa, 0);
				V a1 = add(x1, x3);
				V a3 = twiddle(sub(x1, x3), t, (k + q) * sa, 0);
				vst(re, im, n, add(a0, a1));
				vst(re, im, n + q, twiddle(sub(a0, a1), t, k * sb, 0));
				vst(re, im, n + h, add(a2, a3));
				vst(re, im, n + h + q, twiddle(sub(a2, a3), t, k * sb, 0));
			}
	}
	if (h == 1) /* the last stage alone: span 1, twiddle 1 */
		for (int64_t n = 0; n < M; n += 2) {
			V x0 = vld(re, im, n), x1 = vld(re, im, n + 1);
			vst(re, im, n, add(x0, x1));
			vst(re, im, n + 1, sub(x0, x1));
		}
}

/* The unnormalised inverse M-point transform, in place, by decimation
 * in time with the twiddles conjugated (bit-reversed in, natural out),
 * the stages of span 1 up to M/4, two a pass as dif_from; the last stage
 * (span M/2) is the caller's, fused with its output. The span-h stage's
 * twiddle for k is conj W_N^(k N/2h). */
TGT static void dit_to_half(float *re, float *im, int64_t M, const Tables *t)
{
	int64_t N = 2 * M, h = 1;
	for (; 4 * h <= M / 2; h *= 4) {
		int64_t sa = N / (2 * h), sb = N / (4 * h);
		for (int64_t j = 0; j < M; j += 4 * h)
			for (int64_t k = 0; k < h; k++) {
				int64_t n = j + k;
				V x0 = vld(re, im, n), x1 = vld(re, im, n + h);
				V x2 = vld(re, im, n + 2 * h), x3 = vld(re, im, n + 3 * h);
				V b1 = twiddle(x1, t, k * sa, 1);
				V b3 = twiddle(x3, t, k * sa, 1);
				V a0 = add(x0, b1), a1 = sub(x0, b1);
				V a2 = add(x2, b3), a3 = sub(x2, b3);
				V c2 = twiddle(a2, t, k * sb, 1);
				V c3 = twiddle(a3, t, (k + h) * sb, 1);
				vst(re, im, n, add(a0, c2));
				vst(re, im, n + 2 * h, sub(a0, c2));
				vst(re, im, n + h, add(a1, c3));
				vst(re, im, n + 3 * h, sub(a1, c3));
			}
	}
	if (h < M / 2) { /* one stage left below M/2: span h alone */
		int64_t sa = N / (2 * h);
		for (int64_t j = 0; j < M; j += 2 * h)
			for (int64_t k = 0; k < h; k++) {
				V x0 = vld(re, im, j + k);
				V b = twiddle(vld(re, im, j + k + h), t, k * sa, 1);
				vst(re, im, j + k, add(x0, b));
				vst(re, im, j + k + h, sub(x0, b));
			}
	}
}

/* x[t] = v[t*vs] (* g[t*gs]) for 16 lanes, t < L, zero from L <= M,
 * packed as z[n] = x[2n] + i x[2n+1] and put through the transform's
 * first stage (span M/2), whose second inputs z[n + M/2] are all zero:
 * Z[n] = z[n], Z[n + M/2] = z[n] W_N^(2n). */
TGT static void pack_first(float *re, float *im, int64_t M, const float *v,
                           int64_t vs, const float *g, int64_t gs, int64_t L,
                           const Tables *t)
{
	__m512 z = _mm512_setzero_ps();
	for (int64_t n = 0; n < M / 2; n++) {
		int64_t u = 2 * n;
		V x = {z, z};
		if (u < L) {
			x.r = _mm512_loadu_ps(v + u * vs);
			if (g)
				x.r = _mm512_mul_ps(x.r, _mm512_loadu_ps(g + u * gs));
		}
		if (u + 1 < L) {
			x.i = _mm512_loadu_ps(v + (u + 1) * vs);
			if (g)
				x.i = _mm512_mul_ps(x.i, _mm512_loadu_ps(g + (u + 1) * gs));
		}
		vst(re, im, n, x);
		vst(re, im, n + M / 2, twiddle(x, t, 2 * n, 0));
	}
}

/* The last stage of the inverse (span M/2) on its first half only (the
 * outputs from L <= M on are not wanted), into the rows of y: output
 * point 2n is the real part of z'[n], 2n+1 its imaginary part, each
 * times post (the output gate) when there is one. */
TGT static void last_unpack(float *y, int64_t C, const float *post,
                            int64_t ps, const float *re, const float *im,
                            int64_t M, int64_t L, const Tables *t)
{
	for (int64_t n = 0; n < M / 2 && 2 * n < L; n++) {
		int64_t u = 2 * n;
		V o = add(vld(re, im, n),
		          twiddle(vld(re, im, n + M / 2), t, 2 * n, 1));
		if (post)
			o.r = _mm512_mul_ps(o.r, _mm512_loadu_ps(post + u * ps));
		_mm512_storeu_ps(y + u * C, o.r);
		if (u + 1 < L) {
			if (post)
				o.i = _mm512_mul_ps(o.i, _mm512_loadu_ps(post + (u + 1) * ps));
			_mm512_storeu_ps(y + (u + 1) * C, o.i);
		}
	}
}

/* The real spectrum's pair of bins k and M-k from the packed transform's
 * bins at p = rev(k) and q = rev(M-k): (xr, xi) = X[k], (mr, mi) = X[M-k]. */
TGT static inline void split_pair(const float *re, const float *im,
                                  int64_t p, int64_t q, __m512 c, __m512 s,
                                  __m512 *xr, __m512 *xi, __m512 *mr,
                                  __m512 *mi)
{
	__m512 h = _mm512_set1_ps(0.5f);
	__m512 kr = _mm512_load_ps(re + p * LANES);
	__m512 ki = _mm512_load_ps(im + p * LANES);
	__m512 qr = _mm512_load_ps(re + q * LANES);
	__m512 qi = _mm512_load_ps(im + q * LANES);
	__m512 er = _mm512_mul_ps(h, _mm512_add_ps(kr, qr));
	__m512 ei = _mm512_mul_ps(h, _mm512_sub_ps(ki, qi));
	__m512 or_ = _mm512_mul_ps(h, _mm512_add_ps(ki, qi));
	__m512 oi = _mm512_mul_ps(h, _mm512_sub_ps(qr, kr));
	__m512 wr = CMUL_RE(or_, oi, c, s), wi = CMUL_IM(or_, oi, c, s);
	*xr = _mm512_add_ps(er, wr);
	*xi = _mm512_add_ps(ei, wi);
	*mr = _mm512_sub_ps(er, wr);
	*mi = _mm512_sub_ps(wi, ei);
}

/* Bins 0 and M: real, E + O and E - O of the packed bin 0. */
TGT static inline void split_ends(const float *re, const float *im,
                                  __m512 *x0, __m512 *xm)
{
	__m512 r = _mm512_load_ps(re), i = _mm512_load_ps(im);
	*x0 = _mm512_add_ps(r, i);
	*xm = _mm512_sub_ps(r, i);
}

/* The filter spectrum of 16 channel rows x (row i at x + i*ld, the first
 * L values, zero from L; x is only read), times scale, into kf in the
 * block layout above; work holds N * 16 floats, 64-byte aligned. */
TGT void hyrt_lanefft_spectra(float *kf, const float *x, int64_t ld, int64_t L,
                              int64_t N, float scale, float *work)
{
	int64_t M = N / 2;
	const Tables *t = tables_for(N);
	float *re = work, *im = work + M * LANES;
	float *kr = kf, *ki = kf + (M + 1) * LANES;
	__m512 sc = _mm512_set1_ps(scale);

	/* the rows' values by position, 16 channels a vector */
	for (int64_t n = 0; n < M / 2; n++)
		for (int i = 0; i < LANES; i++) {
			int64_t a = 2 * n, b = 2 * n + 1;
			re[n * LANES + i] = a < L ? x[i * ld + a] : 0.0f;
			im[n * LANES + i] = b < L ? x[i * ld + b] : 0.0f;
		}
	/* the first stage (span M/2): its second inputs are zero */
	for (int64_t n = 0; n < M / 2; n++)
		vst(re, im, n + M / 2, twiddle(vld(re, im, n), t, 2 * n, 0));
	dif_from(re, im, M, M / 4, t);
	__m512 x0, xm;
	split_ends(re, im, &x0, &xm);
	_mm512_store_ps(kr, _mm512_mul_ps(x0, sc));
	_mm512_store_ps(ki, _mm512_setzero_ps());
	_mm512_store_ps(kr + M * LANES, _mm512_mul_ps(xm, sc));
	_mm512_store_ps(ki + M * LANES, _mm512_setzero_ps());
	for (int64_t k = 1; k <= M / 2; k++) {
		__m512 xr, xi, mr, mi;
		split_pair(re, im, t->rev[k], t->rev[M - k],
		           _mm512_set1_ps(t->c[k]), _mm512_set1_ps(t->s[k]), &xr,
		           &xi, &mr, &mi);
		_mm512_store_ps(kr + k * LANES, _mm512_mul_ps(xr, sc));
		_mm512_store_ps(ki + k * LANES, _mm512_mul_ps(xi, sc));
		_mm512_store_ps(kr + (M - k) * LANES, _mm512_mul_ps(mr, sc));
		_mm512_store_ps(ki + (M - k) * LANES, _mm512_mul_ps(mi, sc));
	}
}

/* y[t*C + i] = (the causal convolution of x with channel i's filter)[t]
 * (* post[t*ps + i]) for t < L, i < 16, x[t] = v[t*vs] (* g[t*gs]); kf
 * the block's spectra (hyrt_lanefft_spectra); work as there. */
TGT void hyrt_lanefft_conv(float *y, int64_t C, const float *v, int64_t vs,
                           const float *g, int64_t gs, const float *post,
                           int64_t ps, const float *kf, int64_t L, int64_t N,
                           float *work)
{
	int64_t M = N / 2;
	const Tables *t = tables_for(N);
	float *re = work, *im = work + M * LANES;
	const float *kr = kf, *ki = kf + (M + 1) * LANES;

	pack_first(re, im, M, v, vs, g, gs, L, t);
	dif_from(re, im, M, M / 4, t);

	/* bins 0 and M: real spectra (the filter's imaginary parts there
	 * are 0) */
	__m512 x0, xm;
	split_ends(re, im, &x0, &xm);
	__m512 y0 = _mm512_mul_ps(x0, _mm512_load_ps(kr));
	__m512 ym = _mm512_mul_ps(xm, _mm512_load_ps(kr + M * LANES));
	_mm512_store_ps(re, _mm512_add_ps(y0, ym));
	_mm512_store_ps(im, _mm512_sub_ps(y0, ym));
	for (int64_t k = 1; k <= M / 2; k++) {
		int64_t p = t->rev[k], q = t->rev[M - k];
		__m512 c = _mm512_set1_ps(t->c[k]), s = _mm512_set1_ps(t->s[k]);
		__m512 xr, xi, mr, mi;
		split_pair(re, im, p, q, c, s, &xr, &xi, &mr, &mi);
		__m512 fr = _mm512_load_ps(kr + k * LANES);
		__m512 fi = _mm512_load_ps(ki + k * LANES);
		__m512 gr = _mm512_load_ps(kr + (M - k) * LANES);
		__m512 gi = _mm512_load_ps(ki + (M - k) * LANES);
		__m512 ykr = CMUL_RE(xr, xi, fr, fi), yki = CMUL_IM(xr, xi, fr, fi);
		__m512 ymr = CMUL_RE(mr, mi, gr, gi), ymi = CMUL_IM(mr, mi, gr, gi);
		/* E' = Y[k] + conj Y[M-k], D = Y[k] - conj Y[M-k],
		 * O' = D conj(W^k) */
		__m512 er = _mm512_add_ps(ykr, ymr), ei = _mm512_sub_ps(yki, ymi);
		__m512 dr = _mm512_sub_ps(ykr, ymr), di = _mm512_add_ps(yki, ymi);
		__m512 or_ = _mm512_fmadd_ps(dr, c, _mm512_mul_ps(di, s));
		__m512 oi = _mm512_fmsub_ps(di, c, _mm512_mul_ps(dr, s));
		/* Z'[M-k] first: at k = M/2, p = q and both are the same */
		_mm512_store_ps(re + q * LANES, _mm512_add_ps(er, oi));
		_mm512_store_ps(im + q * LANES, _mm512_sub_ps(or_, ei));
		_mm512_store_ps(re + p * LANES, _mm512_sub_ps(er, oi));
		_mm512_store_ps(im + p * LANES, _mm512_add_ps(ei, or_));
	}
	dit_to_half(re, im, M, t);
	last_unpack(y, C, post, ps, re, im, M, L, t);
}
#else
void hyrt_lanefft_spectra(float *kf, const float *x, int64_t ld, int64_t L,
                          int64_t N, float scale, float *work)
{
	(void)kf, (void)x, (void)ld, (void)L, (void)N, (void)scale, (void)work;
	abort(); /* fftconv.c calls it only where AVX-512 runs */
}

void hyrt_lanefft_conv(float *y, int64_t C, const float *v, int64_t vs,
                       const float *g, int64_t gs, const float *post,
                       int64_t ps, const float *kf, int64_t L, int64_t N,
                       float *work)
{
	(void)y, (void)C, (void)v, (void)vs, (void)g, (void)gs, (void)post;
	(void)ps, (void)kf, (void)L, (void)N, (void)work;
	abort();
}
#endif
