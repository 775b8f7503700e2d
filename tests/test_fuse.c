/*
 * test_fuse.c - operator fusion (passes/fuse.c) and its kernels, checked
 * numerically: the fused graph against the unfused one through the
 * reference interpreter, and the generated code of both against the
 * interpreter through the JIT, in every convolution mode. Small random
 * models (d_model 8 and 16, order 2 and 3, short filters 1, 3 and 4, all
 * three activations) get every weight perturbed so that no bias is zero;
 * a hand-built chain puts act and residual behind the short convolution
 * and makes the projection tiles short. The golden checkpoints are held
 * to their official outputs within 2e-4, fused and unfused, and the 2-layer
 * tiny-16k-d128 must come to at most 13 kernels.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/hyrt.h"
#include "runtime/npy.h"
#include "testutil.h"

typedef int64_t (*ScratchFn)(int64_t, int64_t);
typedef void (*RunFn)(const float *, const int32_t *, int64_t, int64_t,
                      float *const *, void *);

enum { MAXOUT = 4 };

static uint64_t rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 11;
}

static double frand(uint64_t *s) /* [-1, 1) */
{
	return (double)rng_next(s) / 4503599627370496.0 - 1.0;
}

static void *alloc64(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
	ck_assert(p);
	return p;
}

/* sum (x - ref)^2 / sum ref^2; NaN anywhere is infinitely wrong. */
static double nmse(const float *x, const float *ref, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		double e = (double)x[i] - ref[i];
		if (isnan(e))
			return INFINITY;
		num += e * e;
		den += (double)ref[i] * ref[i];
	}
	return den > 0 ? num / den : num;
}

/* Whether node i is part of the full forward (the graph's outputs), not
 * only of an entry's tail (passes/entries.c): the counts below are of
 * the forward's kernels, as cg_kernel_count's are. */
static bool in_forward(const Graph *g, int i)
{
	bool *live = calloc((size_t)g->nnodes + 1, sizeof *live);
	ck_assert(live);
	ir_entry_live(g, NULL, live);
	bool r = live[i];
	free(live);
	return r;
}

static int count_op(const Graph *g, OpKind op)
{
	int k = 0;
	for (int i = 0; i < g->nnodes; i++)
		k += g->nodes[i]->op == op && in_forward(g, i);
	return k;
}

/* Nodes of op whose int attribute slot is set. */
static int count_attr(const Graph *g, OpKind op, int slot)
{
	int k = 0;
	for (int i = 0; i < g->nnodes; i++)
		k += g->nodes[i]->op == op && g->nodes[i]->iattr[slot] != 0 &&
		     in_forward(g, i);
	return k;
}

static size_t out_numel(const Graph *g, int i, int64_t B, int64_t L)
{
	size_t n;
	ck_assert(ir_type_numel(&g->outputs[i].node->type, B, L, &n));
	return n;
}

/* ---- running a graph ---------------------------------------------------- */

typedef struct Jit {
	CgJit *j;
	RunFn run;
	ScratchFn sb;
	void *blob;
} Jit;

/* The CPU jit_open compiles for: NULL, the host's. */
static const char *jit_cpu;

/* The generated code of g, its long convolutions' methods as convsel
 * chooses them with --conv set to conv. */
static void jit_open(Jit *x, Graph *g, Arena *a, ConvMethod conv)
{
	Diag d;
	CgWeights w;
	CgOptions o = {jit_cpu, NULL, 3, NULL, NULL, NULL, false, 0};
	PassOptions po;
	bool changed;

	diag_init(&d);
	pass_options_default(&po);
	po.conv = conv;
	ck_assert_msg(pass_convsel(g, &po, &d, &changed), "%s", d.msg);
	ck_assert_msg(ir_verify(g, &d), "%s", d.msg);
	cg_layout_weights(g, a, &w);
	x->blob = alloc64(w.bytes);
	cg_pack_weights(g, &w, x->blob);
	CgModule *m = cg_emit(g, &w, &o, NULL, &d);
	ck_assert_msg(m, "%s", d.msg);
	x->j = cg_jit(m, &d);
	ck_assert_msg(x->j, "%s", d.msg);
	x->run = (RunFn)cg_jit_lookup(x->j, "hyenac_run");
	x->sb = (ScratchFn)cg_jit_lookup(x->j, "hyenac_scratch_bytes");
	ck_assert(x->run && x->sb);
}

