/*
 * test_gpu.c - the GPU target's code generation (codegen/nvptx/), on a
 * machine without a GPU:
 *
 *  - the kernels themselves, run: the same kernels emitted for the host
 *    (CgOptions.gpu_emulate) and run in the JIT by a small emulator of
 *    CUDA's execution model (every block's threads as coroutines, so
 *    barriers and warp shuffles behave as on the device), walking the
 *    plan as runtime/hygpu.h says, with FFTW in cuFFT's place; outputs
 *    against the golden checkpoints (to 2e-4) and chunked runs against
 *    whole ones;
 *  - the plan of a real NVPTX compilation: every kernel index valid,
 *    groups within their entry, the forward-type entries present and no
 *    prefill/step, the arena regions the CPU plan's;
 *  - the driver: --target, --emit ptx and what the GPU target refuses.
 */
#include "testutil.h"

#include "codegen/backend.h"
#include "codegen/nvptx/tcgemm.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/hygpu.h"
#include "runtime/npy.h"

#include <fftw3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a graph as the driver makes it ----------------------------------- */

/* The model stays open (its weights are mapped) until the arena's
 * cleanup: models[] closes them at the end of each test. */
static Model *models[8];
static int nmodels;

static void close_models(void)
{
	while (nmodels > 0)
		fe_model_close(models[--nmodels]);
}

static Graph *load_graph_opts(Arena *a, const char *model, bool gpu,
                              bool fuse, int64_t fold_limit);

static Graph *load_graph(Arena *a, const char *model, bool gpu)
{
	return load_graph_opts(a, model, gpu, true, PASS_FOLD_LIMIT);
}

/* fuse false: the primitive ops' kernels; fold_limit < 0: the implicit
 * filters made on the device (gated_conv{gen}, pos_emb, sin, ...). */
static Graph *load_graph_opts(Arena *a, const char *model, bool gpu,
                              bool fuse, int64_t fold_limit)
{
	Diag d;
	diag_init(&d);
	Model *m = fe_load_model(a, model, &d);
	ck_assert_msg(m, "%s", d.msg);
	Graph *g = fe_lower(a, m, &d);
	ck_assert_msg(g, "%s", d.msg);
	PassOptions po;
	pass_options_default(&po);
	po.gpu = gpu;
	po.fuse = fuse;
	po.fold_limit = fold_limit;
	if (!gpu)
		po.conv = CONV_FFT;
	ck_assert_msg(pass_pipeline(g, &po, &d), "%s", d.msg);
	ck_assert_int_lt(nmodels, 8);
	models[nmodels++] = m;
	return g;
}

/* ---- the emulator ----------------------------------------------------- */

enum { NT = 256, STACK = 256 << 10 };
typedef void Kernel(void *, void *, void *, void *, void *, int64_t, int64_t,
                    int64_t, int64_t, int64_t);

/* A thread switch without a system call: swapcontext saves and restores
 * the signal mask on every switch, a syscall that some guests (page-table
 * isolation) make slow enough to stretch this test past its timeout. The
 * callee-saved registers go on the thread's own stack, its stack pointer
 * into *from, and the other's is loaded; a new thread's stack is laid
 * out so that its first switch returns into fiber_entry. The kernels do
 * not change the MXCSR or the x87 control word, so they are not kept. */
void emu_switch(void **from, void *to);
__asm__(".text\n"
        ".globl emu_switch\n"
        ".type emu_switch, @function\n"
        "emu_switch:\n"
        "\tpushq %rbp\n\tpushq %rbx\n\tpushq %r12\n"
        "\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n"
        "\tmovq %rsp, (%rdi)\n"
        "\tmovq %rsi, %rsp\n"
        "\tpopq %r15\n\tpopq %r14\n\tpopq %r13\n"
        "\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n"
        "\tret\n"
        ".size emu_switch, .-emu_switch\n");

static struct {
	void *sp;
	int state; /* 0 runnable, 1 at a barrier, 2 at a shuffle, 3 done */
	float sv, res;
	int mask;
} th[NT];
static void *sched;
static int cur, nthreads;
static int64_t cur_block;
static char *stacks;
static Kernel *cur_k;
static void *cur_p[5];
static int64_t cur_i[5];

static int64_t emu_tid(void) { return cur; }
static int64_t emu_bid(void) { return cur_block; }

static void emu_barrier(void)
{
	th[cur].state = 1;
	emu_switch(&th[cur].sp, sched);
}

static float emu_shfl(float v, int32_t mask)
{
	th[cur].sv = v;
	th[cur].mask = mask;
	th[cur].state = 2;
	emu_switch(&th[cur].sp, sched);
	return th[cur].res;
}

/* A thread's first code; it never returns (its stack has no caller). */
static void fiber_entry(void)
{
	cur_k(cur_p[0], cur_p[1], cur_p[2], cur_p[3], cur_p[4], cur_i[0],
	      cur_i[1], cur_i[2], cur_i[3], cur_i[4]);
	th[cur].state = 3;
	emu_switch(&th[cur].sp, sched);
	abort();
}

/* Thread t's stack, laid out for emu_switch's first return: from its
 * 16-aligned top, a null return address for fiber_entry (so that it
 * starts with the stack aligned as after a call), fiber_entry's address
 * for the ret, and six zeros for the registers. */
static void fiber_init(int t)
{
	char *end = stacks + (size_t)(t + 1) * STACK;
	void **sp = (void **)((uintptr_t)end & ~(uintptr_t)15);
	*--sp = NULL;
	*--sp = (void *)(uintptr_t)fiber_entry;
	for (int i = 0; i < 6; i++)
		*--sp = NULL;
	th[t].sp = sp;
}

static void run_block(int64_t b, int threads)
{
	cur_block = b;
	nthreads = threads;
	for (int t = 0; t < threads; t++) {
		fiber_init(t);
		th[t].state = 0;
	}
	for (;;) {
		for (int t = 0; t < threads; t++)
			if (th[t].state == 0) {
				cur = t;
				emu_switch(&sched, th[t].sp);
			}
		int nb = 0, ns = 0, nd = 0;
		for (int t = 0; t < threads; t++) {
			nb += th[t].state == 1;
			ns += th[t].state == 2;
			nd += th[t].state == 3;
		}
		if (nd == threads)
			return;
		if (ns) { /* a warp whose live lanes all shuffle */
			for (int w = 0; w < threads; w += 32) {
				int live = 0, at = 0;
				for (int t = w; t < w + 32 && t < threads; t++) {
					live += th[t].state != 3;
					at += th[t].state == 2;
				}
				if (!at)
					continue;
				ck_assert_int_eq(at, live);
				for (int t = w; t < w + 32 && t < threads; t++) {
					if (th[t].state != 2)
						continue;
					int o = t ^ th[t].mask;
					ck_assert_int_eq(th[o].state, 2);
					th[t].res = th[o].sv;
				}
				for (int t = w; t < w + 32 && t < threads; t++)
					if (th[t].state == 2)
						th[t].state = 0;
			}
			continue;
		}
		ck_assert_int_eq(nb + nd, threads);
		for (int t = 0; t < threads; t++)
			if (th[t].state == 1)
				th[t].state = 0;
	}
}

