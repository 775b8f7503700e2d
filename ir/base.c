/*
 * base.c - arena, diagnostics, checked arithmetic, opening input files
 * and escaping echoed text. See base.h for the contract. The arena is a list of chunks; a request larger than a quarter
 * of the chunk size gets a chunk of its own so big tensors waste nothing.
 */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void hy_die_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "hyenac: internal error at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void diag_init(Diag *d)
{
	memset(d, 0, sizeof *d);
}

void diag_verror(Diag *d, const char *fmt, va_list ap)
{
	if (d->nerr++ > 0)
		return;
	char raw[DIAG_MSG_MAX];
	vsnprintf(raw, sizeof raw, fmt, ap);
	/* One line, whatever the input contained: line ends (a library's
	 * multi-line message) read as spaces, other control characters (a
	 * path, a name) are escaped. */
	for (char *p = raw; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	hy_escape(d->msg, sizeof d->msg, raw);
}

void diag_error(Diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_verror(d, fmt, ap);
	va_end(ap);
}

void diag_at(Diag *d, const char *file, long line, long col, const char *fmt,
             ...)
{
	char where[512], what[DIAG_MSG_MAX];
	va_list ap;

	if (line > 0 && col > 0)
		snprintf(where, sizeof where, "%s:%ld:%ld", file, line, col);
	else if (line > 0)
		snprintf(where, sizeof where, "%s:%ld", file, line);
	else
		snprintf(where, sizeof where, "%s", file);
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	diag_error(d, "%s: %s", where, what);
}

bool diag_ok(const Diag *d)
{
	return d->nerr == 0;
}

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

bool hy_mul_size(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return false;
	*out = a * b;
	return true;
}

bool hy_add_size(size_t a, size_t b, size_t *out)
{
	if (b > SIZE_MAX - a)
		return false;
	*out = a + b;
	return true;
}

int hy_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int row[64 + 1];

	if (lb > 64 || la > 64)
		return 1 << 20;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* What a file that is not regular is, for a message. */
static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "is a directory, not a regular file";
	if (S_ISFIFO(m))
		return "is a FIFO, not a regular file";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "is a device, not a regular file";
	if (S_ISSOCK(m))
		return "is a socket, not a regular file";
	return "not a regular file";
}

int hy_open_regular(const char *path, struct stat *st, const char **why)
{
	struct stat sb;
	int fd, fl;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (fstat(fd, &sb) != 0) {
		*why = strerror(errno);
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		*why = file_kind(sb.st_mode);
		close(fd);
		return -1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		*why = strerror(errno);
		close(fd);
		return -1;
	}
	if (st)
		*st = sb;
	return fd;
}

/* Bytes of the control character at p: 0 (none), 1 or 2 (C1). */
static int control_len(const unsigned char *p)
{
	if (*p < 0x20 || *p == 0x7f)
		return *p ? 1 : 0;
	return *p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0 ? 2 : 0;
}

long hy_control_at(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (long i = 0; p[i]; i++)
		if (control_len(p + i))
			return i;
	return -1;
}

void hy_blank_controls(char *s)
{
	unsigned char *p = (unsigned char *)s;

	for (; *p; p++)
		for (int n = control_len(p); n > 0; n--)
			p[n - 1] = '_';
}

const char *hy_escape(char *buf, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t k = 0;

	HY_ASSERT(cap >= 8);
	for (; *p; p++) {
		char e[9];
		size_t n = 0;
		int c = control_len(p);
		if (c > 0) {
			/* U+0080..U+009F too: 0xc2 0x9b is a CSI */
			for (int i = 0; i < c; i++) {
				e[n++] = '\\';
				e[n++] = 'x';
				e[n++] = hex[p[i] >> 4];
				e[n++] = hex[p[i] & 15];
			}
			p += c - 1;
		} else {
			e[n++] = (char)*p;
		}
		if (k + n + 4 > cap) {
			memcpy(buf + k, "...", 4);
			return buf;
		}
		memcpy(buf + k, e, n);
		k += n;
	}
	buf[k] = 0;
	return buf;
}
