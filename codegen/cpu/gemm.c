/*
 * gemm.c - the projections: a register-tiled GEMM over the weight panels
 * that weights.c lays out (CgWeights.panels), with masked vector loads and
 * stores for a partial last panel, and the plain one-row-at-a-time dot
 * product for weights without panels. The shape of the register block
 * and the k chunk are the target's (CgContext.vw, .mr, .nv, .kc, chosen
 * in target.c); this file only follows them. cg_project_rows is what
 * linear, fused_proj, fused_mlp and sin_linear call (the filter
 * generator has a block of its own, fused.c).
 *
 * In a bf16 graph (ir_bf16_slot) the same GEMM runs over pairs of k: the
 * panels hold bf16 pairs (weights.c), the rows of a are rounded to bf16
 * into a stack buffer first (pack_a, a chunk of rows at a time), and
 * each k step is either one vdpbf16ps per vector (two products a lane,
 * summed into fp32 accumulators; a's pairs packed as 32-bit words) where
 * the target has AVX512_BF16 and target.c says it is fast there
 * (CgContext.bf16dp), or the panel's pairs widened to fp32 (a shift and
 * a mask per vector) and two fused multiply-adds per row and vector,
 * a's values packed as the floats they round to, so that each FMA
 * broadcasts its a from memory as the fp32 GEMM does; or, before
 * both, where the target has AMX-BF16 (CgContext.bf16amx), the tile
 * unit (amx_rows, below). All give the same products (exact in fp32);
 * only the order of the sums differs.
 */
#include "cpu.h"

/* ---- GEMM -------------------------------------------------------------
 *
 * dst[(d0 + i) * ldd + j] = a[(a0 + i) * lda, +K) . w[j, :] (+ bias[j])
 * for i < m, j < N, from w's panel copy (CgWeights.panels). Per panel of
 * GEMM_NR columns, per chunk of KC values of k (the chunk of the panel,
 * KC x GEMM_NR floats, stays in L1 while every row block reads it), per
 * register column of NV vectors: rows go MR at a time with MR x NV
 * accumulators in vector registers, each k step one load per vector of
 * the panel's row k and one broadcast per row of a; the rest of the rows
 * go in blocks of 8, 4, 2 and 1. Between chunks the partial sums wait in
 * dst, so every output is still its own fused multiply-add chain over k
 * in order, whatever the shape: results do not depend on the target's
 * block. A partial last panel loads and stores through masks. */

/* How a GEMM multiplies: fp32 panels, or bf16 ones (k in pairs) by
 * vdpbf16ps on a packed as pairs, or widened, on a packed as floats
 * (two a row per pair). */
typedef enum { GEMM_F32, GEMM_DP, GEMM_WIDEN } GemmKind;

/* A GEMM's operands. With bf16, wp holds pairs and K counts pairs; lda
 * is in a's units (words, floats). */
typedef struct Gemm {
	LLVMValueRef a, a0, wp, bias, dst, d0;
	int64_t lda, K, ldd;
	GemmKind kind;
	int64_t kpan; /* rows of k (pairs) a panel holds: K, or more */
} Gemm;

/* The first n lanes on, as a constant <vw x i1>. */
static LLVMValueRef lane_mask(CgContext *c, int64_t n)
{
	LLVMValueRef bits[16];
	for (int i = 0; i < c->vw; i++)
		bits[i] = LLVMConstInt(c->t_i1, i < n, 0);
	return LLVMConstVector(bits, (unsigned)c->vw);
}

/* ncols (<= vw) floats at p: a plain vector load, or a masked one. */
static LLVMValueRef vload(CgContext *c, LLVMValueRef p, int64_t ncols)
{
	if (ncols >= c->vw) {
		LLVMValueRef v = LLVMBuildLoad2(c->b, cg_vec_t(c), p, "");
		LLVMSetAlignment(v, 4);
		return v;
	}
	LLVMValueRef a[] = {p, LLVMConstInt(c->t_i32, 4, 0), lane_mask(c, ncols),
	                    LLVMConstNull(cg_vec_t(c))};
	return cg_masked(c, "llvm.masked.load", a, 4);
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
	cg_masked(c, "llvm.masked.store", a, 4);
}


