/* SPDX-License-Identifier: MIT */
/*
 * rp_wait() in its three modes and rp_as_completed_*().
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "ringpool.h"
#include "testutil.h"

#define MS ((int64_t)1000000)

/*
 * A fixture: an executor of `workers` workers, one of them held by a blocker
 * (`blocked`), a task that has already finished successfully (`ok`), one that
 * has already failed (`failed`), and optionally one queued behind the blocker
 * and cancelled (`cancelled`, needs a single worker).
 */
struct fixture {
	rp_executor *ex;
	struct tu_blocker b;
	rp_future *blocked;
	rp_future *ok;
	rp_future *failed;
	rp_future *cancelled;
};

static void fixture_start(struct fixture *fx, unsigned workers)
{
	memset(fx, 0, sizeof(*fx));
	tu_blocker_init(&fx->b, 500, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(workers, &fx->ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(fx->ex, tu_blocker_task, &fx->b,
					&fx->blocked), 0);
	tu_latch_wait(&fx->b.started, 1);
	if (workers == 1) {
		CU_ASSERT_EQUAL_FATAL(rp_submit(fx->ex, tu_value_task, NULL,
						&fx->cancelled), 0);
		CU_ASSERT_EQUAL_FATAL(rp_future_cancel(fx->cancelled), 0);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rp_submit(fx->ex, tu_value_task,
					(void *)(intptr_t)1, &fx->ok), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(fx->ex, tu_error_task,
					(void *)(intptr_t)-EIO, &fx->failed),
			      0);
	CU_ASSERT_EQUAL(rp_future_result(fx->ok, RP_FOREVER, NULL, NULL), 0);
	CU_ASSERT_EQUAL(rp_future_result(fx->failed, RP_FOREVER, NULL, NULL),
			0);
}

static void fixture_release(struct fixture *fx)
{
	tu_latch_post(&fx->b.release);
}

static void fixture_finish(struct fixture *fx)
{
	tu_latch_post(&fx->b.release);
	CU_ASSERT_EQUAL(rp_executor_free(fx->ex), 0);
	CU_ASSERT_TRUE(rp_future_done(fx->blocked));
	rp_future_unref(fx->blocked);
	rp_future_unref(fx->ok);
	rp_future_unref(fx->failed);
	rp_future_unref(fx->cancelled);
	tu_blocker_destroy(&fx->b);
}

static void test_wait_first_completed_returns_when_one_future_ends(void)
{
	struct fixture fx;
	rp_future *fs[2];
	bool done[2] = { true, false };
	size_t n_done = 99;

	fixture_start(&fx, 2);
	fs[0] = fx.blocked;
	fs[1] = fx.ok;
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_COMPLETED, RP_FOREVER, done,
				&n_done), 0);
	CU_ASSERT_FALSE(done[0]);
	CU_ASSERT_TRUE(done[1]);
	CU_ASSERT_EQUAL(n_done, 1);
	fixture_finish(&fx);
}

static void test_wait_first_completed_wakes_when_running_task_ends(void)
{
	struct fixture fx;
	rp_future *fs[1];
	bool done[1] = { false };
	size_t n_done = 99;

	fixture_start(&fx, 2);
	fs[0] = fx.blocked;
	fixture_release(&fx);
	CU_ASSERT_EQUAL(rp_wait(fs, 1, RP_FIRST_COMPLETED, RP_FOREVER, done,
				&n_done), 0);
	CU_ASSERT_TRUE(done[0]);
	CU_ASSERT_EQUAL(n_done, 1);
	CU_ASSERT_TRUE(rp_future_done(fx.blocked));
	fixture_finish(&fx);
}

static void test_wait_first_completed_counts_cancelled_future(void)
{
	struct fixture fx;
	rp_future *fs[2];
	bool done[2] = { true, false };
	size_t n_done = 99;

	fixture_start(&fx, 1);
	fs[0] = fx.blocked;
	fs[1] = fx.cancelled;
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_COMPLETED, RP_FOREVER, done,
				&n_done), 0);
	CU_ASSERT_FALSE(done[0]);
	CU_ASSERT_TRUE(done[1]);
	CU_ASSERT_EQUAL(n_done, 1);
	fixture_finish(&fx);
}

