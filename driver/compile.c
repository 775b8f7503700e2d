/*
 * compile.c - `hyenac compile`: from a loaded, optimised graph to a
 * deployment artefact. The steps are flat: lay out and pack the weights,
 * emit the LLVM module, then write what --emit asks for. An executable is
 * the object linked (by the system C compiler driver) with the runtime,
 * libhyenac_rt_main.a and libhyenac_rt.a, and FFTW statically, with the
 * packed weights appended after the program (runtime/hyrt.h says how).
 * A library (--emit lib) is the same with the API of
 * runtime/hyenac_model.h in place of main(), and that header beside it.
 *
 * Every artefact is written under a temporary name and renamed into place,
 * so a failure leaves nothing under the name asked for.
 */
#include "driver.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Model FLOPs per token at length L: the matmuls (2 K N per row), the
 * implicit filter's MLP amortised over the sequence, and the FFT long
 * convolution estimated as three transforms of size 2L per channel. */
int64_t drv_flops_per_token(const Graph *g, int64_t L)
{
	double f = 0;
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (n->op == OP_LINEAR || n->op == OP_FUSED_PROJ) {
			double k = (double)n->src[1]->type.dim[1];
			double nn = (double)n->src[1]->type.dim[0];
			/* [L, F] filter rows cost per position, [B, L, C] per token */
			f += 2.0 * k * nn;
		} else if (n->op == OP_LONGCONV || n->op == OP_GATED_CONV) {
			double C = (double)n->type.dim[2], N = 2.0 * (double)L;
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
	return (int64_t)f;
}

/* What one forward of the compiled binary holds at its peak, as the
 * `bench` command runs it (the model's last output: logits when there is
 * a head): the activation plan, that output, the weights (mapped, every
 * page read), and per pool thread the FFT convolution's work buffers and
 * the kernels' stack tiles, for as many threads as this machine has
 * cores (bench's default). */
void drv_run_bytes(const Graph *g, int64_t B, int64_t L, RunBytes *rb)
{
	size_t n;
	memset(rb, 0, sizeof *rb);
	rb->activations = pass_planned_bytes(g, B, L);
	if (g->noutputs &&
	    ir_type_numel(&g->outputs[g->noutputs - 1].node->type, B, L, &n))
		rb->output = (int64_t)n * 4;
	int64_t convc = 0;
	for (int i = 0; i < g->nnodes; i++) {
		const Node *x = g->nodes[i];
		if (x->op == OP_WEIGHT && ir_type_numel(&x->type, B, L, &n))
			rb->weights += (int64_t)n * 4;
		if ((x->op == OP_GATED_CONV || x->op == OP_LONGCONV) &&
		    x->type.dim[2] > convc)
			convc = x->type.dim[2];
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	rb->threads = cores < 1 ? 1 : (int)cores;
	rb->per_thread = (convc ? hyrt_conv_work_bytes(L, convc) : 0) +
	                 CG_STACK_TILE_BYTES;
	rb->total = rb->activations + rb->output + rb->weights +
	            rb->threads * rb->per_thread;
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

/* Run argv, wait; true when it exited 0. */
static bool spawn_wait(char *const *argv, Diag *d, const char *what)
{
	pid_t pid;
	int st, err = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (err != 0) {
		diag_error(d, "%s: cannot run '%s': %s", what, argv[0],
		           strerror(err));
		return false;
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		diag_error(d, "%s: '%s' failed", what, argv[0]);
		return false;
	}
	return true;
}

static bool link_exe(const char *obj, const char *out, Diag *d)
{
	Arena *a = arena_new();
	const char *rt = runtime_dir();
	const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
	char *argv[] = {
		(char *)cc, "-o", (char *)out, (char *)obj,
		arena_printf(a, "%s/libhyenac_rt_main.a", rt),
		arena_printf(a, "%s/libhyenac_rt.a", rt),
		"-Wl,-Bstatic", "-lfftw3f", "-lz", "-Wl,-Bdynamic", "-lm",
		"-lpthread", NULL,
	};
	bool ok = spawn_wait(argv, d, out);
	arena_free(a);
	return ok;
}

/* ---- --emit lib ----------------------------------------------------------
 * A shared library: the object (PIC), the library API
 * (libhyenac_rt_lib.a, runtime/main/rt_lib.c, linked whole) and the
 * runtime, with FFTW static (Debian builds libfftw3f.a PIC) so the .so
 * needs only libc, libm and libpthread. A version script exports just the
 * API of runtime/hyenac_model.h; the weights are appended after linking,
 * as for an executable, and the library finds its own file at load. The
 * header is copied beside the library as hyenac_model.h. */

/* The names runtime/hyenac_model.h declares: keep in sync with it. */
static const char *const lib_exports[] = {
	"hyenac_model_load", "hyenac_model_free", "hyenac_model_embed",
	"hyenac_model_logits", "hyenac_model_error", "hyenac_status_string",
	"hyenac_model_get_name", "hyenac_model_d_model",
	"hyenac_model_logits_width", "hyenac_model_vocab_size",
	"hyenac_model_max_len", "hyenac_model_n_layer",
	"hyenac_model_has_head", "hyenac_tokenize",
};

static bool write_text(const char *path, const char *text, Diag *d)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		diag_error(d, "%s: cannot write: %s", path, strerror(errno));
		return false;
	}
	return true;
}

static bool link_lib(const char *obj, const char *tmp, const char *out,
                     Diag *d)
{
	Arena *a = arena_new();
	const char *rt = runtime_dir();
	const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
	const char *slash = strrchr(out, '/');
	const char *vs = arena_printf(a, "%s.map", tmp);
	char *script = arena_printf(a, "{\n  global:\n");
	for (size_t i = 0; i < sizeof lib_exports / sizeof *lib_exports; i++)
		script = arena_printf(a, "%s    %s;\n", script, lib_exports[i]);
	script = arena_printf(a, "%s  local: *;\n};\n", script);
	char *argv[] = {
		(char *)cc, "-shared", "-o", (char *)tmp, (char *)obj,
		"-Wl,--whole-archive",
		arena_printf(a, "%s/libhyenac_rt_lib.a", rt),
		"-Wl,--no-whole-archive",
		arena_printf(a, "%s/libhyenac_rt.a", rt),
		"-Wl,-Bstatic", "-lfftw3f", "-Wl,-Bdynamic", "-lm", "-lpthread",
		arena_printf(a, "-Wl,--version-script=%s", vs),
		arena_printf(a, "-Wl,-soname,%s", slash ? slash + 1 : out),
		"-Wl,--no-undefined", "-Wl,-z,noexecstack",
		NULL,
	};
	bool ok = write_text(vs, script, d) && spawn_wait(argv, d, out);
	unlink(vs);
	arena_free(a);
	return ok;
}

/* Copy the API header from the runtime directory to hyenac_model.h in
 * out's directory, through a temporary renamed into place. */
static bool copy_header(const char *out, Diag *d)
{
	Arena *a = arena_new();
	const char *slash = strrchr(out, '/');
	const char *src = arena_printf(a, "%s/hyenac_model.h", runtime_dir());
	const char *dst = slash
	    ? arena_printf(a, "%.*s/hyenac_model.h", (int)(slash - out), out)
	    : "hyenac_model.h";
	const char *tmp = arena_printf(a, "%s.tmp.%ld", dst, (long)getpid());
	char buf[8192];
	size_t n;
	bool ok = false;
	FILE *in = fopen(src, "rb"), *o = NULL;

	if (!in) {
		diag_error(d, "%s: cannot read the library header: %s", src,
		           strerror(errno));
		goto out;
	}
	if (!(o = fopen(tmp, "wb"))) {
		diag_error(d, "%s: cannot create: %s", dst, strerror(errno));
		goto out;
	}
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		if (fwrite(buf, 1, n, o) != n)
			break;
	ok = !ferror(in) && !ferror(o);
	ok = fclose(o) == 0 && ok;
	o = NULL;
	if (ok && rename(tmp, dst) != 0)
		ok = false;
	if (!ok)
		diag_error(d, "%s: cannot write: %s", dst, strerror(errno));
out:
	if (in)
		fclose(in);
	if (o)
		fclose(o);
	if (!ok)
		unlink(tmp);
	arena_free(a);
	return ok;
}

static bool write_ir(const Graph *g, const char *tmp, Diag *d)
{
	FILE *f = fopen(tmp, "w");
	if (!f) {
		diag_error(d, "%s: cannot create: %s", tmp, strerror(errno));
		return false;
	}
	ir_print(g, f);
	if (fclose(f) != 0) {
		diag_error(d, "%s: write error", tmp);
		return false;
	}
	return true;
}

bool drv_compile(const Model *m, Graph *g, const CompileOptions *o, Diag *d)
{
	Arena *a = g->arena;
	const char *tmp = arena_printf(a, "%s.tmp.%ld", o->out, (long)getpid());
	const char *obj = arena_printf(a, "%s.o", tmp);
	CgWeights w;
	CgModule *cm = NULL;
	void *blob = NULL;
	bool ok = false;
	int64_t meta[HYRT_META_COUNT] = {0};

	if (o->stats)
		drv_print_stats(m, g, o, stdout);
	if (strcmp(o->emit, "ir") == 0) {
		ok = write_ir(g, tmp, d);
		goto done;
	}
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
	CgOptions co = {o->cpu, o->features, o->conv, o->seq_len,
	                o->opt_level};
	cm = cg_emit(g, &w, &co, meta, d);
	if (!cm)
		goto done;
	if (strcmp(o->emit, "ll") == 0) {
		ok = cg_write_ll(cm, tmp, d);
		goto done;
	}
	if (strcmp(o->emit, "obj") == 0) {
		ok = cg_write_object(cm, tmp, d);
		goto done;
	}
	bool lib = strcmp(o->emit, "lib") == 0;
	if (!cg_write_object(cm, obj, d) ||
	    !(lib ? link_lib(obj, tmp, o->out, d) : link_exe(obj, tmp, d)))
		goto done;
	blob = aligned_alloc(64, (w.bytes + 63) / 64 * 64 + 64);
	if (!blob) {
		diag_error(d, "%s: out of memory packing %zu bytes of weights",
		           o->out, w.bytes);
		goto done;
	}
	cg_pack_weights(g, &w, blob);
	ok = hyrt_append_blob(tmp, blob, w.bytes, d) && chmod(tmp, 0755) == 0 &&
	     (!lib || copy_header(o->out, d));
done:
	free(blob);
	if (cm)
		cg_free(cm);
	unlink(obj);
	if (ok && rename(tmp, o->out) != 0) {
		diag_error(d, "%s: cannot write: %s", o->out, strerror(errno));
		ok = false;
	}
	if (!ok)
		unlink(tmp);
	return ok;
}
