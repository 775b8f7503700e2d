/*
 * kernels.c - the GPU target's kernels, one or more per computing node,
 * each with hygpu.h's one signature, and the steps of the plan that run
 * them (nv_emit_node_steps):
 *
 *   embed, slice, add/mul, sin/gelu/gelu_tanh/relu, expmod, pos_emb,
 *   dwconv, copy: one thread an element
 *   layernorm: one warp a row, two passes as the CPU's cg_ln_row
 *   linear, fused_proj without conv or gate: one GEMM (gemm.c) with the
 *   prologue and epilogues fused
 *   fused_proj with conv or gate: a group over rows: the GEMM of the
 *   chunk's rows and their K-1 halo rows into the work buffer, then a
 *   kernel for the short causal filter, bias, act, residual or gate
 *   fused_mlp: a group over rows: GEMM 1 (LayerNorm prologue, bias,
 *   activation) into the work buffer, GEMM 2 (bias, residual) out
 *   gated_conv, longconv: a group over channels, FFT by cuFFT: the
 *   filter's spectra (FILTER steps: the folded filter, or generated as
 *   ir/fused.c defines it), the gather of the gated input, R2C, the
 *   pointwise product, C2R, and the scatter with the bias skip and the
 *   post gate; at the one power-of-two length fft4.c compiles for,
 *   its three kernels in place of the gather to the scatter
 *   pool: a block per sample
 *
 * Arithmetic follows the CPU kernels (codegen/cpu/) operation for
 * operation where it can; exp, sin and the GELUs are vmath.c's straight
 * float IR, so no kernel calls libm.
 */
#include "nvptx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- small helpers ---------------------------------------------------- */

LLVMValueRef nv_param(CgContext *c, int i)
{
	return nv_state(c)->p[i];
}

/* Emulation: hook i of hygpu_emu_hooks called with args. */
static LLVMValueRef hook(CgContext *c, int i, LLVMTypeRef ret,
                         LLVMValueRef *args, LLVMTypeRef *pt, unsigned n)
{
	LLVMValueRef f = LLVMBuildLoad2(
	    c->b, c->t_ptr, elem(c, c->t_ptr, nv_state(c)->hooks, i64c(c, i)), "");
	return LLVMBuildCall2(c->b, LLVMFunctionType(ret, pt, n, 0), f, args, n,
	                      "");
}

static LLVMValueRef sreg(CgContext *c, const char *name)
{
	if (nv_state(c)->emulate)
		return hook(c, strstr(name, "ctaid") ? 1 : 0, c->t_i64, NULL, NULL,
		            0);
	return LLVMBuildZExt(c->b, cg_intrinsic(c, name, NULL, 0), c->t_i64, "");
}

LLVMValueRef nv_tid(CgContext *c)
{
	return sreg(c, "llvm.nvvm.read.ptx.sreg.tid.x");
}

LLVMValueRef nv_bid(CgContext *c)
{
	return sreg(c, "llvm.nvvm.read.ptx.sreg.ctaid.x");
}

void nv_barrier(CgContext *c)
{
	if (nv_state(c)->emulate) {
		hook(c, 2, c->t_void, NULL, NULL, 0);
		return;
	}
	cg_intrinsic(c, "llvm.nvvm.barrier0", NULL, 0);
}

LLVMValueRef nv_shared(CgContext *c, LLVMTypeRef elt, int64_t n,
                       const char *name)
{
	LLVMTypeRef at = LLVMArrayType2(elt, (uint64_t)n);
	LLVMValueRef gv = LLVMAddGlobalInAddressSpace(
	    c->mod, at, name, nv_state(c)->emulate ? 0 : 3);
	LLVMSetInitializer(gv, nv_state(c)->emulate ? LLVMConstNull(at)
	                                            : LLVMGetUndef(at));
	LLVMSetLinkage(gv, LLVMInternalLinkage);
	LLVMSetAlignment(gv, 16);
	return gv;
}

LLVMValueRef nv_shfl_xor(CgContext *c, LLVMValueRef x, int mask)
{
	if (nv_state(c)->emulate) {
		LLVMValueRef a[] = {x, i32c(c, mask)};
		LLVMTypeRef pt[] = {c->t_f32, c->t_i32};
		return hook(c, 3, c->t_f32, a, pt, 2);
	}
	LLVMValueRef a[] = {i32c(c, -1), x, i32c(c, mask), i32c(c, 31)};
	return cg_intrinsic(c, "llvm.nvvm.shfl.sync.bfly.f32", a, 4);
}

void nv_return_unless(CgContext *c, LLVMValueRef cond)
{
	LLVMBasicBlockRef go = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "go");
	LLVMBasicBlockRef out = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                      "out");
	LLVMBuildCondBr(c->b, cond, go, out);
	LLVMPositionBuilderAtEnd(c->b, out);
	LLVMBuildRetVoid(c->b);
	LLVMPositionBuilderAtEnd(c->b, go);
}

static LLVMValueRef icmp(CgContext *c, LLVMIntPredicate p, LLVMValueRef a,
                         LLVMValueRef b)
{
	return LLVMBuildICmp(c->b, p, a, b, "");
}

static LLVMValueRef sdiv(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSDiv(c->b, a, b, "");
}

static LLVMValueRef srem(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSRem(c->b, a, b, "");
}

static LLVMValueRef sel(CgContext *c, LLVMValueRef cond, LLVMValueRef a,
                        LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, cond, a, b, "");
}

/* The global index of this thread, and a return unless it is < total. */
static LLVMValueRef elem_index(CgContext *c, LLVMValueRef total)
{
	LLVMValueRef i = add(c, mul(c, nv_bid(c), i64c(c, NV_THREADS)),
	                     nv_tid(c));
	nv_return_unless(c, icmp(c, LLVMIntSLT, i, total));
	return i;
}

LLVMValueRef nv_count(CgContext *c, const TensorType *t, int from, int to)
{
	return numel(c, t, from, to);
}

LLVMValueRef nv_rows(CgContext *c, const TensorType *t)
{
	return numel(c, t, 0, t->rank - 1);
}

int nv_grid_slot(const TensorType *t, int from, int to, int64_t *coef)
{
	bool b = false, l = false;
	int64_t k = 1;
	for (int i = from; i < to; i++) {
		if (t->dim[i] == DIM_B)
			b = true;
		else if (t->dim[i] == DIM_L)
			l = true;
		else
			k *= t->dim[i];
	}
	*coef = k;
	return b && l ? 0 : b ? 1 : l ? 2 : 5;
}

/* A launch covering count(t[from:to]) * per things, `per_block` of them
 * a block. */
static void grid_over(HygpuStep *s, const TensorType *t, int from, int to,
                      int64_t per, int64_t per_block)
{
	int64_t coef;
	int slot = nv_grid_slot(t, from, to, &coef);
	s->grid[slot] += coef * per;
	s->grid_div = per_block;
}

/* ---- addresses -------------------------------------------------------- */

/* The base of region r in the arena, for this kernel's B and L
 * (planned_layout's, codegen/cpu/entry.c). */
static LLVMValueRef region_base(CgContext *c, MemRegion r, LLVMValueRef *unit)
{
	const Graph *g = c->g;
	LLVMValueRef BL = mul(c, c->B, c->L);
	LLVMValueRef base[MEM_COUNT];
	base[MEM_TOKEN] = i64c(c, 0);
	base[MEM_POSITION] = mul(c, i64c(c, g->region_bytes[MEM_TOKEN] +
	                                    nv_state(c)->part_bytes), BL);
	base[MEM_FIXED] = add(c, base[MEM_POSITION],
	                      mul(c, i64c(c, g->region_bytes[MEM_POSITION]), c->L));
	base[MEM_SAMPLE] = add(c, base[MEM_FIXED],
	                       i64c(c, g->region_bytes[MEM_FIXED]));
	*unit = r == MEM_TOKEN      ? BL
	        : r == MEM_POSITION ? c->L
	        : r == MEM_SAMPLE   ? c->B
	                            : i64c(c, 1);
	return base[r];
}

LLVMValueRef nv_addr(CgContext *c, const Node *x)
{
	NvState *s = nv_state(c);
	LLVMTypeRef i8 = LLVMInt8TypeInContext(c->ctx);

	if (x->op == OP_WEIGHT) {
		LLVMValueRef o = i64c(c, (int64_t)c->w->offset[x->id]);
		return LLVMBuildInBoundsGEP2(c->b, i8, nv_param(c, P_WEIGHTS), &o, 1,
		                             x->name);
	}
	if (x->op == OP_INPUT)
		return LLVMBuildLoad2(c->b, c->t_ptr, nv_param(c, P_IO), "tokens");
	if (s->cur_slot[x->id] >= 0)
		return LLVMBuildLoad2(c->b, c->t_ptr,
		                      elem(c, c->t_ptr, nv_param(c, P_IO),
		                           i64c(c, 1 + s->cur_slot[x->id])),
		                      x->name);
	HY_ASSERT(x->region > MEM_NONE && x->region < MEM_COUNT);
	LLVMValueRef unit;
	LLVMValueRef base = region_base(c, x->region, &unit);
	LLVMValueRef o = add(c, base, mul(c, i64c(c, x->offset), unit));
	return LLVMBuildInBoundsGEP2(c->b, i8, nv_param(c, P_ARENA), &o, 1,
	                             x->name);
}

int nv_begin_node(CgContext *c, const Node *n, const char *what)
{
	char name[200];
	snprintf(name, sizeof name, "%s_%s", n->name, what);
	return nv_begin(c, name, NV_THREADS);
}

/* ---- elementwise kernels ---------------------------------------------- */

void nv_emit_copy(CgContext *c, const Node *x, int k, const char *what)
{
	char name[200];
	snprintf(name, sizeof name, "%s_copy_%s", x->name, what);
	int ki = nv_begin(c, name, NV_THREADS);
	LLVMValueRef tot = numel_all(c, &x->type);
	LLVMValueRef i = elem_index(c, tot);
	LLVMValueRef src = nv_addr(c, x);
	LLVMValueRef dst = LLVMBuildLoad2(
	    c->b, c->t_ptr, elem(c, c->t_ptr, nv_param(c, P_IO), i64c(c, 1 + k)),
	    "");
	LLVMValueRef v = LLVMBuildLoad2(c->b, c->t_i32, elem(c, c->t_i32, src, i),
	                                "");
	LLVMBuildStore(c->b, v, elem(c, c->t_i32, dst, i));
	nv_end(c);
	HygpuStep *s = nv_launch(c, ki, NV_THREADS);
	grid_over(s, &x->type, 0, x->type.rank, 1, NV_THREADS);
}

/* One thread an output element: the kernel's index i into body. */
typedef void ElemFn(CgContext *c, const Node *n, LLVMValueRef i,
                    LLVMValueRef out);

static void elementwise(CgContext *c, const Node *n, const char *what,
                        ElemFn *body)
{
	int k = nv_begin_node(c, n, what);
	LLVMValueRef i = elem_index(c, numel_all(c, &n->type));
	body(c, n, i, nv_addr(c, n));
	nv_end(c);
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	grid_over(s, &n->type, 0, n->type.rank, 1, NV_THREADS);
}

/* The embedding, a thread w channels of a token: four (16-byte loads
 * and stores; a thread a channel did one forward's 10^6 x 256 in 0.74 ms
 * on the H200, issue-bound on its index arithmetic) where the rows of the
 * table and of the output are 16-byte aligned (D a multiple of 4, the
 * table's offset and the output's, the token region's times B L or an
 * io output, multiples of 16), else one. */
