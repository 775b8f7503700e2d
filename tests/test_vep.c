/*
 * test_vep.c - `NAME vep`: variant effect scores of a VCF against a
 * reference, checked against scores computed here independently: the
 * test cuts each reference and alternate window by the rule
 * itself, tokenizes it, runs the binary's `logits --tokens` on it and
 * takes sum_logp with its own log-softmax. The reference is random (three
 * contigs, one shorter than the window, an N and a soft-masked run); the
 * VCF has SNVs, an insertion, a deletion, multi-allelic records (one with
 * a symbolic ALT), a REF mismatch, a missing contig, variants at both
 * contig edges, an insertion too long for the window and a record with
 * no ALT. Plain and bgzipped VCF and reference, BCF in and out, the
 * default window, threads and batches; errors are one line, exit 1 or 2,
 * and leave no output. htslib reads the outputs back here (reading, not
 * computing: the values come from logits).
 *
 * One model (tiny-1k at --seq-len 64: windows of at most 63 bases) is
 * compiled once, before the tests fork.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <htslib/hts.h>
#include <htslib/vcf.h>

#include "runtime/npy.h"
#include "testutil.h"

enum { NCTG = 3, WMAX = 63, NALT_MAX = 3 };

static char exe[4096];
static const char *const cname[NCTG] = {"chr1", "chr2", "chrS"};
static const int clen[NCTG] = {300, 150, 20};
static char *contig[NCTG];

typedef struct Var {
	const char *chrom;
	int pos; /* 1-based */
	char ref[64];
	char alt[NALT_MAX][128];
	int nalt; /* 0: ALT '.' */
} Var;

static Var vars[32];
static int nvars;

/* ---- the inputs ---------------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;

static int next_base(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return "ACGT"[rng % 4];
}

static const char *seq_of(const char *chrom)
{
	for (int i = 0; i < NCTG; i++)
		if (strcmp(cname[i], chrom) == 0)
			return contig[i];
	return NULL;
}

/* A base other than b. */
static char other(char b)
{
	return b == 'A' || b == 'a' ? 'G' : 'A';
}

static Var *add(const char *chrom, int pos, const char *ref)
{
	Var *v = &vars[nvars++];
	memset(v, 0, sizeof *v);
	v->chrom = chrom;
	v->pos = pos;
	snprintf(v->ref, sizeof v->ref, "%s", ref);
	return v;
}

static void alt(Var *v, const char *a)
{
	snprintf(v->alt[v->nalt++], sizeof v->alt[0], "%s", a);
}

/* REF: n bases of chrom from pos (1-based), uppercase. */
static const char *refat(const char *chrom, int pos, int n)
{
	static char buf[8][64];
	static int k;
	char *b = buf[k++ % 8];
	for (int i = 0; i < n; i++)
		b[i] = (char)toupper((unsigned char)seq_of(chrom)[pos - 1 + i]);
	b[n] = 0;
	return b;
}

