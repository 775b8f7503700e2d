/*
 * rows.c - the CPU kernels of the primitive ops: embed, layernorm,
 * linear (through gemm.c), the short depthwise convolution, the direct
 * long convolution and the call to the runtime's FFT one, slice, the
 * broadcasting binary ops, the unary ops, expmod and pos_emb.
 *
 * Each is the body of `void @name(ptr out, ptr src.., i64 B, i64 L,
 * i64 r0, i64 r1)` (cg_kernel_begin), specialised to the node's constant
 * dims. A row-wise kernel (entry.c) computes rows [r0, r1) of its output,
 * so that the pool can split it; the long convolutions compute all of it.
 * Reductions carry reassoc+contract so they vectorise; nothing else is
 * fast-math.
 */
#include "cpu.h"

#include <math.h>
#include <stdlib.h>

/* out[t, :] = table[tokens[t], :]; ids were checked by the caller. */
void cg_k_embed(CgContext *c, const Node *n, LLVMValueRef out,
                LLVMValueRef *s)
{
	LLVMValueRef D = i64c(c, n->src[0]->type.dim[1]);
	Loop lt, ld_;

	LLVMValueRef t = cg_loop_open(c, &lt, c->R0, c->R1, "t");
	LLVMValueRef id = LLVMBuildLoad2(c->b, c->t_i32,
	                                 elem(c, c->t_i32, s[1], t), "id");
	LLVMValueRef row = mul(c, LLVMBuildSExt(c->b, id, c->t_i64, ""), D);
	LLVMValueRef orow = mul(c, t, D);
	LLVMValueRef d = cg_loop_open(c, &ld_, i64c(c, 0), D, "d");
	st(c, out, add(c, orow, d), ld(c, s[0], add(c, row, d)));
	cg_loop_close(c, &ld_);
	cg_loop_close(c, &lt);
}

/* One row of layernorm in float, two passes: mean, then the centred
 * variance; x[xb, xb + D) to dst[db, db + D). */
void cg_ln_row(CgContext *c, LLVMValueRef x, LLVMValueRef xb, int64_t Dn,
               LLVMValueRef gamma, LLVMValueRef beta, double eps,
               LLVMValueRef dst, LLVMValueRef db)
{
	LLVMValueRef D = i64c(c, Dn), invD = f32c(c, 1.0 / (double)Dn);
	LLVMValueRef sum = cg_var(c, c->t_f32, NULL, "sum");
	LLVMValueRef sq = cg_var(c, c->t_f32, NULL, "sq");
	Loop l1, l2, l3;

	LLVMBuildStore(c->b, f32c(c, 0), sum);
	LLVMValueRef k = cg_loop_open(c, &l1, i64c(c, 0), D, "k1");
	LLVMBuildStore(c->b,
	               fmf(f_add(c, ld_var(c, c->t_f32, sum),
	                        ld(c, x, add(c, xb, k))),
	                   FM_RED),
	               sum);
	cg_loop_close(c, &l1);
	LLVMValueRef mean = LLVMBuildFDiv(c->b, ld_var(c, c->t_f32, sum),
	                                  f32c(c, (double)Dn), "mean");
	LLVMBuildStore(c->b, f32c(c, 0), sq);
	k = cg_loop_open(c, &l2, i64c(c, 0), D, "k2");
	LLVMValueRef xc = LLVMBuildFSub(c->b, ld(c, x, add(c, xb, k)), mean, "");
	LLVMBuildStore(c->b, fmadd_red(c, ld_var(c, c->t_f32, sq), xc, xc), sq);
	cg_loop_close(c, &l2);
	LLVMValueRef v = f_add(c, f_mul(c, ld_var(c, c->t_f32, sq), invD),
	                      f32c(c, eps));
	LLVMValueRef inv = LLVMBuildFDiv(c->b, f32c(c, 1.0),
	                                 cg_intrinsic1(c, "llvm.sqrt", c->t_f32, v),
	                                 "inv");
	k = cg_loop_open(c, &l3, i64c(c, 0), D, "k3");
	xc = LLVMBuildFSub(c->b, ld(c, x, add(c, xb, k)), mean, "");
	st(c, dst, add(c, db, k),
	   f_add(c, f_mul(c, f_mul(c, xc, inv), ld(c, gamma, k)),
	         ld(c, beta, k)));
	cg_loop_close(c, &l3);
}

