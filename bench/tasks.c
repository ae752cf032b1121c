/* SPDX-License-Identifier: MIT */
/*
 * bench-tasks: task throughput of ringpool against libuv's thread pool and
 * GLib's GThreadPool, plus ringpool's serial round trip.
 *
 * Each implementation gets the same job, in the same process and with the same
 * number of worker threads: submit N tasks that do nothing but count
 * themselves on a per-thread counter (so that completion can be checked; see
 * task_body()), then wait until every one of them has completed and its
 * bookkeeping is released.  The clock runs from the first submission to the
 * moment all N are done:
 *
 *   ringpool  rp_submit() x N, rp_wait(RP_ALL_COMPLETED) (or rp_future_result()
 *             on each, with --rp-mode result), rp_future_unref() x N.
 *   libuv     uv_queue_work() x N on a loop, uv_run() until every after_work
 *             callback has run (UV_THREADPOOL_SIZE = workers).
 *   GLib      g_thread_pool_push() x N on an exclusive pool of `workers`
 *             threads, then g_thread_pool_free(pool, FALSE, TRUE), which
 *             returns once every task has been processed.
 *
 * Pools, loops and the arrays that hold futures/requests are set up before the
 * clock starts (and faulted in), and every implementation gets one untimed
 * full-size warm-up pass.  The reps rotate the order of the implementations;
 * the best rep of each is what the RESULT line reports (the median is printed
 * too).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <uv.h>

#include "ringpool.h"

#define DEFAULT_TASKS	1000000UL
#define DEFAULT_REPS	5U
#define DEFAULT_RTT	100000UL
#define DEFAULT_TIMEOUT	600U
#define RTT_WARMUP	1000UL
#define MAX_WORKERS	1024U
#define MAX_REPS	1000U

enum impl {
	IMPL_RINGPOOL,
	IMPL_LIBUV,
	IMPL_GLIB,
	IMPL_COUNT,
};

static const char *const impl_name[IMPL_COUNT] = {
	[IMPL_RINGPOOL] = "ringpool",
	[IMPL_LIBUV] = "libuv",
	[IMPL_GLIB] = "glib",
};

struct opts {
	unsigned workers;
	unsigned long tasks;
	unsigned reps;
	unsigned long rtt;
	unsigned timeout_s;
	bool rp_each;		/* --rp-mode result */
	bool count_shared;	/* --count shared */
	enum impl only;		/* --only; IMPL_COUNT = all */
};

/* Whether implementation `im` takes part in this run. */
#define ON(o, im)	((o).only == IMPL_COUNT || (o).only == (enum impl)(im))

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						     noreturn));

/*
 * What every task of every implementation does: count itself on a counter of
 * its own thread (one cache line per thread, written only by that thread), so
 * that completion can be checked without making the tasks contend on a shared
 * line.  With --count shared each task also bumps one shared atomic counter.
 * The pools' own synchronization orders these plain increments before the
 * moment the waiting thread learns that the task completed.
 */
struct tally {
	unsigned long n;
} __attribute__((aligned(64)));

static struct tally *tallies;
static unsigned max_tallies;
static atomic_uint n_tallies;
static _Thread_local struct tally *my_tally;
static bool count_shared;
static atomic_ulong shared_count;

static struct tally *tally_slot(void)
{
	unsigned i = atomic_fetch_add(&n_tallies, 1);

	if (i >= max_tallies) {
		static const char msg[] = "bench-tasks: too many threads\n";
		ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);

		(void)r;
		_exit(1);
	}
	my_tally = &tallies[i];
	return my_tally;
}

static inline void task_body(void)
{
	struct tally *t = my_tally;

	if (!t)
		t = tally_slot();
	t->n++;
	if (count_shared)
		atomic_fetch_add_explicit(&shared_count, 1,
					  memory_order_relaxed);
}

static void tally_reset(void)
{
	unsigned i, n = atomic_load(&n_tallies);

	for (i = 0; i < n && i < max_tallies; i++)
		tallies[i].n = 0;
	atomic_store(&shared_count, 0);
}

