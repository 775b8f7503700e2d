/*
 * test_generate.c - generation (issue 18): `entry prefill` and `entry
 * step` against the full forward, and the binaries' `generate`.
 *
 *   - in the reference interpreter, on the golden checkpoints (tiny-1k,
 *     odd-order3, order 3) and a random model: prefill p tokens for every
 *     p in 0..P of a short prompt, then step to the end; every step's
 *     logits equal the full forward's at that position (max abs 2e-4);
 *   - a compiled binary's `generate --logits-out` (prefill by the FFT or
 *     the direct kernel as convsel chose, then steps) against the
 *     interpreter's full forward, the binary's own `logits`, and the
 *     interpreter's step, at lengths across the FFT/direct crossover;
 *   - a long prompt with many new tokens (700 + 300 at --seq-len 1024):
 *     the prefill's FFT precompute of the prompt's part of every later
 *     output reaches 300 steps, each summing over up to 300 positions;
 *   - hyrt_conv_carry (that precompute) against hyrt_longconv_direct on
 *     the zero-padded prompt, at odd sizes and at P = 0, 1, M-1, M;
 *   - the library's hyenac_model_prefill / hyenac_model_step, two samples
 *     as a batch and one across the boundary at every offset 1..8;
 *   - greedy and seeded sampling give the same bytes at 1 and 2 threads;
 *   - bad command lines: one line, exit 2, nothing written.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/hyenac_model.h"
#include "runtime/hyrt.h"
#include "runtime/npy.h"
#include "testutil.h"

static const double TOL = 2e-4;

static const EntryPoint *entry(const Graph *g, const char *name)
{
	for (int i = 0; i < g->nentries; i++)
		if (strcmp(g->entries[i].name, name) == 0)
			return &g->entries[i];
	return NULL;
}

static Graph *pipeline(Arena *a, const char *model, int64_t max_len,
                       bool fuse, Model **mp)
{
	Diag d;
	PassOptions o;
	diag_init(&d);
	pass_options_default(&o);
	o.fuse = fuse;
	Model *m = fe_load_model(a, model, &d);
	ck_assert_msg(m, "%s", d.msg);
	Graph *g = fe_lower(a, m, &d);
	ck_assert_msg(g, "%s", d.msg);
	g->max_len = max_len;
	ck_assert_msg(pass_pipeline(g, &o, &d), "%s", d.msg);
	*mp = m;
	return g;
}

/* The state slots of g (the prefill's state<i> outputs): count, and a
 * zeroed float array for each, for B rows. */
static int new_state(const Graph *g, int64_t B, float **st)
{
	int n = 0;
	for (int i = 0; i < g->nnodes; i++) {
		const Node *x = g->nodes[i];
		if (x->op != OP_STATE)
			continue;
		size_t k = (size_t)(B * x->type.dim[1] * x->type.dim[2]);
		st[x->iattr[0]] = calloc(k, sizeof(float));
		n++;
	}
	return n;
}

static size_t slot_floats(const Graph *g, int s, int64_t B)
{
	for (int i = 0; i < g->nnodes; i++)
		if (g->nodes[i]->op == OP_STATE && g->nodes[i]->iattr[0] == s)
			return (size_t)(B * g->nodes[i]->type.dim[1] *
			                g->nodes[i]->type.dim[2]);
	ck_abort_msg("no slot %d", s);
	return 0;
}

/* In the interpreter: prefill the first p tokens (p = 0: no prefill, a
 * zero state), then step through tok[p..L); logits of position t go to
 * got[t] (rows < p from the prefill). */
