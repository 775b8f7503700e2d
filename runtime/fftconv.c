/*
 * fftconv.c - the causal long convolution of HyenaDNA through FFTW
 * (hyrt_longconv_fft), and the same by definition (hyrt_longconv_direct).
 *
 * u and y are [B, L, C] channels-last, k is [L, C]. The channels are taken
 * in blocks of cb (16, one cache line of each activation row): a block's
 * L rows are gathered, by tiles of 16 positions with the gate v * g
 * applied and the lines ahead prefetched, into cb rows of N floats; each
 * row is zero-padded, transformed by one r2c plan of size N, multiplied by
 * its channel's filter spectrum and transformed back in place by one c2r
 * plan (the per-channel transforms of the library bound, bench/
 * sgemm_limit.c), and the block is scattered into y with the output gate.
 * The skip term u * bias is folded into the spectrum (bias at lag 0), so
 * the scatter does not read v and g again. The 1/N of the inverse
 * transform is folded into the spectrum too. N is a 2^a 3^b 5^c 7^d
 * >= 2L (hyrt_fft_size), so the circular convolution equals the linear
 * one on the first L outputs, as the reference's zero-padded rfft/irfft
 * of size 2L does. Interleaved layouts, which would need no gather
 * (FFTW strided "many" plans over channels-last rows, or two real
 * channels per complex transform), were measured against this: at
 * L = 32768 with Debian's FFTW (SSE2/AVX codelets) they ran 2.5-6x the
 * per-channel transforms' time, this layout 1.2-1.6x.
 *
 * Where the CPU has AVX-512, the blocks are whole blocks of 16 channels
 * of at most BLOCK_BYTES and the spectra are kept, none of the above:
 * each block goes through lanefft.c's transforms, one channel in each
 * lane of a vector, straight from v and g to y; its radix-2 form for the
 * powers of two up to 65536 (tiny-1k's 2048, small-32k's 65536), its
 * four-step form for the other sizes (medium-160k's 320000 where the
 * activations are on 2 MB pages). hyrt_conv_lanes says when.
 *
 * Filter spectra: kept between calls in the module's slot for the layer
 * (see "spectra kept per layer and length" below) when the memory plan
 * holds them, else made per call, a block at a time, and used for every
 * batch row of the block.
 *
 * Plans are made once per N and kept for the life of the process in a
 * list behind a mutex, since FFTW's planner is not thread-safe; the
 * new-array execute functions that use them are. They come from the
 * wisdom `hyenac compile` measured and embedded in the module
 * (hyenac_fftw_wisdom, for the compiled length), from HYRT_WISDOM's file
 * (FFTW_MEASURE for sizes it lacks; the file is read before the first
 * plan and rewritten after each new one, through outfile.h as every
 * output), else from FFTW_ESTIMATE: a forward never measures silently.
 * Work buffers are per thread (hyrt_alloc_big: 64-byte aligned, on 2 MB
 * pages when large), grown as needed and kept: the largest sizes a
 * thread has used stay with it until it exits, when a thread-specific
 * key's destructor frees them (worker threads would otherwise leak them;
 * LeakSanitizer said so).
 *
 * Running out of memory here has no caller to report to (generated code
 * calls this as a kernel), so it prints one line and exits 1.
 */
#include "cpucheck.h"
#include "hyrt.h"
#include "lanefft.h"
#include "outfile.h"

#include <fftw3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_TILE16 1
#endif

/* Channels per block: 16, the channels of one 64-byte line of the
 * activations, so the tiled gather reads each line once; fewer where a
 * block's rows would pass BLOCK_BYTES (the longest inputs), to bound the
 * work memory a thread holds. Positions per tile of the gather and the
 * scatter: the tile's lines of v and of the block's rows stay in L1. */
enum { CB_MAX = 16, CB_MIN = 4, TILE = 16, PREFETCH = 4 * TILE };
/* The gather's and scatter's whole tiles, by the channels one vector
 * holds: none (a float at a time), SSE, AVX2, AVX-512. */
enum { TILE_NONE = 0, TILE_128 = 4, TILE_256 = 8, TILE_512 = 16 };
#define BLOCK_BYTES ((int64_t)32 << 20)

typedef struct Plan {
	int n;
	fftwf_plan fwd, inv; /* one r2c and one c2r of size n */
	struct Plan *next;
} Plan;

static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;
static Plan *plans; /* freed only when a library is unloaded */
static bool wisdom_read;

/* The wisdom `hyenac compile` measured for this binary's FFT sizes and
 * embedded in the module (codegen/cpu/entry.c); absent (NULL) where the
 * runtime is linked without a module or the module has no FFT. */
extern const char hyenac_fftw_wisdom[] __attribute__((weak));

static _Thread_local float *t_real;
static _Thread_local fftwf_complex *t_row, *t_kf;
static _Thread_local size_t t_real_cap, t_row_cap, t_kf_cap;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

_Noreturn void hyrt_conv_oom(size_t bytes)
{
	fprintf(stderr, "hyenac runtime: out of memory allocating %zu bytes "
	        "for the FFT convolution\n", bytes);
	exit(1);
}

static void *xfftw_malloc(size_t bytes)
{
	void *p = fftwf_malloc(bytes ? bytes : 1);
	if (!p)
		hyrt_conv_oom(bytes);
	return p;
}

/* The work rows and the kept spectra: large, and touched first by a
 * forward (bigalloc.c); freed with free(). */
static void *xbig(size_t bytes)
{
	void *p = hyrt_alloc_big(bytes);
	if (!p)
		hyrt_conv_oom(bytes);
	return p;
}

