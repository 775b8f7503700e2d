/*
 * weights.c - the tensors a ModelSpec implies, checked against a checkpoint
 * or made by a seeded HyenaDNA-style initialisation.
 *
 * fe_expected_weights() is the one list of names and shapes: binding a
 * safetensors file, random init and lowering all walk it, so they cannot
 * disagree. Names are the HF ones. Three tensors are "optional" because
 * HyenaDNA computes them from hyperparameters (the positional features z
 * and t, and the decay rates): a checkpoint that stores them is used as
 * stored (faithful to the last bit), one that does not gets them computed.
 * Every bound tensor is checked to hold only finite numbers (one pass over
 * the floats), so a NaN or Inf is refused by info, compile and run alike.
 *
 * Random init follows HyenaDNA's _init_weights: every Linear and the
 * embedding N(0, 0.02), biases zero, out_proj and fc2 rescaled by
 * 1/sqrt(2 n_layer), LayerNorm 1/0, Conv1d PyTorch's default uniform, the
 * filter bias N(0, 1), Sin frequencies sin_freq. Each tensor draws from its
 * own stream seeded by (seed, name), so adding a tensor moves no other.
 */
#include "frontend.h"

#include <math.h>
#include <string.h>

#define BACKBONE "hyena.backbone."

static TensorType f32(int rank, int64_t d0, int64_t d1, int64_t d2)
{
	TensorType t = {DT_F32, rank, {d0, d1, d2, 0}};
	return t;
}

void fe_expected_weights(const ModelSpec *s, Arena *a, WeightVisitor fn,
                         void *ctx)
{
	int64_t D = s->d_model, C = s->d_model * (s->order - 1);
	int64_t W = s->d_model * (s->order + 1), F = s->filter_order;
	int64_t Vp = fe_vocab_padded(s);
	TensorType t;

#define V(opt, ...) fn(ctx, arena_printf(a, __VA_ARGS__), &t, opt)
	t = f32(2, Vp, D, 0);
	V(false, BACKBONE "embeddings.word_embeddings.weight");
	for (int64_t i = 0; i < s->n_layer; i++) {
		const char *l = arena_printf(a, BACKBONE "layers.%lld.",
		                             (long long)i);
		const char *f = arena_printf(a, "%smixer.filter_fn.", l);
		t = f32(2, W, D, 0);
		V(false, "%smixer.in_proj.weight", l);
		t = f32(1, W, 0, 0);
		V(false, "%smixer.in_proj.bias", l);
		t = f32(2, D, D, 0);
		V(false, "%smixer.out_proj.weight", l);
		t = f32(1, D, 0, 0);
		V(false, "%smixer.out_proj.bias", l);
		t = f32(3, W, 1, s->short_filter);
		V(false, "%smixer.short_filter.weight", l);
		t = f32(1, W, 0, 0);
		V(false, "%smixer.short_filter.bias", l);
		t = f32(1, C, 0, 0);
		V(false, "%sbias", f);
		t = f32(3, 1, s->max_seq_len, s->emb_dim);
		V(true, "%spos_emb.z", f);
		t = f32(3, 1, s->max_seq_len, 1);
		V(true, "%spos_emb.t", f);
		t = f32(2, F, s->emb_dim, 0);
		V(false, "%simplicit_filter.0.weight", f);
		t = f32(1, F, 0, 0);
		V(false, "%simplicit_filter.0.bias", f);
		/* One Sin module is shared by every Sin layer: HF stores its
		 * frequency once, under the first one's index. */
		t = f32(2, 1, F, 0);
		V(false, "%simplicit_filter.1.freq", f);
		for (int64_t j = 0; j < s->num_inner_mlps; j++) {
			t = f32(2, F, F, 0);
			V(false, "%simplicit_filter.%lld.weight", f,
			  (long long)(2 + 2 * j));
			t = f32(1, F, 0, 0);
			V(false, "%simplicit_filter.%lld.bias", f,
			  (long long)(2 + 2 * j));
		}
		t = f32(2, C, F, 0);
		V(false, "%simplicit_filter.%lld.weight", f,
		  (long long)(2 + 2 * s->num_inner_mlps));
		t = f32(3, 1, 1, C);
		V(true, "%smodulation.deltas", f);
		t = f32(1, D, 0, 0);
		V(false, "%snorm1.weight", l);
		V(false, "%snorm1.bias", l);
		t = f32(2, s->d_inner, D, 0);
		V(false, "%smlp.fc1.weight", l);
		t = f32(1, s->d_inner, 0, 0);
		V(false, "%smlp.fc1.bias", l);
		t = f32(2, D, s->d_inner, 0);
		V(false, "%smlp.fc2.weight", l);
		t = f32(1, D, 0, 0);
		V(false, "%smlp.fc2.bias", l);
		V(false, "%snorm2.weight", l);
		V(false, "%snorm2.bias", l);
	}
	t = f32(1, D, 0, 0);
	V(false, BACKBONE "ln_f.weight");
	V(false, BACKBONE "ln_f.bias");
	if (s->lm_head) {
		t = f32(2, Vp, D, 0);
		V(false, "lm_head.weight");
	}
	if (s->num_labels > 0) {
		t = f32(2, s->num_labels, D, 0);
		V(false, "score.weight");
	}
#undef V
}

