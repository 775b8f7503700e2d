/*
 * test_limits.c - hostile sizes (issue 8): the memory budget of
 * frontend/limits.c (HYENAC_MEMORY_LIMIT, refusals that name the bytes
 * needed, overflow), a seeded model too big to initialise refused before
 * anything is allocated, the readers' bounds on header lengths, shapes,
 * nesting, names and windows, and the command line's promise for every
 * bad file in the fuzz corpus, hyenac's and a generated executable's:
 * exit 0 or 1, never a signal, one line on stderr naming the file, no
 * output file left behind.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../frontend/json.h"
#include "../frontend/limits.h"
#include "../runtime/fasta.h"
#include "../runtime/npy.h"
#include "testutil.h"

static Arena *A;
static Diag D;

static void setup(void)
{
	A = arena_new();
	diag_init(&D);
	unsetenv("HYENAC_MEMORY_LIMIT");
}

static void teardown(void)
{
	arena_free(A);
}

static void one_line_naming(const Diag *d, const char *file, const char *want)
{
	ck_assert_msg(!diag_ok(d), "expected an error");
	ck_assert_msg(strchr(d->msg, '\n') == NULL, "not one line: %s", d->msg);
	ck_assert_msg(strstr(d->msg, file), "'%s' does not name %s", d->msg,
	              file);
	ck_assert_msg(strstr(d->msg, want), "'%s' does not say '%s'", d->msg,
	              want);
}

/* ---- the memory budget ------------------------------------------------- */

START_TEST(test_memory_limit_env)
{
	int64_t phys = fe_memory_limit();
	ck_assert(phys > 0);
	setenv("HYENAC_MEMORY_LIMIT", "12345", 1);
	ck_assert_int_eq(fe_memory_limit(), 12345);
	setenv("HYENAC_MEMORY_LIMIT", "4K", 1);
	ck_assert_int_eq(fe_memory_limit(), 4096);
	setenv("HYENAC_MEMORY_LIMIT", "2GB", 1);
	ck_assert_int_eq(fe_memory_limit(), (int64_t)2 << 30);
	setenv("HYENAC_MEMORY_LIMIT", "3t", 1);
	ck_assert_int_eq(fe_memory_limit(), (int64_t)3 << 40);
	/* nonsense, zero and overflow fall back to physical memory here;
	 * hyenac and the binaries refuse them first (test_memory.c) */
	const char *bad[] = {"", "x", "-5", "0", "1.5G", "12Q", "99999999999T",
	                     "18446744073709551616"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("HYENAC_MEMORY_LIMIT", bad[i], 1);
		ck_assert_msg(fe_memory_limit() == phys, "'%s' taken", bad[i]);
	}
}
END_TEST

START_TEST(test_check_memory)
{
	ModelSpec s;
	int64_t w, est;

	fe_spec_defaults(&s);
	w = fe_weight_bytes(&s);
	ck_assert(w > 0 && w < (64 << 20));
	est = fe_activation_estimate(&s, 1, 1024);
	ck_assert(est > 0);
	ck_assert(fe_activation_estimate(&s, 2, 1024) > est);
	ck_assert_int_eq(fe_activation_estimate(&s, INT64_MAX, 2), INT64_MAX);

	setenv("HYENAC_MEMORY_LIMIT", "1G", 1);
	ck_assert_msg(fe_check_memory(&s, 0, 1, 1024, "m.yaml", &D), "%s",
	              D.msg);
	ck_assert(fe_check_memory(&s, 1000000, 1, 1024, "m.yaml", &D));
	/* the plan's figure wins over the estimate when given */
	ck_assert(!fe_check_memory(&s, (int64_t)2 << 30, 1, 1024, "m.yaml",
	                           &D));
	one_line_naming(&D, "m.yaml", "needs 2.1 GB");
	ck_assert_msg(strstr(D.msg, "batch 1 x seq-len 1024"), "%s", D.msg);
	ck_assert_msg(strstr(D.msg, "(1073741824 bytes) memory limit"), "%s",
	              D.msg);

	/* the estimate alone refuses a length that cannot fit */
	diag_init(&D);
	ck_assert(!fe_check_memory(&s, 0, 8, (int64_t)1 << 31, "m.yaml", &D));
	one_line_naming(&D, "m.yaml", "HYENAC_MEMORY_LIMIT");
	char want[64];
	snprintf(want, sizeof want, "%lld activations",
	         (long long)fe_activation_estimate(&s, 8, (int64_t)1 << 31));
	ck_assert_msg(strstr(D.msg, want), "%s lacks %s", D.msg, want);

	diag_init(&D);
	ck_assert(!fe_check_memory(&s, 0, INT64_MAX / 2, 1 << 20, "m.yaml", &D));
	one_line_naming(&D, "m.yaml", "more than 2^63 bytes");
}
END_TEST

