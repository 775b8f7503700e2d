/*
 * rt_main.h - what the files of a model binary's main() share: the error
 * exits, the option parser, checked allocation and the weights. The
 * commands on token files live in rt_main.c, the FASTA commands (embed
 * --fasta, score) in rt_fasta.c, the command table and main() in
 * rt_dispatch.c. Internal to libhyenac_rt_main.a.
 */
#ifndef HYENAC_RT_MAIN_H
#define HYENAC_RT_MAIN_H

#include "runtime/hyrt.h"
#include "runtime/npy.h"

extern const char *rt_prog; /* argv[0]'s last component */
/* A progress line without its newline is on stderr. */
extern bool rt_stderr_midline;

/* Exit 2 with "PROG: MESSAGE; see 'PROG --help'". Messages are one line:
 * control characters from input are escaped (hy_escape). */
HY_NORETURN void rt_usage(const char *fmt, ...) HY_PRINTF(1, 2);
/* Exit 1 with "PROG: MESSAGE". Temporary outputs are removed (atexit). */
HY_NORETURN void rt_fail(const char *fmt, ...) HY_PRINTF(1, 2);
/* "PROG: MESSAGE" as rt_fail prints it, without exiting. */
void rt_warn(const char *fmt, ...) HY_PRINTF(1, 2);
HY_NORETURN void rt_fail_diag(const Diag *d);
/* Flush stdout, exit status 0 or a failure. */
int rt_finish(void);

/* How embed reduces the positions of each row: --pool mean|last|none;
 * POOL_CLASSIFY is `classify`: a classifier's logits [B, num_labels],
 * its head at the one row before the first pad (the graph's `entry
 * classify`), through the same chunked and FASTA paths. */
typedef enum { POOL_MEAN, POOL_LAST, POOL_NONE, POOL_CLASSIFY } Pool;

/* The --pool value, or exit 2. */
Pool rt_parse_pool(const char *value);
/* Floats per row of a pooled forward: num_labels for POOL_CLASSIFY,
 * else d_model. */
int64_t rt_pool_width(Pool pool);
/* Exit 2 unless the model is a classifier ('classify' of another). */
void rt_need_classifier(void);
/* One forward pooled into dst [B, d_model] (hyenac_run_pooled: the
 * [B, L, d_model] hidden states are never stored), or [B, num_labels]
 * for POOL_CLASSIFY (hyenac_run_classify), or exit 1 for a model that
 * cannot. */
void rt_forward_pooled(const float *w, const int32_t *tok, int64_t B,
                       int64_t L, Pool pool, float *dst, void *scratch);

/* embed --layer: HF's hidden state K (0 the embeddings, K the residual
 * stream after block K, n_layer+1 the final norm, the default output),
 * RT_LAYER_ALL every one of them, RT_LAYER_NONE (no --layer) the final
 * norm through the usual entries. */
enum { RT_LAYER_NONE = -1, RT_LAYER_ALL = -2 };
/* The --layer value (NULL: RT_LAYER_NONE), or exit 2 out of
 * 0..n_layer+1. */
int64_t rt_parse_layer(const char *value);
/* A monotonic clock in milliseconds, and an ascending sort (for
 * medians), for the timings bench, generate --stats and progress show. */
double rt_now_ms(void);
void rt_sort_doubles(double *v, int64_t n);
/* The hidden states a layer choice yields per row: 1, or n_layer+2. */
int64_t rt_layer_count(int64_t layer);
/* Floats of the work buffer rt_forward_layer needs for B rows of L. */
size_t rt_layer_tmp_floats(int64_t B, int64_t L, int64_t layer);
/* The chosen hidden state(s) of B rows of L tokens (hyenac_run_hidden),
 * pooled (mean over positions in double, or the last) or not, into dst:
 * per row [L, d] or [d] for one state, [n_layer+2, L, d] or
 * [n_layer+2, d] for all. tmp: rt_layer_tmp_floats floats. Exit 1 for
 * a model that has no hidden-state entry. */
void rt_forward_layer(const float *w, const int32_t *tok, int64_t B,
                      int64_t L, int64_t layer, Pool pool, float *dst,
                      float *tmp, void *scratch);

typedef struct Opt {
	const char *name;  /* "--tokens" */
	const char *alias; /* "-o", or NULL */
	const char *value; /* filled in by rt_parse_opts; "" for a flag */
	bool flag;         /* takes no value */
} Opt;

/* Fill opts from argv[2..]: "--name VALUE", "--name=VALUE", "--flag". */
void rt_parse_opts(const char *cmd, int argc, char **argv, Opt *opts,
                   int nopts);
int64_t rt_parse_int(const char *opt, const char *s, int64_t lo, int64_t hi,
                     const char *why);
/* a * b * c floats in bytes, or exit 1 naming what. */
size_t rt_mul3(int64_t a, int64_t b, int64_t c, const char *what);
/* 64-byte aligned, never NULL (exit 1). */
void *rt_xalloc(size_t n, const char *what);
/* HYENAC_MEMORY_LIMIT in bytes, 0 when unset; exit 1 naming the variable
 * and the value when it is set to something that is not a byte count. */
int64_t rt_memory_limit(void);
/* Map the weights packed at the end of this executable, or exit 1; in
 * a GPU binary, start the device too (exit 1 naming what is missing). */
