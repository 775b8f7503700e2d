/*
 * module.c - codegen's driver, the same for every target: cg_emit makes
 * the LLVM context and module, has the target (a CgBackend, backend.h)
 * emit one kernel per computing node between its prologue (public
 * symbols, externals) and epilogue (the entry points), verifies the
 * module and optimises it;
 * cg_write_object and cg_write_ll write it; cg_release hands it to the
 * JIT (jit.c).
 *
 * All LLVM handles of a compilation live in one CgContext (the public
 * CgModule, backend.h). Its LLVMContext belongs to an ORC
 * ThreadSafeContext so that jit.c can take the module over without
 * copying it. What the kernels compute and how is the target's business
 * (codegen/cpu/); this file makes no decision about the graph.
 */
#include "backend.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stdlib.h>

static void make_module(CgContext *c)
{
	LLVMTargetDataRef dl;

	c->tsc = LLVMOrcCreateNewThreadSafeContext();
	c->ctx = LLVMOrcThreadSafeContextGetContext(c->tsc);
	c->mod = LLVMModuleCreateWithNameInContext(c->g->name, c->ctx);
	c->b = LLVMCreateBuilderInContext(c->ctx);
	LLVMSetTarget(c->mod, c->triple);
	dl = LLVMCreateTargetDataLayout(c->tm);
	LLVMSetModuleDataLayout(c->mod, dl);
	LLVMDisposeTargetData(dl);
	c->t_void = LLVMVoidTypeInContext(c->ctx);
	c->t_i1 = LLVMInt1TypeInContext(c->ctx);
	c->t_i32 = LLVMInt32TypeInContext(c->ctx);
	c->t_i64 = LLVMInt64TypeInContext(c->ctx);
	c->t_f32 = LLVMFloatTypeInContext(c->ctx);
	c->t_f64 = LLVMDoubleTypeInContext(c->ctx);
	c->t_ptr = LLVMPointerTypeInContext(c->ctx, 0);
}

static bool optimize(CgContext *c, Diag *d)
{
	LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
	const char *passes = c->o->opt_level > 0 ? "default<O3>" : "default<O0>";
	LLVMErrorRef err;
	bool ok = true;

	LLVMPassBuilderOptionsSetLoopVectorization(po, c->o->opt_level > 0);
	LLVMPassBuilderOptionsSetSLPVectorization(po, c->o->opt_level > 0);
	LLVMPassBuilderOptionsSetLoopUnrolling(po, c->o->opt_level > 0);
	err = LLVMRunPasses(c->mod, passes, c->tm, po);
	if (err) {
		char *msg = LLVMGetErrorMessage(err);
		diag_error(d, "LLVM passes %s: %s", passes, msg);
		LLVMDisposeErrorMessage(msg);
		ok = false;
	}
	LLVMDisposePassBuilderOptions(po);
	return ok;
}

CgModule *cg_emit(const Graph *g, const CgWeights *w, const CgOptions *o,
                  const int64_t meta[HYRT_META_COUNT], Diag *d)
{
	CgContext *c = calloc(1, sizeof *c);
	char *err = NULL;

	HY_ASSERT(c);
	c->g = g;
	c->w = w;
	c->o = o;
	c->be = o->gpu_arch ? &cg_nvptx_backend : &cg_cpu_backend;
	if (!c->be->init(c, o, d))
		goto fail;
	make_module(c);
	/* The public names first, so that no kernel can take them. */
	c->be->begin(c, meta);
	for (int i = 0; i < g->nnodes; i++) {
		const Node *n = g->nodes[i];
		if (n->op == OP_INPUT)
			HY_ASSERT(n->type.dtype == DT_I32);
		if (cg_computes(n))
			c->be->emit_node(c, n);
	}
	c->be->finish(c);

	if (LLVMVerifyModule(c->mod, LLVMReturnStatusAction, &err))
		hy_die("generated module does not verify: %.2000s", err);
	LLVMDisposeMessage(err);
	err = NULL;
	if (!optimize(c, d))
		goto fail;
	return c;

fail:
	cg_free(c);
	return NULL;
}

bool cg_write_object(CgModule *m, const char *path, Diag *d)
{
	char *err = NULL;

	HY_ASSERT(m->mod);
	if (LLVMTargetMachineEmitToFile(m->tm, m->mod, path, m->be->output_kind,
	                                &err)) {
		diag_error(d, "%s: cannot write object: %s", path,
		           err ? err : "unknown error");
		LLVMDisposeMessage(err);
		return false;
	}
	return true;
}

bool cg_write_ll(CgModule *m, const char *path, Diag *d)
{
	char *err = NULL;

	HY_ASSERT(m->mod);
	if (LLVMPrintModuleToFile(m->mod, path, &err)) {
		diag_error(d, "%s: cannot write IR: %s", path,
		           err ? err : "unknown error");
		LLVMDisposeMessage(err);
		return false;
	}
	return true;
}

void cg_release(CgModule *m, LLVMModuleRef *mod,
                LLVMOrcThreadSafeContextRef *tsc)
{
	*mod = m->mod;
	*tsc = m->tsc;
	m->mod = NULL;
	m->tsc = NULL;
	cg_free(m);
}

void cg_free(CgModule *m)
{
	if (!m)
		return;
	if (m->be && m->be->release)
		m->be->release(m);
	if (m->b)
		LLVMDisposeBuilder(m->b);
	if (m->mod)
		LLVMDisposeModule(m->mod);
	if (m->tsc)
		LLVMOrcDisposeThreadSafeContext(m->tsc);
	if (m->tm)
		LLVMDisposeTargetMachine(m->tm);
	LLVMDisposeMessage(m->triple);
	LLVMDisposeMessage(m->cpu);
	LLVMDisposeMessage(m->features);
	free(m->uses);
	free(m->kern);
	free(m->thunk);
	free(m->off);
	free(m->at);
	free(m->outidx);
	free(m);
}
