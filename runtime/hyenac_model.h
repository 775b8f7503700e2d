/*
 * hyenac_model.h - the C API of a HyenaDNA model compiled by
 * `hyenac compile MODEL -o libNAME.so --emit lib`.
 *
 * The shared library holds the model's native code, the runtime (FFTW
 * linked in statically) and the model's weights, appended to the file
 * after the ELF image and mapped read-only at load. It needs only libc,
 * libm and libpthread at run time, and exports nothing but the functions
 * below. Do not strip it: `strip` drops the appended weights, and loading
 * then fails with HYENAC_ERR_WEIGHTS.
 *
 *     HyenacModel *m;
 *     char err[256];
 *     if (hyenac_model_load(NULL, &m, err, sizeof err) != HYENAC_OK)
 *             { fprintf(stderr, "%s\n", err); return 1; }
 *     int32_t tok[1024];
 *     int64_t L = hyenac_tokenize("ACGTACGT", 8, tok, 1024,
 *                                 HYENAC_TOKENIZE_SEP);
 *     float *h = malloc(sizeof(float) * L * hyenac_model_d_model(m));
 *     if (hyenac_model_embed(m, tok, 1, L, h) != HYENAC_OK)
 *             fprintf(stderr, "%s\n", hyenac_model_error(m));
 *     hyenac_model_free(m);
 *
 * Link with -lNAME (and -L/-Wl,-rpath to where it lies) or dlopen() it.
 * Every compiled library exports the same names, so one program links
 * one model; to use several, dlopen() each with RTLD_LOCAL.
 *
 * Errors are returned, never printed, and nothing here exits: each call
 * returns a HyenacStatus, and the handle keeps a one-line message about
 * the last failure (hyenac_model_error). The exception is memory running
 * out inside a forward's FFT work buffers, which prints one line and
 * exits 1, as a model binary does.
 *
 * Threads: a handle holds its own work memory, so calls on one handle
 * must not overlap; separate handles (load one per thread; the weights
 * are shared through the page cache) run concurrently.
 */
#ifndef HYENAC_MODEL_H
#define HYENAC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum HyenacStatus {
	HYENAC_OK = 0,
	HYENAC_ERR_ARGUMENT = 1, /* a NULL pointer, a negative batch */
	HYENAC_ERR_LENGTH = 2,   /* L outside 1..max_len */
	HYENAC_ERR_TOKEN = 3,    /* a token id outside 0..vocab_size-1 */
	HYENAC_ERR_NO_HEAD = 4,  /* logits from a model without an LM head,
	                          * classify from one that is no classifier */
	HYENAC_ERR_MEMORY = 5,
	HYENAC_ERR_WEIGHTS = 6,  /* the weights cannot be found or are bad */
	HYENAC_ERR_CPU = 7,      /* this CPU lacks instructions the model's
	                          * code was compiled to use (load says which) */
	HYENAC_ERR_INPUT = 8,    /* a FASTA file unreadable or malformed */
	HYENAC_ERR_NO_STEP = 9,  /* generation from a model compiled without
	                          * a decode step (hyenac_model_prefill) */
} HyenacStatus;

typedef struct HyenacModel HyenacModel;

/* Open the model. weights_path NULL reads the weights appended to this
 * library's own file (found through the process's mappings); a path
 * names another copy of the library. On failure *out is NULL and err
 * (if not NULL) gets a one-line message. */
int hyenac_model_load(const char *weights_path, HyenacModel **out,
                      char *err, size_t errsize);
/* Release everything; NULL is fine. */
void hyenac_model_free(HyenacModel *m);

/* Hidden states after the final norm: tokens int32 [B, L] -> out float32
 * [B, L, d_model], row-major. B may be 0. */
int hyenac_model_embed(HyenacModel *m, const int32_t *tokens, int64_t B,
                       int64_t L, float *out);
/* One hidden state of HF's output_hidden_states, numbered as HF numbers
 * its tuple: layer 0 the embeddings, layer K (1..n_layer) the residual
 * stream after block K (before any norm), layer n_layer + 1 the final
 * norm's output (what hyenac_model_embed gives, HF's last_hidden_state).
 * out float32 [B, L, d_model]. HYENAC_ERR_ARGUMENT for a layer outside
 * 0..n_layer+1. */
int hyenac_model_hidden(HyenacModel *m, const int32_t *tokens, int64_t B,
                        int64_t L, int64_t layer, float *out);
