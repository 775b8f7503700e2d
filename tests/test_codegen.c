/*
 * test_codegen.c - every generated kernel against the reference
 * interpreter, in the manner of ggml's test-backend-ops: tiny graphs built
 * with ir_add on random data, compiled by cg_emit, run through the JIT,
 * compared output by output with a normalised error (NMSE) bound. Float
 * activations enter through `embed` of a random table, so every graph is a
 * real hyenac_run with tokens. Odd sizes (C = 7, L = 1, 2, 3, 17) and every
 * broadcast pattern the lowering produces are covered, the long
 * convolution in all three modes up to L = 4097, the projection GEMM
 * (linear, fused_proj) at row and column counts around its register
 * block and vector width, for the host and for an AVX2 CPU, and the two
 * golden checkpoints end to end against the official outputs, with the
 * implicit filters folded and with them made by generated code at run
 * time.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/cpucheck.h"
#include "runtime/npy.h"
#include "testutil.h"


typedef int64_t (*ScratchFn)(int64_t, int64_t);
typedef void (*RunFn)(const float *, const int32_t *, int64_t, int64_t,
                      float *const *, void *);

enum { VOCAB = 13 };

typedef struct Case {
	Arena *a;
	Graph *g;
	Node *tok;
	uint64_t rng;
} Case;

static double frand(Case *k) /* [-1, 1) */
{
	k->rng = k->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(k->rng >> 11) / 4503599627370496.0 - 1.0;
}

static Case *case_new(const char *name, int64_t max_len)
{
	Case *k = calloc(1, sizeof *k);
	ck_assert(k);
	k->a = arena_new();
	k->g = ir_graph_new(k->a, name);
	k->g->max_len = max_len;
	k->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)strlen(name);
	k->tok = ir_add(k->g, OP_INPUT, "tokens", 0, NULL);
	k->tok->type = (TensorType){DT_I32, 2, {DIM_B, DIM_L}};
	return k;
}

static void case_free(Case *k)
{
	arena_free(k->a);
	free(k);
}

/* A weight of random values in [offset - scale, offset + scale). */
static Node *weight(Case *k, const char *name, int rank, int64_t d0,
                    int64_t d1, double scale, double offset)
{
	Node *n = ir_add(k->g, OP_WEIGHT, name, 0, NULL);
	size_t cnt;
	float *x;

	n->type = (TensorType){DT_F32, rank, {d0, d1}};
	n->sattr = name;
	ck_assert(ir_type_numel(&n->type, 0, 0, &cnt));
	x = arena_alloc(k->a, cnt * sizeof *x + 1);
	for (size_t i = 0; i < cnt; i++)
		x[i] = (float)(offset + scale * frand(k));
	n->data = x;
	return n;
}

static Node *op(Case *k, OpKind o, const char *name, int nsrc, Node *a,
                Node *b, Node *c)
{
	Node *src[] = {a, b, c};
	return ir_add(k->g, o, name, nsrc, src);
}

static Node *slice(Case *k, const char *name, Node *x, int axis,
                   int64_t start, int64_t len)
{
	Node *n = op(k, OP_SLICE, name, 1, x, NULL, NULL);
	n->iattr[0] = axis;
	n->iattr[1] = start;
	n->iattr[2] = len;
	return n;
}

/* A float [B, L, C] activation: embed of a random table. */
static Node *act(Case *k, const char *name, int64_t C, double scale)
{
	const char *tn = arena_printf(k->a, "%s.table", name);
	Node *t = weight(k, tn, 2, VOCAB, C, scale, 0);
	return op(k, OP_EMBED, name, 2, t, k->tok, NULL);
}

static Node *pos_emb(Case *k, const char *name, int64_t lmax, int64_t dim)
{
	Node *n = op(k, OP_POS_EMB, name, 0, NULL, NULL, NULL);
	n->iattr[0] = lmax;
	n->iattr[1] = dim;
	return n;
}

