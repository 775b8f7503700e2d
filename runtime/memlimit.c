/*
 * memlimit.c - HYENAC_MEMORY_LIMIT's syntax and its one message
 * (memlimit.h). Plain C and libc only: the model binaries link it.
 */
#include "memlimit.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

bool hyrt_parse_bytes(const char *s, int64_t *out)
{
	const char *p = s;
	unsigned long long v = 0;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*p))
		return false;
	/* Digits by hand: strtoull would take a sign or leading blanks. */
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (ULLONG_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	switch (toupper((unsigned char)*p)) {
	case 'K': shift = 10; p++; break;
	case 'M': shift = 20; p++; break;
	case 'G': shift = 30; p++; break;
	case 'T': shift = 40; p++; break;
	default: break;
	}
	if (*p == 'B' || *p == 'b')
		p++;
	if (*p || v == 0 || v > (unsigned long long)(INT64_MAX >> shift))
		return false;
	*out = (int64_t)(v << shift);
	return true;
}

/* The value as the message shows it: at most 64 bytes, each byte that
 * is not printable ASCII as \xNN, so the message stays one line. */
static void shown(const char *s, char *buf, size_t n)
{
	size_t k = 0, i = 0;

	for (; s[i] && i < 64 && k + 5 < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[k++] = (char)c;
		else
			k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
	}
	if (s[i] && k + 4 < n)
		k += (size_t)snprintf(buf + k, n - k, "...");
	buf[k] = '\0';
}

int64_t hyrt_memory_limit_env(Diag *d)
{
	const char *s = getenv(HYRT_MEMORY_LIMIT_ENV);
	char buf[300];
	int64_t v;

	if (!s)
		return 0;
	if (hyrt_parse_bytes(s, &v))
		return v;
	shown(s, buf, sizeof buf);
	diag_error(d, "%s='%s' is not a byte count: use a whole number of "
	              "bytes, optionally followed by K, M, G or T (powers of "
	              "1024), e.g. 512M or 8G, from 1 byte to 2^63 - 1",
	           HYRT_MEMORY_LIMIT_ENV, buf);
	return -1;
}
