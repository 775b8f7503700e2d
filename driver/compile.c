/*
 * compile.c - `hyenac compile`: from a loaded, optimised graph to a
 * deployment artefact. The steps are flat: lay out and pack the weights,
 * emit the LLVM module, then write what --emit asks for. An executable is
 * the object linked (by the system C compiler driver) with the runtime,
 * libhyenac_rt_main.a and libhyenac_rt.a, and FFTW statically, htslib
 * dynamically (vep's VCF/BCF and faidx: a deployment machine needs
 * libhts3), with the packed weights appended after the program
 * (runtime/hyrt.h says how). --mpi links rt_par_mpi.c's main archive and
 * libmpi instead (runtime/main/rt_par.h). A library (--emit lib) is the
 * same with the API of
 * runtime/hyenac_model.h in place of main(), and that header beside it.
 *
 * Every artefact is made in a private directory beside the output (an
 * unpredictable name, mode 0700, removed on every error path and on
 * SIGINT/SIGTERM/SIGHUP: runtime/outfile.h) and renamed into place, so a
 * failure or a signal leaves nothing under the name asked for and nothing
 * planted can redirect a write. What the linker prints is captured there
 * and a failure becomes one line naming the output.
 */
#include "driver.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <llvm-c/ErrorHandling.h>

#include "runtime/outfile.h"
#include "runtime/npy.h"

/* runtime/npy.h cannot include ir/ir.h; its codes must stay the IR's. */
_Static_assert((int)NPY_F32 == (int)DT_F32 && (int)NPY_I32 == (int)DT_I32 &&
                   (int)NPY_MAX_RANK == (int)IR_MAX_RANK,
               "runtime/npy.h and ir/ir.h disagree");

extern char **environ;

/* Model FLOPs per token at length L: the matmuls (2 K N per row), the
 * implicit filter's MLP amortised over the sequence, and the FFT long
 * convolution estimated as three transforms per channel of the size the
 * runtime uses (hyrt_fft_size). */
int64_t drv_flops_per_token(const Graph *g, int64_t L)
{
	double f = 0;
	bool *live = calloc((size_t)g->nnodes + 1, sizeof *live);
	HY_ASSERT(live);
	ir_entry_live(g, NULL, live); /* the full forward, not the entries */
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (!live[i])
			continue;
		if (n->op == OP_LINEAR || n->op == OP_FUSED_PROJ) {
			double k = (double)n->src[1]->type.dim[1];
			double nn = (double)n->src[1]->type.dim[0];
			/* [L, F] filter rows cost per position, [B, L, C] per token */
			f += 2.0 * k * nn;
		} else if (n->op == OP_LONGCONV || n->op == OP_GATED_CONV) {
			double C = (double)n->type.dim[2];
			double N = (double)hyrt_fft_size(L);
			f += C * (3.0 * 2.5 * N * log2(N > 2 ? N : 2) + 6.0 * N) /
			     (double)L;
		} else if (n->op == OP_DWCONV) {
			f += 2.0 * (double)n->src[1]->type.dim[0] *
			     (double)n->src[1]->type.dim[1];
		} else if (n->op == OP_FUSED_MLP) {
			FmSrc fs;
			ir_fm_srcs(n, &fs);
			for (int w = 0; w < 2; w++) {
				const TensorType *t = &n->src[w ? fs.w2 : fs.w1]->type;
				f += 2.0 * (double)t->dim[0] * (double)t->dim[1];
			}
		}
		if (n->op == OP_GATED_CONV && n->iattr[GC_GEN]) { /* its filter */
			GcSrc gs;
			ir_gc_srcs(n, &gs);
			const TensorType *w = &n->src[gs.w]->type;
			f += 2.0 * (double)w->dim[0] * (double)w->dim[1];
		}
		if (n->op == OP_FUSED_PROJ && n->iattr[FP_CONV]) /* its dwconv */
			f += 2.0 * (double)n->src[1]->type.dim[0] *
			     (double)n->iattr[FP_CONV];
	}
	free(live);
	return (int64_t)f;
}

