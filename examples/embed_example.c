/*
 * embed_example.c - using a model compiled as a library:
 *
 *     hyenac compile models/hyenadna-tiny-1k.yaml -o libtiny.so --emit lib
 *     cc -O2 -o embed_example examples/embed_example.c -I. -L. -ltiny \
 *        -Wl,-rpath,'$ORIGIN'
 *     ./embed_example [ACGT...]
 *
 * Loads the model (its weights are inside libtiny.so), tokenizes a DNA
 * sequence as the HF HyenaDNA tokenizer does, embeds it and mean-pools
 * the hidden states, scores it under the LM head (sum of log p of each
 * base given the ones before it), and shows that errors come back as
 * status codes with a message. Exit status 0 when everything behaved.
 */
#include <math.h>
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
	int64_t d = hyenac_model_d_model(m), V = hyenac_model_logits_width(m);
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
	float *g = malloc(sizeof *g * (size_t)(L * V));
	if (!tok || !h || !g)
		return 1;
	hyenac_tokenize(seq, n, tok, (size_t)L, HYENAC_TOKENIZE_SEP);
	printf("sequence of %zu bases: %lld tokens\n", n, (long long)L);

	st = hyenac_model_embed(m, tok, 1, L, h);
	if (st != HYENAC_OK) {
		fprintf(stderr, "embed_example: %s\n", hyenac_model_error(m));
		return 1;
	}
	printf("mean embedding[0..4]:");
	for (int64_t k = 0; k < 4 && k < d; k++) {
		double s = 0;
		for (int64_t t = 0; t < L; t++)
			s += h[t * d + k];
		printf(" %.6f", s / (double)L);
	}
	printf("\n");

	if (hyenac_model_has_head(m)) {
		st = hyenac_model_logits(m, tok, 1, L, g);
		if (st != HYENAC_OK) {
			fprintf(stderr, "embed_example: %s\n",
			        hyenac_model_error(m));
			return 1;
		}
		/* log p(base t+1 | bases 0..t), the [SEP] not scored */
		double sum = 0;
		for (int64_t t = 0; t + 2 < L; t++) {
			const float *row = g + t * V;
			double mx = row[0], z = 0;
			for (int64_t v = 1; v < V; v++)
				mx = row[v] > mx ? row[v] : mx;
			for (int64_t v = 0; v < V; v++)
				z += exp(row[v] - mx);
			sum += row[tok[t + 1]] - mx - log(z);
		}
		printf("log p(sequence) = %.6f over %lld bases\n", sum,
		       (long long)(L - 2));
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
	free(g);
	hyenac_model_free(m);
	printf("ok\n");
	return 0;
}
