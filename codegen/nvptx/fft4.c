/*
 * fft4.c - the GPU's long convolution at one power-of-two FFT length in
 * three kernels of hyenac's own. kernels.c's other way runs a gather,
 * cuFFT's R2C, the product, cuFFT's C2R and a scatter: five kernels and
 * cuFFT's own passes, each a trip over the group's rows in device
 * memory. These make three trips.
 *
 * The real transform of n = 2M points is the complex one of M points
 * over z[m] = u[2m] + i u[2m + 1] (runtime/lanefft.c does the same on
 * the CPU), and M = N1 x N2 is split four-step: m = m1 + N1 m2,
 * k = N2 k1 + k2.
 *
 *   cols4   a block per column m1 and TC_COLS work rows: z read from the
 *           activations (channels-last, v * g), the N2-point transforms
 *           over m2, the twiddle W_M^(m1 k2), out to work at
 *           [k2][m1][row]
 *   rows4   a block per pair of rows (k2, N2 - k2), which hold each
 *           other's partner bins (the real spectrum needs Z[k] and
 *           Z[M - k]), and TC_ROWS work rows: the N1-point transforms
 *           over m1, the real spectrum's split, the product by the
 *           filter's spectrum, the fold back, the inverse transforms and
 *           the twiddle back, in place
 *   icols4  a block per column and TC_COLS work rows: the inverse
 *           N2-point transforms, then y = Re, Im at positions 2m, 2m + 1
 *           (* post) out to the activations
 *
 * A work row is b cnt + j (batch row b, channel a + j; R = B cnt of
 * them) and sits innermost, so that every block reads and writes runs
 * of 32 or 64 bytes. The filter spectra are cuFFT's R2C of the filter
 * rows, as on the other way, reordered once (spec4 and keep4, FILTER
 * steps: kept with the spectra), each row to [k2][k1] and the Nyquist
 * bin after them, so that a kept spectrum serves any chunk of channels;
 * the inverse's 1/n and the skip term are in them already.
 *
 * A transform of P <= 1024 points runs in shared memory as P = q1 x q2
 * (each at most 32): q2 transforms of q1 points in registers, a thread
 * each, the twiddle, then q1 of q2 points. Element s of a vector sits
 * at s + s / 32 so that the strided round reads at most two ways
 * conflicted. Twiddles come from a table that tw4 computes in double
 * into the work buffer, after the rows.
 *
 * Power-of-two n from 128 to 2^21 only: a convolution is compiled for
 * one such length (nv_fft4_len), and the other lengths take kernels.c's
 * way (HygpuStep.only_n), as does every length under
 * HYENAC_GPU_FFT=cufft (runtime/cuda/gpu_run.c).
 */
#include "nvptx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { TC_COLS = 8, TC_ROWS = 4, QMAX = 32, TL = 1024, UN = 8 };

/* A transform length: P = q1 q2 points, a vector's floats apart / 2
 * (vp complex), its twiddle table at tab + tw floats. */
typedef struct Len {
	int64_t P, q1, q2, vp, tw;
} Len;

typedef struct F4 {
	int64_t n, M, N1, N2;
	Len col, row; /* N2 points (over m2 or k2), N1 points */
	/* the table's parts (float offsets): W_M^j as lo[j % TL] hi[j / TL],
	 * W_n^(N2 k1) and W_n^(k2) for the real spectrum's split */
	int64_t tlo, thi, ta, tb, tl, tsize;
	LLVMValueRef tab; /* in the kernel being emitted */
} F4;

typedef struct Cx {
	LLVMValueRef re, im;
} Cx;

static int ilog2(int64_t x)
{
	int e = 0;
	while ((int64_t)1 << e < x)
		e++;
	return e;
}

int64_t nv_fft4_len(const CgContext *c)
{
	int64_t L = c->g->max_len;
	if (L <= 0)
		return 0;
	int64_t n = hygpu_fft_len(L);
	if (n & (n - 1)) /* the longest power of two a run reaches */
		n = (int64_t)1 << (ilog2(2 * L + 1) - 1);
	int64_t lo = ((const NvState *)c->gpu)->fft4_min;
	return n >= (lo > 128 ? lo : 128) && n <= ((int64_t)1 << 21) ? n : 0;
}

static void len_init(Len *ln, int64_t P, int64_t *at)
{
	int e = ilog2(P);
	ln->P = P;
	ln->q1 = (int64_t)1 << ((e + 1) / 2);
	ln->q2 = P / ln->q1;
	ln->vp = P + P / 32 + 1;
	ln->tw = *at;
	*at += 2 * P;
}

/* The plan for length n and its twiddle table's layout. */
static void f4_init(F4 *f, int64_t n)
{
	int p = ilog2(n / 2);
	int64_t at = 0;

	f->n = n;
	f->M = n / 2;
	f->N2 = (int64_t)1 << (p / 2);
	f->N1 = f->M / f->N2;
	len_init(&f->col, f->N2, &at);
	len_init(&f->row, f->N1, &at);
	f->tl = f->M < TL ? f->M : TL;
	f->tlo = at;
	at += 2 * f->tl;
	f->thi = at;
	at += 2 * (f->M / f->tl);
	f->ta = at;
	at += 2 * f->N1;
	f->tb = at;
	at += 2 * f->N2;

	f->tsize = at;
	f->tab = NULL;
	HY_ASSERT(at <= FFT4_WORK_ROWS * (n + 2));
}

