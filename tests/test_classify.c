/*
 * test_classify.c - fine-tuned classifiers (issue 16, item 1), as a user
 * meets them: the golden tiny-1k-cls checkpoint (HF's
 * HyenaDNAForSequenceClassification, its cls_logits.npy from the
 * reference PyTorch code: row 0 without pad, row 1 left-padded, row 2
 * right-padded) through `hyenac run --interp`, `hyenac run` (JIT), a
 * compiled binary and the library, each within 2e-4 (max abs); its
 * hidden states too; and bad classifier configs refused in one line.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/hyenac_model.h"
#include "runtime/npy.h"
#include "testutil.h"

static const double TOL = 2e-4;

/* out (an .npy) against the golden file ref: same shape, within TOL. */
static void check_npy(const char *out, const char *ref, const char *how)
{
	NpyArray got, want;

	tu_load_npy(out, &got);
	tu_load_npy(tu_golden("tiny-1k-cls", ref), &want);
	ck_assert_int_eq(got.rank, want.rank);
	for (int i = 0; i < got.rank; i++)
		ck_assert_int_eq(got.dim[i], want.dim[i]);
	double e = tu_max_abs_diff(got.data, want.data, want.numel);
	printf("tiny-1k-cls %s: max abs error %.3g\n", how, e);
	ck_assert_msg(e <= TOL, "%s: max abs error %g", how, e);
	npy_free(&got);
	npy_free(&want);
}

/* hyenac run MODEL what --tokens golden -o out [extra] */
static void run_cli(const char *what, const char *extra, const char *ref)
{
	RunResult r;
	char name[64];
	snprintf(name, sizeof name, "run-%s%s.npy", what, extra ? extra : "");
	const char *out = tu_path(tu_tmpdir(), name);
	const char *args[] = {"run", tu_golden("tiny-1k-cls", NULL), what,
	                      "--tokens", tu_golden("tiny-1k-cls", "tokens.npy"),
	                      "-o", out, extra, NULL};

	tu_run_hyenac(&r, args);
	ck_assert_msg(r.status == 0, "hyenac run %s failed (%d): %s", what,
	              r.status, r.err);
	check_npy(out, ref, name);
}

START_TEST(golden_interp)
{
	run_cli("classify", "--interp", "cls_logits.npy");
}
END_TEST

START_TEST(golden_jit)
{
	run_cli("classify", NULL, "cls_logits.npy");
	run_cli("embed", NULL, "hidden.npy");
}
END_TEST

/* The entries pass's `entry classify` (one row picked, then the head)
 * against the lowered graph, which says HF's semantics word for word
 * (every position scored, then one kept), both in the interpreter, on
 * rows that put the first pad everywhere it matters: none, first
 * (left padding), second, in the middle with a later one, last. */
