/*
 * tokens.c - token ids checked against a model. See tokens.h.
 */
#include "tokens.h"
#include "fasta.h"

#include <inttypes.h>
#include <stdio.h>

HyrtTokFault hyrt_check_tokens(const int32_t *ids, int64_t B, int64_t L,
                               int64_t max_len, int64_t vocab,
                               const char *who, const char *limit, Diag *d)
{
	size_t n;

	HY_ASSERT(B >= 0);
	if (L < 1) {
		diag_error(d, "%s: sequence length is 0; the model takes 1 to "
		           "%" PRId64, who, max_len);
		return HYRT_TOK_LENGTH;
	}
	if (L > max_len) {
		char lim[256];
		snprintf(lim, sizeof lim, limit, max_len);
		diag_error(d, "%s: sequence length %" PRId64 " exceeds %s", who,
		           L, lim);
		return HYRT_TOK_LENGTH;
	}
	if (!hy_mul_size((size_t)B, (size_t)L, &n)) {
		diag_error(d, "%s: %" PRId64 " x %" PRId64 " tokens is too "
		           "large", who, B, L);
		return HYRT_TOK_SIZE;
	}
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= vocab) {
			diag_error(d, "%s: token id %" PRId32 " at [%" PRId64
			           ", %" PRId64 "] is outside the vocabulary "
			           "[0, %" PRId64 ")", who, ids[i],
			           (int64_t)(i / (size_t)L),
			           (int64_t)(i % (size_t)L), vocab);
			return HYRT_TOK_ID;
		}
	return HYRT_TOK_OK;
}

void hyrt_tokens_as_rows(NpyArray *a)
{
	if (a->rank != 1)
		return;
	a->rank = 2;
	a->dim[1] = a->dim[0];
	a->dim[0] = 1;
}

HyrtTokFault hyrt_check_token_array(const NpyArray *a, int64_t max_len,
                                    int64_t vocab, const char *who,
                                    const char *limit, Diag *d)
{
	if (a->dtype != NPY_I32 || a->rank != 2) {
		diag_error(d, "%s: token ids must be an integer array "
		           "[batch, length] (or [length], one row), got rank %d", who, a->rank);
		return HYRT_TOK_SHAPE;
	}
	return hyrt_check_tokens(a->data, a->dim[0], a->dim[1], max_len,
	                         vocab, who, limit, d);
}

void hyrt_tokens_revcomp(int32_t *dst, const int32_t *src, int64_t n)
{
	int64_t body = n > 0 && src[n - 1] == HYRT_TOK_SEP ? n - 1 : n;

	_Static_assert(HYRT_TOK_A + HYRT_TOK_T == HYRT_TOK_C + HYRT_TOK_G &&
	               HYRT_TOK_C == HYRT_TOK_A + 1 &&
	               HYRT_TOK_T == HYRT_TOK_A + 3, "A C G T in a row");
	for (int64_t i = 0; i < body; i++) {
		int32_t t = src[body - 1 - i];
		dst[i] = t >= HYRT_TOK_A && t <= HYRT_TOK_T
		             ? HYRT_TOK_A + HYRT_TOK_T - t
		             : t;
	}
	for (int64_t i = body; i < n; i++)
		dst[i] = src[i];
}
