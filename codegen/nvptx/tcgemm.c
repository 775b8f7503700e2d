/*
 * tcgemm.c - the tensor-core GEMM of the NVPTX target (tcgemm.h says
 * what it computes and for whom).
 *
 * The shape of the kernel, for a block tile of BM = 128 rows by BN
 * columns and K in slices of BK (16 for tf32x3, 32 for bf16):
 *   - 8 warps in a WM x WN grid, each warp a WTM x WTN piece of the tile,
 *     made of MT x NT mma tiles of 16 x 8 (fp32 accumulators: 4 a
 *     thread per mma tile);
 *   - A's and W's slices staged through shared memory already in the
 *     mma's operand format (TF32 high and low parts in two tiles, or
 *     bf16 pairs), each value converted once where it is loaded rather
 *     than by every warp that reads it; rows 20 words apart so that the
 *     fragment reads (lane g = lane / 4 reads row g, word lane % 4) fall
 *     on 32 different banks;
 *   - two stages of shared memory (dynamic: tcg_shmem_bytes): the next
 *     slice is loaded into registers while the current one is
 *     multiplied, then stored into the other stage; one barrier a slice;
 *   - out-of-range rows and columns read a clamped address and are
 *     zeroed by a select, so the loads carry no branches;
 *   - fragments as the PTX ISA lays them out for mma.m16n8k8 (.tf32:
 *     a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); b0 (k t, n g),
 *     b1 (k t+4, n g)) and mma.m16n8k16 (.bf16: pairs of consecutive k in
 *     a register, the lower k in the low half); accumulators c0, c1 at
 *     (g, 2t), (g, 2t+1) and c2, c3 at row g+8.
 * W is [N, K] row-major, which is the "col" layout of mma's B operand:
 * no transposition anywhere.
 *
 * Everything is emitted through the LLVM C API as plain IR plus NVVM
 * intrinsics; accumulators and staging registers are allocas in the
 * function's entry block, which mem2reg turns into registers.
 */
#include "tcgemm.h"

#include <stdio.h>
#include <string.h>

#include "diag.h"

/* Words (32 bits) between rows of a shared tile: 20, so that the
 * fragment reads (word 20 g + t) fall on 32 different banks. */
enum { BM = 128, LDW = 20, WARPS = 8 };

typedef struct Gen {
	LLVMModuleRef mod;
	LLVMContextRef ctx;
	LLVMBuilderRef b;
	LLVMValueRef fn;
	const TcgSpec *s;
	LLVMTypeRef i1, i32, i64, f32, bf16, ptr, ptr3;
	int bn, wm, wn, wtm, wtn, mt, nt;
	int bk;                /* k a slice: 16 (tf32x3, 2 tiles a side), 32 */
	int arows, wrows;      /* rows of the shared tiles, >= BM and BN */
	LLVMValueRef as, ws;   /* shared tiles: tf32 high parts, bf16 pairs */
	LLVMValueRef as_lo, ws_lo; /* tf32x3: the low parts */
	LLVMValueRef tid, lane_g, lane_t, warp_m, warp_n;
	LLVMValueRef row0, col0, m;
	LLVMValueRef acc;      /* alloca [MT*NT*4] float */
	LLVMValueRef areg, wreg; /* staging registers */
	int na, nw;            /* staging floats per thread */
	int wa, ww;            /* floats a staging slot, of A and of W */
	int stage_words;       /* shared words of one stage (2 stages) */
} Gen;

static LLVMValueRef c32(Gen *g, int64_t v)
{
	return LLVMConstInt(g->i32, (unsigned long long)v, 1);
}

static LLVMValueRef c64(Gen *g, int64_t v)
{
	return LLVMConstInt(g->i64, (unsigned long long)v, 1);
}

static LLVMValueRef intrinsic(Gen *g, const char *name, LLVMTypeRef ret,
                              LLVMTypeRef *params, unsigned np,
                              LLVMValueRef *args)
{
	LLVMTypeRef fty = LLVMFunctionType(ret, params, np, 0);
	LLVMValueRef f = LLVMGetNamedFunction(g->mod, name);

	if (!f)
		f = LLVMAddFunction(g->mod, name, fty);
	return LLVMBuildCall2(g->b, fty, f, args, np, "");
}

