/*
 * gemm.c - the GPU target's SGEMM: C[M, N] = A[M, K] W[N, K]^T, both
 * operands K-contiguous (activations and PyTorch's weight layout), in
 * fp32 with fused multiply-add throughout (no TF32).
 *
 * A block of NV_THREADS threads computes a BM x BN tile (BM = 128, BN =
 * 16 TN with TN in 1..8 so that the 16-column lm_head wastes nothing),
 * each thread a TM x TN register tile (TM = 8) whose rows are ty + 16 i
 * and columns tx + 16 j, so that the shared-memory reads broadcast or
 * hit distinct banks and the epilogue's stores are coalesced. K goes in
 * chunks of BK = 16 through shared memory (both tiles stored k-major,
 * one float of padding per k row against bank conflicts); every load is
 * bounds-checked by clamping its index and selecting zero, so any M, N
 * and K work. With a LayerNorm prologue the block first computes its
 * rows' mean and 1/sqrt(var + eps) (two passes, as the CPU's cg_ln_row)
 * into shared memory and normalises A's elements as they are loaded.
 * The epilogue adds the bias, applies the activation and the residual,
 * in the CPU's order, and stores.
 */
#include "nvptx.h"
#include "tcgemm.h"

#include <stdlib.h>

enum { TM = 8, BM = 16 * TM, BK = 16 };

static int64_t tn_for(int64_t N)
{
	int64_t tn = 1;
	while (tn < 8 && 16 * tn < N)
		tn *= 2;
	return tn;
}

bool nv_tensor_cores(CgContext *c)
{
	NvState *s = nv_state(c);

	return !s->emulate && strncmp(s->arch, "sm_", 3) == 0 &&
	       atoi(s->arch + 3) >= 80;
}

/* Warpgroup MMA: sm_90a, the target of Hopper's architecture-specific
 * instructions (a PTX for it loads on compute capability 9.0 only). */
static bool nv_wgmma(CgContext *c)
{
	return nv_tensor_cores(c) && strcmp(nv_state(c)->arch, "sm_90a") == 0;
}

bool nv_gemm_whole_tiles(CgContext *c)
{
	return nv_wgmma(c);
}

static TcgSpec tc_spec(CgContext *c, const NvGemm *g)
{
	TcgSpec t = { .kind = g->bf16 ? TCG_BF16 : TCG_TF32X3, .N = g->N,
	              .K = g->K, .lda = g->K,
	              .a_vec4 = g->K % 4 == 0, .a_bf16 = g->a_bf16,
	              .wgmma = nv_wgmma(c) };
	return t;
}

void nv_gemm_tile(CgContext *c, int64_t N, int64_t *bm, int64_t *bn)
{
	if (nv_tensor_cores(c)) {
		NvGemm g = { .N = N, .K = 1 };
		TcgSpec t = tc_spec(c, &g);
		int m, n;
		tcg_tile(&t, &m, &n);
		*bm = m;
		*bn = n;
		return;
	}
	*bm = BM;
	*bn = 16 * tn_for(N);
}

static LLVMValueRef fma3(CgContext *c, LLVMValueRef a, LLVMValueRef b,
                         LLVMValueRef d)
{
	LLVMTypeRef t = c->t_f32;
	unsigned id = LLVMLookupIntrinsicID("llvm.fma", 8);
	LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, &t, 1);
	LLVMValueRef args[] = {a, b, d};
	return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, &t, 1), fn,
	                      args, 3, "");
}

static LLVMValueRef sel(CgContext *c, LLVMValueRef cond, LLVMValueRef a,
                        LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, cond, a, b, "");
}

static LLVMValueRef icmp(CgContext *c, LLVMIntPredicate p, LLVMValueRef a,
                         LLVMValueRef b)
{
	return LLVMBuildICmp(c->b, p, a, b, "");
}

static LLVMValueRef and2(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildAnd(c->b, a, b, "");
}

/* Mean and 1/sqrt(var + eps) of `rows` rows of a (row q at float base[q])
 * by one warp, the CPU's two passes: its lanes read consecutive floats,
 * all the rows' loads issued together and kept in registers for the
 * second pass where K / 32 * rows floats a lane allow (else, one row,
 * read twice by nv_warp_ln_stats). */
enum { LN_ROWS = 4, LN_REGS = 64 };

