/*
 * test_dot.c - the pictures: `hyenac ir --dot` (ir/dot.c) rendered by
 * Graphviz's dot, and `hyenac ir --plan-svg` (passes/memplan_svg.c) read
 * back by python3's XML parser. What each picture must show is taken from
 * the graph itself, built here in-process the way `hyenac ir` builds it:
 * every node's name (as the title Graphviz gives a DOT node), a cluster per
 * fused node, each planned node's region and offset in its label, and one
 * rect per planned buffer, none overlapping another that is live at the
 * same time. Also the usage errors: --dot where no IR is printed,
 * --plan-svg anywhere but `ir`, or onto a directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "testutil.h"

#define DOT_BIN "/usr/bin/dot"
#define PYTHON "/usr/bin/python3"

typedef struct Loaded {
	Arena *a;
	Model *m;
	Graph *g;
} Loaded;

/* golden tiny-1k through the whole pipeline, as `hyenac ir` runs it. */
static void load(Loaded *l, bool fuse)
{
	Diag d;
	PassOptions po;

	diag_init(&d);
	l->a = arena_new();
	l->m = fe_load_model(l->a, tu_golden("tiny-1k", NULL), &d);
	ck_assert_msg(l->m, "%s", d.msg);
	l->g = fe_lower(l->a, l->m, &d);
	ck_assert_msg(l->g, "%s", d.msg);
	pass_options_default(&po);
	po.fuse = fuse;
	ck_assert_msg(pass_pipeline(l->g, &po, &d), "%s", d.msg);
	ck_assert(l->g->planned);
}

static void unload(Loaded *l)
{
	fe_model_close(l->m);
	arena_free(l->a);
}

static bool is_fused(const Node *n)
{
	return n->op == OP_FUSED_PROJ || n->op == OP_FUSED_MLP ||
	       n->op == OP_GATED_CONV;
}

static void sh(RunResult *r, const char *cmd)
{
	tu_run(r, "/bin/sh", (const char *[]){"-c", cmd, NULL});
}

/* `hyenac ARGS > name.dot`, then dot -Tsvg; the SVG's text. */
static char *render(const char *name, const char *args)
{
	char cmd[2048];
	const char *dotf = tu_path(tu_tmpdir(), name);
	RunResult r;
	size_t n;

	snprintf(cmd, sizeof cmd, "'%s' %s > '%s.dot'", HYENAC_BIN, args, dotf);
	sh(&r, cmd);
	ck_assert_msg(r.status == 0, "%s: %s", cmd, r.err);
	snprintf(cmd, sizeof cmd, "'%s' -Tsvg '%s.dot' > '%s.svg'", DOT_BIN, dotf,
	         dotf);
	sh(&r, cmd);
	ck_assert_msg(r.status == 0, "dot does not parse %s.dot: %s", dotf, r.err);
	snprintf(cmd, sizeof cmd, "%s.svg", dotf);
	char *svg = tu_read(cmd, &n);
	ck_assert(svg && n > 0);
	return svg;
}

/* Graphviz writes each node and cluster as a <g> whose <title> is its
 * name; the node's group, from its title to its end. */
static const char *group(const char *svg, const char *title, char *buf,
                         size_t cap)
{
	char key[512];
	snprintf(key, sizeof key, "<title>%s</title>", title);
	const char *p = strstr(svg, key);
	if (!p)
		return NULL;
	const char *e = strstr(p, "</g>");
	size_t n = e ? (size_t)(e - p) : strlen(p);
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, p, n);
	buf[n] = 0;
	return buf;
}

static const char *region_name(MemRegion r)
{
	return r == MEM_TOKEN      ? "token"
	       : r == MEM_POSITION ? "position"
	       : r == MEM_SAMPLE   ? "sample"
	                           : "fixed";
}

/* Every node named, every fused node a cluster, every planned node's
 * region and offset in its label. */
