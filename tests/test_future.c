/* SPDX-License-Identifier: MIT */
/*
 * Futures: result, exception, the state predicates, cancel, done-callbacks,
 * reference counting, and every error path and timeout of those.
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

/* One worker, held busy by a blocker, so that later tasks queue. */
struct busy_exec {
	rp_executor *ex;
	struct tu_blocker b;
	rp_future *running;
};

static void busy_exec_start(struct busy_exec *be)
{
	be->ex = NULL;
	be->running = NULL;
	tu_blocker_init(&be->b, 1000, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &be->ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(be->ex, tu_blocker_task, &be->b,
					&be->running), 0);
	tu_latch_wait(&be->b.started, 1);
}

static void busy_exec_finish(struct busy_exec *be)
{
	int64_t value = 0;

	tu_latch_post(&be->b.release);
	CU_ASSERT_EQUAL(rp_future_result(be->running, RP_FOREVER, &value,
					 NULL), 0);
	CU_ASSERT_EQUAL(value, 1000);
	rp_future_unref(be->running);
	CU_ASSERT_EQUAL(rp_executor_free(be->ex), 0);
	tu_blocker_destroy(&be->b);
}

static void test_result_gives_value_and_zero_error_on_success(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	int64_t value = 0;
	int error = 1;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, (void *)(intptr_t)42,
					&f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, &error), 0);
	CU_ASSERT_EQUAL(value, 42);
	CU_ASSERT_EQUAL(error, 0);
	/* Asking twice gives the same answer. */
	value = 0;
	error = 1;
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, &error), 0);
	CU_ASSERT_EQUAL(value, 42);
	CU_ASSERT_EQUAL(error, 0);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static int pointer_task(void *arg, int64_t *value)
{
	*value = (int64_t)(intptr_t)arg;
	return 0;
}

static void test_result_value_carries_a_pointer(void)
{
	static int target;
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	int64_t value = 0;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, pointer_task, &target, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, NULL), 0);
	CU_ASSERT_PTR_EQUAL((void *)(intptr_t)value, &target);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static int starts_at_zero_task(void *arg, int64_t *value)
{
	(void)arg;
	return *value == 0 ? 0 : -EPROTO;
}

static void test_task_value_starts_at_zero(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	int64_t value = 5;
	int error = 1;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, starts_at_zero_task, NULL, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, &error), 0);
	CU_ASSERT_EQUAL(error, 0);
	CU_ASSERT_EQUAL(value, 0);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_result_returns_zero_and_task_error_on_failure(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	int error = 0;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_error_task,
					(void *)(intptr_t)-EIO, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, NULL, &error), 0);
	CU_ASSERT_EQUAL(error, -EIO);
	CU_ASSERT_TRUE(rp_future_done(f));
	CU_ASSERT_FALSE(rp_future_cancelled(f));
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_result_accepts_null_value_and_error(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL, *g = NULL;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, (void *)(intptr_t)1,
					&f), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_error_task,
					(void *)(intptr_t)-ENOENT, &g), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, NULL, NULL), 0);
	CU_ASSERT_EQUAL(rp_future_result(g, RP_FOREVER, NULL, NULL), 0);
	rp_future_unref(f);
	rp_future_unref(g);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_result_null_future_returns_einval(void)
{
	int64_t value = 0;
	int error = 0;

	CU_ASSERT_EQUAL(rp_future_result(NULL, RP_FOREVER, &value, &error),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_future_result(NULL, 0, NULL, NULL), -EINVAL);
}

static void test_exception_gives_task_error(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL, *g = NULL;
	int error = 1;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, (void *)(intptr_t)8,
					&f), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_error_task,
					(void *)(intptr_t)-EDOM, &g), 0);
	CU_ASSERT_EQUAL(rp_future_exception(f, RP_FOREVER, &error), 0);
	CU_ASSERT_EQUAL(error, 0);
	CU_ASSERT_EQUAL(rp_future_exception(g, RP_FOREVER, &error), 0);
	CU_ASSERT_EQUAL(error, -EDOM);
	rp_future_unref(f);
	rp_future_unref(g);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_exception_null_future_returns_einval(void)
{
	int error = 0;

	CU_ASSERT_EQUAL(rp_future_exception(NULL, RP_FOREVER, &error),
			-EINVAL);
}

