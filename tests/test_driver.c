/*
 * test_driver.c - hyenac's command dispatch (driver/main.c's command
 * table): what each command refuses before it reads or plans anything.
 */
#include "testutil.h"

#include <string.h>
#include <unistd.h>

/* compile's --seq-len is checked as soon as the model is read: no pass
 * runs (--print-after prints nothing), one line, exit 2. */
START_TEST(seq_len_before_passes)
{
	const char *out = tu_path(tu_tmpdir(), "never");
	RunResult r;

	tu_run_hyenac(&r, (const char *[]){"compile",
	                                   tu_source("models/hyenadna-tiny-1k.yaml"),
	                                   "-o", out, "--seq-len", "999999",
	                                   "--print-after=fold", NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_int_eq(tu_lines(r.err), 1);
	ck_assert_msg(strstr(r.err, "--seq-len 999999 exceeds"), "%s", r.err);
	ck_assert_msg(r.out[0] == 0, "a pass ran: %.200s", r.out);
	ck_assert(access(out, F_OK) != 0);
}
END_TEST

/* Every command of the table is known; anything else is a usage error. */
START_TEST(commands_of_the_table)
{
	RunResult r;
	const char *cmds[] = {"compile", "run", "ir", "info", "opt"};

	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		tu_run_hyenac(&r, (const char *[]){cmds[i], NULL});
		ck_assert_int_eq(r.status, 2);
		ck_assert_msg(strstr(r.err, "needs a file"), "%s: %s", cmds[i],
		              r.err);
	}
	tu_run_hyenac(&r, (const char *[]){"frobnicate", "x", NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "unknown command 'frobnicate'"), "%s",
	              r.err);
	tu_run_hyenac(&r, (const char *[]){"opt", "x.ir", NULL});
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "needs --pass=PASS"), "%s", r.err);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("driver");
	TCase *tc = tcase_create("driver");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, seq_len_before_passes);
	tcase_add_test(tc, commands_of_the_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
