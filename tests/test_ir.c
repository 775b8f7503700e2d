/*
 * test_ir.c - the IR core: shape inference on a small HyenaDNA-like graph,
 * the verifier, and the text form (exact print/parse round trips, parse
 * diagnostics with file:line:col, and a crude fuzz that must never crash).
 */
#include "ir/ir.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------- */

static Node *input(Graph *g, const char *name, DType dt, int rank,
                   const int64_t *dims)
{
	Node *n = ir_add(g, OP_INPUT, name, 0, NULL);
	n->type.dtype = dt;
	n->type.rank = rank;
	memcpy(n->type.dim, dims, (size_t)rank * sizeof *dims);
	return n;
}

/* W(g, "name", 16, 128): an f32[16,128] weight. */
#define W(g, name, ...)                                                 \
	weight(g, name,                                                 \
	       (int)(sizeof(int64_t[]){__VA_ARGS__} / sizeof(int64_t)), \
	       (int64_t[]){__VA_ARGS__})

static Node *weight(Graph *g, const char *name, int rank, const int64_t *dims)
{
	Node *n = ir_add(g, OP_WEIGHT, name, 0, NULL);
	n->type.dtype = DT_F32;
	n->type.rank = rank;
	memcpy(n->type.dim, dims, (size_t)rank * sizeof *dims);
	n->sattr = arena_printf(g->arena, "hyena.backbone.%s", name);
	return n;
}

static Node *op1(Graph *g, OpKind op, const char *name, Node *a)
{
	return ir_add(g, op, name, 1, (Node *[]){a});
}

static Node *op2(Graph *g, OpKind op, const char *name, Node *a, Node *b)
{
	return ir_add(g, op, name, 2, (Node *[]){a, b});
}

static Node *op3(Graph *g, OpKind op, const char *name, Node *a, Node *b,
                 Node *c)
{
	return ir_add(g, op, name, 3, (Node *[]){a, b, c});
}

static Node *slice(Graph *g, const char *name, Node *x, int64_t axis,
                   int64_t start, int64_t len)
{
	Node *n = op1(g, OP_SLICE, name, x);
	n->iattr[0] = axis;
	n->iattr[1] = start;
	n->iattr[2] = len;
	return n;
}

static const char *tstr(const Node *n)
{
	static char buf[4][128];
	static int i;
	i = (i + 1) % 4;
	return ir_type_str(&n->type, buf[i], sizeof buf[i]);
}

/* ir_print into a malloc'd string. */
static char *print_str(const Graph *g)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	ck_assert(f != NULL);
	ir_print(g, f);
	fclose(f);
	return buf;
}

/*
 * One Hyena block with its implicit filter, close to what the frontend
 * lowers: every op appears at least once.
 */
