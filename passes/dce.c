/*
 * dce.c - dead node elimination: drop every node that no graph output
 * (nor an entry's output) depends on, keeping the order of the rest and renumbering ids. Inputs
 * are kept even when unused, since they are part of the calling contract.
 */
#include "passes.h"

bool pass_dce(Graph *g, const PassOptions *o, Diag *d, bool *changed)
{
	bool *live = arena_alloc(g->arena, (size_t)g->nnodes + 1);
	int n = 0;

	for (int i = 0; i < g->noutputs; i++)
		live[g->outputs[i].node->id] = true;
	for (int k = 0; k < g->nentries; k++)
		for (int i = 0; i < g->entries[k].noutputs; i++)
			live[g->entries[k].outputs[i].node->id] = true;
	for (int i = g->nnodes - 1; i >= 0; i--) {
		Node *x = g->nodes[i];
		if (x->op == OP_INPUT)
			live[i] = true;
		if (!live[i])
			continue;
		for (int k = 0; k < x->nsrc; k++)
			live[x->src[k]->id] = true;
	}
	for (int i = 0; i < g->nnodes; i++) {
		if (!live[i])
			continue;
		g->nodes[i]->id = n;
		g->nodes[n++] = g->nodes[i];
	}
	*changed = n != g->nnodes;
	g->nnodes = n;
	return true;
}
