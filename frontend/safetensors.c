/*
 * safetensors.c - st_open/st_close: validate a safetensors file as the
 * format's reference implementation does, then map it read-only.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON header, then
 * the data section. The header is an object of tensor name -> {dtype,
 * shape, data_offsets} plus an optional "__metadata__" of string -> string.
 * The tensors must tile the data section exactly: sorted by offset, the
 * first begins at 0, each begins where the previous ends, the last ends at
 * the end of the file, and each holds numel * sizeof(dtype) bytes.
 *
 * hyenac reads only F32, and hands out float pointers into the map, so
 * every tensor's data must sit on a 4-byte boundary of the file (the map is
 * page aligned). Errors name the file and the byte offset or tensor; the
 * header's JSON errors name the header's line:column.
 *
 * What it does not do: check names or shapes against a model
 * (frontend/weights.c does), or copy data.
 */
#include "frontend.h"
#include "json.h"
#include "limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation's bound on the header; the JSON bounds
 * (read_header). */
enum {
	MAX_HEADER = 100000000,
	MAX_LIST = 8,
	HEADER_FACTOR = 16,
	HEADER_SLACK = 1 << 20,
};

/* Every dtype the format knows; hyenac reads only F32 of them. */
static const char *const dtypes[] = {
	"BOOL", "U8",  "I8",  "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",
	"F6_E2M3", "F6_E3M2", "I16", "U16", "F16", "BF16", "I32", "U32",
	"F32", "I64", "U64", "F64", "C64",
};

typedef struct Entry {
	const char *name;
	size_t begin, end;
	int rank;
	int64_t dim[IR_MAX_RANK];
} Entry;

static bool known_dtype(const char *s)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (strcmp(dtypes[i], s) == 0)
			return true;
	return false;
}

/* "[16, 128]" into buf. */
static const char *shape_str(const Entry *e, char *buf, size_t n)
{
	size_t k = 0;

	k += (size_t)snprintf(buf, n, "[");
	for (int i = 0; i < e->rank && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "",
		                      (long long)e->dim[i]);
	if (k < n)
		snprintf(buf + k, n - k, "]");
	return buf;
}

static bool check_metadata(const char *path, const JsonValue *v, Diag *d)
{
	char got[64];

	if (v->kind != JSON_OBJECT) {
		diag_error(d, "%s: '__metadata__' must be an object of "
		              "strings, got %s",
		           path, json_describe(v, got, sizeof got));
		return false;
	}
	for (int i = 0; i < v->n; i++) {
		if (v->members[i].value->kind != JSON_STRING) {
			diag_error(d, "%s: '__metadata__' entry '%s' must be a "
			              "string, got %s",
			           path, v->members[i].key,
			           json_describe(v->members[i].value, got,
			                         sizeof got));
			return false;
		}
	}
	return true;
}

/* A non-negative integer that fits size_t (and int64_t). */
static bool size_value(const JsonValue *v, size_t *out)
{
	int64_t i;
	if (!json_int(v, &i) || i < 0)
		return false;
	*out = (size_t)i;
	return true;
}

/* Check one tensor entry's fields and fill e; `data_size` is the data
 * section's length and `data_start` its offset in the file. */
