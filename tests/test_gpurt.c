/*
 * test_gpurt.c - the CUDA runtime of GPU binaries (runtime/cuda/) through
 * a binary with the usual main() and a hand-written model
 * (tests/gpu/tiny_model.h): every way the start can fail, each one line
 * on stderr, exit 1 and no output file, on this machine (no GPU: the
 * driver missing, or tests/gpu/fake_cuda.c standing in for it: no
 * device, a device out of range or of an older arch, a JIT that refuses
 * the PTX, no cuFFT, too little memory); --device and HYENAC_DEVICE's
 * usage; what --help and info say. With a GPU, the binary's embed,
 * logits and pooled outputs against the model's reference; without one
 * that case says "skipped: no CUDA device". (gpu_tiny_check, a ctest of
 * its own, runs the interpreter's every entry on a GPU.)
 */
#include "runtime/hyrt.h"
#include "runtime/npy.h"
#include "testutil.h"
#include "gpu/tiny_model.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *exe, *tokens, *dir;

/* The binary (with its weights appended) and a token file, once. */
static void setup(void)
{
	static char exe_buf[4096], dir_buf[4096];
	float w[TINY_WFLOATS];
	Diag d;
	RunResult r;

	if (exe)
		return;
	snprintf(dir_buf, sizeof dir_buf, "%s", tu_path(tu_tmpdir(), "gpu"));
	mkdir(dir_buf, 0755);
	dir = dir_buf;
	snprintf(exe_buf, sizeof exe_buf, "%s", tu_path(dir, "tiny"));
	const char *args[] = {GPU_TINY_MODEL, exe_buf, NULL};
	tu_run(&r, "/bin/cp", args);
	ck_assert_msg(r.status == 0, "cp: %s", r.err);
	exe = exe_buf;
	tiny_weights(w);
	diag_init(&d);
	ck_assert_msg(hyrt_append_blob(exe, w, sizeof w, &d), "%s", d.msg);
	int32_t tok[2 * 13];
	for (int i = 0; i < 26; i++)
		tok[i] = (int32_t)(7 + i % 4);
	int64_t dim[2] = {2, 13};
	static char tok_buf[4096];
	snprintf(tok_buf, sizeof tok_buf, "%s", tu_path(tu_tmpdir(), "t.npy"));
	ck_assert(npy_save_i32(tok_buf, tok, 2, dim, &d));
	tokens = tok_buf;
}

/* Entries of dir other than the binary: an output or a temporary. */
static int stray_files(void)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert(dp);
	while ((e = readdir(dp)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "tiny"))
			n++;
	closedir(dp);
	return n;
}

/* Run the binary's embed (or the command in args) and expect status, one
 * line on stderr holding want, and nothing written. */
static void expect(const char *const *args, int status, const char *want)
{
	RunResult r;

	tu_run(&r, exe, args);
	ck_assert_msg(r.status == status, "status %d, want %d: %s", r.status,
	              status, r.err);
	ck_assert_msg(tu_lines(r.err) == 1, "not one line: %s", r.err);
	ck_assert_msg(strstr(r.err, want), "'%s' not in: %s", want, r.err);
	ck_assert_msg(stray_files() == 0, "an output was left: %s", r.err);
}

static const char *out_npy(void)
{
	return tu_path(dir, "h.npy");
}

#define EMBED(...)                                                           \
	(const char *const[]) { "embed", "--tokens", tokens, "-o", out_npy(),   \
	                        __VA_ARGS__ }

