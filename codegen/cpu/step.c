/*
 * step.c - the generation ops (ops.def: state_save, short_step,
 * conv_step) as calls of the runtime's kernels (runtime/gen.c): each
 * reads one position per sample, or writes the state a prefill leaves,
 * so there is no tile to shape here; the runtime spreads conv_step's
 * channels over the pool. The operands' channel windows are resolved
 * to pointers here, as cg_call_hyena_fft does. In a step op's kernel
 * the L argument is the step's position (entry.c passes it).
 */
#include "cpu.h"

void cg_call_step(CgContext *c, const Node *n, LLVMValueRef out,
                  LLVMValueRef *s)
{
	LLVMValueRef null = LLVMConstPointerNull(c->t_ptr), zero = i64c(c, 0);
	LLVMValueRef xs, gs = zero, ps = zero, g = null, p = null;

	switch (n->op) {
	case OP_STATE_SAVE: {
		/* x, g?, and the filter k last for a history (tail=0) */
		int nx = n->nsrc - (n->iattr[SS_TAIL] ? 0 : 1);
		LLVMValueRef x = cg_window(c, n, s, 0, n->iattr[SS_X_OFF], &xs);
		if (nx > 1)
			g = cg_window(c, n, s, 1, n->iattr[SS_G_OFF], &gs);
		LLVMValueRef a[] = {out, x, xs, g, gs,
		                    n->iattr[SS_TAIL] ? null : s[nx], c->B, c->L,
		                    i64c(c, n->type.dim[1]), i64c(c, n->type.dim[2]),
		                    i64c(c, n->iattr[SS_TAIL])};
		cg_call_ext(c, EXT_STATE_SAVE, a, 11);
		return;
	}
	case OP_TAIL_PROJ: {
		int i = 2;
		LLVMValueRef bias = n->iattr[TP_BIAS] ? s[i++] : null;
		LLVMValueRef lg = n->iattr[TP_LN] ? s[i++] : null;
		LLVMValueRef lb = n->iattr[TP_LN] ? s[i] : null;
		LLVMValueRef a[] = {out, s[0], s[1], bias, lg, lb,
		                    f32c(c, n->fattr[0]), c->B, c->L,
		                    i64c(c, n->type.dim[1]),
		                    i64c(c, n->src[0]->type.dim[2]),
		                    i64c(c, n->type.dim[2])};
		cg_call_ext(c, EXT_TAIL_PROJ, a, 12);
		return;
	}
	case OP_SHORT_STEP: {
		const TensorType *y = &n->src[0]->type, *w = &n->src[1]->type;
		LLVMValueRef a[] = {out, s[0], s[1],
		                    n->iattr[SH_CONV_BIAS] ? s[2] : null,
		                    s[n->nsrc - 1], c->B, c->L, i64c(c, y->dim[2]),
		                    i64c(c, w->dim[1]), i64c(c, n->iattr[SH_GATE])};
		cg_call_ext(c, EXT_SHORT_STEP, a, 10);
		return;
	}
	case OP_CONV_STEP: {
		CsSrc cs;
		ir_cs_srcs(n, &cs);
		LLVMValueRef v = cg_window(c, n, s, cs.v, n->iattr[CS_V_OFF], &xs);
		if (cs.g >= 0)
			g = cg_window(c, n, s, cs.g, n->iattr[CS_G_OFF], &gs);
		if (cs.post >= 0)
			p = cg_window(c, n, s, cs.post, n->iattr[CS_POST_OFF], &ps);
		const TensorType *h = &n->src[cs.hist]->type;
		LLVMValueRef a[] = {out, v, xs, g, gs, s[cs.k], s[cs.bias], p, ps,
		                    s[cs.hist], c->B, c->L, i64c(c, h->dim[2]),
		                    i64c(c, h->dim[1])};
		cg_call_ext(c, EXT_CONV_STEP, a, 14);
		return;
	}
	default:
		hy_die("%s is not a generation op", ir_op_info(n->op)->name);
	}
}
