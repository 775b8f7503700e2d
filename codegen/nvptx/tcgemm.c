/*
 * tcgemm.c - the tensor-core GEMM of the NVPTX target (tcgemm.h says
 * what it computes and for whom).
 *
 * The shape of the kernel, for a block tile of BM = 128 rows by BN
 * columns and K in steps of BK = 32:
 *   - 8 warps in a WM x WN grid, each warp a WTM x WTN piece of the tile,
 *     made of MT x NT mma tiles of 16 x 8 (fp32 accumulators: 4 a
 *     thread per mma tile);
 *   - A's and W's BK-wide slices staged through shared memory, rows
 *     padded to BK + 4 floats so that the fragment reads (lane g = lane
 *     / 4 reads row g, column lane % 4) fall on 32 different banks;
 *   - the next slice loaded into registers while the current one is
 *     multiplied (one shared buffer, two barriers per slice);
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

enum { BM = 128, BK = 32, PAD = 4, LD = BK + PAD, WARPS = 8 };

typedef struct Gen {
	LLVMModuleRef mod;
	LLVMContextRef ctx;
	LLVMBuilderRef b;
	LLVMValueRef fn;
	const TcgSpec *s;
	LLVMTypeRef i1, i32, i64, f32, bf16, ptr, ptr3;
	int bn, wm, wn, wtm, wtn, mt, nt;
	LLVMValueRef as, ws;   /* shared tiles */
	LLVMValueRef tid, lane_g, lane_t, warp_m, warp_n;
	LLVMValueRef row0, col0, m;
	LLVMValueRef acc;      /* alloca [MT*NT*4] float */
	LLVMValueRef areg, wreg; /* staging registers */
	int na, nw;            /* staging floats per thread */
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

