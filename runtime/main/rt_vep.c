/*
 * rt_vep.c - zero-shot variant effect scores of a model binary:
 *
 *   NAME vep --vcf V.vcf[.gz]|V.bcf --ref genome.fa[.gz] -o OUT
 *            [--window W] [--case strict|upper] [--threads T]
 *            [--batch N] [--quiet] [--resume]
 *
 * OUT (.vcf, .vcf.gz as BGZF, .bcf; - for VCF text on standard output)
 * is the input with three INFO fields per ALT allele (Number=A,
 * Type=Float): HYENA_REF_LL and HYENA_ALT_LL, the sum_logp `score`
 * gives the reference window and the alternate window, and HYENA_LLR,
 * alt minus ref. With p the 0-based position of the first REF base and
 * W the window (default: the compiled length less one, room for the
 * [SEP]), the reference window is [max(0, p - floor(W/2)), that + W)
 * clipped at the contig end (a clipped window is scored as it is); the
 * alternate window is the same interval with the REF bases replaced by
 * the ALT bases, so an indel makes it longer or shorter. The rule is the
 * issue's, fixed so that scores compare across tools and runs.
 *
 * What is not scored keeps its record, with '.' for its values and a
 * FILTER (declared in the header) naming why: HYENA_NO_CONTIG (the
 * reference lacks the contig), HYENA_REF_MISMATCH (REF is not the
 * reference's bases there, case aside, or runs off the contig),
 * HYENA_ALLELE_SKIPPED (an ALT that is symbolic, a breakend, '*' or
 * '.', or one whose REF does not fit in the window or whose alternate
 * window is longer than the binary takes: a long insertion at the
 * default W, which leaves no room; a smaller --window does). A record
 * with no ALT is written unchanged. One line of counts ends the run on
 * stderr (not with --quiet).
 *
 * Scoring is `score`'s, window for window (hyrt_window_logp in
 * runtime/score.c): the bases
 * tokenized as fasta.c does (A C G T N, anything else [UNK]; lowercase
 * [UNK] under --case strict, the default, as in the HF tokenizer),
 * [SEP] appended, each base but the first scored given those before it.
 * ALT bases are read uppercase (VCF alleles are case-insensitive); REF
 * is compared with the reference case-insensitively.
 *
 * Work: records are read into a chunk (a few rounds of threads x batch
 * windows; records at one position never straddle two chunks), each
 * record's windows are cut from the faidx-indexed reference (in this
 * thread: a faidx_t is not shared across threads), a reference window
 * already in the chunk (the other ALTs of a record, other records at
 * that position) is reused, the windows are sorted by length into
 * batches of equal length, and the batches run `threads` at a time on
 * the runtime's pool, as rt_fasta.c runs them; then the chunk's records
 * are written in input order. Memory is O(chunk), whatever the VCF.
 *
 * Under several MPI ranks, or with --resume, the records are sharded
 * (rt_shard.h; vep_sharded says how): the ranks score their shards'
 * records into the journal and rank 0 writes the output, byte for byte
 * one process's (VCF, BGZF or BCF), and the one line of counts.
 *
 * Inputs and outputs through htslib (libhts, linked dynamically): the
 * VCF/BCF (plain, gzip or BGZF; - for stdin; VCF text a line at a time,
 * so messages name the line, and a line of fewer than 8 columns or with
 * a NUL byte, which htslib would let pass, refused), the reference through
 * faidx (plain or BGZF; REF.fai, and REF.gzi for BGZF, made beside it
 * when missing, as samtools faidx makes them). htslib's own logging is
 * turned off: every failure is one line here, naming the file and the
 * record. The output is written to a temporary through outfile.c and
 * committed at the end: a failed run leaves nothing under its name.
 *
 * rt_cmd_vep checks the command line and maps the weights; rt_vep_run
 * is the work, given the forward to call (hyenac_run; a stub in
 * fuzz/fuzz_vcf.c), and rt_vep_abort frees a run that rt_exit_hook left.
 */
#include "rt_main.h"
#include "rt_par.h"
#include "rt_shard.h"

#include "runtime/fasta.h"
#include "runtime/outfile.h"
#include "runtime/score.h"

#include <htslib/faidx.h>
#include <htslib/hts.h>
#include <htslib/hts_log.h>
#include <htslib/vcf.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What became of a record (REC_OK: its alleles say). */
enum { REC_OK, REC_NOALT, REC_NO_CONTIG, REC_MISMATCH };

typedef struct Rec {
	bcf1_t *b;
	int64_t num;   /* 1-based record number, for messages */
	int status;
	int64_t first; /* its first allele in the chunk's allele arrays */
	int nalt;
} Rec;

/* What became of an ALT allele. */
enum { ALT_SCORED, ALT_SYMBOLIC, ALT_TOOLONG, ALT_NONE };

/* An ALT allele's windows (indices into the chunk's), -1: not scored. */
typedef struct Allele {
	int64_t ref, alt;
	int kind;
} Allele;

/* An ALT allele's outcome as it is written, and as a piece of a sharded
 * job's journal holds it (vep_sharded). */
typedef struct AltScore {
	int32_t kind, pad;
	double ref, alt; /* the sums of log p; ALT_SCORED only */
} AltScore;

/* A window to score: its tokens in the chunk's token arena. */
typedef struct Win {
	int64_t off, ntok;
	int rid;            /* ref windows: their key, for reuse */
	int64_t start, end; /* -1 for alt windows */
	double logp;
} Win;

typedef struct Chunk {
	Rec *rec;
	int64_t nrec, caprec;
	Allele *al; /* per ALT of the chunk's records */
	int64_t nal, capal;
	Win *win;
	int64_t nwin, capwin;
	int32_t *tok;
	int64_t ntok, captok;
	int64_t *order; /* windows sorted by length */
} Chunk;

typedef struct Vep Vep;

/* One batch: n windows of L tokens, run by one thread. */
typedef struct Job {
	const Vep *v;
	Win *wins;
	int64_t n, L;
	int64_t *idx;  /* [batch]: the windows */
	int32_t *tok;  /* [batch, Wt] */
	float *logits; /* [batch, Wt, V] */
	void *scratch;
	size_t scratch_cap;
} Job;

struct Vep {
	RtVepArgs a;      /* the run's arguments, as given */
	const char *mode; /* htslib's, for the output */
	bool bcf_out;
	htsFile *in, *out;
	HyrtOut o;      /* out's temporary */
	HyrtOut *piece; /* sharded: the shard's piece the records go to */
	AltScore *sbuf;
	int64_t scap;
	bcf1_t *next;   /* the record being read */
	Chunk ch;
	bool text;      /* VCF text: read a line at a time */
	kstring_t line;
	bcf_hdr_t *hdr;
	faidx_t *fai;
	int64_t Wt; /* a.max_bases + 1: a window's tokens at most */
	HyrtCase case_mode;
	unsigned char tokmap[256]; /* reference bytes to token ids */
	int flt_mismatch, flt_nocontig, flt_skipped;
	float *fbuf;
	int64_t fcap;
	Job *jobs;
	/* counts */
	int64_t records, noalt, nocontig, mismatch, scored, symbolic, toolong;
	int64_t windows, shared, bases, soft;
};

