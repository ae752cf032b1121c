/* SPDX-License-Identifier: MIT */
/*
 * rp_executor_shutdown() and the order tasks run in: its errors, with and
 * without waiting, cancelling what has not started (also on a later call),
 * shutting down or freeing the executor from one of its own workers
 * (-EDEADLK); a queued task running on a free worker while another blocks,
 * and tasks starting in submission order on one worker.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "ringpool.h"
#include "testutil.h"

static void test_shutdown_null_returns_einval(void)
{
	CU_ASSERT_EQUAL(rp_executor_shutdown(NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(rp_executor_shutdown(NULL, RP_SHUTDOWN_WAIT), -EINVAL);
}

static void test_shutdown_unknown_flags_return_einval_without_effect(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	int64_t value = 0;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, 1u << 2), -EINVAL);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT | (1u << 31)),
			-EINVAL);
	/* The failed calls had no effect: the executor still takes work. */
	CU_ASSERT_EQUAL(rp_submit(ex, tu_value_task, (void *)(intptr_t)9, &f),
			0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 9);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_shutdown_may_be_called_more_than_once(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, 0), 0);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, 0), 0);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT), 0);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT |
					     RP_SHUTDOWN_CANCEL_PENDING), 0);
	CU_ASSERT_EQUAL(rp_submit(ex, tu_value_task, NULL, &f), -ESHUTDOWN);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_shutdown_without_wait_returns_while_task_runs(void)
{
	struct tu_blocker b;
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	int64_t value = 0;
	int error = 1;

	tu_blocker_init(&b, 77, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &b, &f), 0);
	tu_latch_wait(&b.started, 1);

	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, 0), 0);
	CU_ASSERT_FALSE(rp_future_done(f));
	CU_ASSERT_TRUE(rp_future_running(f));

	tu_latch_post(&b.release);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, &error), 0);
	CU_ASSERT_EQUAL(value, 77);
	CU_ASSERT_EQUAL(error, 0);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	tu_blocker_destroy(&b);
}

static void test_shutdown_wait_returns_after_queued_tasks_ended(void)
{
	rp_future *fs[40];
	atomic_uint ran = 0;
	rp_executor *ex = NULL;
	unsigned i;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	for (i = 0; i < 40; i++)
		CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_count_task, &ran,
						&fs[i]), 0);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT), 0);
	CU_ASSERT_EQUAL(atomic_load(&ran), 40);
	for (i = 0; i < 40; i++) {
		CU_ASSERT_TRUE(rp_future_done(fs[i]));
		CU_ASSERT_FALSE(rp_future_cancelled(fs[i]));
		rp_future_unref(fs[i]);
	}
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

/*
 * Two workers, both held.  C (held too) and D are queued behind them.  When
 * the second worker is let go it takes C and blocks in it; when the first is
 * let go it is idle, and D, queued, must run on it.
 */
static void test_queued_task_runs_on_free_worker_while_another_blocks(void)
{
	struct tu_blocker a, b, c;
	rp_executor *ex = NULL;
	rp_future *fa = NULL, *fb = NULL, *fc = NULL, *fd = NULL;
	int64_t value = 0;
	int ret;

	tu_blocker_init(&a, 1, 0);
	tu_blocker_init(&b, 2, 0);
	tu_blocker_init(&c, 3, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &a, &fa), 0);
	tu_latch_wait(&a.started, 1);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &b, &fb), 0);
	tu_latch_wait(&b.started, 1);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &c, &fc), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, (void *)(intptr_t)4,
					&fd), 0);

	tu_latch_post(&b.release);
	tu_latch_wait(&c.started, 1);
	tu_latch_post(&a.release);
	CU_ASSERT_EQUAL(rp_future_result(fa, RP_FOREVER, NULL, NULL), 0);

	ret = rp_future_result(fd, tu_stuck_timeout_ns(), &value, NULL);
	CU_ASSERT_EQUAL(ret, 0);
	CU_ASSERT_EQUAL(value, 4);
	if (ret)
		fprintf(stderr, "queued task not run by idle worker: %d\n",
			ret);

	tu_latch_post(&c.release);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	rp_future_unref(fa);
	rp_future_unref(fb);
	rp_future_unref(fc);
	rp_future_unref(fd);
	tu_blocker_destroy(&a);
	tu_blocker_destroy(&b);
	tu_blocker_destroy(&c);
}

