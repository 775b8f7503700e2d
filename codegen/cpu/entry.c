/*
 * entry.c - the CPU module's entry points and glue. One loop emits a
 * function per entry (ir.h): the full forward (the graph's outputs) and
 * each entry passes/entries.c made, every one calling the kernels of the
 * nodes its outputs need in graph order, row-wise ones through the
 * runtime's pool by a thunk per kernel. The functions of runtime/hyrt.h
 * only pick one: hyenac_run the entry whose outputs are exactly the ones
 * asked for (else the full forward), hyenac_run_pooled `entry pooled`,
 * hyenac_run_classify `entry classify`, hyenac_run_hidden `entry
 * hidden_states`.
 * Also hyenac_scratch_bytes and the scratch layout (the memory plan of
 * passes/memplan.c, or a bump in a graph that was not planned), the
 * globals of runtime/hyrt.h (hyenac_meta, hyenac_model_name) and the
 * declarations of the runtime functions the kernels call. This file
 * makes and matches no node: what an entry computes is in the graph.
 *
 * A weight is the blob plus its offset, the input is the tokens pointer,
 * a node that is an entry's output i writes straight into its
 * outputs[i], and every other node lives in scratch.
 */
#include "cpu.h"

#include <stdio.h>
#include <stdlib.h>

/* Functions the kernels call. ORDER EXT: the enum in cpu.h. */
typedef enum {
	SIG_F64_F64,
	SIG_FFT,
	SIG_HYENA_FFT,
	SIG_HYENA_FFT_CONST,
	SIG_PARALLEL_FOR,
	SIG_HYENA_FFT_GEN,
	SIG_STATE_SAVE,
	SIG_TAIL_PROJ,
	SIG_SHORT_STEP,
	SIG_CONV_STEP,
	SIG_SPECTRA_KEPT
} ExtSig;

static const struct {
	const char *name;
	ExtSig sig;
} ext_sig[] = {
	[EXT_SIN] = {"sin", SIG_F64_F64},
	[EXT_COS] = {"cos", SIG_F64_F64},
	[EXT_FFT] = {"hyrt_longconv_fft", SIG_FFT},
	[EXT_HYENA_FFT] = {"hyrt_hyena_conv_fft", SIG_HYENA_FFT},
	[EXT_HYENA_FFT_CONST] = {"hyrt_hyena_conv_fft_const",
	                         SIG_HYENA_FFT_CONST},
	[EXT_PARALLEL_FOR] = {"hyrt_parallel_for", SIG_PARALLEL_FOR},
	[EXT_HYENA_FFT_GEN] = {"hyrt_hyena_conv_fft_gen", SIG_HYENA_FFT_GEN},
	[EXT_STATE_SAVE] = {"hyrt_state_save", SIG_STATE_SAVE},
	[EXT_TAIL_PROJ] = {"hyrt_tail_proj", SIG_TAIL_PROJ},
	[EXT_SHORT_STEP] = {"hyrt_short_step", SIG_SHORT_STEP},
	[EXT_CONV_STEP] = {"hyrt_conv_step", SIG_CONV_STEP},
	[EXT_SPECTRA_KEPT] = {"hyrt_spectra_kept", SIG_SPECTRA_KEPT},
};
_Static_assert(sizeof ext_sig / sizeof ext_sig[0] == EXT_COUNT, "ext_sig");

/* A kernel whose output rows (all dims but the last) can be computed in
 * any order and in any split, each from whole inputs: hyenac_run hands
 * these to the runtime's pool a range of rows at a time. The long
 * convolutions are not (they parallelise inside the runtime). */
bool cg_row_wise(const Node *n)
{
	if (n->type.rank < 1 || !(ir_op_info(n->op)->flags & OPF_ROWWISE))
		return false;
	/* a slice along the last axis copies whole rows' parts; along
	 * another axis its rows are not its input's */
	return n->op != OP_SLICE || n->iattr[0] == n->type.rank - 1;
}


/* `void @name.rows(ptr ctx, i64 lo, i64 hi)`: kernel k on rows [lo, hi),
 * its other arguments read from the ctx array hyenac_run filled (one
 * 8-byte slot each: out, the sources, B, L). */
LLVMValueRef cg_emit_thunk(CgContext *c, const Node *n, LLVMValueRef k)
{
	LLVMTypeRef pt[] = {c->t_ptr, c->t_i64, c->t_i64};
	char name[256];
	LLVMValueRef a[IR_MAX_SRC + 5];
	int np = n->nsrc + 3;

	snprintf(name, sizeof name, "%s.rows", n->name);
	LLVMValueRef fn = LLVMAddFunction(c->mod, name,
	                                  LLVMFunctionType(c->t_void, pt, 3, 0));
	LLVMSetLinkage(fn, LLVMInternalLinkage);
	cg_fn_attrs(c, fn);
	LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(
	                                   c->ctx, fn, "entry"));
	LLVMValueRef ctx = LLVMGetParam(fn, 0);
	for (int i = 0; i < np; i++)
		a[i] = LLVMBuildLoad2(c->b, i < np - 2 ? c->t_ptr : c->t_i64,
		                      elem(c, c->t_i64, ctx, i64c(c, i)), "");
	a[np] = LLVMGetParam(fn, 1);
	a[np + 1] = LLVMGetParam(fn, 2);
	LLVMBuildCall2(c->b, LLVMGlobalGetValueType(k), k, a, (unsigned)np + 2,
	               "");
	LLVMBuildRetVoid(c->b);
	return fn;
}

