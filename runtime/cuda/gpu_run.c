/*
 * gpu_run.c - the run time of a GPU binary: the hyrt.h functions
 * (hyenac_run, _pooled, _classify, _hidden, hyenac_scratch_bytes, and
 * the decoding ones, which a GPU binary has not) defined by walking the
 * plan that codegen/nvptx/ made (runtime/hygpu.h says what each field
 * means), launching its kernels through the CUDA driver and its FFTs
 * through cuFFT (cuda_load.c loads both).
 *
 * Device memory, all of it held between calls and grown when a call
 * needs more (every buffer counted in `held`, capped by the device's
 * free memory and HYENAC_GPU_MEMORY):
 *   weights   uploaded once, at the start;
 *   arena     the memory plan's layout for (Bc, L), Bc the rows of one
 *             pass: a batch runs in passes of as many rows as fit;
 *   io        the io table, then the tokens and the entry's outputs;
 *   work/spec a group's buffers for its chunk, the chunk as large as
 *             fits (at most max_chunk);
 *   fftwork   cuFFT's work area, shared by every plan (one stream), the
 *             plans made with auto-allocation off and cached per
 *             (n, rows, direction);
 *   spectra   a convolution group's filter spectra for all its channels,
 *             kept per (conv, L) between calls while memory allows (the
 *             filter is cut at L, so n alone does not name them); kept
 *             ones are dropped, least recently used first, when a pass
 *             needs the room.
 * Everything runs on the legacy default stream, in the order of the
 * plan; the host waits once, before the outputs are copied back.
 *
 * One forward at a time: a lock serialises callers (the FASTA commands
 * call from several threads), and each caller makes the primary context
 * current first, which cuFFT (runtime API) shares.
 */
#include "gpurt.h"

#include "cuda_api.h"
#include "runtime/hygpu.h"
#include "runtime/hyrt.h"
#include "runtime/memlimit.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Device memory kept free for the driver and cuFFT's plans. */
#define MARGIN ((size_t)64 << 20)
#define MAX_PLANS 48
#define MAX_KEPT 256

typedef struct Buf {
	CUdeviceptr p;
	size_t cap;
} Buf;

typedef struct Plan {
	int64_t n, rows;
	int type;
	cufftHandle h;
	size_t work;
	uint64_t used;
} Plan;

typedef struct Kept {
	int64_t conv, L;
	Buf buf;
	bool live, complete; /* a slot stays where it is: callers hold it */
	uint64_t used;
} Kept;

static struct {
	bool started;
	pthread_mutex_t lock;
	void (*fail)(const char *msg);
	CUdevice dev;
	CUcontext ctx;
	CUmodule mod;
	int cc, shmem_optin, device_index;
	char name[256], desc[320];
	CUfunction *fn;
	const char **fn_name; /* into hyenac_gpu_kernels */
	int *fn_shmem; /* dynamic shared bytes set per kernel */
	bool fft;      /* cuFFT loaded */
	size_t cap;    /* HYENAC_GPU_MEMORY, 0 for none */
	bool cufft_only; /* HYENAC_GPU_FFT=cufft */
	size_t held, peak, free0, min_free;
	/* the device's free memory as last read, less what was allocated
	 * since and plus what was freed: one cuMemGetInfo per forward (and
	 * after a cuFFT plan, which allocates on its own) */
	size_t free_now;
	bool free_known;
	Buf weights, arena, io, work, spec, fftwork;
	Plan plans[MAX_PLANS];
	int nplans;
	Kept kept[MAX_KEPT];
	uint64_t clock;
	/* hyrt_gpu_forward_on_device: the tokens already on the device */
	const int32_t *dev_tok;
	int64_t dev_B, dev_L;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- failing ------------------------------------------------------------ */

static void default_fail(const char *msg)
{
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg);
	exit(1);
}

void hyrt_gpu_set_fail(void (*fail)(const char *msg))
{
	g.fail = fail;
}

static HY_NORETURN void fail(const char *fmt, ...) HY_PRINTF(1, 2);
static void fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* the lock is held: the process ends here */
	(g.fail ? g.fail : default_fail)(msg);
	exit(1);
}

static void check(CUresult r, const char *what)
{
	if (r != CUDA_SUCCESS)
		fail("CUDA error on device %d %s: %s", g.device_index, what,
		     cuda_error(r));
}

static void check_fft(cufftResult r, const char *what)
{
	if (r != CUFFT_SUCCESS)
		fail("cuFFT error %d on device %d %s", r, g.device_index, what);
}

/* "1.5 MiB", or "4096 bytes" below a MiB, in a ring of buffers. */
static const char *size_str(size_t b)
{
	static char ring[8][32];
	static int at;
	char *s = ring[at++ % 8];

	if (b < ((size_t)1 << 20))
		snprintf(s, 32, "%zu bytes", b);
	else
		snprintf(s, 32, "%.1f MiB", (double)b / (1024.0 * 1024.0));
	return s;
}

/* ---- device memory ---------------------------------------------------- */

static size_t dev_free(void)
{
	size_t t = 0;

	if (!g.free_known) {
		check(cu.MemGetInfo(&g.free_now, &t), "reading its free memory");
		g.free_known = true;
	}
	if (g.free_now < g.min_free)
		g.min_free = g.free_now;
	return g.free_now;
}

/* What may still be allocated: the device's free memory less the margin,
 * and what HYENAC_GPU_MEMORY leaves. */
static size_t room(void)
{
	size_t f = dev_free();
	size_t r = f > MARGIN ? f - MARGIN : 0;

	if (g.cap) {
		size_t c = g.cap > g.held ? g.cap - g.held : 0;
		if (c < r)
			r = c;
	}
	return r;
}

static void buf_free(Buf *b)
{
	if (!b->p)
		return;
	check(cu.StreamSynchronize(NULL), "finishing before a free");
	check(cu.MemFree(b->p), "freeing memory");
	g.held -= b->cap;
	g.free_now += b->cap;
	b->p = 0;
	b->cap = 0;
}

/* At least need bytes in b (its contents are not kept when it grows);
 * false when the memory is not there. */
