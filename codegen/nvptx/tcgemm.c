/*
 * tcgemm.c - the tensor-core GEMM of the NVPTX target (tcgemm.h says
 * what it computes and for whom).
 *
 * The shape of the kernel, for a block tile of BM = 128 rows by BN
 * columns and K in slices of BK = 32:
 *   - 8 warps in a WM x WN grid, each warp a WTM x WTN piece of the tile,
 *     made of MT x NT mma tiles of 16 x 8 (fp32 accumulators: 4 a
 *     thread per mma tile);
 *   - A's and W's slices copied from global to shared memory by cp.async
 *     (sm_80 and later) into STAGES buffers: slice kt + STAGES - 1 is in
 *     flight while slice kt is multiplied, so no warp waits on global
 *     memory with registers held (the profile of a register-staged
 *     version: most stalls were on its loads); rows and columns out of
 *     range are zero-filled by the copy's source size;
 *   - rows 36 floats apart, so that the fragment reads (lane g = lane / 4
 *     reads row g, column lane % 4) fall on 32 different banks;
 *   - the landed slice converted once, by all 8 warps, into the
 *     fragments the mma reads (convert()): the caller's prologue (a
 *     LayerNorm) applied, each operand split into its TF32 high part and
 *     the TF32 of the rest (or packed as bf16 pairs), and stored in the
 *     order of the fragments, a lane's registers side by side, so that a
 *     warp reads an operand with one vector load a lane; where each warp
 *     converted the fragments it read, every element of A was converted
 *     by each of the WN warps that read it and every element of W by
 *     each of the WM (fc1 with its LayerNorm applied per fragment ran at
 *     13 TFLOP/s against 33 without);
 *   - fragments as the PTX ISA lays them out for mma.m16n8k8 (.tf32:
 *     a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); b0 (k t, n g),
 *     b1 (k t+4, n g)) and mma.m16n8k16 (.bf16: pairs of consecutive k in
 *     a register, the lower k in the low half); accumulators c0, c1 at
 *     (g, 2t), (g, 2t+1) and c2, c3 at row g+8;
 *   - tf32x3's three products issued term by term across all tiles, so
 *     that no mma waits on the one just issued.
 * W is [N, K] row-major, which is the "col" layout of mma's B operand:
 * no transposition anywhere.
 *
 * Measured on an H200 (bench/gpu_gemm_run.c, M = 2^20), TFLOP/s of
 * in_proj, fc1, fc2, out_proj: conversion where the fragments were read
 * 31.0, 30.8, 42.7, 36.3 (bf16 53.5, 54.5, 86.9), converted once 38.3,
 * 38.5, 43.3, 36.8 (bf16 66.2, 67.4, 93.9); still one block of 8 warps
 * a SM (174-212 registers), 29% of issue slots busy. With wgmma (sm_90a,
 * below), A and W converted into shared memory: 65.9, 66.8, 86.0, 67.3
 * (bf16 101-154); A's fragments in registers: 72.4, 72.5, 93.6, 74.2
 * (bf16 unchanged, 102-154).
 *
 * Everything is emitted through the LLVM C API as plain IR plus NVVM
 * intrinsics; accumulators are allocas in the function's entry block,
 * which mem2reg turns into registers.
 */
#include "tcgemm.h"

#include "common/diag.h"

#include <stdio.h>
#include <string.h>

enum { BM = 128, BK = 32, WARPS = 8, STAGES = 3 };
/* With wgmma: four stages (wg_loop), and TF32 slices of 16 k (so that
 * two blocks fit a SM's shared memory). */
enum { WG_STAGES = 4, WG_TF32_BK = 16 };
/* The accumulators a thread holds with wgmma: BN / 2 (BN at most 128). */
enum { TCG_MAX_ACC = 64 };

/* What the prologue needs of a row of the tile: whether it is in the
 * matrix, and the caller's constants for it (TcgSpec.row_prep). */
typedef struct RowC {
	LLVMValueRef ok, rc[TCG_RC];
} RowC;

