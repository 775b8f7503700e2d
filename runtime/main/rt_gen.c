/*
 * rt_gen.c - `generate`: sample new bases after a prompt (issue 18).
 * The prompt goes through `entry prefill` (the ordinary forward, FFT
 * convolutions and all, which also leaves each layer's state: the long
 * convolutions' histories, holding the prompt's part of every later
 * output, and the short filters' last inputs), then
 * one token at a time through `entry step` (hyrt.h: hyenac_prefill,
 * hyenac_step), the M samples decoded together as a batch of M rows.
 *
 * Sampling (runtime/sample.c, shared with the library's
 * hyenac_model_generate) draws from the softmax of logits / T over the
 * allowed ids only (--allowed, default ACGTN), after top-k and top-p
 * (nucleus) cuts; T = 0 is greedy. Each sample has its own generator,
 * seeded from (seed, sample index), so a seed gives the same output
 * whatever the thread count and whichever samples are decoded with it.
 * prompt + max-new above the compiled length is refused before any
 * work. The output, through outfile.c, is FASTA, one record per sample:
 * the prompt then the new bases, the header naming the settings.
 * --logits-out F.npy also writes the logits each new token was drawn
 * from, [M, max-new, V] (the tests compare them with a full forward).
 * --stats prints the prefill's time, the steps' median and the state's
 * size on stderr (bench/gen-latency reads it).
 */
#include "rt_main.h"
#include "runtime/fasta.h"
#include "runtime/npy.h"
#include "runtime/outfile.h"
#include "runtime/sample.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>


/* The state: zeroed, on 2 MB pages where the kernel gives them (a step
 * streams all of it; with 4 KB pages the TLB misses show). */
static void *state_alloc(size_t n)
{
	void *p = NULL;
	size_t huge = (size_t)2 << 20;

	if (posix_memalign(&p, huge, n ? n : 64) != 0)
		rt_fail("out of memory for the generation state (%zu bytes)", n);
	if (n >= huge)
		madvise(p, (n + 4095) / 4096 * 4096, MADV_HUGEPAGE);
	memset(p, 0, n);
	return p;
}

/* ---- the command --------------------------------------------------------- */

void rt_help_generate(void)
{
	printf("  generate --prompt ACGT... | --prompt-fasta F.fa -o OUT.fa\n"
	       "           [--max-new N] [--temperature T] [--top-k K]\n"
	       "           [--top-p P] [--seed S] [--num-samples M]\n"
	       "           [--allowed ACGTN] [--threads T] [--logits-out F.npy]\n"
	       "           [--stats]\n"
	       "        sample N new bases (default 100) after the prompt (a\n"
	       "        FASTA file's first record), M samples (default 1)\n"
	       "        decoded together: the prompt's forward once, then one\n"
	       "        step per token over each layer's kept state. T = 0 is\n"
	       "        greedy (default 1), K = 0 and P = 1 cut nothing (the\n"
	       "        defaults); seed S (default 0) gives the same samples\n"
	       "        for any thread count. OUT.fa: a record per sample,\n"
	       "        prompt then new bases; prompt + N may not pass %" PRId64
	       ".\n        --logits-out: the logits each new base was drawn from,\n"
	       "        [M, N, vocab]; --stats: prefill and per-step times and\n"
	       "        the state's bytes on stderr\n",
	       hyenac_meta[HYRT_META_MAX_LEN]);
}

static double parse_real(const char *opt, const char *s, double lo,
                         double hi)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= lo && v <= hi))
		rt_usage("%s wants a number from %g to %g, got '%s'", opt, lo, hi,
		         s);
	return v;
}

/* The prompt's token ids: from the text, or the first FASTA record. */
static int32_t *read_prompt(const char *text, const char *fasta, int64_t cap,
                            int64_t *P)
{
	int32_t *t;
	if (text) {
		size_t n = strlen(text);
		if (n == 0)
			rt_usage("--prompt is empty");
		t = rt_xalloc(n * sizeof *t, "the prompt");
		for (size_t i = 0; i < n; i++)
			if ((t[i] = hyrt_base_id(text[i])) < 0)
				rt_usage("--prompt: '%c' at position %zu is not one of "
				         "ACGTN", text[i], i + 1);
		*P = (int64_t)n;
		return t;
	}
	HyrtFastaOptions o = hyrt_fasta_default_options(cap + 1);
	o.special_tokens = false;
	Diag d;
	diag_init(&d);
	HyrtFasta *f = hyrt_fasta_open(fasta, &o, &d);
	HyrtWindow w;
	int got = f ? hyrt_fasta_next(f, &w, &d) : -1;
	if (got < 0) {
		hyrt_fasta_close(f);
		rt_fail_diag(&d);
	}
	if (got == 0 || w.ntokens == 0) {
		hyrt_fasta_close(f);
		rt_fail("%s: no bases in its first record", fasta);
	}
	if (w.ntokens > cap) {
		hyrt_fasta_close(f);
		rt_usage("%s: the first record has more than %" PRId64 " bases: "
		         "with --max-new that is more than the %" PRId64 " tokens "
		         "the model was compiled for (--seq-len)", fasta, cap,
		         hyenac_meta[HYRT_META_MAX_LEN]);
	}
	*P = w.ntokens;
	t = rt_xalloc((size_t)w.ntokens * sizeof *t, "the prompt");
	memcpy(t, w.tokens, (size_t)w.ntokens * sizeof *t);
	hyrt_fasta_close(f);
	return t;
}

