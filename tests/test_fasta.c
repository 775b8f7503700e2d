/*
 * test_fasta.c - the streaming FASTA reader: the tokenizer against the HF
 * CharacterTokenizer's ids in both case modes, the shapes a FASTA file
 * takes in the wild (CRLF, blank lines, empty and unnamed records,
 * multi-line records, one huge line), window arithmetic at every edge
 * checked against a direct computation, a 5-million-base record streamed,
 * gzip read the same as plain (concatenated members, bgzip's blocks and
 * its EOF block; trailing data refused at its byte offset), stdin, and one case per way the input can
 * be wrong, each failing with one line naming the file.
 *
 * Windows are rendered one per line as "NAME INDEX START END TOKENS", the
 * tokens spelled A C G T N, '?' for [UNK] and '|' for [SEP], so a case
 * reads as its expected output.
 */
#include "runtime/fasta.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

typedef struct Res {
	int rc; /* last hyrt_fasta_next() result, or -1 if open failed */
	char *text;
	size_t len, cap;
	int64_t nwin;
	bool lower;
	int64_t records, empty;
	char first_empty[64];
	int64_t bytes;
	Diag d;
} Res;

static char spell(int32_t t)
{
	switch (t) {
	case HYRT_TOK_A: return 'A';
	case HYRT_TOK_C: return 'C';
	case HYRT_TOK_G: return 'G';
	case HYRT_TOK_T: return 'T';
	case HYRT_TOK_N: return 'N';
	case HYRT_TOK_UNK: return '?';
	case HYRT_TOK_SEP: return '|';
	default: return '#';
	}
}

static void put(Res *r, const char *s, size_t n)
{
	if (r->len + n + 1 > r->cap) {
		r->cap = (r->len + n + 1) * 2;
		r->text = realloc(r->text, r->cap);
		ck_assert_ptr_nonnull(r->text);
	}
	memcpy(r->text + r->len, s, n);
	r->len += n;
	r->text[r->len] = 0;
}

/* Read every window of path; text gets them unless quiet. */
static void run_opts(Res *r, const char *path, HyrtFastaOptions o, bool quiet)
{
	HyrtFasta *f;
	HyrtWindow w;

	memset(r, 0, sizeof *r);
	put(r, "", 0);
	diag_init(&r->d);
	f = hyrt_fasta_open(path, &o, &r->d);
	if (!f) {
		r->rc = -1;
		return;
	}
	while ((r->rc = hyrt_fasta_next(f, &w, &r->d)) == 1) {
		char head[256];
		int n;

		r->nwin++;
		ck_assert_int_eq(w.ntokens,
		                 w.end - w.start + (o.special_tokens ? 1 : 0));
		if (quiet)
			continue;
		n = snprintf(head, sizeof head, "%s %lld %lld %lld ", w.record,
		             (long long)w.record_index, (long long)w.start,
		             (long long)w.end);
		put(r, head, (size_t)n);
		for (int64_t i = 0; i < w.ntokens; i++) {
			char c = spell(w.tokens[i]);
			put(r, &c, 1);
		}
		put(r, "\n", 1);
	}
	r->lower = hyrt_fasta_saw_lowercase(f);
	r->records = hyrt_fasta_records(f);
	r->empty = hyrt_fasta_empty_records(f);
	if (hyrt_fasta_first_empty(f))
		snprintf(r->first_empty, sizeof r->first_empty, "%s",
		         hyrt_fasta_first_empty(f));
	r->bytes = hyrt_fasta_bytes_read(f);
	hyrt_fasta_close(f);
}

static HyrtFastaOptions opts(int64_t w, int64_t s, HyrtCase c, bool sep)
{
	HyrtFastaOptions o = hyrt_fasta_default_options(w);
	o.stride = s;
	o.case_mode = c;
	o.special_tokens = sep;
	return o;
}

