/* SPDX-License-Identifier: MIT */
/*
 * Races: cancellation against workers taking tasks, done-callbacks under many
 * submitting threads, shutdown with a long queue, and tasks that wait on
 * other tasks of their own single-worker executor.
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

#define SEC ((int64_t)1000000000)

/* Per-task counters, updated by the task and by its done-callback. */
struct slot {
	atomic_uint ran;
	atomic_uint ended;
	atomic_uint ended_cancelled;
};

static int slot_task(void *arg, int64_t *value)
{
	struct slot *s = arg;
	volatile unsigned i;

	/* A little work, so that the queue does not always stay empty. */
	for (i = 0; i < 64; i++)
		;
	atomic_fetch_add(&s->ran, 1);
	*value = 1;
	return 0;
}

static void slot_done_cb(rp_future *f, void *arg)
{
	struct slot *s = arg;

	if (rp_future_cancelled(f))
		atomic_fetch_add(&s->ended_cancelled, 1);
	atomic_fetch_add(&s->ended, 1);
}

static struct slot *slots_new(size_t n)
{
	struct slot *slots = calloc(n, sizeof(*slots));

	CU_ASSERT_PTR_NOT_NULL_FATAL(slots);
	return slots;
}

static void test_cancel_racing_workers_ends_each_future_exactly_once(void)
{
	size_t n = tu_scaled(200000);
	size_t i, bad_end = 0, bad_state = 0, bad_cancel_rc = 0;
	size_t n_cancelled = 0, n_done = 0, n_busy = 0, n_already = 0;
	rp_executor *ex = NULL;
	struct slot *slots;
	rp_future **fs;
	int *cancel_rc;

	slots = slots_new(n);
	fs = calloc(n, sizeof(*fs));
	cancel_rc = calloc(n, sizeof(*cancel_rc));
	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cancel_rc);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);

	for (i = 0; i < n; i++) {
		cancel_rc[i] = 1;
		CU_ASSERT_EQUAL_FATAL(rp_submit(ex, slot_task, &slots[i],
						&fs[i]), 0);
		CU_ASSERT_EQUAL_FATAL(rp_future_add_done_callback(fs[i],
					slot_done_cb, &slots[i]), 0);
		/*
		 * Cancel some right away and some a little later, so that
		 * the cancel meets queued, just-taken, running and finished
		 * tasks.
		 */
		if (i % 2 == 0)
			cancel_rc[i] = rp_future_cancel(fs[i]);
		if (i >= 5 && i % 3 == 0)
			cancel_rc[i - 5] = rp_future_cancel(fs[i - 5]);
	}
	/* Joins the workers: every callback has returned after this. */
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);

	for (i = 0; i < n; i++) {
		struct slot *s = &slots[i];
		bool cancelled = rp_future_cancelled(fs[i]);
		int ret = rp_future_result(fs[i], 0, NULL, NULL);

		if (atomic_load(&s->ended) != 1)
			bad_end++;
		/* Done XOR cancelled, and it ran iff it was not cancelled. */
		if (!rp_future_done(fs[i]) ||
		    cancelled != (ret == -ECANCELED) ||
		    (!cancelled && ret != 0) ||
		    atomic_load(&s->ran) != (cancelled ? 0u : 1u) ||
		    atomic_load(&s->ended_cancelled) != (cancelled ? 1u : 0u))
			bad_state++;
		/* A cancel that returned 0 cancelled it; others did not. */
		if (cancel_rc[i] != 1 &&
		    ((cancel_rc[i] == 0) != cancelled ||
		     (cancel_rc[i] != 0 && cancel_rc[i] != -EBUSY &&
		      cancel_rc[i] != -EALREADY)))
			bad_cancel_rc++;
		if (cancelled)
			n_cancelled++;
		else
			n_done++;
		if (cancel_rc[i] == -EBUSY)
			n_busy++;
		else if (cancel_rc[i] == -EALREADY)
			n_already++;
		rp_future_unref(fs[i]);
	}
	printf("\n    %zu cancelled, %zu done; cancel gave -EBUSY %zu, -EALREADY %zu times\n",
	       n_cancelled, n_done, n_busy, n_already);
	CU_ASSERT_EQUAL(bad_end, 0);
	CU_ASSERT_EQUAL(bad_state, 0);
	CU_ASSERT_EQUAL(bad_cancel_rc, 0);
	CU_ASSERT_EQUAL(n_cancelled + n_done, n);
	/* Odd tasks that were never cancelled must have run. */
	CU_ASSERT(n_done >= n / 3);
	free(cancel_rc);
	free(fs);
	free(slots);
}