START_TEST(no_driver)
{
	setup();
	setenv("HYENAC_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
	expect(EMBED(NULL), 1, "cannot load the CUDA driver "
	                       "/nonexistent/libcuda.so.1");
	expect((const char *const[]){"logits", "--tokens", tokens, "-o",
	                             out_npy(), NULL},
	       1, "needs an NVIDIA driver");
	expect((const char *const[]){"bench", "--seq-len", "8", NULL}, 1,
	       "cannot load the CUDA driver");
	/* a library that is no driver */
	setenv("HYENAC_CUDA_DRIVER", "libm.so.6", 1);
	expect(EMBED(NULL), 1, "libm.so.6 has no cuInit");
}
END_TEST

START_TEST(device_usage)
{
	setup();
	setenv("HYENAC_CUDA_DRIVER", "/nonexistent", 1);
	expect(EMBED("--device", "abc", NULL), 2, "--device wants an integer");
	expect(EMBED("--device", "-1", NULL), 2, "out of range");
	expect(EMBED("--device=0", "--device", "1", NULL), 2, "given twice");
	expect(EMBED("--device", NULL), 2, "needs a value");
	/* usage first, then the device */
	expect((const char *const[]){"embed", "--device", "0", NULL}, 2,
	       "needs --tokens");
	expect((const char *const[]){"generate", "--prompt", "ACGT", "-o",
	                             tu_path(dir, "g.fa"), NULL},
	       2, "a GPU binary, which has no decode step");
	setenv("HYENAC_DEVICE", "one", 1);
	expect(EMBED(NULL), 1, "HYENAC_DEVICE='one' is not a CUDA device");
	unsetenv("HYENAC_DEVICE");
	/* a good --device goes on to the start, which has no driver here */
	expect(EMBED("--device=0", NULL), 1, "cannot load the CUDA driver");
}
END_TEST

START_TEST(fake_driver)
{
	setup();
	setenv("HYENAC_CUDA_DRIVER", FAKE_CUDA, 1);
	setenv("FAKE_CUDA", "nodevice", 1);
	expect(EMBED(NULL), 1, "no CUDA device");
	setenv("FAKE_CUDA", "ok", 1);
	expect(EMBED("--device", "3", NULL), 1,
	       "CUDA device 3 does not exist: this machine has 1");
	setenv("HYENAC_DEVICE", "2", 1);
	expect(EMBED(NULL), 1, "CUDA device 2 does not exist");
	unsetenv("HYENAC_DEVICE");
	setenv("FAKE_CUDA", "old", 1);
	expect(EMBED(NULL), 1, "kernels are for sm_75 and CUDA device 0 "
	                       "(Fake GPU, sm_60) is sm_60");
	setenv("FAKE_CUDA", "jitfail", 1);
	expect(EMBED(NULL), 1, "CUDA_ERROR_INVALID_PTX (a PTX JIT compilation "
	                       "failed): ptxas fatal   : fake log line second");
	setenv("FAKE_CUDA", "ok", 1);
	setenv("HYENAC_CUFFT", "/nonexistent/libcufft.so", 1);
	expect(EMBED(NULL), 1, "cannot load cuFFT from "
	                       "HYENAC_CUFFT=/nonexistent/libcufft.so");
	setenv("HYENAC_CUFFT", FAKE_CUDA, 1);
	expect(EMBED(NULL), 1, "has no cufftCreate");
	unsetenv("HYENAC_CUFFT");
	setenv("FAKE_CUDA_FREE", "1000000", 1);
	expect(EMBED(NULL), 1, "too little GPU memory on CUDA device 0 (Fake "
	                       "GPU, sm_90)");
	/* no --device, no HYENAC_DEVICE: the launcher's local rank, modulo
	 * the devices (the fake driver refuses any but device 0, naming the
	 * one it was asked for) */
	setenv("FAKE_CUDA_DEVICES", "4", 1);
	setenv("SLURM_LOCALID", "6", 1);
	expect(EMBED(NULL), 1, "cannot read CUDA device 2:");
	setenv("OMPI_COMM_WORLD_LOCAL_RANK", "3", 1);
	expect(EMBED(NULL), 1, "cannot read CUDA device 3:");
	expect(EMBED("--device", "1", NULL), 1,
	       "cannot read CUDA device 1:");
	unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
	unsetenv("SLURM_LOCALID");
	unsetenv("FAKE_CUDA_DEVICES");
	unsetenv("FAKE_CUDA_FREE");
	setenv("HYENAC_GPU_MEMORY", "1K", 1);
	expect(EMBED(NULL), 1, "allowed by HYENAC_GPU_MEMORY");
	setenv("HYENAC_GPU_MEMORY", "lots", 1);
	expect(EMBED(NULL), 1, "HYENAC_GPU_MEMORY='lots' is not a byte count");
	unsetenv("HYENAC_GPU_MEMORY");
	setenv("HYENAC_GPU_FFT", "fftw", 1);
	expect(EMBED(NULL), 1, "HYENAC_GPU_FFT='fftw' is neither 'hyenac' "
	                       "(the default) nor 'cufft'");
	unsetenv("HYENAC_GPU_FFT");
	/* the FASTA commands start the device before their outputs too */
	const char *fa = tu_write_str("g.fa", ">a\nACGTACGTAC\n");
	expect((const char *const[]){"embed", "--fasta", fa, "-o", out_npy(),
	                             "--pool", "mean", "--device", "3", NULL},
	       1, "CUDA device 3 does not exist");
}
END_TEST

START_TEST(help_and_info)
{
	RunResult r;

	setup();
	setenv("HYENAC_CUDA_DRIVER", "/nonexistent", 1);
	tu_run(&r, exe, (const char *const[]){"--help", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(strstr(r.out, "every command takes --device N"));
	ck_assert(strstr(r.out, "HYENAC_CUFFT"));
	tu_run(&r, exe, (const char *const[]){"embed", "--help", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(strstr(r.out, "--device N"));
	tu_run(&r, exe, (const char *const[]){"bench", "--help", NULL});
	ck_assert(strstr(r.out, "outputs\n         left on the device"));
	/* info needs no device */
	tu_run(&r, exe, (const char *const[]){"info", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(strstr(r.out, "target=cuda\ngpu_arch=sm_75\n"));
	ck_assert(strstr(r.out, "weights=ok\n"));
}
END_TEST

/* Whether this machine has a CUDA device the binary can start on. */
static bool have_device(void)
{
	RunResult r;

	tu_run(&r, exe, EMBED(NULL));
	unlink(out_npy());
	if (r.status == 1 && (strstr(r.err, "cannot load the CUDA driver") ||
	                      strstr(r.err, "no CUDA device")))
		return false;
	return true;
}

static void check_output(const char *path, const float *want, size_t n)
{
	NpyArray a;

	tu_load_npy(path, &a);
	ck_assert_uint_eq(a.numel, n);
	double e = tu_max_abs_diff(a.data, want, n);
	ck_assert_msg(e <= 1e-4, "%s: max abs diff %g", path, e);
	npy_free(&a);
}

/* embed, logits, embed --pool mean, embed --fasta and bench of the
 * binary against the model's reference, on whatever the environment
 * gives it. */
static void end_to_end(void)
{
	RunResult r;
	int32_t tok[26];
	float w[TINY_WFLOATS], h[26 * TINY_D], lg[26 * TINY_V], m[2 * TINY_D];

	for (int i = 0; i < 26; i++)
		tok[i] = (int32_t)(7 + i % 4);
	tiny_weights(w);
	tiny_reference(w, tok, 2, 13, h, lg, m, NULL);
	tu_run(&r, exe, EMBED(NULL));
	ck_assert_msg(r.status == 0, "%s", r.err);
	check_output(out_npy(), h, 26 * TINY_D);
	const char *lo = tu_path(tu_tmpdir(), "lg.npy");
	tu_run(&r, exe, (const char *const[]){"logits", "--tokens", tokens, "-o",
	                                      lo, NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	check_output(lo, lg, 26 * TINY_V);
	tu_run(&r, exe, EMBED("--pool", "mean", "--device", "0", NULL));
	ck_assert_msg(r.status == 0, "%s", r.err);
	check_output(out_npy(), m, 2 * TINY_D);
	/* HF's hidden states, all of them: [B, 2, L, D] */
	float x[26 * TINY_D], all[2 * 2 * 13 * TINY_D];
	tiny_embeddings(w, tok, 2, 13, x);
	for (int b = 0; b < 2; b++) {
		memcpy(all + (b * 2) * 13 * TINY_D, x + b * 13 * TINY_D,
		       sizeof(float) * 13 * TINY_D);
		memcpy(all + (b * 2 + 1) * 13 * TINY_D, h + b * 13 * TINY_D,
		       sizeof(float) * 13 * TINY_D);
	}
	tu_run(&r, exe, EMBED("--layer", "all", NULL));
	ck_assert_msg(r.status == 0, "%s", r.err);
	check_output(out_npy(), all, 2 * 2 * 13 * TINY_D);
	/* FASTA windows from several threads, one forward at a time */
	const char *fa = tu_write_str("e.fa", ">a\nACGTACGTACGT\n>b\nACGTACGTACGT\n"
	                                      ">c\nACGTACGTACGT\n");
	tu_run(&r, exe, (const char *const[]){"embed", "--fasta", fa, "-o",
	                                      out_npy(), "--pool", "last",
	                                      "--threads", "3", NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	NpyArray a;
	tu_load_npy(out_npy(), &a);
	ck_assert_uint_eq(a.numel, 3 * TINY_D);
	ck_assert(tu_max_abs_diff(a.data, (float *)a.data + TINY_D, TINY_D) == 0);
	npy_free(&a);
	unlink(out_npy());
	tu_run(&r, exe, (const char *const[]){"bench", "--batch", "3",
	                                      "--seq-len", "64", "--reps", "2",
	                                      NULL});
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.out, "gpu: device 0"), "%s", r.out);
	ck_assert(strstr(r.out, "outputs left on the device"));
	ck_assert(strstr(r.out, "gpu_peak_mib="));
	ck_assert_int_eq(tu_lines(r.out), 2);
}

/* The whole binary on this machine, the fake driver running the
 * model's kernels on the host and the fake cuFFT transforming. */
START_TEST(fake_end_to_end)
{
	setup();
	setenv("HYENAC_CUDA_DRIVER", FAKE_CUDA, 1);
	setenv("HYENAC_CUFFT", FAKE_CUFFT, 1);
	end_to_end();
	setenv("HYENAC_GPU_MEMORY", "20K", 1);
	end_to_end();
}
END_TEST

START_TEST(on_device)
{
	setup();
	unsetenv("HYENAC_CUDA_DRIVER");
	if (!have_device()) {
		printf("skipped: no CUDA device\n");
		return;
	}
	end_to_end();
}
END_TEST

/* The committed PTX of the test model assembles for the H200's arch,
 * where CUDA's ptxas is on this machine. */
START_TEST(ptx_assembles)
{
	extern const char hyenac_gpu_ptx[];
	const char *ptxas = "/usr/local/cuda/bin/ptxas";
	RunResult r;

	if (access(ptxas, X_OK) != 0) {
		printf("skipped: no ptxas\n");
		return;
	}
	const char *src = tu_write_str("tiny.ptx", hyenac_gpu_ptx);
	tu_run(&r, ptxas, (const char *const[]){"-arch=sm_90", src, "-o",
	                                        "/dev/null", NULL});
	ck_assert_msg(r.status == 0, "ptxas: %s", r.err);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gpurt");
	TCase *tc = tcase_create("gpurt");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, no_driver);
	tcase_add_test(tc, device_usage);
	tcase_add_test(tc, fake_driver);
	tcase_add_test(tc, help_and_info);
	tcase_add_test(tc, fake_end_to_end);
	tcase_add_test(tc, ptx_assembles);
	tcase_add_test(tc, on_device);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(suite());
}
