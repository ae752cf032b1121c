/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the ringpool test programs.
 *
 * Everything here is plain functions: a runner for a CUnit suite, a check for
 * the valgrind setup, a clock, a latch built on a mutex and a condition
 * variable, and a few small tasks that the test programs share.
 */
#ifndef RINGPOOL_TESTUTIL_H
#define RINGPOOL_TESTUTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

#include "ringpool.h"

/* One test of a program's suite. */
struct tu_test {
	const char *name;
	CU_TestFunc fn;
	/* Leave the test out under valgrind (e.g. it needs 1024 threads). */
	bool skip_under_valgrind;
};

/* A xorshift64* generator: deterministic for a given seed. */
struct tu_rng {
	uint64_t s;
};

void tu_rng_seed(struct tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(struct tu_rng *r);
/* Uniform in [0, n), n > 0. */
uint32_t tu_rng_below(struct tu_rng *r, uint32_t n);

/*
 * Registers `tests` in one CUnit suite named `suite_name`, runs them and
 * returns 0 only when every test passed and CUnit reported no error.  Names
 * given on the command line run only those tests; "-NAME" arguments (all of
 * them in that form) run all but those.  Returns 77, a skip to meson, when
 * every selected test is one left out under valgrind.
 */
int tu_run_tests(int argc, char **argv, const char *suite_name,
		 const struct tu_test *tests, size_t n_tests);

/* True when RINGPOOL_UNDER_VALGRIND=1 is set (the valgrind test setup). */
bool tu_under_valgrind(void);

/* `n`, or `n / 100` (at least 1) under valgrind. */
size_t tu_scaled(size_t n);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t tu_now_ns(void);

/*
 * How much longer than its timeout a timed wait may take before the test
 * calls it broken: generous, since the machine may be loaded (30 s under
 * valgrind or in a sanitizer's build, 2 s otherwise).
 */
int64_t tu_timeout_slack_ns(void);

/*
 * How long a test waits for something that must happen (a queued task to
 * start, say) before it calls the library stuck and fails instead of hanging
 * (30 s under valgrind or in a sanitizer's build, 5 s otherwise).
 */
int64_t tu_stuck_timeout_ns(void);

/*
 * A latch: a counter that threads raise with tu_latch_post() and wait on with
 * tu_latch_wait() until it reaches a target.  With a target of 1 it is a gate
 * that holds a task until the test opens it.
 */
struct tu_latch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned count;
};

void tu_latch_init(struct tu_latch *l);
void tu_latch_destroy(struct tu_latch *l);
void tu_latch_post(struct tu_latch *l);
void tu_latch_wait(struct tu_latch *l, unsigned target);
/* As tu_latch_wait(), for at most `timeout_ns`; true if the target was met. */
bool tu_latch_wait_for(struct tu_latch *l, unsigned target, int64_t timeout_ns);
unsigned tu_latch_count(struct tu_latch *l);

/*
 * A task that holds a worker busy: tu_blocker_task() posts `started`, waits
 * until `release` is posted, stores `value` and returns `ret`.
 */
struct tu_blocker {
	struct tu_latch started;
	struct tu_latch release;
	int64_t value;
	int ret;
};

void tu_blocker_init(struct tu_blocker *b, int64_t value, int ret);
void tu_blocker_destroy(struct tu_blocker *b);
int tu_blocker_task(void *arg, int64_t *value);

/* One worker, held busy by a blocker, so that later tasks queue. */
struct tu_busy_exec {
	rp_executor *ex;
	struct tu_blocker b;
	rp_future *running;
};

/* Starts the executor and its blocker; the blocker has started. */
void tu_busy_exec_start(struct tu_busy_exec *be);
/* Releases the blocker, checks its result, frees the executor. */
void tu_busy_exec_finish(struct tu_busy_exec *be);

/* Stores `(intptr_t)arg` as its value and returns 0. */
int tu_value_task(void *arg, int64_t *value);

/* Returns `(int)(intptr_t)arg`, which should be a negative errno. */
int tu_error_task(void *arg, int64_t *value);

/* Increments the atomic_uint that `arg` points to and returns 0. */
int tu_count_task(void *arg, int64_t *value);

/*
 * Creates an executor with `workers` workers and the other settings at their
 * defaults.  Returns rp_executor_new()'s result.
 */
int tu_executor_new(unsigned workers, rp_executor **out);

struct sockaddr_in;

/*
 * A TCP listener on 127.0.0.1 and an ephemeral port, written to `*addr`.
 * A negative `backlog` leaves the socket bound but not listening: a port
 * that refuses connections while it stays open.  Fails the test fatally
 * when it cannot be made.
 */
int tu_tcp_listener(struct sockaddr_in *addr, int backlog);

#endif /* RINGPOOL_TESTUTIL_H */
