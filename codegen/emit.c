/*
 * emit.c - a typed Graph to one LLVM module that implements the contract
 * of runtime/hyrt.h, through the LLVM 19 C API only.
 *
 * Every computing node (all but input and weight) becomes one internal
 * function named after it, `void @name(ptr out, ptr src0.., i64 B, i64 L)`,
 * specialised to the node's constant dims: only B and L stay runtime
 * values, so the inner loops have constant trip counts and strides that
 * the loop vectoriser can use. hyenac_run calls the kernels in graph order;
 * a weight is the blob plus its offset, the input is the tokens pointer,
 * a node that is graph output i writes straight into outputs[i], and every
 * other node lives in scratch where the memory plan (passes/memplan.c)
 * put it, or, in a graph that was not planned, in its own 64-byte aligned
 * slice laid out by a simple bump.
 *
 * Kernels are plain loops (loop_open/loop_close) with accumulators in
 * allocas that mem2reg promotes. Reductions carry reassoc+contract so
 * they vectorise; nothing else is fast-math. The transcendentals of the
 * hot loops (sin, both GELUs, expmod's exp) are emitted inline in float
 * by the "vector math" section, arithmetic and selects with no calls, so
 * those loops vectorise too; only pos_emb, L * bands values per forward,
 * calls libm's double sin and cos. The long convolution is a direct
 * kernel, a call to the runtime's hyrt_longconv_fft, or a run-time choice
 * between them, by the node's `method` unless CgOptions.conv names one.
 *
 * The fused ops of passes/fuse.c are kernels too: fused_proj (a linear
 * with its layernorm prologue and short-conv / activation / residual
 * epilogues, tiled over positions when it convolves) and gated_conv (a
 * direct kernel that works in its own output, or hyrt_hyena_conv_fft).
 * Both keep the unfused kernels' order of float operations, so fusing
 * changes results only where the vectoriser reorders a reduction.
 *
 * All LLVM handles of a compilation live in one CgContext (the public
 * CgModule). Its LLVMContext belongs to an ORC ThreadSafeContext so that
 * jit.c can take the module over without copying it.
 */
#include "codegen.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* At and above this L, CG_CONV_AUTO takes the FFT. */
enum { DIRECT_MAX_L = 64 };

/* Functions the kernels call. ORDER EXT: ext_sig[] follows. */
typedef enum {
	EXT_SIN,
	EXT_COS,
	EXT_FFT,
	EXT_HYENA_FFT,
	EXT_HYENA_FFT_CONST,
	EXT_PARALLEL_FOR,
	EXT_HYENA_FFT_GEN,
	EXT_COUNT
} Ext;

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

/* Fast-math for reductions: reordering and fused multiply-add only. */
#define FM_RED (LLVMFastMathAllowReassoc | LLVMFastMathAllowContract)

typedef struct CgModule {
	/* LLVM, owned */
	LLVMOrcThreadSafeContextRef tsc;
	LLVMContextRef ctx; /* tsc's */
	LLVMModuleRef mod;
	LLVMBuilderRef b;
	LLVMTargetMachineRef tm;
	char *triple, *cpu, *features; /* LLVM messages */
	char *uses; /* CgTarget.uses: recorded as hyenac_target_features */
	/* types and declarations */
	LLVMTypeRef t_void, t_i1, t_i32, t_i64, t_f32, t_f64, t_ptr;
	LLVMValueRef ext[EXT_COUNT];
	LLVMTypeRef ext_ty[EXT_COUNT];
	/* the compilation */
	const Graph *g;
	const CgWeights *w;
	const CgOptions *o;
	/* the function being emitted */
	LLVMValueRef fn;
	LLVMBasicBlockRef entry, body; /* allocas go to entry */
	LLVMValueRef B, L;
	LLVMValueRef R0, R1; /* the rows a row-wise kernel computes */
	/* the head fused with the final norm, for runs that want logits
	 * but not hidden: tail (a fused_proj made here, in no graph) stands
	 * for tail_node, reading the norm's input; NULL when the graph does
	 * not end that way; tail_hidden is the norm. */
	Node *tail;
	const Node *tail_node, *tail_hidden;
	/* the GEMM's shape for the target: VW floats a vector, MR rows of
	 * GEMM_NR columns in registers */
	int vw, mr;
	LLVMValueRef weights; /* hyenac_run's weight blob */
} CgContext;

/* ---- weights ---------------------------------------------------------- */

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

void cg_layout_weights(const Graph *g, Arena *a, CgWeights *w)
{
	size_t at = 0;
	bool *proj = arena_alloc(a, ((size_t)g->nnodes + 1) * sizeof *proj);

	memset(proj, 0, ((size_t)g->nnodes + 1) * sizeof *proj);
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

/* ---- small builders --------------------------------------------------- */

static LLVMValueRef i64c(CgContext *c, int64_t v)
{
	return LLVMConstInt(c->t_i64, (unsigned long long)v, 1);
}

static LLVMValueRef f32c(CgContext *c, double v)
{
	return LLVMConstReal(c->t_f32, (float)v);
}

static LLVMValueRef f64c(CgContext *c, double v)
{
	return LLVMConstReal(c->t_f64, v);
}

static LLVMValueRef add(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildNSWAdd(c->b, a, b, "");
}

static LLVMValueRef sub(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildNSWSub(c->b, a, b, "");
}

static LLVMValueRef mul(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildNSWMul(c->b, a, b, "");
}

/* Set fast-math flags on v where it is an instruction that takes them. */
static LLVMValueRef fmf(LLVMValueRef v, LLVMFastMathFlags f)
{
	if (LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v))
		LLVMSetFastMathFlags(v, f);
	return v;
}

static LLVMValueRef f_add(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildFAdd(c->b, a, b, "");
}

static LLVMValueRef f_mul(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildFMul(c->b, a, b, "");
}

/* acc + a * b, free to fuse and to reorder (a reduction step). */
static LLVMValueRef fmadd_red(CgContext *c, LLVMValueRef acc, LLVMValueRef a,
                              LLVMValueRef b)
{
	return fmf(f_add(c, acc, fmf(f_mul(c, a, b), FM_RED)), FM_RED);
}

/* The value of dim d in the current function. */
static LLVMValueRef dimv(CgContext *c, int64_t d)
{
	if (d == DIM_B)
		return c->B;
	if (d == DIM_L)
		return c->L;
	HY_ASSERT(d >= 0);
	return i64c(c, d);
}

/* Product of dims [from, to) of t. */
static LLVMValueRef numel(CgContext *c, const TensorType *t, int from, int to)
{
	LLVMValueRef n = i64c(c, 1);
	for (int i = from; i < to; i++)
		n = mul(c, n, dimv(c, t->dim[i]));
	return n;
}

static LLVMValueRef numel_all(CgContext *c, const TensorType *t)
{
	return numel(c, t, 0, t->rank);
}

static LLVMValueRef elem(CgContext *c, LLVMTypeRef t, LLVMValueRef p,
                         LLVMValueRef i)
{
	return LLVMBuildInBoundsGEP2(c->b, t, p, &i, 1, "");
}

static LLVMValueRef ld(CgContext *c, LLVMValueRef p, LLVMValueRef i)
{
	return LLVMBuildLoad2(c->b, c->t_f32, elem(c, c->t_f32, p, i), "");
}

static void st(CgContext *c, LLVMValueRef p, LLVMValueRef i, LLVMValueRef v)
{
	LLVMBuildStore(c->b, v, elem(c, c->t_f32, p, i));
}

static LLVMValueRef ld_var(CgContext *c, LLVMTypeRef t, LLVMValueRef var)
{
	return LLVMBuildLoad2(c->b, t, var, "");
}

/* A local variable: an alloca in the entry block, promoted by mem2reg. */
static LLVMValueRef var(CgContext *c, LLVMTypeRef t, LLVMValueRef init,
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

static LLVMValueRef call_ext(CgContext *c, Ext e, LLVMValueRef *args, int n)
{
	return LLVMBuildCall2(c->b, c->ext_ty[e], c->ext[e], args, (unsigned)n,
	                      "");
}

static LLVMValueRef call1(CgContext *c, Ext e, LLVMValueRef x)
{
	return call_ext(c, e, &x, 1);
}

/* llvm.NAME.<t>(x), e.g. "llvm.sqrt" on f32. */
static LLVMValueRef intrinsic1(CgContext *c, const char *name, LLVMTypeRef t,
                               LLVMValueRef x)
{
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	LLVMValueRef fn;

	HY_ASSERT(id != 0);
	fn = LLVMGetIntrinsicDeclaration(c->mod, id, &t, 1);
	return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, &t, 1), fn,
	                      &x, 1, "");
}

/* ---- loops ------------------------------------------------------------ */

/* for (i = lo; i < hi; i++): loop_open returns i and leaves the builder
 * in the body; loop_close ends the body and continues after the loop. */
typedef struct Loop {
	LLVMValueRef i;
	LLVMBasicBlockRef head, exit;
} Loop;

static LLVMValueRef loop_open(CgContext *c, Loop *lp, LLVMValueRef lo,
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

static void loop_close(CgContext *c, Loop *lp)
{
	LLVMBasicBlockRef end = LLVMGetInsertBlock(c->b);
	LLVMValueRef next = LLVMBuildNSWAdd(c->b, lp->i, i64c(c, 1), "");

	LLVMBuildBr(c->b, lp->head);
	LLVMAddIncoming(lp->i, &next, &end, 1);
	LLVMPositionBuilderAtEnd(c->b, lp->exit);
}

/* ---- functions -------------------------------------------------------- */

static void add_enum_attr(CgContext *c, LLVMValueRef fn, unsigned idx,
                          const char *name)
{
	unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));

	HY_ASSERT(kind != 0);
	LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(c->ctx, kind, 0));
}

/* What every function we define carries: the target it was tuned for
 * (so that the JIT's code generator agrees with the optimiser), and that
 * it throws nothing. */
static void fn_attrs(CgContext *c, LLVMValueRef fn)
{
	LLVMAddAttributeAtIndex(
	    fn, LLVMAttributeFunctionIndex,
	    LLVMCreateStringAttribute(c->ctx, "target-cpu", 10, c->cpu,
	                              (unsigned)strlen(c->cpu)));
	LLVMAddAttributeAtIndex(
	    fn, LLVMAttributeFunctionIndex,
	    LLVMCreateStringAttribute(c->ctx, "target-features", 15, c->features,
	                              (unsigned)strlen(c->features)));
	add_enum_attr(c, fn, LLVMAttributeFunctionIndex, "nounwind");
}

/* Start an internal function of type ty: c->fn, its entry block (for
 * allocas) and its body, where the builder is left. kernel_end closes
 * it. */
static LLVMValueRef begin_fn(CgContext *c, const char *name, LLVMTypeRef ty)
{
	c->fn = LLVMAddFunction(c->mod, name, ty);
	LLVMSetLinkage(c->fn, LLVMInternalLinkage);
	fn_attrs(c, c->fn);
	c->entry = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "entry");
	c->body = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "start");
	LLVMPositionBuilderAtEnd(c->b, c->body);
	return c->fn;
}

/* Start `void @name(ptr out, ptr src.., i64 B, i64 L, i64 r0, i64 r1)`
 * for n; the builder is left in its body. Every pointer is noalias: out is
 * a fresh region and the sources are only read. A row-wise kernel
 * computes rows [r0, r1) of its output (row_wise()); the others ignore
 * them. */
