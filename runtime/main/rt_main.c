/*
 * rt_main.c - the commands on token files of every model binary that
 * `hyenac compile` builds, and the helpers all its commands share (the
 * error exits, the option parser, the weights); main() and the command
 * table are rt_dispatch.c's, the FASTA commands rt_fasta.c's.
 *
 * It is linked with one generated object (hyenac_meta, hyenac_model_name,
 * hyenac_scratch_bytes, hyenac_run: runtime/hyrt.h) and does everything
 * around the forward pass: the command line, reading and checking token
 * files, mapping the weights packed at the end of the executable, memory
 * for activations and outputs, writing .npy results, and timing.
 *
 *   NAME embed  --tokens T.npy -o H.npy   hidden states [B, L, d_model]
 *               [--resume]                (every command but bench, info)
 *               [--pool mean|last]        or [B, d_model], pooled
 *               [--layer K|all]           HF's hidden_states[K] (0 the
 *                                         embeddings, K after block K,
 *                                         n_layer+1 the final norm), or
 *                                         all [B, n_layer+2, ...]
 *                                         (hyenac_run_hidden; pooled
 *                                         here, mean in double)
 *   NAME logits --tokens T.npy -o G.npy   logits [B, L, vocab]
 *   NAME classify --tokens T.npy -o P.npy a classifier's logits
 *                                         [B, num_labels] (hyenac_run_classify)
 *   NAME embed  --fasta F.fa -o X.npy ...   rows per FASTA window (rt_fasta.c)
 *   NAME score  --fasta F.fa -o S.tsv ...   log-likelihoods per window
 *   NAME classify --fasta F.fa -o P.tsv ... label probabilities per window
 *   NAME bench  [--batch B] [--seq-len L] [--threads T] [--reps R]
 *   NAME info | --help
 *
 * Exit status: 0 done; 1 bad input (a token file, the binary's own
 * weights, memory, an output that cannot be written), one line naming the
 * file and the problem; 2 bad rt_usage, one line ending "see 'NAME --help'".
 * Nothing the user passes makes it die by a signal: tokens are checked
 * against the vocabulary and the compiled length before the generated
 * code sees them, and sizes are multiplied with overflow checks.
 *
 * A batch of any size runs in chunks of rows that fit the memory plan the
 * binary was compiled for (hyenac compile --batch B0 --seq-len Lmax) and
 * HYENAC_MEMORY_LIMIT when set, its output streamed to the file chunk by
 * chunk; a limit too small for one row is refused before anything runs.
 *
 * --resume, or several ranks under mpirun (a binary of `hyenac compile
 * --mpi`), runs a token command in shards of rows (rt_shard.h,
 * forward_sharded): the same chunked forwards, each shard's rows into a
 * piece of the journal, the output made from the pieces by rank 0.
 *
 * --threads T (default: every online core) sizes the runtime's thread
 * pool for embed, logits and bench: one forward's positions and channels
 * are split over it, so a single sequence uses every thread too; the FASTA
 * commands run T batches of windows at once instead.
 */
#include "rt_main.h"
#include "rt_par.h"
#include "rt_shard.h"
#include "runtime/cuda/gpurt.h"
#include "runtime/memlimit.h"
#include "runtime/outfile.h"
#include "runtime/tokens.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *rt_prog = "model";

/* A GPU binary links runtime/cuda/ (libhyenac_rt_cuda.a), whose object
 * defining hyenac_run defines these too; a CPU binary leaves them NULL. */
#pragma weak hyrt_gpu_start
#pragma weak hyrt_gpu_set_fail
#pragma weak hyrt_gpu_device_desc
#pragma weak hyrt_gpu_forward_on_device
#pragma weak hyrt_gpu_stats
#pragma weak hyrt_gpu_arch

/* -1: not chosen (hyrt_gpu_start then takes the launcher's local rank) */
int64_t rt_gpu_device = -1;

bool rt_is_gpu(void)
{
	return hyrt_gpu_start != NULL;
}

/* ---- errors ------------------------------------------------------------ */

bool rt_stderr_midline;

/* A progress line ends before any message goes out after it. */
static void end_progress_line(void)
{
	if (rt_stderr_midline)
		fputc('\n', stderr);
	rt_stderr_midline = false;
}

bool rt_argv_only;
void (*rt_exit_hook)(int status);
void (*rt_help)(void);

static HY_NORETURN void leave(int status)
{
	if (status != 0)
		rt_par_fail(status); /* one rank failing ends the job */
	if (rt_exit_hook)
		rt_exit_hook(status);
	exit(status);
}

/* One line on stderr, "PROG: MESSAGE[; see 'PROG --help']": whatever
 * came from input (argv[0], an argument, a path, a record name) is in it
 * with its control characters escaped, so it stays one line, and however
 * long PROG and MESSAGE are, the line ends as it should. */
static void say(bool usage, const char *fmt, va_list ap)
{
	char msg[2048], text[4 * sizeof msg], prog[256];

	if (rt_par_quiet())
		return; /* rank 0 says it */
	end_progress_line();
	vsnprintf(msg, sizeof msg, fmt, ap);
	hy_escape(text, sizeof text, msg);
	hy_escape(prog, sizeof prog, rt_prog);
	if (usage)
		fprintf(stderr, "%s: %s%s; see '%s --help'\n", prog,
		        rt_par_tag(), text, prog);
	else
		fprintf(stderr, "%s: %s%s\n", prog, rt_par_tag(), text);
}

void rt_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(true, fmt, ap);
	va_end(ap);
	leave(2);
}

void rt_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(false, fmt, ap);
	va_end(ap);
	leave(1);
}

void rt_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(false, fmt, ap);
	va_end(ap);
}