/* Rewrite the wisdom file as every output is written (outfile.h): a
 * temporary beside it renamed into place, so concurrent runs never read
 * a half-written file and nothing but a regular file is replaced. It is
 * a cache: when it cannot be written the run goes on without it. */
static void save_wisdom(const char *wisdom)
{
	HyrtOut o, *op = &o;
	Diag d;

	diag_init(&d);
	if (!hyrt_out_open(&o, wisdom, &d))
		return;
	if (o.std) { /* "-" names no file to keep */
		hyrt_out_abort(&o);
		return;
	}
	fftwf_export_wisdom_to_file(o.f);
	if (ferror(o.f) || !hyrt_out_commit(&op, 1, &d))
		hyrt_out_abort(&o);
}


/* Make the r2c and c2r plans of size n on scratch arrays (FFTW_MEASURE
 * writes to them); callers execute them on their own fftwf_malloc'd rows,
 * each starting at a multiple of 64 bytes, so with the planning
 * alignment. Plans come from wisdom when there is some for n: the
 * module's embedded wisdom (measured by `hyenac compile` for the
 * compiled length), or HYRT_WISDOM's file, where FFTW_MEASURE plans the
 * sizes it does not hold and the file is rewritten. Without either,
 * FFTW_ESTIMATE: never a silent measurement of seconds inside a forward. */
static void make_plan(Plan *p, int n)
{
	const char *wisdom = getenv("HYRT_WISDOM");
	bool file = wisdom && *wisdom;
	float *r = xfftw_malloc(sizeof(float) * (size_t)n);
	fftwf_complex *c = xfftw_malloc(sizeof(fftwf_complex) * (size_t)(n / 2 + 1));

	if (!wisdom_read) {
		if (hyenac_fftw_wisdom && *hyenac_fftw_wisdom)
			fftwf_import_wisdom_from_string(hyenac_fftw_wisdom);
		if (file)
			fftwf_import_wisdom_from_filename(wisdom); /* absent is fine */
		wisdom_read = true;
	}
	p->n = n;
	if (!file) {
		p->fwd = fftwf_plan_dft_r2c_1d(n, r, c,
		                               FFTW_MEASURE | FFTW_WISDOM_ONLY);
		p->inv = fftwf_plan_dft_c2r_1d(n, c, r,
		                               FFTW_MEASURE | FFTW_WISDOM_ONLY);
	}
	unsigned flags = file ? FFTW_MEASURE : FFTW_ESTIMATE;
	if (!p->fwd)
		p->fwd = fftwf_plan_dft_r2c_1d(n, r, c, flags);
	if (!p->inv)
		p->inv = fftwf_plan_dft_c2r_1d(n, c, r, flags);
	if (!p->fwd || !p->inv) {
		fprintf(stderr, "hyenac runtime: FFTW cannot plan transforms "
		        "of size %d\n", n);
		exit(1);
	}
	if (file)
		save_wisdom(wisdom);
	fftwf_free(r);
	fftwf_free(c);
}

/* The vector forms this CPU runs (cpucheck.c), chosen with the first
 * plan: every user of the kernels below gets a plan first. */
static bool tile16;  /* lanefft.c's lanes (AVX-512) */
static int tile_w;   /* the gather's and scatter's tiles: TILE_* */
static int mul_form; /* hyrt_spec_mul_form's */
static pthread_once_t simd_once = PTHREAD_ONCE_INIT;

#ifdef HAVE_TILE16
static int best_tile(void)
{
	return hyrt_cpu_has("avx512f") ? TILE_512
	       : hyrt_cpu_has("avx2")  ? TILE_256
	                               : TILE_128;
}
#endif

static void pick_simd(void)
{
#ifdef HAVE_TILE16
	tile16 = hyrt_cpu_has("avx512f");
	tile_w = best_tile();
#endif
	mul_form = hyrt_spec_mul_best();
}

static const Plan *get_plan(int n)
{
	Plan *p;

	pthread_once(&simd_once, pick_simd);
	pthread_mutex_lock(&plan_lock);
	for (p = plans; p; p = p->next)
		if (p->n == n)
			break;
	if (!p) {
		p = calloc(1, sizeof *p);
		if (!p)
			hyrt_conv_oom(sizeof *p);
		make_plan(p, n);
		p->next = plans;
		plans = p;
	}
	pthread_mutex_unlock(&plan_lock);
	return p;
}

char *hyrt_fft_measure_wisdom(int64_t L, double seconds)
{
	int n = (int)hyrt_fft_size(L);
	float *r = xfftw_malloc(sizeof(float) * (size_t)n);
	fftwf_complex *c = xfftw_malloc(sizeof(fftwf_complex) * (size_t)(n / 2 + 1));

	pthread_mutex_lock(&plan_lock);
	fftwf_set_timelimit(seconds);
	fftwf_plan f = fftwf_plan_dft_r2c_1d(n, r, c, FFTW_MEASURE);
	fftwf_plan i = fftwf_plan_dft_c2r_1d(n, c, r, FFTW_MEASURE);
	fftwf_set_timelimit(-1);
	char *fw = f && i ? fftwf_export_wisdom_to_string() : NULL;
	char *w = fw ? strdup(fw) : NULL;
	if (fw)
		fftwf_free(fw);
	if (f)
		fftwf_destroy_plan(f);
	if (i)
		fftwf_destroy_plan(i);
	pthread_mutex_unlock(&plan_lock);
	fftwf_free(r);
	fftwf_free(c);
	return w;
}

