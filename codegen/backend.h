/*
 * backend.h - what codegen's target-independent driver (codegen/module.c)
 * shares with a target: the state of one compilation, CgContext (the
 * public CgModule), which holds every LLVM handle, the graph being
 * translated and the function being emitted; and CgBackend, what a
 * target must provide, after QBE's Target and ggml's backends: the
 * driver picks one (the CPU, codegen/cpu/, is the only one so far) and
 * everything it asks of a target goes through it.
 *
 * A target reads the context and adds its kernels and entry points to
 * c->mod; module.c makes the LLVM context, module and types, runs the
 * optimiser and writes the result. Fields marked "cpu" belong to the
 * CPU target's emission and mean nothing to the driver. Linking a
 * written object (driver/compile.c: cc with the runtime) is not a hook
 * yet: it is the CPU's way, and a second target adds the hook it needs.
 * Only codegen/ includes this header.
 */
#ifndef HYENAC_CODEGEN_BACKEND_H
#define HYENAC_CODEGEN_BACKEND_H

#include "codegen.h"

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

/* Room for the external functions a target declares (CgContext.ext). */
enum { CG_MAX_EXT = 16 };

typedef struct CgBackend CgBackend;

typedef struct CgModule {
	const CgBackend *be; /* the target */
	/* LLVM, owned */
	LLVMOrcThreadSafeContextRef tsc;
	LLVMContextRef ctx; /* tsc's */
	LLVMModuleRef mod;
	LLVMBuilderRef b;
	LLVMTargetMachineRef tm;
	char *triple, *cpu, *features; /* LLVM messages */
	char *uses; /* CgTarget.uses: recorded as hyenac_target_features */
	/* types and declarations */
	LLVMTypeRef t_void, t_i1, t_i32, t_i64, t_f32, t_f64, t_ptr;
	LLVMValueRef ext[CG_MAX_EXT];
	LLVMTypeRef ext_ty[CG_MAX_EXT];
	/* the compilation */
	const Graph *g;
	const CgWeights *w;
	const CgOptions *o;
	/* the function being emitted */
	LLVMValueRef fn;
	LLVMBasicBlockRef entry, body; /* allocas go to entry */
	LLVMValueRef B, L;
	LLVMValueRef R0, R1; /* the rows a row-wise kernel computes */
	/* cpu: the GEMM's shape for the target (codegen/cpu/target.c): VW
	 * floats a vector; a register block of MR rows by NV vectors (NV VW
	 * divides GEMM_NR); the k loop in chunks of KC (0: whole K); PVW:
	 * the vectoriser's preferred width in bits (0: LLVM's default) */
	int vw, mr, nv, kc, pvw;
	bool bf16dp; /* cpu: a bf16 GEMM multiplies by vdpbf16ps (else it
	              * widens the weights' pairs to fp32 FMAs) */
	bool bf16amx; /* cpu: a bf16 GEMM runs on AMX tiles (before both) */
	bool mufu; /* gpu (not its host emulation): the GELUs' exp and
	            * division on the special-function unit's ex2.approx and
	            * div.approx (vmath.c) */
	LLVMValueRef weights; /* cpu: hyenac_run's weight blob */
	/* cpu: the entry points' state, per node id (codegen/cpu/entry.c):
	 * kernels, pool thunks, whether an output (of the graph or an
	 * entry), scratch offsets, addresses; and the entry functions
	 * (f_entry[0] the full forward, then g->entries in order) */
	LLVMValueRef *kern, *thunk, *off, *at;
	int *outidx;
	LLVMValueRef f_scratch_bytes, f_run, f_pooled, f_classify, f_hidden;
	/* generation (entry prefill, entry step): the state buffer and the
	 * step's position in the entry being emitted, and the public
	 * hyenac_state_bytes, hyenac_prefill, hyenac_step */
	LLVMValueRef state, pos;
	LLVMValueRef f_state_bytes, f_prefill, f_step;
	LLVMValueRef f_entry[1 + IR_MAX_ENTRIES];
	/* gpu: the NVPTX target's state (codegen/nvptx/nvptx.h: NvState) */
	void *gpu;
} CgContext;

/*
 * A target. cg_emit calls init, then begin, then emit_node for every
 * computing node in graph order, then finish; it verifies the module,
 * optimises it for c->tm, and cg_write_object writes it as output_kind.
 */
struct CgBackend {
	const char *name;
	/* The target machine and its facts into c: c->tm, c->triple,
	 * c->cpu, c->features and the vector width c->vw. False with d set
	 * when o asks for a target that cannot be made. */
	bool (*init)(CgContext *c, const CgOptions *o, Diag *d);
	/* Before any kernel: the module's public symbols (so that no kernel
	 * takes their names) and the external functions kernels call. */
	void (*begin)(CgContext *c, const int64_t meta[HYRT_META_COUNT]);
	/* The kernel (or kernels) of one computing node. */
	void (*emit_node)(CgContext *c, const Node *n);
	/* After the kernels: the entry points that run them. */
	void (*finish)(CgContext *c);
	/* Free what the target keeps in c (NULL: nothing). */
	void (*release)(CgContext *c);
	/* What cg_write_object writes: an object file for the CPU. */
	LLVMCodeGenFileType output_kind;
};

/* The host CPU through LLVM's native target (codegen/cpu/). */
extern const CgBackend cg_cpu_backend;
/* NVIDIA GPUs through LLVM's NVPTX backend (codegen/nvptx/): PTX text,
 * and a plan of kernel launches (runtime/hygpu.h). */
extern const CgBackend cg_nvptx_backend;

/* Whether n has a kernel: every node but inputs and weights. */
static inline bool cg_computes(const Node *n)
{
	return n->op != OP_INPUT && n->op != OP_WEIGHT && n->op != OP_STATE;
}

#endif