static LLVMValueRef kernel_begin(CgContext *c, const Node *n, const char *name,
                                 LLVMValueRef *out, LLVMValueRef *src)
{
	LLVMTypeRef pt[IR_MAX_SRC + 5];
	int np = n->nsrc + 5;

	for (int i = 0; i <= n->nsrc; i++)
		pt[i] = c->t_ptr;
	for (int i = n->nsrc + 1; i < np; i++)
		pt[i] = c->t_i64;
	begin_fn(c, name, LLVMFunctionType(c->t_void, pt, (unsigned)np, 0));
	for (int i = 0; i <= n->nsrc; i++) {
		add_enum_attr(c, c->fn, (unsigned)i + 1, "noalias");
		add_enum_attr(c, c->fn, (unsigned)i + 1, "nocapture");
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

static void kernel_end(CgContext *c)
{
	LLVMBuildRetVoid(c->b);
	LLVMPositionBuilderAtEnd(c->b, c->entry);
	LLVMBuildBr(c->b, c->body);
}

/* ---- vector math ------------------------------------------------------ */

/*
 * expf, sinf, the tanh GELU and the erf GELU as straight-line float IR:
 * arithmetic, bitcasts, integer ops and selects, no calls, so a loop that
 * uses them vectorises like any other elementwise loop. Each takes and
 * returns one f32 value.
 *
 * Rounding to an integer is the shifter trick: x + 1.5 * 2^23 lands in
 * [2^23, 2^24), where the ulp is 1, so the sum is round(x) + 1.5 * 2^23
 * and its low mantissa bits are round(x) in two's complement. It holds
 * for |x| < 2^22, which the callers ensure. Arguments are reduced by
 * Cody-Waite: the constant is split so that n * c_hi is exact and the
 * low parts carry the rest. Products go through llvm.fmuladd, fused
 * where the target has FMA; the error bounds in tests/test_codegen.c are
 * measured with FMA, and the splits keep the reductions exact without it
 * for the arguments the model makes (|sin argument| < ~3000).
 *
 * Clamps are fcmp + select with the comparison false on NaN, so NaN
 * passes through every function.
 */

static LLVMValueRef i32c(CgContext *c, int32_t v)
{
	return LLVMConstInt(c->t_i32, (unsigned long long)(int64_t)v, 1);
}

static LLVMValueRef f_sub(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildFSub(c->b, a, b, "");
}

/* a * b + d, fused or not as the target prefers (llvm.fmuladd). */
static LLVMValueRef f_fma(CgContext *c, LLVMValueRef a, LLVMValueRef b,
                          LLVMValueRef d)
{
	static const char name[] = "llvm.fmuladd";
	unsigned id = LLVMLookupIntrinsicID(name, sizeof name - 1);
	LLVMTypeRef t = LLVMTypeOf(a); /* float, or a vector of them */
	LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, &t, 1);
	LLVMValueRef args[] = {a, b, d};

	return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, &t, 1), fn,
	                      args, 3, "");
}

/* k[0] x^(n-1) + ... + k[n-1], by Horner. */
static LLVMValueRef horner(CgContext *c, LLVMValueRef x, const double *k,
                           int n)
{
	LLVMValueRef p = f32c(c, k[0]);
	for (int i = 1; i < n; i++)
		p = f_fma(c, p, x, f32c(c, k[i]));
	return p;
}

static LLVMValueRef to_bits(CgContext *c, LLVMValueRef x)
{
	return LLVMBuildBitCast(c->b, x, c->t_i32, "");
}

static LLVMValueRef from_bits(CgContext *c, LLVMValueRef i)
{
	return LLVMBuildBitCast(c->b, i, c->t_f32, "");
}

/* min(x, hi) and max(x, lo) that keep NaN. */
static LLVMValueRef clamp_hi(CgContext *c, LLVMValueRef x, double hi)
{
	LLVMValueRef h = f32c(c, hi);
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, x, h, ""),
	                       h, x, "");
}

static LLVMValueRef clamp_lo(CgContext *c, LLVMValueRef x, double lo)
{
	LLVMValueRef l = f32c(c, lo);
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, x, l, ""),
	                       l, x, "");
}

/* 1.5 * 2^23: see the shifter trick above. */
#define SHIFTER 12582912.0

/* round(x * s) as a float (*n) and as an i32 (the return value). */
static LLVMValueRef round_scaled(CgContext *c, LLVMValueRef x, double s,
                                 LLVMValueRef *n)
{
	LLVMValueRef t = f_fma(c, x, f32c(c, s), f32c(c, SHIFTER));
	*n = f_sub(c, t, f32c(c, SHIFTER));
	return LLVMBuildSub(c->b, to_bits(c, t), to_bits(c, f32c(c, SHIFTER)),
	                    "");
}

/* 2^k as a float, for k in [-126, 127]. */
static LLVMValueRef pow2i(CgContext *c, LLVMValueRef k)
{
	return from_bits(c, LLVMBuildShl(c->b, LLVMBuildAdd(c->b, k,
	                                                    i32c(c, 127), ""),
	                                 i32c(c, 23), ""));
}

/*
 * e^x: x = k ln2 + r with |r| <= ln2/2, e^r by Cephes' expf polynomial
 * (1 + r + r^2 P(r), P of degree 5), then times 2^k. The clamp to
 * [-104, 89] keeps k in [-150, 129] and still overflows to +inf above
 * ln(FLT_MAX) = 88.72 and underflows to 0 below -103.97; 2^k is applied
 * as two factors 2^(k/2) so that each is a normal float and the last
 * product rounds into the denormals or to inf as IEEE arithmetic does.
 * Measured: 1 ulp over the whole range.
 */
static LLVMValueRef vm_exp(CgContext *c, LLVMValueRef x)
{
	static const double P[] = {1.9875691500e-4, 1.3981999507e-3,
	                           8.3334519073e-3, 4.1665795894e-2,
	                           1.6666665459e-1, 5.0000001201e-1};
	LLVMValueRef n, k, r, p, k1, k2;

	x = clamp_lo(c, clamp_hi(c, x, 89.0), -104.0);
	k = round_scaled(c, x, 1.44269504088896341, &n);
	n = LLVMBuildFNeg(c->b, n, "");
	r = f_fma(c, n, f32c(c, 0.693145751953125), x);      /* 16 bits */
	r = f_fma(c, n, f32c(c, 1.428606765330187e-06), r);  /* the rest */
	p = horner(c, r, P, 6);
	p = f_add(c, f_fma(c, p, f_mul(c, r, r), r), f32c(c, 1.0));
	k1 = LLVMBuildAShr(c->b, k, i32c(c, 1), "");
	k2 = LLVMBuildSub(c->b, k, k1, "");
	return f_mul(c, f_mul(c, p, pow2i(c, k1)), pow2i(c, k2));
}

/*
 * sin x: x = j pi/2 + r with |r| <= pi/4, pi/2 in four parts (8 + 13 +
 * 24 + 24 bits: j C1 is exact for |j| < 2^16, j C2 for |j| < 2^11), then
 * Cephes' sinf and cosf polynomials on r, chosen by j mod 4: sin r, cos r,
 * -sin r, -cos r. Measured 1.6 ulp for |x| <= 1e5 with FMA; beyond 2^22
 * pi/2 the rounding fails and the result means nothing. inf gives
 * inf - inf = NaN.
 */
static LLVMValueRef vm_sin(CgContext *c, LLVMValueRef x)
{
	static const double S[] = {-1.9515295891e-4, 8.3321608736e-3,
	                           -1.6666654611e-1};
	static const double C[] = {2.443315711809948e-5, -1.388731625493765e-3,
	                           4.166664568298827e-2};
	static const double PIO2[] = {1.5703125, 4.837512969970703125e-4,
	                              7.549790126404332e-08,
	                              -1.7151245100058819e-15};
	LLVMValueRef n, q, r = x, z, s, co, v, neg;

	q = round_scaled(c, x, 0.636619772367581343, &n);
	n = LLVMBuildFNeg(c->b, n, "");
	for (int i = 0; i < 4; i++)
		r = f_fma(c, n, f32c(c, PIO2[i]), r);
	z = f_mul(c, r, r);
	s = f_fma(c, horner(c, z, S, 3), f_mul(c, z, r), r);
	co = f_fma(c, horner(c, z, C, 3), f_mul(c, z, z),
	           f_fma(c, z, f32c(c, -0.5), f32c(c, 1.0)));
	v = LLVMBuildSelect(
	    c->b,
	    LLVMBuildICmp(c->b, LLVMIntNE,
	                  LLVMBuildAnd(c->b, q, i32c(c, 1), ""), i32c(c, 0), ""),
	    co, s, "");
	/* quadrants 2 and 3: bit 1 of j moved to the sign bit */
	neg = LLVMBuildShl(c->b, LLVMBuildAnd(c->b, q, i32c(c, 2), ""),
	                   i32c(c, 30), "");
	v = from_bits(c, LLVMBuildXor(c->b, to_bits(c, v), neg, ""));
	/* r + p r^3 is +0 at r = -0 whatever the order; sin -0 is -0 */
	return LLVMBuildSelect(
	    c->b, LLVMBuildFCmp(c->b, LLVMRealOEQ, x, f32c(c, 0.0), ""), x, v,
	    "");
}

/* Below this both GELUs are -0 in float; selecting it there also turns
 * -inf into -0 where the formulas would make -inf * 0 or -inf / inf. */
#define GELU_ZERO_BELOW -20.0

static LLVMValueRef gelu_tail(CgContext *c, LLVMValueRef x, LLVMValueRef g)
{
	return LLVMBuildSelect(
	    c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, x, f32c(c, GELU_ZERO_BELOW),
	                        ""),
	    f32c(c, -0.0), g, "");
}

/*
 * 0.5 x (1 + tanh(y)), y = sqrt(2/pi) (x + 0.044715 x^3), as
 * x / (1 + e^(-2y)): the same function, with no cancellation in 1 + tanh
 * for negative x, and x itself for large positive x where e^(-2y) is 0.
 */
static LLVMValueRef vm_gelu_tanh(CgContext *c, LLVMValueRef x)
{
	LLVMValueRef x3 = f_mul(c, f_mul(c, x, x), x);
	LLVMValueRef y = f_mul(c, f32c(c, 0.7978845608028654),
	                       f_add(c, x, f_mul(c, f32c(c, 0.044715), x3)));
	LLVMValueRef e = vm_exp(c, f_mul(c, y, f32c(c, -2.0)));
	return gelu_tail(c, x, LLVMBuildFDiv(c->b, x,
	                                     f_add(c, f32c(c, 1.0), e), ""));
}

/*
 * erf u for |u| <= 4 (erf is +-1 in float beyond) as u P(u^2) / Q(u^2),
 * the rational approximation of Eigen and XLA (P of degree 6, Q of 4).
 * Measured 7.5 ulp (4.5e-7 absolute) near u = 3.9, 2 ulp below u = 2.
 */
static LLVMValueRef vm_erf(CgContext *c, LLVMValueRef u)
{
	static const double P[] = {-2.72614225801306e-10, 2.77068142495902e-08,
	                           -2.10102402082508e-06, -5.69250639462346e-05,
	                           -7.34990630326855e-04, -2.95459980854025e-03,
	                           -1.60960333262415e-02};
	static const double Q[] = {-1.45660718464996e-05, -2.13374055278905e-04,
	                           -1.68282697438203e-03, -7.37332916720468e-03,
	                           -1.42647390514189e-02};

	u = clamp_lo(c, clamp_hi(c, u, 4.0), -4.0);
	LLVMValueRef u2 = f_mul(c, u, u);
	/* u (P / Q), not (u P) / Q, which loses bits for denormal u */
	return f_mul(c, u, LLVMBuildFDiv(c->b, horner(c, u2, P, 7),
	                                 horner(c, u2, Q, 5), ""));
}

