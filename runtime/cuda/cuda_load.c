/*
 * cuda_load.c - the CUDA driver and cuFFT, loaded with dlopen when a GPU
 * binary starts (cuda_api.h gives the search order), each function
 * resolved by name into the tables cu and cufft. A library that is
 * missing, or lacks a function, is one line naming the library and the
 * function; nothing here exits.
 */
#include "cuda_api.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CudaApi cu;
CufftApi cufft;

/* ORDER CUDA_FN: CudaApi's fields. */
static const char *const cuda_names[] = {
	"cuInit", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName",
	"cuDeviceGetAttribute", "cuDevicePrimaryCtxRetain", "cuCtxSetCurrent",
	"cuModuleLoadDataEx", "cuModuleGetFunction", "cuFuncSetAttribute",
	"cuLaunchKernel", "cuStreamSynchronize", "cuGetErrorString",
	"cuGetErrorName", "cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoD_v2",
	"cuMemcpyDtoH_v2", "cuMemGetInfo_v2",
};
_Static_assert(sizeof cuda_names / sizeof cuda_names[0] ==
                   sizeof(CudaApi) / sizeof(void (*)(void)),
               "cuda_names");

/* ORDER CUFFT_FN: CufftApi's fields. */
static const char *const cufft_names[] = {
	"cufftCreate", "cufftSetAutoAllocation", "cufftMakePlanMany64",
	"cufftSetWorkArea", "cufftSetStream", "cufftExecR2C", "cufftExecC2R",
	"cufftDestroy",
};
_Static_assert(sizeof cufft_names / sizeof cufft_names[0] ==
                   sizeof(CufftApi) / sizeof(void (*)(void)),
               "cufft_names");

/* dlerror's text on one line. */
static const char *dl_why(void)
{
	static char buf[512];
	const char *e = dlerror();

	snprintf(buf, sizeof buf, "%s", e ? e : "unknown error");
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return buf;
}

/* Fill table (n function pointers) from lib; false naming the missing
 * one. */
static bool resolve(void *lib, const char *path, const char *const *names,
                    int count, void *table, char *msg, size_t n)
{
	for (int i = 0; i < count; i++) {
		void *f = dlsym(lib, names[i]);
		if (!f) {
			snprintf(msg, n, "%s has no %s (too old a version?)", path,
			         names[i]);
			return false;
		}
		memcpy((char *)table + (size_t)i * sizeof f, &f, sizeof f);
	}
	return true;
}

bool cuda_load_driver(char *msg, size_t n)
{
	const char *env = getenv("HYENAC_CUDA_DRIVER");
	const char *path = env && *env ? env : "libcuda.so.1";
	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!lib) {
		snprintf(msg, n, "cannot load the CUDA driver %s (%s): this GPU "
		         "binary needs an NVIDIA driver (HYENAC_CUDA_DRIVER names "
		         "another libcuda.so)", path, dl_why());
		return false;
	}
	return resolve(lib, path, cuda_names,
	               (int)(sizeof cuda_names / sizeof cuda_names[0]), &cu, msg,
	               n);
}

bool cuda_load_cufft(const char **loaded, char *msg, size_t n)
{
	static const char *const names[] = {"libcufft.so.12", "libcufft.so.11",
	                                    "libcufft.so"};
	static char paths[12][1024];
	const char *env = getenv("HYENAC_CUFFT");
	const char *home = getenv("CUDA_HOME");
	int np = 0;

	if (env && *env) {
		/* the variable alone: a wrong path is not silently passed by */
		snprintf(paths[np++], sizeof paths[0], "%s", env);
	} else {
		for (int i = 0; i < 3; i++)
			snprintf(paths[np++], sizeof paths[0], "%s", names[i]);
		for (int i = 0; i < 3 && home && *home; i++)
			snprintf(paths[np++], sizeof paths[0], "%s/lib64/%s", home,
			         names[i]);
		for (int i = 0; i < 3; i++)
			snprintf(paths[np++], sizeof paths[0],
			         "/usr/local/cuda/lib64/%s", names[i]);
	}
	char first[512] = "";
	for (int i = 0; i < np; i++) {
		void *lib = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
		if (!lib) {
			if (i == 0)
				snprintf(first, sizeof first, "%s", dl_why());
			else
				(void)dlerror();
			continue;
		}
		*loaded = paths[i];
		return resolve(lib, paths[i], cufft_names,
		               (int)(sizeof cufft_names / sizeof cufft_names[0]),
		               &cufft, msg, n);
	}
	if (env && *env)
		snprintf(msg, n, "cannot load cuFFT from HYENAC_CUFFT=%s (%s)", env,
		         first);
	else
		snprintf(msg, n, "cannot load cuFFT (tried libcufft.so.12, .so.11, "
		         ".so on the loader's path, in $CUDA_HOME/lib64 and "
		         "/usr/local/cuda/lib64): install CUDA's cuFFT or set "
		         "HYENAC_CUFFT to its libcufft.so");
	return false;
}

const char *cuda_error(CUresult e)
{
	static char buf[320];
	const char *name = NULL, *text = NULL;

	if (cu.GetErrorName)
		cu.GetErrorName(e, &name);
	if (cu.GetErrorString)
		cu.GetErrorString(e, &text);
	snprintf(buf, sizeof buf, "%s%s%s%s", name ? name : "CUDA error",
	         text ? " (" : "", text ? text : "", text ? ")" : "");
	if (!name && !text)
		snprintf(buf, sizeof buf, "CUDA error %d", e);
	return buf;
}
