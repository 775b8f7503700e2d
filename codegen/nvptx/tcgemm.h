/*
 * tcgemm.h - a GEMM on the GPU's tensor cores, emitted into a kernel
 * that the NVPTX target is building (codegen/nvptx/tcgemm.c).
 *
 * It computes C[M, N] = xform(A)[M, K] * W[N, K]^T for the rows
 * [0, M) of A (a row-major matrix with lda floats between rows) and a
 * row-major weight W (K floats a row), and hands every element of C,
 * with its row and column, to an epilogue that the caller emits (bias,
 * activation, residual, the store). The caller's prologue, when given,
 * transforms each element of A as it is read (the LayerNorm of a fused
 * projection). Only what the caller's kernel knows at compile time is a
 * constant (N, K, lda); M and the pointers are values.
 *
 * Two kinds of arithmetic, both accumulating in fp32:
 *   TCG_TF32X3  fp32 accuracy from three TF32 products per term (each
 *               operand split into a TF32 high part and the TF32 of the
 *               remainder; the lo*lo term, below fp32's rounding, is
 *               dropped): mma.sync m16n8k8 .tf32.
 *   TCG_BF16    both operands rounded to bf16, one product per term:
 *               mma.sync m16n8k16 .bf16 (--precision bf16).
 *
 * Both need sm_80 or later (mma .tf32/.bf16, cp.async); with `wgmma`,
 * sm_90a (the PTX target of Hopper's architecture-specific features).
 * Blocks of 256 threads (8 warps) compute a tile of BM x BN outputs;
 * the grid's blocks are numbered column tile fastest, so the blocks that
 * read the same rows of A run together and share them through L2.
 */
#ifndef HYENAC_CODEGEN_NVPTX_TCGEMM_H
#define HYENAC_CODEGEN_NVPTX_TCGEMM_H

#include <stdbool.h>
#include <stdint.h>

#include <llvm-c/Core.h>

typedef enum { TCG_TF32X3, TCG_BF16 } TcgKind;

enum { TCG_THREADS = 256 };
/* The constants a row of A has for the prologue (TcgSpec.row_prep). */
enum { TCG_RC = 3 };

typedef struct TcgSpec {
	TcgKind kind;
	int64_t N, K;  /* output columns, inner dimension */
	int64_t lda;   /* floats between rows of A (>= K) */
	bool a_vec4;   /* A's rows 16-byte aligned and lda, K multiples of 4 */
	/* A holds bf16 values (lda counts them), read as they are: only
	 * with TCG_BF16, no prologue (xform), a_vec4 and K, lda multiples of
	 * 8 (e.g. an MLP's hidden layer, which the GEMM before it stored
	 * rounded as this one would round it) */
	bool a_bf16;
	int max_bn;    /* widest block tile (8..128, a power of 2); 0: 128 */
	/* sm_90a: warpgroup MMA (wgmma.mma_async), W read from shared
	 * memory. Then the w that tcg_emit takes is not the row-major [N, K]
	 * but its pre-split copy (tcg_emit_split), which the K loop lands
	 * as it is, converting nothing. */
	bool wgmma;
	/* Rows of A below this i64 value read as zero (a halo before the
	 * first row); NULL: none. */
	LLVMValueRef a_lo;
	/* Emitted once a block knows its tile, before its first slice: the
	 * tile's first row (i64) and the thread (i32), e.g. to compute the
	 * tile's LayerNorm statistics into shared memory (a barrier follows
	 * before xform is first reached). NULL: nothing. */
	void (*tile_begin)(void *u, LLVMBuilderRef b, LLVMValueRef row0,
	                   LLVMValueRef tid);
	/* The prologue, in two parts. row_prep (optional) emits the
	 * constants of A's row `row` (i64, one of the tile's) into
	 * rc[TCG_RC], e.g. a LayerNorm's mean and scale: once for each row
	 * a thread reads, before the K loop where a thread's rows stay the
	 * same (wgmma), once per fragment otherwise, rather than for every
	 * element. xform emits the value of A[row][k] after the prologue,
	 * given the loaded v, k (i64) and the row's rc; NULL: v as loaded.
	 * Rows outside the matrix and k past K read as zero whatever xform
	 * gives. */
	void (*row_prep)(void *u, LLVMBuilderRef b, LLVMValueRef row,
	                 LLVMValueRef *rc);
	LLVMValueRef (*xform)(void *u, LLVMBuilderRef b, LLVMValueRef const *rc,
	                      LLVMValueRef k, LLVMValueRef v);
	/* Emits the epilogue of C[row][col] = v (row < M and col < N are
	 * checked before it is called); row and col are i64. */
	void (*epi)(void *u, LLVMBuilderRef b, LLVMValueRef row,
	            LLVMValueRef col, LLVMValueRef v);
	/* Optional, with wgmma and an even N: the epilogue of C[row][col] =
	 * y[0] and C[row][col + 1] = y[1] (col even; both in range), so that
	 * the caller can store the pair with one 8-byte store, in two
	 * halves: val2 turns y into the values to store (bias, activation,
	 * residual), put2 stores them. A tile wholly in range issues a run
	 * of pairs' val2 (their loads) before their put2, since a load after
	 * a store waits for it (the addresses may alias). */
	void (*val2)(void *u, LLVMBuilderRef b, LLVMValueRef row,
	             LLVMValueRef col, LLVMValueRef y[2]);
	void (*put2)(void *u, LLVMBuilderRef b, LLVMValueRef row,
	             LLVMValueRef col, LLVMValueRef y[2]);
	/* Optional, with wgmma and val2, for an output of bf16 pairs (N a
	 * multiple of 8, rows 16-byte aligned): the address (generic) of
	 * C[row][col] (row, col i64; col a multiple of 8). A tile wholly in
	 * range then goes out through shared memory: each pair val2 gave,
	 * rounded to bf16 (nearest even, as put2 rounds it), into the tile,
	 * and the tile's rows out in 16-byte pieces, a warp's store two
	 * whole rows of 256 bytes, where put2's 4-byte stores wrote eight
	 * rows' 16-byte halves of sectors. put2 still stores the edges. */
	LLVMValueRef (*out_at)(void *u, LLVMBuilderRef b, LLVMValueRef row,
	                       LLVMValueRef col);
	/* Optional, with val2 and N a multiple of BN: the statistics of
	 * what put2 stored, for each row < M of the block's tile: the mean
	 * over the tile's BN columns and the sum of squared deviations from
	 * it (f32, two passes over the values in registers), handed over by
	 * one thread a row with the row and the tile's first column (i64),
	 * e.g. to store them for a LayerNorm of those rows. */
	void (*row_parts)(void *u, LLVMBuilderRef b, LLVMValueRef row,
	                  LLVMValueRef col0, LLVMValueRef mean, LLVMValueRef sq);
	/* Rows between the tiles of consecutive row blocks (0: BM); with
	 * fewer, neighbouring tiles overlap by BM - row_step rows (the halo
	 * of a filter along the rows that the epilogue applies). */
	int row_step;
	/* With wgmma, in place of epi, val2 and put2: the block's tile handed over
	 * whole in shared memory. After the K loop the products (no bias)
	 * go to the f32 tile sh, row r column c at sh[r * ld + c] (BM rows,
	 * BN columns; rows past M hold whatever A's zero rows gave), and
	 * this emits what the block's threads do with it; row0 and col0
	 * (i64) are the tile's first row and column, tid the thread (i32). */
	void (*tile_epi)(void *u, LLVMBuilderRef b, LLVMValueRef sh, int ld,
	                 LLVMValueRef row0, LLVMValueRef col0, LLVMValueRef tid);
	void *u;
} TcgSpec;

