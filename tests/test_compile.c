/*
 * test_compile.c - `hyenac compile` as a user runs it: the golden
 * checkpoints compiled to executables reproduce the official outputs; the
 * binary carries its weights (it runs after the checkpoint is deleted);
 * shorter inputs than compiled are exact; every model in models/ compiles
 * and runs a 2048-token input (or its longest, if shorter); every --emit
 * kind writes its file; bad usage and bad input exit cleanly.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/npy.h"
#include "testutil.h"

static const double TOL = 2e-4;

static void ok_run(RunResult *r, const char *prog, const char *const *args)
{
	tu_run(r, prog, args);
	ck_assert_msg(r->status == 0, "%s failed (status %d, signal %d): %s",
	              prog, r->status, r->signal, r->err);
}

static void compile(const char *model, const char *out, const char *seq_len)
{
	RunResult r;
	const char *args[] = {"compile", model, "-o", out, seq_len ? "--seq-len" : NULL,
	                      seq_len, NULL};
	ok_run(&r, HYENAC_BIN, args);
	ck_assert_msg(access(out, X_OK) == 0, "%s not executable", out);
}

static double max_err(const char *got_path, const char *want_path,
                      int64_t rows)
{
	Diag d;
	NpyArray got, want;
	diag_init(&d);
	ck_assert_msg(npy_load(got_path, &got, &d), "%s", d.msg);
	ck_assert_msg(npy_load(want_path, &want, &d), "%s", d.msg);
	ck_assert_int_eq(got.rank, 3);
	ck_assert_int_eq(got.dim[0], want.dim[0]);
	ck_assert_int_eq(got.dim[2], want.dim[2]);
	/* got may be a prefix (rows) of want's sequence axis */
	int64_t L = rows ? rows : want.dim[1], C = want.dim[2];
	ck_assert_int_eq(got.dim[1], L);
	double e = 0;
	for (int64_t b = 0; b < got.dim[0]; b++)
		for (int64_t t = 0; t < L; t++)
			for (int64_t c = 0; c < C; c++) {
				double x = fabs(((float *)got.data)[(b * L + t) * C + c] -
				                ((float *)want.data)[(b * want.dim[1] + t) *
				                                         C + c]);
				e = isnan(x) ? INFINITY : (x > e ? x : e);
			}
	npy_free(&got);
	npy_free(&want);
	return e;
}

/* Max abs error of a pooled [B, C] array against the mean (last false)
 * or the last row (last true) of a [B, L, C] reference. */
static double pooled_err(const char *got_path, const char *want_path,
                         bool last)
{
	Diag d;
	NpyArray got, want;
	diag_init(&d);
	ck_assert_msg(npy_load(got_path, &got, &d), "%s", d.msg);
	ck_assert_msg(npy_load(want_path, &want, &d), "%s", d.msg);
	ck_assert_int_eq(got.rank, 2);
	ck_assert_int_eq(got.dim[0], want.dim[0]);
	ck_assert_int_eq(got.dim[1], want.dim[2]);
	int64_t L = want.dim[1], C = want.dim[2];
	const float *w = want.data;
	double e = 0;
	for (int64_t b = 0; b < got.dim[0]; b++)
		for (int64_t c = 0; c < C; c++) {
			double ref = 0;
			for (int64_t t = last ? L - 1 : 0; t < L; t++)
				ref += w[(b * L + t) * C + c];
			ref /= last ? 1 : (double)L;
			double x = fabs(((float *)got.data)[b * C + c] - ref);
			e = isnan(x) ? INFINITY : (x > e ? x : e);
		}
	npy_free(&got);
	npy_free(&want);
	return e;
}