typedef struct Gen {
	LLVMModuleRef mod;
	LLVMContextRef ctx;
	LLVMBuilderRef b;
	LLVMValueRef fn;
	const TcgSpec *s;
	LLVMTypeRef i1, i32, i64, f32, bf16, ptr, ptr1, ptr3;
	int bn, wm, wn, wtm, wtn, mt, nt;
	int bk, ldf;           /* K of a slice; floats between W's landed rows */
	int a_ld, a_bytes;     /* bytes between A's landed rows; A's tile */
	int wrows;             /* rows of W's shared tile (>= BN) */
	int stage_floats;      /* shared floats of one stage */
	LLVMValueRef as, ws;   /* the landed stage being converted */
	LLVMValueRef tid, lane, warp, lane_g, lane_t, warp_m, warp_n;
	LLVMValueRef row0, col0, m, k0;
	LLVMValueRef acc;      /* alloca [MT*NT*4] float */
	LLVMValueRef areg;     /* wgmma: alloca of the thread's A fragments */
	RowC wrc[2];           /* wgmma: the RowC of the thread's two A rows */
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

void tcg_annotate(LLVMModuleRef mod, LLVMValueRef fn, const char *key,
                  int value)
{
	LLVMContextRef ctx = LLVMGetModuleContext(mod);
	LLVMMetadataRef md[3] = {
		LLVMValueAsMetadata(fn),
		LLVMMDStringInContext2(ctx, key, strlen(key)),
		LLVMValueAsMetadata(LLVMConstInt(LLVMInt32TypeInContext(ctx),
		                                 (unsigned long long)value, 0)) };

	LLVMAddNamedMetadataOperand(mod, "nvvm.annotations",
		LLVMMetadataAsValue(ctx, LLVMMDNodeInContext2(ctx, md, 3)));
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

/* An alloca of n elements of type t in the entry block. */
static LLVMValueRef entry_array_of(Gen *g, LLVMTypeRef t, int n,
                                   const char *name)
{
	LLVMBasicBlockRef eb = LLVMGetEntryBasicBlock(g->fn);
	LLVMBuilderRef tb = LLVMCreateBuilderInContext(g->ctx);
	LLVMValueRef first = LLVMGetFirstInstruction(eb);
	LLVMValueRef v;

	if (first)
		LLVMPositionBuilderBefore(tb, first);
	else
		LLVMPositionBuilderAtEnd(tb, eb);
	v = LLVMBuildAlloca(tb, LLVMArrayType2(t, (uint64_t)n), name);
	LLVMDisposeBuilder(tb);
	return v;
}

static LLVMValueRef entry_array(Gen *g, int n, const char *name)
{
	return entry_array_of(g, g->f32, n, name);
}

/* Element i of the entry_array_of(t, n) arr. */
static LLVMValueRef slot_of(Gen *g, LLVMTypeRef t, LLVMValueRef arr, int n,
                            int i)
{
	LLVMValueRef idx[2] = { c32(g, 0), c32(g, i) };
	return LLVMBuildGEP2(g->b, LLVMArrayType2(t, (uint64_t)n), arr, idx, 2,
	                     "");
}

static LLVMValueRef slot(Gen *g, LLVMValueRef arr, int n, int i)
{
	return slot_of(g, g->f32, arr, n, i);
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

static LLVMValueRef addi(Gen *g, LLVMValueRef x, int64_t k)
{
	return LLVMBuildAdd(g->b, x, c32(g, k), "");
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

/* Two floats as a bf16x2 register, lo in the low half, rounded to
 * nearest even (one cvt.rn.bf16x2.f32, whose first operand is the high
 * half). */
static LLVMValueRef pack_bf16(Gen *g, LLVMValueRef lo, LLVMValueRef hi)
{
	LLVMTypeRef pt[2] = { g->f32, g->f32 };
	LLVMValueRef args[2] = { hi, lo };

	return LLVMBuildBitCast(g->b, intrinsic(g, "llvm.nvvm.ff2bf16x2.rn",
		LLVMVectorType(g->bf16, 2), pt, 2, args), g->i32, "");
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

static LLVMValueRef dyn_shared(Gen *g);
static int wg_buf_bytes(const Gen *g);

/* Words of the converted fragments and the first word of each part
 * (after the STAGES landed stages): tf32x3 keeps A's high parts, A's low
 * parts, W's high parts and W's low parts; bf16 keeps A and W. A block is
 * one mma tile's operand for one k step, 32 lanes of 4 words (A) or 2
 * (W), a lane's words together: a lane reads its operand with one vector
 * load, and a warp's load covers contiguous words (no bank conflicts). */
static int ksteps(const Gen *g)
{
	return g->bk / (g->s->kind == TCG_BF16 ? 16 : 8);
}

/* Converted parts an operand has: the TF32 high and low parts, or one
 * of bf16 pairs. */
static int parts(const Gen *g)
{
	return g->s->kind == TCG_BF16 ? 1 : 2;
}

static int a_words(const Gen *g)
{
	return ksteps(g) * (BM / 16) * 128;
}

static int w_words(const Gen *g)
{
	return ksteps(g) * (g->bn / 8) * 64;
}

/* The first word of part `which` (0: A, 1: W) and half (0: high or
 * bf16, 1: low). */
static int part_at(const Gen *g, int which, int half)
{
	return STAGES * g->stage_floats +
	       (which ? parts(g) * a_words(g) : 0) +
	       half * (which ? w_words(g) : a_words(g));
}

/* The n-word vector of lane words at word index idx (i32) of shared. */
static LLVMValueRef frag_ptr(Gen *g, int at, LLVMValueRef idx)
{
	LLVMValueRef i = addi(g, idx, at);

	return LLVMBuildGEP2(g->b, g->i32, dyn_shared(g), &i, 1, "");
}

static void frag_load(Gen *g, int at, LLVMValueRef idx, int n,
                      LLVMValueRef *out)
{
	LLVMTypeRef vt = LLVMVectorType(g->i32, (unsigned)n);
	LLVMValueRef v = LLVMBuildLoad2(g->b, vt, frag_ptr(g, at, idx), "");

	LLVMSetAlignment(v, (unsigned)(4 * n));
	for (int i = 0; i < n; i++)
		out[i] = LLVMBuildExtractElement(g->b, v, c32(g, i), "");
}

static void frag_store(Gen *g, int at, LLVMValueRef idx, int n,
                       LLVMValueRef *in)
{
	LLVMTypeRef vt = LLVMVectorType(g->i32, (unsigned)n);
	LLVMValueRef v = LLVMGetUndef(vt);

	for (int i = 0; i < n; i++)
		v = LLVMBuildInsertElement(g->b, v, in[i], c32(g, i), "");
	LLVMSetAlignment(LLVMBuildStore(g->b, v, frag_ptr(g, at, idx)),
	                 (unsigned)(4 * n));
}

/* The first k of the lane's fragment at k step ks (i32): column t of
 * the step (.tf32), or the pair at 2t (.bf16). */
static LLVMValueRef frag_k(Gen *g, LLVMValueRef ks)
{
	if (g->s->kind == TCG_BF16)
		return LLVMBuildAdd(g->b, LLVMBuildMul(g->b, ks, c32(g, 16), ""),
			LLVMBuildMul(g->b, g->lane_t, c32(g, 2), ""), "");
	return LLVMBuildAdd(g->b, LLVMBuildMul(g->b, ks, c32(g, 8), ""),
	                    g->lane_t, "");
}

/* The lane's word index in block blk (i32) of a part with `words` words a
 * lane. */
static LLVMValueRef frag_index(Gen *g, LLVMValueRef blk, int words)
{
	return LLVMBuildAdd(g->b, LLVMBuildMul(g->b, blk, c32(g, 32 * words), ""),
	                    LLVMBuildMul(g->b, g->lane, c32(g, words), ""), "");
}

/* The products of the converted slice into the accumulators. */
static void compute(Gen *g)
{
	bool bf = g->s->kind == TCG_BF16;
	LLVMValueRef wmt = LLVMBuildUDiv(g->b, g->warp_m, c32(g, 16), "");
	LLVMValueRef wnt = LLVMBuildUDiv(g->b, g->warp_n, c32(g, 8), "");

	for (int ks = 0; ks < ksteps(g); ks++) {
		LLVMValueRef ahi[4][4], alo[4][4], bhi[4][2], blo[4][2];

		for (int mt = 0; mt < g->mt; mt++) {
			LLVMValueRef idx = frag_index(g,
				addi(g, wmt, ks * (BM / 16) + mt), 4);
			frag_load(g, part_at(g, 0, 0), idx, 4, ahi[mt]);
			if (!bf)
				frag_load(g, part_at(g, 0, 1), idx, 4, alo[mt]);
		}
		for (int nt = 0; nt < g->nt; nt++) {
			LLVMValueRef idx = frag_index(g,
				addi(g, wnt, ks * (g->bn / 8) + nt), 2);
			frag_load(g, part_at(g, 1, 0), idx, 2, bhi[nt]);
			if (!bf)
				frag_load(g, part_at(g, 1, 1), idx, 2, blo[nt]);
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

/* Hands accumulator i of nacc, at tile row r and column cc (i32), to
 * the caller's epilogue, if it is in range where guard (else the caller
 * knows it is); with pair, accumulator i + 1 (the next column) with it,
 * to val2 and put2, and then, where out is not NULL, out[0..1] are the
 * values put2 stored (0 out of range). */
static void hand_out(Gen *g, LLVMValueRef r, LLVMValueRef cc, int nacc,
                     int i, bool pair, bool guard, LLVMValueRef *out)
{
	LLVMValueRef row = LLVMBuildAdd(g->b, g->row0,
		LLVMBuildZExt(g->b, r, g->i64, ""), "");
	LLVMValueRef col = LLVMBuildAdd(g->b, g->col0,
		LLVMBuildZExt(g->b, cc, g->i64, ""), "");
	LLVMBasicBlockRef from = LLVMGetInsertBlock(g->b), next = NULL;

	if (guard) {
		LLVMValueRef ok = LLVMBuildAnd(g->b,
			LLVMBuildICmp(g->b, LLVMIntSLT, row, g->m, ""),
			LLVMBuildICmp(g->b, LLVMIntSLT, col, c64(g, g->s->N), ""), "");
		LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn,
		                                                      "tcg.epi");
		next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tcg.epi.next");
		LLVMBuildCondBr(g->b, ok, yes, next);
		LLVMPositionBuilderAtEnd(g->b, yes);
	}
	LLVMValueRef y[2] = { LLVMBuildLoad2(g->b, g->f32,
	                                     slot(g, g->acc, nacc, i), ""), NULL };
	if (pair) {
		y[1] = LLVMBuildLoad2(g->b, g->f32, slot(g, g->acc, nacc, i + 1), "");
		g->s->val2(g->s->u, g->b, row, col, y);
		g->s->put2(g->s->u, g->b, row, col, y);
	} else {
		g->s->epi(g->s->u, g->b, row, col, y[0]);
	}
	if (!guard) {
		for (int k = 0; out && k < 2; k++)
			out[k] = y[k];
		return;
	}
	LLVMBasicBlockRef done = LLVMGetInsertBlock(g->b);
	LLVMBuildBr(g->b, next);
	LLVMPositionBuilderAtEnd(g->b, next);
	for (int k = 0; out && k < 2; k++) {
		LLVMValueRef phi = LLVMBuildPhi(g->b, g->f32, "");
		LLVMValueRef vals[2] = { y[k], LLVMConstReal(g->f32, 0) };
		LLVMBasicBlockRef from2[2] = { done, from };
		LLVMAddIncoming(phi, vals, from2, 2);
		out[k] = phi;
	}
}

/* Hands each accumulator in range to the caller's epilogue. */
static void epilogue(Gen *g)
{
	for (int mt = 0; mt < g->mt; mt++)
		for (int nt = 0; nt < g->nt; nt++)
			for (int i = 0; i < 4; i++) {
				LLVMValueRef r = LLVMBuildAdd(g->b, g->warp_m,
					addi(g, g->lane_g, mt * 16 + (i >= 2 ? 8 : 0)), "");
				LLVMValueRef cc = LLVMBuildAdd(g->b, g->warp_n,
					addi(g, LLVMBuildMul(g->b, g->lane_t, c32(g, 2), ""),
					     nt * 8 + (i & 1)), "");
				hand_out(g, r, cc, g->mt * g->nt * 4,
				         (mt * g->nt + nt) * 4 + i, false, true, NULL);
			}
}

/* The block's dynamic shared memory (one per module). */
static LLVMValueRef dyn_shared(Gen *g)
{
	LLVMValueRef v = LLVMGetNamedGlobal(g->mod, "tcg_dyn");
	LLVMTypeRef t = LLVMArrayType2(g->f32, 0);

	if (v)
		return v;
	v = LLVMAddGlobalInAddressSpace(g->mod, t, "tcg_dyn", 3);
	LLVMSetLinkage(v, LLVMExternalLinkage);
	LLVMSetAlignment(v, 16);
	return v;
}

static LLVMValueRef float_at(Gen *g, LLVMValueRef base, LLVMValueRef i32idx)
{
	return LLVMBuildGEP2(g->b, g->f32, base, &i32idx, 1, "");
}

/* The A and W tiles of stage st (an i32 value) into g->as, g->ws. */
static void stage_tiles(Gen *g, LLVMValueRef st)
{
	LLVMValueRef at = LLVMBuildMul(g->b, st, c32(g, g->stage_floats), "");

	g->as = float_at(g, dyn_shared(g), at);
	g->ws = float_at(g, dyn_shared(g), addi(g, at, g->a_bytes / 4));
}

/* The tile shapes and warp grid for s. */
static void geometry(Gen *g, const TcgSpec *s)
{
	int bm;

	g->s = s;
	tcg_tile(s, &bm, &g->bn);
	layout(g->bn, &g->wm, &g->wn);
	g->wtm = BM / g->wm;
	g->wtn = g->bn / g->wn;
	g->mt = g->wtm / 16;
	g->nt = g->wtn / 8;
	HY_ASSERT(g->mt >= 1 && g->nt >= 1 && g->wm * g->wn == WARPS);
	g->bk = s->wgmma && s->kind == TCG_TF32X3 ? WG_TF32_BK : BK;
	g->ldf = g->bk + 4;
	/* bf16 rows of A padded by 16 bytes: 20 words apart, so that a
	 * fragment's pairs (lane g reads row g, word t) fall on 32 banks */
	g->a_ld = s->a_bf16 ? g->bk * 2 + 16 : g->ldf * 4;
	g->a_bytes = BM * g->a_ld;
	g->wrows = g->bn;
	/* with wgmma a stage holds A's landed rows and W's slice as the
	 * pre-split copy has it (wg_buf_bytes, a multiple of 16 floats) */
	g->stage_floats = g->a_bytes / 4 + (s->wgmma ? wg_buf_bytes(g) / 4
	                                             : g->wrows * g->ldf);
}

/* When `partial` (the last round of a loop that spreads `total` pieces
 * over the threads or warps), goes on only where idx < total, until
 * guard_close; returns the block guard_close joins (NULL: no guard). */
static LLVMBasicBlockRef guard_open(Gen *g, bool partial, LLVMValueRef idx,
                                    int total)
{
	LLVMBasicBlockRef yes, next;

	if (!partial)
		return NULL;
	yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tcg.part");
	next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tcg.part.next");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, idx,
	                                    c32(g, total), ""), yes, next);
	LLVMPositionBuilderAtEnd(g->b, yes);
	return next;
}

static void guard_close(Gen *g, LLVMBasicBlockRef next)
{
	if (!next)
		return;
	LLVMBuildBr(g->b, next);
	LLVMPositionBuilderAtEnd(g->b, next);
}

/* Issues the copies of slice k0 of a matrix of elements of type et
 * (rows r0.., valid below lim, ld elements apart) into the shared tile sh
 * of `rows` rows, ldb bytes apart: 16-byte copies when vec (rows 16-byte
 * aligned, K a multiple of the elements a copy), else 4-byte ones (f32
 * only); bytes past the matrix are zero-filled (source size 0). */
static void copy_slice(Gen *g, LLVMValueRef base, LLVMTypeRef et, int64_t ld,
                       int rows, LLVMValueRef r0, LLVMValueRef lo,
                       LLVMValueRef lim, LLVMValueRef k0, bool vec,
                       LLVMValueRef sh, int ldb)
{
	int eb = et == g->f32 ? 4 : 2;
	int width = vec ? 16 / eb : 1;
	int per_row = g->bk / width, total = rows * per_row;
	LLVMTypeRef i8 = LLVMInt8TypeInContext(g->ctx);
	LLVMTypeRef pt[3] = { g->ptr3, g->ptr1, g->i32 };
	const char *name = vec ? "llvm.nvvm.cp.async.cg.shared.global.16.s"
	                       : "llvm.nvvm.cp.async.ca.shared.global.4.s";

	HY_ASSERT(vec || eb == 4);
	for (int i = 0; i * TCG_THREADS < total; i++) {
		LLVMValueRef idx = addi(g, g->tid, i * TCG_THREADS);
		LLVMValueRef r = LLVMBuildUDiv(g->b, idx, c32(g, per_row), "");
		LLVMValueRef cc = LLVMBuildMul(g->b,
			LLVMBuildURem(g->b, idx, c32(g, per_row), ""), c32(g, width), "");
		LLVMValueRef grow = LLVMBuildAdd(g->b, r0,
			LLVMBuildZExt(g->b, r, g->i64, ""), "");
		LLVMValueRef gk = LLVMBuildAdd(g->b, k0,
			LLVMBuildZExt(g->b, cc, g->i64, ""), "");
		LLVMValueRef ok = LLVMBuildAnd(g->b,
			LLVMBuildICmp(g->b, LLVMIntSLT, grow, lim, ""),
			LLVMBuildICmp(g->b, LLVMIntSLT, gk, c64(g, g->s->K), ""), "");
		LLVMValueRef off;

		if (lo)
			ok = LLVMBuildAnd(g->b, ok,
			                  LLVMBuildICmp(g->b, LLVMIntSGE, grow, lo, ""), "");
		/* a piece outside reads nothing (source size 0) but still
		 * names an address inside: row lo (the first valid) or 0 */
		off = LLVMBuildSelect(g->b, ok,
			LLVMBuildAdd(g->b, LLVMBuildMul(g->b, grow, c64(g, ld), ""), gk,
			             ""),
			lo ? LLVMBuildMul(g->b, LLVMBuildSelect(g->b,
				LLVMBuildICmp(g->b, LLVMIntSGT, lo, c64(g, 0), ""), lo,
				c64(g, 0), ""), c64(g, ld), "") : c64(g, 0), "");
		LLVMValueRef src = LLVMBuildAddrSpaceCast(g->b,
			LLVMBuildGEP2(g->b, et, base, &off, 1, ""), g->ptr1, "");
		LLVMValueRef at = LLVMBuildAdd(g->b,
			LLVMBuildMul(g->b, r, c32(g, ldb), ""),
			LLVMBuildMul(g->b, cc, c32(g, eb), ""), "");
		LLVMValueRef dst = LLVMBuildGEP2(g->b, i8, sh, &at, 1, "");
		LLVMValueRef args[3] = { dst, src,
			LLVMBuildSelect(g->b, ok, c32(g, width * eb), c32(g, 0), "") };
		/* the last round: only the first threads have a piece */
		LLVMBasicBlockRef next = guard_open(g, (i + 1) * TCG_THREADS > total,
		                                    idx, total);

		intrinsic(g, name, LLVMVoidTypeInContext(g->ctx), pt, 3, args);
		guard_close(g, next);
	}
}

static void copy_split(Gen *g, LLVMValueRef w, LLVMValueRef kt, int nk,
                       LLVMValueRef st);

/* Copies slice kt (an i64 value) into stage st (i32), if kt < nk; then
 * commits a group (always, so that the waits count slices). With wgmma,
 * W's slice is the block of its pre-split copy. */
static void issue(Gen *g, LLVMValueRef a, LLVMValueRef w, LLVMValueRef kt,
                  int nk, LLVMValueRef st)
{
	bool avec = g->s->a_vec4 && g->s->K % 4 == 0 && g->s->lda % 4 == 0;
	LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn,
	                                                      "tcg.issue");
	LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn,
	                                                       "tcg.issued");
	LLVMValueRef k0 = LLVMBuildMul(g->b, kt, c64(g, g->bk), "");

	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, kt, c64(g, nk), ""),
	                yes, next);
	LLVMPositionBuilderAtEnd(g->b, yes);
	stage_tiles(g, st);
	copy_slice(g, a, g->s->a_bf16 ? g->bf16 : g->f32, g->s->lda, BM,
	           g->row0, g->s->a_lo, g->m, k0, avec, g->as, g->a_ld);
	if (g->s->wgmma)
		copy_split(g, w, kt, nk, st);
	else
		copy_slice(g, w, g->f32, g->s->K, g->wrows, g->col0, NULL,
		           c64(g, g->s->N), k0, g->s->K % 4 == 0, g->ws,
		           g->ldf * 4);
	LLVMBuildBr(g->b, next);
	LLVMPositionBuilderAtEnd(g->b, next);
	intrinsic(g, "llvm.nvvm.cp.async.commit.group",
	          LLVMVoidTypeInContext(g->ctx), NULL, 0, NULL);
}

/* The float at shared tile sh[row][col] (row, col: i32 values). */
static LLVMValueRef sh_get(Gen *g, LLVMValueRef sh, LLVMValueRef row,
                           LLVMValueRef col)
{
	return LLVMBuildLoad2(g->b, g->f32, float_at(g, sh, LLVMBuildAdd(g->b,
		LLVMBuildMul(g->b, row, c32(g, g->ldf), ""), col, "")), "");
}

/* Tile row r's (i32) RowC. The row handed to row_prep is always one of
 * the tile's. */
static void row_c(Gen *g, LLVMValueRef r, RowC *o)
{
	LLVMValueRef grow;

	memset(o, 0, sizeof *o);
	if (!g->s->xform)
		return;
	grow = LLVMBuildAdd(g->b, g->row0, LLVMBuildZExt(g->b, r, g->i64, ""), "");
	o->ok = LLVMBuildICmp(g->b, LLVMIntSLT, grow, g->m, "");
	if (g->s->a_lo)
		o->ok = LLVMBuildAnd(g->b, o->ok, LLVMBuildICmp(g->b, LLVMIntSGE,
			grow, g->s->a_lo, ""), "");
	if (g->s->row_prep)
		g->s->row_prep(g->s->u, g->b, grow, o->rc);
}

/* A[r][k] of the landed slice, v as loaded, after the caller's prologue
 * (rc: row r's RowC; k: i32 tile column), zero past K (the copy
 * zero-filled it, but a prologue of 0 need not be 0); rows outside the
 * matrix are the caller's (row_zero). */
static LLVMValueRef a_fix(Gen *g, const RowC *rc, LLVMValueRef k,
                          LLVMValueRef v)
{
	LLVMValueRef gk, kin = NULL;

	if (!g->s->xform)
		return v;
	gk = LLVMBuildAdd(g->b, g->k0, LLVMBuildZExt(g->b, k, g->i64, ""), "");
	if (g->s->K % g->bk) { /* a partial last slice */
		kin = LLVMBuildICmp(g->b, LLVMIntSLT, gk, c64(g, g->s->K), "");
		gk = LLVMBuildSelect(g->b, kin, gk, c64(g, 0), "");
	}
	v = g->s->xform(g->s->u, g->b, rc->rc, gk, v);
	return kin ? LLVMBuildSelect(g->b, kin, v, LLVMConstReal(g->f32, 0.0), "")
	           : v;
}

/* x (f32, or a bf16 pair as i32) where row rc is in the matrix, else
 * zero. */
static LLVMValueRef row_zero(Gen *g, const RowC *rc, LLVMValueRef x)
{
	if (!rc->ok)
		return x;
	return LLVMBuildSelect(g->b, rc->ok, x,
	                       LLVMConstNull(LLVMTypeOf(x)), "");
}

static LLVMValueRef a_get(Gen *g, LLVMValueRef r, const RowC *rc,
                          LLVMValueRef k)
{
	return a_fix(g, rc, k, sh_get(g, g->as, r, k));
}

/* Calls each(g, blk) for blocks warp, warp + WARPS, ... below n (the
 * warp index is uniform, so a warp takes a branch whole). */
static void per_warp_blocks(Gen *g, int n, void (*each)(Gen *, LLVMValueRef))
{
	for (int j = 0; j * WARPS < n; j++) {
		LLVMValueRef blk = addi(g, g->warp, j * WARPS);
		LLVMBasicBlockRef next = guard_open(g, (j + 1) * WARPS > n, blk, n);

		each(g, blk);
		guard_close(g, next);
	}
}

/* The lane's A fragment of the 16 tile rows from r - lane / 4 (r: the
 * lane's first row, i32; rc: the RowC of rows r and r + 8) at k step ks,
 * as the PTX ISA lays it out for mma (.tf32 m16n8k8: a0 (g, t), a1
 * (g+8, t), a2 (g, t+4), a3 (g+8, t+4); .bf16 m16n8k16: the same with
 * pairs of consecutive k, columns 2t and 2t+8, the lower k in the low
 * half) and for wgmma's A in registers (a warp's 16 rows of its
 * warpgroup's 64): TF32 high parts into hi and low parts into lo, or
 * bf16 pairs into hi. */
static void a_frag(Gen *g, LLVMValueRef r, const RowC rc[2], LLVMValueRef ks,
                   LLVMValueRef *hi, LLVMValueRef *lo)
{
	LLVMValueRef rows[4] = { r, addi(g, r, 8), r, addi(g, r, 8) };
	LLVMValueRef k = frag_k(g, ks);

	if (g->s->a_bf16) { /* the pairs as landed (no prologue; rows
	                     * outside the matrix were zero-filled) */
		for (int i = 0; i < 4; i++) {
			LLVMValueRef at = LLVMBuildAdd(g->b,
				LLVMBuildMul(g->b, rows[i], c32(g, g->a_ld), ""),
				LLVMBuildMul(g->b, i >= 2 ? addi(g, k, 8) : k, c32(g, 2),
				             ""), "");
			hi[i] = LLVMBuildLoad2(g->b, g->i32, LLVMBuildGEP2(g->b,
				LLVMInt8TypeInContext(g->ctx), g->as, &at, 1, ""), "");
		}
		return;
	}
	if (g->s->kind == TCG_BF16) {
		for (int i = 0; i < 4; i++) {
			LLVMValueRef kc = i >= 2 ? addi(g, k, 8) : k;
			hi[i] = row_zero(g, &rc[i & 1], pack_bf16(g,
				a_get(g, rows[i], &rc[i & 1], kc),
				a_get(g, rows[i], &rc[i & 1], addi(g, kc, 1))));
		}
		return;
	}
	LLVMValueRef cols[4] = { k, k, addi(g, k, 4), addi(g, k, 4) };
	for (int i = 0; i < 4; i++)
		split_tf32(g, row_zero(g, &rc[i & 1],
		                       a_get(g, rows[i], &rc[i & 1], cols[i])),
		           &hi[i], &lo[i]);
}

/* The RowC of tile rows r and r + 8 (a_frag's). */
static void rows_c(Gen *g, LLVMValueRef r, RowC rc[2])
{
	row_c(g, r, &rc[0]);
	row_c(g, addi(g, r, 8), &rc[1]);
}

/* One A block: the lane's fragment of mma tile rows mtile * 16.. at k
 * step ks into the converted parts. */
static void convert_a(Gen *g, LLVMValueRef blk)
{
	LLVMValueRef ks = LLVMBuildUDiv(g->b, blk, c32(g, BM / 16), "");
	LLVMValueRef r = LLVMBuildAdd(g->b, LLVMBuildMul(g->b,
		LLVMBuildURem(g->b, blk, c32(g, BM / 16), ""), c32(g, 16), ""),
		g->lane_g, "");
	LLVMValueRef idx = frag_index(g, blk, 4), hi[4], lo[4];
	RowC rc[2];

	rows_c(g, r, rc);
	a_frag(g, r, rc, ks, hi, lo);
	frag_store(g, part_at(g, 0, 0), idx, 4, hi);
	if (g->s->kind != TCG_BF16)
		frag_store(g, part_at(g, 0, 1), idx, 4, lo);
}

/* One W block: the lane's fragment of mma tile columns ntile * 8.. at k
 * step ks (.tf32: b0 (k t, n g), b1 (k t+4, n g); .bf16: pairs at k 2t
 * and 2t+8). */
static void convert_w(Gen *g, LLVMValueRef blk)
{
	LLVMValueRef ks = LLVMBuildUDiv(g->b, blk, c32(g, g->bn / 8), "");
	LLVMValueRef n = LLVMBuildAdd(g->b, LLVMBuildMul(g->b,
		LLVMBuildURem(g->b, blk, c32(g, g->bn / 8), ""), c32(g, 8), ""),
		g->lane_g, "");
	LLVMValueRef idx = frag_index(g, blk, 2), hi[2], lo[2];
	LLVMValueRef k = frag_k(g, ks);

	if (g->s->kind == TCG_BF16) {
		for (int i = 0; i < 2; i++) {
			LLVMValueRef kc = i ? addi(g, k, 8) : k;
			hi[i] = pack_bf16(g, sh_get(g, g->ws, n, kc),
			                  sh_get(g, g->ws, n, addi(g, kc, 1)));
		}
		frag_store(g, part_at(g, 1, 0), idx, 2, hi);
		return;
	}
	for (int i = 0; i < 2; i++)
		split_tf32(g, sh_get(g, g->ws, n, i ? addi(g, k, 4) : k), &hi[i],
		           &lo[i]);
	frag_store(g, part_at(g, 1, 0), idx, 2, hi);
	frag_store(g, part_at(g, 1, 1), idx, 2, lo);
}

/* The landed slice (g->as, g->ws) into the fragments the mma reads: the
 * prologue applied and each operand converted once per block (where each
 * warp converted the fragments it read, every element of A was converted
 * by each of the WN warps that read it, and every element of W by each
 * of the WM). */
static void convert(Gen *g)
{
	per_warp_blocks(g, ksteps(g) * (BM / 16), convert_a);
	per_warp_blocks(g, ksteps(g) * (g->bn / 8), convert_w);
}

/* ---- sm_90a: warpgroup MMA --------------------------------------------
 * The block's two warpgroups (warps 0-3 and 4-7) each own 64 rows of the
 * 128-row tile and all BN columns: per k step and term one
 * wgmma.mma_async m64nBNk8 (.tf32) or m64nBNk16 (.bf16), with the BN / 2
 * accumulators a thread in registers. A comes from registers: each warp
 * reads its 16 rows' fragments from the landed slice, applies the
 * prologue and splits them (a_frag), and no other warp needs them. W,
 * which both warpgroups read, the tensor cores read from shared memory
 * through descriptors, and it arrives there ready: the caller hands over
 * W's pre-split copy (tcg_emit_split, made once when the weights are
 * uploaded), each slice of a column tile one contiguous block that the
 * copies land as it is. Four stages, each A's landed rows and W's
 * block, and two sets of A registers: while the wgmmas of slice kt run,
 * slice kt + 1's A fragments are made into the other set and slices
 * kt + 2 and kt + 3 are in flight (wg_loop). (W converted in the K loop instead, by the whole
 * block into a buffer of its own between the landing and the wgmmas,
 * small-32k 8x32768 took 35.5 ms a forward on an H200; without that
 * step, 31.2.)
 *
 * The converted layout is the one wgmma reads without swizzling, K-major:
 * "core matrices" of 8 rows by 16 bytes (4 TF32 or 8 bf16 of a row), each
 * 128 contiguous bytes. An operand of R rows is stored as 16-byte pieces
 * (row r, k / E) at byte ((k / E) * R + r) * 16 (E elements a piece): the
 * core matrices of a k step lie 128 bytes apart along the rows (the
 * descriptor's stride byte offset) and R * 16 bytes apart along k (its
 * leading byte offset). A slice's block holds the TF32 high parts of its
 * BN rows in that order, then the TF32 of the rests (or the bf16 pairs
 * alone). */

static int wg_elem_bytes(const Gen *g)
{
	return g->s->kind == TCG_BF16 ? 2 : 4;
}

/* Bytes of one converted part of an operand of `rows` rows. */
static int wg_part_bytes(const Gen *g, int rows)
{
	return rows * g->bk * wg_elem_bytes(g);
}

/* Bytes of W's block for one slice of one column tile. */
static int wg_buf_bytes(const Gen *g)
{
	return parts(g) * wg_part_bytes(g, g->bn);
}

/* The byte offset (i32) in dynamic shared memory of stage st's W block. */
static LLVMValueRef wg_w_at(Gen *g, LLVMValueRef st)
{
	return LLVMBuildAdd(g->b, c32(g, g->a_bytes),
		LLVMBuildMul(g->b, st, c32(g, g->stage_floats * 4), ""), "");
}

/* An inline PTX statement without operands that orders memory. */
static void ptx_stmt(Gen *g, const char *text)
{
	LLVMTypeRef fty = LLVMFunctionType(LLVMVoidTypeInContext(g->ctx), NULL,
	                                   0, 0);
	LLVMValueRef asm_ = LLVMGetInlineAsm(fty, text, strlen(text),
	                                     "~{memory}", 9, 1, 0,
	                                     LLVMInlineAsmDialectATT, 0);

	LLVMBuildCall2(g->b, fty, asm_, NULL, 0, "");
}

static LLVMValueRef byte_at(Gen *g, LLVMValueRef off)
{
	LLVMTypeRef i8 = LLVMInt8TypeInContext(g->ctx);

	return LLVMBuildGEP2(g->b, i8, dyn_shared(g), &off, 1, "");
}

/* Issues the copies of W's block for slice kt (i64) of the block's
 * column tile, 16 bytes a copy, into stage st's W block. */
static void copy_split(Gen *g, LLVMValueRef w, LLVMValueRef kt, int nk,
                       LLVMValueRef st)
{
	LLVMTypeRef i8 = LLVMInt8TypeInContext(g->ctx);
	LLVMTypeRef pt[3] = { g->ptr3, g->ptr1, g->i32 };
	int bytes = wg_buf_bytes(g), total = bytes / 16;
	LLVMValueRef blk = LLVMBuildAdd(g->b, LLVMBuildMul(g->b,
		LLVMBuildUDiv(g->b, g->col0, c64(g, g->bn), ""), c64(g, nk), ""),
		kt, "");
	LLVMValueRef base = LLVMBuildMul(g->b, blk, c64(g, bytes), "");
	LLVMValueRef at = wg_w_at(g, st);

	for (int i = 0; i * TCG_THREADS < total; i++) {
		LLVMValueRef idx = addi(g, g->tid, i * TCG_THREADS);
		LLVMBasicBlockRef next = guard_open(g, (i + 1) * TCG_THREADS > total,
		                                    idx, total);
		LLVMValueRef piece = LLVMBuildMul(g->b, idx, c32(g, 16), "");
		LLVMValueRef off = LLVMBuildAdd(g->b, base,
			LLVMBuildZExt(g->b, piece, g->i64, ""), "");
		LLVMValueRef args[3] = {
			byte_at(g, LLVMBuildAdd(g->b, at, piece, "")),
			LLVMBuildAddrSpaceCast(g->b,
				LLVMBuildGEP2(g->b, i8, w, &off, 1, ""), g->ptr1, ""),
			c32(g, 16) };

		intrinsic(g, "llvm.nvvm.cp.async.cg.shared.global.16.s",
		          LLVMVoidTypeInContext(g->ctx), pt, 3, args);
		guard_close(g, next);
	}
}

/* The A registers of wgmma, two sets (the slice the wgmmas read, and
 * the next one): word (ks * 2 + half) * 4 + i of set p of g->areg is
 * a_frag's hi[i] (half 0) or lo[i] (half 1) at k step ks. */
static int wg_awords(const Gen *g)
{
	return ksteps(g) * 8;
}

static LLVMValueRef wg_aslot(Gen *g, int p, int i)
{
	return slot_of(g, g->i32, g->areg, 2 * wg_awords(g),
	               p * wg_awords(g) + i);
}

/* The thread's first A row with wgmma (i32): its warp's 16 of the
 * tile, and of those the lane's, the same in every slice. */
static LLVMValueRef wg_arow(Gen *g)
{
	return LLVMBuildAdd(g->b, LLVMBuildMul(g->b, g->warp, c32(g, 16), ""),
	                    g->lane_g, "");
}

/* The thread's A fragments of the landed stage (g->as) into set p. */
static void wg_afrag(Gen *g, int p)
{
	LLVMValueRef r = wg_arow(g);

	for (int ks = 0; ks < ksteps(g); ks++) {
		LLVMValueRef hi[4], lo[4];

		a_frag(g, r, g->wrc, c32(g, ks), hi, lo);
		for (int i = 0; i < 4; i++) {
			LLVMBuildStore(g->b, hi[i], wg_aslot(g, p, ks * 8 + i));
			if (g->s->kind != TCG_BF16)
				LLVMBuildStore(g->b, lo[i], wg_aslot(g, p, ks * 8 + 4 + i));
		}
	}
}

/* A shared memory descriptor (no swizzle) of the operand at byte `at`
 * (i32) with the given leading (k) and stride (rows) byte offsets. */
static LLVMValueRef wg_desc(Gen *g, LLVMValueRef at, int lead, int stride)
{
	LLVMValueRef base = LLVMBuildPtrToInt(g->b, dyn_shared(g), g->i64, "");
	LLVMValueRef addr = LLVMBuildAdd(g->b, base,
		LLVMBuildZExt(g->b, at, g->i64, ""), "");
	LLVMValueRef d = LLVMBuildLShr(g->b,
		LLVMBuildAnd(g->b, addr, c64(g, 0x3FFFF), ""), c64(g, 4), "");

	return LLVMBuildOr(g->b, d, c64(g, ((int64_t)(lead >> 4) << 16) |
	                                   ((int64_t)(stride >> 4) << 32)), "");
}

/* acc += A * B by one wgmma.mma_async: A's fragment in the registers
 * a[4], B through the descriptor db. */
static void wg_mma(Gen *g, LLVMValueRef *a, LLVMValueRef db)
{
	bool bf = g->s->kind == TCG_BF16;
	int n = g->bn / 2;
	char text[2048], cons[1024];
	size_t tl = 0, cl = 0;
	LLVMTypeRef fl[128], pt[134], ret, fty;
	LLVMValueRef args[134], asm_, r;

	tl += (size_t)snprintf(text + tl, sizeof text - tl,
		"{\n.reg .pred p;\nsetp.ne.b32 p, $%d, 0;\n"
		"wgmma.mma_async.sync.aligned.m64n%dk%d.f32.%s.%s {", 2 * n + 5,
		g->bn, bf ? 16 : 8, bf ? "bf16" : "tf32", bf ? "bf16" : "tf32");
	for (int i = 0; i < n; i++)
		tl += (size_t)snprintf(text + tl, sizeof text - tl, "%s$%d",
		                       i ? ", " : "", i);
	/* register A: no transposition of A to give (bf16: B's, none) */
	tl += (size_t)snprintf(text + tl, sizeof text - tl,
		"}, {$%d, $%d, $%d, $%d}, $%d, p, 1, 1%s;\n}", 2 * n, 2 * n + 1,
		2 * n + 2, 2 * n + 3, 2 * n + 4, bf ? ", 0" : "");
	for (int i = 0; i < n; i++)
		cl += (size_t)snprintf(cons + cl, sizeof cons - cl, "=f,");
	for (int i = 0; i < n; i++)
		cl += (size_t)snprintf(cons + cl, sizeof cons - cl, "%d,", i);
	cl += (size_t)snprintf(cons + cl, sizeof cons - cl,
	                       "r,r,r,r,l,r,~{memory}");
	HY_ASSERT(tl < sizeof text && cl < sizeof cons);
	for (int i = 0; i < n; i++) {
		fl[i] = g->f32;
		pt[i] = g->f32;
		args[i] = LLVMBuildLoad2(g->b, g->f32, slot(g, g->acc, n, i), "");
	}
	for (int i = 0; i < 4; i++) {
		pt[n + i] = g->i32;
		args[n + i] = a[i];
	}
	pt[n + 4] = g->i64;
	pt[n + 5] = g->i32;
	args[n + 4] = db;
	args[n + 5] = c32(g, 1);
	ret = LLVMStructTypeInContext(g->ctx, fl, (unsigned)n, 0);
	fty = LLVMFunctionType(ret, pt, (unsigned)n + 6, 0);
	asm_ = LLVMGetInlineAsm(fty, text, tl, cons, cl, 1, 0,
	                        LLVMInlineAsmDialectATT, 0);
	r = LLVMBuildCall2(g->b, fty, asm_, args, (unsigned)n + 6, "");
	for (int i = 0; i < n; i++)
		LLVMBuildStore(g->b, LLVMBuildExtractValue(g->b, r, (unsigned)i, ""),
		               slot(g, g->acc, n, i));
}

/* The wgmmas of the thread's A registers (set p) and stage st's W block
 * (i32) for this warpgroup's rows. */
static void wg_compute(Gen *g, LLVMValueRef st, int p)
{
	bool bf = g->s->kind == TCG_BF16;
	int pw = wg_part_bytes(g, g->bn);
	LLVMValueRef wat = wg_w_at(g, st);

	ptx_stmt(g, "wgmma.fence.sync.aligned;");
	for (int ks = 0; ks < ksteps(g); ks++)
		/* small terms first: A lo * W hi, A hi * W lo, A hi * W hi */
		for (int term = bf ? 2 : 0; term < 3; term++) {
			int a_lo = term == 0, w_lo = term == 1;
			LLVMValueRef a[4];
			LLVMValueRef w = addi(g, wat, w_lo * pw + 2 * ks * g->bn * 16);

			for (int i = 0; i < 4; i++)
				a[i] = LLVMBuildLoad2(g->b, g->i32,
					wg_aslot(g, p, (ks * 2 + a_lo) * 4 + i), "");
			wg_mma(g, a, wg_desc(g, w, g->bn * 16, 128));
		}
	ptx_stmt(g, "wgmma.commit_group.sync.aligned;");
}

/* The tile to the caller's tile_epi through shared memory (see
 * wg_epilogue for where each accumulator lies). The stages are free once
 * every warpgroup's last wgmmas are done: a barrier first. */
/* With wgmma, where a thread's accumulator i lies in the block's tile:
 * row *r and column *cc (i32; see wg_epilogue), wrow its warp's first
 * row. */
static void wg_acc_at(Gen *g, LLVMValueRef wrow, int i, LLVMValueRef *r,
                      LLVMValueRef *cc)
{
	*r = LLVMBuildAdd(g->b, wrow, addi(g, g->lane_g, (i & 2) ? 8 : 0), "");
	*cc = addi(g, LLVMBuildMul(g->b, g->lane_t, c32(g, 2), ""),
	           (i / 4) * 8 + (i & 1));
}

static void wg_tile_out(Gen *g, LLVMValueRef wrow)
{
	int n = g->bn / 2, ld = g->bn + TCG_TILE_PAD;
	LLVMValueRef sh = dyn_shared(g);

	barrier(g);
	for (int i = 0; i < n; i++) {
		LLVMValueRef r, cc;
		wg_acc_at(g, wrow, i, &r, &cc);
		LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, g->f32,
			slot(g, g->acc, n, i), ""), float_at(g, sh, LLVMBuildAdd(g->b,
			LLVMBuildMul(g->b, r, c32(g, ld), ""), cc, "")));
	}
	barrier(g);
	g->s->tile_epi(g->s->u, g->b, sh, ld, g->row0, g->col0, g->tid);
}

