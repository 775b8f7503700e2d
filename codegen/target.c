/*
 * target.c - the target machine that generated code is specialised for:
 * the host's processor and features, or --target-cpu / --target-features,
 * checked here before LLVM sees them.
 *
 * LLVM does not refuse a bad value: an unknown processor or feature is a
 * warning on stderr and is ignored, and then an x86-64 subtarget without
 * 64-bit mode (an unknown or 32-bit processor: i386, pentium4, cortex-a53)
 * aborts the process in code generation; features that change how floats
 * are passed (-sse, +soft-float) compile code that the runtime calls with
 * the wrong convention. So, in order:
 *
 *   - the feature string's syntax (comma-separated +name / -name);
 *   - the processor, by LLVM's own table of x86 processors (x86cpu.cpp):
 *     unknown, or known but 32-bit only, is refused;
 *   - features that hyenac's code and runtime cannot do without
 *     (the SSE2 that the x86-64 calling convention passes floats in,
 *     64-bit mode) or that change that convention, refused by name and by
 *     the resulting feature set;
 *   - then the target machine is made with LLVM's stderr captured: any
 *     warning it prints (an unknown feature: LLVM's C API has no list to
 *     check against) refuses the value instead of reaching the user.
 *
 * Every refusal is one Diag line marked as a usage error (exit 2).
 *
 * The same resolution says which features the code may use (CgTarget.uses),
 * which the compiler records in the module for the runtime's start-up
 * check (runtime/cpucheck.h), and whether 16-float vectors are there.
 */
#include "codegen.h"
#include "codegen/x86cpu.h"
#include "runtime/cpucheck.h"

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static bool usage(Diag *d, const char *fmt, const char *a, const char *b)
{
	diag_error(d, fmt, a, b);
	if (d->nerr == 1)
		d->usage = true;
	return false;
}

static const char sse_abi[] = "the x86-64 calling convention the runtime "
                              "is compiled with passes floats in SSE "
                              "registers";

/* Features no hyenac code may change, and why. */
static const struct {
	const char *item; /* as written in --target-features */
	const char *why;
} refused[] = {
	{"-sse", sse_abi},
	{"-sse2", sse_abi},
	{"+soft-float", "it changes how floats are passed, and the runtime "
	                "is compiled for SSE registers"},
	{"-64bit", "hyenac generates 64-bit code"},
	{"+16bit-mode", "hyenac generates 64-bit code"},
	{"+32bit-mode", "hyenac generates 64-bit code"},
	{"-64bit-mode", "hyenac generates 64-bit code"},
	{"+help", "it is LLVM's request for its help text, not a feature"},
	{"+cpuhelp", "it is LLVM's request for its help text, not a feature"},
};

/* comma-separated +name / -name, name of [a-z0-9._-]; "" is no change. */
static bool check_syntax(const char *fs, Diag *d)
{
	if (!*fs)
		return true;
	for (const char *p = fs;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		size_t k = 1;
		bool ok = len >= 2 && (p[0] == '+' || p[0] == '-');
		for (; ok && k < len; k++)
			ok = (p[k] >= 'a' && p[k] <= 'z') ||
			     (p[k] >= '0' && p[k] <= '9') || p[k] == '.' ||
			     p[k] == '_' || p[k] == '-';
		if (!ok)
			return usage(d, "--target-features '%s': each item must be "
			             "+FEATURE or -FEATURE, comma-separated "
			             "(like +avx2,-avx512f)%s", fs, "");
		for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
			if (strlen(refused[i].item) == len &&
			    memcmp(refused[i].item, p, len) == 0)
				return usage(d, "--target-features: hyenac cannot use "
				             "'%s': %s", refused[i].item, refused[i].why);
		if (!e)
			return true;
		p = e + 1;
	}
}

