/*
 * entry.c - the CPU module's entry points and glue: hyenac_run calls the
 * kernels in graph order, row-wise ones through the runtime's pool by a
 * thunk per kernel; hyenac_scratch_bytes and the scratch layout (the
 * memory plan of passes/memplan.c, or a bump in a graph that was not
 * planned); hyenac_run_pooled with its pooled final norm; the globals of
 * runtime/hyrt.h (hyenac_meta, hyenac_model_name) and the declarations
 * of the runtime functions the kernels call.
 *
 * A weight is the blob plus its offset, the input is the tokens pointer,
 * a node that is graph output i writes straight into outputs[i], and
 * every other node lives in scratch.
 */
#include "cpu.h"

#include <stdio.h>
#include <stdlib.h>

/* Functions the kernels call. ORDER EXT: the enum in cpu.h. */
typedef enum {
	SIG_F64_F64,
	SIG_FFT,
	SIG_HYENA_FFT,
	SIG_PARALLEL_FOR,
	SIG_HYENA_FFT_GEN
} ExtSig;

static const struct {
	const char *name;
	ExtSig sig;
} ext_sig[] = {
	[EXT_SIN] = {"sin", SIG_F64_F64},
	[EXT_COS] = {"cos", SIG_F64_F64},
	[EXT_FFT] = {"hyrt_longconv_fft", SIG_FFT},
	[EXT_HYENA_FFT] = {"hyrt_hyena_conv_fft", SIG_HYENA_FFT},
	[EXT_HYENA_FFT_CONST] = {"hyrt_hyena_conv_fft_const", SIG_HYENA_FFT},
	[EXT_PARALLEL_FOR] = {"hyrt_parallel_for", SIG_PARALLEL_FOR},
	[EXT_HYENA_FFT_GEN] = {"hyrt_hyena_conv_fft_gen", SIG_HYENA_FFT_GEN},
};
_Static_assert(sizeof ext_sig / sizeof ext_sig[0] == EXT_COUNT, "ext_sig");

/* A kernel whose output rows (all dims but the last) can be computed in
 * any order and in any split, each from whole inputs: hyenac_run hands
 * these to the runtime's pool a range of rows at a time. The long
 * convolutions are not (they parallelise inside the runtime). */
bool cg_row_wise(const Node *n)
{
	if (n->type.rank < 1 || !(ir_op_info(n->op)->flags & OPF_ROWWISE))
		return false;
	/* a slice along the last axis copies whole rows' parts; along
	 * another axis its rows are not its input's */
	return n->op != OP_SLICE || n->iattr[0] == n->type.rank - 1;
}

/* Rows per chunk of a row-wise kernel: enough work per chunk that the
 * pool's bookkeeping is noise, and whole tiles of the tiled kernels. */
static int64_t row_grain(const Node *n)
{
	switch (n->op) {
	case OP_LINEAR:
	case OP_FUSED_PROJ:
	case OP_FUSED_MLP:
	case OP_DWCONV:
		return 64;
	default:
		return 512;
	}
}

/* `void @name.rows(ptr ctx, i64 lo, i64 hi)`: kernel k on rows [lo, hi),
 * its other arguments read from the ctx array hyenac_run filled (one
 * 8-byte slot each: out, the sources, B, L). */
