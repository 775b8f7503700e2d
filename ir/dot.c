/*
 * dot.c - the graph as Graphviz DOT, for people exploring fusion
 * (`hyenac ir MODEL --dot`, `--print-after=PASS --format=dot`, `hyenac opt
 * --format=dot`). Render it with `dot -Tsvg`.
 *
 *   digraph "hyenadna-tiny-1k" {
 *     "embed" [label="%embed\nembed\nf32[B,L,128]\ntoken @ 0"];
 *     subgraph "cluster_l0.short" {
 *       label="fused_proj %l0.short";
 *       "l0.short/0" [label="layernorm"];
 *       "l0.short/1" [label="linear + bias"];
 *       ...
 *       "l0.short" [label="%l0.short\nfused_proj\nf32[B,L,256]\ntoken @ 512"];
 *     }
 *     "embed" -> "l0.short/0";
 *     "output hidden" [shape=oval];
 *   }
 *
 * Every node is a DOT node named by its value name, labelled with its name,
 * op (and its attributes, except a fused op's, which its cluster shows),
 * type and, once the memory plan has run, its region and offset (bytes per
 * region unit, as Node.offset). A fused op is a cluster: the steps it
 * absorbed, as nodes "NAME/0", "NAME/1", ... flowing into the fused node
 * itself, which carries the label above. The IR does not keep the absorbed
 * nodes (passes/fuse.c rewrites its last node in place and dce drops the
 * rest), so the steps are derived from the fused op's attributes and
 * sources, in the order ops.def gives for its semantics; each source's edge
 * goes to the step that reads it (a filter made inside a gated_conv feeds
 * its convolution step, beside the gate). Outputs are ovals "output NAME".
 *
 * Quoting: every ID and label is a quoted string with '"' and '\' escaped.
 * Value names are [A-Za-z0-9_.] (ir/text.c), so no step or output ID ('/'
 * and ' ') can meet one; in an ID Graphviz keeps "\\" as two bytes, which
 * still gives distinct names distinct IDs.
 *
 * What this does not do: it prints, it never parses DOT back; the text
 * form (ir/text.c) stays the one exact form.
 */
#include "ir.h"

#include <stdarg.h>
#include <string.h>

/* The inside of a quoted DOT string. */
static void put_esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void put_q(FILE *f, const char *s)
{
	fputc('"', f);
	put_esc(f, s);
	fputc('"', f);
}

static const char *region_name(MemRegion r)
{
	static const char *const names[] = {"none", "token", "position", "fixed",
	                                    "sample"};
	_Static_assert(sizeof names / sizeof names[0] == MEM_COUNT,
	               "one name per MemRegion");
	return names[r];
}

static bool is_fused(OpKind op)
{
	return op == OP_FUSED_PROJ || op == OP_FUSED_MLP || op == OP_GATED_CONV;
}

/* The attributes of a plain op, "axis=2, start=0, len=L", into buf. */
static void attr_text(const Node *n, char *buf, size_t cap)
{
	const OpInfo *info = ir_op_info(n->op);
	char name[64];
	size_t off = 0;

	buf[0] = 0;
	for (int i = 0; i < info->niattr && off < cap; i++) {
		int64_t v = n->iattr[i];
		ir_attr_name(info->iattrs, i, name, sizeof name);
		if (v == DIM_L || v == DIM_B)
			off += (size_t)snprintf(buf + off, cap - off, "%s%s=%s",
			                        off ? ", " : "", name,
			                        v == DIM_L ? "L" : "B");
		else
			off += (size_t)snprintf(buf + off, cap - off, "%s%s=%lld",
			                        off ? ", " : "", name, (long long)v);
	}
	for (int i = 0; i < info->nfattr && off < cap; i++) {
		ir_attr_name(info->fattrs, i, name, sizeof name);
		off += (size_t)snprintf(buf + off, cap - off, "%s%s=%g",
		                        off ? ", " : "", name, n->fattr[i]);
	}
}

/* "%name\nop {attrs}\ntype\nregion @ offset" */
static void print_label(FILE *f, const Graph *g, const Node *n)
{
	char type[128], attrs[256];

	ir_type_str(&n->type, type, sizeof type);
	attrs[0] = 0;
	if (!is_fused(n->op))
		attr_text(n, attrs, sizeof attrs);
	fputs("\"%", f);
	put_esc(f, n->name);
	fprintf(f, "\\n%s%s%s%s\\n%s", ir_op_info(n->op)->name,
	        attrs[0] ? " {" : "", attrs, attrs[0] ? "}" : "", type);
	if (g->planned && n->region != MEM_NONE)
		fprintf(f, "\\n%s @ %lld", region_name(n->region),
		        (long long)n->offset);
	fputc('"', f);
}

/* ---- what a fused op absorbed ---------------------------------------- */

enum { MAX_STEPS = 8 };