void rt_fail_diag(const Diag *d)
{
	rt_fail("%s", d->msg);
}

/* Flush stdout and report a write error (a full disk, a closed pipe: SIGPIPE
 * is ignored) as exit 1. */
int rt_finish(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		rt_fail("cannot write to standard output: %s", strerror(errno));
	return 0;
}

/* ---- the command line ------------------------------------------------- */

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

/* Take "--name VALUE" and "--name=VALUE" for the options of cmd. */
void rt_parse_opts(const char *cmd, int argc, char **argv, Opt *opts,
                       int nopts)
{
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		Opt *o = NULL;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			if (rt_help)
				rt_help();
			leave(rt_finish());
		}
		if (arg[0] != '-' || arg[1] == '\0')
			rt_usage("unexpected argument '%s' to '%s'", arg, cmd);
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
				rt_usage("unknown option '%s' for '%s' (did you mean "
				      "'%s'?)", arg, cmd, best);
			rt_usage("unknown option '%s' for '%s'", arg, cmd);
		}
		if (o->flag) {
			if (val)
				rt_usage("option '%s' takes no value", o->name);
			val = "";
		} else if (!val) {
			if (i + 1 >= argc)
				rt_usage("option '%s' needs a value", arg);
			val = argv[++i];
		}
		if (o->value)
			rt_usage("option '%s' given twice", o->name);
		o->value = val;
	}
}

int64_t rt_parse_int(const char *opt, const char *s, int64_t lo,
                         int64_t hi, const char *why)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *s == ' ')
		rt_usage("%s wants an integer, got '%s'", opt, s);
	if (v < lo || v > hi)
		rt_usage("%s %lld is out of range: %s", opt, v, why);
	return (int64_t)v;
}

/* ---- memory ----------------------------------------------------------- */

size_t rt_mul3(int64_t a, int64_t b, int64_t c, const char *what)
{
	size_t n;

	if (a < 0 || b < 0 || c < 0 ||
	    !hy_mul_size((size_t)a, (size_t)b, &n) ||
	    !hy_mul_size(n, (size_t)c, &n) ||
	    !hy_mul_size(n, sizeof(float), &n))
		rt_fail("%s of %" PRId64 " x %" PRId64 " x %" PRId64 " floats is "
		     "too large", what, a, b, c);
	return n;
}

/* 64-byte aligned, as hyenac_run wants (on 2 MB pages when large:
 * runtime/bigalloc.c); never returns NULL. */
void *rt_xalloc(size_t n, const char *what)
{
	void *p = hyrt_alloc_big(n);

	if (!p)
		rt_fail("out of memory allocating %zu bytes for %s", n, what);
	return p;
}

/* ---- a batch in chunks ------------------------------------------------ */

/* A batch of any size runs as forwards of at most `rows` rows each, so
 * that no forward asks for more memory than the binary's plan: what
 * `hyenac compile --batch B0 --seq-len Lmax` planned for one forward, the
 * activations of B0 rows of Lmax tokens (hyenac_scratch_bytes) and their
 * output at the wider of the model's outputs. Rows are independent: every
 * row and every channel is computed the same way whatever the rows around
 * it and whatever the thread split (the FFT plans depend on L and the
 * channel block only), so a chunked batch gives the bytes an unchunked
 * one would. When HYENAC_MEMORY_LIMIT is set, the weights, the long
 * convolutions' kept filter spectra at L (held from the first forward
 * on; kept_spectra), the token array and one forward must fit it too; when not even one row does, the
 * run is refused before anything is allocated. Outputs are streamed to
 * their file chunk by chunk, never held whole. */

int64_t rt_memory_limit(void)
{
	Diag d;
	int64_t v;

	diag_init(&d);
	v = hyrt_memory_limit_env(&d);
	if (v < 0)
		rt_fail_diag(&d);
	return v;
}

/* The bytes of the filter spectra the forwards at L keep: the plan's
 * figure at max_len (HYRT_META_SPECTRA_BYTES) scaled to L's FFT size,
 * which is exact, since every kept spectrum has N/2+1 rows of its
 * channels. */
static size_t kept_spectra(int64_t L)
{
	int64_t all = hyenac_meta[HYRT_META_SPECTRA_BYTES];
	int64_t nmax = hyrt_fft_size(hyenac_meta[HYRT_META_MAX_LEN]) / 2 + 1;
	int64_t n = hyrt_fft_size(L) / 2 + 1;

	if (all <= 0 || n >= nmax)
		return all > 0 ? (size_t)all : 0;
	return (size_t)(all / nmax * n + (all % nmax * n + nmax - 1) / nmax);
}

/* The bytes one forward may take: the compiled plan (above). */
static size_t plan_bytes(void)
{
	int64_t B0 = hyenac_meta[HYRT_META_BATCH] > 0
	                 ? hyenac_meta[HYRT_META_BATCH]
	                 : 1;
	int64_t Lm = hyenac_meta[HYRT_META_MAX_LEN];
	int64_t wide = hyenac_meta[HYRT_META_D_MODEL];

	if (hyenac_meta[HYRT_META_NOUTPUTS] >= 2 &&
	    hyenac_meta[HYRT_META_VOCAB] > wide)
		wide = hyenac_meta[HYRT_META_VOCAB];
	size_t cells = hy_sat_mul_size((size_t)B0, (size_t)Lm);
	size_t out = hy_sat_mul_size(hy_sat_mul_size(cells, (size_t)wide),
	                             sizeof(float));
	return hy_sat_add_size(hyenac_scratch_bytes(B0, Lm), out);
}