static LLVMValueRef sreg(Gen *g, const char *name)
{
	return intrinsic(g, name, g->i32, NULL, 0, NULL);
}

static void barrier(Gen *g)
{
	intrinsic(g, "llvm.nvvm.barrier0", LLVMVoidTypeInContext(g->ctx), NULL,
	          0, NULL);
}

/* An alloca of n floats in the entry block. */
static LLVMValueRef entry_array(Gen *g, int n, const char *name)
{
	LLVMBasicBlockRef eb = LLVMGetEntryBasicBlock(g->fn);
	LLVMBuilderRef tb = LLVMCreateBuilderInContext(g->ctx);
	LLVMValueRef first = LLVMGetFirstInstruction(eb);
	LLVMValueRef v;

	if (first)
		LLVMPositionBuilderBefore(tb, first);
	else
		LLVMPositionBuilderAtEnd(tb, eb);
	v = LLVMBuildAlloca(tb, LLVMArrayType2(g->f32, (uint64_t)n), name);
	LLVMDisposeBuilder(tb);
	return v;
}

static LLVMValueRef slot(Gen *g, LLVMValueRef arr, int n, int i)
{
	LLVMValueRef idx[2] = { c32(g, 0), c32(g, i) };
	return LLVMBuildGEP2(g->b, LLVMArrayType2(g->f32, (uint64_t)n), arr,
	                     idx, 2, "");
}


/* The warp grid and mma tiles for a block tile of BN columns. */
static void layout(int bn, int *wm, int *wn)
{
	if (bn >= 128) {
		*wm = 2;
		*wn = 4;
	} else if (bn == 64) {
		*wm = 4;
		*wn = 2;
	} else {
		*wm = 8;
		*wn = 1;
	}
}

void tcg_tile(const TcgSpec *s, int *bm, int *bn)
{
	int n = 8, cap = s->max_bn ? s->max_bn : 128;

	while (n < s->N && n < cap)
		n *= 2;
	*bm = BM;
	*bn = n;
}

int64_t tcg_col_tiles(const TcgSpec *s)
{
	int bm, bn;

	tcg_tile(s, &bm, &bn);
	return (s->N + bn - 1) / bn;
}

/* Where staging slot i of this thread sits in a slice of `rows` rows by
 * g->bk: row r, column c (i32 values), for loads `width` floats wide. */
static void stage_at(Gen *g, int i, int width, LLVMValueRef *r,
                     LLVMValueRef *c)
{
	int per_row = g->bk / width;
	LLVMValueRef idx = LLVMBuildAdd(g->b, g->tid, c32(g, i * TCG_THREADS),
	                                "");

	*r = LLVMBuildUDiv(g->b, idx, c32(g, per_row), "");
	*c = LLVMBuildMul(g->b, LLVMBuildURem(g->b, idx, c32(g, per_row), ""),
	                  c32(g, width), "");
}

/* Loads one slice (k0) of a matrix of `rows` rows starting at r0 (valid
 * below lim) into the staging registers: `width` floats a slot, one
 * vector load when vec4, else scalar loads. */
