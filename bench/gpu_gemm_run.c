/*
 * gpu_gemm_run.c - runs the kernels bench/gpu_gemm_gen.c wrote on the
 * GPU, checks each against a double-precision reference at edge row
 * counts, and times the large shapes (TFLOP/s), loading the CUDA driver
 * with dlopen as hyenac's runtime does (no toolkit needed to build it).
 *
 *     gpu_gemm_run G.ptx CASES.txt [M_BENCH]
 *
 * Prints one line per case and check, and exits 1 when a check fails:
 * tf32x3 cases must be of fp32's class (relative error in Frobenius
 * norm at most 2e-5; TF32 alone gives about 5e-4), bf16 ones within
 * 1e-2. The max abs error of a float dot product summed in order is
 * printed beside, for scale.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext, *CUmodule, *CUfunction, *CUstream;
typedef unsigned long long CUdeviceptr;

static CUresult (*cuInit)(unsigned);
static CUresult (*cuDeviceGet)(CUdevice *, int);
static CUresult (*cuCtxCreate)(CUcontext *, unsigned, CUdevice);
static CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned,
                                      int *, void **);
static CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
static CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
static CUresult (*cuMemFree)(CUdeviceptr);
static CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
static CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
static CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned,
                                  unsigned, unsigned, unsigned, unsigned,
                                  CUstream, void **, void **);
static CUresult (*cuCtxSynchronize)(void);
static CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
static CUresult (*cuFuncGetAttribute)(int *, int, CUfunction);

#define CK(x)                                                                 \
	do {                                                                  \
		CUresult r_ = (x);                                            \
		if (r_) {                                                     \
			fprintf(stderr, "%s:%d: %s: CUDA error %d\n", __FILE__,    \
			        __LINE__, #x, r_);                            \
			exit(1);                                              \
		}                                                             \
	} while (0)

static void *sym(void *h, const char *n)
{
	void *p = dlsym(h, n);
	if (!p) {
		fprintf(stderr, "gpu_gemm_run: libcuda has no %s\n", n);
		exit(1);
	}
	return p;
}

static void load_driver(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW);
	if (!h) {
		fprintf(stderr, "gpu_gemm_run: skipped: no CUDA driver (%s)\n",
		        dlerror());
		exit(77);
	}
	*(void **)&cuInit = sym(h, "cuInit");
	*(void **)&cuDeviceGet = sym(h, "cuDeviceGet");
	*(void **)&cuCtxCreate = sym(h, "cuCtxCreate_v2");
	*(void **)&cuModuleLoadDataEx = sym(h, "cuModuleLoadDataEx");
	*(void **)&cuModuleGetFunction = sym(h, "cuModuleGetFunction");
	*(void **)&cuMemAlloc = sym(h, "cuMemAlloc_v2");
	*(void **)&cuMemFree = sym(h, "cuMemFree_v2");
	*(void **)&cuMemcpyHtoD = sym(h, "cuMemcpyHtoD_v2");
	*(void **)&cuMemcpyDtoH = sym(h, "cuMemcpyDtoH_v2");
	*(void **)&cuLaunchKernel = sym(h, "cuLaunchKernel");
	*(void **)&cuCtxSynchronize = sym(h, "cuCtxSynchronize");
	*(void **)&cuFuncSetAttribute = sym(h, "cuFuncSetAttribute");
	*(void **)&cuFuncGetAttribute = sym(h, "cuFuncGetAttribute");
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

typedef struct Case {
	char name[64];
	int bf16, xform, bm, threads;
	long long N, K, lda, coltiles, shmem;
} Case;

static int run(CUfunction f, const Case *c, long long M, CUdeviceptr dA,
               CUdeviceptr dW, CUdeviceptr dC, CUdeviceptr dB)
{
	unsigned blocks = (unsigned)(((M + c->bm - 1) / c->bm) * c->coltiles);
	void *args[5] = { &dA, &dW, &dC, &dB, &M };
	return cuLaunchKernel(f, blocks, 1, 1, (unsigned)c->threads, 1, 1,
	                      (unsigned)c->shmem, NULL, args, NULL);
}

static int check(CUfunction f, const Case *c, long long M)
{
	size_t na = (size_t)M * c->lda, nw = (size_t)c->N * c->K;
	float *A = malloc(na * 4), *W = malloc(nw * 4), *bias = malloc(c->N * 4);
	float *C = malloc((size_t)M * c->N * 4);
	CUdeviceptr dA, dW, dC, dB;
	double maxerr = 0, maxf = 0, num = 0, den = 0;
	int ok;

	for (size_t i = 0; i < na; i++)
		A[i] = frand();
	for (size_t i = 0; i < nw; i++)
		W[i] = frand() * 0.1f;
	for (long long i = 0; i < c->N; i++)
		bias[i] = frand();
	CK(cuMemAlloc(&dA, na * 4));
	CK(cuMemAlloc(&dW, nw * 4));
	CK(cuMemAlloc(&dB, c->N * 4));
	CK(cuMemAlloc(&dC, (size_t)M * c->N * 4));
	CK(cuMemcpyHtoD(dA, A, na * 4));
	CK(cuMemcpyHtoD(dW, W, nw * 4));
	CK(cuMemcpyHtoD(dB, bias, c->N * 4));
	CK(run(f, c, M, dA, dW, dC, dB));
	CK(cuCtxSynchronize());
	CK(cuMemcpyDtoH(C, dC, (size_t)M * c->N * 4));
	for (long long r = 0; r < M; r++) {
		/* every row of a small M; edges and a stride of a large one */
		if (M > 1000 && r >= 256 && r < M - 256 && r % 97)
			continue;
		for (long long n = 0; n < c->N; n++) {
			double s = bias[n];
			float sf = bias[n];
			for (long long k = 0; k < c->K; k++) {
				float a = A[r * c->lda + k];
				if (c->xform)
					a = a * 1.25f + 0.001f * (float)k;
				s += (double)a * W[n * c->K + k];
				sf += a * W[n * c->K + k];
			}
			double e = fabs(C[r * c->N + n] - s);
			if (e > maxerr || e != e)
				maxerr = e != e ? INFINITY : e;
			if (fabs(sf - s) > maxf)
				maxf = fabs(sf - s);
			num += (C[r * c->N + n] - s) * (C[r * c->N + n] - s);
			den += s * s;
		}
	}
	if (c->bf16)
		ok = sqrt(num / (den + 1e-30)) <= 1e-2;
	else
		ok = sqrt(num / (den + 1e-30)) <= 2e-5;
	printf("check %-14s M=%-6lld max_abs_err=%.3g fp32_dot_err=%.3g "
	       "rel_frob=%.3g %s\n", c->name, M, maxerr, maxf,
	       sqrt(num / (den + 1e-30)), ok ? "ok" : "FAIL");
	cuMemFree(dA);
	cuMemFree(dW);
	cuMemFree(dB);
	cuMemFree(dC);
	free(A);
	free(W);
	free(bias);
	free(C);
	return ok;
}

