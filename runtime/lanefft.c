/*
 * lanefft.c - the long convolution of 16 channels at once with each
 * channel in one lane of the AVX-512 vectors: FFTs of our own, used by
 * fftconv.c in place of FFTW where the CPU has AVX-512. Two forms: the
 * power-of-two sizes up to LANEFFT_MAX_N (tiny-1k's 2048 points,
 * small-32k's 65536) in radix-2 passes over the block's work; the other
 * sizes fftconv.c makes (7-smooth: tiny-1k at L = 1000 has 2016 points,
 * medium-160k 320000) and powers of two past 65536 in four steps of
 * small mixed-radix transforms (below, "the four-step form").
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
/* The four-step form: any 7-smooth size up to FOUR_MAX_N (whose work, N
 * x 16 floats, stays in the L2); past it only where transparent huge
 * pages are on (hyrt_big_pages), so that the activations are on 2 MB
 * pages: the columns' transforms read and write positions 2 N1 apart, on
 * 4 KB pages each a page of its own. On a quiet machine 4 KB pages
 * measured level with 2 MB ones at medium-160k; beside a sanitizer build
 * on the other core, 7-10x slower than FFTW's path, which reads its
 * positions in order. Column and row transforms of at most SUB_MAX
 * points, radices 2, 3, 4, 5 and 7, at most SUB_STAGES stages. */
enum { FOUR_MAX_N = 8192, SUB_MAX = 4096, SUB_STAGES = 16, RADIX_MAX = 7 };
_Static_assert(LANEFFT_MAX_N == 1 << LOG_MAX, "LANEFFT_MAX_N is 2^LOG_MAX");

typedef struct Tables {
	float *c, *s; /* cos and -sin of 2 pi j / N, j < N/2 */
	int32_t *rev; /* bit reversal of log2(M) bits, j < M */
} Tables;

static Tables tables[LOG_MAX + 1];
static pthread_mutex_t tables_lock = PTHREAD_MUTEX_INITIALIZER;

/* The radix-2 form's sizes: powers of two, 2^LOG_MIN..LANEFFT_MAX_N. */
static bool pow2_fits(int64_t N)
{
	return N >= ((int64_t)1 << LOG_MIN) && N <= LANEFFT_MAX_N &&
	       (N & (N - 1)) == 0;
}

/* The four-step form's split of M = N/2 = N1 N2: N2 the largest divisor
 * of M with N2^2 <= M; 0 where N is past FOUR_MAX_N without 2 MB pages,
 * M is not 7-smooth or N1 would pass SUB_MAX (the column and row
 * transforms' buffers). */
static int64_t four_split(int64_t N)
{
	if (N < ((int64_t)1 << LOG_MIN) || N % 2 ||
	    (N > FOUR_MAX_N && !hyrt_big_pages()))
		return 0;
	int64_t M = N / 2, r = M;
	static const int64_t p[] = {2, 3, 5, 7};
	for (int i = 0; i < 4; i++)
		while (r % p[i] == 0)
			r /= p[i];
	if (r != 1)
		return 0;
	int64_t n2 = 1;
	for (int64_t d = 2; d * d <= M; d++)
		if (M % d == 0)
			n2 = d;
	return M / n2 <= SUB_MAX ? n2 : 0;
}

