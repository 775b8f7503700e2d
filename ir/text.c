/*
 * text.c - the textual IR: ir_print writes a graph, ir_parse reads it back.
 * The two are exact inverses on what ir_print writes: print(parse(print(g)))
 * is print(g) byte for byte, with identical types and attributes.
 *
 *   graph "tiny-1k" max_len=1026 {
 *     %tokens = input : i32[B,L]
 *     %emb.w = weight {name="hyena.backbone.embeddings.w"} : f32[16,128]
 *     %x0 = embed %emb.w, %tokens : f32[B,L,128]
 *     %n0 = layernorm %x0, %g, %b {eps=1e-05} : f32[B,L,128]
 *     %z = slice %zw {axis=0, start=0, len=L} : f32[L,5]
 *     output hidden = %n0
 *     entry pooled {mean = %n0.mean}
 *   }
 *
 * After memplan the plan prints too, and reads back: the graph line ends
 * in regions={token=T, position=P, fixed=F} (bytes per token, per
 * position, fixed), and each placed node's type is followed by
 * "in REGION[OFFSET]" (bytes per unit of its region).
 *
 * Attributes print in ops.def column order (ints, floats, the string) under
 * their ops.def names. A float prints in the fewest %g digits that strtod
 * reads back to the same double; an int equal to DIM_L/DIM_B prints as L/B;
 * strings escape \" \\ \n \t and other control bytes as \xHH.
 *
 * The parser is a hand-written lexer and a recursive-descent parser with
 * the grammar rule above each function (as in chibicc). Line breaks are
 * plain white space; ';' starts a comment to the end of the line, so test
 * files can carry "; RUN:" and "; CHECK:" lines. The parser accepts a
 * little more than the printer writes: attributes in any order, "{}", a
 * missing max_len (0), outputs among the nodes.
 *
 * `output` lines are the graph's outputs, the full forward; each `entry`
 * line (passes/entries.c) is one more way to run it, with its own named
 * outputs, and prints after the outputs in the order the entries were
 * made. An entry names values defined before it.
 *
 * Every node's type is recomputed by ir_infer and must equal the type
 * written in the text; inputs and weights take theirs from the text.
 * Weights come back unbound. Errors are one line, "FILE:LINE:COL: problem",
 * and the first one ends the parse; no input may crash it (it is fuzzed).
 */
#include "ir.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- printing --------------------------------------------------------- */

/* The shortest %g form that reads back to v. */
static const char *fmt_double(double v, char *buf, size_t n)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

static void print_int(FILE *f, int64_t v)
{
	if (v == DIM_L)
		fputs("L", f);
	else if (v == DIM_B)
		fputs("B", f);
	else
		fprintf(f, "%lld", (long long)v);
}

static void print_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : "");
	     *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void print_attrs(FILE *f, const Node *n, const OpInfo *info)
{
	char name[64], num[64];
	const char *sep = " {";

	for (int i = 0; i < info->niattr; i++) {
		ir_attr_name(info->iattrs, i, name, sizeof name);
		fprintf(f, "%s%s=", sep, name);
		print_int(f, n->iattr[i]);
		sep = ", ";
	}
	for (int i = 0; i < info->nfattr; i++) {
		ir_attr_name(info->fattrs, i, name, sizeof name);
		fprintf(f, "%s%s=%s", sep, name,
		        fmt_double(n->fattr[i], num, sizeof num));
		sep = ", ";
	}
	if (info->sattr[0]) {
		fprintf(f, "%s%s=", sep, info->sattr);
		print_str(f, n->sattr);
		sep = ", ";
	}
	if (sep[0] == ',')
		fputc('}', f);
}

/* The memory plan: " regions={token=T, position=P, fixed=F}" on the
 * graph line, " in REGION[OFFSET]" after a placed node's type, and
 * " planar" after that for a value stored in two planes. */
static void print_regions(FILE *f, const Graph *g)
{
	if (!g->planned)
		return;
	fputs(" regions={", f);
	for (int r = MEM_TOKEN; r < MEM_COUNT; r++)
		if (r != MEM_SAMPLE || g->region_bytes[r]) /* only a step's */
			fprintf(f, "%s%s=%lld", r > MEM_TOKEN ? ", " : "",
			        ir_region_name((MemRegion)r),
			        (long long)g->region_bytes[r]);
	fputc('}', f);
}

static void print_placement(FILE *f, const Node *n)
{
	if (n->region != MEM_NONE)
		fprintf(f, " in %s[%lld]%s", ir_region_name(n->region),
		        (long long)n->offset, n->planar ? " planar" : "");
}

static void print_node(FILE *f, const Node *n)
{
	const OpInfo *info = ir_op_info(n->op);
	char buf[128];

	fprintf(f, "  %%%s = %s", n->name, info->name);
	for (int i = 0; i < n->nsrc; i++)
		fprintf(f, "%s%%%s", i ? ", " : " ", n->src[i]->name);
	print_attrs(f, n, info);
	fprintf(f, " : %s", ir_type_str(&n->type, buf, sizeof buf));
	print_placement(f, n);
	fputc('\n', f);
}

