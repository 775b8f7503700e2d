/*
 * x86cpu.cpp - what LLVM knows about x86 processors, for codegen/target.c:
 * whether a --target-cpu name is an x86 processor and whether it has
 * 64-bit mode, and the features a processor and a feature string enable.
 *
 * This is the one C++ file of hyenac, and it is here because LLVM's C API
 * has no call for these facts, while LLVM's own table of them (the one
 * clang's -march uses, llvm/TargetParser/X86TargetParser.h, kept in step
 * with the backend's X86.td) is a plain C++ function away. Copying that
 * table into a C file would go stale with the next LLVM; asking LLVM
 * cannot. Nothing here throws or needs RTTI; the answers cross back as C.
 *
 * The names are those of that table, the ones clang's -march takes. The
 * backend also answers to a few more (clang's cpu_dispatch spellings such
 * as core_4th_gen_avx, and "generic"); like clang, hyenac refuses them.
 */
#include <llvm/ADT/SmallVector.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/TargetParser/X86TargetParser.h>

#include <string.h>

extern "C" {
#include "codegen/x86cpu.h"
}

extern "C" CgX86Cpu cg_x86_cpu_kind(const char *cpu)
{
	if (llvm::X86::parseArchX86(cpu, /*Only64Bit=*/true) !=
	    llvm::X86::CK_None)
		return CG_X86_CPU_64BIT;
	if (llvm::X86::parseArchX86(cpu, /*Only64Bit=*/false) !=
	    llvm::X86::CK_None)
		return CG_X86_CPU_32BIT;
	return CG_X86_CPU_UNKNOWN;
}

/* Turn one feature on or off with what it implies (enabling avx2
 * enables avx; disabling sse2 disables everything built on it), as
 * clang's X86TargetInfo::setFeatureEnabled does. */
static void set_feature(llvm::StringMap<bool> &set, llvm::StringRef f,
                        bool on)
{
	set[f] = on;
	llvm::X86::updateImpliedFeatures(f, on, set);
}

/* Apply "+a,-b,..." to the set, in order. */
static void apply(llvm::StringMap<bool> &set, llvm::StringRef fs)
{
	llvm::SmallVector<llvm::StringRef, 64> items;
	fs.split(items, ',', -1, /*KeepEmpty=*/false);
	for (llvm::StringRef f : items)
		if (f.size() > 1 && (f[0] == '+' || f[0] == '-'))
			set_feature(set, f.drop_front(), f[0] == '+');
}

extern "C" size_t cg_x86_features(const char *cpu, const char *features,
                                  char *buf, size_t n)
{
	llvm::StringMap<bool> set;
	llvm::SmallVector<llvm::StringRef, 64> cpu_feats;
	size_t len = 0;

	/* The backend's order: the processor's features, then the 64-bit
	 * triple's "+sse2", then the feature string. */
	if (cpu && cg_x86_cpu_kind(cpu) != CG_X86_CPU_UNKNOWN) {
		llvm::X86::getFeaturesForCPU(cpu, cpu_feats, /*NeedPlus=*/false);
		for (llvm::StringRef f : cpu_feats)
			set_feature(set, f, true);
	}
	set_feature(set, "sse2", true);
	if (features)
		apply(set, features);
	if (n)
		buf[0] = 0;
	for (const auto &kv : set) {
		if (!kv.getValue())
			continue;
		llvm::StringRef name = kv.getKey();
		size_t need = len + (len > 0) + name.size();
		if (need + 1 <= n) {
			if (len)
				buf[len] = ',';
			memcpy(buf + need - name.size(), name.data(), name.size());
			buf[need] = 0;
		}
		len = need;
	}
	return len;
}