static void interp_generate(const Graph *g, const int32_t *tok, int64_t L,
                            int64_t p, float *got, int64_t V)
{
	const EntryPoint *pe = entry(g, "prefill"), *se = entry(g, "step");
	float *st[IR_MAX_ENTRY_OUT] = {0}, *outs[IR_MAX_ENTRY_OUT] = {0};
	Diag d;
	diag_init(&d);
	ck_assert(pe && se);
	int ns = new_state(g, 1, st);
	ck_assert_int_eq(ns, pe->noutputs - 1);
	if (p > 0) {
		ck_assert_msg(ir_interp_entry(g, pe, tok, 1, p, outs, &d), "%s",
		              d.msg);
		memcpy(got, outs[0], (size_t)(p * V) * sizeof *got);
		for (int s = 0; s < ns; s++) {
			memcpy(st[s], outs[1 + s], slot_floats(g, s, 1) * sizeof(float));
			free(outs[1 + s]);
		}
		free(outs[0]);
	}
	for (int64_t t = p; t < L; t++) {
		float *o[1] = {NULL};
		ck_assert_msg(ir_interp_step(g, se, &tok[t], 1, t, st, ns, o, &d),
		              "%s", d.msg);
		memcpy(got + t * V, o[0], (size_t)V * sizeof *got);
		free(o[0]);
	}
	for (int s = 0; s < ns; s++)
		free(st[s]);
}

static void fill_tokens(int32_t *tok, int64_t n, unsigned seed)
{
	for (int64_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		tok[i] = 7 + (int32_t)((seed >> 16) % 5);
	}
}

/* Every prefill/step boundary 0..P of an L-token sequence in the
 * interpreter, against its own full forward. */
static void boundaries(const char *model, int64_t max_len, int64_t L,
                       int64_t P)
{
	Arena *a = arena_new();
	Model *m;
	Graph *g = pipeline(a, model, max_len, true, &m);
	const EntryPoint *le = entry(g, "logits");
	int32_t tok[256];
	float *full[1];
	Diag d;
	diag_init(&d);
	ck_assert(le && L <= 256);
	int64_t V = le->outputs[0].node->type.dim[2];
	fill_tokens(tok, L, (unsigned)L);
	ck_assert_msg(ir_interp_entry(g, le, tok, 1, L, full, &d), "%s", d.msg);
	float *got = malloc((size_t)(L * V) * sizeof *got);
	for (int64_t p = 0; p <= P; p++) {
		interp_generate(g, tok, L, p, got, V);
		double e = tu_max_abs_diff(got, full[0], (size_t)(L * V));
		ck_assert_msg(e <= TOL, "%s: prefill %lld then steps to %lld: max "
		              "abs %g", model, (long long)p, (long long)L, e);
		if (p == P)
			printf("%s: prefill 0..%lld + steps to %lld, max abs %.3g\n",
			       model, (long long)P, (long long)L, e);
	}
	free(got);
	free(full[0]);
	fe_model_close(m);
	arena_free(a);
}

START_TEST(interp_golden_tiny)
{
	boundaries(tu_golden("tiny-1k", NULL), 64, 40, 8);
}
END_TEST

START_TEST(interp_golden_order3)
{
	boundaries(tu_golden("odd-order3", NULL), 64, 40, 8);
}
END_TEST

START_TEST(interp_random_model)
{
	boundaries(tu_source("models/hyenadna-tiny-1k.yaml"), 48, 30, 6);
}
END_TEST

/* Without fusion there is no step entry: generate says so. */
START_TEST(no_step_unfused)
{
	Arena *a = arena_new();
	Model *m;
	Graph *g = pipeline(a, tu_golden("tiny-1k", NULL), 64, false, &m);
	ck_assert(!entry(g, "step") && !entry(g, "prefill"));
	fe_model_close(m);
	arena_free(a);
}
END_TEST

/* ---- compiled binaries ---------------------------------------------------- */

