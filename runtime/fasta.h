/*
 * fasta.h - the FASTA front door, reading half: a streaming reader over
 * plain or gzip-compressed FASTA that cuts every record into windows and
 * tokenizes each window the way HyenaDNA's HF CharacterTokenizer does.
 *
 * Input: a path, a gzip file (recognised by its magic, so the name does
 * not matter; concatenated members as bgzip writes them read as one), or
 * "-" for stdin. Records may span any number of
 * lines, be any length (a whole chromosome) and use LF or CRLF; blank lines
 * are skipped, and whitespace inside sequence lines is ignored. Memory is
 * O(window) whatever the record length: bases are tokenized as they are
 * read into a buffer of one window, and nothing else of the record is kept.
 *
 * Records: a header is a line whose first byte is '>'. The record name is
 * the header text after '>' and any spaces or tabs, up to the next
 * whitespace; the rest of the line (the description) is dropped. A '>'
 * with no name gives the name "" - kept as the file says it, since names
 * need not be unique anyway; callers that need a key use record_index.
 * Names longer than HYRT_FASTA_NAME_MAX bytes are an error.
 *
 * Tokens (HF CharacterTokenizer defaults, characters "ACGTN"):
 *   A=7 C=8 G=9 T=10 N=11; any other byte [UNK]=6, IUPAC codes included;
 *   [SEP]=1 appended to each window when special_tokens is set.
 * HYRT_CASE_STRICT maps lowercase a/c/g/t/n to [UNK] as the HF tokenizer
 * does; HYRT_CASE_UPPER upper-cases soft-masked bases first. Either way
 * hyrt_fasta_saw_lowercase() says whether any lowercase letter was read,
 * so the caller can warn once, and hyrt_fasta_soft_masked() how many
 * lowercase a/c/g/t/n strict mode read as [UNK] (of hyrt_fasta_bases()).
 * A record with over half its bases [UNK] otherwise (protein FASTA) is
 * counted by hyrt_fasta_mostly_unk().
 *
 * Windows: a record of len bases gives windows starting at 0, S, 2S, ...
 * while start < len, each [start, min(start + W, len)). So the last
 * window(s) may be shorter than W; with S < W a record's tail yields every
 * start below len, the last ones shorter and inside earlier windows; with
 * S > W the bases between windows are skipped. A record with no bases
 * yields no window: it is counted (hyrt_fasta_empty_records) and the first
 * one's name kept, for the caller to report.
 *
 * Errors, each one line through Diag naming the file and line: sequence
 * data before the first '>', a NUL byte, an over-long name, an unreadable
 * file, corrupt or truncated gzip data, anything after a gzip member that
 * is not another member (text, garbage, zero padding: named by its byte
 * offset), bad options.
 *
 * Ownership: hyrt_fasta_open() mallocs the reader; hyrt_fasta_close()
 * frees it. A window's record name and tokens belong to the reader and
 * stay valid until the next hyrt_fasta_next() or hyrt_fasta_close().
 */
#ifndef HYENAC_FASTA_H
#define HYENAC_FASTA_H

#include "../common/diag.h"

/* Token ids of the HF CharacterTokenizer vocabulary. */
enum {
	HYRT_TOK_SEP = 1,
	HYRT_TOK_UNK = 6,
	HYRT_TOK_A = 7,
	HYRT_TOK_C = 8,
	HYRT_TOK_G = 9,
	HYRT_TOK_T = 10,
	HYRT_TOK_N = 11,
};

enum { HYRT_FASTA_NAME_MAX = 1 << 16 };

typedef enum { HYRT_CASE_STRICT, HYRT_CASE_UPPER } HyrtCase;

typedef struct HyrtFastaOptions {
	int64_t window;      /* W >= 1: bases per window */
	int64_t stride;      /* S >= 1; 0 means S = W */
	HyrtCase case_mode;  /* HYRT_CASE_STRICT is the HF behaviour */
	bool special_tokens; /* append [SEP] to each window */
} HyrtFastaOptions;

typedef struct HyrtWindow {
	const char *record;   /* the record's name, maybe "" */
	int64_t record_index; /* 0-based, counting empty records too */
	int64_t start, end;   /* base coordinates, 0-based half-open */
	int32_t *tokens;      /* end - start bases, then [SEP] if asked */
	int64_t ntokens;
} HyrtWindow;

typedef struct HyrtFasta HyrtFasta;

/* Defaults: window W, stride W, strict case, [SEP] on. */
HyrtFastaOptions hyrt_fasta_default_options(int64_t window);
/* NULL on error (d set). "-" reads stdin (and leaves fd 0 open). */
HyrtFasta *hyrt_fasta_open(const char *path, const HyrtFastaOptions *o,
                           Diag *d);
/* Next window in file order: 1 = got one, 0 = end of input, -1 = error
 * (d set; every later call returns -1 too). */
int hyrt_fasta_next(HyrtFasta *f, HyrtWindow *w, Diag *d);
bool hyrt_fasta_saw_lowercase(const HyrtFasta *f);
/* Bases of the records ended so far; the lowercase a/c/g/t/n among the
 * bases read that HYRT_CASE_STRICT made [UNK]. */
int64_t hyrt_fasta_bases(const HyrtFasta *f);
int64_t hyrt_fasta_soft_masked(const HyrtFasta *f);
/* Records ended so far whose bases are over half [UNK] (soft-masked
 * ones not counted); the first one's name (NULL if none), its [UNK]
 * count and its bases. */
int64_t hyrt_fasta_mostly_unk(const HyrtFasta *f, const char **first,
                              int64_t *unk, int64_t *bases);
/* Records begun so far, empty ones included. */
int64_t hyrt_fasta_records(const HyrtFasta *f);
/* Records with no bases seen so far, and the first one's name (NULL if
 * none). */
int64_t hyrt_fasta_empty_records(const HyrtFasta *f);
const char *hyrt_fasta_first_empty(const HyrtFasta *f);
/* For progress: the offset reached in the file as stored (compressed
 * bytes for gzip, to compare with its size); for a pipe, the
 * decompressed bytes consumed. */
int64_t hyrt_fasta_bytes_read(const HyrtFasta *f);
void hyrt_fasta_close(HyrtFasta *f);

#endif
