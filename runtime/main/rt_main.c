/*
 * rt_main.c - main() of every model binary that `hyenac compile` builds.
 *
 * It is linked with one generated object (hyenac_meta, hyenac_model_name,
 * hyenac_scratch_bytes, hyenac_run: runtime/hyrt.h) and does everything
 * around the forward pass: the command line, reading and checking token
 * files, mapping the weights packed at the end of the executable, memory
 * for activations and outputs, writing .npy results, and timing.
 *
 *   NAME embed  --tokens T.npy -o H.npy   hidden states [B, L, d_model]
 *   NAME logits --tokens T.npy -o G.npy   logits [B, L, vocab]
 *   NAME bench  [--batch B] [--seq-len L] [--threads T] [--reps R]
 *   NAME info | --help
 *
 * Exit status: 0 done; 1 bad input (a token file, the binary's own
 * weights, memory, an output that cannot be written), one line naming the
 * file and the problem; 2 bad usage, one line ending "see 'NAME --help'".
 * Nothing the user passes makes it die by a signal: tokens are checked
 * against the vocabulary and the compiled length before the generated
 * code sees them, and sizes are multiplied with overflow checks.
 *
 * Forwards run on one thread: --threads is validated and reported but does
 * not yet change anything (a thread pool comes later).
 */
#include "runtime/hyrt.h"
#include "runtime/npy.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "model";

/* ---- errors ------------------------------------------------------------ */

HY_NORETURN static void usage(const char *fmt, ...) HY_PRINTF(1, 2);
static void usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see '%s --help'\n", prog);
	exit(2);
}

HY_NORETURN static void fail(const char *fmt, ...) HY_PRINTF(1, 2);
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

HY_NORETURN static void fail_diag(const Diag *d)
{
	fail("%s", d->msg);
}

/* Flush stdout and report a write error (a full disk, a closed pipe: SIGPIPE
 * is ignored) as exit 1. */
static int finish(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		fail("cannot write to standard output: %s", strerror(errno));
	return 0;
}

/* ---- the command line ------------------------------------------------- */

typedef struct Opt {
	const char *name;  /* "--tokens" */
	const char *alias; /* "-o", or NULL */
	const char *value; /* filled in by parse_opts */
} Opt;

static bool opt_is(const Opt *o, const char *arg, const char **inline_val)
{
	const char *names[2] = {o->name, o->alias};

	for (int i = 0; i < 2; i++) {
		size_t n;
		if (!names[i])
			continue;
		n = strlen(names[i]);
		if (strncmp(arg, names[i], n) != 0)
			continue;
		if (arg[n] == '\0') {
			*inline_val = NULL;
			return true;
		}
		if (arg[n] == '=' && names[i][1] == '-') {
			*inline_val = arg + n + 1;
			return true;
		}
	}
	return false;
}

static void print_help(void);

/* Take "--name VALUE" and "--name=VALUE" for the options of cmd. */
static void parse_opts(const char *cmd, int argc, char **argv, Opt *opts,
                       int nopts)
{
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		Opt *o = NULL;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			print_help();
			exit(finish());
		}
		if (arg[0] != '-' || arg[1] == '\0')
			usage("unexpected argument '%s' to '%s'", arg, cmd);
		for (int j = 0; j < nopts && !o; j++)
			if (opt_is(&opts[j], arg, &val))
				o = &opts[j];
		if (!o) {
			const char *best = NULL;
			int bd = 3;
			for (int j = 0; j < nopts; j++) {
				int e = hy_edit_distance(arg, opts[j].name);
				if (e < bd) {
					bd = e;
					best = opts[j].name;
				}
			}
			if (best)
				usage("unknown option '%s' for '%s' (did you mean "
				      "'%s'?)", arg, cmd, best);
			usage("unknown option '%s' for '%s'", arg, cmd);
		}
		if (!val) {
			if (i + 1 >= argc)
				usage("option '%s' needs a value", arg);
			val = argv[++i];
		}
		if (o->value)
			usage("option '%s' given twice", o->name);
		o->value = val;
	}
}

static int64_t parse_int(const char *opt, const char *s, int64_t lo,
                         int64_t hi, const char *why)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *s == ' ')
		usage("%s wants an integer, got '%s'", opt, s);
	if (v < lo || v > hi)
		usage("%s %lld is out of range: %s", opt, v, why);
	return (int64_t)v;
}

/* ---- memory ----------------------------------------------------------- */