static void jit_close(Jit *x)
{
	cg_jit_free(x->j);
	free(x->blob);
}

/* Run the compiled g; outs[i] are malloc'd by alloc64. */
static void jit_run(Jit *x, const Graph *g, const int32_t *tok, int64_t B,
                    int64_t L, float **outs)
{
	void *scratch = alloc64((size_t)x->sb(B, L));
	for (int i = 0; i < g->noutputs; i++) {
		size_t n = out_numel(g, i, B, L);
		outs[i] = alloc64(n * sizeof(float));
		for (size_t q = 0; q < n; q++)
			outs[i][q] = NAN;
	}
	x->run(x->blob, tok, B, L, outs, scratch);
	free(scratch);
}

static void interp(const Graph *g, const int32_t *tok, int64_t B, int64_t L,
                   float **outs)
{
	Diag d;
	diag_init(&d);
	ck_assert_msg(ir_interp(g, tok, B, L, outs, &d), "%s", d.msg);
}

static void free_outs(const Graph *g, float **outs)
{
	for (int i = 0; i < g->noutputs; i++)
		free(outs[i]);
}

/* ---- random models -------------------------------------------------- */

/* Load a description and move every weight by up to +-scale, so that
 * biases (zero at init) and layernorm parameters are exercised. */
static Model *load_perturbed(Arena *a, const char *path, double scale)
{
	Diag d;
	diag_init(&d);
	Model *m = fe_load_model(a, path, &d);
	ck_assert_msg(m, "%s", d.msg);
	uint64_t s = 12345;
	for (int i = 0; i < m->w.n; i++) {
		Tensor *t = &m->w.t[i];
		size_t n;
		ck_assert(ir_type_numel(&t->type, 0, 0, &n));
		float *x = arena_alloc(a, n * sizeof *x + 1);
		for (size_t k = 0; k < n; k++)
			x[k] = t->data[k] + (float)(scale * frand(&s));
		t->data = x;
	}
	return m;
}

/* Lower m and run the pipeline, fused or not, folding the filters or
 * (fold false) leaving them as run-time code, with every long convolution
 * through the FFT when fft is set. */
static Graph *build_conv(Arena *a, const Model *m, bool fuse, bool fold,
                         bool fft)
{
	Diag d;
	PassOptions o;
	diag_init(&d);
	Graph *g = fe_lower(a, m, &d);
	ck_assert_msg(g, "%s", d.msg);
	pass_options_default(&o);
	o.fuse = fuse;
	if (!fold)
		o.fold_limit = -1;
	if (fft)
		o.conv = CONV_FFT;
	ck_assert_msg(pass_pipeline(g, &o, &d), "%s", d.msg);
	return g;
}

static Graph *build_with(Arena *a, const Model *m, bool fuse, bool fold)
{
	return build_conv(a, m, fuse, fold, false);
}

static Graph *build(Arena *a, const Model *m, bool fuse)
{
	return build_with(a, m, fuse, true);
}

static int32_t *tokens(int64_t n, int64_t vocab, uint64_t seed)
{
	int32_t *t = malloc((size_t)n * sizeof *t + 4);
	ck_assert(t);
	for (int64_t i = 0; i < n; i++)
		t[i] = (int32_t)(rng_next(&seed) % (uint64_t)vocab);
	return t;
}

typedef struct Shape {
	int64_t B, L;
} Shape;

