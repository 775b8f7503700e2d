/*
 * npy.c - the .npy reader and writer declared in npy.h.
 *
 * Reading streams the file through stdio in fixed-size chunks, decoding
 * each element from explicit little-endian bytes, so the host's byte order
 * does not matter and the file is never held twice in memory. The header is
 * a Python dict literal; rather than evaluate it, a small strict parser
 * accepts exactly the three keys numpy writes (in any order, each once),
 * with the tuple and literal syntax Python would accept for them. Every
 * complaint names the file and, where there is one, the byte offset.
 *
 * Writing produces version 1.0 with the header padded, as numpy pads it,
 * to a multiple of 64 bytes ending in '\n', through runtime/outfile.c: a
 * temporary beside the target, renamed over it only once everything is
 * written and closed. It is the only .npy writer: whole arrays (npy_save,
 * npy_write_f32), the binaries' outputs streamed as they are computed
 * (npy_begin_f32 + npy_write_rows_f32) and those whose row count is known
 * last (npy_stream_begin/finish: a fixed-width placeholder header,
 * rewritten at the end). Data is always little-endian.
 *
 * Not supported: big-endian or structured dtypes, Fortran order, pickled
 * object arrays, rank above NPY_MAX_RANK. Leans on common/diag.h for Diag and
 * checked arithmetic.
 */
#include "npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	HEADER_MAX = 1 << 20, /* longest header we agree to read */
	CHUNK_BYTES = 1 << 16, /* streaming buffer; a multiple of every size */
	SHAPE_STR_MAX = 160,
};

static const char magic[6] = "\x93NUMPY";

/* The dtypes we read, by numpy's descr without its byte-order mark. */
typedef struct Descr {
	const char *name;
	char kind; /* 'f' float, 'i' signed, 'u' unsigned */
	int size;
} Descr;

static const Descr descrs[] = {
	{ "f4", 'f', 4 }, { "f8", 'f', 8 }, { "i1", 'i', 1 },
	{ "i2", 'i', 2 }, { "i4", 'i', 4 }, { "i8", 'i', 8 },
	{ "u1", 'u', 1 }, { "u2", 'u', 2 }, { "u4", 'u', 4 },
	{ "u8", 'u', 8 },
};

#define INTEGERS "|i1 <i2 <i4 <i8 |u1 <u2 <u4 <u8"
#define SUPPORTED "<f4 <f8 " INTEGERS

/* ---- little-endian bytes ---------------------------------------------- */

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

/* Two's-complement value of the low n bytes of u, without relying on
 * implementation-defined conversions. */
static int64_t sign_extend(uint64_t u, int n)
{
	if (n < 8 && (u >> (8 * n - 1) & 1))
		u |= ~(uint64_t)0 << (8 * n);
	if (u <= (uint64_t)INT64_MAX)
		return (int64_t)u;
	return -(int64_t)(~u) - 1;
}

/* "(2, 1024)" as numpy prints a shape. */
static void shape_str(char *buf, size_t cap, int rank, const int64_t *dim)
{
	size_t len = 0;
	len += (size_t)snprintf(buf + len, cap - len, "(");
	for (int i = 0; i < rank && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64,
		                        i ? ", " : "", dim[i]);
	if (len < cap)
		snprintf(buf + len, cap - len, rank == 1 ? ",)" : ")");
}

/* ---- header parser ---------------------------------------------------- */

typedef struct Parser {
	const char *s;
	size_t n, i;
	long base; /* file offset of s[0] */
	const char *path;
	Diag *d;
} Parser;

typedef struct Header {
	char descr[16];
	long descr_at;
	bool fortran;
	int rank; /* may exceed NPY_MAX_RANK; only the first dims are kept */
	long shape_at;
	int64_t dim[NPY_MAX_RANK];
} Header;

static bool perr(Parser *p, size_t at, const char *fmt, ...) HY_PRINTF(3, 4);

