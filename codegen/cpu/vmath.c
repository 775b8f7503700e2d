/*
 * vmath.c - vector math: the transcendentals of the hot loops (exp, sin,
 * both GELUs) emitted inline in float as arithmetic and selects with no
 * calls, so that those loops vectorise; and the unary ops and fused
 * activations built from them. Only pos_emb, L * bands values per
 * forward, calls libm's double sin and cos (rows.c).
 */
#include "cpu.h"

#include <math.h>

/*
 * expf, sinf, the tanh GELU and the erf GELU as straight-line float IR:
 * arithmetic, bitcasts, integer ops and selects, no calls, so a loop that
 * uses them vectorises like any other elementwise loop. Each takes and
 * returns one f32 value.
 *
 * Rounding to an integer is the shifter trick: x + 1.5 * 2^23 lands in
 * [2^23, 2^24), where the ulp is 1, so the sum is round(x) + 1.5 * 2^23
 * and its low mantissa bits are round(x) in two's complement. It holds
 * for |x| < 2^22, which the callers ensure. Arguments are reduced by
 * Cody-Waite: the constant is split so that n * c_hi is exact and the
 * low parts carry the rest. Products go through llvm.fmuladd, fused
 * where the target has FMA; the error bounds in tests/test_codegen.c are
 * measured with FMA, and the splits keep the reductions exact without it
 * for the arguments the model makes (|sin argument| < ~3000).
 *
 * Clamps are fcmp + select with the comparison false on NaN, so NaN
 * passes through every function.
 */

static LLVMValueRef horner(CgContext *c, LLVMValueRef x, const double *k,
                           int n)
{
	LLVMValueRef p = f32c(c, k[0]);
	for (int i = 1; i < n; i++)
		p = f_fma(c, p, x, f32c(c, k[i]));
	return p;
}

static LLVMValueRef to_bits(CgContext *c, LLVMValueRef x)
{
	return LLVMBuildBitCast(c->b, x, c->t_i32, "");
}

static LLVMValueRef from_bits(CgContext *c, LLVMValueRef i)
{
	return LLVMBuildBitCast(c->b, i, c->t_f32, "");
}

/* min(x, hi) and max(x, lo) that keep NaN. */
static LLVMValueRef clamp_hi(CgContext *c, LLVMValueRef x, double hi)
{
	LLVMValueRef h = f32c(c, hi);
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, x, h, ""),
	                       h, x, "");
}

static LLVMValueRef clamp_lo(CgContext *c, LLVMValueRef x, double lo)
{
	LLVMValueRef l = f32c(c, lo);
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, x, l, ""),
	                       l, x, "");
}

/* 1.5 * 2^23: see the shifter trick above. */
#define SHIFTER 12582912.0

/* round(x * s) as a float (*n) and as an i32 (the return value). */
static LLVMValueRef round_scaled(CgContext *c, LLVMValueRef x, double s,
                                 LLVMValueRef *n)
{
	LLVMValueRef t = f_fma(c, x, f32c(c, s), f32c(c, SHIFTER));
	*n = f_sub(c, t, f32c(c, SHIFTER));
	return LLVMBuildSub(c->b, to_bits(c, t), to_bits(c, f32c(c, SHIFTER)),
	                    "");
}

/* 2^k as a float, for k in [-126, 127]. */
static LLVMValueRef pow2i(CgContext *c, LLVMValueRef k)
{
	return from_bits(c, LLVMBuildShl(c->b, LLVMBuildAdd(c->b, k,
	                                                    i32c(c, 127), ""),
	                                 i32c(c, 23), ""));
}

/*
 * e^x: x = k ln2 + r with |r| <= ln2/2, e^r by Cephes' expf polynomial
 * (1 + r + r^2 P(r), P of degree 5), then times 2^k. The clamp to
 * [-104, 89] keeps k in [-150, 129] and still overflows to +inf above
 * ln(FLT_MAX) = 88.72 and underflows to 0 below -103.97; 2^k is applied
 * as two factors 2^(k/2) so that each is a normal float and the last
 * product rounds into the denormals or to inf as IEEE arithmetic does.
 * Measured: 1 ulp over the whole range.
 */
LLVMValueRef cg_vm_exp(CgContext *c, LLVMValueRef x)
{
	static const double P[] = {1.9875691500e-4, 1.3981999507e-3,
	                           8.3334519073e-3, 4.1665795894e-2,
	                           1.6666665459e-1, 5.0000001201e-1};
	LLVMValueRef n, k, r, p, k1, k2;

	x = clamp_lo(c, clamp_hi(c, x, 89.0), -104.0);
	k = round_scaled(c, x, 1.44269504088896341, &n);
	n = LLVMBuildFNeg(c->b, n, "");
	r = f_fma(c, n, f32c(c, 0.693145751953125), x);      /* 16 bits */
	r = f_fma(c, n, f32c(c, 1.428606765330187e-06), r);  /* the rest */
	p = horner(c, r, P, 6);
	p = f_add(c, f_fma(c, p, f_mul(c, r, r), r), f32c(c, 1.0));
	k1 = LLVMBuildAShr(c->b, k, i32c(c, 1), "");
	k2 = LLVMBuildSub(c->b, k, k1, "");
	return f_mul(c, f_mul(c, p, pow2i(c, k1)), pow2i(c, k2));
}

