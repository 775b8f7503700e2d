/*
 * nvptx.h - the GPU target's internals, shared by the files of
 * codegen/nvptx/:
 *
 *   backend.c  the CgBackend: the NVPTX target machine, the entries
 *              (the forward-type ones: the full forward, logits,
 *              pooled, classify, hidden_states; never prefill/step),
 *              the kernel variants per node and the plan of steps, and
 *              the host object holding the PTX and the plan
 *   kernels.c  the kernels of every op, each with hygpu.h's one
 *              signature, and the steps that launch them
 *   gemm.c     the tiled SGEMM with its LayerNorm prologue and fused
 *              epilogues
 *   fft4.c     the long convolution at one power-of-two length in
 *              kernels of its own (four-step transforms) rather than
 *              cuFFT's
 *
 * A kernel computes every address from the memory plan's constants and
 * its B, L parameters (nv_addr), as codegen/cpu/entry.c's
 * planned_layout does on the CPU; a value that is output k of the entry
 * being run lives at io[1 + k], the tokens at io[0]. Since the same
 * node can be a different entry's output k, a node gets one kernel
 * variant per distinct assignment of output slots to it and its
 * sources (NvState.cur_slot while it is emitted).
 */
#ifndef HYENAC_CODEGEN_NVPTX_H
#define HYENAC_CODEGEN_NVPTX_H

#include "../cpu/cpu.h"
#include "runtime/hygpu.h"
#include "tcgemm.h"

/* Threads of every kernel but where a kernel says otherwise. */
enum { NV_THREADS = 256 };
/* A group's work buffer stays within this (fused_mlp's hidden rows,
 * fused_proj's projected rows). */
#define NV_WORK_LIMIT ((int64_t)256 << 20)

/* The kernel parameters, hygpu.h's order. */
enum { P_ARENA, P_WEIGHTS, P_IO, P_WORK, P_SPEC, P_B, P_L, P_N, P_A, P_CNT };

typedef struct NvVariant {
	int node;
	int sig[IR_MAX_SRC + 1]; /* output slots of the node and its sources */
	int first, count;        /* its steps in NvState.tmpl */
} NvVariant;

enum { NV_MAX_ENTRIES = 1 + IR_MAX_ENTRIES };
/* The most column tiles of LayerNorm statistics a GEMM leaves
 * (NvGemm.part_out): widths up to 2048. */
enum { NV_MAX_PARTS = 16 };

/* A weight derived from the blob by the plan's init steps, at weights +
 * at: a matrix's pre-split copy for the wgmma GEMMs (tcgemm.h), its
 * columns scaled by a LayerNorm's gamma (or not), or a bias folded from
 * a LayerNorm's beta (bias + W beta). */
typedef enum { NV_SPLIT, NV_BIAS } NvDerivedKind;

typedef struct NvDerived {
	NvDerivedKind kind;
	const Node *w;
	const Node *a, *b; /* SPLIT: gamma or NULL; BIAS: bias or NULL, beta */
	int64_t pairs;     /* SPLIT: tcg_pair_row's D, or 0 */
	TcgSpec spec;      /* SPLIT: kind, N, K, wgmma: what fixes the layout */
	int64_t at;
} NvDerived;