void cg_k_layernorm(CgContext *c, const Node *n, LLVMValueRef out,
                    LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	int64_t Dn = t->dim[t->rank - 1];
	Loop lr;

	LLVMValueRef r = cg_loop_open(c, &lr, c->R0, c->R1, "r");
	LLVMValueRef base = mul(c, r, i64c(c, Dn));
	cg_ln_row(c, s[0], base, Dn, s[1], s[2], n->fattr[0], out, base);
	cg_loop_close(c, &lr);
}

/* out[r, j] = x[r, :] . w[j, :] + b[j] */
void cg_k_linear(CgContext *c, const Node *n, LLVMValueRef out,
                 LLVMValueRef *s)
{
	const TensorType *t = &n->src[0]->type;

	cg_project_rows(c, n, 1, s, s[0], NULL, NULL, NULL,
	                n->nsrc == 3 ? s[2] : NULL, t->dim[t->rank - 1],
	                n->src[1]->type.dim[0], c->R0, sub(c, c->R1, c->R0), out,
	                c->R0);
}

/* Causal depthwise: y[t,c] = bias[c] + sum_{j >= K-1-t} w[c,j] x[t-K+1+j,c] */
void cg_k_dwconv(CgContext *c, const Node *n, LLVMValueRef out,
                 LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	LLVMValueRef Ln = dimv(c, t->dim[1]), C = i64c(c, t->dim[2]);
	int64_t Kn = n->src[1]->type.dim[1];
	LLVMValueRef K = i64c(c, Kn), Km1 = i64c(c, Kn - 1);
	LLVMValueRef acc = cg_var(c, c->t_f32, NULL, "acc");
	Loop lr, lc, lj;

	LLVMValueRef r = cg_loop_open(c, &lr, c->R0, c->R1, "r");
	LLVMValueRef tt = LLVMBuildSRem(c->b, r, Ln, "t");
	LLVMValueRef bl = sub(c, r, tt);
	LLVMValueRef row = mul(c, r, C);
	LLVMValueRef lo = LLVMBuildSelect(
	    c->b, LLVMBuildICmp(c->b, LLVMIntSLT, tt, Km1, ""), sub(c, Km1, tt),
	    i64c(c, 0), "lo");
	LLVMValueRef ch = cg_loop_open(c, &lc, i64c(c, 0), C, "c");
	LLVMBuildStore(c->b, n->nsrc == 3 ? ld(c, s[2], ch) : f32c(c, 0), acc);
	LLVMValueRef j = cg_loop_open(c, &lj, lo, K, "j");
	LLVMValueRef src = sub(c, add(c, tt, j), Km1);
	LLVMValueRef x = ld(c, s[0], add(c, mul(c, add(c, bl, src), C), ch));
	LLVMValueRef w = ld(c, s[1], add(c, mul(c, ch, K), j));
	LLVMBuildStore(c->b, f_add(c, ld_var(c, c->t_f32, acc), f_mul(c, w, x)),
	               acc);
	cg_loop_close(c, &lj);
	st(c, out, add(c, row, ch), ld_var(c, c->t_f32, acc));
	cg_loop_close(c, &lc);
	cg_loop_close(c, &lr);
}

