/*
 * rt_regions.c - windows from BED intervals of a faidx-indexed reference,
 * for `embed|score|classify --ref genome.fa --regions R.bed` (rt_fasta.c):
 * the same windows and tokens as --fasta on a FASTA file holding the
 * intervals' sequences, in BED order.
 *
 * BED through htslib: hts_getline over hts_open, so plain, gzip and bgzip
 * files read alike; lines that are blank or start with '#', "track" or
 * "browser" are skipped; fields are tab-separated: chrom, start, end
 * (0-based, half-open, start <= end), then an optional name (the 4th
 * column, "." when absent) that the outputs carry. Each interval of len
 * bases gives the windows fasta.h describes (starts 0, S, 2S, ... below
 * len, each min(W, len - start) bases), in the reference's coordinates:
 * a window's start and end are positions on chrom. An empty interval
 * gives none; it is counted for a warning.
 *
 * Bases come from faidx one window at a time (an interval may be a whole
 * chromosome: memory stays O(W)), tokenized as fasta.c does: A C G T N,
 * any other byte [UNK], lowercase [UNK] under HYRT_CASE_STRICT (counted,
 * for the soft-masking warning), upper-cased under HYRT_CASE_UPPER;
 * [SEP] appended when asked.
 *
 * Errors exit 1 with one line naming the BED file and line: fewer than 3
 * fields, a coordinate that is not a number, start > end, a contig the
 * reference lacks, an end past the contig's end, a read error.
 */
#include "rt_main.h"

#include "runtime/fasta.h"

#include <htslib/faidx.h>
#include <htslib/hts.h>
#include <htslib/hts_log.h>
#include <htslib/kstring.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct RtRegions {
	const char *bed_path, *ref_path;
	htsFile *bed;
	faidx_t *fai;
	kstring_t line;
	int64_t lineno;
	HyrtFastaOptions o;
	unsigned char tokmap[256];
	/* the interval being cut */
	char *chrom, *name;
	int64_t beg, end, at; /* at: the next window's start */
	bool have;
	int32_t *tokens;
	int64_t intervals, empty, bases, soft;
};

RtRegions *rt_regions_open(const char *ref, const char *bed,
                           const HyrtFastaOptions *o)
{
	/* both files first: a failure leaves nothing allocated (the BED fuzz
	 * target, fuzz/fuzz_bed.c, runs this in its own process) */
	hts_set_log_level(HTS_LOG_OFF);
	faidx_t *fai = rt_faidx_open(ref);
	errno = 0;
	htsFile *in = hts_open(bed, "r");
	if (!in) {
		int e = errno ? errno : EINVAL;
		fai_destroy(fai);
		rt_fail("%s: cannot open: %s", bed, strerror(e));
	}
	RtRegions *r = calloc(1, sizeof *r);
	if (!r)
		rt_fail("out of memory");
	r->fai = fai;
	r->bed = in;
	r->bed_path = bed;
	r->ref_path = ref;
	r->o = *o;
	if (r->o.stride == 0)
		r->o.stride = r->o.window;
	for (int c = 0; c < 256; c++)
		r->tokmap[c] = HYRT_TOK_UNK;
	for (int i = 0; "ACGTN"[i]; i++) {
		r->tokmap[(unsigned char)"ACGTN"[i]] = (unsigned char)(HYRT_TOK_A + i);
		if (o->case_mode == HYRT_CASE_UPPER)
			r->tokmap[(unsigned char)"acgtn"[i]] =
			    (unsigned char)(HYRT_TOK_A + i);
	}
	r->tokens = rt_xalloc(sizeof(int32_t) * (size_t)(r->o.window + 1),
	                      "tokens");
	return r;
}

/* A coordinate field: a non-negative decimal integer. */
static int64_t coord(const RtRegions *r, const char *s, const char *what)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || errno || v < 0)
		rt_fail("%s: line %" PRId64 ": %s '%s' is not a non-negative "
		        "integer", r->bed_path, r->lineno, what, s);
	return (int64_t)v;
}