static void launch(Kernel *k, int64_t blocks, int threads, void **p,
                   const int64_t *iv)
{
	ck_assert_int_le(threads, NT);
	cur_k = k;
	memcpy(cur_p, p, sizeof cur_p);
	memcpy(cur_i, iv, sizeof cur_i);
	for (int64_t b = 0; b < blocks; b++)
		run_block(b, threads);
}

/* In-place R2C / C2R of rows of n floats, n + 2 apart, as cuFFT's. */
static void fft_rows(float *buf, int64_t rows, int64_t n, bool r2c)
{
	int nn = (int)n, w = nn + 2, f = nn / 2 + 1;
	fftwf_plan p = r2c ? fftwf_plan_many_dft_r2c(1, &nn, (int)rows, buf, &w,
	                                              1, w, (fftwf_complex *)buf,
	                                              &f, 1, f, FFTW_ESTIMATE)
	                   : fftwf_plan_many_dft_c2r(1, &nn, (int)rows,
	                                              (fftwf_complex *)buf, &f, 1,
	                                              f, buf, &w, 1, w,
	                                              FFTW_ESTIMATE);
	ck_assert_ptr_nonnull(p);
	fftwf_execute(p);
	fftwf_destroy_plan(p);
}

/* A compiled GPU module in the JIT, with a copy of its plan. */
typedef struct Emu {
	CgJit *j;
	HygpuPlan plan;
	HygpuStep *steps;
	HygpuEntry *entries;
	Kernel **k;
	void *blob;
} Emu;

static void emu_open(Emu *e, Graph *g)
{
	Diag d;
	CgWeights w;
	static const CgGpuEmuHooks hooks = {emu_tid, emu_bid, emu_barrier,
	                                    emu_shfl};

	diag_init(&d);
	memset(e, 0, sizeof *e);
	cg_layout_weights_flat(g, g->arena, &w);
	e->blob = calloc(1, w.bytes + 64);
	cg_pack_weights(g, &w, e->blob);
	/* fft4.c's kernels at every length they can take */
	CgOptions o = {NULL, NULL, 3, NULL, NULL, "sm_90", true, 128};
	CgModule *m = cg_emit(g, &w, &o, NULL, &d);
	ck_assert_msg(m, "%s", d.msg);
	const HygpuPlan *p = cg_gpu_plan(m);
	ck_assert_ptr_nonnull(p);
	/* the pre-split weights and their init steps are the sm_90a
	 * GEMM's (tensor cores), never the emulation's */
	ck_assert_int_eq(p->init_count, 0);
	ck_assert_int_eq(p->weights_extra, 0);
	e->plan = *p;
	e->steps = malloc((size_t)p->nstep * sizeof *e->steps + 1);
	memcpy(e->steps, p->steps, (size_t)p->nstep * sizeof *e->steps);
	e->entries = malloc((size_t)p->nentry * sizeof *e->entries);
	memcpy(e->entries, p->entries, (size_t)p->nentry * sizeof *e->entries);
	size_t len;
	const char *kn = cg_gpu_kernel_names(m, &len);
	char *names = malloc(len + 1);
	memcpy(names, kn, len);
	/* entry names point into the graph or are literals: still valid */
	e->j = cg_jit(m, &d);
	ck_assert_msg(e->j, "%s", d.msg);
	CgGpuEmuHooks *h = cg_jit_lookup(e->j, "hygpu_emu_hooks");
	ck_assert_ptr_nonnull(h);
	*h = hooks;
	e->k = calloc((size_t)e->plan.nkernel, sizeof *e->k);
	const char *s = names;
	for (int64_t i = 0; i < e->plan.nkernel; i++) {
		e->k[i] = (Kernel *)cg_jit_lookup(e->j, s);
		ck_assert_msg(e->k[i], "kernel %s", s);
		s += strlen(s) + 1;
	}
	free(names);
	if (!stacks)
		stacks = malloc((size_t)NT * STACK);
}

static void emu_close(Emu *e)
{
	cg_jit_free(e->j);
	free(e->steps);
	free(e->entries);
	free(e->k);
	free(e->blob);
}

/* Run entry `name` on tokens [B, L]; outs[k] malloc'd. chunk > 0 caps
 * every group's chunk. */
/* Every convolution on cuFFT's way (the runtime's HYENAC_GPU_FFT=cufft),
 * never on fft4.c's kernels, when set. */
static bool emu_cufft;

/* Where emu_run leaves its arena (the caller frees it) instead of
 * freeing it, when set. */
static char **emu_keep_arena;

/* The runtime's kept filter spectra (gpu_run.c), when set: each
 * convolution's spectra of all its channels kept between runs; a run in
 * which every convolution of the entry finds them complete runs neither
 * HYGPU_FILTER nor HYGPU_FILTER_SRC steps (skipped counts the latter). */
enum { EMU_MAX_CONV = 16 };
typedef struct EmuKept {
	float *spec[EMU_MAX_CONV];
	bool complete[EMU_MAX_CONV];
	int skipped;
} EmuKept;
static EmuKept *emu_kept;

