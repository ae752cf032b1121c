/* SPDX-License-Identifier: MIT */
/*
 * `ringpool get`: the pieces shared by its files.
 *
 * get.c        the run: the loop over the slots, signals, set-up
 * get_slot.c   a slot's life: the transfer, retries, the atomic finish
 * get_run.h    what those two share
 * get_opts.c   options and --help
 * get_input.c  the URL list, streamed line by line, and sharding
 * get_names.c  file names from URLs, and collision suffixes
 * get_sha.c    SHA-256 of a finished file
 * get_progress.c  the live display, plain lines, NDJSON events, the summary
 *
 * The input and naming functions are pure (no I/O beyond the stream they are
 * given) so tests/get/ links them directly.
 */
#ifndef RINGPOOL_CLI_GET_H
#define RINGPOOL_CLI_GET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Longest file name we make: NAME_MAX less room for ".NNNNNNN.part". */
#define GET_NAME_MAX 200

/* ---- names (get_names.c) ---------------------------------------------- */

/*
 * Derives a file name from `url`: the last segment of its path,
 * percent-decoded, sanitized (see get_name_sanitize()); "index.html" when
 * nothing usable is left.  `out` must hold GET_NAME_MAX + 1 bytes.
 */
void get_name_from_url(const char *url, char *out);

/*
 * Writes a safe version of the `len` bytes at `in` into `out` (GET_NAME_MAX + 1
 * bytes): '/', '\\' and control characters become '_', leading dots and
 * blanks are dropped, and the result is cut to GET_NAME_MAX bytes at a UTF-8
 * character boundary.  May leave `out` empty.
 */
void get_name_sanitize(const char *in, size_t len, char *out);

/* True when `name` is a plain file name that get_name_sanitize() keeps. */
bool get_name_is_safe(const char *name);

/* An open-addressing table of 64-bit hashes, with an optional value each. */
struct get_table {
	uint64_t *keys;		/* 0 marks an empty slot */
	uint64_t *vals;		/* NULL for a plain set */
	size_t cap, used;
};

/*
 * The names already given out in one run.  It keeps a 64-bit hash per name,
 * not the name: 16 bytes a name at most, whatever its length.  A false match
 * (two names with one hash, about 2^-64 per pair) costs a needless suffix,
 * never an overwrite.  `next` remembers, for each name that collided, the
 * suffix to try next, so that a list of a million "download?id=N" URLs
 * does not probe "download.1" ... "download.N" for every entry.
 */
struct get_names {
	struct get_table taken;
	struct get_table next;
};

void get_names_init(struct get_names *s);
void get_names_free(struct get_names *s);

/*
 * Claims `base` or, when it (or its ".part" twin) is taken, the first free
 * `base.1`, `base.2`...; writes it to `out` (GET_NAME_MAX + 16 bytes).
 * Returns 0 or -ENOMEM.
 */
int get_names_claim(struct get_names *s, const char *base, char *out);

/* ---- input (get_input.c) ---------------------------------------------- */

/* One line of the URL list, after parsing. */
struct get_entry {
	char *url;		/* owned */
	char *name;		/* owned; the final (unique) file name */
	bool has_sha;
	unsigned char sha[32];
	unsigned long index;	/* position among all entries, from 0 */
};

void get_entry_clear(struct get_entry *e);

/*
 * Parses one line in place: "URL [name=NAME] [sha256=HEX]", blank lines and
 * '#' comments.  Returns 1 with `*url`, `*name` (NULL when absent) pointing
 * into `line` and `sha` filled when `*has_sha`; 0 for a line with no entry;
 * -EINVAL with a reason in `why` (at least 128 bytes).
 */
int get_parse_line(char *line, char **url, char **name, bool *has_sha,
		   unsigned char sha[32], char *why, size_t why_len);

/* Parses 64 hex digits into `sha`.  Returns 0 or -EINVAL. */
int get_parse_sha256(const char *hex, unsigned char sha[32]);

/* Parses "K/N" with 0 <= K < N.  Returns 0 or -EINVAL. */
int get_parse_shard(const char *s, unsigned long *k, unsigned long *n);

/* True when entry `index` belongs to shard `k` of `n`. */
static inline bool get_shard_has(unsigned long index, unsigned long k,
				 unsigned long n)
{
	return index % n == k;
}

/*
 * The whole input: the URL arguments first, then the lines of a file or of
 * standard input, read one at a time.  Entries of other shards are read (so
 * every shard gives the same names) and skipped.
 */
struct get_input {
	char **args;
	int n_args, next_arg;
	FILE *fp;		/* NULL when no -i */
	FILE *raw_fp;		/* the list's own stream under an abortable fp */
	const char *path;	/* as the user wrote it, "-" for stdin */
	unsigned long lineno;
	char *buf;
	size_t buf_cap;
	unsigned long next_index;
	unsigned long shard_k, shard_n;
	const char *out_name;	/* -o */
	struct get_names names;
};

/*
 * Opens the input.  `path` NULL for none, "-" for standard input.  Returns 0
 * or a negative errno with the reason in `why`.
 */
int get_input_open(struct get_input *in, char **args, int n_args,
		   const char *path, unsigned long shard_k,
		   unsigned long shard_n, const char *out_name,
		   char *why, size_t why_len);
void get_input_close(struct get_input *in);

