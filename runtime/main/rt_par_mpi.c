/*
 * rt_par_mpi.c - rt_par.h over MPI, for binaries of `hyenac compile
 * --mpi` (linked with Debian's Open MPI, libmpi). MPI starts only when
 * a launcher started this process (mpirun sets OMPI_COMM_WORLD_SIZE,
 * srun PMI_SIZE or PMIX_RANK); run alone, the binary is one process and
 * never touches MPI. MPI_THREAD_FUNNELED: only the main thread calls MPI.
 *
 * A rank that fails prints its one line ("PROG: rank R of N: ...": the
 * tag comes from rt_par_tag), removes its temporaries and calls
 * MPI_Abort with its exit status, which ends every rank of the job (the
 * launcher then prints its own notice). Where every rank meets the
 * failure at the same step (the GPU's start), rt_par_all_ok lets them
 * agree first and leave together, each with its own line. Waiting
 * (rt_par_wait_all) polls a non-blocking barrier, so rank 0 keeps its
 * progress line alive.
 */
#include "rt_par.h"
#include "rt_main.h"
#include "runtime/outfile.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int rank, size = 1, local_size = 1;
static bool started, launched;
static bool leaving_together; /* rt_par_all_ok came out false */
static char tag[64];

static int env_int(const char *name, int dflt)
{
	const char *v = getenv(name);
	return v && *v ? atoi(v) : dflt;
}

void rt_par_early(void)
{
	launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") ||
	           getenv("PMIX_RANK");
	if (!launched)
		return;
	rank = env_int("OMPI_COMM_WORLD_RANK",
	               env_int("PMIX_RANK", env_int("PMI_RANK", 0)));
	size = env_int("OMPI_COMM_WORLD_SIZE", env_int("PMI_SIZE", 1));
	local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE",
	                     env_int("MPI_LOCALNRANKS", 1));
}

void rt_par_begin(void)
{
	int provided;

	if (!launched || started)
		return;
	if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) !=
	    MPI_SUCCESS)
		rt_fail("MPI_Init failed");
	started = true;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size > 1)
		snprintf(tag, sizeof tag, "rank %d of %d: ", rank, size);
}

void rt_par_end(void)
{
	if (started)
		MPI_Finalize();
	started = false;
}

int rt_par_rank(void)
{
	return rank;
}

int rt_par_size(void)
{
	return size;
}

int rt_par_local_size(void)
{
	return local_size;
}

bool rt_par_is_mpi(void)
{
	return true;
}

bool rt_par_quiet(void)
{
	return !started && rank > 0;
}

const char *rt_par_tag(void)
{
	return tag;
}

void rt_par_bcast(void *p, size_t n)
{
	char *c = p;

	if (size < 2)
		return;
	while (n > 0) {
		int k = n > (1u << 30) ? 1 << 30 : (int)n;
		MPI_Bcast(c, k, MPI_BYTE, 0, MPI_COMM_WORLD);
		c += k;
		n -= (size_t)k;
	}
}

void rt_par_wait_all(void (*tick)(void *), void *ctx)
{
	MPI_Request req;
	int done = 0;

	if (size < 2)
		return;
	MPI_Ibarrier(MPI_COMM_WORLD, &req);
	while (!done) {
		MPI_Test(&req, &done, MPI_STATUS_IGNORE);
		if (done)
			break;
		if (tick)
			tick(ctx);
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

void rt_par_fail(int status)
{
	if (!started || size < 2)
		return;
	if (leaving_together) {
		rt_par_end(); /* every rank is on its way out */
		return;
	}
	fflush(stdout);
	fflush(stderr);
	hyrt_out_abort_all(); /* MPI_Abort runs no atexit hook */
	MPI_Abort(MPI_COMM_WORLD, status);
}

bool rt_par_all_ok(bool ok)
{
	int mine = ok, all = 1;

	if (!started || size < 2)
		return ok;
	MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
	leaving_together = !all;
	return all;
}
