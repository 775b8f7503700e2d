/*
 * hf_config.c - fe_hf_config_load: the config.json of a HuggingFace
 * HyenaDNA checkpoint (HyenaConfig, LongSafari/hyenadna-*-hf) into a
 * ModelSpec.
 *
 * A key the file leaves out takes HyenaConfig's default, as transformers
 * would give it (d_model 256, n_layer 12, emb_dim 3, ...; d_inner absent or
 * null is 4 * d_model); what config.json cannot say (decay rates, the
 * modulation shift) keeps fe_spec_defaults(). Keys transformers adds or
 * that do not change the forward pass (dropouts, init range, token ids)
 * are accepted and ignored; any other key is an error with a suggestion,
 * so a misspelt hyperparameter never silently falls back to its default.
 *
 * Range checks here are only what needs the key's line:column (types,
 * signs, sizes that would overflow); fe_spec_check() judges the whole.
 *
 * A fine-tuned classifier (`architectures` naming
 * HyenaDNAForSequenceClassification) has no lm_head but a score head:
 * num_labels, the label names of id2label in id order (ids 0..n-1 each
 * once, names unique and printable, since they head the columns of a
 * TSV), label2id when given agreeing with them, and pad_token_id, the
 * token before which a row's logits are read. Other checkpoints may
 * carry those keys too (transformers writes id2label for every model):
 * there they are ignored.
 */
#include "frontend.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_CONFIG = 16 << 20 };

typedef enum { K_INT, K_NUM } FieldKind;

/* The keys that set a ModelSpec field. HF default from HyenaConfig. */
static const struct Field {
	const char *key;
	FieldKind kind;
	size_t off;
	int64_t min;       /* K_INT */
	double hf_default; /* < 0: none (d_inner) */
} fields[] = {
	{"d_model", K_INT, offsetof(ModelSpec, d_model), 1, 256},
	{"d_inner", K_INT, offsetof(ModelSpec, d_inner), 1, -1},
	{"n_layer", K_INT, offsetof(ModelSpec, n_layer), 1, 12},
	{"max_seq_len", K_INT, offsetof(ModelSpec, max_seq_len), 1, 1024},
	{"emb_dim", K_INT, offsetof(ModelSpec, emb_dim), 1, 3},
	{"filter_order", K_INT, offsetof(ModelSpec, filter_order), 1, 64},
	{"hyena_order", K_INT, offsetof(ModelSpec, order), 2, 2},
	{"short_filter_order", K_INT, offsetof(ModelSpec, short_filter), 1, 3},
	{"num_inner_mlps", K_INT, offsetof(ModelSpec, num_inner_mlps), 0, 2},
	{"activation_freq", K_NUM, offsetof(ModelSpec, sin_freq), 0, 1},
	{"vocab_size", K_INT, offsetof(ModelSpec, vocab_size), 1, 12},
	{"pad_vocab_size_multiple", K_INT,
	 offsetof(ModelSpec, pad_vocab_multiple), 1, 8},
	{"layer_norm_epsilon", K_NUM, offsetof(ModelSpec, norm_eps), 0, 1e-5},
};

enum { NFIELDS = sizeof fields / sizeof fields[0] };

/* Known keys that do not change what hyenac computes. */
static const char *const ignored[] = {
	"architectures", "auto_map", "transformers_version", "torch_dtype",
	"_name_or_path", "train_freq", "use_bias", "embed_dropout",
	"hyena_dropout", "hyena_filter_dropout", "resid_dropout",
	"initializer_range", "bos_token_id", "eos_token_id",
	"sep_token_id", "use_head", "n_classes", "problem_type",
	"return_dict", "output_hidden_states", "output_attentions",
	"use_cache", "finetuning_task",
};

/* A classifier's keys, read by classifier() once the rest is set (an
 * LM checkpoint may carry them; it ignores them). */
static const char *const cls_keys[] = {"architectures", "num_labels",
                                       "id2label", "label2id",
                                       "pad_token_id"};

