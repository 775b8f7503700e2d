/*
 * memplan.c - the activation memory plan, in the manner of ggml-alloc:
 * walk the nodes in topological order, give each value that needs scratch
 * a block, and return a block to its region's free list after its last
 * consumer has run. A node's block is taken before its sources' blocks are
 * released, so no kernel ever writes over its own inputs; graph inputs,
 * weights and graph outputs (written straight into the caller's arrays)
 * take no scratch.
 *
 * One plan serves the full forward and every entry (ir.h): an entry runs
 * a subset of the nodes in the same order, so each value's lifetime in
 * it lies within its lifetime here, and nothing it reads is overwritten.
 * An entry's nodes sit at the graph's end, after all they read, so
 * whatever they read stays alive until they have run.
 *
 * Shapes scale with the run's B and L, so values are sorted into regions
 * by what their size is proportional to: B*L tokens ([B, L, ...]), L
 * positions ([L, ...]) or nothing. Within a region every size is a
 * multiple of the same unit, so one plan, made in bytes per unit, serves
 * every B and L: a node lives at region base + offset * unit, and the
 * whole arena is region_bytes[TOKEN]*B*L + region_bytes[POSITION]*L +
 * region_bytes[FIXED], known at compile time for the compiled B and L.
 *
 * One exception to "never over its inputs": a gated_conv whose value
 * operand is a pregated projection [post | g*v] that nothing reads
 * after it writes its output over that operand's value half, each
 * element after it has read it (its kernels are made for it: the FFT
 * path scatters a channel block back after gathering it, the direct one
 * runs from the last position down). For that the projection is stored
 * planar (Node.planar), its post half and its value half as two dense
 * [B,L,D] planes, so the value plane is a [B,L,D] block like any other;
 * when the convolution has run, the post plane goes back to the free
 * list and the output keeps the value plane. The layer's token memory
 * falls from residual + 2D + D to residual + 2D floats a token. Not on
 * the GPU (PassOptions.gpu), whose kernels read the row layout.
 * And more, each a node that takes over the block of an operand of its
 * own shape when it is that operand's last reader, its kernel reading
 * each element before it writes it: a sin_linear (a layer of the
 * filter's MLP, CPU only) over its input, so the MLP's layers run in one
 * [L, E] buffer; on the CPU, a pregated gated_conv over its whole value
 * operand (fuse's late_post makes those), and a fused_proj over its
 * residual or post-gate operand (res), which its epilogue reads element
 * by element as it writes the result (codegen/cpu/fused.c), so that a
 * layer whose post gate comes after its convolution holds two D-wide
 * values a token.
 *
 * Free blocks are kept sorted by offset and merged with their neighbours;
 * a request takes the best fitting block, or extends the region.
 *
 * Besides the activations, the plan holds the spectra of the long
 * convolutions' filters, kept between calls by the runtime
 * (runtime/fftconv.c): each FFT gated_conv, in graph order, keeps its
 * spectra (Node.kept_bytes: their size at max_len) when they take at
 * most PASS_SPECTRA_LAYER_LIMIT and the sum stays within
 * PassOptions.spectra_limit; the others make theirs per call, a block of
 * channels at a time (a million tokens: 2 GB a layer, all streamed).
 * The sum is Graph.kept_bytes, part of planned_bytes.
 */
#include "passes.h"
#include "runtime/hyrt.h"

#include <string.h>

enum { ALIGN = 64, MAX_FREE = 256 };

typedef struct Block {
	int64_t off, size;
} Block;

typedef struct Region {
	Block free[MAX_FREE];
	int nfree;
	int64_t end;
} Region;

static int64_t align_up(int64_t x)
{
	return (x + ALIGN - 1) / ALIGN * ALIGN;
}

static int64_t take(Region *r, int64_t size)
{
	int best = -1;
	for (int i = 0; i < r->nfree; i++)
		if (r->free[i].size >= size &&
		    (best < 0 || r->free[i].size < r->free[best].size))
			best = i;
	if (best < 0) {
		/* Grow the region; a free block at its end is reused. */
		if (r->nfree && r->free[r->nfree - 1].off +
		                        r->free[r->nfree - 1].size == r->end) {
			Block *b = &r->free[--r->nfree];
			r->end = b->off + size;
			return b->off;
		}
		int64_t off = r->end;
		r->end += size;
		return off;
	}
	int64_t off = r->free[best].off;
	r->free[best].off += size;
	r->free[best].size -= size;
	if (r->free[best].size == 0) {
		memmove(&r->free[best], &r->free[best + 1],
		        (size_t)(r->nfree - best - 1) * sizeof(Block));
		r->nfree--;
	}
	return off;
}

