/*
 * gemm_ratio.c - hyenac's generated projection kernels against OpenBLAS
 * cblas_sgemm on the same shapes, in one process, side by side.
 *
 *   gemm_ratio [--batch B] [--seq-len L] [--d-model D]... [--reps R]
 *              [--target-cpu CPU]
 *   gemm_ratio --blas-core      (the core OpenBLAS runs for, and exit)
 *   gemm_ratio --write-objects DIR [--batch B] [--seq-len L] [--d-model D]...
 *              [--target-cpu CPU]
 *   gemm_ratio_run DIR [--reps R]
 *   gemm_ratio_run DIR --blas-core
 *
 * The second form times nothing: it writes each kernel graph's object
 * (DIR/D-S-W.o, spec S, W 1 with the op and 0 the embeds alone), its
 * weight blob (.bin) and DIR/manifest, for a machine without LLVM 19:
 * bench/gemm_ratio-aot.sh links each object into a shared library there
 * and gemm_ratio_run (this file built with GEMM_RATIO_RUN: no codegen, no
 * LLVM) loads them with dlopen and times them as the JIT form does.
 *
 * For each d_model D (default 128 and 256) and each projection of a
 * HyenaDNA layer (M = B L rows, y[M,N] = x[M,K] w[N,K]^T):
 *
 *   in_proj   N = 3D, K = D   fused_proj {ln, bias, conv=3, gate} (as fuse
 *                             makes it) and the bare linear
 *   out_proj  N = D,  K = D   fused_proj {bias, res} and the bare linear
 *   fc1       N = 4D, K = D   linear + bias
 *   fc2       N = D,  K = 4D  linear + bias
 *   mlp       fc1 + fc2       fused_mlp {ln, gelu_tanh, bias, res} against
 *                             the two sgemm calls
 *   head      N = 16, K = D   fused_proj {ln} (entry logits) and linear
 *
 * the kernel is a one-op graph (tokens -> embed -> op) compiled by cg_emit
 * for the target and run through the JIT (hyenac_run, one thread). Its
 * time is the graph's less that of the same graph without the op (the
 * embeds alone), so what is left is the kernel with its fused work. Each
 * repetition runs OpenBLAS, the op graph and the embed graph in turn, each
 * timed by the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID: both sides run
 * on the calling thread, and on a shared machine the time slices other
 * processes take are left out); the figures are the best of R, GFLOP/s count 2 M N K (the GEMM alone; the
 * fused work is overhead), and ratio = blas_ms / hy_ms (1.0: as fast as
 * OpenBLAS, above: faster).
 *
 * Not a test: it asserts nothing. bench/gemm_ratio.sh builds and runs it
 * with OpenBLAS left to pick its own kernels.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef GEMM_RATIO_RUN
#include <dlfcn.h>
#include <stdint.h>

#include "runtime/hyrt.h"
#else
#include "codegen/codegen.h"
#endif

void openblas_set_num_threads(int);
char *openblas_get_corename(void);

typedef void (*RunFn)(const float *, const int32_t *, int64_t, int64_t,
                      float *const *, void *);
typedef size_t (*ScratchFn)(int64_t, int64_t);

enum { VOCAB = 16, MAXD = 8 };

typedef enum { K_LINEAR, K_FPROJ_IN, K_FPROJ_OUT, K_MLP, K_FPROJ_HEAD } Kind;

typedef struct Spec {
	const char *name, *form;
	Kind kind;
	int nmul, kmul; /* N = nmul D (or 16 when 0), K = kmul D */
} Spec;

static const Spec specs[] = {
    {"in_proj", "fused", K_FPROJ_IN, 3, 1},
    {"in_proj", "linear", K_LINEAR, 3, 1},
    {"out_proj", "fused", K_FPROJ_OUT, 1, 1},
    {"out_proj", "linear", K_LINEAR, 1, 1},
    {"fc1", "linear", K_LINEAR, 4, 1},
    {"fc2", "linear", K_LINEAR, 1, 4},
    {"mlp", "fused", K_MLP, 4, 1},
    {"head", "fused", K_FPROJ_HEAD, 0, 1},
    {"head", "linear", K_LINEAR, 0, 1},
};

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e3 + 1e-6 * (double)t.tv_nsec;
}

