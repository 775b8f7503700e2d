/*
 * test_fasta_more.c - what a new user on real genomes missed (issue 16,
 * item 5) in the FASTA commands of a compiled binary: `embed --ragged`
 * (windows' positions concatenated, offsets in X.tsv) against the padded
 * form's real rows; `--rc` against the binary run on a FASTA
 * reverse-complemented here by hand; `score --per-base` (a bedGraph)
 * against log-probabilities computed here from `logits --tokens`; the
 * final progress line counting tokens.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/npy.h"
#include "testutil.h"

#define GOLD "tiny-1k"
enum { D = 128, NS = 4 };

static const char *exe(void)
{
	static const char *path;
	RunResult r;

	if (path)
		return path;
	path = strdup(tu_path(tu_tmpdir(), "tiny"));
	tu_run_hyenac(&r, (const char *[]){"compile", tu_golden(GOLD, NULL),
	                                   "-o", path, "--seq-len", "64",
	                                   NULL});
	ck_assert_msg(r.status == 0, "compile: %s", r.err);
	return path;
}

static void run_ok(RunResult *r, const char *const *args)
{
	tu_run(r, exe(), args);
	ck_assert_msg(r->status == 0, "%s %s: %s", args[0], args[1], r->err);
}

static void run_usage(const char *const *args, const char *what)
{
	RunResult r;
	tu_run(&r, exe(), args);
	ck_assert_msg(r.status == 2 && tu_lines(r.err) == 1, "%s: %d %s", what,
	              r.status, r.err);
	ck_assert_msg(strstr(r.err, what), "%s: %s", what, r.err);
}

/* The lines of a TSV after its header: n, each split at tabs into at
 * most 8 fields (the text is modified in place). */
typedef struct Row {
	char *f[8];
	int nf;
} Row;

static int read_tsv(const char *path, char **text, Row *rows, int cap,
                    const char *header)
{
	*text = tu_read(path, NULL);
	ck_assert_msg(*text, "no %s", path);
	char *p = strchr(*text, '\n');
	ck_assert(p);
	*p++ = 0;
	ck_assert_str_eq(*text, header);
	int n = 0;
	while (*p) {
		char *e = strchr(p, '\n');
		ck_assert(e && n < cap);
		*e = 0;
		rows[n].nf = 0;
		for (char *q = p; q; ) {
			rows[n].f[rows[n].nf++] = q;
			q = strchr(q, '\t');
			if (q)
				*q++ = 0;
		}
		n++;
		p = e + 1;
	}
	return n;
}

static const char reads[] = ">a\nACGTA\n>b\nTTGCAACGTGCA\n>c\nGGATCCTAN\n";

/* --ragged: X.npy [total tokens, (states,) d], X.tsv's row column the
 * window's first row; each window's rows are the padded form's real
 * rows, byte for byte; total rows the sum of tokens. */