/* One forward of r rows of L tokens, each making row_floats output
 * floats. hyenac_scratch_bytes is affine in B for a fixed L and rounds
 * each value up to CG_SCRATCH_ALIGN, so r times the cost of a row beyond
 * B = 0 bounds it from above without evaluating it at a huge r. */
static size_t forward_bytes(int64_t r, int64_t L, size_t row_floats)
{
	size_t s0 = hyenac_scratch_bytes(0, L);
	size_t s1 = hyenac_scratch_bytes(1, L);
	size_t row = hy_sat_add_size(s1 > s0 ? s1 - s0 : 0,
	                             hy_sat_mul_size(row_floats, sizeof(float)));
	return hy_sat_add_size(s0, hy_sat_mul_size((size_t)r, row));
}

/* Rows per forward for B rows of L tokens that make row_floats output
 * floats each (exit 1 when HYENAC_MEMORY_LIMIT leaves no room for one).
 * held is what the run holds beside the forward: the token array. */
static int64_t chunk_rows(int64_t B, int64_t L, size_t row_floats,
                          size_t held)
{
	size_t budget = plan_bytes(), one = forward_bytes(1, L, row_floats);
	/* A GPU binary's forwards hold little host memory (the device's is
	 * its runtime's to share out): up to 1 GiB of output rows at once. */
	if (rt_is_gpu())
		budget = hy_sat_add_size(budget, (size_t)1 << 30);
	int64_t limit = rt_memory_limit(), lo, hi;

	if (limit > 0) {
		size_t w = hy_sat_add_size(
		    (size_t)hyenac_meta[HYRT_META_WEIGHT_BYTES], kept_spectra(L));
		size_t fixed = hy_sat_add_size(w, held);
		size_t room = (size_t)limit > fixed ? (size_t)limit - fixed : 0;
		if (one > room)
			rt_fail("%s=%" PRId64 " bytes is too little for one row of "
			        "%" PRId64 " tokens: it needs %zu bytes (%zu for "
			        "the forward, %zu weights and kept FFT spectra, "
			        "%zu tokens); raise %s",
			        HYRT_MEMORY_LIMIT_ENV, limit, L,
			        hy_sat_add_size(one, fixed), one, w, held,
			        HYRT_MEMORY_LIMIT_ENV);
		if (room < budget)
			budget = room;
	}
	if (B <= 1 || one >= budget)
		return 1; /* a row always runs, L <= max_len: the plan's own */
	/* The largest r <= B whose forward fits, by bisection on a monotone
	 * bound. */
	lo = 1;
	hi = B;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo + 1) / 2;
		if (forward_bytes(mid, L, row_floats) <= budget)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Floats to the output as little-endian, as the header says ('<f4'). */
static void write_rows(HyrtOut *o, const float *p, size_t n)
{
	Diag d;

	diag_init(&d);
	if (!npy_write_rows_f32(o, p, n, &d))
		rt_fail_diag(&d);
}

/* What a chunked run computes: output `which` (0 hidden, 1 logits),
 * pooled or not, or a classifier's logits (POOL_CLASSIFY). */
typedef struct Job {
	const float *w;
	const int32_t *tok; /* [B, L] */
	int64_t B, L, rows;
	int which;
	Pool pool;
	int64_t layer; /* --layer, or RT_LAYER_NONE */
	size_t row_floats;
	float *buf;    /* [rows, row_floats] */
	float *tmp;    /* --layer: the unpooled states of a chunk */
	void *scratch; /* hyenac_scratch_bytes(rows, L) */
} Job;

static void job_init(Job *j, const float *w, const int32_t *tok, int64_t B,
                     int64_t L, int which, Pool pool, int64_t layer)
{
	const int64_t *meta = hyenac_meta;

	memset(j, 0, sizeof *j);
	j->w = w;
	j->tok = tok;
	j->B = B;
	j->L = L;
	j->which = which;
	j->pool = pool;
	j->layer = layer;
	j->row_floats =
	    pool != POOL_NONE
	        ? (size_t)rt_pool_width(pool)
	        : rt_mul3(1, L,
	                  meta[which ? HYRT_META_VOCAB : HYRT_META_D_MODEL],
	                  "one row's output") / sizeof(float);
	j->row_floats *= (size_t)rt_layer_count(layer);
	/* --layer holds the unpooled states of a chunk beside its output */
	size_t plan_floats = j->row_floats;
	if (layer != RT_LAYER_NONE)
		plan_floats += rt_layer_tmp_floats(1, L, layer);
	j->rows = chunk_rows(B, L, plan_floats, rt_mul3(B, L, 1, "tokens"));
}

/* The job's buffers: one chunk's output and activations. */
static void job_alloc(Job *j)
{
	if (j->B == 0)
		return;
	j->buf = rt_xalloc(rt_mul3(j->rows, (int64_t)j->row_floats, 1,
	                           "outputs"), "outputs");
	j->scratch = rt_xalloc(hyenac_scratch_bytes(j->rows, j->L),
	                       "activations");
	if (j->layer != RT_LAYER_NONE)
		j->tmp = rt_xalloc(rt_layer_tmp_floats(j->rows, j->L, j->layer) *
		                   sizeof(float), "hidden states");
}

static void job_free(Job *j)
{
	free(j->scratch);
	free(j->buf);
	free(j->tmp);
	j->scratch = j->buf = j->tmp = NULL;
}

/* Run every row of the job, a chunk at a time, each chunk's output going
 * to o (when not NULL) in row order. */
