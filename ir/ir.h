/*
 * ir.h - the hyenac tensor IR: one header names every type (after QBE).
 *
 * A Graph is a list of Nodes in topological order (every src precedes its
 * user) plus named outputs. A Node is an op from ops.def, its sources,
 * attributes and its result TensorType. Dims are concrete (>= 0) or one of
 * the symbols DIM_B / DIM_L, bound when the graph is run, so one graph
 * serves every batch size and every length up to Graph.max_len.
 *
 * Builders only record op, srcs and attrs (as ggml's do); ir_infer() gives
 * a node its type and ir_verify() checks a whole graph. All memory comes
 * from the graph's arena.
 */
#ifndef HYENAC_IR_H
#define HYENAC_IR_H

#include <stdio.h>

#include "base.h"

enum {
	IR_MAX_RANK = 4,
	IR_MAX_SRC = 8,
	IR_MAX_IATTR = 9,
	IR_MAX_FATTR = 2,
};

/* Symbolic dims; every other dim is >= 0. */
#define DIM_B ((int64_t)-1)
#define DIM_L ((int64_t)-2)

typedef enum { DT_F32, DT_I32, DT_COUNT } DType;

typedef struct TensorType {
	DType dtype;
	int rank;
	int64_t dim[IR_MAX_RANK];
} TensorType;

/* The op table's property columns; each is read where it decides:
 * OPF_CONST by passes/fold.c (the constant leaves it folds from),
 * OPF_ROWWISE by codegen/cpu (cg_row_wise). */
enum {
	OPF_CONST = 1 << 0,   /* value depends on no input: weight or position */
	OPF_ROWWISE = 1 << 1, /* output rows (all dims but the last) computed
	                       * in any order and split, each from whole
	                       * inputs; a slice only along its last axis */
};

typedef enum {
#define OP(id, name, smin, smax, iat, fat, sat, flags) id,
#include "ops.def"
#undef OP
	OP_COUNT
} OpKind;

typedef struct OpInfo {
	const char *name;
	int min_src, max_src;
	const char *iattrs; /* comma-separated names, "" for none */
	const char *fattrs;
	const char *sattr;  /* name of the string attr, "" for none */
	unsigned flags;
	int niattr, nfattr; /* counted from the strings */
} OpInfo;

const OpInfo *ir_op_info(OpKind op);
/* OP_COUNT when no op has that name. */
OpKind ir_op_by_name(const char *name);
/* The name of attribute i in a comma list, copied into buf. */
const char *ir_attr_name(const char *list, int i, char *buf, size_t n);

/* Where the memory plan (passes/memplan.c) puts a node's value: a region
 * whose size scales with B*L tokens, with L positions, not at all, or
 * with B samples (a decode step's one row per sample, [B, 1, ...], so
 * that `entry step` never widens the forward's per-token region); the
 * node's offset is in bytes per unit of its region. */
typedef enum {
	MEM_NONE,
	MEM_TOKEN,
	MEM_POSITION,
	MEM_FIXED,
	MEM_SAMPLE,
	MEM_COUNT
} MemRegion;
/* The region a value of type t belongs to ([B, L, ...] token, and
 * [B, ...] without L too, planned per token since L >= 1; [L, ...]
 * position; else fixed) and its size in bytes per unit of it. The plan (memplan) places
 * by it and the verifier checks placements against it. */
MemRegion ir_mem_region(const TensorType *t, int64_t *unit_bytes);
/* "token", "position", "fixed" ("none" for MEM_NONE), as the text form
 * writes a placement. */
const char *ir_region_name(MemRegion r);

typedef struct Node {
	OpKind op;
	int id;            /* index in Graph.nodes */
	const char *name;  /* value name, printed as %name; unique */
	TensorType type;
	int nsrc;
	struct Node *src[IR_MAX_SRC];
	int64_t iattr[IR_MAX_IATTR];
	double fattr[IR_MAX_FATTR];
	const char *sattr; /* OP_WEIGHT: the tensor's name in the checkpoint */
	const float *data; /* OP_WEIGHT: bound data, row-major; NULL if unbound */
	MemRegion region;  /* set by the memory plan; MEM_NONE before it */
	int64_t offset;    /* bytes per region unit, 64-byte aligned */
	int64_t kept_bytes; /* an FFT gated_conv: bytes the memory plan holds
	                     * for its filter's spectra, kept between calls
	                     * (0: made per call); set by memplan */
	bool planar;        /* a [B,L,2W] token value stored as two dense
	                     * [B,L,W] planes, columns [0,W) then [W,2W),
	                     * rather than row by row (memplan, for a
	                     * gated_conv written over its value plane;
	                     * printed "in token[OFF] planar") */
} Node;

typedef struct Output {
	const char *name; /* "hidden", "logits" */
	Node *node;
} Output;

