/*
 * cpu.h - the CPU target's internals, shared by the files of codegen/cpu/:
 *
 *   builder.c  LLVM builder helpers, loops, function starts
 *   vmath.c    exp, sin and the GELUs as straight-line float IR
 *   rows.c     the row kernels: embed, norms, elementwise, slice, short
 *              and direct long convolution, pos_emb, expmod, pool
 *   gemm.c     the register-tiled GEMM over weight panels, proj_row
 *   fused.c    fused_proj, fused_mlp, gated_conv and its filter
 *              generator, the calls into the runtime's FFT convolutions
 *   cpu.c      the CgBackend; one kernel per node: the op switch
 *   entry.c    a function per entry of the graph (one loop),
 *              hyenac_run and hyenac_run_pooled picking one,
 *              hyenac_scratch_bytes, the pool thunks, the scratch
 *              layout, globals and externals
 *   weights.c  the packed weight blob and its GEMM panels
 *   target.c   the target machine and the GEMM's shape for it
 *
 * Every kernel is a plain LLVM function built through the C API; the
 * one-line builders below are static inline so that the kernels read as
 * arithmetic (add(c, a, b)); everything with a body of its own is
 * exported with the cg_ prefix and declared here. Nothing outside
 * codegen/ includes this header.
 */
#ifndef HYENAC_CODEGEN_CPU_H
#define HYENAC_CODEGEN_CPU_H

#include "../backend.h"

#include <string.h>

/* Functions the kernels call. ORDER EXT: ext_sig[] follows. */
typedef enum {
	EXT_SIN,
	EXT_COS,
	EXT_FFT,
	EXT_HYENA_FFT,
	EXT_HYENA_FFT_CONST,
	EXT_PARALLEL_FOR,
	EXT_HYENA_FFT_GEN,
	EXT_STATE_SAVE,
	EXT_TAIL_PROJ,
	EXT_SHORT_STEP,
	EXT_CONV_STEP,
	EXT_SPECTRA_KEPT,
	EXT_COUNT
} Ext;
_Static_assert((int)EXT_COUNT <= (int)CG_MAX_EXT, "CgContext.ext");

/* Bounds of the GEMM's register block (target.c picks it). */
enum { CG_MAX_MR = 16, CG_MAX_NV = 4 };

/* Fast-math for reductions: reordering and fused multiply-add only. */
#define FM_RED (LLVMFastMathAllowReassoc | LLVMFastMathAllowContract)

/* ---- small builders --------------------------------------------------- */

static inline LLVMValueRef i64c(CgContext *c, int64_t v)
{
	return LLVMConstInt(c->t_i64, (unsigned long long)v, 1);
}

static inline LLVMValueRef f32c(CgContext *c, double v)
{
	return LLVMConstReal(c->t_f32, (float)v);
}

static inline LLVMValueRef f64c(CgContext *c, double v)
{
	return LLVMConstReal(c->t_f64, v);
}

static inline LLVMValueRef add(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildNSWAdd(c->b, a, b, "");
}

static inline LLVMValueRef sub(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildNSWSub(c->b, a, b, "");
}

static inline LLVMValueRef mul(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildNSWMul(c->b, a, b, "");
}

/* Set fast-math flags on v where it is an instruction that takes them. */
static inline LLVMValueRef fmf(LLVMValueRef v, LLVMFastMathFlags f)
{
	if (LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v))
		LLVMSetFastMathFlags(v, f);
	return v;
}

static inline LLVMValueRef f_add(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildFAdd(c->b, a, b, "");
}

static inline LLVMValueRef f_mul(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildFMul(c->b, a, b, "");
}

/* acc + a * b, free to fuse and to reorder (a reduction step). */
static inline LLVMValueRef fmadd_red(CgContext *c, LLVMValueRef acc,
                                     LLVMValueRef a, LLVMValueRef b)
{
	return fmf(f_add(c, acc, fmf(f_mul(c, a, b), FM_RED)), FM_RED);
}

/* The value of dim d in the current function. */
static inline LLVMValueRef dimv(CgContext *c, int64_t d)
{
	if (d == DIM_B)
		return c->B;
	if (d == DIM_L)
		return c->L;
	HY_ASSERT(d >= 0);
	return i64c(c, d);
}

/* Product of dims [from, to) of t. */
static inline LLVMValueRef numel(CgContext *c, const TensorType *t, int from,
                                 int to)
{
	LLVMValueRef n = i64c(c, 1);
	for (int i = from; i < to; i++)
		n = mul(c, n, dimv(c, t->dim[i]));
	return n;
}

static inline LLVMValueRef numel_all(CgContext *c, const TensorType *t)
{
	return numel(c, t, 0, t->rank);
}

static inline LLVMValueRef elem(CgContext *c, LLVMTypeRef t, LLVMValueRef p,
                                LLVMValueRef i)
{
	return LLVMBuildInBoundsGEP2(c->b, t, p, &i, 1, "");
}

