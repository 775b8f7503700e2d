/*
 * test_mpi.c - `hyenac compile --mpi` binaries under mpirun (issue 17):
 * every command (embed, score, classify on FASTA; embed, logits,
 * classify on token files; vep to VCF, BGZF VCF and BCF) gives byte for
 * byte, under `mpirun -n 2` and
 * `-n 3 --oversubscribe`, the files one process of the plain binary
 * writes; a rank killed mid-run leaves a journal from which --resume
 * computes only the missing shards and ends with the same bytes; a
 * journal of another job, an existing journal without --resume, more
 * ranks than work, an output that cannot be written and a plain binary
 * under mpirun are refused in one line of ours, without a hang; a rank
 * that stops taking shards leaves its share to the others (the queue).
 *
 * The kill is deterministic: HYENAC_TEST_KILL_RANK_AFTER_SHARDS=R:K (a
 * test hook of runtime/main/rt_shard.c, not for users) makes rank R
 * SIGKILL itself after committing K shards (*:K: every rank, so that
 * exactly K N shards are finished, where with one rank killed the others
 * could take all its work from the queue before the launcher ends them;
 * R:K:fail: fail with a message, as a rank's error would; R:K:idle: take
 * no more shards). Open MPI refuses to run as
 * root without OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM), set here for the child
 * when the tests run as root. Skipped, saying so, without mpirun. Small:
 * tiny-1k at --seq-len 256 and a 5 kb genome.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/npy.h"
#include "testutil.h"

static char mpirun[4096];
static char plain[4096], mpi[4096], cls[4096], clsmpi[4096];
static char fasta[4096], tokens[4096];
static char *seq[5]; /* the genome's records, for the VCF's REF alleles */

static bool find_mpirun(void)
{
	const char *path = getenv("PATH");
	char *p = strdup(path ? path : "/usr/bin:/bin");

	for (char *dir = strtok(p, ":"); dir; dir = strtok(NULL, ":")) {
		snprintf(mpirun, sizeof mpirun, "%s/mpirun", dir);
		if (access(mpirun, X_OK) == 0) {
			free(p);
			return true;
		}
	}
	free(p);
	mpirun[0] = 0;
	return false;
}

#define NEED_MPIRUN()                                                       \
	do {                                                                    \
		if (!mpirun[0]) {                                                   \
			fprintf(stderr, "test_mpi: skipped: no mpirun on PATH "         \
			        "(install openmpi-bin)\n");                            \
			return;                                                         \
		}                                                                   \
	} while (0)

static void compile(char *out, const char *name, const char *model,
                    bool with_mpi)
{
	RunResult r;

	snprintf(out, 4096, "%s", tu_path(tu_tmpdir(), name));
	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", out,
	                                   "--seq-len", "256",
	                                   with_mpi ? "--mpi" : NULL, NULL});
	if (r.status != 0) {
		fprintf(stderr, "compile %s failed: %s\n", name, r.err);
		exit(1);
	}
}

/* Five records of 300 to 1500 random bases: 22 windows of 255. */
static void write_inputs(void)
{
	char *fa = malloc(1 << 16);
	size_t n = 0;
	uint32_t x = 12345;
	static const int len[5] = {300, 1500, 40, 900, 1222};

	for (int r = 0; r < 5; r++) {
		n += (size_t)sprintf(fa + n, ">rec%d\n", r);
		seq[r] = calloc((size_t)len[r] + 1, 1);
		for (int i = 0; i < len[r]; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			fa[n++] = seq[r][i] = "ACGTN"[x % 5 < 4 ? x % 4 : 4];
			if (i % 60 == 59 || i + 1 == len[r])
				fa[n++] = '\n';
		}
	}
	snprintf(fasta, sizeof fasta, "%s", tu_write("g.fa", fa, n));
	free(fa);

	int32_t tok[7 * 100];
	for (int i = 0; i < 7 * 100; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		tok[i] = 7 + (int32_t)(x % 4);
	}
	Diag d;
	diag_init(&d);
	snprintf(tokens, sizeof tokens, "%s", tu_path(tu_tmpdir(), "t.npy"));
	if (!npy_save_i32(tokens, tok, 2, (const int64_t[]){7, 100}, &d)) {
		fprintf(stderr, "%s\n", d.msg);
		exit(1);
	}
}

static void setup(void)
{
	if (!find_mpirun())
		return;
	if (geteuid() == 0) {
		setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
		setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
	}
	const char *tiny = tu_source("models/hyenadna-tiny-1k.yaml");
	const char *cl = tu_golden("tiny-1k-cls", NULL);
	compile(plain, "tiny", tiny, false);
	compile(mpi, "tinympi", tiny, true);
	compile(cls, "cls", cl, false);
	compile(clsmpi, "clsmpi", cl, true);
	write_inputs();
}

/* mpirun ARGS... (an MPMD job of several apps too). In the sanitizer
 * build the ranks run without LeakSanitizer's exit check: Open MPI leaves
 * allocations of its dlopen'd components, which LSan cannot name (so no
 * suppression matches); the code of ours those ranks run is leak-checked
 * in the one-process runs here and in test_frontdoor. */
