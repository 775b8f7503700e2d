/*
 * test_frontdoor.c - the genomics front door as a user meets it: a model
 * binary's `embed --fasta` and `score` against its own token path
 * (`embed --tokens`, `logits --tokens` on the same ids), the index TSV,
 * gzip against plain, threads against one thread, warnings, usage and
 * input errors that leave no file behind, Ctrl-C mid-run, binaries and
 * libraries whose packed weights were damaged (refused), and the
 * library from `hyenac compile --emit lib` (dlopen'd here) against the
 * binary. The tokenizer and window arithmetic themselves are tested in
 * test_fasta.c; here they are checked end to end through the TSV.
 *
 * One model (tiny-1k compiled at --seq-len 256, so the default window is
 * 255 bases) is compiled once, before the tests fork.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "runtime/hyenac_model.h"
#include "runtime/hyrt.h"
#include "ir/ir.h"
#include "runtime/npy.h"
#include "testutil.h"

static const double TOL = 1e-4;

/* p_NAME: NAME looked up in the library handle `so`. */
#define SYM(name) __typeof__(&name) p_##name = (__typeof__(&name))dlsym(so, #name); \
	ck_assert_msg(p_##name != NULL, "no %s", #name)
static char exe[4096], lib[4096], libdir[4096];

static void setup(void)
{
	RunResult r;
	const char *model = tu_source("models/hyenadna-tiny-1k.yaml");

	snprintf(exe, sizeof exe, "%s", tu_path(tu_tmpdir(), "tiny"));
	snprintf(libdir, sizeof libdir, "%s", tu_path(tu_tmpdir(), "lib"));
	mkdir(libdir, 0755);
	snprintf(lib, sizeof lib, "%s", tu_path(libdir, "libtiny.so"));
	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", exe,
	                                   "--seq-len", "256", NULL});
	if (r.status != 0) {
		fprintf(stderr, "compile failed: %s\n", r.err);
		exit(1);
	}
	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", lib,
	                                   "--seq-len", "256", "--emit", "lib",
	                                   NULL});
	if (r.status != 0) {
		fprintf(stderr, "compile --emit lib failed: %s\n", r.err);
		exit(1);
	}
}

static void ok_run(RunResult *r, const char *const *args)
{
	tu_run(r, exe, args);
	ck_assert_msg(r->status == 0, "%s failed (status %d, signal %d): %s",
	              exe, r->status, r->signal, r->err);
}

/* A deterministic sequence of n bases from ACGT with an N run and an
 * IUPAC code sprinkled in. */
static char *bases(size_t n, unsigned seed)
{
	char *s = malloc(n + 1);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		s[i] = "ACGT"[x % 4];
		if (i % 97 == 13)
			s[i] = 'R';
		if (i % 211 >= 40 && i % 211 < 46)
			s[i] = 'N';
	}
	s[n] = 0;
	return s;
}

/* Records: short (50), long (600: windows 255, 255, 90), middle (100). */
static const size_t rec_len[3] = {50, 600, 100};
static const char *rec_name[3] = {"chrA", "chrLong", "chrC"};

static char *three_records(void)
{
	size_t cap = 4096, n = 0;
	char *fa = malloc(cap);
	for (int r = 0; r < 3; r++) {
		char *s = bases(rec_len[r], (unsigned)r + 1);
		n += (size_t)snprintf(fa + n, cap - n, ">%s some description\n",
		                      rec_name[r]);
		/* 60 a line, CRLF on the second record */
		for (size_t i = 0; i < rec_len[r]; i += 60)
			n += (size_t)snprintf(fa + n, cap - n, "%.60s%s", s + i,
			                      r == 1 ? "\r\n" : "\n");
		free(s);
	}
	return fa;
}

static int32_t token_of(char c)
{
	switch (c) {
	case 'A': return 7;
	case 'C': return 8;
	case 'G': return 9;
	case 'T': return 10;
	case 'N': return 11;
	}
	return 6;
}

/* Window (record r, [start, end)) as token ids with [SEP], saved [1, L]. */
static const char *window_tokens(int r, int64_t start, int64_t end,
                                 bool sep)
{
	char *s = bases(rec_len[r], (unsigned)r + 1);
	int64_t L = end - start + (sep ? 1 : 0);
	int32_t *t = malloc(sizeof *t * (size_t)L);
	for (int64_t i = start; i < end; i++)
		t[i - start] = token_of(s[i]);
	if (sep)
		t[L - 1] = 1;
	const char *path = tu_path(tu_tmpdir(), "win-tokens.npy");
	int64_t dim[2] = {1, L};
	Diag d;
	diag_init(&d);
	ck_assert_msg(npy_save_i32(path, t, 2, dim, &d), "%s", d.msg);
	free(t);
	free(s);
	return path;
}