static void make_inputs(void)
{
	for (int c = 0; c < NCTG; c++) {
		contig[c] = malloc((size_t)clen[c] + 1);
		for (int i = 0; i < clen[c]; i++)
			contig[c][i] = (char)next_base();
		contig[c][clen[c]] = 0;
	}
	contig[0][59] = 'N';
	for (int i = 117; i < 132; i++) /* soft-masked */
		contig[0][i] = (char)tolower((unsigned char)contig[0][i]);

	char s[128];
	Var *v;
	v = add("chr1", 100, refat("chr1", 100, 1)); /* SNV */
	snprintf(s, sizeof s, "%c", other(v->ref[0]));
	alt(v, s);
	v = add("chr1", 100, refat("chr1", 100, 1)); /* multi-allelic */
	alt(v, v->ref[0] == 'C' ? "T" : "C");
	alt(v, v->ref[0] == 'T' ? "G" : "T");
	v = add("chr1", 150, refat("chr1", 150, 1)); /* insertion */
	snprintf(s, sizeof s, "%sTG", v->ref);
	alt(v, s);
	v = add("chr1", 200, refat("chr1", 200, 4)); /* deletion */
	snprintf(s, sizeof s, "%c", v->ref[0]);
	alt(v, s);
	v = add("chr1", 295, refat("chr1", 295, 1)); /* clipped at the end */
	snprintf(s, sizeof s, "%c", other(v->ref[0]));
	alt(v, s);
	v = add("chr2", 1, refat("chr2", 1, 1)); /* first base */
	snprintf(s, sizeof s, "%c", other(v->ref[0]));
	alt(v, s);
	v = add("chr2", 150, refat("chr2", 150, 1)); /* last base */
	snprintf(s, sizeof s, "%c", other(v->ref[0]));
	alt(v, s);
	v = add("chrS", 10, refat("chrS", 10, 1)); /* contig < window */
	snprintf(s, sizeof s, "%c", other(v->ref[0]));
	alt(v, s);
	v = add("chrS", 5, refat("chrS", 5, 1)); /* REF mismatch */
	v->ref[0] = other(v->ref[0]);
	alt(v, "C");
	v = add("chrZ", 5, "A"); /* a contig the reference lacks */
	alt(v, "C");
	v = add("chr1", 50, refat("chr1", 50, 1)); /* SNV + symbolic */
	snprintf(s, sizeof s, "%c", other(v->ref[0]));
	alt(v, s);
	alt(v, "<INS>");
	v = add("chr1", 125, refat("chr1", 125, 1)); /* soft-masked base */
	snprintf(s, sizeof s, "%c", other(v->ref[0]));
	alt(v, s);
	v = add("chr1", 80, refat("chr1", 80, 1)); /* insertion too long */
	snprintf(s, sizeof s, "%sACGTACGTACGTACGTACGTACGTACGTACG", v->ref);
	alt(v, s);
	v = add("chr2", 30, refat("chr2", 30, 1)); /* no ALT */
	v = add("chr1", 60, "N"); /* the reference's N */
	alt(v, "A");
	v = add("chr2", 1, refat("chr2", 1, 2)); /* deletion at the start */
	snprintf(s, sizeof s, "%c", v->ref[0]);
	alt(v, s);
}

static const char *write_fasta(const char *name)
{
	size_t cap = 4096, n = 0;
	char *t = malloc(cap);
	for (int c = 0; c < NCTG; c++) {
		n += (size_t)sprintf(t + n, ">%s description\n", cname[c]);
		for (int i = 0; i < clen[c]; i += 60)
			n += (size_t)sprintf(t + n, "%.60s\n", contig[c] + i);
	}
	const char *p = tu_write(name, t, n);
	free(t);
	return p;
}

static const char *write_vcf(const char *name)
{
	char t[16384];
	size_t n = 0;
	n += (size_t)sprintf(t + n, "##fileformat=VCFv4.2\n##INFO=<ID=DP,"
	                     "Number=1,Type=Integer,Description=\"Depth\">\n");
	for (int c = 0; c < NCTG; c++)
		n += (size_t)sprintf(t + n, "##contig=<ID=%s,length=%d>\n",
		                     cname[c], clen[c]);
	n += (size_t)sprintf(t + n, "##contig=<ID=chrZ,length=1000>\n"
	                     "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n");
	for (int i = 0; i < nvars; i++) {
		const Var *v = &vars[i];
		n += (size_t)sprintf(t + n, "%s\t%d\tv%d\t%s\t", v->chrom, v->pos,
		                     i, v->ref);
		for (int a = 0; a < v->nalt; a++)
			n += (size_t)sprintf(t + n, "%s%s", a ? "," : "", v->alt[a]);
		n += (size_t)sprintf(t + n, "%s\t50\tPASS\tDP=%d\n",
		                     v->nalt ? "" : ".", 10 + i);
	}
	return tu_write(name, t, n);
}