/* An entry: one more way to run the graph's forward, with outputs of its
 * own (passes/entries.c makes them; the text form writes each as
 * `entry NAME {OUT = %value, ...}`). The graph's outputs are the full
 * forward; an entry is a variant of it that computes only what its
 * outputs need, e.g. `logits` (the head fused with the final norm, so
 * the hidden states are never stored) or `pooled` (mean and last over
 * positions). Codegen emits one function per entry and the full one;
 * memplan plans them all at once (every entry runs a subset of the
 * nodes in graph order, so one plan serves each). */
/* IR_MAX_ENTRY_OUT: entry hidden_states has n_layer + 2 outputs */
enum { IR_MAX_ENTRIES = 8, IR_MAX_ENTRY_OUT = 66 };
typedef struct EntryPoint {
	const char *name;
	Output *outputs; /* IR_MAX_ENTRY_OUT slots; the full entry's are
	                  * the graph's outputs */
	int noutputs;
} EntryPoint;

typedef struct Graph {
	Arena *arena;
	const char *name;
	int64_t max_len; /* the longest L a run may bind; 0 = unbounded */
	Node **nodes;
	int nnodes, cap;
	Output *outputs;
	int noutputs, outcap;
	EntryPoint entries[IR_MAX_ENTRIES];
	int nentries;
	bool planned;      /* the memory plan has run: every node that needs
	                    * scratch has a region and offset */
	int64_t region_bytes[MEM_COUNT]; /* size of each region per unit */
	int64_t folded_bytes; /* constants evaluated at compile time (fold) */
	int64_t unfolded_bytes; /* what folding would have cost, when the
	                         * size rule kept filters as run-time code */
	int64_t kept_bytes; /* the sum of the nodes' kept_bytes (memplan) */
	bool bf16; /* `--precision bf16`: the per-token projections
	            * (ir_bf16_slot) multiply bf16-rounded operands, with
	            * sums in fp32; everything else stays fp32 */
} Graph;

Graph *ir_graph_new(Arena *a, const char *name);
/* Append a node with the given sources; its type is unset until ir_infer. */
Node *ir_add(Graph *g, OpKind op, const char *name, int nsrc, Node **src);
void ir_add_output(Graph *g, const char *name, Node *n);
Node *ir_find(const Graph *g, const char *name);
/* A new entry with no outputs yet, or NULL when the graph has
 * IR_MAX_ENTRIES already; ir_entry_add_output is false when e is full. */
EntryPoint *ir_add_entry(Graph *g, const char *name);
bool ir_entry_add_output(EntryPoint *e, const char *name, Node *n);
/* The graph's outputs as an entry named "full" (e shares them). */
void ir_entry_full(const Graph *g, EntryPoint *e);
/* Whether n is a graph output or an output of some entry. */
bool ir_is_output(const Graph *g, const Node *n);
/* live[id] = whether an output of e needs node id (live has g->nnodes
 * slots); e NULL: the graph's outputs. */
void ir_entry_live(const Graph *g, const EntryPoint *e, bool *live);
/* The first node e (NULL: the graph's outputs) needs that is an output
 * of the graph or of an entry but not one of e's own, or NULL: outputs
 * have no scratch, so such a value is not there for e. */
const Node *ir_entry_foreign_output(const Graph *g, const EntryPoint *e);

/* ---- fused ops (ops.def: fused_proj, gated_conv, fused_mlp; ir/fused.c) */

/* fused_proj's `act` codes. */
typedef enum {
	FP_ACT_NONE,
	FP_ACT_GELU_TANH,
	FP_ACT_GELU,
	FP_ACT_RELU,
	FP_ACT_COUNT
} FpAct;

/* A long convolution's method: longconv's and gated_conv's `method`
 * attribute (attr slot 0, ops.def), printed as its number. Lowering makes
 * CONV_AUTO; passes/convsel.c replaces it by the one its cost model
 * picks at the compiled length, or by --conv's (PassOptions.conv);
 * codegen emits what the attribute says and is never given CONV_AUTO. */
typedef enum {
	CONV_AUTO = 0,   /* not chosen yet */
	CONV_FFT = 1,    /* through the runtime's FFT convolution */
	CONV_DIRECT = 2, /* the direct O(L^2) kernel */
	CONV_METHOD_COUNT
} ConvMethod;

/* Attribute slots; ORDER: the attr lists of fused_proj and gated_conv in
 * ops.def. */
enum { FP_BIAS, FP_LN, FP_CONV, FP_CONV_BIAS, FP_ACT, FP_RES, FP_GATE, FP_ROW0,
       FP_ROWS };
enum { GC_METHOD, GC_V_OFF, GC_G_OFF, GC_POST_OFF, GC_PREGATED, GC_GEN };
enum { FM_BIAS, FM_LN, FM_ACT, FM_BIAS2, FM_RES };
enum { PL_MODE, PL_LN, PL_PAD };
enum { SS_X_OFF, SS_G_OFF, SS_LEN, SS_TAIL, SS_ROWS };
enum { SH_CONV_BIAS, SH_GATE };
enum { TP_BIAS, TP_LN, TP_ROWS };
enum { CS_V_OFF, CS_G_OFF, CS_POST_OFF, CS_PREGATED, CS_POST };

