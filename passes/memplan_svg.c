/*
 * memplan_svg.c - the memory plan (memplan.c) drawn as a liveness chart
 * in SVG, for `hyenac ir MODEL --plan-svg F`: one panel per region that
 * holds anything (token, position, fixed), x the node order (time), y the
 * offset in the region (bytes per region unit, 0 at the bottom), and one
 * rectangle per planned buffer, from the node that makes it to the last
 * node that reads it, as high as its block:
 *
 *   <rect class="buf" data-region="token" x=".." y=".." width=".."
 *         height=".." fill=".."><title>%l0.short: fused_proj f32[B,L,256],
 *         token bytes 0..1024, nodes 10..13</title></rect>
 *
 * The <title> is the buffer's tooltip and what tests look for. A buffer's
 * life and size follow memplan's rules, restated here because the plan
 * keeps only each value's region and offset: a value is live from its own
 * node to its last reader (or only at its node when nothing reads it), and
 * its block is its bytes per unit rounded up to 64 (memplan.c's ALIGN).
 * A planar value is drawn as its two planes, "post plane" and "value
 * plane"; the value plane ends where its last reader, written over it,
 * begins.
 *
 * It writes hand-made SVG text (no library) to a FILE; where the bytes go
 * (runtime/outfile.h) is the caller's business. It needs a planned graph.
 */
#include "passes.h"

#include <math.h>
#include <string.h>

enum {
	BLOCK_ALIGN = 64, /* memplan.c's ALIGN */
	LEFT = 90,        /* px: room for the offset axis */
	RIGHT = 20,
	PANEL_H = 220,    /* px: one region's plot */
	PANEL_GAP = 70,   /* px: its title above, the node axis below */
	TOP = 40,
};

/* Text with XML's five special characters escaped. */
static void put_xml(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		default:
			/* control bytes are not XML characters */
			fputc((unsigned char)*s < 0x20 ? '?' : *s, f);
		}
	}
}

static const char *region_name(MemRegion r)
{
	static const char *const names[] = {"none", "token", "position", "fixed",
	                                    "sample"};
	_Static_assert(sizeof names / sizeof names[0] == MEM_COUNT,
	               "one name per MemRegion");
	return names[r];
}

static const char *region_unit(MemRegion r)
{
	return r == MEM_TOKEN ? "per token (x B*L)"
	       : r == MEM_POSITION ? "per position (x L)"
	       : r == MEM_SAMPLE   ? "per sample (x B)"
	                           : "in all";
}

/* A fill colour per op, so a layer's repeating pattern shows. */
static const char *op_colour(OpKind op)
{
	static const char *const palette[] = {
		"#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
		"#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f",
	};
	return palette[(size_t)op % (sizeof palette / sizeof palette[0])];
}

/* One buffer's rectangle: bytes [off, off+size) of region r, live over
 * nodes [from, to); what names the node's part. */
static void draw_buf(FILE *f, MemRegion r, const Node *n, const char *what,
                     int64_t off, int64_t size, int from, int to, double y0,
                     double sx, double sy)
{
	char buf[160];

	/* top and bottom rounded as printed, so that a block that ends
	 * where another starts shares its edge exactly */
	double top = round((y0 + PANEL_H - (double)(off + size) * sy) * 100) /
	             100;
	double bot = round((y0 + PANEL_H - (double)off * sy) * 100) / 100;
	/* the same for left and right: neighbours in time share an edge
	 * exactly, whatever the rounding of the node width */
	double left = round((LEFT + from * sx) * 100) / 100;
	double right = round((LEFT + to * sx) * 100) / 100;
	fprintf(f, "<rect class=\"buf\" data-region=\"%s\" x=\"%.2f\" "
	        "y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
	        "stroke=\"#333\" stroke-width=\"0.5\"><title>%%",
	        region_name(r), left, top, right - left, bot - top,
	        op_colour(n->op));
	put_xml(f, n->name);
	fprintf(f, "%s: %s %s, %s bytes %lld..%lld, nodes %d..%d</title>"
	        "</rect>\n", what, ir_op_info(n->op)->name,
	        ir_type_str(&n->type, buf, sizeof buf), region_name(r),
	        (long long)off, (long long)(off + size), from, to - 1);
}