LLVMValueRef cg_emit_thunk(CgContext *c, const Node *n, LLVMValueRef k)
{
	LLVMTypeRef pt[] = {c->t_ptr, c->t_i64, c->t_i64};
	char name[256];
	LLVMValueRef a[IR_MAX_SRC + 5];
	int np = n->nsrc + 3;

	snprintf(name, sizeof name, "%s.rows", n->name);
	LLVMValueRef fn = LLVMAddFunction(c->mod, name,
	                                  LLVMFunctionType(c->t_void, pt, 3, 0));
	LLVMSetLinkage(fn, LLVMInternalLinkage);
	cg_fn_attrs(c, fn);
	LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(
	                                   c->ctx, fn, "entry"));
	LLVMValueRef ctx = LLVMGetParam(fn, 0);
	for (int i = 0; i < np; i++)
		a[i] = LLVMBuildLoad2(c->b, i < np - 2 ? c->t_ptr : c->t_i64,
		                      elem(c, c->t_i64, ctx, i64c(c, i)), "");
	a[np] = LLVMGetParam(fn, 1);
	a[np + 1] = LLVMGetParam(fn, 2);
	LLVMBuildCall2(c->b, LLVMGlobalGetValueType(k), k, a, (unsigned)np + 2,
	               "");
	LLVMBuildRetVoid(c->b);
	return fn;
}

int cg_kernel_count(const Graph *g)
{
	int k = 0;
	for (int i = 0; i < g->nnodes; i++)
		k += cg_computes(g->nodes[i]);
	return k;
}

/* outidx[id]: the first output a computing node is, or -1. */
static void output_slots(const Graph *g, int *outidx)
{
	for (int i = 0; i < g->nnodes; i++)
		outidx[i] = -1;
	for (int i = g->noutputs - 1; i >= 0; i--)
		if (cg_computes(g->outputs[i].node))
			outidx[g->outputs[i].node->id] = i;
}

static LLVMValueRef bytes_of(CgContext *c, const TensorType *t)
{
	return mul(c, numel_all(c, t), i64c(c, 4));
}

/* The memory plan's layout (passes/memplan.c) for the current function's
 * B and L: the token region ([B*L] units), then the position region ([L]
 * units), then the fixed one; a node sits at its region's base plus its
 * offset times the unit. Returns the total. */
static LLVMValueRef planned_layout(CgContext *c, const int *outidx,
                                   LLVMValueRef *off)
{
	const Graph *g = c->g;
	LLVMValueRef unit[MEM_COUNT], base[MEM_COUNT];

	unit[MEM_TOKEN] = mul(c, c->B, c->L);
	unit[MEM_POSITION] = c->L;
	unit[MEM_FIXED] = i64c(c, 1);
	base[MEM_TOKEN] = i64c(c, 0);
	base[MEM_POSITION] = mul(c, i64c(c, g->region_bytes[MEM_TOKEN]),
	                         unit[MEM_TOKEN]);
	base[MEM_FIXED] = add(c, base[MEM_POSITION],
	                      mul(c, i64c(c, g->region_bytes[MEM_POSITION]),
	                          unit[MEM_POSITION]));
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (!cg_computes(n) || outidx[i] >= 0)
			continue;
		HY_ASSERT(n->region > MEM_NONE && n->region < MEM_COUNT);
		off[i] = add(c, base[n->region],
		             mul(c, i64c(c, n->offset), unit[n->region]));
	}
	return add(c, base[MEM_FIXED], i64c(c, g->region_bytes[MEM_FIXED]));
}

/* The layout of scratch for the current function's B and L: off[id] for
 * every node that lives there; returns the total. Without a memory plan,
 * a bump: every node its own slice, in node order. */
static LLVMValueRef scratch_layout(CgContext *c, const int *outidx,
                                   LLVMValueRef *off)
{
	const Graph *g = c->g;
	LLVMValueRef at = i64c(c, 0);
	LLVMValueRef mask = i64c(c, -(int64_t)CG_SCRATCH_ALIGN);

	if (g->planned)
		return planned_layout(c, outidx, off);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (!cg_computes(n) || outidx[i] >= 0)
			continue;
		off[i] = at;
		LLVMValueRef sz = add(c, bytes_of(c, &n->type),
		                      i64c(c, CG_SCRATCH_ALIGN - 1));
		at = add(c, at, LLVMBuildAnd(c->b, sz, mask, ""));
	}
	return at;
}