/* A seeded description whose weights would not fit is refused before the
 * random initialisation allocates them (it used to start, and fill memory
 * for minutes). */
START_TEST(test_weights_too_big)
{
	const char *p = tu_write_str("big.yaml", "d_model: 8192\nn_layer: 64\n"
	                             "max_seq_len: 1024\nweights: {seed: 1}\n");
	RunResult r;
	setenv("HYENAC_MEMORY_LIMIT", "1G", 1);
	ck_assert(fe_load_model(A, p, &D) == NULL);
	one_line_naming(&D, p, "weights need");
	ck_assert_msg(strstr(D.msg, "more than the 1.1 GB (1073741824 bytes)"),
	              "%s", D.msg);
	tu_run_hyenac(&r, (const char *[]){"info", p, NULL});
	ck_assert_int_eq(r.signal, 0);
	ck_assert_int_eq(r.status, 1);
	ck_assert_int_eq(tu_lines(r.err), 1);
	ck_assert_msg(strstr(r.err, p) && strstr(r.err, "weights need"), "%s",
	              r.err);

	/* the same model fits a larger limit's arithmetic */
	ModelSpec s;
	WeightSource w;
	diag_init(&D);
	ck_assert(fe_yaml_load(A, p, &s, &w, &D));
	setenv("HYENAC_MEMORY_LIMIT", "1T", 1);
	ck_assert(fe_check_weight_memory(&s, p, &D));
}
END_TEST

/* ---- the readers' bounds ------------------------------------------------ */

static const char *npy_with(const char *name, const char *dict, int version,
                            size_t body)
{
	char buf[512];
	size_t hl = strlen(dict), pre = version == 1 ? 10 : 12, n;
	size_t pad = (64 - (pre + hl + 1) % 64) % 64;
	unsigned char *out;

	snprintf(buf, sizeof buf, "%s%*s\n", dict, (int)pad, "");
	hl = strlen(buf);
	n = pre + hl + body;
	out = calloc(1, n);
	memcpy(out, "\x93NUMPY", 6);
	out[6] = (unsigned char)version;
	for (size_t i = 0; i < pre - 8; i++)
		out[8 + i] = (unsigned char)(hl >> (8 * i));
	memcpy(out + pre, buf, hl);
	const char *p = tu_write(name, out, n);
	free(out);
	return p;
}

START_TEST(test_npy_bounds)
{
	NpyArray a;
	const char *p;
	unsigned char big[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0,
	                         0xff, 0xff, 0xff, 0x7f};

	p = npy_with("overflow.npy", "{'descr': '<i4', 'fortran_order': "
	             "False, 'shape': (4611686018427387904, 4611686018427387904), }",
	             1, 0);
	ck_assert(!npy_load(p, &a, &D));
	one_line_naming(&D, p, "is too large");
	ck_assert_msg(strstr(D.msg, "at byte"), "%s", D.msg);

	/* a header length of 2 GB is refused before it is read */
	diag_init(&D);
	p = tu_write("hugehdr.npy", big, sizeof big);
	ck_assert(!npy_load(p, &a, &D));
	one_line_naming(&D, p, "exceeds the limit");

	/* a large shape over a short body: refused, never allocated */
	diag_init(&D);
	p = npy_with("short.npy", "{'descr': '<f4', 'fortran_order': False, "
	             "'shape': (1000000, 1000000), }", 1, 16);
	ck_assert(!npy_load(p, &a, &D));
	ck_assert_msg(!diag_ok(&D) && strstr(D.msg, p), "%s", D.msg);

	diag_init(&D);
	p = npy_with("rank5.npy", "{'descr': '<i4', 'fortran_order': False, "
	             "'shape': (1, 1, 1, 1, 1), }", 1, 4);
	ck_assert(!npy_load(p, &a, &D));
	one_line_naming(&D, p, "rank 5");
}
END_TEST

