/*
 * entries.c - the ways a binary runs its forward, made explicit: besides
 * the graph's outputs (the full forward), entries (ir.h) that compute
 * only what their outputs need, each from nodes of its own, so that the
 * runs which must never store [B, L, d_model] show how they avoid it:
 *
 *   entry logits {logits = %logits.from_norm}
 *       when the graph ends in hidden = layernorm(x) and logits =
 *       linear(hidden) with hidden read by nothing else: the head fused
 *       with the final norm (fused_proj {ln=1}), a row at a time from x;
 *   entry pooled {mean = %hidden.mean, last = %hidden.last}
 *       when output 0 is hidden = layernorm(x) with weight gamma and
 *       beta and x no output: pool {mode=0|1, ln=1} of x, the norm
 *       applied a row at a time and pooled over positions;
 *   entry classify {logits = %classify.head}
 *       when output `classify` is HF's classifier word for word, pool
 *       {mode=2}(linear(layernorm(x), w), tokens) (every position
 *       scored, one kept): pool {mode=2, ln=1} of x, the one row before
 *       the first pad normalised, then the linear on that row alone, so
 *       the head runs at one position per row. The `classify` output
 *       leaves the full forward (which is the hidden states) and its
 *       every-position nodes go with it;
 *   entry hidden_states {h0 = %hs.0, ..., hN = %hs.N, hN+1 = %hs.final}
 *       HF's output_hidden_states, numbered as HF numbers them: h0 the
 *       embeddings, hK the residual stream after block K (l{K-1}.res2,
 *       the name lower.c gives it and fuse keeps), hN+1 the final norm
 *       (last_hidden_state). Each hK is a copy (a whole slice along the
 *       channels) placed right after the value it copies, so memplan
 *       keeps no block's output alive longer than the forward does; the
 *       final norm is a layernorm of x of its own.
 *
 * The new nodes go at the end of the graph, after everything they read,
 * and are outputs (of their entry), so memplan gives them no scratch and
 * keeps x alive until they have run. Runs before memplan and after the
 * passes that rewrite the trunk (fuse, dce): it reads the graph's tail,
 * not its blocks. A graph that already has entries is left alone. It
 * runs with or without --no-fuse: the entries are how the runtime's
 * hyenac_run (logits without hidden) and hyenac_run_pooled run.
 *
 * The classifier goes first: once its output is gone, the graph's
 * tail is a language model's without a head, and pooled applies.
 *
 * Generation (issue 18), for a fused language model whose filters were
 * folded (each gated_conv reads a weight):
 *
 *   entry prefill {logits = ..., state0 = %l0.short.tail, ...}
 *       the logits entry plus what a decode step needs afterwards, as
 *       outputs the caller places in its state buffer: per short filter
 *       the last K-1 rows of the projection before it (state_save
 *       {tail=1} of that projection, made again without the filter),
 *       per long convolution the prompt's part of every later output
 *       (state_save {tail=0}: one FFT convolution at run time), a
 *       [max_len + 1, D] history that the steps' inputs then fill;
 *   entry step {logits = %logits.from_norm.step}
 *       the same nodes at one position (`%tokens.step : i32[B,1]`, so
 *       every value is [B, 1, C], planned per sample: the step never
 *       widens the forward's per-token region; the position `pos` is
 *       given apart): every position-wise node cloned, a fused_proj
 *       {conv} split into the projection and short_step over its ring,
 *       a gated_conv made conv_step over its history; the states are
 *       `state {slot}` nodes, slot i being the prefill's output state<i>.
 *
 * Anything else in the logits entry (an unfused dwconv or longconv, a
 * filter made at run time, a position-dependent value) leaves the graph
 * without these two entries: hyenac generate then says so.
 */
#include "passes.h"

#include <stdio.h>
#include <string.h>

/* A node name that is free in g: base + suffix, else NULL. */
static const char *free_name(Graph *g, const char *base, const char *suffix)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s%s", base, suffix);
	return ir_find(g, buf) ? NULL : arena_strdup(g->arena, buf);
}

/* logits = linear(hidden = layernorm(x)), hidden read by logits alone:
 * entry logits, the fused_proj find_tail used to make in codegen. */
