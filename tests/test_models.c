/*
 * test_models.c - every description in models/ loads, lowers to IR that
 * verifies, and runs a short input through the interpreter with finite,
 * non-degenerate outputs of the right shape. Also: seeded initialisation
 * is reproducible and the seed matters.
 */
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "testutil.h"

static const char *const released[] = {
	"hyenadna-tiny-1k",     "hyenadna-tiny-1k-d256", "hyenadna-tiny-16k-d128",
	"hyenadna-small-32k",   "hyenadna-medium-160k",  "hyenadna-medium-450k",
	"hyenadna-large-1m",
};

static void run_short(const char *path)
{
	Diag d;
	Arena *a = arena_new();
	int32_t tok[2 * 16];
	float *outs[2] = {0};

	diag_init(&d);
	Model *m = fe_load_model(a, path, &d);
	ck_assert_msg(m, "%s: %s", path, d.msg);
	Graph *g = fe_lower(a, m, &d);
	ck_assert_msg(g, "%s: %s", path, d.msg);
	ck_assert_msg(ir_verify(g, &d), "%s: %s", path, d.msg);
	ck_assert_msg(pass_pipeline(g, NULL, &d), "%s", d.msg);
	for (int i = 0; i < 32; i++)
		tok[i] = 7 + (i * 7 + i / 3) % 5;
	ck_assert_msg(ir_interp(g, tok, 2, 16, outs, &d), "%s: %s", path, d.msg);
	int64_t D = m->spec.d_model;
	double sum = 0, sq = 0;
	for (int64_t i = 0; i < 2 * 16 * D; i++) {
		ck_assert_msg(isfinite(outs[0][i]), "%s: non-finite hidden", path);
		sum += outs[0][i];
		sq += (double)outs[0][i] * outs[0][i];
	}
	/* After the final LayerNorm (gain 1, bias 0 at init) each row has
	 * mean 0 and variance 1; a broken graph rarely keeps that. */
	double n = 2.0 * 16 * (double)D;
	ck_assert_msg(fabs(sum / n) < 1e-3, "%s: mean %g", path, sum / n);
	ck_assert_msg(fabs(sq / n - 1.0) < 1e-2, "%s: var %g", path, sq / n);
	ck_assert_int_eq(g->noutputs, 2);
	free(outs[0]);
	free(outs[1]);
	fe_model_close(m);
	arena_free(a);
}

START_TEST(released_models_run)
{
	char rel[256];
	snprintf(rel, sizeof rel, "models/%s.yaml", released[_i]);
	run_short(tu_source(rel));
}
END_TEST

/* Nothing in models/ goes untested. */
START_TEST(every_description_is_listed)
{
	glob_t gl;
	ck_assert_int_eq(glob(tu_source("models/*.yaml"), 0, NULL, &gl), 0);
	for (size_t i = 0; i < gl.gl_pathc; i++) {
		bool found = false;
		for (size_t k = 0; k < sizeof released / sizeof *released; k++) {
			char want[256];
			snprintf(want, sizeof want, "/%s.yaml", released[k]);
			size_t n = strlen(gl.gl_pathv[i]), w = strlen(want);
			found |= n >= w && strcmp(gl.gl_pathv[i] + n - w, want) == 0;
		}
		ck_assert_msg(found, "%s is not run by this test", gl.gl_pathv[i]);
	}
	globfree(&gl);
}
END_TEST

static float first_weight(const char *yaml, const char *name)
{
	Diag d;
	Arena *a = arena_new();
	diag_init(&d);
	Model *m = fe_load_model(a, tu_write_str("seeded.yaml", yaml), &d);
	ck_assert_msg(m, "%s", d.msg);
	Tensor *t = fe_weight_find(&m->w, name);
	ck_assert(t);
	float v = t->data[3];
	arena_free(a);
	return v;
}

START_TEST(seeded_init)
{
	const char *w = "hyena.backbone.layers.1.mixer.in_proj.weight";
	float a = first_weight("d_model: 32\nn_layer: 2\nmax_seq_len: 64\n"
	                       "weights: {seed: 5}\n", w);
	float b = first_weight("d_model: 32\nn_layer: 2\nmax_seq_len: 64\n"
	                       "weights: {seed: 5}\n", w);
	float c = first_weight("d_model: 32\nn_layer: 2\nmax_seq_len: 64\n"
	                       "weights: {seed: 6}\n", w);
	ck_assert(a == b);
	ck_assert(a != c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("models");
	TCase *tc = tcase_create("models");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, released_models_run, 0,
	                    sizeof released / sizeof *released);
	tcase_add_test(tc, every_description_is_listed);
	tcase_add_test(tc, seeded_init);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
