/*
 * rt_shard.c - the shard plan, the journal and the gather (rt_shard.h).
 *
 * Rank 0 alone reads and writes the manifest and decides; the plan and
 * what was finished reach the other ranks by rt_par_bcast. A piece is
 * committed through outfile.c (a temporary beside it, renamed whole), so
 * a rank killed mid-shard leaves at most a temporary, which the signal
 * cleanup of outfile.c removes when it can; a stray NNNNNNNN.npy.tmp.*
 * left by SIGKILL is never read (only exact piece names count) and is
 * removed with the journal.
 *
 * Test hook (not for users; tests/test_mpi.c): when
 * HYENAC_TEST_KILL_RANK_AFTER_SHARDS is "R:K", rank R kills itself with
 * SIGKILL right after committing its K-th shard of the run, as a node
 * lost mid-job would ("*:K": every rank, so that exactly K N shards are
 * finished and the resume test is deterministic: with one rank killed,
 * the others would take its work from the queue); "R:K:fail"
 * makes it fail through rt_fail instead (a rank's error ending the job),
 * and "R:K:idle" makes it take no shard after its K-th (a rank stalled:
 * the others must take the rest from the queue).
 *
 * HYENAC_SHARD_LOG=DIR (for bench/mpi-scaling.sh --trace, and for anyone
 * asking where a job's time went): each rank writes DIR/rank-R.tsv, one
 * line an event, "EVENT<TAB>SHARD<TAB>SECONDS" (the wall clock, so that
 * the ranks of one node line up): plan when the rank reaches the plan
 * (its start-up done), ready when it has it, start and end around each
 * shard it runs, idle when the queue has nothing left for it.
 */
#include "rt_shard.h"
#include "rt_main.h"
#include "rt_par.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* HYENAC_SHARD_LOG's file. Rank 0 opens its own first, before the plan,
 * so that a directory nobody can write to is one rank's one line; the
 * others open theirs once they have the plan. */
static FILE *shard_log;

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void log_open(void)
{
	const char *dir = getenv("HYENAC_SHARD_LOG");
	char *p;

	if (shard_log || !dir || !*dir)
		return;
	if (asprintf(&p, "%s/rank-%d.tsv", dir, rt_par_rank()) < 0)
		rt_fail("out of memory");
	shard_log = fopen(p, "w");
	if (!shard_log)
		rt_fail("HYENAC_SHARD_LOG: %s: cannot write: %s", p,
		        strerror(errno));
	free(p);
}

static void log_at(const char *what, int64_t i, double t)
{
	if (!shard_log)
		return;
	fprintf(shard_log, "%s\t%" PRId64 "\t%.3f\n", what, i, t);
	fflush(shard_log);
}

static void log_event(const char *what, int64_t i)
{
	log_at(what, i, wall_now());
}

/* Weak, as in cpucheck.c: the argv fuzz target has no generated code. */
extern const char hyenac_target_cpu[] __attribute__((weak));
extern const char hyenac_target_features[] __attribute__((weak));

static const char magic[] = "hyenac journal 1\n";

uint32_t rt_shard_crc(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n > 0) {
		size_t k = n > (1u << 30) ? 1u << 30 : n;
		crc = (uint32_t)crc32_z(crc, c, k);
		c += k;
		n -= k;
	}
	return crc;
}

char *rt_shard_key_binary(const void *weights, size_t bytes)
{
	char *k;

	if (asprintf(&k, "model %s\nhyenac %s\nweights %zu bytes crc32 "
	             "%08" PRIx32 "\ntarget %s %s\n", hyenac_model_name,
	             HYRT_HYENAC_VERSION, bytes, rt_shard_crc(0, weights, bytes),
	             hyenac_target_cpu ? hyenac_target_cpu : "?",
	             hyenac_target_features ? hyenac_target_features : "?") < 0)
		rt_fail("out of memory");
	return k;
}

bool rt_shard_wanted(bool resume)
{
	return resume || rt_par_size() > 1;
}

