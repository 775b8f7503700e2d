/*
 * weights.c - the packed weight blob: every weight node's offset
 * (CG_WEIGHT_ALIGN-aligned, node order) and, for the matrices the
 * projection kernels read, a copy in GEMM panels (gemm.c): fp32 ones,
 * or, for the projections a bf16 graph runs in bf16, bf16 pairs (and
 * then no fp32 original when nothing else reads it, so such a matrix
 * takes a quarter of the bytes). Runs at compile time, on the host; it
 * emits no IR.
 */
#include "cpu.h"

#include <stdlib.h>

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

/* How the kernels read each weight: PROJ_F32 set where some kernel
 * reads it as the matrix of an fp32 projection (an fp32 panel copy),
 * PROJ_BF16 where a bf16 one does (ir_bf16_slot: a bf16 panel copy),
 * PROJ_PLAIN where anything reads it otherwise (its original, in fp32:
 * an embedding table tied to the head, a decode step's tail
 * projection, a filter). */
enum { PROJ_F32 = 1, PROJ_BF16 = 2, PROJ_PLAIN = 4 };

static void mark_readers(const Graph *g, unsigned char *how)
{
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		for (int k = 0; k < n->nsrc; k++) {
			const Node *w = n->src[k];
			if (w->op != OP_WEIGHT)
				continue;
			if (ir_bf16_slot(g, n, k))
				how[w->id] |= PROJ_BF16;
			else if (ir_proj_slot(n, k) && w->type.rank == 2)
				how[w->id] |= PROJ_F32;
			else
				how[w->id] |= PROJ_PLAIN;
		}
	}
}

/* Floats of w[N,K]'s panel copy: ceil(N/GEMM_NR) panels of K x GEMM_NR. */
static size_t panel_floats(const Node *n)
{
	int64_t N = n->type.dim[0], K = n->type.dim[1];
	return (size_t)((N + GEMM_NR - 1) / GEMM_NR) * (size_t)K * GEMM_NR;
}

/* 32-bit words of its bf16 panels: cg_bf16_pairs(K) pairs a panel. */
static size_t bpanel_words(const Node *n)
{
	int64_t N = n->type.dim[0], K = n->type.dim[1];
	return (size_t)((N + GEMM_NR - 1) / GEMM_NR) *
	       (size_t)cg_bf16_pairs(K) * GEMM_NR;
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

/* With panels, each weight as its readers need it (mark_readers); flat
 * (the GPU target), every weight as it is and nothing else. */
static void layout(const Graph *g, Arena *a, CgWeights *w, bool panels)
{
	size_t at = 0, nn = (size_t)g->nnodes + 1;
	unsigned char *how = arena_alloc(a, nn);

	memset(how, 0, nn);
	if (panels)
		mark_readers(g, how);
	w->offset = arena_alloc(a, nn * sizeof *w->offset);
	w->panels = arena_alloc(a, nn * sizeof *w->panels);
	w->bpanels = arena_alloc(a, nn * sizeof *w->bpanels);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		size_t numel;

		w->offset[i] = w->panels[i] = w->bpanels[i] = SIZE_MAX;
		if (n->op != OP_WEIGHT)
			continue;
		HY_ASSERT(ir_type_numel(&n->type, 0, 0, &numel));
		/* the original, unless only bf16 projections read it */
		if (how[i] != PROJ_BF16) {
			at = align_up(at, CG_WEIGHT_ALIGN);
			w->offset[i] = at;
			at += numel * sizeof(float);
		}
		if (how[i] & PROJ_F32) {
			at = align_up(at, CG_WEIGHT_ALIGN);
			w->panels[i] = at;
			at += panel_floats(n) * sizeof(float);
		}
		if (how[i] & PROJ_BF16) {
			at = align_up(at, CG_WEIGHT_ALIGN);
			w->bpanels[i] = at;
			at += bpanel_words(n) * sizeof(uint32_t);
		}
	}
	w->bytes = align_up(at, CG_WEIGHT_ALIGN);
}

/* x rounded to the nearest bf16, ties to even, as its 16 bits (the
 * interpreter's ir_bf16_round and the GEMM's rounding of activations). */
static uint32_t bf16_bits(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	if (x != x)
		return (u >> 16) | 0x40u; /* quiet NaN */
	return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

void cg_pack_weights(const Graph *g, const CgWeights *w, void *blob)
{
	memset(blob, 0, w->bytes);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		size_t numel;

		if (n->op != OP_WEIGHT)
			continue;
		HY_ASSERT(n->data);
		HY_ASSERT(ir_type_numel(&n->type, 0, 0, &numel));
		if (w->offset[i] != SIZE_MAX)
			memcpy((char *)blob + w->offset[i], n->data,
			       numel * sizeof(float));
		int64_t N = n->type.dim[0], K = n->type.dim[1];
		if (w->panels[i] != SIZE_MAX) {
			/* panel p, row k, lane j: w[p*NR + j, k] (zero past N) */
			float *pp = (float *)((char *)blob + w->panels[i]);
			for (int64_t r = 0; r < N; r++)
				for (int64_t k = 0; k < K; k++)
					pp[(r / GEMM_NR * K + k) * GEMM_NR + r % GEMM_NR] =
					    n->data[r * K + k];
		}
		if (w->bpanels[i] != SIZE_MAX) {
			/* panel p, pair q, lane j: w[p*NR + j, 2q] in the low
			 * half, w[p*NR + j, 2q + 1] in the high (zero past N, K) */
			int64_t KP = cg_bf16_pairs(K);
			uint32_t *pp = (uint32_t *)((char *)blob + w->bpanels[i]);
			for (int64_t r = 0; r < N; r++)
				for (int64_t k = 0; k < K; k++)
					pp[(r / GEMM_NR * KP + k / 2) * GEMM_NR + r % GEMM_NR] |=
					    bf16_bits(n->data[r * K + k]) << (16 * (k % 2));
		}
	}
}