static bool perr(Parser *p, size_t at, const char *fmt, ...)
{
	char what[DIAG_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	diag_at(p->d, p->path, 0, 0, "at byte %ld: bad header: %s",
	        p->base + (long)at, what);
	return false;
}

static void skip_ws(Parser *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	                       p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static int peek(Parser *p)
{
	return p->i < p->n ? (unsigned char)p->s[p->i] : -1;
}

/* What stands at the cursor, for "expected X, found Y" messages. */
static const char *found(Parser *p, char *buf, size_t cap)
{
	int c = peek(p);
	if (c < 0)
		return "the end of the header";
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, cap, "'%c'", c);
	else
		snprintf(buf, cap, "byte 0x%02x", c);
	return buf;
}

static bool expect(Parser *p, char c, const char *what)
{
	char b[16];
	skip_ws(p);
	if (peek(p) != c)
		return perr(p, p->i, "expected '%c' %s, found %s", c, what,
		            found(p, b, sizeof b));
	p->i++;
	return true;
}

/* string := '...' | "..." with no escapes (numpy never writes any). */
static bool parse_string(Parser *p, char *out, size_t cap, const char *what)
{
	char b[16];
	size_t start, len;
	int q;

	skip_ws(p);
	q = peek(p);
	if (q != '\'' && q != '"')
		return perr(p, p->i, "expected a quoted string %s, found %s",
		            what, found(p, b, sizeof b));
	start = ++p->i;
	while (p->i < p->n && p->s[p->i] != q) {
		if (p->s[p->i] == '\\')
			return perr(p, p->i, "escape sequences in strings "
			                     "are not supported");
		if (p->s[p->i] == '\n')
			break;
		p->i++;
	}
	if (p->i >= p->n || p->s[p->i] != q)
		return perr(p, start - 1, "unterminated string");
	len = p->i - start;
	p->i++;
	if (len >= cap)
		return perr(p, start - 1, "string %s is too long (%zu bytes)",
		            what, len);
	memcpy(out, p->s + start, len);
	out[len] = 0;
	return true;
}

static bool is_ident(int c)
{
	return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

static bool parse_bool(Parser *p, bool *out)
{
	char b[16];
	skip_ws(p);
	if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "True", 4)) {
		*out = true;
		p->i += 4;
	} else if (p->n - p->i >= 5 && !memcmp(p->s + p->i, "False", 5)) {
		*out = false;
		p->i += 5;
	} else {
		return perr(p, p->i, "expected True or False for "
		                     "'fortran_order', found %s",
		            found(p, b, sizeof b));
	}
	/* "Falsey" is not False. */
	if (is_ident(peek(p)))
		return perr(p, p->i, "expected True or False for "
		                     "'fortran_order'");
	return true;
}

/* dim := digits ['L'], the L from Python 2 longs. */
static bool parse_dim(Parser *p, int64_t *out)
{
	char b[16];
	size_t start = p->i;
	uint64_t v = 0;

	if (peek(p) == '-')
		return perr(p, p->i, "negative dimension in 'shape'");
	if (peek(p) < '0' || peek(p) > '9')
		return perr(p, p->i, "expected a dimension in 'shape', "
		                     "found %s", found(p, b, sizeof b));
	while (peek(p) >= '0' && peek(p) <= '9') {
		unsigned digit = (unsigned)(peek(p) - '0');
		if (v > ((uint64_t)INT64_MAX - digit) / 10)
			return perr(p, start, "dimension in 'shape' is too "
			                      "large");
		v = v * 10 + digit;
		p->i++;
	}
	if (peek(p) == 'L')
		p->i++;
	*out = (int64_t)v;
	return true;
}

/* shape := '(' ')' | '(' dim ',' ')' | '(' dim (',' dim)+ [','] ')' */
static bool parse_shape(Parser *p, Header *h)
{
	char b[16];
	size_t open;
	bool comma = false;
	int64_t v = 0;

	skip_ws(p);
	open = p->i;
	h->shape_at = p->base + (long)open;
	if (!expect(p, '(', "to open the 'shape' tuple"))
		return false;
	h->rank = 0;
	for (;;) {
		skip_ws(p);
		if (peek(p) == ')')
			break;
		if (h->rank > 0 && !comma)
			return perr(p, p->i, "expected ',' or ')' in 'shape', "
			                     "found %s", found(p, b, sizeof b));
		if (!parse_dim(p, &v))
			return false;
		if (h->rank < NPY_MAX_RANK)
			h->dim[h->rank] = v;
		if (h->rank < INT32_MAX)
			h->rank++;
		skip_ws(p);
		comma = peek(p) == ',';
		if (comma)
			p->i++;
	}
	if (h->rank == 1 && !comma)
		return perr(p, open, "'shape' (%" PRId64 ") is not a tuple; "
		                     "a one-element tuple is written (%" PRId64
		                     ",)", h->dim[0], h->dim[0]);
	p->i++;
	return true;
}