/* Windows of `text` with window w, stride = w, strict, [SEP] on. */
static void run_str(Res *r, const char *name, const char *text, int64_t w)
{
	run_opts(r, tu_write_str(name, text), hyrt_fasta_default_options(w),
	         false);
}

static void expect_text(Res *r, const char *want)
{
	ck_assert_msg(r->rc == 0, "rc %d: %s", r->rc, r->d.msg);
	ck_assert_msg(strcmp(r->text, want) == 0, "got:\n%s\nwant:\n%s",
	              r->text, want);
	free(r->text);
}

/* Reading path must fail with one line naming the file and `want`. */
static void expect_fail(const char *path, HyrtFastaOptions o,
                        const char *shown, const char *want)
{
	Res r;
	run_opts(&r, path, o, true);
	ck_assert_int_eq(r.rc, -1);
	ck_assert(!diag_ok(&r.d));
	ck_assert_msg(strstr(r.d.msg, shown), "no file name in: %s", r.d.msg);
	ck_assert_msg(strstr(r.d.msg, want), "want '%s' in: %s", want,
	              r.d.msg);
	ck_assert(!strchr(r.d.msg, '\n'));
	free(r.text);
}

/* ---- tokenizer -------------------------------------------------------- */

START_TEST(tokens_strict)
{
	Res r;
	run_str(&r, "t1.fa", ">s\nACGTNacgtnRYKMSWBDHVU-*.X\n", 100);
	ck_assert(r.lower);
	expect_text(&r, "s 0 0 25 ACGTN????????????????????|\n");

	run_str(&r, "t2.fa", ">s lower in the header only: acgt\nACGT\n", 100);
	ck_assert(!r.lower);
	expect_text(&r, "s 0 0 4 ACGT|\n");

	/* One lowercase IUPAC code is still lowercase seen. */
	run_str(&r, "t3.fa", ">s\nACrT\n", 100);
	ck_assert(r.lower);
	expect_text(&r, "s 0 0 4 AC?T|\n");
}
END_TEST

START_TEST(tokens_upper)
{
	Res r;
	const char *p = tu_write_str("u.fa", ">s\nACGTNacgtnRYrykmN\n");
	run_opts(&r, p, opts(100, 0, HYRT_CASE_UPPER, true), false);
	ck_assert(r.lower);
	expect_text(&r, "s 0 0 17 ACGTNACGTN??????N|\n");
}
END_TEST

START_TEST(tokens_n_runs_and_sep)
{
	Res r;
	const char *p = tu_write_str("n.fa", ">s\nNNNNNNNNACNNNN\n");
	run_opts(&r, p, opts(100, 0, HYRT_CASE_STRICT, true), false);
	expect_text(&r, "s 0 0 14 NNNNNNNNACNNNN|\n");
	run_opts(&r, p, opts(100, 0, HYRT_CASE_STRICT, false), false);
	expect_text(&r, "s 0 0 14 NNNNNNNNACNNNN\n");
	run_opts(&r, p, opts(5, 0, HYRT_CASE_STRICT, false), false);
	expect_text(&r, "s 0 0 5 NNNNN\n"
	                "s 0 5 10 NNNAC\n"
	                "s 0 10 14 NNNN\n");
	/* The raw ids, not just their spelling. */
	HyrtFastaOptions o = hyrt_fasta_default_options(8);
	Diag d;
	HyrtWindow w;
	diag_init(&d);
	HyrtFasta *f = hyrt_fasta_open(
	        tu_write_str("ids.fa", ">s\nACGTNRa>\n"), &o, &d);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(hyrt_fasta_next(f, &w, &d), 1);
	const int32_t want[] = { 7, 8, 9, 10, 11, 6, 6, 6, 1 };
	ck_assert_int_eq(w.ntokens, 9);
	for (int i = 0; i < 9; i++)
		ck_assert_int_eq(w.tokens[i], want[i]);
	ck_assert_int_eq(hyrt_fasta_next(f, &w, &d), 0);
	hyrt_fasta_close(f);
}
END_TEST

