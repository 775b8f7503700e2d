/*
 * fasta.c - the streaming FASTA reader and tokenizer declared in fasta.h.
 *
 * The input is read in fixed-size chunks, through zlib's inflate when the
 * file starts with the gzip magic, so plain and gzip files look the same,
 * and a byte is looked at once: a 256-entry class table built at open says
 * whether it is a base (and its token, with the case mode folded in), a
 * newline, other whitespace, a '>' or a NUL. There is no line buffer;
 * only the header's first word is kept, so a line may be any length.
 *
 * Windowing keeps one buffer of W + 1 tokens holding the bases
 * [win_start, win_start + buf_len) of the current record. A window is
 * handed out when the buffer fills (a full window never depends on what
 * follows) or when the record ends (the short tail). Moving to the next
 * window start is done lazily at the following call, so the window's
 * tokens stay in place until then: with S < W the overlap is moved to the
 * front, with S > W the gap is counted off in `skip` as bases arrive.
 * The [SEP] goes in the spare slot after the bases.
 *
 * At a record's end the next '>' is left unread until the record's tail
 * windows are out, so the name they point at is not overwritten early.
 *
 * gzip: the file must be gzip members to its last byte. Members may be
 * concatenated (bgzip's blocks, empty members and bgzip's EOF block
 * included) and read as one stream; anything else after a member - plain
 * text, garbage, or zero bytes (which gzip(1) ignores as tape padding,
 * with a warning) - is an error naming its byte offset, since it would
 * otherwise be dropped without a word. zlib's gzread() cannot tell us (it
 * skips trailing data silently), hence inflate() driven here.
 *
 * Not supported: ';' comment lines (old FASTA; read as bases), CR-only
 * line ends, headers that do not start in the first column. Leans on
 * base.h for Diag and checked arithmetic, and on zlib.
 */
#include "fasta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

enum {
	IN_BYTES = 1 << 17,  /* one chunk of decompressed input */
	RAW_BYTES = 1 << 18, /* one chunk of the file as stored */
};

typedef enum { SRC_UNKNOWN, SRC_PLAIN, SRC_GZIP } Source;

/* Byte classes below HYRT_TOK_UNK; values from HYRT_TOK_UNK up are base
 * tokens, with LOWER set when the byte was a lowercase letter and SOFT
 * when it was a lowercase a/c/g/t/n that HYRT_CASE_STRICT made [UNK]
 * (a soft-masked base, not an [UNK] of the sequence itself). */
enum {
	C_SPACE = 0, /* whitespace other than '\n': ignored */
	C_NL = 1,
	C_NUL = 2,
	C_GT = 3, /* '>': a header at the start of a line, else [UNK] */
	LOWER = 0x80,
	SOFT = 0x40,
};

struct HyrtFasta {
	int fd;
	Source src;
	z_stream zs;       /* next_in/avail_in: unread bytes of raw[] */
	bool zs_live;      /* inflateInit2 done */
	bool member_done;  /* the last gzip member ended at next_in */
	unsigned char *raw; /* RAW_BYTES of the file as stored */
	int64_t raw_off;   /* file offset of raw[0] */
	bool raw_eof;
	bool seekable;     /* a regular file: offsets mean something */
	char *path; /* as shown in messages */
	HyrtFastaOptions o;
	unsigned char cls[256];

	unsigned char *in; /* IN_BYTES */
	size_t pos, len;
	bool eof;
	int64_t consumed; /* decompressed bytes handed to the parser */
	long line;        /* 1-based line of in[pos] */
	bool bol;         /* in[pos] starts a line */

	char *name; /* current record name, NUL-terminated */
	size_t name_cap;
	int64_t nrecords;
	bool in_record, ending, advance, failed;
	int64_t rec_bases; /* bases of the current record read so far */

	int32_t *buf;      /* W + 1 tokens */
	int64_t buf_len;   /* bases in buf */
	int64_t win_start; /* base coordinate of buf[0] */
	int64_t skip;      /* bases still to drop before win_start */

	bool lower;
	int64_t nbases, nsoft; /* bases read; SOFT ones among them */
	int64_t rec_unk;       /* [UNK] bases of the record, not SOFT */
	int64_t nmostly_unk, first_unk, first_unk_bases;
	char *first_mostly_unk;
	int64_t nempty;
	char *first_empty;
};

