/*
 * test_json.c - frontend/json.c: the DOM, positions, numbers, and every
 * YAML-ism and malformed input refused with a one-line message; then a
 * mutation fuzz and allocation-failure injection that must never crash.
 */
#include "../frontend/json.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Arena *A;
static Diag D;

static void setup(void)
{
	A = arena_new();
	diag_init(&D);
}

static void teardown(void)
{
	arena_set_fail_after(0);
	arena_free(A);
}

static JsonValue *parse(const char *text)
{
	diag_init(&D);
	return json_parse(A, text, strlen(text), "t.json", &D);
}

/* text must fail with a message containing `want`. */
static void bad(const char *text, const char *want)
{
	JsonValue *v = parse(text);
	ck_assert_msg(v == NULL, "accepted: %s", text);
	ck_assert_msg(!diag_ok(&D), "no diagnostic for: %s", text);
	ck_assert_msg(strstr(D.msg, want) != NULL,
	              "for %s: wanted '%s' in: %s", text, want, D.msg);
	ck_assert_msg(strncmp(D.msg, "t.json", 6) == 0, "no file in: %s",
	              D.msg);
	ck_assert(strchr(D.msg, '\n') == NULL);
}

START_TEST(test_values)
{
	JsonValue *v = parse("{\"b\": [1, -2.5, 3e2, true, false, null],\n"
	                     " \"a\": {\"s\": \"x\\n\\u00e9\\\"\\/\"},\n"
	                     " \"z\": 9223372036854775807, \"big\": "
	                     "99999999999999999999}");
	int64_t i;

	ck_assert_msg(v != NULL, "%s", D.msg);
	ck_assert_int_eq(v->kind, JSON_OBJECT);
	ck_assert_int_eq(v->n, 4);
	/* key order is kept */
	ck_assert_str_eq(v->members[0].key, "b");
	ck_assert_str_eq(v->members[1].key, "a");
	ck_assert_str_eq(v->members[2].key, "z");
	const JsonValue *b = json_get(v, "b");
	ck_assert_int_eq(b->kind, JSON_ARRAY);
	ck_assert_int_eq(b->n, 6);
	ck_assert(json_int(json_at(b, 0), &i) && i == 1);
	ck_assert(!json_int(json_at(b, 1), &i));
	ck_assert(json_at(b, 1)->num == -2.5);
	ck_assert(!json_at(b, 2)->is_int && json_at(b, 2)->num == 300);
	ck_assert_str_eq(json_at(b, 2)->text, "3e2");
	ck_assert(json_at(b, 3)->kind == JSON_BOOL && json_at(b, 3)->b);
	ck_assert(json_at(b, 4)->kind == JSON_BOOL && !json_at(b, 4)->b);
	ck_assert(json_at(b, 5)->kind == JSON_NULL);
	ck_assert(json_at(b, 6) == NULL);
	ck_assert_str_eq(json_string(json_get(json_get(v, "a"), "s")),
	                 "x\n\xc3\xa9\"/");
	ck_assert(json_int(json_get(v, "z"), &i) && i == INT64_MAX);
	/* integer syntax beyond int64_t: a number, not an int */
	ck_assert(!json_get(v, "big")->is_int);
	ck_assert(json_get(v, "missing") == NULL);
	ck_assert(json_get(b, "x") == NULL);
	/* positions, 1-based */
	ck_assert_int_eq(v->line, 1);
	ck_assert_int_eq(v->col, 1);
	ck_assert_int_eq(v->members[1].line, 2);
	ck_assert_int_eq(v->members[1].col, 2);
	ck_assert_int_eq(json_get(v, "a")->col, 7);
	ck_assert_int_eq(json_at(b, 1)->col, 11);
}
END_TEST

START_TEST(test_scalars_and_compact)
{
	JsonValue *v = parse("{\"a\":[0,{\"b\":{}},[]],\"c\":\"\"}");
	ck_assert_msg(v != NULL, "%s", D.msg);
	ck_assert_int_eq(json_get(v, "a")->n, 3);
	ck_assert_int_eq(json_at(json_get(v, "a"), 2)->n, 0);
	ck_assert_int_eq(json_get(v, "c")->len, 0);
	v = parse("  42  \n");
	ck_assert(v && v->kind == JSON_NUMBER && v->i == 42);
	v = parse("\"top\"");
	ck_assert(v && v->kind == JSON_STRING);
	v = parse("[]");
	ck_assert(v && v->kind == JSON_ARRAY && v->n == 0);
	v = parse("{\r\n\"k\" : -0.0e-0\r\n}");
	ck_assert_msg(v != NULL, "%s", D.msg);
}
END_TEST