/* The pair of accumulators i, i + 1 through val2 into y[i], y[i + 1]:
 * *r and *cc its row and column in the tile (i32), *row and *col in the
 * matrix (i64). */
static void wg_pair_value(Gen *g, LLVMValueRef wrow, int n, int i,
                          LLVMValueRef *y, LLVMValueRef *r, LLVMValueRef *cc,
                          LLVMValueRef *row, LLVMValueRef *col)
{
	wg_acc_at(g, wrow, i, r, cc);
	*row = LLVMBuildAdd(g->b, g->row0, LLVMBuildZExt(g->b, *r, g->i64, ""),
	                    "");
	*col = LLVMBuildAdd(g->b, g->col0, LLVMBuildZExt(g->b, *cc, g->i64, ""),
	                    "");
	for (int k = 0; k < 2; k++)
		y[i + k] = LLVMBuildLoad2(g->b, g->f32, slot(g, g->acc, n, i + k),
		                          "");
	g->s->val2(g->s->u, g->b, *row, *col, &y[i]);
}

/* A tile wholly in range, its pairs through val2 and put2 in runs of
 * WG_RUN: the run's loads, then its stores; y[i] becomes the value
 * stored from accumulator i. */
enum { WG_RUN = 8 };

static void wg_runs(Gen *g, LLVMValueRef wrow, LLVMValueRef *y, int n)
{
	LLVMValueRef row[TCG_MAX_ACC], col[TCG_MAX_ACC];

	HY_ASSERT(n <= TCG_MAX_ACC && n % 2 == 0);
	for (int i0 = 0; i0 < n; i0 += 2 * WG_RUN) {
		int i1 = i0 + 2 * WG_RUN < n ? i0 + 2 * WG_RUN : n;
		for (int i = i0; i < i1; i += 2) {
			LLVMValueRef r, cc;
			wg_pair_value(g, wrow, n, i, y, &r, &cc, &row[i], &col[i]);
		}
		for (int i = i0; i < i1; i += 2)
			g->s->put2(g->s->u, g->b, row[i], col[i], &y[i]);
	}
}

