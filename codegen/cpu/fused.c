/*
 * fused.c - the kernels of passes/fuse.c's fused ops: fused_proj (a
 * linear with its layernorm prologue and short-conv / activation /
 * residual / gate epilogues, tiled over positions when it convolves),
 * fused_mlp (both projections over tiles, so that the hidden activation
 * never exists whole), gated_conv's direct kernel, which works in its own
 * output, and its FFT form: a call to hyrt_hyena_conv_fft, or, for
 * generated filters, to hyrt_hyena_conv_fft_gen with a filter generator
 * function emitted here.
 *
 * All keep the unfused kernels' order of float operations, so fusing
 * changes results only where the vectoriser reorders a reduction.
 */
#include "cpu.h"

#include <stdio.h>

/* dst[db + j] = act(src[sb + j]), then + res[rb + j] (or * res[rb + j]
 * when times), for j < N. A pass of its own after the row is made, while
 * the row is in L1: interleaving the activation with the vector dot
 * products measured 25-35% slower over a whole model when the activation
 * was a libm call (the calls ran at a third of their speed), and the
 * plain loops vectorise. Each res element is read before the dst element
 * of the same index is written, so dst may be res (memplan places a
 * fused_proj over its residual). */
static void epilogue_row(CgContext *c, LLVMValueRef src, LLVMValueRef sb,
                         LLVMValueRef dst, LLVMValueRef db, int64_t Nn,
                         FpAct a, LLVMValueRef res, LLVMValueRef rb,
                         bool times)
{
	Loop lj;

	if (a == FP_ACT_NONE && !res && src == dst)
		return;
	LLVMValueRef j = cg_loop_open(c, &lj, i64c(c, 0), i64c(c, Nn), "e");
	LLVMValueRef y = cg_act_value(c, a, ld(c, src, add(c, sb, j)));
	if (res) {
		LLVMValueRef r = ld(c, res, add(c, rb, j));
		y = times ? f_mul(c, y, r) : f_add(c, y, r);
	}
	st(c, dst, add(c, db, j), y);
	cg_loop_close(c, &lj);
}

/* Rows per tile: at most want (the stack bound, CG_STACK_TILE_BYTES,
 * holds), in whole register blocks of the target's GEMM (c->mr rows), so
 * that no full tile ends in a short block. */
static int64_t tile_rows(const CgContext *c, int64_t want)
{
	int64_t t = want / c->mr * c->mr;
	return t < c->mr ? c->mr : t;
}

/* Rows to project per tile of the fused short convolution: the tile and
 * its K-1 halo rows stay within about 128 KiB of stack (L2), in whole
 * register blocks, at most about 64. */
static int64_t conv_tile_rows(const CgContext *c, int64_t N, int64_t halo)
{
	int64_t t = (128 << 10) / (4 * N) - halo;
	t = t > 64 ? 64 : t;
	t = t / c->mr * c->mr;
	return t < c->mr ? c->mr : t;
}

/* The loop over the kernel's rows [R0, R1) in tiles of Tn: the tile's
 * first row, and in *m its row count (Tn, or fewer in the last). */
static LLVMValueRef open_row_tiles(CgContext *c, Loop *l, int64_t Tn,
                                   LLVMValueRef *m)
{
	LLVMValueRef T = i64c(c, Tn);
	LLVMValueRef nt = LLVMBuildSDiv(
	    c->b, add(c, sub(c, c->R1, c->R0), i64c(c, Tn - 1)), T, "nt");
	LLVMValueRef ti = cg_loop_open(c, l, i64c(c, 0), nt, "tile");
	LLVMValueRef r0 = add(c, c->R0, mul(c, ti, T));
	*m = smin(c, T, sub(c, c->R1, r0));
	return r0;
}

/* Rows per tile of the plain projection kernels, about. */
enum { PROJ_TILE = 64 };

/* The tile of fused_proj n: rows projected at a time. */
static int64_t fproj_tile(const CgContext *c, const Node *n)
{
	int64_t KC = n->iattr[FP_CONV];
	return KC ? conv_tile_rows(c, ir_fp_rows(n), KC - 1)
	          : tile_rows(c, PROJ_TILE);
}

/* s with fused_proj n's row window applied (FP_ROW0): its weight (the
 * panel copy, whose panels of GEMM_NR rows the window starts on, or
 * the original), bias, filter and filter bias from row row0 on. */
static void window_rows(CgContext *c, const Node *n, LLVMValueRef *s,
                        LLVMValueRef *ws)
{
	FpSrc fs;
	ir_fp_srcs(n, &fs);
	int64_t r0 = n->iattr[FP_ROW0], Kn = n->src[fs.w]->type.dim[1];

	memcpy(ws, s, (size_t)n->nsrc * sizeof *ws);
	if (!r0)
		return;
	/* fp32 panels: r0/GEMM_NR panels of K x GEMM_NR floats, r0 K in
	 * all, as in the original; bf16: of cg_bf16_pairs(K) words */
	int64_t wstep = Kn;
	if (cg_proj_slot(c, n, fs.w)) {
		HY_ASSERT(r0 % GEMM_NR == 0);
		if (cg_bf16_slot(c, n, fs.w))
			wstep = cg_bf16_pairs(Kn);
	}
	ws[fs.w] = elem(c, c->t_f32, s[fs.w], i64c(c, r0 * wstep));
	if (fs.bias >= 0)
		ws[fs.bias] = elem(c, c->t_f32, s[fs.bias], i64c(c, r0));
	if (fs.conv_w >= 0)
		ws[fs.conv_w] = elem(c, c->t_f32, s[fs.conv_w],
		                     i64c(c, r0 * n->iattr[FP_CONV]));
	if (fs.conv_b >= 0)
		ws[fs.conv_b] = elem(c, c->t_f32, s[fs.conv_b], i64c(c, r0));
}