static void run_mpirun(RunResult *r, const char *const *args)
{
	char *asan = getenv("ASAN_OPTIONS"), *saved = NULL;

	if (asan) {
		saved = strdup(asan);
		char *more = malloc(strlen(asan) + 32);
		sprintf(more, "%s:detect_leaks=0", asan);
		setenv("ASAN_OPTIONS", more, 1);
		free(more);
	}
	tu_run(r, mpirun, args);
	if (saved) {
		setenv("ASAN_OPTIONS", saved, 1);
		free(saved);
	}
}

/* mpirun -n N [--oversubscribe] EXE ARGS... */
static void run_mpi(RunResult *r, int n, const char *exe,
                    const char *const *args)
{
	const char *argv[64];
	char ns[16];
	int k = 0;

	snprintf(ns, sizeof ns, "%d", n);
	argv[k++] = "-n";
	argv[k++] = ns;
	if (n > 2)
		argv[k++] = "--oversubscribe";
	argv[k++] = exe;
	for (; *args && k < 63; args++)
		argv[k++] = *args;
	argv[k] = NULL;
	run_mpirun(r, argv);
}

static void same_file(const char *a, const char *b)
{
	size_t na, nb;
	char *x = tu_read(a, &na), *y = tu_read(b, &nb);

	ck_assert_msg(x && y, "missing %s or %s", a, b);
	ck_assert_msg(na == nb && memcmp(x, y, na) == 0,
	              "%s and %s differ (%zu vs %zu bytes)", a, b, na, nb);
	free(x);
	free(y);
}

static bool exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* Occurrences of needle in hay. */
static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* The command (args with OUT where the output goes, ext its extension)
 * in one process of the plain binary, then under -n 2 and -n 3 of the
 * MPI one: the same bytes in each output file (side: the TSV beside an
 * .npy, or NULL). */
static void check_equal(const char *exe1, const char *exen, const char *tag,
                        const char *const *args, const char *ext,
                        const char *side)
{
	RunResult r;
	char one[4096], side1[4096];
	const char *argv[32];
	int k = 0, out_at = -1;

	for (; args[k]; k++) {
		argv[k] = args[k];
		if (strcmp(args[k], "OUT") == 0)
			out_at = k;
	}
	argv[k] = NULL;
	ck_assert(out_at >= 0);
	snprintf(one, sizeof one, "%s", tu_path(tu_tmpdir(), tag));
	strcat(one, "-1.");
	strcat(one, ext);
	argv[out_at] = one;
	tu_run(&r, exe1, argv);
	ck_assert_msg(r.status == 0, "one process: %s", r.err);
	for (int n = 2; n <= 3; n++) {
		char outn[4096], siden[4096];
		snprintf(outn, sizeof outn, "%s-%d.%s", tu_path(tu_tmpdir(), tag),
		         n, ext);
		argv[out_at] = outn;
		run_mpi(&r, n, exen, argv);
		ck_assert_msg(r.status == 0, "mpirun -n %d %s: status %d: %s", n,
		              tag, r.status, r.err);
		same_file(one, outn);
		if (side) {
			snprintf(side1, sizeof side1, "%.*s.%s",
			         (int)(strlen(one) - strlen(ext) - 1), one, side);
			snprintf(siden, sizeof siden, "%.*s.%s",
			         (int)(strlen(outn) - strlen(ext) - 1), outn, side);
			same_file(side1, siden);
		}
		char journal[4200];
		snprintf(journal, sizeof journal, "%s.hyenac-journal", outn);
		ck_assert_msg(!exists(journal), "%s left behind", journal);
	}
}

START_TEST(fasta_commands_equal_one_process)
{
	NEED_MPIRUN();
	check_equal(plain, mpi, "emb-mean",
	            (const char *[]){"embed", "--fasta", fasta, "-o", "OUT",
	                             "-q", NULL}, "npy", "tsv");
	check_equal(plain, mpi, "emb-none",
	            (const char *[]){"embed", "--fasta", fasta, "-o", "OUT",
	                             "--pool", "none", "--stride", "200",
	                             "-q", "--threads", "1", NULL},
	            "npy", "tsv");
	check_equal(plain, mpi, "score",
	            (const char *[]){"score", "--fasta", fasta, "-o", "OUT",
	                             "-q", NULL}, "tsv", NULL);
	check_equal(cls, clsmpi, "classify",
	            (const char *[]){"classify", "--fasta", fasta, "-o", "OUT",
	                             "-q", NULL}, "tsv", NULL);
}
END_TEST

/* The BED regions of an indexed reference and both strands (--rc) are
 * sharded like FASTA windows; the outputs a shard cannot yet hold
 * (--layer, --ragged, --per-base) are refused, once, before any work. */
