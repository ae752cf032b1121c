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

#include "tasks.h"

#define DEFAULT_TASKS	1000000UL
#define DEFAULT_REPS	5U
#define DEFAULT_RTT	100000UL
#define DEFAULT_TIMEOUT	600U
#define MAX_WORKERS	1024U
#define MAX_REPS	1000U

static const char *const impl_name[IMPL_COUNT] = {
	[IMPL_RINGPOOL] = "ringpool",
	[IMPL_LIBUV] = "libuv",
	[IMPL_GLIB] = "glib",
};

/* Whether implementation `im` takes part in this run. */
#define ON(o, im)	((o).only == IMPL_COUNT || (o).only == (enum impl)(im))

void die(const char *fmt, ...)
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
	/* main, ringpool's and libuv's workers, a GLib pool per pass */
	tally_init(16 + o.workers * (o.reps + 8), o.count_shared);
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
	tally_free();

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