static NpyArray load(const char *path)
{
	NpyArray a;
	Diag d;
	diag_init(&d);
	ck_assert_msg(npy_load(path, &a, &d), "%s", d.msg);
	ck_assert_int_eq(a.dtype, DT_F32);
	return a;
}

/* The windows of three_records() at the default window 255. */
static const struct {
	int rec;
	int64_t start, end;
} wins[5] = {{0, 0, 50}, {1, 0, 255}, {1, 255, 510}, {1, 510, 600},
             {2, 0, 100}};

static const char *expected_tsv(bool sep)
{
	static char buf[1024];
	size_t n = (size_t)snprintf(buf, sizeof buf,
	                            "record\tstart\tend\ttokens\n");
	for (int i = 0; i < 5; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\t%lld\t%lld\t"
		                      "%lld\n", rec_name[wins[i].rec],
		                      (long long)wins[i].start,
		                      (long long)wins[i].end,
		                      (long long)(wins[i].end - wins[i].start +
		                                  (sep ? 1 : 0)));
	return buf;
}

/* No file in the scratch directory whose name contains "part". */
static void no_file_like(const char *part)
{
	DIR *dir = opendir(tu_tmpdir());
	struct dirent *e;
	ck_assert(dir != NULL);
	while ((e = readdir(dir)))
		ck_assert_msg(!strstr(e->d_name, part), "left behind: %s",
		              e->d_name);
	closedir(dir);
}

/* ---- embed --------------------------------------------------------------- */

START_TEST(rows_tsv_and_pooling)
{
	RunResult r;
	char *fa = three_records();
	const char *in = tu_write_str("three.fa", fa);
	const char *x = tu_path(tu_tmpdir(), "x.npy");
	const char *xl = tu_path(tu_tmpdir(), "xl.npy");
	const char *xn = tu_path(tu_tmpdir(), "xn.npy");
	const char *h = tu_path(tu_tmpdir(), "h.npy");

	ok_run(&r, (const char *[]){"embed", "--fasta", in, "-o", x, NULL});
	ck_assert_str_eq(r.err, ""); /* not a terminal: silent */
	ok_run(&r, (const char *[]){"embed", "--fasta", in, "-o", xl, "--pool",
	                            "last", NULL});
	ok_run(&r, (const char *[]){"embed", "--fasta", in, "-o", xn,
	                            "--pool=none", NULL});
	char *tsv = tu_read(tu_path(tu_tmpdir(), "x.tsv"), NULL);
	ck_assert_ptr_nonnull(tsv);
	ck_assert_str_eq(tsv, expected_tsv(true));
	free(tsv);

	NpyArray m = load(x), l = load(xl), n = load(xn);
	ck_assert_int_eq(m.rank, 2);
	ck_assert_int_eq(m.dim[0], 5);
	ck_assert_int_eq(m.dim[1], 128);
	ck_assert_int_eq(l.rank, 2);
	ck_assert_int_eq(l.dim[0], 5);
	ck_assert_int_eq(n.rank, 3);
	ck_assert_int_eq(n.dim[0], 5);
	ck_assert_int_eq(n.dim[1], 256);
	ck_assert_int_eq(n.dim[2], 128);
	double em = 0, el = 0, en = 0;
	for (int i = 0; i < 5; i++) {
		const char *t = window_tokens(wins[i].rec, wins[i].start,
		                              wins[i].end, true);
		ok_run(&r, (const char *[]){"embed", "--tokens", t, "-o", h,
		                            NULL});
		NpyArray hid = load(h);
		int64_t L = hid.dim[1];
		const float *hv = hid.data;
		ck_assert_int_eq(L, wins[i].end - wins[i].start + 1);
		for (int64_t k = 0; k < 128; k++) {
			double s = 0;
			for (int64_t p = 0; p < L; p++)
				s += hv[p * 128 + k];
			em = fmax(em, fabs(s / (double)L -
			                   ((float *)m.data)[i * 128 + k]));
			el = fmax(el, fabs(hv[(L - 1) * 128 + k] -
			                   ((float *)l.data)[i * 128 + k]));
			for (int64_t p = 0; p < 256; p++) {
				double want = p < L ? hv[p * 128 + k] : 0.0;
				double got = ((float *)n.data)[(i * 256 + p) * 128 + k];
				en = fmax(en, fabs(want - got));
			}
		}
		npy_free(&hid);
	}
	printf("pooled vs token path: mean %.3g last %.3g none %.3g\n", em, el,
	       en);
	ck_assert_msg(em <= TOL && el <= TOL && en <= TOL,
	              "mean %g last %g none %g", em, el, en);
	npy_free(&m);
	npy_free(&l);
	npy_free(&n);
	free(fa);
}
END_TEST

