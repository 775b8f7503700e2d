/*
 * harness.c - test support, device machine only: walks an entry of the
 * plan of a host object made by `hyenac compile --target cuda --emit obj`
 * (linked in) through the CUDA driver API and cuFFT, as the runtime
 * does (runtime/hygpu.h), so the kernels and the plan can be checked
 * against the golden outputs without the runtime. Not built by CMake.
 * usage: harness BLOB ENTRY TOKENS.npy OUTPREFIX [CHUNK]
 */
#include <cuda.h>
#include <cufft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/hygpu.h"

#define CK(x)                                                              \
	do {                                                                   \
		CUresult r_ = (x);                                                 \
		if (r_ != CUDA_SUCCESS) {                                          \
			const char *s_ = "?";                                          \
			cuGetErrorString(r_, &s_);                                     \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, s_); \
			exit(1);                                                       \
		}                                                                  \
	} while (0)

static void *slurp(const char *p, size_t *n)
{
	FILE *f = fopen(p, "rb");
	if (!f) {
		perror(p);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	void *b = malloc(*n + 1);
	if (fread(b, 1, *n, f) != *n)
		exit(1);
	fclose(f);
	return b;
}

static CUdeviceptr dalloc(size_t n)
{
	CUdeviceptr p;
	CK(cuMemAlloc(&p, n ? n : 64));
	CK(cuMemsetD8(p, 0xff, n ? n : 64)); /* NaNs: unwritten shows */
	return p;
}

int main(int argc, char **argv)
{
	size_t nb, nt;
	if (argc < 5)
		return 2;
	char *blob = slurp(argv[1], &nb);
	char *tk = slurp(argv[3], &nt);
	int64_t chunk_env = argc > 5 ? atoll(argv[5]) : 0;
	/* npy: header then int32 [B, L] */
	uint16_t hl = *(uint16_t *)(tk + 8);
	char *hdr = tk + 10;
	long long B = 1, L = 1;
	char *sh = strstr(hdr, "shape");
	sscanf(strchr(sh, '(') + 1, "%lld, %lld", &B, &L);
	int32_t *tokens = (int32_t *)(tk + 10 + hl);

	CK(cuInit(0));
	CUdevice dev;
	CUcontext ctx;
	CK(cuDeviceGet(&dev, 0));
	CK(cuCtxCreate(&ctx, 0, dev));
	char log[16384] = "";
	CUjit_option opt[] = {CU_JIT_ERROR_LOG_BUFFER,
	                      CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
	void *ov[] = {log, (void *)(size_t)sizeof log};
	CUmodule mod;
	CUresult r = cuModuleLoadDataEx(&mod, hyenac_gpu_ptx, 2, opt, ov);
	if (r != CUDA_SUCCESS) {
		fprintf(stderr, "module load failed (%d): %s\n", (int)r, log);
		return 1;
	}
	const HygpuPlan *p = &hyenac_gpu_plan;
	CUfunction *fn = calloc((size_t)p->nkernel, sizeof *fn);
	const char *kn = hyenac_gpu_kernels;
	for (int64_t k = 0; k < p->nkernel; k++) {
		CK(cuModuleGetFunction(&fn[k], mod, kn));
		kn += strlen(kn) + 1;
	}
	const HygpuEntry *e = NULL;
	for (int64_t i = 0; i < p->nentry; i++)
		if (strcmp(p->entries[i].name, argv[2]) == 0)
			e = &p->entries[i];
	if (!e) {
		fprintf(stderr, "no entry %s\n", argv[2]);
		return 1;
	}
	size_t arena_b = (size_t)(p->region[0] * B * L + p->region[1] * L +
	                          p->region[2] + p->region[3] * B);
	/* the blob, then what the plan's init steps derive from it */
	size_t wb = p->weights_extra
	                ? (size_t)(p->weights_base + p->weights_extra)
	                : nb;
	CUdeviceptr arena = dalloc(arena_b), weights = dalloc(wb);
	CK(cuMemcpyHtoD(weights, blob, nb));
	for (int64_t j = p->init_first; j < p->init_first + p->init_count; j++) {
		const HygpuStep *t = &p->steps[j];
		int64_t one = 1, zero = 0;
		CUdeviceptr none = 0;
		void *args[] = {&arena, &weights, &none, &none, &none,
		                &one,   &one,     &zero, &zero, &zero};
		int64_t blocks = (t->grid[5] + t->grid_div - 1) / t->grid_div;
		CK(cuLaunchKernel(fn[t->kernel], (unsigned)blocks, 1, 1,
		                  (unsigned)t->threads, 1, 1, (unsigned)t->shmem, 0,
		                  args, NULL));
	}
	CUdeviceptr io_h[1 + 66];
	size_t osz[66];
	io_h[0] = dalloc((size_t)(B * L * 4));
	CK(cuMemcpyHtoD(io_h[0], tokens, (size_t)(B * L * 4)));
	for (int64_t k = 0; k < e->nout; k++) {
		osz[k] = (size_t)(e->out_per_token[k] ? e->out_per_token[k] * B * L
		                                      : e->out_per_sample[k] * B) *
		         4;
		io_h[1 + k] = dalloc(osz[k]);
	}
	CUdeviceptr io = dalloc(sizeof io_h);
	CK(cuMemcpyHtoD(io, io_h, sizeof io_h));
	printf("entry %s: %lld steps, B=%lld L=%lld arena=%zu\n", e->name,
	       (long long)e->count, B, L, arena_b);

	int64_t i = e->first, end = e->first + e->count;
	while (i < end) {
		const HygpuStep *s = &p->steps[i];
		int64_t gcount = 0, units = 0, chunk = 1, n = 0;
		CUdeviceptr work = 0, spec = 0;
		if (s->op == HYGPU_GROUP) {
			gcount = s->count;
			units = s->dim == HYGPU_DIM_ROWS ? B * L : s->units;
			chunk = s->max_chunk < units ? s->max_chunk : units;
			if (chunk_env > 0 && chunk_env < chunk)
				chunk = chunk_env;
			n = s->conv >= 0 ? hygpu_fft_len(L) : 0;
			int64_t per = s->work_per_unit, fix = s->work_fixed;
			if (s->flags & HYGPU_WORK_PER_FFT_ROW) {
				per *= (n + 2) * 4;
				fix *= (n + 2) * 4;
			}
			if (s->flags & HYGPU_WORK_TIMES_B)
				per *= B;
			work = dalloc((size_t)(per * chunk + fix));
			if (s->conv >= 0)
				spec = dalloc((size_t)(chunk * (n + 2) * 4));
			i++;
		} else {
			gcount = 1;
			units = 1;
			chunk = 1;
		}
		for (int64_t a = 0; a < units; a += chunk) {
			int64_t cnt = s->op == HYGPU_GROUP
			                  ? (units - a < chunk ? units - a : chunk)
			                  : 0;
			int64_t aa = s->op == HYGPU_GROUP ? a : 0;
			for (int64_t j = i; j < i + gcount; j++) {
				const HygpuStep *t = &p->steps[j];
				if (t->op == HYGPU_LAUNCH) {
					int64_t tot = t->grid[0] * B * L + t->grid[1] * B +
					              t->grid[2] * L + t->grid[3] * cnt +
					              t->grid[4] * cnt * B + t->grid[5];
					int64_t blocks = (tot + t->grid_div - 1) / t->grid_div;
					if (blocks < 1)
						blocks = 1;
					int64_t Bv = B, Lv = L, nv = n;
					void *args[] = {&arena, &weights, &io, &work, &spec,
					                &Bv,    &Lv,      &nv, &aa,   &cnt};
					CK(cuLaunchKernel(fn[t->kernel], (unsigned)blocks, 1, 1,
					                  (unsigned)t->threads, 1, 1,
					                  (unsigned)t->shmem, 0, args, NULL));
					CUresult rr = cuCtxSynchronize();
					if (rr != CUDA_SUCCESS) {
						const char *es = "?";
						cuGetErrorString(rr, &es);
						fprintf(stderr, "step %lld kernel %lld: %s\n",
						        (long long)j, (long long)t->kernel, es);
						return 1;
					}
				} else if (t->op == HYGPU_R2C || t->op == HYGPU_C2R) {
					int rows = (int)(t->rows_per_unit * cnt *
					                 (t->rows_b ? B : 1));
					int nn = (int)n, w = nn + 2, f = nn / 2 + 1;
					cufftHandle h;
					int rc;
					if (t->op == HYGPU_R2C)
						rc = cufftPlanMany(&h, 1, &nn, &w, 1, w, &f, 1, f,
						                   CUFFT_R2C, rows);
					else
						rc = cufftPlanMany(&h, 1, &nn, &f, 1, f, &w, 1, w,
						                   CUFFT_C2R, rows);
					if (rc) {
						fprintf(stderr, "cufft plan %d\n", rc);
						return 1;
					}
					CUdeviceptr buf = (t->buf ? spec : work) +
					                  (CUdeviceptr)(t->off_rows * w * 4);
					if (t->op == HYGPU_R2C)
						rc = cufftExecR2C(h, (cufftReal *)buf,
						                  (cufftComplex *)buf);
					else
						rc = cufftExecC2R(h, (cufftComplex *)buf,
						                  (cufftReal *)buf);
					if (rc) {
						fprintf(stderr, "cufft exec %d\n", rc);
						return 1;
					}
					CK(cuCtxSynchronize());
					cufftDestroy(h);
				}
			}
		}
		if (work)
			cuMemFree(work);
		if (spec)
			cuMemFree(spec);
		i += gcount;
	}
	for (int64_t k = 0; k < e->nout; k++) {
		float *h = malloc(osz[k]);
		CK(cuMemcpyDtoH(h, io_h[1 + k], osz[k]));
		char path[512];
		snprintf(path, sizeof path, "%s.%lld.f32", argv[4], (long long)k);
		FILE *f = fopen(path, "wb");
		fwrite(h, 1, osz[k], f);
		fclose(f);
		free(h);
	}
	printf("ok\n");
	return 0;
}