static void check_graph_svg(const Graph *g, const char *svg)
{
	char buf[8192], key[600];
	int fused = 0, clusters = 0;

	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		ck_assert_msg(group(svg, n->name, buf, sizeof buf),
		              "no node %s in the rendered graph", n->name);
		if (n->region != MEM_NONE) {
			snprintf(key, sizeof key, ">%s @ %lld<", region_name(n->region),
			         (long long)n->offset);
			ck_assert_msg(strstr(buf, key), "node %s lacks '%s'", n->name,
			              key);
		}
		if (is_fused(n)) {
			fused++;
			snprintf(key, sizeof key, "cluster_%s", n->name);
			ck_assert_msg(group(svg, key, buf, sizeof buf),
			              "fused node %s has no cluster", n->name);
		}
	}
	for (const char *p = svg; (p = strstr(p, "<title>cluster_")); p++)
		clusters++;
	ck_assert_int_eq(clusters, fused);
	for (int i = 0; i < g->noutputs; i++) {
		snprintf(key, sizeof key, "output %s", g->outputs[i].name);
		ck_assert_msg(group(svg, key, buf, sizeof buf), "no %s", key);
	}
}

START_TEST(dot_full_pipeline)
{
	Loaded l;
	load(&l, true);
	char args[1024];
	snprintf(args, sizeof args, "ir '%s' --dot", tu_golden("tiny-1k", NULL));
	char *svg = render("full", args);
	int fused = 0;
	for (int i = 0; i < l.g->nnodes; i++)
		fused += is_fused(l.g->nodes[i]);
	ck_assert_int_ge(fused, 3); /* proj, gated_conv, mlp at least */
	check_graph_svg(l.g, svg);
	/* what a cluster absorbed is drawn inside it */
	char buf[8192];
	ck_assert(group(svg, "l0.res2/0", buf, sizeof buf));
	ck_assert(strstr(buf, ">layernorm<"));
	free(svg);
	unload(&l);
}
END_TEST

START_TEST(dot_unfused)
{
	Loaded l;
	load(&l, false);
	char args[1024];
	snprintf(args, sizeof args, "ir '%s' -O0 --format=dot",
	         tu_golden("tiny-1k", NULL));
	char *svg = render("unfused", args);
	check_graph_svg(l.g, svg);
	/* No fusion in the forward; the one cluster is the logits entry's
	 * head (final norm fused into the projection), which the entries
	 * pass makes with or without fusion. */
	const char *c = strstr(svg, "<title>cluster_");
	ck_assert(c && strncmp(c, "<title>cluster_logits.from_norm<", 32) == 0);
	ck_assert(!strstr(c + 1, "<title>cluster_"));
	free(svg);
	snprintf(args, sizeof args, "ir '%s' --no-fuse --dot",
	         tu_golden("tiny-1k", NULL));
	svg = render("nofuse", args);
	check_graph_svg(l.g, svg);
	free(svg);
	unload(&l);
}
END_TEST

/* --print-after writes one DOT graph per pass asked for; opt draws the
 * graph one pass makes from text. */
START_TEST(dot_print_after_and_opt)
{
	char args[1024], cmd[2048];
	RunResult r;

	snprintf(args, sizeof args, "ir '%s' --print-after=fuse --format=dot",
	         tu_golden("tiny-1k", NULL));
	char *svg = render("after", args);
	ck_assert(strstr(svg, "<title>cluster_l0.short</title>"));
	free(svg);
	char *dot = tu_read(tu_path(tu_tmpdir(), "after.dot"), NULL);
	ck_assert(strncmp(dot, "// after fuse\ndigraph ", 22) == 0);
	free(dot);

	const char *ir = tu_path(tu_tmpdir(), "unfused.ir");
	snprintf(cmd, sizeof cmd, "'%s' ir '%s' --no-fuse > '%s'", HYENAC_BIN,
	         tu_golden("tiny-1k", NULL), ir);
	sh(&r, cmd);
	ck_assert_msg(r.status == 0, "%s", r.err);
	snprintf(args, sizeof args, "opt --pass=fuse '%s' --dot", ir);
	svg = render("opt", args);
	ck_assert(strstr(svg, "<title>cluster_l1.res2</title>"));
	free(svg);
}
END_TEST

/* The plan's picture parses as XML and has one rect per planned buffer,
 * named in its <title>; no two rects of a region overlap where they share
 * a node (memplan's promise, drawn). */
