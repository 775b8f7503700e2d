/*
 * outfile.c - streamed outputs renamed into place whole (outfile.h).
 *
 * The cleanup table is a fixed array of names and flags, written only by
 * the one thread that opens and commits outputs; the signal handler only
 * reads it. A name is stored before its flag is raised and the flag is
 * dropped before the name is freed, so the handler never sees a half-made
 * entry. Leans on base.h for Diag.
 */
#include "outfile.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { NAME_MAX_BYTES = 4096 };

static char live_name[HYRT_OUT_MAX][NAME_MAX_BYTES];
static volatile sig_atomic_t live[HYRT_OUT_MAX];

/* Signals that end the run: the interactive ones (blocked while a set of
 * outputs is renamed), then crashes, which get the same cleanup. */
static const int caught[] = {SIGINT, SIGTERM, SIGHUP};
static const int fatal[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT,
                            SIGSEGV, SIGBUS, SIGILL, SIGFPE};

static void on_signal(int sig)
{
	for (int i = 0; i < HYRT_OUT_MAX; i++)
		if (live[i])
			unlink(live_name[i]);
	signal(sig, SIG_DFL);
	raise(sig);
}

void hyrt_out_abort_all(void)
{
	for (int i = 0; i < HYRT_OUT_MAX; i++)
		if (live[i]) {
			live[i] = 0;
			unlink(live_name[i]);
		}
}