static void test_result_times_out_on_running_task(void)
{
	struct busy_exec be;
	int64_t t0, elapsed, value = 0;

	busy_exec_start(&be);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_future_result(be.running, 20 * MS, &value, NULL),
			-ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 20 * MS);
	CU_ASSERT(elapsed < 20 * MS + tu_timeout_slack_ns());
	CU_ASSERT_FALSE(rp_future_done(be.running));
	busy_exec_finish(&be);
}

static void test_result_zero_timeout_polls(void)
{
	struct busy_exec be;
	rp_future *f = NULL;
	int64_t t0, value = 0;

	busy_exec_start(&be);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_future_result(be.running, 0, &value, NULL),
			-ETIMEDOUT);
	CU_ASSERT(tu_now_ns() - t0 < tu_timeout_slack_ns());
	/* A queued future times out as well. */
	CU_ASSERT_EQUAL_FATAL(rp_submit(be.ex, tu_value_task,
					(void *)(intptr_t)6, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, 0, &value, NULL), -ETIMEDOUT);
	busy_exec_finish(&be);

	/* Once done, a zero timeout gives the result. */
	CU_ASSERT_TRUE(rp_future_done(f));
	CU_ASSERT_EQUAL(rp_future_result(f, 0, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 6);
	rp_future_unref(f);
}

static void test_result_times_out_on_queued_task(void)
{
	struct busy_exec be;
	rp_future *f = NULL;
	int64_t t0, elapsed;

	busy_exec_start(&be);
	CU_ASSERT_EQUAL_FATAL(rp_submit(be.ex, tu_value_task, NULL, &f), 0);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_future_result(f, 30 * MS, NULL, NULL), -ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 30 * MS);
	CU_ASSERT(elapsed < 30 * MS + tu_timeout_slack_ns());
	busy_exec_finish(&be);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, NULL, NULL), 0);
	rp_future_unref(f);
}

static void test_exception_times_out_on_running_task(void)
{
	struct busy_exec be;
	int64_t t0, elapsed;
	int error = 5;

	busy_exec_start(&be);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_future_exception(be.running, 20 * MS, &error),
			-ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 20 * MS);
	CU_ASSERT(elapsed < 20 * MS + tu_timeout_slack_ns());
	CU_ASSERT_EQUAL(rp_future_exception(be.running, 0, &error), -ETIMEDOUT);
	busy_exec_finish(&be);
}

static void test_state_predicates_follow_task_life_cycle(void)
{
	struct busy_exec be;
	rp_future *queued = NULL;

	busy_exec_start(&be);
	CU_ASSERT_TRUE(rp_future_running(be.running));
	CU_ASSERT_FALSE(rp_future_done(be.running));
	CU_ASSERT_FALSE(rp_future_cancelled(be.running));

	CU_ASSERT_EQUAL_FATAL(rp_submit(be.ex, tu_value_task, NULL, &queued),
			      0);
	CU_ASSERT_FALSE(rp_future_running(queued));
	CU_ASSERT_FALSE(rp_future_done(queued));
	CU_ASSERT_FALSE(rp_future_cancelled(queued));

	busy_exec_finish(&be);
	/* The executor is freed: every task has ended. */
	CU_ASSERT_TRUE(rp_future_done(queued));
	CU_ASSERT_FALSE(rp_future_running(queued));
	CU_ASSERT_FALSE(rp_future_cancelled(queued));
	rp_future_unref(queued);
}

static void test_state_predicates_are_false_for_null(void)
{
	CU_ASSERT_FALSE(rp_future_done(NULL));
	CU_ASSERT_FALSE(rp_future_running(NULL));
	CU_ASSERT_FALSE(rp_future_cancelled(NULL));
}

static void test_cancel_queued_future_ends_it_cancelled(void)
{
	struct busy_exec be;
	atomic_uint ran = 0;
	rp_future *f = NULL;
	int64_t value = 0;
	int error = 0;

	busy_exec_start(&be);
	CU_ASSERT_EQUAL_FATAL(rp_submit(be.ex, tu_count_task, &ran, &f), 0);
	CU_ASSERT_EQUAL(rp_future_cancel(f), 0);
	CU_ASSERT_TRUE(rp_future_cancelled(f));
	CU_ASSERT_TRUE(rp_future_done(f));
	CU_ASSERT_FALSE(rp_future_running(f));
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, &error),
			-ECANCELED);
	CU_ASSERT_EQUAL(rp_future_result(f, 0, NULL, NULL), -ECANCELED);
	CU_ASSERT_EQUAL(rp_future_exception(f, RP_FOREVER, &error),
			-ECANCELED);
	/* Cancelling again reports that it already is cancelled. */
	CU_ASSERT_EQUAL(rp_future_cancel(f), 0);
	busy_exec_finish(&be);
	CU_ASSERT_EQUAL(atomic_load(&ran), 0);
	CU_ASSERT_TRUE(rp_future_cancelled(f));
	rp_future_unref(f);
}