static void out(Case *k, const char *name, Node *n)
{
	ir_add_output(k->g, name, n);
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

static void *alloc64(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
	ck_assert(p);
	return p;
}

typedef struct Shape {
	int64_t B, L;
} Shape;

typedef struct Compiled {
	CgJit *j;
	void *blob;
	RunFn run;
	ScratchFn sb;
} Compiled;

/* The long convolutions' methods, as convsel chooses them with --conv
 * set to conv: codegen takes the graph's word. */
static void choose_conv(Graph *g, ConvMethod conv)
{
	PassOptions po;
	Diag d;
	bool changed;

	diag_init(&d);
	pass_options_default(&po);
	po.conv = conv;
	ck_assert_msg(pass_convsel(g, &po, &d, &changed), "%s", d.msg);
}

/* Type, verify, lay out and JIT k's graph, for cpu (NULL: the host). */
static void compile(Case *k, const char *cpu, ConvMethod conv, int opt,
                    Compiled *cp)
{
	Graph *g = k->g;
	Diag d;
	CgWeights w;
	CgOptions o = {cpu, NULL, opt, NULL, NULL, NULL, false, 0};
	int64_t meta[HYRT_META_COUNT] = {[HYRT_META_NOUTPUTS] = 7};

	diag_init(&d);
	ck_assert_msg(ir_infer_graph(g, &d), "%s", d.msg);
	choose_conv(g, conv);
	ck_assert_msg(ir_verify(g, &d), "%s", d.msg);
	cg_layout_weights(g, k->a, &w);
	cp->blob = alloc64(w.bytes);
	cg_pack_weights(g, &w, cp->blob);
	CgModule *m = cg_emit(g, &w, &o, meta, &d);
	ck_assert_msg(m, "%s", d.msg);
	cp->j = cg_jit(m, &d);
	ck_assert_msg(cp->j, "%s", d.msg);
	cp->run = (RunFn)cg_jit_lookup(cp->j, "hyenac_run");
	cp->sb = (ScratchFn)cg_jit_lookup(cp->j, "hyenac_scratch_bytes");
	/* as a binary starts, the CPU check of AMX, which also asks Linux
	 * for the tile state that a bf16 GEMM's tiles need (the code of
	 * foreign CPUs here may list features this host lacks but that no
	 * kernel uses, as znver4's sse4a) */
	const char *uses = cg_jit_lookup(cp->j, "hyenac_target_features");
	char msg[512];
	ck_assert(uses);
	ck_assert_msg(!hyrt_cpu_listed(uses, "amx-tile") ||
	              hyrt_cpu_check("amx-tile,amx-bf16", cpu, msg, sizeof msg),
	              "%s", msg);
	const int64_t *jmeta = cg_jit_lookup(cp->j, "hyenac_meta");
	const char *jname = cg_jit_lookup(cp->j, "hyenac_model_name");
	ck_assert(cp->run && cp->sb && jmeta && jname);
	ck_assert_int_eq(jmeta[HYRT_META_NOUTPUTS], 7);
	ck_assert_str_eq(jname, g->name);
}

static void compiled_free(Compiled *cp)
{
	cg_jit_free(cp->j);
	free(cp->blob);
}

/* Compile k's graph once, for cpu (NULL: the host), and check every
 * output at every shape against the interpreter. */
static void check_shapes_on(Case *k, const char *cpu, ConvMethod conv, int opt,
                            double tol, const Shape *sh, int nsh)
{
	Graph *g = k->g;
	Diag d;
	Compiled cp;

	diag_init(&d);
	compile(k, cpu, conv, opt, &cp);
	for (int s = 0; s < nsh; s++) {
		int64_t B = sh[s].B, L = sh[s].L;
		int32_t *tok = malloc((size_t)(B * L) * sizeof *tok + 4);
		float *ref[16], *got[16];

		ck_assert(g->noutputs <= 16);
		for (int64_t i = 0; i < B * L; i++)
			tok[i] = (int32_t)((k->rng = k->rng * 6364136223846793005ULL +
			                             1)
			                   >> 33) % VOCAB;
		ck_assert_msg(ir_interp(g, tok, B, L, ref, &d), "%s", d.msg);
		void *scratch = alloc64((size_t)cp.sb(B, L));
		size_t cnt[16];
		for (int i = 0; i < g->noutputs; i++) {
			ck_assert(ir_type_numel(&g->outputs[i].node->type, B, L,
			                        &cnt[i]));
			got[i] = alloc64(cnt[i] * sizeof(float));
			for (size_t q = 0; q < cnt[i]; q++)
				got[i][q] = NAN;
		}
		cp.run(cp.blob, tok, B, L, got, scratch);
		for (int i = 0; i < g->noutputs; i++) {
			double e = nmse(got[i], ref[i], cnt[i]);
			if (getenv("HYENAC_TEST_VERBOSE") || e > tol * 1e-2)
				printf("%s/%s B=%lld L=%lld conv=%d O%d: nmse %.3g\n",
				       g->name, g->outputs[i].name, (long long)B,
				       (long long)L, conv, opt, e);
			ck_assert_msg(e <= tol,
			              "%s output %s at B=%lld L=%lld (conv %d, O%d):"
			              " nmse %g > %g", g->name, g->outputs[i].name,
			              (long long)B, (long long)L, conv, opt, e, tol);
			free(got[i]);
			free(ref[i]);
		}
		free(scratch);
		free(tok);
	}
	compiled_free(&cp);
}

static void check_shapes(Case *k, ConvMethod conv, int opt, double tol,
                         const Shape *sh, int nsh)
{
	check_shapes_on(k, NULL, conv, opt, tol, sh, nsh);
}

static const Shape odd[] = {{1, 1}, {1, 2}, {2, 3}, {3, 17}};
#define NODD ((int)(sizeof odd / sizeof odd[0]))

/* Tolerances: float kernels against the double interpreter. */
static const double TOL = 1e-10, TOL_TRANSC = 1e-9;

START_TEST(embed_op)
{
	Case *k = case_new("embed", 0);
	out(k, "x", act(k, "x", 7, 1.0));
	out(k, "y", act(k, "y", 1, 1.0));
	check_shapes(k, CONV_AUTO, 3, TOL, odd, NODD);
	case_free(k);
}
END_TEST

START_TEST(layernorm_op)
{
	Case *k = case_new("layernorm", 0);
	int64_t Cs[] = {7, 1, 128};
	for (int i = 0; i < 3; i++) {
		int64_t C = Cs[i];
		const char *p = arena_printf(k->a, "n%d", i);
		Node *x = act(k, arena_printf(k->a, "%s.x", p), C, 2.0);
		Node *ga = weight(k, arena_printf(k->a, "%s.g", p), 1, C, 0, 0.5,
		                  1.0);
		Node *be = weight(k, arena_printf(k->a, "%s.b", p), 1, C, 0, 0.5, 0);
		Node *n = op(k, OP_LAYERNORM, p, 3, x, ga, be);
		n->fattr[0] = 1e-5;
		out(k, p, n);
	}
	check_shapes(k, CONV_AUTO, 3, TOL, odd, NODD);
	case_free(k);
}
END_TEST

START_TEST(linear_op)
{
	Case *k = case_new("linear", 0);
	Node *x = act(k, "x", 7, 1.0);
	Node *w = weight(k, "w", 2, 5, 7, 0.5, 0);
	Node *b = weight(k, "b", 1, 5, 0, 0.5, 0);
	out(k, "bias", op(k, OP_LINEAR, "bias", 3, x, w, b));
	out(k, "nobias", op(k, OP_LINEAR, "nobias", 2, x, w, NULL));
	Node *x2 = act(k, "x2", 128, 1.0);
	Node *w2 = weight(k, "w2", 2, 33, 128, 0.1, 0);
	out(k, "wide", op(k, OP_LINEAR, "wide", 2, x2, w2, NULL));
	/* on a rank-2 [L, F] operand, as the implicit filter has it */
	Node *z = pos_emb(k, "z", 100, 5);
	Node *w3 = weight(k, "w3", 2, 9, 5, 1.0, 0);
	Node *b3 = weight(k, "b3", 1, 9, 0, 1.0, 0);
	out(k, "filt", op(k, OP_LINEAR, "filt", 3, z, w3, b3));
	check_shapes(k, CONV_AUTO, 3, TOL, odd, NODD);
	case_free(k);
}
END_TEST

START_TEST(dwconv_op)
{
	Case *k = case_new("dwconv", 0);
	int64_t Ks[] = {3, 1, 4};
	for (int i = 0; i < 3; i++) {
		const char *p = arena_printf(k->a, "c%d", i);
		Node *x = act(k, arena_printf(k->a, "%s.x", p), 7, 1.0);
		Node *w = weight(k, arena_printf(k->a, "%s.w", p), 2, 7, Ks[i],
		                 1.0, 0);
		Node *b = weight(k, arena_printf(k->a, "%s.b", p), 1, 7, 0, 1.0, 0);
		out(k, p, op(k, OP_DWCONV, p, i == 1 ? 2 : 3, x, w, b));
	}
	check_shapes(k, CONV_AUTO, 3, TOL, odd, NODD);
	case_free(k);
}
END_TEST

/* longconv(u, k[:L]) by each method (auto: convsel's at max_len 4097),
 * at lengths on both sides of the cost model's crossover. */
static void longconv_mode(ConvMethod conv, double tol)
{
	static const Shape sh[] = {{1, 1},   {2, 2},    {1, 3},   {2, 17},
	                           {1, 64},  {2, 333},  {1, 1024}, {1, 4097}};
	Case *k = case_new("longconv", 4097);
	Node *u = act(k, "u", 7, 1.0);
	Node *kw = weight(k, "k.w", 2, 4097, 7, 1.0, 0);
	Node *kl = slice(k, "k", kw, 0, 0, DIM_L);
	out(k, "y", op(k, OP_LONGCONV, "y", 2, u, kl, NULL));
	check_shapes(k, conv, 3, tol, sh, (int)(sizeof sh / sizeof sh[0]));
	case_free(k);
}

START_TEST(longconv_direct)
{
	longconv_mode(CONV_DIRECT, TOL);
}
END_TEST

START_TEST(longconv_fft)
{
	longconv_mode(CONV_FFT, 1e-9);
}
END_TEST

START_TEST(longconv_auto)
{
	longconv_mode(CONV_AUTO, 1e-9);
}
END_TEST

START_TEST(slice_op)
{
	static const Shape sh[] = {{2, 3}, {3, 17}, {2, 40}};
	Case *k = case_new("slice", 64);
	Node *x = act(k, "x", 7, 1.0);
	out(k, "b", slice(k, "b", x, 0, 1, 1));
	out(k, "l", slice(k, "l", x, 1, 1, 2));
	out(k, "lL", slice(k, "lL", x, 1, 0, DIM_L));
	out(k, "c", slice(k, "c", x, 2, 2, 3));
	out(k, "c1", slice(k, "c1", x, 2, 6, 1));
	Node *w = weight(k, "w", 2, 70, 5, 1.0, 0);
	out(k, "wL", slice(k, "wL", w, 0, 3, DIM_L));
	out(k, "wcol", slice(k, "wcol", w, 1, 0, 1));
	Node *v = weight(k, "v", 1, 12, 0, 1.0, 0);
	out(k, "v7", slice(k, "v7", v, 0, 5, 7));
	/* i32: a slice of the tokens, then embedded */
	Node *ts = slice(k, "ts", k->tok, 1, 1, 2);
	Node *tab = weight(k, "tab", 2, VOCAB, 3, 1.0, 0);
	out(k, "te", op(k, OP_EMBED, "te", 2, tab, ts, NULL));
	check_shapes(k, CONV_AUTO, 3, TOL, sh, 3);
	case_free(k);
}
END_TEST

START_TEST(binary_ops)
{
	Case *k = case_new("binary", 512);
	Node *x = act(k, "x", 7, 1.0), *y = act(k, "y", 7, 1.0);
	Node *c = weight(k, "cw", 1, 7, 0, 1.0, 0);
	out(k, "same", op(k, OP_ADD, "same", 2, x, y, NULL));
	out(k, "same_mul", op(k, OP_MUL, "same_mul", 2, x, y, NULL));
	out(k, "self", op(k, OP_MUL, "self", 2, x, x, NULL));
	out(k, "row", op(k, OP_MUL, "row", 2, x, c, NULL));
	out(k, "row_lhs", op(k, OP_ADD, "row_lhs", 2, c, x, NULL));
	/* [X, C] op [X, 1] */
	Node *h = weight(k, "h", 2, 5, 7, 1.0, 0);
	Node *t = weight(k, "t", 2, 5, 1, 1.0, 0);
	out(k, "col", op(k, OP_MUL, "col", 2, h, t, NULL));
	out(k, "col_lhs", op(k, OP_ADD, "col_lhs", 2, t, h, NULL));
	/* [L, F] op [F] */
	Node *z = pos_emb(k, "z", 512, 7);
	Node *f = weight(k, "f", 1, 7, 0, 1.0, 0);
	out(k, "lf", op(k, OP_MUL, "lf", 2, z, f, NULL));
	/* [B, L, C] op [L, C] and [B, 1, C] op [B, L, C] */
	Node *kw = weight(k, "kw", 2, 512, 7, 1.0, 0);
	Node *kl = slice(k, "kl", kw, 0, 0, DIM_L);
	out(k, "blc_lc", op(k, OP_ADD, "blc_lc", 2, x, kl, NULL));
	Node *x1 = slice(k, "x1", x, 1, 0, 1);
	out(k, "mid", op(k, OP_MUL, "mid", 2, x1, y, NULL));
	/* [5, 1] op [1, 7] -> [5, 7] */
	Node *r = weight(k, "r", 2, 1, 7, 1.0, 0);
	out(k, "outer", op(k, OP_ADD, "outer", 2, t, r, NULL));
	check_shapes(k, CONV_AUTO, 3, TOL, odd, NODD);
	case_free(k);
}
END_TEST

START_TEST(unary_ops)
{
	Case *k = case_new("unary", 0);
	Node *x = act(k, "x", 7, 4.0);
	Node *big = act(k, "big", 7, 40.0);
	out(k, "sin", op(k, OP_SIN, "sin", 1, x, NULL, NULL));
	out(k, "sin_big", op(k, OP_SIN, "sin_big", 1, big, NULL, NULL));
	out(k, "gelu_tanh", op(k, OP_GELU_TANH, "gelu_tanh", 1, x, NULL, NULL));
	out(k, "gelu", op(k, OP_GELU, "gelu", 1, x, NULL, NULL));
	out(k, "relu", op(k, OP_RELU, "relu", 1, x, NULL, NULL));
	check_shapes(k, CONV_AUTO, 3, TOL_TRANSC, odd, NODD);
	case_free(k);
}
END_TEST

START_TEST(pos_emb_expmod)
{
	static const Shape sh[] = {{1, 1}, {2, 3}, {1, 17}, {1, 333},
	                           {1, 700}};
	Case *k = case_new("filter", 700);
	Node *z = pos_emb(k, "z", 700, 7);
	out(k, "z", z);
	out(k, "z5", pos_emb(k, "z5", 1026, 5));
	Node *w = weight(k, "w", 2, 9, 7, 1.0, 0);
	Node *h = op(k, OP_LINEAR, "h", 2, z, w, NULL);
	Node *t = slice(k, "t", z, 1, 0, 1);
	Node *dl = weight(k, "deltas", 1, 9, 0, 10.0, 0);
	Node *e = op(k, OP_EXPMOD, "k", 3, h, t, dl);
	e->fattr[0] = 0.05;
	out(k, "k", e);
	check_shapes(k, CONV_AUTO, 3, TOL_TRANSC, sh, 5);
	case_free(k);
}
END_TEST

/* ---- the vector math against libm ------------------------------------- */

/* The kernels' expf, sinf and GELUs (codegen/cpu/vmath.c) at every point
 * of a dense sweep plus the edge cases, against libm in double. exp has no
 * op of its own: it is expmod with a unit filter and deltas and t = -x. */

/* The spacing of floats at |r|, denormals included. */
static double ulp_f32(double r)
{
	int e;
	float f = fabsf((float)r);
	if (f < FLT_MIN)
		return ldexp(1, -149);
	frexp(f, &e);
	return ldexp(1, e - 24);
}

/* got[i] = the generated code's op at x[i], through a graph of one
 * kernel whose source is a weight holding the points. */
static void eval_points(OpKind o, const float *x, size_t n, float *got)
{
	Case *k = case_new("vmath", 0);
	float *xd = arena_alloc(k->a, n * sizeof *xd + 1);
	Node *xs = ir_add(k->g, OP_WEIGHT, "x", 0, NULL), *y;

	xs->type = (TensorType){DT_F32, 2, {(int64_t)n, 1}};
	xs->sattr = "x";
	xs->data = xd;
	for (size_t i = 0; i < n; i++)
		xd[i] = o == OP_EXPMOD ? -x[i] : x[i];
	if (o == OP_EXPMOD) {
		Node *h = weight(k, "h", 2, (int64_t)n, 1, 0, 1.0);
		Node *dl = weight(k, "deltas", 1, 1, 0, 0, 1.0);
		y = op(k, OP_EXPMOD, "y", 3, h, xs, dl);
		y->fattr[0] = 0;
	} else {
		y = op(k, o, "y", 1, xs, NULL, NULL);
	}
	out(k, "y", y);
	Compiled cp;
	compile(k, NULL, CONV_AUTO, 3, &cp);
	void *scratch = alloc64((size_t)cp.sb(1, 1));
	int32_t tok = 0;
	float *outs[] = {got};
	cp.run(cp.blob, &tok, 1, 1, outs, scratch);
	free(scratch);
	compiled_free(&cp);
	case_free(k);
}

static double exp_ref(double x)
{
	return exp(x);
}

static double sin_ref(double x)
{
	return sin(x);
}

/* x / (1 + e^(-2y)) is 0.5 x (1 + tanh y) without its cancellation; the
 * limit 0 at -inf. */
static double gelu_tanh_ref(double x)
{
	double y = 0.7978845608028654 * (x + 0.044715 * x * x * x);
	return x == -INFINITY ? -0.0 : x / (1 + exp(-2 * y));
}

/* 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2). */
static double gelu_ref(double x)
{
	return x == -INFINITY ? -0.0 : 0.5 * x * erfc(-x * M_SQRT1_2);
}

typedef struct VmCase {
	const char *name;
	OpKind op;
	double (*ref)(double);
	double lo, hi; /* the dense sweep */
	double max_ulp;  /* bound on |got - ref| in ulps of ref */
	double max_ulpx; /* (GELUs) the bound in ulps of x where x < -1, past
	                  * the cancellation in 1 + erf */
} VmCase;

static const float vm_edges[] = {
	0.0f, -0.0f, 1e-45f, -1e-45f, 1e-40f, -1e-40f, 1.1754942e-38f,
	1e-30f, -1e-30f, 10, -10, 88, -88, 88.72283f, 88.72284f, 89, -89,
	-103, -104, 100, -100, 1e4f, -1e4f, INFINITY, -INFINITY, NAN};

static void vm_check(const VmCase *v)
{
	enum { NLIN = 1 << 18, NLOG = 1 << 14 };
	size_t ne = sizeof vm_edges / sizeof vm_edges[0];
	size_t n = NLIN + 2 * NLOG + ne;
	float *x = malloc(n * sizeof *x), *got = alloc64(n * sizeof *got);
	double worst = 0, worstx = 0;
	float at = 0, atx = 0;
	size_t m = 0;

	ck_assert(x);
	for (int i = 0; i < NLIN; i++)
		x[m++] = (float)(v->lo + (v->hi - v->lo) * i / (NLIN - 1));
	/* magnitudes 1e-38 .. hi, both signs, for the small arguments */
	for (int i = 0; i < NLOG; i++) {
		double a = 1e-38 * pow(v->hi / 1e-38, (double)i / (NLOG - 1));
		x[m++] = (float)a;
		x[m++] = (float)-a;
	}
	for (size_t i = 0; i < ne; i++)
		x[m++] = vm_edges[i];
	eval_points(v->op, x, n, got);
	for (size_t i = 0; i < n; i++) {
		double r = v->ref(x[i]);
		float rf = (float)r;
		if (isnan(r) || isinf(rf) || rf == 0) {
			ck_assert_msg(isnan(r) ? isnan(got[i]) : got[i] == rf &&
			              signbit(got[i]) == signbit(rf),
			              "%s(%a) = %a, want %a", v->name, x[i],
			              got[i], rf);
			continue;
		}
		double e = fabs(got[i] - r) / ulp_f32(r);
		if (v->max_ulpx > 0 && x[i] < -1) {
			double ex = fabs(got[i] - r) / ulp_f32(x[i]);
			if (!(ex <= worstx))
				worstx = ex, atx = x[i];
		} else if (!(e <= worst)) {
			worst = e, at = x[i];
		}
	}
	printf("%s: max %.2f ulp at %a", v->name, worst, at);
	if (v->max_ulpx > 0)
		printf("; below -1, max %.2f ulp of x at %a", worstx, atx);
	printf("\n");
	ck_assert_msg(worst <= v->max_ulp, "%s: %g ulp at %a", v->name, worst,
	              at);
	ck_assert_msg(worstx <= v->max_ulpx, "%s: %g ulp of x at %a", v->name,
	              worstx, atx);
	free(x);
	free(got);
}

static const VmCase vm_cases[] = {
	{"expf", OP_EXPMOD, exp_ref, -110, 95, 1.5, 0},
	{"sinf", OP_SIN, sin_ref, -1e4, 1e4, 2, 0},
	{"gelu_tanh", OP_GELU_TANH, gelu_tanh_ref, -30, 30, 3, 1},
	{"gelu", OP_GELU, gelu_ref, -30, 30, 6, 3},
};

START_TEST(vmath)
{
	vm_check(&vm_cases[_i]);
}
END_TEST

/* Outputs that are not a kernel's own destination are copied: a node
 * named twice and a weight. */
START_TEST(output_copies)
{
	Case *k = case_new("outs", 0);
	Node *x = act(k, "x", 7, 1.0);
	Node *w = weight(k, "w", 1, 7, 0, 1.0, 0);
	Node *y = op(k, OP_MUL, "y", 2, x, w, NULL);
	out(k, "y", y);
	out(k, "y_again", y);
	out(k, "w", w);
	out(k, "z", op(k, OP_RELU, "z", 1, y, NULL, NULL));
	check_shapes(k, CONV_AUTO, 3, TOL, odd, NODD);
	case_free(k);
}
END_TEST

/* A small Hyena-like mix of everything, at O0 and O3. */
static Case *mixed(void)
{
	Case *k = case_new("mixed", 128);
	Node *x = act(k, "x", 7, 1.0);
	Node *g = weight(k, "g", 1, 7, 0, 0.2, 1.0);
	Node *b = weight(k, "b", 1, 7, 0, 0.2, 0);
	Node *n = op(k, OP_LAYERNORM, "norm", 3, x, g, b);
	n->fattr[0] = 1e-5;
	Node *w = weight(k, "w", 2, 14, 7, 0.5, 0);
	Node *z = op(k, OP_LINEAR, "in", 2, n, w, NULL);
	Node *sw = weight(k, "sw", 2, 14, 3, 0.5, 0);
	z = op(k, OP_DWCONV, "short", 2, z, sw, NULL);
	Node *x0 = slice(k, "x0", z, 2, 0, 7);
	Node *v = slice(k, "v", z, 2, 7, 7);
	Node *pe = pos_emb(k, "pos", 128, 5);
	Node *fw = weight(k, "fw", 2, 7, 5, 1.0, 0);
	Node *h = op(k, OP_SIN, "hs", 1, op(k, OP_LINEAR, "h", 2, pe, fw, NULL),
	             NULL, NULL);
	Node *dl = weight(k, "dl", 1, 7, 0, 3.0, 0);
	Node *kk = op(k, OP_EXPMOD, "kk", 3, h,
	              slice(k, "t", pe, 1, 0, 1), dl);
	kk->fattr[0] = 0.05;
	Node *y = op(k, OP_LONGCONV, "conv", 2, op(k, OP_MUL, "gate", 2, v, x0,
	                                          NULL), kk, NULL);
	y = op(k, OP_GELU_TANH, "act", 1, y, NULL, NULL);
	out(k, "hidden", op(k, OP_ADD, "res", 2, y, x, NULL));
	return k;
}

START_TEST(mixed_o0_o3)
{
	static const Shape sh[] = {{1, 1}, {2, 17}, {2, 100}};
	for (int opt = 0; opt <= 3; opt += 3)
		for (int conv = CONV_AUTO; conv <= CONV_DIRECT; conv++) {
			Case *k = mixed();
			check_shapes(k, (ConvMethod)conv, opt, TOL_TRANSC, sh, 3);
			case_free(k);
		}
}
END_TEST

/* ---- projections (gemm_tile) ------------------------------------------ */

/* B*L rows 1, 3, 5, 7 (around a register block of 6 rows), 13 and 23
 * (a block of 12 and the rest in blocks of 8, 2 and 1), 67 (past a
 * 60-row tile) and 3 x 43; every N is a partial panel, the last vector
 * partial where N is not a multiple of 8, and 40 takes two register
 * columns of an AVX2 panel and a partial one; K = 300 goes over the k
 * chunk (KC = 256) in two chunks, the second partial. */
static const Shape proj_sh[] = {{1, 1},  {1, 3},  {1, 5}, {1, 7},
                                {1, 13}, {1, 23}, {1, 67}, {3, 43}};
#define NPROJ_SH ((int)(sizeof proj_sh / sizeof proj_sh[0]))
static const int64_t proj_N[] = {1, 3, 16, 17, 40};
enum { NPROJ_K = 4 };
static const int64_t proj_K[NPROJ_K] = {1, 7, 128, 300};

/* Each GEMM shape of codegen/cpu/target.c's table: the host's (where it
 * has AVX-512, 16-float vectors in blocks of 12 x 2), znver4's (6 x 2
 * AVX-512 vectors, whole K) and an AVX2 CPU's (6 x 2 8-float vectors). */
static const char *const proj_cpu[] = {NULL, "x86-64-v3", "znver4"};
enum { NPROJ_CPU = 3 };

/* The bf16 GEMM (--precision bf16) on each of its paths: the host's,
 * Cooper Lake's (vdpbf16ps, 12 x 2 blocks), Sapphire Rapids' (AMX
 * tiles: blocks of 32 rows, 16 pairs of k a tile), and the widened
 * pairs on an AVX-512 CPU without AVX512_BF16 (skylake-avx512) and on
 * an AVX2 one (8-float vectors); K = 601
 * goes over the k chunk (256 pairs) in three chunks, the last partial
 * and odd; 1 and 7 end in half a pair. */
static const char *const bf_cpu[] = {NULL, "cooperlake", "sapphirerapids",
                                     "skylake-avx512", "x86-64-v3"};
enum { NBF_CPU = 5 };
static const int64_t bf_K[NPROJ_K] = {1, 7, 128, 601};

/* Whether this host runs code for cpu (an AVX-512 one needs AVX-512). */
static bool proj_runs(const char *cpu)
{
	__builtin_cpu_init();
	const char *needs = !cpu ? NULL
	                    : strcmp(cpu, "sapphirerapids") == 0
	                        ? "avx512bf16,avx512fp16,amx-tile,amx-bf16"
	                    : strcmp(cpu, "cooperlake") == 0 ? "avx512bf16"
	                                                     : NULL;
	char msg[256];
	if (needs && !hyrt_cpu_check(needs, cpu, msg, sizeof msg)) {
		printf("proj: skipping %s code: %s\n", cpu, msg);
		return false;
	}
	if (!cpu || (strcmp(cpu, "znver4") != 0 &&
	             strcmp(cpu, "skylake-avx512") != 0))
		return true;
	if (__builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("avx512dq"))
		return true;
	printf("proj: skipping %s code: this host has no AVX-512\n", cpu);
	return false;
}

/* fused_proj of x [.., K] by w [N, K] with the given parts. */
static Node *fproj(Case *k, const char *name, Node *x, int64_t K, int64_t N,
                   bool bias, bool ln, int64_t conv, FpAct a, bool res)
{
	Node *src[8];
	int ns = 0;

	src[ns++] = x;
	src[ns++] = weight(k, arena_printf(k->a, "%s.w", name), 2, N, K,
	                   1.0 / sqrt((double)K), 0);
	if (bias)
		src[ns++] = weight(k, arena_printf(k->a, "%s.b", name), 1, N, 0,
		                   0.5, 0);
	if (ln) {
		src[ns++] = weight(k, arena_printf(k->a, "%s.g", name), 1, K, 0,
		                   0.5, 1.0);
		src[ns++] = weight(k, arena_printf(k->a, "%s.be", name), 1, K, 0,
		                   0.5, 0);
	}
	if (conv) {
		src[ns++] = weight(k, arena_printf(k->a, "%s.cw", name), 2, N,
		                   conv, 0.5, 0);
		src[ns++] = weight(k, arena_printf(k->a, "%s.cb", name), 1, N, 0,
		                   0.5, 0);
	}
	if (res)
		src[ns++] = act(k, arena_printf(k->a, "%s.res", name), N, 1.0);
	Node *n = ir_add(k->g, OP_FUSED_PROJ, name, ns, src);
	n->iattr[FP_BIAS] = bias;
	n->iattr[FP_LN] = ln;
	n->iattr[FP_CONV] = conv;
	n->iattr[FP_CONV_BIAS] = conv > 0;
	n->iattr[FP_ACT] = a;
	n->iattr[FP_RES] = res;
	n->fattr[0] = ln ? 1e-5 : 0;
	return n;
}

/* linear at every N for one K, with and without bias; at K = 7 also a
 * weight that embed reads too (the tied head: stored both ways) and a
 * computed one (the dot-product path). */
static void run_proj_linear(int64_t K, const char *cpu, bool bf16,
                            double tol)
{
	if (!proj_runs(cpu))
		return;
	Case *k = case_new("proj_linear", 0);
	k->g->bf16 = bf16;
	Node *x = act(k, "x", K, 1.0);
	for (int i = 0; i < 5; i++) {
		int64_t N = proj_N[i];
		Node *w = weight(k, arena_printf(k->a, "w%d", i), 2, N, K,
		                 1.0 / sqrt((double)K), 0);
		Node *b = weight(k, arena_printf(k->a, "b%d", i), 1, N, 0, 0.5, 0);
		const char *nb = arena_printf(k->a, "bias.N%lld", (long long)N);
		const char *nn = arena_printf(k->a, "nobias.N%lld", (long long)N);
		out(k, nb, op(k, OP_LINEAR, nb, 3, x, w, b));
		out(k, nn, op(k, OP_LINEAR, nn, 2, x, w, NULL));
	}
	if (K == 7) {
		Node *tied = weight(k, "tied", 2, VOCAB, K, 1.0, 0);
		out(k, "tied.embed", op(k, OP_EMBED, "tied.embed", 2, tied, k->tok,
		                        NULL));
		out(k, "tied.head", op(k, OP_LINEAR, "tied.head", 2, x, tied,
		                       NULL));
		Node *wc = slice(k, "wc", weight(k, "w.c", 2, 17, K, 0.5, 0), 0, 0,
		                 17);
		out(k, "computed", op(k, OP_LINEAR, "computed", 2, x, wc, NULL));
	}
	check_shapes_on(k, cpu, CONV_AUTO, 3, tol, proj_sh, NPROJ_SH);
	case_free(k);
}

START_TEST(proj_linear)
{
	run_proj_linear(proj_K[_i % NPROJ_K], proj_cpu[_i / NPROJ_K], false,
	                TOL);
}
END_TEST

/* In bf16, against the interpreter's bf16 expectation (both operands
 * rounded, exact products, sums in double): only the fp32 sums differ. */
START_TEST(proj_linear_bf16)
{
	run_proj_linear(bf_K[_i % NPROJ_K], bf_cpu[_i / NPROJ_K], true, 1e-9);
}
END_TEST

/* fused_proj at every N for one K: without conv (tiles of rows straight
 * into out) with layernorm, bias, relu and residual, and bare; with conv
 * (the projection into the convolution's tile) with layernorm, gelu_tanh
 * and residual, and with neither layernorm nor bias. */
static void run_proj_fused(int64_t K, const char *cpu, bool bf16, double tol)
{
	if (!proj_runs(cpu))
		return;
	Case *k = case_new("proj_fused", 128);
	k->g->bf16 = bf16;
	Node *x = act(k, "x", K, 2.0);
	for (int i = 0; i < 5; i++) {
		int64_t N = proj_N[i];
		const char *p = arena_printf(k->a, "N%lld", (long long)N);
		const char *nm;
		nm = arena_printf(k->a, "%s.ln_res", p);
		out(k, nm, fproj(k, nm, x, K, N, true, true, 0, FP_ACT_RELU, true));
		nm = arena_printf(k->a, "%s.bare", p);
		out(k, nm,
		    fproj(k, nm, x, K, N, false, false, 0, FP_ACT_NONE, false));
		nm = arena_printf(k->a, "%s.conv_ln", p);
		out(k, nm, fproj(k, nm, x, K, N, true, true, 3, FP_ACT_GELU_TANH,
		                 true));
	}
	check_shapes_on(k, cpu, CONV_AUTO, 3, tol, proj_sh, NPROJ_SH);
	case_free(k);
}

START_TEST(proj_fused)
{
	run_proj_fused(proj_K[_i % NPROJ_K], proj_cpu[_i / NPROJ_K], false,
	               TOL_TRANSC);
}
END_TEST

/* A layernorm's output that lands within float rounding of a bf16
 * tie may round the other way than the interpreter's double: rare,
 * and one bf16 step of one operand. */
START_TEST(proj_fused_bf16)
{
	run_proj_fused(bf_K[_i % NPROJ_K], bf_cpu[_i / NPROJ_K], true, 1e-7);
}
END_TEST

START_TEST(proj_fused_conv_bare)
{
	int64_t K = proj_K[_i % NPROJ_K];
	const char *cpu = proj_cpu[_i / NPROJ_K];
	if (!proj_runs(cpu))
		return;
	Case *k = case_new("proj_fused_conv", 128);
	Node *x = act(k, "x", K, 1.0);
	for (int i = 0; i < 5; i++) {
		const char *nm = arena_printf(k->a, "N%lld", (long long)proj_N[i]);
		out(k, nm, fproj(k, nm, x, K, proj_N[i], false, false, 4,
		                 FP_ACT_NONE, false));
	}
	check_shapes_on(k, cpu, CONV_AUTO, 3, TOL, proj_sh, NPROJ_SH);
	case_free(k);
}
END_TEST

/* fused_mlp at every N for one K, hidden width 300 (fc2 over two k
 * chunks): with layernorm, both biases, gelu_tanh and the residual, and
 * bare; at 3 x 43 rows the tiles (at most 96 rows) end inside the
 * range. */
static void run_proj_mlp(int64_t K, const char *cpu, bool bf16, double tol)
{
	int64_t H = 300;
	if (!proj_runs(cpu))
		return;
	Case *k = case_new("proj_mlp", 0);
	k->g->bf16 = bf16;
	Node *x = act(k, "x", K, 2.0);
	for (int i = 0; i < 5; i += 2) {
		int64_t N = proj_N[i];
		for (int full = 0; full < 2; full++) {
			const char *nm = arena_printf(k->a, "N%lld.%s", (long long)N,
			                              full ? "full" : "bare");
			Node *src[8];
			int ns = 0;
			src[ns++] = x;
			src[ns++] = weight(k, arena_printf(k->a, "%s.w1", nm), 2, H, K,
			                   1.0 / sqrt((double)K), 0);
			if (full) {
				src[ns++] = weight(k, arena_printf(k->a, "%s.b1", nm), 1, H,
				                   0, 0.5, 0);
				src[ns++] = weight(k, arena_printf(k->a, "%s.g", nm), 1, K,
				                   0, 0.5, 1.0);
				src[ns++] = weight(k, arena_printf(k->a, "%s.be", nm), 1, K,
				                   0, 0.5, 0);
			}
			src[ns++] = weight(k, arena_printf(k->a, "%s.w2", nm), 2, N, H,
			                   1.0 / sqrt((double)H), 0);
			if (full) {
				src[ns++] = weight(k, arena_printf(k->a, "%s.b2", nm), 1, N,
				                   0, 0.5, 0);
				src[ns++] = act(k, arena_printf(k->a, "%s.res", nm), N, 1.0);
			}
			Node *n = ir_add(k->g, OP_FUSED_MLP, nm, ns, src);
			n->iattr[FM_BIAS] = n->iattr[FM_LN] = n->iattr[FM_BIAS2] = full;
			n->iattr[FM_RES] = full;
			n->iattr[FM_ACT] = full ? FP_ACT_GELU_TANH : FP_ACT_NONE;
			n->fattr[0] = full ? 1e-5 : 0;
			out(k, nm, n);
		}
	}
	/* two float sums of up to 300 terms in a row: a lone output that
	 * cancels (N = 1, one row) is off by about 1e-4 relative */
	check_shapes_on(k, cpu, CONV_AUTO, 3, tol, proj_sh, NPROJ_SH);
	case_free(k);
}

START_TEST(proj_mlp)
{
	run_proj_mlp(proj_K[_i % NPROJ_K], proj_cpu[_i / NPROJ_K], false, 1e-7);
}
END_TEST

/* fc1's hidden output rounds to bf16 in float here, in double in the
 * interpreter: as with the layernorm, a rare tie goes the other way. */
START_TEST(proj_mlp_bf16)
{
	run_proj_mlp(bf_K[_i % NPROJ_K], bf_cpu[_i / NPROJ_K], true, 1e-6);
}
END_TEST

/* The bf16 blob: a matrix only bf16 projections read has bf16 panels
 * and no fp32 original or panels; one that embed reads too (a tied
 * head) keeps its original; a filter-like linear on rows without B
 * (pos_emb's) stays fp32; an fp32 graph stores what it always did. */
START_TEST(bf16_layout)
{
	for (int bf = 0; bf < 2; bf++) {
		Case *k = case_new("bf16_layout", 16);
		Diag d;
		CgWeights w;
		k->g->bf16 = bf;
		Node *x = act(k, "x", 8, 1.0);
		Node *wp = weight(k, "wp", 2, 40, 8, 0.5, 0);
		Node *tied = weight(k, "tied", 2, VOCAB, 8, 0.5, 0);
		Node *wf = weight(k, "wf", 2, 4, 5, 0.5, 0);
		out(k, "p", op(k, OP_LINEAR, "p", 2, x, wp, NULL));
		out(k, "e", op(k, OP_EMBED, "e", 2, tied, k->tok, NULL));
		out(k, "h", op(k, OP_LINEAR, "h", 2, x, tied, NULL));
		out(k, "f", op(k, OP_LINEAR, "f", 2, pos_emb(k, "pe", 16, 5), wf,
		               NULL));
		diag_init(&d);
		ck_assert_msg(ir_infer_graph(k->g, &d), "%s", d.msg);
		cg_layout_weights(k->g, k->a, &w);
		ck_assert(bf ? w.offset[wp->id] == SIZE_MAX
		             : w.offset[wp->id] != SIZE_MAX);
		ck_assert(bf ? w.panels[wp->id] == SIZE_MAX
		             : w.panels[wp->id] != SIZE_MAX);
		ck_assert(bf ? w.bpanels[wp->id] != SIZE_MAX
		             : w.bpanels[wp->id] == SIZE_MAX);
		ck_assert(w.offset[tied->id] != SIZE_MAX);
		ck_assert(bf ? w.bpanels[tied->id] != SIZE_MAX
		             : w.panels[tied->id] != SIZE_MAX);
		ck_assert(w.offset[wf->id] != SIZE_MAX &&
		          w.panels[wf->id] != SIZE_MAX &&
		          w.bpanels[wf->id] == SIZE_MAX);
		case_free(k);
	}
}
END_TEST

/* The module as an object file and as text. */
START_TEST(write_files)
{
	Case *k = mixed();
	Diag d;
	CgWeights w;
	CgOptions o = {NULL, NULL, 3, NULL, NULL, NULL, false, 0};
	const char *obj = tu_path(tu_tmpdir(), "mixed.o");
	const char *ll = tu_path(tu_tmpdir(), "mixed.ll");

	diag_init(&d);
	ck_assert(ir_infer_graph(k->g, &d));
	choose_conv(k->g, CONV_FFT); /* a module that calls the runtime's FFT */
	cg_layout_weights(k->g, k->a, &w);
	CgModule *m = cg_emit(k->g, &w, &o, NULL, &d);
	ck_assert_msg(m, "%s", d.msg);
	ck_assert_msg(cg_write_object(m, obj, &d), "%s", d.msg);
	ck_assert_msg(cg_write_ll(m, ll, &d), "%s", d.msg);
	ck_assert(!cg_write_ll(m, "/nonexistent/dir/x.ll", &d));
	ck_assert(strstr(d.msg, "/nonexistent/dir/x.ll"));
	cg_free(m);
	size_t n;
	char *text = tu_read(ll, &n);
	ck_assert(text);
	ck_assert(strstr(text, "define void @hyenac_run("));
	ck_assert(strstr(text, "@hyenac_scratch_bytes("));
	ck_assert(strstr(text, "@hyenac_meta = "));
	ck_assert(strstr(text, "@hyenac_model_name = "));
	ck_assert(strstr(text, "hyrt_longconv_fft"));
	free(text);
	char *bin = tu_read(obj, &n);
	ck_assert(bin && n > 4 && memcmp(bin, "\177ELF", 4) == 0);
	free(bin);
	/* a named CPU other than the host's */
	CgOptions o2 = { .cpu = "x86-64", .opt_level = 3 };
	m = cg_emit(k->g, &w, &o2, NULL, &d);
	ck_assert_msg(m, "%s", d.msg);
	ck_assert_msg(cg_write_object(m, obj, &d), "%s", d.msg);
	cg_free(m);
	case_free(k);
}
END_TEST

/* ---- golden checkpoints end to end ------------------------------------ */

/* Rows [0, L2) of each of the B rows of out ([B, L2, W]) against ref
 * ([B, L, W]): a causal model's outputs on a prefix are the prefix of
 * its outputs. */
static double prefix_error(const float *out, const NpyArray *ref, int64_t L2)
{
	int64_t B = ref->dim[0], L = ref->dim[1], W = ref->dim[2];
	double e = 0;
	for (int64_t b = 0; b < B; b++) {
		double eb = tu_max_abs_diff(out + b * L2 * W,
		                            (const float *)ref->data + b * L * W,
		                            (size_t)(L2 * W));
		e = eb > e ? eb : e;
	}
	return e;
}

/* After a first forward at L has kept the generated filters' spectra:
 * the forward again (the filter MLP is skipped now, codegen/cpu/entry.c)
 * with the scratch full of NaN, so that anything read from a skipped
 * node shows; then at a shorter L, whose spectra are not kept yet (the
 * MLP runs again), and at L once more. Each against the golden outputs
 * (the shorter one against their prefix). */
static void rerun_kept(const char *name, RunFn run, const void *blob,
                       const NpyArray *tok, const NpyArray *hid,
                       const NpyArray *lg, void *scratch, size_t sbytes,
                       float *outs[2])
{
	int64_t B = tok->dim[0], L = tok->dim[1], Ls[] = {L, L / 2 + 1, L};
	int32_t *pre = malloc((size_t)(B * L) * sizeof *pre);
	ck_assert(pre);
	for (int r = 0; r < 3; r++) {
		int64_t L2 = Ls[r];
		for (int64_t b = 0; b < B; b++)
			memcpy(pre + b * L2, (const int32_t *)tok->data + b * L,
			       (size_t)L2 * sizeof *pre);
		float *f = scratch;
		for (size_t i = 0; i < sbytes / sizeof *f; i++)
			f[i] = NAN;
		run(blob, pre, B, L2, outs, scratch);
		double eh = prefix_error(outs[0], hid, L2);
		double el = prefix_error(outs[1], lg, L2);
		ck_assert_msg(eh <= 2e-4 && el <= 2e-4,
		              "%s again at L=%lld: max abs error hidden %g "
		              "logits %g", name, (long long)L2, eh, el);
	}
	free(pre);
}

/* name's checkpoint through the generated code against the official
 * outputs; fold false leaves the implicit filters (pos_emb, the Sin MLP,
 * expmod) to generated code instead of the interpreter. */
static void golden(const char *name, ConvMethod conv, bool fold)
{
	Diag d;
	Arena *a = arena_new();
	NpyArray tok, hid, lg;
	CgWeights w;
	CgOptions o = {NULL, NULL, 3, NULL, NULL, NULL, false, 0};
	PassOptions po;
	int64_t meta[HYRT_META_COUNT] = {0};

	diag_init(&d);
	Model *m = fe_load_model(a, tu_golden(name, NULL), &d);
	ck_assert_msg(m, "%s", d.msg);
	Graph *g = fe_lower(a, m, &d);
	ck_assert_msg(g, "%s", d.msg);
	pass_options_default(&po);
	if (!fold)
		po.fold_limit = -1;
	po.conv = conv;
	ck_assert_msg(pass_pipeline(g, &po, &d), "%s", d.msg);
	ck_assert_int_eq(g->noutputs, 2);
	if (!fold && conv == CONV_FFT) {
		/* every layer's post gate after its convolution (late_post) */
		int late = 0;
		for (int i = 0; i < g->nnodes; i++)
			late += g->nodes[i]->op == OP_FUSED_PROJ &&
			        g->nodes[i]->iattr[FP_RES] == 2;
		ck_assert_int_eq(late, m->spec.n_layer);
	}
	cg_layout_weights(g, a, &w);
	meta[HYRT_META_D_MODEL] = m->spec.d_model;
	meta[HYRT_META_VOCAB] = fe_vocab_padded(&m->spec);
	meta[HYRT_META_VOCAB_SIZE] = m->spec.vocab_size;
	meta[HYRT_META_MAX_LEN] = m->spec.max_seq_len;
	meta[HYRT_META_NOUTPUTS] = g->noutputs;
	meta[HYRT_META_WEIGHT_BYTES] = (int64_t)w.bytes;
	meta[HYRT_META_N_LAYER] = m->spec.n_layer;
	void *blob = alloc64(w.bytes);
	cg_pack_weights(g, &w, blob);
	CgModule *cm = cg_emit(g, &w, &o, meta, &d);
	ck_assert_msg(cm, "%s", d.msg);
	CgJit *j = cg_jit(cm, &d);
	ck_assert_msg(j, "%s", d.msg);
	RunFn run = (RunFn)cg_jit_lookup(j, "hyenac_run");
	ScratchFn sb = (ScratchFn)cg_jit_lookup(j, "hyenac_scratch_bytes");
	const int64_t *jm = cg_jit_lookup(j, "hyenac_meta");
	ck_assert(run && sb && jm);
	ck_assert_int_eq(jm[HYRT_META_D_MODEL], m->spec.d_model);

	tu_load_npy(tu_golden(name, "tokens.npy"), &tok);
	tu_load_npy(tu_golden(name, "hidden.npy"), &hid);
	tu_load_npy(tu_golden(name, "logits.npy"), &lg);
	int64_t B = tok.dim[0], L = tok.dim[1];
	void *scratch = alloc64((size_t)sb(B, L));
	float *outs[2] = {alloc64(hid.numel * 4), alloc64(lg.numel * 4)};
	run(blob, tok.data, B, L, outs, scratch);
	double eh = tu_max_abs_diff(outs[0], hid.data, hid.numel);
	double el = tu_max_abs_diff(outs[1], lg.data, lg.numel);
	printf("%s (conv %d%s): generated code max abs error hidden %.3g "
	       "logits %.3g\n", name, conv,
	       fold ? "" : ", filters at run time", eh, el);
	ck_assert_msg(eh <= 2e-4, "%s hidden: max abs error %g", name, eh);
	ck_assert_msg(el <= 2e-4, "%s logits: max abs error %g", name, el);
	if (!fold && conv == CONV_FFT)
		rerun_kept(name, run, blob, &tok, &hid, &lg, scratch,
		           (size_t)sb(B, L), outs);
	free(outs[0]);
	free(outs[1]);
	free(scratch);
	free(blob);
	cg_jit_free(j);
	npy_free(&tok);
	npy_free(&hid);
	npy_free(&lg);
	fe_model_close(m);
	arena_free(a);
}

START_TEST(golden_tiny_1k)
{
	golden("tiny-1k", CONV_AUTO, true);
}
END_TEST

START_TEST(golden_tiny_1k_unfolded)
{
	golden("tiny-1k", CONV_AUTO, false);
}
END_TEST

/* Filters at run time through the FFT: the filter's last layer made
 * inside the convolution (gated_conv{gen}) and the post gate projected
 * after it (fuse's late_post), both run in place by the memory plan. */
START_TEST(golden_tiny_1k_unfolded_fft)
{
	golden("tiny-1k", CONV_FFT, false);
}
END_TEST

START_TEST(golden_odd_order3)
{
	golden("odd-order3", CONV_AUTO, true);
}
END_TEST

START_TEST(golden_odd_order3_unfolded)
{
	golden("odd-order3", CONV_AUTO, false);
}
END_TEST

START_TEST(golden_odd_order3_direct)
{
	golden("odd-order3", CONV_DIRECT, true);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("codegen");
	TCase *t = tcase_create("kernels");
	tcase_set_timeout(t, 300);
	tcase_add_test(t, embed_op);
	tcase_add_test(t, layernorm_op);
	tcase_add_test(t, linear_op);
	tcase_add_test(t, dwconv_op);
	tcase_add_test(t, longconv_direct);
	tcase_add_test(t, longconv_fft);
	tcase_add_test(t, longconv_auto);
	tcase_add_test(t, slice_op);
	tcase_add_test(t, binary_ops);
	tcase_add_test(t, unary_ops);
	tcase_add_test(t, pos_emb_expmod);
	tcase_add_loop_test(t, vmath, 0,
	                    (int)(sizeof vm_cases / sizeof vm_cases[0]));
	tcase_add_test(t, output_copies);
	tcase_add_test(t, mixed_o0_o3);
	tcase_add_test(t, write_files);
	suite_add_tcase(s, t);
	TCase *pt = tcase_create("proj");
	tcase_set_timeout(pt, 300);
	tcase_add_loop_test(pt, proj_linear, 0, NPROJ_K * NPROJ_CPU);
	tcase_add_loop_test(pt, proj_fused, 0, NPROJ_K * NPROJ_CPU);
	tcase_add_loop_test(pt, proj_fused_conv_bare, 0, NPROJ_K * NPROJ_CPU);
	tcase_add_loop_test(pt, proj_mlp, 0, NPROJ_K * NPROJ_CPU);
	tcase_add_loop_test(pt, proj_linear_bf16, 0, NPROJ_K * NBF_CPU);
	tcase_add_loop_test(pt, proj_fused_bf16, 0, NPROJ_K * NBF_CPU);
	tcase_add_loop_test(pt, proj_mlp_bf16, 0, NPROJ_K * NBF_CPU);
	tcase_add_test(pt, bf16_layout);
	suite_add_tcase(s, pt);
	TCase *gt = tcase_create("golden");
	tcase_set_timeout(gt, 300);
	tcase_add_test(gt, golden_tiny_1k);
	tcase_add_test(gt, golden_tiny_1k_unfolded);
	tcase_add_test(gt, golden_tiny_1k_unfolded_fft);
	tcase_add_test(gt, golden_odd_order3);
	tcase_add_test(gt, golden_odd_order3_unfolded);
	tcase_add_test(gt, golden_odd_order3_direct);
	suite_add_tcase(s, gt);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
