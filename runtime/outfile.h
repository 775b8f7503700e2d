/*
 * outfile.h - output files that appear whole or not at all, written as
 * a stream: the FASTA commands of a model binary write rows as windows
 * finish, without holding them all, and still never leave a half-written
 * file under the name the user asked for.
 *
 * Each output is written to a temporary file beside its final path
 * (PATH.tmp.XXXXXX, same directory so rename() is atomic) and renamed
 * into place by hyrt_out_commit(), which commits a set of files together
 * with SIGINT/SIGTERM/SIGHUP blocked, so a Ctrl-C never lands between two
 * renames. Until then the temporary's name sits in a fixed table that a
 * signal handler (installed by hyrt_out_install_cleanup for SIGINT,
 * SIGTERM, SIGHUP and the crash signals, together with an atexit hook for
 * exit() on error paths) walks, unlinking each one with the
 * async-signal-safe unlink(2) before it re-raises the signal.
 *
 * A .npy file of unknown row count is streamed with a fixed-width header
 * (HYRT_NPY_STREAM_HEADER bytes, the shape padded with spaces, as the
 * format allows): hyrt_npy_stream_begin() writes a placeholder,
 * hyrt_out_write() the rows, hyrt_npy_stream_finish() rewrites the header
 * with the final shape. Floats are written in host byte order and the
 * header says which ('<f4' or '>f4').
 *
 * Ownership: HyrtOut belongs to the caller; open mallocs its names,
 * commit or abort frees them. Not thread-safe: one thread writes.
 */
#ifndef HYENAC_OUTFILE_H
#define HYENAC_OUTFILE_H

#include <stdio.h>

#include "../ir/base.h"

enum {
	HYRT_OUT_MAX = 8,             /* live temporaries at a time */
	HYRT_NPY_STREAM_HEADER = 192, /* bytes, a multiple of 64 */
};

typedef struct HyrtOut {
	FILE *f;
	char *path; /* the final name */
	char *tmp;  /* where the bytes go until commit */
	int slot;   /* in the cleanup table, -1 when none */
} HyrtOut;

/* Install the signal handlers and the atexit hook (once). */
void hyrt_out_install_cleanup(void);
/* Create path's temporary (mode 0644) and open it for writing. */
bool hyrt_out_open(HyrtOut *o, const char *path, Diag *d);
bool hyrt_out_write(HyrtOut *o, const void *p, size_t n, Diag *d);
/* Close every file, then rename each into place; on any failure every
 * temporary not yet renamed is removed. */
bool hyrt_out_commit(HyrtOut *const *outs, int n, Diag *d);
/* Close and remove the temporary; safe on a zeroed or committed HyrtOut. */
void hyrt_out_abort(HyrtOut *o);
/* Remove every live temporary (what the signal handler does). */
void hyrt_out_abort_all(void);

bool hyrt_npy_stream_begin(HyrtOut *o, Diag *d);
/* Rewrite the placeholder header: float32, rank 1..3, dims dim. */
bool hyrt_npy_stream_finish(HyrtOut *o, int rank, const int64_t *dim,
                            Diag *d);

#endif
