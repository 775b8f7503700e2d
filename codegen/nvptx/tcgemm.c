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
 * a SM (174-212 registers), 29% of issue slots busy.
 *
 * Everything is emitted through the LLVM C API as plain IR plus NVVM
 * intrinsics; accumulators are allocas in the function's entry block,
 * which mem2reg turns into registers.
 */
#include "tcgemm.h"

#include "common/diag.h"

enum { BM = 128, BK = 32, LDF = BK + 4, WARPS = 8, STAGES = 3 };

typedef struct Gen {
	LLVMModuleRef mod;
	LLVMContextRef ctx;
	LLVMBuilderRef b;
	LLVMValueRef fn;
	const TcgSpec *s;
	LLVMTypeRef i1, i32, i64, f32, bf16, ptr, ptr1, ptr3;
	int bn, wm, wn, wtm, wtn, mt, nt;
	int wrows;             /* rows of W's shared tile (>= BN) */
	int stage_floats;      /* shared floats of one stage */
	LLVMValueRef as, ws;   /* the landed stage being converted */
	int frag_words;        /* 32-bit words of the converted fragments */
	LLVMValueRef tid, lane, warp, lane_g, lane_t, warp_m, warp_n;
	LLVMValueRef row0, col0, m, k0;
	LLVMValueRef acc;      /* alloca [MT*NT*4] float */
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

static LLVMValueRef dyn_shared(Gen *g);

/* Words of the converted fragments and the first word of each part
 * (after the STAGES landed stages): tf32x3 keeps A's high parts, A's low
 * parts, W's high parts and W's low parts; bf16 keeps A and W. A block is
 * one mma tile's operand for one k step, 32 lanes of 4 words (A) or 2
 * (W), a lane's words together: a lane reads its operand with one vector
 * load, and a warp's load covers contiguous words (no bank conflicts). */
static int ksteps(const Gen *g)
{
	return BK / (g->s->kind == TCG_BF16 ? 16 : 8);
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
	int parts = g->s->kind == TCG_BF16 ? 1 : 2;

	return STAGES * g->stage_floats +
	       (which ? parts * a_words(g) : 0) +
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
	g->ws = float_at(g, dyn_shared(g), addi(g, at, BM * LDF));
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
	g->wrows = g->bn;
	g->stage_floats = (BM + g->wrows) * LDF;
	g->frag_words = (s->kind == TCG_BF16 ? 1 : 2) * (a_words(g) + w_words(g));
}

int64_t tcg_shmem_bytes(const TcgSpec *s)
{
	Gen g = { 0 };

	geometry(&g, s);
	return ((int64_t)STAGES * g.stage_floats + g.frag_words) * 4;
}

/* Issues the copies of slice k0 of a matrix (rows r0.., valid below lim,
 * ld floats apart) into the shared tile sh of `rows` rows: 16-byte
 * copies when vec (rows 16-byte aligned, K % 4 == 0), else 4-byte ones;
 * bytes past the matrix are zero-filled (source size 0). */
static void copy_slice(Gen *g, LLVMValueRef base, int64_t ld, int rows,
                       LLVMValueRef r0, LLVMValueRef lo, LLVMValueRef lim,
                       LLVMValueRef k0, bool vec, LLVMValueRef sh)
{
	int width = vec ? 4 : 1;
	int per_row = BK / width, total = rows * per_row;
	LLVMTypeRef pt[3] = { g->ptr3, g->ptr1, g->i32 };
	const char *name = vec ? "llvm.nvvm.cp.async.cg.shared.global.16.s"
	                       : "llvm.nvvm.cp.async.ca.shared.global.4.s";

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
			LLVMBuildGEP2(g->b, g->f32, base, &off, 1, ""), g->ptr1, "");
		LLVMValueRef dst = float_at(g, sh, LLVMBuildAdd(g->b,
			LLVMBuildMul(g->b, r, c32(g, LDF), ""), cc, ""));
		LLVMValueRef args[3] = { dst, src,
			LLVMBuildSelect(g->b, ok, c32(g, width * 4), c32(g, 0), "") };
		LLVMBasicBlockRef yes = NULL, next = NULL;

		if ((i + 1) * TCG_THREADS > total) {
			/* the last round: only the first threads have a piece */
			yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tcg.cp");
			next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tcg.cp.next");
			LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, idx,
			                                    c32(g, total), ""), yes, next);
			LLVMPositionBuilderAtEnd(g->b, yes);
		}
		intrinsic(g, name, LLVMVoidTypeInContext(g->ctx), pt, 3, args);
		if (yes) {
			LLVMBuildBr(g->b, next);
			LLVMPositionBuilderAtEnd(g->b, next);
		}
	}
}