/*
 * sin x: x = j pi/2 + r with |r| <= pi/4, pi/2 in four parts (8 + 13 +
 * 24 + 24 bits: j C1 is exact for |j| < 2^16, j C2 for |j| < 2^11), then
 * Cephes' sinf and cosf polynomials on r, chosen by j mod 4: sin r, cos r,
 * -sin r, -cos r. Measured 1.6 ulp for |x| <= 1e5 with FMA; beyond 2^22
 * pi/2 the rounding fails and the result means nothing. inf gives
 * inf - inf = NaN.
 */
static LLVMValueRef vm_sin(CgContext *c, LLVMValueRef x)
{
	static const double S[] = {-1.9515295891e-4, 8.3321608736e-3,
	                           -1.6666654611e-1};
	static const double C[] = {2.443315711809948e-5, -1.388731625493765e-3,
	                           4.166664568298827e-2};
	static const double PIO2[] = {1.5703125, 4.837512969970703125e-4,
	                              7.549790126404332e-08,
	                              -1.7151245100058819e-15};
	LLVMValueRef n, q, r = x, z, s, co, v, neg;

	q = round_scaled(c, x, 0.636619772367581343, &n);
	n = LLVMBuildFNeg(c->b, n, "");
	for (int i = 0; i < 4; i++)
		r = f_fma(c, n, f32c(c, PIO2[i]), r);
	z = f_mul(c, r, r);
	s = f_fma(c, horner(c, z, S, 3), f_mul(c, z, r), r);
	co = f_fma(c, horner(c, z, C, 3), f_mul(c, z, z),
	           f_fma(c, z, f32c(c, -0.5), f32c(c, 1.0)));
	v = LLVMBuildSelect(
	    c->b,
	    LLVMBuildICmp(c->b, LLVMIntNE,
	                  LLVMBuildAnd(c->b, q, i32c(c, 1), ""), i32c(c, 0), ""),
	    co, s, "");
	/* quadrants 2 and 3: bit 1 of j moved to the sign bit */
	neg = LLVMBuildShl(c->b, LLVMBuildAnd(c->b, q, i32c(c, 2), ""),
	                   i32c(c, 30), "");
	v = from_bits(c, LLVMBuildXor(c->b, to_bits(c, v), neg, ""));
	/* r + p r^3 is +0 at r = -0 whatever the order; sin -0 is -0 */
	return LLVMBuildSelect(
	    c->b, LLVMBuildFCmp(c->b, LLVMRealOEQ, x, f32c(c, 0.0), ""), x, v,
	    "");
}

/* Below this both GELUs are -0 in float; selecting it there also turns
 * -inf into -0 where the formulas would make -inf * 0 or -inf / inf. */
#define GELU_ZERO_BELOW -20.0

static LLVMValueRef gelu_tail(CgContext *c, LLVMValueRef x, LLVMValueRef g)
{
	return LLVMBuildSelect(
	    c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, x, f32c(c, GELU_ZERO_BELOW),
	                        ""),
	    f32c(c, -0.0), g, "");
}

/* a / b: IEEE division, or on the GPU (c->mufu) div.approx.f32, a times
 * the special-function unit's reciprocal (2 ulp for |b| in [2^-126,
 * 2^126], 0 beyond: the GELUs' limits there are 0 too). The IEEE
 * division is a dozen instructions with a slow path; in fc1's epilogue
 * the GELU's share of small-32k 8x32768 on the H200 was 1.7 of 36.5 ms
 * (measured by leaving the activation out). */
static LLVMValueRef gelu_div(CgContext *c, LLVMValueRef a, LLVMValueRef b)
{
	LLVMValueRef ab[] = {a, b};

	if (c->mufu)
		return cg_intrinsic(c, "llvm.nvvm.div.approx.f", ab, 2);
	return LLVMBuildFDiv(c->b, a, b, "");
}

/* The tanh GELU's argument y = GELU_K (x + GELU_C x^3). */
#define GELU_K 0.7978845608028654 /* sqrt(2 / pi) */
#define GELU_C 0.044715

/*
 * 0.5 x (1 + tanh(y)), y = sqrt(2/pi) (x + 0.044715 x^3), as
 * x / (1 + e^(-2y)): the same function, with no cancellation in 1 + tanh
 * for negative x, and x itself for large positive x where e^(-2y) is 0.
 * On the GPU, e^(-2y) is ex2.approx.f32 of -2y log2(e) (2 ulp; the
 * product's rounding adds about 3e-7 relative where e^(-2y) is near 1,
 * where it matters): one special-function instruction for cg_vm_exp's
 * reduction, polynomial and scaling.
 */
