/*
 * test_target.c - --target-cpu and --target-features: values LLVM would
 * abort on or ignore are refused in one line before it sees them (issue
 * 12, case 5), a model compiled for another ISA level runs here and
 * reproduces the official outputs, and code compiled for a CPU that has
 * instructions this one lacks is refused at start-up, by the binary, the
 * library and the JIT, in one line, instead of dying of SIGILL (case 11).
 *
 * The start-up refusal needs no test hook: the test picks a real
 * processor with a feature this host's /proc/cpuinfo does not list
 * (znver5's sse4a on Intel, sapphirerapids' avx512fp16 on AMD, ...).
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/cpucheck.h"
#include "runtime/hyenac_model.h"
#include "runtime/npy.h"
#include "testutil.h"

/* One line on stderr, that exit status, no signal, nothing from LLVM. */
static void expect_one_line(const RunResult *r, int status, const char *has)
{
	ck_assert_msg(r->signal == 0, "killed by signal %d: %s", r->signal,
	              r->err);
	ck_assert_msg(r->status == status, "status %d, want %d: %s", r->status,
	              status, r->err);
	ck_assert_msg(tu_lines(r->err) == 1, "%d lines: %s", tu_lines(r->err),
	              r->err);
	ck_assert_msg(strstr(r->err, has), "'%s' not in: %s", has, r->err);
	ck_assert_msg(!strstr(r->err, "recognized") &&
	              !strstr(r->err, "LLVM ERROR"),
	              "LLVM noise: %s", r->err);
}

/* ---- case 5: bad values, refused before LLVM ------------------------- */

static const struct {
	const char *opt, *value, *says;
} bad[] = {
	{"--target-cpu", "pentium9000", "'pentium9000' is not an x86-64"},
	{"--target-cpu", "i386", "'i386' is a 32-bit"},
	{"--target-cpu", "pentium4", "'pentium4' is a 32-bit"},
	{"--target-cpu", "cortex-a53", "'cortex-a53' is not an x86-64"},
	{"--target-cpu", "", "'' is not an x86-64"},
	{"--target-features", "+nonsense", "'+nonsense' is not an x86 feature"},
	{"--target-features", "+avx2,+nonsense", "'+nonsense'"},
	{"--target-features", "-sse,-sse2", "'-sse'"},
	{"--target-features", "-sse2", "'-sse2'"},
	{"--target-features", "+soft-float", "'+soft-float'"},
	{"--target-features", "-64bit", "'-64bit'"},
	{"--target-features", "+help", "'+help'"},
	{"--target-features", "avx2", "+FEATURE or -FEATURE"},
	{"--target-features", "+avx2,", "+FEATURE or -FEATURE"},
	{"--target-features", "+avx2,,+fma", "+FEATURE or -FEATURE"},
	{"--target-features", "+", "+FEATURE or -FEATURE"},
	{"--target-features", "+AVX2", "+FEATURE or -FEATURE"},
};
enum { NBAD = sizeof bad / sizeof bad[0] };

START_TEST(bad_target_refused)
{
	RunResult r;
	const char *model = tu_golden("tiny-1k", NULL);
	const char *out = tu_path(tu_tmpdir(), "never");

	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", out,
	                                   bad[_i].opt, bad[_i].value, NULL});
	expect_one_line(&r, 2, bad[_i].says);
	ck_assert_msg(access(out, F_OK) != 0, "%s was written", out);

	/* hyenac run (the JIT) takes the same options and the same checks */
	const char *h = tu_path(tu_tmpdir(), "never.npy");
	tu_run_hyenac(&r, (const char *[]){"run", model, "embed", "--tokens",
	                                   tu_golden("tiny-1k", "tokens.npy"),
	                                   "-o", h, bad[_i].opt, bad[_i].value,
	                                   NULL});
	expect_one_line(&r, 2, bad[_i].says);
	ck_assert(access(h, F_OK) != 0);
}
END_TEST

/* ---- good values: they compile, and the code is right ---------------- */

