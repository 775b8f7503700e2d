/*
 * cpu.c - the CPU target's CgBackend (backend.h), and one kernel per
 * computing node: the op switch of the CPU target, with the long
 * convolutions' dispatch between their direct kernel and the runtime's
 * FFT by the node's `method`, which passes/convsel.c chose: codegen
 * makes no choice of its own.
 */
#include "cpu.h"

#include <stdio.h>

/* A long convolution's method, as passes/convsel.c chose it. */
static ConvMethod conv_method(const Node *n)
{
	ConvMethod m = (ConvMethod)n->iattr[0];
	if (m != CONV_FFT && m != CONV_DIRECT)
		hy_die("%s: convolution method %d not chosen (passes/convsel.c)",
		       n->name, (int)m);
	return m;
}

LLVMValueRef cg_filter_wanted(CgContext *c, const Node *n)
{
	if (n->op != OP_GATED_CONV || !n->iattr[GC_GEN] || n->kept_bytes <= 0 ||
	    conv_method(n) != CONV_FFT)
		return NULL;
	LLVMValueRef a[] = {cg_kept_slot(c, n), c->L};
	LLVMValueRef kept = cg_call_ext(c, EXT_SPECTRA_KEPT, a, 2);
	return LLVMBuildICmp(c->b, LLVMIntEQ, kept, i32c(c, 0), "filter.wanted");
}

typedef void (*FftCall)(CgContext *c, const Node *n, LLVMValueRef out,
                        LLVMValueRef *s);

/* The node's function: a call of its direct kernel, or the FFT. */
static void conv_dispatch(CgContext *c, const Node *n, LLVMValueRef out,
                          LLVMValueRef *s, LLVMValueRef direct, FftCall fft)
{
	LLVMValueRef a[IR_MAX_SRC + 5];
	unsigned na = 0;

	if (conv_method(n) == CONV_FFT) {
		fft(c, n, out, s);
		return;
	}
	a[na++] = out;
	for (int i = 0; i < n->nsrc; i++)
		a[na++] = s[i];
	a[na++] = c->B;
	a[na++] = c->L;
	a[na++] = c->R0;
	a[na++] = c->R1;
	LLVMBuildCall2(c->b, LLVMGlobalGetValueType(direct), direct, a, na, "");
}

/* The function that computes n. */
LLVMValueRef cg_emit_kernel(CgContext *c, const Node *n)
{
	LLVMValueRef out, s[IR_MAX_SRC], fn, direct = NULL;

	if ((n->op == OP_LONGCONV || n->op == OP_GATED_CONV) &&
	    conv_method(n) == CONV_DIRECT) {
		char name[256];
		snprintf(name, sizeof name, "%s.direct", n->name);
		direct = cg_kernel_begin(c, n, name, &out, s);
		if (n->op == OP_LONGCONV)
			cg_k_longconv_direct(c, n, out, s);
		else
			cg_k_gated_direct(c, n, out, s);
		cg_kernel_end(c);
	}
	fn = cg_kernel_begin(c, n, n->name, &out, s);
	switch (n->op) {
	case OP_POS_EMB:
		cg_k_pos_emb(c, n, out);
		break;
	case OP_EMBED:
		cg_k_embed(c, n, out, s);
		break;
	case OP_LAYERNORM:
		cg_k_layernorm(c, n, out, s);
		break;
	case OP_LINEAR:
		cg_k_linear(c, n, out, s);
		break;
	case OP_DWCONV:
		cg_k_dwconv(c, n, out, s);
		break;
	case OP_LONGCONV:
		conv_dispatch(c, n, out, s, direct, cg_call_fft);
		break;
	case OP_GATED_CONV:
		conv_dispatch(c, n, out, s, direct, cg_call_hyena_fft);
		break;
	case OP_FUSED_PROJ:
		cg_k_fused_proj(c, n, out, s);
		break;
	case OP_FUSED_MLP:
		cg_k_fused_mlp(c, n, out, s);
		break;
	case OP_SIN_LINEAR:
		cg_k_sin_linear(c, n, out, s);
		break;
	case OP_SLICE:
		cg_k_slice(c, n, out, s);
		break;
	case OP_ADD:
	case OP_MUL:
		cg_k_binary(c, n, out, s);
		break;
	case OP_SIN:
	case OP_GELU_TANH:
	case OP_GELU:
	case OP_RELU:
		cg_k_unary(c, n, out, s);
		break;
	case OP_EXPMOD:
		cg_k_expmod(c, n, out, s);
		break;
	case OP_POOL:
		cg_k_pool(c, n, out, s);
		break;
	case OP_STATE_SAVE:
	case OP_TAIL_PROJ:
	case OP_SHORT_STEP:
	case OP_CONV_STEP:
		cg_call_step(c, n, out, s);
		break;
	case OP_INPUT:
	case OP_WEIGHT:
	case OP_STATE:
	case OP_COUNT:
		hy_die("no kernel for %s", ir_op_info(n->op)->name);
	}
	cg_kernel_end(c);
	return fn;
}


/* The backend's emit_node: the kernel, and its pool thunk when it is
 * row-wise. */
static void emit_node(CgContext *c, const Node *n)
{
	c->kern[n->id] = cg_emit_kernel(c, n);
	if (cg_row_wise(n))
		c->thunk[n->id] = cg_emit_thunk(c, n, c->kern[n->id]);
}

const CgBackend cg_cpu_backend = {
	.name = "cpu",
	.init = cg_cpu_init,
	.begin = cg_cpu_begin,
	.emit_node = emit_node,
	.finish = cg_cpu_finish,
	.output_kind = LLVMObjectFile,
};