/* Shard i's file of the journal with extension ext (a piece, a claim). */
static char *shard_path(const RtShards *s, int64_t i, const char *ext)
{
	char *p;

	if (asprintf(&p, "%s/%08" PRId64 ".%s", s->dir, i, ext) < 0)
		rt_fail("out of memory");
	return p;
}

static char *piece_path(const RtShards *s, int64_t i, int k)
{
	return shard_path(s, i, s->ext[k]);
}

static bool piece_done(const RtShards *s, int64_t i)
{
	for (int k = 0; k < s->nfiles; k++) {
		char *p = piece_path(s, i, k);
		struct stat st;
		bool ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);
		free(p);
		if (!ok)
			return false;
	}
	return true;
}

/* Consecutive shards, at least one item each, shrinking as the job goes
 * (guided self-scheduling): each holds about what is left / (4 N) tokens,
 * but no less than total / (64 N). The ranks start on the big ones; the
 * small ones at the end keep the last rank's last shard short, which
 * decides when the job ends (small-32k, 50 Mb, 16 ranks on shards of a
 * fixed total / (16 N), about 6 windows: the ranks ran out of work over
 * 10.6 s, 2.4% of the run). About 19 N shards in all (16 N before), so
 * the journal's files hardly grow. A rank on a core at half speed still
 * ends its first shard by half the job. */
enum { SHARD_FIRST = 4, SHARD_FLOOR = 64 };

static void cut(RtShards *s, const int32_t *tok, int64_t nitems)
{
	int64_t total = 0, N = rt_par_size();

	for (int64_t i = 0; i < nitems; i++)
		total += tok[i];
	int64_t least = total / (SHARD_FLOOR * N), left = total, want = 0;
	s->shard = calloc((size_t)(nitems ? nitems : 1), sizeof *s->shard);
	if (!s->shard)
		rt_fail("out of memory");
	s->n = 0;
	for (int64_t i = 0; i < nitems; i++) {
		RtShard *c = &s->shard[s->n];
		if (c->count == 0) {
			c->first = i;
			want = left / (SHARD_FIRST * N);
			want = want > least ? want : least;
		}
		c->count++;
		c->tokens += tok[i];
		left -= tok[i];
		if (c->tokens >= want || i + 1 == nitems)
			s->n++;
	}
	s->items = nitems;
	s->tokens = total;
}

/* The manifest: the magic, the key, then "shards N" and a line per
 * shard. */
static void write_manifest(const RtShards *s, const char *key)
{
	char *path;
	HyrtOut o;
	Diag d;

	if (asprintf(&path, "%s/MANIFEST", s->dir) < 0)
		rt_fail("out of memory");
	diag_init(&d);
	if (!hyrt_out_open(&o, path, &d))
		rt_fail_diag(&d);
	fprintf(o.f, "%s%sshards %" PRId64 "\n", magic, key, s->n);
	for (int64_t i = 0; i < s->n; i++)
		fprintf(o.f, "%" PRId64 " %" PRId64 " %" PRId64 "\n",
		        s->shard[i].first, s->shard[i].count,
		        s->shard[i].tokens);
	HyrtOut *one[1] = {&o};
	if (!hyrt_out_commit(one, 1, &d))
		rt_fail_diag(&d);
	free(path);
}

/* The first line where a and b differ, into buf (for the message). */
static void first_diff(const char *a, const char *b, char *buf, size_t cap)
{
	while (*a && *a == *b) {
		const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
		if (!ea || !eb || ea - a != eb - b || strncmp(a, b, (size_t)(ea - a)))
			break;
		a = ea + 1;
		b = eb + 1;
	}
	int na = (int)strcspn(a, "\n"), nb = (int)strcspn(b, "\n");
	snprintf(buf, cap, "it has '%.*s' where this run has '%.*s'",
	         na > 200 ? 200 : na, a, nb > 200 ? 200 : nb, b);
}

/* Read the manifest of an existing journal made for key (exit 1 when it
 * is another job's or damaged). */