/* Tasks run since tally_reset(); dies if the shared count disagrees. */
static unsigned long tally_sum(const char *who)
{
	unsigned i, n = atomic_load(&n_tallies);
	unsigned long sum = 0;

	for (i = 0; i < n && i < max_tallies; i++)
		sum += tallies[i].n;
	if (count_shared && atomic_load(&shared_count) != sum)
		die("%s: shared counter says %lu tasks ran, per-thread ones %lu",
		    who, atomic_load(&shared_count), sum);
	return sum;
}

/* Phases of one ringpool pass, for the breakdown line. */
struct rpb_phases {
	double submit;
	double wait;
	double unref;
};

struct rpb_bench {
	rp_executor *ex;
	rp_future **fs;
	bool each;
};

struct luv_bench {
	uv_loop_t loop;
	uv_work_t *reqs;
	unsigned long after;	/* after_work callbacks run (loop thread) */
	unsigned long bad;	/* after_work callbacks with status != 0 */
};

struct gtp_bench {
	GThreadPool *pool;
	unsigned workers;
	int item;		/* pushed as the (non-NULL) task data */
};

static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench-tasks: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void on_alarm(int sig)
{
	static const char msg[] =
		"bench-tasks: watchdog: run took longer than --timeout, giving up\n";
	ssize_t r;

	(void)sig;
	r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	_exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double secs_since(uint64_t t0, uint64_t t1)
{
	return (double)(t1 - t0) / 1e9;
}

/* Touches every page of a fresh (zeroed) allocation so that no timed pass
 * pays for faulting it in. */
static void prefault(void *p, size_t len)
{
	volatile char *c = p;
	size_t i;

	for (i = 0; i < len; i += 4096)
		c[i] = 0;
}

/* ---- ringpool -------------------------------------------------------- */

static int rpb_noop(void *arg, int64_t *value)
{
	(void)arg;
	(void)value;
	task_body();
	return 0;
}

static void rpb_init(struct rpb_bench *b, const struct opts *o)
{
	struct rp_config cfg;
	int r;

	rp_config_init(&cfg);
	cfg.workers = o->workers;
	r = rp_executor_new(&cfg, &b->ex);
	if (r)
		die("rp_executor_new: %s", strerror(-r));
	if (rp_executor_workers(b->ex) != (int)o->workers)
		die("ringpool: asked for %u workers, got %d", o->workers,
		    rp_executor_workers(b->ex));
	b->fs = calloc(o->tasks, sizeof(*b->fs));
	if (!b->fs)
		die("out of memory");
	prefault(b->fs, o->tasks * sizeof(*b->fs));
	b->each = o->rp_each;
}

static void rpb_fini(struct rpb_bench *b)
{
	int r = rp_executor_free(b->ex);

	if (r)
		die("rp_executor_free: %s", strerror(-r));
	free(b->fs);
}

static double rpb_pass(struct rpb_bench *b, unsigned long n,
		      struct rpb_phases *ph)
{
	rp_future **fs = b->fs;
	unsigned long i, bad = 0;
	uint64_t t0, t1, t2, t3;
	size_t n_done = 0;
	int r;

	tally_reset();
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		r = rp_submit(b->ex, rpb_noop, NULL, &fs[i]);
		if (r)
			die("rp_submit #%lu: %s", i, strerror(-r));
	}
	t1 = now_ns();
	if (b->each) {
		for (i = 0; i < n; i++) {
			int64_t v;
			int err;

			r = rp_future_result(fs[i], RP_FOREVER, &v, &err);
			if (r)
				die("rp_future_result #%lu: %s", i,
				    strerror(-r));
			bad += err != 0;
		}
		n_done = n - bad;
	} else {
		r = rp_wait(fs, n, RP_ALL_COMPLETED, RP_FOREVER, NULL, &n_done);
		if (r)
			die("rp_wait: %s", strerror(-r));
	}
	t2 = now_ns();
	for (i = 0; i < n; i++)
		rp_future_unref(fs[i]);
	t3 = now_ns();

	if (n_done != n)
		die("ringpool: %zu of %lu futures completed", n_done, n);
	if (tally_sum("ringpool") != n)
		die("ringpool: %lu of %lu tasks ran", tally_sum("ringpool"), n);
	if (ph) {
		ph->submit = secs_since(t0, t1);
		ph->wait = secs_since(t1, t2);
		ph->unref = secs_since(t2, t3);
	}
	return secs_since(t0, t3);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted `v[n]`, in microseconds. */
static double pct_us(const uint64_t *v, unsigned long n, unsigned p)
{
	unsigned long rank = (unsigned long)(((unsigned long long)n * p + 99) /
					     100);

	if (rank < 1)
		rank = 1;
	return (double)v[rank - 1] / 1e3;
}

/* Serial round trip: submit one task, wait for it, release it. */
static void rpb_rtt(struct rpb_bench *b, unsigned long n, double *p50,
		   double *p99, double *mean)
{
	uint64_t *lat = malloc(n * sizeof(*lat));
	uint64_t sum = 0;
	unsigned long i;

	if (!lat)
		die("out of memory");
	tally_reset();
	for (i = 0; i < RTT_WARMUP + n; i++) {
		uint64_t t0, t1;
		rp_future *f;
		int64_t v;
		int r, err;

		t0 = now_ns();
		r = rp_submit(b->ex, rpb_noop, NULL, &f);
		if (r)
			die("rp_submit (rtt): %s", strerror(-r));
		r = rp_future_result(f, RP_FOREVER, &v, &err);
		if (r || err)
			die("rp_future_result (rtt): %s",
			    strerror(r ? -r : -err));
		rp_future_unref(f);
		t1 = now_ns();
		if (i >= RTT_WARMUP) {
			lat[i - RTT_WARMUP] = t1 - t0;
			sum += t1 - t0;
		}
	}
	if (tally_sum("ringpool rtt") != RTT_WARMUP + n)
		die("ringpool rtt: %lu of %lu tasks ran",
		    tally_sum("ringpool rtt"), RTT_WARMUP + n);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	*p50 = pct_us(lat, n, 50);
	*p99 = pct_us(lat, n, 99);
	*mean = (double)sum / (double)n / 1e3;
	free(lat);
}

/* ---- libuv ----------------------------------------------------------- */

static void luv_noop(uv_work_t *req)
{
	(void)req;
	task_body();
}

static void luv_after(uv_work_t *req, int status)
{
	struct luv_bench *b = req->data;

	b->after++;
	b->bad += status != 0;
}

static void luv_init(struct luv_bench *b, const struct opts *o)
{
	int r = uv_loop_init(&b->loop);

	if (r)
		die("uv_loop_init: %s", uv_strerror(r));
	b->reqs = calloc(o->tasks, sizeof(*b->reqs));
	if (!b->reqs)
		die("out of memory");
	prefault(b->reqs, o->tasks * sizeof(*b->reqs));
}

static void luv_fini(struct luv_bench *b)
{
	int r = uv_loop_close(&b->loop);

	if (r)
		die("uv_loop_close: %s", uv_strerror(r));
	free(b->reqs);
}

static double luv_pass(struct luv_bench *b, unsigned long n)
{
	unsigned long i;
	uint64_t t0, t1;
	int r;

	tally_reset();
	b->after = 0;
	b->bad = 0;
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		b->reqs[i].data = b;
		r = uv_queue_work(&b->loop, &b->reqs[i], luv_noop, luv_after);
		if (r)
			die("uv_queue_work #%lu: %s", i, uv_strerror(r));
	}
	uv_run(&b->loop, UV_RUN_DEFAULT);
	t1 = now_ns();

	if (b->after != n || b->bad)
		die("libuv: %lu of %lu after_work callbacks ran (%lu failed)",
		    b->after, n, b->bad);
	if (tally_sum("libuv") != n)
		die("libuv: %lu of %lu tasks ran", tally_sum("libuv"), n);
	return secs_since(t0, t1);
}

