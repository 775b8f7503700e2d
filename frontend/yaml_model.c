/*
 * yaml_model.c - fe_yaml_load: the project's own model description (the
 * files in models/, documented in docs/model-format.md) into a ModelSpec
 * and a WeightSource.
 *
 * The schema, nested mappings; only the starred keys are required:
 *
 *   name: STRING              default: the file name without .yaml
 *   d_model: INT *
 *   n_layer: INT *
 *   max_seq_len: INT *        the longest sequence, HF's l_max
 *   norm_eps: FLOAT
 *   vocab: {size: INT, pad_multiple: INT}
 *   mlp: {d_inner: INT, activation: gelu_tanh | gelu | relu}
 *                             d_inner defaults to 4 * d_model
 *   hyena:
 *     order: INT
 *     short_filter: INT
 *     filter:
 *       emb_dim: INT
 *       order: INT            the filter MLP's width
 *       inner_mlps: INT
 *       sin_freq: FLOAT
 *       modulation: {fast_decay_pct: FLOAT, slow_decay_pct: FLOAT,
 *                    target: FLOAT, shift: FLOAT, enabled: BOOL}
 *   head: lm | none
 *   weights: {seed: UINT64} or {safetensors: PATH} *
 *
 * Everything else comes from fe_spec_defaults(). A safetensors path is
 * relative to the YAML file's directory.
 *
 * The loader walks libyaml's event stream against the schema table below,
 * so it needs no document tree and never descends further than the schema
 * does: a mapping or sequence where the schema wants a scalar is an error
 * at once. Scalars are typed as YAML 1.2's core schema types them (a
 * quoted scalar is always a string); an integer field takes only integers,
 * a float field takes both. Anchors, aliases, tags and second documents
 * are refused, so what a reader sees is what the model is. Each value is
 * range-checked where it stands, by fe_spec_check() on the defaults with
 * just that value changed, so the limits live in spec.c alone; limits that
 * tie fields together are checked once at the end, for the whole file.
 *
 * Every problem is one Diag line "FILE:LINE:COL: problem", LINE:COL 1-based
 * from libyaml's marks.
 */
#include "frontend.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

enum {
	FILE_MAX = 1 << 20,  /* a description is a few hundred bytes */
	MAP_FIELDS_MAX = 16, /* keys in one mapping of the schema */
	DEPTH_MAX = 8,       /* the schema's own depth is 4 */
	SHOW_MAX = 40,       /* input text quoted in a message */
};

typedef enum {
	F_INT,  /* int64_t in ModelSpec */
	F_REAL, /* double in ModelSpec */
	F_BOOL, /* bool in ModelSpec */
	F_NAME, /* ModelSpec.name */
	F_ACT,  /* Activation, by name */
	F_HEAD, /* ModelSpec.lm_head, from "lm" or "none" */
	F_SEED, /* WeightSource.seed */
	F_PATH, /* WeightSource.safetensors */
	F_MAP,  /* a nested mapping */
} FieldKind;

typedef struct Field {
	const char *key;
	FieldKind kind;
	size_t off;              /* into ModelSpec, for the kinds kept there */
	const struct Field *sub; /* F_MAP: its fields, ended by a NULL key */
	bool required;
} Field;

#define SPEC(key, kind, f, req) {key, kind, offsetof(ModelSpec, f), NULL, req}
#define MAP(key, sub, req) {key, F_MAP, 0, sub, req}
#define END {NULL, F_MAP, 0, NULL, false}

static const Field modulation_fields[] = {
	SPEC("fast_decay_pct", F_REAL, fast_decay_pct, false),
	SPEC("slow_decay_pct", F_REAL, slow_decay_pct, false),
	SPEC("target", F_REAL, decay_target, false),
	SPEC("shift", F_REAL, mod_shift, false),
	SPEC("enabled", F_BOOL, modulate, false),
	END,
};

static const Field filter_fields[] = {
	SPEC("emb_dim", F_INT, emb_dim, false),
	SPEC("order", F_INT, filter_order, false),
	SPEC("inner_mlps", F_INT, num_inner_mlps, false),
	SPEC("sin_freq", F_REAL, sin_freq, false),
	MAP("modulation", modulation_fields, false),
	END,
};

