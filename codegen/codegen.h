/*
 * codegen.h - native code generation through the LLVM C API. For now it
 * only describes the host target that kernels will be specialised for;
 * kernel emission lands with the code generation work.
 */
#ifndef HYENAC_CODEGEN_H
#define HYENAC_CODEGEN_H

#include <stddef.h>

/* "LLVM 19.1.7, host x86_64-pc-linux-gnu skylake" into buf. */
const char *cg_describe_host(char *buf, size_t n);

#endif