/* The next interval into r: true, or false at the end of the file. */
static bool next_interval(RtRegions *r)
{
	for (;;) {
		int got = hts_getline(r->bed, '\n', &r->line);
		if (got == -1)
			return false;
		if (got < -1)
			rt_fail("%s: read error after line %" PRId64 " (truncated or "
			        "corrupt compressed data?)", r->bed_path, r->lineno);
		r->lineno++;
		char *s = r->line.s;
		if (r->line.l > 0 && s[r->line.l - 1] == '\r')
			s[--r->line.l] = 0;
		if (r->line.l == 0 || s[0] == '#' || strncmp(s, "track", 5) == 0 ||
		    strncmp(s, "browser", 7) == 0)
			continue;
		if (strlen(s) != r->line.l)
			rt_fail("%s: line %" PRId64 ": a NUL byte", r->bed_path,
			        r->lineno);
		char *f[4] = {NULL, NULL, NULL, NULL};
		int nf = 0;
		for (char *p = s; nf < 4;) {
			f[nf++] = p;
			char *tab = strchr(p, '\t');
			if (!tab)
				break;
			*tab = 0;
			p = tab + 1;
		}
		if (nf > 3) { /* the name ends at the next tab */
			char *tab = strchr(f[3], '\t');
			if (tab)
				*tab = 0;
		}
		if (nf < 3)
			rt_fail("%s: line %" PRId64 ": %d field(s); a BED line has "
			        "chrom, start and end, tab-separated", r->bed_path,
			        r->lineno, nf);
		int64_t beg = coord(r, f[1], "start");
		int64_t end = coord(r, f[2], "end");
		if (beg > end)
			rt_fail("%s: line %" PRId64 ": start %" PRId64 " is past end %"
			        PRId64, r->bed_path, r->lineno, beg, end);
		if (!faidx_has_seq(r->fai, f[0]))
			rt_fail("%s: line %" PRId64 ": contig '%s' is not in %s",
			        r->bed_path, r->lineno, f[0], r->ref_path);
		int64_t len = faidx_seq_len(r->fai, f[0]);
		if (end > len)
			rt_fail("%s: line %" PRId64 ": end %" PRId64 " is past the end "
			        "of %s (%" PRId64 " bases)", r->bed_path, r->lineno,
			        end, f[0], len);
		free(r->chrom);
		free(r->name);
		r->chrom = strdup(f[0]);
		r->name = strdup(nf > 3 && *f[3] ? f[3] : ".");
		if (!r->chrom || !r->name)
			rt_fail("out of memory");
		r->beg = beg;
		r->end = end;
		r->at = 0;
		r->intervals++;
		if (beg == end) {
			r->empty++;
			continue;
		}
		return true;
	}
}

int rt_regions_next(RtRegions *r, HyrtWindow *w)
{
	if (!r->have || r->beg + r->at >= r->end) {
		if (!next_interval(r)) {
			r->have = false;
			return 0;
		}
		r->have = true;
	}
	int64_t s = r->beg + r->at;
	int64_t e = s + r->o.window < r->end ? s + r->o.window : r->end;
	hts_pos_t got = 0;
	char *seq = faidx_fetch_seq64(r->fai, r->chrom, s, e - 1, &got);
	if (!seq || got != e - s) {
		free(seq);
		rt_fail("%s: cannot read %s:%" PRId64 "-%" PRId64 " (the index "
		        "does not match the file? remake %s.fai)", r->ref_path,
		        r->chrom, s + 1, e, r->ref_path);
	}
	for (int64_t i = 0; i < e - s; i++) {
		unsigned char c = (unsigned char)seq[i];
		r->tokens[i] = r->tokmap[c];
		r->soft += r->o.case_mode == HYRT_CASE_STRICT && c &&
		           strchr("acgtn", c);
	}
	free(seq);
	r->bases += e - s;
	w->ntokens = e - s;
	if (r->o.special_tokens)
		r->tokens[w->ntokens++] = HYRT_TOK_SEP;
	w->record = r->chrom;
	w->record_index = r->intervals - 1;
	w->start = s;
	w->end = e;
	w->tokens = r->tokens;
	r->at += r->o.stride;
	return 1;
}

const char *rt_regions_name(const RtRegions *r)
{
	return r->name ? r->name : ".";
}

void rt_regions_warn(const RtRegions *r)
{
	if (r->soft > 0 && r->bases > 0)
		rt_warn("warning: %.1f%% of the bases of the regions were "
		        "lowercase (soft-masked) and read as [UNK] like the HF "
		        "tokenizer; use --case upper to read them as bases",
		        100.0 * (double)r->soft / (double)r->bases);
	if (r->intervals == 0)
		rt_warn("warning: %s has no intervals; the outputs have no rows",
		        r->bed_path);
	else if (r->empty > 0)
		rt_warn("warning: %" PRId64 " empty interval(s) of %s have no "
		        "rows", r->empty, r->bed_path);
}

void rt_regions_close(RtRegions *r)
{
	if (!r)
		return;
	hts_close(r->bed);
	fai_destroy(r->fai);
	free(r->line.s);
	free(r->chrom);
	free(r->name);
	free(r->tokens);
	free(r);
}