HyrtFastaOptions hyrt_fasta_default_options(int64_t window)
{
	HyrtFastaOptions o = {
		.window = window,
		.stride = window,
		.case_mode = HYRT_CASE_STRICT,
		.special_tokens = true,
	};
	return o;
}

static void build_classes(unsigned char *cls, HyrtCase mode)
{
	static const char bases[] = "ACGTN";

	for (int c = 0; c < 256; c++)
		cls[c] = HYRT_TOK_UNK;
	for (int c = 'a'; c <= 'z'; c++)
		cls[c] = HYRT_TOK_UNK | LOWER;
	for (int i = 0; bases[i]; i++) {
		int up = bases[i], lo = up - 'A' + 'a';
		cls[up] = (unsigned char)(HYRT_TOK_A + i);
		if (mode == HYRT_CASE_UPPER)
			cls[lo] = (unsigned char)((HYRT_TOK_A + i) | LOWER);
		else
			cls[lo] = HYRT_TOK_UNK | LOWER | SOFT;
	}
	cls[' '] = cls['\t'] = cls['\r'] = cls['\v'] = cls['\f'] = C_SPACE;
	cls['\n'] = C_NL;
	cls[0] = C_NUL;
	cls['>'] = C_GT;
}

static int fail(HyrtFasta *f, Diag *d, const char *fmt, ...) HY_PRINTF(3, 4);