/* A defined, exported function; c->B/c->L set from params bi/li. */
static LLVMValueRef public_fn(CgContext *c, const char *name, LLVMTypeRef ret,
                              LLVMTypeRef *pt, unsigned np)
{
	LLVMValueRef fn = LLVMAddFunction(c->mod, name,
	                                  LLVMFunctionType(ret, pt, np, 0));
	cg_fn_attrs(c, fn);
	return fn;
}

static void emit_scratch_bytes(CgContext *c, LLVMValueRef fn,
                               const int *outidx, LLVMValueRef *off)
{
	c->fn = fn;
	c->B = LLVMGetParam(fn, 0);
	c->L = LLVMGetParam(fn, 1);
	LLVMSetValueName2(c->B, "B", 1);
	LLVMSetValueName2(c->L, "L", 1);
	LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(
	                                   c->ctx, fn, "entry"));
	LLVMBuildRet(c->b, scratch_layout(c, outidx, off));
}

/* The graph's tail, when it is hidden = layernorm(x) and logits =
 * linear(hidden) with hidden used by nothing else: c->tail becomes
 * fused_proj{ln=1}(x, head.w, head.b?, gamma, beta), which makes logits
 * from x a row at a time, so a run that passes no hidden array never
 * stores the [B, L, d_model] hidden states. */
static void find_tail(CgContext *c, const int *outidx)
{
	const Graph *g = c->g;
	c->tail = NULL;
	if (g->noutputs < 2)
		return;
	Node *hn = g->outputs[0].node, *lg = g->outputs[1].node;
	if (hn->op != OP_LAYERNORM || lg->op != OP_LINEAR || lg->src[0] != hn ||
	    outidx[hn->id] != 0 || outidx[lg->id] != 1)
		return;
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nsrc; k++)
			if (g->nodes[i]->src[k] == hn && g->nodes[i] != lg)
				return;
	Node *t = arena_alloc(g->arena, sizeof *t);
	*t = *lg;
	memset(t->src, 0, sizeof t->src);
	memset(t->iattr, 0, sizeof t->iattr);
	t->op = OP_FUSED_PROJ;
	t->name = "logits.from_norm";
	t->nsrc = 0;
	t->src[t->nsrc++] = hn->src[0];
	t->src[t->nsrc++] = lg->src[1];
	if (lg->nsrc == 3)
		t->src[t->nsrc++] = lg->src[2];
	t->src[t->nsrc++] = hn->src[1];
	t->src[t->nsrc++] = hn->src[2];
	t->iattr[FP_BIAS] = lg->nsrc == 3;
	t->iattr[FP_LN] = 1;
	t->fattr[0] = hn->fattr[0];
	c->tail = t;
	c->tail_node = lg;
	c->tail_hidden = hn;
}

/* The call of node n's kernel k writing to out: straight, or rows at a
 * time through the pool when it has a thunk (its arguments go in ctx). */
static void call_kernel(CgContext *c, const Node *n, LLVMValueRef k,
                        LLVMValueRef thunk, LLVMValueRef ctx,
                        LLVMValueRef out, const LLVMValueRef *at)
{
	LLVMValueRef a[IR_MAX_SRC + 5];

	a[0] = out;
	for (int j = 0; j < n->nsrc; j++) {
		a[j + 1] = at[n->src[j]->id];
		if (cg_proj_slot(c, n, j)) {
			LLVMValueRef o = i64c(c, (int64_t)c->w->panels[n->src[j]->id]);
			a[j + 1] = LLVMBuildInBoundsGEP2(
			    c->b, LLVMInt8TypeInContext(c->ctx), c->weights, &o, 1, "");
		}
	}
	a[n->nsrc + 1] = c->B;
	a[n->nsrc + 2] = c->L;
	LLVMValueRef rows = numel(c, &n->type, 0, n->type.rank - 1);
	if (!thunk) {
		a[n->nsrc + 3] = i64c(c, 0);
		a[n->nsrc + 4] = rows;
		LLVMBuildCall2(c->b, LLVMGlobalGetValueType(k), k, a,
		               (unsigned)n->nsrc + 5, "");
		return;
	}
	for (int j = 0; j < n->nsrc + 3; j++)
		LLVMBuildStore(c->b, a[j], elem(c, c->t_i64, ctx, i64c(c, j)));
	LLVMValueRef pa[] = {thunk, ctx, rows, i64c(c, row_grain(n))};
	cg_call_ext(c, EXT_PARALLEL_FOR, pa, 4);
}