static int64_t mlp_tile(const CgContext *c, const Node *n);

/* Chunks of whole tiles: two of them, and at least 128 rows where the
 * kernel convolves, since every chunk projects its K-1 halo rows
 * again. */
int64_t cg_row_grain(const CgContext *c, const Node *n)
{
	switch (n->op) {
	case OP_LINEAR:
		return 2 * tile_rows(c, PROJ_TILE);
	case OP_FUSED_PROJ: {
		int64_t t = fproj_tile(c, n);
		return n->iattr[FP_CONV] ? t * ((128 + t - 1) / t) : 2 * t;
	}
	case OP_FUSED_MLP:
		return 2 * mlp_tile(c, n);
	case OP_SIN_LINEAR:
		return 2 * tile_rows(c, PROJ_TILE);
	case OP_DWCONV:
		return 64;
	default:
		return 512;
	}
}

/* fused_proj on rows [r0, r1). Without conv, row by row: the layernorm of
 * the row into a stack buffer, then the projection and the epilogue. With
 * conv, each batch row's part of the range goes in tiles of T positions:
 * the tile's rows are projected into a stack buffer after the K-1 rows
 * before it (projected again at the start of the range, zero before
 * position 0, carried over from the previous tile after), then the
 * causal filter runs down the buffer, so no [B,L,N] pre-filter tensor
 * exists and every row is projected once, but for K-1 per range. The
 * filter sums in the dwconv kernel's order. With gate, a filtered row
 * [post | g | v] goes through a stack row and leaves as [post | g * v]
 * (gate=1), or [g | v] as g * v (gate=2); with res, rows go through a
 * stack row or tile before the epilogue adds (or multiplies by) res, so
 * that out may be res. A row window (rows) reads its part of the
 * weights through window_rows. */
