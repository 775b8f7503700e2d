/*
 * interp.c - the reference interpreter: the oracle every pass and kernel
 * is tested against. Plain loops, every value held in double, the long
 * convolution computed directly (O(L^2)); no cleverness, so that what it
 * computes is easy to check against the op definitions in ops.def. The
 * fused ops are evaluated through the same helpers as the primitive ops
 * they stand for, so a fused graph computes what the unfused one does.
 *
 * Values live in an arena for the run and are dropped together; weights
 * are widened to double once. Speed is not a goal: it serves tests and
 * short inputs.
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Val {
	double *x;
	int rank;
	int64_t dim[IR_MAX_RANK];
	size_t n;
} Val;

typedef struct Interp {
	const Graph *g;
	Arena *a;
	int64_t B, L;
	Val *v;
	const int32_t *tokens;
	Diag *d;
	int64_t pos;   /* the step's position (step ops only) */
	float **state; /* the caller's state slots, or NULL */
	int nslots;
} Interp;

static bool bind_type(Interp *in, const Node *n, Val *out)
{
	out->rank = n->type.rank;
	for (int i = 0; i < n->type.rank; i++) {
		int64_t dd = n->type.dim[i];
		out->dim[i] = dd == DIM_B ? in->B : dd == DIM_L ? in->L : dd;
	}
	if (!ir_type_numel(&n->type, in->B, in->L, &out->n) ||
	    out->n > SIZE_MAX / sizeof(double)) {
		diag_error(in->d, "node %%%s: tensor too large", n->name);
		return false;
	}
	out->x = arena_try_alloc(in->a, out->n * sizeof(double));
	if (!out->x) {
		diag_error(in->d, "node %%%s: out of memory for %zu values",
		           n->name, out->n);
		return false;
	}
	return true;
}

static int64_t last(const Val *v)
{
	return v->rank ? v->dim[v->rank - 1] : 1;
}

static double gelu_tanh(double x)
{
	const double k = 0.7978845608028654; /* sqrt(2/pi) */
	return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
}

/* Broadcast a binary op, operands aligned on the last axis. */
static void broadcast(const Val *o, const Val *a, const Val *b, int op)
{
	int64_t idx[IR_MAX_RANK] = {0};
	for (size_t i = 0; i < o->n; i++) {
		size_t ia = 0, ib = 0;
		for (int k = 0; k < o->rank; k++) {
			int ka = k - (o->rank - a->rank), kb = k - (o->rank - b->rank);
			if (ka >= 0)
				ia = ia * (size_t)a->dim[ka] +
				     (size_t)(a->dim[ka] == 1 ? 0 : idx[k]);
			if (kb >= 0)
				ib = ib * (size_t)b->dim[kb] +
				     (size_t)(b->dim[kb] == 1 ? 0 : idx[k]);
		}
		o->x[i] = op == OP_ADD ? a->x[ia] + b->x[ib] : a->x[ia] * b->x[ib];
		for (int k = o->rank - 1; k >= 0; k--) {
			if (++idx[k] < o->dim[k])
				break;
			idx[k] = 0;
		}
	}
}

static void pos_emb(const Node *n, const Val *o)
{
	int64_t lmax = n->iattr[0], E = n->iattr[1], bands = (E - 1) / 2;
	for (int64_t i = 0; i < o->dim[0]; i++) {
		double *row = o->x + i * E;
		double w = 2.0 * M_PI * (double)i / (double)lmax;
		row[0] = lmax > 1 ? (double)i / (double)(lmax - 1) : 0.0;
		for (int64_t j = 0; j < bands; j++) {
			double f = bands > 1 ? 1e-4 + (double)j * ((double)(bands - 1) -
			                                           1e-4) /
			                                  (double)(bands - 1)
			                     : 1e-4;
			row[1 + j] = cos(f * w);
			row[1 + bands + j] = -sin(f * w);
		}
	}
}

/* The op definitions on plain arrays, shared by the primitive ops and
 * the fused ones (which must compute exactly the same function). */

/* layernorm over rows of D */
static void ln_rows(double *o, const double *x, size_t rows, int64_t D,
                    const double *gamma, const double *beta, double eps)
{
	for (size_t r = 0; r < rows; r++) {
		const double *xr = x + r * (size_t)D;
		double mean = 0, var = 0;
		for (int64_t k = 0; k < D; k++)
			mean += xr[k];
		mean /= (double)D;
		for (int64_t k = 0; k < D; k++)
			var += (xr[k] - mean) * (xr[k] - mean);
		var /= (double)D;
		double inv = 1.0 / sqrt(var + eps);
		for (int64_t k = 0; k < D; k++)
			o[r * (size_t)D + (size_t)k] =
			    (xr[k] - mean) * inv * gamma[k] + beta[k];
	}
}