static const Field hyena_fields[] = {
	SPEC("order", F_INT, order, false),
	SPEC("short_filter", F_INT, short_filter, false),
	MAP("filter", filter_fields, false),
	END,
};

static const Field vocab_fields[] = {
	SPEC("size", F_INT, vocab_size, false),
	SPEC("pad_multiple", F_INT, pad_vocab_multiple, false),
	END,
};

static const Field mlp_fields[] = {
	SPEC("d_inner", F_INT, d_inner, false),
	SPEC("activation", F_ACT, mlp_act, false),
	END,
};

static const Field weights_fields[] = {
	{"seed", F_SEED, 0, NULL, false},
	{"safetensors", F_PATH, 0, NULL, false},
	END,
};

static const Field top_fields[] = {
	SPEC("name", F_NAME, name, false),
	SPEC("d_model", F_INT, d_model, true),
	SPEC("n_layer", F_INT, n_layer, true),
	SPEC("max_seq_len", F_INT, max_seq_len, true),
	SPEC("norm_eps", F_REAL, norm_eps, false),
	MAP("vocab", vocab_fields, false),
	MAP("mlp", mlp_fields, false),
	MAP("hyena", hyena_fields, false),
	SPEC("head", F_HEAD, lm_head, false),
	MAP("weights", weights_fields, true),
	END,
};

#undef SPEC
#undef MAP
#undef END

typedef struct Loader {
	Arena *a;
	const char *path;
	Diag *d;
	ModelSpec *s;
	WeightSource *w;
	const char *text; /* the file, n bytes */
	size_t n;
	yaml_parser_t p;
	yaml_event_t ev; /* the current event, valid while `have` */
	bool have;
	/* weights takes one of the two; checked when its mapping ends */
	bool has_seed, has_path;
	yaml_mark_t seed_at, path_at;
} Loader;

/* ---- messages --------------------------------------------------------- */

static bool err_at(Loader *L, yaml_mark_t m, const char *fmt, ...)
    HY_PRINTF(3, 4);

static bool err_at(Loader *L, yaml_mark_t m, const char *fmt, ...)
{
	char what[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	diag_at(L->d, L->path, (long)m.line + 1, (long)m.column + 1, "%s",
	        what);
	return false;
}

/* Input text, made printable and short for a message; buf holds
 * SHOW_MAX + 4 bytes. */
static const char *show(char *buf, const void *text, size_t n)
{
	const unsigned char *s = text;
	size_t i, k = 0;

	for (i = 0; i < n && k < SHOW_MAX; i++)
		buf[k++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	if (i < n) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = 0;
	return buf;
}

static bool yaml_error(Loader *L)
{
	const yaml_parser_t *p = &L->p;
	const char *problem = p->problem ? p->problem : "unknown problem";
	char ctx[256] = "";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		diag_at(L->d, L->path, 0, 0, "out of memory reading YAML");
		return false;
	case YAML_READER_ERROR: {
		/* Encoding problems come with a byte offset, not a mark;
		 * the column counts bytes. */
		yaml_mark_t m = {0, 0, 0};
		for (size_t i = 0; i < p->problem_offset && i < L->n; i++) {
			if (L->text[i] == '\n') {
				m.line++;
				m.column = 0;
			} else {
				m.column++;
			}
		}
		return err_at(L, m, "invalid YAML: %s (byte %zu)", problem,
		              p->problem_offset);
	}
	default:
		if (p->context)
			snprintf(ctx, sizeof ctx, " (%s at %zu:%zu)",
			         p->context, p->context_mark.line + 1,
			         p->context_mark.column + 1);
		return err_at(L, p->problem_mark, "invalid YAML: %s%s",
		              problem, ctx);
	}
}

/* ---- events ----------------------------------------------------------- */

/* Advance to the next event, refusing what the format leaves out. */
static bool next(Loader *L)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;
	char buf[SHOW_MAX + 4];

	if (L->have)
		yaml_event_delete(&L->ev);
	L->have = false;
	if (!yaml_parser_parse(&L->p, &L->ev))
		return yaml_error(L);
	L->have = true;
	switch (L->ev.type) {
	case YAML_ALIAS_EVENT:
		anchor = L->ev.data.alias.anchor;
		return err_at(L, L->ev.start_mark,
		              "aliases are not supported (*%s); write the "
		              "value out",
		              show(buf, anchor, strlen((const char *)anchor)));
	case YAML_SCALAR_EVENT:
		anchor = L->ev.data.scalar.anchor;
		tag = L->ev.data.scalar.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = L->ev.data.mapping_start.anchor;
		tag = L->ev.data.mapping_start.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = L->ev.data.sequence_start.anchor;
		tag = L->ev.data.sequence_start.tag;
		break;
	default:
		break;
	}
	if (anchor)
		return err_at(L, L->ev.start_mark,
		              "anchors are not supported (&%s)",
		              show(buf, anchor, strlen((const char *)anchor)));
	if (tag)
		return err_at(L, L->ev.start_mark,
		              "tags are not supported (%s)",
		              show(buf, tag, strlen((const char *)tag)));
	return true;
}