static float frand(uint64_t *s) /* [-1, 1) */
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (float)((double)(*s >> 11) / 4503599627370496.0 - 1.0);
}

static void *xalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
	if (!p) {
		fprintf(stderr, "gemm_ratio: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

#ifndef GEMM_RATIO_RUN
typedef struct Bench {
	Arena *a;
	Graph *g;
	Node *tok;
	uint64_t rng;
} Bench;

static Node *weight(Bench *b, const char *name, int rank, int64_t d0,
                    int64_t d1, double scale, double offset)
{
	Node *n = ir_add(b->g, OP_WEIGHT, name, 0, NULL);
	size_t cnt;

	n->type = (TensorType){DT_F32, rank, {d0, d1}};
	n->sattr = name;
	HY_ASSERT(ir_type_numel(&n->type, 0, 0, &cnt));
	float *x = arena_alloc(b->a, cnt * sizeof *x);
	for (size_t i = 0; i < cnt; i++)
		x[i] = (float)(offset + scale * frand(&b->rng));
	n->data = x;
	return n;
}

static Node *embed(Bench *b, const char *name, int64_t C)
{
	Node *t = weight(b, arena_printf(b->a, "%s.table", name), 2, VOCAB, C,
	                 1.0, 0);
	return ir_add(b->g, OP_EMBED, name, 2, (Node *[]){t, b->tok});
}

/* The graph of one spec at d_model D: with_op false gives the embeds
 * alone (each an output), the baseline the op's time is measured over. */
static Graph *build(Bench *b, const Spec *s, int64_t D, int64_t maxlen,
                    bool with_op)
{
	int64_t N = s->nmul ? s->nmul * D : 16, K = s->kmul * D;
	double ws = 1.0 / sqrt((double)K);

	b->a = arena_new();
	b->g = ir_graph_new(b->a, s->name);
	b->g->max_len = maxlen;
	b->rng = 0x9e3779b97f4a7c15ULL;
	b->tok = ir_add(b->g, OP_INPUT, "tokens", 0, NULL);
	b->tok->type = (TensorType){DT_I32, 2, {DIM_B, DIM_L}};
	Node *x = embed(b, "x", K);
	Node *res = s->kind == K_FPROJ_OUT || s->kind == K_MLP
	                ? embed(b, "res", s->kind == K_MLP ? D : N)
	                : NULL;
	if (!with_op) {
		ir_add_output(b->g, "x", x);
		if (res)
			ir_add_output(b->g, "res", res);
		return b->g;
	}
	Node *src[8], *n = NULL;
	int ns = 0;
	src[ns++] = x;
	switch (s->kind) {
	case K_LINEAR:
		src[ns++] = weight(b, "w", 2, N, K, ws, 0);
		if (s->nmul)
			src[ns++] = weight(b, "b", 1, N, 0, 0.5, 0);
		n = ir_add(b->g, OP_LINEAR, "y", ns, src);
		break;
	case K_FPROJ_IN:
	case K_FPROJ_OUT:
	case K_FPROJ_HEAD: {
		bool in = s->kind == K_FPROJ_IN, out = s->kind == K_FPROJ_OUT;
		src[ns++] = weight(b, "w", 2, N, K, ws, 0);
		if (!(s->kind == K_FPROJ_HEAD))
			src[ns++] = weight(b, "b", 1, N, 0, 0.5, 0);
		if (!out) {
			src[ns++] = weight(b, "g", 1, K, 0, 0.5, 1);
			src[ns++] = weight(b, "be", 1, K, 0, 0.5, 0);
		}
		if (in) {
			src[ns++] = weight(b, "cw", 2, N, 3, 0.5, 0);
			src[ns++] = weight(b, "cb", 1, N, 0, 0.5, 0);
		}
		if (out)
			src[ns++] = res;
		n = ir_add(b->g, OP_FUSED_PROJ, "y", ns, src);
		n->iattr[FP_BIAS] = s->kind != K_FPROJ_HEAD;
		n->iattr[FP_LN] = !out;
		n->iattr[FP_CONV] = in ? 3 : 0;
		n->iattr[FP_CONV_BIAS] = in;
		n->iattr[FP_RES] = out;
		n->iattr[FP_GATE] = in;
		n->fattr[0] = out ? 0 : 1e-5;
		break;
	}
	case K_MLP:
		src[ns++] = weight(b, "w1", 2, N, K, ws, 0);
		src[ns++] = weight(b, "b1", 1, N, 0, 0.5, 0);
		src[ns++] = weight(b, "g", 1, K, 0, 0.5, 1);
		src[ns++] = weight(b, "be", 1, K, 0, 0.5, 0);
		src[ns++] = weight(b, "w2", 2, D, N, 1.0 / sqrt((double)N), 0);
		src[ns++] = weight(b, "b2", 1, D, 0, 0.5, 0);
		src[ns++] = res;
		n = ir_add(b->g, OP_FUSED_MLP, "y", ns, src);
		n->iattr[FM_BIAS] = n->iattr[FM_LN] = n->iattr[FM_BIAS2] = 1;
		n->iattr[FM_ACT] = FP_ACT_GELU_TANH;
		n->iattr[FM_RES] = 1;
		n->fattr[0] = 1e-5;
		break;
	}
	ir_add_output(b->g, "y", n);
	return b->g;
}

#endif

typedef struct Prog {
	RunFn run;
	void *blob, *scratch;
	float *outs[2];
#ifdef GEMM_RATIO_RUN
	void *dl;
#else
	Bench b;
	CgJit *j;
#endif
} Prog;

/* The objects' file names and the manifest's: one line "B L D" per
 * d_model, then per kernel graph "D S W blob_bytes out0 out1". */
static char *obj_path(const char *dir, int64_t D, size_t si, bool with_op,
                      const char *ext)
{
	static char buf[4096];
	snprintf(buf, sizeof buf, "%s/%lld-%zu-%d.%s", dir, (long long)D, si,
	         (int)with_op, ext);
	return buf;
}

static void prog_outs(Prog *p, const size_t cnt[2])
{
	for (int i = 0; i < 2; i++)
		p->outs[i] = xalloc(cnt[i] * sizeof(float));
}

#ifdef GEMM_RATIO_RUN
static FILE *manifest; /* gemm_ratio_run reads it line by line */

static void prog_open(Prog *p, const char *dir, int64_t D, size_t si,
                      bool with_op, int64_t B, int64_t L)
{
	long long d;
	size_t s, bytes, cnt[2];
	int w;
	if (fscanf(manifest, "%lld %zu %d %zu %zu %zu", &d, &s, &w, &bytes,
	           &cnt[0], &cnt[1]) != 6 ||
	    d != D || s != si || w != (int)with_op) {
		fprintf(stderr, "gemm_ratio_run: %s/manifest: kernel %lld-%zu-%d "
		        "not where expected\n", dir, (long long)D, si,
		        (int)with_op);
		exit(1);
	}
	p->dl = dlopen(obj_path(dir, D, si, with_op, "so"), RTLD_NOW | RTLD_LOCAL);
	if (!p->dl) {
		fprintf(stderr, "gemm_ratio_run: %s\n", dlerror());
		exit(1);
	}
	p->run = (RunFn)dlsym(p->dl, "hyenac_run");
	ScratchFn sb = (ScratchFn)dlsym(p->dl, "hyenac_scratch_bytes");
	const char *bin = obj_path(dir, D, si, with_op, "bin");
	FILE *f = fopen(bin, "rb");
	p->blob = xalloc(bytes);
	if (!p->run || !sb || !f || fread(p->blob, 1, bytes, f) != bytes) {
		fprintf(stderr, "gemm_ratio_run: %s: missing or short\n", bin);
		exit(1);
	}
	fclose(f);
	p->scratch = xalloc(sb(B, L));
	prog_outs(p, cnt);
}

static void prog_close(Prog *p)
{
	dlclose(p->dl);
	free(p->blob), free(p->scratch), free(p->outs[0]), free(p->outs[1]);
}
#else
/* The graph of spec s at D emitted for the target: its module, with the
 * packed weights in p->blob (w their layout) and the outputs' sizes in
 * cnt; exits on an error. */
static CgModule *emit(Prog *p, const Spec *s, int64_t D, int64_t B,
                      int64_t L, const char *cpu, bool with_op, CgWeights *w,
                      size_t cnt[2])
{
	Diag d;
	CgOptions o = {.cpu = cpu, .opt_level = 3};
	Graph *g = build(&p->b, s, D, L, with_op);

	diag_init(&d);
	if (!ir_infer_graph(g, &d) || !ir_verify(g, &d)) {
		fprintf(stderr, "gemm_ratio: %s\n", d.msg);
		exit(1);
	}
	cg_layout_weights(g, p->b.a, w);
	p->blob = xalloc(w->bytes);
	cg_pack_weights(g, w, p->blob);
	cnt[0] = cnt[1] = 0;
	for (int i = 0; i < g->noutputs && i < 2; i++)
		HY_ASSERT(ir_type_numel(&g->outputs[i].node->type, B, L, &cnt[i]));
	CgModule *m = cg_emit(g, w, &o, NULL, &d);
	if (!m) {
		fprintf(stderr, "gemm_ratio: %s\n", d.msg);
		exit(1);
	}
	return m;
}

/* The kernel graph's object, blob and manifest line, into dir. */
static void prog_write(const Spec *s, int64_t D, int64_t B, int64_t L,
                       const char *cpu, bool with_op, const char *dir,
                       FILE *man)
{
	Prog p;
	CgWeights w;
	size_t cnt[2], si = (size_t)(s - specs);
	Diag d;
	CgModule *m = emit(&p, s, D, B, L, cpu, with_op, &w, cnt);
	const char *bin = obj_path(dir, D, si, with_op, "bin");
	FILE *f = fopen(bin, "wb");
	bool ok = f && fwrite(p.blob, 1, w.bytes, f) == w.bytes;

	if (f && fclose(f))
		ok = false;
	if (!ok) {
		fprintf(stderr, "gemm_ratio: %s: cannot write\n", bin);
		exit(1);
	}
	diag_init(&d);
	ok = cg_write_object(m, obj_path(dir, D, si, with_op, "o"), &d);
	cg_free(m);
	if (!ok) {
		fprintf(stderr, "gemm_ratio: %s\n", d.msg);
		exit(1);
	}
	fprintf(man, "%lld %zu %d %zu %zu %zu\n", (long long)D, si, (int)with_op,
	        w.bytes, cnt[0], cnt[1]);
	free(p.blob);
	arena_free(p.b.a);
}

/* The kernel graph compiled through the JIT, ready to run. */
static void prog_open(Prog *p, const Spec *s, int64_t D, int64_t B,
                      int64_t L, const char *cpu, bool with_op)
{
	Diag d;
	CgWeights w;
	size_t cnt[2];
	CgModule *m = emit(p, s, D, B, L, cpu, with_op, &w, cnt);

	diag_init(&d);
	p->j = cg_jit(m, &d);
	if (!p->j) {
		fprintf(stderr, "gemm_ratio: %s\n", d.msg);
		exit(1);
	}
	p->run = (RunFn)cg_jit_lookup(p->j, "hyenac_run");
	ScratchFn sb = (ScratchFn)cg_jit_lookup(p->j, "hyenac_scratch_bytes");
	p->scratch = xalloc(sb(B, L));
	prog_outs(p, cnt);
}

static void prog_close(Prog *p)
{
	cg_jit_free(p->j);
	free(p->blob), free(p->scratch), free(p->outs[0]), free(p->outs[1]);
	arena_free(p->b.a);
}
#endif

static double best(double a, double b)
{
	return a < b ? a : b;
}

static void usage(void)
{
#ifdef GEMM_RATIO_RUN
	fprintf(stderr, "usage: gemm_ratio_run DIR [--reps R | --blas-core]\n");
#else
	fprintf(stderr, "usage: gemm_ratio [--batch B] [--seq-len L] "
	                "[--d-model D]... [--reps R] [--target-cpu CPU] "
	                "[--write-objects DIR]\n");
#endif
	exit(2);
}

/* One kernel against OpenBLAS on its shape, best of reps; prints a row. */
static void measure(const Spec *s, int64_t D, int64_t B, int64_t L,
                    long reps, const int32_t *tok, Prog *op, Prog *base)
{
	int64_t M = B * L, N = s->nmul ? s->nmul * D : 16, K = s->kmul * D;
	/* OpenBLAS on the same shapes (both GEMMs for mlp) */
	int64_t n2 = s->kind == K_MLP ? D : 0;
	float *x = xalloc((size_t)(M * K) * 4);
	float *w = xalloc((size_t)(N * K) * 4);
	float *y = xalloc((size_t)(M * N) * 4);
	float *w2 = xalloc((size_t)(n2 * N) * 4);
	float *y2 = xalloc((size_t)(M * n2) * 4);
	uint64_t r = 1;
	for (int64_t i = 0; i < M * K; i++)
		x[i] = frand(&r);
	for (int64_t i = 0; i < N * K; i++)
		w[i] = frand(&r);
	for (int64_t i = 0; i < n2 * N; i++)
		w2[i] = frand(&r);
	double tb = INFINITY, to = INFINITY, t0 = INFINITY;
	for (long rep = -1; rep < reps; rep++) { /* -1: warm-up */
		double t = now_ms();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N,
		            (int)K, 1.0f, x, (int)K, w, (int)K, 0.0f, y, (int)N);
		if (n2)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M,
			            (int)n2, (int)N, 1.0f, y, (int)N, w2, (int)N, 0.0f,
			            y2, (int)n2);
		double t1 = now_ms();
		op->run(op->blob, tok, B, L, op->outs, op->scratch);
		double t2 = now_ms();
		base->run(base->blob, tok, B, L, base->outs, base->scratch);
		double t3 = now_ms();
		if (rep >= 0) {
			tb = best(tb, t1 - t), to = best(to, t2 - t1);
			t0 = best(t0, t3 - t2);
		}
	}
	double flop = 2.0 * (double)M * (double)N * (double)K * (n2 ? 2 : 1);
	double hy = to - t0;
	printf("%-4lld %-9s %-7s %6lld %5lld %5lld %9.3f %9.3f %8.1f %8.1f "
	       "%6.2f\n",
	       (long long)D, s->name, s->form, (long long)M, (long long)N,
	       (long long)K, hy, tb, flop / hy * 1e-6, flop / tb * 1e-6,
	       tb / hy);
	fflush(stdout);
	free(x), free(w), free(y), free(w2), free(y2);
}

