/*
 * score.h - a window's log-likelihood from its logits: the one
 * definition of `score` that a model binary's FASTA commands
 * (runtime/main/rt_fasta.c) and the model library
 * (hyenac_model_score, runtime/main/rt_lib.c) share.
 *
 * Log-softmax over the full logits row (the padded vocabulary, as the HF
 * model's loss does) at position t scores the token at t + 1, for t in
 * 0..scored-1, summed in double. Which positions count is the caller's
 * rule (rt_fasta.c's design comment: every base but the first, never the
 * [SEP]); this file only does the arithmetic.
 */
#ifndef HYENAC_SCORE_H
#define HYENAC_SCORE_H

#include <stdint.h>

/* logits [>= scored, V] of one row, tok its ids [>= scored + 1]; each
 * (when not NULL) gets every position's log p [scored] (score
 * --per-base). */
double hyrt_window_logp(const float *logits, const int32_t *tok,
                        int64_t scored, int64_t V, double *each);

#endif