void cg_k_fused_proj(CgContext *c, const Node *n, LLVMValueRef out,
                     LLVMValueRef *s0)
{
	FpSrc fs;
	ir_fp_srcs(n, &fs);
	LLVMValueRef s[IR_MAX_SRC];
	window_rows(c, n, s0, s);
	const TensorType *t = &n->type, *xt = &n->src[fs.x]->type;
	int64_t Kn = xt->dim[xt->rank - 1], Nn = ir_fp_rows(n);
	int64_t On = t->dim[t->rank - 1]; /* Nn, 2Nn/3 (gate 1), Nn/2 (2) */
	bool rmul = n->iattr[FP_RES] == 2;
	LLVMValueRef N = i64c(c, Nn), O = i64c(c, On);
	LLVMValueRef res = fs.res >= 0 ? s[fs.res] : NULL;
	LLVMValueRef bias = fs.bias >= 0 ? s[fs.bias] : NULL;
	LLVMValueRef lg_ = fs.ln_g >= 0 ? s[fs.ln_g] : NULL;
	LLVMValueRef lb_ = fs.ln_b >= 0 ? s[fs.ln_b] : NULL;
	FpAct a = (FpAct)n->iattr[FP_ACT];
	int64_t KC = n->iattr[FP_CONV], H = KC - 1;
	int64_t Tn = fproj_tile(c, n);
	LLVMValueRef lnbuf = lg_ ? cg_stack_array(c, Tn * Kn, "ln") : NULL;
	LLVMValueRef T = i64c(c, Tn);
	Loop lr, lb, lt, lo, lc, lh, lq, lg, le;

	if (fs.conv_w < 0) {
		/* with res, the tile's rows go through a stack tile, so that
		 * out may be res */
		LLVMValueRef pt = res ? cg_stack_array(c, Tn * Nn, "ptile") : out;
		LLVMValueRef m, r0 = open_row_tiles(c, &lr, Tn, &m);
		cg_project_rows(c, n, fs.w, s, s[fs.x], lg_, lb_, lnbuf, bias, Kn, Nn,
		                r0, m, pt, res ? i64c(c, 0) : r0);
		if (a != FP_ACT_NONE || res) {
			LLVMValueRef i = cg_loop_open(c, &le, i64c(c, 0), m, "e");
			LLVMValueRef ob = mul(c, add(c, r0, i), N);
			epilogue_row(c, pt, res ? mul(c, i, N) : ob, out, ob, Nn, a, res,
			             ob, rmul);
			cg_loop_close(c, &le);
		}
		cg_loop_close(c, &lr);
		return;
	}

	int64_t gate = n->iattr[FP_GATE];
	int64_t Dn = gate == 2 ? Nn / 2 : Nn / 3;
	LLVMValueRef HN = i64c(c, H * Nn);
	LLVMValueRef tile = cg_stack_array(c, (Tn + H) * Nn, "tile");
	LLVMValueRef grow = gate || res ? cg_stack_array(c, Nn, "gaterow")
	                                : NULL;
	LLVMValueRef Ln = dimv(c, t->dim[1]);
	LLVMValueRef cw = s[fs.conv_w];

	/* the batch rows the range touches, and the positions of each */
	LLVMValueRef b0 = LLVMBuildSDiv(c->b, c->R0, Ln, "b0");
	LLVMValueRef b1 = LLVMBuildSDiv(c->b, add(c, c->R1, sub(c, Ln,
	                                                     i64c(c, 1))),
	                                Ln, "b1");
	LLVMValueRef b = cg_loop_open(c, &lb, b0, b1, "b");
	LLVMValueRef bl = mul(c, b, Ln);
	LLVMValueRef ts = sub(c, c->R0, bl), te = sub(c, c->R1, bl);
	ts = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, ts,
	                                         i64c(c, 0), ""),
	                     i64c(c, 0), ts, "ts");
	te = smin(c, te, Ln);
	/* the halo of the first tile: rows ts-H .. ts-1, in one register
	 * block when they all exist, else row by row, zero before 0 */
	LLVMBasicBlockRef bwhole = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                         "halo.whole");
	LLVMBasicBlockRef brows = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                        "halo.rows");
	LLVMBasicBlockRef bhalo = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                        "halo.end");
	LLVMBuildCondBr(c->b,
	                H <= Tn ? LLVMBuildICmp(c->b, LLVMIntSGE, ts, i64c(c, H), "")
	                        : LLVMConstInt(c->t_i1, 0, 0), /* lnbuf: Tn rows */
	                bwhole, brows);
	LLVMPositionBuilderAtEnd(c->b, bwhole);
	cg_project_rows(c, n, fs.w, s, s[fs.x], lg_, lb_, lnbuf, bias, Kn, Nn,
	                add(c, bl, sub(c, ts, i64c(c, H))), i64c(c, H), tile,
	                i64c(c, 0));
	LLVMBuildBr(c->b, bhalo);
	LLVMPositionBuilderAtEnd(c->b, brows);
	LLVMValueRef hj = cg_loop_open(c, &lh, i64c(c, 0), i64c(c, H), "halo");
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
	cg_project_rows(c, n, fs.w, s, s[fs.x], lg_, lb_, lnbuf, bias, Kn, Nn,
	                add(c, bl, hp), i64c(c, 1), tile, hj);
	LLVMBuildBr(c->b, bdone);
	LLVMPositionBuilderAtEnd(c->b, bzero);
	LLVMValueRef q = cg_loop_open(c, &lq, i64c(c, 0), N, "z");
	st(c, tile, add(c, hb, q), f32c(c, 0));
	cg_loop_close(c, &lq);
	LLVMBuildBr(c->b, bdone);
	LLVMPositionBuilderAtEnd(c->b, bdone);
	cg_loop_close(c, &lh);
	LLVMBuildBr(c->b, bhalo);
	LLVMPositionBuilderAtEnd(c->b, bhalo);

	LLVMValueRef ntiles = LLVMBuildSDiv(
	    c->b, add(c, sub(c, te, ts), i64c(c, Tn - 1)), T, "ntiles");
	LLVMValueRef ti = cg_loop_open(c, &lt, i64c(c, 0), ntiles, "tile");
	LLVMValueRef t0 = add(c, ts, mul(c, ti, T));
	LLVMValueRef nrow = smin(c, T, sub(c, te, t0));
	/* project rows t0 .. t0+nrow into tile rows H .. H+nrow */
	cg_project_rows(c, n, fs.w, s, s[fs.x], lg_, lb_, lnbuf, bias, Kn, Nn,
	                add(c, bl, t0), nrow, tile, i64c(c, H));
	/* the causal filter over tile rows i .. i+H for output row t0+i */
	LLVMValueRef i = cg_loop_open(c, &lo, i64c(c, 0), nrow, "o");
	LLVMValueRef row = add(c, bl, add(c, t0, i)), orow = mul(c, row, O);
	LLVMValueRef fdst = grow ? grow : out, fb = grow ? i64c(c, 0) : orow;
	LLVMValueRef ch = cg_loop_open(c, &lc, i64c(c, 0), N, "c");
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
	cg_loop_close(c, &lc);
	if (gate == 2) {
		/* g * v */
		ch = cg_loop_open(c, &lg, i64c(c, 0), i64c(c, Dn), "g");
		st(c, out, add(c, orow, ch),
		   f_mul(c, ld(c, grow, ch), ld(c, grow, add(c, i64c(c, Dn), ch))));
		cg_loop_close(c, &lg);
	} else if (gate) {
		/* [post | g * v]: in one row, or (planar) row t of each plane */
		LLVMValueRef D = i64c(c, Dn), pb = orow, vb = add(c, orow, D);
		if (n->planar) {
			pb = mul(c, row, D);
			vb = add(c, pb, cg_plane_size(c, Dn));
		}
		ch = cg_loop_open(c, &lg, i64c(c, 0), D, "g");
		st(c, out, add(c, pb, ch), ld(c, grow, ch));
		st(c, out, add(c, vb, ch),
		   f_mul(c, ld(c, grow, add(c, D, ch)),
		         ld(c, grow, add(c, i64c(c, 2 * Dn), ch))));
		cg_loop_close(c, &lg);
	} else {
		epilogue_row(c, fdst, fb, out, orow, Nn, a, res, orow, rmul);
	}
	cg_loop_close(c, &lo);
	/* the last H projected rows are the next tile's halo */
	q = cg_loop_open(c, &lq, i64c(c, 0), HN, "h");
	st(c, tile, q, ld(c, tile, add(c, mul(c, nrow, N), q)));
	cg_loop_close(c, &lq);
	cg_loop_close(c, &lt);
	cg_loop_close(c, &lb);
}

