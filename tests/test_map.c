/* SPDX-License-Identifier: MIT */
/*
 * rp_map_new(), rp_map_next() and rp_map_free(): input order, chunking, the
 * bound on work in flight, per-input errors, timeouts, cancellation, early
 * release and a large input.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "ringpool.h"
#include "testutil.h"

#define MS ((int64_t)1000000)

struct map_ctx {
	/* Results the consumer has received so far. */
	atomic_size_t taken;
	/* Largest (input index - taken) seen by a task when it started. */
	atomic_size_t max_ahead;
	/* Calls of item_task() running now, and the most at once. */
	atomic_size_t running;
	atomic_size_t max_running;
	atomic_size_t calls;
	/* Inputs with idx % fail_mod == fail_rem fail with -EDOM. */
	size_t fail_mod;
	size_t fail_rem;
	/* When `gate` is set, input `gate_idx` posts `started` and waits. */
	struct tu_latch *gate;
	struct tu_latch *started;
	size_t gate_idx;
};

struct item {
	size_t idx;
	struct map_ctx *ctx;
};

static void map_ctx_init(struct map_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	atomic_init(&ctx->taken, 0);
	atomic_init(&ctx->max_ahead, 0);
	atomic_init(&ctx->running, 0);
	atomic_init(&ctx->max_running, 0);
	atomic_init(&ctx->calls, 0);
}

static void atomic_max(atomic_size_t *max, size_t v)
{
	size_t cur = atomic_load(max);

	while (v > cur && !atomic_compare_exchange_weak(max, &cur, v))
		;
}

/* Some work whose length depends on the input, so tasks end out of order. */
static void busy_work(size_t idx)
{
	unsigned n = (unsigned)((idx * 7919u) % 512u);
	volatile unsigned i;

	for (i = 0; i < n; i++)
		;
}

static int64_t expected_value(size_t idx)
{
	return (int64_t)idx * 3 + 1;
}

static int item_task(void *arg, int64_t *value)
{
	const struct item *it = arg;
	struct map_ctx *ctx = it->ctx;
	size_t taken, running;
	int ret = 0;

	atomic_fetch_add(&ctx->calls, 1);
	running = atomic_fetch_add(&ctx->running, 1) + 1;
	atomic_max(&ctx->max_running, running);
	taken = atomic_load(&ctx->taken);
	if (it->idx >= taken)
		atomic_max(&ctx->max_ahead, it->idx - taken);

	if (ctx->gate && it->idx == ctx->gate_idx) {
		tu_latch_post(ctx->started);
		tu_latch_wait(ctx->gate, 1);
	}
	busy_work(it->idx);
	if (ctx->fail_mod && it->idx % ctx->fail_mod == ctx->fail_rem)
		ret = -EDOM;
	else
		*value = expected_value(it->idx);
	atomic_fetch_sub(&ctx->running, 1);
	return ret;
}

static struct item *make_items(struct map_ctx *ctx, size_t n)
{
	struct item *items = calloc(n ? n : 1, sizeof(*items));
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(items);
	for (i = 0; i < n; i++) {
		items[i].idx = i;
		items[i].ctx = ctx;
	}
	return items;
}

/*
 * Takes all `n` results of `m` in order and checks each against
 * item_task()'s rules; then checks that the map is exhausted.  Returns the
 * number of mismatches (also asserted to be 0).
 */
static size_t consume_all(rp_map *m, struct map_ctx *ctx, size_t n,
			  bool slow_consumer)
{
	size_t i, bad = 0;
	int64_t value;
	int error;
	int ret;

	for (i = 0; i < n; i++) {
		bool should_fail = ctx->fail_mod &&
				   i % ctx->fail_mod == ctx->fail_rem;

		value = -1;
		error = 1;
		ret = rp_map_next(m, RP_FOREVER, &value, &error);
		atomic_store(&ctx->taken, i + 1);
		if (ret != 0) {
			bad++;
			continue;
		}
		if (should_fail ? error != -EDOM : error != 0)
			bad++;
		else if (!should_fail && value != expected_value(i))
			bad++;
		if (slow_consumer)
			busy_work(i + 11);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, &value, &error), -ENODATA);
	CU_ASSERT_EQUAL(rp_map_next(m, 0, NULL, NULL), -ENODATA);
	return bad;
}