/*
 * Pairs of tasks submitted back to back, the second waited for with a
 * deadline: the pop of the first races with the push of the second, and the
 * second must never be left in the queue while the workers sleep.  A task
 * that was left behind is set free by one more submit, so that the test
 * fails instead of hanging.
 */
static void test_task_submitted_during_a_pop_is_not_stranded(void)
{
	size_t n = tu_scaled(20000);
	rp_executor *ex = NULL;
	size_t i, stranded = 0, errors = 0;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	for (i = 0; i < n && !stranded; i++) {
		rp_future *a = NULL, *b = NULL, *kick = NULL;
		int64_t value = 0;
		int ret;

		if (rp_submit(ex, tu_value_task, (void *)(intptr_t)1, &a) ||
		    rp_submit(ex, tu_value_task, (void *)(intptr_t)2, &b)) {
			errors++;
			rp_future_unref(a);
			break;
		}
		ret = rp_future_result(b, tu_stuck_timeout_ns(), &value, NULL);
		if (ret == -ETIMEDOUT) {
			stranded++;
			if (rp_submit(ex, tu_value_task, NULL, &kick) == 0)
				rp_future_unref(kick);
			ret = rp_future_result(b, RP_FOREVER, &value, NULL);
		}
		if (ret || value != 2 ||
		    rp_future_result(a, RP_FOREVER, &value, NULL) || value != 1)
			errors++;
		rp_future_unref(a);
		rp_future_unref(b);
	}
	if (stranded)
		fprintf(stderr, "a queued task was left behind %zu times (round %zu)\n",
			stranded, i);
	CU_ASSERT_EQUAL(stranded, 0);
	CU_ASSERT_EQUAL(errors, 0);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

/*
 * Two tasks that can only end once both have started, submitted back to
 * back while the workers are idle or spinning: the second must find a worker
 * of its own even when the one that looked at the queue for both took the
 * first.  A short spin makes the spinner give up often, in the middle of a
 * pair of submits, which is the case where a wake-up used to be lost.
 */
struct pair {
	struct tu_latch started;
	atomic_uint alone;		/* tasks that never saw the other */
};

static int pair_task(void *arg, int64_t *value)
{
	struct pair *p = arg;

	tu_latch_post(&p->started);
	if (!tu_latch_wait_for(&p->started, 2, tu_stuck_timeout_ns()))
		atomic_fetch_add(&p->alone, 1);
	*value = 0;
	return 0;
}

static void test_tasks_that_wait_for_each_other_both_start(void)
{
	static const int64_t spins[] = { 0, 1000, 20000 };
	size_t n = tu_scaled(3000), i, k, alone = 0, errors = 0;

	for (k = 0; k < sizeof(spins) / sizeof(spins[0]) && !alone; k++) {
		struct rp_config cfg;
		rp_executor *ex = NULL;

		CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
		cfg.workers = 4;
		cfg.spin_ns = spins[k];
		CU_ASSERT_EQUAL_FATAL(rp_executor_new(&cfg, &ex), 0);
		for (i = 0; i < n && !alone; i++) {
			rp_future *a = NULL, *b = NULL;
			struct pair p;

			tu_latch_init(&p.started);
			atomic_init(&p.alone, 0);
			if (rp_submit(ex, pair_task, &p, &a) ||
			    rp_submit(ex, pair_task, &p, &b))
				errors++;
			if ((a && rp_future_result(a, RP_FOREVER, NULL, NULL)) ||
			    (b && rp_future_result(b, RP_FOREVER, NULL, NULL)))
				errors++;
			alone += atomic_load(&p.alone);
			rp_future_unref(a);
			rp_future_unref(b);
			tu_latch_destroy(&p.started);
			if (alone)
				fprintf(stderr, "a task waited alone: spin %lld "
					"ns, round %zu\n", (long long)spins[k],
					i);
		}
		CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	}
	CU_ASSERT_EQUAL(alone, 0);
	CU_ASSERT_EQUAL(errors, 0);
}

/* Four threads submit, add a callback, sometimes cancel, and release. */
struct submitter {
	rp_executor *ex;
	struct slot *slots;
	bool *cancelled_ok;
	size_t n;
	size_t submit_errors;
	size_t callback_errors;
};

static void *submitter_thread(void *arg)
{
	struct submitter *sub = arg;
	size_t i;

	for (i = 0; i < sub->n; i++) {
		rp_future *f = NULL;

		if (rp_submit(sub->ex, slot_task, &sub->slots[i], &f)) {
			sub->submit_errors++;
			continue;
		}
		if (rp_future_add_done_callback(f, slot_done_cb,
						&sub->slots[i]))
			sub->callback_errors++;
		if (i % 16 == 0)
			sub->cancelled_ok[i] = rp_future_cancel(f) == 0;
		rp_future_unref(f);
	}
	return NULL;
}

static void test_done_callbacks_run_exactly_once_with_four_submitters(void)
{
	size_t per_thread = tu_scaled(250000);
	struct submitter subs[4];
	pthread_t threads[4];
	rp_executor *ex = NULL;
	size_t t, i, bad_end = 0, bad_ran = 0, errors = 0;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	for (t = 0; t < 4; t++) {
		subs[t].ex = ex;
		subs[t].n = per_thread;
		subs[t].slots = slots_new(per_thread);
		subs[t].cancelled_ok = calloc(per_thread, sizeof(bool));
		CU_ASSERT_PTR_NOT_NULL_FATAL(subs[t].cancelled_ok);
		subs[t].submit_errors = 0;
		subs[t].callback_errors = 0;
	}
	for (t = 0; t < 4; t++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&threads[t], NULL,
						     submitter_thread,
						     &subs[t]), 0);
	for (t = 0; t < 4; t++)
		CU_ASSERT_EQUAL(pthread_join(threads[t], NULL), 0);
	/* Joins the workers: every callback has returned after this. */
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);

	for (t = 0; t < 4; t++) {
		errors += subs[t].submit_errors + subs[t].callback_errors;
		for (i = 0; i < per_thread; i++) {
			struct slot *s = &subs[t].slots[i];
			bool cancelled = subs[t].cancelled_ok[i];

			if (atomic_load(&s->ended) != 1)
				bad_end++;
			if (atomic_load(&s->ran) != (cancelled ? 0u : 1u) ||
			    atomic_load(&s->ended_cancelled) !=
			    (cancelled ? 1u : 0u))
				bad_ran++;
		}
		free(subs[t].cancelled_ok);
		free(subs[t].slots);
	}
	CU_ASSERT_EQUAL(errors, 0);
	CU_ASSERT_EQUAL(bad_end, 0);
	CU_ASSERT_EQUAL(bad_ran, 0);
}

