/*
 * compile.c - `hyenac compile`: from a loaded, optimised graph to a
 * deployment artefact. The steps are flat: lay out and pack the weights,
 * emit the LLVM module, then write what --emit asks for. An executable is
 * the object linked (by the system C compiler driver) with the runtime,
 * libhyenac_rt_main.a and libhyenac_rt.a, and FFTW statically, with the
 * packed weights appended after the program (runtime/hyrt.h says how).
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
		if (n->op == OP_LINEAR) {
			double k = (double)n->src[1]->type.dim[1];
			double nn = (double)n->src[1]->type.dim[0];
			/* [L, F] filter rows cost per position, [B, L, C] per token */
			f += 2.0 * k * nn;
		} else if (n->op == OP_LONGCONV) {
			double C = (double)n->type.dim[2], N = 2.0 * (double)L;
			f += C * (3.0 * 2.5 * N * log2(N > 2 ? N : 2) + 6.0 * N) /
			     (double)L;
		} else if (n->op == OP_DWCONV) {
			f += 2.0 * (double)n->src[1]->type.dim[0] *
			     (double)n->src[1]->type.dim[1];
		}
	}
	return (int64_t)f;
}

/* Kernels the generated code runs: every node that computes something
 * (weights and the token input are data, not kernels). */
static int kernel_count(const Graph *g)
{
	int k = 0;
	for (int i = 0; i < g->nnodes; i++)
		k += g->nodes[i]->op != OP_INPUT && g->nodes[i]->op != OP_WEIGHT;
	return k;
}

void drv_print_stats(const Model *m, const Graph *g, const CompileOptions *o,
                     FILE *f)
{
	int conv = 0;
	fprintf(f, "model=%s\n", g->name);
	fprintf(f, "seq_len=%lld\n", (long long)o->seq_len);
	fprintf(f, "batch=%lld\n", (long long)o->batch);
	fprintf(f, "nodes=%d\n", g->nnodes);
	fprintf(f, "kernels=%d\n", kernel_count(g));
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (n->op != OP_LONGCONV)
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
	fprintf(f, "planned_bytes=%lld\n",
	        (long long)pass_planned_bytes(g, o->batch, o->seq_len));
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
		"-Wl,-Bstatic", "-lfftw3f", "-Wl,-Bdynamic", "-lm", "-lpthread",
		NULL,
	};
	bool ok = spawn_wait(argv, d, out);
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
	if (!cg_write_object(cm, obj, d) || !link_exe(obj, tmp, d))
		goto done;
	blob = aligned_alloc(64, (w.bytes + 63) / 64 * 64 + 64);
	if (!blob) {
		diag_error(d, "%s: out of memory packing %zu bytes of weights",
		           o->out, w.bytes);
		goto done;
	}
	cg_pack_weights(g, &w, blob);
	ok = hyrt_append_blob(tmp, blob, w.bytes, d) && chmod(tmp, 0755) == 0;
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