static bool buf_ensure(Buf *b, size_t need)
{
	if (need == 0 || b->cap >= need)
		return true;
	buf_free(b);
	need = (need + 255) & ~(size_t)255;
	if (need > room())
		return false;
	CUresult r = cu.MemAlloc(&b->p, need);
	if (r == CUDA_ERROR_OUT_OF_MEMORY) {
		b->p = 0;
		return false;
	}
	check(r, "allocating memory");
	b->cap = need;
	g.held += need;
	g.free_now = g.free_now > need ? g.free_now - need : 0;
	(void)dev_free(); /* the low-water mark */
	if (g.held > g.peak)
		g.peak = g.held;
	return true;
}

static void kept_drop(Kept *k)
{
	buf_free(&k->buf);
	k->live = false;
}

static size_t kept_bytes(void)
{
	size_t s = 0;

	for (int i = 0; i < MAX_KEPT; i++)
		s += g.kept[i].live ? g.kept[i].buf.cap : 0;
	return s;
}

/* The one-line complaint of a pass that cannot fit: need is all it
 * needs beside the weights. */
static HY_NORETURN void no_memory(const char *what, size_t need)
{
	size_t f = dev_free();
	char capmsg[96] = "";

	if (g.cap)
		snprintf(capmsg, sizeof capmsg, "; HYENAC_GPU_MEMORY allows %s",
		         size_str(g.cap));
	fail("too little GPU memory on device %d for %s: it needs %s beside "
	     "the weights (%s), %s free on the device%s", g.device_index, what,
	     size_str(need), size_str(g.weights.cap), size_str(f), capmsg);
}

/* ---- cuFFT plans -------------------------------------------------------- */

/* The in-place plan of `rows` rows of length n, rows n + 2 floats apart
 * (n / 2 + 1 complex), made once. */
static Plan *plan_get(int64_t n, int64_t rows, int type)
{
	for (int i = 0; i < g.nplans; i++)
		if (g.plans[i].n == n && g.plans[i].rows == rows &&
		    g.plans[i].type == type) {
			g.plans[i].used = ++g.clock;
			return &g.plans[i];
		}
	if (g.nplans == MAX_PLANS) {
		int lru = 0;
		for (int i = 1; i < g.nplans; i++)
			if (g.plans[i].used < g.plans[lru].used)
				lru = i;
		check(cu.StreamSynchronize(NULL), "finishing before a plan goes");
		cufft.Destroy(g.plans[lru].h);
		g.plans[lru] = g.plans[--g.nplans];
	}
	Plan *p = &g.plans[g.nplans];
	long long len[1] = {n}, real[1] = {n + 2}, cplx[1] = {n / 2 + 1};
	bool r2c = type == CUFFT_R2C;
	memset(p, 0, sizeof *p);
	p->n = n;
	p->rows = rows;
	p->type = type;
	check_fft(cufft.Create(&p->h), "creating a plan");
	check_fft(cufft.SetAutoAllocation(p->h, 0), "setting up a plan");
	cufftResult r = cufft.MakePlanMany64(
	    p->h, 1, len, r2c ? real : cplx, 1, r2c ? n + 2 : n / 2 + 1,
	    r2c ? cplx : real, 1, r2c ? n / 2 + 1 : n + 2, type, rows, &p->work);
	if (r == CUFFT_ALLOC_FAILED)
		no_memory("a cuFFT plan", (size_t)rows * (size_t)(n + 2) * 4);
	check_fft(r, "making a plan");
	check_fft(cufft.SetStream(p->h, NULL), "setting a plan's stream");
	g.free_known = false; /* the plan holds memory of its own */
	p->used = ++g.clock;
	g.nplans++;
	return p;
}

static void fft_exec(int64_t n, int64_t rows, int type, CUdeviceptr at)
{
	Plan *p = plan_get(n, rows, type);

	if (!buf_ensure(&g.fftwork, p->work))
		no_memory("cuFFT's work area", p->work); /* run_group made room */
	if (p->work)
		check_fft(cufft.SetWorkArea(p->h, (void *)(uintptr_t)g.fftwork.p),
		          "setting the work area");
	if (type == CUFFT_R2C)
		check_fft(cufft.ExecR2C(p->h, (float *)(uintptr_t)at,
		                        (void *)(uintptr_t)at), "running R2C");
	else
		check_fft(cufft.ExecC2R(p->h, (void *)(uintptr_t)at,
		                        (float *)(uintptr_t)at), "running C2R");
}

/* ---- the plan --------------------------------------------------------- */

static const HygpuPlan *P = &hyenac_gpu_plan;

/* Bytes of the arena for (B, L): codegen/cpu/entry.c planned_layout. */
static size_t arena_bytes(int64_t B, int64_t L)
{
	return (size_t)(P->region[HYGPU_REGION_TOKEN] * B * L +
	                P->region[HYGPU_REGION_POSITION] * L +
	                P->region[HYGPU_REGION_FIXED] +
	                P->region[HYGPU_REGION_SAMPLE] * B);
}

static size_t round256(size_t n)
{
	return (n + 255) & ~(size_t)255;
}

static size_t out_bytes(const HygpuEntry *e, int k, int64_t B, int64_t L)
{
	size_t f = e->out_per_token[k] ? (size_t)(e->out_per_token[k] * B * L)
	                               : (size_t)(e->out_per_sample[k] * B);
	return (f * 4 + 255) & ~(size_t)255;
}

/* The io table: the tokens' and each output's device address. */
static size_t table_bytes(const HygpuEntry *e)
{
	return round256(sizeof(CUdeviceptr) * (size_t)(1 + e->nout));
}

/* What one pass of (B, L) holds besides its groups' buffers: the io
 * table, the tokens, the outputs, the arena. */
static size_t pass_bytes(const HygpuEntry *e, int64_t B, int64_t L)
{
	size_t s = table_bytes(e) + round256((size_t)(B * L) * 4);

	for (int k = 0; k < e->nout; k++)
		s += out_bytes(e, k, B, L);
	return round256(s) + round256(arena_bytes(B, L));
}

/* Whether step st runs at FFT length n: never the steps of a length's
 * own kernels under HYENAC_GPU_FFT=cufft. */
static bool step_on(const HygpuStep *st, int64_t n)
{
	return hygpu_step_on(st, g.cufft_only ? -1 : n);
}

/* A group's shape at (B, L): its FFT length, units, and the rows its
 * FFT steps touch per unit in each buffer. */
