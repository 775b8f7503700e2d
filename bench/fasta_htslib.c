/*
 * fasta_htslib.c - how fast runtime/fasta.c cuts a FASTA file into
 * tokenized windows, next to htslib's readers doing the same work: the
 * measurement behind keeping our reader (issue 16, item 4). Not a test.
 *
 *   fasta_htslib MODE FILE [W]    (W: window, default 1023; [SEP] added)
 *   MODE: ours    hyrt_fasta_open/next (plain or gzip, O(W) memory)
 *         kseq    htslib's kseq.h over zlib's gzread: whole records in
 *                 memory, then cut and tokenized here
 *         getline hts_open + hts_getline (plain, gzip, bgzip), lines
 *                 tokenized into windows here (O(W) memory)
 *         faidx   faidx_fetch_seq64 per window (needs FILE.fai, made
 *                 if missing; plain or bgzip)
 * Prints MB/s of the file as stored, windows and a checksum of the
 * tokens (equal across modes for the same file: the same work).
 *
 * Build: cmake --build build --target fasta_htslib
 */
#include "runtime/fasta.h"

#include <htslib/faidx.h>
#include <htslib/hts.h>
#include <htslib/kseq.h>
#include <zlib.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

KSEQ_INIT(gzFile, gzread)

static unsigned char tokmap[256];
static int32_t *win;
static int64_t W, nwin, nin;
static uint64_t sum;

static void emit(void)
{
	win[nin] = HYRT_TOK_SEP;
	for (int64_t i = 0; i <= nin; i++)
		sum += (uint64_t)win[i];
	nwin++;
	nin = 0;
}

static void feed(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		win[nin++] = tokmap[(unsigned char)s[i]];
		if (nin == W)
			emit();
	}
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: fasta_htslib ours|kseq|getline|faidx FILE "
		        "[W]\n");
		return 2;
	}
	const char *mode = argv[1], *path = argv[2];
	W = argc > 3 ? atoll(argv[3]) : 1023;
	win = malloc(sizeof(int32_t) * (size_t)(W + 1));
	for (int c = 0; c < 256; c++)
		tokmap[c] = HYRT_TOK_UNK;
	for (int i = 0; "ACGTN"[i]; i++)
		tokmap[(unsigned char)"ACGTN"[i]] = (unsigned char)(HYRT_TOK_A + i);
	struct stat st;
	if (stat(path, &st) != 0) {
		perror(path);
		return 1;
	}

	double t0 = now();
	if (strcmp(mode, "ours") == 0) {
		HyrtFastaOptions o = hyrt_fasta_default_options(W);
		Diag d;
		diag_init(&d);
		HyrtFasta *f = hyrt_fasta_open(path, &o, &d);
		HyrtWindow w;
		int r;
		if (!f) {
			fprintf(stderr, "%s\n", d.msg);
			return 1;
		}
		while ((r = hyrt_fasta_next(f, &w, &d)) == 1) {
			for (int64_t i = 0; i < w.ntokens; i++)
				sum += (uint64_t)w.tokens[i];
			nwin++;
		}
		hyrt_fasta_close(f);
	} else if (strcmp(mode, "kseq") == 0) {
		gzFile g = gzopen(path, "r");
		kseq_t *k = kseq_init(g);
		while (kseq_read(k) >= 0) {
			feed(k->seq.s, k->seq.l);
			if (nin)
				emit();
		}
		kseq_destroy(k);
		gzclose(g);
	} else if (strcmp(mode, "getline") == 0) {
		htsFile *f = hts_open(path, "r");
		kstring_t line = {0, 0, NULL};
		while (hts_getline(f, '\n', &line) >= 0) {
			if (line.l && line.s[0] == '>') {
				if (nin)
					emit();
				continue;
			}
			feed(line.s, line.l);
		}
		if (nin)
			emit();
		free(line.s);
		hts_close(f);
	} else if (strcmp(mode, "faidx") == 0) {
		faidx_t *fai = fai_load(path);
		for (int s = 0; fai && s < faidx_nseq(fai); s++) {
			const char *name = faidx_iseq(fai, s);
			int64_t len = faidx_seq_len(fai, name);
			for (int64_t b = 0; b < len; b += W) {
				int64_t e = b + W < len ? b + W : len;
				hts_pos_t got;
				char *seq = faidx_fetch_seq64(fai, name, b, e - 1, &got);
				feed(seq, (size_t)got);
				if (nin)
					emit();
				free(seq);
			}
		}
		if (fai)
			fai_destroy(fai);
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	double t = now() - t0;
	printf("%-8s %8.1f MB/s  %.2f s  %" PRId64 " windows  sum %016" PRIx64
	       "\n", mode, (double)st.st_size / 1e6 / t, t, nwin, sum);
	return 0;
}
