/*
 * convsel.c - choose, per long convolution, the direct kernel or the FFT
 * through FFTW, from a cost model on the compiled length and the channel
 * count:
 *
 *   direct(L, C) = C * L(L+1)/2 * DIRECT_NS_PER_MAC
 *   fft(L, C)    = C * (N log2 N * FFT_NS_PER_NLOGN + N * FFT_NS_PER_POINT)
 *
 * N is the FFT size the runtime uses for L (the smallest 2^a 3^b 5^c 7^d
 * >= 2L). The constants were measured on this project's machines by
 * bench/calibrate-conv.sh, which writes convsel_model.h; rerun it on a new
 * kind of machine and commit the result. The choice is made at the
 * compiled length (Graph.max_len) and fixed in the longconv's `method`
 * (1 = FFT, 2 = direct); both kernels compute the same function, which
 * the tests check, so the choice only moves time. A graph with no
 * compiled length keeps method 0 (chosen at run time by length).
 * PassOptions.conv (--conv=fft|direct) overrides the model for every
 * convolution that is still method 0.
 */
#include "passes.h"

#include "runtime/hyrt.h"

#include <math.h>

#include "convsel_model.h"

double pass_conv_cost(int method, int64_t L, int64_t C)
{
	if (method == CONV_DIRECT)
		return (double)C * (double)L * (double)(L + 1) / 2 *
		       CONVSEL_DIRECT_NS_PER_MAC;
	double N = (double)hyrt_fft_size(L);
	return (double)C * (N * log2(N) * CONVSEL_FFT_NS_PER_NLOGN +
	                    N * CONVSEL_FFT_NS_PER_POINT);
}

bool pass_convsel(Graph *g, const PassOptions *o, Diag *d, bool *changed)
{
	*changed = false;
	if (g->max_len <= 0 && o->conv == CONV_AUTO)
		return true;
	for (int i = 0; i < g->nnodes; i++) {
		Node *n = g->nodes[i];
		if (n->op != OP_LONGCONV || n->iattr[0] != CONV_AUTO)
			continue;
		int64_t C = n->type.dim[2];
		if (o->conv != CONV_AUTO) {
			n->iattr[0] = o->conv;
			*changed = true;
			continue;
		}
		n->iattr[0] = pass_conv_cost(CONV_DIRECT, g->max_len, C) <=
		                      pass_conv_cost(CONV_FFT, g->max_len, C)
		                  ? CONV_DIRECT
		                  : CONV_FFT;
		*changed = true;
	}
	return true;
}