START_TEST(regions_and_strands_equal_one_process)
{
	NEED_MPIRUN();
	RunResult r;
	char out[4096];
	const char *bed = tu_write_str("r.bed", "rec1\t10\t900\tA\n"
	                                        "rec4\t0\t1222\n"
	                                        "rec0\t5\t300\tC\n");

	check_equal(plain, mpi, "regions",
	            (const char *[]){"embed", "--ref", fasta, "--regions", bed,
	                             "-o", "OUT", "-q", NULL}, "npy", "tsv");
	check_equal(plain, mpi, "rc-concat",
	            (const char *[]){"embed", "--fasta", fasta, "-o", "OUT",
	                             "--rc", "concat", "-q", NULL},
	            "npy", "tsv");
	check_equal(plain, mpi, "score-rc",
	            (const char *[]){"score", "--fasta", fasta, "-o", "OUT",
	                             "--rc", "mean", "-q", NULL}, "tsv", NULL);

	static const char *const refused[][2] = {
		{"--layer", "1"}, {"--ragged", NULL}};
	for (int i = 0; i < 2; i++) {
		snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "ref.npy"));
		run_mpi(&r, 2, mpi, (const char *[]){"embed", "--fasta", fasta,
		                                     "-o", out, refused[i][0],
		                                     refused[i][1], NULL});
		ck_assert_int_eq(r.status, 2);
		ck_assert_msg(strstr(r.err, refused[i][0]) &&
		              count(r.err, "tinympi:") == 1, "%s", r.err);
		ck_assert(!exists(out));
	}
}
END_TEST

/* A VCF over the genome (declared: the contig the genome lacks as well,
 * so that BCF can be written; undeclared adds a record on a contig the
 * header does not name, which htslib adds to the header as it reads):
 * SNVs every 23 bases, some with a second and a symbolic ALT, an
 * insertion, a deletion, a second record at one position, a REF
 * mismatch, records with no ALT and on a contig the genome lacks. */
static const char *write_vcf(const char *name, bool undeclared)
{
	static const int len[5] = {300, 1500, 40, 900, 1222};
	char *v = malloc(1 << 20);
	size_t n = (size_t)sprintf(v, "##fileformat=VCFv4.2\n");
	int k = 0;

	for (int r = 0; r < 5; r++)
		n += (size_t)sprintf(v + n, "##contig=<ID=rec%d,length=%d>\n", r,
		                     len[r]);
	n += (size_t)sprintf(v + n, "##contig=<ID=chrZ>\n##INFO=<ID=PAD,Number="
	                     "1,Type=String,Description=\"Bytes\">\n#CHROM\tPOS"
	                     "\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n");
	/* INFO PAD makes the records pass BGZF's 64 kB blocks */
	char pad[401];
	memset(pad, 'x', 400);
	pad[400] = 0;
	for (int r = 0; r < 5; r++)
		for (int p = 1 + r; p + 2 < len[r]; p += 23, k++) {
			const char *ref = seq[r] + p - 1;
			char b = ref[0] == 'A' ? 'C' : 'A', alts[64];
			switch (k % 9) {
			case 1: snprintf(alts, sizeof alts, "%c,G,<DEL>", b); break;
			case 3: snprintf(alts, sizeof alts, "%cTTGACA", ref[0]); break;
			case 5: snprintf(alts, sizeof alts, "."); break;
			default: snprintf(alts, sizeof alts, "%c", b);
			}
			if (k % 9 == 7) /* a deletion */
				n += (size_t)sprintf(v + n, "rec%d\t%d\t.\t%.3s\t%c\t.\t."
				                     "\tPAD=%s\n", r, p, ref, ref[0], pad);
			else
				n += (size_t)sprintf(v + n, "rec%d\t%d\t.\t%c\t%s\t.\t."
				                     "\tPAD=%s\n", r, p,
				                     k % 17 == 4 ? b : ref[0], alts, pad);
			if (k % 13 == 2) /* a second record there */
				n += (size_t)sprintf(v + n, "rec%d\t%d\t.\t%c\tT,G\t.\t."
				                     "\t.\n", r, p, ref[0]);
		}
	n += (size_t)sprintf(v + n, "chrZ\t10\t.\tA\tC\t.\t.\t.\n");
	if (undeclared)
		n += (size_t)sprintf(v + n, "chrU\t10\t.\tA\tC\t.\t.\t.\n");
	const char *path = tu_write(name, v, n);
	free(v);
	return path;
}

/* vep: the same bytes under -n 2 and -n 3 as in one process, in VCF,
 * BGZF VCF and BCF (rank 0 writes the whole stream, so BGZF's blocks
 * fall where one process's do); one line of counts, the whole job's. */
