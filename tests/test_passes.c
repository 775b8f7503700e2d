/*
 * test_passes.c - each pass against the reference interpreter, and the
 * memory plan's safety: the folded graph computes what the lowered one
 * does; convolution selection follows lengths; no two buffers that are
 * live at the same time share a byte, and reuse actually happens.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/npy.h"
#include "testutil.h"

static Graph *lower(Arena *a, const char *path, Model **mp)
{
	Diag d;
	diag_init(&d);
	Model *m = fe_load_model(a, path, &d);
	ck_assert_msg(m, "%s", d.msg);
	Graph *g = fe_lower(a, m, &d);
	ck_assert_msg(g, "%s", d.msg);
	if (mp)
		*mp = m;
	return g;
}

static bool run_pass(Graph *g, PassFn fn, const PassOptions *o)
{
	Diag d;
	bool changed = false;
	diag_init(&d);
	ck_assert_msg(fn(g, o, &d, &changed), "%s", d.msg);
	ck_assert_msg(ir_verify(g, &d), "%s", d.msg);
	return changed;
}

static int count_op(const Graph *g, OpKind op)
{
	int k = 0;
	for (int i = 0; i < g->nnodes; i++)
		k += g->nodes[i]->op == op;
	return k;
}

/* Folding odd-order3 at its full length changes no output beyond float
 * rounding of the folded filters. */
START_TEST(fold_matches_interpreter)
{
	Arena *a = arena_new();
	Diag d;
	NpyArray tok;
	PassOptions o;
	float *ref[2], *got[2];
	Model *m;

	diag_init(&d);
	pass_options_default(&o);
	Graph *g0 = lower(a, tu_golden("odd-order3", NULL), &m);
	Graph *g1 = lower(a, tu_golden("odd-order3", NULL), NULL);
	ck_assert(run_pass(g1, pass_fold, &o));
	ck_assert_int_eq(count_op(g1, OP_SIN), 0);
	ck_assert_int_eq(count_op(g1, OP_EXPMOD), 0);
	ck_assert_int_gt(g1->folded_bytes, 0);
	ck_assert(npy_load(tu_golden("odd-order3", "tokens.npy"), &tok, &d));
	ck_assert(ir_interp(g0, tok.data, tok.dim[0], tok.dim[1], ref, &d));
	ck_assert(ir_interp(g1, tok.data, tok.dim[0], tok.dim[1], got, &d));
	size_t n = (size_t)(tok.dim[0] * tok.dim[1] * m->spec.d_model);
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e = fmax(e, fabs(ref[0][i] - got[0][i]));
	ck_assert_msg(e < 1e-5, "folded vs lowered: %g", e);
	for (int i = 0; i < 2; i++)
		free(ref[i]), free(got[i]);
	npy_free(&tok);
	fe_model_close(m);
	arena_free(a);
}
END_TEST

/* The size rule: over the limit, the filters stay as run-time code. */
START_TEST(fold_respects_limit)
{
	Arena *a = arena_new();
	PassOptions o;
	pass_options_default(&o);
	o.fold_limit = 1024;
	Graph *g = lower(a, tu_source("models/hyenadna-tiny-1k.yaml"), NULL);
	int before = g->nnodes;
	ck_assert(!run_pass(g, pass_fold, &o));
	ck_assert_int_eq(g->nnodes, before);
	ck_assert_int_gt(count_op(g, OP_SIN), 0);
	ck_assert_int_eq(g->folded_bytes, 0);
	/* 2 layers x 1026 x 128 floats of filter, plus the bias slices */
	ck_assert_int_eq(g->unfolded_bytes, 2 * (1026 * 128 + 128) * 4);
	arena_free(a);
}
END_TEST