typedef struct Shape {
	const HygpuStep *grp, *steps;
	int64_t n, units, per_unit[2], off[2], per_unit_b[2];
	bool fft;
} Shape;

static void group_shape(Shape *s, const HygpuStep *grp, int64_t B, int64_t L)
{
	memset(s, 0, sizeof *s);
	s->grp = grp;
	s->steps = grp + 1;
	s->units = grp->dim == HYGPU_DIM_ROWS ? B * L : grp->units;
	s->fft = grp->conv >= 0 || (grp->flags & HYGPU_WORK_PER_FFT_ROW);
	int64_t n = hygpu_fft_len(L);
	for (int64_t i = 0; i < grp->count; i++) {
		const HygpuStep *st = &s->steps[i];
		if ((st->op != HYGPU_R2C && st->op != HYGPU_C2R) ||
		    !step_on(st, n))
			continue;
		int b = st->buf ? 1 : 0;
		int64_t per = st->rows_per_unit * (st->rows_b ? B : 1);
		s->fft = true;
		if (per > s->per_unit[b])
			s->per_unit[b] = per;
		if (st->rows_per_unit > s->per_unit_b[b])
			s->per_unit_b[b] = st->rows_per_unit;
		if (st->off_rows > s->off[b])
			s->off[b] = st->off_rows;
	}
	s->n = s->fft ? n : 0;
}

static size_t row_bytes(const Shape *s)
{
	return (size_t)(s->n + 2) * 4;
}

/* The work buffer of a chunk of cnt units: the plan's figure, and at
 * least what its FFT steps touch. */
static size_t work_bytes(const Shape *s, int64_t cnt, int64_t B)
{
	const HygpuStep *gp = s->grp;
	int64_t per = gp->work_per_unit;
	if (gp->flags & HYGPU_WORK_TIMES_B)
		per *= B;
	size_t w = (size_t)(per * cnt + gp->work_fixed);
	if (gp->flags & HYGPU_WORK_PER_FFT_ROW)
		w *= row_bytes(s);
	size_t f = s->per_unit[0] ? (size_t)(s->off[0] + s->per_unit[0] * cnt) *
	                                row_bytes(s)
	                          : 0;
	return w > f ? w : f;
}

/* Spectrum rows per unit (one per channel unless an FFT step into the
 * spec buffer says more) and the spec buffer of cnt units. */
static int64_t spec_rows(const Shape *s)
{
	return s->per_unit_b[1] > 1 ? s->per_unit_b[1] : 1;
}

static size_t spec_bytes(const Shape *s, int64_t cnt)
{
	if (s->grp->conv < 0 && !s->per_unit[1])
		return 0;
	return (size_t)(s->off[1] + spec_rows(s) * cnt) * row_bytes(s);
}

/* cuFFT's work for cnt units, before the plan says: one complex copy
 * of the rows, which covers what cuFFT asks for 1-d batched transforms. */
static size_t fft_guess(const Shape *s, int64_t cnt)
{
	int64_t r = s->per_unit[0] > s->per_unit[1] ? s->per_unit[0]
	                                            : s->per_unit[1];
	return s->fft ? (size_t)(r * cnt) * row_bytes(s) : 0;
}

static size_t chunk_need(const Shape *s, int64_t cnt, int64_t B, bool kept)
{
	return round256(work_bytes(s, cnt, B)) +
	       (kept ? 0 : round256(spec_bytes(s, cnt))) +
	       round256(fft_guess(s, cnt));
}

/* The largest work area the cuFFT plans of a chunk of c units (and of
 * the last, smaller one) ask for, making the plans. have: the filter
 * spectra are kept (FILTER steps do not run). */
static size_t plans_work(const Shape *s, int64_t c, int64_t B, bool have)
{
	size_t w = 0;
	int64_t cs[2] = {c, s->units % c};

	for (int64_t i = 0; i < s->grp->count; i++) {
		const HygpuStep *st = &s->steps[i];
		if ((st->op != HYGPU_R2C && st->op != HYGPU_C2R) ||
		    (have && (st->flags & HYGPU_FILTER)) || !step_on(st, s->n))
			continue;
		for (int j = 0; j < 2; j++) {
			int64_t rows = st->rows_per_unit * cs[j] * (st->rows_b ? B : 1);
			if (rows <= 0)
				continue;
			Plan *p = plan_get(s->n, rows, st->op == HYGPU_R2C ? CUFFT_R2C
			                                                   : CUFFT_C2R);
			if (p->work > w)
				w = p->work;
		}
	}
	return w;
}

/* Memory a group could use without dropping anything: what is free and
 * the group buffers it would replace. */
static size_t group_room(void)
{
	return room() + g.work.cap + g.spec.cap + g.fftwork.cap;
}

/* ---- running steps ---------------------------------------------------- */

typedef struct Pass {
	int64_t B, L;
	CUdeviceptr io;
} Pass;

static void launch(const HygpuStep *st, const Pass *p, CUdeviceptr work,
                   CUdeviceptr spec, int64_t n, int64_t a, int64_t cnt)
{
	int64_t B = p->B, L = p->L;
	int64_t k = st->kernel;

	if (k < 0 || k >= P->nkernel)
		fail("the GPU plan names kernel %" PRId64 " of %" PRId64
		     " (a bug in hyenac)", k, P->nkernel);
	int64_t total = st->grid[0] * B * L + st->grid[1] * B +
	                st->grid[2] * L + st->grid[3] * cnt +
	                st->grid[4] * cnt * B + st->grid[5];
	int64_t div = st->grid_div > 0 ? st->grid_div : 1;
	int64_t blocks = (total + div - 1) / div;
	if (blocks < 1)
		blocks = 1;
	if (blocks > INT32_MAX)
		fail("kernel %" PRId64 " would need %" PRId64 " blocks, more than "
		     "a grid holds, at B=%" PRId64 " L=%" PRId64, k, blocks, B, L);
	/* any dynamic shared memory is allowed explicitly: 48 KiB of it
	 * and a kernel's static shared memory beside it pass the default
	 * limit (a 4-stage GEMM of 16 columns asks for exactly 48 KiB) */
	if (st->shmem > 0 && st->shmem > g.fn_shmem[k]) {
		if (st->shmem > g.shmem_optin)
			fail("kernel %" PRId64 " needs %" PRId64 " bytes of shared "
			     "memory; device %d has %d per block", k, st->shmem,
			     g.device_index, g.shmem_optin);
		CUresult r = cu.FuncSetAttribute(
		    g.fn[k], CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
		    (int)st->shmem);
		if (r != CUDA_SUCCESS)
			fail("CUDA error on device %d allowing kernel %s %" PRId64
			     " bytes of shared memory: %s", g.device_index,
			     g.fn_name[k], st->shmem, cuda_error(r));
		g.fn_shmem[k] = (int)st->shmem;
	}
	CUdeviceptr arena = g.arena.p, weights = g.weights.p, io = p->io;
	void *args[HYGPU_NPARAMS] = {&arena, &weights, &io, &work, &spec,
	                             &B, &L, &n, &a, &cnt};
	CUresult r = cu.LaunchKernel(g.fn[k], (unsigned)blocks, 1, 1,
	                             (unsigned)(st->threads > 0 ? st->threads : 1),
	                             1, 1, (unsigned)st->shmem, NULL, args, NULL);
	if (r != CUDA_SUCCESS)
		fail("CUDA error on device %d launching kernel %s (%" PRId64
		     " blocks of %" PRId64 " threads, %" PRId64 " bytes of shared "
		     "memory): %s", g.device_index, g.fn_name[k], blocks,
		     st->threads, st->shmem, cuda_error(r));
}

