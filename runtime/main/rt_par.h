/*
 * rt_par.h - the processes of one job: how many there are, which one
 * this is, and the few collective steps the sharded commands take
 * (rt_shard.c). Two implementations, one linked into each binary:
 * rt_par_one.c in every binary (one process; it refuses to run as one
 * rank of many, where every rank would do the whole job), and
 * rt_par_mpi.c in a binary of `hyenac compile --mpi` (Open MPI, only
 * when a launcher started the process: mpirun, srun; run alone, it is
 * one process too). Only the main thread calls these; the pool's
 * threads never do (MPI_THREAD_FUNNELED).
 *
 * Order: rt_par_early() before the command line is read (it learns the
 * rank from the launcher's environment, so that ranks above 0 keep quiet
 * about the usage errors every rank finds alike), rt_par_begin() once the
 * command line is checked, rt_par_end() after the outputs are committed.
 * Internal to the runtime's main archives.
 */
#ifndef HYENAC_RT_PAR_H
#define HYENAC_RT_PAR_H

#include <stdbool.h>
#include <stddef.h>

void rt_par_early(void);
void rt_par_begin(void);
void rt_par_end(void);
int rt_par_rank(void);
int rt_par_size(void);
/* The ranks of the job on this node, from the launcher's environment
 * (known before rt_par_begin): 1 outside MPI. */
int rt_par_local_size(void);
/* Whether this binary was compiled with --mpi. */
bool rt_par_is_mpi(void);
/* Messages are held back: a rank above 0 before rt_par_begin (rank 0
 * says the same thing). */
bool rt_par_quiet(void);
/* "rank R of N: " once a job has several ranks, else "". */
const char *rt_par_tag(void);
/* Rank 0's n bytes at p, on every rank. */
void rt_par_bcast(void *p, size_t n);
/* Wait until every rank is here; rank 0 calls tick(ctx) about every
 * quarter second meanwhile (its progress line), the others pass NULL. */
void rt_par_wait_all(void (*tick)(void *), void *ctx);
/* A rank is leaving with status != 0 after printing why: end the whole
 * job now (MPI_Abort), not leave the others waiting; after rt_par_all_ok
 * came out false, finalize MPI instead (every rank is leaving). Returns
 * where there is no job to end. */
void rt_par_fail(int status);
/* A step every rank of the job takes, each with its own ok: whether
 * every rank's was true (true outside a job of several ranks). Where it
 * is false the ranks leave together, each with its own line if it has
 * one: rt_par_fail then finalizes MPI rather than aborting, so that no
 * rank's abort cuts another's line short. */
bool rt_par_all_ok(bool ok);

#endif