static void test_wait_first_completed_times_out_when_none_ends(void)
{
	struct fixture fx;
	rp_future *fs[1];
	bool done[1] = { true };
	size_t n_done = 99;
	int64_t t0, elapsed;

	fixture_start(&fx, 2);
	fs[0] = fx.blocked;
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_wait(fs, 1, RP_FIRST_COMPLETED, 20 * MS, done,
				&n_done), -ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 20 * MS);
	CU_ASSERT(elapsed < 20 * MS + tu_timeout_slack_ns());
	CU_ASSERT_FALSE(done[0]);
	CU_ASSERT_EQUAL(n_done, 0);
	fixture_finish(&fx);
}

static void test_wait_zero_timeout_polls(void)
{
	struct fixture fx;
	rp_future *fs[2];
	bool done[2] = { true, false };
	size_t n_done = 99;
	int64_t t0;

	fixture_start(&fx, 2);
	fs[0] = fx.blocked;
	fs[1] = fx.ok;
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_ALL_COMPLETED, 0, done, &n_done),
			-ETIMEDOUT);
	CU_ASSERT(tu_now_ns() - t0 < tu_timeout_slack_ns());
	CU_ASSERT_FALSE(done[0]);
	CU_ASSERT_TRUE(done[1]);
	CU_ASSERT_EQUAL(n_done, 1);
	/* The condition is already met: a poll succeeds. */
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_COMPLETED, 0, done, &n_done),
			0);
	CU_ASSERT_EQUAL(n_done, 1);
	fixture_finish(&fx);
}

static void test_wait_all_completed_times_out_while_one_runs(void)
{
	struct fixture fx;
	rp_future *fs[3];
	bool done[3] = { true, false, false };
	size_t n_done = 99;
	int64_t t0, elapsed;

	fixture_start(&fx, 2);
	fs[0] = fx.blocked;
	fs[1] = fx.ok;
	fs[2] = fx.failed;
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_wait(fs, 3, RP_ALL_COMPLETED, 20 * MS, done,
				&n_done), -ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 20 * MS);
	CU_ASSERT(elapsed < 20 * MS + tu_timeout_slack_ns());
	CU_ASSERT_FALSE(done[0]);
	CU_ASSERT_TRUE(done[1]);
	CU_ASSERT_TRUE(done[2]);
	CU_ASSERT_EQUAL(n_done, 2);
	fixture_finish(&fx);
}

static void test_wait_all_completed_returns_when_every_future_ended(void)
{
	struct fixture fx;
	rp_future *fs[3];
	bool done[3] = { false, false, false };
	size_t n_done = 99;

	fixture_start(&fx, 2);
	fs[0] = fx.ok;
	fs[1] = fx.blocked;
	fs[2] = fx.failed;
	fixture_release(&fx);
	CU_ASSERT_EQUAL(rp_wait(fs, 3, RP_ALL_COMPLETED, RP_FOREVER, done,
				&n_done), 0);
	CU_ASSERT_TRUE(done[0] && done[1] && done[2]);
	CU_ASSERT_EQUAL(n_done, 3);
	CU_ASSERT_TRUE(rp_future_done(fx.blocked));
	fixture_finish(&fx);
}

static void test_wait_all_completed_counts_cancelled_as_ended(void)
{
	struct fixture fx;
	rp_future *fs[2];
	bool done[2] = { false, false };
	size_t n_done = 99;

	fixture_start(&fx, 1);
	fs[0] = fx.cancelled;
	fs[1] = fx.blocked;
	fixture_release(&fx);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_ALL_COMPLETED, RP_FOREVER, done,
				&n_done), 0);
	CU_ASSERT_TRUE(done[0] && done[1]);
	CU_ASSERT_EQUAL(n_done, 2);
	fixture_finish(&fx);
}

static void test_wait_first_exception_returns_when_one_fails(void)
{
	struct fixture fx;
	rp_future *fs[3];
	bool done[3] = { true, false, false };
	size_t n_done = 99;

	fixture_start(&fx, 2);
	fs[0] = fx.blocked;
	fs[1] = fx.ok;
	fs[2] = fx.failed;
	CU_ASSERT_EQUAL(rp_wait(fs, 3, RP_FIRST_EXCEPTION, RP_FOREVER, done,
				&n_done), 0);
	CU_ASSERT_FALSE(done[0]);
	CU_ASSERT_TRUE(done[1]);
	CU_ASSERT_TRUE(done[2]);
	CU_ASSERT_EQUAL(n_done, 2);
	fixture_finish(&fx);
}

