// tiny_kernels.cu - the kernels of the hand-written GPU test model
// (tests/gpu/tiny_model.c says what it computes), in CUDA C for clang's
// NVPTX backend, with no CUDA header. tiny_ptx.inc is made from it by
//   clang-19 -x cuda --cuda-device-only --cuda-gpu-arch=sm_75 -nocudainc
//     -nocudalib -O2 -S -o tiny.ptx tiny_kernels.cu
// then quoted as a C string (tests/gpu/make-tiny-ptx.sh does both).
// Every kernel has the one signature of runtime/hygpu.h.
// The same source is C for the host (fake_cuda.c includes it, running
// each block's threads one after another: no kernel here waits on
// another thread), so the runtime can be run end to end without a GPU.
#ifdef __CUDA__
#define KERNEL extern "C" __attribute__((global))
#define DEVICE static __attribute__((device))
#define TID ((long)__nvvm_read_ptx_sreg_tid_x())
#define BID ((long)__nvvm_read_ptx_sreg_ctaid_x())
#define BDIM ((long)__nvvm_read_ptx_sreg_ntid_x())
extern __attribute__((shared)) float tiny_sh[];
#else
#define KERNEL static
#define DEVICE static
static long fake_tid, fake_bid, fake_bdim;
#define TID fake_tid
#define BID fake_bid
#define BDIM fake_bdim
static float tiny_sh[12800];
#endif
#define ARGS                                                                 \
	char *arena, const float *w, float **io, float *work, float *spec,      \
	    long B, long L, long n, long a, long cnt
#define GID (BID * BDIM + TID)

enum { D = 4, V = 16, MAXLEN = 64 };
enum { W_EMB = 0, W_POS = 48, W_K = 304, W_BIAS = 560, W_HEAD = 564 };
// the derived weights after the blob (hygpu.h's weights_base, in floats):
// the head transposed, [c][v], written by tiny_init
enum { W_HEAD_T = 640 };

// the arena (tiny_model.c's regions: token 32, position 32, fixed 64,
// sample 16 bytes)
#define X ((float *)arena)
#define Y ((float *)(arena + 16 * B * L))
#define POS ((float *)(arena + 32 * B * L))
#define KS ((float *)(arena + 32 * B * L + 16 * L))
#define MEAN ((float *)(arena + 32 * B * L + 32 * L + 64))

KERNEL void tiny_pos(ARGS)
{
	long i = GID;
	if (i < L * D)
		POS[i] = w[W_POS + i];
}

KERNEL void tiny_embed(ARGS)
{
	long i = GID;
	if (i >= B * L * D)
		return;
	long bt = i / D, c = i % D, t = bt % L;
	int tok = ((int *)io[0])[bt];
	X[i] = w[W_EMB + tok * D + c] + POS[t * D + c];
}

// the filter's taps into the position region (a step that only makes
// what the filter reads: HYGPU_FILTER_SRC), as a generated filter MLP
KERNEL void tiny_ksrc(ARGS)
{
	long i = GID;
	if (i < L * D)
		KS[i] = w[W_K + i];
}

KERNEL void tiny_filter(ARGS)
{
	long j = BID, c = a + j;
	for (long t = TID; t < n + 2; t += BDIM)
		spec[j * (n + 2) + t] = t < L ? KS[t * D + c] : 0.0f;
}

KERNEL void tiny_gather(ARGS)
{
	long j = BID / B, b = BID % B, c = a + j;
	float *row = work + BID * (n + 2);
	for (long t = TID; t < n + 2; t += BDIM)
		row[t] = t < L ? X[(b * L + t) * D + c] : 0.0f;
}

KERNEL void tiny_mul(ARGS)
{
	long j = BID / B;
	float *r = work + BID * (n + 2);
	const float *s = spec + j * (n + 2);
	for (long f = TID; f < n / 2 + 1; f += BDIM) {
		float xr = r[2 * f], xi = r[2 * f + 1];
		float sr = s[2 * f], si = s[2 * f + 1];
		r[2 * f] = xr * sr - xi * si;
		r[2 * f + 1] = xr * si + xi * sr;
	}
}

KERNEL void tiny_scatter(ARGS)
{
	long j = BID / B, b = BID % B, c = a + j;
	const float *row = work + BID * (n + 2);
	for (long t = TID; t < L; t += BDIM) {
		long i = (b * L + t) * D + c;
		Y[i] = row[t] / (float)n + X[i] * w[W_BIAS + c];
	}
}

DEVICE float head(const float *y, const float *w, long v)
{
	float s = 0.0f;
	for (long c = 0; c < D; c++)
		s += y[c] * w[W_HEAD_T + c * V + v];
	return s;
}

// the plan's init step: the head's transposed copy (a thread an element)
KERNEL void tiny_init(ARGS)
{
	long i = GID;
	if (i >= V * D)
		return;
	long v = i / D, c = i % D;
	((float *)w)[W_HEAD_T + c * V + v] = w[W_HEAD + v * D + c];
}

KERNEL void tiny_out(ARGS)
{
	long i = GID;
	if (i >= B * L * V)
		return;
	long bt = i / V, v = i % V;
	io[2][i] = head(Y + bt * D, w, v);
	if (v < D)
		io[1][bt * D + v] = Y[bt * D + v];
}

KERNEL void tiny_head_rows(ARGS)
{
	long i = GID;
	if (i >= cnt * V)
		return;
	long r = a + i / V, v = i % V;
	work[i] = head(Y + r * D, w, v);
}

KERNEL void tiny_copy_rows(ARGS)
{
	long i = GID;
	if (i >= cnt * V)
		return;
	io[1][a * V + i] = work[i];
}

KERNEL void tiny_pool_mean(ARGS)
{
	long b = BID, c = TID;
	if (c < D) {
		float s = 0.0f;
		for (long t = 0; t < L; t++)
			s += Y[(b * L + t) * D + c];
		// through the top of the dynamic shared memory (50 KiB)
		tiny_sh[12799 - c] = s / (float)L;
		MEAN[b * D + c] = tiny_sh[12799 - c];
	}
}

KERNEL void tiny_pool_out(ARGS)
{
	long i = GID;
	if (i >= B * D)
		return;
	long b = i / D, c = i % D;
	io[1][i] = MEAN[i];
	io[2][i] = Y[(b * L + L - 1) * D + c];
}

KERNEL void tiny_states(ARGS)
{
	long i = GID;
	if (i >= B * L * D)
		return;
	io[1][i] = X[i];
	io[2][i] = Y[i];
}