static Graph *build_block(Arena *a)
{
	Graph *g = ir_graph_new(a, "tiny-1k");
	int64_t BL[] = {DIM_B, DIM_L};

	g->max_len = 1026;
	Node *tok = input(g, "tokens", DT_I32, 2, BL);
	Node *emb = W(g, "emb.w", 16, 128);
	Node *x0 = op2(g, OP_EMBED, "x0", emb, tok);
	Node *n0 = op3(g, OP_LAYERNORM, "n0", x0, W(g, "ln.g", 128),
	               W(g, "ln.b", 128));
	n0->fattr[0] = 1e-5;
	Node *p = op3(g, OP_LINEAR, "proj", n0, W(g, "in.w", 384, 128),
	              W(g, "in.b", 384));
	Node *c = op3(g, OP_DWCONV, "conv", p, W(g, "conv.w", 384, 3),
	              W(g, "conv.b", 384));
	Node *x1 = slice(g, "x1", c, 2, 0, 128);
	Node *v = slice(g, "v", c, 2, 128, 128);
	Node *x2 = slice(g, "x2", c, 2, 256, 128);
	/* implicit filter */
	Node *pe = ir_add(g, OP_POS_EMB, "pe", 0, NULL);
	pe->iattr[0] = 1026;
	pe->iattr[1] = 5;
	Node *f1 = op3(g, OP_LINEAR, "f1", pe, W(g, "fw1", 64, 5),
	               W(g, "fb1", 64));
	Node *fs = op2(g, OP_MUL, "fs", f1, W(g, "freq", 1, 64));
	Node *s = op1(g, OP_SIN, "s", fs);
	Node *f2 = op2(g, OP_LINEAR, "f2", s, W(g, "fw2", 128, 64));
	Node *t = slice(g, "t", W(g, "tt", 1026, 1), 0, 0, DIM_L);
	Node *k = op3(g, OP_EXPMOD, "k", f2, t, W(g, "deltas", 128));
	k->fattr[0] = 0.1;
	/* mixer */
	Node *xv = op2(g, OP_MUL, "xv", x1, v);
	Node *y = op2(g, OP_LONGCONV, "y", xv, k);
	Node *yd = op2(g, OP_ADD, "yd", y,
	               op2(g, OP_MUL, "xd", xv, W(g, "D", 128)));
	Node *z = op2(g, OP_MUL, "z", yd, x2);
	Node *o = op3(g, OP_LINEAR, "out", z, W(g, "out.w", 128, 128),
	              W(g, "out.b", 128));
	Node *r = op2(g, OP_ADD, "r", x0, o);
	/* MLP with each activation */
	Node *n1 = op3(g, OP_LAYERNORM, "n1", r, W(g, "ln2.g", 128),
	               W(g, "ln2.b", 128));
	n1->fattr[0] = 1 / 3.0;
	Node *h = op1(g, OP_GELU_TANH, "h", n1);
	h = op1(g, OP_GELU, "h2", h);
	h = op1(g, OP_RELU, "h3", h);
	ir_add_output(g, "hidden", h);
	ir_add_output(g, "resid", r);
	return g;
}

/* ---- inference and verification --------------------------------------- */

START_TEST(infer_shapes)
{
	Arena *a = arena_new();
	Graph *g = build_block(a);
	Diag d;

	diag_init(&d);
	ck_assert_msg(ir_infer_graph(g, &d), "%s", d.msg);
	ck_assert_str_eq(tstr(ir_find(g, "x0")), "f32[B,L,128]");
	ck_assert_str_eq(tstr(ir_find(g, "proj")), "f32[B,L,384]");
	ck_assert_str_eq(tstr(ir_find(g, "conv")), "f32[B,L,384]");
	ck_assert_str_eq(tstr(ir_find(g, "v")), "f32[B,L,128]");
	ck_assert_str_eq(tstr(ir_find(g, "pe")), "f32[L,5]");
	ck_assert_str_eq(tstr(ir_find(g, "fs")), "f32[L,64]");
	ck_assert_str_eq(tstr(ir_find(g, "t")), "f32[L,1]");
	ck_assert_str_eq(tstr(ir_find(g, "k")), "f32[L,128]");
	ck_assert_str_eq(tstr(ir_find(g, "y")), "f32[B,L,128]");
	ck_assert_str_eq(tstr(ir_find(g, "xd")), "f32[B,L,128]");
	ck_assert_str_eq(tstr(ir_find(g, "h3")), "f32[B,L,128]");
	ck_assert_msg(ir_verify(g, &d), "%s", d.msg);
	arena_free(a);
}
END_TEST

/* Build x op y on the given types and expect an error naming %bad. */
static void expect_infer_error(OpKind op, const int64_t *xd, int xr,
                               const int64_t *wd, int wr, const char *frag)
{
	Arena *a = arena_new();
	Graph *g = ir_graph_new(a, "err");
	Node *x = input(g, "x", DT_F32, xr, xd);
	Node *w = weight(g, "w", wr, wd);
	Diag d;

	op2(g, op, "bad", x, w);
	diag_init(&d);
	ck_assert(!ir_infer_graph(g, &d));
	ck_assert_msg(strstr(d.msg, "node %bad") != NULL, "%s", d.msg);
	ck_assert_msg(strstr(d.msg, ir_op_info(op)->name) != NULL, "%s",
	              d.msg);
	ck_assert_msg(strstr(d.msg, frag) != NULL, "%s", d.msg);
	arena_free(a);
}

