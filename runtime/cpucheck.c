/*
 * cpucheck.c - refuse to run generated code on a CPU that lacks what it
 * was compiled for, in one line, instead of dying of SIGILL in the middle
 * of a forward.
 *
 * The compiler records in each module the x86 features its code may use
 * (runtime/cpucheck.h), limited to the ones in the table below: those
 * whose instructions LLVM's instruction selection can emit from ordinary
 * IR (vector and scalar arithmetic, shuffles, bit manipulation), as
 * hyenac's IR is, and AMX, which the bf16 GEMM uses through intrinsics
 * (asking Linux for the tile state here as it tests for it). Other
 * features reached only through intrinsics (AES, SHA, VP2INTERSECT,
 * ...) cannot appear in generated code and are not recorded. The model binary's main() and hyenac_model_load() test them
 * here before any generated function is called; this file itself, like
 * the rest of the runtime, is compiled for baseline x86-64, so it runs
 * anywhere.
 *
 * The test is CPUID, as the kernel's /proc/cpuinfo flags are, plus XGETBV
 * for the AVX and AVX-512 register state: a CPU with AVX-512 whose OS
 * does not save the ZMM registers cannot use it.
 */
#include "cpucheck.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* Defined by generated modules; absent (NULL) in hand-made stand-ins. */
extern const char hyenac_target_cpu[] __attribute__((weak));
extern const char hyenac_target_features[] __attribute__((weak));

enum { EAX, EBX, ECX, EDX };
enum { STATE_NONE, STATE_AVX, STATE_AVX512, STATE_AMX }; /* OS-saved
                                                          * registers */

/* Each feature: its LLVM name, where CPUID reports it, and the register
 * state it needs. Ordered as the ISA grew, so messages list the older
 * features first. */
static const struct {
	const char *name;
	uint32_t leaf, sub;
	int reg, bit, state;
} features[] = {
	{"sse3", 1, 0, ECX, 0, STATE_NONE},
	{"ssse3", 1, 0, ECX, 9, STATE_NONE},
	{"cx16", 1, 0, ECX, 13, STATE_NONE},
	{"sse4.1", 1, 0, ECX, 19, STATE_NONE},
	{"sse4.2", 1, 0, ECX, 20, STATE_NONE},
	{"popcnt", 1, 0, ECX, 23, STATE_NONE},
	{"movbe", 1, 0, ECX, 22, STATE_NONE},
	{"lzcnt", 0x80000001u, 0, ECX, 5, STATE_NONE},
	{"sse4a", 0x80000001u, 0, ECX, 6, STATE_NONE},
	{"tbm", 0x80000001u, 0, ECX, 21, STATE_NONE},
	{"bmi", 7, 0, EBX, 3, STATE_NONE},
	{"bmi2", 7, 0, EBX, 8, STATE_NONE},
	{"avx", 1, 0, ECX, 28, STATE_AVX},
	{"f16c", 1, 0, ECX, 29, STATE_AVX},
	{"fma", 1, 0, ECX, 12, STATE_AVX},
	{"fma4", 0x80000001u, 0, ECX, 16, STATE_AVX},
	{"xop", 0x80000001u, 0, ECX, 11, STATE_AVX},
	{"avx2", 7, 0, EBX, 5, STATE_AVX},
	{"gfni", 7, 0, ECX, 8, STATE_NONE},
	{"avxvnni", 7, 1, EAX, 4, STATE_AVX},
	{"avxneconvert", 7, 1, EDX, 5, STATE_AVX},
	{"avx512f", 7, 0, EBX, 16, STATE_AVX512},
	{"avx512dq", 7, 0, EBX, 17, STATE_AVX512},
	{"avx512cd", 7, 0, EBX, 28, STATE_AVX512},
	{"avx512bw", 7, 0, EBX, 30, STATE_AVX512},
	{"avx512vl", 7, 0, EBX, 31, STATE_AVX512},
	{"avx512vbmi", 7, 0, ECX, 1, STATE_AVX512},
	{"avx512vbmi2", 7, 0, ECX, 6, STATE_AVX512},
	{"avx512vnni", 7, 0, ECX, 11, STATE_AVX512},
	{"avx512bitalg", 7, 0, ECX, 12, STATE_AVX512},
	{"avx512vpopcntdq", 7, 0, ECX, 14, STATE_AVX512},
	{"avx512bf16", 7, 1, EAX, 5, STATE_AVX512},
	{"avx512fp16", 7, 0, EDX, 23, STATE_AVX512},
	{"amx-tile", 7, 0, EDX, 24, STATE_AMX},
	{"amx-bf16", 7, 0, EDX, 22, STATE_AMX},
};
enum { NFEATURES = sizeof features / sizeof features[0] };

