/*
 * fuse.c - operator fusion: rewrite the primitive ops of a lowered Hyena
 * block into the fused ops of ops.def, so that a block of order 2 runs as
 * five kernels instead of about sixteen:
 *
 *   layernorm -> linear -> dwconv           fused_proj {ln=1, conv=K}
 *   mul (gate) -> longconv, mul (skip),
 *     add -> mul (output gate)              gated_conv (slices absorbed)
 *   linear -> add (residual)                fused_proj {res=1}
 *   layernorm -> linear -> gelu_tanh        fused_proj {ln=1, act=1}
 *   linear -> add (residual)                fused_proj {res=1}
 *
 * Both patterns are matched from their anchor op (linear, longconv) and
 * grow only through values that have exactly one user and are not graph
 * outputs, so nothing a fused kernel swallows is needed anywhere else. The
 * one exception is a channel slice ([B,L,C] along axis 2) feeding a
 * gated_conv operand: it is read in place through the op's offset, and
 * stays (as a copy) only if something else still uses it. A prefix
 * slice of a fixed-length filter ([Lk,D] -> [L,D]) is read in place too.
 *
 * For order > 2 each order step becomes its own gated_conv; an add whose
 * output is the next step's gate is left for that step to absorb, so
 * the steps chain through full [B,L,D] tensors.
 *
 * A match rewrites its last node in place (keeping its name, so users and
 * graph outputs follow) and leaves the swallowed nodes dead; dce removes
 * them before the next match, so use counts always describe the live
 * graph. Fusion is skipped when PassOptions.fuse is false (-O0,
 * --no-fuse). It runs after convsel, whose `method` the gated_conv keeps.
 */
#include "passes.h"

#include <string.h>

typedef struct Fuse {
	Graph *g;
	int *uses;  /* per node id: operand slots that name it */
	Node **user; /* the last node seen using it */
	bool *out;  /* a graph output */
} Fuse;

static void count_uses(Fuse *f)
{
	Graph *g = f->g;
	memset(f->uses, 0, (size_t)g->nnodes * sizeof *f->uses);
	memset(f->out, 0, (size_t)g->nnodes * sizeof *f->out);
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nsrc; k++) {
			Node *s = g->nodes[i]->src[k];
			f->uses[s->id]++;
			f->user[s->id] = g->nodes[i];
		}
	for (int i = 0; i < g->noutputs; i++)
		f->out[g->outputs[i].node->id] = true;
}

/* n's only user, when n has exactly one and is no graph output. */
static Node *sole_user(const Fuse *f, const Node *n)
{
	if (f->uses[n->id] != 1 || f->out[n->id])
		return NULL;
	return f->user[n->id];
}

/* The operand of binary op n that is not x (NULL if x is neither, or
 * both). */
static Node *other(const Node *n, const Node *x)
{
	if (n->src[0] == x && n->src[1] != x)
		return n->src[1];
	if (n->src[1] == x && n->src[0] != x)
		return n->src[0];
	return NULL;
}

/* Turn n into op with srcs, attrs cleared; its type and name stay. */
static void rewrite(Node *n, OpKind op, int nsrc, Node **src)
{
	n->op = op;
	n->nsrc = nsrc;
	memset(n->src, 0, sizeof n->src);
	memcpy(n->src, src, (size_t)nsrc * sizeof *src);
	memset(n->iattr, 0, sizeof n->iattr);
	memset(n->fattr, 0, sizeof n->fattr);
	n->sattr = NULL;
}

/* ---- fused_proj ------------------------------------------------------- */

/*   [layernorm ->] linear [-> dwconv] [-> act] [-> add residual]
 * with at least one of the optional parts. */
static bool try_proj(Fuse *f, Node *lin)
{
	Node *x = lin->src[0], *ln = NULL, *conv = NULL, *res = NULL;
	Node *cur = lin, *u, *src[IR_MAX_SRC];
	FpAct a = FP_ACT_NONE;
	int n = 0;

	if (x->op == OP_LAYERNORM && sole_user(f, x) == lin)
		ln = x;
	u = sole_user(f, cur);
	if (u && u->op == OP_DWCONV && u->src[0] == cur) {
		conv = cur = u;
		u = sole_user(f, cur);
	}
	if (u && ir_fp_act_of(u->op) != FP_ACT_NONE) {
		a = ir_fp_act_of(u->op);
		cur = u;
		u = sole_user(f, cur);
	}
	if (u && u->op == OP_ADD && other(u, cur) &&
	    ir_type_eq(&other(u, cur)->type, &cur->type)) {
		res = other(u, cur);
		cur = u;
	}
	if (cur == lin && !ln)
		return false;

	src[n++] = ln ? ln->src[0] : x;
	src[n++] = lin->src[1];
	if (lin->nsrc == 3)
		src[n++] = lin->src[2];
	if (ln) {
		src[n++] = ln->src[1];
		src[n++] = ln->src[2];
	}
	if (conv) {
		src[n++] = conv->src[1];
		if (conv->nsrc == 3)
			src[n++] = conv->src[2];
	}
	if (res)
		src[n++] = res;
	double eps = ln ? ln->fattr[0] : 0.0;
	int64_t kc = conv ? conv->src[1]->type.dim[1] : 0;
	bool cb = conv && conv->nsrc == 3, lb = lin->nsrc == 3;
	rewrite(cur, OP_FUSED_PROJ, n, src);
	cur->iattr[FP_BIAS] = lb;
	cur->iattr[FP_LN] = ln != NULL;
	cur->iattr[FP_CONV] = kc;
	cur->iattr[FP_CONV_BIAS] = cb;
	cur->iattr[FP_ACT] = a;
	cur->iattr[FP_RES] = res != NULL;
	cur->fattr[0] = eps;
	return true;
}

