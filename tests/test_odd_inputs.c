/*
 * test_odd_inputs.c - the small hostile cases of issue 12 (case 10), as a
 * user meets them through hyenac and a compiled model binary:
 *
 *   - a FIFO (or device) named as a model description, config.json, a
 *     checkpoint, IR text or a library's weights file is refused at once,
 *     not waited on (each run here carries an alarm, so a regression
 *     fails instead of hanging);
 *   - control characters in a model name are refused where they stand,
 *     and a name derived from a file name cannot forge `info` lines;
 *   - a FASTA record name with control characters reaches stderr escaped
 *     and the TSV byte for byte; so does any argument or path a message
 *     quotes, from hyenac or a binary: a message is one line;
 *   - an option given twice to hyenac is a usage error;
 *   - a float token file is told which dtypes tokens take;
 *   - a (0, L) token array gives empty outputs of the right shapes, and
 *     says so in one warning line.
 *
 * One model (tiny-1k at --seq-len 64) is compiled once, before the tests
 * fork.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/hyrt.h"
#include "ir/ir.h"
#include "runtime/npy.h"
#include "testutil.h"

static char exe[4096];

static void setup(void)
{
	RunResult r;

	snprintf(exe, sizeof exe, "%s", tu_path(tu_tmpdir(), "tiny64"));
	tu_run_hyenac(&r, (const char *[]){
	    "compile", tu_source("models/hyenadna-tiny-1k.yaml"), "-o", exe,
	    "--seq-len", "64", NULL});
	if (r.status != 0) {
		fprintf(stderr, "compile failed: %s\n", r.err);
		exit(1);
	}
}

/* Run prog with args as tu_run does (stdin /dev/null), but with an alarm
 * set in the child: a program that blocks (in open() on a FIFO) is
 * killed by SIGALRM after `secs` and reported as such. */