START_TEST(convsel_by_length)
{
	static const struct {
		int64_t len;
		int method;
	} cases[] = {{16, CONV_DIRECT}, {64, CONV_DIRECT}, {16384, CONV_FFT}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		Arena *a = arena_new();
		Graph *g =
		    lower(a, tu_source("models/hyenadna-tiny-16k-d128.yaml"), NULL);
		g->max_len = cases[i].len;
		PassOptions o;
		pass_options_default(&o);
		ck_assert(run_pass(g, pass_convsel, &o));
		for (int k = 0; k < g->nnodes; k++)
			if (g->nodes[k]->op == OP_LONGCONV)
				ck_assert_msg(g->nodes[k]->iattr[0] == cases[i].method,
				              "L=%lld: method %lld", (long long)cases[i].len,
				              (long long)g->nodes[k]->iattr[0]);
		arena_free(a);
	}
	/* the model is what decides: direct's cost grows faster */
	ck_assert(pass_conv_cost(CONV_DIRECT, 16, 128) <
	          pass_conv_cost(CONV_FFT, 16, 128));
	ck_assert(pass_conv_cost(CONV_DIRECT, 1 << 16, 128) >
	          pass_conv_cost(CONV_FFT, 1 << 16, 128));
}
END_TEST

/* Whether y may take over x's block (memplan's in-place rules): a
 * sin_linear of its input, a pregated gated_conv of its whole value
 * operand, a fused_proj of its residual or post-gate operand. */
static bool inplace_reader(const Node *y, const Node *x)
{
	switch (y->op) {
	case OP_SIN_LINEAR:
		return y->src[0] == x;
	case OP_GATED_CONV:
		return y->iattr[GC_PREGATED] && !y->iattr[GC_V_OFF] &&
		       y->src[0] == x;
	case OP_FUSED_PROJ: {
		FpSrc fs;
		ir_fp_srcs(y, &fs);
		return fs.res >= 0 && y->src[fs.res] == x;
	}
	default:
		return false;
	}
}

/* No two values live at the same time overlap in the plan, but for a
 * gated_conv written over the value plane of the planar projection it
 * is the last to read (exactly that plane) and a node over the operand
 * it is the last to read (inplace_reader: exactly its block); outputs (of the graph and
 * of its entries), inputs and weights take no scratch; the plan reuses
 * memory. With gpu, nothing is planar. Returns the number of planar
 * values and the token region's bytes in *tok. */
static int64_t pos_bytes; /* the last plan's position region */

static int check_plan_for(const char *path, bool fuse, bool gpu,
                          int64_t *tok)
{
	Arena *a = arena_new();
	Diag d;
	PassOptions o;
	diag_init(&d);
	pass_options_default(&o);
	o.fuse = fuse;
	o.gpu = gpu;
	Graph *g = lower(a, path, NULL);
	ck_assert_msg(pass_pipeline(g, &o, &d), "%s", d.msg);
	ck_assert(g->planned);
	int n = g->nnodes, planar = 0;
	int *last = calloc((size_t)n, sizeof *last);
	int64_t *size = calloc((size_t)n, sizeof *size);
	int64_t total = 0;
	for (int i = 0; i < n; i++) {
		last[i] = i;
		for (int k = 0; k < g->nodes[i]->nsrc; k++)
			last[g->nodes[i]->src[k]->id] = i;
	}
	for (int i = 0; i < n; i++) {
		const Node *x = g->nodes[i];
		bool is_out = ir_is_output(g, x); /* the graph's or an entry's */
		if (x->op == OP_INPUT || x->op == OP_WEIGHT || x->op == OP_STATE ||
		    is_out) { /* a state is the caller's buffer */
			ck_assert_msg(x->region == MEM_NONE, "%s has scratch", x->name);
			continue;
		}
		ck_assert_msg(x->region != MEM_NONE, "%s has no scratch", x->name);
		ck_assert_int_eq(x->offset % 64, 0);
		MemRegion r = pass_mem_region(&x->type, &size[i]);
		ck_assert_int_eq(r, x->region);
		ck_assert(x->offset + size[i] <= g->region_bytes[r]);
		total += size[i];
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			const Node *x = g->nodes[i], *y = g->nodes[j];
			if (x->region == MEM_NONE || x->region != y->region)
				continue;
			/* live ranges [i, last[i]] and [j, last[j]] overlap when j
			 * is defined before x's last use */
			if (j > last[i])
				continue;
			if (x->planar && j == last[i] && y->op == OP_GATED_CONV &&
			    y->src[0] == x) {
				ck_assert_msg(y->offset == x->offset + size[i] / 2 &&
				              size[j] == size[i] / 2 && !gpu,
				              "%s is not over %s's value plane",
				              y->name, x->name);
				planar++;
				continue;
			}
			if (j == last[i] && inplace_reader(y, x) &&
			    y->offset == x->offset) {
				/* memplan's in-place rules (the CPU's): y takes over
				 * x's block, exactly */
				ck_assert_msg(size[j] == size[i] && !gpu,
				              "%s is over %s but not its block", y->name,
				              x->name);
				continue;
			}
			bool disjoint = x->offset + size[i] <= y->offset ||
			                y->offset + size[j] <= x->offset;
			ck_assert_msg(disjoint, "%s [%lld,+%lld) and %s [%lld,+%lld) "
			              "are live together and overlap", x->name,
			              (long long)x->offset, (long long)size[i], y->name,
			              (long long)y->offset, (long long)size[j]);
		}
	int64_t planned = g->region_bytes[MEM_TOKEN] + g->region_bytes[MEM_POSITION] +
	                  g->region_bytes[MEM_FIXED];
	ck_assert_msg(planned < total, "no reuse: %lld of %lld",
	              (long long)planned, (long long)total);
	for (int i = 0; i < n; i++)
		planar -= g->nodes[i]->planar; /* each one over-written once */
	ck_assert_int_eq(planar, 0);
	for (int i = 0; i < n; i++)
		planar += g->nodes[i]->planar;
	*tok = g->region_bytes[MEM_TOKEN];
	pos_bytes = g->region_bytes[MEM_POSITION];
	free(last);
	free(size);
	arena_free(a);
	return planar;
}

