/*
 * fuzz_common.h - what every fuzz target shares: the bytes libFuzzer hands
 * over, put where a path-taking reader can open them.
 *
 * The readers under test take a path (they stat, read or mmap it), so each
 * run writes the input into one memfd per process and passes its
 * /proc/self/fd/N name: no disk traffic, and a reader that mmaps sees a
 * real file of exactly the input's size. Nothing here is used outside
 * fuzz/.
 */
#ifndef HYENAC_FUZZ_COMMON_H
#define HYENAC_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* A path whose file holds data[0..n) until the next call. `tag` names the
 * memfd (it shows in /proc) and in messages. */
static inline const char *fuzz_file(const char *tag, const uint8_t *data,
                                    size_t n)
{
	static int fd = -1;
	static char path[64];

	if (fd < 0) {
		fd = memfd_create(tag, 0);
		if (fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || (n && pwrite(fd, data, n, 0) != (ssize_t)n)) {
		perror("fuzz_file");
		abort();
	}
	return path;
}

/* The Diag contract: an error is one line that says something. */
#define FUZZ_CHECK_DIAG(d)                                                \
	do {                                                              \
		if ((d)->nerr == 0 || !(d)->msg[0] ||                     \
		    strchr((d)->msg, '\n')) {                             \
			fprintf(stderr, "bad diagnostic: nerr=%d msg='%s'\n", \
			        (d)->nerr, (d)->msg);                     \
			abort();                                          \
		}                                                         \
	} while (0)

#endif