START_TEST(no_special_tokens_and_stride)
{
	RunResult r;
	char *fa = three_records();
	const char *in = tu_write_str("three.fa", fa);
	const char *x = tu_path(tu_tmpdir(), "ns.npy");

	/* Without [SEP] the default window is the compiled 256. */
	ok_run(&r, (const char *[]){"embed", "--fasta", in, "-o", x,
	                            "--no-special-tokens", NULL});
	char *tsv = tu_read(tu_path(tu_tmpdir(), "ns.tsv"), NULL);
	ck_assert_str_eq(tsv, "record\tstart\tend\ttokens\n"
	                      "chrA\t0\t50\t50\n"
	                      "chrLong\t0\t256\t256\n"
	                      "chrLong\t256\t512\t256\n"
	                      "chrLong\t512\t600\t88\n"
	                      "chrC\t0\t100\t100\n");
	free(tsv);
	/* Overlapping windows: every start below the record's length. */
	ok_run(&r, (const char *[]){"embed", "--fasta", in, "-o", x,
	                            "--window", "200", "--stride=150", NULL});
	tsv = tu_read(tu_path(tu_tmpdir(), "ns.tsv"), NULL);
	ck_assert_str_eq(tsv, "record\tstart\tend\ttokens\n"
	                      "chrA\t0\t50\t51\n"
	                      "chrLong\t0\t200\t201\n"
	                      "chrLong\t150\t350\t201\n"
	                      "chrLong\t300\t500\t201\n"
	                      "chrLong\t450\t600\t151\n"
	                      "chrC\t0\t100\t101\n");
	free(tsv);
	NpyArray a = load(x);
	ck_assert_int_eq(a.dim[0], 6);
	npy_free(&a);
	free(fa);
}
END_TEST

START_TEST(gzip_equals_plain_and_threads)
{
	RunResult r;
	char *fa = three_records();
	const char *in = tu_write_str("three.fa", fa);
	const char *gz = tu_path(tu_tmpdir(), "three.fa.gz");
	gzFile g = gzopen(gz, "wb");
	ck_assert(g != NULL);
	ck_assert_int_eq(gzwrite(g, fa, (unsigned)strlen(fa)), (int)strlen(fa));
	ck_assert_int_eq(gzclose(g), Z_OK);

	const char *p = tu_path(tu_tmpdir(), "p.npy");
	const char *z = tu_path(tu_tmpdir(), "z.npy");
	const char *t = tu_path(tu_tmpdir(), "t.npy");
	ok_run(&r, (const char *[]){"embed", "--fasta", in, "-o", p, NULL});
	ok_run(&r, (const char *[]){"embed", "--fasta", gz, "-o", z, NULL});
	ok_run(&r, (const char *[]){"embed", "--fasta", in, "-o", t,
	                            "--threads", "3", "--batch", "1", NULL});
	size_t np, nz, nt;
	char *bp = tu_read(p, &np), *bz = tu_read(z, &nz), *bt = tu_read(t, &nt);
	ck_assert(np == nz && memcmp(bp, bz, np) == 0);
	ck_assert(np == nt && memcmp(bp, bt, np) == 0);
	free(bp);
	free(bz);
	free(bt);
	bp = tu_read(tu_path(tu_tmpdir(), "p.tsv"), NULL);
	bz = tu_read(tu_path(tu_tmpdir(), "z.tsv"), NULL);
	ck_assert_str_eq(bp, bz);
	free(bp);
	free(bz);

	/* score too */
	const char *sp = tu_path(tu_tmpdir(), "sp.tsv");
	const char *sz = tu_path(tu_tmpdir(), "sz.tsv");
	ok_run(&r, (const char *[]){"score", "--fasta", in, "-o", sp, NULL});
	ok_run(&r, (const char *[]){"score", "--fasta", gz, "-o", sz, "-j", "2",
	                            NULL});
	bp = tu_read(sp, NULL);
	bz = tu_read(sz, NULL);
	ck_assert_str_eq(bp, bz);
	free(bp);
	free(bz);
	free(fa);
}
END_TEST

/* ---- score ---------------------------------------------------------------- */

