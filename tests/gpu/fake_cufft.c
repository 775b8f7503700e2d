/*
 * fake_cufft.c - a stand-in for cuFFT (HYENAC_CUFFT points at it) with
 * fake_cuda.c: the in-place batched R2C and C2R transforms of the
 * layouts runtime/cuda/gpu_run.c plans (rank 1, unit strides, the
 * distances given), by the definition in double, unscaled as cuFFT's.
 * It asks for a work area of 4 KiB and writes into it, so that a work
 * area the runtime did not give is caught.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct FakePlan {
	long long n, idist, odist, batch;
	int type, made;
	void *work;
} FakePlan;

enum { NPLAN = 4096, WORK = 4096 };
static FakePlan plans[NPLAN];
static int nplans;

int cufftCreate(int *h)
{
	if (nplans == NPLAN)
		return 2;
	memset(&plans[nplans], 0, sizeof plans[0]);
	*h = nplans++;
	return 0;
}

int cufftSetAutoAllocation(int h, int on)
{
	(void)h;
	return on ? 4 : 0; /* the runtime always gives the work area */
}

int cufftMakePlanMany64(int h, int rank, long long *n, long long *inembed,
                        long long istride, long long idist,
                        long long *onembed, long long ostride,
                        long long odist, int type, long long batch,
                        size_t *work)
{
	if (rank != 1 || !inembed || !onembed || istride != 1 || ostride != 1 ||
	    (type != 0x2a && type != 0x2c) || batch < 1 || n[0] < 1)
		return 4;
	FakePlan *p = &plans[h];
	p->n = n[0];
	p->idist = idist;
	p->odist = odist;
	p->batch = batch;
	p->type = type;
	p->made = 1;
	*work = WORK;
	return 0;
}

int cufftSetWorkArea(int h, void *w)
{
	plans[h].work = w;
	return 0;
}

int cufftSetStream(int h, void *s)
{
	(void)h, (void)s;
	return 0;
}

int cufftExecR2C(int h, float *in, float *out)
{
	FakePlan *p = &plans[h];
	long long n = p->n, nc = n / 2 + 1;
	double *t = malloc(sizeof(double) * (size_t)(2 * nc));

	if (!p->made || p->type != 0x2a || !p->work || !t)
		return 6;
	memset(p->work, 0x5a, WORK);
	for (long long r = 0; r < p->batch; r++) {
		const float *x = in + r * p->idist;
		float *y = out + 2 * r * p->odist;
		for (long long f = 0; f < nc; f++) {
			double re = 0, im = 0;
			for (long long j = 0; j < n; j++) {
				double a = -2 * M_PI * (double)((f * j) % n) / (double)n;
				re += x[j] * cos(a);
				im += x[j] * sin(a);
			}
			t[2 * f] = re;
			t[2 * f + 1] = im;
		}
		for (long long f = 0; f < 2 * nc; f++)
			y[f] = (float)t[f];
	}
	free(t);
	return 0;
}

int cufftExecC2R(int h, float *in, float *out)
{
	FakePlan *p = &plans[h];
	long long n = p->n, nc = n / 2 + 1;
	double *t = malloc(sizeof(double) * (size_t)n);

	if (!p->made || p->type != 0x2c || !p->work || !t)
		return 6;
	memset(p->work, 0x5a, WORK);
	for (long long r = 0; r < p->batch; r++) {
		const float *x = in + 2 * r * p->idist;
		float *y = out + r * p->odist;
		for (long long j = 0; j < n; j++) {
			double s = 0;
			for (long long f = 0; f < n; f++) {
				/* Hermitian: bin f > n/2 is the conjugate of n - f */
				long long g = f < nc ? f : n - f;
				double re = x[2 * g], im = f < nc ? x[2 * g + 1]
				                                  : -x[2 * g + 1];
				double a = 2 * M_PI * (double)((f * j) % n) / (double)n;
				s += re * cos(a) - im * sin(a);
			}
			t[j] = s;
		}
		for (long long j = 0; j < n; j++)
			y[j] = (float)t[j];
	}
	free(t);
	return 0;
}

int cufftDestroy(int h)
{
	plans[h].made = 0;
	return 0;
}
