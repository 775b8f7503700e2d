/*
 * fasta_options.h - the three option bytes that open a fasta or gzip fuzz
 * input (window 1..64, stride 0..63, case mode and [SEP]), read the same
 * way by both targets so that their corpora mean the same thing.
 */
#ifndef HYENAC_FUZZ_FASTA_OPTIONS_H
#define HYENAC_FUZZ_FASTA_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/fasta.h"

/* Options from (*data)[0..3), which are then skipped; false if the input
 * is too short to hold them. */
static inline bool fuzz_fasta_options(const uint8_t **data, size_t *n,
                                      HyrtFastaOptions *o)
{
	const uint8_t *b = *data;

	if (*n < 3)
		return false;
	*o = hyrt_fasta_default_options(1 + b[0] % 64);
	o->stride = b[1] % 64;
	o->case_mode = b[2] & 1 ? HYRT_CASE_UPPER : HYRT_CASE_STRICT;
	o->special_tokens = b[2] & 2;
	*data += 3;
	*n -= 3;
	return true;
}

#endif