/* A task that fails once the test lets it. */
static int blocked_failure_task(void *arg, int64_t *value)
{
	struct tu_latch *gate = arg;

	(void)value;
	tu_latch_wait(gate, 1);
	return -ENOSPC;
}

static void test_wait_first_exception_wakes_when_running_task_fails(void)
{
	struct tu_latch gate;
	rp_executor *ex = NULL;
	rp_future *fs[2] = { NULL, NULL };
	bool done[2] = { false, true };
	size_t n_done = 99;
	struct tu_blocker b;
	int error = 0;

	tu_latch_init(&gate);
	tu_blocker_init(&b, 0, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &b, &fs[0]), 0);
	tu_latch_wait(&b.started, 1);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, blocked_failure_task, &gate,
					&fs[1]), 0);
	tu_latch_post(&gate);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_EXCEPTION, RP_FOREVER, done,
				&n_done), 0);
	CU_ASSERT_FALSE(done[0]);
	CU_ASSERT_TRUE(done[1]);
	CU_ASSERT_EQUAL(n_done, 1);
	CU_ASSERT_EQUAL(rp_future_exception(fs[1], 0, &error), 0);
	CU_ASSERT_EQUAL(error, -ENOSPC);
	tu_latch_post(&b.release);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	rp_future_unref(fs[0]);
	rp_future_unref(fs[1]);
	tu_blocker_destroy(&b);
	tu_latch_destroy(&gate);
}

static void test_wait_first_exception_ignores_cancelled_futures(void)
{
	struct fixture fx;
	rp_future *fs[2];
	bool done[2] = { false, true };
	size_t n_done = 99;
	int64_t t0, elapsed;

	fixture_start(&fx, 1);
	fs[0] = fx.cancelled;
	fs[1] = fx.blocked;
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_EXCEPTION, 20 * MS, done,
				&n_done), -ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 20 * MS);
	CU_ASSERT(elapsed < 20 * MS + tu_timeout_slack_ns());
	CU_ASSERT_TRUE(done[0]);
	CU_ASSERT_FALSE(done[1]);
	CU_ASSERT_EQUAL(n_done, 1);

	/* With every future ended (none failed) it returns. */
	fixture_release(&fx);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_EXCEPTION, RP_FOREVER, done,
				&n_done), 0);
	CU_ASSERT_TRUE(done[0] && done[1]);
	CU_ASSERT_EQUAL(n_done, 2);
	fixture_finish(&fx);
}

static void test_wait_first_exception_without_failure_waits_for_all(void)
{
	struct fixture fx;
	rp_future *fs[2];
	bool done[2] = { true, false };
	size_t n_done = 99;
	int64_t t0, elapsed;

	fixture_start(&fx, 2);
	fs[0] = fx.blocked;
	fs[1] = fx.ok;
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_EXCEPTION, 20 * MS, done,
				&n_done), -ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 20 * MS);
	CU_ASSERT(elapsed < 20 * MS + tu_timeout_slack_ns());
	CU_ASSERT_FALSE(done[0]);
	CU_ASSERT_TRUE(done[1]);
	CU_ASSERT_EQUAL(n_done, 1);

	fixture_release(&fx);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_EXCEPTION, RP_FOREVER, done,
				&n_done), 0);
	CU_ASSERT_TRUE(done[0] && done[1]);
	CU_ASSERT_EQUAL(n_done, 2);
	fixture_finish(&fx);
}

