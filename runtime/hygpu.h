/*
 * hygpu.h - the contract between the GPU target's code generator
 * (codegen/nvptx/) and the CUDA runtime it is linked with
 * (runtime/cuda/), as hyrt.h is for the CPU target.
 *
 * A GPU binary holds no host code made by LLVM for the model: it holds
 * PTX (kernels made by LLVM's NVPTX backend) and a plan, a table of
 * steps per entry that the runtime walks on the host, launching the
 * kernels through the CUDA driver API and running the FFTs through
 * cuFFT (both loaded with dlopen at run time). The runtime defines the
 * hyrt.h functions (hyenac_run, hyenac_run_pooled, hyenac_run_classify,
 * hyenac_run_hidden, hyenac_scratch_bytes) over the plan, so a GPU
 * binary's commands are the CPU binary's (runtime/main/).
 *
 * The generated host object of a GPU binary defines, besides hyenac_meta,
 * hyenac_model_name and hyenac_labels (as in hyrt.h):
 *
 *   hyenac_gpu_ptx        the PTX text, NUL-terminated
 *   hyenac_gpu_kernels    kernel names in index order, each NUL-ended
 *   hyenac_gpu_plan       HygpuPlan: regions, entries, steps
 *
 * Every kernel has one signature, HYGPU_NPARAMS parameters in this
 * order:
 *
 *   (ptr arena, ptr weights, ptr io, ptr work, ptr spec,
 *    i64 B, i64 L, i64 n, i64 a, i64 cnt)
 *
 *   arena    device scratch laid out by the memory plan exactly as on the
 *            CPU (codegen/cpu/entry.c planned_layout): the token region
 *            (region[HYGPU_REGION_TOKEN] bytes per token, B*L tokens),
 *            then position (bytes per position, L), fixed, sample (per
 *            sample, B); a node's address is its region's base plus its
 *            offset times the unit. Kernels compute every address from
 *            these constants and B, L.
 *   weights  the packed weight blob, uploaded to the device once, and
 *            after it the weights the plan's init steps derive from it
 *   io       a device array of device pointers: io[0] the tokens (int32
 *            [B, L]), io[1 + k] output k of the entry being run
 *   work     the running group's work buffer (HygpuGroup), or NULL;
 *            like arena, weights, io[k] and spec at least 16-byte
 *            aligned (kernels load float4)
 *   spec     the running group's spectrum buffer: filter spectra of
 *            channels [a, a + cnt), row c - a at (c - a) * (n + 2)
 *            floats (n / 2 + 1 complex), or NULL
 *   n        the FFT length of the running group (0 outside one)
 *   a, cnt   the chunk the group is running: units [a, a + cnt) of its
 *            dimension (rows of B*L, or channels); 0, units outside one
 *
 * A step launches ceil((grid[0]*B*L + grid[1]*B + grid[2]*L + grid[3]*cnt
 * + grid[4]*cnt*B + grid[5]) / grid_div) blocks (at least one; x only)
 * of `threads` threads with `shmem` dynamic shared bytes. Steps run in
 * order on one stream.
 *
 * A group (HYGPU_GROUP) starts a run of `count` following steps that the
 * runtime repeats for chunks of a dimension: rows of B*L, or channels
 * [0, units). The runtime picks the chunk (at most `max_chunk`, at least
 * 1, smaller when device memory is short) and gives the chunk's steps a
 * work buffer of work_per_unit * cnt + work_fixed bytes (for FFT groups
 * with n: work_per_unit and work_fixed are multiplied by (n + 2) * 4
 * when HYGPU_WORK_PER_FFT_ROW is set; and work_per_unit * cnt by B when
 * HYGPU_WORK_TIMES_B is set: a convolution group's work holds B * cnt
 * FFT rows, row b * cnt + (c - a) for batch row b and channel c; the
 * runtime never gives less than the group's R2C/C2R steps on buf 0
 * touch). For a convolution group
 * (`conv` >= 0), n is hygpu_fft_len(L) and spec holds the filter spectra:
 * the runtime keeps them per conv and n between calls when memory allows
 * (HYGPU_FILTER steps then run only when a spectrum is not kept yet). A
 * pass in which every convolution group of the entry finds its spectra
 * kept runs no HYGPU_FILTER_SRC step either; should one of those kept
 * spectra have to go during it (memory), the pass starts again with
 * every step.
 *
 * R2C / C2R steps transform `rows` rows (rows_per_unit * cnt, times B
 * when rows_b) of length n in place in the work (buf 0) or spec (buf 1)
 * buffer, starting at float offset off_rows * (n + 2); rows are n + 2
 * floats apart (n / 2 + 1 complex). C2R leaves the result unscaled
 * (times n).
 */
#ifndef HYENAC_HYGPU_H
#define HYENAC_HYGPU_H

#include <stdint.h>

enum { HYGPU_NPARAMS = 10 };

typedef enum {
	HYGPU_LAUNCH = 1, /* a kernel */
	HYGPU_GROUP,      /* the next `count` steps run per chunk */
	HYGPU_R2C,        /* cuFFT real to complex, in place */
	HYGPU_C2R,        /* cuFFT complex to real, in place, unscaled */
} HygpuOp;