/* Direct causal convolution, accumulated in out along s for every t. */
void cg_k_longconv_direct(CgContext *c, const Node *n, LLVMValueRef out,
                          LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	LLVMValueRef Ln = dimv(c, t->dim[1]), C = i64c(c, t->dim[2]);
	Loop lb, lt, lz, ls, lc;

	LLVMValueRef b = cg_loop_open(c, &lb, i64c(c, 0), dimv(c, t->dim[0]), "b");
	LLVMValueRef bl = mul(c, b, Ln);
	LLVMValueRef tt = cg_loop_open(c, &lt, i64c(c, 0), Ln, "t");
	LLVMValueRef ob = mul(c, add(c, bl, tt), C);
	LLVMValueRef ch = cg_loop_open(c, &lz, i64c(c, 0), C, "z");
	st(c, out, add(c, ob, ch), f32c(c, 0));
	cg_loop_close(c, &lz);
	LLVMValueRef ss = cg_loop_open(c, &ls, i64c(c, 0), add(c, tt, i64c(c, 1)),
	                               "s");
	LLVMValueRef ub = mul(c, add(c, bl, ss), C);
	LLVMValueRef kb = mul(c, sub(c, tt, ss), C);
	ch = cg_loop_open(c, &lc, i64c(c, 0), C, "c");
	LLVMValueRef oi = add(c, ob, ch);
	st(c, out, oi,
	   fmadd_red(c, ld(c, out, oi), ld(c, s[1], add(c, kb, ch)),
	             ld(c, s[0], add(c, ub, ch))));
	cg_loop_close(c, &lc);
	cg_loop_close(c, &ls);
	cg_loop_close(c, &lt);
	cg_loop_close(c, &lb);
}

void cg_call_fft(CgContext *c, const Node *n, LLVMValueRef out,
                 LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	LLVMValueRef a[] = {out, s[0], s[1], dimv(c, t->dim[0]),
	                    dimv(c, t->dim[1]), i64c(c, t->dim[2])};

	cg_call_ext(c, EXT_FFT, a, 6);
}


/* Copy [outer, start:start+len, inner] as 32-bit words (any dtype). */
void cg_k_slice(CgContext *c, const Node *n, LLVMValueRef out,
                LLVMValueRef *s)
{
	const TensorType *t = &n->src[0]->type;
	int axis = (int)n->iattr[0];
	LLVMValueRef inner = numel(c, t, axis + 1, t->rank);
	LLVMValueRef chunk = mul(c, dimv(c, n->type.dim[axis]), inner);
	LLVMValueRef sd = dimv(c, t->dim[axis]);
	Loop lo, lj;

	LLVMValueRef lo0 = i64c(c, 0), hi0 = numel(c, t, 0, axis);
	if (axis == t->rank - 1) { /* row-wise */
		lo0 = c->R0;
		hi0 = c->R1;
	}
	LLVMValueRef i = cg_loop_open(c, &lo, lo0, hi0, "i");
	LLVMValueRef ob = mul(c, i, chunk);
	LLVMValueRef sb = mul(c, add(c, mul(c, i, sd), i64c(c, n->iattr[1])),
	                      inner);
	LLVMValueRef j = cg_loop_open(c, &lj, i64c(c, 0), chunk, "j");
	LLVMValueRef v = LLVMBuildLoad2(c->b, c->t_i32,
	                                elem(c, c->t_i32, s[0], add(c, sb, j)),
	                                "");
	LLVMBuildStore(c->b, v, elem(c, c->t_i32, out, add(c, ob, j)));
	cg_loop_close(c, &lj);
	cg_loop_close(c, &lo);
}

/* The strides of a binary op's two operands over the output's axes,
 * numpy broadcasting aligned on the last axis: 0 on an axis an operand
 * lacks or has as 1. */
void cg_broadcast_strides(CgContext *c, const Node *n,
                          LLVMValueRef stride[2][IR_MAX_RANK])
{
	int R = n->type.rank;

	for (int a = 0; a < 2; a++) {
		const TensorType *t = &n->src[a]->type;
		LLVMValueRef acc = i64c(c, 1);
		for (int k = R - 1; k >= 0; k--) {
			int ka = k - (R - t->rank);
			if (ka < 0 || t->dim[ka] == 1) {
				stride[a][k] = i64c(c, 0);
				continue;
			}
			stride[a][k] = acc;
			acc = mul(c, acc, dimv(c, t->dim[ka]));
		}
	}
}

/* numpy broadcasting aligned on the last axis, over rows [r0, r1): each
 * row's index splits into the leading axes' indices, the last axis is the
 * inner loop, and each operand is indexed through its own strides (0 on a
 * broadcast axis). */
