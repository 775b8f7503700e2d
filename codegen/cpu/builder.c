/*
 * builder.c - the LLVM builder helpers every CPU kernel is made of: local
 * variables (allocas in the entry block that mem2reg promotes), calls to
 * externals and intrinsics, counted loops, and the start and end of a
 * function or kernel with its attributes. The one-line arithmetic
 * builders are static inline in cpu.h.
 *
 * Kernels are plain loops (cg_loop_open/cg_loop_close) with constant
 * trip counts where the node's dims are constant, so that the loop
 * vectoriser can use them; nothing here knows any op.
 */
#include "cpu.h"

#include <stdio.h>

/* A local variable: an alloca in the entry block, promoted by mem2reg. */
LLVMValueRef cg_var(CgContext *c, LLVMTypeRef t, LLVMValueRef init,
                    const char *name)
{
	LLVMBasicBlockRef here = LLVMGetInsertBlock(c->b);
	LLVMValueRef v;

	LLVMPositionBuilderAtEnd(c->b, c->entry);
	v = LLVMBuildAlloca(c->b, t, name);
	LLVMPositionBuilderAtEnd(c->b, here);
	if (init)
		LLVMBuildStore(c->b, init, v);
	return v;
}

LLVMValueRef cg_call_ext(CgContext *c, Ext e, LLVMValueRef *args, int n)
{
	return LLVMBuildCall2(c->b, c->ext_ty[e], c->ext[e], args, (unsigned)n,
	                      "");
}

LLVMValueRef cg_call1(CgContext *c, Ext e, LLVMValueRef x)
{
	return cg_call_ext(c, e, &x, 1);
}

/* llvm.NAME.<t>(x), e.g. "llvm.sqrt" on f32. */
LLVMValueRef cg_intrinsic1(CgContext *c, const char *name, LLVMTypeRef t,
                           LLVMValueRef x)
{
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	LLVMValueRef fn;

	HY_ASSERT(id != 0);
	fn = LLVMGetIntrinsicDeclaration(c->mod, id, &t, 1);
	return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, &t, 1), fn,
	                      &x, 1, "");
}

/* The intrinsic NAME, one that is not overloaded (NVVM's, say), on the
 * n args. */
LLVMValueRef cg_intrinsic(CgContext *c, const char *name, LLVMValueRef *args,
                          unsigned n)
{
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	LLVMValueRef fn;

	HY_ASSERT(id != 0);
	fn = LLVMGetIntrinsicDeclaration(c->mod, id, NULL, 0);
	return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, NULL, 0), fn,
	                      args, n, "");
}

/* ---- loops ------------------------------------------------------------ */

LLVMValueRef cg_loop_open(CgContext *c, Loop *lp, LLVMValueRef lo,
                          LLVMValueRef hi, const char *name)
{
	LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->b);
	LLVMBasicBlockRef body;
	char buf[64];

	snprintf(buf, sizeof buf, "%s.head", name);
	lp->head = LLVMAppendBasicBlockInContext(c->ctx, c->fn, buf);
	snprintf(buf, sizeof buf, "%s.body", name);
	body = LLVMAppendBasicBlockInContext(c->ctx, c->fn, buf);
	snprintf(buf, sizeof buf, "%s.exit", name);
	lp->exit = LLVMAppendBasicBlockInContext(c->ctx, c->fn, buf);
	LLVMBuildBr(c->b, lp->head);
	LLVMPositionBuilderAtEnd(c->b, lp->head);
	lp->i = LLVMBuildPhi(c->b, c->t_i64, name);
	LLVMAddIncoming(lp->i, &lo, &pre, 1);
	LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, lp->i, hi, ""),
	                body, lp->exit);
	LLVMPositionBuilderAtEnd(c->b, body);
	return lp->i;
}