/* What one forward of the compiled binary holds at its peak, as the
 * `bench` command runs it (the model's last output: logits when there is
 * a head): the activation plan, that output, the weights (mapped, every
 * page read), the long convolutions' kept filter spectra (memplan's
 * Graph.kept_bytes), and per pool thread the FFT convolution's work buffers and
 * the kernels' stack tiles, for as many threads as this machine has
 * cores (bench's default). The one planned-memory figure: --stats prints
 * it and `hyenac compile` checks it against the memory limit
 * (fe_check_bytes). INT64_MAX where it would overflow. */
void drv_run_bytes(const Graph *g, int64_t B, int64_t L, RunBytes *rb)
{
	size_t n;
	memset(rb, 0, sizeof *rb);
	rb->activations = pass_planned_bytes(g, B, L);
	if (g->noutputs) {
		rb->output = INT64_MAX;
		if (ir_type_numel(&g->outputs[g->noutputs - 1].node->type, B, L,
		                  &n) && n <= INT64_MAX / 4)
			rb->output = (int64_t)n * 4;
	}
	int64_t convc = 0;
	CgWeights w = {0};
	if (g->bf16) /* which matrices are stored only as bf16 panels */
		cg_layout_weights(g, g->arena, &w);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *x = g->nodes[i];
		/* a matrix only bf16 projections read: its bf16 panels, half
		 * of its fp32 bytes (past the padding) */
		if (x->op == OP_WEIGHT && ir_type_numel(&x->type, B, L, &n))
			rb->weights = hy_sat_add_i64(
			    rb->weights, hy_sat_mul_i64((int64_t)n,
			                                w.offset &&
			                                        w.offset[i] == SIZE_MAX
			                                    ? 2
			                                    : 4));
		if ((x->op == OP_GATED_CONV || x->op == OP_LONGCONV) &&
		    x->type.dim[2] > convc)
			convc = x->type.dim[2];
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	rb->threads = cores < 1 ? 1 : (int)cores;
	rb->per_thread = (convc ? hyrt_conv_work_bytes(L, convc) : 0) +
	                 CG_STACK_TILE_BYTES;
	rb->spectra = g->kept_bytes;
	rb->total = hy_sat_add_i64(
	    hy_sat_add_i64(hy_sat_add_i64(rb->activations, rb->output),
	                   rb->spectra),
	    hy_sat_add_i64(rb->weights,
	                   hy_sat_mul_i64(rb->threads, rb->per_thread)));
}

void drv_print_stats(const Model *m, const Graph *g, const CompileOptions *o,
                     FILE *f)
{
	int conv = 0;
	fprintf(f, "model=%s\n", g->name);
	fprintf(f, "seq_len=%lld\n", (long long)o->seq_len);
	fprintf(f, "batch=%lld\n", (long long)o->batch);
	fprintf(f, "nodes=%d\n", g->nnodes);
	fprintf(f, "kernels=%d\n", cg_kernel_count(g));
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (n->op != OP_LONGCONV && n->op != OP_GATED_CONV)
			continue;
		if (conv % (m->spec.order - 1) == 0)
			fprintf(f, "conv[%d]=%s\n", conv / (int)(m->spec.order - 1),
			        n->iattr[0] == CONV_DIRECT ? "direct"
			        : n->iattr[0] == CONV_FFT  ? "fft"
			                                   : "auto");
		conv++;
	}
	if (g->folded_bytes)
		fprintf(f, "filters=folded\nfolded_bytes=%lld\n",
		        (long long)g->folded_bytes);
	else if (g->unfolded_bytes)
		fprintf(f, "filters=runtime\nfold_would_need_bytes=%lld\n",
		        (long long)g->unfolded_bytes);
	RunBytes rb;
	drv_run_bytes(g, o->batch, o->seq_len, &rb);
	fprintf(f, "planned_bytes=%lld\n", (long long)rb.total);
	fprintf(f, "activation_bytes=%lld\n", (long long)rb.activations);
	fprintf(f, "output_bytes=%lld\n", (long long)rb.output);
	fprintf(f, "weight_bytes=%lld\n", (long long)rb.weights);
	fprintf(f, "spectra_bytes=%lld\n", (long long)rb.spectra);
	fprintf(f, "thread_bytes=%lld\nthreads=%d\n", (long long)rb.per_thread,
	        rb.threads);
	fprintf(f, "activation_bytes_per_token=%lld\n",
	        (long long)g->region_bytes[MEM_TOKEN]);
	fprintf(f, "flops_per_token=%lld\n",
	        (long long)drv_flops_per_token(g, o->seq_len));
}

