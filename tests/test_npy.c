/*
 * test_npy.c - the .npy reader and writer: round trips of every rank, the
 * golden tokens and activations, the exact header bytes numpy writes, the
 * dtype conversions, and one case per way a file can be wrong, each of
 * which must fail with one line naming the file and the problem.
 */
#include "ir/ir.h"
#include "runtime/npy.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A .npy file from its parts: version major, raw header text (no padding
 * added), and data bytes. */
static const char *mk(const char *name, int major, const char *header,
                      const void *data, size_t n)
{
	size_t hl = strlen(header), pre = major == 1 ? 10 : 12;
	unsigned char *b = malloc(pre + hl + n + 1);
	memcpy(b, "\x93NUMPY", 6);
	b[6] = (unsigned char)major;
	b[7] = 0;
	b[8] = (unsigned char)hl;
	b[9] = (unsigned char)(hl >> 8);
	if (major != 1) {
		b[10] = (unsigned char)(hl >> 16);
		b[11] = (unsigned char)(hl >> 24);
	}
	memcpy(b + pre, header, hl);
	if (n)
		memcpy(b + pre + hl, data, n);
	const char *p = tu_write(name, b, pre + hl + n);
	free(b);
	return p;
}

/* Header text for a dtype and shape, as numpy would write it. */
static const char *hdr(const char *descr, const char *shape)
{
	static char buf[256];
	snprintf(buf, sizeof buf,
	         "{'descr': '%s', 'fortran_order': False, 'shape': %s, }\n",
	         descr, shape);
	return buf;
}

