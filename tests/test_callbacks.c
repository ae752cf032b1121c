/* SPDX-License-Identifier: MIT */
/*
 * Done-callbacks: run once, on the worker that ended the task or at once on
 * the caller when the future has ended, in registration order, before
 * rp_future_cancel() returns, able to take a reference and submit more
 * work, and still run when the future was released early; and their
 * argument errors.
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
	struct tu_busy_exec be;
	struct cb_log log;
	int64_t value = 0;

	cb_log_init(&log);
	tu_busy_exec_start(&be);
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
	tu_busy_exec_finish(&be);
	CU_ASSERT_EQUAL(atomic_load(&log.calls), 1);
	cb_log_destroy(&log);
}

static void test_done_callbacks_run_in_registration_order(void)
{
	struct tu_busy_exec be;
	struct cb_log log;
	struct order_arg oa[4];
	int i;

	cb_log_init(&log);
	tu_busy_exec_start(&be);
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
	tu_busy_exec_finish(&be);
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
	struct tu_busy_exec be;
	struct cb_log log, later;
	rp_future *f = NULL;

	cb_log_init(&log);
	cb_log_init(&later);
	tu_busy_exec_start(&be);
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

	tu_busy_exec_finish(&be);
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
	{ "releasing_future_early_does_not_stop_its_task",
	  test_releasing_future_early_does_not_stop_its_task, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "callbacks", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
