/*
 * tiny_model.c - the hand-written GPU test model of tiny_model.h: the
 * globals a generated GPU host object defines (hygpu.h, hyrt.h), and
 * the reference. Linked into gpu_tiny_model (with the binaries' main:
 * its command line, error paths and outputs) and gpu_tiny_check (calls
 * the runtime directly).
 */
#include "tiny_model.h"

#include "runtime/hygpu.h"
#include "runtime/hyrt.h"

#include <stdlib.h>
#include <string.h>

enum { W_EMB = 0, W_POS = 48, W_K = 304, W_BIAS = 560, W_HEAD = 564 };

const int64_t hyenac_meta[HYRT_META_COUNT] = {
	[HYRT_META_D_MODEL] = TINY_D,
	[HYRT_META_VOCAB] = TINY_V,
	[HYRT_META_VOCAB_SIZE] = TINY_VOCAB,
	[HYRT_META_MAX_LEN] = TINY_MAXLEN,
	[HYRT_META_NOUTPUTS] = 2,
	[HYRT_META_WEIGHT_BYTES] = TINY_WFLOATS * 4,
	[HYRT_META_N_LAYER] = 0,
	[HYRT_META_FLOPS_PER_TOKEN] = 200,
	[HYRT_META_BATCH] = 1,
};
const char hyenac_model_name[] = "tiny-gpu";
const char hyenac_labels[] = "";

const char hyenac_gpu_ptx[] =
#include "tiny_ptx.inc"
    ;

/* In index order; ORDER K_ below. */
const char hyenac_gpu_kernels[] =
    "tiny_pos\0tiny_embed\0tiny_filter\0tiny_gather\0tiny_mul\0"
    "tiny_scatter\0tiny_out\0tiny_head_rows\0tiny_copy_rows\0"
    "tiny_pool_mean\0tiny_pool_out\0tiny_states\0tiny_init\0tiny_ksrc";
enum {
	K_POS, K_EMBED, K_FILTER, K_GATHER, K_MUL, K_SCATTER, K_OUT,
	K_HEAD_ROWS, K_COPY_ROWS, K_POOL_MEAN, K_POOL_OUT, K_STATES, K_INIT,
	K_KSRC, K_COUNT
};

#define LAUNCH(k, thr, sh, g0, g1, g2, g3, g4, g5, div, fl)                    \
	{.op = HYGPU_LAUNCH, .flags = (fl), .kernel = (k), .threads = (thr),    \
	 .shmem = (sh), .grid = {g0, g1, g2, g3, g4, g5}, .grid_div = (div),   \
	 .conv = -1}
#define FFT(o, b, fl)                                                        \
	{.op = (o), .flags = (fl), .buf = (b), .rows_per_unit = 1,             \
	 .rows_b = !(b), .conv = -1}

/* x = emb + pos, then y = conv(x) + bias x, the filter's taps copied
 * by a step that only makes what FILTER steps read: 11 steps */
#define TRUNK                                                                \
	LAUNCH(K_POS, 64, 0, 0, 0, TINY_D, 0, 0, 0, 64, 0),                     \
	LAUNCH(K_KSRC, 64, 0, 0, 0, TINY_D, 0, 0, 0, 64, HYGPU_FILTER_SRC),     \
	LAUNCH(K_EMBED, 64, 0, TINY_D, 0, 0, 0, 0, 0, 64, 0),                   \
	{.op = HYGPU_GROUP, .count = 7, .dim = HYGPU_DIM_CHANNELS,              \
	 .units = TINY_D, .max_chunk = 3, .work_per_unit = 1,                   \
	 .flags = HYGPU_WORK_PER_FFT_ROW | HYGPU_WORK_TIMES_B, .conv = 0},      \
	LAUNCH(K_FILTER, 64, 0, 0, 0, 0, 1, 0, 0, 1, HYGPU_FILTER),             \
	FFT(HYGPU_R2C, 1, HYGPU_FILTER),                                        \
	LAUNCH(K_GATHER, 64, 0, 0, 0, 0, 0, 1, 0, 1, 0),                        \
	FFT(HYGPU_R2C, 0, 0),                                                   \
	LAUNCH(K_MUL, 64, 0, 0, 0, 0, 0, 1, 0, 1, 0),                           \
	FFT(HYGPU_C2R, 0, 0),                                                   \
	LAUNCH(K_SCATTER, 64, 0, 0, 0, 0, 0, 1, 0, 1, 0)

static const HygpuStep steps[] = {
	/* forward: 0..11 */
	TRUNK,
	LAUNCH(K_OUT, 64, 0, TINY_V, 0, 0, 0, 0, 0, 64, 0),
	/* logits: 12..25 */
	TRUNK,
	{.op = HYGPU_GROUP, .count = 2, .dim = HYGPU_DIM_ROWS, .max_chunk = 5,
	 .work_per_unit = TINY_V * 4, .conv = -1},
	LAUNCH(K_HEAD_ROWS, 32, 0, 0, 0, 0, TINY_V, 0, 0, 32, 0),
	LAUNCH(K_COPY_ROWS, 32, 0, 0, 0, 0, TINY_V, 0, 0, 32, 0),
	/* pooled: 26..38 */
	TRUNK,
	LAUNCH(K_POOL_MEAN, 32, 50 * 1024, 0, 1, 0, 0, 0, 0, 1, 0),
	LAUNCH(K_POOL_OUT, 64, 0, 0, TINY_D, 0, 0, 0, 0, 64, 0),
	/* hidden_states: 39..50 */
	TRUNK,
	LAUNCH(K_STATES, 64, 0, TINY_D, 0, 0, 0, 0, 0, 64, 0),
	/* init: 51, the head's transposed copy that the logits read, after
	 * the blob (so the logits are right only if the runtime runs it) */
	LAUNCH(K_INIT, 64, 0, 0, 0, 0, 0, 0, TINY_V * TINY_D, 64, 0),
};