static const HygpuEntry *emu_run(Emu *e, const char *name,
                                 const int32_t *tokens, int64_t B, int64_t L,
                                 int64_t chunk_cap, float **outs)
{
	const HygpuPlan *p = &e->plan;
	const HygpuEntry *en = NULL;
	for (int64_t i = 0; i < p->nentry; i++)
		if (strcmp(e->entries[i].name, name) == 0)
			en = &e->entries[i];
	ck_assert_msg(en, "no entry %s", name);
	size_t ab = (size_t)(p->region[0] * B * L + p->region[1] * L +
	                     p->region[2] + p->region[3] * B);
	char *arena = malloc(ab + 64);
	memset(arena, 0xff, ab + 64); /* NaN: a value read before written */
	void *io[1 + IR_MAX_ENTRY_OUT];
	io[0] = (void *)tokens;
	for (int64_t k = 0; k < en->nout; k++) {
		size_t n = (size_t)(en->out_per_token[k] ? en->out_per_token[k] * B * L
		                                         : en->out_per_sample[k] * B);
		outs[k] = malloc(n * 4 + 4);
		memset(outs[k], 0xff, n * 4);
		io[1 + k] = outs[k];
	}
	int64_t i = en->first, end = en->first + en->count;
	bool skip = emu_kept != NULL;
	for (int64_t j = i; j < end && skip; j++)
		if (e->steps[j].op == HYGPU_GROUP && e->steps[j].conv >= 0)
			skip = emu_kept->complete[e->steps[j].conv];
	while (i < end) {
		const HygpuStep *s = &e->steps[i];
		int64_t gcount = 1, units = 1, chunk = 1, n = 0;
		char *work = NULL, *spec = NULL;
		bool grp = s->op == HYGPU_GROUP, have = false;
		if (skip && (s->flags & HYGPU_FILTER_SRC)) {
			emu_kept->skipped++;
			i += grp ? 1 + s->count : 1;
			continue;
		}
		if (grp) {
			gcount = s->count;
			ck_assert_int_le(i + 1 + gcount, end);
			units = s->dim == HYGPU_DIM_ROWS ? B * L : s->units;
			chunk = s->max_chunk < units ? s->max_chunk : units;
			if (chunk_cap > 0 && chunk_cap < chunk)
				chunk = chunk_cap;
			n = s->conv >= 0 ? hygpu_fft_len(L) : 0;
			int64_t per = s->work_per_unit, fix = s->work_fixed;
			if (s->flags & HYGPU_WORK_PER_FFT_ROW) {
				per *= (n + 2) * 4;
				fix *= (n + 2) * 4;
			}
			if (s->flags & HYGPU_WORK_TIMES_B)
				per *= B;
			work = malloc((size_t)(per * chunk + fix) + 64);
			memset(work, 0xff, (size_t)(per * chunk + fix));
			if (s->conv >= 0 && emu_kept) {
				ck_assert_int_lt(s->conv, EMU_MAX_CONV);
				if (!emu_kept->spec[s->conv])
					emu_kept->spec[s->conv] =
					    malloc((size_t)(units * (n + 2) * 4) + 64);
				have = emu_kept->complete[s->conv];
				emu_kept->complete[s->conv] = true;
			} else if (s->conv >= 0) {
				spec = malloc((size_t)(chunk * (n + 2) * 4) + 64);
			}
			i++;
		}
		for (int64_t a = 0; a < units; a += chunk) {
			int64_t cnt = grp ? (units - a < chunk ? units - a : chunk) : 0;
			int64_t aa = grp ? a : 0;
			char *sp = grp && s->conv >= 0 && emu_kept
			               ? (char *)(emu_kept->spec[s->conv] + a * (n + 2))
			               : spec;
			for (int64_t j = i; j < i + gcount; j++) {
				const HygpuStep *t = &e->steps[j];
				if (!hygpu_step_on(t, emu_cufft ? -1 : n) ||
				    (have && (t->flags & HYGPU_FILTER)))
					continue;
				if (t->op == HYGPU_LAUNCH) {
					ck_assert_int_lt(t->kernel, p->nkernel);
					int64_t tot = t->grid[0] * B * L + t->grid[1] * B +
					              t->grid[2] * L + t->grid[3] * cnt +
					              t->grid[4] * cnt * B + t->grid[5];
					int64_t blocks = (tot + t->grid_div - 1) / t->grid_div;
					void *pp[] = {arena, e->blob, io, work, sp};
					int64_t iv[] = {B, L, n, aa, cnt};
					launch(e->k[t->kernel], blocks < 1 ? 1 : blocks,
					       (int)t->threads, pp, iv);
				} else if (t->op == HYGPU_R2C || t->op == HYGPU_C2R) {
					ck_assert(grp && n > 0);
					int64_t rows = t->rows_per_unit * cnt * (t->rows_b ? B : 1);
					float *buf = (float *)(t->buf ? sp : work) +
					             t->off_rows * (n + 2);
					fft_rows(buf, rows, n, t->op == HYGPU_R2C);
				} else {
					ck_abort_msg("a group inside a group");
				}
			}
		}
		free(work);
		free(spec);
		i += gcount;
	}
	if (emu_keep_arena)
		*emu_keep_arena = arena;
	else
		free(arena);
	return en;
}

static void check_out(const float *got, const char *golden_case,
                      const char *file, double tol)
{
	NpyArray ref;
	tu_load_npy(tu_golden(golden_case, file), &ref);
	double err = tu_max_abs_diff(got, ref.data, ref.numel);
	ck_assert_msg(err <= tol, "%s %s: max abs %g > %g", golden_case, file,
	              err, tol);
	npy_free(&ref);
}

static int32_t *golden_tokens(const char *c, int64_t *B, int64_t *L)
{
	NpyArray t;
	tu_load_npy(tu_golden(c, "tokens.npy"), &t);
	*B = t.dim[0];
	*L = t.dim[1];
	return t.data;
}

/* The full forward on the golden tiny-1k, whole and in chunks. */
START_TEST(emu_forward_golden)
{
	Arena *a = arena_new();
	Graph *g = load_graph(a, tu_golden("tiny-1k", ""), true);
	Emu e;
	int64_t B, L;
	int32_t *tok = golden_tokens("tiny-1k", &B, &L);
	float *outs[4], *outc[4];

	emu_open(&e, g);
	const HygpuEntry *en = emu_run(&e, "forward", tok, B, L, 0, outs);
	ck_assert_int_eq(en->nout, 2);
	check_out(outs[0], "tiny-1k", "hidden.npy", 2e-4);
	check_out(outs[1], "tiny-1k", "logits.npy", 2e-4);
	/* chunks that cut batch rows and channel blocks: the same numbers */
	emu_run(&e, "forward", tok, B, L, 100, outc);
	for (int k = 0; k < 2; k++) {
		size_t n = (size_t)(en->out_per_token[k] * B * L);
		ck_assert_double_le(tu_max_abs_diff(outs[k], outc[k], n), 1e-5);
		free(outs[k]);
		free(outc[k]);
	}
	emu_run(&e, "logits", tok, B, L, 0, outs);
	check_out(outs[0], "tiny-1k", "logits.npy", 2e-4);
	free(outs[0]);
	emu_close(&e);
	free(tok);
	close_models();
	arena_free(a);
}
END_TEST

