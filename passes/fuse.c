/*
 * fuse.c - operator fusion: rewrite the primitive ops of a lowered Hyena
 * block into the fused ops of ops.def, so that a block of order 2 runs as
 * four kernels instead of about sixteen:
 *
 *   layernorm -> linear -> dwconv,
 *     mul (gate)                            fused_proj {ln=1, conv=K, gate=1}
 *   longconv, mul (skip), add,
 *     mul (output gate)                     gated_conv {pregated=1}
 *   linear -> add (residual)                fused_proj {res=1}
 *   layernorm -> linear -> gelu_tanh
 *     -> linear -> add (residual)           fused_mlp {ln=1, act=1, res=1}
 *
 * in three rounds: the anchors (longconv, linear) first, then the gate of
 * an order-2 step into its projection (try_gate), the two projections of
 * the MLP into one (try_mlp) and, for filters made at run time and
 * convolved through the FFT, the filter's last layer into the
 * convolution (try_gen). The last three are what keep a long sequence's
 * [L, 3D], [L, d_inner] and [L, D] filter tensors from ever being whole.
 * On the CPU the filter MLP's layers (linear, frequency, sin) become
 * sin_linear ops (try_sin_linear), which memplan runs in place, and,
 * last, a run-time filter's convolution gets its post gate after it
 * (late_post), projected there rather than stored beside its input.
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

#include <stdio.h>
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
	for (int i = 0; i < g->nnodes; i++)
		f->out[i] = ir_is_output(g, g->nodes[i]);
}

/* The per-node arrays for up to cap nodes. */
static void fuse_alloc(Fuse *f, size_t cap)
{
	Arena *a = f->g->arena;
	f->uses = arena_alloc(a, cap * sizeof *f->uses);
	f->user = arena_alloc(a, cap * sizeof *f->user);
	f->out = arena_alloc(a, cap * sizeof *f->out);
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

/* A filter [L,D], or the fixed-length tensor it is a prefix of, or the
 * tensor that a slice of all its channels copies. */
static Node *filter(Node *k)
{
	if (k->op == OP_SLICE && k->iattr[0] == 0 && k->iattr[1] == 0 &&
	    k->iattr[2] == DIM_L && k->src[0]->type.rank == 2 &&
	    k->src[0]->type.dim[0] >= 0)
		return k->src[0];
	if (k->op == OP_SLICE && k->iattr[0] == 1 && k->iattr[1] == 0 &&
	    ir_type_eq(&k->type, &k->src[0]->type))
		return filter(k->src[0]);
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

/* ---- the gate into the projection -------------------------------------
 *
 *   z = fused_proj{conv}[..., 3D]; gated_conv(v = z[D or 2D], g = z[2D or
 *   D], post = z[0])
 * becomes z = fused_proj{conv, gate}[..., 2D] = [post | g * v] and a
 * pregated gated_conv reading z[D:] and z[0:], so the projection's three
 * D-wide outputs are stored as two. */
static bool try_gate(Fuse *f, Node *gc)
{
	Node *z = gc->src[0];
	int64_t D = gc->type.dim[2], voff = gc->iattr[GC_V_OFF];
	int64_t goff = gc->iattr[GC_G_OFF];

	if (gc->iattr[GC_PREGATED] || gc->nsrc != 5 || gc->src[1] != z ||
	    gc->src[4] != z || gc->iattr[GC_POST_OFF] != 0)
		return false;
	if (z->op != OP_FUSED_PROJ || !z->iattr[FP_CONV] || z->iattr[FP_ACT] ||
	    z->iattr[FP_RES] || z->iattr[FP_GATE] || f->out[z->id] ||
	    f->uses[z->id] != 3 || z->type.dim[2] != 3 * D)
		return false;
	if (!((voff == D && goff == 2 * D) || (voff == 2 * D && goff == D)))
		return false;
	Node *src[4] = {z, gc->src[2], gc->src[3], z};
	int64_t method = gc->iattr[GC_METHOD];
	rewrite(gc, OP_GATED_CONV, 4, src);
	gc->iattr[GC_METHOD] = method;
	gc->iattr[GC_V_OFF] = D;
	gc->iattr[GC_PREGATED] = 1;
	z->iattr[FP_GATE] = 1;
	z->type.dim[2] = 2 * D;
	return true;
}

/* ---- the filter's last layer into the convolution ---------------------
 *
 *   k = expmod(linear(h, w), t, deltas); gated_conv{method=fft}(.., k, ..)
 * becomes gated_conv{gen=1}(.., h, w, t, deltas, ..): each channel
 * block's filter is made where the FFT needs it, and the [L, D] filter
 * (a gigabyte a layer at a million positions) is never stored. Where t
 * is the first column of the positional features (slice, axis 1), the
 * convolution reads that column of the features, and the [L, 1] copy
 * (64 bytes a position in the plan) goes too. */
static bool try_gen(Fuse *f, Node *gc)
{
	GcSrc gs;
	Node *src[IR_MAX_SRC];
	int n = 0;

	if (gc->iattr[GC_GEN] || gc->iattr[GC_METHOD] != CONV_FFT)
		return false;
	ir_gc_srcs(gc, &gs);
	Node *em = gc->src[gs.k];
	if (em->op != OP_EXPMOD || sole_user(f, em) != gc)
		return false;
	Node *lin = em->src[0];
	if (lin->op != OP_LINEAR || lin->nsrc != 2 || sole_user(f, lin) != em)
		return false;
	/* t, the features' first column: read in place from the features */
	Node *t = em->src[1];
	if (t->op == OP_SLICE && t->iattr[0] == 1 && t->iattr[1] == 0 &&
	    t->type.rank == 2 && t->type.dim[1] == 1 &&
	    t->src[0]->type.rank == 2 && sole_user(f, t) == em)
		t = t->src[0];
	for (int i = 0; i < gc->nsrc; i++) {
		if (i != gs.k) {
			src[n++] = gc->src[i];
			continue;
		}
		src[n++] = lin->src[0];
		src[n++] = lin->src[1];
		src[n++] = t;
		src[n++] = em->src[2];
	}
	double shift = em->fattr[0];
	memcpy(gc->src, src, sizeof src);
	gc->nsrc = n;
	gc->iattr[GC_GEN] = 1;
	gc->fattr[0] = shift;
	return true;
}

/* ---- fused_mlp --------------------------------------------------------
 *
 *   h = fused_proj{ln?, act}(x); y = fused_proj{res?}(h)
 * where h has no other user: one kernel, h made and used a tile at a
 * time. */
static bool try_mlp(Fuse *f, Node *p2)
{
	Node *h = p2->src[0], *src[IR_MAX_SRC];
	int n = 0;

	if (p2->op != OP_FUSED_PROJ || p2->iattr[FP_LN] || p2->iattr[FP_CONV] ||
	    p2->iattr[FP_ACT] || p2->iattr[FP_GATE])
		return false;
	if (h->op != OP_FUSED_PROJ || h->iattr[FP_CONV] || h->iattr[FP_RES] ||
	    h->iattr[FP_GATE] || !h->iattr[FP_ACT] || sole_user(f, h) != p2)
		return false;
	FpSrc a, b;
	ir_fp_srcs(h, &a);
	ir_fp_srcs(p2, &b);
	src[n++] = h->src[a.x];
	src[n++] = h->src[a.w];
	if (a.bias >= 0)
		src[n++] = h->src[a.bias];
	if (a.ln_g >= 0) {
		src[n++] = h->src[a.ln_g];
		src[n++] = h->src[a.ln_b];
	}
	src[n++] = p2->src[b.w];
	if (b.bias >= 0)
		src[n++] = p2->src[b.bias];
	if (b.res >= 0)
		src[n++] = p2->src[b.res];
	int64_t act = h->iattr[FP_ACT], ln = h->iattr[FP_LN];
	double eps = h->fattr[0];
	rewrite(p2, OP_FUSED_MLP, n, src);
	p2->iattr[FM_BIAS] = a.bias >= 0;
	p2->iattr[FM_LN] = ln;
	p2->iattr[FM_ACT] = act;
	p2->iattr[FM_BIAS2] = b.bias >= 0;
	p2->iattr[FM_RES] = b.res >= 0;
	p2->fattr[0] = eps;
	return true;
}

/* ---- a layer of the filter's MLP -------------------------------------
 *
 *   sin(mul(linear(x, w, b), freq)), freq [N]
 * becomes sin_linear(x, w, b, freq): one kernel that memplan may place
 * over its input, so a run-time filter's MLP holds one [L, E] buffer
 * beside its first input instead of two. Not on the GPU, which has no
 * kernel for it. */
static bool try_sin_linear(Fuse *f, Node *s)
{
	Node *m = s->src[0];
	if (m->op != OP_MUL || sole_user(f, m) != s)
		return false;
	Node *lin = m->src[m->src[0]->op == OP_LINEAR ? 0 : 1];
	Node *freq = other(m, lin);
	if (lin->op != OP_LINEAR || lin->nsrc != 3 || !freq ||
	    sole_user(f, lin) != m || freq->type.rank != 1 ||
	    freq->type.dim[0] != lin->type.dim[lin->type.rank - 1] ||
	    !ir_type_eq(&lin->type, &s->type))
		return false;
	Node *src[4] = {lin->src[0], lin->src[1], lin->src[2], freq};
	rewrite(s, OP_SIN_LINEAR, 4, src);
	return true;
}

/* ---- the post gate after the convolution -----------------------------
 *
 *   z = fused_proj{conv, gate=1}(x, W[3D,K], ..) = [post | g * v]
 *   y = gated_conv{pregated, gen}(v = z[D:], .., post = z[0:])
 * becomes
 *   z = fused_proj{conv, gate=2, row0=D, rows=2D}(x, W, ..) = g * v
 *   y = gated_conv{pregated, gen}(v = z, ..)            (no post)
 *   p = fused_proj{conv, res=2, row0=0, rows=D}(x, W, .., y) = post * y
 * with p in y's place for y's users: the post gate's D columns are
 * projected after the convolution instead of before it, from the same x
 * (its layernorm made again, and per tile the short filter's K-1 halo
 * rows), so they are never stored beside the convolution's input. With
 * memplan's in-place rules (the convolution over z, p over y, out_proj
 * over its residual x) the layer holds the residual and one D-wide value
 * a token instead of the residual and two: large-1m's token region falls
 * from 3072 to 2048 bytes, a gigabyte at a million tokens. The same
 * products in the same order, so the result is unchanged to the bit.
 *
 * Only where the filter is made at run time (gen): the long runs this
 * memory is for, and graphs that get no generation entries (entries.c),
 * whose step reads [post | g * v]. Only on the CPU, whose GEMM starts a
 * window on a panel of FUSE_PANEL_ROWS rows (codegen/cpu's GEMM_NR); the
 * GPU's kernels read [post | g * v]. */
enum { FUSE_PANEL_ROWS = 32 };

static bool late_post(Fuse *f, Node *gc)
{
	GcSrc gs;
	Node *z = gc->src[0];
	int64_t D = gc->type.dim[2];

	if (gc->op != OP_GATED_CONV || !gc->iattr[GC_PREGATED] ||
	    !gc->iattr[GC_GEN] || f->out[gc->id] || D % FUSE_PANEL_ROWS)
		return false;
	ir_gc_srcs(gc, &gs);
	if (gs.post < 0 || gc->src[gs.post] != z || gc->iattr[GC_POST_OFF] ||
	    gc->iattr[GC_V_OFF] != D)
		return false;
	if (z->op != OP_FUSED_PROJ || z->iattr[FP_GATE] != 1 ||
	    z->iattr[FP_ROWS] || !z->iattr[FP_CONV] || f->out[z->id] ||
	    f->uses[z->id] != 2 || z->type.dim[2] != 2 * D)
		return false;

	/* the post projection: z's sources, and y */
	Graph *g = f->g;
	Node *src[IR_MAX_SRC];
	int n = z->nsrc;
	char name[256];
	memcpy(src, z->src, (size_t)n * sizeof *src);
	src[n++] = gc;
	snprintf(name, sizeof name, "%s.post", gc->name);
	if (ir_find(g, name) || n > IR_MAX_SRC)
		return false;
	Node *p = ir_add(g, OP_FUSED_PROJ, name, n, src);
	memcpy(p->iattr, z->iattr, sizeof p->iattr);
	memcpy(p->fattr, z->fattr, sizeof p->fattr);
	p->iattr[FP_GATE] = 0;
	p->iattr[FP_RES] = 2;
	p->iattr[FP_ROW0] = 0;
	p->iattr[FP_ROWS] = D;
	p->type = gc->type;

	/* y's users read p; p goes right after y */
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nsrc; k++)
			if (g->nodes[i]->src[k] == gc && g->nodes[i] != p)
				g->nodes[i]->src[k] = p;
	memmove(&g->nodes[gc->id + 2], &g->nodes[gc->id + 1],
	        (size_t)(g->nnodes - 2 - gc->id) * sizeof *g->nodes);
	g->nodes[gc->id + 1] = p;
	for (int i = 0; i < g->nnodes; i++)
		g->nodes[i]->id = i;

	/* z: g * v alone; y: no post */
	z->iattr[FP_GATE] = 2;
	z->iattr[FP_ROW0] = D;
	z->iattr[FP_ROWS] = 2 * D;
	z->type.dim[2] = D;
	gc->nsrc--;
	gc->src[gc->nsrc] = NULL;
	gc->iattr[GC_V_OFF] = 0;
	return true;
}

bool pass_fuse(Graph *g, const PassOptions *o, Diag *d, bool *changed)
{
	Fuse f = {g, NULL, NULL, NULL};

	*changed = false;
	if (!o->fuse)
		return true;
	fuse_alloc(&f, (size_t)g->nnodes + 1); /* these rounds add no nodes */
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
		/* then the fused ops into each other */
		for (int i = 0; i < g->nnodes && !hit; i++)
			if (g->nodes[i]->op == OP_GATED_CONV)
				hit = try_gate(&f, g->nodes[i]);
		for (int i = 0; i < g->nnodes && !hit; i++)
			hit = try_mlp(&f, g->nodes[i]);
		for (int i = 0; i < g->nnodes && !hit; i++)
			if (g->nodes[i]->op == OP_GATED_CONV)
				hit = try_gen(&f, g->nodes[i]);
		for (int i = 0; i < g->nnodes && !hit && !o->gpu; i++)
			if (g->nodes[i]->op == OP_SIN)
				hit = try_sin_linear(&f, g->nodes[i]);
		if (!hit)
			break;
		*changed = true;
		if (!pass_dce(g, o, d, &dead))
			return false;
	}
	/* then the post gates after their convolutions: room for one node
	 * more each, the use counts made again after each */
	if (o->gpu)
		return true;
	int ngc = 0;
	for (int i = 0; i < g->nnodes; i++)
		ngc += g->nodes[i]->op == OP_GATED_CONV;
	fuse_alloc(&f, (size_t)(g->nnodes + ngc) + 1);
	count_uses(&f);
	for (int i = 0; i < g->nnodes; i++)
		if (g->nodes[i]->op == OP_GATED_CONV && late_post(&f, g->nodes[i])) {
			*changed = true;
			count_uses(&f);
			i++;
		}
	return true;
}
