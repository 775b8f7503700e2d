/*
 * fold.c - filter folding: evaluate at compile time every value that
 * depends on no input. In HyenaDNA that is the implicit filter (positional
 * features -> MLP with Sin -> exponential modulation) and the slices of
 * filter biases: functions of weights and positions only.
 *
 * The folded value is evaluated by the reference interpreter (in double,
 * rounded once to float) at the compiled length Graph.max_len and becomes
 * a weight; a value with a length axis is read back through
 * slice(axis, 0, L), so a shorter run uses its prefix, which is exact
 * because the filter is position-wise.
 *
 * The size rule: fold when all folded constants together take at most
 * PassOptions.fold_limit bytes (64 MiB by default). Past that (a 1M-token
 * model needs about 1 GiB of filters per layer) the filter stays as code
 * that runs with the model, and Graph.unfolded_bytes records what folding
 * would have cost; --stats shows either figure.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

static int len_axis(const TensorType *t)
{
	int axis = -1;
	for (int i = 0; i < t->rank; i++) {
		if (t->dim[i] == DIM_B)
			return -2;
		if (t->dim[i] == DIM_L) {
			if (axis >= 0)
				return -2;
			axis = i;
		}
	}
	return axis;
}

bool pass_fold(Graph *g, const PassOptions *o, Diag *d, bool *changed)
{
	Arena *a = g->arena;
	int n = g->nnodes;
	bool *cst = arena_alloc(a, (size_t)n + 1);
	bool *front = arena_alloc(a, (size_t)n + 1);
	int nfront = 0;
	size_t bytes = 0;

	*changed = false;
	if (g->max_len <= 0)
		return true;
	for (int i = 0; i < n; i++) {
		Node *x = g->nodes[i];
		cst[i] = (ir_op_info(x->op)->flags & OPF_CONST) != 0;
		if (x->op != OP_INPUT && x->nsrc > 0) {
			cst[i] = true;
			for (int k = 0; k < x->nsrc; k++)
				cst[i] &= cst[x->src[k]->id];
		}
	}
	/* The frontier: computed constants that something else consumes. */
	for (int i = 0; i < n; i++) {
		Node *x = g->nodes[i];
		for (int k = 0; k < x->nsrc; k++) {
			Node *s = x->src[k];
			if (!cst[i] && cst[s->id] && s->op != OP_WEIGHT)
				front[s->id] = true;
		}
	}
	for (int i = 0; i < g->noutputs; i++)
		if (cst[g->outputs[i].node->id] &&
		    g->outputs[i].node->op != OP_WEIGHT)
			front[g->outputs[i].node->id] = true;
	for (int i = 0; i < n; i++) {
		size_t k;
		if (!front[i])
			continue;
		if (len_axis(&g->nodes[i]->type) == -2 ||
		    !ir_type_numel(&g->nodes[i]->type, 1, g->max_len, &k)) {
			front[i] = false;
			continue;
		}
		bytes += k * sizeof(float);
		nfront++;
	}
	if (nfront == 0)
		return true;
	if (o->fold_limit < 0 || bytes > (size_t)o->fold_limit) {
		g->unfolded_bytes = (int64_t)bytes;
		return true;
	}

	/* Evaluate the constant part: a graph of the constant nodes the
	 * frontier needs, with the frontier as outputs, run by the
	 * interpreter at L = max_len. */
	bool *need = arena_alloc(a, (size_t)n + 1);
	for (int i = n - 1; i >= 0; i--) {
		need[i] |= front[i];
		for (int k = 0; need[i] && k < g->nodes[i]->nsrc; k++)
			need[g->nodes[i]->src[k]->id] = true;
	}
	Graph *c = ir_graph_new(a, "fold");
	Node **copy = arena_alloc(a, (size_t)n * sizeof *copy);
	c->max_len = g->max_len;
	for (int i = 0; i < n; i++) {
		Node *x = g->nodes[i], *src[IR_MAX_SRC];
		if (!need[i])
			continue;
		for (int k = 0; k < x->nsrc; k++)
			src[k] = copy[x->src[k]->id];
		Node *y = ir_add(c, x->op, x->name, x->nsrc, src);
		memcpy(y->iattr, x->iattr, sizeof y->iattr);
		memcpy(y->fattr, x->fattr, sizeof y->fattr);
		y->sattr = x->sattr;
		y->data = x->data;
		y->type = x->type;
		copy[i] = y;
		if (front[i])
			ir_add_output(c, x->name, y);
	}
	float **vals = arena_alloc(a, (size_t)nfront * sizeof *vals);
	if (!ir_interp(c, NULL, 1, g->max_len, vals, d))
		return false;

	/* Each frontier node becomes a weight holding its value (or a slice
	 * of one, when it has a length axis). */
	Node **nodes = arena_alloc(a, (size_t)(n + nfront) * sizeof *nodes);
	int m = 0, f = 0;
	for (int i = 0; i < n; i++) {
		Node *x = g->nodes[i];
		if (!front[i]) {
			nodes[m++] = x;
			continue;
		}
		size_t k;
		HY_ASSERT(ir_type_numel(&x->type, 1, g->max_len, &k));
		float *data = arena_try_alloc(a, k * sizeof *data + 1);
		if (!data) {
			free(vals[f]);
			diag_error(d, "out of memory folding %%%s", x->name);
			return false;
		}
		memcpy(data, vals[f], k * sizeof *data);
		free(vals[f++]);
		int axis = len_axis(&x->type);
		Node *w = x;
		if (axis >= 0) {
			w = arena_alloc(a, sizeof *w);
			w->name = arena_printf(a, "%s.folded", x->name);
			w->type = x->type;
			w->type.dim[axis] = g->max_len;
			nodes[m++] = w;
			x->op = OP_SLICE;
			x->nsrc = 1;
			x->src[0] = w;
			memset(x->iattr, 0, sizeof x->iattr);
			memset(x->fattr, 0, sizeof x->fattr);
			x->iattr[0] = axis;
			x->iattr[1] = 0;
			x->iattr[2] = DIM_L;
		} else {
			x->nsrc = 0;
			memset(x->iattr, 0, sizeof x->iattr);
			memset(x->fattr, 0, sizeof x->fattr);
		}
		w->op = OP_WEIGHT;
		w->sattr = arena_printf(a, "folded.%s", x->name);
		w->data = data;
		nodes[m++] = x;
	}
	for (int i = 0; i < m; i++)
		nodes[i]->id = i;
	g->nodes = nodes;
	g->nnodes = m;
	g->cap = n + nfront;
	g->folded_bytes = (int64_t)bytes;
	*changed = true;
	bool dead;
	return pass_dce(g, o, d, &dead); /* the filters' inputs are unused now */
}