void cg_k_binary(CgContext *c, const Node *n, LLVMValueRef out,
                 LLVMValueRef *s)
{
	const TensorType *o = &n->type;
	int R = o->rank;
	LLVMValueRef stride[2][IR_MAX_RANK], base[2];
	Loop lr, lj;

	cg_broadcast_strides(c, n, stride);
	LLVMValueRef r = cg_loop_open(c, &lr, c->R0, c->R1, "r");
	LLVMValueRef rest = r;
	base[0] = base[1] = i64c(c, 0);
	for (int k = R - 2; k >= 0; k--) {
		LLVMValueRef d = dimv(c, o->dim[k]);
		LLVMValueRef i = LLVMBuildSRem(c->b, rest, d, "");
		rest = LLVMBuildSDiv(c->b, rest, d, "");
		base[0] = add(c, base[0], mul(c, i, stride[0][k]));
		base[1] = add(c, base[1], mul(c, i, stride[1][k]));
	}
	LLVMValueRef W = dimv(c, o->dim[R - 1]);
	LLVMValueRef j = cg_loop_open(c, &lj, i64c(c, 0), W, "j");
	LLVMValueRef x = ld(c, s[0], add(c, base[0], mul(c, j, stride[0][R - 1])));
	LLVMValueRef y = ld(c, s[1], add(c, base[1], mul(c, j, stride[1][R - 1])));
	st(c, out, add(c, mul(c, r, W), j),
	   n->op == OP_ADD ? f_add(c, x, y) : f_mul(c, x, y));
	cg_loop_close(c, &lj);
	cg_loop_close(c, &lr);
}


void cg_k_unary(CgContext *c, const Node *n, LLVMValueRef out,
                LLVMValueRef *s)
{
	const TensorType *t = &n->type;
	LLVMValueRef W = dimv(c, t->dim[t->rank - 1]);
	Loop l;
	LLVMValueRef i = cg_loop_open(c, &l, mul(c, c->R0, W), mul(c, c->R1, W),
	                              "i");

	st(c, out, i, cg_unary(c, n->op, ld(c, s[0], i)));
	cg_loop_close(c, &l);
}

/* h * (exp(-t |delta|) + shift), in float: t |delta| is at most ~15 in
 * the models, so the float product costs e^x a few ulp at most. */
void cg_k_expmod(CgContext *c, const Node *n, LLVMValueRef out,
                 LLVMValueRef *s)
{
	LLVMValueRef C = i64c(c, n->type.dim[1]);
	Loop lr, lc;

	LLVMValueRef r = cg_loop_open(c, &lr, c->R0, c->R1, "r");
	LLVMValueRef nt = LLVMBuildFNeg(c->b, ld(c, s[1], r), "");
	LLVMValueRef ch = cg_loop_open(c, &lc, i64c(c, 0), C, "c");
	LLVMValueRef i = add(c, mul(c, r, C), ch);
	LLVMValueRef dl = ld(c, s[2], ch);
	LLVMValueRef e = cg_vm_exp(c, f_mul(c, nt, cg_intrinsic1(c, "llvm.fabs",
	                                                         c->t_f32, dl)));
	LLVMValueRef y = f_mul(c, ld(c, s[0], i),
	                       f_add(c, e, f32c(c, n->fattr[0])));
	st(c, out, i, y);
	cg_loop_close(c, &lc);
	cg_loop_close(c, &lr);
}

/* [t, cos(f w), -sin(f w)] per position, in double; the band frequencies
 * are constants computed here exactly as the interpreter computes them. */
