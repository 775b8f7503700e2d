/*
 * rt_fasta.c - the genomics front door of a model binary: FASTA in,
 * embeddings or likelihoods out.
 *
 *   NAME embed --fasta F.fa -o X.npy [--pool mean|last|none] ...
 *        X.npy  float32 [windows, d_model] (mean, last) or
 *               [windows, W(+1), d_model] (none), one row per window in
 *               file order; X.tsv beside it: record, start, end, tokens
 *   NAME embed --fasta F.fa -o X.npy --ragged ...
 *        X.npy  float32 [total tokens, d_model]: every window's positions
 *               (--pool none) one after another, no padding; X.tsv:
 *               record, start, end, tokens, row (the window's first row
 *               in X.npy; it has `tokens` rows)
 *   NAME score --fasta F.fa -o S.tsv ...
 *        S.tsv  record, start, end, tokens, sum_logp, mean_logp
 *   NAME classify --fasta F.fa -o P.tsv ...
 *        P.tsv  record, start, end, then each label's probability
 *               (softmax of the classifier's logits, in id order, the
 *               column named by the label), then the predicted label
 *               (the most probable, the lowest id on a tie)
 *
 * Windows come from runtime/fasta.c (tokenized as the HF HyenaDNA
 * tokenizer does, [SEP] appended unless --no-special-tokens). Consecutive
 * windows of equal token count are gathered into batches of up to
 * --batch windows; --threads T (default: every core, as for every
 * command) sizes the runtime's pool (pool.c), which runs T batches at
 * once, each on its own buffers (hyenac_run is reentrant: its state is
 * the scratch it is given, and the FFT plan cache is locked); a lone
 * batch has the whole pool for its forward. Every window is run at its own
 * length, so its row does not depend on the batch it fell in, and a row
 * equals what `embed --tokens` gives for the same ids.
 *
 * Pooling: mean averages the hidden states of all the window's tokens
 * ([SEP] included, accumulated in double); last takes the last token's
 * (the [SEP] when there is one: in a causal model the only position that
 * has seen the whole window); none keeps every position, windows shorter
 * than W(+1) tokens zero-padded at the end (the TSV's tokens column says
 * how many positions are real).
 *
 * Scoring: log-softmax over the full logits row (the padded vocabulary,
 * as the HF model's loss does) at position t scores the token at t + 1,
 * for every t whose next token is a base: the first base has no context
 * and is not scored, and the [SEP] is never scored, so a window of n bases
 * has n - 1 scored tokens, with or without --no-special-tokens (the model
 * is causal: an appended [SEP] changes no earlier logit).
 *
 * Both strands (--rc): each window is run again as its reverse
 * complement (runtime/tokens.h: the bases read backwards, A<->T, C<->G,
 * N and [UNK] kept, [SEP] left at the end). embed --rc mean writes the
 * mean of the two pooled rows, --rc concat the two side by side
 * ([forward | reverse], 2 d_model wide); --pool none is refused, its
 * positions not aligning between strands. score --rc mean writes the
 * mean of the two strands' sum_logp (each the sum over the same number
 * of scored bases), and mean_logp that over the scored count.
 *
 * Per base (score --per-base -o T.bedgraph): each scored base (as
 * above: not a window's first) as a bedGraph line, record, 0-based
 * start, start + 1, the natural log p of the base given the bases
 * before it in its window, after a track line. Where windows overlap
 * (--stride < W) a base is in several: its value is the earliest
 * window's, the one that saw the most bases before it; a window's first
 * base is scored only where an earlier window covers it.
 *
 * Classifying: the classifier reads a window's logits where HF does,
 * before its first pad token; a FASTA window holds none, so that is its
 * last token (the [SEP], unless --no-special-tokens), the one position
 * that has seen the whole window. The probabilities are printed with 9
 * significant digits, like the scores.
 *
 * Record names: the TSVs carry them byte for byte, so they join with the
 * FASTA; a name is a header's first word (fasta.c ends it at any
 * whitespace), so it never holds the tab or line end that would break a
 * row. Messages (rt_fail, rt_warn) escape control characters, so a name
 * cannot drive the terminal or forge a line.
 *
 * Outputs stream through runtime/outfile.c: rows are written as batches
 * finish, to temporaries renamed into place together only when the run
 * completes; an error, SIGINT, SIGTERM or SIGHUP removes them. The names
 * are checked first (outfile.h): X.npy for embed (X.tsv beside it),
 * S.tsv or - (standard output) for score. Memory is O(threads x batch x
 * window) whatever the file size.
 *
 * Sharded (rt_shard.h: --resume, or several MPI ranks): rank 0 reads the
 * whole file first for the plan (each window's tokens, the key), then
 * every rank reads it in file order, reading past the windows of other
 * shards and running its own through the same batching, a shard's rows
 * into its pieces in the journal; rank 0 then writes the outputs from the
 * pieces (same header, same rows) and gives the warnings from its first
 * read. A file on stdin cannot be read twice, and -o - has no place
 * beside it for the journal: both are refused there.
 */
#include "rt_main.h"
#include "rt_par.h"
#include "rt_shard.h"

#include "runtime/fasta.h"
#include "runtime/outfile.h"
#include "runtime/tokens.h"
#include "runtime/score.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* Where a row came from, kept until the row is written. */
typedef struct WinMeta {
	char *name;
	char *label; /* --regions: the BED name column; else NULL */
	int64_t start, end, ntokens;
} WinMeta;

typedef struct Ctx Ctx;

/* --rc: the forward strand only, the mean of both strands, or (embed)
 * both strands' rows side by side. */
enum { RC_NONE, RC_MEAN, RC_CONCAT };

/* One batch: n windows of L tokens each, run by one thread. */
typedef struct Job {
	const Ctx *c;
	int64_t n, L;
	int32_t *tok;   /* [batch, Wt] capacity, packed [n, L] */
	WinMeta *meta;  /* [batch] */
	float *out[2];  /* hidden, logits: [batch, Wt, width] capacity */
	void *scratch;
	size_t scratch_cap;
	float *pooled;  /* [batch, d] for mean and last ([batch, states, d]
	                 * with --layer) */
	float *tmp;     /* --layer: the batch's unpooled states */
	double *logp;   /* [batch]: sum of the scored log p */
	int32_t *tok_rc;  /* --rc: the reverse complements of tok */
	float *pooled_rc; /* --rc: their pooled rows */
	double *logp_rc;  /* --rc: their sums */
	double *base_lp;  /* score --per-base: [batch, Wt], position t the
	                   * log p of the window's base t + 1 */
} Job;