static void test_wait_with_no_futures_succeeds_in_every_mode(void)
{
	static const enum rp_wait_mode modes[] = {
		RP_FIRST_COMPLETED, RP_FIRST_EXCEPTION, RP_ALL_COMPLETED,
	};
	rp_future *fs[1] = { NULL };
	bool done[1] = { true };
	size_t n_done;
	unsigned i;

	for (i = 0; i < 3; i++) {
		n_done = 99;
		CU_ASSERT_EQUAL(rp_wait(NULL, 0, modes[i], RP_FOREVER, NULL,
					&n_done), 0);
		CU_ASSERT_EQUAL(n_done, 0);
		n_done = 99;
		CU_ASSERT_EQUAL(rp_wait(fs, 0, modes[i], 0, done, &n_done), 0);
		CU_ASSERT_EQUAL(n_done, 0);
		CU_ASSERT_EQUAL(rp_wait(NULL, 0, modes[i], 20 * MS, NULL,
					NULL), 0);
	}
}

static void test_wait_invalid_arguments_return_einval(void)
{
	struct fixture fx;
	rp_future *fs[2];
	bool done[2] = { false, false };
	size_t n_done = 0;

	CU_ASSERT_EQUAL(rp_wait(NULL, 1, RP_ALL_COMPLETED, 0, NULL, NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_wait(NULL, 3, RP_FIRST_COMPLETED, RP_FOREVER, done,
				&n_done), -EINVAL);

	fixture_start(&fx, 2);
	fs[0] = fx.ok;
	fs[1] = NULL;
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_COMPLETED, RP_FOREVER, done,
				&n_done), -EINVAL);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_ALL_COMPLETED, 0, NULL, NULL),
			-EINVAL);
	fs[1] = fx.failed;
	CU_ASSERT_EQUAL(rp_wait(fs, 2, (enum rp_wait_mode)3, RP_FOREVER, done,
				&n_done), -EINVAL);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, (enum rp_wait_mode)-1, 0, NULL, NULL),
			-EINVAL);
	fixture_finish(&fx);
}

static void test_wait_counts_a_future_listed_twice_twice(void)
{
	struct fixture fx;
	rp_future *fs[3];
	bool done[3] = { false, true, false };
	size_t n_done = 99;

	fixture_start(&fx, 2);
	fs[0] = fx.ok;
	fs[1] = fx.blocked;
	fs[2] = fx.ok;
	CU_ASSERT_EQUAL(rp_wait(fs, 3, RP_FIRST_COMPLETED, RP_FOREVER, done,
				&n_done), 0);
	CU_ASSERT_TRUE(done[0]);
	CU_ASSERT_FALSE(done[1]);
	CU_ASSERT_TRUE(done[2]);
	CU_ASSERT_EQUAL(n_done, 2);
	fixture_release(&fx);
	CU_ASSERT_EQUAL(rp_wait(fs, 3, RP_ALL_COMPLETED, RP_FOREVER, done,
				&n_done), 0);
	CU_ASSERT_EQUAL(n_done, 3);
	fixture_finish(&fx);
}

static void test_wait_done_and_n_done_are_optional(void)
{
	struct fixture fx;
	rp_future *fs[2];

	fixture_start(&fx, 2);
	fs[0] = fx.ok;
	fs[1] = fx.blocked;
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_COMPLETED, RP_FOREVER, NULL,
				NULL), 0);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_ALL_COMPLETED, 0, NULL, NULL),
			-ETIMEDOUT);
	fixture_release(&fx);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_ALL_COMPLETED, RP_FOREVER, NULL,
				NULL), 0);
	fixture_finish(&fx);
}

/* as_completed */

struct gated {
	rp_executor *ex;
	struct tu_blocker b[3];
	rp_future *fs[3];
};

/*
 * Three tasks, each on its own worker, each held by its own gate.  Returns
 * false (after a failed assertion) when they did not all start: the caller
 * then only calls gated_finish().
 */
static bool gated_start(struct gated *g)
{
	bool all_started = true;
	unsigned i;

	memset(g, 0, sizeof(*g));
	for (i = 0; i < 3; i++)
		tu_blocker_init(&g->b[i], 10 + i, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(3, &g->ex), 0);
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL_FATAL(rp_submit(g->ex, tu_blocker_task,
						&g->b[i], &g->fs[i]), 0);
	/* Three workers, three tasks: all must be running at once. */
	for (i = 0; i < 3; i++) {
		/* Once one is late, do not wait the full time for the rest. */
		bool started = tu_latch_wait_for(&g->b[i].started, 1,
						 all_started ?
						 tu_stuck_timeout_ns() : 0);

		CU_ASSERT(started);
		if (!started)
			fprintf(stderr, "task %u of 3 never started\n", i);
		all_started = all_started && started;
	}
	return all_started;
}

