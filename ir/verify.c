/*
 * verify.c - the IR verifier, run after every pass in debug builds (as QBE
 * runs its checks between passes). It checks what a pass could break:
 *
 *   - ids equal indices and every source is an earlier node of this graph
 *     (so the node list is in topological order);
 *   - arity within ops.def, attribute slots the op does not name left zero,
 *     weights named, data bound only on weights;
 *   - node names non-empty, unique, of [A-Za-z0-9_.]; output names are
 *     identifiers and unique, and outputs point into the graph;
 *   - the same for each entry's outputs; entry names are identifiers,
 *     unique, and none is "full" (the graph's outputs are that one);
 *   - every stored type is the one ir_infer gives;
 *   - the memory plan's placements (plan_ok).
 *
 * It does not look at weight data or at whether nodes are live.
 *
 * The graph is not touched: types are recomputed on a stack copy of each
 * node (ir_infer writes only the node it is given), and the name check
 * uses a hash table in a scratch arena freed before returning, so
 * verifying is linear in the graph and leaves nothing allocated. Messages start with
 * "verify: " so that a broken pass is told apart from bad input.
 */
#include "ir.h"

#include <string.h>

static bool fail(Diag *d, const char *fmt, ...) HY_PRINTF(2, 3);

static bool fail(Diag *d, const char *fmt, ...)
{
	char what[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	diag_error(d, "verify: %s", what);
	return false;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* A value name, printed after '%'. */
static bool name_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!name_char(*s))
			return false;
	return true;
}