/* ---- small builders --------------------------------------------------- */

static LLVMValueRef shr(CgContext *c, LLVMValueRef a, int64_t pow2)
{
	return LLVMBuildLShr(c->b, a, i64c(c, ilog2(pow2)), "");
}

static LLVMValueRef low(CgContext *c, LLVMValueRef a, int64_t pow2)
{
	return LLVMBuildAnd(c->b, a, i64c(c, pow2 - 1), "");
}

static LLVMValueRef lt(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildICmp(c->b, LLVMIntSLT, a, b, "");
}

static LLVMValueRef pick(CgContext *c, LLVMValueRef cond, LLVMValueRef a,
                         LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, cond, a, b, "");
}

/* i unless it is out of range (!ok), then 0: an index that is always
 * safe to load from, so that a load need not wait behind a branch */
static LLVMValueRef safe(CgContext *c, LLVMValueRef ok, LLVMValueRef i)
{
	return ok ? pick(c, ok, i, i64c(c, 0)) : i;
}

/* A loop of trip rounds (a power of two) run nb = min(UN, trip) at a
 * time: it returns the first round of a turn, and the caller emits the
 * turn's nb rounds with all their loads before any of their stores, so
 * that the loads are in flight together (one at a time, each a trip to
 * device memory, they made rows4 latency bound). */
static LLVMValueRef batch_open(CgContext *c, Loop *lp, int64_t trip, int un,
                               int *nb, const char *name)
{
	*nb = (int)(trip < un ? trip : un);
	return mul(c, cg_loop_open(c, lp, i64c(c, 0), i64c(c, trip / *nb), name),
	           i64c(c, *nb));
}

/* The value of round it + u of a loop whose rounds take per values
 * each, lane the thread's place in a round: (it + u) per + lane. */
static LLVMValueRef at_round(CgContext *c, LLVMValueRef it, int u,
                             int64_t per, LLVMValueRef lane)
{
	return add(c, mul(c, add(c, it, i64c(c, u)), i64c(c, per)), lane);
}

/* The round value's check: NULL where every round is in range. */
static LLVMValueRef in_range(CgContext *c, LLVMValueRef x, int64_t rounds,
                             int64_t per, int64_t end)
{
	return rounds * per > end ? lt(c, x, i64c(c, end)) : NULL;
}

/* *x, a round value, made safe to load at where rounds of per values
 * pass end; returns the check its stores need (NULL: none). */
static LLVMValueRef fit(CgContext *c, LLVMValueRef *x, int64_t rounds,
                        int64_t per, int64_t end)
{
	LLVMValueRef ok = in_range(c, *x, rounds, per, end);
	*x = safe(c, ok, *x);
	return ok;
}

static LLVMValueRef both(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	return !a ? b : !b ? a : LLVMBuildAnd(c->b, a, b, "");
}

static LLVMBasicBlockRef if_open(CgContext *c, LLVMValueRef cond)
{
	return cond ? cg_if_open(c, cond, "ok") : NULL;
}

static void if_close(CgContext *c, LLVMBasicBlockRef bj)
{
	if (bj)
		cg_if_close(c, bj);
}

static Cx cx_ld(CgContext *c, LLVMValueRef p, LLVMValueRef i)
{
	LLVMValueRef v = nv_load2(c, p, i);
	return (Cx){nv_lane2(c, v, 0), nv_lane2(c, v, 1)};
}

static void cx_st(CgContext *c, LLVMValueRef p, LLVMValueRef i, Cx x)
{
	nv_store2(c, p, i, x.re, x.im);
}

static Cx cx_add(CgContext *c, Cx a, Cx b)
{
	return (Cx){f_add(c, a.re, b.re), f_add(c, a.im, b.im)};
}

static Cx cx_sub(CgContext *c, Cx a, Cx b)
{
	return (Cx){f_sub(c, a.re, b.re), f_sub(c, a.im, b.im)};
}

/* a b, its products fused into the sums where the target has fma */
static Cx cx_mul(CgContext *c, Cx a, Cx b)
{
	LLVMValueRef nt = LLVMBuildFNeg(c->b, f_mul(c, a.im, b.im), "");
	return (Cx){f_fma(c, a.re, b.re, nt),
	            f_fma(c, a.re, b.im, f_mul(c, a.im, b.re))};
}

static Cx cx_conj(CgContext *c, Cx a)
{
	return (Cx){a.re, LLVMBuildFNeg(c->b, a.im, "")};
}

/* -i a and i a */
static Cx cx_mi(CgContext *c, Cx a)
{
	return (Cx){a.im, LLVMBuildFNeg(c->b, a.re, "")};
}

static Cx cx_i(CgContext *c, Cx a)
{
	return (Cx){LLVMBuildFNeg(c->b, a.im, ""), a.re};
}

static Cx cx_scale(CgContext *c, Cx a, double s)
{
	return (Cx){f_mul(c, a.re, f32c(c, s)), f_mul(c, a.im, f32c(c, s))};
}

