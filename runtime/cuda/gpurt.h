/*
 * gpurt.h - what a GPU binary's main (runtime/main/) and the runtime's
 * tests call in the CUDA runtime (libhyenac_rt_cuda.a, gpu_run.c),
 * beside the hyrt.h functions it defines over the plan of hygpu.h.
 *
 * runtime/main refers to these weakly (#pragma weak), so a CPU binary,
 * which does not link this archive, sees them as NULL and a GPU binary
 * (whose hyenac_run lives in the same object) as defined: that is how
 * the shared main() tells the two apart.
 *
 * Environment (read by hyrt_gpu_start):
 *   HYENAC_CUDA_DRIVER  the driver library (default libcuda.so.1)
 *   HYENAC_CUFFT        cuFFT's library (default: cuda_api.h's order)
 *   HYENAC_GPU_MEMORY   the most device memory the binary may hold
 *                       (bytes, or K/M/G/T: memlimit.h's syntax)
 * HYENAC_DEVICE and --device are runtime/main's (they give `device`).
 */
#ifndef HYENAC_GPURT_H
#define HYENAC_GPURT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	HYRT_GPU_OK,
	HYRT_GPU_NO_DEVICE, /* no driver, or a driver and no device */
	HYRT_GPU_FAILED,    /* anything else: msg says what */
} HyrtGpuStatus;

/* Load the driver, pick device `device` (-1: the process's local rank on
 * its node as the MPI or Slurm launcher gives it, modulo the devices
 * there, else 0), load the PTX (checking its arch
 * against the device), load cuFFT (when the plan has FFT steps), upload
 * the weights (bytes of them). On failure one line in msg. Call once,
 * before any hyenac_run*. */
HyrtGpuStatus hyrt_gpu_start(const void *weights, size_t bytes,
                             int64_t device, char *msg, size_t n);
/* How a failure after the start (a CUDA error, too little memory for a
 * forward) is reported: fail(msg) must not return. Default: "PROG: msg"
 * on stderr and exit(1) (outfile.c's atexit hook removes temporaries). */
void hyrt_gpu_set_fail(void (*fail)(const char *msg));
/* "device 0 (NVIDIA H200, sm_90)", for bench, once started. */
const char *hyrt_gpu_device_desc(void);
/* The arch the binary's kernels are for ("sm_90"): the plan's. */
const char *hyrt_gpu_arch(void);
/* One whole forward as bench times it: output `which` (0 hidden, 1
 * logits through `entry logits` when there is one) of B rows of L
 * tokens, left on the device; returns when the device is done. The
 * tokens are uploaded on the first call for this (tok, B, L) only. */
void hyrt_gpu_forward_on_device(const int32_t *tok, int64_t B, int64_t L,
                                int which);

typedef struct HyrtGpuStats {
	int64_t peak_bytes;   /* most bytes held at once: weights, arena,
	                       * io, outputs, work, spectra, cuFFT work */
	int64_t device_used;  /* most device memory in use since the start
	                       * (cuMemGetInfo), cuFFT's own plans included */
	int64_t weights, spectra; /* held now */
} HyrtGpuStats;
void hyrt_gpu_stats(HyrtGpuStats *s);

#endif
