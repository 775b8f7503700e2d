/*
 * main.c - the hyenac command line. Each command is a flat sequence of
 * phase calls (load, lower, pipeline, run), as QBE's main is; errors from
 * any phase arrive as one Diag line, printed here with the exit code that
 * tells bad input (1) from bad usage (2).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"
#include "frontend/limits.h"
#include "passes/passes.h"
#include "runtime/cpucheck.h"
#include "runtime/hyrt.h"
#include "runtime/memlimit.h"
#include "runtime/npy.h"
#include "runtime/outfile.h"
#include "runtime/tokens.h"

enum { EXIT_INPUT = 1, EXIT_USAGE = 2 };

static const char usage[] =
    "usage: hyenac COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  compile MODEL -o OUT [--seq-len N] [--batch B]\n"
    "          [--emit exe|lib|obj|ll|ir]\n"
    "          [--target-cpu CPU] [--target-features F] [-O0] [--conv=C]\n"
    "          [--mpi] [--precision fp32|bf16]\n"
    "          [--target cpu|cuda|cuda:sm_XX] [--emit ptx]\n"
    "        compile MODEL to a self-contained executable (weights packed\n"
    "        inside; run 'OUT --help'), an object file, LLVM IR or hyenac\n"
    "        IR, or (lib) a shared library with hyenac_model.h beside it.\n"
    "        --seq-len is the longest input it takes (default: the\n"
    "        model's max_seq_len); any batch size runs\n"
    "  run MODEL embed|logits|classify --tokens T.npy -o OUT.npy [--interp]\n"
    "          [--precision fp32|bf16]\n"
    "        compile MODEL in-process (JIT) and run it; T.npy holds token\n"
    "        ids [B, L]; embed writes float32 [B, L, d_model] (after the\n"
    "        final norm), logits float32 [B, L, vocab], classify (a\n"
    "        fine-tuned classifier) float32 [B, num_labels]. --interp\n"
    "        runs the reference interpreter instead. embed --layer K|all:\n"
    "        HF's hidden_states[K] (0 the embeddings, K after block K,\n"
    "        n_layer+1 the final norm) or all of them [B, n_layer+2, L, d]\n"
    "  ir MODEL [--dot] [--plan-svg F.svg]\n"
    "        print the model's IR after the pass pipeline; --dot prints it\n"
    "        as Graphviz (render: dot -Tsvg), fused ops as clusters of the\n"
    "        steps they absorbed, each node with its shape and planned\n"
    "        region @ offset; --plan-svg writes the memory plan as an SVG\n"
    "        liveness chart (x: node order, y: offset, a box per buffer)\n"
    "  info MODEL\n"
    "        load and verify MODEL and print a summary\n"
    "  opt --pass=PASS FILE.ir [--dot]\n"
    "        run one pass on IR in text form and print the result\n"
    "\n"
    "MODEL is a description (models/NAME.yaml) or a HuggingFace HyenaDNA\n"
    "checkpoint directory (config.json + model.safetensors).\n"
    "-o OUT appears whole or not at all; a symlink is followed; an input or\n"
    "a non-regular file (a device, FIFO, directory) is never replaced.\n"
    "\n"
    "Options:\n"
    "  --conv=auto|fft|direct  long convolution: by convsel's cost model at\n"
    "                       the compiled length (default), or always\n"
    "                       through FFTW, or always direct\n"
    "  --target-cpu CPU     compile for CPU: an x86-64 processor LLVM knows\n"
    "                       (x86-64-v3, x86-64-v4, znver4, sapphirerapids..)\n"
    "                       or native (the default: this machine's). A\n"
    "                       binary refuses to start on a CPU that lacks\n"
    "                       instructions its code may use\n"
    "  --target-features F  +FEATURE,-FEATURE,... on top of CPU's (LLVM's\n"
    "                       names: +avx2,-avx512f)\n"
    "  --target T           compile for cpu (default) or cuda (an NVIDIA\n"
    "                       GPU, sm_90 unless cuda:sm_80 and the like):\n"
    "                       PTX and a plan of kernels, run by the CUDA\n"
    "                       driver loaded at run time; --emit ptx writes\n"
    "                       the PTX, --emit obj the host object\n"
    "  --mpi                compile: link with MPI (Open MPI), so that\n"
    "                       'mpirun -n N OUT embed|score|classify ...'\n"
    "                       splits the job over N ranks (same output)\n"
    "  --precision P        compile, run: fp32 (the default) or bf16: the\n"
    "                       projections' weights stored as bf16 and\n"
    "                       multiplied in bf16 with fp32 sums (AMX tiles\n"
    "                       or vdpbf16ps as the CPU has them, tensor\n"
    "                       cores on a GPU); everything\n"
    "                       else fp32. run --interp gives its expectation\n"
    "  -O0                  no fusion, no LLVM optimisation (default -O3)\n"
    "  --no-fuse            keep one kernel per IR op (same outputs)\n"
    "  --stats              compile: print kernels=, conv[i]=, planned_bytes=\n"
    "                       and more, one key=value per line\n"
    "  --pass=PASS          the pass for opt (fold, dce, convsel, fuse, entries, memplan)\n"
    "  --print-after=PASS   print the IR after PASS\n"
    "  --print-after-all    print the IR after every pass\n"
    "  --format=text|dot    how ir, opt and --print-after print the IR;\n"
    "                       --dot is --format=dot\n"
    "  -h, --help           show this help\n"
    "  --version            show the version and the LLVM host target\n";

/* Every message is one line: control characters that came from input
 * (an argument, a path) are escaped. */