/*
 * Shutdown with a long queue: one worker held by a blocker, `n` counting
 * tasks queued behind it.
 */
struct queue_fixture {
	rp_executor *ex;
	struct tu_blocker b;
	rp_future *blocked;
	rp_future **fs;
	struct slot *slots;
	size_t n;
};

static void queue_fixture_start(struct queue_fixture *qf, size_t n)
{
	size_t i;

	memset(qf, 0, sizeof(*qf));
	qf->n = n;
	tu_blocker_init(&qf->b, 99, 0);
	qf->slots = slots_new(n);
	qf->fs = calloc(n, sizeof(*qf->fs));
	CU_ASSERT_PTR_NOT_NULL_FATAL(qf->fs);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &qf->ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(qf->ex, tu_blocker_task, &qf->b,
					&qf->blocked), 0);
	tu_latch_wait(&qf->b.started, 1);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL_FATAL(rp_submit(qf->ex, slot_task,
						&qf->slots[i], &qf->fs[i]), 0);
		CU_ASSERT_EQUAL_FATAL(rp_future_add_done_callback(qf->fs[i],
					slot_done_cb, &qf->slots[i]), 0);
	}
}

static void queue_fixture_finish(struct queue_fixture *qf)
{
	size_t i;

	tu_latch_post(&qf->b.release);
	CU_ASSERT_EQUAL(rp_executor_free(qf->ex), 0);
	rp_future_unref(qf->blocked);
	for (i = 0; i < qf->n; i++)
		rp_future_unref(qf->fs[i]);
	free(qf->fs);
	free(qf->slots);
	tu_blocker_destroy(&qf->b);
}

