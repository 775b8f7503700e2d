/*
 * fuzz_hf_config.c - libFuzzer target for fe_hf_config_load (an HF
 * checkpoint's config.json, through frontend/json.c). A refusal must come
 * with a one-line Diag; an acceptance must pass fe_spec_check().
 */
#include <string.h>

#include "frontend/frontend.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	const char *path = fuzz_file("config.json", data, n);
	Arena *a = arena_new();
	ModelSpec s;
	Diag d;

	diag_init(&d);
	if (fe_hf_config_load(a, path, &s, &d)) {
		Diag d2;
		diag_init(&d2);
		if (!fe_spec_check(&s, path, &d2))
			abort();
	} else {
		FUZZ_CHECK_DIAG(&d);
	}
	arena_free(a);
	return 0;
}