/* The filters generated on the device, and the unfused kernels. */
START_TEST(emu_forward_gen_unfused)
{
	for (int v = 0; v < 2; v++) {
		Arena *a = arena_new();
		Graph *g = load_graph_opts(a, tu_golden("tiny-1k", ""), true, v == 0,
		                           v == 0 ? -1 : PASS_FOLD_LIMIT);
		Emu e;
		int64_t B, L;
		int32_t *tok = golden_tokens("tiny-1k", &B, &L);
		float *outs[4];

		emu_open(&e, g);
		emu_run(&e, "forward", tok, B, L, v == 0 ? 0 : 300, outs);
		check_out(outs[0], "tiny-1k", "hidden.npy", 2e-4);
		check_out(outs[1], "tiny-1k", "logits.npy", 2e-4);
		free(outs[0]);
		free(outs[1]);
		emu_close(&e);
		free(tok);
		close_models();
		arena_free(a);
	}
}
END_TEST

/* The forward of tok [B, L] in the emulator (chunk as emu_run's) held to
 * the reference interpreter's outputs, 2e-4 max abs each; the outputs
 * are left in outs for the caller to free. */
static const HygpuEntry *emu_vs_interp(Emu *e, const Graph *g,
                                       const char *what, const int32_t *tok,
                                       int64_t B, int64_t L, int64_t chunk,
                                       float **outs)
{
	float *ref[4] = {0};
	Diag d;
	diag_init(&d);
	ck_assert_msg(ir_interp(g, tok, B, L, ref, &d), "%s", d.msg);
	const HygpuEntry *en = emu_run(e, "forward", tok, B, L, chunk, outs);
	for (int k = 0; k < en->nout; k++) {
		size_t n = (size_t)(en->out_per_token[k] * B * L);
		double err = tu_max_abs_diff(outs[k], ref[k], n);
		ck_assert_msg(err <= 2e-4, "%s B=%lld L=%lld output %d: %g", what,
		              (long long)B, (long long)L, k, err);
		free(ref[k]);
	}
	return en;
}

/* Odd lengths and L = 1 against the reference interpreter. */
START_TEST(emu_lengths_interp)
{
	Arena *a = arena_new();
	Graph *g = load_graph(a, tu_golden("tiny-1k", ""), true);
	Emu e;
	static const int64_t shapes[][2] = {{2, 1}, {1, 37}, {3, 130}};

	emu_open(&e, g);
	for (size_t si = 0; si < 3; si++) {
		int64_t B = shapes[si][0], L = shapes[si][1];
		int32_t *tok = malloc((size_t)(B * L) * sizeof *tok);
		for (int64_t i = 0; i < B * L; i++)
			tok[i] = 7 + (int32_t)((i * 7 + si) % 5);
		float *outs[4];
		const HygpuEntry *en = emu_vs_interp(&e, g, "tiny-1k", tok, B, L,
		                                     0, outs);
		for (int k = 0; k < en->nout; k++)
			free(outs[k]);
		free(tok);
	}
	emu_close(&e);
	close_models();
	arena_free(a);
}
END_TEST

/* Random models of other widths (d 256, N 768: the 8x8 tiles whole) and
 * a generated filter (small-32k's do not fold) against the reference
 * interpreter. */
START_TEST(emu_models_interp)
{
	static const char *models_[] = {"models/hyenadna-tiny-1k-d256.yaml",
	                                "models/hyenadna-small-32k.yaml"};
	for (int mi = 0; mi < 2; mi++) {
		Arena *a = arena_new();
		Graph *g = load_graph(a, tu_source(models_[mi]), true);
		Emu e;
		int64_t B = 2, L = 100;
		int32_t tok[200];
		for (int64_t i = 0; i < B * L; i++)
			tok[i] = 7 + (int32_t)((i * 3 + mi) % 5);
		float *outs[4], *ref[4] = {0};
		Diag d;
		diag_init(&d);
		emu_open(&e, g);
		ck_assert_msg(ir_interp(g, tok, B, L, ref, &d), "%s", d.msg);
		const HygpuEntry *en = emu_run(&e, "forward", tok, B, L, 64, outs);
		for (int k = 0; k < en->nout; k++) {
			size_t n = (size_t)(en->out_per_token[k] * B * L);
			double err = tu_max_abs_diff(outs[k], ref[k], n);
			ck_assert_msg(err <= 2e-4, "%s output %d: %g", models_[mi], k,
			              err);
			free(outs[k]);
			free(ref[k]);
		}
		emu_close(&e);
		close_models();
		arena_free(a);
	}
}
END_TEST

/* fft4.c's kernels, at the power-of-two length each model is compiled
 * for (nv_fft4_len; M = N1 x N2 with N1 = N2 and N1 = 2 N2), against
 * the reference interpreter and against the same binary on cuFFT's way:
 * lengths that are and are not powers of two, batch rows and chunks of
 * channels that cut the kernels' blocks of 8 and 4 work rows.
 * Lengths whose FFT is another take cuFFT's way (the plan says which). */
START_TEST(emu_fft4)
{
	static const struct {
		const char *model;
		int64_t n4, B, L, chunk;
	} cases[] = {
	    {"tiny-1k", 2048, 2, 1024, 0},   /* M 1024 = 32 x 32 */
	    {"tiny-1k", 2048, 3, 1023, 5},   /* q1 8, q2 4 */
	    {"odd-order3", 1024, 3, 511, 13}, /* M 512 = 32 x 16, D 96 */
	    {"odd-order3", 1024, 1, 512, 0},
	    {"odd-order3", 1024, 2, 450, 0},  /* n 900: cuFFT's way */
	};
	for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
		Arena *a = arena_new();
		Graph *g = load_graph(a, tu_golden(cases[ci].model, ""), true);
		Emu e;
		int64_t B = cases[ci].B, L = cases[ci].L, n4 = cases[ci].n4;
		emu_open(&e, g);
		/* both ways in the plan, each for its lengths */
		int own = 0, other = 0;
		for (int64_t i = 0; i < e.plan.nstep; i++) {
			own += e.steps[i].only_n == n4;
			other += e.steps[i].only_n == -n4;
			ck_assert(e.steps[i].only_n == 0 || e.steps[i].only_n == n4 ||
			          e.steps[i].only_n == -n4);
		}
		ck_assert_int_gt(own, 0);
		ck_assert_int_gt(other, 0);
		bool mine = hygpu_fft_len(L) == n4;
		ck_assert(mine == (L != 450));
		int32_t *tok = malloc((size_t)(B * L) * sizeof *tok);
		for (int64_t i = 0; i < B * L; i++)
			tok[i] = 7 + (int32_t)((i * 5 + ci + i / 11) % 5);
		float *outs[4], *outc[4];
		const HygpuEntry *en = emu_vs_interp(&e, g, cases[ci].model, tok,
		                                     B, L, cases[ci].chunk, outs);
		emu_cufft = true;
		emu_run(&e, "forward", tok, B, L, cases[ci].chunk, outc);
		emu_cufft = false;
		for (int k = 0; k < en->nout; k++) {
			size_t n = (size_t)(en->out_per_token[k] * B * L);
			double two = tu_max_abs_diff(outs[k], outc[k], n);
			ck_assert_msg(two <= 2e-5, "%s B=%lld L=%lld output %d: %g "
			              "from cuFFT's way", cases[ci].model, (long long)B,
			              (long long)L, k, two);
			free(outs[k]);
			free(outc[k]);
		}
		free(tok);
		emu_close(&e);
		close_models();
		arena_free(a);
	}
}
END_TEST