/* The x86-64 microarchitecture levels, highest first, by what they add
 * (the psABI's list, less what every level below the one named has and
 * this table does not test: LAHF, XSAVE, OSXSAVE are implied by the
 * rest on every real CPU). */
static const struct {
	const char *name;
	const char *needs;
} levels[] = {
	{"x86-64-v4", "avx512f,avx512bw,avx512cd,avx512dq,avx512vl"},
	{"x86-64-v3", "avx,avx2,bmi,bmi2,f16c,fma,lzcnt,movbe"},
	{"x86-64-v2", "cx16,popcnt,sse3,sse4.1,sse4.2,ssse3"},
};

bool hyrt_cpu_feature_testable(const char *name)
{
	for (int i = 0; i < NFEATURES; i++)
		if (strcmp(features[i].name, name) == 0)
			return true;
	return false;
}

#if defined(__x86_64__)
/* Linux lets a process use the AMX tile data only once it has asked
 * (arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA); the first tile
 * instruction is SIGILL otherwise. Asked here, once per process, when a
 * model's code may use AMX (the bf16 GEMM of --precision bf16). */
static bool amx_permitted(void)
{
#if defined(__linux__)
	static int asked; /* 0 not yet, 1 granted, -1 refused */
	if (!asked)
		asked = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */,
		                18 /* XFEATURE_XTILEDATA */) == 0 ? 1 : -1;
	return asked > 0;
#else
	return false;
#endif
}

static bool has(int i)
{
	unsigned r[4] = {0, 0, 0, 0}, xlo = 0, xhi = 0, max;

	max = __get_cpuid_max(features[i].leaf & 0x80000000u, NULL);
	if (max < features[i].leaf)
		return false;
	__cpuid_count(features[i].leaf, features[i].sub, r[EAX], r[EBX],
	              r[ECX], r[EDX]);
	if (!(r[features[i].reg] >> features[i].bit & 1))
		return false;
	if (features[i].state == STATE_NONE)
		return true;
	__cpuid(1, r[EAX], r[EBX], r[ECX], r[EDX]);
	if (!(r[ECX] >> 27 & 1)) /* OSXSAVE: XGETBV is usable */
		return false;
	__asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
	(void)xhi;
	if (features[i].state == STATE_AVX)
		return (xlo & 0x6) == 0x6;           /* XMM, YMM */
	if (features[i].state == STATE_AMX)
		return (xlo & 0x60000) == 0x60000 && amx_permitted();
	return (xlo & 0xe6) == 0xe6;                 /* and opmask, ZMM */
}
#else
static bool has(int i)
{
	(void)i;
	return true;
}
#endif

bool hyrt_cpu_listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && memcmp(p, name, n) == 0)
			return true;
		p += len + (e != NULL);
	}
	return false;
}

static bool has_all(const char *list)
{
	for (int i = 0; i < NFEATURES; i++)
		if (hyrt_cpu_listed(list, features[i].name) && !has(i))
			return false;
	return true;
}

bool hyrt_cpu_has(const char *list)
{
	return has_all(list);
}

/* Append to msg (n bytes) at *len, cutting what does not fit. */
static void add(char *msg, size_t n, size_t *len, const char *fmt,
                const char *arg)
{
	if (*len + 1 >= n)
		return;
	int k = snprintf(msg + *len, n - *len, fmt, arg);
	*len += k < 0 ? 0 : (size_t)k < n - *len ? (size_t)k : n - *len - 1;
}

bool hyrt_cpu_check(const char *list, const char *cpu, char *msg, size_t n)
{
	size_t len = 0;
	int missing = 0;

	if (!list)
		return true;
	if (n)
		msg[0] = 0;
	for (int i = 0; i < NFEATURES; i++) {
		if (!hyrt_cpu_listed(list, features[i].name) || has(i))
			continue;
		add(msg, n, &len, missing++ ? ", %s" : "this CPU lacks %s",
		    features[i].name);
	}
	if (!missing)
		return true;
	const char *level = "x86-64";
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		bool all = true;
		for (size_t j = i; j < sizeof levels / sizeof levels[0]; j++)
			all &= has_all(levels[j].needs);
		if (all) {
			level = levels[i].name;
			break;
		}
	}
	add(msg, n, &len, ", which the model's code was compiled to use (for "
	    "%s); ", cpu && *cpu ? cpu : "another CPU");
	add(msg, n, &len, "recompile it with --target-cpu %s, or with "
	    "--target-cpu native on this machine", level);
	return false;
}

bool hyrt_cpu_check_model(char *msg, size_t n)
{
	if (!hyenac_target_features)
		return true;
	return hyrt_cpu_check(hyenac_target_features,
	                      hyenac_target_cpu ? hyenac_target_cpu : NULL, msg,
	                      n);
}
