/*
 * fuzz_fasta.c - libFuzzer target for the FASTA reader and tokenizer
 * (plain or gzip; zlib tells them apart by the bytes). The first three
 * bytes choose the options - window 1..64, stride 0..63, case mode and
 * [SEP] - so small windows and every stride relation get exercised; the
 * rest is the file. Every window is checked against the contract in
 * runtime/fasta.h.
 */
#include <string.h>

#include "fasta_options.h"
#include "fuzz_common.h"
#include "runtime/fasta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	HyrtFastaOptions o;
	HyrtFasta *f;
	HyrtWindow w;
	Diag d;
	int r;
	long windows = 0;

	if (!fuzz_fasta_options(&data, &n, &o))
		return 0;
	diag_init(&d);
	f = hyrt_fasta_open(fuzz_file("fuzz.fa", data, n), &o, &d);
	if (!f) {
		FUZZ_CHECK_DIAG(&d);
		return 0;
	}
	while ((r = hyrt_fasta_next(f, &w, &d)) == 1) {
		int64_t bases = w.end - w.start;
		if (!w.record || w.start < 0 || bases < 1 || bases > o.window ||
		    w.ntokens != bases + (o.special_tokens ? 1 : 0))
			abort();
		for (int64_t i = 0; i < w.ntokens; i++) {
			int32_t t = w.tokens[i];
			if (t != HYRT_TOK_SEP && (t < HYRT_TOK_UNK || t > HYRT_TOK_N))
				abort();
		}
		if (++windows > (long)n * 64 + 64)
			abort(); /* more windows than the input can hold */
	}
	if (r < 0) {
		FUZZ_CHECK_DIAG(&d);
		if (hyrt_fasta_next(f, &w, &d) != -1)
			abort();
	}
	(void)hyrt_fasta_saw_lowercase(f);
	(void)hyrt_fasta_records(f);
	(void)hyrt_fasta_empty_records(f);
	(void)hyrt_fasta_first_empty(f);
	(void)hyrt_fasta_bytes_read(f);
	hyrt_fasta_close(f);
	return 0;
}
