/*
 * fuzz_gzip.c - libFuzzer target for gzip FASTA with more after a member:
 * concatenated members, empty ones, bgzip-style headers, and text,
 * garbage, zeros or a cut-off member after them.
 *
 * Mutating compressed bytes rarely gets past a CRC, so the input is a
 * recipe and the target builds the file: 3 option bytes as in
 * fuzz_fasta.c, then parts, each a kind byte, a length byte and that many
 * payload bytes. Kind % 4: 0 a gzip member of the payload (deflated here,
 * level and bgzip's FEXTRA header from the kind's high bits), 1 the
 * payload as raw bytes, 2 a member cut short by (kind >> 2) + 1 bytes,
 * 3 a member with one byte flipped. Knowing what it built, the target
 * checks the promise of runtime/fasta.c:
 *   - members only: the windows, counts and any error are exactly those
 *     of the decompressed text read as a plain file;
 *   - a member followed by raw bytes that cannot begin a member, or a
 *     cut-off last member: an error, never a success that drops data;
 *   - anything else (a flipped byte, raw bytes first): one-line errors
 *     and no crash, as for every input.
 */
#include <string.h>
#include <zlib.h>

#include "fasta_options.h"
#include "fuzz_common.h"
#include "runtime/fasta.h"

typedef struct GzBuf {
	unsigned char *p;
	size_t n, cap;
} GzBuf;

static void gz_put(GzBuf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* payload as one gzip member appended to b; returns its length. */
static size_t gz_member(GzBuf *b, const uint8_t *payload, size_t n,
                        int level, bool bgzf)
{
	static unsigned char extra[6] = {'B', 'C', 2, 0, 0, 0};
	unsigned char out[1024];
	z_stream z = {0};
	gz_header h = {0};
	size_t start = b->n;
	int r;

	if (deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	if (bgzf) {
		h.extra = extra;
		h.extra_len = sizeof extra;
		h.os = 255;
		if (deflateSetHeader(&z, &h) != Z_OK)
			abort();
	}
	z.next_in = (unsigned char *)payload;
	z.avail_in = (uInt)n;
	do {
		z.next_out = out;
		z.avail_out = sizeof out;
		r = deflate(&z, Z_FINISH);
		gz_put(b, out, sizeof out - z.avail_out);
	} while (r == Z_OK);
	if (r != Z_STREAM_END)
		abort();
	deflateEnd(&z);
	return b->n - start;
}

/* What one read of a file gave. */
typedef struct GzOutcome {
	int rc; /* 0 read whole, -1 error (at open or later) */
	uint64_t hash;
	long windows;
	int64_t records, empty;
	bool lower;
	char msg[DIAG_MSG_MAX];
} GzOutcome;

static uint64_t gz_mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 1099511628211ull;
	return h;
}

static void gz_read_all(const uint8_t *data, size_t n,
                        const HyrtFastaOptions *o, GzOutcome *out)
{
	HyrtFasta *f;
	HyrtWindow w;
	Diag d;
	int r;

	memset(out, 0, sizeof *out);
	out->hash = 1469598103934665603ull;
	diag_init(&d);
	f = hyrt_fasta_open(fuzz_file("fuzz.fa.gz", data, n), o, &d);
	if (!f) {
		FUZZ_CHECK_DIAG(&d);
		out->rc = -1;
		snprintf(out->msg, sizeof out->msg, "%s", d.msg);
		return;
	}
	while ((r = hyrt_fasta_next(f, &w, &d)) == 1) {
		out->windows++;
		out->hash = gz_mix(out->hash, w.record, strlen(w.record) + 1);
		out->hash = gz_mix(out->hash, &w.record_index,
		                   sizeof w.record_index);
		out->hash = gz_mix(out->hash, &w.start, sizeof w.start);
		out->hash = gz_mix(out->hash, &w.end, sizeof w.end);
		out->hash = gz_mix(out->hash, w.tokens,
		                (size_t)w.ntokens * sizeof *w.tokens);
	}
	if (r < 0) {
		FUZZ_CHECK_DIAG(&d);
		if (hyrt_fasta_next(f, &w, &d) != -1)
			abort();
		snprintf(out->msg, sizeof out->msg, "%s", d.msg);
	}
	out->rc = r;
	out->records = hyrt_fasta_records(f);
	out->empty = hyrt_fasta_empty_records(f);
	out->lower = hyrt_fasta_saw_lowercase(f);
	hyrt_fasta_close(f);
}

enum { GZ_EXPECT_NOTHING, GZ_EXPECT_PLAIN, GZ_EXPECT_ERROR };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	HyrtFastaOptions o;
	GzBuf file = {0}, plain = {0};
	int expect = GZ_EXPECT_PLAIN;
	bool ended = false; /* a part other than a whole member came */
	GzOutcome got, want;

	if (!fuzz_fasta_options(&data, &n, &o))
		return 0;
	while (n >= 2) {
		unsigned kind = data[0];
		size_t len = data[1] < n - 2 ? data[1] : n - 2;
		const uint8_t *pay = data + 2;
		size_t at = file.n, m;

		data += 2 + len;
		n -= 2 + len;
		switch (kind % 4) {
		case 0:
			gz_member(&file, pay, len, (int)(kind >> 2) % 10,
			       kind & 0x80);
			if (!ended)
				gz_put(&plain, pay, len);
			break;
		case 1:
			gz_put(&file, pay, len);
			if (len == 0 || ended)
				break;
			ended = true;
			/* 0x1f may begin a member (with what follows) */
			expect = at == 0 || pay[0] == 0x1f ? GZ_EXPECT_NOTHING
			                                   : GZ_EXPECT_ERROR;
			break;
		case 2:
			m = gz_member(&file, pay, len, 6, false);
			file.n -= (kind >> 2) % (m - 1) + 1; /* keeps a byte */
			if (!ended)
				expect = n < 2 ? GZ_EXPECT_ERROR : GZ_EXPECT_NOTHING;
			ended = true;
			break;
		case 3:
			m = gz_member(&file, pay, len, 6, kind & 0x80);
			file.p[at + (kind >> 2) % m] ^= (unsigned char)(1 + len);
			if (!ended)
				expect = GZ_EXPECT_NOTHING;
			ended = true;
			break;
		}
	}
	/* Raw text as the file, or a plain text the reader would take for
	 * gzip, has no oracle here (fuzz_fasta covers plain files). */
	if (file.n == 0 || (plain.n >= 2 && plain.p[0] == 0x1f &&
	                    plain.p[1] == 0x8b))
		expect = GZ_EXPECT_NOTHING;

	gz_read_all(file.p, file.n, &o, &got);
	if (expect == GZ_EXPECT_ERROR && got.rc != -1) {
		fprintf(stderr, "data after a member was dropped: read whole "
		        "with %ld windows\n", got.windows);
		abort();
	}
	if (expect == GZ_EXPECT_PLAIN) {
		gz_read_all(plain.p, plain.n, &o, &want);
		if (got.rc != want.rc || got.hash != want.hash ||
		    got.windows != want.windows || got.records != want.records ||
		    got.empty != want.empty || got.lower != want.lower ||
		    strcmp(got.msg, want.msg) != 0) {
			fprintf(stderr, "gzip read differs from plain: rc %d/%d "
			        "windows %ld/%ld records %lld/%lld msg '%s' / "
			        "'%s'\n", got.rc, want.rc, got.windows,
			        want.windows, (long long)got.records,
			        (long long)want.records, got.msg, want.msg);
			abort();
		}
	}
	free(file.p);
	free(plain.p);
	return 0;
}