Tensor *fe_weight_find(const WeightSet *w, const char *name)
{
	for (int i = 0; i < w->n; i++)
		if (strcmp(w->t[i].name, name) == 0)
			return &w->t[i];
	return NULL;
}

void fe_weight_add(WeightSet *w, Arena *a, const char *name,
                   const TensorType *type, const float *data)
{
	if (w->n == w->cap) {
		int cap = w->cap ? 2 * w->cap : 64;
		Tensor *t = arena_alloc(a, (size_t)cap * sizeof *t);
		if (w->n)
			memcpy(t, w->t, (size_t)w->n * sizeof *t);
		w->t = t;
		w->cap = cap;
	}
	Tensor *t = &w->t[w->n++];
	t->name = arena_strdup(a, name);
	t->type = *type;
	t->data = data;
}

/* ---- computed buffers ------------------------------------------------- */

/* HyenaDNA's decay rates: linspace(ln(target)/slow, ln(target)/fast, C). */
static float *make_deltas(Arena *a, const ModelSpec *s, int64_t C)
{
	float *d = arena_try_alloc(a, (size_t)C * sizeof *d);
	double lo = log(s->decay_target) / s->slow_decay_pct;
	double hi = log(s->decay_target) / s->fast_decay_pct;
	if (!d)
		return NULL;
	for (int64_t c = 0; c < C; c++)
		d[c] = (float)(C == 1 ? lo : lo + (hi - lo) * (double)c / (double)(C - 1));
	return d;
}

static bool is_deltas(const char *name)
{
	size_t n = strlen(name), k = strlen("modulation.deltas");
	return n >= k && strcmp(name + n - k, "modulation.deltas") == 0;
}

/* ---- binding a checkpoint --------------------------------------------- */

/* The first element of an F32 tensor that is NaN or infinite, as its flat
 * index; false if every one is finite. Reads the bits (exponent all ones),
 * so it holds under -ffast-math too, and the pass over a checkpoint costs
 * little next to loading it. */
static bool first_nonfinite(const float *x, size_t n, size_t *at,
                            uint32_t *bits)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t b;
		memcpy(&b, &x[i], sizeof b);
		if ((b & 0x7f800000u) == 0x7f800000u) {
			*at = i;
			*bits = b;
			return true;
		}
	}
	return false;
}

/* "[i, j, k]" of flat index i in a tensor of type t. */
static const char *index_str(const TensorType *t, size_t flat, char *buf,
                             size_t n)
{
	int64_t idx[IR_MAX_RANK] = {0};
	size_t k = 0;

	for (int i = t->rank - 1; i >= 0; i--) {
		idx[i] = t->dim[i] ? (int64_t)(flat % (size_t)t->dim[i]) : 0;
		flat = t->dim[i] ? flat / (size_t)t->dim[i] : 0;
	}
	k += (size_t)snprintf(buf, n, "[");
	for (int i = 0; i < t->rank && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "",
		                      (long long)idx[i]);
	if (k < n)
		snprintf(buf + k, n - k, "]");
	return buf;
}

/* A checkpoint's NaN or Inf would make every output NaN without a word:
 * refuse it, naming the tensor and the element. */
static bool check_finite(const char *path, const char *name,
                         const TensorType *t, const float *x, Diag *d)
{
	char where[128];
	size_t n, at;
	uint32_t b;

	if (!ir_type_numel(t, 0, 0, &n) || !first_nonfinite(x, n, &at, &b))
		return true;
	diag_error(d, "%s: tensor '%s' element %zu %s is %s; weights must be "
	           "finite numbers",
	           path, name, at, index_str(t, at, where, sizeof where),
	           b & 0x007fffffu ? "NaN" : b >> 31 ? "-Inf" : "+Inf");
	return false;
}

typedef struct BindCtx {
	Model *m;
	Arena *a;
	SafeTensors *st;
	Diag *d;
	bool *used;
} BindCtx;

