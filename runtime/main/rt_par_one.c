/*
 * rt_par_one.c - rt_par.h for a binary compiled without --mpi: always
 * one process. A launcher's environment saying there are several ranks
 * is refused (exit 2) at rt_par_begin: each rank would run the whole
 * job and race for the same output; only rank 0 says so.
 */
#include "rt_par.h"
#include "rt_main.h"

#include <stdlib.h>

/* Under a launcher every rank finds the same fault: rank 0 says it. */
static bool quiet;

void rt_par_early(void)
{
	const char *r = getenv("OMPI_COMM_WORLD_RANK");
	if (!r)
		r = getenv("PMI_RANK");
	quiet = r && atoi(r) > 0;
}

void rt_par_begin(void)
{
	const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};

	for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
		const char *v = getenv(vars[i]);
		if (v && atoi(v) > 1)
			rt_usage("%s=%s: this binary runs as one process; under "
			         "mpirun or srun every rank would do the whole "
			         "job: compile it with 'hyenac compile --mpi'",
			         vars[i], v);
	}
}

void rt_par_end(void)
{
}

int rt_par_rank(void)
{
	return 0;
}

int rt_par_size(void)
{
	return 1;
}

int rt_par_local_size(void)
{
	return 1;
}

bool rt_par_is_mpi(void)
{
	return false;
}

bool rt_par_quiet(void)
{
	return quiet;
}

const char *rt_par_tag(void)
{
	return "";
}

void rt_par_bcast(void *p, size_t n)
{
	(void)p;
	(void)n;
}

void rt_par_wait_all(void (*tick)(void *), void *ctx)
{
	(void)tick;
	(void)ctx;
}

void rt_par_fail(int status)
{
	(void)status;
}

bool rt_par_all_ok(bool ok)
{
	return ok;
}
