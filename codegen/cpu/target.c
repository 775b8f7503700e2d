/*
 * target.c - the CPU target machine (made and checked by
 * codegen/target.c's cg_target_open) and the shape of the GEMM for it:
 * the vector width, the register block (rows by vectors) and the k
 * chunk, from a small table keyed by what the target has (vector width,
 * registers, how wide its FMA units really are). cg_cpu_init is the
 * target's init hook.
 */
#include "cpu.h"

#include "runtime/cpucheck.h"

/* One row of the table: where it applies and the block. */
typedef struct GemmShape {
	bool avx512;     /* 16-float vectors, 32 vector registers */
	const char *cpu; /* NULL: any cpu with that vector width */
	int mr, nv, kc;
	int pvw; /* the vectoriser's preferred width, bits (0: LLVM's) */
	bool dp; /* a bf16 GEMM on vdpbf16ps where the cpu has AVX512_BF16 */
	bool amx; /* a bf16 GEMM on AMX tiles where the cpu has AMX-BF16 */
} GemmShape;

/* First match wins. The register block is MR rows by NV vectors of
 * accumulators, plus NV vectors of the weight panel's row and one
 * broadcast of a, within the register file (32 zmm, 16 ymm):
 *
 * - znver4 runs a 512-bit FMA as two 256-bit halves, so 6 x 2 (12
 *   accumulators, the shape measured level with OpenBLAS there) already
 *   keeps its pipes full; kept as it was.
 * - Other AVX-512 cores (Intel server cores, znver5) have two full-width
 *   FMA units: 12 x 2 (24 accumulators) halves the panel loads per FMA
 *   (the issue measured 6 x 2 at half of OpenBLAS on znver5; 12 x 2
 *   measured there since at 0.94-1.80x OpenBLAS, docs/performance.md; on
 *   Sapphire Rapids bench/gemm_ratio finds the bare GEMM level with
 *   OpenBLAS either way, and the fused kernels gain from the rest of
 *   this row and from whole-block tiles). KC = 256:
 *   a 256 x 32 chunk of the panel (32 KiB) stays in L1 while the tile's
 *   row blocks run over it. The vectoriser may use 512-bit vectors
 *   (LLVM prefers 256 bits on Intel server cores, for their clock): the
 *   GELU, LayerNorm and gate loops around the GEMM run at twice the
 *   width on the same two ports.
 * - AVX2 (16 ymm): 6 x 2 (12 accumulators, 2 panel vectors, 1
 *   broadcast: 15 registers), the classic Haswell block, over each half
 *   of a 32-column panel.
 *
 * dp: whether a bf16 GEMM (--precision bf16) runs on vdpbf16ps where
 * the cpu has AVX512_BF16, rather than on the weights' bf16 pairs
 * widened to fp32 FMAs. Intel's server cores with AMX run vdpbf16ps
 * zmm at about one per 2.2 cycles (measured on Sapphire Rapids: 29
 * flops a cycle against the FMAs' 64), so there the widening is the
 * faster of the two (the AMX tiles would be the fast one); elsewhere
 * (Cooper Lake, Zen 4 and 5) vdpbf16ps does twice an FMA's work at
 * an FMA's rate. */
static const GemmShape shapes[] = {
    {true, "znver4", 6, 2, 0, 0, true, false},
    {true, "sapphirerapids", 12, 2, 256, 512, false, true},
    {true, "emeraldrapids", 12, 2, 256, 512, false, true},
    {true, "graniterapids", 12, 2, 256, 512, false, true},
    {true, "graniterapids-d", 12, 2, 256, 512, false, true},
    {true, NULL, 12, 2, 256, 512, true, true},
    {false, NULL, 6, 2, 256, 0, false, false},
};

static void pick_shape(CgContext *c, bool avx512)
{
	c->vw = avx512 ? 16 : 8;
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		const GemmShape *s = &shapes[i];
		if (s->avx512 != avx512 || (s->cpu && strcmp(s->cpu, c->cpu) != 0))
			continue;
		c->mr = s->mr, c->nv = s->nv, c->kc = s->kc, c->pvw = s->pvw;
		c->bf16dp = s->dp && avx512 &&
		            hyrt_cpu_listed(c->uses, "avx512bf16");
		c->bf16amx = s->amx && avx512 &&
		             hyrt_cpu_listed(c->uses, "amx-bf16") &&
		             hyrt_cpu_listed(c->uses, "amx-tile");
		break;
	}
	HY_ASSERT(c->mr >= 1 && c->mr <= CG_MAX_MR && c->nv >= 1 &&
	          GEMM_NR % (c->nv * c->vw) == 0 && c->kc >= 0);
}

/* list (comma-separated, as CgTarget.uses) without name, in place. */
static void drop_feature(char *list, const char *name)
{
	size_t n = strlen(name);
	for (char *p = list; *p;) {
		char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && memcmp(p, name, n) == 0) {
			if (e)
				memmove(p, e + 1, strlen(e + 1) + 1);
			else
				*(p > list ? p - 1 : p) = 0;
			return;
		}
		p += len + (e != NULL);
	}
}

/* The target machine (codegen/target.c) and what the kernels take from
 * it. */
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
	pick_shape(c, t.avx512);
	/* AMX is recorded for the runtime's check (and its request for the
	 * tile state) only where the code uses the tiles: a bf16 graph */
	if (!c->g->bf16)
		c->bf16amx = false;
	if (!c->bf16amx) {
		drop_feature(c->uses, "amx-tile");
		drop_feature(c->uses, "amx-bf16");
	}
	return true;
}

bool cg_cpu_init(CgContext *c, const CgOptions *o, Diag *d)
{
	return make_target(c, o, d);
}