static void emit_embed(CgContext *c, const Node *n)
{
	const Node *tab = n->src[0];
	int64_t D = tab->type.dim[1];
	bool io = nv_state(c)->cur_slot[n->id] >= 0;
	int w = D % 4 || tab->op != OP_WEIGHT || c->w->offset[tab->id] % 16 ||
	                (!io && (n->region != MEM_TOKEN || n->offset % 16))
	            ? 1 : 4;
	LLVMTypeRef vt = w == 4 ? LLVMVectorType(c->t_f32, 4) : c->t_f32;
	LLVMValueRef W = i64c(c, w);
	int k = nv_begin_node(c, n, "embed");
	LLVMValueRef i = elem_index(c, sdiv(c, numel_all(c, &n->type), W));
	LLVMValueRef t = sdiv(c, i, i64c(c, D / w)), q = srem(c, i, i64c(c, D / w));
	LLVMValueRef id = LLVMBuildLoad2(
	    c->b, c->t_i32, elem(c, c->t_i32, nv_addr(c, n->src[1]), t), "id");
	LLVMValueRef at = add(c, mul(c, LLVMBuildSExt(c->b, id, c->t_i64, ""),
	                             i64c(c, D)),
	                      mul(c, q, W));
	LLVMValueRef v = LLVMBuildLoad2(c->b, vt, elem(c, c->t_f32, nv_addr(c, tab),
	                                               at), "");
	LLVMSetAlignment(v, (unsigned)(4 * w));
	LLVMSetAlignment(LLVMBuildStore(c->b, v, elem(c, c->t_f32, nv_addr(c, n),
	                                              mul(c, i, W))),
	                 (unsigned)(4 * w));
	nv_end(c);
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	grid_over(s, &n->type, 0, n->type.rank, 1, w * NV_THREADS);
}

static void k_slice(CgContext *c, const Node *n, LLVMValueRef i,
                    LLVMValueRef out)
{
	const TensorType *t = &n->src[0]->type;
	int axis = (int)n->iattr[0];
	LLVMValueRef inner = numel(c, t, axis + 1, t->rank);
	LLVMValueRef chunk = mul(c, dimv(c, n->type.dim[axis]), inner);
	LLVMValueRef o = sdiv(c, i, chunk), r = srem(c, i, chunk);
	LLVMValueRef sb = mul(c, add(c, mul(c, o, dimv(c, t->dim[axis])),
	                             i64c(c, n->iattr[1])),
	                      inner);
	LLVMValueRef v = LLVMBuildLoad2(
	    c->b, c->t_i32, elem(c, c->t_i32, nv_addr(c, n->src[0]), add(c, sb, r)),
	    "");
	LLVMBuildStore(c->b, v, elem(c, c->t_i32, out, i));
}

/* numpy broadcasting aligned on the last axis: each operand through its
 * own strides (0 on a broadcast axis), as cg_k_binary. */
static void k_binary(CgContext *c, const Node *n, LLVMValueRef i,
                     LLVMValueRef out)
{
	const TensorType *o = &n->type;
	int R = o->rank;
	LLVMValueRef stride[2][IR_MAX_RANK], base[2], src[2];

	cg_broadcast_strides(c, n, stride);
	for (int a = 0; a < 2; a++) {
		base[a] = i64c(c, 0);
		src[a] = nv_addr(c, n->src[a]);
	}
	LLVMValueRef rest = i;
	for (int k = R - 1; k >= 0; k--) {
		LLVMValueRef d = dimv(c, o->dim[k]);
		LLVMValueRef ik = srem(c, rest, d);
		rest = sdiv(c, rest, d);
		base[0] = add(c, base[0], mul(c, ik, stride[0][k]));
		base[1] = add(c, base[1], mul(c, ik, stride[1][k]));
	}
	LLVMValueRef x = ld(c, src[0], base[0]), y = ld(c, src[1], base[1]);
	st(c, out, i, n->op == OP_ADD ? f_add(c, x, y) : f_mul(c, x, y));
}

static void k_unary(CgContext *c, const Node *n, LLVMValueRef i,
                    LLVMValueRef out)
{
	st(c, out, i, cg_unary(c, n->op, ld(c, nv_addr(c, n->src[0]), i)));
}

static void k_expmod(CgContext *c, const Node *n, LLVMValueRef i,
                     LLVMValueRef out)
{
	LLVMValueRef C = i64c(c, n->type.dim[1]);
	LLVMValueRef r = sdiv(c, i, C), ch = srem(c, i, C);
	LLVMValueRef nt = LLVMBuildFNeg(c->b, ld(c, nv_addr(c, n->src[1]), r), "");
	LLVMValueRef dl = ld(c, nv_addr(c, n->src[2]), ch);
	LLVMValueRef e = cg_vm_exp(c, f_mul(c, nt, cg_intrinsic1(c, "llvm.fabs",
	                                                         c->t_f32, dl)));
	st(c, out, i, f_mul(c, ld(c, nv_addr(c, n->src[0]), i),
	                    f_add(c, e, f32c(c, n->fattr[0]))));
}

static void k_dwconv(CgContext *c, const Node *n, LLVMValueRef i,
                     LLVMValueRef out)
{
	const TensorType *t = &n->type;
	LLVMValueRef Ln = dimv(c, t->dim[1]), C = i64c(c, t->dim[2]);
	int64_t Kn = n->src[1]->type.dim[1];
	LLVMValueRef r = sdiv(c, i, C), ch = srem(c, i, C);
	LLVMValueRef tt = srem(c, r, Ln);
	LLVMValueRef x = nv_addr(c, n->src[0]), w = nv_addr(c, n->src[1]);
	LLVMValueRef y = n->nsrc == 3 ? ld(c, nv_addr(c, n->src[2]), ch)
	                              : f32c(c, 0);
	for (int64_t j = 0; j < Kn; j++) {
		LLVMValueRef sp = add(c, tt, i64c(c, j - (Kn - 1)));
		LLVMValueRef ok = icmp(c, LLVMIntSGE, sp, i64c(c, 0));
		LLVMValueRef xi = sel(c, ok, add(c, mul(c, add(c, r, i64c(c, j - (Kn - 1))),
		                                        C), ch), i64c(c, 0));
		LLVMValueRef p = f_mul(c, ld(c, w, add(c, mul(c, ch, i64c(c, Kn)),
		                                       i64c(c, j))),
		                       ld(c, x, xi));
		y = sel(c, ok, f_add(c, y, p), y);
	}
	st(c, out, i, y);
}

/* ---- double sin and cos for pos_emb ----------------------------------- */

/* sin (cos = 0) or cos (cos = 1) of a double: reduced by 2 pi (in two
 * parts) to [-pi, pi], then Taylor's series to x^31 (error < 1e-15 there). */
LLVMValueRef nv_f64_sincos(CgContext *c, LLVMValueRef a, int cos)
{
	const double hi = 6.28318530717958623200e+00;
	const double lo = 2.44929359829470635445e-16;
	LLVMValueRef k = cg_intrinsic1(c, "llvm.rint", c->t_f64,
	                               f_mul(c, a, f64c(c, 1.0 / hi)));
	LLVMValueRef r = f_sub(c, f_sub(c, a, f_mul(c, k, f64c(c, hi))),
	                       f_mul(c, k, f64c(c, lo)));
	LLVMValueRef r2 = f_mul(c, r, r);
	/* cos r = sum (-1)^j r^2j / (2j)!, sin r = r sum (-1)^j r^2j /
	 * (2j+1)!: Horner in r^2 from the top */
	LLVMValueRef acc = f64c(c, 0);
	for (int j = 15; j >= 0; j--) {
		double f = 1;
		for (int q = 1; q <= 2 * j + !cos; q++)
			f *= q;
		double coef = (j % 2 ? -1.0 : 1.0) / f;
		acc = f_add(c, f_mul(c, acc, r2), f64c(c, coef));
	}
	return cos ? acc : f_mul(c, acc, r);
}

static void k_pos_emb(CgContext *c, const Node *n, LLVMValueRef i,
                      LLVMValueRef out)
{
	int64_t lmax = n->iattr[0], E = n->iattr[1], bands = (E - 1) / 2;
	LLVMValueRef Ev = i64c(c, E);
	LLVMValueRef p = sdiv(c, i, Ev), col = srem(c, i, Ev);
	LLVMValueRef di = LLVMBuildSIToFP(c->b, p, c->t_f64, "");
	LLVMValueRef w = LLVMBuildFDiv(c->b, f_mul(c, f64c(c, 2.0 * M_PI), di),
	                               f64c(c, (double)lmax), "w");
	LLVMValueRef t0 = lmax > 1 ? LLVMBuildFDiv(c->b, di,
	                                           f64c(c, (double)(lmax - 1)), "")
	                           : f64c(c, 0.0);
	/* band j of column col: cos for 1 <= col <= bands, -sin after */
	LLVMValueRef isc = icmp(c, LLVMIntSLE, col, i64c(c, bands));
	LLVMValueRef j = sub(c, sel(c, isc, col, sub(c, col, i64c(c, bands))),
	                     i64c(c, 1));
	j = sel(c, icmp(c, LLVMIntSLT, j, i64c(c, 0)), i64c(c, 0), j);
	LLVMValueRef fj = LLVMBuildSIToFP(c->b, j, c->t_f64, "");
	LLVMValueRef f = bands > 1
	                     ? f_add(c, f64c(c, 1e-4),
	                             LLVMBuildFDiv(c->b,
	                                           f_mul(c, fj,
	                                                 f64c(c, (double)(bands - 1) -
	                                                             1e-4)),
	                                           f64c(c, (double)(bands - 1)),
	                                           ""))
	                     : f64c(c, 1e-4);
	LLVMValueRef a = f_mul(c, f, w);
	LLVMValueRef cs = nv_f64_sincos(c, a, 1);
	LLVMValueRef sn = LLVMBuildFNeg(c->b, nv_f64_sincos(c, a, 0), "");
	LLVMValueRef v = sel(c, icmp(c, LLVMIntEQ, col, i64c(c, 0)), t0,
	                     sel(c, isc, cs, sn));
	st(c, out, i, LLVMBuildFPTrunc(c->b, v, c->t_f32, ""));
}

/* ---- layernorm: a warp a row ------------------------------------------ */

void nv_warp_ln_stats(CgContext *c, LLVMValueRef x, LLVMValueRef xb,
                      int64_t Dn, double eps, LLVMValueRef lane,
                      LLVMValueRef *mean, LLVMValueRef *rstd)
{
	LLVMValueRef sum = cg_var(c, c->t_f32, NULL, "wsum");
	LLVMValueRef sq = cg_var(c, c->t_f32, NULL, "wsq");
	int64_t it = (Dn + 31) / 32;
	Loop l1, l2;

	LLVMBuildStore(c->b, f32c(c, 0), sum);
	LLVMValueRef q = cg_loop_open(c, &l1, i64c(c, 0), i64c(c, it), "w1");
	LLVMValueRef d = add(c, mul(c, q, i64c(c, 32)), lane);
	LLVMValueRef ok = icmp(c, LLVMIntSLT, d, i64c(c, Dn));
	LLVMValueRef v = ld(c, x, add(c, xb, sel(c, ok, d, i64c(c, 0))));
	LLVMBuildStore(c->b, f_add(c, ld_var(c, c->t_f32, sum),
	                           sel(c, ok, v, f32c(c, 0))), sum);
	cg_loop_close(c, &l1);
	*mean = LLVMBuildFDiv(c->b, nv_warp_sum(c, ld_var(c, c->t_f32, sum)),
	                      f32c(c, (double)Dn), "mean");
	LLVMBuildStore(c->b, f32c(c, 0), sq);
	q = cg_loop_open(c, &l2, i64c(c, 0), i64c(c, it), "w2");
	d = add(c, mul(c, q, i64c(c, 32)), lane);
	ok = icmp(c, LLVMIntSLT, d, i64c(c, Dn));
	v = f_sub(c, ld(c, x, add(c, xb, sel(c, ok, d, i64c(c, 0)))), *mean);
	LLVMValueRef acc = ld_var(c, c->t_f32, sq);
	LLVMBuildStore(c->b, sel(c, ok, fmadd_red(c, acc, v, v), acc), sq);
	cg_loop_close(c, &l2);
	*rstd = nv_ln_rstd(c, nv_warp_sum(c, ld_var(c, c->t_f32, sq)), Dn, eps);
}