/* 0.5 x (1 + erf(x / sqrt 2)). */
static LLVMValueRef vm_gelu_erf(CgContext *c, LLVMValueRef x)
{
	LLVMValueRef e = vm_erf(c, f_mul(c, x, f32c(c, M_SQRT1_2)));
	return gelu_tail(c, x, f_mul(c, f_mul(c, f32c(c, 0.5), x),
	                             f_add(c, f32c(c, 1.0), e)));
}

/* ---- kernels ---------------------------------------------------------- */

/* Defined with the GEMM, below. */
static void project_rows(CgContext *c, const Node *n, int wslot,
                         LLVMValueRef *s, LLVMValueRef x, LLVMValueRef ln_g,
                         LLVMValueRef ln_b, LLVMValueRef lnbuf,
                         LLVMValueRef bias, int64_t Kn, int64_t Nn,
                         LLVMValueRef x0, LLVMValueRef m, LLVMValueRef dst,
                         LLVMValueRef d0);

/* out[t, :] = table[tokens[t], :]; ids were checked by the caller. */
static void k_embed(CgContext *c, const Node *n, LLVMValueRef out,
                    LLVMValueRef *s)
{
	LLVMValueRef D = i64c(c, n->src[0]->type.dim[1]);
	Loop lt, ld_;

	LLVMValueRef t = loop_open(c, &lt, c->R0, c->R1, "t");
	LLVMValueRef id = LLVMBuildLoad2(c->b, c->t_i32,
	                                 elem(c, c->t_i32, s[1], t), "id");
	LLVMValueRef row = mul(c, LLVMBuildSExt(c->b, id, c->t_i64, ""), D);
	LLVMValueRef orow = mul(c, t, D);
	LLVMValueRef d = loop_open(c, &ld_, i64c(c, 0), D, "d");
	st(c, out, add(c, orow, d), ld(c, s[0], add(c, row, d)));
	loop_close(c, &ld_);
	loop_close(c, &lt);
}

/* One row of layernorm in float, two passes: mean, then the centred
 * variance; x[xb, xb + D) to dst[db, db + D). */
static void ln_row(CgContext *c, LLVMValueRef x, LLVMValueRef xb, int64_t Dn,
                   LLVMValueRef gamma, LLVMValueRef beta, double eps,
                   LLVMValueRef dst, LLVMValueRef db)
{
	LLVMValueRef D = i64c(c, Dn), invD = f32c(c, 1.0 / (double)Dn);
	LLVMValueRef sum = var(c, c->t_f32, NULL, "sum");
	LLVMValueRef sq = var(c, c->t_f32, NULL, "sq");
	Loop l1, l2, l3;

	LLVMBuildStore(c->b, f32c(c, 0), sum);
	LLVMValueRef k = loop_open(c, &l1, i64c(c, 0), D, "k1");
	LLVMBuildStore(c->b,
	               fmf(f_add(c, ld_var(c, c->t_f32, sum),
	                        ld(c, x, add(c, xb, k))),
	                   FM_RED),
	               sum);
	loop_close(c, &l1);
	LLVMValueRef mean = LLVMBuildFDiv(c->b, ld_var(c, c->t_f32, sum),
	                                  f32c(c, (double)Dn), "mean");
	LLVMBuildStore(c->b, f32c(c, 0), sq);
	k = loop_open(c, &l2, i64c(c, 0), D, "k2");
	LLVMValueRef xc = LLVMBuildFSub(c->b, ld(c, x, add(c, xb, k)), mean, "");
	LLVMBuildStore(c->b, fmadd_red(c, ld_var(c, c->t_f32, sq), xc, xc), sq);
	loop_close(c, &l2);
	LLVMValueRef v = f_add(c, f_mul(c, ld_var(c, c->t_f32, sq), invD),
	                      f32c(c, eps));
	LLVMValueRef inv = LLVMBuildFDiv(c->b, f32c(c, 1.0),
	                                 intrinsic1(c, "llvm.sqrt", c->t_f32, v),
	                                 "inv");
	k = loop_open(c, &l3, i64c(c, 0), D, "k3");
	xc = LLVMBuildFSub(c->b, ld(c, x, add(c, xb, k)), mean, "");
	st(c, dst, add(c, db, k),
	   f_add(c, f_mul(c, f_mul(c, xc, inv), ld(c, gamma, k)),
	         ld(c, beta, k)));
	loop_close(c, &l3);
}

static void k_layernorm(CgContext *c, const Node *n, LLVMValueRef out,
                        LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	int64_t Dn = t->dim[t->rank - 1];
	Loop lr;

	LLVMValueRef r = loop_open(c, &lr, c->R0, c->R1, "r");
	LLVMValueRef base = mul(c, r, i64c(c, Dn));
	ln_row(c, s[0], base, Dn, s[1], s[2], n->fattr[0], out, base);
	loop_close(c, &lr);
}

/* out[r, j] = x[r, :] . w[j, :] + b[j] */
static void k_linear(CgContext *c, const Node *n, LLVMValueRef out,
                     LLVMValueRef *s)
{
	const TensorType *t = &n->src[0]->type;

	project_rows(c, n, 1, s, s[0], NULL, NULL, NULL,
	             n->nsrc == 3 ? s[2] : NULL, t->dim[t->rank - 1],
	             n->src[1]->type.dim[0], c->R0, sub(c, c->R1, c->R0), out,
	             c->R0);
}

/* Causal depthwise: y[t,c] = bias[c] + sum_{j >= K-1-t} w[c,j] x[t-K+1+j,c] */
static void k_dwconv(CgContext *c, const Node *n, LLVMValueRef out,
                     LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	LLVMValueRef Ln = dimv(c, t->dim[1]), C = i64c(c, t->dim[2]);
	int64_t Kn = n->src[1]->type.dim[1];
	LLVMValueRef K = i64c(c, Kn), Km1 = i64c(c, Kn - 1);
	LLVMValueRef acc = var(c, c->t_f32, NULL, "acc");
	Loop lr, lc, lj;

	LLVMValueRef r = loop_open(c, &lr, c->R0, c->R1, "r");
	LLVMValueRef tt = LLVMBuildSRem(c->b, r, Ln, "t");
	LLVMValueRef bl = sub(c, r, tt);
	LLVMValueRef row = mul(c, r, C);
	LLVMValueRef lo = LLVMBuildSelect(
	    c->b, LLVMBuildICmp(c->b, LLVMIntSLT, tt, Km1, ""), sub(c, Km1, tt),
	    i64c(c, 0), "lo");
	LLVMValueRef ch = loop_open(c, &lc, i64c(c, 0), C, "c");
	LLVMBuildStore(c->b, n->nsrc == 3 ? ld(c, s[2], ch) : f32c(c, 0), acc);
	LLVMValueRef j = loop_open(c, &lj, lo, K, "j");
	LLVMValueRef src = sub(c, add(c, tt, j), Km1);
	LLVMValueRef x = ld(c, s[0], add(c, mul(c, add(c, bl, src), C), ch));
	LLVMValueRef w = ld(c, s[1], add(c, mul(c, ch, K), j));
	LLVMBuildStore(c->b, f_add(c, ld_var(c, c->t_f32, acc), f_mul(c, w, x)),
	               acc);
	loop_close(c, &lj);
	st(c, out, add(c, row, ch), ld_var(c, c->t_f32, acc));
	loop_close(c, &lc);
	loop_close(c, &lr);
}

/* Direct causal convolution, accumulated in out along s for every t. */
static void k_longconv_direct(CgContext *c, const Node *n, LLVMValueRef out,
                              LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	LLVMValueRef Ln = dimv(c, t->dim[1]), C = i64c(c, t->dim[2]);
	Loop lb, lt, lz, ls, lc;

	LLVMValueRef b = loop_open(c, &lb, i64c(c, 0), dimv(c, t->dim[0]), "b");
	LLVMValueRef bl = mul(c, b, Ln);
	LLVMValueRef tt = loop_open(c, &lt, i64c(c, 0), Ln, "t");
	LLVMValueRef ob = mul(c, add(c, bl, tt), C);
	LLVMValueRef ch = loop_open(c, &lz, i64c(c, 0), C, "z");
	st(c, out, add(c, ob, ch), f32c(c, 0));
	loop_close(c, &lz);
	LLVMValueRef ss = loop_open(c, &ls, i64c(c, 0), add(c, tt, i64c(c, 1)),
	                            "s");
	LLVMValueRef ub = mul(c, add(c, bl, ss), C);
	LLVMValueRef kb = mul(c, sub(c, tt, ss), C);
	ch = loop_open(c, &lc, i64c(c, 0), C, "c");
	LLVMValueRef oi = add(c, ob, ch);
	st(c, out, oi,
	   fmadd_red(c, ld(c, out, oi), ld(c, s[1], add(c, kb, ch)),
	             ld(c, s[0], add(c, ub, ch))));
	loop_close(c, &lc);
	loop_close(c, &ls);
	loop_close(c, &lt);
	loop_close(c, &lb);
}

static void call_fft(CgContext *c, const Node *n, LLVMValueRef out,
                     LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	LLVMValueRef a[] = {out, s[0], s[1], dimv(c, t->dim[0]),
	                    dimv(c, t->dim[1]), i64c(c, t->dim[2])};

	call_ext(c, EXT_FFT, a, 6);
}

/* longconv's and gated_conv's `method` (ops.def), attr slot 0. */
enum { METHOD_FFT = 1, METHOD_DIRECT = 2 };

/* The mode a long convolution is compiled in: the option when it names
 * one, else the node's method, else (AUTO) DIRECT when no L the code is
 * compiled for reaches the switch. */
static CgConv conv_mode(const CgOptions *o, const Node *n)
{
	if (o->conv != CG_CONV_AUTO)
		return o->conv;
	if (n->iattr[0] == METHOD_FFT)
		return CG_CONV_FFT;
	if (n->iattr[0] == METHOD_DIRECT)
		return CG_CONV_DIRECT;
	if (o->max_len > 0 && o->max_len < DIRECT_MAX_L)
		return CG_CONV_DIRECT;
	return CG_CONV_AUTO;
}

typedef void (*FftCall)(CgContext *c, const Node *n, LLVMValueRef out,
                        LLVMValueRef *s);

/* The node's function: its direct kernel, the FFT, or a choice by L. */
static void conv_dispatch(CgContext *c, const Node *n, LLVMValueRef out,
                          LLVMValueRef *s, LLVMValueRef direct, FftCall fft)
{
	LLVMValueRef a[IR_MAX_SRC + 5];
	unsigned na = 0;
	CgConv mode = conv_mode(c->o, n);

	a[na++] = out;
	for (int i = 0; i < n->nsrc; i++)
		a[na++] = s[i];
	a[na++] = c->B;
	a[na++] = c->L;
	a[na++] = c->R0;
	a[na++] = c->R1;
	if (mode == CG_CONV_FFT) {
		fft(c, n, out, s);
		return;
	}
	if (mode == CG_CONV_DIRECT) {
		LLVMBuildCall2(c->b, LLVMGlobalGetValueType(direct), direct, a, na,
		               "");
		return;
	}
	LLVMBasicBlockRef bd = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                     "direct");
	LLVMBasicBlockRef bf = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "fft");
	LLVMBasicBlockRef bj = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                     "done");
	LLVMBuildCondBr(c->b,
	                LLVMBuildICmp(c->b, LLVMIntSLT, dimv(c, n->type.dim[1]),
	                              i64c(c, DIRECT_MAX_L), ""),
	                bd, bf);
	LLVMPositionBuilderAtEnd(c->b, bd);
	LLVMBuildCall2(c->b, LLVMGlobalGetValueType(direct), direct, a, na, "");
	LLVMBuildBr(c->b, bj);
	LLVMPositionBuilderAtEnd(c->b, bf);
	fft(c, n, out, s);
	LLVMBuildBr(c->b, bj);
	LLVMPositionBuilderAtEnd(c->b, bj);
}