struct Ctx {
	bool score;
	Pool pool;
	int64_t layer;   /* embed --layer, or RT_LAYER_NONE */
	bool ragged;     /* embed --ragged: positions concatenated, unpadded */
	int rc;          /* --rc: RC_NONE, RC_MEAN or RC_CONCAT */
	bool per_base;   /* score --per-base: a bedGraph, not the TSV */
	int64_t states;  /* hidden states per window: 1, or n_layer+2 */
	const void *weights;
	int64_t d, vocab_w, vocab_size;
	int64_t nlabels; /* classify: the classifier's labels */
	int64_t Wt;      /* most tokens in a window: W (+1 for [SEP]) */
	int64_t special; /* 1 when [SEP] is appended */
	int64_t batch, threads;
	bool regions; /* --regions: a name column after end */
};

/* ---- options ------------------------------------------------------------ */

enum {
	O_FASTA, O_OUT, O_POOL, O_WINDOW, O_STRIDE, O_CASE, O_NOSPECIAL,
	O_THREADS, O_BATCH, O_QUIET, O_TOKENS, O_RESUME, O_REF, O_REGIONS,
	O_LAYER, O_RAGGED, O_RC, O_PER_BASE, O_PROGRESS, O_COUNT
};

bool rt_wants_fasta(int argc, char **argv)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--fasta") == 0 ||
		    strncmp(argv[i], "--fasta=", 8) == 0 ||
		    strcmp(argv[i], "--regions") == 0 ||
		    strncmp(argv[i], "--regions=", 10) == 0)
			return true;
	return false;
}

/* "X.npy" -> "X.tsv"; any other name gets ".tsv" appended. */
static char *tsv_beside(const char *npy)
{
	size_t n = strlen(npy);
	char *p = malloc(n + 5);

	if (!p)
		rt_fail("out of memory");
	memcpy(p, npy, n + 1);
	if (n > 4 && strcmp(npy + n - 4, ".npy") == 0)
		p[n - 4] = 0;
	strcat(p, ".tsv");
	return p;
}

/* ---- running a batch ---------------------------------------------------- */

/* score: each window's log-likelihood from its logits (those of the
 * token rows tok) into logp (runtime/score.h), and with --per-base each
 * position's into base_lp. */
static void reduce(Job *j, const int32_t *tok, double *logp)
{
	const Ctx *c = j->c;
	const int64_t L = j->L, V = c->vocab_w;

	if (!c->score)
		return;
	for (int64_t i = 0; i < j->n; i++)
		logp[i] = hyrt_window_logp(j->out[1] + i * L * V, tok + i * L,
		                           L - c->special - 1, V,
		                           c->per_base ? j->base_lp + i * c->Wt
		                                       : NULL);
}

/* One batch: the pooled rows straight from the generated code
 * (hyenac_run_pooled: the hidden states of the windows are never
 * stored), or the outputs the command reads (hyrt.h: a NULL output is
 * not computed, so `score` makes logits without hidden states). */
static void run_strand(Job *j, const int32_t *tok, float *pooled,
                       double *logp)
{
	const Ctx *c = j->c;

	if (c->layer != RT_LAYER_NONE) {
		rt_forward_layer(c->weights, tok, j->n, j->L, c->layer, c->pool,
		                 c->pool == POOL_NONE ? j->out[0] : pooled,
		                 j->tmp, j->scratch);
		return;
	}
	if (!c->score && c->pool != POOL_NONE) {
		/* POOL_CLASSIFY included: [n, num_labels] logits */
		rt_forward_pooled(c->weights, tok, j->n, j->L, c->pool, pooled,
		                  j->scratch);
		return;
	}
	hyenac_run(c->weights, tok, j->n, j->L, j->out, j->scratch);
	reduce(j, tok, logp);
}

/* The batch, and with --rc its reverse complements (hyrt_tokens_revcomp,
 * window by window) too: a score the mean of the two strands' sums, a
 * pooled row their mean, or both kept for RC_CONCAT. */
static void run_job(Job *j)
{
	const Ctx *c = j->c;

	run_strand(j, j->tok, j->pooled, j->logp);
	if (c->rc == RC_NONE)
		return;
	for (int64_t i = 0; i < j->n; i++)
		hyrt_tokens_revcomp(j->tok_rc + i * j->L, j->tok + i * j->L, j->L);
	run_strand(j, j->tok_rc, j->pooled_rc, j->logp_rc);
	if (c->score)
		for (int64_t i = 0; i < j->n; i++)
			j->logp[i] = 0.5 * (j->logp[i] + j->logp_rc[i]);
	else if (c->rc == RC_MEAN)
		for (int64_t k = 0; k < j->n * c->states * c->d; k++)
			j->pooled[k] = (float)(0.5 * ((double)j->pooled[k] +
			                              (double)j->pooled_rc[k]));
}

static void job_alloc(Job *j, const Ctx *c)
{
	int nout = hyenac_meta[HYRT_META_NOUTPUTS] >= 2 ? 2 : 1;

	memset(j, 0, sizeof *j);
	j->c = c;
	j->tok = rt_xalloc(rt_mul3(c->batch, c->Wt, 1, "tokens"), "tokens");
	j->meta = calloc((size_t)c->batch, sizeof *j->meta);
	if (!j->meta)
		rt_fail("out of memory");
	if (!c->score && c->pool == POOL_NONE)
		j->out[0] = rt_xalloc(rt_mul3(c->batch * c->states, c->Wt, c->d,
		                              "hidden states"), "hidden states");
	if (c->layer != RT_LAYER_NONE)
		j->tmp = rt_xalloc(rt_layer_tmp_floats(c->batch, c->Wt, c->layer) *
		                   sizeof(float), "hidden states");
	if (nout > 1 && c->score)
		j->out[1] = rt_xalloc(rt_mul3(c->batch, c->Wt, c->vocab_w,
		                              "logits"), "logits");
	j->pooled = rt_xalloc(rt_mul3(c->batch * c->states,
	                              rt_pool_width(c->pool), 1, "rows"),
	                      "rows");
	j->logp = rt_xalloc(sizeof(double) * (size_t)c->batch, "scores");
	if (c->per_base)
		j->base_lp = rt_xalloc(rt_mul3(c->batch, c->Wt, 1, "scores") /
		                           sizeof(float) * sizeof(double),
		                       "scores");
	if (c->rc != RC_NONE) {
		j->tok_rc = rt_xalloc(rt_mul3(c->batch, c->Wt, 1, "tokens"),
		                      "tokens");
		j->pooled_rc = rt_xalloc(rt_mul3(c->batch * c->states,
		                                 rt_pool_width(c->pool), 1,
		                                 "rows"), "rows");
		j->logp_rc = rt_xalloc(sizeof(double) * (size_t)c->batch,
		                       "scores");
	}
}