typedef struct NvState {
	char arch[16];
	bool emulate;        /* CgOptions.gpu_emulate */
	int64_t fft4_min;    /* CgOptions.gpu_fft4_min, or its default */
	LLVMValueRef hooks;  /* emulate: hygpu_emu_hooks */
	int64_t meta[HYRT_META_COUNT];
	/* the GPU entries: 0 the full forward, then the graph's
	 * forward-type entries */
	int ne;
	EntryPoint full;
	const EntryPoint *ent[NV_MAX_ENTRIES];
	bool *live[NV_MAX_ENTRIES];
	/* per node: its value is read only by convolutions' FILTER steps,
	 * directly or through other such nodes (mark_filter_only) */
	bool *filter_only;
	int *slot[NV_MAX_ENTRIES];
	HygpuStep *esteps[NV_MAX_ENTRIES];
	int nestep[NV_MAX_ENTRIES], capestep[NV_MAX_ENTRIES];
	/* every node variant's steps */
	HygpuStep *tmpl;
	int ntmpl, captmpl;
	NvVariant *var;
	int nvar, capvar;
	/* kernel names in index order, and each kernel's dynamic shared
	 * memory (what its launches ask for: the tensor-core GEMM's stages) */
	char **kname;
	int64_t *kshmem;
	int nk, capk, capks;
	int nconv;
	/* the derived weights, after the blob from derived_base on */
	NvDerived *derived;
	int nderived, capderived;
	int64_t derived_base, derived_end;
	/* LayerNorm statistics handed from GEMM to GEMM (kernels.c
	 * nv_plan_parts): per node id, the column tiles of the pairs that a
	 * residual GEMM's epilogue leaves (0: none), and whether a LayerNorm
	 * GEMM reads its x's pairs rather than making the statistics; the
	 * pairs sit after the token region's tensors, part_bytes a token */
	int64_t *parts_written;
	bool *parts_read;
	int64_t part_bytes;
	/* the kernel being emitted */
	const int *cur_slot;
	LLVMValueRef p[HYGPU_NPARAMS];
	/* the plan, made by finish */
	HygpuPlan plan;
	HygpuEntry *pentries;
	HygpuStep *psteps;
	char *knames; /* hyenac_gpu_kernels */
	size_t knames_len;
} NvState;

static inline NvState *nv_state(CgContext *c)
{
	return (NvState *)c->gpu;
}

/* ---- backend.c -------------------------------------------------------- */

/* Start kernel `hy<index>_<what>` with the hygpu.h signature; c->fn, B,
 * L and the parameters set. Returns its index. */
int nv_begin(CgContext *c, const char *what, int threads);
void nv_end(CgContext *c);
/* Append a step to the node variant being emitted. */
HygpuStep *nv_step(CgContext *c, int64_t op);
/* A launch of kernel k with `threads` threads. */
HygpuStep *nv_launch(CgContext *c, int k, int threads);
/* The address in the kernel being emitted of weight w's pre-split copy
 * for the wgmma GEMM s, its columns scaled by gamma where not NULL, and
 * of the bias (bias + w beta) that goes with the scaled copy: each made
 * once, by the init steps the plan runs after the upload. */
LLVMValueRef nv_split_weight(CgContext *c, const Node *w, const Node *gamma,
                             int64_t pairs, const TcgSpec *s);
LLVMValueRef nv_fold_bias(CgContext *c, const Node *w, const Node *bias,
                          const Node *beta);

/* ---- kernels.c -------------------------------------------------------- */

/* The address of node x's value in the current kernel. */
LLVMValueRef nv_addr(CgContext *c, const Node *x);
LLVMValueRef nv_param(CgContext *c, int i);
LLVMValueRef nv_tid(CgContext *c);
LLVMValueRef nv_bid(CgContext *c);
void nv_barrier(CgContext *c);
/* A float (or other) array in shared memory, addrspace(3). */
LLVMValueRef nv_shared(CgContext *c, LLVMTypeRef elt, int64_t n,
                       const char *name);
/* x + shuffled x of lane ^ mask, over the full warp. */
LLVMValueRef nv_shfl_xor(CgContext *c, LLVMValueRef x, int mask);
/* Mean and 1/sqrt(var + eps) of row xb of x (D floats) by one warp
 * (lane: this thread's lane, an i64), the CPU's two passes. */
void nv_warp_ln_stats(CgContext *c, LLVMValueRef x, LLVMValueRef xb,
                      int64_t Dn, double eps, LLVMValueRef lane,
                      LLVMValueRef *mean, LLVMValueRef *rstd);
/* x summed over the warp (every lane gets the sum). */
LLVMValueRef nv_warp_sum(CgContext *c, LLVMValueRef x);
/* 1/sqrt(sq / D + eps): a LayerNorm's scale from its sum of squared
 * deviations. */
LLVMValueRef nv_ln_rstd(CgContext *c, LLVMValueRef sq, int64_t Dn, double eps);
/* The row of a kernel that runs a warp a row (NV_THREADS threads a
 * block), the thread's lane in *lane. */
