/*
 * rt_dispatch.c - main() of every model binary: the command table and
 * the help it prints.
 *
 * Each command is a row: its name, its handler, and what it adds to
 * --help. The commands on token files live in rt_main.c, the FASTA
 * commands in rt_fasta.c; both lean on rt_main.c's shared helpers (the
 * error exits, the option parser, the weights), and neither calls the
 * other or this file: rt_parse_opts reaches --help through the rt_help
 * hook set here. A row with a `wants` test is a variant that takes over
 * its name when the test holds (embed --fasta); a row without a name is
 * a line of help alone.
 */
#include "rt_main.h"
#include "rt_par.h"
#include "runtime/cpucheck.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef struct RtCommand {
	const char *name;
	int (*run)(const char *cmd, int argc, char **argv);
	void (*help)(void);
	bool (*wants)(int argc, char **argv); /* a variant: NULL for none */
} RtCommand;

static void help_threads(void)
{
	printf("  (embed, logits and classify take --threads T too; every "
	       "command above\n"
	       "  takes --resume: see below)\n");
}

/* In the order --help lists them. */
static const RtCommand commands[] = {
	{"embed", rt_cmd_embed, rt_help_embed, NULL},
	{"logits", rt_cmd_logits, rt_help_logits, NULL},
	{"classify", rt_cmd_classify, rt_help_classify, NULL},
	{"embed", rt_cmd_fasta, rt_help_embed_fasta, rt_wants_fasta},
	{"score", rt_cmd_fasta, rt_help_score, NULL},
	{"classify", rt_cmd_fasta, rt_help_classify_fasta, rt_wants_fasta},
	{"vep", rt_cmd_vep, rt_help_vep, NULL},
	{NULL, NULL, help_threads, NULL},
	{"generate", rt_cmd_generate, rt_help_generate, NULL},
	{"bench", rt_cmd_bench, rt_help_bench, NULL},
	{"info", rt_cmd_info, rt_help_info, NULL},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void help_gpu(void);

static void print_help(void)
{
	int64_t max_len = hyenac_meta[HYRT_META_MAX_LEN];

	printf("usage: %s COMMAND [OPTIONS]\n\n", rt_prog);
	printf("HyenaDNA model '%s' compiled by hyenac: d_model %" PRId64
	       ", n_layer %" PRId64 ", vocabulary %" PRId64 ", sequences of "
	       "1 to %" PRId64 " tokens; outputs: %s.\n\n", hyenac_model_name,
	       hyenac_meta[HYRT_META_D_MODEL], hyenac_meta[HYRT_META_N_LAYER],
	       hyenac_meta[HYRT_META_VOCAB_SIZE], max_len, rt_outputs_str());
	if (hyenac_meta[HYRT_META_BF16])
		printf("Compiled with --precision bf16: its projections' weights "
		       "are bf16 and multiplied in bf16 (sums in fp32).\n\n");
	if (hyenac_meta[HYRT_META_RANDOM_WEIGHTS])
		printf("Its weights are random (seed %" PRIu64 "), not trained: "
		       "its outputs carry no biology.\n\n",
		       (uint64_t)hyenac_meta[HYRT_META_SEED]);
	printf("commands:\n");
	for (int i = 0; i < NCOMMANDS; i++)
		commands[i].help();
	printf("  --version  the model's name and hyenac's version\n"
	       "  COMMAND --help  that command's usage alone\n");
	printf("\n");
	printf("Tokens: a .npy integer array [B, L], ids below %" PRId64
	       ", any B, 1 <= L <= %" PRId64 ";\n"
	       "a 1-d array [L] is one row [1, L] (the output's batch dim "
	       "is then 1).\n"
	       "A batch runs in chunks of rows that fit the memory planned at "
	       "compile time\n"
	       "(--batch, %" PRId64 " row(s) of %" PRId64 " tokens) and "
	       "HYENAC_MEMORY_LIMIT (bytes, or\n"
	       "with a K, M, G or T suffix) when it is set.\n"
	       "FASTA: plain or gzip, - for stdin; A=7 C=8 G=9 T=10 N=11, "
	       "other bytes\n"
	       "[UNK]=6 (lowercase too, unless --case upper), then [SEP]=1 "
	       "unless\n"
	       "--no-special-tokens. A progress line (tokens done of the "
	       "file's) goes to\n"
	       "stderr when it is a terminal (not with --quiet) or with "
	       "--progress.\n"
	       "--threads T (default: all cores) splits\n"
	       "each forward's positions and channels over T threads, or "
	       "runs T\n"
	       "batches of FASTA windows.\n"
	       "--resume keeps each finished shard of the job in "
	       "OUT.hyenac-journal/ and,\n"
	       "run again after an interruption, computes only the shards "
	       "not finished\n"
	       "(same bytes; the journal goes once the outputs are written). "
	       "%s\n"
	       "Outputs are written whole or not at all, Ctrl-C included;\n"
	       "a symlink is followed; an output never replaces an input or "
	       "a\nnon-regular file, and its extension, if any, is .npy "
	       "(.tsv for score;\n.vcf, .vcf.gz or .bcf for vep; .bedgraph or .bg "
	       "for score --per-base).\n"
	       "gflops counts the model's FLOPs per token at L = %" PRId64
	       ".\n"
	       "Exit status: 0 done, 1 bad input or failure, 2 bad usage.\n",
	       hyenac_meta[HYRT_META_VOCAB_SIZE], max_len,
	       hyenac_meta[HYRT_META_BATCH] > 0 ? hyenac_meta[HYRT_META_BATCH]
	                                        : 1,
	       max_len,
	       rt_par_is_mpi()
	           ? "Under\nmpirun -n N (or srun) the N ranks split the "
	             "job and rank 0 writes the\noutputs, byte for byte "
	             "those of one process."
	           : "This\nbinary runs as one process (hyenac compile "
	             "--mpi makes one for mpirun).",
	       max_len);
	help_gpu();
}

/* What --help says of a GPU binary's device (runtime/cuda/gpurt.h). */
static void help_gpu(void)
{
	if (!rt_is_gpu())
		return;
	printf("\nThis is a GPU binary (CUDA): every command takes --device N "
	       "(default\n"
	       "HYENAC_DEVICE, else the rank on its node that mpirun or srun "
	       "gives it,\n"
	       "modulo the node's devices, else 0), the CUDA device it runs on. "
	       "It loads the driver\n"
	       "(HYENAC_CUDA_DRIVER, else libcuda.so.1) and cuFFT "
	       "(HYENAC_CUFFT, else\n"
	       "libcufft.so.12, .so.11, .so, then $CUDA_HOME/lib64 and "
	       "/usr/local/cuda/lib64)\n"
	       "when it starts; HYENAC_GPU_MEMORY (bytes, or with K, M, G, T) "
	       "caps the device\n"
	       "memory it holds (a batch then runs in passes of fewer rows, "
	       "filter spectra\n"
	       "are made per call instead of kept). No driver, no device, "
	       "no cuFFT or too\n"
	       "little device memory: one line, exit 1, nothing written.\n");
}

/* --device N (or --device=N) of a GPU binary, taken out of argv[2..]
 * before the command parses its options, so every command has it; the
 * value, or HYENAC_DEVICE's, or 0. */
static int take_device(int argc, char **argv)
{
	const char *v = NULL, *env = getenv("HYENAC_DEVICE");
	int out = 2;

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		if (strcmp(a, "--device") == 0) {
			if (i + 1 >= argc)
				rt_usage("option '--device' needs a value");
			val = argv[++i];
		} else if (strncmp(a, "--device=", 9) == 0) {
			val = a + 9;
		} else {
			argv[out++] = argv[i];
			continue;
		}
		if (v)
			rt_usage("option '--device' given twice");
		v = val;
	}
	argv[out] = NULL;
	if (v)
		rt_gpu_device = rt_parse_int("--device", v, 0, 1023,
		                             "a CUDA device is 0 or more (below "
		                             "1024)");
	else if (env) {
		char *end;
		errno = 0;
		long long d = strtoll(env, &end, 10);
		if (errno || end == env || *end || *env == ' ' || d < 0 || d > 1023)
			rt_fail("HYENAC_DEVICE='%s' is not a CUDA device number "
			        "(0 to 1023)", env);
		rt_gpu_device = d;
	}
	return out;
}

