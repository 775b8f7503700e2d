/*
 * diag.h - what the compiler and the runtime share: the diagnostics
 * channel for user errors, the assert macro for internal bugs, checked
 * size arithmetic, opening input files and escaping echoed text. It leans
 * on libc alone, so the runtime that model binaries link (runtime/) uses
 * it without any of the compiler's headers; ir/base.h adds the arena.
 *
 * Two error channels, never mixed (STYLE.md rule 5):
 *   - bad input (a file, a flag) is reported through a Diag, which keeps the
 *     first error as one line "FILE:LINE:COL: problem"; the caller returns
 *     false/NULL and the driver prints it and exits 1 (input) or 2 (usage);
 *   - a broken invariant inside hyenac hits HY_ASSERT/hy_die, which abort
 *     with the source file and line.
 */
#ifndef HYENAC_DIAG_H
#define HYENAC_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define HY_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define HY_NORETURN __attribute__((noreturn))
#else
#define HY_PRINTF(a, b)
#define HY_NORETURN
#endif

HY_NORETURN void hy_die_at(const char *file, int line, const char *fmt, ...)
    HY_PRINTF(3, 4);
#define hy_die(...) hy_die_at(__FILE__, __LINE__, __VA_ARGS__)
#define HY_ASSERT(c)                                                          \
	do {                                                                  \
		if (!(c))                                                     \
			hy_die_at(__FILE__, __LINE__, "assertion failed: %s", \
			          #c);                                        \
	} while (0)

/* ---- diagnostics ------------------------------------------------------ */

enum { DIAG_MSG_MAX = 1024 };

typedef struct Diag {
	int nerr;                /* errors reported; only the first is kept */
	bool usage;              /* the first error is a usage error (exit 2) */
	char msg[DIAG_MSG_MAX];  /* "FILE:LINE:COL: problem", one line */
} Diag;

void diag_init(Diag *d);
/* Record an error with a location; line/col <= 0 are omitted. */
void diag_at(Diag *d, const char *file, long line, long col, const char *fmt,
             ...) HY_PRINTF(5, 6);
/* Record an error whose text already names its place. */
void diag_error(Diag *d, const char *fmt, ...) HY_PRINTF(2, 3);
void diag_verror(Diag *d, const char *fmt, va_list ap);
bool diag_ok(const Diag *d);

/* ---- checked arithmetic ----------------------------------------------- */

/* Return false on overflow; *out is set only on success. */
bool hy_mul_size(size_t a, size_t b, size_t *out);
bool hy_add_size(size_t a, size_t b, size_t *out);
/* a + b and a * b of sizes that are never negative, saturating at the
 * type's maximum (memory figures that only have to compare as "too much"). */
size_t hy_sat_add_size(size_t a, size_t b);
size_t hy_sat_mul_size(size_t a, size_t b);
int64_t hy_sat_add_i64(int64_t a, int64_t b);
int64_t hy_sat_mul_i64(int64_t a, int64_t b);

/* Edit distance, for "did you mean" suggestions. */
int hy_edit_distance(const char *a, const char *b);

/* ---- input files and echoed text -------------------------------------- */

struct stat;

/* Open path read-only (O_CLOEXEC) only if it is a regular file, without
 * ever waiting: the open is non-blocking, so a FIFO with no writer does
 * not hang it, and fstat refuses a FIFO, device, socket or directory
 * before a byte is read; O_NONBLOCK is then cleared. Returns the
 * descriptor and fills *st (when not NULL), or -1 with *why set to a
 * static phrase ("No such file or directory", "is a FIFO, not a regular
 * file"). For the inputs that must be files: model descriptions,
 * config.json, checkpoints, IR text. Token and FASTA files are streams
 * and may be pipes; their readers open them as they are. */
int hy_open_regular(const char *path, struct stat *st, const char **why);

/* Copy s into buf (cap >= 8 bytes) for a message: control characters
 * (below 0x20, 0x7f, and the UTF-8 forms of U+0080..U+009F) become \xHH,
 * so text from input (a name, a path, an argument) cannot end the line,
 * move the cursor or start a terminal escape; what does not fit is cut
 * with "...". Idempotent: escaping twice changes nothing. Returns buf. */
const char *hy_escape(char *buf, size_t cap, const char *s);
/* The offset of the first control character in s (as hy_escape means
 * it; a C1 control is 2 bytes from there), or -1. */
long hy_control_at(const char *s);
/* Replace every control character of s with '_' (one per byte). */
void hy_blank_controls(char *s);

#endif