/* ---- file shapes ------------------------------------------------------ */

START_TEST(empty_records)
{
	Res r;
	run_str(&r, "e1.fa", ">a\n>b some text\nAC\n>c\n\n>d\nG\n>e", 10);
	ck_assert_int_eq(r.records, 5);
	ck_assert_int_eq(r.empty, 3);
	ck_assert_str_eq(r.first_empty, "a");
	expect_text(&r, "b 1 0 2 AC|\nd 3 0 1 G|\n");

	run_str(&r, "e2.fa", "", 10);
	ck_assert_int_eq(r.records, 0);
	expect_text(&r, "");

	run_str(&r, "e3.fa", "\n\r\n  \n", 10);
	ck_assert_int_eq(r.records, 0);
	expect_text(&r, "");
}
END_TEST

START_TEST(crlf)
{
	Res r;
	run_str(&r, "c.fa",
	        ">x desc here\r\nAC\r\nGT\r\n\r\n>y\r\nNN\r\n>z\tq\r\nA", 10);
	expect_text(&r, "x 0 0 4 ACGT|\ny 1 0 2 NN|\nz 2 0 1 A|\n");
}
END_TEST

START_TEST(no_name)
{
	Res r;
	run_str(&r, "nn.fa", ">\nACGT\n> \nA\n>   chr2  x\nC\n", 10);
	expect_text(&r, " 0 0 4 ACGT|\n 1 0 1 A|\nchr2 2 0 1 C|\n");
}
END_TEST

START_TEST(blank_lines_multiline)
{
	Res r;
	run_str(&r, "b.fa",
	        "\n\n>a\n\nAC\n\n  \nGT\n\n>b\nAC GT\tAC\nG\n\nT\n", 4);
	expect_text(&r, "a 0 0 4 ACGT|\n"
	                "b 1 0 4 ACGT|\n"
	                "b 1 4 8 ACGT|\n");
	/* No trailing newline; a '>' inside a line is a base. */
	run_str(&r, "b2.fa", ">a\nAC>G", 10);
	expect_text(&r, "a 0 0 4 AC?G|\n");
}
END_TEST

/* ---- window arithmetic ------------------------------------------------ */

/* The windows a record of len bases must give, computed directly. */
static void expect_windows(const char *tag, const char *text, int nrec,
                           const int64_t *lens, int64_t w, int64_t s)
{
	static const char acgt[] = "ACGT";
	char *want = calloc(1, 1 << 16);
	size_t n = 0;
	Res r;

	ck_assert_ptr_nonnull(want);
	for (int k = 0; k < nrec; k++)
		for (int64_t st = 0; st < lens[k]; st += s) {
			int64_t en = st + w < lens[k] ? st + w : lens[k];
			n += (size_t)sprintf(want + n, "r%d %d %lld %lld ", k,
			                     k, (long long)st, (long long)en);
			for (int64_t i = st; i < en; i++)
				want[n++] = acgt[(i + k) % 4];
			n += (size_t)sprintf(want + n, "|\n");
			ck_assert(n < (1 << 15));
		}
	run_opts(&r, tu_write_str(tag, text),
	         opts(w, s, HYRT_CASE_STRICT, true), false);
	ck_assert_msg(r.rc == 0, "%s", r.d.msg);
	ck_assert_msg(strcmp(r.text, want) == 0,
	              "W=%lld S=%lld\ngot:\n%s\nwant:\n%s", (long long)w,
	              (long long)s, r.text, want);
	free(r.text);
	free(want);
}