static void emit_run(CgContext *c, LLVMValueRef fn, LLVMValueRef *kern,
                     LLVMValueRef *thunk, const LLVMValueRef *tail_kern,
                     const int *outidx, LLVMValueRef *off, LLVMValueRef *at)
{
	const Graph *g = c->g;
	LLVMValueRef weights = LLVMGetParam(fn, 0), tokens = LLVMGetParam(fn, 1);
	LLVMValueRef outputs = LLVMGetParam(fn, 4), scratch = LLVMGetParam(fn, 5);
	static const char *pname[] = {"weights", "tokens", "B", "L", "outputs",
	                              "scratch"};

	for (unsigned i = 0; i < 6; i++)
		LLVMSetValueName2(LLVMGetParam(fn, i), pname[i],
		                  strlen(pname[i]));
	c->fn = fn;
	c->B = LLVMGetParam(fn, 2);
	c->L = LLVMGetParam(fn, 3);
	c->weights = weights;
	LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(
	                                   c->ctx, fn, "entry"));
	/* the argument slots of the row-wise kernels' thunks */
	LLVMValueRef ctx = LLVMBuildAlloca(
	    c->b, LLVMArrayType2(c->t_i64, IR_MAX_SRC + 3), "ctx");
	scratch_layout(c, outidx, off);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (n->op == OP_INPUT) {
			at[i] = tokens;
			continue;
		}
		if (n->op == OP_WEIGHT) {
			LLVMValueRef o = i64c(c, (int64_t)c->w->offset[i]);
			at[i] = LLVMBuildInBoundsGEP2(c->b, LLVMInt8TypeInContext(c->ctx),
			                              weights, &o, 1, n->name);
			continue;
		}
		if (outidx[i] >= 0)
			at[i] = LLVMBuildLoad2(
			    c->b, c->t_ptr,
			    elem(c, c->t_ptr, outputs, i64c(c, outidx[i])), n->name);
		else
			at[i] = LLVMBuildInBoundsGEP2(c->b,
			                              LLVMInt8TypeInContext(c->ctx),
			                              scratch, &off[i], 1, n->name);
		if (outidx[i] < 0) {
			call_kernel(c, n, kern[i], thunk[i], ctx, at[i], at);
			continue;
		}
		/* an output nobody asked for (NULL) is not computed; the
		 * final norm's output is only skipped where the head can run
		 * from its input (the tail) */
		bool used = false;
		for (int j = i + 1; j < g->nnodes; j++)
			for (int k = 0; k < g->nodes[j]->nsrc; k++)
				used |= g->nodes[j]->src[k] == n;
		if (used && !(c->tail && n == c->tail_hidden)) {
			call_kernel(c, n, kern[i], thunk[i], ctx, at[i], at);
			continue;
		}
		LLVMBasicBlockRef brun = LLVMAppendBasicBlockInContext(c->ctx, fn,
		                                                       "run");
		LLVMBasicBlockRef bnext = LLVMAppendBasicBlockInContext(c->ctx, fn,
		                                                        "next");
		LLVMBuildCondBr(c->b, LLVMBuildIsNull(c->b, at[i], ""), bnext, brun);
		LLVMPositionBuilderAtEnd(c->b, brun);
		if (c->tail && c->tail_node == n) {
			LLVMValueRef hn = at[c->tail_hidden->id];
			LLVMBasicBlockRef bfused = LLVMAppendBasicBlockInContext(
			    c->ctx, fn, "tail.fused");
			LLVMBasicBlockRef bplain = LLVMAppendBasicBlockInContext(
			    c->ctx, fn, "tail.plain");
			LLVMBuildCondBr(c->b, LLVMBuildIsNull(c->b, hn, ""), bfused,
			                bplain);
			LLVMPositionBuilderAtEnd(c->b, bfused);
			call_kernel(c, c->tail, tail_kern[0], tail_kern[1], ctx, at[i],
			            at);
			LLVMBuildBr(c->b, bnext);
			LLVMPositionBuilderAtEnd(c->b, bplain);
		}
		call_kernel(c, n, kern[i], thunk[i], ctx, at[i], at);
		LLVMBuildBr(c->b, bnext);
		LLVMPositionBuilderAtEnd(c->b, bnext);
	}
	/* Outputs that are not some node's own destination: copies. */
	for (int i = 0; i < g->noutputs; i++) {
		const Node *n = g->outputs[i].node;
		if (cg_computes(n) && outidx[n->id] == i)
			continue;
		LLVMValueRef dst = LLVMBuildLoad2(
		    c->b, c->t_ptr, elem(c, c->t_ptr, outputs, i64c(c, i)), "");
		LLVMBasicBlockRef bcopy = LLVMAppendBasicBlockInContext(c->ctx, fn,
		                                                        "copy");
		LLVMBasicBlockRef bnext = LLVMAppendBasicBlockInContext(c->ctx, fn,
		                                                        "copied");
		LLVMBuildCondBr(c->b, LLVMBuildIsNull(c->b, dst, ""), bnext, bcopy);
		LLVMPositionBuilderAtEnd(c->b, bcopy);
		LLVMBuildMemCpy(c->b, dst, 4, at[n->id], 4, bytes_of(c, &n->type));
		LLVMBuildBr(c->b, bnext);
		LLVMPositionBuilderAtEnd(c->b, bnext);
	}
	LLVMBuildRetVoid(c->b);
}