static const char check_plan_py[] =
    "import sys, xml.etree.ElementTree as ET\n"
    "ns = '{http://www.w3.org/2000/svg}'\n"
    "root = ET.parse(sys.argv[1]).getroot()\n"
    "assert root.tag == ns + 'svg', root.tag\n"
    "bufs = [r for r in root.iter(ns + 'rect') if r.get('class') == 'buf']\n"
    "box = []\n"
    "for r in bufs:\n"
    "    t = r.find(ns + 'title')\n"
    "    assert t is not None and t.text.startswith('%'), 'untitled rect'\n"
    "    f = [float(r.get(k)) for k in ('x', 'y', 'width', 'height')]\n"
    "    assert f[2] > 0 and f[3] > 0, t.text\n"
    "    box.append((r.get('data-region'), f, t.text))\n"
    "e = 1e-6\n"
    "for i, (ra, a, ta) in enumerate(box):\n"
    "    for rb, b, tb in box[i + 1:]:\n"
    "        if ra == rb and a[0] < b[0] + b[2] - e and b[0] < a[0] + a[2] - e \\\n"
    "           and a[1] < b[1] + b[3] - e and b[1] < a[1] + a[3] - e:\n"
    "            sys.exit('overlap: %s / %s' % (ta, tb))\n"
    "print(len(bufs))\n";