static inline LLVMValueRef ld(CgContext *c, LLVMValueRef p, LLVMValueRef i)
{
	return LLVMBuildLoad2(c->b, c->t_f32, elem(c, c->t_f32, p, i), "");
}

static inline void st(CgContext *c, LLVMValueRef p, LLVMValueRef i,
                      LLVMValueRef v)
{
	LLVMBuildStore(c->b, v, elem(c, c->t_f32, p, i));
}

static inline LLVMValueRef ld_var(CgContext *c, LLVMTypeRef t, LLVMValueRef var)
{
	return LLVMBuildLoad2(c->b, t, var, "");
}


static inline LLVMValueRef i32c(CgContext *c, int32_t v)
{
	return LLVMConstInt(c->t_i32, (unsigned long long)(int64_t)v, 1);
}

static inline LLVMValueRef f_sub(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildFSub(c->b, a, b, "");
}

/* a * b + d, fused or not as the target prefers (llvm.fmuladd). */
static inline LLVMValueRef f_fma(CgContext *c, LLVMValueRef a,
                                 LLVMValueRef b, LLVMValueRef d)
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

static inline LLVMValueRef smin(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, a, b, ""),
	                       a, b, "");
}


/* ---- builder.c -------------------------------------------------------- */

/* for (i = lo; i < hi; i++): cg_loop_open returns i and leaves the
 * builder in the body; cg_loop_close ends the body and continues after
 * the loop. */
typedef struct Loop {
	LLVMValueRef i;
	LLVMBasicBlockRef head, exit;
} Loop;

/* A local variable: an alloca in the entry block, promoted by mem2reg. */
LLVMValueRef cg_var(CgContext *c, LLVMTypeRef t, LLVMValueRef init,
                    const char *name);
/* A float array of n elements on the stack, 64-byte aligned. */
LLVMValueRef cg_stack_array(CgContext *c, int64_t n, const char *name);
/* Planar values (passes/memplan.c): a plane's floats, and an operand's
 * column window with its row stride (cg_window). */
LLVMValueRef cg_plane_size(CgContext *c, int64_t W);
LLVMValueRef cg_window(CgContext *c, const Node *n, LLVMValueRef *s, int k,
                       int64_t off, LLVMValueRef *stride);
LLVMValueRef cg_call_ext(CgContext *c, Ext e, LLVMValueRef *args, int n);
LLVMValueRef cg_call1(CgContext *c, Ext e, LLVMValueRef x);
/* llvm.NAME.<t>(x), e.g. "llvm.sqrt" on f32. */
LLVMValueRef cg_intrinsic1(CgContext *c, const char *name, LLVMTypeRef t,
                           LLVMValueRef x);
LLVMValueRef cg_intrinsic(CgContext *c, const char *name, LLVMValueRef *args,
                          unsigned n);
LLVMValueRef cg_loop_open(CgContext *c, Loop *lp, LLVMValueRef lo,
                          LLVMValueRef hi, const char *name);
void cg_loop_close(CgContext *c, Loop *lp);
/* if (cond) { ... }: cg_if_open leaves the builder in the then block
 * (named name) and returns the join block; cg_if_close ends the then
 * block there and continues after it. */
LLVMBasicBlockRef cg_if_open(CgContext *c, LLVMValueRef cond,
                             const char *name);
void cg_if_close(CgContext *c, LLVMBasicBlockRef join);
/* <vw x float>, the target's float vector. */
LLVMTypeRef cg_vec_t(CgContext *c);
/* x (a float or an integer) in each of vw lanes. */
LLVMValueRef cg_splat(CgContext *c, LLVMValueRef x);
/* llvm.masked.load or llvm.masked.store (name) of a <vw x float> through
 * a pointer, with args as the intrinsic takes them. */
LLVMValueRef cg_masked(CgContext *c, const char *name, LLVMValueRef *args,
                       unsigned n);
void cg_add_enum_attr(CgContext *c, LLVMValueRef fn, unsigned idx,
                      const char *name);
/* The target and nounwind attributes of every function we define. */
void cg_fn_attrs(CgContext *c, LLVMValueRef fn);
/* Start an internal function: c->fn, its entry and body blocks. */
LLVMValueRef cg_begin_fn(CgContext *c, const char *name, LLVMTypeRef ty);
/* Start `void @name(ptr out, ptr src.., i64 B, i64 L, i64 r0, i64 r1)`
 * for n; cg_kernel_end closes it. */
LLVMValueRef cg_kernel_begin(CgContext *c, const Node *n, const char *name,
                             LLVMValueRef *out, LLVMValueRef *src);
void cg_kernel_end(CgContext *c);

/* ---- vmath.c ---------------------------------------------------------- */

LLVMValueRef cg_vm_exp(CgContext *c, LLVMValueRef x);
/* sin, gelu_tanh, gelu or relu of one f32 value. */
LLVMValueRef cg_unary(CgContext *c, OpKind op, LLVMValueRef x);
/* A fused op's activation (FP_ACT_*) of x; x itself for none. */
LLVMValueRef cg_act_value(CgContext *c, FpAct a, LLVMValueRef x);
/* On the GPU (c->mufu): the tanh GELU as 0.5 x + 0.5 x tanh(y) with
 * tanh.approx.f32 (about 2^-11 relative), one special-function
 * instruction where cg_unary's ex2.approx and div.approx take two; for
 * the bf16 projections, whose outputs are rounded to 8 bits. */
