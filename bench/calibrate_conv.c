/*
 * calibrate_conv.c - measure the two long-convolution kernels hyenac
 * generates (direct, and FFT through the runtime) on this machine and fit
 * the cost model that passes/convsel.c uses:
 *
 *   direct(L, C) = C * L(L+1)/2 * DIRECT_NS_PER_MAC
 *   fft(L, C)    = C * (N log2 N * FFT_NS_PER_NLOGN + N * FFT_NS_PER_POINT)
 *
 * with N the FFT size the runtime picks for L. The kernels are the real
 * generated ones: a one-op graph compiled through cg_emit and the JIT.
 * Prints a C header on stdout; bench/calibrate-conv.sh writes it to
 * passes/convsel_model.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/codegen.h"

typedef void (*RunFn)(const float *, const int32_t *, int64_t, int64_t,
                      float *const *, void *);
typedef size_t (*ScratchFn)(int64_t, int64_t);

enum { C = 128, LMAX = 4096 };

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int64_t fft_size(int64_t n) /* as runtime/fftconv.c */
{
	for (int64_t m = 2 * n;; m++) {
		int64_t r = m;
		static const int p[] = {2, 3, 5, 7};
		for (int i = 0; i < 4; i++)
			while (r % p[i] == 0)
				r /= p[i];
		if (r == 1)
			return m;
	}
}

/* Median seconds of one forward of longconv at length L. */
static double time_conv(int method, int64_t L)
{
	Arena *a = arena_new();
	Diag d;
	Graph *g = ir_graph_new(a, "conv");
	float *emb = malloc(16 * C * sizeof *emb), *k = malloc(LMAX * C * 4);
	diag_init(&d);
	for (int i = 0; i < 16 * C; i++)
		emb[i] = (float)((i * 7919LL) % 1000) / 1000.0f;
	for (int i = 0; i < LMAX * C; i++)
		k[i] = (float)((i * 104729LL) % 1000) / 1000.0f;
	g->max_len = LMAX;
	Node *tok = ir_add(g, OP_INPUT, "tokens", 0, NULL);
	tok->type = (TensorType){DT_I32, 2, {DIM_B, DIM_L}};
	Node *ew = ir_add(g, OP_WEIGHT, "e", 0, NULL);
	ew->type = (TensorType){DT_F32, 2, {16, C}};
	ew->sattr = "e";
	ew->data = emb;
	Node *kw = ir_add(g, OP_WEIGHT, "k", 0, NULL);
	kw->type = (TensorType){DT_F32, 2, {LMAX, C}};
	kw->sattr = "k";
	kw->data = k;
	Node *u = ir_add(g, OP_EMBED, "u", 2, (Node *[]){ew, tok});
	Node *kl = ir_add(g, OP_SLICE, "kl", 1, (Node *[]){kw});
	kl->iattr[2] = DIM_L;
	Node *y = ir_add(g, OP_LONGCONV, "y", 2, (Node *[]){u, kl});
	y->iattr[0] = method;
	ir_add_output(g, "y", y);
	if (!ir_infer_graph(g, &d)) {
		fprintf(stderr, "calibrate: %s\n", d.msg);
		exit(1);
	}
	CgWeights w;
	cg_layout_weights(g, a, &w);
	CgOptions o = {NULL, NULL, method == 1 ? CG_CONV_FFT : CG_CONV_DIRECT,
	               LMAX, 3};
	CgJit *j = cg_jit(cg_emit(g, &w, &o, NULL, &d), &d);
	if (!j) {
		fprintf(stderr, "calibrate: %s\n", d.msg);
		exit(1);
	}
	RunFn run = (RunFn)cg_jit_lookup(j, "hyenac_run");
	ScratchFn sb = (ScratchFn)cg_jit_lookup(j, "hyenac_scratch_bytes");
	void *blob = aligned_alloc(64, (w.bytes + 63) / 64 * 64);
	void *scratch = aligned_alloc(64, (sb(1, L) + 63) / 64 * 64 + 64);
	float *out = malloc((size_t)L * C * sizeof *out);
	int32_t *t = malloc((size_t)L * sizeof *t);
	for (int64_t i = 0; i < L; i++)
		t[i] = (int32_t)(i % 16);
	cg_pack_weights(g, &w, blob);
	double times[15];
	int reps = L <= 256 ? 15 : 5;
	run(blob, t, 1, L, &out, scratch); /* warm-up, plans */
	for (int r = 0; r < reps; r++) {
		double t0 = now();
		run(blob, t, 1, L, &out, scratch);
		times[r] = now() - t0;
	}
	for (int i = 1; i < reps; i++) /* insertion sort: tiny */
		for (int k2 = i; k2 > 0 && times[k2] < times[k2 - 1]; k2--) {
			double x = times[k2];
			times[k2] = times[k2 - 1];
			times[k2 - 1] = x;
		}
	cg_jit_free(j);
	free(blob), free(scratch), free(out), free(t), free(emb), free(k);
	arena_free(a);
	return times[reps / 2];
}