static Kept *kept_find(int64_t conv, int64_t L)
{
	for (int i = 0; i < MAX_KEPT; i++)
		if (g.kept[i].live && g.kept[i].conv == conv && g.kept[i].L == L) {
			g.kept[i].used = ++g.clock;
			return &g.kept[i];
		}
	return NULL;
}

/* The spectra of a convolution group kept for later calls, when they fit
 * beside the smallest chunk; NULL when they do not. */
static Kept *kept_make(const Shape *s, int64_t B, int64_t L)
{
	size_t want = spec_bytes(s, s->units);
	size_t least = chunk_need(s, 1, B, true);

	Kept *k = NULL;
	for (int i = 0; i < MAX_KEPT && !k; i++)
		if (!g.kept[i].live)
			k = &g.kept[i];
	if (!k || s->grp->dim != HYGPU_DIM_CHANNELS)
		return NULL;
	/* spectra of another length go first; then none are dropped for
	 * these (which would only trade one for another) */
	for (int i = 0; i < MAX_KEPT; i++)
		if (g.kept[i].live && g.kept[i].L != L &&
		    group_room() < want + least)
			kept_drop(&g.kept[i]);
	if (group_room() < want + least)
		return NULL;
	/* make the room from the group buffers if it is there */
	if (room() < want) {
		buf_free(&g.fftwork);
		buf_free(&g.spec);
		buf_free(&g.work);
	}
	memset(k, 0, sizeof *k);
	if (!buf_ensure(&k->buf, want))
		return NULL;
	k->conv = s->grp->conv;
	k->L = L;
	k->used = ++g.clock;
	k->live = true;
	return k;
}

/* The largest chunk (at most cmax units) whose buffers fit in avail,
 * the cuFFT plans' work area in *fw; 0 when not even one unit fits. */
static int64_t fit_chunk(const Shape *s, int64_t cmax, int64_t B,
                         bool kept, bool have, size_t avail, size_t *fw)
{
	if (chunk_need(s, 1, B, kept) > avail)
		return 0;
	int64_t lo = 1, hi = cmax;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo + 1) / 2;
		if (chunk_need(s, mid, B, kept) <= avail)
			lo = mid;
		else
			hi = mid - 1;
	}
	/* The plans say what work area they really need (the first call at
	 * a length makes them); a smaller chunk when that does not fit. */
	for (int64_t c = lo;; c -= c / 4 > 1 ? c / 4 : 1) {
		*fw = plans_work(s, c, B, have);
		size_t need = round256(work_bytes(s, c, B)) +
		              (kept ? 0 : round256(spec_bytes(s, c))) + round256(*fw);
		if (need <= avail)
			return c;
		if (c == 1)
			return 0;
	}
}

/* What run_group did. */
enum { GROUP_NO_ROOM, GROUP_DONE, GROUP_WANTS_FILTERS };

/* Run a group over its units, a chunk at a time; GROUP_NO_ROOM when not
 * even one unit fits beside the pass (the caller runs fewer rows). With
 * pinned (the pass skips the HYGPU_FILTER_SRC steps, every convolution's
 * spectra being kept), no kept spectra may go: GROUP_WANTS_FILTERS where
 * they would have to, and the caller runs the pass again with every
 * step. */
static int run_group(const HygpuStep *grp, const Pass *p, bool pinned)
{
	Shape s;
	int64_t B = p->B, L = p->L;

	group_shape(&s, grp, B, L);
	if (s.units <= 0)
		return GROUP_DONE;
	Kept *k = NULL;
	if (grp->conv >= 0 && (k = kept_find(grp->conv, L)) == NULL)
		k = kept_make(&s, B, L);
	int64_t cmax = grp->max_chunk > 0 && grp->max_chunk < s.units
	                   ? grp->max_chunk
	                   : s.units;
	int64_t c = 0;
	size_t fw = 0;
	for (int attempt = 0; attempt < 3 && c == 0; attempt++) {
		if (attempt == 1 && pinned)
			return GROUP_WANTS_FILTERS;
		if (attempt == 1) /* other kept spectra go */
			for (int i = 0; i < MAX_KEPT; i++)
				if (g.kept[i].live && &g.kept[i] != k)
					kept_drop(&g.kept[i]);
		if (attempt == 2 && k) { /* then these */
			kept_drop(k);
			k = NULL;
		}
		c = fit_chunk(&s, cmax, B, k != NULL, k && k->complete,
		              group_room(), &fw);
	}
	if (c == 0)
		return GROUP_NO_ROOM;
	bool have = k && k->complete;
	/* the group buffers grow from nothing, all three, so that the old
	 * ones are not counted twice */
	if (g.work.cap < work_bytes(&s, c, B) ||
	    (!k && g.spec.cap < spec_bytes(&s, c)) || g.fftwork.cap < fw) {
		buf_free(&g.work);
		buf_free(&g.spec);
		buf_free(&g.fftwork);
	}
	if (!buf_ensure(&g.work, work_bytes(&s, c, B)) ||
	    (!k && !buf_ensure(&g.spec, spec_bytes(&s, c))) ||
	    !buf_ensure(&g.fftwork, fw))
		return GROUP_NO_ROOM;
	size_t rb = row_bytes(&s);
	for (int64_t a = 0; a < s.units; a += c) {
		int64_t cnt = s.units - a < c ? s.units - a : c;
		CUdeviceptr spec = k ? k->buf.p + (size_t)(a * spec_rows(&s)) * rb
		                     : g.spec.p;
		for (int64_t i = 0; i < grp->count; i++) {
			const HygpuStep *st = &s.steps[i];
			if ((have && (st->flags & HYGPU_FILTER)) ||
			    !step_on(st, s.n))
				continue;
			if (st->op == HYGPU_LAUNCH) {
				launch(st, p, g.work.p, spec, s.n, a, cnt);
				continue;
			}
			if (st->op != HYGPU_R2C && st->op != HYGPU_C2R)
				fail("the GPU plan has step op %" PRId64 " inside a group "
				     "(a bug in hyenac)", st->op);
			int64_t rows = st->rows_per_unit * cnt * (st->rows_b ? B : 1);
			if (rows <= 0)
				continue;
			CUdeviceptr at = (st->buf ? spec : g.work.p) +
			                 (size_t)st->off_rows * rb;
			fft_exec(s.n, rows, st->op == HYGPU_R2C ? CUFFT_R2C : CUFFT_C2R,
			         at);
		}
	}
	if (k)
		k->complete = true;
	return GROUP_DONE;
}