/* `void @hidden.pool(ptr mean, ptr last, ptr x, ptr gamma, ptr beta,
 * i64 B, i64 L)`: per batch row, the mean over positions of layernorm(x)
 * (summed in double) and its last row, one normalised row at a time in
 * a stack buffer; either destination may be NULL. */
static LLVMValueRef emit_pool(CgContext *c, const Node *hn)
{
	int64_t Dn = hn->type.dim[hn->type.rank - 1];
	LLVMTypeRef pt[] = {c->t_ptr, c->t_ptr, c->t_ptr, c->t_ptr, c->t_ptr,
	                    c->t_i64, c->t_i64};
	CgContext save = *c;
	Loop lb, lz, lt, la, lm;

	LLVMValueRef fn = cg_begin_fn(c, "hidden.pool",
	                              LLVMFunctionType(c->t_void, pt, 7, 0));
	LLVMValueRef mean = LLVMGetParam(fn, 0), last = LLVMGetParam(fn, 1);
	LLVMValueRef x = LLVMGetParam(fn, 2), Ln = LLVMGetParam(fn, 6);
	LLVMValueRef D = i64c(c, Dn), zero = i64c(c, 0);
	LLVMValueRef row = cg_stack_array(c, Dn, "row");
	LLVMPositionBuilderAtEnd(c->b, c->entry);
	LLVMValueRef acc = LLVMBuildAlloca(c->b, LLVMArrayType2(c->t_f64,
	                                                        (uint64_t)Dn),
	                                   "acc");
	LLVMPositionBuilderAtEnd(c->b, c->body);

	LLVMValueRef b = cg_loop_open(c, &lb, zero, LLVMGetParam(fn, 5), "b");
	LLVMValueRef d = cg_loop_open(c, &lz, zero, D, "z");
	LLVMBuildStore(c->b, f64c(c, 0), elem(c, c->t_f64, acc, d));
	cg_loop_close(c, &lz);
	LLVMValueRef t = cg_loop_open(c, &lt, zero, Ln, "t");
	cg_ln_row(c, x, mul(c, add(c, mul(c, b, Ln), t), D), Dn,
	          LLVMGetParam(fn, 3), LLVMGetParam(fn, 4), hn->fattr[0], row, zero);
	d = cg_loop_open(c, &la, zero, D, "a");
	LLVMValueRef ap = elem(c, c->t_f64, acc, d);
	LLVMBuildStore(c->b,
	               f_add(c, LLVMBuildLoad2(c->b, c->t_f64, ap, ""),
	                     LLVMBuildFPExt(c->b, ld(c, row, d), c->t_f64, "")),
	               ap);
	cg_loop_close(c, &la);
	cg_loop_close(c, &lt);
	/* the last row is still in the buffer; the mean from acc */
	d = cg_loop_open(c, &lm, zero, D, "m");
	LLVMValueRef oi = add(c, mul(c, b, D), d);
	LLVMBasicBlockRef bl = LLVMAppendBasicBlockInContext(c->ctx, fn, "last");
	LLVMBasicBlockRef bm = LLVMAppendBasicBlockInContext(c->ctx, fn, "mean");
	LLVMBasicBlockRef bn = LLVMAppendBasicBlockInContext(c->ctx, fn, "next");
	LLVMBuildCondBr(c->b, LLVMBuildIsNull(c->b, last, ""), bm, bl);
	LLVMPositionBuilderAtEnd(c->b, bl);
	st(c, last, oi, ld(c, row, d));
	LLVMBuildBr(c->b, bm);
	LLVMPositionBuilderAtEnd(c->b, bm);
	LLVMBasicBlockRef bw = LLVMAppendBasicBlockInContext(c->ctx, fn, "meanw");
	LLVMBuildCondBr(c->b, LLVMBuildIsNull(c->b, mean, ""), bn, bw);
	LLVMPositionBuilderAtEnd(c->b, bw);
	LLVMValueRef mv = LLVMBuildFDiv(
	    c->b, LLVMBuildLoad2(c->b, c->t_f64, elem(c, c->t_f64, acc, d), ""),
	    LLVMBuildSIToFP(c->b, Ln, c->t_f64, ""), "");
	st(c, mean, oi, LLVMBuildFPTrunc(c->b, mv, c->t_f32, ""));
	LLVMBuildBr(c->b, bn);
	LLVMPositionBuilderAtEnd(c->b, bn);
	cg_loop_close(c, &lm);
	cg_loop_close(c, &lb);
	cg_kernel_end(c);
	*c = save;
	return fn;
}