/* ---- bf16 ------------------------------------------------------------ */

static LLVMTypeRef veci_t(CgContext *c)
{
	return LLVMVectorType(c->t_i32, (unsigned)c->vw);
}

static LLVMValueRef i32v(CgContext *c, LLVMValueRef x, uint32_t k)
{
	LLVMTypeRef t = LLVMTypeOf(x);
	LLVMValueRef kc = LLVMConstInt(c->t_i32, k, 0);
	if (LLVMGetTypeKind(t) == LLVMVectorTypeKind) {
		LLVMValueRef e[16];
		for (unsigned i = 0; i < LLVMGetVectorSize(t); i++)
			e[i] = kc;
		kc = LLVMConstVector(e, LLVMGetVectorSize(t));
	}
	return kc;
}

/* The two bf16 halves of pair words x (i32 or a vector of them) as
 * floats: the low one (k even) and the high one (k odd). */
static void widen_pair(CgContext *c, LLVMValueRef x, LLVMValueRef *lo,
                       LLVMValueRef *hi)
{
	LLVMTypeRef ft = LLVMGetTypeKind(LLVMTypeOf(x)) == LLVMVectorTypeKind
	                     ? cg_vec_t(c)
	                     : c->t_f32;
	*lo = LLVMBuildBitCast(c->b, LLVMBuildShl(c->b, x, i32v(c, x, 16), ""),
	                       ft, "");
	*hi = LLVMBuildBitCast(c->b,
	                       LLVMBuildAnd(c->b, x, i32v(c, x, 0xffff0000u), ""),
	                       ft, "");
}

/* acc + the pairwise products of a and b, by vdpbf16ps (whatever
 * vector types this LLVM declares its operands with). */
static LLVMValueRef dpbf16(CgContext *c, LLVMValueRef acc, LLVMValueRef a,
                           LLVMValueRef b)
{
	static const char name[] = "llvm.x86.avx512bf16.dpbf16ps.512";
	unsigned id = LLVMLookupIntrinsicID(name, sizeof name - 1);
	HY_ASSERT(id != 0);
	LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, NULL, 0);
	LLVMTypeRef ft = LLVMIntrinsicGetType(c->ctx, id, NULL, 0), pt[3];
	LLVMGetParamTypes(ft, pt);
	LLVMValueRef args[] = {acc, LLVMBuildBitCast(c->b, a, pt[1], ""),
	                       LLVMBuildBitCast(c->b, b, pt[2], "")};
	return LLVMBuildCall2(c->b, ft, fn, args, 3, "");
}

/* One k step (a pair of k) of a register block: rows arow of the packed
 * pairs g->a against the panel's pair vectors b. */
static void bf16_step(CgContext *c, const Gemm *g, int mr, int nv,
                      LLVMValueRef *arow, LLVMValueRef k, LLVMValueRef *b,
                      LLVMValueRef acc[][CG_MAX_NV])
{
	LLVMTypeRef vt = cg_vec_t(c);
	LLVMValueRef blo[CG_MAX_NV], bhi[CG_MAX_NV];
	bool dp = g->kind == GEMM_DP;

	for (int v = 0; v < nv && !dp; v++)
		widen_pair(c, b[v], &blo[v], &bhi[v]);
	for (int i = 0; i < mr; i++) {
		if (dp) {
			LLVMValueRef wv = LLVMBuildBitCast(
			    c->b, cg_splat(c, ld(c, g->a, add(c, arow[i], k))), veci_t(c),
			    "");
			for (int v = 0; v < nv; v++)
				LLVMBuildStore(c->b, dpbf16(c, ld_var(c, vt, acc[i][v]), wv,
				                            b[v]),
				               acc[i][v]);
			continue;
		}
		LLVMValueRef k2 = add(c, arow[i], mul(c, k, i64c(c, 2)));
		LLVMValueRef alo = cg_splat(c, ld(c, g->a, k2));
		LLVMValueRef ahi = cg_splat(c, ld(c, g->a, add(c, k2, i64c(c, 1))));
		for (int v = 0; v < nv; v++)
			LLVMBuildStore(c->b,
			               f_fma(c, ahi, bhi[v],
			                     f_fma(c, alo, blo[v],
			                           ld_var(c, vt, acc[i][v]))),
			               acc[i][v]);
	}
}