static double max_err(const char *got_path, const char *want_path)
{
	Diag d;
	NpyArray got, want;
	double e = 0;

	diag_init(&d);
	ck_assert_msg(npy_load(got_path, &got, &d), "%s", d.msg);
	ck_assert_msg(npy_load(want_path, &want, &d), "%s", d.msg);
	ck_assert_int_eq(got.numel, want.numel);
	for (size_t i = 0; i < got.numel; i++) {
		double x = fabs(((float *)got.data)[i] - ((float *)want.data)[i]);
		e = isnan(x) ? INFINITY : (x > e ? x : e);
	}
	npy_free(&got);
	npy_free(&want);
	return e;
}

/* x86-64-v3 (AVX2, 8-float vectors: the kernels' other shape on an
 * AVX-512 host), native, and features on top of a CPU: each binary runs
 * and matches the official hidden states. */
static const char *const good[][4] = {
	{"--target-cpu", "x86-64-v3", NULL, NULL},
	{"--target-cpu", "native", NULL, NULL},
	{"--target-cpu", "x86-64-v2", "--target-features", "+avx,+avx2,+fma"},
};

START_TEST(good_target_matches_golden)
{
	RunResult r;
	const char *exe = tu_path(tu_tmpdir(), "good");
	const char *h = tu_path(tu_tmpdir(), "good.npy");

	tu_run_hyenac(&r, (const char *[]){
	    "compile", tu_golden("tiny-1k", NULL), "-o", exe, good[_i][0],
	    good[_i][1], good[_i][2], good[_i][3], NULL});
	ck_assert_msg(r.status == 0 && r.err[0] == 0, "compile %s: %d %s",
	              good[_i][1], r.status, r.err);
	tu_run(&r, exe, (const char *[]){"embed", "--tokens",
	                                 tu_golden("tiny-1k", "tokens.npy"),
	                                 "-o", h, NULL});
	ck_assert_msg(r.status == 0, "%s: %s", good[_i][1], r.err);
	double e = max_err(h, tu_golden("tiny-1k", "hidden.npy"));
	ck_assert_msg(e <= 2e-4, "%s: max abs error %g", good[_i][1], e);
}
END_TEST

/* ---- case 11: a CPU without the instructions, refused at start-up ---- */

/* A processor LLVM knows with a feature this host lacks, by the kernel's
 * flags; NULL when it has them all. */
static const char *foreign_cpu(const char **feature)
{
	static const struct {
		const char *cpu, *feature, *flag;
	} cand[] = {
	    {"znver5", "sse4a", "sse4a"},                    /* Intel hosts */
	    {"sapphirerapids", "avx512fp16", "avx512_fp16"}, /* AMD hosts */
	    {"x86-64-v4", "avx512f", "avx512f"},
	    {"x86-64-v3", "avx2", "avx2"},
	};
	static char flags[8192];
	FILE *f = fopen("/proc/cpuinfo", "r");
	ck_assert_msg(f, "cannot read /proc/cpuinfo");
	while (fgets(flags + 1, sizeof flags - 2, f) &&
	       strncmp(flags + 1, "flags", 5) != 0)
		;
	fclose(f);
	flags[0] = ' '; /* every flag between spaces */
	flags[strcspn(flags, "\n")] = 0;
	strcat(flags, " ");
	ck_assert_msg(strncmp(flags + 1, "flags", 5) == 0, "no flags line");
	for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
		char word[64];
		snprintf(word, sizeof word, " %s ", cand[i].flag);
		char msg[256];
		/* cpuinfo can hide a flag the CPU has (sse4a on a Zen 5
		 * guest): foreign only if the runtime's CPUID check agrees */
		if (!strstr(flags, word) &&
		    !hyrt_cpu_check(cand[i].feature, cand[i].cpu, msg,
		                    sizeof msg)) {
			*feature = cand[i].feature;
			return cand[i].cpu;
		}
	}
	return NULL;
}