static void check_ragged(const char *layer)
{
	const char *fa = tu_write_str("reads.fa", reads);
	const char *pad = tu_path(tu_tmpdir(), "pad.npy");
	const char *rag = tu_path(tu_tmpdir(), "rag.npy");
	RunResult r;
	Row pr[16], rr[16];
	char *pt, *rt;
	NpyArray P, R;

	run_ok(&r, (const char *[]){"embed", "--fasta", fa, "--window", "8",
	                            "--pool", "none", "-o", pad, "--quiet",
	                            layer ? "--layer" : NULL, layer, NULL});
	run_ok(&r, (const char *[]){"embed", "--fasta", fa, "--window", "8",
	                            "--ragged", "-o", rag, "--quiet",
	                            layer ? "--layer" : NULL, layer, NULL});
	int np = read_tsv(tu_path(tu_tmpdir(), "pad.tsv"), &pt, pr, 16,
	                  "record\tstart\tend\ttokens");
	int nr = read_tsv(tu_path(tu_tmpdir(), "rag.tsv"), &rt, rr, 16,
	                  "record\tstart\tend\ttokens\trow");
	ck_assert_int_eq(np, 5); /* a; b in two; c in two */
	ck_assert_int_eq(nr, np);
	tu_load_npy(pad, &P);
	tu_load_npy(rag, &R);
	bool all = layer && strcmp(layer, "all") == 0;
	int64_t ns = all ? NS : 1, Wt = 9;
	ck_assert_int_eq(P.dim[0], np);
	ck_assert_int_eq(R.rank, all ? 3 : 2);
	int64_t row = 0;
	for (int w = 0; w < nr; w++) {
		for (int k = 0; k < 4; k++)
			ck_assert_str_eq(rr[w].f[k], pr[w].f[k]);
		int64_t n = atoll(rr[w].f[3]);
		ck_assert_int_eq(atoll(rr[w].f[4]), row);
		for (int64_t t = 0; t < n; t++)
			for (int64_t s = 0; s < ns; s++)
				ck_assert(memcmp((const float *)R.data +
				                     ((row + t) * ns + s) * D,
				                 (const float *)P.data +
				                     ((w * ns + s) * Wt + t) * D,
				                 D * sizeof(float)) == 0);
		row += n;
	}
	ck_assert_int_eq(R.dim[0], row);
	ck_assert_int_eq(row, 5 + 1 + 8 + 1 + 4 + 1 + 8 + 1 + 1 + 1);
	free(pt);
	free(rt);
	npy_free(&P);
	npy_free(&R);
}

START_TEST(ragged_equals_padded)
{
	check_ragged(NULL);
	check_ragged("1");
	check_ragged("all");
	const char *fa = tu_write_str("reads.fa", reads);
	const char *o = tu_path(tu_tmpdir(), "never.npy");
	run_usage((const char *[]){"embed", "--fasta", fa, "--ragged",
	                           "--pool", "mean", "-o", o, NULL},
	          "--ragged");
	ck_assert(access(o, F_OK) != 0);
	run_usage((const char *[]){"score", "--fasta", fa, "--ragged", "-o",
	                           "-", NULL},
	          "--ragged is for 'embed'");
}
END_TEST

/* Records of one window each, and their reverse complements written
 * here by hand (N kept, lowercase [UNK] either way). */
static const char fwd_fa[] =
    ">a\nACGTTGCAN\n>b\nGGGACT\n>c\nACgtA\n>d\nT\n";
static const char rc_fa[] =
    ">a\nNTGCAACGT\n>b\nAGTCCC\n>c\nTacGT\n>d\nA\n";