int main(void)
{
	static const int64_t lens[] = {4, 8, 16, 32, 64, 128, 256, 512, 1024,
	                               2048, 4096};
	enum { NL = sizeof lens / sizeof lens[0] };
	double td[NL], tf[NL];
	/* direct: least squares through the origin on macs */
	double sxy = 0, sxx = 0;
	/* fft: two-term least squares on (N log N, N) */
	double a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0;

	for (int i = 0; i < NL; i++) {
		int64_t L = lens[i];
		td[i] = L <= 2048 ? time_conv(2, L) : -1;
		tf[i] = time_conv(1, L);
		double macs = (double)C * (double)L * (double)(L + 1) / 2;
		if (td[i] > 0) {
			sxy += macs * td[i] / (macs * macs);
			sxx += 1;
		}
		double N = (double)fft_size(L);
		double x1 = C * N * log2(N), x2 = C * N;
		/* weight each point by 1/t^2 (relative error) */
		double wgt = 1.0 / (tf[i] * tf[i]);
		a11 += wgt * x1 * x1, a12 += wgt * x1 * x2, a22 += wgt * x2 * x2;
		b1 += wgt * x1 * tf[i], b2 += wgt * x2 * tf[i];
		fprintf(stderr, "L=%5lld direct %10.1f us  fft %10.1f us\n",
		        (long long)L, td[i] > 0 ? td[i] * 1e6 : NAN, tf[i] * 1e6);
	}
	double cd = sxy / sxx * 1e9; /* mean ns per MAC over the lengths */
	double det = a11 * a22 - a12 * a12;
	double cf = (b1 * a22 - b2 * a12) / det * 1e9;
	double c0 = (a11 * b2 - a12 * b1) / det * 1e9;
	if (cf < 0)
		cf = 0;
	if (c0 < 0)
		c0 = 0;
	printf("/* Generated by bench/calibrate-conv.sh: do not edit. The cost\n"
	       " * model of passes/convsel.c, fitted to the generated direct\n"
	       " * kernel and the runtime's FFT convolution (C = %d channels).\n"
	       " * Measured (microseconds per forward, B = 1):\n", C);
	for (int i = 0; i < NL; i++)
		printf(" *   L=%-5lld direct %10.1f   fft %10.1f\n",
		       (long long)lens[i], td[i] > 0 ? td[i] * 1e6 : NAN,
		       tf[i] * 1e6);
	printf(" */\n#define CONVSEL_DIRECT_NS_PER_MAC %.6g\n"
	       "#define CONVSEL_FFT_NS_PER_NLOGN %.6g\n"
	       "#define CONVSEL_FFT_NS_PER_POINT %.6g\n", cd, cf, c0);
	return 0;
}