/* Whether every convolution group of e has its spectra kept, complete,
 * for L (and e has one): then its HYGPU_FILTER_SRC steps need not run. */
static bool filters_kept(const HygpuEntry *e, int64_t L)
{
	const HygpuStep *st = P->steps + e->first;
	bool any = false;

	for (int64_t i = 0; i < e->count; i++) {
		if (st[i].op != HYGPU_GROUP || st[i].conv < 0)
			continue;
		Kept *k = kept_find(st[i].conv, L);
		if (!k || !k->complete)
			return false;
		any = true;
	}
	return any;
}

/* The plan's init steps, once, after the weights' upload: kernels that
 * write the derived weights (hygpu.h). */
static void run_init(void)
{
	Pass p = {1, 1, 0};

	if (P->init_count < 0 || P->init_first < 0 ||
	    P->init_first + P->init_count > P->nstep)
		fail("the GPU plan's init steps lie outside its steps (a bug in "
		     "hyenac)");
	for (int64_t i = 0; i < P->init_count; i++) {
		const HygpuStep *st = &P->steps[P->init_first + i];
		if (st->op != HYGPU_LAUNCH)
			fail("the GPU plan has step op %" PRId64 " among its init "
			     "steps (a bug in hyenac)", st->op);
		launch(st, &p, 0, 0, 0, 0, 0);
	}
}

/* The entry's steps for one pass; false when a group did not fit. */
static bool run_steps(const HygpuEntry *e, const Pass *p)
{
	const HygpuStep *st = P->steps + e->first;
	bool skip = filters_kept(e, p->L);

	for (int64_t i = 0; i < e->count;) {
		if (st[i].op == HYGPU_GROUP &&
		    i + 1 + st[i].count > e->count)
			fail("a group of the GPU plan runs past its entry (a bug in "
			     "hyenac)");
		if (skip && (st[i].flags & HYGPU_FILTER_SRC)) {
			i += st[i].op == HYGPU_GROUP ? 1 + st[i].count : 1;
			continue;
		}
		if (st[i].op == HYGPU_GROUP) {
			int r = run_group(&st[i], p, skip);
			if (r == GROUP_NO_ROOM)
				return false;
			if (r == GROUP_WANTS_FILTERS) { /* from the start, all of it */
				skip = false;
				i = 0;
				continue;
			}
			i += 1 + st[i].count;
		} else if (st[i].op == HYGPU_LAUNCH) {
			launch(&st[i], p, 0, 0, 0, 0, 0);
			i++;
		} else {
			fail("the GPU plan has step op %" PRId64 " outside a group (a "
			     "bug in hyenac)", st[i].op);
		}
	}
	return true;
}

/* The most that one of the entry's groups needs at its smallest chunk
 * (they run one after another, on the same buffers). */
static size_t chunk_need_entry(const HygpuEntry *e, int64_t B, int64_t L)
{
	const HygpuStep *st = P->steps + e->first;
	size_t need = 0;

	for (int64_t i = 0; i < e->count; i++)
		if (st[i].op == HYGPU_GROUP) {
			Shape s;
			group_shape(&s, &st[i], B, L);
			size_t n = chunk_need(&s, 1, B, false);
			need = n > need ? n : need;
		}
	return need;
}

/* The rows of one pass: as many of B as fit with the smallest chunk of
 * every group (kept spectra dropped if need be), or fail. */
static int64_t pass_rows(const HygpuEntry *e, int64_t B, int64_t L)
{
	size_t have = g.arena.cap + g.io.cap + g.work.cap + g.spec.cap +
	              g.fftwork.cap;

	for (int tries = 0; tries < 2; tries++) {
		size_t avail = room() + have;
		int64_t lo = 0, hi = B;
		while (lo < hi) {
			int64_t mid = lo + (hi - lo + 1) / 2;
			size_t need = pass_bytes(e, mid, L) + chunk_need_entry(e, mid, L);
			if (need <= avail)
				lo = mid;
			else
				hi = mid - 1;
		}
		if (lo > 0)
			return lo;
		for (int i = 0; i < MAX_KEPT; i++) /* then without kept spectra */
			if (g.kept[i].live)
				kept_drop(&g.kept[i]);
	}
	no_memory("one row", pass_bytes(e, 1, L) + chunk_need_entry(e, 1, L));
}

/* B rows of L tokens through entry e: outs[k] (host, may be NULL) gets
 * output k; with device_only the outputs stay on the device and the
 * tokens are uploaded only when they are not there already. */