/* ---- GLib ------------------------------------------------------------ */

static void gtp_noop(gpointer data, gpointer user_data)
{
	(void)data;
	(void)user_data;
	task_body();
}

/*
 * A fresh exclusive pool (its threads start here, outside the timed part).
 * Each pass frees its pool to wait for the tasks, so each gets a new one.
 */
static void gtp_new_pool(struct gtp_bench *b)
{
	GError *err = NULL;

	b->pool = g_thread_pool_new(gtp_noop, b, (gint)b->workers, TRUE,
				    &err);
	if (!b->pool)
		die("g_thread_pool_new: %s", err ? err->message : "failed");
}

static void gtp_init(struct gtp_bench *b, const struct opts *o)
{
	b->workers = o->workers;
	gtp_new_pool(b);
}

static void gtp_fini(struct gtp_bench *b)
{
	if (b->pool)
		g_thread_pool_free(b->pool, FALSE, TRUE);
	b->pool = NULL;
}

static double gtp_pass(struct gtp_bench *b, unsigned long n)
{
	unsigned long i;
	uint64_t t0, t1;

	if (!b->pool)
		gtp_new_pool(b);
	tally_reset();
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		GError *err = NULL;

		if (!g_thread_pool_push(b->pool, &b->item, &err))
			die("g_thread_pool_push #%lu: %s", i,
			    err ? err->message : "failed");
	}
	/* Returns once every queued task has been processed. */
	g_thread_pool_free(b->pool, FALSE, TRUE);
	t1 = now_ns();
	b->pool = NULL;

	if (tally_sum("glib") != n)
		die("glib: %lu of %lu tasks ran", tally_sum("glib"), n);
	gtp_new_pool(b);
	return secs_since(t0, t1);
}