START_TEST(window_edges)
{
	static const char acgt[] = "ACGT";
	const int64_t ws[] = { 1, 2, 4, 5, 16 };

	for (size_t wi = 0; wi < sizeof ws / sizeof *ws; wi++) {
		int64_t w = ws[wi];
		int64_t ss[] = { 1, 2, w - 1, w, w + 1, 3 * w };
		for (size_t si = 0; si < sizeof ss / sizeof *ss; si++) {
			int64_t s = ss[si];
			int64_t lens[] = { w - 1, w, w + 1, 2 * w, 2 * w + 1,
			                   3 * w - 1, 1 };
			int nrec = (int)(sizeof lens / sizeof *lens);
			char text[4096];
			size_t n = 0;

			if (s < 1)
				continue;
			/* Lines of 3 bases, so windows cross lines. */
			for (int k = 0; k < nrec; k++) {
				n += (size_t)sprintf(text + n, ">r%d\n", k);
				for (int64_t i = 0; i < lens[k]; i++) {
					text[n++] = acgt[(i + k) % 4];
					if (i % 3 == 2)
						text[n++] = '\n';
				}
				text[n++] = '\n';
			}
			text[n] = 0;
			expect_windows("w.fa", text, nrec, lens, w, s);
		}
	}
}
END_TEST

START_TEST(window_examples)
{
	Res r;
	const char *p = tu_write_str("x.fa", ">r\nACGTACGTAC\n");
	/* len 10, W 4, S 2: starts 0 2 4 6 8, the tail windows shorter. */
	run_opts(&r, p, opts(4, 2, HYRT_CASE_STRICT, true), false);
	expect_text(&r, "r 0 0 4 ACGT|\nr 0 2 6 GTAC|\nr 0 4 8 ACGT|\n"
	                "r 0 6 10 GTAC|\nr 0 8 10 AC|\n");
	/* S > W skips bases. */
	run_opts(&r, p, opts(2, 3, HYRT_CASE_STRICT, false), false);
	expect_text(&r, "r 0 0 2 AC\nr 0 3 5 TA\nr 0 6 8 GT\nr 0 9 10 C\n");
	/* W = 1. */
	run_opts(&r, tu_write_str("x1.fa", ">r\nAC\n"),
	         opts(1, 0, HYRT_CASE_STRICT, true), false);
	expect_text(&r, "r 0 0 1 A|\nr 0 1 2 C|\n");
}
END_TEST

/* ---- long records ----------------------------------------------------- */

/* Write a record of len bases, base i = "ACGT"[i / 3 % 4], in lines of
 * `line` bases (0 = all on one line). */
static void write_long(FILE *fp, const char *name, int64_t len, int line)
{
	static const char acgt[] = "ACGT";
	fprintf(fp, ">%s long record\n", name);
	for (int64_t i = 0; i < len; i++) {
		fputc(acgt[(i / 3) % 4], fp);
		if (line && i % line == line - 1)
			fputc('\n', fp);
	}
	fputc('\n', fp);
}

/* Stream path and check every window's coordinates and a few tokens. */
static void check_long(const char *path, int64_t len1, int64_t len2,
                       int64_t w, int64_t s)
{
	HyrtFastaOptions o = opts(w, s, HYRT_CASE_STRICT, true);
	Diag d;
	HyrtWindow win;
	HyrtFasta *f;
	int64_t lens[2] = { len1, len2 }, nwin = 0;
	int rec = 0;
	int64_t next_start = 0;
	int rc;

	diag_init(&d);
	f = hyrt_fasta_open(path, &o, &d);
	ck_assert_msg(f != NULL, "%s", d.msg);
	while ((rc = hyrt_fasta_next(f, &win, &d)) == 1) {
		if (win.record_index != rec) {
			ck_assert_int_ge(next_start, lens[rec]);
			rec = (int)win.record_index;
			next_start = 0;
		}
		ck_assert_int_eq(win.start, next_start);
		ck_assert_int_eq(win.end, win.start + w < lens[rec] ?
		                          win.start + w : lens[rec]);
		ck_assert_int_eq(win.ntokens, win.end - win.start + 1);
		for (int64_t i = win.start; i < win.end; i += 997)
			ck_assert_int_eq(win.tokens[i - win.start],
			                 HYRT_TOK_A + (i / 3) % 4);
		ck_assert_int_eq(win.tokens[win.ntokens - 2],
		                 HYRT_TOK_A + ((win.end - 1) / 3) % 4);
		ck_assert_int_eq(win.tokens[win.ntokens - 1], HYRT_TOK_SEP);
		next_start += s;
		nwin++;
	}
	ck_assert_msg(rc == 0, "%s", d.msg);
	ck_assert_int_eq(rec, 1);
	ck_assert_int_ge(next_start, lens[1]);
	ck_assert_int_eq(nwin, (len1 + s - 1) / s + (len2 + s - 1) / s);
	hyrt_fasta_close(f);
}