static void job_free(Job *j)
{
	for (int64_t i = 0; i < j->c->batch; i++) {
		free(j->meta[i].name);
		free(j->meta[i].label);
	}
	free(j->meta);
	free(j->tok);
	free(j->out[0]);
	free(j->out[1]);
	free(j->scratch);
	free(j->pooled);
	free(j->tmp);
	free(j->logp);
	free(j->tok_rc);
	free(j->pooled_rc);
	free(j->logp_rc);
	free(j->base_lp);
}

/* Room for one more window in j? */
static bool fits(const Job *j, const HyrtWindow *w)
{
	return j->n < j->c->batch && (j->n == 0 || j->L == w->ntokens);
}

static void take(Job *j, const HyrtWindow *w, const char *path,
                 const char *label)
{
	const int64_t vocab = j->c->vocab_size;
	WinMeta *m = &j->meta[j->n];

	for (int64_t i = 0; i < w->ntokens; i++)
		if (w->tokens[i] >= vocab)
			rt_fail("%s: record '%s' has token id %" PRId32 ", "
			        "outside this model's vocabulary of %" PRId64,
			        path, w->record, w->tokens[i], vocab);
	j->L = w->ntokens;
	memcpy(j->tok + j->n * j->L, w->tokens,
	       (size_t)w->ntokens * sizeof(int32_t));
	free(m->name);
	m->name = strdup(w->record);
	free(m->label);
	m->label = label ? strdup(label) : NULL;
	if (!m->name || (label && !m->label))
		rt_fail("out of memory");
	m->start = w->start;
	m->end = w->end;
	m->ntokens = w->ntokens;
	j->n++;
}

/* Grow the job's scratch for its shape (in this thread, so running out
 * of memory is reported, not hit inside a worker). */
static void job_prepare(Job *j)
{
	size_t need = hyenac_scratch_bytes(j->n, j->L);

	if (need <= j->scratch_cap && j->scratch)
		return;
	free(j->scratch);
	j->scratch = rt_xalloc(need, "activations");
	j->scratch_cap = need;
}

/* hyrt_parallel_for's items: whole jobs. */
static void run_job_range(void *ctx, int64_t lo, int64_t hi)
{
	Job *jobs = ctx;

	for (int64_t i = lo; i < hi; i++)
		run_job(&jobs[i]);
}

/* n jobs on the runtime's pool, each job on one of its threads with its
 * forward inline (the pool runs a nested call on the thread that makes
 * it); a lone job runs here, its forward split over the whole pool. */
static void run_jobs(Job *jobs, int n)
{
	for (int i = 0; i < n; i++)
		job_prepare(&jobs[i]);
	if (n == 1)
		run_job(&jobs[0]);
	else
		hyrt_parallel_for(run_job_range, jobs, n, 1);
}

/* ---- progress ----------------------------------------------------------- */

/* Progress counts tokens done against the tokens the input holds,
 * counted beforehand by a second reader over the same file with the same
 * options (tokenizing is fast next to the model), so the percentage
 * moves with the work and ends at 100%; bytes read would run ahead of
 * it by the reader's buffers (the display sat at 25%, then jumped).
 * Standard input or a FIFO cannot be read twice: they show counts and
 * speed only. A sharded job's rank 0 counts from the plan instead. */
typedef struct Progress {
	bool on;
	double t0, last;
	int64_t total_tokens; /* 0 when unknown (standard input) */
	const RtShards *shards; /* sharded: the whole job's, from the journal */
} Progress;

/* The tokens of every window of path under o; 0 when it cannot be read
 * (the run itself then reports why). */
static int64_t count_tokens(const char *path, const HyrtFastaOptions *o)
{
	Diag d;
	HyrtWindow w;
	int64_t n = 0;
	int r;

	diag_init(&d);
	HyrtFasta *f = hyrt_fasta_open(path, o, &d);
	if (!f)
		return 0;
	while ((r = hyrt_fasta_next(f, &w, &d)) == 1)
		n += w.ntokens;
	hyrt_fasta_close(f);
	return r < 0 ? 0 : n;
}

/* Rank 0's line for the whole job: what the journal holds now, the
 * rate counting only what this run computed. */
static void progress_sharded(Progress *p, double el, bool final)
{
	const RtShards *s = p->shards;
	int64_t sh, win, tok;
	char eta[48] = "";

	rt_shard_count(s, &sh, &win, &tok);
	double rate = (double)(tok - s->tokens_done_before) / el;
	if (!final && rate > 0 && s->tokens > 0) {
		long e = (long)((double)(s->tokens - tok) / rate + 0.5);
		snprintf(eta, sizeof eta, ", %.0f%%, ETA %ld:%02ld:%02ld",
		         100.0 * (double)tok / (double)s->tokens, e / 3600,
		         e / 60 % 60, e % 60);
	}
	fprintf(stderr, "\r%s: %d rank(s), %" PRId64 "/%" PRId64 " shards, %"
	        PRId64 "/%" PRId64 " windows, %.0f tokens/s%s\033[K", rt_prog,
	        rt_par_size(), sh, s->n, win, s->items, rate, eta);
	rt_stderr_midline = true;
	if (final) {
		fputc('\n', stderr);
		rt_stderr_midline = false;
	}
	fflush(stderr);
}

static void progress(Progress *p, const HyrtFasta *f, int64_t windows,
                     int64_t tokens, bool final)
{
	double t = rt_now_ms() * 1e-3;
	char eta[48] = "", of[32] = "", pct[16] = "";

	if (!p->on || (!final && t - p->last < 0.25))
		return;
	p->last = t;
	double el = t - p->t0 > 1e-9 ? t - p->t0 : 1e-9;
	if (p->shards) {
		progress_sharded(p, el, final);
		return;
	}
	if (p->total_tokens > 0) {
		double frac = (double)tokens / (double)p->total_tokens;
		frac = frac > 1 ? 1 : frac;
		snprintf(of, sizeof of, " of %" PRId64, p->total_tokens);
		snprintf(pct, sizeof pct, " (%.0f%%)", frac * 100);
		long s = frac > 0 ? (long)(el / frac - el + 0.5) : 0;
		if (!final && frac > 0)
			snprintf(eta, sizeof eta, ", ETA %ld:%02ld:%02ld", s / 3600,
			         s / 60 % 60, s % 60);
	}
	fprintf(stderr, "\r%s: %" PRId64 " records, %" PRId64 " windows, %"
	        PRId64 "%s tokens%s, %.0f tokens/s%s\033[K", rt_prog,
	        hyrt_fasta_records(f), windows, tokens, of, pct,
	        (double)tokens / el, eta);
	rt_stderr_midline = true;
	if (final) {
		fputc('\n', stderr);
		rt_stderr_midline = false;
	}
	fflush(stderr);
}