static void job_run(const Job *j, HyrtOut *o)
{
	float *outs[2] = {NULL, NULL};

	outs[j->which] = j->buf;
	for (int64_t b = 0; b < j->B; b += j->rows) {
		int64_t r = j->B - b < j->rows ? j->B - b : j->rows;
		const int32_t *t = j->tok + b * j->L;
		if (j->layer != RT_LAYER_NONE)
			rt_forward_layer(j->w, t, r, j->L, j->layer, j->pool,
			                 j->buf, j->tmp, j->scratch);
		else if (j->pool != POOL_NONE)
			rt_forward_pooled(j->w, t, r, j->L, j->pool, j->buf,
			                  j->scratch);
		else
			hyenac_run(j->w, t, r, j->L, outs, j->scratch);
		if (o)
			write_rows(o, j->buf, (size_t)r * j->row_floats);
	}
}

/* The job's output as one .npy at path, written as it is computed and
 * renamed into place whole: [B, d_model] pooled, [B, num_labels]
 * classified, else [B, L, width]; --layer all puts the states' axis
 * after B ([B, n_layer+2, ...], HF's tuple stacked at axis 1). */
static void job_save(Job *j, const char *path)
{
	int64_t ns = rt_layer_count(j->layer);
	int64_t w = (int64_t)j->row_floats / ns;
	int64_t dim[4] = {j->B, j->L, w / j->L, 0};
	HyrtOut o, *outs[1] = {&o};
	int rank = 3;
	Diag d;

	if (j->pool != POOL_NONE) {
		dim[1] = w;
		rank = 2;
	}
	if (j->layer == RT_LAYER_ALL) {
		memmove(&dim[2], &dim[1], 2 * sizeof *dim);
		dim[1] = ns;
		rank++;
	}
	hyrt_out_install_cleanup();
	diag_init(&d);
	if (!hyrt_out_open(&o, path, &d) ||
	    !npy_begin_f32(&o, rank, dim, &d))
		rt_fail_diag(&d);
	job_alloc(j);
	job_run(j, &o);
	job_free(j);
	if (!hyrt_out_commit(outs, 1, &d))
		rt_fail_diag(&d);
}

/* --batch B for the window commands (embed/score/classify --fasta,
 * vep), B windows of Wt tokens each per forward: the value, or by
 * default about 2k tokens' worth on a CPU, so that one forward's
 * activations stay in the core's own cache (measured: one window a
 * forward of tiny-1k ran 3.5% faster than 15 alone, and about 10% faster
 * with all 16 cores of a Xeon busy, each process then spilling less to
 * the memory they share), and about 16k on a GPU, which needs the rows
 * to fill its multiprocessors; at most 64. */
int64_t rt_batch_count(const char *value, int64_t Wt)
{
	if (value)
		return rt_parse_int("--batch", value, 1, 1 << 20,
		                    "need 1 to 1048576");
	int64_t tokens = rt_is_gpu() ? 16384 : 2048, b = tokens / Wt;
	return b < 1 ? 1 : b > 64 ? 64 : b;
}

/* --threads N, defaulting to every online core: the one default of
 * every command that takes it. Where the process may run on fewer (its
 * CPU affinity: taskset, a Slurm cpuset, mpirun binding a rank to a
 * core) it is those; and where several ranks of an MPI job share the
 * node, each takes its share of the node's cores. */
int64_t rt_thread_count(const char *value)
{
	if (value)
		return rt_parse_int("--threads", value, 1, RT_MAX_THREADS,
		                    "need 1 to " RT_MAX_THREADS_STR);
	long online = sysconf(_SC_NPROCESSORS_ONLN), n = online;
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 &&
	    CPU_COUNT(&set) < n)
		n = CPU_COUNT(&set);
	int local = rt_par_local_size();
	if (local > 1 && online / local < n)
		n = online / local;
	return n < 1 ? 1 : n > RT_MAX_THREADS ? RT_MAX_THREADS : n;
}

static HY_NORETURN void gpu_fail(const char *msg)
{
	rt_fail("%s", msg);
}

/* A GPU binary's device, started where every command that runs a forward
 * maps its weights, before it opens an output: no driver, no device, a
 * device of an older arch than the kernels', no cuFFT or too little
 * memory is one line and exit 1 with nothing written. */
static void start_gpu(const HyrtBlob *w)
{
	char msg[1024];

	if (!rt_is_gpu() || rt_argv_only)
		return;
	hyrt_gpu_set_fail(gpu_fail);
	bool ok = hyrt_gpu_start(w->data, w->bytes, rt_gpu_device, msg,
	                         sizeof msg) == HYRT_GPU_OK;
	/* every rank of a job starts its device here: they agree before
	 * any leaves, so that each failing rank's line gets out */
	if (!rt_par_all_ok(ok)) {
		if (!ok)
			rt_fail("%s", msg);
		leave(1); /* another rank failed and said why */
	}
}

/* Map the weights from /proc/self/exe, which names this process's own
 * file even if the path it ran from has since been replaced. Complaints
 * name the path the user knows. */
static void map_weights(HyrtBlob *w)
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
		rt_fail("%s: cannot load the packed weights:%s", path,
		     d.msg + sizeof self);
	rt_fail("cannot load the packed weights: %s", d.msg);
}

void rt_load_weights(HyrtBlob *w)
{
	map_weights(w);
	start_gpu(w);
}

/* ---- embed, logits ------------------------------------------------------ */

/* Check a token array (integer: npy_load_ints): [B, L], or [L] read as
 * one row [1, L], 1 <= L <= max_len, every id in the vocabulary. Reports
 * the first offender by its index. B = 0 is a batch of no rows: the output has none either, as
 * with a FASTA file of no records, and a warning says so. */