/* ---- options and names ---------------------------------------------------- */

enum {
	O_VCF, O_REF, O_OUT, O_WINDOW, O_CASE, O_THREADS, O_BATCH, O_QUIET,
	O_RESUME, O_COUNT
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The htslib mode for an output name, or exit 2 for a name that says
 * another kind. The extension rule is outfile.h's: what follows the
 * last '.' of the last component, a leading '.' not counting. */
static const char *out_mode(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');

	if (strcmp(path, "-") == 0 || !dot || dot == base)
		return "w";
	if (strcmp(dot, ".vcf") == 0)
		return "w";
	if (strcmp(dot, ".bcf") == 0)
		return "wb";
	if (strcmp(dot, ".gz") == 0 && ends_with(base, ".vcf.gz") &&
	    strlen(base) > 7)
		return "wz";
	rt_usage("%s: 'vep' writes VCF or BCF: name the output X.vcf, "
	         "X.vcf.gz or X.bcf (not '%s')", path, dot);
}

/* ---- tokens ---------------------------------------------------------------- */

/* fasta.c's mapping: A C G T N, anything else [UNK]; lowercase [UNK]
 * under strict. */
static void build_tokmap(unsigned char *m, HyrtCase mode)
{
	static const char bases[] = "ACGTN";

	for (int c = 0; c < 256; c++)
		m[c] = HYRT_TOK_UNK;
	for (int i = 0; bases[i]; i++) {
		m[(unsigned char)bases[i]] = (unsigned char)(HYRT_TOK_A + i);
		if (mode == HYRT_CASE_UPPER)
			m[tolower((unsigned char)bases[i])] =
			    (unsigned char)(HYRT_TOK_A + i);
	}
}

/* p with room for need elements; new ones zeroed. */
static void *grow(void *p, int64_t *cap, int64_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	int64_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(p, (size_t)n * elem);
	if (!q)
		rt_fail("out of memory");
	memset((char *)q + (size_t)*cap * elem, 0, (size_t)(n - *cap) * elem);
	*cap = n;
	return q;
}

/* A new window in the chunk: its token room (n bases + [SEP]). */
static int64_t new_win(Chunk *ch, int64_t nbases, int32_t **tok)
{
	ch->win = grow(ch->win, &ch->capwin, ch->nwin + 1, sizeof *ch->win);
	ch->tok = grow(ch->tok, &ch->captok, ch->ntok + nbases + 1,
	               sizeof *ch->tok);
	Win *w = &ch->win[ch->nwin];
	w->off = ch->ntok;
	w->ntok = nbases + 1;
	w->rid = -1;
	w->start = w->end = -1;
	w->logp = 0;
	ch->ntok += nbases + 1;
	*tok = ch->tok + w->off;
	(*tok)[nbases] = HYRT_TOK_SEP;
	return ch->nwin++;
}

/* ---- planning a record ------------------------------------------------------ */

static bool symbolic(const char *a)
{
	return a[0] == '<' || strchr(a, '[') || strchr(a, ']') ||
	       strcmp(a, "*") == 0 || strcmp(a, ".") == 0 || a[0] == 0;
}

static bool same_bases(const char *a, const char *b, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		if (toupper((unsigned char)a[i]) != toupper((unsigned char)b[i]))
			return false;
	return true;
}

/* The reference window [s, e) of contig rid: one already in the chunk,
 * else a new one from seq (the bases from s). */
static int64_t ref_window(Vep *v, Chunk *ch, int rid, int64_t s, int64_t e,
                          const char *seq)
{
	for (int64_t i = ch->nwin - 1; i >= 0; i--) {
		const Win *w = &ch->win[i];
		if (w->rid == rid && w->start == s && w->end == e) {
			v->shared++;
			return i;
		}
	}
	int32_t *t;
	int64_t k = new_win(ch, e - s, &t);
	ch->win[k].rid = rid;
	ch->win[k].start = s;
	ch->win[k].end = e;
	for (int64_t i = 0; i < e - s; i++) {
		unsigned char c = (unsigned char)seq[i];
		t[i] = v->tokmap[c];
		v->soft += v->case_mode == HYRT_CASE_STRICT &&
		           strchr("acgtn", c) && c;
	}
	v->bases += e - s;
	return k;
}

static void plan_record(Vep *v, Chunk *ch, Rec *r)
{
	bcf1_t *b = r->b;

	if (bcf_unpack(b, BCF_UN_STR) < 0)
		rt_fail("%s: record %" PRId64 ": cannot read its alleles",
		        v->a.vcf, r->num);
	r->nalt = b->n_allele > 0 ? b->n_allele - 1 : 0;
	r->first = ch->nal;
	r->status = REC_OK;
	ch->al = grow(ch->al, &ch->capal, ch->nal + r->nalt, sizeof *ch->al);
	for (int i = 0; i < r->nalt; i++) {
		ch->al[ch->nal + i].ref = ch->al[ch->nal + i].alt = -1;
		ch->al[ch->nal + i].kind = ALT_NONE;
	}
	ch->nal += r->nalt;
	if (r->nalt == 0) {
		r->status = REC_NOALT;
		v->noalt++;
		return;
	}

	const char *ctg = bcf_seqname_safe(v->hdr, b);
	int len = faidx_has_seq(v->fai, ctg) ? faidx_seq_len(v->fai, ctg) : -1;
	if (len < 0) {
		r->status = REC_NO_CONTIG;
		v->nocontig++;
		return;
	}
	const char *ref = b->d.allele[0];
	int64_t p = b->pos, rlen = (int64_t)strlen(ref);
	if (p < 0 || rlen < 1 || p + rlen > len) {
		r->status = REC_MISMATCH;
		v->mismatch++;
		return;
	}
	int64_t s = p - v->a.window / 2 > 0 ? p - v->a.window / 2 : 0;
	int64_t e = s + v->a.window < len ? s + v->a.window : len;
	int64_t fe = p + rlen > e ? p + rlen : e;
	hts_pos_t got = 0;
	char *seq = faidx_fetch_seq64(v->fai, ctg, s, fe - 1, &got);
	if (!seq || got != fe - s) {
		free(seq);
		rt_fail("%s: cannot read %s:%" PRId64 "-%" PRId64 " (the index "
		        "does not match the file? remake %s.fai)", v->a.ref,
		        ctg, s + 1, fe, v->a.ref);
	}
	if (!same_bases(seq + (p - s), ref, rlen)) {
		free(seq);
		r->status = REC_MISMATCH;
		v->mismatch++;
		return;
	}

	int64_t rw = -1;
	for (int i = 0; i < r->nalt; i++) {
		const char *a = b->d.allele[i + 1];
		int64_t alen = (int64_t)strlen(a);
		int64_t n = (e - s) - rlen + alen;
		if (symbolic(a)) {
			ch->al[r->first + i].kind = ALT_SYMBOLIC;
			v->symbolic++;
			continue;
		}
		if (p + rlen > e || n > v->a.max_bases) {
			ch->al[r->first + i].kind = ALT_TOOLONG;
			v->toolong++;
			continue;
		}
		if (rw < 0)
			rw = ref_window(v, ch, b->rid, s, e, seq);
		int32_t *t;
		int64_t k = new_win(ch, n, &t);
		int64_t pre = p - s, j = 0;
		for (int64_t q = 0; q < pre; q++)
			t[j++] = v->tokmap[(unsigned char)seq[q]];
		for (int64_t q = 0; q < alen; q++)
			t[j++] = v->tokmap[toupper((unsigned char)a[q])];
		for (int64_t q = pre + rlen; q < e - s; q++)
			t[j++] = v->tokmap[(unsigned char)seq[q]];
		HY_ASSERT(j == n);
		ch->al[r->first + i].ref = rw;
		ch->al[r->first + i].alt = k;
		ch->al[r->first + i].kind = ALT_SCORED;
		v->scored++;
	}
	free(seq);
}

/* ---- running the windows ----------------------------------------------------- */

static void run_job(Job *j)
{
	const Vep *v = j->v;
	float *out[2] = {NULL, j->logits};

	v->a.forward(v->a.weights, j->tok, j->n, j->L, out, j->scratch);
	const int64_t V = v->a.vocab_width;
	for (int64_t i = 0; i < j->n; i++)
		j->wins[j->idx[i]].logp =
		    hyrt_window_logp(j->logits + i * j->L * V,
		                     j->tok + i * j->L, j->L - 2, V, NULL);
}

static void run_job_range(void *ctx, int64_t lo, int64_t hi)
{
	Job *jobs = ctx;

	for (int64_t i = lo; i < hi; i++)
		run_job(&jobs[i]);
}

/* rt_fasta.c's scheme: n jobs on the pool, each forward inline on its
 * thread; a lone job here, its forward split over the whole pool.
 * Scratch is grown in this thread, so running out of memory is
 * reported, not hit inside a worker. */
static void run_jobs(Job *jobs, int n)
{
	for (int i = 0; i < n; i++) {
		size_t need = jobs[i].v->a.scratch_bytes(jobs[i].n, jobs[i].L);
		if (!jobs[i].scratch || need > jobs[i].scratch_cap) {
			free(jobs[i].scratch);
			jobs[i].scratch = rt_xalloc(need, "activations");
			jobs[i].scratch_cap = need;
		}
	}
	if (n == 1)
		run_job(&jobs[0]);
	else
		hyrt_parallel_for(run_job_range, jobs, n, 1);
}

static const Win *sort_wins;

static int by_length(const void *a, const void *b)
{
	const Win *x = &sort_wins[*(const int64_t *)a];
	const Win *y = &sort_wins[*(const int64_t *)b];
	if (x->ntok != y->ntok)
		return x->ntok < y->ntok ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

static void score_chunk(Vep *v, Chunk *ch)
{
	ch->order = malloc(sizeof *ch->order * (size_t)(ch->nwin + 1));
	if (!ch->order)
		rt_fail("out of memory");
	for (int64_t i = 0; i < ch->nwin; i++)
		ch->order[i] = i;
	sort_wins = ch->win;
	qsort(ch->order, (size_t)ch->nwin, sizeof *ch->order, by_length);
	v->windows += ch->nwin;

	int64_t i = 0;
	while (i < ch->nwin) {
		int nj = 0;
		for (; nj < v->a.threads && i < ch->nwin; nj++) {
			Job *j = &v->jobs[nj];
			j->wins = ch->win;
			j->n = 0;
			j->L = ch->win[ch->order[i]].ntok;
			while (i < ch->nwin && j->n < v->a.batch &&
			       ch->win[ch->order[i]].ntok == j->L) {
				const Win *w = &ch->win[ch->order[i]];
				memcpy(j->tok + j->n * j->L, ch->tok + w->off,
				       (size_t)j->L * sizeof(int32_t));
				j->idx[j->n++] = ch->order[i++];
			}
		}
		run_jobs(v->jobs, nj);
	}
	free(ch->order);
	ch->order = NULL;
}

/* ---- writing ------------------------------------------------------------------- */

/* Record b (number num) with its alleles' outcomes sc[nalt]: the INFO
 * fields and the FILTER set, the record written. One process, and rank 0
 * of a sharded job, write every record through here. */
static void write_scores(Vep *v, bcf1_t *b, int64_t num, int status,
                         int nalt, const AltScore *sc)
{
	static const char *const names[3] = {"HYENA_LLR", "HYENA_REF_LL",
	                                     "HYENA_ALT_LL"};

	if (nalt > 0) {
		v->fbuf = grow(v->fbuf, &v->fcap, 3 * (int64_t)nalt,
		               sizeof *v->fbuf);
		float *llr = v->fbuf, *rl = llr + nalt, *al = rl + nalt;
		bool skipped = false;
		for (int i = 0; i < nalt; i++) {
			if (sc[i].kind != ALT_SCORED) {
				bcf_float_set_missing(llr[i]);
				bcf_float_set_missing(rl[i]);
				bcf_float_set_missing(al[i]);
				skipped = true;
				continue;
			}
			double ra = sc[i].ref, aa = sc[i].alt;
			llr[i] = (float)(aa - ra);
			rl[i] = (float)ra;
			al[i] = (float)aa;
		}
		for (int k = 0; k < 3; k++)
			if (bcf_update_info_float(v->hdr, b, names[k],
			                          v->fbuf + k * nalt, nalt) < 0)
				rt_fail("%s: record %" PRId64 ": cannot set %s",
				        v->a.vcf, num, names[k]);
		int flt = status == REC_NO_CONTIG ? v->flt_nocontig
		        : status == REC_MISMATCH  ? v->flt_mismatch
		        : skipped                 ? v->flt_skipped
		                                  : -1;
		if (flt >= 0 && bcf_add_filter(v->hdr, b, flt) < 0)
			rt_fail("%s: record %" PRId64 ": cannot set its FILTER",
			        v->a.vcf, num);
	}
	if (bcf_write(v->out, v->hdr, b) < 0)
		rt_fail("%s: write error at record %" PRId64 " (%s:%" PRId64 ")",
		        v->a.out, num, bcf_seqname_safe(v->hdr, b),
		        (int64_t)b->pos + 1);
}

/* A piece's entry for a record: its status and ALT count, then an
 * AltScore per ALT; a piece ends with an entry of status -1 and the
 * shard's window counts (windows, shared, bases, soft). Native byte
 * order: the ranks of one job run the same binary. */
static void put_entry(Vep *v, int32_t status, int32_t nalt, const void *p,
                      size_t n)
{
	int32_t head[2] = {status, nalt};
	Diag d;

	diag_init(&d);
	if (!hyrt_out_write(v->piece, head, sizeof head, &d) ||
	    !hyrt_out_write(v->piece, p, n, &d))
		rt_fail_diag(&d);
}

/* The chunk scored, then each record written (or, sharded, its entry
 * put in the shard's piece), in input order. */
static void flush_chunk(Vep *v, Chunk *ch)
{
	score_chunk(v, ch);
	for (int64_t i = 0; i < ch->nrec; i++) {
		Rec *r = &ch->rec[i];
		v->sbuf = grow(v->sbuf, &v->scap, r->nalt + 1, sizeof *v->sbuf);
		for (int k = 0; k < r->nalt; k++) {
			const Allele *a = &ch->al[r->first + k];
			AltScore *sc = &v->sbuf[k];
			sc->kind = a->kind;
			sc->pad = 0;
			sc->ref = a->kind == ALT_SCORED ? ch->win[a->ref].logp : 0;
			sc->alt = a->kind == ALT_SCORED ? ch->win[a->alt].logp : 0;
		}
		if (v->piece)
			put_entry(v, r->status, r->nalt, v->sbuf,
			          (size_t)r->nalt * sizeof *v->sbuf);
		else
			write_scores(v, r->b, r->num, r->status, r->nalt, v->sbuf);
	}
	ch->nrec = ch->nal = ch->nwin = ch->ntok = 0;
}

/* ---- reading ------------------------------------------------------------------- */

/* Why htslib refused a record, from its errcode bits. */
static const char *parse_error(int code)
{
	if (code & BCF_ERR_NCOLS)
		return "too few columns (a VCF record has at least 8, "
		       "tab-separated)";
	if (code & BCF_ERR_CHAR)
		return "an invalid character";
	if (code & BCF_ERR_CTG_INVALID)
		return "an invalid contig name";
	if (code & BCF_ERR_TAG_INVALID)
		return "an invalid INFO or FORMAT tag";
	if (code & BCF_ERR_LIMITS)
		return "a value out of htslib's limits";
	return "htslib cannot parse it";
}

/* VCF text a line at a time (htslib counts the lines, so a message
 * names one), checked for the 8 columns htslib would let pass, blank
 * lines skipped; 0, -1
 * at the end, < -1 on a read error. */
static int read_vcf_line(Vep *v, bcf1_t *b)
{
	int r;
	do /* blank lines (a trailing one, say) are no records */
		r = hts_getline(v->in, '\n', &v->line);
	while (r >= 0 && v->line.l == 0);
	if (r < 0)
		return r;
	/* htslib takes a NUL inside a field and writes a BCF it then
	 * cannot read back (fuzz/corpus/vcf/regress-nul) */
	if (strlen(v->line.s) != v->line.l)
		rt_fail("%s: line %" PRId64 ": a NUL byte", v->a.vcf,
		        (int64_t)v->in->lineno);
	int tabs = 0;
	for (size_t i = 0; i < v->line.l; i++)
		tabs += v->line.s[i] == '\t';
	if (tabs < 7)
		rt_fail("%s: line %" PRId64 ": %d column(s); a VCF record has at "
		        "least 8, tab-separated", v->a.vcf,
		        (int64_t)v->in->lineno, tabs + 1);
	if (vcf_parse(&v->line, v->hdr, b) < 0 && !b->errcode)
		b->errcode = BCF_ERR_CHAR;
	return 0;
}

/* The next record into b: true, or false at the end; exit 1 on a bad
 * one, naming the file and the record (and the line of VCF text). */
static bool read_record(Vep *v, bcf1_t *b, int64_t num)
{
	int r = v->text ? read_vcf_line(v, b) : bcf_read(v->in, v->hdr, b);
	char where[64];

	if (r == -1)
		return false;
	if (v->text)
		snprintf(where, sizeof where, "line %" PRId64,
		         (int64_t)v->in->lineno);
	else
		snprintf(where, sizeof where, "record %" PRId64, num);
	if (r < -1 || (b->errcode & ~(BCF_ERR_CTG_UNDEF | BCF_ERR_TAG_UNDEF)))
		rt_fail("%s: %s: %s", v->a.vcf, where,
		        r < -1 && !b->errcode ? "truncated or corrupt"
		                              : parse_error(b->errcode));
	if (b->errcode && v->bcf_out)
		rt_fail("%s: %s (%s:%" PRId64 "): %s not declared "
		        "in the header, which BCF output needs; declare it or "
		        "write .vcf", v->a.vcf, where, bcf_seqname_safe(v->hdr, b),
		        (int64_t)b->pos + 1, (b->errcode & BCF_ERR_CTG_UNDEF)
		                                 ? "its contig is"
		                                 : "a tag it uses is");
	return true;
}

/* ---- the reference --------------------------------------------------------------- */

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Open the reference through faidx, making its index when missing
 * (rt_main.h). Nothing is left allocated when it fails. */
faidx_t *rt_faidx_open(const char *path)
{
	char fai[4096], gzi[4096];

	if (strlen(path) > sizeof fai - 5)
		rt_fail("%s: path too long", path);
	snprintf(fai, sizeof fai, "%s.fai", path);
	snprintf(gzi, sizeof gzi, "%s.gzi", path);
	errno = 0;
	htsFile *f = hts_open(path, "r");
	if (!f)
		rt_fail("%s: cannot open: %s", path, strerror(errno ? errno
		                                                    : EINVAL));
	const htsFormat *fmt = hts_get_format(f);
	enum htsCompression comp = fmt->compression;
	enum htsExactFormat ef = fmt->format;
	hts_close(f);
	if (comp == gzip)
		rt_fail("%s: gzip but not bgzip; faidx needs BGZF (zcat %s | "
		        "bgzip > genome.fa.gz)", path, path);
	if (comp != no_compression && comp != bgzf)
		rt_fail("%s: compressed in a way faidx cannot read (plain or "
		        "bgzip FASTA only)", path);
	if (ef != fasta_format && ef != unknown_format && ef != text_format)
		rt_fail("%s: not FASTA", path);

	if (!exists(fai) || (comp == bgzf && !exists(gzi))) {
		errno = 0;
		if (fai_build3(path, NULL, NULL) != 0) {
			int e = errno;
			if (e == EACCES || e == EROFS || e == EPERM)
				rt_fail("%s: has no index %s and cannot make one (%s): "
				        "run 'samtools faidx %s' where it can be written",
				        path, fai, strerror(e), path);
			rt_fail("%s: faidx cannot index it (it wants FASTA whose "
			        "lines are of one length within each record, plain "
			        "or bgzip)", path);
		}
	}
	faidx_t *x = fai_load3(path, NULL, NULL, 0);
	if (!x)
		rt_fail("%s: cannot read its index %s", path, fai);
	return x;
}

/* ---- the header -------------------------------------------------------------------- */

static void add_header(Vep *v)
{
	char line[512], name[128];
	size_t k = 0;

	for (const char *p = v->a.model; *p && k < sizeof name - 1; p++)
		name[k++] = isalnum((unsigned char)*p) || strchr("._-", *p)
		                ? *p : '_';
	name[k] = 0;
	static const char *const lines[] = {
		"##INFO=<ID=HYENA_LLR,Number=A,Type=Float,Description=\"HyenaDNA "
		"log-likelihood ratio of the ALT allele: HYENA_ALT_LL minus "
		"HYENA_REF_LL (natural log; negative: the model finds the ALT "
		"less likely)\">",
		"##INFO=<ID=HYENA_REF_LL,Number=A,Type=Float,Description=\"HyenaDNA "
		"sum of log p of each base given the bases before it, over the "
		"reference window: W bases from POS-1-floor(W/2), clipped at the "
		"contig ends\">",
		"##INFO=<ID=HYENA_ALT_LL,Number=A,Type=Float,Description=\"The same "
		"over the reference window with REF replaced by the ALT allele\">",
		"##FILTER=<ID=HYENA_REF_MISMATCH,Description=\"REF does not match "
		"the reference genome (or runs off its contig): no HyenaDNA "
		"scores\">",
		"##FILTER=<ID=HYENA_NO_CONTIG,Description=\"The reference genome "
		"lacks this contig: no HyenaDNA scores\">",
		"##FILTER=<ID=HYENA_ALLELE_SKIPPED,Description=\"An ALT allele is "
		"symbolic, a breakend, * or missing, or makes a window longer than "
		"the model takes: that allele has no HyenaDNA scores\">",
	};
	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
		if (bcf_hdr_append(v->hdr, lines[i]) < 0)
			rt_fail("%s: cannot add to its header", v->a.vcf);
	snprintf(line, sizeof line, "##hyena_vep=<Model=%s,Window=%" PRId64
	         ",Case=%s>", name, v->a.window,
	         v->case_mode == HYRT_CASE_UPPER ? "upper" : "strict");
	if (bcf_hdr_append(v->hdr, line) < 0 || bcf_hdr_sync(v->hdr) < 0)
		rt_fail("%s: cannot add to its header", v->a.vcf);
	static const char *const info[] = {"HYENA_LLR", "HYENA_REF_LL",
	                                   "HYENA_ALT_LL"};
	for (int i = 0; i < 3; i++) {
		int id = bcf_hdr_id2int(v->hdr, BCF_DT_ID, info[i]);
		if (!bcf_hdr_idinfo_exists(v->hdr, BCF_HL_INFO, id) ||
		    bcf_hdr_id2type(v->hdr, BCF_HL_INFO, id) != BCF_HT_REAL ||
		    bcf_hdr_id2length(v->hdr, BCF_HL_INFO, id) != BCF_VL_A)
			rt_fail("%s: its header declares INFO %s other than "
			        "Number=A,Type=Float; remove that line", v->a.vcf,
			        info[i]);
	}
	v->flt_mismatch = bcf_hdr_id2int(v->hdr, BCF_DT_ID,
	                                 "HYENA_REF_MISMATCH");
	v->flt_nocontig = bcf_hdr_id2int(v->hdr, BCF_DT_ID, "HYENA_NO_CONTIG");
	v->flt_skipped = bcf_hdr_id2int(v->hdr, BCF_DT_ID,
	                                "HYENA_ALLELE_SKIPPED");
	if (!bcf_hdr_idinfo_exists(v->hdr, BCF_HL_FLT, v->flt_mismatch) ||
	    !bcf_hdr_idinfo_exists(v->hdr, BCF_HL_FLT, v->flt_nocontig) ||
	    !bcf_hdr_idinfo_exists(v->hdr, BCF_HL_FLT, v->flt_skipped))
		rt_fail("%s: cannot declare the HYENA_* FILTERs in its header",
		        v->a.vcf);
}

/* ---- the run ------------------------------------------------------------------------ */

/* The run under way, for rt_vep_abort. */
static Vep *live;

static void vep_free(Vep *v)
{
	Chunk *ch = &v->ch;

	if (v->out)
		hts_close(v->out);
	hyrt_out_abort(&v->o);
	for (int64_t i = 0; i < ch->caprec; i++)
		if (ch->rec[i].b)
			bcf_destroy(ch->rec[i].b);
	if (v->next)
		bcf_destroy(v->next);
	free(ch->rec);
	free(ch->al);
	free(ch->win);
	free(ch->tok);
	free(ch->order);
	for (int64_t t = 0; v->jobs && t < v->a.threads; t++) {
		free(v->jobs[t].idx);
		free(v->jobs[t].tok);
		free(v->jobs[t].logits);
		free(v->jobs[t].scratch);
	}
	free(v->jobs);
	free(v->fbuf);
	free(v->sbuf);
	free(v->line.s);
	if (v->hdr)
		bcf_hdr_destroy(v->hdr);
	if (v->in)
		hts_close(v->in);
	if (v->fai)
		fai_destroy(v->fai);
	free(v);
}

void rt_vep_abort(void)
{
	if (live)
		vep_free(live);
	live = NULL;
}

/* Open the VCF for a pass from its first record: v->in, v->text and
 * v->hdr with our lines (the reference too, the first time, after the
 * VCF's header as the messages have always come). */
static void open_vcf(Vep *v)
{
	errno = 0;
	v->in = hts_open(v->a.vcf, "r");
	if (!v->in)
		rt_fail("%s: cannot open: %s", v->a.vcf,
		        strerror(errno ? errno : EINVAL));
	if (hts_get_format(v->in)->category != variant_data) {
		char *desc = hts_format_description(hts_get_format(v->in));
		char shown[128];
		snprintf(shown, sizeof shown, "%s", desc ? desc : "something else");
		free(desc);
		rt_fail("%s: not VCF or BCF (htslib reads it as %s)", v->a.vcf,
		        shown);
	}
	v->text = hts_get_format(v->in)->format == vcf;
	v->hdr = bcf_hdr_read(v->in);
	if (!v->hdr)
		rt_fail("%s: its VCF header is malformed or truncated (it needs "
		        "##fileformat and a #CHROM line)", v->a.vcf);
	if (!v->fai)
		v->fai = rt_faidx_open(v->a.ref);
	add_header(v);
}

static void close_vcf(Vep *v)
{
	bcf_hdr_destroy(v->hdr);
	v->hdr = NULL;
	hts_close(v->in);
	v->in = NULL;
}

/* The output's temporary, opened with the header (v->hdr as the pass
 * that writes the records has it before its first record). */
static void open_output(Vep *v)
{
	Diag d;

	diag_init(&d);
	if (!hyrt_out_open(&v->o, v->a.out, &d))
		rt_fail_diag(&d);
	fflush(v->o.f);
	v->out = hts_open(v->o.std ? "-" : v->o.tmp, v->mode);
	if (!v->out)
		rt_fail("%s: cannot write: %s", v->a.out, strerror(errno));
	if (bcf_hdr_write(v->out, v->hdr) < 0)
		rt_fail("%s: write error (the header)", v->a.out);
}

static void commit_output(Vep *v)
{
	Diag d;

	int closed = hts_close(v->out);
	v->out = NULL;
	if (closed != 0)
		rt_fail("%s: write error: %s", v->a.out, strerror(errno));
	HyrtOut *commit[1] = {&v->o};
	diag_init(&d);
	if (!hyrt_out_commit(commit, 1, &d))
		rt_fail_diag(&d);
}

/* Records of the pass into chunks up to record number last (*num: the
 * records read so far), each chunk flushed when full and at the end.
 * Chunks of a few rounds of batches (one round when long windows would
 * make the chunk's tokens pass 2^26); records at one position stay
 * together (their shared reference window is computed once). False when
 * the input ends before last. */
static bool run_records(Vep *v, int64_t *num, int64_t last)
{
	Chunk *ch = &v->ch;
	const int64_t round = v->a.threads * v->a.batch;
	int64_t target = ((int64_t)1 << 26) / v->Wt;
	bool more = true;

	target = target > 4 * round ? 4 * round : target < round ? round : target;
	while (*num < last && (more = read_record(v, v->next, *num + 1))) {
		(*num)++;
		v->records++;
		if (ch->nwin >= target && ch->nrec > 0) {
			const bcf1_t *prev = ch->rec[ch->nrec - 1].b;
			if (prev->rid != v->next->rid || prev->pos != v->next->pos ||
			    ch->nwin >= 4 * target)
				flush_chunk(v, ch);
		}
		ch->rec = grow(ch->rec, &ch->caprec, ch->nrec + 1, sizeof *ch->rec);
		Rec *r = &ch->rec[ch->nrec++];
		bcf1_t *spare = r->b; /* a record of an earlier chunk, or NULL */
		r->b = v->next;
		r->num = *num;
		v->next = spare ? spare : bcf_init();
		if (!v->next)
			rt_fail("out of memory");
		plan_record(v, ch, r);
	}
	flush_chunk(v, ch);
	return more;
}

/* ---- sharded: several ranks, or --resume ------------------------------------- */

/* A job of several ranks (or --resume) shards the records (rt_shard.h).
 * Rank 0 reads the VCF once for the plan: each record's cost in tokens
 * (its reference window and each ALT's, as plan_record would cut them;
 * 1 for a record with none) and the key: the binary, the options that
 * change a byte (window, case), the VCF's and the reference's bytes
 * (CRC-32s). Each rank then reads the VCF itself, reads past the records
 * of other ranks' shards and runs the records of its own through the
 * chunks of one process (so a reference window shared within a shard is
 * computed once), putting each record's outcome (AltScore) in the
 * shard's piece, not its bytes: rank 0 reads the VCF once more and
 * writes every record through write_scores, as one process does, taking
 * the outcomes from the pieces in shard order. The output (VCF, BGZF or
 * BCF) is thus written, and compressed, by the code of one process, in
 * one stream: its bytes are one process's whatever the format and
 * htslib's block boundaries. The counts are the pieces' (windows run and
 * shared differ from one process's where a shard boundary splits
 * records that share a window). */

/* n bytes and the CRC-32 of the file at path (exit 1 when unreadable). */
static uint32_t file_crc(const char *path, int64_t *n)
{
	static unsigned char buf[1 << 16];
	uint32_t crc = 0;
	size_t k;
	FILE *f = fopen(path, "rb");

	if (!f)
		rt_fail("%s: cannot open: %s", path, strerror(errno));
	*n = 0;
	while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
		crc = rt_shard_crc(crc, buf, k);
		*n += (int64_t)k;
	}
	if (ferror(f))
		rt_fail("%s: read error", path);
	fclose(f);
	return crc;
}

/* A record's cost in tokens, as plan_record would cut its windows (the
 * REF is not compared: that reads the reference). */
static int32_t record_cost(Vep *v, bcf1_t *b, int64_t num)
{
	if (bcf_unpack(b, BCF_UN_STR) < 0)
		rt_fail("%s: record %" PRId64 ": cannot read its alleles",
		        v->a.vcf, num);
	const char *ctg = bcf_seqname_safe(v->hdr, b);
	int len = b->n_allele > 1 && faidx_has_seq(v->fai, ctg)
	              ? faidx_seq_len(v->fai, ctg) : -1;
	if (len < 0)
		return 1;
	int64_t p = b->pos, rlen = (int64_t)strlen(b->d.allele[0]);
	if (p < 0 || rlen < 1 || p + rlen > len)
		return 1;
	int64_t s = p - v->a.window / 2 > 0 ? p - v->a.window / 2 : 0;
	int64_t e = s + v->a.window < len ? s + v->a.window : len;
	int64_t cost = 1, refw = 0;
	for (int i = 1; i < b->n_allele; i++) {
		const char *a = b->d.allele[i];
		int64_t n = (e - s) - rlen + (int64_t)strlen(a);
		if (symbolic(a) || p + rlen > e || n > v->a.max_bases)
			continue;
		refw = e - s + 1;
		cost += n + 1;
	}
	cost += refw;
	return cost > INT32_MAX ? INT32_MAX : (int32_t)cost;
}

/* Rank 0: the records' costs (*n of them) and the key. */
static int32_t *plan_scan(Vep *v, int64_t *n, char **key,
                          const RtVepArgs *a)
{
	int32_t *cost = NULL;
	int64_t cap = 0, vbytes, rbytes;

	*n = 0;
	while (read_record(v, v->next, *n + 1)) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 1024;
			cost = realloc(cost, (size_t)cap * sizeof *cost);
			if (!cost)
				rt_fail("out of memory");
		}
		cost[*n] = record_cost(v, v->next, *n + 1);
		(*n)++;
	}
	uint32_t vcrc = file_crc(v->a.vcf, &vbytes);
	uint32_t rcrc = file_crc(v->a.ref, &rbytes);
	char *bin = rt_shard_key_binary(a->weights, a->weights_bytes);
	if (asprintf(key, "%scommand vep\nwindow %" PRId64 " bases of %" PRId64
	             " at most, case %s\nvcf %" PRId64 " records, %" PRId64
	             " bytes crc32 %08" PRIx32 "\nreference %" PRId64 " bytes "
	             "crc32 %08" PRIx32 "\n", bin, v->a.window, v->a.max_bases,
	             v->case_mode == HYRT_CASE_UPPER ? "upper" : "strict", *n,
	             vbytes, vcrc, rbytes, rcrc) < 0)
		rt_fail("out of memory");
	free(bin);
	return cost;
}