/* At thread exit (glibc runs key destructors while the thread's TLS is
 * still there). The main thread's buffers stay reachable to the end. */
static void free_scratch(void *unused)
{
	(void)unused;
	free(t_real);
	free(t_row);
	free(t_kf);
	t_real = NULL;
	t_row = t_kf = NULL;
	t_real_cap = t_row_cap = t_kf_cap = 0;
}

static void make_scratch_key(void)
{
	if (pthread_key_create(&scratch_key, free_scratch) != 0)
		hyrt_conv_oom(0);
}

/* This thread's buffers: nreal floats of block rows, one complex row of
 * nrow, and nkf complex for a block's filter spectra (0: none needed). */
static void reserve(size_t nreal, size_t nrow, size_t nkf)
{
	if (!t_real_cap && !t_row_cap && !t_kf_cap) {
		/* first buffers of this thread: free them when it exits */
		pthread_once(&scratch_once, make_scratch_key);
		pthread_setspecific(scratch_key, &scratch_key);
	}
	if (nreal > t_real_cap) {
		free(t_real);
		t_real = xbig(sizeof(float) * nreal);
		t_real_cap = nreal;
	}
	if (nrow > t_row_cap) {
		free(t_row);
		t_row = xbig(sizeof(fftwf_complex) * nrow);
		t_row_cap = nrow;
	}
	if (nkf > t_kf_cap) {
		free(t_kf);
		t_kf = xbig(sizeof(fftwf_complex) * nkf);
		t_kf_cap = nkf;
	}
}

/* Row stride of the block buffer: N rounded up to 64 bytes, so every row
 * has the planning arrays' alignment, and a line more where that is a
 * multiple of 4 KiB: rows a power of two apart map to the same cache
 * sets, and the gather's and scatter's 16 rows would evict each other
 * (the scatter ran 3x slower at N = 65536). */
static int64_t row_stride(int64_t N)
{
	int64_t ld = (N + 15) / 16 * 16;
	return ld % 1024 == 0 ? ld + 16 : ld;
}

/* Channels per block for size N (see CB_MAX), no more than C. */
static int64_t block_width(int64_t N, int64_t C)
{
	int64_t cb = CB_MAX;
	while (cb > CB_MIN && cb * row_stride(N) * (int64_t)sizeof(float) >
	                          BLOCK_BYTES)
		cb /= 2;
	return cb > C ? C : cb;
}

/* A whole tile (16 positions of cb channels) in vectors of w channels,
 * the widest the CPU has that divides cb: squares of w positions by w
 * channels, each w loads of a vector (the gate applied), a w x w
 * transpose in registers, w stores of a row's w positions (and the
 * reverse for the scatter). w = 16 (AVX-512) where cb is a whole block,
 * 8 (AVX2) and 4 (SSE, every x86-64) for the other widths a block takes
 * (CB_MIN = 4 for the longest inputs). Elsewhere, and for partial tiles
 * and blocks, one float at a time. */
#ifdef HAVE_TILE16
_Static_assert(TILE == 16 && CB_MAX == 16, "a tile is 16 x 16 floats");

/* r[i] = column i of the 16 x 16 block whose rows were r[0..15]. */
__attribute__((target("avx512f"))) static inline void
transpose16(__m512 r[16])
{
	__m512 t[16], u[16];
	for (int k = 0; k < 8; k++) {
		t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
		t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
	}
	/* u[4k + j], 128-bit lane l: column 4l + j of rows 4k..4k+3 */
	for (int k = 0; k < 4; k++) {
		__m512d a = _mm512_castps_pd(t[4 * k]);
		__m512d b = _mm512_castps_pd(t[4 * k + 1]);
		__m512d c = _mm512_castps_pd(t[4 * k + 2]);
		__m512d d = _mm512_castps_pd(t[4 * k + 3]);
		u[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
		u[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
		u[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
		u[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
	}
	for (int j = 0; j < 4; j++) {
		__m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44);
		__m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xee);
		__m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44);
		__m512 v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xee);
		r[j] = _mm512_shuffle_f32x4(v0, v2, 0x88);
		r[4 + j] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
		r[8 + j] = _mm512_shuffle_f32x4(v1, v3, 0x88);
		r[12 + j] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
	}
}

/* r[i] = column i of the 8 x 8 block whose rows were r[0..7]. */
__attribute__((target("avx2"))) static inline void transpose8(__m256 r[8])
{
	__m256 t[8], u[8];
	for (int k = 0; k < 4; k++) {
		t[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
		t[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
	}
	/* u[4k + j], 128-bit lane l: column 4l + j of rows 4k..4k+3 */
	for (int k = 0; k < 2; k++) {
		u[4 * k] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
		u[4 * k + 1] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0xee);
		u[4 * k + 2] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
		u[4 * k + 3] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xee);
	}
	for (int j = 0; j < 4; j++) {
		r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
		r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
	}
}

/* The tile (16 positions of cb channels, cb a multiple of 8) as 8 x 8
 * squares. */
__attribute__((target("avx2"))) static void
gather_tile8(float *x, int64_t ld, const float *v, int64_t vs,
             const float *g, int64_t gs, int64_t cb)
{
	for (int64_t c = 0; c < cb; c += 8)
		for (int h = 0; h < TILE; h += 8) {
			__m256 r[8];
			for (int t = 0; t < 8; t++) {
				r[t] = _mm256_loadu_ps(v + (h + t) * vs + c);
				if (g)
					r[t] = _mm256_mul_ps(
					    r[t], _mm256_loadu_ps(g + (h + t) * gs + c));
			}
			transpose8(r);
			for (int i = 0; i < 8; i++)
				_mm256_storeu_ps(x + (c + i) * ld + h, r[i]);
		}
}