/* ---- scalars ---------------------------------------------------------- */

typedef enum { V_NULL, V_BOOL, V_INT, V_FLOAT, V_STR } VClass;

static const char *const vclass_names[] = {
	"null", "a boolean", "an integer", "a float", "a string",
};

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

static const char *digits(const char *s)
{
	while (*s >= '0' && *s <= '9')
		s++;
	return s;
}

/* [-+]?[0-9]+ */
static bool is_int(const char *s)
{
	const char *e;

	if (*s == '-' || *s == '+')
		s++;
	e = digits(s);
	return e > s && !*e;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, or .inf, .nan */
static bool is_float(const char *s)
{
	static const char *const special[] = {
		".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN", NULL,
	};
	const char *e;

	if (*s == '-' || *s == '+')
		s++;
	if (one_of(s, special))
		return true;
	if (*s == '.') {
		e = digits(s + 1);
		if (e == s + 1)
			return false;
	} else {
		e = digits(s);
		if (e == s)
			return false;
		if (*e == '.')
			e = digits(e + 1);
	}
	if (*e == 'e' || *e == 'E') {
		const char *m = e + 1;
		if (*m == '-' || *m == '+')
			m++;
		e = digits(m);
		if (e == m)
			return false;
	}
	return !*e;
}

/* The YAML 1.2 core schema's reading of a scalar event. */
static VClass classify(const yaml_event_t *ev)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL",
	                                    NULL};
	static const char *const bools[] = {"true", "True", "TRUE", "false",
	                                    "False", "FALSE", NULL};
	const char *s = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return V_STR;
	if (one_of(s, nulls))
		return V_NULL;
	if (one_of(s, bools))
		return V_BOOL;
	if (is_int(s))
		return V_INT;
	if (is_float(s))
		return V_FLOAT;
	return V_STR;
}

/* A scalar that is_int or is_float took; strtod knows no .inf or .nan. */
static double real_value(const char *s)
{
	const char *t = s + (*s == '+' || *s == '-');
	double v;

	if (t[0] == '.' && (t[1] == 'i' || t[1] == 'I'))
		v = INFINITY;
	else if (t[0] == '.' && (t[1] == 'n' || t[1] == 'N'))
		v = NAN;
	else
		return strtod(s, NULL);
	return *s == '-' ? -v : v;
}

static const char *expected(const Field *f)
{
	switch (f->kind) {
	case F_INT: return "an integer";
	case F_REAL: return "a number";
	case F_BOOL: return "true or false";
	case F_NAME: return "a string";
	case F_ACT: return "gelu_tanh, gelu or relu";
	case F_HEAD: return "lm or none";
	case F_SEED: return "a non-negative integer";
	case F_PATH: return "a path";
	case F_MAP: return "a mapping";
	}
	return "?";
}

/* The current event is not what `f` takes; `dotted` names the key, ""
 * the top level. */