static void run_guarded(RunResult *r, const char *prog,
                        const char *const *args, unsigned secs)
{
	const char *argv[32];
	const char *errp = tu_path(tu_tmpdir(), "guarded.err");
	int n = 0, st;

	memset(r, 0, sizeof *r);
	argv[n++] = prog;
	for (; *args && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open("/dev/null", O_WRONLY);
		int err = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		alarm(secs);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	ck_assert(waitpid(pid, &st, 0) == pid);
	if (WIFSIGNALED(st)) {
		r->status = -1;
		r->signal = WTERMSIG(st);
	} else {
		r->status = WEXITSTATUS(st);
	}
	size_t len;
	char *e = tu_read(errp, &len);
	ck_assert(e != NULL);
	snprintf(r->err, sizeof r->err, "%s", e);
	free(e);
}

/* Exit `code`, one line on stderr holding every needle. */
static void expect_one_line(const RunResult *r, int code,
                            const char *const *needles)
{
	ck_assert_msg(r->signal == 0, "killed by signal %d (%s): %s", r->signal,
	              r->signal == SIGALRM ? "it hung" : "crash", r->err);
	ck_assert_msg(r->status == code, "exit %d, want %d; stderr: %s",
	              r->status, code, r->err);
	ck_assert_msg(tu_lines(r->err) == 1, "want one line, got: %s", r->err);
	for (; needles && *needles; needles++)
		ck_assert_msg(strstr(r->err, *needles), "'%s' not in: %s",
		              *needles, r->err);
}

static const char *fifo(const char *name)
{
	const char *p = tu_path(tu_tmpdir(), name);
	unlink(p);
	ck_assert(mkfifo(p, 0600) == 0);
	return p;
}

static void hyenac_guarded(RunResult *r, const char *const *args)
{
	run_guarded(r, HYENAC_BIN, args, 20);
}

/* ---- FIFOs and devices as model inputs ---------------------------------- */

START_TEST(fifo_model_inputs)
{
	RunResult r;
	size_t n;

	/* the description itself */
	const char *y = fifo("m.yaml");
	hyenac_guarded(&r, (const char *[]){"info", y, NULL});
	expect_one_line(&r, 1, (const char *[]){y, "FIFO", NULL});
	hyenac_guarded(&r, (const char *[]){"compile", y, "-o",
	                                    tu_path(tu_tmpdir(), "never"), NULL});
	expect_one_line(&r, 1, (const char *[]){y, "FIFO", NULL});

	/* a checkpoint directory whose config.json is a FIFO */
	const char *dir = tu_path(tu_tmpdir(), "ck-fifo");
	mkdir(dir, 0755);
	char *w = tu_read(tu_golden("tiny-1k", "model.safetensors"), &n);
	tu_write("ck-fifo/model.safetensors", w, n);
	free(w);
	const char *cfg = fifo("ck-fifo/config.json");
	hyenac_guarded(&r, (const char *[]){"info", dir, NULL});
	expect_one_line(&r, 1, (const char *[]){cfg, "FIFO", NULL});

	/* ... and one whose model.safetensors is */
	dir = tu_path(tu_tmpdir(), "ck-fifo2");
	mkdir(dir, 0755);
	char *c = tu_read(tu_golden("tiny-1k", "config.json"), &n);
	tu_write("ck-fifo2/config.json", c, n);
	free(c);
	const char *st = fifo("ck-fifo2/model.safetensors");
	hyenac_guarded(&r, (const char *[]){"info", dir, NULL});
	expect_one_line(&r, 1, (const char *[]){st, "FIFO", NULL});

	/* a description whose safetensors path names a FIFO */
	fifo("w.safetensors");
	char *text = tu_read(tu_source("models/hyenadna-tiny-1k.yaml"), NULL);
	char *seed = strstr(text, "{seed: 1}");
	ck_assert_ptr_nonnull(seed);
	*seed = 0;
	char *yw = malloc(strlen(text) + 64);
	sprintf(yw, "%s{safetensors: w.safetensors}\n", text);
	y = tu_write_str("fifo-weights.yaml", yw);
	free(yw);
	free(text);
	hyenac_guarded(&r, (const char *[]){"info", y, NULL});
	expect_one_line(&r, 1, (const char *[]){"w.safetensors", "FIFO", NULL});

	/* IR text for opt */
	const char *ir = fifo("g.ir");
	hyenac_guarded(&r, (const char *[]){"opt", "--pass=dce", ir, NULL});
	expect_one_line(&r, 1, (const char *[]){ir, "FIFO", NULL});

	/* a device is no file either */
	hyenac_guarded(&r, (const char *[]){"info", "/dev/null", NULL});
	expect_one_line(&r, 1, (const char *[]){"/dev/null", "device", NULL});
}
END_TEST

/* hyenac_model_load(path) reads a library's weights from a file the
 * caller names: hyrt_blob_open must not wait on a FIFO either. The alarm
 * ends this forked test if it does. */
START_TEST(weights_fifo_refused)
{
	HyrtBlob b;
	Diag d;
	const char *p = fifo("weights.fifo");

	diag_init(&d);
	alarm(20);
	ck_assert(!hyrt_blob_open(&b, p, 0, &d));
	alarm(0);
	ck_assert_msg(strstr(d.msg, p) && strstr(d.msg, "FIFO"), "%s", d.msg);
}
END_TEST

/* ---- names ------------------------------------------------------------------ */

/* tiny-1k's description with its name line replaced. */
static const char *yaml_named(const char *file, const char *name_line)
{
	char *text = tu_read(tu_source("models/hyenadna-tiny-1k.yaml"), NULL);
	char *at = strstr(text, "name: hyenadna-tiny-1k\n");
	ck_assert_ptr_nonnull(at);
	size_t cap = strlen(text) + strlen(name_line) + 1;
	char *out = malloc(cap);
	snprintf(out, cap, "%.*s%s%s", (int)(at - text), text, name_line,
	         at + strlen("name: hyenadna-tiny-1k\n"));
	const char *p = tu_write_str(file, out);
	free(out);
	free(text);
	return p;
}

START_TEST(yaml_name_control_characters)
{
	RunResult r;
	/* the name line is line 6 of the description; the value at col 7 */
	const char *y = yaml_named("nl.yaml",
	                           "name: \"x\\nweights=evil.safetensors\"\n");
	tu_run_hyenac(&r, (const char *[]){"info", y, NULL});
	expect_one_line(&r, 1, (const char *[]){"nl.yaml:6:7", "'name'",
	                                        "control characters", "0x0a",
	                                        NULL});
	ck_assert_str_eq(r.out, "");
	y = yaml_named("esc.yaml", "name: \"a\\e[2Jb\"\n");
	tu_run_hyenac(&r, (const char *[]){"info", y, NULL});
	expect_one_line(&r, 1, (const char *[]){"esc.yaml:6:7", "0x1b", NULL});
	y = yaml_named("tab.yaml", "name: \"a\\tb\"\n");
	tu_run_hyenac(&r, (const char *[]){"info", y, NULL});
	expect_one_line(&r, 1, (const char *[]){"tab.yaml:6:7", "0x09", NULL});
	y = yaml_named("c1.yaml", "name: \"a\\u009bb\"\n");
	tu_run_hyenac(&r, (const char *[]){"info", y, NULL});
	expect_one_line(&r, 1, (const char *[]){"c1.yaml:6:7", "offset 1",
	                                        NULL});
	/* UTF-8 beyond the controls is a name like any other */
	y = yaml_named("utf8.yaml", "name: \"h\\u00e9na\"\n");
	tu_run_hyenac(&r, (const char *[]){"info", y, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "model=h\xc3\xa9na\n"));
}
END_TEST

/* A description without a name is named after its file: a newline in
 * the file name must not forge a line of `info`. */
START_TEST(file_name_cannot_forge_info_lines)
{
	RunResult r;
	char *text = tu_read(tu_source("models/hyenadna-tiny-1k.yaml"), NULL);
	char *at = strstr(text, "name: hyenadna-tiny-1k\n");
	ck_assert_ptr_nonnull(at);
	memset(at, ' ', strlen("name: hyenadna-tiny-1k"));
	const char *y = tu_write_str("m\nweights=forged.yaml", text);
	free(text);
	tu_run_hyenac(&r, (const char *[]){"info", y, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "model=m_weights=forged\n"));
	ck_assert_ptr_null(strstr(r.out, "\nweights=forged"));
	ck_assert_int_eq(tu_lines(r.out), 4);
}
END_TEST

START_TEST(fasta_names_escaped)
{
	RunResult r;
	/* an empty record whose name clears the screen, then one with bases
	 * and a bell in its name */
	const char *in = tu_write_str("ctl.fa", ">e\x1b[2J\n>b\x07x\nACGTACGT\n");
	const char *x = tu_path(tu_tmpdir(), "ctl.npy");

	tu_run(&r, exe, (const char *[]){"embed", "--fasta", in, "-o", x, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.err, "'e\\x1b[2J'"), "%s", r.err);
	ck_assert_msg(!strchr(r.err, '\x1b'), "raw ESC in: %s", r.err);
	ck_assert_int_eq(tu_lines(r.err), 1);
	/* the TSV keeps the name as the FASTA has it, to join on */
	char *tsv = tu_read(tu_path(tu_tmpdir(), "ctl.tsv"), NULL);
	ck_assert_ptr_nonnull(tsv);
	ck_assert_str_eq(tsv, "record\tstart\tend\ttokens\nb\x07x\t0\t8\t9\n");
	free(tsv);
}
END_TEST

/* Text from the command line comes back escaped: a message stays one
 * line whatever an argument or a path holds. */
START_TEST(messages_stay_one_line)
{
	RunResult r;
	const char *nl = tu_path(tu_tmpdir(), "no\nsuch\x1b[2J.yaml");

	/* a Diag reads line ends as spaces (a library's multi-line text)
	 * and escapes the rest */
	tu_run_hyenac(&r, (const char *[]){"info", nl, NULL});
	expect_one_line(&r, 1, (const char *[]){"no such\\x1b[2J.yaml", NULL});
	tu_run_hyenac(&r, (const char *[]){"frob\nnicate", NULL});
	expect_one_line(&r, 2, (const char *[]){"frob\\x0anicate", NULL});
	tu_run(&r, exe, (const char *[]){"embed", "x\ny", NULL});
	expect_one_line(&r, 2, (const char *[]){"'x\\x0ay'", "--help", NULL});
	tu_run(&r, exe, (const char *[]){"embed", "--tokens", nl, "-o",
	                                 tu_path(tu_tmpdir(), "o.npy"), NULL});
	expect_one_line(&r, 1, (const char *[]){"no such\\x1b[2J", NULL});
	ck_assert(!strchr(r.err, '\x1b'));
}
END_TEST

/* ---- hyenac options --------------------------------------------------------- */

START_TEST(duplicate_options)
{
	const char *m = tu_source("models/hyenadna-tiny-1k.yaml");
	const char *o = tu_path(tu_tmpdir(), "dup-never");
	static const char *const pairs[][2] = {
		{"--seq-len", "16"}, {"--batch", "2"}, {"--emit", "ir"},
		{"--target-cpu", "x86-64"}, {"-o", "other"}};
	RunResult r;

	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		tu_run_hyenac(&r, (const char *[]){"compile", m, "-o", o,
		                                   pairs[i][0], pairs[i][1],
		                                   pairs[i][0], pairs[i][1], NULL});
		expect_one_line(&r, 2, (const char *[]){"given twice",
		                                        pairs[i][0], NULL});
		ck_assert_msg(access(o, F_OK) != 0, "%s written", o);
	}
	/* the spellings of one option count as one */
	const char *const same[][2] = {{"-O0", "-O3"},
	                               {"--conv=fft", "--conv=direct"},
	                               {"--stats", "--stats"},
	                               {"--no-fuse", "--no-fuse"}};
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		tu_run_hyenac(&r, (const char *[]){"compile", m, "-o", o,
		                                   same[i][0], same[i][1], NULL});
		expect_one_line(&r, 2, (const char *[]){"given twice", NULL});
		ck_assert(access(o, F_OK) != 0);
	}
	tu_run_hyenac(&r, (const char *[]){"ir", m, "--print-after=dce",
	                                   "--print-after-all", NULL});
	expect_one_line(&r, 2, (const char *[]){"'--print-after' given twice",
	                                        NULL});
	tu_run_hyenac(&r, (const char *[]){"run", m, "embed", "--tokens", "a",
	                                   "--tokens", "b", "-o", o, NULL});
	expect_one_line(&r, 2, (const char *[]){"'--tokens' given twice",
	                                        NULL});
	/* an option's value may look like an option */
	tu_run_hyenac(&r, (const char *[]){"run", m, "embed", "--tokens", "-o",
	                                   "-o", o, NULL});
	ck_assert_msg(r.status == 1 && strstr(r.err, "-o: cannot open"),
	              "%d %s", r.status, r.err);
}
END_TEST

