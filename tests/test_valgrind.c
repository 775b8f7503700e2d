/*
 * test_valgrind.c - a generated executable under valgrind (issue 8): the
 * tiny model compiled for x86-64-v3 (valgrind has no AVX-512) runs embed,
 * logits, info, the FASTA door (when built), bench with the FFT long
 * convolution and refused inputs under memcheck with --leak-check=full;
 * every run must exit as it would without valgrind and valgrind must
 * report zero errors (--error-exitcode makes any error exit 99).
 *
 * The sanitizer build disables this test (an ASan binary cannot run under
 * valgrind); without valgrind installed it fails, naming the package.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/npy.h"
#include "testutil.h"

static const char *VG = "/usr/bin/valgrind";

/* Run exe args... under memcheck; returns the exit status. */
static int vg_run(RunResult *r, const char *const *args)
{
	const char *argv[32] = {"--leak-check=full", "--error-exitcode=99",
	                        "--errors-for-leak-kinds=definite,indirect,possible",
	                        "--track-origins=yes", "--quiet"};
	int n = 5;
	for (int i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	tu_run(r, VG, argv);
	ck_assert_msg(r->signal == 0, "valgrind killed by signal %d: %s",
	              r->signal, r->err);
	ck_assert_msg(r->status != 99, "valgrind found errors:\n%s", r->err);
	return r->status;
}

START_TEST(test_generated_binary)
{
	RunResult r;
	Diag d;
	const char *exe = tu_path(tu_tmpdir(), "tiny");
	const char *tok = tu_path(tu_tmpdir(), "tok.npy");
	const char *h = tu_path(tu_tmpdir(), "h.npy");
	const char *g = tu_path(tu_tmpdir(), "g.npy");
	const char *bad = tu_write_str("bad.npy", "\x93NUMPY\x01\x00garbage");
	int32_t ids[2 * 48];
	int64_t dim[2] = {2, 48};

	ck_assert_msg(access(VG, X_OK) == 0,
	              "valgrind is not installed (Debian package valgrind)");
	for (int i = 0; i < 2 * 48; i++)
		ids[i] = 7 + (i * 5 + i / 7) % 5;
	diag_init(&d);
	ck_assert_msg(npy_save_i32(tok, ids, 2, dim, &d), "%s", d.msg);

	tu_run_hyenac(&r, (const char *[]){
	    "compile", tu_source("models/hyenadna-tiny-1k.yaml"), "-o", exe,
	    "--seq-len", "64", "--target-cpu", "x86-64-v3", NULL});
	ck_assert_msg(r.status == 0, "compile failed: %s", r.err);

	ck_assert_int_eq(vg_run(&r, (const char *[]){exe, "embed", "--tokens",
	                                             tok, "-o", h, NULL}), 0);
	ck_assert_int_eq(vg_run(&r, (const char *[]){exe, "logits", "--tokens",
	                                             tok, "-o", g, NULL}), 0);
	ck_assert_int_eq(vg_run(&r, (const char *[]){exe, "info", NULL}), 0);
	ck_assert_int_eq(vg_run(&r, (const char *[]){exe, "embed", "--tokens",
	                                             bad, "-o", h, NULL}), 1);
	ck_assert_msg(strstr(r.err, bad), "%s", r.err);
	ck_assert_int_eq(vg_run(&r, (const char *[]){exe, "embed", "--bogus",
	                                             NULL}), 2);

	/* The FASTA door, with threads, when the binary has it. */
	tu_run(&r, exe, (const char *[]){"--help", NULL});
	if (strstr(r.out, "--fasta")) {
		const char *x = tu_path(tu_tmpdir(), "x.npy");
		ck_assert_int_eq(vg_run(&r, (const char *[]){
		    exe, "embed", "--fasta", tu_source("examples/example.fa"),
		    "-o", x, "--window", "40", "--stride", "25", "--threads",
		    "2", "--quiet", NULL}), 0);
		ck_assert_int_eq(vg_run(&r, (const char *[]){
		    exe, "score", "--fasta", tu_source("examples/example.fa"),
		    "-o", tu_path(tu_tmpdir(), "s.tsv"), "--case", "upper",
		    "--quiet", NULL}), 0);
	}

	/* The FFTW long convolution at a longer length. */
	tu_run_hyenac(&r, (const char *[]){
	    "compile", tu_source("models/hyenadna-tiny-1k.yaml"), "-o", exe,
	    "--seq-len", "300", "--conv=fft", "--target-cpu", "x86-64-v3",
	    NULL});
	ck_assert_msg(r.status == 0, "compile failed: %s", r.err);
	ck_assert_int_eq(vg_run(&r, (const char *[]){
	    exe, "embed", "--tokens", tu_source("examples/example-tokens.npy"),
	    "-o", h, NULL}), 1); /* 530 tokens > 300: refused cleanly */
	ck_assert_int_eq(vg_run(&r, (const char *[]){exe, "bench", "--seq-len",
	                                             "300", "--reps", "1", NULL}),
	                 0);

	NpyArray a;
	ck_assert_msg(npy_load(h, &a, &d), "%s", d.msg);
	ck_assert_int_eq(a.rank, 3);
	ck_assert_int_eq(a.dim[0], 2);
	ck_assert_int_eq(a.dim[1], 48);
	npy_free(&a);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("valgrind");
	TCase *tc = tcase_create("valgrind");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_generated_binary);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