/* The kernels one full forward runs (what --stats reports): the nodes
 * the graph's outputs need, not the entries' own. */
int cg_kernel_count(const Graph *g)
{
	bool *live = calloc((size_t)g->nnodes + 1, sizeof *live);
	int k = 0;

	HY_ASSERT(live);
	ir_entry_live(g, NULL, live);
	for (int i = 0; i < g->nnodes; i++)
		k += live[i] && cg_computes(g->nodes[i]);
	free(live);
	return k;
}

/* outidx[id]: 0 for a computing node that is an output of the graph or
 * of an entry (it writes into its caller's array and has no scratch),
 * else -1. */
static void output_slots(const Graph *g, int *outidx)
{
	for (int i = 0; i < g->nnodes; i++)
		outidx[i] = cg_computes(g->nodes[i]) && ir_is_output(g, g->nodes[i])
		                ? 0
		                : -1;
}

static LLVMValueRef bytes_of(CgContext *c, const TensorType *t)
{
	return mul(c, numel_all(c, t), i64c(c, 4));
}

/* The memory plan's layout (passes/memplan.c) for the current function's
 * B and L: the token region ([B*L] units), then the position region ([L]
 * units), then the fixed one, then the sample one ([B] units: a decode
 * step's rows); a node sits at its region's base plus its offset times
 * the unit. Returns the total. */
static LLVMValueRef planned_layout(CgContext *c, const int *outidx,
                                   LLVMValueRef *off)
{
	const Graph *g = c->g;
	LLVMValueRef unit[MEM_COUNT], base[MEM_COUNT];

	unit[MEM_TOKEN] = mul(c, c->B, c->L);
	unit[MEM_POSITION] = c->L;
	unit[MEM_FIXED] = i64c(c, 1);
	unit[MEM_SAMPLE] = c->B;
	base[MEM_TOKEN] = i64c(c, 0);
	base[MEM_POSITION] = mul(c, i64c(c, g->region_bytes[MEM_TOKEN]),
	                         unit[MEM_TOKEN]);
	base[MEM_FIXED] = add(c, base[MEM_POSITION],
	                      mul(c, i64c(c, g->region_bytes[MEM_POSITION]),
	                          unit[MEM_POSITION]));
	base[MEM_SAMPLE] = add(c, base[MEM_FIXED],
	                       i64c(c, g->region_bytes[MEM_FIXED]));
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (!cg_computes(n) || outidx[i] >= 0)
			continue;
		HY_ASSERT(n->region > MEM_NONE && n->region < MEM_COUNT);
		off[i] = add(c, base[n->region],
		             mul(c, i64c(c, n->offset), unit[n->region]));
	}
	return add(c, base[MEM_SAMPLE],
	           mul(c, i64c(c, g->region_bytes[MEM_SAMPLE]), unit[MEM_SAMPLE]));
}

/* The layout of scratch for the current function's B and L: off[id] for
 * every node that lives there; returns the total. Without a memory plan,
 * a bump: every node its own slice, in node order. */
static LLVMValueRef scratch_layout(CgContext *c, const int *outidx,
                                   LLVMValueRef *off)
{
	const Graph *g = c->g;
	LLVMValueRef at = i64c(c, 0);
	LLVMValueRef mask = i64c(c, -(int64_t)CG_SCRATCH_ALIGN);

	if (g->planned)
		return planned_layout(c, outidx, off);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (!cg_computes(n) || outidx[i] >= 0)
			continue;
		off[i] = at;
		LLVMValueRef sz = add(c, bytes_of(c, &n->type),
		                      i64c(c, CG_SCRATCH_ALIGN - 1));
		at = add(c, at, LLVMBuildAnd(c->b, sz, mask, ""));
	}
	return at;
}

/* A defined, exported function; c->B/c->L set from params bi/li. */
static LLVMValueRef public_fn(CgContext *c, const char *name, LLVMTypeRef ret,
                              LLVMTypeRef *pt, unsigned np)
{
	LLVMValueRef fn = LLVMAddFunction(c->mod, name,
	                                  LLVMFunctionType(ret, pt, np, 0));
	cg_fn_attrs(c, fn);
	return fn;
}

static void emit_scratch_bytes(CgContext *c, LLVMValueRef fn,
                               const int *outidx, LLVMValueRef *off)
{
	c->fn = fn;
	c->B = LLVMGetParam(fn, 0);
	c->L = LLVMGetParam(fn, 1);
	LLVMSetValueName2(c->B, "B", 1);
	LLVMSetValueName2(c->L, "L", 1);
	LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(
	                                   c->ctx, fn, "entry"));
	LLVMBuildRet(c->b, scratch_layout(c, outidx, off));
}

/* The ops that run at the step's position: their kernels' L is it. */
static bool step_op(const Node *n)
{
	return n->op == OP_SHORT_STEP || n->op == OP_CONV_STEP;
}

/* Bytes of state slot s of g (64-byte aligned) per sample, and of the
 * slots before it: the layout of the generation state (one buffer, the
 * slots in order, each [B, R, C]). */
