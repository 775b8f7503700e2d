/*
 * test_entries.c - the graph's entries (ir.h, passes/entries.c): the
 * text form prints and parses them back exactly and rejects bad ones;
 * the verifier keeps an entry from reading another's output; the
 * interpreter runs each entry to what its definition says of the full
 * forward (logits the same, mean and last of hidden over positions); and
 * the generated hyenac_run (logits without hidden) and hyenac_run_pooled
 * run the entries, checked against the interpreter on the golden tiny-1k
 * checkpoint at odd shapes; `entry hidden_states` (HF's
 * output_hidden_states) is h0 = the embedding rows of the checkpoint,
 * hN+1 = the full forward's hidden, hN+1 = the final norm of hN, and
 * hyenac_run_hidden gives what the interpreter's entry gives.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "testutil.h"

typedef int64_t (*ScratchFn)(int64_t, int64_t);
typedef void (*RunFn)(const float *, const int32_t *, int64_t, int64_t,
                      float *const *, void *);
typedef int (*PooledFn)(const float *, const int32_t *, int64_t, int64_t,
                        float *, float *, void *);
typedef int (*HiddenFn)(const float *, const int32_t *, int64_t, int64_t,
                        float *const *, void *);

/* A model's tail: x, the final norm, the head with a bias. */
static const char *const tail_ir =
    "graph \"tail\" max_len=16 {\n"
    "  %tokens = input : i32[B,L]\n"
    "  %e.w = weight {name=\"emb\"} : f32[16,4]\n"
    "  %x = embed %e.w, %tokens : f32[B,L,4]\n"
    "  %g = weight {name=\"g\"} : f32[4]\n"
    "  %b = weight {name=\"b\"} : f32[4]\n"
    "  %hidden = layernorm %x, %g, %b {eps=1e-05} : f32[B,L,4]\n"
    "  %w = weight {name=\"w\"} : f32[8,4]\n"
    "  %wb = weight {name=\"wb\"} : f32[8]\n"
    "  %logits = linear %hidden, %w, %wb : f32[B,L,8]\n"
    "  output hidden = %hidden\n"
    "  output logits = %logits\n"
    "}\n";

static char *print_str(const Graph *g)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	ck_assert(f);
	ir_print(g, f);
	fclose(f);
	return buf;
}

static Graph *with_entries(Arena *a, const char *text)
{
	Diag d;
	bool changed;
	diag_init(&d);
	Graph *g = ir_parse(a, text, "t.ir", &d);
	ck_assert_msg(g, "%s", d.msg);
	ck_assert_msg(pass_entries(g, NULL, &d, &changed), "%s", d.msg);
	ck_assert(changed);
	ck_assert_msg(ir_verify(g, &d), "%s", d.msg);
	return g;
}

START_TEST(entries_print_parse_exact)
{
	Arena *a = arena_new();
	Diag d;
	diag_init(&d);
	Graph *g = with_entries(a, tail_ir);
	ck_assert_int_eq(g->nentries, 2);
	ck_assert_str_eq(g->entries[0].name, "logits");
	ck_assert_str_eq(g->entries[1].name, "pooled");
	char *t1 = print_str(g);
	Graph *h = ir_parse(a, t1, "t1.ir", &d);
	ck_assert_msg(h, "%s: %s", d.msg, t1);
	ck_assert_msg(ir_verify(h, &d), "%s", d.msg);
	char *t2 = print_str(h);
	ck_assert_str_eq(t1, t2);
	ck_assert(strstr(t1, "  entry pooled {mean = %hidden.mean, "
	                     "last = %hidden.last}\n"));
	/* a second run leaves a graph with entries alone */
	bool changed = true;
	ck_assert(pass_entries(h, NULL, &d, &changed));
	ck_assert(!changed);
	free(t1);
	free(t2);
	arena_free(a);
}
END_TEST

static void expect_parse_error(const char *entry_line, const char *want)
{
	Arena *a = arena_new();
	Diag d;
	char text[2048];
	const char *close = strrchr(tail_ir, '}');
	int head = (int)(close - tail_ir);

	snprintf(text, sizeof text, "%.*s%s\n}\n", head, tail_ir, entry_line);
	diag_init(&d);
	ck_assert_msg(!ir_parse(a, text, "e.ir", &d), "accepted: %s",
	              entry_line);
	ck_assert_msg(strstr(d.msg, want), "%s: got '%s', want '%s'",
	              entry_line, d.msg, want);
	ck_assert_msg(strncmp(d.msg, "e.ir:13:", 8) == 0, "%s", d.msg);
	arena_free(a);
}

