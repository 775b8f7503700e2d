/*
 * fuzz_yaml.c - libFuzzer target for fe_yaml_load, the models/NAME.yaml
 * reader. A refusal must come with a one-line Diag; an acceptance must
 * give a spec that fe_spec_check() accepts and whose weight list can be
 * walked.
 */
#include <string.h>

#include "frontend/frontend.h"
#include "fuzz_common.h"

static void count(void *ctx, const char *name, const TensorType *t, bool opt)
{
	(void)name;
	(void)t;
	(void)opt;
	++*(long *)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	const char *path = fuzz_file("fuzz.yaml", data, n);
	Arena *a = arena_new();
	ModelSpec s;
	WeightSource w;
	Diag d;

	diag_init(&d);
	if (fe_yaml_load(a, path, &s, &w, &d)) {
		Diag d2;
		long k = 0;
		diag_init(&d2);
		if (!fe_spec_check(&s, path, &d2))
			abort();
		if (s.n_layer <= 4096)
			fe_expected_weights(&s, a, count, &k);
		(void)fe_vocab_padded(&s);
	} else {
		FUZZ_CHECK_DIAG(&d);
	}
	arena_free(a);
	return 0;
}
