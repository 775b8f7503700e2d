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
 * kind of machine and commit the result.
 *
 * This pass is the one place the method is decided (ConvMethod, ir/ir.h):
 * it writes it into the longconv's (or gated_conv's) `method`, where
 * --print-after=convsel shows it, and codegen emits what it says. The
 * choice is made at the compiled length, Graph.max_len, the longest run
 * the binary takes and so the one its time is bounded by; one method per
 * convolution, not a switch by run length, because the generated-filter
 * form of passes/fuse.c exists only for the FFT. A graph with no compiled
 * length (max_len 0) takes the FFT, since direct's cost grows without
 * bound. Both kernels compute the same function, which the tests check,
 * so the choice only moves time. PassOptions.conv (--conv=fft|direct)
 * overrides the model for every convolution but a generated-filter one,
 * which is the FFT by construction. On a GPU (PassOptions.gpu) every
 * convolution takes the FFT: the GPU target has no direct kernel.
 */
#include "passes.h"

#include "runtime/hyrt.h"

#include <math.h>

#include "convsel_model.h"

double pass_conv_cost(ConvMethod method, int64_t L, int64_t C)
{
	if (method == CONV_DIRECT)
		return (double)C * (double)L * (double)(L + 1) / 2 *
		       CONVSEL_DIRECT_NS_PER_MAC;
	double N = (double)hyrt_fft_size(L);
	return (double)C * (N * log2(N) * CONVSEL_FFT_NS_PER_NLOGN +
	                    N * CONVSEL_FFT_NS_PER_POINT);
}

/* The model's method for C channels at compiled length L (0: unbounded). */
static ConvMethod choose(int64_t L, int64_t C)
{
	if (L <= 0)
		return CONV_FFT;
	return pass_conv_cost(CONV_DIRECT, L, C) <=
	               pass_conv_cost(CONV_FFT, L, C)
	           ? CONV_DIRECT
	           : CONV_FFT;
}

bool pass_convsel(Graph *g, const PassOptions *o, Diag *d, bool *changed)
{
	*changed = false;
	for (int i = 0; i < g->nnodes; i++) {
		Node *n = g->nodes[i];
		ConvMethod m;
		if (n->op == OP_GATED_CONV && n->iattr[GC_GEN])
			continue;
		if (n->op != OP_LONGCONV && n->op != OP_GATED_CONV)
			continue;
		if (o->gpu)
			m = CONV_FFT;
		else if (o->conv != CONV_AUTO)
			m = o->conv;
		else if (n->iattr[0] == CONV_AUTO)
			m = choose(g->max_len, n->type.dim[2]);
		else
			continue;
		if (n->iattr[0] != m) {
			n->iattr[0] = m;
			*changed = true;
		}
	}
	return true;
}