static bool wrong_type(Loader *L, const Field *f, const char *dotted)
{
	const yaml_event_t *ev = &L->ev;
	char buf[SHOW_MAX + 4], subj[160] = "the top level";
	VClass c;

	if (*dotted)
		snprintf(subj, sizeof subj, "'%s'", dotted);
	if (ev->type == YAML_MAPPING_START_EVENT)
		return err_at(L, ev->start_mark, "%s must be %s, not a mapping",
		              subj, expected(f));
	if (ev->type == YAML_SEQUENCE_START_EVENT)
		return err_at(L, ev->start_mark,
		              "%s must be %s, not a sequence", subj,
		              expected(f));
	HY_ASSERT(ev->type == YAML_SCALAR_EVENT);
	c = classify(ev);
	if (c == V_NULL)
		return err_at(L, ev->start_mark, "%s must be %s, not null",
		              subj, expected(f));
	return err_at(L, ev->start_mark, "%s must be %s, not %s '%s'", subj,
	              expected(f), vclass_names[c],
	              show(buf, ev->data.scalar.value,
	                   ev->data.scalar.length));
}

/* ---- keys ------------------------------------------------------------- */

static int field_count(const Field *fields)
{
	int n = 0;
	while (fields[n].key)
		n++;
	return n;
}

/* Where in the schema below `prefix` the key `key` lives, as a dotted
 * path; false if nowhere. */
static bool find_elsewhere(const Field *fields, const char *prefix,
                           const char *key, char *out, size_t n)
{
	char sub[128];

	for (const Field *f = fields; f->key; f++) {
		if (!strcmp(f->key, key)) {
			snprintf(out, n, "%s%s%s", prefix, *prefix ? "." : "",
			         key);
			return true;
		}
	}
	for (const Field *f = fields; f->key; f++) {
		if (f->kind != F_MAP)
			continue;
		snprintf(sub, sizeof sub, "%s%s%s", prefix, *prefix ? "." : "",
		         f->key);
		if (find_elsewhere(f->sub, sub, key, out, n))
			return true;
	}
	return false;
}

/* An unknown key (the current event), with the nearest known one, its
 * place elsewhere in the schema, or else what this mapping takes. */
static bool unknown_key(Loader *L, const Field *fields, const char *where)
{
	const char *key = (const char *)L->ev.data.scalar.value;
	size_t len = L->ev.data.scalar.length, k = 0;
	char buf[SHOW_MAX + 4], in[160] = "", list[512] = "", other[160];
	const Field *best = NULL;
	int bestd = 1 << 30;

	if (*where)
		snprintf(in, sizeof in, " in '%s'", where);
	show(buf, key, len);
	for (const Field *f = fields; f->key; f++) {
		int dist = hy_edit_distance(key, f->key);
		if (dist < bestd) {
			bestd = dist;
			best = f;
		}
	}
	if (best && bestd <= 2 && (size_t)bestd * 2 <= len)
		return err_at(L, L->ev.start_mark,
		              "unknown key '%s'%s; did you mean '%s'?", buf, in,
		              best->key);
	if (strlen(key) == len &&
	    find_elsewhere(top_fields, "", key, other, sizeof other))
		return err_at(L, L->ev.start_mark,
		              "unknown key '%s'%s; did you mean '%s'?", buf, in,
		              other);
	for (const Field *f = fields; f->key && k < sizeof list; f++)
		k += (size_t)snprintf(list + k, sizeof list - k, "%s%s",
		                      f == fields ? "" : ", ", f->key);
	return err_at(L, L->ev.start_mark, "unknown key '%s'%s (known: %s)",
	              buf, in, list);
}

/* ---- values ----------------------------------------------------------- */

static void *spec_field(Loader *L, const Field *f)
{
	return (char *)L->s + f->off;
}

/* Range-check one ModelSpec value where it stands: the defaults with just
 * this field changed must pass fe_spec_check. */
static bool check_here(Loader *L, const Field *f)
{
	yaml_mark_t m = L->ev.start_mark;
	ModelSpec probe;
	size_t size;

	switch (f->kind) {
	case F_INT: size = sizeof(int64_t); break;
	case F_REAL: size = sizeof(double); break;
	case F_BOOL: case F_HEAD: size = sizeof(bool); break;
	case F_ACT: size = sizeof(Activation); break;
	default: return true;
	}
	fe_spec_defaults(&probe);
	memcpy((char *)&probe + f->off, spec_field(L, f), size);
	return fe_spec_check(&probe,
	                     arena_printf(L->a, "%s:%zu:%zu", L->path,
	                                  m.line + 1, m.column + 1),
	                     L->d);
}