/* Table entry j (a value) of the part at float offset `part`. */
static Cx tw(CgContext *c, const F4 *f, int64_t part, LLVMValueRef j)
{
	return cx_ld(c, f->tab, add(c, i64c(c, part), add(c, j, j)));
}

/* W_M^j for 0 <= j < M, conjugated for the inverse. */
static Cx tw_m(CgContext *c, const F4 *f, LLVMValueRef j, bool inv)
{
	Cx w = tw(c, f, f->tlo, low(c, j, f->tl));
	if (f->M > f->tl)
		w = cx_mul(c, w, tw(c, f, f->thi, shr(c, j, f->tl)));
	return inv ? cx_conj(c, w) : w;
}

/* The twiddle table in the kernel being emitted: in the work buffer,
 * after its B cnt rows of n + 2 floats (the group asks for
 * FFT4_WORK_ROWS rows more). A table in the module's own global memory
 * read back wrong on an H200 in binaries for sm_90a (and right for
 * sm_90), so the table is made on the device, by tw4, each chunk. */
static LLVMValueRef tab_of(CgContext *c, const F4 *f)
{
	LLVMValueRef rows = mul(c, nv_param(c, P_CNT), c->B);
	return elem(c, c->t_f32, nv_param(c, P_WORK),
	            mul(c, rows, i64c(c, f->n + 2)));
}

/* tw4: the table, a thread an entry, W = e^(-2 pi i num / den) in
 * double, each part's step num / den for j = 1 the table's. */
static void k_tw(CgContext *c, const Node *n, const F4 *f)
{
	int k = nv_begin_node(c, n, "tw4");
	LLVMValueRef i = add(c, mul(c, nv_bid(c), i64c(c, NV_THREADS)),
	                     nv_tid(c));
	nv_return_unless(c, lt(c, i, i64c(c, f->tsize / 2)));
	const struct {
		int64_t at;
		double step;
	} part[] = {
	    {f->col.tw, 1.0 / f->N2},         {f->row.tw, 1.0 / f->N1},
	    {f->tlo, 1.0 / f->M},             {f->thi, (double)f->tl / f->M},
	    {f->ta, (double)f->N2 / f->n},    {f->tb, 1.0 / f->n},
	};
	LLVMValueRef j = i, step = f64c(c, part[0].step);
	for (size_t q = 1; q < sizeof part / sizeof part[0]; q++) {
		LLVMValueRef in = LLVMBuildICmp(c->b, LLVMIntSGE, i,
		                                i64c(c, part[q].at / 2), "");
		j = pick(c, in, sub(c, i, i64c(c, part[q].at / 2)), j);
		step = pick(c, in, f64c(c, part[q].step), step);
	}
	LLVMValueRef a = f_mul(c, f_mul(c, LLVMBuildSIToFP(c->b, j, c->t_f64, ""),
	                                step),
	                       f64c(c, -2.0 * M_PI));
	Cx w = {LLVMBuildFPTrunc(c->b, nv_f64_sincos(c, a, 1), c->t_f32, ""),
	        LLVMBuildFPTrunc(c->b, nv_f64_sincos(c, a, 0), c->t_f32, "")};
	cx_st(c, tab_of(c, f), add(c, i, i), w);
	nv_end(c);
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	s->grid[5] = f->tsize / 2;
	s->grid_div = NV_THREADS;
	s->only_n = f->n;
}

/* ---- transforms in shared memory -------------------------------------- */

/* The float offset of element s of vector v. */
static LLVMValueRef sh_at(CgContext *c, const Len *ln, LLVMValueRef v,
                          LLVMValueRef s)
{
	LLVMValueRef e = add(c, add(c, mul(c, v, i64c(c, ln->vp)), s),
	                     shr(c, s, 32));
	return add(c, e, e);
}

static int64_t sh_bytes(const Len *ln, int nvec)
{
	return (int64_t)nvec * ln->vp * 8;
}

/* x[0..q) transformed in place, natural order in and out, forward
 * (W = e^-2 pi i / q) or inverse, unscaled: radix 2 with constant
 * twiddles, all in registers. */
static void dft_regs(CgContext *c, Cx *x, int q, bool inv)
{
	int bits = ilog2(q);
	Cx t[QMAX];

	for (int i = 0; i < q; i++) {
		int r = 0;
		for (int b = 0; b < bits; b++)
			r |= ((i >> b) & 1) << (bits - 1 - b);
		t[r] = x[i];
	}
	for (int i = 0; i < q; i++)
		x[i] = t[i];
	for (int len = 2; len <= q; len *= 2) {
		int half = len / 2;
		for (int s = 0; s < q; s += len)
			for (int j = 0; j < half; j++) {
				Cx a = x[s + j], b = x[s + j + half];
				if (4 * j == len) {
					b = inv ? cx_i(c, b) : cx_mi(c, b);
				} else if (j) {
					double ang = 2.0 * M_PI * j / len;
					Cx w = {f32c(c, cos(ang)), f32c(c, inv ? sin(ang)
					                                       : -sin(ang))};
					b = cx_mul(c, b, w);
				}
				x[s + j] = cx_add(c, a, b);
				x[s + j + half] = cx_sub(c, a, b);
			}
	}
}

