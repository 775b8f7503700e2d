/*
 * fuzz_vcf.c - libFuzzer target for `vep`'s reading of a VCF or BCF:
 * htslib's parser (text, gzip, BGZF, BCF: htslib tells them apart by the
 * bytes) and our use of it (the header lines added and checked, records
 * read a line at a time, REF checked against the reference, windows cut,
 * INFO and FILTER set, the output written and committed), through
 * rt_vep_run (runtime/main/rt_vep.c) in this process on a stub forward
 * that writes logits made from the tokens. The first byte picks the
 * window (1..63), BCF or VCF output and the case mode; the rest is the
 * file. The reference is fixed: three contigs ("chr1", "chr2" with
 * soft-masked bases, "1"), written once to a private directory.
 *
 * The promise checked: the run succeeds (and htslib reads back every
 * record of what it wrote), or fails with status 1 and exactly one line
 * on stderr, leaving no output; a crash, a hang, a leak, a second line
 * is a finding. exit() becomes a longjmp back here through rt_exit_hook,
 * and rt_vep_abort frees what the run held.
 *
 * The model's symbols that the command table links in are stubs that
 * abort (model_stubs.h).
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <htslib/hts.h>
#include <htslib/vcf.h>

#include "fuzz_common.h"
#include "runtime/fasta.h"
#include "runtime/main/rt_main.h"

#include "model_stubs.h"

enum { VCF_VOCAB = 16, VCF_MAX_BASES = 63 };

static size_t vcf_scratch(int64_t B, int64_t L)
{
	(void)B, (void)L;
	return 64;
}

/* Logits from the tokens, so scores differ by window: every id must be
 * in the vocabulary, and every row is written. */
static void vcf_forward(const float *w, const int32_t *tok, int64_t B,
                        int64_t L, float *const *out, void *scratch)
{
	(void)w, (void)scratch;
	if (out[0] || !out[1] || L < 1 || L > VCF_MAX_BASES + 1)
		abort();
	for (int64_t i = 0; i < B * L; i++) {
		if (tok[i] < 0 || tok[i] >= 12)
			abort();
		for (int k = 0; k < VCF_VOCAB; k++)
			out[1][i * VCF_VOCAB + k] = (float)((tok[i] * 7 + k * 3) % 5);
	}
}

static jmp_buf vcf_jmp;
static int vcf_status;

static void vcf_exit(int status)
{
	vcf_status = status;
	longjmp(vcf_jmp, 1);
}

static char vcf_dir[64], vcf_ref[128], vcf_out[2][128];

/* The private directory goes at exit (the reference and its index). */
static void vcf_cleanup(void)
{
	static const char *const names[] = {"ref.fa", "ref.fa.fai", "out.vcf",
	                                    "out.bcf"};
	char p[192];
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		snprintf(p, sizeof p, "%s/%s", vcf_dir, names[i]);
		unlink(p);
	}
	rmdir(vcf_dir);
}

static void vcf_setup(void)
{
	static const char fa[] =
	    ">chr1 the first\n"
	    "ACGTACGTTAGCCGATAGCTAGCTAGGATCGATCGATTACGATCGATGCATGCATCGAT\n"
	    "GATCGTAGCTAGCTAGCTAGTCGATCGTAGCTAGCATCGAT\n"
	    ">chr2\n"
	    "acgtacgtNNNNACGTACGTacgtAC\n"
	    ">1\n"
	    "ACGTNACGTA\n";

	const char *tmp = getenv("TMPDIR");
	snprintf(vcf_dir, sizeof vcf_dir, "%s/fuzz-vcf-XXXXXX",
	         tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(vcf_dir))
		abort();
	atexit(vcf_cleanup);
	snprintf(vcf_ref, sizeof vcf_ref, "%s/ref.fa", vcf_dir);
	snprintf(vcf_out[0], sizeof vcf_out[0], "%s/out.vcf", vcf_dir);
	snprintf(vcf_out[1], sizeof vcf_out[1], "%s/out.bcf", vcf_dir);
	FILE *f = fopen(vcf_ref, "w");
	if (!f || fputs(fa, f) < 0 || fclose(f) != 0)
		abort();
}

/* What the run wrote must read back through htslib, whole. */
static void vcf_read_back(const char *path)
{
	htsFile *f = hts_open(path, "r");
	if (!f)
		abort();
	bcf_hdr_t *h = bcf_hdr_read(f);
	if (!h)
		abort();
	bcf1_t *b = bcf_init();
	int r;
	while ((r = bcf_read(f, h, b)) == 0)
		if (bcf_unpack(b, BCF_UN_ALL) < 0)
			abort();
	if (r != -1)
		abort();
	bcf_destroy(b);
	bcf_hdr_destroy(h);
	hts_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	char *err = NULL;
	size_t nerr = 0;

	if (n < 1)
		return 0;
	if (!vcf_dir[0])
		vcf_setup();
	int bcf = (data[0] >> 6) & 1;
	RtVepArgs a = {
		.vcf = fuzz_file("fuzz.vcf", data + 1, n - 1),
		.ref = vcf_ref,
		.out = vcf_out[bcf],
		.model = "fuzz",
		.window = 1 + data[0] % VCF_MAX_BASES,
		.max_bases = VCF_MAX_BASES,
		.vocab_width = VCF_VOCAB,
		.threads = 1,
		.batch = 1 + data[0] % 3,
		.case_mode = (data[0] >> 7) ? HYRT_CASE_UPPER : HYRT_CASE_STRICT,
		.quiet = true,
		.weights = NULL,
		.forward = vcf_forward,
		.scratch_bytes = vcf_scratch,
	};

	FILE *saved_err = stderr;
	stderr = open_memstream(&err, &nerr);
	if (!stderr)
		abort();
	rt_exit_hook = vcf_exit;
	vcf_status = 0;
	if (setjmp(vcf_jmp) == 0)
		vcf_status = rt_vep_run(&a);
	else
		rt_vep_abort();
	fclose(stderr);
	stderr = saved_err;
	rt_exit_hook = NULL;

	if (vcf_status == 0) {
		if (nerr != 0) {
			fprintf(stderr, "fuzz_vcf: status 0 with a message:\n%s\n", err);
			abort();
		}
		vcf_read_back(a.out);
	} else {
		const char *nl = strchr(err, '\n');
		if (vcf_status != 1 || !nl || nl[1] != 0) {
			fprintf(stderr, "fuzz_vcf: status %d, not one line:\n%s\n",
			        vcf_status, err);
			abort();
		}
		if (access(a.out, F_OK) == 0) {
			fprintf(stderr, "fuzz_vcf: a failed run left %s\n", a.out);
			abort();
		}
	}
	unlink(a.out);
	free(err);
	return 0;
}