/* A model described in YAML makes its positional features on the
 * device (a checkpoint stores them): pos_emb's cos and sin bands against
 * the interpreter's, row by row, at positions up to 1999 of lmax 32770,
 * where the angle reaches 0.38 rad (a cos series with sin's
 * coefficients was 0.05 off there and passed the shorter runs above),
 * and the forward they feed. */
START_TEST(emu_pos_emb_long)
{
	Arena *a = arena_new();
	const char *path = tu_write_str("pe.yaml",
	    "name: pe\nd_model: 16\nn_layer: 1\nmax_seq_len: 32770\n"
	    "vocab: {size: 12, pad_multiple: 8}\n"
	    "mlp: {d_inner: 32, activation: gelu_tanh}\n"
	    "hyena: {order: 2, short_filter: 3, filter: {emb_dim: 5, "
	    "order: 16, inner_mlps: 2, sin_freq: 10}}\n"
	    "norm_eps: 1.0e-5\nhead: lm\nweights: {seed: 3}\n");
	Graph *g = load_graph_opts(a, path, true, true, -1);
	Emu e;
	enum { L = 2000 };
	int32_t *tok = malloc(L * sizeof *tok);
	for (int64_t i = 0; i < L; i++)
		tok[i] = 7 + (int32_t)((i * 3 + i / 7) % 5);
	float *outs[4], *ref[4] = {0}, *pos[1] = {0};
	char *arena = NULL;
	Diag d;
	diag_init(&d);
	ck_assert_msg(ir_interp(g, tok, 1, L, ref, &d), "%s", d.msg);
	emu_open(&e, g);
	emu_keep_arena = &arena;
	const HygpuEntry *en = emu_run(&e, "forward", tok, 1, L, 0, outs);
	emu_keep_arena = NULL;

	/* the features by the interpreter: a graph of pos_emb alone */
	Node *pn = ir_find(g, "pos");
	ck_assert(pn && pn->op == OP_POS_EMB && pn->region == MEM_POSITION);
	Graph *pg = ir_graph_new(a, "pe");
	pg->max_len = g->max_len;
	Node *p = ir_add(pg, OP_POS_EMB, "pos", 0, NULL);
	memcpy(p->iattr, pn->iattr, sizeof p->iattr);
	p->type = pn->type;
	ir_add_output(pg, "pos", p);
	ck_assert_msg(ir_interp(pg, tok, 1, L, pos, &d), "%s", d.msg);
	const float *got = (const float *)(arena + g->region_bytes[MEM_TOKEN] * L +
	                                   pn->offset * L);
	int64_t E = pn->type.dim[1];
	for (int64_t t = 0; t < L; t++)
		ck_assert_msg(tu_max_abs_diff(got + t * E, pos[0] + t * E,
		                              (size_t)E) <= 1e-6,
		              "pos_emb row %lld: %g %g %g %g %g, want %g %g %g %g %g",
		              (long long)t, got[t * E], got[t * E + 1],
		              got[t * E + 2], got[t * E + 3], got[t * E + 4],
		              pos[0][t * E], pos[0][t * E + 1], pos[0][t * E + 2],
		              pos[0][t * E + 3], pos[0][t * E + 4]);
	for (int k = 0; k < en->nout; k++) {
		size_t n = (size_t)(en->out_per_token[k] * L);
		double err = tu_max_abs_diff(outs[k], ref[k], n);
		ck_assert_msg(err <= 2e-4, "output %d: %g", k, err);
		free(outs[k]);
		free(ref[k]);
	}

	/* with the spectra kept, as the runtime keeps them: the first run
	 * makes them, the second makes neither them nor the filters (the
	 * positional features and the filter MLP, HYGPU_FILTER_SRC), its
	 * arena starting as NaN, and gives the same outputs bit for bit */
	EmuKept kept = {0};
	float *k1[4], *k2[4];
	emu_kept = &kept;
	emu_run(&e, "forward", tok, 1, L, 0, k1);
	ck_assert_int_eq(kept.skipped, 0);
	emu_run(&e, "forward", tok, 1, L, 0, k2);
	emu_kept = NULL;
	ck_assert_int_ge(kept.skipped, 2);
	for (int k = 0; k < en->nout; k++) {
		size_t n = (size_t)(en->out_per_token[k] * L);
		ck_assert_msg(memcmp(k1[k], k2[k], n * 4) == 0,
		              "output %d with the filters skipped differs by %g", k,
		              tu_max_abs_diff(k1[k], k2[k], n));
		free(k1[k]);
		free(k2[k]);
	}
	for (int c = 0; c < EMU_MAX_CONV; c++)
		free(kept.spec[c]);
	free(pos[0]);
	free(arena);
	free(tok);
	emu_close(&e);
	close_models();
	arena_free(a);
}
END_TEST

/* odd-order3: order 3 (gated, not pregated, convolutions), L = 333. */
START_TEST(emu_forward_odd)
{
	Arena *a = arena_new();
	Graph *g = load_graph(a, tu_golden("odd-order3", ""), true);
	Emu e;
	int64_t B, L;
	int32_t *tok = golden_tokens("odd-order3", &B, &L);
	float *outs[4];

	emu_open(&e, g);
	emu_run(&e, "forward", tok, B, L, 0, outs);
	check_out(outs[0], "odd-order3", "hidden.npy", 2e-4);
	check_out(outs[1], "odd-order3", "logits.npy", 2e-4);
	free(outs[0]);
	free(outs[1]);
	emu_close(&e);
	free(tok);
	close_models();
	arena_free(a);
}
END_TEST

/* The classifier's entry, pooled (against the golden hidden states) and
 * hidden_states on tiny-1k-cls. */
