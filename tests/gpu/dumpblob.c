/*
 * dumpblob.c - test support for tests/gpu/harness.c: the packed weights
 * of MODEL as `hyenac compile --target cuda` packs them (no GEMM panels),
 * written raw to OUT. Built by tests/gpu/run.sh, not by CMake.
 * usage: dumpblob MODEL OUT [SEQ_LEN]
 */
#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	Diag d;
	Arena *a = arena_new();
	diag_init(&d);
	if (argc < 3)
		return 2;
	Model *m = fe_load_model(a, argv[1], &d);
	Graph *g = m ? fe_lower(a, m, &d) : NULL;
	PassOptions po;
	pass_options_default(&po);
	po.gpu = true;
	if (g && argc > 3 && atoll(argv[3]) < g->max_len)
		g->max_len = atoll(argv[3]);
	if (!g || !pass_pipeline(g, &po, &d)) {
		fprintf(stderr, "dumpblob: %s\n", d.msg);
		return 1;
	}
	CgWeights w;
	cg_layout_weights_flat(g, a, &w);
	void *blob = calloc(1, w.bytes + 64);
	cg_pack_weights(g, &w, blob);
	FILE *f = fopen(argv[2], "wb");
	if (!f || fwrite(blob, 1, w.bytes, f) != w.bytes || fclose(f))
		return 1;
	return 0;
}
