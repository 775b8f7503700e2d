/*
 * lower.c - a loaded Model to IR, in primitive ops only (no "hyena block"
 * op), so that passes have real work. The graph is HyenaDNA's inference
 * forward, channels-last ([B, L, C]) throughout:
 *
 *   x = embed(tokens); res = x
 *   per layer:  res = res + mixer(layernorm1(res))      (pre-norm blocks;
 *               res = res + mlp(layernorm2(res))         residual in fp32)
 *   hidden = layernorm_f(res); logits = hidden W_head^T
 *   or, for a classifier (HF's semantics word for word):
 *   scores = hidden W_score^T; classify = pool {mode=2}(scores, tokens),
 *   each row's scores at the position before its first pad token
 *   (passes/entries.c turns this into `entry classify`, the head at that
 *   one position, and drops the output from the full forward)
 *
 *   mixer(u):   z = in_proj(u); z = dwconv(z) (causal, short filter)
 *               x_0 .. x_{o-1}, v = split(z)
 *               k = expmod(implicit_mlp(pos_emb), t, deltas)   [L, (o-1)D]
 *               for j = 0 .. o-2:  v = v * x_{o-1-j}
 *                                  v = longconv(v, k_j) + v * bias_j
 *               out_proj(v * x_0)
 *
 * The implicit filter is position-wise, so it is evaluated on the first L
 * of max_seq_len positions (pos_emb keeps max_seq_len in its formula),
 * which equals the reference's evaluate-then-truncate exactly.
 */
#include "frontend.h"

#include <string.h>

typedef struct Lower {
	Graph *g;
	Arena *a;
	const Model *m;
	Diag *d;
	Node *pos; /* the computed positional features, shared by layers */
} Lower;

static Node *op(Lower *lw, OpKind k, const char *name, int nsrc, ...)
{
	Node *src[IR_MAX_SRC];
	va_list ap;
	va_start(ap, nsrc);
	for (int i = 0; i < nsrc; i++)
		src[i] = va_arg(ap, Node *);
	va_end(ap);
	return ir_add(lw->g, k, name, nsrc, src);
}

/* A weight node viewing checkpoint tensor `hf` with the given shape. */
static Node *weight(Lower *lw, const char *name, const char *hf, int rank,
                    int64_t d0, int64_t d1)
{
	Tensor *t = fe_weight_find(&lw->m->w, hf);
	size_t have, want;
	Node *n = ir_add(lw->g, OP_WEIGHT, name, 0, NULL);

	HY_ASSERT(t); /* binding checked every expected tensor */
	n->sattr = arena_strdup(lw->a, hf);
	n->data = t->data;
	n->type = (TensorType){DT_F32, rank, {d0, d1, 0, 0}};
	HY_ASSERT(ir_type_numel(&t->type, 0, 0, &have));
	HY_ASSERT(ir_type_numel(&n->type, 0, 0, &want) && have == want);
	return n;
}

static Node *slice(Lower *lw, const char *name, Node *x, int axis,
                   int64_t start, int64_t len)
{
	Node *n = op(lw, OP_SLICE, name, 1, x);
	n->iattr[0] = axis;
	n->iattr[1] = start;
	n->iattr[2] = len;
	return n;
}

static Node *layernorm(Lower *lw, const char *name, Node *x, const char *hf)
{
	int64_t D = lw->m->spec.d_model;
	Node *g = weight(lw, arena_printf(lw->a, "%s.g", name),
	                 arena_printf(lw->a, "%s.weight", hf), 1, D, 0);
	Node *b = weight(lw, arena_printf(lw->a, "%s.b", name),
	                 arena_printf(lw->a, "%s.bias", hf), 1, D, 0);
	Node *n = op(lw, OP_LAYERNORM, name, 3, x, g, b);
	n->fattr[0] = lw->m->spec.norm_eps;
	return n;
}

static Node *linear(Lower *lw, const char *name, Node *x, const char *hf,
                    int64_t n_out, int64_t n_in, bool bias)
{
	Node *w = weight(lw, arena_printf(lw->a, "%s.w", name),
	                 arena_printf(lw->a, "%s.weight", hf), 2, n_out, n_in);
	if (!bias)
		return op(lw, OP_LINEAR, name, 2, x, w);
	Node *b = weight(lw, arena_printf(lw->a, "%s.b", name),
	                 arena_printf(lw->a, "%s.bias", hf), 1, n_out, 0);
	return op(lw, OP_LINEAR, name, 3, x, w, b);
}