static void check_tokens(const char *path, NpyArray *a)
{
	Diag d;

	diag_init(&d);
	hyrt_tokens_as_rows(a);
	if (hyrt_check_token_array(a, hyenac_meta[HYRT_META_MAX_LEN],
	                           hyenac_meta[HYRT_META_VOCAB_SIZE], path,
	                           "%" PRId64 ", the longest this binary was "
	                           "compiled for (hyenac compile --seq-len)",
	                           &d) != HYRT_TOK_OK)
		rt_fail("%s", d.msg);
	if (a->dim[0] == 0)
		rt_warn("warning: %s has no rows (shape (0, %" PRId64 ")); the "
		        "output has none", path, a->dim[1]);
}

Pool rt_parse_pool(const char *value)
{
	if (strcmp(value, "mean") == 0)
		return POOL_MEAN;
	if (strcmp(value, "last") == 0)
		return POOL_LAST;
	if (strcmp(value, "none") != 0)
		rt_usage("--pool takes mean, last or none, not '%s'", value);
	return POOL_NONE;
}

int64_t rt_pool_width(Pool pool)
{
	return pool == POOL_CLASSIFY ? hyenac_meta[HYRT_META_NUM_LABELS]
	                             : hyenac_meta[HYRT_META_D_MODEL];
}

void rt_need_classifier(void)
{
	if (hyenac_meta[HYRT_META_NUM_LABELS] <= 0)
		rt_usage("model %s is no classifier (its checkpoint has no "
		         "score.weight), so it cannot classify; use 'embed'",
		         hyenac_model_name);
}

void rt_forward_pooled(const float *w, const int32_t *tok, int64_t B,
                       int64_t L, Pool pool, float *dst, void *scratch)
{
	if (pool == POOL_CLASSIFY) {
		if (!hyenac_run_classify(w, tok, B, L, dst, scratch))
			rt_fail("model %s has no classifier entry",
			        hyenac_model_name);
		return;
	}
	if (!hyenac_run_pooled(w, tok, B, L, pool == POOL_MEAN ? dst : NULL,
	                       pool == POOL_LAST ? dst : NULL, scratch))
		rt_fail("model %s cannot pool its hidden states (it does not end "
		        "in a layernorm)", hyenac_model_name);
}

/* ---- hidden states of any layer (embed --layer) --------------------- */

int64_t rt_parse_layer(const char *value)
{
	int64_t last = hyenac_meta[HYRT_META_N_LAYER] + 1;
	char why[160];

	if (!value)
		return RT_LAYER_NONE;
	if (strcmp(value, "all") == 0)
		return RT_LAYER_ALL;
	snprintf(why, sizeof why, "this model's hidden states are 0 (the "
	         "embeddings) to %" PRId64 " (the final norm), or 'all'", last);
	return rt_parse_int("--layer", value, 0, last, why);
}

int64_t rt_layer_count(int64_t layer)
{
	return layer == RT_LAYER_ALL ? hyenac_meta[HYRT_META_N_LAYER] + 2 : 1;
}

size_t rt_layer_tmp_floats(int64_t B, int64_t L, int64_t layer)
{
	return rt_mul3(B * rt_layer_count(layer), L,
	               hyenac_meta[HYRT_META_D_MODEL], "hidden states") /
	       sizeof(float);
}

/* Pool n rows of [L, d] at src, state by state, into [n, d] at dst. */
static void pool_rows(float *dst, const float *src, int64_t L, int64_t d,
                      Pool pool)
{
	if (pool == POOL_LAST) {
		memcpy(dst, src + (L - 1) * d, (size_t)d * sizeof(float));
		return;
	}
	for (int64_t c = 0; c < d; c++) {
		double s = 0;
		for (int64_t p = 0; p < L; p++)
			s += src[p * d + c];
		dst[c] = (float)(s / (double)L);
	}
}

void rt_forward_layer(const float *w, const int32_t *tok, int64_t B,
                      int64_t L, int64_t layer, Pool pool, float *dst,
                      float *tmp, void *scratch)
{
	int64_t ns = hyenac_meta[HYRT_META_N_LAYER] + 2;
	int64_t nw = rt_layer_count(layer), d = hyenac_meta[HYRT_META_D_MODEL];
	size_t per = (size_t)(L * d); /* one row's one state */
	float *outs[HYRT_MAX_HIDDEN] = {0};

	if (ns > HYRT_MAX_HIDDEN)
		rt_fail("model %s has too many layers for --layer",
		        hyenac_model_name);
	for (int64_t k = 0; k < nw; k++)
		outs[layer == RT_LAYER_ALL ? k : layer] = tmp + (size_t)k * B * per;
	if (!hyenac_run_hidden(w, tok, B, L, outs, scratch))
		rt_fail("model %s has no hidden-state entry (recompile it with "
		        "this hyenac)", hyenac_model_name);
	/* per row, state after state: [nw, L, d] or [nw, d] */
	for (int64_t b = 0; b < B; b++)
		for (int64_t k = 0; k < nw; k++) {
			const float *src = tmp + ((size_t)k * B + (size_t)b) * per;
			if (pool == POOL_NONE)
				memcpy(dst + ((size_t)b * nw + (size_t)k) * per, src,
				       per * sizeof(float));
			else
				pool_rows(dst + ((size_t)b * nw + (size_t)k) * d, src,
				          L, d, pool);
		}
}

/* Refuse a bad output name before any work (outfile.h says which):
 * exit 2. The inputs are input (NULL for none) and this binary itself. */
void rt_check_output(const char *path, const char *ext, bool may_stdout,
                     const char *what, const char *input)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	const char *inputs[3] = {input, n > 0 ? self : NULL, NULL};
	Diag d;

	self[n > 0 ? n : 0] = '\0';
	if (!input) {
		inputs[0] = inputs[1];
		inputs[1] = NULL;
	}
	diag_init(&d);
	if (!hyrt_out_check(path, ext, may_stdout, what, inputs, &d)) {
		if (d.usage)
			rt_usage("%s", d.msg);
		rt_fail_diag(&d);
	}
}