START_TEST(infer_errors)
{
	int64_t x[] = {DIM_B, DIM_L, 128};

	expect_infer_error(OP_LINEAR, x, 3, (int64_t[]){64, 100}, 2, "K");
	expect_infer_error(OP_ADD, x, 3, (int64_t[]){64}, 1, "broadcast");
	expect_infer_error(OP_LONGCONV, x, 3, (int64_t[]){1026, 128}, 2,
	                   "filter length");
	expect_infer_error(OP_EMBED, x, 3, (int64_t[]){16, 128}, 2, "f32");

	Arena *a = arena_new();
	Graph *g = ir_graph_new(a, "err");
	Node *in = input(g, "x", DT_F32, 3, x);
	Diag d;
	diag_init(&d);
	slice(g, "s", in, 2, 100, 64);
	ck_assert(!ir_infer_graph(g, &d));
	ck_assert_msg(strstr(d.msg, "node %s (slice)") != NULL, "%s", d.msg);
	ck_assert_msg(strstr(d.msg, "exceeds") != NULL, "%s", d.msg);
	arena_free(a);
}
END_TEST

START_TEST(infer_broadcast)
{
	Arena *a = arena_new();
	Graph *g = ir_graph_new(a, "bc");
	Node *x = input(g, "x", DT_F32, 3, (int64_t[]){DIM_B, DIM_L, 1});
	Node *y = input(g, "y", DT_F32, 2, (int64_t[]){1, 64});
	Node *s = op2(g, OP_MUL, "s", x, y);
	Node *t = op2(g, OP_ADD, "t", y, x);
	Diag d;

	diag_init(&d);
	ck_assert_msg(ir_infer_graph(g, &d), "%s", d.msg);
	ck_assert_str_eq(tstr(s), "f32[B,L,64]");
	ck_assert_str_eq(tstr(t), "f32[B,L,64]");
	arena_free(a);
}
END_TEST

START_TEST(verify_catches)
{
	Arena *a = arena_new();
	Graph *g = build_block(a);
	Diag d;

	diag_init(&d);
	ck_assert(ir_infer_graph(g, &d));
	ir_find(g, "z")->type.dim[2] = 64;
	ck_assert(!ir_verify(g, &d));
	ck_assert_msg(strstr(d.msg, "%z (mul)") != NULL, "%s", d.msg);
	ck_assert_msg(strstr(d.msg, "f32[B,L,64]") != NULL, "%s", d.msg);
	ir_find(g, "z")->type.dim[2] = 128;
	diag_init(&d);
	ck_assert_msg(ir_verify(g, &d), "%s", d.msg);

	/* a second %h */
	Node *dup = op1(g, OP_RELU, "h", ir_find(g, "h3"));
	ck_assert(ir_infer(g, dup, &d));
	ck_assert(!ir_verify(g, &d));
	ck_assert_msg(strstr(d.msg, "duplicate value name %h") != NULL, "%s",
	              d.msg);
	arena_free(a);

	/* a source from another graph, a bad name, no outputs */
	a = arena_new();
	g = build_block(a);
	Graph *other = build_block(a);
	diag_init(&d);
	ck_assert(ir_infer_graph(g, &d) && ir_infer_graph(other, &d));
	Node *alien = op1(g, OP_RELU, "alien", ir_find(other, "h3"));
	alien->type = ir_find(other, "h3")->type;
	ck_assert(!ir_verify(g, &d));
	ck_assert_msg(strstr(d.msg, "%alien") != NULL, "%s", d.msg);
	g->nnodes--;
	g->nodes[0]->name = "bad name";
	diag_init(&d);
	ck_assert(!ir_verify(g, &d));
	g->nodes[0]->name = "tokens";
	g->noutputs = 0;
	diag_init(&d);
	ck_assert(!ir_verify(g, &d));
	ck_assert_msg(strstr(d.msg, "no outputs") != NULL, "%s", d.msg);
	arena_free(a);
}
END_TEST