static bool read_entry(const char *path, const JsonMember *m, size_t data_start,
                       size_t data_size, Entry *e, Diag *d)
{
	const JsonValue *v = m->value, *dt, *shape, *offs;
	const char *name = m->key, *dtype;
	char got[64], sbuf[128];
	size_t numel = 1, bytes;

	e->name = name;
	if (v->kind != JSON_OBJECT) {
		diag_error(d, "%s: tensor '%s': expected an object with dtype, "
		              "shape and data_offsets, got %s",
		           path, name, json_describe(v, got, sizeof got));
		return false;
	}
	for (int i = 0; i < v->n; i++) {
		const char *k = v->members[i].key;
		if (strcmp(k, "dtype") && strcmp(k, "shape") &&
		    strcmp(k, "data_offsets")) {
			diag_error(d, "%s: tensor '%s': unknown field '%s'",
			           path, name, k);
			return false;
		}
	}
	dt = json_get(v, "dtype");
	shape = json_get(v, "shape");
	offs = json_get(v, "data_offsets");
	if (!dt || !shape || !offs) {
		diag_error(d, "%s: tensor '%s': missing '%s'", path, name,
		           !dt ? "dtype" : !shape ? "shape" : "data_offsets");
		return false;
	}
	dtype = json_string(dt);
	if (!dtype) {
		diag_error(d, "%s: tensor '%s': dtype must be a string, got %s",
		           path, name, json_describe(dt, got, sizeof got));
		return false;
	}
	if (!known_dtype(dtype)) {
		diag_error(d, "%s: tensor '%s': unknown dtype '%.40s'", path,
		           name, dtype);
		return false;
	}
	if (strcmp(dtype, "F32") != 0) {
		diag_error(d, "%s: tensor '%s': dtype %s is not supported; "
		              "hyenac reads F32 checkpoints",
		           path, name, dtype);
		return false;
	}
	if (shape->kind != JSON_ARRAY) {
		diag_error(d, "%s: tensor '%s': shape must be a list of "
		              "integers, got %s",
		           path, name, json_describe(shape, got, sizeof got));
		return false;
	}
	if (shape->n > IR_MAX_RANK) {
		diag_error(d, "%s: tensor '%s': shape has %d dims; hyenac "
		              "supports at most %d",
		           path, name, shape->n, IR_MAX_RANK);
		return false;
	}
	e->rank = shape->n;
	for (int i = 0; i < shape->n; i++) {
		size_t dim;
		if (!size_value(shape->items[i], &dim)) {
			diag_error(d, "%s: tensor '%s': shape[%d] must be a "
			              "non-negative integer, got %s",
			           path, name, i,
			           json_describe(shape->items[i], got,
			                         sizeof got));
			return false;
		}
		e->dim[i] = (int64_t)dim;
	}
	for (int i = 0; i < e->rank; i++) {
		if (!hy_mul_size(numel, (size_t)e->dim[i], &numel)) {
			diag_error(d, "%s: tensor '%s': shape %s has too many "
			              "elements",
			           path, name, shape_str(e, sbuf, sizeof sbuf));
			return false;
		}
	}
	if (!hy_mul_size(numel, sizeof(float), &bytes)) {
		diag_error(d, "%s: tensor '%s': shape %s has too many elements",
		           path, name, shape_str(e, sbuf, sizeof sbuf));
		return false;
	}
	if (offs->kind != JSON_ARRAY || offs->n != 2 ||
	    !size_value(offs->items[0], &e->begin) ||
	    !size_value(offs->items[1], &e->end)) {
		diag_error(d, "%s: tensor '%s': data_offsets must be [begin, "
		              "end], two non-negative integers",
		           path, name);
		return false;
	}
	if (e->end < e->begin) {
		diag_error(d, "%s: tensor '%s': data_offsets [%zu, %zu] end "
		              "before they begin",
		           path, name, e->begin, e->end);
		return false;
	}
	if (e->end - e->begin != bytes) {
		diag_error(d, "%s: tensor '%s': data_offsets [%zu, %zu] hold "
		              "%zu bytes but shape %s of F32 needs %zu",
		           path, name, e->begin, e->end, e->end - e->begin,
		           shape_str(e, sbuf, sizeof sbuf), bytes);
		return false;
	}
	if (e->end > data_size) {
		diag_error(d, "%s: tensor '%s': data_offsets [%zu, %zu] run "
		              "past the end of the file (the data section "
		              "holds %zu bytes)",
		           path, name, e->begin, e->end, data_size);
		return false;
	}
	if ((data_start + e->begin) % sizeof(float) != 0) {
		diag_error(d, "%s: tensor '%s': data at byte offset %zu is not "
		              "4-byte aligned",
		           path, name, data_start + e->begin);
		return false;
	}
	return true;
}