static void run_entry(const HygpuEntry *e, const int32_t *tok, int64_t B,
                      int64_t L, float *const *outs, bool device_only)
{
	check(cu.CtxSetCurrent(g.ctx), "making its context current");
	if (B <= 0)
		return;
	g.free_known = false;
	int64_t rows = pass_rows(e, B, L);
	for (int64_t b0 = 0; b0 < B; b0 += rows) {
		int64_t Bc = B - b0 < rows ? B - b0 : rows;
		size_t tokb = ((size_t)(Bc * L) * 4 + 255) & ~(size_t)255;
		size_t iob = pass_bytes(e, Bc, L) - arena_bytes(Bc, L);
		size_t ab = arena_bytes(Bc, L);
		if (g.io.cap < iob) {
			g.dev_tok = NULL; /* the tokens go with the buffer */
			buf_free(&g.io);
		}
		if (g.arena.cap < ab)
			buf_free(&g.arena);
		if (!buf_ensure(&g.arena, ab) || !buf_ensure(&g.io, iob)) {
			/* pass_rows counted the group buffers as room */
			buf_free(&g.work), buf_free(&g.spec), buf_free(&g.fftwork);
			if (!buf_ensure(&g.arena, ab) || !buf_ensure(&g.io, iob))
				no_memory("the activations, inputs and outputs",
				          round256(ab) + iob);
		}
		CUdeviceptr table[1 + HYRT_MAX_HIDDEN];
		CUdeviceptr at = g.io.p + table_bytes(e);
		table[0] = at;
		at += tokb;
		for (int k = 0; k < e->nout; k++) {
			table[1 + k] = at;
			at += out_bytes(e, k, Bc, L);
		}
		Pass p = {Bc, L, g.io.p};
		check(cu.MemcpyHtoD(g.io.p, table,
		                    sizeof(CUdeviceptr) * (size_t)(1 + e->nout)),
		      "copying the io table");
		bool resident = device_only && Bc == B && g.dev_tok == tok &&
		                g.dev_B == B && g.dev_L == L;
		if (!resident) {
			check(cu.MemcpyHtoD(table[0], tok + b0 * L,
			                    (size_t)(Bc * L) * sizeof(int32_t)),
			      "copying the tokens");
			g.dev_tok = device_only && Bc == B ? tok : NULL;
			g.dev_B = B;
			g.dev_L = L;
		}
		if (!run_steps(e, &p)) {
			/* a group's smallest chunk did not fit beside this pass:
			 * the same rows again, fewer at a time */
			check(cu.StreamSynchronize(NULL), "running the forward");
			if (Bc == 1)
				no_memory("one row and a group's smallest chunk",
				          pass_bytes(e, 1, L) + chunk_need_entry(e, 1, L));
			rows = Bc / 2;
			b0 -= rows; /* the loop adds it back */
			g.dev_tok = NULL;
			/* the buffers shrink to the smaller pass's */
			buf_free(&g.arena), buf_free(&g.io), buf_free(&g.work);
			buf_free(&g.spec), buf_free(&g.fftwork);
			continue;
		}
		check(cu.StreamSynchronize(NULL), "running the forward");
		if (device_only)
			continue;
		for (int k = 0; k < e->nout; k++) {
			if (!outs[k])
				continue;
			int64_t w = e->out_per_token[k] ? e->out_per_token[k] * L
			                                : e->out_per_sample[k];
			check(cu.MemcpyDtoH(outs[k] + b0 * w, table[1 + k],
			                    (size_t)(Bc * w) * sizeof(float)),
			      "copying an output back");
		}
	}
}

/* ---- the entries ------------------------------------------------------ */

static const HygpuEntry *entry_named(const char *name)
{
	for (int64_t i = 0; i < P->nentry; i++)
		if (strcmp(P->entries[i].name, name) == 0)
			return &P->entries[i];
	return NULL;
}

static void need_started(void)
{
	if (!g.started)
		fail("the GPU was not started before a forward (a bug in "
		     "hyenac)");
}

/* hyrt.h: the logits entry when only logits are asked for and the plan
 * has one (as codegen/cpu/entry.c's hyenac_run picks `entry logits`),
 * else the full forward (entry 0: the graph's outputs). */
static const HygpuEntry *forward_entry(bool hidden, bool logits)
{
	const HygpuEntry *e = entry_named("logits");

	if (!hidden && logits && e && e->nout == 1 &&
	    hyenac_meta[HYRT_META_NOUTPUTS] >= 2)
		return e;
	return &P->entries[0];
}

void hyenac_run(const float *weights, const int32_t *tokens, int64_t B,
                int64_t L, float *const *outputs, void *scratch)
{
	(void)weights, (void)scratch;
	pthread_mutex_lock(&g.lock);
	need_started();
	int nout = (int)hyenac_meta[HYRT_META_NOUTPUTS];
	const HygpuEntry *e = forward_entry(outputs[0] != NULL,
	                                    nout >= 2 && outputs[1] != NULL);
	float *outs[HYRT_MAX_HIDDEN] = {0};
	if (e == &P->entries[0])
		for (int k = 0; k < e->nout && k < nout; k++)
			outs[k] = outputs[k];
	else
		outs[0] = outputs[1];
	run_entry(e, tokens, B, L, outs, false);
	pthread_mutex_unlock(&g.lock);
}

int hyenac_run_pooled(const float *weights, const int32_t *tokens, int64_t B,
                      int64_t L, float *mean, float *last, void *scratch)
{
	(void)weights, (void)scratch;
	const HygpuEntry *e = entry_named("pooled");
	if (!e || e->nout != 2)
		return 0;
	pthread_mutex_lock(&g.lock);
	need_started();
	float *outs[2] = {mean, last}; /* passes/entries.c: mean, then last */
	run_entry(e, tokens, B, L, outs, false);
	pthread_mutex_unlock(&g.lock);
	return 1;
}

int hyenac_run_classify(const float *weights, const int32_t *tokens,
                        int64_t B, int64_t L, float *logits, void *scratch)
{
	(void)weights, (void)scratch;
	const HygpuEntry *e = entry_named("classify");
	if (!e || e->nout != 1)
		return 0;
	pthread_mutex_lock(&g.lock);
	need_started();
	float *outs[1] = {logits};
	run_entry(e, tokens, B, L, outs, false);
	pthread_mutex_unlock(&g.lock);
	return 1;
}