static void golden(const char *name)
{
	RunResult r;
	const char *exe = tu_path(tu_tmpdir(), name);
	const char *h = tu_path(tu_tmpdir(), "h.npy");
	const char *g = tu_path(tu_tmpdir(), "g.npy");
	compile(tu_golden(name, NULL), exe, NULL);
	ok_run(&r, exe, (const char *[]){"embed", "--tokens",
	                                 tu_golden(name, "tokens.npy"), "-o", h,
	                                 NULL});
	ok_run(&r, exe, (const char *[]){"logits", "--tokens",
	                                 tu_golden(name, "tokens.npy"), "-o", g,
	                                 NULL});
	double eh = max_err(h, tu_golden(name, "hidden.npy"), 0);
	double eg = max_err(g, tu_golden(name, "logits.npy"), 0);
	printf("%s compiled: max abs error hidden %.3g logits %.3g\n", name, eh,
	       eg);
	ck_assert_msg(eh <= TOL && eg <= TOL, "%s: %g %g", name, eh, eg);
	/* pooled without the [B, L, d] tensor: the mean and the last row */
	const char *pm = tu_path(tu_tmpdir(), "pm.npy");
	const char *pl = tu_path(tu_tmpdir(), "pl.npy");
	ok_run(&r, exe, (const char *[]){"embed", "--tokens",
	                                 tu_golden(name, "tokens.npy"), "-o", pm,
	                                 "--pool", "mean", NULL});
	ok_run(&r, exe, (const char *[]){"embed", "--tokens",
	                                 tu_golden(name, "tokens.npy"), "-o", pl,
	                                 "--pool", "last", NULL});
	double em = pooled_err(pm, tu_golden(name, "hidden.npy"), false);
	double el = pooled_err(pl, tu_golden(name, "hidden.npy"), true);
	printf("%s pooled: max abs error mean %.3g last %.3g\n", name, em, el);
	ck_assert_msg(em <= TOL && el <= TOL, "%s pooled: %g %g", name, em, el);
}

START_TEST(golden_tiny_1k)
{
	golden("tiny-1k");
}
END_TEST

START_TEST(golden_odd_order3)
{
	golden("odd-order3");
}
END_TEST

/* The JIT path of `hyenac run` agrees too. */
START_TEST(golden_jit)
{
	RunResult r;
	const char *h = tu_path(tu_tmpdir(), "jit.npy");
	ok_run(&r, HYENAC_BIN,
	       (const char *[]){"run", tu_golden("odd-order3", NULL), "embed",
	                        "--tokens", tu_golden("odd-order3", "tokens.npy"),
	                        "-o", h, NULL});
	ck_assert(strstr(r.out, "by the JIT"));
	ck_assert(max_err(h, tu_golden("odd-order3", "hidden.npy"), 0) <= TOL);
}
END_TEST

static void copy_file(const char *from, const char *to)
{
	size_t n;
	char *buf = tu_read(from, &n);
	ck_assert_msg(buf, "cannot read %s", from);
	FILE *f = fopen(to, "wb");
	ck_assert(f && fwrite(buf, 1, n, f) == n);
	fclose(f);
	free(buf);
}

/* Weights are packed inside: the binary runs once the checkpoint is gone,
 * and a prefix of the compiled length is exact. */
START_TEST(self_contained_and_shorter_input)
{
	RunResult r;
	const char *dir = tu_path(tu_tmpdir(), "ckpt-copy");
	const char *exe = tu_path(tu_tmpdir(), "odd-copy");
	const char *h = tu_path(tu_tmpdir(), "prefix.npy");
	mkdir(dir, 0755);
	copy_file(tu_golden("odd-order3", "config.json"),
	          tu_path(dir, "config.json"));
	copy_file(tu_golden("odd-order3", "model.safetensors"),
	          tu_path(dir, "model.safetensors"));
	compile(dir, exe, NULL);
	unlink(tu_path(dir, "config.json"));
	unlink(tu_path(dir, "model.safetensors"));
	rmdir(dir);

	/* the first 100 tokens of each row */
	Diag d;
	NpyArray tok;
	diag_init(&d);
	ck_assert(npy_load(tu_golden("odd-order3", "tokens.npy"), &tok, &d));
	int32_t *pre = malloc(3 * 100 * sizeof *pre);
	for (int b = 0; b < 3; b++)
		memcpy(pre + b * 100, (int32_t *)tok.data + b * tok.dim[1],
		       100 * sizeof *pre);
	const char *tp = tu_path(tu_tmpdir(), "prefix-tokens.npy");
	ck_assert(npy_save_i32(tp, pre, 2, (int64_t[]){3, 100}, &d));
	free(pre);
	npy_free(&tok);
	ok_run(&r, exe, (const char *[]){"embed", "--tokens", tp, "-o", h, NULL});
	ck_assert(max_err(h, tu_golden("odd-order3", "hidden.npy"), 100) <= TOL);
}
END_TEST

