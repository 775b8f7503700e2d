/*
 * graph.c - the op table, graph construction and TensorType helpers.
 * Shape inference lives in infer.c, checks in verify.c, text in text.c.
 */
#include "ir.h"

#include <string.h>

static OpInfo op_table[] = {
#define OP(id, name, smin, smax, iat, fat, sat, flags) \
	[id] = {name, smin, smax, iat, fat, sat, flags, 0, 0},
#include "ops.def"
#undef OP
};
_Static_assert(sizeof op_table / sizeof op_table[0] == OP_COUNT,
               "op_table out of step with ops.def");

static int count_list(const char *s)
{
	int n = *s ? 1 : 0;
	for (; *s; s++)
		n += *s == ',';
	return n;
}

const OpInfo *ir_op_info(OpKind op)
{
	HY_ASSERT(op >= 0 && op < OP_COUNT);
	OpInfo *i = &op_table[op];
	if (i->niattr == 0 && i->nfattr == 0) {
		i->niattr = count_list(i->iattrs);
		i->nfattr = count_list(i->fattrs);
		HY_ASSERT(i->niattr <= IR_MAX_IATTR && i->nfattr <= IR_MAX_FATTR);
		HY_ASSERT(i->max_src <= IR_MAX_SRC);
	}
	return i;
}

OpKind ir_op_by_name(const char *name)
{
	for (int op = 0; op < OP_COUNT; op++)
		if (strcmp(op_table[op].name, name) == 0)
			return (OpKind)op;
	return OP_COUNT;
}

const char *ir_attr_name(const char *list, int i, char *buf, size_t n)
{
	const char *p = list;
	while (i-- > 0) {
		p = strchr(p, ',');
		HY_ASSERT(p);
		p++;
	}
	size_t len = strcspn(p, ",");
	if (len >= n)
		len = n - 1;
	memcpy(buf, p, len);
	buf[len] = 0;
	return buf;
}

Graph *ir_graph_new(Arena *a, const char *name)
{
	Graph *g = arena_alloc(a, sizeof *g);
	g->arena = a;
	g->name = arena_strdup(a, name);
	return g;
}

Node *ir_add(Graph *g, OpKind op, const char *name, int nsrc, Node **src)
{
	const OpInfo *info = ir_op_info(op);
	HY_ASSERT(nsrc >= info->min_src && nsrc <= info->max_src);
	if (g->nnodes == g->cap) {
		int cap = g->cap ? 2 * g->cap : 64;
		Node **nodes = arena_alloc(g->arena, (size_t)cap * sizeof *nodes);
		if (g->nnodes)
			memcpy(nodes, g->nodes, (size_t)g->nnodes * sizeof *nodes);
		g->nodes = nodes;
		g->cap = cap;
	}
	Node *n = arena_alloc(g->arena, sizeof *n);
	n->op = op;
	n->id = g->nnodes;
	n->name = arena_strdup(g->arena, name);
	n->nsrc = nsrc;
	for (int i = 0; i < nsrc; i++) {
		HY_ASSERT(src[i]);
		n->src[i] = src[i];
	}
	g->nodes[g->nnodes++] = n;
	return n;
}

void ir_add_output(Graph *g, const char *name, Node *n)
{
	if (g->noutputs == g->outcap) {
		int cap = g->outcap ? 2 * g->outcap : 4;
		Output *o = arena_alloc(g->arena, (size_t)cap * sizeof *o);
		if (g->noutputs)
			memcpy(o, g->outputs, (size_t)g->noutputs * sizeof *o);
		g->outputs = o;
		g->outcap = cap;
	}
	g->outputs[g->noutputs].name = arena_strdup(g->arena, name);
	g->outputs[g->noutputs].node = n;
	g->noutputs++;
}

Node *ir_find(const Graph *g, const char *name)
{
	for (int i = 0; i < g->nnodes; i++)
		if (strcmp(g->nodes[i]->name, name) == 0)
			return g->nodes[i];
	return NULL;
}

EntryPoint *ir_add_entry(Graph *g, const char *name)
{
	if (g->nentries == IR_MAX_ENTRIES)
		return NULL;
	EntryPoint *e = &g->entries[g->nentries++];
	memset(e, 0, sizeof *e);
	e->name = arena_strdup(g->arena, name);
	e->outputs = arena_alloc(g->arena, IR_MAX_ENTRY_OUT * sizeof *e->outputs);
	return e;
}

bool ir_entry_add_output(EntryPoint *e, const char *name, Node *n)
{
	if (e->noutputs == IR_MAX_ENTRY_OUT)
		return false;
	e->outputs[e->noutputs].name = name;
	e->outputs[e->noutputs].node = n;
	e->noutputs++;
	return true;
}

void ir_entry_full(const Graph *g, EntryPoint *e)
{
	memset(e, 0, sizeof *e);
	e->name = "full";
	e->outputs = g->outputs;
	e->noutputs = g->noutputs;
}