LLVMValueRef nv_warp_row(CgContext *c, LLVMValueRef *lane);
/* Leave the kernel unless cond: the builder continues where it holds. */
void nv_return_unless(CgContext *c, LLVMValueRef cond);
/* The floats p[i], p[i + 1] (p + i on 8 bytes) as one 8-byte access
 * (<2 x float>, align 8), lane k of such a pair, and the store of lo, hi
 * there: the complex values of the FFT rows, a GEMM epilogue's pairs of
 * columns. */
LLVMValueRef nv_load2(CgContext *c, LLVMValueRef p, LLVMValueRef i);
LLVMValueRef nv_lane2(CgContext *c, LLVMValueRef v, unsigned k);
void nv_store2(CgContext *c, LLVMValueRef p, LLVMValueRef i, LLVMValueRef lo,
               LLVMValueRef hi);
/* The count of rows of t (all dims but the last) as a value, and as a
 * grid slot (hygpu.h: 0 B*L, 1 B, 2 L, 5 fixed) with its coefficient. */
LLVMValueRef nv_rows(CgContext *c, const TensorType *t);
int nv_grid_slot(const TensorType *t, int from, int to, int64_t *coef);
LLVMValueRef nv_count(CgContext *c, const TensorType *t, int from, int to);
/* Which residual GEMMs leave their rows' LayerNorm statistics for the
 * LayerNorm GEMM that reads those rows next (NvState.parts_written,
 * parts_read, part_bytes): before the first node. */
void nv_plan_parts(CgContext *c);
/* Kernel `<node name>_<what>` (nv_begin, NV_THREADS threads). */
int nv_begin_node(CgContext *c, const Node *n, const char *what);
/* What a convolution reads: gated_conv's operands, or longconv's u and k
 * as an ungated one without bias. */
typedef struct NvConv {
	const Node *v, *g, *k, *h, *w, *t, *deltas, *bias, *post;
	int64_t Cv, Cg, Cp, voff, goff, poff, D, E;
	double shift;
} NvConv;
void nv_conv_of(const Node *n, NvConv *cv);
/* u(b, t, c) = v (* g) at token row r = b L + t, channel ch (v and g:
 * their addresses in the kernel). */
LLVMValueRef nv_conv_u(CgContext *c, const NvConv *cv, LLVMValueRef v,
                       LLVMValueRef g, LLVMValueRef r, LLVMValueRef ch);
/* sin (cos = 0) or cos (cos = 1) of a double, to double precision. */
LLVMValueRef nv_f64_sincos(CgContext *c, LLVMValueRef a, int cos);
/* The steps of node n for the current variant. */
void nv_emit_node_steps(CgContext *c, const Node *n);
/* A copy of x's value into entry output k (an input, a weight, or a node
 * that is output twice). */
void nv_emit_copy(CgContext *c, const Node *x, int k, const char *what);

/* ---- fft4.c ----------------------------------------------------------- */

/* fft4.c's kernels take FFT lengths from 16384 (CgOptions.gpu_fft4_min
 * lowers it): on the H200 they ran tiny-1k 64x1024 (n = 2048) in 1.48
 * ms against 1.33 through cuFFT, small-32k 8x32768 (n = 65536) in 26.7
 * against 28.2 (docs/gpu.md). */
enum { FFT4_MIN_LEN = 16384 };
/* The FFT rows of work a convolution group holds beyond its B cnt rows
 * where it has fft4's kernels: their twiddle table. */
enum { FFT4_WORK_ROWS = 2 };
/* The power-of-two FFT length the convolutions are compiled for (the
 * longest a run up to the graph's max_len reaches), or 0: none. */
int64_t nv_fft4_len(const CgContext *c);
/* The FILTER steps that reorder a convolution's filter spectra for
 * fft4's kernels, and its three kernels' steps, all for FFT length len
 * only (HygpuStep.only_n). */
void nv_fft4_spectra(CgContext *c, const Node *n, int64_t len);
void nv_fft4_conv(CgContext *c, const Node *n, const NvConv *cv, int64_t len);

