/*
 * model.c - fe_load_model: one entry for both doors. A directory is an HF
 * checkpoint (config.json + model.safetensors); a file is a YAML
 * description whose weights are a safetensors path or a seed; a seeded
 * model whose weights exceed the memory limit is refused (limits.h).
 */
#include "frontend.h"
#include "limits.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const char *join(Arena *a, const char *dir, const char *name)
{
	size_t n = strlen(dir);
	return arena_printf(a, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/",
	                    name);
}

Model *fe_load_model(Arena *a, const char *path, Diag *d)
{
	Model *m = arena_alloc(a, sizeof *m);
	WeightSource src = {0};
	struct stat sb;

	m->path = arena_strdup(a, path);
	if (stat(path, &sb) != 0) {
		diag_error(d, "%s: cannot open model: %s", path, strerror(errno));
		return NULL;
	}
	if (S_ISDIR(sb.st_mode)) {
		if (!fe_hf_config_load(a, join(a, path, "config.json"), &m->spec, d))
			return NULL;
		src.safetensors = join(a, path, "model.safetensors");
	} else if (!fe_yaml_load(a, path, &m->spec, &src, d)) {
		return NULL;
	}
	m->seed = src.seed;
	if (src.safetensors) {
		m->weights_path = src.safetensors;
		m->st = st_open(a, src.safetensors, d);
		if (!m->st)
			return NULL;
		if (!fe_bind_safetensors(m, a, m->st, d)) {
			fe_model_close(m);
			return NULL;
		}
	} else if (!fe_check_weight_memory(&m->spec, path, d) ||
	           !fe_init_random(m, a, src.seed, d)) {
		/* refused before allocating weights that cannot fit */
		return NULL;
	}
	return m;
}

void fe_model_close(Model *m)
{
	if (m && m->st) {
		st_close(m->st);
		m->st = NULL;
	}
}
