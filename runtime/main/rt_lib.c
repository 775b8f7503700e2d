/*
 * rt_lib.c - the library face of a compiled model (runtime/hyenac_model.h):
 * what `hyenac compile --emit lib` links, whole, with the generated object
 * and libhyenac_rt.a into a shared library, exporting only hyenac_model_*,
 * hyenac_status_string and hyenac_tokenize (a version script hides the
 * rest, FFTW included).
 *
 * The weights are appended to the .so after linking, exactly as to an
 * executable (runtime/weights.c). To find its own file the library looks
 * up which mapping of /proc/self/maps holds one of its symbols: that gives
 * the absolute path the loader opened, whatever relative path or search
 * rule found it, and survives a chdir(). dladdr() is the fallback.
 *
 * Forwards run into the handle's own 64-byte aligned buffers (generated
 * code wants that alignment and writes every output, logits included)
 * and are copied out; the copy is small next to the forward. A
 * classifier's entry (hyenac_model_classify) writes [B, num_labels] into
 * the first of those buffers. Nothing here prints or exits.
 *
 * Beside the raw forwards, what a model binary's commands do, through the
 * same runtime code rather than copies of it: pooled embeddings
 * (hyenac_run_pooled, the generated `entry pooled`), window scores
 * (runtime/score.h, the sum rt_fasta.c's `score` writes), the thread
 * count (the runtime's pool, pool.c, one per loaded library file) and
 * FASTA windows (runtime/fasta.c, the reader of `--fasta`).
 */
#include "runtime/hyenac_model.h"
#include "runtime/cpucheck.h"
#include "runtime/fasta.h"
#include "runtime/hyrt.h"
#include "runtime/sample.h"
#include "runtime/score.h"
#include "runtime/tokens.h"

#include "common/diag.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define API __attribute__((visibility("default")))

/* dlclose() of the library: the runtime's FFT plans, kept spectra and
 * this thread's buffers go with it (hyrt_fft_release). */
__attribute__((destructor)) static void rt_lib_unload(void)
{
	hyrt_fft_release();
}

struct HyenacModel {
	HyrtBlob w;
	float *out[2];
	size_t out_cap[2]; /* bytes */
	void *scratch;
	size_t scratch_cap;
	char err[DIAG_MSG_MAX];
};

static int set_err(HyenacModel *m, int code, const char *fmt, ...)
    HY_PRINTF(3, 4);
static int set_err(HyenacModel *m, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof m->err, fmt, ap);
	va_end(ap);
	return code;
}

API const char *hyenac_status_string(int status)
{
	switch (status) {
	case HYENAC_OK: return "success";
	case HYENAC_ERR_ARGUMENT: return "invalid argument";
	case HYENAC_ERR_LENGTH: return "sequence length out of range";
	case HYENAC_ERR_TOKEN: return "token id out of range";
	case HYENAC_ERR_NO_HEAD: return "model has no LM head";
	case HYENAC_ERR_MEMORY: return "out of memory";
	case HYENAC_ERR_WEIGHTS: return "cannot load the weights";
	case HYENAC_ERR_CPU: return "this CPU lacks instructions the model uses";
	case HYENAC_ERR_INPUT: return "bad or unreadable input file";
	case HYENAC_ERR_NO_STEP: return "model has no decode step";
	}
	return "unknown status";
}

/* The file that holds this library: the mapping containing our code. */
static bool own_path(char *buf, size_t cap)
{
	uintptr_t here = (uintptr_t)(const void *)&hyenac_meta;
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096 + 256];
	bool found = false;

	while (f && !found && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char *path = strchr(line, '/');
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 || !path ||
		    here < lo || here >= hi)
			continue;
		path[strcspn(path, "\n")] = 0;
		if (strlen(path) < cap) {
			strcpy(buf, path);
			found = true;
		}
	}
	if (f)
		fclose(f);
	if (found)
		return true;
	Dl_info di;
	if (dladdr((const void *)&hyenac_meta, &di) && di.dli_fname &&
	    strlen(di.dli_fname) < cap) {
		strcpy(buf, di.dli_fname);
		return true;
	}
	return false;
}