bool ir_is_output(const Graph *g, const Node *n)
{
	for (int i = 0; i < g->noutputs; i++)
		if (g->outputs[i].node == n)
			return true;
	for (int k = 0; k < g->nentries; k++)
		for (int i = 0; i < g->entries[k].noutputs; i++)
			if (g->entries[k].outputs[i].node == n)
				return true;
	return false;
}

void ir_entry_live(const Graph *g, const EntryPoint *e, bool *live)
{
	memset(live, 0, (size_t)g->nnodes * sizeof *live);
	if (e)
		for (int i = 0; i < e->noutputs; i++)
			live[e->outputs[i].node->id] = true;
	else
		for (int i = 0; i < g->noutputs; i++)
			live[g->outputs[i].node->id] = true;
	for (int i = g->nnodes - 1; i >= 0; i--)
		if (live[i])
			for (int k = 0; k < g->nodes[i]->nsrc; k++)
				live[g->nodes[i]->src[k]->id] = true;
}

const Node *ir_entry_foreign_output(const Graph *g, const EntryPoint *e)
{
	Arena *a = arena_new(); /* scratch, freed before returning */
	bool *live = arena_alloc(a, (size_t)g->nnodes + 1);
	int n = e ? e->noutputs : g->noutputs;
	const Output *o = e ? e->outputs : g->outputs;
	const Node *bad = NULL;

	ir_entry_live(g, e, live);
	for (int i = 0; !bad && i < g->nnodes; i++) {
		const Node *x = g->nodes[i];
		bool own = false;
		if (!live[i] || !ir_is_output(g, x))
			continue;
		for (int k = 0; k < n; k++)
			own |= o[k].node == x;
		if (!own)
			bad = x;
	}
	arena_free(a);
	return bad;
}

const char *ir_dtype_name(DType t)
{
	static const char *names[] = {[DT_F32] = "f32", [DT_I32] = "i32"};
	_Static_assert(sizeof names / sizeof names[0] == DT_COUNT, "dtypes");
	HY_ASSERT(t >= 0 && t < DT_COUNT);
	return names[t];
}

bool ir_type_eq(const TensorType *a, const TensorType *b)
{
	if (a->dtype != b->dtype || a->rank != b->rank)
		return false;
	for (int i = 0; i < a->rank; i++)
		if (a->dim[i] != b->dim[i])
			return false;
	return true;
}

bool ir_type_numel(const TensorType *t, int64_t B, int64_t L, size_t *out)
{
	size_t n = 1;
	for (int i = 0; i < t->rank; i++) {
		int64_t d = t->dim[i] == DIM_B ? B : t->dim[i] == DIM_L ? L : t->dim[i];
		HY_ASSERT(d >= 0);
		if (!hy_mul_size(n, (size_t)d, &n))
			return false;
	}
	*out = n;
	return true;
}

const char *ir_type_str(const TensorType *t, char *buf, size_t n)
{
	size_t off = (size_t)snprintf(buf, n, "%s[", ir_dtype_name(t->dtype));
	for (int i = 0; i < t->rank && off < n; i++) {
		const char *sep = i ? "," : "";
		if (t->dim[i] == DIM_B)
			off += (size_t)snprintf(buf + off, n - off, "%sB", sep);
		else if (t->dim[i] == DIM_L)
			off += (size_t)snprintf(buf + off, n - off, "%sL", sep);
		else
			off += (size_t)snprintf(buf + off, n - off, "%s%lld", sep,
			                        (long long)t->dim[i]);
	}
	if (off < n)
		snprintf(buf + off, n - off, "]");
	return buf;
}

MemRegion ir_mem_region(const TensorType *t, int64_t *unit_bytes)
{
	bool has_b = false, has_l = false;
	int64_t n = 4; /* f32 and i32 alike */
	for (int i = 0; i < t->rank; i++) {
		if (t->dim[i] == DIM_B)
			has_b = true;
		else if (t->dim[i] == DIM_L)
			has_l = true;
		else
			n *= t->dim[i];
	}
	*unit_bytes = n;
	if (has_b && has_l)
		return MEM_TOKEN;
	if (has_b && t->rank == 3 && t->dim[0] == DIM_B && t->dim[1] == 1)
		return MEM_SAMPLE; /* a decode step's row per sample */
	if (has_b) /* [B, ...] without L (a pooled row, the classifier's
	            * head): planned per token, an over-estimate by a
	            * factor L, since every run has L >= 1 */
		return MEM_TOKEN;
	return has_l ? MEM_POSITION : MEM_FIXED;
}

const char *ir_region_name(MemRegion r)
{
	static const char *const names[MEM_COUNT] = {"none", "token",
	                                             "position", "fixed",
	                                             "sample"};
	HY_ASSERT(r >= MEM_NONE && r < MEM_COUNT);
	return names[r];
}