/* The bytes between the rows of the bf16 tile of wg_staged: BN pairs'
 * words and 16 bytes, so that the pair stores of a warp (rows lane / 4,
 * words lane % 4 of a column block) fall on 32 banks and every row
 * starts 16-byte aligned. */
static int wg_stage_ld(const Gen *g)
{
	return g->bn * 2 + 16;
}

/* A tile wholly in range out through shared memory (TcgSpec.out_at):
 * val2 of every pair (their loads before any store), the pairs as bf16
 * into the tile once every warpgroup is done with the stages, then each
 * thread's 16-byte pieces of whole rows out. */
static void wg_staged(Gen *g, LLVMValueRef wrow, int n)
{
	LLVMValueRef y[TCG_MAX_ACC], row[TCG_MAX_ACC], col[TCG_MAX_ACC];
	LLVMTypeRef v4 = LLVMVectorType(g->i32, 4);
	int ld = wg_stage_ld(g), per_row = g->bn * 2 / 16;

	HY_ASSERT(n <= TCG_MAX_ACC && n % 2 == 0 && g->bn % 8 == 0 &&
	          BM * ld <= WG_STAGES * g->stage_floats * 4);
	for (int i = 0; i < n; i += 2) {
		LLVMValueRef mrow, mcol;
		wg_pair_value(g, wrow, n, i, y, &row[i], &col[i], &mrow, &mcol);
	}
	barrier(g);
	for (int i = 0; i < n; i += 2) {
		LLVMValueRef at = LLVMBuildAdd(g->b,
			LLVMBuildMul(g->b, row[i], c32(g, ld), ""),
			LLVMBuildMul(g->b, col[i], c32(g, 2), ""), "");
		LLVMSetAlignment(LLVMBuildStore(g->b, pack_bf16(g, y[i], y[i + 1]),
		                                byte_at(g, at)), 4);
	}
	barrier(g);
	for (int i = 0; i * TCG_THREADS < BM * per_row; i++) {
		LLVMValueRef idx = addi(g, g->tid, i * TCG_THREADS);
		/* the last round: only the first threads have a piece */
		LLVMBasicBlockRef next = guard_open(g,
			(i + 1) * TCG_THREADS > BM * per_row, idx, BM * per_row);
		LLVMValueRef r = LLVMBuildUDiv(g->b, idx, c32(g, per_row), "");
		LLVMValueRef p = LLVMBuildURem(g->b, idx, c32(g, per_row), "");
		LLVMValueRef v = LLVMBuildLoad2(g->b, v4, byte_at(g,
			LLVMBuildAdd(g->b, LLVMBuildMul(g->b, r, c32(g, ld), ""),
			             LLVMBuildMul(g->b, p, c32(g, 16), ""), "")), "");
		LLVMSetAlignment(v, 16);
		LLVMValueRef dst = g->s->out_at(g->s->u, g->b,
			LLVMBuildAdd(g->b, g->row0, LLVMBuildZExt(g->b, r, g->i64, ""),
			             ""),
			LLVMBuildAdd(g->b, g->col0, LLVMBuildZExt(g->b,
				LLVMBuildMul(g->b, p, c32(g, 8), ""), g->i64, ""), ""));
		LLVMSetAlignment(LLVMBuildStore(g->b, v, dst), 16);
		guard_close(g, next);
	}
}