/* pool's `mode`. */
typedef enum { PM_MEAN = 0, PM_LAST = 1, PM_PAD = 2, PM_COUNT } PoolMode;

/* Where each source of a fused_proj sits (-1 when its attrs leave it
 * out), and how many sources the attrs imply. */
typedef struct FpSrc {
	int x, w, bias, ln_g, ln_b, conv_w, conv_b, res;
	int nsrc;
} FpSrc;

void ir_fp_srcs(const Node *n, FpSrc *s);
/* The rows of its weight a fused_proj projects (N): its `rows`, or all
 * of the weight's when rows is 0. */
int64_t ir_fp_rows(const Node *n);

/* The same for gated_conv (g is -1 when pregated; k is -1 and h, w, t,
 * deltas are there when gen) and fused_mlp. */
typedef struct GcSrc {
	int v, g, k, h, w, t, deltas, bias, post; /* k, or h..deltas (gen) */
	int nsrc;
} GcSrc;

void ir_gc_srcs(const Node *n, GcSrc *s);

/* conv_step's: g is -1 when pregated, post -1 without post=1; the
 * history is last. */
typedef struct CsSrc {
	int v, g, k, bias, post, hist;
	int nsrc;
} CsSrc;

void ir_cs_srcs(const Node *n, CsSrc *s);

typedef struct FmSrc {
	int x, w1, b1, ln_g, ln_b, w2, b2, res;
	int nsrc;
} FmSrc;

void ir_fm_srcs(const Node *n, FmSrc *s);
/* Whether source slot k of n is the matrix w of a projection x w^T:
 * linear's w, fused_proj's w, fused_mlp's w1 and w2 (any producer). */
bool ir_proj_slot(const Node *n, int k);
/* Whether g runs slot k of n in bf16: g->bf16, k a projection slot
 * holding a 2-D weight, and n's rows are tokens (its first dim is B:
 * the model's projections and heads, not the implicit filters' MLPs,
 * which stay fp32). The GEMM then reads both operands rounded to bf16
 * (to nearest even) and sums in fp32; the interpreter rounds the same
 * operands, so it gives the bf16 expectation. */
bool ir_bf16_slot(const Graph *g, const Node *n, int k);
/* x rounded to the nearest bf16 (ties to even, through float), as a
 * double; NaN stays NaN. */
double ir_bf16_round(double x);
/* The fused_proj act code of a unary activation op, FP_ACT_NONE if none. */
FpAct ir_fp_act_of(OpKind op);

/* ---- types ------------------------------------------------------------ */

const char *ir_dtype_name(DType t);
bool ir_type_eq(const TensorType *a, const TensorType *b);
/* Element count with B and L bound; false on overflow. */
bool ir_type_numel(const TensorType *t, int64_t B, int64_t L, size_t *out);
/* Writes "f32[B,L,128]" into buf. */
const char *ir_type_str(const TensorType *t, char *buf, size_t n);

/* ---- shape inference and verification (ir/infer.c, ir/verify.c) ------- */

/* Give n its result type from its sources and attributes. Errors name the
 * node; the input type of OP_INPUT/OP_WEIGHT must be set by the builder. */
bool ir_infer(Graph *g, Node *n, Diag *d);
bool ir_infer_graph(Graph *g, Diag *d);
/* Topological order, arity, attrs, unique names, and that every node's
 * type is what inference gives. */
bool ir_verify(const Graph *g, Diag *d);

/* ---- text form (ir/text.c) -------------------------------------------- */

void ir_print(const Graph *g, FILE *f);
/* The graph as Graphviz DOT, fused ops drawn as clusters (ir/dot.c). */
void ir_print_dot(const Graph *g, FILE *f);
/* Parse the text form; `file` names the source in diagnostics. Weight
 * nodes come back unbound. */
Graph *ir_parse(Arena *a, const char *text, const char *file, Diag *d);

/* ---- reference interpreter (ir/interp.c) ------------------------------ */

/* Run g on tokens [B, L] (row-major int32). Every node is evaluated with
 * plain loops in double; the long convolution is computed directly.
 * On success outs[i] (for g->outputs[i]) is a malloc'd float array the
 * caller frees, of the output's type with B and L bound. */
bool ir_interp(const Graph *g, const int32_t *tokens, int64_t B, int64_t L,
               float **outs, Diag *d);
/* The same for entry e's outputs (outs[i] for e->outputs[i]); only the
 * nodes e needs are evaluated. */
bool ir_interp_entry(const Graph *g, const EntryPoint *e, const int32_t *tokens,
                     int64_t B, int64_t L, float **outs, Diag *d);
/* One decode step of entry e (`entry step`): tokens [B] at position pos
 * (the entry runs with L = 1), state[i] the float array of state slot i
 * (nslots of them, each [B, R, C] as its state node says), read and
 * written in place. */
bool ir_interp_step(const Graph *g, const EntryPoint *e, const int32_t *tokens,
                    int64_t B, int64_t pos, float **state, int nslots,
                    float **outs, Diag *d);

#endif
