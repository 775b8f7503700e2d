/*
 * pipeline.c - the pass pipeline: one flat list, run in order, with the
 * verifier between passes in checked builds (as QBE does). Passes added
 * by later work go in this list and nowhere else.
 */
#include "passes.h"

#include <string.h>

static const PassInfo passes[] = {
	{"dce", pass_dce, "remove nodes no output depends on"},
};

const PassInfo *pass_find(const char *name)
{
	for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++)
		if (strcmp(passes[i].name, name) == 0)
			return &passes[i];
	return NULL;
}

bool pass_pipeline(Graph *g, const char *print_after, FILE *f, Diag *d)
{
	for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++) {
		bool changed = false;
		if (!passes[i].fn(g, d, &changed))
			return false;
#ifdef HYENAC_VERIFY_PASSES
		if (!ir_verify(g, d)) {
			hy_die("IR invalid after pass %s: %s", passes[i].name, d->msg);
		}
#endif
		if (print_after && (strcmp(print_after, "all") == 0 ||
		                    strcmp(print_after, passes[i].name) == 0)) {
			fprintf(f, "; after %s\n", passes[i].name);
			ir_print(g, f);
		}
	}
	return true;
}