/* The generated code of g in one convolution mode against ref. */
static void check_jit(Graph *g, Arena *a, ConvMethod conv, const char *what,
                      const Shape *sh, int nsh, int64_t vocab, double tol)
{
	Jit x;
	jit_open(&x, g, a, conv);
	for (int s = 0; s < nsh; s++) {
		int64_t B = sh[s].B, L = sh[s].L;
		int32_t *tok = tokens(B * L, vocab, (uint64_t)(B * 1000 + L));
		float *ref[MAXOUT], *got[MAXOUT], *got3[MAXOUT];
		interp(g, tok, B, L, ref);
		jit_run(&x, g, tok, B, L, got);
		/* the same forward split over 3 threads: row chunks (64 rows,
		 * some across a batch row's end) and channel blocks in any
		 * order, the same bits */
		hyrt_set_threads(3);
		jit_run(&x, g, tok, B, L, got3);
		hyrt_set_threads(1);
		for (int i = 0; i < g->noutputs; i++) {
			size_t n = out_numel(g, i, B, L);
			ck_assert_msg(memcmp(got[i], got3[i], n * sizeof(float)) == 0,
			              "%s %s B=%lld L=%lld %s: 3 threads differ",
			              g->name, what, (long long)B, (long long)L,
			              g->outputs[i].name);
		}
		free_outs(g, got3);
		for (int i = 0; i < g->noutputs; i++) {
			double e = nmse(got[i], ref[i], out_numel(g, i, B, L));
			if (getenv("HYENAC_TEST_VERBOSE"))
				printf("%s %s conv=%d B=%lld L=%lld %s: nmse %.3g\n",
				       g->name, what, conv, (long long)B, (long long)L,
				       g->outputs[i].name, e);
			ck_assert_msg(e <= tol, "%s %s conv %d B=%lld L=%lld %s: "
			              "nmse %g > %g", g->name, what, conv, (long long)B,
			              (long long)L, g->outputs[i].name, e, tol);
		}
		free_outs(g, ref);
		free_outs(g, got);
		free(tok);
	}
	jit_close(&x);
}

static const Shape shapes[] = {{1, 1}, {2, 5}, {1, 17}, {2, 70}, {1, 130},
                               {3, 100}};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