/* fused_mlp on rows [r0, r1), in tiles of positions: the layernorm of
 * the tile's rows, fc1 into a stack tile of the hidden width and its
 * activation there, then fc2 and the residual into out, so no [rows, H]
 * tensor exists. A tile has as many rows as fit its hidden and
 * layernorm rows in MLP_BYTES of stack (within CG_STACK_TILE_BYTES), in
 * whole register blocks, at most about MLP_MAX: every tile reads both
 * weight matrices, so the more rows, the less weight traffic per row. */
enum { MLP_BYTES = 224 << 10, MLP_MAX = 96 };

static int64_t mlp_tile(const CgContext *c, const Node *n)
{
	FmSrc fs;
	ir_fm_srcs(n, &fs);
	int64_t Kn = n->src[fs.w1]->type.dim[1], Hn = n->src[fs.w1]->type.dim[0];
	int64_t t = MLP_BYTES / (4 * (Hn + Kn));
	return tile_rows(c, t < MLP_MAX ? t : MLP_MAX);
}

void cg_k_fused_mlp(CgContext *c, const Node *n, LLVMValueRef out,
                    LLVMValueRef *s)
{
	FmSrc fs;
	ir_fm_srcs(n, &fs);
	const TensorType *xt = &n->src[fs.x]->type;
	int64_t Kn = xt->dim[xt->rank - 1], Hn = n->src[fs.w1]->type.dim[0];
	int64_t Nn = n->type.dim[n->type.rank - 1];
	LLVMValueRef lg_ = fs.ln_g >= 0 ? s[fs.ln_g] : NULL;
	LLVMValueRef lb_ = fs.ln_b >= 0 ? s[fs.ln_b] : NULL;
	int64_t Tn = mlp_tile(c, n);
	LLVMValueRef lnbuf = lg_ ? cg_stack_array(c, Tn * Kn, "ln") : NULL;
	LLVMValueRef hbuf = cg_stack_array(c, Tn * Hn, "hidden");
	LLVMValueRef res = fs.res >= 0 ? s[fs.res] : NULL;
	LLVMValueRef zero = i64c(c, 0);
	FpAct act = (FpAct)n->iattr[FM_ACT];
	Loop lt, la, le;

	LLVMValueRef m, r0 = open_row_tiles(c, &lt, Tn, &m);
	cg_project_rows(c, n, fs.w1, s, s[fs.x], lg_, lb_, lnbuf,
	                fs.b1 >= 0 ? s[fs.b1] : NULL, Kn, Hn, r0, m, hbuf, zero);
	if (act != FP_ACT_NONE) {
		LLVMValueRef i = cg_loop_open(c, &la, zero, m, "a");
		epilogue_row(c, hbuf, mul(c, i, i64c(c, Hn)), hbuf,
		             mul(c, i, i64c(c, Hn)), Hn, act, NULL, NULL, false);
		cg_loop_close(c, &la);
	}
	cg_project_rows(c, n, fs.w2, s, hbuf, NULL, NULL, NULL,
	                fs.b2 >= 0 ? s[fs.b2] : NULL, Hn, Nn, zero, m, out, r0);
	if (res) {
		LLVMValueRef i = cg_loop_open(c, &le, zero, m, "e");
		LLVMValueRef ob = mul(c, add(c, r0, i), i64c(c, Nn));
		epilogue_row(c, out, ob, out, ob, Nn, FP_ACT_NONE, res, ob, false);
		cg_loop_close(c, &le);
	}
	cg_loop_close(c, &lt);
}

/* sin_linear on rows [r0, r1), in tiles of rows: the tile's rows
 * projected into a stack tile (cg_project_rows, as linear), then
 * sin(freq * y) into out (the mul and sin kernels' operations, so the
 * bits are the unfused ops'). A tile's rows are all read before any is
 * written, and a chunk's tiles are its own rows, so out may be x itself
 * (memplan places it there when x dies here). */
void cg_k_sin_linear(CgContext *c, const Node *n, LLVMValueRef out,
                     LLVMValueRef *s)
{
	const TensorType *xt = &n->src[0]->type;
	int64_t Kn = xt->dim[xt->rank - 1], Nn = n->src[1]->type.dim[0];
	int64_t Tn = tile_rows(c, PROJ_TILE);
	LLVMValueRef tile = cg_stack_array(c, Tn * Nn, "sinlin");
	LLVMValueRef N = i64c(c, Nn), zero = i64c(c, 0);
	Loop lt, li, lj;

	LLVMValueRef m, r0 = open_row_tiles(c, &lt, Tn, &m);
	cg_project_rows(c, n, 1, s, s[0], NULL, NULL, NULL, s[2], Kn, Nn, r0, m,
	                tile, zero);
	LLVMValueRef i = cg_loop_open(c, &li, zero, m, "i");
	LLVMValueRef tb = mul(c, i, N), ob = mul(c, add(c, r0, i), N);
	LLVMValueRef j = cg_loop_open(c, &lj, zero, N, "j");
	st(c, out, add(c, ob, j),
	   cg_unary(c, OP_SIN, f_mul(c, ld(c, tile, add(c, tb, j)),
	                             ld(c, s[3], j))));
	cg_loop_close(c, &lj);
	cg_loop_close(c, &li);
	cg_loop_close(c, &lt);
}

/* gated_conv by the definition, in out itself: first u = v * g into out,
 * then the outputs from the last position down, so that the u rows a
 * position reads (s <= t) are still there; the sum over s goes in a stack
 * row, in the direct longconv kernel's order. out may be v's plane
 * itself (memplan's planar projection): u is made element by element
 * over v, and nothing reads v after that. */