/* The bf16 bits of float x (i32, in the low half), rounded to nearest
 * even as weights.c rounds the weights; NaN stays a (quiet) NaN. */
static LLVMValueRef bf16_bits(CgContext *c, LLVMValueRef x)
{
	LLVMValueRef u = LLVMBuildBitCast(c->b, x, c->t_i32, "");
	LLVMValueRef top = LLVMBuildLShr(c->b, u, i32c(c, 16), "");
	LLVMValueRef r = LLVMBuildAdd(
	    c->b, u,
	    LLVMBuildAdd(c->b, i32c(c, 0x7fff),
	                 LLVMBuildAnd(c->b, top, i32c(c, 1), ""), ""), "");
	r = LLVMBuildLShr(c->b, r, i32c(c, 16), "");
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealUNO, x, x, ""),
	                       LLVMBuildOr(c->b, top, i32c(c, 0x40), ""), r, "");
}

/* The float that bf16 bits b (in an i32's low half) stand for. */
static LLVMValueRef bf16_float(CgContext *c, LLVMValueRef b)
{
	return LLVMBuildBitCast(c->b, LLVMBuildShl(c->b, b, i32c(c, 16), ""),
	                        c->t_f32, "");
}

/* Rows [x0, x0 + m) of x (K floats a row) into ab rounded to bf16: as
 * pairs (dp: KP = ceil(K/2) words a row, the last high half zero when K
 * is odd), or as the floats they round to (2 KP a row, the last zero
 * when K is odd). */
static void pack_a(CgContext *c, LLVMValueRef x, LLVMValueRef x0,
                   int64_t Kn, LLVMValueRef m, LLVMValueRef ab, bool dp,
                   int64_t lda)
{
	if (!dp) {
		int64_t K2 = (Kn + 1) / 2 * 2;
		Loop li, lk;
		LLVMValueRef i = cg_loop_open(c, &li, i64c(c, 0), m, "pa");
		LLVMValueRef xb = mul(c, add(c, x0, i), i64c(c, Kn));
		LLVMValueRef ob = mul(c, i, i64c(c, K2));
		LLVMValueRef k = cg_loop_open(c, &lk, i64c(c, 0), i64c(c, Kn), "pk");
		st(c, ab, add(c, ob, k), bf16_float(c, bf16_bits(c, ld(c, x,
		                                                   add(c, xb, k)))));
		cg_loop_close(c, &lk);
		if (K2 > Kn)
			st(c, ab, add(c, ob, i64c(c, Kn)), f32c(c, 0));
		cg_loop_close(c, &li);
		return;
	}

	int64_t KP = (Kn + 1) / 2;
	Loop li, lq, lz;

	LLVMValueRef i = cg_loop_open(c, &li, i64c(c, 0), m, "pa");
	LLVMValueRef xb = mul(c, add(c, x0, i), i64c(c, Kn));
	LLVMValueRef ob = mul(c, i, i64c(c, lda));
	if (Kn / 2 > 0) {
		LLVMValueRef q = cg_loop_open(c, &lq, i64c(c, 0), i64c(c, Kn / 2),
		                              "pq");
		LLVMValueRef k = add(c, xb, mul(c, q, i64c(c, 2)));
		LLVMValueRef lo = bf16_bits(c, ld(c, x, k));
		LLVMValueRef hi = bf16_bits(c, ld(c, x, add(c, k, i64c(c, 1))));
		LLVMBuildStore(c->b,
		               LLVMBuildOr(c->b, lo,
		                           LLVMBuildShl(c->b, hi, i32c(c, 16), ""),
		                           ""),
		               elem(c, c->t_i32, ab, add(c, ob, q)));
		cg_loop_close(c, &lq);
	}
	if (Kn % 2)
		LLVMBuildStore(c->b,
		               bf16_bits(c, ld(c, x, add(c, xb, i64c(c, Kn - 1)))),
		               elem(c, c->t_i32, ab, add(c, ob, i64c(c, Kn / 2))));
	if (lda > KP) { /* zero pairs up to the row's end (AMX tiles) */
		LLVMValueRef q = cg_loop_open(c, &lz, i64c(c, KP), i64c(c, lda),
		                              "pz");
		LLVMBuildStore(c->b, i32c(c, 0), elem(c, c->t_i32, ab, add(c, ob, q)));
		cg_loop_close(c, &lz);
	}
	cg_loop_close(c, &li);
}