static void random_model(const char *yaml)
{
	Arena *a = arena_new();
	const char *path = tu_write_str("m.yaml", yaml);
	Model *m = load_perturbed(a, path, 0.1);
	Graph *gu = build(a, m, false), *gf = build(a, m, true);
	Graph *gr = build_with(a, m, true, false); /* filters at run time */
	/* run-time filters through the FFT: made per channel block */
	Graph *gg = build_conv(a, m, true, false, true);
	int64_t vocab = m->spec.vocab_size, nl = m->spec.n_layer;
	int gated = (m->spec.order == 2) * (int)nl; /* try_gate's pattern */

	ck_assert_int_eq(count_op(gu, OP_FUSED_PROJ), 0);
	ck_assert_int_eq(count_op(gf, OP_FUSED_PROJ), 2 * nl);
	ck_assert_int_eq(count_op(gf, OP_FUSED_MLP), nl);
	ck_assert_int_eq(count_attr(gf, OP_FUSED_PROJ, FP_GATE), gated);
	ck_assert_int_eq(count_attr(gf, OP_GATED_CONV, GC_PREGATED), gated);
	ck_assert_int_eq(count_attr(gr, OP_GATED_CONV, GC_GEN), 0);
	/* a filter made at run time: each Linear + Sin layer of its MLP one
	 * sin_linear (checked against the interpreter below, gr and gg);
	 * folded filters have none left */
	ck_assert_int_eq(count_op(gr, OP_SIN_LINEAR),
	                 (m->spec.num_inner_mlps + 1) * nl);
	ck_assert_int_eq(count_op(gg, OP_SIN_LINEAR),
	                 (m->spec.num_inner_mlps + 1) * nl);
	ck_assert_int_eq(count_op(gf, OP_SIN_LINEAR), 0);
	ck_assert_int_eq(count_op(gu, OP_SIN_LINEAR), 0);
	/* order > 2 shares one filter tensor between its steps: not fused */
	ck_assert_int_eq(count_attr(gg, OP_GATED_CONV, GC_GEN), gated);
	ck_assert_int_eq(count_op(gf, OP_GATED_CONV),
	                 (m->spec.order - 1) * m->spec.n_layer);
	ck_assert_int_eq(count_op(gr, OP_GATED_CONV),
	                 (m->spec.order - 1) * m->spec.n_layer);
	ck_assert_int_eq(count_op(gf, OP_LONGCONV), 0);
	ck_assert_int_eq(count_op(gf, OP_SLICE), 0);

	/* the interpreter: the fused ops are the unfused ones, in double */
	for (int s = 0; s < NSHAPES; s++) {
		int64_t B = shapes[s].B, L = shapes[s].L;
		int32_t *tok = tokens(B * L, vocab, (uint64_t)L);
		float *ru[MAXOUT], *rf[MAXOUT], *rr[MAXOUT], *rg[MAXOUT];
		interp(gu, tok, B, L, ru);
		interp(gf, tok, B, L, rf);
		interp(gr, tok, B, L, rr);
		interp(gg, tok, B, L, rg);
		for (int i = 0; i < gu->noutputs; i++) {
			size_t n = out_numel(gu, i, B, L);
			double e = tu_max_abs_diff(rf[i], ru[i], n);
			double er = tu_max_abs_diff(rr[i], ru[i], n);
			double eg = tu_max_abs_diff(rg[i], ru[i], n);
			ck_assert_msg(e <= 1e-6 && er <= 1e-5 && eg <= 1e-5,
			              "%s %s B=%lld L=%lld: fused vs unfused "
			              "(interpreter) %g, unfolded %g, generated %g",
			              gu->name, gu->outputs[i].name, (long long)B,
			              (long long)L, e, er, eg);
		}
		free_outs(gu, ru);
		free_outs(gf, rf);
		free_outs(gr, rr);
		free_outs(gg, rg);
		free(tok);
	}

	/* the generated code, each convolution mode, against the interpreter */
	for (int conv = CONV_AUTO; conv <= CONV_DIRECT; conv++) {
		check_jit(gf, a, (ConvMethod)conv, "fused", shapes, NSHAPES, vocab,
		          1e-9);
		check_jit(gu, a, (ConvMethod)conv, "unfused", shapes, NSHAPES, vocab,
		          1e-9);
	}
	check_jit(gr, a, CONV_AUTO, "fused unfolded", shapes, NSHAPES, vocab,
	          1e-9);
	check_jit(gg, a, CONV_FFT, "fused generated filters", shapes, NSHAPES,
	          vocab, 1e-9);
	/* method 0 again: convsel's choice at the compiled length */
	for (int i = 0; i < gf->nnodes; i++)
		if (gf->nodes[i]->op == OP_GATED_CONV)
			gf->nodes[i]->iattr[GC_METHOD] = 0;
	check_jit(gf, a, CONV_AUTO, "fused method 0", shapes, NSHAPES, vocab,
	          1e-9);
	fe_model_close(m);
	arena_free(a);
}

START_TEST(model_order2_k3)
{
	random_model("name: r2k3\nd_model: 16\nn_layer: 2\nmax_seq_len: 258\n"
	             "mlp: {d_inner: 32, activation: gelu_tanh}\n"
	             "hyena: {order: 2, short_filter: 3, filter: {emb_dim: 5, "
	             "order: 8, inner_mlps: 1}}\n"
	             "weights: {seed: 11}\n");
}
END_TEST

START_TEST(model_order3_k4)
{
	random_model("name: r3k4\nd_model: 16\nn_layer: 1\nmax_seq_len: 258\n"
	             "mlp: {d_inner: 24, activation: gelu}\n"
	             "hyena: {order: 3, short_filter: 4, filter: {emb_dim: 3, "
	             "order: 8, inner_mlps: 0}}\n"
	             "weights: {seed: 12}\n");
}
END_TEST

START_TEST(model_order2_k1_relu)
{
	random_model("name: r2k1\nd_model: 8\nn_layer: 1\nmax_seq_len: 258\n"
	             "mlp: {d_inner: 16, activation: relu}\n"
	             "hyena: {order: 2, short_filter: 1}\nhead: none\n"
	             "weights: {seed: 13}\n");
}
END_TEST

