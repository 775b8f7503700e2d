/*
 * weights.c - the weight blob packed at the end of a model binary.
 *
 * Layout of a compiled model file (runtime/hyrt.h):
 *
 *   [linked ELF program][zeros to a 4096 multiple][blob][HyrtTrailer]
 *
 * The trailer carries zlib's CRC-32 of the blob, checked at every load so
 * that a binary whose weights were damaged on disk or in transit (a
 * flipped page runs fine and gives wrong numbers) is refused before any
 * forward. CRC-32 rather than a hand-written hash: zlib is already linked
 * in (gzip FASTA), its crc32 is well kept and runs at GB/s, a small cost
 * next to a forward that reads every weight anyway; it detects every burst
 * error up to 32 bits and random damage with odds of 2^-32 of a miss. It
 * is no defence against a deliberate edit (the trailer can be rewritten).
 *
 * The ELF loader never looks past the program's segments, so the appended
 * bytes cost nothing until the runtime maps them. hyrt_append_blob() is
 * what `hyenac compile` runs after linking; hyrt_blob_open() is what the
 * binary runs on /proc/self/exe at start-up, validating the trailer before
 * it trusts any of it: a binary whose tail was cut off, stripped or
 * rewritten gets a one-line diagnostic, never a wild read.
 *
 * The blob is mapped read-only and private, so pages are read from the
 * page cache on first touch and shared between processes running the same
 * binary. The trailer is written in host byte order: the binary only runs
 * where it was built for. Leans on base.h for Diag.
 */
#include "hyrt.h"

#include "../common/diag.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

enum { BLOB_ALIGN = 4096 };

static_assert(sizeof(HyrtTrailer) == 32, "HyrtTrailer has no padding");

/* A non-NULL pointer for a blob of no bytes. */
static _Alignas(64) const char empty_blob[64];

static bool read_at(int fd, void *buf, size_t n, off_t at)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = pread(fd, p, n, at);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
		at += r;
	}
	return true;
}

static bool write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return false;
		}
		p += r;
		n -= (size_t)r;
	}
	return true;
}

static bool check_trailer(const HyrtTrailer *t, uint64_t fsize,
                          uint64_t expect, const char *path, Diag *d)
{
	uint64_t tsz = sizeof *t;

	if (memcmp(t->magic, HYRT_TRAILER_MAGIC_V1, 8) == 0) {
		diag_error(d, "%s: packed weights in the format of an older "
		           "hyenac (no checksum); compile the model again", path);
		return false;
	}
	if (memcmp(t->magic, HYRT_TRAILER_MAGIC, 8) != 0) {
		diag_error(d, "%s: no packed weights (the last %" PRIu64 " bytes "
		           "are not a '%s' trailer): not a hyenac model binary, "
		           "or it was modified after compiling", path, tsz,
		           HYRT_TRAILER_MAGIC);
		return false;
	}
	if (t->blob_offset % BLOB_ALIGN != 0) {
		diag_error(d, "%s: weight trailer at byte %" PRIu64 " gives blob "
		           "offset %" PRIu64 ", not a multiple of %d", path,
		           fsize - tsz, t->blob_offset, BLOB_ALIGN);
		return false;
	}
	if (t->blob_offset > fsize - tsz ||
	    t->blob_bytes != fsize - tsz - t->blob_offset) {
		diag_error(d, "%s: weight trailer at byte %" PRIu64 " says "
		           "%" PRIu64 " bytes at offset %" PRIu64 ", which does "
		           "not end where the trailer starts (truncated or "
		           "appended to?)", path, fsize - tsz, t->blob_bytes,
		           t->blob_offset);
		return false;
	}
	if (t->blob_bytes != expect) {
		diag_error(d, "%s: packed weights are %" PRIu64 " bytes but the "
		           "compiled model expects %" PRIu64, path,
		           t->blob_bytes, expect);
		return false;
	}
	return true;
}

static uint32_t blob_crc(const void *p, size_t n)
{
	return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), p, n);
}

