/*
 * hyrt.h - the contract between code that hyenac generates and the small
 * runtime it is linked with (libhyenac_rt.a), and the runtime's own API.
 *
 * Every generated module defines:
 *
 *   hyenac_meta[HYRT_META_COUNT]   int64 facts about the compiled model
 *   hyenac_model_name              NUL-terminated model name
 *   hyenac_scratch_bytes(B, L)     activation memory one forward needs
 *   hyenac_run(weights, tokens, B, L, outputs, scratch)
 *   hyenac_run_pooled(weights, tokens, B, L, mean, last, scratch)
 *   hyenac_run_classify(weights, tokens, B, L, logits, scratch)
 *   hyenac_run_hidden(weights, tokens, B, L, outputs, scratch)
 *   hyenac_labels                  a classifier's label names in id
 *                                  order, each NUL-terminated (none for
 *                                  other models)
 *       tokens int32 [B, L] (checked by the caller: ids < vocab_size,
 *       1 <= L <= max_len); weights is the packed weight blob (float32,
 *       each tensor at the offset the compiler assigned, 64-byte aligned);
 *       outputs[i] receives graph output i (0 = hidden [B, L, d_model],
 *       1 = logits [B, L, vocab] when the model has a head); scratch holds
 *       hyenac_scratch_bytes(B, L) bytes, 64-byte aligned. outputs[i] may
 *       be NULL: that output is not computed (logits without hidden run
 *       the final norm fused into the head, a row at a time, so the
 *       hidden states are never stored: the graph's `entry logits`).
 *       Each way of running is an entry of the graph (ir/ir.h,
 *       passes/entries.c), one generated function each; these two
 *       functions pick one.
 *
 * Generated code calls back into the runtime for the FFT long convolution
 * (hyrt_longconv_fft) and libm.
 *
 * Weights are packed inside the executable: `hyenac compile` appends the
 * blob after the linked program, followed by a trailer (HYRT_TRAILER_MAGIC,
 * blob offset, blob size, blob CRC-32), and the runtime mmaps it from
 * /proc/self/exe, checking the CRC before the first forward.
 * The binary therefore needs nothing but itself and libc/libm.
 */
#ifndef HYENAC_HYRT_H
#define HYENAC_HYRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	HYRT_META_D_MODEL,    /* width of hidden */
	HYRT_META_VOCAB,      /* width of logits (padded vocabulary) */
	HYRT_META_VOCAB_SIZE, /* token ids must be below this */
	HYRT_META_MAX_LEN,    /* longest L the binary takes */
	HYRT_META_NOUTPUTS,   /* 1 (hidden) or 2 (hidden, logits) */
	HYRT_META_WEIGHT_BYTES, /* size of the packed weight blob */
	HYRT_META_N_LAYER,
	HYRT_META_FLOPS_PER_TOKEN, /* at L = max_len, for GFLOP/s figures */
	HYRT_META_BATCH, /* compile --batch: the rows of max_len tokens one
	                  * forward's memory plan holds; binaries run larger
	                  * batches in chunks that fit it */
	HYRT_META_NUM_LABELS, /* a classifier's labels (width of classify's
	                       * logits); 0 for other models */
	HYRT_META_PAD_ID,     /* the classifier's pad token id */
	HYRT_META_RANDOM_WEIGHTS, /* 1: weights made from a YAML seed, not
	                           * trained (outputs carry no biology) */
	HYRT_META_SEED, /* that seed's uint64 bits; 0 when not random */
	HYRT_META_SPECTRA_BYTES, /* the long convolutions' kept filter
	                          * spectra at most (memory plan) */
	HYRT_META_BF16, /* 1: compiled with --precision bf16 */
	HYRT_META_COUNT
};

/* hyenac's version, printed by `hyenac --version` and by the `--version`
 * of the binaries it compiles. */
#define HYRT_HYENAC_VERSION "0.1"

/* W1 trailers (before the checksum) had no blob_crc32: such binaries are
 * refused with a word to recompile. */
