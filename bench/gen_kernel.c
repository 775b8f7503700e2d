/*
 * gen_kernel.c - the decode step's long convolutions alone: what
 * dominates `generate`'s per-token time at a long context. hyrt_conv_step
 * (runtime/gen.c, compiled in here as the runtime compiles it) over
 * n_layer histories and filters of context+steps positions, one sample,
 * one thread, at positions context .. context+steps-1 after a prefill
 * of `context` (each step then sums over the generated positions only:
 * the prefill keeps the prompt's part of each output); prints the
 * median per token, the bytes each token reads and the bandwidth that
 * makes. Built
 * statically by bench/gen-latency --kernel-only so that it runs on a
 * machine without hyenac's toolchain.
 *
 *   gen_kernel [context 16000] [D 256] [n_layer 4] [steps 33]
 */
#include "runtime/hyrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* one thread: the pool is not linked */
void hyrt_parallel_for(HyrtRowsFn fn, void *ctx, int64_t n, int64_t grain)
{
	(void)grain;
	fn(ctx, 0, n);
}

int hyrt_get_threads(void)
{
	return 1;
}

/* the prefill's FFT (fftconv.c) is not linked: hyrt_state_save, which
 * calls it, is not run here */
void hyrt_conv_carry(float *out, const float *v, int64_t vs, const float *g,
                     int64_t gs, const float *k, int64_t B, int64_t P,
                     int64_t R, int64_t C)
{
	(void)out, (void)v, (void)vs, (void)g, (void)gs, (void)k, (void)B;
	(void)P, (void)R, (void)C;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int64_t ctx = argc > 1 ? atoll(argv[1]) : 16000;
	int64_t D = argc > 2 ? atoll(argv[2]) : 256;
	int64_t NL = argc > 3 ? atoll(argv[3]) : 4;
	int64_t steps = argc > 4 ? atoll(argv[4]) : 33;
	int64_t R = ctx + steps;
	float **k = malloc((size_t)NL * sizeof *k), **h = malloc((size_t)NL *
	                                                          sizeof *h);
	float *v = malloc((size_t)(3 * D) * sizeof *v), *y = malloc((size_t)D *
	                                                            sizeof *y);
	double *ms = malloc((size_t)steps * sizeof *ms);

	for (int64_t l = 0; l < NL; l++) {
		k[l] = malloc((size_t)(R * D) * sizeof(float));
		h[l] = malloc((size_t)((R + 1) * D) * sizeof(float));
		for (int64_t i = 0; i < R * D; i++) {
			k[l][i] = (float)((i * 7 + l) % 13) * 0.01f;
			h[l][i] = (float)((i * 3 + l) % 11) * 0.01f;
		}
		/* the last row: the prompt length (hyrt_conv_carry's layout) */
		for (int64_t i = 0; i < D; i++)
			h[l][R * D + i] = i ? 0.0f : (float)ctx;
	}
	for (int64_t i = 0; i < 3 * D; i++)
		v[i] = 0.5f;
	for (int64_t s = 0; s < steps; s++) {
		double t0 = now_ms();
		for (int64_t l = 0; l < NL; l++)
			hyrt_conv_step(y, v + D, 3 * D, NULL, 0, k[l], v, v, 3 * D, h[l],
			               1, ctx + s, D, R + 1);
		ms[s] = now_ms() - t0;
	}
	qsort(ms, (size_t)steps, sizeof *ms, cmp);
	double bytes = 2.0 * 4 * (double)NL * (double)(steps / 2 + 1) *
	               (double)D;
	printf("conv_step context=%lld D=%lld n_layer=%lld: median %.3f ms "
	       "per token (min %.3f), %.1f MB read per token, %.2f GB/s\n",
	       (long long)ctx, (long long)D, (long long)NL, ms[steps / 2], ms[0],
	       bytes / 1e6, bytes / ms[steps / 2] / 1e6);
	return (int)(y[0] == 12345.0f);
}