static const char *st_file(const char *name, uint64_t hlen,
                           const char *header, size_t ndata)
{
	size_t n = strlen(header), total = 8 + n + ndata;
	unsigned char *buf = calloc(1, total);
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)(hlen >> (8 * i));
	memcpy(buf + 8, header, n);
	const char *p = tu_write(name, buf, total);
	free(buf);
	return p;
}

START_TEST(test_safetensors_bounds)
{
	const char *p;

	p = st_file("hlen.safetensors", (uint64_t)1 << 63, "{}", 0);
	ck_assert(st_open(A, p, &D) == NULL);
	one_line_naming(&D, p, "header");

	diag_init(&D);
	p = st_file("hlen2.safetensors", 200000000, "{}", 0);
	ck_assert(st_open(A, p, &D) == NULL);
	one_line_naming(&D, p, "header");

	diag_init(&D);
	const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,"
	                "4294967296],\"data_offsets\":[0,4]}}";
	p = st_file("shape.safetensors", strlen(h), h, 4);
	ck_assert(st_open(A, p, &D) == NULL);
	one_line_naming(&D, p, "'w'");

	diag_init(&D);
	h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],"
	    "\"data_offsets\":[0,4]}}";
	p = st_file("rank.safetensors", strlen(h), h, 4);
	ck_assert(st_open(A, p, &D) == NULL);
	one_line_naming(&D, p, "'w'");

	diag_init(&D);
	h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
	    "\"data_offsets\":[0,18446744073709551615]}}";
	p = st_file("offs.safetensors", strlen(h), h, 4);
	ck_assert(st_open(A, p, &D) == NULL);
	one_line_naming(&D, p, "'w'");
}
END_TEST

START_TEST(test_json_depth)
{
	char deep[2 * JSON_MAX_DEPTH + 8];
	size_t n = 0;
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		deep[n++] = '[';
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		deep[n++] = ']';
	ck_assert(json_parse(A, deep, n, "deep.json", &D) == NULL);
	one_line_naming(&D, "deep.json", "deeper than");
	diag_init(&D);
	ck_assert(json_parse(A, deep + 1, n - 2, "ok.json", &D) != NULL);
}
END_TEST

START_TEST(test_fasta_bounds)
{
	size_t n = HYRT_FASTA_NAME_MAX + 16;
	char *text = malloc(n + 8);
	HyrtFastaOptions o = hyrt_fasta_default_options(4);
	HyrtFasta *f;
	HyrtWindow w;
	const char *p;

	text[0] = '>';
	memset(text + 1, 'x', n);
	memcpy(text + 1 + n, "\nACGT\n", 6);
	p = tu_write("longname.fa", text, n + 7);
	free(text);
	f = hyrt_fasta_open(p, &o, &D);
	ck_assert_msg(f != NULL, "%s", D.msg);
	ck_assert_int_eq(hyrt_fasta_next(f, &w, &D), -1);
	one_line_naming(&D, p, "longer than");
	ck_assert_int_eq(hyrt_fasta_next(f, &w, &D), -1);
	hyrt_fasta_close(f);

	diag_init(&D);
	o = hyrt_fasta_default_options(INT64_MAX / 4);
	ck_assert(hyrt_fasta_open(p, &o, &D) == NULL);
	one_line_naming(&D, p, "too large");
}
END_TEST

/* ---- the command line on every bad file ------------------------------- */

/* Run hyenac with args; it must exit 0, or 1 with one line naming want. */
static int expect_clean(const char *const *args, const char *want,
                        const char *what)
{
	RunResult r;
	tu_run_hyenac(&r, args);
	ck_assert_msg(r.signal == 0, "%s: killed by signal %d: %s", what,
	              r.signal, r.err);
	ck_assert_msg(r.status == 0 || r.status == 1, "%s: exit %d: %s", what,
	              r.status, r.err);
	if (r.status == 1) {
		ck_assert_msg(tu_lines(r.err) == 1, "%s: not one line: %s", what,
		              r.err);
		ck_assert_msg(strstr(r.err, want), "%s: '%s' does not name %s",
		              what, r.err, want);
	}
	return r.status;
}