static void run_ordered_map(unsigned workers, size_t n, size_t chunk,
			    size_t max_inflight, size_t fail_mod)
{
	struct rp_map_opts opts;
	struct map_ctx ctx;
	rp_executor *ex = NULL;
	struct item *items;
	rp_map *m = NULL;
	int ret;

	map_ctx_init(&ctx);
	ctx.fail_mod = fail_mod;
	ctx.fail_rem = fail_mod ? 2 % fail_mod : 0;
	items = make_items(&ctx, n);
	memset(&opts, 0, sizeof(opts));
	opts.chunk_size = chunk;
	opts.max_inflight = max_inflight;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(workers, &ex), 0);
	ret = rp_map_new(ex, item_task, items, sizeof(*items), n, &opts, &m);
	CU_ASSERT_EQUAL(ret, 0);
	if (ret == 0) {
		consume_all(m, &ctx, n, false);
		rp_map_free(m);
	}
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&ctx.calls), n);
	free(items);
}

static void test_map_yields_results_in_input_order_for_chunk_sizes(void)
{
	static const size_t chunks[] = { 0, 1, 3, 7 };
	unsigned i;

	/* 200 is not a multiple of 3 or 7: the last chunk is short. */
	for (i = 0; i < 4; i++) {
		run_ordered_map(4, 200, chunks[i], 0, 0);
		run_ordered_map(2, 200, chunks[i], 5, 0);
	}
	run_ordered_map(3, 1, 7, 1, 0);
	run_ordered_map(3, 7, 7, 1, 0);
	run_ordered_map(3, 8, 7, 1, 0);
}

static void test_map_reports_error_of_each_failing_input(void)
{
	static const size_t chunks[] = { 1, 3, 7 };
	unsigned i;

	for (i = 0; i < 3; i++) {
		run_ordered_map(3, 101, chunks[i], 4, 5);
		run_ordered_map(1, 30, chunks[i], 2, 1);
	}
}

static void check_inflight_bound(unsigned workers, size_t chunk,
				 size_t max_inflight, size_t n)
{
	size_t tasks = max_inflight ? max_inflight : 2 * (size_t)workers;
	size_t per_task = chunk ? chunk : 1;
	struct rp_map_opts opts;
	struct map_ctx ctx;
	rp_executor *ex = NULL;
	struct item *items;
	rp_map *m = NULL;
	int ret;

	map_ctx_init(&ctx);
	items = make_items(&ctx, n);
	memset(&opts, 0, sizeof(opts));
	opts.chunk_size = chunk;
	opts.max_inflight = max_inflight;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(workers, &ex), 0);
	ret = rp_map_new(ex, item_task, items, sizeof(*items), n, &opts, &m);
	CU_ASSERT_EQUAL(ret, 0);
	if (ret == 0) {
		consume_all(m, &ctx, n, true);
		rp_map_free(m);
	}
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);

	printf("\n    workers %u chunk %zu max_inflight %zu: %zu ahead at most (bound %zu), %zu running at once",
	       workers, chunk, max_inflight, atomic_load(&ctx.max_ahead),
	       tasks * per_task, atomic_load(&ctx.max_running));
	/* No input ran more than max_inflight * chunk ahead of the consumer. */
	CU_ASSERT(atomic_load(&ctx.max_ahead) <= tasks * per_task);
	/* A task runs its inputs one after the other. */
	CU_ASSERT(atomic_load(&ctx.max_running) <= tasks);
	CU_ASSERT(atomic_load(&ctx.max_running) <= workers);
	CU_ASSERT_EQUAL(atomic_load(&ctx.calls), n);
	free(items);
}

static void test_map_inflight_never_exceeds_max_inflight_times_chunk(void)
{
	size_t n = tu_under_valgrind() ? 400 : 5000;

	check_inflight_bound(2, 1, 1, n);
	check_inflight_bound(2, 1, 4, n);
	check_inflight_bound(2, 3, 2, n);
	check_inflight_bound(4, 7, 3, n);
	check_inflight_bound(3, 5, 1, n);
	/* max_inflight 0: twice the number of workers. */
	check_inflight_bound(2, 3, 0, n);
}