/* x summed over the 4 lanes of its quad (lanes 4q..4q+3). */
static LLVMValueRef quad_sum(Gen *g, LLVMValueRef x)
{
	LLVMTypeRef pt[] = { g->i32, g->f32, g->i32, g->i32 };

	for (int m = 1; m <= 2; m *= 2) {
		LLVMValueRef a[] = { c32(g, -1), x, c32(g, m), c32(g, 31) };
		x = LLVMBuildFAdd(g->b, x,
		                  intrinsic(g, "llvm.nvvm.shfl.sync.bfly.f32", g->f32,
		                            pt, 4, a), "");
	}
	return x;
}

/* row_parts from the values the epilogue stored (out[i], accumulator
 * i's): a thread holds two rows (lane / 4 of its warp's 16, and 8 more;
 * accumulator i is the second where i & 2), each with BN / 4 of the
 * columns, the other columns in the other lanes of its quad; the lane
 * with lane % 4 = 0 hands the rows over. */
static void wg_row_parts(Gen *g, LLVMValueRef wrow, LLVMValueRef *out, int n)
{
	LLVMValueRef zero = LLVMConstReal(g->f32, 0);
	LLVMValueRef inv = LLVMConstReal(g->f32, 1.0 / (double)g->bn);

	for (int h = 0; h < 2; h++) {
		LLVMValueRef sum = zero, sq = zero;
		for (int i = 0; i < n; i++)
			if (((i & 2) != 0) == h)
				sum = LLVMBuildFAdd(g->b, sum, out[i], "");
		LLVMValueRef mean = LLVMBuildFMul(g->b, quad_sum(g, sum), inv, "");
		for (int i = 0; i < n; i++)
			if (((i & 2) != 0) == h) {
				LLVMValueRef d = LLVMBuildFSub(g->b, out[i], mean, "");
				sq = LLVMBuildFAdd(g->b, sq, LLVMBuildFMul(g->b, d, d, ""),
				                   "");
			}
		sq = quad_sum(g, sq);
		LLVMValueRef row = LLVMBuildAdd(g->b, g->row0, LLVMBuildZExt(g->b,
			LLVMBuildAdd(g->b, wrow, addi(g, g->lane_g, 8 * h), ""),
			g->i64, ""), "");
		LLVMValueRef ok = LLVMBuildAnd(g->b,
			LLVMBuildICmp(g->b, LLVMIntSLT, row, g->m, ""),
			LLVMBuildICmp(g->b, LLVMIntEQ, g->lane_t, c32(g, 0), ""), "");
		LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn,
		                                                      "tcg.parts");
		LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx,
			g->fn, "tcg.parts.next");
		LLVMBuildCondBr(g->b, ok, yes, next);
		LLVMPositionBuilderAtEnd(g->b, yes);
		g->s->row_parts(g->s->u, g->b, row, g->col0, mean, sq);
		LLVMBuildBr(g->b, next);
		LLVMPositionBuilderAtEnd(g->b, next);
	}
}