START_TEST(emu_entries_cls)
{
	Arena *a = arena_new();
	Graph *g = load_graph(a, tu_golden("tiny-1k-cls", ""), true);
	Emu e;
	int64_t B, L;
	int32_t *tok = golden_tokens("tiny-1k-cls", &B, &L);
	float *outs[IR_MAX_ENTRY_OUT];
	NpyArray h;

	emu_open(&e, g);
	emu_run(&e, "classify", tok, B, L, 0, outs);
	check_out(outs[0], "tiny-1k-cls", "cls_logits.npy", 2e-4);
	free(outs[0]);
	tu_load_npy(tu_golden("tiny-1k-cls", "hidden.npy"), &h);
	int64_t D = h.dim[2];
	float *mean = calloc((size_t)(B * D), 4), *last = calloc((size_t)(B * D), 4);
	const float *hd = h.data;
	for (int64_t b = 0; b < B; b++)
		for (int64_t d = 0; d < D; d++) {
			double s = 0;
			for (int64_t t = 0; t < L; t++)
				s += hd[(b * L + t) * D + d];
			mean[b * D + d] = (float)(s / (double)L);
			last[b * D + d] = hd[(b * L + L - 1) * D + d];
		}
	const HygpuEntry *en = emu_run(&e, "pooled", tok, B, L, 0, outs);
	for (int k = 0; k < en->nout; k++) {
		const char *nm = g->entries[0].name; /* for the message only */
		(void)nm;
		ck_assert_int_eq(en->out_per_sample[k], D);
	}
	ck_assert_double_le(tu_max_abs_diff(outs[0], mean, (size_t)(B * D)), 2e-4);
	ck_assert_double_le(tu_max_abs_diff(outs[1], last, (size_t)(B * D)), 2e-4);
	free(outs[0]);
	free(outs[1]);
	en = emu_run(&e, "hidden_states", tok, B, L, 0, outs);
	ck_assert_double_le(tu_max_abs_diff(outs[en->nout - 1], hd, h.numel),
	                    2e-4);
	for (int k = 0; k < en->nout; k++)
		free(outs[k]);
	free(mean);
	free(last);
	npy_free(&h);
	emu_close(&e);
	free(tok);
	close_models();
	arena_free(a);
}
END_TEST

/* ---- the plan of a real NVPTX compilation ----------------------------- */

START_TEST(plan_tables)
{
	static const char *cases[] = {"tiny-1k", "tiny-1k-cls", "odd-order3"};
	for (size_t ci = 0; ci < 3; ci++) {
		Arena *a = arena_new();
		Graph *g = load_graph(a, tu_golden(cases[ci], ""), true);
		Graph *gc = load_graph(a, tu_golden(cases[ci], ""), false);
		CgWeights w;
		Diag d;
		diag_init(&d);
		cg_layout_weights_flat(g, a, &w);
		CgOptions o = {NULL, NULL, 3, NULL, NULL, "sm_80", false, 0};
		CgModule *m = cg_emit(g, &w, &o, NULL, &d);
		ck_assert_msg(m, "%s", d.msg);
		const HygpuPlan *p = cg_gpu_plan(m);
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(p->version, HYGPU_PLAN_VERSION);
		ck_assert_str_eq(p->arch, "sm_80");
		/* the GPU's plan is the graph's, rows only; the CPU's writes
		 * each convolution over its planar projection (memplan.c) */
		for (int r = 0; r < HYGPU_REGION_COUNT; r++) {
			ck_assert_int_eq(p->region[r], g->region_bytes[MEM_TOKEN + r]);
			ck_assert_int_le(gc->region_bytes[MEM_TOKEN + r], p->region[r]);
		}
		for (int i = 0; i < g->nnodes; i++)
			ck_assert(!g->nodes[i]->planar);
		size_t len;
		const char *kn = cg_gpu_kernel_names(m, &len);
		int64_t nk = 0;
		for (size_t i = 0; i < len; i++)
			nk += kn[i] == 0;
		ck_assert_int_eq(nk, p->nkernel);
		bool fwd = false, lg = false, pooled = false, hid = false, cls = false;
		int64_t total = 0;
		for (int64_t e = 0; e < p->nentry; e++) {
			const HygpuEntry *en = &p->entries[e];
			ck_assert_str_ne(en->name, "prefill");
			ck_assert_str_ne(en->name, "step");
			fwd |= strcmp(en->name, "forward") == 0 && e == 0;
			lg |= strcmp(en->name, "logits") == 0;
			pooled |= strcmp(en->name, "pooled") == 0;
			hid |= strcmp(en->name, "hidden_states") == 0;
			cls |= strcmp(en->name, "classify") == 0;
			ck_assert_int_eq(en->first, total);
			total += en->count;
			for (int64_t i = en->first; i < en->first + en->count; i++) {
				const HygpuStep *s = &p->steps[i];
				if (s->op == HYGPU_LAUNCH) {
					ck_assert_int_ge(s->kernel, 0);
					ck_assert_int_lt(s->kernel, p->nkernel);
					ck_assert_int_ge(s->grid_div, 1);
					ck_assert_int_ge(s->threads, 32);
				} else if (s->op == HYGPU_GROUP) {
					ck_assert_int_ge(s->count, 1);
					ck_assert_int_le(i + s->count, en->first + en->count - 1);
					ck_assert_int_ge(s->max_chunk, 1);
					ck_assert(s->conv < p->nconv);
					for (int64_t j = i + 1; j <= i + s->count; j++)
						ck_assert_int_ne(p->steps[j].op, HYGPU_GROUP);
				} else {
					ck_assert(s->op == HYGPU_R2C || s->op == HYGPU_C2R);
				}
			}
		}
		ck_assert_int_eq(total, p->nstep);
		ck_assert(fwd && pooled && hid);
		ck_assert(lg || ci == 1);
		ck_assert(cls == (ci == 1));
		cg_free(m);
		close_models();
		arena_free(a);
	}
}
END_TEST

/* hygpu_fft_len: even (an in-place row of n + 2 floats is n / 2 + 1
 * complex values), >= 2 L, and the least 7-smooth such length unless the
 * power of two >= 2 L is at most 1/16 longer, then that power. */
/* The row order of a gated projection's pre-split W on sm_90a
 * (tcg_pair_row), which the GEMM's epilogue relies on: a permutation of
 * the 3D rows that keeps post's D in place and puts, in every 128-column
 * tile after them, channel c's v row at column j and its g row at j + 64
 * (j < 64). */