static void test_map_with_no_inputs_gives_enodata(void)
{
	struct rp_map_opts opts;
	struct map_ctx ctx;
	rp_executor *ex = NULL;
	struct item one;
	rp_map *m = NULL;
	int64_t value = 0;
	int error = 0;

	map_ctx_init(&ctx);
	memset(&opts, 0, sizeof(opts));
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_map_new(ex, item_task, NULL, sizeof(one), 0,
					 &opts, &m), 0);
	CU_ASSERT_PTR_NOT_NULL(m);
	CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, &value, &error), -ENODATA);
	CU_ASSERT_EQUAL(rp_map_next(m, 0, &value, &error), -ENODATA);
	rp_map_free(m);

	one.idx = 0;
	one.ctx = &ctx;
	m = NULL;
	CU_ASSERT_EQUAL_FATAL(rp_map_new(ex, item_task, &one, sizeof(one), 0,
					 &opts, &m), 0);
	CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, &value, &error), -ENODATA);
	rp_map_free(m);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&ctx.calls), 0);
}

static void test_map_new_invalid_arguments_return_einval(void)
{
	struct rp_map_opts opts;
	struct map_ctx ctx;
	rp_executor *ex = NULL;
	struct item items[4];
	rp_map *m = NULL;
	size_t i;

	map_ctx_init(&ctx);
	for (i = 0; i < 4; i++) {
		items[i].idx = i;
		items[i].ctx = &ctx;
	}
	memset(&opts, 0, sizeof(opts));
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL(rp_map_new(NULL, item_task, items, sizeof(items[0]), 4,
				   &opts, &m), -EINVAL);
	CU_ASSERT_EQUAL(rp_map_new(ex, NULL, items, sizeof(items[0]), 4,
				   &opts, &m), -EINVAL);
	CU_ASSERT_EQUAL(rp_map_new(ex, item_task, items, sizeof(items[0]), 4,
				   &opts, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rp_map_new(ex, item_task, NULL, sizeof(items[0]), 4,
				   &opts, &m), -EINVAL);
	CU_ASSERT_EQUAL(rp_map_new(ex, item_task, items, 0, 4, &opts, &m),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_map_new(ex, item_task, items, 0, 0, &opts, &m),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT), 0);
	/* The failed calls submitted nothing. */
	CU_ASSERT_EQUAL(atomic_load(&ctx.calls), 0);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_map_next_and_free_accept_null(void)
{
	int64_t value = 0;
	int error = 0;

	CU_ASSERT_EQUAL(rp_map_next(NULL, RP_FOREVER, &value, &error), -EINVAL);
	CU_ASSERT_EQUAL(rp_map_next(NULL, 0, NULL, NULL), -EINVAL);
	rp_map_free(NULL);
}

static void test_map_new_on_shut_down_executor_returns_eshutdown(void)
{
	struct rp_map_opts opts;
	struct map_ctx ctx;
	rp_executor *ex = NULL;
	struct item items[3];
	rp_map *m = NULL;
	size_t i;

	map_ctx_init(&ctx);
	for (i = 0; i < 3; i++) {
		items[i].idx = i;
		items[i].ctx = &ctx;
	}
	memset(&opts, 0, sizeof(opts));
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT), 0);
	CU_ASSERT_EQUAL(rp_map_new(ex, item_task, items, sizeof(items[0]), 3,
				   &opts, &m), -ESHUTDOWN);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&ctx.calls), 0);
}

static int failing_initializer(void *arg)
{
	(void)arg;
	return -EACCES;
}

static void test_map_new_on_broken_executor_returns_enotrecoverable(void)
{
	struct rp_map_opts opts;
	struct rp_config cfg;
	struct map_ctx ctx;
	rp_executor *ex = NULL;
	struct item items[3];
	rp_map *m = NULL;
	size_t i;

	map_ctx_init(&ctx);
	for (i = 0; i < 3; i++) {
		items[i].idx = i;
		items[i].ctx = &ctx;
	}
	memset(&opts, 0, sizeof(opts));
	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.workers = 2;
	cfg.initializer = failing_initializer;
	CU_ASSERT_EQUAL_FATAL(rp_executor_new(&cfg, &ex), 0);
	CU_ASSERT_EQUAL(rp_map_new(ex, item_task, items, sizeof(items[0]), 3,
				   &opts, &m), -ENOTRECOVERABLE);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&ctx.calls), 0);
}

