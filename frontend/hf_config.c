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
	"initializer_range", "pad_token_id", "bos_token_id", "eos_token_id",
	"sep_token_id", "use_head", "n_classes", "id2label", "label2id",
	"problem_type", "return_dict", "output_hidden_states",
	"output_attentions", "use_cache",
};

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
	ok = apply(root, s, path, d);
	return ok && fe_spec_check(s, path, d);
}