/* ---- AMX --------------------------------------------------------------
 *
 * Where the target has AMX-BF16 (CgContext.bf16amx), a bf16 GEMM runs on
 * the tile unit: per panel, per block of 32 rows, four 16 x 16 fp32
 * tiles of C (the block by the panel's two halves), and per group of 16
 * pairs of k two tiles of a (16 rows x 16 pairs, from pack_a's pairs)
 * and two of the panel (16 pairs x 16 columns: the panel's layout is
 * already the tile unit's), so every k step is four tdpbf16ps on eight
 * tiles of one shape (16 x 64 bytes). K is unrolled (its groups are a
 * constant count), so the C tiles are plain SSA values; LLVM configures
 * the tiles. The block goes through a stack buffer into dst, with the
 * bias, rows and columns past m and N left out. Rows of a past m in the
 * last block are whatever the buffer holds: they only make rows of C
 * that are not stored. */

static LLVMValueRef i16c(CgContext *c, int v)
{
	return LLVMConstInt(LLVMInt16TypeInContext(c->ctx), (unsigned)v, 0);
}

static LLVMValueRef amx(CgContext *c, const char *name, LLVMValueRef *args,
                        unsigned n)
{
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	HY_ASSERT(id != 0);
	LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, NULL, 0);
	return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, NULL, 0), fn,
	                      args, n, "");
}

/* A 16 x 64-byte tile from p (word index i of base), rows stride bytes
 * apart. */
static LLVMValueRef tile_load(CgContext *c, LLVMValueRef base, LLVMValueRef i,
                              int64_t stride)
{
	LLVMValueRef a[] = {i16c(c, 16), i16c(c, 64), elem(c, c->t_i32, base, i),
	                    i64c(c, stride)};
	return amx(c, "llvm.x86.tileloadd64.internal", a, 4);
}

enum { AMX_ROWS = 32 }; /* rows of a block: two tiles */

/* dst[(d0 + i) * N + j] = ab's row i (KPP pairs) . panel column j
 * (+ bias[j]) for i < m, j < N; cbuf: AMX_ROWS x GEMM_NR floats. */