int hyenac_run_hidden(const float *weights, const int32_t *tokens, int64_t B,
                      int64_t L, float *const *outputs, void *scratch)
{
	(void)weights, (void)scratch;
	const HygpuEntry *e = entry_named("hidden_states");
	if (!e)
		return 0;
	pthread_mutex_lock(&g.lock);
	need_started();
	run_entry(e, tokens, B, L, outputs, false);
	pthread_mutex_unlock(&g.lock);
	return (int)e->nout;
}

/* The host needs no activation memory: the arena is on the device. */
size_t hyenac_scratch_bytes(int64_t B, int64_t L)
{
	(void)B, (void)L;
	return 64;
}

/* A GPU binary has no decode step (hygpu.h). */
int64_t hyenac_state_bytes(int64_t B)
{
	(void)B;
	return 0;
}

int hyenac_prefill(const float *weights, const int32_t *tokens, int64_t B,
                   int64_t L, float *logits, void *scratch, void *state)
{
	(void)weights, (void)tokens, (void)B, (void)L, (void)logits;
	(void)scratch, (void)state;
	return 0;
}

int hyenac_step(const float *weights, const int32_t *tokens, int64_t B,
                int64_t pos, float *logits, void *scratch, void *state)
{
	(void)weights, (void)tokens, (void)B, (void)pos, (void)logits;
	(void)scratch, (void)state;
	return 0;
}

void hyrt_gpu_forward_on_device(const int32_t *tok, int64_t B, int64_t L,
                                int which)
{
	pthread_mutex_lock(&g.lock);
	need_started();
	const HygpuEntry *e = forward_entry(which == 0, which == 1);
	run_entry(e, tok, B, L, NULL, true);
	pthread_mutex_unlock(&g.lock);
}

void hyrt_gpu_stats(HyrtGpuStats *s)
{
	memset(s, 0, sizeof *s);
	s->peak_bytes = (int64_t)g.peak;
	s->device_used = g.free0 > g.min_free ? (int64_t)(g.free0 - g.min_free)
	                                      : 0;
	s->weights = (int64_t)g.weights.cap;
	s->spectra = (int64_t)kept_bytes();
}

const char *hyrt_gpu_device_desc(void)
{
	return g.desc;
}

const char *hyrt_gpu_arch(void)
{
	return P->arch;
}

/* ---- the start -------------------------------------------------------- */

/* "sm_90" -> 90, "sm_90a" -> 90 (exact: *exact), 0 if unreadable. */
static int arch_number(const char *arch, bool *exact)
{
	int v = 0;

	*exact = false;
	if (!arch || strncmp(arch, "sm_", 3) != 0)
		return 0;
	for (arch += 3; *arch >= '0' && *arch <= '9'; arch++)
		v = v * 10 + (*arch - '0');
	*exact = *arch == 'a';
	return v;
}

static bool plan_has_fft(void)
{
	for (int64_t i = 0; i < P->nstep; i++)
		if (P->steps[i].op == HYGPU_R2C || P->steps[i].op == HYGPU_C2R)
			return true;
	return false;
}

#define START_FAIL(st, ...)                                                  \
	do {                                                                     \
		snprintf(msg, n, __VA_ARGS__);                                       \
		return (st);                                                         \
	} while (0)

/* The PTX through the driver's JIT, its error log on failure. */
static HyrtGpuStatus load_module(char *msg, size_t n)
{
	char log[4096] = "";
	CUjit_option opt[2] = {CU_JIT_ERROR_LOG_BUFFER,
	                       CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
	void *val[2] = {log, (void *)(uintptr_t)sizeof log};
	CUresult r = cu.ModuleLoadDataEx(&g.mod, hyenac_gpu_ptx, 2, opt, val);

	if (r != CUDA_SUCCESS) {
		log[sizeof log - 1] = '\0';
		for (char *q = log; *q; q++)
			if (*q == '\n' || *q == '\r')
				*q = ' ';
		START_FAIL(HYRT_GPU_FAILED, "cannot load the binary's kernels (%s) "
		           "on %s: %s%s%s", P->arch, g.desc, cuda_error(r),
		           *log ? ": " : "", log);
	}
	g.fn = calloc((size_t)P->nkernel + 1, sizeof *g.fn);
	g.fn_shmem = calloc((size_t)P->nkernel + 1, sizeof *g.fn_shmem);
	g.fn_name = calloc((size_t)P->nkernel + 1, sizeof *g.fn_name);
	if (!g.fn || !g.fn_shmem || !g.fn_name)
		START_FAIL(HYRT_GPU_FAILED, "out of memory");
	const char *name = hyenac_gpu_kernels;
	for (int64_t k = 0; k < P->nkernel; k++) {
		g.fn_name[k] = name;
		r = cu.ModuleGetFunction(&g.fn[k], g.mod, name);
		if (r != CUDA_SUCCESS)
			START_FAIL(HYRT_GPU_FAILED, "the binary's PTX has no kernel "
			           "'%s': %s", name, cuda_error(r));
		name += strlen(name) + 1;
	}
	return HYRT_GPU_OK;
}

/* The process's rank among those on its node, as the launcher says:
 * Open MPI's mpirun, Slurm's srun, MPICH's hydra; 0 when none does (one
 * process, or a launcher that says nothing). Ranks on a node then take
 * its GPUs in turn. */
static int64_t local_rank(void)
{
	static const char *const vars[] = { "OMPI_COMM_WORLD_LOCAL_RANK",
	                                    "SLURM_LOCALID", "MPI_LOCALRANKID" };

	for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
		const char *v = getenv(vars[i]);
		char *end;
		long long r;

		if (!v || !*v)
			continue;
		errno = 0;
		r = strtoll(v, &end, 10);
		if (!errno && !*end && r >= 0)
			return r;
	}
	return 0;
}