static void ln_rows(CgContext *c, const NvGemm *g, const LLVMValueRef *base,
                    int rows, LLVMValueRef lane, LLVMValueRef *mean,
                    LLVMValueRef *rstd)
{
	int64_t nj = (g->K + 31) / 32;
	LLVMValueRef x[LN_REGS], ok[LN_REGS];

	if (nj * rows > LN_REGS) {
		HY_ASSERT(rows == 1);
		nv_warp_ln_stats(c, g->a, base[0], g->K, g->eps, lane, &mean[0],
		                 &rstd[0]);
		return;
	}
	for (int64_t j = 0; j < nj; j++) {
		LLVMValueRef k = add(c, i64c(c, 32 * j), lane);
		ok[j] = icmp(c, LLVMIntSLT, k, i64c(c, g->K));
		for (int q = 0; q < rows; q++)
			x[q * nj + j] = sel(c, ok[j], ld(c, g->a, add(c, base[q],
				sel(c, ok[j], k, i64c(c, 0)))), f32c(c, 0));
	}
	for (int q = 0; q < rows; q++) {
		LLVMValueRef s = f32c(c, 0), v = f32c(c, 0);
		for (int64_t j = 0; j < nj; j++)
			s = f_add(c, s, x[q * nj + j]);
		mean[q] = LLVMBuildFDiv(c->b, nv_warp_sum(c, s),
		                        f32c(c, (double)g->K), "mean");
		for (int64_t j = 0; j < nj; j++) {
			LLVMValueRef d = f_sub(c, x[q * nj + j], mean[q]);
			v = sel(c, ok[j], fmadd_red(c, v, d, d), v);
		}
		rstd[q] = nv_ln_rstd(c, nv_warp_sum(c, v), g->K, g->eps);
	}
}

/* Float offset in a of row m of the GEMM (row 0 where a_row0 + m is
 * outside the matrix: rows whose statistics go unused). */
static LLVMValueRef ln_row_base(CgContext *c, const NvGemm *g, LLVMValueRef m)
{
	LLVMValueRef arow = add(c, g->a_row0, m);
	LLVMValueRef valid = and2(c, icmp(c, LLVMIntSLT, m, g->M),
	                          icmp(c, LLVMIntSGE, arow, i64c(c, 0)));
	return mul(c, sel(c, valid, arow, i64c(c, 0)), i64c(c, g->K));
}

/* The LayerNorm statistics of the block's BM rows (from row r0) into
 * smean/srstd: read from g->st_mean/st_rstd where nv_gemm_stats made
 * them, else made here by ln_rows, a warp a row, each warp BM / 8 rows,
 * LN_ROWS of them at a time. (With two threads a row, each summing every
 * other float of it, a warp's load touched 16 rows and each sum waited
 * on its load: the statistics were most of the stalls of a LayerNorm
 * GEMM on tensor cores.) */
static void ln_stats(CgContext *c, const NvGemm *g, LLVMValueRef tid,
                     LLVMValueRef r0, LLVMValueRef smean, LLVMValueRef srstd)
{
	int64_t warps = NV_THREADS / 32, per = BM / warps;
	int64_t nj = (g->K + 31) / 32;
	int rows = nj * LN_ROWS <= LN_REGS && per % LN_ROWS == 0 ? LN_ROWS : 1;
	LLVMValueRef r[LN_ROWS], base[LN_ROWS], mean[LN_ROWS], rstd[LN_ROWS];
	Loop l;

	if (g->st_part) {
		/* a thread a row combines its pairs: the tiles' means are of
		 * equal counts, so the mean is theirs, and the squared
		 * deviations from it are each tile's plus its count times its
		 * mean's squared distance from the mean (Chan et al.) */
		int64_t T = g->part_tiles;
		LLVMValueRef mu[NV_MAX_PARTS], sum = f32c(c, 0), sq = f32c(c, 0);
		HY_ASSERT((int)BM <= (int)NV_THREADS && T >= 1 &&
		          T <= NV_MAX_PARTS && g->K % T == 0);
		LLVMValueRef m = add(c, r0, tid);
		LLVMValueRef arow = add(c, g->a_row0, m);
		LLVMValueRef ok = and2(c, icmp(c, LLVMIntSLT, m, g->M),
		                       icmp(c, LLVMIntSGE, arow, i64c(c, 0)));
		LLVMBasicBlockRef in = cg_if_open(c, icmp(c, LLVMIntSLT, tid,
		                                          i64c(c, BM)), "lsp");
		LLVMValueRef at = mul(c, sel(c, ok, arow, i64c(c, 0)),
		                      i64c(c, 2 * T));
		for (int64_t t = 0; t < T; t++) {
			mu[t] = ld(c, g->st_part, add(c, at, i64c(c, 2 * t)));
			sum = f_add(c, sum, mu[t]);
			sq = f_add(c, sq, ld(c, g->st_part, add(c, at, i64c(c, 2 * t + 1))));
		}
		LLVMValueRef mean = LLVMBuildFDiv(c->b, sum, f32c(c, (double)T),
		                                  "pmean");
		LLVMValueRef dev = f32c(c, 0);
		for (int64_t t = 0; t < T; t++) {
			LLVMValueRef d = f_sub(c, mu[t], mean);
			dev = f_add(c, dev, f_mul(c, d, d));
		}
		sq = f_add(c, sq, f_mul(c, dev, f32c(c, (double)(g->K / T))));
		st(c, smean, tid, sel(c, ok, mean, f32c(c, 0)));
		st(c, srstd, tid, sel(c, ok, nv_ln_rstd(c, sq, g->K, g->eps),
		                      f32c(c, 0)));
		cg_if_close(c, in);
		nv_barrier(c);
		return;
	}
	if (g->st_mean) {
		HY_ASSERT((int)BM <= (int)NV_THREADS);
		/* rows past M: mean 0 and scale 0, never stored */
		LLVMValueRef m = add(c, r0, tid);
		LLVMValueRef ok = icmp(c, LLVMIntSLT, m, g->M);
		LLVMBasicBlockRef in = cg_if_open(c, icmp(c, LLVMIntSLT, tid,
		                                          i64c(c, BM)), "lst");
		m = sel(c, ok, m, i64c(c, 0));
		st(c, smean, tid, sel(c, ok, ld(c, g->st_mean, m), f32c(c, 0)));
		st(c, srstd, tid, sel(c, ok, ld(c, g->st_rstd, m), f32c(c, 0)));
		cg_if_close(c, in);
		nv_barrier(c);
		return;
	}
	LLVMValueRef warp = LLVMBuildSDiv(c->b, tid, i64c(c, 32), "lw");
	LLVMValueRef lane = LLVMBuildSRem(c->b, tid, i64c(c, 32), "llane");
	LLVMValueRef it = cg_loop_open(c, &l, i64c(c, 0), i64c(c, per / rows),
	                               "lrow");
	for (int q = 0; q < rows; q++) {
		r[q] = add(c, mul(c, add(c, mul(c, it, i64c(c, rows)), i64c(c, q)),
		                  i64c(c, warps)), warp);
		base[q] = ln_row_base(c, g, add(c, r0, r[q]));
	}
	ln_rows(c, g, base, rows, lane, mean, rstd);
	LLVMBasicBlockRef bw = cg_if_open(c, icmp(c, LLVMIntEQ, lane,
	                                          i64c(c, 0)), "lw0");
	for (int q = 0; q < rows; q++) {
		st(c, smean, r[q], mean[q]);
		st(c, srstd, r[q], rstd[q]);
	}
	cg_if_close(c, bw);
	cg_loop_close(c, &l);
	nv_barrier(c);
}

