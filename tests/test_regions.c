/*
 * test_regions.c - `embed|score --ref genome.fa --regions R.bed` against
 * `--fasta` on a FASTA file holding the same intervals, extracted here:
 * the same rows (embeddings, scores, token counts) in the same order,
 * with the TSV's start and end moved onto the chromosome and the BED
 * name column carried. Plain and bgzipped BED and reference, a soft-
 * masked run under both case modes, an interval longer than the window
 * (several windows, a stride), comment, track and empty lines and
 * intervals; BED errors are one line, exit 1, and leave no output.
 *
 * One model (tiny-1k at --seq-len 64) is compiled once, before the tests
 * fork.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/npy.h"
#include "testutil.h"

static char exe[4096];
static char chr1[401], chr2[121];

typedef struct Iv {
	const char *chrom;
	int beg, end;
	const char *name; /* NULL: no 4th column */
} Iv;

static const Iv ivs[] = {
	{"chr1", 10, 150, "long"}, {"chr2", 0, 120, NULL},
	{"chr1", 390, 400, "tail"}, {"chr2", 50, 50, "empty"},
	{"chr1", 95, 140, "masked"},
};
enum { NIV = sizeof ivs / sizeof ivs[0] };

static void setup(void)
{
	RunResult r;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	snprintf(exe, sizeof exe, "%s", tu_path(tu_tmpdir(), "tiny"));
	tu_run_hyenac(&r, (const char *[]){"compile",
	              tu_source("models/hyenadna-tiny-1k.yaml"), "-o", exe,
	              "--seq-len", "64", NULL});
	if (r.status != 0) {
		fprintf(stderr, "compile failed: %s\n", r.err);
		exit(1);
	}
	for (int i = 0; i < 400; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		chr1[i] = "ACGT"[x >> 62];
	}
	for (int i = 0; i < 120; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		chr2[i] = "ACGTN"[(x >> 33) % 5];
	}
	for (int i = 100; i < 130; i++)
		chr1[i] = (char)tolower((unsigned char)chr1[i]);
}

static const char *seq(const char *chrom)
{
	return strcmp(chrom, "chr1") == 0 ? chr1 : chr2;
}

/* The reference (lines of 50), the BED, and the intervals as FASTA
 * records named by their index. */
static void write_inputs(const char *tag)
{
	char name[64], t[8192];
	size_t n = 0;

	n += (size_t)sprintf(t + n, ">chr1 one\n");
	for (int i = 0; i < 400; i += 50)
		n += (size_t)sprintf(t + n, "%.50s\n", chr1 + i);
	n += (size_t)sprintf(t + n, ">chr2\n");
	for (int i = 0; i < 120; i += 50)
		n += (size_t)sprintf(t + n, "%.50s\n", chr2 + i);
	snprintf(name, sizeof name, "%s.fa", tag);
	tu_write(name, t, n);

	n = (size_t)sprintf(t, "# a comment\ntrack name=x\n\n");
	for (int i = 0; i < NIV; i++) {
		n += (size_t)sprintf(t + n, "%s\t%d\t%d", ivs[i].chrom, ivs[i].beg,
		                     ivs[i].end);
		if (ivs[i].name)
			n += (size_t)sprintf(t + n, "\t%s\t0\t+", ivs[i].name);
		n += (size_t)sprintf(t + n, "\n");
	}
	snprintf(name, sizeof name, "%s.bed", tag);
	tu_write(name, t, n);

	n = 0;
	for (int i = 0; i < NIV; i++)
		n += (size_t)sprintf(t + n, ">iv%d\n%.*s\n", i,
		                     ivs[i].end - ivs[i].beg,
		                     seq(ivs[i].chrom) + ivs[i].beg);
	snprintf(name, sizeof name, "%s-iv.fa", tag);
	tu_write(name, t, n);
}