LLVMValueRef nv_warp_sum(CgContext *c, LLVMValueRef x)
{
	for (int o = 16; o >= 1; o /= 2)
		x = f_add(c, x, nv_shfl_xor(c, x, o));
	return x;
}

LLVMValueRef nv_ln_rstd(CgContext *c, LLVMValueRef sq, int64_t Dn, double eps)
{
	LLVMValueRef v = f_add(c, f_mul(c, sq, f32c(c, 1.0 / (double)Dn)),
	                       f32c(c, eps));
	return LLVMBuildFDiv(c->b, f32c(c, 1.0),
	                     cg_intrinsic1(c, "llvm.sqrt", c->t_f32, v), "rstd");
}

/* Normalised row xb of x into dst[db ..], by the warp. */
static void warp_ln_write(CgContext *c, LLVMValueRef x, LLVMValueRef xb,
                          int64_t Dn, LLVMValueRef g, LLVMValueRef b,
                          LLVMValueRef mean, LLVMValueRef rstd,
                          LLVMValueRef lane, LLVMValueRef dst, LLVMValueRef db)
{
	Loop l;
	LLVMValueRef q = cg_loop_open(c, &l, i64c(c, 0), i64c(c, (Dn + 31) / 32),
	                              "w3");
	LLVMValueRef d = add(c, mul(c, q, i64c(c, 32)), lane);
	LLVMBasicBlockRef bj =
	    cg_if_open(c, icmp(c, LLVMIntSLT, d, i64c(c, Dn)), "then");
	LLVMValueRef xc = f_sub(c, ld(c, x, add(c, xb, d)), mean);
	st(c, dst, add(c, db, d),
	   f_add(c, f_mul(c, f_mul(c, xc, rstd), ld(c, g, d)), ld(c, b, d)));
	cg_if_close(c, bj);
	cg_loop_close(c, &l);
}

LLVMValueRef nv_warp_row(CgContext *c, LLVMValueRef *lane)
{
	LLVMValueRef tid = nv_tid(c);
	LLVMValueRef row = add(c, mul(c, nv_bid(c), i64c(c, NV_THREADS / 32)),
	                       sdiv(c, tid, i64c(c, 32)));
	*lane = srem(c, tid, i64c(c, 32));
	return row;
}

static void emit_layernorm(CgContext *c, const Node *n)
{
	int64_t Dn = n->type.dim[n->type.rank - 1];
	int k = nv_begin_node(c, n, "ln");
	LLVMValueRef lane, row = nv_warp_row(c, &lane);
	nv_return_unless(c, icmp(c, LLVMIntSLT, row, nv_rows(c, &n->type)));
	LLVMValueRef x = nv_addr(c, n->src[0]);
	LLVMValueRef xb = mul(c, row, i64c(c, Dn));
	LLVMValueRef mean, rstd;
	nv_warp_ln_stats(c, x, xb, Dn, n->fattr[0], lane, &mean, &rstd);
	warp_ln_write(c, x, xb, Dn, nv_addr(c, n->src[1]), nv_addr(c, n->src[2]),
	              mean, rstd, lane, nv_addr(c, n), xb);
	nv_end(c);
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	grid_over(s, &n->type, 0, n->type.rank - 1, 1, NV_THREADS / 32);
}

/* ---- projections ------------------------------------------------------ */

/* g's weight matrix, bias and LayerNorm from n's sources w, bias, ln_g,
 * ln_b (indices; -1: none): their nodes (which the sm_90a GEMM reads
 * pre-split and folds, nv_gemm_body) and their addresses. */
static void gemm_weights(CgContext *c, NvGemm *g, const Node *n, int w,
                         int bias, int ln_g, int ln_b)
{
	g->wnode = n->src[w];
	g->w = nv_addr(c, g->wnode);
	g->bf16 = ir_bf16_slot(c->g, n, w);
	g->bias_node = bias >= 0 ? n->src[bias] : NULL;
	g->bias = g->bias_node ? nv_addr(c, g->bias_node) : NULL;
	g->ln_gnode = ln_g >= 0 ? n->src[ln_g] : NULL;
	g->ln_g = g->ln_gnode ? nv_addr(c, g->ln_gnode) : NULL;
	g->ln_bnode = ln_b >= 0 ? n->src[ln_b] : NULL;
	g->ln_b = g->ln_bnode ? nv_addr(c, g->ln_bnode) : NULL;
}

/* A GEMM over all rows of n's output (no group). */
static void gemm_launch(CgContext *c, const Node *n, int k, int64_t N,
                        const TensorType *rows_t)
{
	int64_t bm, bn;
	nv_gemm_tile(c, N, &bm, &bn);
	int64_t nb = (N + bn - 1) / bn;
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	grid_over(s, rows_t, 0, rows_t->rank - 1, nb, bm);
	s->grid[5] += nb * (bm - 1);
}

static void emit_linear(CgContext *c, const Node *n)
{
	const TensorType *xt = &n->src[0]->type;
	NvGemm g = {0};
	g.K = xt->dim[xt->rank - 1];
	g.N = n->src[1]->type.dim[0];
	int k = nv_begin_node(c, n, "gemm");
	g.M = nv_rows(c, &n->type);
	g.a = nv_addr(c, n->src[0]);
	g.a_row0 = i64c(c, 0);
	gemm_weights(c, &g, n, 1, n->nsrc == 3 ? 2 : -1, -1, -1);
	g.act = FP_ACT_NONE;
	g.dst = nv_addr(c, n);
	g.dst_row0 = i64c(c, 0);
	nv_gemm_body(c, &g);
	nv_end(c);
	gemm_launch(c, n, k, g.N, &n->type);
}

/* A grouped LayerNorm GEMM whose row tiles span several column tiles
 * has its rows' statistics made once, by a kernel of their own before
 * it, rather than again by every block of a row tile (N = 768 in_proj:
 * 6 times). They go after the `rows` rows of N floats that the GEMM
 * writes into the group's work: `rows` means, then `rows` scales (so
 * the group's work has 8 more bytes a row). */
static bool stats_first(CgContext *c, int64_t N)
{
	int64_t bm, bn;
	nv_gemm_tile(c, N, &bm, &bn);
	return N > bn;
}

static void stats_at(CgContext *c, NvGemm *g, LLVMValueRef rows, int64_t N)
{
	LLVMValueRef w = nv_param(c, P_WORK);
	LLVMValueRef o = mul(c, rows, i64c(c, N));
	g->st_mean = LLVMBuildGEP2(c->b, c->t_f32, w, &o, 1, "stmean");
	g->st_rstd = LLVMBuildGEP2(c->b, c->t_f32, g->st_mean, &rows, 1,
	                           "strstd");
}

/* The statistics kernel of a grouped GEMM over the group's rows
 * [a - H, a + cnt) of x (K floats a row), into its work after N floats a
 * row. */
static void emit_gemm_stats(CgContext *c, const Node *n, const Node *x,
                            int64_t K, int64_t N, int64_t H, double eps)
{
	NvGemm g = { .K = K, .N = N, .eps = eps };
	int k = nv_begin_node(c, n, "lnstats");

	g.M = add(c, nv_param(c, P_CNT), i64c(c, H));
	g.a = nv_addr(c, x);
	g.a_row0 = sub(c, nv_param(c, P_A), i64c(c, H));
	stats_at(c, &g, g.M, N);
	nv_gemm_stats(c, &g);
	nv_end(c);
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	s->grid[3] = 1;
	s->grid[5] = H + NV_THREADS / 32 - 1;
	s->grid_div = NV_THREADS / 32;
}

static HygpuStep *group(CgContext *c, int64_t dim, int64_t units,
                        int64_t max_chunk, int64_t per_unit, int64_t fixed)
{
	HygpuStep *s = nv_step(c, HYGPU_GROUP);
	s->dim = dim;
	s->units = units;
	s->max_chunk = max_chunk < 1 ? 1 : max_chunk;
	s->work_per_unit = per_unit;
	s->work_fixed = fixed;
	s->conv = -1;
	return s;
}

/* Steps since the group step g: its count. */
static void close_group(CgContext *c, int gi)
{
	NvState *s = nv_state(c);
	s->tmpl[gi].count = s->ntmpl - gi - 1;
}

/* The kernel body after fused_proj n's GEMM (see emit_fused_proj): rows
 * [0, P_CNT) of the group's chunk from the projected rows in work (the
 * filter's H halo rows first), channels [0, Cn) of its N. */
enum { CONV_ROWS = 4 };

static void emit_proj_conv(CgContext *c, const Node *n, const FpSrc *fs,
                           int64_t Nn, int64_t Cn, int64_t Dn, int64_t KC,
                           int64_t H, bool gate, FpAct act)
{
	LLVMValueRef a = nv_param(c, P_A), cnt = nv_param(c, P_CNT);
	LLVMValueRef N = i64c(c, Nn), zero = i64c(c, 0);
	LLVMValueRef row0 = mul(c, nv_bid(c), i64c(c, CONV_ROWS));
	LLVMValueRef work = nv_param(c, P_WORK), out = nv_addr(c, n);
	LLVMValueRef cw = fs->conv_w >= 0 ? nv_addr(c, n->src[fs->conv_w]) : NULL;
	LLVMValueRef cb = fs->conv_b >= 0 ? nv_addr(c, n->src[fs->conv_b]) : NULL;
	LLVMValueRef res = fs->res >= 0 ? nv_addr(c, n->src[fs->res]) : NULL;
	LLVMValueRef t[CONV_ROWS], live[CONV_ROWS];

	nv_return_unless(c, icmp(c, LLVMIntSLT, row0, cnt));
	for (int i = 0; i < CONV_ROWS; i++) {
		LLVMValueRef row = add(c, row0, i64c(c, i));
		live[i] = icmp(c, LLVMIntSLT, row, cnt);
		t[i] = srem(c, add(c, a, row), c->L);
	}
	for (int64_t c0 = 0; c0 < Cn; c0 += NV_THREADS) {
		LLVMValueRef ch = add(c, nv_tid(c), i64c(c, c0));
		LLVMBasicBlockRef in = Cn - c0 < NV_THREADS
		                           ? cg_if_open(c, icmp(c, LLVMIntSLT, ch,
		                                                i64c(c, Cn)), "cc")
		                           : NULL;
		LLVMValueRef y[3][CONV_ROWS];
		for (int part = 0; part < (gate ? 3 : 1); part++) {
			LLVMValueRef cc = add(c, ch, i64c(c, part * Dn));
			/* projected rows row0 .. row0 + CONV_ROWS - 1 + H of the
			 * work (its first H rows are the halo), zero past its end */
			LLVMValueRef x[CONV_ROWS + 8], w[8];
			HY_ASSERT(KC <= 8);
			for (int q = 0; q < CONV_ROWS + H; q++) {
				LLVMValueRef wr = add(c, row0, i64c(c, q));
				LLVMValueRef ok = icmp(c, LLVMIntSLT, wr,
				                       add(c, cnt, i64c(c, H)));
				x[q] = sel(c, ok, ld(c, work, add(c, mul(c, sel(c, ok, wr,
				                                                  zero), N),
				                                    cc)), f32c(c, 0));
			}
			for (int64_t j = 0; j < KC; j++)
				w[j] = ld(c, cw, add(c, mul(c, cc, i64c(c, KC)), i64c(c, j)));
			for (int i = 0; i < CONV_ROWS; i++) {
				if (!KC) {
					y[part][i] = x[i];
					continue;
				}
				LLVMValueRef v = cb ? ld(c, cb, cc) : f32c(c, 0);
				for (int64_t j = 0; j < KC; j++) {
					LLVMValueRef ok = icmp(c, LLVMIntSGE,
					                       add(c, t[i], i64c(c, j - H)),
					                       zero);
					v = sel(c, ok, f_add(c, v, f_mul(c, w[j], x[i + j])), v);
				}
				y[part][i] = v;
			}
		}
		for (int i = 0; i < CONV_ROWS; i++) {
			LLVMValueRef r = add(c, a, add(c, row0, i64c(c, i)));
			LLVMBasicBlockRef bi = cg_if_open(c, live[i], "cr");
			if (gate) {
				LLVMValueRef ob = mul(c, r, i64c(c, 2 * Dn));
				st(c, out, add(c, ob, ch), y[0][i]);
				st(c, out, add(c, ob, add(c, ch, i64c(c, Dn))),
				   f_mul(c, y[1][i], y[2][i]));
			} else {
				LLVMValueRef v = cg_act_value(c, act, y[0][i]);
				LLVMValueRef oi = add(c, mul(c, r, N), ch);
				if (res)
					v = f_add(c, v, ld(c, res, oi));
				st(c, out, oi, v);
			}
			cg_if_close(c, bi);
		}
		if (in)
			cg_if_close(c, in);
	}
}

