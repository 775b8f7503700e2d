/*
 * test_outputs.c - how outputs are written (runtime/outfile.h), as a user
 * meets it in a model binary (embed --tokens, embed --fasta, score), in
 * `hyenac run` and in `hyenac compile`: non-regular targets (/dev/null,
 * FIFOs, directories) refused and left as they were, an input named as
 * the output refused and left byte for byte, `-o ''`, `-o -`, extensions
 * that do not match the output's kind, symlinks followed, FASTA's two
 * outputs committed together (or neither), compile's private directory
 * (nothing planted at a temporary name is written through; SIGTERM and a
 * full disk leave nothing behind, with one line naming the output).
 *
 * Every child runs in a directory of its own, with a time bound that only
 * keeps a broken build from hanging the suite (a FIFO opened for writing
 * would block forever). One model binary (tiny-1k, --seq-len 64) is
 * compiled once, before the tests fork.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/npy.h"
#include "testutil.h"

static char exe[4096];
static const char *yaml_src = HYENAC_SOURCE_DIR "/models/hyenadna-tiny-1k.yaml";

typedef struct Run {
	int status, signal; /* exit code, or the signal that killed it */
	char out[16384], err[8192];
} Run;

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
	buf[n] = 0;
	if (f)
		fclose(f);
	unlink(path);
}

/* Run prog in cwd with stdin from in (NULL: /dev/null) and, when fsize
 * is not 0, RLIMIT_FSIZE fsize with SIGXFSZ ignored (writes past it fail
 * with EFBIG, as on a full disk). stdout and stderr go to files outside
 * cwd. */