/* nvec vectors of ln->P complex values in shared memory transformed in
 * place, natural order in and out, unscaled. Every thread of the block
 * calls it (barriers inside, one at the end); nvec * q <= NV_THREADS. */
static void sh_fft(CgContext *c, const F4 *f, const Len *ln, LLVMValueRef sh,
                   int nvec, bool inv)
{
	LLVMValueRef tid = nv_tid(c);
	int64_t q1 = ln->q1, q2 = ln->q2;
	Cx x[QMAX];

	HY_ASSERT(nvec * q1 <= NV_THREADS && nvec * q2 <= NV_THREADS);
	/* round 1: vector v, i2 < q2: the q1 points i2 + q2 i1 */
	LLVMValueRef act = lt(c, tid, i64c(c, nvec * q2));
	LLVMValueRef task = pick(c, act, tid, i64c(c, 0));
	LLVMValueRef v = shr(c, task, q2), i2 = low(c, task, q2);
	for (int64_t i = 0; i < q1; i++)
		x[i] = cx_ld(c, sh, sh_at(c, ln, v, add(c, i2, i64c(c, q2 * i))));
	dft_regs(c, x, (int)q1, inv);
	if (q2 > 1)
		for (int64_t k = 1; k < q1; k++) {
			Cx w = tw(c, f, ln->tw, mul(c, i2, i64c(c, k)));
			x[k] = cx_mul(c, x[k], inv ? cx_conj(c, w) : w);
		}
	LLVMBasicBlockRef bj = cg_if_open(c, act, "r1");
	for (int64_t k = 0; k < q1; k++)
		cx_st(c, sh, sh_at(c, ln, v, add(c, i2, i64c(c, q2 * k))), x[k]);
	cg_if_close(c, bj);
	nv_barrier(c);
	if (q2 == 1)
		return;
	/* round 2: vector v, k1 < q1: the q2 points i2 + q2 k1, out to
	 * k1 + q1 k2 */
	act = lt(c, tid, i64c(c, nvec * q1));
	task = pick(c, act, tid, i64c(c, 0));
	v = shr(c, task, q1);
	LLVMValueRef k1 = low(c, task, q1);
	LLVMValueRef base = mul(c, k1, i64c(c, q2));
	for (int64_t i = 0; i < q2; i++)
		x[i] = cx_ld(c, sh, sh_at(c, ln, v, add(c, base, i64c(c, i))));
	nv_barrier(c);
	dft_regs(c, x, (int)q2, inv);
	bj = cg_if_open(c, act, "r2");
	for (int64_t k = 0; k < q2; k++)
		cx_st(c, sh, sh_at(c, ln, v, add(c, k1, i64c(c, q1 * k))), x[k]);
	cg_if_close(c, bj);
	nv_barrier(c);
}

/* The block's dynamic shared memory, bytes of it for kernel k (in the
 * host emulation a plain global of that size). */
static LLVMValueRef dyn_shared(CgContext *c, int k, int64_t bytes)
{
	NvState *s = nv_state(c);
	if (s->emulate) {
		char name[32];
		snprintf(name, sizeof name, "fft4_sh%d", k);
		return nv_shared(c, c->t_f32, bytes / 4, name);
	}
	s->kshmem[k] = bytes;
	LLVMValueRef v = LLVMGetNamedGlobal(c->mod, "tcg_dyn");
	if (v)
		return v;
	v = LLVMAddGlobalInAddressSpace(c->mod, LLVMArrayType2(c->t_f32, 0),
	                                "tcg_dyn", 3);
	LLVMSetLinkage(v, LLVMExternalLinkage);
	LLVMSetAlignment(v, 16);
	return v;
}

/* ---- the kernels ------------------------------------------------------ */

/* What every kernel of a column block knows: its column, its work rows
 * r0 + [0, TC_COLS), the thread's row (its lane mod TC_COLS) and that
 * row's batch row and channel. */
typedef struct Blk {
	LLVMValueRef cnt, R, m1, r0, ch, r, rok, rr, j, bl, chn, sub;
} Blk;

static void blk_open(CgContext *c, Blk *k, int64_t per_row, int64_t tc)
{
	LLVMValueRef tid = nv_tid(c), bid = nv_bid(c);
	k->cnt = nv_param(c, P_CNT);
	k->R = mul(c, k->cnt, c->B);
	if (per_row > 0) { /* a column block */
		k->m1 = low(c, bid, per_row);
		k->r0 = mul(c, shr(c, bid, per_row), i64c(c, tc));
	} else { /* a row-pair block: m1 is the pair */
		LLVMValueRef np = i64c(c, -per_row);
		k->m1 = LLVMBuildURem(c->b, bid, np, "");
		k->r0 = mul(c, LLVMBuildUDiv(c->b, bid, np, ""), i64c(c, tc));
	}
	nv_return_unless(c, lt(c, k->r0, k->R));
	k->ch = low(c, tid, tc);
	k->sub = shr(c, tid, tc);
	k->r = add(c, k->r0, k->ch);
	k->rok = lt(c, k->r, k->R);
	k->rr = pick(c, k->rok, k->r, k->r0);
	k->j = LLVMBuildURem(c->b, k->rr, k->cnt, "");
	k->bl = mul(c, LLVMBuildUDiv(c->b, k->rr, k->cnt, ""), c->L);
	k->chn = add(c, nv_param(c, P_A), k->j);
}

