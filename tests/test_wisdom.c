/*
 * test_wisdom.c - the FFT convolution's wisdom file (HYRT_WISDOM) is
 * written as every output is (runtime/outfile.h): whole, through a
 * temporary renamed into place, and never leaving a temporary behind,
 * even where the name cannot be replaced. Each test runs in its own
 * forked process (Check's default), so each makes its plans afresh.
 */
#include "runtime/hyrt.h"
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One small convolution: makes (and so saves) a plan. */
static void convolve(void)
{
	enum { B = 1, L = 16, C = 4 };
	static float u[B * L * C], k[L * C], y[B * L * C];
	for (int i = 0; i < B * L * C; i++)
		u[i] = (float)(i % 7) - 3.0f;
	for (int i = 0; i < L * C; i++)
		k[i] = 1.0f / (float)(i + 1);
	hyrt_longconv_fft(y, u, k, B, L, C);
}

/* The names in dir, but . and .., joined by spaces. */
static const char *names(const char *dir, char *buf, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	buf[0] = 0;
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			strncat(buf, e->d_name, cap - strlen(buf) - 2);
			strcat(buf, " ");
		}
	closedir(d);
	return buf;
}

START_TEST(wisdom_written_whole)
{
	char buf[1024];
	const char *dir = tu_path(tu_tmpdir(), "whole");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	const char *w = tu_path(dir, "fftw.wisdom");
	setenv("HYRT_WISDOM", w, 1);
	convolve();
	size_t n;
	char *text = tu_read(w, &n);
	ck_assert_msg(text != NULL, "no wisdom file at %s", w);
	ck_assert_msg(strncmp(text, "(fftw-3", 7) == 0, "not wisdom: %.40s",
	              text);
	free(text);
	ck_assert_str_eq(names(dir, buf, sizeof buf), "fftw.wisdom ");
}
END_TEST

/* A wisdom name that is a directory is not replaced, and nothing is left
 * beside it; the convolution still runs. */
START_TEST(wisdom_onto_dir_leaves_nothing)
{
	char buf[1024];
	const char *dir = tu_path(tu_tmpdir(), "ontodir");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	const char *w = tu_path(dir, "wisdom");
	ck_assert_int_eq(mkdir(w, 0755), 0);
	setenv("HYRT_WISDOM", w, 1);
	convolve();
	ck_assert_str_eq(names(dir, buf, sizeof buf), "wisdom ");
	ck_assert_str_eq(names(w, buf, sizeof buf), "");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("wisdom");
	TCase *tc = tcase_create("wisdom");
	tcase_add_test(tc, wisdom_written_whole);
	tcase_add_test(tc, wisdom_onto_dir_leaves_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