__attribute__((target("avx2"))) static void
scatter_tile8(float *y, int64_t C, const float *x, int64_t ld,
              const float *post, int64_t ps, int64_t cb)
{
	for (int64_t c = 0; c < cb; c += 8)
		for (int h = 0; h < TILE; h += 8) {
			__m256 r[8];
			for (int i = 0; i < 8; i++)
				r[i] = _mm256_loadu_ps(x + (c + i) * ld + h);
			transpose8(r);
			for (int t = 0; t < 8; t++) {
				if (post)
					r[t] = _mm256_mul_ps(
					    r[t], _mm256_loadu_ps(post + (h + t) * ps + c));
				_mm256_storeu_ps(y + (h + t) * C + c, r[t]);
			}
		}
}

/* The same in 4 x 4 squares of SSE vectors (every x86-64), cb a
 * multiple of 4. */
static void gather_tile4(float *x, int64_t ld, const float *v, int64_t vs,
                         const float *g, int64_t gs, int64_t cb)
{
	for (int64_t c = 0; c < cb; c += 4)
		for (int h = 0; h < TILE; h += 4) {
			__m128 r[4];
			for (int t = 0; t < 4; t++) {
				r[t] = _mm_loadu_ps(v + (h + t) * vs + c);
				if (g)
					r[t] = _mm_mul_ps(r[t],
					                  _mm_loadu_ps(g + (h + t) * gs + c));
			}
			_MM_TRANSPOSE4_PS(r[0], r[1], r[2], r[3]);
			for (int i = 0; i < 4; i++)
				_mm_storeu_ps(x + (c + i) * ld + h, r[i]);
		}
}

static void scatter_tile4(float *y, int64_t C, const float *x, int64_t ld,
                          const float *post, int64_t ps, int64_t cb)
{
	for (int64_t c = 0; c < cb; c += 4)
		for (int h = 0; h < TILE; h += 4) {
			__m128 r[4];
			for (int i = 0; i < 4; i++)
				r[i] = _mm_loadu_ps(x + (c + i) * ld + h);
			_MM_TRANSPOSE4_PS(r[0], r[1], r[2], r[3]);
			for (int t = 0; t < 4; t++) {
				if (post)
					r[t] = _mm_mul_ps(r[t],
					                  _mm_loadu_ps(post + (h + t) * ps + c));
				_mm_storeu_ps(y + (h + t) * C + c, r[t]);
			}
		}
}

__attribute__((target("avx512f"))) static void
gather_tile16(float *x, int64_t ld, const float *v, int64_t vs,
              const float *g, int64_t gs)
{
	__m512 r[16];
	for (int t = 0; t < 16; t++) {
		r[t] = _mm512_loadu_ps(v + t * vs);
		if (g)
			r[t] = _mm512_mul_ps(r[t], _mm512_loadu_ps(g + t * gs));
	}
	transpose16(r);
	for (int i = 0; i < 16; i++)
		_mm512_storeu_ps(x + i * ld, r[i]);
}

__attribute__((target("avx512f"))) static void
scatter_tile16(float *y, int64_t C, const float *x, int64_t ld,
               const float *post, int64_t ps)
{
	__m512 r[16];
	for (int i = 0; i < 16; i++)
		r[i] = _mm512_loadu_ps(x + i * ld);
	transpose16(r);
	for (int t = 0; t < 16; t++) {
		if (post)
			r[t] = _mm512_mul_ps(r[t], _mm512_loadu_ps(post + t * ps));
		_mm512_storeu_ps(y + t * C, r[t]);
	}
}
#endif


/* The squares a whole tile of cb channels takes (TILE_*): the widest
 * vector, up to tile_w, whose width divides cb. */
static inline int tile_of(int64_t cb)
{
	for (int w = tile_w; w >= TILE_128; w /= 2)
		if (cb % w == 0 && (w < TILE_512 || cb == CB_MAX))
			return w;
	return TILE_NONE;
}

int hyrt_conv_tile_width(int want)
{
	pthread_once(&simd_once, pick_simd);
#ifdef HAVE_TILE16
	int w = best_tile();
	if (want >= 0)
		while (w > want)
			w = w > TILE_128 ? w / 2 : TILE_NONE;
	tile_w = w;
#else
	(void)want;
#endif
	return tile_w;
}

/* x[i*ld + t] = v[t*vs + i] (* g[t*gs + i]) for t < L, i < cb, by tiles
 * of positions (the tile's lines of v and of the cb rows stay in L1, so
 * each line of v is read from memory once); the tails from L to N are
 * zeroed by the transform step. */
static void gather_gated(float *restrict x, int64_t ld,
                         const float *restrict v, int64_t vs,
                         const float *restrict g, int64_t gs, int64_t L,
                         int64_t cb)
{
	for (int64_t t0 = 0; t0 < L; t0 += TILE) {
		int64_t t1 = t0 + TILE < L ? t0 + TILE : L;
		/* rows a few KiB apart defeat the hardware's prefetch */
		for (int64_t t = t0 + PREFETCH; t < t1 + PREFETCH && t < L; t++) {
			__builtin_prefetch(v + t * vs);
			if (g)
				__builtin_prefetch(g + t * gs);
		}
#ifdef HAVE_TILE16
		if (t1 - t0 == TILE && tile_of(cb) != TILE_NONE) {
			const float *gt = g ? g + t0 * gs : NULL;
			switch (tile_of(cb)) {
			case TILE_512:
				gather_tile16(x + t0, ld, v + t0 * vs, vs, gt, gs);
				break;
			case TILE_256:
				gather_tile8(x + t0, ld, v + t0 * vs, vs, gt, gs, cb);
				break;
			default:
				gather_tile4(x + t0, ld, v + t0 * vs, vs, gt, gs, cb);
			}
			continue;
		}
#endif
		for (int64_t i = 0; i < cb; i++) {
			float *xr = x + i * ld;
			if (g)
				for (int64_t t = t0; t < t1; t++)
					xr[t] = v[t * vs + i] * g[t * gs + i];
			else
				for (int64_t t = t0; t < t1; t++)
					xr[t] = v[t * vs + i];
		}
	}
}