static bool add_logits(Graph *g, Diag *d, bool *changed)
{
	if (g->noutputs < 2)
		return true;
	Node *hn = g->outputs[0].node, *lg = g->outputs[1].node;
	if (hn->op != OP_LAYERNORM || lg->op != OP_LINEAR || lg->src[0] != hn)
		return true;
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nsrc; k++)
			if (g->nodes[i]->src[k] == hn && g->nodes[i] != lg)
				return true;
	const char *name = free_name(g, g->outputs[1].name, ".from_norm");
	if (!name)
		return true;
	Node *src[5];
	int ns = 0;
	src[ns++] = hn->src[0];
	src[ns++] = lg->src[1];
	if (lg->nsrc == 3)
		src[ns++] = lg->src[2];
	src[ns++] = hn->src[1];
	src[ns++] = hn->src[2];
	Node *t = ir_add(g, OP_FUSED_PROJ, name, ns, src);
	t->iattr[FP_BIAS] = lg->nsrc == 3;
	t->iattr[FP_LN] = 1;
	t->fattr[0] = hn->fattr[0];
	if (!ir_infer(g, t, d))
		return false;
	EntryPoint *e = ir_add_entry(g, "logits");
	HY_ASSERT(e);
	ir_entry_add_output(e, g->outputs[1].name, t);
	*changed = true;
	return true;
}

/* hidden = layernorm(x), x in scratch, gamma and beta weights: entry
 * pooled, the pool kernel emit_pool used to make in codegen. */
static bool add_pooled(Graph *g, Diag *d, bool *changed)
{
	static const char *const mode_name[] = {[PM_MEAN] = "mean",
	                                        [PM_LAST] = "last"};
	if (g->noutputs < 1)
		return true;
	Node *hn = g->outputs[0].node;
	if (hn->op != OP_LAYERNORM || hn->src[1]->op != OP_WEIGHT ||
	    hn->src[2]->op != OP_WEIGHT)
		return true;
	Node *x = hn->src[0];
	if (x->op == OP_INPUT || x->op == OP_WEIGHT || ir_is_output(g, x) ||
	    x->type.rank != 3 || x->type.dim[1] != DIM_L)
		return true;
	/* mean and last; pad is the classifier's */
	enum { NPOOLED = PM_LAST + 1 };
	const char *name[NPOOLED];
	for (int m = 0; m < NPOOLED; m++) {
		char suffix[16];
		snprintf(suffix, sizeof suffix, ".%s", mode_name[m]);
		if (!(name[m] = free_name(g, g->outputs[0].name, suffix)))
			return true;
	}
	EntryPoint *e = ir_add_entry(g, "pooled");
	HY_ASSERT(e);
	for (int m = 0; m < NPOOLED; m++) {
		Node *src[] = {x, hn->src[1], hn->src[2]};
		Node *p = ir_add(g, OP_POOL, name[m], 3, src);
		p->iattr[PL_MODE] = m;
		p->iattr[PL_LN] = 1;
		p->fattr[0] = hn->fattr[0];
		if (!ir_infer(g, p, d))
			return false;
		ir_entry_add_output(e, mode_name[m], p);
	}
	*changed = true;
	return true;
}

/* classify = pool {mode=2}(linear(layernorm(x)), tokens): entry
 * classify, the row picked (and normalised) first, the head after. */