#define HYRT_TRAILER_MAGIC "HYENACW2"
#define HYRT_TRAILER_MAGIC_V1 "HYENACW1"
typedef struct HyrtTrailer {
	char magic[8];
	uint64_t blob_offset; /* from the start of the file, page aligned */
	uint64_t blob_bytes;
	uint64_t blob_crc32;  /* zlib crc32() of the blob's bytes */
} HyrtTrailer;

/* What generated modules define. */
extern const int64_t hyenac_meta[HYRT_META_COUNT];
extern const char hyenac_model_name[];
size_t hyenac_scratch_bytes(int64_t B, int64_t L);
void hyenac_run(const float *weights, const int32_t *tokens, int64_t B,
                int64_t L, float *const *outputs, void *scratch);
/* The forward with the hidden states pooled over positions (the graph's
 * `entry pooled`): mean and last are [B, d_model] (either may be NULL),
 * made from the final norm's input a row at a time. Returns 0 (and pools
 * nothing) for a model that does not end in a layernorm. */
int hyenac_run_pooled(const float *weights, const int32_t *tokens, int64_t B,
                      int64_t L, float *mean, float *last, void *scratch);
/* A fine-tuned classifier's forward (the graph's `entry classify`):
 * logits [B, num_labels], each row's head applied at the one position
 * before its first pad token (or the last). Returns 0 (and computes
 * nothing) for a model that is no classifier. */
int hyenac_run_classify(const float *weights, const int32_t *tokens,
                        int64_t B, int64_t L, float *logits, void *scratch);
/* HF's output_hidden_states (the graph's `entry hidden_states`):
 * outputs[k], k = 0..n_layer+1, receives hidden state k [B, L, d_model]
 * as HF numbers them (0 the embeddings, K the residual stream after
 * block K, n_layer+1 the final norm, which is `hidden`); a NULL one is
 * not computed. Returns n_layer + 2, or 0 (computing nothing) when the
 * graph has no such entry. */
int hyenac_run_hidden(const float *weights, const int32_t *tokens, int64_t B,
                      int64_t L, float *const *outputs, void *scratch);
/* The most hidden states an entry has (n_layer <= 64): ir.h's
 * IR_MAX_ENTRY_OUT. */
#define HYRT_MAX_HIDDEN 66
extern const char hyenac_labels[];
/* Generation (passes/entries.c's `entry prefill` and `entry step`):
 * hyenac_state_bytes(B) is the state of B samples (0: the model cannot
 * decode), one buffer the caller owns (64-byte aligned); its slots are
 * each layer's long-convolution input history [B, max_len, D] and short
 * filter ring [B, K-1, 3D]. hyenac_prefill runs the forward on tokens
 * [B, L] (logits [B, L, V]) and writes the state for positions < L;
 * hyenac_step takes one token per sample at position pos (tokens [B])
 * and gives logits [B, V], reading and updating the state. Scratch:
 * hyenac_scratch_bytes(B, L), and (B, 1) for a step. Both return 0 (and
 * do nothing) when the model has no step entry. */
int64_t hyenac_state_bytes(int64_t B);
int hyenac_prefill(const float *weights, const int32_t *tokens, int64_t B,
                   int64_t L, float *logits, void *scratch, void *state);
int hyenac_step(const float *weights, const int32_t *tokens, int64_t B,
                int64_t pos, float *logits, void *scratch, void *state);
/* The name of label id in hyenac_labels, or NULL when id is outside
 * 0..HYRT_META_NUM_LABELS-1. Inline, since only the code linked with a
 * generated module (a binary's main, the library) may name its symbols. */
static inline const char *hyrt_label_name(int64_t id)
{
	const char *p = hyenac_labels;

	if (id < 0 || id >= hyenac_meta[HYRT_META_NUM_LABELS])
		return NULL;
	for (int64_t i = 0; i < id; i++)
		while (*p++)
			;
	return p;
}

/* The transform size for length L: the smallest N >= 2L whose only
 * prime factors are 2, 3, 5 and 7 (FFTW's codelet radices) and that is a
 * multiple of 32 (of 2 below 1024), so the circular convolution equals
 * the linear one on the first L outputs. The least 7-smooth size alone
 * is odd for about one length in twelve, and FFTW runs those several
 * times slower a point (docs/performance.md, "A million tokens", has the
 * figures). The compiler's cost model (passes/convsel.c) uses the same
 * sizes. */