/* `PROG CMD --help`: the rows of that name (variants included) alone. */
static const char *help_cmd;

static void print_command_help(void)
{
	printf("usage: %s %s [OPTIONS]\n", rt_prog, help_cmd);
	for (int i = 0; i < NCOMMANDS; i++)
		if (commands[i].name && strcmp(commands[i].name, help_cmd) == 0)
			commands[i].help();
	if (rt_is_gpu())
		printf("  --device N  the CUDA device (default HYENAC_DEVICE, else "
		       "the local rank, else 0)\n");
	printf("(all commands, inputs, outputs and exit status: '%s "
	       "--help')\n", rt_prog);
}

/* The row that runs cmd with these arguments: a variant whose test
 * holds, else the plain row of that name. */
static const RtCommand *find(const char *cmd, int argc, char **argv)
{
	for (int i = 0; i < NCOMMANDS; i++)
		if (commands[i].name && commands[i].wants &&
		    strcmp(commands[i].name, cmd) == 0 &&
		    commands[i].wants(argc, argv))
			return &commands[i];
	for (int i = 0; i < NCOMMANDS; i++)
		if (commands[i].name && !commands[i].wants &&
		    strcmp(commands[i].name, cmd) == 0)
			return &commands[i];
	return NULL;
}

int rt_dispatch(int argc, char **argv)
{
	const char *cmd;

	rt_prog = "model";
	rt_help = print_help;
	rt_par_early();
	if (argc > 0 && argv[0] && *argv[0]) {
		const char *slash = strrchr(argv[0], '/');
		rt_prog = slash ? slash + 1 : argv[0];
	}
	/* Before anything can call generated code (runtime/cpucheck.h). */
	char cpu_msg[512];
	if (!hyrt_cpu_check_model(cpu_msg, sizeof cpu_msg)) {
		fprintf(stderr, "%s: %s\n", rt_prog, cpu_msg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		rt_usage("no command given");
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		print_help();
		return rt_finish();
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("%s: model '%s' compiled by hyenac %s\n", rt_prog,
		       hyenac_model_name, HYRT_HYENAC_VERSION);
		return rt_finish();
	}
	const RtCommand *c = find(cmd, argc, argv);
	if (c && rt_is_gpu()) {
		help_cmd = c->name;
		rt_help = print_command_help;
		argc = take_device(argc, argv);
		c = find(cmd, argc, argv);
	}
	if (c) {
		help_cmd = c->name;
		rt_help = print_command_help;
		/* The environment is input: a known command checks it
		 * first. */
		(void)rt_memory_limit();
		int rc = c->run(cmd, argc, argv);
		rt_par_end();
		return rc;
	}
	for (int i = 0; i < NCOMMANDS; i++)
		if (commands[i].name &&
		    hy_edit_distance(cmd, commands[i].name) <= 2)
			rt_usage("unknown command '%s' (did you mean '%s'?)", cmd,
			         commands[i].name);
	if (hy_edit_distance(cmd, "--help") <= 2)
		rt_usage("unknown command '%s' (did you mean '%s'?)", cmd,
		         "--help");
	rt_usage("unknown command '%s'", cmd);
}

/* Left out where the command line runs in another program's process:
 * the argv fuzz target and its corpus replay (fuzz/fuzz_argv.c). */
#ifndef RT_NO_MAIN
int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return rt_dispatch(argc, argv);
}
#endif