/* Counts queued futures that are not in the expected state. */
static size_t count_queue_mismatches(struct queue_fixture *qf, bool cancelled)
{
	size_t i, bad = 0;

	for (i = 0; i < qf->n; i++) {
		struct slot *s = &qf->slots[i];
		int64_t value = 0;
		int ret = rp_future_result(qf->fs[i], 0, &value, NULL);

		if (!rp_future_done(qf->fs[i]) ||
		    rp_future_cancelled(qf->fs[i]) != cancelled ||
		    ret != (cancelled ? -ECANCELED : 0) ||
		    (!cancelled && value != 1) ||
		    atomic_load(&s->ran) != (cancelled ? 0u : 1u) ||
		    atomic_load(&s->ended) != 1 ||
		    atomic_load(&s->ended_cancelled) != (cancelled ? 1u : 0u))
			bad++;
	}
	return bad;
}

static void test_shutdown_without_cancel_runs_every_queued_task(void)
{
	struct queue_fixture qf;
	rp_future *late = NULL;
	int64_t value = 0;
	size_t i, started = 0;

	queue_fixture_start(&qf, tu_scaled(20000));
	CU_ASSERT_EQUAL(rp_executor_shutdown(qf.ex, 0), 0);
	CU_ASSERT_EQUAL(rp_submit(qf.ex, tu_value_task, NULL, &late),
			-ESHUTDOWN);
	for (i = 0; i < qf.n; i++)
		if (rp_future_done(qf.fs[i]) || rp_future_running(qf.fs[i]))
			started++;
	CU_ASSERT_EQUAL(started, 0);

	tu_latch_post(&qf.b.release);
	CU_ASSERT_EQUAL(rp_executor_shutdown(qf.ex, RP_SHUTDOWN_WAIT), 0);
	CU_ASSERT_EQUAL(rp_future_result(qf.blocked, 0, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 99);
	/* Free joins the workers, so every callback has run before counting. */
	CU_ASSERT_EQUAL(rp_executor_free(qf.ex), 0);
	qf.ex = NULL;
	CU_ASSERT_EQUAL(count_queue_mismatches(&qf, false), 0);
	queue_fixture_finish(&qf);
}

static void test_shutdown_cancel_pending_cancels_every_queued_task(void)
{
	struct queue_fixture qf;
	rp_future *late = NULL;
	int64_t value = 0;
	size_t i, not_cancelled = 0;

	queue_fixture_start(&qf, tu_scaled(20000));
	CU_ASSERT_EQUAL(rp_executor_shutdown(qf.ex, RP_SHUTDOWN_CANCEL_PENDING),
			0);
	/* The queued tasks are cancelled by the time shutdown returns. */
	for (i = 0; i < qf.n; i++)
		if (!rp_future_cancelled(qf.fs[i]))
			not_cancelled++;
	CU_ASSERT_EQUAL(not_cancelled, 0);
	CU_ASSERT_FALSE(rp_future_cancelled(qf.blocked));
	CU_ASSERT_TRUE(rp_future_running(qf.blocked));
	CU_ASSERT_EQUAL(rp_submit(qf.ex, tu_value_task, NULL, &late),
			-ESHUTDOWN);

	tu_latch_post(&qf.b.release);
	CU_ASSERT_EQUAL(rp_executor_shutdown(qf.ex, RP_SHUTDOWN_WAIT), 0);
	CU_ASSERT_EQUAL(rp_future_result(qf.blocked, 0, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 99);
	CU_ASSERT_EQUAL(rp_executor_free(qf.ex), 0);
	qf.ex = NULL;
	CU_ASSERT_EQUAL(count_queue_mismatches(&qf, true), 0);
	queue_fixture_finish(&qf);
}

static void open_gate_cb(rp_future *f, void *arg)
{
	(void)f;
	tu_latch_post(arg);
}

static void test_shutdown_wait_cancel_pending_cancels_queue_then_waits(void)
{
	struct queue_fixture qf;
	int64_t value = 0;

	queue_fixture_start(&qf, tu_scaled(20000));
	/*
	 * The last queued task's callback runs when shutdown cancels it and
	 * lets the running task end, which the shutdown then waits for.
	 */
	CU_ASSERT_EQUAL(rp_future_add_done_callback(qf.fs[qf.n - 1],
						    open_gate_cb,
						    &qf.b.release), 0);
	CU_ASSERT_EQUAL(rp_executor_shutdown(qf.ex, RP_SHUTDOWN_WAIT |
					     RP_SHUTDOWN_CANCEL_PENDING), 0);
	CU_ASSERT_TRUE(rp_future_done(qf.blocked));
	CU_ASSERT_FALSE(rp_future_cancelled(qf.blocked));
	CU_ASSERT_EQUAL(rp_future_result(qf.blocked, 0, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 99);
	CU_ASSERT_EQUAL(rp_executor_free(qf.ex), 0);
	qf.ex = NULL;
	CU_ASSERT_EQUAL(count_queue_mismatches(&qf, true), 0);
	queue_fixture_finish(&qf);
}

/* Nested waits on a single worker. */
struct nest {
	rp_executor *ex;
	unsigned depth;
	int submit_ret;
	int wait_ret;
	int child_error;
	size_t n_done;
};

static struct nest nest_levels[8];

/* Level d submits level d - 1 and waits for it; level 0 gives 1. */
static int nested_result_task(void *arg, int64_t *value)
{
	struct nest *nt = arg;
	rp_future *child = NULL;
	int64_t child_value = 0;

	if (nt->depth == 0) {
		*value = 1;
		return 0;
	}
	nt->submit_ret = rp_submit(nt->ex, nested_result_task,
				   &nest_levels[nt->depth - 1], &child);
	if (nt->submit_ret)
		return nt->submit_ret;
	nt->wait_ret = rp_future_result(child, 30 * SEC, &child_value,
					&nt->child_error);
	rp_future_unref(child);
	*value = child_value + 1;
	return 0;
}

static void test_task_waits_on_own_executor_with_one_worker_via_result(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	int64_t value = 0;
	int error = 1;
	unsigned d;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	for (d = 0; d < 6; d++) {
		memset(&nest_levels[d], 0, sizeof(nest_levels[d]));
		nest_levels[d].ex = ex;
		nest_levels[d].depth = d;
		nest_levels[d].wait_ret = 1;
		nest_levels[d].child_error = 1;
	}
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, nested_result_task,
					&nest_levels[5], &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, &error), 0);
	CU_ASSERT_EQUAL(error, 0);
	CU_ASSERT_EQUAL(value, 6);
	for (d = 1; d < 6; d++) {
		CU_ASSERT_EQUAL(nest_levels[d].submit_ret, 0);
		CU_ASSERT_EQUAL(nest_levels[d].wait_ret, 0);
		CU_ASSERT_EQUAL(nest_levels[d].child_error, 0);
	}
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

/* Submits three children and waits for them all with rp_wait(). */
static int nested_wait_task(void *arg, int64_t *value)
{
	struct nest *nt = arg;
	rp_future *kids[3] = { NULL, NULL, NULL };
	bool done[3] = { false, false, false };
	int64_t sum = 0;
	unsigned i;

	for (i = 0; i < 3; i++) {
		nt->submit_ret = rp_submit(nt->ex, tu_value_task,
					   (void *)(intptr_t)(10 * (i + 1)),
					   &kids[i]);
		if (nt->submit_ret)
			break;
	}
	if (i == 3) {
		nt->wait_ret = rp_wait(kids, 3, RP_ALL_COMPLETED, 30 * SEC,
				       done, &nt->n_done);
		for (i = 0; i < 3; i++) {
			int64_t v = 0;

			if (rp_future_result(kids[i], 0, &v, NULL) == 0)
				sum += v;
		}
	}
	for (i = 0; i < 3; i++)
		rp_future_unref(kids[i]);
	*value = sum;
	return 0;
}

static void test_task_waits_on_own_executor_with_one_worker_via_rp_wait(void)
{
	struct nest nt;
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	int64_t value = 0;

	memset(&nt, 0, sizeof(nt));
	nt.wait_ret = 1;
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	nt.ex = ex;
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, nested_wait_task, &nt, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, NULL), 0);
	CU_ASSERT_EQUAL(nt.submit_ret, 0);
	CU_ASSERT_EQUAL(nt.wait_ret, 0);
	CU_ASSERT_EQUAL(nt.n_done, 3);
	CU_ASSERT_EQUAL(value, 60);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

/* Level d of chain c submits level d - 1 of the same chain and waits. */
struct chain_level {
	rp_executor *ex;
	struct chain_level *child;
	int submit_ret;
	int wait_ret;
};

static int chain_task(void *arg, int64_t *value)
{
	struct chain_level *cl = arg;
	rp_future *child = NULL;
	int64_t child_value = 0;

	if (!cl->child) {
		*value = 1;
		return 0;
	}
	cl->submit_ret = rp_submit(cl->ex, chain_task, cl->child, &child);
	if (cl->submit_ret)
		return cl->submit_ret;
	cl->wait_ret = rp_future_result(child, 30 * SEC, &child_value, NULL);
	rp_future_unref(child);
	*value = child_value + 1;
	return 0;
}

static void test_many_waiting_tasks_queued_on_one_worker_all_complete(void)
{
	size_t n = tu_under_valgrind() ? 10 : 100;
	struct chain_level (*levels)[3];
	rp_executor *ex = NULL;
	rp_future **fs;
	size_t i, bad = 0;
	unsigned d;

	fs = calloc(n, sizeof(*fs));
	levels = calloc(n, sizeof(*levels));
	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(levels);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	/*
	 * Many waiting tasks are queued at once; their children queue behind
	 * all of them, so a waiting worker must run the others' work.
	 */
	for (i = 0; i < n; i++) {
		for (d = 0; d < 3; d++) {
			levels[i][d].ex = ex;
			levels[i][d].child = d ? &levels[i][d - 1] : NULL;
			levels[i][d].wait_ret = d ? 1 : 0;
		}
		CU_ASSERT_EQUAL_FATAL(rp_submit(ex, chain_task, &levels[i][2],
						&fs[i]), 0);
	}
	for (i = 0; i < n; i++) {
		int64_t value = 0;

		if (rp_future_result(fs[i], RP_FOREVER, &value, NULL) ||
		    value != 3 || levels[i][2].wait_ret ||
		    levels[i][1].wait_ret || levels[i][2].submit_ret ||
		    levels[i][1].submit_ret)
			bad++;
		rp_future_unref(fs[i]);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	free(levels);
	free(fs);
}

/*
 * Many queued tasks that each submit a child and wait on it.  The child
 * queues behind all the others, so a waiter that helped in queue order ran
 * the next parent, which waited and helped in turn, one frame deeper each:
 * 100000 of them overflowed a worker's 8 MiB stack.
 */
static rp_executor *deep_ex;

static int deep_parent_task(void *arg, int64_t *value)
{
	rp_future *child = NULL;
	int ret;

	(void)arg;
	ret = rp_submit(deep_ex, tu_value_task, (void *)(intptr_t)1, &child);
	if (ret)
		return ret;
	ret = rp_future_result(child, 30 * SEC, value, NULL);
	rp_future_unref(child);
	return ret;
}

static void test_many_tasks_waiting_on_children_do_not_nest_on_one_stack(void)
{
	size_t n = tu_scaled(100000), i, bad = 0;
	rp_future **fs = calloc(n, sizeof(*fs));

	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &deep_ex), 0);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(rp_submit(deep_ex, deep_parent_task, NULL,
						&fs[i]), 0);
	for (i = 0; i < n; i++) {
		int64_t value = 0;
		int error = 1;

		if (rp_future_result(fs[i], RP_FOREVER, &value, &error) ||
		    error || value != 1)
			bad++;
		rp_future_unref(fs[i]);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(rp_executor_free(deep_ex), 0);
	free(fs);
}

/* Waits on the task given as its argument, which runs on another worker. */
static int deep_waiter_task(void *arg, int64_t *value)
{
	return rp_future_result(arg, 30 * SEC, value, NULL);
}

static void test_many_tasks_waiting_on_a_running_task_do_not_nest_deep(void)
{
	struct tu_blocker b;
	rp_future *running = NULL;

	tu_blocker_init(&b, 1, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &deep_ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(deep_ex, tu_blocker_task, &b,
					&running), 0);
	tu_latch_wait(&b.started, 1);
	/*
	 * The other worker takes a waiter, which helps with the next waiter,
	 * and so on; release the blocker once they are all queued.
	 */
	{
		size_t n = tu_scaled(100000), i, bad = 0;
		rp_future **fs = calloc(n, sizeof(*fs));

		CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
		for (i = 0; i < n; i++)
			CU_ASSERT_EQUAL_FATAL(rp_submit(deep_ex,
					deep_waiter_task, running, &fs[i]), 0);
		tu_latch_post(&b.release);
		for (i = 0; i < n; i++) {
			int64_t value = 0;
			int error = 1;

			if (rp_future_result(fs[i], RP_FOREVER, &value,
					     &error) || error || value != 1)
				bad++;
			rp_future_unref(fs[i]);
		}
		CU_ASSERT_EQUAL(bad, 0);
		free(fs);
	}
	rp_future_unref(running);
	CU_ASSERT_EQUAL(rp_executor_free(deep_ex), 0);
	tu_blocker_destroy(&b);
}

/*
 * The limit rp_future_result() documents: A waits on B (running on the other
 * worker); its worker, helping, runs C, which waits on A.  C sits on top of
 * A, so A cannot end before C gives up, though B's worker frees up.
 */
struct helped_cycle {
	rp_executor *ex;
	struct tu_blocker b;
	struct tu_latch a_known;
	rp_future *_Atomic a;
	rp_future *_Atomic c;
	int c_wait;
};

static int cycle_c_task(void *arg, int64_t *value)
{
	struct helped_cycle *hc = arg;

	(void)value;
	hc->c_wait = rp_future_result(atomic_load(&hc->a), SEC / 5, NULL,
				      NULL);
	tu_latch_post(&hc->b.release);
	return 0;
}

static int cycle_a_task(void *arg, int64_t *value)
{
	struct helped_cycle *hc = arg;
	rp_future *b = NULL, *c = NULL;
	int ret;

	tu_latch_wait(&hc->a_known, 1);
	ret = rp_submit(hc->ex, tu_blocker_task, &hc->b, &b);
	if (ret)
		return ret;
	tu_latch_wait(&hc->b.started, 1);
	ret = rp_submit(hc->ex, cycle_c_task, hc, &c);
	if (ret == 0) {
		atomic_store(&hc->c, c);
		ret = rp_future_result(b, RP_FOREVER, value, NULL);
	}
	rp_future_unref(b);
	return ret;
}

static void test_task_helped_by_a_waiter_cannot_wait_on_that_waiter(void)
{
	struct helped_cycle hc;
	rp_future *a = NULL;
	int64_t value = 0;
	int error = 1;

	memset(&hc, 0, sizeof(hc));
	tu_blocker_init(&hc.b, 7, 0);
	tu_latch_init(&hc.a_known);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &hc.ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(hc.ex, cycle_a_task, &hc, &a), 0);
	atomic_store(&hc.a, a);
	tu_latch_post(&hc.a_known);
	CU_ASSERT_EQUAL(rp_future_result(a, RP_FOREVER, &value, &error), 0);
	CU_ASSERT_EQUAL(error, 0);
	CU_ASSERT_EQUAL(value, 7);
	/* C ran on A's worker, above A, and could only time out. */
	CU_ASSERT_EQUAL(hc.c_wait, -ETIMEDOUT);
	CU_ASSERT_EQUAL(rp_future_result(atomic_load(&hc.c), RP_FOREVER, NULL,
					 NULL), 0);
	rp_future_unref(atomic_load(&hc.c));
	rp_future_unref(a);
	CU_ASSERT_EQUAL(rp_executor_free(hc.ex), 0);
	tu_latch_destroy(&hc.a_known);
	tu_blocker_destroy(&hc.b);
}