static int64_t slot_bytes(const Graph *g, int64_t slot)
{
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (n->op == OP_STATE && n->iattr[0] == slot)
			return (n->type.dim[1] * n->type.dim[2] * 4 + 63) / 64 * 64;
	}
	return -1;
}

static int64_t slot_offset(const Graph *g, int64_t slot)
{
	int64_t off = 0;
	for (int64_t s = 0; s < slot; s++) {
		int64_t b = slot_bytes(g, s);
		HY_ASSERT(b >= 0);
		off += b;
	}
	return off;
}

static int64_t state_slots(const Graph *g)
{
	int64_t n = 0;
	while (slot_bytes(g, n) >= 0)
		n++;
	return n;
}

/* The call of node n's kernel k writing to out: straight, or rows at a
 * time through the pool when it has a thunk (its arguments go in ctx). */
static void call_kernel(CgContext *c, const Node *n, LLVMValueRef k,
                        LLVMValueRef thunk, LLVMValueRef ctx,
                        LLVMValueRef out, const LLVMValueRef *at)
{
	LLVMValueRef a[IR_MAX_SRC + 5];

	a[0] = out;
	for (int j = 0; j < n->nsrc; j++) {
		a[j + 1] = at[n->src[j]->id];
		if (cg_proj_slot(c, n, j)) {
			const CgWeights *w = c->w;
			int id = n->src[j]->id;
			LLVMValueRef o = i64c(c, (int64_t)(cg_bf16_slot(c, n, j)
			                                       ? w->bpanels[id]
			                                       : w->panels[id]));
			a[j + 1] = LLVMBuildInBoundsGEP2(
			    c->b, LLVMInt8TypeInContext(c->ctx), c->weights, &o, 1, "");
		}
	}
	a[n->nsrc + 1] = c->B;
	a[n->nsrc + 2] = step_op(n) ? c->pos : c->L;
	LLVMValueRef rows = numel(c, &n->type, 0, n->type.rank - 1);
	if (!thunk) {
		a[n->nsrc + 3] = i64c(c, 0);
		a[n->nsrc + 4] = rows;
		LLVMBuildCall2(c->b, LLVMGlobalGetValueType(k), k, a,
		               (unsigned)n->nsrc + 5, "");
		return;
	}
	for (int j = 0; j < n->nsrc + 3; j++)
		LLVMBuildStore(c->b, a[j], elem(c, c->t_i64, ctx, i64c(c, j)));
	LLVMValueRef pa[] = {thunk, ctx, rows, i64c(c, cg_row_grain(c, n))};
	cg_call_ext(c, EXT_PARALLEL_FOR, pa, 4);
}

/* Whether src slot k of gated_conv{gen} u is read only by its filter
 * generator: h, w, t or deltas. */
static bool filter_operand(const Node *u, int k)
{
	GcSrc gs;
	ir_gc_srcs(u, &gs);
	return k == gs.h || k == gs.w || k == gs.t || k == gs.deltas;
}

/* EntryPoint e's function, `void @hyenac.entry.NAME(ptr weights, ptr tokens,
 * i64 B, i64 L, ptr outputs, ptr scratch)`: the kernels of the nodes its
 * outputs need, in graph order, outputs[k] receiving e's output k. An
 * output whose array is NULL is not computed unless an output that is
 * computed reads it (then the caller must give it), nor is a node that
 * only such outputs need; a node that is output k twice, or an input or
 * weight, is copied. */