/* The float offset in work of row r's value at (k2, m1). */
static LLVMValueRef work_at(CgContext *c, const F4 *f, const Blk *k,
                            LLVMValueRef k2, LLVMValueRef m1, LLVMValueRef r)
{
	LLVMValueRef e = add(c, mul(c, add(c, mul(c, k2, i64c(c, f->N1)), m1),
	                            k->R),
	                     r);
	return add(c, e, e);
}

/* Two blocks of the kernel being emitted a SM at least: ptxas then keeps
 * it within 128 registers a thread. rows4 took 177 and ran a block a SM
 * (l1-bf16, one large-1m layer at 10^6 tokens on the H200: 26.2 ms a
 * forward, 23.6 with this). */
static void two_blocks(CgContext *c)
{
	if (!nv_state(c)->emulate)
		tcg_annotate(c->mod, c->fn, "minctasm", 2);
}

static HygpuStep *launch4(CgContext *c, int k, int64_t per, int64_t tc,
                          int64_t n)
{
	two_blocks(c);
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	s->grid[4] = per;
	s->grid[5] = per * (tc - 1);
	s->grid_div = tc;
	s->only_n = n;
	return s;
}

/* A column block's round it + u of positions, 16 m2 a round: the thread's m2
 * (returned) and its position t = 2 (m1 + N1 m2) + par, par the low two
 * bits of its sub (z's real or imaginary part). */
static LLVMValueRef col_pos(CgContext *c, const F4 *f, const Blk *b,
                            LLVMValueRef it, int u, LLVMValueRef *t)
{
	LLVMValueRef m2 = at_round(c, it, u, NV_THREADS / (2 * TC_COLS),
	                           shr(c, b->sub, 2));
	*t = add(c, mul(c, add(c, b->m1, mul(c, m2, i64c(c, f->N1))),
	                i64c(c, 2)),
	         low(c, b->sub, 2));
	return m2;
}

/* One of the three kernels begun for node n: *f the plan with the table
 * of this kernel, *b its block (blk_open's per_row and tc), and the
 * block's shared memory of nvec vectors of the columns' or the rows'
 * length, returned; *k the kernel. */
static LLVMValueRef k_open(CgContext *c, const Node *n, const char *name,
                           const F4 *f0, F4 *f, bool rows, int nvec,
                           int64_t per_row, int64_t tc, Blk *b, int *k)
{
	*k = nv_begin_node(c, n, name);
	*f = *f0;
	f->tab = tab_of(c, f0);
	LLVMValueRef sh = dyn_shared(c, *k,
	                             sh_bytes(rows ? &f->row : &f->col, nvec));
	blk_open(c, b, per_row, tc);
	return sh;
}

static void k_cols(CgContext *c, const Node *n, const NvConv *cv,
                   const F4 *f0)
{
	F4 fk;
	Blk b;
	int k;
	LLVMValueRef sh = k_open(c, n, "cols4", f0, &fk, false, TC_COLS, f0->N1,
	                         TC_COLS, &b, &k);
	const F4 *f = &fk;
	LLVMValueRef v = nv_addr(c, cv->v), g = cv->g ? nv_addr(c, cv->g) : NULL;
	LLVMValueRef work = nv_param(c, P_WORK);

	/* z in: 16 m2 a round, each the row's two positions 2m, 2m + 1; a
	 * run is at most n / 2 long (n >= 2 L), so from m2 = N2 / 2 up z is
	 * zero, stored without loads */
	int64_t per = NV_THREADS / (2 * TC_COLS), half = f->N2 / 2;
	int64_t trip = (half + per - 1) / per, all = (f->N2 + per - 1) / per;
	LLVMValueRef par = low(c, b.sub, 2);
	Loop lp;
	int nb;
	LLVMValueRef it = batch_open(c, &lp, trip, UN, &nb, "in");
	LLVMValueRef val[UN], at[UN], okm[UN];
	for (int u = 0; u < nb; u++) {
		LLVMValueRef t, m2 = col_pos(c, f, &b, it, u, &t);
		LLVMValueRef ok = LLVMBuildAnd(c->b, b.rok, lt(c, t, c->L), "");
		okm[u] = in_range(c, m2, trip, per, f->N2);
		at[u] = add(c, sh_at(c, &f->col, b.ch, m2), par);
		val[u] = pick(c, ok,
		              nv_conv_u(c, cv, v, g, add(c, b.bl, safe(c, ok, t)),
		                        b.chn),
		              f32c(c, 0));
	}
	for (int u = 0; u < nb; u++) {
		LLVMBasicBlockRef bj = if_open(c, okm[u]);
		st(c, sh, at[u], val[u]);
		if_close(c, bj);
	}
	cg_loop_close(c, &lp);
	if (all > trip) {
		it = cg_loop_open(c, &lp, i64c(c, trip), i64c(c, all), "zero");
		LLVMValueRef t, m2 = col_pos(c, f, &b, it, 0, &t);
		LLVMBasicBlockRef bj = if_open(c, in_range(c, m2, all, per, f->N2));
		st(c, sh, add(c, sh_at(c, &f->col, b.ch, m2), par), f32c(c, 0));
		if_close(c, bj);
		cg_loop_close(c, &lp);
	}
	nv_barrier(c);
	sh_fft(c, f, &f->col, sh, TC_COLS, false);

	/* out: 32 k2 a round, twiddled */
	per = NV_THREADS / TC_COLS;
	trip = (f->N2 + per - 1) / per;
	it = batch_open(c, &lp, trip, UN, &nb, "out");
	Cx y[UN];
	LLVMValueRef k2[UN], ok[UN];
	for (int u = 0; u < nb; u++) {
		LLVMValueRef kk = k2[u] = at_round(c, it, u, per, b.sub);
		ok[u] = both(c, b.rok, fit(c, &kk, trip, per, f->N2));
		y[u] = cx_mul(c, cx_ld(c, sh, sh_at(c, &f->col, b.ch, kk)),
		              tw_m(c, f, mul(c, b.m1, kk), false));
	}
	for (int u = 0; u < nb; u++) {
		LLVMBasicBlockRef bj = if_open(c, ok[u]);
		cx_st(c, work, work_at(c, f, &b, k2[u], b.m1, b.r), y[u]);
		if_close(c, bj);
	}
	cg_loop_close(c, &lp);
	nv_end(c);
	launch4(c, k, f->N1, TC_COLS, f->n);
}