/*
 * dict := '{' [item (',' item)* [',']] '}'
 * item := string ':' value
 * Each of 'descr', 'fortran_order' and 'shape' exactly once; after '}'
 * only whitespace (numpy pads with spaces and ends with '\n').
 */
static bool parse_header(Parser *p, Header *h)
{
	enum { K_DESCR = 1, K_FORTRAN = 2, K_SHAPE = 4 };
	unsigned seen = 0, k;
	char key[32], b[16];
	size_t key_at;

	memset(h, 0, sizeof *h);
	if (!expect(p, '{', "to open the header dict"))
		return false;
	for (;;) {
		skip_ws(p);
		if (peek(p) == '}')
			break;
		key_at = p->i;
		if (!parse_string(p, key, sizeof key, "as a key"))
			return false;
		if (!strcmp(key, "descr"))
			k = K_DESCR;
		else if (!strcmp(key, "fortran_order"))
			k = K_FORTRAN;
		else if (!strcmp(key, "shape"))
			k = K_SHAPE;
		else
			return perr(p, key_at, "unknown key '%s' (expected "
			                       "'descr', 'fortran_order' and "
			                       "'shape')", key);
		if (seen & k)
			return perr(p, key_at, "key '%s' appears twice", key);
		seen |= k;
		if (!expect(p, ':', "after the key"))
			return false;
		skip_ws(p);
		if (k == K_DESCR) {
			h->descr_at = p->base + (long)p->i;
			if (peek(p) == '[')
				return perr(p, p->i, "structured dtypes are "
				                     "not supported");
			if (!parse_string(p, h->descr, sizeof h->descr,
			                  "for 'descr'"))
				return false;
		} else if (k == K_FORTRAN) {
			if (!parse_bool(p, &h->fortran))
				return false;
		} else if (!parse_shape(p, h)) {
			return false;
		}
		skip_ws(p);
		if (peek(p) == ',') {
			p->i++;
			continue;
		}
		if (peek(p) != '}')
			return perr(p, p->i, "expected ',' or '}' after the "
			                     "value of '%s', found %s",
			            key, found(p, b, sizeof b));
	}
	p->i++;
	skip_ws(p);
	if (p->i < p->n)
		return perr(p, p->i, "unexpected %s after the header dict",
		            found(p, b, sizeof b));
	if (!(seen & K_DESCR))
		return perr(p, 0, "no 'descr' key");
	if (!(seen & K_FORTRAN))
		return perr(p, 0, "no 'fortran_order' key");
	if (!(seen & K_SHAPE))
		return perr(p, 0, "no 'shape' key");
	return true;
}

/* The Descr a header names, or NULL after reporting why not; with ints,
 * only the integer ones (npy_load_ints), and the messages list those. */
static const Descr *lookup_descr(const Header *h, bool ints,
                                 const char *path, Diag *d)
{
	const char *s = h->descr;
	char order = s[0];

	for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++) {
		const Descr *t = &descrs[i];
		if (order == 0 || strcmp(s + 1, t->name))
			continue;
		if (ints && t->kind == 'f') {
			diag_at(d, path, 0, 0, "at byte %ld: dtype '%s' is "
			        "floating point; token ids must be integers ("
			        INTEGERS ")", h->descr_at, s);
			return NULL;
		}
		/* numpy writes '|' for one-byte types but reads '<' too. */
		if (order == '<' || (order == '|' && t->size == 1))
			return t;
		if (order == '>') {
			diag_at(d, path, 0, 0, "at byte %ld: big-endian dtype "
			        "'%s' is not supported; save with "
			        "arr.astype('<%s')", h->descr_at, s, t->name);
			return NULL;
		}
	}
	diag_at(d, path, 0, 0, "at byte %ld: unsupported dtype '%s' "
	        "(supported: %s)", h->descr_at, s,
	        ints ? INTEGERS : SUPPORTED);
	return NULL;
}