/* The filter generator of gated_conv{gen} (codegen/cpu/fused.c) at the
 * released models' filter width (order 64), over the runtime's three
 * channel blocks of 40 channels (16, 16 and 8: the last short of a
 * vector group), at lengths that are no multiple of its tile of
 * positions (a vector) and one that is, against the interpreter: for
 * the host and for x86-64-v3 (8-float vectors, where the host has
 * AVX2). */
START_TEST(generated_filter_blocks)
{
	static const Shape sh[] = {{1, 1}, {1, 15}, {2, 33}, {1, 64}, {1, 201}};
	Arena *a = arena_new();
	const char *path = tu_write_str(
	    "m.yaml", "name: gen40\nd_model: 40\nn_layer: 1\nmax_seq_len: 258\n"
	              "mlp: {d_inner: 16, activation: gelu}\n"
	              "hyena: {order: 2, short_filter: 3, filter: {emb_dim: 5, "
	              "order: 64, inner_mlps: 1}}\nhead: none\n"
	              "weights: {seed: 14}\n");
	Model *m = load_perturbed(a, path, 0.1);
	Graph *g = build_conv(a, m, true, false, true);

	ck_assert_int_eq(count_attr(g, OP_GATED_CONV, GC_GEN), 1);
	check_jit(g, a, CONV_FFT, "generated filter blocks", sh,
	          sizeof sh / sizeof sh[0], m->spec.vocab_size, 1e-9);
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		jit_cpu = "x86-64-v3";
		check_jit(g, a, CONV_FFT, "generated filter blocks, x86-64-v3", sh,
		          sizeof sh / sizeof sh[0], m->spec.vocab_size, 1e-9);
		jit_cpu = NULL;
	} else {
		printf("generated_filter_blocks: x86-64-v3 skipped: the host "
		       "lacks AVX2 or FMA\n");
	}
	fe_model_close(m);
	arena_free(a);
}
END_TEST

/* ---- a hand-built chain -------------------------------------------- */

typedef struct Chain {
	Arena *a;
	Graph *g;
	uint64_t rng;
} Chain;

static Node *weight(Chain *c, const char *name, int rank, int64_t d0,
                    int64_t d1, double scale, double offset)
{
	Node *n = ir_add(c->g, OP_WEIGHT, name, 0, NULL);
	size_t cnt;
	n->type = (TensorType){DT_F32, rank, {d0, d1}};
	n->sattr = name;
	ck_assert(ir_type_numel(&n->type, 0, 0, &cnt));
	float *x = arena_alloc(c->a, cnt * sizeof *x + 1);
	for (size_t i = 0; i < cnt; i++)
		x[i] = (float)(offset + scale * frand(&c->rng));
	n->data = x;
	return n;
}

static Node *op(Chain *c, OpKind o, const char *name, int nsrc, Node *a,
                Node *b, Node *d)
{
	Node *src[] = {a, b, d};
	return ir_add(c->g, o, name, nsrc, src);
}

enum { VOCAB = 13 };

/* layernorm -> linear (N wide) -> dwconv (K taps) -> act -> + residual,
 * with or without the biases: one fused_proj carrying everything. */