static void check_plan(const char *path, bool fuse)
{
	int64_t t;
	check_plan_for(path, fuse, false, &t);
}

START_TEST(memplan_no_live_overlap)
{
	check_plan(tu_golden("tiny-1k", NULL), true);
	check_plan(tu_golden("tiny-1k", NULL), false);
	check_plan(tu_golden("odd-order3", NULL), true);
	check_plan(tu_source("models/hyenadna-large-1m.yaml"), true);
}
END_TEST

/* large-1m (order 2, D = 256, 8 layers, filters made at run time): on
 * the CPU every layer's post gate is projected after its convolution
 * (fuse's late_post), the convolution runs over g * v, the post
 * projection over the convolution's output and out_proj over its
 * residual, so a token takes the residual and one D-wide value (2 KB)
 * instead of 4 KB, nothing planar; the filter MLP runs in one buffer.
 * On the GPU, whose kernels read rows and which has neither late_post
 * nor sin_linear, none of it. tiny-1k's folded filters get no late_post:
 * each layer's gated projection is planar and its convolution runs over
 * the value plane. order 3 has no pregated projection: nothing planar
 * either. */
START_TEST(memplan_planar)
{
	int64_t cpu, gpu, t;
	const char *large = tu_source("models/hyenadna-large-1m.yaml");
	ck_assert_int_eq(check_plan_for(large, true, false, &cpu), 0);
	/* the features (20 bytes, a 64-byte block) and the filter MLP's
	 * layers in one [L, 64] buffer (sin_linear); the convolutions read
	 * t from the features */
	ck_assert_int_eq(pos_bytes, 64 + 64 * 4);
	ck_assert_int_eq(check_plan_for(large, true, true, &gpu), 0);
	ck_assert_int_eq(pos_bytes, 64 + 2 * 64 * 4); /* no sin_linear */
	ck_assert_int_eq(cpu, 2 * 256 * 4);
	ck_assert_int_eq(gpu, 4 * 256 * 4);
	ck_assert_int_eq(check_plan_for(tu_golden("tiny-1k", NULL), true,
	                                false, &t), 2);
	ck_assert_int_eq(check_plan_for(tu_golden("odd-order3", NULL), true,
	                                false, &t), 0);
	ck_assert_int_eq(check_plan_for(tu_golden("tiny-1k", NULL), false,
	                                false, &t), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("passes");
	TCase *tc = tcase_create("passes");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, fold_matches_interpreter);
	tcase_add_test(tc, fold_respects_limit);
	tcase_add_test(tc, convsel_by_length);
	tcase_add_test(tc, memplan_no_live_overlap);
	tcase_add_test(tc, memplan_planar);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