void nv_gemm_stats(CgContext *c, const NvGemm *g)
{
	LLVMValueRef lane, base, mean, rstd;
	LLVMValueRef m = nv_warp_row(c, &lane);

	nv_return_unless(c, icmp(c, LLVMIntSLT, m, g->M));
	base = ln_row_base(c, g, m);
	ln_rows(c, g, &base, 1, lane, &mean, &rstd);
	LLVMBasicBlockRef bw = cg_if_open(c, icmp(c, LLVMIntEQ, lane,
	                                          i64c(c, 0)), "sw0");
	st(c, g->st_mean, m, mean);
	st(c, g->st_rstd, m, rstd);
	cg_if_close(c, bw);
}

/* One tile's loads of a K-contiguous operand (rows x BK floats from p,
 * row r of the tile at row row0 + r of p, valid rows [0, nrows) and those
 * with a row index >= 0): in float4 when K % 4 == 0, else floats; each
 * value into the variable vals[i], its shared-memory index (k-major,
 * stride ld) into idx[i]. With ln, A's elements are normalised. */
typedef struct Tile {
	LLVMValueRef p, row0, nrows;
	int64_t rows, ld;
	LLVMValueRef smean, srstd, g, b; /* ln */
} Tile;

enum { MAXV = 16 };

static int tile_loads(const Tile *t, int64_t K)
{
	int vw = K % 4 == 0 ? 4 : 1;
	int64_t n = t->rows * BK / vw;
	return (int)((n + NV_THREADS - 1) / NV_THREADS);
}