static void say(const char *msg, const char *tail)
{
	char esc[4 * DIAG_MSG_MAX];

	fprintf(stderr, "hyenac: %s%s\n", hy_escape(esc, sizeof esc, msg),
	        tail);
}

static int usage_error(const char *fmt, const char *arg)
{
	char msg[DIAG_MSG_MAX];

	snprintf(msg, sizeof msg, fmt, arg);
	say(msg, "; see 'hyenac --help'");
	return EXIT_USAGE;
}

static int fail(const Diag *d)
{
	say(d->msg, d->usage ? "; see 'hyenac --help'" : "");
	return d->usage ? EXIT_USAGE : EXIT_INPUT;
}

typedef struct Options {
	const char *cmd;
	const char *model;
	const char *what; /* embed | logits */
	const char *tokens;
	const char *out;
	const char *print_after;
	const char *pass;
	bool dot;         /* --dot, --format=dot: IR printed as Graphviz */
	const char *plan_svg; /* ir --plan-svg F */
	const char *layer; /* run embed --layer K|all */
	bool interp;      /* run: the reference interpreter, not the JIT */
	bool fuse;        /* false with --no-fuse (and -O0) */
	bool stats;       /* compile --stats */
	bool mpi;         /* compile --mpi */
	bool bf16;        /* --precision bf16 (Graph.bf16) */
	int64_t seq_len;  /* compile: 0 = the model's max_seq_len */
	int64_t batch;    /* compile: accepted for the contract; any B runs */
	const char *emit; /* compile: exe | obj | ll | ir */
	const char *cpu, *features;
	const char *target; /* --target as given */
	const char *gpu_arch; /* --target cuda[:sm_XX]: the GPU; NULL: CPU */
	ConvMethod conv;  /* --conv: for the passes (PassOptions.conv) */
	int opt_level;
} Options;

/* A positive integer option value, or a usage error. */
static int parse_count(const char *opt, const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || *end || end == v || x < 1)
		return usage_error("option value '%s' is not a positive integer",
		                   v) + 0 * (opt != NULL);
	*out = x;
	return 0;
}

/* Every option hyenac takes, once: its spelling (a prefix when it ends
 * in '='), the option it counts as when refusing one given twice (-O0 and
 * -O3 are one, --dot and --format=, --print-after= and
 * --print-after-all), and whether the next argument is its value. */
typedef struct OptSpec {
	const char *spelling, *key;
	bool value;
} OptSpec;

static const OptSpec options[] = {
	{"--tokens", "--tokens", true}, {"-o", "-o", true},
	{"--seq-len", "--seq-len", true}, {"--batch", "--batch", true},
	{"--emit", "--emit", true}, {"--target-cpu", "--target-cpu", true},
	{"--target-features", "--target-features", true},
	{"--plan-svg", "--plan-svg", true}, {"--layer", "--layer", true},
	{"--stats", "--stats", false}, {"--no-fuse", "--no-fuse", false},
	{"--mpi", "--mpi", false}, {"--target", "--target", true},
	{"--precision", "--precision", true},
	{"--interp", "--interp", false}, {"-O0", "-O", false},
	{"-O3", "-O", false}, {"--print-after-all", "--print-after", false},
	{"--dot", "--format", false}, {"--conv=", "--conv", false},
	{"--print-after=", "--print-after", false},
	{"--pass=", "--pass", false}, {"--format=", "--format", false},
};

/* The option a is, or NULL for anything else. */
static const OptSpec *option_of(const char *a)
{
	for (size_t k = 0; k < sizeof options / sizeof *options; k++) {
		const char *sp = options[k].spelling;
		size_t n = strlen(sp);
		if (sp[n - 1] == '=' ? strncmp(a, sp, n) == 0
		                     : strcmp(a, sp) == 0)
			return &options[k];
	}
	return NULL;
}

/* --target cpu | cuda | cuda:sm_XX (an NVPTX processor LLVM knows). */
static int parse_target(const char *t, Options *o)
{
	Diag d;

	o->target = t;
	if (strcmp(t, "cpu") == 0) {
		o->gpu_arch = NULL;
		return 0;
	}
	if (strcmp(t, "cuda") == 0) {
		o->gpu_arch = "sm_90";
		return 0;
	}
	if (strncmp(t, "cuda:", 5) != 0)
		return usage_error("--target takes cpu, cuda or cuda:sm_XX, not "
		                   "'%s'", t);
	diag_init(&d);
	if (!cg_check_gpu_arch(t + 5, &d))
		return fail(&d);
	o->gpu_arch = t + 5;
	return 0;
}

