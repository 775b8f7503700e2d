/*
 * embed_example.c - using a model compiled as a library:
 *
 *     hyenac compile models/hyenadna-tiny-1k.yaml -o libtiny.so --emit lib
 *     cc -O2 -o embed_example examples/embed_example.c -I. -L. -ltiny \
 *        -Wl,-rpath,'$ORIGIN'
 *     ./embed_example [ACGT...]
 *
 * Loads the model (its weights are inside libtiny.so), sets its threads,
 * tokenizes a DNA sequence as the HF HyenaDNA tokenizer does, embeds it
 * mean-pooled (hyenac_model_embed_pooled, as the binary's `embed --pool
 * mean`), scores it under the LM head (hyenac_model_score: the sum of
 * log p of each base given the ones before it, as the binary's `score`),
 * and shows that errors come back as status codes with a message. Exit
 * status 0 when everything behaved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyenac_model.h"

int main(int argc, char **argv)
{
	const char *seq = argc > 1 ? argv[1]
	                           : "ACGTAGCTAGCTAGGGATCCGATCGATCGGATTACA";
	HyenacModel *m;
	char err[1024];
	int st;

	st = hyenac_model_load(NULL, &m, err, sizeof err);
	if (st != HYENAC_OK) {
		fprintf(stderr, "embed_example: %s\n", err);
		return 1;
	}
	int64_t d = hyenac_model_d_model(m);
	hyenac_model_set_threads(m, 0); /* every core */
	printf("model %s: d_model %lld, layers %lld, max_len %lld, head %s\n",
	       hyenac_model_get_name(m), (long long)d,
	       (long long)hyenac_model_n_layer(m),
	       (long long)hyenac_model_max_len(m),
	       hyenac_model_has_head(m) ? "yes" : "no");

	/* Tokens: the bases, then [SEP]. */
	size_t n = strlen(seq);
	int64_t L = hyenac_tokenize(seq, n, NULL, 0, HYENAC_TOKENIZE_SEP);
	int32_t *tok = malloc(sizeof *tok * (size_t)L);
	float *h = malloc(sizeof *h * (size_t)(L * d));
	if (!tok || !h)
		return 1;
	hyenac_tokenize(seq, n, tok, (size_t)L, HYENAC_TOKENIZE_SEP);
	printf("sequence of %zu bases: %lld tokens\n", n, (long long)L);

	st = hyenac_model_embed_pooled(m, tok, 1, L, HYENAC_POOL_MEAN, h);
	if (st != HYENAC_OK) {
		fprintf(stderr, "embed_example: %s\n", hyenac_model_error(m));
		return 1;
	}
	printf("mean embedding[0..4]:");
	for (int64_t k = 0; k < 4 && k < d; k++)
		printf(" %.6f", h[k]);
	printf("\n");

	if (hyenac_model_has_head(m)) {
		double logp;
		st = hyenac_model_score(m, tok, 1, L, &logp);
		if (st != HYENAC_OK) {
			fprintf(stderr, "embed_example: %s\n",
			        hyenac_model_error(m));
			return 1;
		}
		printf("log p(sequence) = %.6f over %lld bases\n", logp,
		       (long long)hyenac_model_scored_tokens(tok, L));
	}

	/* Mistakes are reported, not fatal. */
	int32_t bad[2] = {7, 99};
	st = hyenac_model_embed(m, bad, 1, 2, h);
	printf("bad token: status %d (%s): %s\n", st, hyenac_status_string(st),
	       hyenac_model_error(m));
	if (st != HYENAC_ERR_TOKEN)
		return 1;
	st = hyenac_model_embed(m, tok, 1, hyenac_model_max_len(m) + 1, h);
	printf("too long: status %d (%s)\n", st, hyenac_status_string(st));
	if (st != HYENAC_ERR_LENGTH)
		return 1;

	free(tok);
	free(h);
	hyenac_model_free(m);
	printf("ok\n");
	return 0;
}
