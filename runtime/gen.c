/*
 * gen.c - the kernels of generation that generated code calls (hyrt.h):
 * what a prefill leaves in the state (hyrt_state_save: a short filter's
 * ring here, a long convolution's history through fftconv.c's
 * hyrt_conv_carry), and a decode step's two sequence ops on one position
 * per sample: the short filter over its ring (hyrt_short_step) and the
 * long convolution's new row (hyrt_conv_step). Everything else a step
 * does is position-wise and generated (passes/entries.c clones it into
 * `entry step`).
 *
 * The prefill leaves, per long convolution, the prompt's part c[t] of
 * every later output (one FFT convolution), so that conv_step at
 * position t reads c[t] and sums over the t-P+1 generated positions
 * only: [t-P+1, D] rows of the filter and of the history, whatever the
 * prompt's length P. It walks both a whole row at a time (a channel
 * range per thread when the pool has several), so that both stream
 * through the prefetchers, accumulating in an L1-resident row (GCC
 * vector types, the baseline SSE2 width: the loop waits on memory, not
 * on arithmetic), up to SG samples of a batch sharing each filter row
 * while it is in cache.
 */
#include "hyrt.h"

#include <math.h>
#include <string.h>

void hyrt_state_save(float *out, const float *x, int64_t xs, const float *g,
                     int64_t gs, const float *k, int64_t B, int64_t L,
                     int64_t R, int64_t C, int64_t tail)
{
	if (!tail) {
		hyrt_conv_carry(out, x, xs, g, gs, k, B, L, R, C);
		return;
	}
	for (int64_t b = 0; b < B; b++)
		for (int64_t t = L > R ? L - R : 0; t < L; t++) {
			const float *xr = x + (b * L + t) * xs;
			const float *gr = g ? g + (b * L + t) * gs : NULL;
			float *d = out + (b * R + t % R) * C;
			if (!gr) {
				memcpy(d, xr, (size_t)C * sizeof *d);
				continue;
			}
			for (int64_t c = 0; c < C; c++)
				d[c] = xr[c] * gr[c];
		}
}

void hyrt_tail_proj(float *out, const float *x, const float *w,
                    const float *bias, const float *ln_g, const float *ln_b,
                    float eps, int64_t B, int64_t L, int64_t R, int64_t K,
                    int64_t N)
{
	float xn[K > 0 ? K : 1];

	for (int64_t b = 0; b < B; b++)
		for (int64_t t = L > R ? L - R : 0; t < L; t++) {
			const float *xr = x + (b * L + t) * K;
			if (ln_g) { /* as layernorm: mean, then the variance about it */
				double m = 0, v = 0;
				for (int64_t k = 0; k < K; k++)
					m += xr[k];
				m /= (double)K;
				for (int64_t k = 0; k < K; k++)
					v += (xr[k] - m) * (xr[k] - m);
				float r = (float)(1.0 / sqrt(v / (double)K + eps));
				for (int64_t k = 0; k < K; k++)
					xn[k] = (float)(xr[k] - m) * r * ln_g[k] + ln_b[k];
				xr = xn;
			}
			float *o = out + (b * R + t % R) * N;
			for (int64_t n = 0; n < N; n++) {
				float acc = bias ? bias[n] : 0.0f;
				const float *wr = w + n * K;
				for (int64_t k = 0; k < K; k++)
					acc += wr[k] * xr[k];
				o[n] = acc;
			}
		}
}

void hyrt_short_step(float *out, const float *y, const float *w,
                     const float *b, float *ring, int64_t B, int64_t pos,
                     int64_t N, int64_t K, int64_t gate)
{
	int64_t R = K - 1, D = N / 3;

	for (int64_t s = 0; s < B; s++) {
		const float *yr = y + s * N;
		float *rg = ring + s * R * N;
		float *o = out + s * (gate ? 2 * D : N);
		for (int64_t c = 0; c < N; c++) {
			float acc = b ? b[c] : 0.0f;
			for (int64_t j = 0; j < K; j++) {
				int64_t p = pos - K + 1 + j;
				float x = p == pos ? yr[c] : p < 0 ? 0.0f
				                                   : rg[(p % R) * N + c];
				acc += w[c * K + j] * x;
			}
			/* gate: [post | gate * value], the value third last */
			if (!gate)
				o[c] = acc;
			else if (c < 2 * D)
				o[c] = acc;
			else
				o[c - D] *= acc;
		}
		memcpy(rg + (pos % R) * N, yr, (size_t)N * sizeof *yr);
	}
}

enum { VL = 4, SG = 4 }; /* floats per vector (SSE2, the baseline); samples
                          * that share a pass over the filter */
typedef float Vec __attribute__((vector_size(VL * sizeof(float)),
                                 aligned(4)));

typedef struct ConvStep {
	float *out;
	const float *v, *g, *k, *bias, *post;
	int64_t vs, gs, ps;
	float *hist;
	int64_t B, pos, D, R;
	int64_t nblk; /* channel ranges the pool shares */
} ConvStep;