static void bind_one(void *p, const char *name, const TensorType *want,
                     bool optional)
{
	BindCtx *c = p;
	char b1[128], b2[128];
	int k;

	if (!diag_ok(c->d))
		return;
	for (k = 0; k < c->st->n; k++)
		if (strcmp(c->st->t[k].name, name) == 0)
			break;
	if (k == c->st->n) {
		if (!optional) {
			diag_error(c->d, "%s: missing tensor '%s' (expected %s)",
			           c->st->path, name, ir_type_str(want, b1, sizeof b1));
			return;
		}
		if (is_deltas(name)) {
			const float *dd = make_deltas(c->a, &c->m->spec, want->dim[2]);
			if (!dd) {
				diag_error(c->d, "%s: out of memory", c->st->path);
				return;
			}
			fe_weight_add(&c->m->w, c->a, name, want, dd);
		}
		return; /* positional features: lowered to pos_emb */
	}
	c->used[k] = true;
	if (!ir_type_eq(&c->st->t[k].type, want)) {
		diag_error(c->d, "%s: tensor '%s' has shape %s, the model needs %s",
		           c->st->path, name,
		           ir_type_str(&c->st->t[k].type, b1, sizeof b1),
		           ir_type_str(want, b2, sizeof b2));
		return;
	}
	if (!check_finite(c->st->path, name, want, c->st->t[k].data, c->d))
		return;
	fe_weight_add(&c->m->w, c->a, name, want, c->st->t[k].data);
}

bool fe_bind_safetensors(Model *m, Arena *a, SafeTensors *st, Diag *d)
{
	BindCtx c = {m, a, st, d, arena_alloc(a, (size_t)st->n + 1)};

	fe_expected_weights(&m->spec, a, bind_one, &c);
	if (!diag_ok(d))
		return false;
	for (int k = 0; k < st->n; k++) {
		if (!c.used[k]) {
			diag_error(d, "%s: unexpected tensor '%s' (not part of a "
			           "model with n_layer=%lld, order=%lld, "
			           "num_inner_mlps=%lld)",
			           st->path, st->t[k].name,
			           (long long)m->spec.n_layer,
			           (long long)m->spec.order,
			           (long long)m->spec.num_inner_mlps);
			return false;
		}
	}
	return true;
}

/* ---- random init ------------------------------------------------------ */

typedef struct Rng {
	uint64_t s;
} Rng;

static uint64_t splitmix(Rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform01(Rng *r)
{
	return ((double)(splitmix(r) >> 11) + 0.5) * 0x1.0p-53;
}

static double normal(Rng *r)
{
	double u = uniform01(r), v = uniform01(r);
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static uint64_t hash_name(uint64_t seed, const char *s)
{
	uint64_t h = 1469598103934665603ull ^ seed;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), k = strlen(tail);
	return n >= k && strcmp(s + n - k, tail) == 0;
}

typedef struct InitCtx {
	Model *m;
	Arena *a;
	uint64_t seed;
	Diag *d;
} InitCtx;

static void init_one(void *p, const char *name, const TensorType *t,
                     bool optional)
{
	InitCtx *c = p;
	const ModelSpec *s = &c->m->spec;
	size_t n;
	float *x;
	Rng r = {hash_name(c->seed, name)};

	if (!diag_ok(c->d))
		return;
	if (optional && !is_deltas(name))
		return; /* positional features are computed by pos_emb */
	if (!ir_type_numel(t, 0, 0, &n) ||
	    !(x = arena_try_alloc(c->a, n * sizeof *x))) {
		diag_error(c->d, "%s: out of memory initialising '%s'",
		           c->m->path, name);
		return;
	}
	if (is_deltas(name)) {
		float *dd = make_deltas(c->a, s, t->dim[2]);
		HY_ASSERT(dd);
		memcpy(x, dd, n * sizeof *x);
	} else if (strstr(name, "norm") && ends_with(name, ".weight")) {
		for (size_t i = 0; i < n; i++)
			x[i] = 1.0f;
	} else if (ends_with(name, "ln_f.weight")) {
		for (size_t i = 0; i < n; i++)
			x[i] = 1.0f;
	} else if (ends_with(name, ".freq")) {
		for (size_t i = 0; i < n; i++)
			x[i] = (float)s->sin_freq;
	} else if (ends_with(name, "filter_fn.bias")) {
		for (size_t i = 0; i < n; i++)
			x[i] = (float)normal(&r);
	} else if (strstr(name, "short_filter")) {
		/* Conv1d default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
		double bound = 1.0 / sqrt((double)s->short_filter);
		for (size_t i = 0; i < n; i++)
			x[i] = (float)(bound * (2.0 * uniform01(&r) - 1.0));
	} else if (ends_with(name, ".weight")) {
		double std = 0.02;
		if (ends_with(name, "out_proj.weight") ||
		    ends_with(name, "fc2.weight"))
			std /= sqrt(2.0 * (double)s->n_layer);
		for (size_t i = 0; i < n; i++)
			x[i] = (float)(std * normal(&r));
	} /* biases stay zero */
	fe_weight_add(&c->m->w, c->a, name, t, x);
}

bool fe_init_random(Model *m, Arena *a, uint64_t seed, Diag *d)
{
	InitCtx c = {m, a, seed, d};
	fe_expected_weights(&m->spec, a, init_one, &c);
	return diag_ok(d);
}
