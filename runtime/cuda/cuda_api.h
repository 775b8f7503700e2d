/*
 * cuda_api.h - the part of the CUDA driver API and of cuFFT that a GPU
 * binary uses, declared here (no CUDA header exists where hyenac is
 * built) and reached through function pointers that cuda_load.c fills
 * with dlsym, so that nothing of CUDA is needed to build hyenac or to
 * link a model: only to run one.
 *
 * The types and constants are the ABI's (cuda.h, cufft.h of CUDA 12 and
 * 13, unchanged since CUDA 11): handles are opaque pointers or ints,
 * device pointers 64-bit, results ints. Only what the runtime calls is
 * here; the driver functions are the *_v2 ones where cuda.h maps a name
 * to one (cuMemAlloc is cuMemAlloc_v2, ...).
 *
 * Search order (cuda_load.c, stated in --help of GPU binaries):
 *   driver: $HYENAC_CUDA_DRIVER, else libcuda.so.1;
 *   cuFFT:  $HYENAC_CUFFT, else libcufft.so.12 (CUDA 13's cuFFT 12.x),
 *           libcufft.so.11 (CUDA 12's), libcufft.so, then the same names
 *           under $CUDA_HOME/lib64 and /usr/local/cuda/lib64 (a toolkit
 *           whose folder is not on the loader's path).
 */
#ifndef HYENAC_CUDA_API_H
#define HYENAC_CUDA_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef unsigned long long CUdeviceptr;
typedef int CUjit_option;

enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NO_DEVICE = 100,
	CUDA_ERROR_INVALID_DEVICE = 101,
};

enum {
	CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
	CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
	CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
	CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
	CU_JIT_INFO_LOG_BUFFER = 3,
	CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
	CU_JIT_ERROR_LOG_BUFFER = 5,
	CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
};

typedef int cufftResult;
typedef int cufftHandle;
enum { CUFFT_SUCCESS = 0, CUFFT_ALLOC_FAILED = 2 };
enum { CUFFT_R2C = 0x2a, CUFFT_C2R = 0x2c };

/* ORDER CUDA_FN: the names in cuda_load.c. */
typedef struct CudaApi {
	CUresult (*Init)(unsigned flags);
	CUresult (*DeviceGetCount)(int *n);
	CUresult (*DeviceGet)(CUdevice *d, int ordinal);
	CUresult (*DeviceGetName)(char *name, int len, CUdevice d);
	CUresult (*DeviceGetAttribute)(int *v, int attr, CUdevice d);
	CUresult (*DevicePrimaryCtxRetain)(CUcontext *c, CUdevice d);
	CUresult (*CtxSetCurrent)(CUcontext c);
	CUresult (*ModuleLoadDataEx)(CUmodule *m, const void *image,
	                             unsigned nopt, CUjit_option *opt,
	                             void **vals);
	CUresult (*ModuleGetFunction)(CUfunction *f, CUmodule m,
	                              const char *name);
	CUresult (*FuncSetAttribute)(CUfunction f, int attr, int v);
	CUresult (*LaunchKernel)(CUfunction f, unsigned gx, unsigned gy,
	                         unsigned gz, unsigned bx, unsigned by,
	                         unsigned bz, unsigned shmem, CUstream s,
	                         void **params, void **extra);
	CUresult (*StreamSynchronize)(CUstream s);
	CUresult (*GetErrorString)(CUresult e, const char **s);
	CUresult (*GetErrorName)(CUresult e, const char **s);
	CUresult (*MemAlloc)(CUdeviceptr *p, size_t n);
	CUresult (*MemFree)(CUdeviceptr p);
	CUresult (*MemcpyHtoD)(CUdeviceptr dst, const void *src, size_t n);
	CUresult (*MemcpyDtoH)(void *dst, CUdeviceptr src, size_t n);
	CUresult (*MemGetInfo)(size_t *free_b, size_t *total_b);
} CudaApi;

/* ORDER CUFFT_FN: the names in cuda_load.c. */
typedef struct CufftApi {
	cufftResult (*Create)(cufftHandle *h);
	cufftResult (*SetAutoAllocation)(cufftHandle h, int on);
	cufftResult (*MakePlanMany64)(cufftHandle h, int rank, long long *n,
	                              long long *inembed, long long istride,
	                              long long idist, long long *onembed,
	                              long long ostride, long long odist,
	                              int type, long long batch, size_t *work);
	cufftResult (*SetWorkArea)(cufftHandle h, void *work);
	cufftResult (*SetStream)(cufftHandle h, CUstream s);
	cufftResult (*ExecR2C)(cufftHandle h, float *in, void *out);
	cufftResult (*ExecC2R)(cufftHandle h, void *in, float *out);
	cufftResult (*Destroy)(cufftHandle h);
} CufftApi;

extern CudaApi cu;
extern CufftApi cufft;

/* Load the driver (cu): true, or false with one line in msg naming the
 * library tried and why (not found, or a symbol missing). */
bool cuda_load_driver(char *msg, size_t n);
/* Load cuFFT (cufft) by the search order above; the path loaded in
 * *path. False with one line in msg listing what was tried. */
bool cuda_load_cufft(const char **path, char *msg, size_t n);
/* "CUDA_ERROR_X (what the driver says)" for e, in a static buffer. */
const char *cuda_error(CUresult e);

#endif