/* Positional features [L, emb_dim]: the checkpoint's buffer when it has
 * one (used as stored), else computed by pos_emb. */
static Node *pos_features(Lower *lw, const char *p, const char *f)
{
	const ModelSpec *s = &lw->m->spec;
	const char *hf = arena_printf(lw->a, "%spos_emb.z", f);

	if (fe_weight_find(&lw->m->w, hf)) {
		Node *z = weight(lw, arena_printf(lw->a, "%s.z", p), hf, 2,
		                 s->max_seq_len, s->emb_dim);
		return slice(lw, arena_printf(lw->a, "%s.zl", p), z, 0, 0, DIM_L);
	}
	if (!lw->pos) {
		lw->pos = op(lw, OP_POS_EMB, "pos", 0);
		lw->pos->iattr[0] = s->max_seq_len;
		lw->pos->iattr[1] = s->emb_dim;
	}
	return lw->pos;
}

/* The implicit filter of one layer: [L, (order-1) * d_model]. */
static Node *implicit_filter(Lower *lw, int64_t i, const char *f)
{
	const ModelSpec *s = &lw->m->spec;
	Arena *a = lw->a;
	const char *p = arena_printf(a, "l%lld.filt", (long long)i);
	int64_t F = s->filter_order, C = s->d_model * (s->order - 1);
	Node *z = pos_features(lw, p, f);
	Node *freq = weight(lw, arena_printf(a, "%s.freq", p),
	                    arena_printf(a, "%simplicit_filter.1.freq", f), 1, F,
	                    0);
	Node *h = z;
	int64_t in = s->emb_dim;

	for (int64_t j = 0; j <= s->num_inner_mlps; j++) {
		const char *q = arena_printf(a, "%s.mlp%lld", p, (long long)j);
		h = linear(lw, q, h,
		           arena_printf(a, "%simplicit_filter.%lld", f,
		                        (long long)(2 * j)),
		           F, in, true);
		h = op(lw, OP_MUL, arena_printf(a, "%s.scaled", q), 2, h, freq);
		h = op(lw, OP_SIN, arena_printf(a, "%s.sin", q), 1, h);
		in = F;
	}
	h = linear(lw, arena_printf(a, "%s.out", p), h,
	           arena_printf(a, "%simplicit_filter.%lld", f,
	                        (long long)(2 + 2 * s->num_inner_mlps)),
	           C, F, false);
	if (!s->modulate)
		return h;
	Node *t = slice(lw, arena_printf(a, "%s.t", p), z, 1, 0, 1);
	Node *dl = weight(lw, arena_printf(a, "%s.deltas", p),
	                  arena_printf(a, "%smodulation.deltas", f), 1, C, 0);
	Node *k = op(lw, OP_EXPMOD, arena_printf(a, "%s.k", p), 3, h, t, dl);
	k->fattr[0] = s->mod_shift;
	return k;
}

static Node *mixer(Lower *lw, int64_t i, Node *u)
{
	const ModelSpec *s = &lw->m->spec;
	Arena *a = lw->a;
	const char *l = arena_printf(a, "hyena.backbone.layers.%lld.mixer.",
	                             (long long)i);
	const char *f = arena_printf(a, "%sfilter_fn.", l);
	const char *p = arena_printf(a, "l%lld", (long long)i);
	int64_t D = s->d_model, W = D * (s->order + 1);
	Node *x[64];

	HY_ASSERT(s->order < 64);
	Node *z = linear(lw, arena_printf(a, "%s.in_proj", p), u,
	                 arena_printf(a, "%sin_proj", l), W, D, true);
	Node *sw = weight(lw, arena_printf(a, "%s.short.w", p),
	                  arena_printf(a, "%sshort_filter.weight", l), 2, W,
	                  s->short_filter);
	Node *sb = weight(lw, arena_printf(a, "%s.short.b", p),
	                  arena_printf(a, "%sshort_filter.bias", l), 1, W, 0);
	z = op(lw, OP_DWCONV, arena_printf(a, "%s.short", p), 3, z, sw, sb);
	for (int64_t j = 0; j <= s->order; j++)
		x[j] = slice(lw, arena_printf(a, "%s.x%lld", p, (long long)j), z, 2,
		             j * D, D);
	Node *v = x[s->order];
	Node *k = implicit_filter(lw, i, f);
	Node *bias = weight(lw, arena_printf(a, "%s.filt.bias", p),
	                    arena_printf(a, "%sbias", f), 1,
	                    D * (s->order - 1), 0);

	for (int64_t j = 0; j + 1 < s->order; j++) {
		const char *q = arena_printf(a, "%s.o%lld", p, (long long)j);
		v = op(lw, OP_MUL, arena_printf(a, "%s.gate", q), 2, v,
		       x[s->order - 1 - j]);
		Node *kj = slice(lw, arena_printf(a, "%s.k", q), k, 1, j * D, D);
		Node *bj = slice(lw, arena_printf(a, "%s.bias", q), bias, 0, j * D,
		                 D);
		Node *y = op(lw, OP_LONGCONV, arena_printf(a, "%s.conv", q), 2, v,
		             kj);
		Node *skip = op(lw, OP_MUL, arena_printf(a, "%s.skip", q), 2, v,
		                bj);
		v = op(lw, OP_ADD, arena_printf(a, "%s.y", q), 2, y, skip);
	}
	v = op(lw, OP_MUL, arena_printf(a, "%s.gate_out", p), 2, v, x[0]);
	return linear(lw, arena_printf(a, "%s.out_proj", p), v,
	              arena_printf(a, "%sout_proj", l), D, D, true);
}