/* ---- writing rows -------------------------------------------------------- */

typedef struct Outputs {
	HyrtOut npy, tsv;
	int64_t rows;
	int64_t token_rows; /* --ragged: the rows of X.npy written so far */
	/* --per-base: the record of the last window written (its name and
	 * start) and the end of the bases it covered */
	char *bg_rec;
	int64_t bg_start, bg_end;
} Outputs;

static void out_printf(HyrtOut *o, const char *fmt, ...) HY_PRINTF(2, 3);
static void out_printf(HyrtOut *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = vfprintf(o->f, fmt, ap);
	va_end(ap);
	if (r < 0)
		rt_fail("%s: write error: %s", o->path, strerror(errno));
}

/* A classifier's row: softmax of its logits (in double, the largest
 * subtracted first), each label's probability, then the predicted
 * label's name. */
static void write_probs(Outputs *o, const float *logit, int64_t n)
{
	double z = 0;
	int64_t best = 0;

	for (int64_t k = 1; k < n; k++)
		if (logit[k] > logit[best])
			best = k;
	double mx = logit[best];
	for (int64_t k = 0; k < n; k++)
		z += exp((double)logit[k] - mx);
	for (int64_t k = 0; k < n; k++)
		out_printf(&o->tsv, "%.9g\t", exp((double)logit[k] - mx) / z);
	out_printf(&o->tsv, "%s\n", hyrt_label_name(best));
}

/* score --per-base: window m's scored bases as bedGraph lines (record,
 * start, end = start + 1, log p), each base from the first window that
 * scores it: windows come in file order, so that is the one whose start
 * is earliest, the most context before the base. */
static void write_bedgraph(Outputs *o, const WinMeta *m,
                           const double *lp, int64_t n)
{
	if (!o->bg_rec || strcmp(o->bg_rec, m->name) != 0 ||
	    m->start <= o->bg_start) {
		free(o->bg_rec);
		if (!(o->bg_rec = strdup(m->name)))
			rt_fail("out of memory");
		o->bg_end = 0;
	}
	o->bg_start = m->start;
	for (int64_t t = 1; t < n; t++) {
		int64_t pos = m->start + t;
		if (pos >= o->bg_end)
			out_printf(&o->tsv, "%s\t%" PRId64 "\t%" PRId64 "\t%.9g\n",
			           m->name, pos, pos + 1, lp[t - 1]);
	}
	if (m->start + n > o->bg_end)
		o->bg_end = m->start + n;
}

static void write_job(const Ctx *c, const Job *j, Outputs *o)
{
	static const float zeros[256];
	Diag d;

	diag_init(&d);
	for (int64_t i = 0; i < j->n; i++) {
		const WinMeta *m = &j->meta[i];

		if (c->per_base) {
			write_bedgraph(o, m, j->base_lp + i * c->Wt,
			               m->ntokens - c->special);
			o->rows++;
			continue;
		}
		out_printf(&o->tsv, "%s\t%" PRId64 "\t%" PRId64 "\t", m->name,
		           m->start, m->end);
		if (c->regions)
			out_printf(&o->tsv, "%s\t", m->label ? m->label : ".");
		if (c->pool == POOL_CLASSIFY) {
			write_probs(o, j->pooled + i * c->nlabels, c->nlabels);
			o->rows++;
			continue;
		}
		if (c->score) {
			int64_t scored = m->ntokens - c->special - 1;
			double mean = scored > 0 ? j->logp[i] / (double)scored : NAN;
			out_printf(&o->tsv, "%" PRId64 "\t%.9g\t%.9g\n", scored,
			           j->logp[i], mean);
		} else if (c->ragged) {
			out_printf(&o->tsv, "%" PRId64 "\t%" PRId64 "\n", m->ntokens,
			           o->token_rows);
		} else {
			out_printf(&o->tsv, "%" PRId64 "\n", m->ntokens);
		}
		o->rows++;
		if (c->score)
			continue;
		if (c->pool != POOL_NONE && c->rc == RC_CONCAT) {
			/* state by state, [forward | reverse complement] */
			for (int64_t s = 0; s < c->states; s++)
				if (!npy_write_rows_f32(&o->npy,
				                        j->pooled + (i * c->states + s) * c->d,
				                        (size_t)c->d, &d) ||
				    !npy_write_rows_f32(
				        &o->npy, j->pooled_rc + (i * c->states + s) * c->d,
				        (size_t)c->d, &d))
					rt_fail_diag(&d);
			continue;
		}
		if (c->pool != POOL_NONE) {
			if (!npy_write_rows_f32(&o->npy,
			                        j->pooled + i * c->states * c->d,
			                        (size_t)(c->states * c->d), &d))
				rt_fail_diag(&d);
			continue;
		}
		if (c->ragged) {
			/* position by position, each [states, d] */
			for (int64_t t = 0; t < j->L; t++)
				for (int64_t s = 0; s < c->states; s++)
					if (!npy_write_rows_f32(
					        &o->npy,
					        j->out[0] + ((i * c->states + s) * j->L + t) * c->d,
					        (size_t)c->d, &d))
						rt_fail_diag(&d);
			o->token_rows += j->L;
			continue;
		}
		for (int64_t s = 0; s < c->states; s++) {
			const float *src =
			    j->out[0] + (i * c->states + s) * j->L * c->d;
			if (!npy_write_rows_f32(&o->npy, src, (size_t)(j->L * c->d),
			                        &d))
				rt_fail_diag(&d);
			for (size_t pad = (size_t)((c->Wt - j->L) * c->d);
			     pad > 0;) {
				size_t k = pad < 256 ? pad : 256;
				if (!npy_write_rows_f32(&o->npy, zeros, k, &d))
					rt_fail_diag(&d);
				pad -= k;
			}
		}
	}
}

/* ---- the command --------------------------------------------------------- */

/* What read as [UNK] though the user may not have meant it: soft-masked
 * bases under --case strict (as a fraction: hg38 is about half), and
 * records mostly [UNK] (protein FASTA). Warnings only, after the
 * outputs are committed. */