/* ---- driver ---------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-tasks [--workers N] [--tasks N] [--reps N] [--rtt N]\n"
		"                   [--rp-mode wait|result] [--timeout SECONDS]\n"
		"                   [--count thread|shared] [--only ringpool|libuv|glib]\n"
		"  --workers N   worker threads for every pool (default: online CPUs)\n"
		"  --tasks N     empty tasks per pass (default %lu)\n"
		"  --reps N      timed passes per implementation, best is kept (default %u)\n"
		"  --rtt N       ringpool serial round trips to time, 0 skips (default %lu)\n"
		"  --rp-mode M   how ringpool waits: 'wait' = one rp_wait(RP_ALL_COMPLETED)\n"
		"                (default), 'result' = rp_future_result() on each future\n"
		"  --timeout S   watchdog: exit 1 if the run takes longer (default %u, 0 = off)\n"
		"  --count M     how tasks count themselves: 'thread' = a counter per thread\n"
		"                (default), 'shared' = also one shared atomic counter\n"
		"  --only NAME   run one implementation only (for profiling); no RESULT line\n",
		DEFAULT_TASKS, DEFAULT_REPS, DEFAULT_RTT, DEFAULT_TIMEOUT);
}

static unsigned long parse_ul(const char *name, const char *s,
			      unsigned long min, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "bench-tasks: --%s: want an integer in [%lu, %lu], got '%s'\n",
			name, min, max, s);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "workers", required_argument, NULL, 'w' },
		{ "tasks", required_argument, NULL, 'n' },
		{ "reps", required_argument, NULL, 'r' },
		{ "rtt", required_argument, NULL, 't' },
		{ "rp-mode", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "only", required_argument, NULL, 'o' },
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int c;

	o->workers = ncpu > 0 ? (unsigned)ncpu : 1;
	if (o->workers > MAX_WORKERS)
		o->workers = MAX_WORKERS;
	o->tasks = DEFAULT_TASKS;
	o->reps = DEFAULT_REPS;
	o->rtt = DEFAULT_RTT;
	o->timeout_s = DEFAULT_TIMEOUT;
	o->rp_each = false;
	o->count_shared = false;
	o->only = IMPL_COUNT;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			o->workers = (unsigned)parse_ul("workers", optarg, 1,
							MAX_WORKERS);
			break;
		case 'n':
			o->tasks = parse_ul("tasks", optarg, 1, UINT_MAX);
			break;
		case 'r':
			o->reps = (unsigned)parse_ul("reps", optarg, 1, MAX_REPS);
			break;
		case 't':
			o->rtt = parse_ul("rtt", optarg, 0, 100000000UL);
			break;
		case 'm':
			if (!strcmp(optarg, "wait")) {
				o->rp_each = false;
			} else if (!strcmp(optarg, "result")) {
				o->rp_each = true;
			} else {
				fprintf(stderr, "bench-tasks: --rp-mode: want 'wait' or 'result'\n");
				exit(2);
			}
			break;
		case 'o':
			for (c = 0; c < IMPL_COUNT; c++)
				if (!strcmp(optarg, impl_name[c]))
					break;
			if (c == IMPL_COUNT) {
				fprintf(stderr, "bench-tasks: --only: want ringpool, libuv or glib\n");
				exit(2);
			}
			o->only = (enum impl)c;
			break;
		case 'c':
			if (!strcmp(optarg, "thread")) {
				o->count_shared = false;
			} else if (!strcmp(optarg, "shared")) {
				o->count_shared = true;
			} else {
				fprintf(stderr, "bench-tasks: --count: want 'thread' or 'shared'\n");
				exit(2);
			}
			break;
		case 'T':
			o->timeout_s = (unsigned)parse_ul("timeout", optarg, 0,
							  UINT_MAX);
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
		fprintf(stderr, "bench-tasks: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		exit(2);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, unsigned n)
{
	double *s = malloc(n * sizeof(*s));
	double m;

	if (!s)
		die("out of memory");
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

/* CPU time of the whole process (all threads), in seconds. */
static double cpu_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One timed pass of implementation `im`; returns wall seconds. */
static double run_pass(enum impl im, struct rpb_bench *rb,
		       struct luv_bench *ub, struct gtp_bench *gb,
		       unsigned long n, struct rpb_phases *ph)
{
	switch (im) {
	case IMPL_RINGPOOL:
		return rpb_pass(rb, n, ph);
	case IMPL_LIBUV:
		return luv_pass(ub, n);
	case IMPL_GLIB:
		return gtp_pass(gb, n);
	case IMPL_COUNT:
		break;
	}
	abort();
}

