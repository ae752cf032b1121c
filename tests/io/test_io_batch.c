/* SPDX-License-Identifier: MIT */
/*
 * Batches (rp_io_batch_begin / rp_io_batch_end) and shared rings
 * (RP_RINGS_SHARED), on the backend RINGPOOL_BACKEND asks for and with the
 * ring mode RINGPOOL_RINGS asks for; the tests that are about shared rings
 * ask for them in the configuration.  On the fallback a batch changes
 * nothing, and the same code must work.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "iotest.h"

#define BATCH 32

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* An executor with shared rings where io_uring is in use. */
static rp_executor *shared_executor(void)
{
	struct rp_config cfg;

	rp_config_init(&cfg);
	cfg.ring_mode = RP_RINGS_SHARED;
	return it_executor_new(&cfg);
}

static bool is_uring(rp_executor *ex)
{
	int backend = -1;

	CU_ASSERT_EQUAL(rp_executor_backend(ex, &backend, NULL), 0);
	return backend == RP_BACKEND_URING;
}

struct seen {
	_Atomic unsigned calls;
	_Atomic unsigned on_caller;
	pthread_t caller;
};

static void note_thread(rp_future *f, void *arg)
{
	struct seen *s = arg;

	(void)f;
	atomic_fetch_add(&s->calls, 1);
	if (pthread_equal(pthread_self(), s->caller))
		atomic_fetch_add(&s->on_caller, 1);
}

/*
 * A future's state is published before its callbacks run, so a waiter can
 * see it done while a callback on another thread is still to come.
 */
static unsigned wait_calls(struct seen *s, unsigned n)
{
	int64_t until = tu_now_ns() + tu_stuck_timeout_ns();

	while (atomic_load(&s->calls) < n && tu_now_ns() < until)
		sleep_ms(1);
	return atomic_load(&s->calls);
}

static void end_all(rp_future **fs, unsigned n)
{
	int64_t v;
	unsigned i;

	for (i = 0; i < n; i++) {
		v = -1;
		CU_ASSERT_EQUAL(it_end(fs[i], &v), 0);
		CU_ASSERT_EQUAL(v, 0);
	}
}

static void test_batch_is_sent_at_its_end(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct seen s = { .caller = pthread_self() };
	rp_future *fs[BATCH];
	unsigned i;

	CU_ASSERT_EQUAL_FATAL(rp_io_batch_begin(ex), 0);
	for (i = 0; i < BATCH; i++) {
		CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &fs[i]), 0);
		CU_ASSERT_EQUAL(rp_future_add_done_callback(fs[i],
							    note_thread, &s),
				0);
	}
	CU_ASSERT_EQUAL(rp_io_batch_end(ex), 0);
	CU_ASSERT_EQUAL(rp_wait(fs, BATCH, RP_ALL_COMPLETED,
				tu_stuck_timeout_ns(), NULL, NULL), 0);
	CU_ASSERT_EQUAL(wait_calls(&s, BATCH), BATCH);
	end_all(fs, BATCH);
	it_executor_free(ex);
}

/*
 * A shared ring is free for a submitter to drive only while its thread
 * sleeps, and nothing tells a test when that thread (new, or woken by the
 * previous try) has got there: on a loaded machine, under valgrind or a
 * sanitizer, that can be long after any fixed pause.  So a test of what
 * happens on a free ring tries again, after a longer pause each time, until
 * the ring was free or tu_stuck_timeout_ns() has passed.  `try` returns
 * whether it saw what a free ring must give; it ends its futures either way.
 */
static bool on_a_free_ring(rp_executor *ex, bool (*try)(rp_executor *ex))
{
	int64_t until = tu_now_ns() + tu_stuck_timeout_ns();
	long pause_ms = 20;

	for (;;) {
		sleep_ms(pause_ms);
		if (try(ex))
			return true;
		if (tu_now_ns() >= until)
			return false;
		if (pause_ms < 1000)
			pause_ms *= 2;
	}
}