START_TEST(long_record)
{
	const int64_t len1 = 5000000, len2 = 1234567;
	const char *p = tu_path(tu_tmpdir(), "long.fa");
	FILE *fp = fopen(p, "w");
	ck_assert_ptr_nonnull(fp);
	write_long(fp, "chrL", len1, 80);
	write_long(fp, "oneline", len2, 0); /* a 1.2 MB line */
	ck_assert_int_eq(fclose(fp), 0);

	check_long(p, len1, len2, 32768, 32768);
	check_long(p, len1, len2, 100000, 30000);
	check_long(p, len1, len2, 4096, 10000);
}
END_TEST

/* ---- gzip and stdin --------------------------------------------------- */

static const char *write_gz(const char *name, const char *text, size_t n)
{
	const char *p = tu_path(tu_tmpdir(), name);
	gzFile g = gzopen(p, "wb");
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(gzwrite(g, text, (unsigned)n), (int)n);
	ck_assert_int_eq(gzclose(g), Z_OK);
	return p;
}

/* A few records, some lowercase, about n bytes. */
static char *sample(size_t n)
{
	static const char bases[] = "ACGTNacgtnRY";
	char *t = malloc(n + 64);
	size_t i = 0, next_header = 0;
	unsigned x = 12345;
	ck_assert_ptr_nonnull(t);
	while (i < n) {
		if (i >= next_header) {
			i += (size_t)sprintf(t + i, "\n>rec%zu desc\n", i);
			next_header += 50000;
		}
		x = x * 1103515245u + 12345u;
		t[i++] = (x >> 16) % 61 == 0 ? '\n' : bases[(x >> 16) % 12];
	}
	t[i] = 0;
	return t;
}

START_TEST(gzip_equals_plain)
{
	size_t n = 300000;
	char *t = sample(n);
	const char *plain = tu_write_str("s.fa", t);
	const char *gz = write_gz("s.fa.gz", t, strlen(t));
	HyrtCase modes[] = { HYRT_CASE_STRICT, HYRT_CASE_UPPER };
	Res a, b;

	for (int m = 0; m < 2; m++) {
		HyrtFastaOptions o = opts(1000, 300, modes[m], true);
		run_opts(&a, plain, o, false);
		run_opts(&b, gz, o, false);
		ck_assert_int_eq(a.rc, 0);
		ck_assert_int_eq(b.rc, 0);
		ck_assert_int_gt(a.nwin, 100);
		ck_assert_int_eq(a.nwin, b.nwin);
		ck_assert(a.lower && b.lower);
		ck_assert_str_eq(a.text, b.text);
		ck_assert_int_eq(a.bytes, (int64_t)strlen(t));
		ck_assert_int_lt(b.bytes, a.bytes);
		free(a.text);
		free(b.text);
	}

	/* Two concatenated gzip members read as one file. */
	size_t half = strlen(t) / 2;
	while (t[half] != '>')
		half++;
	const char *p1 = write_gz("m1.gz", t, half);
	const char *p2 = write_gz("m2.gz", t + half, strlen(t) - half);
	size_t n1, n2;
	char *g1 = tu_read(p1, &n1), *g2 = tu_read(p2, &n2);
	char *cat = malloc(n1 + n2);
	memcpy(cat, g1, n1);
	memcpy(cat + n1, g2, n2);
	const char *pc = tu_write("cat.fa.gz", cat, n1 + n2);
	run_opts(&a, plain, opts(1000, 0, HYRT_CASE_STRICT, true), false);
	run_opts(&b, pc, opts(1000, 0, HYRT_CASE_STRICT, true), false);
	ck_assert_int_eq(b.rc, 0);
	ck_assert_str_eq(a.text, b.text);
	free(a.text);
	free(b.text);
	free(g1);
	free(g2);
	free(cat);
	free(t);
}
END_TEST