/* ---- text ------------------------------------------------------------- */

static void assert_same_graph(const Graph *a, const Graph *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert_int_eq(a->max_len, b->max_len);
	ck_assert_int_eq(a->nnodes, b->nnodes);
	ck_assert_int_eq(a->noutputs, b->noutputs);
	for (int i = 0; i < a->nnodes; i++) {
		const Node *x = a->nodes[i], *y = b->nodes[i];
		ck_assert_str_eq(x->name, y->name);
		ck_assert_int_eq(x->op, y->op);
		ck_assert(ir_type_eq(&x->type, &y->type));
		ck_assert_int_eq(x->nsrc, y->nsrc);
		for (int s = 0; s < x->nsrc; s++)
			ck_assert_int_eq(x->src[s]->id, y->src[s]->id);
		ck_assert(memcmp(x->iattr, y->iattr, sizeof x->iattr) == 0);
		ck_assert(memcmp(x->fattr, y->fattr, sizeof x->fattr) == 0);
		ck_assert((x->sattr == NULL) == (y->sattr == NULL));
		if (x->sattr)
			ck_assert_str_eq(x->sattr, y->sattr);
		ck_assert(y->data == NULL);
	}
	for (int i = 0; i < a->noutputs; i++) {
		ck_assert_str_eq(a->outputs[i].name, b->outputs[i].name);
		ck_assert_int_eq(a->outputs[i].node->id,
		                 b->outputs[i].node->id);
	}
}

START_TEST(text_round_trip)
{
	Arena *a = arena_new();
	Graph *g = build_block(a), *g2, *g3;
	Diag d;

	diag_init(&d);
	ck_assert(ir_infer_graph(g, &d));
	ir_find(g, "emb.w")->sattr = "odd \"name\" \\ with\ttab\nnl";
	char *t1 = print_str(g);
	ck_assert_msg(strstr(t1, "{eps=1e-05}") != NULL, "%s", t1);
	ck_assert_msg(strstr(t1, "{shift=0.1}") != NULL, "%s", t1);
	ck_assert_msg(strstr(t1, "{eps=0.3333333333333333}") != NULL, "%s",
	              t1);
	ck_assert_msg(strstr(t1, "%t = slice %tt {axis=0, start=0, len=L} "
	                         ": f32[L,1]\n") != NULL, "%s", t1);
	ck_assert_msg(strstr(t1, "graph \"tiny-1k\" max_len=1026 {\n") == t1,
	              "%s", t1);
	ck_assert_msg(strstr(t1, "\\\"name\\\" \\\\ with\\ttab\\nnl") != NULL,
	              "%s", t1);
	ck_assert_msg(strstr(t1, "  output hidden = %h3\n"
	                         "  output resid = %r\n}\n") != NULL,
	              "%s", t1);

	g2 = ir_parse(a, t1, "t1.ir", &d);
	ck_assert_msg(g2 != NULL, "%s\n%s", d.msg, t1);
	ck_assert_msg(ir_verify(g2, &d), "%s", d.msg);
	assert_same_graph(g, g2);
	ck_assert(ir_find(g2, "n1")->fattr[0] == 1 / 3.0);
	ck_assert(ir_find(g2, "n0")->fattr[0] == 1e-5);
	ck_assert(ir_find(g2, "k")->fattr[0] == 0.1);
	char *t2 = print_str(g2);
	ck_assert_str_eq(t1, t2);
	g3 = ir_parse(a, t2, "t2.ir", &d);
	ck_assert(g3 != NULL);
	char *t3 = print_str(g3);
	ck_assert_str_eq(t2, t3);
	free(t1);
	free(t2);
	free(t3);
	arena_free(a);
}
END_TEST