static void bench(CUfunction f, const Case *c, long long M)
{
	CUdeviceptr dA, dW, dC, dB;
	double best = 1e30;

	CK(cuMemAlloc(&dA, (size_t)M * c->lda * 4));
	CK(cuMemAlloc(&dW, (size_t)c->N * c->K * 4));
	CK(cuMemAlloc(&dB, (size_t)c->N * 4));
	CK(cuMemAlloc(&dC, (size_t)M * c->N * 4));
	for (int rep = 0; rep < 6; rep++) {
		double t0 = now_ms();
		CK(run(f, c, M, dA, dW, dC, dB));
		CK(cuCtxSynchronize());
		double t = now_ms() - t0;
		if (rep && t < best)
			best = t;
	}
	printf("bench %-14s M=%lld N=%lld K=%lld %.3f ms %.1f TFLOP/s\n",
	       c->name, M, c->N, c->K, best,
	       2.0 * M * c->N * c->K / (best * 1e-3) / 1e12);
	cuMemFree(dA);
	cuMemFree(dW);
	cuMemFree(dB);
	cuMemFree(dC);
}

int main(int argc, char **argv)
{
	long long mbench = argc > 3 ? atoll(argv[3]) : 1048576;
	static const long long ms[] = { 1, 37, 128, 129, 1000, 4099 };
	CUdevice dev;
	CUcontext ctx;
	CUmodule mod;
	FILE *pf, *cf;
	char *ptx, log[8192] = "";
	long sz;
	Case c;
	int fails = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: gpu_gemm_run G.ptx CASES.txt [M]\n");
		return 2;
	}
	load_driver();
	pf = fopen(argv[1], "rb");
	cf = fopen(argv[2], "r");
	if (!pf || !cf) {
		perror("gpu_gemm_run");
		return 1;
	}
	fseek(pf, 0, SEEK_END);
	sz = ftell(pf);
	rewind(pf);
	ptx = calloc(1, (size_t)sz + 1);
	if (fread(ptx, 1, (size_t)sz, pf) != (size_t)sz)
		return 1;
	CK(cuInit(0));
	CK(cuDeviceGet(&dev, 0));
	CK(cuCtxCreate(&ctx, 0, dev));
	{
		int opt[2] = { 5 /* ERROR_LOG_BUFFER */,
		               6 /* ERROR_LOG_BUFFER_SIZE_BYTES */ };
		void *val[2] = { log, (void *)(uintptr_t)sizeof log };
		CUresult r = cuModuleLoadDataEx(&mod, ptx, 2, opt, val);
		if (r) {
			fprintf(stderr, "gpu_gemm_run: PTX not loaded (%d): %s\n", r,
			        log);
			return 1;
		}
	}
	while (fscanf(cf, "%63s %d %lld %lld %lld %d %d %d %lld %lld", c.name,
	              &c.bf16, &c.N, &c.K, &c.lda, &c.xform, &c.bm, &c.threads,
	              &c.coltiles, &c.shmem) == 10) {
		CUfunction f;
		CK(cuModuleGetFunction(&f, mod, c.name));
		/* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
		CK(cuFuncSetAttribute(f, 8, (int)c.shmem));
		/* CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: all */
		CK(cuFuncSetAttribute(f, 9, 100));
		{
			int regs = 0, spill = 0;
			/* CU_FUNC_ATTRIBUTE_NUM_REGS, _LOCAL_SIZE_BYTES */
			CK(cuFuncGetAttribute(&regs, 4, f));
			CK(cuFuncGetAttribute(&spill, 3, f));
			printf("kernel %-14s registers=%d local_bytes=%d shared=%lld\n",
			       c.name, regs, spill, c.shmem);
		}
		for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
			fails += !check(f, &c, ms[i]);
		if (c.N >= 256 && c.K >= 256)
			bench(f, &c, mbench);
	}
	printf("%s\n", fails ? "FAILED" : "all checks passed");
	return fails ? 1 : 0;
}