void cg_k_gated_direct(CgContext *c, const Node *n, LLVMValueRef out,
                       LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	GcSrc gs;
	ir_gc_srcs(n, &gs);
	int64_t Dn = t->dim[2];
	LLVMValueRef D = i64c(c, Dn), Ln = dimv(c, t->dim[1]), Cv, Cg, Cp;
	LLVMValueRef v = cg_window(c, n, s, gs.v, n->iattr[GC_V_OFF], &Cv);
	LLVMValueRef g = gs.g >= 0 ? cg_window(c, n, s, gs.g,
	                                       n->iattr[GC_G_OFF], &Cg) : NULL;
	LLVMValueRef p = gs.post >= 0 ? cg_window(c, n, s, gs.post,
	                                          n->iattr[GC_POST_OFF], &Cp)
	                              : NULL;
	LLVMValueRef acc = cg_stack_array(c, Dn, "acc");
	Loop lb, lu, lc, lt, lz, ls, lk, le;

	LLVMValueRef b = cg_loop_open(c, &lb, i64c(c, 0), dimv(c, t->dim[0]), "b");
	LLVMValueRef bl = mul(c, b, Ln);
	LLVMValueRef r = add(c, bl, cg_loop_open(c, &lu, i64c(c, 0), Ln, "u"));
	LLVMValueRef ch = cg_loop_open(c, &lc, i64c(c, 0), D, "c");
	LLVMValueRef u = ld(c, v, add(c, mul(c, r, Cv), ch));
	if (g)
		u = f_mul(c, u, ld(c, g, add(c, mul(c, r, Cg), ch)));
	st(c, out, add(c, mul(c, r, D), ch), u);
	cg_loop_close(c, &lc);
	cg_loop_close(c, &lu);

	LLVMValueRef tt = cg_loop_open(c, &lt, i64c(c, 0), Ln, "t");
	LLVMValueRef tpos = sub(c, sub(c, Ln, i64c(c, 1)), tt);
	ch = cg_loop_open(c, &lz, i64c(c, 0), D, "z");
	st(c, acc, ch, f32c(c, 0));
	cg_loop_close(c, &lz);
	LLVMValueRef sp = cg_loop_open(c, &ls, i64c(c, 0), add(c, tpos, i64c(c, 1)),
	                               "s");
	LLVMValueRef ub = mul(c, add(c, bl, sp), D);
	LLVMValueRef kb = mul(c, sub(c, tpos, sp), D);
	ch = cg_loop_open(c, &lk, i64c(c, 0), D, "k");
	st(c, acc, ch,
	   fmadd_red(c, ld(c, acc, ch), ld(c, s[gs.k], add(c, kb, ch)),
	             ld(c, out, add(c, ub, ch))));
	cg_loop_close(c, &lk);
	cg_loop_close(c, &ls);
	LLVMValueRef row = add(c, bl, tpos);
	ch = cg_loop_open(c, &le, i64c(c, 0), D, "e");
	LLVMValueRef oi = add(c, mul(c, row, D), ch);
	LLVMValueRef y = f_add(c, ld(c, acc, ch),
	                       f_mul(c, ld(c, out, oi), ld(c, s[gs.bias], ch)));
	if (p)
		y = f_mul(c, y, ld(c, p, add(c, mul(c, row, Cp), ch)));
	st(c, out, oi, y);
	cg_loop_close(c, &le);
	cg_loop_close(c, &lt);
	cg_loop_close(c, &lb);
}

/* ---- the filter generator --------------------------------------------
 *
 * A block of the filter, dst[j*ld + t] for channels j < cb and t < L, is
 * a small GEMM (positions by channels, E deep) and an elementwise window.
 * It goes a tile of vw positions (one vector) at a time and, within the
 * tile, a group of vw channels at a time: vw accumulators, one a
 * position, each a vector across the group's channels, so that a k step
 * is one vector load of w^T's row k (a stack copy of the pass's w,
 * transposed and zero-padded to whole groups) and vw fused multiply-adds
 * with h[t,k] broadcast from h's rows as they lie. The window (a vector
 * of exps a position, across channels) multiplies the accumulators in
 * registers; then the vw x vw block is transposed in registers (log2 vw
 * rounds of interleaves) into one vector a channel, contiguous in t, and
 * stored into dst's rows: so h is read as it lies, and the only
 * transpose is of the output, E/vw times smaller than h's tile would be.
 * A last, partial tile reads h from a zero-padded stack copy of its rows
 * and stores through a lane mask; channels past cb in the last group are
 * computed on zero weights and not stored.
 *
 * Every output is one fused multiply-add chain over k in order, times
 * (exp + shift) as expmod has it, whatever its lane, tile or group: the
 * bits do not depend on cb, c0 or the threads. */

/* Channels per pass over h: whole groups of vw, their w^T within 16 KiB
 * of stack, at most 32: the runtime's blocks (CB_MAX, fftconv.c) take
 * one pass, so h streams from memory once a block. */
static int64_t gen_pass_channels(const CgContext *c, int64_t En)
{
	int64_t ch = (4096 / En < 32 ? 4096 / En : 32) / c->vw * c->vw;
	return ch < c->vw ? c->vw : ch;
}

/* The lanes of r[0 .. vw) transposed: lane i of row l goes to lane l of
 * row i. Each round interleaves row q with row q + vw/2 (the low halves
 * into row 2q, the high into 2q + 1); log2 vw rounds transpose. */
