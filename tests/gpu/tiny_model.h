/*
 * tiny_model.h - a GPU model written by hand (tiny_model.c), to run the
 * CUDA runtime's plan interpreter end to end without the code generator:
 * its plan, its PTX (tiny_kernels.cu) and an independent reference of
 * what it computes, in double on the host.
 *
 * The model (D = 4 channels, vocabulary 12, logits 16 wide, max_len 64):
 *   x[b,t,c] = emb[tok, c] + pos[t, c]
 *   y[b,t,c] = sum_{s<=t} k[t-s, c] x[b,s,c] + bias[c] x[b,t,c]
 *   hidden = y;  logits[b,t,v] = sum_c y[b,t,c] head[v, c]
 *   pooled: mean over t of y, and y at t = L-1
 *   hidden_states (n_layer 0): x, then y
 * The convolution runs as the runtime runs a generated one: a group over
 * channels (chunks of at most 3 of the 4) whose filter spectra are made
 * by FILTER steps (a kernel and an R2C into the spec buffer) from taps
 * that a step before the group copies into the position region (marked
 * HYGPU_FILTER_SRC, as a generated filter MLP is: a pass on kept spectra
 * skips it, and one that must drop them starts again with it), then
 * gather, R2C, multiply, C2R, scatter through the work buffer. `logits`
 * runs the head in a group over rows (chunks of at most 5 rows, through
 * the work buffer); `pooled` uses the sample region and 50 KiB of
 * dynamic shared memory. The head reads a transposed copy of its matrix
 * that the plan's init step writes after the blob (hygpu.h's derived
 * weights), so logits are right only where the runtime runs it.
 */
#ifndef HYENAC_TINY_MODEL_H
#define HYENAC_TINY_MODEL_H

#include <stdint.h>

enum {
	TINY_D = 4,
	TINY_V = 16,
	TINY_VOCAB = 12,
	TINY_MAXLEN = 64,
	TINY_WFLOATS = 628,
};

/* The weights blob (TINY_WFLOATS floats), the same every time. */
void tiny_weights(float *w);
/* The reference: hidden [B, L, D], logits [B, L, V], mean and last
 * [B, D] (any may be NULL). */
void tiny_reference(const float *w, const int32_t *tok, int64_t B, int64_t L,
                    float *hidden, float *logits, float *mean, float *last);
/* x [B, L, D], the embeddings (hidden state 0). */
void tiny_embeddings(const float *w, const int32_t *tok, int64_t B,
                     int64_t L, float *x);

#endif