static Graph *chain(Chain *c, int64_t K, int64_t N, int64_t KC, OpKind act,
                    bool biases)
{
	Node *tok = ir_add(c->g, OP_INPUT, "tokens", 0, NULL);
	tok->type = (TensorType){DT_I32, 2, {DIM_B, DIM_L}};
	Node *x = op(c, OP_EMBED, "x", 2, weight(c, "xt", 2, VOCAB, K, 1, 0),
	             tok, NULL);
	Node *r = op(c, OP_EMBED, "r", 2, weight(c, "rt", 2, VOCAB, N, 1, 0),
	             tok, NULL);
	Node *n = op(c, OP_LAYERNORM, "n", 3, x, weight(c, "g", 1, K, 0, .3, 1),
	             weight(c, "b", 1, K, 0, .3, 0));
	n->fattr[0] = 1e-5;
	Node *y = op(c, OP_LINEAR, "y", biases ? 3 : 2, n,
	             weight(c, "w", 2, N, K, 0.5, 0),
	             biases ? weight(c, "wb", 1, N, 0, 0.5, 0) : NULL);
	y = op(c, OP_DWCONV, "conv", biases ? 3 : 2, y,
	       weight(c, "cw", 2, N, KC, 0.7, 0),
	       biases ? weight(c, "cb", 1, N, 0, 0.5, 0) : NULL);
	y = op(c, act, "act", 1, y, NULL, NULL);
	y = op(c, OP_ADD, "res", 2, r, y, NULL);
	ir_add_output(c->g, "hidden", y);
	Diag d;
	diag_init(&d);
	ck_assert_msg(ir_infer_graph(c->g, &d), "%s", d.msg);
	return c->g;
}

static void check_chain(int64_t K, int64_t N, int64_t KC, OpKind act,
                        bool biases)
{
	static const Shape sh[] = {{1, 1}, {2, 7}, {1, 8}, {2, 9}, {1, 40}};
	Chain cu = {arena_new(), NULL, 7}, cf = {arena_new(), NULL, 7};
	PassOptions o;
	Diag d;
	bool changed;

	cu.g = ir_graph_new(cu.a, "chain");
	cf.g = ir_graph_new(cf.a, "chain");
	cu.g->max_len = cf.g->max_len = 64;
	chain(&cu, K, N, KC, act, biases);
	chain(&cf, K, N, KC, act, biases);
	pass_options_default(&o);
	diag_init(&d);
	ck_assert(pass_fuse(cf.g, &o, &d, &changed) && changed);
	ck_assert_msg(ir_verify(cf.g, &d), "%s", d.msg);
	ck_assert_int_eq(count_op(cf.g, OP_FUSED_PROJ), 1);
	ck_assert_int_eq(cg_kernel_count(cf.g), 3); /* 2 embeds + 1 */
	for (int s = 0; s < 5; s++) {
		int32_t *tok = tokens(sh[s].B * sh[s].L, VOCAB, 99);
		float *ru[1], *rf[1];
		interp(cu.g, tok, sh[s].B, sh[s].L, ru);
		interp(cf.g, tok, sh[s].B, sh[s].L, rf);
		double e = tu_max_abs_diff(rf[0], ru[0],
		                        out_numel(cu.g, 0, sh[s].B, sh[s].L));
		ck_assert_msg(e <= 1e-9, "chain fused vs unfused: %g", e);
		free(ru[0]);
		free(rf[0]);
		free(tok);
	}
	check_jit(cf.g, cf.a, CONV_AUTO, "chain", sh, 5, VOCAB, 1e-9);
	arena_free(cu.a);
	arena_free(cf.a);
}

/* N = 1500 makes the projection tiles 8 rows (with 3 halo rows), so
 * every shape above crosses tiles, partly filled ones included. */
START_TEST(chain_short_tiles)
{
	check_chain(5, 1500, 4, OP_RELU, true);
	check_chain(7, 1500, 1, OP_GELU, false);
	check_chain(3, 33, 3, OP_GELU_TANH, true);
}
END_TEST

/* ---- golden checkpoints ------------------------------------------------ */

static void load_npy(const char *path, NpyArray *x)
{
	Diag d;
	diag_init(&d);
	ck_assert_msg(npy_load(path, x, &d), "%s", d.msg);
}