static LLVMValueRef shared_at(Gen *g, LLVMValueRef base, LLVMValueRef i32idx)
{
	return LLVMBuildGEP2(g->b, g->f32, base, &i32idx, 1, "");
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
	int n = 8;

	while (n < s->N && n < 128)
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

/* Loads one BK-wide slice (k0) of a matrix of `rows` rows starting at
 * r0 (valid below lim) into the staging registers: BM or BN rows by BK
 * floats, TCG_THREADS threads, vec4 when the spec allows (A only). */
static void stage_load(Gen *g, LLVMValueRef base, int64_t ld, int rows,
                       LLVMValueRef r0, LLVMValueRef lim, LLVMValueRef k0,
                       bool vec4, bool is_a, LLVMValueRef reg, int nreg)
{
	int width = vec4 ? 4 : 1;
	int per_row = BK / width;
	int per_thread = rows * per_row / TCG_THREADS;
	LLVMTypeRef vt = LLVMVectorType(g->f32, 4);
	LLVMValueRef zero = LLVMConstReal(g->f32, 0.0);

	for (int i = 0; i < per_thread; i++) {
		LLVMValueRef idx = LLVMBuildAdd(g->b, g->tid,
		                                c32(g, i * TCG_THREADS), "");
		LLVMValueRef r = LLVMBuildUDiv(g->b, idx, c32(g, per_row), "");
		LLVMValueRef cc = LLVMBuildURem(g->b, idx, c32(g, per_row), "");
		LLVMValueRef grow = LLVMBuildAdd(g->b, r0,
			LLVMBuildZExt(g->b, r, g->i64, ""), "");
		LLVMValueRef gk = LLVMBuildAdd(g->b, k0,
			LLVMBuildZExt(g->b, LLVMBuildMul(g->b, cc, c32(g, width), ""),
			              g->i64, ""), "");
		LLVMValueRef ok_r = LLVMBuildICmp(g->b, LLVMIntSLT, grow, lim, "");
		LLVMValueRef ok_k = LLVMBuildICmp(g->b, LLVMIntSLT, gk,
		                                  c64(g, g->s->K), "");
		LLVMValueRef ok = LLVMBuildAnd(g->b, ok_r, ok_k, "");
		LLVMValueRef crow = LLVMBuildSelect(g->b, ok_r, grow, c64(g, 0), "");
		LLVMValueRef ck = LLVMBuildSelect(g->b, ok_k, gk, c64(g, 0), "");
		LLVMValueRef off = LLVMBuildAdd(g->b,
			LLVMBuildMul(g->b, crow, c64(g, ld), ""), ck, "");
		LLVMValueRef p = LLVMBuildGEP2(g->b, g->f32, base, &off, 1, "");
		LLVMValueRef v[4];

		if (vec4) {
			LLVMValueRef l = LLVMBuildLoad2(g->b, vt, p, "");
			LLVMSetAlignment(l, 16);
			for (int j = 0; j < 4; j++)
				v[j] = LLVMBuildExtractElement(g->b, l, c32(g, j), "");
		} else {
			v[0] = LLVMBuildLoad2(g->b, g->f32, p, "");
			LLVMSetAlignment(v[0], 4);
		}
		for (int j = 0; j < width; j++) {
			if (is_a && g->s->xform)
				v[j] = g->s->xform(g->s->u, g->b, crow,
				                   LLVMBuildAdd(g->b, ck, c64(g, j), ""),
				                   v[j]);
			v[j] = LLVMBuildSelect(g->b, ok, v[j], zero, "");
			LLVMBuildStore(g->b, v[j], slot(g, reg, nreg, i * width + j));
		}
	}
}

/* Stores the staging registers into the shared tile (same mapping). */
static void stage_store(Gen *g, LLVMValueRef sh, int rows, bool vec4,
                        LLVMValueRef reg, int nreg)
{
	int width = vec4 ? 4 : 1;
	int per_row = BK / width;
	int per_thread = rows * per_row / TCG_THREADS;

	for (int i = 0; i < per_thread; i++) {
		LLVMValueRef idx = LLVMBuildAdd(g->b, g->tid,
		                                c32(g, i * TCG_THREADS), "");
		LLVMValueRef r = LLVMBuildUDiv(g->b, idx, c32(g, per_row), "");
		LLVMValueRef cc = LLVMBuildMul(g->b,
			LLVMBuildURem(g->b, idx, c32(g, per_row), ""), c32(g, width), "");
		LLVMValueRef at = LLVMBuildAdd(g->b,
			LLVMBuildMul(g->b, r, c32(g, LD), ""), cc, "");
		for (int j = 0; j < width; j++) {
			LLVMValueRef v = LLVMBuildLoad2(g->b, g->f32,
				slot(g, reg, nreg, i * width + j), "");
			LLVMBuildStore(g->b, v, shared_at(g, sh,
				LLVMBuildAdd(g->b, at, c32(g, j), "")));
		}
	}
}

/* The float at shared tile sh[row][col] (row, col: i32 values). */
static LLVMValueRef sh_get(Gen *g, LLVMValueRef sh, LLVMValueRef row,
                           LLVMValueRef col)
{
	LLVMValueRef at = LLVMBuildAdd(g->b,
		LLVMBuildMul(g->b, row, c32(g, LD), ""), col, "");
	return LLVMBuildLoad2(g->b, g->f32, shared_at(g, sh, at), "");
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

/* The products of the shared slice into the accumulators. */
static void compute(Gen *g)
{
	bool bf = g->s->kind == TCG_BF16;
	int kstep = bf ? 16 : 8;

	for (int kk = 0; kk < BK; kk += kstep) {
		LLVMValueRef ahi[4][4], alo[4][4], bhi[4][2], blo[4][2];

		for (int mt = 0; mt < g->mt; mt++) {
			LLVMValueRef r = LLVMBuildAdd(g->b, g->warp_m,
			                              addi(g, g->lane_g, mt * 16), "");
			LLVMValueRef r8 = addi(g, r, 8);
			if (bf) {
				LLVMValueRef k = addi(g, LLVMBuildMul(g->b, g->lane_t,
				                                      c32(g, 2), ""), kk);
				LLVMValueRef rows[4] = { r, r8, r, r8 };
				for (int i = 0; i < 4; i++) {
					LLVMValueRef kc = i >= 2 ? addi(g, k, 8) : k;
					ahi[mt][i] = pack_bf16(g,
						sh_get(g, g->as, rows[i], kc),
						sh_get(g, g->as, rows[i], addi(g, kc, 1)));
				}
			} else {
				LLVMValueRef k = addi(g, g->lane_t, kk);
				LLVMValueRef x[4] = {
					sh_get(g, g->as, r, k), sh_get(g, g->as, r8, k),
					sh_get(g, g->as, r, addi(g, k, 4)),
					sh_get(g, g->as, r8, addi(g, k, 4)),
				};
				for (int i = 0; i < 4; i++)
					split_tf32(g, x[i], &ahi[mt][i], &alo[mt][i]);
			}
		}
		for (int nt = 0; nt < g->nt; nt++) {
			LLVMValueRef n = LLVMBuildAdd(g->b, g->warp_n,
			                              addi(g, g->lane_g, nt * 8), "");
			if (bf) {
				LLVMValueRef k = addi(g, LLVMBuildMul(g->b, g->lane_t,
				                                      c32(g, 2), ""), kk);
				for (int i = 0; i < 2; i++) {
					LLVMValueRef kc = i ? addi(g, k, 8) : k;
					bhi[nt][i] = pack_bf16(g, sh_get(g, g->ws, n, kc),
						sh_get(g, g->ws, n, addi(g, kc, 1)));
				}
			} else {
				LLVMValueRef k = addi(g, g->lane_t, kk);
				split_tf32(g, sh_get(g, g->ws, n, k), &bhi[nt][0],
				           &blo[nt][0]);
				split_tf32(g, sh_get(g, g->ws, n, addi(g, k, 4)),
				           &bhi[nt][1], &blo[nt][1]);
			}
		}
		for (int mt = 0; mt < g->mt; mt++)
			for (int nt = 0; nt < g->nt; nt++) {
				int tile = mt * g->nt + nt;
				if (!bf) {
					/* small terms first */
					mma(g, tile, alo[mt], bhi[nt]);
					mma(g, tile, ahi[mt], blo[nt]);
				}
				mma(g, tile, ahi[mt], bhi[nt]);
			}
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

static LLVMValueRef shared_tile(Gen *g, int rows, const char *name)
{
	LLVMTypeRef t = LLVMArrayType2(g->f32, (uint64_t)rows * LD);
	LLVMValueRef v = LLVMAddGlobalInAddressSpace(g->mod, t, name, 3);

	LLVMSetInitializer(v, LLVMGetUndef(t));
	LLVMSetLinkage(v, LLVMInternalLinkage);
	LLVMSetAlignment(v, 16);
	return v;
}

void tcg_emit(LLVMModuleRef mod, LLVMBuilderRef b, LLVMValueRef fn,
              const TcgSpec *s, LLVMValueRef a, LLVMValueRef w,
              LLVMValueRef m)
{
	Gen g = { .mod = mod, .ctx = LLVMGetModuleContext(mod), .b = b,
	          .fn = fn, .s = s };
	int bm, nacc, nk;
	LLVMValueRef bid, ncol, warp, lane, kt, zero;
	LLVMBasicBlockRef head, body, more, store, done;
	bool a_vec = s->a_vec4 && s->K % 4 == 0 && s->lda % 4 == 0;
	bool w_vec = s->K % 4 == 0, wv;

	HY_ASSERT(s->N > 0 && s->K > 0 && s->lda >= s->K && s->epi);
	g.i1 = LLVMInt1TypeInContext(g.ctx);
	g.i32 = LLVMInt32TypeInContext(g.ctx);
	g.i64 = LLVMInt64TypeInContext(g.ctx);
	g.f32 = LLVMFloatTypeInContext(g.ctx);
	g.bf16 = LLVMBFloatTypeInContext(g.ctx);
	g.ptr = LLVMPointerTypeInContext(g.ctx, 0);
	g.ptr3 = LLVMPointerTypeInContext(g.ctx, 3);
	tcg_tile(s, &bm, &g.bn);
	layout(g.bn, &g.wm, &g.wn);
	g.wtm = BM / g.wm;
	g.wtn = g.bn / g.wn;
	g.mt = g.wtm / 16;
	g.nt = g.wtn / 8;
	HY_ASSERT(g.mt >= 1 && g.nt >= 1 && g.wm * g.wn == WARPS);
	nacc = g.mt * g.nt * 4;
	g.na = BM * BK / TCG_THREADS;
	g.nw = g.bn * BK / TCG_THREADS;
	if (g.nw < 1)
		g.nw = 1;
	g.m = m;

	g.as = shared_tile(&g, BM, "tcg.a");
	g.ws = shared_tile(&g, g.bn, "tcg.w");
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

	/* W's rows past N read as zero (lim N); a W slice of fewer floats
	 * than the block has threads x 4 is staged by scalar loads */
	nk = (int)((s->K + BK - 1) / BK);
	wv = w_vec && g.bn * BK >= TCG_THREADS * 4;
	stage_load(&g, a, s->lda, BM, g.row0, m, c64(&g, 0), a_vec, true,
	           g.areg, g.na);
	stage_load(&g, w, s->K, g.bn, g.col0, c64(&g, s->N), c64(&g, 0), wv,
	           false, g.wreg, g.nw);
	stage_store(&g, g.as, BM, a_vec, g.areg, g.na);
	stage_store(&g, g.ws, g.bn, wv, g.wreg, g.nw);
	barrier(&g);

	/* for (kt = 0; kt < nk; kt++) */
	head = LLVMGetInsertBlock(b);
	body = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k");
	more = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k.load");
	store = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k.store");
	done = LLVMAppendBasicBlockInContext(g.ctx, fn, "tcg.k.done");
	LLVMBuildBr(b, body);
	LLVMPositionBuilderAtEnd(b, body);
	kt = LLVMBuildPhi(b, g.i64, "tcg.kt");
	{
		LLVMValueRef next = LLVMBuildAdd(b, kt, c64(&g, 1), "");
		LLVMValueRef has = LLVMBuildICmp(b, LLVMIntSLT, next, c64(&g, nk),
		                                 "");
		LLVMValueRef k0 = LLVMBuildMul(b, next, c64(&g, BK), "");
		LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(g.ctx, fn,
		                                                        "tcg.k.mul");
		LLVMValueRef inc[2];
		LLVMBasicBlockRef from[2];

		LLVMBuildCondBr(b, has, more, after);
		LLVMPositionBuilderAtEnd(b, more);
		stage_load(&g, a, s->lda, BM, g.row0, m, k0, a_vec, true, g.areg,
		           g.na);
		stage_load(&g, w, s->K, g.bn, g.col0, c64(&g, s->N), k0, wv, false,
		           g.wreg, g.nw);
		LLVMBuildBr(b, after);
		LLVMPositionBuilderAtEnd(b, after);
		compute(&g);
		barrier(&g);
		LLVMBuildCondBr(b, has, store, done);
		LLVMPositionBuilderAtEnd(b, store);
		stage_store(&g, g.as, BM, a_vec, g.areg, g.na);
		stage_store(&g, g.ws, g.bn, wv, g.wreg, g.nw);
		barrier(&g);
		LLVMBuildBr(b, body);
		inc[0] = c64(&g, 0);
		from[0] = head;
		inc[1] = next;
		from[1] = LLVMGetInsertBlock(b);
		LLVMAddIncoming(kt, inc, from, 2);
	}
	LLVMPositionBuilderAtEnd(b, done);
	epilogue(&g);
}
