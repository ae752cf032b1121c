/* SPDX-License-Identifier: MIT */
/*
 * bench-tasks: the three pools under test (ringpool, libuv's thread pool,
 * GLib's GThreadPool) running the same empty task; tasks.c drives them.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tasks.h"

#define RTT_WARMUP	1000UL

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

void tally_init(unsigned max, bool shared)
{
	max_tallies = max;
	count_shared = shared;
	tallies = calloc(max, sizeof(*tallies));
	if (!tallies)
		die("out of memory");
}

void tally_free(void)
{
	free(tallies);
	tallies = NULL;
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

void rpb_init(struct rpb_bench *b, const struct opts *o)
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

void rpb_fini(struct rpb_bench *b)
{
	int r = rp_executor_free(b->ex);

	if (r)
		die("rp_executor_free: %s", strerror(-r));
	free(b->fs);
}

double rpb_pass(struct rpb_bench *b, unsigned long n,
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

void rpb_rtt(struct rpb_bench *b, unsigned long n, double *p50,
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

void luv_init(struct luv_bench *b, const struct opts *o)
{
	int r = uv_loop_init(&b->loop);

	if (r)
		die("uv_loop_init: %s", uv_strerror(r));
	b->reqs = calloc(o->tasks, sizeof(*b->reqs));
	if (!b->reqs)
		die("out of memory");
	prefault(b->reqs, o->tasks * sizeof(*b->reqs));
}

void luv_fini(struct luv_bench *b)
{
	int r = uv_loop_close(&b->loop);

	if (r)
		die("uv_loop_close: %s", uv_strerror(r));
	free(b->reqs);
}

double luv_pass(struct luv_bench *b, unsigned long n)
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

void gtp_init(struct gtp_bench *b, const struct opts *o)
{
	b->workers = o->workers;
	gtp_new_pool(b);
}

void gtp_fini(struct gtp_bench *b)
{
	if (b->pool)
		g_thread_pool_free(b->pool, FALSE, TRUE);
	b->pool = NULL;
}

double gtp_pass(struct gtp_bench *b, unsigned long n)
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