static size_t mul3(int64_t a, int64_t b, int64_t c, const char *what)
{
	size_t n;

	if (a < 0 || b < 0 || c < 0 ||
	    !hy_mul_size((size_t)a, (size_t)b, &n) ||
	    !hy_mul_size(n, (size_t)c, &n) ||
	    !hy_mul_size(n, sizeof(float), &n))
		fail("%s of %" PRId64 " x %" PRId64 " x %" PRId64 " floats is "
		     "too large", what, a, b, c);
	return n;
}

/* 64-byte aligned, as hyenac_run wants; never returns NULL. */
static void *xalloc(size_t n, const char *what)
{
	void *p = NULL;

	if (posix_memalign(&p, 64, n ? n : 64) != 0 || !p)
		fail("out of memory allocating %zu bytes for %s", n, what);
	return p;
}

/* One forward's memory: outputs and scratch for batch B at length L. */
typedef struct Buffers {
	float *out[2];
	void *scratch;
	int64_t width[2]; /* last dimension of each output */
} Buffers;

static void buffers_alloc(Buffers *bf, int64_t B, int64_t L)
{
	int nout = hyenac_meta[HYRT_META_NOUTPUTS] >= 2 ? 2 : 1;
	static const char *what[2] = {"hidden states", "logits"};

	memset(bf, 0, sizeof *bf);
	bf->width[0] = hyenac_meta[HYRT_META_D_MODEL];
	bf->width[1] = hyenac_meta[HYRT_META_VOCAB];
	for (int i = 0; i < nout; i++)
		bf->out[i] = xalloc(mul3(B, L, bf->width[i], what[i]),
		                    what[i]);
	bf->scratch = xalloc(hyenac_scratch_bytes(B, L), "activations");
}

static void buffers_free(Buffers *bf)
{
	free(bf->out[0]);
	free(bf->out[1]);
	free(bf->scratch);
}

/* Map the weights from /proc/self/exe, which names this process's own
 * file even if the path it ran from has since been replaced. Complaints
 * name the path the user knows. */
static void load_weights(HyrtBlob *w)
{
	static const char self[] = "/proc/self/exe";
	char path[4096];
	ssize_t n;
	Diag d;

	diag_init(&d);
	if (hyrt_blob_open(w, self,
	                   (uint64_t)hyenac_meta[HYRT_META_WEIGHT_BYTES], &d))
		return;
	n = readlink(self, path, sizeof path - 1);
	path[n > 0 ? n : 0] = '\0';
	if (n > 0 && strncmp(d.msg, self, sizeof self - 1) == 0)
		fail("%s: cannot load the packed weights:%s", path,
		     d.msg + sizeof self);
	fail("cannot load the packed weights: %s", d.msg);
}

/* ---- embed, logits ------------------------------------------------------ */

/* Check a token array: integer, [B, L], 1 <= L <= max_len, every id in
 * the vocabulary. Reports the first offender by its index. */
static void check_tokens(const char *path, const NpyArray *a)
{
	int64_t max_len = hyenac_meta[HYRT_META_MAX_LEN];
	int64_t vocab = hyenac_meta[HYRT_META_VOCAB_SIZE];

	if (a->dtype != DT_I32)
		fail("%s: token ids must be integers, not floating point", path);
	if (a->rank != 2)
		fail("%s: tokens must be a 2-d array [batch, length], got "
		     "rank %d", path, a->rank);
	if (a->dim[1] < 1)
		fail("%s: sequence length is 0; %s takes 1 to %" PRId64,
		     path, hyenac_model_name, max_len);
	if (a->dim[1] > max_len)
		fail("%s: sequence length %" PRId64 " exceeds %" PRId64 ", the "
		     "longest this binary was compiled for (hyenac compile "
		     "--seq-len)", path, a->dim[1], max_len);
	const int32_t *t = a->data;
	for (size_t i = 0; i < a->numel; i++)
		if (t[i] < 0 || t[i] >= vocab)
			fail("%s: token id %" PRId32 " at [%" PRId64 ", %" PRId64
			     "] is outside the vocabulary [0, %" PRId64 ")",
			     path, t[i], (int64_t)i / a->dim[1],
			     (int64_t)i % a->dim[1], vocab);
}

