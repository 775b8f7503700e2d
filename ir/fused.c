/*
 * fused.c - small facts about the fused ops that several modules share
 * (infer, interp, codegen, passes/fuse.c): where fused_proj keeps each of
 * its optional sources, and how unary activations map to its `act` code.
 * The ops themselves are defined in ops.def; passes/fuse.c makes them.
 */
#include "ir.h"

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