API int hyenac_model_load(const char *weights_path, HyenacModel **out,
                          char *err, size_t errsize)
{
	char self[4096], cpu_msg[512];
	HyenacModel *m;
	Diag d;

	if (err && errsize)
		err[0] = 0;
	if (!out) {
		if (err && errsize)
			snprintf(err, errsize, "hyenac_model_load: out is NULL");
		return HYENAC_ERR_ARGUMENT;
	}
	*out = NULL;
	/* Before anything can call generated code (runtime/cpucheck.h). */
	if (!hyrt_cpu_check_model(cpu_msg, sizeof cpu_msg)) {
		if (err && errsize)
			snprintf(err, errsize, "model %s: %s", hyenac_model_name,
			         cpu_msg);
		return HYENAC_ERR_CPU;
	}
	m = calloc(1, sizeof *m);
	if (!m) {
		if (err && errsize)
			snprintf(err, errsize, "out of memory");
		return HYENAC_ERR_MEMORY;
	}
	if (!weights_path) {
		if (!own_path(self, sizeof self)) {
			if (err && errsize)
				snprintf(err, errsize, "cannot find the file of "
				         "the model library to read its weights; "
				         "pass its path to hyenac_model_load");
			free(m);
			return HYENAC_ERR_WEIGHTS;
		}
		weights_path = self;
	}
	diag_init(&d);
	if (!hyrt_blob_open(&m->w, weights_path,
	                    (uint64_t)hyenac_meta[HYRT_META_WEIGHT_BYTES], &d)) {
		if (err && errsize)
			snprintf(err, errsize, "%s", d.msg);
		free(m);
		return HYENAC_ERR_WEIGHTS;
	}
	*out = m;
	return HYENAC_OK;
}

API void hyenac_model_free(HyenacModel *m)
{
	if (!m)
		return;
	hyrt_blob_close(&m->w);
	free(m->out[0]);
	free(m->out[1]);
	free(m->scratch);
	free(m);
}

/* Grow *p to n bytes, 64-byte aligned (on 2 MB pages when large). */
static bool reserve(void **p, size_t *cap, size_t n)
{
	void *q = NULL;

	if (*p && *cap >= n)
		return true;
	if (!(q = hyrt_alloc_big(n)))
		return false;
	free(*p);
	*p = q;
	*cap = n;
	return true;
}

/* The arguments of a forward: the batch, the pointers, the tokens
 * (runtime/tokens.h); HYENAC_OK or the status, with m's message set. */
static int check_args(HyenacModel *m, const int32_t *tokens, int64_t B,
                      int64_t L, const void *dst, const char *fn)
{
	const int64_t max_len = hyenac_meta[HYRT_META_MAX_LEN];
	const int64_t vocab = hyenac_meta[HYRT_META_VOCAB_SIZE];
	Diag d;

	if (B < 0)
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: batch %" PRId64
		               " is negative", fn, B);
	if (B > 0 && (!tokens || !dst))
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: %s is NULL", fn,
		               tokens ? "out" : "tokens");
	diag_init(&d);
	switch (hyrt_check_tokens(tokens, B, L, max_len, vocab, fn,
	                          "%" PRId64 ", the longest the model was "
	                          "compiled for",
	                          &d)) {
	case HYRT_TOK_OK:
		return HYENAC_OK;
	case HYRT_TOK_LENGTH:
		return set_err(m, HYENAC_ERR_LENGTH, "%s", d.msg);
	case HYRT_TOK_ID:
		return set_err(m, HYENAC_ERR_TOKEN, "%s", d.msg);
	default:
		return set_err(m, HYENAC_ERR_MEMORY, "%s", d.msg);
	}
}

/* Room for output i (0 hidden, 1 logits) of a [B, L] forward in the
 * handle's buffer; false with m's message set. */
static bool reserve_out(HyenacModel *m, int i, int64_t B, int64_t L,
                        size_t *bytes, const char *fn)
{
	const int64_t width[2] = {hyenac_meta[HYRT_META_D_MODEL],
	                          hyenac_meta[HYRT_META_VOCAB]};

	if (!hy_mul_size((size_t)B * (size_t)L, (size_t)width[i], bytes) ||
	    !hy_mul_size(*bytes, sizeof(float), bytes) ||
	    !reserve((void **)&m->out[i], &m->out_cap[i], *bytes)) {
		set_err(m, HYENAC_ERR_MEMORY, "%s: out of memory for %" PRId64
		        " x %" PRId64 " x %" PRId64 " floats", fn, B, L,
		        width[i]);
		return false;
	}
	return true;
}