static void give_back(Region *r, int64_t off, int64_t size)
{
	int i = 0;
	while (i < r->nfree && r->free[i].off < off)
		i++;
	HY_ASSERT(r->nfree < MAX_FREE);
	memmove(&r->free[i + 1], &r->free[i],
	        (size_t)(r->nfree - i) * sizeof(Block));
	r->free[i] = (Block){off, size};
	r->nfree++;
	/* merge with the next, then with the previous */
	if (i + 1 < r->nfree && r->free[i].off + r->free[i].size ==
	                            r->free[i + 1].off) {
		r->free[i].size += r->free[i + 1].size;
		memmove(&r->free[i + 1], &r->free[i + 2],
		        (size_t)(r->nfree - i - 2) * sizeof(Block));
		r->nfree--;
	}
	if (i > 0 && r->free[i - 1].off + r->free[i - 1].size == r->free[i].off) {
		r->free[i - 1].size += r->free[i].size;
		memmove(&r->free[i], &r->free[i + 1],
		        (size_t)(r->nfree - i - 1) * sizeof(Block));
		r->nfree--;
	}
}

/* The region a value belongs to and its size in bytes per unit: the IR's
 * rule (ir_mem_region), which the verifier checks placements by. */
MemRegion pass_mem_region(const TensorType *t, int64_t *unit_bytes)
{
	return ir_mem_region(t, unit_bytes);
}

/* Does node n need scratch of its own? Outputs of the graph and of its
 * entries are written straight into the caller's arrays. */
static bool needs_scratch(const Graph *g, const Node *n)
{
	if (n->op == OP_INPUT || n->op == OP_WEIGHT || n->op == OP_STATE)
		return false;
	return !ir_is_output(g, n);
}

/* Node.kept_bytes of every FFT gated_conv, within limit in all. A layer
 * too large to keep gains least from keeping (its forward is long
 * anyway) and would cost most. */
static void keep_spectra(Graph *g, int64_t limit)
{
	g->kept_bytes = 0;
	for (int i = 0; i < g->nnodes; i++) {
		Node *x = g->nodes[i];
		x->kept_bytes = 0;
		if (x->op != OP_GATED_CONV || x->iattr[GC_METHOD] != CONV_FFT ||
		    g->max_len <= 0)
			continue;
		int64_t b = hyrt_conv_spectra_bytes(g->max_len, x->type.dim[2]);
		if (b > 0 && b <= PASS_SPECTRA_LAYER_LIMIT &&
		    b <= limit - g->kept_bytes) {
			x->kept_bytes = b;
			g->kept_bytes += b;
		}
	}
}

/* The pregated projection gated_conv x (node i) may write its output
 * over (see the top of the file), or NULL. */
static Node *planar_operand(const Graph *g, const Node *x, int i,
                            const int *last, const PassOptions *o)
{
	GcSrc gs;
	if ((o && o->gpu) || x->op != OP_GATED_CONV ||
	    !x->iattr[GC_PREGATED] || !needs_scratch(g, x))
		return NULL;
	ir_gc_srcs(x, &gs);
	Node *z = x->src[gs.v];
	int64_t D = x->type.dim[2];
	if (z->op != OP_FUSED_PROJ || !z->iattr[FP_GATE] ||
	    z->region != MEM_TOKEN || last[z->id] != i || z->type.rank != 3 ||
	    z->type.dim[2] != 2 * D || x->iattr[GC_V_OFF] != D || D % 16 ||
	    (gs.post >= 0 && x->src[gs.post] == z && x->iattr[GC_POST_OFF]))
		return NULL;
	/* every reader of z knows the planar layout: gated_conv and the
	 * prefill's state_save (codegen/cpu's cg_window) */
	for (int k = 0; k < g->nnodes; k++) {
		const Node *u = g->nodes[k];
		for (int j = 0; j < u->nsrc; j++)
			if (u->src[j] == z && u != x && u->op != OP_STATE_SAVE)
				return NULL;
	}
	return z;
}

/* The operand whose block x (node i) takes over, or NULL: sin_linear's
 * input; on the CPU, a pregated gated_conv's whole value operand, and a
 * [B,L,N] fused_proj's residual (res=1, or the post gate's product,
 * res=2); not a decode step's [B,1,N], whose few bytes a sample the
 * best fit packs better without. */