void cg_k_pos_emb(CgContext *c, const Node *n, LLVMValueRef out)
{
	int64_t lmax = n->iattr[0], E = n->iattr[1], bands = (E - 1) / 2;
	LLVMValueRef *f = calloc((size_t)bands + 1, sizeof *f);
	Loop li, lj;

	HY_ASSERT(f);
	for (int64_t j = 0; j < bands; j++)
		f[j] = f64c(c, bands > 1 ? 1e-4 + (double)j *
		                                      ((double)(bands - 1) - 1e-4) /
		                                      (double)(bands - 1)
		                         : 1e-4);
	LLVMTypeRef at = LLVMArrayType2(c->t_f64, (uint64_t)bands);
	LLVMValueRef tab = LLVMAddGlobal(c->mod, at, "pos_emb.freq");
	LLVMSetInitializer(tab, LLVMConstArray2(c->t_f64, f, (uint64_t)bands));
	LLVMSetGlobalConstant(tab, 1);
	LLVMSetLinkage(tab, LLVMPrivateLinkage);
	LLVMSetUnnamedAddress(tab, LLVMGlobalUnnamedAddr);
	free(f);

	LLVMValueRef i = cg_loop_open(c, &li, c->R0, c->R1, "i");
	LLVMValueRef di = LLVMBuildSIToFP(c->b, i, c->t_f64, "");
	LLVMValueRef w = LLVMBuildFDiv(c->b, f_mul(c, f64c(c, 2.0 * M_PI), di),
	                               f64c(c, (double)lmax), "w");
	LLVMValueRef row = mul(c, i, i64c(c, E));
	LLVMValueRef t0 = lmax > 1 ? LLVMBuildFDiv(c->b, di,
	                                           f64c(c, (double)(lmax - 1)),
	                                           "")
	                           : f64c(c, 0.0);
	st(c, out, row, LLVMBuildFPTrunc(c->b, t0, c->t_f32, ""));
	LLVMValueRef j = cg_loop_open(c, &lj, i64c(c, 0), i64c(c, bands), "j");
	LLVMValueRef fj = LLVMBuildLoad2(c->b, c->t_f64,
	                                 elem(c, c->t_f64, tab, j), "f");
	LLVMValueRef a = f_mul(c, fj, w);
	LLVMValueRef cs = cg_call1(c, EXT_COS, a);
	LLVMValueRef sn = LLVMBuildFNeg(c->b, cg_call1(c, EXT_SIN, a), "");
	LLVMValueRef base = add(c, row, add(c, j, i64c(c, 1)));
	st(c, out, base, LLVMBuildFPTrunc(c->b, cs, c->t_f32, ""));
	st(c, out, add(c, base, i64c(c, bands)),
	   LLVMBuildFPTrunc(c->b, sn, c->t_f32, ""));
	cg_loop_close(c, &lj);
	cg_loop_close(c, &li);
}


/* The position HF's classifier reads in batch row b of tokens: the one
 * before the first pad, or L - 1 when there is no pad or it comes first
 * (argmax(ids == pad) - 1, a negative index counting from the end). A
 * scan of the whole row, keeping the first match: O(L) per row, against
 * the forward's O(L d^2). */
static LLVMValueRef row_before_pad(CgContext *c, LLVMValueRef tokens,
                                   LLVMValueRef b, int64_t pad)
{
	Loop lt;
	LLVMValueRef first = cg_var(c, c->t_i64, c->L, "first");
	LLVMValueRef t = cg_loop_open(c, &lt, i64c(c, 0), c->L, "t");
	LLVMValueRef id = LLVMBuildLoad2(
	    c->b, c->t_i32, elem(c, c->t_i32, tokens, add(c, mul(c, b, c->L), t)),
	    "");
	LLVMValueRef f = ld_var(c, c->t_i64, first);
	LLVMValueRef hit = LLVMBuildAnd(
	    c->b, LLVMBuildICmp(c->b, LLVMIntEQ, id, i32c(c, (int32_t)pad), ""),
	    LLVMBuildICmp(c->b, LLVMIntEQ, f, c->L, ""), "");
	LLVMBuildStore(c->b, LLVMBuildSelect(c->b, hit, t, f, ""), first);
	cg_loop_close(c, &lt);
	LLVMValueRef f2 = ld_var(c, c->t_i64, first);
	LLVMValueRef none = LLVMBuildOr(
	    c->b, LLVMBuildICmp(c->b, LLVMIntEQ, f2, c->L, ""),
	    LLVMBuildICmp(c->b, LLVMIntEQ, f2, i64c(c, 0), ""), "");
	return LLVMBuildSelect(c->b, none,
	                       LLVMBuildSub(c->b, c->L, i64c(c, 1), ""),
	                       LLVMBuildSub(c->b, f2, i64c(c, 1), ""), "");
}