/*
 * Reads ahead through a regular-file input without consuming it, to check
 * every line and count this shard's entries.  Returns the count, or -EINVAL
 * with "FILE:LINE: reason" in `why`; -ESPIPE when the input cannot be
 * read twice (standard input, a pipe).
 */
long get_input_precheck(struct get_input *in, char *why, size_t why_len);

/*
 * Makes every later read of the list end, with ECANCELED, once `quit_fd`
 * (an eventfd) is readable, so that a thread blocked on a pipe's or a
 * terminal's next line can be stopped.  Returns 0 or -ENOMEM.
 */
int get_input_abortable(struct get_input *in, int quit_fd);

/*
 * Gives the next entry of this shard.  Returns 1 and fills `e` (the caller
 * frees it with get_entry_clear()), 0 at the end, or a negative errno with
 * "FILE:LINE: reason" in `why`.
 */
int get_input_next(struct get_input *in, struct get_entry *e,
		   char *why, size_t why_len);

/* ---- parsing helpers (get_input.c) ------------------------------------ */

/* "1.5" seconds into ns; 0 allowed.  Returns 0 or -EINVAL. */
int get_parse_seconds(const char *s, int64_t *ns);

/* "500k", "2M", "1G" (binary multiples, as curl) into bytes per second. */
int get_parse_rate(const char *s, uint64_t *out);

/* ---- checksums (get_sha.c) -------------------------------------------- */

/*
 * SHA-256 of the whole file `fd` (read with pread from 0 to its end).
 * Returns 0 or a negative errno.
 */
int get_sha256_fd(int fd, unsigned char out[32]);

/* ---- options (get_opts.c) -------------------------------------------- */

#define GET_MAX_HEADERS 64

struct get_opts {
	const char *dir, *out_name, *input;
	const char *cacert;	/* --cacert: NULL for the system's CAs */
	const char *user_agent;	/* --user-agent: NULL for the library's */
	const char *proxy;	/* --proxy: NULL for the environment's */
	const char *no_proxy;	/* --noproxy: NULL for the environment's */
	/* --header lines, NULL-terminated. */
	const char *headers[GET_MAX_HEADERS + 1];
	size_t n_headers;
	unsigned long jobs, per_host, loops, retries, shard_k, shard_n;
	long max_redirs;
	int64_t connect_ns, stall_ns, retry_delay_ns;
	uint64_t rate;
	bool cont, fsync, json, quiet;
};

/*
 * Parses `ringpool get`'s argv into `o`, which holds the defaults.
 * Returns -1 to go on (the URLs start at argv[optind]), else the exit
 * status: 0 after --help, 2 after a usage error, which it has printed.
 */
int get_parse_opts(int argc, char **argv, struct get_opts *o);

/* mkdir -p.  Returns 0 or -errno. */
int get_make_dirs(const char *dir);

/* ---- progress and reports (get_progress.c) ---------------------------- */

struct get_progress;

/* One active transfer as the live display shows it. */
struct get_active {
	const char *name;
	uint64_t done;
	int64_t total;
};

struct get_progress_opts {
	bool json;	/* NDJSON events on stdout */
	bool quiet;	/* -q: only the failure summary */
	bool tty;	/* stderr is a terminal: live display */
	bool color;	/* not NO_COLOR */
};

struct get_progress *get_progress_new(const struct get_progress_opts *o);
/* Frees the reporter and the failures it kept. */
void get_progress_free(struct get_progress *p);

/* Total entries when known (-1 otherwise), for the display and the ETA. */
void get_progress_set_total(struct get_progress *p, long total);

void get_progress_start(struct get_progress *p, const char *url,
			const char *name, uint64_t offset);
void get_progress_retry(struct get_progress *p, const char *url,
			const char *name, unsigned attempt, int64_t delay_ns,
			const char *why);
/* `replaced`: the file took the place of one that failed its sha256=. */
void get_progress_done(struct get_progress *p, const char *url,
		       const char *name, uint64_t size, uint64_t received,
		       bool resumed, bool replaced, unsigned retries,
		       const char *sha_hex);
/* `sha_hex`: the checksum the existing file was found to have, or NULL. */
void get_progress_skipped(struct get_progress *p, const char *url,
			  const char *name, uint64_t size, const char *sha_hex);
/* -c found `name` with the wrong sha256 (`why`): it is downloaded again. */
void get_progress_replacing(struct get_progress *p, const char *url,
			    const char *name, const char *why);
/* Keeps the URL and cause for the summary; `status` 0 when no HTTP one. */
void get_progress_failed(struct get_progress *p, const char *url,
			 const char *name, long status, unsigned retries,
			 const char *why);

/* Redraws the live display (no-op when not a terminal). */
void get_progress_tick(struct get_progress *p, const struct get_active *a,
		       size_t n);

/*
 * Clears the display, prints the summary (stderr) and the final NDJSON
 * event; returns the number of failures.
 */
unsigned long get_progress_finish(struct get_progress *p);

/* Formats `bytes` as "12.3 MiB" into `buf`. */
void get_format_bytes(uint64_t bytes, char *buf, size_t len);

/*
 * Formats a time left as "m:ss", or "h:mm:ss" from an hour, rounded up;
 * "--:--" when it is unknown (negative, NaN) or beyond 99 hours.
 */
void get_format_eta(double seconds, char *buf, size_t len);

#endif