static const char *runtime_dir(void)
{
	const char *env = getenv("HYENAC_RUNTIME_DIR");
	return env && *env ? env : HYENAC_RUNTIME_DIR;
}

/* ---- what the linker says ---------------------------------------------
 * The linker runs in a process group of its own (a signal to hyenac
 * kills the group before the private directory is removed: outfile.h),
 * with stdout and stderr captured in a file of the private directory. A
 * failure becomes one line naming the output: the cause when the log
 * shows a write error, else the linker's first error line with the
 * private directory's names replaced by the output's. */

/* The output compile is writing, for messages from LLVM's fatal error
 * handler (a write error on a stream it owns). */
static const char *current_out;
static const char *current_dir;

/* msg with every name under dir (up to the next ':' or blank) replaced
 * by out, into buf. */
static void name_output(char *buf, size_t cap, const char *msg,
                        const char *dir, const char *out)
{
	size_t n = 0, dl = dir ? strlen(dir) : 0;

	while (*msg && n + 1 < cap) {
		if (dl && strncmp(msg, dir, dl) == 0) {
			n += (size_t)snprintf(buf + n, cap - n, "%s", out);
			n = n < cap ? n : cap - 1;
			msg += dl;
			while (*msg && *msg != ':' && *msg != ' ' && *msg != '\'')
				msg++;
			continue;
		}
		buf[n++] = *msg == '\t' ? ' ' : *msg;
		msg++;
	}
	buf[n] = 0;
}

static void on_llvm_fatal(const char *reason)
{
	static const char io[] = "IO failure on output stream: ";
	const char *out = current_out ? current_out : "output";
	bool write = strncmp(reason, io, sizeof io - 1) == 0;
	char line[1024];

	name_output(line, sizeof line, write ? reason + sizeof io - 1 : reason,
	            current_dir, out);
	fprintf(stderr, "hyenac: %s: %s: %s\n", out,
	        write ? "cannot write" : "LLVM error", line);
	/* LLVM exits with status 1; the atexit hook removes the temporaries */
}

/* The first line of the log that says why, as "OUT: ..." in d. */
static void explain_link(const HyrtOut *o, const char *log, const char *tool,
                         int status, Diag *d)
{
	static const int causes[] = {ENOSPC, EFBIG, EDQUOT, EROFS, EIO};
	char text[8192] = "", line[1024];
	FILE *f = fopen(log, "r");
	size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
	const char *pick = NULL;

	if (f)
		fclose(f);
	text[n] = 0;
	for (size_t i = 0; i < sizeof causes / sizeof *causes; i++)
		if (strstr(text, strerror(causes[i]))) {
			diag_error(d, "%s: cannot write: %s", o->path,
			           strerror(causes[i]));
			return;
		}
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n"))
		if (!pick && (strstr(l, "error") || strstr(l, "Error")))
			pick = l;
	if (!pick) {
		pick = text[0] ? strtok(text, "\n") : NULL;
	}
	if (pick) {
		name_output(line, sizeof line, pick, o->dir, o->path);
		diag_error(d, "%s: linking failed: %s", o->path, line);
	} else if (status >= 0) {
		diag_error(d, "%s: linking failed: '%s' exited with status %d",
		           o->path, tool, status);
	} else {
		diag_error(d, "%s: linking failed: '%s' was killed by signal %d",
		           o->path, tool, -status);
	}
}

/* Run argv with its output in o's log; true when it exited 0. */
const EntryPoint *drv_entry(const Graph *g, const char *name)
{
	for (int i = 0; i < g->nentries; i++)
		if (strcmp(g->entries[i].name, name) == 0)
			return &g->entries[i];
	return NULL;
}