/* 2 x (the half spectrum's inverse split) of bin k: A = Z[k], Bc =
 * conj Z[M - k], w = W_n^k, H1 = H[k], H2 = H[k + M]:
 *   U[k] = (E - i w D) / 2, U[k + M] = (E + i w D) / 2 (E = A + Bc,
 *   D = A - Bc), Y = U H, and Z'[k] = (Y[k] + Y[k + M]) +
 *   i conj(w) (Y[k] - Y[k + M]); the inverse M-point transform of Z'
 *   is M times 2 (y[2m] + i y[2m + 1]) / n, the spectrum holding 1 / n. */
static Cx fold(CgContext *c, Cx A, Cx Bc, Cx w, Cx H1, Cx H2)
{
	Cx E = cx_add(c, A, Bc);
	Cx O = cx_mi(c, cx_mul(c, w, cx_sub(c, A, Bc)));
	Cx Y1 = cx_mul(c, cx_scale(c, cx_add(c, E, O), 0.5), H1);
	Cx Y2 = cx_mul(c, cx_scale(c, cx_sub(c, E, O), 0.5), H2);
	return cx_add(c, cx_add(c, Y1, Y2),
	              cx_i(c, cx_mul(c, cx_conj(c, w), cx_sub(c, Y1, Y2))));
}

/* rows4's trips between work and shared memory: the pair's two rows of
 * N1 values for the block's TC_ROWS work rows (load), or back, twiddled
 * by W_M^-(m1 k2) (the second row only where it is not the first). */
static void rows_move(CgContext *c, const F4 *f, const Blk *b,
                      LLVMValueRef sh, LLVMValueRef work, LLVMValueRef ka,
                      LLVMValueRef kb, LLVMValueRef self, bool load)
{
	int64_t per = NV_THREADS / TC_ROWS;
	int64_t trip = (2 * f->N1 + per - 1) / per;
	Loop lp;
	int nb;
	LLVMValueRef it = batch_open(c, &lp, trip, UN, &nb, load ? "ld" : "st");
	LLVMValueRef sa[UN], wa[UN], ok[UN];
	Cx x[UN];
	for (int u = 0; u < nb; u++) {
		LLVMValueRef e = at_round(c, it, u, per, b->sub);
		ok[u] = fit(c, &e, trip, per, 2 * f->N1);
		LLVMValueRef row = shr(c, e, f->N1), m1 = low(c, e, f->N1);
		LLVMValueRef first = LLVMBuildICmp(c->b, LLVMIntEQ, row,
		                                   i64c(c, 0), "");
		LLVMValueRef k2 = pick(c, first, ka, kb);
		sa[u] = sh_at(c, &f->row,
		              add(c, mul(c, row, i64c(c, TC_ROWS)), b->ch), m1);
		if (load) {
			x[u] = cx_ld(c, work, work_at(c, f, b, k2, m1, b->rr));
			continue;
		}
		wa[u] = work_at(c, f, b, k2, m1, b->r);
		x[u] = cx_mul(c, cx_ld(c, sh, sa[u]),
		              tw_m(c, f, mul(c, m1, k2), true));
		ok[u] = both(c, ok[u],
		             LLVMBuildAnd(c->b, b->rok,
		                          LLVMBuildOr(c->b,
		                                      LLVMBuildNot(c->b, self, ""),
		                                      first, ""),
		                          ""));
	}
	for (int u = 0; u < nb; u++) {
		LLVMBasicBlockRef bj = if_open(c, ok[u]);
		if (load)
			cx_st(c, sh, sa[u], x[u]);
		else
			cx_st(c, work, wa[u], x[u]);
		if_close(c, bj);
	}
	cg_loop_close(c, &lp);
}