static void test_map_next_times_out_while_next_result_is_not_ready(void)
{
	struct tu_latch gate, started;
	struct rp_map_opts opts;
	struct map_ctx ctx;
	rp_executor *ex = NULL;
	struct item *items;
	rp_map *m = NULL;
	int64_t t0, elapsed, value = 0;
	int error = 1;

	tu_latch_init(&gate);
	tu_latch_init(&started);
	map_ctx_init(&ctx);
	ctx.gate = &gate;
	ctx.started = &started;
	ctx.gate_idx = 0;
	items = make_items(&ctx, 10);
	memset(&opts, 0, sizeof(opts));
	opts.max_inflight = 3;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_map_new(ex, item_task, items, sizeof(*items),
					 10, &opts, &m), 0);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_map_next(m, 20 * MS, &value, &error), -ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 20 * MS);
	CU_ASSERT(elapsed < 20 * MS + tu_timeout_slack_ns());
	CU_ASSERT_EQUAL(rp_map_next(m, 0, &value, &error), -ETIMEDOUT);

	/* A timeout loses nothing: every result still comes, in order. */
	tu_latch_post(&gate);
	consume_all(m, &ctx, 10, false);
	rp_map_free(m);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	free(items);
	tu_latch_destroy(&gate);
	tu_latch_destroy(&started);
}

static void test_map_next_returns_ecanceled_after_cancel_pending_shutdown(void)
{
	struct tu_latch gate, started;
	struct rp_map_opts opts;
	struct map_ctx ctx;
	rp_executor *ex = NULL;
	struct item *items;
	rp_map *m = NULL;
	int64_t value = 0;
	int error = 1;
	int i, ret;

	tu_latch_init(&gate);
	tu_latch_init(&started);
	map_ctx_init(&ctx);
	ctx.gate = &gate;
	ctx.started = &started;
	ctx.gate_idx = 0;
	items = make_items(&ctx, 10);
	memset(&opts, 0, sizeof(opts));
	opts.chunk_size = 1;
	opts.max_inflight = 4;

	/* One worker: input 0 holds it, inputs 1..3 are queued. */
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_map_new(ex, item_task, items, sizeof(*items),
					 10, &opts, &m), 0);
	tu_latch_wait(&started, 1);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_CANCEL_PENDING),
			0);
	tu_latch_post(&gate);

	CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, &value, &error), 0);
	CU_ASSERT_EQUAL(error, 0);
	CU_ASSERT_EQUAL(value, expected_value(0));
	/*
	 * Inputs 1..3 were cancelled, and no more work can be queued: each
	 * call reports one or the other.
	 */
	for (i = 0; i < 3; i++) {
		ret = rp_map_next(m, RP_FOREVER, &value, &error);
		CU_ASSERT(ret == -ECANCELED || ret == -ESHUTDOWN);
	}
	rp_map_free(m);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&ctx.calls), 1);
	free(items);
	tu_latch_destroy(&gate);
	tu_latch_destroy(&started);
}

static void check_free_early(unsigned workers, size_t n, size_t chunk,
			     size_t max_inflight, size_t take)
{
	struct rp_map_opts opts;
	struct map_ctx ctx;
	rp_executor *ex = NULL;
	struct item *items;
	rp_map *m = NULL;
	size_t i, calls_at_free;
	int64_t value;
	int error;

	map_ctx_init(&ctx);
	items = make_items(&ctx, n);
	memset(&opts, 0, sizeof(opts));
	opts.chunk_size = chunk;
	opts.max_inflight = max_inflight;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(workers, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_map_new(ex, item_task, items, sizeof(*items),
					 n, &opts, &m), 0);
	for (i = 0; i < take; i++) {
		value = -1;
		error = 1;
		CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, &value, &error), 0);
		CU_ASSERT_EQUAL(error, 0);
		CU_ASSERT_EQUAL(value, expected_value(i));
	}
	rp_map_free(m);
	calls_at_free = atomic_load(&ctx.calls);
	/*
	 * Nothing may read the inputs after rp_map_free(): release them now
	 * (ASan and valgrind catch a late read), then let the executor drain.
	 */
	free(items);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT), 0);
	CU_ASSERT_EQUAL(atomic_load(&ctx.calls), calls_at_free);
	CU_ASSERT(calls_at_free >= take);
	CU_ASSERT(calls_at_free <= (take + max_inflight + 1) * chunk);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_map_free_early_cancels_pending_and_stops_reading_inputs(void)
{
	size_t n = tu_scaled(100000);

	check_free_early(1, n, 1, 64, 3);
	check_free_early(2, n, 7, 32, 10);
	check_free_early(2, n, 3, 16, 0);
}