/* o[r, j] = x[r, :] . w[j, :] (+ bias[j]) */
static void linear_rows(double *o, const double *x, size_t rows, int64_t K,
                        int64_t N, const double *w, const double *bias)
{
	for (size_t r = 0; r < rows; r++) {
		const double *xr = x + r * (size_t)K;
		for (int64_t j = 0; j < N; j++) {
			const double *wj = w + (size_t)j * (size_t)K;
			double acc = bias ? bias[j] : 0.0;
			for (int64_t k = 0; k < K; k++)
				acc += xr[k] * wj[k];
			o[r * (size_t)N + (size_t)j] = acc;
		}
	}
}

/* linear_rows for slot wslot of n: with both operands rounded to bf16
 * first where the graph runs that slot in bf16 (ir_bf16_slot), as the
 * compiled GEMM does, so that the interpreter gives the bf16
 * expectation; false when out of memory. */
static bool proj_rows(Interp *in, const Node *n, int wslot, double *o,
                      const double *x, size_t rows, int64_t K, int64_t N,
                      const double *w, const double *bias)
{
	if (!ir_bf16_slot(in->g, n, wslot)) {
		linear_rows(o, x, rows, K, N, w, bias);
		return true;
	}
	size_t nx = rows * (size_t)K, nw = (size_t)N * (size_t)K;
	double *t = arena_try_alloc(in->a, (nx + nw) * sizeof(double) + 1);
	if (!t) {
		diag_error(in->d, "node %%%s: out of memory", n->name);
		return false;
	}
	for (size_t i = 0; i < nx; i++)
		t[i] = ir_bf16_round(x[i]);
	for (size_t i = 0; i < nw; i++)
		t[nx + i] = ir_bf16_round(w[i]);
	linear_rows(o, t, rows, K, N, t + nx, bias);
	return true;
}

/* causal depthwise convolution of [B, L, C] with w[C, K] (+ bias[C]) */
static void dwconv_blc(double *o, const double *x, int64_t Bn, int64_t Ln,
                       int64_t C, const double *w, int64_t K,
                       const double *bias)
{
	for (int64_t b = 0; b < Bn; b++)
		for (int64_t t = 0; t < Ln; t++)
			for (int64_t c = 0; c < C; c++) {
				double acc = bias ? bias[c] : 0.0;
				for (int64_t j = 0; j < K; j++) {
					int64_t src = t - K + 1 + j;
					if (src >= 0)
						acc += w[c * K + j] * x[(b * Ln + src) * C + c];
				}
				o[(b * Ln + t) * C + c] = acc;
			}
}

/* y[b, t, :] = sum_{s <= t} k[t - s, :] u[b, s, :], k with row stride C */
static void causal_conv(double *y, const double *u, const double *k,
                        int64_t Bn, int64_t Ln, int64_t C)
{
	for (int64_t b = 0; b < Bn; b++)
		for (int64_t t = 0; t < Ln; t++) {
			double *yr = y + (b * Ln + t) * C;
			for (int64_t c = 0; c < C; c++)
				yr[c] = 0.0;
			for (int64_t s = 0; s <= t; s++) {
				const double *ur = u + (b * Ln + s) * C;
				const double *kr = k + (t - s) * C;
				for (int64_t c = 0; c < C; c++)
					yr[c] += kr[c] * ur[c];
			}
		}
}

static double act(FpAct a, double x)
{
	switch (a) {
	case FP_ACT_NONE:
		return x;
	case FP_ACT_GELU_TANH:
		return gelu_tanh(x);
	case FP_ACT_GELU:
		return 0.5 * x * (1.0 + erf(x * M_SQRT1_2));
	case FP_ACT_RELU:
		return x > 0 ? x : 0.0;
	case FP_ACT_COUNT:
		break;
	}
	hy_die("bad activation %d", (int)a);
}

/* fused_proj: the prologue, the linear and the epilogues in the order
 * ops.def gives, each by the primitive op's own definition. */