/* Checked by hand below. */
static const char *const special[] = {"model_type", "tie_word_embeddings"};

#define COUNT(x) (sizeof(x) / sizeof((x)[0]))

static char *read_file(const char *path, size_t *len, Diag *d)
{
	struct stat sb;
	char *buf;
	size_t got = 0;
	const char *why;
	int fd = hy_open_regular(path, &sb, &why);

	if (fd < 0) {
		diag_error(d, "%s: cannot open: %s", path, why);
		return NULL;
	}
	if (sb.st_size > MAX_CONFIG) {
		diag_error(d, "%s: %lld bytes is too large for a config.json",
		           path, (long long)sb.st_size);
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		diag_error(d, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)sb.st_size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			diag_error(d, "%s: cannot read: %s", path,
			           k < 0 ? strerror(errno) : "file shrank");
			free(buf);
			close(fd);
			return NULL;
		}
		got += (size_t)k;
	}
	close(fd);
	buf[got] = 0;
	*len = got;
	return buf;
}

/* The name of the directory holding config.json. */
static const char *dir_name(Arena *a, const char *path)
{
	char *full = realpath(path, NULL);
	const char *name = "model";

	if (full) {
		char *slash = strrchr(full, '/');
		if (slash && slash != full) {
			*slash = 0;
			slash = strrchr(full, '/');
			if (slash && slash[1]) {
				/* printed as model=NAME: no control characters */
				char *n = arena_strdup(a, slash + 1);
				hy_blank_controls(n);
				name = n;
			}
		}
		free(full);
	}
	return name;
}

static bool is_known(const char *key)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (!strcmp(fields[i].key, key))
			return true;
	for (size_t i = 0; i < COUNT(ignored); i++)
		if (!strcmp(ignored[i], key))
			return true;
	for (size_t i = 0; i < COUNT(special); i++)
		if (!strcmp(special[i], key))
			return true;
	for (size_t i = 0; i < COUNT(cls_keys); i++)
		if (!strcmp(cls_keys[i], key))
			return true;
	return false;
}

static const char *suggest(const char *key)
{
	const char *best = NULL;
	int bestd = 1 << 30;

#define TRY(k)                                          \
	do {                                            \
		int dist = hy_edit_distance(key, (k));  \
		if (dist < bestd) {                     \
			bestd = dist;                   \
			best = (k);                     \
		}                                       \
	} while (0)
	for (size_t i = 0; i < NFIELDS; i++)
		TRY(fields[i].key);
	for (size_t i = 0; i < COUNT(ignored); i++)
		TRY(ignored[i]);
	for (size_t i = 0; i < COUNT(special); i++)
		TRY(special[i]);
	for (size_t i = 0; i < COUNT(cls_keys); i++)
		TRY(cls_keys[i]);
#undef TRY
	if (bestd <= 2 || (size_t)bestd * 3 <= strlen(key))
		return best;
	return NULL;
}

static bool set_field(const struct Field *f, const JsonMember *m,
                      ModelSpec *s, const char *path, Diag *d)
{
	const JsonValue *v = m->value;
	char got[64];

	if (f->kind == K_NUM) {
		double x;
		if (!json_number(v, &x)) {
			diag_at(d, path, v->line, v->col,
			        "'%s' must be a number, got %s", f->key,
			        json_describe(v, got, sizeof got));
			return false;
		}
		if (f->off == offsetof(ModelSpec, norm_eps) && !(x > 0)) {
			diag_at(d, path, v->line, v->col,
			        "'%s' must be positive, got %s", f->key,
			        v->text);
			return false;
		}
		*(double *)((char *)s + f->off) = x;
		return true;
	}
	if (v->kind != JSON_NUMBER || !v->is_int) {
		diag_at(d, path, v->line, v->col,
		        "'%s' must be an integer, got %s", f->key,
		        json_describe(v, got, sizeof got));
		return false;
	}
	if (v->i < f->min) {
		diag_at(d, path, v->line, v->col,
		        "'%s' must be at least %lld, got %lld", f->key,
		        (long long)f->min, (long long)v->i);
		return false;
	}
	if (v->i > INT32_MAX) {
		diag_at(d, path, v->line, v->col,
		        "'%s' is %lld, more than hyenac supports (%d)", f->key,
		        (long long)v->i, INT32_MAX);
		return false;
	}
	*(int64_t *)((char *)s + f->off) = v->i;
	return true;
}