void hyrt_out_install_cleanup(void)
{
	static bool done;
	struct sigaction sa;

	if (done)
		return;
	done = true;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof caught / sizeof *caught; i++)
		sigaddset(&sa.sa_mask, caught[i]);
	for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++) {
		struct sigaction old;
		/* Leave a signal the parent chose to ignore ignored. */
		if (sigaction(fatal[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaction(fatal[i], &sa, NULL);
	}
	atexit(hyrt_out_abort_all);
}

static void block_signals(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	for (size_t i = 0; i < sizeof caught / sizeof *caught; i++)
		sigaddset(&s, caught[i]);
	sigprocmask(SIG_BLOCK, &s, old);
}

static void forget(HyrtOut *o)
{
	if (o->slot >= 0)
		live[o->slot] = 0;
	o->slot = -1;
	free(o->path);
	free(o->tmp);
	o->path = o->tmp = NULL;
}

bool hyrt_out_open(HyrtOut *o, const char *path, Diag *d)
{
	size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
	int fd;

	memset(o, 0, sizeof *o);
	o->slot = -1;
	if (n > NAME_MAX_BYTES) {
		diag_error(d, "%s: path too long", path);
		return false;
	}
	for (int i = 0; i < HYRT_OUT_MAX && o->slot < 0; i++)
		if (!live[i])
			o->slot = i;
	HY_ASSERT(o->slot >= 0);
	o->path = strdup(path);
	o->tmp = malloc(n);
	if (!o->path || !o->tmp) {
		forget(o);
		diag_error(d, "%s: out of memory", path);
		return false;
	}
	snprintf(o->tmp, n, "%s.tmp.XXXXXX", path);
	/* Take the slot before the file exists: a signal between mkstemp
	 * and the flag would leave it behind. The name is final only after
	 * mkstemp, so the handler may try the template once: harmless. */
	memcpy(live_name[o->slot], o->tmp, n);
	live[o->slot] = 1;
	fd = mkstemp(live_name[o->slot]);
	if (fd < 0) {
		diag_error(d, "%s: cannot create: %s", path, strerror(errno));
		forget(o);
		return false;
	}
	memcpy(o->tmp, live_name[o->slot], n);
	(void)fchmod(fd, 0644);
	o->f = fdopen(fd, "wb");
	if (!o->f) {
		diag_error(d, "%s: cannot write: %s", path, strerror(errno));
		close(fd);
		hyrt_out_abort(o);
		return false;
	}
	setvbuf(o->f, NULL, _IOFBF, 1 << 20);
	return true;
}

bool hyrt_out_write(HyrtOut *o, const void *p, size_t n, Diag *d)
{
	if (n == 0 || fwrite(p, 1, n, o->f) == n)
		return true;
	diag_error(d, "%s: write error: %s", o->path, strerror(errno));
	return false;
}

void hyrt_out_abort(HyrtOut *o)
{
	if (o->f)
		fclose(o->f);
	o->f = NULL;
	if (o->tmp && o->slot >= 0)
		unlink(o->tmp);
	forget(o);
}

bool hyrt_out_commit(HyrtOut *const *outs, int n, Diag *d)
{
	sigset_t old;
	bool ok = true;

	for (int i = 0; i < n && ok; i++) {
		HyrtOut *o = outs[i];
		if (fflush(o->f) != 0 || ferror(o->f)) {
			diag_error(d, "%s: write error: %s", o->path,
			           strerror(errno));
			ok = false;
		}
		if (fclose(o->f) != 0 && ok) {
			diag_error(d, "%s: write error: %s", o->path,
			           strerror(errno));
			ok = false;
		}
		o->f = NULL;
	}
	block_signals(&old);
	for (int i = 0; i < n && ok; i++) {
		if (rename(outs[i]->tmp, outs[i]->path) != 0) {
			diag_error(d, "%s: cannot rename %s into place: %s",
			           outs[i]->path, outs[i]->tmp, strerror(errno));
			ok = false;
			break;
		}
		forget(outs[i]);
	}
	for (int i = 0; i < n; i++)
		hyrt_out_abort(outs[i]);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ok;
}

/* ---- .npy with the row count written last ----------------------------- */

static const char *f32_descr(void)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return ">f4";
#else
	return "<f4";
#endif
}

static bool put_header(HyrtOut *o, int rank, const int64_t *dim, Diag *d)
{
	unsigned char h[HYRT_NPY_STREAM_HEADER];
	char shape[128];
	size_t len = 0;
	int n;

	HY_ASSERT(rank >= 1 && rank <= 3);
	len += (size_t)snprintf(shape, sizeof shape, "(");
	for (int i = 0; i < rank; i++)
		len += (size_t)snprintf(shape + len, sizeof shape - len,
		                        "%lld,%s", (long long)dim[i],
		                        i + 1 < rank ? " " : "");
	if (rank > 1)
		shape[--len] = 0; /* "(a,)" only for rank 1 */
	snprintf(shape + len, sizeof shape - len, ")");
	memcpy(h, "\x93NUMPY\x01\x00", 8);
	h[8] = (HYRT_NPY_STREAM_HEADER - 10) & 0xff;
	h[9] = (HYRT_NPY_STREAM_HEADER - 10) >> 8;
	n = snprintf((char *)h + 10, sizeof h - 10,
	             "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
	             f32_descr(), shape);
	HY_ASSERT(n > 0 && 10 + (size_t)n + 1 <= sizeof h);
	memset(h + 10 + n, ' ', sizeof h - 10 - (size_t)n - 1);
	h[sizeof h - 1] = '\n';
	return hyrt_out_write(o, h, sizeof h, d);
}

bool hyrt_npy_stream_begin(HyrtOut *o, Diag *d)
{
	int64_t zero = 0;
	return put_header(o, 1, &zero, d);
}

bool hyrt_npy_stream_finish(HyrtOut *o, int rank, const int64_t *dim,
                            Diag *d)
{
	if (fflush(o->f) != 0 || fseek(o->f, 0, SEEK_SET) != 0) {
		diag_error(d, "%s: write error: %s", o->path, strerror(errno));
		return false;
	}
	if (!put_header(o, rank, dim, d))
		return false;
	if (fseek(o->f, 0, SEEK_END) != 0) {
		diag_error(d, "%s: write error: %s", o->path, strerror(errno));
		return false;
	}
	return true;
}