static bool reserve_scratch(HyenacModel *m, int64_t B, int64_t L,
                            const char *fn)
{
	if (reserve(&m->scratch, &m->scratch_cap, hyenac_scratch_bytes(B, L)))
		return true;
	set_err(m, HYENAC_ERR_MEMORY, "%s: out of memory for activations", fn);
	return false;
}

/* The forward of output which (0 hidden, 1 logits) alone into the
 * handle's buffer (hyrt.h: a NULL output is not computed, so logits run
 * the final norm fused into the head); the checks every call makes. */
static int run_one(HyenacModel *m, const int32_t *tokens, int64_t B,
                   int64_t L, const void *dst, int which, size_t *bytes,
                   const char *fn)
{
	float *outs[2] = {NULL, NULL};

	if (!m)
		return HYENAC_ERR_ARGUMENT;
	m->err[0] = 0;
	if (which == 1 && hyenac_meta[HYRT_META_NOUTPUTS] < 2)
		return set_err(m, HYENAC_ERR_NO_HEAD, "%s: model %s was compiled "
		               "without its LM head", fn, hyenac_model_name);
	int st = check_args(m, tokens, B, L, dst, fn);
	if (st != HYENAC_OK || B == 0)
		return st;
	if (!reserve_out(m, which, B, L, bytes, fn) ||
	    !reserve_scratch(m, B, L, fn))
		return HYENAC_ERR_MEMORY;
	outs[which] = m->out[which];
	hyenac_run(m->w.data, tokens, B, L, outs, m->scratch);
	return HYENAC_OK;
}

static int forward(HyenacModel *m, const int32_t *tokens, int64_t B,
                   int64_t L, float *dst, int which, const char *fn)
{
	size_t bytes = 0;
	int st = run_one(m, tokens, B, L, dst, which, &bytes, fn);

	if (st == HYENAC_OK && B > 0)
		memcpy(dst, m->out[which], bytes);
	return st;
}

API int hyenac_model_embed(HyenacModel *m, const int32_t *tokens, int64_t B,
                           int64_t L, float *out)
{
	return forward(m, tokens, B, L, out, 0, "hyenac_model_embed");
}

API int hyenac_model_logits(HyenacModel *m, const int32_t *tokens,
                            int64_t B, int64_t L, float *out)
{
	return forward(m, tokens, B, L, out, 1, "hyenac_model_logits");
}

/* Hidden state `layer` (hyenac_run_hidden, the one state asked for)
 * into the handle's buffer, then copied out; forward()'s checks. */
API int hyenac_model_hidden(HyenacModel *m, const int32_t *tokens,
                            int64_t B, int64_t L, int64_t layer, float *out)
{
	static const char fn[] = "hyenac_model_hidden";
	const int64_t last = hyenac_meta[HYRT_META_N_LAYER] + 1;
	float *outs[HYRT_MAX_HIDDEN] = {0};
	size_t bytes;

	if (!m)
		return HYENAC_ERR_ARGUMENT;
	m->err[0] = 0;
	if (layer < 0 || layer > last || last >= HYRT_MAX_HIDDEN)
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: layer %" PRId64
		               " is out of range: 0 (the embeddings) to %" PRId64
		               " (the final norm)", fn, layer, last);
	int st = check_args(m, tokens, B, L, out, fn);
	if (st != HYENAC_OK || B == 0)
		return st;
	if (!hy_mul_size((size_t)B * (size_t)L,
	                 (size_t)hyenac_meta[HYRT_META_D_MODEL] * sizeof(float),
	                 &bytes) ||
	    !reserve((void **)&m->out[0], &m->out_cap[0], bytes))
		return set_err(m, HYENAC_ERR_MEMORY, "%s: out of memory for "
		               "%" PRId64 " x %" PRId64 " x %" PRId64 " floats", fn,
		               B, L, hyenac_meta[HYRT_META_D_MODEL]);
	if (!reserve(&m->scratch, &m->scratch_cap, hyenac_scratch_bytes(B, L)))
		return set_err(m, HYENAC_ERR_MEMORY, "%s: out of memory for "
		               "activations", fn);
	outs[layer] = m->out[0];
	if (!hyenac_run_hidden(m->w.data, tokens, B, L, outs, m->scratch))
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: model %s has no "
		               "hidden-state entry", fn, hyenac_model_name);
	memcpy(out, m->out[0], bytes);
	return HYENAC_OK;
}