static void header(long B, long L, long reps, const char *cpu)
{
	printf("# gemm_ratio: %ld x %ld rows, one thread, best of %ld; "
	       "target %s; OpenBLAS core %s\n", B, L, reps, cpu,
	       openblas_get_corename());
	printf("%-4s %-9s %-7s %6s %5s %5s %9s %9s %8s %8s %6s\n", "D",
	       "kernel", "form", "M", "N", "K", "hy_ms", "blas_ms", "hy_GF/s",
	       "blas_GF", "ratio");
}

static int32_t *tokens(int64_t M)
{
	int32_t *tok = xalloc((size_t)M * sizeof *tok);
	for (int64_t i = 0; i < M; i++)
		tok[i] = (int32_t)((i * 7) % VOCAB);
	return tok;
}

enum { NSPEC = sizeof specs / sizeof specs[0] };

#ifdef GEMM_RATIO_RUN
int main(int argc, char **argv)
{
	long B, L, reps = 7, nd;
	long long dms[MAXD];
	char cpu[256], path[4096];

	if (argc == 3 && !strcmp(argv[2], "--blas-core")) {
		printf("%s\n", openblas_get_corename());
		return 0;
	}
	if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "--reps")))
		usage();
	if (argc == 4 && (reps = atol(argv[3])) < 1)
		usage();
	snprintf(path, sizeof path, "%s/manifest", argv[1]);
	manifest = fopen(path, "r");
	if (!manifest || fscanf(manifest, "%ld %ld %ld %255s", &B, &L, &nd,
	                        cpu) != 4 || B < 1 || L < 1 || nd < 1 ||
	    nd > MAXD) {
		fprintf(stderr, "gemm_ratio_run: %s: missing or bad header\n", path);
		return 1;
	}
	for (long i = 0; i < nd; i++)
		if (fscanf(manifest, "%lld", &dms[i]) != 1) {
			fprintf(stderr, "gemm_ratio_run: %s: bad header\n", path);
			return 1;
		}
	openblas_set_num_threads(1);
	hyrt_set_threads(1);
	int32_t *tok = tokens((int64_t)B * L);
	header(B, L, reps, cpu);
	for (long di = 0; di < nd; di++)
		for (size_t si = 0; si < NSPEC; si++) {
			Prog op, base;
			prog_open(&op, argv[1], dms[di], si, true, B, L);
			prog_open(&base, argv[1], dms[di], si, false, B, L);
			measure(&specs[si], dms[di], B, L, reps, tok, &op, &base);
			prog_close(&op);
			prog_close(&base);
		}
	free(tok);
	fclose(manifest);
	return 0;
}
#else
int main(int argc, char **argv)
{
	long B = 8, L = 1024, reps = 7;
	long dms[MAXD];
	int nd = 0;
	const char *cpu = NULL, *dir = NULL;

	if (argc == 2 && !strcmp(argv[1], "--blas-core")) {
		printf("%s\n", openblas_get_corename());
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(a, "--batch"))
			B = atol(v);
		else if (!strcmp(a, "--seq-len"))
			L = atol(v);
		else if (!strcmp(a, "--reps"))
			reps = atol(v);
		else if (!strcmp(a, "--d-model") && nd < MAXD)
			dms[nd++] = atol(v);
		else if (!strcmp(a, "--target-cpu"))
			cpu = v;
		else if (!strcmp(a, "--write-objects"))
			dir = v;
		else
			usage();
		i++;
	}
	if (B < 1 || L < 1 || reps < 1)
		usage();
	if (!nd) {
		dms[nd++] = 128;
		dms[nd++] = 256;
	}
	openblas_set_num_threads(1);
	hyrt_set_threads(1);
	FILE *man = NULL;
	if (dir) {
		char path[4096];
		snprintf(path, sizeof path, "%s/manifest", dir);
		if (!(man = fopen(path, "w"))) {
			fprintf(stderr, "gemm_ratio: %s: cannot write\n", path);
			return 1;
		}
		fprintf(man, "%ld %ld %d %s", B, L, nd, cpu ? cpu : "host");
		for (int di = 0; di < nd; di++)
			fprintf(man, " %ld", dms[di]);
		fprintf(man, "\n");
	}
	int32_t *tok = tokens((int64_t)B * L);
	if (!dir)
		header(B, L, reps, cpu ? cpu : "host");
	for (int di = 0; di < nd; di++)
		for (size_t si = 0; si < NSPEC; si++) {
			if (dir) { /* written, not run */
				prog_write(&specs[si], dms[di], B, L, cpu, true, dir, man);
				prog_write(&specs[si], dms[di], B, L, cpu, false, dir, man);
				continue;
			}
			Prog op, base;
			prog_open(&op, &specs[si], dms[di], B, L, cpu, true);
			prog_open(&base, &specs[si], dms[di], B, L, cpu, false);
			measure(&specs[si], dms[di], B, L, reps, tok, &op, &base);
			prog_close(&op);
			prog_close(&base);
		}
	free(tok);
	if (man && fclose(man)) {
		fprintf(stderr, "gemm_ratio: %s/manifest: cannot write\n", dir);
		return 1;
	}
	return 0;
}
#endif