static void stage_load(Gen *g, LLVMValueRef base, int64_t ld, int rows,
                       LLVMValueRef r0, LLVMValueRef lim, LLVMValueRef k0,
                       int width, bool vec4, bool is_a, LLVMValueRef reg,
                       int nreg)
{
	int per_thread = rows * (g->bk / width) / TCG_THREADS;
	LLVMTypeRef vt = LLVMVectorType(g->f32, 4);
	LLVMValueRef zero = LLVMConstReal(g->f32, 0.0);

	for (int i = 0; i < per_thread; i++) {
		LLVMValueRef r, cc, grow, gk, ok_r, crow, v[4];

		stage_at(g, i, width, &r, &cc);
		grow = LLVMBuildAdd(g->b, r0, LLVMBuildZExt(g->b, r, g->i64, ""), "");
		gk = LLVMBuildAdd(g->b, k0, LLVMBuildZExt(g->b, cc, g->i64, ""), "");
		ok_r = LLVMBuildICmp(g->b, LLVMIntSLT, grow, lim, "");
		crow = LLVMBuildSelect(g->b, ok_r, grow, c64(g, 0), "");
		if (vec4) {
			/* K % 4 == 0: the four are in range together */
			LLVMValueRef ok = LLVMBuildAnd(g->b, ok_r,
				LLVMBuildICmp(g->b, LLVMIntSLT, gk, c64(g, g->s->K), ""), "");
			LLVMValueRef ck = LLVMBuildSelect(g->b, ok, gk, c64(g, 0), "");
			LLVMValueRef off = LLVMBuildAdd(g->b,
				LLVMBuildMul(g->b, crow, c64(g, ld), ""), ck, "");
			LLVMValueRef l = LLVMBuildLoad2(g->b, vt,
				LLVMBuildGEP2(g->b, g->f32, base, &off, 1, ""), "");
			LLVMSetAlignment(l, 16);
			for (int j = 0; j < 4; j++) {
				v[j] = LLVMBuildExtractElement(g->b, l, c32(g, j), "");
				if (is_a && g->s->xform)
					v[j] = g->s->xform(g->s->u, g->b, crow,
						LLVMBuildAdd(g->b, ck, c64(g, j), ""), v[j]);
				v[j] = LLVMBuildSelect(g->b, ok, v[j], zero, "");
			}
		} else {
			for (int j = 0; j < width; j++) {
				LLVMValueRef kj = LLVMBuildAdd(g->b, gk, c64(g, j), "");
				LLVMValueRef ok = LLVMBuildAnd(g->b, ok_r,
					LLVMBuildICmp(g->b, LLVMIntSLT, kj, c64(g, g->s->K), ""),
					"");
				LLVMValueRef ck = LLVMBuildSelect(g->b, ok, kj, c64(g, 0), "");
				LLVMValueRef off = LLVMBuildAdd(g->b,
					LLVMBuildMul(g->b, crow, c64(g, ld), ""), ck, "");
				v[j] = LLVMBuildLoad2(g->b, g->f32,
					LLVMBuildGEP2(g->b, g->f32, base, &off, 1, ""), "");
				LLVMSetAlignment(v[j], 4);
				if (is_a && g->s->xform)
					v[j] = g->s->xform(g->s->u, g->b, crow, ck, v[j]);
				v[j] = LLVMBuildSelect(g->b, ok, v[j], zero, "");
			}
		}
		for (int j = 0; j < width; j++)
			LLVMBuildStore(g->b, v[j], slot(g, reg, nreg, i * width + j));
	}
}

static LLVMValueRef word_at(Gen *g, LLVMValueRef sh, LLVMValueRef i32idx)
{
	return LLVMBuildGEP2(g->b, g->i32, sh, &i32idx, 1, "");
}

static LLVMValueRef addi(Gen *g, LLVMValueRef x, int64_t k)
{
	return LLVMBuildAdd(g->b, x, c32(g, k), "");
}

static void split_tf32(Gen *g, LLVMValueRef x, LLVMValueRef *hi,
                       LLVMValueRef *lo);
static LLVMValueRef pack_bf16(Gen *g, LLVMValueRef lo, LLVMValueRef hi);

/* Stores the staging registers into the shared tile (same mapping),
 * converted: TF32 high and low parts into hi and lo, or bf16 pairs into
 * hi (a word holds columns 2j, 2j + 1). */
static void stage_store(Gen *g, LLVMValueRef hi, LLVMValueRef lo, int rows,
                        int width, LLVMValueRef reg, int nreg)
{
	bool bf = g->s->kind == TCG_BF16;
	int per_thread = rows * (g->bk / width) / TCG_THREADS;

	for (int i = 0; i < per_thread; i++) {
		LLVMValueRef r, cc, at, v[4];

		stage_at(g, i, width, &r, &cc);
		if (bf)
			cc = LLVMBuildUDiv(g->b, cc, c32(g, 2), "");
		at = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, r, c32(g, LDW), ""), cc,
		                  "");
		for (int j = 0; j < width; j++)
			v[j] = LLVMBuildLoad2(g->b, g->f32,
			                      slot(g, reg, nreg, i * width + j), "");
		if (bf) {
			for (int j = 0; j < width; j += 2)
				LLVMBuildStore(g->b, pack_bf16(g, v[j], v[j + 1]),
				               word_at(g, hi, addi(g, at, j / 2)));
			continue;
		}
		for (int j = 0; j < width; j++) {
			LLVMValueRef h, l;
			split_tf32(g, v[j], &h, &l);
			LLVMBuildStore(g->b, h, word_at(g, hi, addi(g, at, j)));
			LLVMBuildStore(g->b, l, word_at(g, lo, addi(g, at, j)));
		}
	}
}

