/*
 * test_memory.c - memory that input can make hyenac or a model binary ask
 * for (issue 12, case 8), measured where it can be honestly: the children
 * run under an address-space limit (RLIMIT_AS, through the shell's
 * `ulimit -v`) that the old code needed many times over, and must end
 * with their one-line answer, not an out-of-memory failure.
 *
 *   - safetensors headers of junk (a shape of millions of dims, a long
 *     array, metadata of millions of entries) are refused in bounded
 *     memory, naming the value, and HYENAC_MEMORY_LIMIT bounds the header;
 *   - a model binary runs a batch of any size in chunks of its memory plan
 *     (the outputs byte for byte those of one unchunked forward), chunks
 *     smaller under HYENAC_MEMORY_LIMIT, and refuses a limit too small
 *     for one row before it allocates;
 *   - a HYENAC_MEMORY_LIMIT that is not a byte count is refused in one
 *     line naming the variable and the value, by hyenac and the binaries.
 *
 * The RLIMIT_AS checks are skipped under AddressSanitizer, which reserves
 * terabytes of address space for its shadow memory.
 */
#include "../frontend/frontend.h"
#include "runtime/npy.h"
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define TINY HYENAC_GOLDEN_DIR "/tiny-1k"
#define ENV "HYENAC_MEMORY_LIMIT"

/* A copy of s that outlives the static buffers of tu_path (a ring, so a
 * test's few live paths never collide; no heap, nothing for LSan). */
static char *keep(const char *s)
{
	static char ring[64][4096];
	static int k;
	char *b = ring[k++ % 64];

	snprintf(b, sizeof ring[0], "%s", s);
	return b;
}

/* Run prog with args under `ulimit -v kib` (no limit when kib is 0). */
static void run_limited(RunResult *r, long kib, const char *prog,
                        const char *const *args)
{
	const char *argv[64];
	char script[128];
	int n = 0;

	snprintf(script, sizeof script,
	         kib ? "ulimit -v %ld && exec \"$0\" \"$@\"" : "exec \"$0\" \"$@\"",
	         kib);
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n++] = prog;
	for (; args && *args && n < 62; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	tu_run(r, "/bin/sh", argv);
}

static void one_line_exit1(const RunResult *r, const char *want1,
                           const char *want2)
{
	ck_assert_msg(r->status == 1, "exit %d (signal %d), want 1: %s",
	              r->status, r->signal, r->err);
	ck_assert_msg(tu_lines(r->err) == 1, "not one line: %s", r->err);
	ck_assert_msg(strstr(r->err, want1), "'%s' not in: %s", want1, r->err);
	ck_assert_msg(!want2 || strstr(r->err, want2), "'%s' not in: %s",
	              want2, r->err);
}

/* ---- safetensors headers ----------------------------------------------- */

/* dir/config.json (tiny-1k's) and dir/model.safetensors with the header
 * head + n copies of item (the last without sep) + tail, then ndata zero
 * bytes; returns the directory. */
static const char *evil_checkpoint(const char *dir, const char *head,
                                   const char *item, const char *sep,
                                   long n, const char *tail, size_t ndata)
{
	size_t hi = strlen(head), ii = strlen(item), si = strlen(sep);
	size_t ti = strlen(tail), hlen = hi + (size_t)n * (ii + si + 20) + ti;
	char *buf = calloc(1, 8 + hlen + 8 + ndata), *p = buf + 8, *cfg;
	size_t ncfg;
	FILE *f;

	ck_assert(buf);
	memcpy(p, head, hi);
	p += hi;
	for (long i = 0; i < n; i++) {
		char num[32];
		/* "%ld" in item makes each copy distinct (metadata keys). */
		int k = snprintf(num, sizeof num, "%ld", i);
		const char *at = strstr(item, "%ld");
		if (at) {
			memcpy(p, item, (size_t)(at - item));
			p += at - item;
			memcpy(p, num, (size_t)k);
			p += k;
			memcpy(p, at + 3, strlen(at + 3));
			p += strlen(at + 3);
		} else {
			memcpy(p, item, ii);
			p += ii;
		}
		if (i + 1 < n) {
			memcpy(p, sep, si);
			p += si;
		}
	}
	memcpy(p, tail, ti);
	p += ti;
	while ((p - buf - 8) % 8)
		*p++ = ' ';
	hlen = (size_t)(p - buf - 8);
	for (int i = 0; i < 8; i++)
		buf[i] = (char)((uint64_t)hlen >> (8 * i));
	const char *d = tu_path(tu_tmpdir(), dir);
	char *dd = keep(d);
	ck_assert(mkdir(dd, 0755) == 0);
	cfg = tu_read(TINY "/config.json", &ncfg);
	ck_assert(cfg);
	f = fopen(tu_path(dd, "config.json"), "wb");
	ck_assert(f && fwrite(cfg, 1, ncfg, f) == ncfg && fclose(f) == 0);
	f = fopen(tu_path(dd, "model.safetensors"), "wb");
	ck_assert(f);
	ck_assert(fwrite(buf, 1, 8 + hlen + ndata, f) == 8 + hlen + ndata);
	ck_assert(fclose(f) == 0);
	free(cfg);
	free(buf);
	return dd;
}

