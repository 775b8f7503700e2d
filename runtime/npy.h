/*
 * npy.h - reading and writing NumPy .npy files (format versions 1.0-3.0).
 *
 * Reading accepts little-endian C-order arrays of f4/f8 (returned as f32)
 * and i1/i2/i4/i8/u1/u2/u4/u8 (returned as i32, range-checked), rank 0..4;
 * every malformed header, truncated body or unsupported dtype is an error
 * naming the file and the byte offset. Writing goes through
 * runtime/outfile.h (a temporary renamed into place), so a failed or
 * interrupted write leaves no partial file under the final name.
 *
 * Ownership: npy_load() mallocs NpyArray.data; npy_free() releases it.
 */
#ifndef HYENAC_NPY_H
#define HYENAC_NPY_H

#include "../common/diag.h"
#include "outfile.h"

#include <stdint.h>

/* The IR's rank limit and dtype codes, kept equal to ir/ir.h's
 * (NPY_MAX_RANK, DT_F32, DT_I32) by a static_assert in driver/compile.c,
 * without the runtime including the compiler's headers. */
enum { NPY_MAX_RANK = 4 };
enum { NPY_F32, NPY_I32 };

typedef struct NpyArray {
	int dtype; /* NPY_F32 or NPY_I32 */
	int rank;
	int64_t dim[NPY_MAX_RANK];
	size_t numel;
	void *data;
} NpyArray;

bool npy_load(const char *path, NpyArray *out, Diag *d);
/* The same for token ids: an integer dtype or an error that lists the
 * integer dtypes (a float array is refused before its data is read). */
bool npy_load_ints(const char *path, NpyArray *out, Diag *d);
void npy_free(NpyArray *a);
bool npy_save_f32(const char *path, const float *data, int rank,
                  const int64_t *dim, Diag *d);
bool npy_save_i32(const char *path, const int32_t *data, int rank,
                  const int64_t *dim, Diag *d);
/* The array into an output opened by hyrt_out_open (committed by the
 * caller): for outputs checked and opened before the work. */
bool npy_write_f32(HyrtOut *o, const float *data, int rank,
                   const int64_t *dim, Diag *d);

/* Streaming, for outputs computed a part at a time (the model binaries'
 * embed, logits and FASTA commands). Every .npy hyenac writes comes from
 * this file: float32 and int32, little-endian whatever the host.
 *
 * Shape known first: npy_begin_f32 writes the header npy_save_f32 would,
 * then npy_write_rows_f32 the data, n floats at a time, in order. */
enum { NPY_HEADER_MAX = 256 };
bool npy_begin_f32(HyrtOut *o, int rank, const int64_t *dim, Diag *d);
bool npy_write_rows_f32(HyrtOut *o, const float *data, size_t n, Diag *d);
/* Row count known last: npy_stream_begin writes a placeholder header of
 * NPY_STREAM_HEADER bytes (the dict padded with spaces, as the format
 * allows), npy_write_rows_f32 the rows, and npy_stream_finish rewrites
 * the header in place with the final shape (rank 1..NPY_MAX_RANK). */
enum { NPY_STREAM_HEADER = 192 /* bytes, a multiple of 64 */ };
bool npy_stream_begin(HyrtOut *o, Diag *d);
bool npy_stream_finish(HyrtOut *o, int rank, const int64_t *dim, Diag *d);

#endif