static const struct tu_test tests[] = {
	{ "cancel_racing_workers_ends_each_future_exactly_once",
	  test_cancel_racing_workers_ends_each_future_exactly_once, false },
	{ "task_submitted_during_a_pop_is_not_stranded",
	  test_task_submitted_during_a_pop_is_not_stranded, false },
	{ "tasks_that_wait_for_each_other_both_start",
	  test_tasks_that_wait_for_each_other_both_start, false },
	{ "done_callbacks_run_exactly_once_with_four_submitters",
	  test_done_callbacks_run_exactly_once_with_four_submitters, false },
	{ "shutdown_without_cancel_runs_every_queued_task",
	  test_shutdown_without_cancel_runs_every_queued_task, false },
	{ "shutdown_cancel_pending_cancels_every_queued_task",
	  test_shutdown_cancel_pending_cancels_every_queued_task, false },
	{ "shutdown_wait_cancel_pending_cancels_queue_then_waits",
	  test_shutdown_wait_cancel_pending_cancels_queue_then_waits, false },
	{ "task_waits_on_own_executor_with_one_worker_via_result",
	  test_task_waits_on_own_executor_with_one_worker_via_result, false },
	{ "task_waits_on_own_executor_with_one_worker_via_rp_wait",
	  test_task_waits_on_own_executor_with_one_worker_via_rp_wait, false },
	{ "many_waiting_tasks_queued_on_one_worker_all_complete",
	  test_many_waiting_tasks_queued_on_one_worker_all_complete, false },
	{ "many_tasks_waiting_on_children_do_not_nest_on_one_stack",
	  test_many_tasks_waiting_on_children_do_not_nest_on_one_stack, false },
	{ "many_tasks_waiting_on_a_running_task_do_not_nest_deep",
	  test_many_tasks_waiting_on_a_running_task_do_not_nest_deep, false },
	{ "task_helped_by_a_waiter_cannot_wait_on_that_waiter",
	  test_task_helped_by_a_waiter_cannot_wait_on_that_waiter, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "stress", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