/* Copy [outer, start:start+len, inner] as 32-bit words (any dtype). */
static void k_slice(CgContext *c, const Node *n, LLVMValueRef out,
                    LLVMValueRef *s)
{
	const TensorType *t = &n->src[0]->type;
	int axis = (int)n->iattr[0];
	LLVMValueRef inner = numel(c, t, axis + 1, t->rank);
	LLVMValueRef chunk = mul(c, dimv(c, n->type.dim[axis]), inner);
	LLVMValueRef sd = dimv(c, t->dim[axis]);
	Loop lo, lj;

	LLVMValueRef lo0 = i64c(c, 0), hi0 = numel(c, t, 0, axis);
	if (axis == t->rank - 1) { /* row-wise */
		lo0 = c->R0;
		hi0 = c->R1;
	}
	LLVMValueRef i = loop_open(c, &lo, lo0, hi0, "i");
	LLVMValueRef ob = mul(c, i, chunk);
	LLVMValueRef sb = mul(c, add(c, mul(c, i, sd), i64c(c, n->iattr[1])),
	                      inner);
	LLVMValueRef j = loop_open(c, &lj, i64c(c, 0), chunk, "j");
	LLVMValueRef v = LLVMBuildLoad2(c->b, c->t_i32,
	                                elem(c, c->t_i32, s[0], add(c, sb, j)),
	                                "");
	LLVMBuildStore(c->b, v, elem(c, c->t_i32, out, add(c, ob, j)));
	loop_close(c, &lj);
	loop_close(c, &lo);
}

/* numpy broadcasting aligned on the last axis, over rows [r0, r1): each
 * row's index splits into the leading axes' indices, the last axis is the
 * inner loop, and each operand is indexed through its own strides (0 on a
 * broadcast axis). */
static void k_binary(CgContext *c, const Node *n, LLVMValueRef out,
                     LLVMValueRef *s)
{
	const TensorType *o = &n->type;
	int R = o->rank;
	LLVMValueRef stride[2][IR_MAX_RANK], base[2];
	Loop lr, lj;

	for (int a = 0; a < 2; a++) {
		const TensorType *t = &n->src[a]->type;
		LLVMValueRef acc = i64c(c, 1);
		for (int k = R - 1; k >= 0; k--) {
			int ka = k - (R - t->rank);
			if (ka < 0 || t->dim[ka] == 1) {
				stride[a][k] = i64c(c, 0);
				continue;
			}
			stride[a][k] = acc;
			acc = mul(c, acc, dimv(c, t->dim[ka]));
		}
	}
	LLVMValueRef r = loop_open(c, &lr, c->R0, c->R1, "r");
	LLVMValueRef rest = r;
	base[0] = base[1] = i64c(c, 0);
	for (int k = R - 2; k >= 0; k--) {
		LLVMValueRef d = dimv(c, o->dim[k]);
		LLVMValueRef i = LLVMBuildSRem(c->b, rest, d, "");
		rest = LLVMBuildSDiv(c->b, rest, d, "");
		base[0] = add(c, base[0], mul(c, i, stride[0][k]));
		base[1] = add(c, base[1], mul(c, i, stride[1][k]));
	}
	LLVMValueRef W = dimv(c, o->dim[R - 1]);
	LLVMValueRef j = loop_open(c, &lj, i64c(c, 0), W, "j");
	LLVMValueRef x = ld(c, s[0], add(c, base[0], mul(c, j, stride[0][R - 1])));
	LLVMValueRef y = ld(c, s[1], add(c, base[1], mul(c, j, stride[1][R - 1])));
	st(c, out, add(c, mul(c, r, W), j),
	   n->op == OP_ADD ? f_add(c, x, y) : f_mul(c, x, y));
	loop_close(c, &lj);
	loop_close(c, &lr);
}

static LLVMValueRef unary(CgContext *c, OpKind op, LLVMValueRef x)
{
	switch (op) {
	case OP_SIN:
		return vm_sin(c, x);
	case OP_GELU_TANH:
		return vm_gelu_tanh(c, x);
	case OP_GELU:
		return vm_gelu_erf(c, x);
	case OP_RELU:
		return LLVMBuildSelect(
		    c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, x, f32c(c, 0), ""), x,
		    f32c(c, 0), "");
	default:
		hy_die("not a unary op: %s", ir_op_info(op)->name);
	}
}

static void k_unary(CgContext *c, const Node *n, LLVMValueRef out,
                    LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	LLVMValueRef W = dimv(c, t->dim[t->rank - 1]);
	Loop l;
	LLVMValueRef i = loop_open(c, &l, mul(c, c->R0, W), mul(c, c->R1, W),
	                           "i");

	st(c, out, i, unary(c, n->op, ld(c, s[0], i)));
	loop_close(c, &l);
}

/* h * (exp(-t |delta|) + shift), in float: t |delta| is at most ~15 in
 * the models, so the float product costs e^x a few ulp at most. */
static void k_expmod(CgContext *c, const Node *n, LLVMValueRef out,
                     LLVMValueRef *s)
{
	LLVMValueRef C = i64c(c, n->type.dim[1]);
	Loop lr, lc;

	LLVMValueRef r = loop_open(c, &lr, c->R0, c->R1, "r");
	LLVMValueRef nt = LLVMBuildFNeg(c->b, ld(c, s[1], r), "");
	LLVMValueRef ch = loop_open(c, &lc, i64c(c, 0), C, "c");
	LLVMValueRef i = add(c, mul(c, r, C), ch);
	LLVMValueRef dl = ld(c, s[2], ch);
	LLVMValueRef e = vm_exp(c, f_mul(c, nt, intrinsic1(c, "llvm.fabs",
	                                                  c->t_f32, dl)));
	LLVMValueRef y = f_mul(c, ld(c, s[0], i),
	                       f_add(c, e, f32c(c, n->fattr[0])));
	st(c, out, i, y);
	loop_close(c, &lc);
	loop_close(c, &lr);
}

/* [t, cos(f w), -sin(f w)] per position, in double; the band frequencies
 * are constants computed here exactly as the interpreter computes them. */
static void k_pos_emb(CgContext *c, const Node *n, LLVMValueRef out)
{
	int64_t lmax = n->iattr[0], E = n->iattr[1], bands = (E - 1) / 2;
	LLVMValueRef *f = calloc((size_t)bands + 1, sizeof *f);
	Loop li, lj;

	HY_ASSERT(f);
	for (int64_t j = 0; j < bands; j++)
		f[j] = f64c(c, bands > 1 ? 1e-4 + (double)j *
		                                      ((double)(bands - 1) - 1e-4) /
		                                      (double)(bands - 1)
		                         : 1e-4);
	LLVMTypeRef at = LLVMArrayType2(c->t_f64, (uint64_t)bands);
	LLVMValueRef tab = LLVMAddGlobal(c->mod, at, "pos_emb.freq");
	LLVMSetInitializer(tab, LLVMConstArray2(c->t_f64, f, (uint64_t)bands));
	LLVMSetGlobalConstant(tab, 1);
	LLVMSetLinkage(tab, LLVMPrivateLinkage);
	LLVMSetUnnamedAddress(tab, LLVMGlobalUnnamedAddr);
	free(f);

	LLVMValueRef i = loop_open(c, &li, c->R0, c->R1, "i");
	LLVMValueRef di = LLVMBuildSIToFP(c->b, i, c->t_f64, "");
	LLVMValueRef w = LLVMBuildFDiv(c->b, f_mul(c, f64c(c, 2.0 * M_PI), di),
	                               f64c(c, (double)lmax), "w");
	LLVMValueRef row = mul(c, i, i64c(c, E));
	LLVMValueRef t0 = lmax > 1 ? LLVMBuildFDiv(c->b, di,
	                                           f64c(c, (double)(lmax - 1)),
	                                           "")
	                           : f64c(c, 0.0);
	st(c, out, row, LLVMBuildFPTrunc(c->b, t0, c->t_f32, ""));
	LLVMValueRef j = loop_open(c, &lj, i64c(c, 0), i64c(c, bands), "j");
	LLVMValueRef fj = LLVMBuildLoad2(c->b, c->t_f64,
	                                 elem(c, c->t_f64, tab, j), "f");
	LLVMValueRef a = f_mul(c, fj, w);
	LLVMValueRef cs = call1(c, EXT_COS, a);
	LLVMValueRef sn = LLVMBuildFNeg(c->b, call1(c, EXT_SIN, a), "");
	LLVMValueRef base = add(c, row, add(c, j, i64c(c, 1)));
	st(c, out, base, LLVMBuildFPTrunc(c->b, cs, c->t_f32, ""));
	st(c, out, add(c, base, i64c(c, bands)),
	   LLVMBuildFPTrunc(c->b, sn, c->t_f32, ""));
	loop_close(c, &lj);
	loop_close(c, &li);
}

/* ---- fused kernels (ops.def: fused_proj, gated_conv) ------------------- */

/* A float array of n elements on the stack, 64-byte aligned. */
static LLVMValueRef stack_array(CgContext *c, int64_t n, const char *name)
{
	LLVMBasicBlockRef here = LLVMGetInsertBlock(c->b);
	LLVMValueRef v;

	LLVMPositionBuilderAtEnd(c->b, c->entry);
	v = LLVMBuildAlloca(c->b, LLVMArrayType2(c->t_f32, (uint64_t)n), name);
	LLVMSetAlignment(v, 64);
	LLVMPositionBuilderAtEnd(c->b, here);
	return v;
}

static LLVMValueRef act_value(CgContext *c, FpAct a, LLVMValueRef x)
{
	static const OpKind op[] = {[FP_ACT_GELU_TANH] = OP_GELU_TANH,
	                            [FP_ACT_GELU] = OP_GELU,
	                            [FP_ACT_RELU] = OP_RELU};
	_Static_assert(sizeof op / sizeof op[0] == FP_ACT_COUNT, "FpAct");
	return a == FP_ACT_NONE ? x : unary(c, op[a], x);
}

static LLVMValueRef smin(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, a, b, ""),
	                       a, b, "");
}

/* act, then + res[rb + j], in place on dst[db, db + N). A pass of its
 * own after the row is made, while the row is in L1: interleaving the
 * activation with the vector dot products measured 25-35% slower over a
 * whole model when the activation was a libm call (the calls ran at a
 * third of their speed), and the plain loops vectorise. */
static void epilogue_row(CgContext *c, LLVMValueRef dst, LLVMValueRef db,
                         int64_t Nn, FpAct a, LLVMValueRef res,
                         LLVMValueRef rb)
{
	Loop lj;

	if (a == FP_ACT_NONE && !res)
		return;
	LLVMValueRef j = loop_open(c, &lj, i64c(c, 0), i64c(c, Nn), "e");
	LLVMValueRef i = add(c, db, j);
	LLVMValueRef y = act_value(c, a, ld(c, dst, i));
	if (res)
		y = f_add(c, y, ld(c, res, add(c, rb, j)));
	st(c, dst, i, y);
	loop_close(c, &lj);
}

/* ---- GEMM -------------------------------------------------------------
 *
 * dst[(d0 + i) * ldd + j] = a[(a0 + i) * lda, +K) . w[j, :] (+ bias[j])
 * for i < m, j < N, from w's panel copy (CgWeights.panels): per panel of
 * GEMM_NR columns, rows go MR at a time with MR x GEMM_NR accumulators in
 * vector registers, each k step one load per vector of the panel's row k
 * and one broadcast per row of a; leftover rows go one at a time. Every
 * output is its own fused multiply-add chain over k in order. A partial
 * last panel loads and stores through masks. */