void cg_loop_close(CgContext *c, Loop *lp)
{
	LLVMBasicBlockRef end = LLVMGetInsertBlock(c->b);
	LLVMValueRef next = LLVMBuildNSWAdd(c->b, lp->i, i64c(c, 1), "");

	LLVMBuildBr(c->b, lp->head);
	LLVMAddIncoming(lp->i, &next, &end, 1);
	LLVMPositionBuilderAtEnd(c->b, lp->exit);
}

/* ---- functions -------------------------------------------------------- */

void cg_add_enum_attr(CgContext *c, LLVMValueRef fn, unsigned idx,
                      const char *name)
{
	unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));

	HY_ASSERT(kind != 0);
	LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(c->ctx, kind, 0));
}

/* What every function we define carries: the target it was tuned for
 * (so that the JIT's code generator agrees with the optimiser), and that
 * it throws nothing. */
void cg_fn_attrs(CgContext *c, LLVMValueRef fn)
{
	LLVMAddAttributeAtIndex(
	    fn, LLVMAttributeFunctionIndex,
	    LLVMCreateStringAttribute(c->ctx, "target-cpu", 10, c->cpu,
	                              (unsigned)strlen(c->cpu)));
	LLVMAddAttributeAtIndex(
	    fn, LLVMAttributeFunctionIndex,
	    LLVMCreateStringAttribute(c->ctx, "target-features", 15, c->features,
	                              (unsigned)strlen(c->features)));
	if (c->pvw) {
		char w[16];
		int n = snprintf(w, sizeof w, "%d", c->pvw);
		LLVMAddAttributeAtIndex(
		    fn, LLVMAttributeFunctionIndex,
		    LLVMCreateStringAttribute(c->ctx, "prefer-vector-width", 19, w,
		                              (unsigned)n));
	}
	cg_add_enum_attr(c, fn, LLVMAttributeFunctionIndex, "nounwind");
}

/* Start an internal function of type ty: c->fn, its entry block (for
 * allocas) and its body, where the builder is left. kernel_end closes
 * it. */
LLVMValueRef cg_begin_fn(CgContext *c, const char *name, LLVMTypeRef ty)
{
	c->fn = LLVMAddFunction(c->mod, name, ty);
	LLVMSetLinkage(c->fn, LLVMInternalLinkage);
	cg_fn_attrs(c, c->fn);
	c->entry = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "entry");
	c->body = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "start");
	LLVMPositionBuilderAtEnd(c->b, c->body);
	return c->fn;
}

/* Start `void @name(ptr out, ptr src.., i64 B, i64 L, i64 r0, i64 r1)`
 * for n; the builder is left in its body. Every pointer is noalias: out is
 * a fresh region and the sources are only read. A row-wise kernel
 * computes rows [r0, r1) of its output (cg_row_wise()); the others ignore
 * them. */
LLVMValueRef cg_kernel_begin(CgContext *c, const Node *n, const char *name,
                             LLVMValueRef *out, LLVMValueRef *src)
{
	LLVMTypeRef pt[IR_MAX_SRC + 5];
	int np = n->nsrc + 5;

	for (int i = 0; i <= n->nsrc; i++)
		pt[i] = c->t_ptr;
	for (int i = n->nsrc + 1; i < np; i++)
		pt[i] = c->t_i64;
	cg_begin_fn(c, name, LLVMFunctionType(c->t_void, pt, (unsigned)np, 0));
	for (int i = 0; i <= n->nsrc; i++) {
		cg_add_enum_attr(c, c->fn, (unsigned)i + 1, "noalias");
		cg_add_enum_attr(c, c->fn, (unsigned)i + 1, "nocapture");
	}
	*out = LLVMGetParam(c->fn, 0);
	LLVMSetValueName2(*out, "out", 3);
	for (int i = 0; i < n->nsrc; i++) {
		src[i] = LLVMGetParam(c->fn, (unsigned)i + 1);
		LLVMSetValueName2(src[i], n->src[i]->name,
		                  strlen(n->src[i]->name));
	}
	c->B = LLVMGetParam(c->fn, (unsigned)n->nsrc + 1);
	c->L = LLVMGetParam(c->fn, (unsigned)n->nsrc + 2);
	c->R0 = LLVMGetParam(c->fn, (unsigned)n->nsrc + 3);
	c->R1 = LLVMGetParam(c->fn, (unsigned)n->nsrc + 4);
	LLVMSetValueName2(c->B, "B", 1);
	LLVMSetValueName2(c->L, "L", 1);
	LLVMSetValueName2(c->R0, "r0", 2);
	LLVMSetValueName2(c->R1, "r1", 2);
	return c->fn;
}