/* On sm_90a (nv_gemm_whole_tiles), a gated fused_proj with its short
 * filter runs as one GEMM whose blocks keep their tile: tiles of BM rows
 * BM - H apart (the first H rows of a tile are the halo of its filter),
 * W's rows in tcg_pair_row's order (a 128-column tile holds 64 channels'
 * v and then their g), and this epilogue, which reads the tile (+ the
 * bias) from shared memory and writes [post | g * v] for the tile's rows
 * H.. into the output: a thread per column, down a run of rows with the
 * filter's window in registers. The sums are the filter kernel's, in
 * the same order. No projected rows go through the group's work. */
typedef struct ProjTile {
	const Node *n;
	const FpSrc *fs;
	int64_t D, KC, H;
} ProjTile;

/* The tile's value at row i, column col (i64), as the work held it:
 * plus the bias of the column's channel (bias: NULL for none). */
static LLVMValueRef tile_at(CgContext *c, LLVMValueRef sh, int ldt,
                            LLVMValueRef i, LLVMValueRef col,
                            LLVMValueRef bias)
{
	LLVMValueRef v = ld(c, sh, add(c, mul(c, i, i64c(c, ldt)), col));
	return bias ? f_add(c, v, bias) : v;
}

/* The filter down rows [i0, i1) of the tile (i64), for nc (1 or 2)
 * columns col[k] (i64 in the tile) of W's channels no[k] (i64): calls
 * put with each row's output row o (chunk-relative, i64) and the nc
 * values, for o < cnt. */
typedef void PutFn(CgContext *c, void *u, LLVMValueRef o, LLVMValueRef *y);

/* What filter_rows needs: the taps w, the window win (variables, the H
 * rows before the next), the filter's bias cb and the projection's
 * bias of each column. */
typedef struct FilterWin {
	int nc;
	int64_t KC, H;
	LLVMValueRef w[2][8], win[2][8], cb[2], bias[2];
	const LLVMValueRef *col;
	LLVMValueRef sh, row0;
	int ldt;
	PutFn *put;
	void *u;
} FilterWin;

/* The loop over rows [i0, i1): with tv (the variable of row i0's
 * position) each tap checked against the sequence's start and each
 * output against cnt; without, for rows that hold no sequence start
 * and whose outputs are all in range, neither (the same sums). */
static void filter_rows(CgContext *c, const FilterWin *fw, LLVMValueRef i0,
                        LLVMValueRef i1, LLVMValueRef tv)
{
	int64_t KC = fw->KC, H = fw->H;
	LLVMValueRef y[2], t = NULL;
	Loop l;
	LLVMValueRef i = cg_loop_open(c, &l, i0, i1, "fr");

	if (tv)
		t = ld_var(c, c->t_i64, tv);
	for (int k = 0; k < fw->nc; k++) {
		LLVMValueRef x[9];
		for (int64_t j = 0; j < H; j++)
			x[j] = ld_var(c, c->t_f32, fw->win[k][j]);
		x[H] = tile_at(c, fw->sh, fw->ldt, i, fw->col[k], fw->bias[k]);
		y[k] = fw->cb[k] ? fw->cb[k] : f32c(c, 0);
		for (int64_t j = 0; j < KC; j++) {
			LLVMValueRef s = f_add(c, y[k], f_mul(c, fw->w[k][j], x[j]));
			y[k] = t ? sel(c, icmp(c, LLVMIntSGE,
			                       add(c, t, i64c(c, j - H)), i64c(c, 0)),
			               s, y[k])
			         : s;
		}
		for (int64_t j = 0; j < H; j++)
			LLVMBuildStore(c->b, x[j + 1], fw->win[k][j]);
	}
	LLVMValueRef o = sub(c, add(c, fw->row0, i), i64c(c, H));
	LLVMBasicBlockRef in = t ? cg_if_open(c, icmp(c, LLVMIntSLT, o,
	                                              nv_param(c, P_CNT)), "fo")
	                         : NULL;
	fw->put(c, fw->u, o, y);
	if (in)
		cg_if_close(c, in);
	if (t) {
		LLVMValueRef t1 = add(c, t, i64c(c, 1));
		LLVMBuildStore(c->b, sel(c, icmp(c, LLVMIntEQ, t1, c->L),
		                         i64c(c, 0), t1), tv);
	}
	cg_loop_close(c, &l);
}

static void tile_filter(CgContext *c, const ProjTile *pt, const NvGemm *g,
                        LLVMValueRef sh, int ldt, LLVMValueRef row0,
                        LLVMValueRef i0, LLVMValueRef i1, int nc,
                        const LLVMValueRef *col, const LLVMValueRef *no,
                        PutFn *put, void *u)
{
	int64_t KC = pt->KC, H = pt->H;
	LLVMValueRef cnt = nv_param(c, P_CNT), a = nv_param(c, P_A);
	LLVMValueRef cw = nv_addr(c, pt->n->src[pt->fs->conv_w]);
	LLVMValueRef cbp = pt->fs->conv_b >= 0
	                       ? nv_addr(c, pt->n->src[pt->fs->conv_b])
	                       : NULL;
	FilterWin fw = { .nc = nc, .KC = KC, .H = H, .col = col, .sh = sh,
	                 .row0 = row0, .ldt = ldt, .put = put, .u = u };

	HY_ASSERT(KC >= 1 && KC <= 8 && nc >= 1 && nc <= 2);
	for (int k = 0; k < nc; k++) {
		for (int64_t j = 0; j < KC; j++)
			fw.w[k][j] = ld(c, cw, add(c, mul(c, no[k], i64c(c, KC)),
			                           i64c(c, j)));
		fw.cb[k] = cbp ? ld(c, cbp, no[k]) : NULL;
		fw.bias[k] = g->bias ? ld(c, g->bias, no[k]) : NULL;
		for (int64_t j = 0; j < H; j++)
			fw.win[k][j] = cg_var(c, c->t_f32,
			                      tile_at(c, sh, ldt,
			                              add(c, i0, i64c(c, j - H)),
			                              col[k], fw.bias[k]), "win");
	}
	/* the position of row i0's output; the rows need no checks when
	 * they run from position H or later to the sequence's end at most
	 * and their outputs are all below cnt (all but a few tiles of a
	 * long sequence): there the loop has no compare or select a row */
	LLVMValueRef t0 = srem(c, add(c, a, sub(c, add(c, row0, i0),
	                                        i64c(c, H))), c->L);
	LLVMValueRef plain = LLVMBuildAnd(c->b,
		LLVMBuildAnd(c->b, icmp(c, LLVMIntSGE, t0, i64c(c, H)),
		             icmp(c, LLVMIntSLE, add(c, t0, sub(c, i1, i0)), c->L),
		             ""),
		icmp(c, LLVMIntSLE, sub(c, add(c, row0, i1), i64c(c, H)), cnt), "");
	LLVMValueRef tv = cg_var(c, c->t_i64, t0, "t");
	LLVMBasicBlockRef way[2] = {
	    LLVMAppendBasicBlockInContext(c->ctx, c->fn, "fplain"),
	    LLVMAppendBasicBlockInContext(c->ctx, c->fn, "fcheck")};
	LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                       "fdone");
	LLVMBuildCondBr(c->b, plain, way[0], way[1]);
	for (int checked = 0; checked < 2; checked++) {
		LLVMPositionBuilderAtEnd(c->b, way[checked]);
		filter_rows(c, &fw, i0, i1, checked ? tv : NULL);
		LLVMBuildBr(c->b, done);
	}
	LLVMPositionBuilderAtEnd(c->b, done);
}

/* Where the outputs go: post (one column) at channel ch, or g * v (two
 * columns) at D + ch, of row a + o of [post | g * v]. */
typedef struct PutOut {
	LLVMValueRef out, ch;
	int64_t D;
} PutOut;

static void put_post(CgContext *c, void *u, LLVMValueRef o, LLVMValueRef *y)
{
	PutOut *p = u;
	LLVMValueRef r = add(c, nv_param(c, P_A), o);
	st(c, p->out, add(c, mul(c, r, i64c(c, 2 * p->D)), p->ch), y[0]);
}

static void put_gate(CgContext *c, void *u, LLVMValueRef o, LLVMValueRef *y)
{
	PutOut *p = u;
	LLVMValueRef r = add(c, nv_param(c, P_A), o);
	st(c, p->out, add(c, mul(c, r, i64c(c, 2 * p->D)),
	                  add(c, p->ch, i64c(c, p->D))), f_mul(c, y[0], y[1]));
}

/* A run of rows [i0, i1) of the tile's BM: run k of `runs`. */
static void tile_run(CgContext *c, int64_t H, int runs, LLVMValueRef k,
                     LLVMValueRef *i0, LLVMValueRef *i1)
{
	int64_t per = (128 - H + runs - 1) / runs;
	*i0 = add(c, i64c(c, H), mul(c, k, i64c(c, per)));
	LLVMValueRef e = add(c, *i0, i64c(c, per));
	*i1 = sel(c, icmp(c, LLVMIntSLT, e, i64c(c, 128)), e, i64c(c, 128));
}

static void proj_tile_epi(void *u, CgContext *c, const NvGemm *g,
                          LLVMValueRef sh, int ldt, LLVMValueRef row0,
                          LLVMValueRef col0, LLVMValueRef tid32)
{
	const ProjTile *pt = u;
	int64_t D = pt->D, H = pt->H;
	LLVMValueRef tid = LLVMBuildZExt(c->b, tid32, c->t_i64, "");
	LLVMValueRef out = nv_addr(c, pt->n), i0, i1;
	LLVMBasicBlockRef bp = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "tpost");
	LLVMBasicBlockRef bg = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "tgate");
	LLVMBasicBlockRef bd = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "tdone");

	LLVMBuildCondBr(c->b, icmp(c, LLVMIntSLT, col0, i64c(c, D)), bp, bg);
	/* post: a thread a column (tid % 128), the rows in 2 runs */
	LLVMPositionBuilderAtEnd(c->b, bp);
	{
		LLVMValueRef col = srem(c, tid, i64c(c, 128));
		PutOut po = { out, add(c, col0, col), D };
		tile_run(c, H, 2, sdiv(c, tid, i64c(c, 128)), &i0, &i1);
		tile_filter(c, pt, g, sh, ldt, row0, i0, i1, 1, &col, &po.ch,
		            put_post, &po);
	}
	LLVMBuildBr(c->b, bd);
	/* v and g: a thread a channel (tid % 64 of the tile's 64, whose v is
	 * column p and g column 64 + p), the rows in 4 runs */
	LLVMPositionBuilderAtEnd(c->b, bg);
	{
		LLVMValueRef p = srem(c, tid, i64c(c, 64));
		LLVMValueRef ch = add(c, mul(c, sdiv(c, sub(c, col0, i64c(c, D)),
		                                     i64c(c, 128)), i64c(c, 64)), p);
		LLVMValueRef cols[2] = { p, add(c, p, i64c(c, 64)) };
		LLVMValueRef nos[2] = { add(c, ch, i64c(c, D)),
		                        add(c, ch, i64c(c, 2 * D)) };
		PutOut po = { out, ch, D };
		tile_run(c, H, 4, sdiv(c, tid, i64c(c, 64)), &i0, &i1);
		tile_filter(c, pt, g, sh, ldt, row0, i0, i1, 2, cols, nos, put_gate,
		            &po);
	}
	LLVMBuildBr(c->b, bd);
	LLVMPositionBuilderAtEnd(c->b, bd);
}