/* The word at shared tile sh[row][col] (row, col: i32 values). */
static LLVMValueRef sh_get(Gen *g, LLVMValueRef sh, LLVMValueRef row,
                           LLVMValueRef col)
{
	LLVMValueRef at = LLVMBuildAdd(g->b,
		LLVMBuildMul(g->b, row, c32(g, LDW), ""), col, "");
	return LLVMBuildLoad2(g->b, g->i32, word_at(g, sh, at), "");
}

/* x as TF32 (i32 bits), and the TF32 of what is left. */
static void split_tf32(Gen *g, LLVMValueRef x, LLVMValueRef *hi,
                       LLVMValueRef *lo)
{
	LLVMTypeRef pt = g->f32;
	LLVMValueRef rest;

	*hi = intrinsic(g, "llvm.nvvm.f2tf32.rna", g->i32, &pt, 1, &x);
	rest = LLVMBuildFSub(g->b, x,
		LLVMBuildBitCast(g->b, *hi, g->f32, ""), "");
	*lo = intrinsic(g, "llvm.nvvm.f2tf32.rna", g->i32, &pt, 1, &rest);
}

/* Two floats as a bf16x2 register, lo in the low half. */
static LLVMValueRef pack_bf16(Gen *g, LLVMValueRef lo, LLVMValueRef hi)
{
	LLVMTypeRef vt = LLVMVectorType(g->bf16, 2);
	LLVMValueRef v = LLVMGetUndef(vt);

	v = LLVMBuildInsertElement(g->b, v,
		LLVMBuildFPTrunc(g->b, lo, g->bf16, ""), c32(g, 0), "");
	v = LLVMBuildInsertElement(g->b, v,
		LLVMBuildFPTrunc(g->b, hi, g->bf16, ""), c32(g, 1), "");
	return LLVMBuildBitCast(g->b, v, g->i32, "");
}

/* acc[tile] += a * b through one mma (a: 4 regs, b: 2 regs). */
static void mma(Gen *g, int tile, LLVMValueRef a[4], LLVMValueRef b[2])
{
	const char *name = g->s->kind == TCG_BF16
	                       ? "llvm.nvvm.mma.m16n8k16.row.col.bf16"
	                       : "llvm.nvvm.mma.m16n8k8.row.col.tf32";
	LLVMTypeRef fl[4] = { g->f32, g->f32, g->f32, g->f32 };
	LLVMTypeRef ret = LLVMStructTypeInContext(g->ctx, fl, 4, 0);
	LLVMTypeRef pt[10];
	LLVMValueRef args[10], r;
	int nacc = g->mt * g->nt * 4;

	for (int i = 0; i < 6; i++)
		pt[i] = g->i32;
	for (int i = 6; i < 10; i++)
		pt[i] = g->f32;
	for (int i = 0; i < 4; i++)
		args[i] = a[i];
	args[4] = b[0];
	args[5] = b[1];
	for (int i = 0; i < 4; i++)
		args[6 + i] = LLVMBuildLoad2(g->b, g->f32,
		                             slot(g, g->acc, nacc, tile * 4 + i), "");
	r = intrinsic(g, name, ret, pt, 10, args);
	for (int i = 0; i < 4; i++)
		LLVMBuildStore(g->b, LLVMBuildExtractValue(g->b, r, (unsigned)i, ""),
		               slot(g, g->acc, nacc, tile * 4 + i));
}

/* The products of the shared slice into the accumulators. Word
 * columns: tf32 k, bf16 k / 2. */