/* Copies slice kt (an i64 value) into stage st (i32), if kt < nk; then
 * commits a group (always, so that the waits count slices). */
static void issue(Gen *g, LLVMValueRef a, LLVMValueRef w, LLVMValueRef kt,
                  int nk, LLVMValueRef st)
{
	bool avec = g->s->a_vec4 && g->s->K % 4 == 0 && g->s->lda % 4 == 0;
	LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn,
	                                                      "tcg.issue");
	LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn,
	                                                       "tcg.issued");
	LLVMValueRef k0 = LLVMBuildMul(g->b, kt, c64(g, BK), "");

	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, kt, c64(g, nk), ""),
	                yes, next);
	LLVMPositionBuilderAtEnd(g->b, yes);
	stage_tiles(g, st);
	copy_slice(g, a, g->s->lda, BM, g->row0, g->s->a_lo, g->m, k0, avec,
	           g->as);
	copy_slice(g, w, g->s->K, g->wrows, g->col0, NULL, c64(g, g->s->N), k0,
	           g->s->K % 4 == 0, g->ws);
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
		LLVMBuildMul(g->b, row, c32(g, LDF), ""), col, "")), "");
}

/* A[r][k] of the landed slice after the caller's prologue (r, k: i32
 * tile coordinates); zero outside the matrix (the copy zero-filled it,
 * but a prologue of 0 need not be 0). The row handed to the prologue is
 * always one of the tile's. */
static LLVMValueRef a_get(Gen *g, LLVMValueRef r, LLVMValueRef k)
{
	LLVMValueRef v = sh_get(g, g->as, r, k), grow, gk, ok;

	if (!g->s->xform)
		return v;
	grow = LLVMBuildAdd(g->b, g->row0, LLVMBuildZExt(g->b, r, g->i64, ""), "");
	gk = LLVMBuildAdd(g->b, g->k0, LLVMBuildZExt(g->b, k, g->i64, ""), "");
	ok = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, grow, g->m, ""),
		LLVMBuildICmp(g->b, LLVMIntSLT, gk, c64(g, g->s->K), ""), "");
	if (g->s->a_lo)
		ok = LLVMBuildAnd(g->b, ok, LLVMBuildICmp(g->b, LLVMIntSGE, grow,
		                                         g->s->a_lo, ""), "");
	v = g->s->xform(g->s->u, g->b, grow,
	                LLVMBuildSelect(g->b, ok, gk, c64(g, 0), ""), v);
	return LLVMBuildSelect(g->b, ok, v, LLVMConstReal(g->f32, 0.0), "");
}

/* Calls each(g, blk) for blocks warp, warp + WARPS, ... below n (the
 * warp index is uniform, so a warp takes a branch whole). */
static void per_warp_blocks(Gen *g, int n, void (*each)(Gen *, LLVMValueRef))
{
	for (int j = 0; j * WARPS < n; j++) {
		LLVMValueRef blk = addi(g, g->warp, j * WARPS);
		LLVMBasicBlockRef yes = NULL, next = NULL;

		if ((j + 1) * WARPS > n) {
			yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tcg.cv");
			next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tcg.cv.next");
			LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, blk,
			                                    c32(g, n), ""), yes, next);
			LLVMPositionBuilderAtEnd(g->b, yes);
		}
		each(g, blk);
		if (yes) {
			LLVMBuildBr(g->b, next);
			LLVMPositionBuilderAtEnd(g->b, next);
		}
	}
}

/* One A block: the lane's fragment of mma tile rows mtile * 16.. at k
 * step ks, as the PTX ISA lays it out (.tf32 m16n8k8: a0 (g, t), a1
 * (g+8, t), a2 (g, t+4), a3 (g+8, t+4); .bf16 m16n8k16: the same with
 * pairs of consecutive k, columns 2t and 2t+8, the lower k in the low
 * half). */