static void emit_entry(CgContext *c, LLVMValueRef fn, const EntryPoint *e)
{
	const Graph *g = c->g;
	size_t nn = (size_t)g->nnodes + 1;
	bool *live = calloc(nn, sizeof *live);
	int *slot = malloc(nn * sizeof *slot);
	LLVMValueRef *need = calloc(nn, sizeof *need), *at = c->at;
	LLVMValueRef *wanted = calloc(nn, sizeof *wanted);
	LLVMValueRef *dst = calloc((size_t)e->noutputs + 1, sizeof *dst);
	static const char *pname[] = {"weights", "tokens", "B",     "L",
	                              "outputs", "scratch", "state", "pos"};

	HY_ASSERT(live && slot && need && wanted && dst);
	ir_entry_live(g, e, live);
	for (int i = 0; i < g->nnodes; i++)
		slot[i] = -1;
	for (int k = e->noutputs - 1; k >= 0; k--)
		if (cg_computes(e->outputs[k].node))
			slot[e->outputs[k].node->id] = k;
	for (unsigned i = 0; i < 8; i++)
		LLVMSetValueName2(LLVMGetParam(fn, i), pname[i],
		                  strlen(pname[i]));
	c->state = LLVMGetParam(fn, 6);
	c->pos = LLVMGetParam(fn, 7);
	LLVMValueRef weights = LLVMGetParam(fn, 0), tokens = LLVMGetParam(fn, 1);
	LLVMValueRef outputs = LLVMGetParam(fn, 4), scratch = LLVMGetParam(fn, 5);
	c->fn = fn;
	c->B = LLVMGetParam(fn, 2);
	c->L = LLVMGetParam(fn, 3);
	c->weights = weights;
	LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(
	                                   c->ctx, fn, "entry"));
	/* the argument slots of the row-wise kernels' thunks */
	LLVMValueRef ctx = LLVMBuildAlloca(
	    c->b, LLVMArrayType2(c->t_i64, IR_MAX_SRC + 3), "ctx");
	scratch_layout(c, c->outidx, c->off);
	for (int k = 0; k < e->noutputs; k++)
		dst[k] = LLVMBuildLoad2(c->b, c->t_ptr,
		                        elem(c, c->t_ptr, outputs, i64c(c, k)),
		                        e->outputs[k].name);
	/* need[i]: whether node i runs, NULL when it always does: an output
	 * whose array was given, or a node read by a node that runs. So an
	 * entry's outputs not asked for cost nothing, nor does what only
	 * they read (hidden_states' blocks after the state asked for). A
	 * filter generator's operands are read only while its spectra are
	 * not kept (wanted[j]), so once the first forward at an L has kept
	 * them, the filter MLP that only they read does not run again. */
	for (int j = 0; j < g->nnodes; j++)
		if (live[j])
			wanted[j] = cg_filter_wanted(c, g->nodes[j]);
	for (int i = g->nnodes - 1; i >= 0; i--) {
		if (!live[i] || !cg_computes(g->nodes[i]))
			continue;
		LLVMValueRef v = slot[i] >= 0
		                     ? LLVMBuildIsNotNull(c->b, dst[slot[i]], "")
		                     : LLVMConstInt(c->t_i1, 0, 0);
		bool always = false;
		for (int j = i + 1; j < g->nnodes && !always; j++) {
			const Node *u = g->nodes[j];
			bool reads = false, by_gen = wanted[j] != NULL;
			for (int k = 0; k < u->nsrc; k++) {
				if (u->src[k] != g->nodes[i])
					continue;
				reads = true;
				by_gen = by_gen && filter_operand(u, k);
			}
			if (!live[j] || !reads)
				continue;
			LLVMValueRef w = need[j];
			if (by_gen)
				w = w ? LLVMBuildAnd(c->b, w, wanted[j], "") : wanted[j];
			if (!w)
				always = true;
			else
				v = LLVMBuildOr(c->b, v, w, "");
		}
		need[i] = always ? NULL : v;
	}
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (!live[i])
			continue;
		if (n->op == OP_INPUT) {
			at[i] = tokens;
			continue;
		}
		if (n->op == OP_STATE) { /* slot i of the caller's state */
			LLVMValueRef o = mul(c, c->B,
			                     i64c(c, slot_offset(g, n->iattr[0])));
			at[i] = LLVMBuildInBoundsGEP2(c->b, LLVMInt8TypeInContext(c->ctx),
			                              c->state, &o, 1, n->name);
			continue;
		}
		if (n->op == OP_WEIGHT && c->w->offset[i] == SIZE_MAX) {
			/* only bf16 panels of it are stored (weights.c) */
			at[i] = LLVMConstPointerNull(c->t_ptr);
			continue;
		}
		if (n->op == OP_WEIGHT) {
			LLVMValueRef o = i64c(c, (int64_t)c->w->offset[i]);
			at[i] = LLVMBuildInBoundsGEP2(c->b, LLVMInt8TypeInContext(c->ctx),
			                              weights, &o, 1, n->name);
			continue;
		}
		if (slot[i] < 0) {
			/* memplan gives outputs no scratch; verify keeps an
			 * entry from reading another's output */
			HY_ASSERT(c->outidx[i] < 0);
			at[i] = LLVMBuildInBoundsGEP2(c->b,
			                              LLVMInt8TypeInContext(c->ctx),
			                              scratch, &c->off[i], 1, n->name);
		} else {
			at[i] = dst[slot[i]];
		}
		if (!need[i]) {
			call_kernel(c, n, c->kern[i], c->thunk[i], ctx, at[i], at);
			continue;
		}
		LLVMBasicBlockRef brun = LLVMAppendBasicBlockInContext(c->ctx, fn,
		                                                       "run");
		LLVMBasicBlockRef bnext = LLVMAppendBasicBlockInContext(c->ctx, fn,
		                                                        "next");
		LLVMBuildCondBr(c->b, need[i], brun, bnext);
		LLVMPositionBuilderAtEnd(c->b, brun);
		call_kernel(c, n, c->kern[i], c->thunk[i], ctx, at[i], at);
		LLVMBuildBr(c->b, bnext);
		LLVMPositionBuilderAtEnd(c->b, bnext);
	}
	/* Outputs that are not some node's own destination: copies. */
	for (int k = 0; k < e->noutputs; k++) {
		const Node *n = e->outputs[k].node;
		if (cg_computes(n) && slot[n->id] == k)
			continue;
		LLVMBasicBlockRef bcopy = LLVMAppendBasicBlockInContext(c->ctx, fn,
		                                                        "copy");
		LLVMBasicBlockRef bnext = LLVMAppendBasicBlockInContext(c->ctx, fn,
		                                                        "copied");
		LLVMBuildCondBr(c->b, LLVMBuildIsNull(c->b, dst[k], ""), bnext,
		                bcopy);
		LLVMPositionBuilderAtEnd(c->b, bcopy);
		LLVMBuildMemCpy(c->b, dst[k], 4, at[n->id], 4,
		                bytes_of(c, &n->type));
		LLVMBuildBr(c->b, bnext);
		LLVMPositionBuilderAtEnd(c->b, bnext);
	}
	LLVMBuildRetVoid(c->b);
	free(live);
	free(slot);
	free(need);
	free(wanted);
	free(dst);
}