static void amx_rows(CgContext *c, LLVMValueRef ab, int64_t KPP,
                     LLVMValueRef wp, LLVMValueRef bias, int64_t Nn,
                     LLVMValueRef m, LLVMValueRef dst, LLVMValueRef d0,
                     LLVMValueRef cbuf)
{
	int64_t np = (Nn + GEMM_NR - 1) / GEMM_NR, nk = KPP / GEMM_KPAIRS;
	LLVMValueRef N = i64c(c, Nn);
	Loop lp, lb, li, lj;

	HY_ASSERT(KPP % GEMM_KPAIRS == 0 && GEMM_NR == 32 && GEMM_KPAIRS == 16);
	LLVMValueRef p = cg_loop_open(c, &lp, i64c(c, 0), i64c(c, np), "ap");
	LLVMValueRef pb = mul(c, p, i64c(c, KPP * GEMM_NR));
	LLVMValueRef j0 = mul(c, p, i64c(c, GEMM_NR));
	LLVMValueRef ncol = smin(c, i64c(c, GEMM_NR), sub(c, N, j0));
	LLVMValueRef nb = LLVMBuildSDiv(c->b, add(c, m, i64c(c, AMX_ROWS - 1)),
	                                i64c(c, AMX_ROWS), "");
	LLVMValueRef i0 = mul(c, cg_loop_open(c, &lb, i64c(c, 0), nb, "ab"),
	                      i64c(c, AMX_ROWS));
	LLVMValueRef z[] = {i16c(c, 16), i16c(c, 64)};
	LLVMValueRef acc[2][2];
	for (int r = 0; r < 2; r++)
		for (int h = 0; h < 2; h++)
			acc[r][h] = amx(c, "llvm.x86.tilezero.internal", z, 2);
	for (int64_t kt = 0; kt < nk; kt++) {
		LLVMValueRef ta[2], tb[2];
		for (int r = 0; r < 2; r++)
			ta[r] = tile_load(c, ab,
			                  add(c, mul(c, add(c, i0, i64c(c, 16 * r)),
			                             i64c(c, KPP)),
			                      i64c(c, kt * GEMM_KPAIRS)),
			                  KPP * 4);
		for (int h = 0; h < 2; h++)
			tb[h] = tile_load(c, wp,
			                  add(c, pb, i64c(c, kt * GEMM_KPAIRS * GEMM_NR +
			                                         16 * h)),
			                  GEMM_NR * 4);
		for (int r = 0; r < 2; r++)
			for (int h = 0; h < 2; h++) {
				LLVMValueRef a[] = {i16c(c, 16), i16c(c, 64), i16c(c, 64),
				                    acc[r][h], ta[r], tb[h]};
				acc[r][h] = amx(c, "llvm.x86.tdpbf16ps.internal", a, 6);
			}
	}
	for (int r = 0; r < 2; r++)
		for (int h = 0; h < 2; h++) {
			LLVMValueRef a[] = {i16c(c, 16), i16c(c, 64),
			                    elem(c, c->t_f32, cbuf,
			                         i64c(c, 16 * r * GEMM_NR + 16 * h)),
			                    i64c(c, GEMM_NR * 4), acc[r][h]};
			amx(c, "llvm.x86.tilestored64.internal", a, 5);
		}
	LLVMValueRef nr = smin(c, i64c(c, AMX_ROWS), sub(c, m, i0));
	LLVMValueRef i = cg_loop_open(c, &li, i64c(c, 0), nr, "ar");
	LLVMValueRef db = add(c, mul(c, add(c, d0, add(c, i0, i)), N), j0);
	LLVMValueRef cb = mul(c, i, i64c(c, GEMM_NR));
	LLVMValueRef j = cg_loop_open(c, &lj, i64c(c, 0), ncol, "ac");
	LLVMValueRef y = ld(c, cbuf, add(c, cb, j));
	if (bias)
		y = f_add(c, y, ld(c, bias, add(c, j0, j)));
	st(c, dst, add(c, db, j), y);
	cg_loop_close(c, &lj);
	cg_loop_close(c, &li);
	cg_loop_close(c, &lb);
	cg_loop_close(c, &lp);
}

/* One register block: rows [i0, i0 + mr) (mr constant) by the nv
 * vectors of columns j0 .. j0 + ncols, which start col columns into the
 * panel at bp, over k in [k0, k1). The accumulators start at zero on
 * the first chunk of k (first) and from what the previous chunk stored
 * in dst otherwise, so every output is still one fused multiply-add
 * chain over k in order; the bias goes in after the last chunk (last). */