static void gen_transpose(CgContext *c, LLVMValueRef *r)
{
	int n = c->vw, h = n / 2;
	LLVMValueRef lo[16], hi[16], t[16];

	for (int i = 0; i < n; i++) {
		lo[i] = i32c(c, (i % 2 ? n : 0) + i / 2);
		hi[i] = i32c(c, (i % 2 ? n : 0) + h + i / 2);
	}
	LLVMValueRef mlo = LLVMConstVector(lo, (unsigned)n);
	LLVMValueRef mhi = LLVMConstVector(hi, (unsigned)n);
	for (int s = 1; s < n; s *= 2) {
		for (int q = 0; q < h; q++) {
			t[2 * q] = LLVMBuildShuffleVector(c->b, r[q], r[q + h], mlo, "");
			t[2 * q + 1] = LLVMBuildShuffleVector(c->b, r[q], r[q + h], mhi,
			                                      "");
		}
		memcpy(r, t, (size_t)n * sizeof *r);
	}
}

/* The first m (an i64, 1 .. vw) lanes of v to p. */
static void gen_store_first(CgContext *c, LLVMValueRef v, LLVMValueRef p,
                            LLVMValueRef m)
{
	LLVMValueRef idx[16];
	for (int i = 0; i < c->vw; i++)
		idx[i] = i32c(c, i);
	LLVMValueRef mask = LLVMBuildICmp(
	    c->b, LLVMIntULT, LLVMConstVector(idx, (unsigned)c->vw),
	    cg_splat(c, LLVMBuildTrunc(c->b, m, c->t_i32, "")), "");
	LLVMValueRef a[] = {v, p, i32c(c, 4), mask};
	cg_masked(c, "llvm.masked.store", a, 4);
}

/* Tiles of h to prefetch ahead: 1 to 8 measured the same within noise
 * (2 KiB to 32 KiB ahead at E = 64), 0 twice as slow. */
enum { GEN_AHEAD = 4 };

/* A prefetch of p[i] for reading into every cache level. A plain GEP:
 * past h's end it is an address, never dereferenced (no fault). */
static void gen_prefetch(CgContext *c, LLVMValueRef p, LLVMValueRef i)
{
	static const char name[] = "llvm.prefetch";
	unsigned id = LLVMLookupIntrinsicID(name, sizeof name - 1);
	LLVMTypeRef pt = c->t_ptr;
	LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, &pt, 1);
	LLVMValueRef a[] = {LLVMBuildGEP2(c->b, c->t_f32, p, &i, 1, ""),
	                    i32c(c, 0), i32c(c, 3), i32c(c, 1)};
	LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, &pt, 1), fn, a, 4,
	               "");
}

/* `void @name.filter(ptr ctx, i64 c0, i64 cb, i64 L, ptr dst, i64 ld)`,
 * the HyrtFilterGen of a gated_conv{gen}: for channels c0 .. c0+cb and
 * t < L, dst[j*ld + t] = (h[t,:] . w[c0+j,:]) * (exp(-t_pos[t,0] |deltas[c0+j]|)
 * + shift), with ctx = {h, w, t_pos, deltas}; as the comment above says.
 * The caller's CgContext function state is saved and restored around
 * it. */
