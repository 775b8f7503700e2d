/*
 * fuzz_argv.c - libFuzzer target for a model binary's command line. The
 * input, split at NUL bytes, is the argument vector (argv[0] included,
 * at most 64 arguments), run through rt_dispatch (runtime/main/rt_main.c:
 * what main() runs) in this process, with rt_argv_only set, so each
 * command checks its options and values and returns before it opens a
 * file, writes an output or runs a forward. exit() becomes a longjmp back
 * here through rt_exit_hook.
 *
 * The promise checked, the project's rule for a command line: it either
 * succeeds (status 0: a command that would now start work, or --help)
 * with nothing on stderr, or is a usage error: status 2 and exactly one
 * line on stderr, "PROG: ...; see 'PROG --help'". Status 1 (bad input)
 * cannot come from arguments alone, and a crash, a hang or a second line
 * is a finding. stdout and stderr are swapped for memory streams for the
 * call, so the target reads what a user would have seen.
 *
 * The model is a stub: the facts of tiny-1k compiled at --seq-len 64
 * with its head, and generated functions that abort if ever called.
 * Built with RT_NO_MAIN (fuzz/CMakeLists.txt, and CMakeLists.txt for the
 * corpus replay in tests/test_fuzz_corpus.c).
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/main/rt_main.h"

#include "model_stubs.h" /* generated functions that abort */

static jmp_buf argv_jmp;
static int argv_status;

static void argv_exit(int status)
{
	argv_status = status;
	longjmp(argv_jmp, 1);
}

/* The stream's text, or abort naming what broke the promise. */
static void argv_bad(const char *why, const char *err)
{
	fprintf(stderr, "fuzz_argv: %s; stderr was:\n%s\n", why, err);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	enum { MAX_ARGS = 64 };
	char *argv[MAX_ARGS + 1];
	int argc = 0;
	char *err = NULL, *out = NULL;
	size_t nerr = 0, nout = 0;

	/* NUL-separated, as the kernel lays argv out; a final argument
	 * need not end in NUL */
	for (size_t i = 0; i < n && argc < MAX_ARGS;) {
		const uint8_t *end = memchr(data + i, 0, n - i);
		size_t len = end ? (size_t)(end - (data + i)) : n - i;
		argv[argc] = malloc(len + 1);
		if (!argv[argc])
			abort();
		memcpy(argv[argc], data + i, len);
		argv[argc++][len] = 0;
		i += len + 1;
	}
	argv[argc] = NULL;

	FILE *saved_err = stderr, *saved_out = stdout;
	stderr = open_memstream(&err, &nerr);
	stdout = open_memstream(&out, &nout);
	if (!stderr || !stdout)
		abort();
	rt_argv_only = true;
	rt_exit_hook = argv_exit;
	rt_stderr_midline = false;
	if (setjmp(argv_jmp) == 0)
		argv_status = rt_dispatch(argc, argv);
	fclose(stderr);
	fclose(stdout);
	stderr = saved_err;
	stdout = saved_out;

	if (argv_status == 0 && nerr != 0)
		argv_bad("status 0 with a message", err);
	if (argv_status == 2) {
		const char *nl = strchr(err, '\n');
		static const char tail[] = " --help'\n";
		if (!nl || nl[1] != 0)
			argv_bad("a usage error is not exactly one line", err);
		if (nerr < sizeof tail ||
		    strcmp(err + nerr - (sizeof tail - 1), tail) != 0)
			argv_bad("a usage error does not point at --help", err);
		char prog[256];
		hy_escape(prog, sizeof prog, rt_prog);
		if (strlen(rt_prog) < 60 &&
		    strncmp(err, prog, strlen(prog)) != 0)
			argv_bad("a usage error does not start with the program",
			         err);
	}
	rt_prog = "model"; /* it pointed into argv */
	if (argv_status != 0 && argv_status != 2)
		argv_bad("status other than 0 or 2 from arguments alone", err);
	free(err);
	free(out);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return 0;
}