int main(int argc, char **argv)
{
	static double times[IMPL_COUNT][MAX_REPS];
	struct rpb_phases ph, best_ph = { 0, 0, 0 };
	double best[IMPL_COUNT] = { 0 }, med[IMPL_COUNT] = { 0 };
	double rate[IMPL_COUNT] = { 0 };
	double p50 = 0, p99 = 0, mean = 0;
	struct gtp_bench gb = { 0 };
	struct rpb_bench rb = { 0 };
	struct luv_bench ub = { 0 };
	struct opts o;
	char buf[16];
	unsigned r, k;

	parse_args(argc, argv, &o);
	setvbuf(stdout, NULL, _IOLBF, 0);
	count_shared = o.count_shared;
	/* main, ringpool's and libuv's workers, a GLib pool per pass */
	max_tallies = 16 + o.workers * (o.reps + 8);
	tallies = calloc(max_tallies, sizeof(*tallies));
	if (!tallies)
		die("out of memory");
	if (o.timeout_s) {
		signal(SIGALRM, on_alarm);
		alarm(o.timeout_s);
	}

	/* libuv reads this once, when its thread pool first starts. */
	snprintf(buf, sizeof(buf), "%u", o.workers);
	if (setenv("UV_THREADPOOL_SIZE", buf, 1))
		die("setenv: %s", strerror(errno));

	printf("tasks: %lu empty tasks per pass, %u workers each, %ld online CPUs, "
	       "%u reps (order rotates), best rep reported (median also shown)\n",
	       o.tasks, o.workers, sysconf(_SC_NPROCESSORS_ONLN), o.reps);
	printf("versions: ringpool %s, libuv %s, glib %u.%u.%u; ringpool waits with %s; "
	       "tasks count on %s\n",
	       rp_version(), uv_version_string(), glib_major_version,
	       glib_minor_version, glib_micro_version,
	       o.rp_each ? "rp_future_result() per future" :
			   "rp_wait(RP_ALL_COMPLETED)",
	       o.count_shared ? "a per-thread and a shared atomic counter" :
				"a per-thread counter");
	if (o.only < IMPL_COUNT)
		printf("--only %s: diagnostic run, no RESULT line\n",
		       impl_name[o.only]);

	if (ON(o, IMPL_RINGPOOL))
		rpb_init(&rb, &o);
	if (ON(o, IMPL_LIBUV))
		luv_init(&ub, &o);
	if (ON(o, IMPL_GLIB))
		gtp_init(&gb, &o);

	/*
	 * One untimed full-size pass each: starts libuv's threads and lets
	 * every allocator grow to the size the timed passes need.
	 */
	for (k = 0; k < IMPL_COUNT; k++)
		if (ON(o, k))
			run_pass((enum impl)k, &rb, &ub, &gb, o.tasks, NULL);

	for (r = 0; r < o.reps; r++) {
		for (k = 0; k < IMPL_COUNT; k++) {
			enum impl im = (enum impl)((r + k) % IMPL_COUNT);
			double t, c0;

			if (!ON(o, im))
				continue;
			c0 = cpu_secs();
			t = run_pass(im, &rb, &ub, &gb, o.tasks, &ph);
			c0 = cpu_secs() - c0;
			if (im == IMPL_RINGPOOL &&
			    (!r || t < best[IMPL_RINGPOOL]))
				best_ph = ph;
			times[im][r] = t;
			if (!r || t < best[im])
				best[im] = t;
			printf("  rep %u %-8s %8.3f ms  %12.0f tasks/s  "
			       "cpu %5.0f%% of one core\n",
			       r + 1, impl_name[im], t * 1e3,
			       (double)o.tasks / t, 100 * c0 / t);
		}
	}

	for (k = 0; k < IMPL_COUNT; k++) {
		if (!ON(o, k))
			continue;
		med[k] = median(times[k], o.reps);
		rate[k] = (double)o.tasks / best[k];
		printf("%-8s best %8.3f ms = %12.0f tasks/s (%6.1f ns/task); "
		       "median %8.3f ms = %12.0f tasks/s\n",
		       impl_name[k], best[k] * 1e3, rate[k],
		       best[k] * 1e9 / (double)o.tasks, med[k] * 1e3,
		       (double)o.tasks / med[k]);
	}
	if (ON(o, IMPL_RINGPOOL))
		printf("ringpool best rep breakdown: submit %.3f ms (%.1f ns/task), "
		       "wait %.3f ms, unref %.3f ms (%.1f ns/task)\n",
		       best_ph.submit * 1e3,
		       best_ph.submit * 1e9 / (double)o.tasks,
		       best_ph.wait * 1e3, best_ph.unref * 1e3,
		       best_ph.unref * 1e9 / (double)o.tasks);
	if (o.only == IMPL_COUNT) {
		printf("ringpool vs libuv: %.2fx throughput (best), %.2fx (median)\n",
		       rate[IMPL_RINGPOOL] / rate[IMPL_LIBUV],
		       med[IMPL_LIBUV] / med[IMPL_RINGPOOL]);
		printf("ringpool vs glib:  %.2fx throughput (best), %.2fx (median)\n",
		       rate[IMPL_RINGPOOL] / rate[IMPL_GLIB],
		       med[IMPL_GLIB] / med[IMPL_RINGPOOL]);
	}

	if (ON(o, IMPL_RINGPOOL) && o.rtt) {
		rpb_rtt(&rb, o.rtt, &p50, &p99, &mean);
		printf("ringpool serial round trip (submit + rp_future_result + unref, "
		       "%lu samples): p50 %.2f us, p99 %.2f us, mean %.2f us\n",
		       o.rtt, p50, p99, mean);
	}

	if (ON(o, IMPL_GLIB))
		gtp_fini(&gb);
	if (ON(o, IMPL_LIBUV))
		luv_fini(&ub);
	if (ON(o, IMPL_RINGPOOL))
		rpb_fini(&rb);
	free(tallies);

	if (o.only < IMPL_COUNT)
		return 0;
	printf("RESULT tasks ringpool_per_s=%llu libuv_per_s=%llu glib_per_s=%llu "
	       "vs_libuv=%.2f vs_glib=%.2f rtt_p50_us=%.2f rtt_p99_us=%.2f\n",
	       (unsigned long long)(rate[IMPL_RINGPOOL] + 0.5),
	       (unsigned long long)(rate[IMPL_LIBUV] + 0.5),
	       (unsigned long long)(rate[IMPL_GLIB] + 0.5),
	       rate[IMPL_RINGPOOL] / rate[IMPL_LIBUV],
	       rate[IMPL_RINGPOOL] / rate[IMPL_GLIB], p50, p99);
	return 0;
}
