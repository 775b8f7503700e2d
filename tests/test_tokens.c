/*
 * test_tokens.c - the one token check (runtime/tokens.h) that hyenac run,
 * the model binaries and the model library share: each fault's kind and
 * its one-line message, naming the caller's file and the offending place.
 */
#include "runtime/tokens.h"
#include "testutil.h"

#include <inttypes.h>
#include <string.h>

static HyrtTokFault check(const int32_t *ids, int64_t B, int64_t L,
                          Diag *d)
{
	diag_init(d);
	return hyrt_check_tokens(ids, B, L, 4, 12, "t.npy",
	                         "%" PRId64 ", the limit", d);
}

START_TEST(tokens_faults)
{
	const int32_t ok[8] = {0, 7, 11, 3, 6, 7, 8, 9};
	const int32_t bad[8] = {0, 7, 11, 3, 6, 12, 8, 9};
	const int32_t neg[2] = {-1, 7};
	Diag d;

	ck_assert_int_eq(check(ok, 2, 4, &d), HYRT_TOK_OK);
	ck_assert_int_eq(check(NULL, 0, 4, &d), HYRT_TOK_OK);
	ck_assert_int_eq(check(bad, 2, 4, &d), HYRT_TOK_ID);
	ck_assert_str_eq(d.msg, "t.npy: token id 12 at [1, 1] is outside the "
	                 "vocabulary [0, 12)");
	ck_assert_int_eq(check(neg, 1, 2, &d), HYRT_TOK_ID);
	ck_assert_str_eq(d.msg, "t.npy: token id -1 at [0, 0] is outside the "
	                 "vocabulary [0, 12)");
	ck_assert_int_eq(check(ok, 1, 5, &d), HYRT_TOK_LENGTH);
	ck_assert_str_eq(d.msg, "t.npy: sequence length 5 exceeds 4, the "
	                 "limit");
	ck_assert_int_eq(check(ok, 1, 0, &d), HYRT_TOK_LENGTH);
	ck_assert_str_eq(d.msg, "t.npy: sequence length is 0; the model takes "
	                 "1 to 4");
}
END_TEST

START_TEST(token_array_shape)
{
	int32_t v[4] = {1, 2, 3, 4};
	NpyArray a = {.dtype = NPY_I32, .rank = 1, .dim = {4}, .numel = 4,
	              .data = v};
	Diag d;

	diag_init(&d);
	ck_assert_int_eq(hyrt_check_token_array(&a, 4, 12, "t.npy", "%" PRId64,
	                                        &d), HYRT_TOK_SHAPE);
	ck_assert_ptr_nonnull(strstr(d.msg, "t.npy: "));
	ck_assert_ptr_nonnull(strstr(d.msg, "rank 1"));
	a.rank = 2;
	a.dim[0] = 1;
	a.dim[1] = 4;
	diag_init(&d);
	ck_assert_int_eq(hyrt_check_token_array(&a, 4, 12, "t.npy", "%" PRId64,
	                                        &d), HYRT_TOK_OK);
}
END_TEST

/* The reverse complement on ids: ACGTN[UNK] then [SEP] -> [UNK]NACGT
 * then [SEP]; without [SEP] the whole row turns; empty is empty. */
START_TEST(tokens_revcomp)
{
	static const int32_t in[] = {7, 8, 9, 10, 11, 6, 1};
	static const int32_t want[] = {6, 11, 7, 8, 9, 10, 1};
	static const int32_t in2[] = {7, 7, 9, 6};
	static const int32_t want2[] = {6, 8, 10, 10};
	int32_t out[7];

	hyrt_tokens_revcomp(out, in, 7);
	ck_assert(memcmp(out, want, sizeof want) == 0);
	hyrt_tokens_revcomp(out, in2, 4);
	ck_assert(memcmp(out, want2, sizeof want2) == 0);
	hyrt_tokens_revcomp(out, in, 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tokens");
	TCase *tc = tcase_create("tokens");
	tcase_add_test(tc, tokens_faults);
	tcase_add_test(tc, token_array_shape);
	tcase_add_test(tc, tokens_revcomp);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