/* ---- reading ---------------------------------------------------------- */

typedef struct Load {
	FILE *f;
	const char *path;
	Diag *d;
	long data_at; /* file offset of the first data byte */
	bool ints;    /* integer dtypes only */
	const Descr *t;
	char order;
	char shape[SHAPE_STR_MAX];
	size_t nbytes;
} Load;

static bool read_error(Load *l, long at)
{
	diag_at(l->d, l->path, 0, 0, "at byte %ld: read error: %s", at,
	        strerror(errno));
	return false;
}

static bool truncated(Load *l, size_t have)
{
	diag_at(l->d, l->path, 0, 0, "truncated: shape %s of %c%s needs %zu "
	        "bytes of data, file has %zu", l->shape, l->order,
	        l->t->name, l->nbytes, have);
	return false;
}

/* n bytes (at least n, if at_least) follow the data. */
static bool extra(Load *l, size_t n, bool at_least)
{
	diag_at(l->d, l->path, 0, 0, "at byte %zu: %s%zu byte%s of extra data "
	        "after the array (shape %s of %c%s needs %zu)",
	        (size_t)l->data_at + l->nbytes, at_least ? "at least " : "",
	        n, n == 1 ? "" : "s", l->shape, l->order, l->t->name,
	        l->nbytes);
	return false;
}

/* Report element `idx` as not fitting int32. */
static bool out_of_range(Load *l, const NpyArray *a, size_t idx,
                         const char *value)
{
	char where[SHAPE_STR_MAX];
	size_t rest = idx, len = 0;
	int64_t sub[NPY_MAX_RANK];

	for (int i = a->rank - 1; i >= 0; i--) {
		sub[i] = (int64_t)(rest % (size_t)a->dim[i]);
		rest /= (size_t)a->dim[i];
	}
	where[0] = 0;
	for (int i = 0; i < a->rank; i++)
		len += (size_t)snprintf(where + len, sizeof where - len,
		                        "%s%" PRId64, i ? ", " : " [", sub[i]);
	if (a->rank > 0)
		snprintf(where + len, sizeof where - len, "]");
	diag_at(l->d, l->path, 0, 0, "at byte %zu: element %zu%s of %c%s "
	        "has value %s, which does not fit int32",
	        (size_t)l->data_at + idx * (size_t)l->t->size, idx, where,
	        l->order, l->t->name, value);
	return false;
}

/* Decode n elements starting at flat index first from src into a. */
static bool decode(Load *l, NpyArray *a, const unsigned char *src,
                   size_t first, size_t n)
{
	const int sz = l->t->size;
	float *fo = a->data;
	int32_t *io = a->data;
	char v[32];

	for (size_t i = 0; i < n; i++, src += sz) {
		uint64_t u = get_le(src, sz);
		size_t at = first + i;
		if (l->t->kind == 'f' && sz == 4) {
			uint32_t bits = (uint32_t)u;
			memcpy(&fo[at], &bits, 4);
		} else if (l->t->kind == 'f') {
			double x;
			memcpy(&x, &u, 8);
			fo[at] = (float)x;
		} else if (l->t->kind == 'i') {
			int64_t x = sign_extend(u, sz);
			if (x < INT32_MIN || x > INT32_MAX) {
				snprintf(v, sizeof v, "%" PRId64, x);
				return out_of_range(l, a, at, v);
			}
			io[at] = (int32_t)x;
		} else {
			if (u > INT32_MAX) {
				snprintf(v, sizeof v, "%" PRIu64, u);
				return out_of_range(l, a, at, v);
			}
			io[at] = (int32_t)u;
		}
	}
	return true;
}

static bool read_data(Load *l, NpyArray *a)
{
	unsigned char *buf = malloc(CHUNK_BYTES);
	size_t done = 0, sz = (size_t)l->t->size, got, k;
	bool ok = false;

	if (!buf) {
		diag_at(l->d, l->path, 0, 0, "out of memory");
		return false;
	}
	while (done < l->nbytes) {
		k = l->nbytes - done < CHUNK_BYTES ? l->nbytes - done
		                                   : CHUNK_BYTES;
		got = fread(buf, 1, k, l->f);
		if (got < k && ferror(l->f)) {
			read_error(l, l->data_at + (long)(done + got));
			goto out;
		}
		if (got < k) {
			truncated(l, done + got);
			goto out;
		}
		if (!decode(l, a, buf, done / sz, k / sz))
			goto out;
		done += k;
	}
	/* The file must end here; count what follows, up to a point. */
	got = fread(buf, 1, CHUNK_BYTES, l->f);
	if (ferror(l->f)) {
		read_error(l, l->data_at + (long)done);
		goto out;
	}
	if (got > 0) {
		extra(l, got, got == CHUNK_BYTES);
		goto out;
	}
	ok = true;
out:
	free(buf);
	return ok;
}