static bool add_classify(Graph *g, const PassOptions *o, Diag *d,
                         bool *changed)
{
	int k = 0;
	while (k < g->noutputs && strcmp(g->outputs[k].name, "classify") != 0)
		k++;
	if (k == g->noutputs)
		return true;
	Node *p = g->outputs[k].node;
	if (p->op != OP_POOL || p->iattr[PL_MODE] != PM_PAD || p->iattr[PL_LN])
		return true;
	Node *sc = p->src[0];
	if (sc->op != OP_LINEAR || ir_is_output(g, sc) ||
	    sc->src[0]->op != OP_LAYERNORM)
		return true;
	Node *hn = sc->src[0], *x = hn->src[0];
	if (ir_is_output(g, x) || x->op == OP_INPUT)
		return true;
	const char *rname = free_name(g, "classify", ".row");
	const char *hname = free_name(g, "classify", ".head");
	if (!rname || !hname)
		return true;
	Node *src[] = {x, hn->src[1], hn->src[2], p->src[1]};
	Node *row = ir_add(g, OP_POOL, rname, 4, src);
	row->iattr[PL_MODE] = PM_PAD;
	row->iattr[PL_LN] = 1;
	row->iattr[PL_PAD] = p->iattr[PL_PAD];
	row->fattr[0] = hn->fattr[0];
	if (!ir_infer(g, row, d))
		return false;
	Node *hs[3] = {row, sc->src[1], sc->nsrc == 3 ? sc->src[2] : NULL};
	Node *head = ir_add(g, OP_LINEAR, hname, sc->nsrc, hs);
	if (!ir_infer(g, head, d))
		return false;
	EntryPoint *e = ir_add_entry(g, "classify");
	HY_ASSERT(e);
	ir_entry_add_output(e, "logits", head);
	memmove(&g->outputs[k], &g->outputs[k + 1],
	        (size_t)(g->noutputs - k - 1) * sizeof *g->outputs);
	g->noutputs--;
	bool dropped;
	*changed = true;
	return pass_dce(g, o, d, &dropped);
}

/* Move n, the last node, to just after `after`, renumbering the nodes
 * between: a copy read by no node then ends its source's life where the
 * forward would. */
static void place_after(Graph *g, Node *n, const Node *after)
{
	int at = after->id + 1, last = n->id;

	HY_ASSERT(last == g->nnodes - 1 && at <= last);
	memmove(&g->nodes[at + 1], &g->nodes[at],
	        (size_t)(last - at) * sizeof *g->nodes);
	g->nodes[at] = n;
	for (int i = at; i <= last; i++)
		g->nodes[i]->id = i;
}

/* hidden = layernorm(x) with x the residual stream of embed -> l0.res2
 * -> ... -> l{N-1}.res2 (x the last): entry hidden_states. */
static bool add_hidden_states(Graph *g, Diag *d, bool *changed)
{
	Node *stream[IR_MAX_ENTRY_OUT];
	int n = 0;

	if (g->noutputs < 1 || g->nentries >= IR_MAX_ENTRIES)
		return true;
	Node *hn = g->outputs[0].node;
	if (strcmp(g->outputs[0].name, "hidden") != 0 ||
	    hn->op != OP_LAYERNORM || hn->type.rank != 3)
		return true;
	for (int i = 0; i < g->nnodes && n == 0; i++)
		if (g->nodes[i]->op == OP_EMBED)
			stream[n++] = g->nodes[i];
	if (n == 0)
		return true;
	for (;;) {
		char name[32];
		snprintf(name, sizeof name, "l%d.res2", n - 1);
		Node *r = ir_find(g, name);
		if (!r)
			break;
		if (n + 1 >= IR_MAX_ENTRY_OUT)
			return true;
		stream[n++] = r;
	}
	/* a graph of no block (no l0.res2: not lowered from a model) has
	 * no intermediate state to offer */
	Node *x = hn->src[0];
	if (n < 2 || stream[n - 1] != x || ir_is_output(g, x))
		return true;
	for (int k = 0; k < n; k++)
		if (!ir_type_eq(&stream[k]->type, &x->type) ||
		    ir_is_output(g, stream[k]))
			return true;
	const char *fname = free_name(g, "hs", ".final");
	if (!fname)
		return true;
	const char *cname[IR_MAX_ENTRY_OUT];
	for (int k = 0; k < n; k++) {
		char suffix[16];
		snprintf(suffix, sizeof suffix, ".%d", k);
		if (!(cname[k] = free_name(g, "hs", suffix)))
			return true;
	}
	EntryPoint *e = ir_add_entry(g, "hidden_states");
	HY_ASSERT(e);
	for (int k = 0; k < n; k++) {
		Node *c = ir_add(g, OP_SLICE, cname[k], 1, &stream[k]);
		c->iattr[0] = 2;
		c->iattr[1] = 0;
		c->iattr[2] = x->type.dim[2];
		if (!ir_infer(g, c, d))
			return false;
		place_after(g, c, stream[k]);
		char oname[16];
		snprintf(oname, sizeof oname, "h%d", k);
		HY_ASSERT(ir_entry_add_output(e, arena_strdup(g->arena, oname), c));
	}
	Node *src[] = {x, hn->src[1], hn->src[2]};
	Node *f = ir_add(g, OP_LAYERNORM, fname, 3, src);
	f->fattr[0] = hn->fattr[0];
	if (!ir_infer(g, f, d))
		return false;
	char oname[16];
	snprintf(oname, sizeof oname, "h%d", n);
	HY_ASSERT(ir_entry_add_output(e, arena_strdup(g->arena, oname), f));
	*changed = true;
	return true;
}