/* ---- token files ------------------------------------------------------------ */

static const char *save_i32(const char *name, const int32_t *t, int64_t B,
                            int64_t L)
{
	const char *p = tu_path(tu_tmpdir(), name);
	int64_t dim[2] = {B, L};
	Diag d;
	diag_init(&d);
	ck_assert_msg(npy_save_i32(p, t, 2, dim, &d), "%s", d.msg);
	return p;
}

START_TEST(float_tokens_name_integer_dtypes)
{
	const char *o = tu_path(tu_tmpdir(), "ft-never.npy");
	const char *fp = tu_path(tu_tmpdir(), "ftok.npy");
	float f[4] = {7, 8, 9, 10};
	int64_t dim[2] = {1, 4};
	RunResult r;
	Diag d;

	diag_init(&d);
	ck_assert(npy_save_f32(fp, f, 2, dim, &d));
	tu_run(&r, exe, (const char *[]){"embed", "--tokens", fp, "-o", o,
	                                 NULL});
	expect_one_line(&r, 1, (const char *[]){"ftok.npy", "'<f4'",
	                                        "floating point", "<i4",
	                                        "|u1", NULL});
	ck_assert(access(o, F_OK) != 0);
	tu_run_hyenac(&r, (const char *[]){"run",
	    tu_source("models/hyenadna-tiny-1k.yaml"), "embed", "--tokens", fp,
	    "-o", o, NULL});
	expect_one_line(&r, 1, (const char *[]){"floating point", "<i8", NULL});

	/* a dtype nobody reads: the list is the integer one */
	size_t n;
	char *b = tu_read(fp, &n);
	char *descr = memmem(b, n, "<f4", 3);
	ck_assert_ptr_nonnull(descr);
	memcpy(descr, "<c8", 3);
	const char *cp = tu_write("ctok.npy", b, n);
	free(b);
	tu_run(&r, exe, (const char *[]){"logits", "--tokens", cp, "-o", o,
	                                 NULL});
	expect_one_line(&r, 1, (const char *[]){"unsupported dtype '<c8'",
	                                        "|i1 <i2 <i4 <i8", NULL});
	ck_assert_msg(!strstr(r.err, "f4") && !strstr(r.err, "f8"), "%s",
	              r.err);
}
END_TEST