static bool set_int(Loader *L, const Field *f, const char *dotted,
                    const char *s)
{
	long long v;

	errno = 0;
	v = strtoll(s, NULL, 10);
	if (errno == ERANGE)
		return err_at(L, L->ev.start_mark,
		              "'%s': %s is out of range", dotted, s);
	*(int64_t *)spec_field(L, f) = (int64_t)v;
	return check_here(L, f);
}

static bool set_seed(Loader *L, const char *dotted, const char *s)
{
	unsigned long long v;

	if (*s == '-')
		return err_at(L, L->ev.start_mark, "'%s' must be a "
		              "non-negative integer, not %s", dotted, s);
	errno = 0;
	v = strtoull(s, NULL, 10);
	if (errno == ERANGE)
		return err_at(L, L->ev.start_mark,
		              "'%s': %s is out of range", dotted, s);
	L->w->seed = (uint64_t)v;
	L->has_seed = true;
	L->seed_at = L->ev.start_mark;
	return true;
}

/* The current scalar as text: any scalar but null, empty or NUL bytes. */
static bool take_text(Loader *L, const Field *f, const char *dotted,
                      const char **out)
{
	const yaml_event_t *ev = &L->ev;
	const char *s = (const char *)ev->data.scalar.value;

	if (classify(ev) == V_NULL)
		return wrong_type(L, f, dotted);
	if (ev->data.scalar.length == 0)
		return err_at(L, ev->start_mark, "'%s' must not be empty",
		              dotted);
	if (strlen(s) != ev->data.scalar.length)
		return err_at(L, ev->start_mark,
		              "'%s' must not contain NUL bytes", dotted);
	*out = s;
	return true;
}

static bool set_path(Loader *L, const Field *f, const char *dotted)
{
	const char *rel, *slash;

	if (!take_text(L, f, dotted, &rel))
		return false;
	slash = strrchr(L->path, '/');
	if (rel[0] == '/' || !slash)
		L->w->safetensors = arena_strdup(L->a, rel);
	else
		L->w->safetensors = arena_printf(L->a, "%.*s/%s",
		                                 (int)(slash - L->path),
		                                 L->path, rel);
	L->has_path = true;
	L->path_at = L->ev.start_mark;
	return true;
}

/* The name is printed as `model=NAME` by `info` (here and in every
 * binary) and in messages: a newline in it would forge a line. */
static bool set_name(Loader *L, const char *dotted, const char *s)
{
	long at = hy_control_at(s);

	if (at >= 0)
		return err_at(L, L->ev.start_mark, "'%s' must not contain "
		              "control characters (byte 0x%02x at offset %ld "
		              "of the value)", dotted,
		              (unsigned char)s[at], at);
	L->s->name = arena_strdup(L->a, s);
	return true;
}

static bool set_act(Loader *L, const Field *f, const char *dotted,
                    const char *s)
{
	char buf[SHOW_MAX + 4];
	int best = 0, bestd = 1 << 30;

	for (int i = 0; i < ACT_COUNT; i++) {
		int dist = hy_edit_distance(s, fe_activation_name(i));
		if (dist == 0) {
			*(Activation *)spec_field(L, f) = (Activation)i;
			return check_here(L, f);
		}
		if (dist < bestd) {
			bestd = dist;
			best = i;
		}
	}
	show(buf, s, strlen(s));
	if (bestd <= 2)
		return err_at(L, L->ev.start_mark, "unknown activation '%s' "
		              "for '%s'; did you mean '%s'?", buf, dotted,
		              fe_activation_name(best));
	return err_at(L, L->ev.start_mark, "unknown activation '%s' for "
	              "'%s'; expected %s", buf, dotted, expected(f));
}

static bool parse_map(Loader *L, const Field *fields, const char *where,
                      int depth);