static void test_cancel_running_future_returns_ebusy(void)
{
	struct busy_exec be;

	busy_exec_start(&be);
	CU_ASSERT_EQUAL(rp_future_cancel(be.running), -EBUSY);
	CU_ASSERT_FALSE(rp_future_cancelled(be.running));
	CU_ASSERT_TRUE(rp_future_running(be.running));
	/* It goes on to end normally (checked by busy_exec_finish). */
	busy_exec_finish(&be);
}

static void test_cancel_finished_future_returns_ealready(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	int64_t value = 0;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, (void *)(intptr_t)4,
					&f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, NULL, NULL), 0);
	CU_ASSERT_EQUAL(rp_future_cancel(f), -EALREADY);
	CU_ASSERT_FALSE(rp_future_cancelled(f));
	CU_ASSERT_EQUAL(rp_future_result(f, 0, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 4);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_cancel_null_returns_einval(void)
{
	CU_ASSERT_EQUAL(rp_future_cancel(NULL), -EINVAL);
}

/* A thread that blocks in rp_future_result() until the test cancels. */
struct waiter {
	rp_future *f;
	int ret;
	struct tu_latch about_to_wait;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;

	tu_latch_post(&w->about_to_wait);
	w->ret = rp_future_result(w->f, RP_FOREVER, NULL, NULL);
	return NULL;
}

static void test_cancel_wakes_waiter_with_ecanceled(void)
{
	struct busy_exec be;
	struct waiter w;
	pthread_t thr;

	busy_exec_start(&be);
	tu_latch_init(&w.about_to_wait);
	w.ret = 1;
	CU_ASSERT_EQUAL_FATAL(rp_submit(be.ex, tu_value_task, NULL, &w.f), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&thr, NULL, waiter_thread, &w), 0);
	/*
	 * The waiter may or may not be asleep yet when the cancel comes; it
	 * must see -ECANCELED either way.
	 */
	tu_latch_wait(&w.about_to_wait, 1);
	CU_ASSERT_EQUAL(rp_future_cancel(w.f), 0);
	CU_ASSERT_EQUAL(pthread_join(thr, NULL), 0);
	CU_ASSERT_EQUAL(w.ret, -ECANCELED);
	rp_future_unref(w.f);
	tu_latch_destroy(&w.about_to_wait);
	busy_exec_finish(&be);
}

/* Done-callbacks. */
struct cb_log {
	atomic_uint calls;
	pthread_t thread;
	rp_future *seen;
	bool done_in_cb;
	bool cancelled_in_cb;
	int order[8];
	atomic_uint n_order;
	struct tu_latch fired;
};

static void cb_log_init(struct cb_log *log)
{
	memset(log, 0, sizeof(*log));
	atomic_init(&log->calls, 0);
	atomic_init(&log->n_order, 0);
	tu_latch_init(&log->fired);
}

static void cb_log_destroy(struct cb_log *log)
{
	tu_latch_destroy(&log->fired);
}

static void record_cb(rp_future *f, void *arg)
{
	struct cb_log *log = arg;

	log->thread = pthread_self();
	log->seen = f;
	log->done_in_cb = rp_future_done(f);
	log->cancelled_in_cb = rp_future_cancelled(f);
	atomic_fetch_add(&log->calls, 1);
	tu_latch_post(&log->fired);
}

struct order_arg {
	struct cb_log *log;
	int id;
};

static void order_cb(rp_future *f, void *arg)
{
	struct order_arg *oa = arg;
	unsigned slot = atomic_fetch_add(&oa->log->n_order, 1);

	(void)f;
	if (slot < 8)
		oa->log->order[slot] = oa->id;
	tu_latch_post(&oa->log->fired);
}

