/*
 * limits.c - memory budgets for a model before it is built or run (see
 * limits.h). The estimates are deliberately simple and on the high side;
 * they guard against descriptions that could never fit, not against a few
 * percent of slack.
 *
 * Leans on fe_expected_weights (the single list of tensors a spec implies)
 * and on fe_spec_check having bounded every field, so widths fit int64_t;
 * products of widths with B and L are still checked.
 */
#include "limits.h"
#include "runtime/memlimit.h"

#include <stdlib.h>
#include <unistd.h>

#define OVER INT64_MAX

static int64_t mul(int64_t a, int64_t b)
{
	int64_t r;
	if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
		return OVER;
	return r;
}

static int64_t add(int64_t a, int64_t b)
{
	int64_t r;
	if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r))
		return OVER;
	return r;
}

int64_t fe_memory_limit(void)
{
	int64_t v;
	long pages, page;

	/* A value that does not parse was refused at the door (the
	 * driver's main calls hyrt_memory_limit_env first); here it counts as
	 * unset. */
	if (hyrt_parse_bytes(getenv(HYRT_MEMORY_LIMIT_ENV), &v))
		return v;
	pages = sysconf(_SC_PHYS_PAGES);
	page = sysconf(_SC_PAGESIZE);
	if (pages <= 0 || page <= 0)
		return OVER; /* unknown: do not refuse on a guess */
	return mul(pages, page);
}

static void add_weight(void *ctx, const char *name, const TensorType *t,
                       bool optional)
{
	int64_t *sum = ctx, n = 4;
	(void)name;
	if (optional)
		return;
	for (int i = 0; i < t->rank; i++)
		n = mul(n, t->dim[i] < 0 ? 0 : t->dim[i]);
	*sum = add(*sum, n);
}

int64_t fe_weight_bytes(const ModelSpec *s)
{
	Arena *a = arena_new();
	int64_t sum = 0;
	fe_expected_weights(s, a, add_weight, &sum);
	arena_free(a);
	return sum;
}

int64_t fe_activation_estimate(const ModelSpec *s, int64_t batch,
                               int64_t seq_len)
{
	int64_t d = s->d_model, proj = mul(d, s->order + 1);
	int64_t tok, pos, vocab = fe_vocab_padded(s);

	/* Live at once in a block, per token: the residual stream and the
	 * norm's output, in_proj's output and the short conv's, the gated
	 * value, the MLP's hidden layer; at the end the logits. Floats. */
	tok = add(add(mul(d, 3), mul(proj, 2)), add(s->d_inner, vocab));
	tok = mul(tok, 4);
	/* Per position: the implicit filter's MLP (emb_dim features, two
	 * filter_order-wide layers) and its output, one [L, d_model] filter
	 * per order beyond the first, and the FFT's complex spectra of 2L
	 * points for them. */
	pos = add(add(s->emb_dim, mul(s->filter_order, 2)),
	          mul(mul(d, s->order - 1 > 0 ? s->order - 1 : 1), 5));
	pos = mul(pos, 4);
	return add(mul(mul(tok, batch), seq_len), mul(pos, seq_len));
}

static void human(char *buf, size_t n, int64_t v)
{
	if (v == OVER)
		snprintf(buf, n, "more than 9.2 EB");
	else if (v >= 1000000000)
		snprintf(buf, n, "%.1f GB", v / 1e9);
	else
		snprintf(buf, n, "%.1f MB", v / 1e6);
}

bool fe_check_weight_memory(const ModelSpec *s, const char *file, Diag *d)
{
	int64_t need = fe_weight_bytes(s), limit = fe_memory_limit();
	char hn[32], hl[32];

	if (need <= limit)
		return true;
	human(hn, sizeof hn, need);
	human(hl, sizeof hl, limit);
	if (need == OVER)
		diag_error(d, "%s: the model's weights need more than 2^63 "
		           "bytes; more than the %s (%lld bytes) memory limit",
		           file, hl, (long long)limit);
	else
		diag_error(d, "%s: the model's weights need %s (%lld bytes), "
		           "more than the %s (%lld bytes) memory limit; set "
		           "HYENAC_MEMORY_LIMIT to raise it",
		           file, hn, (long long)need, hl, (long long)limit);
	return false;
}

bool fe_check_bytes(int64_t run_bytes, const char *run_what,
                    int64_t weight_bytes, int64_t batch, int64_t seq_len,
                    const char *file, Diag *d)
{
	int64_t need = add(run_bytes, weight_bytes), limit = fe_memory_limit();
	char hn[32], hl[32];

	if (need <= limit)
		return true;
	human(hn, sizeof hn, need);
	human(hl, sizeof hl, limit);
	if (need == OVER)
		diag_error(d, "%s: batch %lld x seq-len %lld needs more than "
		           "2^63 bytes of memory; lower --seq-len or --batch",
		           file, (long long)batch, (long long)seq_len);
	else
		diag_error(d, "%s: batch %lld x seq-len %lld needs %s (%lld "
		           "bytes: %lld %s + %lld weights), more than "
		           "the %s (%lld bytes) memory limit; lower --seq-len "
		           "or --batch, or set HYENAC_MEMORY_LIMIT",
		           file, (long long)batch, (long long)seq_len, hn,
		           (long long)need, (long long)run_bytes, run_what,
		           (long long)weight_bytes, hl, (long long)limit);
	return false;
}

bool fe_check_memory(const ModelSpec *s, int64_t planned_bytes,
                     int64_t batch, int64_t seq_len, const char *file,
                     Diag *d)
{
	int64_t act = planned_bytes > 0
	                  ? planned_bytes
	                  : fe_activation_estimate(s, batch, seq_len);
	return fe_check_bytes(act, "activations", fe_weight_bytes(s), batch,
	                      seq_len, file, d);
}