static bool check_cpu(const char *cpu, Diag *d)
{
	switch (cg_x86_cpu_kind(cpu)) {
	case CG_X86_CPU_64BIT:
		return true;
	case CG_X86_CPU_32BIT:
		return usage(d, "--target-cpu '%s' is a 32-bit x86 processor; "
		             "hyenac generates x86-64 code (try x86-64-v3, "
		             "x86-64-v4 or native)%s", cpu, "");
	default:
		return usage(d, "--target-cpu '%s' is not an x86-64 processor "
		             "that LLVM knows; hyenac generates x86-64 code (try "
		             "x86-64-v3, x86-64-v4, a name such as znver4 or "
		             "sapphirerapids, or native)%s", cpu, "");
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* t->uses and t->avx512 from the whole feature set of t's cpu and
 * features; false when SSE2 ended up off. */
static bool derive_uses(CgTarget *t, Diag *d)
{
	size_t n = cg_x86_features(t->cpu, t->features, NULL, 0) + 1;
	char *all = malloc(n), *names[256];
	int count = 0;

	HY_ASSERT(all);
	cg_x86_features(t->cpu, t->features, all, n);
	if (!hyrt_cpu_listed(all, "sse2")) {
		free(all);
		return usage(d, "--target-features '%s' turns off sse2, and %s",
		             t->features, sse_abi);
	}
	t->avx512 = hyrt_cpu_listed(all, "avx512f");
	for (char *p = strtok(all, ","); p && count < 256; p = strtok(NULL, ","))
		if (hyrt_cpu_feature_testable(p))
			names[count++] = p;
	qsort(names, (size_t)count, sizeof *names, by_name);
	t->uses = malloc(n);
	HY_ASSERT(t->uses);
	t->uses[0] = 0;
	for (int i = 0; i < count; i++) {
		if (i)
			strcat(t->uses, ",");
		strcat(t->uses, names[i]);
	}
	free(all);
	return true;
}

/* LLVMCreateTargetMachine with fd 2 pointed at a temporary file; what
 * LLVM wrote there (up to n - 1 bytes) comes back in said. */
static LLVMTargetMachineRef create_quiet(LLVMTargetRef target, CgTarget *t,
                                         LLVMCodeGenOptLevel level,
                                         char *said, size_t n)
{
	LLVMTargetMachineRef tm;
	FILE *tmp;
	int saved;

	said[0] = 0;
	fflush(stderr);
	tmp = tmpfile();
	saved = dup(2);
	if (!tmp || saved < 0 || dup2(fileno(tmp), 2) < 0) {
		if (tmp)
			fclose(tmp);
		if (saved >= 0)
			close(saved);
		return LLVMCreateTargetMachine(target, t->triple, t->cpu,
		                               t->features, level, LLVMRelocPIC,
		                               LLVMCodeModelDefault);
	}
	tm = LLVMCreateTargetMachine(target, t->triple, t->cpu, t->features,
	                             level, LLVMRelocPIC, LLVMCodeModelDefault);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t got = fread(said, 1, n - 1, tmp);
	said[got] = 0;
	fclose(tmp);
	return tm;
}

/* One line of what LLVM said, as a usage error. */
static bool llvm_said(const char *said, const CgTarget *t, Diag *d)
{
	char line[256], name[128] = "";
	size_t len = strcspn(said, "\n");

	snprintf(line, sizeof line, "%.*s", (int)len, said);
	if (sscanf(line, "'%127[^']' is not a recognized feature", name) == 1)
		return usage(d, "--target-features: '%s' is not an x86 feature "
		             "that LLVM knows (in '%s'; 'llc -mtriple=x86_64 -mattr=help' "
		             "lists them)", name, t->features);
	if (sscanf(line, "'%127[^']' is not a recognized processor", name) == 1)
		return usage(d, "--target-cpu '%s' is not an x86-64 processor "
		             "that LLVM knows%s", name, "");
	return usage(d, "--target-cpu/--target-features: LLVM: %s%s", line, "");
}

bool cg_target_open(CgTarget *t, const char *cpu, const char *features,
                    int opt_level, Diag *d)
{
	LLVMTargetRef target;
	char *err = NULL, said[1024];

	memset(t, 0, sizeof *t);
	if (cpu && strcmp(cpu, "native") == 0)
		cpu = NULL;
	if ((features && !check_syntax(features, d)) ||
	    (cpu && !check_cpu(cpu, d)))
		return false;
	LLVMInitializeNativeTarget();
	LLVMInitializeNativeAsmPrinter();
	t->triple = LLVMGetDefaultTargetTriple();
	t->cpu = cpu ? LLVMCreateMessage(cpu) : LLVMGetHostCPUName();
	t->features = features ? LLVMCreateMessage(features)
	              : cpu    ? LLVMCreateMessage("")
	                       : LLVMGetHostCPUFeatures();
	if (LLVMGetTargetFromTriple(t->triple, &target, &err)) {
		diag_error(d, "target %s: %s", t->triple, err ? err : "unknown");
		LLVMDisposeMessage(err);
		cg_target_close(t);
		return false;
	}
	if (!derive_uses(t, d)) {
		cg_target_close(t);
		return false;
	}
	t->tm = create_quiet(target, t,
	                     opt_level > 0 ? LLVMCodeGenLevelAggressive
	                                   : LLVMCodeGenLevelNone,
	                     said, sizeof said);
	if (!t->tm || said[0]) {
		if (said[0])
			llvm_said(said, t, d);
		else
			diag_error(d, "cannot make a target machine for %s (cpu %s)",
			           t->triple, t->cpu);
		cg_target_close(t);
		return false;
	}
	return true;
}

void cg_target_close(CgTarget *t)
{
	if (t->tm)
		LLVMDisposeTargetMachine(t->tm);
	LLVMDisposeMessage(t->triple);
	LLVMDisposeMessage(t->cpu);
	LLVMDisposeMessage(t->features);
	free(t->uses);
	memset(t, 0, sizeof *t);
}

bool cg_check_target(const char *cpu, const char *features, Diag *d)
{
	CgTarget t;

	if (!cg_target_open(&t, cpu, features, 0, d))
		return false;
	cg_target_close(&t);
	return true;
}