static bool check_crc(const void *p, size_t n, const HyrtTrailer *t,
                      const char *path, Diag *d)
{
	uint32_t got = blob_crc(p, n);

	if (got == t->blob_crc32)
		return true;
	diag_error(d, "%s: weights damaged (checksum mismatch: CRC-32 %08"
	           PRIx32 ", compiled as %08" PRIx64 "); compile the model "
	           "again", path, got, t->blob_crc32);
	return false;
}

bool hyrt_blob_open(HyrtBlob *b, const char *path, uint64_t expect_bytes,
                    Diag *d)
{
	HyrtTrailer t;
	struct stat st;
	bool ok = false;
	int fd;

	const char *why;

	memset(b, 0, sizeof *b);
	/* a FIFO given to hyenac_model_load is refused, not waited on */
	fd = hy_open_regular(path, &st, &why);
	if (fd < 0) {
		diag_error(d, "%s: cannot open: %s", path, why);
		return false;
	}
	if ((uint64_t)st.st_size < sizeof t) {
		diag_error(d, "%s: %lld bytes, too short to hold a weight "
		           "trailer", path, (long long)st.st_size);
		goto out;
	}
	if (!read_at(fd, &t, sizeof t, st.st_size - (off_t)sizeof t)) {
		diag_error(d, "%s: cannot read the weight trailer: %s", path,
		           strerror(errno ? errno : EIO));
		goto out;
	}
	if (!check_trailer(&t, (uint64_t)st.st_size, expect_bytes, path, d))
		goto out;
	if (t.blob_bytes == 0) {
		b->data = empty_blob;
		ok = check_crc(b->data, 0, &t, path, d);
		goto out;
	}
	if (t.blob_bytes > SIZE_MAX) {
		diag_error(d, "%s: packed weights too large to map", path);
		goto out;
	}
	/* The page size may exceed 4096 (arm64 64K pages): map from the
	 * page below and step forward. */
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t base = pg > 0 ? t.blob_offset / (uint64_t)pg * (uint64_t)pg
	                       : t.blob_offset;
	size_t skip = (size_t)(t.blob_offset - base);
	size_t len = skip + (size_t)t.blob_bytes;
	void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, (off_t)base);
	if (m == MAP_FAILED) {
		diag_error(d, "%s: cannot map %zu bytes of weights: %s", path,
		           len, strerror(errno));
		goto out;
	}
	b->map = m;
	b->map_bytes = len;
	b->data = (const char *)m + skip;
	ok = check_crc(b->data, (size_t)t.blob_bytes, &t, path, d);
	if (!ok)
		munmap(m, len);
out:
	if (ok)
		b->bytes = (size_t)t.blob_bytes;
	else
		memset(b, 0, sizeof *b);
	close(fd);
	return ok;
}

void hyrt_blob_close(HyrtBlob *b)
{
	if (b->map)
		munmap(b->map, b->map_bytes);
	memset(b, 0, sizeof *b);
}

bool hyrt_append_blob(const char *path, const void *blob, size_t n, Diag *d)
{
	static const char zeros[BLOB_ALIGN];
	HyrtTrailer t;
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd < 0) {
		diag_error(d, "%s: cannot open for writing: %s", path,
		           strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0) {
		diag_error(d, "%s: cannot stat: %s", path, strerror(errno));
		close(fd);
		return false;
	}
	off_t old = st.st_size;
	size_t pad = (size_t)((BLOB_ALIGN - old % BLOB_ALIGN) % BLOB_ALIGN);
	memcpy(t.magic, HYRT_TRAILER_MAGIC, 8);
	t.blob_offset = (uint64_t)old + pad;
	t.blob_bytes = n;
	t.blob_crc32 = blob_crc(n ? blob : empty_blob, n);
	if (!write_all(fd, zeros, pad) || !write_all(fd, blob, n) ||
	    !write_all(fd, &t, sizeof t)) {
		diag_error(d, "%s: cannot append %zu bytes of weights: %s", path,
		           n, strerror(errno));
		if (ftruncate(fd, old) != 0) {
			/* the caller removes the file anyway */
		}
		close(fd);
		return false;
	}
	if (close(fd) != 0) {
		diag_error(d, "%s: write error: %s", path, strerror(errno));
		return false;
	}
	return true;
}