/* LM head logits: out float32 [B, L, logits_width] (the vocabulary
 * padded, 16 for the released checkpoints). */
int hyenac_model_logits(HyenacModel *m, const int32_t *tokens, int64_t B,
                        int64_t L, float *out);

/* A fine-tuned classifier's logits (HF's
 * HyenaDNAForSequenceClassification): out float32 [B, num_labels], each
 * row's head applied at the one position before its first pad token (the
 * last position when the row has none or starts with one: left padding).
 * Softmax them for probabilities. HYENAC_ERR_NO_HEAD for a model that is
 * no classifier. */
int hyenac_model_classify(HyenacModel *m, const int32_t *tokens, int64_t B,
                          int64_t L, float *out);

/* Threads: a forward splits its rows and channels over the library's
 * thread pool, n threads in all, the caller included (1 until this is
 * called; 0 asks for every online core, at most HYENAC_MAX_THREADS). The
 * pool belongs to the library file loaded, so the count holds for every
 * handle of that library; a second application thread calling while a
 * forward runs gets its own forward on its own thread alone. */
#define HYENAC_MAX_THREADS 256
int hyenac_model_set_threads(HyenacModel *m, int n);
int hyenac_model_threads(const HyenacModel *m);

/* Hidden states pooled over each row's positions (the binary's `embed
 * --pool`): out float32 [B, d_model]. HYENAC_POOL_MEAN averages every
 * position (a [SEP] included, accumulated in double); HYENAC_POOL_LAST
 * takes the last (the [SEP] when the row ends in one: in a causal model
 * the one position that has seen the whole row). The [B, L, d_model]
 * states are never stored. */
enum { HYENAC_POOL_MEAN = 0, HYENAC_POOL_LAST = 1 };
int hyenac_model_embed_pooled(HyenacModel *m, const int32_t *tokens,
                              int64_t B, int64_t L, int pool, float *out);

/* Each row's log-likelihood, as the binary's `score` computes a window's
 * sum_logp: log-softmax of the full logits row (the padded vocabulary) at
 * position t scores the token at t + 1, summed in double over
 * t = 0 .. hyenac_model_scored_tokens(row, L) - 1: the first token has no
 * context and is not scored, and a final [SEP] (id 1) is never scored
 * (the model is causal: it changes no earlier logit). Divide by
 * hyenac_model_scored_tokens for the binary's mean_logp. Needs the LM head. */
int hyenac_model_score(HyenacModel *m, const int32_t *tokens, int64_t B,
                       int64_t L, double *sum_logp);
/* Tokens of a row of L ids that score sums: L - 1, less one when the row
 * ends in [SEP] (0 for L < 2 or a NULL row). */
int64_t hyenac_model_scored_tokens(const int32_t *row, int64_t L);

/* FASTA windows, cut and tokenized exactly as the binary's `--fasta`
 * commands cut them (plain or gzip, any line length, LF or CRLF): each
 * record in windows of `window` bases every `stride` bases (0: stride =
 * window), the last ones shorter; [SEP] appended unless
 * HYENAC_FASTA_NO_SEP; lowercase acgtn read as [UNK] (HF's tokenizer)
 * unless HYENAC_TOKENIZE_UPPER. The binary's default window is the
 * model's max_len less one (room for the [SEP]). "-" reads stdin.
 * hyenac_model_fasta_next returns 1 with *w filled (its record name and
 * tokens belong to the reader, valid until the next call), 0 at the end,
 * or -HYENAC_ERR_INPUT with a one-line message naming the file and line
 * (hyenac_model_fasta_error). Memory is one window whatever the record
 * length. Token ids are not checked against a model: its calls do. */
enum { HYENAC_FASTA_NO_SEP = 4 };
typedef struct HyenacFasta HyenacFasta;
typedef struct HyenacWindow {
	const char *record;   /* the header's first word, maybe "" */
	int64_t record_index; /* 0-based, in file order */
	int64_t start, end;   /* 0-based half-open base coordinates */
	const int32_t *tokens;
	int64_t ntokens;      /* end - start, + 1 with the [SEP] */
} HyenacWindow;
int hyenac_model_fasta_open(const char *path, int64_t window,
                            int64_t stride, unsigned flags,
                            HyenacFasta **out, char *err, size_t errsize);
