/*
 * fake_cuda.c - a stand-in for libcuda.so.1 (HYENAC_CUDA_DRIVER points a
 * GPU binary at it), so that the CUDA runtime's start-up failures can be
 * tested on a machine without a GPU. FAKE_CUDA says what it pretends:
 *   nodevice  cuInit fails with CUDA_ERROR_NO_DEVICE
 *   old       one device of compute capability 6.0
 *   jitfail   one sm_90 device whose JIT refuses the PTX, with a log
 *   (else)    one sm_90 device with FAKE_CUDA_FREE bytes free (default
 *             80 GiB); memory is host memory (each allocation filled
 *             with NaN bytes), and the kernels of the
 *             hand-written test model (tiny_kernels.cu, compiled here as
 *             C) run on the host, each block's threads in turn, so that
 *             with fake_cufft.c the runtime's plan interpreter runs end
 *             to end on this machine (what the PTX does is the GPU's to
 *             test). Other kernel names fail to launch.
 * Only the functions runtime/cuda/cuda_load.c resolves.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;

#include "tiny_kernels.cu"

typedef void (*Kernel)(ARGS);
typedef struct FakeKernel {
	const char *name;
	Kernel fn;
} FakeKernel;
static const FakeKernel kernels[] = {
	{"tiny_pos", tiny_pos}, {"tiny_embed", tiny_embed},
	{"tiny_filter", tiny_filter}, {"tiny_gather", tiny_gather},
	{"tiny_mul", tiny_mul}, {"tiny_scatter", tiny_scatter},
	{"tiny_out", tiny_out}, {"tiny_head_rows", tiny_head_rows},
	{"tiny_copy_rows", tiny_copy_rows}, {"tiny_pool_mean", tiny_pool_mean},
	{"tiny_pool_out", tiny_pool_out}, {"tiny_states", tiny_states},
	{"tiny_init", tiny_init}, {"tiny_ksrc", tiny_ksrc},
};

static const char *mode(void)
{
	const char *m = getenv("FAKE_CUDA");
	return m ? m : "";
}

CUresult cuInit(unsigned f)
{
	(void)f;
	return strcmp(mode(), "nodevice") == 0 ? 100 : 0;
}

CUresult cuDeviceGetCount(int *n)
{
	/* FAKE_CUDA_DEVICES: how many devices the machine has (1) */
	const char *e = getenv("FAKE_CUDA_DEVICES");
	*n = e ? atoi(e) : 1;
	return 0;
}

CUresult cuDeviceGet(int *d, int i)
{
	*d = i;
	return i == 0 ? 0 : 101;
}

CUresult cuDeviceGetName(char *name, int len, int d)
{
	(void)d;
	strncpy(name, "Fake GPU", (size_t)len);
	return 0;
}

CUresult cuDeviceGetAttribute(int *v, int attr, int d)
{
	(void)d;
	bool old = strcmp(mode(), "old") == 0;
	*v = attr == 75 ? (old ? 6 : 9) : attr == 76 ? 0 : 232448;
	return 0;
}

CUresult cuDevicePrimaryCtxRetain(void **c, int d)
{
	(void)d;
	static int ctx;
	*c = &ctx;
	return 0;
}

CUresult cuCtxSetCurrent(void *c)
{
	(void)c;
	return 0;
}

CUresult cuModuleLoadDataEx(void **m, const void *img, unsigned n, int *opt,
                            void **val)
{
	(void)img;
	static int mod;
	if (strcmp(mode(), "jitfail") == 0) {
		for (unsigned i = 0; i < n; i++)
			if (opt[i] == 5)
				strcpy(val[i], "ptxas fatal   : fake log line\nsecond");
		return 218;
	}
	*m = &mod;
	return 0;
}

CUresult cuModuleGetFunction(void **f, void *m, const char *name)
{
	(void)m;
	static int none;
	*f = &none;
	for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
		if (strcmp(kernels[i].name, name) == 0)
			*f = (void *)&kernels[i];
	return 0;
}

CUresult cuFuncSetAttribute(void *f, int a, int v)
{
	(void)f, (void)a, (void)v;
	return 0;
}

CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned sh,
                        void *st, void **p, void **x)
{
	(void)st, (void)x;
	const char *lo = (const char *)kernels;
	if ((const char *)f < lo || (const char *)f >= lo + sizeof kernels)
		return 1; /* not a kernel of the test model */
	if (gy != 1 || gz != 1 || by != 1 || bz != 1 || bx == 0 || gx == 0 ||
	    bx > 1024 || sh > 232448)
		return 1;
	Kernel k = ((const FakeKernel *)f)->fn;
	for (fake_bid = 0; fake_bid < gx; fake_bid++)
		for (fake_tid = 0; fake_tid < bx; fake_tid++) {
			fake_bdim = bx;
			k(*(char **)p[0], *(const float **)p[1], *(float ***)p[2],
			  *(float **)p[3], *(float **)p[4], *(long *)p[5],
			  *(long *)p[6], *(long *)p[7], *(long *)p[8], *(long *)p[9]);
		}
	return 0;
}

CUresult cuStreamSynchronize(void *s)
{
	(void)s;
	return 0;
}

CUresult cuGetErrorString(CUresult e, const char **s)
{
	*s = e == 100 ? "no CUDA-capable device is detected"
	     : e == 218 ? "a PTX JIT compilation failed"
	                : "fake error";
	return 0;
}

CUresult cuGetErrorName(CUresult e, const char **s)
{
	*s = e == 100 ? "CUDA_ERROR_NO_DEVICE"
	     : e == 218 ? "CUDA_ERROR_INVALID_PTX"
	                : "CUDA_ERROR_FAKE";
	return 0;
}

CUresult cuMemAlloc_v2(uint64_t *p, size_t n)
{
	void *q = malloc(n);
	/* NaN: a kernel that reads what no step wrote shows in the outputs */
	if (q)
		memset(q, 0xff, n);
	*p = (uint64_t)(uintptr_t)q;
	return q ? 0 : 2;
}

CUresult cuMemFree_v2(uint64_t p)
{
	free((void *)(uintptr_t)p);
	return 0;
}

CUresult cuMemcpyHtoD_v2(uint64_t d, const void *s, size_t n)
{
	memcpy((void *)(uintptr_t)d, s, n);
	return 0;
}

CUresult cuMemcpyDtoH_v2(void *d, uint64_t s, size_t n)
{
	memcpy(d, (const void *)(uintptr_t)s, n);
	return 0;
}

CUresult cuMemGetInfo_v2(size_t *f, size_t *t)
{
	const char *e = getenv("FAKE_CUDA_FREE");
	*f = e ? (size_t)strtoull(e, NULL, 10) : (size_t)80 << 30;
	*t = (size_t)80 << 30;
	return 0;
}