/* A GEMM's operands. */
typedef struct Gemm {
	LLVMValueRef a, a0, wp, bias, dst, d0;
	int64_t lda, K, ldd;
} Gemm;

static LLVMTypeRef vec_t(CgContext *c)
{
	return LLVMVectorType(c->t_f32, (unsigned)c->vw);
}

static LLVMValueRef splat(CgContext *c, LLVMValueRef x)
{
	LLVMTypeRef vt = vec_t(c);
	LLVMValueRef v = LLVMBuildInsertElement(c->b, LLVMGetUndef(vt), x,
	                                        LLVMConstInt(c->t_i32, 0, 0), "");
	return LLVMBuildShuffleVector(
	    c->b, v, LLVMGetUndef(vt),
	    LLVMConstNull(LLVMVectorType(c->t_i32, (unsigned)c->vw)), "");
}

/* The first n lanes on, as a constant <vw x i1>. */
static LLVMValueRef lane_mask(CgContext *c, int64_t n)
{
	LLVMValueRef bits[16];
	for (int i = 0; i < c->vw; i++)
		bits[i] = LLVMConstInt(c->t_i1, i < n, 0);
	return LLVMConstVector(bits, (unsigned)c->vw);
}

static LLVMValueRef masked_intrinsic(CgContext *c, const char *name,
                                     LLVMValueRef *args, unsigned n)
{
	LLVMTypeRef tys[] = {vec_t(c), c->t_ptr};
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, tys, 2);
	return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, tys, 2), fn,
	                      args, n, "");
}

/* ncols (<= vw) floats at p: a plain vector load, or a masked one. */
static LLVMValueRef vload(CgContext *c, LLVMValueRef p, int64_t ncols)
{
	if (ncols >= c->vw) {
		LLVMValueRef v = LLVMBuildLoad2(c->b, vec_t(c), p, "");
		LLVMSetAlignment(v, 4);
		return v;
	}
	LLVMValueRef a[] = {p, LLVMConstInt(c->t_i32, 4, 0), lane_mask(c, ncols),
	                    LLVMConstNull(vec_t(c))};
	return masked_intrinsic(c, "llvm.masked.load", a, 4);
}

static void vstore(CgContext *c, LLVMValueRef v, LLVMValueRef p,
                   int64_t ncols)
{
	if (ncols >= c->vw) {
		LLVMSetAlignment(LLVMBuildStore(c->b, v, p), 4);
		return;
	}
	LLVMValueRef a[] = {v, p, LLVMConstInt(c->t_i32, 4, 0),
	                    lane_mask(c, ncols)};
	masked_intrinsic(c, "llvm.masked.store", a, 4);
}


/* Rows [i0, i0 + mr) of one panel (columns j0 .. j0 + ncols), mr
 * constant. */
static void gemm_block(CgContext *c, const Gemm *g, LLVMValueRef i0, int mr,
                       LLVMValueRef bp, LLVMValueRef j0, int64_t ncols)
{
	int nv = (int)((ncols + c->vw - 1) / c->vw);
	LLVMValueRef acc[8][GEMM_NR / 8], arow[8];
	LLVMTypeRef vt = vec_t(c);
	Loop lk;

	HY_ASSERT(mr <= 8 && nv <= GEMM_NR / 8);
	for (int i = 0; i < mr; i++) {
		arow[i] = mul(c, add(c, g->a0, add(c, i0, i64c(c, i))),
		              i64c(c, g->lda));
		for (int v = 0; v < nv; v++)
			acc[i][v] = var(c, vt, LLVMConstNull(vt), "acc");
	}
	LLVMValueRef k = loop_open(c, &lk, i64c(c, 0), i64c(c, g->K), "k");
	LLVMValueRef brow = mul(c, k, i64c(c, GEMM_NR));
	LLVMValueRef b[GEMM_NR / 8];
	for (int v = 0; v < nv; v++) {
		b[v] = LLVMBuildLoad2(c->b, vt, elem(c, c->t_f32, bp,
		                                     add(c, brow,
		                                         i64c(c, v * c->vw))), "");
		LLVMSetAlignment(b[v], 4);
	}
	for (int i = 0; i < mr; i++) {
		LLVMValueRef ai = splat(c, ld(c, g->a, add(c, arow[i], k)));
		for (int v = 0; v < nv; v++)
			LLVMBuildStore(c->b, f_fma(c, ai, b[v], ld_var(c, vt, acc[i][v])),
			               acc[i][v]);
	}
	loop_close(c, &lk);
	for (int v = 0; v < nv; v++) {
		int64_t nc = ncols - v * c->vw;
		LLVMValueRef jv = add(c, j0, i64c(c, v * c->vw));
		LLVMValueRef bias = g->bias ? vload(c, elem(c, c->t_f32, g->bias, jv),
		                                    nc)
		                            : NULL;
		for (int i = 0; i < mr; i++) {
			LLVMValueRef y = ld_var(c, vt, acc[i][v]);
			if (bias)
				y = f_add(c, y, bias);
			LLVMValueRef drow = mul(c, add(c, g->d0, add(c, i0, i64c(c, i))),
			                        i64c(c, g->ldd));
			vstore(c, y, elem(c, c->t_f32, g->dst, add(c, drow, jv)), nc);
		}
	}
}

/* All m rows of one panel. */
static void gemm_panel(CgContext *c, const Gemm *g, LLVMValueRef m,
                       LLVMValueRef p, int64_t ncols)
{
	LLVMValueRef bp = elem(c, c->t_f32, g->wp,
	                       mul(c, p, i64c(c, g->K * GEMM_NR)));
	LLVMValueRef j0 = mul(c, p, i64c(c, GEMM_NR));
	LLVMValueRef MR = i64c(c, c->mr);
	Loop lg, lr;

	LLVMValueRef ng = LLVMBuildSDiv(c->b, m, MR, "groups");
	LLVMValueRef gi = loop_open(c, &lg, i64c(c, 0), ng, "g");
	gemm_block(c, g, mul(c, gi, MR), c->mr, bp, j0, ncols);
	loop_close(c, &lg);
	LLVMValueRef r = loop_open(c, &lr, mul(c, ng, MR), m, "rest");
	gemm_block(c, g, r, 1, bp, j0, ncols);
	loop_close(c, &lr);
}

static void gemm_rows(CgContext *c, const Gemm *g, LLVMValueRef m,
                      int64_t N)
{
	int64_t full = N / GEMM_NR, part = N % GEMM_NR;
	Loop lp;

	LLVMValueRef p = loop_open(c, &lp, i64c(c, 0), i64c(c, full), "panel");
	gemm_panel(c, g, m, p, GEMM_NR);
	loop_close(c, &lp);
	if (part)
		gemm_panel(c, g, m, i64c(c, full), part);
}

/* Whether src slot k of n is a projection matrix with a panel copy: the
 * kernel then reads the panels (call_kernel passes them) through
 * gemm_rows. */
static bool proj_slot(const CgContext *c, const Node *n, int k)
{
	const Node *w = n->src[k];
	if (w->op != OP_WEIGHT || !c->w->panels ||
	    c->w->panels[w->id] == SIZE_MAX)
		return false;
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
	default:
		return false;
	}
}

/* One projected row: dst[db + j] = x[xb, xb + K) . w[j, :] + bias[j] for
 * j < N. The k loop is the same reduction as k_linear's. */
static void proj_row(CgContext *c, LLVMValueRef x, LLVMValueRef xb,
                     LLVMValueRef w, LLVMValueRef bias, int64_t Kn,
                     int64_t Nn, LLVMValueRef dst, LLVMValueRef db)
{
	LLVMValueRef K = i64c(c, Kn);
	LLVMValueRef acc = var(c, c->t_f32, NULL, "acc");
	Loop lj, lk;

	LLVMValueRef j = loop_open(c, &lj, i64c(c, 0), i64c(c, Nn), "j");
	LLVMValueRef wb = mul(c, j, K);
	LLVMBuildStore(c->b, f32c(c, 0), acc);
	LLVMValueRef k = loop_open(c, &lk, i64c(c, 0), K, "k");
	LLVMBuildStore(c->b,
	               fmadd_red(c, ld_var(c, c->t_f32, acc),
	                         ld(c, x, add(c, xb, k)),
	                         ld(c, w, add(c, wb, k))),
	               acc);
	loop_close(c, &lk);
	LLVMValueRef y = ld_var(c, c->t_f32, acc);
	if (bias)
		y = f_add(c, y, ld(c, bias, j));
	st(c, dst, add(c, db, j), y);
	loop_close(c, &lj);
}

/* Rows to project per tile of the fused short convolution: the tile and
 * its K-1 halo rows stay within about 64 KiB of stack. */
static int64_t conv_tile_rows(int64_t N, int64_t halo)
{
	int64_t t = (64 << 10) / (4 * N) - halo;
	return t < 8 ? 8 : t > 64 ? 64 : t;
}

/* Rows [x0, x0 + m) of x, after their layernorm (into lnbuf, m rows of
 * K, when ln_g is there), times w^T (+ bias) into rows [d0, d0 + m) of
 * dst (row stride N): by gemm_rows from w's panels when it has them
 * (wslot is a proj_slot), else a row at a time. */
static void project_rows(CgContext *c, const Node *n, int wslot,
                         LLVMValueRef *s, LLVMValueRef x, LLVMValueRef ln_g,
                         LLVMValueRef ln_b, LLVMValueRef lnbuf,
                         LLVMValueRef bias, int64_t Kn, int64_t Nn,
                         LLVMValueRef x0, LLVMValueRef m, LLVMValueRef dst,
                         LLVMValueRef d0)
{
	LLVMValueRef K = i64c(c, Kn), N = i64c(c, Nn), a = x, a0 = x0;
	Loop ll, lp;

	if (ln_g) {
		LLVMValueRef i = loop_open(c, &ll, i64c(c, 0), m, "lnrow");
		ln_row(c, x, mul(c, add(c, x0, i), K), Kn, ln_g, ln_b, n->fattr[0],
		       lnbuf, mul(c, i, K));
		loop_close(c, &ll);
		a = lnbuf;
		a0 = i64c(c, 0);
	}
	if (proj_slot(c, n, wslot)) {
		Gemm gm = {a, a0, s[wslot], bias, dst, d0, Kn, Kn, Nn};
		gemm_rows(c, &gm, m, Nn);
		return;
	}
	LLVMValueRef i = loop_open(c, &lp, i64c(c, 0), m, "prow");
	proj_row(c, a, mul(c, add(c, a0, i), K), s[wslot], bias, Kn, Nn, dst,
	         mul(c, add(c, d0, i), N));
	loop_close(c, &lp);
}

/* Rows per tile of the plain projection kernels. */
enum { PROJ_TILE = 64 };

/* fused_proj on rows [r0, r1). Without conv, row by row: the layernorm of
 * the row into a stack buffer, then the projection and the epilogue. With
 * conv, each batch row's part of the range goes in tiles of T positions:
 * the tile's rows are projected into a stack buffer after the K-1 rows
 * before it (projected again at the start of the range, zero before
 * position 0, carried over from the previous tile after), then the
 * causal filter runs down the buffer, so no [B,L,N] pre-filter tensor
 * exists and every row is projected once, but for K-1 per range. The
 * filter sums in the dwconv kernel's order. With gate, a filtered row
 * [post | g | v] goes through a stack row and leaves as [post | g * v]. */
