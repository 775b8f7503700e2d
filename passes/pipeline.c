/*
 * pipeline.c - the pass pipeline: one flat list, run in order, with the
 * verifier between passes in checked builds (as QBE does). Passes added
 * by later work go in this list and nowhere else.
 */
#include "passes.h"

#include <string.h>

static const PassInfo passes[] = {
	{"fold", pass_fold, "evaluate the implicit filters at compile time"},
	{"dce", pass_dce, "remove nodes no output depends on"},
	{"convsel", pass_convsel, "choose FFT or direct long convolution"},
	{"fuse", pass_fuse, "fuse block ops into projection and gated-conv kernels"},
	{"entries", pass_entries, "make the entries: logits from the final norm, pooled"},
	{"memplan", pass_memplan, "plan the activation arena by liveness"},
};

const PassInfo *pass_find(const char *name)
{
	for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++)
		if (strcmp(passes[i].name, name) == 0)
			return &passes[i];
	return NULL;
}

void pass_options_default(PassOptions *o)
{
	o->fuse = true;
	o->fold_limit = PASS_FOLD_LIMIT;
	o->spectra_limit = PASS_SPECTRA_LIMIT;
	o->conv = CONV_AUTO;
	o->gpu = false;
	o->print_after = NULL;
	o->print_dot = false;
	o->print_to = stdout;
}

bool pass_pipeline(Graph *g, const PassOptions *o, Diag *d)
{
	PassOptions def;
	if (!o) {
		pass_options_default(&def);
		o = &def;
	}
	const char *print_after = o->print_after;
	FILE *f = o->print_to ? o->print_to : stdout;
	for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++) {
		bool changed = false;
		if (!passes[i].fn(g, o, d, &changed))
			return false;
#ifdef HYENAC_VERIFY_PASSES
		if (!ir_verify(g, d)) {
			hy_die("IR invalid after pass %s: %s", passes[i].name, d->msg);
		}
#endif
		if (print_after && (strcmp(print_after, "all") == 0 ||
		                    strcmp(print_after, passes[i].name) == 0)) {
			fprintf(f, "%s after %s\n", o->print_dot ? "//" : ";",
			        passes[i].name);
			(o->print_dot ? ir_print_dot : ir_print)(g, f);
		}
	}
	return true;
}