static LLVMValueRef vm_gelu_tanh(CgContext *c, LLVMValueRef x)
{
	LLVMValueRef x3 = f_mul(c, f_mul(c, x, x), x);
	LLVMValueRef y = f_mul(c, f32c(c, GELU_K),
	                       f_add(c, x, f_mul(c, f32c(c, GELU_C), x3)));
	LLVMValueRef e;

	if (c->mufu) {
		LLVMValueRef z = f_mul(c, y, f32c(c, -2.0 * M_LOG2E));
		e = cg_intrinsic(c, "llvm.nvvm.ex2.approx.f", &z, 1);
	} else {
		e = cg_vm_exp(c, f_mul(c, y, f32c(c, -2.0)));
	}
	return gelu_tail(c, x, gelu_div(c, x, f_add(c, f32c(c, 1.0), e)));
}

LLVMValueRef cg_gelu_tanh_sfu(CgContext *c, LLVMValueRef x)
{
	static const char text[] = "tanh.approx.f32 $0, $1;", cons[] = "=f,f";
	LLVMTypeRef fty = LLVMFunctionType(c->t_f32, &c->t_f32, 1, 0);
	LLVMValueRef y = f_mul(c, f32c(c, GELU_K),
	                       f_fma(c, f_mul(c, f_mul(c, x, x), x),
	                             f32c(c, GELU_C), x));
	LLVMValueRef h = f_mul(c, x, f32c(c, 0.5));
	LLVMValueRef t = LLVMBuildCall2(
	    c->b, fty,
	    LLVMGetInlineAsm(fty, text, sizeof text - 1, cons, sizeof cons - 1, 0,
	                     0, LLVMInlineAsmDialectATT, 0),
	    &y, 1, "");

	HY_ASSERT(c->mufu);
	return gelu_tail(c, x, f_fma(c, h, t, h));
}

/*
 * erf u for |u| <= 4 (erf is +-1 in float beyond) as u P(u^2) / Q(u^2),
 * the rational approximation of Eigen and XLA (P of degree 6, Q of 4).
 * Measured 7.5 ulp (4.5e-7 absolute) near u = 3.9, 2 ulp below u = 2.
 */
static LLVMValueRef vm_erf(CgContext *c, LLVMValueRef u)
{
	static const double P[] = {-2.72614225801306e-10, 2.77068142495902e-08,
	                           -2.10102402082508e-06, -5.69250639462346e-05,
	                           -7.34990630326855e-04, -2.95459980854025e-03,
	                           -1.60960333262415e-02};
	static const double Q[] = {-1.45660718464996e-05, -2.13374055278905e-04,
	                           -1.68282697438203e-03, -7.37332916720468e-03,
	                           -1.42647390514189e-02};

	u = clamp_lo(c, clamp_hi(c, u, 4.0), -4.0);
	LLVMValueRef u2 = f_mul(c, u, u);
	/* u (P / Q), not (u P) / Q, which loses bits for denormal u */
	return f_mul(c, u, gelu_div(c, horner(c, u2, P, 7), horner(c, u2, Q, 5)));
}

/* 0.5 x (1 + erf(x / sqrt 2)). */
static LLVMValueRef vm_gelu_erf(CgContext *c, LLVMValueRef x)
{
	LLVMValueRef e = vm_erf(c, f_mul(c, x, f32c(c, M_SQRT1_2)));
	return gelu_tail(c, x, f_mul(c, f_mul(c, f32c(c, 0.5), x),
	                             f_add(c, f32c(c, 1.0), e)));
}

LLVMValueRef cg_unary(CgContext *c, OpKind op, LLVMValueRef x)
{
	switch (op) {
	case OP_SIN:
		return vm_sin(c, x);
	case OP_GELU_TANH:
		return vm_gelu_tanh(c, x);
	case OP_GELU:
		return vm_gelu_erf(c, x);
	case OP_RELU:
		return LLVMBuildSelect(
		    c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, x, f32c(c, 0), ""), x,
		    f32c(c, 0), "");
	default:
		hy_die("not a unary op: %s", ir_op_info(op)->name);
	}
}

LLVMValueRef cg_act_value(CgContext *c, FpAct a, LLVMValueRef x)
{
	static const OpKind op[] = {[FP_ACT_GELU_TANH] = OP_GELU_TANH,
	                            [FP_ACT_GELU] = OP_GELU,
	                            [FP_ACT_RELU] = OP_RELU};
	_Static_assert(sizeof op / sizeof op[0] == FP_ACT_COUNT, "FpAct");
	return a == FP_ACT_NONE ? x : cg_unary(c, op[a], x);
}