static void read_manifest(RtShards *s, const char *key)
{
	char *path, *text = NULL, why[600];
	size_t cap = 0;
	FILE *f;

	if (asprintf(&path, "%s/MANIFEST", s->dir) < 0)
		rt_fail("out of memory");
	if (!(f = fopen(path, "rb")))
		rt_fail("%s: cannot read the journal's manifest: %s; remove "
		        "the journal %s to start over", path, strerror(errno),
		        s->dir);
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	size_t ml = strlen(magic), kl = strlen(key);
	if (n < 0 || strncmp(text, magic, ml) != 0)
		rt_fail("%s: not a hyenac journal manifest; remove the journal "
		        "%s to start over", path, s->dir);
	if (strncmp(text + ml, key, kl) != 0 ||
	    strncmp(text + ml + kl, "shards ", 7) != 0) {
		first_diff(text + ml, key, why, sizeof why);
		rt_fail("%s is the journal of another job (%s); remove it, or "
		        "resume with the command, binary and input that made it",
		        s->dir, why);
	}
	const char *p = text + ml + kl + 7;
	char *end;
	s->n = strtoll(p, &end, 10);
	bool ok = end != p && s->n >= 0 && s->n < (INT64_C(1) << 40);
	s->shard = calloc((size_t)(s->n > 0 ? s->n : 1), sizeof *s->shard);
	if (ok && !s->shard)
		rt_fail("out of memory");
	int64_t next = 0;
	for (int64_t i = 0; ok && i < s->n; i++) {
		RtShard *c = &s->shard[i];
		ok = sscanf(end, " %" SCNd64 " %" SCNd64 " %" SCNd64, &c->first,
		            &c->count, &c->tokens) == 3 &&
		     c->first == next && c->count > 0 && c->tokens >= 0;
		for (int w = 0; ok && w < 3; w++) {
			end += strspn(end, " \n");
			end += strcspn(end, " \n");
		}
		next += c->count;
		s->tokens += c->tokens;
	}
	if (!ok)
		rt_fail("%s: damaged journal manifest; remove the journal %s to "
		        "start over", path, s->dir);
	s->items = next;
	free(text);
	free(path);
}

static void clear(const char *dirpath);
static void remove_claims(const RtShards *s);

/* Whether the journal has its manifest: a journal without one was cut
 * short while being made or removed, and holds nothing to resume. */
static bool has_manifest(const char *dirpath)
{
	char *p;
	struct stat st;

	if (asprintf(&p, "%s/MANIFEST", dirpath) < 0)
		rt_fail("out of memory");
	bool ok = lstat(p, &st) == 0;
	free(p);
	return ok;
}

/* Rank 0's part of the plan: the journal checked, read or made. */
static void plan_rank0(RtShards *s, bool resume, const char *key,
                       const int32_t *tok, int64_t nitems, const char *what,
                       bool quiet)
{
	struct stat st;
	bool resumed = false;

	bool exists = stat(s->dir, &st) == 0, empty = false;
	if (exists && S_ISDIR(st.st_mode) && !has_manifest(s->dir)) {
		clear(s->dir); /* nothing to resume: start over in it */
		empty = true;
	}
	if (exists && !empty) {
		if (!resume)
			rt_usage("%s exists: the journal of an interrupted run; add "
			         "--resume to finish it, or remove it to start over",
			         s->dir);
		if (!S_ISDIR(st.st_mode))
			rt_fail("%s: is not a directory, so not a journal; remove it",
			        s->dir);
		read_manifest(s, key);
		remove_claims(s);
		resumed = true;
	} else {
		if (nitems < rt_par_size() && rt_par_size() > 1)
			rt_usage("%d ranks for %" PRId64 " %s: each rank needs one "
			         "at least; run at most %" PRId64 " rank(s)",
			         rt_par_size(), nitems, what,
			         nitems > 0 ? nitems : 1);
		if (!exists && mkdir(s->dir, 0755) != 0)
			rt_fail("%s: cannot create the journal: %s", s->dir,
			        strerror(errno));
		cut(s, tok, nitems);
		write_manifest(s, key);
	}
	s->done = calloc((size_t)(s->n > 0 ? s->n : 1), 1);
	if (!s->done)
		rt_fail("out of memory");
	int64_t ndone = 0;
	for (int64_t i = 0; i < s->n; i++)
		ndone += s->done[i] = piece_done(s, i);
	if (resumed && !quiet)
		rt_warn("resuming from %s: %" PRId64 " of %" PRId64 " shards "
		        "were finished; computing %" PRId64, s->dir, ndone, s->n,
		        s->n - ndone);
}

