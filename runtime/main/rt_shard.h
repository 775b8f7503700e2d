/*
 * rt_shard.h - a job cut into shards, each finished piece kept in a
 * journal beside the output, so that the ranks of an MPI job split the
 * work and an interrupted job resumes (`--resume`) computing only what
 * had not finished. Used by the commands on token files (rt_main.c: rows),
 * on FASTA (rt_fasta.c: windows) and on VCF (rt_vep.c: records, whose
 * pieces hold the records' scores, not their bytes: rank 0 writes the
 * output itself); the processes are rt_par.h's.
 *
 * The plan: the items of the job (rows, windows) in input order are cut
 * into consecutive shards that shrink as the job goes: each about what
 * is left / (4 N) tokens, at least total / (64 N) (N the ranks of the run
 * that made the plan, at least one item a shard). The plan is
 * written once, into the journal's manifest, with a key: the binary (its
 * model, weights' CRC-32 and target), the command, every option that
 * changes a byte of the output, and the input's content (a CRC-32 over
 * the tokens and, for FASTA, each window's record and coordinates). A
 * resumed run takes the manifest's plan (so a different N, threads or
 * --batch is fine: none changes a byte) and refuses a journal whose key
 * differs, naming the first line that does. Resuming, rank 0 says on
 * stderr how many shards were finished and how many it computes now.
 *
 * Each run hands out the shards not yet finished as a queue, so that a
 * rank on a faster core (or a GPU, or a less loaded node) takes more of
 * them and the job ends when the work does, not when its slowest rank's
 * fixed share does: rank r starts with the r-th unfinished shard (so
 * every rank has one at once, when there are enough), then each rank
 * claims the lowest shard past those first N that no rank has claimed.
 * A claim is a file NNNNNNNN.claim created in the journal with O_EXCL,
 * which the filesystem makes atomic (local, NFSv3 and later, Lustre,
 * GPFS): no rank serves the queue, so a rank deep in a forward that
 * takes seconds delays nobody (MPI one-sided atomics would need the
 * target rank's progress on common transports). Claims go in ascending
 * order on every rank, so the readers (FASTA, VCF) only ever skip
 * forward. A rank computes each shard it gets into pieces (one per
 * output file: OUT.hyenac-journal/NNNNNNNN.npy, .tsv) written through
 * runtime/outfile.c, so a piece is whole or absent. At the end rank 0
 * waits for every rank, copies the pieces in shard order after the
 * outputs' headers into the outputs (committed by the caller through
 * outfile.c), then removes the journal. Rows do not depend on the batch
 * they ran in, so the bytes are those of one process, whichever rank
 * computed which shard. A resumed run first removes the claims of the
 * run it resumes (only finished pieces count).
 *
 * Journal: OUT.hyenac-journal/ (for -o X.npy: X.npy.hyenac-journal),
 * with MANIFEST and the pieces; on a filesystem every rank sees.
 */
#ifndef HYENAC_RT_SHARD_H
#define HYENAC_RT_SHARD_H

#include "runtime/outfile.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

typedef struct RtShard {
	int64_t first, count, tokens; /* items [first, first + count) */
} RtShard;

enum { RT_SHARD_FILES = 2 };

typedef struct RtShards {
	char *dir;      /* the journal */
	int nfiles;     /* pieces a shard: 1 or 2 */
	const char *ext[RT_SHARD_FILES];
	int64_t n;      /* shards */
	RtShard *shard;
	unsigned char *done; /* finished before this run began */
	int64_t *left, nleft; /* not finished when this run began, in order */
	int64_t first;   /* rt_shard_next: this rank's first shard, until taken
	                  * (-1 then, or when it has none) */
	int64_t at;      /* where this rank's scan of left for claims is */
	bool idle;
	int64_t items, tokens, tokens_done_before;
	int64_t committed; /* by this rank in this run */
	int64_t running;   /* the shard opened last (HYENAC_SHARD_LOG) */
} RtShards;

/* Whether the command runs sharded: --resume, or several ranks. */
bool rt_shard_wanted(bool resume);
/* Check out's journal and plan the job, collectively. Rank 0 passes the
 * key (lines of text) and each item's tokens (item_tokens[nitems]); the
 * other ranks pass NULL and get the plan. what names the items for
 * messages ("windows of F.fa"). Exits with one line on a journal of
 * another job, an existing journal without --resume, a journal that
 * cannot be made, or more ranks than items. */
void rt_shard_plan(RtShards *s, const char *out, bool resume,
                   const char *key, const int32_t *item_tokens,
                   int64_t nitems, int nfiles, const char *ext0,
                   const char *ext1, const char *what, bool quiet);
/* Whether this run has shards to compute (some rank will get them). */
bool rt_shard_any(const RtShards *s);
/* The next shard for this rank to compute, or -1 when the queue is
 * empty; ascending on every rank (exit 1 when a claim cannot be made). */
int64_t rt_shard_next(RtShards *s);
/* Open shard i's pieces (o[nfiles]) / commit them (exit 1 on error). */
void rt_shard_open(RtShards *s, int64_t i, HyrtOut *const *o);
void rt_shard_commit(RtShards *s, HyrtOut *const *o);
/* Finished shards, items and tokens as the journal shows now (rank 0's
 * progress line). */
void rt_shard_count(const RtShards *s, int64_t *shards, int64_t *items,
                    int64_t *tokens);
/* Rank 0, after rt_par_wait_all: every piece of kind k appended to
 * final[k], in shard order (exit 1 when one is missing). */
void rt_shard_gather(RtShards *s, HyrtOut *const *final);
/* Rank 0, after rt_par_wait_all: shard i's piece of kind k to read
 * (exit 1 when it is missing); *path its name, for messages (free it). */
FILE *rt_shard_read(const RtShards *s, int64_t i, int k, char **path);
/* Rank 0, after the outputs are committed: the journal removed. */
void rt_shard_remove(RtShards *s);
void rt_shard_free(RtShards *s);
/* A CRC-32 (zlib's) of n bytes after crc; 0 starts one. */
uint32_t rt_shard_crc(uint32_t crc, const void *p, size_t n);
/* The key's first lines: the binary (model, weights, target). */
char *rt_shard_key_binary(const void *weights, size_t bytes);

#endif