START_TEST(score_matches_logits)
{
	RunResult r;
	char *fa = three_records();
	const char *in = tu_write_str("three.fa", fa);
	const char *s = tu_path(tu_tmpdir(), "s.tsv");
	const char *g = tu_path(tu_tmpdir(), "g.npy");

	ok_run(&r, (const char *[]){"score", "--fasta", in, "-o", s, NULL});
	char *tsv = tu_read(s, NULL), *line = tsv;
	ck_assert_ptr_nonnull(tsv);
	static const char head[] = "record\tstart\tend\ttokens\tsum_logp\t"
	                           "mean_logp\n";
	ck_assert(strncmp(tsv, head, strlen(head)) == 0);
	line = strchr(tsv, '\n') + 1;
	double worst = 0;
	for (int i = 0; i < 5; i++) {
		char name[64];
		long long st, en, ntok;
		double sum, mean;
		ck_assert_int_eq(sscanf(line, "%63s %lld %lld %lld %lf %lf", name,
		                        &st, &en, &ntok, &sum, &mean), 6);
		ck_assert_str_eq(name, rec_name[wins[i].rec]);
		ck_assert_int_eq(st, wins[i].start);
		ck_assert_int_eq(en, wins[i].end);
		ck_assert_int_eq(ntok, en - st - 1);

		const char *t = window_tokens(wins[i].rec, st, en, true);
		ok_run(&r, (const char *[]){"logits", "--tokens", t, "-o", g,
		                            NULL});
		NpyArray lg = load(g);
		Diag d;
		NpyArray tk;
		diag_init(&d);
		ck_assert(npy_load(t, &tk, &d));
		const int32_t *tv = tk.data;
		const float *gv = lg.data;
		int64_t V = lg.dim[2];
		double want = 0;
		/* position p scores token p + 1, for the bases 1..n-1 */
		for (int64_t p = 0; p + 1 < en - st; p++) {
			double mx = -INFINITY, z = 0;
			for (int64_t v = 0; v < V; v++)
				mx = fmax(mx, gv[p * V + v]);
			for (int64_t v = 0; v < V; v++)
				z += exp(gv[p * V + v] - mx);
			want += gv[p * V + tv[p + 1]] - mx - log(z);
		}
		worst = fmax(worst, fabs(want - sum) / fmax(1, fabs(want)));
		worst = fmax(worst, fabs(want / (double)ntok - mean));
		npy_free(&lg);
		npy_free(&tk);
		line = strchr(line, '\n') + 1;
	}
	ck_assert_str_eq(line, "");
	printf("score vs log-softmax of logits: %.3g\n", worst);
	ck_assert_msg(worst <= TOL, "score off by %g", worst);

	/* The [SEP] is never scored, so dropping it changes nothing. */
	const char *s2 = tu_path(tu_tmpdir(), "s2.tsv");
	ok_run(&r, (const char *[]){"score", "--fasta", in, "-o", s2,
	                            "--window", "255", "--no-special-tokens",
	                            NULL});
	char *tsv2 = tu_read(s2, NULL);
	ck_assert_str_eq(tsv, tsv2);
	free(tsv2);
	free(tsv);
	free(fa);
}
END_TEST

/* ---- warnings, errors, signals ------------------------------------------- */

START_TEST(lowercase_and_empty_records)
{
	RunResult r;
	const char *in = tu_write_str("lower.fa", ">a\nACGTacgtNNn\n>\n"
	                                          ">b desc\nacgt\nACGT\n>e\n\n");
	const char *x = tu_path(tu_tmpdir(), "lo.npy");

	ok_run(&r, (const char *[]){"embed", "--fasta", in, "-o", x, NULL});
	ck_assert_int_eq(tu_lines(r.err), 2);
	ck_assert_ptr_nonnull(strstr(r.err, "lowercase"));
	ck_assert_ptr_nonnull(strstr(r.err, "2 record(s) with no bases"));
	char *tsv = tu_read(tu_path(tu_tmpdir(), "lo.tsv"), NULL);
	ck_assert_str_eq(tsv, "record\tstart\tend\ttokens\n"
	                      "a\t0\t11\t12\n"
	                      "b\t0\t8\t9\n");
	free(tsv);
	ok_run(&r, (const char *[]){"embed", "--fasta", in, "-o", x, "--case",
	                            "upper", NULL});
	ck_assert_ptr_null(strstr(r.err, "lowercase"));
	ok_run(&r, (const char *[]){"embed", "--fasta", in, "-o", x, "--quiet",
	                            NULL});
	ck_assert_str_eq(r.err, "");

	/* The same ids with --case upper as upper-case input. */
	const char *up = tu_write_str("upper.fa", ">a\nACGTACGTNNN\n>\n"
	                                          ">b desc\nACGT\nACGT\n>e\n\n");
	const char *y = tu_path(tu_tmpdir(), "up.npy");
	ok_run(&r, (const char *[]){"embed", "--fasta", up, "-o", y, "-q",
	                            NULL});
	ok_run(&r, (const char *[]){"embed", "--fasta", in, "-o", x, "-q",
	                            "--case=upper", NULL});
	size_t nx, ny;
	char *bx = tu_read(x, &nx), *by = tu_read(y, &ny);
	ck_assert(nx == ny && memcmp(bx, by, nx) == 0);
	free(bx);
	free(by);
}
END_TEST