/* ---- gated_conv ------------------------------------------------------- */

/* A [B,L,D] operand, read through the channel slice that made it when
 * there is one: the tensor and the offset to read from. */
static Node *window(Node *x, int64_t *off)
{
	*off = 0;
	if (x->op == OP_SLICE && x->iattr[0] == 2 && x->type.rank == 3) {
		*off = x->iattr[1];
		return x->src[0];
	}
	return x;
}

/* A filter [L,D], or the fixed-length tensor it is a prefix of. */
static Node *filter(Node *k)
{
	if (k->op == OP_SLICE && k->iattr[0] == 0 && k->iattr[1] == 0 &&
	    k->iattr[2] == DIM_L && k->src[0]->type.rank == 2 &&
	    k->src[0]->type.dim[0] >= 0)
		return k->src[0];
	return k;
}

static bool is_conv_input(const Graph *g, const Node *x)
{
	for (int i = 0; i < g->nnodes; i++)
		if (g->nodes[i]->op == OP_LONGCONV && g->nodes[i]->src[0] == x)
			return true;
	return false;
}

/* Same [B,L,D] type as ref, the only kind of operand the op takes. */
static bool same(const Node *x, const Node *ref)
{
	return ir_type_eq(&x->type, &ref->type);
}

/*   u = mul(v, g); y = add(longconv(u, k), mul(u, bias)) [; mul(y, post)]
 * where u feeds only those two, and bias is [D]. */
static bool try_gated(Fuse *f, Node *lc)
{
	Node *u = lc->src[0], *add = sole_user(f, lc), *skip, *bias, *post = NULL;
	Node *cur, *src[5];
	int64_t off[3] = {0, 0, 0};

	if (u->op != OP_MUL || f->uses[u->id] != 2 || f->out[u->id] ||
	    !same(u->src[0], u) || !same(u->src[1], u))
		return false;
	if (!add || add->op != OP_ADD || !(skip = other(add, lc)))
		return false;
	if (skip->op != OP_MUL || sole_user(f, skip) != add ||
	    !(bias = other(skip, u)) || bias->type.rank != 1 ||
	    bias->type.dim[0] != lc->type.dim[2] || !same(add, lc))
		return false;
	cur = add;
	Node *m = sole_user(f, add);
	if (m && m->op == OP_MUL && other(m, add) && same(other(m, add), add) &&
	    same(m, add) && !is_conv_input(f->g, m)) {
		post = other(m, add);
		cur = m;
	}

	src[0] = window(u->src[0], &off[0]);
	src[1] = window(u->src[1], &off[1]);
	src[2] = filter(lc->src[1]);
	src[3] = bias;
	if (post)
		src[4] = window(post, &off[2]);
	int64_t method = lc->iattr[0];
	rewrite(cur, OP_GATED_CONV, post ? 5 : 4, src);
	cur->iattr[GC_METHOD] = method;
	cur->iattr[GC_V_OFF] = off[0];
	cur->iattr[GC_G_OFF] = off[1];
	cur->iattr[GC_POST_OFF] = off[2];
	return true;
}

bool pass_fuse(Graph *g, const PassOptions *o, Diag *d, bool *changed)
{
	Arena *a = g->arena;
	Fuse f = {g, NULL, NULL, NULL};
	size_t cap = (size_t)g->nnodes + 1; /* fusion never adds nodes */

	*changed = false;
	if (!o->fuse)
		return true;
	f.uses = arena_alloc(a, cap * sizeof *f.uses);
	f.user = arena_alloc(a, cap * sizeof *f.user);
	f.out = arena_alloc(a, cap * sizeof *f.out);
	for (;;) {
		bool hit = false, dead;
		count_uses(&f);
		/* convolutions first: their gates must still be plain muls */
		for (int i = 0; i < g->nnodes && !hit; i++)
			if (g->nodes[i]->op == OP_LONGCONV)
				hit = try_gated(&f, g->nodes[i]);
		for (int i = 0; i < g->nnodes && !hit; i++)
			if (g->nodes[i]->op == OP_LINEAR)
				hit = try_proj(&f, g->nodes[i]);
		if (!hit)
			break;
		*changed = true;
		if (!pass_dce(g, o, d, &dead))
			return false;
	}
	return true;
}
