/*
 * memlimit.h - the one reader of HYENAC_MEMORY_LIMIT, for hyenac and for
 * the model binaries it builds (both link libhyenac_rt.a).
 *
 * The value is a whole number of bytes, optionally followed by one of the
 * suffixes K, M, G or T (powers of 1024, either case) and an optional B:
 * "500000000", "512M", "8G", "2GB", "1t". It must be at least 1 byte and
 * at most 2^63 - 1 bytes. Anything else ("lots", "-5", "1.5G", "", " 8G",
 * "99999999999T") is bad input: the environment is input, so a wrong value
 * is refused with one line naming the variable and the value, never
 * silently replaced by a default.
 */
#ifndef HYENAC_MEMLIMIT_H
#define HYENAC_MEMLIMIT_H

#include "../common/diag.h"

#define HYRT_MEMORY_LIMIT_ENV "HYENAC_MEMORY_LIMIT"

/* Parse a byte count in the syntax above into *out; false if it is not
 * one (out untouched). */
bool hyrt_parse_bytes(const char *s, int64_t *out);

/* The limit the environment sets: 0 when HYENAC_MEMORY_LIMIT is unset,
 * the bytes when it is valid, -1 with one line in d when it is set to
 * something that is not a byte count. */
int64_t hyrt_memory_limit_env(Diag *d);

#endif
