/*
 * model_stubs.h - the symbols of a model binary that the runtime's main
 * archive links in, for the fuzz targets that run its code in their own
 * process without a model (fuzz_argv.c, fuzz_vcf.c, fuzz_bed.c): the
 * facts of tiny-1k compiled at --seq-len 64 with its head, and generated
 * functions that abort if ever called (a target that needs a forward
 * passes its own). Definitions, not declarations: the include guard
 * keeps them once in a program, as in tests/test_fuzz_corpus.c, which
 * includes every target.
 */
#ifndef HYENAC_FUZZ_MODEL_STUBS_H
#define HYENAC_FUZZ_MODEL_STUBS_H

#include <stdint.h>
#include <stdlib.h>

#include "runtime/main/rt_main.h"

const int64_t hyenac_meta[HYRT_META_COUNT] = {
	[HYRT_META_D_MODEL] = 128,
	[HYRT_META_VOCAB] = 16,
	[HYRT_META_VOCAB_SIZE] = 12,
	[HYRT_META_MAX_LEN] = 64,
	[HYRT_META_NOUTPUTS] = 2,
	[HYRT_META_WEIGHT_BYTES] = 1 << 20,
	[HYRT_META_N_LAYER] = 2,
	[HYRT_META_FLOPS_PER_TOKEN] = 813568,
};
const char hyenac_model_name[] = "fuzz-tiny";

size_t hyenac_scratch_bytes(int64_t B, int64_t L)
{
	(void)B, (void)L;
	abort(); /* nothing past the command line may run */
}

void hyenac_run(const float *w, const int32_t *tokens, int64_t B, int64_t L,
                float *const *outputs, void *scratch)
{
	(void)w, (void)tokens, (void)B, (void)L, (void)outputs, (void)scratch;
	abort();
}

int hyenac_run_pooled(const float *w, const int32_t *tokens, int64_t B,
                      int64_t L, float *mean, float *last, void *scratch)
{
	(void)w, (void)tokens, (void)B, (void)L, (void)mean, (void)last;
	(void)scratch;
	abort();
}

int hyenac_run_classify(const float *w, const int32_t *tokens, int64_t B,
                        int64_t L, float *logits, void *scratch)
{
	(void)w, (void)tokens, (void)B, (void)L, (void)logits, (void)scratch;
	abort();
}

int hyenac_run_hidden(const float *w, const int32_t *tokens, int64_t B,
                      int64_t L, float *const *outputs, void *scratch)
{
	(void)w, (void)tokens, (void)B, (void)L, (void)outputs, (void)scratch;
	abort();
}

const char hyenac_labels[] = "";

/* generate's checks ask whether the model decodes: say it does. */
int64_t hyenac_state_bytes(int64_t B)
{
	return 64 * B;
}

int hyenac_prefill(const float *w, const int32_t *tokens, int64_t B,
                   int64_t L, float *logits, void *scratch, void *state)
{
	(void)w, (void)tokens, (void)B, (void)L, (void)logits, (void)scratch;
	(void)state;
	abort();
}

int hyenac_step(const float *w, const int32_t *tokens, int64_t B,
                int64_t pos, float *logits, void *scratch, void *state)
{
	(void)w, (void)tokens, (void)B, (void)pos, (void)logits, (void)scratch;
	(void)state;
	abort();
}

#endif