static void warn_unk(const HyrtFasta *f, const char *shown)
{
	int64_t soft = hyrt_fasta_soft_masked(f);
	int64_t all = hyrt_fasta_bases(f);
	int64_t unk, bases;
	const char *name;
	int64_t n = hyrt_fasta_mostly_unk(f, &name, &unk, &bases);

	if (soft > 0 && all > 0)
		rt_warn("warning: %.1f%% of the bases of %s were lowercase "
		        "(soft-masked) and read as [UNK] like the HF tokenizer; "
		        "use --case upper to read them as bases",
		        100.0 * (double)soft / (double)all, shown);
	if (n > 0)
		rt_warn("warning: record '%s' of %s is mostly [UNK] (%.1f%% of "
		        "its %" PRId64 " bases are not A, C, G, T or N: protein, "
		        "or not DNA?); %" PRId64 " record(s) in all", name, shown,
		        100.0 * (double)unk / (double)bases, bases, n);
}

/* The reader's place: the FASTA file or the BED regions it reads, its
 * current window (r: 1 one, 0 the end, -1 an error in d), that window's
 * index in the input, the tokens taken. */
typedef struct Reader {
	HyrtFasta *f;
	RtRegions *rg;
	HyrtWindow win;
	int r;
	int64_t idx, tokens;
	Diag d;
} Reader;

static void reader_next(Reader *rd)
{
	rd->r = rd->rg ? rt_regions_next(rd->rg, &rd->win)
	               : hyrt_fasta_next(rd->f, &rd->win, &rd->d);
}

/* The windows [first, end) of f in batches of equal length on the pool
 * (T batches at once), their rows to out in file order; the windows
 * before first are read past. */
static void run_windows(const Ctx *c, Job *jobs, Reader *rd, int64_t first,
                        int64_t end, Outputs *out, Progress *pr,
                        const char *shown)
{
	while (rd->r == 1 && rd->idx < first) {
		reader_next(rd);
		rd->idx++;
	}
	while (rd->r == 1 && rd->idx < end) {
		int nj = 0;
		for (int64_t t = 0; t < c->threads && rd->r == 1 && rd->idx < end;
		     t++) {
			jobs[t].n = 0;
			while (rd->r == 1 && rd->idx < end &&
			       fits(&jobs[t], &rd->win)) {
				take(&jobs[t], &rd->win, shown,
				     rd->rg ? rt_regions_name(rd->rg) : NULL);
				rd->tokens += rd->win.ntokens;
				reader_next(rd);
				rd->idx++;
			}
			nj++;
		}
		run_jobs(jobs, nj);
		for (int i = 0; i < nj; i++)
			write_job(c, &jobs[i], out);
		progress(pr, rd->f, out->rows, rd->tokens, false);
	}
	if (rd->r < 0)
		rt_fail_diag(&rd->d);
}

/* The outputs, opened with their headers: X.npy's placeholder, the
 * TSV's column names. */
static void open_outputs(Outputs *out, const Ctx *c, bool classify,
                         bool tsv_only, const char *path, const char *tsv)
{
	Diag d;

	diag_init(&d);
	if (!tsv_only && (!hyrt_out_open(&out->npy, path, &d) ||
	                  !npy_stream_begin(&out->npy, &d)))
		rt_fail_diag(&d);
	if (!hyrt_out_open(&out->tsv, tsv, &d))
		rt_fail_diag(&d);
	if (c->per_base) {
		out_printf(&out->tsv, "track type=bedGraph name=\"log p\" "
		           "description=\"log p of each base given the bases "
		           "before it in its window\"\n");
		return;
	}
	out_printf(&out->tsv, "record\tstart\tend\t%s",
	           c->regions ? "name\t" : "");
	if (classify) {
		for (int64_t k = 0; k < c->nlabels; k++)
			out_printf(&out->tsv, "%s\t", hyrt_label_name(k));
		out_printf(&out->tsv, "predicted\n");
	} else {
		out_printf(&out->tsv, c->score ? "tokens\tsum_logp\tmean_logp\n"
		                      : c->ragged ? "tokens\trow\n"
		                                  : "tokens\n");
	}
}

/* rt_par_wait_all's tick: rank 0's progress line while it waits. */
static void tick(void *pr)
{
	progress(pr, NULL, 0, 0, false);
}

/* The sharded job's plan (rt_shard.h): rank 0 reads the whole input
 * (the FASTA, or with ref the BED regions of that reference) once for
 * each window's tokens and the key (a CRC-32 over every window's record,
 * coordinates, BED name and tokens, and the options that change a byte
 * of the output); the other ranks get the plan. Rank 0's reader is left
 * in scan for the warnings, which need the whole input. */
static void plan_fasta(RtShards *sh, Reader *scan, const char *cmd,
                       const Ctx *c, const HyrtFastaOptions *fo,
                       const char *ref, const char *fasta, const char *shown,
                       const char *out, bool resume, bool quiet,
                       const void *weights, size_t wbytes)
{
	int32_t *ntok = NULL;
	int64_t n = 0, cap = 0;
	char *key = NULL, what[4200];

	if (rt_par_rank() == 0) {
		static const char *const pools[] = {"mean", "last", "none",
		                                    "classify"};
		static const char *const rcs[] = {"forward", "mean", "concat"};
		uint32_t crc = 0;
		diag_init(&scan->d);
		if (ref)
			scan->rg = rt_regions_open(ref, fasta, fo);
		else if (!(scan->f = hyrt_fasta_open(fasta, fo, &scan->d)))
			rt_fail_diag(&scan->d);
		const HyrtWindow *w = &scan->win;
		for (reader_next(scan); scan->r == 1; reader_next(scan)) {
			const HyrtWindow win = *w;
			if (n == cap) {
				cap = cap ? 2 * cap : 1024;
				ntok = realloc(ntok, (size_t)cap * sizeof *ntok);
				if (!ntok)
					rt_fail("out of memory");
			}
			ntok[n++] = (int32_t)win.ntokens;
			int64_t at[2] = {win.start, win.end};
			crc = rt_shard_crc(crc, win.record, strlen(win.record) + 1);
			crc = rt_shard_crc(crc, at, sizeof at);
			crc = rt_shard_crc(crc, win.tokens,
			                   (size_t)win.ntokens * sizeof(int32_t));
			if (scan->rg) {
				const char *nm = rt_regions_name(scan->rg);
				nm = nm ? nm : ".";
				crc = rt_shard_crc(crc, nm, strlen(nm) + 1);
			}
		}
		if (scan->r < 0)
			rt_fail_diag(&scan->d);
		char *bin = rt_shard_key_binary(weights, wbytes);
		if (asprintf(&key, "%scommand %s --%s %s\nwindows %" PRId64
		             " of %" PRId64 " tokens at most, stride %" PRId64
		             ", case %s, [SEP] %s, strands %s\nfasta %" PRId64
		             " windows crc32 %08" PRIx32 "\n", bin, cmd,
		             ref ? "regions" : "fasta",
		             c->score ? "score" : pools[c->pool], fo->window,
		             c->Wt, fo->stride,
		             fo->case_mode == HYRT_CASE_UPPER ? "upper" : "strict",
		             c->special ? "on" : "off", rcs[c->rc], n, crc) < 0)
			rt_fail("out of memory");
		free(bin);
	}
	snprintf(what, sizeof what, "windows of %s", shown);
	rt_shard_plan(sh, out, resume, key, ntok, n,
	              c->score || c->pool == POOL_CLASSIFY ? 1 : 2,
	              c->score || c->pool == POOL_CLASSIFY ? "tsv" : "npy",
	              "tsv", what, quiet);
	free(ntok);
	free(key);
}