typedef struct Steps {
	int n;
	char label[MAX_STEPS][96];
	int next[MAX_STEPS]; /* the step that step i feeds; 0: i + 1 (or the
	                      * node, after the last) */
	int at[IR_MAX_SRC]; /* the step reading source slot k; -1: the node */
} Steps;

static int step(Steps *s, const char *fmt, ...) HY_PRINTF(2, 3);

static int step(Steps *s, const char *fmt, ...)
{
	va_list ap;

	HY_ASSERT(s->n < MAX_STEPS);
	va_start(ap, fmt);
	vsnprintf(s->label[s->n], sizeof s->label[0], fmt, ap);
	va_end(ap);
	return s->n++;
}

/* Source slot k (when present) is read by step i. */
static void reads(Steps *s, int k, int i)
{
	if (k >= 0)
		s->at[k] = i;
}

static const char *act_name(int64_t act)
{
	switch (act) {
	case FP_ACT_GELU_TANH:
		return ir_op_info(OP_GELU_TANH)->name;
	case FP_ACT_GELU:
		return ir_op_info(OP_GELU)->name;
	case FP_ACT_RELU:
		return ir_op_info(OP_RELU)->name;
	default:
		return NULL;
	}
}

static const char *method_name(int64_t m)
{
	return m == CONV_FFT ? "fft" : m == CONV_DIRECT ? "direct" : "auto";
}

/* The prologue fused_proj and fused_mlp share: an optional layernorm of
 * x, then a linear (+ bias) of it; the sources' edges go to the step
 * that reads them. Returns the linear's step. */
static int norm_linear(Steps *s, bool ln, bool bias, int x, int g, int b,
                       int w, int bsrc)
{
	int i;

	if (ln) {
		i = step(s, "layernorm");
		reads(s, x, i);
		reads(s, g, i);
		reads(s, b, i);
	}
	i = step(s, "linear%s", bias ? " + bias" : "");
	if (!ln)
		reads(s, x, i);
	reads(s, w, i);
	reads(s, bsrc, i);
	return i;
}

/* fused_proj (ops.def): ln, linear (+bias), dwconv, act, +res, gate. */
static void proj_steps(const Node *n, Steps *s)
{
	FpSrc fp;
	int i;

	ir_fp_srcs(n, &fp);
	i = norm_linear(s, n->iattr[FP_LN], n->iattr[FP_BIAS], fp.x, fp.ln_g,
	                fp.ln_b, fp.w, fp.bias);
	if (n->iattr[FP_CONV]) {
		i = step(s, "dwconv K=%lld%s", (long long)n->iattr[FP_CONV],
		         n->iattr[FP_CONV_BIAS] ? " + bias" : "");
		reads(s, fp.conv_w, i);
		reads(s, fp.conv_b, i);
	}
	if (act_name(n->iattr[FP_ACT]))
		step(s, "%s", act_name(n->iattr[FP_ACT]));
	if (n->iattr[FP_ROWS])
		step(s, "rows %lld..%lld of the weights",
		     (long long)n->iattr[FP_ROW0],
		     (long long)(n->iattr[FP_ROW0] + n->iattr[FP_ROWS]));
	if (n->iattr[FP_RES] == 2)
		reads(s, fp.res, step(s, "mul (post gate)"));
	else if (n->iattr[FP_RES])
		reads(s, fp.res, step(s, "add (residual)"));
	if (n->iattr[FP_GATE] == 2)
		step(s, "mul (gate * value)");
	else if (n->iattr[FP_GATE])
		step(s, "mul (gate: post | gate * value)");
}

/* fused_mlp (ops.def): ln, linear (+b1), act, linear (+b2), +res. */
static void mlp_steps(const Node *n, Steps *s)
{
	FmSrc fm;
	int i;

	ir_fm_srcs(n, &fm);
	i = norm_linear(s, n->iattr[FM_LN], n->iattr[FM_BIAS], fm.x, fm.ln_g,
	                fm.ln_b, fm.w1, fm.b1);
	if (act_name(n->iattr[FM_ACT]))
		step(s, "%s", act_name(n->iattr[FM_ACT]));
	i = step(s, "linear%s", n->iattr[FM_BIAS2] ? " + bias" : "");
	reads(s, fm.w2, i);
	reads(s, fm.b2, i);
	if (n->iattr[FM_RES])
		reads(s, fm.res, step(s, "add (residual)"));
}