/* The classifier's forward (hyenac_run_classify) into the handle's
 * buffer, then copied out; the same checks as forward()'s. */
API int hyenac_model_classify(HyenacModel *m, const int32_t *tokens,
                              int64_t B, int64_t L, float *out)
{
	static const char fn[] = "hyenac_model_classify";
	const int64_t nl = hyenac_meta[HYRT_META_NUM_LABELS];
	size_t bytes;

	if (!m)
		return HYENAC_ERR_ARGUMENT;
	m->err[0] = 0;
	if (nl <= 0)
		return set_err(m, HYENAC_ERR_NO_HEAD, "%s: model %s is no "
		               "classifier", fn, hyenac_model_name);
	int st = check_args(m, tokens, B, L, out, fn);
	if (st != HYENAC_OK || B == 0)
		return st;
	if (!hy_mul_size((size_t)B, (size_t)nl * sizeof(float), &bytes) ||
	    !reserve((void **)&m->out[0], &m->out_cap[0], bytes))
		return set_err(m, HYENAC_ERR_MEMORY, "%s: out of memory for "
		               "%" PRId64 " x %" PRId64 " floats", fn, B, nl);
	if (!reserve_scratch(m, B, L, fn))
		return HYENAC_ERR_MEMORY;
	if (!hyenac_run_classify(m->w.data, tokens, B, L, m->out[0],
	                         m->scratch))
		return set_err(m, HYENAC_ERR_NO_HEAD, "%s: model %s has no "
		               "classifier entry", fn, hyenac_model_name);
	memcpy(out, m->out[0], bytes);
	return HYENAC_OK;
}

/* ---- threads, pooled embeddings, scores ------------------------------- */

API int hyenac_model_set_threads(HyenacModel *m, int n)
{
	if (!m)
		return HYENAC_ERR_ARGUMENT;
	m->err[0] = 0;
	if (n < 0 || n > HYENAC_MAX_THREADS)
		return set_err(m, HYENAC_ERR_ARGUMENT, "hyenac_model_set_threads: "
		               "%d threads; give 1..%d, or 0 for every online "
		               "core", n, HYENAC_MAX_THREADS);
	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c < 1 ? 1 : c > HYENAC_MAX_THREADS ? HYENAC_MAX_THREADS
		                                       : (int)c;
	}
	hyrt_set_threads(n);
	return HYENAC_OK;
}

API int hyenac_model_threads(const HyenacModel *m)
{
	(void)m;
	return hyrt_get_threads();
}

/* The pooled entry (hyenac_run_pooled: the [B, L, d_model] hidden states
 * are never stored) into the handle's buffer, then copied out. */
API int hyenac_model_embed_pooled(HyenacModel *m, const int32_t *tokens,
                                  int64_t B, int64_t L, int pool, float *out)
{
	static const char fn[] = "hyenac_model_embed_pooled";
	const int64_t d = hyenac_meta[HYRT_META_D_MODEL];
	size_t bytes;

	if (!m)
		return HYENAC_ERR_ARGUMENT;
	m->err[0] = 0;
	if (pool != HYENAC_POOL_MEAN && pool != HYENAC_POOL_LAST)
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: pool %d is neither "
		               "HYENAC_POOL_MEAN (0) nor HYENAC_POOL_LAST (1)",
		               fn, pool);
	int st = check_args(m, tokens, B, L, out, fn);
	if (st != HYENAC_OK || B == 0)
		return st;
	if (!hy_mul_size((size_t)B, (size_t)d * sizeof(float), &bytes) ||
	    !reserve((void **)&m->out[0], &m->out_cap[0], bytes))
		return set_err(m, HYENAC_ERR_MEMORY, "%s: out of memory for "
		               "%" PRId64 " x %" PRId64 " floats", fn, B, d);
	if (!reserve_scratch(m, B, L, fn))
		return HYENAC_ERR_MEMORY;
	float *mean = pool == HYENAC_POOL_MEAN ? m->out[0] : NULL;
	float *last = pool == HYENAC_POOL_LAST ? m->out[0] : NULL;
	if (!hyenac_run_pooled(m->w.data, tokens, B, L, mean, last,
	                       m->scratch))
		return set_err(m, HYENAC_ERR_NO_HEAD, "%s: model %s cannot pool "
		               "its hidden states (it does not end in a "
		               "layernorm)", fn, hyenac_model_name);
	memcpy(out, m->out[0], bytes);
	return HYENAC_OK;
}