/* A classifier's label names for hyenac_labels, each ended by '\n'
 * (hf_config.c refuses names with control characters); NULL for other
 * models. */
const char *drv_labels(Arena *a, const ModelSpec *s)
{
	size_t n = 1, at = 0;
	char *buf;

	if (s->num_labels <= 0)
		return NULL;
	for (int64_t i = 0; i < s->num_labels; i++)
		n += strlen(s->labels[i]) + 1;
	buf = arena_alloc(a, n);
	for (int64_t i = 0; i < s->num_labels; i++) {
		size_t k = strlen(s->labels[i]);
		memcpy(buf + at, s->labels[i], k);
		buf[at + k] = '\n';
		at += k + 1;
	}
	buf[at] = 0;
	return buf;
}

static bool spawn_wait(char *const *argv, HyrtOut *o, Diag *d)
{
	const char *log = hyrt_out_dir_file(o, "link.log");
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t block, old;
	pid_t pid;
	int st, err;

	if (!log) {
		diag_error(d, "%s: out of memory", o->path);
		return false;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT |
	                                 O_EXCL | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 2, 1);
	posix_spawnattr_init(&at);
	/* The child starts with the signals unblocked that are blocked here
	 * until its pid is where the signal handler looks. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	posix_spawnattr_setsigmask(&at, &old);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
	                         POSIX_SPAWN_SETSIGMASK);
	err = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	if (err == 0)
		hyrt_out_set_child(pid);
	sigprocmask(SIG_SETMASK, &old, NULL);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (err != 0) {
		diag_error(d, "%s: cannot run '%s': %s", o->path, argv[0],
		           strerror(err));
		return false;
	}
	pid_t w;
	while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	hyrt_out_set_child(0);
	if (w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return true;
	explain_link(o, log, argv[0],
	             w != pid ? -1 : WIFEXITED(st) ? WEXITSTATUS(st)
	                                           : -WTERMSIG(st), d);
	return false;
}

/* --mpi: the main archive with rt_par_mpi.c, and libmpi as pkg-config's
 * ompi-c said when hyenac was built (CMakeLists.txt); libmpi stays a
 * shared library, the cluster's own. Appends those flags to argv (room
 * for 32 entries, NULL-ended). */
static void add_mpi_libs(char **argv, Arena *a)
{
#ifdef HYENAC_MPI_LIBS
	int n = 0;
	while (argv[n])
		n++;
	char *flags = arena_printf(a, "%s", HYENAC_MPI_LIBS);
	for (char *t = strtok(flags, " "); t && n < 31; t = strtok(NULL, " "))
		argv[n++] = t;
	argv[n] = NULL;
#else
	(void)argv;
	(void)a;
#endif
}

static bool link_exe(const char *obj, bool mpi, HyrtOut *o, Diag *d)
{
	Arena *a = arena_new();
	const char *rt = runtime_dir();
	const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
	char *argv[32] = {
		(char *)cc, "-o", o->tmp, (char *)obj,
		arena_printf(a, "%s/libhyenac_rt_main%s.a", rt, mpi ? "_mpi" : ""),
		arena_printf(a, "%s/libhyenac_rt.a", rt),
		"-Wl,-Bstatic", "-lfftw3f", "-lz", "-Wl,-Bdynamic", "-lhts",
		"-lm", "-lpthread", NULL,
	};
	if (mpi)
		add_mpi_libs(argv, a);
	bool ok = spawn_wait(argv, o, d);
	arena_free(a);
	return ok;
}

/* ---- --emit lib ----------------------------------------------------------
 * A shared library: the object (PIC), the library API
 * (libhyenac_rt_lib.a, runtime/main/rt_lib.c, linked whole) and the
 * runtime, with FFTW and zlib (the weights' CRC-32) static (Debian builds
 * libfftw3f.a and libz.a PIC) so the .so needs only libc, libm and
 * libpthread. A version script exports just the
 * API of runtime/hyenac_model.h; the weights are appended after linking,
 * as for an executable, and the library finds its own file at load. The
 * header is copied beside the library as hyenac_model.h, an output
 * committed together with the library. */

/* ---- --target cuda ---------------------------------------------------------
 * A GPU executable: the host object (codegen/nvptx/: the PTX, the plan,
 * hyenac_meta ...) with libhyenac_rt_main.a, the CUDA runtime
 * libhyenac_rt_cuda.a (hyenac_run and the rest over the plan; it loads
 * libcuda and cuFFT with dlopen, so nothing of CUDA is linked) and
 * libhyenac_rt.a, then the weights appended without the CPU's GEMM
 * panels; with --mpi, the MPI main archive and libmpi as for the CPU
 * (each rank takes its node's GPUs in turn: runtime/cuda/gpurt.h). */
static bool link_gpu_exe(const char *obj, bool mpi, HyrtOut *o, Diag *d)
{
	Arena *a = arena_new();
	const char *rt = runtime_dir();
	const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
	const char *cuda = arena_printf(a, "%s/libhyenac_rt_cuda.a", rt);
	if (access(cuda, R_OK) != 0) {
		diag_error(d, "%s: cannot link a GPU executable: %s: %s (the CUDA "
		              "runtime, CMake target hyenac_rt_cuda)",
		           o->path, cuda, strerror(errno));
		arena_free(a);
		return false;
	}
	char *argv[32] = {
		(char *)cc, "-o", o->tmp, (char *)obj,
		arena_printf(a, "%s/libhyenac_rt_main%s.a", rt, mpi ? "_mpi" : ""),
		(char *)cuda, arena_printf(a, "%s/libhyenac_rt.a", rt),
		"-Wl,-Bstatic", "-lfftw3f", "-lz", "-Wl,-Bdynamic", "-lhts",
		"-lm", "-lpthread", "-ldl", NULL,
	};
	if (mpi)
		add_mpi_libs(argv, a);
	bool ok = spawn_wait(argv, o, d);
	arena_free(a);
	return ok;
}

/* The names runtime/hyenac_model.h declares: keep in sync with it. */
static const char *const lib_exports[] = {
	"hyenac_model_load", "hyenac_model_free", "hyenac_model_embed",
	"hyenac_model_logits", "hyenac_model_error", "hyenac_status_string",
	"hyenac_model_get_name", "hyenac_model_d_model",
	"hyenac_model_logits_width", "hyenac_model_vocab_size",
	"hyenac_model_max_len", "hyenac_model_n_layer",
	"hyenac_model_has_head", "hyenac_tokenize", "hyenac_model_classify",
	"hyenac_model_num_labels", "hyenac_model_label_name",
	"hyenac_model_set_threads", "hyenac_model_threads",
	"hyenac_model_embed_pooled", "hyenac_model_score",
	"hyenac_model_scored_tokens", "hyenac_model_fasta_open",
	"hyenac_model_fasta_next", "hyenac_model_fasta_error",
	"hyenac_model_fasta_close",
	"hyenac_model_hidden",
	"hyenac_model_prefill", "hyenac_model_step",
	"hyenac_model_gen_state_bytes", "hyenac_model_gen_free",
	"hyenac_model_generate",
};

const char *drv_lib_header(Arena *a, const char *out)
{
	const char *slash = strrchr(out, '/');
	return slash ? arena_printf(a, "%.*s/hyenac_model.h",
	                            (int)(slash - out), out)
	             : "hyenac_model.h";
}

static bool write_text(const char *path, const char *shown, const char *text,
                       Diag *d)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		diag_error(d, "%s: cannot write: %s", shown, strerror(errno));
		return false;
	}
	return true;
}