static void expect_error(int status, const char *out, const char *const *args,
                         const char *needle)
{
	RunResult r;
	tu_run(&r, exe, args);
	ck_assert_msg(r.status == status, "status %d, want %d: %s", r.status,
	              status, r.err);
	ck_assert_msg(tu_lines(r.err) == 1, "not one line: %s", r.err);
	ck_assert_msg(strstr(r.err, needle), "'%s' not in: %s", needle, r.err);
	ck_assert_msg(access(out, F_OK) != 0, "%s left behind", out);
	no_file_like(".tmp.");
}

START_TEST(errors_leave_nothing)
{
	const char *good = tu_write_str("good.fa", ">a\nACGT\n");
	const char *bad = tu_write_str("bad.fa", "ACGT\n>a\nACGT\n");
	const char *nul = tu_write("nul.fa", ">a\nAC\0GT\n", 9);
	const char *o = tu_path(tu_tmpdir(), "err.npy");
	const char *ot = tu_path(tu_tmpdir(), "err.tsv");

	expect_error(1, o, (const char *[]){"embed", "--fasta", bad, "-o", o,
	                                    NULL}, "before the first '>'");
	ck_assert(access(ot, F_OK) != 0);
	expect_error(1, o, (const char *[]){"embed", "--fasta", nul, "-o", o,
	                                    NULL}, "NUL byte");
	expect_error(1, ot, (const char *[]){"score", "--fasta", bad, "-o", ot,
	                                     NULL}, "bad.fa:1");
	expect_error(1, o, (const char *[]){"embed", "--fasta",
	                                    tu_path(tu_tmpdir(), "absent.fa"),
	                                    "-o", o, NULL}, "cannot open");
	const char *gzbad = tu_write("bad.fa.gz", "\x1f\x8b\x08\x00garbage", 12);
	expect_error(1, o, (const char *[]){"embed", "--fasta", gzbad, "-o", o,
	                                    NULL}, "gzip");
	/* A record after the gzip member, as plain text: refused, not
	 * dropped. */
	gzFile gzw = gzopen(tu_path(tu_tmpdir(), "tail.fa.gz"), "wb");
	ck_assert(gzw && gzputs(gzw, ">a\nACGT\n") == 8 && gzclose(gzw) == Z_OK);
	size_t gzn;
	char *gzb = tu_read(tu_path(tu_tmpdir(), "tail.fa.gz"), &gzn);
	gzb = realloc(gzb, gzn + 8);
	memcpy(gzb + gzn, ">b\nGGN\n", 8);
	const char *tail = tu_write("tail.fa.gz", gzb, gzn + 8);
	char at[64];
	snprintf(at, sizeof at, "tail.fa.gz: byte %zu: ", gzn);
	free(gzb);
	expect_error(1, o, (const char *[]){"embed", "--fasta", tail, "-o", o,
	                                    NULL}, at);
	expect_error(1, ot, (const char *[]){"score", "--fasta", tail, "-o", ot,
	                                     NULL}, "after a gzip member");
	expect_error(2, o, (const char *[]){"embed", "--fasta", good, "-o", o,
	                                    "--pool", "max", NULL}, "--pool");
	expect_error(2, o, (const char *[]){"embed", "--fasta", good, "-o", o,
	                                    "--window", "256", NULL},
	             "out of range");
	expect_error(2, o, (const char *[]){"embed", "--fasta", good, "-o", o,
	                                    "--window", "0", NULL},
	             "out of range");
	expect_error(2, o, (const char *[]){"embed", "--fasta", good, "-o", o,
	                                    "--stride", "x", NULL}, "integer");
	expect_error(2, o, (const char *[]){"embed", "--fasta", good, "-o", o,
	                                    "--case", "lower", NULL}, "--case");
	expect_error(2, o, (const char *[]){"embed", "--fasta", good, "-o", o,
	                                    "--threads", "0", NULL}, "--threads");
	expect_error(2, o, (const char *[]){"embed", "--fasta", good, "-o", o,
	                                    "--quiet=yes", NULL}, "no value");
	expect_error(2, o, (const char *[]){"embed", "--fasta", good, "-o", o,
	                                    "--tokens", "t.npy", NULL},
	             "not both");
	expect_error(2, o, (const char *[]){"embed", "--fasta", good, NULL},
	             "needs -o");
	expect_error(2, o, (const char *[]){"embed", "--fasta", good, "-o", o,
	                                    "--wndow", "5", NULL},
	             "did you mean '--window'");
	expect_error(2, ot, (const char *[]){"score", "-o", ot, NULL},
	             "needs --fasta");
	expect_error(2, ot, (const char *[]){"score", "--fasta", good, "-o", ot,
	                                     "--pool", "mean", NULL}, "--pool");
	expect_error(2, ot, (const char *[]){"scor", NULL}, "did you mean");
}
END_TEST

