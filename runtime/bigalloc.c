/*
 * bigalloc.c - memory for the large buffers of a forward (activations,
 * scratch, kept filter spectra, the convolution's work rows) on 2 MB
 * pages where the kernel gives them.
 *
 * A forward touches its buffers for the first time on its first call,
 * and at long lengths that is gigabytes: with 4 KB pages every 4 KB is a
 * page fault. Where faults are dear (virtual machines; kernels with
 * page-table isolation) that is a large part of a one-off run: a cold
 * medium-160k forward at 160,000 tokens took 28-32 s on 4 KB pages
 * (741,000 faults) and 21-23 s on 2 MB pages (5,500; docs/performance.md).
 * Transparent huge pages are most often in "madvise" mode, so an
 * allocation of at least 2 MB is aligned to 2 MB and marked
 * MADV_HUGEPAGE; where the kernel refuses (THP off, no such call) it
 * stays on 4 KB pages, as before.
 */
#include "hyrt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_BYTES ((size_t)2 << 20)

void *hyrt_alloc_big(size_t n)
{
	void *p = NULL;
	size_t align = n >= HUGE_BYTES ? HUGE_BYTES : 64;

	if (posix_memalign(&p, align, n ? n : 64) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	if (n >= HUGE_BYTES)
		(void)madvise(p, (n + 4095) / 4096 * 4096, MADV_HUGEPAGE);
#endif
	return p;
}

/* "always [madvise] never": the bracketed mode is the one on. */
static bool big_pages;
static pthread_once_t big_once = PTHREAD_ONCE_INIT;

static void check_big_pages(void)
{
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (!fgets(mode, sizeof mode, f))
			mode[0] = 0;
		fclose(f);
	}
	big_pages = strstr(mode, "[always]") || strstr(mode, "[madvise]");
}

bool hyrt_big_pages(void)
{
	pthread_once(&big_once, check_big_pages);
	return big_pages;
}
