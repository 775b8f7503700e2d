/*
 * tokens.h - the one check of token ids against a model, used by every
 * front door: `hyenac run` (driver/main.c), the model binaries
 * (runtime/main/rt_main.c) and the model library (runtime/main/rt_lib.c).
 *
 * Token ids [B, L] are valid when 1 <= L <= max_len and every id is in
 * [0, vocab). B = 0 is a batch of no rows: valid here; each front door
 * says what it makes of it. The message names the caller's file or
 * function (who), the place of the first offending id ([row, column]),
 * and, for a length over max_len, what that limit is: limit is a printf
 * format of one int64 conversion, max_len ("the model's max_seq_len
 * %" PRId64, "%" PRId64 ", the longest this binary was compiled for").
 *
 * What it does not do: read files (npy.h does) or say what a caller
 * returns; hyrt_check_token_array adds the shape check for a .npy array.
 */
#ifndef HYENAC_TOKENS_H
#define HYENAC_TOKENS_H

#include "../common/diag.h"
#include "npy.h"

typedef enum {
	HYRT_TOK_OK,
	HYRT_TOK_SHAPE,  /* not a 2-d integer array */
	HYRT_TOK_LENGTH, /* L outside 1..max_len */
	HYRT_TOK_ID,     /* an id outside the vocabulary */
	HYRT_TOK_SIZE,   /* B x L overflows size_t */
} HyrtTokFault;

HyrtTokFault hyrt_check_tokens(const int32_t *ids, int64_t B, int64_t L,
                               int64_t max_len, int64_t vocab,
                               const char *who, const char *limit, Diag *d);
/* A 1-d array [L] from npy_load_ints made one row [1, L] (its data
 * untouched); any other rank is left for the check below to judge. */
void hyrt_tokens_as_rows(NpyArray *a);
/* The same for an array from npy_load_ints: rank 2, then the above. */
HyrtTokFault hyrt_check_token_array(const NpyArray *a, int64_t max_len,
                                    int64_t vocab, const char *who,
                                    const char *limit, Diag *d);

/* The reverse complement of a row of n token ids, into dst (not src):
 * the ids read backwards with A<->T and C<->G (7<->10, 8<->9), every
 * other id (N, [UNK], ...) as it is; a trailing [SEP] (id 1) stays at
 * the end, where the tokenizer puts it. */
void hyrt_tokens_revcomp(int32_t *dst, const int32_t *src, int64_t n);

#endif