static bool link_lib(const char *obj, HyrtOut *o, Diag *d)
{
	Arena *a = arena_new();
	const char *rt = runtime_dir();
	const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
	const char *slash = strrchr(o->target, '/');
	const char *vs = hyrt_out_dir_file(o, "exports.map");
	char *script = arena_printf(a, "{\n  global:\n");
	for (size_t i = 0; i < sizeof lib_exports / sizeof *lib_exports; i++)
		script = arena_printf(a, "%s    %s;\n", script, lib_exports[i]);
	script = arena_printf(a, "%s  local: *;\n};\n", script);
	char *argv[] = {
		(char *)cc, "-shared", "-o", o->tmp, (char *)obj,
		"-Wl,--whole-archive",
		arena_printf(a, "%s/libhyenac_rt_lib.a", rt),
		"-Wl,--no-whole-archive",
		arena_printf(a, "%s/libhyenac_rt.a", rt),
		"-Wl,-Bstatic", "-lfftw3f", "-lz", "-Wl,-Bdynamic", "-lm",
		"-lpthread",
		arena_printf(a, "-Wl,--version-script=%s", vs),
		arena_printf(a, "-Wl,-soname,%s", slash ? slash + 1 : o->target),
		"-Wl,--no-undefined", "-Wl,-z,noexecstack",
		NULL,
	};
	bool ok = vs && write_text(vs, o->path, script, d) &&
	          spawn_wait(argv, o, d);
	arena_free(a);
	return ok;
}

