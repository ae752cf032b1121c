/* SPDX-License-Identifier: MIT */
/*
 * bench-nop: what a ringpool I/O future costs on top of the ring, measured
 * with NOP operations, against raw liburing NOPs.
 *
 *   raw       one thread, one ring created with the setup flags ringpool's
 *             ring_init() would pick (SUBMIT_ALL | SINGLE_ISSUER |
 *             DEFER_TASKRUN where the kernel takes them, else the next
 *             try), the same 256 SQEs and 512 CQEs; per batch: get `batch`
 *             SQEs, prep NOP, io_uring_submit_and_wait(batch), reap the
 *             CQEs and advance the CQ.
 *   owned     an executor with owned rings (the default), per batch,
 *             from the benchmark's thread: rp_nop() x batch,
 *             rp_wait(RP_ALL_COMPLETED), rp_future_unref() x batch.  That is
 *             the whole path: allocation, the ring's queue, the ring
 *             thread, the kernel, completion, and the waiter seeing it.
 *   shared    an executor with shared rings (RP_RINGS_SHARED): the same
 *             calls, with the rp_nop()s between rp_io_batch_begin() and
 *             rp_io_batch_end(), so the benchmark's thread submits the
 *             batch and reaps it itself, as a liburing program would.
 *
 * Each (implementation, batch) pass runs whole batches for --ms milliseconds
 * after a short untimed warm-up; the passes rotate raw / owned / shared, for
 * --rounds rounds.  Reported: ns per operation, best and median of the
 * rounds, and each ringpool side / raw.  Also the round trip of one cache
 * line between two threads, before and after: each operation on an owned
 * ring crosses cores twice, and on a VM that cost depends on where the vCPUs
 * land (measured here from 160 ns to 23 us on the same VM), so it explains
 * most of the spread of the owned side.  The last line is
 *
 *   RESULT nop raw_ns_b1=.. rp_ns_b1=.. rps_ns_b1=.. ... c2c_rtt_ns=..
 *   vs_raw_owned=<owned/raw at batch 32> vs_raw=<shared/raw at batch 32>
 *
 * built from the best rounds (rp_ns: owned rings, rps_ns: shared rings).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <liburing.h>

#include "ringpool.h"

#define MAX_BATCHES	16
#define MAX_ROUNDS	101
#define MAX_BATCH	256U	/* the ring has 256 SQEs */
#define RING_ENTRIES	256U

enum impl { RAW, RP, RPS, N_IMPL };

static const char *const impl_name[N_IMPL] = { "raw", "owned", "shared" };

struct opts {
	unsigned batches[MAX_BATCHES];
	unsigned n_batches;
	unsigned rounds;
	unsigned ms;
	long spin_ns;		/* -1: library default */
	int only;		/* -1: both */
};

static struct opts o = {
	.batches = { 1, 8, 32, 128 },
	.n_batches = 4,
	.rounds = 3,
	.ms = 400,
	.spin_ns = -1,
	.only = -1,
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						     noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench-nop: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
	       1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) *
	       1000u;
}

/* ---- raw liburing ----------------------------------------------------- */

static struct io_uring raw_ring;
static unsigned raw_flags;

/* The same tries, in the same order, as ring_init() in lib/io_uring_setup.c. */
static void raw_setup(void)
{
	static const unsigned tries[] = {
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
		IORING_SETUP_SUBMIT_ALL,
		0,
	};
	struct io_uring_params p;
	unsigned i;
	int ret = -EINVAL;

	for (i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = RING_ENTRIES * 2;
		ret = io_uring_queue_init_params(RING_ENTRIES, &raw_ring, &p);
		if (ret == 0) {
			raw_flags = tries[i];
			return;
		}
		if (ret != -EINVAL)
			break;
	}
	die("io_uring_queue_init_params: %s", strerror(-ret));
}

static void raw_batch(unsigned batch)
{
	struct io_uring_cqe *cqe;
	unsigned i, head, n = 0;
	int ret;

	for (i = 0; i < batch; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&raw_ring);

		io_uring_prep_nop(sqe);
		sqe->user_data = i;
	}
	do
		ret = io_uring_submit_and_wait(&raw_ring, batch);
	while (ret == -EINTR);
	if (ret < 0)
		die("io_uring_submit_and_wait: %s", strerror(-ret));
	io_uring_for_each_cqe(&raw_ring, head, cqe) {
		if (cqe->res < 0)
			die("raw NOP failed: %s", strerror(-cqe->res));
		n++;
	}
	if (n != batch)
		die("raw: %u CQEs for a batch of %u", n, batch);
	io_uring_cq_advance(&raw_ring, n);
}