/* ---- LayerNorm statistics from the GEMM that wrote the rows ----------
 * A LayerNorm GEMM (in_proj, fc1) normalises rows that a residual GEMM
 * (out_proj, the previous layer's fc2) has just written. On sm_90a that
 * GEMM's epilogue has each tile's rows in registers: it leaves each row's
 * mean over the tile's 128 columns and the sum of squared deviations
 * from it (tcgemm.h row_parts), and the LayerNorm GEMM combines a row's pairs
 * (ln_stats) instead of a statistics kernel reading every row again. The
 * pairs of one writer at a time sit after the token region's tensors:
 * a reader takes them only when no other writer comes between. */

/* The column tiles of n's pairs if n is a residual GEMM whose epilogue
 * can leave them: token rows, no activation, W a weight (wgmma), and
 * whole 128-column tiles; else 0. */
static int64_t part_tiles_of(CgContext *c, const Node *n)
{
	int64_t bm, bn, N;

	if (!nv_gemm_whole_tiles(c) || n->type.rank != 3 ||
	    n->type.dim[0] != DIM_B || n->type.dim[1] != DIM_L)
		return 0;
	if (n->op == OP_FUSED_PROJ) {
		FpSrc fs;
		ir_fp_srcs(n, &fs);
		if (fs.res < 0 || n->iattr[FP_RES] != 1 || n->iattr[FP_CONV] ||
		    n->iattr[FP_GATE] || n->iattr[FP_ROWS] ||
		    n->iattr[FP_ACT] != FP_ACT_NONE || fs.ln_g >= 0 ||
		    n->src[fs.w]->op != OP_WEIGHT)
			return 0;
	} else if (n->op == OP_FUSED_MLP) {
		FmSrc fs;
		ir_fm_srcs(n, &fs);
		if (fs.res < 0 || n->src[fs.w2]->op != OP_WEIGHT)
			return 0;
	} else {
		return 0;
	}
	N = n->type.dim[2];
	nv_gemm_tile(c, N, &bm, &bn);
	return bm == 128 && bn == 128 && N % bn == 0 && N / bn <= NV_MAX_PARTS
	           ? N / bn : 0;
}

/* The rows n's LayerNorm normalises (fused_proj, fused_mlp), or NULL. */
static const Node *ln_input(const Node *n)
{
	if (n->op == OP_FUSED_PROJ) {
		FpSrc fs;
		ir_fp_srcs(n, &fs);
		return fs.ln_g >= 0 ? n->src[fs.x] : NULL;
	}
	if (n->op == OP_FUSED_MLP) {
		FmSrc fs;
		ir_fm_srcs(n, &fs);
		return fs.ln_g >= 0 ? n->src[fs.x] : NULL;
	}
	return NULL;
}

void nv_plan_parts(CgContext *c)
{
	NvState *s = nv_state(c);
	const Graph *g = c->g;
	const Node *last = NULL; /* the latest writer there could be */
	int64_t last_tiles = 0;  /* its part_tiles_of */

	s->parts_written = calloc((size_t)g->nnodes + 1,
	                          sizeof *s->parts_written);
	s->parts_read = calloc((size_t)g->nnodes + 1, sizeof *s->parts_read);
	HY_ASSERT(s->parts_written && s->parts_read);
	s->part_bytes = 0;
	HY_ASSERT(g->region_bytes[MEM_TOKEN] % 4 == 0);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (!cg_computes(n))
			continue;
		const Node *x = ln_input(n);
		if (x && x == last) {
			s->parts_read[n->id] = true;
			s->parts_written[x->id] = last_tiles;
			/* 16 bytes a token at a time, so that the regions
			 * after keep the 16-byte alignment of vector accesses */
			int64_t bytes = (8 * last_tiles + 15) / 16 * 16;
			if (bytes > s->part_bytes)
				s->part_bytes = bytes;
		}
		int64_t t = part_tiles_of(c, n);
		if (t) {
			last = n;
			last_tiles = t;
		}
	}
}

/* The pairs' place in the kernel being emitted. */
static LLVMValueRef parts_addr(CgContext *c)
{
	LLVMTypeRef i8 = LLVMInt8TypeInContext(c->ctx);
	LLVMValueRef o = mul(c, i64c(c, c->g->region_bytes[MEM_TOKEN]),
	                     mul(c, c->B, c->L));
	return LLVMBuildInBoundsGEP2(c->b, i8, nv_param(c, P_ARENA), &o, 1,
	                             "parts");
}

/* g reads x's pairs where nv_plan_parts says n does (x: n's LayerNorm
 * input). */
static void read_parts(CgContext *c, NvGemm *g, const Node *n, const Node *x)
{
	NvState *s = nv_state(c);

	if (!s->parts_read[n->id])
		return;
	g->st_part = parts_addr(c);
	g->part_tiles = s->parts_written[x->id];
}

/* g, n's residual GEMM, leaves its rows' pairs where nv_plan_parts says
 * a later GEMM reads them. */
static void write_parts(CgContext *c, NvGemm *g, const Node *n)
{
	NvState *s = nv_state(c);

	if (!s->parts_written[n->id])
		return;
	g->part_out = parts_addr(c);
	g->part_tiles = s->parts_written[n->id];
}

static void emit_fused_proj(CgContext *c, const Node *n)
{
	FpSrc fs;
	ir_fp_srcs(n, &fs);
	const TensorType *xt = &n->src[fs.x]->type;
	int64_t Kn = xt->dim[xt->rank - 1], Nn = n->src[fs.w]->type.dim[0];
	int64_t KC = n->iattr[FP_CONV], H = KC ? KC - 1 : 0;
	bool gate = n->iattr[FP_GATE] != 0;
	FpAct act = (FpAct)n->iattr[FP_ACT];
	NvGemm g = {0};
	if (n->iattr[FP_ROWS] || n->iattr[FP_GATE] == 2 || n->iattr[FP_RES] == 2)
		hy_die("no GPU kernel for %s (a row window or a post gate: fuse "
		       "makes those for the CPU only)", n->name);
	g.K = Kn;
	g.N = Nn;
	g.eps = n->fattr[0];

	if (!KC && !gate) {
		int k = nv_begin_node(c, n, "gemm");
		g.M = nv_rows(c, &n->type);
		g.a = nv_addr(c, n->src[fs.x]);
		g.a_row0 = i64c(c, 0);
		gemm_weights(c, &g, n, fs.w, fs.bias, fs.ln_g, fs.ln_b);
		read_parts(c, &g, n, n->src[fs.x]);
		write_parts(c, &g, n);
		g.act = act;
		g.res = fs.res >= 0 ? nv_addr(c, n->src[fs.res]) : NULL;
		g.res_row0 = i64c(c, 0);
		g.dst = nv_addr(c, n);
		g.dst_row0 = i64c(c, 0);
		nv_gemm_body(c, &g);
		nv_end(c);
		gemm_launch(c, n, k, Nn, &n->type);
		return;
	}
	/* a group over rows: the rows [a - H, a + cnt) projected into work */
	HY_ASSERT(n->type.rank == 3 && n->type.dim[0] == DIM_B &&
	          n->type.dim[1] == DIM_L);
	int gi = nv_state(c)->ntmpl;
	int64_t bm, bn, Dn = Nn / 3;
	nv_gemm_tile(c, Nn, &bm, &bn);
	/* the filter in the GEMM's epilogue (proj_tile_epi) */
	bool whole = nv_gemm_whole_tiles(c) && KC && gate && fs.conv_w >= 0 &&
	             n->src[fs.w]->op == OP_WEIGHT && bm == 128 && bn == 128 &&
	             Dn % 128 == 0 && KC <= 8;
	/* the projected rows (unless whole) and the statistics (unless
	 * the GEMM that wrote x left them) */
	bool pre = fs.ln_g >= 0 && !nv_state(c)->parts_read[n->id] &&
	           stats_first(c, Nn);
	int64_t wrow = whole ? 0 : Nn;
	int64_t row_bytes = wrow * 4 + (pre ? 8 : 0);
	/* chunks of rows as long as the work allows (whole: only the
	 * statistics, so in practice all of them: fewer launches and waves) */
	group(c, HYGPU_DIM_ROWS, 0,
	      NV_WORK_LIMIT / (whole ? (row_bytes > 4 ? row_bytes : 4) : Nn * 4),
	      row_bytes, H * row_bytes + 64);
	if (pre)
		emit_gemm_stats(c, n, n->src[fs.x], Kn, wrow, H, g.eps);
	int k = nv_begin_node(c, n, "gemm");
	LLVMValueRef a = nv_param(c, P_A);
	g.M = add(c, nv_param(c, P_CNT), i64c(c, H));
	if (pre)
		stats_at(c, &g, g.M, wrow);
	ProjTile pt = { n, &fs, Dn, KC, H };
	NvTileEpi te = { proj_tile_epi, &pt, (int)(bm - H) };
	if (whole) {
		g.w_pairs = Dn;
		g.tile = &te;
	}
	g.a = nv_addr(c, n->src[fs.x]);
	g.a_row0 = sub(c, a, i64c(c, H));
	gemm_weights(c, &g, n, fs.w, fs.bias, fs.ln_g, fs.ln_b);
	read_parts(c, &g, n, n->src[fs.x]);
	g.act = FP_ACT_NONE;
	g.dst = nv_param(c, P_WORK);
	g.dst_row0 = i64c(c, 0);
	nv_gemm_body(c, &g);
	nv_end(c);
	int64_t nb = (Nn + bn - 1) / bn;
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	if (whole) { /* tiles bm - H rows apart over the cnt output rows */
		s->grid[3] = nb;
		s->grid[5] = nb * (bm - H - 1);
		s->grid_div = bm - H;
		close_group(c, gi);
		return;
	}
	s->grid[3] = nb;
	s->grid[5] = nb * (H + bm - 1);
	s->grid_div = bm;

	/* the filter, bias, act, residual or gate: a block per CONV_ROWS
	 * rows, a thread per channel (NV_THREADS of them at a time), each
	 * projected value loaded once for the rows of the block that read
	 * it (the filter's window slides down the rows in registers); sums
	 * in the taps' order, as before and as the CPU */
	int64_t Cn = gate ? Dn : Nn;
	k = nv_begin_node(c, n, "conv");
	emit_proj_conv(c, n, &fs, Nn, Cn, Dn, KC, H, gate, act);
	nv_end(c);
	s = nv_launch(c, k, NV_THREADS);
	s->grid[3] = 1;
	s->grid_div = CONV_ROWS;
	close_group(c, gi);
}

