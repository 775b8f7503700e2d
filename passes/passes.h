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
	int64_t spectra_limit; /* bytes of kept filter spectra the memory plan
	                        * may hold (memplan); <= 0: none */
	ConvMethod conv;     /* CONV_AUTO: convsel's cost model picks each long
	                      * convolution's method; CONV_FFT / CONV_DIRECT:
	                      * all of them (--conv=) */
	bool gpu;            /* compiling for a GPU (--target cuda): convsel
	                      * takes the FFT for every long convolution,
	                      * the GPU having no direct kernel */
	const char *print_after; /* a pass name, "all", or NULL */
	bool print_dot;      /* print_after writes DOT (ir_print_dot), not text */
	FILE *print_to;
} PassOptions;

/* The defaults: fuse, fold filters up to PASS_FOLD_LIMIT bytes. */
void pass_options_default(PassOptions *o);
enum { PASS_FOLD_LIMIT = 64 << 20 };
/* Kept spectra: at most 4 GiB in all (the driver lowers it to a quarter
 * of the memory limit), and only layers whose spectra take at most
 * 512 MiB each, so a 1M-token model (2 GB a layer) streams all of them
 * while a 160k one (328 MB a layer) keeps every layer's. */
#define PASS_SPECTRA_LIMIT ((int64_t)4 << 30)
#define PASS_SPECTRA_LAYER_LIMIT ((int64_t)512 << 20)

typedef bool (*PassFn)(Graph *g, const PassOptions *o, Diag *d,
                       bool *changed);

typedef struct PassInfo {
	const char *name;
	PassFn fn;
	const char *what;
} PassInfo;

/* Evaluate input-independent values (the implicit filters) at compile
 * time, within PassOptions.fold_limit. */
bool pass_fold(Graph *g, const PassOptions *o, Diag *d, bool *changed);
/* Choose FFT or direct (ConvMethod, ir.h) for each long convolution at
 * the compiled length. */
bool pass_convsel(Graph *g, const PassOptions *o, Diag *d, bool *changed);
/* The cost model's estimate in nanoseconds, for one batch row. */
double pass_conv_cost(ConvMethod method, int64_t L, int64_t C);
/* Plan the activation arena: every value that needs scratch gets a region
 * and offset (Node.region/offset, Graph.region_bytes); runs last. */
bool pass_memplan(Graph *g, const PassOptions *o, Diag *d, bool *changed);
/* Which region a value of type t lives in, and its bytes per unit. */
MemRegion pass_mem_region(const TensorType *t, int64_t *unit_bytes);
/* The plan of a planned graph as an SVG liveness chart, one rect per
 * planned value (passes/memplan_svg.c). */
void pass_memplan_svg(const Graph *g, FILE *f);
/* The planned arena for a run of B x L. */
int64_t pass_planned_bytes(const Graph *g, int64_t B, int64_t L);
/* Fuse a Hyena block's primitive ops into fused_proj and gated_conv
 * kernels (passes/fuse.c); nothing when PassOptions.fuse is false. */
bool pass_fuse(Graph *g, const PassOptions *o, Diag *d, bool *changed);
/* Make the graph's entries (ir.h): logits without hidden, pooled
 * hidden (passes/entries.c); runs before memplan. */
bool pass_entries(Graph *g, const PassOptions *o, Diag *d, bool *changed);
/* Remove nodes no output (of the graph or an entry) depends on. */
bool pass_dce(Graph *g, const PassOptions *o, Diag *d, bool *changed);

const PassInfo *pass_find(const char *name);
/* Run every pass in order; o may be NULL for the defaults. */
bool pass_pipeline(Graph *g, const PassOptions *o, Diag *d);

#endif