static Node *inplace_operand(const Graph *g, const Node *x, int i,
                             const int *last, const PassOptions *o)
{
	int at;
	bool cpu = !(o && o->gpu);
	GcSrc gs;
	FpSrc fs;

	if (x->op == OP_SIN_LINEAR) {
		at = 0;
	} else if (x->op == OP_GATED_CONV && cpu && x->iattr[GC_PREGATED] &&
	           !x->iattr[GC_V_OFF]) {
		ir_gc_srcs(x, &gs);
		at = gs.v;
	} else if (x->op == OP_FUSED_PROJ && cpu && x->iattr[FP_RES] &&
	           x->type.rank == 3 && x->type.dim[1] == DIM_L) {
		ir_fp_srcs(x, &fs);
		at = fs.res;
	} else {
		return NULL;
	}
	Node *y = x->src[at];
	if (!needs_scratch(g, x) || y->region == MEM_NONE || y->planar ||
	    last[y->id] != i || !ir_type_eq(&y->type, &x->type))
		return NULL;
	for (int k = 0; k < x->nsrc; k++)
		if (k != at && x->src[k] == y)
			return NULL;
	return y;
}

bool pass_memplan(Graph *g, const PassOptions *o, Diag *d, bool *changed)
{
	Arena *a = g->arena;
	int n = g->nnodes;
	int *last = arena_alloc(a, (size_t)n * sizeof *last);
	int64_t *size = arena_alloc(a, (size_t)n * sizeof *size);
	Region *reg = arena_alloc(a, MEM_COUNT * sizeof *reg);

	for (int i = 0; i < n; i++)
		last[i] = i;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < g->nodes[i]->nsrc; k++)
			last[g->nodes[i]->src[k]->id] = i;
	for (int i = 0; i < n; i++) {
		Node *x = g->nodes[i];
		x->region = MEM_NONE;
		x->offset = 0;
		x->planar = false;
		Node *z = planar_operand(g, x, i, last, o);
		Node *y = z ? NULL : inplace_operand(g, x, i, last, o);
		if (y) {
			/* y's block is x's now; nothing goes back below */
			x->region = y->region;
			x->offset = y->offset;
			size[i] = size[y->id];
			size[y->id] = 0;
		} else if (z) {
			/* over z's value plane; z's post plane is given back
			 * below, as z's whole block would be */
			int64_t half = size[z->id] / 2;
			z->planar = true;
			x->region = MEM_TOKEN;
			x->offset = z->offset + half;
			size[i] = half;
			size[z->id] = half;
		} else if (needs_scratch(g, x)) {
			int64_t unit;
			MemRegion r = pass_mem_region(&x->type, &unit);
			if (r == MEM_COUNT) {
				diag_error(d, "node %%%s: no memory region for its shape",
				           x->name);
				return false;
			}
			x->region = r;
			size[i] = align_up(unit);
			x->offset = take(&reg[r], size[i]);
		}
		/* release what this node was the last to read */
		for (int k = 0; k < x->nsrc; k++) {
			Node *s = x->src[k];
			bool seen = false;
			for (int j = 0; j < k; j++)
				seen |= x->src[j] == s;
			if (!seen && last[s->id] == i && s->region != MEM_NONE &&
			    size[s->id] > 0)
				give_back(&reg[s->region], s->offset, size[s->id]);
		}
		/* a value nobody reads is dead at once */
		if (x->region != MEM_NONE && last[i] == i)
			give_back(&reg[x->region], x->offset, size[i]);
	}
	for (int r = 0; r < MEM_COUNT; r++)
		g->region_bytes[r] = reg[r].end;
	keep_spectra(g, o ? o->spectra_limit : PASS_SPECTRA_LIMIT);
	g->planned = true;
	*changed = true;
	return true;
}

int64_t pass_planned_bytes(const Graph *g, int64_t B, int64_t L)
{
	int64_t tok, pos, smp, r;

	if (__builtin_mul_overflow(g->region_bytes[MEM_TOKEN], B, &tok) ||
	    __builtin_mul_overflow(tok, L, &tok) ||
	    __builtin_mul_overflow(g->region_bytes[MEM_POSITION], L, &pos) ||
	    __builtin_mul_overflow(g->region_bytes[MEM_SAMPLE], B, &smp) ||
	    __builtin_add_overflow(tok, pos, &r) ||
	    __builtin_add_overflow(r, smp, &r) ||
	    __builtin_add_overflow(r, g->region_bytes[MEM_FIXED], &r))
		return INT64_MAX;
	return r;
}
