/*
 * spec.c - ModelSpec defaults and the one check of impossible values.
 *
 * Both doors into a model (the YAML description and an HF config.json) fill
 * a ModelSpec and then call fe_spec_check(), so a limit lives here once.
 * The upper bounds are not HyenaDNA's: they are there so that every size
 * the rest of hyenac derives from a spec (weight shapes, the in_proj width,
 * positional features of max_seq_len rows, FFT lengths of 2 * max_seq_len)
 * fits comfortably in int64_t and size_t, whatever the input says. The
 * released checkpoints sit far inside them.
 *
 * Messages name the ModelSpec field; the YAML loader calls the check with a
 * "FILE:LINE:COL" place when it can point at the value.
 */
#include "frontend.h"

#include <math.h>

enum {
	WIDTH_MAX = 1 << 16,      /* d_model, filter_order, emb_dim */
	D_INNER_MAX = 1 << 18,    /* room for the usual 4 * d_model */
	ORDER_MAX = 16,
	PROJ_MAX = 1 << 20,       /* d_model * (order + 1): in_proj's width */
	LAYER_MAX = 1024,
	SHORT_FILTER_MAX = 4096,
	INNER_MLPS_MAX = 64,
	VOCAB_MAX = 1 << 20,
	PAD_MULTIPLE_MAX = 1 << 16,
};
#define SEQ_LEN_MAX ((int64_t)1 << 31)

/* grep ORDER ACT: must match Activation in frontend.h. */
static const char *const act_names[] = {"gelu_tanh", "gelu", "relu"};
_Static_assert(sizeof act_names / sizeof act_names[0] == ACT_COUNT,
               "act_names out of step with Activation");

const char *fe_activation_name(Activation a)
{
	if ((unsigned)a >= ACT_COUNT)
		return "?";
	return act_names[a];
}

void fe_spec_defaults(ModelSpec *s)
{
	*s = (ModelSpec){
		.name = "hyenadna",
		.d_model = 128,
		.n_layer = 2,
		.d_inner = 512,
		.mlp_act = ACT_GELU_TANH,
		.order = 2,
		.short_filter = 3,
		.emb_dim = 5,
		.filter_order = 64,
		.num_inner_mlps = 2,
		.sin_freq = 10.0,
		.fast_decay_pct = 0.3,
		.slow_decay_pct = 1.5,
		.decay_target = 1e-2,
		.mod_shift = 0.05,
		.modulate = true,
		.norm_eps = 1e-5,
		.vocab_size = 12,
		.pad_vocab_multiple = 8,
		.max_seq_len = 1026,
		.lm_head = true,
	};
}

int64_t fe_vocab_padded(const ModelSpec *s)
{
	int64_t m = s->pad_vocab_multiple, v = s->vocab_size;

	if (m <= 1 || v <= 0 || v > INT64_MAX - m)
		return v;
	return (v + m - 1) / m * m;
}

/* One integer field against [lo, hi]. */
static bool int_in(const char *file, Diag *d, const char *field, int64_t v,
                   int64_t lo, int64_t hi)
{
	if (v >= lo && v <= hi)
		return true;
	if (v < lo)
		diag_at(d, file, 0, 0, "%s must be at least %lld, not %lld",
		        field, (long long)lo, (long long)v);
	else
		diag_at(d, file, 0, 0, "%s must be at most %lld, not %lld",
		        field, (long long)hi, (long long)v);
	return false;
}

/* A float field: finite, and above zero when `positive`. */
static bool real_ok(const char *file, Diag *d, const char *field, double v,
                    bool positive)
{
	if (!isfinite(v)) {
		diag_at(d, file, 0, 0, "%s must be a finite number, not %g",
		        field, v);
		return false;
	}
	if (positive && !(v > 0)) {
		diag_at(d, file, 0, 0, "%s must be greater than 0, not %g",
		        field, v);
		return false;
	}
	return true;
}

bool fe_spec_check(const ModelSpec *s, const char *file, Diag *d)
{
#define INT(f, lo, hi)                                                        \
	do {                                                                  \
		if (!int_in(file, d, #f, s->f, lo, hi))                       \
			return false;                                         \
	} while (0)
#define REAL(f, pos)                                                          \
	do {                                                                  \
		if (!real_ok(file, d, #f, s->f, pos))                         \
			return false;                                         \
	} while (0)

	INT(d_model, 1, WIDTH_MAX);
	INT(n_layer, 1, LAYER_MAX);
	INT(d_inner, 1, D_INNER_MAX);
	if ((unsigned)s->mlp_act >= ACT_COUNT) {
		diag_at(d, file, 0, 0, "mlp_act %d is not an activation",
		        (int)s->mlp_act);
		return false;
	}
	INT(order, 2, ORDER_MAX);
	INT(short_filter, 1, SHORT_FILTER_MAX);
	INT(emb_dim, 3, WIDTH_MAX);
	if (s->emb_dim % 2 == 0) {
		/* t, then a sin and a cos per band */
		diag_at(d, file, 0, 0, "emb_dim must be odd, not %lld",
		        (long long)s->emb_dim);
		return false;
	}
	INT(filter_order, 1, WIDTH_MAX);
	INT(num_inner_mlps, 0, INNER_MLPS_MAX);
	REAL(sin_freq, false);
	REAL(fast_decay_pct, true);
	REAL(slow_decay_pct, true);
	REAL(decay_target, true);
	if (!(s->decay_target < 1)) {
		/* log(target) must be negative for the filter to decay */
		diag_at(d, file, 0, 0, "decay_target must be below 1, not %g",
		        s->decay_target);
		return false;
	}
	REAL(mod_shift, false);
	REAL(norm_eps, true);
	INT(vocab_size, 1, VOCAB_MAX);
	INT(pad_vocab_multiple, 1, PAD_MULTIPLE_MAX);
	INT(max_seq_len, 1, SEQ_LEN_MAX);
	/* Each factor is bounded above, so the product cannot overflow. */
	if (s->d_model * (s->order + 1) > PROJ_MAX) {
		diag_at(d, file, 0, 0,
		        "d_model * (order + 1) must be at most %d, not %lld",
		        PROJ_MAX, (long long)(s->d_model * (s->order + 1)));
		return false;
	}
	return true;
#undef INT
#undef REAL
}