void ir_print(const Graph *g, FILE *f)
{
	fputs("graph ", f);
	print_str(f, g->name);
	fprintf(f, " max_len=%lld", (long long)g->max_len);
	print_regions(f, g);
	fputs(" {\n", f);
	for (int i = 0; i < g->nnodes; i++)
		print_node(f, g->nodes[i]);
	for (int i = 0; i < g->noutputs; i++)
		fprintf(f, "  output %s = %%%s\n", g->outputs[i].name,
		        g->outputs[i].node->name);
	for (int k = 0; k < g->nentries; k++) {
		const EntryPoint *e = &g->entries[k];
		fprintf(f, "  entry %s {", e->name);
		for (int i = 0; i < e->noutputs; i++)
			fprintf(f, "%s%s = %%%s", i ? ", " : "", e->outputs[i].name,
			        e->outputs[i].node->name);
		fputs("}\n", f);
	}
	fputs("}\n", f);
}

/* ---- lexing ----------------------------------------------------------- */

typedef enum {
	TK_EOF,
	TK_ERR,   /* already reported */
	TK_IDENT, /* [A-Za-z_][A-Za-z0-9_.]* */
	TK_VALUE, /* %name; s/len exclude the '%' */
	TK_NUM,   /* anything strtoll/strtod may read, checked on use */
	TK_STR,   /* "..."; str holds the decoded bytes */
	TK_PUNCT, /* one of = , { } [ ] : */
} TokKind;

typedef struct Token {
	TokKind kind;
	const char *s; /* the token's text (for TK_STR, the decoded bytes) */
	size_t len;
	long line, col;
} Token;

typedef struct NameEntry {
	const char *name;
	Node *node;
	long line;
} NameEntry;

/* Names seen so far: open addressing, power-of-two cap, at most half
 * full, so every lookup is O(1) and a parse is linear in its input. */
typedef struct NameTable {
	NameEntry *e;
	int cap, n;
} NameTable;

typedef struct Parser {
	Arena *a;
	Diag *d;
	const char *file;
	const char *p;          /* next unread byte */
	const char *line_start; /* first byte of the current line */
	long line;
	Token tok;              /* the current token */
	Graph *g;
	NameTable values;       /* %names, to their nodes */
	NameTable outputs;      /* output names (node unused) */
	Token entry_at[IR_MAX_ENTRIES]; /* each entry's name, for messages */
} Parser;

static bool error_at(Parser *ps, long line, long col, const char *fmt, ...)
    HY_PRINTF(4, 5);

