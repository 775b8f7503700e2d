/*
 * fuzz_ir.c - libFuzzer target for ir_parse, the IR text form. What parses
 * must verify, and must print and parse back to the same text
 * (print(parse(print(g))) == print(g), the promise in ir/text.c).
 */
#include <string.h>

#include "fuzz_common.h"
#include "ir/ir.h"

static char *print(const Graph *g, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		abort();
	ir_print(g, f);
	fclose(f);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	Arena *a = arena_new();
	char *text = malloc(n + 1);
	Graph *g;
	Diag d;

	memcpy(text, data, n);
	text[n] = 0;
	diag_init(&d);
	g = ir_parse(a, text, "fuzz.ir", &d);
	if (g) {
		size_t n1, n2;
		char *p1, *p2;
		Graph *g2;
		if (!ir_verify(g, &d)) {
			fprintf(stderr, "parsed graph fails to verify: %s\n", d.msg);
			abort();
		}
		p1 = print(g, &n1);
		g2 = ir_parse(a, p1, "printed.ir", &d);
		if (!g2) {
			fprintf(stderr, "printed text fails to parse: %s\n%s", d.msg, p1);
			abort();
		}
		p2 = print(g2, &n2);
		if (n1 != n2 || memcmp(p1, p2, n1)) {
			fprintf(stderr, "print/parse not exact:\n%s---\n%s", p1, p2);
			abort();
		}
		free(p1);
		free(p2);
	} else {
		FUZZ_CHECK_DIAG(&d);
	}
	free(text);
	arena_free(a);
	return 0;
}