static void gated_finish(struct gated *g)
{
	unsigned i;

	for (i = 0; i < 3; i++)
		tu_latch_post(&g->b[i].release);
	CU_ASSERT_EQUAL(rp_executor_free(g->ex), 0);
	for (i = 0; i < 3; i++) {
		rp_future_unref(g->fs[i]);
		tu_blocker_destroy(&g->b[i]);
	}
}

static void test_as_completed_yields_futures_in_completion_order(void)
{
	static const unsigned order[3] = { 2, 0, 1 };
	rp_as_completed *it = NULL;
	rp_future *extra = NULL;
	struct gated g;
	unsigned i;

	if (!gated_start(&g)) {
		gated_finish(&g);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(g.fs, 3, &it), 0);
	for (i = 0; i < 3; i++) {
		rp_future *f = NULL;
		int64_t value = 0;

		tu_latch_post(&g.b[order[i]].release);
		CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
		CU_ASSERT_PTR_EQUAL(f, g.fs[order[i]]);
		CU_ASSERT_EQUAL(rp_future_result(f, 0, &value, NULL), 0);
		CU_ASSERT_EQUAL(value, 10 + order[i]);
	}
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &extra),
			-ENODATA);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, 0, &extra), -ENODATA);
	rp_as_completed_free(it);
	gated_finish(&g);
}

static void test_as_completed_next_times_out_when_none_ends(void)
{
	rp_as_completed *it = NULL;
	rp_future *f = NULL;
	struct gated g;
	int64_t t0, elapsed;

	if (!gated_start(&g)) {
		gated_finish(&g);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(g.fs, 3, &it), 0);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_as_completed_next(it, 20 * MS, &f), -ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 20 * MS);
	CU_ASSERT(elapsed < 20 * MS + tu_timeout_slack_ns());
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_as_completed_next(it, 0, &f), -ETIMEDOUT);
	CU_ASSERT(tu_now_ns() - t0 < tu_timeout_slack_ns());

	/* A timeout loses nothing: the iterator goes on. */
	tu_latch_post(&g.b[1].release);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
	CU_ASSERT_PTR_EQUAL(f, g.fs[1]);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, 0, &f), -ETIMEDOUT);
	tu_latch_post(&g.b[0].release);
	tu_latch_post(&g.b[2].release);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), -ENODATA);
	rp_as_completed_free(it);
	gated_finish(&g);
}

static void test_as_completed_yields_ended_and_cancelled_futures(void)
{
	struct fixture fx;
	rp_as_completed *it = NULL;
	rp_future *fs[2], *f = NULL;

	fixture_start(&fx, 1);
	fs[0] = fx.blocked;
	fs[1] = fx.cancelled;
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(fs, 2, &it), 0);
	/* The cancelled one has ended; the blocked one has not. */
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
	CU_ASSERT_PTR_EQUAL(f, fx.cancelled);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, 0, &f), -ETIMEDOUT);
	fixture_release(&fx);
	f = NULL;
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
	CU_ASSERT_PTR_EQUAL(f, fx.blocked);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), -ENODATA);
	rp_as_completed_free(it);
	fixture_finish(&fx);
}

static void test_as_completed_yields_a_future_listed_twice_twice(void)
{
	struct fixture fx;
	rp_as_completed *it = NULL;
	rp_future *fs[3], *f = NULL;

	fixture_start(&fx, 2);
	fs[0] = fx.ok;
	fs[1] = fx.blocked;
	fs[2] = fx.ok;
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(fs, 3, &it), 0);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
	CU_ASSERT_PTR_EQUAL(f, fx.ok);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
	CU_ASSERT_PTR_EQUAL(f, fx.ok);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, 0, &f), -ETIMEDOUT);
	fixture_release(&fx);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
	CU_ASSERT_PTR_EQUAL(f, fx.blocked);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), -ENODATA);
	rp_as_completed_free(it);
	fixture_finish(&fx);
}

