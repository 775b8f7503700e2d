/*
 * cpucheck.h - whether this CPU has the x86 features a compiled model's
 * code may use, asked before any generated code runs (runtime/cpucheck.c).
 *
 * Part of the contract of runtime/hyrt.h: every module `hyenac compile`
 * generates also defines
 *
 *   hyenac_target_cpu         the processor it was compiled for
 *                             ("sapphirerapids", "x86-64-v3")
 *   hyenac_target_features    the features its code may use, among those
 *                             this runtime can test, comma-separated
 *                             ("avx,avx2,avx512f,...")
 *
 * A module without them (built by hand, as the runtime's tests do) has
 * nothing to check.
 */
#ifndef HYENAC_CPUCHECK_H
#define HYENAC_CPUCHECK_H

#include <stdbool.h>
#include <stddef.h>

extern const char hyenac_target_cpu[];
extern const char hyenac_target_features[];

/* Whether name (an LLVM feature name: "avx512f", "sse4.1") is one that
 * generated code may use and this runtime can test; the compiler records
 * only those. */
bool hyrt_cpu_feature_testable(const char *name);
/* Whether the comma-separated list ("avx2,fma") names name exactly. */
bool hyrt_cpu_listed(const char *list, const char *name);

/* Whether this CPU (and its OS, for the AVX register state) has every
 * feature of the comma-separated list: for the runtime's own vector
 * code (fftconv.c, specmul.c), chosen when it first runs. */
bool hyrt_cpu_has(const char *features);

/* True when this CPU (and its OS, for the AVX register state) has every
 * feature of the comma-separated list; otherwise false with one line in
 * msg (n bytes): what is missing, what the code was compiled for (cpu),
 * and the --target-cpu this CPU can run. On other architectures than
 * x86-64 there is nothing to test: true. */
bool hyrt_cpu_check(const char *features, const char *cpu, char *msg,
                    size_t n);

/* hyrt_cpu_check for the generated module linked into this program. */
bool hyrt_cpu_check_model(char *msg, size_t n);

#endif