static void tile_load(CgContext *c, const Tile *t, int64_t K, LLVMValueRef k0,
                      LLVMValueRef tid, LLVMValueRef *vals)
{
	int vw = K % 4 == 0 ? 4 : 1;
	int64_t n = t->rows * BK / vw, per_row = BK / vw;
	LLVMValueRef zero = i64c(c, 0), Kv = i64c(c, K);
	LLVMTypeRef v4 = LLVMVectorType(c->t_f32, 4);
	int nl = tile_loads(t, K);

	for (int r = 0; r < nl; r++) {
		LLVMValueRef e = add(c, tid, i64c(c, r * NV_THREADS));
		LLVMValueRef m = LLVMBuildSDiv(c->b, e, i64c(c, per_row), "");
		LLVMValueRef k = mul(c, LLVMBuildSRem(c->b, e, i64c(c, per_row), ""),
		                     i64c(c, vw));
		LLVMValueRef row = add(c, t->row0, m);
		LLVMValueRef kk = add(c, k0, k);
		LLVMValueRef ok = and2(c, and2(c, icmp(c, LLVMIntSLT, m, t->nrows),
		                               icmp(c, LLVMIntSGE, row, zero)),
		                       icmp(c, LLVMIntSLT, kk, Kv));
		if (n % NV_THREADS)
			ok = and2(c, ok, icmp(c, LLVMIntSLT, e, i64c(c, n)));
		LLVMValueRef at = sel(c, ok, add(c, mul(c, row, Kv), kk), zero);
		LLVMValueRef x[4];
		if (vw == 4) {
			LLVMValueRef ld4 = LLVMBuildLoad2(c->b, v4,
			                                  elem(c, c->t_f32, t->p, at), "");
			LLVMSetAlignment(ld4, 16);
			for (int q = 0; q < 4; q++)
				x[q] = LLVMBuildExtractElement(c->b, ld4, i32c(c, q), "");
		} else {
			x[0] = ld(c, t->p, at);
		}
		for (int q = 0; q < vw; q++) {
			if (t->g) {
				LLVMValueRef kq = sel(c, ok, add(c, kk, i64c(c, q)), zero);
				x[q] = f_mul(c, f_sub(c, x[q], ld(c, t->smean, m)),
				             ld(c, t->srstd, m));
				x[q] = f_add(c, f_mul(c, x[q], ld(c, t->g, kq)),
				             ld(c, t->b, kq));
			}
			LLVMBuildStore(c->b, sel(c, ok, x[q], f32c(c, 0)),
			               vals[r * vw + q]);
		}
	}
}

static void tile_store(CgContext *c, const Tile *t, int64_t K,
                       LLVMValueRef tid, LLVMValueRef sh, LLVMValueRef *vals)
{
	int vw = K % 4 == 0 ? 4 : 1;
	int64_t n = t->rows * BK / vw, per_row = BK / vw;
	int nl = tile_loads(t, K);

	for (int r = 0; r < nl; r++) {
		LLVMValueRef e = add(c, tid, i64c(c, r * NV_THREADS));
		/* threads past the tile store into its padding column */
		if (n % NV_THREADS)
			e = sel(c, icmp(c, LLVMIntSLT, e, i64c(c, n)), e, i64c(c, -1));
		LLVMValueRef m = LLVMBuildSDiv(c->b, e, i64c(c, per_row), "");
		LLVMValueRef k = mul(c, LLVMBuildSRem(c->b, e, i64c(c, per_row), ""),
		                     i64c(c, vw));
		if (n % NV_THREADS) { /* e = -1: row t->rows of k 0, padding */
			LLVMValueRef out = icmp(c, LLVMIntSLT, e, i64c(c, 0));
			m = sel(c, out, i64c(c, t->rows), m);
			k = sel(c, out, i64c(c, 0), k);
		}
		for (int q = 0; q < vw; q++)
			st(c, sh, add(c, mul(c, add(c, k, i64c(c, q)), i64c(c, t->ld)), m),
			   ld_var(c, c->t_f32, vals[r * vw + q]));
	}
}

/* The shared-memory offsets of a thread's TM (or TN) rows: with 8, two
 * runs of 4 (float4 reads) at 4 t and 64 + 4 t; else t + 16 i. */
static int64_t lane_off(int64_t count, int i)
{
	return count == 8 ? (i < 4 ? i : 64 + i - 4) : 16 * i;
}

static LLVMValueRef lane_base(CgContext *c, int64_t count, LLVMValueRef t)
{
	return count == 8 ? mul(c, t, i64c(c, 4)) : t;
}

/* Reads TM (TN) values of row kk of a shared tile for this thread. */
static void tile_read(CgContext *c, LLVMValueRef sh, int64_t ld_,
                      int64_t count, LLVMValueRef base, int kk,
                      LLVMValueRef *out)
{
	LLVMTypeRef v4 = LLVMVectorType(c->t_f32, 4);
	if (count == 8) {
		for (int h = 0; h < 2; h++) {
			LLVMValueRef ix = add(c, base, i64c(c, kk * ld_ + 64 * h));
			LLVMValueRef v = LLVMBuildLoad2(c->b, v4, elem(c, c->t_f32, sh, ix),
			                                "");
			LLVMSetAlignment(v, 16);
			for (int q = 0; q < 4; q++)
				out[4 * h + q] = LLVMBuildExtractElement(c->b, v, i32c(c, q),
				                                         "");
		}
		return;
	}
	for (int i = 0; i < count; i++)
		out[i] = ld(c, sh, add(c, base, i64c(c, kk * ld_ + 16 * i)));
}

/* The epilogue of w (1 or 2) adjacent outputs (m, n..) = y: bias,
 * activation, residual, store, in the CPU's order; a pair with 8-byte
 * loads and stores (n even and N even: its addresses are 8-byte
 * aligned). */