/* What a token command computes, for the journal's key. */
static const char *output_name(int which, Pool pool)
{
	static const char *const pools[] = {"pooled mean", "pooled last",
	                                    "hidden", "classify"};
	return which ? "logits" : pools[pool];
}

/* The token commands sharded (rt_shard.h): under several ranks or with
 * --resume. Rank 0 reads and checks the tokens first and plans; every
 * rank then computes its shards of rows into the journal, and rank 0
 * writes the output from the pieces. */
static void forward_sharded(const char *cmd, const char *tpath,
                            const char *out, int which, Pool pool,
                            bool resume, int64_t T)
{
	NpyArray tok = {0};
	HyrtBlob w;
	RtShards s;
	Job job;
	Diag d;
	char *key = NULL, what[4200];
	int32_t *rows = NULL;
	int64_t B = 0, L = 0;

	hyrt_out_install_cleanup();
	diag_init(&d);
	rt_load_weights(&w);
	if (rt_par_rank() == 0) {
		if (!npy_load_ints(tpath, &tok, &d))
			rt_fail_diag(&d);
		check_tokens(tpath, &tok);
		B = tok.dim[0];
		L = tok.dim[1];
		char *bin = rt_shard_key_binary(w.data, w.bytes);
		if (asprintf(&key, "%scommand %s %s\ntokens [%" PRId64 ", %"
		             PRId64 "] crc32 %08" PRIx32 "\n", bin, cmd,
		             output_name(which, pool), B, L,
		             rt_shard_crc(0, tok.data,
		                          (size_t)(B * L) * sizeof(int32_t))) < 0)
			rt_fail("out of memory");
		free(bin);
		rows = rt_xalloc(sizeof *rows * (size_t)(B ? B : 1), "the plan");
		for (int64_t i = 0; i < B; i++)
			rows[i] = (int32_t)L;
	}
	snprintf(what, sizeof what, "rows of %s", tpath);
	rt_shard_plan(&s, out, resume, key, rows, B, 1, "npy", NULL, what,
	              false);
	free(rows);
	free(key);
	if (rt_par_rank() != 0 && rt_shard_any(&s)) {
		/* rank 0 has checked the file */
		if (!npy_load_ints(tpath, &tok, &d))
			rt_fail_diag(&d);
		hyrt_tokens_as_rows(&tok);
	}
	hyrt_set_threads((int)T);
	for (int64_t i; (i = rt_shard_next(&s)) >= 0;) {
		const RtShard *sh = &s.shard[i];
		HyrtOut piece = {0}, *pieces[1] = {&piece};
		L = tok.dim[1];
		if (sh->first + sh->count > tok.dim[0])
			rt_fail("%s has fewer rows than when the job was planned",
			        tpath);
		job_init(&job, w.data, (const int32_t *)tok.data + sh->first * L,
		         sh->count, L, which, pool, RT_LAYER_NONE);
		rt_shard_open(&s, i, pieces);
		job_alloc(&job);
		job_run(&job, &piece);
		job_free(&job);
		rt_shard_commit(&s, pieces);
	}
	rt_par_wait_all(NULL, NULL);
	if (rt_par_rank() == 0) {
		/* the output's shape, as job_save writes it */
		HyrtOut o, *outs[1] = {&o};
		job_init(&job, w.data, NULL, B, L, which, pool, RT_LAYER_NONE);
		int64_t dim[3] = {B, L, (int64_t)job.row_floats / (L ? L : 1)};
		int rank = 3;
		if (pool != POOL_NONE) {
			dim[1] = (int64_t)job.row_floats;
			rank = 2;
		}
		if (!hyrt_out_open(&o, out, &d) || !npy_begin_f32(&o, rank, dim, &d))
			rt_fail_diag(&d);
		rt_shard_gather(&s, outs);
		if (!hyrt_out_commit(outs, 1, &d))
			rt_fail_diag(&d);
		rt_shard_remove(&s);
	}
	rt_shard_free(&s);
	hyrt_blob_close(&w);
	npy_free(&tok);
}

static int forward_cmd(const char *cmd, int which, int argc, char **argv)
{
	Opt opts[] = {{"--tokens", "-t", NULL, false},
	              {"--output", "-o", NULL, false},
	              {"--threads", "-j", NULL, false},
	              {"--resume", NULL, NULL, true},
	              {"--pool", NULL, NULL, false},
	              {"--layer", NULL, NULL, false}};
	NpyArray tok;
	HyrtBlob w;
	Job job;
	Diag d;
	bool classify = strcmp(cmd, "classify") == 0;
	Pool pool = classify ? POOL_CLASSIFY : POOL_NONE;

	rt_parse_opts(cmd, argc, argv, opts, which == 0 && !classify ? 6 : 4);
	int64_t T = rt_thread_count(opts[2].value);
	if (opts[4].value)
		pool = rt_parse_pool(opts[4].value);
	int64_t layer = rt_parse_layer(opts[5].value);
	if (classify)
		rt_need_classifier();
	if (!opts[0].value)
		rt_usage("'%s' needs --tokens FILE.npy", cmd);
	if (!opts[1].value)
		rt_usage("'%s' needs -o FILE.npy", cmd);
	if (which >= hyenac_meta[HYRT_META_NOUTPUTS] &&
	    hyenac_meta[HYRT_META_NUM_LABELS] > 0)
		rt_usage("model %s is a classifier with no LM head, so it has "
		         "no logits; use 'classify' or 'embed'",
		         hyenac_model_name);
	if (which >= hyenac_meta[HYRT_META_NOUTPUTS])
		rt_usage("model %s was compiled without its LM head, so it has "
		      "no logits; use 'embed'", hyenac_model_name);
	rt_check_output(opts[1].value, "npy", false, cmd, opts[0].value);
	if (rt_argv_only)
		return 0;

	rt_par_begin();
	if (rt_shard_wanted(opts[3].value != NULL)) {
		if (layer != RT_LAYER_NONE)
			rt_usage("--layer: a job of several ranks or --resume takes "
			         "the final hidden states only, for now");
		forward_sharded(cmd, opts[0].value, opts[1].value, which, pool,
		                opts[3].value != NULL, T);
		return rt_finish();
	}
	diag_init(&d);
	if (!npy_load_ints(opts[0].value, &tok, &d))
		rt_fail_diag(&d);
	check_tokens(opts[0].value, &tok);
	int64_t B = tok.dim[0], L = tok.dim[1];

	/* Chunked to fit the plan and the limit, refused before anything
	 * is allocated when not even one row fits. */
	job_init(&job, NULL, tok.data, B, L, which, pool, layer);
	rt_load_weights(&w);
	job.w = w.data;
	hyrt_set_threads((int)T);
	job_save(&job, opts[1].value);
	hyrt_blob_close(&w);
	npy_free(&tok);
	return rt_finish();
}

