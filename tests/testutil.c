/*
 * testutil.c - see testutil.h. Runs child processes with fork/exec so a test
 * can tell an exit code from a crash.
 */
#include "testutil.h"

#include <math.h>

#include "runtime/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char ring[16][4096];
static int ring_i;

static char *next_buf(void)
{
	ring_i = (ring_i + 1) % 16;
	return ring[ring_i];
}

static char tmp_dir[1024];
static pid_t tmp_owner;

/* nftw callbacks: directories made writable first (a test may leave one
 * read-only, to try an unwritable output), then everything removed,
 * the contents before their directory. */
static int open_up(const char *p, const struct stat *st, int flag,
                   struct FTW *f)
{
	if (flag == FTW_D || flag == FTW_DNR) /* DNR: not listed this pass */
		chmod(p, st->st_mode | S_IRWXU);
	return 0;
}

static int remove_one(const char *p, const struct stat *st, int flag,
                      struct FTW *f)
{
	remove(p);
	return 0;
}

/* At exit, in the process that made the scratch directory only (a
 * forked test that inherits its parent's leaves it to the parent), unless
 * HYENAC_TEST_KEEP_TMP is set: every test run would otherwise leave its
 * models and outputs behind, and a machine's /tmp fills up. */
static void remove_tmpdir(void)
{
	if (!tmp_dir[0] || getpid() != tmp_owner ||
	    getenv("HYENAC_TEST_KEEP_TMP"))
		return;
	nftw(tmp_dir, open_up, 16, FTW_PHYS);
	nftw(tmp_dir, remove_one, 16, FTW_PHYS | FTW_DEPTH);
}

const char *tu_tmpdir(void)
{
	if (!tmp_dir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmp_dir, sizeof tmp_dir, "%s/hyenac-test-XXXXXX",
		         base ? base : "/tmp");
		if (!mkdtemp(tmp_dir)) {
			perror("mkdtemp");
			exit(99);
		}
		tmp_owner = getpid();
		atexit(remove_tmpdir);
	}
	return tmp_dir;
}

const char *tu_path(const char *dir, const char *name)
{
	char *b = next_buf();
	snprintf(b, 4096, "%s/%s", dir, name);
	return b;
}

const char *tu_golden(const char *case_name, const char *file)
{
	char *b = next_buf();
	snprintf(b, 4096, "%s/%s%s%s", HYENAC_GOLDEN_DIR, case_name,
	         file ? "/" : "", file ? file : "");
	return b;
}

const char *tu_source(const char *rel)
{
	return tu_path(HYENAC_SOURCE_DIR, rel);
}

const char *tu_write(const char *name, const void *data, size_t n)
{
	const char *p = tu_path(tu_tmpdir(), name);
	FILE *f = fopen(p, "wb");
	ck_assert_msg(f != NULL, "cannot create %s", p);
	ck_assert(fwrite(data, 1, n, f) == n);
	fclose(f);
	return p;
}

const char *tu_write_str(const char *name, const char *text)
{
	return tu_write(name, text, strlen(text));
}

char *tu_read(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)len + 1);
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[len] = 0;
	fclose(f);
	if (n)
		*n = (size_t)len;
	return buf;
}

/* Read what fd has into buf (keeping at most cap - 1 bytes, then
 * discarding); false at end of file. */
static bool drain(int fd, char *buf, size_t cap, size_t *len)
{
	char sink[4096];
	bool room = *len + 1 < cap;
	ssize_t k = read(fd, room ? buf + *len : sink,
	                 room ? cap - 1 - *len : sizeof sink);
	if (k > 0 && room)
		*len += (size_t)k;
	buf[*len] = 0;
	return k > 0 || (k < 0 && errno == EINTR);
}

/* Both pipes at once: a child that fills one while the other is being
 * read to its end would otherwise block forever (a linker's pages of
 * errors did). */
static void slurp2(int out, char *obuf, size_t ocap, int err, char *ebuf,
                   size_t ecap)
{
	struct pollfd p[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
	size_t olen = 0, elen = 0;
	obuf[0] = ebuf[0] = 0;
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents && !drain(out, obuf, ocap, &olen))
			p[0].fd = -1;
		if (p[1].revents && !drain(err, ebuf, ecap, &elen))
			p[1].fd = -1;
	}
}

void tu_run(RunResult *r, const char *prog, const char *const *args)
{
	const char *argv[64];
	int n = 0, out[2], err[2], st;
	pid_t pid;

	memset(r, 0, sizeof *r);
	argv[n++] = prog;
	for (; args && *args && n < 63; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	ck_assert(pipe(out) == 0 && pipe(err) == 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	slurp2(out[0], r->out, sizeof r->out, err[0], r->err, sizeof r->err);
	close(out[0]);
	close(err[0]);
	ck_assert(waitpid(pid, &st, 0) == pid);
	if (WIFSIGNALED(st)) {
		r->status = -1;
		r->signal = WTERMSIG(st);
	} else {
		r->status = WEXITSTATUS(st);
	}
}

void tu_run_hyenac(RunResult *r, const char *const *args)
{
	tu_run(r, HYENAC_BIN, args);
}

int tu_lines(const char *s)
{
	int n = 0;
	size_t len = strlen(s);
	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	if (len && s[len - 1] != '\n')
		n++;
	return n;
}

int tu_main(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

double tu_max_abs_diff(const float *a, const float *b, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)a[i] - (double)b[i]);
		if (!(e <= m)) /* NaN counts as infinitely wrong */
			m = isnan(e) ? INFINITY : e;
	}
	return m;
}

void tu_load_npy(const char *path, NpyArray *a)
{
	Diag d;
	diag_init(&d);
	ck_assert_msg(npy_load(path, a, &d), "%s", d.msg);
}
