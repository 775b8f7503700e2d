/*
 * score.c - a window's log-likelihood from its logits (score.h): the max
 * subtracted before exp, the sums in double, so a window of a million
 * tokens loses nothing to float rounding.
 */
#include "score.h"

#include <math.h>

double hyrt_window_logp(const float *logits, const int32_t *tok,
                        int64_t scored, int64_t V, double *each)
{
	double sum = 0;

	for (int64_t p = 0; p < scored; p++) {
		const float *row = logits + p * V;
		double mx = row[0], z = 0;
		for (int64_t v = 1; v < V; v++)
			mx = row[v] > mx ? row[v] : mx;
		for (int64_t v = 0; v < V; v++)
			z += exp((double)row[v] - mx);
		double lp = (double)row[tok[p + 1]] - mx - log(z);
		if (each)
			each[p] = lp;
		sum += lp;
	}
	return sum;
}