static void test_as_completed_keeps_its_own_references(void)
{
	rp_as_completed *it = NULL;
	rp_executor *ex = NULL;
	rp_future *fs[8], *got[8], *extra = NULL;
	bool seen[8];
	unsigned i, j;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	for (i = 0; i < 8; i++)
		CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task,
						(void *)(intptr_t)i, &fs[i]),
				      0);
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(fs, 8, &it), 0);
	/* Release ours: the iterator's references keep them alive. */
	for (i = 0; i < 8; i++) {
		rp_future_unref(fs[i]);
		seen[i] = false;
	}
	for (i = 0; i < 8; i++) {
		got[i] = NULL;
		CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &got[i]),
				0);
	}
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &extra),
			-ENODATA);
	/* The yielded futures stay valid until the iterator is freed. */
	for (i = 0; i < 8; i++) {
		int64_t value = -1;

		CU_ASSERT_PTR_NOT_NULL_FATAL(got[i]);
		CU_ASSERT_TRUE(rp_future_done(got[i]));
		CU_ASSERT_EQUAL(rp_future_result(got[i], 0, &value, NULL), 0);
		for (j = 0; j < 8; j++) {
			if (got[i] == fs[j]) {
				CU_ASSERT_EQUAL(value, j);
				CU_ASSERT_FALSE(seen[j]);
				seen[j] = true;
			}
		}
	}
	for (j = 0; j < 8; j++)
		CU_ASSERT_TRUE(seen[j]);
	rp_as_completed_free(it);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_as_completed_with_no_futures_gives_enodata(void)
{
	rp_as_completed *it = NULL;
	rp_future *f = NULL;

	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(NULL, 0, &it), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), -ENODATA);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, 0, &f), -ENODATA);
	rp_as_completed_free(it);
}

static void test_as_completed_invalid_arguments_return_einval(void)
{
	struct fixture fx;
	rp_as_completed *it = NULL;
	rp_future *fs[2], *f = NULL;

	fixture_start(&fx, 2);
	fs[0] = fx.ok;
	fs[1] = fx.failed;
	CU_ASSERT_EQUAL(rp_as_completed_new(fs, 2, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rp_as_completed_new(NULL, 2, &it), -EINVAL);
	fs[1] = NULL;
	CU_ASSERT_EQUAL(rp_as_completed_new(fs, 2, &it), -EINVAL);
	CU_ASSERT_EQUAL(rp_as_completed_next(NULL, 0, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_as_completed_next(NULL, RP_FOREVER, &f), -EINVAL);

	fs[1] = fx.failed;
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(fs, 2, &it), 0);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, NULL), -EINVAL);
	/* The failed call consumed nothing: both are still to come. */
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), -ENODATA);
	rp_as_completed_free(it);
	rp_as_completed_free(NULL);
	fixture_finish(&fx);
}

static void test_as_completed_free_with_pending_futures_does_not_block(void)
{
	rp_as_completed *it = NULL;
	rp_future *f = NULL;
	struct gated g;

	if (!gated_start(&g)) {
		gated_finish(&g);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(g.fs, 3, &it), 0);
	tu_latch_post(&g.b[0].release);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, RP_FOREVER, &f), 0);
	CU_ASSERT_PTR_EQUAL(f, g.fs[0]);
	/* Two are still held by their gates. */
	rp_as_completed_free(it);
	CU_ASSERT_FALSE(rp_future_done(g.fs[1]));
	CU_ASSERT_FALSE(rp_future_done(g.fs[2]));
	gated_finish(&g);
}

/*
 * rp_wait() with FIRST_COMPLETED or FIRST_EXCEPTION once hung a callback node
 * per future on the futures for each call, freed only when they ended: a
 * loop polling 100 running tasks with a short timeout grew by 4 KiB a call.
 */
static void test_timed_out_waits_leave_no_memory_behind(void)
{
	struct tu_busy_exec be;
	rp_future *fs[100];
	size_t i, calls = tu_scaled(5000);
	struct mallinfo2 before, after;
	int mode;

	tu_busy_exec_start(&be);
	for (i = 0; i < 100; i++)
		fs[i] = be.running;
	for (mode = RP_FIRST_COMPLETED; mode <= RP_FIRST_EXCEPTION; mode++) {
		/* One call first, so that lazy allocations are behind us. */
		CU_ASSERT_EQUAL(rp_wait(fs, 100, mode, 1000, NULL, NULL),
				-ETIMEDOUT);
		before = mallinfo2();
		for (i = 0; i < calls; i++)
			CU_ASSERT_EQUAL(rp_wait(fs, 100, mode, 1000, NULL,
						NULL), -ETIMEDOUT);
		after = mallinfo2();
		CU_ASSERT(after.uordblks <= before.uordblks + 64 * 1024);
	}
	tu_busy_exec_finish(&be);
}