START_TEST(text_floats)
{
	static const double vals[] = {1e-5,   0.1, 1 / 3.0, 1e-12,
	                              2.5e300, 5e-324, 0.30000000000000004,
	                              7,       -0.0,  123456789.125};
	Arena *a = arena_new();
	Diag d;

	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		Graph *g = ir_graph_new(a, "f");
		Node *x = input(g, "x", DT_F32, 2, (int64_t[]){DIM_L, 4});
		Node *t = input(g, "t", DT_F32, 2, (int64_t[]){DIM_L, 1});
		Node *dl = input(g, "d", DT_F32, 1, (int64_t[]){4});
		Node *k = op3(g, OP_EXPMOD, "k", x, t, dl);
		k->fattr[0] = vals[i];
		ir_add_output(g, "k", k);
		diag_init(&d);
		ck_assert(ir_infer_graph(g, &d));
		char *s = print_str(g);
		Graph *g2 = ir_parse(a, s, "f.ir", &d);
		ck_assert_msg(g2 != NULL, "%s", d.msg);
		ck_assert(ir_find(g2, "k")->fattr[0] == vals[i]);
		char *s2 = print_str(g2);
		ck_assert_str_eq(s, s2);
		free(s);
		free(s2);
	}
	arena_free(a);
}
END_TEST

START_TEST(text_hand_written)
{
	const char *src =
	    "; RUN: hyenac opt %s | FileCheck %s\n"
	    "; CHECK: graph\n"
	    "graph \"hand\" {   ; no max_len\n"
	    "  %tokens = input : i32[B,L]\n"
	    "  %e = weight {name=\"e\"} : f32[4,8]\n"
	    "  output first = %x\t; outputs may come early? no: %x is "
	    "undefined\n"
	    "}\n";
	const char *ok =
	    "graph \"hand\" {\n"
	    "  %tokens = input : i32[B,L]   ; comment\n"
	    "  %e = weight {name=\"e\"} : f32[4,8]\n"
	    "  %x = embed %e, %tokens : f32[B,L,8]\n"
	    "  output first = %x\n"
	    "  %s = slice %x {len=4, start=2, axis=2} : f32[B,L,4]\n"
	    "  output second = %s\n"
	    "}\n; trailing comment\n";
	Arena *a = arena_new();
	Diag d;

	diag_init(&d);
	ck_assert(ir_parse(a, src, "h.ir", &d) == NULL);
	ck_assert_str_eq(d.msg, "h.ir:6:18: undefined value %x");
	diag_init(&d);
	Graph *g = ir_parse(a, ok, "ok.ir", &d);
	ck_assert_msg(g != NULL, "%s", d.msg);
	ck_assert_int_eq(g->max_len, 0);
	ck_assert_int_eq(g->noutputs, 2);
	ck_assert_msg(ir_verify(g, &d), "%s", d.msg);
	ck_assert_int_eq(ir_find(g, "s")->iattr[1], 2);
	arena_free(a);
}
END_TEST

/* Parse `body` inside a small graph header and expect `msg` exactly. */
static void expect_parse_error(const char *body, const char *msg)
{
	char text[2048];
	Arena *a = arena_new();
	Diag d;

	snprintf(text, sizeof text,
	         "graph \"e\" max_len=64 {\n"
	         "  %%x = input : f32[B,L,8]\n"
	         "%s"
	         "}\n",
	         body);
	diag_init(&d);
	ck_assert_msg(ir_parse(a, text, "e.ir", &d) == NULL, "parsed: %s",
	              text);
	ck_assert_str_eq(d.msg, msg);
	arena_free(a);
}