/* EntryPoint i of the module: 0 the full forward, then g->entries. */
static const EntryPoint *entry_at(const CgContext *c, int i, EntryPoint *full)
{
	if (i > 0)
		return &c->g->entries[i - 1];
	ir_entry_full(c->g, full);
	return full;
}

/* The index of the graph output named s, or -1. */
static int graph_output(const Graph *g, const char *s)
{
	for (int i = 0; i < g->noutputs; i++)
		if (strcmp(g->outputs[i].name, s) == 0)
			return i;
	return -1;
}

/* hyenac_run(weights, tokens, B, L, outputs, scratch): the entry whose
 * outputs are graph outputs and are exactly the ones given (non-NULL),
 * if there is one (so logits without hidden run `entry logits`), else
 * the full forward. */
/* The index of the entry named s, or -1. */
static int entry_named(const Graph *g, const char *s)
{
	for (int k = 0; k < g->nentries; k++)
		if (strcmp(g->entries[k].name, s) == 0)
			return k;
	return -1;
}

/* Start emitting public function fn's body. */
static void begin_body(CgContext *c, LLVMValueRef fn)
{
	c->fn = fn;
	LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(
	                                   c->ctx, fn, "entry"));
}

/* The call of entry function k (0 the full forward, 1 + i entry i):
 * a[0..3] weights, tokens, B, L; outs its output array; then scratch,
 * the generation state (NULL outside generation) and the step's
 * position. */
static void call_entry(CgContext *c, int k, const LLVMValueRef a[4],
                       LLVMValueRef outs, LLVMValueRef scratch,
                       LLVMValueRef state, LLVMValueRef pos)
{
	LLVMValueRef args[] = {a[0], a[1], a[2], a[3], outs, scratch,
	                       state ? state : LLVMConstPointerNull(c->t_ptr),
	                       pos ? pos : i64c(c, 0)};
	LLVMValueRef f = c->f_entry[k];
	LLVMBuildCall2(c->b, LLVMGlobalGetValueType(f), f, args, 8, "");
}

static void emit_run(CgContext *c, LLVMValueRef fn)
{
	const Graph *g = c->g;
	LLVMValueRef p[6];
	bool *want = calloc((size_t)g->noutputs + 1, sizeof *want);
	LLVMValueRef *given = calloc((size_t)g->noutputs + 1, sizeof *given);

	HY_ASSERT(want && given);
	for (unsigned i = 0; i < 6; i++)
		p[i] = LLVMGetParam(fn, i);
	begin_body(c, fn);
	for (int k = 0; k < g->nentries; k++) {
		const EntryPoint *e = &g->entries[k];
		int map[IR_MAX_ENTRY_OUT];
		bool ok = true;
		memset(want, 0, (size_t)g->noutputs * sizeof *want);
		for (int j = 0; j < e->noutputs && ok; j++) {
			map[j] = graph_output(g, e->outputs[j].name);
			ok = map[j] >= 0;
			if (ok)
				want[map[j]] = true;
		}
		if (!ok)
			continue;
		LLVMValueRef cond = LLVMConstInt(c->t_i1, 1, 0);
		for (int i = 0; i < g->noutputs; i++) {
			given[i] = LLVMBuildLoad2(c->b, c->t_ptr,
			                          elem(c, c->t_ptr, p[4], i64c(c, i)), "");
			LLVMValueRef nn = want[i] ? LLVMBuildIsNotNull(c->b, given[i], "")
			                          : LLVMBuildIsNull(c->b, given[i], "");
			cond = LLVMBuildAnd(c->b, cond, nn, "");
		}
		LLVMBasicBlockRef bcall = LLVMAppendBasicBlockInContext(
		    c->ctx, fn, e->name);
		LLVMBasicBlockRef bnext = LLVMAppendBasicBlockInContext(c->ctx, fn,
		                                                        "next");
		LLVMBuildCondBr(c->b, cond, bcall, bnext);
		LLVMPositionBuilderAtEnd(c->b, bcall);
		LLVMValueRef arr = LLVMBuildArrayAlloca(
		    c->b, c->t_ptr, i64c(c, e->noutputs), "outs");
		for (int j = 0; j < e->noutputs; j++)
			LLVMBuildStore(c->b, given[map[j]],
			               elem(c, c->t_ptr, arr, i64c(c, j)));
		call_entry(c, 1 + k, p, arr, p[5], NULL, NULL);
		LLVMBuildRetVoid(c->b);
		LLVMPositionBuilderAtEnd(c->b, bnext);
	}
	call_entry(c, 0, p, p[4], p[5], NULL, NULL);
	LLVMBuildRetVoid(c->b);
	free(want);
	free(given);
}

/* hyenac_run_pooled(weights, tokens, B, L, mean, last, scratch): `entry
 * pooled`, its outputs named mean and last given those arrays; returns
 * 1, or 0 (pooling nothing) when the graph has no such entry. */