int rt_cmd_fasta(const char *cmd, int argc, char **argv)
{
	Opt opts[O_COUNT] = {
		[O_FASTA] = {"--fasta", "-f", NULL, false},
		[O_OUT] = {"--output", "-o", NULL, false},
		[O_POOL] = {"--pool", NULL, NULL, false},
		[O_WINDOW] = {"--window", "-w", NULL, false},
		[O_STRIDE] = {"--stride", "-s", NULL, false},
		[O_CASE] = {"--case", NULL, NULL, false},
		[O_NOSPECIAL] = {"--no-special-tokens", NULL, NULL, true},
		[O_THREADS] = {"--threads", "-j", NULL, false},
		[O_BATCH] = {"--batch", "-b", NULL, false},
		[O_QUIET] = {"--quiet", "-q", NULL, true},
		[O_TOKENS] = {"--tokens", "-t", NULL, false},
		[O_RESUME] = {"--resume", NULL, NULL, true},
		[O_REF] = {"--ref", "-r", NULL, false},
		[O_REGIONS] = {"--regions", NULL, NULL, false},
		[O_LAYER] = {"--layer", NULL, NULL, false},
		[O_RAGGED] = {"--ragged", NULL, NULL, true},
		[O_RC] = {"--rc", NULL, NULL, false},
		[O_PER_BASE] = {"--per-base", NULL, NULL, true},
		[O_PROGRESS] = {"--progress", NULL, NULL, true},
	};
	const int64_t max_len = hyenac_meta[HYRT_META_MAX_LEN];
	const bool score = strcmp(cmd, "score") == 0;
	const bool classify = strcmp(cmd, "classify") == 0;
	const bool tsv_only = score || classify; /* -o names the TSV */
	HyrtFastaOptions fo;
	Ctx c = {0};
	Outputs out;
	Progress pr = {0};
	HyrtBlob w;
	Diag d;
	char why[160];
	char *tsv_path;

	rt_parse_opts(cmd, argc, argv, opts, O_COUNT);
	const bool regions = opts[O_REGIONS].value != NULL;
	if (opts[O_TOKENS].value)
		rt_usage("'%s' takes --%s or --tokens, not both", cmd,
		         regions ? "regions" : "fasta");
	if (regions && opts[O_FASTA].value)
		rt_usage("'%s' takes --fasta or --ref with --regions, not both",
		         cmd);
	if (regions && !opts[O_REF].value)
		rt_usage("--regions needs --ref GENOME.fa (plain or bgzip, "
		         "faidx-indexed or in a writable directory)");
	if (!regions && opts[O_REF].value)
		rt_usage("--ref goes with --regions R.bed");
	if (!regions && !opts[O_FASTA].value)
		rt_usage("'%s' needs --fasta FILE (FASTA, plain or gzip; - for "
		         "stdin)", cmd);
	c.per_base = opts[O_PER_BASE].value != NULL;
	if (c.per_base && !score)
		rt_usage("--per-base is for 'score', not '%s'", cmd);
	if (!opts[O_OUT].value)
		rt_usage("'%s' needs -o FILE.%s", cmd,
		         c.per_base ? "bedgraph" : tsv_only ? "tsv" : "npy");
	if (c.per_base && opts[O_RC].value)
		rt_usage("--per-base scores the forward strand only; leave out "
		         "--rc");
	if (classify)
		rt_need_classifier();
	if (score && hyenac_meta[HYRT_META_NOUTPUTS] < 2)
		rt_usage("model %s was compiled without its LM head, so it "
		         "cannot score; use 'embed'", hyenac_model_name);
	if (tsv_only && opts[O_POOL].value)
		rt_usage("--pool is for 'embed', not '%s'", cmd);
	if (tsv_only && opts[O_LAYER].value)
		rt_usage("--layer is for 'embed', not '%s'", cmd);
	if (tsv_only && opts[O_RAGGED].value)
		rt_usage("--ragged is for 'embed', not '%s'", cmd);
	c.layer = rt_parse_layer(opts[O_LAYER].value);
	c.states = rt_layer_count(c.layer);

	c.score = score;
	c.pool = opts[O_POOL].value ? rt_parse_pool(opts[O_POOL].value)
	                            : POOL_MEAN;
	if (classify)
		c.pool = POOL_CLASSIFY;
	c.ragged = opts[O_RAGGED].value != NULL;
	if (c.ragged && opts[O_POOL].value && c.pool != POOL_NONE)
		rt_usage("--ragged keeps every position: it goes with --pool "
		         "none, not --pool %s", opts[O_POOL].value);
	if (c.ragged)
		c.pool = POOL_NONE;
	if (opts[O_RC].value) {
		const char *v = opts[O_RC].value;
		if (classify)
			rt_usage("--rc is for 'embed' and 'score', not '%s'", cmd);
		if (strcmp(v, "mean") == 0)
			c.rc = RC_MEAN;
		else if (strcmp(v, "concat") == 0 && !score)
			c.rc = RC_CONCAT;
		else
			rt_usage("--rc takes mean%s, not '%s'",
			         score ? "" : " or concat", v);
		if (c.pool == POOL_NONE)
			rt_usage("--rc averages pooled rows: positions of the two "
			         "strands do not align; use --pool mean or last");
	}
	c.nlabels = hyenac_meta[HYRT_META_NUM_LABELS];
	c.special = opts[O_NOSPECIAL].value ? 0 : 1;
	fo = hyrt_fasta_default_options(max_len - c.special);
	fo.special_tokens = c.special != 0;
	if (opts[O_CASE].value) {
		const char *p = opts[O_CASE].value;
		if (strcmp(p, "strict") == 0)
			fo.case_mode = HYRT_CASE_STRICT;
		else if (strcmp(p, "upper") == 0)
			fo.case_mode = HYRT_CASE_UPPER;
		else
			rt_usage("--case takes strict or upper, not '%s'", p);
	}
	snprintf(why, sizeof why, "a window of W bases is W%s tokens and "
	         "this binary takes at most %" PRId64, c.special ? " + 1" : "",
	         max_len);
	if (max_len - c.special < 1)
		rt_usage("this binary takes %" PRId64 " token(s), no room for a "
		         "base and [SEP]; use --no-special-tokens", max_len);
	if (opts[O_WINDOW].value)
		fo.window = rt_parse_int("--window", opts[O_WINDOW].value, 1,
		                         max_len - c.special, why);
	fo.stride = opts[O_STRIDE].value
	    ? rt_parse_int("--stride", opts[O_STRIDE].value, 1, INT64_MAX / 4,
	                   "need >= 1")
	    : fo.window;
	c.threads = rt_thread_count(opts[O_THREADS].value);
	c.Wt = fo.window + c.special;
	c.batch = rt_batch_count(opts[O_BATCH].value, c.Wt);
	c.d = hyenac_meta[HYRT_META_D_MODEL];
	c.vocab_w = hyenac_meta[HYRT_META_VOCAB];
	c.vocab_size = hyenac_meta[HYRT_META_VOCAB_SIZE];
	const bool quiet = opts[O_QUIET].value != NULL;
	if (quiet && opts[O_PROGRESS].value)
		rt_usage("--quiet and --progress ask for opposite things; give "
		         "one");
	const char *fasta = regions ? opts[O_REGIONS].value : opts[O_FASTA].value;
	const char *ref = opts[O_REF].value;
	if (ref && strcmp(ref, "-") == 0)
		rt_usage("--ref must name a file (faidx reads it by offset), "
		         "not -");
	c.regions = regions;
	const char *shown = strcmp(fasta, "-") == 0 ? "<stdin>" : fasta;
	const bool resume = opts[O_RESUME].value != NULL;
	if (rt_argv_only)
		return 0;

	if (c.per_base) {
		rt_check_output(opts[O_OUT].value, "bedgraph|bg", true,
		                "score --per-base", fasta);
		if (ref)
			rt_check_output(opts[O_OUT].value, "bedgraph|bg", true,
			                "score --per-base", ref);
		tsv_path = strdup(opts[O_OUT].value);
	} else if (tsv_only) {
		rt_check_output(opts[O_OUT].value, "tsv", true, cmd, fasta);
		if (ref)
			rt_check_output(opts[O_OUT].value, "tsv", true, cmd, ref);
		tsv_path = strdup(opts[O_OUT].value);
	} else {
		rt_check_output(opts[O_OUT].value, "npy", false,
		                "embed --fasta", fasta);
		tsv_path = tsv_beside(opts[O_OUT].value);
		rt_check_output(tsv_path, "tsv", false, "embed --fasta", fasta);
		if (ref) {
			rt_check_output(opts[O_OUT].value, "npy", false, "embed", ref);
			rt_check_output(tsv_path, "tsv", false, "embed", ref);
		}
		diag_init(&d);
		if (tsv_path && !hyrt_out_distinct(opts[O_OUT].value, tsv_path,
		                                   &d))
			rt_usage("%s", d.msg);
	}
	if (!tsv_path)
		rt_fail("out of memory");
	/* rt_par_size() is the launcher's count until MPI starts: these
	 * checks come first, so that rank 0 alone says what all find */
	const bool sharded = rt_shard_wanted(resume);
	if (sharded && strcmp(fasta, "-") == 0)
		rt_usage("--%s -: %s reads it from a file (every rank reads it, "
		         "and a resumed run again)", regions ? "regions" : "fasta",
		         resume ? "--resume" : "a job of several ranks");
	if (sharded && strcmp(opts[O_OUT].value, "-") == 0)
		rt_usage("-o -: %s writes to a file (its journal goes beside it)",
		         resume ? "--resume" : "a job of several ranks");
	if (sharded && (c.layer != RT_LAYER_NONE || c.ragged || c.per_base))
		rt_usage("%s: %s writes the default outputs only, for now",
		         c.per_base ? "--per-base" : c.ragged ? "--ragged"
		                                              : "--layer",
		         resume ? "--resume" : "a job of several ranks");
	rt_par_begin();

	/* Everything the user can get wrong is checked; now the work. */
	hyrt_out_install_cleanup();
	rt_load_weights(&w);
	c.weights = w.data;
	hyrt_set_threads((int)c.threads);
	RtShards sh = {0};
	Reader scan = {.f = NULL};
	if (sharded)
		plan_fasta(&sh, &scan, cmd, &c, &fo, ref, fasta, shown,
		           opts[O_OUT].value, resume, quiet, w.data, w.bytes);

	Reader rd = {.idx = 0};
	diag_init(&rd.d);
	if (!sharded || rt_shard_any(&sh)) {
		if (regions)
			rd.rg = rt_regions_open(ref, fasta, &fo);
		else if (!(rd.f = hyrt_fasta_open(fasta, &fo, &rd.d)))
			rt_fail_diag(&rd.d);
	}

	Job *jobs = calloc((size_t)c.threads, sizeof *jobs);
	if (!jobs)
		rt_fail("out of memory");
	for (int64_t t = 0; t < c.threads; t++)
		job_alloc(&jobs[t], &c);

	struct stat st;
	/* no progress line for --regions (its reader gives no record
	 * count); sharded, rank 0's counts the plan's tokens */
	pr.on = (opts[O_PROGRESS].value || (!quiet && isatty(2))) &&
	        rt_par_rank() == 0 && !regions;
	pr.shards = sharded ? &sh : NULL;
	if (pr.on && !sharded && strcmp(fasta, "-") != 0 &&
	    stat(fasta, &st) == 0 && S_ISREG(st.st_mode))
		pr.total_tokens = count_tokens(fasta, &fo); /* a FIFO: not twice */
	pr.t0 = pr.last = rt_now_ms() * 1e-3;

	memset(&out, 0, sizeof out);
	if (!sharded) {
		open_outputs(&out, &c, classify, tsv_only, opts[O_OUT].value,
		             tsv_path);
		reader_next(&rd);
		run_windows(&c, jobs, &rd, 0, INT64_MAX, &out, &pr, shown);
		progress(&pr, rd.f, out.rows, rd.tokens, true);
	} else {
		if (rd.f || rd.rg)
			reader_next(&rd);
		for (int64_t i; (i = rt_shard_next(&sh)) >= 0;) {
			const RtShard *p = &sh.shard[i];
			Outputs piece = {0};
			HyrtOut *files[2] = {&piece.tsv, NULL};
			if (!tsv_only) {
				files[0] = &piece.npy;
				files[1] = &piece.tsv;
			}
			rt_shard_open(&sh, i, files);
			run_windows(&c, jobs, &rd, p->first, p->first + p->count,
			            &piece, &pr, shown);
			if (piece.rows != p->count)
				rt_fail("%s: has fewer windows than when the job was "
				        "planned (changed since?)", shown);
			rt_shard_commit(&sh, files);
		}
		rt_par_wait_all(tick, &pr);
		if (rt_par_rank() == 0) {
			progress(&pr, NULL, 0, 0, true);
			open_outputs(&out, &c, classify, tsv_only, opts[O_OUT].value,
			             tsv_path);
			HyrtOut *finals[2] = {&out.tsv, NULL};
			if (!tsv_only) {
				finals[0] = &out.npy;
				finals[1] = &out.tsv;
			}
			rt_shard_gather(&sh, finals);
			out.rows = sh.items;
		}
	}

	if (rt_par_rank() == 0) {
		if (!tsv_only) {
			/* [rows, (states,) Wt, d] or [rows, (states,) d] */
			int64_t dim[4] = {out.rows, c.states, c.Wt, c.d};
			int rank = c.pool == POOL_NONE ? 4 : 3;
			if (c.pool != POOL_NONE)
				dim[2] = c.rc == RC_CONCAT ? 2 * c.d : c.d;
			if (c.ragged) { /* [token rows, (states,) d] */
				dim[0] = out.token_rows;
				dim[2] = c.d;
				rank = 3;
			}
			if (c.layer != RT_LAYER_ALL) {
				memmove(&dim[1], &dim[2], 2 * sizeof *dim);
				rank--;
			}
			if (!npy_stream_finish(&out.npy, rank, dim, &d))
				rt_fail_diag(&d);
		}
		HyrtOut *commit[2] = {&out.tsv, &out.npy};
		if (!hyrt_out_commit(commit, tsv_only ? 1 : 2, &d))
			rt_fail_diag(&d);
		if (sharded)
			rt_shard_remove(&sh);
		/* the warnings read the whole input: the one reader that did */
		const Reader *all = sharded ? &scan : &rd;
		if (!quiet && all->rg)
			rt_regions_warn(all->rg);
		if (!quiet && all->f) {
			warn_unk(all->f, shown);
			if (hyrt_fasta_records(all->f) == 0)
				rt_warn("warning: %s has no records; the outputs have no "
				        "rows", shown);
			else if (hyrt_fasta_empty_records(all->f) > 0)
				rt_warn("warning: %" PRId64 " record(s) with no bases (the "
				        "first: '%s') have no rows",
				        hyrt_fasta_empty_records(all->f),
				        hyrt_fasta_first_empty(all->f));
		}
	}

	for (int64_t t = 0; t < c.threads; t++)
		job_free(&jobs[t]);
	free(jobs);
	free(out.bg_rec);
	free(tsv_path);
	for (Reader *r = &rd; r; r = r == &rd ? &scan : NULL) {
		if (r->f)
			hyrt_fasta_close(r->f);
		rt_regions_close(r->rg);
	}
	rt_shard_free(&sh);
	hyrt_blob_close(&w);
	return rt_finish();
}