static void xrun(Run *r, const char *cwd, rlim_t fsize, const char *in,
                 const char *prog, const char *const *args)
{
	const char *argv[64];
	char ob[4096], eb[4096];
	int n = 0, st;

	snprintf(ob, sizeof ob, "%s/.run-out", tu_tmpdir());
	snprintf(eb, sizeof eb, "%s/.run-err", tu_tmpdir());
	memset(r, 0, sizeof *r);
	argv[n++] = prog;
	for (; args && *args && n < 63; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		int o = open(ob, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(eb, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int i = open(in ? in : "/dev/null", O_RDONLY);
		if (o < 0 || e < 0 || i < 0 || chdir(cwd) != 0)
			_exit(126);
		dup2(o, 1);
		dup2(e, 2);
		dup2(i, 0);
		if (fsize) {
			struct rlimit rl = {fsize, fsize};
			signal(SIGXFSZ, SIG_IGN);
			setrlimit(RLIMIT_FSIZE, &rl);
		}
		/* A bound against hangs only: a run that never ends dies
		 * of SIGALRM, which the caller's checks report. */
		alarm(120);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	ck_assert(waitpid(pid, &st, 0) == pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	r->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	slurp(ob, r->out, sizeof r->out);
	slurp(eb, r->err, sizeof r->err);
}

/* A fresh directory for one test. */
static const char *fresh(const char *name)
{
	static char b[8][4096];
	static int k;
	char *p = b[k++ % 8];
	snprintf(p, 4096, "%s/%s", tu_tmpdir(), name);
	ck_assert_msg(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
	return p;
}

static const char *in_dir(const char *dir, const char *name)
{
	return tu_path(dir, name);
}

static void put(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "cannot create %s", path);
	ck_assert(fwrite(data, 1, n, f) == n);
	fclose(f);
}

static void put_str(const char *path, const char *s)
{
	put(path, s, strlen(s));
}

static char *read_all(const char *path, size_t *n)
{
	return tu_read(path, n);
}

/* The names in dir, sorted, one a line. */
static char *listing(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t cap = 1, len = 0;
	ck_assert(n >= 0);
	for (int i = 0; i < n; i++)
		cap += strlen(names[i]->d_name) + 1;
	char *s = malloc(cap);
	s[0] = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
			len += (size_t)sprintf(s + len, "%s\n", names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return s;
}

static void expect_listing(const char *dir, const char *want)
{
	char *got = listing(dir);
	ck_assert_msg(strcmp(got, want) == 0, "%s holds:\n%swant:\n%s", dir,
	              got, want);
	free(got);
}

/* Exit status code, one line on stderr holding every needle, no signal. */
static void expect(const Run *r, int code, const char *const *needles)
{
	ck_assert_msg(r->signal == 0, "killed by signal %d: %s", r->signal,
	              r->err);
	ck_assert_msg(r->status == code, "exit %d, want %d; stderr: %s",
	              r->status, code, r->err);
	ck_assert_msg(tu_lines(r->err) == 1, "want one line, got: %s", r->err);
	for (; needles && *needles; needles++)
		ck_assert_msg(strstr(r->err, *needles), "'%s' not in: %s",
		              *needles, r->err);
}

static void run_exe(Run *r, const char *cwd, const char *const *args)
{
	xrun(r, cwd, 0, NULL, exe, args);
}

static void run_hyenac(Run *r, const char *cwd, const char *const *args)
{
	xrun(r, cwd, 0, NULL, HYENAC_BIN, args);
}

static void tokens_at(const char *path)
{
	static const int32_t ids[8] = {7, 8, 9, 10, 11, 7, 8, 9};
	int64_t dims[2] = {2, 4};
	Diag d;
	diag_init(&d);
	ck_assert_msg(npy_save_i32(path, ids, 2, dims, &d), "%s", d.msg);
}

static const char *fasta_text = ">a\nACGTACGTAC\n>b\nGGGTTTAAACCCGT\n";

static void setup(void)
{
	Run r;
	snprintf(exe, sizeof exe, "%s", tu_path(tu_tmpdir(), "tiny"));
	xrun(&r, tu_tmpdir(), 0, NULL, HYENAC_BIN,
	     (const char *[]){"compile", yaml_src, "-o", exe, "--seq-len", "64",
	                      NULL});
	if (r.status != 0) {
		fprintf(stderr, "compile failed: %s\n", r.err);
		exit(1);
	}
}

/* ---- case 1: non-regular targets ------------------------------------------ */

/* Every writer, with -o target, must exit 2 before any work. */
static void refuse_everywhere(const char *dir, const char *target,
                              const char *needle)
{
	const char *t = in_dir(dir, "t.npy"), *fa = in_dir(dir, "g.fa");
	Run r;
	tokens_at(t);
	put_str(fa, fasta_text);
	run_exe(&r, dir, (const char *[]){"embed", "--tokens", t, "-o", target,
	                                  NULL});
	expect(&r, 2, (const char *[]){needle, NULL});
	run_exe(&r, dir, (const char *[]){"logits", "--tokens", t, "-o", target,
	                                  NULL});
	expect(&r, 2, (const char *[]){needle, NULL});
	run_exe(&r, dir, (const char *[]){"embed", "--fasta", fa, "-o", target,
	                                  "--pool", "last", NULL});
	expect(&r, 2, (const char *[]){needle, NULL});
	run_exe(&r, dir, (const char *[]){"score", "--fasta", fa, "-o", target,
	                                  NULL});
	expect(&r, 2, (const char *[]){needle, NULL});
	run_hyenac(&r, dir, (const char *[]){"run", yaml_src, "embed",
	                                     "--tokens", t, "-o", target, NULL});
	expect(&r, 2, (const char *[]){needle, NULL});
	run_hyenac(&r, dir, (const char *[]){"compile", yaml_src, "-o", target,
	                                     "--seq-len", "64", NULL});
	expect(&r, 2, (const char *[]){needle, NULL});
}

START_TEST(non_regular_targets)
{
	const char *dir = fresh("nonreg");
	struct stat before, after;

	/* A FIFO: refused without opening it (that would block), left a FIFO. */
	const char *fifo = in_dir(dir, "fifo");
	ck_assert(mkfifo(fifo, 0644) == 0);
	refuse_everywhere(dir, fifo, "a FIFO");
	ck_assert(lstat(fifo, &after) == 0 && S_ISFIFO(after.st_mode));

	/* A directory, with what it holds. */
	const char *sub = in_dir(dir, "sub");
	ck_assert(mkdir(sub, 0755) == 0);
	put_str(in_dir(sub, "keep"), "kept");
	refuse_everywhere(dir, sub, "a directory");
	expect_listing(sub, "keep\n");

	/* A symlink to the FIFO is followed to it, and refused. */
	const char *link = in_dir(dir, "link");
	ck_assert(symlink("fifo", link) == 0);
	refuse_everywhere(dir, link, "a FIFO");
	ck_assert(lstat(link, &after) == 0 && S_ISLNK(after.st_mode));
	ck_assert(lstat(fifo, &after) == 0 && S_ISFIFO(after.st_mode));

	/* --emit lib's header beside the library is an output too. */
	const char *hdr = in_dir(dir, "hyenac_model.h");
	ck_assert(mkdir(hdr, 0755) == 0);
	Run r;
	run_hyenac(&r, dir, (const char *[]){"compile", yaml_src, "-o",
	                                     in_dir(dir, "libm.so"), "--emit",
	                                     "lib", "--seq-len", "64", NULL});
	expect(&r, 2, (const char *[]){"hyenac_model.h", "a directory", NULL});
	ck_assert(access(in_dir(dir, "libm.so"), F_OK) != 0);

	/* /dev/null itself, where this user could replace it (root, as CI). */
	if (geteuid() == 0) {
		ck_assert(stat("/dev/null", &before) == 0);
		refuse_everywhere(dir, "/dev/null", "character device");
		ck_assert(stat("/dev/null", &after) == 0);
		ck_assert(S_ISCHR(after.st_mode) && after.st_rdev == before.st_rdev);
	}
	expect_listing(dir, "fifo\ng.fa\nhyenac_model.h\nlink\nsub\nt.npy\n");
}
END_TEST

/* ---- case 2: an input named as the output ----------------------------------- */

/* Run, expect exit 2 naming the input, and input byte for byte as before. */
static void refused_keeps(const char *dir, const char *prog,
                          const char *const *args, const char *input)
{
	size_t n0, n1;
	char *before = read_all(input, &n0);
	Run r;
	ck_assert(before != NULL);
	xrun(&r, dir, 0, NULL, prog, args);
	expect(&r, 2, (const char *[]){"is the input", NULL});
	char *after = read_all(input, &n1);
	ck_assert_msg(after && n0 == n1 && memcmp(before, after, n0) == 0,
	              "%s changed", input);
	free(before);
	free(after);
}

START_TEST(input_as_output)
{
	const char *dir = fresh("inputs");
	const char *t = in_dir(dir, "t.npy");
	size_t n;
	tokens_at(t);

	/* token files, in the binary and in hyenac run */
	refused_keeps(dir, exe, (const char *[]){"embed", "--tokens", t, "-o", t,
	                                         NULL}, t);
	refused_keeps(dir, exe, (const char *[]){"logits", "--tokens", t, "-o",
	                                         t, NULL}, t);
	refused_keeps(dir, HYENAC_BIN, (const char *[]){"run", yaml_src,
	                                                "logits", "--tokens", t,
	                                                "-o", t, NULL}, t);
	/* the same file under another name (a symlink) */
	ck_assert(symlink("t.npy", in_dir(dir, "alias.npy")) == 0);
	refused_keeps(dir, exe, (const char *[]){"embed", "--tokens", t, "-o",
	                                         "alias.npy", NULL}, t);

	/* FASTA: named as the output, as X.tsv beside X.npy, or as score's */
	const char *g = in_dir(dir, "genome");
	put_str(g, fasta_text);
	refused_keeps(dir, exe, (const char *[]){"embed", "--fasta", g, "-o", g,
	                                         NULL}, g);
	const char *gt = in_dir(dir, "reads.tsv");
	put_str(gt, fasta_text);
	refused_keeps(dir, exe, (const char *[]){"embed", "--fasta", gt, "-o",
	                                         "reads.npy", NULL}, gt);
	refused_keeps(dir, exe, (const char *[]){"score", "--fasta", gt, "-o",
	                                         gt, NULL}, gt);
	/* ... and through standard input */
	Run r;
	xrun(&r, dir, 0, gt, exe, (const char *[]){"score", "--fasta", "-",
	                                           "-o", gt, NULL});
	expect(&r, 2, (const char *[]){"is the input <stdin>", NULL});
	/* the binary itself */
	char *self = read_all(exe, &n);
	xrun(&r, dir, 0, NULL, exe, (const char *[]){"embed", "--tokens", t,
	                                             "-o", exe, NULL});
	expect(&r, 2, (const char *[]){"is the input", NULL});
	size_t n2;
	char *self2 = read_all(exe, &n2);
	ck_assert(n == n2 && memcmp(self, self2, n) == 0);
	free(self);
	free(self2);

	/* a YAML, and the safetensors it names */
	char *y = read_all(yaml_src, &n);
	char *seed = strstr(y, "weights: {seed: 1}");
	ck_assert(seed != NULL);
	*seed = 0;
	const char *ym = in_dir(dir, "m.yaml");
	FILE *f = fopen(ym, "w");
	fprintf(f, "%sweights: {safetensors: w.safetensors}\n", y);
	fclose(f);
	free(y);
	char *w = read_all(tu_golden("tiny-1k", "model.safetensors"), &n);
	const char *ws = in_dir(dir, "w.safetensors");
	put(ws, w, n);
	free(w);
	refused_keeps(dir, HYENAC_BIN, (const char *[]){"compile", ym, "-o", ym,
	                                                NULL}, ym);
	refused_keeps(dir, HYENAC_BIN, (const char *[]){"compile", ym, "-o", ws,
	                                                NULL}, ws);
	ck_assert(symlink("w.safetensors", in_dir(dir, "w.npy")) == 0);
	refused_keeps(dir, HYENAC_BIN, (const char *[]){"run", ym, "embed",
	                                                "--tokens", t, "-o",
	                                                "w.npy", NULL}, ws);

	/* every file of an HF checkpoint directory */
	const char *ck = in_dir(dir, "ck");
	ck_assert(mkdir(ck, 0755) == 0);
	const char *files[2] = {"config.json", "model.safetensors"};
	for (int i = 0; i < 2; i++) {
		char *b = read_all(tu_golden("tiny-1k", files[i]), &n);
		put(in_dir(ck, files[i]), b, n);
		free(b);
		refused_keeps(dir, HYENAC_BIN,
		              (const char *[]){"compile", ck, "-o",
		                               in_dir(ck, files[i]), NULL},
		              in_dir(ck, files[i]));
	}
	expect_listing(ck, "config.json\nmodel.safetensors\n");
	expect_listing(dir, "alias.npy\nck\ngenome\nm.yaml\nreads.tsv\nt.npy\n"
	                    "w.npy\nw.safetensors\n");
}
END_TEST

/* ---- case 3 and 11: -o '', -o -, extensions ---------------------------------- */

START_TEST(empty_stdout_and_extensions)
{
	const char *dir = fresh("names");
	const char *t = in_dir(dir, "t.npy"), *fa = in_dir(dir, "g.fa");
	Run r;
	tokens_at(t);
	put_str(fa, fasta_text);

	/* '' is usage, refused before any work, with no stray file */
	run_exe(&r, dir, (const char *[]){"embed", "--fasta", fa, "-o", "",
	                                  NULL});
	expect(&r, 2, (const char *[]){"empty", NULL});
	run_exe(&r, dir, (const char *[]){"score", "--fasta", fa, "-o", "",
	                                  NULL});
	expect(&r, 2, (const char *[]){"empty", NULL});
	run_exe(&r, dir, (const char *[]){"embed", "--tokens", t, "-o", "",
	                                  NULL});
	expect(&r, 2, (const char *[]){"empty", NULL});
	run_hyenac(&r, dir, (const char *[]){"run", yaml_src, "embed",
	                                     "--tokens", t, "-o", "", NULL});
	expect(&r, 2, (const char *[]){"empty", NULL});
	run_hyenac(&r, dir, (const char *[]){"compile", yaml_src, "-o", "",
	                                     NULL});
	expect(&r, 2, (const char *[]){"empty", NULL});

	/* - is standard output for score's table, usage anywhere else */
	run_exe(&r, dir, (const char *[]){"score", "--fasta", fa, "-o", "s.tsv",
	                                  NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	char *file = read_all(in_dir(dir, "s.tsv"), NULL);
	run_exe(&r, dir, (const char *[]){"score", "--fasta", fa, "-o", "-",
	                                  NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(file && strncmp(file, "record\t", 7) == 0);
	ck_assert_str_eq(r.out, file);
	free(file);
	ck_assert(unlink(in_dir(dir, "s.tsv")) == 0);
	const char *const dash[][9] = {
		{"embed", "--tokens", t, "-o", "-", NULL},
		{"embed", "--fasta", fa, "-o", "-", NULL},
	};
	for (int i = 0; i < 2; i++) {
		run_exe(&r, dir, dash[i]);
		expect(&r, 2, (const char *[]){"standard output", NULL});
	}
	run_hyenac(&r, dir, (const char *[]){"run", yaml_src, "embed",
	                                     "--tokens", t, "-o", "-", NULL});
	expect(&r, 2, (const char *[]){"standard output", NULL});
	run_hyenac(&r, dir, (const char *[]){"compile", yaml_src, "-o", "-",
	                                     NULL});
	expect(&r, 2, (const char *[]){"standard output", NULL});

	/* an extension must match the output's kind */
	run_exe(&r, dir, (const char *[]){"embed", "--fasta", fa, "-o",
	                                  "out.tsv", NULL});
	expect(&r, 2, (const char *[]){"out.tsv", ".npy", NULL});
	run_exe(&r, dir, (const char *[]){"score", "--fasta", fa, "-o", "s.npy",
	                                  NULL});
	expect(&r, 2, (const char *[]){"s.npy", ".tsv", NULL});
	run_exe(&r, dir, (const char *[]){"embed", "--tokens", t, "-o", "h.tsv",
	                                  NULL});
	expect(&r, 2, (const char *[]){"h.tsv", ".npy", NULL});
	run_hyenac(&r, dir, (const char *[]){"run", yaml_src, "embed",
	                                     "--tokens", t, "-o", "h.txt", NULL});
	expect(&r, 2, (const char *[]){"h.txt", ".npy", NULL});
	expect_listing(dir, "g.fa\nt.npy\n");

	/* no extension (or a dot-file) is taken as it is */
	run_exe(&r, dir, (const char *[]){"embed", "--fasta", fa, "-o", "plain",
	                                  NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	run_exe(&r, dir, (const char *[]){"score", "--fasta", fa, "-o",
	                                  ".scores", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	expect_listing(dir, ".scores\ng.fa\nplain\nplain.tsv\nt.npy\n");
}
END_TEST

/* ---- case 11: symlinks are followed ----------------------------------------- */

static bool is_link_to(const char *path, const char *to)
{
	char b[4096];
	ssize_t n = readlink(path, b, sizeof b - 1);
	if (n < 0)
		return false;
	b[n] = 0;
	return strcmp(b, to) == 0;
}

START_TEST(symlinks_followed)
{
	const char *dir = fresh("links");
	const char *t = in_dir(dir, "t.npy"), *fa = in_dir(dir, "g.fa");
	Run r;
	NpyArray a;
	Diag d;
	tokens_at(t);
	put_str(fa, fasta_text);

	/* to an existing file, and dangling (the target is created) */
	put_str(in_dir(dir, "old.tsv"), "old\n");
	ck_assert(symlink("old.tsv", in_dir(dir, "link.tsv")) == 0);
	run_exe(&r, dir, (const char *[]){"score", "--fasta", fa, "-o",
	                                  "link.tsv", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(is_link_to(in_dir(dir, "link.tsv"), "old.tsv"));
	char *s = read_all(in_dir(dir, "old.tsv"), NULL);
	ck_assert(strncmp(s, "record\t", 7) == 0);
	free(s);

	ck_assert(mkdir(in_dir(dir, "sub"), 0755) == 0);
	ck_assert(symlink("sub/h.npy", in_dir(dir, "h.npy")) == 0);
	run_exe(&r, dir, (const char *[]){"embed", "--tokens", t, "-o", "h.npy",
	                                  NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(is_link_to(in_dir(dir, "h.npy"), "sub/h.npy"));
	diag_init(&d);
	ck_assert_msg(npy_load(in_dir(dir, "sub/h.npy"), &a, &d), "%s", d.msg);
	ck_assert(a.rank == 3 && a.dim[0] == 2 && a.dim[1] == 4);
	npy_free(&a);

	ck_assert(symlink("sub/r.npy", in_dir(dir, "r.npy")) == 0);
	run_hyenac(&r, dir, (const char *[]){"run", yaml_src, "embed",
	                                     "--tokens", t, "-o", "r.npy", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(is_link_to(in_dir(dir, "r.npy"), "sub/r.npy"));
	ck_assert(npy_load(in_dir(dir, "sub/r.npy"), &a, &d));
	npy_free(&a);

	ck_assert(symlink("sub/x.npy", in_dir(dir, "x.npy")) == 0);
	run_exe(&r, dir, (const char *[]){"embed", "--fasta", fa, "-o", "x.npy",
	                                  NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(is_link_to(in_dir(dir, "x.npy"), "sub/x.npy"));
	ck_assert(npy_load(in_dir(dir, "sub/x.npy"), &a, &d));
	npy_free(&a);

	ck_assert(symlink("sub/model", in_dir(dir, "model")) == 0);
	run_hyenac(&r, dir, (const char *[]){"compile", yaml_src, "-o", "model",
	                                     "--seq-len", "64", "--emit", "obj",
	                                     NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(is_link_to(in_dir(dir, "model"), "sub/model"));
	ck_assert(access(in_dir(dir, "sub/model"), F_OK) == 0);
	expect_listing(in_dir(dir, "sub"), "h.npy\nmodel\nr.npy\nx.npy\n");
	expect_listing(dir, "g.fa\nh.npy\nlink.tsv\nmodel\nold.tsv\nr.npy\nsub\n"
	                    "t.npy\nx.npy\nx.tsv\n");
}
END_TEST

/* Two outputs of one run that are one file through a link: FASTA's X.tsv
 * a link to X.npy (existing or not yet), a library's header a link to
 * the library. Refused before any work, the link and its target kept. */
START_TEST(two_outputs_one_file)
{
	const char *dir = fresh("twoinone");
	const char *fa = in_dir(dir, "g.fa");
	Run r;
	put_str(fa, fasta_text);

	ck_assert(symlink("x.npy", in_dir(dir, "x.tsv")) == 0);
	run_exe(&r, dir, (const char *[]){"embed", "--fasta", fa, "-o", "x.npy",
	                                  NULL});
	expect(&r, 2, (const char *[]){"x.npy and x.tsv are one file", NULL});
	expect_listing(dir, "g.fa\nx.tsv\n");

	put_str(in_dir(dir, "y.npy"), "keep\n");
	ck_assert(symlink("y.npy", in_dir(dir, "y.tsv")) == 0);
	run_exe(&r, dir, (const char *[]){"embed", "--fasta", fa, "-o", "y.npy",
	                                  NULL});
	expect(&r, 2, (const char *[]){"one file", NULL});
	char *kept = read_all(in_dir(dir, "y.npy"), NULL);
	ck_assert_str_eq(kept, "keep\n");
	free(kept);

	ck_assert(symlink("libm.so", in_dir(dir, "hyenac_model.h")) == 0);
	run_hyenac(&r, dir, (const char *[]){"compile", yaml_src, "-o",
	                                     "libm.so", "--emit", "lib",
	                                     "--seq-len", "64", NULL});
	expect(&r, 2, (const char *[]){"one file", NULL});
	expect_listing(dir, "g.fa\nhyenac_model.h\nx.tsv\ny.npy\ny.tsv\n");
}
END_TEST

/* ---- case 3: FASTA's two outputs, committed together ---------------------------- */

/* embed --fasta - -o X.npy reading a pipe we hold; once its temporaries
 * exist, make the name `spoil` a directory, then let it finish: it must
 * fail in one line and leave X.npy and X.tsv as they were. */
static void spoil_commit(const char *dir, const char *spoil)
{
	const char *x = in_dir(dir, "x.npy"), *xt = in_dir(dir, "x.tsv");
	const char *keep = strcmp(spoil, "x.npy") == 0 ? xt : x;
	int in[2], st;

	put_str(x, "old npy\n");
	put_str(xt, "old tsv\n");
	int ino = inotify_init1(IN_CLOEXEC);
	ck_assert(ino >= 0);
	ck_assert(inotify_add_watch(ino, dir, IN_CREATE) >= 0);
	ck_assert(pipe(in) == 0);
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		close(in[1]);
		int e = open(in_dir(dir, "err"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(e, 2);
		execl(exe, exe, "embed", "--fasta", "-", "-o", x, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	ck_assert(write(in[1], ">a\nACGTACGT", 11) == 11);
	/* Wait for both temporaries (the poll bound only guards a hang). */
	int seen = 0;
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd pf = {ino, POLLIN, 0};
	while (seen < 2 && poll(&pf, 1, 60000) == 1) {
		ssize_t n = read(ino, ev, sizeof ev);
		for (char *q = ev; n > 0 && q < ev + n;) {
			struct inotify_event *ie = (struct inotify_event *)q;
			seen += ie->len && strstr(ie->name, ".tmp.") != NULL;
			q += sizeof *ie + ie->len;
		}
	}
	close(ino);
	ck_assert_msg(seen == 2, "temporaries did not appear");
	ck_assert(unlink(in_dir(dir, spoil)) == 0);
	ck_assert(mkdir(in_dir(dir, spoil), 0755) == 0);
	close(in[1]);
	ck_assert(waitpid(pid, &st, 0) == pid);
	char *err = read_all(in_dir(dir, "err"), NULL);
	unlink(in_dir(dir, "err"));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %#x: %s",
	              st, err);
	ck_assert_msg(tu_lines(err) == 1 && strstr(err, spoil), "%s", err);
	free(err);
	char *k = read_all(keep, NULL);
	ck_assert_msg(k && strcmp(k, keep == x ? "old npy\n" : "old tsv\n") == 0,
	              "%s was replaced", keep);
	free(k);
	struct stat sb;
	ck_assert(stat(in_dir(dir, spoil), &sb) == 0 && S_ISDIR(sb.st_mode));
	ck_assert(rmdir(in_dir(dir, spoil)) == 0);
	ck_assert(unlink(keep) == 0);
	expect_listing(dir, "");
}

START_TEST(fasta_outputs_together)
{
	/* x.tsv is renamed first: spoiling x.npy makes it be undone */
	spoil_commit(fresh("together1"), "x.npy");
	spoil_commit(fresh("together2"), "x.tsv");
}
END_TEST

/* ---- case 4: compile's temporaries ----------------------------------------------- */

/* The old scheme's names (OUT.tmp.PID.o, OUT.tmp.PID) planted as links
 * to a victim before compile starts (the child waits on a pipe until
 * they are there): nothing is written through them, and OUT is all that
 * appears. */
START_TEST(compile_ignores_planted_links)
{
	const char *dir = fresh("planted");
	const char *victim = in_dir(dir, "victim");
	const char *out = in_dir(dir, "m");
	int go[2], st;
	char name[4096];

	put_str(victim, "victim\n");
	ck_assert(pipe(go) == 0);
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		char c;
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(126);
		int dn = open("/dev/null", O_WRONLY);
		dup2(dn, 2);
		execl(HYENAC_BIN, HYENAC_BIN, "compile", yaml_src, "-o", out,
		      "--seq-len", "64", (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	const char *suffix[3] = {".o", "", ".map"};
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof name, "%s.tmp.%ld%s", out, (long)pid,
		         suffix[i]);
		ck_assert(symlink("victim", name) == 0);
	}
	ck_assert(write(go[1], "x", 1) == 1);
	close(go[1]);
	ck_assert(waitpid(pid, &st, 0) == pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	char *v = read_all(victim, NULL);
	ck_assert_str_eq(v, "victim\n");
	free(v);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof name, "%s.tmp.%ld%s", out, (long)pid,
		         suffix[i]);
		ck_assert(is_link_to(name, "victim"));
		unlink(name);
	}
	expect_listing(dir, "m\nvictim\n");
}
END_TEST

/* SIGTERM while compile works: when its private directory appears (LLVM
 * is compiling), and when the linker's log appears in it (the linker is
 * running): it dies by the signal and the directory is as before. */
START_TEST(sigterm_leaves_nothing)
{
	for (int when = 0; when < 2; when++) {
		const char *dir = fresh(when ? "term-link" : "term-llvm");
		int st;
		put_str(in_dir(dir, "before"), "x");
		int ino = inotify_init1(IN_CLOEXEC);
		ck_assert(ino >= 0);
		ck_assert(inotify_add_watch(ino, dir, IN_CREATE) >= 0);
		pid_t pid = fork();
		ck_assert(pid >= 0);
		if (pid == 0) {
			int dn = open("/dev/null", O_WRONLY);
			dup2(dn, 2);
			execl(HYENAC_BIN, HYENAC_BIN, "compile", yaml_src, "-o",
			      tu_path(dir, "m"), (char *)NULL);
			_exit(127);
		}
		bool hit = false;
		char ev[4096]
		    __attribute__((aligned(__alignof__(struct inotify_event))));
		struct pollfd pf = {ino, POLLIN, 0};
		while (!hit && poll(&pf, 1, 60000) == 1) {
			ssize_t n = read(ino, ev, sizeof ev);
			for (char *q = ev; n > 0 && q < ev + n;) {
				struct inotify_event *ie = (struct inotify_event *)q;
				if (ie->len && strncmp(ie->name, "m.tmp.", 6) == 0) {
					if (when == 0)
						hit = true;
					else /* watch inside it */
						inotify_add_watch(ino, tu_path(dir, ie->name),
						                  IN_CREATE);
				}
				if (ie->len && strcmp(ie->name, "link.log") == 0)
					hit = true;
				q += sizeof *ie + ie->len;
			}
		}
		close(ino);
		ck_assert_msg(hit, "compile's temporaries did not appear");
		kill(pid, SIGTERM);
		ck_assert(waitpid(pid, &st, 0) == pid);
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
		              "status %#x", st);
		expect_listing(dir, "before\n");
	}
}
END_TEST

/* A full disk, as RLIMIT_FSIZE makes one: writing the object (LLVM), the
 * linked file (the linker) and the packed weights (tiny-1k's object is
 * about 60 KB, linked 300-400 KB, with its weights 3.8 MB) each fail in
 * one line naming the output and the cause, exit 1, nothing left. */
START_TEST(disk_full_compile)
{
	static const rlim_t limits[3] = {16 << 10, 200 << 10, 1 << 20};
	static const char *const emit[2] = {"exe", "lib"};
	for (int e = 0; e < 2; e++)
		for (int i = 0; i < 3; i++) {
			char name[64];
			snprintf(name, sizeof name, "full-%s-%d", emit[e], i);
			const char *dir = fresh(name);
			Run r;
			xrun(&r, dir, limits[i], NULL, HYENAC_BIN,
			     (const char *[]){"compile", yaml_src, "-o", "libm.so",
			                      "--seq-len", "64", "--emit", emit[e],
			                      NULL});
			expect(&r, 1, (const char *[]){"libm.so: ", NULL});
			/* GNU ld reports its short write as ENOSPC */
			ck_assert_msg(strstr(r.err, "File too large") ||
			              strstr(r.err, "No space left on device"),
			              "%s", r.err);
			ck_assert_msg(!strstr(r.err, ".tmp."), "%s", r.err);
			expect_listing(dir, "");
		}
}
END_TEST

/* A linker that fails with pages of output: one line naming the output
 * (never the private directory), exit 1, nothing left. */
START_TEST(linker_failure_one_line)
{
	const char *dir = fresh("badcc");
	const char *cc = tu_path(tu_tmpdir(), "bad-cc");
	const char *old = getenv("CC");
	char *keep = old ? strdup(old) : NULL;
	Run r;

	put_str(cc, "#!/bin/sh\n"
	            "echo 'note: starting' >&2\n"
	            "echo \"ld: error: cannot write $3: Bad luck\" >&2\n"
	            "echo 'collect2: error: ld returned 1 exit status' >&2\n"
	            "exit 1\n");
	ck_assert(chmod(cc, 0755) == 0);
	setenv("CC", cc, 1);
	xrun(&r, dir, 0, NULL, HYENAC_BIN,
	     (const char *[]){"compile", yaml_src, "-o", "m", "--seq-len", "64",
	                      NULL});
	if (keep)
		setenv("CC", keep, 1);
	else
		unsetenv("CC");
	free(keep);
	expect(&r, 1, (const char *[]){"m: linking failed: ld: error: cannot "
	                               "write m: Bad luck", NULL});
	expect_listing(dir, "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("outputs");
	TCase *tc = tcase_create("outputs");
	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, non_regular_targets);
	tcase_add_test(tc, input_as_output);
	tcase_add_test(tc, empty_stdout_and_extensions);
	tcase_add_test(tc, symlinks_followed);
	tcase_add_test(tc, two_outputs_one_file);
	tcase_add_test(tc, fasta_outputs_together);
	tcase_add_test(tc, compile_ignores_planted_links);
	tcase_add_test(tc, sigterm_leaves_nothing);
	tcase_add_test(tc, disk_full_compile);
	tcase_add_test(tc, linker_failure_one_line);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