/* The logits-only forward, then each row's sum by runtime/score.h; the
 * row's positions scored as the binary's `score` scores a window. */
API int hyenac_model_score(HyenacModel *m, const int32_t *tokens, int64_t B,
                           int64_t L, double *sum_logp)
{
	const int64_t V = hyenac_meta[HYRT_META_VOCAB];
	size_t bytes;
	int st = run_one(m, tokens, B, L, sum_logp, 1, &bytes,
	                 "hyenac_model_score");

	if (st != HYENAC_OK)
		return st;
	for (int64_t b = 0; b < B; b++)
		sum_logp[b] = hyrt_window_logp(m->out[1] + b * L * V,
		                               tokens + b * L,
		                               hyenac_model_scored_tokens(tokens + b * L,
		                                                    L),
		                               V, NULL);
	return HYENAC_OK;
}

API int64_t hyenac_model_scored_tokens(const int32_t *row, int64_t L)
{
	if (!row || L < 1)
		return 0;
	return L - 1 - (L >= 2 && row[L - 1] == 1);
}

/* ---- FASTA windows (runtime/fasta.c, as the binary's --fasta) -------- */

struct HyenacFasta {
	HyrtFasta *f;
	char err[DIAG_MSG_MAX];
};

API int hyenac_model_fasta_open(const char *path, int64_t window,
                                int64_t stride, unsigned flags,
                                HyenacFasta **out, char *err, size_t errsize)
{
	HyrtFastaOptions o;
	HyenacFasta *h;
	Diag d;

	if (err && errsize)
		err[0] = 0;
	if (!out || !path) {
		if (err && errsize)
			snprintf(err, errsize, "hyenac_model_fasta_open: %s is "
			         "NULL", out ? "path" : "out");
		return HYENAC_ERR_ARGUMENT;
	}
	*out = NULL;
	if (window < 1 || stride < 0) {
		if (err && errsize)
			snprintf(err, errsize, "hyenac_model_fasta_open: window "
			         "%" PRId64 " and stride %" PRId64 ": the window "
			         "must be at least 1 and the stride at least 0 "
			         "(0: the window)", window, stride);
		return HYENAC_ERR_ARGUMENT;
	}
	o = hyrt_fasta_default_options(window);
	o.stride = stride;
	o.special_tokens = !(flags & HYENAC_FASTA_NO_SEP);
	o.case_mode = flags & HYENAC_TOKENIZE_UPPER ? HYRT_CASE_UPPER
	                                            : HYRT_CASE_STRICT;
	h = calloc(1, sizeof *h);
	if (!h) {
		if (err && errsize)
			snprintf(err, errsize, "out of memory");
		return HYENAC_ERR_MEMORY;
	}
	diag_init(&d);
	h->f = hyrt_fasta_open(path, &o, &d);
	if (!h->f) {
		if (err && errsize)
			snprintf(err, errsize, "%s", d.msg);
		free(h);
		return HYENAC_ERR_INPUT;
	}
	*out = h;
	return HYENAC_OK;
}