/* The shards not finished before this run, in order, for rt_shard_next:
 * rank r's first is the r-th of them, and the claims start past the
 * first N (one a rank), which therefore need none. */
static void assign(RtShards *s)
{
	int64_t N = rt_par_size(), me = rt_par_rank();

	for (int64_t i = 0; i < s->n; i++)
		if (s->done[i])
			s->tokens_done_before += s->shard[i].tokens;
	s->left = calloc((size_t)(s->n > 0 ? s->n : 1), sizeof *s->left);
	if (!s->left)
		rt_fail("out of memory");
	for (int64_t i = 0; i < s->n; i++)
		if (!s->done[i])
			s->left[s->nleft++] = i;
	s->first = me < s->nleft ? s->left[me] : -1;
	s->at = s->nleft < N ? s->nleft : N;
}

/* Whether this rank got shard i: its claim file made here, not found
 * made by another rank. */
static bool claim(const RtShards *s, int64_t i)
{
	char *p = shard_path(s, i, "claim");
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0 && errno != EEXIST)
		rt_fail("%s: cannot claim a shard of the job: %s", p,
		        strerror(errno));
	if (fd >= 0)
		close(fd);
	free(p);
	return fd >= 0;
}

/* The claims left by the run being resumed: its unfinished shards are
 * anyone's again. */
static void remove_claims(const RtShards *s)
{
	for (int64_t i = 0; i < s->n; i++) {
		char *p = shard_path(s, i, "claim");
		if (unlink(p) != 0 && errno != ENOENT)
			rt_fail("%s: cannot remove the claim of the interrupted "
			        "run: %s", p, strerror(errno));
		free(p);
	}
}

bool rt_shard_any(const RtShards *s)
{
	return s->nleft > 0;
}

int64_t rt_shard_next(RtShards *s)
{
	int64_t i = s->first;

	if (s->idle)
		return -1;
	if (i >= 0) {
		s->first = -1;
		return i;
	}
	/* one process has no one to race for a shard: no claim files */
	for (; s->at < s->nleft; s->at++)
		if (rt_par_size() == 1 || claim(s, s->left[s->at]))
			return s->left[s->at++];
	log_event("idle", -1);
	s->idle = true;
	return -1;
}

void rt_shard_plan(RtShards *s, const char *out, bool resume,
                   const char *key, const int32_t *item_tokens,
                   int64_t nitems, int nfiles, const char *ext0,
                   const char *ext1, const char *what, bool quiet)
{
	double t_plan = wall_now();
	if (rt_par_rank() == 0)
		log_open();
	memset(s, 0, sizeof *s);
	s->nfiles = nfiles;
	s->ext[0] = ext0;
	s->ext[1] = ext1;
	if (asprintf(&s->dir, "%s.hyenac-journal", out) < 0)
		rt_fail("out of memory");
	if (rt_par_rank() == 0)
		plan_rank0(s, resume, key, item_tokens, nitems, what, quiet);
	int64_t head[3] = {s->n, s->items, s->tokens};
	rt_par_bcast(head, sizeof head);
	if (rt_par_rank() != 0) {
		s->n = head[0];
		s->items = head[1];
		s->tokens = head[2];
		s->shard = calloc((size_t)(s->n > 0 ? s->n : 1), sizeof *s->shard);
		s->done = calloc((size_t)(s->n > 0 ? s->n : 1), 1);
		if (!s->shard || !s->done)
			rt_fail("out of memory");
	}
	rt_par_bcast(s->shard, (size_t)s->n * sizeof *s->shard);
	rt_par_bcast(s->done, (size_t)s->n);
	assign(s);
	log_open();
	log_at("plan", -1, t_plan);
	log_event("ready", -1);
}