START_TEST(from_stdin)
{
	const char *gz = write_gz("in.fa.gz", ">s\nACGT\nNN\n", 11);
	int saved = dup(0), fd = open(gz, O_RDONLY);
	Res r;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 0), 0);
	close(fd);
	run_opts(&r, "-", hyrt_fasta_default_options(4), false);
	dup2(saved, 0);
	close(saved);
	expect_text(&r, "s 0 0 4 ACGT|\ns 0 4 6 NN|\n");
}
END_TEST

/* ---- gzip members and what follows them ------------------------------ */

/* One gzip member of text in a malloc'd buffer (*n bytes). bgzf gives it
 * bgzip's header: FEXTRA with a "BC" subfield holding the block size - 1. */
static unsigned char *gz_member(const char *text, size_t len, size_t *n,
                                bool bgzf)
{
	static unsigned char extra[6] = {'B', 'C', 2, 0, 0, 0};
	size_t cap = len + 256;
	unsigned char *b = malloc(cap);
	z_stream z = {0};
	gz_header h = {0};

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
	                              Z_DEFAULT_STRATEGY), Z_OK);
	if (bgzf) {
		h.extra = extra;
		h.extra_len = sizeof extra;
		h.os = 255;
		ck_assert_int_eq(deflateSetHeader(&z, &h), Z_OK);
	}
	z.next_in = (unsigned char *)text;
	z.avail_in = (uInt)len;
	z.next_out = b;
	z.avail_out = (uInt)cap;
	ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	*n = z.total_out;
	deflateEnd(&z);
	if (bgzf) { /* BSIZE sits after the 12-byte header and SI1 SI2 SLEN */
		ck_assert_uint_eq(b[3] & 4, 4);
		b[16] = (unsigned char)((*n - 1) & 0xff);
		b[17] = (unsigned char)((*n - 1) >> 8);
	}
	return b;
}

/* The parts concatenated into a file under tmp. */
static const char *cat_file(const char *name, const unsigned char *const *part,
                            const size_t *len, int nparts)
{
	size_t n = 0;
	for (int i = 0; i < nparts; i++)
		n += len[i];
	unsigned char *b = malloc(n ? n : 1), *q = b;
	for (int i = 0; i < nparts; i++) {
		memcpy(q, part[i], len[i]);
		q += len[i];
	}
	const char *p = tu_write(name, b, n);
	free(b);
	return p;
}

/* bgzip's end-of-file marker: an empty BGZF block (SAM/BAM spec 4.1.2). */
static const unsigned char bgzf_eof[28] = {
	0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00,
	0x42, 0x43, 0x02, 0x00, 0x1b, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
};