START_TEST(vep_equal_one_process)
{
	NEED_MPIRUN();
	RunResult r;
	const char *vcf = write_vcf("v.vcf", false);
	static const char *const ext[] = {"vcf", "vcf.gz", "bcf"};

	for (int i = 0; i < 3; i++)
		check_equal(plain, mpi, "vep",
		            (const char *[]){"vep", "--vcf", vcf, "--ref", fasta,
		                             "-o", "OUT", "-q", NULL}, ext[i],
		            NULL);
	/* BGZF: the header's block, those of the records, the EOF block */
	size_t nz;
	char *z = tu_read(tu_path(tu_tmpdir(), "vep-1.vcf.gz"), &nz);
	int blocks = 0;
	for (size_t i = 0; z && i + 4 <= nz; i++)
		blocks += memcmp(z + i, "\x1f\x8b\x08\x04", 4) == 0;
	free(z);
	ck_assert_msg(blocks >= 4, "%d BGZF blocks: too few to test", blocks);
	check_equal(plain, mpi, "vep-undeclared",
	            (const char *[]){"vep", "--vcf",
	                             write_vcf("u.vcf", true), "--ref", fasta,
	                             "-o", "OUT", "--window", "100", "--case",
	                             "upper", "--threads", "1", "-q", NULL},
	            "vcf", NULL);

	/* the counts: once, from rank 0, the same as one process's */
	char out[4096];
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "vep-c.vcf"));
	tu_run(&r, plain, (const char *[]){"vep", "--vcf", vcf, "--ref", fasta,
	                                   "-o", out, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	char *one = strdup(strstr(r.err, " record(s): "));
	*strstr(one, "; ") = 0; /* up to the window counts */
	run_mpi(&r, 3, mpi, (const char *[]){"vep", "--vcf", vcf, "--ref",
	                                     fasta, "-o", out, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(count(r.err, "vep: ") == 1 &&
	              count(r.err, "rank 0 of 3: vep: ") == 1 &&
	              strstr(r.err, one), "wanted '%s' once in: %s", one,
	              r.err);
	free(one);

	/* more ranks than records */
	const char *two = tu_write_str("two.vcf", "##fileformat=VCFv4.2\n"
	                               "#CHROM\tPOS\tID\tREF\tALT\tQUAL\t"
	                               "FILTER\tINFO\nrec1\t5\t.\tA\tC\t.\t"
	                               ".\t.\nrec1\t9\t.\tA\tC\t.\t.\t.\n");
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "v-out.vcf"));
	run_mpi(&r, 3, mpi, (const char *[]){"vep", "--vcf", two, "--ref",
	                                     fasta, "-o", out, NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "3 ranks for 2 records of") &&
	              count(r.err, "tinympi:") == 1, "%s", r.err);
	ck_assert(!exists(out));
	/* stdin: no file every rank can read */
	run_mpi(&r, 2, mpi, (const char *[]){"vep", "--vcf", "-", "--ref",
	                                     fasta, "-o", out, NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "--vcf -: a job of several ranks") &&
	              count(r.err, "tinympi:") == 1, "%s", r.err);
	ck_assert(!exists(out));
}
END_TEST

START_TEST(token_commands_equal_one_process)
{
	NEED_MPIRUN();
	check_equal(plain, mpi, "tok-hidden",
	            (const char *[]){"embed", "--tokens", tokens, "-o", "OUT",
	                             NULL}, "npy", NULL);
	check_equal(plain, mpi, "tok-mean",
	            (const char *[]){"embed", "--tokens", tokens, "-o", "OUT",
	                             "--pool", "mean", NULL}, "npy", NULL);
	check_equal(plain, mpi, "tok-logits",
	            (const char *[]){"logits", "--tokens", tokens, "-o", "OUT",
	                             NULL}, "npy", NULL);
	check_equal(cls, clsmpi, "tok-classify",
	            (const char *[]){"classify", "--tokens", tokens, "-o", "OUT",
	                             NULL}, "npy", NULL);
}
END_TEST

/* A rank that takes no shard after its first (the hook's R:K:idle, as a
 * rank on a stalled node would): the others take the rest from the
 * queue, and every command still writes one process's bytes. A fixed
 * split would leave that rank's share undone and fail at the gather. */
START_TEST(stalled_rank_work_taken_by_others)
{
	NEED_MPIRUN();
	setenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS", "1:1:idle", 1);
	check_equal(plain, mpi, "idle-emb",
	            (const char *[]){"embed", "--fasta", fasta, "-o", "OUT",
	                             "-q", NULL}, "npy", "tsv");
	check_equal(plain, mpi, "idle-tok",
	            (const char *[]){"embed", "--tokens", tokens, "-o", "OUT",
	                             "--pool", "mean", NULL}, "npy", NULL);
	check_equal(plain, mpi, "idle-vep",
	            (const char *[]){"vep", "--vcf", write_vcf("vi.vcf", false),
	                             "--ref", fasta, "-o", "OUT", "-q", NULL},
	            "vcf", NULL);
	unsetenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS");
}
END_TEST

/* HYENAC_SHARD_LOG: every rank's file has its plan, ready and idle
 * once, and every shard of the job was started and ended exactly once,
 * by one rank, in time order; a log directory that cannot be written is
 * one line and exit 1, nothing written. */
START_TEST(shard_log_accounts_for_every_shard)
{
	NEED_MPIRUN();
	RunResult r;
	char out[4096], logdir[4096], bad[4200];
	int started[64] = {0}, ended[64] = {0}, nmax = -1;

	snprintf(logdir, sizeof logdir, "%s", tu_path(tu_tmpdir(), "shardlog"));
	ck_assert_int_eq(mkdir(logdir, 0755), 0);
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "logged.npy"));
	setenv("HYENAC_SHARD_LOG", logdir, 1);
	run_mpi(&r, 3, mpi, (const char *[]){"embed", "--fasta", fasta, "-o",
	                                     out, "-q", NULL});
	unsetenv("HYENAC_SHARD_LOG");
	ck_assert_msg(r.status == 0, "%s", r.err);
	for (int rank = 0; rank < 3; rank++) {
		char name[32], *text;
		snprintf(name, sizeof name, "rank-%d.tsv", rank);
		text = tu_read(tu_path(logdir, name), NULL);
		ck_assert_msg(text != NULL, "no %s/%s", logdir, name);
		ck_assert_msg(count(text, "plan\t-1\t") == 1 &&
		              count(text, "ready\t-1\t") == 1 &&
		              count(text, "idle\t-1\t") == 1, "%s", text);
		double last = 0;
		int open = -1;
		for (char *line = strtok(text, "\n"); line;
		     line = strtok(NULL, "\n")) {
			char ev[16];
			int i;
			double t;
			ck_assert_msg(sscanf(line, "%15s %d %lf", ev, &i, &t) == 3,
			              "%s: '%s'", name, line);
			ck_assert_msg(t >= last, "%s: time goes back at '%s'", name,
			              line);
			last = t;
			if (strcmp(ev, "start") == 0) {
				ck_assert_msg(i >= 0 && i < 64 && open < 0, "%s", line);
				started[i]++;
				open = i;
			} else if (strcmp(ev, "end") == 0) {
				ck_assert_msg(i == open, "%s: ends %d, runs %d", name, i,
				              open);
				ended[i]++;
				open = -1;
				nmax = i > nmax ? i : nmax;
			}
		}
		ck_assert_msg(open < 0, "%s: shard %d never ended", name, open);
		free(text);
	}
	ck_assert_msg(nmax >= 2, "only %d shards", nmax + 1);
	for (int i = 0; i <= nmax; i++)
		ck_assert_msg(started[i] == 1 && ended[i] == 1,
		              "shard %d started %d and ended %d times", i,
		              started[i], ended[i]);

	snprintf(bad, sizeof bad, "%s/missing", logdir);
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "nolog.npy"));
	setenv("HYENAC_SHARD_LOG", bad, 1);
	run_mpi(&r, 2, mpi, (const char *[]){"embed", "--fasta", fasta, "-o",
	                                     out, "-q", NULL});
	unsetenv("HYENAC_SHARD_LOG");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "HYENAC_SHARD_LOG: ") &&
	              strstr(r.err, "cannot write") &&
	              count(r.err, "tinympi:") == 1, "%s", r.err);
	ck_assert(!exists(out));
}
END_TEST

