/*
 * target.c - the CPU target machine (made and checked by
 * codegen/target.c's cg_target_open) and the vector width the GEMM is
 * shaped for. cg_cpu_init is the target's init hook.
 */
#include "cpu.h"

/* The target machine (codegen/target.c) and what the kernels take from
 * it: 16-float vectors where AVX-512 is on. */
static bool make_target(CgContext *c, const CgOptions *o, Diag *d)
{
	CgTarget t;

	if (!cg_target_open(&t, o->cpu, o->features, o->opt_level, d))
		return false;
	c->tm = t.tm;
	c->triple = t.triple;
	c->cpu = t.cpu;
	c->features = t.features;
	c->uses = t.uses;
	c->vw = t.avx512 ? 16 : 8;
	c->mr = c->vw == 16 ? 6 : 3; /* 12 accumulator registers */
	return true;
}

bool cg_cpu_init(CgContext *c, const CgOptions *o, Diag *d)
{
	return make_target(c, o, d);
}