int rt_cmd_embed(const char *cmd, int argc, char **argv)
{
	return forward_cmd(cmd, 0, argc, argv);
}

int rt_cmd_logits(const char *cmd, int argc, char **argv)
{
	return forward_cmd(cmd, 1, argc, argv);
}

int rt_cmd_classify(const char *cmd, int argc, char **argv)
{
	return forward_cmd(cmd, 0, argc, argv);
}

/* ---- bench -------------------------------------------------------------- */

double rt_now_ms(void)
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

void rt_sort_doubles(double *v, int64_t n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
}

int rt_cmd_bench(const char *cmd, int argc, char **argv)
{
	Opt opts[] = {{"--batch", "-b", NULL, false},
	              {"--seq-len", "-l", NULL, false},
	              {"--threads", "-j", NULL, false},
	              {"--reps", "-r", NULL, false}};
	int64_t max_len = hyenac_meta[HYRT_META_MAX_LEN];
	int64_t vocab = hyenac_meta[HYRT_META_VOCAB_SIZE];
	char why[96];
	HyrtBlob w;
	Job job;

	rt_parse_opts(cmd, argc, argv, opts, 4);
	int64_t B = opts[0].value
	    ? rt_parse_int("--batch", opts[0].value, 1, INT32_MAX, "need >= 1")
	    : 1;
	snprintf(why, sizeof why, "this binary takes 1 to %" PRId64, max_len);
	int64_t L = opts[1].value
	    ? rt_parse_int("--seq-len", opts[1].value, 1, max_len, why)
	    : max_len;
	int64_t T = rt_thread_count(opts[2].value);
	int64_t R = opts[3].value
	    ? rt_parse_int("--reps", opts[3].value, 1, 1000000,
	                "need 1 to 1000000")
	    : 10;
	if (rt_argv_only)
		return 0;

	size_t ntok = rt_mul3(B, L, 1, "tokens") / sizeof(float);
	int32_t *tok = rt_xalloc(ntok * sizeof(int32_t), "tokens");
	uint64_t s = 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < ntok; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		tok[i] = (int32_t)((s >> 11) % (uint64_t)vocab);
	}
	double *ms = rt_xalloc(sizeof(double) * (size_t)R, "timings");
	/* the whole model: logits when it has a head, in the chunks embed
	 * and logits would run */
	job_init(&job, NULL, tok, B, L,
	         hyenac_meta[HYRT_META_NOUTPUTS] >= 2 ? 1 : 0, POOL_NONE,
	         RT_LAYER_NONE);
	rt_load_weights(&w);
	job.w = w.data;
	hyrt_set_threads((int)T);
	job_alloc(&job);

	/* One untimed forward first (FFTW plans, page faults), unless a
	 * single rep was asked for: that one is timed cold, as a one-off
	 * run of the binary would be. A GPU binary times the device's
	 * work, its outputs left there (as PyTorch's GPU timings are
	 * taken), the tokens uploaded before. */
	int which = hyenac_meta[HYRT_META_NOUTPUTS] >= 2 ? 1 : 0;
	for (int64_t r = R > 1 ? -1 : 0; r < R; r++) {
		double t0 = rt_now_ms();
		if (rt_is_gpu())
			hyrt_gpu_forward_on_device(tok, B, L, which);
		else
			job_run(&job, NULL);
		if (r >= 0)
			ms[r] = rt_now_ms() - t0;
	}
	rt_sort_doubles(ms, R);
	double med = R % 2 ? ms[R / 2] : 0.5 * (ms[R / 2 - 1] + ms[R / 2]);
	double sec = med > 0 ? med * 1e-3 : 1e-9;
	double toks = (double)B * (double)L;
	double flops = (double)hyenac_meta[HYRT_META_FLOPS_PER_TOKEN] * toks;
	printf("model=%s batch=%" PRId64 " seq_len=%" PRId64 " threads=%"
	       PRId64 " reps=%" PRId64 " median_ms=%.3f min_ms=%.3f "
	       "tokens_per_s=%.1f gflops=%.3f\n", hyenac_model_name, B, L, T,
	       R, med, ms[0], toks / sec, flops / sec * 1e-9);
	if (rt_is_gpu()) {
		HyrtGpuStats st;
		hyrt_gpu_stats(&st);
		printf("gpu: %s; times are the device's work with the outputs "
		       "left on the device; gpu_peak_mib=%.1f (weights %.1f, "
		       "kept filter spectra %.1f) gpu_device_used_mib=%.1f\n",
		       hyrt_gpu_device_desc(), (double)st.peak_bytes / 1048576.0,
		       (double)st.weights / 1048576.0,
		       (double)st.spectra / 1048576.0,
		       (double)st.device_used / 1048576.0);
	}
	job_free(&job);
	hyrt_blob_close(&w);
	free(ms);
	free(tok);
	return rt_finish();
}