bool hyrt_lanefft_fits(int64_t N)
{
	return pow2_fits(N) || four_split(N) > 0;
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

/* A column or row transform of the four-step form: n points in stages
 * of radix r[0], r[1], ...; tw holds each stage's twiddles in turn, for
 * j < lp (the product of the radices before it) and q = 1..r-1, the cos
 * and -sin of 2 pi q j / (lp r). */
typedef struct Sub {
	int64_t n;
	int nst, r[SUB_STAGES];
	float *tw;
} Sub;

/* The four-step form of size N: M = N/2 = N1 N2; c and s the cos and
 * -sin of 2 pi j / N, j < M (the twiddles between the steps and those of
 * the real spectrum's pairs); s1, s2 the N1- and N2-point transforms. */
typedef struct Four {
	int64_t N, M, N1, N2;
	float *c, *s;
	Sub s1, s2;
	struct Four *next;
} Four;

static Four *fours; /* every size made, newest first; entries never change */

static void sub_init(Sub *p, int64_t n)
{
	int64_t r = n, lp = 1, cnt = 0;
	p->n = n;
	p->nst = 0;
	while (r > 1) {
		int f = r % 4 == 0 ? 4 : r % 2 == 0 ? 2 : r % 3 == 0 ? 3
		                                         : r % 5 == 0 ? 5 : 7;
		p->r[p->nst++] = f;
		cnt += 2 * (f - 1) * lp;
		lp *= f;
		r /= f;
	}
	p->tw = xmalloc(sizeof(float) * (size_t)(cnt ? cnt : 1));
	float *w = p->tw;
	lp = 1;
	for (int st = 0; st < p->nst; st++) {
		int f = p->r[st];
		for (int64_t j = 0; j < lp; j++)
			for (int q = 1; q < f; q++) {
				double a = 2.0 * M_PI * (double)(q * j) / (double)(lp * f);
				*w++ = (float)cos(a);
				*w++ = (float)-sin(a);
			}
		lp *= f;
	}
}

static const Four *four_for(int64_t N)
{
	for (Four *f = __atomic_load_n(&fours, __ATOMIC_ACQUIRE); f; f = f->next)
		if (f->N == N)
			return f;
	pthread_mutex_lock(&tables_lock);
	Four *f = fours;
	while (f && f->N != N)
		f = f->next;
	if (!f) {
		f = xmalloc(sizeof *f);
		f->N = N;
		f->M = N / 2;
		f->N2 = four_split(N);
		f->N1 = f->M / f->N2;
		f->c = xmalloc(sizeof(float) * (size_t)f->M);
		f->s = xmalloc(sizeof(float) * (size_t)f->M);
		for (int64_t j = 0; j < f->M; j++) {
			double a = 2.0 * M_PI * (double)j / (double)N;
			f->c[j] = (float)cos(a);
			f->s[j] = (float)-sin(a);
		}
		sub_init(&f->s1, f->N1);
		sub_init(&f->s2, f->N2);
		f->next = fours;
		__atomic_store_n(&fours, f, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&tables_lock);
	return f;
}

int64_t hyrt_lanefft_work_floats(int64_t N)
{
	if (pow2_fits(N))
		return N * LANES;
	int64_t n2 = four_split(N), n1 = N / 2 / n2;
	return N * LANES + 4 * 2 * LANES * (n1 > n2 ? n1 : n2);
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
	while (fours) {
		Four *f = fours;
		fours = f->next;
		free(f->c);
		free(f->s);
		free(f->s1.tw);
		free(f->s2.tw);
		free(f);
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

/* a (c + i s) */
TGT static inline V cmul(V a, __m512 c, __m512 s)
{
	return (V){CMUL_RE(a.r, a.i, c, s), CMUL_IM(a.r, a.i, c, s)};
}

/* The real spectrum's pair of bins X[k] and X[M-k] from the packed
 * transform's Z[k] and Z[M-k]; (c, s) = W^k. */
TGT static inline void split(V zk, V zm, __m512 c, __m512 s, V *xk, V *xm)
{
	__m512 h = _mm512_set1_ps(0.5f);
	V e = {_mm512_mul_ps(h, _mm512_add_ps(zk.r, zm.r)),
	       _mm512_mul_ps(h, _mm512_sub_ps(zk.i, zm.i))};
	V o = {_mm512_mul_ps(h, _mm512_add_ps(zk.i, zm.i)),
	       _mm512_mul_ps(h, _mm512_sub_ps(zm.r, zk.r))};
	V w = cmul(o, c, s);
	*xk = (V){_mm512_add_ps(e.r, w.r), _mm512_add_ps(e.i, w.i)};
	*xm = (V){_mm512_sub_ps(e.r, w.r), _mm512_sub_ps(w.i, e.i)};
}

/* The pair Z[k], Z[M-k] (zk, zm) times the filter's spectrum (kr, ki:
 * the block layout above) and folded back into the packed spectrum of
 * the output, Z'[k] and Z'[M-k], in place. */
TGT static inline void pair_product(V *zk, V *zm, const float *kr,
                                    const float *ki, int64_t k, int64_t M,
                                    __m512 c, __m512 s)
{
	V xk, xm;
	split(*zk, *zm, c, s, &xk, &xm);
	V yk = cmul(xk, _mm512_load_ps(kr + k * LANES),
	            _mm512_load_ps(ki + k * LANES));
	V ym = cmul(xm, _mm512_load_ps(kr + (M - k) * LANES),
	            _mm512_load_ps(ki + (M - k) * LANES));
	/* E' = Y[k] + conj Y[M-k], D = Y[k] - conj Y[M-k], O' = D conj(W^k) */
	__m512 er = _mm512_add_ps(yk.r, ym.r), ei = _mm512_sub_ps(yk.i, ym.i);
	__m512 dr = _mm512_sub_ps(yk.r, ym.r), di = _mm512_add_ps(yk.i, ym.i);
	__m512 or_ = _mm512_fmadd_ps(dr, c, _mm512_mul_ps(di, s));
	__m512 oi = _mm512_fmsub_ps(di, c, _mm512_mul_ps(dr, s));
	*zm = (V){_mm512_add_ps(er, oi), _mm512_sub_ps(or_, ei)};
	*zk = (V){_mm512_sub_ps(er, oi), _mm512_add_ps(ei, or_)};
}

/* The pair's bins of the filter's spectrum, times sc, into kr, ki. */
TGT static inline void pair_store(float *kr, float *ki, int64_t k, int64_t M,
                                  V zk, V zm, __m512 c, __m512 s, __m512 sc)
{
	V xk, xm;
	split(zk, zm, c, s, &xk, &xm);
	_mm512_store_ps(kr + (M - k) * LANES, _mm512_mul_ps(xm.r, sc));
	_mm512_store_ps(ki + (M - k) * LANES, _mm512_mul_ps(xm.i, sc));
	_mm512_store_ps(kr + k * LANES, _mm512_mul_ps(xk.r, sc));
	_mm512_store_ps(ki + k * LANES, _mm512_mul_ps(xk.i, sc));
}

/* Bins 0 and M (real: E + O and E - O of the packed bin 0, z0): their
 * spectra times sc into kr, ki (kf_out), or times the filter's (kr, ki;
 * imaginary parts 0 there) and folded back into z0. */
TGT static inline void ends(V *z0, float *kr, float *ki, const float *fr,
                            int64_t M, __m512 sc)
{
	__m512 x0 = _mm512_add_ps(z0->r, z0->i);
	__m512 xm = _mm512_sub_ps(z0->r, z0->i);
	if (kr) {
		_mm512_store_ps(kr, _mm512_mul_ps(x0, sc));
		_mm512_store_ps(ki, _mm512_setzero_ps());
		_mm512_store_ps(kr + M * LANES, _mm512_mul_ps(xm, sc));
		_mm512_store_ps(ki + M * LANES, _mm512_setzero_ps());
		return;
	}
	__m512 y0 = _mm512_mul_ps(x0, _mm512_load_ps(fr));
	__m512 ym = _mm512_mul_ps(xm, _mm512_load_ps(fr + M * LANES));
	*z0 = (V){_mm512_add_ps(y0, ym), _mm512_sub_ps(y0, ym)};
}

/* The filter spectrum of 16 channel rows x (row i at x + i*ld, the first
 * L values, zero from L; x is only read), times scale, into kf in the
 * block layout above; work holds N * 16 floats, 64-byte aligned. */
TGT static void pow2_spectra(float *kf, const float *x, int64_t ld,
                             int64_t L, int64_t N, float scale, float *work)
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
	V z0 = vld(re, im, 0);
	ends(&z0, kr, ki, NULL, M, sc);
	for (int64_t k = 1; k <= M / 2; k++)
		pair_store(kr, ki, k, M, vld(re, im, t->rev[k]),
		           vld(re, im, t->rev[M - k]), _mm512_set1_ps(t->c[k]),
		           _mm512_set1_ps(t->s[k]), sc);
}

/* The radix-2 form of hyrt_lanefft_conv. */
TGT static void pow2_conv(float *y, int64_t C, const float *v, int64_t vs,
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
	V z0 = vld(re, im, 0);
	ends(&z0, NULL, NULL, kr, M, _mm512_setzero_ps());
	vst(re, im, 0, z0);
	for (int64_t k = 1; k <= M / 2; k++) {
		int64_t p = t->rev[k], q = t->rev[M - k];
		V zk = vld(re, im, p), zm = vld(re, im, q);
		pair_product(&zk, &zm, kr, ki, k, M, _mm512_set1_ps(t->c[k]),
		             _mm512_set1_ps(t->s[k]));
		/* Z'[M-k] first: at k = M/2, p = q and both are the same */
		vst(re, im, q, zm);
		vst(re, im, p, zk);
	}
	dit_to_half(re, im, M, t);
	last_unpack(y, C, post, ps, re, im, M, L, t);
}

/* ---- the four-step form ----------------------------------------------
 *
 * For the other sizes (7-smooth, up to SUB_MAX^2 complex points): the
 * M = N1 N2 point transform of z[m1 + N1 m2] as N1 transforms of N2
 * points down the columns (one for each m1, the data's positions m1,
 * m1 + N1, ...), a twiddle W_M^(m1 k2), and N2 transforms of N1 points
 * along the rows, which give Z[k2 + N2 k1]. The column k2 and the
 * column N2 - k2 hold each other's partner bins (M - k), so the rows'
 * transforms are taken in those pairs, the spectrum's product and fold
 * done there, and the inverse's row transforms at once; then the
 * inverse's column transforms write the output. Each small transform
 * runs in the L1 or L2 (a self-sorting Stockham form with radices 4, 2,
 * 3, 5 and 7, with the twiddles of Sub); the block's work is read and
 * written three times in all. A stage's loops over its radix are
 * unrolled by pragma: left to itself GCC kept the values in arrays on
 * the stack, and the form ran about 3x slower. */

/* One stage of radix r of an n-point transform, from (xr, xi) to (yr,
 * yi): lp is the product of the radices before it, tw its twiddles. */
TGT static inline __attribute__((always_inline)) void
stage_r(const float *xr, const float *xi, float *yr, float *yi, int64_t n,
        int64_t lp, const float *tw, const int r, const bool inv)
{
	int64_t m = n / (lp * r);
	const int h = (r - 1) / 2;
	/* cos and sin of 2 pi e / r, e = 1..(r-1)/2, for r = 3, 5, 7 */
	static const float rc[8][3] = {
	    [3] = {-0.5f},
	    [5] = {0.30901699437494745f, -0.8090169943749475f},
	    [7] = {0.6234898018587336f, -0.22252093395631434f,
	           -0.9009688679024191f}};
	static const float rs[8][3] = {
	    [3] = {0.8660254037844386f},
	    [5] = {0.9510565162951535f, 0.5877852522924731f},
	    [7] = {0.7818314824680298f, 0.9749279121818236f,
	           0.4338837391175582f}};
	for (int64_t j = 0; j < lp; j++) {
		__m512 wc[RADIX_MAX], ws[RADIX_MAX];
		#pragma GCC unroll 8
		for (int q = 1; q < r; q++) {
			const float *w = tw + 2 * (j * (r - 1) + q - 1);
			wc[q] = _mm512_set1_ps(w[0]);
			ws[q] = _mm512_set1_ps(inv ? -w[1] : w[1]);
		}
		for (int64_t k = 0; k < m; k++) {
			V a[RADIX_MAX], b[RADIX_MAX];
			#pragma GCC unroll 8
			for (int q = 0; q < r; q++) {
				a[q] = vld(xr, xi, j * m * r + k + q * m);
				if (q && j)
					a[q] = cmul(a[q], wc[q], ws[q]);
			}
			if (r == 2) {
				b[0] = add(a[0], a[1]);
				b[1] = sub(a[0], a[1]);
			} else if (r == 4) {
				V s02 = add(a[0], a[2]), d02 = sub(a[0], a[2]);
				V s13 = add(a[1], a[3]), d13 = sub(a[1], a[3]);
				/* -i d13 forward, +i d13 inverse */
				V m13 = inv ? (V){_mm512_sub_ps(_mm512_setzero_ps(), d13.i),
				                  d13.r}
				            : (V){d13.i,
				                  _mm512_sub_ps(_mm512_setzero_ps(), d13.r)};
				b[0] = add(s02, s13);
				b[2] = sub(s02, s13);
				b[1] = add(d02, m13);
				b[3] = sub(d02, m13);
			} else {
				/* odd r: the pairs a_j +- a_(r-j) against cos and sin */
				V sp[RADIX_MAX / 2], dp[RADIX_MAX / 2];
				b[0] = a[0];
				#pragma GCC unroll 8
				for (int q = 1; q <= h; q++) {
					sp[q - 1] = add(a[q], a[r - q]);
					dp[q - 1] = sub(a[q], a[r - q]);
					b[0] = add(b[0], sp[q - 1]);
				}
				#pragma GCC unroll 8
				for (int p = 1; p <= h; p++) {
					V t = a[0], u = {_mm512_setzero_ps(),
					                 _mm512_setzero_ps()};
					#pragma GCC unroll 8
					for (int q = 1; q <= h; q++) {
						/* angle e = qp mod r; past r/2, cos(r-e), -sin(r-e) */
						int e = q * p % r, f = e <= h ? e : r - e;
						__m512 ce = _mm512_set1_ps(rc[r][f - 1]);
						__m512 se = _mm512_set1_ps(e <= h ? rs[r][f - 1]
						                                  : -rs[r][f - 1]);
						t.r = _mm512_fmadd_ps(sp[q - 1].r, ce, t.r);
						t.i = _mm512_fmadd_ps(sp[q - 1].i, ce, t.i);
						u.r = _mm512_fmadd_ps(dp[q - 1].r, se, u.r);
						u.i = _mm512_fmadd_ps(dp[q - 1].i, se, u.i);
					}
					/* forward: b_p = t - i u, b_(r-p) = t + i u */
					V mi = {_mm512_add_ps(t.r, u.i), _mm512_sub_ps(t.i, u.r)};
					V pi = {_mm512_sub_ps(t.r, u.i), _mm512_add_ps(t.i, u.r)};
					b[p] = inv ? pi : mi;
					b[r - p] = inv ? mi : pi;
				}
			}
			#pragma GCC unroll 8
			for (int p = 0; p < r; p++)
				vst(yr, yi, (j + lp * p) * m + k, b[p]);
		}
	}
}

/* The n-point transform (forward, or the unnormalised inverse) of the
 * vectors in buffer a (n real parts, then n imaginary), b the other
 * buffer; returns the one the result is in, natural order. */
TGT static float *sub_fft(const Sub *p, float *a, float *b, bool inv)
{
	int64_t n = p->n, lp = 1;
	const float *tw = p->tw;
	for (int st = 0; st < p->nst; st++) {
		int r = p->r[st];
		float *ar = a, *ai = a + n * LANES, *br = b, *bi = b + n * LANES;
#define STAGE(R)                                                              \
	(inv ? stage_r(ar, ai, br, bi, n, lp, tw, R, true)                        \
	     : stage_r(ar, ai, br, bi, n, lp, tw, R, false))
		switch (r) {
		case 2: STAGE(2); break;
		case 3: STAGE(3); break;
		case 4: STAGE(4); break;
		case 5: STAGE(5); break;
		default: STAGE(7); break;
		}
#undef STAGE
		tw += 2 * (r - 1) * lp;
		lp *= r;
		float *x = a;
		a = b;
		b = x;
	}
	return a;
}

/* W_N^e for 0 <= e < N, from the table of e < M (W^M = -1). */
TGT static inline V wN(const Four *f, int64_t e, bool conj)
{
	float c = e < f->M ? f->c[e] : -f->c[e - f->M];
	float s = e < f->M ? f->s[e] : -f->s[e - f->M];
	return (V){_mm512_set1_ps(c), _mm512_set1_ps(conj ? -s : s)};
}

/* The block's input: channels-last v (times g), L positions. */
typedef struct Src {
	const float *v, *g;
	int64_t vs, gs, L;
} Src;

TGT static inline __m512 src_at(const Src *q, int64_t t)
{
	if (t >= q->L)
		return _mm512_setzero_ps();
	__m512 x = _mm512_loadu_ps(q->v + t * q->vs);
	return q->g ? _mm512_mul_ps(x, _mm512_loadu_ps(q->g + t * q->gs)) : x;
}

/* The columns' transforms: A[m1 N2 + k2] = W_M^(m1 k2) times the N2-point
 * transform of z[m1 + N1 m2], z[m] = x[2m] + i x[2m+1]. */
TGT static void four_cols(const Four *f, float *Ar, float *Ai, const Src *q,
                          float *b0, float *b1)
{
	int64_t N1 = f->N1, N2 = f->N2;
	for (int64_t m1 = 0; m1 < N1; m1++) {
		for (int64_t m2 = 0; m2 < N2; m2++) {
			int64_t t = 2 * (m1 + N1 * m2);
			vst(b0, b0 + N2 * LANES, m2, (V){src_at(q, t), src_at(q, t + 1)});
		}
		float *r = sub_fft(&f->s2, b0, b1, false);
		for (int64_t k2 = 0, e = 0; k2 < N2; k2++) {
			V w = wN(f, e, false);
			vst(Ar, Ai, m1 * N2 + k2,
			    cmul(vld(r, r + N2 * LANES, k2), w.r, w.i));
			e = e + 2 * m1 < f->N ? e + 2 * m1 : e + 2 * m1 - f->N;
		}
	}
}

/* Row k2 of A (stride N2) into buffer b, and its N1-point transform. */
TGT static float *row_fwd(const Four *f, const float *Ar, const float *Ai,
                          int64_t k2, float *b, float *other)
{
	int64_t N1 = f->N1;
	for (int64_t m1 = 0; m1 < N1; m1++)
		vst(b, b + N1 * LANES, m1, vld(Ar, Ai, m1 * f->N2 + k2));
	return sub_fft(&f->s1, b, other, false);
}

/* The inverse of row_fwd, z the row's spectrum in one of (b, other). */
TGT static void row_inv(const Four *f, float *Ar, float *Ai, int64_t k2,
                        float *z, float *b, float *other)
{
	int64_t N1 = f->N1;
	float *r = sub_fft(&f->s1, z, z == b ? other : b, true);
	for (int64_t m1 = 0, e = 0; m1 < N1; m1++) {
		V w = wN(f, e, true);
		e = e + 2 * k2 < f->N ? e + 2 * k2 : e + 2 * k2 - f->N;
		vst(Ar, Ai, m1 * f->N2 + k2,
		    cmul(vld(r, r + N1 * LANES, m1), w.r, w.i));
	}
}

/* The rows' transforms in pairs (k2, N2 - k2), and at each pair of bins
 * (k, M - k) the spectrum: stored times sc into kf_out, or multiplied by
 * kf and folded back, then the rows' inverse transforms. bufs: four
 * buffers of bn floats (2 LANES max(N1, N2)). */
TGT static void four_rows(const Four *f, float *Ar, float *Ai,
                          const float *kf, float *kf_out, float sc_,
                          float *bufs, int64_t bn)
{
	int64_t N1 = f->N1, N2 = f->N2, M = f->M;
	float *b0 = bufs, *b1 = bufs + bn, *b2 = bufs + 2 * bn, *b3 = bufs + 3 * bn;
	float *okr = kf_out, *oki = kf_out ? kf_out + (M + 1) * LANES : NULL;
	const float *kr = kf, *ki = kf ? kf + (M + 1) * LANES : NULL;
	__m512 sc = _mm512_set1_ps(sc_);
	for (int64_t k2 = 0; k2 <= N2 / 2; k2++) {
		int64_t k2p = (N2 - k2) % N2;
		float *zc = row_fwd(f, Ar, Ai, k2, b0, b1);
		float *zd = k2p != k2 ? row_fwd(f, Ar, Ai, k2p, b2, b3) : zc;
		float *ci = zc + N1 * LANES, *di = zd + N1 * LANES;
		/* pairs (index in zc, index in zd) of k = k2 + N2 i, M - k */
		int64_t i0 = 0, n = N1;
		if (k2 == 0) { /* M - k = N2 (N1 - i), same row; i = 0: ends */
			V z0 = vld(zc, ci, 0);
			ends(&z0, okr, oki, kr, M, sc);
			if (!kf_out)
				vst(zc, ci, 0, z0);
			i0 = 1;
			n = N1 / 2 + 1;
		} else if (k2 == k2p) { /* M - k = k2 + N2 (N1 - 1 - i) */
			n = (N1 + 1) / 2;
		}
		for (int64_t i = i0; i < n; i++) {
			int64_t j = k2 == 0 ? N1 - i : N1 - 1 - i;
			int64_t k = k2 + N2 * i;
			__m512 c = _mm512_set1_ps(f->c[k]), s = _mm512_set1_ps(f->s[k]);
			V zk = vld(zc, ci, i), zm = vld(zd, di, j);
			if (kf_out) {
				pair_store(okr, oki, k, M, zk, zm, c, s, sc);
				continue;
			}
			pair_product(&zk, &zm, kr, ki, k, M, c, s);
			vst(zd, di, j, zm); /* the same slot when j = i: k = M/2 */
			vst(zc, ci, i, zk);
		}
		if (kf_out)
			continue;
		row_inv(f, Ar, Ai, k2, zc, b0, b1);
		if (k2p != k2)
			row_inv(f, Ar, Ai, k2p, zd, b2, b3);
	}
}

/* The columns' inverse transforms, into the rows of y: output point 2m
 * is the real part of z'[m], 2m+1 its imaginary part (times post). */
TGT static void four_out(const Four *f, const float *Ar, const float *Ai,
                         float *y, int64_t C, const float *post, int64_t ps,
                         int64_t L, float *b0, float *b1)
{
	int64_t N1 = f->N1, N2 = f->N2;
	for (int64_t m1 = 0; m1 < N1 && 2 * m1 < L; m1++) {
		memcpy(b0, Ar + m1 * N2 * LANES, sizeof(float) * (size_t)(N2 * LANES));
		memcpy(b0 + N2 * LANES, Ai + m1 * N2 * LANES,
		       sizeof(float) * (size_t)(N2 * LANES));
		float *r = sub_fft(&f->s2, b0, b1, true), *ri = r + N2 * LANES;
		for (int64_t m2 = 0; m2 < N2; m2++) {
			int64_t t = 2 * (m1 + N1 * m2);
			if (t >= L)
				break;
			__m512 o = _mm512_load_ps(r + m2 * LANES);
			if (post)
				o = _mm512_mul_ps(o, _mm512_loadu_ps(post + t * ps));
			_mm512_storeu_ps(y + t * C, o);
			if (t + 1 < L) {
				o = _mm512_load_ps(ri + m2 * LANES);
				if (post)
					o = _mm512_mul_ps(o, _mm512_loadu_ps(post + (t + 1) * ps));
				_mm512_storeu_ps(y + (t + 1) * C, o);
			}
		}
	}
}

/* The four-step form's work: A (N x 16 floats), then the four buffers. */
TGT static void four_run(const Four *f, const Src *q, float *y, int64_t C,
                         const float *post, int64_t ps, const float *kf,
                         float *kf_out, float sc, float *work)
{
	int64_t bn = 2 * LANES * (f->N1 > f->N2 ? f->N1 : f->N2);
	float *Ar = work, *Ai = work + f->M * LANES, *bufs = work + f->N * LANES;
	four_cols(f, Ar, Ai, q, bufs, bufs + bn);
	four_rows(f, Ar, Ai, kf, kf_out, sc, bufs, bn);
	if (!kf_out)
		four_out(f, Ar, Ai, y, C, post, ps, q->L, bufs, bufs + bn);
}

TGT void hyrt_lanefft_spectra(float *kf, const float *x, int64_t ld, int64_t L,
                              int64_t N, float scale, float *work)
{
	if (pow2_fits(N)) {
		pow2_spectra(kf, x, ld, L, N, scale, work);
		return;
	}
	/* the rows by position into kf (16 x (M+1) x 2 floats >= 16 L),
	 * read by the columns' transforms before the spectra are written */
	for (int64_t t = 0; t < L; t++)
		for (int i = 0; i < LANES; i++)
			kf[t * LANES + i] = x[i * ld + t];
	Src q = {.v = kf, .vs = LANES, .L = L};
	four_run(four_for(N), &q, NULL, 0, NULL, 0, NULL, kf, scale, work);
}

TGT void hyrt_lanefft_conv(float *y, int64_t C, const float *v, int64_t vs,
                           const float *g, int64_t gs, const float *post,
                           int64_t ps, const float *kf, int64_t L, int64_t N,
                           float *work)
{
	if (pow2_fits(N)) {
		pow2_conv(y, C, v, vs, g, gs, post, ps, kf, L, N, work);
		return;
	}
	Src q = {.v = v, .g = g, .vs = vs, .gs = gs, .L = L};
	four_run(four_for(N), &q, y, C, post, ps, kf, NULL, 1.0f, work);
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