static void compute(Gen *g)
{
	bool bf = g->s->kind == TCG_BF16;
	int kstep = bf ? 16 : 8;

	for (int kk = 0; kk < g->bk; kk += kstep) {
		LLVMValueRef ahi[4][4], alo[4][4], bhi[4][2], blo[4][2];
		LLVMValueRef k = addi(g, g->lane_t, bf ? kk / 2 : kk);
		LLVMValueRef k4 = addi(g, k, 4);

		for (int mt = 0; mt < g->mt; mt++) {
			LLVMValueRef r = LLVMBuildAdd(g->b, g->warp_m,
			                              addi(g, g->lane_g, mt * 16), "");
			LLVMValueRef r8 = addi(g, r, 8);
			LLVMValueRef rows[4] = { r, r8, r, r8 };
			LLVMValueRef cols[4] = { k, k, k4, k4 };
			for (int i = 0; i < 4; i++) {
				ahi[mt][i] = sh_get(g, g->as, rows[i], cols[i]);
				if (!bf)
					alo[mt][i] = sh_get(g, g->as_lo, rows[i], cols[i]);
			}
		}
		for (int nt = 0; nt < g->nt; nt++) {
			LLVMValueRef n = LLVMBuildAdd(g->b, g->warp_n,
			                              addi(g, g->lane_g, nt * 8), "");
			bhi[nt][0] = sh_get(g, g->ws, n, k);
			bhi[nt][1] = sh_get(g, g->ws, n, k4);
			if (!bf) {
				blo[nt][0] = sh_get(g, g->ws_lo, n, k);
				blo[nt][1] = sh_get(g, g->ws_lo, n, k4);
			}
		}
		/* small terms first; every tile's term before the next term,
		 * so that no mma waits on the one just issued */
		for (int term = bf ? 2 : 0; term < 3; term++)
			for (int mt = 0; mt < g->mt; mt++)
				for (int nt = 0; nt < g->nt; nt++)
					mma(g, mt * g->nt + nt,
					    term == 0 ? alo[mt] : ahi[mt],
					    term == 1 ? blo[nt] : bhi[nt]);
	}
}

/* Hands each accumulator in range to the caller's epilogue. */
static void epilogue(Gen *g)
{
	int nacc = g->mt * g->nt * 4;

	for (int mt = 0; mt < g->mt; mt++)
		for (int nt = 0; nt < g->nt; nt++)
			for (int i = 0; i < 4; i++) {
				LLVMValueRef r = LLVMBuildAdd(g->b, g->warp_m,
					addi(g, g->lane_g, mt * 16 + (i >= 2 ? 8 : 0)), "");
				LLVMValueRef cc = LLVMBuildAdd(g->b, g->warp_n,
					addi(g, LLVMBuildMul(g->b, g->lane_t, c32(g, 2), ""),
					     nt * 8 + (i & 1)), "");
				LLVMValueRef row = LLVMBuildAdd(g->b, g->row0,
					LLVMBuildZExt(g->b, r, g->i64, ""), "");
				LLVMValueRef col = LLVMBuildAdd(g->b, g->col0,
					LLVMBuildZExt(g->b, cc, g->i64, ""), "");
				LLVMValueRef ok = LLVMBuildAnd(g->b,
					LLVMBuildICmp(g->b, LLVMIntSLT, row, g->m, ""),
					LLVMBuildICmp(g->b, LLVMIntSLT, col, c64(g, g->s->N), ""),
					"");
				LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(
					g->ctx, g->fn, "tcg.epi");
				LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(
					g->ctx, g->fn, "tcg.epi.next");
				LLVMValueRef v = LLVMBuildLoad2(g->b, g->f32,
					slot(g, g->acc, nacc, (mt * g->nt + nt) * 4 + i), "");
				LLVMBuildCondBr(g->b, ok, yes, next);
				LLVMPositionBuilderAtEnd(g->b, yes);
				g->s->epi(g->s->u, g->b, row, col, v);
				LLVMBuildBr(g->b, next);
				LLVMPositionBuilderAtEnd(g->b, next);
			}
}

/* The block's dynamic shared memory (one per module), as i32 words. */
static LLVMValueRef dyn_shared(Gen *g)
{
	LLVMValueRef v = LLVMGetNamedGlobal(g->mod, "tcg_dyn");
	LLVMTypeRef t = LLVMArrayType2(g->i32, 0);

	if (v)
		return v;
	v = LLVMAddGlobalInAddressSpace(g->mod, t, "tcg_dyn", 3);
	LLVMSetLinkage(v, LLVMExternalLinkage);
	LLVMSetAlignment(v, 16);
	return v;
}