START_TEST(test_rejects_yaml)
{
	bad("{\"a\": 1, \"a\": 2}", "duplicate key 'a'");
	bad("{\"a\": 1,\n \"b\": 2,\n \"a\": 3}", "t.json:3:2: duplicate key");
	bad("{'a': 1}", "single-quoted");
	bad("{\"a\": 'x'}", "single-quoted");
	bad("{a: 1}", "keys must be double-quoted");
	bad("{\"a\": hello}", "'hello' is not a JSON value");
	bad("{\"a\": yes}", "not a JSON value");
	bad("{\"a\": 1, # c\n \"b\": 2}", "comments are not JSON");
	bad("{\"a\": &x 1, \"b\": *x}", "anchors");
	bad("{\"a\": !!str 1}", "tags");
	bad("\"a\": 1", "block mappings");
	bad("- 1\n- 2", "block sequences");
	bad("[\"a\": 1]", "braces");
	bad("---\n{}", "document markers");
	bad("{}\n...\n", "extra data");
	bad("1\n...\n", "document markers");
	bad("{\"a\": |\n  x\n}", "block scalars");
	bad("[1, 2,]", "trailing comma");
	bad("{\"a\": 1,}", "trailing comma");
	bad("[1,,2]", "expected a value");
	bad("{\"a\":}", "expected a value");
	bad("[1 2]", "'1 2' is not a JSON value");
	bad("[.5]", "not a JSON value");
	bad("[01]", "not a JSON value");
	bad("[+1]", "not a JSON value");
	bad("[0x10]", "not a JSON value");
	bad("[1.]", "not a JSON value");
	bad("[1e]", "not a JSON value");
	bad("[.inf]", "not a JSON value");
	bad("[1e999]", "out of range");
	bad("[\"a\\x41\"]", "invalid escape '\\x'");
	bad("[\"a\\u00\"]", "four hex digits");
	bad("[\"a\\u0000\"]", "\\u0000");
	bad("[\"a\tb\"]", "control character 0x09");
	bad("[\"a\nb\"]", "control character 0x0a");
	bad("[\"abc", "t.json:1:2: unterminated string");
	bad("{\"a\": 1", "invalid JSON");
	bad("{\"a\": 1}}", "extra data after the JSON value");
	bad("{\"a\": 1} {\"b\": 2}", "t.json:1:10: extra data");
	bad("", "empty");
	bad("   \n ", "empty");
	bad("{[1]: 2}", "keys must be double-quoted");
	bad("{\"a\" 1}", "t.json");
	bad("@", "unexpected character '@'");
	bad("[\x01]", "unexpected byte 0x01");
	bad("[\"\xff\"]", "t.json");
}
END_TEST

START_TEST(test_depth)
{
	char deep[200];
	int n = JSON_MAX_DEPTH;

	for (int i = 0; i < n; i++)
		deep[i] = '[';
	for (int i = 0; i < n; i++)
		deep[n + i] = ']';
	deep[2 * n] = 0;
	ck_assert_msg(parse(deep) != NULL, "%s", D.msg);
	memmove(deep + 1, deep, 2 * (size_t)n + 1);
	deep[0] = '[';
	strcat(deep, "]");
	bad(deep, "nesting deeper than 64");

	/* A million '[' are refused before libyaml sees them. */
	size_t big = 1000000;
	char *s = malloc(big + 1);
	memset(s, '[', big);
	s[big] = 0;
	bad(s, "nesting deeper");
	free(s);
}
END_TEST

START_TEST(test_many_keys)
{
	/* Duplicate detection must not be quadratic; the repeat comes last. */
	int n = 50000;
	size_t cap = (size_t)n * 24 + 64, k = 0;
	char *s = malloc(cap);

	k += (size_t)snprintf(s + k, cap - k, "{");
	for (int i = 0; i < n; i++)
		k += (size_t)snprintf(s + k, cap - k, "%s\"k%d\":%d",
		                      i ? "," : "", i, i);
	snprintf(s + k, cap - k, "}");
	JsonValue *v = parse(s);
	ck_assert_msg(v != NULL, "%s", D.msg);
	ck_assert_int_eq(v->n, n);
	snprintf(s + k, cap - k, ",\"k77\":1}");
	bad(s, "duplicate key 'k77'");
	free(s);
}
END_TEST

