/*
 * test_fuzz_corpus.c - every input committed under fuzz/corpus/, replayed
 * through the fuzz targets' own checks (fuzz/fuzz_*.c, compiled in here
 * under other names), as libFuzzer does when given files. The corpus holds
 * the seeds and every input a fuzz run found a bug with, so each stays
 * fixed; in the sanitizer build (make check-sanitize) ASan and UBSan watch
 * the replay. A target's check failing aborts, which Check reports with
 * the file being replayed.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define LLVMFuzzerTestOneInput fuzz_yaml_one
#include "../fuzz/fuzz_yaml.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_hf_config_one
#include "../fuzz/fuzz_hf_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "../fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_npy_one
#include "../fuzz/fuzz_npy.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_fasta_one
#include "../fuzz/fuzz_fasta.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_gzip_one
#include "../fuzz/fuzz_gzip.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_ir_one
#include "../fuzz/fuzz_ir.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_argv_one
#include "../fuzz/fuzz_argv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_vcf_one
#include "../fuzz/fuzz_vcf.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_bed_one
#include "../fuzz/fuzz_bed.c"
#undef LLVMFuzzerTestOneInput

typedef int (*OneInput)(const uint8_t *, size_t);

/* Replay fuzz/corpus/dir/ *; returns the number of files. */
static int replay(const char *dir, OneInput fn)
{
	char path[2048], full[4096];
	DIR *dp;
	snprintf(path, sizeof path, "%s", tu_source(tu_path("fuzz/corpus", dir)));
	dp = opendir(path);
	struct dirent *e;
	int n = 0;

	ck_assert_msg(dp != NULL, "cannot open %s", path);
	while ((e = readdir(dp))) {
		size_t len;
		char *data;
		if (e->d_name[0] == '.')
			continue;
		snprintf(full, sizeof full, "%s/%s", path, e->d_name);
		data = tu_read(full, &len);
		ck_assert_msg(data != NULL, "cannot read %s", full);
		fprintf(stderr, "replay %s/%s\n", dir, e->d_name);
		fn((const uint8_t *)data, len);
		free(data);
		n++;
	}
	closedir(dp);
	ck_assert_msg(n > 0, "no inputs in %s", path);
	return n;
}

START_TEST(test_yaml) { replay("yaml", fuzz_yaml_one); }
END_TEST
START_TEST(test_hf_config) { replay("hf_config", fuzz_hf_config_one); }
END_TEST
START_TEST(test_safetensors) { replay("safetensors", fuzz_safetensors_one); }
END_TEST
START_TEST(test_npy) { replay("npy", fuzz_npy_one); }
END_TEST
START_TEST(test_fasta) { replay("fasta", fuzz_fasta_one); }
END_TEST
START_TEST(test_gzip) { replay("gzip", fuzz_gzip_one); }
END_TEST
START_TEST(test_ir) { replay("ir", fuzz_ir_one); }
END_TEST
START_TEST(test_argv) { replay("argv", fuzz_argv_one); }
END_TEST
START_TEST(test_vcf) { replay("vcf", fuzz_vcf_one); }
END_TEST
START_TEST(test_bed) { replay("bed", fuzz_bed_one); }
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("fuzz_corpus");
	TCase *tc = tcase_create("replay");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_yaml);
	tcase_add_test(tc, test_hf_config);
	tcase_add_test(tc, test_safetensors);
	tcase_add_test(tc, test_npy);
	tcase_add_test(tc, test_fasta);
	tcase_add_test(tc, test_gzip);
	tcase_add_test(tc, test_ir);
	tcase_add_test(tc, test_argv);
	tcase_add_test(tc, test_vcf);
	tcase_add_test(tc, test_bed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