static bool fused_proj(Interp *in, const Node *n, const Val *o)
{
	FpSrc fs;
	ir_fp_srcs(n, &fs);
	const Val *x = &in->v[n->src[fs.x]->id];
	int64_t K = last(x), r0 = n->iattr[FP_ROW0];
	int64_t N = ir_fp_rows(n);
	size_t rows = x->n / (size_t)K, ny = rows * (size_t)N;
	int64_t gate = n->iattr[FP_GATE];
	const double *xin = x->x;
	/* y: the projection, o itself unless the gate narrows it after */
	double *t = arena_try_alloc(in->a, (x->n + 2 * ny) * sizeof(double) + 1);
	double *y = gate ? t + x->n + ny : o->x;
	/* source i from row r0 on (rows of `per` values), NULL if absent */
#define SRC(i) ((i) >= 0 ? in->v[n->src[i]->id].x : NULL)
#define ROWS(i, per) ((i) >= 0 ? in->v[n->src[i]->id].x + r0 * (per) : NULL)

	if (!t) {
		diag_error(in->d, "node %%%s: out of memory", n->name);
		return false;
	}
	if (fs.ln_g >= 0) {
		ln_rows(t, x->x, rows, K, SRC(fs.ln_g), SRC(fs.ln_b), n->fattr[0]);
		xin = t;
	}
	if (!proj_rows(in, n, fs.w, y, xin, rows, K, N, ROWS(fs.w, K),
	               ROWS(fs.bias, 1)))
		return false;
	if (fs.conv_w >= 0) {
		double *pre = t + x->n;
		memcpy(pre, y, ny * sizeof(double));
		dwconv_blc(y, pre, o->dim[0], o->dim[1], N,
		           ROWS(fs.conv_w, n->iattr[FP_CONV]), n->iattr[FP_CONV],
		           ROWS(fs.conv_b, 1));
	}
	const double *res = SRC(fs.res);
#undef SRC
#undef ROWS
	if (gate == 2) {
		/* [gate | value] -> gate * value */
		int64_t D = N / 2;
		for (size_t r = 0; r < rows; r++)
			for (int64_t c = 0; c < D; c++)
				o->x[r * (size_t)D + (size_t)c] =
				    y[r * (size_t)N + (size_t)c] *
				    y[r * (size_t)N + (size_t)(D + c)];
		return true;
	}
	if (gate) {
		/* [post | gate | value] -> [post | gate * value] */
		int64_t D = N / 3;
		for (size_t r = 0; r < rows; r++) {
			const double *yr = y + r * (size_t)N;
			double *z = o->x + r * (size_t)(2 * D);
			for (int64_t c = 0; c < D; c++) {
				z[c] = yr[c];
				z[D + c] = yr[D + c] * yr[2 * D + c];
			}
		}
		return true;
	}
	for (size_t i = 0; i < o->n; i++) {
		o->x[i] = act((FpAct)n->iattr[FP_ACT], o->x[i]);
		if (res && n->iattr[FP_RES] == 2)
			o->x[i] *= res[i];
		else if (res)
			o->x[i] += res[i];
	}
	return true;
}

/* fused_mlp: layernorm, linear, act, linear, residual, each by the
 * primitive op's definition. */
static bool fused_mlp(Interp *in, const Node *n, const Val *o)
{
	FmSrc fs;
	ir_fm_srcs(n, &fs);
	const Val *x = &in->v[n->src[fs.x]->id];
	const Val *w1 = &in->v[n->src[fs.w1]->id], *w2 = &in->v[n->src[fs.w2]->id];
	int64_t K = last(x), H = w1->dim[0], N = w2->dim[0];
	size_t rows = o->n / (size_t)N;
	const double *xin = x->x;
#define SRC(i) ((i) >= 0 ? in->v[n->src[i]->id].x : NULL)
	double *h = arena_try_alloc(in->a, rows * (size_t)H * sizeof(double) +
	                                       x->n * sizeof(double) + 1);
	if (!h) {
		diag_error(in->d, "node %%%s: out of memory", n->name);
		return false;
	}
	if (fs.ln_g >= 0) {
		double *t = h + rows * (size_t)H;
		ln_rows(t, x->x, rows, K, SRC(fs.ln_g), SRC(fs.ln_b), n->fattr[0]);
		xin = t;
	}
	if (!proj_rows(in, n, fs.w1, h, xin, rows, K, H, w1->x, SRC(fs.b1)))
		return false;
	for (size_t i = 0; i < rows * (size_t)H; i++)
		h[i] = act((FpAct)n->iattr[FM_ACT], h[i]);
	if (!proj_rows(in, n, fs.w2, o->x, h, rows, H, N, w2->x, SRC(fs.b2)))
		return false;
	const double *res = SRC(fs.res);
#undef SRC
	if (res)
		for (size_t i = 0; i < o->n; i++)
			o->x[i] += res[i];
	return true;
}