static LLVMValueRef emit_filter_gen(CgContext *c, const Node *n)
{
	GcSrc gs;
	ir_gc_srcs(n, &gs);
	int64_t En = n->src[gs.h]->type.dim[1], VWn = c->vw;
	int64_t CHn = gen_pass_channels(c, En);
	LLVMTypeRef pt[] = {c->t_ptr, c->t_i64, c->t_i64, c->t_i64, c->t_ptr,
	                    c->t_i64};
	LLVMTypeRef vt = cg_vec_t(c);
	char name[256];
	CgContext save = *c;
	Loop lp, lj, lw, lt, lg, li, ll, lk, lh, lq;

	HY_ASSERT(VWn <= 16 && (VWn & (VWn - 1)) == 0);
	snprintf(name, sizeof name, "%s.filter", n->name);
	LLVMValueRef fn = cg_begin_fn(c, name,
	                              LLVMFunctionType(c->t_void, pt, 6, 0));
	LLVMValueRef ctx = LLVMGetParam(fn, 0), c0 = LLVMGetParam(fn, 1);
	LLVMValueRef cb = LLVMGetParam(fn, 2), Ln = LLVMGetParam(fn, 3);
	LLVMValueRef dst = LLVMGetParam(fn, 4), ldd = LLVMGetParam(fn, 5);
	LLVMValueRef p[4];
	for (int i = 0; i < 4; i++)
		p[i] = LLVMBuildLoad2(c->b, c->t_ptr,
		                      elem(c, c->t_ptr, ctx, i64c(c, i)), "");
	LLVMValueRef h = p[0], w = p[1], tpos = p[2], deltas = p[3];
	LLVMValueRef E = i64c(c, En), VW = i64c(c, VWn), CH = i64c(c, CHn);
	LLVMValueRef Et = i64c(c, n->src[gs.t]->type.dim[1]); /* t's stride */
	LLVMValueRef zero = i64c(c, 0), one = i64c(c, 1);
	LLVMValueRef wt = cg_stack_array(c, CHn * En, "genw");
	LLVMValueRef nd = cg_stack_array(c, CHn, "gendelta");
	LLVMValueRef hbuf = cg_stack_array(c, VWn * En, "genh");
	LLVMValueRef win = cg_stack_array(c, VWn * VWn, "genwin");
	LLVMValueRef acc[16];
	for (int i = 0; i < VWn; i++)
		acc[i] = cg_var(c, vt, NULL, "acc");

	/* passes of CH channels: pc0 the first, nc of them */
	LLVMValueRef npass = LLVMBuildSDiv(c->b, add(c, cb, i64c(c, CHn - 1)),
	                                   CH, "");
	LLVMValueRef pc0 = mul(c, cg_loop_open(c, &lp, zero, npass, "pass"), CH);
	LLVMValueRef nc = smin(c, CH, sub(c, cb, pc0));
	LLVMValueRef chb = add(c, c0, pc0);
	/* w^T by groups, wt[((j/vw) E + k) vw + j%vw], and -|deltas|: zero
	 * past nc */
	LLVMValueRef j = cg_loop_open(c, &lj, zero, CH, "wt");
	LLVMValueRef jok = LLVMBuildICmp(c->b, LLVMIntSLT, j, nc, "");
	LLVMValueRef ch = add(c, chb, LLVMBuildSelect(c->b, jok, j, zero, ""));
	LLVMValueRef dv = LLVMBuildFNeg(
	    c->b, cg_intrinsic1(c, "llvm.fabs", c->t_f32, ld(c, deltas, ch)), "");
	st(c, nd, j, LLVMBuildSelect(c->b, jok, dv, f32c(c, 0), ""));
	LLVMValueRef wb = mul(c, LLVMBuildUDiv(c->b, j, VW, ""), E);
	LLVMValueRef wl = LLVMBuildURem(c->b, j, VW, "");
	LLVMValueRef k = cg_loop_open(c, &lw, zero, E, "wk");
	st(c, wt, add(c, mul(c, add(c, wb, k), VW), wl),
	   LLVMBuildSelect(c->b, jok, ld(c, w, add(c, mul(c, ch, E), k)),
	                   f32c(c, 0), ""));
	cg_loop_close(c, &lw);
	cg_loop_close(c, &lj);

	/* tiles of vw positions: t0 the first, m of them */
	LLVMValueRef ntile = LLVMBuildSDiv(c->b, add(c, Ln, i64c(c, VWn - 1)), VW,
	                                   "");
	LLVMValueRef t0 = mul(c, cg_loop_open(c, &lt, zero, ntile, "tile"), VW);
	LLVMValueRef m = smin(c, VW, sub(c, Ln, t0));
	LLVMValueRef full = LLVMBuildICmp(c->b, LLVMIntEQ, m, VW, "full");
	/* a partial tile's rows of h, zero past m */
	LLVMBasicBlockRef bj =
	    cg_if_open(c, LLVMBuildNot(c->b, full, ""), "part");
	LLVMValueRef i = cg_loop_open(c, &lh, zero, VW, "hrow");
	LLVMValueRef iok = LLVMBuildICmp(c->b, LLVMIntSLT, i, m, "");
	LLVMValueRef hb = mul(c, add(c, t0, LLVMBuildSelect(c->b, iok, i, zero,
	                                                    "")),
	                      E);
	k = cg_loop_open(c, &lq, zero, E, "hk");
	st(c, hbuf, add(c, mul(c, i, E), k),
	   LLVMBuildSelect(c->b, iok, ld(c, h, add(c, hb, k)), f32c(c, 0), ""));
	cg_loop_close(c, &lq);
	cg_loop_close(c, &lh);
	cg_if_close(c, bj);
	LLVMValueRef hp = LLVMBuildSelect(c->b, full, elem(c, c->t_f32, h,
	                                                   mul(c, t0, E)),
	                                  hbuf, "hp");

	/* groups of vw channels: g0 the first (within the pass), gn of them */
	LLVMValueRef ng = LLVMBuildSDiv(c->b, add(c, nc, i64c(c, VWn - 1)), VW,
	                                "");
	LLVMValueRef g0 = mul(c, cg_loop_open(c, &lg, zero, ng, "group"), VW);
	LLVMValueRef gn = smin(c, VW, sub(c, nc, g0));
	/* the window, win[i vw + l] for position t0 + i and channel g0 + l:
	 * a vector of exps a position (positions past m repeat the last) */
	i = cg_loop_open(c, &li, zero, VW, "wi");
	LLVMValueRef tp = ld(c, tpos, mul(c, add(c, t0, smin(c, i,
	                                                     sub(c, m, one))),
	                                  Et));
	LLVMValueRef l = cg_loop_open(c, &ll, zero, VW, "wl");
	LLVMValueRef ex = cg_vm_exp(c, f_mul(c, tp, ld(c, nd, add(c, g0, l))));
	st(c, win, add(c, mul(c, i, VW), l),
	   f_add(c, ex, f32c(c, n->fattr[0])));
	cg_loop_close(c, &ll);
	cg_loop_close(c, &li);
	/* the register block: acc[i] = h[t0 + i, :] . w^T[:, group] */
	for (int q = 0; q < VWn; q++)
		LLVMBuildStore(c->b, LLVMConstNull(vt), acc[q]);
	LLVMValueRef wg = elem(c, c->t_f32, wt, mul(c, g0, E)); /* group g0/vw */
	k = cg_loop_open(c, &lk, zero, E, "k");
	LLVMValueRef wv = LLVMBuildLoad2(c->b, vt,
	                                 elem(c, c->t_f32, wg, mul(c, k, VW)), "");
	LLVMSetAlignment(wv, 4);
	/* a line of h's tile GEN_AHEAD tiles on each k step (vw E floats a
	 * tile, one line a step at vw = 16): each tile is a page of its own
	 * at E = 64, so the hardware prefetcher, which stops at pages, never
	 * runs ahead of it (twice the time without this, at 256k) */
	gen_prefetch(c, h, add(c, mul(c, add(c, t0, i64c(c, GEN_AHEAD * VWn)), E),
	                       mul(c, k, VW)));
	for (int q = 0; q < VWn; q++) {
		LLVMValueRef hv = cg_splat(c, ld(c, hp, add(c, i64c(c, q * En), k)));
		LLVMBuildStore(c->b, f_fma(c, hv, wv, ld_var(c, vt, acc[q])), acc[q]);
	}
	cg_loop_close(c, &lk);
	LLVMValueRef r[16];
	for (int q = 0; q < VWn; q++) {
		LLVMValueRef wq = LLVMBuildLoad2(
		    c->b, vt, elem(c, c->t_f32, win, i64c(c, q * VWn)), "");
		LLVMSetAlignment(wq, 4);
		r[q] = f_mul(c, ld_var(c, vt, acc[q]), wq);
	}
	gen_transpose(c, r);
	/* row q: channel pc0 + g0 + q at t0 .. t0 + vw */
	LLVMValueRef row0 = add(c, mul(c, add(c, pc0, g0), ldd), t0);
	LLVMValueRef rp[16];
	for (int q = 0; q < VWn; q++)
		rp[q] = elem(c, c->t_f32, dst, add(c, row0, mul(c, i64c(c, q), ldd)));
	LLVMValueRef whole = LLVMBuildAnd(
	    c->b, full, LLVMBuildICmp(c->b, LLVMIntEQ, gn, VW, ""), "whole");
	LLVMBasicBlockRef bw = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                     "whole");
	LLVMBasicBlockRef bs = LLVMAppendBasicBlockInContext(c->ctx, c->fn,
	                                                     "some");
	LLVMBasicBlockRef bd = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "");
	LLVMBuildCondBr(c->b, whole, bw, bs);
	LLVMPositionBuilderAtEnd(c->b, bw);
	for (int q = 0; q < VWn; q++)
		LLVMSetAlignment(LLVMBuildStore(c->b, r[q], rp[q]), 4);
	LLVMBuildBr(c->b, bd);
	LLVMPositionBuilderAtEnd(c->b, bs);
	for (int q = 0; q < VWn; q++) {
		bj = cg_if_open(
		    c, LLVMBuildICmp(c->b, LLVMIntSLT, i64c(c, q), gn, ""), "row");
		gen_store_first(c, r[q], rp[q], m);
		cg_if_close(c, bj);
	}
	LLVMBuildBr(c->b, bd);
	LLVMPositionBuilderAtEnd(c->b, bd);
	cg_loop_close(c, &lg);
	cg_loop_close(c, &lt);
	cg_loop_close(c, &lp);
	cg_kernel_end(c);

	*c = save;
	return fn;
}