/* This rank's shards, each into its piece. */
static void run_shards(Vep *v, RtShards *s)
{
	int64_t num = 0;

	for (int64_t i; (i = rt_shard_next(s)) >= 0;) {
		const RtShard *p = &s->shard[i];
		HyrtOut piece = {0}, *files[1] = {&piece};
		for (; num < p->first; num++) /* other ranks' records */
			if (!read_record(v, v->next, num + 1))
				break;
		rt_shard_open(s, i, files);
		v->piece = &piece;
		int64_t before[4] = {v->windows, v->shared, v->bases, v->soft};
		if (num < p->first || !run_records(v, &num, p->first + p->count))
			rt_fail("%s: has fewer records than when the job was planned "
			        "(changed since?)", v->a.vcf);
		int64_t counts[4] = {v->windows - before[0], v->shared - before[1],
		                     v->bases - before[2], v->soft - before[3]};
		put_entry(v, -1, 0, counts, sizeof counts);
		v->piece = NULL;
		rt_shard_commit(s, files);
	}
}

/* Read n bytes of piece f (path) or exit 1: it is damaged. */
static void read_piece(FILE *f, const char *path, const char *dir, void *p,
                       size_t n)
{
	if (fread(p, 1, n, f) != n)
		rt_fail("%s: a damaged piece of the journal (%s); remove the "
		        "journal %s to start over", path,
		        ferror(f) ? "read error" : "cut short", dir);
}