/* gated_conv: u = v * g on channel windows (u = v when pregated),
 * y = (u * k + u bias) * post. */
static bool gated_conv(Interp *in, const Node *n, const Val *o)
{
	GcSrc gs;
	ir_gc_srcs(n, &gs);
	const Val *v = &in->v[n->src[gs.v]->id];
	const Val *g = gs.g >= 0 ? &in->v[n->src[gs.g]->id] : NULL;
	const Val *bias = &in->v[n->src[gs.bias]->id];
	const Val *k = &in->v[n->src[gs.k >= 0 ? gs.k : gs.h]->id];
	const Val *p = gs.post >= 0 ? &in->v[n->src[gs.post]->id] : NULL;
	int64_t Bn = o->dim[0], Ln = o->dim[1], D = o->dim[2];
	int64_t voff = n->iattr[GC_V_OFF], goff = n->iattr[GC_G_OFF];
	int64_t poff = n->iattr[GC_POST_OFF];

	if (k->dim[0] < Ln) {
		diag_error(in->d, "node %%%s: length %lld exceeds the filter's "
		           "%lld rows", n->name, (long long)Ln,
		           (long long)k->dim[0]);
		return false;
	}
	double *u = arena_try_alloc(in->a, o->n * sizeof(double) + 1);
	double *kg = gs.k < 0 ? arena_try_alloc(in->a, (size_t)Ln * (size_t)D *
	                                                   sizeof(double) + 1)
	                      : NULL;
	if (!u || (gs.k < 0 && !kg)) {
		diag_error(in->d, "node %%%s: out of memory", n->name);
		return false;
	}
	const double *kx = k->x;
	if (kg) { /* the filter's last layer, as linear and expmod have it */
		const Val *h = k, *w = &in->v[n->src[gs.w]->id];
		const double *tp = in->v[n->src[gs.t]->id].x; /* column 0 */
		int64_t ts = n->src[gs.t]->type.dim[1];
		const double *dl = in->v[n->src[gs.deltas]->id].x;
		linear_rows(kg, h->x, (size_t)Ln, h->dim[1], D, w->x, NULL);
		for (int64_t t = 0; t < Ln; t++)
			for (int64_t c = 0; c < D; c++)
				kg[t * D + c] *= exp(-tp[t * ts] * fabs(dl[c])) + n->fattr[0];
		kx = kg;
	}
	for (int64_t r = 0; r < Bn * Ln; r++)
		for (int64_t c = 0; c < D; c++)
			u[r * D + c] = v->x[r * v->dim[2] + voff + c] *
			               (g ? g->x[r * g->dim[2] + goff + c] : 1.0);
	causal_conv(o->x, u, kx, Bn, Ln, D);
	for (int64_t r = 0; r < Bn * Ln; r++)
		for (int64_t c = 0; c < D; c++) {
			double *y = &o->x[r * D + c];
			*y += u[r * D + c] * bias->x[c];
			if (p)
				*y *= p->x[r * p->dim[2] + poff + c];
		}
	return true;
}

/* state_save: a ring's last rows, or a history (tail=0): the prompt's
 * part c[t] of every later output by the definition, at row M-1-t, and
 * the prompt length in the last row; rows it does not write are zero. */
static void state_save(Interp *in, const Node *n, const Val *o)
{
	bool tail = n->iattr[SS_TAIL];
	int nx = n->nsrc - (tail ? 0 : 1);
	const Val *x = &in->v[n->src[0]->id];
	const Val *g = nx > 1 ? &in->v[n->src[1]->id] : NULL;
	int64_t Bn = x->dim[0], Ln = x->dim[1], R = o->dim[1], C = o->dim[2];
	int64_t xo = n->iattr[SS_X_OFF], go = n->iattr[SS_G_OFF];

	memset(o->x, 0, o->n * sizeof(double));
	if (!tail) {
		const Val *k = &in->v[n->src[nx]->id];
		int64_t M = R - 1;
		for (int64_t b = 0; b < Bn; b++) {
			const double *xb = x->x + b * Ln * x->dim[2] + xo;
			const double *gb = g ? g->x + b * Ln * g->dim[2] + go : NULL;
			double *ob = o->x + b * R * C;
			for (int64_t t = Ln; t < M; t++)
				for (int64_t c = 0; c < C; c++) {
					double acc = 0;
					for (int64_t j = 0; j < Ln; j++)
						acc += k->x[(t - j) * C + c] * xb[j * x->dim[2] + c] *
						       (gb ? gb[j * g->dim[2] + c] : 1.0);
					ob[(M - 1 - t) * C + c] = acc;
				}
			ob[M * C] = (double)Ln;
		}
		return;
	}
	for (int64_t b = 0; b < Bn; b++)
		for (int64_t t = Ln > R ? Ln - R : 0; t < Ln; t++) {
			const double *xr = x->x + (b * Ln + t) * x->dim[2] + xo;
			const double *gr = g ? g->x + (b * Ln + t) * g->dim[2] + go
			                     : NULL;
			double *d = o->x + (b * R + t % R) * C;
			for (int64_t c = 0; c < C; c++)
				d[c] = xr[c] * (gr ? gr[c] : 1.0);
		}
}