void rt_load_weights(HyrtBlob *w);
/* A GPU binary (it links runtime/cuda/): --device N, HYENAC_DEVICE;
 * -1 when neither was given. */
bool rt_is_gpu(void);
extern int64_t rt_gpu_device;

/* Refuse a bad output name (runtime/outfile.h: hyrt_out_check) before
 * any work, exit 2; input and this binary are the inputs it must not be. */
void rt_check_output(const char *path, const char *ext, bool may_stdout,
                     const char *what, const char *input);

/* The command line, argv[0] included: what main() runs. */
int rt_dispatch(int argc, char **argv);
/* For fuzz/fuzz_argv.c, which runs rt_dispatch in its own process:
 * rt_argv_only makes each command return once its command line is
 * checked, before it opens a file or runs a forward; rt_exit_hook, when
 * set, is called with the status instead of exit() (it must not return).
 * A model binary leaves both alone. */
extern bool rt_argv_only;
extern void (*rt_exit_hook)(int status);

/* The commands and their lines of --help: rt_dispatch.c's table. On
 * token files (rt_main.c): */
int rt_cmd_embed(const char *cmd, int argc, char **argv);
int rt_cmd_logits(const char *cmd, int argc, char **argv);
int rt_cmd_classify(const char *cmd, int argc, char **argv);
int rt_cmd_bench(const char *cmd, int argc, char **argv);
int rt_cmd_info(const char *cmd, int argc, char **argv);
void rt_help_embed(void);
void rt_help_logits(void);
void rt_help_classify(void);
void rt_help_bench(void);
void rt_help_info(void);
/* On FASTA (rt_fasta.c): embed --fasta, score and classify --fasta. */
int rt_cmd_fasta(const char *cmd, int argc, char **argv);
/* True when argv[2..] asks for --fasta. */
bool rt_wants_fasta(int argc, char **argv);
void rt_help_embed_fasta(void);
void rt_help_score(void);
void rt_help_classify_fasta(void);
/* On VCF/BCF (rt_vep.c): vep. rt_cmd_vep checks the command line, maps
 * the weights and calls rt_vep_run, the work, which fuzz/fuzz_vcf.c
 * calls with a stub forward; after rt_exit_hook has jumped out of it,
 * rt_vep_abort frees what the run held and removes its temporary. The
 * caller installs outfile.h's cleanup (the command does; a fuzz target,
 * whose crash handlers must stay, does not). */
int rt_cmd_vep(const char *cmd, int argc, char **argv);
void rt_help_vep(void);
typedef void (*RtForward)(const float *weights, const int32_t *tokens,
                          int64_t B, int64_t L, float *const *outputs,
                          void *scratch);
typedef struct RtVepArgs {
	const char *vcf, *ref, *out, *model;
	int64_t window, max_bases, vocab_width, threads, batch;
	int case_mode; /* HyrtCase (runtime/fasta.h) */
	bool quiet;
	bool sharded, resume; /* rt_shard.h: several ranks, or --resume */
	const void *weights;
	size_t weights_bytes;                      /* for the journal's key */
	RtForward forward;                         /* hyenac_run */
	size_t (*scratch_bytes)(int64_t B, int64_t L); /* hyenac_scratch_bytes */
} RtVepArgs;
int rt_vep_run(const RtVepArgs *a);
/* BED intervals of a faidx-indexed reference as windows, for --regions
 * (rt_regions.c says how); every error exits 1 with one line. The
 * window's record is the interval's chrom, start and end are positions
 * on it; rt_regions_name is the BED name column of the last window's
 * interval ("." when there is none). */
typedef struct RtRegions RtRegions;
struct HyrtFastaOptions;
struct HyrtWindow;
RtRegions *rt_regions_open(const char *ref, const char *bed,
                           const struct HyrtFastaOptions *o);
int rt_regions_next(RtRegions *r, struct HyrtWindow *w);
const char *rt_regions_name(const RtRegions *r);
void rt_regions_warn(const RtRegions *r); /* soft-masking, no rows */
void rt_regions_close(RtRegions *r);      /* NULL is fine */
/* A reference through htslib's faidx (plain or BGZF FASTA), its index
 * (REF.fai, and REF.gzi for BGZF) made beside it when missing; exit 1
 * with one line when it cannot be (rt_vep.c). */
struct faidx_t;
struct faidx_t *rt_faidx_open(const char *path);
void rt_vep_abort(void);

/* Sampling after a prompt (rt_gen.c). */
int rt_cmd_generate(const char *cmd, int argc, char **argv);
void rt_help_generate(void);
/* What rt_parse_opts calls on --help (rt_dispatch.c sets it). */
extern void (*rt_help)(void);
/* "hidden" or "hidden,logits". */
const char *rt_outputs_str(void);
/* --threads: the value, or every online core when NULL; exit 2 when out
 * of 1..RT_MAX_THREADS. */
int64_t rt_thread_count(const char *value);

/* --batch: the value, or the default for windows of Wt tokens (about 2k
 * tokens a forward on a CPU, 16k on a GPU, 1 to 64 windows); exit 2 when
 * out of 1..1048576. */
int64_t rt_batch_count(const char *value, int64_t Wt);

/* The most threads a binary runs (--threads). */
#define RT_MAX_THREADS 256
#define RT_MAX_THREADS_STR "256"

#endif