/* Rank 0, once every shard is finished: the output, every record
 * written with its outcome from the pieces, the counts theirs. */
static void write_gathered(Vep *v, RtShards *s)
{
	int64_t num = 0;

	open_vcf(v);
	open_output(v);
	v->records = v->noalt = v->nocontig = v->mismatch = v->scored = 0;
	v->symbolic = v->toolong = 0;
	v->windows = v->shared = v->bases = v->soft = 0;
	for (int64_t i = 0; i < s->n; i++) {
		char *path;
		FILE *f = rt_shard_read(s, i, 0, &path);
		int32_t head[2];
		for (int64_t j = 0; j < s->shard[i].count; j++) {
			bcf1_t *b = v->next;
			if (!read_record(v, b, num + 1))
				rt_fail("%s: has fewer records than when the job was "
				        "planned (changed since?)", v->a.vcf);
			num++;
			v->records++;
			if (bcf_unpack(b, BCF_UN_STR) < 0)
				rt_fail("%s: record %" PRId64 ": cannot read its alleles",
				        v->a.vcf, num);
			int nalt = b->n_allele > 0 ? b->n_allele - 1 : 0;
			read_piece(f, path, s->dir, head, sizeof head);
			if (head[1] != nalt || head[0] < REC_OK ||
			    head[0] > REC_MISMATCH)
				rt_fail("%s: record %" PRId64 " does not match the "
				        "journal's (changed since?); remove the journal "
				        "%s to start over", v->a.vcf, num, s->dir);
			v->sbuf = grow(v->sbuf, &v->scap, nalt + 1, sizeof *v->sbuf);
			read_piece(f, path, s->dir, v->sbuf,
			           (size_t)nalt * sizeof *v->sbuf);
			v->noalt += head[0] == REC_NOALT;
			v->nocontig += head[0] == REC_NO_CONTIG;
			v->mismatch += head[0] == REC_MISMATCH;
			for (int k = 0; k < nalt; k++) {
				v->scored += v->sbuf[k].kind == ALT_SCORED;
				v->symbolic += v->sbuf[k].kind == ALT_SYMBOLIC;
				v->toolong += v->sbuf[k].kind == ALT_TOOLONG;
			}
			write_scores(v, b, num, head[0], nalt, v->sbuf);
		}
		int64_t counts[4];
		read_piece(f, path, s->dir, head, sizeof head);
		if (head[0] != -1 || head[1] != 0)
			rt_fail("%s: a damaged piece of the journal (more records "
			        "than its shard); remove the journal %s to start over",
			        path, s->dir);
		read_piece(f, path, s->dir, counts, sizeof counts);
		if (fgetc(f) != EOF)
			rt_fail("%s: a damaged piece of the journal (bytes after its "
			        "end); remove the journal %s to start over", path,
			        s->dir);
		v->windows += counts[0];
		v->shared += counts[1];
		v->bases += counts[2];
		v->soft += counts[3];
		fclose(f);
		free(path);
	}
	if (read_record(v, v->next, num + 1))
		rt_fail("%s: has more records than when the job was planned "
		        "(changed since?)", v->a.vcf);
	commit_output(v);
	close_vcf(v);
}

