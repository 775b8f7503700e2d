/*
 * outfile.h - every output hyenac and the binaries it builds write: files
 * that appear whole or not at all, that replace only what an output may
 * replace, and that never land on an input. Used by the model binaries
 * (embed, logits, embed --fasta, score), by npy_save, and by `hyenac run`
 * and `hyenac compile`.
 *
 * Before any work, hyrt_out_check() refuses (as usage, exit 2) an output
 * name that is:
 *   - empty;
 *   - "-" where the output is not a single text stream (only score's TSV
 *     goes to standard output: open "-" and it is stdout);
 *   - of the wrong kind by its extension: the extension is what follows
 *     the last '.' of the name's last component (a leading '.' does not
 *     count); when there is one it must be exactly the kind's ("npy" for
 *     arrays, "tsv" for score); a name without one is taken as it is;
 *   - after following symlinks, an existing file that is not a regular
 *     file (a device such as /dev/null, a FIFO, a socket, a directory):
 *     an output never replaces one;
 *   - after following symlinks, the same file (st_dev, st_ino) as one of
 *     the inputs it is given ("-" there means standard input).
 *
 * A symlink named as an output is followed, dangling or not: the file it
 * points to is written and the link is left alone. The bytes go to a
 * temporary beside that target (TARGET.tmp.XXXXXX, made by mkstemp with
 * O_EXCL, so nothing planted can redirect it; same directory, so rename()
 * is atomic). hyrt_out_open_dir() makes a private directory there instead
 * (mkdtemp, 0700) for outputs that other tools write by name (the
 * compiler's object and linked file); hyrt_out_dir_file() names files in
 * it.
 *
 * hyrt_out_commit() renames a set of outputs into place together, with
 * SIGINT/SIGTERM/SIGHUP blocked: each target is checked again just before
 * its rename, and if any one cannot be committed, those already renamed
 * are undone (the file each replaced is kept as a hard link until the
 * end and put back; on a filesystem without hard links the new file is
 * removed), so none is left under its final name. Until then every
 * temporary's name sits in a fixed table that a signal handler (installed
 * by hyrt_out_install_cleanup for SIGINT, SIGTERM, SIGHUP, the crash
 * signals and SIGXFSZ, together with an atexit hook for exit() on error paths) walks:
 * it kills the child process group named by hyrt_out_set_child (a linker
 * writing into the private directory), unlinks every file and removes
 * every private directory with async-signal-safe calls, then re-raises
 * the signal.
 *
 * Ownership: HyrtOut belongs to the caller; open mallocs its names,
 * commit or abort frees them. Not thread-safe: one thread writes.
 */
#ifndef HYENAC_OUTFILE_H
#define HYENAC_OUTFILE_H

#include <stdio.h>
#include <sys/types.h>

#include "../common/diag.h"

enum {
	HYRT_OUT_MAX = 16,            /* live temporaries at a time */
	HYRT_OUT_FILES = 6,           /* names one output holds */
};

typedef struct HyrtOut {
	FILE *f;      /* NULL for an output in a private directory */
	char *path;   /* as the user named it: messages say this */
	char *target; /* path with its symlinks followed: what is replaced */
	char *tmp;    /* where the bytes go until commit */
	char *dir;    /* the private directory, or NULL */
	bool std;     /* "-": standard output, nothing to rename */
	int nslot;    /* entries in the cleanup table: tmp, dir files, dir */
	int slot[HYRT_OUT_FILES];
	char *name[HYRT_OUT_FILES]; /* hyrt_out_dir_file's paths */
} HyrtOut;

/* The checks above, before any work. ext: "npy", "tsv", kinds separated
 * by '|' ("bedgraph|bg": either extension) or NULL (any
 * name); what: the command, for messages ("embed"); inputs:
 * NULL-terminated, NULL entries skipped. Errors set d->usage. */
bool hyrt_out_check(const char *path, const char *ext, bool may_stdout,
                    const char *what, const char *const *inputs, Diag *d);

/* Two outputs of one run (FASTA's X.npy and X.tsv, a library and its
 * header) must not be one file through a link: false with a usage error
 * in d when they are. */
bool hyrt_out_distinct(const char *a, const char *b, Diag *d);

/* Install the signal handlers and the atexit hook (once). */
void hyrt_out_install_cleanup(void);
/* Create path's temporary (mode 0644) beside its target and open it for
 * writing; "-" opens standard output. */
bool hyrt_out_open(HyrtOut *o, const char *path, Diag *d);
/* Make a private directory beside path's target (not "-": check first);
 * o->tmp is a name in it (not created) that the caller writes to. */
bool hyrt_out_open_dir(HyrtOut *o, const char *path, Diag *d);
/* A name in o's private directory, removed with it. */
const char *hyrt_out_dir_file(HyrtOut *o, const char *name);
/* The process group a signal should kill before cleaning up (a child
 * that writes into a private directory), or 0 for none. */
void hyrt_out_set_child(pid_t pgid);
bool hyrt_out_write(HyrtOut *o, const void *p, size_t n, Diag *d);
/* Close every file, then rename each into place, all or none; on any
 * failure every temporary is removed and nothing is renamed. */
bool hyrt_out_commit(HyrtOut *const *outs, int n, Diag *d);
/* Close and remove the temporaries; safe on a zeroed or committed HyrtOut. */
void hyrt_out_abort(HyrtOut *o);
/* Remove every live temporary (what the signal handler does). */
void hyrt_out_abort_all(void);

#endif