START_TEST(plan_svg)
{
	Loaded l;
	RunResult r;
	char buf[512];
	size_t n;
	int planned = 0, planar = 0;

	load(&l, true);
	const char *svgf = tu_path(tu_tmpdir(), "plan.svg");
	tu_run_hyenac(&r, (const char *[]){"ir", tu_golden("tiny-1k", NULL),
	                                   "--plan-svg", svgf, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(strstr(r.out, "graph \"")); /* the IR still printed */
	const char *py = tu_write_str("check_plan.py", check_plan_py);
	tu_run(&r, PYTHON, (const char *[]){py, svgf, NULL});
	ck_assert_msg(r.status == 0, "plan SVG: %s", r.err);
	char *svg = tu_read(svgf, &n);
	ck_assert(svg);
	for (int i = 0; i < l.g->nnodes; i++) {
		const Node *x = l.g->nodes[i];
		if (x->region == MEM_NONE)
			continue;
		planned++;
		if (x->planar) { /* a rect for each plane */
			planar++;
			snprintf(buf, sizeof buf, "<title>%%%s post plane: ", x->name);
			ck_assert_msg(strstr(svg, buf), "no rect for %s", buf);
			snprintf(buf, sizeof buf, "<title>%%%s value plane: ",
			         x->name);
		} else {
			snprintf(buf, sizeof buf, "<title>%%%s: ", x->name);
		}
		ck_assert_msg(strstr(svg, buf), "no rect for %s", x->name);
	}
	ck_assert_int_gt(planned, 0);
	ck_assert_int_eq(planar, 2); /* tiny-1k's two gated projections */
	ck_assert_int_eq(atoi(r.out), planned + planar);
	free(svg);
	unload(&l);
}
END_TEST

/* A filter made inside the convolution (gen=1): its four sources go to
 * the filter step, which feeds the convolution beside the gate. */
START_TEST(dot_gated_conv_gen)
{
	char args[1024], buf[8192];

	snprintf(args, sizeof args, "opt --pass=fuse '%s' --dot",
	         tu_source("tests/ir/fuse-gen.ir"));
	char *svg = render("gen", args);
	ck_assert(group(svg, "cluster_out", buf, sizeof buf));
	ck_assert(group(svg, "out/1", buf, sizeof buf));
	ck_assert_msg(strstr(buf, ">filter: (h w^T) * expmod<"), "%s", buf);
	ck_assert(group(svg, "out/2", buf, sizeof buf));
	ck_assert_msg(strstr(buf, ">longconv fft<"), "%s", buf);
	static const char *const edges[] = {
		"pos&#45;&gt;out/1", "fw&#45;&gt;out/1", /* pos is t too */
		"deltas&#45;&gt;out/1", "out/0&#45;&gt;out/2", "out/1&#45;&gt;out/2",
		"z&#45;&gt;out/0", "fb&#45;&gt;out/3", "out/4&#45;&gt;out",
	};
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
		ck_assert_msg(group(svg, edges[i], buf, sizeof buf), "no edge %s",
		              edges[i]);
	free(svg);
}
END_TEST

/* A graph name with '"', '\', a newline and XML's specials: DOT that dot
 * reads, SVG that parses. */
START_TEST(names_escaped)
{
	static const char ir[] =
	    "graph \"we\\\"ird\\\\name\\n<&>\" max_len=16 {\n"
	    "  %tokens = input : i32[B,L]\n"
	    "  %emb.w = weight {name=\"e\"} : f32[4,8]\n"
	    "  %x.0 = embed %emb.w, %tokens : f32[B,L,8]\n"
	    "  %g = weight {name=\"g\"} : f32[8]\n"
	    "  %b = weight {name=\"b\"} : f32[8]\n"
	    "  %y = layernorm %x.0, %g, %b {eps=1e-05} : f32[B,L,8]\n"
	    "  output hidden = %y\n"
	    "}\n";
	Arena *a = arena_new();
	Diag d;
	RunResult r;
	bool changed;

	diag_init(&d);
	Graph *g = ir_parse(a, ir, "names.ir", &d);
	ck_assert_msg(g, "%s", d.msg);
	ck_assert(strchr(g->name, '"') && strchr(g->name, '\\') &&
	          strchr(g->name, '\n'));
	ck_assert(pass_memplan(g, NULL, &d, &changed));
	const char *dotf = tu_path(tu_tmpdir(), "names.dot");
	FILE *f = fopen(dotf, "w");
	ck_assert(f);
	ir_print_dot(g, f);
	fclose(f);
	tu_run(&r, DOT_BIN, (const char *[]){"-Tsvg", dotf, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(strstr(r.out, "<title>x.0</title>"));
	ck_assert(strstr(r.out, ">token @ 0<"));
	const char *svgf = tu_path(tu_tmpdir(), "names.svg");
	f = fopen(svgf, "w");
	ck_assert(f);
	pass_memplan_svg(g, f);
	fclose(f);
	const char *py = tu_write_str("check_plan.py", check_plan_py);
	tu_run(&r, PYTHON, (const char *[]){py, svgf, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_int_eq(atoi(r.out), 1); /* %x.0; the output %y is the caller's */
	arena_free(a);
}
END_TEST

static void expect_usage(const char *const *args, const char *what)
{
	RunResult r;
	tu_run_hyenac(&r, args);
	ck_assert_msg(r.status == 2, "%s: exit %d: %s", what, r.status, r.err);
	ck_assert_msg(tu_lines(r.err) == 1, "%s: %s", what, r.err);
	ck_assert_msg(r.out[0] == 0, "%s printed %s", what, r.out);
}

START_TEST(usage_errors)
{
	const char *m = tu_golden("tiny-1k", NULL);
	const char *dir = tu_tmpdir();
	const char *exe = tu_path(dir, "never");
	struct stat st;

	expect_usage((const char *[]){"info", m, "--dot", NULL}, "info --dot");
	expect_usage((const char *[]){"compile", m, "-o", exe, "--dot", NULL},
	             "compile --dot");
	expect_usage((const char *[]){"ir", m, "--format=png", NULL},
	             "--format=png");
	expect_usage((const char *[]){"ir", m, "--plan-svg", dir, NULL},
	             "--plan-svg DIR");
	expect_usage((const char *[]){"ir", m, "--plan-svg",
	                              tu_path(dir, "plan.png"), NULL},
	             "--plan-svg F.png");
	expect_usage((const char *[]){"compile", m, "-o", exe, "--plan-svg",
	                              tu_path(dir, "c.svg"), NULL},
	             "compile --plan-svg");
	expect_usage((const char *[]){"ir", m, "--plan-svg", NULL},
	             "--plan-svg without a file");
	ck_assert(stat(exe, &st) != 0);
	ck_assert(stat(tu_path(dir, "c.svg"), &st) != 0);

	/* bad input: nothing under the picture's name */
	RunResult r;
	const char *svgf = tu_path(dir, "bad.svg");
	tu_run_hyenac(&r, (const char *[]){"ir", tu_path(dir, "no-such-model"),
	                                   "--plan-svg", svgf, NULL});
	ck_assert_int_eq(r.status, 1);
	ck_assert_int_eq(tu_lines(r.err), 1);
	ck_assert(stat(svgf, &st) != 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("dot");
	TCase *t = tcase_create("dot");
	tcase_set_timeout(t, 300);
	tcase_add_test(t, dot_full_pipeline);
	tcase_add_test(t, dot_unfused);
	tcase_add_test(t, dot_print_after_and_opt);
	tcase_add_test(t, dot_gated_conv_gen);
	tcase_add_test(t, plan_svg);
	tcase_add_test(t, names_escaped);
	tcase_add_test(t, usage_errors);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