static void golden(const char *name)
{
	NpyArray tok, want[2];
	load_npy(tu_golden(name, "tokens.npy"), &tok);
	load_npy(tu_golden(name, "hidden.npy"), &want[0]);
	load_npy(tu_golden(name, "logits.npy"), &want[1]);
	int64_t B = tok.dim[0], L = tok.dim[1];

	for (int fuse = 0; fuse <= 1; fuse++) {
		Arena *a = arena_new();
		Diag d;
		diag_init(&d);
		Model *m = fe_load_model(a, tu_golden(name, NULL), &d);
		ck_assert_msg(m, "%s", d.msg);
		Graph *g = build(a, m, fuse);
		ck_assert_int_eq(g->noutputs, 2);
		ck_assert_int_eq(count_op(g, OP_GATED_CONV) > 0, fuse);
		float *ri[2], *rj[2];
		interp(g, tok.data, B, L, ri);
		for (int conv = CONV_AUTO; conv <= CONV_DIRECT; conv++) {
			Jit x;
			jit_open(&x, g, a, (ConvMethod)conv);
			jit_run(&x, g, tok.data, B, L, rj);
			for (int i = 0; i < 2; i++) {
				double ei = tu_max_abs_diff(ri[i], want[i].data, want[i].numel);
				double ej = tu_max_abs_diff(rj[i], want[i].data, want[i].numel);
				if (getenv("HYENAC_TEST_VERBOSE"))
					printf("%s fuse=%d conv=%d %s: interp %.3g jit %.3g\n",
					       name, fuse, conv, g->outputs[i].name, ei, ej);
				ck_assert_msg(ei <= 2e-4, "%s fuse %d %s interp: %g", name,
				              fuse, g->outputs[i].name, ei);
				ck_assert_msg(ej <= 2e-4, "%s fuse %d conv %d %s: %g", name,
				              fuse, conv, g->outputs[i].name, ej);
			}
			free_outs(g, rj);
			jit_close(&x);
		}
		free_outs(g, ri);
		fe_model_close(m);
		arena_free(a);
	}
	npy_free(&tok);
	npy_free(&want[0]);
	npy_free(&want[1]);
}

START_TEST(golden_tiny_1k)
{
	golden("tiny-1k");
}
END_TEST

START_TEST(golden_odd_order3)
{
	golden("odd-order3");
}
END_TEST

/* ---- kernel count ------------------------------------------------------ */

/* tiny-16k-d128 (2 layers, order 2): 5 kernels a block, 3 around them,
 * and the gated convolutions keep convsel's choice; unfused it is many
 * more. */
START_TEST(kernel_count_tiny_16k)
{
	static const struct {
		int64_t len;
		int method;
	} cases[] = {{16, CONV_DIRECT}, {16384, CONV_FFT}};
	for (int i = 0; i < 2; i++)
		for (int fuse = 0; fuse <= 1; fuse++) {
			Arena *a = arena_new();
			Diag d;
			PassOptions o;
			diag_init(&d);
			Model *m = fe_load_model(
			    a, tu_source("models/hyenadna-tiny-16k-d128.yaml"), &d);
			ck_assert_msg(m, "%s", d.msg);
			Graph *g = fe_lower(a, m, &d);
			ck_assert_msg(g, "%s", d.msg);
			g->max_len = cases[i].len;
			pass_options_default(&o);
			o.fuse = fuse;
			ck_assert_msg(pass_pipeline(g, &o, &d), "%s", d.msg);
			int k = cg_kernel_count(g);
			if (fuse) {
				ck_assert_int_le(k, 13);
				ck_assert_int_eq(count_op(g, OP_GATED_CONV), 2);
				for (int j = 0; j < g->nnodes; j++)
					if (g->nodes[j]->op == OP_GATED_CONV)
						ck_assert_int_eq(g->nodes[j]->iattr[GC_METHOD],
						                 cases[i].method);
			} else {
				ck_assert_int_gt(k, 13);
				ck_assert_int_eq(count_op(g, OP_FUSED_PROJ), 0);
			}
			fe_model_close(m);
			arena_free(a);
		}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("fuse");
	TCase *t = tcase_create("fuse");
	tcase_set_timeout(t, 600);
	tcase_add_test(t, model_order2_k3);
	tcase_add_test(t, model_order3_k4);
	tcase_add_test(t, model_order2_k1_relu);
	tcase_add_test(t, generated_filter_blocks);
	tcase_add_test(t, chain_short_tiles);
	tcase_add_test(t, golden_tiny_1k);
	tcase_add_test(t, golden_odd_order3);
	tcase_add_test(t, kernel_count_tiny_16k);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
