/*
 * passes.h - graph-to-graph passes. Each lives in its own file and has the
 * shape `bool pass_NAME(Graph *g, const PassOptions *o, Diag *d,
 * bool *changed)`: false means a user-visible error was reported; *changed
 * says whether the graph moved. pass_pipeline() runs them in order
 * (passes/pipeline.c), verifying the graph after each one when built with
 * HYENAC_VERIFY_PASSES. Passes read the compiled length from
 * Graph.max_len, which the driver sets to --seq-len before the pipeline.
 */
#ifndef HYENAC_PASSES_H
#define HYENAC_PASSES_H

#include "../ir/ir.h"

typedef struct PassOptions {
	bool fuse;           /* false for -O0 / --no-fuse */
	int64_t fold_limit;  /* bytes of folded filters allowed; < 0: never */
	const char *print_after; /* a pass name, "all", or NULL */
	FILE *print_to;
} PassOptions;

/* The defaults: fuse, fold filters up to PASS_FOLD_LIMIT bytes. */
void pass_options_default(PassOptions *o);
enum { PASS_FOLD_LIMIT = 64 << 20 };

typedef bool (*PassFn)(Graph *g, const PassOptions *o, Diag *d,
                       bool *changed);

typedef struct PassInfo {
	const char *name;
	PassFn fn;
	const char *what;
} PassInfo;

/* Remove nodes no output depends on. */
bool pass_dce(Graph *g, const PassOptions *o, Diag *d, bool *changed);

const PassInfo *pass_find(const char *name);
/* Run every pass in order; o may be NULL for the defaults. */
bool pass_pipeline(Graph *g, const PassOptions *o, Diag *d);

#endif
