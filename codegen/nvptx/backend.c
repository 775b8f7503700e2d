/*
 * backend.c - the GPU target's CgBackend (codegen/backend.h): the NVPTX
 * target machine (triple nvptx64-nvidia-cuda, cpu sm_XX), the entries a
 * GPU binary runs (the full forward as "forward", then the graph's
 * forward-type entries: logits, pooled, classify, hidden_states; never
 * prefill or step, which keep a decode state a GPU binary does not
 * have), one kernel variant per node and assignment of output slots
 * (nvptx.h), the steps of every entry in graph order, and at the end the
 * plan of runtime/hygpu.h. The plan, the kernel names, the PTX and the
 * globals of runtime/hyrt.h go into a small host object
 * (cg_write_gpu_host) that the driver links with the CUDA runtime.
 */
#include "nvptx.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Target.h>
#include <stdio.h>
#include <stdlib.h>

/* The PTX ISA version each architecture needs at least (LLVM 19 knows
 * up to 8.5; CUDA 13's driver JIT takes all of them). */
static const struct {
	const char *arch, *ptx;
} archs[] = {
	{"sm_20", "+ptx60"}, {"sm_21", "+ptx60"}, {"sm_30", "+ptx60"},
	{"sm_32", "+ptx60"}, {"sm_35", "+ptx60"}, {"sm_37", "+ptx60"},
	{"sm_50", "+ptx60"}, {"sm_52", "+ptx60"}, {"sm_53", "+ptx60"},
	{"sm_60", "+ptx60"}, {"sm_61", "+ptx60"}, {"sm_62", "+ptx60"},
	{"sm_70", "+ptx60"}, {"sm_72", "+ptx61"}, {"sm_75", "+ptx63"},
	{"sm_80", "+ptx70"}, {"sm_86", "+ptx71"}, {"sm_87", "+ptx74"},
	{"sm_89", "+ptx78"}, {"sm_90", "+ptx78"}, {"sm_90a", "+ptx80"},
};

static int arch_index(const char *arch)
{
	for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
		if (strcmp(archs[i].arch, arch) == 0)
			return (int)i;
	return -1;
}

bool cg_check_gpu_arch(const char *arch, Diag *d)
{
	if (arch && arch_index(arch) >= 0)
		return true;
	diag_error(d, "--target cuda:%s: not a GPU architecture LLVM 19 knows "
	              "(sm_20 ... sm_90a, e.g. sm_80 or sm_90)",
	           arch ? arch : "");
	d->usage = true;
	return false;
}

static bool nv_init(CgContext *c, const CgOptions *o, Diag *d)
{
	static const char triple[] = "nvptx64-nvidia-cuda";
	LLVMTargetRef target;
	char *err = NULL;

	if (!cg_check_gpu_arch(o->gpu_arch, d))
		return false;
	NvState *s = calloc(1, sizeof *s);
	HY_ASSERT(s);
	snprintf(s->arch, sizeof s->arch, "%s", o->gpu_arch);
	s->fft4_min = o->gpu_fft4_min > 0 ? o->gpu_fft4_min : FFT4_MIN_LEN;
	c->gpu = s;
	if (o->gpu_emulate) { /* the host's target machine */
		CgTarget t;
		if (!cg_target_open(&t, NULL, NULL, o->opt_level, d))
			return false;
		c->tm = t.tm;
		c->triple = t.triple;
		c->cpu = t.cpu;
		c->features = t.features;
		c->uses = t.uses;
		s->emulate = true;
		return true;
	}
	c->mufu = true;
	LLVMInitializeNVPTXTargetInfo();
	LLVMInitializeNVPTXTarget();
	LLVMInitializeNVPTXTargetMC();
	LLVMInitializeNVPTXAsmPrinter();
	if (LLVMGetTargetFromTriple(triple, &target, &err)) {
		diag_error(d, "--target cuda: LLVM has no NVPTX target: %s",
		           err ? err : "?");
		LLVMDisposeMessage(err);
		return false;
	}
	const char *ptx = archs[arch_index(o->gpu_arch)].ptx;
	c->tm = LLVMCreateTargetMachine(
	    target, triple, o->gpu_arch, ptx,
	    o->opt_level > 0 ? LLVMCodeGenLevelAggressive : LLVMCodeGenLevelNone,
	    LLVMRelocDefault, LLVMCodeModelDefault);
	c->triple = LLVMCreateMessage(triple);
	c->cpu = LLVMCreateMessage(o->gpu_arch);
	c->features = LLVMCreateMessage(ptx);
	c->uses = strdup("");
	HY_ASSERT(c->uses);
	return true;
}