/* A shape of 8 million dims (a 16 MB header): the old reader built a
 * DOM of 1.7 GB before it counted them; now the ninth dim ends it. */
START_TEST(test_st_many_dims)
{
	const char *dir = evil_checkpoint(
	    "dims", "{\"w\":{\"dtype\":\"F32\",\"shape\":[", "1", ",", 8000000,
	    "],\"data_offsets\":[0,4]}}", 4);
	RunResult r;

	run_limited(&r, UNDER_ASAN ? 0 : 1L << 20, HYENAC_BIN,
	            (const char *[]){"info", dir, NULL});
	one_line_exit1(&r, "[\"w\"][\"shape\"] has more than 8 items",
	               "model.safetensors: header:1:");
}
END_TEST

/* A tensor entry that is an array of 8 million zeros. */
START_TEST(test_st_junk_array)
{
	const char *dir = evil_checkpoint("junk", "{\"junk\":[", "0", ",",
	                                  8000000, "]}", 0);
	RunResult r;

	run_limited(&r, UNDER_ASAN ? 0 : 1L << 20, HYENAC_BIN,
	            (const char *[]){"info", dir, NULL});
	one_line_exit1(&r, "[\"junk\"] has more than 8 items", NULL);
}
END_TEST

/* Metadata of 3 million distinct entries (40 MB): legal for the format,
 * so only a memory bound can refuse it, and HYENAC_MEMORY_LIMIT is that
 * bound (the old reader ignored it and took 1 GB). */
START_TEST(test_st_huge_metadata)
{
	const char *dir = evil_checkpoint("meta", "{\"__metadata__\":{",
	                                  "\"key%ld\":\"v\"", ",", 3000000,
	                                  "}}", 0);
	RunResult r;

	setenv(ENV, "64M", 1);
	run_limited(&r, UNDER_ASAN ? 0 : 1L << 20, HYENAC_BIN,
	            (const char *[]){"info", dir, NULL});
	one_line_exit1(&r, "needs more than 67108864 bytes of memory", ENV);
	unsetenv(ENV);
}
END_TEST

/* The bounds leave a real header alone: 200,000 tensors with the
 * shortest names and shapes (the densest DOM per header byte) open. */
START_TEST(test_st_many_tensors_open)
{
	const long n = 200000;
	char *h = malloc((size_t)n * 80 + 16), *p = h;
	Arena *a = arena_new();
	Diag d;

	ck_assert(h);
	*p++ = '{';
	for (long i = 0; i < n; i++)
		p += sprintf(p, "%s\"%ld\":{\"dtype\":\"F32\",\"shape\":[1],"
		                "\"data_offsets\":[%ld,%ld]}",
		             i ? "," : "", i, 4 * i, 4 * i + 4);
	*p++ = '}';
	*p = '\0';
	const char *dir = evil_checkpoint("many", h, "", "", 0, "",
	                                  (size_t)n * 4);
	diag_init(&d);
	SafeTensors *st = st_open(a, tu_path(dir, "model.safetensors"), &d);
	ck_assert_msg(st, "%s", d.msg);
	ck_assert_int_eq(st->n, n);
	st_close(st);
	arena_free(a);
	free(h);
}
END_TEST

