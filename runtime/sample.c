/*
 * sample.c - the generation sampler (sample.h): xoshiro256** seeded by
 * splitmix64, the allowed ids sorted by logit, top-k, top-p, then one
 * draw. Moved here from rt_gen.c unchanged so that the library's
 * hyenac_model_generate draws exactly the binary's samples.
 */
#include "runtime/sample.h"
#include "runtime/fasta.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char bases[] = "ACGTN";
static const int32_t base_ids[] = {HYRT_TOK_A, HYRT_TOK_C, HYRT_TOK_G,
                                   HYRT_TOK_T, HYRT_TOK_N};

int32_t hyrt_base_id(char ch)
{
	const char *p = ch ? strchr(bases, ch >= 'a' ? ch - 32 : ch) : NULL;
	return p ? base_ids[p - bases] : -1;
}

char hyrt_id_base(int32_t id)
{
	for (int i = 0; i < 5; i++)
		if (base_ids[i] == id)
			return bases[i];
	return 'N';
}

/* ---- xoshiro256**, seeded by splitmix64 --------------------------------- */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void hyrt_rng_seed(HyrtRng *r, uint64_t seed, uint64_t sample)
{
	uint64_t x = seed ^ (sample * 0xd1b54a32d192ed03ull);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* A double in [0, 1). */
static double rng_next(HyrtRng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return (double)(out >> 11) * 0x1.0p-53;
}

/* ---- sampling ------------------------------------------------------------ */

int hyrt_sampler_allowed(HyrtSampler *sm, const char *allowed, char *msg,
                         int cap)
{
	sm->nallowed = 0;
	for (const char *a = allowed; *a; a++) {
		int32_t id = hyrt_base_id(*a);
		if (id < 0) {
			snprintf(msg, (size_t)cap, "'%c' is not one of ACGTN", *a);
			return 0;
		}
		for (int i = 0; i < sm->nallowed; i++)
			if (sm->allowed[i] == id) {
				snprintf(msg, (size_t)cap, "names '%c' twice", *a);
				return 0;
			}
		sm->allowed[sm->nallowed++] = id;
	}
	if (sm->nallowed == 0) {
		snprintf(msg, (size_t)cap, "is empty");
		return 0;
	}
	return 1;
}

int32_t hyrt_sample(const HyrtSampler *sm, const float *lg, HyrtRng *r)
{
	int n = sm->nallowed, order[5];
	double p[5], sum = 0, mx = -INFINITY;

	for (int i = 0; i < n; i++) {
		order[i] = i;
		mx = fmax(mx, lg[sm->allowed[i]]);
	}
	/* by logit, highest first; ties by the lower id (insertion sort) */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0; j--) {
			float a = lg[sm->allowed[order[j - 1]]];
			float b = lg[sm->allowed[order[j]]];
			if (b > a || (b == a && sm->allowed[order[j]] <
			                            sm->allowed[order[j - 1]])) {
				int t = order[j];
				order[j] = order[j - 1];
				order[j - 1] = t;
			}
		}
	if (sm->temp == 0)
		return sm->allowed[order[0]];
	int keep = sm->top_k > 0 && sm->top_k < n ? (int)sm->top_k : n;
	for (int i = 0; i < keep; i++) {
		p[i] = exp((lg[sm->allowed[order[i]]] - mx) / sm->temp);
		sum += p[i];
	}
	if (sm->top_p < 1) {
		double c = 0;
		for (int i = 0; i < keep; i++) {
			c += p[i] / sum;
			if (c >= sm->top_p) {
				keep = i + 1;
				break;
			}
		}
		sum = 0;
		for (int i = 0; i < keep; i++)
			sum += p[i];
	}
	double u = rng_next(r) * sum;
	for (int i = 0; i < keep; i++) {
		if (u < p[i])
			return sm->allowed[order[i]];
		u -= p[i];
	}
	return sm->allowed[order[keep - 1]];
}