/* tail_proj: layernorm (ln=1) and the linear of the last R rows. */
static bool tail_proj(Interp *in, const Node *n, const Val *o)
{
	const Val *x = &in->v[n->src[0]->id], *w = &in->v[n->src[1]->id];
	int64_t Bn = x->dim[0], Ln = x->dim[1], K = x->dim[2], R = o->dim[1];
	int64_t N = w->dim[0];
	int i = 2;
	const double *bias = n->iattr[TP_BIAS] ? in->v[n->src[i++]->id].x : NULL;
	const double *lg = n->iattr[TP_LN] ? in->v[n->src[i++]->id].x : NULL;
	const double *lb = n->iattr[TP_LN] ? in->v[n->src[i]->id].x : NULL;
	double *t = arena_try_alloc(in->a, (size_t)K * sizeof(double) + 1);

	if (!t) {
		diag_error(in->d, "node %%%s: out of memory", n->name);
		return false;
	}
	memset(o->x, 0, o->n * sizeof(double));
	for (int64_t b = 0; b < Bn; b++)
		for (int64_t p = Ln > R ? Ln - R : 0; p < Ln; p++) {
			const double *xr = x->x + (b * Ln + p) * K;
			if (lg) {
				ln_rows(t, xr, 1, K, lg, lb, n->fattr[0]);
				xr = t;
			}
			linear_rows(o->x + (b * R + p % R) * N, xr, 1, K, N, w->x, bias);
		}
	return true;
}

/* short_step: dwconv's definition at position pos, the K-1 inputs before
 * it read from the ring (zero before position 0); then y joins the ring. */
static void short_step(Interp *in, const Node *n, const Val *o)
{
	const Val *y = &in->v[n->src[0]->id], *w = &in->v[n->src[1]->id];
	const Val *bias = n->iattr[SH_CONV_BIAS] ? &in->v[n->src[2]->id] : NULL;
	Val *ring = &in->v[n->src[n->nsrc - 1]->id];
	int64_t Bn = y->dim[0], N = y->dim[2], K = w->dim[1], R = K - 1;
	int64_t pos = in->pos;
	double *z = malloc((size_t)N * sizeof(double) + 1);

	HY_ASSERT(z && y->dim[1] == 1);
	for (int64_t b = 0; b < Bn; b++) {
		const double *yr = y->x + b * N;
		double *rg = ring->x + b * R * N;
		for (int64_t c = 0; c < N; c++) {
			double acc = bias ? bias->x[c] : 0.0;
			for (int64_t j = 0; j < K; j++) {
				int64_t p = pos - K + 1 + j;
				double xv = p == pos ? yr[c]
				            : p < 0  ? 0.0
				                     : rg[(p % R) * N + c];
				acc += w->x[c * K + j] * xv;
			}
			z[c] = acc;
		}
		for (int64_t c = 0; c < N; c++)
			rg[(pos % R) * N + c] = yr[c];
		double *ob = o->x + b * o->dim[2];
		if (n->iattr[SH_GATE]) {
			int64_t D = N / 3;
			for (int64_t c = 0; c < D; c++) {
				ob[c] = z[c];
				ob[D + c] = z[D + c] * z[2 * D + c];
			}
		} else {
			memcpy(ob, z, (size_t)N * sizeof(double));
		}
	}
	free(z);
}

/* conv_step: the prompt's part c[pos] from the history, u in its place,
 * then the direct convolution's row pos over the generated positions,
 * the skip and the output gate as gated_conv's. */