/* The values of store_cols: bias, activation, residual, into y. */
static void cols_value(CgContext *c, const NvGemm *g, LLVMValueRef m,
                       LLVMValueRef n, LLVMValueRef *y, int w)
{
	LLVMValueRef N = i64c(c, g->N), idx, v;

	for (int i = 0; i < w; i++) {
		if (g->bias)
			y[i] = f_add(c, y[i], ld(c, g->bias, i ? add(c, n, i64c(c, i)) : n));
		y[i] = g->bf16 && g->act == FP_ACT_GELU_TANH && nv_tensor_cores(c)
		           ? cg_gelu_tanh_sfu(c, y[i])
		           : cg_act_value(c, g->act, y[i]);
	}
	if (g->res) {
		idx = add(c, mul(c, add(c, g->res_row0, m), N), n);
		if (w == 1) {
			y[0] = f_add(c, y[0], ld(c, g->res, idx));
		} else {
			v = nv_load2(c, g->res, idx);
			for (int i = 0; i < 2; i++)
				y[i] = f_add(c, y[i], nv_lane2(c, v, (unsigned)i));
		}
	}
}

/* The index in dst of output (m, n). */
static LLVMValueRef out_index(CgContext *c, const NvGemm *g, LLVMValueRef m,
                              LLVMValueRef n)
{
	return add(c, mul(c, add(c, g->dst_row0, m), i64c(c, g->N)), n);
}

/* The store of store_cols. */
static void cols_store(CgContext *c, const NvGemm *g, LLVMValueRef m,
                       LLVMValueRef n, LLVMValueRef *y, int w)
{
	LLVMValueRef idx = out_index(c, g, m, n);
	if (g->dst_bf16) { /* a pair by one cvt.rn.bf16x2.f32 (high first) */
		LLVMTypeRef bt = LLVMBFloatTypeInContext(c->ctx);
		LLVMValueRef v = w == 1 ? LLVMBuildFPTrunc(c->b, y[0], bt, "")
			: cg_intrinsic(c, "llvm.nvvm.ff2bf16x2.rn",
			               (LLVMValueRef[]){ y[1], y[0] }, 2);
		LLVMSetAlignment(LLVMBuildStore(c->b, v, elem(c, bt, g->dst, idx)),
		                 (unsigned)(2 * w));
		return;
	}
	if (w == 1) {
		st(c, g->dst, idx, y[0]);
		return;
	}
	nv_store2(c, g->dst, idx, y[0], y[1]);
}

static void store_cols(CgContext *c, const NvGemm *g, LLVMValueRef m,
                       LLVMValueRef n, LLVMValueRef *y, int w)
{
	cols_value(c, g, m, n, y, w);
	cols_store(c, g, m, n, y, w);
}

static void store_out(CgContext *c, const NvGemm *g, LLVMValueRef m,
                      LLVMValueRef n, LLVMValueRef y)
{
	store_cols(c, g, m, n, &y, 1);
}

/* ---- on tensor cores (tcgemm.c) ------------------------------------------
 * The same NvGemm through tcgemm: its rows are relative to a + a_row0 K
 * (rows below -a_row0, the halo before a sequence, read as zero); the
 * LayerNorm statistics of the block's rows are made (or read) by ln_stats
 * when the block knows its tile, and applied as each slice is converted; bias,
 * activation and residual in the epilogue, as below. */
typedef struct TcGlue {
	CgContext *c;
	const NvGemm *g;
	LLVMValueRef smean, srstd, row0;
	LLVMValueRef sgamma, sbeta; /* the LayerNorm's weights, in shared */
	bool folded; /* gamma and beta are in W and the bias (wgmma) */
	bool bf16;   /* the GEMM's operands are rounded to bf16 */
} TcGlue;

/* The LayerNorm's weights in shared memory for K up to this. */
enum { TC_LN_SHARED_MAX = 4096 };

static void tc_tile_begin(void *u, LLVMBuilderRef b, LLVMValueRef row0,
                          LLVMValueRef tid)
{
	TcGlue *t = u;
	CgContext *c = t->c;

	t->row0 = row0;
	if (t->g->ln_g)
		ln_stats(c, t->g, LLVMBuildZExt(b, tid, c->t_i64, ""), row0,
		         t->smean, t->srstd);
	if (t->sgamma) {
		/* read by the prologue once per element of every slice: from
		 * shared memory rather than through the cache (tcgemm's barrier
		 * before the first slice orders these stores) */
		Loop l;
		LLVMValueRef it = cg_loop_open(c, &l, i64c(c, 0),
			i64c(c, (t->g->K + NV_THREADS - 1) / NV_THREADS), "lng");
		LLVMValueRef k = add(c, mul(c, it, i64c(c, NV_THREADS)),
		                     LLVMBuildZExt(b, tid, c->t_i64, ""));
		LLVMBasicBlockRef in = cg_if_open(c, icmp(c, LLVMIntSLT, k,
		                                          i64c(c, t->g->K)), "lngk");
		st(c, t->sgamma, k, ld(c, t->g->ln_g, k));
		st(c, t->sbeta, k, ld(c, t->g->ln_b, k));
		cg_if_close(c, in);
		cg_loop_close(c, &l);
	}
}