/* Split a TSV into rows of fields (in place). */
static int rows(char *text, char *cell[][8], int maxrows)
{
	int nr = 0;
	for (char *line = strtok(text, "\n"); line && nr < maxrows;
	     line = strtok(NULL, "\n")) {
		int nf = 0;
		for (char *p = line; p && nf < 8; nf++) {
			cell[nr][nf] = p;
			p = strchr(p, '\t');
			if (p)
				*p++ = 0;
		}
		for (; nf < 8; nf++)
			cell[nr][nf] = NULL;
		nr++;
	}
	return nr;
}

static void ok(RunResult *r, const char *const *args)
{
	tu_run(r, exe, args);
	ck_assert_msg(r->status == 0, "failed (status %d): %s", r->status,
	              r->err);
}

/* Regions' TSV (record start end name rest...) against the FASTA's
 * (iv<i> start end rest...), row by row. */
static void same_tsv(const char *reg_path, const char *fa_path)
{
	static char *a[256][8], *b[256][8];
	char *ta = tu_read(reg_path, NULL), *tb = tu_read(fa_path, NULL);
	int na = rows(ta, a, 256), nb = rows(tb, b, 256);

	ck_assert_int_eq(na, nb);
	ck_assert_int_gt(na, 5);
	ck_assert_str_eq(a[0][3], "name");
	for (int r = 1; r < na; r++) {
		int i = atoi(b[r][0] + 2);
		ck_assert_str_eq(a[r][0], ivs[i].chrom);
		ck_assert_int_eq(atoi(a[r][1]), ivs[i].beg + atoi(b[r][1]));
		ck_assert_int_eq(atoi(a[r][2]), ivs[i].beg + atoi(b[r][2]));
		ck_assert_str_eq(a[r][3], ivs[i].name ? ivs[i].name : ".");
		for (int k = 3; k < 7 && b[r][k]; k++) {
			ck_assert_ptr_nonnull(a[r][k + 1]);
			if (strcmp(a[r][k + 1], b[r][k]) == 0)
				continue; /* nan (a one-base window) included */
			ck_assert_msg(fabs(atof(a[r][k + 1]) - atof(b[r][k])) <=
			              1e-6 * fmax(1, fabs(atof(b[r][k]))),
			              "row %d column %d: %s vs %s", r, k + 1,
			              a[r][k + 1], b[r][k]);
		}
	}
	free(ta);
	free(tb);
}

static void same_npy(const char *a, const char *b)
{
	NpyArray x, y;
	tu_load_npy(a, &x);
	tu_load_npy(b, &y);
	ck_assert_int_eq(x.rank, y.rank);
	ck_assert_uint_eq(x.numel, y.numel);
	ck_assert(tu_max_abs_diff(x.data, y.data, x.numel) <= 1e-6);
	npy_free(&x);
	npy_free(&y);
}

/* Both ways for one set of inputs and options. */
static void compare(const char *ref, const char *bed, const char *fa,
                    const char *const *extra)
{
	char ra[4096], fb[4096], rs[4096], fs[4096];
	const char *args[24];
	RunResult r;
	int n;

	snprintf(ra, sizeof ra, "%s", tu_path(tu_tmpdir(), "reg.npy"));
	snprintf(fb, sizeof fb, "%s", tu_path(tu_tmpdir(), "fa.npy"));
	snprintf(rs, sizeof rs, "%s", tu_path(tu_tmpdir(), "reg-s.tsv"));
	snprintf(fs, sizeof fs, "%s", tu_path(tu_tmpdir(), "fa-s.tsv"));
	for (int cmd = 0; cmd < 2; cmd++) {
		const char *verb = cmd ? "score" : "embed";
		n = 0;
		args[n++] = verb;
		args[n++] = "--ref";
		args[n++] = ref;
		args[n++] = "--regions";
		args[n++] = bed;
		args[n++] = "-o";
		args[n++] = cmd ? rs : ra;
		for (int k = 0; extra[k]; k++)
			args[n++] = extra[k];
		args[n] = NULL;
		ok(&r, args);
		n = 0;
		args[n++] = verb;
		args[n++] = "--fasta";
		args[n++] = fa;
		args[n++] = "-o";
		args[n++] = cmd ? fs : fb;
		for (int k = 0; extra[k]; k++)
			args[n++] = extra[k];
		args[n] = NULL;
		ok(&r, args);
	}
	same_npy(ra, fb);
	char rt[4096], ft[4096];
	snprintf(rt, sizeof rt, "%s", tu_path(tu_tmpdir(), "reg.tsv"));
	snprintf(ft, sizeof ft, "%s", tu_path(tu_tmpdir(), "fa.tsv"));
	same_tsv(rt, ft);
	same_tsv(rs, fs);
}