static bool conv_step(Interp *in, const Node *n, const Val *o)
{
	CsSrc cs;
	ir_cs_srcs(n, &cs);
	const Val *v = &in->v[n->src[cs.v]->id];
	const Val *g = cs.g >= 0 ? &in->v[n->src[cs.g]->id] : NULL;
	const Val *k = &in->v[n->src[cs.k]->id];
	const Val *bias = &in->v[n->src[cs.bias]->id];
	const Val *p = cs.post >= 0 ? &in->v[n->src[cs.post]->id] : NULL;
	Val *h = &in->v[n->src[cs.hist]->id];
	int64_t Bn = o->dim[0], D = o->dim[2], M = h->dim[1] - 1, pos = in->pos;

	if (pos < 0 || pos >= M) {
		diag_error(in->d, "node %%%s: position %lld outside the history's "
		           "%lld positions", n->name, (long long)pos, (long long)M);
		return false;
	}
	HY_ASSERT(o->dim[1] == 1);
	for (int64_t b = 0; b < Bn; b++) {
		/* position t at row M-1-t: hb[t * -D] from the row of 0 */
		double *hb = h->x + b * (M + 1) * D + (M - 1) * D;
		double P = h->x[(b * (M + 1) + M) * D];
		if (!(P >= 0 && P <= (double)pos)) {
			diag_error(in->d, "node %%%s: a step at %lld after a prefill "
			           "of %g positions", n->name, (long long)pos, P);
			return false;
		}
		int64_t np = pos - (int64_t)P; /* generated positions before */
		for (int64_t c = 0; c < D; c++) {
			double acc = hb[-pos * D + c]; /* c[pos] */
			hb[-pos * D + c] =
			    v->x[b * v->dim[2] + n->iattr[CS_V_OFF] + c] *
			    (g ? g->x[b * g->dim[2] + n->iattr[CS_G_OFF] + c] : 1.0);
			for (int64_t j = 0; j <= np; j++)
				acc += k->x[j * D + c] * hb[-(pos - j) * D + c];
			acc += bias->x[c] * hb[-pos * D + c];
			if (p)
				acc *= p->x[b * p->dim[2] + n->iattr[CS_POST_OFF] + c];
			o->x[b * D + c] = acc;
		}
	}
	return true;
}

/* The row HF's classifier reads: the one before the first pad token,
 * or the last when there is none or it comes first (argmax(ids == pad)
 * - 1 with Python's negative index). */
static int64_t row_before_pad(const double *tok, int64_t Ln, int64_t pad)
{
	for (int64_t t = 0; t < Ln; t++)
		if (tok[t] == (double)pad)
			return t > 0 ? t - 1 : Ln - 1;
	return Ln - 1;
}

/* pool: each batch row's positions, normalised first when ln, reduced
 * to their mean, their last, or the one before the first pad. */
static bool pool(Interp *in, const Node *n, const Val *o)
{
	const Val *x = &in->v[n->src[0]->id];
	int64_t Bn = x->dim[0], Ln = x->dim[1], D = x->dim[2];
	double *row = arena_try_alloc(in->a, (size_t)D * sizeof(double) + 1);
	int64_t mode = n->iattr[PL_MODE];

	if (!row) {
		diag_error(in->d, "node %%%s: out of memory", n->name);
		return false;
	}
	for (int64_t b = 0; b < Bn; b++) {
		double *y = o->x + (size_t)(b * D);
		for (int64_t k = 0; k < D; k++)
			y[k] = 0;
		int64_t t0 = 0, t1 = Ln;
		if (mode == PM_LAST)
			t0 = Ln - 1;
		if (mode == PM_PAD) {
			const Val *tk = &in->v[n->src[n->nsrc - 1]->id];
			t0 = row_before_pad(tk->x + (size_t)(b * Ln), Ln,
			                    n->iattr[PL_PAD]);
			t1 = t0 + 1;
		}
		for (int64_t t = t0 < 0 ? 0 : t0; t < t1; t++) {
			const double *xr = x->x + (size_t)((b * Ln + t) * D);
			if (n->iattr[PL_LN]) {
				ln_rows(row, xr, 1, D, in->v[n->src[1]->id].x,
				        in->v[n->src[2]->id].x, n->fattr[0]);
				xr = row;
			}
			for (int64_t k = 0; k < D; k++)
				y[k] += xr[k];
		}
		if (mode == PM_MEAN && Ln > 0)
			for (int64_t k = 0; k < D; k++)
				y[k] /= (double)Ln;
	}
	return true;
}