START_TEST(pair_rows)
{
	static const int64_t Ds[] = {128, 256, 512};
	for (size_t q = 0; q < sizeof Ds / sizeof *Ds; q++) {
		int64_t D = Ds[q], N = 3 * D;
		char *seen = calloc((size_t)N, 1);
		for (int64_t n = 0; n < N; n++) {
			int64_t m = tcg_pair_row(n, D);
			ck_assert(m >= 0 && m < N && !seen[m]);
			seen[m] = 1;
			if (n < D)
				ck_assert_int_eq(m, n);
		}
		for (int64_t t0 = D; t0 < N; t0 += 128)
			for (int64_t j = 0; j < 64; j++) {
				int64_t v = tcg_pair_row(t0 + j, D);
				int64_t g = tcg_pair_row(t0 + 64 + j, D);
				ck_assert(v >= D && v < 2 * D);
				ck_assert_int_eq(g, v + D);
			}
		ck_assert_int_eq(tcg_pair_row(7, 0), 7);
		free(seen);
	}
}
END_TEST

START_TEST(fft_len)
{
	int pow2 = 0;
	for (int64_t L = 1; L <= 70000; L += L < 5000 ? 1 : 997) {
		int64_t n = hygpu_fft_len(L), least = 0, p = 1;
		ck_assert_int_eq(n % 2, 0);
		ck_assert_int_ge(n, 2 * L);
		for (int64_t m = 2 * L; !least; m += 2) {
			int64_t r = m;
			for (int q = 2; q <= 7; q++)
				while (r % q == 0)
					r /= q;
			if (r == 1)
				least = m;
		}
		while (p < 2 * L)
			p *= 2;
		if (p * 16 <= least * 17) {
			ck_assert_int_eq(n, p);
			pow2 += p != least;
		} else {
			ck_assert_int_eq(n, least);
		}
	}
	ck_assert_int_eq(hygpu_fft_len(1000000), 2097152);
	ck_assert_int_eq(hygpu_fft_len(160000), 320000);
	ck_assert_int_eq(hygpu_fft_len(1000), 2048);
	ck_assert_int_eq(hygpu_fft_len(13), 28);
	ck_assert_int_gt(pow2, 0);
}
END_TEST

/* ---- the driver ------------------------------------------------------- */

static void refused(const char *const *args, int status, const char *what)
{
	RunResult r;
	tu_run_hyenac(&r, args);
	ck_assert_int_eq(r.status, status);
	ck_assert_int_eq(tu_lines(r.err), 1);
	ck_assert_msg(strstr(r.err, what), "stderr: %s", r.err);
}

START_TEST(driver_errors)
{
	const char *model = tu_golden("tiny-1k", "");
	const char *out = tu_path(tu_tmpdir(), "gpu.out");
	refused((const char *[]){"compile", model, "-o", out, "--target", "cudda",
	                         NULL},
	        2, "--target takes cpu, cuda or cuda:sm_XX");
	refused((const char *[]){"compile", model, "-o", out, "--target",
	                         "cuda:sm_99", NULL},
	        2, "sm_99");
	refused((const char *[]){"compile", model, "-o", out, "--emit", "ptx",
	                         NULL},
	        2, "--emit ptx is for --target cuda");
	refused((const char *[]){"compile", model, "-o", out, "--target", "cuda",
	                         "--emit", "lib", NULL},
	        2, "--emit lib");
	refused((const char *[]){"compile", model, "-o", out, "--target", "cuda",
	                         "--target-cpu", "skylake", NULL},
	        2, "--target-cpu");
	refused((const char *[]){"compile", model, "-o", out, "--target", "cuda",
	                         "--conv=direct", NULL},
	        2, "--conv=direct");
	refused((const char *[]){"ir", model, "--target", "cuda", NULL}, 2,
	        "--target is for 'compile'");
	ck_assert_ptr_null(tu_read(out, NULL));
}
END_TEST

/* --emit ptx writes PTX for the architecture asked for; --emit obj the
 * host object. */