static void k_rows(CgContext *c, const Node *n, const F4 *f0)
{
	int64_t np = f0->N2 / 2 + 1;
	F4 fk;
	Blk b;
	int k;
	LLVMValueRef sh = k_open(c, n, "rows4", f0, &fk, true, 2 * TC_ROWS, -np,
	                         TC_ROWS, &b, &k);
	const F4 *f = &fk;
	LLVMValueRef work = nv_param(c, P_WORK), spec = nv_param(c, P_SPEC);
	LLVMValueRef q = b.m1;
	LLVMValueRef q0 = LLVMBuildICmp(c->b, LLVMIntEQ, q, i64c(c, 0), "");
	LLVMValueRef ka = q, kb = pick(c, q0, q, sub(c, i64c(c, f->N2), q));
	LLVMValueRef self = LLVMBuildOr(
	    c->b, q0, LLVMBuildICmp(c->b, LLVMIntEQ, q, i64c(c, f->N2 / 2), ""),
	    "");

	rows_move(c, f, &b, sh, work, ka, kb, self, true);
	nv_barrier(c);
	sh_fft(c, f, &f->row, sh, 2 * TC_ROWS, false);

	/* the product, a pair of bins a task: k = N2 k1 + ka in the first
	 * row, its partner M - k at k1p in the second (for a pair that is
	 * one row, the second is a copy, and both end the same) */
	int64_t per = NV_THREADS / TC_ROWS;
	int64_t trip = (f->N1 + per - 1) / per;
	enum { UP = 4 };
	LLVMValueRef N1 = i64c(c, f->N1);
	LLVMValueRef hrow = mul(c, b.j, i64c(c, f->n + 2));
	Cx Hm = cx_ld(c, spec, add(c, hrow, i64c(c, 2 * f->M)));
	Cx wa = tw(c, f, f->tb, ka), wb = tw(c, f, f->tb, kb);
	Loop lp;
	int nb;
	LLVMValueRef it = batch_open(c, &lp, trip, UP, &nb, "pr");
	LLVMValueRef sa[UP], sb[UP], ok[UP], k1[UP];
	Cx A[UP], Bz[UP], Hk[UP], Hp[UP], tk[UP], tp[UP];
	for (int u = 0; u < nb; u++) {
		LLVMValueRef kk = at_round(c, it, u, per, b.sub);
		ok[u] = fit(c, &kk, trip, per, f->N1);
		k1[u] = kk;
		LLVMValueRef k1p = pick(c, q0, low(c, sub(c, N1, kk), f->N1),
		                        sub(c, sub(c, N1, kk), i64c(c, 1)));
		sa[u] = sh_at(c, &f->row, b.ch, kk);
		sb[u] = sh_at(c, &f->row, add(c, b.ch, i64c(c, TC_ROWS)), k1p);
		A[u] = cx_ld(c, sh, sa[u]);
		Bz[u] = cx_ld(c, sh, sb[u]);
		Hk[u] = cx_ld(c, spec, add(c, hrow, mul(c, add(c, mul(c, ka, N1), kk),
		                                        i64c(c, 2))));
		Hp[u] = cx_ld(c, spec, add(c, hrow, mul(c, add(c, mul(c, kb, N1),
		                                                k1p),
		                                        i64c(c, 2))));
		tk[u] = tw(c, f, f->ta, kk);
		tp[u] = tw(c, f, f->ta, k1p);
	}
	for (int u = 0; u < nb; u++) {
		LLVMValueRef kz = LLVMBuildAnd(
		    c->b, q0, LLVMBuildICmp(c->b, LLVMIntEQ, k1[u], i64c(c, 0), ""),
		    "");
		Cx cHp = cx_conj(c, Hp[u]), cHk = cx_conj(c, Hk[u]);
		Cx H2 = {pick(c, kz, Hm.re, cHp.re), pick(c, kz, Hm.im, cHp.im)};
		Cx H2p = {pick(c, kz, Hm.re, cHk.re), pick(c, kz, Hm.im, cHk.im)};
		Cx Zk = fold(c, A[u], cx_conj(c, Bz[u]), cx_mul(c, tk[u], wa),
		             Hk[u], H2);
		Cx Zp = fold(c, Bz[u], cx_conj(c, A[u]), cx_mul(c, tp[u], wb),
		             Hp[u], H2p);
		LLVMBasicBlockRef bj = if_open(c, ok[u]);
		cx_st(c, sh, sa[u], Zk);
		cx_st(c, sh, sb[u], Zp);
		if_close(c, bj);
	}
	cg_loop_close(c, &lp);
	nv_barrier(c);

	sh_fft(c, f, &f->row, sh, 2 * TC_ROWS, true);
	rows_move(c, f, &b, sh, work, ka, kb, self, false);
	nv_end(c);
	launch4(c, k, np, TC_ROWS, f->n);
}