static void k_fused_proj(CgContext *c, const Node *n, LLVMValueRef out,
                         LLVMValueRef *s)
{
	FpSrc fs;
	ir_fp_srcs(n, &fs);
	const TensorType *t = &n->type, *xt = &n->src[fs.x]->type;
	int64_t Kn = xt->dim[xt->rank - 1], Nn = n->src[fs.w]->type.dim[0];
	int64_t On = t->dim[t->rank - 1]; /* Nn, or 2Nn/3 with gate */
	LLVMValueRef N = i64c(c, Nn), O = i64c(c, On);
	LLVMValueRef res = fs.res >= 0 ? s[fs.res] : NULL;
	LLVMValueRef bias = fs.bias >= 0 ? s[fs.bias] : NULL;
	LLVMValueRef lg_ = fs.ln_g >= 0 ? s[fs.ln_g] : NULL;
	LLVMValueRef lb_ = fs.ln_b >= 0 ? s[fs.ln_b] : NULL;
	FpAct a = (FpAct)n->iattr[FP_ACT];
	int64_t KC = n->iattr[FP_CONV], H = KC - 1;
	int64_t Tn = KC ? conv_tile_rows(Nn, H) : PROJ_TILE;
	LLVMValueRef lnbuf = lg_ ? stack_array(c, Tn * Kn, "ln") : NULL;
	LLVMValueRef T = i64c(c, Tn);
	Loop lr, lb, lt, lo, lc, lh, lq, lg, le;

	if (fs.conv_w < 0) {
		LLVMValueRef nt = LLVMBuildSDiv(
		    c->b, add(c, sub(c, c->R1, c->R0), i64c(c, Tn - 1)), T, "nt");
		LLVMValueRef ti = loop_open(c, &lr, i64c(c, 0), nt, "tile");
		LLVMValueRef r0 = add(c, c->R0, mul(c, ti, T));
		LLVMValueRef m = smin(c, T, sub(c, c->R1, r0));
		project_rows(c, n, fs.w, s, s[fs.x], lg_, lb_, lnbuf, bias, Kn, Nn,
		             r0, m, out, r0);
		if (a != FP_ACT_NONE || res) {
			LLVMValueRef i = loop_open(c, &le, i64c(c, 0), m, "e");
			LLVMValueRef ob = mul(c, add(c, r0, i), N);
			epilogue_row(c, out, ob, Nn, a, res, ob);
			loop_close(c, &le);
		}
		loop_close(c, &lr);
		return;
	}

	bool gate = n->iattr[FP_GATE] != 0;
	int64_t Dn = Nn / 3;
	LLVMValueRef HN = i64c(c, H * Nn);
	LLVMValueRef tile = stack_array(c, (Tn + H) * Nn, "tile");
	LLVMValueRef grow = gate ? stack_array(c, Nn, "gaterow") : NULL;
	LLVMValueRef Ln = dimv(c, t->dim[1]);
	LLVMValueRef cw = s[fs.conv_w];

	/* the batch rows the range touches, and the positions of each */
	LLVMValueRef b0 = LLVMBuildSDiv(c->b, c->R0, Ln, "b0");
	LLVMValueRef b1 = LLVMBuildSDiv(c->b, add(c, c->R1, sub(c, Ln,
	                                                     i64c(c, 1))),
	                                Ln, "b1");
	LLVMValueRef b = loop_open(c, &lb, b0, b1, "b");
	LLVMValueRef bl = mul(c, b, Ln);
	LLVMValueRef ts = sub(c, c->R0, bl), te = sub(c, c->R1, bl);
	ts = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, ts,
	                                         i64c(c, 0), ""),
	                     i64c(c, 0), ts, "ts");
	te = smin(c, te, Ln);
	/* the halo of the first tile: rows ts-H .. ts-1, zero before 0 */
	LLVMValueRef hj = loop_open(c, &lh, i64c(c, 0), i64c(c, H), "halo");
	LLVMValueRef hp = add(c, sub(c, ts, i64c(c, H)), hj);
	LLVMValueRef hb = mul(c, hj, N);
	LLVMBasicBlockRef bproj = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                        "halo.proj");
	LLVMBasicBlockRef bzero = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                        "halo.zero");
	LLVMBasicBlockRef bdone = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                        "halo.done");
	LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntSGE, hp, i64c(c, 0), ""),
	                bproj, bzero);
	LLVMPositionBuilderAtEnd(c->b, bproj);
	project_rows(c, n, fs.w, s, s[fs.x], lg_, lb_, lnbuf, bias, Kn, Nn,
	             add(c, bl, hp), i64c(c, 1), tile, hj);
	LLVMBuildBr(c->b, bdone);
	LLVMPositionBuilderAtEnd(c->b, bzero);
	LLVMValueRef q = loop_open(c, &lq, i64c(c, 0), N, "z");
	st(c, tile, add(c, hb, q), f32c(c, 0));
	loop_close(c, &lq);
	LLVMBuildBr(c->b, bdone);
	LLVMPositionBuilderAtEnd(c->b, bdone);
	loop_close(c, &lh);

	LLVMValueRef ntiles = LLVMBuildSDiv(
	    c->b, add(c, sub(c, te, ts), i64c(c, Tn - 1)), T, "ntiles");
	LLVMValueRef ti = loop_open(c, &lt, i64c(c, 0), ntiles, "tile");
	LLVMValueRef t0 = add(c, ts, mul(c, ti, T));
	LLVMValueRef nrow = smin(c, T, sub(c, te, t0));
	/* project rows t0 .. t0+nrow into tile rows H .. H+nrow */
	project_rows(c, n, fs.w, s, s[fs.x], lg_, lb_, lnbuf, bias, Kn, Nn,
	             add(c, bl, t0), nrow, tile, i64c(c, H));
	/* the causal filter over tile rows i .. i+H for output row t0+i */
	LLVMValueRef i = loop_open(c, &lo, i64c(c, 0), nrow, "o");
	LLVMValueRef orow = mul(c, add(c, bl, add(c, t0, i)), O);
	LLVMValueRef fdst = gate ? grow : out, fb = gate ? i64c(c, 0) : orow;
	LLVMValueRef ch = loop_open(c, &lc, i64c(c, 0), N, "c");
	LLVMValueRef y = fs.conv_b >= 0 ? ld(c, s[fs.conv_b], ch) : f32c(c, 0);
	for (int64_t j = 0; j < KC; j++) {
		LLVMValueRef w = ld(c, cw, add(c, mul(c, ch, i64c(c, KC)),
		                               i64c(c, j)));
		LLVMValueRef x = ld(c, tile, add(c, mul(c, add(c, i, i64c(c, j)),
		                                        N),
		                                 ch));
		y = f_add(c, y, f_mul(c, w, x));
	}
	st(c, fdst, add(c, fb, ch), y);
	loop_close(c, &lc);
	if (gate) {
		LLVMValueRef D = i64c(c, Dn);
		ch = loop_open(c, &lg, i64c(c, 0), D, "g");
		st(c, out, add(c, orow, ch), ld(c, grow, ch));
		st(c, out, add(c, orow, add(c, D, ch)),
		   f_mul(c, ld(c, grow, add(c, D, ch)),
		         ld(c, grow, add(c, i64c(c, 2 * Dn), ch))));
		loop_close(c, &lg);
	} else {
		epilogue_row(c, out, orow, Nn, a, res, orow);
	}
	loop_close(c, &lo);
	/* the last H projected rows are the next tile's halo */
	q = loop_open(c, &lq, i64c(c, 0), HN, "h");
	st(c, tile, q, ld(c, tile, add(c, mul(c, nrow, N), q)));
	loop_close(c, &lq);
	loop_close(c, &lt);
	loop_close(c, &lb);
}

/* fused_mlp on rows [r0, r1), in tiles of MLP_TILE positions: the
 * layernorm of the tile's rows, fc1 into a stack tile of the hidden
 * width and its activation there, then fc2 and the residual into out,
 * so no [rows, H] tensor exists. */
enum { MLP_TILE = 32 };

static void k_fused_mlp(CgContext *c, const Node *n, LLVMValueRef out,
                        LLVMValueRef *s)
{
	FmSrc fs;
	ir_fm_srcs(n, &fs);
	const TensorType *xt = &n->src[fs.x]->type;
	int64_t Kn = xt->dim[xt->rank - 1], Hn = n->src[fs.w1]->type.dim[0];
	int64_t Nn = n->type.dim[n->type.rank - 1];
	LLVMValueRef lg_ = fs.ln_g >= 0 ? s[fs.ln_g] : NULL;
	LLVMValueRef lb_ = fs.ln_b >= 0 ? s[fs.ln_b] : NULL;
	LLVMValueRef lnbuf = lg_ ? stack_array(c, MLP_TILE * Kn, "ln") : NULL;
	LLVMValueRef hbuf = stack_array(c, MLP_TILE * Hn, "hidden");
	LLVMValueRef res = fs.res >= 0 ? s[fs.res] : NULL;
	LLVMValueRef T = i64c(c, MLP_TILE), zero = i64c(c, 0);
	FpAct act = (FpAct)n->iattr[FM_ACT];
	Loop lt, la, le;

	LLVMValueRef nt = LLVMBuildSDiv(
	    c->b, add(c, sub(c, c->R1, c->R0), i64c(c, MLP_TILE - 1)), T, "nt");
	LLVMValueRef ti = loop_open(c, &lt, zero, nt, "tile");
	LLVMValueRef r0 = add(c, c->R0, mul(c, ti, T));
	LLVMValueRef m = smin(c, T, sub(c, c->R1, r0));
	project_rows(c, n, fs.w1, s, s[fs.x], lg_, lb_, lnbuf,
	             fs.b1 >= 0 ? s[fs.b1] : NULL, Kn, Hn, r0, m, hbuf, zero);
	if (act != FP_ACT_NONE) {
		LLVMValueRef i = loop_open(c, &la, zero, m, "a");
		epilogue_row(c, hbuf, mul(c, i, i64c(c, Hn)), Hn, act, NULL, NULL);
		loop_close(c, &la);
	}
	project_rows(c, n, fs.w2, s, hbuf, NULL, NULL, NULL,
	             fs.b2 >= 0 ? s[fs.b2] : NULL, Hn, Nn, zero, m, out, r0);
	if (res) {
		LLVMValueRef i = loop_open(c, &le, zero, m, "e");
		LLVMValueRef ob = mul(c, add(c, r0, i), i64c(c, Nn));
		epilogue_row(c, out, ob, Nn, FP_ACT_NONE, res, ob);
		loop_close(c, &le);
	}
	loop_close(c, &lt);
}

/* gated_conv by the definition, in out itself: first u = v * g into out,
 * then the outputs from the last position down, so that the u rows a
 * position reads (s <= t) are still there; the sum over s goes in a stack
 * row, in the direct longconv kernel's order. */