/* Copy the API header from the runtime directory into hdr, opened on
 * hyenac_model.h beside the library. */
static bool copy_header(HyrtOut *hdr, const char *lib, Diag *d)
{
	Arena *a = arena_new();
	const char *src = arena_printf(a, "%s/hyenac_model.h", runtime_dir());
	char buf[8192];
	size_t n;
	bool ok = false;
	FILE *in = fopen(src, "rb");

	if (!in) {
		diag_error(d, "%s: cannot read the library header: %s", src,
		           strerror(errno));
		goto out;
	}
	if (!hyrt_out_open(hdr, drv_lib_header(a, lib), d))
		goto out;
	ok = true;
	while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
		ok = hyrt_out_write(hdr, buf, n, d);
	if (ok && ferror(in)) {
		diag_error(d, "%s: read error", src);
		ok = false;
	}
out:
	if (in)
		fclose(in);
	arena_free(a);
	return ok;
}

static bool write_ir(const Graph *g, const HyrtOut *o, Diag *d)
{
	FILE *f = fopen(o->tmp, "w");
	if (!f) {
		diag_error(d, "%s: cannot create: %s", o->path, strerror(errno));
		return false;
	}
	ir_print(g, f);
	if (ferror(f) | (fclose(f) != 0)) {
		diag_error(d, "%s: cannot write: %s", o->path, strerror(errno));
		return false;
	}
	return true;
}

/* The FFTW plans of the binary's long convolutions at the compiled
 * length, measured now (FFTW_MEASURE: under a second at 32k tokens,
 * about 45 s at a million) and embedded as wisdom, so that its first
 * forward neither measures nor runs FFTW_ESTIMATE's slower plans; NULL
 * when no convolution takes the FFT. */
static char *fft_wisdom(const Graph *g, int64_t L)
{
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if ((n->op == OP_GATED_CONV || n->op == OP_LONGCONV) &&
		    n->iattr[0] == CONV_FFT && L > 0)
			return hyrt_fft_measure_wisdom(L, HYRT_FFT_MEASURE_SECONDS);
	}
	return NULL;
}

/* Every artefact is made in a private directory beside the output
 * (outfile.h: hyrt_out_open_dir) and renamed into place, with the
 * library's header, only when all of it is written. */