START_TEST(driver_ptx)
{
	const char *model = tu_golden("tiny-1k", "");
	const char *ptx = tu_path(tu_tmpdir(), "m.ptx");
	const char *obj = tu_path(tu_tmpdir(), "m.hostobj");
	RunResult r;
	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", ptx,
	                                   "--target", "cuda:sm_80", "--emit",
	                                   "ptx", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	char *t = tu_read(ptx, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(strstr(t, ".target sm_80"));
	ck_assert_ptr_nonnull(strstr(t, ".entry hy0_"));
	ck_assert_ptr_null(strstr(t, "call.uni"));
	free(t);
	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", obj,
	                                   "--target", "cuda:sm_90a", "--emit",
	                                   "obj", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	size_t n;
	t = tu_read(obj, &n);
	ck_assert_ptr_nonnull(t);
	ck_assert(n > 4 && memcmp(t, "\177ELF", 4) == 0);
	free(t);

	/* the host object's tables read by C through hygpu.h, against the
	 * plan of the same compilation in this process */
	const char *src = tu_write_str(
	    "reader.c",
	    "#include \"runtime/hygpu.h\"\n#include <stdio.h>\n"
	    "#include <string.h>\nint main(void) {\n"
	    "  const HygpuPlan *p = &hyenac_gpu_plan;\n"
	    "  const char *k = hyenac_gpu_kernels;\n"
	    "  unsigned long long sum = 0;\n"
	    "  for (long long i = 0; i < p->nkernel; i++) k += strlen(k) + 1;\n"
	    "  for (long long i = 0; i < p->nstep; i++) {\n"
	    "    const int64_t *f = (const int64_t *)&p->steps[i];\n"
	    "    for (size_t j = 0; j < sizeof *p->steps / 8; j++)\n"
	    "      sum = sum * 31 + (unsigned long long)f[j];\n  }\n"
	    "  printf(\"%lld %lld %lld %lld %lld %s %d\", (long long)p->version,\n"
	    "         (long long)p->nentry, (long long)p->nstep,\n"
	    "         (long long)p->nkernel, (long long)p->region[0], p->arch,\n"
	    "         strstr(hyenac_gpu_ptx, \".target sm_90\") != 0);\n"
	    "  for (long long i = 0; i < p->nentry; i++)\n"
	    "    printf(\" %s:%lld:%lld:%lld:%lld\", p->entries[i].name,\n"
	    "           (long long)p->entries[i].first,\n"
	    "           (long long)p->entries[i].count,\n"
	    "           (long long)p->entries[i].nout,\n"
	    "           (long long)p->entries[i].out_per_token[0]);\n"
	    "  printf(\" %lld %lld %lld %lld\", (long long)p->weights_base,\n"
	    "         (long long)p->weights_extra, (long long)p->init_first,\n"
	    "         (long long)p->init_count);\n"
	    "  printf(\" %llu\\n\", sum);\n  return 0;\n}\n");
	const char *exe = tu_path(tu_tmpdir(), "reader");
	tu_run(&r, "/usr/bin/cc",
	       (const char *[]){"-I", tu_source(""), "-o", exe, src, obj, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	tu_run(&r, exe, NULL);
	ck_assert_int_eq(r.status, 0);

	Arena *a = arena_new();
	Graph *g = load_graph(a, model, true);
	CgWeights w;
	Diag d;
	diag_init(&d);
	cg_layout_weights_flat(g, a, &w);
	CgOptions o = {NULL, NULL, 3, NULL, NULL, "sm_90a", false, 0};
	CgModule *m = cg_emit(g, &w, &o, NULL, &d);
	ck_assert_msg(m, "%s", d.msg);
	const HygpuPlan *p = cg_gpu_plan(m);
	/* sm_90a's GEMMs read their W pre-split (tcgemm.h), made by an init
	 * step a matrix after the blob: tiny-1k's in_proj, out_proj, fc1 and
	 * fc2 of 2 layers, and the head's twice (with the final norm's
	 * gamma folded in, and without, for the logits of the hidden
	 * states); each is a TF32 high and low part of every element, twice
	 * the matrix (their shapes are whole tiles). The LayerNorm GEMMs
	 * (in_proj, fc1, the head) also get a bias with beta folded in, one
	 * float a column, an init step each; everything rounded up to 256
	 * bytes. */
	int64_t mats = 2 * (384 * 128 + 128 * 128 + 512 * 128 + 128 * 512) +
	               2 * 16 * 128;
	int64_t biases = 2 * (384 * 4 + 512 * 4) + 256;
	ck_assert_int_eq(p->init_count, 2 * 6 + 3);
	ck_assert_int_eq(p->init_first + p->init_count, p->nstep);
	ck_assert_int_eq(p->weights_base, ((int64_t)w.bytes + 255) / 256 * 256);
	ck_assert_int_eq(p->weights_extra, 2 * 4 * mats + biases);
	int nbias = 0;
	for (int64_t i = p->init_first; i < p->nstep; i++) {
		const char *kn = cg_gpu_kernel_names(m, &(size_t){0});
		for (int64_t k = 0; k < p->steps[i].kernel; k++)
			kn += strlen(kn) + 1;
		nbias += strstr(kn, "_bias") != NULL;
		ck_assert_msg(strstr(kn, "_split") || strstr(kn, "_bias"),
		              "init step %lld: %s", (long long)i, kn);
		ck_assert_int_eq(p->steps[i].op, HYGPU_LAUNCH);
	}
	ck_assert_int_eq(nbias, 5);
	/* The LayerNorm GEMMs after the first take their rows' statistics
	 * from the residual GEMM that wrote the rows (kernels.c
	 * nv_plan_parts): one pair a token (tiny-1k's width, 128, is one
	 * column tile) after the token region's tensors, in 16 bytes so
	 * that the regions after keep their alignment; the one statistics
	 * kernel left is the first in_proj's, whose rows the embedding
	 * wrote. */
	ck_assert_int_eq(p->region[HYGPU_REGION_TOKEN],
	                 g->region_bytes[MEM_TOKEN] + 16);
	const char *kn = cg_gpu_kernel_names(m, &(size_t){0});
	int nstats = 0;
	for (int64_t k = 0; k < p->nkernel; k++, kn += strlen(kn) + 1)
		if (strstr(kn, "lnstats")) {
			nstats++;
			ck_assert_msg(strstr(kn, "_l0_short_"), "%s", kn);
		}
	ck_assert_int_eq(nstats, 1);
	char want[4096];
	unsigned long long sum = 0;
	for (long long i = 0; i < p->nstep; i++) {
		const int64_t *f = (const int64_t *)&p->steps[i];
		for (size_t j = 0; j < sizeof *p->steps / 8; j++)
			sum = sum * 31 + (unsigned long long)f[j];
	}
	int at = snprintf(want, sizeof want, "%lld %lld %lld %lld %lld %s %d",
	                  (long long)p->version, (long long)p->nentry,
	                  (long long)p->nstep, (long long)p->nkernel,
	                  (long long)p->region[0], p->arch, 1);
	for (long long i = 0; i < p->nentry; i++)
		at += snprintf(want + at, sizeof want - (size_t)at,
		               " %s:%lld:%lld:%lld:%lld", p->entries[i].name,
		               (long long)p->entries[i].first,
		               (long long)p->entries[i].count,
		               (long long)p->entries[i].nout,
		               (long long)p->entries[i].out_per_token[0]);
	at += snprintf(want + at, sizeof want - (size_t)at, " %lld %lld %lld %lld",
	               (long long)p->weights_base, (long long)p->weights_extra,
	               (long long)p->init_first, (long long)p->init_count);
	snprintf(want + at, sizeof want - (size_t)at, " %llu\n", sum);
	ck_assert_str_eq(r.out, want);
	cg_free(m);
	close_models();
	arena_free(a);
}
END_TEST

/* AddressSanitizer does not follow the emulator's stack switches (false
 * reports), so the sanitized build skips the emulated runs. */
#if defined(__SANITIZE_ADDRESS__)
#define EMULATE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMULATE 0
#endif
#endif
#ifndef EMULATE
#define EMULATE 1
#endif

static Suite *suite(void)
{
	Suite *s = suite_create("gpu");
	TCase *t = tcase_create("emulated");
	tcase_set_timeout(t, 600);
	if (EMULATE) {
		tcase_add_test(t, emu_forward_golden);
		tcase_add_test(t, emu_forward_odd);
		tcase_add_test(t, emu_forward_gen_unfused);
		tcase_add_test(t, emu_lengths_interp);
		tcase_add_test(t, emu_models_interp);
		tcase_add_test(t, emu_pos_emb_long);
		tcase_add_test(t, emu_entries_cls);
	} else {
		fprintf(stderr, "test_gpu: emulated runs skipped: AddressSanitizer "
		                "does not follow its stack switches\n");
	}
	suite_add_tcase(s, t);
	t = tcase_create("fft4");
	tcase_set_timeout(t, 600);
	if (EMULATE)
		tcase_add_test(t, emu_fft4);
	suite_add_tcase(s, t);
	t = tcase_create("plan");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, plan_tables);
	tcase_add_test(t, fft_len);
	tcase_add_test(t, pair_rows);
	tcase_add_test(t, driver_errors);
	tcase_add_test(t, driver_ptx);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
