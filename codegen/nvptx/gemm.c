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

enum { TM = 8, BM = 16 * TM, BK = 16 };

static int64_t tn_for(int64_t N)
{
	int64_t tn = 1;
	while (tn < 8 && 16 * tn < N)
		tn *= 2;
	return tn;
}

void nv_gemm_tile(int64_t N, int64_t *bm, int64_t *bn)
{
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

/* Per-row mean and 1/sqrt(var + eps) of the block's BM rows into
 * smean/srstd: 256 / BM threads a row, combined by shuffles. */
static void ln_stats(CgContext *c, const NvGemm *g, LLVMValueRef tid,
                     LLVMValueRef bm, LLVMValueRef smean, LLVMValueRef srstd)
{
	int64_t tpr = NV_THREADS / BM;
	LLVMValueRef T = i64c(c, tpr), K = i64c(c, g->K);
	LLVMValueRef r = LLVMBuildSDiv(c->b, tid, T, "lr");
	LLVMValueRef part = LLVMBuildSRem(c->b, tid, T, "lpart");
	LLVMValueRef m = add(c, mul(c, bm, i64c(c, BM)), r);
	LLVMValueRef arow = add(c, g->a_row0, m);
	LLVMValueRef valid = and2(c, icmp(c, LLVMIntSLT, m, g->M),
	                          icmp(c, LLVMIntSGE, arow, i64c(c, 0)));
	LLVMValueRef base = mul(c, sel(c, valid, arow, i64c(c, 0)), K);
	LLVMValueRef sum = cg_var(c, c->t_f32, NULL, "lsum");
	LLVMValueRef sq = cg_var(c, c->t_f32, NULL, "lsq");
	Loop l1, l2;

	LLVMBuildStore(c->b, f32c(c, 0), sum);
	LLVMValueRef it = cg_loop_open(c, &l1, i64c(c, 0),
	                               i64c(c, (g->K + tpr - 1) / tpr), "ls1");
	LLVMValueRef k = add(c, mul(c, it, T), part);
	LLVMValueRef ok = icmp(c, LLVMIntSLT, k, K);
	LLVMValueRef x = ld(c, g->a, add(c, base, sel(c, ok, k, i64c(c, 0))));
	LLVMBuildStore(c->b, f_add(c, ld_var(c, c->t_f32, sum),
	                           sel(c, ok, x, f32c(c, 0))), sum);
	cg_loop_close(c, &l1);
	LLVMValueRef s = ld_var(c, c->t_f32, sum);
	for (int64_t o = 1; o < tpr; o *= 2)
		s = f_add(c, s, nv_shfl_xor(c, s, (int)o));
	LLVMValueRef mean = LLVMBuildFDiv(c->b, s, f32c(c, (double)g->K), "mean");
	LLVMBuildStore(c->b, f32c(c, 0), sq);
	it = cg_loop_open(c, &l2, i64c(c, 0), i64c(c, (g->K + tpr - 1) / tpr),
	                  "ls2");
	k = add(c, mul(c, it, T), part);
	ok = icmp(c, LLVMIntSLT, k, K);
	x = ld(c, g->a, add(c, base, sel(c, ok, k, i64c(c, 0))));
	LLVMValueRef xc = f_sub(c, x, mean);
	LLVMValueRef q = fma3(c, xc, xc, ld_var(c, c->t_f32, sq));
	LLVMBuildStore(c->b, sel(c, ok, q, ld_var(c, c->t_f32, sq)), sq);
	cg_loop_close(c, &l2);
	LLVMValueRef v = ld_var(c, c->t_f32, sq);
	for (int64_t o = 1; o < tpr; o *= 2)
		v = f_add(c, v, nv_shfl_xor(c, v, (int)o));
	v = f_add(c, f_mul(c, v, f32c(c, 1.0 / (double)g->K)), f32c(c, g->eps));
	LLVMValueRef rstd = LLVMBuildFDiv(
	    c->b, f32c(c, 1.0), cg_intrinsic1(c, "llvm.sqrt", c->t_f32, v), "rstd");
	LLVMBasicBlockRef bw = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "lw");
	LLVMBasicBlockRef bn = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "ln");
	LLVMBuildCondBr(c->b, icmp(c, LLVMIntEQ, part, i64c(c, 0)), bw, bn);
	LLVMPositionBuilderAtEnd(c->b, bw);
	st(c, smean, r, mean);
	st(c, srstd, r, rstd);
	LLVMBuildBr(c->b, bn);
	LLVMPositionBuilderAtEnd(c->b, bn);
	nv_barrier(c);
}