/* ---- kernels and steps ------------------------------------------------ */

static void *grow(void *p, int *cap, int need, size_t each)
{
	if (need <= *cap)
		return p;
	*cap = *cap ? *cap * 2 : 64;
	if (*cap < need)
		*cap = need;
	p = realloc(p, (size_t)*cap * each);
	HY_ASSERT(p);
	return p;
}

int nv_begin(CgContext *c, const char *what, int threads)
{
	NvState *s = nv_state(c);
	char name[256];
	int n = snprintf(name, sizeof name, "hy%d_", s->nk);
	for (const char *p = what; *p && n < (int)sizeof name - 1; p++)
		name[n++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		                    (*p >= '0' && *p <= '9')
		                ? *p
		                : '_';
	name[n] = 0;
	s->kname = grow(s->kname, &s->capk, s->nk + 1, sizeof *s->kname);
	s->kname[s->nk] = strdup(name);
	HY_ASSERT(s->kname[s->nk]);
	s->kshmem = grow(s->kshmem, &s->capks, s->nk + 1, sizeof *s->kshmem);
	s->kshmem[s->nk] = 0;

	LLVMTypeRef pt[HYGPU_NPARAMS];
	for (int i = 0; i < HYGPU_NPARAMS; i++)
		pt[i] = i < P_B ? c->t_ptr : c->t_i64;
	LLVMValueRef fn = LLVMAddFunction(
	    c->mod, name, LLVMFunctionType(c->t_void, pt, HYGPU_NPARAMS, 0));
	cg_fn_attrs(c, fn);
	for (unsigned i = 0; i < P_B; i++)
		cg_add_enum_attr(c, fn, i + 1, "noalias");
	if (s->emulate)
		goto params;
	LLVMSetFunctionCallConv(fn, 71); /* PTX_Kernel */
	tcg_annotate(c->mod, fn, "kernel", 1);
	tcg_annotate(c->mod, fn, "maxntidx", threads);
params:;
	static const char *pname[] = {"arena", "weights", "io", "work", "spec",
	                              "B",     "L",       "n",  "a",    "cnt"};
	for (unsigned i = 0; i < HYGPU_NPARAMS; i++) {
		s->p[i] = LLVMGetParam(fn, i);
		LLVMSetValueName2(s->p[i], pname[i], strlen(pname[i]));
	}
	c->fn = fn;
	c->entry = LLVMAppendBasicBlockInContext(c->ctx, fn, "entry");
	c->body = LLVMAppendBasicBlockInContext(c->ctx, fn, "start");
	LLVMPositionBuilderAtEnd(c->b, c->body);
	c->B = s->p[P_B];
	c->L = s->p[P_L];
	return s->nk++;
}

void nv_end(CgContext *c)
{
	LLVMBuildRetVoid(c->b);
	LLVMPositionBuilderAtEnd(c->b, c->entry);
	LLVMBuildBr(c->b, c->body);
}

HygpuStep *nv_step(CgContext *c, int64_t op)
{
	NvState *s = nv_state(c);
	s->tmpl = grow(s->tmpl, &s->captmpl, s->ntmpl + 1, sizeof *s->tmpl);
	HygpuStep *st = &s->tmpl[s->ntmpl++];
	memset(st, 0, sizeof *st);
	st->op = op;
	st->conv = -1;
	return st;
}

HygpuStep *nv_launch(CgContext *c, int k, int threads)
{
	HygpuStep *s = nv_step(c, HYGPU_LAUNCH);
	s->kernel = k;
	s->threads = threads;
	s->shmem = nv_state(c)->kshmem[k];
	s->grid_div = 1;
	return s;
}

static int64_t round256(int64_t n)
{
	return (n + 255) / 256 * 256;
}

/* The derived weight (kind, w, a, b; spec for SPLIT) of bytes bytes:
 * its address in the kernel being emitted, placed after the blob the
 * first time it is asked for. */
static LLVMValueRef derive(CgContext *c, NvDerivedKind kind, const Node *w,
                           const Node *a, const Node *b, int64_t pairs,
                           const TcgSpec *ts, int64_t bytes)
{
	NvState *s = nv_state(c);
	int i = 0;

	for (; i < s->nderived; i++) {
		const NvDerived *d = &s->derived[i];
		if (d->kind == kind && d->w == w && d->a == a && d->b == b &&
		    d->pairs == pairs &&
		    (!ts || (d->spec.kind == ts->kind && d->spec.N == ts->N &&
		             d->spec.K == ts->K && d->spec.max_bn == ts->max_bn)))
			break;
	}
	if (i == s->nderived) {
		s->derived = grow(s->derived, &s->capderived, s->nderived + 1,
		                  sizeof *s->derived);
		NvDerived *d = &s->derived[s->nderived++];
		*d = (NvDerived){ .kind = kind, .w = w, .a = a, .b = b,
		                .pairs = pairs };
		if (ts)
			d->spec = (TcgSpec){ .kind = ts->kind, .N = ts->N, .K = ts->K,
			                     .lda = ts->K, .max_bn = ts->max_bn,
			                     .wgmma = true };
		if (!s->derived_base)
			s->derived_base = s->derived_end = round256((int64_t)c->w->bytes);
		d->at = s->derived_end;
		s->derived_end += round256(bytes);
	}
	LLVMValueRef o = i64c(c, s->derived[i].at);
	return LLVMBuildInBoundsGEP2(c->b, LLVMInt8TypeInContext(c->ctx),
	                             nv_param(c, P_WEIGHTS), &o, 1, "derived");
}

LLVMValueRef nv_split_weight(CgContext *c, const Node *w, const Node *gamma,
                             int64_t pairs, const TcgSpec *ts)
{
	return derive(c, NV_SPLIT, w, gamma, NULL, pairs, ts,
	               tcg_split_bytes(ts));
}

LLVMValueRef nv_fold_bias(CgContext *c, const Node *w, const Node *bias,
                          const Node *beta)
{
	return derive(c, NV_BIAS, w, bias, beta, 0, NULL, 4 * w->type.dim[0]);
}

/* The address of weight x in the init kernel being emitted. */
static LLVMValueRef blob_at(CgContext *c, const Node *x)
{
	LLVMValueRef o = i64c(c, (int64_t)c->w->offset[x->id]);
	return LLVMBuildInBoundsGEP2(c->b, LLVMInt8TypeInContext(c->ctx),
	                             nv_param(c, P_WEIGHTS), &o, 1, x->name);
}

/* The kernels that make the derived weights and their launches: the
 * plan's init steps. SPLIT: a thread a piece of the copy (tcgemm.c).
 * BIAS: a thread an output column n, bias[n] + sum over k of
 * w[n][k] beta[k], fused multiply-adds in k's order. */
static void emit_derived(CgContext *c)
{
	NvState *s = nv_state(c);
	LLVMTypeRef i8 = LLVMInt8TypeInContext(c->ctx);

	for (int i = 0; i < s->nderived; i++) {
		const NvDerived *d = &s->derived[i];
		char what[200];
		snprintf(what, sizeof what, "%s_%s", d->w->name,
		         d->kind == NV_SPLIT ? "split" : "bias");
		int k = nv_begin(c, what, NV_THREADS);
		int64_t N = d->w->type.dim[0], K = d->w->type.dim[1];
		int64_t count = d->kind == NV_SPLIT ? tcg_split_pieces(&d->spec) : N;
		LLVMValueRef idx = add(c, mul(c, nv_bid(c), i64c(c, NV_THREADS)),
		                       nv_tid(c));
		LLVMValueRef to = i64c(c, d->at);
		LLVMValueRef dst = LLVMBuildInBoundsGEP2(c->b, i8,
			nv_param(c, P_WEIGHTS), &to, 1, "");
		nv_return_unless(c, LLVMBuildICmp(c->b, LLVMIntSLT, idx,
		                                  i64c(c, count), ""));
		if (d->kind == NV_SPLIT) {
			tcg_emit_split(c->mod, c->b, c->fn, &d->spec, blob_at(c, d->w),
			               d->a ? blob_at(c, d->a) : NULL, d->pairs, dst,
			               idx);
		} else {
			LLVMValueRef w = blob_at(c, d->w), beta = blob_at(c, d->b);
			LLVMValueRef acc = cg_var(c, c->t_f32,
			                          d->a ? ld(c, blob_at(c, d->a), idx)
			                               : f32c(c, 0), "acc");
			Loop l;
			LLVMValueRef q = cg_loop_open(c, &l, i64c(c, 0), i64c(c, K), "k");
			LLVMBuildStore(c->b, fmadd_red(c, ld_var(c, c->t_f32, acc),
				ld(c, w, add(c, mul(c, idx, i64c(c, K)), q)),
				ld(c, beta, q)), acc);
			cg_loop_close(c, &l);
			st(c, dst, idx, ld_var(c, c->t_f32, acc));
		}
		nv_end(c);
		HygpuStep *st = nv_launch(c, k, NV_THREADS);
		st->grid[5] = count;
		st->grid_div = NV_THREADS;
	}
}

/* ---- entries ---------------------------------------------------------- */

/* Whether source i of n is read only by its convolution's FILTER steps:
 * the filter, what the filter kernel makes it from (the implicit
 * filter's last layer, positions and decay), and the bias that the
 * spectra take in. */
static bool filter_slot(const Node *n, int i)
{
	GcSrc gs;

	if (n->op == OP_LONGCONV)
		return i == 1;
	if (n->op != OP_GATED_CONV)
		return false;
	ir_gc_srcs(n, &gs);
	return i == gs.k || i == gs.h || i == gs.w || i == gs.t ||
	       i == gs.deltas || i == gs.bias;
}

/* s->filter_only: nodes that no entry outputs and that every use reaches
 * only through filter slots (the implicit filter's MLP, the positional
 * features). Their steps carry HYGPU_FILTER_SRC: a pass whose
 * convolutions all have their spectra kept does not run them. */
static void mark_filter_only(CgContext *c)
{
	NvState *s = nv_state(c);
	const Graph *g = c->g;
	size_t nn = (size_t)g->nnodes;
	bool *other = calloc(nn, sizeof *other);
	bool changed = true;

	s->filter_only = calloc(nn, sizeof *s->filter_only);
	HY_ASSERT(other && s->filter_only);
	for (int e = 0; e < s->ne; e++)
		for (int k = 0; k < s->ent[e]->noutputs; k++)
			other[s->ent[e]->outputs[k].node->id] = true;
	/* other: read by something besides filter slots, directly or
	 * through its users; to a fixed point (one sweep when the nodes are
	 * in order) */
	while (changed) {
		changed = false;
		for (int i = g->nnodes - 1; i >= 0; i--) {
			const Node *u = g->nodes[i];
			for (int j = 0; j < u->nsrc; j++) {
				int x = u->src[j]->id;
				if (other[i] && !filter_slot(u, j) && !other[x])
					other[x] = changed = true;
			}
		}
	}
	/* (a node nothing reads is in no entry, so its mark is moot) */
	for (size_t i = 0; i < nn; i++)
		s->filter_only[i] = !other[i];
	free(other);
}

/* Whether the GPU runs entry e: every node it needs has a GPU kernel (no
 * decode state). */
static bool gpu_entry(const Graph *g, const EntryPoint *e, const bool *live)
{
	if (strcmp(e->name, "prefill") == 0 || strcmp(e->name, "step") == 0)
		return false;
	for (int i = 0; i < g->nnodes; i++) {
		OpKind op = g->nodes[i]->op;
		if (live[i] && (op == OP_STATE || op == OP_STATE_SAVE ||
		                op == OP_TAIL_PROJ || op == OP_SHORT_STEP ||
		                op == OP_CONV_STEP))
			return false;
	}
	return true;
}

static void nv_begin_module(CgContext *c, const int64_t meta[HYRT_META_COUNT])
{
	NvState *s = nv_state(c);
	const Graph *g = c->g;
	size_t nn = (size_t)g->nnodes + 1;

	HY_ASSERT(g->planned);
	if (s->emulate) {
		LLVMTypeRef ht = LLVMArrayType2(c->t_ptr, 4);
		s->hooks = LLVMAddGlobal(c->mod, ht, "hygpu_emu_hooks");
		LLVMSetInitializer(s->hooks, LLVMConstNull(ht));
	}
	if (meta)
		memcpy(s->meta, meta, sizeof s->meta);
	ir_entry_full(g, &s->full);
	for (int k = -1; k < g->nentries; k++) {
		const EntryPoint *e = k < 0 ? &s->full : &g->entries[k];
		bool *live = calloc(nn, sizeof *live);
		HY_ASSERT(live);
		ir_entry_live(g, k < 0 ? NULL : e, live);
		if (!gpu_entry(g, e, live)) {
			HY_ASSERT(k >= 0);
			free(live);
			continue;
		}
		int *slot = malloc(nn * sizeof *slot);
		HY_ASSERT(slot && s->ne < NV_MAX_ENTRIES);
		for (int i = 0; i < g->nnodes; i++)
			slot[i] = -1;
		for (int j = e->noutputs - 1; j >= 0; j--)
			if (cg_computes(e->outputs[j].node))
				slot[e->outputs[j].node->id] = j;
		s->ent[s->ne] = e;
		s->live[s->ne] = live;
		s->slot[s->ne] = slot;
		s->ne++;
	}
	nv_plan_parts(c);
	mark_filter_only(c);
}

static void append_steps(NvState *s, int e, int first, int count)
{
	s->esteps[e] = grow(s->esteps[e], &s->capestep[e], s->nestep[e] + count,
	                    sizeof *s->esteps[e]);
	memcpy(&s->esteps[e][s->nestep[e]], &s->tmpl[first],
	       (size_t)count * sizeof *s->tmpl);
	s->nestep[e] += count;
}

static void nv_emit_node(CgContext *c, const Node *n)
{
	NvState *s = nv_state(c);

	for (int e = 0; e < s->ne; e++) {
		if (!s->live[e][n->id])
			continue;
		const int *slot = s->slot[e];
		int sig[IR_MAX_SRC + 1];
		sig[0] = slot[n->id];
		for (int i = 0; i < IR_MAX_SRC; i++)
			sig[i + 1] = i < n->nsrc ? slot[n->src[i]->id] : -1;
		/* a value of another entry's outputs has no place here: the
		 * verifier keeps entries from reading them */
		int v = 0;
		for (; v < s->nvar; v++)
			if (s->var[v].node == n->id &&
			    memcmp(s->var[v].sig, sig, sizeof sig) == 0)
				break;
		if (v == s->nvar) {
			s->var = grow(s->var, &s->capvar, s->nvar + 1, sizeof *s->var);
			NvVariant *nv = &s->var[s->nvar++];
			nv->node = n->id;
			memcpy(nv->sig, sig, sizeof sig);
			nv->first = s->ntmpl;
			s->cur_slot = slot;
			nv_emit_node_steps(c, n);
			s->var[v].count = s->ntmpl - s->var[v].first;
			if (s->filter_only[n->id])
				for (int i = s->var[v].first; i < s->ntmpl; i++)
					s->tmpl[i].flags |= HYGPU_FILTER_SRC;
		}
		append_steps(s, e, s->var[v].first, s->var[v].count);
	}
}

/* Elements of output k of e per token of B*L (or, when 0, per sample). */
static void out_sizes(const TensorType *t, int64_t *tok, int64_t *smp)
{
	int64_t k = 1;
	bool l = false;
	for (int i = 0; i < t->rank; i++) {
		if (t->dim[i] == DIM_L)
			l = true;
		else if (t->dim[i] != DIM_B)
			k *= t->dim[i];
	}
	*tok = l ? k : 0;
	*smp = l ? 0 : k;
}

static void nv_finish(CgContext *c)
{
	NvState *s = nv_state(c);
	const Graph *g = c->g;

	/* outputs that are no node's own destination: copies at the end */
	for (int e = 0; e < s->ne; e++) {
		const EntryPoint *ep = s->ent[e];
		for (int k = 0; k < ep->noutputs; k++) {
			const Node *x = ep->outputs[k].node;
			if (cg_computes(x) && s->slot[e][x->id] == k)
				continue;
			int first = s->ntmpl;
			s->cur_slot = s->slot[e];
			char what[32];
			snprintf(what, sizeof what, "e%dk%d", e, k);
			nv_emit_copy(c, x, k, what);
			append_steps(s, e, first, s->ntmpl - first);
		}
	}
	int init_first = s->ntmpl;
	emit_derived(c);
	int ninit = s->ntmpl - init_first;
	/* the plan: the entries' steps, then the init steps */
	HygpuPlan *p = &s->plan;
	int total = 0;
	for (int e = 0; e < s->ne; e++)
		total += s->nestep[e];
	s->pentries = calloc((unsigned)s->ne, sizeof *s->pentries);
	s->psteps = calloc((unsigned)(total + ninit) + 1, sizeof *s->psteps);
	HY_ASSERT(s->pentries && s->psteps);
	int at = 0;
	for (int e = 0; e < s->ne; e++) {
		HygpuEntry *pe = &s->pentries[e];
		const EntryPoint *ep = s->ent[e];
		pe->name = e == 0 ? "forward" : ep->name;
		pe->first = at;
		pe->count = s->nestep[e];
		pe->nout = ep->noutputs;
		for (int k = 0; k < ep->noutputs; k++)
			out_sizes(&ep->outputs[k].node->type, &pe->out_per_token[k],
			          &pe->out_per_sample[k]);
		memcpy(&s->psteps[at], s->esteps[e],
		       (size_t)s->nestep[e] * sizeof *s->psteps);
		at += s->nestep[e];
	}
	memcpy(&s->psteps[total], &s->tmpl[init_first],
	       (size_t)ninit * sizeof *s->psteps);
	p->init_first = ninit ? total : 0;
	p->init_count = ninit;
	p->weights_base = s->derived_base;
	p->weights_extra = s->derived_end - s->derived_base;
	total += ninit;
	p->version = HYGPU_PLAN_VERSION;
	for (int r = 0; r < HYGPU_REGION_COUNT; r++)
		p->region[r] = g->region_bytes[MEM_TOKEN + r];
	p->region[HYGPU_REGION_TOKEN] += s->part_bytes;
	p->nconv = s->nconv;
	p->nentry = s->ne;
	p->nstep = total;
	p->nkernel = s->nk;
	p->entries = s->pentries;
	p->steps = s->psteps;
	p->arch = s->arch;
	size_t len = 0;
	for (int k = 0; k < s->nk; k++)
		len += strlen(s->kname[k]) + 1;
	s->knames = malloc(len + 1);
	HY_ASSERT(s->knames);
	s->knames_len = 0;
	for (int k = 0; k < s->nk; k++) {
		size_t l = strlen(s->kname[k]) + 1;
		memcpy(s->knames + s->knames_len, s->kname[k], l);
		s->knames_len += l;
	}
}

static void nv_release(CgContext *c)
{
	NvState *s = nv_state(c);
	if (!s)
		return;
	for (int e = 0; e < s->ne; e++) {
		free(s->live[e]);
		free(s->slot[e]);
		free(s->esteps[e]);
	}
	for (int k = 0; k < s->nk; k++)
		free(s->kname[k]);
	free(s->kname);
	free(s->kshmem);
	free(s->filter_only);
	free(s->tmpl);
	free(s->var);
	free(s->derived);
	free(s->parts_written);
	free(s->parts_read);
	free(s->pentries);
	free(s->psteps);
	free(s->knames);
	free(s);
	c->gpu = NULL;
}

const CgBackend cg_nvptx_backend = {
	.name = "nvptx",
	.init = nv_init,
	.begin = nv_begin_module,
	.emit_node = nv_emit_node,
	.finish = nv_finish,
	.release = nv_release,
	.output_kind = LLVMAssemblyFile,
};

/* ---- what the driver and the tests read ------------------------------- */

const HygpuPlan *cg_gpu_plan(const CgModule *m)
{
	return m->gpu ? &((const NvState *)m->gpu)->plan : NULL;
}

const char *cg_gpu_kernel_names(const CgModule *m, size_t *len)
{
	const NvState *s = m->gpu;
	if (!s)
		return NULL;
	*len = s->knames_len;
	return s->knames;
}

/* ---- the host object -------------------------------------------------- */

static LLVMValueRef const_global(LLVMModuleRef mod, LLVMValueRef init,
                                 const char *name, bool priv)
{
	LLVMValueRef gv = LLVMAddGlobal(mod, LLVMTypeOf(init), name);
	LLVMSetInitializer(gv, init);
	LLVMSetGlobalConstant(gv, 1);
	if (priv)
		LLVMSetLinkage(gv, LLVMPrivateLinkage);
	return gv;
}

static LLVMValueRef str_global(LLVMContextRef ctx, LLVMModuleRef mod,
                               const char *s, size_t len, bool nul,
                               const char *name, bool priv)
{
	return const_global(mod, LLVMConstStringInContext2(ctx, s, len, !nul),
	                    name, priv);
}

bool cg_write_gpu_host(CgModule *m, const char *path, Diag *d)
{
	NvState *s = m->gpu;
	char *err = NULL;
	LLVMMemoryBufferRef ptx = NULL;
	CgTarget t;
	bool ok = false;

	HY_ASSERT(s);
	if (LLVMTargetMachineEmitToMemoryBuffer(m->tm, m->mod, LLVMAssemblyFile,
	                                        &err, &ptx)) {
		diag_error(d, "%s: cannot make the PTX: %s", path, err ? err : "?");
		LLVMDisposeMessage(err);
		return false;
	}
	if (!cg_target_open(&t, NULL, NULL, m->o->opt_level, d)) {
		LLVMDisposeMemoryBuffer(ptx);
		return false;
	}
	LLVMContextRef ctx = LLVMContextCreate();
	LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("hyenac.gpu.host",
	                                                      ctx);
	LLVMSetTarget(mod, t.triple);
	LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(t.tm);
	LLVMSetModuleDataLayout(mod, dl);
	LLVMDisposeTargetData(dl);
	LLVMTypeRef i64 = LLVMInt64TypeInContext(ctx);
	LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0);

	LLVMValueRef v[HYRT_META_COUNT];
	for (int i = 0; i < HYRT_META_COUNT; i++)
		v[i] = LLVMConstInt(i64, (unsigned long long)s->meta[i], 1);
	const_global(mod, LLVMConstArray2(i64, v, HYRT_META_COUNT), "hyenac_meta",
	             false);
	str_global(ctx, mod, m->g->name, strlen(m->g->name), true,
	           "hyenac_model_name", false);
	const char *labels = m->o && m->o->labels ? m->o->labels : "";
	size_t ln = strlen(labels);
	char *z = malloc(ln + 1);
	HY_ASSERT(z);
	for (size_t i = 0; i <= ln; i++)
		z[i] = labels[i] == '\n' ? 0 : labels[i];
	str_global(ctx, mod, z, ln, true, "hyenac_labels", false);
	free(z);
	str_global(ctx, mod, LLVMGetBufferStart(ptx), LLVMGetBufferSize(ptx), true,
	           "hyenac_gpu_ptx", false);
	str_global(ctx, mod, s->knames, s->knames_len, false,
	           "hyenac_gpu_kernels", false);

	/* the steps: HygpuStep is int64_t fields only */
	enum { NF = sizeof(HygpuStep) / sizeof(int64_t) };
	_Static_assert(sizeof(HygpuStep) == NF * sizeof(int64_t), "HygpuStep");
	const HygpuPlan *p = &s->plan;
	LLVMTypeRef stt = LLVMArrayType2(i64, NF);
	LLVMValueRef *sv = calloc((size_t)p->nstep + 1, sizeof *sv);
	HY_ASSERT(sv);
	for (int64_t i = 0; i < p->nstep; i++) {
		const int64_t *f = (const int64_t *)&p->steps[i];
		LLVMValueRef e[NF];
		for (int j = 0; j < NF; j++)
			e[j] = LLVMConstInt(i64, (unsigned long long)f[j], 1);
		sv[i] = LLVMConstArray2(i64, e, NF);
	}
	LLVMValueRef steps = const_global(
	    mod, LLVMConstArray2(stt, sv, (uint64_t)p->nstep), "hyenac.gpu.steps",
	    true);
	free(sv);
	LLVMTypeRef at = LLVMArrayType2(i64, IR_MAX_ENTRY_OUT);
	LLVMTypeRef eft[] = {ptr, i64, i64, i64, at, at};
	LLVMTypeRef et = LLVMStructTypeInContext(ctx, eft, 6, 0);
	LLVMValueRef *ev = calloc((size_t)p->nentry + 1, sizeof *ev);
	HY_ASSERT(ev);
	_Static_assert(IR_MAX_ENTRY_OUT == 66, "HygpuEntry's arrays");
	for (int64_t i = 0; i < p->nentry; i++) {
		const HygpuEntry *pe = &p->entries[i];
		LLVMValueRef a[IR_MAX_ENTRY_OUT], b[IR_MAX_ENTRY_OUT];
		for (int j = 0; j < IR_MAX_ENTRY_OUT; j++) {
			a[j] = LLVMConstInt(i64, (unsigned long long)pe->out_per_token[j],
			                    1);
			b[j] = LLVMConstInt(i64,
			                    (unsigned long long)pe->out_per_sample[j], 1);
		}
		LLVMValueRef f[] = {
		    str_global(ctx, mod, pe->name, strlen(pe->name), true,
		               "hyenac.gpu.entry", true),
		    LLVMConstInt(i64, (unsigned long long)pe->first, 1),
		    LLVMConstInt(i64, (unsigned long long)pe->count, 1),
		    LLVMConstInt(i64, (unsigned long long)pe->nout, 1),
		    LLVMConstArray2(i64, a, IR_MAX_ENTRY_OUT),
		    LLVMConstArray2(i64, b, IR_MAX_ENTRY_OUT)};
		ev[i] = LLVMConstStructInContext(ctx, f, 6, 0);
	}
	LLVMValueRef ents = const_global(
	    mod, LLVMConstArray2(et, ev, (uint64_t)p->nentry), "hyenac.gpu.entries",
	    true);
	free(ev);
	LLVMValueRef reg[HYGPU_REGION_COUNT];
	for (int r = 0; r < HYGPU_REGION_COUNT; r++)
		reg[r] = LLVMConstInt(i64, (unsigned long long)p->region[r], 1);
	LLVMTypeRef pft[] = {i64, LLVMArrayType2(i64, HYGPU_REGION_COUNT),
	                     i64, i64, i64, i64, ptr, ptr, ptr, i64, i64, i64,
	                     i64};
	LLVMValueRef pf[] = {
	    LLVMConstInt(i64, HYGPU_PLAN_VERSION, 0),
	    LLVMConstArray2(i64, reg, HYGPU_REGION_COUNT),
	    LLVMConstInt(i64, (unsigned long long)p->nconv, 1),
	    LLVMConstInt(i64, (unsigned long long)p->nentry, 1),
	    LLVMConstInt(i64, (unsigned long long)p->nstep, 1),
	    LLVMConstInt(i64, (unsigned long long)p->nkernel, 1),
	    ents,
	    steps,
	    str_global(ctx, mod, s->arch, strlen(s->arch), true, "hyenac.gpu.arch",
	               true),
	    LLVMConstInt(i64, (unsigned long long)p->weights_base, 1),
	    LLVMConstInt(i64, (unsigned long long)p->weights_extra, 1),
	    LLVMConstInt(i64, (unsigned long long)p->init_first, 1),
	    LLVMConstInt(i64, (unsigned long long)p->init_count, 1)};
	(void)pft;
	const_global(mod, LLVMConstStructInContext(ctx, pf, 13, 0),
	             "hyenac_gpu_plan", false);

	if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &err))
		hy_die("generated GPU host module does not verify: %.2000s", err);
	LLVMDisposeMessage(err);
	err = NULL;
	if (LLVMTargetMachineEmitToFile(t.tm, mod, path, LLVMObjectFile, &err)) {
		diag_error(d, "%s: cannot write object: %s", path,
		           err ? err : "unknown error");
		LLVMDisposeMessage(err);
	} else {
		ok = true;
	}
	LLVMDisposeModule(mod);
	LLVMContextDispose(ctx);
	cg_target_close(&t);
	LLVMDisposeMemoryBuffer(ptx);
	return ok;
}