API int hyenac_model_fasta_next(HyenacFasta *h, HyenacWindow *w)
{
	HyrtWindow hw;
	Diag d;

	if (!h || !w)
		return -HYENAC_ERR_ARGUMENT;
	diag_init(&d);
	int r = hyrt_fasta_next(h->f, &hw, &d);
	if (r < 0) {
		if (!h->err[0])
			snprintf(h->err, sizeof h->err, "%s", d.msg);
		return -HYENAC_ERR_INPUT;
	}
	if (r == 0)
		return 0;
	w->record = hw.record;
	w->record_index = hw.record_index;
	w->start = hw.start;
	w->end = hw.end;
	w->tokens = hw.tokens;
	w->ntokens = hw.ntokens;
	return 1;
}

API const char *hyenac_model_fasta_error(const HyenacFasta *h)
{
	return h ? h->err : "no FASTA reader (NULL handle)";
}

API void hyenac_model_fasta_close(HyenacFasta *h)
{
	if (!h)
		return;
	hyrt_fasta_close(h->f);
	free(h);
}

/* ---- generation: entry prefill, entry step (hyrt.h) ---------------------- */

struct HyenacGen {
	int64_t B, pos;  /* samples, and the next position */
	void *state;     /* hyenac_state_bytes(B) */
	size_t state_bytes;
	void *scratch;   /* a step's */
	float *logits;   /* [B, V] */
};

API void hyenac_model_gen_free(HyenacGen *g)
{
	if (!g)
		return;
	free(g->state);
	free(g->scratch);
	free(g->logits);
	free(g);
}

API int64_t hyenac_model_gen_state_bytes(const HyenacGen *g)
{
	return g ? (int64_t)g->state_bytes : 0;
}

API int hyenac_model_prefill(HyenacModel *m, const int32_t *tokens,
                             int64_t B, int64_t L, HyenacGen **out,
                             float *logits)
{
	static const char fn[] = "hyenac_model_prefill";
	const int64_t V = hyenac_meta[HYRT_META_VOCAB];
	const int64_t max_len = hyenac_meta[HYRT_META_MAX_LEN];
	size_t lb, cap = 0, sc = 0;
	float *full = NULL;

	if (!m)
		return HYENAC_ERR_ARGUMENT;
	m->err[0] = 0;
	if (!out)
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: out is NULL", fn);
	*out = NULL;
	if (hyenac_state_bytes(1) == 0)
		return set_err(m, HYENAC_ERR_NO_STEP, "%s: model %s was compiled "
		               "without a decode step", fn, hyenac_model_name);
	if (B < 1)
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: batch %" PRId64
		               " is not positive", fn, B);
	int st = check_args(m, tokens, B, L, logits, fn);
	if (st != HYENAC_OK)
		return st;
	if (L >= max_len)
		return set_err(m, HYENAC_ERR_LENGTH, "%s: a prompt of %" PRId64
		               " tokens leaves no room for a step (max_len %"
		               PRId64 ")", fn, L, max_len);
	HyenacGen *g = calloc(1, sizeof *g);
	size_t s1 = hyenac_scratch_bytes(B, 1);
	if (!g || !hy_mul_size((size_t)B * (size_t)L, (size_t)V * 4, &lb) ||
	    !reserve((void **)&full, &cap, lb) ||
	    !reserve(&g->state, &g->state_bytes,
	             (size_t)hyenac_state_bytes(B)) ||
	    !reserve(&g->scratch, &sc, s1) ||
	    !reserve((void **)&g->logits, &cap, (size_t)(B * V * 4)) ||
	    !reserve(&m->scratch, &m->scratch_cap, hyenac_scratch_bytes(B, L))) {
		free(full);
		hyenac_model_gen_free(g);
		return set_err(m, HYENAC_ERR_MEMORY, "%s: out of memory for the "
		               "state of %" PRId64 " samples", fn, B);
	}
	memset(g->state, 0, g->state_bytes);
	hyenac_prefill(m->w.data, tokens, B, L, full, m->scratch, g->state);
	for (int64_t b = 0; b < B; b++)
		memcpy(logits + b * V, full + (b * L + L - 1) * V,
		       (size_t)V * sizeof *logits);
	free(full);
	g->B = B;
	g->pos = L;
	*out = g;
	return HYENAC_OK;
}