static void emit_run_pooled(CgContext *c, LLVMValueRef fn)
{
	const Graph *g = c->g;
	int k = entry_named(g, "pooled");

	begin_body(c, fn);
	if (k < 0) {
		LLVMBuildRet(c->b, LLVMConstInt(c->t_i32, 0, 0));
		return;
	}
	const EntryPoint *e = &g->entries[k];
	LLVMValueRef arr = LLVMBuildArrayAlloca(c->b, c->t_ptr,
	                                        i64c(c, e->noutputs), "outs");
	for (int j = 0; j < e->noutputs; j++) {
		const char *s = e->outputs[j].name;
		LLVMValueRef v = strcmp(s, "mean") == 0   ? LLVMGetParam(fn, 4)
		                 : strcmp(s, "last") == 0 ? LLVMGetParam(fn, 5)
		                                          : LLVMConstPointerNull(c->t_ptr);
		LLVMBuildStore(c->b, v, elem(c, c->t_ptr, arr, i64c(c, j)));
	}
	LLVMValueRef a[4];
	for (unsigned i = 0; i < 4; i++)
		a[i] = LLVMGetParam(fn, i);
	call_entry(c, 1 + k, a, arr, LLVMGetParam(fn, 6), NULL, NULL);
	LLVMBuildRet(c->b, LLVMConstInt(c->t_i32, 1, 0));
}

/* hyenac_run_classify(weights, tokens, B, L, logits, scratch): `entry
 * classify` (its one output, logits [B, num_labels]); returns 1, or 0
 * (computing nothing) when the graph has no such entry. */
static void emit_run_classify(CgContext *c, LLVMValueRef fn)
{
	const Graph *g = c->g;
	int k = entry_named(g, "classify");

	begin_body(c, fn);
	if (k < 0 || g->entries[k].noutputs != 1) {
		LLVMBuildRet(c->b, LLVMConstInt(c->t_i32, 0, 0));
		return;
	}
	LLVMValueRef arr = LLVMBuildArrayAlloca(c->b, c->t_ptr, i64c(c, 1),
	                                        "outs");
	LLVMBuildStore(c->b, LLVMGetParam(fn, 4), arr);
	LLVMValueRef a[4];
	for (unsigned i = 0; i < 4; i++)
		a[i] = LLVMGetParam(fn, i);
	call_entry(c, 1 + k, a, arr, LLVMGetParam(fn, 5), NULL, NULL);
	LLVMBuildRet(c->b, LLVMConstInt(c->t_i32, 1, 0));
}

/* hyenac_run_hidden(weights, tokens, B, L, outputs, scratch): `entry
 * hidden_states`, outputs[k] (NULL: not wanted) its output k; returns
 * the entry's output count (n_layer + 2), or 0 (computing nothing) when
 * the graph has no such entry. */
static void emit_run_hidden(CgContext *c, LLVMValueRef fn)
{
	const Graph *g = c->g;
	int k = entry_named(g, "hidden_states");

	begin_body(c, fn);
	if (k < 0) {
		LLVMBuildRet(c->b, LLVMConstInt(c->t_i32, 0, 0));
		return;
	}
	LLVMValueRef a[4];
	for (unsigned i = 0; i < 4; i++)
		a[i] = LLVMGetParam(fn, i);
	call_entry(c, 1 + k, a, LLVMGetParam(fn, 4), LLVMGetParam(fn, 5), NULL,
	           NULL);
	LLVMBuildRet(c->b, LLVMConstInt(c->t_i32,
	                                (unsigned)g->entries[k].noutputs, 0));
}

/* hyenac_state_bytes(B): the generation state of B samples (0 when the
 * graph has no step entry); hyenac_prefill(weights, tokens, B, L, logits,
 * scratch, state): `entry prefill`, its state<i> outputs written to slot
 * i of state; hyenac_step(weights, tokens, B, pos, logits, scratch,
 * state): `entry step` at position pos, L = 1. Both return 0 (doing
 * nothing) without those entries, else 1. */
static void emit_generation(CgContext *c)
{
	const Graph *g = c->g;
	int kp = entry_named(g, "prefill"), ks = entry_named(g, "step");
	bool have = kp >= 0 && ks >= 0;
	int64_t total = have ? slot_offset(g, state_slots(g)) : 0;

	begin_body(c, c->f_state_bytes);
	LLVMBuildRet(c->b, LLVMBuildMul(c->b, LLVMGetParam(c->fn, 0),
	                                i64c(c, total), ""));
	for (int which = 0; which < 2; which++) {
		LLVMValueRef fn = which ? c->f_step : c->f_prefill;
		begin_body(c, fn);
		if (!have) {
			LLVMBuildRet(c->b, LLVMConstInt(c->t_i32, 0, 0));
			continue;
		}
		const EntryPoint *e = &g->entries[which ? ks : kp];
		LLVMValueRef B = LLVMGetParam(fn, 2), st = LLVMGetParam(fn, 6);
		LLVMValueRef arr = LLVMBuildArrayAlloca(c->b, c->t_ptr,
		                                        i64c(c, e->noutputs), "outs");
		for (int j = 0; j < e->noutputs; j++) {
			const char *s = e->outputs[j].name;
			LLVMValueRef v;
			if (strcmp(s, "logits") == 0) {
				v = LLVMGetParam(fn, 4);
			} else {
				int64_t slot = atoll(s + 5);
				HY_ASSERT(strncmp(s, "state", 5) == 0);
				LLVMValueRef o = LLVMBuildMul(c->b, B,
				                              i64c(c, slot_offset(g, slot)), "");
				v = LLVMBuildInBoundsGEP2(c->b, LLVMInt8TypeInContext(c->ctx),
				                          st, &o, 1, "");
			}
			LLVMBuildStore(c->b, v, elem(c, c->t_ptr, arr, i64c(c, j)));
		}
		/* the step: L = 1, its position in parameter 3 */
		LLVMValueRef a[] = {LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), B,
		                    which ? i64c(c, 1) : LLVMGetParam(fn, 3)};
		call_entry(c, 1 + (which ? ks : kp), a, arr, LLVMGetParam(fn, 5), st,
		           which ? LLVMGetParam(fn, 3) : NULL);
		LLVMBuildRet(c->b, LLVMConstInt(c->t_i32, 1, 0));
	}
}