static void test_done_callback_runs_once_on_worker_when_task_ends(void)
{
	struct busy_exec be;
	struct cb_log log;
	int64_t value = 0;

	cb_log_init(&log);
	busy_exec_start(&be);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(be.running, record_cb,
						    &log), 0);
	CU_ASSERT_EQUAL(atomic_load(&log.calls), 0);
	tu_latch_post(&be.b.release);
	tu_latch_wait(&log.fired, 1);
	CU_ASSERT_FALSE(pthread_equal(log.thread, pthread_self()));
	CU_ASSERT_PTR_EQUAL(log.seen, be.running);
	CU_ASSERT_TRUE(log.done_in_cb);
	CU_ASSERT_FALSE(log.cancelled_in_cb);
	CU_ASSERT_EQUAL(rp_future_result(be.running, RP_FOREVER, &value, NULL),
			0);
	CU_ASSERT_EQUAL(value, 1000);
	busy_exec_finish(&be);
	CU_ASSERT_EQUAL(atomic_load(&log.calls), 1);
	cb_log_destroy(&log);
}

static void test_done_callbacks_run_in_registration_order(void)
{
	struct busy_exec be;
	struct cb_log log;
	struct order_arg oa[4];
	int i;

	cb_log_init(&log);
	busy_exec_start(&be);
	for (i = 0; i < 4; i++) {
		oa[i].log = &log;
		oa[i].id = i;
		CU_ASSERT_EQUAL(rp_future_add_done_callback(be.running,
							    order_cb, &oa[i]),
				0);
	}
	tu_latch_post(&be.b.release);
	tu_latch_wait(&log.fired, 4);
	CU_ASSERT_EQUAL(atomic_load(&log.n_order), 4);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(log.order[i], i);
	busy_exec_finish(&be);
	CU_ASSERT_EQUAL(atomic_load(&log.n_order), 4);
	cb_log_destroy(&log);
}

struct inline_log {
	pthread_t thread;
	rp_future *seen;
	bool done_in_cb;
	atomic_uint calls;
};

static void inline_cb(rp_future *f, void *arg)
{
	struct inline_log *il = arg;

	il->thread = pthread_self();
	il->seen = f;
	il->done_in_cb = rp_future_done(f);
	atomic_fetch_add(&il->calls, 1);
}

/*
 * Many rounds of: wait for a task, then add a callback.  The future has
 * ended, so each callback must have run on this thread when the add returns
 * (a late run on the worker would show as a round with no call yet).
 */
static void test_done_callback_on_ended_future_runs_at_once_on_caller(void)
{
	enum { ROUNDS = 200 };
	struct inline_log *logs;
	rp_executor *ex = NULL;
	rp_future *fs[ROUNDS];
	unsigned i, late = 0, wrong = 0, total = 0;

	logs = calloc(ROUNDS, sizeof(*logs));
	CU_ASSERT_PTR_NOT_NULL_FATAL(logs);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	for (i = 0; i < ROUNDS; i++) {
		atomic_init(&logs[i].calls, 0);
		CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, NULL,
						&fs[i]), 0);
		CU_ASSERT_EQUAL(rp_future_result(fs[i], RP_FOREVER, NULL, NULL),
				0);
		CU_ASSERT_EQUAL(rp_future_add_done_callback(fs[i], inline_cb,
							    &logs[i]), 0);
		if (atomic_load(&logs[i].calls) != 1)
			late++;
		else if (!pthread_equal(logs[i].thread, pthread_self()) ||
			 logs[i].seen != fs[i] || !logs[i].done_in_cb)
			wrong++;
	}
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	for (i = 0; i < ROUNDS; i++) {
		total += atomic_load(&logs[i].calls);
		rp_future_unref(fs[i]);
	}
	if (late)
		fprintf(stderr, "%u of %u callbacks had not run when the add returned\n",
			late, ROUNDS);
	CU_ASSERT_EQUAL(late, 0);
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(total, ROUNDS);
	free(logs);
}