/* Can node n run one position at a time, and how? 1: cloned as it is
 * (position-wise), 2: a fused_proj with a short filter, 3: a gated_conv
 * over a folded filter, 0: not at all. */
static int step_kind(const Node *n)
{
	for (int i = 0; i < n->type.rank; i++)
		if (n->type.dim[i] >= 0 && i < n->type.rank - 1)
			return 0; /* a shape that is not [B, L, C] */
	if (n->type.rank != 3 || n->type.dim[1] != DIM_L)
		return 0;
	switch (n->op) {
	case OP_EMBED:
	case OP_LAYERNORM:
	case OP_LINEAR:
	case OP_ADD:
	case OP_MUL:
	case OP_SIN:
	case OP_GELU_TANH:
	case OP_GELU:
	case OP_RELU:
	case OP_FUSED_MLP:
		return 1;
	case OP_SLICE:
		return n->iattr[0] == 2 ? 1 : 0;
	case OP_FUSED_PROJ:
		if (!n->iattr[FP_CONV])
			return 1;
		return n->iattr[FP_ACT] == FP_ACT_NONE && !n->iattr[FP_RES] ? 2 : 0;
	case OP_GATED_CONV: {
		GcSrc s;
		ir_gc_srcs(n, &s);
		return !n->iattr[GC_GEN] && n->src[s.k]->op == OP_WEIGHT ? 3 : 0;
	}
	default:
		return 0;
	}
}

/* A node named base + suffix (NULL when the name is taken). */
static Node *add_named(Graph *g, OpKind op, const char *base,
                       const char *suffix, int nsrc, Node **src)
{
	const char *name = free_name(g, base, suffix);
	return name ? ir_add(g, op, name, nsrc, src) : NULL;
}

/* fused_proj n without its short filter (and its gate): the projection
 * the filter reads, from x. */
static Node *bare_proj(Graph *g, const Node *n, Node *x, const char *suffix)
{
	FpSrc fs;
	Node *src[IR_MAX_SRC];
	int ns = 0;

	ir_fp_srcs(n, &fs);
	src[ns++] = x;
	src[ns++] = n->src[fs.w];
	if (fs.bias >= 0)
		src[ns++] = n->src[fs.bias];
	if (fs.ln_g >= 0) {
		src[ns++] = n->src[fs.ln_g];
		src[ns++] = n->src[fs.ln_b];
	}
	Node *p = add_named(g, OP_FUSED_PROJ, n->name, suffix, ns, src);
	if (p) {
		p->iattr[FP_BIAS] = n->iattr[FP_BIAS];
		p->iattr[FP_LN] = n->iattr[FP_LN];
		p->fattr[0] = n->fattr[0];
	}
	return p;
}

static Node *add_state(Graph *g, const char *base, const char *suffix,
                       int slot, int64_t rows, int64_t C)
{
	Node *s = add_named(g, OP_STATE, base, suffix, 0, NULL);
	if (s) {
		s->iattr[0] = slot;
		s->type = (TensorType){DT_F32, 3, {DIM_B, rows, C}};
	}
	return s;
}

/* Move the prefill's own nodes (early[id]) from the end of the graph to
 * just after their last source, so that they do not keep the trunk's
 * values alive to the end (memplan plans by that order): each goes as
 * soon as everything it reads has. The rest keeps its order. */