static void shell(const char *cmd)
{
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* ---- the independent scores ---------------------------------------------- */

/* Token ids as the HF CharacterTokenizer gives them: uppercase A C G T
 * N, anything else (lowercase included) [UNK]. */
static int32_t token(char c)
{
	const char *p = strchr("ACGTN", c);
	return c && p ? (int32_t)(7 + (p - "ACGTN")) : 6;
}

/* sum_logp of a window of bases through `logits --tokens`. */
static double score_bases(const char *bases)
{
	int64_t n = (int64_t)strlen(bases), dim[2] = {1, n + 1};
	int32_t tok[128];
	RunResult r;
	NpyArray g;
	Diag d;

	ck_assert(n + 1 <= 128);
	for (int64_t i = 0; i < n; i++)
		tok[i] = token(bases[i]);
	tok[n] = 1; /* [SEP] */
	/* own buffers: tu_path's ring would overwrite the callers' paths */
	static char tp[4096], gp[4096];
	snprintf(tp, sizeof tp, "%s/win.npy", tu_tmpdir());
	snprintf(gp, sizeof gp, "%s/win-logits.npy", tu_tmpdir());
	diag_init(&d);
	ck_assert_msg(npy_save_i32(tp, tok, 2, dim, &d), "%s", d.msg);
	tu_run(&r, exe, (const char *[]){"logits", "--tokens", tp, "-o", gp,
	                                 NULL});
	ck_assert_msg(r.status == 0, "logits: %s", r.err);
	tu_load_npy(gp, &g);
	ck_assert_int_eq(g.rank, 3);
	ck_assert_int_eq(g.dim[1], n + 1);
	const int64_t V = g.dim[2];
	const float *x = g.data;
	double sum = 0;
	for (int64_t t = 0; t + 1 < n; t++) {
		const float *row = x + t * V;
		double mx = -INFINITY, z = 0;
		for (int64_t k = 0; k < V; k++)
			mx = fmax(mx, row[k]);
		for (int64_t k = 0; k < V; k++)
			z += exp(row[k] - mx);
		sum += row[tok[t + 1]] - mx - log(z);
	}
	npy_free(&g);
	return sum;
}

/* Expected outcome of one ALT at window W: false when not scored. */
static bool expect(const Var *v, int a, int W, double *ref_ll,
                   double *alt_ll)
{
	const char *seq = seq_of(v->chrom);
	if (!seq || v->alt[a][0] == '<')
		return false;
	int len = (int)strlen(seq), p = v->pos - 1;
	int rlen = (int)strlen(v->ref), alen = (int)strlen(v->alt[a]);
	int s = p - W / 2 > 0 ? p - W / 2 : 0;
	int e = s + W < len ? s + W : len;
	if (p + rlen > len || strncasecmp(seq + p, v->ref, (size_t)rlen) != 0)
		return false;
	if (p + rlen > e || e - s - rlen + alen > WMAX)
		return false;
	char rw[128], aw[128];
	snprintf(rw, sizeof rw, "%.*s", e - s, seq + s);
	snprintf(aw, sizeof aw, "%.*s%s%.*s", p - s, seq + s, v->alt[a],
	         e - p - rlen, seq + p + rlen);
	*ref_ll = score_bases(rw);
	*alt_ll = score_bases(aw);
	return true;
}

/* Expected FILTER of a record (NULL: left as it was, PASS). */
static const char *expect_filter(const Var *v, int W)
{
	const char *seq = seq_of(v->chrom);
	if (v->nalt == 0)
		return NULL;
	if (!seq)
		return "HYENA_NO_CONTIG";
	int p = v->pos - 1, rlen = (int)strlen(v->ref);
	if (p + rlen > (int)strlen(seq) ||
	    strncasecmp(seq + p, v->ref, (size_t)rlen) != 0)
		return "HYENA_REF_MISMATCH";
	double x, y;
	for (int a = 0; a < v->nalt; a++)
		if (!expect(v, a, W, &x, &y))
			return "HYENA_ALLELE_SKIPPED";
	return NULL;
}

static void near(double got, double want, const char *what, int rec)
{
	ck_assert_msg(fabs(got - want) <= 1e-4 * fmax(1.0, fabs(want)),
	              "record %d %s: got %.9g, want %.9g", rec, what, got,
	              want);
}

/* Read out (VCF, VCF.gz or BCF) back and hold every record to the
 * independent computation at window W. */
static void check_output(const char *out, int W)
{
	htsFile *f = hts_open(out, "r");
	ck_assert_msg(f != NULL, "cannot open %s", out);
	bcf_hdr_t *h = bcf_hdr_read(f);
	ck_assert(h != NULL);
	bcf1_t *b = bcf_init();
	float *val[3] = {NULL, NULL, NULL};
	int nval[3] = {0, 0, 0};
	static const char *const key[3] = {"HYENA_LLR", "HYENA_REF_LL",
	                                   "HYENA_ALT_LL"};
	int i = 0;
	for (; bcf_read(f, h, b) == 0; i++) {
		ck_assert_int_lt(i, nvars);
		const Var *v = &vars[i];
		bcf_unpack(b, BCF_UN_ALL);
		ck_assert_str_eq(bcf_seqname(h, b), v->chrom);
		ck_assert_int_eq(b->pos + 1, v->pos);
		ck_assert_int_eq(b->n_allele - 1, v->nalt);
		/* the input's own INFO is kept */
		int32_t *dp = NULL;
		int ndp = 0;
		ck_assert_int_eq(bcf_get_info_int32(h, b, "DP", &dp, &ndp), 1);
		ck_assert_int_eq(dp[0], 10 + i);
		free(dp);
		const char *flt = expect_filter(v, W);
		if (flt)
			ck_assert_msg(bcf_has_filter(h, b, (char *)flt) == 1,
			              "record %d: FILTER %s expected", i, flt);
		else
			ck_assert_msg(bcf_has_filter(h, b, "PASS") == 1,
			              "record %d: PASS expected", i);
		if (v->nalt == 0) {
			ck_assert_int_lt(bcf_get_info_float(h, b, "HYENA_LLR", &val[0],
			                                    &nval[0]), 0);
			continue;
		}
		for (int k = 0; k < 3; k++)
			ck_assert_int_eq(bcf_get_info_float(h, b, key[k], &val[k],
			                                    &nval[k]), v->nalt);
		for (int a = 0; a < v->nalt; a++) {
			double rl, al;
			if (!expect(v, a, W, &rl, &al)) {
				for (int k = 0; k < 3; k++)
					ck_assert_msg(bcf_float_is_missing(val[k][a]),
					              "record %d allele %d: %s should be '.'",
					              i, a, key[k]);
				continue;
			}
			near(val[1][a], rl, "HYENA_REF_LL", i);
			near(val[2][a], al, "HYENA_ALT_LL", i);
			near(val[0][a], al - rl, "HYENA_LLR", i);
		}
	}
	ck_assert_int_eq(i, nvars);
	for (int k = 0; k < 3; k++)
		free(val[k]);
	bcf_destroy(b);
	bcf_hdr_destroy(h);
	hts_close(f);
}

static void vep(RunResult *r, const char *const *args)
{
	tu_run(r, exe, args);
	ck_assert_msg(r->status == 0, "vep failed (status %d, signal %d): %s",
	              r->status, r->signal, r->err);
}

/* ---- the tests --------------------------------------------------------------- */

static void setup(void)
{
	RunResult r;

	snprintf(exe, sizeof exe, "%s", tu_path(tu_tmpdir(), "tiny"));
	tu_run_hyenac(&r, (const char *[]){"compile",
	              tu_source("models/hyenadna-tiny-1k.yaml"), "-o", exe,
	              "--seq-len", "64", NULL});
	if (r.status != 0) {
		fprintf(stderr, "compile failed: %s\n", r.err);
		exit(1);
	}
	make_inputs();
}

START_TEST(plain_vcf_and_reference)
{
	RunResult r;
	const char *ref = write_fasta("plain.fa");
	const char *vcf = write_vcf("plain.vcf");
	const char *out = tu_path(tu_tmpdir(), "plain-out.vcf");

	vep(&r, (const char *[]){"vep", "--vcf", vcf, "--ref", ref, "-o", out,
	                         "--window", "40", NULL});
	check_output(out, 40);
	/* the index was made beside the reference */
	ck_assert(access(tu_path(tu_tmpdir(), "plain.fa.fai"), F_OK) == 0);
	/* one summary line; the soft-masked bases warned about */
	ck_assert_msg(strstr(r.err, "16 record(s): 13 ALT allele(s) scored, 1 "
	                     "symbolic, 1 too long") != NULL, "%s", r.err);
	ck_assert_msg(strstr(r.err, "1 record(s) with a REF mismatch, 1 on a "
	                     "contig the reference lacks, 1 with no ALT") != NULL,
	              "%s", r.err);
	ck_assert_msg(strstr(r.err, "--case upper") != NULL, "%s", r.err);
	ck_assert_int_eq(tu_lines(r.err), 2);

	/* the header declares the fields and filters */
	char *text = tu_read(out, NULL);
	ck_assert(strstr(text, "##INFO=<ID=HYENA_LLR,Number=A,Type=Float,"));
	ck_assert(strstr(text, "##INFO=<ID=HYENA_REF_LL,Number=A,Type=Float,"));
	ck_assert(strstr(text, "##INFO=<ID=HYENA_ALT_LL,Number=A,Type=Float,"));
	ck_assert(strstr(text, "##FILTER=<ID=HYENA_REF_MISMATCH,"));
	ck_assert(strstr(text, "##FILTER=<ID=HYENA_NO_CONTIG,"));
	ck_assert(strstr(text, "##FILTER=<ID=HYENA_ALLELE_SKIPPED,"));
	ck_assert(strstr(text, "HYENA_LLR=.;HYENA_REF_LL=.;HYENA_ALT_LL=."));
	free(text);

	/* the default window: W = 63, no room for the insertion */
	vep(&r, (const char *[]){"vep", "--vcf", vcf, "--ref", ref, "-o", out,
	                         "--quiet", NULL});
	check_output(out, WMAX);
	ck_assert_str_eq(r.err, "");
}
END_TEST

START_TEST(threads_and_batches)
{
	RunResult r;
	const char *ref = write_fasta("tb.fa");
	const char *vcf = write_vcf("tb.vcf");
	const char *out = tu_path(tu_tmpdir(), "tb-out.vcf");

	vep(&r, (const char *[]){"vep", "--vcf", vcf, "--ref", ref, "-o", out,
	                         "--window", "40", "--threads", "3", "--batch",
	                         "2", "-q", NULL});
	check_output(out, 40);
	vep(&r, (const char *[]){"vep", "--vcf", vcf, "--ref", ref, "-o", out,
	                         "--window", "33", "--threads", "1", "--batch",
	                         "1", "-q", NULL});
	check_output(out, 33);
}
END_TEST

START_TEST(bgzip_inputs_and_outputs)
{
	RunResult r;
	char cmd[8192];
	const char *ref = write_fasta("bg.fa");
	const char *vcf = write_vcf("bg.vcf");
	const char *out = tu_path(tu_tmpdir(), "bg-out.vcf.gz");

	snprintf(cmd, sizeof cmd, "bgzip -f %s && bgzip -f %s", ref, vcf);
	shell(cmd);
	const char *refgz = tu_path(tu_tmpdir(), "bg.fa.gz");
	const char *vcfgz = tu_path(tu_tmpdir(), "bg.vcf.gz");
	vep(&r, (const char *[]){"vep", "--vcf", vcfgz, "--ref", refgz, "-o",
	                         out, "--window", "40", "-q", NULL});
	check_output(out, 40);
	ck_assert(access(tu_path(tu_tmpdir(), "bg.fa.gz.fai"), F_OK) == 0);
	ck_assert(access(tu_path(tu_tmpdir(), "bg.fa.gz.gzi"), F_OK) == 0);
	/* BGZF: gzip with the BC extra field */
	size_t n;
	unsigned char *x = (unsigned char *)tu_read(out, &n);
	ck_assert(n > 16 && x[0] == 0x1f && x[1] == 0x8b && x[12] == 'B' &&
	          x[13] == 'C');
	free(x);

	/* BCF in (converted here by htslib) and BCF out */
	const char *bcf = tu_path(tu_tmpdir(), "bg-in.bcf");
	htsFile *in = hts_open(vcfgz, "r"), *o = hts_open(bcf, "wb");
	bcf_hdr_t *h = bcf_hdr_read(in);
	bcf1_t *b = bcf_init();
	ck_assert(bcf_hdr_write(o, h) == 0);
	while (bcf_read(in, h, b) == 0)
		ck_assert(bcf_write(o, h, b) == 0);
	bcf_destroy(b);
	bcf_hdr_destroy(h);
	hts_close(in);
	ck_assert(hts_close(o) == 0);
	const char *outb = tu_path(tu_tmpdir(), "bg-out.bcf");
	vep(&r, (const char *[]){"vep", "--vcf", bcf, "--ref", refgz, "-o",
	                         outb, "--window", "40", "-q", NULL});
	check_output(outb, 40);

	/* - writes VCF text to standard output */
	vep(&r, (const char *[]){"vep", "--vcf", bcf, "--ref", refgz, "-o",
	                         "-", "--window", "40", "-q", NULL});
	ck_assert(strncmp(r.out, "##fileformat=VCF", 16) == 0);
}
END_TEST

/* A run that must fail: status, one line on stderr holding want, and
 * no output left. */
static void fails(int status, const char *want, const char *out,
                  const char *const *args)
{
	RunResult r;

	tu_run(&r, exe, args);
	ck_assert_msg(r.status == status, "status %d, want %d: %s", r.status,
	              status, r.err);
	ck_assert_msg(tu_lines(r.err) == 1, "not one line: %s", r.err);
	ck_assert_msg(strstr(r.err, want) != NULL, "'%s' not in: %s", want,
	              r.err);
	if (out)
		ck_assert_msg(access(out, F_OK) != 0, "%s was left", out);
}

START_TEST(errors)
{
	const char *ref = write_fasta("err.fa");
	const char *vcf = write_vcf("err.vcf");
	const char *out = tu_path(tu_tmpdir(), "err-out.vcf");
	char cmd[8192];

	fails(2, "X.vcf, X.vcf.gz or X.bcf", NULL,
	      (const char *[]){"vep", "--vcf", vcf, "--ref", ref, "-o",
	                       tu_path(tu_tmpdir(), "x.tsv"), NULL});
	fails(2, "is the input", NULL,
	      (const char *[]){"vep", "--vcf", vcf, "--ref", ref, "-o", vcf,
	                       NULL});
	fails(2, "needs --ref", NULL,
	      (const char *[]){"vep", "--vcf", vcf, "-o", out, NULL});
	fails(2, "--window", NULL,
	      (const char *[]){"vep", "--vcf", vcf, "--ref", ref, "-o", out,
	                       "--window", "64", NULL});
	/* a record of two columns on line 6 */
	const char *bad = tu_write_str("bad.vcf",
	    "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n"
	    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
	    "chr1\t5\t.\tA\tC\t.\t.\t.\nchr1\t7\t.\tA\tC\t.\t.\t.\nchr1\t9\n");
	fails(1, "bad.vcf: line 6: 2 column(s)", out,
	      (const char *[]){"vep", "--vcf", bad, "--ref", ref, "-o", out,
	                       NULL});
	/* a NUL byte inside a field: htslib would take it and write a BCF
	 * it cannot read back (found by fuzz_vcf: fuzz/corpus/vcf/
	 * regress-nul) */
	static const char nul[] = "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n"
	    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
	    "chr1\t5\tx\0y\tA\tC\t.\t.\t.\n";
	const char *nulv = tu_write("nul.vcf", nul, sizeof nul - 1);
	fails(1, "nul.vcf: line 4: a NUL byte", out,
	      (const char *[]){"vep", "--vcf", nulv, "--ref", ref, "-o", out,
	                       NULL});
	/* BCF output of a record on an undeclared contig */
	const char *undecl = tu_write_str("undecl.vcf",
	    "##fileformat=VCFv4.2\n"
	    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
	    "chr1\t5\t.\tA\tC\t.\t.\t.\n");
	const char *outb = tu_path(tu_tmpdir(), "err-out.bcf");
	fails(1, "undecl.vcf: line 3 (chr1:5): its contig is not declared",
	      outb, (const char *[]){"vep", "--vcf", undecl, "--ref", ref,
	                             "-o", outb, NULL});
	/* not a VCF */
	fails(1, "not VCF or BCF", out,
	      (const char *[]){"vep", "--vcf", ref, "--ref", ref, "-o", out,
	                       NULL});
	/* a gzip (not bgzip) reference */
	snprintf(cmd, sizeof cmd, "gzip -c %s > %s/gz.fa.gz", ref, tu_tmpdir());
	shell(cmd);
	fails(1, "gzip but not bgzip", out,
	      (const char *[]){"vep", "--vcf", vcf, "--ref",
	                       tu_path(tu_tmpdir(), "gz.fa.gz"), "-o", out,
	                       NULL});
	/* a FASTA faidx cannot index (lines of two lengths) */
	const char *ragged = tu_write_str("ragged.fa", ">chr1\nACGTACGT\nAC\n"
	                                  "ACGTACGT\n");
	fails(1, "faidx cannot index it", out,
	      (const char *[]){"vep", "--vcf", vcf, "--ref", ragged, "-o", out,
	                       NULL});
	/* a truncated BCF */
	const char *full = tu_path(tu_tmpdir(), "full.bcf");
	RunResult r;
	vep(&r, (const char *[]){"vep", "--vcf", vcf, "--ref", ref, "-o", full,
	                         "-q", NULL});
	snprintf(cmd, sizeof cmd, "cd %s && zcat full.bcf | head -c 1500 | "
	         "bgzip > trunc.bcf", tu_tmpdir());
	shell(cmd);
	fails(1, "trunc.bcf: record", out,
	      (const char *[]){"vep", "--vcf", tu_path(tu_tmpdir(), "trunc.bcf"),
	                       "--ref", ref, "-o", out, NULL});
	/* no index and a directory it cannot be written to */
	if (geteuid() == 0) {
		fprintf(stderr, "test_vep: running as root, so the unwritable "
		        "reference directory is not tested\n");
		return;
	}
	const char *ro = tu_path(tu_tmpdir(), "ro");
	mkdir(ro, 0755);
	snprintf(cmd, sizeof cmd, "cp %s %s/ro.fa && chmod 555 %s", ref, ro, ro);
	shell(cmd);
	fails(1, "cannot make one", out,
	      (const char *[]){"vep", "--vcf", vcf, "--ref",
	                       tu_path(ro, "ro.fa"), "-o", out, NULL});
	chmod(ro, 0755);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vep");
	TCase *tc = tcase_create("vep");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, plain_vcf_and_reference);
	tcase_add_test(tc, threads_and_batches);
	tcase_add_test(tc, bgzip_inputs_and_outputs);
	tcase_add_test(tc, errors);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