static void test_cancel_runs_done_callbacks_on_caller_before_returning(void)
{
	struct busy_exec be;
	struct cb_log log, later;
	rp_future *f = NULL;

	cb_log_init(&log);
	cb_log_init(&later);
	busy_exec_start(&be);
	CU_ASSERT_EQUAL_FATAL(rp_submit(be.ex, tu_value_task, NULL, &f), 0);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(f, record_cb, &log), 0);
	CU_ASSERT_EQUAL(atomic_load(&log.calls), 0);
	CU_ASSERT_EQUAL(rp_future_cancel(f), 0);
	CU_ASSERT_EQUAL(atomic_load(&log.calls), 1);
	CU_ASSERT_TRUE(pthread_equal(log.thread, pthread_self()));
	CU_ASSERT_PTR_EQUAL(log.seen, f);
	CU_ASSERT_TRUE(log.done_in_cb);
	CU_ASSERT_TRUE(log.cancelled_in_cb);

	/* A second cancel does not run it again. */
	CU_ASSERT_EQUAL(rp_future_cancel(f), 0);
	CU_ASSERT_EQUAL(atomic_load(&log.calls), 1);

	/* A callback added to the cancelled future runs at once. */
	CU_ASSERT_EQUAL(rp_future_add_done_callback(f, record_cb, &later), 0);
	CU_ASSERT_EQUAL(atomic_load(&later.calls), 1);
	CU_ASSERT_TRUE(pthread_equal(later.thread, pthread_self()));
	CU_ASSERT_TRUE(later.cancelled_in_cb);

	busy_exec_finish(&be);
	CU_ASSERT_EQUAL(atomic_load(&log.calls), 1);
	CU_ASSERT_EQUAL(atomic_load(&later.calls), 1);
	rp_future_unref(f);
	cb_log_destroy(&log);
	cb_log_destroy(&later);
}

static void test_add_done_callback_null_arguments_return_einval(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	struct cb_log log;

	cb_log_init(&log);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(NULL, record_cb, &log),
			-EINVAL);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, NULL, &f), 0);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(f, NULL, &log), -EINVAL);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, NULL, NULL), 0);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(f, NULL, &log), -EINVAL);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&log.calls), 0);
	rp_future_unref(f);
	cb_log_destroy(&log);
}

/* A callback that takes a reference and submits more work. */
struct chain_ctx {
	rp_executor *ex;
	rp_future *kept;
	rp_future *submitted;
	int submit_ret;
	struct tu_latch fired;
};

static void chain_cb(rp_future *f, void *arg)
{
	struct chain_ctx *cc = arg;

	cc->kept = rp_future_ref(f);
	cc->submit_ret = rp_submit(cc->ex, tu_value_task, (void *)(intptr_t)55,
				   &cc->submitted);
	tu_latch_post(&cc->fired);
}

static void test_done_callback_may_take_reference_and_submit_work(void)
{
	struct chain_ctx cc;
	rp_future *f = NULL;
	int64_t value = 0;

	memset(&cc, 0, sizeof(cc));
	tu_latch_init(&cc.fired);
	cc.submit_ret = 1;
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &cc.ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(cc.ex, tu_value_task,
					(void *)(intptr_t)11, &f), 0);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(f, chain_cb, &cc), 0);
	/* Drop our reference: the callback's own keeps the future alive. */
	rp_future_unref(f);
	tu_latch_wait(&cc.fired, 1);

	CU_ASSERT_PTR_EQUAL(cc.kept, f);
	CU_ASSERT_EQUAL(rp_future_result(cc.kept, RP_FOREVER, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 11);
	CU_ASSERT_EQUAL(cc.submit_ret, 0);
	if (cc.submit_ret == 0) {
		CU_ASSERT_EQUAL(rp_future_result(cc.submitted, RP_FOREVER,
						 &value, NULL), 0);
		CU_ASSERT_EQUAL(value, 55);
		rp_future_unref(cc.submitted);
	}
	rp_future_unref(cc.kept);
	CU_ASSERT_EQUAL(rp_executor_free(cc.ex), 0);
	tu_latch_destroy(&cc.fired);
}

static void test_ref_returns_same_future_and_is_null_safe(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL, *g, *h;
	int64_t value = 0;

	CU_ASSERT_PTR_NULL(rp_future_ref(NULL));
	rp_future_unref(NULL);

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, (void *)(intptr_t)3,
					&f), 0);
	g = rp_future_ref(f);
	h = rp_future_ref(f);
	CU_ASSERT_PTR_EQUAL(g, f);
	CU_ASSERT_PTR_EQUAL(h, f);
	rp_future_unref(f);
	rp_future_unref(g);
	/* One reference is left and still works. */
	CU_ASSERT_EQUAL(rp_future_result(h, RP_FOREVER, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 3);
	rp_future_unref(h);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_future_outlives_its_executor(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL, *queued = NULL;
	int64_t value = 0;
	int error = 1;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, (void *)(intptr_t)21,
					&f), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_error_task,
					(void *)(intptr_t)-EBADMSG, &queued),
			      0);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);

	CU_ASSERT_TRUE(rp_future_done(f));
	CU_ASSERT_FALSE(rp_future_running(f));
	CU_ASSERT_EQUAL(rp_future_result(f, 0, &value, &error), 0);
	CU_ASSERT_EQUAL(value, 21);
	CU_ASSERT_EQUAL(error, 0);
	CU_ASSERT_EQUAL(rp_future_cancel(f), -EALREADY);
	CU_ASSERT_EQUAL(rp_future_exception(queued, RP_FOREVER, &error), 0);
	CU_ASSERT_EQUAL(error, -EBADMSG);
	rp_future_unref(f);
	rp_future_unref(queued);
}