START_TEST(entries_parse_errors)
{
	expect_parse_error("entry full {hidden = %hidden}", "'full'");
	expect_parse_error("entry a {x = %hidden} entry a {y = %logits}",
	                   "duplicate entry name a");
	expect_parse_error("entry a {x = %hidden, x = %logits}",
	                   "duplicate output name x in entry a");
	expect_parse_error("entry a {x = %nope}", "nope");
	expect_parse_error("entry a {}", "expected an entry output name");
	expect_parse_error("entry a {x %hidden}", "after an entry output name");
	expect_parse_error("entry a {x = %hidden y = %logits}",
	                   "between entry outputs");
	expect_parse_error("entry {x = %hidden}", "expected an entry name");
}
END_TEST

START_TEST(entries_verify_own_outputs)
{
	Arena *a = arena_new();
	Diag d;
	char text[2048];
	const char *close = strrchr(tail_ir, '}');
	int head = (int)(close - tail_ir);

	/* %logits reads %hidden, an output of the graph, not of entry a:
	 * the parser says so at the entry ... */
	snprintf(text, sizeof text, "%.*sentry a {l = %%logits}\n}\n", head,
	         tail_ir);
	diag_init(&d);
	ck_assert(!ir_parse(a, text, "v.ir", &d));
	ck_assert_msg(strstr(d.msg, "v.ir:13:7: entry a needs %hidden"), "%s",
	              d.msg);
	/* ... and the verifier, of a graph a pass built */
	Graph *g = ir_parse(a, tail_ir, "v.ir", &d);
	ck_assert_msg(g, "%s", d.msg);
	EntryPoint *e = ir_add_entry(g, "a");
	ck_assert(ir_entry_add_output(e, "l", ir_find(g, "logits")));
	ck_assert(!ir_verify(g, &d));
	ck_assert_msg(strstr(d.msg, "entry a needs %hidden"), "%s", d.msg);
	arena_free(a);
}
END_TEST

/* Negative cases: no head (only pooled), and a norm whose input is an
 * output (nothing). */
START_TEST(entries_only_where_they_fit)
{
	Arena *a = arena_new();
	Diag d;
	bool changed;
	diag_init(&d);
	Graph *g = ir_parse(a,
	    "graph \"nohead\" max_len=16 {\n"
	    "  %tokens = input : i32[B,L]\n"
	    "  %e.w = weight {name=\"emb\"} : f32[16,4]\n"
	    "  %x = embed %e.w, %tokens : f32[B,L,4]\n"
	    "  %g = weight {name=\"g\"} : f32[4]\n"
	    "  %b = weight {name=\"b\"} : f32[4]\n"
	    "  %hidden = layernorm %x, %g, %b {eps=1e-05} : f32[B,L,4]\n"
	    "  output hidden = %hidden\n"
	    "  output x = %x\n"
	    "}\n", "n.ir", &d);
	ck_assert_msg(g, "%s", d.msg);
	ck_assert(pass_entries(g, NULL, &d, &changed));
	ck_assert(!changed);
	ck_assert_int_eq(g->nentries, 0);
	g->noutputs = 1; /* x no longer an output: pooled, no head */
	ck_assert(pass_entries(g, NULL, &d, &changed));
	ck_assert(changed);
	ck_assert_int_eq(g->nentries, 1);
	ck_assert_str_eq(g->entries[0].name, "pooled");
	arena_free(a);
}
END_TEST

/* The golden tiny-1k through the pipeline. */
static Graph *golden_graph(Arena *a, Model **mp)
{
	Diag d;
	diag_init(&d);
	Model *m = fe_load_model(a, tu_golden("tiny-1k", NULL), &d);
	ck_assert_msg(m, "%s", d.msg);
	Graph *g = fe_lower(a, m, &d);
	ck_assert_msg(g, "%s", d.msg);
	g->max_len = 64;
	ck_assert_msg(pass_pipeline(g, NULL, &d), "%s", d.msg);
	/* logits, pooled, hidden_states, and generation's prefill and step */
	ck_assert_int_eq(g->nentries, 5);
	*mp = m;
	return g;
}