START_TEST(gzip_members)
{
	size_t n1, n2, n0;
	unsigned char *m1 = gz_member(">a\nACGT\n", 8, &n1, false);
	unsigned char *m2 = gz_member(">b\nGGN\n", 7, &n2, false);
	unsigned char *m0 = gz_member("", 0, &n0, false);
	const char *want = "a 0 0 4 ACGT|\nb 1 0 3 GGN|\n";
	Res r;

	/* Two members, one record each: both records. */
	const unsigned char *two[] = {m1, m2};
	size_t two_n[] = {n1, n2};
	run_opts(&r, cat_file("two.fa.gz", two, two_n, 2),
	         hyrt_fasta_default_options(10), false);
	expect_text(&r, want);

	/* Empty members anywhere, first and last included. */
	const unsigned char *empties[] = {m0, m1, m0, m0, m2, m0};
	size_t empties_n[] = {n0, n1, n0, n0, n2, n0};
	run_opts(&r, cat_file("empties.fa.gz", empties, empties_n, 6),
	         hyrt_fasta_default_options(10), false);
	expect_text(&r, want);
	free(m1);
	free(m2);
	free(m0);

	/* bgzip's shape: BGZF blocks, then its EOF block. */
	m1 = gz_member(">a\nACGT\n", 8, &n1, true);
	m2 = gz_member(">b\nGGN\n", 7, &n2, true);
	const unsigned char *bg[] = {m1, m2, bgzf_eof};
	size_t bg_n[] = {n1, n2, sizeof bgzf_eof};
	run_opts(&r, cat_file("bgzip.fa.gz", bg, bg_n, 3),
	         hyrt_fasta_default_options(10), false);
	expect_text(&r, want);
	free(m1);
	free(m2);
}
END_TEST

/* Reading must fail with one line naming path, "byte OFF:" and `what`. */
static void expect_trailing(const char *path, size_t off, const char *what)
{
	char at[64];
	Res r;

	snprintf(at, sizeof at, "%s: byte %zu: ", path, off);
	run_opts(&r, path, hyrt_fasta_default_options(10), true);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_msg(strncmp(r.d.msg, at, strlen(at)) == 0 &&
	                  strstr(r.d.msg, what) && !strchr(r.d.msg, '\n'),
	              "%s: got '%s', want '%s...%s'", path, r.d.msg, at, what);
	free(r.text);
}

START_TEST(gzip_trailing_data)
{
	size_t n1, n2;
	unsigned char *m1 = gz_member(">a\nACGT\n", 8, &n1, false);
	unsigned char *m2 = gz_member(">c\nTT\n", 6, &n2, false);
	static const unsigned char text[] = ">b\nGGN\n";
	static const unsigned char junk[] = {0x1f, 0x9d, 0x90, 0x3e, 0x62};
	static const unsigned char zeros[512];
	static const unsigned char magic1[] = {0x1f};

	const unsigned char *plain[] = {m1, text};
	size_t plain_n[] = {n1, sizeof text - 1};
	expect_trailing(cat_file("text.fa.gz", plain, plain_n, 2), n1,
	                "trailing data (not another member)");

	const unsigned char *garbage[] = {m1, m2, junk};
	size_t garbage_n[] = {n1, n2, sizeof junk};
	expect_trailing(cat_file("junk.fa.gz", garbage, garbage_n, 3),
	                n1 + n2, "trailing data (not another member)");

	const unsigned char *half[] = {m1, magic1};
	size_t half_n[] = {n1, 1};
	expect_trailing(cat_file("magic1.fa.gz", half, half_n, 2), n1,
	                "trailing data (not another member)");

	/* gzip(1) warns and ignores zero padding; hyenac refuses it. */
	const unsigned char *pad[] = {m1, zeros};
	size_t pad_n[] = {n1, sizeof zeros};
	expect_trailing(cat_file("pad.fa.gz", pad, pad_n, 2), n1,
	                "trailing zero bytes (padding)");

	/* Trailing data past a whole read buffer of members. */
	size_t big = 600000, nb;
	char *t = sample(big);
	unsigned char *mb = gz_member(t, strlen(t), &nb, false);
	const unsigned char *late[] = {mb, text};
	size_t late_n[] = {nb, sizeof text - 1};
	expect_trailing(cat_file("late.fa.gz", late, late_n, 2), nb,
	                "trailing data (not another member)");

	/* A second member cut short is truncated, not trailing data. */
	const unsigned char *cut[] = {m1, m2};
	size_t cut_n[] = {n1, n2 - 3};
	expect_fail(cat_file("cut.fa.gz", cut, cut_n, 2),
	            hyrt_fasta_default_options(10), "cut.fa.gz",
	            "truncated gzip data");
	free(t);
	free(mb);
	free(m1);
	free(m2);
}
END_TEST