/* ---- ringpool --------------------------------------------------------- */

static rp_executor *ex_impl[N_IMPL];
static rp_future *fs[MAX_BATCH];

/* --breakdown: time spent in each phase of rp_batch(), in ns. */
static bool breakdown;
static uint64_t ph_submit, ph_wait, ph_unref;

static void rp_batch_on(rp_executor *ex, bool batched, unsigned batch)
{
	uint64_t t0 = 0, t1 = 0, t2 = 0;
	unsigned i;
	int ret, err;
	int64_t v;

	if (breakdown)
		t0 = now_ns();
	if (batched && rp_io_batch_begin(ex) < 0)
		die("rp_io_batch_begin failed");
	for (i = 0; i < batch; i++) {
		ret = rp_nop(ex, NULL, &fs[i]);
		if (ret < 0)
			die("rp_nop: %s", strerror(-ret));
	}
	if (batched && rp_io_batch_end(ex) < 0)
		die("rp_io_batch_end failed");
	if (breakdown)
		t1 = now_ns();
	ret = rp_wait(fs, batch, RP_ALL_COMPLETED, RP_FOREVER, NULL, NULL);
	if (ret < 0)
		die("rp_wait: %s", strerror(-ret));
	if (breakdown)
		t2 = now_ns();
	for (i = 0; i < batch; i++) {
		/* Already done: a check, not a wait. */
		ret = rp_future_result(fs[i], 0, &v, &err);
		if (ret < 0 || err < 0)
			die("ringpool NOP failed: %s",
			    strerror(ret < 0 ? -ret : -err));
		rp_future_unref(fs[i]);
	}
	if (breakdown) {
		uint64_t t3 = now_ns();

		ph_submit += t1 - t0;
		ph_wait += t2 - t1;
		ph_unref += t3 - t2;
	}
}

static void rp_batch(unsigned batch)
{
	rp_batch_on(ex_impl[RP], false, batch);
}

static void rps_batch(unsigned batch)
{
	rp_batch_on(ex_impl[RPS], true, batch);
}

/* ---- core-to-core latency ---------------------------------------------- */

/*
 * Round trip of one cache line between this thread and another: every
 * ringpool operation crosses cores twice (to the ring thread and back), so
 * this sets the floor, and on VMs it varies with where the vCPUs land.
 */
#define PP_ROUNDS 200000

static _Atomic uint32_t pp_word __attribute__((aligned(64)));

static void *pp_peer(void *arg)
{
	uint32_t i;

	(void)arg;
	for (i = 0; i < PP_ROUNDS; i++) {
		while (atomic_load_explicit(&pp_word, memory_order_acquire) !=
		       2 * i + 1)
			;
		atomic_store_explicit(&pp_word, 2 * i + 2,
				      memory_order_release);
	}
	return NULL;
}

static double pingpong_ns(void)
{
	pthread_t t;
	uint64_t t0, t1;
	uint32_t i;

	atomic_store(&pp_word, 0);
	if (pthread_create(&t, NULL, pp_peer, NULL))
		return 0;
	t0 = now_ns();
	for (i = 0; i < PP_ROUNDS; i++) {
		atomic_store_explicit(&pp_word, 2 * i + 1,
				      memory_order_release);
		while (atomic_load_explicit(&pp_word, memory_order_acquire) !=
		       2 * i + 2)
			;
	}
	t1 = now_ns();
	pthread_join(t, NULL);
	return (double)(t1 - t0) / PP_ROUNDS;
}

/* ---- driver ----------------------------------------------------------- */

struct pass {
	double ns_op;
	double cpu_pct;		/* process CPU time / wall time */
	double ph[3];		/* --breakdown: ns per op in each phase */
};

static struct pass run_pass(enum impl im, unsigned batch)
{
	void (*fn)(unsigned) = im == RAW ? raw_batch :
			       im == RP ? rp_batch : rps_batch;
	uint64_t t0, t1, c0, c1, ops = 0, end;
	struct pass p;
	unsigned i;