static const EntryPoint *entry(const Graph *g, const char *name)
{
	for (int i = 0; i < g->nentries; i++)
		if (strcmp(g->entries[i].name, name) == 0)
			return &g->entries[i];
	ck_abort_msg("no entry %s", name);
	return NULL;
}

static void tokens(int32_t *tok, size_t n)
{
	uint64_t r = 12345;
	for (size_t i = 0; i < n; i++)
		tok[i] = 7 + (int32_t)((r = r * 6364136223846793005ULL + 1) >> 33) % 5;
}

static double max_diff(const float *a, const float *b, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)a[i] - (double)b[i]);
		if (!(e <= m))
			m = e;
	}
	return m;
}

START_TEST(entries_interp_by_definition)
{
	Arena *a = arena_new();
	Model *m;
	Graph *g = golden_graph(a, &m);
	Diag d;
	enum { B = 2, L = 13 };
	int32_t tok[B * L];
	float *full[2], *lg[1], *pl[2];
	int64_t D = g->outputs[0].node->type.dim[2];
	int64_t V = g->outputs[1].node->type.dim[2];

	diag_init(&d);
	tokens(tok, B * L);
	ck_assert_msg(ir_interp(g, tok, B, L, full, &d), "%s", d.msg);
	ck_assert_msg(ir_interp_entry(g, entry(g, "logits"), tok, B, L, lg, &d),
	              "%s", d.msg);
	ck_assert_msg(ir_interp_entry(g, entry(g, "pooled"), tok, B, L, pl, &d),
	              "%s", d.msg);
	ck_assert_double_le(max_diff(lg[0], full[1], (size_t)(B * L * V)), 1e-5);
	for (int64_t b = 0; b < B; b++)
		for (int64_t k = 0; k < D; k++) {
			double s = 0;
			for (int64_t t = 0; t < L; t++)
				s += full[0][(b * L + t) * D + k];
			ck_assert_double_le(fabs(pl[0][b * D + k] - s / L), 1e-5);
			ck_assert_double_le(fabs(pl[1][b * D + k] -
			                         full[0][(b * L + L - 1) * D + k]),
			                    1e-5);
		}
	/* HF's hidden_states: h0 the embedding rows, h3 (n_layer + 1) the
	 * final norm, which is the final norm of h2 */
	const EntryPoint *he = entry(g, "hidden_states");
	ck_assert_int_eq(he->noutputs, 4);
	float *hs[4];
	ck_assert_msg(ir_interp_entry(g, he, tok, B, L, hs, &d), "%s", d.msg);
	Tensor *emb = fe_weight_find(
	    &m->w, "hyena.backbone.embeddings.word_embeddings.weight");
	Tensor *lg_ = fe_weight_find(&m->w, "hyena.backbone.ln_f.weight");
	Tensor *lb_ = fe_weight_find(&m->w, "hyena.backbone.ln_f.bias");
	ck_assert(emb && lg_ && lb_);
	for (int64_t r = 0; r < B * L; r++) {
		double mu = 0, var = 0;
		for (int64_t k = 0; k < D; k++) {
			ck_assert_float_eq(hs[0][r * D + k],
			                   emb->data[tok[r] * D + k]);
			mu += hs[2][r * D + k];
		}
		mu /= (double)D;
		for (int64_t k = 0; k < D; k++)
			var += (hs[2][r * D + k] - mu) * (hs[2][r * D + k] - mu);
		var /= (double)D;
		for (int64_t k = 0; k < D; k++) {
			double want = (hs[2][r * D + k] - mu) / sqrt(var + 1e-5) *
			                  lg_->data[k] + lb_->data[k];
			ck_assert_double_le(fabs(hs[3][r * D + k] - want), 1e-4);
			ck_assert_double_le(fabs(hs[3][r * D + k] -
			                         full[0][r * D + k]), 1e-6);
		}
	}
	for (int i = 0; i < 4; i++)
		free(hs[i]);
	free(full[0]);
	free(full[1]);
	free(lg[0]);
	free(pl[0]);
	free(pl[1]);
	fe_model_close(m);
	arena_free(a);
}
END_TEST