void rt_shard_open(RtShards *s, int64_t i, HyrtOut *const *o)
{
	Diag d;

	log_event("start", i);
	s->running = i;
	diag_init(&d);
	for (int k = 0; k < s->nfiles; k++) {
		char *p = piece_path(s, i, k);
		if (!hyrt_out_open(o[k], p, &d))
			rt_fail_diag(&d);
		free(p);
	}
}

/* The test hook (see the top of this file). */
static void test_kill(RtShards *s)
{
	const char *v = getenv("HYENAC_TEST_KILL_RANK_AFTER_SHARDS");
	char how[8] = "";
	int r = -1, k;

	if (!v || (*v == '*' ? sscanf(v + 1, ":%d:%7s", &k, how) < 1
	                     : sscanf(v, "%d:%d:%7s", &r, &k, how) < 2) ||
	    (r >= 0 && r != rt_par_rank()) || s->committed != k)
		return;
	if (strcmp(how, "idle") == 0) {
		s->idle = true;
		return;
	}
	if (strcmp(how, "fail") == 0)
		rt_fail("failing after %d shard(s), as "
		        "HYENAC_TEST_KILL_RANK_AFTER_SHARDS asks", k);
	raise(SIGKILL);
}

void rt_shard_commit(RtShards *s, HyrtOut *const *o)
{
	Diag d;

	diag_init(&d);
	if (!hyrt_out_commit(o, s->nfiles, &d))
		rt_fail_diag(&d);
	log_event("end", s->running);
	s->committed++;
	test_kill(s);
}

void rt_shard_count(const RtShards *s, int64_t *shards, int64_t *items,
                    int64_t *tokens)
{
	*shards = *items = *tokens = 0;
	for (int64_t i = 0; i < s->n; i++)
		if (s->done[i] || piece_done(s, i)) {
			(*shards)++;
			*items += s->shard[i].count;
			*tokens += s->shard[i].tokens;
		}
}

FILE *rt_shard_read(const RtShards *s, int64_t i, int k, char **path)
{
	char *p = piece_path(s, i, k);
	FILE *f = fopen(p, "rb");

	if (!f)
		rt_fail("%s: a finished piece is missing from the journal (%s); "
		        "run again with --resume", p, strerror(errno));
	*path = p;
	return f;
}

void rt_shard_gather(RtShards *s, HyrtOut *const *final)
{
	static char buf[1 << 20];
	Diag d;

	diag_init(&d);
	for (int k = 0; k < s->nfiles; k++) {
		if (!final[k])
			continue;
		for (int64_t i = 0; i < s->n; i++) {
			char *p;
			FILE *f = rt_shard_read(s, i, k, &p);
			size_t n;
			while ((n = fread(buf, 1, sizeof buf, f)) > 0)
				if (!hyrt_out_write(final[k], buf, n, &d))
					rt_fail_diag(&d);
			if (ferror(f))
				rt_fail("%s: read error", p);
			fclose(f);
			free(p);
		}
	}
}

/* Everything in the journal, the manifest first: pieces without their
 * manifest are never read (plan_rank0 clears them). */
static void clear(const char *dirpath)
{
	DIR *dir = opendir(dirpath);
	struct dirent *e;
	char *p;

	if (asprintf(&p, "%s/MANIFEST", dirpath) >= 0) {
		unlink(p);
		free(p);
	}
	while (dir && (e = readdir(dir))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (asprintf(&p, "%s/%s", dirpath, e->d_name) >= 0) {
			unlink(p);
			free(p);
		}
	}
	if (dir)
		closedir(dir);
}

void rt_shard_remove(RtShards *s)
{
	clear(s->dir);
	if (rmdir(s->dir) != 0)
		rt_warn("warning: %s: cannot remove the journal: %s", s->dir,
		        strerror(errno));
}

void rt_shard_free(RtShards *s)
{
	free(s->dir);
	free(s->shard);
	free(s->done);
	free(s->left);
	memset(s, 0, sizeof *s);
}
