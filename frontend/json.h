/*
 * json.h - a small JSON DOM for config.json and safetensors headers.
 *
 * The text is parsed by libyaml (the project's one parser of structured
 * text), then held to JSON: object keys and strings double-quoted, bare
 * words only true/false/null and JSON numbers, no comments, anchors,
 * aliases, tags, block style, document markers or trailing commas, JSON
 * escapes only, and at most JSON_MAX_DEPTH nested containers. Objects keep
 * their keys in order and reject duplicates. Every value knows its line and
 * column (1-based, columns in characters) for messages.
 *
 * libyaml sets limits JSON does not, so some valid JSON is refused: a key
 * must end on the line it starts on and be followed by its ':' there,
 * within 1024 characters of the key's start; "\u" escapes of UTF-16
 * surrogates (pairs too) are refused; so are the raw characters U+007F to
 * U+009F (but U+0085), U+FFFE and U+FFFF in strings. None occurs in HF
 * files.
 *
 * All memory comes from the arena (and, while a container is being read,
 * from work vectors freed before json_parse returns); nothing here aborts
 * on bad input.
 */
#ifndef HYENAC_JSON_H
#define HYENAC_JSON_H

#include "../ir/base.h"

enum { JSON_MAX_DEPTH = 64 };

typedef enum {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
} JsonKind;

typedef struct JsonValue JsonValue;

/* Kept small (24 and 56 bytes on LP64): a 100 MB safetensors header may
 * hold millions of values. Lines and columns saturate at INT32_MAX. */
typedef struct JsonMember {
	const char *key;      /* NUL-terminated; "\u0000" is refused */
	int32_t line, col;    /* where the key starts */
	JsonValue *value;
} JsonMember;

struct JsonValue {
	JsonKind kind;
	int n;                /* JSON_ARRAY items / JSON_OBJECT members */
	int32_t line, col;    /* where the value starts, 1-based */
	bool b;               /* JSON_BOOL */
	/* JSON_NUMBER: i when is_int (an integer literal that fits
	 * int64_t), else num; json_number reads either. text is the literal
	 * as written. */
	bool is_int;
	union {
		double num;
		int64_t i;
	};
	const char *text;     /* JSON_NUMBER literal, JSON_STRING value */
	size_t len;           /* JSON_STRING: bytes, excluding the NUL */
	union {
		JsonValue **items;    /* JSON_ARRAY */
		JsonMember *members;  /* JSON_OBJECT */
	};
};

/* Parse text[0..len); `file` names it in messages. NULL on error, with one
 * line in d: "FILE:LINE:COL: problem". */
JsonValue *json_parse(Arena *a, const char *text, size_t len,
                      const char *file, Diag *d);

/* Bounds on what a text may make the parser hold, for text that comes
 * from a file of any size (a safetensors header may be 100 MB). The DOM is
 * packed (values, keys and strings carved from the arena without per-item
 * rounding, containers sized exactly), so its memory is a small multiple
 * of the text's bytes; these bounds refuse a text that would still take
 * too much, at the value where it crosses them, naming the value by its
 * path of keys and indices (["w"]["shape"]). Zero means no bound. */
typedef struct JsonLimits {
	size_t max_bytes;     /* of the DOM and the parser's work vectors */
	const char *bytes_why;/* "the limit for ...", said after the bytes */
	int max_items;        /* in any one array */
	const char *items_why;/* said after the count */
} JsonLimits;

JsonValue *json_parse_limited(Arena *a, const char *text, size_t len,
                              const char *file, const JsonLimits *lim,
                              Diag *d);

/* "null", "boolean", "number", "string", "array", "object". */
const char *json_kind_name(JsonKind k);
/* A short rendering for "got ..." in messages: the number as written, the
 * string quoted (cut at 40 bytes), or the kind. Written into buf. */
const char *json_describe(const JsonValue *v, char *buf, size_t n);

/* The member of an object with that key, or NULL (also for non-objects). */
const JsonMember *json_member(const JsonValue *obj, const char *key);
/* Its value, or NULL. */
const JsonValue *json_get(const JsonValue *obj, const char *key);
/* The i-th item of an array, or NULL when out of range or not an array. */
const JsonValue *json_at(const JsonValue *arr, int i);

/* Typed reads: false (leaving *out alone) unless v has that type. */
bool json_int(const JsonValue *v, int64_t *out);   /* integer literal */
bool json_number(const JsonValue *v, double *out); /* any number */
bool json_bool(const JsonValue *v, bool *out);
const char *json_string(const JsonValue *v);       /* NULL if no string */

#endif