static void gemm_block(CgContext *c, const Gemm *g, LLVMValueRef i0, int mr,
                       LLVMValueRef bp, int64_t col, LLVMValueRef j0,
                       int64_t ncols, LLVMValueRef k0, LLVMValueRef k1,
                       LLVMValueRef first, LLVMValueRef last)
{
	int nv = (int)((ncols + c->vw - 1) / c->vw);
	LLVMValueRef acc[CG_MAX_MR][CG_MAX_NV], arow[CG_MAX_MR],
	    drow[CG_MAX_MR], b[CG_MAX_NV];
	LLVMTypeRef vt = cg_vec_t(c);
	Loop lk;

	HY_ASSERT(mr <= CG_MAX_MR && nv <= CG_MAX_NV);
	for (int i = 0; i < mr; i++) {
		LLVMValueRef r = add(c, i0, i64c(c, i));
		arow[i] = mul(c, add(c, g->a0, r), i64c(c, g->lda));
		drow[i] = elem(c, c->t_f32, g->dst,
		               add(c, mul(c, add(c, g->d0, r), i64c(c, g->ldd)), j0));
		for (int v = 0; v < nv; v++)
			acc[i][v] = cg_var(c, vt, LLVMConstNull(vt), "acc");
	}
	if (!LLVMIsAConstantInt(first)) { /* a later chunk: dst's partial sums */
		LLVMBasicBlockRef bl = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
		                                                     "partial");
		LLVMBasicBlockRef bk = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
		                                                     "");
		LLVMBuildCondBr(c->b, first, bk, bl);
		LLVMPositionBuilderAtEnd(c->b, bl);
		for (int i = 0; i < mr; i++)
			for (int v = 0; v < nv; v++)
				LLVMBuildStore(c->b,
				               vload(c, elem(c, c->t_f32, drow[i],
				                             i64c(c, v * c->vw)),
				                     ncols - v * c->vw),
				               acc[i][v]);
		LLVMBuildBr(c->b, bk);
		LLVMPositionBuilderAtEnd(c->b, bk);
	}
	LLVMValueRef k = cg_loop_open(c, &lk, k0, k1, "k");
	LLVMValueRef brow = add(c, mul(c, k, i64c(c, GEMM_NR)), i64c(c, col));
	for (int v = 0; v < nv; v++) {
		b[v] = LLVMBuildLoad2(c->b, g->kind != GEMM_F32 ? veci_t(c) : vt,
		                      elem(c, c->t_f32, bp,
		                           add(c, brow, i64c(c, v * c->vw))), "");
		LLVMSetAlignment(b[v], 4);
	}
	if (g->kind != GEMM_F32)
		bf16_step(c, g, mr, nv, arow, k, b, acc);
	for (int i = 0; i < mr && g->kind == GEMM_F32; i++) {
		LLVMValueRef ai = cg_splat(c, ld(c, g->a, add(c, arow[i], k)));
		for (int v = 0; v < nv; v++)
			LLVMBuildStore(c->b, f_fma(c, ai, b[v], ld_var(c, vt, acc[i][v])),
			               acc[i][v]);
	}
	cg_loop_close(c, &lk);
	for (int v = 0; v < nv; v++) {
		int64_t nc = ncols - v * c->vw;
		LLVMValueRef bias = NULL;
		if (g->bias) {
			bias = vload(c, elem(c, c->t_f32, g->bias,
			                     add(c, j0, i64c(c, v * c->vw))), nc);
			bias = LLVMBuildSelect(c->b, last, bias, LLVMConstNull(vt), "");
		}
		for (int i = 0; i < mr; i++) {
			LLVMValueRef y = ld_var(c, vt, acc[i][v]);
			if (bias)
				y = f_add(c, y, bias);
			vstore(c, y, elem(c, c->t_f32, drow[i], i64c(c, v * c->vw)), nc);
		}
	}
}

/* Rows [0, m) of one register column of a panel over k in [k0, k1): MR
 * rows at a time, then the rest in blocks of 8, 4, 2 and 1 rows (each at
 * most once), so that no row goes alone through a block meant for MR. */