static int cmd_forward(const char *cmd, int which, int argc, char **argv)
{
	Opt opts[] = {{"--tokens", "-t", NULL}, {"--output", "-o", NULL}};
	NpyArray tok;
	HyrtBlob w;
	Buffers bf;
	Diag d;

	parse_opts(cmd, argc, argv, opts, 2);
	if (!opts[0].value)
		usage("'%s' needs --tokens FILE.npy", cmd);
	if (!opts[1].value)
		usage("'%s' needs -o FILE.npy", cmd);
	if (which >= hyenac_meta[HYRT_META_NOUTPUTS])
		usage("model %s was compiled without its LM head, so it has "
		      "no logits; use 'embed'", hyenac_model_name);

	diag_init(&d);
	if (!npy_load(opts[0].value, &tok, &d))
		fail_diag(&d);
	check_tokens(opts[0].value, &tok);
	int64_t B = tok.dim[0], L = tok.dim[1];

	load_weights(&w);
	buffers_alloc(&bf, B, L);
	if (B > 0)
		hyenac_run(w.data, tok.data, B, L, bf.out, bf.scratch);
	int64_t dim[3] = {B, L, bf.width[which]};
	if (!npy_save_f32(opts[1].value, bf.out[which], 3, dim, &d))
		fail_diag(&d);
	buffers_free(&bf);
	hyrt_blob_close(&w);
	npy_free(&tok);
	return finish();
}

/* ---- bench -------------------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmd_bench(int argc, char **argv)
{
	Opt opts[] = {{"--batch", "-b", NULL}, {"--seq-len", "-l", NULL},
	              {"--threads", "-j", NULL}, {"--reps", "-r", NULL}};
	int64_t max_len = hyenac_meta[HYRT_META_MAX_LEN];
	int64_t vocab = hyenac_meta[HYRT_META_VOCAB_SIZE];
	char why[96];
	HyrtBlob w;
	Buffers bf;

	parse_opts("bench", argc, argv, opts, 4);
	int64_t B = opts[0].value
	    ? parse_int("--batch", opts[0].value, 1, INT32_MAX, "need >= 1")
	    : 1;
	snprintf(why, sizeof why, "this binary takes 1 to %" PRId64, max_len);
	int64_t L = opts[1].value
	    ? parse_int("--seq-len", opts[1].value, 1, max_len, why)
	    : max_len;
	int64_t T = opts[2].value
	    ? parse_int("--threads", opts[2].value, 1, 4096,
	                "need 1 to 4096")
	    : 1;
	int64_t R = opts[3].value
	    ? parse_int("--reps", opts[3].value, 1, 1000000,
	                "need 1 to 1000000")
	    : 10;

	size_t ntok = mul3(B, L, 1, "tokens") / sizeof(float);
	int32_t *tok = xalloc(ntok * sizeof(int32_t), "tokens");
	uint64_t s = 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < ntok; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		tok[i] = (int32_t)((s >> 11) % (uint64_t)vocab);
	}
	double *ms = xalloc(sizeof(double) * (size_t)R, "timings");
	load_weights(&w);
	buffers_alloc(&bf, B, L);

	hyenac_run(w.data, tok, B, L, bf.out, bf.scratch); /* warm-up */
	for (int64_t r = 0; r < R; r++) {
		double t0 = now_ms();
		hyenac_run(w.data, tok, B, L, bf.out, bf.scratch);
		ms[r] = now_ms() - t0;
	}
	qsort(ms, (size_t)R, sizeof *ms, cmp_double);
	double med = R % 2 ? ms[R / 2] : 0.5 * (ms[R / 2 - 1] + ms[R / 2]);
	double sec = med > 0 ? med * 1e-3 : 1e-9;
	double toks = (double)B * (double)L;
	double flops = (double)hyenac_meta[HYRT_META_FLOPS_PER_TOKEN] * toks;
	printf("model=%s batch=%" PRId64 " seq_len=%" PRId64 " threads=%"
	       PRId64 " reps=%" PRId64 " median_ms=%.3f min_ms=%.3f "
	       "tokens_per_s=%.1f gflops=%.3f\n", hyenac_model_name, B, L, T,
	       R, med, ms[0], toks / sec, flops / sec * 1e-9);
	buffers_free(&bf);
	hyrt_blob_close(&w);
	free(ms);
	free(tok);
	return finish();
}

/* ---- info, help --------------------------------------------------------- */

static const char *outputs_str(void)
{
	return hyenac_meta[HYRT_META_NOUTPUTS] >= 2 ? "hidden,logits"
	                                            : "hidden";
}