/* hyenac_run_pooled(weights, tokens, B, L, mean, last, scratch): the
 * forward without its outputs (hyenac_run with both NULL computes all
 * but the final norm and the head), then the pooled final norm from its
 * input, which is still in scratch. Returns 1, or 0 when the graph does
 * not end in hidden = layernorm(x) with x in scratch and gamma, beta
 * weights, and pools nothing. */
static void emit_run_pooled(CgContext *c, LLVMValueRef fn, LLVMValueRef run,
                            const int *outidx, LLVMValueRef *off)
{
	const Graph *g = c->g;
	const Node *hn = g->noutputs ? g->outputs[0].node : NULL;
	bool ok = hn && hn->op == OP_LAYERNORM && outidx[hn->id] == 0 &&
	          cg_computes(hn->src[0]) && outidx[hn->src[0]->id] < 0 &&
	          hn->src[1]->op == OP_WEIGHT && hn->src[2]->op == OP_WEIGHT;
	LLVMValueRef pool = ok ? emit_pool(c, hn) : NULL;

	c->fn = fn;
	c->B = LLVMGetParam(fn, 2);
	c->L = LLVMGetParam(fn, 3);
	LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(
	                                   c->ctx, fn, "entry"));
	if (!ok) {
		LLVMBuildRet(c->b, LLVMConstInt(c->t_i32, 0, 0));
		return;
	}
	LLVMValueRef weights = LLVMGetParam(fn, 0), scratch = LLVMGetParam(fn, 6);
	LLVMValueRef outs = LLVMBuildAlloca(c->b, LLVMArrayType2(c->t_ptr, 2),
	                                    "outs");
	for (int i = 0; i < 2; i++)
		LLVMBuildStore(c->b, LLVMConstPointerNull(c->t_ptr),
		               elem(c, c->t_ptr, outs, i64c(c, i)));
	LLVMValueRef ra[] = {weights, LLVMGetParam(fn, 1), c->B, c->L, outs,
	                     scratch};
	LLVMBuildCall2(c->b, LLVMGlobalGetValueType(run), run, ra, 6, "");
	scratch_layout(c, outidx, off);
	LLVMTypeRef i8 = LLVMInt8TypeInContext(c->ctx);
	LLVMValueRef xo = off[hn->src[0]->id];
	LLVMValueRef go = i64c(c, (int64_t)c->w->offset[hn->src[1]->id]);
	LLVMValueRef bo = i64c(c, (int64_t)c->w->offset[hn->src[2]->id]);
	LLVMValueRef pa[] = {LLVMGetParam(fn, 4), LLVMGetParam(fn, 5),
	                     LLVMBuildInBoundsGEP2(c->b, i8, scratch, &xo, 1, ""),
	                     LLVMBuildInBoundsGEP2(c->b, i8, weights, &go, 1, ""),
	                     LLVMBuildInBoundsGEP2(c->b, i8, weights, &bo, 1, ""),
	                     c->B, c->L};
	LLVMBuildCall2(c->b, LLVMGlobalGetValueType(pool), pool, pa, 7, "");
	LLVMBuildRet(c->b, LLVMConstInt(c->t_i32, 1, 0));
}

