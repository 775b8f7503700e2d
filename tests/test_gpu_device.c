/*
 * test_gpu_device.c - the GPU target end to end where this machine has a CUDA
 * device: tests/gpu/device-tests.sh compiles every ../shared/golden case and
 * random models with `hyenac compile --target cuda` (the random ones for
 * the CPU too, run on lengths 1, 2, 7, 100, 333 and their longest), then
 * runs the GPU binaries and holds them to the golden outputs (2e-4) and
 * to the CPU binary's, and runs gpu_tiny_check (the CUDA runtime on a
 * hand-written model). Without a device (no driver, or none found) it
 * says "skipped: no CUDA device". A GPU machine without LLVM runs the
 * two halves of that script apart (see its comment).
 */
#include "testutil.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether the CUDA driver loads and finds a device (what a GPU binary's
 * start asks first). */
static bool have_device(void)
{
	const char *env = getenv("HYENAC_CUDA_DRIVER");
	void *lib = dlopen(env && *env ? env : "libcuda.so.1", RTLD_NOW);
	int n = 0;

	if (!lib)
		return false;
	int (*init)(unsigned) = (int (*)(unsigned))dlsym(lib, "cuInit");
	int (*count)(int *) = (int (*)(int *))dlsym(lib, "cuDeviceGetCount");
	bool ok = init && count && init(0) == 0 && count(&n) == 0 && n > 0;
	dlclose(lib);
	return ok;
}

START_TEST(golden_and_cpu)
{
	RunResult r;

	if (!have_device()) {
		printf("skipped: no CUDA device\n");
		return;
	}
	const char *dir = tu_path(tu_tmpdir(), "gpu-tests");
	char script[4096];
	snprintf(script, sizeof script, "%s",
	         tu_source("tests/gpu/device-tests.sh"));
	setenv("HYENAC", HYENAC_BIN, 1);
	setenv("GOLDEN", HYENAC_GOLDEN_DIR, 1);
	tu_run(&r, script, (const char *const[]){"prepare", dir, NULL});
	ck_assert_msg(r.status == 0, "prepare: %s", r.err);
	tu_run(&r, script, (const char *const[]){"run", dir, NULL});
	ck_assert_msg(r.status == 0, "run:\n%s%s", r.out, r.err);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gpu");
	TCase *tc = tcase_create("gpu");

	tcase_set_timeout(tc, 1200);
	tcase_add_test(tc, golden_and_cpu);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