static void vep_sharded(Vep *v, const RtVepArgs *a)
{
	RtShards s;
	int32_t *cost = NULL;
	int64_t n = 0;
	char *key = NULL, what[4200];

	if (rt_par_rank() == 0)
		cost = plan_scan(v, &n, &key, a);
	close_vcf(v);
	snprintf(what, sizeof what, "records of %s", v->a.vcf);
	rt_shard_plan(&s, v->a.out, a->resume, key, cost, n, 1, "scores",
	              NULL, what, a->quiet);
	free(cost);
	free(key);
	if (rt_shard_any(&s)) {
		open_vcf(v);
		run_shards(v, &s);
		close_vcf(v);
	}
	rt_par_wait_all(NULL, NULL);
	if (rt_par_rank() == 0) {
		write_gathered(v, &s);
		rt_shard_remove(&s);
	}
	rt_shard_free(&s);
}

int rt_vep_run(const RtVepArgs *a)
{
	Vep *v = calloc(1, sizeof *v);

	if (!v)
		rt_fail("out of memory");
	live = v;
	v->a = *a;
	v->Wt = a->max_bases + 1;
	v->case_mode = a->case_mode;
	v->mode = out_mode(v->a.out);
	v->bcf_out = strcmp(v->mode, "wb") == 0;

	/* htslib says nothing: each failure is one line from here. */
	hts_set_log_level(HTS_LOG_OFF);
	build_tokmap(v->tokmap, v->case_mode);
	open_vcf(v);

	hyrt_set_threads((int)v->a.threads);
	v->jobs = calloc((size_t)v->a.threads, sizeof *v->jobs);
	if (!v->jobs)
		rt_fail("out of memory");
	for (int64_t t = 0; t < v->a.threads; t++) {
		Job *j = &v->jobs[t];
		j->v = v;
		const int64_t n = v->a.batch;
		j->idx = rt_xalloc(sizeof(int64_t) * (size_t)n, "windows");
		j->tok = rt_xalloc(rt_mul3(n, v->Wt, 1, "tokens"), "tokens");
		j->logits = rt_xalloc(rt_mul3(n, v->Wt, v->a.vocab_width, "logits"),
		                      "logits");
	}
	v->next = bcf_init();
	if (!v->next)
		rt_fail("out of memory");

	if (a->sharded) {
		vep_sharded(v, a);
	} else {
		int64_t num = 0;
		open_output(v);
		run_records(v, &num, INT64_MAX);
		commit_output(v);
	}

	if (!a->quiet && rt_par_rank() == 0) {
		char hint[128] = "";
		if (v->toolong > 0)
			snprintf(hint, sizeof hint, " (an alternate window may have "
			         "at most %" PRId64 " bases: a smaller --window leaves "
			         "room for insertions)", v->a.max_bases);
		rt_warn("vep: %" PRId64 " record(s): %" PRId64 " ALT allele(s) "
		        "scored, %" PRId64 " symbolic, %" PRId64 " too long for the "
		        "window%s; %" PRId64 " record(s) with a REF mismatch, %"
		        PRId64 " on a contig the reference lacks, %" PRId64 " with "
		        "no ALT; %" PRId64 " window(s) run, %" PRId64 " reference "
		        "window(s) shared", v->records, v->scored, v->symbolic,
		        v->toolong, hint, v->mismatch, v->nocontig, v->noalt,
		        v->windows, v->shared);
		if (v->soft > 0)
			rt_warn("warning: %.1f%% of the reference windows' bases were "
			        "lowercase (soft-masked) and read as [UNK] like the HF "
			        "tokenizer; use --case upper to read them as bases",
			        100.0 * (double)v->soft / (double)v->bases);
	}
	vep_free(v);
	live = NULL;
	return 0;
}