HyrtGpuStatus hyrt_gpu_start(const void *weights, size_t bytes,
                             int64_t device, char *msg, size_t n)
{
	CUresult r;
	int count = 0, major = 0, minor = 0;

	if (g.started)
		return HYRT_GPU_OK;
	if (P->version != HYGPU_PLAN_VERSION)
		START_FAIL(HYRT_GPU_FAILED, "this binary's GPU plan is version %"
		           PRId64 " and its runtime reads version %d: recompile "
		           "the model with this hyenac", P->version,
		           HYGPU_PLAN_VERSION);
	const char *env = getenv("HYENAC_GPU_MEMORY");
	if (env) {
		int64_t v;
		if (!hyrt_parse_bytes(env, &v))
			START_FAIL(HYRT_GPU_FAILED, "HYENAC_GPU_MEMORY='%s' is not a "
			           "byte count (like 8G, 512M or 1000000000)", env);
		g.cap = (size_t)v;
	}
	env = getenv("HYENAC_GPU_FFT");
	if (env && strcmp(env, "cufft") != 0 && strcmp(env, "hyenac") != 0)
		START_FAIL(HYRT_GPU_FAILED, "HYENAC_GPU_FFT='%s' is neither "
		           "'hyenac' (the default) nor 'cufft'", env);
	g.cufft_only = env && strcmp(env, "cufft") == 0;
	if (!cuda_load_driver(msg, n))
		return HYRT_GPU_NO_DEVICE;
	r = cu.Init(0);
	if (r == CUDA_ERROR_NO_DEVICE)
		START_FAIL(HYRT_GPU_NO_DEVICE, "no CUDA device: the driver found "
		           "none (%s)", cuda_error(r));
	if (r != CUDA_SUCCESS)
		START_FAIL(HYRT_GPU_NO_DEVICE, "the CUDA driver cannot start: %s",
		           cuda_error(r));
	r = cu.DeviceGetCount(&count);
	if (r != CUDA_SUCCESS || count <= 0)
		START_FAIL(HYRT_GPU_NO_DEVICE, "no CUDA device: the driver found "
		           "none");
	if (device < 0)
		device = local_rank() % count;
	if (device >= count)
		START_FAIL(HYRT_GPU_FAILED, "CUDA device %" PRId64 " does not "
		           "exist: this machine has %d (0 to %d; --device or "
		           "HYENAC_DEVICE picks one)", device, count, count - 1);
	g.device_index = (int)device;
	if ((r = cu.DeviceGet(&g.dev, (int)device)) != CUDA_SUCCESS ||
	    (r = cu.DeviceGetName(g.name, (int)sizeof g.name - 1, g.dev)) !=
	        CUDA_SUCCESS ||
	    (r = cu.DeviceGetAttribute(
	         &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, g.dev)) !=
	        CUDA_SUCCESS ||
	    (r = cu.DeviceGetAttribute(
	         &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, g.dev)) !=
	        CUDA_SUCCESS ||
	    (r = cu.DeviceGetAttribute(
	         &g.shmem_optin,
	         CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, g.dev)) !=
	        CUDA_SUCCESS)
		START_FAIL(HYRT_GPU_FAILED, "cannot read CUDA device %" PRId64
		           ": %s", device, cuda_error(r));
	for (char *q = g.name; *q; q++)
		if (*q < ' ')
			*q = ' ';
	g.cc = major * 10 + minor;
	snprintf(g.desc, sizeof g.desc, "device %" PRId64 " (%s, sm_%d)",
	         device, g.name, g.cc);
	bool exact;
	int want = arch_number(P->arch, &exact);
	if (want > g.cc || (exact && want != g.cc))
		START_FAIL(HYRT_GPU_FAILED, "this binary's kernels are for %s and "
		           "CUDA %s is sm_%d: recompile the model with "
		           "--target cuda:sm_%d", P->arch, g.desc, g.cc, g.cc);
	if ((r = cu.DevicePrimaryCtxRetain(&g.ctx, g.dev)) != CUDA_SUCCESS ||
	    (r = cu.CtxSetCurrent(g.ctx)) != CUDA_SUCCESS)
		START_FAIL(HYRT_GPU_FAILED, "cannot open CUDA %s: %s", g.desc,
		           cuda_error(r));
	size_t f = 0, t = 0;
	if ((r = cu.MemGetInfo(&f, &t)) != CUDA_SUCCESS)
		START_FAIL(HYRT_GPU_FAILED, "cannot read the memory of CUDA %s: "
		           "%s", g.desc, cuda_error(r));
	g.free0 = g.min_free = f;
	HyrtGpuStatus st = load_module(msg, n);
	if (st != HYRT_GPU_OK)
		return st;
	/* the weights (and those the init steps derive from them), then
	 * room for the smallest forward (one token) */
	size_t wbytes = bytes;
	if (P->weights_extra > 0) {
		if (bytes > (size_t)P->weights_base)
			START_FAIL(HYRT_GPU_FAILED, "this binary's GPU plan places "
			           "derived weights at byte %" PRId64 ", inside its "
			           "%zu bytes of weights (a bug in hyenac)",
			           P->weights_base, bytes);
		wbytes = (size_t)(P->weights_base + P->weights_extra);
	}
	size_t least = wbytes + pass_bytes(&P->entries[0], 1, 1);
	size_t fnow = 0;
	cu.MemGetInfo(&fnow, &t);
	size_t avail = fnow > MARGIN ? fnow - MARGIN : 0;
	if (g.cap && g.cap < avail)
		avail = g.cap;
	if (least > avail)
		START_FAIL(HYRT_GPU_FAILED, "too little GPU memory on CUDA %s: the "
		           "weights and one token need %s, %s %s",
		           g.desc, size_str(least), size_str(avail),
		           g.cap && g.cap <= fnow ? "allowed by HYENAC_GPU_MEMORY"
		                                  : "free");
	if (plan_has_fft()) {
		const char *path;
		if (!cuda_load_cufft(&path, msg, n))
			return HYRT_GPU_FAILED;
		g.fft = true;
	}
	r = cu.MemAlloc(&g.weights.p, wbytes ? wbytes : 256);
	if (r != CUDA_SUCCESS)
		START_FAIL(HYRT_GPU_FAILED, "cannot hold the weights (%s) on "
		           "CUDA %s: %s", size_str(wbytes), g.desc, cuda_error(r));
	g.weights.cap = wbytes ? wbytes : 256;
	g.held = g.peak = g.weights.cap;
	if (bytes && (r = cu.MemcpyHtoD(g.weights.p, weights, bytes)) !=
	                 CUDA_SUCCESS)
		START_FAIL(HYRT_GPU_FAILED, "cannot copy the weights to CUDA %s: %s",
		           g.desc, cuda_error(r));
	run_init();
	g.started = true;
	return HYRT_GPU_OK;
}