static int entry_cmp(const void *x, const void *y)
{
	const Entry *a = x, *b = y;
	if (a->begin != b->begin)
		return (a->begin > b->begin) - (a->begin < b->begin);
	return (a->end > b->end) - (a->end < b->end);
}

/* The tensors, sorted by offset, must tile [0, data_size) exactly. */
static bool check_tiling(const char *path, Entry *e, int n, size_t data_start,
                         size_t data_size, Diag *d)
{
	size_t at = 0;
	const char *prev = NULL;

	qsort(e, (size_t)n, sizeof *e, entry_cmp);
	for (int i = 0; i < n; i++) {
		if (e[i].begin < at) {
			diag_error(d, "%s: tensors '%s' and '%s' overlap: "
			              "'%s' begins at data offset %zu, before "
			              "'%s' ends at %zu",
			           path, prev, e[i].name, e[i].name,
			           e[i].begin, prev, at);
			return false;
		}
		if (e[i].begin > at) {
			size_t gap = e[i].begin - at;
			if (prev)
				diag_error(d, "%s: %zu unused bytes at byte "
				              "offset %zu, between tensors "
				              "'%s' and '%s'",
				           path, gap, data_start + at, prev,
				           e[i].name);
			else
				diag_error(d, "%s: %zu unused bytes at byte "
				              "offset %zu, before the first "
				              "tensor '%s'",
				           path, gap, data_start, e[i].name);
			return false;
		}
		at = e[i].end;
		prev = e[i].name;
	}
	if (at != data_size) {
		diag_error(d, "%s: %zu unused bytes at byte offset %zu, after "
		              "the last tensor%s%s%s",
		           path, data_size - at, data_start + at,
		           prev ? " '" : "", prev ? prev : "", prev ? "'" : "");
		return false;
	}
	return true;
}

static void *map_file(const char *path, size_t *size, Diag *d)
{
	struct stat sb;
	void *map;
	const char *why;
	int fd = hy_open_regular(path, &sb, &why);

	if (fd < 0) {
		diag_error(d, "%s: cannot open: %s", path, why);
		return NULL;
	}
	if (sb.st_size < 8) {
		diag_error(d, "%s: %s; a safetensors file starts with an "
		              "8-byte header length",
		           path,
		           sb.st_size == 0 ? "file is empty"
		                           : "file is shorter than 8 bytes");
		close(fd);
		return NULL;
	}
	if ((uint64_t)sb.st_size > SIZE_MAX) {
		diag_error(d, "%s: file is too large to map", path);
		close(fd);
		return NULL;
	}
	*size = (size_t)sb.st_size;
	map = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		diag_error(d, "%s: cannot map: %s", path, strerror(errno));
		return NULL;
	}
	return map;
}

/* The header's JSON, held within bounds: no list in a safetensors header
 * is longer than a shape, and hyenac takes shapes of at most IR_MAX_RANK
 * dims, so an array of more than MAX_LIST items is refused where it
 * starts, naming its tensor; and the DOM may take at most HEADER_FACTOR
 * bytes per header byte (a real header needs about a third of that) and
 * never more than the memory limit (HYENAC_MEMORY_LIMIT, or the
 * machine's memory). So a 100 MB header of junk is refused in bounded
 * memory, not after growing to many gigabytes. */