int hyenac_model_fasta_next(HyenacFasta *f, HyenacWindow *w);
const char *hyenac_model_fasta_error(const HyenacFasta *f);
void hyenac_model_fasta_close(HyenacFasta *f);

/* Generation: hyenac_model_prefill runs the forward on the prompts
 * tokens [B, L] (1 <= L < max_len), keeps each layer's state in a new
 * HyenacGen (*out) and gives the logits at the last position, logits
 * float32 [B, logits_width]; hyenac_model_step then takes one token per
 * sample, tokens [B] at the next position, and gives that position's
 * logits [B, logits_width], equal to a full forward's on the same tokens
 * (within float rounding). Up to max_len positions in all
 * (HYENAC_ERR_LENGTH past it). The state is one [max_len, d_model]
 * history per long convolution and sample (hyenac_model_gen_state_bytes
 * says how much); free it with hyenac_model_gen_free (NULL is fine). A
 * HyenacGen belongs to the model it came from. HYENAC_ERR_NO_STEP for a model
 * compiled without a decode step (-O0, --no-fuse, or filters made at
 * run time). */
typedef struct HyenacGen HyenacGen;
int hyenac_model_prefill(HyenacModel *m, const int32_t *tokens, int64_t B,
                         int64_t L, HyenacGen **out, float *logits);
int hyenac_model_step(HyenacModel *m, HyenacGen *g, const int32_t *tokens,
                      float *logits);
int64_t hyenac_model_gen_state_bytes(const HyenacGen *g);
void hyenac_model_gen_free(HyenacGen *g);

/* The binary's `generate` in one call: num_samples (M) samples of
 * max_new (N) new tokens after the prompt [P] (base ids only: A C G T N),
 * the same sampling as the binary's for the same settings (temperature
 * T >= 0, 0 greedy; top_k 0..5, 0 no cut; 0 < top_p <= 1; seed; allowed
 * the bases to draw from, NULL for "ACGTN"); out int32 [M, N], the new
 * ids. HYENAC_ERR_LENGTH when P + N passes max_len, HYENAC_ERR_TOKEN for a
 * prompt id that is no base, HYENAC_ERR_NO_HEAD / HYENAC_ERR_NO_STEP for a
 * model that cannot generate. */
int hyenac_model_generate(HyenacModel *m, const int32_t *prompt, int64_t P,
                          int64_t max_new, int64_t num_samples,
                          double temperature, int64_t top_k, double top_p,
                          uint64_t seed, const char *allowed, int32_t *out);

/* The message of the last failed call on m ("" if none). */
const char *hyenac_model_error(const HyenacModel *m);
/* A fixed description of a status ("token id out of range", ...). */
const char *hyenac_status_string(int status);

/* Facts about the compiled model; none needs the weights loaded, m may
 * be NULL. */
const char *hyenac_model_get_name(const HyenacModel *m);
int64_t hyenac_model_d_model(const HyenacModel *m);
int64_t hyenac_model_logits_width(const HyenacModel *m);
int64_t hyenac_model_vocab_size(const HyenacModel *m);
int64_t hyenac_model_max_len(const HyenacModel *m);
int64_t hyenac_model_n_layer(const HyenacModel *m);
int hyenac_model_has_head(const HyenacModel *m);
/* A classifier's number of labels (0 for other models), and the name of
 * label id (config.json's id2label), NULL when id is out of range. */
int64_t hyenac_model_num_labels(const HyenacModel *m);
const char *hyenac_model_label_name(const HyenacModel *m, int64_t id);

/* HyenaDNA's tokenizer (the HF CharacterTokenizer's defaults): every byte
 * of seq[0..n) is one token, A=7 C=8 G=9 T=10 N=11, anything else
 * [UNK]=6 (lowercase too, unless HYENAC_TOKENIZE_UPPER); [SEP]=1 appended
 * with HYENAC_TOKENIZE_SEP. Writes at most cap ids; returns how many the
 * whole sequence needs (n, or n + 1), so a return above cap means out was
 * too small. */
enum {
	HYENAC_TOKENIZE_SEP = 1,   /* append [SEP], as the HF tokenizer does */
	HYENAC_TOKENIZE_UPPER = 2, /* read soft-masked acgtn as bases */
};
int64_t hyenac_tokenize(const char *seq, size_t n, int32_t *out, size_t cap,
                        unsigned flags);

#ifdef __cplusplus
}
#endif

#endif