	/* Warm-up: caches, the slab's magazines, the ring thread spinning. */
	for (i = 0; i < 2000 / batch + 16; i++)
		fn(batch);
	ph_submit = ph_wait = ph_unref = 0;
	c0 = cpu_ns();
	t0 = now_ns();
	end = t0 + (uint64_t)o.ms * 1000000u;
	do {
		/* Check the clock every ~4096 operations at most. */
		for (i = 0; i < 4096 / batch + 1; i++)
			fn(batch);
		ops += (uint64_t)(4096 / batch + 1) * batch;
		t1 = now_ns();
	} while (t1 < end);
	c1 = cpu_ns();
	p.ns_op = (double)(t1 - t0) / (double)ops;
	p.cpu_pct = 100.0 * (double)(c1 - c0) / (double)(t1 - t0);
	p.ph[0] = (double)ph_submit / (double)ops;
	p.ph[1] = (double)ph_wait / (double)ops;
	p.ph[2] = (double)ph_unref / (double)ops;
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, unsigned n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double best(const double *v, unsigned n)
{
	double b = v[0];
	unsigned i;

	for (i = 1; i < n; i++)
		if (v[i] < b)
			b = v[i];
	return b;
}

static unsigned long parse_ul(const char *what, const char *s,
			      unsigned long min, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die("--%s: '%s' is not a number in [%lu, %lu]", what, s, min,
		    max);
	return v;
}

static void parse_batches(const char *arg)
{
	char *copy = strdup(arg), *tok, *save = NULL;

	if (!copy)
		die("out of memory");
	o.n_batches = 0;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o.n_batches == MAX_BATCHES)
			die("--batches: at most %d sizes", MAX_BATCHES);
		o.batches[o.n_batches++] =
			(unsigned)parse_ul("batches", tok, 1, MAX_BATCH);
	}
	free(copy);
	if (!o.n_batches)
		die("--batches: empty list");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-nop [--batches 1,8,32,128] [--rounds N] [--ms N]\n"
		"                 [--spin-ns N] [--only raw|owned|shared] [--breakdown]\n"
		"  --batches L  batch sizes, comma-separated, each <= %u\n"
		"  --rounds N   timed passes per implementation and batch (default 3)\n"
		"  --ms N       length of one pass in ms (default 400)\n"
		"  --spin-ns N  rp_config.spin_ns (default: the library's)\n"
		"  --only I     run one side only (for perf); no RESULT line\n"
		"  --breakdown  time ringpool's submit / wait / unref phases (adds\n"
		"               three clock reads per batch to ringpool's sides)\n",
		MAX_BATCH);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "batches", required_argument, NULL, 'b' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "ms", required_argument, NULL, 'm' },
		{ "spin-ns", required_argument, NULL, 's' },
		{ "only", required_argument, NULL, 'o' },
		{ "breakdown", no_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			parse_batches(optarg);
			break;
		case 'r':
			o.rounds = (unsigned)parse_ul("rounds", optarg, 1,
						      MAX_ROUNDS);
			break;
		case 'm':
			o.ms = (unsigned)parse_ul("ms", optarg, 1, 600000);
			break;
		case 's':
			o.spin_ns = (long)parse_ul("spin-ns", optarg, 0,
						   UINT32_MAX);
			break;
		case 'o':
			if (!strcmp(optarg, "raw"))
				o.only = RAW;
			else if (!strcmp(optarg, "owned"))
				o.only = RP;
			else if (!strcmp(optarg, "shared"))
				o.only = RPS;
			else
				die("--only: 'raw', 'owned' or 'shared'");
			break;
		case 'B':
			breakdown = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
}

static const char *flags_name(unsigned fl)
{
	if (fl & IORING_SETUP_DEFER_TASKRUN)
		return "SUBMIT_ALL|SINGLE_ISSUER|DEFER_TASKRUN";
	if (fl & IORING_SETUP_COOP_TASKRUN)
		return "SUBMIT_ALL|COOP_TASKRUN";
	if (fl & IORING_SETUP_SUBMIT_ALL)
		return "SUBMIT_ALL";
	return "none";
}