static void emit_fused_mlp(CgContext *c, const Node *n)
{
	FmSrc fs;
	ir_fm_srcs(n, &fs);
	const TensorType *xt = &n->src[fs.x]->type;
	int64_t Kn = xt->dim[xt->rank - 1], Hn = n->src[fs.w1]->type.dim[0];
	int64_t Nn = n->type.dim[n->type.rank - 1];
	NvGemm g = {0};

	HY_ASSERT(n->type.rank == 3 && n->type.dim[0] == DIM_B &&
	          n->type.dim[1] == DIM_L);
	int gi = nv_state(c)->ntmpl;
	bool pre = fs.ln_g >= 0 && !nv_state(c)->parts_read[n->id] &&
	           stats_first(c, Hn);
	/* the hidden layer in bf16 where both GEMMs are bf16 on tensor
	 * cores: fc2 rounds its A to bf16 anyway, so the same products from
	 * half the bytes */
	bool h16 = nv_tensor_cores(c) && Hn % 8 == 0 &&
	           ir_bf16_slot(c->g, n, fs.w1) && ir_bf16_slot(c->g, n, fs.w2);
	int64_t hb = h16 ? 2 : 4; /* bytes of a hidden value */
	int64_t hw = Hn * hb / 4; /* floats of a row's hidden layer */
	/* chunks of up to 1 GiB of hidden layer (the runtime takes less when
	 * memory is short): one large-1m layer at 10^6 in bf16 ran 20.60 ms
	 * a forward with 256 MiB, 20.42 with this, 21.18 with 32 MiB */
	group(c, HYGPU_DIM_ROWS, 0, 4 * NV_WORK_LIMIT / (Hn * hb),
	      Hn * hb + (pre ? 8 : 0), 64);
	if (pre)
		emit_gemm_stats(c, n, n->src[fs.x], Kn, hw, 0, n->fattr[0]);
	int k = nv_begin_node(c, n, "gemm1");
	g.K = Kn;
	g.N = Hn;
	g.eps = n->fattr[0];
	g.M = nv_param(c, P_CNT);
	if (pre)
		stats_at(c, &g, g.M, hw);
	g.a = nv_addr(c, n->src[fs.x]);
	g.a_row0 = nv_param(c, P_A);
	gemm_weights(c, &g, n, fs.w1, fs.b1, fs.ln_g, fs.ln_b);
	read_parts(c, &g, n, n->src[fs.x]);
	g.act = (FpAct)n->iattr[FM_ACT];
	g.dst = nv_param(c, P_WORK);
	g.dst_row0 = i64c(c, 0);
	g.dst_bf16 = h16;
	nv_gemm_body(c, &g);
	nv_end(c);
	int64_t bm, bn;
	nv_gemm_tile(c, Hn, &bm, &bn);
	int64_t nb = (Hn + bn - 1) / bn;
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	s->grid[3] = nb;
	s->grid[5] = nb * (bm - 1);
	s->grid_div = bm;

	NvGemm g2 = {0};
	k = nv_begin_node(c, n, "gemm2");
	g2.K = Hn;
	g2.N = Nn;
	g2.M = nv_param(c, P_CNT);
	g2.a = nv_param(c, P_WORK);
	g2.a_row0 = i64c(c, 0);
	g2.a_bf16 = h16;
	gemm_weights(c, &g2, n, fs.w2, fs.b2, -1, -1);
	g2.act = FP_ACT_NONE;
	g2.res = fs.res >= 0 ? nv_addr(c, n->src[fs.res]) : NULL;
	g2.res_row0 = nv_param(c, P_A);
	g2.dst = nv_addr(c, n);
	g2.dst_row0 = nv_param(c, P_A);
	write_parts(c, &g2, n);
	nv_gemm_body(c, &g2);
	nv_end(c);
	nv_gemm_tile(c, Nn, &bm, &bn);
	nb = (Nn + bn - 1) / bn;
	s = nv_launch(c, k, NV_THREADS);
	s->grid[3] = nb;
	s->grid[5] = nb * (bm - 1);
	s->grid_div = bm;
	close_group(c, gi);
}

/* ---- the FFT convolution ---------------------------------------------- */

void nv_conv_of(const Node *n, NvConv *cv)
{
	memset(cv, 0, sizeof *cv);
	cv->D = n->type.dim[2];
	if (n->op == OP_LONGCONV) {
		cv->v = n->src[0];
		cv->k = n->src[1];
		cv->Cv = cv->D;
		return;
	}
	GcSrc gs;
	ir_gc_srcs(n, &gs);
	cv->v = n->src[gs.v];
	cv->Cv = cv->v->type.dim[2];
	cv->voff = n->iattr[GC_V_OFF];
	if (gs.g >= 0) {
		cv->g = n->src[gs.g];
		cv->Cg = cv->g->type.dim[2];
		cv->goff = n->iattr[GC_G_OFF];
	}
	if (gs.k >= 0) {
		cv->k = n->src[gs.k];
	} else {
		cv->h = n->src[gs.h];
		cv->w = n->src[gs.w];
		cv->t = n->src[gs.t];
		cv->deltas = n->src[gs.deltas];
		cv->E = cv->h->type.dim[1];
		cv->shift = n->fattr[0];
	}
	cv->bias = n->src[gs.bias];
	if (gs.post >= 0) {
		cv->post = n->src[gs.post];
		cv->Cp = cv->post->type.dim[2];
		cv->poff = n->iattr[GC_POST_OFF];
	}
}

/* The block's row and its range [lo, hi) of the row's `len` things,
 * each of `rows` rows split in S slices: blocks = rows * S, the rows
 * fastest, so that blocks running together read neighbouring channels
 * of the same positions (one L2 sector serves 8 of them). */
static void slice_of(CgContext *c, int64_t S, LLVMValueRef rows,
                     LLVMValueRef len, LLVMValueRef *row, LLVMValueRef *lo,
                     LLVMValueRef *hi)
{
	LLVMValueRef bid = nv_bid(c);
	LLVMValueRef Sv = i64c(c, S);
	*row = srem(c, bid, rows);
	LLVMValueRef part = sdiv(c, bid, rows);
	LLVMValueRef per = sdiv(c, add(c, len, i64c(c, S - 1)), Sv);
	*lo = mul(c, part, per);
	LLVMValueRef h = add(c, *lo, per);
	*hi = sel(c, icmp(c, LLVMIntSLT, h, len), h, len);
}

/* The block's threads over [lo, hi), NV_THREADS apart: opens the loop
 * and the bounds check and returns the index; span_close ends both. */
typedef struct Span {
	Loop l;
	LLVMBasicBlockRef bj;
} Span;

static LLVMValueRef span_open(CgContext *c, Span *sp, LLVMValueRef lo,
                              LLVMValueRef hi, const char *name)
{
	LLVMValueRef cnt = sdiv(c, add(c, sub(c, hi, lo),
	                               i64c(c, NV_THREADS - 1)),
	                        i64c(c, NV_THREADS));
	LLVMValueRef it = cg_loop_open(c, &sp->l, i64c(c, 0), cnt, name);
	LLVMValueRef t = add(c, add(c, lo, mul(c, it, i64c(c, NV_THREADS))),
	                     nv_tid(c));

	sp->bj = cg_if_open(c, icmp(c, LLVMIntSLT, t, hi), "then");
	return t;
}

static void span_close(CgContext *c, Span *sp)
{
	cg_if_close(c, sp->bj);
	cg_loop_close(c, &sp->l);
}

/* An in-place transform of the group's work (buf 0) or spectrum (buf 1)
 * rows: one a unit, times B for the work's batch rows. */
static HygpuStep *fft_step(CgContext *c, int64_t op, int64_t buf)
{
	HygpuStep *s = nv_step(c, op);
	s->buf = buf;
	s->rows_per_unit = 1;
	s->rows_b = buf == 0;
	return s;
}

LLVMValueRef nv_conv_u(CgContext *c, const NvConv *cv, LLVMValueRef v,
                       LLVMValueRef g, LLVMValueRef r, LLVMValueRef ch)
{
	LLVMValueRef u = ld(c, v, add(c, add(c, mul(c, r, i64c(c, cv->Cv)),
	                                     i64c(c, cv->voff)), ch));
	if (g)
		u = f_mul(c, u, ld(c, g, add(c, add(c, mul(c, r, i64c(c, cv->Cg)),
		                                       i64c(c, cv->goff)), ch)));
	return u;
}

/* Slices per FFT row so that a thread has about 8 things of the compiled
 * length's row. */
static int64_t fft_split(const CgContext *c)
{
	int64_t L = c->g->max_len > 0 ? c->g->max_len : 65536;
	int64_t s = (2 * L + 2 + 8 * NV_THREADS - 1) / (8 * NV_THREADS);
	return s < 1 ? 1 : s > 4096 ? 4096 : s;
}

/* The gather and the scatter move data between the channels-last
 * activations ([B L, C], a position's channels side by side) and the
 * FFT rows (a channel's positions side by side): a transpose. One
 * element a thread each way made one side's accesses 4 bytes out of
 * every 32-byte sector (the scatter at 1M tokens ran at a seventh of the
 * memory's bandwidth), so each block moves tiles of XT_ROWS rows by
 * XT_POS positions through shared memory: it reads and writes whole runs
 * of consecutive addresses on both sides. A block takes XT_ROWS
 * consecutive rows (row = b cnt + j: batch b, channel a + j) and a
 * part of their positions: the launch's S (cnt B + 31) blocks cover
 * ceil(rows / 32) row tiles of 32 S parts each (the ones past them
 * return). */
enum { XT_ROWS = 32, XT_POS = 64 };

typedef struct Xt {
	LLVMValueRef rows, rt, lo, hi, tile, tid;
	/* the thread's row on the channels-last side (the same in every
	 * element it moves there): its batch's first position b L and its
	 * channel */
	LLVMValueRef bl, ch;
	Loop l;
	LLVMValueRef p0;
} Xt;

/* Opens the block's loop over its tiles of positions in [0, len), for
 * the group's cnt channels from a over the batch. */
static void xt_open(CgContext *c, Xt *x, int64_t S, LLVMValueRef cnt,
                    LLVMValueRef a, LLVMValueRef len)
{
	LLVMValueRef parts = i64c(c, S * XT_ROWS), bid = nv_bid(c);
	LLVMValueRef rows = mul(c, cnt, c->B);
	LLVMValueRef rtiles = sdiv(c, add(c, rows, i64c(c, XT_ROWS - 1)),
	                           i64c(c, XT_ROWS));

	x->rows = rows;
	x->tid = nv_tid(c);
	x->tile = nv_shared(c, c->t_f32, XT_POS * (XT_ROWS + 1), "xtile");
	nv_return_unless(c, icmp(c, LLVMIntSLT, bid, mul(c, rtiles, parts)));
	x->rt = sdiv(c, bid, parts);
	/* once here, not per element: 64-bit divisions */
	LLVMValueRef crow = add(c, mul(c, x->rt, i64c(c, XT_ROWS)),
	                        srem(c, x->tid, i64c(c, XT_ROWS)));
	x->bl = mul(c, sdiv(c, crow, cnt), c->L);
	x->ch = add(c, a, srem(c, crow, cnt));
	LLVMValueRef part = srem(c, bid, parts);
	LLVMValueRef per = sdiv(c, add(c, len, sub(c, parts, i64c(c, 1))), parts);
	x->lo = mul(c, part, per);
	LLVMValueRef h = add(c, x->lo, per);
	x->hi = sel(c, icmp(c, LLVMIntSLT, h, len), h, len);
	LLVMValueRef n = sdiv(c, add(c, sub(c, x->hi, x->lo),
	                             i64c(c, XT_POS - 1)), i64c(c, XT_POS));
	LLVMValueRef it = cg_loop_open(c, &x->l, i64c(c, 0),
	                               sel(c, icmp(c, LLVMIntSGT, n, i64c(c, 0)),
	                                   n, i64c(c, 0)), "xt");
	x->p0 = add(c, x->lo, mul(c, it, i64c(c, XT_POS)));
}

static void xt_close(CgContext *c, Xt *x)
{
	cg_loop_close(c, &x->l);
	nv_end(c);
}

/* Element i of the thread's share of a tile (NV_THREADS threads, the
 * tile's XT_ROWS x XT_POS elements): along the rows (consecutive
 * threads, consecutive rows: the channels-last side) or along the
 * positions (consecutive threads, consecutive positions: the FFT side).
 * Sets the row, the position and whether both are inside; returns the
 * element's place in the shared tile. */