/* The LayerNorm's mean and scale of A's row `row` (the tile's), and
 * -mean * scale. */
static void tc_row_prep(void *u, LLVMBuilderRef b, LLVMValueRef row,
                        LLVMValueRef *rc)
{
	TcGlue *t = u;
	CgContext *c = t->c;
	LLVMValueRef m = LLVMBuildSub(b, row, t->row0, "");

	rc[0] = ld(c, t->smean, m);
	rc[1] = ld(c, t->srstd, m);
	rc[2] = t->bf16 ? LLVMBuildFNeg(b, f_mul(c, rc[0], rc[1]), "") : NULL;
}

/* (v - mean) * scale, as the CPU's LayerNorm; under bf16, whose operand
 * is rounded to 8 bits right after, one fma: v * scale - mean * scale. */
static LLVMValueRef tc_xform(void *u, LLVMBuilderRef b,
                             LLVMValueRef const *rc,
                             LLVMValueRef k, LLVMValueRef v)
{
	TcGlue *t = u;
	CgContext *c = t->c;

	(void)b;
	v = t->bf16 ? fma3(c, v, rc[1], rc[2])
	            : f_mul(c, f_sub(c, v, rc[0]), rc[1]);
	if (t->folded)
		return v;
	if (t->sgamma)
		return f_add(c, f_mul(c, v, ld(c, t->sgamma, k)),
		             ld(c, t->sbeta, k));
	return f_add(c, f_mul(c, v, ld(c, t->g->ln_g, k)), ld(c, t->g->ln_b, k));
}

static void tc_epi(void *u, LLVMBuilderRef b, LLVMValueRef m, LLVMValueRef n,
                   LLVMValueRef y)
{
	TcGlue *t = u;

	(void)b;
	store_out(t->c, t->g, m, n, y);
}

/* The pair of columns n, n + 1 of row m, stored together (one 8-byte
 * store), in tcgemm's two halves: the values, into y, then the store. */
static void tc_val2(void *u, LLVMBuilderRef b, LLVMValueRef m, LLVMValueRef n,
                    LLVMValueRef y[2])
{
	TcGlue *t = u;

	(void)b;
	cols_value(t->c, t->g, m, n, y, 2);
}

static void tc_put2(void *u, LLVMBuilderRef b, LLVMValueRef m, LLVMValueRef n,
                    LLVMValueRef y[2])
{
	TcGlue *t = u;

	(void)b;
	cols_store(t->c, t->g, m, n, y, 2);
}

/* The address of output (m, n) of a GEMM whose outputs are bf16
 * (tcgemm's out_at). */
static LLVMValueRef tc_out_at(void *u, LLVMBuilderRef b, LLVMValueRef m,
                              LLVMValueRef n)
{
	TcGlue *t = u;
	CgContext *c = t->c;

	(void)b;
	return elem(c, LLVMBFloatTypeInContext(c->ctx), t->g->dst,
	            out_index(c, t->g, m, n));
}

/* NvGemm.tile's function, through tcgemm's tile_epi. */
static void tc_tile_epi(void *u, LLVMBuilderRef b, LLVMValueRef sh, int ld,
                        LLVMValueRef row0, LLVMValueRef col0, LLVMValueRef tid)
{
	TcGlue *t = u;

	(void)b;
	t->g->tile->fn(t->g->tile->u, t->c, t->g, sh, ld, row0, col0, tid);
}

/* NvGemm.part_out's pairs, from tcgemm's row_parts: row m's for the
 * column tile from col0 (of 128 columns). */
static void tc_row_parts(void *u, LLVMBuilderRef b, LLVMValueRef m,
                         LLVMValueRef col0, LLVMValueRef mean, LLVMValueRef sq)
{
	TcGlue *t = u;
	CgContext *c = t->c;
	const NvGemm *g = t->g;
	LLVMValueRef at = add(c, mul(c, add(c, g->dst_row0, m),
	                             i64c(c, 2 * g->part_tiles)),
	                      mul(c, LLVMBuildSDiv(b, col0, i64c(c, 128), ""),
	                          i64c(c, 2)));

	st(c, g->part_out, at, mean);
	st(c, g->part_out, add(c, at, i64c(c, 1)), sq);
}