static void emit_globals(CgContext *c, const int64_t *meta)
{
	LLVMValueRef v[HYRT_META_COUNT];
	LLVMTypeRef at = LLVMArrayType2(c->t_i64, HYRT_META_COUNT);
	size_t len = strlen(c->g->name);

	for (int i = 0; i < HYRT_META_COUNT; i++)
		v[i] = i64c(c, meta ? meta[i] : 0);
	LLVMValueRef m = LLVMAddGlobal(c->mod, at, "hyenac_meta");
	LLVMSetInitializer(m, LLVMConstArray2(c->t_i64, v, HYRT_META_COUNT));
	LLVMSetGlobalConstant(m, 1);
	LLVMValueRef s = LLVMConstStringInContext2(c->ctx, c->g->name, len, 0);
	LLVMValueRef nm = LLVMAddGlobal(c->mod, LLVMTypeOf(s),
	                                "hyenac_model_name");
	LLVMSetInitializer(nm, s);
	LLVMSetGlobalConstant(nm, 1);
	/* What the runtime checks at start-up (runtime/cpucheck.h). */
	const char *const rec[][2] = {{"hyenac_target_cpu", c->cpu},
	                              {"hyenac_target_features", c->uses}};
	for (int i = 0; i < 2; i++) {
		LLVMValueRef r = LLVMConstStringInContext2(
		    c->ctx, rec[i][1], strlen(rec[i][1]), 0);
		LLVMValueRef gv = LLVMAddGlobal(c->mod, LLVMTypeOf(r), rec[i][0]);
		LLVMSetInitializer(gv, r);
		LLVMSetGlobalConstant(gv, 1);
	}
	/* The FFT plans `hyenac compile` measured (runtime/fftconv.c). */
	const char *wis = c->o && c->o->fftw_wisdom ? c->o->fftw_wisdom : "";
	LLVMValueRef ws = LLVMConstStringInContext2(c->ctx, wis, strlen(wis), 0);
	LLVMValueRef wg = LLVMAddGlobal(c->mod, LLVMTypeOf(ws),
	                                "hyenac_fftw_wisdom");
	LLVMSetInitializer(wg, ws);
	LLVMSetGlobalConstant(wg, 1);
	/* A classifier's labels, each NUL-terminated (CgOptions gives them
	 * '\n'-terminated), so that the runtime hands out pointers into it. */
	const char *labels = c->o && c->o->labels ? c->o->labels : "";
	size_t ln = strlen(labels);
	char *z = malloc(ln + 1);
	HY_ASSERT(z);
	for (size_t i = 0; i <= ln; i++)
		z[i] = labels[i] == '\n' ? 0 : labels[i];
	LLVMValueRef r = LLVMConstStringInContext2(c->ctx, z, ln, 0);
	free(z);
	LLVMValueRef gl = LLVMAddGlobal(c->mod, LLVMTypeOf(r), "hyenac_labels");
	LLVMSetInitializer(gl, r);
	LLVMSetGlobalConstant(gl, 1);
}

