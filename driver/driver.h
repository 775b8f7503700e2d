/*
 * driver.h - what the hyenac command line's files share.
 */
#ifndef HYENAC_DRIVER_H
#define HYENAC_DRIVER_H

#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/hyrt.h"

#include <stdio.h>

typedef struct CompileOptions {
	const char *out;
	const char *emit; /* exe | obj | ll | ir | lib | ptx */
	const char *cpu, *features; /* NULL = host */
	int64_t seq_len;  /* compiled length */
	int opt_level;
	int64_t batch;    /* for planned_bytes in --stats */
	bool stats;       /* print machine-readable facts on stdout */
	bool mpi;         /* link the MPI runtime (rt_par_mpi.c) and libmpi */
	const char *gpu_arch; /* NULL: the CPU; "sm_90": --target cuda */
} CompileOptions;

bool drv_compile(const Model *m, Graph *g, const CompileOptions *o, Diag *d);
/* Where --emit lib puts hyenac_model.h: beside out as named. */
const char *drv_lib_header(Arena *a, const char *out);
int64_t drv_flops_per_token(const Graph *g, int64_t L);
/* A classifier's label names, each ended by '\n', for CgOptions.labels;
 * NULL for other models. */
const char *drv_labels(Arena *a, const ModelSpec *s);
/* The graph's entry of that name, or NULL. */
const EntryPoint *drv_entry(const Graph *g, const char *name);
/* `hyenac compile --stats`: one key=value per line on f. */
/* The memory one forward of a compiled binary holds (drv_run_bytes). */
typedef struct RunBytes {
	int64_t activations, output, weights, spectra, per_thread, total;
	int threads;
} RunBytes;

void drv_run_bytes(const Graph *g, int64_t B, int64_t L, RunBytes *rb);
void drv_print_stats(const Model *m, const Graph *g, const CompileOptions *o,
                     FILE *f);

/* `hyenac ir --plan-svg path`: g's memory plan as an SVG liveness chart
 * (passes/memplan_svg.c), written whole or not at all (driver/pictures.c). */
bool drv_write_plan_svg(const Graph *g, const char *path, Diag *d);

#endif
