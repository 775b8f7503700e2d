/*
 * target.c - the host target as LLVM sees it: the triple and CPU name that
 * generated kernels are specialised for (overridable later by
 * --target-cpu / --target-features).
 */
#include "codegen.h"

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <stdio.h>

const char *cg_describe_host(char *buf, size_t n)
{
	unsigned major, minor, patch;
	char *triple = LLVMGetDefaultTargetTriple();
	char *cpu = LLVMGetHostCPUName();

	LLVMGetVersion(&major, &minor, &patch);
	snprintf(buf, n, "LLVM %u.%u.%u, host %s %s", major, minor, patch,
	         triple, cpu);
	LLVMDisposeMessage(triple);
	LLVMDisposeMessage(cpu);
	return buf;
}
