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

int main(void)
{
	Suite *s = suite_create("fasta_more");
	TCase *tc = tcase_create("fasta_more");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, ragged_equals_padded);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