/* acc[0..n) += k[0..n) * h[0..n) */
static inline void fma_row(float *acc, const float *k, const float *h,
                           int64_t n)
{
	int64_t c = 0;
	for (; c + VL <= n; c += VL) {
		Vec a, kv, hv;
		memcpy(&a, acc + c, sizeof a);
		memcpy(&kv, k + c, sizeof kv);
		memcpy(&hv, h + c, sizeof hv);
		a += kv * hv;
		memcpy(acc + c, &a, sizeof a);
	}
	for (; c < n; c++)
		acc[c] += k[c] * h[c];
}

/* The prompt length a history's last row holds (hyrt_conv_carry), as
 * a count of positions in [0, pos]: a state that was never prefilled is
 * zero, P = 0. */
static int64_t prompt_len(const float *hist, int64_t R, int64_t D,
                          int64_t pos)
{
	float p = hist[(R - 1) * D];
	return p >= 0 && p <= (float)pos ? (int64_t)p : pos;
}

/* Channels [c0, c1) of every sample: c[t] from the history and u in its
 * place, then the dot product over the generated positions, the
 * filter's rows and the history's read in order (whole rows when one
 * thread runs, so both stream), up to SG samples sharing each filter
 * row. */
static void conv_range(const ConvStep *a, int64_t c0, int64_t c1)
{
	int64_t D = a->D, t = a->pos, n = c1 - c0, R = a->R, M = R - 1;
	float acc[SG][n > 0 ? n : 1];

	/* position t is row M-1-t: the history is stored reversed, so that
	 * h[t-j] for j = 0, 1, ... walks forward in memory as k[j] does */
	for (int64_t s0 = 0; s0 < a->B; s0 += SG) {
		int64_t ns = a->B - s0 < SG ? a->B - s0 : SG;
		const float *h[SG];
		int64_t np[SG], npmax = 0; /* generated positions, pos's too */
		for (int64_t s = 0; s < ns; s++) {
			int64_t b = s0 + s;
			float *hb = a->hist + b * R * D;
			float *hr = hb + (M - 1 - t) * D;
			const float *v = a->v + b * a->vs;
			const float *g = a->g ? a->g + b * a->gs : NULL;
			np[s] = t - prompt_len(hb, R, D, t) + 1;
			npmax = np[s] > npmax ? np[s] : npmax;
			h[s] = hr + c0;
			memcpy(acc[s], hr + c0, (size_t)n * sizeof(float));
			for (int64_t c = c0; c < c1; c++)
				hr[c] = v[c] * (g ? g[c] : 1.0f);
		}
		for (int64_t j = 0; j < npmax; j++) {
			const float *kr = a->k + j * D + c0;
			for (int64_t s = 0; s < ns; s++)
				if (j < np[s])
					fma_row(acc[s], kr, h[s] + j * D, n);
		}
		for (int64_t s = 0; s < ns; s++) {
			int64_t b = s0 + s;
			const float *hu = h[s], *bias = a->bias + c0;
			const float *p = a->post ? a->post + b * a->ps + c0 : NULL;
			float *o = a->out + b * D + c0;
			for (int64_t c = 0; c < n; c++) {
				float y = acc[s][c] + bias[c] * hu[c];
				o[c] = p ? y * p[c] : y;
			}
		}
	}
}

static void conv_blocks(void *ctx, int64_t lo, int64_t hi)
{
	const ConvStep *a = ctx;
	/* block i: channels [i D / nblk, (i+1) D / nblk), multiples of VL */
	for (int64_t i = lo; i < hi; i++) {
		int64_t c0 = i * a->D / a->nblk / VL * VL;
		int64_t c1 = i + 1 == a->nblk ? a->D
		                              : (i + 1) * a->D / a->nblk / VL * VL;
		conv_range(a, c0, c1);
	}
}

void hyrt_conv_step(float *out, const float *v, int64_t vs, const float *g,
                    int64_t gs, const float *k, const float *bias,
                    const float *post, int64_t ps, float *hist, int64_t B,
                    int64_t pos, int64_t D, int64_t R)
{
	ConvStep a = {out, v, g, k, bias, post, vs, gs, ps, hist, B, pos, D, R,
	              1};

	if (pos < 0 || pos >= R - 1)
		return; /* the callers check the length first */
	/* small work: the pool's handoff would cost more than it saves; else
	 * a channel range per thread, at least 16 channels each */
	int64_t np = pos - prompt_len(hist, R, D, pos) + 1;
	if (np * D * B < 65536 || hyrt_get_threads() < 2) {
		conv_blocks(&a, 0, 1);
		return;
	}
	a.nblk = hyrt_get_threads();
	if (a.nblk > D / 16)
		a.nblk = D / 16 > 0 ? D / 16 : 1;
	hyrt_parallel_for(conv_blocks, &a, a.nblk, 1);
}
