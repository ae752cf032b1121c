/* SPDX-License-Identifier: MIT */
/*
 * Shared parts of `ringpool bench`: the latency histogram, the throughput
 * series, one run's result, the options every subject takes, and the
 * reports (table, JSON, HTML) that all subjects print through.
 */
#ifndef RINGPOOL_CLI_BENCH_H
#define RINGPOOL_CLI_BENCH_H

#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "ringpool.h"

/* ---- latency histogram (bench_hist.c) ------------------------------------ */

/*
 * Log-linear, as HdrHistogram: values below 2^BH_SUB_BITS (128) ns have a
 * bucket each; above, every power of two is cut into BH_HALF (64) equal
 * sub-buckets, so a bucket is at most 1/64 (1.6%) of its value wide.
 * Values are capped at 2^BH_MAX_BITS ns (18 min).  Counting is lossless:
 * every sample lands in exactly one bucket.
 */
#define BH_SUB_BITS 7
#define BH_MAX_BITS 40
#define BH_HALF (1u << (BH_SUB_BITS - 1)) /* 64 */
#define BH_BUCKETS ((1u << BH_SUB_BITS) + (BH_MAX_BITS - BH_SUB_BITS) * BH_HALF)

struct bench_hist {
	uint64_t n;
	uint64_t min, max;
	double sum;
	uint64_t counts[BH_BUCKETS];
};

void bench_hist_init(struct bench_hist *h);

static inline unsigned bench_hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < (1u << BH_SUB_BITS))
		return (unsigned)v;
	if (v >= (1ULL << BH_MAX_BITS))
		v = (1ULL << BH_MAX_BITS) - 1;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - (BH_SUB_BITS - 1);
	return (1u << BH_SUB_BITS) + (shift - 1) * BH_HALF +
	       (unsigned)((v >> shift) - BH_HALF);
}

/* Adds one sample of `ns` nanoseconds.  Not thread safe: one writer. */
static inline void bench_hist_add(struct bench_hist *h, uint64_t ns)
{
	h->counts[bench_hist_index(ns)]++;
	if (!h->n || ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	h->sum += (double)ns;
	h->n++;
}

/* Adds every sample of `src` to `dst`. */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);

/* The lowest and highest value bucket `i` holds. */
uint64_t bench_hist_bucket_lo(unsigned i);
uint64_t bench_hist_bucket_hi(unsigned i);

/*
 * The value below which `p` percent of the samples lie (the upper edge of
 * the bucket that holds that rank, clamped to the exact max); 0 when empty.
 */
uint64_t bench_hist_percentile(const struct bench_hist *h, double p);

/* ---- one run ------------------------------------------------------------- */

/* Percentiles every report prints, in this order. */
#define BENCH_NPCT 5
extern const double bench_pcts[BENCH_NPCT]; /* 50 90 99 99.9 100 */
extern const char *const bench_pct_names[BENCH_NPCT];

/* Ops completed in each interval of the measured window. */
struct bench_series {
	double interval_s;
	size_t n, cap;
	uint64_t *ops;
};

int bench_series_push(struct bench_series *s, uint64_t ops);

struct bench_run {
	char tool[16];	  /* "ringpool" or "fio" */
	char engine[32];  /* uring, threads, sync; fio: io_uring, psync */
	char backend[16]; /* the library's backend as it reported it */
	char variant[32]; /* e.g. "16x64B" for net; "" for none */
	unsigned round;
	uint64_t ops;	     /* ops completed in the measured window */
	uint64_t ops_issued; /* ops issued in it (each one completes) */
	uint64_t errors;
	uint64_t bytes;
	double secs;
	double user_s, sys_s;
	bool have_cpu;
	struct bench_hist *lat; /* NULL when only pct_ns is known (fio) */
	uint64_t pct_ns[BENCH_NPCT];
	double mean_ns;
	struct bench_series series;
	bool interrupted;
	char error[160];       /* "" when the run succeeded */
	json_object *settings; /* what this run used, owned */
};

/* Fills pct_ns and mean_ns from lat. */
void bench_run_finish(struct bench_run *r);
void bench_run_release(struct bench_run *r);

/* ---- common options and the document ------------------------------------- */

struct bench_common {
	bool json;
	const char *report; /* HTML file, or NULL */
	double runtime;	    /* seconds; 0 with ops */
	double warmup;
	uint64_t ops; /* 0: time-based */
	unsigned rounds;
	bool progress; /* stderr is a terminal */
};