static NpyArray embed_npy(const char *fa, const char *name,
                          const char *const *extra)
{
	const char *o = tu_path(tu_tmpdir(), name);
	const char *args[16] = {"embed", "--fasta", fa, "-o", o, "--quiet"};
	int n = 6;
	NpyArray a;
	RunResult r;
	for (int i = 0; extra[i]; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	run_ok(&r, args);
	tu_load_npy(o, &a);
	return a;
}

START_TEST(rc_equals_hand_reverse_complement)
{
	const char *f = tu_write_str("fwd.fa", fwd_fa);
	const char *b = tu_write_str("rev.fa", rc_fa);
	static const char *const none[] = {NULL};
	NpyArray F = embed_npy(f, "f.npy", none), R = embed_npy(b, "r.npy", none);
	NpyArray M = embed_npy(f, "m.npy", (const char *[]){"--rc", "mean",
	                                                    NULL});
	NpyArray C = embed_npy(f, "c.npy", (const char *[]){"--rc", "concat",
	                                                    NULL});
	ck_assert_int_eq(F.dim[0], 4);
	ck_assert_int_eq(M.rank, 2);
	ck_assert_int_eq(C.dim[1], 2 * D);
	const float *fp = F.data, *rp = R.data, *mp = M.data, *cp = C.data;
	for (int w = 0; w < 4; w++)
		for (int k = 0; k < D; k++) {
			double want = 0.5 * ((double)fp[w * D + k] + rp[w * D + k]);
			ck_assert_double_le(fabs(mp[w * D + k] - want), 1e-6);
			ck_assert(cp[w * 2 * D + k] == fp[w * D + k]);
			ck_assert(cp[w * 2 * D + D + k] == rp[w * D + k]);
		}
	npy_free(&F);
	npy_free(&R);
	npy_free(&M);
	npy_free(&C);

	/* every state's last row, side by side */
	static const char *const last[] = {"--layer", "all", "--pool", "last",
	                                   NULL};
	F = embed_npy(f, "fl.npy", last);
	R = embed_npy(b, "rl.npy", last);
	C = embed_npy(f, "cl.npy", (const char *[]){"--layer", "all", "--pool",
	                                            "last", "--rc", "concat",
	                                            NULL});
	ck_assert_int_eq(C.rank, 3);
	ck_assert_int_eq(C.dim[1], NS);
	ck_assert_int_eq(C.dim[2], 2 * D);
	fp = F.data, rp = R.data, cp = C.data;
	for (int w = 0; w < 4; w++)
		for (int s = 0; s < NS; s++) {
			ck_assert(memcmp(cp + (w * NS + s) * 2 * D,
			                 fp + (w * NS + s) * D, D * sizeof(float)) == 0);
			ck_assert(memcmp(cp + (w * NS + s) * 2 * D + D,
			                 rp + (w * NS + s) * D, D * sizeof(float)) == 0);
		}
	npy_free(&F);
	npy_free(&R);
	npy_free(&C);

	/* score: the mean of the two strands' sums */
	RunResult r;
	char *tf, *tr, *tm;
	Row rf[8], rr[8], rm[8];
	const char *hdr = "record\tstart\tend\ttokens\tsum_logp\tmean_logp";
	const char *sf = tu_path(tu_tmpdir(), "sf.tsv");
	const char *sr = tu_path(tu_tmpdir(), "sr.tsv");
	const char *sm = tu_path(tu_tmpdir(), "sm.tsv");
	run_ok(&r, (const char *[]){"score", "--fasta", f, "-o", sf, NULL});
	run_ok(&r, (const char *[]){"score", "--fasta", b, "-o", sr, NULL});
	run_ok(&r, (const char *[]){"score", "--fasta", f, "-o", sm, "--rc",
	                            "mean", NULL});
	int n = read_tsv(sf, &tf, rf, 8, hdr);
	ck_assert_int_eq(read_tsv(sr, &tr, rr, 8, hdr), n);
	ck_assert_int_eq(read_tsv(sm, &tm, rm, 8, hdr), n);
	ck_assert_int_eq(n, 4);
	for (int w = 0; w < 3; w++) {
		ck_assert_str_eq(rm[w].f[3], rf[w].f[3]);
		double want = 0.5 * (atof(rf[w].f[4]) + atof(rr[w].f[4]));
		double got = atof(rm[w].f[4]);
		ck_assert_msg(fabs(got - want) <= 1e-6 * (1 + fabs(want)),
		              "window %d: %g, want %g", w, got, want);
		ck_assert_double_le(fabs(atof(rm[w].f[5]) -
		                         want / atof(rm[w].f[3])), 1e-6);
	}
	ck_assert_str_eq(rm[3].f[3], "0"); /* one base: nothing scored */
	free(tf);
	free(tr);
	free(tm);

	const char *o = tu_path(tu_tmpdir(), "never.npy");
	run_usage((const char *[]){"embed", "--fasta", f, "--rc", "mean",
	                           "--pool", "none", "-o", o, NULL},
	          "--rc");
	run_usage((const char *[]){"embed", "--fasta", f, "--rc", "both", "-o",
	                           o, NULL},
	          "--rc takes mean or concat");
	run_usage((const char *[]){"score", "--fasta", f, "--rc", "concat",
	                           "-o", "-", NULL},
	          "--rc takes mean,");
	ck_assert(access(o, F_OK) != 0);
}
END_TEST

/* score --per-base: every line is a scored base, its value the log p
 * computed here from `logits --tokens` of the window that scores it:
 * the earliest window holding it past its first base. Windows come from
 * the plain score's TSV; their tokens are written here by hand. */
static const char *const seqs[] = {"ACGTTGCAAGGCTAGCTTAGCA", "GATTACA"};

static int32_t base_id(char b)
{
	return b == 'A' ? 7 : b == 'C' ? 8 : b == 'G' ? 9 : b == 'T' ? 10 : 11;
}

static void check_per_base(const char *stride)
{
	const char *fa = tu_write_str("pb.fa", ">one x\nACGTTGCAAGGC\nTAGCTTAGCA\n"
	                                       ">two\nGATTACA\n");
	const char *tsv = tu_path(tu_tmpdir(), "pb.tsv");
	const char *bg = tu_path(tu_tmpdir(), "pb.bedgraph");
	RunResult r;
	Row win[16], bl[64];
	char *wt, *bt;

	run_ok(&r, (const char *[]){"score", "--fasta", fa, "--window", "8",
	                            "--stride", stride, "-o", tsv, NULL});
	run_ok(&r, (const char *[]){"score", "--fasta", fa, "--window", "8",
	                            "--stride", stride, "--per-base", "-o", bg,
	                            NULL});
	int nw = read_tsv(tsv, &wt, win, 16, "record\tstart\tend\ttokens\t"
	                                      "sum_logp\tmean_logp");
	char *text = tu_read(bg, NULL);
	ck_assert(text && strncmp(text, "track type=bedGraph", 19) == 0);
	free(text);
	/* read_tsv wants a header: the track line is one */
	char *nl;
	text = tu_read(bg, NULL);
	nl = strchr(text, '\n');
	*nl = 0;
	char *hdr = strdup(text);
	free(text);
	int nb = read_tsv(bg, &bt, bl, 64, hdr);
	free(hdr);

	/* expected: (record, pos) -> value, the earliest window first */
	double want[2][32];
	bool have[2][32] = {{false}};
	int expect_lines = 0;
	for (int w = 0; w < nw; w++) {
		int rec = strcmp(win[w].f[0], "one") == 0 ? 0 : 1;
		int64_t s = atoll(win[w].f[1]), e = atoll(win[w].f[2]);
		int64_t n = e - s;
		int32_t tok[16];
		for (int64_t t = 0; t < n; t++)
			tok[t] = base_id(seqs[rec][s + t]);
		tok[n] = 1;
		Diag d;
		diag_init(&d);
		const char *tp = tu_path(tu_tmpdir(), "pbw.npy");
		const char *lo = tu_path(tu_tmpdir(), "pbl.npy");
		ck_assert(npy_save_i32(tp, tok, 2, (int64_t[]){1, n + 1}, &d));
		run_ok(&r, (const char *[]){"logits", "--tokens", tp, "-o", lo,
		                            NULL});
		NpyArray g;
		tu_load_npy(lo, &g);
		int64_t V = g.dim[2];
		const float *gp = g.data;
		for (int64_t t = 1; t < n; t++) {
			if (have[rec][s + t])
				continue;
			const float *row = gp + (t - 1) * V;
			double mx = row[0], z = 0;
			for (int64_t v = 1; v < V; v++)
				mx = row[v] > mx ? row[v] : mx;
			for (int64_t v = 0; v < V; v++)
				z += exp((double)row[v] - mx);
			want[rec][s + t] = row[tok[t]] - mx - log(z);
			have[rec][s + t] = true;
			expect_lines++;
		}
		npy_free(&g);
	}
	ck_assert_int_eq(nb, expect_lines);
	int64_t last[2] = {-1, -1};
	for (int b = 0; b < nb; b++) {
		ck_assert_int_eq(bl[b].nf, 4);
		int rec = strcmp(bl[b].f[0], "one") == 0 ? 0 : 1;
		int64_t p = atoll(bl[b].f[1]);
		ck_assert_int_eq(atoll(bl[b].f[2]), p + 1);
		ck_assert(p > last[rec]); /* sorted, one line per base */
		last[rec] = p;
		ck_assert(have[rec][p]);
		double got = atof(bl[b].f[3]);
		ck_assert_msg(fabs(got - want[rec][p]) <= 1e-5,
		              "%s:%lld: %g, want %g", bl[b].f[0], (long long)p, got,
		              want[rec][p]);
	}
	free(wt);
	free(bt);
}

START_TEST(per_base_track)
{
	check_per_base("8"); /* no overlap: each window's first base left out */
	check_per_base("3"); /* overlap: the earliest window's value */
	const char *fa = tu_write_str("pb2.fa", ">r\nACGTACGT\n");
	run_usage((const char *[]){"embed", "--fasta", fa, "--per-base", "-o",
	                           "x.npy", NULL},
	          "--per-base is for 'score'");
	run_usage((const char *[]){"score", "--fasta", fa, "--per-base", "-o",
	                           "x.tsv", NULL},
	          ".bedgraph or .bg");
	run_usage((const char *[]){"score", "--fasta", fa, "--per-base", "--rc",
	                           "mean", "-o", "x.bg", NULL},
	          "--rc");
	RunResult r;
	run_ok(&r, (const char *[]){"score", "--fasta", fa, "--per-base", "-o",
	                            "-", NULL});
	ck_assert_int_eq(tu_lines(r.out), 1 + 7);
}
END_TEST

/* --progress: the line counts tokens done against the tokens the file
 * holds, and its last state is every window's tokens (the sum of X.tsv's
 * tokens column), 100%; from standard input the total is unknown and
 * only the count shows. Each state is the text after a '\r'. */
static const char *last_state(const char *err)
{
	const char *p = strrchr(err, '\r');
	ck_assert_msg(p, "no progress line in: %s", err);
	return p + 1;
}

START_TEST(progress_counts_tokens)
{
	const char *fa = tu_write_str("pr.fa", ">a\nACGTACGTACGTAAAAACCCGGT\n"
	                                       ">b\nACGT\n>c\nGGGGGGGGGGGG\n");
	const char *o = tu_path(tu_tmpdir(), "pr.npy");
	RunResult r;
	Row rows[16];
	char *text, want[96];

	run_ok(&r, (const char *[]){"embed", "--fasta", fa, "-o", o,
	                            "--window", "10", "--progress", NULL});
	int n = read_tsv(tu_path(tu_tmpdir(), "pr.tsv"), &text, rows, 16,
	                 "record\tstart\tend\ttokens");
	long long total = 0;
	for (int i = 0; i < n; i++)
		total += atoll(rows[i].f[3]);
	free(text);
	ck_assert_int_eq(total, 23 + 3 + 4 + 1 + 12 + 2); /* bases + [SEP]s */
	snprintf(want, sizeof want, "3 records, %d windows, %lld of %lld "
	         "tokens (100%%), ", n, total, total);
	ck_assert_msg(strstr(last_state(r.err), want), "%s", r.err);
	ck_assert_int_eq(tu_lines(r.err), 1);

	/* from a pipe: the count alone */
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "%s embed --fasta - -o %s --window 10 "
	         "--progress < %s", exe(), o, fa);
	tu_run(&r, "/bin/sh", (const char *[]){"-c", cmd, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	snprintf(want, sizeof want, "3 records, %d windows, %lld tokens, ", n,
	         total);
	ck_assert_msg(strstr(last_state(r.err), want), "%s", r.err);

	run_usage((const char *[]){"embed", "--fasta", fa, "-o", o, "--quiet",
	                           "--progress", NULL},
	          "--progress");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fasta_more");
	TCase *tc = tcase_create("fasta_more");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, ragged_equals_padded);
	tcase_add_test(tc, rc_equals_hand_reverse_complement);
	tcase_add_test(tc, per_base_track);
	tcase_add_test(tc, progress_counts_tokens);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