/*
 * With shared rings the thread that ends a batch submits it and reaps it:
 * NOPs complete inside io_uring_enter(), so they are done when
 * rp_io_batch_end() returns and their callbacks ran on this thread.
 */
static bool batch_on_the_calling_thread(rp_executor *ex)
{
	struct seen s = { .caller = pthread_self() };
	rp_future *fs[BATCH];
	bool all_done = true;
	unsigned i;

	CU_ASSERT_EQUAL_FATAL(rp_io_batch_begin(ex), 0);
	for (i = 0; i < BATCH; i++) {
		CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &fs[i]), 0);
		CU_ASSERT_EQUAL(rp_future_add_done_callback(fs[i],
							    note_thread, &s),
				0);
		CU_ASSERT_FALSE(rp_future_done(fs[i]));
	}
	CU_ASSERT_EQUAL(rp_io_batch_end(ex), 0);
	for (i = 0; i < BATCH; i++)
		all_done = all_done && rp_future_done(fs[i]);
	all_done = all_done && atomic_load(&s.calls) == BATCH &&
		   atomic_load(&s.on_caller) == BATCH;
	end_all(fs, BATCH);
	/* Callbacks still to come on the ring thread use `s`. */
	CU_ASSERT_EQUAL(wait_calls(&s, BATCH), BATCH);
	return all_done;
}

/* Outside a batch, one operation is submitted by its caller. */
static bool one_on_the_calling_thread(rp_executor *ex)
{
	rp_future *f;
	bool done;

	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &f), 0);
	done = rp_future_done(f);
	end_all(&f, 1);
	return done;
}

static void test_shared_batch_runs_on_the_calling_thread(void)
{
	rp_executor *ex = shared_executor();

	if (!is_uring(ex)) {
		CU_ASSERT_EQUAL(rp_executor_ring_mode(ex), -ENOTSUP);
		it_executor_free(ex);
		return;
	}
	CU_ASSERT_EQUAL(rp_executor_ring_mode(ex), RP_RINGS_SHARED);
	CU_ASSERT(on_a_free_ring(ex, batch_on_the_calling_thread));
	CU_ASSERT(on_a_free_ring(ex, one_on_the_calling_thread));
	it_executor_free(ex);
}

/* Returns whether the operation was done at the outer end. */
static bool nested_batches(rp_executor *ex)
{
	bool uring = is_uring(ex), done;
	rp_future *f;

	CU_ASSERT_EQUAL_FATAL(rp_io_batch_begin(ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_io_batch_begin(ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &f), 0);
	CU_ASSERT_EQUAL(rp_io_batch_end(ex), 0);
	/* Still held by the outer batch: nobody else can see it yet. */
	if (uring)
		CU_ASSERT_FALSE(rp_future_done(f));
	CU_ASSERT_EQUAL(rp_io_batch_end(ex), 0);
	done = rp_future_done(f);
	end_all(&f, 1);
	return done || !uring;
}

static void test_nested_batches_send_at_the_outermost_end(void)
{
	rp_executor *ex = shared_executor();

	/* On a free shared ring the outer end runs it to its completion. */
	CU_ASSERT(on_a_free_ring(ex, nested_batches));
	it_executor_free(ex);
}

/* Waiting inside a batch sends it first, so the wait cannot hang. */
static void test_waiting_inside_a_batch_sends_it(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_future *fs[2];
	int64_t v = -1;
	int err = -1;

	CU_ASSERT_EQUAL_FATAL(rp_io_batch_begin(ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &fs[0]), 0);
	CU_ASSERT_EQUAL(rp_future_result(fs[0], tu_stuck_timeout_ns(), &v,
					 &err), 0);
	CU_ASSERT_EQUAL(err, 0);
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &fs[1]), 0);
	CU_ASSERT_EQUAL(rp_wait(&fs[1], 1, RP_FIRST_COMPLETED,
				tu_stuck_timeout_ns(), NULL, NULL), 0);
	CU_ASSERT_TRUE(rp_future_done(fs[1]));
	CU_ASSERT_EQUAL(rp_io_batch_end(ex), 0);
	end_all(fs, 2);
	it_executor_free(ex);
}