/* ---- errors ----------------------------------------------------------- */

START_TEST(errors)
{
	HyrtFastaOptions o = hyrt_fasta_default_options(10);
	const char *p;

	p = tu_write_str("bad1.fa", "\nACGT\n>a\nAC\n");
	expect_fail(p, o, p, ":2: sequence data before the first '>'");

	p = tu_write_str("bad2.fa", "#comment\n>a\n");
	expect_fail(p, o, p, ":1: sequence data before the first '>'");

	p = tu_write("bad3.fa", ">a\nAC\nG\0T\n", 10);
	expect_fail(p, o, p, ":3: NUL byte");

	p = tu_write("bad4.fa", ">a\0b\nAC\n", 8);
	expect_fail(p, o, p, ":1: NUL byte in a header");

	p = tu_path(tu_tmpdir(), "no-such.fa");
	expect_fail(p, o, p, "cannot open: No such file or directory");

	p = tu_tmpdir();
	expect_fail(p, o, p, "cannot read");

	expect_fail(tu_write_str("ok.fa", ">a\nA\n"),
	            opts(0, 0, HYRT_CASE_STRICT, true), "ok.fa", "window");
	expect_fail(tu_write_str("ok.fa", ">a\nA\n"),
	            opts(4, -1, HYRT_CASE_STRICT, true), "ok.fa", "stride");

	/* A name that never ends. */
	size_t n = HYRT_FASTA_NAME_MAX + 100;
	char *big = malloc(n + 1);
	memset(big, 'x', n);
	big[0] = '>';
	big[n] = 0;
	p = tu_write_str("bigname.fa", big);
	expect_fail(p, o, p, "record name longer than");
	free(big);
}
END_TEST

START_TEST(gzip_errors)
{
	char *t = sample(200000);
	const char *gz = write_gz("c.fa.gz", t, strlen(t));
	size_t n;
	unsigned char *b = (unsigned char *)tu_read(gz, &n);
	const char *p;

	ck_assert_uint_gt(n, 1000);
	/* Truncated: the stream stops mid-way. */
	p = tu_write("trunc.fa.gz", b, n / 2);
	expect_fail(p, hyrt_fasta_default_options(100), p,
	            "truncated gzip data");
	/* Corrupt: bytes flipped inside the deflate stream. */
	for (size_t i = n / 3; i < n / 3 + 16; i++)
		b[i] ^= 0x5a;
	p = tu_write("corrupt.fa.gz", b, n);
	expect_fail(p, hyrt_fasta_default_options(100), p,
	            "corrupt gzip data");
	/* Only the trailer's CRC wrong: data check fails at the end. */
	free(b);
	b = (unsigned char *)tu_read(gz, &n);
	b[n - 8] ^= 0xff;
	p = tu_write("crc.fa.gz", b, n);
	expect_fail(p, hyrt_fasta_default_options(100), p,
	            "corrupt gzip data");
	free(b);
	free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fasta");
	TCase *tc = tcase_create("fasta");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, tokens_strict);
	tcase_add_test(tc, tokens_upper);
	tcase_add_test(tc, tokens_n_runs_and_sep);
	tcase_add_test(tc, empty_records);
	tcase_add_test(tc, crlf);
	tcase_add_test(tc, no_name);
	tcase_add_test(tc, blank_lines_multiline);
	tcase_add_test(tc, window_edges);
	tcase_add_test(tc, window_examples);
	tcase_add_test(tc, long_record);
	tcase_add_test(tc, gzip_equals_plain);
	tcase_add_test(tc, from_stdin);
	tcase_add_test(tc, errors);
	tcase_add_test(tc, gzip_errors);
	tcase_add_test(tc, gzip_members);
	tcase_add_test(tc, gzip_trailing_data);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
