/*
 * codegen.h - native code generation through the LLVM C API.
 *
 * cg_emit() turns a typed Graph into one LLVM module that implements the
 * contract in runtime/hyrt.h (hyenac_meta, hyenac_model_name,
 * hyenac_scratch_bytes, hyenac_run): one kernel per computing node,
 * specialised to its constant dims, called in graph order by hyenac_run.
 * The module is verified and optimised for the target machine; it can be
 * written as an object file or as textual IR, or handed to the ORC JIT
 * (codegen/jit.c) to run in this process.
 *
 * Weights travel as one packed blob: cg_layout_weights() gives every
 * weight node its offset, cg_pack_weights() copies the data in, and the
 * generated hyenac_run takes the blob's address.
 */
#ifndef HYENAC_CODEGEN_H
#define HYENAC_CODEGEN_H

#include <stddef.h>

#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>

#include "../ir/ir.h"
#include "../runtime/hyrt.h"

/* "LLVM 19.1.7, host x86_64-pc-linux-gnu skylake" into buf. */
const char *cg_describe_host(char *buf, size_t n);

/* ---- the target (codegen/target.c) ------------------------------------ */

/* One target machine and what it was made from. */
typedef struct CgTarget {
	LLVMTargetMachineRef tm;
	char *triple, *cpu, *features; /* LLVM messages, as the tm has them */
	char *uses;  /* malloc'd: the features the code may use that the
	              * runtime can test (runtime/cpucheck.h), sorted,
	              * comma-separated */
	bool avx512; /* avx512f is on: 16-float vectors */
} CgTarget;

/* The target machine for cpu and features (NULL or cpu "native": the
 * host's processor, and then the host's features unless features are
 * given; a cpu without features: that processor's own). Values that LLVM
 * would abort on, ignore with a warning, or that hyenac's code cannot run
 * with are refused first: false with a usage error in d, and nothing
 * reaches stderr. */
bool cg_target_open(CgTarget *t, const char *cpu, const char *features,
                    int opt_level, Diag *d);
void cg_target_close(CgTarget *t);
/* cg_target_open's checks alone, for the command line. */
bool cg_check_target(const char *cpu, const char *features, Diag *d);

/* ---- weights (codegen/cpu/weights.c) ---------------------------------- */

enum { CG_WEIGHT_ALIGN = 64, CG_SCRATCH_ALIGN = 64 };
/* A bound on the stack a generated kernel keeps per thread (its tiles and
 * row buffers), for the memory figures of drv_run_bytes. */
enum { CG_STACK_TILE_BYTES = 256 << 10 };

typedef struct CgWeights {
	size_t bytes;   /* size of the packed blob */
	size_t *offset; /* per node id: bytes into the blob; SIZE_MAX for
	                 * nodes that are not weights */
	size_t *panels; /* per node id: where a projection matrix w[N,K] is
	                 * also stored in GEMM panels (GEMM_NR columns of w
	                 * a panel, K rows of GEMM_NR floats, zero past N),
	                 * the layout the generated GEMM reads; SIZE_MAX for
	                 * all other nodes */
	size_t *bpanels; /* per node id: the bf16 panels of a matrix that a
	                  * bf16 graph's projections read (ir_bf16_slot):
	                  * per panel of GEMM_NR columns, per pair of k
	                  * (cg_bf16_pairs of them), per column, w[j, 2q]
	                  * and w[j, 2q + 1] rounded to bf16 (zero past N
	                  * and K), one 32-bit word a
	                  * column, as vdpbf16ps reads them; SIZE_MAX for
	                  * all other nodes. Such a matrix's fp32 original
	                  * (offset) is SIZE_MAX too unless another kernel
	                  * reads it */
} CgWeights;

/* Output columns per GEMM panel: two AVX-512 vectors, four AVX2 ones. */
enum { GEMM_NR = 32 };
/* A bf16 panel's pairs of k come in whole groups of GEMM_KPAIRS (zero
 * past K): an AMX tile's rows, so that every tile has one shape. */
enum { GEMM_KPAIRS = 16 };

/* Pairs of k a bf16 panel holds for K: ceil(K/2), in whole groups. */
static inline int64_t cg_bf16_pairs(int64_t K)
{
	return ((K + 1) / 2 + GEMM_KPAIRS - 1) / GEMM_KPAIRS * GEMM_KPAIRS;
}

/* Give every weight node an offset in the packed blob (node order, each
 * CG_WEIGHT_ALIGN-aligned), and panels for the projections (bf16 ones
 * where g->bf16 says so); the offset tables come from a. */