static const JsonValue *read_header(Arena *a, const SafeTensors *st,
                                    size_t hlen, Diag *d)
{
	size_t by_len = HEADER_FACTOR * hlen + HEADER_SLACK;
	int64_t limit = fe_memory_limit();
	JsonLimits lim = {
	    .max_bytes = by_len,
	    .bytes_why = arena_printf(a, "the most a header of %zu bytes may "
	                                 "take",
	                              hlen),
	    .max_items = MAX_LIST,
	    .items_why = arena_printf(a, "no list in a safetensors header "
	                                 "needs that many (hyenac reads "
	                                 "tensors of rank %d at most)",
	                              IR_MAX_RANK),
	};

	if (limit > 0 && (uint64_t)limit < by_len) {
		lim.max_bytes = (size_t)limit;
		lim.bytes_why = arena_printf(a, "the memory limit (%s)",
		                             getenv("HYENAC_MEMORY_LIMIT")
		                                 ? "HYENAC_MEMORY_LIMIT"
		                                 : "the machine's memory");
	}
	return json_parse_limited(a, (const char *)st->map + 8, hlen,
	                          arena_printf(a, "%s: header", st->path),
	                          &lim, d);
}

/* Everything after the map is made; false leaves the unmapping to the
 * caller. */
static bool parse(Arena *a, SafeTensors *st, Diag *d)
{
	const unsigned char *b = st->map;
	const char *path = st->path;
	const JsonValue *h;
	char got[64];
	uint64_t hlen = 0;
	size_t data_start, data_size;
	Entry *e;
	int n = 0;

	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | b[i];
	if (hlen > MAX_HEADER) {
		diag_error(d, "%s: header length %llu at byte offset 0 exceeds "
		              "the limit of %d bytes",
		           path, (unsigned long long)hlen, MAX_HEADER);
		return false;
	}
	if (hlen > st->map_size - 8) {
		diag_error(d, "%s: header length %llu at byte offset 0 runs "
		              "past the end of the file (%zu bytes)",
		           path, (unsigned long long)hlen, st->map_size);
		return false;
	}
	data_start = 8 + (size_t)hlen;
	data_size = st->map_size - data_start;
	h = read_header(a, st, (size_t)hlen, d);
	if (!h)
		return false;
	if (h->kind != JSON_OBJECT) {
		diag_error(d, "%s: header must be a JSON object, got %s", path,
		           json_describe(h, got, sizeof got));
		return false;
	}
	e = arena_try_alloc(a, (size_t)(h->n ? h->n : 1) * sizeof *e);
	if (!e) {
		diag_error(d, "%s: out of memory reading the header", path);
		return false;
	}
	for (int i = 0; i < h->n; i++) {
		const JsonMember *m = &h->members[i];
		if (strcmp(m->key, "__metadata__") == 0) {
			if (!check_metadata(path, m->value, d))
				return false;
			continue;
		}
		if (!read_entry(path, m, data_start, data_size, &e[n], d))
			return false;
		n++;
	}
	st->t = arena_try_alloc(a, (size_t)(n ? n : 1) * sizeof *st->t);
	if (!st->t) {
		diag_error(d, "%s: out of memory reading the header", path);
		return false;
	}
	/* Fill in file order before check_tiling sorts the entries. */
	for (int i = 0; i < n; i++) {
		Tensor *t = &st->t[i];
		t->name = e[i].name;
		t->type.dtype = DT_F32;
		t->type.rank = e[i].rank;
		memcpy(t->type.dim, e[i].dim, sizeof t->type.dim);
		t->data = (const float *)(b + data_start + e[i].begin);
	}
	st->n = n;
	return check_tiling(path, e, n, data_start, data_size, d);
}

SafeTensors *st_open(Arena *a, const char *path, Diag *d)
{
	SafeTensors *st = arena_alloc(a, sizeof *st);

	st->path = arena_strdup(a, path);
	st->map = map_file(path, &st->map_size, d);
	if (!st->map)
		return NULL;
	if (!parse(a, st, d)) {
		st_close(st);
		return NULL;
	}
	return st;
}

void st_close(SafeTensors *st)
{
	if (!st || !st->map)
		return;
	munmap(st->map, st->map_size);
	st->map = NULL;
	st->t = NULL;
	st->n = 0;
}