/* The value of `f`, whose first event is current. */
static bool parse_value(Loader *L, const Field *f, const char *dotted,
                        int depth)
{
	const yaml_event_t *ev = &L->ev;
	const char *s;
	VClass c;

	if (f->kind == F_MAP) {
		if (ev->type != YAML_MAPPING_START_EVENT)
			return wrong_type(L, f, dotted);
		return parse_map(L, f->sub, dotted, depth + 1);
	}
	if (ev->type != YAML_SCALAR_EVENT)
		return wrong_type(L, f, dotted);
	s = (const char *)ev->data.scalar.value;
	c = classify(ev);
	switch (f->kind) {
	case F_INT:
		if (c != V_INT)
			return wrong_type(L, f, dotted);
		return set_int(L, f, dotted, s);
	case F_SEED:
		if (c != V_INT)
			return wrong_type(L, f, dotted);
		return set_seed(L, dotted, s);
	case F_REAL:
		if (c != V_INT && c != V_FLOAT)
			return wrong_type(L, f, dotted);
		*(double *)spec_field(L, f) = real_value(s);
		return check_here(L, f);
	case F_BOOL:
		if (c != V_BOOL)
			return wrong_type(L, f, dotted);
		*(bool *)spec_field(L, f) = s[0] == 't' || s[0] == 'T';
		return check_here(L, f);
	case F_HEAD:
		if (c != V_STR || (strcmp(s, "lm") && strcmp(s, "none")))
			return wrong_type(L, f, dotted);
		*(bool *)spec_field(L, f) = !strcmp(s, "lm");
		return check_here(L, f);
	case F_ACT:
		if (c != V_STR)
			return wrong_type(L, f, dotted);
		return set_act(L, f, dotted, s);
	case F_NAME:
		if (!take_text(L, f, dotted, &s))
			return false;
		return set_name(L, dotted, s);
	case F_PATH:
		return set_path(L, f, dotted);
	case F_MAP:
		break;
	}
	hy_die("unhandled field kind %d", (int)f->kind);
}

/* weights takes exactly one source; `start` is where its mapping began. */
static bool check_weights(Loader *L, yaml_mark_t start)
{
	yaml_mark_t later;

	if (L->has_seed && L->has_path) {
		later = L->seed_at.index > L->path_at.index ? L->seed_at
		                                            : L->path_at;
		return err_at(L, later, "'weights' takes 'seed' or "
		              "'safetensors', not both");
	}
	if (!L->has_seed && !L->has_path)
		return err_at(L, start, "'weights' needs 'seed' or "
		              "'safetensors'");
	return true;
}

/*
 * mapping := MAPPING-START (SCALAR-key value)* MAPPING-END
 * The MAPPING-START is current; `where` is the mapping's dotted path.
 */
