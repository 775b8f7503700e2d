/*
 * limits.h - what a model will cost in memory, checked before it is paid.
 *
 * A description is only a few numbers, so a small file can ask for more
 * memory than the machine has: weights to initialise at random, or an
 * activation arena for B x L tokens. These checks refuse such a model with
 * the number of bytes it needed, before anything is allocated, instead of
 * letting malloc fail halfway or the kernel's OOM killer end the process.
 *
 * The limit is the machine's physical memory (sysconf), or the byte count
 * in the environment variable HYENAC_MEMORY_LIMIT (plain decimal, with an
 * optional K/M/G/T suffix, powers of 1024: runtime/memlimit.h) when that
 * is set. A value that does not parse is refused by the driver before
 * any of this runs. All sums are
 * overflow-checked; an overflow counts as "more than any limit".
 */
#ifndef HYENAC_LIMITS_H
#define HYENAC_LIMITS_H

#include "frontend.h"

/* Bytes of memory hyenac may plan for; > 0. */
int64_t fe_memory_limit(void);

/* Bytes of the weights the spec implies (f32, the required tensors, as
 * fe_expected_weights lists them); INT64_MAX on overflow. */
int64_t fe_weight_bytes(const ModelSpec *s);

/* A spec-only upper estimate of the activation arena for batch x seq_len
 * tokens: the widest values of a block live at once, per token, plus the
 * per-position filters; INT64_MAX on overflow. For use before there is a
 * graph; once the memory plan has run, its figure is the better one. */
int64_t fe_activation_estimate(const ModelSpec *s, int64_t batch,
                               int64_t seq_len);

/* Refuse a random initialisation whose weights exceed the limit. */
bool fe_check_weight_memory(const ModelSpec *s, const char *file, Diag *d);

/* The memory check itself, on figures already made: refuse batch x
 * seq_len when run_bytes (what a forward holds besides the weights;
 * run_what names it in the message) plus weight_bytes exceed the limit.
 * `hyenac compile` gives it the one planned-memory figure
 * (drv_run_bytes), the same that --stats prints. */
bool fe_check_bytes(int64_t run_bytes, const char *run_what,
                    int64_t weight_bytes, int64_t batch, int64_t seq_len,
                    const char *file, Diag *d);

/* The same from the spec alone, before there is a graph: refuse a run
 * or compile of batch x seq_len whose weights plus activations exceed
 * the limit. planned_bytes is the memory plan's arena
 * for that batch and length (pass_planned_bytes), or <= 0 to use
 * fe_activation_estimate. The message names the file and the bytes
 * needed, e.g. "m.yaml: batch 1 x seq-len 1000002 needs 13.6 GB
 * (13632028288 bytes: 13605765120 activations + 26263168 weights), more
 * than the 8.0 GB (8589934592 bytes) memory limit; lower --seq-len or
 * --batch, or set HYENAC_MEMORY_LIMIT". */
bool fe_check_memory(const ModelSpec *s, int64_t planned_bytes,
                     int64_t batch, int64_t seq_len, const char *file,
                     Diag *d);

#endif
