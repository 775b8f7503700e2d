/*
 * interp.c - the reference interpreter: the oracle every pass and kernel
 * is tested against. Plain loops, every value held in double, the long
 * convolution computed directly (O(L^2)); no cleverness, so that what it
 * computes is easy to check against the op definitions in ops.def.
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
	case OP_LAYERNORM: {
		int64_t D = last(s0);
		double eps = n->fattr[0];
		for (size_t r = 0; r < o->n / (size_t)D; r++) {
			const double *x = s0->x + r * (size_t)D;
			double mean = 0, var = 0;
			for (int64_t k = 0; k < D; k++)
				mean += x[k];
			mean /= (double)D;
			for (int64_t k = 0; k < D; k++)
				var += (x[k] - mean) * (x[k] - mean);
			var /= (double)D;
			double inv = 1.0 / sqrt(var + eps);
			for (int64_t k = 0; k < D; k++)
				o->x[r * (size_t)D + (size_t)k] =
				    (x[k] - mean) * inv * s1->x[k] + s2->x[k];
		}
		break;
	}
	case OP_LINEAR: {
		int64_t K = last(s0), N = s1->dim[0];
		size_t rows = o->n / (size_t)N;
		for (size_t r = 0; r < rows; r++) {
			const double *x = s0->x + r * (size_t)K;
			for (int64_t j = 0; j < N; j++) {
				const double *w = s1->x + (size_t)j * (size_t)K;
				double acc = s2 ? s2->x[j] : 0.0;
				for (int64_t k = 0; k < K; k++)
					acc += x[k] * w[k];
				o->x[r * (size_t)N + (size_t)j] = acc;
			}
		}
		break;
	}
	case OP_DWCONV: {
		int64_t Bn = s0->dim[0], Ln = s0->dim[1], C = s0->dim[2];
		int64_t K = s1->dim[1];
		for (int64_t b = 0; b < Bn; b++)
			for (int64_t t = 0; t < Ln; t++)
				for (int64_t c = 0; c < C; c++) {
					double acc = s2 ? s2->x[c] : 0.0;
					for (int64_t j = 0; j < K; j++) {
						int64_t src = t - K + 1 + j;
						if (src >= 0)
							acc += s1->x[c * K + j] *
							       s0->x[(b * Ln + src) * C + c];
					}
					o->x[(b * Ln + t) * C + c] = acc;
				}
		break;
	}
	case OP_LONGCONV: {
		int64_t Bn = s0->dim[0], Ln = s0->dim[1], C = s0->dim[2];
		for (int64_t b = 0; b < Bn; b++)
			for (int64_t t = 0; t < Ln; t++) {
				double *y = o->x + (b * Ln + t) * C;
				for (int64_t c = 0; c < C; c++)
					y[c] = 0.0;
				for (int64_t s = 0; s <= t; s++) {
					const double *u = s0->x + (b * Ln + s) * C;
					const double *k = s1->x + (t - s) * C;
					for (int64_t c = 0; c < C; c++)
						y[c] += k[c] * u[c];
				}
			}
		break;
	}
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
	case OP_GELU_TANH:
		for (size_t i = 0; i < o->n; i++)
			o->x[i] = gelu_tanh(s0->x[i]);
		break;
	case OP_GELU:
		for (size_t i = 0; i < o->n; i++)
			o->x[i] = 0.5 * s0->x[i] * (1.0 + erf(s0->x[i] * M_SQRT1_2));
		break;
	case OP_RELU:
		for (size_t i = 0; i < o->n; i++)
			o->x[i] = s0->x[i] > 0 ? s0->x[i] : 0.0;
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
	case OP_COUNT:
		hy_die("bad op");
	}
	return true;
}

bool ir_interp(const Graph *g, const int32_t *tokens, int64_t B, int64_t L,
               float **outs, Diag *d)
{
	Interp in = {g, arena_new(), B, L, NULL, tokens, d};
	bool ok = true;

	HY_ASSERT(B >= 0 && L >= 0);
	if (g->max_len > 0 && L > g->max_len) {
		diag_error(d, "sequence length %lld exceeds the model's "
		           "max_seq_len %lld", (long long)L, (long long)g->max_len);
		arena_free(in.a);
		return false;
	}
	in.v = arena_alloc(in.a, (size_t)g->nnodes * sizeof *in.v);
	for (int i = 0; ok && i < g->nnodes; i++)
		ok = eval(&in, g->nodes[i]);
	for (int i = 0; i < g->noutputs; i++)
		outs[i] = NULL;
	for (int i = 0; ok && i < g->noutputs; i++) {
		const Val *v = &in.v[g->outputs[i].node->id];
		outs[i] = malloc(v->n * sizeof(float) + 1);
		if (!outs[i]) {
			diag_error(d, "out of memory for output '%s'",
			           g->outputs[i].name);
			ok = false;
			break;
		}
		for (size_t k = 0; k < v->n; k++)
			outs[i][k] = (float)v->x[k];
	}
	if (!ok)
		for (int i = 0; i < g->noutputs; i++) {
			free(outs[i]);
			outs[i] = NULL;
		}
	arena_free(in.a);
	return ok;
}