static int cmd_info(int argc, char **argv)
{
	HyrtBlob w;

	parse_opts("info", argc, argv, NULL, 0);
	printf("model=%s\n", hyenac_model_name);
	printf("d_model=%" PRId64 "\n", hyenac_meta[HYRT_META_D_MODEL]);
	printf("n_layer=%" PRId64 "\n", hyenac_meta[HYRT_META_N_LAYER]);
	printf("vocab_size=%" PRId64 "\n", hyenac_meta[HYRT_META_VOCAB_SIZE]);
	printf("logits_width=%" PRId64 "\n", hyenac_meta[HYRT_META_VOCAB]);
	printf("max_len=%" PRId64 "\n", hyenac_meta[HYRT_META_MAX_LEN]);
	printf("outputs=%s\n", outputs_str());
	printf("weight_bytes=%" PRId64 "\n",
	       hyenac_meta[HYRT_META_WEIGHT_BYTES]);
	printf("flops_per_token=%" PRId64 "\n",
	       hyenac_meta[HYRT_META_FLOPS_PER_TOKEN]);
	printf("scratch_bytes_at_max_len=%zu\n",
	       hyenac_scratch_bytes(1, hyenac_meta[HYRT_META_MAX_LEN]));
	fflush(stdout);
	load_weights(&w);
	printf("weights=ok\n");
	hyrt_blob_close(&w);
	return finish();
}

static void print_help(void)
{
	int64_t max_len = hyenac_meta[HYRT_META_MAX_LEN];

	printf("usage: %s COMMAND [OPTIONS]\n\n", prog);
	printf("HyenaDNA model '%s' compiled by hyenac: d_model %" PRId64
	       ", n_layer %" PRId64 ", vocabulary %" PRId64 ", sequences of "
	       "1 to %" PRId64 " tokens; outputs: %s.\n\n", hyenac_model_name,
	       hyenac_meta[HYRT_META_D_MODEL], hyenac_meta[HYRT_META_N_LAYER],
	       hyenac_meta[HYRT_META_VOCAB_SIZE], max_len, outputs_str());
	printf("commands:\n"
	       "  embed  --tokens T.npy -o H.npy   hidden states, float32 "
	       "[B, L, %" PRId64 "]\n", hyenac_meta[HYRT_META_D_MODEL]);
	if (hyenac_meta[HYRT_META_NOUTPUTS] >= 2)
		printf("  logits --tokens T.npy -o G.npy   logits, float32 "
		       "[B, L, %" PRId64 "]\n", hyenac_meta[HYRT_META_VOCAB]);
	printf("  bench  [--batch B] [--seq-len L] [--threads T] "
	       "[--reps R]\n"
	       "         time R forwards (default 10) of random tokens, "
	       "batch B (1),\n"
	       "         length L (%" PRId64 ") after one warm-up; prints "
	       "one line\n"
	       "  info   the compiled model's facts, key=value\n\n",
	       max_len);
	printf("Tokens: a .npy integer array [B, L], ids below %" PRId64
	       ", any B, 1 <= L <= %" PRId64 ".\n"
	       "Outputs are written whole or not at all.\n"
	       "--threads is checked (>= 1) but forwards run on one thread "
	       "for now.\n"
	       "gflops counts the model's FLOPs per token at L = %" PRId64
	       ".\n"
	       "Exit status: 0 done, 1 bad input or failure, 2 bad usage.\n",
	       hyenac_meta[HYRT_META_VOCAB_SIZE], max_len, max_len);
}

int main(int argc, char **argv)
{
	static const char *cmds[] = {"embed", "logits", "bench", "info",
	                             "--help"};
	const char *cmd;

	if (argc > 0 && argv[0] && *argv[0]) {
		const char *slash = strrchr(argv[0], '/');
		prog = slash ? slash + 1 : argv[0];
	}
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage("no command given");
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		print_help();
		return finish();
	}
	if (strcmp(cmd, "embed") == 0)
		return cmd_forward(cmd, 0, argc, argv);
	if (strcmp(cmd, "logits") == 0)
		return cmd_forward(cmd, 1, argc, argv);
	if (strcmp(cmd, "bench") == 0)
		return cmd_bench(argc, argv);
	if (strcmp(cmd, "info") == 0)
		return cmd_info(argc, argv);
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		if (hy_edit_distance(cmd, cmds[i]) <= 2)
			usage("unknown command '%s' (did you mean '%s'?)", cmd,
			      cmds[i]);
	usage("unknown command '%s'", cmd);
}