/*
 * One worker runs A; B (held), C and D are queued.  When A ends the worker
 * starts B.  C and D have not started when the shutdown comes, so they are
 * cancelled, there and then, as every other task that has not started.
 */
static void test_shutdown_cancel_pending_cancels_every_unstarted_task(void)
{
	struct tu_blocker a, b;
	atomic_uint ran = 0;
	rp_executor *ex = NULL;
	rp_future *fa = NULL, *fb = NULL, *fc = NULL, *fd = NULL;

	tu_blocker_init(&a, 1, 0);
	tu_blocker_init(&b, 2, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &a, &fa), 0);
	tu_latch_wait(&a.started, 1);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &b, &fb), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_count_task, &ran, &fc), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_count_task, &ran, &fd), 0);
	tu_latch_post(&a.release);
	tu_latch_wait(&b.started, 1);

	CU_ASSERT_FALSE(rp_future_running(fc));
	CU_ASSERT_FALSE(rp_future_done(fc));
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_CANCEL_PENDING),
			0);
	CU_ASSERT_TRUE(rp_future_cancelled(fc));
	CU_ASSERT_TRUE(rp_future_cancelled(fd));
	CU_ASSERT_FALSE(rp_future_cancelled(fb));

	tu_latch_post(&b.release);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(rp_future_result(fc, 0, NULL, NULL), -ECANCELED);
	CU_ASSERT_EQUAL(rp_future_result(fd, 0, NULL, NULL), -ECANCELED);
	CU_ASSERT_EQUAL(rp_future_result(fb, 0, NULL, NULL), 0);
	CU_ASSERT_EQUAL(atomic_load(&ran), 0);
	rp_future_unref(fa);
	rp_future_unref(fb);
	rp_future_unref(fc);
	rp_future_unref(fd);
	tu_blocker_destroy(&a);
	tu_blocker_destroy(&b);
}

struct order_log {
	atomic_uint next;
	unsigned order[64];
};

struct order_task_arg {
	struct order_log *log;
	unsigned id;
};

static int order_task(void *arg, int64_t *value)
{
	struct order_task_arg *ot = arg;
	unsigned slot = atomic_fetch_add(&ot->log->next, 1);

	(void)value;
	if (slot < 64)
		ot->log->order[slot] = ot->id;
	return 0;
}

static void test_tasks_start_in_submission_order_on_one_worker(void)
{
	struct order_task_arg args[64];
	struct order_log log;
	struct tu_blocker b;
	rp_executor *ex = NULL;
	rp_future *held = NULL, *f;
	unsigned i;

	memset(&log, 0, sizeof(log));
	atomic_init(&log.next, 0);
	tu_blocker_init(&b, 0, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	/* Queue them all behind a held task, then let them go. */
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &b, &held), 0);
	tu_latch_wait(&b.started, 1);
	for (i = 0; i < 64; i++) {
		args[i].log = &log;
		args[i].id = i;
		CU_ASSERT_EQUAL_FATAL(rp_submit(ex, order_task, &args[i], &f),
				      0);
		rp_future_unref(f);
	}
	tu_latch_post(&b.release);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&log.next), 64);
	for (i = 0; i < 64; i++)
		CU_ASSERT_EQUAL(log.order[i], i);
	rp_future_unref(held);
	tu_blocker_destroy(&b);
}

/*
 * "Only the first call's cancel flag has effect": a shutdown without the
 * flag, then one with it, leaves the queued tasks to run.
 */