static void panel(FILE *f, const Graph *g, const int *last, MemRegion r,
                  double y0, double sx, double plot_w)
{
	int64_t total = g->region_bytes[r];
	double sy = PANEL_H / (double)total;

	fprintf(f, "<g class=\"region\" id=\"region-%s\">\n", region_name(r));
	fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-weight=\"bold\">%s region: "
	        "%lld bytes %s</text>\n", LEFT, y0 - 8, region_name(r),
	        (long long)total, region_unit(r));
	fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" "
	        "fill=\"#f7f7f7\" stroke=\"#999\"/>\n", LEFT, y0, plot_w, PANEL_H);
	fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%lld</text>\n",
	        LEFT - 4, y0 + 10, (long long)total);
	fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">0</text>\n",
	        LEFT - 4, y0 + PANEL_H);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		int64_t unit;
		if (n->region != r)
			continue;
		pass_mem_region(&n->type, &unit);
		int64_t size = (unit + BLOCK_ALIGN - 1) / BLOCK_ALIGN * BLOCK_ALIGN;
		if (!n->planar) {
			/* a block its last reader took over (memplan's in-place
			 * rules: no other node shares a live source's offset)
			 * ends where that one begins */
			const Node *u = g->nodes[last[i]];
			bool handed = last[i] != i && u->region == r &&
			              u->offset == n->offset;
			draw_buf(f, r, n, "", n->offset, size, i,
			         handed ? last[i] : last[i] + 1, y0, sx, sy);
			continue;
		}
		/* two planes: the value plane is handed over to its last
		 * reader, which is written over it (memplan.c), so it ends
		 * where that one begins */
		draw_buf(f, r, n, " post plane", n->offset, size / 2, i,
		         last[i] + 1, y0, sx, sy);
		draw_buf(f, r, n, " value plane", n->offset + size / 2,
		         size / 2, i, last[i], y0, sx, sy);
	}
	/* the node axis: a tick every tenth of the way */
	int step = g->nnodes > 10 ? g->nnodes / 10 : 1;
	for (int i = 0; i <= g->nnodes; i += step)
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
		        "font-size=\"10\">%d</text>\n", LEFT + i * sx,
		        y0 + PANEL_H + 14, i);
	fputs("</g>\n", f);
}

void pass_memplan_svg(const Graph *g, FILE *f)
{
	int n = g->nnodes;
	int *last = arena_alloc(g->arena, (size_t)(n ? n : 1) * sizeof *last);
	int npanel = 0;

	HY_ASSERT(g->planned);
	for (int i = 0; i < n; i++)
		last[i] = i;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < g->nodes[i]->nsrc; k++)
			last[g->nodes[i]->src[k]->id] = i;
	for (int r = MEM_TOKEN; r < MEM_COUNT; r++)
		npanel += g->region_bytes[r] > 0;
	double plot_w = n * 8 > 720 ? n * 8 : 720;
	double sx = plot_w / (n ? n : 1);
	double width = LEFT + plot_w + RIGHT;
	double height = TOP + 20 + npanel * (PANEL_H + PANEL_GAP);

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
	        "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
	        "font-family=\"sans-serif\" font-size=\"12\">\n",
	        width, height, width, height);
	fputs("<title>memory plan of ", f);
	put_xml(f, g->name ? g->name : "graph");
	fputs("</title>\n", f);
	fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\">memory plan of ",
	        LEFT);
	put_xml(f, g->name ? g->name : "graph");
	fputs(": x node order, y offset in the region; hover a block for its "
	      "value</text>\n", f);
	double y = TOP + 20;
	for (int r = MEM_TOKEN; r < MEM_COUNT; r++) {
		if (g->region_bytes[r] <= 0)
			continue;
		panel(f, g, last, (MemRegion)r, y, sx, plot_w);
		y += PANEL_H + PANEL_GAP;
	}
	fputs("</svg>\n", f);
}
