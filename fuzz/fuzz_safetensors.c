/*
 * fuzz_safetensors.c - libFuzzer target for st_open: the u64 header
 * length, the JSON header and the tensor table, and the tiling check. On
 * acceptance every tensor's first and last element are read, so a table
 * that points outside the map faults here.
 */
#include <string.h>

#include "frontend/frontend.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	const char *path = fuzz_file("model.safetensors", data, n);
	Arena *a = arena_new();
	SafeTensors *st;
	Diag d;

	diag_init(&d);
	st = st_open(a, path, &d);
	if (st) {
		volatile float sink = 0;
		for (int i = 0; i < st->n; i++) {
			size_t numel = 1;
			const Tensor *t = &st->t[i];
			if (!t->name || t->type.dtype != DT_F32 ||
			    t->type.rank < 0 || t->type.rank > IR_MAX_RANK)
				abort();
			for (int k = 0; k < t->type.rank; k++)
				numel *= (size_t)t->type.dim[k];
			if ((const char *)t->data < (const char *)st->map ||
			    (const char *)(t->data + numel) >
			            (const char *)st->map + st->map_size)
				abort();
			if (numel)
				sink += t->data[0] + t->data[numel - 1];
		}
		(void)sink;
		st_close(st);
	} else {
		FUZZ_CHECK_DIAG(&d);
	}
	arena_free(a);
	return 0;
}