/* gated_conv (ops.def): gate, (filter's last layer), longconv, skip, post. */
static void conv_steps(const Node *n, Steps *s)
{
	GcSrc gc;
	int i, first, gen = -1;

	ir_gc_srcs(n, &gc);
	first = -1;
	if (!n->iattr[GC_PREGATED]) {
		first = step(s, "mul (gate) v[%lld:] * g[%lld:]",
		             (long long)n->iattr[GC_V_OFF],
		             (long long)n->iattr[GC_G_OFF]);
		reads(s, gc.g, first);
	}
	if (n->iattr[GC_GEN]) {
		i = gen = step(s, "filter: (h w^T) * expmod");
		reads(s, gc.h, i);
		reads(s, gc.w, i);
		reads(s, gc.t, i);
		reads(s, gc.deltas, i);
	}
	if (first < 0) {
		i = first = step(s, "longconv %s on v[%lld:]",
		                 method_name(n->iattr[GC_METHOD]),
		                 (long long)n->iattr[GC_V_OFF]);
	} else {
		i = step(s, "longconv %s", method_name(n->iattr[GC_METHOD]));
	}
	/* the filter is the convolution's other operand, not a step after
	 * the gate */
	if (gen >= 0 && first != i)
		s->next[first] = i;
	reads(s, gc.v, first);
	reads(s, gc.k, i);
	reads(s, gc.bias, step(s, "add (skip: u * bias)"));
	if (gc.post >= 0)
		reads(s, gc.post,
		      step(s, "mul (output gate) post[%lld:]",
		           (long long)n->iattr[GC_POST_OFF]));
}

static void fused_steps(const Node *n, Steps *s)
{
	memset(s, 0, sizeof *s);
	for (int k = 0; k < IR_MAX_SRC; k++)
		s->at[k] = -1;
	if (n->op == OP_FUSED_PROJ)
		proj_steps(n, s);
	else if (n->op == OP_FUSED_MLP)
		mlp_steps(n, s);
	else
		conv_steps(n, s);
}

/* "NAME/i", the ID of step i of fused node n (i < 0: n itself). */
static void put_step_id(FILE *f, const Node *n, int i)
{
	char id[16];

	if (i < 0) {
		put_q(f, n->name);
		return;
	}
	snprintf(id, sizeof id, "/%d\"", i);
	fputc('"', f);
	put_esc(f, n->name);
	fputs(id, f);
}

/* ---- the graph -------------------------------------------------------- */

static void print_node(FILE *f, const Graph *g, const Node *n)
{
	fputs("  ", f);
	put_q(f, n->name);
	fputs(" [label=", f);
	print_label(f, g, n);
	if (n->op == OP_INPUT)
		fputs(", shape=invhouse", f);
	else if (ir_op_info(n->op)->flags & OPF_CONST)
		fputs(", shape=note, color=gray50, fontcolor=gray30", f);
	fputs("];\n", f);
}

static void print_cluster(FILE *f, const Graph *g, const Node *n,
                          const Steps *s)
{
	fputs("  subgraph \"cluster_", f);
	put_esc(f, n->name);
	fprintf(f, "\" {\n    label=\"%s %%", ir_op_info(n->op)->name);
	put_esc(f, n->name);
	fputs("\";\n    style=\"rounded,filled\"; fillcolor=\"#eef3fb\";"
	      " color=\"#6a8cc7\";\n", f);
	for (int i = 0; i < s->n; i++) {
		fputs("    ", f);
		put_step_id(f, n, i);
		fputs(" [label=", f);
		put_q(f, s->label[i]);
		fputs(", shape=ellipse, fontsize=9];\n", f);
	}
	fputs("  ", f);
	print_node(f, g, n);
	for (int i = 0; i < s->n; i++) {
		fputs("    ", f);
		put_step_id(f, n, i);
		fputs(" -> ", f);
		put_step_id(f, n, s->next[i] ? s->next[i]
		                  : i + 1 < s->n ? i + 1 : -1);
		fputs(";\n", f);
	}
	fputs("  }\n", f);
}

void ir_print_dot(const Graph *g, FILE *f)
{
	Steps s;

	fputs("digraph ", f);
	put_q(f, g->name ? g->name : "graph");
	fputs(" {\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
	      "  edge [color=gray40];\n", f);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (is_fused(n->op)) {
			fused_steps(n, &s);
			print_cluster(f, g, n, &s);
		} else {
			print_node(f, g, n);
		}
	}
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (is_fused(n->op))
			fused_steps(n, &s);
		for (int k = 0; k < n->nsrc; k++) {
			fputs("  ", f);
			put_q(f, n->src[k]->name);
			fputs(" -> ", f);
			put_step_id(f, n, is_fused(n->op) ? s.at[k] : -1);
			if (ir_op_info(n->src[k]->op)->flags & OPF_CONST)
				fputs(" [color=gray70]", f);
			fputs(";\n", f);
		}
	}
	for (int i = 0; i < g->noutputs; i++) {
		fputs("  \"output ", f);
		put_esc(f, g->outputs[i].name);
		fputs("\" [shape=oval, style=bold];\n  ", f);
		put_q(f, g->outputs[i].node->name);
		fputs(" -> \"output ", f);
		put_esc(f, g->outputs[i].name);
		fputs("\";\n", f);
	}
	fputs("}\n", f);
}