static void test_batch_misuse_is_an_error(void)
{
	rp_executor *a = it_executor_new(NULL), *b = it_executor_new(NULL);
	struct rp_config cfg;
	rp_executor *bad = NULL;

	CU_ASSERT_EQUAL(rp_io_batch_begin(NULL), -EINVAL);
	CU_ASSERT_EQUAL(rp_io_batch_end(NULL), -EINVAL);
	CU_ASSERT_EQUAL(rp_io_batch_end(a), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(rp_io_batch_begin(a), 0);
	CU_ASSERT_EQUAL(rp_io_batch_begin(b), -EBUSY);
	CU_ASSERT_EQUAL(rp_io_batch_end(b), -EINVAL);
	CU_ASSERT_EQUAL(rp_io_batch_end(a), 0);
	CU_ASSERT_EQUAL(rp_io_batch_end(a), -EINVAL);
	/* Free again for the other executor. */
	CU_ASSERT_EQUAL(rp_io_batch_begin(b), 0);
	CU_ASSERT_EQUAL(rp_io_batch_end(b), 0);

	CU_ASSERT_EQUAL(rp_executor_ring_mode(NULL), -EINVAL);
	rp_config_init(&cfg);
	cfg.ring_mode = 7;
	CU_ASSERT_EQUAL(rp_executor_new(&cfg, &bad), -EINVAL);
	CU_ASSERT_PTR_NULL(bad);

	/* A misspelt RINGPOOL_RINGS is refused, not a silent fallback. */
	{
		const char *old = getenv("RINGPOOL_RINGS");
		char *saved = old ? strdup(old) : NULL;

		setenv("RINGPOOL_RINGS", "sharde", 1);
		rp_config_init(&cfg);
		CU_ASSERT_EQUAL(rp_executor_new(&cfg, &bad), -EINVAL);
		CU_ASSERT_PTR_NULL(bad);
		/* Given in the configuration, the variable is not read. */
		cfg.ring_mode = RP_RINGS_OWNED;
		CU_ASSERT_EQUAL(rp_executor_new(&cfg, &bad), 0);
		rp_executor_free(bad);
		if (saved)
			setenv("RINGPOOL_RINGS", saved, 1);
		else
			unsetenv("RINGPOOL_RINGS");
		free(saved);
	}
	it_executor_free(a);
	it_executor_free(b);
}

/* An operation cancelled while its batch holds it ends once, cancelled. */
static void test_cancel_inside_a_batch(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct seen s = { .caller = pthread_self() };
	rp_future *fs[2];

	CU_ASSERT_EQUAL_FATAL(rp_io_batch_begin(ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &fs[0]), 0);
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &fs[1]), 0);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(fs[0], note_thread, &s),
			0);
	/* Not yet with the kernel (a blocking-I/O thread may have it). */
	(void)rp_future_cancel(fs[0]);
	CU_ASSERT_EQUAL(rp_io_batch_end(ex), 0);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_ALL_COMPLETED,
				tu_stuck_timeout_ns(), NULL, NULL), 0);
	CU_ASSERT_TRUE(rp_future_done(fs[0]));
	if (is_uring(ex))
		CU_ASSERT_TRUE(rp_future_cancelled(fs[0]));
	CU_ASSERT_EQUAL(wait_calls(&s, 1), 1);
	sleep_ms(10);
	CU_ASSERT_EQUAL(atomic_load(&s.calls), 1);	/* and only once */
	end_all(&fs[1], 1);
	rp_future_unref(fs[0]);
	it_executor_free(ex);
}

/* Freeing the executor with a batch open on this thread sends it first. */
static void test_free_with_an_open_batch(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f;

	CU_ASSERT_EQUAL_FATAL(rp_io_batch_begin(ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &f), 0);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_TRUE(rp_future_done(f));
	rp_future_unref(f);
	/* The batch ended with its executor. */
	ex = it_executor_new(NULL);
	CU_ASSERT_EQUAL(rp_io_batch_end(ex), -EINVAL);
	it_executor_free(ex);
}