START_TEST(regions_equal_fasta)
{
	char ref[4096], bed[4096], fa[4096];

	write_inputs("p");
	snprintf(ref, sizeof ref, "%s", tu_path(tu_tmpdir(), "p.fa"));
	snprintf(bed, sizeof bed, "%s", tu_path(tu_tmpdir(), "p.bed"));
	snprintf(fa, sizeof fa, "%s", tu_path(tu_tmpdir(), "p-iv.fa"));
	compare(ref, bed, fa, (const char *[]){"-q", "--window", "40", NULL});
	compare(ref, bed, fa, (const char *[]){"-q", "--window", "30",
	                                       "--stride", "17", "--case",
	                                       "upper", NULL});
	/* the index was made beside the reference */
	ck_assert(access(tu_path(tu_tmpdir(), "p.fa.fai"), F_OK) == 0);
}
END_TEST

START_TEST(bgzip_bed_and_reference)
{
	char ref[4096], bed[4096], fa[4096], cmd[8192];

	write_inputs("z");
	snprintf(cmd, sizeof cmd, "cd %s && bgzip -f z.fa && bgzip -f z.bed",
	         tu_tmpdir());
	ck_assert_int_eq(system(cmd), 0);
	snprintf(ref, sizeof ref, "%s", tu_path(tu_tmpdir(), "z.fa.gz"));
	snprintf(bed, sizeof bed, "%s", tu_path(tu_tmpdir(), "z.bed.gz"));
	snprintf(fa, sizeof fa, "%s", tu_path(tu_tmpdir(), "z-iv.fa"));
	compare(ref, bed, fa, (const char *[]){"-q", "--threads", "2",
	                                       "--batch", "3", NULL});
}
END_TEST

static void fails(const char *bed_text, const char *want)
{
	char ref[4096], out[4096];
	RunResult r;

	write_inputs("e");
	snprintf(ref, sizeof ref, "%s", tu_path(tu_tmpdir(), "e.fa"));
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "e-out.tsv"));
	const char *bed = tu_write_str("bad.bed", bed_text);
	tu_run(&r, exe, (const char *[]){"score", "--ref", ref, "--regions",
	                                 bed, "-o", out, NULL});
	ck_assert_msg(r.status == 1, "status %d: %s", r.status, r.err);
	ck_assert_int_eq(tu_lines(r.err), 1);
	ck_assert_msg(strstr(r.err, want), "'%s' not in %s", want, r.err);
	ck_assert(access(out, F_OK) != 0);
}

START_TEST(bed_errors)
{
	fails("chr1\t1\t5\nchr1\t10\n", "bad.bed: line 2: 2 field(s)");
	fails("chr1\tx\t5\n", "bad.bed: line 1: start 'x' is not");
	fails("chr1\t9\t5\n", "bad.bed: line 1: start 9 is past end 5");
	fails("chrQ\t1\t5\n", "bad.bed: line 1: contig 'chrQ' is not in");
	fails("chr2\t1\t121\n", "line 1: end 121 is past the end of chr2");

	RunResult r;
	tu_run(&r, exe, (const char *[]){"score", "--regions", "x.bed", "-o",
	                                 "s.tsv", NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert(strstr(r.err, "--regions needs --ref"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("regions");
	TCase *tc = tcase_create("regions");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, regions_equal_fasta);
	tcase_add_test(tc, bgzip_bed_and_reference);
	tcase_add_test(tc, bed_errors);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