/* Each file in fuzz/corpus/dir, copied to a scratch path made by `place`. */
static int each_corpus(const char *dir,
                       void (*fn)(const char *file, const void *data,
                                  size_t n))
{
	char path[2048];
	DIR *dp;
	/* a copy: fn's tu_path calls reuse the ring of buffers */
	snprintf(path, sizeof path, "%s", tu_source(tu_path("fuzz/corpus", dir)));
	dp = opendir(path);
	struct dirent *e;
	int count = 0;
	ck_assert_msg(dp != NULL, "cannot open %s", path);
	while ((e = readdir(dp))) {
		char full[4096];
		size_t n;
		char *data;
		if (e->d_name[0] == '.')
			continue;
		snprintf(full, sizeof full, "%s/%s", path, e->d_name);
		data = tu_read(full, &n);
		ck_assert(data != NULL);
		fn(e->d_name, data, n);
		free(data);
		count++;
	}
	closedir(dp);
	return count;
}

static void cli_yaml(const char *name, const void *data, size_t n)
{
	const char *p = tu_write("corpus.yaml", data, n);
	/* the error may name the description or the checkpoint it names */
	expect_clean((const char *[]){"info", p, NULL}, tu_tmpdir(), name);
}

static const char *model_dir(void)
{
	const char *dir = tu_path(tu_tmpdir(), "ckpt");
	mkdir(dir, 0755);
	return dir;
}

static void put(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	ck_assert(f && fwrite(data, 1, n, f) == n);
	fclose(f);
}

static void cli_config(const char *name, const void *data, size_t n)
{
	char dir[4096];
	size_t gn;
	char *st = tu_read(tu_golden("tiny-1k", "model.safetensors"), &gn);
	snprintf(dir, sizeof dir, "%s", model_dir());
	put(tu_path(dir, "config.json"), data, n);
	put(tu_path(dir, "model.safetensors"), st, gn);
	free(st);
	expect_clean((const char *[]){"info", dir, NULL}, dir, name);
}

static void cli_safetensors(const char *name, const void *data, size_t n)
{
	char dir[4096];
	size_t cn;
	char *cfg = tu_read(tu_golden("tiny-1k", "config.json"), &cn);
	snprintf(dir, sizeof dir, "%s", model_dir());
	put(tu_path(dir, "config.json"), cfg, cn);
	put(tu_path(dir, "model.safetensors"), data, n);
	free(cfg);
	expect_clean((const char *[]){"info", dir, NULL}, dir, name);
}

static void cli_ir(const char *name, const void *data, size_t n)
{
	const char *p = tu_write("corpus.ir", data, n);
	expect_clean((const char *[]){"opt", "--pass=dce", p, NULL}, p, name);
}

/* The generated executable's doors: .npy tokens and FASTA. */
static const char *corpus_exe;

static int expect_clean_exe(const char *const *args, const char *want,
                            const char *what)
{
	RunResult r;
	tu_run(&r, corpus_exe, args);
	ck_assert_msg(r.signal == 0, "%s: killed by signal %d: %s", what,
	              r.signal, r.err);
	ck_assert_msg(r.status == 0 || r.status == 1, "%s: exit %d: %s", what,
	              r.status, r.err);
	if (r.status == 1) {
		ck_assert_msg(tu_lines(r.err) == 1, "%s: not one line: %s", what,
		              r.err);
		ck_assert_msg(strstr(r.err, want), "%s: '%s' does not name %s",
		              what, r.err, want);
	}
	return r.status;
}

static void exe_npy(const char *name, const void *data, size_t n)
{
	const char *p = tu_write("corpus.npy", data, n);
	const char *out = tu_path(tu_tmpdir(), "corpus-out.npy");
	unlink(out);
	if (expect_clean_exe((const char *[]){"embed", "--tokens", p, "-o", out,
	                                      NULL}, p, name) == 1)
		ck_assert_msg(access(out, F_OK) != 0, "%s: %s left behind", name,
		              out);
}

static void exe_fasta(const char *name, const void *data, size_t n)
{
	/* the fuzz target's three option bytes are not part of the file */
	const char *p = tu_write("corpus.fa", (const char *)data + 3,
	                         n < 3 ? 0 : n - 3);
	const char *out = tu_path(tu_tmpdir(), "corpus-fa.npy");
	unlink(out);
	if (expect_clean_exe((const char *[]){"embed", "--fasta", p, "-o", out,
	                                      "--window", "16", "--stride", "5",
	                                      "--quiet", NULL}, p, name) == 1)
		ck_assert_msg(access(out, F_OK) != 0, "%s: %s left behind", name,
		              out);
}