static bool eval(Interp *in, const Node *n)
{
	Val *o = &in->v[n->id];
	const Val *s0 = n->nsrc > 0 ? &in->v[n->src[0]->id] : NULL;
	const Val *s1 = n->nsrc > 1 ? &in->v[n->src[1]->id] : NULL;
	const Val *s2 = n->nsrc > 2 ? &in->v[n->src[2]->id] : NULL;

	if (!bind_type(in, n, o))
		return false;
	switch (n->op) {
	case OP_INPUT:
		for (size_t i = 0; i < o->n; i++)
			o->x[i] = in->tokens[i];
		break;
	case OP_WEIGHT:
		if (!n->data) {
			diag_error(in->d, "weight %%%s ('%s') has no data bound",
			           n->name, n->sattr);
			return false;
		}
		for (size_t i = 0; i < o->n; i++)
			o->x[i] = n->data[i];
		break;
	case OP_POS_EMB:
		if (in->L > n->iattr[0]) {
			diag_error(in->d, "node %%%s: length %lld exceeds lmax %lld",
			           n->name, (long long)in->L, (long long)n->iattr[0]);
			return false;
		}
		pos_emb(n, o);
		break;
	case OP_EMBED: {
		int64_t V = s0->dim[0], D = s0->dim[1];
		for (size_t t = 0; t < s1->n; t++) {
			double id = s1->x[t];
			if (!(id >= 0 && id < (double)V)) {
				diag_error(in->d, "node %%%s: token id %.0f at position "
				           "%zu is outside the table [0, %lld)",
				           n->name, id, t, (long long)V);
				return false;
			}
			memcpy(o->x + t * (size_t)D, s0->x + (size_t)id * (size_t)D,
			       (size_t)D * sizeof(double));
		}
		break;
	}
	case OP_LAYERNORM:
		ln_rows(o->x, s0->x, o->n / (size_t)last(s0), last(s0), s1->x,
		        s2->x, n->fattr[0]);
		break;
	case OP_LINEAR:
		return proj_rows(in, n, 1, o->x, s0->x, o->n / (size_t)s1->dim[0],
		                 last(s0), s1->dim[0], s1->x, s2 ? s2->x : NULL);
	case OP_DWCONV:
		dwconv_blc(o->x, s0->x, s0->dim[0], s0->dim[1], s0->dim[2], s1->x,
		           s1->dim[1], s2 ? s2->x : NULL);
		break;
	case OP_LONGCONV:
		causal_conv(o->x, s0->x, s1->x, s0->dim[0], s0->dim[1], s0->dim[2]);
		break;
	case OP_SLICE: {
		int axis = (int)n->iattr[0];
		int64_t start = n->iattr[1], len = o->dim[axis];
		size_t outer = 1, inner = 1;
		if (start + len > s0->dim[axis]) {
			diag_error(in->d, "node %%%s: slice [%lld, %lld) of axis %d "
			           "exceeds its %lld entries", n->name,
			           (long long)start, (long long)(start + len), axis,
			           (long long)s0->dim[axis]);
			return false;
		}
		for (int k = 0; k < axis; k++)
			outer *= (size_t)s0->dim[k];
		for (int k = axis + 1; k < s0->rank; k++)
			inner *= (size_t)s0->dim[k];
		for (size_t i = 0; i < outer; i++)
			memcpy(o->x + i * (size_t)len * inner,
			       s0->x + (i * (size_t)s0->dim[axis] + (size_t)start) *
			                   inner,
			       (size_t)len * inner * sizeof(double));
		break;
	}
	case OP_ADD:
	case OP_MUL:
		broadcast(o, s0, s1, n->op);
		break;
	case OP_SIN:
		for (size_t i = 0; i < o->n; i++)
			o->x[i] = sin(s0->x[i]);
		break;
	case OP_SIN_LINEAR: {
		/* linear, mul by the frequency, sin: the ops it was made of */
		const Val *f = &in->v[n->src[3]->id];
		int64_t N = s1->dim[0];
		if (!proj_rows(in, n, 1, o->x, s0->x, o->n / (size_t)N, last(s0), N,
		               s1->x, s2->x))
			return false;
		for (size_t i = 0; i < o->n; i++)
			o->x[i] = sin(o->x[i] * f->x[i % (size_t)N]);
		break;
	}
	case OP_GELU_TANH:
	case OP_GELU:
	case OP_RELU:
		for (size_t i = 0; i < o->n; i++)
			o->x[i] = act(ir_fp_act_of(n->op), s0->x[i]);
		break;
	case OP_EXPMOD: {
		int64_t C = last(o);
		double shift = n->fattr[0];
		for (size_t r = 0; r < o->n / (size_t)C; r++)
			for (int64_t c = 0; c < C; c++) {
				size_t i = r * (size_t)C + (size_t)c;
				o->x[i] = s0->x[i] *
				          (exp(-s1->x[r] * fabs(s2->x[c])) + shift);
			}
		break;
	}
	case OP_FUSED_PROJ:
		return fused_proj(in, n, o);
	case OP_GATED_CONV:
		return gated_conv(in, n, o);
	case OP_FUSED_MLP:
		return fused_mlp(in, n, o);
	case OP_POOL:
		return pool(in, n, o);
	case OP_STATE: {
		int64_t slot = n->iattr[0];
		if (!in->state || slot >= in->nslots || !in->state[slot]) {
			diag_error(in->d, "state %%%s: slot %lld not given", n->name,
			           (long long)slot);
			return false;
		}
		for (size_t i = 0; i < o->n; i++)
			o->x[i] = in->state[slot][i];
		break;
	}
	case OP_STATE_SAVE:
		state_save(in, n, o);
		break;
	case OP_TAIL_PROJ:
		return tail_proj(in, n, o);
	case OP_SHORT_STEP:
		short_step(in, n, o);
		break;
	case OP_CONV_STEP:
		return conv_step(in, n, o);
	case OP_COUNT:
		hy_die("bad op");
	}
	return true;
}

