/*
 * tiny_check.c - the CUDA runtime's plan interpreter end to end on a GPU,
 * through the hand-written model of tiny_model.h: every entry (forward,
 * logits, pooled, hidden_states) at lengths 1, 5, 13 (an FFT length that
 * is no power of two) and 64, batches 1 and 3, against the reference
 * computed on the host; each case twice (the second call runs on the
 * kept filter spectra and cached cuFFT plans). Exit 0 when all agree,
 * 1 when one does not (what and where on stderr), 77 with "skipped: no
 * CUDA device" when there is no driver or no device (ctest counts that
 * as skipped).
 * It needs no LLVM, so it runs on a GPU machine that has none:
 *   gpu_tiny_check [--driver LIB --cufft LIB] [--memory BYTES] [DEVICE]
 * --driver and --cufft set HYENAC_CUDA_DRIVER and HYENAC_CUFFT (the
 * tests' fake ones run it on this machine), --memory HYENAC_GPU_MEMORY,
 * which makes the passes and chunks smaller.
 */
#include "tiny_model.h"

#include "runtime/cuda/gpurt.h"
#include "runtime/hyrt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void compare(const char *what, const float *got, const float *want,
                    size_t n, int64_t B, int64_t L)
{
	double worst = 0;
	size_t at = 0;

	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)got[i] - (double)want[i]);
		if (!(e <= worst)) {
			worst = isnan(e) ? INFINITY : e;
			at = i;
		}
	}
	if (worst > 1e-4) {
		fprintf(stderr, "gpu_tiny_check: %s at B=%lld L=%lld: element %zu "
		        "is %g, want %g (|diff| %g)\n", what, (long long)B,
		        (long long)L, at, got[at], want[at], worst);
		failures++;
	}
}

int main(int argc, char **argv)
{
	static float w[TINY_WFLOATS];
	char msg[1024];
	int64_t dev = 0;

	for (int i = 1; i < argc; i++) {
		static const char *const opt[][2] = {
		    {"--driver", "HYENAC_CUDA_DRIVER"},
		    {"--cufft", "HYENAC_CUFFT"},
		    {"--memory", "HYENAC_GPU_MEMORY"}};
		bool known = false;
		for (int j = 0; j < 3; j++)
			if (strcmp(argv[i], opt[j][0]) == 0 && i + 1 < argc) {
				setenv(opt[j][1], argv[++i], 1);
				known = true;
			}
		if (!known)
			dev = atoll(argv[i]);
	}

	tiny_weights(w);
	HyrtGpuStatus st = hyrt_gpu_start(w, sizeof w, dev, msg, sizeof msg);
	if (st == HYRT_GPU_NO_DEVICE) {
		printf("skipped: no CUDA device (%s)\n", msg);
		return 77;
	}
	if (st != HYRT_GPU_OK) {
		fprintf(stderr, "gpu_tiny_check: %s\n", msg);
		return 1;
	}
	static const int64_t Ls[] = {1, 5, 13, 64, 13};
	enum { BMAX = 3, LMAX = TINY_MAXLEN, D = TINY_D, V = TINY_V };
	static int32_t tok[BMAX * LMAX];
	static float h[BMAX * LMAX * D], lg[BMAX * LMAX * V], mean[BMAX * D],
	    last[BMAX * D];
	static float rh[BMAX * LMAX * D], rl[BMAX * LMAX * V], rm[BMAX * D],
	    rlast[BMAX * D];
	uint64_t s = 12345;
	for (int i = 0; i < BMAX * LMAX; i++) {
		s = s * 6364136223846793005u + 1442695040888963407u;
		tok[i] = (int32_t)((s >> 33) % TINY_VOCAB);
	}
	for (size_t li = 0; li < sizeof Ls / sizeof Ls[0]; li++)
		for (int64_t B = 1; B <= BMAX; B += 2)
			for (int rep = 0; rep < 2; rep++) {
				int64_t L = Ls[li];
				size_t nh = (size_t)(B * L * D), nl = (size_t)(B * L * V);
				tiny_reference(w, tok, B, L, rh, rl, rm, rlast);
				float *both[2] = {h, lg}, *only_l[2] = {NULL, lg},
				      *only_h[2] = {h, NULL};
				hyenac_run(w, tok, B, L, both, NULL);
				compare("forward hidden", h, rh, nh, B, L);
				compare("forward logits", lg, rl, nl, B, L);
				for (size_t i = 0; i < nl; i++)
					lg[i] = NAN;
				hyenac_run(w, tok, B, L, only_l, NULL); /* entry logits */
				compare("entry logits", lg, rl, nl, B, L);
				for (size_t i = 0; i < nh; i++)
					h[i] = NAN;
				hyenac_run(w, tok, B, L, only_h, NULL);
				compare("forward hidden alone", h, rh, nh, B, L);
				if (!hyenac_run_pooled(w, tok, B, L, mean, last, NULL)) {
					fprintf(stderr, "gpu_tiny_check: no pooled entry\n");
					failures++;
				}
				compare("pooled mean", mean, rm, (size_t)(B * D), B, L);
				compare("pooled last", last, rlast, (size_t)(B * D), B, L);
				static float x[BMAX * LMAX * D], rx[BMAX * LMAX * D];
				float *states[2] = {x, h};
				tiny_embeddings(w, tok, B, L, rx);
				if (hyenac_run_hidden(w, tok, B, L, states, NULL) != 2) {
					fprintf(stderr, "gpu_tiny_check: no hidden_states\n");
					failures++;
				}
				compare("hidden state 0", x, rx, nh, B, L);
				compare("hidden state 1", h, rh, nh, B, L);
			}
	HyrtGpuStats gs;
	hyrt_gpu_stats(&gs);
	printf("gpu_tiny_check: %s: %s; peak %lld bytes held, spectra kept "
	       "%lld bytes\n", hyrt_gpu_device_desc(),
	       failures ? "FAILED" : "all cases agree", (long long)gs.peak_bytes,
	       (long long)gs.spectra);
	return failures ? 1 : 0;
}