static void test_releasing_future_early_does_not_stop_its_task(void)
{
	struct tu_blocker b;
	struct cb_log log;
	rp_executor *ex = NULL;
	rp_future *f = NULL;

	tu_blocker_init(&b, 9, 0);
	cb_log_init(&log);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &b, &f), 0);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(f, record_cb, &log), 0);
	rp_future_unref(f);
	tu_latch_post(&b.release);
	tu_latch_wait(&log.fired, 1);
	CU_ASSERT_TRUE(log.done_in_cb);
	CU_ASSERT_FALSE(log.cancelled_in_cb);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(tu_latch_count(&b.started), 1);
	CU_ASSERT_EQUAL(atomic_load(&log.calls), 1);
	cb_log_destroy(&log);
	tu_blocker_destroy(&b);
}

static const struct tu_test tests[] = {
	{ "result_gives_value_and_zero_error_on_success",
	  test_result_gives_value_and_zero_error_on_success, false },
	{ "result_value_carries_a_pointer",
	  test_result_value_carries_a_pointer, false },
	{ "task_value_starts_at_zero", test_task_value_starts_at_zero, false },
	{ "result_returns_zero_and_task_error_on_failure",
	  test_result_returns_zero_and_task_error_on_failure, false },
	{ "result_accepts_null_value_and_error",
	  test_result_accepts_null_value_and_error, false },
	{ "result_null_future_returns_einval",
	  test_result_null_future_returns_einval, false },
	{ "exception_gives_task_error",
	  test_exception_gives_task_error, false },
	{ "exception_null_future_returns_einval",
	  test_exception_null_future_returns_einval, false },
	{ "result_times_out_on_running_task",
	  test_result_times_out_on_running_task, false },
	{ "result_zero_timeout_polls", test_result_zero_timeout_polls, false },
	{ "result_times_out_on_queued_task",
	  test_result_times_out_on_queued_task, false },
	{ "exception_times_out_on_running_task",
	  test_exception_times_out_on_running_task, false },
	{ "state_predicates_follow_task_life_cycle",
	  test_state_predicates_follow_task_life_cycle, false },
	{ "state_predicates_are_false_for_null",
	  test_state_predicates_are_false_for_null, false },
	{ "cancel_queued_future_ends_it_cancelled",
	  test_cancel_queued_future_ends_it_cancelled, false },
	{ "cancel_running_future_returns_ebusy",
	  test_cancel_running_future_returns_ebusy, false },
	{ "cancel_finished_future_returns_ealready",
	  test_cancel_finished_future_returns_ealready, false },
	{ "cancel_null_returns_einval",
	  test_cancel_null_returns_einval, false },
	{ "cancel_wakes_waiter_with_ecanceled",
	  test_cancel_wakes_waiter_with_ecanceled, false },
	{ "done_callback_runs_once_on_worker_when_task_ends",
	  test_done_callback_runs_once_on_worker_when_task_ends, false },
	{ "done_callbacks_run_in_registration_order",
	  test_done_callbacks_run_in_registration_order, false },
	{ "done_callback_on_ended_future_runs_at_once_on_caller",
	  test_done_callback_on_ended_future_runs_at_once_on_caller, false },
	{ "cancel_runs_done_callbacks_on_caller_before_returning",
	  test_cancel_runs_done_callbacks_on_caller_before_returning, false },
	{ "add_done_callback_null_arguments_return_einval",
	  test_add_done_callback_null_arguments_return_einval, false },
	{ "done_callback_may_take_reference_and_submit_work",
	  test_done_callback_may_take_reference_and_submit_work, false },
	{ "ref_returns_same_future_and_is_null_safe",
	  test_ref_returns_same_future_and_is_null_safe, false },
	{ "future_outlives_its_executor",
	  test_future_outlives_its_executor, false },
	{ "releasing_future_early_does_not_stop_its_task",
	  test_releasing_future_early_does_not_stop_its_task, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "future", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