static void *alloc64(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
	ck_assert(p);
	return p;
}

static float *nans(size_t n)
{
	float *p = alloc64(n * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = NAN;
	return p;
}

/* hyenac_run with only logits runs `entry logits`; hyenac_run_pooled
 * runs `entry pooled`; each against the interpreter's entry. */
START_TEST(entries_generated_match_interp)
{
	Arena *a = arena_new();
	Model *m;
	Graph *g = golden_graph(a, &m);
	Diag d;
	CgWeights w;
	CgOptions o = {NULL, NULL, 3, NULL, NULL, NULL, false, 0};
	int64_t D = g->outputs[0].node->type.dim[2];
	int64_t V = g->outputs[1].node->type.dim[2];
	static const int64_t shapes[][2] = {{1, 1}, {2, 17}, {3, 64}};

	diag_init(&d);
	cg_layout_weights(g, a, &w);
	void *blob = alloc64(w.bytes);
	cg_pack_weights(g, &w, blob);
	CgModule *cm = cg_emit(g, &w, &o, NULL, &d);
	ck_assert_msg(cm, "%s", d.msg);
	CgJit *j = cg_jit(cm, &d);
	ck_assert_msg(j, "%s", d.msg);
	RunFn run = (RunFn)cg_jit_lookup(j, "hyenac_run");
	PooledFn pooled = (PooledFn)cg_jit_lookup(j, "hyenac_run_pooled");
	ScratchFn sb = (ScratchFn)cg_jit_lookup(j, "hyenac_scratch_bytes");
	HiddenFn hidden = (HiddenFn)cg_jit_lookup(j, "hyenac_run_hidden");
	ck_assert(run && pooled && sb && hidden);
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int64_t B = shapes[s][0], L = shapes[s][1];
		int32_t *tok = malloc((size_t)(B * L) * sizeof *tok);
		float *lg[1], *pl[2];
		tokens(tok, (size_t)(B * L));
		ck_assert(ir_interp_entry(g, entry(g, "logits"), tok, B, L, lg, &d));
		ck_assert(ir_interp_entry(g, entry(g, "pooled"), tok, B, L, pl, &d));
		void *scratch = alloc64((size_t)sb(B, L));
		float *outs[2] = {NULL, nans((size_t)(B * L * V))};
		run(blob, tok, B, L, outs, scratch);
		ck_assert_double_le(max_diff(outs[1], lg[0], (size_t)(B * L * V)),
		                    1e-3);
		float *mean = nans((size_t)(B * D)), *last = nans((size_t)(B * D));
		ck_assert_int_eq(pooled(blob, tok, B, L, mean, last, scratch), 1);
		ck_assert_double_le(max_diff(mean, pl[0], (size_t)(B * D)), 1e-4);
		ck_assert_double_le(max_diff(last, pl[1], (size_t)(B * D)), 1e-4);
		/* one at a time, as the binaries ask: the same numbers */
		float *m1 = nans((size_t)(B * D)), *l1 = nans((size_t)(B * D));
		ck_assert_int_eq(pooled(blob, tok, B, L, m1, NULL, scratch), 1);
		ck_assert_int_eq(pooled(blob, tok, B, L, NULL, l1, scratch), 1);
		ck_assert(memcmp(m1, mean, (size_t)(B * D) * sizeof *m1) == 0);
		ck_assert(memcmp(l1, last, (size_t)(B * D) * sizeof *l1) == 0);
		/* nothing asked: nothing written, nothing crashes */
		float *none[2] = {NULL, NULL};
		run(blob, tok, B, L, none, scratch);
		/* every hidden state, then each alone: the interpreter's */
		float *hs[4], *hg[4];
		ck_assert(ir_interp_entry(g, entry(g, "hidden_states"), tok, B, L,
		                          hs, &d));
		for (int k = 0; k < 4; k++)
			hg[k] = nans((size_t)(B * L * D));
		ck_assert_int_eq(hidden(blob, tok, B, L, hg, scratch), 4);
		for (int k = 0; k < 4; k++) {
			ck_assert_double_le(max_diff(hg[k], hs[k], (size_t)(B * L * D)),
			                    1e-4);
			float *one[4] = {NULL, NULL, NULL, NULL};
			one[k] = nans((size_t)(B * L * D));
			ck_assert_int_eq(hidden(blob, tok, B, L, one, scratch), 4);
			ck_assert(memcmp(one[k], hg[k],
			                 (size_t)(B * L * D) * sizeof(float)) == 0);
			free(one[k]);
			free(hg[k]);
			free(hs[k]);
		}
		free(m1);
		free(l1);
		free(mean);
		free(last);
		free(outs[1]);
		free(scratch);
		free(lg[0]);
		free(pl[0]);
		free(pl[1]);
		free(tok);
	}
	cg_jit_free(j);
	free(blob);
	fe_model_close(m);
	arena_free(a);
}
END_TEST

