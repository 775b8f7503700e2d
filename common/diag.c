/*
 * diag.c - the diagnostics channel, the internal-error exit, checked
 * arithmetic, opening input files and escaping echoed text: what the
 * compiler and the runtime share. See diag.h for the contract.
 */
#include "diag.h"

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

size_t hy_sat_add_size(size_t a, size_t b)
{
	size_t r;
	return hy_add_size(a, b, &r) ? r : SIZE_MAX;
}

size_t hy_sat_mul_size(size_t a, size_t b)
{
	size_t r;
	return hy_mul_size(a, b, &r) ? r : SIZE_MAX;
}

int64_t hy_sat_add_i64(int64_t a, int64_t b)
{
	int64_t r;
	return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

int64_t hy_sat_mul_i64(int64_t a, int64_t b)
{
	int64_t r;
	return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
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