/* pool over positions, per batch row b in [r0, r1): mode mean sums the
 * (normalised, when ln) rows in double in position order, one row at a
 * time in a stack buffer, and divides by L; mode last takes row L - 1,
 * mode pad the row row_before_pad finds.
 * The same arithmetic as the interpreter's, in the precision the old
 * hyenac_run_pooled had (the norm in float, the sum in double). */
void cg_k_pool(CgContext *c, const Node *n, LLVMValueRef out,
               LLVMValueRef *s)
{
	int64_t Dn = n->type.dim[1];
	bool ln = n->iattr[PL_LN] != 0;
	LLVMValueRef D = i64c(c, Dn), zero = i64c(c, 0), x = s[0];
	Loop lb, lz, lt, la, lm, lc;

	if (n->iattr[PL_MODE] != PM_MEAN) {
		LLVMValueRef b = cg_loop_open(c, &lb, c->R0, c->R1, "b");
		LLVMValueRef last = LLVMBuildSub(c->b, c->L, i64c(c, 1), "");
		LLVMValueRef t = n->iattr[PL_MODE] == PM_PAD
		                     ? row_before_pad(c, s[n->nsrc - 1], b,
		                                      n->iattr[PL_PAD])
		                     : last;
		LLVMValueRef xb = mul(c, add(c, mul(c, b, c->L), t), D);
		if (ln) {
			cg_ln_row(c, x, xb, Dn, s[1], s[2], n->fattr[0], out,
			          mul(c, b, D));
		} else {
			LLVMValueRef d = cg_loop_open(c, &lc, zero, D, "c");
			st(c, out, add(c, mul(c, b, D), d), ld(c, x, add(c, xb, d)));
			cg_loop_close(c, &lc);
		}
		cg_loop_close(c, &lb);
		return;
	}
	LLVMValueRef row = ln ? cg_stack_array(c, Dn, "row") : NULL;
	LLVMBasicBlockRef here = LLVMGetInsertBlock(c->b);
	LLVMPositionBuilderAtEnd(c->b, c->entry);
	LLVMValueRef acc = LLVMBuildAlloca(c->b, LLVMArrayType2(c->t_f64,
	                                                        (uint64_t)Dn),
	                                   "acc");
	LLVMPositionBuilderAtEnd(c->b, here);
	LLVMValueRef b = cg_loop_open(c, &lb, c->R0, c->R1, "b");
	LLVMValueRef d = cg_loop_open(c, &lz, zero, D, "z");
	LLVMBuildStore(c->b, f64c(c, 0), elem(c, c->t_f64, acc, d));
	cg_loop_close(c, &lz);
	LLVMValueRef t = cg_loop_open(c, &lt, zero, c->L, "t");
	LLVMValueRef xb = mul(c, add(c, mul(c, b, c->L), t), D);
	if (ln)
		cg_ln_row(c, x, xb, Dn, s[1], s[2], n->fattr[0], row, zero);
	d = cg_loop_open(c, &la, zero, D, "a");
	LLVMValueRef ap = elem(c, c->t_f64, acc, d);
	LLVMValueRef v = ln ? ld(c, row, d) : ld(c, x, add(c, xb, d));
	LLVMBuildStore(c->b,
	               f_add(c, LLVMBuildLoad2(c->b, c->t_f64, ap, ""),
	                     LLVMBuildFPExt(c->b, v, c->t_f64, "")),
	               ap);
	cg_loop_close(c, &la);
	cg_loop_close(c, &lt);
	d = cg_loop_open(c, &lm, zero, D, "m");
	LLVMValueRef mv = LLVMBuildFDiv(
	    c->b, LLVMBuildLoad2(c->b, c->t_f64, elem(c, c->t_f64, acc, d), ""),
	    LLVMBuildSIToFP(c->b, c->L, c->t_f64, ""), "");
	st(c, out, add(c, mul(c, b, D), d),
	   LLVMBuildFPTrunc(c->b, mv, c->t_f32, ""));
	cg_loop_close(c, &lm);
	cg_loop_close(c, &lb);
}