static int parse_args(int argc, char **argv, Options *o)
{
	int pos = 0, rc;
	o->emit = "exe";
	o->opt_level = 3;
	o->fuse = true;
	const char *seen[16];
	int nseen = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		/* Every option at most once, as the model binaries insist: a
		 * second --seq-len would otherwise silently win. */
		const OptSpec *opt = option_of(a);
		for (int k = 0; opt && k < nseen; k++)
			if (strcmp(seen[k], opt->key) == 0)
				return usage_error("option '%s' given twice",
				                   opt->key);
		if (opt) {
			HY_ASSERT(nseen < 16);
			seen[nseen++] = opt->key;
		}
		if (opt && opt->value && i + 1 >= argc)
			return usage_error("option '%s' needs a value", a);
		if (strcmp(a, "--tokens") == 0) {
			o->tokens = argv[++i];
		} else if (strcmp(a, "-o") == 0) {
			o->out = argv[++i];
		} else if (strcmp(a, "--seq-len") == 0) {
			if ((rc = parse_count(a, argv[++i], &o->seq_len)))
				return rc;
		} else if (strcmp(a, "--batch") == 0) {
			if ((rc = parse_count(a, argv[++i], &o->batch)))
				return rc;
		} else if (strcmp(a, "--emit") == 0) {
			o->emit = argv[++i];
			if (strcmp(o->emit, "exe") && strcmp(o->emit, "obj") &&
			    strcmp(o->emit, "ll") && strcmp(o->emit, "ir") &&
			    strcmp(o->emit, "lib") && strcmp(o->emit, "ptx"))
				return usage_error("--emit takes exe, lib, obj, ll, ir "
				                   "or ptx, not '%s'", o->emit);
		} else if (strcmp(a, "--target") == 0) {
			if ((rc = parse_target(argv[++i], o)))
				return rc;
		} else if (strcmp(a, "--precision") == 0) {
			const char *p = argv[++i];
			if (strcmp(p, "fp32") && strcmp(p, "bf16"))
				return usage_error("--precision takes fp32 or bf16, not "
				                   "'%s'", p);
			o->bf16 = strcmp(p, "bf16") == 0;
		} else if (strcmp(a, "--target-cpu") == 0) {
			o->cpu = argv[++i];
		} else if (strcmp(a, "--target-features") == 0) {
			o->features = argv[++i];
		} else if (strncmp(a, "--conv=", 7) == 0) {
			const char *c = a + 7;
			if (strcmp(c, "auto") == 0)
				o->conv = CONV_AUTO;
			else if (strcmp(c, "fft") == 0)
				o->conv = CONV_FFT;
			else if (strcmp(c, "direct") == 0)
				o->conv = CONV_DIRECT;
			else
				return usage_error("--conv takes auto, fft or direct, "
				                   "not '%s'", c);
		} else if (strcmp(a, "-O0") == 0 || strcmp(a, "-O3") == 0) {
			o->opt_level = a[2] - '0';
		} else if (strcmp(a, "--dot") == 0 ||
		           strcmp(a, "--format=dot") == 0) {
			o->dot = true;
		} else if (strcmp(a, "--format=text") == 0) {
			o->dot = false;
		} else if (strncmp(a, "--format=", 9) == 0) {
			return usage_error("--format takes text or dot, not '%s'",
			                   a + 9);
		} else if (strcmp(a, "--layer") == 0) {
			o->layer = argv[++i];
		} else if (strcmp(a, "--plan-svg") == 0) {
			o->plan_svg = argv[++i];
		} else if (strcmp(a, "--stats") == 0) {
			o->stats = true;
		} else if (strcmp(a, "--mpi") == 0) {
			o->mpi = true;
		} else if (strcmp(a, "--no-fuse") == 0) {
			o->fuse = false;
		} else if (strcmp(a, "--interp") == 0) {
			o->interp = true;
		} else if (strncmp(a, "--print-after=", 14) == 0) {
			o->print_after = a + 14;
			if (!pass_find(o->print_after))
				return usage_error("unknown pass '%s'", o->print_after);
		} else if (strncmp(a, "--pass=", 7) == 0) {
			o->pass = a + 7;
			if (!pass_find(o->pass))
				return usage_error("unknown pass '%s'", o->pass);
		} else if (strcmp(a, "--print-after-all") == 0) {
			o->print_after = "all";
		} else if (a[0] == '-' && a[1]) {
			return usage_error("unknown option '%s'", a);
		} else if (pos == 0) {
			o->cmd = a, pos++;
		} else if (pos == 1) {
			o->model = a, pos++;
		} else if (pos == 2 && strcmp(o->cmd, "run") == 0) {
			o->what = a, pos++;
		} else {
			return usage_error("unexpected argument '%s'", a);
		}
	}
	return 0;
}

/* Tokens as every front door checks them (runtime/tokens.h), against
 * the model's length; a batch of no rows is nothing to run. */
static bool check_tokens(NpyArray *t, const ModelSpec *s,
                         const char *path, Diag *d)
{
	hyrt_tokens_as_rows(t); /* [L] is one row [1, L] */
	if (hyrt_check_token_array(t, s->max_seq_len, s->vocab_size, path,
	                           "the model's max_seq_len %" PRId64,
	                           d) != HYRT_TOK_OK)
		return false;
	if (t->dim[0] < 1) {
		diag_error(d, "%s: empty token array [%lld, %lld]", path,
		           (long long)t->dim[0], (long long)t->dim[1]);
		return false;
	}
	return true;
}