static void k_gated_direct(CgContext *c, const Node *n, LLVMValueRef out,
                           LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	GcSrc gs;
	ir_gc_srcs(n, &gs);
	int64_t Dn = t->dim[2];
	LLVMValueRef D = i64c(c, Dn), Ln = dimv(c, t->dim[1]);
	LLVMValueRef Cv = i64c(c, n->src[gs.v]->type.dim[2]);
	LLVMValueRef voff = i64c(c, n->iattr[GC_V_OFF]);
	LLVMValueRef goff = i64c(c, n->iattr[GC_G_OFF]);
	LLVMValueRef acc = stack_array(c, Dn, "acc");
	Loop lb, lu, lc, lt, lz, ls, lk, le;

	LLVMValueRef b = loop_open(c, &lb, i64c(c, 0), dimv(c, t->dim[0]), "b");
	LLVMValueRef bl = mul(c, b, Ln);
	LLVMValueRef r = add(c, bl, loop_open(c, &lu, i64c(c, 0), Ln, "u"));
	LLVMValueRef ch = loop_open(c, &lc, i64c(c, 0), D, "c");
	LLVMValueRef u = ld(c, s[gs.v], add(c, add(c, mul(c, r, Cv), voff), ch));
	if (gs.g >= 0) {
		LLVMValueRef Cg = i64c(c, n->src[gs.g]->type.dim[2]);
		u = f_mul(c, u, ld(c, s[gs.g], add(c, add(c, mul(c, r, Cg), goff),
		                                   ch)));
	}
	st(c, out, add(c, mul(c, r, D), ch), u);
	loop_close(c, &lc);
	loop_close(c, &lu);

	LLVMValueRef tt = loop_open(c, &lt, i64c(c, 0), Ln, "t");
	LLVMValueRef tpos = sub(c, sub(c, Ln, i64c(c, 1)), tt);
	ch = loop_open(c, &lz, i64c(c, 0), D, "z");
	st(c, acc, ch, f32c(c, 0));
	loop_close(c, &lz);
	LLVMValueRef sp = loop_open(c, &ls, i64c(c, 0), add(c, tpos, i64c(c, 1)),
	                            "s");
	LLVMValueRef ub = mul(c, add(c, bl, sp), D);
	LLVMValueRef kb = mul(c, sub(c, tpos, sp), D);
	ch = loop_open(c, &lk, i64c(c, 0), D, "k");
	st(c, acc, ch,
	   fmadd_red(c, ld(c, acc, ch), ld(c, s[gs.k], add(c, kb, ch)),
	             ld(c, out, add(c, ub, ch))));
	loop_close(c, &lk);
	loop_close(c, &ls);
	LLVMValueRef row = add(c, bl, tpos);
	ch = loop_open(c, &le, i64c(c, 0), D, "e");
	LLVMValueRef oi = add(c, mul(c, row, D), ch);
	LLVMValueRef y = f_add(c, ld(c, acc, ch),
	                       f_mul(c, ld(c, out, oi), ld(c, s[gs.bias], ch)));
	if (gs.post >= 0) {
		LLVMValueRef Cp = i64c(c, n->src[gs.post]->type.dim[2]);
		LLVMValueRef poff = i64c(c, n->iattr[GC_POST_OFF]);
		y = f_mul(c, y, ld(c, s[gs.post],
		                   add(c, add(c, mul(c, row, Cp), poff), ch)));
	}
	st(c, out, oi, y);
	loop_close(c, &le);
	loop_close(c, &lt);
	loop_close(c, &lb);
}

/* Positions per tile of a filter generator: a tile of h (E floats a
 * position) stays in L1/L2 while every channel of the block reads it. */
enum { GEN_TILE = 256 };

/* `void @name.filter(ptr ctx, i64 c0, i64 cb, i64 L, ptr dst, i64 ld)`,
 * the HyrtFilterGen of a gated_conv{gen}: for channels c0 .. c0+cb and
 * t < L, dst[j*ld + t] = (h[t,:] . w[c0+j,:]) * (exp(-t_pos[t] |deltas[c0+j]|)
 * + shift), with ctx = {h, w, t_pos, deltas}. By tiles of positions, so
 * each tile of h is read from cache by all cb channels. The caller's
 * CgContext function state is saved and restored around it. */
static LLVMValueRef emit_filter_gen(CgContext *c, const Node *n)
{
	GcSrc gs;
	ir_gc_srcs(n, &gs);
	int64_t En = n->src[gs.h]->type.dim[1];
	LLVMTypeRef pt[] = {c->t_ptr, c->t_i64, c->t_i64, c->t_i64, c->t_ptr,
	                    c->t_i64};
	char name[256];
	CgContext save = *c;
	Loop lt, lj, l1, l2;

	snprintf(name, sizeof name, "%s.filter", n->name);
	LLVMValueRef fn = begin_fn(c, name,
	                           LLVMFunctionType(c->t_void, pt, 6, 0));
	LLVMValueRef ctx = LLVMGetParam(fn, 0), c0 = LLVMGetParam(fn, 1);
	LLVMValueRef cb = LLVMGetParam(fn, 2), Ln = LLVMGetParam(fn, 3);
	LLVMValueRef dst = LLVMGetParam(fn, 4), ldd = LLVMGetParam(fn, 5);
	LLVMValueRef p[4];
	for (int i = 0; i < 4; i++)
		p[i] = LLVMBuildLoad2(c->b, c->t_ptr,
		                      elem(c, c->t_ptr, ctx, i64c(c, i)), "");
	LLVMValueRef E = i64c(c, En), T = i64c(c, GEN_TILE);

	LLVMValueRef ntile = LLVMBuildSDiv(c->b, add(c, Ln, i64c(c, GEN_TILE - 1)),
	                                   T, "");
	LLVMValueRef ti = loop_open(c, &lt, i64c(c, 0), ntile, "tile");
	LLVMValueRef t0 = mul(c, ti, T);
	LLVMValueRef t1 = smin(c, add(c, t0, T), Ln);
	LLVMValueRef j = loop_open(c, &lj, i64c(c, 0), cb, "j");
	LLVMValueRef ch = add(c, c0, j), db = mul(c, j, ldd);
	LLVMValueRef wrow = elem(c, c->t_f32, p[1], mul(c, ch, E));
	LLVMValueRef t = loop_open(c, &l1, t0, t1, "t");
	proj_row(c, p[0], mul(c, t, E), wrow, NULL, En, 1, dst, add(c, db, t));
	loop_close(c, &l1);
	LLVMValueRef ndl = LLVMBuildFNeg(
	    c->b, intrinsic1(c, "llvm.fabs", c->t_f32, ld(c, p[3], ch)), "");
	t = loop_open(c, &l2, t0, t1, "m");
	LLVMValueRef ex = vm_exp(c, f_mul(c, ld(c, p[2], t), ndl));
	LLVMValueRef di = add(c, db, t);
	st(c, dst, di, f_mul(c, ld(c, dst, di),
	                     f_add(c, ex, f32c(c, n->fattr[0]))));
	loop_close(c, &l2);
	loop_close(c, &lj);
	loop_close(c, &lt);
	kernel_end(c);

	*c = save;
	return fn;
}

/* hyrt_hyena_conv_fft on the operands' channel windows. */
static void call_hyena_fft(CgContext *c, const Node *n, LLVMValueRef out,
                           LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	GcSrc gs;
	ir_gc_srcs(n, &gs);
	LLVMValueRef null = LLVMConstPointerNull(c->t_ptr);
	LLVMValueRef v = elem(c, c->t_f32, s[gs.v], i64c(c, n->iattr[GC_V_OFF]));
	LLVMValueRef g = null, gst = i64c(c, 0), p = null, ps = i64c(c, 0);
	if (gs.g >= 0) {
		g = elem(c, c->t_f32, s[gs.g], i64c(c, n->iattr[GC_G_OFF]));
		gst = i64c(c, n->src[gs.g]->type.dim[2]);
	}
	if (gs.post >= 0) {
		p = elem(c, c->t_f32, s[gs.post], i64c(c, n->iattr[GC_POST_OFF]));
		ps = i64c(c, n->src[gs.post]->type.dim[2]);
	}
	if (gs.k < 0) { /* the filter made per channel block */
		LLVMBasicBlockRef here = LLVMGetInsertBlock(c->b);
		LLVMValueRef gen = emit_filter_gen(c, n);
		LLVMPositionBuilderAtEnd(c->b, c->entry);
		LLVMValueRef gctx = LLVMBuildAlloca(
		    c->b, LLVMArrayType2(c->t_ptr, 4), "genctx");
		LLVMPositionBuilderAtEnd(c->b, here);
		int at[4] = {gs.h, gs.w, gs.t, gs.deltas};
		for (int i = 0; i < 4; i++)
			LLVMBuildStore(c->b, s[at[i]],
			               elem(c, c->t_ptr, gctx, i64c(c, i)));
		LLVMValueRef a[] = {out, v, i64c(c, n->src[gs.v]->type.dim[2]), g,
		                    gst, gen, gctx, s[gs.bias], p, ps,
		                    dimv(c, t->dim[0]), dimv(c, t->dim[1]),
		                    i64c(c, t->dim[2])};
		call_ext(c, EXT_HYENA_FFT_GEN, a, 13);
		return;
	}
	LLVMValueRef a[] = {out, v, i64c(c, n->src[gs.v]->type.dim[2]), g,
	                    gst, s[gs.k], s[gs.bias], p, ps,
	                    dimv(c, t->dim[0]), dimv(c, t->dim[1]),
	                    i64c(c, t->dim[2])};

	/* A folded filter is a weight: the runtime keeps its spectrum. */
	call_ext(c, n->src[gs.k]->op == OP_WEIGHT ? EXT_HYENA_FFT_CONST
	                                          : EXT_HYENA_FFT,
	         a, 12);
}

/* The function that computes n. */
static LLVMValueRef emit_kernel(CgContext *c, const Node *n)
{
	LLVMValueRef out, s[IR_MAX_SRC], fn, direct = NULL;

	if ((n->op == OP_LONGCONV || n->op == OP_GATED_CONV) &&
	    conv_mode(c->o, n) != CG_CONV_FFT) {
		char name[256];
		snprintf(name, sizeof name, "%s.direct", n->name);
		direct = kernel_begin(c, n, name, &out, s);
		if (n->op == OP_LONGCONV)
			k_longconv_direct(c, n, out, s);
		else
			k_gated_direct(c, n, out, s);
		kernel_end(c);
	}
	fn = kernel_begin(c, n, n->name, &out, s);
	switch (n->op) {
	case OP_POS_EMB:
		k_pos_emb(c, n, out);
		break;
	case OP_EMBED:
		k_embed(c, n, out, s);
		break;
	case OP_LAYERNORM:
		k_layernorm(c, n, out, s);
		break;
	case OP_LINEAR:
		k_linear(c, n, out, s);
		break;
	case OP_DWCONV:
		k_dwconv(c, n, out, s);
		break;
	case OP_LONGCONV:
		conv_dispatch(c, n, out, s, direct, call_fft);
		break;
	case OP_GATED_CONV:
		conv_dispatch(c, n, out, s, direct, call_hyena_fft);
		break;
	case OP_FUSED_PROJ:
		k_fused_proj(c, n, out, s);
		break;
	case OP_FUSED_MLP:
		k_fused_mlp(c, n, out, s);
		break;
	case OP_SLICE:
		k_slice(c, n, out, s);
		break;
	case OP_ADD:
	case OP_MUL:
		k_binary(c, n, out, s);
		break;
	case OP_SIN:
	case OP_GELU_TANH:
	case OP_GELU:
	case OP_RELU:
		k_unary(c, n, out, s);
		break;
	case OP_EXPMOD:
		k_expmod(c, n, out, s);
		break;
	case OP_INPUT:
	case OP_WEIGHT:
	case OP_COUNT:
		hy_die("no kernel for %s", ir_op_info(n->op)->name);
	}
	kernel_end(c);
	return fn;
}

/* ---- the entry points ------------------------------------------------- */

static bool computes(const Node *n)
{
	return n->op != OP_INPUT && n->op != OP_WEIGHT;
}

/* A kernel whose output rows (all dims but the last) can be computed in
 * any order and in any split, each from whole inputs: hyenac_run hands
 * these to the runtime's pool a range of rows at a time. The long
 * convolutions are not (they parallelise inside the runtime). */