static const char *const released[] = {
	"hyenadna-tiny-1k",     "hyenadna-tiny-1k-d256", "hyenadna-tiny-16k-d128",
	"hyenadna-small-32k",   "hyenadna-medium-160k",  "hyenadna-medium-450k",
	"hyenadna-large-1m",
};

/* Every model compiles and runs its longest input up to 2048 tokens. */
START_TEST(models_compile_and_run)
{
	RunResult r;
	char rel[256];
	snprintf(rel, sizeof rel, "models/%s.yaml", released[_i]);
	const char *exe = tu_path(tu_tmpdir(), released[_i]);
	const char *len = _i < 2 ? "1026" : "2048";
	compile(tu_source(rel), exe, len);
	ok_run(&r, exe, (const char *[]){"bench", "--batch", "1", "--seq-len",
	                                 len, "--reps", "1", NULL});
	ck_assert_msg(strstr(r.out, "median_ms="), "%s", r.out);
	unlink(exe);
}
END_TEST

START_TEST(emit_kinds)
{
	RunResult r;
	const char *model = tu_source("models/hyenadna-tiny-1k.yaml");
	static const char *const kinds[] = {"obj", "ll", "ir"};
	for (int i = 0; i < 3; i++) {
		const char *out = tu_path(tu_tmpdir(), kinds[i]);
		ok_run(&r, HYENAC_BIN,
		       (const char *[]){"compile", model, "-o", out, "--emit",
		                        kinds[i], "--seq-len", "64", NULL});
		size_t n;
		char *text = tu_read(out, &n);
		ck_assert_msg(text && n > 0, "--emit %s wrote nothing", kinds[i]);
		if (i == 0)
			ck_assert(memcmp(text, "\x7f" "ELF", 4) == 0);
		if (i == 1)
			ck_assert(strstr(text, "define") && strstr(text, "@hyenac_run"));
		if (i == 2)
			ck_assert(strstr(text, "graph \"hyenadna-tiny-1k\""));
		free(text);
	}
}
END_TEST

static void expect_exit(const char *prog, const char *const *args, int code,
                        const char *needle)
{
	RunResult r;
	tu_run(&r, prog, args);
	ck_assert_msg(r.signal == 0, "signal %d: %s", r.signal, r.err);
	ck_assert_msg(r.status == code, "exit %d want %d: %s", r.status, code,
	              r.err);
	ck_assert_msg(tu_lines(r.err) == 1, "want one line: %s", r.err);
	ck_assert_msg(strstr(r.err, needle), "'%s' not in: %s", needle, r.err);
}

START_TEST(bad_usage_and_input)
{
	const char *model = tu_source("models/hyenadna-tiny-1k.yaml");
	const char *out = tu_path(tu_tmpdir(), "never");
	expect_exit(HYENAC_BIN, (const char *[]){"compile", model, NULL}, 2, "-o");
	expect_exit(HYENAC_BIN,
	            (const char *[]){"compile", model, "-o", out, "--emit", "dll",
	                             NULL},
	            2, "--emit");
	expect_exit(HYENAC_BIN,
	            (const char *[]){"compile", model, "-o", out, "--seq-len",
	                             "99999", NULL},
	            2, "max_seq_len");
	expect_exit(HYENAC_BIN,
	            (const char *[]){"compile", model, "-o", out, "--seq-len", "x",
	                             NULL},
	            2, "'x'");
	ck_assert(access(out, F_OK) != 0);

	/* a binary compiled for 64 tokens refuses 65, and bad files */
	const char *exe = tu_path(tu_tmpdir(), "short64");
	compile(model, exe, "64");
	int32_t ids[65];
	for (int i = 0; i < 65; i++)
		ids[i] = 7 + i % 4;
	Diag d;
	diag_init(&d);
	const char *t65 = tu_path(tu_tmpdir(), "t65.npy");
	ck_assert(npy_save_i32(t65, ids, 2, (int64_t[]){1, 65}, &d));
	const char *h = tu_path(tu_tmpdir(), "never.npy");
	expect_exit(exe, (const char *[]){"embed", "--tokens", t65, "-o", h, NULL},
	            1, "t65.npy");
	ids[3] = 12;
	const char *tb = tu_path(tu_tmpdir(), "tbad.npy");
	ck_assert(npy_save_i32(tb, ids, 2, (int64_t[]){1, 8}, &d));
	expect_exit(exe, (const char *[]){"logits", "--tokens", tb, "-o", h, NULL},
	            1, "tbad.npy");
	expect_exit(exe, (const char *[]){"embed", "--tokens", "/nonexistent.npy",
	                                  "-o", h, NULL},
	            1, "/nonexistent.npy");
	expect_exit(exe, (const char *[]){"frobnicate", NULL}, 2, "frobnicate");
	expect_exit(exe, (const char *[]){"bench", "--threads", "0", NULL}, 2,
	            "threads");
	expect_exit(exe, (const char *[]){"embed", "--tokens", t65, "-o", h,
	                                  "--pool", "median", NULL},
	            2, "median");
	expect_exit(exe, (const char *[]){"logits", "--tokens", t65, "-o", h,
	                                  "--pool", "mean", NULL},
	            2, "--pool");
	ck_assert(access(h, F_OK) != 0);
}
END_TEST