static void declare_externals(CgContext *c)
{
	LLVMTypeRef f64 = c->t_f64;
	LLVMTypeRef fft[] = {c->t_ptr, c->t_ptr, c->t_ptr,
	                     c->t_i64, c->t_i64, c->t_i64};
	/* y, v, vs, g, gs, k, bias, post, ps, B, L, C */
	LLVMTypeRef hfft[] = {c->t_ptr, c->t_ptr, c->t_i64, c->t_ptr,
	                      c->t_i64, c->t_ptr, c->t_ptr, c->t_ptr,
	                      c->t_i64, c->t_i64, c->t_i64, c->t_i64};
	/* fn(ctx, lo, hi), ctx, n, grain */
	LLVMTypeRef pfor[] = {c->t_ptr, c->t_ptr, c->t_i64, c->t_i64};
	/* y, v, vs, g, gs, k, bias, post, ps, B, L, C, kept */
	LLVMTypeRef hcst[] = {c->t_ptr, c->t_ptr, c->t_i64, c->t_ptr,
	                      c->t_i64, c->t_ptr, c->t_ptr, c->t_ptr,
	                      c->t_i64, c->t_i64, c->t_i64, c->t_i64,
	                      c->t_ptr};
	/* y, v, vs, g, gs, gen, gen_ctx, bias, post, ps, B, L, C, kept */
	LLVMTypeRef hgen[] = {c->t_ptr, c->t_ptr, c->t_i64, c->t_ptr, c->t_i64,
	                      c->t_ptr, c->t_ptr, c->t_ptr, c->t_ptr, c->t_i64,
	                      c->t_i64, c->t_i64, c->t_i64, c->t_ptr};

	LLVMTypeRef P = c->t_ptr, I = c->t_i64;
	/* out, x, xs, g, gs, k, B, L, R, C, tail */
	LLVMTypeRef ssave[] = {P, P, I, P, I, P, I, I, I, I, I};
	/* out, x, w, bias, ln_g, ln_b, eps, B, L, R, K, N */
	LLVMTypeRef tproj[] = {P, P, P, P, P, P, c->t_f32, I, I, I, I, I};
	/* out, y, w, b, ring, B, pos, N, K, gate */
	LLVMTypeRef sstep[] = {P, P, P, P, P, I, I, I, I, I};
	/* out, v, vs, g, gs, k, bias, post, ps, hist, B, pos, D, R */
	LLVMTypeRef cstep[] = {P, P, I, P, I, P, P, P, I, P, I, I, I, I};
	/* slot, L */
	LLVMTypeRef skept[] = {P, I};

	for (int e = 0; e < EXT_COUNT; e++) {
		switch (ext_sig[e].sig) {
		case SIG_STATE_SAVE:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, ssave, 11, 0);
			break;
		case SIG_TAIL_PROJ:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, tproj, 12, 0);
			break;
		case SIG_SHORT_STEP:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, sstep, 10, 0);
			break;
		case SIG_CONV_STEP:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, cstep, 14, 0);
			break;
		case SIG_SPECTRA_KEPT:
			c->ext_ty[e] = LLVMFunctionType(c->t_i32, skept, 2, 0);
			break;
		case SIG_F64_F64:
			c->ext_ty[e] = LLVMFunctionType(f64, &f64, 1, 0);
			break;
		case SIG_FFT:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, fft, 6, 0);
			break;
		case SIG_HYENA_FFT:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, hfft, 12, 0);
			break;
		case SIG_HYENA_FFT_CONST:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, hcst, 13, 0);
			break;
		case SIG_PARALLEL_FOR:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, pfor, 4, 0);
			break;
		case SIG_HYENA_FFT_GEN:
			c->ext_ty[e] = LLVMFunctionType(c->t_void, hgen, 14, 0);
			break;
		}
		c->ext[e] = LLVMAddFunction(c->mod, ext_sig[e].name, c->ext_ty[e]);
		cg_add_enum_attr(c, c->ext[e], LLVMAttributeFunctionIndex,
		                 "nounwind");
	}
}


void cg_cpu_begin(CgContext *c, const int64_t meta[HYRT_META_COUNT])
{
	size_t nn = (size_t)c->g->nnodes + 1;

	c->outidx = calloc(nn, sizeof *c->outidx);
	c->kern = calloc(nn, sizeof *c->kern);
	c->off = calloc(nn, sizeof *c->off);
	c->at = calloc(nn, sizeof *c->at);
	c->thunk = calloc(nn, sizeof *c->thunk);
	HY_ASSERT(c->outidx && c->kern && c->off && c->at && c->thunk);
	output_slots(c->g, c->outidx);

	emit_globals(c, meta);
	LLVMTypeRef sp[] = {c->t_i64, c->t_i64};
	c->f_scratch_bytes = public_fn(c, "hyenac_scratch_bytes", c->t_i64, sp,
	                               2);
	LLVMTypeRef rp[] = {c->t_ptr, c->t_ptr, c->t_i64,
	                    c->t_i64, c->t_ptr, c->t_ptr};
	c->f_run = public_fn(c, "hyenac_run", c->t_void, rp, 6);
	LLVMTypeRef pp[] = {c->t_ptr, c->t_ptr, c->t_i64, c->t_i64,
	                    c->t_ptr, c->t_ptr, c->t_ptr};
	c->f_pooled = public_fn(c, "hyenac_run_pooled", c->t_i32, pp, 7);
	c->f_classify = public_fn(c, "hyenac_run_classify", c->t_i32, rp, 6);
	c->f_hidden = public_fn(c, "hyenac_run_hidden", c->t_i32, rp, 6);
	LLVMTypeRef ep[] = {c->t_ptr, c->t_ptr, c->t_i64, c->t_i64,
	                    c->t_ptr, c->t_ptr, c->t_ptr, c->t_i64};
	c->f_state_bytes = public_fn(c, "hyenac_state_bytes", c->t_i64, sp, 1);
	c->f_prefill = public_fn(c, "hyenac_prefill", c->t_i32, pp, 7);
	c->f_step = public_fn(c, "hyenac_step", c->t_i32, pp, 7);
	for (int i = 0; i <= c->g->nentries; i++) {
		EntryPoint full;
		char name[128];
		snprintf(name, sizeof name, "hyenac.entry.%s",
		         entry_at(c, i, &full)->name);
		c->f_entry[i] = public_fn(c, name, c->t_void, ep, 8);
		LLVMSetLinkage(c->f_entry[i], LLVMInternalLinkage);
	}
	declare_externals(c);
}

void cg_cpu_finish(CgContext *c)
{
	EntryPoint full;

	emit_scratch_bytes(c, c->f_scratch_bytes, c->outidx, c->off);
	/* the one loop: a function per entry */
	for (int i = 0; i <= c->g->nentries; i++)
		emit_entry(c, c->f_entry[i], entry_at(c, i, &full));
	emit_run(c, c->f_run);
	emit_run_pooled(c, c->f_pooled);
	emit_run_classify(c, c->f_classify);
	emit_run_hidden(c, c->f_hidden);
	emit_generation(c);
}