static bool check_special(const JsonMember *m, const char *path, Diag *d)
{
	const JsonValue *v = m->value;
	char got[64];

	if (!strcmp(m->key, "model_type")) {
		const char *t = json_string(v);
		if (!t || strcmp(t, "hyenadna") != 0) {
			diag_at(d, path, v->line, v->col,
			        "model_type is %s; hyenac reads \"hyenadna\" "
			        "checkpoints",
			        json_describe(v, got, sizeof got));
			return false;
		}
		return true;
	}
	/* tie_word_embeddings */
	if (v->kind != JSON_BOOL) {
		diag_at(d, path, v->line, v->col,
		        "'tie_word_embeddings' must be true or false, got %s",
		        json_describe(v, got, sizeof got));
		return false;
	}
	if (v->b) {
		diag_at(d, path, v->line, v->col,
		        "tie_word_embeddings true is not supported; hyenac "
		        "needs lm_head.weight stored on its own");
		return false;
	}
	return true;
}

static bool apply(const JsonValue *root, ModelSpec *s, const char *path,
                  Diag *d)
{
	bool d_inner_set = false;

	/* HyenaConfig's defaults for the keys a file may leave out. */
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct Field *f = &fields[i];
		if (f->hf_default < 0)
			continue;
		if (f->kind == K_NUM)
			*(double *)((char *)s + f->off) = f->hf_default;
		else
			*(int64_t *)((char *)s + f->off) =
			    (int64_t)f->hf_default;
	}
	for (int i = 0; i < root->n; i++) {
		const JsonMember *m = &root->members[i];
		const struct Field *f = NULL;

		for (size_t j = 0; j < NFIELDS; j++)
			if (!strcmp(fields[j].key, m->key))
				f = &fields[j];
		if (f && f->off == offsetof(ModelSpec, d_inner) &&
		    m->value->kind == JSON_NULL)
			continue;
		if (f) {
			if (!set_field(f, m, s, path, d))
				return false;
			if (f->off == offsetof(ModelSpec, d_inner))
				d_inner_set = true;
			continue;
		}
		if (!strcmp(m->key, "model_type") ||
		    !strcmp(m->key, "tie_word_embeddings")) {
			if (!check_special(m, path, d))
				return false;
			continue;
		}
		if (!is_known(m->key)) {
			const char *hint = suggest(m->key);
			if (hint)
				diag_at(d, path, m->line, m->col,
				        "unknown key '%s' (did you mean "
				        "'%s'?)",
				        m->key, hint);
			else
				diag_at(d, path, m->line, m->col,
				        "unknown key '%s'", m->key);
			return false;
		}
	}
	if (!d_inner_set)
		s->d_inner = 4 * s->d_model; /* d_model <= INT32_MAX */
	return true;
}

enum { LABELS_MAX = 1 << 16, LABEL_LEN_MAX = 256 };

static const char CLS_ARCH[] = "HyenaDNAForSequenceClassification";

/* Whether `architectures` (absent, or an array of strings) names the
 * sequence classifier. */
static bool names_classifier(const JsonValue *root, const char *path,
                             bool *cls, Diag *d)
{
	const JsonValue *v = json_get(root, "architectures");
	char got[64];

	*cls = false;
	if (!v)
		return true;
	if (v->kind != JSON_ARRAY) {
		diag_at(d, path, v->line, v->col,
		        "'architectures' must be an array of strings, got %s",
		        json_describe(v, got, sizeof got));
		return false;
	}
	for (int i = 0; i < v->n; i++) {
		const char *a = json_string(json_at(v, i));
		if (!a) {
			diag_at(d, path, v->items[i]->line, v->items[i]->col,
			        "'architectures' must be an array of strings, "
			        "got %s",
			        json_describe(v->items[i], got, sizeof got));
			return false;
		}
		*cls |= strcmp(a, CLS_ARCH) == 0;
	}
	return true;
}