/* Evaluate the nodes e needs (every node when e is NULL) and copy out
 * the outputs (e's, or the graph's). */
static bool run(const Graph *g, const EntryPoint *e, const int32_t *tokens,
                int64_t B, int64_t L, float **outs, Diag *d, int64_t pos,
                float **state, int nslots)
{
	Interp in = {g, arena_new(), B, L, NULL, tokens, d, pos, state, nslots};
	int nout = e ? e->noutputs : g->noutputs;
	const Output *out = e ? e->outputs : g->outputs;
	bool ok = true;

	HY_ASSERT(B >= 0 && L >= 0);
	if (g->max_len > 0 && L > g->max_len) {
		diag_error(d, "sequence length %lld exceeds the model's "
		           "max_seq_len %lld", (long long)L, (long long)g->max_len);
		arena_free(in.a);
		return false;
	}
	in.v = arena_alloc(in.a, (size_t)g->nnodes * sizeof *in.v);
	bool *live = arena_alloc(in.a, (size_t)g->nnodes + 1);
	ir_entry_live(g, e, live); /* e NULL: the graph's outputs' */
	for (int i = 0; ok && i < g->nnodes; i++)
		if (live[i])
			ok = eval(&in, g->nodes[i]);
	for (int i = 0; i < nout; i++)
		outs[i] = NULL;
	for (int i = 0; ok && i < nout; i++) {
		const Val *v = &in.v[out[i].node->id];
		outs[i] = malloc(v->n * sizeof(float) + 1);
		if (!outs[i]) {
			diag_error(d, "out of memory for output '%s'", out[i].name);
			ok = false;
			break;
		}
		for (size_t k = 0; k < v->n; k++)
			outs[i][k] = (float)v->x[k];
	}
	/* the step ops wrote their states in place: back to the caller */
	for (int i = 0; ok && state && i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (n->op != OP_STATE || !live[i])
			continue;
		for (size_t k = 0; k < in.v[i].n; k++)
			state[n->iattr[0]][k] = (float)in.v[i].x[k];
	}
	if (!ok)
		for (int i = 0; i < nout; i++) {
			free(outs[i]);
			outs[i] = NULL;
		}
	arena_free(in.a);
	return ok;
}

bool ir_interp(const Graph *g, const int32_t *tokens, int64_t B, int64_t L,
               float **outs, Diag *d)
{
	return run(g, NULL, tokens, B, L, outs, d, 0, NULL, 0);
}

bool ir_interp_entry(const Graph *g, const EntryPoint *e, const int32_t *tokens,
                     int64_t B, int64_t L, float **outs, Diag *d)
{
	HY_ASSERT(e);
	return run(g, e, tokens, B, L, outs, d, 0, NULL, 0);
}

bool ir_interp_step(const Graph *g, const EntryPoint *e, const int32_t *tokens,
                    int64_t B, int64_t pos, float **state, int nslots,
                    float **outs, Diag *d)
{
	HY_ASSERT(e && state);
	return run(g, e, tokens, B, 1, outs, d, pos, state, nslots);
}
