/*
 * specmul.c - the pointwise product of a transformed row with its filter
 * spectrum (the middle step of every FFT convolution, fftconv.c), in the
 * widest vectors the CPU running it has.
 *
 * The runtime is built for the baseline x86-64 (it links into binaries
 * for any target CPU), and there the compiler turns this loop of
 * interleaved complex numbers into one complex product at a time: 6% of
 * a tiny-1k forward (docs/performance.md). The AVX2 and AVX-512 forms
 * take 4 and 8 products a vector: the spectrum's real and imaginary parts
 * duplicated into every lane pair (moveldup, movehdup), the row's pairs
 * swapped, and one fmaddsub, which subtracts in the real lanes and adds
 * in the imaginary ones. fftconv.c takes the widest form this CPU runs
 * (hyrt_spec_mul_best) once, as the runtime's CPU check (cpucheck.c)
 * says: CPUID for the instructions, XGETBV for the OS's register state.
 */
#include "cpucheck.h"
#include "hyrt.h"

#include <immintrin.h>

typedef void (*MulFn)(float *restrict row, const float *restrict kf,
                      int64_t nf);

/* row[f] *= kf[f] for f < nf complex numbers, (re, im) interleaved. */
static void mul_scalar(float *restrict row, const float *restrict kf,
                       int64_t nf)
{
	for (int64_t f = 0; f < nf; f++) {
		float ar = row[2 * f], ai = row[2 * f + 1];
		float br = kf[2 * f], bi = kf[2 * f + 1];
		row[2 * f] = ar * br - ai * bi;
		row[2 * f + 1] = ar * bi + ai * br;
	}
}

#if defined(__x86_64__) || defined(__i386__)
#define HAVE_X86 1

__attribute__((target("avx2,fma"))) static void
mul_avx2(float *restrict row, const float *restrict kf, int64_t nf)
{
	int64_t f = 0;
	for (; f + 4 <= nf; f += 4) {
		__m256 a = _mm256_loadu_ps(row + 2 * f);
		__m256 b = _mm256_loadu_ps(kf + 2 * f);
		__m256 t = _mm256_mul_ps(_mm256_permute_ps(a, 0xb1),
		                         _mm256_movehdup_ps(b));
		_mm256_storeu_ps(row + 2 * f,
		                 _mm256_fmaddsub_ps(a, _mm256_moveldup_ps(b), t));
	}
	mul_scalar(row + 2 * f, kf + 2 * f, nf - f);
}

__attribute__((target("avx512f"))) static void
mul_avx512(float *restrict row, const float *restrict kf, int64_t nf)
{
	int64_t f = 0;
	for (; f < nf; f += 8) {
		/* the last vector masked to what is left */
		__mmask16 m = nf - f >= 8 ? (__mmask16)0xffff
		                          : (__mmask16)((1u << (2 * (nf - f))) - 1);
		__m512 a = _mm512_maskz_loadu_ps(m, row + 2 * f);
		__m512 b = _mm512_maskz_loadu_ps(m, kf + 2 * f);
		__m512 t = _mm512_mul_ps(_mm512_permute_ps(a, 0xb1),
		                         _mm512_movehdup_ps(b));
		_mm512_mask_storeu_ps(row + 2 * f, m,
		                      _mm512_fmaddsub_ps(a, _mm512_moveldup_ps(b),
		                                         t));
	}
}
#endif

static const MulFn forms[HYRT_SPECMUL_FORMS] = {
    mul_scalar,
#ifdef HAVE_X86
    mul_avx2, mul_avx512,
#else
    NULL, NULL,
#endif
};

bool hyrt_spec_mul_form_ok(int form)
{
	if (form < 0 || form >= HYRT_SPECMUL_FORMS || !forms[form])
		return false;
	if (form == HYRT_SPECMUL_AVX2)
		return hyrt_cpu_has("avx2,fma");
	if (form == HYRT_SPECMUL_AVX512)
		return hyrt_cpu_has("avx512f");
	return form == HYRT_SPECMUL_SCALAR;
}

void hyrt_spec_mul_form(int form, float *row, const float *kf, int64_t nf)
{
	forms[form](row, kf, nf);
}

int hyrt_spec_mul_best(void)
{
	int form = HYRT_SPECMUL_FORMS - 1;
	while (!hyrt_spec_mul_form_ok(form))
		form--;
	return form;
}