static void tc_body(CgContext *c, const NvGemm *g0)
{
	NvState *s = nv_state(c);
	NvGemm gf = *g0; /* with wgmma, the folded bias */
	const NvGemm *g = &gf;
	TcgSpec spec = tc_spec(c, g);
	TcGlue t = { .c = c, .g = g, .bf16 = spec.kind == TCG_BF16 };
	LLVMValueRef a = LLVMBuildGEP2(c->b, g->a_bf16 ?
	                               LLVMBFloatTypeInContext(c->ctx) : c->t_f32,
	                               g->a, (LLVMValueRef[]){ mul(c, g->a_row0,
	                                                     i64c(c, g->K)) },
	                               1, "");
	LLVMValueRef w = g->w;

	/* sm_90a: W pre-split (tcgemm.h), a LayerNorm's gamma folded into
	 * its columns and beta into the bias (W' = W diag(gamma), b' = b +
	 * W beta), where the weights are known; mma.sync otherwise */
	if (spec.wgmma && (!g->wnode || g->wnode->op != OP_WEIGHT))
		spec.wgmma = false;
	if (spec.wgmma) {
		bool fold = g->ln_g && g->ln_gnode && g->ln_bnode &&
		            g->ln_gnode->op == OP_WEIGHT &&
		            g->ln_bnode->op == OP_WEIGHT &&
		            (!g->bias || (g->bias_node &&
		                          g->bias_node->op == OP_WEIGHT));
		w = nv_split_weight(c, g->wnode, fold ? g->ln_gnode : NULL,
		                    g->w_pairs, &spec);
		if (fold) {
			gf.bias = nv_fold_bias(c, g->wnode, g->bias ? g->bias_node : NULL,
			                       g->ln_bnode);
			t.folded = true;
		}
	}
	if (g->ln_g) {
		t.smean = nv_shared(c, c->t_f32, BM, "smean");
		t.srstd = nv_shared(c, c->t_f32, BM, "srstd");
		if (g->K <= TC_LN_SHARED_MAX && !t.folded) {
			t.sgamma = nv_shared(c, c->t_f32, g->K, "sgamma");
			t.sbeta = nv_shared(c, c->t_f32, g->K, "sbeta");
		}
		spec.row_prep = tc_row_prep;
		spec.xform = tc_xform;
	}
	spec.a_lo = LLVMBuildNeg(c->b, g->a_row0, "");
	spec.tile_begin = tc_tile_begin;
	spec.epi = tc_epi;
	spec.val2 = tc_val2;
	spec.put2 = tc_put2;
	if (spec.wgmma && g->dst_bf16 && g->N % 8 == 0 && !g->part_out)
		spec.out_at = tc_out_at;
	if (g->part_out) { /* nv_plan_parts chose GEMMs that run so */
		int bm, bn;
		tcg_tile(&spec, &bm, &bn);
		HY_ASSERT(spec.wgmma && !g->tile && bn == 128 &&
		          g->N == 128 * g->part_tiles);
		spec.row_parts = tc_row_parts;
	}
	if (g->tile) {
		HY_ASSERT(spec.wgmma);
		spec.tile_epi = tc_tile_epi;
		spec.row_step = g->tile->row_step;
	}
	spec.u = &t;
	s->kshmem[s->nk - 1] = tcg_shmem_bytes(&spec);
	tcg_emit(c->mod, c->b, c->fn, &spec, a, w, g->M);
}