/* Record a parse error at the current line; every later call fails too. */
static int fail(HyrtFasta *f, Diag *d, const char *fmt, ...)
{
	char what[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	diag_at(d, f->path, f->line, 0, "%s", what);
	f->failed = true;
	return -1;
}

/* The file offset of the next byte not yet consumed from the file. */
static int64_t raw_at(const HyrtFasta *f)
{
	return f->raw_off + (int64_t)(f->zs.next_in - f->raw);
}

/* Make at least `want` unread bytes of the file available in raw[] (fewer
 * only at end of file): 0, or -1 on a read error. */
static int raw_want(HyrtFasta *f, size_t want, Diag *d)
{
	HY_ASSERT(want <= RAW_BYTES);
	while (f->zs.avail_in < want && !f->raw_eof) {
		ssize_t r;
		if (f->zs.next_in != f->raw) {
			f->raw_off += f->zs.next_in - f->raw;
			memmove(f->raw, f->zs.next_in, f->zs.avail_in);
			f->zs.next_in = f->raw;
		}
		r = read(f->fd, f->raw + f->zs.avail_in,
		         RAW_BYTES - f->zs.avail_in);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail(f, d, "cannot read: %s", strerror(errno));
		if (r == 0)
			f->raw_eof = true;
		f->zs.avail_in += (uInt)r;
	}
	return 0;
}

/* Plain input: what raw[] holds, then straight from the file. */
static ssize_t plain_read(HyrtFasta *f, Diag *d)
{
	ssize_t r;

	if (f->zs.avail_in > 0) {
		size_t n = f->zs.avail_in < IN_BYTES ? f->zs.avail_in : IN_BYTES;
		memcpy(f->in, f->zs.next_in, n);
		f->zs.next_in += n;
		f->zs.avail_in -= (uInt)n;
		return (ssize_t)n;
	}
	do
		r = read(f->fd, f->in, IN_BYTES);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return fail(f, d, "cannot read: %s", strerror(errno));
	f->raw_off += r; /* raw[] is spent: raw_at() moves on by r */
	return r;
}

/* Data after a gzip member that is not another member. */
static int trailing(HyrtFasta *f, Diag *d)
{
	const unsigned char *p = f->zs.next_in;
	size_t n = f->zs.avail_in, zeros = 0;

	while (zeros < n && p[zeros] == 0)
		zeros++;
	diag_error(d, "%s: byte %lld: trailing %s after a gzip member; the "
	           "file must end where its last member ends",
	           f->path, (long long)raw_at(f),
	           zeros == n ? "zero bytes (padding)"
	                      : "data (not another member)");
	f->failed = true;
	return -1;
}

/* gzip input: inflate member after member into in[]. */
static ssize_t gzip_read(HyrtFasta *f, Diag *d)
{
	f->zs.next_out = f->in;
	f->zs.avail_out = IN_BYTES;
	while (f->zs.avail_out == IN_BYTES) {
		int r;
		if (f->member_done) {
			if (raw_want(f, 2, d) < 0)
				return -1;
			if (f->zs.avail_in == 0)
				return 0;
			if (f->zs.avail_in < 2 || f->zs.next_in[0] != 0x1f ||
			    f->zs.next_in[1] != 0x8b)
				return trailing(f, d);
			if (inflateReset(&f->zs) != Z_OK)
				return fail(f, d, "corrupt gzip data: cannot "
				                  "restart inflate");
			f->member_done = false;
		}
		if (raw_want(f, 1, d) < 0)
			return -1;
		if (f->zs.avail_in == 0)
			return fail(f, d, "truncated gzip data "
			                  "(unexpected end of file)");
		r = inflate(&f->zs, Z_NO_FLUSH);
		if (r == Z_STREAM_END)
			f->member_done = true;
		else if (r == Z_MEM_ERROR)
			return fail(f, d, "out of memory inflating gzip data");
		else if (r != Z_OK)
			return fail(f, d, "corrupt gzip data: %s",
			            f->zs.msg ? f->zs.msg : "inflate failed");
	}
	return (ssize_t)(IN_BYTES - f->zs.avail_out);
}

/* 1 = more input in in[], 0 = end of input, -1 = error. */
static int refill(HyrtFasta *f, Diag *d)
{
	ssize_t n;

	if (f->eof)
		return 0;
	if (f->src == SRC_UNKNOWN) {
		if (raw_want(f, 2, d) < 0)
			return -1;
		f->src = f->zs.avail_in >= 2 && f->raw[0] == 0x1f &&
		                 f->raw[1] == 0x8b
		             ? SRC_GZIP
		             : SRC_PLAIN;
		if (f->src == SRC_GZIP) {
			if (inflateInit2(&f->zs, 16 + MAX_WBITS) != Z_OK)
				return fail(f, d, "out of memory for inflate");
			f->zs_live = true;
		}
	}
	n = f->src == SRC_GZIP ? gzip_read(f, d) : plain_read(f, d);
	if (n < 0)
		return -1;
	if (n == 0) {
		f->eof = true;
		return 0;
	}
	f->pos = 0;
	f->len = (size_t)n;
	f->consumed += n;
	return 1;
}

/* The next byte without consuming it: 0..255, -1 at end, -2 on error. */
static int peek(HyrtFasta *f, Diag *d)
{
	if (f->pos == f->len) {
		int r = refill(f, d);
		if (r <= 0)
			return r < 0 ? -2 : -1;
	}
	return f->in[f->pos];
}

static void take(HyrtFasta *f)
{
	unsigned char c = f->in[f->pos++];
	if (c == '\n')
		f->line++;
	f->bol = c == '\n';
}

/* header := '>' [ \t]* name [ \t\r...] description '\n'
 * At entry in[pos] is the '>'. Starts a new record. */
static int read_header(HyrtFasta *f, Diag *d)
{
	size_t n = 0;
	int c;

	take(f);
	while ((c = peek(f, d)) == ' ' || c == '\t')
		take(f);
	while (c >= 0 && f->cls[c] != C_SPACE && f->cls[c] != C_NL) {
		if (c == 0)
			return fail(f, d, "NUL byte in a header line");
		if (n == HYRT_FASTA_NAME_MAX)
			return fail(f, d, "record name longer than %d bytes",
			            HYRT_FASTA_NAME_MAX);
		if (n + 1 >= f->name_cap) {
			size_t cap = f->name_cap * 2;
			char *p = realloc(f->name, cap);
			if (!p)
				return fail(f, d, "out of memory for a name");
			f->name = p;
			f->name_cap = cap;
		}
		f->name[n++] = (char)c;
		take(f);
		c = peek(f, d);
	}
	f->name[n] = 0;
	while (c >= 0 && c != '\n') {
		if (c == 0)
			return fail(f, d, "NUL byte in a header line");
		take(f);
		c = peek(f, d);
	}
	if (c == -2)
		return -1;
	if (c == '\n')
		take(f);
	f->in_record = true;
	f->ending = false;
	f->nrecords++;
	f->rec_bases = 0;
	f->rec_unk = 0;
	f->buf_len = 0;
	f->win_start = 0;
	f->skip = 0;
	return 1;
}

/* Skip blank lines to the next header and read it: 1 = a record begins,
 * 0 = end of input, -1 = error. */
static int next_record(HyrtFasta *f, Diag *d)
{
	for (;;) {
		int c = peek(f, d);
		if (c == -1)
			return 0;
		if (c == -2)
			return -1;
		if (c == '>' && f->bol)
			return read_header(f, d);
		if (c == 0)
			return fail(f, d, "NUL byte in the input "
			                  "(not a FASTA file?)");
		if (f->cls[c] != C_SPACE && f->cls[c] != C_NL)
			return fail(f, d, "sequence data before the first "
			                  "'>' header (not a FASTA file?)");
		take(f);
	}
}

/* Read bases into buf: 1 = a full window, 0 = the record ended (the next
 * byte is a header's '>' or the input is over), -1 = error. */
static int fill(HyrtFasta *f, Diag *d)
{
	const int64_t w = f->o.window;
	const unsigned char *cls = f->cls;

	for (;;) {
		const unsigned char *p, *e;

		if (f->pos == f->len) {
			int r = refill(f, d);
			if (r <= 0)
				return r;
		}
		p = f->in + f->pos;
		e = f->in + f->len;
		while (p < e) {
			unsigned k = cls[*p];

			if (k == C_GT && f->bol) {
				f->pos = (size_t)(p - f->in);
				return 0;
			}
			if (k == C_GT)
				k = HYRT_TOK_UNK;
			p++;
			if (k == C_NL) {
				f->line++;
				f->bol = true;
				continue;
			}
			f->bol = false;
			if (k == C_SPACE)
				continue;
			if (k == C_NUL) {
				f->pos = (size_t)(p - f->in);
				return fail(f, d, "NUL byte in sequence data");
			}
			f->lower |= k >> 7;
			if (k & SOFT) {
				f->nsoft++;
				k &= ~(unsigned)SOFT;
			} else {
				f->rec_unk += (k & ~(unsigned)LOWER) ==
				              HYRT_TOK_UNK;
			}
			f->rec_bases++;
			if (f->skip > 0) {
				f->skip--;
				continue;
			}
			f->buf[f->buf_len++] = (int32_t)(k & ~LOWER);
			if (f->buf_len == w) {
				f->pos = (size_t)(p - f->in);
				return 1;
			}
		}
		f->pos = f->len;
	}
}

/* Hand out buf as the window [win_start, win_start + buf_len). */
static void emit(HyrtFasta *f, HyrtWindow *w)
{
	w->record = f->name;
	w->record_index = f->nrecords - 1;
	w->start = f->win_start;
	w->end = f->win_start + f->buf_len;
	w->tokens = f->buf;
	w->ntokens = f->buf_len;
	if (f->o.special_tokens)
		w->tokens[w->ntokens++] = HYRT_TOK_SEP;
	f->advance = true;
}

/* Move to the next window start, keeping any overlap. */
static void advance(HyrtFasta *f)
{
	const int64_t s = f->o.stride;

	if (s < f->buf_len) {
		memmove(f->buf, f->buf + s,
		        (size_t)(f->buf_len - s) * sizeof *f->buf);
		f->buf_len -= s;
	} else {
		f->skip = s - f->buf_len;
		f->buf_len = 0;
	}
	f->win_start += s;
	f->advance = false;
}

/* At a record's end: over half its bases [UNK] (not counting SOFT
 * ones) is worth a word, protein FASTA being the usual cause. */
static bool note_mostly_unk(HyrtFasta *f, Diag *d)
{
	f->nbases += f->rec_bases;
	if (f->rec_unk * 2 <= f->rec_bases)
		return true;
	if (f->nmostly_unk++ > 0)
		return true;
	f->first_unk = f->rec_unk;
	f->first_unk_bases = f->rec_bases;
	f->first_mostly_unk = strdup(f->name);
	if (!f->first_mostly_unk) {
		fail(f, d, "out of memory");
		return false;
	}
	return true;
}

static bool note_empty(HyrtFasta *f, Diag *d)
{
	f->nempty++;
	if (f->first_empty)
		return true;
	f->first_empty = strdup(f->name);
	if (!f->first_empty) {
		fail(f, d, "out of memory");
		return false;
	}
	return true;
}

int hyrt_fasta_next(HyrtFasta *f, HyrtWindow *w, Diag *d)
{
	if (f->failed) {
		if (diag_ok(d))
			diag_at(d, f->path, f->line, 0,
			        "reading after an earlier error");
		return -1;
	}
	if (f->advance)
		advance(f);
	for (;;) {
		int r;

		if (!f->in_record) {
			r = next_record(f, d);
			if (r <= 0)
				return r;
			continue;
		}
		if (!f->ending) {
			r = fill(f, d);
			if (r < 0)
				return -1;
			if (r == 1) {
				emit(f, w);
				return 1;
			}
			f->ending = true;
			if (!note_mostly_unk(f, d))
				return -1;
			if (f->rec_bases == 0 && !note_empty(f, d))
				return -1;
		}
		if (f->buf_len > 0) {
			emit(f, w);
			return 1;
		}
		f->in_record = false;
		f->ending = false;
	}
}

HyrtFasta *hyrt_fasta_open(const char *path, const HyrtFastaOptions *o,
                           Diag *d)
{
	const bool is_stdin = strcmp(path, "-") == 0;
	const char *shown = is_stdin ? "<stdin>" : path;
	HyrtFasta *f;
	struct stat sb;
	size_t bytes;
	int fd;

	if (o->window < 1 || o->stride < 0) {
		diag_at(d, shown, 0, 0, "window (%lld) must be at least 1 and "
		        "stride (%lld) at least 1 (0 = the window)",
		        (long long)o->window, (long long)o->stride);
		return NULL;
	}
	if (o->window >= INT64_MAX / 8 ||
	    !hy_mul_size((size_t)o->window + 1, sizeof(int32_t), &bytes)) {
		diag_at(d, shown, 0, 0, "window of %lld bases is too large",
		        (long long)o->window);
		return NULL;
	}
	f = calloc(1, sizeof *f);
	if (!f)
		goto oom;
	f->fd = -1;
	f->o = *o;
	if (f->o.stride == 0)
		f->o.stride = f->o.window;
	build_classes(f->cls, f->o.case_mode);
	f->line = 1;
	f->bol = true;
	f->name_cap = 64;
	f->path = strdup(shown);
	f->name = malloc(f->name_cap);
	f->in = malloc(IN_BYTES);
	f->buf = malloc(bytes);
	if (!f->path || !f->name || !f->in || !f->buf)
		goto oom;
	f->name[0] = 0;

	f->raw = malloc(RAW_BYTES);
	if (!f->raw)
		goto oom;
	f->zs.next_in = f->raw;
	errno = 0;
	fd = is_stdin ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		diag_at(d, shown, 0, 0, "cannot open: %s", strerror(errno));
		goto fail;
	}
	f->fd = fd;
	f->seekable = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
	return f;

oom:
	diag_at(d, shown, 0, 0, "out of memory for a window of %lld bases",
	        (long long)o->window);
fail:
	hyrt_fasta_close(f);
	return NULL;
}

