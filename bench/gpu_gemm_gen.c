/*
 * gpu_gemm_gen.c - writes the PTX of codegen/nvptx/tcgemm.c's GEMM for
 * the projection shapes of the catalogue models and a few edge shapes,
 * and the list of them, for bench/gpu_gemm_run.c to check against a
 * reference and time on a GPU (the GPU machine has no LLVM, this one no
 * GPU).
 *
 *     [TCG_MAX_BN=64] gpu_gemm_gen OUT.ptx CASES.txt [sm_90]
 *
 * Each kernel is name(ptr A, ptr W, ptr C, ptr bias, i64 M) computing
 * C[M, N] = xform(A) W^T + bias with A's rows lda floats apart; the
 * cases marked xform read A as v * 1.25 + 0.001 * k (the shape of a
 * LayerNorm prologue, which depends on k).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "codegen/nvptx/tcgemm.h"

typedef struct Case {
	const char *name;
	TcgKind kind;
	int64_t N, K, lda;
	int vec4, xform;
} Case;

static const Case cases[] = {
	{ "tf32_in_proj", TCG_TF32X3, 768, 256, 256, 1, 1 },
	{ "tf32_fc1", TCG_TF32X3, 1024, 256, 256, 1, 1 },
	{ "tf32_fc2", TCG_TF32X3, 256, 1024, 1024, 1, 0 },
	{ "tf32_out_proj", TCG_TF32X3, 256, 256, 512, 1, 0 },
	{ "tf32_head", TCG_TF32X3, 16, 256, 256, 1, 1 },
	{ "tf32_tiny", TCG_TF32X3, 384, 128, 128, 1, 1 },
	{ "tf32_filter0", TCG_TF32X3, 64, 5, 5, 0, 0 },
	{ "tf32_odd", TCG_TF32X3, 100, 37, 40, 0, 1 },
	{ "tf32_cls", TCG_TF32X3, 2, 128, 128, 1, 0 },
	{ "bf16_in_proj", TCG_BF16, 768, 256, 256, 1, 1 },
	{ "bf16_fc1", TCG_BF16, 1024, 256, 256, 1, 1 },
	{ "bf16_fc2", TCG_BF16, 256, 1024, 1024, 1, 0 },
	{ "bf16_odd", TCG_BF16, 100, 37, 40, 0, 1 },
};

typedef struct Ctx {
	LLVMValueRef c, bias, fn;
	int64_t N;
	LLVMTypeRef f32, i64;
} Ctx;

static LLVMValueRef xform(void *u, LLVMBuilderRef b, LLVMValueRef const *rc,
                          LLVMValueRef k, LLVMValueRef v)
{
	Ctx *x = u;
	LLVMValueRef kf = LLVMBuildSIToFP(b, k, x->f32, "");

	(void)rc;
	return LLVMBuildFAdd(b, LLVMBuildFMul(b, v, LLVMConstReal(x->f32, 1.25),
	                                      ""),
	                     LLVMBuildFMul(b, kf, LLVMConstReal(x->f32, 0.001),
	                                   ""), "");
}

static void epi(void *u, LLVMBuilderRef b, LLVMValueRef row, LLVMValueRef col,
                LLVMValueRef v)
{
	Ctx *x = u;
	LLVMValueRef bp = LLVMBuildGEP2(b, x->f32, x->bias, &col, 1, "");
	LLVMValueRef off = LLVMBuildAdd(b, LLVMBuildMul(b, row,
		LLVMConstInt(x->i64, (unsigned long long)x->N, 0), ""), col, "");
	LLVMValueRef cp = LLVMBuildGEP2(b, x->f32, x->c, &off, 1, "");

	LLVMBuildStore(b, LLVMBuildFAdd(b, v, LLVMBuildLoad2(b, x->f32, bp, ""),
	                                ""), cp);
}

int main(int argc, char **argv)
{
	const char *arch = argc > 3 ? argv[3] : "sm_90";
	/* an experiment: the widest block tile (TcgSpec.max_bn) */
	int max_bn = getenv("TCG_MAX_BN") ? atoi(getenv("TCG_MAX_BN")) : 0;
	LLVMContextRef ctx;
	LLVMModuleRef mod;
	LLVMBuilderRef b;
	LLVMTargetRef t;
	LLVMTargetMachineRef tm;
	char *err = NULL;
	FILE *cf;

	if (argc < 3) {
		fprintf(stderr, "usage: gpu_gemm_gen OUT.ptx CASES.txt [sm_XX]\n");
		return 2;
	}
	LLVMInitializeNVPTXTargetInfo();
	LLVMInitializeNVPTXTarget();
	LLVMInitializeNVPTXTargetMC();
	LLVMInitializeNVPTXAsmPrinter();
	if (LLVMGetTargetFromTriple("nvptx64-nvidia-cuda", &t, &err)) {
		fprintf(stderr, "gpu_gemm_gen: %s\n", err);
		return 1;
	}
	tm = LLVMCreateTargetMachine(t, "nvptx64-nvidia-cuda", arch, "+ptx80",
	                             LLVMCodeGenLevelAggressive, LLVMRelocDefault,
	                             LLVMCodeModelDefault);
	ctx = LLVMContextCreate();
	mod = LLVMModuleCreateWithNameInContext("gemm", ctx);
	LLVMSetTarget(mod, "nvptx64-nvidia-cuda");
	b = LLVMCreateBuilderInContext(ctx);
	cf = fopen(argv[2], "w");
	if (!cf) {
		perror(argv[2]);
		return 1;
	}
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const Case *k = &cases[i];
		LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0);
		LLVMTypeRef i64 = LLVMInt64TypeInContext(ctx);
		LLVMTypeRef pt[5] = { ptr, ptr, ptr, ptr, i64 };
		LLVMTypeRef fty = LLVMFunctionType(LLVMVoidTypeInContext(ctx), pt, 5,
		                                   0);
		LLVMValueRef fn = LLVMAddFunction(mod, k->name, fty);
		Ctx x = { .c = LLVMGetParam(fn, 2), .bias = LLVMGetParam(fn, 3),
		          .fn = fn, .N = k->N, .f32 = LLVMFloatTypeInContext(ctx),
		          .i64 = i64 };
		TcgSpec s = { .kind = k->kind, .N = k->N, .K = k->K,
		              .lda = k->lda, .a_vec4 = k->vec4, .max_bn = max_bn,
		              .wgmma = strcmp(arch, "sm_90a") == 0,
		              .xform = k->xform ? xform : NULL, .epi = epi,
		              .u = &x };
		int bm, bn;

		LLVMSetFunctionCallConv(fn, 71); /* PTX_Kernel */
		/* blocks of TCG_THREADS, as hyenac's kernels declare */
		tcg_annotate(mod, fn, "maxntidx", TCG_THREADS);
		LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn,
		                                                          "entry"));
		tcg_emit(mod, b, fn, &s, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1),
		         LLVMGetParam(fn, 4));
		LLVMBuildRetVoid(b);
		tcg_tile(&s, &bm, &bn);
		fprintf(cf, "%s %d %lld %lld %lld %d %d %d %lld %lld\n", k->name,
		        k->kind == TCG_BF16, (long long)k->N, (long long)k->K,
		        (long long)k->lda, k->xform, bm, TCG_THREADS,
		        (long long)tcg_col_tiles(&s),
		        (long long)tcg_shmem_bytes(&s));
	}
	fclose(cf);
	if (LLVMVerifyModule(mod, LLVMPrintMessageAction, &err)) {
		fprintf(stderr, "gpu_gemm_gen: module does not verify\n");
		return 1;
	}
	LLVMDisposeMessage(err);
	{
		LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
		LLVMErrorRef e = LLVMRunPasses(mod, "default<O3>", tm, po);
		if (e) {
			char *m = LLVMGetErrorMessage(e);
			fprintf(stderr, "gpu_gemm_gen: %s\n", m);
			LLVMDisposeErrorMessage(m);
			return 1;
		}
		LLVMDisposePassBuilderOptions(po);
	}
	if (LLVMTargetMachineEmitToFile(tm, mod, argv[1], LLVMAssemblyFile,
	                                &err)) {
		fprintf(stderr, "gpu_gemm_gen: %s\n", err);
		return 1;
	}
	LLVMDisposeBuilder(b);
	LLVMDisposeModule(mod);
	LLVMContextDispose(ctx);
	LLVMDisposeTargetMachine(tm);
	return 0;
}