/* --threads splits a forward's rows and channels over threads without
 * changing a bit. */
START_TEST(threads_same_bits)
{
	RunResult r;
	const char *exe = tu_path(tu_tmpdir(), "odd-threads");
	const char *h1 = tu_path(tu_tmpdir(), "t1.npy");
	const char *h3 = tu_path(tu_tmpdir(), "t3.npy");
	compile(tu_golden("odd-order3", NULL), exe, NULL);
	ok_run(&r, exe, (const char *[]){"logits", "--tokens",
	                                 tu_golden("odd-order3", "tokens.npy"),
	                                 "-o", h1, "--threads", "1", NULL});
	ok_run(&r, exe, (const char *[]){"logits", "--tokens",
	                                 tu_golden("odd-order3", "tokens.npy"),
	                                 "-o", h3, "--threads", "3", NULL});
	size_t n1, n3;
	char *a = tu_read(h1, &n1), *b = tu_read(h3, &n3);
	ck_assert(a && b && n1 == n3 && memcmp(a, b, n1) == 0);
	free(a);
	free(b);
	ck_assert(max_err(h3, tu_golden("odd-order3", "logits.npy"), 0) <= TOL);
}
END_TEST

/* An activation plan over the memory limit is refused at compile time,
 * with the bytes it needs, and nothing is written. */
START_TEST(memory_limit_refused)
{
	const char *out = tu_path(tu_tmpdir(), "too-big");
	setenv("HYENAC_MEMORY_LIMIT", "100M", 1);
	expect_exit(HYENAC_BIN,
	            (const char *[]){"compile",
	                             tu_source("models/hyenadna-large-1m.yaml"),
	                             "-o", out, "--seq-len", "1000000", NULL},
	            1, "needs");
	unsetenv("HYENAC_MEMORY_LIMIT");
	ck_assert(access(out, F_OK) != 0);
}
END_TEST

/* --stats: the compiler says what it did, machine-readably. */
/* The number after "\nkey" (or at the start) in --stats output. */
static long long stat_ll(const char *out, const char *key)
{
	long long v;
	size_t n = strlen(key);
	const char *p = out;
	while ((p = strstr(p, key)) && p != out && p[-1] != '\n')
		p += n;
	ck_assert_msg(p && sscanf(p + n, "%lld", &v) == 1, "no %s in %s", key,
	              out);
	return v;
}