/* Ctrl-C while the binary is mid-file (reading a pipe we hold open):
 * its temporaries exist, then none do, and it dies by the signal. */
START_TEST(interrupt_leaves_nothing)
{
	static const int sigs[2] = {SIGINT, SIGTERM};
	const char *o = tu_path(tu_tmpdir(), "int.npy");

	for (int k = 0; k < 2; k++) {
		int in[2], st;
		/* Told by the kernel when the temporaries appear: no polling. */
		int ino = inotify_init1(IN_CLOEXEC);
		ck_assert(ino >= 0);
		ck_assert(inotify_add_watch(ino, tu_tmpdir(), IN_CREATE) >= 0);
		ck_assert(pipe(in) == 0);
		pid_t pid = fork();
		ck_assert(pid >= 0);
		if (pid == 0) {
			dup2(in[0], 0);
			close(in[1]);
			int dn = open("/dev/null", 0);
			dup2(dn, 2);
			execl(exe, exe, "embed", "--fasta", "-", "-o", o, "--window",
			      "100", (char *)NULL);
			_exit(127);
		}
		close(in[0]);
		char *s = bases(100000, 9);
		FILE *w = fdopen(in[1], "w");
		fprintf(w, ">big\n%s\n", s);
		fflush(w);
		free(s);
		/* Wait for the temporaries to appear; the binary then waits for
		 * the rest of its input, mid-file. The poll bound only keeps a
		 * broken binary from hanging the suite. */
		bool seen = false;
		char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		struct pollfd pf = {ino, POLLIN, 0};
		while (!seen && poll(&pf, 1, 60000) == 1) {
			ssize_t n = read(ino, ev, sizeof ev);
			for (char *q = ev; n > 0 && q < ev + n;) {
				struct inotify_event *ie = (struct inotify_event *)q;
				seen |= ie->len &&
				        strncmp(ie->name, "int.npy.tmp.", 12) == 0;
				q += sizeof *ie + ie->len;
			}
		}
		close(ino);
		ck_assert_msg(seen, "no temporary output appeared");
		kill(pid, sigs[k]);
		ck_assert(waitpid(pid, &st, 0) == pid);
		fclose(w);
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == sigs[k],
		              "status %#x", st);
		ck_assert(access(o, F_OK) != 0);
		no_file_like(".tmp.");
	}
}
END_TEST

/* ---- damaged weights ------------------------------------------------------ */

/* A copy of `from` at tmp/name, mode 0755, with `flip` bytes in the middle
 * of its packed weights XORed (none when flip is 0); the blob is found
 * through the trailer at the end of the file. */
static const char *copy_damaged(const char *from, const char *name,
                                size_t flip)
{
	size_t n;
	char *b = tu_read(from, &n);
	HyrtTrailer t;

	ck_assert_uint_gt(n, sizeof t);
	memcpy(&t, b + n - sizeof t, sizeof t);
	ck_assert(memcmp(t.magic, HYRT_TRAILER_MAGIC, 8) == 0);
	ck_assert_uint_ge(t.blob_bytes, 2 * flip);
	ck_assert_uint_eq(t.blob_offset + t.blob_bytes + sizeof t, n);
	for (size_t i = 0; i < flip; i++)
		b[t.blob_offset + t.blob_bytes / 2 - flip / 2 + i] ^= 0x5a;
	const char *p = tu_write(name, b, n);
	ck_assert(chmod(p, 0755) == 0);
	free(b);
	return p;
}

/* 4 KB flipped inside the packed weights: the binary refuses to run, in
 * one line naming itself, before any output; an intact copy runs. */