static void convert_a(Gen *g, LLVMValueRef blk)
{
	LLVMValueRef ks = LLVMBuildUDiv(g->b, blk, c32(g, BM / 16), "");
	LLVMValueRef r = LLVMBuildAdd(g->b, LLVMBuildMul(g->b,
		LLVMBuildURem(g->b, blk, c32(g, BM / 16), ""), c32(g, 16), ""),
		g->lane_g, "");
	LLVMValueRef rows[4] = { r, addi(g, r, 8), r, addi(g, r, 8) };
	LLVMValueRef idx = frag_index(g, blk, 4), hi[4], lo[4];

	if (g->s->kind == TCG_BF16) {
		LLVMValueRef k = LLVMBuildAdd(g->b,
			LLVMBuildMul(g->b, ks, c32(g, 16), ""),
			LLVMBuildMul(g->b, g->lane_t, c32(g, 2), ""), "");
		for (int i = 0; i < 4; i++) {
			LLVMValueRef kc = i >= 2 ? addi(g, k, 8) : k;
			hi[i] = pack_bf16(g, a_get(g, rows[i], kc),
			                  a_get(g, rows[i], addi(g, kc, 1)));
		}
		frag_store(g, part_at(g, 0, 0), idx, 4, hi);
		return;
	}
	LLVMValueRef k = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, ks, c32(g, 8), ""),
	                              g->lane_t, "");
	LLVMValueRef cols[4] = { k, k, addi(g, k, 4), addi(g, k, 4) };
	for (int i = 0; i < 4; i++)
		split_tf32(g, a_get(g, rows[i], cols[i]), &hi[i], &lo[i]);
	frag_store(g, part_at(g, 0, 0), idx, 4, hi);
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

	if (g->s->kind == TCG_BF16) {
		LLVMValueRef k = LLVMBuildAdd(g->b,
			LLVMBuildMul(g->b, ks, c32(g, 16), ""),
			LLVMBuildMul(g->b, g->lane_t, c32(g, 2), ""), "");
		for (int i = 0; i < 2; i++) {
			LLVMValueRef kc = i ? addi(g, k, 8) : k;
			hi[i] = pack_bf16(g, sh_get(g, g->ws, n, kc),
			                  sh_get(g, g->ws, n, addi(g, kc, 1)));
		}
		frag_store(g, part_at(g, 1, 0), idx, 2, hi);
		return;
	}
	LLVMValueRef k = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, ks, c32(g, 8), ""),
	                              g->lane_t, "");
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

void tcg_emit(LLVMModuleRef mod, LLVMBuilderRef b, LLVMValueRef fn,
              const TcgSpec *s, LLVMValueRef a, LLVMValueRef w,
              LLVMValueRef m)
{
	Gen g = { .mod = mod, .ctx = LLVMGetModuleContext(mod), .b = b,
	          .fn = fn };
	int nacc, nk;
	LLVMValueRef bid, ncol, warp, lane, kt, zero, next, st;
	LLVMValueRef inc[2];
	LLVMBasicBlockRef head, body, done, from[2];
	LLVMTypeRef i32t;

	HY_ASSERT(s->N > 0 && s->K > 0 && s->lda >= s->K && s->epi);
	g.i1 = LLVMInt1TypeInContext(g.ctx);
	g.i32 = LLVMInt32TypeInContext(g.ctx);
	g.i64 = LLVMInt64TypeInContext(g.ctx);
	g.f32 = LLVMFloatTypeInContext(g.ctx);
	g.bf16 = LLVMBFloatTypeInContext(g.ctx);
	g.ptr = LLVMPointerTypeInContext(g.ctx, 0);
	g.ptr1 = LLVMPointerTypeInContext(g.ctx, 1);
	g.ptr3 = LLVMPointerTypeInContext(g.ctx, 3);
	i32t = g.i32;
	geometry(&g, s);
	nacc = g.mt * g.nt * 4;
	g.m = m;
	g.acc = entry_array(&g, nacc, "tcg.acc");

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

	if (s->tile_begin)
		s->tile_begin(s->u, b, g.row0, g.tid);
	/* slices 0 .. STAGES-2 in flight; then for (kt = 0; kt < nk; kt++):
	 * wait for slice kt, a barrier (its copies by every thread are in,
	 * and every warp is done with slice kt - 1, whose stage the next
	 * copy reuses), issue slice kt + STAGES - 1, multiply slice kt */
	nk = (int)((s->K + BK - 1) / BK);
	for (int i = 0; i < STAGES - 1; i++)
		issue(&g, a, w, c64(&g, i), nk, c32(&g, i));
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
	g.k0 = LLVMBuildMul(b, kt, c64(&g, BK), "");
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