/* ---- gemm.c ----------------------------------------------------------- */

/* C = A W^T over M rows: row m of A at a[(a_row0 + m) K], zero where
 * a_row0 + m < 0; optionally normalised (ln_g, ln_b, eps) on load; then
 * + bias, act, + res[(res_row0 + m) N], into dst[(dst_row0 + m) N]. */
typedef struct NvGemm {
	int64_t K, N;
	LLVMValueRef M, a, a_row0, w;
	const Node *wnode; /* the weight w is (wgmma reads its pre-split
	                    * copy, nv_split_weight); NULL: none */
	LLVMValueRef ln_g, ln_b; /* NULL: no prologue */
	/* the weights behind bias, ln_g and ln_b (NULL: none, or not
	 * known): with wgmma, a LayerNorm's gamma is folded into the
	 * columns of W's pre-split copy and its beta into a bias of its own
	 * (W beta + bias), so that the prologue only normalises */
	const Node *bias_node, *ln_gnode, *ln_bnode;
	/* sm_90a only (nv_gemm_whole_tiles): W's rows in tcg_pair_row's
	 * order for D = w_pairs (0: in order), and the block's tile handed
	 * to tile->fn whole in shared memory rather than element by element
	 * to bias, act, res and dst (NULL); tile->fn gets this NvGemm with
	 * the bias the GEMM uses (the folded one) */
	int64_t w_pairs;
	const struct NvTileEpi *tile;
	double eps;
	/* the prologue's mean and 1/sqrt(var + eps) of rows [0, M), made by
	 * nv_gemm_stats; NULL: each block makes its rows' */
	LLVMValueRef st_mean, st_rstd;
	/* sm_90a: the statistics of A's rows as the GEMM that wrote A left
	 * them (part_out): row a_row0 + m's part_tiles pairs (the mean of a
	 * 128-column tile and the sum of squared deviations from it) at
	 * st_part[2 part_tiles (a_row0 + m)]; NULL: none. With part_out,
	 * this GEMM leaves such pairs of its own rows (dst_row0 + m) there
	 * (its epilogue takes whole tiles) */
	LLVMValueRef st_part, part_out;
	int64_t part_tiles;
	LLVMValueRef bias, res, res_row0;
	FpAct act;
	LLVMValueRef dst, dst_row0;
	bool bf16; /* --precision bf16 and a token-row projection
	            * (ir_bf16_slot): bf16 operands on tensor cores */
	/* with bf16 on tensor cores: A holds bf16 values (K a row), read
	 * as they are; dst gets the outputs rounded to bf16 (nearest even,
	 * as the bf16 GEMM that reads them would round them) */
	bool a_bf16, dst_bf16;
} NvGemm;

typedef struct NvTileEpi {
	void (*fn)(void *u, CgContext *c, const NvGemm *g, LLVMValueRef sh,
	           int ld, LLVMValueRef row0, LLVMValueRef col0,
	           LLVMValueRef tid);
	void *u;
	int row_step; /* rows between tiles (TcgSpec.row_step) */
} NvTileEpi;

/* Whether the GEMMs take NvGemm.tile (the sm_90a GEMM). */
bool nv_gemm_whole_tiles(CgContext *c);
/* The tile the GEMM uses for N columns: BM rows, BN columns. */
void nv_gemm_tile(CgContext *c, int64_t N, int64_t *bm, int64_t *bn);
/* Whether the GEMMs run on tensor cores (tcgemm.c: sm_80 and later,
 * never in the host emulation, which has no mma) or as the SIMT SGEMM. */
bool nv_tensor_cores(CgContext *c);
/* The body of a GEMM kernel (begun by nv_begin with NV_THREADS). */
void nv_gemm_body(CgContext *c, const NvGemm *g);
/* The body of a kernel (NV_THREADS threads, a warp a row) that stores
 * the LayerNorm statistics of g's rows [0, M) into st_mean and st_rstd,
 * for GEMMs whose blocks share rows (several column tiles): made once
 * a row rather than once a block. */
void nv_gemm_stats(CgContext *c, const NvGemm *g);

#endif