START_TEST(foreign_cpu_refused_at_startup)
{
	RunResult r;
	const char *feature = NULL, *cpu = foreign_cpu(&feature);
	const char *model = tu_golden("tiny-1k", NULL);
	const char *exe = tu_path(tu_tmpdir(), "foreign");
	const char *lib = tu_path(tu_tmpdir(), "libforeign.so");
	const char *h = tu_path(tu_tmpdir(), "foreign.npy");
	char want[128];

	ck_assert_msg(cpu, "this host has every feature the test knows to "
	              "miss; add a processor to foreign_cpu()");
	/* the feature among what this CPU lacks (it may lack more) */
	snprintf(want, sizeof want, "%s", feature);

	/* the binary: before any command, even info */
	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", exe,
	                                   "--seq-len", "64", "--target-cpu",
	                                   cpu, NULL});
	ck_assert_msg(r.status == 0, "compile for %s: %s", cpu, r.err);
	tu_run(&r, exe, (const char *[]){"info", NULL});
	expect_one_line(&r, 1, want);
	ck_assert_msg(strstr(r.err, "this CPU lacks ") && strstr(r.err, cpu) &&
	              strstr(r.err, "--target-cpu "), "%s", r.err);
	tu_run(&r, exe, (const char *[]){"embed", "--tokens",
	                                 tu_golden("tiny-1k", "tokens.npy"),
	                                 "-o", h, NULL});
	expect_one_line(&r, 1, want);
	ck_assert(access(h, F_OK) != 0);

	/* the library: hyenac_model_load says so, and prints nothing */
	tu_run_hyenac(&r, (const char *[]){"compile", model, "-o", lib,
	                                   "--seq-len", "64", "--emit", "lib",
	                                   "--target-cpu", cpu, NULL});
	ck_assert_msg(r.status == 0, "compile lib for %s: %s", cpu, r.err);
	void *so = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(so, "%s", dlerror());
	int (*load)(const char *, HyenacModel **, char *, size_t);
	*(void **)&load = dlsym(so, "hyenac_model_load");
	ck_assert(load);
	HyenacModel *m = (HyenacModel *)&r; /* must come back NULL */
	char err[512];
	ck_assert_int_eq(load(NULL, &m, err, sizeof err), HYENAC_ERR_CPU);
	ck_assert(m == NULL);
	ck_assert_msg(strstr(err, want) && !strchr(err, '\n'), "%s", err);
	dlclose(so);

	/* the JIT runs here: the same check, as a usage error */
	tu_run_hyenac(&r, (const char *[]){"run", model, "embed", "--tokens",
	                                   tu_golden("tiny-1k", "tokens.npy"),
	                                   "-o", h, "--target-cpu", cpu, NULL});
	expect_one_line(&r, 2, want);
	ck_assert(access(h, F_OK) != 0);
}
END_TEST

/* The runtime's own answers: the baseline is always there, a list with
 * a missing feature says which, and names the level this CPU runs. */
START_TEST(runtime_check)
{
	char msg[512];
	const char *feature = NULL;

	ck_assert(hyrt_cpu_check("", "x86-64", msg, sizeof msg));
	ck_assert(hyrt_cpu_feature_testable("avx2"));
	ck_assert(hyrt_cpu_feature_testable("sse4.1"));
	ck_assert(!hyrt_cpu_feature_testable("sha")); /* intrinsics only */
	ck_assert(hyrt_cpu_feature_testable("amx-tile")); /* the bf16 GEMM's */
	ck_assert(!hyrt_cpu_feature_testable("sse2")); /* always there */
	ck_assert(foreign_cpu(&feature));
	char list[64];
	snprintf(list, sizeof list, "sse3,%s", feature);
	ck_assert(!hyrt_cpu_check(list, "somecpu", msg, sizeof msg));
	ck_assert_msg(strstr(msg, feature) && strstr(msg, "somecpu") &&
	              strstr(msg, "--target-cpu x86-64") &&
	              !strstr(msg, "sse3"), "%s", msg);
	/* a message buffer too small is cut, never overrun */
	char tiny[8];
	ck_assert(!hyrt_cpu_check(list, "somecpu", tiny, sizeof tiny));
	ck_assert_int_eq(strlen(tiny), 7);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("target");
	TCase *tc = tcase_create("target");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, bad_target_refused, 0, NBAD);
	tcase_add_loop_test(tc, good_target_matches_golden, 0,
	                    sizeof good / sizeof good[0]);
	tcase_add_test(tc, foreign_cpu_refused_at_startup);
	tcase_add_test(tc, runtime_check);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