static void emit_globals(CgContext *c, const int64_t *meta)
{
	LLVMValueRef v[HYRT_META_COUNT];
	LLVMTypeRef at = LLVMArrayType2(c->t_i64, HYRT_META_COUNT);
	size_t len = strlen(c->g->name);

	for (int i = 0; i < HYRT_META_COUNT; i++)
		v[i] = i64c(c, meta ? meta[i] : 0);
	LLVMValueRef m = LLVMAddGlobal(c->mod, at, "hyenac_meta");
	LLVMSetInitializer(m, LLVMConstArray2(c->t_i64, v, HYRT_META_COUNT));
	LLVMSetGlobalConstant(m, 1);
	LLVMValueRef s = LLVMConstStringInContext2(c->ctx, c->g->name, len, 0);
	LLVMValueRef nm = LLVMAddGlobal(c->mod, LLVMTypeOf(s),
	                                "hyenac_model_name");
	LLVMSetInitializer(nm, s);
	LLVMSetGlobalConstant(nm, 1);
	/* What the runtime checks at start-up (runtime/cpucheck.h). */
	const char *const rec[][2] = {{"hyenac_target_cpu", c->cpu},
	                              {"hyenac_target_features", c->uses}};
	for (int i = 0; i < 2; i++) {
		LLVMValueRef r = LLVMConstStringInContext2(
		    c->ctx, rec[i][1], strlen(rec[i][1]), 0);
		LLVMValueRef gv = LLVMAddGlobal(c->mod, LLVMTypeOf(r), rec[i][0]);
		LLVMSetInitializer(gv, r);
		LLVMSetGlobalConstant(gv, 1);
	}
}