int rt_cmd_generate(const char *cmd, int argc, char **argv)
{
	Opt opts[] = {{"--prompt", NULL, NULL, false},
	              {"--prompt-fasta", NULL, NULL, false},
	              {"--max-new", NULL, NULL, false},
	              {"--temperature", NULL, NULL, false},
	              {"--top-k", NULL, NULL, false},
	              {"--top-p", NULL, NULL, false},
	              {"--seed", NULL, NULL, false},
	              {"--num-samples", NULL, NULL, false},
	              {"--allowed", NULL, NULL, false},
	              {"--output", "-o", NULL, false},
	              {"--threads", "-j", NULL, false},
	              {"--logits-out", NULL, NULL, false},
	              {"--stats", NULL, NULL, true}};
	enum { NOPT = sizeof opts / sizeof opts[0] };
	int64_t max_len = hyenac_meta[HYRT_META_MAX_LEN];
	int64_t V = hyenac_meta[HYRT_META_VOCAB];
	HyrtSampler sm = {1.0, 1.0, 0, {0}, 0};

	rt_parse_opts(cmd, argc, argv, opts, NOPT);
	if (!opts[0].value == !opts[1].value)
		rt_usage("'generate' needs one of --prompt ACGT... and "
		         "--prompt-fasta FILE");
	if (!opts[9].value)
		rt_usage("'generate' needs -o FILE.fa");
	int64_t N = opts[2].value ? rt_parse_int("--max-new", opts[2].value, 1,
	                                         max_len, "need 1 to max_len")
	                          : 100;
	if (opts[3].value)
		sm.temp = parse_real("--temperature", opts[3].value, 0, 1e6);
	if (opts[4].value)
		sm.top_k = rt_parse_int("--top-k", opts[4].value, 0, 5,
		                        "need 0 (no cut) to 5");
	if (opts[5].value)
		sm.top_p = parse_real("--top-p", opts[5].value, 1e-9, 1);
	uint64_t seed = opts[6].value
	                    ? (uint64_t)rt_parse_int("--seed", opts[6].value, 0,
	                                             INT64_MAX, "need >= 0")
	                    : 0;
	int64_t M = opts[7].value ? rt_parse_int("--num-samples", opts[7].value,
	                                         1, 1 << 20, "need 1 to 1048576")
	                          : 1;
	const char *allowed = opts[8].value ? opts[8].value : "ACGTN";
	char msg[64];
	if (!hyrt_sampler_allowed(&sm, allowed, msg, (int)sizeof msg))
		rt_usage("--allowed%s %s", msg[0] == '\'' ? ":" : "", msg);
	int64_t T = rt_thread_count(opts[10].value);
	if (hyenac_meta[HYRT_META_NOUTPUTS] < 2)
		rt_usage("model %s has no LM head, so it cannot generate",
		         hyenac_model_name);
	if (hyenac_state_bytes(1) == 0 && rt_is_gpu())
		rt_usage("model %s is a GPU binary, which has no decode step: "
		         "generate with a CPU binary of it", hyenac_model_name);
	if (hyenac_state_bytes(1) == 0)
		rt_usage("model %s was compiled without a decode step (it needs "
		         "the fused graph with folded filters: no -O0/--no-fuse, "
		         "and a --seq-len whose filters fit the fold limit)",
		         hyenac_model_name);
	rt_check_output(opts[9].value, NULL, false, cmd,
	                opts[1].value ? opts[1].value : NULL);
	if (opts[11].value) {
		rt_check_output(opts[11].value, "npy", false, cmd, opts[9].value);
		Diag dd;
		diag_init(&dd);
		if (!hyrt_out_distinct(opts[9].value, opts[11].value, &dd))
			rt_usage("%s", dd.msg);
	}
	int64_t P;
	int32_t *prompt = read_prompt(opts[0].value, opts[1].value,
	                              max_len - N, &P);
	if (P + N > max_len)
		rt_usage("prompt (%" PRId64 ") + --max-new (%" PRId64 ") = %" PRId64
		         " tokens, more than the %" PRId64 " the model was compiled "
		         "for (--seq-len)", P, N, P + N, max_len);
	if (rt_argv_only) {
		free(prompt);
		return 0;
	}

	HyrtBlob w;
	rt_load_weights(&w);
	hyrt_set_threads((int)T);
	size_t sb = (size_t)hyenac_state_bytes(M);
	void *state = state_alloc(sb);
	void *scratch = rt_xalloc(hyenac_scratch_bytes(M, P), "the scratch");
	int32_t *tok = rt_xalloc(rt_mul3(M, P, 1, "the prompt") * sizeof *tok,
	                         "the prompt");
	float *lg = rt_xalloc(rt_mul3(M, P > 1 ? P : 1, V, "logits") *
	                      sizeof *lg, "the logits");
	float *keep = opts[11].value
	                  ? rt_xalloc(rt_mul3(M, N, V, "logits") * sizeof *keep,
	                              "the logits")
	                  : NULL;
	int32_t *out = rt_xalloc(rt_mul3(M, N, 1, "samples") * sizeof *out,
	                         "the samples");
	HyrtRng *rng = rt_xalloc((size_t)M * sizeof *rng, "the generators");
	for (int64_t s = 0; s < M; s++) {
		memcpy(tok + s * P, prompt, (size_t)P * sizeof *tok);
		hyrt_rng_seed(&rng[s], seed, (uint64_t)s);
	}
	double *step_ms = rt_xalloc((size_t)N * sizeof *step_ms, "timings");
	double t0 = rt_now_ms();
	hyenac_prefill(w.data, tok, M, P, lg, scratch, state);
	double prefill_ms = rt_now_ms() - t0;
	/* Past the prefill only the state is [context, D] per layer: the
	 * forward's scratch and its [M, P, V] logits go, the step's are a
	 * row per sample. */
	free(scratch);
	scratch = rt_xalloc(hyenac_scratch_bytes(M, 1), "the scratch");
	for (int64_t s = 0; s < M; s++)
		memmove(lg + s * V, lg + (s * P + P - 1) * V,
		        (size_t)V * sizeof *lg);
	float *small = realloc(lg, rt_mul3(M, 1, V, "logits") * sizeof *lg);
	lg = small ? small : lg;
	/* the last position's row of each sample, then each step's */
	for (int64_t i = 0; i < N; i++) {
		for (int64_t s = 0; s < M; s++) {
			const float *r = lg + s * V;
			out[s * N + i] = tok[s] = hyrt_sample(&sm, r, &rng[s]);
			if (keep)
				memcpy(keep + (s * N + i) * V, r, (size_t)V * sizeof *r);
		}
		if (i + 1 < N) {
			t0 = rt_now_ms();
			hyenac_step(w.data, tok, M, P + i, lg, scratch, state);
			step_ms[i] = rt_now_ms() - t0;
		}
	}

	if (opts[12].value && N > 1) {
		rt_sort_doubles(step_ms, N - 1);
		fprintf(stderr, "%s: prefill_ms=%.3f step_ms_median=%.4f "
		        "step_ms_min=%.4f step_ms_max=%.4f steps=%" PRId64
		        " samples=%" PRId64 " context=%" PRId64 " threads=%" PRId64
		        " state_bytes=%zu\n", rt_prog, prefill_ms,
		        step_ms[(N - 1) / 2], step_ms[0], step_ms[N - 2], N - 1, M,
		        P + N - 1, T, sb);
	}
	free(step_ms);
	/* the output: FASTA, 80 bases a line */
	HyrtOut fo, lo;
	HyrtOut *outs[2] = {&fo, &lo};
	Diag d;
	diag_init(&d);
	hyrt_out_install_cleanup();
	if (!hyrt_out_open(&fo, opts[9].value, &d))
		rt_fail_diag(&d);
	if (keep && !hyrt_out_open(&lo, opts[11].value, &d))
		rt_fail_diag(&d);
	char *line = rt_xalloc(512, "a line");
	for (int64_t s = 0; s < M; s++) {
		char tb[32];
		snprintf(tb, sizeof tb, "%g", sm.temp);
		int n = snprintf(line, 512, ">%s_sample%" PRId64 " prompt_len=%"
		                 PRId64 " new=%" PRId64 " temperature=%s top_k=%"
		                 PRId64 " top_p=%g seed=%" PRIu64 " allowed=%s\n",
		                 hyenac_model_name, s + 1, P, N, tb, sm.top_k,
		                 sm.top_p, seed, allowed);
		if (!hyrt_out_write(&fo, line, (size_t)(n < 512 ? n : 511), &d))
			rt_fail_diag(&d);
		int64_t total = P + N, col = 0;
		for (int64_t i = 0; i < total; i++) {
			int32_t id = i < P ? prompt[i] : out[s * N + i - P];
			line[col++] = hyrt_id_base(id);
			if (col == 80 || i + 1 == total) {
				line[col++] = '\n';
				if (!hyrt_out_write(&fo, line, (size_t)col, &d))
					rt_fail_diag(&d);
				col = 0;
			}
		}
	}
	if (keep) {
		int64_t dim[3] = {M, N, V};
		if (!npy_write_f32(&lo, keep, 3, dim, &d))
			rt_fail_diag(&d);
	}
	if (!hyrt_out_commit(outs, keep ? 2 : 1, &d))
		rt_fail_diag(&d);
	free(line);
	free(rng);
	free(out);
	free(keep);
	free(lg);
	free(tok);
	free(scratch);
	free(state);
	free(prompt);
	hyrt_blob_close(&w);
	return rt_finish();
}