/* The spectrum of the real row x (its first L values; zeroed from L to
 * N here) into kf, with the inverse transform's 1/N folded in; row is
 * the thread's complex row. */
static void row_spectrum(const Plan *p, fftwf_complex *restrict kf,
                         float *x, fftwf_complex *row, int64_t L, int64_t N)
{
	float scale = 1.0f / (float)N;
	int64_t nf = N / 2 + 1;

	memset(x + L, 0, sizeof(float) * (size_t)(N - L));
	fftwf_execute_dft_r2c(p->fwd, x, row);
	for (int64_t f = 0; f < nf; f++) {
		kf[f][0] = row[f][0] * scale;
		kf[f][1] = row[f][1] * scale;
	}
}

/* Row x (first L values) convolved with the spectrum kf, in place: its
 * first L values become the causal convolution. */
static void row_convolve(const Plan *p, float *x, fftwf_complex *restrict row,
                         const fftwf_complex *restrict kf, int64_t L,
                         int64_t N)
{
	int64_t nf = N / 2 + 1;

	memset(x + L, 0, sizeof(float) * (size_t)(N - L));
	fftwf_execute_dft_r2c(p->fwd, x, row);
	hyrt_spec_mul_form(mul_form, (float *)row, (const float *)kf, nf);
	fftwf_execute_dft_c2r(p->inv, row, x);
}

void hyrt_longconv_direct(float *y, const float *u, const float *k,
                          int64_t B, int64_t L, int64_t C)
{
	double *acc = malloc(sizeof(double) * (size_t)(C > 0 ? C : 1));
	if (!acc)
		hyrt_conv_oom(sizeof(double) * (size_t)C);
	for (int64_t b = 0; b < B; b++) {
		const float *ub = u + b * L * C;
		for (int64_t t = 0; t < L; t++) {
			for (int64_t c = 0; c < C; c++)
				acc[c] = 0;
			for (int64_t s = 0; s <= t; s++) {
				const float *kr = k + (t - s) * C, *ur = ub + s * C;
				for (int64_t c = 0; c < C; c++)
					acc[c] += (double)kr[c] * ur[c];
			}
			for (int64_t c = 0; c < C; c++)
				y[(b * L + t) * C + c] = (float)acc[c];
		}
	}
	free(acc);
}

/* ---- spectra kept per layer and length --------------------------------
 *
 * A filter that is a weight (folded) or generated from weights gives the
 * same k for every call at a given L, so its spectrum (all channels, one
 * row of N/2+1 a channel, 1/N folded in) can be made on the first call
 * at that L and kept. Where to keep it is the module's: each gated_conv
 * has a HyrtSpectra of its own (a global of the generated module, zero
 * but for its budget), whose budget is the bytes the compiler counted
 * for it in the memory plan (0: the plan has no room; the spectrum is
 * then made per call, a block of channels at a time, as it streams). A
 * spectrum is kept only while the slot's spectra fit its budget, so a
 * slot holds the compiled length's spectrum, or a few of shorter ones.
 * A new module (a JIT compiling another graph) has new slots, so no
 * spectrum outlives the filter it was made from. Spectra are never freed
 * (a forward may be reading one); every one is also listed here, so they
 * stay reachable when a JIT's module is gone. */

typedef struct Entry {
	int64_t L;
	fftwf_complex *kf;
	struct Entry *next; /* the slot's next length */
	struct Entry *all;  /* every spectrum of the process */
} Entry;

static pthread_mutex_t spectra_lock = PTHREAD_MUTEX_INITIALIZER;
static Entry *all_spectra;

/* One long convolution's arguments, for the pool's workers. */
typedef struct ConvJob {
	float *y;
	const float *v, *g, *k, *bias, *post;
	int64_t vs, gs, ps, B, L, C, N, ld, cbmax, nblk;
	HyrtFilterGen gen;
	void *gen_ctx;
	const fftwf_complex *cached; /* [C][N/2+1] spectra, or NULL */
	bool lanes; /* kept spectra and work by lanefft.c, blocks of 16 */
	fftwf_complex *making;       /* the spectra being made */
} ConvJob;

/* Filter channels [c0, c0+cb) into rows of x (stride ld): the
 * generator's or k's first L values, plus bias at 0. */
static void filter_rows(const ConvJob *j, float *x, int64_t c0, int64_t cb)
{
	if (j->gen)
		j->gen(j->gen_ctx, c0, cb, j->L, x, j->ld);
	else
		gather_gated(x, j->ld, j->k + c0, j->C, NULL, 0, j->L, cb);
	/* the skip term u * bias is the convolution with bias at lag 0 */
	if (j->bias)
		for (int64_t i = 0; i < cb; i++)
			x[i * j->ld] += j->bias[c0 + i];
}