/* Read exactly n bytes at offset `at`, or say which part was missing. */
static bool read_exact(Load *l, void *buf, size_t n, long at,
                       const char *what)
{
	size_t got = fread(buf, 1, n, l->f);
	if (got == n)
		return true;
	if (ferror(l->f))
		return read_error(l, at + (long)got);
	diag_at(l->d, l->path, 0, 0, "at byte %ld: truncated %s: needs %zu "
	        "bytes, file has %zu", at, what, n, got);
	return false;
}

/* Magic, version and header length; leaves the stream at the header. */
static bool read_preamble(Load *l, size_t *hlen)
{
	unsigned char pre[12];
	size_t lenbytes;

	if (!read_exact(l, pre, 8, 0, "preamble"))
		return false;
	if (memcmp(pre, magic, sizeof magic)) {
		diag_at(l->d, l->path, 0, 0, "at byte 0: not a .npy file "
		        "(bad magic; expected \\x93NUMPY)");
		return false;
	}
	if (pre[6] == 1 && pre[7] == 0) {
		lenbytes = 2;
	} else if ((pre[6] == 2 || pre[6] == 3) && pre[7] == 0) {
		lenbytes = 4;
	} else {
		diag_at(l->d, l->path, 0, 0, "at byte 6: unsupported .npy "
		        "format version %d.%d (expected 1.0, 2.0 or 3.0)",
		        pre[6], pre[7]);
		return false;
	}
	if (!read_exact(l, pre + 8, lenbytes, 8, "preamble"))
		return false;
	*hlen = (size_t)get_le(pre + 8, (int)lenbytes);
	if (*hlen > HEADER_MAX) {
		diag_at(l->d, l->path, 0, 0, "at byte 8: header length %zu "
		        "exceeds the limit of %d bytes", *hlen, HEADER_MAX);
		return false;
	}
	l->data_at = 8 + (long)lenbytes;
	return true;
}

/* Header checks past the syntax: dtype, order, rank, sizes. */
static bool check_header(Load *l, const Header *h, NpyArray *a)
{
	size_t numel = 1, bytes;

	if (!(l->t = lookup_descr(h, l->ints, l->path, l->d)))
		return false;
	l->order = h->descr[0];
	if (h->fortran) {
		diag_at(l->d, l->path, 0, 0, "Fortran-order arrays are not "
		        "supported; save with np.ascontiguousarray");
		return false;
	}
	if (h->rank > NPY_MAX_RANK) {
		diag_at(l->d, l->path, 0, 0, "at byte %ld: shape has rank %d; "
		        "at most %d is supported", h->shape_at, h->rank,
		        NPY_MAX_RANK);
		return false;
	}
	a->rank = h->rank;
	memcpy(a->dim, h->dim, sizeof a->dim);
	shape_str(l->shape, sizeof l->shape, h->rank, h->dim);
	for (int i = 0; i < h->rank; i++)
		if ((uint64_t)h->dim[i] > SIZE_MAX ||
		    !hy_mul_size(numel, (size_t)h->dim[i], &numel))
			goto overflow;
	/* The file's bytes and ours (four an element) must both fit. */
	if (!hy_mul_size(numel, (size_t)l->t->size, &l->nbytes) ||
	    !hy_mul_size(numel, 4, &bytes))
		goto overflow;
	a->numel = numel;
	a->dtype = l->t->kind == 'f' ? NPY_F32 : NPY_I32;
	return true;
overflow:
	diag_at(l->d, l->path, 0, 0, "at byte %ld: shape %s is too large",
	        h->shape_at, l->shape);
	return false;
}