/* An output name, printed bare, so it cannot start with a digit or '.'. */
static bool ident_ok(const char *s)
{
	if (!name_ok(s))
		return false;
	return (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
	       *s == '_';
}

/* Like ir_type_str, but safe on a type that was never set properly. */
static const char *type_str(const TensorType *t, char *buf, size_t n)
{
	if ((int)t->dtype < 0 || t->dtype >= DT_COUNT || t->rank < 0 ||
	    t->rank > IR_MAX_RANK) {
		snprintf(buf, n, "<invalid type>");
		return buf;
	}
	return ir_type_str(t, buf, n);
}

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The first name that repeats among n names got through name(g, i), as
 * the indices of its two uses in *first and *second (or -1). The table
 * lives in a scratch arena of its own, sized to n (slots for twice the
 * names, so probes stay short), which keeps the check linear at any
 * size. False only when that table cannot be had. */
static bool find_duplicate(const Graph *g, int n,
                           const char *(*name)(const Graph *, int),
                           int *first, int *second)
{
	Arena *scratch = arena_new();
	size_t nslots = 16;
	int *slot;

	*first = *second = -1;
	while (nslots < 2 * (size_t)n)
		nslots *= 2;
	slot = scratch ? arena_try_alloc(scratch, nslots * sizeof *slot) : NULL;
	if (!slot) {
		if (scratch)
			arena_free(scratch);
		return false;
	}
	memset(slot, -1, nslots * sizeof *slot);
	for (int i = 0; i < n && *first < 0; i++) {
		size_t h = hash(name(g, i)) & (nslots - 1);
		for (; slot[h] >= 0; h = (h + 1) & (nslots - 1))
			if (strcmp(name(g, slot[h]), name(g, i)) == 0) {
				*first = slot[h];
				*second = i;
				break;
			}
		slot[h] = i;
	}
	arena_free(scratch);
	return true;
}

static const char *node_name(const Graph *g, int i)
{
	return g->nodes[i]->name;
}

static const char *output_name(const Graph *g, int i)
{
	return g->outputs[i].name;
}

/* Names are already known to be valid. */
static bool names_unique(const Graph *g, Diag *d)
{
	int a, b;

	if (!find_duplicate(g, g->nnodes, node_name, &a, &b))
		return fail(d, "out of memory checking %d names", g->nnodes);
	if (a >= 0)
		return fail(d, "duplicate value name %%%s (nodes %d and %d)",
		            g->nodes[a]->name, a, b);
	return true;
}

/* Everything about n except its type and its name's uniqueness. */
static bool node_ok(const Graph *g, int i, Diag *d)
{
	const Node *n = g->nodes[i];
	const OpInfo *info;

	if (!n)
		return fail(d, "node %d is NULL", i);
	if (!name_ok(n->name))
		return fail(d, "node %d has a bad name \"%s\"", i,
		            n->name ? n->name : "(null)");
	if ((int)n->op < 0 || n->op >= OP_COUNT)
		return fail(d, "node %%%s: bad op %d", n->name, (int)n->op);
	info = ir_op_info(n->op);
	if (n->id != i)
		return fail(d, "node %%%s (%s): id %d at index %d", n->name,
		            info->name, n->id, i);
	if (n->nsrc < info->min_src || n->nsrc > info->max_src)
		return fail(d, "node %%%s (%s): %d operands, expected %d to %d",
		            n->name, info->name, n->nsrc, info->min_src,
		            info->max_src);
	for (int s = 0; s < n->nsrc; s++) {
		const Node *src = n->src[s];
		if (!src || src->id < 0 || src->id >= i ||
		    g->nodes[src->id] != src)
			return fail(d, "node %%%s (%s): operand %d is not an "
			            "earlier node of the graph", n->name,
			            info->name, s);
	}
	for (int k = info->niattr; k < IR_MAX_IATTR; k++)
		if (n->iattr[k] != 0)
			return fail(d, "node %%%s (%s): int attr slot %d set",
			            n->name, info->name, k);
	for (int k = info->nfattr; k < IR_MAX_FATTR; k++)
		if (n->fattr[k] != 0)
			return fail(d, "node %%%s (%s): float attr slot %d set",
			            n->name, info->name, k);
	if (info->sattr[0] && (!n->sattr || !n->sattr[0]))
		return fail(d, "node %%%s (%s): %s is not set", n->name,
		            info->name, info->sattr);
	if (!info->sattr[0] && n->sattr)
		return fail(d, "node %%%s (%s): string attr set", n->name,
		            info->name);
	if (n->op != OP_WEIGHT && n->data)
		return fail(d, "node %%%s (%s): data bound to a non-weight",
		            n->name, info->name);
	return true;
}

static bool type_matches(const Graph *g, const Node *n, Diag *d)
{
	Node copy = *n;
	Diag sub;
	char want[96], have[96];

	diag_init(&sub);
	/* ir_infer writes only copy.type; g is only read. */
	if (!ir_infer((Graph *)g, &copy, &sub))
		return fail(d, "%s", sub.msg);
	if (!ir_type_eq(&copy.type, &n->type))
		return fail(d, "node %%%s (%s): stored type %s, inferred %s",
		            n->name, ir_op_info(n->op)->name,
		            type_str(&n->type, have, sizeof have),
		            ir_type_str(&copy.type, want, sizeof want));
	return true;
}

static bool outputs_ok(const Graph *g, Diag *d)
{
	int a, b;

	if (g->noutputs <= 0 || !g->outputs)
		return fail(d, "graph has no outputs");
	for (int i = 0; i < g->noutputs; i++) {
		const Output *o = &g->outputs[i];
		if (!ident_ok(o->name))
			return fail(d, "output %d has a bad name \"%s\"", i,
			            o->name ? o->name : "(null)");
		if (!o->node || o->node->id < 0 || o->node->id >= g->nnodes ||
		    g->nodes[o->node->id] != o->node)
			return fail(d, "output %s is not a node of the graph",
			            o->name);
	}
	if (!find_duplicate(g, g->noutputs, output_name, &a, &b))
		return fail(d, "out of memory checking %d output names",
		            g->noutputs);
	if (a >= 0)
		return fail(d, "duplicate output name %s", g->outputs[a].name);
	return true;
}

static bool entries_ok(const Graph *g, Diag *d)
{
	if (g->nentries < 0 || g->nentries > IR_MAX_ENTRIES)
		return fail(d, "%d entries", g->nentries);
	for (int k = 0; k < g->nentries; k++) {
		const EntryPoint *e = &g->entries[k];
		if (!ident_ok(e->name) || strcmp(e->name, "full") == 0)
			return fail(d, "entry %d has a bad name \"%s\"", k,
			            e->name ? e->name : "(null)");
		for (int j = 0; j < k; j++)
			if (strcmp(g->entries[j].name, e->name) == 0)
				return fail(d, "duplicate entry name %s", e->name);
		if (e->noutputs <= 0 || e->noutputs > IR_MAX_ENTRY_OUT)
			return fail(d, "entry %s has %d outputs", e->name,
			            e->noutputs);
		for (int i = 0; i < e->noutputs; i++) {
			const Output *o = &e->outputs[i];
			if (!ident_ok(o->name))
				return fail(d, "entry %s: output %d has a bad name",
				            e->name, i);
			if (!o->node || o->node->id < 0 ||
			    o->node->id >= g->nnodes || g->nodes[o->node->id] != o->node)
				return fail(d, "entry %s: output %s is not a node of "
				            "the graph", e->name, o->name);
			for (int j = 0; j < i; j++)
				if (strcmp(e->outputs[j].name, o->name) == 0)
					return fail(d, "entry %s: duplicate output name %s",
					            e->name, o->name);
		}
	}
	if (g->nentries == 0)
		return true;
	for (int k = -1; k < g->nentries; k++) {
		const EntryPoint *e = k < 0 ? NULL : &g->entries[k];
		const Node *x = ir_entry_foreign_output(g, e);
		if (x)
			return fail(d, "entry %s needs %%%s, an output of another "
			            "entry", e ? e->name : "full", x->name);
	}
	return true;
}

/* The memory plan, when there is one: regions whole 64-byte blocks, and
 * each placed node in the region its type belongs to (ir_mem_region),
 * 64-byte aligned and inside it; a planar one a [B,L,C] token value
 * whose two planes are whole blocks. Inputs, weights and outputs, which live
 * in the caller's arrays, are never placed. Nodes a later pass made may
 * be unplaced: memplan places them when it runs again. */
static bool plan_ok(const Graph *g, Diag *d)
{
	for (int r = MEM_TOKEN; r < MEM_COUNT; r++)
		if (g->region_bytes[r] < 0 || g->region_bytes[r] % 64)
			return fail(d, "region %s has %lld bytes, not a multiple "
			            "of 64", ir_region_name((MemRegion)r),
			            (long long)g->region_bytes[r]);
	/* Which output (of the graph or of an entry) each node is, if any:
	 * a table in a scratch arena, so the check stays linear. */
	Arena *scratch = NULL;
	const char **out_name = NULL;
	bool ok = true;
	for (int i = 0; i < g->nnodes && !out_name; i++) {
		if (g->nodes[i]->region == MEM_NONE)
			continue;
		scratch = arena_new();
		out_name = scratch ? arena_try_alloc(scratch, (size_t)g->nnodes *
		                                     sizeof *out_name) : NULL;
		if (!out_name) {
			if (scratch)
				arena_free(scratch);
			return fail(d, "out of memory checking the memory plan");
		}
		memset(out_name, 0, (size_t)g->nnodes * sizeof *out_name);
		for (int k = 0; k < g->noutputs; k++)
			out_name[g->outputs[k].node->id] = g->outputs[k].name;
		for (int k = 0; k < g->nentries; k++)
			for (int j = 0; j < g->entries[k].noutputs; j++)
				out_name[g->entries[k].outputs[j].node->id] =
				    g->entries[k].outputs[j].name;
	}
	for (int i = 0; i < g->nnodes && ok; i++) {
		const Node *n = g->nodes[i];
		int64_t unit;
		if (n->region == MEM_NONE)
			continue;
		ok = false;
		if (!g->planned || n->region < MEM_NONE || n->region >= MEM_COUNT) {
			fail(d, "%%%s is placed outside a memory plan", n->name);
			break;
		}
		if (n->op == OP_INPUT || n->op == OP_WEIGHT || n->op == OP_STATE) {
			fail(d, "%%%s is an %s: it takes no scratch", n->name,
			     ir_op_info(n->op)->name);
			break;
		}
		if (out_name[i]) {
			fail(d, "%%%s is output %s, written to the caller's "
			     "array: it takes no scratch", n->name, out_name[i]);
			break;
		}
		MemRegion want = ir_mem_region(&n->type, &unit);
		if (want != n->region) {
			fail(d, "%%%s is in region %s; its type belongs in %s",
			     n->name, ir_region_name(n->region),
			     want == MEM_COUNT ? "none" : ir_region_name(want));
			break;
		}
		int64_t size = (unit + 63) / 64 * 64;
		if (n->offset < 0 || n->offset % 64 ||
		    n->offset > g->region_bytes[n->region] - size) {
			fail(d, "%%%s at %s[%lld] (%lld bytes) is not a 64-byte "
			     "aligned block inside the region's %lld", n->name,
			     ir_region_name(n->region), (long long)n->offset,
			     (long long)size,
			     (long long)g->region_bytes[n->region]);
			break;
		}
		if (n->planar && (n->region != MEM_TOKEN || n->type.rank != 3 ||
		                  n->type.dim[2] % 32)) {
			fail(d, "%%%s is planar but not a [B,L,C] token value whose "
			     "halves are whole 64-byte blocks", n->name);
			break;
		}
		ok = true;
	}
	if (scratch)
		arena_free(scratch);
	return ok;
}

bool ir_verify(const Graph *g, Diag *d)
{
	if (!g->name)
		return fail(d, "graph has no name");
	if (g->max_len < 0)
		return fail(d, "max_len %lld < 0", (long long)g->max_len);
	if (g->nnodes < 0 || (g->nnodes > 0 && !g->nodes))
		return fail(d, "bad node list");
	for (int i = 0; i < g->nnodes; i++)
		if (!node_ok(g, i, d))
			return false;
	if (!names_unique(g, d))
		return false;
	/* Sources come first, so each node is checked against checked ones. */
	for (int i = 0; i < g->nnodes; i++)
		if (!type_matches(g, g->nodes[i], d))
			return false;
	return outputs_ok(g, d) && entries_ok(g, d) && plan_ok(g, d);
}