static bool error_at(Parser *ps, long line, long col, const char *fmt, ...)
{
	char what[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	diag_at(ps->d, ps->file, line, col, "%s", what);
	return false;
}

#define error_tok(ps, t, ...) error_at(ps, (t)->line, (t)->col, __VA_ARGS__)

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_name(char c)
{
	return is_alpha(c) || is_digit(c) || c == '.';
}

static int hex_val(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static long col_of(Parser *ps, const char *p)
{
	return (long)(p - ps->line_start) + 1;
}

static void lex_error(Parser *ps, const char *at, const char *fmt, ...)
    HY_PRINTF(3, 4);

static void lex_error(Parser *ps, const char *at, const char *fmt, ...)
{
	char what[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	error_at(ps, ps->line, col_of(ps, at), "%s", what);
	ps->tok.kind = TK_ERR;
}

/* The string whose opening quote is at ps->p; decoded into the arena. */
static void lex_string(Parser *ps)
{
	const char *open = ps->p, *q = open + 1;
	char *out;
	size_t n = 0;

	/* Find the end first so the buffer can be sized. */
	while (*q && *q != '"' && *q != '\n') {
		if (*q == '\\' && q[1] && q[1] != '\n')
			q++;
		q++;
	}
	if (*q != '"') {
		lex_error(ps, open, "unterminated string");
		return;
	}
	out = arena_alloc(ps->a, (size_t)(q - open));
	for (const char *r = open + 1; r < q; r++) {
		unsigned char c = (unsigned char)*r;
		if (c < 0x20 || c == 0x7f) {
			lex_error(ps, r, "control character in string; "
			          "write it as \\xHH");
			return;
		}
		if (c != '\\') {
			out[n++] = (char)c;
			continue;
		}
		switch (r[1]) {
		case '"':
		case '\\':
			out[n++] = r[1];
			r++;
			break;
		case 'n':
			out[n++] = '\n';
			r++;
			break;
		case 't':
			out[n++] = '\t';
			r++;
			break;
		case 'x':
			if (r + 3 >= q || hex_val(r[2]) < 0 ||
			    hex_val(r[3]) < 0 ||
			    hex_val(r[2]) * 16 + hex_val(r[3]) == 0) {
				lex_error(ps, r, "bad \\x escape in string");
				return;
			}
			out[n++] = (char)(hex_val(r[2]) * 16 + hex_val(r[3]));
			r += 3;
			break;
		default:
			lex_error(ps, r, "bad escape in string");
			return;
		}
	}
	out[n] = 0;
	ps->tok.kind = TK_STR;
	ps->tok.s = out;
	ps->tok.len = n;
	ps->p = q + 1;
}

/* Read the next token into ps->tok. */
static void lex(Parser *ps)
{
	const char *p;

	for (;;) {
		char c = *ps->p;
		if (c == '\n') {
			ps->p++;
			ps->line++;
			ps->line_start = ps->p;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			ps->p++;
		} else if (c == ';') {
			while (*ps->p && *ps->p != '\n')
				ps->p++;
		} else {
			break;
		}
	}
	p = ps->p;
	ps->tok = (Token){TK_EOF, p, 0, ps->line, col_of(ps, p)};
	if (!*p)
		return;
	if (*p == '"') {
		lex_string(ps);
		return;
	}
	if (*p == '%') {
		const char *q = p + 1;
		while (is_name(*q))
			q++;
		if (q == p + 1) {
			lex_error(ps, p, "expected a value name after '%%'");
			return;
		}
		ps->tok.kind = TK_VALUE;
		ps->tok.s = p + 1;
		ps->tok.len = (size_t)(q - p - 1);
		ps->p = q;
		return;
	}
	if (is_alpha(*p)) {
		const char *q = p;
		while (is_name(*q))
			q++;
		ps->tok.kind = TK_IDENT;
		ps->tok.len = (size_t)(q - p);
		ps->p = q;
		return;
	}
	if (is_digit(*p) || (*p == '.' && is_digit(p[1])) ||
	    ((*p == '-' || *p == '+') && (is_name(p[1])))) {
		/* A pp-number: 1e-05, -3, 0x1p-4, -inf; checked on use. */
		const char *q = p + 1;
		for (;;) {
			if (is_name(*q))
				q++;
			else if ((*q == '-' || *q == '+') &&
			         (q[-1] == 'e' || q[-1] == 'E' ||
			          q[-1] == 'p' || q[-1] == 'P'))
				q++;
			else
				break;
		}
		ps->tok.kind = TK_NUM;
		ps->tok.len = (size_t)(q - p);
		ps->p = q;
		return;
	}
	if (strchr("=,{}[]:", *p)) {
		ps->tok.kind = TK_PUNCT;
		ps->tok.len = 1;
		ps->p = p + 1;
		return;
	}
	if ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f)
		lex_error(ps, p, "unexpected character '%c'", *p);
	else
		lex_error(ps, p, "unexpected byte 0x%02x",
		          (unsigned)(unsigned char)*p);
}

/* ---- parser helpers --------------------------------------------------- */

/* The current token quoted for a message, shortened. */
static const char *tok_desc(const Token *t, char *buf, size_t n)
{
	int len = t->len > 40 ? 40 : (int)t->len;

	switch (t->kind) {
	case TK_EOF:
		snprintf(buf, n, "end of input");
		break;
	case TK_STR:
		snprintf(buf, n, "a string");
		break;
	case TK_VALUE:
		snprintf(buf, n, "'%%%.*s'", len, t->s);
		break;
	default:
		snprintf(buf, n, "'%.*s'", len, t->s);
		break;
	}
	return buf;
}

static bool tok_is(const Token *t, TokKind k, const char *text)
{
	return t->kind == k && t->len == strlen(text) &&
	       memcmp(t->s, text, t->len) == 0;
}

static bool at_punct(Parser *ps, char c)
{
	return ps->tok.kind == TK_PUNCT && ps->tok.s[0] == c;
}

/* Consume punctuation c or report what came instead; `what` says where. */
static bool expect(Parser *ps, char c, const char *what)
{
	char buf[64];

	if (at_punct(ps, c)) {
		lex(ps);
		return true;
	}
	if (ps->tok.kind == TK_ERR)
		return false;
	return error_tok(ps, &ps->tok, "expected '%c' %s, got %s", c, what,
	                 tok_desc(&ps->tok, buf, sizeof buf));
}

static unsigned hash(const char *s, size_t n)
{
	unsigned h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static NameEntry *name_slot(NameTable *t, const char *s, size_t n)
{
	unsigned h = hash(s, n) & (unsigned)(t->cap - 1);

	for (;; h = (h + 1) & (unsigned)(t->cap - 1)) {
		NameEntry *e = &t->e[h];
		if (!e->name || (strncmp(e->name, s, n) == 0 && !e->name[n]))
			return e;
	}
}

static NameEntry *name_find(NameTable *t, const char *s, size_t n)
{
	NameEntry *e;

	if (t->cap == 0)
		return NULL;
	e = name_slot(t, s, n);
	return e->name ? e : NULL;
}

static void name_add(Parser *ps, NameTable *t, const char *name, Node *node,
                     long line)
{
	if (2 * (t->n + 1) > t->cap) {
		NameEntry *old = t->e;
		int ocap = t->cap;
		t->cap = ocap ? 2 * ocap : 256;
		t->e = arena_alloc(ps->a, (size_t)t->cap * sizeof *t->e);
		for (int i = 0; i < ocap; i++)
			if (old[i].name)
				*name_slot(t, old[i].name,
				           strlen(old[i].name)) = old[i];
	}
	*name_slot(t, name, strlen(name)) = (NameEntry){name, node, line};
	t->n++;
}

/* The closest of n candidates to `s` if it is close enough, else NULL. */
static const char *closest(const char *s, const char *const *cand, int n)
{
	const char *best = NULL;
	int bestd = 1 << 30, limit = 1 + (int)strlen(s) / 3;

	for (int i = 0; i < n; i++) {
		int dist = hy_edit_distance(s, cand[i]);
		if (dist < bestd) {
			bestd = dist;
			best = cand[i];
		}
	}
	return bestd <= limit && bestd < (int)strlen(s) ? best : NULL;
}

/* Copy a token's text into buf (truncated) for lookups and messages. */
static const char *tok_text(const Token *t, char *buf, size_t n)
{
	size_t len = t->len < n - 1 ? t->len : n - 1;
	memcpy(buf, t->s, len);
	buf[len] = 0;
	return buf;
}

/* ---- parser ----------------------------------------------------------- */

/*
 * int = NUM | "L" | "B"
 * With allow_sym false (dims of max_len), only NUM.
 */
static bool parse_int(Parser *ps, bool allow_sym, int64_t *out,
                      const char *what)
{
	char buf[64], *end;
	long long v;

	if (allow_sym && tok_is(&ps->tok, TK_IDENT, "L")) {
		*out = DIM_L;
	} else if (allow_sym && tok_is(&ps->tok, TK_IDENT, "B")) {
		*out = DIM_B;
	} else if (ps->tok.kind == TK_NUM && ps->tok.len < sizeof buf) {
		tok_text(&ps->tok, buf, sizeof buf);
		errno = 0;
		v = strtoll(buf, &end, 10);
		if (*end)
			return error_tok(ps, &ps->tok, "%s: bad integer '%s'",
			                 what, buf);
		if (errno == ERANGE)
			return error_tok(ps, &ps->tok,
			                 "%s: integer '%s' out of range", what,
			                 buf);
		*out = v;
	} else {
		if (ps->tok.kind == TK_ERR)
			return false;
		return error_tok(ps, &ps->tok, "%s: expected an integer%s, "
		                 "got %s", what, allow_sym ? ", L or B" : "",
		                 tok_desc(&ps->tok, buf, sizeof buf));
	}
	lex(ps);
	return true;
}

/* float = NUM | IDENT (inf, nan: whatever strtod reads) */
static bool parse_float(Parser *ps, double *out, const char *what)
{
	char buf[64], *end;

	if ((ps->tok.kind == TK_NUM || ps->tok.kind == TK_IDENT) &&
	    ps->tok.len < sizeof buf) {
		tok_text(&ps->tok, buf, sizeof buf);
		*out = strtod(buf, &end);
		if (end != buf && !*end) {
			lex(ps);
			return true;
		}
	}
	if (ps->tok.kind == TK_ERR)
		return false;
	return error_tok(ps, &ps->tok, "%s: expected a number, got %s", what,
	                 tok_desc(&ps->tok, buf, sizeof buf));
}

/*
 * type = IDENT "[" (dim ("," dim)*)? "]"
 * dim  = NUM | "B" | "L"
 */
static bool parse_type(Parser *ps, TensorType *t)
{
	char buf[64];
	int dt;

	memset(t, 0, sizeof *t);
	for (dt = 0; dt < DT_COUNT; dt++)
		if (tok_is(&ps->tok, TK_IDENT, ir_dtype_name((DType)dt)))
			break;
	if (dt == DT_COUNT) {
		if (ps->tok.kind == TK_ERR)
			return false;
		return error_tok(ps, &ps->tok, "bad type: expected f32 or i32, "
		                 "got %s", tok_desc(&ps->tok, buf, sizeof buf));
	}
	t->dtype = (DType)dt;
	lex(ps);
	if (!expect(ps, '[', "to open the dims of a type"))
		return false;
	if (at_punct(ps, ']')) {
		lex(ps);
		return true;
	}
	for (;;) {
		Token at = ps->tok;
		int64_t v;
		if (t->rank == IR_MAX_RANK)
			return error_tok(ps, &at, "bad type: rank above %d",
			                 IR_MAX_RANK);
		if (!parse_int(ps, true, &v, "bad type"))
			return false;
		if (at.kind == TK_NUM && v < 0)
			return error_tok(ps, &at, "bad type: dim must be >= 0, "
			                 "B or L");
		t->dim[t->rank++] = v;
		if (at_punct(ps, ']')) {
			lex(ps);
			return true;
		}
		if (!expect(ps, ',', "or ']' in a type"))
			return false;
	}
}

/* Where a node's attributes go while they are parsed. */
typedef struct Attrs {
	int64_t iattr[IR_MAX_IATTR];
	double fattr[IR_MAX_FATTR];
	const char *sattr;
	bool iseen[IR_MAX_IATTR], fseen[IR_MAX_FATTR], sseen;
} Attrs;

/* Find attribute `name` of op: 'i', 'f' or 's' and its slot; 0 if none. */
static char attr_lookup(const OpInfo *info, const char *name, int *slot)
{
	char buf[64];

	for (int i = 0; i < info->niattr; i++)
		if (!strcmp(ir_attr_name(info->iattrs, i, buf, sizeof buf),
		            name)) {
			*slot = i;
			return 'i';
		}
	for (int i = 0; i < info->nfattr; i++)
		if (!strcmp(ir_attr_name(info->fattrs, i, buf, sizeof buf),
		            name)) {
			*slot = i;
			return 'f';
		}
	if (info->sattr[0] && !strcmp(info->sattr, name)) {
		*slot = 0;
		return 's';
	}
	return 0;
}

/* The op's attribute names, "axis, start, len", for messages. */
static const char *attr_list(const OpInfo *info, char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = 0;
	if (info->iattrs[0])
		off += (size_t)snprintf(buf + off, n - off, "%s", info->iattrs);
	if (info->fattrs[0] && off < n)
		off += (size_t)snprintf(buf + off, n - off, "%s%s",
		                        off ? "," : "", info->fattrs);
	if (info->sattr[0] && off < n)
		snprintf(buf + off, n - off, "%s%s", off ? "," : "",
		         info->sattr);
	return buf;
}

/* attr = IDENT "=" (int | float | STRING) */
static bool parse_attr(Parser *ps, const OpInfo *info, Attrs *at)
{
	Token name = ps->tok;
	char nbuf[64], lbuf[128], what[96];
	int slot = 0;
	char kind;

	if (name.kind != TK_IDENT) {
		if (name.kind == TK_ERR)
			return false;
		return error_tok(ps, &name, "expected an attribute name, got "
		                 "%s", tok_desc(&name, nbuf, sizeof nbuf));
	}
	tok_text(&name, nbuf, sizeof nbuf);
	kind = name.len < sizeof nbuf ? attr_lookup(info, nbuf, &slot) : 0;
	if (!kind && !info->niattr && !info->nfattr && !info->sattr[0])
		return error_tok(ps, &name, "unknown attribute '%s': %s takes "
		                 "no attributes", nbuf, info->name);
	if (!kind)
		return error_tok(ps, &name, "unknown attribute '%s' for %s "
		                 "(it takes %s)", nbuf, info->name,
		                 attr_list(info, lbuf, sizeof lbuf));
	if ((kind == 'i' && at->iseen[slot]) ||
	    (kind == 'f' && at->fseen[slot]) || (kind == 's' && at->sseen))
		return error_tok(ps, &name, "duplicate attribute '%s'", nbuf);
	lex(ps);
	if (!expect(ps, '=', "after an attribute name"))
		return false;
	snprintf(what, sizeof what, "attribute '%s'", nbuf);
	switch (kind) {
	case 'i':
		at->iseen[slot] = true;
		return parse_int(ps, true, &at->iattr[slot], what);
	case 'f':
		at->fseen[slot] = true;
		return parse_float(ps, &at->fattr[slot], what);
	default:
		if (ps->tok.kind != TK_STR) {
			if (ps->tok.kind == TK_ERR)
				return false;
			return error_tok(ps, &ps->tok, "%s: expected a string, "
			                 "got %s", what,
			                 tok_desc(&ps->tok, lbuf, sizeof lbuf));
		}
		if (ps->tok.len == 0)
			return error_tok(ps, &ps->tok, "%s must not be empty",
			                 what);
		at->sseen = true;
		at->sattr = ps->tok.s;
		lex(ps);
		return true;
	}
}

/*
 * attrs = ("{" (attr ("," attr)*)? "}")?
 * Then every attribute of the op must have been given.
 */
static bool parse_attrs(Parser *ps, const OpInfo *info, const Token *op,
                        Attrs *at)
{
	char name[64];

	memset(at, 0, sizeof *at);
	if (at_punct(ps, '{')) {
		lex(ps);
		while (!at_punct(ps, '}')) {
			if (!parse_attr(ps, info, at))
				return false;
			if (at_punct(ps, '}'))
				break;
			if (!expect(ps, ',', "or '}' between attributes"))
				return false;
		}
		lex(ps);
	}
	for (int i = 0; i < info->niattr; i++)
		if (!at->iseen[i])
			return error_tok(ps, op, "%s needs attribute '%s'",
			                 info->name,
			                 ir_attr_name(info->iattrs, i, name,
			                              sizeof name));
	for (int i = 0; i < info->nfattr; i++)
		if (!at->fseen[i])
			return error_tok(ps, op, "%s needs attribute '%s'",
			                 info->name,
			                 ir_attr_name(info->fattrs, i, name,
			                              sizeof name));
	if (info->sattr[0] && !at->sseen)
		return error_tok(ps, op, "%s needs attribute '%s'", info->name,
		                 info->sattr);
	return true;
}

/* The op named by the current token, or OP_COUNT after an error. */
static OpKind parse_op(Parser *ps)
{
	const char *names[OP_COUNT], *hint;
	char buf[64];
	OpKind op;

	if (ps->tok.kind != TK_IDENT) {
		if (ps->tok.kind != TK_ERR)
			error_tok(ps, &ps->tok, "expected an op name, got %s",
			          tok_desc(&ps->tok, buf, sizeof buf));
		return OP_COUNT;
	}
	op = ps->tok.len < sizeof buf ?
	         ir_op_by_name(tok_text(&ps->tok, buf, sizeof buf)) :
	         OP_COUNT;
	if (op != OP_COUNT) {
		lex(ps);
		return op;
	}
	for (int i = 0; i < OP_COUNT; i++)
		names[i] = ir_op_info((OpKind)i)->name;
	tok_text(&ps->tok, buf, sizeof buf);
	hint = closest(buf, names, OP_COUNT);
	if (hint)
		error_tok(ps, &ps->tok, "unknown op '%s'; did you mean '%s'?",
		          buf, hint);
	else
		error_tok(ps, &ps->tok, "unknown op '%s'", buf);
	return OP_COUNT;
}

/* Report an undefined value, with the nearest defined name if close. */
static bool undefined(Parser *ps, const Token *t)
{
	char buf[64];
	const char *best = NULL;
	int bestd = 3;

	tok_text(t, buf, sizeof buf);
	for (int i = 0; i < ps->g->nnodes; i++) {
		int dist = hy_edit_distance(buf, ps->g->nodes[i]->name);
		if (dist < bestd && dist < (int)strlen(buf)) {
			bestd = dist;
			best = ps->g->nodes[i]->name;
		}
	}
	if (best)
		return error_tok(ps, t, "undefined value %%%s; did you mean "
		                 "%%%s?", buf, best);
	return error_tok(ps, t, "undefined value %%%s", buf);
}

/* A region's name as the printer writes it, or MEM_COUNT. */
static MemRegion region_by_name(const Token *t)
{
	for (int r = MEM_TOKEN; r < MEM_COUNT; r++)
		if (tok_is(t, TK_IDENT, ir_region_name((MemRegion)r)))
			return (MemRegion)r;
	return MEM_COUNT;
}

static bool expect_region(Parser *ps, MemRegion *r)
{
	char buf[64];

	if ((*r = region_by_name(&ps->tok)) != MEM_COUNT) {
		lex(ps);
		return true;
	}
	if (ps->tok.kind == TK_ERR)
		return false;
	return error_tok(ps, &ps->tok, "expected a region (token, position "
	                 "or fixed), got %s",
	                 tok_desc(&ps->tok, buf, sizeof buf));
}

/*
 * placement = "in" REGION "[" NUM "]" "planar"?
 * Whether the region suits the type and the offset its size: ir_verify.
 */
static bool parse_placement(Parser *ps, Node *n)
{
	Token in = ps->tok;

	if (!ps->g->planned)
		return error_tok(ps, &in, "%%%s is placed but the graph has no "
		                 "regions={...}", n->name);
	lex(ps);
	if (!expect_region(ps, &n->region) ||
	    !expect(ps, '[', "after the region") ||
	    !parse_int(ps, false, &n->offset, "offset") ||
	    !expect(ps, ']', "after the offset"))
		return false;
	if (tok_is(&ps->tok, TK_IDENT, "planar")) {
		n->planar = true;
		lex(ps);
	}
	return true;
}

/*
 * regions = "regions" "=" "{" (REGION "=" NUM ("," REGION "=" NUM)*)? "}"
 * A region left out is empty.
 */
static bool parse_regions(Parser *ps)
{
	bool seen[MEM_COUNT] = {false};

	lex(ps);
	if (!expect(ps, '=', "after regions") ||
	    !expect(ps, '{', "to open the regions"))
		return false;
	while (!at_punct(ps, '}')) {
		Token at = ps->tok;
		MemRegion r;
		if (!expect_region(ps, &r))
			return false;
		if (seen[r])
			return error_tok(ps, &at, "region %s given twice",
			                 ir_region_name(r));
		seen[r] = true;
		if (!expect(ps, '=', "after the region") ||
		    !parse_int(ps, false, &ps->g->region_bytes[r], "region size"))
			return false;
		if (!at_punct(ps, ','))
			break;
		lex(ps);
	}
	ps->g->planned = true;
	return expect(ps, '}', "to close the regions");
}

/*
 * node     = VALUE "=" op operands attrs ":" type placement?
 * operands = (VALUE ("," VALUE)*)?
 */
static bool parse_node(Parser *ps)
{
	Token name = ps->tok, op_tok, type_tok;
	Node *src[IR_MAX_SRC], *n;
	const OpInfo *info;
	NameEntry *prev;
	TensorType type;
	Attrs at;
	Diag sub;
	char want[128], have[128];
	int nsrc = 0;
	OpKind op;

	prev = name_find(&ps->values, name.s, name.len);
	if (prev)
		return error_tok(ps, &name, "duplicate value name %%%s (first "
		                 "defined on line %ld)", prev->name,
		                 prev->line);
	lex(ps);
	if (!expect(ps, '=', "after a value name"))
		return false;
	op_tok = ps->tok;
	op = parse_op(ps);
	if (op == OP_COUNT)
		return false;
	info = ir_op_info(op);
	while (ps->tok.kind == TK_VALUE) {
		NameEntry *e = name_find(&ps->values, ps->tok.s, ps->tok.len);
		if (!e)
			return undefined(ps, &ps->tok);
		if (nsrc < IR_MAX_SRC)
			src[nsrc] = e->node;
		nsrc++;
		lex(ps);
		if (!at_punct(ps, ','))
			break;
		lex(ps);
		if (ps->tok.kind != TK_VALUE) {
			if (ps->tok.kind == TK_ERR)
				return false;
			return error_tok(ps, &ps->tok, "expected an operand "
			                 "after ',', got %s",
			                 tok_desc(&ps->tok, want, sizeof want));
		}
	}
	if (nsrc < info->min_src || nsrc > info->max_src) {
		if (info->min_src == info->max_src)
			return error_tok(ps, &op_tok, "%s takes %d operand%s, "
			                 "got %d", info->name, info->min_src,
			                 info->min_src == 1 ? "" : "s", nsrc);
		return error_tok(ps, &op_tok, "%s takes %d to %d operands, got "
		                 "%d", info->name, info->min_src, info->max_src,
		                 nsrc);
	}
	if (!parse_attrs(ps, info, &op_tok, &at))
		return false;
	if (!expect(ps, ':', "before the node's type"))
		return false;
	type_tok = ps->tok;
	if (!parse_type(ps, &type))
		return false;

	n = ir_add(ps->g, op, arena_strndup(ps->a, name.s, name.len), nsrc,
	           src);
	memcpy(n->iattr, at.iattr, sizeof n->iattr);
	memcpy(n->fattr, at.fattr, sizeof n->fattr);
	n->sattr = at.sattr;
	n->type = type;
	diag_init(&sub);
	if (!ir_infer(ps->g, n, &sub))
		return error_tok(ps, &name, "%s", sub.msg);
	if (!ir_type_eq(&n->type, &type))
		return error_tok(ps, &type_tok, "type %s of %%%s disagrees "
		                 "with the inferred %s",
		                 ir_type_str(&type, have, sizeof have), n->name,
		                 ir_type_str(&n->type, want, sizeof want));
	if (tok_is(&ps->tok, TK_IDENT, "in") && !parse_placement(ps, n))
		return false;
	name_add(ps, &ps->values, n->name, n, name.line);
	return true;
}

/* output = "output" IDENT "=" VALUE */
static bool parse_output(Parser *ps)
{
	Token name, val;
	NameEntry *e;
	char buf[64];
	const char *s;

	lex(ps);
	name = ps->tok;
	if (name.kind != TK_IDENT) {
		if (name.kind == TK_ERR)
			return false;
		return error_tok(ps, &name, "expected an output name, got %s",
		                 tok_desc(&name, buf, sizeof buf));
	}
	s = arena_strndup(ps->a, name.s, name.len);
	if (name_find(&ps->outputs, name.s, name.len))
		return error_tok(ps, &name, "duplicate output name %s", s);
	name_add(ps, &ps->outputs, s, NULL, name.line);
	lex(ps);
	if (!expect(ps, '=', "after an output name"))
		return false;
	val = ps->tok;
	if (val.kind != TK_VALUE) {
		if (val.kind == TK_ERR)
			return false;
		return error_tok(ps, &val, "expected a value after 'output "
		                 "%s =', got %s", s,
		                 tok_desc(&val, buf, sizeof buf));
	}
	e = name_find(&ps->values, val.s, val.len);
	if (!e)
		return undefined(ps, &val);
	ir_add_output(ps->g, s, e->node);
	lex(ps);
	return true;
}

/* An identifier token's text in the arena, or an error naming `what`. */
static const char *parse_ident(Parser *ps, const char *what)
{
	char buf[64];

	if (ps->tok.kind != TK_IDENT) {
		if (ps->tok.kind != TK_ERR)
			error_tok(ps, &ps->tok, "expected %s, got %s", what,
			          tok_desc(&ps->tok, buf, sizeof buf));
		return NULL;
	}
	return arena_strndup(ps->a, ps->tok.s, ps->tok.len);
}

/* entry = "entry" IDENT "{" IDENT "=" VALUE ("," IDENT "=" VALUE)* "}" */
static bool parse_entry(Parser *ps)
{
	Token at, val;
	NameEntry *v;
	const char *s;
	EntryPoint *e;
	char buf[64];

	lex(ps);
	at = ps->tok;
	if (!(s = parse_ident(ps, "an entry name")))
		return false;
	if (strcmp(s, "full") == 0)
		return error_tok(ps, &at, "entry name 'full' is the graph's "
		                 "outputs");
	for (int k = 0; k < ps->g->nentries; k++)
		if (strcmp(ps->g->entries[k].name, s) == 0)
			return error_tok(ps, &at, "duplicate entry name %s", s);
	if (!(e = ir_add_entry(ps->g, s)))
		return error_tok(ps, &at, "more than %d entries",
		                 IR_MAX_ENTRIES);
	ps->entry_at[ps->g->nentries - 1] = at;
	lex(ps);
	if (!expect(ps, '{', "after the entry name"))
		return false;
	do {
		if (e->noutputs && !expect(ps, ',', "between entry outputs"))
			return false;
		at = ps->tok;
		if (!(s = parse_ident(ps, "an entry output name")))
			return false;
		for (int i = 0; i < e->noutputs; i++)
			if (strcmp(e->outputs[i].name, s) == 0)
				return error_tok(ps, &at, "duplicate output name %s "
				                 "in entry %s", s, e->name);
		lex(ps);
		if (!expect(ps, '=', "after an entry output name"))
			return false;
		val = ps->tok;
		if (val.kind != TK_VALUE) {
			if (val.kind == TK_ERR)
				return false;
			return error_tok(ps, &val, "expected a value after '%s =', "
			                 "got %s", s, tok_desc(&val, buf, sizeof buf));
		}
		v = name_find(&ps->values, val.s, val.len);
		if (!v)
			return undefined(ps, &val);
		if (!ir_entry_add_output(e, s, v->node))
			return error_tok(ps, &at, "entry %s has more than %d "
			                 "outputs", e->name, IR_MAX_ENTRY_OUT);
		lex(ps);
	} while (!at_punct(ps, '}'));
	lex(ps);
	return true;
}

/*
 * graph = "graph" STRING ("max_len" "=" NUM)? regions? "{" stmt* "}" EOF
 * stmt  = node | output | entry
 */
static Graph *parse_graph(Parser *ps)
{
	char buf[64];
	int64_t max_len = 0;
	Token close;

	if (!tok_is(&ps->tok, TK_IDENT, "graph")) {
		if (ps->tok.kind != TK_ERR)
			error_tok(ps, &ps->tok, "expected 'graph', got %s",
			          tok_desc(&ps->tok, buf, sizeof buf));
		return NULL;
	}
	lex(ps);
	if (ps->tok.kind != TK_STR) {
		if (ps->tok.kind != TK_ERR)
			error_tok(ps, &ps->tok, "expected the graph's name "
			          "as a string, got %s",
			          tok_desc(&ps->tok, buf, sizeof buf));
		return NULL;
	}
	ps->g = ir_graph_new(ps->a, ps->tok.s);
	lex(ps);
	if (tok_is(&ps->tok, TK_IDENT, "max_len")) {
		Token at;
		lex(ps);
		if (!expect(ps, '=', "after max_len"))
			return NULL;
		at = ps->tok;
		if (!parse_int(ps, false, &max_len, "max_len"))
			return NULL;
		if (max_len < 0) {
			error_tok(ps, &at, "max_len must be >= 0");
			return NULL;
		}
	}
	ps->g->max_len = max_len;
	if (tok_is(&ps->tok, TK_IDENT, "regions") && !parse_regions(ps))
		return NULL;
	if (!expect(ps, '{', "to open the graph"))
		return NULL;
	while (!at_punct(ps, '}')) {
		bool ok;
		if (ps->tok.kind == TK_VALUE)
			ok = parse_node(ps);
		else if (tok_is(&ps->tok, TK_IDENT, "output"))
			ok = parse_output(ps);
		else if (tok_is(&ps->tok, TK_IDENT, "entry"))
			ok = parse_entry(ps);
		else if (ps->tok.kind == TK_ERR)
			ok = false;
		else
			ok = error_tok(ps, &ps->tok, "expected a node, "
			               "'output' or '}', got %s",
			               tok_desc(&ps->tok, buf, sizeof buf));
		if (!ok)
			return NULL;
	}
	close = ps->tok;
	lex(ps);
	if (ps->tok.kind != TK_EOF) {
		if (ps->tok.kind != TK_ERR)
			error_tok(ps, &ps->tok, "trailing garbage after the "
			          "graph: %s",
			          tok_desc(&ps->tok, buf, sizeof buf));
		return NULL;
	}
	if (ps->g->noutputs == 0) {
		error_tok(ps, &close, "graph has no outputs");
		return NULL;
	}
	/* An entry reads no output but its own (ir.h); when the graph's
	 * outputs read an entry's, the fault is shown at that entry. */
	for (int k = -1; ps->g->nentries && k < ps->g->nentries; k++) {
		const EntryPoint *e = k < 0 ? NULL : &ps->g->entries[k];
		const Node *x = ir_entry_foreign_output(ps->g, e);
		int at = k;
		if (!x)
			continue;
		for (int j = 0; at < 0 && j < ps->g->nentries; j++)
			for (int i = 0; i < ps->g->entries[j].noutputs; i++)
				if (ps->g->entries[j].outputs[i].node == x)
					at = j;
		error_tok(ps, &ps->entry_at[at < 0 ? 0 : at],
		          "entry %s needs %%%s, an output of %s",
		          e ? e->name : "full", x->name,
		          k < 0 ? "an entry" : "the graph or another entry");
		return NULL;
	}
	return ps->g;
}

Graph *ir_parse(Arena *a, const char *text, const char *file, Diag *d)
{
	Parser ps = {0};

	HY_ASSERT(a && text && d);
	ps.a = a;
	ps.d = d;
	ps.file = file ? file : "<input>";
	ps.p = ps.line_start = text;
	ps.line = 1;
	lex(&ps);
	return parse_graph(&ps);
}