static Node *mlp(Lower *lw, int64_t i, Node *u)
{
	const ModelSpec *s = &lw->m->spec;
	Arena *a = lw->a;
	const char *l = arena_printf(a, "hyena.backbone.layers.%lld.mlp.",
	                             (long long)i);
	const char *p = arena_printf(a, "l%lld", (long long)i);
	static const OpKind act[] = {[ACT_GELU_TANH] = OP_GELU_TANH,
	                             [ACT_GELU] = OP_GELU,
	                             [ACT_RELU] = OP_RELU};
	_Static_assert(sizeof act / sizeof act[0] == ACT_COUNT, "activations");

	Node *h = linear(lw, arena_printf(a, "%s.fc1", p), u,
	                 arena_printf(a, "%sfc1", l), s->d_inner, s->d_model,
	                 true);
	h = op(lw, act[s->mlp_act], arena_printf(a, "%s.act", p), 1, h);
	return linear(lw, arena_printf(a, "%s.fc2", p), h,
	              arena_printf(a, "%sfc2", l), s->d_model, s->d_inner, true);
}

Graph *fe_lower(Arena *a, const Model *m, Diag *d)
{
	const ModelSpec *s = &m->spec;
	Lower lw = {ir_graph_new(a, s->name ? s->name : "model"), a, m, d, NULL};
	Graph *g = lw.g;

	g->max_len = s->max_seq_len;
	Node *tok = ir_add(g, OP_INPUT, "tokens", 0, NULL);
	tok->type = (TensorType){DT_I32, 2, {DIM_B, DIM_L, 0, 0}};
	Node *emb = weight(&lw, "embed.w",
	                   "hyena.backbone.embeddings.word_embeddings.weight", 2,
	                   fe_vocab_padded(s), s->d_model);
	Node *res = op(&lw, OP_EMBED, "embed", 2, emb, tok);

	for (int64_t i = 0; i < s->n_layer; i++) {
		const char *l = arena_printf(a, "hyena.backbone.layers.%lld",
		                             (long long)i);
		const char *p = arena_printf(a, "l%lld", (long long)i);
		Node *h = layernorm(&lw, arena_printf(a, "%s.norm1", p), res,
		                    arena_printf(a, "%s.norm1", l));
		h = mixer(&lw, i, h);
		res = op(&lw, OP_ADD, arena_printf(a, "%s.res1", p), 2, h, res);
		h = layernorm(&lw, arena_printf(a, "%s.norm2", p), res,
		              arena_printf(a, "%s.norm2", l));
		h = mlp(&lw, i, h);
		res = op(&lw, OP_ADD, arena_printf(a, "%s.res2", p), 2, h, res);
	}
	Node *hidden = layernorm(&lw, "hidden", res, "hyena.backbone.ln_f");
	ir_add_output(g, "hidden", hidden);
	if (s->lm_head) {
		Node *lg = linear(&lw, "logits", hidden, "lm_head",
		                  fe_vocab_padded(s), s->d_model, false);
		ir_add_output(g, "logits", lg);
	}
	if (s->num_labels > 0) {
		Node *sc = linear(&lw, "scores", hidden, "score", s->num_labels,
		                  s->d_model, false);
		Node *cls = op(&lw, OP_POOL, "classify", 2, sc, tok);
		cls->iattr[PL_MODE] = PM_PAD;
		cls->iattr[PL_PAD] = s->pad_id;
		ir_add_output(g, "classify", cls);
	}
	if (!ir_infer_graph(g, d))
		return NULL;
	return g;
}