START_TEST(text_errors)
{
	expect_parse_error("  %y = layernrom %x : f32[B,L,8]\n",
	                   "e.ir:3:8: unknown op 'layernrom'; did you mean "
	                   "'layernorm'?");
	expect_parse_error("  %y = frobnicate %x : f32[B,L,8]\n",
	                   "e.ir:3:8: unknown op 'frobnicate'");
	expect_parse_error("  %y = relu %q : f32[B,L,8]\n",
	                   "e.ir:3:13: undefined value %q");
	expect_parse_error("  %y = relu %xx : f32[B,L,8]\n",
	                   "e.ir:3:13: undefined value %xx; did you mean %x?");
	expect_parse_error("  %x = relu %x : f32[B,L,8]\n",
	                   "e.ir:3:3: duplicate value name %x (first defined "
	                   "on line 2)");
	expect_parse_error("  %y = add %x : f32[B,L,8]\n",
	                   "e.ir:3:8: add takes 2 operands, got 1");
	expect_parse_error("  %y = slice %x {axis=2, start=0} : f32[B,L,8]\n",
	                   "e.ir:3:8: slice needs attribute 'len'");
	expect_parse_error("  %y = slice %x {axis=2, strat=0, len=1} : "
	                   "f32[B,L,1]\n",
	                   "e.ir:3:26: unknown attribute 'strat' for slice "
	                   "(it takes axis,start,len)");
	expect_parse_error("  %y = relu %x {eps=1} : f32[B,L,8]\n",
	                   "e.ir:3:17: unknown attribute 'eps': relu takes no "
	                   "attributes");
	expect_parse_error("  %y = relu %x : f32[B,L,8\n",
	                   "e.ir:4:1: expected ',' or ']' in a type, got '}'");
	expect_parse_error("  %y = relu %x : f16[B,L,8]\n",
	                   "e.ir:3:18: bad type: expected f32 or i32, got "
	                   "'f16'");
	expect_parse_error("  %y = relu %x : f32[B,-3,8]\n",
	                   "e.ir:3:24: bad type: dim must be >= 0, B or L");
	expect_parse_error("  %y = relu %x : f32[B,L,8,1,1]\n",
	                   "e.ir:3:30: bad type: rank above 4");
	expect_parse_error("  %y = relu %x : f32[B,L,4]\n",
	                   "e.ir:3:18: type f32[B,L,4] of %y disagrees with "
	                   "the inferred f32[B,L,8]");
	expect_parse_error("  %y = slice %x {axis=2, start=4, len=8} : "
	                   "f32[B,L,8]\n",
	                   "e.ir:3:3: node %y (slice): start 4 + len 8 "
	                   "exceeds dim 8 of f32[B,L,8]");
	expect_parse_error("  %y = relu %x : f32[B,L,8] extra\n",
	                   "e.ir:3:29: expected a node, 'output' or '}', got "
	                   "'extra'");
	expect_parse_error("  output o = %x\n  output o = %x\n",
	                   "e.ir:4:10: duplicate output name o");
	expect_parse_error("  %w = weight {name=\"a\\qb\"} : f32[2]\n",
	                   "e.ir:3:23: bad escape in string");
	expect_parse_error("  %w = weight {name=\"ab} : f32[2]\n",
	                   "e.ir:3:21: unterminated string");
	expect_parse_error("  %y = relu %x : f32[B,L,8] @\n",
	                   "e.ir:3:29: unexpected character '@'");
	expect_parse_error("  %y = relu %x : f32[B,L,8]\n",
	                   "e.ir:4:1: graph has no outputs");

	/* trailing garbage after the closing brace */
	Arena *a = arena_new();
	Diag d;
	diag_init(&d);
	ck_assert(ir_parse(a,
	                   "graph \"g\" {\n %x = input : f32[4]\n output o = "
	                   "%x\n} }",
	                   "t.ir", &d) == NULL);
	ck_assert_str_eq(d.msg, "t.ir:4:3: trailing garbage after the graph: "
	                        "'}'");
	arena_free(a);
}
END_TEST

/*
 * Crude fuzz: every prefix of a printed graph, and many random byte
 * mutations of it, must parse or fail cleanly; what parses must verify
 * and print back to what it parses from.
 */