static LLVMValueRef xt_elem(CgContext *c, Xt *x, int i, bool by_rows,
                            LLVMValueRef *row, LLVMValueRef *t,
                            LLVMValueRef *ok)
{
	LLVMValueRef jj, p;

	if (by_rows) {
		jj = srem(c, x->tid, i64c(c, XT_ROWS));
		p = add(c, sdiv(c, x->tid, i64c(c, XT_ROWS)),
		        i64c(c, i * (NV_THREADS / XT_ROWS)));
	} else {
		p = srem(c, x->tid, i64c(c, XT_POS));
		jj = add(c, sdiv(c, x->tid, i64c(c, XT_POS)),
		         i64c(c, i * (NV_THREADS / XT_POS)));
	}
	*row = add(c, mul(c, x->rt, i64c(c, XT_ROWS)), jj);
	*t = add(c, x->p0, p);
	*ok = LLVMBuildAnd(c->b, icmp(c, LLVMIntSLT, *row, x->rows),
	                   icmp(c, LLVMIntSLT, *t, x->hi), "");
	return add(c, mul(c, p, i64c(c, XT_ROWS + 1)), jj);
}

/* The FFT side of a tile: its rows of W floats in work, written from the
 * shared tile (to_work) or read into it. */
static void xt_fft_side(CgContext *c, Xt *x, LLVMValueRef work,
                        LLVMValueRef W, bool to_work)
{
	for (int i = 0; i < XT_ROWS * XT_POS / NV_THREADS; i++) {
		LLVMValueRef row, t, ok;
		LLVMValueRef at = xt_elem(c, x, i, false, &row, &t, &ok);
		LLVMBasicBlockRef bj = cg_if_open(c, ok, "xf");
		LLVMValueRef wi = add(c, mul(c, row, W), t);
		if (to_work)
			st(c, work, wi, ld(c, x->tile, at));
		else
			st(c, x->tile, at, ld(c, work, wi));
		cg_if_close(c, bj);
	}
}

LLVMValueRef nv_load2(CgContext *c, LLVMValueRef p, LLVMValueRef i)
{
	LLVMValueRef v = LLVMBuildLoad2(c->b, LLVMVectorType(c->t_f32, 2),
	                                elem(c, c->t_f32, p, i), "");
	LLVMSetAlignment(v, 8);
	return v;
}

LLVMValueRef nv_lane2(CgContext *c, LLVMValueRef v, unsigned k)
{
	return LLVMBuildExtractElement(c->b, v, LLVMConstInt(c->t_i32, k, 0), "");
}

void nv_store2(CgContext *c, LLVMValueRef p, LLVMValueRef i, LLVMValueRef lo,
               LLVMValueRef hi)
{
	LLVMValueRef v = LLVMGetUndef(LLVMVectorType(c->t_f32, 2));
	v = LLVMBuildInsertElement(c->b, v, lo, LLVMConstInt(c->t_i32, 0, 0), "");
	v = LLVMBuildInsertElement(c->b, v, hi, LLVMConstInt(c->t_i32, 1, 0), "");
	LLVMSetAlignment(LLVMBuildStore(c->b, v, elem(c, c->t_f32, p, i)), 8);
}

static void emit_conv(CgContext *c, const Node *n)
{
	NvState *st_ = nv_state(c);
	NvConv cv;
	nv_conv_of(n, &cv);
	int64_t S = fft_split(c);
	LLVMValueRef D = i64c(c, cv.D);
	int gi = st_->ntmpl;
	int64_t n4 = nv_fft4_len(c);
	HygpuStep *gs = group(c, HYGPU_DIM_CHANNELS, cv.D, cv.D, 1,
	                      n4 ? FFT4_WORK_ROWS : 0);
	gs->flags = HYGPU_WORK_PER_FFT_ROW | HYGPU_WORK_TIMES_B;
	gs->conv = st_->nconv++;

	/* FILTER: spec row j = the filter of channel a + j, zero past L */
	int k = nv_begin_node(c, n, "filter");
	{
		LLVMValueRef nn = nv_param(c, P_N), a = nv_param(c, P_A);
		LLVMValueRef W = add(c, nn, i64c(c, 2));
		LLVMValueRef row, lo, hi;
		slice_of(c, S, nv_param(c, P_CNT), W, &row, &lo, &hi);
		LLVMValueRef ch = add(c, a, row);
		LLVMValueRef spec = nv_param(c, P_SPEC);
		LLVMValueRef kp = cv.k ? nv_addr(c, cv.k) : NULL;
		LLVMValueRef hp = cv.h ? nv_addr(c, cv.h) : NULL;
		LLVMValueRef wp = cv.w ? nv_addr(c, cv.w) : NULL;
		LLVMValueRef tp = cv.t ? nv_addr(c, cv.t) : NULL;
		LLVMValueRef ndl = NULL;
		if (cv.deltas)
			ndl = LLVMBuildFNeg(
			    c->b, cg_intrinsic1(c, "llvm.fabs", c->t_f32,
			                        ld(c, nv_addr(c, cv.deltas), ch)), "");
		LLVMValueRef biasp = cv.bias ? nv_addr(c, cv.bias) : NULL;
		LLVMValueRef inv_n = LLVMBuildFDiv(
		    c->b, f32c(c, 1.0), LLVMBuildSIToFP(c->b, nn, c->t_f32, ""),
		    "inv_n");
		Span sp;
		LLVMValueRef t = span_open(c, &sp, lo, hi, "f");
		LLVMValueRef in = icmp(c, LLVMIntSLT, t, c->L);
		LLVMValueRef tc = sel(c, in, t, i64c(c, 0));
		LLVMValueRef val;
		if (kp) {
			val = ld(c, kp, add(c, mul(c, tc, D), ch));
		} else {
			LLVMValueRef dot = f32c(c, 0);
			LLVMValueRef hb = mul(c, tc, i64c(c, cv.E));
			LLVMValueRef wb = mul(c, ch, i64c(c, cv.E));
			for (int64_t e = 0; e < cv.E; e++)
				dot = fmadd_red(c, dot, ld(c, hp, add(c, hb, i64c(c, e))),
				                ld(c, wp, add(c, wb, i64c(c, e))));
			LLVMValueRef ex = cg_vm_exp(
			    c, f_mul(c, ld(c, tp, mul(c, tc, i64c(c, cv.t->type.dim[1]))),
			             ndl));
			val = f_mul(c, dot, f_add(c, ex, f32c(c, cv.shift)));
		}
		val = sel(c, in, val, f32c(c, 0));
		/* the skip term u bias is the convolution with bias at lag 0,
		 * and the inverse transform's 1/n is a factor of the spectrum:
		 * both folded in here, as the CPU's runtime does, so that the
		 * scatter reads neither u again nor divides */
		if (biasp)
			val = f_add(c, val, sel(c, icmp(c, LLVMIntEQ, t, i64c(c, 0)),
			                        ld(c, biasp, ch), f32c(c, 0)));
		st(c, spec, add(c, mul(c, row, W), t), f_mul(c, val, inv_n));
		span_close(c, &sp);
		nv_end(c);
	}
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	s->flags = HYGPU_FILTER;
	s->grid[3] = S;
	s->grid_div = 1;
	s = fft_step(c, HYGPU_R2C, 1);
	s->flags = HYGPU_FILTER;
	if (n4)
		nv_fft4_spectra(c, n, n4);
	int other = st_->ntmpl;

	/* gather: work row b cnt + j = u of channel a + j, zero past L */
	k = nv_begin_node(c, n, "gather");
	{
		LLVMValueRef nn = nv_param(c, P_N), a = nv_param(c, P_A);
		LLVMValueRef cntv = nv_param(c, P_CNT);
		LLVMValueRef W = add(c, nn, i64c(c, 2));
		LLVMValueRef v = nv_addr(c, cv.v), g = cv.g ? nv_addr(c, cv.g) : NULL;
		LLVMValueRef work = nv_param(c, P_WORK);
		Xt x;
		xt_open(c, &x, S, cntv, a, W);
		for (int i = 0; i < XT_ROWS * XT_POS / NV_THREADS; i++) {
			LLVMValueRef row, t, ok;
			LLVMValueRef at = xt_elem(c, &x, i, true, &row, &t, &ok);
			LLVMValueRef use = LLVMBuildAnd(c->b, ok, icmp(c, LLVMIntSLT, t, c->L), "");
			/* 0 past L (the zero padding), else u */
			st(c, x.tile, at, f32c(c, 0));
			LLVMBasicBlockRef bj = cg_if_open(c, use, "xg");
			st(c, x.tile, at, nv_conv_u(c, &cv, v, g, add(c, x.bl, t), x.ch));
			cg_if_close(c, bj);
		}
		nv_barrier(c);
		xt_fft_side(c, &x, work, W, true);
		nv_barrier(c);
		xt_close(c, &x);
	}
	s = nv_launch(c, k, NV_THREADS);
	s->grid[4] = S;
	s->grid[5] = (XT_ROWS - 1) * S;
	s->grid_div = 1;
	fft_step(c, HYGPU_R2C, 0);

	/* the pointwise product by the channel's spectrum */
	k = nv_begin_node(c, n, "mul");
	{
		LLVMValueRef nn = nv_param(c, P_N), cntv = nv_param(c, P_CNT);
		LLVMValueRef W = add(c, nn, i64c(c, 2));
		LLVMValueRef F = add(c, sdiv(c, nn, i64c(c, 2)), i64c(c, 1));
		LLVMValueRef row, lo, hi;
		slice_of(c, S, mul(c, cntv, c->B), F, &row, &lo, &hi);
		LLVMValueRef j = srem(c, row, cntv);
		LLVMValueRef work = nv_param(c, P_WORK), spec = nv_param(c, P_SPEC);
		Span sp;
		LLVMValueRef f = span_open(c, &sp, lo, hi, "m");
		LLVMValueRef xi = add(c, mul(c, row, W), mul(c, f, i64c(c, 2)));
		LLVMValueRef ki = add(c, mul(c, j, W), mul(c, f, i64c(c, 2)));
		/* each complex value as one 8-byte access (W is even, so every
		 * value starts on 8 bytes): half the instructions of two
		 * 4-byte ones, and no second trip to the same sector */
		LLVMValueRef x2 = nv_load2(c, work, xi), k2 = nv_load2(c, spec, ki);
		LLVMValueRef xr = nv_lane2(c, x2, 0), xm = nv_lane2(c, x2, 1);
		LLVMValueRef kr = nv_lane2(c, k2, 0), km = nv_lane2(c, k2, 1);
		nv_store2(c, work, xi, f_sub(c, f_mul(c, xr, kr), f_mul(c, xm, km)),
		          f_add(c, f_mul(c, xr, km), f_mul(c, xm, kr)));
		span_close(c, &sp);
		nv_end(c);
	}
	s = nv_launch(c, k, NV_THREADS);
	s->grid[4] = S;
	s->grid_div = 1;
	fft_step(c, HYGPU_C2R, 0);

	/* scatter: y = the convolution (its skip term and 1/n are in the
	 * spectrum) (* post) into the output channel */
	k = nv_begin_node(c, n, "scatter");
	{
		LLVMValueRef nn = nv_param(c, P_N), a = nv_param(c, P_A);
		LLVMValueRef cntv = nv_param(c, P_CNT);
		LLVMValueRef W = add(c, nn, i64c(c, 2));
		LLVMValueRef post = cv.post ? nv_addr(c, cv.post) : NULL;
		LLVMValueRef out = nv_addr(c, n);
		LLVMValueRef work = nv_param(c, P_WORK);
		Xt x;
		xt_open(c, &x, S, cntv, a, c->L);
		xt_fft_side(c, &x, work, W, false);
		nv_barrier(c);
		for (int i = 0; i < XT_ROWS * XT_POS / NV_THREADS; i++) {
			LLVMValueRef row, t, ok;
			LLVMValueRef at = xt_elem(c, &x, i, true, &row, &t, &ok);
			LLVMBasicBlockRef bj = cg_if_open(c, ok, "xs");
			LLVMValueRef r = add(c, x.bl, t), ch = x.ch;
			LLVMValueRef y = ld(c, x.tile, at);
			if (post)
				y = f_mul(c, y, ld(c, post, add(c, add(c, mul(c, r,
				                                              i64c(c, cv.Cp)),
				                                          i64c(c, cv.poff)),
				                                  ch)));
			st(c, out, add(c, mul(c, r, D), ch), y);
			cg_if_close(c, bj);
		}
		nv_barrier(c);
		xt_close(c, &x);
	}
	s = nv_launch(c, k, NV_THREADS);
	s->grid[4] = S;
	s->grid[5] = (XT_ROWS - 1) * S;
	s->grid_div = 1;
	if (n4) {
		for (int i = other; i < st_->ntmpl; i++)
			st_->tmpl[i].only_n = -n4;
		nv_fft4_conv(c, n, &cv, n4);
	}
	close_group(c, gi);
}