static void test_map_accepts_null_value_and_error(void)
{
	struct rp_map_opts opts;
	struct map_ctx ctx;
	rp_executor *ex = NULL;
	struct item *items;
	rp_map *m = NULL;
	size_t i;

	map_ctx_init(&ctx);
	items = make_items(&ctx, 20);
	memset(&opts, 0, sizeof(opts));
	opts.chunk_size = 3;
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_map_new(ex, item_task, items, sizeof(*items),
					 20, &opts, &m), 0);
	for (i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, NULL, NULL), 0);
	CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, NULL, NULL), -ENODATA);
	rp_map_free(m);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	free(items);
}

/*
 * A chunk size larger than the input count is one chunk of all the inputs,
 * as in Python.  The arrays used to be sized by the chunk size, so the call
 * failed with -ENOMEM (or aborted under ASan) for three inputs.
 */
static void test_map_chunk_size_larger_than_input_count(void)
{
	static const size_t sizes[] = { 4, (size_t)1 << 40, SIZE_MAX / 16,
					SIZE_MAX };
	struct rp_map_opts opts;
	struct map_ctx ctx;
	rp_executor *ex = NULL;
	struct item *items;
	rp_map *m = NULL;
	int64_t value;
	size_t i, k;
	int error;

	map_ctx_init(&ctx);
	items = make_items(&ctx, 3);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		memset(&opts, 0, sizeof(opts));
		opts.chunk_size = sizes[k];
		opts.max_inflight = k % 2 ? 0 : SIZE_MAX;
		m = NULL;
		CU_ASSERT_EQUAL_FATAL(rp_map_new(ex, item_task, items,
						 sizeof(*items), 3, &opts,
						 &m), 0);
		for (i = 0; i < 3; i++) {
			value = -1;
			error = 1;
			CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, &value,
						    &error), 0);
			CU_ASSERT_EQUAL(error, 0);
			CU_ASSERT_EQUAL(value, expected_value(i));
		}
		CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, &value, &error),
				-ENODATA);
		rp_map_free(m);
	}
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	free(items);
}

/* Each input waits until all `n` have started, or gives up after a while. */
struct meet {
	struct tu_latch arrived;
	unsigned n;
	atomic_uint gave_up;
};

static int meet_task(void *arg, int64_t *value)
{
	struct meet *mt = *(struct meet *const *)arg;

	tu_latch_post(&mt->arrived);
	if (atomic_load(&mt->gave_up) == 0 &&
	    !tu_latch_wait_for(&mt->arrived, mt->n, tu_stuck_timeout_ns()))
		atomic_fetch_add(&mt->gave_up, 1);
	*value = 1;
	return 0;
}

static void test_map_runs_its_tasks_on_several_workers_at_once(void)
{
	struct rp_map_opts opts;
	struct meet mt;
	struct meet *inputs[3] = { &mt, &mt, &mt };
	rp_executor *ex = NULL;
	rp_map *m = NULL;
	int64_t value;
	int error;
	unsigned i;

	tu_latch_init(&mt.arrived);
	mt.n = 3;
	atomic_init(&mt.gave_up, 0);
	memset(&opts, 0, sizeof(opts));
	opts.chunk_size = 1;
	opts.max_inflight = 3;
	/* Three workers, three tasks in flight: they must meet. */
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(3, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_map_new(ex, meet_task, inputs,
					 sizeof(inputs[0]), 3, &opts, &m), 0);
	for (i = 0; i < 3; i++) {
		value = 0;
		error = 1;
		CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, &value, &error), 0);
		CU_ASSERT_EQUAL(error, 0);
		CU_ASSERT_EQUAL(value, 1);
	}
	CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, &value, &error), -ENODATA);
	rp_map_free(m);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&mt.gave_up), 0);
	tu_latch_destroy(&mt.arrived);
}