static bool parse_map(Loader *L, const Field *fields, const char *where,
                      int depth)
{
	yaml_mark_t start = L->ev.start_mark, seen_at[MAP_FIELDS_MAX];
	bool seen[MAP_FIELDS_MAX] = {false};
	int n = field_count(fields);

	HY_ASSERT(n <= MAP_FIELDS_MAX);
	HY_ASSERT(depth <= DEPTH_MAX);
	for (;;) {
		const char *key, *dotted;
		int i;

		if (!next(L))
			return false;
		if (L->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (L->ev.type != YAML_SCALAR_EVENT)
			return err_at(L, L->ev.start_mark,
			              "a key must be a plain name, not a %s",
			              L->ev.type == YAML_MAPPING_START_EVENT
			                  ? "mapping"
			                  : "sequence");
		key = (const char *)L->ev.data.scalar.value;
		for (i = 0; i < n; i++)
			if (strlen(key) == L->ev.data.scalar.length &&
			    !strcmp(key, fields[i].key))
				break;
		if (i == n)
			return unknown_key(L, fields, where);
		dotted = *where ? arena_printf(L->a, "%s.%s", where, key)
		                : fields[i].key;
		if (seen[i])
			return err_at(L, L->ev.start_mark,
			              "duplicate key '%s' (first at %zu:%zu)",
			              dotted, seen_at[i].line + 1,
			              seen_at[i].column + 1);
		seen[i] = true;
		seen_at[i] = L->ev.start_mark;
		if (!next(L) || !parse_value(L, &fields[i], dotted, depth))
			return false;
	}
	for (int i = 0; i < n; i++)
		if (fields[i].required && !seen[i])
			return err_at(L, start, "missing required key '%s%s%s'",
			              where, *where ? "." : "", fields[i].key);
	if (fields == weights_fields)
		return check_weights(L, start);
	return true;
}

/*
 * stream := STREAM-START DOCUMENT-START mapping DOCUMENT-END STREAM-END
 */
static bool parse_stream(Loader *L)
{
	static const Field top = {"", F_MAP, 0, top_fields, true};

	if (!next(L))
		return false;
	HY_ASSERT(L->ev.type == YAML_STREAM_START_EVENT);
	if (!next(L))
		return false;
	if (L->ev.type == YAML_STREAM_END_EVENT)
		return err_at(L, L->ev.start_mark, "empty model description");
	HY_ASSERT(L->ev.type == YAML_DOCUMENT_START_EVENT);
	if (!next(L))
		return false;
	if (L->ev.type == YAML_SCALAR_EVENT && classify(&L->ev) == V_NULL)
		return err_at(L, L->ev.start_mark, "empty model description");
	if (L->ev.type != YAML_MAPPING_START_EVENT)
		return wrong_type(L, &top, "");
	if (!parse_map(L, top_fields, "", 0) || !next(L))
		return false;
	HY_ASSERT(L->ev.type == YAML_DOCUMENT_END_EVENT);
	if (!next(L))
		return false;
	if (L->ev.type != YAML_STREAM_END_EVENT)
		return err_at(L, L->ev.start_mark, "a second YAML document; a "
		              "model description is one document");
	return true;
}

/* ---- the door --------------------------------------------------------- */

/* The whole file, in the arena; NULL after reporting why not. */
static char *read_text(Loader *L, size_t *n)
{
	struct stat sb;
	const char *why;
	char *buf = NULL;
	int fd = hy_open_regular(L->path, &sb, &why);
	FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;

	if (!f) {
		diag_at(L->d, L->path, 0, 0,
		        "cannot open model description: %s",
		        fd < 0 ? why : strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (sb.st_size > FILE_MAX)
		diag_at(L->d, L->path, 0, 0,
		        "model description is larger than %d bytes", FILE_MAX);
	else
		buf = arena_alloc(L->a, (size_t)sb.st_size + 1);
	if (buf) {
		/* A file that grows meanwhile is cut at its fstat size. */
		*n = fread(buf, 1, (size_t)sb.st_size, f);
		if (ferror(f)) {
			diag_at(L->d, L->path, 0, 0,
			        "cannot read model description: %s",
			        strerror(errno));
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

/* The file's name without directory and .yaml/.yml. */
static const char *default_name(Arena *a, const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 5 && !strcmp(base + n - 5, ".yaml"))
		n -= 5;
	else if (n > 4 && !strcmp(base + n - 4, ".yml"))
		n -= 4;
	char *name = arena_strndup(a, base, n);
	/* A file name may hold anything a name must not (set_name). */
	hy_blank_controls(name);
	return name;
}

bool fe_yaml_load(Arena *a, const char *path, ModelSpec *s, WeightSource *w,
                  Diag *d)
{
	Loader L = {.a = a, .path = path, .d = d, .s = s, .w = w};
	char *text;
	size_t n = 0;
	bool ok;

	fe_spec_defaults(s);
	s->name = NULL;
	s->d_inner = 0; /* not given; an explicit 0 fails where it stands */
	w->safetensors = NULL;
	w->seed = 0;
	text = read_text(&L, &n);
	if (!text)
		return false;
	L.text = text;
	L.n = n;
	if (!yaml_parser_initialize(&L.p))
		hy_die("out of memory starting libyaml");
	yaml_parser_set_input_string(&L.p, (const unsigned char *)text, n);
	ok = parse_stream(&L);
	if (L.have)
		yaml_event_delete(&L.ev);
	yaml_parser_delete(&L.p);
	if (!ok)
		return false;
	if (!s->name)
		s->name = default_name(a, path);
	if (s->d_inner == 0)
		s->d_inner = 4 * s->d_model;
	return fe_spec_check(s, path, d);
}