/* Hands each accumulator in range to the caller's epilogue: accumulator
 * 4j + c of a thread is row 16 (warp % 4) + lane / 4 (+ 8 for c >= 2) of
 * its warpgroup's 64, column 8j + 2 (lane % 4) + (c & 1); with val2,
 * two at a time (a warp's store then writes whole 32-byte sectors, where
 * 4-byte stores wrote half ones). */
static void wg_epilogue(Gen *g)
{
	int n = g->bn / 2;
	LLVMValueRef wrow = LLVMBuildAdd(g->b,
		LLVMBuildMul(g->b, LLVMBuildUDiv(g->b, g->warp, c32(g, 4), ""),
		             c32(g, 64), ""),
		LLVMBuildMul(g->b, LLVMBuildURem(g->b, g->warp, c32(g, 4), ""),
		             c32(g, 16), ""), "");

	if (g->s->tile_epi) {
		wg_tile_out(g, wrow);
		return;
	}
	bool pairs = g->s->val2 && g->s->N % 2 == 0;
	bool parts = g->s->row_parts != NULL;
	LLVMValueRef out[TCG_MAX_ACC];

	HY_ASSERT(!parts || (pairs && g->s->N % g->bn == 0 && n <= TCG_MAX_ACC));
	HY_ASSERT(!g->s->out_at || (pairs && !parts && g->s->N % 8 == 0));
	/* twice: for a tile wholly in range (every tile but the last row
	 * and column ones), without a guard around each epilogue and pairs
	 * in runs (wg_runs); else each guarded */
	LLVMValueRef whole = LLVMBuildAnd(g->b,
		LLVMBuildICmp(g->b, LLVMIntSLE, LLVMBuildAdd(g->b, g->row0,
			c64(g, BM), ""), g->m, ""),
		LLVMBuildICmp(g->b, LLVMIntSLE, LLVMBuildAdd(g->b, g->col0,
			c64(g, g->bn), ""), c64(g, g->s->N), ""), "");
	LLVMBasicBlockRef bw = LLVMAppendBasicBlockInContext(g->ctx, g->fn,
	                                                     "tcg.whole");
	LLVMBasicBlockRef bg = LLVMAppendBasicBlockInContext(g->ctx, g->fn,
	                                                     "tcg.edge");
	LLVMBasicBlockRef bj = LLVMAppendBasicBlockInContext(g->ctx, g->fn,
	                                                     "tcg.epi.done");
	LLVMBuildCondBr(g->b, whole, bw, bg);
	for (int pass = 0; pass < 2; pass++) {
		bool guard = pass == 1;
		LLVMPositionBuilderAtEnd(g->b, guard ? bg : bw);
		if (!guard && pairs && g->s->out_at) {
			wg_staged(g, wrow, n);
		} else if (!guard && pairs) {
			wg_runs(g, wrow, out, n);
		} else {
			for (int i = 0; i < n; i += pairs ? 2 : 1) {
				LLVMValueRef r, cc;
				wg_acc_at(g, wrow, i, &r, &cc);
				hand_out(g, r, cc, n, i, pairs, guard,
				         parts ? &out[i] : NULL);
			}
		}
		if (parts)
			wg_row_parts(g, wrow, out, n);
		LLVMBuildBr(g->b, bj);
	}
	LLVMPositionBuilderAtEnd(g->b, bj);
}