static void gemm_rows_block(CgContext *c, const Gemm *g, LLVMValueRef m,
                            LLVMValueRef bp, int64_t col, LLVMValueRef j0,
                            int64_t ncols, LLVMValueRef k0, LLVMValueRef k1,
                            LLVMValueRef first, LLVMValueRef last)
{
	LLVMValueRef MR = i64c(c, c->mr);
	LLVMValueRef done = cg_var(c, c->t_i64, NULL, "done");
	Loop lg;

	LLVMValueRef ng = LLVMBuildSDiv(c->b, m, MR, "groups");
	LLVMValueRef gi = cg_loop_open(c, &lg, i64c(c, 0), ng, "g");
	gemm_block(c, g, mul(c, gi, MR), c->mr, bp, col, j0, ncols, k0, k1,
	           first, last);
	cg_loop_close(c, &lg);
	LLVMBuildStore(c->b, mul(c, ng, MR), done);
	for (int s = 8; s >= 1; s /= 2) {
		if (s >= c->mr)
			continue;
		LLVMValueRef i0 = ld_var(c, c->t_i64, done);
		LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
		                                                     "rest");
		LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(c->ctx,
		                                                       c->fn, "");
		LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntSLE,
		                                    add(c, i0, i64c(c, s)), m, ""),
		                bb, next);
		LLVMPositionBuilderAtEnd(c->b, bb);
		gemm_block(c, g, i0, s, bp, col, j0, ncols, k0, k1, first, last);
		LLVMBuildStore(c->b, add(c, i0, i64c(c, s)), done);
		LLVMBuildBr(c->b, next);
		LLVMPositionBuilderAtEnd(c->b, next);
	}
}

/* All m rows of one panel (ncols of its GEMM_NR columns in use): per
 * chunk of KC rows of the panel (the chunk stays in L1 while every row
 * block reads it), per register column of NV vectors, every row. */