/* A batch of no rows: every command gives an empty output of its shape,
 * exit 0, and one warning. */
START_TEST(empty_batch)
{
	static const int32_t none[1] = {7};
	const char *t = save_i32("empty.npy", none, 0, 5);
	const char *o = tu_path(tu_tmpdir(), "empty-out.npy");
	static const struct {
		const char *cmd, *pool;
		int rank;
		int64_t dim[3];
	} cases[] = {
		{"embed", NULL, 3, {0, 5, 128}},
		{"logits", NULL, 3, {0, 5, 16}},
		{"embed", "mean", 2, {0, 128}},
		{"embed", "last", 2, {0, 128}},
	};
	RunResult r;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unlink(o);
		if (cases[i].pool)
			tu_run(&r, exe, (const char *[]){cases[i].cmd, "--tokens", t,
			                                 "-o", o, "--pool",
			                                 cases[i].pool, NULL});
		else
			tu_run(&r, exe, (const char *[]){cases[i].cmd, "--tokens", t,
			                                 "-o", o, NULL});
		expect_one_line(&r, 0, (const char *[]){"warning", "empty.npy",
		                                        "no rows", NULL});
		NpyArray a;
		Diag d;
		diag_init(&d);
		ck_assert_msg(npy_load(o, &a, &d), "%s", d.msg);
		ck_assert_int_eq(a.dtype, DT_F32);
		ck_assert_int_eq(a.rank, cases[i].rank);
		for (int k = 0; k < a.rank; k++)
			ck_assert_int_eq(a.dim[k], cases[i].dim[k]);
		npy_free(&a);
	}
	/* a length of 0 is still refused, with or without rows */
	t = save_i32("empty0.npy", none, 0, 0);
	tu_run(&r, exe, (const char *[]){"embed", "--tokens", t, "-o", o, NULL});
	expect_one_line(&r, 1, (const char *[]){"sequence length is 0", NULL});
}
END_TEST

int main(void)
{
	Suite *s = suite_create("odd_inputs");
	TCase *tc = tcase_create("odd_inputs");
	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, fifo_model_inputs);
	tcase_add_test(tc, weights_fifo_refused);
	tcase_add_test(tc, yaml_name_control_characters);
	tcase_add_test(tc, file_name_cannot_forge_info_lines);
	tcase_add_test(tc, fasta_names_escaped);
	tcase_add_test(tc, messages_stay_one_line);
	tcase_add_test(tc, duplicate_options);
	tcase_add_test(tc, float_tokens_name_integer_dtypes);
	tcase_add_test(tc, empty_batch);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