START_TEST(damaged_weights_refused)
{
	static const int32_t ids[4] = {7, 8, 9, 10};
	const char *tp = tu_path(tu_tmpdir(), "dmg-tokens.npy");
	const char *o = tu_path(tu_tmpdir(), "dmg.npy");
	Diag d;
	RunResult r;

	diag_init(&d);
	ck_assert(npy_save_i32(tp, ids, 2, (int64_t[]){1, 4}, &d));
	const char *intact = copy_damaged(exe, "intact-copy", 0);
	tu_run(&r, intact, (const char *[]){"embed", "--tokens", tp, "-o", o,
	                                    NULL});
	ck_assert_msg(r.status == 0, "intact copy: %s", r.err);
	unlink(o);

	const char *bad = copy_damaged(exe, "damaged-copy", 4096);
	static const char *const cmds[][8] = {
		{"embed", "--tokens", NULL, "-o", NULL, NULL},
		{"logits", "--tokens", NULL, "-o", NULL, NULL},
		{"bench", "--seq-len", "16", "--reps", "1", NULL},
	};
	for (int i = 0; i < 3; i++) {
		const char *args[8];
		memcpy(args, cmds[i], sizeof args);
		if (i < 2)
			args[2] = tp, args[4] = o;
		tu_run(&r, bad, args);
		ck_assert_msg(r.signal == 0 && r.status == 1,
		              "status %d signal %d: %s", r.status, r.signal,
		              r.err);
		ck_assert_msg(tu_lines(r.err) == 1, "not one line: %s", r.err);
		ck_assert_msg(strstr(r.err, bad) && strstr(r.err, "damaged") &&
		                  strstr(r.err, "checksum mismatch"),
		              "%s", r.err);
		ck_assert_msg(access(o, F_OK) != 0, "%s left behind", o);
		ck_assert_str_eq(r.out, "");
	}
	no_file_like(".tmp.");
}
END_TEST

/* The same for a library: hyenac_model_load() of a damaged copy returns
 * HYENAC_ERR_WEIGHTS with one line; an intact copy loads. */
START_TEST(damaged_library_refused)
{
	char err[512];
	HyenacModel *m;
	const char *paths[2] = {copy_damaged(lib, "libintact.so", 0),
	                        copy_damaged(lib, "libdamaged.so", 4096)};

	for (int i = 0; i < 2; i++) {
		void *so = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
		ck_assert_msg(so != NULL, "%s", dlerror());
		SYM(hyenac_model_load);
		SYM(hyenac_model_free);
		int rc = p_hyenac_model_load(NULL, &m, err, sizeof err);
		if (i == 0) {
			ck_assert_msg(rc == HYENAC_OK, "%s", err);
			p_hyenac_model_free(m);
		} else {
			ck_assert_int_eq(rc, HYENAC_ERR_WEIGHTS);
			ck_assert_ptr_null(m);
			ck_assert_int_eq(tu_lines(err), 1);
			ck_assert_msg(strstr(err, "libdamaged.so") &&
			                  strstr(err, "checksum mismatch"),
			              "%s", err);
		}
		dlclose(so);
	}
}
END_TEST

/* ---- the library ----------------------------------------------------------- */

