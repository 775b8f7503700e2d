/*
 * x86cpu.h - LLVM's knowledge of x86 processors (codegen/x86cpu.cpp), in C.
 */
#ifndef HYENAC_X86CPU_H
#define HYENAC_X86CPU_H

#include <stddef.h>

typedef enum {
	CG_X86_CPU_UNKNOWN, /* no x86 processor LLVM knows by that name */
	CG_X86_CPU_32BIT,   /* an x86 processor without 64-bit mode */
	CG_X86_CPU_64BIT,
} CgX86Cpu;

CgX86Cpu cg_x86_cpu_kind(const char *cpu);

/* The features enabled for code generated for x86-64 with cpu (NULL: no
 * processor, the triple's baseline) and the feature string features
 * ("+a,-b", NULL for none), each with what it implies: "avx,avx2,...",
 * in no particular order, into buf (n bytes, NUL-terminated when the whole
 * list fits). Returns the list's length, as snprintf does. */
size_t cg_x86_features(const char *cpu, const char *features, char *buf,
                       size_t n);

#endif