bool drv_compile(const Model *m, Graph *g, const CompileOptions *o, Diag *d)
{
	Arena *a = g->arena;
	HyrtOut out = {0}, hdr = {0};
	HyrtOut *both[2] = {&out, &hdr};
	CgWeights w;
	CgModule *cm = NULL;
	void *blob = NULL;
	bool ok = false, lib = strcmp(o->emit, "lib") == 0;
	int64_t meta[HYRT_META_COUNT] = {0};
	const char *obj;
	char *wisdom = NULL;

	hyrt_out_install_cleanup();
	if (!hyrt_out_open_dir(&out, o->out, d))
		return false;
	current_out = o->out;
	current_dir = out.dir;
	LLVMInstallFatalErrorHandler(on_llvm_fatal);
	if (!(obj = hyrt_out_dir_file(&out, "model.o"))) {
		diag_error(d, "%s: out of memory", o->out);
		goto done;
	}
	if (o->stats)
		drv_print_stats(m, g, o, stdout);
	if (strcmp(o->emit, "ir") == 0) {
		ok = write_ir(g, &out, d);
		goto done;
	}
	bool gpu = o->gpu_arch != NULL;
	if (gpu)
		cg_layout_weights_flat(g, a, &w);
	else
		cg_layout_weights(g, a, &w);
	meta[HYRT_META_D_MODEL] = m->spec.d_model;
	meta[HYRT_META_VOCAB] = fe_vocab_padded(&m->spec);
	meta[HYRT_META_VOCAB_SIZE] = m->spec.vocab_size;
	meta[HYRT_META_MAX_LEN] = o->seq_len;
	meta[HYRT_META_NOUTPUTS] = g->noutputs;
	meta[HYRT_META_WEIGHT_BYTES] = (int64_t)w.bytes;
	meta[HYRT_META_N_LAYER] = m->spec.n_layer;
	meta[HYRT_META_FLOPS_PER_TOKEN] = drv_flops_per_token(g, o->seq_len);
	meta[HYRT_META_BATCH] = o->batch > 0 ? o->batch : 1;
	meta[HYRT_META_RANDOM_WEIGHTS] = m->weights_path ? 0 : 1;
	meta[HYRT_META_SEED] = m->weights_path ? 0 : (int64_t)m->seed;
	meta[HYRT_META_NUM_LABELS] = m->spec.num_labels;
	meta[HYRT_META_PAD_ID] = m->spec.pad_id;
	meta[HYRT_META_SPECTRA_BYTES] = g->kept_bytes;
	meta[HYRT_META_BF16] = g->bf16;
	CgOptions co = {o->cpu, o->features, o->opt_level,
	                drv_labels(a, &m->spec), NULL, o->gpu_arch, false, 0};
	wisdom = gpu ? NULL : fft_wisdom(g, o->seq_len);
	co.fftw_wisdom = wisdom;
	cm = cg_emit(g, &w, &co, meta, d);
	if (!cm)
		goto done;
	if (strcmp(o->emit, "ll") == 0) {
		ok = cg_write_ll(cm, out.tmp, d);
		goto done;
	}
	if (strcmp(o->emit, "ptx") == 0) { /* the driver allows it for cuda */
		ok = cg_write_object(cm, out.tmp, d);
		goto done;
	}
	if (strcmp(o->emit, "obj") == 0) {
		ok = gpu ? cg_write_gpu_host(cm, out.tmp, d)
		         : cg_write_object(cm, out.tmp, d);
		goto done;
	}
	if (gpu ? !cg_write_gpu_host(cm, obj, d) || !link_gpu_exe(obj, o->mpi, &out, d)
	        : !cg_write_object(cm, obj, d) ||
	              !(lib ? link_lib(obj, &out, d)
	                    : link_exe(obj, o->mpi, &out, d)))
		goto done;
	blob = aligned_alloc(64, (w.bytes + 63) / 64 * 64 + 64);
	if (!blob) {
		diag_error(d, "%s: out of memory packing %zu bytes of weights",
		           o->out, w.bytes);
		goto done;
	}
	cg_pack_weights(g, &w, blob);
	ok = hyrt_append_blob(out.tmp, blob, w.bytes, d);
	if (ok && chmod(out.tmp, 0755) != 0) {
		diag_error(d, "%s: cannot write: %s", o->out, strerror(errno));
		ok = false;
	}
	ok = ok && (!lib || copy_header(&hdr, o->out, d));
done:
	free(wisdom);
	free(blob);
	if (cm)
		cg_free(cm);
	ok = ok && hyrt_out_commit(both, lib && hdr.path ? 2 : 1, d);
	if (!ok) {
		char msg[DIAG_MSG_MAX];
		name_output(msg, sizeof msg, d->msg, out.dir, o->out);
		memcpy(d->msg, msg, sizeof msg);
	}
	hyrt_out_abort(&out);
	hyrt_out_abort(&hdr);
	current_out = current_dir = NULL;
	return ok;
}
