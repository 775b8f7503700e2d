/*
 * outfile.c - outputs checked, written beside their target and renamed
 * into place whole (outfile.h).
 *
 * The cleanup table is a fixed array of names and kinds (file or private
 * directory), written only by the one thread that opens and commits
 * outputs; the signal handler only reads it. A name is stored before its
 * kind is raised and the kind is dropped before the name is reused, so
 * the handler never sees a half-made entry. Leans on base.h for Diag.
 */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { NAME_MAX_BYTES = 4096, MAX_LINKS = 40 };
enum { FREE = 0, A_FILE = 1, A_DIR = 2, RESERVED = 3 };

static char live_name[HYRT_OUT_MAX][NAME_MAX_BYTES];
static volatile sig_atomic_t live[HYRT_OUT_MAX];
static volatile sig_atomic_t child_pgid;

/* Signals that end the run: the interactive ones (blocked while a set of
 * outputs is renamed), then crashes, which get the same cleanup. */
static const int caught[] = {SIGINT, SIGTERM, SIGHUP};
static const int fatal[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT,
                            SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGXFSZ};

/* Files first, then the private directories they were in. A child still
 * writing there is killed first; one of its own children may create a
 * file an instant after, so a directory that will not go is tried again
 * for a while. Async-signal-safe throughout. */
