/*
 * model_stubs.h - the symbols of a model binary that the runtime's command
 * table links in, for the fuzz targets that run the runtime's readers in
 * their own process (fuzz_vcf.c, fuzz_bed.c) without a model: the facts
 * of tiny-1k at --seq-len 64, and forwards that abort (a target passes
 * its own forward where it needs one). Include it once per program; the
 * corpus replay (tests/test_fuzz_corpus.c) takes fuzz_argv.c's instead
 * and defines FUZZ_NO_MODEL_STUBS.
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
};
const char hyenac_model_name[] = "fuzz-tiny";
const char hyenac_labels[] = "";

size_t hyenac_scratch_bytes(int64_t B, int64_t L)
{
	(void)B, (void)L;
	abort();
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

#endif
