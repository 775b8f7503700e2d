/*
 * pool.c - the runtime's thread pool (hyrt_set_threads,
 * hyrt_parallel_for): how one forward of generated code uses every core.
 *
 * hyenac_run hands each row-wise kernel to hyrt_parallel_for as a range of
 * rows, and the long convolutions hand over their channel blocks. A job is
 * a function, its context, n items and a grain: the caller and the pool's
 * workers claim chunks of grain items from one atomic counter until none
 * are left, so a slow chunk (a long convolution's late rows, a core shared
 * with something else) does not hold the others back. The caller returns
 * when every chunk has finished.
 *
 * Workers are made when hyrt_set_threads first asks for them, with 16 MiB
 * stacks (generated kernels keep tiles of a few hundred KiB there), and
 * wait on a condition variable between jobs: an idle pool burns no core.
 * One job runs at a time. A call made while the pool is busy (from inside
 * a chunk, or from a second application thread, as the FASTA commands'
 * batch threads do) runs its items inline on the calling thread, so it
 * can never wait on itself.
 *
 * At exit the workers are told to stop and joined (an atexit handler),
 * so their stacks and thread-local FFT buffers are given back and leak
 * checkers see nothing; if the process exits from inside a job (a worker
 * out of memory), the handler leaves them be.
 */
#include "hyrt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

enum { MAX_WORKERS = 255, WORKER_STACK = 16 << 20 };

typedef struct Job {
	HyrtRowsFn fn;
	void *ctx;
	int64_t n, grain;
	atomic_int_fast64_t next; /* first unclaimed item */
	int active;               /* workers still in this job (under lock) */
} Job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER; /* workers: a job */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* caller: all out */
static pthread_t workers[MAX_WORKERS];
static int nworkers;     /* started */
static atomic_int want = 1; /* threads in use, the caller included;
                            * written under lock, read by any caller */
static Job *job;         /* the running job, or NULL */
static uint64_t job_seq; /* bumped per job, so a worker joins each once */
static atomic_bool busy; /* a job is running: nested calls go inline */
static bool quit;        /* exiting: workers return */

static void run_chunks(Job *j)
{
	for (;;) {
		int64_t lo = atomic_fetch_add(&j->next, j->grain);
		if (lo >= j->n)
			return;
		int64_t hi = lo + j->grain < j->n ? lo + j->grain : j->n;
		j->fn(j->ctx, lo, hi);
	}
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint64_t seen = 0;

	pthread_mutex_lock(&lock);
	for (;;) {
		while (!quit && (!job || job_seq == seen || id >= want - 1))
			pthread_cond_wait(&wake, &lock);
		if (quit)
			break;
		Job *j = job;
		seen = job_seq;
		j->active++;
		pthread_mutex_unlock(&lock);
		run_chunks(j);
		pthread_mutex_lock(&lock);
		if (--j->active == 0)
			pthread_cond_broadcast(&done);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void stop_workers(void)
{
	pthread_mutex_lock(&lock);
	if (job) { /* exit() from inside a job: nothing can be joined */
		pthread_mutex_unlock(&lock);
		return;
	}
	quit = true;
	pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < nworkers; i++)
		if (!pthread_equal(workers[i], pthread_self()))
			pthread_join(workers[i], NULL);
	nworkers = 0;
}

void hyrt_set_threads(int n)
{
	pthread_attr_t at;

	if (n < 1)
		n = 1;
	if (n > MAX_WORKERS + 1)
		n = MAX_WORKERS + 1;
	pthread_mutex_lock(&lock);
	static bool registered;
	if (!registered && n > 1)
		registered = atexit(stop_workers) == 0;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, WORKER_STACK);
	while (nworkers < n - 1) {
		if (pthread_create(&workers[nworkers], &at, worker,
		                   (void *)(intptr_t)nworkers) != 0)
			break; /* fewer threads; the work still gets done */
		nworkers++;
	}
	pthread_attr_destroy(&at);
	atomic_store(&want, n < nworkers + 1 ? n : nworkers + 1);
	pthread_mutex_unlock(&lock);
}

int hyrt_get_threads(void)
{
	return atomic_load(&want);
}

void hyrt_parallel_for(HyrtRowsFn fn, void *ctx, int64_t n, int64_t grain)
{
	Job j = {fn, ctx, n, grain < 1 ? 1 : grain, 0, 0};
	bool expect = false;

	if (n <= 0)
		return;
	/* one chunk, one thread, or the pool already taken: inline */
	if (j.grain >= n || want <= 1 ||
	    !atomic_compare_exchange_strong(&busy, &expect, true)) {
		atomic_store(&j.next, 0);
		run_chunks(&j);
		return;
	}
	atomic_store(&j.next, 0);
	pthread_mutex_lock(&lock);
	job = &j;
	job_seq++;
	pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
	run_chunks(&j);
	pthread_mutex_lock(&lock);
	job = NULL; /* late workers find nothing to join */
	while (j.active > 0)
		pthread_cond_wait(&done, &lock);
	pthread_mutex_unlock(&lock);
	atomic_store(&busy, false);
}