static void cp_wait(Gen *g, int pending)
{
	LLVMValueRef n = c32(g, pending);
	LLVMTypeRef t = g->i32;

	intrinsic(g, "llvm.nvvm.cp.async.wait.group",
	          LLVMVoidTypeInContext(g->ctx), &t, 1, &n);
}

/* One slice of the K loop with warpgroup MMA, slice kt (i64) in stage
 * kt % 4 and its A fragments in register set p (see wg_loop). Returns
 * whether slice kt + 1 exists (i1), the builder at the end. */
static LLVMValueRef wg_slice(Gen *g, LLVMValueRef a, LLVMValueRef w,
                             LLVMValueRef kt, int nk, int p)
{
	LLVMBasicBlockRef landed, sync, afrag, latch;
	LLVMValueRef k1, more, st;

	landed = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "wg.k.landed");
	sync = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "wg.k.sync");
	afrag = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "wg.k.afrag");
	latch = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "wg.k.latch");
	st = LLVMBuildTrunc(g->b, LLVMBuildURem(g->b, kt, c64(g, WG_STAGES), ""),
	                    g->i32, "");
	wg_compute(g, st, p);
	/* slice kt - 1's wgmmas are done (its registers, set 1 - p, and
	 * for all warpgroups after the barrier, its stage) */
	ptx_stmt(g, "wgmma.wait_group.sync.aligned 1;");
	k1 = LLVMBuildAdd(g->b, kt, c64(g, 1), "");
	more = LLVMBuildICmp(g->b, LLVMIntSLT, k1, c64(g, nk), "");
	LLVMBuildCondBr(g->b, more, landed, sync);
	LLVMPositionBuilderAtEnd(g->b, landed);
	cp_wait(g, 1);
	ptx_stmt(g, "fence.proxy.async.shared::cta;");
	LLVMBuildBr(g->b, sync);
	LLVMPositionBuilderAtEnd(g->b, sync);
	barrier(g);
	LLVMBuildCondBr(g->b, more, afrag, latch);
	LLVMPositionBuilderAtEnd(g->b, afrag);
	g->k0 = LLVMBuildMul(g->b, k1, c64(g, g->bk), "");
	stage_tiles(g, LLVMBuildTrunc(g->b,
		LLVMBuildURem(g->b, k1, c64(g, WG_STAGES), ""), g->i32, ""));
	wg_afrag(g, 1 - p);
	LLVMBuildBr(g->b, latch);
	LLVMPositionBuilderAtEnd(g->b, latch);
	LLVMValueRef k3 = LLVMBuildAdd(g->b, kt, c64(g, 3), "");
	issue(g, a, w, k3, nk, LLVMBuildTrunc(g->b,
		LLVMBuildURem(g->b, k3, c64(g, WG_STAGES), ""), g->i32, ""));
	return more;
}

/* The K loop with warpgroup MMA, four stages, slice kt in stage kt % 4:
 *     copy 0, 1, 2; wait 0; A 0 into register set 0
 *     for kt: wgmma set kt % 2 and stage kt's W (async); wait for slice
 *             kt - 1's wgmmas; if kt + 1 < nk: wait kt + 1; a barrier
 *             (every warpgroup is done with slice kt - 1, and slice
 *             kt + 1 has landed for all); if kt + 1 < nk: A kt + 1 into
 *             the other set; copy kt + 3 into stage kt - 1
 * so that slice kt's products run while slice kt + 1's fragments are
 * made. The loop runs two slices a turn, one per register set, so that
 * each set is registers (an index that varies would put it in local
 * memory). Each thread makes the async proxy (wgmma's reads) see the W
 * its copies wrote (fence.proxy.async) before the barrier that hands it
 * over. */
static void wg_loop(Gen *g, LLVMValueRef a, LLVMValueRef w, int nk)
{
	LLVMBasicBlockRef head, body, odd, done, from[2];
	LLVMValueRef kt, more, inc[2];

	/* two blocks a SM (at most 128 registers a thread), so that one's
	 * first slices, statistics and epilogue run beside the other's
	 * products */
	tcg_annotate(g->mod, g->fn, "minctasm", 2);

	for (int i = 0; i < WG_STAGES - 1; i++)
		issue(g, a, w, c64(g, i), nk, c32(g, i));
	if (g->s->tile_begin)
		g->s->tile_begin(g->s->u, g->b, g->row0, g->tid);
	cp_wait(g, WG_STAGES - 2);
	ptx_stmt(g, "fence.proxy.async.shared::cta;");
	barrier(g);
	/* the thread's rows' constants once for every slice (the barrier
	 * ordered tile_begin's stores of them) */
	rows_c(g, wg_arow(g), g->wrc);
	g->k0 = c64(g, 0);
	stage_tiles(g, c32(g, 0));
	wg_afrag(g, 0);
	head = LLVMGetInsertBlock(g->b);
	body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "wg.k");
	odd = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "wg.k.odd");
	done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "wg.k.done");
	LLVMBuildBr(g->b, body);
	LLVMPositionBuilderAtEnd(g->b, body);
	kt = LLVMBuildPhi(g->b, g->i64, "wg.kt");
	more = wg_slice(g, a, w, kt, nk, 0);
	LLVMBuildCondBr(g->b, more, odd, done);
	LLVMPositionBuilderAtEnd(g->b, odd);
	more = wg_slice(g, a, w, LLVMBuildAdd(g->b, kt, c64(g, 1), ""), nk, 1);
	inc[0] = c64(g, 0);
	from[0] = head;
	inc[1] = LLVMBuildAdd(g->b, kt, c64(g, 2), "");
	from[1] = LLVMGetInsertBlock(g->b);
	LLVMBuildCondBr(g->b, more, body, done);
	LLVMAddIncoming(kt, inc, from, 2);
	LLVMPositionBuilderAtEnd(g->b, done);
	ptx_stmt(g, "wgmma.wait_group.sync.aligned 0;");
	cp_wait(g, 0);
}

/* g for emitting s into fn at b. */
static void gen_init(Gen *g, LLVMModuleRef mod, LLVMBuilderRef b,
                     LLVMValueRef fn, const TcgSpec *s)
{
	*g = (Gen){ .mod = mod, .ctx = LLVMGetModuleContext(mod), .b = b,
	            .fn = fn };
	g->i1 = LLVMInt1TypeInContext(g->ctx);
	g->i32 = LLVMInt32TypeInContext(g->ctx);
	g->i64 = LLVMInt64TypeInContext(g->ctx);
	g->f32 = LLVMFloatTypeInContext(g->ctx);
	g->bf16 = LLVMBFloatTypeInContext(g->ctx);
	g->ptr = LLVMPointerTypeInContext(g->ctx, 0);
	g->ptr1 = LLVMPointerTypeInContext(g->ctx, 1);
	g->ptr3 = LLVMPointerTypeInContext(g->ctx, 3);
	geometry(g, s);
}

static int slices(const Gen *g)
{
	return (int)((g->s->K + g->bk - 1) / g->bk);
}