int main(int argc, char **argv)
{
	static double ns[N_IMPL][MAX_BATCHES][MAX_ROUNDS];
	static double cpu[N_IMPL][MAX_BATCHES][MAX_ROUNDS];
	struct rp_config cfg;
	unsigned b, r, k, b32 = MAX_BATCHES;
	double pp_before, pp_after;
	int backend, ret;

	parse_args(argc, argv);

	raw_setup();
	for (k = RP; k < N_IMPL; k++) {
		rp_config_init(&cfg);
		cfg.backend = RP_BACKEND_URING;
		cfg.ring_mode = k == RP ? RP_RINGS_OWNED : RP_RINGS_SHARED;
		cfg.workers = 1;	/* the CPU pool is not used */
		if (o.spin_ns >= 0)
			cfg.spin_ns = (uint32_t)o.spin_ns;
		ret = rp_executor_new(&cfg, &ex_impl[k]);
		if (ret < 0)
			die("rp_executor_new (io_uring, %s rings): %s",
			    impl_name[k], strerror(-ret));
		rp_executor_backend(ex_impl[k], &backend, NULL);
		if (backend != RP_BACKEND_URING)
			die("the executor did not get io_uring");
	}

	printf("bench-nop: ringpool %s, raw ring flags %s, %u round(s) of "
	       "%u ms per implementation and batch\n",
	       rp_version(), flags_name(raw_flags), o.rounds, o.ms);
	pp_before = pingpong_ns();
	printf("  core-to-core cache-line round trip: %.0f ns\n", pp_before);
	fflush(stdout);

	for (r = 0; r < o.rounds; r++) {
		for (b = 0; b < o.n_batches; b++) {
			for (k = 0; k < N_IMPL; k++) {
				/* Rotate which side goes first. */
				enum impl im = (enum impl)((k + r + b) % N_IMPL);
				struct pass p;

				if (o.only >= 0 && (int)im != o.only)
					continue;
				p = run_pass(im, o.batches[b]);
				ns[im][b][r] = p.ns_op;
				cpu[im][b][r] = p.cpu_pct;
				printf("  round %u batch %3u %-8s %8.1f ns/op  "
				       "CPU %3.0f%%", r + 1, o.batches[b],
				       impl_name[im], p.ns_op, p.cpu_pct);
				if (breakdown && im != RAW)
					printf("  (rp_nop %.0f + rp_wait %.0f + "
					       "unref %.0f ns/op)", p.ph[0],
					       p.ph[1], p.ph[2]);
				putchar('\n');
				fflush(stdout);
			}
		}
	}

	printf("\n%-6s %-8s %10s %10s %8s\n", "batch", "impl", "best ns/op",
	       "median", "CPU med");
	for (b = 0; b < o.n_batches; b++) {
		for (k = 0; k < N_IMPL; k++) {
			if (o.only >= 0 && (int)k != o.only)
				continue;
			printf("%-6u %-8s %10.1f %10.1f %7.0f%%\n",
			       o.batches[b], impl_name[k],
			       best(ns[k][b], o.rounds),
			       median(ns[k][b], o.rounds),
			       median(cpu[k][b], o.rounds));
		}
		for (k = RP; o.only < 0 && k < N_IMPL; k++)
			printf("%-6u %-8s %10.2fx %9.2fx\n", o.batches[b],
			       k == RP ? "owned/raw" : "shared/raw",
			       best(ns[k][b], o.rounds) /
			       best(ns[RAW][b], o.rounds),
			       median(ns[k][b], o.rounds) /
			       median(ns[RAW][b], o.rounds));
		if (o.batches[b] == 32)
			b32 = b;
	}

	pp_after = pingpong_ns();
	printf("\ncore-to-core cache-line round trip: %.0f ns before, %.0f ns "
	       "after\n", pp_before, pp_after);

	for (k = RP; k < N_IMPL; k++) {
		ret = rp_executor_free(ex_impl[k]);
		if (ret < 0)
			die("rp_executor_free: %s", strerror(-ret));
	}
	io_uring_queue_exit(&raw_ring);

	if (o.only >= 0)
		return 0;
	if (b32 == MAX_BATCHES)
		b32 = o.n_batches - 1;	/* no batch 32: the last one */
	printf("\nRESULT nop");
	for (b = 0; b < o.n_batches; b++)
		printf(" raw_ns_b%u=%.1f rp_ns_b%u=%.1f rps_ns_b%u=%.1f",
		       o.batches[b], best(ns[RAW][b], o.rounds),
		       o.batches[b], best(ns[RP][b], o.rounds),
		       o.batches[b], best(ns[RPS][b], o.rounds));
	printf(" c2c_rtt_ns=%.0f vs_raw_owned=%.2f vs_raw=%.2f\n",
	       (pp_before + pp_after) / 2,
	       best(ns[RP][b32], o.rounds) / best(ns[RAW][b32], o.rounds),
	       best(ns[RPS][b32], o.rounds) / best(ns[RAW][b32], o.rounds));
	return 0;
}