static void remove_live(void)
{
	pid_t pg = (pid_t)child_pgid;

	if (pg > 0) {
		kill(-pg, SIGKILL);
		waitpid(pg, NULL, 0);
		child_pgid = 0;
	}
	for (int tries = 0; tries < 100; tries++) {
		bool left = false;
		for (int i = 0; i < HYRT_OUT_MAX; i++)
			if (live[i] == A_FILE)
				unlink(live_name[i]);
		for (int i = 0; i < HYRT_OUT_MAX; i++)
			if (live[i] == A_DIR && rmdir(live_name[i]) != 0 &&
			    errno != ENOENT)
				left = true;
		if (!left || pg <= 0)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static void on_signal(int sig)
{
	remove_live();
	signal(sig, SIG_DFL);
	raise(sig);
}

void hyrt_out_abort_all(void)
{
	remove_live();
	for (int i = 0; i < HYRT_OUT_MAX; i++)
		live[i] = FREE;
}

void hyrt_out_set_child(pid_t pgid)
{
	child_pgid = (sig_atomic_t)pgid;
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

/* A free table entry holding name (kind set by the caller), or -1.
 * Taken under a lock, marked RESERVED until the caller sets its kind:
 * the FFT convolution's wisdom file (fftconv.c) is written from whichever
 * pool thread made a plan, while another thread may open an output. */
static int take_slot(const char *name)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	size_t n = strlen(name) + 1;
	int slot = -1;

	if (n > NAME_MAX_BYTES)
		return -1;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < HYRT_OUT_MAX && slot < 0; i++)
		if (live[i] == FREE) {
			memcpy(live_name[i], name, n);
			live[i] = RESERVED;
			slot = i;
		}
	pthread_mutex_unlock(&lock);
	HY_ASSERT(slot >= 0 && "cleanup table full");
	return slot;
}

/* ---- naming checks ---------------------------------------------------- */

static void usage_error(Diag *d, const char *fmt, ...) HY_PRINTF(2, 3);
static void usage_error(Diag *d, const char *fmt, ...)
{
	va_list ap;
	bool first = d->nerr == 0;

	va_start(ap, fmt);
	diag_verror(d, fmt, ap);
	va_end(ap);
	if (first)
		d->usage = true;
}

/* path with every symlink of its last component followed, dangling or
 * not (malloc'd), or NULL with d set. A relative link is relative to the
 * link's directory. */
static char *resolve(const char *path, Diag *d)
{
	char *cur = strdup(path);

	for (int hops = 0; cur; hops++) {
		char buf[NAME_MAX_BYTES];
		struct stat st;
		ssize_t n;

		if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
			return cur;
		if (hops == MAX_LINKS ||
		    (n = readlink(cur, buf, sizeof buf - 1)) < 0) {
			diag_error(d, "%s: cannot follow the link: %s", path,
			           hops == MAX_LINKS ? strerror(ELOOP)
			                             : strerror(errno));
			free(cur);
			return NULL;
		}
		buf[n] = 0;
		const char *slash = strrchr(cur, '/');
		char *next;
		if (buf[0] == '/' || !slash) {
			next = strdup(buf);
		} else {
			size_t k = (size_t)(slash - cur) + 1;
			next = malloc(k + (size_t)n + 1);
			if (next) {
				memcpy(next, cur, k);
				memcpy(next + k, buf, (size_t)n + 1);
			}
		}
		free(cur);
		cur = next;
	}
	diag_error(d, "%s: out of memory", path);
	return NULL;
}

/* Whether two resolved names are one file: the same inode when both
 * exist, else the same name in the same directory. */
static bool one_file(const char *a, const char *b)
{
	struct stat sa, sb;
	const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
	char da[NAME_MAX_BYTES], db[NAME_MAX_BYTES];

	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	if (strcmp(ba ? ba + 1 : a, bb ? bb + 1 : b) != 0)
		return false;
	snprintf(da, sizeof da, "%.*s", ba ? (int)(ba - a) + 1 : 1,
	         ba ? a : ".");
	snprintf(db, sizeof db, "%.*s", bb ? (int)(bb - b) + 1 : 1,
	         bb ? b : ".");
	return stat(da, &sa) == 0 && stat(db, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool hyrt_out_distinct(const char *a, const char *b, Diag *d)
{
	char *ra = resolve(a, d), *rb = ra ? resolve(b, d) : NULL;
	bool same = ra && rb && one_file(ra, rb);

	if (ra && rb && same)
		usage_error(d, "%s and %s are one file (through a link); each "
		            "output needs its own", a, b);
	else if (!ra || !rb)
		d->usage = true;
	free(ra);
	free(rb);
	return ra && rb && !same;
}

static const char *kind_of(mode_t m)
{
	return S_ISDIR(m)    ? "a directory"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISSOCK(m) ? "a socket"
	                     : "not a regular file";
}

/* False (d set) when the target exists and is not a regular file. */
static bool replaceable(const char *path, const char *target, Diag *d)
{
	struct stat st;

	if (lstat(target, &st) != 0 || S_ISREG(st.st_mode) ||
	    S_ISLNK(st.st_mode))
		return true;
	if (strcmp(path, target) == 0)
		usage_error(d, "%s: is %s; an output replaces only a regular "
		            "file", path, kind_of(st.st_mode));
	else
		usage_error(d, "%s: links to %s, which is %s; an output replaces "
		            "only a regular file", path, target,
		            kind_of(st.st_mode));
	return false;
}

/* The extension of path's last component ("" when none). */
static const char *extension(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');
	return dot && dot != base && dot[1] ? dot + 1 : "";
}

/* Whether extension e is one of ext's '|'-separated kinds ("bedgraph|bg"). */
static bool ext_is(const char *e, const char *ext)
{
	size_t n = strlen(e);

	for (const char *k = ext; k; k = strchr(k, '|') ? strchr(k, '|') + 1
	                                                : NULL)
		if (strncmp(k, e, n) == 0 && (k[n] == '\0' || k[n] == '|'))
			return true;
	return false;
}

/* ext as a message says it: "bedgraph|bg" -> ".bedgraph or .bg". */
static const char *ext_words(char *buf, size_t cap, const char *ext)
{
	size_t at = 0;

	for (const char *k = ext; *k && at + 8 < cap; k++) {
		if (k == ext || k[-1] == '|')
			buf[at++] = '.';
		if (*k == '|') {
			memcpy(buf + at, " or ", 4);
			at += 4;
		} else {
			buf[at++] = *k;
		}
	}
	buf[at] = '\0';
	return buf;
}

bool hyrt_out_check(const char *path, const char *ext, bool may_stdout,
                    const char *what, const char *const *inputs, Diag *d)
{
	char words[64];
	struct stat out, in;
	const char *e;
	char *target;

	if (!*path) {
		usage_error(d, "-o '': the output name is empty");
		return false;
	}
	if (strcmp(path, "-") == 0) {
		if (may_stdout)
			return true;
		usage_error(d, "-o -: %s writes a%s%s file, not to standard "
		            "output; name a file", what, ext ? " " : "",
		            ext ? ext_words(words, sizeof words, ext) : "");
		return false;
	}
	if (ext && *(e = extension(path)) && !ext_is(e, ext)) {
		usage_error(d, "%s: %s writes a %s file, not .%s; name the "
		            "output X.%.*s (or give no extension)", path, what,
		            ext_words(words, sizeof words, ext), e,
		            (int)strcspn(ext, "|"), ext);
		return false;
	}
	if (!(target = resolve(path, d))) {
		d->usage = d->nerr == 1;
		return false;
	}
	bool ok = replaceable(path, target, d);
	if (ok && stat(target, &out) == 0)
		for (; inputs && *inputs && ok; inputs++) {
			bool std = strcmp(*inputs, "-") == 0;
			if ((std ? fstat(0, &in) : stat(*inputs, &in)) != 0 ||
			    in.st_dev != out.st_dev || in.st_ino != out.st_ino)
				continue;
			usage_error(d, "%s: is the input %s; writing the output "
			            "there would destroy it", path,
			            std ? "<stdin>" : *inputs);
			ok = false;
		}
	free(target);
	return ok;
}

/* ---- temporaries ------------------------------------------------------ */

static void forget(HyrtOut *o)
{
	for (int i = 0; i < o->nslot; i++) {
		live[o->slot[i]] = FREE;
		free(o->name[i]);
		o->name[i] = NULL;
	}
	o->nslot = 0;
	free(o->path);
	free(o->target);
	free(o->tmp);
	free(o->dir);
	o->path = o->target = o->tmp = o->dir = NULL;
}

/* Remove o's files, then its directory; the names stay registered until
 * forget. */
static void remove_files(HyrtOut *o)
{
	for (int i = 0; i < o->nslot; i++)
		if (live[o->slot[i]] == A_FILE)
			unlink(live_name[o->slot[i]]);
	if (o->dir)
		rmdir(o->dir);
}

/* Register name as kind in o, or false when the name is too long. */
static bool hold(HyrtOut *o, const char *name, int kind)
{
	HY_ASSERT(o->nslot < HYRT_OUT_FILES);
	int s = take_slot(name);
	if (s < 0)
		return false;
	o->slot[o->nslot] = s;
	if (!(o->name[o->nslot] = strdup(name)))
		return false;
	o->nslot++;
	live[s] = kind;
	return true;
}

/* Fill path, target and the template TARGET.tmp.XXXXXX in o->tmp. */
static bool begin(HyrtOut *o, const char *path, Diag *d)
{
	memset(o, 0, sizeof *o);
	if (!(o->path = strdup(path))) {
		diag_error(d, "%s: out of memory", path);
		return false;
	}
	if (!(o->target = resolve(path, d)) ||
	    !replaceable(path, o->target, d)) {
		forget(o);
		return false;
	}
	size_t n = strlen(o->target) + sizeof ".tmp.XXXXXX";
	if (n > NAME_MAX_BYTES || !(o->tmp = malloc(n))) {
		diag_error(d, "%s: path too long", path);
		forget(o);
		return false;
	}
	snprintf(o->tmp, n, "%s.tmp.XXXXXX", o->target);
	return true;
}

bool hyrt_out_open(HyrtOut *o, const char *path, Diag *d)
{
	int fd;

	if (strcmp(path, "-") == 0) {
		memset(o, 0, sizeof *o);
		o->std = true;
		o->f = stdout;
		o->path = strdup("<stdout>");
		return true;
	}
	if (!begin(o, path, d))
		return false;
	/* Take the slot before the file exists: a signal between mkstemp
	 * and the flag would leave it behind. The name is final only after
	 * mkstemp, so the handler may try the template once: harmless. */
	if (!hold(o, o->tmp, A_FILE)) {
		diag_error(d, "%s: out of memory", path);
		forget(o);
		return false;
	}
	fd = mkstemp(live_name[o->slot[0]]);
	if (fd < 0) {
		diag_error(d, "%s: cannot create: %s", path, strerror(errno));
		forget(o);
		return false;
	}
	strcpy(o->tmp, live_name[o->slot[0]]);
	strcpy(o->name[0], o->tmp);
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

bool hyrt_out_open_dir(HyrtOut *o, const char *path, Diag *d)
{
	HY_ASSERT(strcmp(path, "-") != 0); /* hyrt_out_check refused it */
	if (!begin(o, path, d))
		return false;
	if (!hold(o, o->tmp, A_DIR)) {
		diag_error(d, "%s: out of memory", path);
		forget(o);
		return false;
	}
	if (!mkdtemp(live_name[o->slot[0]])) {
		diag_error(d, "%s: cannot create a directory beside it: %s", path,
		           strerror(errno));
		forget(o);
		return false;
	}
	strcpy(o->name[0], live_name[o->slot[0]]);
	strcpy(o->tmp, live_name[o->slot[0]]);
	o->dir = o->tmp;
	o->tmp = NULL;
	const char *t = hyrt_out_dir_file(o, "out");
	if (!t || !(o->tmp = strdup(t))) {
		diag_error(d, "%s: out of memory", path);
		hyrt_out_abort(o);
		return false;
	}
	return true;
}

const char *hyrt_out_dir_file(HyrtOut *o, const char *name)
{
	size_t n = strlen(o->dir) + strlen(name) + 2;
	char *p = malloc(n);

	HY_ASSERT(o->dir);
	if (!p)
		return NULL;
	snprintf(p, n, "%s/%s", o->dir, name);
	bool ok = hold(o, p, A_FILE);
	free(p);
	return ok ? o->name[o->nslot - 1] : NULL;
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
	if (o->f && !o->std)
		fclose(o->f);
	o->f = NULL;
	remove_files(o);
	forget(o);
}

/* ---- committing ------------------------------------------------------- */

/* What one rename did, to undo it. */
typedef struct Done {
	bool renamed;
	int backup; /* table slot of the hard link to what it replaced, or -1 */
} Done;

/* Keep what target holds now under a fresh name beside it (a hard link,
 * so the target stays in place until the rename replaces it). -1 when
 * there is nothing to keep or no way to (a filesystem without links). */
static int keep_old(const char *target)
{
	struct stat st;
	char name[NAME_MAX_BYTES];

	if (lstat(target, &st) != 0)
		return -1;
	for (int k = 0; k < 100; k++) {
		if (snprintf(name, sizeof name, "%s.old.%ld.%d", target,
		             (long)getpid(), k) >= (int)sizeof name)
			return -1;
		int s = take_slot(name);
		if (s < 0)
			return -1;
		live[s] = A_FILE; /* link() never follows what is there */
		if (link(target, name) == 0)
			return s;
		live[s] = FREE;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

static void undo(HyrtOut *o, Done *dn)
{
	if (!dn->renamed)
		return;
	if (dn->backup >= 0) {
		if (rename(live_name[dn->backup], o->target) == 0)
			live[dn->backup] = FREE;
	} else {
		unlink(o->target);
	}
	dn->renamed = false;
}

bool hyrt_out_commit(HyrtOut *const *outs, int n, Diag *d)
{
	sigset_t old;
	bool ok = true;
	Done done[8];

	HY_ASSERT(n <= 8);
	for (int i = 0; i < n; i++) {
		HyrtOut *o = outs[i];
		done[i] = (Done){false, -1};
		if (!o->f)
			continue;
		if (fflush(o->f) != 0 || ferror(o->f)) {
			if (ok)
				diag_error(d, "%s: write error: %s", o->path,
				           strerror(errno));
			ok = false;
		}
		if (!o->std && fclose(o->f) != 0 && ok) {
			diag_error(d, "%s: write error: %s", o->path,
			           strerror(errno));
			ok = false;
		}
		o->f = NULL;
	}
	block_signals(&old);
	for (int i = 0; i < n && ok; i++) {
		HyrtOut *o = outs[i];
		if (o->std)
			continue;
		if (!replaceable(o->path, o->target, d)) {
			d->usage = false; /* found late: the run's failure */
			ok = false;
			break;
		}
		done[i].backup = keep_old(o->target);
		if (rename(o->tmp, o->target) != 0) {
			diag_error(d, "%s: cannot write: %s", o->path,
			           strerror(errno));
			ok = false;
			break;
		}
		done[i].renamed = true;
		for (int k = 0; k < o->nslot; k++) /* nothing there now */
			if (strcmp(o->name[k], o->tmp) == 0) {
				live[o->slot[k]] = FREE;
				free(o->name[k]);
				o->nslot--;
				o->slot[k] = o->slot[o->nslot];
				o->name[k] = o->name[o->nslot];
				break;
			}
	}
	for (int i = 0; i < n; i++) {
		if (!ok)
			undo(outs[i], &done[i]);
		if (done[i].backup >= 0 && live[done[i].backup] == A_FILE) {
			unlink(live_name[done[i].backup]);
			live[done[i].backup] = FREE;
		}
		hyrt_out_abort(outs[i]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ok;
}