/* ---- pool: a block per sample ----------------------------------------- */

static void emit_pool(CgContext *c, const Node *n)
{
	int64_t Dn = n->type.dim[1];
	bool ln = n->iattr[PL_LN] != 0;
	int mode = (int)n->iattr[PL_MODE];
	LLVMValueRef D = i64c(c, Dn), zero = i64c(c, 0);
	int k = nv_begin_node(c, n, "pool");
	LLVMValueRef b = nv_bid(c), tid = nv_tid(c);
	LLVMValueRef lane = srem(c, tid, i64c(c, 32));
	LLVMValueRef warp = sdiv(c, tid, i64c(c, 32));
	LLVMValueRef x = nv_addr(c, n->src[0]), out = nv_addr(c, n);
	LLVMValueRef gm = ln ? nv_addr(c, n->src[1]) : NULL;
	LLVMValueRef bt = ln ? nv_addr(c, n->src[2]) : NULL;
	Loop l, l2;

	nv_return_unless(c, icmp(c, LLVMIntSLT, b, c->B));
	if (mode != PM_MEAN) {
		LLVMValueRef trow;
		if (mode == PM_PAD) {
			/* the first pad of the row: a block minimum */
			LLVMValueRef smin_ = nv_shared(c, c->t_i64, NV_THREADS, "first");
			LLVMValueRef tok = nv_addr(c, n->src[n->nsrc - 1]);
			LLVMValueRef first = cg_var(c, c->t_i64, c->L, "first");
			LLVMValueRef it = cg_loop_open(
			    c, &l, zero,
			    sdiv(c, add(c, c->L, i64c(c, NV_THREADS - 1)),
			         i64c(c, NV_THREADS)),
			    "p");
			LLVMValueRef t = add(c, mul(c, it, i64c(c, NV_THREADS)), tid);
			LLVMValueRef ok = icmp(c, LLVMIntSLT, t, c->L);
			LLVMValueRef id = LLVMBuildLoad2(
			    c->b, c->t_i32,
			    elem(c, c->t_i32, tok,
			         add(c, mul(c, b, c->L), sel(c, ok, t, zero))),
			    "");
			LLVMValueRef hit = LLVMBuildAnd(
			    c->b, ok,
			    LLVMBuildICmp(c->b, LLVMIntEQ, id,
			                  i32c(c, (int32_t)n->iattr[PL_PAD]), ""),
			    "");
			LLVMValueRef f = ld_var(c, c->t_i64, first);
			LLVMBuildStore(c->b, sel(c, LLVMBuildAnd(
			                                c->b, hit,
			                                icmp(c, LLVMIntSLT, t, f), ""),
			                         t, f),
			               first);
			cg_loop_close(c, &l);
			LLVMBuildStore(c->b, ld_var(c, c->t_i64, first),
			               elem(c, c->t_i64, smin_, tid));
			nv_barrier(c);
			for (int w = NV_THREADS / 2; w >= 1; w /= 2) {
				LLVMBasicBlockRef bj = cg_if_open(
				    c, icmp(c, LLVMIntSLT, tid, i64c(c, w)), "then");
				LLVMValueRef pa = elem(c, c->t_i64, smin_, tid);
				LLVMValueRef pb = elem(c, c->t_i64, smin_,
				                       add(c, tid, i64c(c, w)));
				LLVMValueRef va = LLVMBuildLoad2(c->b, c->t_i64, pa, "");
				LLVMValueRef vb = LLVMBuildLoad2(c->b, c->t_i64, pb, "");
				LLVMBuildStore(c->b, sel(c, icmp(c, LLVMIntSLT, vb, va), vb,
				                         va), pa);
				cg_if_close(c, bj);
				nv_barrier(c);
			}
			LLVMValueRef f2 = LLVMBuildLoad2(c->b, c->t_i64,
			                                 elem(c, c->t_i64, smin_, zero), "");
			LLVMValueRef none = LLVMBuildOr(
			    c->b, icmp(c, LLVMIntEQ, f2, c->L),
			    icmp(c, LLVMIntEQ, f2, zero), "");
			trow = sel(c, none, sub(c, c->L, i64c(c, 1)),
			           sub(c, f2, i64c(c, 1)));
		} else {
			trow = sub(c, c->L, i64c(c, 1));
		}
		/* warp 0 writes the row (normalised) */
		nv_return_unless(c, icmp(c, LLVMIntEQ, warp, zero));
		LLVMValueRef xb = mul(c, add(c, mul(c, b, c->L), trow), D);
		if (ln) {
			LLVMValueRef mean, rstd;
			nv_warp_ln_stats(c, x, xb, Dn, n->fattr[0], lane, &mean, &rstd);
			warp_ln_write(c, x, xb, Dn, gm, bt, mean, rstd, lane, out,
			              mul(c, b, D));
		} else {
			LLVMValueRef q = cg_loop_open(c, &l, zero,
			                              i64c(c, (Dn + 31) / 32), "c");
			LLVMValueRef d = add(c, mul(c, q, i64c(c, 32)), lane);
			LLVMBasicBlockRef bj =
			    cg_if_open(c, icmp(c, LLVMIntSLT, d, D), "then");
			st(c, out, add(c, mul(c, b, D), d), ld(c, x, add(c, xb, d)));
			cg_if_close(c, bj);
			cg_loop_close(c, &l);
		}
		nv_end(c);
		HygpuStep *s = nv_launch(c, k, NV_THREADS);
		s->grid[1] = 1;
		s->grid_div = 1;
		return;
	}
	/* mean: warp w sums rows t = w mod NW into its double row of acc */
	int64_t NW = NV_THREADS / 32;
	while (NW > 1 && NW * Dn * 8 > (32 << 10))
		NW /= 2;
	HY_ASSERT(NW * Dn * 8 <= (40 << 10));
	LLVMValueRef acc = nv_shared(c, c->t_f64, NW * Dn, "acc");
	LLVMValueRef z = cg_loop_open(c, &l, zero,
	                              i64c(c, (NW * Dn + NV_THREADS - 1) /
	                                          NV_THREADS),
	                              "z");
	LLVMValueRef zi = add(c, mul(c, z, i64c(c, NV_THREADS)), tid);
	LLVMBasicBlockRef bj = cg_if_open(c, icmp(c, LLVMIntSLT, zi,
	                                        i64c(c, NW * Dn)), "then");
	LLVMBuildStore(c->b, f64c(c, 0), elem(c, c->t_f64, acc, zi));
	cg_if_close(c, bj);
	cg_loop_close(c, &l);
	nv_barrier(c);
	bj = cg_if_open(c, icmp(c, LLVMIntSLT, warp, i64c(c, NW)), "then");
	LLVMValueRef it = cg_loop_open(
	    c, &l, zero, sdiv(c, add(c, c->L, i64c(c, NW - 1)), i64c(c, NW)), "t");
	LLVMValueRef t = add(c, mul(c, it, i64c(c, NW)), warp);
	LLVMBasicBlockRef bt2 =
	    cg_if_open(c, icmp(c, LLVMIntSLT, t, c->L), "then");
	LLVMValueRef xb = mul(c, add(c, mul(c, b, c->L), t), D);
	LLVMValueRef mean = NULL, rstd = NULL;
	if (ln)
		nv_warp_ln_stats(c, x, xb, Dn, n->fattr[0], lane, &mean, &rstd);
	LLVMValueRef q = cg_loop_open(c, &l2, zero, i64c(c, (Dn + 31) / 32), "a");
	LLVMValueRef d = add(c, mul(c, q, i64c(c, 32)), lane);
	LLVMBasicBlockRef bd = cg_if_open(c, icmp(c, LLVMIntSLT, d, D), "then");
	LLVMValueRef v = ld(c, x, add(c, xb, d));
	if (ln)
		v = f_add(c, f_mul(c, f_mul(c, f_sub(c, v, mean), rstd), ld(c, gm, d)),
		          ld(c, bt, d));
	LLVMValueRef ap = elem(c, c->t_f64, acc, add(c, mul(c, warp, D), d));
	LLVMBuildStore(c->b, f_add(c, LLVMBuildLoad2(c->b, c->t_f64, ap, ""),
	                           LLVMBuildFPExt(c->b, v, c->t_f64, "")),
	               ap);
	cg_if_close(c, bd);
	cg_loop_close(c, &l2);
	cg_if_close(c, bt2);
	cg_loop_close(c, &l);
	cg_if_close(c, bj);
	nv_barrier(c);
	z = cg_loop_open(c, &l, zero,
	                 i64c(c, (Dn + NV_THREADS - 1) / NV_THREADS), "m");
	d = add(c, mul(c, z, i64c(c, NV_THREADS)), tid);
	bj = cg_if_open(c, icmp(c, LLVMIntSLT, d, D), "then");
	LLVMValueRef sum = f64c(c, 0);
	for (int64_t w = 0; w < NW; w++)
		sum = f_add(c, sum, LLVMBuildLoad2(c->b, c->t_f64,
		                                   elem(c, c->t_f64, acc,
		                                        add(c, i64c(c, w * Dn), d)),
		                                   ""));
	LLVMValueRef mv = LLVMBuildFDiv(c->b, sum,
	                                LLVMBuildSIToFP(c->b, c->L, c->t_f64, ""),
	                                "");
	st(c, out, add(c, mul(c, b, D), d), LLVMBuildFPTrunc(c->b, mv, c->t_f32, ""));
	cg_if_close(c, bj);
	cg_loop_close(c, &l);
	nv_end(c);
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	s->grid[1] = 1;
	s->grid_div = 1;
}

/* ---- the op switch ---------------------------------------------------- */

void nv_emit_node_steps(CgContext *c, const Node *n)
{
	switch (n->op) {
	case OP_EMBED:
		emit_embed(c, n);
		break;
	case OP_SLICE:
		elementwise(c, n, "slice", k_slice);
		break;
	case OP_ADD:
	case OP_MUL:
		elementwise(c, n, "binary", k_binary);
		break;
	case OP_SIN:
	case OP_GELU_TANH:
	case OP_GELU:
	case OP_RELU:
		elementwise(c, n, "unary", k_unary);
		break;
	case OP_EXPMOD:
		elementwise(c, n, "expmod", k_expmod);
		break;
	case OP_POS_EMB:
		elementwise(c, n, "pos_emb", k_pos_emb);
		break;
	case OP_DWCONV:
		elementwise(c, n, "dwconv", k_dwconv);
		break;
	case OP_LAYERNORM:
		emit_layernorm(c, n);
		break;
	case OP_LINEAR:
		emit_linear(c, n);
		break;
	case OP_FUSED_PROJ:
		emit_fused_proj(c, n);
		break;
	case OP_FUSED_MLP:
		emit_fused_mlp(c, n);
		break;
	case OP_LONGCONV:
	case OP_GATED_CONV:
		emit_conv(c, n);
		break;
	case OP_POOL:
		emit_pool(c, n);
		break;
	case OP_INPUT:
	case OP_WEIGHT:
	case OP_STATE:
	case OP_STATE_SAVE:
	case OP_TAIL_PROJ:
	case OP_SHORT_STEP:
	case OP_CONV_STEP:
	case OP_SIN_LINEAR: /* fuse makes it for the CPU only */
	case OP_COUNT:
		hy_die("no GPU kernel for %s (%s)", n->name, ir_op_info(n->op)->name);
	}
}