/* ---- batches in a model binary ---------------------------------------- */

/* tiny-1k compiled into the scratch dir as name, with --batch batch. */
static const char *tiny_binary(const char *name, const char *batch)
{
	const char *out = tu_path(tu_tmpdir(), name);
	char *o = keep(out);
	RunResult r;

	if (access(o, X_OK) == 0)
		return o;
	tu_run_hyenac(&r, (const char *[]){"compile", TINY, "-o", o,
	                                   batch ? "--batch" : NULL, batch,
	                                   NULL});
	ck_assert_msg(r.status == 0, "compile: %s", r.err);
	return o;
}

/* rows x len token ids, a fixed pseudo-random sequence of A C G T N. */
static const char *tokens(const char *name, int64_t rows, int64_t len)
{
	int32_t *t = malloc((size_t)(rows * len) * sizeof *t);
	uint32_t s = 12345;
	int64_t dim[2] = {rows, len};
	const char *p = tu_path(tu_tmpdir(), name);
	Diag d;

	ck_assert(t);
	for (int64_t i = 0; i < rows * len; i++) {
		s = s * 1664525u + 1013904223u;
		t[i] = 7 + (int32_t)((s >> 16) % 5);
	}
	diag_init(&d);
	ck_assert_msg(npy_save_i32(p, t, 2, dim, &d), "%s", d.msg);
	free(t);
	return keep(p);
}

static void same_file(const char *a, const char *b)
{
	size_t na, nb;
	char *x = tu_read(a, &na), *y = tu_read(b, &nb);

	ck_assert_msg(x && y, "%s or %s missing", a, b);
	ck_assert_msg(na == nb && memcmp(x, y, na) == 0, "%s and %s differ", a,
	              b);
	free(x);
	free(y);
}

/* One command three ways: compiled for the whole batch (one forward),
 * compiled for one row (chunks of the plan), and the same under a limit
 * that leaves room for a few rows per forward; the files must be equal. */
static void three_ways(const char *tok, const char *cmd, const char *pool)
{
	const char *whole = tiny_binary("tiny_b3000", "3000");
	const char *one = tiny_binary("tiny_b1", NULL);
	const char *out[3];
	RunResult r;

	for (int i = 0; i < 3; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s_%s_%d.npy", cmd,
		         pool ? pool : "none", i);
		out[i] = keep(tu_path(tu_tmpdir(), name));
		if (i == 2)
			setenv(ENV, "4500K", 1); /* 4.2 MB of it are weights */
		tu_run(&r, i ? one : whole,
		       (const char *[]){cmd, "--tokens", tok, "-o", out[i], "-j",
		                        "2", pool ? "--pool" : NULL, pool,
		                        NULL});
		unsetenv(ENV);
		ck_assert_msg(r.status == 0, "%s run %d: %s", cmd, i, r.err);
	}
	same_file(out[0], out[1]);
	same_file(out[0], out[2]);
}

START_TEST(test_batch_chunks_exact)
{
	const char *tok = tokens("t3000.npy", 3000, 16);
	NpyArray a;
	Diag d;

	three_ways(tok, "embed", NULL);
	three_ways(tok, "logits", NULL);
	three_ways(tok, "embed", "mean");
	three_ways(tok, "embed", "last");
	diag_init(&d);
	ck_assert_msg(npy_load(tu_path(tu_tmpdir(), "embed_none_1.npy"), &a,
	                       &d), "%s", d.msg);
	ck_assert_int_eq(a.rank, 3);
	ck_assert_int_eq(a.dim[0], 3000);
	ck_assert_int_eq(a.dim[1], 16);
	ck_assert_int_eq(a.dim[2], 128);
	npy_free(&a);
}
END_TEST

/* 6000 rows of 16 tokens need 200 MB of activations at once; run in
 * chunks (outputs streamed), they fit a 100 MB address space. */