void nv_gemm_body(CgContext *c, const NvGemm *g)
{
	int64_t TN = tn_for(g->N), BN = 16 * TN;
	int64_t nb = (g->N + BN - 1) / BN;
	LLVMValueRef K = i64c(c, g->K), N = i64c(c, g->N), zero = i64c(c, 0);
	LLVMValueRef As = nv_shared(c, c->t_f32, BK * (BM + 1), "As");
	LLVMValueRef Bs = nv_shared(c, c->t_f32, BK * (BN + 1), "Bs");
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
		ln_stats(c, g, tid, bm, smean, srstd);
	for (int i = 0; i < TM; i++)
		for (int j = 0; j < TN; j++)
			acc[i][j] = cg_var(c, c->t_f32, f32c(c, 0), "acc");

	LLVMValueRef kt = cg_loop_open(c, &lk, zero, i64c(c, (g->K + BK - 1) / BK),
	                               "kt");
	LLVMValueRef k0 = mul(c, kt, i64c(c, BK));
	/* A's tile: BM x BK elements, 8 a thread, k fastest */
	LLVMValueRef av[BM * BK / NV_THREADS], ai[BM * BK / NV_THREADS];
	for (int r = 0; r < BM * BK / NV_THREADS; r++) {
		LLVMValueRef e = add(c, tid, i64c(c, r * NV_THREADS));
		LLVMValueRef m = LLVMBuildSDiv(c->b, e, i64c(c, BK), "");
		LLVMValueRef k = LLVMBuildSRem(c->b, e, i64c(c, BK), "");
		LLVMValueRef gm = add(c, mul(c, bm, i64c(c, BM)), m);
		LLVMValueRef arow = add(c, g->a_row0, gm);
		LLVMValueRef kk = add(c, k0, k);
		LLVMValueRef ok = and2(c, and2(c, icmp(c, LLVMIntSLT, gm, g->M),
		                               icmp(c, LLVMIntSGE, arow, zero)),
		                       icmp(c, LLVMIntSLT, kk, K));
		LLVMValueRef idx = sel(c, ok, add(c, mul(c, arow, K), kk), zero);
		LLVMValueRef x = ld(c, g->a, idx);
		if (g->ln_g) {
			LLVMValueRef kc = sel(c, ok, kk, zero);
			x = f_mul(c, f_sub(c, x, ld(c, smean, m)), ld(c, srstd, m));
			x = f_add(c, f_mul(c, x, ld(c, g->ln_g, kc)), ld(c, g->ln_b, kc));
		}
		av[r] = sel(c, ok, x, f32c(c, 0));
		ai[r] = add(c, mul(c, k, i64c(c, BM + 1)), m);
	}
	LLVMValueRef wv[8], wi[8];
	for (int r = 0; r < TN; r++) {
		LLVMValueRef e = add(c, tid, i64c(c, r * NV_THREADS));
		LLVMValueRef n = LLVMBuildSDiv(c->b, e, i64c(c, BK), "");
		LLVMValueRef k = LLVMBuildSRem(c->b, e, i64c(c, BK), "");
		LLVMValueRef gn = add(c, mul(c, bn, i64c(c, BN)), n);
		LLVMValueRef kk = add(c, k0, k);
		LLVMValueRef ok = and2(c, icmp(c, LLVMIntSLT, gn, N),
		                       icmp(c, LLVMIntSLT, kk, K));
		LLVMValueRef x = ld(c, g->w, sel(c, ok, add(c, mul(c, gn, K), kk),
		                                 zero));
		wv[r] = sel(c, ok, x, f32c(c, 0));
		wi[r] = add(c, mul(c, k, i64c(c, BN + 1)), n);
	}
	for (int r = 0; r < BM * BK / NV_THREADS; r++)
		st(c, As, ai[r], av[r]);
	for (int r = 0; r < TN; r++)
		st(c, Bs, wi[r], wv[r]);
	nv_barrier(c);
	LLVMValueRef a[TM], b[8];
	LLVMValueRef accv[TM][8];
	for (int i = 0; i < TM; i++)
		for (int j = 0; j < TN; j++)
			accv[i][j] = ld_var(c, c->t_f32, acc[i][j]);
	for (int kk = 0; kk < BK; kk++) {
		for (int i = 0; i < TM; i++)
			a[i] = ld(c, As, add(c, ty, i64c(c, kk * (BM + 1) + 16 * i)));
		for (int j = 0; j < TN; j++)
			b[j] = ld(c, Bs, add(c, tx, i64c(c, kk * (BN + 1) + 16 * j)));
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
		                     add(c, ty, i64c(c, 16 * i)));
		for (int j = 0; j < TN; j++) {
			LLVMValueRef n = add(c, mul(c, bn, i64c(c, BN)),
			                     add(c, tx, i64c(c, 16 * j)));
			LLVMValueRef ok = and2(c, icmp(c, LLVMIntSLT, m, g->M),
			                       icmp(c, LLVMIntSLT, n, N));
			LLVMBasicBlockRef bs = LLVMAppendBasicBlockInContext(
			    c->ctx, c->fn, "ep");
			LLVMBasicBlockRef bx = LLVMAppendBasicBlockInContext(
			    c->ctx, c->fn, "ep.next");
			LLVMBuildCondBr(c->b, ok, bs, bx);
			LLVMPositionBuilderAtEnd(c->b, bs);
			LLVMValueRef y = ld_var(c, c->t_f32, acc[i][j]);
			if (g->bias)
				y = f_add(c, y, ld(c, g->bias, n));
			y = cg_act_value(c, g->act, y);
			if (g->res)
				y = f_add(c, y, ld(c, g->res,
				                   add(c, mul(c, add(c, g->res_row0, m), N),
				                       n)));
			st(c, g->dst, add(c, mul(c, add(c, g->dst_row0, m), N), n), y);
			LLVMBuildBr(c->b, bx);
			LLVMPositionBuilderAtEnd(c->b, bx);
		}
	}
}
