/*
 * fuzz_npy.c - libFuzzer target for npy_load (token and activation files).
 * On acceptance the whole array is read, so a numel that disagrees with
 * the allocation shows up under ASan.
 */
#include <string.h>

#include "fuzz_common.h"
#include "ir/ir.h"
#include "runtime/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	const char *path = fuzz_file("fuzz.npy", data, n);
	NpyArray arr;
	Diag d;

	diag_init(&d);
	if (npy_load(path, &arr, &d)) {
		size_t numel = 1;
		volatile uint32_t sink = 0;
		if (arr.rank < 0 || arr.rank > IR_MAX_RANK ||
		    (arr.dtype != DT_F32 && arr.dtype != DT_I32))
			abort();
		for (int k = 0; k < arr.rank; k++)
			numel *= (size_t)arr.dim[k];
		if (numel != arr.numel)
			abort();
		for (size_t i = 0; i < numel; i++)
			sink += ((const uint32_t *)arr.data)[i];
		(void)sink;
		npy_free(&arr);
	} else {
		FUZZ_CHECK_DIAG(&d);
	}
	return 0;
}
