/*
 * fuzz_bed.c - libFuzzer target for the BED intervals of `--ref G.fa
 * --regions R.bed` (runtime/main/rt_regions.c): htslib's line reader
 * (plain, gzip or BGZF: htslib tells them apart by the bytes), our
 * fields, coordinates and checks against the reference, and the windows
 * cut from the faidx-indexed reference. The first three bytes are the
 * options, read as fuzz_fasta.c reads them (window 1..64, stride 0..63,
 * case mode and [SEP]); the rest is the BED file. The reference is
 * fixed (fuzz_vcf.c's: "chr1" of 100 bases, "chr2" with soft-masked
 * bases and Ns, "1"), written once to a private directory.
 *
 * The promise checked: every window lies on a contig of the reference,
 * within it, at most the window long, and its tokens are the
 * reference's bases there, tokenized here independently (A C G T N,
 * anything else [UNK], lowercase [UNK] unless --case upper, [SEP] when
 * asked); or the reading stops with status 1 and exactly one line on
 * stderr. A crash, a hang, a leak, a second line is a finding. exit()
 * becomes a longjmp back here through rt_exit_hook, and the reader is
 * closed (rt_regions_open leaves nothing allocated when it fails).
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fasta_options.h"
#include "fuzz_common.h"
#include "runtime/fasta.h"
#include "runtime/main/rt_main.h"

#include "model_stubs.h"

static const char *const bed_ctg[3] = {"chr1", "chr2", "1"};
static const char *const bed_seq[3] = {
	"ACGTACGTTAGCCGATAGCTAGCTAGGATCGATCGATTACGATCGATGCATGCATCGAT"
	"GATCGTAGCTAGCTAGCTAGTCGATCGTAGCTAGCATCGAT",
	"acgtacgtNNNNACGTACGTacgtAC",
	"ACGTNACGTA",
};

static jmp_buf bed_jmp;
static int bed_status;
static char bed_dir[64], bed_ref[128];

static void bed_exit(int status)
{
	bed_status = status;
	longjmp(bed_jmp, 1);
}

/* The private directory goes at exit (the reference and its index). */
static void bed_cleanup(void)
{
	char p[192];

	snprintf(p, sizeof p, "%s/ref.fa.fai", bed_dir);
	unlink(p);
	unlink(bed_ref);
	rmdir(bed_dir);
}

static void bed_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(bed_dir, sizeof bed_dir, "%s/fuzz-bed-XXXXXX",
	         tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(bed_dir))
		abort();
	atexit(bed_cleanup);
	snprintf(bed_ref, sizeof bed_ref, "%s/ref.fa", bed_dir);
	FILE *f = fopen(bed_ref, "w");
	if (!f)
		abort();
	for (int c = 0; c < 3; c++) /* lines of 60, as faidx wants */
		for (size_t i = 0, n = strlen(bed_seq[c]); i < n; i += 60)
			fprintf(f, "%s%.60s\n", i ? "" : c == 0 ? ">chr1 the first\n"
			                            : c == 1 ? ">chr2\n" : ">1\n",
			        bed_seq[c] + i);
	if (fclose(f) != 0)
		abort();
}

/* The token of reference byte c, as fasta.h says. */
static int32_t bed_token(unsigned char c, const HyrtFastaOptions *o)
{
	static const char bases[] = "ACGTN";

	if (o->case_mode == HYRT_CASE_UPPER && c >= 'a' && c <= 'z')
		c = (unsigned char)(c - 'a' + 'A');
	const char *p = c ? strchr(bases, c) : NULL;
	return p ? HYRT_TOK_A + (int32_t)(p - bases) : HYRT_TOK_UNK;
}

/* One window against the reference (abort when it is wrong). */
static void bed_check(const HyrtWindow *w, const HyrtFastaOptions *o,
                      const char *name)
{
	int c = 0;

	while (c < 3 && (!w->record || strcmp(w->record, bed_ctg[c]) != 0))
		c++;
	if (c == 3 || !name || strchr(name, '\n'))
		abort();
	int64_t len = (int64_t)strlen(bed_seq[c]), bases = w->end - w->start;
	if (w->start < 0 || bases < 1 || w->end > len || bases > o->window ||
	    w->ntokens != bases + (o->special_tokens ? 1 : 0))
		abort();
	for (int64_t i = 0; i < bases; i++)
		if (w->tokens[i] !=
		    bed_token((unsigned char)bed_seq[c][w->start + i], o))
			abort();
	if (o->special_tokens && w->tokens[bases] != HYRT_TOK_SEP)
		abort();
}

static RtRegions *bed_rg; /* the reader, closed after an exit too */
static size_t bed_len;    /* the BED file's bytes */

/* Every window of the BED file, checked; rt_fail jumps out of it. */
static void bed_read(const char *bed, const HyrtFastaOptions *o)
{
	HyrtWindow w;
	long windows = 0;

	bed_rg = rt_regions_open(bed_ref, bed, o);
	while (rt_regions_next(bed_rg, &w) == 1) {
		bed_check(&w, o, rt_regions_name(bed_rg));
		/* at most a window a base of each line's interval */
		if (++windows > (long)bed_len * 102 + 64)
			abort();
	}
	rt_regions_warn(bed_rg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	HyrtFastaOptions o;
	char *err = NULL;
	size_t nerr = 0;

	if (!fuzz_fasta_options(&data, &n, &o))
		return 0;
	if (!bed_dir[0])
		bed_setup();
	const char *bed = fuzz_file("fuzz.bed", data, n);
	bed_len = n;

	FILE *saved_err = stderr;
	stderr = open_memstream(&err, &nerr);
	if (!stderr)
		abort();
	rt_exit_hook = bed_exit;
	bed_status = 0;
	bed_rg = NULL;
	if (setjmp(bed_jmp) == 0)
		bed_read(bed, &o);
	rt_regions_close(bed_rg);
	bed_rg = NULL;
	fclose(stderr);
	stderr = saved_err;
	rt_exit_hook = NULL;

	if (bed_status != 0) {
		const char *nl = strchr(err, '\n');
		if (bed_status != 1 || !nl || nl[1] != 0) {
			fprintf(stderr, "fuzz_bed: status %d, not one line:\n%s\n",
			        bed_status, err);
			abort();
		}
	}
	free(err);
	return 0;
}