API int hyenac_model_step(HyenacModel *m, HyenacGen *g, const int32_t *tokens,
                          float *logits)
{
	static const char fn[] = "hyenac_model_step";
	const int64_t V = hyenac_meta[HYRT_META_VOCAB];

	if (!m)
		return HYENAC_ERR_ARGUMENT;
	m->err[0] = 0;
	if (!g)
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: state is NULL", fn);
	if (g->pos >= hyenac_meta[HYRT_META_MAX_LEN])
		return set_err(m, HYENAC_ERR_LENGTH, "%s: position %" PRId64
		               " is past the model's max_len %" PRId64, fn, g->pos,
		               hyenac_meta[HYRT_META_MAX_LEN]);
	int st = check_args(m, tokens, g->B, 1, logits, fn);
	if (st != HYENAC_OK)
		return st;
	hyenac_step(m->w.data, tokens, g->B, g->pos, g->logits, g->scratch,
	            g->state);
	memcpy(logits, g->logits, (size_t)(g->B * V) * sizeof *logits);
	g->pos++;
	return HYENAC_OK;
}

/* The binary's `generate` (runtime/main/rt_gen.c) as one call: the same
 * checks, the same prefill-then-steps loop, the same sampler
 * (runtime/sample.c), so the same settings give the same bases. */
API int hyenac_model_generate(HyenacModel *m, const int32_t *prompt,
                              int64_t P, int64_t max_new,
                              int64_t num_samples, double temperature,
                              int64_t top_k, double top_p, uint64_t seed,
                              const char *allowed, int32_t *out)
{
	static const char fn[] = "hyenac_model_generate";
	const int64_t V = hyenac_meta[HYRT_META_VOCAB];
	const int64_t max_len = hyenac_meta[HYRT_META_MAX_LEN];
	const int64_t N = max_new, M = num_samples;
	HyrtSampler sm = {temperature, top_p, top_k, {0}, 0};
	char msg[64];

	if (!m)
		return HYENAC_ERR_ARGUMENT;
	m->err[0] = 0;
	if (!prompt || !out)
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: %s is NULL", fn,
		               prompt ? "out" : "prompt");
	if (N < 1 || N > max_len)
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: max_new %" PRId64
		               " is outside 1..%" PRId64, fn, N, max_len);
	if (M < 1 || M > (1 << 20))
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: num_samples %" PRId64
		               " is outside 1..1048576", fn, M);
	if (!(temperature >= 0 && temperature <= 1e6))
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: temperature %g is "
		               "outside 0..1e6", fn, temperature);
	if (top_k < 0 || top_k > 5)
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: top_k %" PRId64
		               " is outside 0 (no cut)..5", fn, top_k);
	if (!(top_p >= 1e-9 && top_p <= 1))
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: top_p %g is outside "
		               "1e-9..1", fn, top_p);
	if (seed > (uint64_t)INT64_MAX)
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: seed %" PRIu64
		               " is above %" PRId64, fn, seed, INT64_MAX);
	if (!hyrt_sampler_allowed(&sm, allowed ? allowed : "ACGTN", msg,
	                          (int)sizeof msg))
		return set_err(m, HYENAC_ERR_ARGUMENT, "%s: allowed%s %s", fn,
		               msg[0] == '\'' ? ":" : "", msg);
	if (hyenac_meta[HYRT_META_NOUTPUTS] < 2)
		return set_err(m, HYENAC_ERR_NO_HEAD, "%s: model %s has no LM "
		               "head, so it cannot generate", fn,
		               hyenac_model_name);
	if (hyenac_state_bytes(1) == 0)
		return set_err(m, HYENAC_ERR_NO_STEP, "%s: model %s was compiled "
		               "without a decode step (it needs the fused graph "
		               "with folded filters: no -O0/--no-fuse, and a "
		               "--seq-len whose filters fit the fold limit)", fn,
		               hyenac_model_name);
	if (P < 1)
		return set_err(m, HYENAC_ERR_LENGTH, "%s: the prompt is empty",
		               fn);
	for (int64_t i = 0; i < P; i++)
		if (hyrt_id_base(prompt[i]) == 'N' && prompt[i] != HYRT_TOK_N)
			return set_err(m, HYENAC_ERR_TOKEN, "%s: prompt token %" PRId64
			               " (id %" PRId32 ") is not a base (ACGTN)", fn,
			               i + 1, prompt[i]);
	if (P > max_len - N)
		return set_err(m, HYENAC_ERR_LENGTH, "%s: prompt (%" PRId64 ") + "
		               "max_new (%" PRId64 ") = %" PRId64 " tokens, more "
		               "than the %" PRId64 " the model was compiled for "
		               "(--seq-len)", fn, P, N, P + N, max_len);

	size_t tb, lb;
	int32_t *tok = NULL;
	float *lg = NULL;
	HyrtRng *rng = NULL;
	HyenacGen *g = NULL;
	if (!hy_mul_size((size_t)M, (size_t)P * sizeof *tok, &tb) ||
	    !hy_mul_size((size_t)M, (size_t)V * sizeof *lg, &lb) ||
	    !(tok = malloc(tb)) || !(lg = malloc(lb)) ||
	    !(rng = malloc((size_t)M * sizeof *rng))) {
		free(tok);
		free(lg);
		return set_err(m, HYENAC_ERR_MEMORY, "%s: out of memory for %"
		               PRId64 " samples", fn, M);
	}
	for (int64_t s = 0; s < M; s++) {
		memcpy(tok + s * P, prompt, (size_t)P * sizeof *tok);
		hyrt_rng_seed(&rng[s], seed, (uint64_t)s);
	}
	int st = hyenac_model_prefill(m, tok, M, P, &g, lg);
	/* the last position's row of each sample, then each step's */
	for (int64_t i = 0; st == HYENAC_OK && i < N; i++) {
		for (int64_t s = 0; s < M; s++)
			out[s * N + i] = tok[s] = hyrt_sample(&sm, lg + s * V,
			                                      &rng[s]);
		if (i + 1 < N)
			st = hyenac_model_step(m, g, tok, lg);
	}
	hyenac_model_gen_free(g);
	free(rng);
	free(lg);
	free(tok);
	return st;
}