START_TEST(test_batch_bounded_memory)
{
	const char *bin = tiny_binary("tiny_b1", NULL);
	const char *tok = tokens("t6000.npy", 6000, 16);
	const char *out = keep(tu_path(tu_tmpdir(), "o.npy"));
	RunResult r;

	if (UNDER_ASAN)
		return;
	run_limited(&r, 100 << 10, bin,
	            (const char *[]){"embed", "--tokens", tok, "-o", out,
	                             "--pool", "mean", "-j", "2", NULL});
	ck_assert_msg(r.status == 0, "pooled: exit %d signal %d: %s", r.status,
	              r.signal, r.err);
	run_limited(&r, 100 << 10, bin,
	            (const char *[]){"embed", "--tokens", tok, "-o", out, "-j",
	                             "2", NULL});
	ck_assert_msg(r.status == 0, "hidden: exit %d signal %d: %s", r.status,
	              r.signal, r.err);
}
END_TEST

/* A limit that cannot hold one row is refused before anything runs. */
START_TEST(test_batch_limit_too_small)
{
	const char *bin = tiny_binary("tiny_b1", NULL);
	const char *tok = tokens("t10.npy", 10, 1000);
	const char *out = keep(tu_path(tu_tmpdir(), "small.npy"));
	RunResult r;

	setenv(ENV, "5M", 1);
	tu_run(&r, bin, (const char *[]){"embed", "--tokens", tok, "-o", out,
	                                 NULL});
	one_line_exit1(&r, ENV "=5242880 bytes is too little for one row of "
	                   "1000 tokens", NULL);
	ck_assert(access(out, F_OK) != 0);
	tu_run(&r, bin, (const char *[]){"bench", "--batch", "4", NULL});
	one_line_exit1(&r, "too little for one row", NULL);
	unsetenv(ENV);
}
END_TEST

/* ---- the variable itself ----------------------------------------------- */

START_TEST(test_limit_env_syntax)
{
	static const char *const bad[] = {
	    "lots", "-5", "99999999999T", "", "1.5.G", "1.5G", "0", " 8G",
	    "8G ", "8 G", "+8G", "0x10", "8GiB", "18446744073709551616",
	    "9223372036854775808", "8\nG",
	};
	const char *bin = tiny_binary("tiny_b1", NULL);
	const char *tok = tokens("t1.npy", 1, 8);
	const char *out = keep(tu_path(tu_tmpdir(), "e.npy"));
	RunResult r;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char want[64];
		snprintf(want, sizeof want, ENV "='%s'", bad[i]);
		if (strchr(bad[i], '\n'))
			snprintf(want, sizeof want, ENV "='8\\x0aG'");
		setenv(ENV, bad[i], 1);
		tu_run_hyenac(&r, (const char *[]){"info", TINY, NULL});
		one_line_exit1(&r, want, "not a byte count");
		tu_run(&r, bin, (const char *[]){"embed", "--tokens", tok, "-o",
		                                 out, NULL});
		one_line_exit1(&r, want, "not a byte count");
		ck_assert(access(out, F_OK) != 0);
		tu_run(&r, bin, (const char *[]){"info", NULL});
		one_line_exit1(&r, want, NULL);
	}
	static const char *const good[] = {"8G", "8g", "8GB", "3t",
	                                   "1000000", "9223372036854775807"};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		setenv(ENV, good[i], 1);
		tu_run_hyenac(&r, (const char *[]){"info", TINY, NULL});
		ck_assert_msg(r.status == 0, "%s: %s", good[i], r.err);
	}
	setenv(ENV, "1G", 1);
	tu_run(&r, bin, (const char *[]){"embed", "--tokens", tok, "-o", out,
	                                 NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	unsetenv(ENV);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("memory");
	TCase *tc = tcase_create("safetensors");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_st_many_dims);
	tcase_add_test(tc, test_st_junk_array);
	tcase_add_test(tc, test_st_huge_metadata);
	tcase_add_test(tc, test_st_many_tensors_open);
	suite_add_tcase(s, tc);
	tc = tcase_create("binaries");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_batch_chunks_exact);
	tcase_add_test(tc, test_batch_bounded_memory);
	tcase_add_test(tc, test_batch_limit_too_small);
	tcase_add_test(tc, test_limit_env_syntax);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
