/*
 * core_probe.c - what one core of a machine keeps of its speed when the
 * others are busy: the machine's own ceiling for the MPI scaling table
 * (bench/mpi-scaling.sh --control runs it). Three loops, each timed for
 * about SECONDS and printed as one number:
 *
 *   fma   AVX-512 FMAs on 12 independent register accumulators: the
 *         core's floating-point ports (a core shared with another
 *         hardware thread loses about half)
 *   l2    sums over a 1 MiB buffer: the core's own L2
 *   mem   sums over a 512 MiB buffer: the memory system every core shares
 *
 *   core_probe fma|l2|mem [SECONDS]
 *
 * Built by bench/mpi-scaling.sh --prepare with -O2 -mavx512f (the lent
 * machine has AVX-512); a benchmark, not a test.
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* GFLOP/s of 12 independent FMA chains, each in its own register */
static double fma_rate(double seconds)
{
	__m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
	__m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1),
	       a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3),
	       a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5),
	       a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7),
	       a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9),
	       a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
	long iters = 0;
	double t0 = now(), t;

	do {
		for (int k = 0; k < 100000; k++) {
#define F(a) a = _mm512_fmadd_ps(a, x, y)
			F(a0); F(a1); F(a2); F(a3); F(a4); F(a5);
			F(a6); F(a7); F(a8); F(a9); F(a10); F(a11);
#undef F
		}
		iters += 100000;
		t = now() - t0;
	} while (t < seconds);
	__m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1),
	                                       _mm512_add_ps(a2, a3)),
	                         _mm512_add_ps(_mm512_add_ps(a4, a5),
	                                       _mm512_add_ps(a6, a7)));
	s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9),
	                                   _mm512_add_ps(a10, a11)));
	if (_mm512_reduce_add_ps(s) == 12345.0f)
		puts(""); /* keeps the chains alive */
	return (double)iters * 12 * 16 * 2 / t * 1e-9;
}

/* GB/s of sums over a buffer of the given bytes */
static double sum_rate(size_t bytes, double seconds)
{
	size_t n = bytes / sizeof(float);
	float *b = aligned_alloc(64, bytes);
	long passes = 0;
	double t0, t;
	__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;

	if (!b) {
		fprintf(stderr, "core_probe: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		b[i] = (float)(i & 7);
	t0 = now();
	do {
		for (size_t i = 0; i < n; i += 64) {
			s0 = _mm512_add_ps(s0, _mm512_load_ps(b + i));
			s1 = _mm512_add_ps(s1, _mm512_load_ps(b + i + 16));
			s2 = _mm512_add_ps(s2, _mm512_load_ps(b + i + 32));
			s3 = _mm512_add_ps(s3, _mm512_load_ps(b + i + 48));
		}
		passes++;
		t = now() - t0;
	} while (t < seconds);
	s0 = _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
	if (_mm512_reduce_add_ps(s0) == 12345.0f)
		puts("");
	free(b);
	return (double)passes * (double)bytes / t * 1e-9;
}

int main(int argc, char **argv)
{
	double secs = argc > 2 ? atof(argv[2]) : 2.0;

	if (argc < 2 || argc > 3 || secs <= 0) {
		fprintf(stderr, "usage: core_probe fma|l2|mem [SECONDS]\n");
		return 2;
	}
	if (strcmp(argv[1], "fma") == 0)
		printf("%.2f\n", fma_rate(secs));
	else if (strcmp(argv[1], "l2") == 0)
		printf("%.2f\n", sum_rate((size_t)1 << 20, secs));
	else if (strcmp(argv[1], "mem") == 0)
		printf("%.2f\n", sum_rate((size_t)512 << 20, secs));
	else {
		fprintf(stderr, "core_probe: unknown loop '%s'\n", argv[1]);
		return 2;
	}
	return 0;
}