void tcg_emit(LLVMModuleRef mod, LLVMBuilderRef b, LLVMValueRef fn,
              const TcgSpec *s, LLVMValueRef a, LLVMValueRef w,
              LLVMValueRef m)
{
	Gen g;
	int nacc, nk;
	LLVMValueRef bid, ncol, warp, lane, kt, zero, next, st;
	LLVMValueRef inc[2];
	LLVMBasicBlockRef head, body, done, from[2];
	LLVMTypeRef i32t;

	HY_ASSERT(s->N > 0 && s->K > 0 && s->lda >= s->K &&
	          (s->tile_epi ? s->wgmma : s->epi != NULL));
	HY_ASSERT(!s->a_bf16 || (s->kind == TCG_BF16 && !s->xform &&
	                         s->a_vec4 && s->K % 8 == 0 && s->lda % 8 == 0));
	gen_init(&g, mod, b, fn, s);
	i32t = g.i32;
	nacc = s->wgmma ? g.bn / 2 : g.mt * g.nt * 4;
	g.m = m;
	g.acc = entry_array(&g, nacc, "tcg.acc");
	if (s->wgmma)
		g.areg = entry_array_of(&g, g.i32, 2 * wg_awords(&g), "tcg.areg");

	g.tid = sreg(&g, "llvm.nvvm.read.ptx.sreg.tid.x");
	bid = LLVMBuildZExt(b, sreg(&g, "llvm.nvvm.read.ptx.sreg.ctaid.x"),
	                    g.i64, "");
	ncol = c64(&g, tcg_col_tiles(s));
	g.col0 = LLVMBuildMul(b, LLVMBuildURem(b, bid, ncol, ""),
	                      c64(&g, g.bn), "");
	g.row0 = LLVMBuildMul(b, LLVMBuildUDiv(b, bid, ncol, ""),
	                      c64(&g, s->row_step ? s->row_step : BM), "");
	warp = LLVMBuildUDiv(b, g.tid, c32(&g, 32), "");
	lane = LLVMBuildURem(b, g.tid, c32(&g, 32), "");
	g.warp = warp;
	g.lane = lane;
	g.lane_g = LLVMBuildUDiv(b, lane, c32(&g, 4), "");
	g.lane_t = LLVMBuildURem(b, lane, c32(&g, 4), "");
	g.warp_m = LLVMBuildMul(b, LLVMBuildUDiv(b, warp, c32(&g, g.wn), ""),
	                        c32(&g, g.wtm), "");
	g.warp_n = LLVMBuildMul(b, LLVMBuildURem(b, warp, c32(&g, g.wn), ""),
	                        c32(&g, g.wtn), "");
	zero = LLVMConstReal(g.f32, 0.0);
	for (int i = 0; i < nacc; i++)
		LLVMBuildStore(b, zero, slot(&g, g.acc, nacc, i));

	nk = slices(&g);
	if (s->wgmma) {
		wg_loop(&g, a, w, nk);
		wg_epilogue(&g);
		return;
	}
	/* slices 0 .. STAGES-2 in flight; then for (kt = 0; kt < nk; kt++):
	 * wait for slice kt, a barrier (its copies by every thread are in,
	 * and every warp is done with slice kt - 1, whose stage the next
	 * copy reuses), issue slice kt + STAGES - 1, multiply slice kt */
	for (int i = 0; i < STAGES - 1; i++)
		issue(&g, a, w, c64(&g, i), nk, c32(&g, i));
	/* the tile's own work (LayerNorm statistics) while they land */
	if (s->tile_begin)
		s->tile_begin(s->u, b, g.row0, g.tid);
	head = LLVMGetInsertBlock(b);
	body = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k");
	done = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k.done");
	LLVMBuildBr(b, body);
	LLVMPositionBuilderAtEnd(b, body);
	kt = LLVMBuildPhi(b, g.i64, "tcg.kt");
	{
		LLVMValueRef wn = c32(&g, STAGES - 2);
		intrinsic(&g, "llvm.nvvm.cp.async.wait.group",
		          LLVMVoidTypeInContext(g.ctx), &i32t, 1, &wn);
	}
	barrier(&g);
	st = LLVMBuildTrunc(b, LLVMBuildURem(b, kt, c64(&g, STAGES), ""), g.i32,
	                    "");
	g.k0 = LLVMBuildMul(b, kt, c64(&g, g.bk), "");
	{
		LLVMValueRef ahead = LLVMBuildAdd(b, kt, c64(&g, STAGES - 1), "");
		issue(&g, a, w, ahead, nk, LLVMBuildTrunc(b,
			LLVMBuildURem(b, ahead, c64(&g, STAGES), ""), g.i32, ""));
	}
	stage_tiles(&g, st);
	convert(&g);
	barrier(&g);
	compute(&g);
	next = LLVMBuildAdd(b, kt, c64(&g, 1), "");
	LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, next, c64(&g, nk), ""),
	                body, done);
	inc[0] = c64(&g, 0);
	from[0] = head;
	inc[1] = next;
	from[1] = LLVMGetInsertBlock(b);
	LLVMAddIncoming(kt, inc, from, 2);
	LLVMPositionBuilderAtEnd(b, done);
	epilogue(&g);
}

int64_t tcg_shmem_bytes(const TcgSpec *s)
{
	Gen g = { 0 };

	geometry(&g, s);
	if (s->wgmma) {
		int64_t st = (int64_t)WG_STAGES * g.stage_floats * 4;
		int64_t tile = (int64_t)BM * (g.bn + TCG_TILE_PAD) * 4;
		return s->tile_epi && tile > st ? tile : st;
	}
	return ((int64_t)STAGES * g.stage_floats +
	        parts(&g) * (a_words(&g) + w_words(&g))) * 4;
}

/* ---- W's pre-split copy (wgmma) ---------------------------------------
 * Per column tile ct and slice kt, in that order, the block that
 * copy_split lands: wg_buf_bytes at ((ct * slices + kt) * wg_buf_bytes),
 * its 16-byte piece c (of BN * BK / E a part) being row r = c % BN of
 * the tile and elements k = (c / BN) * E .. + E of the slice, zero past
 * N and K (times scale[k] where the caller gives a scale: a
 * LayerNorm's gamma), converted as the mma reads them: TF32 high parts,
 * then at wg_part_bytes the TF32 of the rests (tf32x3), or bf16 pairs. */

int64_t tcg_split_bytes(const TcgSpec *s)
{
	Gen g = { 0 };

	geometry(&g, s);
	return tcg_col_tiles(s) * (int64_t)slices(&g) * wg_buf_bytes(&g);
}

int64_t tcg_split_pieces(const TcgSpec *s)
{
	Gen g = { 0 };

	geometry(&g, s);
	return tcg_col_tiles(s) * (int64_t)slices(&g) * g.bn *
	       (g.bk / (16 / wg_elem_bytes(&g)));
}

int64_t tcg_pair_row(int64_t n, int64_t D)
{
	if (!D || n < D)
		return n;
	int64_t q = (n - D) / 128, r = (n - D) % 128;
	return r < 64 ? D + 64 * q + r : 2 * D + 64 * q + r - 64;
}

void tcg_emit_split(LLVMModuleRef mod, LLVMBuilderRef b, LLVMValueRef fn,
                    const TcgSpec *s, LLVMValueRef w, LLVMValueRef scale,
                    int64_t pairs, LLVMValueRef dst, LLVMValueRef i)
{
	Gen g;
	LLVMTypeRef i8 = LLVMInt8TypeInContext(LLVMGetModuleContext(mod));

	gen_init(&g, mod, b, fn, s);
	bool bf = s->kind == TCG_BF16;
	int e = 16 / wg_elem_bytes(&g);
	int64_t per = (int64_t)g.bn * (g.bk / e), nk = slices(&g);
	LLVMValueRef c = LLVMBuildSRem(b, i, c64(&g, per), "");
	LLVMValueRef blk = LLVMBuildSDiv(b, i, c64(&g, per), "");
	LLVMValueRef n = LLVMBuildAdd(b,
		LLVMBuildMul(b, LLVMBuildSDiv(b, blk, c64(&g, nk), ""),
		             c64(&g, g.bn), ""),
		LLVMBuildSRem(b, c, c64(&g, g.bn), ""), "");
	LLVMValueRef k = LLVMBuildAdd(b,
		LLVMBuildMul(b, LLVMBuildSRem(b, blk, c64(&g, nk), ""),
		             c64(&g, g.bk), ""),
		LLVMBuildMul(b, LLVMBuildSDiv(b, c, c64(&g, g.bn), ""), c64(&g, e),
		             ""), "");
	LLVMValueRef nok = LLVMBuildICmp(b, LLVMIntSLT, n, c64(&g, s->N), "");
	if (pairs) { /* the row of w that row n of the copy holds */
		LLVMValueRef D = c64(&g, pairs);
		LLVMValueRef rel = LLVMBuildSub(b, n, D, "");
		LLVMValueRef q = LLVMBuildSDiv(b, rel, c64(&g, 128), "");
		LLVMValueRef r = LLVMBuildSRem(b, rel, c64(&g, 128), "");
		LLVMValueRef lo = LLVMBuildICmp(b, LLVMIntSLT, r, c64(&g, 64), "");
		LLVMValueRef pn = LLVMBuildAdd(b, LLVMBuildMul(b, q, c64(&g, 64), ""),
			LLVMBuildSelect(b, lo, LLVMBuildAdd(b, D, r, ""),
			                LLVMBuildAdd(b, LLVMBuildMul(b, D, c64(&g, 2), ""),
			                             LLVMBuildSub(b, r, c64(&g, 64), ""),
			                             ""), ""), "");
		n = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, n, D, ""), n, pn,
		                    "");
	}
	LLVMValueRef x[8];
	LLVMTypeRef v4i = LLVMVectorType(g.i32, 4);
	LLVMValueRef hi = LLVMGetUndef(v4i), lo = LLVMGetUndef(v4i);

	for (int j = 0; j < e; j++) {
		LLVMValueRef kj = LLVMBuildAdd(b, k, c64(&g, j), "");
		LLVMValueRef ok = LLVMBuildAnd(b, nok,
			LLVMBuildICmp(b, LLVMIntSLT, kj, c64(&g, s->K), ""), "");
		LLVMValueRef at = LLVMBuildSelect(b, ok, LLVMBuildAdd(b,
			LLVMBuildMul(b, n, c64(&g, s->K), ""), kj, ""), c64(&g, 0), "");
		LLVMValueRef v = LLVMBuildLoad2(b, g.f32,
			LLVMBuildGEP2(b, g.f32, w, &at, 1, ""), "");
		if (scale) {
			LLVMValueRef kk = LLVMBuildSelect(b, ok, kj, c64(&g, 0), "");
			v = LLVMBuildFMul(b, v, LLVMBuildLoad2(b, g.f32,
				LLVMBuildGEP2(b, g.f32, scale, &kk, 1, ""), ""), "");
		}
		x[j] = LLVMBuildSelect(b, ok, v, LLVMConstReal(g.f32, 0.0), "");
	}
	for (int j = 0; j < 4; j++) {
		LLVMValueRef h32, l32;
		if (bf) {
			h32 = pack_bf16(&g, x[2 * j], x[2 * j + 1]);
		} else {
			split_tf32(&g, x[j], &h32, &l32);
			lo = LLVMBuildInsertElement(b, lo, l32, c32(&g, j), "");
		}
		hi = LLVMBuildInsertElement(b, hi, h32, c32(&g, j), "");
	}
	LLVMValueRef off = LLVMBuildAdd(b,
		LLVMBuildMul(b, blk, c64(&g, wg_buf_bytes(&g)), ""),
		LLVMBuildMul(b, c, c64(&g, 16), ""), "");
	LLVMSetAlignment(LLVMBuildStore(b, hi,
		LLVMBuildGEP2(b, i8, dst, &off, 1, "")), 16);
	if (!bf) {
		off = LLVMBuildAdd(b, off, c64(&g, wg_part_bytes(&g, g.bn)), "");
		LLVMSetAlignment(LLVMBuildStore(b, lo,
			LLVMBuildGEP2(b, i8, dst, &off, 1, "")), 16);
	}
}