/* The large map: one-byte inputs, the index read from the address. */
static const char *big_base;

static int big_task(void *arg, int64_t *value)
{
	size_t idx = (size_t)((const char *)arg - big_base);

	*value = (int64_t)idx * 2 + 1;
	return 0;
}

static void test_map_ten_million_inputs_chunk_1000_max_inflight_4(void)
{
	size_t n = tu_under_valgrind() ? 100000 : 10000000;
	struct rp_map_opts opts;
	rp_executor *ex = NULL;
	rp_map *m = NULL;
	size_t i, bad = 0;
	char *inputs;
	int64_t value;
	int error, ret;

	inputs = calloc(n, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inputs);
	big_base = inputs;
	memset(&opts, 0, sizeof(opts));
	opts.chunk_size = 1000;
	opts.max_inflight = 4;
	CU_ASSERT_EQUAL_FATAL(rp_executor_new(NULL, &ex), 0);
	ret = rp_map_new(ex, big_task, inputs, 1, n, &opts, &m);
	CU_ASSERT_EQUAL(ret, 0);
	if (ret == 0) {
		for (i = 0; i < n; i++) {
			value = 0;
			error = 1;
			ret = rp_map_next(m, RP_FOREVER, &value, &error);
			if (!ret && !error && value == (int64_t)i * 2 + 1)
				continue;
			if (!bad)
				fprintf(stderr, "input %zu: ret %d error %d value %lld\n",
					i, ret, error, (long long)value);
			bad++;
		}
		CU_ASSERT_EQUAL(bad, 0);
		CU_ASSERT_EQUAL(rp_map_next(m, RP_FOREVER, &value, &error),
				-ENODATA);
		rp_map_free(m);
	}
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	free(inputs);
	big_base = NULL;
}

static const struct tu_test tests[] = {
	{ "map_yields_results_in_input_order_for_chunk_sizes",
	  test_map_yields_results_in_input_order_for_chunk_sizes, false },
	{ "map_reports_error_of_each_failing_input",
	  test_map_reports_error_of_each_failing_input, false },
	{ "map_inflight_never_exceeds_max_inflight_times_chunk",
	  test_map_inflight_never_exceeds_max_inflight_times_chunk, false },
	{ "map_with_no_inputs_gives_enodata",
	  test_map_with_no_inputs_gives_enodata, false },
	{ "map_new_invalid_arguments_return_einval",
	  test_map_new_invalid_arguments_return_einval, false },
	{ "map_next_and_free_accept_null", test_map_next_and_free_accept_null,
	  false },
	{ "map_new_on_shut_down_executor_returns_eshutdown",
	  test_map_new_on_shut_down_executor_returns_eshutdown, false },
	{ "map_new_on_broken_executor_returns_enotrecoverable",
	  test_map_new_on_broken_executor_returns_enotrecoverable, false },
	{ "map_next_times_out_while_next_result_is_not_ready",
	  test_map_next_times_out_while_next_result_is_not_ready, false },
	{ "map_next_returns_ecanceled_after_cancel_pending_shutdown",
	  test_map_next_returns_ecanceled_after_cancel_pending_shutdown,
	  false },
	{ "map_free_early_cancels_pending_and_stops_reading_inputs",
	  test_map_free_early_cancels_pending_and_stops_reading_inputs, false },
	{ "map_accepts_null_value_and_error",
	  test_map_accepts_null_value_and_error, false },
	{ "map_chunk_size_larger_than_input_count",
	  test_map_chunk_size_larger_than_input_count, false },
	{ "map_runs_its_tasks_on_several_workers_at_once",
	  test_map_runs_its_tasks_on_several_workers_at_once, false },
	{ "map_ten_million_inputs_chunk_1000_max_inflight_4",
	  test_map_ten_million_inputs_chunk_1000_max_inflight_4, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "map", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
