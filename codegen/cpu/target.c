/*
 * target.c - the CPU target machine: the host's triple, the CPU and
 * features asked for (or the host's), and the vector width the GEMM is
 * shaped for. cg_cpu_init is the target's init hook.
 */
#include "cpu.h"

#include <llvm-c/Target.h>

/* Whether the target has AVX-512 (32 registers of 16 floats): named in
 * its features, or implied by a CPU name given without features. */
static bool wide_vectors(const char *cpu, const char *features)
{
	static const char *const avx512[] = {
	    "x86-64-v4", "skylake-avx512", "cascadelake", "cooperlake",
	    "icelake-client", "icelake-server", "tigerlake", "sapphirerapids",
	    "emeraldrapids", "graniterapids", "znver4", "znver5"};
	if (features && strstr(features, "+avx512f"))
		return true;
	if (features && strstr(features, "-avx512f"))
		return false;
	for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
		if (cpu && strcmp(cpu, avx512[i]) == 0)
			return true;
	return false;
}

static bool make_target(CgContext *c, const CgOptions *o, Diag *d)
{
	LLVMTargetRef target;
	char *err = NULL;

	LLVMInitializeNativeTarget();
	LLVMInitializeNativeAsmPrinter();
	c->triple = LLVMGetDefaultTargetTriple();
	c->cpu = o->cpu ? LLVMCreateMessage(o->cpu) : LLVMGetHostCPUName();
	c->features = o->features ? LLVMCreateMessage(o->features)
	              : o->cpu    ? LLVMCreateMessage("")
	                          : LLVMGetHostCPUFeatures();
	if (LLVMGetTargetFromTriple(c->triple, &target, &err)) {
		diag_error(d, "target %s: %s", c->triple, err ? err : "unknown");
		LLVMDisposeMessage(err);
		return false;
	}
	c->tm = LLVMCreateTargetMachine(
	    target, c->triple, c->cpu, c->features,
	    o->opt_level > 0 ? LLVMCodeGenLevelAggressive : LLVMCodeGenLevelNone,
	    LLVMRelocPIC, LLVMCodeModelDefault);
	if (!c->tm) {
		diag_error(d, "cannot make a target machine for %s (cpu %s)",
		           c->triple, c->cpu);
		return false;
	}
	c->vw = wide_vectors(c->cpu, c->features) ? 16 : 8;
	c->mr = c->vw == 16 ? 6 : 3; /* 12 accumulator registers */
	return true;
}


bool cg_cpu_init(CgContext *c, const CgOptions *o, Diag *d)
{
	return make_target(c, o, d);
}