static bool row_wise(const Node *n)
{
	if (n->type.rank < 1)
		return false;
	switch (n->op) {
	case OP_EMBED:
	case OP_LAYERNORM:
	case OP_LINEAR:
	case OP_DWCONV:
	case OP_ADD:
	case OP_MUL:
	case OP_SIN:
	case OP_GELU_TANH:
	case OP_GELU:
	case OP_RELU:
	case OP_EXPMOD:
	case OP_POS_EMB:
	case OP_FUSED_PROJ:
	case OP_FUSED_MLP:
		return true;
	case OP_SLICE:
		return n->iattr[0] == n->type.rank - 1;
	default:
		return false;
	}
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
static LLVMValueRef emit_thunk(CgContext *c, const Node *n, LLVMValueRef k)
{
	LLVMTypeRef pt[] = {c->t_ptr, c->t_i64, c->t_i64};
	char name[256];
	LLVMValueRef a[IR_MAX_SRC + 5];
	int np = n->nsrc + 3;

	snprintf(name, sizeof name, "%s.rows", n->name);
	LLVMValueRef fn = LLVMAddFunction(c->mod, name,
	                                  LLVMFunctionType(c->t_void, pt, 3, 0));
	LLVMSetLinkage(fn, LLVMInternalLinkage);
	fn_attrs(c, fn);
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
		k += computes(g->nodes[i]);
	return k;
}

/* outidx[id]: the first output a computing node is, or -1. */
static void output_slots(const Graph *g, int *outidx)
{
	for (int i = 0; i < g->nnodes; i++)
		outidx[i] = -1;
	for (int i = g->noutputs - 1; i >= 0; i--)
		if (computes(g->outputs[i].node))
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
		if (!computes(n) || outidx[i] >= 0)
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
		if (!computes(n) || outidx[i] >= 0)
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
	fn_attrs(c, fn);
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
		if (proj_slot(c, n, j)) {
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
	call_ext(c, EXT_PARALLEL_FOR, pa, 4);
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
		if (computes(n) && outidx[n->id] == i)
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

	LLVMValueRef fn = begin_fn(c, "hidden.pool",
	                           LLVMFunctionType(c->t_void, pt, 7, 0));
	LLVMValueRef mean = LLVMGetParam(fn, 0), last = LLVMGetParam(fn, 1);
	LLVMValueRef x = LLVMGetParam(fn, 2), Ln = LLVMGetParam(fn, 6);
	LLVMValueRef D = i64c(c, Dn), zero = i64c(c, 0);
	LLVMValueRef row = stack_array(c, Dn, "row");
	LLVMPositionBuilderAtEnd(c->b, c->entry);
	LLVMValueRef acc = LLVMBuildAlloca(c->b, LLVMArrayType2(c->t_f64,
	                                                        (uint64_t)Dn),
	                                   "acc");
	LLVMPositionBuilderAtEnd(c->b, c->body);

	LLVMValueRef b = loop_open(c, &lb, zero, LLVMGetParam(fn, 5), "b");
	LLVMValueRef d = loop_open(c, &lz, zero, D, "z");
	LLVMBuildStore(c->b, f64c(c, 0), elem(c, c->t_f64, acc, d));
	loop_close(c, &lz);
	LLVMValueRef t = loop_open(c, &lt, zero, Ln, "t");
	ln_row(c, x, mul(c, add(c, mul(c, b, Ln), t), D), Dn,
	       LLVMGetParam(fn, 3), LLVMGetParam(fn, 4), hn->fattr[0], row, zero);
	d = loop_open(c, &la, zero, D, "a");
	LLVMValueRef ap = elem(c, c->t_f64, acc, d);
	LLVMBuildStore(c->b,
	               f_add(c, LLVMBuildLoad2(c->b, c->t_f64, ap, ""),
	                     LLVMBuildFPExt(c->b, ld(c, row, d), c->t_f64, "")),
	               ap);
	loop_close(c, &la);
	loop_close(c, &lt);
	/* the last row is still in the buffer; the mean from acc */
	d = loop_open(c, &lm, zero, D, "m");
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
	loop_close(c, &lm);
	loop_close(c, &lb);
	kernel_end(c);
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
	          computes(hn->src[0]) && outidx[hn->src[0]->id] < 0 &&
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
		LLVMValueRef v = LLVMConstStringInContext2(
		    c->ctx, rec[i][1], strlen(rec[i][1]), 0);
		LLVMValueRef gv = LLVMAddGlobal(c->mod, LLVMTypeOf(v), rec[i][0]);
		LLVMSetInitializer(gv, v);
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
		add_enum_attr(c, c->ext[e], LLVMAttributeFunctionIndex,
		              "nounwind");
	}
}

/* ---- target and module ------------------------------------------------ */

/* The target machine (codegen/target.c) and what the kernels take from
 * it: 16-float vectors where AVX-512 is on. */
static bool make_target(CgContext *c, const CgOptions *o, Diag *d)
{
	CgTarget t;

	if (!cg_target_open(&t, o->cpu, o->features, o->opt_level, d))
		return false;
	c->tm = t.tm;
	c->triple = t.triple;
	c->cpu = t.cpu;
	c->features = t.features;
	c->uses = t.uses;
	c->vw = t.avx512 ? 16 : 8;
	c->mr = c->vw == 16 ? 6 : 3; /* 12 accumulator registers */
	return true;
}

static void make_module(CgContext *c)
{
	LLVMTargetDataRef dl;

	c->tsc = LLVMOrcCreateNewThreadSafeContext();
	c->ctx = LLVMOrcThreadSafeContextGetContext(c->tsc);
	c->mod = LLVMModuleCreateWithNameInContext(c->g->name, c->ctx);
	c->b = LLVMCreateBuilderInContext(c->ctx);
	LLVMSetTarget(c->mod, c->triple);
	dl = LLVMCreateTargetDataLayout(c->tm);
	LLVMSetModuleDataLayout(c->mod, dl);
	LLVMDisposeTargetData(dl);
	c->t_void = LLVMVoidTypeInContext(c->ctx);
	c->t_i1 = LLVMInt1TypeInContext(c->ctx);
	c->t_i32 = LLVMInt32TypeInContext(c->ctx);
	c->t_i64 = LLVMInt64TypeInContext(c->ctx);
	c->t_f32 = LLVMFloatTypeInContext(c->ctx);
	c->t_f64 = LLVMDoubleTypeInContext(c->ctx);
	c->t_ptr = LLVMPointerTypeInContext(c->ctx, 0);
}

static bool optimize(CgContext *c, Diag *d)
{
	LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
	const char *passes = c->o->opt_level > 0 ? "default<O3>" : "default<O0>";
	LLVMErrorRef err;
	bool ok = true;

	LLVMPassBuilderOptionsSetLoopVectorization(po, c->o->opt_level > 0);
	LLVMPassBuilderOptionsSetSLPVectorization(po, c->o->opt_level > 0);
	LLVMPassBuilderOptionsSetLoopUnrolling(po, c->o->opt_level > 0);
	err = LLVMRunPasses(c->mod, passes, c->tm, po);
	if (err) {
		char *msg = LLVMGetErrorMessage(err);
		diag_error(d, "LLVM passes %s: %s", passes, msg);
		LLVMDisposeErrorMessage(msg);
		ok = false;
	}
	LLVMDisposePassBuilderOptions(po);
	return ok;
}

CgModule *cg_emit(const Graph *g, const CgWeights *w, const CgOptions *o,
                  const int64_t meta[HYRT_META_COUNT], Diag *d)
{
	CgContext *c = calloc(1, sizeof *c);
	int *outidx = NULL;
	LLVMValueRef *kern = NULL, *thunk = NULL, *off = NULL, *at = NULL;
	char *err = NULL;

	HY_ASSERT(c);
	c->g = g;
	c->w = w;
	c->o = o;
	if (!make_target(c, o, d))
		goto fail;
	make_module(c);
	outidx = calloc((size_t)g->nnodes + 1, sizeof *outidx);
	kern = calloc((size_t)g->nnodes + 1, sizeof *kern);
	off = calloc((size_t)g->nnodes + 1, sizeof *off);
	at = calloc((size_t)g->nnodes + 1, sizeof *at);
	thunk = calloc((size_t)g->nnodes + 1, sizeof *thunk);
	HY_ASSERT(outidx && kern && off && at && thunk);
	output_slots(g, outidx);

	/* The public names first, so that no kernel can take them. */
	emit_globals(c, meta);
	LLVMTypeRef sp[] = {c->t_i64, c->t_i64};
	LLVMValueRef sb = public_fn(c, "hyenac_scratch_bytes", c->t_i64, sp, 2);
	LLVMTypeRef rp[] = {c->t_ptr, c->t_ptr, c->t_i64,
	                    c->t_i64, c->t_ptr, c->t_ptr};
	LLVMValueRef run = public_fn(c, "hyenac_run", c->t_void, rp, 6);
	LLVMTypeRef pp[] = {c->t_ptr, c->t_ptr, c->t_i64, c->t_i64,
	                    c->t_ptr, c->t_ptr, c->t_ptr};
	LLVMValueRef pooled = public_fn(c, "hyenac_run_pooled", c->t_i32, pp, 7);
	declare_externals(c);

	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (n->op == OP_INPUT)
			HY_ASSERT(n->type.dtype == DT_I32);
		if (computes(n))
			kern[i] = emit_kernel(c, n);
		if (computes(n) && row_wise(n))
			thunk[i] = emit_thunk(c, n, kern[i]);
	}
	LLVMValueRef tail_kern[2] = {NULL, NULL};
	find_tail(c, outidx);
	if (c->tail) {
		tail_kern[0] = emit_kernel(c, c->tail);
		tail_kern[1] = emit_thunk(c, c->tail, tail_kern[0]);
	}
	emit_scratch_bytes(c, sb, outidx, off);
	emit_run(c, run, kern, thunk, tail_kern, outidx, off, at);
	emit_run_pooled(c, pooled, run, outidx, off);

	if (LLVMVerifyModule(c->mod, LLVMReturnStatusAction, &err))
		hy_die("generated module does not verify: %.2000s", err);
	LLVMDisposeMessage(err);
	err = NULL;
	if (!optimize(c, d))
		goto fail;
	free(outidx);
	free(kern);
	free(thunk);
	free(off);
	free(at);
	return c;

fail:
	free(thunk);
	free(outidx);
	free(kern);
	free(off);
	free(at);
	cg_free(c);
	return NULL;
}

bool cg_write_object(CgModule *m, const char *path, Diag *d)
{
	char *err = NULL;

	HY_ASSERT(m->mod);
	if (LLVMTargetMachineEmitToFile(m->tm, m->mod, path, LLVMObjectFile,
	                                &err)) {
		diag_error(d, "%s: cannot write object: %s", path,
		           err ? err : "unknown error");
		LLVMDisposeMessage(err);
		return false;
	}
	return true;
}

bool cg_write_ll(CgModule *m, const char *path, Diag *d)
{
	char *err = NULL;

	HY_ASSERT(m->mod);
	if (LLVMPrintModuleToFile(m->mod, path, &err)) {
		diag_error(d, "%s: cannot write IR: %s", path,
		           err ? err : "unknown error");
		LLVMDisposeMessage(err);
		return false;
	}
	return true;
}

void cg_release(CgModule *m, LLVMModuleRef *mod,
                LLVMOrcThreadSafeContextRef *tsc)
{
	*mod = m->mod;
	*tsc = m->tsc;
	m->mod = NULL;
	m->tsc = NULL;
	cg_free(m);
}

void cg_free(CgModule *m)
{
	if (!m)
		return;
	if (m->b)
		LLVMDisposeBuilder(m->b);
	if (m->mod)
		LLVMDisposeModule(m->mod);
	if (m->tsc)
		LLVMOrcDisposeThreadSafeContext(m->tsc);
	if (m->tm)
		LLVMDisposeTargetMachine(m->tm);
	LLVMDisposeMessage(m->triple);
	LLVMDisposeMessage(m->cpu);
	LLVMDisposeMessage(m->features);
	free(m->uses);
	free(m);
}
