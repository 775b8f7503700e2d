/*
 * base.c - the arena. See base.h for the contract. The arena is a list of
 * chunks; a request larger than a quarter of the chunk size gets a chunk
 * of its own so big tensors waste nothing.
 */
#include "base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ------------------------------------------------------------ */

enum { CHUNK = 1 << 20, ALIGN = 64 };

typedef struct Chunk {
	struct Chunk *next;
	size_t used, size;
	/* data follows, aligned */
} Chunk;

struct Arena {
	Chunk *head;
	size_t total;
};

static long fail_after;

void arena_set_fail_after(long n)
{
	fail_after = n;
}

static bool injected_failure(void)
{
	if (fail_after <= 0)
		return false;
	return --fail_after == 0;
}

static size_t hdr_size(void)
{
	return (sizeof(Chunk) + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

static Chunk *chunk_new(size_t size)
{
	Chunk *c;
	if (size > SIZE_MAX - hdr_size() - ALIGN)
		return NULL;
	if (posix_memalign((void **)&c, ALIGN, hdr_size() + size) != 0)
		return NULL;
	c->next = NULL;
	c->used = 0;
	c->size = size;
	return c;
}

Arena *arena_new(void)
{
	Arena *a = calloc(1, sizeof *a);
	if (!a)
		hy_die("out of memory");
	return a;
}

void arena_free(Arena *a)
{
	if (!a)
		return;
	for (Chunk *c = a->head, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	free(a);
}

void *arena_try_alloc(Arena *a, size_t n)
{
	Chunk *c;
	char *p;

	if (injected_failure())
		return NULL;
	if (n == 0)
		n = 1;
	if (n > SIZE_MAX - ALIGN)
		return NULL;
	n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (n > CHUNK / 4) {
		/* Own chunk, linked behind the head so the head keeps filling. */
		c = chunk_new(n);
		if (!c)
			return NULL;
		c->used = n;
		if (a->head) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			a->head = c;
		}
	} else {
		c = a->head;
		if (!c || c->size - c->used < n) {
			c = chunk_new(CHUNK);
			if (!c)
				return NULL;
			c->next = a->head;
			a->head = c;
		}
		c->used += n;
	}
	a->total += n;
	p = (char *)c + hdr_size() + c->used - n;
	memset(p, 0, n);
	return p;
}

void *arena_alloc(Arena *a, size_t n)
{
	void *p = arena_try_alloc(a, n);
	if (!p)
		hy_die("out of memory allocating %zu bytes", n);
	return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *arena_strdup(Arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(Arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	HY_ASSERT(n >= 0);
	p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

size_t arena_bytes(const Arena *a)
{
	return a->total;
}
