/*
 * base.h - the ground every compiler module stands on: arena allocation,
 * and (from common/diag.h, shared with the runtime) the diagnostics
 * channel for user errors and the assert macro for internal bugs.
 *
 * An Arena owns everything a compilation allocates; ir/ and passes/ never
 * call free(). arena_set_fail_after() lets tests make the Nth allocation
 * fail, as Lua does with its allocator choke point.
 */
#ifndef HYENAC_BASE_H
#define HYENAC_BASE_H

#include "../common/diag.h"

/* ---- arena ------------------------------------------------------------ */

typedef struct Arena Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
/* Zeroed, 64-byte aligned. Dies when memory runs out: use it for the
 * compiler's own bookkeeping, whose size follows the model's structure. */
void *arena_alloc(Arena *a, size_t n);
/* Zeroed, 64-byte aligned, or NULL: use it where the size comes from input
 * (tensor data, token counts). */
void *arena_try_alloc(Arena *a, size_t n);
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) HY_PRINTF(2, 3);
size_t arena_bytes(const Arena *a);
/* Test hook: the Nth allocation from now on (1 = the next) fails; 0 = never. */
void arena_set_fail_after(long n);

#endif
