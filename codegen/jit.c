/*
 * jit.c - run a generated module in this process through ORC's LLJIT, for
 * `hyenac run` and for the kernel tests.
 *
 * The module moves into the JIT as it is: module.c built it in the
 * LLVMContext of an ORC ThreadSafeContext, so no copy or bitcode round
 * trip is needed.
 * The runtime's entry points are known, so they are defined as absolute
 * symbols with addresses taken here: the JIT then works whether or not the
 * program that links us exports its symbols. Everything else (libm) is
 * looked up in the process.
 */
#include "codegen.h"

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <stdlib.h>

struct CgJit {
	LLVMOrcLLJITRef jit;
};

/* The runtime functions generated code may call, by address. */
static const struct {
	const char *name;
	void (*fn)(void);
} runtime_syms[] = {
	{"hyrt_longconv_fft", (void (*)(void))hyrt_longconv_fft},
	{"hyrt_hyena_conv_fft", (void (*)(void))hyrt_hyena_conv_fft},
	{"hyrt_hyena_conv_fft_const",
	 (void (*)(void))hyrt_hyena_conv_fft_const},
	{"hyrt_parallel_for", (void (*)(void))hyrt_parallel_for},
	{"hyrt_hyena_conv_fft_gen", (void (*)(void))hyrt_hyena_conv_fft_gen},
	{"hyrt_spectra_kept", (void (*)(void))hyrt_spectra_kept},
	{"hyrt_state_save", (void (*)(void))hyrt_state_save},
	{"hyrt_tail_proj", (void (*)(void))hyrt_tail_proj},
	{"hyrt_short_step", (void (*)(void))hyrt_short_step},
	{"hyrt_conv_step", (void (*)(void))hyrt_conv_step},
};
enum { NRUNTIME = sizeof runtime_syms / sizeof runtime_syms[0] };

/* Report err (if any) through d, dispose it, and say whether all is well. */
static bool check(LLVMErrorRef err, const char *what, Diag *d)
{
	char *msg;

	if (!err)
		return true;
	msg = LLVMGetErrorMessage(err);
	diag_error(d, "JIT: %s: %s", what, msg);
	LLVMDisposeErrorMessage(msg);
	return false;
}

static bool define_runtime(CgJit *j, LLVMOrcJITDylibRef jd, Diag *d)
{
	LLVMOrcCSymbolMapPair sym[NRUNTIME];
	LLVMOrcMaterializationUnitRef mu;
	LLVMErrorRef err;

	for (int i = 0; i < NRUNTIME; i++) {
		sym[i].Name = LLVMOrcLLJITMangleAndIntern(j->jit,
		                                          runtime_syms[i].name);
		sym[i].Sym.Address =
		    (LLVMOrcExecutorAddress)(uintptr_t)runtime_syms[i].fn;
		sym[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported |
		                                LLVMJITSymbolGenericFlagsCallable;
		sym[i].Sym.Flags.TargetFlags = 0;
	}
	mu = LLVMOrcAbsoluteSymbols(sym, NRUNTIME);
	err = LLVMOrcJITDylibDefine(jd, mu);
	if (err)
		LLVMOrcDisposeMaterializationUnit(mu);
	return check(err, "defining runtime symbols", d);
}

CgJit *cg_jit(CgModule *m, Diag *d)
{
	CgJit *j = calloc(1, sizeof *j);
	LLVMOrcDefinitionGeneratorRef gen = NULL;
	LLVMOrcThreadSafeContextRef tsc;
	LLVMOrcThreadSafeModuleRef tsm;
	LLVMOrcJITDylibRef jd;
	LLVMModuleRef mod;

	HY_ASSERT(j);
	cg_release(m, &mod, &tsc);
	tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
	LLVMOrcDisposeThreadSafeContext(tsc); /* tsm keeps its own reference */

	LLVMInitializeNativeTarget();
	LLVMInitializeNativeAsmPrinter();
	if (!check(LLVMOrcCreateLLJIT(&j->jit, NULL), "creating LLJIT", d))
		goto fail_tsm;
	jd = LLVMOrcLLJITGetMainJITDylib(j->jit);
	if (!define_runtime(j, jd, d))
		goto fail_tsm;
	if (!check(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
	               &gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL),
	           "process symbols", d))
		goto fail_tsm;
	LLVMOrcJITDylibAddGenerator(jd, gen);
	/* The JIT owns tsm from here on, even when adding fails. */
	if (!check(LLVMOrcLLJITAddLLVMIRModule(j->jit, jd, tsm), "adding module",
	           d))
		goto fail_jit;
	return j;

fail_tsm:
	LLVMOrcDisposeThreadSafeModule(tsm);
fail_jit:
	cg_jit_free(j);
	return NULL;
}

void *cg_jit_lookup(CgJit *j, const char *name)
{
	LLVMOrcExecutorAddress addr = 0;
	LLVMErrorRef err = LLVMOrcLLJITLookup(j->jit, &addr, name);

	if (err) {
		LLVMConsumeError(err);
		return NULL;
	}
	return (void *)(uintptr_t)addr;
}

void cg_jit_free(CgJit *j)
{
	if (!j)
		return;
	if (j->jit) {
		LLVMErrorRef err = LLVMOrcDisposeLLJIT(j->jit);
		if (err)
			LLVMConsumeError(err);
	}
	free(j);
}