START_TEST(text_fuzz)
{
	Arena *a = arena_new();
	Graph *g = build_block(a);
	Diag d;
	static const char alphabet[] = "%=,{}[]:;\"\\ \n-+.0123456789eLBxf_a\t";

	diag_init(&d);
	ck_assert(ir_infer_graph(g, &d));
	char *text = print_str(g);
	size_t n = strlen(text);
	char *buf = malloc(n + 1);
	unsigned seed = 12345;

	for (size_t cut = 0; cut <= n; cut++) {
		Arena *fa = arena_new();
		memcpy(buf, text, cut);
		buf[cut] = 0;
		diag_init(&d);
		Graph *h = ir_parse(fa, buf, "cut.ir", &d);
		ck_assert(h != NULL || (d.nerr > 0 && d.msg[0]));
		arena_free(fa);
	}
	for (int iter = 0; iter < 3000; iter++) {
		Arena *fa = arena_new();
		memcpy(buf, text, n + 1);
		for (int k = 0; k < 1 + iter % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % n;
			seed = seed * 1103515245u + 12345u;
			unsigned r = seed >> 8;
			buf[at] = (seed >> 16) % 8 == 0 ?
			              (char)r :
			              alphabet[r % (sizeof alphabet - 1)];
			if (!buf[at])
				buf[at] = ' ';
		}
		diag_init(&d);
		Graph *h = ir_parse(fa, buf, "mut.ir", &d);
		if (h) {
			ck_assert_msg(ir_verify(h, &d), "%s", d.msg);
			char *p1 = print_str(h);
			Graph *h2 = ir_parse(fa, p1, "p1.ir", &d);
			ck_assert_msg(h2 != NULL, "%s", d.msg);
			char *p2 = print_str(h2);
			ck_assert_str_eq(p1, p2);
			free(p1);
			free(p2);
		} else {
			ck_assert(d.nerr > 0 && d.msg[0]);
			ck_assert(strncmp(d.msg, "mut.ir:", 7) == 0);
			ck_assert(strchr(d.msg, '\n') == NULL);
		}
		arena_free(fa);
	}
	free(buf);
	free(text);
	arena_free(a);
}
END_TEST

/* ---- scale: parsing and verifying are linear -------------------------- */

enum { SCALE_NODES = 1000000, SCALE_OUTPUTS = 50000 };

/* A chain of n sin nodes after an embed, with nout outputs; when
 * dup_value or dup_output, the last node or output repeats a name. */
static char *chain_text(int n, int nout, bool dup_value, bool dup_output)
{
	size_t cap = (size_t)n * 48 + (size_t)nout * 32 + 256, len = 0;
	char *t = malloc(cap);

	ck_assert(t);
	len += (size_t)snprintf(t + len, cap - len,
	    "graph \"big\" max_len=16 {\n  %%t = input : i32[B,L]\n"
	    "  %%e.w = weight {name=\"emb\"} : f32[16,8]\n"
	    "  %%x0 = embed %%e.w, %%t : f32[B,L,8]\n");
	for (int i = 1; i < n; i++)
		len += (size_t)snprintf(t + len, cap - len,
		                        "  %%x%d = sin %%x%d : f32[B,L,8]\n",
		                        dup_value && i == n - 1 ? 1 : i, i - 1);
	for (int i = 0; i < nout; i++)
		len += (size_t)snprintf(t + len, cap - len,
		                        "  output o%d = %%x%d\n",
		                        dup_output && i == nout - 1 ? 0 : i,
		                        n - 1 - i);
	snprintf(t + len, cap - len, "}\n");
	return t;
}

/* A million nodes and fifty thousand outputs parse, verify, and print
 * back the same text. At 40k nodes the old pairwise name checks took
 * seconds and at 200k minutes: this case's timeout is what fails then. */