/* A comparison of one ringpool engine against its fio counterpart. */
struct bench_pair {
	char engine[32];
	char fio_engine[32];
	/* Same engine class, depth and block size. */
	bool match;
	char why[96];		  /* when not */
	double rp_best, fio_best; /* IOPS, best round of each */
	double rp_mbps, fio_mbps;
	double rp_median, fio_median; /* IOPS, median round of each */
	/*
	 * The median over the rounds of ringpool's IOPS over fio's in the
	 * same round: the two runs of a round are back to back, so a load
	 * that comes and goes on a shared machine falls on both.
	 */
	double paired;
	/* The fio job's command line, as a shell takes it; malloc'ed. */
	char *fio_command;
};

struct bench_doc {
	const char *subject;
	const char *ops_unit;  /* "IOPS", "msg/s"...; the table's header */
	json_object *settings; /* owned */
	struct bench_run *runs;
	size_t n_runs, cap_runs;
	struct bench_pair *pairs;
	size_t n_pairs;
	bool interrupted;
};

/*
 * A pair's figures as the table and the page print them: ringpool's IOPS
 * and MB/s, fio's, and the three ratios; "-" for what a side that
 * measured nothing (^C) lacks.
 */
#define BENCH_PAIR_FIGURES 7
void bench_pair_figures(const struct bench_pair *p,
			char f[BENCH_PAIR_FIGURES][24]);

/* A new zeroed run at the end of the document, or NULL without memory. */
struct bench_run *bench_doc_add_run(struct bench_doc *d);
void bench_doc_release(struct bench_doc *d);

/*
 * The outputs: the table on `out`, the JSON document on stdout instead with
 * `c->json`, and the HTML page when asked.  Returns 0, or 1 after printing
 * why a report could not be written.
 */
int bench_output(const struct bench_doc *d, const struct bench_common *c);

/* The JSON document (new reference). */
json_object *bench_doc_json(const struct bench_doc *d);

/*
 * Writes the self-contained HTML page to `f` (not flushed or closed).
 * Returns 0, or -EIO when the stream reports an error.
 */
int bench_report_html(const struct bench_doc *d, FILE *f);

/*
 * Whether --report PATH can be written: its folder exists and takes new
 * files, and PATH is not a folder.  Checked before a run, so a long run is
 * not lost to a typo.  Returns 0 or -errno ("-" is stdout: always 0).
 */
int bench_report_check(const char *path);

/* Kernel release and the ring features this kernel offers, for settings. */
/*
 * The executor's backend as runs report it: "io_uring" (owned rings),
 * "io_uring/shared" (RINGPOOL_RINGS=shared) or "threads".
 */
void bench_backend_name(rp_executor *ex, char *buf, size_t len);

void bench_add_system(json_object *settings);

/* ---- helpers (bench_util.c) ---------------------------------------------- */

/* Set by SIGINT/SIGTERM once bench_catch_signals() ran. */
extern volatile sig_atomic_t bench_stop;
void bench_catch_signals(void);

double bench_now_s(void);
uint64_t bench_now_ns(void);
void bench_cpu_s(double *user, double *sys);
void bench_sleep_s(double s);

/*
 * Sizes: "4096", "4096B", "4k", "4KiB", "1M", "2G" (powers of 1024, with
 * or without "i", where fio reads "4KiB" as 4000).  0 or -EINVAL.
 */
int bench_parse_size(const char *s, uint64_t *out);
/* Seconds in [0, 86400], fractions allowed.  0 or -EINVAL. */
int bench_parse_secs(const char *s, double *out);
/*
 * Seconds for the settings: a JSON number written as short as it reads
 * back ("0.2", not 0.20000000000000001).  New reference.
 */
json_object *bench_json_secs(double s);

/* getopt_long() codes of the options every subject takes. */
enum {
	BO_JSON = 1000,
	BO_REPORT,
	BO_RUNTIME,
	BO_OPS,
	BO_WARMUP,
	BO_ROUNDS,
};

/* Their entries, for a subject's getopt_long() table. */
#define BENCH_COMMON_OPTIONS                                                   \
	{"json", no_argument, NULL, BO_JSON},                                  \
		{"report", required_argument, NULL, BO_REPORT},                \
		{"runtime", required_argument, NULL, BO_RUNTIME},              \
		{"ops", required_argument, NULL, BO_OPS},                      \
		{"warmup", required_argument, NULL, BO_WARMUP},                \
	{                                                                      \
		"rounds", required_argument, NULL, BO_ROUNDS                   \
	}

/*
 * Handles one of those options (`opt` is its code), and getopt_long's ':'
 * (a missing value) and '?' (an unknown option) for the subject's argv.
 * Returns 1 when it was one (stored in `c`), 0 when it was not, 2 after
 * printing a usage error.
 */
int bench_common_opt(struct bench_common *c, const char *subject, int opt,
		     const char *arg, char **argv);
/* Checks the combination; 0, or 2 after printing why. */
int bench_common_check(struct bench_common *c, const char *subject);