bool hyrt_fasta_saw_lowercase(const HyrtFasta *f)
{
	return f->lower;
}

int64_t hyrt_fasta_bases(const HyrtFasta *f)
{
	return f->nbases;
}

int64_t hyrt_fasta_soft_masked(const HyrtFasta *f)
{
	return f->nsoft;
}

int64_t hyrt_fasta_mostly_unk(const HyrtFasta *f, const char **first,
                              int64_t *unk, int64_t *bases)
{
	*first = f->first_mostly_unk;
	*unk = f->first_unk;
	*bases = f->first_unk_bases;
	return f->nmostly_unk;
}

int64_t hyrt_fasta_records(const HyrtFasta *f)
{
	return f->nrecords;
}

int64_t hyrt_fasta_empty_records(const HyrtFasta *f)
{
	return f->nempty;
}

const char *hyrt_fasta_first_empty(const HyrtFasta *f)
{
	return f->first_empty;
}

int64_t hyrt_fasta_bytes_read(const HyrtFasta *f)
{
	return f->seekable ? raw_at(f) : f->consumed;
}

void hyrt_fasta_close(HyrtFasta *f)
{
	if (!f)
		return;
	if (f->zs_live)
		inflateEnd(&f->zs);
	if (f->fd >= 0)
		close(f->fd);
	free(f->raw);
	free(f->path);
	free(f->name);
	free(f->in);
	free(f->buf);
	free(f->first_empty);
	free(f->first_mostly_unk);
	free(f);
}