/* A label name: 1 to LABEL_LEN_MAX bytes, no control characters (the
 * names head TSV columns and print in `info`). */
static const char *label_problem(const JsonValue *v)
{
	if (v->kind != JSON_STRING)
		return "must be a string";
	if (v->len == 0)
		return "is empty";
	if (v->len > LABEL_LEN_MAX)
		return "is longer than 256 bytes";
	for (size_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->text[i];
		if (ch < 0x20 || ch == 0x7f)
			return "has a control character (tab, newline, ...)";
	}
	return NULL;
}

/* id2label's key as an id in [0, n), or -1: decimal, no sign, no
 * leading zero. */
static int64_t label_id(const char *key, int64_t n)
{
	int64_t id = 0;

	if (!key[0] || (key[0] == '0' && key[1]))
		return -1;
	for (const char *p = key; *p; p++) {
		if (*p < '0' || *p > '9' || id >= n)
			return -1;
		id = id * 10 + (*p - '0');
	}
	return id < n ? id : -1;
}

/* id2label into s->labels (s->num_labels set), one name per id. */
static bool read_id2label(Arena *a, const JsonValue *v, ModelSpec *s,
                          const char *path, Diag *d)
{
	int64_t n = s->num_labels;
	const char **names = arena_alloc(a, (size_t)n * sizeof *names);
	char got[64];

	if (v->kind != JSON_OBJECT) {
		diag_at(d, path, v->line, v->col,
		        "'id2label' must be an object, got %s",
		        json_describe(v, got, sizeof got));
		return false;
	}
	for (int i = 0; i < v->n; i++) {
		const JsonMember *m = &v->members[i];
		int64_t id = label_id(m->key, n);
		const char *why = label_problem(m->value);
		if (id < 0) {
			diag_at(d, path, m->line, m->col,
			        "id2label: '%s' is not a label id 0..%lld "
			        "(num_labels is %lld)",
			        m->key, (long long)(n - 1), (long long)n);
			return false;
		}
		if (names[id]) {
			diag_at(d, path, m->line, m->col,
			        "id2label: id %lld is given twice", (long long)id);
			return false;
		}
		if (why) {
			diag_at(d, path, m->value->line, m->value->col,
			        "id2label: the label of id %lld %s",
			        (long long)id, why);
			return false;
		}
		for (int64_t j = 0; j < n; j++)
			if (names[j] && strcmp(names[j], m->value->text) == 0) {
				diag_at(d, path, m->value->line,
				        m->value->col,
				        "id2label: label '%s' names both id "
				        "%lld and id %lld",
				        m->value->text, (long long)j,
				        (long long)id);
				return false;
			}
		names[id] = m->value->text;
	}
	for (int64_t j = 0; j < n; j++)
		if (!names[j]) {
			diag_at(d, path, v->line, v->col,
			        "id2label has no label for id %lld (num_labels "
			        "is %lld)",
			        (long long)j, (long long)n);
			return false;
		}
	s->labels = names;
	return true;
}

/* label2id, when given, says the same as id2label. */
static bool check_label2id(const JsonValue *v, const ModelSpec *s,
                           const char *path, Diag *d)
{
	char got[64];

	if (v->kind != JSON_OBJECT) {
		diag_at(d, path, v->line, v->col,
		        "'label2id' must be an object, got %s",
		        json_describe(v, got, sizeof got));
		return false;
	}
	for (int i = 0; i < v->n; i++) {
		const JsonMember *m = &v->members[i];
		int64_t id = -1, want = -1;
		for (int64_t j = 0; j < s->num_labels; j++)
			if (strcmp(s->labels[j], m->key) == 0)
				want = j;
		if (want < 0) {
			diag_at(d, path, m->line, m->col,
			        "label2id: '%s' is no label of id2label",
			        m->key);
			return false;
		}
		if (!json_int(m->value, &id) || id != want) {
			diag_at(d, path, m->value->line, m->value->col,
			        "label2id: '%s' must be %lld as in id2label, "
			        "got %s",
			        m->key, (long long)want,
			        json_describe(m->value, got, sizeof got));
			return false;
		}
	}
	if (v->n != s->num_labels) {
		diag_at(d, path, v->line, v->col,
		        "label2id has %d labels, id2label %lld", v->n,
		        (long long)s->num_labels);
		return false;
	}
	return true;
}