/* pool without its norm (ln=0), mean and last, through the generated
 * hyenac_run_pooled and the interpreter: sums in double agree to float
 * rounding, the last row exactly. */
START_TEST(entries_pool_plain)
{
	Arena *a = arena_new();
	Diag d;
	CgWeights w;
	CgOptions o = {NULL, NULL, 3, NULL, NULL, NULL, false, 0};
	float emb[16 * 5];
	enum { B = 3, L = 29, D = 5 };
	int32_t tok[B * L];

	diag_init(&d);
	Graph *g = ir_parse(a,
	    "graph \"plain\" max_len=64 {\n"
	    "  %tokens = input : i32[B,L]\n"
	    "  %e.w = weight {name=\"emb\"} : f32[16,5]\n"
	    "  %x = embed %e.w, %tokens : f32[B,L,5]\n"
	    "  %h = relu %x : f32[B,L,5]\n"
	    "  %m = pool %x {mode=0, ln=0, pad=0, eps=0} : f32[B,5]\n"
	    "  %l = pool %x {mode=1, ln=0, pad=0, eps=0} : f32[B,5]\n"
	    "  output hidden = %h\n"
	    "  entry pooled {last = %l, mean = %m}\n"
	    "}\n", "p.ir", &d);
	ck_assert_msg(g, "%s", d.msg);
	ck_assert_msg(ir_verify(g, &d), "%s", d.msg);
	for (int i = 0; i < 16 * 5; i++)
		emb[i] = (float)((i * 37) % 23) / 7.0f - 1.5f;
	ir_find(g, "e.w")->data = emb;
	tokens(tok, B * L);
	float *ref[2];
	ck_assert_msg(ir_interp_entry(g, &g->entries[0], tok, B, L, ref, &d),
	              "%s", d.msg);
	cg_layout_weights(g, a, &w);
	void *blob = alloc64(w.bytes);
	cg_pack_weights(g, &w, blob);
	CgModule *cm = cg_emit(g, &w, &o, NULL, &d);
	ck_assert_msg(cm, "%s", d.msg);
	CgJit *j = cg_jit(cm, &d);
	ck_assert_msg(j, "%s", d.msg);
	PooledFn pooled = (PooledFn)cg_jit_lookup(j, "hyenac_run_pooled");
	ScratchFn sb = (ScratchFn)cg_jit_lookup(j, "hyenac_scratch_bytes");
	ck_assert(pooled && sb);
	void *scratch = alloc64((size_t)sb(B, L));
	float *mean = nans(B * D), *last = nans(B * D);
	ck_assert_int_eq(pooled(blob, tok, B, L, mean, last, scratch), 1);
	ck_assert_double_le(max_diff(mean, ref[1], B * D), 1e-6);
	ck_assert(memcmp(last, ref[0], B * D * sizeof *last) == 0);
	free(mean);
	free(last);
	free(scratch);
	free(ref[0]);
	free(ref[1]);
	free(blob);
	cg_jit_free(j);
	arena_free(a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("entries");
	TCase *tc = tcase_create("entries");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, entries_print_parse_exact);
	tcase_add_test(tc, entries_parse_errors);
	tcase_add_test(tc, entries_verify_own_outputs);
	tcase_add_test(tc, entries_only_where_they_fit);
	tcase_add_test(tc, entries_interp_by_definition);
	tcase_add_test(tc, entries_generated_match_interp);
	tcase_add_test(tc, entries_pool_plain);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