/* ---- info, help --------------------------------------------------------- */

const char *rt_outputs_str(void)
{
	if (hyenac_meta[HYRT_META_NUM_LABELS] > 0)
		return "hidden,classify";
	return hyenac_meta[HYRT_META_NOUTPUTS] >= 2 ? "hidden,logits"
	                                            : "hidden";
}

int rt_cmd_info(const char *cmd, int argc, char **argv)
{
	HyrtBlob w;

	rt_parse_opts(cmd, argc, argv, NULL, 0);
	if (rt_argv_only)
		return 0;
	printf("model=%s\n", hyenac_model_name);
	printf("d_model=%" PRId64 "\n", hyenac_meta[HYRT_META_D_MODEL]);
	printf("n_layer=%" PRId64 "\n", hyenac_meta[HYRT_META_N_LAYER]);
	printf("vocab_size=%" PRId64 "\n", hyenac_meta[HYRT_META_VOCAB_SIZE]);
	printf("logits_width=%" PRId64 "\n", hyenac_meta[HYRT_META_VOCAB]);
	printf("max_len=%" PRId64 "\n", hyenac_meta[HYRT_META_MAX_LEN]);
	printf("outputs=%s\n", rt_outputs_str());
	if (hyenac_meta[HYRT_META_NUM_LABELS] > 0) {
		printf("num_labels=%" PRId64 "\n",
		       hyenac_meta[HYRT_META_NUM_LABELS]);
		printf("pad_id=%" PRId64 "\n", hyenac_meta[HYRT_META_PAD_ID]);
		for (int64_t i = 0; i < hyenac_meta[HYRT_META_NUM_LABELS]; i++)
			printf("label.%" PRId64 "=%s\n", i, hyrt_label_name(i));
	}
	printf("precision=%s\n", hyenac_meta[HYRT_META_BF16] ? "bf16" : "fp32");
	printf("weight_bytes=%" PRId64 "\n",
	       hyenac_meta[HYRT_META_WEIGHT_BYTES]);
	printf("flops_per_token=%" PRId64 "\n",
	       hyenac_meta[HYRT_META_FLOPS_PER_TOKEN]);
	printf("scratch_bytes_at_max_len=%zu\n",
	       hyenac_scratch_bytes(1, hyenac_meta[HYRT_META_MAX_LEN]));
	if (hyenac_meta[HYRT_META_RANDOM_WEIGHTS])
		printf("random_weights=seed %" PRIu64 ": outputs carry no "
		       "biology\n", (uint64_t)hyenac_meta[HYRT_META_SEED]);
	else
		printf("random_weights=no\n");
	if (rt_is_gpu())
		printf("target=cuda\ngpu_arch=%s\n", hyrt_gpu_arch());
	fflush(stdout);
	map_weights(&w); /* info needs no device */
	printf("weights=ok\n");
	hyrt_blob_close(&w);
	return rt_finish();
}

void rt_help_embed(void)
{
	printf("  embed  --tokens T.npy -o H.npy   hidden states, float32 "
	       "[B, L, %" PRId64 "]\n"
	       "                                   (tokens [L] are one row: "
	       "B = 1)\n"
	       "         [--pool mean|last]        or pooled over positions, "
	       "[B, %" PRId64 "],\n"
	       "                                   never holding [B, L, %" PRId64
	       "]\n"
	       "         [--layer K|all]           HF's hidden_states[K]: 0 the "
	       "embeddings,\n"
	       "                                   K after block K, %" PRId64
	       " the final norm\n"
	       "                                   (the default); all: [B, %"
	       PRId64 ", ...]\n", hyenac_meta[HYRT_META_D_MODEL],
	       hyenac_meta[HYRT_META_D_MODEL], hyenac_meta[HYRT_META_D_MODEL],
	       hyenac_meta[HYRT_META_N_LAYER] + 1,
	       hyenac_meta[HYRT_META_N_LAYER] + 2);
}

void rt_help_logits(void)
{
	if (hyenac_meta[HYRT_META_NOUTPUTS] >= 2)
		printf("  logits --tokens T.npy -o G.npy   logits, float32 "
		       "[B, L, %" PRId64 "]\n", hyenac_meta[HYRT_META_VOCAB]);
}

void rt_help_classify(void)
{
	if (hyenac_meta[HYRT_META_NUM_LABELS] > 0)
		printf("  classify --tokens T.npy -o P.npy a classifier's "
		       "logits, float32 [B, %" PRId64 "],\n"
		       "                                   read before each "
		       "row's first pad (id %" PRId64 ")\n",
		       hyenac_meta[HYRT_META_NUM_LABELS],
		       hyenac_meta[HYRT_META_PAD_ID]);
}

void rt_help_bench(void)
{
	printf("  bench  [--batch B] [--seq-len L] [--threads T] "
	       "[--reps R]\n"
	       "         time R forwards (default 10) of random tokens, "
	       "batch B (1),\n"
	       "         length L (%" PRId64 ") after one warm-up; prints "
	       "one line\n", hyenac_meta[HYRT_META_MAX_LEN]);
	if (rt_is_gpu())
		printf("         (and a line 'gpu: ...': the device's work is "
		       "timed, outputs\n"
		       "         left on the device; its peak memory)\n");
}

void rt_help_info(void)
{
	printf("  info   the compiled model's facts, key=value\n");
}