static bool load(const char *path, bool ints, NpyArray *out, Diag *d)
{
	Load l = { .path = path, .d = d, .ints = ints };
	Parser p = { .path = path, .d = d };
	Header h;
	struct stat st;
	size_t hlen;
	char *hdr = NULL;
	bool ok = false;

	memset(out, 0, sizeof *out);
	if (!(l.f = fopen(path, "rb"))) {
		diag_at(d, path, 0, 0, "cannot open: %s", strerror(errno));
		return false;
	}
	if (!read_preamble(&l, &hlen))
		goto out;
	if (!(hdr = malloc(hlen + 1))) {
		diag_at(d, path, 0, 0, "out of memory");
		goto out;
	}
	if (!read_exact(&l, hdr, hlen, l.data_at, "header"))
		goto out;
	p.s = hdr;
	p.n = hlen;
	p.base = l.data_at;
	l.data_at += (long)hlen;
	if (!parse_header(&p, &h) || !check_header(&l, &h, out))
		goto out;
	/* A bogus shape must not make us allocate: check the size first
	 * where the file has one. read_data() still checks as it goes. */
	if (fstat(fileno(l.f), &st) == 0 && S_ISREG(st.st_mode)) {
		size_t have = st.st_size > l.data_at
		                  ? (size_t)(st.st_size - l.data_at) : 0;
		if (have < l.nbytes) {
			truncated(&l, have);
			goto out;
		}
		if (have > l.nbytes) {
			extra(&l, have - l.nbytes, false);
			goto out;
		}
	}
	/* Four bytes an element either way; at least one for numel 0. */
	if (!(out->data = malloc(out->numel ? out->numel * 4 : 1))) {
		diag_at(d, path, 0, 0, "out of memory for shape %s", l.shape);
		goto out;
	}
	ok = read_data(&l, out);
out:
	free(hdr);
	fclose(l.f);
	if (!ok)
		npy_free(out);
	return ok;
}

bool npy_load(const char *path, NpyArray *out, Diag *d)
{
	return load(path, false, out, d);
}

bool npy_load_ints(const char *path, NpyArray *out, Diag *d)
{
	return load(path, true, out, d);
}

void npy_free(NpyArray *a)
{
	if (!a)
		return;
	free(a->data);
	memset(a, 0, sizeof *a);
}

/* ---- writing: the one .npy writer -------------------------------------- */

/*
 * The version 1.0 header numpy writes: magic, version, u16 length, then
 * the dict padded with spaces so that the data starts on a 64-byte
 * boundary, the last pad byte being '\n'. width 0: the smallest such
 * header; else exactly width bytes (a multiple of 64), as a streamed
 * file's placeholder needs. Returns the total length.
 */
static size_t make_header(unsigned char *buf, size_t cap, const char *descr,
                          int rank, const int64_t *dim, size_t width)
{
	char shape[SHAPE_STR_MAX];
	size_t len, total;

	shape_str(shape, sizeof shape, rank, dim);
	memcpy(buf, magic, sizeof magic);
	buf[6] = 1;
	buf[7] = 0;
	len = (size_t)snprintf((char *)buf + 10, cap - 10,
	                       "{'descr': '%s', 'fortran_order': False, "
	                       "'shape': %s, }", descr, shape);
	total = (10 + len + 1 + 63) / 64 * 64;
	HY_ASSERT(!width || (width % 64 == 0 && total <= width));
	if (width)
		total = width;
	HY_ASSERT(total <= cap && total - 10 <= UINT16_MAX);
	memset(buf + 10 + len, ' ', total - 10 - len - 1);
	buf[total - 1] = '\n';
	put_le(buf + 8, total - 10, 2);
	return total;
}

/* n 4-byte values (float or int32) little-endian into o: as they are on
 * a little-endian host, a chunk at a time through a buffer otherwise. */
static bool write_le32(HyrtOut *o, const void *data, size_t n, Diag *d)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return hyrt_out_write(o, data, n * 4, d);
#else
	unsigned char *buf = malloc(CHUNK_BYTES);
	bool ok = buf != NULL;

	if (!ok)
		diag_at(d, o->path, 0, 0, "out of memory");
	for (size_t done = 0; ok && done < n;) {
		size_t k = n - done < CHUNK_BYTES / 4 ? n - done : CHUNK_BYTES / 4;
		for (size_t i = 0; i < k; i++) {
			uint32_t u;
			memcpy(&u, (const unsigned char *)data + 4 * (done + i), 4);
			put_le(buf + 4 * i, u, 4);
		}
		ok = hyrt_out_write(o, buf, 4 * k, d);
		done += k;
	}
	free(buf);
	return ok;