/* The compiled binary's planned memory against the limit. */
static bool check_plan_memory(const Options *o, const Graph *g, Diag *d)
{
	int64_t B = o->batch ? o->batch : 1;
	RunBytes rb;

	drv_run_bytes(g, B, g->max_len, &rb);
	return fe_check_bytes(rb.total == INT64_MAX ? INT64_MAX
	                                            : rb.total - rb.weights,
	                      "activations, output, kept FFT spectra and thread buffers",
	                      rb.weights, B, g->max_len, o->model, d);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A whole text file, NUL-terminated, from the arena; at most 256 MiB. */
static char *read_text(Arena *a, const char *path, Diag *d)
{
	const char *why;
	int fd = hy_open_regular(path, NULL, &why);
	FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
	char *buf;
	long n;

	if (!f) {
		diag_error(d, "%s: cannot open: %s", path,
		           fd < 0 ? why : strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    n > (256L << 20) || fseek(f, 0, SEEK_SET) != 0) {
		diag_error(d, "%s: not a readable file of at most 256 MiB", path);
		fclose(f);
		return NULL;
	}
	buf = arena_alloc(a, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		diag_error(d, "%s: read error", path);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* The files a command reads, for the output check: the model's (a
 * directory's config.json and model.safetensors; a YAML description and
 * the safetensors it names, if it parses) and the tokens. */
static const char **inputs_of(Arena *a, const Options *o)
{
	const char **in = arena_alloc(a, 5 * sizeof *in);
	struct stat st;
	int n = 0;

	if (stat(o->model, &st) == 0 && S_ISDIR(st.st_mode)) {
		in[n++] = arena_printf(a, "%s/config.json", o->model);
		in[n++] = arena_printf(a, "%s/model.safetensors", o->model);
	} else {
		ModelSpec spec;
		WeightSource w;
		Diag ignored; /* a YAML that does not parse is reported later */
		diag_init(&ignored);
		in[n++] = o->model;
		if (fe_yaml_load(a, o->model, &spec, &w, &ignored) &&
		    w.safetensors)
			in[n++] = w.safetensors;
	}
	if (o->tokens)
		in[n++] = o->tokens;
	in[n] = NULL;
	return in;
}

/* run's -o and compile's (and --emit lib's header beside it), refused
 * before the model loads (runtime/outfile.h: hyrt_out_check). */
static bool check_outputs(Arena *a, const Options *o, Diag *d)
{
	const char **in = inputs_of(a, o);
	bool run = strcmp(o->cmd, "run") == 0;

	if (!hyrt_out_check(o->out, run ? "npy" : NULL, false,
	                    run ? "hyenac run" : "hyenac compile", in, d))
		return false;
	if (run || strcmp(o->emit, "lib") != 0)
		return true;
	return hyrt_out_check(drv_lib_header(a, o->out), NULL, false,
	                      "hyenac compile", in, d) &&
	       hyrt_out_distinct(o->out, drv_lib_header(a, o->out), d);
}

/* Compile g in-process (ORC LLJIT) for this input and run it: the same
 * module `hyenac compile` writes, with the runtime linked into hyenac.
 * mode: RUN_FULL (hyenac_run), RUN_CLASSIFY (hyenac_run_classify, into
 * outs[0], which it allocates) or RUN_HIDDEN (hyenac_run_hidden, into
 * the outs given, NULL ones not computed). */
enum { RUN_FULL, RUN_CLASSIFY, RUN_HIDDEN };
static bool run_jit(const Options *o, const Graph *g, int mode,
                    const int32_t *tokens, int64_t B, int64_t L, float **outs,
                    Diag *d)
{
	CgWeights w;
	CgOptions co = {o->cpu, o->features, o->opt_level, NULL, NULL, NULL,
	                false, 0};
	void *blob = NULL, *scratch = NULL;
	CgJit *j = NULL;
	bool ok = false;

	cg_layout_weights(g, g->arena, &w);
	CgModule *cm = cg_emit(g, &w, &co, NULL, d);
	if (!cm || !(j = cg_jit(cm, d)))
		goto done;
	size_t (*scratch_bytes)(int64_t, int64_t) =
	    (size_t(*)(int64_t, int64_t))cg_jit_lookup(j, "hyenac_scratch_bytes");
	void (*run)(const float *, const int32_t *, int64_t, int64_t,
	            float *const *, void *) =
	    (void (*)(const float *, const int32_t *, int64_t, int64_t,
	              float *const *, void *))cg_jit_lookup(j, "hyenac_run");
	HY_ASSERT(scratch_bytes && run);
	/* As a compiled binary does: no code for a CPU this is not. */
	const char *uses = cg_jit_lookup(j, "hyenac_target_features");
	const char *cpu = cg_jit_lookup(j, "hyenac_target_cpu");
	char msg[512];
	HY_ASSERT(uses && cpu);
	if (!hyrt_cpu_check(uses, cpu, msg, sizeof msg)) {
		diag_error(d, "run: %s", msg);
		d->usage = d->nerr == 1; /* --target-cpu chose this */
		goto done;
	}
	size_t sb = scratch_bytes(B, L);
	if (posix_memalign(&blob, 64, w.bytes + 64) != 0 ||
	    posix_memalign(&scratch, 64, sb + 64) != 0) {
		diag_error(d, "out of memory (%zu bytes of activations)", sb);
		goto done;
	}
	cg_pack_weights(g, &w, blob);
	if (mode == RUN_HIDDEN) {
		int (*hid)(const float *, const int32_t *, int64_t, int64_t,
		           float *const *, void *) =
		    (int (*)(const float *, const int32_t *, int64_t, int64_t,
		             float *const *, void *))cg_jit_lookup(j,
		                                            "hyenac_run_hidden");
		HY_ASSERT(hid && hid(blob, tokens, B, L, outs, scratch) > 0);
		ok = true;
		goto done;
	}
	if (mode == RUN_CLASSIFY) {
		int (*cls)(const float *, const int32_t *, int64_t, int64_t,
		           float *, void *) =
		    (int (*)(const float *, const int32_t *, int64_t, int64_t,
		             float *, void *))cg_jit_lookup(j,
		                                            "hyenac_run_classify");
		const EntryPoint *e = drv_entry(g, "classify");
		size_t n;
		HY_ASSERT(cls && e);
		HY_ASSERT(ir_type_numel(&e->outputs[0].node->type, B, L, &n));
		if (!(outs[0] = malloc(n * sizeof(float) + 1))) {
			diag_error(d, "out of memory for output 'classify'");
			goto done;
		}
		HY_ASSERT(cls(blob, tokens, B, L, outs[0], scratch) == 1);
		ok = true;
		goto done;
	}
	for (int i = 0; i < g->noutputs; i++) {
		size_t n;
		HY_ASSERT(ir_type_numel(&g->outputs[i].node->type, B, L, &n));
		if (!(outs[i] = malloc(n * sizeof(float) + 1))) {
			diag_error(d, "out of memory for output '%s'",
			           g->outputs[i].name);
			goto done;
		}
	}
	run(blob, tokens, B, L, outs, scratch);
	ok = true;
done:
	free(blob);
	free(scratch);
	if (j)
		cg_jit_free(j);
	return ok;
}

/* --layer K: K >= 0, or -1 for anything that is no number. */
static int64_t parse_layer(const char *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	return errno || *end || end == v || *v == '-' || *v == '+' ||
	               *v == ' ' || x > INT32_MAX
	           ? -1
	           : x;
}

/* run MODEL embed --layer K|all: `entry hidden_states` by the reference
 * interpreter or the JIT (hyenac_run_hidden); K alone [B, L, d], all of
 * them [B, n_layer+2, L, d] (HF's tuple stacked at axis 1). */
static int run_layers(const Options *o, const Model *m, Graph *g, Diag *d)
{
	const EntryPoint *e = drv_entry(g, "hidden_states");
	NpyArray tok = {0};
	float **outs = NULL, *all = NULL;
	int rc = 0;

	if (!e) {
		diag_error(d, "%s: the model has no hidden-state entry", o->model);
		return fail(d);
	}
	int n = e->noutputs;
	bool every = strcmp(o->layer, "all") == 0;
	int64_t k = every ? 0 : parse_layer(o->layer);
	if (k > n - 1) {
		diag_error(d, "--layer %lld is out of range: %s has hidden "
		           "states 0 to %d (n_layer %lld + 1)", (long long)k,
		           o->model, n - 1, (long long)m->spec.n_layer);
		d->usage = true;
		return fail(d);
	}
	HyrtOut file = {0};
	HyrtOut *one[1] = {&file};
	hyrt_out_install_cleanup();
	if (!npy_load_ints(o->tokens, &tok, d) ||
	    !check_tokens(&tok, &m->spec, o->tokens, d) ||
	    !hyrt_out_open(&file, o->out, d))
		goto bad;
	int64_t B = tok.dim[0], L = tok.dim[1];
	int64_t D = e->outputs[0].node->type.dim[2];
	size_t per = (size_t)L * (size_t)D; /* floats of one row, one state */
	outs = calloc((size_t)n, sizeof *outs);
	HY_ASSERT(outs);
	if (o->interp) {
		if (!ir_interp_entry(g, e, tok.data, B, L, outs, d))
			goto bad;
	} else {
		for (int i = 0; i < n; i++)
			if ((every || i == k) &&
			    !(outs[i] = malloc((size_t)B * per * sizeof(float) + 1))) {
				diag_error(d, "out of memory for hidden state %d", i);
				goto bad;
			}
		if (!run_jit(o, g, RUN_HIDDEN, tok.data, B, L, outs, d))
			goto bad;
	}
	if (every) {
		int64_t dims[4] = {B, n, L, D};
		all = malloc((size_t)B * (size_t)n * per * sizeof(float) + 1);
		if (!all) {
			diag_error(d, "out of memory for %d hidden states", n);
			goto bad;
		}
		for (int64_t b = 0; b < B; b++)
			for (int i = 0; i < n; i++)
				memcpy(all + ((size_t)b * (size_t)n + (size_t)i) * per,
				       outs[i] + (size_t)b * per, per * sizeof(float));
		if (!npy_write_f32(&file, all, 4, dims, d))
			goto bad;
	} else {
		int64_t dims[3] = {B, L, D};
		if (!npy_write_f32(&file, outs[k], 3, dims, d))
			goto bad;
	}
	if (!hyrt_out_commit(one, 1, d)) {
		rc = fail(d);
		goto out;
	}
	printf("wrote %s: hidden state%s %s by the %s\n", o->out,
	       every ? "s" : "", o->layer, o->interp ? "interpreter" : "JIT");
	goto out;
bad:
	hyrt_out_abort(&file);
	rc = fail(d);
out:
	for (int i = 0; outs && i < n; i++)
		free(outs[i]);
	free(outs);
	free(all);
	npy_free(&tok);
	return rc;
}

static int cmd_run(const Options *o, const Model *m, Graph *g, Diag *d)
{
	NpyArray tok = {0};
	float *outs[8] = {0};
	int which = -1, rc = 0;

	if (o->layer)
		return run_layers(o, m, g, d);
	bool classify = strcmp(o->what, "classify") == 0;
	const EntryPoint *ce = drv_entry(g, "classify");
	for (int i = 0; i < g->noutputs && !classify; i++)
		if (strcmp(g->outputs[i].name,
		           strcmp(o->what, "embed") == 0 ? "hidden" : o->what) == 0)
			which = i;
	if (classify && ce) /* the entry's one output, into outs[0] */
		which = 0;
	if (which < 0) {
		if (ce && strcmp(o->what, "logits") == 0)
			diag_error(d, "%s: the model is a classifier (no LM head, "
			           "so no logits); run 'classify'", o->model);
		else if (classify)
			diag_error(d, "%s: the model is no classifier (no "
			           "score.weight)", o->model);
		else
			diag_error(d, "%s: the model has no %s output (head: "
			           "none)", o->model, o->what);
		return fail(d);
	}
	HY_ASSERT(g->noutputs <= 8);
	HyrtOut file = {0};
	HyrtOut *one[1] = {&file};
	double t0 = now();
	hyrt_out_install_cleanup();
	if (!npy_load_ints(o->tokens, &tok, d) ||
	    !check_tokens(&tok, &m->spec, o->tokens, d) ||
	    !hyrt_out_open(&file, o->out, d) ||
	    !(o->interp ? (classify ? ir_interp_entry(g, ce, tok.data,
	                                              tok.dim[0], tok.dim[1],
	                                              outs, d)
	                            : ir_interp(g, tok.data, tok.dim[0],
	                                        tok.dim[1], outs, d))
	                : run_jit(o, g, classify ? RUN_CLASSIFY : RUN_FULL,
	                          tok.data, tok.dim[0],
	                          tok.dim[1], outs, d))) {
		hyrt_out_abort(&file);
		rc = fail(d);
		goto out;
	}
	const TensorType *ty = classify ? &ce->outputs[0].node->type
	                                : &g->outputs[which].node->type;
	int64_t dims[3] = {tok.dim[0], tok.dim[1], ty->dim[2]};
	if (classify)
		dims[1] = ty->dim[1];
	if (!npy_write_f32(&file, outs[which], classify ? 2 : 3, dims, d)) {
		hyrt_out_abort(&file);
		rc = fail(d);
		goto out;
	}
	if (!hyrt_out_commit(one, 1, d)) {
		rc = fail(d);
		goto out;
	}
	double secs = now() - t0;
	char shape[96];
	if (classify)
		snprintf(shape, sizeof shape, "%lld, %lld", (long long)dims[0],
		         (long long)dims[1]);
	else
		snprintf(shape, sizeof shape, "%lld, %lld, %lld",
		         (long long)dims[0], (long long)dims[1],
		         (long long)dims[2]);
	printf("wrote %s: float32 [%s] by the %s in "
	       "%.2f s (%.0f tokens/s)\n", o->out, shape,
	       o->interp ? "interpreter" : "JIT", secs,
	       (double)tok.numel / (secs > 0 ? secs : 1e-9));
out:
	for (int i = 0; i < g->noutputs; i++)
		free(outs[i]);
	npy_free(&tok);
	return rc;
}

static int cmd_compile(const Options *o, const Model *m, Graph *g, Diag *d)
{
	CompileOptions co = {o->out, o->emit, o->cpu, o->features, o->seq_len,
	                     o->opt_level, o->batch ? o->batch : 1, o->stats,
	                     o->mpi, o->gpu_arch};
	if (co.seq_len == 0)
		co.seq_len = m->spec.max_seq_len;
	return drv_compile(m, g, &co, d) ? 0 : fail(d);
}

/* --dot prints IR, so it goes with what prints IR; --plan-svg draws the
 * plan of the graph `ir` shows. */
static int check_pictures(const Options *o)
{
	if (o->dot && strcmp(o->cmd, "ir") && strcmp(o->cmd, "opt") &&
	    !o->print_after)
		return usage_error("--dot prints IR: use it with 'ir', 'opt' or "
		                   "--print-after, not '%s'", o->cmd);
	if (o->plan_svg && strcmp(o->cmd, "ir"))
		return usage_error("--plan-svg works with 'ir' only, not '%s'",
		                   o->cmd);
	return 0;
}

/* hyenac ir: the plan's picture first (a file, whole or not at all), then
 * the IR on standard output. */
static int cmd_ir(const Options *o, const Model *m, Graph *g, Diag *d)
{
	if (o->plan_svg && !drv_write_plan_svg(g, o->plan_svg, d))
		return fail(d);
	(void)m;
	(o->dot ? ir_print_dot : ir_print)(g, stdout);
	return 0;
}

/* compile's --seq-len against the model, as soon as the model is read:
 * before it is lowered or any pass runs. */
static bool check_seq_len(const Options *o, const Model *m, Diag *d)
{
	if (o->seq_len <= m->spec.max_seq_len)
		return true;
	diag_error(d, "--seq-len %lld exceeds %s's max_seq_len %lld",
	           (long long)o->seq_len, o->model,
	           (long long)m->spec.max_seq_len);
	d->usage = true;
	return false;
}

/* hyenac opt: text in, one pass, text out (the pass tests' tool). */
static int cmd_opt(const Options *o)
{
	Diag d;
	Arena *a = arena_new();
	bool changed;
	int rc = 0;
	PassOptions po;

	diag_init(&d);
	pass_options_default(&po);
	po.conv = o->conv;
	char *text = read_text(a, o->model, &d);
	Graph *g = text ? ir_parse(a, text, o->model, &d) : NULL;
	if (!g || !ir_verify(g, &d) ||
	    !pass_find(o->pass)->fn(g, &po, &d, &changed)) {
		rc = fail(&d);
	} else {
		if (!ir_verify(g, &d))
			hy_die("IR invalid after pass %s: %s", o->pass, d.msg);
		(o->dot ? ir_print_dot : ir_print)(g, stdout);
	}
	arena_free(a);
	return rc;
}

static void print_info(const Model *m, const Graph *g)
{
	const ModelSpec *s = &m->spec;
	size_t params = 0, n;
	for (int i = 0; i < m->w.n; i++)
		if (ir_type_numel(&m->w.t[i].type, 0, 0, &n))
			params += n;
	char esc[4096];

	/* one key=value a line, whatever a path holds */
	printf("model=%s\n", s->name ? hy_escape(esc, sizeof esc, s->name) : "?");
	if (m->weights_path)
		printf("weights=%s\n",
		       hy_escape(esc, sizeof esc, m->weights_path));
	else
		printf("weights=random (seed %" PRIu64 "): outputs carry no "
		       "biology\n", m->seed);
	printf("d_model=%lld n_layer=%lld d_inner=%lld order=%lld\n",
	       (long long)s->d_model, (long long)s->n_layer,
	       (long long)s->d_inner, (long long)s->order);
	printf("max_seq_len=%lld vocab=%lld params=%zu ir_nodes=%d\n",
	       (long long)s->max_seq_len, (long long)fe_vocab_padded(s), params,
	       g->nnodes);
	if (s->num_labels > 0) {
		printf("num_labels=%lld pad_id=%lld\n", (long long)s->num_labels,
		       (long long)s->pad_id);
		for (int64_t i = 0; i < s->num_labels; i++)
			printf("label.%lld=%s\n", (long long)i,
			       hy_escape(esc, sizeof esc, s->labels[i]));
	}
}

static int cmd_info(const Options *o, const Model *m, Graph *g, Diag *d)
{
	print_info(m, g);
	return 0;
}

/* What each command needs on its command line, refused (exit 2) before
 * anything is read. */
static int need_pass(const Options *o)
{
	return o->pass ? 0 : usage_error("'opt' needs --pass=PASS%s", "");
}

static int need_run(const Options *o)
{
	if (!o->what || (strcmp(o->what, "embed") && strcmp(o->what, "logits") &&
	                 strcmp(o->what, "classify")))
		return usage_error("'run' needs embed, logits or classify%s", "");
	if (!o->tokens || !o->out)
		return usage_error("'run' needs --tokens T.npy and -o OUT.npy%s",
		                   "");
	if (o->layer && strcmp(o->what, "embed"))
		return usage_error("--layer is for 'run MODEL embed', not '%s'",
		                   o->what);
	if (o->layer && strcmp(o->layer, "all") && parse_layer(o->layer) < 0)
		return usage_error("--layer takes a number or 'all', not '%s'",
		                   o->layer);
	return 0;
}

/* What --target cuda does not combine with. */
static int need_gpu(const Options *o)
{
	if (!o->gpu_arch)
		return strcmp(o->emit, "ptx") == 0
		           ? usage_error("--emit ptx is for --target cuda; the "
		                         "CPU target writes exe, lib, obj, ll or "
		                         "ir%s", "")
		           : 0;
	if (strcmp(o->emit, "lib") == 0)
		return usage_error("--emit lib: the GPU target (--target %s) makes "
		                   "executables, not libraries", o->target);
	if (o->cpu || o->features)
		return usage_error("--target-cpu and --target-features are for the "
		                   "CPU target, not --target %s", o->target);
	if (o->conv == CONV_DIRECT)
		return usage_error("--conv=direct: the GPU target (--target %s) has "
		                   "only the FFT convolution", o->target);
	return 0;
}

static int need_out(const Options *o)
{
	int rc;
	if (!o->out)
		return usage_error("'compile' needs -o OUT%s", "");
	if ((rc = need_gpu(o)) != 0)
		return rc;
	if (o->mpi && strcmp(o->emit, "exe") != 0)
		return usage_error("--mpi links an executable, not --emit %s",
		                   o->emit);
#ifndef HYENAC_MPI_LIBS
	if (o->mpi)
		return usage_error("--mpi: this hyenac was built without MPI "
		                   "(no ompi-c: install libopenmpi-dev and "
		                   "rebuild)%s", "");
#endif
	return 0;
}

/* The commands. A model command loads MODEL, lowers it, runs the pass
 * pipeline and hands the graph to run; opt reads IR text instead. */
typedef struct Command {
	const char *name;
	int (*needs)(const Options *o); /* usage checks, or NULL */
	bool writes;                    /* -o OUT, checked before the model */
	int (*run)(const Options *o, const Model *m, Graph *g, Diag *d);
	int (*run_text)(const Options *o); /* instead of run: opt */
} Command;

static const Command commands[] = {
	{"compile", need_out, true, cmd_compile, NULL},
	{"run", need_run, true, cmd_run, NULL},
	{"ir", NULL, false, cmd_ir, NULL},
	{"info", NULL, false, cmd_info, NULL},
	{"opt", need_pass, false, NULL, cmd_opt},
};

static const Command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	Options o = {0};
	Diag d;
	int rc;
	char buf[256];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("hyenac " HYRT_HYENAC_VERSION " (%s)\n",
			       cg_describe_host(buf, sizeof buf));
			return 0;
		}
	}
	if ((rc = parse_args(argc, argv, &o)) != 0)
		return rc;
	if (!o.cmd)
		return usage_error("no command given%s", "");
	const Command *c = find_command(o.cmd);
	if (!c)
		return usage_error("unknown command '%s'", o.cmd);
	if (!o.model)
		return usage_error("'%s' needs a file", o.cmd);
	if ((rc = check_pictures(&o)) != 0)
		return rc;
	if (o.mpi && strcmp(o.cmd, "compile") != 0)
		return usage_error("--mpi is for 'compile', not '%s'", o.cmd);
	if (o.target && strcmp(o.cmd, "compile") != 0)
		return usage_error("--target is for 'compile', not '%s'", o.cmd);
	if (o.bf16 && strcmp(o.cmd, "compile") && strcmp(o.cmd, "run"))
		return usage_error("--precision is for 'compile' and 'run', not "
		                   "'%s'", o.cmd);
	if (o.layer && strcmp(o.cmd, "run"))
		return usage_error("--layer is for 'run MODEL embed', not '%s'",
		                   o.cmd);
	/* The environment is input: a limit that does not parse is refused
	 * here, before anything is read or planned against it. */
	diag_init(&d);
	if (hyrt_memory_limit_env(&d) < 0)
		return fail(&d);
	if (c->needs && (rc = c->needs(&o)) != 0)
		return rc;
	if (c->run_text)
		return c->run_text(&o);
	/* A bad --target-cpu / --target-features is refused before the model
	 * is read, and before LLVM can abort on it. */
	diag_init(&d);
	if ((o.cpu || o.features) && !cg_check_target(o.cpu, o.features, &d))
		return fail(&d);

	diag_init(&d);
	Arena *a = arena_new();
	if (c->writes && !check_outputs(a, &o, &d)) {
		rc = fail(&d);
		arena_free(a);
		return rc;
	}
	if (o.plan_svg && !hyrt_out_check(o.plan_svg, "svg", false, "hyenac ir",
	                                  inputs_of(a, &o), &d)) {
		rc = fail(&d);
		arena_free(a);
		return rc;
	}
	bool compile = c->run == cmd_compile;
	Model *m = fe_load_model(a, o.model, &d);
	Graph *g = m && (!compile || check_seq_len(&o, m, &d))
	               ? fe_lower(a, m, &d) : NULL;
	if (g && !ir_verify(g, &d))
		hy_die("lowering produced invalid IR: %s", d.msg);
	if (g)
		g->bf16 = o.bf16;
	PassOptions po;
	pass_options_default(&po);
	po.print_after = o.print_after;
	po.print_dot = o.dot;
	po.fuse = o.fuse && o.opt_level > 0;
	po.conv = o.conv;
	po.gpu = o.gpu_arch != NULL;
	/* kept spectra: at most a quarter of the memory limit */
	if (po.spectra_limit > fe_memory_limit() / 4)
		po.spectra_limit = fe_memory_limit() / 4;
	if (g && compile && o.seq_len > 0 && o.seq_len < g->max_len)
		g->max_len = o.seq_len; /* passes specialise to the compiled length */
	if (g && !pass_pipeline(g, &po, &d))
		g = NULL;
	/* Refuse, with the number, a plan that cannot fit: the figure
	 * --stats prints (drv_run_bytes). */
	if (g && compile && !check_plan_memory(&o, g, &d))
		g = NULL;
	rc = g ? c->run(&o, m, g, &d) : fail(&d);
	fe_model_close(m);
	arena_free(a);
	return rc;
}