/* The tiles of stage st (an i32 value, 0 or 1) into g->as .. g->ws_lo. */
static void stage_tiles(Gen *g, LLVMValueRef st)
{
	LLVMValueRef base = dyn_shared(g);
	LLVMValueRef at = LLVMBuildMul(g->b, st, c32(g, g->stage_words), "");
	int tiles = g->s->kind == TCG_BF16 ? 1 : 2;

	g->as = word_at(g, base, at);
	g->ws = word_at(g, base, addi(g, at, g->arows * LDW * tiles));
	if (tiles == 2) {
		g->as_lo = word_at(g, base, addi(g, at, g->arows * LDW));
		g->ws_lo = word_at(g, base,
		                   addi(g, at, (g->arows * 2 + g->wrows) * LDW));
	}
}

/* The tile shapes, warp grid and staging widths for s. */
static void geometry(Gen *g, const TcgSpec *s)
{
	bool bf = s->kind == TCG_BF16;
	bool a_vec = s->a_vec4 && s->K % 4 == 0 && s->lda % 4 == 0;
	int bm;

	g->s = s;
	g->bk = bf ? 32 : 16;
	tcg_tile(s, &bm, &g->bn);
	layout(g->bn, &g->wm, &g->wn);
	g->wtm = BM / g->wm;
	g->wtn = g->bn / g->wn;
	g->mt = g->wtm / 16;
	g->nt = g->wtn / 8;
	HY_ASSERT(g->mt >= 1 && g->nt >= 1 && g->wm * g->wn == WARPS);
	/* floats a staging slot: a vector where rows allow it, else single
	 * floats (pairs for bf16, which stores them as one word); W's tile
	 * gets rows past BN (zero, never read) so that every thread has a
	 * whole slot */
	g->wa = a_vec ? 4 : bf ? 2 : 1;
	g->ww = s->K % 4 == 0 && g->bn * g->bk >= TCG_THREADS * 4 ? 4
	        : bf ? 2 : 1;
	g->arows = BM;
	g->wrows = g->bn;
	while (g->wrows * g->bk / g->ww < TCG_THREADS)
		g->wrows *= 2;
	g->na = g->arows * g->bk / TCG_THREADS;
	g->nw = g->wrows * g->bk / TCG_THREADS;
	g->stage_words = (g->arows + g->wrows) * LDW * (bf ? 1 : 2);
}

int64_t tcg_shmem_bytes(const TcgSpec *s)
{
	Gen g = { 0 };

	geometry(&g, s);
	return 2 * (int64_t)g.stage_words * 4;
}