/* ---- the command ---------------------------------------------------------------------- */

int rt_cmd_vep(const char *cmd, int argc, char **argv)
{
	Opt opts[O_COUNT] = {
		[O_VCF] = {"--vcf", NULL, NULL, false},
		[O_REF] = {"--ref", "-r", NULL, false},
		[O_OUT] = {"--output", "-o", NULL, false},
		[O_WINDOW] = {"--window", "-w", NULL, false},
		[O_CASE] = {"--case", NULL, NULL, false},
		[O_THREADS] = {"--threads", "-j", NULL, false},
		[O_BATCH] = {"--batch", "-b", NULL, false},
		[O_QUIET] = {"--quiet", "-q", NULL, true},
		[O_RESUME] = {"--resume", NULL, NULL, true},
	};
	const int64_t max_len = hyenac_meta[HYRT_META_MAX_LEN];
	RtVepArgs a = {0};
	HyrtBlob w;
	Diag d;
	char why[160];

	rt_parse_opts(cmd, argc, argv, opts, O_COUNT);
	if (!opts[O_VCF].value)
		rt_usage("'vep' needs --vcf FILE (VCF, VCF.gz or BCF; - for "
		         "stdin)");
	if (!opts[O_REF].value)
		rt_usage("'vep' needs --ref GENOME.fa (plain or bgzip, "
		         "faidx-indexed or in a writable directory)");
	if (!opts[O_OUT].value)
		rt_usage("'vep' needs -o FILE.vcf, FILE.vcf.gz or FILE.bcf");
	if (hyenac_meta[HYRT_META_NOUTPUTS] < 2)
		rt_usage("model %s was compiled without its LM head, so it "
		         "cannot score variants", hyenac_model_name);
	if (max_len < 2)
		rt_usage("this binary takes %" PRId64 " token(s), no room for a "
		         "base and [SEP]", max_len);
	a.vcf = opts[O_VCF].value;
	a.ref = opts[O_REF].value;
	a.out = opts[O_OUT].value;
	a.model = hyenac_model_name;
	a.max_bases = max_len - 1;
	a.vocab_width = hyenac_meta[HYRT_META_VOCAB];
	snprintf(why, sizeof why, "a window of W bases is W + 1 tokens and "
	         "this binary takes at most %" PRId64, max_len);
	a.window = opts[O_WINDOW].value
	    ? rt_parse_int("--window", opts[O_WINDOW].value, 1, a.max_bases, why)
	    : a.max_bases;
	a.case_mode = HYRT_CASE_STRICT;
	if (opts[O_CASE].value) {
		const char *p = opts[O_CASE].value;
		if (strcmp(p, "upper") == 0)
			a.case_mode = HYRT_CASE_UPPER;
		else if (strcmp(p, "strict") != 0)
			rt_usage("--case takes strict or upper, not '%s'", p);
	}
	a.threads = rt_thread_count(opts[O_THREADS].value);
	int64_t Wt = a.max_bases + 1;
	a.batch = rt_batch_count(opts[O_BATCH].value, Wt);
	(void)out_mode(a.out); /* exit 2 for a name of another kind */
	a.quiet = opts[O_QUIET].value != NULL;
	if (strcmp(a.ref, "-") == 0)
		rt_usage("--ref must name a file (faidx reads it by offset), "
		         "not -");

	/* The output must be none of the inputs, the index files included. */
	{
		size_t n = strlen(a.ref) + 5;
		char *fai = malloc(n), *gzi = malloc(n), self[4096];
		if (!fai || !gzi)
			rt_fail("out of memory");
		snprintf(fai, n, "%s.fai", a.ref);
		snprintf(gzi, n, "%s.gzi", a.ref);
		ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
		self[k > 0 ? k : 0] = 0;
		const char *inputs[] = {a.vcf, a.ref, fai, gzi,
		                        k > 0 ? self : NULL, NULL};
		diag_init(&d);
		bool ok = hyrt_out_check(a.out, NULL, true, "vep", inputs, &d);
		free(fai);
		free(gzi);
		if (!ok) {
			if (d.usage)
				rt_usage("%s", d.msg);
			rt_fail_diag(&d);
		}
	}
	/* rt_par_size() is the launcher's count until MPI starts: these
	 * checks come first, so that rank 0 alone says what all find */
	a.resume = opts[O_RESUME].value != NULL;
	a.sharded = rt_shard_wanted(a.resume);
	if (a.sharded && strcmp(a.vcf, "-") == 0)
		rt_usage("--vcf -: %s reads it from a file (every rank reads it, "
		         "and a resumed run again)",
		         a.resume ? "--resume" : "a job of several ranks");
	if (a.sharded && strcmp(a.out, "-") == 0)
		rt_usage("-o -: %s writes to a file (its journal goes beside it)",
		         a.resume ? "--resume" : "a job of several ranks");
	if (rt_argv_only)
		return 0;
	rt_par_begin();

	hyrt_out_install_cleanup();
	rt_load_weights(&w);
	a.weights = w.data;
	a.weights_bytes = w.bytes;
	a.forward = hyenac_run;
	a.scratch_bytes = hyenac_scratch_bytes;
	rt_vep_run(&a);
	hyrt_blob_close(&w);
	return rt_finish();
}

void rt_help_vep(void)
{
	if (hyenac_meta[HYRT_META_NOUTPUTS] < 2)
		return;
	printf("  vep    --vcf V.vcf[.gz]|V.bcf --ref genome.fa[.gz] -o "
	       "OUT.vcf[.gz]|OUT.bcf\n"
	       "         [--window W] [--case strict|upper] [--batch B] "
	       "[--threads T] [--quiet]\n"
	       "         [--resume]\n"
	       "         each ALT scored zero-shot: INFO HYENA_REF_LL, "
	       "HYENA_ALT_LL (score's\n"
	       "         sum_logp of the reference window [max(0, POS-1-"
	       "floor(W/2)), +W),\n"
	       "         clipped at the contig end, and of it with REF "
	       "replaced by ALT) and\n"
	       "         HYENA_LLR (alt minus ref); W defaults to %" PRId64 ". "
	       "Unscored records are\n"
	       "         kept with '.' and a FILTER: HYENA_REF_MISMATCH, "
	       "HYENA_NO_CONTIG,\n"
	       "         HYENA_ALLELE_SKIPPED (symbolic, or too long for "
	       "the window)\n",
	       hyenac_meta[HYRT_META_MAX_LEN] - 1);
}
