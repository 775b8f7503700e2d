/*
 * lanefft.h - the long convolution with 16 channels in the lanes of
 * AVX-512 vectors (lanefft.c), for fftconv.c: power-of-two FFT sizes up
 * to LANEFFT_MAX_N in radix-2 passes, other 7-smooth sizes in four steps;
 * channels-last rows read and written in place.
 */
#ifndef HYENAC_LANEFFT_H
#define HYENAC_LANEFFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LANEFFT_MAX_N 65536

/* Whether size N has the lane transforms: a power of two, 64..MAX (the
 * radix-2 form), or 7-smooth from 64 up (the four-step form; past 8192
 * points only with hyrt_big_pages). */
bool hyrt_lanefft_fits(int64_t N);
/* The work, in floats, that size N's transforms need (at least N * 16). */
int64_t hyrt_lanefft_work_floats(int64_t N);
/* A block's filter spectra (16 channels, (N/2+1) x 16 real parts then as
 * many imaginary parts) from 16 rows x + i*ld of L values, times scale;
 * x is left as it was. work: hyrt_lanefft_work_floats(N), 64-byte aligned. Only where
 * the CPU has AVX-512F. */
void hyrt_lanefft_spectra(float *kf, const float *x, int64_t ld, int64_t L,
                          int64_t N, float scale, float *work);
/* y[t*C + i] = (conv of x with channel i's filter)[t] (* post[t*ps + i]),
 * t < L, i < 16, x[t] = v[t*vs + i] (* g[t*gs + i]); kf as above, 64-byte
 * aligned; work as above. */
void hyrt_lanefft_conv(float *y, int64_t C, const float *v, int64_t vs,
                       const float *g, int64_t gs, const float *post,
                       int64_t ps, const float *kf, int64_t L, int64_t N,
                       float *work);
/* Print that the FFT convolution ran out of memory allocating bytes and
 * exit 1 (fftconv.c: generated code calls the convolution as a kernel,
 * with no caller to report to). */
_Noreturn void hyrt_conv_oom(size_t bytes);
/* Free the twiddle tables (hyrt_fft_release: a library being unloaded;
 * no convolution runs now). */
void hyrt_lanefft_release(void);

#endif