#endif
}

static bool write_array(HyrtOut *o, const void *data, bool f32, int rank,
                        const int64_t *dim, Diag *d)
{
	unsigned char hdr[NPY_HEADER_MAX];
	size_t numel = 1, bytes, hlen;
	const char *path = o->path;

	if (rank < 0 || rank > NPY_MAX_RANK) {
		diag_at(d, path, 0, 0, "cannot save a rank-%d array; rank 0 "
		        "to %d is supported", rank, NPY_MAX_RANK);
		return false;
	}
	for (int i = 0; i < rank; i++) {
		if (dim[i] < 0 || (uint64_t)dim[i] > SIZE_MAX ||
		    !hy_mul_size(numel, (size_t)dim[i], &numel) ||
		    !hy_mul_size(numel, 4, &bytes)) {
			diag_at(d, path, 0, 0, "cannot save: dimension %d is "
			        "%" PRId64, i, dim[i]);
			return false;
		}
	}
	HY_ASSERT(data || numel == 0);
	hlen = make_header(hdr, sizeof hdr, f32 ? "<f4" : "<i4", rank, dim, 0);
	return hyrt_out_write(o, hdr, hlen, d) &&
	       write_le32(o, data, numel, d);
}

bool npy_write_f32(HyrtOut *o, const float *data, int rank,
                   const int64_t *dim, Diag *d)
{
	return write_array(o, data, true, rank, dim, d);
}

static bool save(const char *path, const void *data, bool f32, int rank,
                 const int64_t *dim, Diag *d)
{
	HyrtOut o;
	HyrtOut *one[1] = {&o};

	if (!hyrt_out_open(&o, path, d))
		return false;
	if (!write_array(&o, data, f32, rank, dim, d)) {
		hyrt_out_abort(&o);
		return false;
	}
	return hyrt_out_commit(one, 1, d);
}

bool npy_save_f32(const char *path, const float *data, int rank,
                  const int64_t *dim, Diag *d)
{
	return save(path, data, true, rank, dim, d);
}

bool npy_save_i32(const char *path, const int32_t *data, int rank,
                  const int64_t *dim, Diag *d)
{
	return save(path, data, false, rank, dim, d);
}

bool npy_begin_f32(HyrtOut *o, int rank, const int64_t *dim, Diag *d)
{
	unsigned char hdr[NPY_HEADER_MAX];

	HY_ASSERT(rank >= 0 && rank <= NPY_MAX_RANK);
	return hyrt_out_write(o, hdr,
	                      make_header(hdr, sizeof hdr, "<f4", rank, dim, 0),
	                      d);
}

bool npy_write_rows_f32(HyrtOut *o, const float *data, size_t n, Diag *d)
{
	return write_le32(o, data, n, d);
}

bool npy_stream_begin(HyrtOut *o, Diag *d)
{
	unsigned char hdr[NPY_STREAM_HEADER];
	int64_t zero = 0;

	return hyrt_out_write(o, hdr,
	                      make_header(hdr, sizeof hdr, "<f4", 1, &zero,
	                                  NPY_STREAM_HEADER),
	                      d);
}

bool npy_stream_finish(HyrtOut *o, int rank, const int64_t *dim, Diag *d)
{
	unsigned char hdr[NPY_STREAM_HEADER];

	HY_ASSERT(rank >= 1 && rank <= NPY_MAX_RANK);
	if (fflush(o->f) != 0 || fseek(o->f, 0, SEEK_SET) != 0) {
		diag_error(d, "%s: write error: %s", o->path, strerror(errno));
		return false;
	}
	if (!hyrt_out_write(o, hdr,
	                    make_header(hdr, sizeof hdr, "<f4", rank, dim,
	                                NPY_STREAM_HEADER),
	                    d))
		return false;
	if (fseek(o->f, 0, SEEK_END) != 0) {
		diag_error(d, "%s: write error: %s", o->path, strerror(errno));
		return false;
	}
	return true;
}