/* The spectra of channels [c0, c0+cb) into kf (row i at i * nf). */
static void block_spectra(const ConvJob *j, const Plan *p, fftwf_complex *kf,
                          int64_t c0, int64_t cb)
{
	int64_t nf = j->N / 2 + 1;
	filter_rows(j, t_real, c0, cb);
	for (int64_t i = 0; i < cb; i++)
		row_spectrum(p, kf + i * nf, t_real + i * j->ld, t_row, j->L, j->N);
}

static void make_blocks(void *arg, int64_t lo, int64_t hi)
{
	const ConvJob *j = arg;
	if (j->lanes) {
		/* the filter rows in t_real, the transform's work in t_kf */
		reserve((size_t)(j->ld * j->cbmax), 0,
		        (size_t)(hyrt_lanefft_work_floats(j->N) + 1) / 2);
		for (int64_t blk = lo; blk < hi; blk++) {
			int64_t c0 = blk * CB_MAX;
			filter_rows(j, t_real, c0, CB_MAX);
			hyrt_lanefft_spectra((float *)(j->making + c0 * (j->N / 2 + 1)),
			                     t_real, j->ld, j->L, j->N,
			                     1.0f / (float)j->N, (float *)t_kf);
		}
		return;
	}
	const Plan *p = get_plan((int)j->N);
	reserve((size_t)(j->ld * j->cbmax), (size_t)(j->N / 2 + 1), 0);
	for (int64_t blk = lo; blk < hi; blk++) {
		int64_t c0 = blk * j->cbmax;
		int64_t cb = j->C - c0 < j->cbmax ? j->C - c0 : j->cbmax;
		block_spectra(j, p, j->making + c0 * (j->N / 2 + 1), c0, cb);
	}
}

/* Slot s's spectra at length L, or NULL. */
static Entry *kept_at(const HyrtSpectra *s, int64_t L)
{
	Entry *e = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE);
	while (e && e->L != L)
		e = e->next;
	return e;
}

int hyrt_spectra_kept(const HyrtSpectra *s, int64_t L)
{
	return kept_at(s, L) != NULL;
}

/* The kept spectra of j's filter at j->L in slot s, made now (over the
 * pool) when there are none and the slot's budget has room; NULL: make
 * them per call. */