static inline int64_t hyrt_fft_size(int64_t L)
{
	int64_t q = 2 * L >= 1024 ? 32 : 2;
	int64_t n = 2 * L > q ? (2 * L + q - 1) / q * q : q;
	for (;; n += q) {
		int64_t r = n;
		static const int p[] = {2, 3, 5, 7};
		for (int i = 0; i < 4; i++)
			while (r % p[i] == 0)
				r /= p[i];
		if (r == 1)
			return n;
	}
}

/* y[b,t,c] = sum_{s<=t} k[t-s,c] u[b,s,c], through FFTW (size >= 2L,
 * zero padded, exact like the reference's rfft/irfft). u and y are
 * [B, L, C] channels-last; k is [L, C]. Plans are made once per size. */
void hyrt_longconv_fft(float *y, const float *u, const float *k, int64_t B,
                       int64_t L, int64_t C);

/* row[f] *= kf[f] for f < nf complex numbers, each (re, im) interleaved:
 * the product step of the FFT convolutions (runtime/specmul.c), in one
 * of its forms (HYRT_SPECMUL_*), which hyrt_spec_mul_form_ok must say
 * this CPU runs; hyrt_spec_mul_best is the widest such form. The tests
 * check each form against the product in double. */
enum { HYRT_SPECMUL_SCALAR, HYRT_SPECMUL_AVX2, HYRT_SPECMUL_AVX512,
       HYRT_SPECMUL_FORMS };
bool hyrt_spec_mul_form_ok(int form);
int hyrt_spec_mul_best(void);
void hyrt_spec_mul_form(int form, float *row, const float *kf, int64_t nf);

/* n bytes (64-byte aligned; at least 2 MB: 2 MB aligned and on 2 MB
 * pages where the kernel gives them, runtime/bigalloc.c), for free();
 * NULL when out of memory. For a forward's large buffers, whose first
 * touch would otherwise take a page fault every 4 KB. */
void *hyrt_alloc_big(size_t n);
/* Whether the kernel has transparent huge pages on ("always" or
 * "madvise"), so that hyrt_alloc_big's buffers get 2 MB pages. */
bool hyrt_big_pages(void);

/* One Hyena order step with its gates (ops.def's gated_conv), through
 * the same FFT convolution:
 *   u = v * g;  y = (conv(u, k) + u * bias) * post   (post NULL: no * post)
 * v, g and post point at channel 0 of [B, L, *] windows with row strides
 * vs, gs, ps (in floats), so channel slices of a wider tensor are read in
 * place; y is [B, L, C] and k [>= L, C] with row stride C. */
void hyrt_hyena_conv_fft(float *y, const float *v, int64_t vs,
                         const float *g, int64_t gs, const float *k,
                         const float *bias, const float *post, int64_t ps,
                         int64_t B, int64_t L, int64_t C);
/* Where a gated_conv keeps its filter's spectra (runtime/fftconv.c): a
 * global of the generated module per gated_conv, {NULL, budget, 0} at
 * start; budget is the bytes the compiler's memory plan holds for them
 * (hyrt_conv_spectra_bytes at the compiled length, or 0 when the plan
 * has no room: the spectra are then made per call, a block of channels
 * at a time). Only the runtime touches the other fields. */
typedef struct HyrtSpectra {
	void *head;
	int64_t budget, used;
} HyrtSpectra;

/* The same for a filter that is a constant (a folded weight): its
 * spectrum at each L is made on the first call and kept in *kept while
 * its budget allows (kept may be NULL: made per call). */
void hyrt_hyena_conv_fft_const(float *y, const float *v, int64_t vs,
                               const float *g, int64_t gs, const float *k,
                               const float *bias, const float *post,
                               int64_t ps, int64_t B, int64_t L, int64_t C,
                               HyrtSpectra *kept);

/* hyrt_hyena_conv_fft with the filter made by gen: gen
 * writes k[t, c0 + j] for t < L, j < cb into dst[j * ld + t] (called from
 * whichever pool thread makes that block), so the whole [L, C]
 * filter never exists; its spectra are kept in *kept as above. */