static void k_icols(CgContext *c, const Node *n, const NvConv *cv,
                    const F4 *f0)
{
	F4 fk;
	Blk b;
	int k;
	LLVMValueRef sh = k_open(c, n, "icols4", f0, &fk, false, TC_COLS,
	                         f0->N1, TC_COLS, &b, &k);
	const F4 *f = &fk;
	LLVMValueRef work = nv_param(c, P_WORK), out = nv_addr(c, n);
	LLVMValueRef post = cv->post ? nv_addr(c, cv->post) : NULL;

	int64_t per = NV_THREADS / TC_COLS;
	int64_t trip = (f->N2 + per - 1) / per;
	Loop lp;
	int nb;
	LLVMValueRef it = batch_open(c, &lp, trip, UN, &nb, "in");
	LLVMValueRef ok[UN], at[UN];
	Cx x[UN];
	for (int u = 0; u < nb; u++) {
		LLVMValueRef k2 = at_round(c, it, u, per, b.sub);
		ok[u] = fit(c, &k2, trip, per, f->N2);
		at[u] = sh_at(c, &f->col, b.ch, k2);
		x[u] = cx_ld(c, work, work_at(c, f, &b, k2, b.m1, b.rr));
	}
	for (int u = 0; u < nb; u++) {
		LLVMBasicBlockRef bj = if_open(c, ok[u]);
		cx_st(c, sh, at[u], x[u]);
		if_close(c, bj);
	}
	cg_loop_close(c, &lp);
	nv_barrier(c);
	sh_fft(c, f, &f->col, sh, TC_COLS, true);

	/* y out at positions t = 2 (m1 + N1 m2) + par < L <= n / 2, so m2
	 * below N2 / 2 */
	per = NV_THREADS / (2 * TC_COLS);
	trip = (f->N2 / 2 + per - 1) / per;
	LLVMValueRef par = low(c, b.sub, 2), y[UN], oa[UN];
	it = batch_open(c, &lp, trip, UN, &nb, "out");
	for (int u = 0; u < nb; u++) {
		LLVMValueRef t, m2 = col_pos(c, f, &b, it, u, &t);
		ok[u] = LLVMBuildAnd(c->b, b.rok, lt(c, t, c->L), "");
		fit(c, &m2, trip, per, f->N2);
		LLVMValueRef r = add(c, b.bl, safe(c, ok[u], t));
		y[u] = ld(c, sh, add(c, sh_at(c, &f->col, b.ch, m2), par));
		if (post)
			y[u] = f_mul(c, y[u],
			             ld(c, post, add(c, add(c, mul(c, r, i64c(c, cv->Cp)),
			                                    i64c(c, cv->poff)),
			                             b.chn)));
		oa[u] = add(c, mul(c, r, i64c(c, cv->D)), b.chn);
	}
	for (int u = 0; u < nb; u++) {
		LLVMBasicBlockRef bj = if_open(c, ok[u]);
		st(c, out, oa[u], y[u]);
		if_close(c, bj);
	}
	cg_loop_close(c, &lp);
	nv_end(c);
	launch4(c, k, f->N1, TC_COLS, f->n);
}

/* The filter spectra (cnt rows of cuFFT's R2C in spec) reordered, each
 * row in place of itself, value k2 N1 + k1 the bin N2 k1 + k2 and the
 * Nyquist bin M last, through work (spec4), then copied back to spec
 * (keep4). A thread a complex value. */
static void k_spec(CgContext *c, const Node *n, const F4 *f, bool back)
{
	int k = nv_begin_node(c, n, back ? "keep4" : "spec4");
	LLVMValueRef cnt = nv_param(c, P_CNT);
	LLVMValueRef i = add(c, mul(c, nv_bid(c), i64c(c, NV_THREADS)),
	                     nv_tid(c));
	nv_return_unless(c, lt(c, i, mul(c, i64c(c, f->M + 1), cnt)));
	LLVMValueRef work = nv_param(c, P_WORK), spec = nv_param(c, P_SPEC);
	if (back) {
		cx_st(c, spec, add(c, i, i), cx_ld(c, work, add(c, i, i)));
	} else {
		/* row j's value idx = k2 N1 + k1 is bin N2 k1 + k2 (idx M:
		 * the Nyquist bin, M) */
		LLVMValueRef j = LLVMBuildUDiv(c->b, i, i64c(c, f->M + 1), "");
		LLVMValueRef x = LLVMBuildURem(c->b, i, i64c(c, f->M + 1), "");
		LLVMValueRef kk = add(c, mul(c, low(c, x, f->N1), i64c(c, f->N2)),
		                      shr(c, x, f->N1));
		kk = pick(c, lt(c, x, i64c(c, f->M)), kk, i64c(c, f->M));
		LLVMValueRef from = add(c, mul(c, j, i64c(c, f->n + 2)), add(c, kk, kk));
		cx_st(c, work, add(c, i, i), cx_ld(c, spec, from));
	}
	nv_end(c);
	HygpuStep *s = nv_launch(c, k, NV_THREADS);
	s->grid[3] = f->M + 1;
	s->grid_div = NV_THREADS;
	s->flags = HYGPU_FILTER;
	s->only_n = f->n;
}

void nv_fft4_spectra(CgContext *c, const Node *n, int64_t len)
{
	F4 f;
	f4_init(&f, len);
	k_spec(c, n, &f, false);
	k_spec(c, n, &f, true);
}

void nv_fft4_conv(CgContext *c, const Node *n, const NvConv *cv, int64_t len)
{
	F4 f;
	f4_init(&f, len);
	k_tw(c, n, &f);
	k_cols(c, n, cv, &f);
	k_rows(c, n, &f);
	k_icols(c, n, cv, &f);
}