/* The classifier's head: num_labels, labels, pad id; lm_head off. */
static bool classifier(Arena *a, const JsonValue *root, ModelSpec *s,
                       const char *path, Diag *d)
{
	const JsonValue *n = json_get(root, "num_labels");
	const JsonValue *i2l = json_get(root, "id2label");
	const JsonValue *l2i = json_get(root, "label2id");
	const JsonValue *pad = json_get(root, "pad_token_id");
	char got[64];

	s->lm_head = false;
	s->num_labels = 2; /* transformers' default */
	if (i2l && i2l->kind == JSON_OBJECT)
		s->num_labels = i2l->n;
	if (n) {
		if (n->kind != JSON_NUMBER || !n->is_int || n->i < 1 ||
		    n->i > LABELS_MAX) {
			diag_at(d, path, n->line, n->col,
			        "'num_labels' must be an integer from 1 to %d, "
			        "got %s",
			        LABELS_MAX, json_describe(n, got, sizeof got));
			return false;
		}
		s->num_labels = n->i;
	}
	if (s->num_labels < 1 || s->num_labels > LABELS_MAX) {
		diag_at(d, path, i2l->line, i2l->col,
		        "'id2label' must name 1 to %d labels, not %lld",
		        LABELS_MAX, (long long)s->num_labels);
		return false;
	}
	if (i2l) {
		if (!read_id2label(a, i2l, s, path, d))
			return false;
	} else {
		/* transformers' names when a config gives none */
		s->labels = arena_alloc(a, (size_t)s->num_labels *
		                               sizeof *s->labels);
		for (int64_t j = 0; j < s->num_labels; j++)
			s->labels[j] = arena_printf(a, "LABEL_%lld",
			                            (long long)j);
	}
	if (l2i && !check_label2id(l2i, s, path, d))
		return false;
	if (!pad || pad->kind == JSON_NULL) {
		diag_at(d, path, root->line, root->col,
		        "a %s needs 'pad_token_id' (its logits are read before "
		        "a row's first pad)",
		        CLS_ARCH);
		return false;
	}
	if (pad->kind != JSON_NUMBER || !pad->is_int || pad->i < 0 ||
	    pad->i >= s->vocab_size) {
		diag_at(d, path, pad->line, pad->col,
		        "'pad_token_id' must be a token id below vocab_size "
		        "%lld, got %s",
		        (long long)s->vocab_size,
		        json_describe(pad, got, sizeof got));
		return false;
	}
	s->pad_id = pad->i;
	return true;
}

bool fe_hf_config_load(Arena *a, const char *path, ModelSpec *s, Diag *d)
{
	const JsonValue *root;
	size_t len = 0;
	char *text = read_file(path, &len, d);
	bool ok;

	if (!text)
		return false;
	root = json_parse(a, text, len, path, d);
	free(text);
	if (!root)
		return false;
	if (root->kind != JSON_OBJECT) {
		diag_at(d, path, root->line, root->col,
		        "config.json must be a JSON object, got %s %s",
		        root->kind == JSON_ARRAY ? "an" : "a",
		        json_kind_name(root->kind));
		return false;
	}
	fe_spec_defaults(s);
	s->name = dir_name(a, path);
	s->lm_head = true;
	s->mlp_act = ACT_GELU_TANH;
	bool cls = false;
	ok = apply(root, s, path, d) && names_classifier(root, path, &cls, d) &&
	     (!cls || classifier(a, root, s, path, d));
	return ok && fe_spec_check(s, path, d);
}