static void simt_body(CgContext *c, const NvGemm *g)
{
	int64_t TN = tn_for(g->N), BN = 16 * TN;
	int64_t nb = (g->N + BN - 1) / BN;
	int64_t lda = BM + 4, ldb = BN + 4; /* float4-aligned rows */
	LLVMValueRef N = i64c(c, g->N), zero = i64c(c, 0);
	/* one padding row past the tile for threads with nothing to store */
	LLVMValueRef As = nv_shared(c, c->t_f32, BK * lda + 4, "As");
	LLVMValueRef Bs = nv_shared(c, c->t_f32, BK * ldb + 4, "Bs");
	LLVMValueRef smean = g->ln_g ? nv_shared(c, c->t_f32, BM, "smean") : NULL;
	LLVMValueRef srstd = g->ln_g ? nv_shared(c, c->t_f32, BM, "srstd") : NULL;
	LLVMValueRef acc[TM][8];
	Loop lk;

	LLVMValueRef tid = nv_tid(c), bid = nv_bid(c);
	LLVMValueRef mb = LLVMBuildSDiv(c->b, add(c, g->M, i64c(c, BM - 1)),
	                                i64c(c, BM), "mb");
	nv_return_unless(c, icmp(c, LLVMIntSLT, bid, mul(c, mb, i64c(c, nb))));
	LLVMValueRef bm = LLVMBuildSDiv(c->b, bid, i64c(c, nb), "bm");
	LLVMValueRef bn = LLVMBuildSRem(c->b, bid, i64c(c, nb), "bn");
	LLVMValueRef ty = LLVMBuildSDiv(c->b, tid, i64c(c, 16), "ty");
	LLVMValueRef tx = LLVMBuildSRem(c->b, tid, i64c(c, 16), "tx");
	if (g->ln_g)
		ln_stats(c, g, tid, mul(c, bm, i64c(c, BM)), smean, srstd);
	for (int i = 0; i < TM; i++)
		for (int j = 0; j < TN; j++)
			acc[i][j] = cg_var(c, c->t_f32, f32c(c, 0), "acc");

	Tile ta = {g->a, add(c, g->a_row0, mul(c, bm, i64c(c, BM))),
	           sub(c, g->M, mul(c, bm, i64c(c, BM))), BM, lda,
	           smean, srstd, g->ln_g, g->ln_b};
	Tile tw = {g->w, mul(c, bn, i64c(c, BN)), sub(c, N, mul(c, bn, i64c(c, BN))),
	           BN, ldb, NULL, NULL, NULL, NULL};
	/* rows of the tile that are valid: m < M - bm BM (and, for A, a row
	 * index >= 0); the W tile's rows are columns n < N - bn BN */
	LLVMValueRef va[MAXV], vb[MAXV];
	int vw = g->K % 4 == 0 ? 4 : 1;
	HY_ASSERT(tile_loads(&ta, g->K) * vw <= MAXV &&
	          tile_loads(&tw, g->K) * vw <= MAXV);
	for (int i = 0; i < MAXV; i++) {
		va[i] = cg_var(c, c->t_f32, NULL, "ra");
		vb[i] = cg_var(c, c->t_f32, NULL, "rb");
	}
	LLVMValueRef abase = lane_base(c, TM, ty), bbase = lane_base(c, TN, tx);
	/* registers hold the next tile while the current one is used */
	tile_load(c, &ta, g->K, zero, tid, va);
	tile_load(c, &tw, g->K, zero, tid, vb);
	LLVMValueRef kt = cg_loop_open(c, &lk, zero, i64c(c, (g->K + BK - 1) / BK),
	                               "kt");
	tile_store(c, &ta, g->K, tid, As, va);
	tile_store(c, &tw, g->K, tid, Bs, vb);
	nv_barrier(c);
	LLVMValueRef k1 = mul(c, add(c, kt, i64c(c, 1)), i64c(c, BK));
	tile_load(c, &ta, g->K, k1, tid, va);
	tile_load(c, &tw, g->K, k1, tid, vb);
	LLVMValueRef a[TM], b[8];
	LLVMValueRef accv[TM][8];
	for (int i = 0; i < TM; i++)
		for (int j = 0; j < TN; j++)
			accv[i][j] = ld_var(c, c->t_f32, acc[i][j]);
	for (int kk = 0; kk < BK; kk++) {
		tile_read(c, As, lda, TM, abase, kk, a);
		tile_read(c, Bs, ldb, TN, bbase, kk, b);
		for (int i = 0; i < TM; i++)
			for (int j = 0; j < TN; j++)
				accv[i][j] = fma3(c, a[i], b[j], accv[i][j]);
	}
	for (int i = 0; i < TM; i++)
		for (int j = 0; j < TN; j++)
			LLVMBuildStore(c->b, accv[i][j], acc[i][j]);
	nv_barrier(c);
	cg_loop_close(c, &lk);

	/* the epilogue, element by element */
	for (int i = 0; i < TM; i++) {
		LLVMValueRef m = add(c, mul(c, bm, i64c(c, BM)),
		                     add(c, abase, i64c(c, lane_off(TM, i))));
		for (int j = 0; j < TN; j++) {
			LLVMValueRef n = add(c, mul(c, bn, i64c(c, BN)),
			                     add(c, bbase, i64c(c, lane_off(TN, j))));
			LLVMValueRef ok = and2(c, icmp(c, LLVMIntSLT, m, g->M),
			                       icmp(c, LLVMIntSLT, n, N));
			LLVMBasicBlockRef bs = LLVMAppendBasicBlockInContext(
			    c->ctx, c->fn, "ep");
			LLVMBasicBlockRef bx = LLVMAppendBasicBlockInContext(
			    c->ctx, c->fn, "ep.next");
			LLVMBuildCondBr(c->b, ok, bs, bx);
			LLVMPositionBuilderAtEnd(c->b, bs);
			store_out(c, g, m, n, ld_var(c, c->t_f32, acc[i][j]));
			LLVMBuildBr(c->b, bx);
			LLVMPositionBuilderAtEnd(c->b, bx);
		}
	}
}

void nv_gemm_body(CgContext *c, const NvGemm *g)
{
	HY_ASSERT(!g->part_out || nv_gemm_whole_tiles(c));
	HY_ASSERT(!(g->a_bf16 || g->dst_bf16) ||
	          (g->bf16 && nv_tensor_cores(c)));
	if (nv_tensor_cores(c))
		tc_body(c, g);
	else
		simt_body(c, g);
}
