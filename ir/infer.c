/*
 * infer.c - shape inference: give each node its result TensorType from its
 * sources' types and its attributes, following the op semantics in ops.def.
 *
 * Dims are concrete (>= 0) or the symbols DIM_B / DIM_L. Two dims agree only
 * when they are the same value: L never matches 128, B never matches L, so
 * every check made here holds for every binding. A check that needs a bound
 * value (a concrete slice of a symbolic dim) is left to run time; a slice
 * of len L from a concrete dim must fit Graph.max_len, the longest L.
 *
 * Errors are user errors (a checkpoint or a text file that does not fit
 * together) and go through the Diag as "node %name (op): problem". A node
 * whose arity breaks ops.def is a builder bug and hits HY_ASSERT; ir_verify
 * and the parser check arity before calling in here.
 *
 * ir_infer writes only n->type; ir_verify relies on that to recompute a
 * type on a copy of a node.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

typedef struct Ctx {
	const Node *n;
	Diag *d;
} Ctx;

/* Report "node %name (op): ..." and return false. */
static bool fail(Ctx *c, const char *fmt, ...) HY_PRINTF(2, 3);

static bool fail(Ctx *c, const char *fmt, ...)
{
	char what[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	diag_error(c->d, "node %%%s (%s): %s", c->n->name,
	           ir_op_info(c->n->op)->name, what);
	return false;
}

static bool dim_ok(int64_t v)
{
	return v >= 0 || v == DIM_B || v == DIM_L;
}

/* A type that ir_type_str can print and the rest of hyenac can trust. */
static bool type_ok(const TensorType *t)
{
	if ((int)t->dtype < 0 || t->dtype >= DT_COUNT)
		return false;
	if (t->rank < 0 || t->rank > IR_MAX_RANK)
		return false;
	for (int i = 0; i < t->rank; i++)
		if (!dim_ok(t->dim[i]))
			return false;
	return true;
}

static const char *dimstr(int64_t v, char *buf, size_t n)
{
	if (v == DIM_B)
		snprintf(buf, n, "B");
	else if (v == DIM_L)
		snprintf(buf, n, "L");
	else
		snprintf(buf, n, "%lld", (long long)v);
	return buf;
}

static int64_t last_dim(const TensorType *t)
{
	return t->dim[t->rank - 1];
}

/* Ranks for want(): exact when >= 0, else one of these. */
enum { RANK_ANY = -1, RANK_GE1 = -2 };

/* Check operand i's dtype and rank; `what` names it in the message. */
static bool want(Ctx *c, int i, const char *what, DType dt, int rank)
{
	const TensorType *t = &c->n->src[i]->type;
	char buf[96];

	if (t->dtype != dt)
		return fail(c, "%s %%%s must be %s, not %s", what,
		            c->n->src[i]->name, ir_dtype_name(dt),
		            ir_type_str(t, buf, sizeof buf));
	if (rank >= 0 && t->rank != rank)
		return fail(c, "%s %%%s must have rank %d, not %s", what,
		            c->n->src[i]->name, rank,
		            ir_type_str(t, buf, sizeof buf));
	if (rank == RANK_GE1 && t->rank < 1)
		return fail(c, "%s %%%s must have rank >= 1, not %s", what,
		            c->n->src[i]->name,
		            ir_type_str(t, buf, sizeof buf));
	return true;
}

/* Check that dim `ad` of operand a equals dim `bd` of operand b. */
static bool same_dim(Ctx *c, int a, int ad, int b, int bd, const char *what)
{
	const TensorType *ta = &c->n->src[a]->type, *tb = &c->n->src[b]->type;
	char sa[96], sb[96];

	if (ta->dim[ad] == tb->dim[bd])
		return true;
	return fail(c, "%s mismatch: %%%s is %s, %%%s is %s", what,
	            c->n->src[a]->name, ir_type_str(ta, sa, sizeof sa),
	            c->n->src[b]->name, ir_type_str(tb, sb, sizeof sb));
}

static bool infer_leaf(Ctx *c, TensorType *out)
{
	const Node *n = c->n;

	if (!type_ok(&n->type))
		return fail(c, "type is not set or invalid");
	if (n->op == OP_WEIGHT) {
		if (n->type.dtype != DT_F32)
			return fail(c, "weights must be f32");
		for (int i = 0; i < n->type.rank; i++)
			if (n->type.dim[i] < 0)
				return fail(c, "weight dims must be concrete");
	}
	*out = n->type;
	return true;
}

static bool infer_pos_emb(Ctx *c, TensorType *out)
{
	int64_t lmax = c->n->iattr[0], dim = c->n->iattr[1];

	if (lmax <= 0)
		return fail(c, "lmax must be > 0, not %lld", (long long)lmax);
	if (dim < 3 || dim % 2 == 0)
		return fail(c, "dim must be odd and >= 3, not %lld",
		            (long long)dim);
	*out = (TensorType){DT_F32, 2, {DIM_L, dim}};
	return true;
}

static bool infer_embed(Ctx *c, TensorType *out)
{
	const TensorType *tab = &c->n->src[0]->type, *tok = &c->n->src[1]->type;

	if (!want(c, 0, "table", DT_F32, 2) || !want(c, 1, "tokens", DT_I32, 2))
		return false;
	*out = (TensorType){DT_F32, 3, {tok->dim[0], tok->dim[1], tab->dim[1]}};
	return true;
}

static bool infer_layernorm(Ctx *c, TensorType *out)
{
	const TensorType *x = &c->n->src[0]->type;
	double eps = c->n->fattr[0];
	char buf[32];

	if (!want(c, 0, "input", DT_F32, RANK_GE1) ||
	    !want(c, 1, "gamma", DT_F32, 1) || !want(c, 2, "beta", DT_F32, 1))
		return false;
	if (last_dim(x) < 0)
		return fail(c, "normalised dim %s must be concrete",
		            dimstr(last_dim(x), buf, sizeof buf));
	if (!same_dim(c, 0, x->rank - 1, 1, 0, "gamma size") ||
	    !same_dim(c, 0, x->rank - 1, 2, 0, "beta size"))
		return false;
	if (!(eps > 0) || !isfinite(eps))
		return fail(c, "eps must be finite and > 0, not %g", eps);
	*out = *x;
	return true;
}

static bool infer_linear(Ctx *c, TensorType *out)
{
	const TensorType *x = &c->n->src[0]->type, *w = &c->n->src[1]->type;

	if (!want(c, 0, "input", DT_F32, RANK_GE1) ||
	    !want(c, 1, "weight", DT_F32, 2))
		return false;
	if (!same_dim(c, 0, x->rank - 1, 1, 1, "K"))
		return false;
	if (c->n->nsrc == 3 && (!want(c, 2, "bias", DT_F32, 1) ||
	                        !same_dim(c, 1, 0, 2, 0, "bias size")))
		return false;
	*out = *x;
	out->dim[out->rank - 1] = w->dim[0];
	return true;
}

static bool infer_dwconv(Ctx *c, TensorType *out)
{
	const TensorType *w = &c->n->src[1]->type;
	char buf[32];

	if (!want(c, 0, "input", DT_F32, 3) || !want(c, 1, "filter", DT_F32, 2))
		return false;
	if (!same_dim(c, 0, 2, 1, 0, "channel"))
		return false;
	if (w->dim[1] < 1)
		return fail(c, "filter length must be concrete and >= 1, "
		            "not %s",
		            dimstr(w->dim[1], buf, sizeof buf));
	if (c->n->nsrc == 3 && (!want(c, 2, "bias", DT_F32, 1) ||
	                        !same_dim(c, 0, 2, 2, 0, "bias size")))
		return false;
	*out = c->n->src[0]->type;
	return true;
}

static bool infer_longconv(Ctx *c, TensorType *out)
{
	int64_t method = c->n->iattr[0];

	if (method < 0 || method >= CONV_METHOD_COUNT)
		return fail(c, "method must be 0, 1 or 2, not %lld",
		            (long long)method);
	if (!want(c, 0, "input", DT_F32, 3) || !want(c, 1, "filter", DT_F32, 2))
		return false;
	if (!same_dim(c, 0, 1, 1, 0, "filter length") ||
	    !same_dim(c, 0, 2, 1, 1, "channel"))
		return false;
	*out = c->n->src[0]->type;
	return true;
}

static bool infer_slice(Ctx *c, int64_t max_len, TensorType *out)
{
	const TensorType *x = &c->n->src[0]->type;
	int64_t axis = c->n->iattr[0], start = c->n->iattr[1];
	int64_t len = c->n->iattr[2], dim;
	int64_t ml = max_len > 0 ? max_len : 0; /* unbounded: check start */
	char sb[32], lb[32], xb[96];

	if (axis < 0 || axis >= x->rank)
		return fail(c, "axis %lld out of range for %s", (long long)axis,
		            ir_type_str(x, xb, sizeof xb));
	dim = x->dim[axis];
	if (start < 0)
		return fail(c, "start must be >= 0, not %lld",
		            (long long)start);
	if (len < 0 && len != DIM_L)
		return fail(c, "len must be >= 0 or L, not %s",
		            dimstr(len, lb, sizeof lb));
	if (len >= 0 && dim >= 0 && start > dim - len)
		return fail(c, "start %lld + len %lld exceeds dim %lld of %s",
		            (long long)start, (long long)len, (long long)dim,
		            ir_type_str(x, xb, sizeof xb));
	/* L elements fit in L only from 0, never in B, and in a concrete
	 * dim only if the longest L the graph allows does. */
	if (len == DIM_L && (dim == DIM_B || (dim == DIM_L && start != 0) ||
	                     (dim >= 0 && start > dim - ml)))
		return fail(c, "len L (max_len %lld) from start %lld does not "
		            "fit dim %s", (long long)ml, (long long)start,
		            dimstr(dim, sb, sizeof sb));
	*out = *x;
	out->dim[axis] = len;
	return true;
}

/* numpy broadcasting, aligned on the last axis. */
static bool infer_binary(Ctx *c, TensorType *out)
{
	const TensorType *a = &c->n->src[0]->type, *b = &c->n->src[1]->type;
	const TensorType *big = a->rank >= b->rank ? a : b;
	char sa[96], sb[96];

	if (!want(c, 0, "lhs", DT_F32, RANK_ANY) ||
	    !want(c, 1, "rhs", DT_F32, RANK_ANY))
		return false;
	*out = *big;
	for (int i = 1; i <= a->rank && i <= b->rank; i++) {
		int64_t da = a->dim[a->rank - i], db = b->dim[b->rank - i];
		if (da == db || db == 1)
			out->dim[out->rank - i] = da;
		else if (da == 1)
			out->dim[out->rank - i] = db;
		else
			return fail(c, "cannot broadcast %s with %s",
			            ir_type_str(a, sa, sizeof sa),
			            ir_type_str(b, sb, sizeof sb));
	}
	return true;
}

static bool infer_unary(Ctx *c, TensorType *out)
{
	if (!want(c, 0, "input", DT_F32, RANK_ANY))
		return false;
	*out = c->n->src[0]->type;
	return true;
}

static bool infer_expmod(Ctx *c, TensorType *out)
{
	const TensorType *t = &c->n->src[1]->type;
	double shift = c->n->fattr[0];
	char buf[96];

	if (!want(c, 0, "filter", DT_F32, 2) || !want(c, 1, "t", DT_F32, 2) ||
	    !want(c, 2, "deltas", DT_F32, 1))
		return false;
	if (!same_dim(c, 0, 0, 1, 0, "position"))
		return false;
	if (t->dim[1] != 1)
		return fail(c, "t %%%s must be [X,1], not %s",
		            c->n->src[1]->name,
		            ir_type_str(t, buf, sizeof buf));
	if (!same_dim(c, 0, 1, 2, 0, "channel"))
		return false;
	if (!isfinite(shift))
		return fail(c, "shift must be finite");
	*out = c->n->src[0]->type;
	return true;
}

/* A 0/1 flag attribute. */
static bool flag_ok(Ctx *c, int slot, const char *name)
{
	int64_t v = c->n->iattr[slot];
	if (v == 0 || v == 1)
		return true;
	return fail(c, "%s must be 0 or 1, not %lld", name, (long long)v);
}

/* A fused op's activation code, and its operand count against the one
 * its attributes imply. */
static bool act_and_arity_ok(Ctx *c, int64_t act, int nsrc)
{
	if (act < 0 || act >= FP_ACT_COUNT)
		return fail(c, "act must be 0 to %d, not %lld", FP_ACT_COUNT - 1,
		            (long long)act);
	if (c->n->nsrc != nsrc)
		return fail(c, "%d operands, but its attributes name %d",
		            c->n->nsrc, nsrc);
	return true;
}

/* The layernorm prologue of a fused op: gamma and beta at slots g and b
 * (-1 when there is none) over x's last dim, and eps in fattr[0]. */
static bool ln_prologue_ok(Ctx *c, int xi, int g, int b)
{
	const TensorType *x = &c->n->src[xi]->type;
	double eps = c->n->fattr[0];

	if (g < 0) {
		if (eps != 0)
			return fail(c, "eps without ln");
		return true;
	}
	if (last_dim(x) < 0)
		return fail(c, "normalised dim must be concrete");
	if (!want(c, g, "gamma", DT_F32, 1) || !want(c, b, "beta", DT_F32, 1) ||
	    !same_dim(c, xi, x->rank - 1, g, 0, "gamma size") ||
	    !same_dim(c, xi, x->rank - 1, b, 0, "beta size"))
		return false;
	if (!(eps > 0) || !isfinite(eps))
		return fail(c, "eps must be finite and > 0, not %g", eps);
	return true;
}

static bool infer_fused_proj(Ctx *c, TensorType *out)
{
	const Node *n = c->n;
	const TensorType *x = &n->src[0]->type, *w = &n->src[1]->type;
	int64_t kc = n->iattr[FP_CONV], act = n->iattr[FP_ACT];
	FpSrc s;
	char buf[96];

	int64_t res = n->iattr[FP_RES], gate = n->iattr[FP_GATE];
	int64_t row0 = n->iattr[FP_ROW0], rows = n->iattr[FP_ROWS];

	if (!flag_ok(c, FP_BIAS, "bias") || !flag_ok(c, FP_LN, "ln") ||
	    !flag_ok(c, FP_CONV_BIAS, "conv_bias"))
		return false;
	if (res < 0 || res > 2)
		return fail(c, "res must be 0, 1 or 2, not %lld", (long long)res);
	if (gate < 0 || gate > 2)
		return fail(c, "gate must be 0, 1 or 2, not %lld",
		            (long long)gate);
	if (kc < 0)
		return fail(c, "conv must be >= 0, not %lld", (long long)kc);
	if (kc == 0 && n->iattr[FP_CONV_BIAS])
		return fail(c, "conv_bias without conv");
	ir_fp_srcs(n, &s);
	if (!act_and_arity_ok(c, act, s.nsrc))
		return false;
	if (!want(c, s.x, "input", DT_F32, RANK_GE1) ||
	    !want(c, s.w, "weight", DT_F32, 2) ||
	    !same_dim(c, s.x, x->rank - 1, s.w, 1, "K"))
		return false;
	if (s.bias >= 0 && (!want(c, s.bias, "bias", DT_F32, 1) ||
	                    !same_dim(c, s.w, 0, s.bias, 0, "bias size")))
		return false;
	if (!ln_prologue_ok(c, s.x, s.ln_g, s.ln_b))
		return false;
	if (rows < 0 || row0 < 0 || (rows == 0 && row0 != 0) ||
	    row0 + rows > w->dim[0])
		return fail(c, "rows [%lld, %lld) are not within the %lld of %%%s",
		            (long long)row0, (long long)(row0 + rows),
		            (long long)w->dim[0], n->src[s.w]->name);
	*out = *x;
	out->dim[out->rank - 1] = ir_fp_rows(n);
	if (s.conv_w >= 0) {
		const TensorType *cw = &n->src[s.conv_w]->type;
		if (x->rank != 3)
			return fail(c, "conv needs a [B,L,K] input, not %s",
			            ir_type_str(x, buf, sizeof buf));
		if (!want(c, s.conv_w, "filter", DT_F32, 2) ||
		    !same_dim(c, s.w, 0, s.conv_w, 0, "channel"))
			return false;
		if (cw->dim[1] != kc)
			return fail(c, "filter %%%s must be [N,%lld], not %s",
			            n->src[s.conv_w]->name, (long long)kc,
			            ir_type_str(cw, buf, sizeof buf));
		if (s.conv_b >= 0 && (!want(c, s.conv_b, "conv bias", DT_F32, 1) ||
		                      !same_dim(c, s.w, 0, s.conv_b, 0,
		                                "conv bias size")))
			return false;
	}
	if (s.res >= 0 && !ir_type_eq(&n->src[s.res]->type, out)) {
		char want_s[96];
		return fail(c, "residual %%%s must be %s, not %s",
		            n->src[s.res]->name,
		            ir_type_str(out, want_s, sizeof want_s),
		            ir_type_str(&n->src[s.res]->type, buf, sizeof buf));
	}
	if (gate) {
		int64_t N = out->dim[out->rank - 1], parts = gate == 1 ? 3 : 2;
		if (act != FP_ACT_NONE || s.res >= 0)
			return fail(c, "gate takes neither act nor res");
		if (N < 0 || N % parts != 0)
			return fail(c, "gate=%lld needs %lldD output channels, not "
			            "%lld", (long long)gate, (long long)parts,
			            (long long)N);
		/* gate=1: [post | g * v], 2D; gate=2: g * v, D */
		out->dim[out->rank - 1] = N / parts * (3 - gate);
	}
	return true;
}

/* A [B,L,C] activation that gated_conv reads D channels of from off. */
static bool gated_operand(Ctx *c, int i, const char *what, int64_t off,
                          int64_t D)
{
	const TensorType *t = &c->n->src[i]->type;
	char buf[96];

	if (!want(c, i, what, DT_F32, 3))
		return false;
	if (!same_dim(c, 0, 0, i, 0, "batch") ||
	    !same_dim(c, 0, 1, i, 1, "length"))
		return false;
	if (off < 0 || t->dim[2] < 0 || off > t->dim[2] - D)
		return fail(c, "%s %%%s: channels [%lld, %lld) exceed %s", what,
		            c->n->src[i]->name, (long long)off,
		            (long long)(off + D), ir_type_str(t, buf, sizeof buf));
	return true;
}

static bool infer_gated_conv(Ctx *c, int64_t max_len, TensorType *out)
{
	const Node *n = c->n;
	int64_t method = n->iattr[GC_METHOD], D;
	GcSrc s;
	char buf[96];

	if (method < 0 || method >= CONV_METHOD_COUNT)
		return fail(c, "method must be 0, 1 or 2, not %lld",
		            (long long)method);
	if (!flag_ok(c, GC_PREGATED, "pregated"))
		return false;
	if (!flag_ok(c, GC_GEN, "gen"))
		return false;
	int fixed = (n->iattr[GC_PREGATED] ? 3 : 4) + (n->iattr[GC_GEN] ? 3 : 0);
	if (n->nsrc != fixed && n->nsrc != fixed + 1)
		return fail(c, "%d operands, but its attributes name %d or %d",
		            n->nsrc, fixed, fixed + 1);
	if (n->iattr[GC_GEN] && method != CONV_FFT)
		return fail(c, "gen needs method=1 (fft), not %lld",
		            (long long)method);
	if (!n->iattr[GC_GEN] && n->fattr[0] != 0)
		return fail(c, "shift without gen");
	ir_gc_srcs(n, &s);
	/* the filter, or the tensor whose rows its rows are (gen) */
	int kr = s.k >= 0 ? s.k : s.h;
	const TensorType *v = &n->src[s.v]->type, *k = &n->src[kr]->type;
	if (!want(c, kr, s.k >= 0 ? "filter" : "h", DT_F32, 2) ||
	    !want(c, s.bias, "bias", DT_F32, 1))
		return false;
	if (s.k >= 0) {
		D = k->dim[1];
	} else {
		if (!want(c, s.w, "w", DT_F32, 2) || !want(c, s.t, "t", DT_F32, 2) ||
		    !want(c, s.deltas, "deltas", DT_F32, 1) ||
		    !same_dim(c, s.h, 1, s.w, 1, "E") ||
		    !same_dim(c, s.h, 0, s.t, 0, "position") ||
		    !same_dim(c, s.w, 0, s.deltas, 0, "channel"))
			return false;
		if (n->src[s.t]->type.dim[1] < 1)
			return fail(c, "t %%%s must be [X,E], its column 0 read",
			            n->src[s.t]->name);
		if (!isfinite(n->fattr[0]))
			return fail(c, "shift must be finite");
		D = n->src[s.w]->type.dim[0];
	}
	if (D < 0)
		return fail(c, "filter channels must be concrete");
	if (!(s.k >= 0 ? same_dim(c, s.k, 1, s.bias, 0, "bias size")
	               : same_dim(c, s.w, 0, s.bias, 0, "bias size")))
		return false;
	if (!gated_operand(c, s.v, "v", n->iattr[GC_V_OFF], D))
		return false;
	if (s.g >= 0 && !gated_operand(c, s.g, "gate", n->iattr[GC_G_OFF], D))
		return false;
	if (s.g < 0 && n->iattr[GC_G_OFF] != 0)
		return fail(c, "g_off without a gate");
	if (s.post >= 0 &&
	    !gated_operand(c, s.post, "post", n->iattr[GC_POST_OFF], D))
		return false;
	if (s.post < 0 && n->iattr[GC_POST_OFF] != 0)
		return fail(c, "post_off without post");
	/* the filter has L rows, or a fixed number that any L fits in */
	int64_t rows = k->dim[0], len = v->dim[1];
	if (rows != len &&
	    !(rows >= 0 && (len == DIM_L ? rows >= max_len
	                                 : len >= 0 && rows >= len)))
		return fail(c, "filter %%%s: %s has too few rows for L (max_len "
		            "%lld)", n->src[kr]->name,
		            ir_type_str(k, buf, sizeof buf), (long long)max_len);
	*out = (TensorType){DT_F32, 3, {v->dim[0], v->dim[1], D}};
	return true;
}

/* state: a leaf with its type given, [B, R, C] with R and C concrete. */
static bool infer_state(Ctx *c, TensorType *out)
{
	const TensorType *t = &c->n->type;

	if (!type_ok(t))
		return fail(c, "type is not set or invalid");
	if (t->dtype != DT_F32 || t->rank != 3 || t->dim[0] != DIM_B ||
	    t->dim[1] < 1 || t->dim[2] < 1)
		return fail(c, "a state is f32[B,R,C] with R, C >= 1");
	if (c->n->iattr[0] < 0)
		return fail(c, "slot must be >= 0");
	*out = *t;
	return true;
}

/* state_save: channels [x_off, x_off+len) of x (times g's), as a ring
 * of `rows` rows, or (tail=0, with the filter k last) the prompt's part
 * of every later output of the long convolution, max_len + 1 rows. */
static bool infer_state_save(Ctx *c, int64_t max_len, TensorType *out)
{
	const Node *n = c->n;
	int64_t len = n->iattr[SS_LEN], rows = n->iattr[SS_ROWS];

	if (!flag_ok(c, SS_TAIL, "tail"))
		return false;
	bool tail = n->iattr[SS_TAIL];
	int nx = n->nsrc - (tail ? 0 : 1); /* x and g */
	if (len < 1 || rows < 1)
		return fail(c, "len and rows must be >= 1");
	if (nx < 1 || nx > 2)
		return fail(c, "%d operands: x, g? and, for a history, k",
		            n->nsrc);
	if (!want(c, 0, "x", DT_F32, 3) ||
	    !gated_operand(c, 0, "x", n->iattr[SS_X_OFF], len))
		return false;
	if (nx == 2 && !gated_operand(c, 1, "g", n->iattr[SS_G_OFF], len))
		return false;
	if (nx < 2 && n->iattr[SS_G_OFF] != 0)
		return fail(c, "g_off without g");
	if (!tail) {
		if (!(max_len > 0 && rows == max_len + 1))
			return fail(c, "a history needs rows = max_len + 1 (%lld)",
			            (long long)max_len + 1);
		if (!want(c, nx, "filter", DT_F32, 2))
			return false;
		const TensorType *k = &n->src[nx]->type;
		if (k->dim[0] < max_len || k->dim[1] != len)
			return fail(c, "filter %%%s must be [>= max_len, len]",
			            n->src[nx]->name);
	}
	*out = (TensorType){DT_F32, 3, {n->src[0]->type.dim[0], rows, len}};
	return true;
}

/* tail_proj: x, w, bias?, ln_g?, ln_b? as fused_proj's, R rows out. */
static bool infer_tail_proj(Ctx *c, TensorType *out)
{
	const Node *n = c->n;
	int64_t R = n->iattr[TP_ROWS];

	if (!flag_ok(c, TP_BIAS, "bias") || !flag_ok(c, TP_LN, "ln"))
		return false;
	int want_n = 2 + (int)n->iattr[TP_BIAS] + 2 * (int)n->iattr[TP_LN];
	if (n->nsrc != want_n)
		return fail(c, "%d operands, but its attributes name %d", n->nsrc,
		            want_n);
	if (R < 1)
		return fail(c, "rows must be >= 1");
	if (!want(c, 0, "x", DT_F32, 3) || !want(c, 1, "w", DT_F32, 2) ||
	    !same_dim(c, 0, 2, 1, 1, "inner"))
		return false;
	for (int i = 2; i < n->nsrc; i++)
		if (!want(c, i, "vector", DT_F32, 1) ||
		    !same_dim(c, i, 0, i == 2 && n->iattr[TP_BIAS] ? 1 : 0,
		              i == 2 && n->iattr[TP_BIAS] ? 0 : 2, "size"))
			return false;
	*out = (TensorType){DT_F32, 3, {n->src[0]->type.dim[0], R,
	                                n->src[1]->type.dim[0]}};
	return true;
}

/* The state operand of a step op: f32[B,R,C] from a state node. */
static bool step_state(Ctx *c, int i, int64_t C)
{
	const Node *s = c->n->src[i];

	if (s->op != OP_STATE)
		return fail(c, "%%%s is not a state", s->name);
	if (s->type.dim[2] != C)
		return fail(c, "state %%%s has %lld channels, not %lld", s->name,
		            (long long)s->type.dim[2], (long long)C);
	return true;
}

/* short_step: the short filter at one position, from the ring. */
static bool infer_short_step(Ctx *c, TensorType *out)
{
	const Node *n = c->n;

	if (!flag_ok(c, SH_CONV_BIAS, "conv_bias") || !flag_ok(c, SH_GATE, "gate"))
		return false;
	int want_n = 3 + (int)n->iattr[SH_CONV_BIAS];
	if (n->nsrc != want_n)
		return fail(c, "%d operands, but its attributes name %d", n->nsrc,
		            want_n);
	if (!want(c, 0, "y", DT_F32, 3) || !want(c, 1, "w", DT_F32, 2))
		return false;
	int64_t N = n->src[0]->type.dim[2], K = n->src[1]->type.dim[1];
	if (!same_dim(c, 0, 2, 1, 0, "channel"))
		return false;
	if (n->iattr[SH_CONV_BIAS] && (!want(c, 2, "b", DT_F32, 1) ||
	                               !same_dim(c, 0, 2, 2, 0, "bias size")))
		return false;
	if (!step_state(c, n->nsrc - 1, N))
		return false;
	if (K < 2 || n->src[n->nsrc - 1]->type.dim[1] != K - 1)
		return fail(c, "the ring must have K-1 rows (K = %lld >= 2)",
		            (long long)K);
	if (n->iattr[SH_GATE] && N % 3)
		return fail(c, "gate needs 3D channels, not %lld", (long long)N);
	*out = (TensorType){DT_F32, 3, {n->src[0]->type.dim[0],
	                                n->src[0]->type.dim[1],
	                                n->iattr[SH_GATE] ? N / 3 * 2 : N}};
	return true;
}

/* conv_step: gated_conv's operands and a history in place of L. */
static bool infer_conv_step(Ctx *c, TensorType *out)
{
	const Node *n = c->n;
	CsSrc s;

	if (!flag_ok(c, CS_PREGATED, "pregated") || !flag_ok(c, CS_POST, "post"))
		return false;
	ir_cs_srcs(n, &s);
	if (n->nsrc != s.nsrc)
		return fail(c, "%d operands, but its attributes name %d", n->nsrc,
		            s.nsrc);
	if (!want(c, s.k, "filter", DT_F32, 2) ||
	    !want(c, s.bias, "bias", DT_F32, 1) ||
	    !same_dim(c, s.k, 1, s.bias, 0, "bias size"))
		return false;
	int64_t D = n->src[s.k]->type.dim[1];
	if (D < 1)
		return fail(c, "filter channels must be concrete");
	if (!gated_operand(c, s.v, "v", n->iattr[CS_V_OFF], D))
		return false;
	if (s.g >= 0 && !gated_operand(c, s.g, "gate", n->iattr[CS_G_OFF], D))
		return false;
	if (s.g < 0 && n->iattr[CS_G_OFF] != 0)
		return fail(c, "g_off without a gate");
	if (s.post >= 0 &&
	    !gated_operand(c, s.post, "post", n->iattr[CS_POST_OFF], D))
		return false;
	if (s.post < 0 && n->iattr[CS_POST_OFF] != 0)
		return fail(c, "post_off without post");
	if (!step_state(c, s.hist, D))
		return false;
	if (n->src[s.k]->type.dim[0] < n->src[s.hist]->type.dim[1] - 1)
		return fail(c, "filter %%%s has fewer rows than the history's "
		            "positions", n->src[s.k]->name);
	*out = (TensorType){DT_F32, 3, {n->src[s.v]->type.dim[0],
	                                n->src[s.v]->type.dim[1], D}};
	return true;
}

/* sin_linear: a linear with its bias, the frequency and sin. */
static bool infer_sin_linear(Ctx *c, TensorType *out)
{
	const Node *n = c->n;
	const TensorType *x = &n->src[0]->type;

	if (!want(c, 0, "input", DT_F32, RANK_GE1) ||
	    !want(c, 1, "weight", DT_F32, 2) || !want(c, 2, "bias", DT_F32, 1) ||
	    !want(c, 3, "frequency", DT_F32, 1) ||
	    !same_dim(c, 0, x->rank - 1, 1, 1, "K") ||
	    !same_dim(c, 1, 0, 2, 0, "bias size") ||
	    !same_dim(c, 1, 0, 3, 0, "frequency size"))
		return false;
	if (n->src[1]->type.dim[0] < 0)
		return fail(c, "weights must have concrete dims");
	*out = *x;
	out->dim[out->rank - 1] = n->src[1]->type.dim[0];
	return true;
}

/* fused_mlp: two linears with the layernorm prologue, the activation
 * between them and the residual after. */
static bool infer_fused_mlp(Ctx *c, TensorType *out)
{
	const Node *n = c->n;
	int64_t act = n->iattr[FM_ACT];
	FmSrc s;
	char buf[96];

	if (!flag_ok(c, FM_BIAS, "bias") || !flag_ok(c, FM_LN, "ln") ||
	    !flag_ok(c, FM_BIAS2, "bias2") || !flag_ok(c, FM_RES, "res"))
		return false;
	ir_fm_srcs(n, &s);
	if (!act_and_arity_ok(c, act, s.nsrc))
		return false;
	const TensorType *x = &n->src[s.x]->type;
	if (!want(c, s.x, "input", DT_F32, RANK_GE1) ||
	    !want(c, s.w1, "weight", DT_F32, 2) ||
	    !want(c, s.w2, "weight", DT_F32, 2) ||
	    !same_dim(c, s.x, x->rank - 1, s.w1, 1, "K") ||
	    !same_dim(c, s.w1, 0, s.w2, 1, "hidden"))
		return false;
	if (n->src[s.w1]->type.dim[0] < 0 || n->src[s.w2]->type.dim[0] < 0)
		return fail(c, "weights must have concrete dims");
	if (s.b1 >= 0 && (!want(c, s.b1, "bias", DT_F32, 1) ||
	                  !same_dim(c, s.w1, 0, s.b1, 0, "bias size")))
		return false;
	if (s.b2 >= 0 && (!want(c, s.b2, "bias", DT_F32, 1) ||
	                  !same_dim(c, s.w2, 0, s.b2, 0, "bias2 size")))
		return false;
	if (!ln_prologue_ok(c, s.x, s.ln_g, s.ln_b))
		return false;
	*out = *x;
	out->dim[out->rank - 1] = n->src[s.w2]->type.dim[0];
	if (s.res >= 0 && !ir_type_eq(&n->src[s.res]->type, out)) {
		char want_s[96];
		return fail(c, "residual %%%s must be %s, not %s",
		            n->src[s.res]->name,
		            ir_type_str(out, want_s, sizeof want_s),
		            ir_type_str(&n->src[s.res]->type, buf, sizeof buf));
	}
	return true;
}

static bool infer_pool(Ctx *c, TensorType *out)
{
	const Node *n = c->n;
	const TensorType *x = &n->src[0]->type;
	int64_t mode = n->iattr[PL_MODE];
	bool ln = n->iattr[PL_LN] != 0, pad = mode == PM_PAD;
	int nsrc = 1 + (ln ? 2 : 0) + (pad ? 1 : 0);

	if (!want(c, 0, "input", DT_F32, 3))
		return false;
	if (mode < 0 || mode >= PM_COUNT)
		return fail(c, "mode must be 0 (mean), 1 (last) or 2 (before "
		            "the first pad), not %lld", (long long)mode);
	if (!flag_ok(c, PL_LN, "ln"))
		return false;
	if (n->nsrc != nsrc)
		return fail(c, "%d operands, but its attributes name %d",
		            n->nsrc, nsrc);
	if (!pad && n->iattr[PL_PAD] != 0)
		return fail(c, "pad is only for mode 2, not mode %lld",
		            (long long)mode);
	if (pad && (n->iattr[PL_PAD] < 0 || n->iattr[PL_PAD] > INT32_MAX))
		return fail(c, "pad must be a token id, not %lld",
		            (long long)n->iattr[PL_PAD]);
	if (x->dim[1] != DIM_L)
		return fail(c, "pools over L, but %%%s has no L axis",
		            n->src[0]->name);
	if (x->dim[2] < 0)
		return fail(c, "pooled dim must be concrete");
	if (!ln_prologue_ok(c, 0, ln ? 1 : -1, ln ? 2 : -1))
		return false;
	if (pad) {
		const TensorType *t = &n->src[nsrc - 1]->type;
		char buf[96];
		if (!want(c, nsrc - 1, "tokens", DT_I32, 2))
			return false;
		if (t->dim[0] != x->dim[0] || t->dim[1] != DIM_L)
			return fail(c, "tokens %%%s must be [B, L] as the input, "
			            "not %s", n->src[nsrc - 1]->name,
			            ir_type_str(t, buf, sizeof buf));
	}
	*out = (TensorType){DT_F32, 2, {x->dim[0], x->dim[2]}};
	return true;
}

bool ir_infer(Graph *g, Node *n, Diag *d)
{
	const OpInfo *info = ir_op_info(n->op);
	Ctx c = {n, d};
	TensorType t;
	bool ok = false;

	HY_ASSERT(n->nsrc >= info->min_src && n->nsrc <= info->max_src);
	for (int i = 0; i < n->nsrc; i++) {
		HY_ASSERT(n->src[i]);
		if (!type_ok(&n->src[i]->type))
			return fail(&c, "operand %%%s has no valid type",
			            n->src[i]->name);
	}
	memset(&t, 0, sizeof t);
	switch (n->op) {
	case OP_INPUT:
	case OP_WEIGHT:
		ok = infer_leaf(&c, &t);
		break;
	case OP_POS_EMB:
		ok = infer_pos_emb(&c, &t);
		break;
	case OP_EMBED:
		ok = infer_embed(&c, &t);
		break;
	case OP_LAYERNORM:
		ok = infer_layernorm(&c, &t);
		break;
	case OP_LINEAR:
		ok = infer_linear(&c, &t);
		break;
	case OP_DWCONV:
		ok = infer_dwconv(&c, &t);
		break;
	case OP_LONGCONV:
		ok = infer_longconv(&c, &t);
		break;
	case OP_SLICE:
		ok = infer_slice(&c, g->max_len, &t);
		break;
	case OP_ADD:
	case OP_MUL:
		ok = infer_binary(&c, &t);
		break;
	case OP_SIN:
	case OP_GELU_TANH:
	case OP_GELU:
	case OP_RELU:
		ok = infer_unary(&c, &t);
		break;
	case OP_EXPMOD:
		ok = infer_expmod(&c, &t);
		break;
	case OP_FUSED_PROJ:
		ok = infer_fused_proj(&c, &t);
		break;
	case OP_GATED_CONV:
		ok = infer_gated_conv(&c, g->max_len, &t);
		break;
	case OP_FUSED_MLP:
		ok = infer_fused_mlp(&c, &t);
		break;
	case OP_SIN_LINEAR:
		ok = infer_sin_linear(&c, &t);
		break;
	case OP_POOL:
		ok = infer_pool(&c, &t);
		break;
	case OP_STATE:
		ok = infer_state(&c, &t);
		break;
	case OP_STATE_SAVE:
		ok = infer_state_save(&c, g->max_len, &t);
		break;
	case OP_TAIL_PROJ:
		ok = infer_tail_proj(&c, &t);
		break;
	case OP_SHORT_STEP:
		ok = infer_short_step(&c, &t);
		break;
	case OP_CONV_STEP:
		ok = infer_conv_step(&c, &t);
		break;
	case OP_COUNT:
		hy_die("bad op");
	}
	if (ok)
		n->type = t;
	return ok;
}

bool ir_infer_graph(Graph *g, Diag *d)
{
	for (int i = 0; i < g->nnodes; i++)
		if (!ir_infer(g, g->nodes[i], d))
			return false;
	return true;
}