static void test_later_shutdown_with_cancel_pending_cancels_what_is_still_queued(void)
{
	struct tu_blocker b;
	atomic_uint ran = 0;
	rp_executor *ex = NULL;
	rp_future *held = NULL, *fs[5];
	unsigned i, cancelled = 0;

	tu_blocker_init(&b, 0, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &b, &held), 0);
	tu_latch_wait(&b.started, 1);
	for (i = 0; i < 5; i++)
		CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_count_task, &ran,
						&fs[i]), 0);
	/* The first call leaves the queue alone... */
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, 0), 0);
	for (i = 0; i < 5; i++)
		cancelled += rp_future_cancelled(fs[i]);
	CU_ASSERT_EQUAL(cancelled, 0);
	/* ...and a later one with the flag cancels what is still queued. */
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_CANCEL_PENDING),
			0);
	for (i = 0; i < 5; i++)
		cancelled += rp_future_cancelled(fs[i]);
	CU_ASSERT_EQUAL(cancelled, 5);

	tu_latch_post(&b.release);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT), 0);
	CU_ASSERT_EQUAL(atomic_load(&ran), 0);
	for (i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(rp_future_result(fs[i], 0, NULL, NULL),
				-ECANCELED);
		rp_future_unref(fs[i]);
	}
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	rp_future_unref(held);
	tu_blocker_destroy(&b);
}

struct self_call {
	rp_executor *ex;
	bool do_free;
};

static int self_call_task(void *arg, int64_t *value)
{
	struct self_call *sc = arg;

	if (sc->do_free)
		*value = rp_executor_free(sc->ex);
	else
		*value = rp_executor_shutdown(sc->ex, RP_SHUTDOWN_WAIT);
	return 0;
}

static void test_shutdown_wait_from_worker_returns_edeadlk_yet_shuts_down(void)
{
	struct self_call sc;
	rp_executor *ex = NULL;
	rp_future *f = NULL, *g = NULL;
	int64_t value = 0;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	sc.ex = ex;
	sc.do_free = false;
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, self_call_task, &sc, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, -EDEADLK);
	CU_ASSERT_EQUAL(rp_submit(ex, tu_value_task, NULL, &g), -ESHUTDOWN);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_executor_free_from_worker_returns_edeadlk_keeps_executor(void)
{
	struct self_call sc;
	rp_executor *ex = NULL;
	rp_future *f = NULL, *g = NULL;
	int64_t value = 0;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	sc.ex = ex;
	sc.do_free = true;
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, self_call_task, &sc, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, -EDEADLK);
	rp_future_unref(f);

	/* Nothing was freed or shut down: the executor still runs tasks. */
	CU_ASSERT_EQUAL(rp_executor_workers(ex), 2);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, (void *)(intptr_t)3,
					&g), 0);
	value = 0;
	CU_ASSERT_EQUAL(rp_future_result(g, RP_FOREVER, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 3);
	rp_future_unref(g);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static const struct tu_test tests[] = {
	{ "shutdown_null_returns_einval",
	  test_shutdown_null_returns_einval, false },
	{ "shutdown_unknown_flags_return_einval_without_effect",
	  test_shutdown_unknown_flags_return_einval_without_effect, false },
	{ "shutdown_may_be_called_more_than_once",
	  test_shutdown_may_be_called_more_than_once, false },
	{ "shutdown_without_wait_returns_while_task_runs",
	  test_shutdown_without_wait_returns_while_task_runs, false },
	{ "shutdown_wait_returns_after_queued_tasks_ended",
	  test_shutdown_wait_returns_after_queued_tasks_ended, false },
	{ "tasks_start_in_submission_order_on_one_worker",
	  test_tasks_start_in_submission_order_on_one_worker, false },
	{ "queued_task_runs_on_free_worker_while_another_blocks",
	  test_queued_task_runs_on_free_worker_while_another_blocks, false },
	{ "shutdown_cancel_pending_cancels_every_unstarted_task",
	  test_shutdown_cancel_pending_cancels_every_unstarted_task, false },
	{ "later_shutdown_with_cancel_pending_cancels_what_is_still_queued",
	  test_later_shutdown_with_cancel_pending_cancels_what_is_still_queued, false },
	{ "shutdown_wait_from_worker_returns_edeadlk_yet_shuts_down",
	  test_shutdown_wait_from_worker_returns_edeadlk_yet_shuts_down,
	  false },
	{ "executor_free_from_worker_returns_edeadlk_keeps_executor",
	  test_executor_free_from_worker_returns_edeadlk_keeps_executor,
	  false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "shutdown", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
