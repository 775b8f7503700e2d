/*
 * testutil.h - shared helpers for the Check suites: paths to the sources,
 * the golden checkpoints and the hyenac binary; scratch directories; running
 * hyenac as a user would and capturing what it says.
 */
#ifndef HYENAC_TESTUTIL_H
#define HYENAC_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

/* A fresh scratch directory under $TMPDIR, created once per process and
 * removed when that process exits (kept when HYENAC_TEST_KEEP_TMP is set,
 * to look at a failure's files). */
const char *tu_tmpdir(void);
/* tu_path("a", "b") -> "a/b" in a static ring of buffers. */
const char *tu_path(const char *dir, const char *name);
const char *tu_golden(const char *case_name, const char *file);
const char *tu_source(const char *rel);
/* Write bytes to dir/name (in the scratch dir) and return the path. */
const char *tu_write(const char *name, const void *data, size_t n);
const char *tu_write_str(const char *name, const char *text);
/* Read a whole file (malloc'd, NUL-terminated); NULL if absent. */
char *tu_read(const char *path, size_t *n);

typedef struct RunResult {
	int status;     /* exit code, or -1 when killed by a signal */
	int signal;     /* the signal that killed it, or 0 */
	char err[8192]; /* stderr */
	char out[8192]; /* stdout (truncated) */
} RunResult;

/* Run the hyenac binary with argv (NULL-terminated, without argv[0]). */
void tu_run_hyenac(RunResult *r, const char *const *args);
/* Run any program. */
void tu_run(RunResult *r, const char *prog, const char *const *args);
/* Number of lines in s (a trailing newline ends the last one). */
int tu_lines(const char *s);

/* The largest |a[i] - b[i]|; a NaN anywhere counts as infinitely wrong. */
double tu_max_abs_diff(const float *a, const float *b, size_t n);
/* npy_load(path) into *a (runtime/npy.h), or fail the test. */
struct NpyArray;
void tu_load_npy(const char *path, struct NpyArray *a);

/* Run a suite and return the process exit status. */
int tu_main(Suite *s);

#endif