START_TEST(test_blank_around)
{
	/* JSON allows tabs around the top-level value; YAML took them for
	 * indentation. Positions count a tab as one column. */
	JsonValue *v = parse("\t{}");
	ck_assert_msg(v != NULL, "%s", D.msg);
	ck_assert_int_eq(v->col, 2);
	v = parse("{}\n\t");
	ck_assert_msg(v != NULL, "%s", D.msg);
	v = parse(" \n\t{\"a\":\n\t1}\n\t\n");
	ck_assert_msg(v != NULL, "%s", D.msg);
	ck_assert_int_eq(v->line, 2);
	ck_assert_int_eq(v->col, 2);
	ck_assert_int_eq(json_get(v, "a")->line, 3);
	ck_assert_int_eq(json_get(v, "a")->col, 2);
	bad("\t{} {}\n\t", "t.json:1:5: extra data");
	bad("\t", "empty");
}
END_TEST

/* text[0..n) must fail with `want`; for texts with NUL bytes. */
static void bad_n(const char *text, size_t n, const char *want)
{
	diag_init(&D);
	ck_assert_msg(json_parse(A, text, n, "t.json", &D) == NULL,
	              "accepted: %s", text);
	ck_assert_msg(strstr(D.msg, want) != NULL, "wanted '%s' in: %s",
	              want, D.msg);
}

START_TEST(test_nul_bytes)
{
	/* jansson 2.14 accepts the first two (see json.c's design note). */
	bad_n("6\0", 2, "unexpected byte 0x00");
	bad_n("{\"a\":1\0,\"b\":2}", 14, "t.json:1:7: unexpected byte 0x00");
	bad_n("[1]\0", 4, "extra data");
	bad_n("[\"a\0b\"]", 7, "control character 0x00");
}
END_TEST

static unsigned rnd(unsigned *st)
{
	*st = *st * 1103515245u + 12345u;
	return *st >> 16;
}

START_TEST(test_fuzz)
{
	static const char seed[] =
	    "{\"d_model\": 128, \"n\": [1, 2.5, -3e4, true, null],\n"
	    " \"s\": \"a\\u00e9\\n\", \"o\": {\"x\": {}, \"y\": []}}";
	static const char alphabet[] = "{}[],:\"\\ \n\t'#&*!|>-.0123456789eE"
	                               "truefalsn\x01\xc3\xa9\xff";
	unsigned st = 12345;
	char buf[256];

	for (int it = 0; it < 20000; it++) {
		size_t n = sizeof seed - 1;
		memcpy(buf, seed, n);
		int edits = 1 + (int)(rnd(&st) % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = rnd(&st) % n;
			char c = alphabet[rnd(&st) % (sizeof alphabet - 1)];
			switch (rnd(&st) % 3) {
			case 0:
				buf[at] = c;
				break;
			case 1: /* delete */
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			default: /* insert */
				if (n + 1 < sizeof buf) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = c;
					n++;
				}
			}
		}
		/* Truncate sometimes, to hit every end-of-input path. */
		if (rnd(&st) % 8 == 0)
			n = rnd(&st) % (n + 1);
		diag_init(&D);
		JsonValue *v = json_parse(A, buf, n, "f.json", &D);
		ck_assert((v != NULL) == diag_ok(&D));
		if (!v) {
			ck_assert(strncmp(D.msg, "f.json", 6) == 0);
			ck_assert(strchr(D.msg, '\n') == NULL);
		}
	}
}
END_TEST

START_TEST(test_alloc_failure)
{
	const char *text = "{\"a\": [1, 2, {\"b\": \"c\"}], \"d\": null}";

	for (long k = 1; k < 40; k++) {
		diag_init(&D);
		arena_set_fail_after(k);
		JsonValue *v = json_parse(A, text, strlen(text), "t.json", &D);
		arena_set_fail_after(0);
		if (v) {
			ck_assert(diag_ok(&D));
			continue;
		}
		ck_assert_msg(strstr(D.msg, "out of memory") != NULL, "%s",
		              D.msg);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_scalars_and_compact);
	tcase_add_test(tc, test_rejects_yaml);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_many_keys);
	tcase_add_test(tc, test_blank_around);
	tcase_add_test(tc, test_nul_bytes);
	tcase_add_test(tc, test_fuzz);
	tcase_add_test(tc, test_alloc_failure);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