/*
 * An iterator freed before its futures ended once left a callback node per
 * future on them, freed only when they ended: a loop that gave up on 100
 * running tasks grew by 3 KiB an iterator.
 */
static void test_as_completed_free_leaves_no_memory_on_running_futures(void)
{
	struct tu_busy_exec be;
	rp_as_completed *it = NULL;
	rp_future *fs[100];
	size_t i, calls = tu_scaled(5000);
	struct mallinfo2 before, after;

	tu_busy_exec_start(&be);
	for (i = 0; i < 100; i++)
		fs[i] = be.running;
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(fs, 100, &it), 0);
	rp_as_completed_free(it);
	before = mallinfo2();
	for (i = 0; i < calls; i++) {
		CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(fs, 100, &it), 0);
		rp_as_completed_free(it);
	}
	after = mallinfo2();
	CU_ASSERT(after.uordblks + after.hblkhd <=
		  before.uordblks + before.hblkhd + 64 * 1024);
	tu_busy_exec_finish(&be);
}

struct order_log {
	atomic_uint n;
	int seen[8];
};

struct order_cb {
	struct order_log *log;
	int id;
};

static void log_order(rp_future *f, void *arg)
{
	struct order_cb *c = arg;

	(void)f;
	c->log->seen[atomic_fetch_add(&c->log->n, 1) % 8] = c->id;
}

/* Taking an iterator's nodes off a future leaves its other callbacks be. */
static void test_as_completed_free_keeps_other_callbacks(void)
{
	struct tu_busy_exec be;
	struct order_log log = { 0 };
	struct order_cb cbs[4];
	rp_as_completed *it1 = NULL, *it2 = NULL;
	rp_future *fs[2];
	int i;

	tu_busy_exec_start(&be);
	fs[0] = fs[1] = be.running;
	for (i = 0; i < 4; i++) {
		cbs[i].log = &log;
		cbs[i].id = i;
	}
	CU_ASSERT_EQUAL(rp_future_add_done_callback(be.running, log_order,
						    &cbs[0]), 0);
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(fs, 2, &it1), 0);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(be.running, log_order,
						    &cbs[1]), 0);
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(fs, 1, &it2), 0);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(be.running, log_order,
						    &cbs[2]), 0);
	rp_as_completed_free(it1);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(be.running, log_order,
						    &cbs[3]), 0);
	/* it2 outlives the end and still sees it. */
	tu_latch_post(&be.b.release);
	fs[0] = NULL;
	CU_ASSERT_EQUAL(rp_as_completed_next(it2, RP_FOREVER, &fs[0]), 0);
	CU_ASSERT_PTR_EQUAL(fs[0], be.running);
	rp_as_completed_free(it2);
	/* Freeing the executor joins the worker that runs the callbacks. */
	tu_busy_exec_finish(&be);
	CU_ASSERT_EQUAL(atomic_load(&log.n), 4);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(log.seen[i], i);
}

static void count_cb(rp_future *f, void *arg)
{
	(void)f;
	atomic_fetch_add((atomic_uint *)arg, 1);
}

/*
 * Iterators freed while their futures end on the workers: each node runs or
 * is taken off, never both (the sanitizer builds watch), and the futures'
 * own callbacks all run once.
 */