/*
 * A read submitted by this thread on shared rings completes later, while
 * this thread sleeps in the wait: the kernel runs the completion on the
 * submitter's behalf and the ring thread reaps it.
 */
struct late_writer {
	int fd;
	long delay_ms;
};

static void *write_later(void *arg)
{
	struct late_writer *w = arg;

	sleep_ms(w->delay_ms);
	CU_ASSERT_EQUAL(write(w->fd, "12345678", 8), 8);
	return NULL;
}

static void test_shared_read_completes_while_submitter_sleeps(void)
{
	rp_executor *ex = shared_executor();
	struct late_writer w;
	char buf[8] = { 0 };
	pthread_t t;
	rp_future *f;
	int64_t v = -1;
	int p[2];

	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	w.fd = p[1];
	w.delay_ms = 50;
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, p[0], buf, sizeof(buf), -1, NULL,
				      &f), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, write_later, &w), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 8);
	CU_ASSERT_EQUAL(memcmp(buf, "12345678", 8), 0);
	pthread_join(t, NULL);
	close(p[0]);
	close(p[1]);
	it_executor_free(ex);
}

/* Several threads batch at once while others submit one at a time. */
#define STRESS_THREADS 4

struct stress {
	rp_executor *ex;
	unsigned rounds;
	bool batched;
	_Atomic unsigned *failures;
};

static void *stress_thread(void *arg)
{
	struct stress *st = arg;
	rp_future *fs[16];
	unsigned r, i, n;
	int64_t v;
	int err;

	for (r = 0; r < st->rounds; r++) {
		n = 1 + r % 16;
		if (st->batched && rp_io_batch_begin(st->ex) < 0)
			atomic_fetch_add(st->failures, 1);
		for (i = 0; i < n; i++)
			if (rp_nop(st->ex, NULL, &fs[i]) < 0) {
				atomic_fetch_add(st->failures, 1);
				n = i;
				break;
			}
		if (st->batched && rp_io_batch_end(st->ex) < 0)
			atomic_fetch_add(st->failures, 1);
		for (i = 0; i < n; i++) {
			err = -1;
			if (rp_future_result(fs[i], tu_stuck_timeout_ns(), &v,
					     &err) < 0 || err != 0)
				atomic_fetch_add(st->failures, 1);
			rp_future_unref(fs[i]);
		}
	}
	return NULL;
}

static void test_batches_from_many_threads(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct stress st[STRESS_THREADS];
	pthread_t t[STRESS_THREADS];
	_Atomic unsigned failures = 0;
	unsigned i;

	for (i = 0; i < STRESS_THREADS; i++) {
		st[i].ex = ex;
		st[i].rounds = (unsigned)tu_scaled(4000);
		st[i].batched = i % 2 == 0;
		st[i].failures = &failures;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL,
						     stress_thread, &st[i]),
				      0);
	}
	for (i = 0; i < STRESS_THREADS; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(atomic_load(&failures), 0);
	it_executor_free(ex);
}

static const struct tu_test tests[] = {
	{ "batch_is_sent_at_its_end", test_batch_is_sent_at_its_end, false },
	{ "shared_batch_runs_on_the_calling_thread",
	  test_shared_batch_runs_on_the_calling_thread, false },
	{ "nested_batches_send_at_the_outermost_end",
	  test_nested_batches_send_at_the_outermost_end, false },
	{ "waiting_inside_a_batch_sends_it",
	  test_waiting_inside_a_batch_sends_it, false },
	{ "batch_misuse_is_an_error", test_batch_misuse_is_an_error, false },
	{ "cancel_inside_a_batch", test_cancel_inside_a_batch, false },
	{ "free_with_an_open_batch", test_free_with_an_open_batch, false },
	{ "shared_read_completes_while_submitter_sleeps",
	  test_shared_read_completes_while_submitter_sleeps, false },
	{ "batches_from_many_threads", test_batches_from_many_threads, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "io-batch", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
