/*
 * weights.c - the packed weight blob: every weight node's offset
 * (CG_WEIGHT_ALIGN-aligned, node order) and, for the matrices the
 * projection kernels read, a second copy in GEMM panels (gemm.c). Runs
 * at compile time, on the host; it emits no IR.
 */
#include "cpu.h"

#include <stdlib.h>

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

/* Weights that projection kernels read as the matrix of x w^T: these
 * also get a copy in GEMM panels (gemm_rows). */
static void mark_projected(const Graph *g, bool *proj)
{
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (n->op == OP_LINEAR)
			proj[n->src[1]->id] = true;
		if (n->op == OP_FUSED_PROJ) {
			FpSrc fs;
			ir_fp_srcs(n, &fs);
			proj[n->src[fs.w]->id] = true;
		}
		if (n->op == OP_FUSED_MLP) {
			FmSrc fs;
			ir_fm_srcs(n, &fs);
			proj[n->src[fs.w1]->id] = proj[n->src[fs.w2]->id] = true;
		}
	}
}

/* Floats of w[N,K]'s panel copy: ceil(N/GEMM_NR) panels of K x GEMM_NR. */
static size_t panel_floats(const Node *n)
{
	int64_t N = n->type.dim[0], K = n->type.dim[1];
	return (size_t)((N + GEMM_NR - 1) / GEMM_NR) * (size_t)K * GEMM_NR;
}

static void layout(const Graph *g, Arena *a, CgWeights *w, bool panels);

void cg_layout_weights(const Graph *g, Arena *a, CgWeights *w)
{
	layout(g, a, w, true);
}

void cg_layout_weights_flat(const Graph *g, Arena *a, CgWeights *w)
{
	layout(g, a, w, false);
}

static void layout(const Graph *g, Arena *a, CgWeights *w, bool panels)
{
	size_t at = 0;
	bool *proj = arena_alloc(a, ((size_t)g->nnodes + 1) * sizeof *proj);

	memset(proj, 0, ((size_t)g->nnodes + 1) * sizeof *proj);
	if (panels)
		mark_projected(g, proj);
	w->offset = arena_alloc(a, ((size_t)g->nnodes + 1) * sizeof *w->offset);
	w->panels = arena_alloc(a, ((size_t)g->nnodes + 1) * sizeof *w->panels);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		size_t numel;

		w->offset[i] = w->panels[i] = SIZE_MAX;
		if (n->op != OP_WEIGHT)
			continue;
		HY_ASSERT(ir_type_numel(&n->type, 0, 0, &numel));
		at = align_up(at, CG_WEIGHT_ALIGN);
		w->offset[i] = at;
		at += numel * sizeof(float);
		if (proj[i] && n->type.rank == 2) {
			at = align_up(at, CG_WEIGHT_ALIGN);
			w->panels[i] = at;
			at += panel_floats(n) * sizeof(float);
		}
	}
	w->bytes = align_up(at, CG_WEIGHT_ALIGN);
}

void cg_pack_weights(const Graph *g, const CgWeights *w, void *blob)
{
	memset(blob, 0, w->bytes);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		size_t numel;

		if (n->op != OP_WEIGHT)
			continue;
		HY_ASSERT(n->data && w->offset[i] != SIZE_MAX);
		HY_ASSERT(ir_type_numel(&n->type, 0, 0, &numel));
		memcpy((char *)blob + w->offset[i], n->data,
		       numel * sizeof(float));
		if (w->panels[i] == SIZE_MAX)
			continue;
		/* panel p, row k, lane j: w[p*NR + j, k] (zero past N) */
		int64_t N = n->type.dim[0], K = n->type.dim[1];
		float *pp = (float *)((char *)blob + w->panels[i]);
		for (int64_t r = 0; r < N; r++)
			for (int64_t k = 0; k < K; k++)
				pp[(r / GEMM_NR * K + k) * GEMM_NR + r % GEMM_NR] =
				    n->data[r * K + k];
	}
}