static void declare_externals(CgContext *c)
{
	LLVMTypeRef f64 = c->t_f64;
	LLVMTypeRef fft[] = {c->t_ptr, c->t_ptr, c->t_ptr,
	                     c->t_i64, c->t_i64, c->t_i64};
	/* y, v, vs, g, gs, k, bias, post, ps, B, L, C */
	LLVMTypeRef hfft[] = {c->t_ptr, c->t_ptr, c->t_i64, c->t_ptr,
	                      c->t_i64, c->t_ptr, c->t_ptr, c->t_ptr,
	                      c->t_i64, c->t_i64, c->t_i64, c->t_i64};
	/* fn(ctx, lo, hi), ctx, n, grain */
	LLVMTypeRef pfor[] = {c->t_ptr, c->t_ptr, c->t_i64, c->t_i64};
	/* y, v, vs, g, gs, gen, gen_ctx, bias, post, ps, B, L, C */
	LLVMTypeRef hgen[] = {c->t_ptr, c->t_ptr, c->t_i64, c->t_ptr, c->t_i64,
	                      c->t_ptr, c->t_ptr, c->t_ptr, c->t_ptr, c->t_i64,
	                      c->t_i64, c->t_i64, c->t_i64};

	for (int e = 0; e < EXT_COUNT; e++) {
		switch (ext_sig[e].sig) {
		case SIG_F64_F64:
			c->ext_ty[e] = LLVMFunctionType(f64, &f64, 1, 0);
			break;
		case SIG_FFT:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, fft, 6, 0);
			break;
		case SIG_HYENA_FFT:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, hfft, 12, 0);
			break;
		case SIG_PARALLEL_FOR:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, pfor, 4, 0);
			break;
		case SIG_HYENA_FFT_GEN:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, hgen, 13, 0);
			break;
		}
		c->ext[e] = LLVMAddFunction(c->mod, ext_sig[e].name, c->ext_ty[e]);
		cg_add_enum_attr(c, c->ext[e], LLVMAttributeFunctionIndex,
		                 "nounwind");
	}
}


void cg_cpu_begin(CgContext *c, const int64_t meta[HYRT_META_COUNT])
{
	size_t nn = (size_t)c->g->nnodes + 1;

	c->outidx = calloc(nn, sizeof *c->outidx);
	c->kern = calloc(nn, sizeof *c->kern);
	c->off = calloc(nn, sizeof *c->off);
	c->at = calloc(nn, sizeof *c->at);
	c->thunk = calloc(nn, sizeof *c->thunk);
	HY_ASSERT(c->outidx && c->kern && c->off && c->at && c->thunk);
	output_slots(c->g, c->outidx);

	emit_globals(c, meta);
	LLVMTypeRef sp[] = {c->t_i64, c->t_i64};
	c->f_scratch_bytes = public_fn(c, "hyenac_scratch_bytes", c->t_i64, sp,
	                               2);
	LLVMTypeRef rp[] = {c->t_ptr, c->t_ptr, c->t_i64,
	                    c->t_i64, c->t_ptr, c->t_ptr};
	c->f_run = public_fn(c, "hyenac_run", c->t_void, rp, 6);
	LLVMTypeRef pp[] = {c->t_ptr, c->t_ptr, c->t_i64, c->t_i64,
	                    c->t_ptr, c->t_ptr, c->t_ptr};
	c->f_pooled = public_fn(c, "hyenac_run_pooled", c->t_i32, pp, 7);
	declare_externals(c);
}

void cg_cpu_finish(CgContext *c)
{
	LLVMValueRef tail_kern[2] = {NULL, NULL};

	find_tail(c, c->outidx);
	if (c->tail) {
		tail_kern[0] = cg_emit_kernel(c, c->tail);
		tail_kern[1] = cg_emit_thunk(c, c->tail, tail_kern[0]);
	}
	emit_scratch_bytes(c, c->f_scratch_bytes, c->outidx, c->off);
	emit_run(c, c->f_run, c->kern, c->thunk, tail_kern, c->outidx, c->off,
	         c->at);
	emit_run_pooled(c, c->f_pooled, c->f_run, c->outidx, c->off);
}