/* ---- help ---------------------------------------------------------------- */

void rt_help_embed_fasta(void)
{
	printf("  embed  --fasta F.fa -o X.npy [--pool mean|last|none]\n"
	       "         [--layer K|all] [--window W] [--stride S] "
	       "[--case strict|upper]\n"
	       "         [--no-special-tokens] [--batch B] [--threads T] "
	       "[--quiet]\n"
	       "         [--progress] (the progress line even when stderr is "
	       "no terminal)\n"
	       "         [--resume]\n"
	       "         one row per window of each record, in file order: "
	       "float32\n"
	       "         [windows, %" PRId64 "] (mean, the default; last) or "
	       "[windows, W+1, %" PRId64 "]\n"
	       "         (none, short windows zero-padded); X.tsv beside it: "
	       "record,\n"
	       "         start, end, tokens. W defaults to %" PRId64 " (%"
	       PRId64 " with\n"
	       "         --no-special-tokens), S to W. --ragged (--pool none): "
	       "every\n"
	       "         window's positions one after another, [tokens, %"
	       PRId64 "], no padding;\n"
	       "         X.tsv's last column, row, is a window's first row.\n"
	       "         --rc mean|concat: pooled rows of both strands "
	       "(reverse complement),\n"
	       "         averaged or side by side [windows, %" PRId64 "]\n"
	       "  embed|score|classify --ref genome.fa --regions R.bed ...\n"
	       "         the same on BED intervals (chrom, start, end[, name];"
	       " plain,\n"
	       "         gzip or bgzip) of a faidx-indexed reference (plain or "
	       "bgzip):\n"
	       "         start and end are positions on chrom, and a name "
	       "column (BED's\n"
	       "         4th, or .) follows end\n",
	       hyenac_meta[HYRT_META_D_MODEL], hyenac_meta[HYRT_META_D_MODEL],
	       hyenac_meta[HYRT_META_MAX_LEN] - 1,
	       hyenac_meta[HYRT_META_MAX_LEN], hyenac_meta[HYRT_META_D_MODEL],
	       2 * hyenac_meta[HYRT_META_D_MODEL]);
}

void rt_help_score(void)
{
	if (hyenac_meta[HYRT_META_NOUTPUTS] >= 2)
		printf("  score  --fasta F.fa -o S.tsv [the same window options]\n"
		       "         (-o - writes the table to standard output)\n"
		       "         per window: record, start, end, tokens (scored),"
		       " sum_logp,\n"
		       "         mean_logp of each base given the bases before "
		       "it; --rc mean:\n"
		       "         the mean of both strands' sums (reverse "
		       "complement)\n"
		       "  score  --fasta F.fa --per-base -o T.bedgraph [window "
		       "options]\n"
		       "         each scored base's log p as a bedGraph line: "
		       "record, start,\n"
		       "         start + 1 (0-based), value; where windows "
		       "overlap (--stride < W)\n"
		       "         the earliest window's (the most context before "
		       "the base)\n");
}

void rt_help_classify_fasta(void)
{
	if (hyenac_meta[HYRT_META_NUM_LABELS] > 0)
		printf("  classify --fasta F.fa -o P.tsv [the same window "
		       "options]\n"
		       "         (-o - writes the table to standard output)\n"
		       "         per window: record, start, end, each label's "
		       "softmax\n"
		       "         probability (the column named by the label), "
		       "the predicted label\n");
}