static const HygpuEntry entries[] = {
	{.name = "forward", .first = 0, .count = 12, .nout = 2,
	 .out_per_token = {TINY_D, TINY_V}},
	{.name = "logits", .first = 12, .count = 14, .nout = 1,
	 .out_per_token = {TINY_V}},
	{.name = "pooled", .first = 26, .count = 13, .nout = 2,
	 .out_per_sample = {TINY_D, TINY_D}},
	{.name = "hidden_states", .first = 39, .count = 12, .nout = 2,
	 .out_per_token = {TINY_D, TINY_D}},
};

const HygpuPlan hyenac_gpu_plan = {
	.version = HYGPU_PLAN_VERSION,
	.region = {[HYGPU_REGION_TOKEN] = 32, [HYGPU_REGION_POSITION] = 32,
	           [HYGPU_REGION_FIXED] = 64, [HYGPU_REGION_SAMPLE] = 16},
	.nconv = 1,
	.nentry = sizeof entries / sizeof entries[0],
	.nstep = sizeof steps / sizeof steps[0],
	.nkernel = K_COUNT,
	.entries = entries,
	.steps = steps,
	.arch = "sm_75",
	.weights_base = (TINY_WFLOATS * 4 + 255) / 256 * 256,
	.weights_extra = TINY_V * TINY_D * 4,
	.init_first = 51,
	.init_count = 1,
};

/* A small deterministic generator, values in [-1, 1). */
static float next(uint64_t *s)
{
	*s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
	return (float)((double)(*s >> 11) / 4503599627370496.0 - 1.0);
}

void tiny_weights(float *w)
{
	uint64_t s = 0x2545f4914f6cdd1du;

	for (int i = 0; i < TINY_WFLOATS; i++)
		w[i] = next(&s);
	/* a decaying filter, as trained ones are */
	for (int t = 0; t < TINY_MAXLEN; t++)
		for (int c = 0; c < TINY_D; c++)
			w[W_K + t * TINY_D + c] *= 1.0f / (float)(1 + t);
}

void tiny_reference(const float *w, const int32_t *tok, int64_t B, int64_t L,
                    float *hidden, float *logits, float *mean, float *last)
{
	enum { D = TINY_D, V = TINY_V };
	double *x = malloc(sizeof(double) * (size_t)(B * L * D));
	double *y = malloc(sizeof(double) * (size_t)(B * L * D));

	if (!x || !y)
		abort();
	for (int64_t b = 0; b < B; b++)
		for (int64_t t = 0; t < L; t++)
			for (int c = 0; c < D; c++)
				x[(b * L + t) * D + c] =
				    (double)w[W_EMB + tok[b * L + t] * D + c] +
				    (double)w[W_POS + t * D + c];
	for (int64_t b = 0; b < B; b++)
		for (int64_t t = 0; t < L; t++)
			for (int c = 0; c < D; c++) {
				double s = 0;
				for (int64_t u = 0; u <= t; u++)
					s += (double)w[W_K + (t - u) * D + c] *
					     x[(b * L + u) * D + c];
				y[(b * L + t) * D + c] =
				    s + (double)w[W_BIAS + c] * x[(b * L + t) * D + c];
			}
	for (int64_t i = 0; i < B * L; i++) {
		for (int c = 0; c < D && hidden; c++)
			hidden[i * D + c] = (float)y[i * D + c];
		for (int v = 0; v < V && logits; v++) {
			double s = 0;
			for (int c = 0; c < D; c++)
				s += y[i * D + c] * (double)w[W_HEAD + v * D + c];
			logits[i * V + v] = (float)s;
		}
	}
	for (int64_t b = 0; b < B; b++)
		for (int c = 0; c < D; c++) {
			double s = 0;
			for (int64_t t = 0; t < L; t++)
				s += y[(b * L + t) * D + c];
			if (mean)
				mean[b * D + c] = (float)(s / (double)L);
			if (last)
				last[b * D + c] = (float)y[(b * L + L - 1) * D + c];
		}
	free(x);
	free(y);
}

void tiny_embeddings(const float *w, const int32_t *tok, int64_t B,
                     int64_t L, float *x)
{
	for (int64_t b = 0; b < B; b++)
		for (int64_t t = 0; t < L; t++)
			for (int c = 0; c < TINY_D; c++)
				x[(b * L + t) * TINY_D + c] =
				    w[W_EMB + tok[b * L + t] * TINY_D + c] +
				    w[W_POS + t * TINY_D + c];
}