void tcg_emit(LLVMModuleRef mod, LLVMBuilderRef b, LLVMValueRef fn,
              const TcgSpec *s, LLVMValueRef a, LLVMValueRef w,
              LLVMValueRef m)
{
	Gen g = { .mod = mod, .ctx = LLVMGetModuleContext(mod), .b = b,
	          .fn = fn };
	int nacc, nk;
	LLVMValueRef bid, ncol, warp, lane, kt, zero, next, has, k0, cur, nst;
	LLVMValueRef inc[2];
	LLVMBasicBlockRef head, body, more, after, store, join, done, from[2];

	HY_ASSERT(s->N > 0 && s->K > 0 && s->lda >= s->K && s->epi);
	g.i1 = LLVMInt1TypeInContext(g.ctx);
	g.i32 = LLVMInt32TypeInContext(g.ctx);
	g.i64 = LLVMInt64TypeInContext(g.ctx);
	g.f32 = LLVMFloatTypeInContext(g.ctx);
	g.bf16 = LLVMBFloatTypeInContext(g.ctx);
	g.ptr = LLVMPointerTypeInContext(g.ctx, 0);
	g.ptr3 = LLVMPointerTypeInContext(g.ctx, 3);
	geometry(&g, s);
	nacc = g.mt * g.nt * 4;
	g.m = m;
	g.acc = entry_array(&g, nacc, "tcg.acc");
	g.areg = entry_array(&g, g.na, "tcg.areg");
	g.wreg = entry_array(&g, g.nw, "tcg.wreg");

	g.tid = sreg(&g, "llvm.nvvm.read.ptx.sreg.tid.x");
	bid = LLVMBuildZExt(b, sreg(&g, "llvm.nvvm.read.ptx.sreg.ctaid.x"),
	                    g.i64, "");
	ncol = c64(&g, tcg_col_tiles(s));
	g.col0 = LLVMBuildMul(b, LLVMBuildURem(b, bid, ncol, ""),
	                      c64(&g, g.bn), "");
	g.row0 = LLVMBuildMul(b, LLVMBuildUDiv(b, bid, ncol, ""), c64(&g, BM),
	                      "");
	warp = LLVMBuildUDiv(b, g.tid, c32(&g, 32), "");
	lane = LLVMBuildURem(b, g.tid, c32(&g, 32), "");
	g.lane_g = LLVMBuildUDiv(b, lane, c32(&g, 4), "");
	g.lane_t = LLVMBuildURem(b, lane, c32(&g, 4), "");
	g.warp_m = LLVMBuildMul(b, LLVMBuildUDiv(b, warp, c32(&g, g.wn), ""),
	                        c32(&g, g.wtm), "");
	g.warp_n = LLVMBuildMul(b, LLVMBuildURem(b, warp, c32(&g, g.wn), ""),
	                        c32(&g, g.wtn), "");
	zero = LLVMConstReal(g.f32, 0.0);
	for (int i = 0; i < nacc; i++)
		LLVMBuildStore(b, zero, slot(&g, g.acc, nacc, i));

	/* slice 0 into stage 0; then for (kt = 0; kt < nk; kt++): load slice
	 * kt + 1 into registers, multiply slice kt from stage kt & 1, store
	 * kt + 1 into the other stage, one barrier (the other stage was last
	 * read before the previous one) */
	nk = (int)((s->K + g.bk - 1) / g.bk);
	stage_tiles(&g, c32(&g, 0));
	stage_load(&g, a, s->lda, g.arows, g.row0, m, c64(&g, 0), g.wa,
	           g.wa == 4, true, g.areg, g.na);
	stage_load(&g, w, s->K, g.wrows, g.col0, c64(&g, s->N), c64(&g, 0),
	           g.ww, g.ww == 4, false, g.wreg, g.nw);
	stage_store(&g, g.as, g.as_lo, g.arows, g.wa, g.areg, g.na);
	stage_store(&g, g.ws, g.ws_lo, g.wrows, g.ww, g.wreg, g.nw);
	barrier(&g);

	head = LLVMGetInsertBlock(b);
	body = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k");
	more = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k.load");
	after = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k.mul");
	store = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k.store");
	join = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k.next");
	done = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k.done");
	LLVMBuildBr(b, body);
	LLVMPositionBuilderAtEnd(b, body);
	kt = LLVMBuildPhi(b, g.i64, "tcg.kt");
	next = LLVMBuildAdd(b, kt, c64(&g, 1), "");
	has = LLVMBuildICmp(b, LLVMIntSLT, next, c64(&g, nk), "");
	k0 = LLVMBuildMul(b, next, c64(&g, g.bk), "");
	cur = LLVMBuildAnd(b, LLVMBuildTrunc(b, kt, g.i32, ""), c32(&g, 1), "");
	nst = LLVMBuildXor(b, cur, c32(&g, 1), "");
	LLVMBuildCondBr(b, has, more, after);
	LLVMPositionBuilderAtEnd(b, more);
	stage_load(&g, a, s->lda, g.arows, g.row0, m, k0, g.wa, g.wa == 4, true,
	           g.areg, g.na);
	stage_load(&g, w, s->K, g.wrows, g.col0, c64(&g, s->N), k0, g.ww,
	           g.ww == 4, false, g.wreg, g.nw);
	LLVMBuildBr(b, after);
	LLVMPositionBuilderAtEnd(b, after);
	stage_tiles(&g, cur);
	compute(&g);
	LLVMBuildCondBr(b, has, store, join);
	LLVMPositionBuilderAtEnd(b, store);
	stage_tiles(&g, nst);
	stage_store(&g, g.as, g.as_lo, g.arows, g.wa, g.areg, g.na);
	stage_store(&g, g.ws, g.ws_lo, g.wrows, g.ww, g.wreg, g.nw);
	LLVMBuildBr(b, join);
	LLVMPositionBuilderAtEnd(b, join);
	barrier(&g);
	LLVMBuildCondBr(b, has, body, done);
	inc[0] = c64(&g, 0);
	from[0] = head;
	inc[1] = next;
	from[1] = join;
	LLVMAddIncoming(kt, inc, from, 2);
	LLVMPositionBuilderAtEnd(b, done);
	epilogue(&g);
}