static void gemm_panel(CgContext *c, const Gemm *g, LLVMValueRef m,
                       LLVMValueRef p, int64_t ncols)
{
	LLVMValueRef bp = elem(c, c->t_f32, g->wp,
	                       mul(c, p, i64c(c, g->kpan * GEMM_NR)));
	LLVMValueRef j0 = mul(c, p, i64c(c, GEMM_NR));
	int64_t kc = c->kc > 0 && c->kc < g->K ? c->kc : g->K;
	int64_t nchunk = (g->K + kc - 1) / kc, cw = (int64_t)c->nv * c->vw;
	LLVMValueRef k0 = i64c(c, 0), k1 = i64c(c, g->K);
	LLVMValueRef first = LLVMConstInt(c->t_i1, 1, 0), last = first;
	Loop lc;

	if (nchunk > 1) {
		LLVMValueRef ci = cg_loop_open(c, &lc, i64c(c, 0), i64c(c, nchunk),
		                               "kc");
		k0 = mul(c, ci, i64c(c, kc));
		k1 = smin(c, add(c, k0, i64c(c, kc)), i64c(c, g->K));
		first = LLVMBuildICmp(c->b, LLVMIntEQ, ci, i64c(c, 0), "first");
		last = LLVMBuildICmp(c->b, LLVMIntEQ, ci, i64c(c, nchunk - 1),
		                     "last");
	}
	for (int64_t col = 0; col < ncols; col += cw) {
		int64_t n = ncols - col < cw ? ncols - col : cw;
		gemm_rows_block(c, g, m, bp, col, add(c, j0, i64c(c, col)), n, k0,
		                k1, first, last);
	}
	if (nchunk > 1)
		cg_loop_close(c, &lc);
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

/* Whether src slot k of n is a projection matrix with a panel copy
 * (fp32, or bf16 where cg_bf16_slot): the kernel then reads the panels
 * (call_kernel passes them) through gemm_rows. */
bool cg_proj_slot(const CgContext *c, const Node *n, int k)
{
	const Node *w = n->src[k];
	if (w->op != OP_WEIGHT || !ir_proj_slot(n, k) || !c->w->panels)
		return false;
	return (cg_bf16_slot(c, n, k) ? c->w->bpanels : c->w->panels)[w->id] !=
	       SIZE_MAX;
}

bool cg_bf16_slot(const CgContext *c, const Node *n, int k)
{
	return ir_bf16_slot(c->g, n, k);
}

/* One projected row: dst[db + j] = x[xb, xb + K) . w[j, :] + bias[j] for
 * j < N. The k loop is the same reduction as k_linear's. */
static void proj_row(CgContext *c, LLVMValueRef x, LLVMValueRef xb,
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

/* Rows of a packed to bf16 pairs at a time, in a stack buffer: enough
 * for a whole tile of the fused kernels (fused.c, MLP_MAX). */
enum { BF16_ROWS = 96 };

/* gemm_rows in bf16: rows [a0, a0 + m) of a (K floats a row) times the
 * bf16 panels wp, into rows [d0, d0 + m) of dst, BF16_ROWS rows (in
 * whole register blocks) packed at a time. */
static void bf16_rows(CgContext *c, LLVMValueRef a, LLVMValueRef a0,
                      LLVMValueRef wp, LLVMValueRef bias, int64_t Kn,
                      int64_t Nn, LLVMValueRef m, LLVMValueRef dst,
                      LLVMValueRef d0)
{
	int64_t KP = (Kn + 1) / 2, KPP = cg_bf16_pairs(Kn);
	bool pairs = c->bf16dp || c->bf16amx;
	int64_t lda = c->bf16amx ? KPP : c->bf16dp ? KP : 2 * KP;
	int64_t mc = (BF16_ROWS + c->mr - 1) / c->mr * c->mr;
	LLVMValueRef ab = cg_stack_array(c, mc * lda, "abf16"), MC = i64c(c, mc);
	LLVMValueRef cbuf = c->bf16amx ? cg_stack_array(c, AMX_ROWS * GEMM_NR,
	                                                "amxc")
	                               : NULL;
	Loop lc;

	HY_ASSERT(mc % AMX_ROWS == 0 || !c->bf16amx);
	LLVMValueRef nc = LLVMBuildSDiv(c->b, add(c, m, i64c(c, mc - 1)), MC,
	                                "nc");
	LLVMValueRef r = mul(c, cg_loop_open(c, &lc, i64c(c, 0), nc, "ac"), MC);
	LLVMValueRef mm = smin(c, MC, sub(c, m, r));
	pack_a(c, a, add(c, a0, r), Kn, mm, ab, pairs, lda);
	if (c->bf16amx) {
		amx_rows(c, ab, KPP, wp, bias, Nn, mm, dst, add(c, d0, r), cbuf);
		cg_loop_close(c, &lc);
		return;
	}
	Gemm gm = {ab, i64c(c, 0), wp, bias, dst, add(c, d0, r), lda, KP, Nn,
	           c->bf16dp ? GEMM_DP : GEMM_WIDEN, cg_bf16_pairs(Kn)};
	gemm_rows(c, &gm, mm, Nn);
	cg_loop_close(c, &lc);
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
	if (cg_proj_slot(c, n, wslot) && cg_bf16_slot(c, n, wslot)) {
		bf16_rows(c, a, a0, s[wslot], bias, Kn, Nn, m, dst, d0);
		return;
	}
	if (cg_proj_slot(c, n, wslot)) {
		Gemm gm = {a, a0, s[wslot], bias, dst, d0, Kn, Kn, Nn, GEMM_F32,
		           Kn};
		gemm_rows(c, &gm, m, Nn);
		return;
	}
	LLVMValueRef i = cg_loop_open(c, &lp, i64c(c, 0), m, "prow");
	proj_row(c, a, mul(c, add(c, a0, i), K), s[wslot], bias, Kn, Nn, dst,
	         mul(c, add(c, d0, i), N));
	cg_loop_close(c, &lp);
}