static void test_as_completed_free_races_futures_ending(void)
{
	enum { N = 16 };
	rp_executor *ex = NULL;
	rp_as_completed *it = NULL;
	rp_future *fs[N], *f;
	atomic_uint tasks = 0, cbs = 0;
	size_t round, rounds = tu_scaled(2000);
	unsigned i;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	for (round = 0; round < rounds; round++) {
		for (i = 0; i < N; i++)
			CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_count_task,
							&tasks, &fs[i]), 0);
		CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(fs, N, &it), 0);
		for (i = 0; i < N; i++)
			CU_ASSERT_EQUAL(rp_future_add_done_callback(fs[i],
						count_cb, &cbs), 0);
		if (round % 2)
			(void)rp_as_completed_next(it, 0, &f);
		rp_as_completed_free(it);
		CU_ASSERT_EQUAL(rp_wait(fs, N, RP_ALL_COMPLETED, RP_FOREVER,
					NULL, NULL), 0);
		for (i = 0; i < N; i++)
			rp_future_unref(fs[i]);
	}
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&tasks), rounds * N);
	CU_ASSERT_EQUAL(atomic_load(&cbs), rounds * N);
}

static const struct tu_test tests[] = {
	{ "wait_first_completed_returns_when_one_future_ends",
	  test_wait_first_completed_returns_when_one_future_ends, false },
	{ "wait_first_completed_wakes_when_running_task_ends",
	  test_wait_first_completed_wakes_when_running_task_ends, false },
	{ "wait_first_completed_counts_cancelled_future",
	  test_wait_first_completed_counts_cancelled_future, false },
	{ "wait_first_completed_times_out_when_none_ends",
	  test_wait_first_completed_times_out_when_none_ends, false },
	{ "wait_zero_timeout_polls", test_wait_zero_timeout_polls, false },
	{ "wait_all_completed_times_out_while_one_runs",
	  test_wait_all_completed_times_out_while_one_runs, false },
	{ "wait_all_completed_returns_when_every_future_ended",
	  test_wait_all_completed_returns_when_every_future_ended, false },
	{ "wait_all_completed_counts_cancelled_as_ended",
	  test_wait_all_completed_counts_cancelled_as_ended, false },
	{ "wait_first_exception_returns_when_one_fails",
	  test_wait_first_exception_returns_when_one_fails, false },
	{ "wait_first_exception_wakes_when_running_task_fails",
	  test_wait_first_exception_wakes_when_running_task_fails, false },
	{ "wait_first_exception_ignores_cancelled_futures",
	  test_wait_first_exception_ignores_cancelled_futures, false },
	{ "wait_first_exception_without_failure_waits_for_all",
	  test_wait_first_exception_without_failure_waits_for_all, false },
	{ "wait_with_no_futures_succeeds_in_every_mode",
	  test_wait_with_no_futures_succeeds_in_every_mode, false },
	{ "wait_invalid_arguments_return_einval",
	  test_wait_invalid_arguments_return_einval, false },
	{ "wait_counts_a_future_listed_twice_twice",
	  test_wait_counts_a_future_listed_twice_twice, false },
	{ "wait_done_and_n_done_are_optional",
	  test_wait_done_and_n_done_are_optional, false },
	{ "as_completed_yields_futures_in_completion_order",
	  test_as_completed_yields_futures_in_completion_order, false },
	{ "as_completed_next_times_out_when_none_ends",
	  test_as_completed_next_times_out_when_none_ends, false },
	{ "as_completed_yields_ended_and_cancelled_futures",
	  test_as_completed_yields_ended_and_cancelled_futures, false },
	{ "as_completed_yields_a_future_listed_twice_twice",
	  test_as_completed_yields_a_future_listed_twice_twice, false },
	{ "as_completed_keeps_its_own_references",
	  test_as_completed_keeps_its_own_references, false },
	{ "as_completed_with_no_futures_gives_enodata",
	  test_as_completed_with_no_futures_gives_enodata, false },
	{ "as_completed_invalid_arguments_return_einval",
	  test_as_completed_invalid_arguments_return_einval, false },
	{ "timed_out_waits_leave_no_memory_behind",
	  test_timed_out_waits_leave_no_memory_behind, false },
	{ "as_completed_free_with_pending_futures_does_not_block",
	  test_as_completed_free_with_pending_futures_does_not_block, false },
	{ "as_completed_free_leaves_no_memory_on_running_futures",
	  test_as_completed_free_leaves_no_memory_on_running_futures, false },
	{ "as_completed_free_keeps_other_callbacks",
	  test_as_completed_free_keeps_other_callbacks, false },
	{ "as_completed_free_races_futures_ending",
	  test_as_completed_free_races_futures_ending, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "wait", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
