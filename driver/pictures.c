/*
 * pictures.c - the memory plan's picture as a file: `hyenac ir MODEL
 * --plan-svg F`. passes/memplan_svg.c draws the chart; this puts it where
 * every hyenac output goes, through runtime/outfile.h, so F appears whole
 * or not at all (main.c has refused a bad F, with hyrt_out_check, before
 * the model loads). The DOT picture needs no file: it is IR, printed on
 * standard output as the text form is (ir/dot.c).
 */
#include "driver.h"

#include <stdlib.h>

#include "runtime/outfile.h"

bool drv_write_plan_svg(const Graph *g, const char *path, Diag *d)
{
	HyrtOut file = {0};
	HyrtOut *one[1] = {&file};
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	bool ok;

	if (!mem) {
		diag_error(d, "%s: out of memory for the plan's picture", path);
		return false;
	}
	pass_memplan_svg(g, mem);
	ok = fclose(mem) == 0;
	if (!ok)
		diag_error(d, "%s: out of memory for the plan's picture", path);
	hyrt_out_install_cleanup();
	ok = ok && hyrt_out_open(&file, path, d);
	ok = ok && hyrt_out_write(&file, text, len, d);
	if (ok)
		ok = hyrt_out_commit(one, 1, d);
	else
		hyrt_out_abort(&file);
	free(text);
	return ok;
}
