/*
 * passes.h - graph-to-graph passes. Each lives in its own file and has the
 * shape `bool pass_NAME(Graph *g, Diag *d, bool *changed)`: false means a
 * user-visible error was reported; *changed says whether the graph moved.
 * pass_pipeline() runs them in order (passes/pipeline.c), verifying the
 * graph after each one when built with HYENAC_VERIFY_PASSES.
 */
#ifndef HYENAC_PASSES_H
#define HYENAC_PASSES_H

#include "../ir/ir.h"

typedef bool (*PassFn)(Graph *g, Diag *d, bool *changed);

typedef struct PassInfo {
	const char *name;
	PassFn fn;
	const char *what;
} PassInfo;

/* Remove nodes no output depends on. */
bool pass_dce(Graph *g, Diag *d, bool *changed);

const PassInfo *pass_find(const char *name);
/* Print the IR after the pass named print_after ("all" for every pass;
 * NULL for none) to f. */
bool pass_pipeline(Graph *g, const char *print_after, FILE *f, Diag *d);

#endif