typedef void (*HyrtFilterGen)(void *ctx, int64_t c0, int64_t cb, int64_t L,
                              float *dst, int64_t ld);
void hyrt_hyena_conv_fft_gen(float *y, const float *v, int64_t vs,
                             const float *g, int64_t gs, HyrtFilterGen gen,
                             void *gen_ctx, const float *bias,
                             const float *post, int64_t ps, int64_t B,
                             int64_t L, int64_t C, HyrtSpectra *kept);
/* Nonzero when slot s keeps its spectra at length L: the generator of
 * the conv that owns it is not called at L again (kept spectra are never
 * dropped), so codegen skips what only the generator reads. */
int hyrt_spectra_kept(const HyrtSpectra *s, int64_t L);
/* Bytes of one gated_conv's kept spectra at length L, C channels. */
int64_t hyrt_conv_spectra_bytes(int64_t L, int64_t C);
/* Nonzero when a convolution of length L over C channels with kept
 * spectra runs on this CPU as 16 channels in the lanes of AVX-512
 * vectors (lanefft.c), not through FFTW: the FFT size a power of two up
 * to 65536, C a multiple of 16. */
int hyrt_conv_lanes(int64_t L, int64_t C);
/* For the tests: the widest vector (channels: 16 AVX-512, 8 AVX2, 4 SSE,
 * 0 none) the convolution's gather and scatter may use from now on, at
 * most `want` and what this CPU has (want < 0: what it has); returns the
 * width set. Not to be called while a convolution runs. */
int hyrt_conv_tile_width(int want);
/* FFTW wisdom (a malloc'd string for free(); NULL if FFTW cannot
 * plan or memory ran out) for the transforms of length L's convolutions, measured with
 * FFTW_MEASURE for at most about `seconds` a transform: what `hyenac
 * compile` embeds in a module as hyenac_fftw_wisdom, which the runtime
 * imports before its first plan. */
char *hyrt_fft_measure_wisdom(int64_t L, double seconds);
/* What `hyenac compile` (and bench/sgemm_limit's library bound) give
 * it: FFTW_MEASURE cut short keeps a worse plan (FFTW plans at rising
 * rigor and keeps the last one it finished): at L = 10^6 (2,000,000
 * points) a 10 s limit gave a transform pair of 14.1 ms, the full
 * measurement 10.9 ms after 22 and 24 s, on an AMD EPYC guest. */
#define HYRT_FFT_MEASURE_SECONDS 60.0
/* A prefill's part of every later output of a long convolution, for
 * the decode step (gen.c): with u = v (* g) of the P prompt positions
 * ([B, P] rows of strides vs, gs) and k [>= M, C], M = R-1,
 *   c[t] = sum_{j<P} k[t-j] u[j]   for t in [P, M)
 * into out [B, R, C] at row M-1-t, by one FFT convolution zero-padded to
 * N >= M (a linear convolution on those t); out's rows of t < P are
 * zeroed and row M holds P as a float in its first column (then zeros).
 * Spread over the pool by channel blocks. */
void hyrt_conv_carry(float *out, const float *v, int64_t vs, const float *g,
                     int64_t gs, const float *k, int64_t B, int64_t P,
                     int64_t R, int64_t C);
/* Bytes of FFT work buffers one thread holds while convolving C channels
 * at length L (they are kept for the thread's next call). */
int64_t hyrt_conv_work_bytes(int64_t L, int64_t C);
/* Free the FFT plans, kept spectra and the calling thread's buffers: for
 * a library's unloading (rt_lib.c), with no convolution running. */
void hyrt_fft_release(void);