/* The node's HyrtSpectra (runtime/hyrt.h): an internal global
 * {null, budget, 0}, budget the bytes memplan holds for its spectra; made
 * on first use (its kernel or an entry's filter_wanted). */
LLVMValueRef cg_kept_slot(CgContext *c, const Node *n)
{
	LLVMTypeRef f[] = {c->t_ptr, c->t_i64, c->t_i64};
	LLVMTypeRef st = LLVMStructTypeInContext(c->ctx, f, 3, 0);
	LLVMValueRef v[] = {LLVMConstPointerNull(c->t_ptr),
	                    i64c(c, n->kept_bytes), i64c(c, 0)};
	char name[256];

	snprintf(name, sizeof name, "%s.spectra", n->name);
	LLVMValueRef gv = LLVMGetNamedGlobal(c->mod, name);
	if (gv)
		return gv;
	gv = LLVMAddGlobal(c->mod, st, name);
	LLVMSetInitializer(gv, LLVMConstNamedStruct(st, v, 3));
	LLVMSetLinkage(gv, LLVMInternalLinkage);
	return gv;
}

/* hyrt_hyena_conv_fft on the operands' channel windows. */
void cg_call_hyena_fft(CgContext *c, const Node *n, LLVMValueRef out,
                       LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	GcSrc gs;
	ir_gc_srcs(n, &gs);
	LLVMValueRef null = LLVMConstPointerNull(c->t_ptr), vs;
	LLVMValueRef v = cg_window(c, n, s, gs.v, n->iattr[GC_V_OFF], &vs);
	LLVMValueRef g = null, gst = i64c(c, 0), p = null, ps = i64c(c, 0);
	if (gs.g >= 0)
		g = cg_window(c, n, s, gs.g, n->iattr[GC_G_OFF], &gst);
	if (gs.post >= 0)
		p = cg_window(c, n, s, gs.post, n->iattr[GC_POST_OFF], &ps);
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
		LLVMValueRef a[] = {out, v, vs, g, gst, gen, gctx, s[gs.bias], p, ps,
		                    dimv(c, t->dim[0]), dimv(c, t->dim[1]),
		                    i64c(c, t->dim[2]), cg_kept_slot(c, n)};
		cg_call_ext(c, EXT_HYENA_FFT_GEN, a, 14);
		return;
	}
	LLVMValueRef a[] = {out, v, vs, g, gst, s[gs.k], s[gs.bias], p, ps,
	                    dimv(c, t->dim[0]), dimv(c, t->dim[1]),
	                    i64c(c, t->dim[2]), NULL};

	/* A folded filter is a weight: the runtime keeps its spectrum. */
	if (n->src[gs.k]->op == OP_WEIGHT) {
		a[12] = cg_kept_slot(c, n);
		cg_call_ext(c, EXT_HYENA_FFT_CONST, a, 13);
	} else {
		cg_call_ext(c, EXT_HYENA_FFT, a, 12);
	}
}