static void place_early(Graph *g, const bool *early)
{
	int n = g->nnodes, k = 0;
	Node **order = arena_alloc(g->arena, (size_t)n * sizeof *order);
	bool *placed = arena_alloc(g->arena, (size_t)n + 1);

	memset(placed, 0, (size_t)n + 1);
	for (int i = 0; i < n; i++) {
		if (early[i])
			continue;
		order[k++] = g->nodes[i];
		placed[i] = true;
		for (bool more = true; more;) {
			more = false;
			for (int j = 0; j < n; j++) {
				if (!early[j] || placed[j])
					continue;
				bool ready = true;
				for (int s = 0; s < g->nodes[j]->nsrc; s++)
					ready &= placed[g->nodes[j]->src[s]->id];
				if (ready) {
					order[k++] = g->nodes[j];
					placed[j] = more = true;
				}
			}
		}
	}
	HY_ASSERT(k == n);
	for (int i = 0; i < n; i++) {
		g->nodes[i] = order[i];
		order[i]->id = i;
	}
}

/* entry prefill and entry step from entry logits (see the top). */
static bool add_generation(Graph *g, Diag *d, bool *changed)
{
	const EntryPoint *le = NULL;
	for (int k = 0; k < g->nentries; k++)
		if (strcmp(g->entries[k].name, "logits") == 0)
			le = &g->entries[k];
	/* a history's last row holds the prompt length as a float: exact
	 * below 2^24 */
	if (!le || g->max_len <= 0 || g->max_len >= (1 << 24) ||
	    g->nentries + 2 > IR_MAX_ENTRIES)
		return true;
	int nn = g->nnodes, nconv = 0, nstate = 0;
	bool *live = arena_alloc(g->arena, (size_t)nn + 1);
	Node **map = arena_alloc(g->arena, (size_t)nn * sizeof *map);
	ir_entry_live(g, le, live);
	for (int i = 0; i < nn; i++) {
		const Node *n = g->nodes[i];
		map[i] = NULL;
		if (!live[i] || n->op == OP_INPUT || n->op == OP_WEIGHT)
			continue;
		int k = step_kind(n);
		if (k == 0)
			return true;
		nconv += k == 3;
		nstate += k >= 2;
	}
	if (nconv == 0 || nstate + 1 > IR_MAX_ENTRY_OUT)
		return true;
	Output *saves = arena_alloc(g->arena, (size_t)nstate * sizeof *saves);
	int slot = 0;
	for (int i = 0; i < nn; i++) {
		Node *n = g->nodes[i], *src[IR_MAX_SRC], *m = NULL;
		if (!live[i])
			continue;
		if (n->op == OP_WEIGHT) {
			map[i] = n;
			continue;
		}
		if (n->op == OP_INPUT) { /* the step's tokens: one per sample */
			m = add_named(g, OP_INPUT, n->name, ".step", 0, NULL);
			if (!m)
				return true;
			m->type = (TensorType){n->type.dtype, 2, {DIM_B, 1}};
			if (!ir_infer(g, m, d))
				return false;
			map[i] = m;
			continue;
		}
		int k = step_kind(n);
		if (k == 1) {
			for (int j = 0; j < n->nsrc; j++)
				src[j] = map[n->src[j]->id];
			m = add_named(g, n->op, n->name, ".step", n->nsrc, src);
			if (m) {
				memcpy(m->iattr, n->iattr, sizeof m->iattr);
				memcpy(m->fattr, n->fattr, sizeof m->fattr);
			}
		} else if (k == 2) {
			FpSrc fs;
			ir_fp_srcs(n, &fs);
			int64_t N = n->src[fs.conv_w]->type.dim[0];
			int64_t K = n->iattr[FP_CONV];
			Node *sv = bare_proj(g, n, n->src[fs.x], ".tail");
			if (!sv)
				return true;
			sv->op = OP_TAIL_PROJ;
			sv->iattr[TP_BIAS] = n->iattr[FP_BIAS];
			sv->iattr[TP_LN] = n->iattr[FP_LN];
			sv->iattr[TP_ROWS] = K - 1;
			Node *ring = add_state(g, n->name, ".ring", slot, K - 1, N);
			Node *proj = bare_proj(g, n, map[n->src[fs.x]->id], ".proj");
			if (!ring || !proj || !ir_infer(g, sv, d) ||
			    !ir_infer(g, ring, d) || !ir_infer(g, proj, d))
				return !ring || !proj ? true : false;
			int ns = 0;
			src[ns++] = proj;
			src[ns++] = n->src[fs.conv_w];
			if (fs.conv_b >= 0)
				src[ns++] = n->src[fs.conv_b];
			src[ns++] = ring;
			m = add_named(g, OP_SHORT_STEP, n->name, ".step", ns, src);
			if (m) {
				m->iattr[SH_CONV_BIAS] = fs.conv_b >= 0;
				m->iattr[SH_GATE] = n->iattr[FP_GATE];
			}
			saves[slot++] = (Output){NULL, sv};
		} else {
			GcSrc gs;
			ir_gc_srcs(n, &gs);
			int64_t D = n->type.dim[2];
			int ns = 0;
			src[ns++] = n->src[gs.v];
			if (gs.g >= 0)
				src[ns++] = n->src[gs.g];
			src[ns++] = n->src[gs.k];
			Node *sv = add_named(g, OP_STATE_SAVE, n->name, ".save", ns, src);
			if (!sv)
				return true;
			sv->iattr[SS_X_OFF] = n->iattr[GC_V_OFF];
			sv->iattr[SS_G_OFF] = gs.g >= 0 ? n->iattr[GC_G_OFF] : 0;
			sv->iattr[SS_LEN] = D;
			sv->iattr[SS_ROWS] = g->max_len + 1;
			Node *hist =
			    add_state(g, n->name, ".hist", slot, g->max_len + 1, D);
			if (!hist || !ir_infer(g, sv, d) || !ir_infer(g, hist, d))
				return !hist;
			ns = 0;
			src[ns++] = map[n->src[gs.v]->id];
			if (gs.g >= 0)
				src[ns++] = map[n->src[gs.g]->id];
			src[ns++] = n->src[gs.k];
			src[ns++] = n->src[gs.bias];
			if (gs.post >= 0)
				src[ns++] = map[n->src[gs.post]->id];
			src[ns++] = hist;
			m = add_named(g, OP_CONV_STEP, n->name, ".step", ns, src);
			if (m) {
				m->iattr[CS_V_OFF] = n->iattr[GC_V_OFF];
				m->iattr[CS_G_OFF] = gs.g >= 0 ? n->iattr[GC_G_OFF] : 0;
				m->iattr[CS_POST_OFF] =
				    gs.post >= 0 ? n->iattr[GC_POST_OFF] : 0;
				m->iattr[CS_PREGATED] = gs.g < 0;
				m->iattr[CS_POST] = gs.post >= 0;
			}
			saves[slot++] = (Output){NULL, sv};
		}
		if (!m)
			return true;
		if (!ir_infer(g, m, d))
			return false;
		map[i] = m;
	}
	Node *step_logits = map[le->outputs[0].node->id];
	bool *early = arena_alloc(g->arena, (size_t)g->nnodes + 1);
	memset(early, 0, (size_t)g->nnodes + 1);
	for (int s = 0; s < slot; s++) {
		Node *sv = saves[s].node;
		early[sv->id] = true;
	}
	place_early(g, early);
	EntryPoint *pe = ir_add_entry(g, "prefill");
	HY_ASSERT(pe);
	ir_entry_add_output(pe, "logits", le->outputs[0].node);
	for (int s = 0; s < slot; s++) {
		char buf[32];
		snprintf(buf, sizeof buf, "state%d", s);
		ir_entry_add_output(pe, arena_strdup(g->arena, buf), saves[s].node);
	}
	EntryPoint *se = ir_add_entry(g, "step");
	HY_ASSERT(se);
	ir_entry_add_output(se, "logits", step_logits);
	*changed = true;
	return true;
}

bool pass_entries(Graph *g, const PassOptions *o, Diag *d, bool *changed)
{
	*changed = false;
	if (g->nentries > 0)
		return true;
	return add_classify(g, o, d, changed) && add_logits(g, d, changed) &&
	       add_pooled(g, d, changed) && add_hidden_states(g, d, changed) &&
	       add_generation(g, d, changed);
}
