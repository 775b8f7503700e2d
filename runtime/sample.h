/*
 * sample.h - how generation draws a token from a logits row: the one
 * definition that the model binary's `generate` (runtime/main/rt_gen.c)
 * and the model library's hyenac_model_generate (runtime/main/rt_lib.c)
 * share, so both give the same samples for the same settings.
 *
 * Sampling draws from the softmax of logits / T over the allowed ids
 * only (default ACGTN), after top-k and top-p (nucleus) cuts; T = 0 is
 * greedy (the highest allowed logit, the lowest id on a tie). Each
 * sample has its own generator, xoshiro256** seeded by splitmix64 from
 * (seed, sample index), so a seed gives the same output whatever the
 * thread count and whichever samples are decoded with it. Checking the
 * settings' ranges is the caller's business (its messages name its own
 * flags or arguments); hyrt_sampler_allowed only reads the base list.
 */
#ifndef HYENAC_SAMPLE_H
#define HYENAC_SAMPLE_H

#include <stdint.h>

typedef struct HyrtRng {
	uint64_t s[4];
} HyrtRng;

typedef struct HyrtSampler {
	double temp, top_p;  /* T >= 0 (0: greedy), 0 < P <= 1 */
	int64_t top_k;       /* 0: no cut */
	int32_t allowed[5];  /* token ids, in the order given */
	int nallowed;
} HyrtSampler;

/* The generator of sample `sample` under `seed`. */
void hyrt_rng_seed(HyrtRng *r, uint64_t seed, uint64_t sample);

/* sm->allowed from a list of bases (ACGTN, either case). On a bad list
 * returns false with a message (without any prefix) in msg[0..cap):
 * a letter that is no base, one named twice, or an empty list. */
int hyrt_sampler_allowed(HyrtSampler *sm, const char *allowed, char *msg,
                         int cap);

/* One id from logits row lg (indexed by token id), by the settings. */
int32_t hyrt_sample(const HyrtSampler *sm, const float *lg, HyrtRng *r);

/* The token id of a base (either case), -1 for any other byte; and the
 * base of a token id ('N' for any id that is no base). */
int32_t hyrt_base_id(char ch);
char hyrt_id_base(int32_t id);

#endif