void cg_layout_weights(const Graph *g, Arena *a, CgWeights *w);
/* The same without the GEMM panels (every panels[] SIZE_MAX): the GPU's
 * GEMM reads the matrices as they are. */
void cg_layout_weights_flat(const Graph *g, Arena *a, CgWeights *w);
/* Copy every weight's data into blob (w->bytes, caller-allocated), and
 * the panel copies of the projection matrices; the padding between
 * tensors is zeroed. */
void cg_pack_weights(const Graph *g, const CgWeights *w, void *blob);

/* ---- emission (codegen/module.c, codegen/cpu/) ------------------------ */

typedef struct CgOptions {
	const char *cpu;      /* NULL or "native": the host's (and then its
	                       * features); see cg_target_open */
	const char *features; /* NULL: the host's, or the cpu's own */
	int opt_level;        /* 0 or 3 */
	const char *labels;   /* a classifier's label names in id order,
	                       * each ended by '\n' (hyenac_labels); NULL
	                       * for none */
	const char *fftw_wisdom; /* FFTW wisdom for the module's FFT sizes
	                          * (hyenac_fftw_wisdom); NULL for none */
	const char *gpu_arch; /* NULL: the CPU; "sm_90" etc.: an NVIDIA GPU
	                       * (codegen/nvptx/, runtime/hygpu.h) */
	bool gpu_emulate;     /* with gpu_arch, for tests: the same kernels
	                       * for the host, to run in the JIT: thread ids,
	                       * barriers and shuffles call the functions of
	                       * the global hygpu_emu_hooks (CgGpuEmuHooks) */
	int64_t gpu_fft4_min; /* the least FFT length that codegen/nvptx/
	                       * fft4.c's transforms take (0: FFT4_MIN_LEN);
	                       * tests lower it to reach them on short runs */
} CgOptions;

/* What an emulated GPU module (CgOptions.gpu_emulate) calls, in the order
 * of the pointers its global hygpu_emu_hooks holds. */
typedef struct CgGpuEmuHooks {
	int64_t (*tid)(void);
	int64_t (*bid)(void);
	void (*barrier)(void);
	float (*shfl_xor)(float v, int32_t mask);
} CgGpuEmuHooks;

/* The LLVM context, module and target machine of one compilation. */
typedef struct CgModule CgModule;

/* Build, verify and optimise the module for g (typed by ir_infer_graph,
 * every long convolution's method chosen by passes/convsel.c) with
 * weights laid out by w; meta becomes hyenac_meta. NULL with d set
 * when the target cannot be made or the passes fail. */
CgModule *cg_emit(const Graph *g, const CgWeights *w, const CgOptions *o,
                  const int64_t meta[HYRT_META_COUNT], Diag *d);
/* The kernels hyenac_run calls for g: one per computing node (all but
 * inputs and weights, which include the constants folding made). */
int cg_kernel_count(const Graph *g);
bool cg_write_object(CgModule *m, const char *path, Diag *d);
bool cg_write_ll(CgModule *m, const char *path, Diag *d);
void cg_free(CgModule *m);

/* ---- the GPU target (codegen/nvptx/) ---------------------------------- */

/* Whether arch ("sm_90") is an NVPTX processor LLVM 19 knows; else a
 * usage error in d. */
bool cg_check_gpu_arch(const char *arch, Diag *d);
/* The plan of a module emitted for a GPU (NULL for the CPU), and its
 * kernel names (each NUL-ended, len bytes in all); both live as long as
 * m. cg_write_object writes a GPU module's PTX text. */
struct HygpuPlan;
const struct HygpuPlan *cg_gpu_plan(const CgModule *m);
const char *cg_gpu_kernel_names(const CgModule *m, size_t *len);
/* The host object of a GPU binary: hyenac_meta, hyenac_model_name,
 * hyenac_labels, hyenac_gpu_ptx, hyenac_gpu_kernels, hyenac_gpu_plan. */
bool cg_write_gpu_host(CgModule *m, const char *path, Diag *d);

/* For jit.c: hand over the module and the thread-safe context it lives in
 * (the caller now owns both references) and free the rest of m. */
void cg_release(CgModule *m, LLVMModuleRef *mod,
                LLVMOrcThreadSafeContextRef *tsc);

/* ---- the in-process JIT (codegen/jit.c) ------------------------------- */

typedef struct CgJit CgJit;

/* Compile m into this process; takes ownership of m whether or not it
 * succeeds. hyrt_* come from the runtime linked into this program, libm
 * from the process. */
CgJit *cg_jit(CgModule *m, Diag *d);
/* The address of a defined symbol ("hyenac_run"), or NULL. */
void *cg_jit_lookup(CgJit *j, const char *name);
void cg_jit_free(CgJit *j);

#endif