/* Prints "ringpool bench SUBJECT: ..." on stderr. */
void bench_err(const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A progress line on stderr (only when c->progress): "\r...". */
void bench_progress(const struct bench_common *c, const char *what,
		    double elapsed, double total, uint64_t ops);
void bench_progress_end(const struct bench_common *c);

/*
 * The clock of a run whose operations are issued by chains: waits out the
 * warm-up, turns measuring on, samples the completions every 100 ms for
 * the series and the progress line, and ends at the run time, when every
 * chain has ended (--ops, or an error), or at ^C; then stops and drains the
 * chains and stores the window's time and CPU time in `r`.
 */
struct bench_meter {
	void *arg;
	uint64_t (*done)(void *arg); /* counted completions so far */
	bool (*ended)(void *arg);    /* all chains ended, or an error */
	void (*measure)(void *arg);  /* from now on, count */
	void (*stop_and_drain)(void *arg);
	/*
	 * CLOCK_MONOTONIC ns when the last chain ended by itself (--ops, an
	 * error), else 0: the window ends there, not when the clock noticed.
	 */
	uint64_t (*ended_at)(void *arg);
	/*
	 * Sleeps up to `s` seconds, less when the last chain ends: the run
	 * then stops at once, and the CPU time read at its end holds no
	 * idle tail (an SQPOLL thread spins through it).  NULL: sleeps.
	 */
	void (*wait)(void *arg, double s);
};

/*
 * Waits up to `s` seconds for `sem` (posted once, when the last chain of a
 * run ended); a post it takes is put back for the drain that follows.
 */
void bench_wait_sem(sem_t *sem, double s);

/* Wall and CPU clocks at the start of the measured window. */
struct bench_window {
	double t0, user0, sys0;
};

/* Takes the clocks: called just before the chains start. */
void bench_window_start(struct bench_window *w);

/*
 * `w` holds the clocks taken before the chains started; without warm-up the
 * window begins there (counting was on from the first operation), with one
 * it begins when the warm-up ends.
 */
void bench_measure(const struct bench_common *c, const char *what,
		   double runtime, double warmup, struct bench_window *w,
		   const struct bench_meter *m, struct bench_run *r);

/*
 * The chains of a net or http run: each connection or slot starts its next
 * operation from the done-callback of the last, until the run stops them or
 * `ops` (--ops) operations were issued.  Zero it, set `ops`, sem_init
 * `drained`, set `active` to the number of chains before starting them.
 */
struct bench_chains {
	uint64_t ops; /* --ops, or 0 for --runtime */
	atomic_bool measuring, stopping;
	atomic_uint active; /* chains not ended */
	_Atomic uint64_t ended_ns; /* when active reached 0 */
	_Atomic uint64_t issued_total;
	_Atomic int first_error;
	sem_t drained; /* posted when the last chain ends */
};

/* Records the run's first error and stops every chain. */
void bench_chains_error(struct bench_chains *ch, int err);
/* One chain has ended. */
void bench_chains_end(struct bench_chains *ch);
/*
 * Whether a chain may issue one more operation; *counted tells whether it
 * counts (past the warm-up).
 */
bool bench_chains_next(struct bench_chains *ch, bool *counted);
/* The meter of bench_measure() over `ch`; `done` counts completions. */
void bench_chains_meter(struct bench_chains *ch, uint64_t (*done)(void *),
			struct bench_meter *m);

/* ---- file engines (bench_engine.c) --------------------------------------- */

enum { ENG_URING, ENG_THREADS, ENG_SYNC, ENG_COUNT };
extern const char *const bench_engine_names[ENG_COUNT];

/*
 * Whether a comma list has an empty item ("a,,b", ",a", "a,"), which a
 * list option refuses rather than skips.
 */
bool bench_list_has_empty(const char *list);

/*
 * Parses --engine's comma list into order[] (how many in *n), each name
 * once, from the first `allowed` of bench_engine_names (ENG_SYNC leaves
 * sync out); `expected` names them for the message.  0, or 2 after saying
 * what is wrong.  `list` is cut up.
 */
int bench_parse_engines(const char *subject, char *list, int allowed,
			const char *expected, int order[ENG_COUNT], int *n);

/* One measured run of file I/O. */
struct file_job {
	int engine;
	int fd; /* open with the run's flags */
	bool seq;
	unsigned read_pct;    /* 100: reads only, 0: writes only */
	uint64_t bs, nblocks; /* offsets are whole blocks below nblocks */
	unsigned qd, jobs;
	bool fixed_bufs, reg_files;
	bool sqpoll;		/* uring: SQPOLL rings */
	bool huge_pages;	/* buffers in huge pages (MAP_HUGETLB) */
	double runtime, warmup; /* seconds; runtime 0 with ops */
	uint64_t ops;
	const struct bench_common *c;
};

/*
 * Runs `j` and fills `r` (tool, engine, backend, counts, times, histogram,
 * series).  A failure of the I/O itself ends the run early and is told in
 * r->error; returns -errno only when the run could not start (also told in
 * r->error).
 */
int bench_file_run(const struct file_job *j, struct bench_run *r);

/*
 * The size of the system's default huge pages and how many are free
 * (/proc/meminfo); -ENOENT when the kernel has none.
 */
int bench_huge_pages(uint64_t *size, uint64_t *free_pages);

/* ---- the in-process server of bench net and http (bench_srv.c) ---------- */

struct srv_conn;

enum { SRV_ECHO, SRV_HTTP };

struct bench_srv {
	int kind; /* SRV_ECHO or SRV_HTTP: set before starting */
	/* SRV_HTTP: the body of every response, set before starting. */
	const char *body;
	uint64_t body_len;
	_Atomic uint64_t requests; /* HTTP requests answered */
	struct srv_conn *head;	   /* only the server thread changes it */
	int lfd, ep, efd;
	unsigned port;
	pthread_t thread;
};

/*
 * Listens on 127.0.0.1 (a free port, in ->port) and starts the thread.
 * 0 or -errno (nothing is left open then).
 */
int bench_srv_start(struct bench_srv *s);
/* Stops the thread and closes every connection it still has. */
void bench_srv_stop(struct bench_srv *s);

/* ---- the downloads of bench http (bench_http_run.c) ---------------------- */

/* One measured run of downloads. */
struct http_job {
	int engine;		      /* ENG_URING or ENG_THREADS */
	unsigned conns;		      /* downloads in flight, a file each */
	uint64_t size;		      /* every body's length, checked */
	const char *dir;	      /* where the files are made and removed */
	unsigned port;		      /* of the server on 127.0.0.1 */
	const struct bench_common *c; /* --files, --runtime, --warmup */
};

/*
 * Runs `j` and fills `r` (tool, engine, backend, counts, times, histogram,
 * series).  A failed download ends the run; one of the wrong length is
 * counted and the run goes on; both kinds count in r->errors and are told
 * in r->error.  Returns 0, -EPROTO when the only failures were wrong
 * lengths, or -errno for the first failed download.
 */
int bench_http_run(const struct http_job *j, struct bench_run *r);

/* ---- nginx for bench http --server nginx (bench_nginx.c) ----------------- */

struct bench_nginx {
	pid_t pid;	    /* the master process, or -1 */
	unsigned port;	    /* on 127.0.0.1 */
	char dir[PATH_MAX]; /* its temporary folder; "" for none */
};

/* Where nginx is installed, or NULL when it is not. */
const char *bench_nginx_path(void);

/*
 * Starts an nginx that answers every GET with `body` (`len` bytes, copied
 * to a file in its folder), and waits until it listens.  Returns 0, or
 * -errno with the reason in `why` (nothing is left behind then).
 */
int bench_nginx_start(struct bench_nginx *n, const char *body, uint64_t len,
		      char *why, size_t why_len);
/* Stops it and removes its folder.  Safe after a failed start. */
void bench_nginx_stop(struct bench_nginx *n);

/* ---- subjects ------------------------------------------------------------ */

int bench_file(int argc, char **argv);
int bench_net(int argc, char **argv);
int bench_tasks(int argc, char **argv);
int bench_http(int argc, char **argv);

/* ---- fio (bench_fio.c) --------------------------------------------------- */

/* An fio job, the counterpart of one file run. */
struct fio_job {
	const char *path;
	const char *rw; /* fio's --rw */
	unsigned read_pct;
	uint64_t bs, size;
	bool direct, invalidate;
	const char *ioengine; /* io_uring, psync */
	unsigned iodepth, numjobs;
	bool fixedbufs, registerfiles, sqthread_poll;
	/* --iomem=shmhuge with pages of this many bytes; 0: fio's malloc */
	uint64_t hugepage_size;
	const char *cpus; /* --cpus_allowed, or NULL */
	double runtime, warmup;
	uint64_t ops;
};

/* True when `fio` runs here. */
bool bench_fio_available(void);

/*
 * Runs `f` with fio and fills `r` from its JSON output (IOPS, bytes, CPU,
 * and the percentiles of the latency fio measures the way the matching
 * engine does: total latency for io_uring, completion latency for psync;
 * the command line goes into r->settings).
 * Returns 0, or -errno with the reason in r->error.
 */
int bench_fio_run(const struct fio_job *f, struct bench_run *r);

/*
 * The command line of a run of bench_fio_run() (its settings' "command"),
 * each argument quoted for a shell where it needs it, so that the job can
 * be run again by hand: a malloc'ed string, or NULL.
 */
char *bench_fio_command_line(const struct bench_run *r);

#endif