LLVMValueRef cg_gelu_tanh_sfu(CgContext *c, LLVMValueRef x);

/* ---- rows.c, fused.c: kernels ----------------------------------------- */

/* A kernel body: node n's output out from its sources s, in the function
 * cg_kernel_begin started. */
typedef void CgKernelFn(CgContext *c, const Node *n, LLVMValueRef out,
                        LLVMValueRef *s);

CgKernelFn cg_k_embed, cg_k_layernorm, cg_k_linear, cg_k_dwconv,
    cg_k_longconv_direct, cg_k_slice, cg_k_binary, cg_k_unary, cg_k_expmod,
    cg_k_pool;
/* A binary op's operand strides over its output's axes (numpy
 * broadcasting: 0 where an operand lacks the axis or has it as 1);
 * cg_k_binary and the GPU's elementwise kernel share it. */
void cg_broadcast_strides(CgContext *c, const Node *n,
                          LLVMValueRef stride[2][IR_MAX_RANK]);
/* pos_emb reads no sources. */
void cg_k_pos_emb(CgContext *c, const Node *n, LLVMValueRef out);
/* hyrt_longconv_fft on longconv n. */
CgKernelFn cg_call_fft;
/* One row of layernorm: x[xb, xb + D) to dst[db, db + D). */
void cg_ln_row(CgContext *c, LLVMValueRef x, LLVMValueRef xb, int64_t Dn,
               LLVMValueRef gamma, LLVMValueRef beta, double eps,
               LLVMValueRef dst, LLVMValueRef db);

CgKernelFn cg_k_fused_proj, cg_k_fused_mlp, cg_k_gated_direct, cg_k_sin_linear;
/* hyrt_hyena_conv_fft (or its _const / _gen forms) on gated_conv n. */
CgKernelFn cg_call_hyena_fft;
/* Gated_conv n's HyrtSpectra global (made on first use). */
LLVMValueRef cg_kept_slot(CgContext *c, const Node *n);
/* The generation ops (state_save, short_step, conv_step) as calls of
 * the runtime's kernels (runtime/gen.c); a step op's L is the position. */
CgKernelFn cg_call_step;
/* Rows per chunk of row-wise kernel n on the pool: whole tiles of the
 * tiled kernels, enough work per chunk that the pool's bookkeeping is
 * noise. */
int64_t cg_row_grain(const CgContext *c, const Node *n);

/* ---- gemm.c ----------------------------------------------------------- */

/* Whether src slot k of n is a projection matrix with a panel copy. */
bool cg_proj_slot(const CgContext *c, const Node *n, int k);
/* Whether that copy is bf16 (ir_bf16_slot): the GEMM runs in bf16. */
bool cg_bf16_slot(const CgContext *c, const Node *n, int k);
/* Rows [x0, x0 + m) of x (after their layernorm when ln_g is given)
 * times w^T (+ bias) into rows [d0, d0 + m) of dst. */
void cg_project_rows(CgContext *c, const Node *n, int wslot,
                     LLVMValueRef *s, LLVMValueRef x, LLVMValueRef ln_g,
                     LLVMValueRef ln_b, LLVMValueRef lnbuf,
                     LLVMValueRef bias, int64_t Kn, int64_t Nn,
                     LLVMValueRef x0, LLVMValueRef m, LLVMValueRef dst,
                     LLVMValueRef d0);

/* ---- cpu.c, entry.c, target.c ----------------------------------------- */

/* The function that computes n. */
LLVMValueRef cg_emit_kernel(CgContext *c, const Node *n);
/* For a gated_conv{gen} on the FFT path whose spectra the plan keeps: an
 * i1, built where the builder is, true while its slot holds no spectra
 * at the entry's L, the only time its generator runs. NULL for any other
 * node (its operands are always read). */
LLVMValueRef cg_filter_wanted(CgContext *c, const Node *n);
/* Whether n's kernel runs through the pool a range of rows at a time. */
bool cg_row_wise(const Node *n);
/* `void @name.rows(ptr ctx, i64 lo, i64 hi)`: kernel k on a row range. */
LLVMValueRef cg_emit_thunk(CgContext *c, const Node *n, LLVMValueRef k);
/* Before any kernel: the public symbols and the externals. */
void cg_cpu_begin(CgContext *c, const int64_t meta[HYRT_META_COUNT]);
/* After the kernels: a function per entry (the full forward and the
 * graph's entries), hyenac_scratch_bytes, and hyenac_run and
 * hyenac_run_pooled, which call them. */
void cg_cpu_finish(CgContext *c);
/* The target machine and its facts (c->tm, the GEMM shape c->vw, .mr,
 * .nv, .kc, .pvw) for o. */
bool cg_cpu_init(CgContext *c, const CgOptions *o, Diag *d);

#endif
