/*
 * frontend.h - the two doors into one model: the project's YAML description
 * (models/NAME.yaml) and a HuggingFace HyenaDNA checkpoint directory
 * (config.json + model.safetensors). Both fill a ModelSpec; weights come
 * from a validated, mmapped safetensors file or from a seeded HyenaDNA-style
 * initialisation. fe_lower() turns a loaded Model into IR.
 *
 * Weight names are the HF ones everywhere ("hyena.backbone.layers.0.mixer.
 * in_proj.weight", "lm_head.weight"); fe_expected_weights() is the single
 * list of names and shapes a spec implies, used to check checkpoints, to
 * initialise at random and to lower.
 */
#ifndef HYENAC_FRONTEND_H
#define HYENAC_FRONTEND_H

#include "../ir/ir.h"

typedef enum { ACT_GELU_TANH, ACT_GELU, ACT_RELU, ACT_COUNT } Activation;

const char *fe_activation_name(Activation a);

typedef struct ModelSpec {
	const char *name;
	int64_t d_model;      /* width of the residual stream */
	int64_t n_layer;
	int64_t d_inner;      /* MLP hidden width */
	Activation mlp_act;
	int64_t order;        /* Hyena order, >= 2 */
	int64_t short_filter; /* short depthwise conv length, >= 1 */
	/* implicit filter */
	int64_t emb_dim;      /* positional features, odd, >= 3 */
	int64_t filter_order; /* filter MLP width */
	int64_t num_inner_mlps; /* hidden Linear+Sin layers after the first */
	double sin_freq;      /* initial Sin frequency (activation_freq) */
	double fast_decay_pct, slow_decay_pct, decay_target;
	double mod_shift;     /* h * (exp(-t|delta|) + shift) */
	bool modulate;
	/* the rest */
	double norm_eps;
	int64_t vocab_size;
	int64_t pad_vocab_multiple;
	int64_t max_seq_len;
	bool lm_head;         /* the model has a head; logits need one */
	/* a fine-tuned sequence classifier (HF's
	 * HyenaDNAForSequenceClassification): score.weight [num_labels,
	 * d_model], no lm_head; a row's logits are read at the position
	 * before its first pad_id token (passes/entries.c, `entry classify`) */
	int64_t num_labels;   /* 0: no classifier */
	const char **labels;  /* num_labels names, in id order */
	int64_t pad_id;
} ModelSpec;

/* The defaults of a HyenaDNA checkpoint (tiny-1k's hyperparameters). */
void fe_spec_defaults(ModelSpec *s);
/* vocab_size rounded up to pad_vocab_multiple. */
int64_t fe_vocab_padded(const ModelSpec *s);
/* Checks impossible values; `file` names the description in messages. */
bool fe_spec_check(const ModelSpec *s, const char *file, Diag *d);

/* ---- tensors and checkpoints ------------------------------------------ */

typedef struct Tensor {
	const char *name;
	TensorType type;   /* f32, concrete dims */
	const float *data; /* row-major */
} Tensor;

typedef struct WeightSet {
	Tensor *t;
	int n, cap;
} WeightSet;

/* Every tensor the spec needs, with the shape the spec implies. Optional
 * tensors (positional features and decay rates, which HF files store as
 * buffers) are listed with optional=true. */
typedef void (*WeightVisitor)(void *ctx, const char *name,
                              const TensorType *type, bool optional);
void fe_expected_weights(const ModelSpec *s, Arena *a, WeightVisitor fn,
                         void *ctx);

Tensor *fe_weight_find(const WeightSet *w, const char *name);
void fe_weight_add(WeightSet *w, Arena *a, const char *name,
                   const TensorType *type, const float *data);

/* A validated safetensors file, mmapped read-only (frontend/safetensors.c).
 * Names and shapes are exactly as stored; data points into the map. */
typedef struct SafeTensors {
	const char *path;
	void *map;
	size_t map_size;
	Tensor *t;
	int n;
} SafeTensors;

SafeTensors *st_open(Arena *a, const char *path, Diag *d);
void st_close(SafeTensors *st); /* unmaps; the struct is arena memory */

/* ---- model descriptions ----------------------------------------------- */

/* Where the weights come from. */
typedef struct WeightSource {
	const char *safetensors; /* path, or NULL */
	uint64_t seed;           /* used when safetensors is NULL */
} WeightSource;

/* models/NAME.yaml (frontend/yaml_model.c) */
bool fe_yaml_load(Arena *a, const char *path, ModelSpec *s, WeightSource *w,
                  Diag *d);
/* config.json of an HF checkpoint (frontend/hf_config.c) */
bool fe_hf_config_load(Arena *a, const char *path, ModelSpec *s, Diag *d);

typedef struct Model {
	ModelSpec spec;
	const char *path;       /* what the user named */
	const char *weights_path; /* NULL for random init */
	uint64_t seed;          /* random init's seed (weights_path NULL) */
	SafeTensors *st;        /* owned; NULL for random init */
	WeightSet w;            /* every expected tensor, shapes as expected */
} Model;

/* Load a YAML description or an HF directory, weights included. */
Model *fe_load_model(Arena *a, const char *path, Diag *d);
void fe_model_close(Model *m);

/* Check st against the spec and fill m->w (frontend/weights.c). */
bool fe_bind_safetensors(Model *m, Arena *a, SafeTensors *st, Diag *d);
/* HyenaDNA-style random initialisation of every expected tensor. */
bool fe_init_random(Model *m, Arena *a, uint64_t seed, Diag *d);

/* ---- lowering (frontend/lower.c) -------------------------------------- */

Graph *fe_lower(Arena *a, const Model *m, Diag *d);

#endif