START_TEST(text_million_nodes)
{
	Arena *a = arena_new();
	char *text = chain_text(SCALE_NODES, SCALE_OUTPUTS, false, false);
	Diag d;

	diag_init(&d);
	Graph *g = ir_parse(a, text, "big.ir", &d);
	ck_assert_msg(g, "%s", d.msg);
	ck_assert_int_eq(g->nnodes, SCALE_NODES + 2);
	ck_assert_int_eq(g->noutputs, SCALE_OUTPUTS);
	ck_assert_msg(ir_verify(g, &d), "%s", d.msg);

	char *printed = NULL;
	size_t plen = 0;
	FILE *f = open_memstream(&printed, &plen);
	ir_print(g, f);
	fclose(f);
	Arena *b = arena_new();
	Graph *again = ir_parse(b, printed, "printed.ir", &d);
	ck_assert_msg(again, "%s", d.msg);
	ck_assert_int_eq(again->nnodes, g->nnodes);
	ck_assert_str_eq(again->nodes[SCALE_NODES + 1]->name,
	                 g->nodes[SCALE_NODES + 1]->name);
	free(printed);
	free(text);
	arena_free(b);
	arena_free(a);
}
END_TEST

/* Repeated names at the far end of a big graph are still found: by the
 * parser (value and output names) and by the verifier, for a graph a
 * pass could have built with a duplicate. */
START_TEST(text_million_duplicates)
{
	Arena *a = arena_new();
	char *text = chain_text(SCALE_NODES, 2, true, false);
	Diag d;

	diag_init(&d);
	ck_assert(!ir_parse(a, text, "dup.ir", &d));
	ck_assert_msg(strstr(d.msg, "x1") && strstr(d.msg, "dup.ir:"), "%s",
	              d.msg);
	free(text);

	text = chain_text(2 * SCALE_OUTPUTS, SCALE_OUTPUTS, false, true);
	diag_init(&d);
	ck_assert(!ir_parse(a, text, "dupout.ir", &d));
	ck_assert_msg(strstr(d.msg, "duplicate output name o0"), "%s", d.msg);
	free(text);

	text = chain_text(SCALE_NODES, 1, false, false);
	diag_init(&d);
	Graph *g = ir_parse(a, text, "big.ir", &d);
	ck_assert_msg(g, "%s", d.msg);
	Node *last = g->nodes[g->nnodes - 1];
	Node *dup = ir_add(g, OP_SIN, "x7", 1, &last);
	ck_assert(ir_infer(g, dup, &d));
	ck_assert(!ir_verify(g, &d));
	ck_assert_msg(strstr(d.msg, "duplicate value name %x7"), "%s", d.msg);
	g->nnodes--;
	ir_add_output(g, "o0", last);
	diag_init(&d);
	ck_assert(!ir_verify(g, &d));
	ck_assert_msg(strstr(d.msg, "duplicate output name o0"), "%s", d.msg);
	free(text);
	arena_free(a);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ir");
	TCase *tc = tcase_create("core");
	/* text_fuzz parses thousands of mutants: a second or two, but many
	 * more under the sanitizers on a loaded machine than Check's 4 s. */
	tcase_set_timeout(tc, 120);

	tcase_add_test(tc, infer_shapes);
	tcase_add_test(tc, infer_errors);
	tcase_add_test(tc, infer_broadcast);
	tcase_add_test(tc, verify_catches);
	tcase_add_test(tc, text_round_trip);
	tcase_add_test(tc, text_floats);
	tcase_add_test(tc, text_hand_written);
	tcase_add_test(tc, text_errors);
	tcase_add_test(tc, text_fuzz);
	suite_add_tcase(s, tc);

	/* Linear time is what keeps these inside the timeout; under the
	 * sanitizers a million nodes take a few seconds. */
	TCase *big = tcase_create("scale");
	tcase_set_timeout(big, 120);
	tcase_add_test(big, text_million_nodes);
	tcase_add_test(big, text_million_duplicates);
	suite_add_tcase(s, big);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