/* Files in dir ending in ext (the journal's finished pieces). */
static int pieces(const char *dir, const char *ext)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_msg(d != NULL, "no journal %s", dir);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		n += l == 8 + strlen(ext) && strcmp(e->d_name + 8, ext) == 0;
	}
	closedir(d);
	return n;
}

/* The shard count in the journal's manifest. */
static int manifest_shards(const char *dir)
{
	char *m = tu_read(tu_path(dir, "MANIFEST"), NULL);
	const char *p = m ? strstr(m, "\nshards ") : NULL;
	ck_assert_msg(p != NULL, "no shards line in %s/MANIFEST", dir);
	int n = atoi(p + 8);
	free(m);
	return n;
}

/* The plan shrinks its shards as the job goes: 2 ranks over 512 rows of
 * 8 tokens (4096), killed after their first shard so that the manifest
 * stays: the first shard is what is left / (4 N) = 512 tokens (64 rows),
 * sizes never grow, the last ones are total / (64 N) = 32 tokens (4
 * rows), every row is in exactly one shard; then the resumed job's
 * output is one process's. */
START_TEST(plan_shrinks_toward_the_end)
{
	NEED_MPIRUN();
	RunResult r;
	enum { ROWS = 512, LEN = 8 };
	int32_t tok[ROWS * LEN];
	char tpath[4096], want[4096], out[4096], journal[4200];
	Diag d;

	for (int i = 0; i < ROWS * LEN; i++)
		tok[i] = 7 + (i * 7 + i / 5) % 4;
	diag_init(&d);
	snprintf(tpath, sizeof tpath, "%s", tu_path(tu_tmpdir(), "rows512.npy"));
	ck_assert_msg(npy_save_i32(tpath, tok, 2,
	                           (const int64_t[]){ROWS, LEN}, &d), "%s",
	              d.msg);
	snprintf(want, sizeof want, "%s", tu_path(tu_tmpdir(), "rows512-1.npy"));
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "rows512-2.npy"));
	snprintf(journal, sizeof journal, "%s.hyenac-journal", out);
	tu_run(&r, plain, (const char *[]){"embed", "--tokens", tpath, "-o",
	                                   want, "--pool", "mean", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	setenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS", "*:1", 1);
	run_mpi(&r, 2, mpi, (const char *[]){"embed", "--tokens", tpath, "-o",
	                                     out, "--pool", "mean", NULL});
	unsetenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS");
	ck_assert_msg(r.status != 0, "the job survived its killed ranks");

	char *m = tu_read(tu_path(journal, "MANIFEST"), NULL);
	const char *p = m ? strstr(m, "\nshards ") : NULL;
	ck_assert_msg(p != NULL, "no manifest in %s", journal);
	int n = atoi(p + 8), next = 0, prev = ROWS + 1, first = 0, count = 0;
	long tokens;
	p = strchr(p + 1, '\n') + 1;
	for (int i = 0; i < n; i++) {
		ck_assert_msg(sscanf(p, "%d %d %ld", &first, &count, &tokens) == 3,
		              "shard %d: '%.40s'", i, p);
		ck_assert_msg(first == next && count >= 1 && count <= prev,
		              "shard %d: rows %d+%d after %d (the last %d rows)", i,
		              first, count, next, prev);
		ck_assert_int_eq(tokens, (long)count * LEN);
		if (i == 0)
			ck_assert_int_eq(count, ROWS / (4 * 2));
		next = first + count;
		prev = count;
		p = strchr(p, '\n') + 1;
	}
	ck_assert_int_eq(next, ROWS);
	ck_assert_msg(count == ROWS / (64 * 2), "last shard of %d rows", count);
	free(m);

	run_mpi(&r, 2, mpi, (const char *[]){"embed", "--tokens", tpath, "-o",
	                                     out, "--pool", "mean", "--resume",
	                                     NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	same_file(want, out);
	ck_assert(!exists(journal));
}
END_TEST

START_TEST(killed_rank_then_resume)
{
	NEED_MPIRUN();
	RunResult r;
	char want[4096], out[4096], journal[4200], tsv[4096], msg[256];
	const char *ref[] = {"embed", "--fasta", fasta, "-o", want, "-q", NULL};

	snprintf(want, sizeof want, "%s", tu_path(tu_tmpdir(), "k-1.npy"));
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "k.npy"));
	snprintf(tsv, sizeof tsv, "%s", tu_path(tu_tmpdir(), "k.tsv"));
	snprintf(journal, sizeof journal, "%s.hyenac-journal", out);
	tu_run(&r, plain, ref);
	ck_assert_msg(r.status == 0, "%s", r.err);

	/* the ranks die after their second shard: the job fails, no output */
	const char *args[] = {"embed", "--fasta", fasta, "-o", out, "-q", NULL};
	setenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS", "*:2", 1);
	run_mpi(&r, 2, mpi, args);
	unsetenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS");
	ck_assert_msg(r.status != 0, "the job survived a killed rank");
	ck_assert(!exists(out) && !exists(tsv));
	int shards = manifest_shards(journal);
	int done = pieces(journal, ".npy");
	ck_assert_int_eq(pieces(journal, ".tsv"), done);
	ck_assert_msg(done == 4 && done < shards, "%d of %d shards finished",
	              done, shards);
	/* a claim the killed run left on a shard it did not finish (a rank
	 * killed mid-shard leaves one): the resumed run must not skip it */
	char claim[64];
	snprintf(claim, sizeof claim, "k.npy.hyenac-journal/%08d.claim",
	         shards - 1);
	ck_assert(!exists(tu_path(tu_tmpdir(), claim)));
	tu_write_str(claim, "");

	/* a rank that fails: its one line, the job ended (no hang), status 1 */
	setenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS", "1:1:fail", 1);
	run_mpi(&r, 2, mpi, (const char *[]){"embed", "--fasta", fasta, "-o",
	                                     out, "-q", "--resume", NULL});
	unsetenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "tinympi: rank 1 of 2: failing after 1 "
	                     "shard(s)") && count(r.err, "tinympi:") == 1,
	              "%s", r.err);
	ck_assert(!exists(out) && !exists(tsv));
	done = pieces(journal, ".npy");

	/* without --resume the journal is not thrown away */
	run_mpi(&r, 2, mpi, args);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "add --resume") &&
	              count(r.err, "tinympi:") == 1, "%s", r.err);
	/* another job's journal (other options) is refused */
	run_mpi(&r, 2, mpi, (const char *[]){"embed", "--fasta", fasta, "-o",
	                                     out, "--pool", "last", "--resume",
	                                     NULL});
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "journal of another job") &&
	              strstr(r.err, "mean") && count(r.err, "tinympi:") == 1,
	              "%s", r.err);

	/* resumed on three ranks: only the missing shards, the same bytes */
	run_mpi(&r, 3, mpi, (const char *[]){"embed", "--fasta", fasta, "-o",
	                                     out, "--resume", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	snprintf(msg, sizeof msg, "%d of %d shards were finished; computing %d",
	         done, shards, shards - done);
	ck_assert_msg(strstr(r.err, msg), "wanted '%s' in: %s", msg, r.err);
	same_file(want, out);
	same_file(tu_path(tu_tmpdir(), "k-1.tsv"), tsv);
	ck_assert_msg(!exists(journal), "journal left after the job");
}
END_TEST

/* vep: a rank killed, then --resume on another count of ranks: only the
 * missing shards, the bytes of one process (BGZF); the journal refused
 * to a run with another window. */
START_TEST(vep_killed_rank_then_resume)
{
	NEED_MPIRUN();
	RunResult r;
	char want[4096], out[4096], journal[4200], msg[256];
	const char *vcf = write_vcf("vk.vcf", false);

	snprintf(want, sizeof want, "%s", tu_path(tu_tmpdir(), "vk-1.vcf.gz"));
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "vk.vcf.gz"));
	snprintf(journal, sizeof journal, "%s.hyenac-journal", out);
	tu_run(&r, plain, (const char *[]){"vep", "--vcf", vcf, "--ref", fasta,
	                                   "-o", want, "-q", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);

	setenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS", "*:2", 1);
	run_mpi(&r, 2, mpi, (const char *[]){"vep", "--vcf", vcf, "--ref",
	                                     fasta, "-o", out, "-q", NULL});
	unsetenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS");
	ck_assert_msg(r.status != 0, "the job survived a killed rank");
	ck_assert(!exists(out));
	int shards = manifest_shards(journal);
	int done = pieces(journal, ".scores");
	ck_assert_msg(done == 4 && done < shards, "%d of %d shards finished",
	              done, shards);

	run_mpi(&r, 2, mpi, (const char *[]){"vep", "--vcf", vcf, "--ref",
	                                     fasta, "-o", out, "--window",
	                                     "100", "--resume", NULL});
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "journal of another job") &&
	              strstr(r.err, "window 100") &&
	              count(r.err, "tinympi:") == 1, "%s", r.err);

	run_mpi(&r, 3, mpi, (const char *[]){"vep", "--vcf", vcf, "--ref",
	                                     fasta, "-o", out, "--resume", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	snprintf(msg, sizeof msg, "%d of %d shards were finished; computing %d",
	         done, shards, shards - done);
	ck_assert_msg(strstr(r.err, msg), "wanted '%s' in: %s", msg, r.err);
	same_file(want, out);
	ck_assert_msg(!exists(journal), "journal left after the job");
}
END_TEST

/* --resume in one process of the plain binary: the same journal. */
START_TEST(resume_in_one_process)
{
	RunResult r;
	char want[4096], out[4096], journal[4200];

	if (!plain[0]) /* setup compiles only where mpirun is */
		compile(plain, "tiny", tu_source("models/hyenadna-tiny-1k.yaml"),
		        false);
	if (!fasta[0])
		write_inputs();
	snprintf(want, sizeof want, "%s", tu_path(tu_tmpdir(), "s-1.tsv"));
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "s.tsv"));
	snprintf(journal, sizeof journal, "%s.hyenac-journal", out);
	tu_run(&r, plain, (const char *[]){"score", "--fasta", fasta, "-o", want,
	                                   "-q", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	setenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS", "0:3", 1);
	tu_run(&r, plain, (const char *[]){"score", "--fasta", fasta, "-o", out,
	                                   "--resume", "-q", NULL});
	unsetenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS");
	ck_assert_int_eq(r.signal, 9);
	ck_assert(!exists(out));
	ck_assert_int_eq(pieces(journal, ".tsv"), 3);
	int shards = manifest_shards(journal);
	tu_run(&r, plain, (const char *[]){"score", "--fasta", fasta, "-o", out,
	                                   "--resume", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	char msg[128];
	snprintf(msg, sizeof msg, "3 of %d shards were finished; computing %d",
	         shards, shards - 3);
	ck_assert_msg(strstr(r.err, msg), "wanted '%s' in: %s", msg, r.err);
	same_file(want, out);
	ck_assert(!exists(journal));
	/* a journal cut short before its manifest (or while being removed)
	 * holds nothing to resume: its stray pieces are not taken */
	ck_assert(mkdir(journal, 0755) == 0);
	tu_write_str("s.tsv.hyenac-journal/00000000.tsv", "stale\tpiece\n");
	tu_run(&r, plain, (const char *[]){"score", "--fasta", fasta, "-o", out,
	                                   "--resume", "-q", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	same_file(want, out);
	ck_assert(!exists(journal));
	/* stdin and -o - have no place for a journal */
	tu_run(&r, plain, (const char *[]){"score", "--fasta", "-", "-o", out,
	                                   "--resume", NULL});
	ck_assert_msg(r.status == 2 && tu_lines(r.err) == 1, "%s", r.err);
	tu_run(&r, plain, (const char *[]){"score", "--fasta", fasta, "-o", "-",
	                                   "--resume", NULL});
	ck_assert_msg(r.status == 2 && tu_lines(r.err) == 1, "%s", r.err);

	/* vep: killed after two shards, resumed: one process's BCF */
	const char *vcf = write_vcf("vr.vcf", false);
	snprintf(want, sizeof want, "%s", tu_path(tu_tmpdir(), "vr-1.bcf"));
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "vr.bcf"));
	snprintf(journal, sizeof journal, "%s.hyenac-journal", out);
	tu_run(&r, plain, (const char *[]){"vep", "--vcf", vcf, "--ref", fasta,
	                                   "-o", want, "-q", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	setenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS", "0:2", 1);
	tu_run(&r, plain, (const char *[]){"vep", "--vcf", vcf, "--ref", fasta,
	                                   "-o", out, "--resume", "-q", NULL});
	unsetenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS");
	ck_assert_int_eq(r.signal, 9);
	ck_assert(!exists(out));
	ck_assert_int_eq(pieces(journal, ".scores"), 2);
	tu_run(&r, plain, (const char *[]){"vep", "--vcf", vcf, "--ref", fasta,
	                                   "-o", out, "--resume", "-q", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	same_file(want, out);
	ck_assert(!exists(journal));
	tu_run(&r, plain, (const char *[]){"vep", "--vcf", vcf, "--ref", fasta,
	                                   "-o", "-", "--resume", NULL});
	ck_assert_msg(r.status == 2 && strstr(r.err, "-o -: --resume writes "
	                                      "to a file") &&
	              tu_lines(r.err) == 1, "%s", r.err);
}
END_TEST

START_TEST(bad_mpi_use)
{
	NEED_MPIRUN();
	RunResult r;
	char out[4096], blocker[4096], bad[4200];

	/* more ranks than rows: exit 2, one line of ours */
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "many.npy"));
	run_mpi(&r, 8, mpi, (const char *[]){"embed", "--tokens", tokens, "-o",
	                                     out, NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "8 ranks for 7 rows") &&
	              strstr(r.err, "at most 7") &&
	              count(r.err, "tinympi:") == 1, "%s", r.err);
	ck_assert(!exists(out));

	/* an output that cannot be written (its directory is a file) */
	snprintf(blocker, sizeof blocker, "%s",
	         tu_write_str("blocker", "not a directory\n"));
	snprintf(bad, sizeof bad, "%s/x.npy", blocker);
	run_mpi(&r, 2, mpi, (const char *[]){"embed", "--fasta", fasta, "-o",
	                                     bad, "-q", NULL});
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "rank 0 of 2: ") &&
	              strstr(r.err, "cannot create the journal") &&
	              count(r.err, "tinympi:") == 1, "%s", r.err);

	/* the table on standard output: no place for the journal */
	run_mpi(&r, 2, mpi, (const char *[]){"score", "--fasta", fasta, "-o",
	                                     "-", NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "-o -: a job of several ranks writes to "
	                     "a file") && count(r.err, "tinympi:") == 1,
	              "%s", r.err);

	/* a binary compiled without --mpi refuses to be one rank of many */
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "plain.npy"));
	run_mpi(&r, 2, plain, (const char *[]){"embed", "--tokens", tokens,
	                                       "-o", out, NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "hyenac compile --mpi") &&
	              count(r.err, "tiny:") == 1, "%s", r.err);
	ck_assert(!exists(out));
}
END_TEST

/* A GPU binary links MPI too; here, with no driver, every rank stops at
 * the device's start with its own line and the job fails, nothing
 * written. The ranks agree on the start before any leaves, so none is
 * cut short by another's MPI_Abort (mpirun would name the abort). (On a
 * GPU machine each rank takes its node's devices in turn: test_gpurt
 * checks the choice with the stand-in driver.) */
START_TEST(gpu_binary_under_mpi)
{
	NEED_MPIRUN();
	RunResult r;
	char gpu[4096], out[4096];
	const char *model = tu_source("models/hyenadna-tiny-1k.yaml");

	snprintf(gpu, sizeof gpu, "%s", tu_path(tu_tmpdir(), "tinygpumpi"));
	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", gpu,
	                                   "--seq-len", "256", "--target",
	                                   "cuda", "--mpi", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	snprintf(out, sizeof out, "%s", tu_path(tu_tmpdir(), "gpumpi.npy"));
	setenv("HYENAC_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
	run_mpi(&r, 2, gpu, (const char *[]){"embed", "--tokens", tokens, "-o",
	                                     out, NULL});
	unsetenv("HYENAC_CUDA_DRIVER");
	ck_assert_int_ne(r.status, 0);
	ck_assert_msg(strstr(r.err, "rank 0 of 2: cannot load the CUDA driver") &&
	              strstr(r.err, "rank 1 of 2: cannot load the CUDA driver") &&
	              !strstr(r.err, "MPI_ABORT"), "%s", r.err);
	ck_assert(!exists(out));

	/* rank 0's device starts (the stand-in driver, whose launches would
	 * fail), rank 1's does not: rank 1 says why, rank 0 leaves with it
	 * before any forward, saying nothing */
	const char *argv[] = {"-n", "1", "env", "HYENAC_CUDA_DRIVER=" FAKE_CUDA,
	                      gpu, "embed", "--tokens", tokens, "-o", out, ":",
	                      "-n", "1", "env",
	                      "HYENAC_CUDA_DRIVER=/nonexistent/libcuda.so.1",
	                      gpu, "embed", "--tokens", tokens, "-o", out, NULL};
	run_mpirun(&r, argv);
	ck_assert_int_ne(r.status, 0);
	ck_assert_msg(strstr(r.err, "rank 1 of 2: cannot load the CUDA driver") &&
	              !strstr(r.err, "rank 0 of 2") &&
	              !strstr(r.err, "MPI_ABORT") &&
	              count(r.err, "tinygpumpi:") == 1, "%s", r.err);
	ck_assert(!exists(out));
}
END_TEST

START_TEST(compile_mpi_usage)
{
	RunResult r;
	const char *model = tu_source("models/hyenadna-tiny-1k.yaml");

	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o",
	                                   tu_path(tu_tmpdir(), "x.so"),
	                                   "--emit", "lib", "--mpi", NULL});
	ck_assert_msg(r.status == 2 && strstr(r.err, "--mpi links an "
	                                      "executable") &&
	              tu_lines(r.err) == 1, "%s", r.err);
	tu_run_hyenac(&r, (const char *[]){"info", model, "--mpi", NULL});
	ck_assert_msg(r.status == 2 && strstr(r.err, "is for 'compile'"), "%s",
	              r.err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mpi");
	TCase *tc = tcase_create("mpi");
	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, fasta_commands_equal_one_process);
	tcase_add_test(tc, token_commands_equal_one_process);
	tcase_add_test(tc, regions_and_strands_equal_one_process);
	tcase_add_test(tc, killed_rank_then_resume);
	tcase_add_test(tc, stalled_rank_work_taken_by_others);
	tcase_add_test(tc, shard_log_accounts_for_every_shard);
	tcase_add_test(tc, plan_shrinks_toward_the_end);
	tcase_add_test(tc, vep_equal_one_process);
	tcase_add_test(tc, vep_killed_rank_then_resume);
	tcase_add_test(tc, resume_in_one_process);
	tcase_add_test(tc, bad_mpi_use);
	tcase_add_test(tc, compile_mpi_usage);
	tcase_add_test(tc, gpu_binary_under_mpi);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
