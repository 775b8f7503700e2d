/*
 * gemm.c - the projections: a register-tiled GEMM over the weight panels
 * that weights.c lays out (CgWeights.panels), with masked vector loads and
 * stores for a partial last panel, and the plain one-row-at-a-time dot
 * product for weights without panels (filter generators). The vector
 * width and the rows per block are the target's (CgContext.vw, .mr, set
 * in target.c). cg_project_rows is what linear, fused_proj, fused_mlp
 * and the filter generator all call.
 */
#include "cpu.h"

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
			acc[i][v] = cg_var(c, vt, LLVMConstNull(vt), "acc");
	}
	LLVMValueRef k = cg_loop_open(c, &lk, i64c(c, 0), i64c(c, g->K), "k");
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
	cg_loop_close(c, &lk);
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
	LLVMValueRef gi = cg_loop_open(c, &lg, i64c(c, 0), ng, "g");
	gemm_block(c, g, mul(c, gi, MR), c->mr, bp, j0, ncols);
	cg_loop_close(c, &lg);
	LLVMValueRef r = cg_loop_open(c, &lr, mul(c, ng, MR), m, "rest");
	gemm_block(c, g, r, 1, bp, j0, ncols);
	cg_loop_close(c, &lr);
}

static void gemm_rows(CgContext *c, const Gemm *g, LLVMValueRef m,
                      int64_t N)
{
	int64_t full = N / GEMM_NR, part = N % GEMM_NR;
	Loop lp;

	LLVMValueRef p = cg_loop_open(c, &lp, i64c(c, 0), i64c(c, full), "panel");
	gemm_panel(c, g, m, p, GEMM_NR);
	cg_loop_close(c, &lp);
	if (part)
		gemm_panel(c, g, m, i64c(c, full), part);
}

/* Whether src slot k of n is a projection matrix with a panel copy: the
 * kernel then reads the panels (call_kernel passes them) through
 * gemm_rows. */
bool cg_proj_slot(const CgContext *c, const Node *n, int k)
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
void cg_proj_row(CgContext *c, LLVMValueRef x, LLVMValueRef xb,
                 LLVMValueRef w, LLVMValueRef bias, int64_t Kn,
                 int64_t Nn, LLVMValueRef dst, LLVMValueRef db)
{
	LLVMValueRef K = i64c(c, Kn);
	LLVMValueRef acc = cg_var(c, c->t_f32, NULL, "acc");
	Loop lj, lk;

	LLVMValueRef j = cg_loop_open(c, &lj, i64c(c, 0), i64c(c, Nn), "j");
	LLVMValueRef wb = mul(c, j, K);
	LLVMBuildStore(c->b, f32c(c, 0), acc);
	LLVMValueRef k = cg_loop_open(c, &lk, i64c(c, 0), K, "k");
	LLVMBuildStore(c->b,
	               fmadd_red(c, ld_var(c, c->t_f32, acc),
	                         ld(c, x, add(c, xb, k)),
	                         ld(c, w, add(c, wb, k))),
	               acc);
	cg_loop_close(c, &lk);
	LLVMValueRef y = ld_var(c, c->t_f32, acc);
	if (bias)
		y = f_add(c, y, ld(c, bias, j));
	st(c, dst, add(c, db, j), y);
	cg_loop_close(c, &lj);
}

/* Rows [x0, x0 + m) of x, after their layernorm (into lnbuf, m rows of
 * K, when ln_g is there), times w^T (+ bias) into rows [d0, d0 + m) of
 * dst (row stride N): by gemm_rows from w's panels when it has them
 * (wslot is a proj_slot), else a row at a time. */
void cg_project_rows(CgContext *c, const Node *n, int wslot,
                     LLVMValueRef *s, LLVMValueRef x, LLVMValueRef ln_g,
                     LLVMValueRef ln_b, LLVMValueRef lnbuf,
                     LLVMValueRef bias, int64_t Kn, int64_t Nn,
                     LLVMValueRef x0, LLVMValueRef m, LLVMValueRef dst,
                     LLVMValueRef d0)
{
	LLVMValueRef K = i64c(c, Kn), N = i64c(c, Nn), a = x, a0 = x0;
	Loop ll, lp;

	if (ln_g) {
		LLVMValueRef i = cg_loop_open(c, &ll, i64c(c, 0), m, "lnrow");
		cg_ln_row(c, x, mul(c, add(c, x0, i), K), Kn, ln_g, ln_b, n->fattr[0],
		          lnbuf, mul(c, i, K));
		cg_loop_close(c, &ll);
		a = lnbuf;
		a0 = i64c(c, 0);
	}
	if (cg_proj_slot(c, n, wslot)) {
		Gemm gm = {a, a0, s[wslot], bias, dst, d0, Kn, Kn, Nn};
		gemm_rows(c, &gm, m, Nn);
		return;
	}
	LLVMValueRef i = cg_loop_open(c, &lp, i64c(c, 0), m, "prow");
	cg_proj_row(c, a, mul(c, add(c, a0, i), K), s[wslot], bias, Kn, Nn, dst,
	            mul(c, add(c, d0, i), N));
	cg_loop_close(c, &lp);
}