START_TEST(stats_lines)
{
	RunResult r;
	const char *model = tu_source("models/hyenadna-tiny-16k-d128.yaml");
	const char *out = tu_path(tu_tmpdir(), "stats.ir");
	ok_run(&r, HYENAC_BIN, (const char *[]){"compile", model, "-o", out,
	                                        "--emit", "ir", "--seq-len", "16",
	                                        "--stats", NULL});
	ck_assert_msg(strstr(r.out, "conv[0]=direct\n"), "%s", r.out);
	ck_assert(strstr(r.out, "conv[1]=direct\n"));
	ck_assert(strstr(r.out, "filters=folded\n"));
	const char *k = strstr(r.out, "kernels=");
	ck_assert(k && atoi(k + 8) <= 11); /* 4 a layer, embed, norm, head */
	ck_assert(strstr(r.out, "planned_bytes="));
	ok_run(&r, HYENAC_BIN, (const char *[]){"compile", model, "-o", out,
	                                        "--emit", "ir", "--seq-len",
	                                        "16384", "--stats", NULL});
	ck_assert_msg(strstr(r.out, "conv[0]=fft\n"), "%s", r.out);
	/* both layers keep their filter spectra: N = 32768, N/2+1 complex
	 * rows of 128 channels; counted in planned_bytes */
	long long sp = 8LL * (32768 / 2 + 1) * 128;
	ck_assert_int_eq(stat_ll(r.out, "spectra_bytes="), 2 * sp);
	ck_assert_int_eq(stat_ll(r.out, "planned_bytes="),
	                 stat_ll(r.out, "activation_bytes=") +
	                     stat_ll(r.out, "output_bytes=") +
	                     stat_ll(r.out, "weight_bytes=") + 2 * sp +
	                     stat_ll(r.out, "threads=") *
	                         stat_ll(r.out, "thread_bytes="));
	/* under a 100 MiB limit a quarter of it holds one layer's */
	setenv("HYENAC_MEMORY_LIMIT", "100M", 1);
	ok_run(&r, HYENAC_BIN, (const char *[]){"compile", model, "-o", out,
	                                        "--emit", "ir", "--seq-len",
	                                        "16384", "--stats", NULL});
	unsetenv("HYENAC_MEMORY_LIMIT");
	ck_assert_int_eq(stat_ll(r.out, "spectra_bytes="), sp);
	ok_run(&r, HYENAC_BIN, (const char *[]){"compile", model, "-o", out,
	                                        "--emit", "ir", "--seq-len", "16",
	                                        "--stats", "--no-fuse", NULL});
	k = strstr(r.out, "kernels=");
	ck_assert(k && atoi(k + 8) > 13);
	ok_run(&r, HYENAC_BIN,
	       (const char *[]){"compile", tu_source("models/hyenadna-large-1m.yaml"),
	                        "-o", out, "--emit", "ir", "--seq-len", "1000000",
	                        "--stats", NULL});
	ck_assert_msg(strstr(r.out, "filters=runtime\n"), "%s", r.out);
	/* a million tokens: no [L, d_inner], [L, 3D] or [L, D] filter tensor
	 * is whole, and the forward's parts add up to under 6 GB */
	size_t len;
	char *ir = tu_read(out, &len);
	ck_assert(ir);
	ck_assert_msg(!strstr(ir, "f32[B,L,1024]") && !strstr(ir, "f32[B,L,768]") &&
	              !strstr(ir, "f32[L,256]") && !strstr(ir, "expmod"),
	              "%s", ir);
	free(ir);
	long long tot = stat_ll(r.out, "planned_bytes=");
	long long act = stat_ll(r.out, "activation_bytes=");
	long long outb = stat_ll(r.out, "output_bytes=");
	long long w = stat_ll(r.out, "weight_bytes=");
	long long per = stat_ll(r.out, "thread_bytes=");
	long long th = stat_ll(r.out, "threads=");
	ck_assert(act > 0 && outb == 1000000LL * 16 * 4 && w > 0 && per > 0 && th >= 1);
	/* 2 GB of spectra a layer: none kept, all streamed */
	ck_assert_int_eq(stat_ll(r.out, "spectra_bytes="), 0);
	ck_assert_int_eq(tot, act + outb + w + th * per);
	ck_assert_msg(act + outb + w + 2 * per < 6000000000LL, "%s", r.out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("compile");
	TCase *tc = tcase_create("compile");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, golden_tiny_1k);
	tcase_add_test(tc, golden_odd_order3);
	tcase_add_test(tc, golden_jit);
	tcase_add_test(tc, self_contained_and_shorter_input);
	tcase_add_loop_test(tc, models_compile_and_run, 0,
	                    sizeof released / sizeof *released);
	tcase_add_test(tc, emit_kinds);
	tcase_add_test(tc, bad_usage_and_input);
	tcase_add_test(tc, stats_lines);
	tcase_add_test(tc, threads_same_bits);
	tcase_add_test(tc, memory_limit_refused);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