START_TEST(test_cli_corpus)
{
	RunResult r;
	corpus_exe = tu_path(tu_tmpdir(), "corpus-tiny");
	tu_run_hyenac(&r, (const char *[]){
	    "compile", tu_source("models/hyenadna-tiny-1k.yaml"), "-o",
	    corpus_exe, "--seq-len", "64", NULL});
	ck_assert_msg(r.status == 0, "compile: %s", r.err);
	corpus_exe = strdup(corpus_exe);
	ck_assert(each_corpus("npy", exe_npy) > 0);
	tu_run(&r, corpus_exe, (const char *[]){"--help", NULL});
	if (strstr(r.out, "--fasta"))
		ck_assert(each_corpus("fasta", exe_fasta) > 0);

	ck_assert(each_corpus("yaml", cli_yaml) > 0);
	ck_assert(each_corpus("hf_config", cli_config) > 0);
	ck_assert(each_corpus("safetensors", cli_safetensors) > 0);
	ck_assert(each_corpus("ir", cli_ir) > 0);
}
END_TEST

/* A compile that fails leaves no file under -o, whatever stage refused. */
START_TEST(test_no_partial_output)
{
	const char *out = tu_path(tu_tmpdir(), "never");
	const char *bad = tu_write_str("bad.yaml", "d_model: 8\nn_layer: [\n");
	const char *big = tu_write_str("big2.yaml", "d_model: 8192\nn_layer: 64\n"
	                               "max_seq_len: 1024\nweights: {seed: 1}\n");
	setenv("HYENAC_MEMORY_LIMIT", "1G", 1);
	const char *emits[] = {"exe", "obj", "ll", "ir"};
	for (int i = 0; i < 4; i++) {
		expect_clean((const char *[]){"compile", bad, "-o", out, "--emit",
		                              emits[i], NULL}, bad, emits[i]);
		ck_assert_msg(access(out, F_OK) != 0, "%s left behind", out);
		expect_clean((const char *[]){"compile", big, "-o", out, "--emit",
		                              emits[i], NULL}, big, emits[i]);
		ck_assert_msg(access(out, F_OK) != 0, "%s left behind", out);
	}
}
END_TEST

/* hyenac compile checks the one planned-memory figure, the planned_bytes
 * that --stats prints (activations, output, weights, thread buffers):
 * a limit of exactly that fits, a byte less is refused. */
START_TEST(test_compile_checks_stats_figure)
{
	const char *model = tu_source("models/hyenadna-tiny-16k-d128.yaml");
	const char *out = tu_path(tu_tmpdir(), "plan.ir");
	RunResult r;
	char lim[32];

	unsetenv("HYENAC_MEMORY_LIMIT");
	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", out,
	                                   "--emit", "ir", "--seq-len", "64",
	                                   "--stats", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	const char *p = strstr(r.out, "\nplanned_bytes=");
	ck_assert_msg(p, "%s", r.out);
	long long planned = atoll(p + strlen("\nplanned_bytes="));
	ck_assert(planned > 0);
	snprintf(lim, sizeof lim, "%lld", planned);
	setenv("HYENAC_MEMORY_LIMIT", lim, 1);
	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", out,
	                                   "--emit", "ir", "--seq-len", "64",
	                                   NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	snprintf(lim, sizeof lim, "%lld", planned - 1);
	setenv("HYENAC_MEMORY_LIMIT", lim, 1);
	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", out,
	                                   "--emit", "ir", "--seq-len", "64",
	                                   NULL});
	unsetenv("HYENAC_MEMORY_LIMIT");
	ck_assert_int_eq(r.status, 1);
	ck_assert_int_eq(tu_lines(r.err), 1);
	char want[64];
	snprintf(want, sizeof want, "(%lld bytes:", planned);
	ck_assert_msg(strstr(r.err, want) && strstr(r.err, model), "%s", r.err);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("memory");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_memory_limit_env);
	tcase_add_test(tc, test_check_memory);
	tcase_add_test(tc, test_compile_checks_stats_figure);
	tcase_add_test(tc, test_weights_too_big);
	suite_add_tcase(s, tc);
	tc = tcase_create("readers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_npy_bounds);
	tcase_add_test(tc, test_safetensors_bounds);
	tcase_add_test(tc, test_json_depth);
	tcase_add_test(tc, test_fasta_bounds);
	suite_add_tcase(s, tc);
	tc = tcase_create("cli");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_cli_corpus);
	tcase_add_test(tc, test_no_partial_output);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
