/* TEMPORARY serial stub, replaced by the pool branch */
#include "hyrt.h"
void hyrt_parallel_for(void (*fn)(void *, int64_t, int64_t), void *ctx, int64_t n, int64_t grain)
{
	for (int64_t lo = 0; lo < n; lo += grain)
		fn(ctx, lo, lo + grain < n ? lo + grain : n);
}
void hyrt_set_threads(int n) { (void)n; }
#include <stdlib.h>
/* TEMP: materialise the filter and call the plain one */
void hyrt_hyena_conv_fft_gen(float *y, const float *v, int64_t vs, const float *g, int64_t gs, HyrtFilterGen gen, void *gen_ctx, const float *bias, const float *post, int64_t ps, int64_t B, int64_t L, int64_t C)
{
	float *kt = malloc(sizeof(float) * (size_t)(L * C + 1)), *k = malloc(sizeof(float) * (size_t)(L * C + 1));
	gen(gen_ctx, 0, C, L, kt, L);
	for (int64_t t = 0; t < L; t++) for (int64_t c = 0; c < C; c++) k[t * C + c] = kt[c * L + t];
	hyrt_hyena_conv_fft(y, v, vs, g, gs, k, bias, post, ps, B, L, C);
	free(kt); free(k);
}