/* ---- generation's kernels (gen.c), called by generated code ----------
 *
 * state_save: rows t in [L-R, L) of x[.., :C] (* g) into ring row
 * t mod R of out [B, R, C] (tail=1); or (tail=0) a long convolution's
 * history of M = R-1 positions, hyrt_conv_carry's, from the filter k.
 * tail_proj: the same ring rows of layernorm (ln_g given) and linear
 * (w [N, K], bias?) of x [B, L, K]: a fused_proj of the last R rows.
 * short_step: the causal short filter of K taps at position pos on
 * y [B, N] (one row per sample) and the ring [B, K-1, N] of the rows
 * before it (zero before 0); y then takes ring row pos mod (K-1);
 * gate=1 writes [post | gate * value] (2N/3 columns), else N.
 * conv_step: on hist [B, R, D] as hyrt_conv_carry left it (prompt
 * length P in row M = R-1, c[pos] in row M-1-pos), with h[t] =
 * hist[M-1-t]: u = v (* g) replaces c[pos] in h[pos], then out =
 * (c[pos] + sum_{j<=pos-P} k[j] h[pos-j] + bias u) (* post): the
 * generated positions only, vectorised over channels and spread over
 * the pool by channel blocks; 0 <= pos < M (else nothing is written)
 * and P <= pos (a larger or non-numeric P is read as pos).
 * xs, gs, ps, vs: the row strides of the operands (whose pointers are
 * already at their channel windows). */
void hyrt_state_save(float *out, const float *x, int64_t xs, const float *g,
                     int64_t gs, const float *k, int64_t B, int64_t L,
                     int64_t R, int64_t C, int64_t tail);
void hyrt_tail_proj(float *out, const float *x, const float *w,
                    const float *bias, const float *ln_g, const float *ln_b,
                    float eps, int64_t B, int64_t L, int64_t R, int64_t K,
                    int64_t N);
void hyrt_short_step(float *out, const float *y, const float *w,
                     const float *b, float *ring, int64_t B, int64_t pos,
                     int64_t N, int64_t K, int64_t gate);
void hyrt_conv_step(float *out, const float *v, int64_t vs, const float *g,
                    int64_t gs, const float *k, const float *bias,
                    const float *post, int64_t ps, float *hist, int64_t B,
                    int64_t pos, int64_t D, int64_t R);

/* ---- the thread pool (pool.c) ------------------------------------------
 *
 * hyrt_parallel_for runs fn over [0, n) in chunks of about grain items,
 * claimed by the caller and the pool's workers, and returns when all are
 * done; called while the pool is busy (from inside a chunk, or from a
 * second thread) it runs them inline. hyrt_set_threads(n): n threads in
 * all, the caller included (1 until it is called). */
typedef void (*HyrtRowsFn)(void *ctx, int64_t lo, int64_t hi);
void hyrt_parallel_for(HyrtRowsFn fn, void *ctx, int64_t n, int64_t grain);

void hyrt_set_threads(int n);
int hyrt_get_threads(void);

/* The same convolution by the definition, accumulated in double: slow,
 * exact to float rounding; the reference that tests hold the FFT to. */
void hyrt_longconv_direct(float *y, const float *u, const float *k,
                          int64_t B, int64_t L, int64_t C);

/* ---- the packed weight blob (runtime/weights.c) ---------------------- */

struct Diag;

/* A blob mapped read-only from a file. data is page aligned; it stays
 * valid until hyrt_blob_close(). bytes may be 0 (data is then non-NULL
 * but must not be read). */
typedef struct HyrtBlob {
	const void *data;
	size_t bytes;
	void *map;        /* what munmap() takes, NULL when nothing mapped */
	size_t map_bytes;
} HyrtBlob;

/* Map the blob that the trailer at the end of path describes, checking
 * the magic, that blob and trailer end the file exactly, that the offset
 * is page aligned, that the blob holds expect_bytes (the model's
 * hyenac_meta[HYRT_META_WEIGHT_BYTES]) and that its CRC-32 is the one the
 * trailer records (one pass over the blob; the forward reads it all
 * anyway). Model binaries pass
 * "/proc/self/exe". On failure: one line in d, false, nothing mapped. */
bool hyrt_blob_open(HyrtBlob *b, const char *path, uint64_t expect_bytes,
                    struct Diag *d);
void hyrt_blob_close(HyrtBlob *b);
/* Pad the file at path with zeros to a multiple of 4096 bytes, then append
 * n bytes of blob and a HyrtTrailer holding the blob's CRC-32. On failure the file is cut back to
 * its old size and d says why. */
bool hyrt_append_blob(const char *path, const void *blob, size_t n,
                      struct Diag *d);

#endif