static void le_put(unsigned char *p, unsigned long long v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

/* Loading path must fail with one line naming the file and `want`. */
static void expect_fail(const char *path, const char *want)
{
	NpyArray a;
	Diag d;
	diag_init(&d);
	ck_assert_msg(!npy_load(path, &a, &d), "%s loaded", path);
	ck_assert(!diag_ok(&d));
	ck_assert_ptr_null(a.data);
	ck_assert_msg(strstr(d.msg, path), "no file name in: %s", d.msg);
	ck_assert_msg(strstr(d.msg, want), "want '%s' in: %s", want, d.msg);
	ck_assert(!strchr(d.msg, '\n'));
}

static bool has_tmp_files(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	bool found = false;
	ck_assert_ptr_nonnull(dp);
	while ((e = readdir(dp)))
		if (strstr(e->d_name, ".tmp."))
			found = true;
	closedir(dp);
	return found;
}

/* ---- round trips ------------------------------------------------------ */

static const int64_t shapes[][IR_MAX_RANK] = {
	{ 0 }, { 5 }, { 2, 3 }, { 2, 3, 4 }, { 1, 2, 3, 4 }, { 0, 3 },
};
static const int ranks[] = { 0, 1, 2, 3, 4, 2 };

START_TEST(roundtrip_f32)
{
	for (size_t s = 0; s < sizeof ranks / sizeof ranks[0]; s++) {
		int rank = ranks[s];
		size_t n = 1;
		for (int i = 0; i < rank; i++)
			n *= (size_t)shapes[s][i];
		float *x = malloc((n ? n : 1) * sizeof *x);
		for (size_t i = 0; i < n; i++)
			x[i] = (float)i * 0.37f - 3.0f;
		if (n > 2) {
			x[1] = -0.0f;
			x[2] = INFINITY;
		}
		const char *p = tu_path(tu_tmpdir(), "rt_f32.npy");
		Diag d;
		NpyArray a;
		diag_init(&d);
		ck_assert_msg(npy_save_f32(p, x, rank, shapes[s], &d), "%s",
		              d.msg);
		ck_assert_msg(npy_load(p, &a, &d), "%s", d.msg);
		ck_assert_int_eq(a.dtype, DT_F32);
		ck_assert_int_eq(a.rank, rank);
		ck_assert_uint_eq(a.numel, n);
		for (int i = 0; i < rank; i++)
			ck_assert_int_eq(a.dim[i], shapes[s][i]);
		ck_assert_ptr_nonnull(a.data);
		ck_assert(n == 0 || !memcmp(a.data, x, n * sizeof *x));
		npy_free(&a);
		ck_assert_ptr_null(a.data);
		free(x);
	}
	ck_assert(!has_tmp_files(tu_tmpdir()));
}
END_TEST

START_TEST(roundtrip_i32)
{
	for (size_t s = 0; s < sizeof ranks / sizeof ranks[0]; s++) {
		int rank = ranks[s];
		size_t n = 1;
		for (int i = 0; i < rank; i++)
			n *= (size_t)shapes[s][i];
		int32_t *x = malloc((n ? n : 1) * sizeof *x);
		for (size_t i = 0; i < n; i++)
			x[i] = (int32_t)(i * 7919) - 100;
		if (n > 2) {
			x[1] = INT32_MIN;
			x[2] = INT32_MAX;
		}
		const char *p = tu_path(tu_tmpdir(), "rt_i32.npy");
		Diag d;
		NpyArray a;
		diag_init(&d);
		ck_assert_msg(npy_save_i32(p, x, rank, shapes[s], &d), "%s",
		              d.msg);
		ck_assert_msg(npy_load(p, &a, &d), "%s", d.msg);
		ck_assert_int_eq(a.dtype, DT_I32);
		ck_assert_int_eq(a.rank, rank);
		ck_assert_uint_eq(a.numel, n);
		for (int i = 0; i < rank; i++)
			ck_assert_int_eq(a.dim[i], shapes[s][i]);
		ck_assert(n == 0 || !memcmp(a.data, x, n * sizeof *x));
		npy_free(&a);
		free(x);
	}
}
END_TEST

/* A save over an existing file replaces it. */
START_TEST(save_replaces)
{
	const char *p = tu_write_str("replace.npy", "not an array");
	int32_t v = 42;
	int64_t dim[1] = { 1 };
	Diag d;
	NpyArray a;
	diag_init(&d);
	ck_assert(npy_save_i32(p, &v, 1, dim, &d));
	ck_assert_msg(npy_load(p, &a, &d), "%s", d.msg);
	ck_assert_int_eq(((int32_t *)a.data)[0], 42);
	npy_free(&a);
}
END_TEST

/* ---- header bytes ----------------------------------------------------- */

static void check_header(const char *descr, int rank, const int64_t *dim,
                         const char *dict)
{
	const char *p = tu_path(tu_tmpdir(), "hdr.npy");
	float zero[6] = { 0 };
	size_t n, dl = strlen(dict), hl;
	Diag d;
	diag_init(&d);
	if (descr[1] == 'f')
		ck_assert(npy_save_f32(p, zero, rank, dim, &d));
	else
		ck_assert(npy_save_i32(p, (int32_t *)zero, rank, dim, &d));
	unsigned char *b = (unsigned char *)tu_read(p, &n);
	ck_assert_ptr_nonnull(b);
	ck_assert(!memcmp(b, "\x93NUMPY\x01\x00", 8));
	hl = b[8] | (size_t)b[9] << 8;
	ck_assert_uint_eq((10 + hl) % 64, 0);
	ck_assert_uint_lt(dl, hl);
	ck_assert_msg(!memcmp(b + 10, dict, dl), "header: %.*s", (int)hl,
	              b + 10);
	for (size_t i = 10 + dl; i < 10 + hl - 1; i++)
		ck_assert_int_eq(b[i], ' ');
	ck_assert_int_eq(b[10 + hl - 1], '\n');
	free(b);
}

START_TEST(header_bytes)
{
	int64_t d23[] = { 2, 3 }, d5[] = { 5 };
	check_header("<f4", 2, d23,
	             "{'descr': '<f4', 'fortran_order': False, "
	             "'shape': (2, 3), }");
	check_header("<i4", 1, d5,
	             "{'descr': '<i4', 'fortran_order': False, "
	             "'shape': (5,), }");
	check_header("<f4", 0, NULL,
	             "{'descr': '<f4', 'fortran_order': False, "
	             "'shape': (), }");
}
END_TEST

/* Loading a numpy-written file and saving it again gives the same bytes. */
static void check_resave(const char *golden)
{
	const char *src = tu_golden("tiny-1k", golden);
	const char *dst = tu_path(tu_tmpdir(), golden);
	size_t n1, n2;
	NpyArray a;
	Diag d;
	diag_init(&d);
	ck_assert_msg(npy_load(src, &a, &d), "%s", d.msg);
	if (a.dtype == DT_F32)
		ck_assert(npy_save_f32(dst, a.data, a.rank, a.dim, &d));
	else
		ck_assert(npy_save_i32(dst, a.data, a.rank, a.dim, &d));
	npy_free(&a);
	char *b1 = tu_read(src, &n1), *b2 = tu_read(dst, &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert(!memcmp(b1, b2, n1));
	free(b1);
	free(b2);
}

START_TEST(golden_resave)
{
	check_resave("tokens.npy");
	check_resave("hidden.npy");
}
END_TEST

/* ---- golden ----------------------------------------------------------- */

START_TEST(golden_tokens)
{
	NpyArray a;
	Diag d;
	diag_init(&d);
	ck_assert_msg(npy_load(tu_golden("tiny-1k", "tokens.npy"), &a, &d),
	              "%s", d.msg);
	ck_assert_int_eq(a.dtype, DT_I32);
	ck_assert_int_eq(a.rank, 2);
	ck_assert_int_eq(a.dim[0], 2);
	ck_assert_int_eq(a.dim[1], 1024);
	ck_assert_uint_eq(a.numel, 2048);
	for (size_t i = 0; i < a.numel; i++) {
		int32_t t = ((int32_t *)a.data)[i];
		ck_assert_msg(t >= 7 && t <= 11, "token %zu is %d", i, t);
	}
	npy_free(&a);
}
END_TEST

START_TEST(golden_hidden)
{
	NpyArray a;
	Diag d;
	diag_init(&d);
	ck_assert_msg(npy_load(tu_golden("tiny-1k", "hidden.npy"), &a, &d),
	              "%s", d.msg);
	ck_assert_int_eq(a.dtype, DT_F32);
	ck_assert_int_eq(a.rank, 3);
	ck_assert_int_eq(a.dim[0], 2);
	ck_assert_int_eq(a.dim[1], 1024);
	ck_assert_int_eq(a.dim[2], 128);
	ck_assert_uint_eq(a.numel, 2 * 1024 * 128);
	double sum = 0;
	for (size_t i = 0; i < a.numel; i++) {
		float x = ((float *)a.data)[i];
		ck_assert(isfinite(x));
		sum += fabs(x);
	}
	ck_assert(sum > 0);
	npy_free(&a);
}
END_TEST

/* ---- dtypes and header syntax ----------------------------------------- */

/* Load `path`, expecting an i32 vector equal to want[0..n). */
static void expect_i32(const char *path, const int32_t *want, size_t n)
{
	NpyArray a;
	Diag d;
	diag_init(&d);
	ck_assert_msg(npy_load(path, &a, &d), "%s", d.msg);
	ck_assert_int_eq(a.dtype, DT_I32);
	ck_assert_uint_eq(a.numel, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(((int32_t *)a.data)[i], want[i]);
	npy_free(&a);
}

START_TEST(int_conversions)
{
	static const struct {
		const char *descr;
		int size;
		long long v[3];
	} cases[] = {
		{ "<i8", 8, { 7, -11, 2147483647 } },
		{ "<i8", 8, { -2147483648LL, 0, 9 } },
		{ "|i1", 1, { -128, 127, 0 } },
		{ "<i1", 1, { -1, 1, 0 } },
		{ "<i2", 2, { -32768, 32767, 5 } },
		{ "|u1", 1, { 255, 0, 7 } },
		{ "<u2", 2, { 65535, 0, 7 } },
		{ "<u4", 4, { 2147483647, 0, 7 } },
		{ "<u8", 8, { 2147483647, 1, 7 } },
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		unsigned char buf[24];
		int32_t want[3];
		for (int i = 0; i < 3; i++) {
			le_put(buf + i * cases[c].size,
			       (unsigned long long)cases[c].v[i],
			       cases[c].size);
			want[i] = (int32_t)cases[c].v[i];
		}
		expect_i32(mk("conv.npy", 1, hdr(cases[c].descr, "(3,)"), buf,
		              3 * (size_t)cases[c].size),
		           want, 3);
	}
}
END_TEST

START_TEST(f8_converts)
{
	double x[4] = { 1.5, -2.25, 1e-3, 3e38 };
	NpyArray a;
	Diag d;
	diag_init(&d);
	const char *p = mk("f8.npy", 1, hdr("<f8", "(2, 2)"), x, sizeof x);
	ck_assert_msg(npy_load(p, &a, &d), "%s", d.msg);
	ck_assert_int_eq(a.dtype, DT_F32);
	for (int i = 0; i < 4; i++)
		ck_assert_float_eq(((float *)a.data)[i], (float)x[i]);
	npy_free(&a);
}
END_TEST

START_TEST(header_syntax)
{
	int32_t v[6] = { 1, 2, 3, 4, 5, 6 };
	/* Versions 2.0 and 3.0: four-byte header length. */
	expect_i32(mk("v2.npy", 2, hdr("<i4", "(2, 3)"), v, sizeof v), v, 6);
	expect_i32(mk("v3.npy", 3, hdr("<i4", "(6,)"), v, sizeof v), v, 6);
	/* Keys in any order, double quotes, odd whitespace, no trailing
	 * comma, Python 2 longs. */
	expect_i32(mk("order.npy", 1,
	              "{ \"shape\" :(2L,3L ,),\n\t'fortran_order':False ,"
	              "'descr':\"<i4\"}",
	              v, sizeof v),
	           v, 6);
	/* Rank 0 and an empty array. */
	NpyArray a;
	Diag d;
	diag_init(&d);
	ck_assert(npy_load(mk("r0.npy", 1, hdr("<i4", "()"), v, 4), &a, &d));
	ck_assert_int_eq(a.rank, 0);
	ck_assert_uint_eq(a.numel, 1);
	ck_assert_int_eq(((int32_t *)a.data)[0], 1);
	npy_free(&a);
	ck_assert(npy_load(mk("e.npy", 1, hdr("<f4", "(3, 0)"), NULL, 0), &a,
	                   &d));
	ck_assert_int_eq(a.rank, 2);
	ck_assert_uint_eq(a.numel, 0);
	ck_assert_ptr_nonnull(a.data);
	npy_free(&a);
}
END_TEST

/* ---- bad files -------------------------------------------------------- */

START_TEST(bad_preamble)
{
	expect_fail(tu_path(tu_tmpdir(), "absent.npy"),
	            "cannot open: No such file or directory");
	expect_fail(tu_write("magic.npy", "\x93NUMPZ\x01\x00\x02\x00{}", 12),
	            "at byte 0: not a .npy file (bad magic");
	expect_fail(tu_write_str("short.npy", "\x93NUM"),
	            "truncated preamble");
	expect_fail(tu_write("ver.npy", "\x93NUMPY\x04\x00\x10\x00", 10),
	            "at byte 6: unsupported .npy format version 4.0");
	expect_fail(tu_write("hlen1.npy", "\x93NUMPY\x01\x00\x76", 9),
	            "truncated preamble");
	expect_fail(tu_write("hlen.npy", "\x93NUMPY\x02\x00\x01\x00\x10\x00",
	                     12),
	            "at byte 8: header length 1048577 exceeds the limit");
	expect_fail(tu_write("hlenmax.npy",
	                     "\x93NUMPY\x03\x00\xff\xff\xff\xff", 12),
	            "header length 4294967295 exceeds");
	/* Header length 118, but only 17 bytes follow. */
	static const char th[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', ";
	expect_fail(tu_write("trunchdr.npy", th, sizeof th - 1),
	            "at byte 10: truncated header: needs 118 bytes, file has "
	            "17");
}
END_TEST

START_TEST(bad_dtype)
{
	int32_t v[6] = { 0 };
	expect_fail(mk("c8.npy", 1, hdr("<c8", "(3,)"), v, 24),
	            "at byte 20: unsupported dtype '<c8'");
	expect_fail(mk("b1.npy", 1, hdr("|b1", "(3,)"), v, 3),
	            "unsupported dtype '|b1'");
	expect_fail(mk("pipe4.npy", 1, hdr("|i4", "(3,)"), v, 12),
	            "unsupported dtype '|i4'");
	expect_fail(mk("be.npy", 1, hdr(">f4", "(3,)"), v, 12),
	            "big-endian dtype '>f4' is not supported");
	expect_fail(mk("rec.npy", 1,
	               "{'descr': [('a', '<f4')], 'fortran_order': False, "
	               "'shape': (3,), }",
	               v, 12),
	            "structured dtypes are not supported");
	expect_fail(mk("fort.npy", 1,
	               "{'descr': '<f4', 'fortran_order': True, "
	               "'shape': (2, 3), }",
	               v, 24),
	            "Fortran-order arrays are not supported; save with "
	            "np.ascontiguousarray");
}
END_TEST

START_TEST(bad_header)
{
	int32_t v[6] = { 0 };
	expect_fail(mk("nokey.npy", 1,
	               "{'descr': '<f4', 'fortran_order': False}", v, 4),
	            "no 'shape' key");
	expect_fail(mk("nodescr.npy", 1,
	               "{'shape': (1,), 'fortran_order': False}", v, 4),
	            "no 'descr' key");
	expect_fail(mk("twice.npy", 1,
	               "{'descr': '<f4', 'descr': '<f4', 'fortran_order': "
	               "False, 'shape': (1,)}",
	               v, 4),
	            "at byte 27: bad header: key 'descr' appears twice");
	expect_fail(mk("unk.npy", 1,
	               "{'descr': '<f4', 'fortran_order': False, "
	               "'shape': (1,), 'x': 1}",
	               v, 4),
	            "unknown key 'x'");
	expect_fail(mk("bool.npy", 1,
	               "{'descr': '<f4', 'fortran_order': false, "
	               "'shape': (1,)}",
	               v, 4),
	            "expected True or False");
	expect_fail(mk("bool2.npy", 1,
	               "{'descr': '<f4', 'fortran_order': Falsey, "
	               "'shape': (1,)}",
	               v, 4),
	            "expected True or False");
	expect_fail(mk("nodict.npy", 1, "descr", v, 4),
	            "at byte 10: bad header: expected '{'");
	expect_fail(mk("unclosed.npy", 1, "{'descr': '<f4'", v, 4),
	            "found the end of the header");
	expect_fail(mk("str.npy", 1, "{'descr' '<f4'}", v, 4),
	            "expected ':' after the key");
	expect_fail(mk("junk.npy", 1, "{'descr': '<f4', 'fortran_order': "
	                              "False, 'shape': (1,), } x",
	               v, 4),
	            "unexpected 'x' after the header dict");
	expect_fail(mk("empty.npy", 1, "", v, 4), "expected '{'");
}
END_TEST

START_TEST(bad_shape)
{
	int32_t v[6] = { 0 };
	expect_fail(mk("neg.npy", 1, hdr("<i4", "(2, -3)"), v, 24),
	            "negative dimension");
	expect_fail(mk("notuple.npy", 1, hdr("<i4", "(6)"), v, 24),
	            "is not a tuple");
	expect_fail(mk("space.npy", 1, hdr("<i4", "(2 3)"), v, 24),
	            "expected ',' or ')' in 'shape'");
	expect_fail(mk("list.npy", 1, hdr("<i4", "[2, 3]"), v, 24),
	            "expected '(' to open the 'shape' tuple");
	expect_fail(mk("comma.npy", 1, hdr("<i4", "(,)"), v, 24),
	            "expected a dimension");
	expect_fail(mk("dbl.npy", 1, hdr("<i4", "(2,,3)"), v, 24),
	            "expected a dimension");
	expect_fail(mk("float.npy", 1, hdr("<i4", "(2.0, 3)"), v, 24),
	            "expected ',' or ')'");
	expect_fail(mk("big.npy", 1, hdr("<i4", "(99999999999999999999,)"),
	               v, 24),
	            "dimension in 'shape' is too large");
	expect_fail(mk("ovf.npy", 1,
	               hdr("<i4", "(4294967296, 4294967296, 4294967296)"), v,
	               24),
	            "shape (4294967296, 4294967296, 4294967296) is too large");
	expect_fail(mk("rank5.npy", 1, hdr("<i4", "(1, 1, 1, 2, 3)"), v, 24),
	            "shape has rank 5; at most 4 is supported");
}
END_TEST

START_TEST(bad_data)
{
	unsigned char b[48] = { 0 };
	expect_fail(mk("trunc.npy", 1, hdr("<i4", "(2, 3)"), b, 20),
	            "truncated: shape (2, 3) of <i4 needs 24 bytes of data, "
	            "file has 20");
	expect_fail(mk("trunc1.npy", 1, hdr("<i4", "(2, 1024)"), b, 0),
	            "truncated: shape (2, 1024) of <i4 needs 8192 bytes of "
	            "data, file has 0");
	expect_fail(mk("extra.npy", 1, hdr("<i4", "(2, 3)"), b, 25),
	            "1 byte of extra data after the array (shape (2, 3) of "
	            "<i4 needs 24)");
	le_put(b + 32, 4294967296ULL, 8);
	expect_fail(mk("range.npy", 1, hdr("<i8", "(2, 3)"), b, 48),
	            "element 4 [1, 1] of <i8 has value 4294967296, which does "
	            "not fit int32");
	memset(b, 0, sizeof b);
	le_put(b, (unsigned long long)-2147483649LL, 8);
	expect_fail(mk("rangeneg.npy", 1, hdr("<i8", "()"), b, 8),
	            "element 0 of <i8 has value -2147483649");
	memset(b, 0, sizeof b);
	le_put(b + 8, 2147483648ULL, 4);
	expect_fail(mk("rangeu4.npy", 1, hdr("<u4", "(4,)"), b, 16),
	            "element 2 [2] of <u4 has value 2147483648");
	le_put(b, ~0ULL, 8);
	expect_fail(mk("rangeu8.npy", 1, hdr("<u8", "(1,)"), b, 8),
	            "value 18446744073709551615");
}
END_TEST

/* Through a pipe the size is unknown beforehand, so the streaming reader
 * itself must notice short and long data. */
static void expect_fail_fifo(const char *name, const void *bytes, size_t n,
                             const char *want)
{
	const char *p = tu_path(tu_tmpdir(), name);
	int st;
	ck_assert(mkfifo(p, 0600) == 0);
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		FILE *f = fopen(p, "wb");
		fwrite(bytes, 1, n, f);
		fclose(f);
		_exit(0);
	}
	expect_fail(p, want);
	ck_assert(waitpid(pid, &st, 0) == pid);
	unlink(p);
}

START_TEST(bad_data_stream)
{
	size_t n;
	const char *src = mk("s.npy", 1, hdr("<i4", "(3, 1024)"), NULL, 0);
	unsigned char *b = (unsigned char *)tu_read(src, &n);
	unsigned char *full = calloc(1, n + 3 * 4096 + 5);
	memcpy(full, b, n);
	expect_fail_fifo("short.fifo", full, n + 3 * 4096 - 2,
	                 "needs 12288 bytes of data, file has 12286");
	expect_fail_fifo("long.fifo", full, n + 3 * 4096 + 5,
	                 "5 bytes of extra data");
	free(b);
	free(full);
}
END_TEST

/* ---- bad saves -------------------------------------------------------- */

START_TEST(save_missing_dir)
{
	const char *dir = tu_path(tu_tmpdir(), "nodir");
	const char *p = tu_path(dir, "x.npy");
	float x[2] = { 1, 2 };
	int64_t dim[1] = { 2 };
	struct stat st;
	Diag d;
	diag_init(&d);
	ck_assert(!npy_save_f32(p, x, 1, dim, &d));
	ck_assert_msg(strstr(d.msg, p), "%s", d.msg);
	ck_assert_msg(strstr(d.msg, "No such file or directory"), "%s",
	              d.msg);
	ck_assert(!strchr(d.msg, '\n'));
	ck_assert(stat(p, &st) != 0);
	ck_assert(stat(dir, &st) != 0);
}
END_TEST

START_TEST(save_onto_dir)
{
	const char *dir = tu_path(tu_tmpdir(), "isdir");
	int32_t x[2] = { 1, 2 };
	int64_t dim[1] = { 2 };
	struct stat st;
	Diag d;
	diag_init(&d);
	ck_assert(mkdir(dir, 0755) == 0);
	ck_assert(!npy_save_i32(dir, x, 1, dim, &d));
	ck_assert_msg(strstr(d.msg, dir), "%s", d.msg);
	ck_assert(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
	ck_assert(!has_tmp_files(tu_tmpdir()));
	rmdir(dir);
}
END_TEST

START_TEST(save_bad_shape)
{
	const char *p = tu_path(tu_tmpdir(), "badshape.npy");
	float x[1] = { 0 };
	int64_t d5[5] = { 1, 1, 1, 1, 1 }, dneg[2] = { 2, -1 };
	struct stat st;
	Diag d;
	diag_init(&d);
	ck_assert(!npy_save_f32(p, x, 5, d5, &d));
	ck_assert_msg(strstr(d.msg, "rank-5"), "%s", d.msg);
	diag_init(&d);
	ck_assert(!npy_save_f32(p, x, 2, dneg, &d));
	ck_assert_msg(strstr(d.msg, "dimension 1 is -1"), "%s", d.msg);
	ck_assert(stat(p, &st) != 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("npy");
	TCase *tc = tcase_create("npy");
	tcase_add_test(tc, roundtrip_f32);
	tcase_add_test(tc, roundtrip_i32);
	tcase_add_test(tc, save_replaces);
	tcase_add_test(tc, header_bytes);
	tcase_add_test(tc, golden_resave);
	tcase_add_test(tc, golden_tokens);
	tcase_add_test(tc, golden_hidden);
	tcase_add_test(tc, int_conversions);
	tcase_add_test(tc, f8_converts);
	tcase_add_test(tc, header_syntax);
	tcase_add_test(tc, bad_preamble);
	tcase_add_test(tc, bad_dtype);
	tcase_add_test(tc, bad_header);
	tcase_add_test(tc, bad_shape);
	tcase_add_test(tc, bad_data);
	tcase_add_test(tc, bad_data_stream);
	tcase_add_test(tc, save_missing_dir);
	tcase_add_test(tc, save_onto_dir);
	tcase_add_test(tc, save_bad_shape);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