START_TEST(entry_equals_hf)
{
	enum { B = 5, L = 40 };
	int32_t tok[B * L];
	const int first_pad[B] = {-1, 0, 1, 20, L - 1};
	Diag d;
	Arena *a = arena_new();
	float *naive[2] = {NULL, NULL}, *ent[1] = {NULL};

	for (int b = 0; b < B; b++)
		for (int t = 0; t < L; t++)
			tok[b * L + t] = first_pad[b] >= 0 && t >= first_pad[b] &&
			                         (t == first_pad[b] || t % 3 == 0)
			                     ? 4
			                     : 7 + (b + t * 5) % 4;
	diag_init(&d);
	Model *m = fe_load_model(a, tu_golden("tiny-1k-cls", NULL), &d);
	ck_assert_msg(m, "%s", d.msg);
	Graph *g = fe_lower(a, m, &d);
	ck_assert_msg(g, "%s", d.msg);
	ck_assert_int_eq(g->noutputs, 2);
	ck_assert_str_eq(g->outputs[1].name, "classify");
	ck_assert(ir_interp(g, tok, B, L, naive, &d));
	/* the rule, by hand: hidden . score^T at the position it names */
	Tensor *w = fe_weight_find(&m->w, "score.weight");
	ck_assert(w && w->type.dim[0] == 2 && w->type.dim[1] == 128);
	for (int b = 0; b < B; b++) {
		int p = first_pad[b] <= 0 ? L - 1 : first_pad[b] - 1;
		for (int k = 0; k < 2; k++) {
			double z = 0;
			for (int c = 0; c < 128; c++)
				z += (double)naive[0][(b * L + p) * 128 + c] *
				     w->data[k * 128 + c];
			ck_assert_msg(fabs(z - naive[1][b * 2 + k]) <= 1e-5,
			              "row %d label %d: %g, want %g", b, k,
			              naive[1][b * 2 + k], z);
		}
	}
	ck_assert_msg(pass_pipeline(g, NULL, &d), "%s", d.msg);
	ck_assert_int_eq(g->noutputs, 1); /* the full forward: hidden */
	const EntryPoint *e = NULL;
	for (int i = 0; i < g->nentries; i++)
		if (strcmp(g->entries[i].name, "classify") == 0)
			e = &g->entries[i];
	ck_assert(e && e->noutputs == 1);
	ck_assert(ir_interp_entry(g, e, tok, B, L, ent, &d));
	double err = tu_max_abs_diff(ent[0], naive[1], B * 2);
	ck_assert_msg(err <= 1e-5, "entry classify vs HF's: %g", err);
	/* and the JIT's entry on the same rows */
	RunResult r;
	NpyArray got;
	int64_t dims[2] = {B, L};
	const char *tp = tu_path(tu_tmpdir(), "edge-tokens.npy");
	const char *out = tu_path(tu_tmpdir(), "edge-cls.npy");
	ck_assert(npy_save_i32(tp, tok, 2, dims, &d));
	tu_run_hyenac(&r, (const char *[]){"run",
	                                   tu_golden("tiny-1k-cls", NULL),
	                                   "classify", "--tokens", tp, "-o",
	                                   out, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	tu_load_npy(out, &got);
	err = tu_max_abs_diff(got.data, ent[0], B * 2);
	ck_assert_msg(err <= 1e-5, "JIT vs interpreter: %g", err);
	npy_free(&got);
	free(naive[0]);
	free(naive[1]);
	free(ent[0]);
	fe_model_close(m);
	arena_free(a);
}
END_TEST

/* A checkpoint directory: tiny-1k-cls's weights and its config.json
 * with `from` replaced by `to`. */
static const char *cls_ckpt(const char *dir, const char *from, const char *to)
{
	char rel[256];
	size_t n;
	char *cfg = tu_read(tu_golden("tiny-1k-cls", "config.json"), &n);
	char *p = strstr(cfg, from);
	ck_assert_msg(p, "'%s' not in config.json", from);
	char *c = malloc(n + strlen(to) + 1);
	memcpy(c, cfg, (size_t)(p - cfg));
	strcpy(c + (p - cfg), to);
	strcat(c, p + strlen(from));
	const char *path = tu_path(tu_tmpdir(), dir);
	mkdir(path, 0755);
	snprintf(rel, sizeof rel, "%s/config.json", dir);
	tu_write_str(rel, c);
	free(c);
	free(cfg);
	char *w = tu_read(tu_golden("tiny-1k-cls", "model.safetensors"), &n);
	snprintf(rel, sizeof rel, "%s/model.safetensors", dir);
	tu_write(rel, w, n);
	free(w);
	return path;
}

/* `hyenac info` on a bad classifier: exit 1, one line with each needle. */
static void expect_refused(const char *dir, const char *from, const char *to,
                           const char *const *needles)
{
	RunResult r;
	const char *m = cls_ckpt(dir, from, to);

	tu_run_hyenac(&r, (const char *[]){"info", m, NULL});
	ck_assert_msg(r.signal == 0, "killed by signal %d: %s", r.signal, r.err);
	ck_assert_msg(r.status == 1, "exit %d, want 1; stderr: %s", r.status,
	              r.err);
	ck_assert_msg(tu_lines(r.err) == 1, "want one line, got: %s", r.err);
	for (; *needles; needles++)
		ck_assert_msg(strstr(r.err, *needles), "'%s' not in: %s",
		              *needles, r.err);
}

START_TEST(bad_configs)
{
	/* score.weight has 2 rows */
	expect_refused("c-nlabels", "\"num_labels\": 2", "\"num_labels\": 3",
	               (const char *[]){"config.json", "id2label has no label "
	                                "for id 2", NULL});
	expect_refused("c-nlabels3",
	               "\"num_labels\": 2,\n  \"id2label\": {\n    \"0\": "
	               "\"class_0\",\n    \"1\": \"class_1\"\n  },\n  "
	               "\"label2id\": {\n    \"class_0\": 0,\n    \"class_1\": "
	               "1\n  }",
	               "\"num_labels\": 3, \"id2label\": {\"0\": \"a\", \"1\": "
	               "\"b\", \"2\": \"c\"}",
	               (const char *[]){"score.weight", NULL});
	expect_refused("c-missing", "\"1\": \"class_1\"", "\"2\": \"class_1\"",
	               (const char *[]){"config.json:", "'2' is not a label id",
	                                NULL});
	expect_refused("c-dup", "\"1\": \"class_1\"", "\"1\": \"class_0\"",
	               (const char *[]){"config.json:", "label 'class_0' names "
	                                "both id 0 and id 1", NULL});
	expect_refused("c-ctl", "\"1\": \"class_1\"", "\"1\": \"class\\t1\"",
	               (const char *[]){"config.json:", "control character",
	                                NULL});
	expect_refused("c-l2i", "\"class_1\": 1", "\"class_1\": 0",
	               (const char *[]){"config.json:", "label2id: 'class_1' "
	                                "must be 1", NULL});
	expect_refused("c-pad", "\"pad_token_id\": 4", "\"pad_token_id\": 99",
	               (const char *[]){"config.json:", "pad_token_id", NULL});
}
END_TEST

/* logits of a classifier: there is no LM head; one line. */
START_TEST(no_lm_logits)
{
	RunResult r;
	const char *out = tu_path(tu_tmpdir(), "no-logits.npy");

	tu_run_hyenac(&r, (const char *[]){"run",
	                                   tu_golden("tiny-1k-cls", NULL),
	                                   "logits", "--tokens",
	                                   tu_golden("tiny-1k-cls", "tokens.npy"),
	                                   "-o", out, NULL});
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(tu_lines(r.err) == 1 && strstr(r.err, "classifier"),
	              "%s", r.err);
	ck_assert(access(out, F_OK) != 0);

	/* and classify of a language model: it has no classifier */
	tu_run_hyenac(&r, (const char *[]){"run",
	                                   tu_source("models/hyenadna-tiny-1k.yaml"),
	                                   "classify", "--tokens",
	                                   tu_golden("tiny-1k-cls", "tokens.npy"),
	                                   "-o", out, NULL});
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(tu_lines(r.err) == 1 && strstr(r.err, "no classifier"),
	              "%s", r.err);
	ck_assert(access(out, F_OK) != 0);
}
END_TEST

/* hyenac info: the number of labels, the pad id and each label. */
START_TEST(driver_info)
{
	RunResult r;

	tu_run_hyenac(&r, (const char *[]){"info",
	                                   tu_golden("tiny-1k-cls", NULL), NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.out, "num_labels=2 pad_id=4\nlabel.0=class_0\n"
	                            "label.1=class_1\n"), "%s", r.out);
}
END_TEST

/* compile MODEL -o path [more...], or fail the test */
static void compile(const char *path, const char *emit)
{
	RunResult r;
	tu_run_hyenac(&r, (const char *[]){"compile",
	                                   tu_golden("tiny-1k-cls", NULL), "-o",
	                                   path, "--emit", emit, NULL});
	ck_assert_msg(r.status == 0, "compile --emit %s failed: %s", emit,
	              r.err);
}

#define SYM(name)                                                          \
	__typeof__(&name) p_##name = (__typeof__(&name))dlsym(so, #name);  \
	ck_assert_msg(p_##name != NULL, "no %s", #name)

/* The library: labels, classify and embed against the golden outputs,
 * logits refused (no LM head). */
START_TEST(golden_library)
{
	const char *dir = tu_path(tu_tmpdir(), "libdir");
	mkdir(dir, 0755);
	const char *lib = tu_path(dir, "libcls.so");
	NpyArray tok, want, hid;
	HyenacModel *m = NULL;
	char err[256];

	compile(lib, "lib");
	void *so = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(so, "%s", dlerror());
	SYM(hyenac_model_load);
	SYM(hyenac_model_free);
	SYM(hyenac_model_classify);
	SYM(hyenac_model_embed);
	SYM(hyenac_model_logits);
	SYM(hyenac_model_num_labels);
	SYM(hyenac_model_label_name);
	SYM(hyenac_model_error);
	ck_assert_int_eq(p_hyenac_model_num_labels(NULL), 2);
	ck_assert_str_eq(p_hyenac_model_label_name(NULL, 0), "class_0");
	ck_assert_str_eq(p_hyenac_model_label_name(NULL, 1), "class_1");
	ck_assert_ptr_null(p_hyenac_model_label_name(NULL, 2));
	ck_assert_ptr_null(p_hyenac_model_label_name(NULL, -1));
	ck_assert_msg(p_hyenac_model_load(NULL, &m, err, sizeof err) ==
	                  HYENAC_OK, "%s", err);
	tu_load_npy(tu_golden("tiny-1k-cls", "tokens.npy"), &tok);
	tu_load_npy(tu_golden("tiny-1k-cls", "cls_logits.npy"), &want);
	tu_load_npy(tu_golden("tiny-1k-cls", "hidden.npy"), &hid);
	int64_t B = tok.dim[0], L = tok.dim[1];
	float *got = malloc(want.numel * sizeof *got);
	float *h = malloc(hid.numel * sizeof *h);
	ck_assert_msg(p_hyenac_model_classify(m, tok.data, B, L, got) ==
	                  HYENAC_OK, "%s", p_hyenac_model_error(m));
	double e = tu_max_abs_diff(got, want.data, want.numel);
	printf("tiny-1k-cls library classify: max abs error %.3g\n", e);
	ck_assert_msg(e <= TOL, "library classify: max abs error %g", e);
	ck_assert_msg(p_hyenac_model_embed(m, tok.data, B, L, h) == HYENAC_OK,
	              "%s", p_hyenac_model_error(m));
	e = tu_max_abs_diff(h, hid.data, hid.numel);
	ck_assert_msg(e <= TOL, "library embed: max abs error %g", e);
	ck_assert_int_eq(p_hyenac_model_logits(m, tok.data, B, L, h),
	                 HYENAC_ERR_NO_HEAD);
	free(got);
	free(h);
	npy_free(&tok);
	npy_free(&want);
	npy_free(&hid);
	p_hyenac_model_free(m);
	/* Not dlclose'd: the FFT work buffers the library keeps per thread
	 * (runtime/fftconv.c, _Thread_local, never freed) would become
	 * unreachable, and LeakSanitizer would count them; at L = 1024 the
	 * convolutions go through the FFT, unlike test_frontdoor's. */
}
END_TEST

/* The compiled binary: classify --tokens against the golden logits;
 * info lists the labels; logits refused in one line; classify --fasta's
 * probabilities are the softmax of what classify --tokens gives for the
 * same windows, tokenized here by hand (A=7 C=8 G=9 T=10, [SEP]=1). */
START_TEST(golden_binary)
{
	const char *exe = tu_path(tu_tmpdir(), "cls");
	const char *out = tu_path(tu_tmpdir(), "bin-cls.npy");
	RunResult r;

	compile(exe, "exe");
	tu_run(&r, exe, (const char *[]){"classify", "--tokens",
	                                 tu_golden("tiny-1k-cls", "tokens.npy"),
	                                 "-o", out, NULL});
	ck_assert_msg(r.status == 0, "classify failed: %s", r.err);
	check_npy(out, "cls_logits.npy", "binary classify");

	tu_run(&r, exe, (const char *[]){"info", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(strstr(r.out, "num_labels=2\n"));
	ck_assert(strstr(r.out, "label.0=class_0\nlabel.1=class_1\n"));

	const char *lg = tu_path(tu_tmpdir(), "bin-logits.npy");
	tu_run(&r, exe, (const char *[]){"logits", "--tokens",
	                                 tu_golden("tiny-1k-cls", "tokens.npy"),
	                                 "-o", lg, NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(tu_lines(r.err) == 1 && strstr(r.err, "no LM head"),
	              "%s", r.err);
	ck_assert(access(lg, F_OK) != 0);

	/* two windows of 6 bases: ACGTAC then GTTG (short, its own batch) */
	const char *fa = tu_write_str("cls.fa", ">rec one\nACGTACGTTG\n");
	const char *tsv = tu_path(tu_tmpdir(), "cls.tsv");
	tu_run(&r, exe, (const char *[]){"classify", "--fasta", fa, "-o", tsv,
	                                 "--window", "6", NULL});
	ck_assert_msg(r.status == 0, "classify --fasta failed: %s", r.err);
	static const int32_t w0[] = {7, 8, 9, 10, 7, 8, 1};
	static const int32_t w1[] = {9, 10, 10, 9, 1};
	const int32_t *win[] = {w0, w1};
	const int64_t wl[] = {7, 5};
	char *text = tu_read(tsv, NULL);
	char *line = strchr(text, '\n');
	ck_assert(line);
	*line = 0;
	ck_assert_str_eq(text, "record\tstart\tend\tclass_0\tclass_1\t"
	                       "predicted");
	for (int k = 0; k < 2; k++) {
		Diag d;
		NpyArray lo;
		char name[32];
		int64_t dims[2] = {1, wl[k]};
		diag_init(&d);
		snprintf(name, sizeof name, "win%d.npy", k);
		const char *tp = tu_path(tu_tmpdir(), name);
		ck_assert(npy_save_i32(tp, win[k], 2, dims, &d));
		tu_run(&r, exe, (const char *[]){"classify", "--tokens", tp, "-o",
		                                 out, NULL});
		ck_assert_msg(r.status == 0, "%s", r.err);
		tu_load_npy(out, &lo);
		const float *z = lo.data;
		double m = z[0] > z[1] ? z[0] : z[1];
		double e0 = exp(z[0] - m), e1 = exp(z[1] - m);
		double p0 = e0 / (e0 + e1), p1 = e1 / (e0 + e1);
		char *row = line + 1, rec[16], pred[16];
		long start, end;
		double q0, q1;
		line = strchr(row, '\n');
		ck_assert(line);
		*line = 0;
		ck_assert_int_eq(sscanf(row, "%15[^\t]\t%ld\t%ld\t%lf\t%lf\t%15s",
		                        rec, &start, &end, &q0, &q1, pred), 6);
		ck_assert_str_eq(rec, "rec");
		ck_assert_int_eq(start, 6 * k);
		ck_assert_int_eq(end, k ? 10 : 6);
		ck_assert_msg(fabs(q0 - p0) < 1e-6 && fabs(q1 - p1) < 1e-6,
		              "window %d: %g %g, want %g %g", k, q0, q1, p0, p1);
		ck_assert_str_eq(pred, p1 > p0 ? "class_1" : "class_0");
		npy_free(&lo);
	}
	ck_assert_str_eq(line + 1, "");
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("classify");
	TCase *tc = tcase_create("classify");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, golden_interp);
	tcase_add_test(tc, entry_equals_hf);
	tcase_add_test(tc, golden_jit);
	tcase_add_test(tc, bad_configs);
	tcase_add_test(tc, no_lm_logits);
	tcase_add_test(tc, driver_info);
	tcase_add_test(tc, golden_library);
	tcase_add_test(tc, golden_binary);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