typedef enum { HYGPU_DIM_ROWS = 1, HYGPU_DIM_CHANNELS } HygpuDim;

enum {
	HYGPU_FILTER = 1 << 0,          /* step makes the filter spectra */
	HYGPU_WORK_PER_FFT_ROW = 1 << 1, /* group: work counted in FFT rows */
	HYGPU_WORK_TIMES_B = 1 << 2,     /* group: work_per_unit * cnt is
	                                  * also multiplied by B */
	HYGPU_FILTER_SRC = 1 << 3,       /* a step (or a group, whole) outside
	                                  * the convolution groups that makes
	                                  * only what FILTER steps read (the
	                                  * implicit filter's MLP) */
};

typedef enum {
	HYGPU_REGION_TOKEN,
	HYGPU_REGION_POSITION,
	HYGPU_REGION_FIXED,
	HYGPU_REGION_SAMPLE,
	HYGPU_REGION_COUNT
} HygpuRegion;

typedef struct HygpuStep {
	int64_t op;      /* HygpuOp */
	int64_t flags;   /* HYGPU_FILTER, HYGPU_WORK_PER_FFT_ROW */
	/* HYGPU_LAUNCH */
	int64_t kernel;  /* index in hyenac_gpu_kernels */
	int64_t threads, shmem;
	int64_t grid[6], grid_div;
	/* HYGPU_GROUP */
	int64_t count, dim, units; /* units: channels (DIM_CHANNELS) */
	int64_t max_chunk, work_per_unit, work_fixed;
	int64_t conv;              /* index of the convolution, or -1 */
	/* HYGPU_R2C, HYGPU_C2R */
	int64_t buf, rows_per_unit, rows_b, off_rows;
	/* Inside a convolution group: 0, the step runs at every FFT length;
	 * n > 0, only where the group's n is n; n < 0, only where it is
	 * not -n (hygpu_step_on). A convolution compiled for one length
	 * carries two ways to run it: kernels of its own for that length,
	 * cuFFT's transforms for the others. */
	int64_t only_n;
} HygpuStep;

typedef struct HygpuEntry {
	const char *name;  /* "forward" for entry 0, then the graph's */
	int64_t first, count; /* its steps in HygpuPlan.steps */
	int64_t nout;
	/* output k holds out_per_token[k] floats per token of B*L, or, when
	 * 0, out_per_sample[k] per sample of B */
	int64_t out_per_token[66], out_per_sample[66];
} HygpuEntry;

typedef struct HygpuPlan {
	int64_t version;   /* HYGPU_PLAN_VERSION */
	int64_t region[HYGPU_REGION_COUNT]; /* bytes per unit (fixed: bytes) */
	int64_t nconv;     /* convolutions with kept spectra */
	int64_t nentry, nstep, nkernel;
	const HygpuEntry *entries;
	const HygpuStep *steps;
	const char *arch;  /* "sm_90" */
	/* Weights derived from the blob on the device (the pre-split W of
	 * the sm_90a GEMMs, codegen/nvptx/tcgemm.h): the weights buffer
	 * holds weights_extra more bytes from weights_base (the blob's size
	 * rounded up to 256 bytes), written by the init steps, steps
	 * [init_first, init_first + init_count), which the runtime runs
	 * once after the upload, with B = L = 1 (launches only). None: all
	 * four 0. */
	int64_t weights_base, weights_extra;
	int64_t init_first, init_count;
} HygpuPlan;

#define HYGPU_PLAN_VERSION 4

/* The FFT length for sequence length L: the least even n >= 2 L whose
 * only prime factors are 2, 3, 5 and 7 (cuFFT's fast sizes), or the
 * power of two >= 2 L where that is at most 1/16 longer: cuFFT's
 * radix-2 transforms are the fastest per point (on an H200, an R2C and
 * C2R pair of 256 rows: 10.3 ms at 2^21 against 11.6 ms at 2,000,000,
 * the least 7-smooth length for L = 10^6, in a sweep where the least
 * 7-smooth length was otherwise within the noise of the best). Even, so
 * that an in-place row of n + 2 floats holds n / 2 + 1 complex exactly
 * (8-byte aligned: an odd n, 27 for L = 13, would not). One definition,
 * used by the runtime to pick n and by tests. */
static inline int64_t hygpu_fft_len(int64_t L)
{
	int64_t n = 2 * L, p = 2;

	for (;; n += 2) {
		int64_t m = n;
		while (m % 2 == 0)
			m /= 2;
		while (m % 3 == 0)
			m /= 3;
		while (m % 5 == 0)
			m /= 5;
		while (m % 7 == 0)
			m /= 7;
		if (m == 1)
			break;
	}
	while (p < 2 * L)
		p *= 2;
	return p * 16 <= n * 17 ? p : n;
}

/* Whether step st runs in a group whose FFT length is n (only_n). */
static inline int hygpu_step_on(const HygpuStep *st, int64_t n)
{
	return st->only_n == 0 || (st->only_n > 0 ? n == st->only_n
	                                          : n != -st->only_n);
}

extern const char hyenac_gpu_ptx[];
extern const char hyenac_gpu_kernels[];
extern const HygpuPlan hyenac_gpu_plan;

#endif