API const char *hyenac_model_error(const HyenacModel *m)
{
	return m ? m->err : "no model (NULL handle)";
}

API const char *hyenac_model_get_name(const HyenacModel *m)
{
	(void)m;
	return hyenac_model_name;
}

API int64_t hyenac_model_d_model(const HyenacModel *m)
{
	(void)m;
	return hyenac_meta[HYRT_META_D_MODEL];
}

API int64_t hyenac_model_logits_width(const HyenacModel *m)
{
	(void)m;
	return hyenac_meta[HYRT_META_VOCAB];
}

API int64_t hyenac_model_vocab_size(const HyenacModel *m)
{
	(void)m;
	return hyenac_meta[HYRT_META_VOCAB_SIZE];
}

API int64_t hyenac_model_max_len(const HyenacModel *m)
{
	(void)m;
	return hyenac_meta[HYRT_META_MAX_LEN];
}

API int64_t hyenac_model_n_layer(const HyenacModel *m)
{
	(void)m;
	return hyenac_meta[HYRT_META_N_LAYER];
}

API int hyenac_model_has_head(const HyenacModel *m)
{
	(void)m;
	return hyenac_meta[HYRT_META_NOUTPUTS] >= 2;
}

API int64_t hyenac_model_num_labels(const HyenacModel *m)
{
	(void)m;
	return hyenac_meta[HYRT_META_NUM_LABELS];
}

API const char *hyenac_model_label_name(const HyenacModel *m, int64_t id)
{
	(void)m;
	return hyrt_label_name(id);
}

API int64_t hyenac_tokenize(const char *seq, size_t n, int32_t *out,
                            size_t cap, unsigned flags)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++, k++) {
		int c = (unsigned char)seq[i];
		int32_t t = 6; /* [UNK] */
		if ((flags & HYENAC_TOKENIZE_UPPER) && c >= 'a' && c <= 'z')
			c -= 'a' - 'A';
		switch (c) {
		case 'A': t = 7; break;
		case 'C': t = 8; break;
		case 'G': t = 9; break;
		case 'T': t = 10; break;
		case 'N': t = 11; break;
		}
		if (out && k < cap)
			out[k] = t;
	}
	if (flags & HYENAC_TOKENIZE_SEP) {
		if (out && k < cap)
			out[k] = 1;
		k++;
	}
	return (int64_t)k;
}