void cg_kernel_end(CgContext *c)
{
	LLVMBuildRetVoid(c->b);
	LLVMPositionBuilderAtEnd(c->b, c->entry);
	LLVMBuildBr(c->b, c->body);
}

/* Floats in one plane, W wide, of a planar [B, L, 2W] value
 * (passes/memplan.c): the second plane starts there. */
LLVMValueRef cg_plane_size(CgContext *c, int64_t W)
{
	return mul(c, mul(c, c->B, c->L), i64c(c, W));
}

/* &x[0, 0, off] of n's [B, L, C] operand src k, and its row stride: C,
 * or C/2 when the operand is stored planar (passes/memplan.c), in the
 * plane that holds column off. */
LLVMValueRef cg_window(CgContext *c, const Node *n, LLVMValueRef *s, int k,
                       int64_t off, LLVMValueRef *stride)
{
	const Node *x = n->src[k];
	int64_t C = x->type.dim[2], W = C / 2;

	if (!x->planar) {
		*stride = i64c(c, C);
		return elem(c, c->t_f32, s[k], i64c(c, off));
	}
	*stride = i64c(c, W);
	LLVMValueRef o = i64c(c, off % W);
	if (off >= W)
		o = add(c, o, cg_plane_size(c, W));
	return elem(c, c->t_f32, s[k], o);
}

/* A float array of n elements on the stack, 64-byte aligned. */
LLVMValueRef cg_stack_array(CgContext *c, int64_t n, const char *name)
{
	LLVMBasicBlockRef here = LLVMGetInsertBlock(c->b);
	LLVMValueRef v;

	LLVMPositionBuilderAtEnd(c->b, c->entry);
	v = LLVMBuildAlloca(c->b, LLVMArrayType2(c->t_f32, (uint64_t)n), name);
	LLVMSetAlignment(v, 64);
	LLVMPositionBuilderAtEnd(c->b, here);
	return v;
}

LLVMBasicBlockRef cg_if_open(CgContext *c, LLVMValueRef cond,
                             const char *name)
{
	LLVMBasicBlockRef bt = LLVMAppendBasicBlockInContext(c->ctx, c->fn, name);
	LLVMBasicBlockRef bj = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "fi");
	LLVMBuildCondBr(c->b, cond, bt, bj);
	LLVMPositionBuilderAtEnd(c->b, bt);
	return bj;
}

void cg_if_close(CgContext *c, LLVMBasicBlockRef join)
{
	LLVMBuildBr(c->b, join);
	LLVMPositionBuilderAtEnd(c->b, join);
}

LLVMTypeRef cg_vec_t(CgContext *c)
{
	return LLVMVectorType(c->t_f32, (unsigned)c->vw);
}

LLVMValueRef cg_splat(CgContext *c, LLVMValueRef x)
{
	LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(x), (unsigned)c->vw);
	LLVMValueRef v = LLVMBuildInsertElement(c->b, LLVMGetUndef(vt), x,
	                                        LLVMConstInt(c->t_i32, 0, 0), "");
	return LLVMBuildShuffleVector(
	    c->b, v, LLVMGetUndef(vt),
	    LLVMConstNull(LLVMVectorType(c->t_i32, (unsigned)c->vw)), "");
}

LLVMValueRef cg_masked(CgContext *c, const char *name, LLVMValueRef *args,
                       unsigned n)
{
	LLVMTypeRef tys[] = {cg_vec_t(c), c->t_ptr};
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, tys, 2);
	return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, tys, 2), fn,
	                      args, n, "");
}