/* The padding of tile_epi's rows: ld = BN + TCG_TILE_PAD. */
enum { TCG_TILE_PAD = 4 };

/* The block tile for N: BM rows by BN columns. */
void tcg_tile(const TcgSpec *s, int *bm, int *bn);
/* Blocks for M rows (an i64 formula the caller's launch uses):
 * ceil(M / BM) * ceil(N / BN). */
int64_t tcg_col_tiles(const TcgSpec *s);

/* The dynamic shared memory a block of the GEMM needs (the launch's
 * shared bytes; above 48 KiB the function needs the opt-in attribute). */
int64_t tcg_shmem_bytes(const TcgSpec *s);

/* With wgmma: the bytes of W's pre-split copy for s, and the body of a
 * kernel that makes it from the row-major w, each column k times
 * scale[k] where scale is not NULL, into dst (global pointers):
 * the thread with index i (i64) makes piece i, for i below
 * tcg_split_pieces(s) (the caller's guard). It runs once, when the
 * weights are uploaded; the conversion is the one the mma's fragments
 * have (TF32 high part and TF32 of the rest, or bf16 pairs). */
int64_t tcg_split_bytes(const TcgSpec *s);
int64_t tcg_split_pieces(const TcgSpec *s);
void tcg_emit_split(LLVMModuleRef mod, LLVMBuilderRef b, LLVMValueRef fn,
                    const TcgSpec *s, LLVMValueRef w, LLVMValueRef scale,
                    int64_t pairs, LLVMValueRef dst, LLVMValueRef i);
/* With pairs = D (a gated projection [post | v | g] of N = 3D rows,
 * D a multiple of 64): the copy's rows reordered so that each 128-row
 * column tile past the first D rows holds 64 channels' v rows and then
 * the same channels' g rows: row n of the copy is row tcg_pair_row(n, D)
 * of w (0: rows in order). */
int64_t tcg_pair_row(int64_t n, int64_t D);

/* Kernel fn's entry key = value (i32) in the module's nvvm.annotations
 * ("kernel", "maxntidx", "minctasm" and the like). */
void tcg_annotate(LLVMModuleRef mod, LLVMValueRef fn, const char *key,
                  int value);

/* Emits the GEMM into fn at b's position: a, w are global pointers, m
 * the rows (i64). Leaves b in a new block after it; every thread of the
 * block reaches that block. The block's tile comes from ctaid.x. */
void tcg_emit(LLVMModuleRef mod, LLVMBuilderRef b, LLVMValueRef fn,
              const TcgSpec *s, LLVMValueRef a, LLVMValueRef w,
              LLVMValueRef m);

#endif