static const char *compile(const char *model, const char *name,
                           const char *const *extra)
{
	RunResult r;
	const char *out = tu_path(tu_tmpdir(), name);
	const char *args[16] = {"compile", model, "-o", out};
	int n = 4;
	for (; extra && *extra; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	tu_run_hyenac(&r, args);
	ck_assert_msg(r.status == 0, "compile %s: %s", name, r.err);
	return out;
}

/* The token ids of a FASTA record's sequence (its lines after the
 * header, up to the next '>'), from text at *at. */
static int64_t read_record(const char **at, int32_t *tok, int64_t cap)
{
	const char *p = strchr(*at, '\n');
	int64_t n = 0;
	ck_assert(p);
	for (p++; *p && *p != '>'; p++) {
		const char *b = strchr("ACGTN", *p);
		if (*p == '\n')
			continue;
		ck_assert_msg(b && n < cap, "bad base '%c'", *p);
		tok[n++] = 7 + (int32_t)(b - "ACGTN");
	}
	*at = p;
	return n;
}

/* generate --temperature 0 on exe with a P-token prompt and N new: its
 * --logits-out against the interpreter's full forward, the binary's own
 * logits and the interpreter's prefill and steps on the tokens it chose. */
static void compiled_exact(const char *model, const char *exe,
                           int64_t max_len, int64_t P, int64_t N)
{
	RunResult r;
	Arena *a = arena_new();
	Model *m;
	Graph *g = pipeline(a, model, max_len, true, &m);
	const EntryPoint *le = entry(g, "logits");
	int64_t V = le->outputs[0].node->type.dim[2], L = P + N;
	int32_t *tok = malloc((size_t)L * sizeof *tok);
	char *prompt = malloc((size_t)P + 1), num[32], nn[32];
	Diag d;
	diag_init(&d);
	fill_tokens(tok, P, (unsigned)P);
	for (int64_t i = 0; i < P; i++)
		prompt[i] = "ACGTN"[tok[i] - 7];
	prompt[P] = 0;
	snprintf(num, sizeof num, "%lld", (long long)N);
	const char *fa = tu_path(tu_tmpdir(), "exact.fa");
	const char *lo = tu_path(tu_tmpdir(), "exact-logits.npy");
	tu_run(&r, exe, (const char *[]){"generate", "--prompt", prompt,
	                                 "--max-new", num, "--temperature", "0",
	                                 "-o", fa, "--logits-out", lo, NULL});
	ck_assert_msg(r.status == 0, "generate: %s", r.err);
	char *text = tu_read(fa, NULL);
	const char *at = text;
	ck_assert_int_eq(read_record(&at, tok, L), L);
	ck_assert(memcmp(prompt, text + (strchr(text, '\n') - text) + 1,
	                 (size_t)(P < 80 ? P : 80)) == 0);
	NpyArray got;
	tu_load_npy(lo, &got);
	ck_assert(got.rank == 3 && got.dim[0] == 1 && got.dim[1] == N &&
	          got.dim[2] == V);
	/* the interpreter's full forward, rows P-1 .. L-2 */
	float *full[1];
	ck_assert_msg(ir_interp_entry(g, le, tok, 1, L, full, &d), "%s", d.msg);
	double e1 = tu_max_abs_diff(got.data, full[0] + (P - 1) * V,
	                            (size_t)(N * V));
	/* the binary's own full forward */
	int64_t dims[2] = {1, L};
	const char *tp = tu_path(tu_tmpdir(), "exact-tokens.npy");
	const char *fl = tu_path(tu_tmpdir(), "exact-full.npy");
	ck_assert(npy_save_i32(tp, tok, 2, dims, &d));
	tu_run(&r, exe, (const char *[]){"logits", "--tokens", tp, "-o", fl,
	                                 NULL});
	ck_assert_msg(r.status == 0, "logits: %s", r.err);
	NpyArray bf;
	tu_load_npy(fl, &bf);
	double e2 = tu_max_abs_diff(got.data, (const float *)bf.data + (P - 1) * V,
	                            (size_t)(N * V));
	/* the interpreter's prefill and steps */
	float *ist = malloc((size_t)(L * V) * sizeof *ist);
	interp_generate(g, tok, L, P, ist, V);
	double e3 = tu_max_abs_diff(got.data, ist + (P - 1) * V,
	                            (size_t)(N * V));
	snprintf(nn, sizeof nn, "%lld+%lld", (long long)P, (long long)N);
	printf("%s %s: step vs interp full %.3g, vs binary full %.3g, vs "
	       "interp step %.3g\n", exe, nn, e1, e2, e3);
	ck_assert_msg(e1 <= TOL && e2 <= TOL && e3 <= TOL,
	              "%s: %g %g %g", nn, e1, e2, e3);
	npy_free(&got);
	npy_free(&bf);
	free(full[0]);
	free(ist);
	free(text);
	free(tok);
	free(prompt);
	fe_model_close(m);
	arena_free(a);
}

/* Around convsel's crossover (near L = 400 at 128 channels): compiled
 * at 512 the prefill takes the FFT, at 300 the direct kernel. */
START_TEST(binary_tiny_fft)
{
	const char *m = tu_golden("tiny-1k", NULL);
	const char *exe = compile(m, "gen-tiny-512",
	                          (const char *[]){"--seq-len", "512", NULL});
	compiled_exact(m, exe, 512, 380, 60);
	compiled_exact(m, exe, 512, 1, 40);
}
END_TEST

START_TEST(binary_tiny_direct)
{
	const char *m = tu_golden("tiny-1k", NULL);
	const char *exe = compile(m, "gen-tiny-300",
	                          (const char *[]){"--seq-len", "300",
	                                           "--conv=direct", NULL});
	compiled_exact(m, exe, 300, 250, 50);
}
END_TEST

START_TEST(binary_order3)
{
	const char *m = tu_golden("odd-order3", NULL);
	const char *exe = compile(m, "gen-odd-450",
	                          (const char *[]){"--seq-len", "450", NULL});
	compiled_exact(m, exe, 450, 390, 60);
}
END_TEST

START_TEST(binary_random)
{
	const char *m = tu_source("models/hyenadna-tiny-1k.yaml");
	const char *exe = compile(m, "gen-rand-420",
	                          (const char *[]){"--seq-len", "420", NULL});
	compiled_exact(m, exe, 420, 200, 40);
}
END_TEST

/* A long prompt and many new tokens: the prefill's FFT carries the
 * prompt's part of 300 later outputs, and the steps sum over up to 300
 * generated positions on top of it. */
START_TEST(binary_long_prompt)
{
	const char *m = tu_golden("tiny-1k", NULL);
	const char *exe = compile(m, "gen-tiny-1024",
	                          (const char *[]){"--seq-len", "1024", NULL});
	compiled_exact(m, exe, 1024, 700, 300);
}
END_TEST

/* hyrt_conv_carry against the direct convolution of the zero-padded,
 * gated prompt: rows t in [P, M) reversed, zeros for t < P, and P in
 * the last row. M = 97 (the FFT pads to 98), 21 channels (not a whole
 * number of blocks), two batch rows, strided operands. */
static float uniform(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (float)(*seed >> 16) / 65536.0f;
}

static void carry_case(int64_t P)
{
	enum { B = 2, M = 97, C = 21, VS = 30, GS = 25 };
	int64_t R = M + 1, Pn = P > 0 ? P : 1;
	float *v = malloc(sizeof(float) * B * Pn * VS);
	float *g = malloc(sizeof(float) * B * Pn * GS);
	float *k = malloc(sizeof(float) * M * C), *u = calloc(B * M * C, 4);
	float *y = malloc(sizeof(float) * B * M * C);
	float *out = malloc(sizeof(float) * B * R * C);
	unsigned seed = 7;
	for (int64_t i = 0; i < B * Pn * VS; i++)
		v[i] = uniform(&seed) - 0.5f;
	for (int64_t i = 0; i < B * Pn * GS; i++)
		g[i] = uniform(&seed);
	for (int64_t i = 0; i < M * C; i++)
		k[i] = uniform(&seed) * expf(-(float)(i / C) / 30.0f);
	for (int64_t i = 0; i < B * R * C; i++)
		out[i] = 99.0f; /* every value must be written */
	for (int64_t b = 0; b < B; b++)
		for (int64_t t = 0; t < P && t < M; t++)
			for (int64_t c = 0; c < C; c++)
				u[(b * M + t) * C + c] = v[(b * P + t) * VS + c] *
				                         g[(b * P + t) * GS + c];
	hyrt_longconv_direct(y, u, k, B, M, C);
	hyrt_conv_carry(out, v, VS, g, GS, k, B, P, R, C);
	double e = 0;
	for (int64_t b = 0; b < B; b++) {
		const float *ob = out + b * R * C;
		for (int64_t t = 0; t < M; t++)
			for (int64_t c = 0; c < C; c++) {
				double want = t < P ? 0.0 : y[(b * M + t) * C + c];
				double d = fabs(ob[(M - 1 - t) * C + c] - want);
				e = d > e ? d : e;
			}
		ck_assert_float_eq(ob[M * C], (float)P);
		for (int64_t c = 1; c < C; c++)
			ck_assert_float_eq(ob[M * C + c], 0.0f);
	}
	ck_assert_msg(e <= 1e-5, "P = %lld: max abs %g", (long long)P, e);
	free(v);
	free(g);
	free(k);
	free(u);
	free(y);
	free(out);
}

START_TEST(carry_vs_direct)
{
	static const int64_t ps[] = {0, 1, 2, 37, 60, 95, 96, 97};
	for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
		carry_case(ps[i]);
}
END_TEST

/* ---- the library ------------------------------------------------------------ */

START_TEST(library)
{
	RunResult r;
	const char *m = tu_golden("tiny-1k", NULL);
	const char *lib = tu_path(tu_tmpdir(), "libgen.so");
	tu_run_hyenac(&r, (const char *[]){"compile", m, "--emit", "lib",
	                                   "--seq-len", "128", "-o", lib,
	                                   NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h, "%s", dlerror());
	int (*load)(const char *, HyenacModel **, char *, size_t) =
	    (int (*)(const char *, HyenacModel **, char *, size_t))dlsym(
	        h, "hyenac_model_load");
	int (*prefill)(HyenacModel *, const int32_t *, int64_t, int64_t,
	               HyenacGen **, float *) =
	    (int (*)(HyenacModel *, const int32_t *, int64_t, int64_t,
	             HyenacGen **, float *))dlsym(h, "hyenac_model_prefill");
	int (*step)(HyenacModel *, HyenacGen *, const int32_t *, float *) =
	    (int (*)(HyenacModel *, HyenacGen *, const int32_t *,
	             float *))dlsym(h, "hyenac_model_step");
	void (*gfree)(HyenacGen *) = (void (*)(HyenacGen *))dlsym(
	    h, "hyenac_model_gen_free");
	void (*mfree)(HyenacModel *) = (void (*)(HyenacModel *))dlsym(
	    h, "hyenac_model_free");
	ck_assert(load && prefill && step && gfree && mfree);
	HyenacModel *hm;
	char err[256];
	ck_assert_msg(load(NULL, &hm, err, sizeof err) == HYENAC_OK, "%s", err);

	/* two samples, a 20-token prompt, then 30 steps */
	enum { B = 2, P = 20, L = 50, V = 16 };
	int32_t tok[B * L], col[B], tb[L];
	fill_tokens(tok, B * L, 3);
	int32_t pr[B * P];
	for (int b = 0; b < B; b++)
		memcpy(pr + b * P, tok + b * L, P * sizeof *pr);
	float lg[B * V], *got = malloc(sizeof(float) * B * L * V);
	HyenacGen *gen;
	ck_assert_int_eq(prefill(hm, pr, B, P, &gen, lg), HYENAC_OK);
	for (int b = 0; b < B; b++)
		memcpy(got + (b * L + P - 1) * V, lg + b * V, sizeof(float) * V);
	for (int t = P; t < L; t++) {
		for (int b = 0; b < B; b++)
			col[b] = tok[b * L + t];
		ck_assert_int_eq(step(hm, gen, col, lg), HYENAC_OK);
		for (int b = 0; b < B; b++)
			memcpy(got + (b * L + t) * V, lg + b * V, sizeof(float) * V);
	}
	Arena *a = arena_new();
	Model *mm;
	Graph *g = pipeline(a, m, 128, true, &mm);
	Diag d;
	diag_init(&d);
	for (int b = 0; b < B; b++) {
		float *full[1];
		memcpy(tb, tok + b * L, sizeof tb);
		ck_assert(ir_interp_entry(g, entry(g, "logits"), tb, 1, L, full,
		                          &d));
		double e = tu_max_abs_diff(got + (b * L + P - 1) * V,
		                           full[0] + (P - 1) * V, (L - P + 1) * V);
		printf("library sample %d: max abs %.3g\n", b, e);
		ck_assert_msg(e <= TOL, "sample %d: %g", b, e);
		free(full[0]);
	}
	gfree(gen);
	/* one sample across the prefill/step boundary at every offset */
	float *full1[1];
	ck_assert(ir_interp_entry(g, entry(g, "logits"), tok, 1, 24, full1,
	                          &d));
	for (int p = 1; p <= 8; p++) {
		double e = 0;
		ck_assert_int_eq(prefill(hm, tok, 1, p, &gen, lg), HYENAC_OK);
		e = fmax(e, tu_max_abs_diff(lg, full1[0] + (p - 1) * V, V));
		for (int t = p; t < 24; t++) {
			ck_assert_int_eq(step(hm, gen, &tok[t], lg), HYENAC_OK);
			e = fmax(e, tu_max_abs_diff(lg, full1[0] + t * V, V));
		}
		ck_assert_msg(e <= TOL, "prefill %d: %g", p, e);
		gfree(gen);
	}
	free(full1[0]);
	mfree(hm);
	free(got);
	fe_model_close(mm);
	arena_free(a);
	/* the library stays loaded: its FFT buffers are not freed on
	 * dlclose (see test_classify) */
}
END_TEST

/* ---- the command line ------------------------------------------------------ */

static const char *exe_small(void)
{
	static const char *exe;
	if (!exe)
		exe = compile(tu_golden("tiny-1k", NULL), "gen-tiny-96",
		              (const char *[]){"--seq-len", "96", NULL});
	return exe;
}

static char *gen_text(const char *name, const char *const *args)
{
	RunResult r;
	const char *out = tu_path(tu_tmpdir(), name);
	const char *av[24] = {"generate", "-o", out};
	int n = 3;
	for (; *args; args++)
		av[n++] = *args;
	av[n] = NULL;
	tu_run(&r, exe_small(), av);
	ck_assert_msg(r.status == 0, "%s: %s", name, r.err);
	return tu_read(out, NULL);
}

START_TEST(reproducible)
{
	const char *greedy[] = {"--prompt", "ACGTTGCA", "--max-new", "50",
	                        "--temperature", "0", "--num-samples", "2",
	                        "--threads", "1", NULL};
	char *g1 = gen_text("g1.fa", greedy);
	greedy[9] = "2";
	char *g2 = gen_text("g2.fa", greedy);
	ck_assert_str_eq(g1, g2);
	ck_assert(strstr(g1, "prompt_len=8 new=50 temperature=0"));
	const char *samp[] = {"--prompt", "ACGTTGCA", "--max-new", "80",
	                      "--temperature", "1.5", "--seed", "7",
	                      "--num-samples", "3", "--top-p", "0.95",
	                      "--allowed", "ACGT", "--threads", "1", NULL};
	char *s1 = gen_text("s1.fa", samp);
	samp[15] = "2";
	char *s2 = gen_text("s2.fa", samp);
	ck_assert_str_eq(s1, s2);
	samp[7] = "8";
	char *s3 = gen_text("s3.fa", samp);
	ck_assert_str_ne(s1, s3);
	/* three records; --allowed ACGT: no N among the new bases */
	const char *at = s1;
	int32_t tok[128];
	for (int k = 0; k < 3; k++) {
		ck_assert(*at == '>');
		ck_assert_int_eq(read_record(&at, tok, 128), 88);
		for (int i = 8; i < 88; i++)
			ck_assert_int_ne(tok[i], 11);
	}
	ck_assert(*at == 0);
	free(g1);
	free(g2);
	free(s1);
	free(s2);
	free(s3);
}
END_TEST

static void refused(const char *const *args, const char *needle)
{
	RunResult r;
	const char *out = tu_path(tu_tmpdir(), "refused.fa");
	const char *av[24] = {"generate", "-o", out};
	int n = 3;
	for (; *args; args++)
		av[n++] = *args;
	av[n] = NULL;
	unlink(out);
	tu_run(&r, exe_small(), av);
	ck_assert_msg(r.status == 2, "exit %d, want 2: %s", r.status, r.err);
	ck_assert_msg(tu_lines(r.err) == 1, "want one line: %s", r.err);
	ck_assert_msg(strstr(r.err, needle), "'%s' not in: %s", needle, r.err);
	ck_assert(access(out, F_OK) != 0);
}

START_TEST(bad_usage)
{
	char longp[97];
	memset(longp, 'A', 90);
	longp[90] = 0;
	refused((const char *[]){"--prompt", longp, "--max-new", "10", NULL},
	        "more than the 96");
	const char *fa = tu_write_str("long.fa", ">x\nACGTACGTAC\n");
	refused((const char *[]){"--prompt-fasta", fa, "--max-new", "90", NULL},
	        "more than the 96");
	refused((const char *[]){"--prompt", "ACGT", "--max-new", "93", NULL},
	        "more than the 96");
	refused((const char *[]){"--prompt", "ACGX", NULL}, "'X'");
	refused((const char *[]){"--prompt", "ACG", "--allowed", "AZ", NULL},
	        "'Z'");
	refused((const char *[]){"--prompt", "ACG", "--top-k", "9", NULL},
	        "--top-k");
	refused((const char *[]){"--prompt", "ACG", "--temperature", "-1",
	                         NULL},
	        "--temperature");
	refused((const char *[]){NULL}, "--prompt");
	/* a binary without a decode step */
	RunResult r;
	const char *exe = compile(tu_golden("tiny-1k", NULL), "gen-O0",
	                          (const char *[]){"--seq-len", "96", "-O0",
	                                           NULL});
	tu_run(&r, exe, (const char *[]){"generate", "--prompt", "ACGT", "-o",
	                                 tu_path(tu_tmpdir(), "o0.fa"), NULL});
	ck_assert_msg(r.status == 2 && tu_lines(r.err) == 1 &&
	              strstr(r.err, "decode step"), "%d: %s", r.status, r.err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("generate");
	TCase *tc = tcase_create("generate");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, interp_golden_tiny);
	tcase_add_test(tc, interp_golden_order3);
	tcase_add_test(tc, interp_random_model);
	tcase_add_test(tc, no_step_unfused);
	tcase_add_test(tc, binary_tiny_fft);
	tcase_add_test(tc, binary_tiny_direct);
	tcase_add_test(tc, binary_order3);
	tcase_add_test(tc, binary_random);
	tcase_add_test(tc, binary_long_prompt);
	tcase_add_test(tc, carry_vs_direct);
	tcase_add_test(tc, library);
	tcase_add_test(tc, reproducible);
	tcase_add_test(tc, bad_usage);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
