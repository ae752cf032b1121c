/* SPDX-License-Identifier: MIT */
/*
 * Futures: result, exception, the state predicates, cancel, reference
 * counting, and every error path and timeout of those.  test_callbacks.c
 * has done-callbacks.
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
	struct tu_busy_exec be;
	int64_t t0, elapsed, value = 0;

	tu_busy_exec_start(&be);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_future_result(be.running, 20 * MS, &value, NULL),
			-ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 20 * MS);
	CU_ASSERT(elapsed < 20 * MS + tu_timeout_slack_ns());
	CU_ASSERT_FALSE(rp_future_done(be.running));
	tu_busy_exec_finish(&be);
}

static void test_result_zero_timeout_polls(void)
{
	struct tu_busy_exec be;
	rp_future *f = NULL;
	int64_t t0, value = 0;

	tu_busy_exec_start(&be);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_future_result(be.running, 0, &value, NULL),
			-ETIMEDOUT);
	CU_ASSERT(tu_now_ns() - t0 < tu_timeout_slack_ns());
	/* A queued future times out as well. */
	CU_ASSERT_EQUAL_FATAL(rp_submit(be.ex, tu_value_task,
					(void *)(intptr_t)6, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, 0, &value, NULL), -ETIMEDOUT);
	tu_busy_exec_finish(&be);

	/* Once done, a zero timeout gives the result. */
	CU_ASSERT_TRUE(rp_future_done(f));
	CU_ASSERT_EQUAL(rp_future_result(f, 0, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 6);
	rp_future_unref(f);
}

static void test_result_times_out_on_queued_task(void)
{
	struct tu_busy_exec be;
	rp_future *f = NULL;
	int64_t t0, elapsed;

	tu_busy_exec_start(&be);
	CU_ASSERT_EQUAL_FATAL(rp_submit(be.ex, tu_value_task, NULL, &f), 0);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_future_result(f, 30 * MS, NULL, NULL), -ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 30 * MS);
	CU_ASSERT(elapsed < 30 * MS + tu_timeout_slack_ns());
	tu_busy_exec_finish(&be);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, NULL, NULL), 0);
	rp_future_unref(f);
}

static void test_exception_times_out_on_running_task(void)
{
	struct tu_busy_exec be;
	int64_t t0, elapsed;
	int error = 5;

	tu_busy_exec_start(&be);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_future_exception(be.running, 20 * MS, &error),
			-ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 20 * MS);
	CU_ASSERT(elapsed < 20 * MS + tu_timeout_slack_ns());
	CU_ASSERT_EQUAL(rp_future_exception(be.running, 0, &error), -ETIMEDOUT);
	tu_busy_exec_finish(&be);
}

static void test_state_predicates_follow_task_life_cycle(void)
{
	struct tu_busy_exec be;
	rp_future *queued = NULL;

	tu_busy_exec_start(&be);
	CU_ASSERT_TRUE(rp_future_running(be.running));
	CU_ASSERT_FALSE(rp_future_done(be.running));
	CU_ASSERT_FALSE(rp_future_cancelled(be.running));

	CU_ASSERT_EQUAL_FATAL(rp_submit(be.ex, tu_value_task, NULL, &queued),
			      0);
	CU_ASSERT_FALSE(rp_future_running(queued));
	CU_ASSERT_FALSE(rp_future_done(queued));
	CU_ASSERT_FALSE(rp_future_cancelled(queued));

	tu_busy_exec_finish(&be);
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
	struct tu_busy_exec be;
	atomic_uint ran = 0;
	rp_future *f = NULL;
	int64_t value = 0;
	int error = 0;

	tu_busy_exec_start(&be);
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
	tu_busy_exec_finish(&be);
	CU_ASSERT_EQUAL(atomic_load(&ran), 0);
	CU_ASSERT_TRUE(rp_future_cancelled(f));
	rp_future_unref(f);
}

static void test_cancel_running_future_returns_ebusy(void)
{
	struct tu_busy_exec be;

	tu_busy_exec_start(&be);
	CU_ASSERT_EQUAL(rp_future_cancel(be.running), -EBUSY);
	CU_ASSERT_FALSE(rp_future_cancelled(be.running));
	CU_ASSERT_TRUE(rp_future_running(be.running));
	/* It goes on to end normally (checked by busy_exec_finish). */
	tu_busy_exec_finish(&be);
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
	struct tu_busy_exec be;
	struct waiter w;
	pthread_t thr;

	tu_busy_exec_start(&be);
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
	tu_busy_exec_finish(&be);
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
	{ "ref_returns_same_future_and_is_null_safe",
	  test_ref_returns_same_future_and_is_null_safe, false },
	{ "future_outlives_its_executor",
	  test_future_outlives_its_executor, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "future", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
