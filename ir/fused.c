/*
 * fused.c - small facts about the fused ops that several modules share
 * (infer, interp, codegen, passes/fuse.c): where fused_proj, gated_conv
 * and fused_mlp keep each of their optional sources, and how unary activations map to its `act` code.
 * The ops themselves are defined in ops.def; passes/fuse.c makes them.
 */
#include "ir.h"

#include <string.h>

void ir_fp_srcs(const Node *n, FpSrc *s)
{
	int i = 0;

	HY_ASSERT(n->op == OP_FUSED_PROJ);
	s->x = i++;
	s->w = i++;
	s->bias = n->iattr[FP_BIAS] ? i++ : -1;
	s->ln_g = n->iattr[FP_LN] ? i++ : -1;
	s->ln_b = n->iattr[FP_LN] ? i++ : -1;
	s->conv_w = n->iattr[FP_CONV] ? i++ : -1;
	s->conv_b = n->iattr[FP_CONV] && n->iattr[FP_CONV_BIAS] ? i++ : -1;
	s->res = n->iattr[FP_RES] ? i++ : -1;
	s->nsrc = i;
}

int64_t ir_fp_rows(const Node *n)
{
	FpSrc fs;
	ir_fp_srcs(n, &fs);
	return n->iattr[FP_ROWS] ? n->iattr[FP_ROWS] : n->src[fs.w]->type.dim[0];
}

/* gated_conv(v, g?, k | h w t deltas, bias, post?): g is there unless
 * pregated, the filter's last layer in place of k when gen. */
void ir_gc_srcs(const Node *n, GcSrc *s)
{
	int i = 0;

	HY_ASSERT(n->op == OP_GATED_CONV);
	bool gen = n->iattr[GC_GEN] != 0;
	s->v = i++;
	s->g = n->iattr[GC_PREGATED] ? -1 : i++;
	s->k = gen ? -1 : i++;
	s->h = gen ? i++ : -1;
	s->w = gen ? i++ : -1;
	s->t = gen ? i++ : -1;
	s->deltas = gen ? i++ : -1;
	s->bias = i++;
	s->post = n->nsrc > i ? i++ : -1;
	s->nsrc = i;
}

void ir_cs_srcs(const Node *n, CsSrc *s)
{
	int i = 0;

	HY_ASSERT(n->op == OP_CONV_STEP);
	s->v = i++;
	s->g = n->iattr[CS_PREGATED] ? -1 : i++;
	s->k = i++;
	s->bias = i++;
	s->post = n->iattr[CS_POST] ? i++ : -1;
	s->hist = i++;
	s->nsrc = i;
}

void ir_fm_srcs(const Node *n, FmSrc *s)
{
	int i = 0;

	HY_ASSERT(n->op == OP_FUSED_MLP);
	s->x = i++;
	s->w1 = i++;
	s->b1 = n->iattr[FM_BIAS] ? i++ : -1;
	s->ln_g = n->iattr[FM_LN] ? i++ : -1;
	s->ln_b = n->iattr[FM_LN] ? i++ : -1;
	s->w2 = i++;
	s->b2 = n->iattr[FM_BIAS2] ? i++ : -1;
	s->res = n->iattr[FM_RES] ? i++ : -1;
	s->nsrc = i;
}

bool ir_proj_slot(const Node *n, int k)
{
	switch (n->op) {
	case OP_LINEAR:
		return k == 1;
	case OP_FUSED_PROJ: {
		FpSrc fs;
		ir_fp_srcs(n, &fs);
		return k == fs.w;
	}
	case OP_FUSED_MLP: {
		FmSrc fs;
		ir_fm_srcs(n, &fs);
		return k == fs.w1 || k == fs.w2;
	}
	case OP_SIN_LINEAR:
		return k == 1;
	default:
		return false;
	}
}

bool ir_bf16_slot(const Graph *g, const Node *n, int k)
{
	const Node *w = n->src[k];
	return g->bf16 && ir_proj_slot(n, k) && w->op == OP_WEIGHT &&
	       w->type.rank == 2 && n->type.rank >= 2 && n->type.dim[0] == DIM_B;
}

double ir_bf16_round(double x)
{
	float f = (float)x;
	uint32_t u;

	if (f != f)
		return x;
	memcpy(&u, &f, sizeof u);
	u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
	memcpy(&f, &u, sizeof f);
	return f;
}

FpAct ir_fp_act_of(OpKind op)
{
	switch (op) {
	case OP_GELU_TANH:
		return FP_ACT_GELU_TANH;
	case OP_GELU:
		return FP_ACT_GELU;
	case OP_RELU:
		return FP_ACT_RELU;
	default:
		return FP_ACT_NONE;
	}
}