START_TEST(library_matches_binary)
{
	RunResult r;
	struct stat st;
	char hdr[4200];
	snprintf(hdr, sizeof hdr, "%s/hyenac_model.h", libdir);
	ck_assert_msg(stat(hdr, &st) == 0, "no header beside the library");

	void *so = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(so != NULL, "%s", dlerror());
	SYM(hyenac_model_load);
	SYM(hyenac_model_embed);
	SYM(hyenac_model_logits);
	SYM(hyenac_model_error);
	SYM(hyenac_model_free);
	SYM(hyenac_model_d_model);
	SYM(hyenac_model_max_len);
	SYM(hyenac_tokenize);
	ck_assert_ptr_null(dlsym(so, "hyenac_run"));
	ck_assert_ptr_null(dlsym(so, "fftwf_execute"));

	HyenacModel *m;
	char err[512];
	/* From another directory: the library finds itself. */
	char cwd[4096];
	ck_assert(getcwd(cwd, sizeof cwd) != NULL);
	ck_assert(chdir("/") == 0);
	ck_assert_int_eq(p_hyenac_model_load(NULL, &m, err, sizeof err),
	                 HYENAC_OK);
	ck_assert(chdir(cwd) == 0);
	ck_assert_int_eq(p_hyenac_model_d_model(m), 128);
	ck_assert_int_eq(p_hyenac_model_max_len(m), 256);

	/* Two sequences of 40 bases + [SEP], as one batch. */
	char *s = bases(80, 5);
	int32_t tok[82];
	ck_assert_int_eq(p_hyenac_tokenize(s, 40, tok, 41, HYENAC_TOKENIZE_SEP),
	                 41);
	ck_assert_int_eq(p_hyenac_tokenize(s + 40, 40, tok + 41, 41,
	                                   HYENAC_TOKENIZE_SEP), 41);
	ck_assert_int_eq(p_hyenac_tokenize("acgtx", 5, NULL, 0,
	                                   HYENAC_TOKENIZE_UPPER), 5);
	int32_t up[6];
	p_hyenac_tokenize("acgtnX", 6, up, 6, HYENAC_TOKENIZE_UPPER);
	ck_assert(up[0] == 7 && up[3] == 10 && up[4] == 11 && up[5] == 6);
	p_hyenac_tokenize("acgtnX", 6, up, 6, 0);
	ck_assert(up[0] == 6 && up[4] == 6);

	float *h = malloc(sizeof *h * 82 * 128), *g = malloc(sizeof *g * 82 * 16);
	ck_assert_int_eq(p_hyenac_model_embed(m, tok, 2, 41, h), HYENAC_OK);
	ck_assert_int_eq(p_hyenac_model_logits(m, tok, 2, 41, g), HYENAC_OK);

	const char *tp = tu_path(tu_tmpdir(), "libtok.npy");
	const char *hp = tu_path(tu_tmpdir(), "libh.npy");
	const char *gp = tu_path(tu_tmpdir(), "libg.npy");
	Diag d;
	diag_init(&d);
	ck_assert(npy_save_i32(tp, tok, 2, (int64_t[]){2, 41}, &d));
	ok_run(&r, (const char *[]){"embed", "--tokens", tp, "-o", hp, NULL});
	ok_run(&r, (const char *[]){"logits", "--tokens", tp, "-o", gp, NULL});
	NpyArray bh = load(hp), bg = load(gp);
	double e = 0;
	for (size_t i = 0; i < 82 * 128; i++)
		e = fmax(e, fabs(h[i] - ((float *)bh.data)[i]));
	for (size_t i = 0; i < 82 * 16; i++)
		e = fmax(e, fabs(g[i] - ((float *)bg.data)[i]));
	printf("library vs binary: %.3g\n", e);
	ck_assert(e <= TOL);

	/* Errors come back as codes and messages. */
	tok[3] = 42;
	ck_assert_int_eq(p_hyenac_model_embed(m, tok, 2, 41, h),
	                 HYENAC_ERR_TOKEN);
	ck_assert_ptr_nonnull(strstr(p_hyenac_model_error(m), "42"));
	ck_assert_int_eq(p_hyenac_model_embed(m, tok, 1, 257, h),
	                 HYENAC_ERR_LENGTH);
	ck_assert_int_eq(p_hyenac_model_embed(m, tok, 1, 0, h),
	                 HYENAC_ERR_LENGTH);
	ck_assert_int_eq(p_hyenac_model_embed(m, NULL, 1, 4, h),
	                 HYENAC_ERR_ARGUMENT);
	ck_assert_int_eq(p_hyenac_model_embed(m, tok, 0, 4, h), HYENAC_OK);
	p_hyenac_model_free(m);
	/* A path names the file holding the weights: the model binary
	 * carries the same blob. */
	ck_assert_int_eq(p_hyenac_model_load(exe, &m, err, sizeof err),
	                 HYENAC_OK);
	p_hyenac_model_free(m);
	ck_assert_int_eq(p_hyenac_model_load(tp, &m, err, sizeof err),
	                 HYENAC_ERR_WEIGHTS);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(tu_lines(err), 1);
	ck_assert_ptr_nonnull(strstr(err, "libtok.npy"));
	npy_free(&bh);
	npy_free(&bg);
	free(h);
	free(g);
	free(s);
	dlclose(so);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("frontdoor");
	TCase *tc = tcase_create("frontdoor");
	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, rows_tsv_and_pooling);
	tcase_add_test(tc, no_special_tokens_and_stride);
	tcase_add_test(tc, gzip_equals_plain_and_threads);
	tcase_add_test(tc, score_matches_logits);
	tcase_add_test(tc, lowercase_and_empty_records);
	tcase_add_test(tc, errors_leave_nothing);
	tcase_add_test(tc, interrupt_leaves_nothing);
	tcase_add_test(tc, library_matches_binary);
	tcase_add_test(tc, damaged_weights_refused);
	tcase_add_test(tc, damaged_library_refused);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