static const fftwf_complex *kept_spectra(ConvJob *j, HyrtSpectra *s)
{
	int64_t bytes = (int64_t)sizeof(fftwf_complex) * (j->N / 2 + 1) * j->C;
	Entry *e = kept_at(s, j->L);

	if (e)
		return e->kf;
	pthread_mutex_lock(&spectra_lock);
	e = kept_at(s, j->L); /* made meanwhile? */
	if (!e && s->used + bytes <= s->budget) {
		e = calloc(1, sizeof *e);
		if (!e)
			hyrt_conv_oom(sizeof *e);
		e->L = j->L;
		e->kf = xbig((size_t)bytes);
		j->making = e->kf;
		/* workers take no lock of this file but the planner's */
		hyrt_parallel_for(make_blocks, j, j->nblk, 1);
		j->making = NULL;
		e->next = s->head;
		e->all = all_spectra;
		all_spectra = e;
		s->used += bytes;
		__atomic_store_n(&s->head, (void *)e, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&spectra_lock);
	return e ? e->kf : NULL;
}

/* y[t*C + i] = x[i*ld + t] (* post[t*ps + i]): the output gate; by
 * tiles of positions, as the gather, with the next tile's lines
 * prefetched. */
static void scatter_gated(float *restrict y, int64_t C,
                          const float *restrict x, int64_t ld, int64_t L,
                          int64_t cb, const float *restrict post, int64_t ps)
{
	for (int64_t t0 = 0; t0 < L; t0 += TILE) {
		int64_t t1 = t0 + TILE < L ? t0 + TILE : L;
		for (int64_t t = t0 + PREFETCH; t < t1 + PREFETCH && t < L; t++) {
			__builtin_prefetch(y + t * C, 1);
			if (post)
				__builtin_prefetch(post + t * ps);
		}
#ifdef HAVE_TILE16
		if (t1 - t0 == TILE && tile_of(cb) != TILE_NONE) {
			const float *pt = post ? post + t0 * ps : NULL;
			switch (tile_of(cb)) {
			case TILE_512:
				scatter_tile16(y + t0 * C, C, x + t0, ld, pt, ps);
				break;
			case TILE_256:
				scatter_tile8(y + t0 * C, C, x + t0, ld, pt, ps, cb);
				break;
			default:
				scatter_tile4(y + t0 * C, C, x + t0, ld, pt, ps, cb);
			}
			continue;
		}
#endif
		for (int64_t t = t0; t < t1; t++) {
			const float *xt = x + t;
			float *yt = y + t * C;
			if (post) {
				const float *pt = post + t * ps;
				for (int64_t i = 0; i < cb; i++)
					yt[i] = xt[i * ld] * pt[i];
			} else {
				for (int64_t i = 0; i < cb; i++)
					yt[i] = xt[i * ld];
			}
		}
	}
}

/* Batch row b of channels [c0, c0+cb) with their spectra kf (row i at
 * i * nf): gather, a transform pair per channel, scatter. */
static void convolve_block(const ConvJob *j, const Plan *p,
                           const fftwf_complex *kf, int64_t b, int64_t c0,
                           int64_t cb)
{
	int64_t L = j->L, nf = j->N / 2 + 1;
	const float *vb = j->v + b * L * j->vs + c0;
	const float *gb = j->g ? j->g + b * L * j->gs + c0 : NULL;
	const float *pb = j->post ? j->post + b * L * j->ps + c0 : NULL;

	gather_gated(t_real, j->ld, vb, j->vs, gb, j->gs, L, cb);
	for (int64_t i = 0; i < cb; i++)
		row_convolve(p, t_real + i * j->ld, t_row, kf + i * nf, L, j->N);
	scatter_gated(j->y + b * L * j->C + c0, j->C, t_real, j->ld, L, cb, pb,
	              j->ps);
}

/* Kept spectra: work items are (batch row, channel block). */
static void conv_kept(void *arg, int64_t lo, int64_t hi)
{
	const ConvJob *j = arg;
	if (j->lanes) {
		int64_t L = j->L;
		reserve((size_t)hyrt_lanefft_work_floats(j->N), 0, 0);
		for (int64_t w = lo; w < hi; w++) {
			int64_t b = w / j->nblk, c0 = (w % j->nblk) * CB_MAX;
			hyrt_lanefft_conv(
			    j->y + b * L * j->C + c0, j->C, j->v + b * L * j->vs + c0,
			    j->vs, j->g ? j->g + b * L * j->gs + c0 : NULL, j->gs,
			    j->post ? j->post + b * L * j->ps + c0 : NULL, j->ps,
			    (const float *)(j->cached + c0 * (j->N / 2 + 1)), L, j->N,
			    t_real);
		}
		return;
	}
	const Plan *p = get_plan((int)j->N);
	reserve((size_t)(j->ld * j->cbmax), (size_t)(j->N / 2 + 1), 0);
	for (int64_t w = lo; w < hi; w++) {
		int64_t b = w / j->nblk, c0 = (w % j->nblk) * j->cbmax;
		int64_t cb = j->C - c0 < j->cbmax ? j->C - c0 : j->cbmax;
		convolve_block(j, p, j->cached + c0 * (j->N / 2 + 1), b, c0, cb);
	}
}

/* Streamed spectra: work items are channel blocks, whose spectra are
 * made once into the thread's buffer and used for every batch row. */
static void conv_streamed(void *arg, int64_t lo, int64_t hi)
{
	const ConvJob *j = arg;
	const Plan *p = get_plan((int)j->N);
	int64_t nf = j->N / 2 + 1;
	reserve((size_t)(j->ld * j->cbmax), (size_t)nf,
	        (size_t)(nf * j->cbmax));
	for (int64_t blk = lo; blk < hi; blk++) {
		int64_t c0 = blk * j->cbmax;
		int64_t cb = j->C - c0 < j->cbmax ? j->C - c0 : j->cbmax;
		block_spectra(j, p, t_kf, c0, cb);
		for (int64_t b = 0; b < j->B; b++)
			convolve_block(j, p, t_kf, b, c0, cb);
	}
}

/* 16 channels in the lanes of AVX-512 vectors (lanefft.c) where the
 * CPU has AVX-512, the FFT size fits and the channels are whole blocks,
 * for kept spectra only: their layout is lanefft.c's, made and read only
 * by conv_kept's path; streamed spectra stay with FFTW, per channel. */
static bool lanes_fit(int64_t N, int64_t C, int64_t cb)
{
	pthread_once(&simd_once, pick_simd);
	return tile16 && hyrt_lanefft_fits(N) && cb == CB_MAX &&
	       C % CB_MAX == 0;
}

int hyrt_conv_lanes(int64_t L, int64_t C)
{
	int64_t N = hyrt_fft_size(L);
	return lanes_fit(N, C, block_width(N, C));
}

/* Every long convolution: kept spectra when the slot s allows, else
 * streamed; the work over the pool. */
static void conv_run(ConvJob *j, HyrtSpectra *s)
{
	if (j->B <= 0 || j->L <= 0 || j->C <= 0)
		return;
	j->N = hyrt_fft_size(j->L);
	j->ld = row_stride(j->N);
	j->cbmax = block_width(j->N, j->C);
	j->nblk = (j->C + j->cbmax - 1) / j->cbmax;
	if (s && s->budget > 0) {
		/* only kept spectra (made and read by conv_kept) take the lanes */
		j->lanes = lanes_fit(j->N, j->C, j->cbmax);
		j->cached = kept_spectra(j, s);
	}
	if (j->cached)
		hyrt_parallel_for(conv_kept, j, j->B * j->nblk, 1);
	else
		hyrt_parallel_for(conv_streamed, j, j->nblk, 1);
}

/* A library being unloaded (rt_lib.c): what this file holds goes with
 * it, or it would stay allocated with nothing pointing at it. The pool's
 * workers have been joined (their buffers went with them); no
 * convolution runs now. */
void hyrt_fft_release(void)
{
	free_scratch(NULL);
	hyrt_lanefft_release();
	pthread_mutex_lock(&spectra_lock);
	while (all_spectra) {
		Entry *e = all_spectra;
		all_spectra = e->all;
		free(e->kf);
		free(e);
	}
	pthread_mutex_unlock(&spectra_lock);
	pthread_mutex_lock(&plan_lock);
	while (plans) {
		Plan *p = plans;
		plans = p->next;
		fftwf_destroy_plan(p->fwd);
		fftwf_destroy_plan(p->inv);
		free(p);
	}
	fftwf_cleanup();
	pthread_mutex_unlock(&plan_lock);
}

int64_t hyrt_conv_work_bytes(int64_t L, int64_t C)
{
	if (L <= 0 || C <= 0)
		return 0;
	int64_t N = hyrt_fft_size(L), cb = block_width(N, C), nf = N / 2 + 1;
	return (int64_t)sizeof(float) * row_stride(N) * cb +
	       (int64_t)sizeof(fftwf_complex) * nf * (cb + 1);
}

int64_t hyrt_conv_spectra_bytes(int64_t L, int64_t C)
{
	if (L <= 0 || C <= 0)
		return 0;
	return (int64_t)sizeof(fftwf_complex) * (hyrt_fft_size(L) / 2 + 1) * C;
}

void hyrt_longconv_fft(float *y, const float *u, const float *k, int64_t B,
                       int64_t L, int64_t C)
{
	ConvJob j = {.y = y, .v = u, .k = k, .vs = C, .B = B, .L = L, .C = C};
	conv_run(&j, NULL);
}

void hyrt_hyena_conv_fft(float *y, const float *v, int64_t vs,
                         const float *g, int64_t gs, const float *k,
                         const float *bias, const float *post, int64_t ps,
                         int64_t B, int64_t L, int64_t C)
{
	ConvJob j = {.y = y, .v = v, .g = g, .k = k, .bias = bias,
	             .post = post, .vs = vs, .gs = gs, .ps = ps, .B = B,
	             .L = L, .C = C};
	conv_run(&j, NULL);
}

void hyrt_hyena_conv_fft_const(float *y, const float *v, int64_t vs,
                               const float *g, int64_t gs, const float *k,
                               const float *bias, const float *post,
                               int64_t ps, int64_t B, int64_t L, int64_t C,
                               HyrtSpectra *kept)
{
	ConvJob j = {.y = y, .v = v, .g = g, .k = k, .bias = bias,
	             .post = post, .vs = vs, .gs = gs, .ps = ps, .B = B,
	             .L = L, .C = C};
	conv_run(&j, kept);
}

void hyrt_hyena_conv_fft_gen(float *y, const float *v, int64_t vs,
                             const float *g, int64_t gs, HyrtFilterGen gen,
                             void *gen_ctx, const float *bias,
                             const float *post, int64_t ps, int64_t B,
                             int64_t L, int64_t C, HyrtSpectra *kept)
{
	ConvJob j = {.y = y, .v = v, .g = g, .bias = bias, .post = post,
	             .vs = vs, .gs = gs, .ps = ps, .B = B, .L = L, .C = C,
	             .gen = gen, .gen_ctx = gen_ctx};
	conv_run(&j, kept);
}

/* ---- a prefill's part of later outputs (hyrt_conv_carry) -------------
 *
 * The same blocks of channels, the filter's M rows transformed per call
 * (a prefill runs once; the spectra above are kept for the forward's
 * own sizes) and each batch row's P inputs zero-padded to N >= M: for
 * t in [P, M) and j < P, 0 < t-j < M <= N, so no term wraps around and
 * the circular convolution is the linear one there. */
typedef struct CarryJob {
	float *out;
	const float *v, *g, *k;
	int64_t vs, gs, B, P, R, C, N, cbmax;
} CarryJob;

static void carry_blocks(void *arg, int64_t lo, int64_t hi)
{
	const CarryJob *j = arg;
	int64_t N = j->N, nf = N / 2 + 1, P = j->P, R = j->R, M = R - 1;
	int64_t C = j->C, ld = row_stride(N);
	const Plan *p = get_plan((int)N);

	reserve((size_t)(ld * j->cbmax), (size_t)nf, (size_t)(nf * j->cbmax));
	for (int64_t blk = lo; blk < hi; blk++) {
		int64_t c0 = blk * j->cbmax;
		int64_t cb = C - c0 < j->cbmax ? C - c0 : j->cbmax;

		/* the filter's first M rows of these channels, transformed */
		gather_gated(t_real, ld, j->k + c0, C, NULL, 0, M, cb);
		for (int64_t i = 0; i < cb; i++)
			row_spectrum(p, t_kf + i * nf, t_real + i * ld, t_row, M, N);
		for (int64_t b = 0; b < j->B; b++) {
			const float *vb = j->v + b * P * j->vs + c0;
			const float *gb = j->g ? j->g + b * P * j->gs + c0 : NULL;
			float *ob = j->out + b * R * C + c0;

			gather_gated(t_real, ld, vb, j->vs, gb, j->gs, P, cb);
			for (int64_t i = 0; i < cb; i++)
				row_convolve(p, t_real + i * ld, t_row, t_kf + i * nf, P,
				             N);
			for (int64_t t = P; t < M; t++) {
				float *o = ob + (M - 1 - t) * C;
				for (int64_t i = 0; i < cb; i++)
					o[i] = t_real[i * ld + t];
			}
		}
	}
}

void hyrt_conv_carry(float *out, const float *v, int64_t vs, const float *g,
                     int64_t gs, const float *k, int64_t B, int64_t P,
                     int64_t R, int64_t C)
{
	int64_t M = R - 1; /* rows [from, M) are positions < P: zero */
	int64_t from = P > 0 && P < M ? M - P : 0;

	if (B <= 0 || C <= 0 || M < 1)
		return;
	for (int64_t b = 0; b < B; b++) {
		float *ob = out + b * R * C;
		memset(ob + from * C, 0, sizeof(float) * (size_t)((R - from) * C));
		ob[M * C] = (float)P;
	}
	if (P <= 0 || P >= M)
		return;
	CarryJob j = {out, v, g, k, vs, gs, B, P, R, C, 0, 0};
	j.N = hyrt_fft_size((M + 1) / 2); /* >= M */
	j.cbmax = block_width(j.N, C);
	hyrt_parallel_for(carry_blocks, &j, (C + j.cbmax - 1) / j.cbmax, 1);
}
