/* SPDX-License-Identifier: MIT */
/*
 * basic.c - Example 1 of the thread-pool tutorial: submit() and result().
 *
 * The Python original:
 *
 *	def task(name):
 *	    print(f"Task {name} is running")
 *	    time.sleep(2)  # Simulate a long-running task
 *	    return f"Task {name} completed"
 *
 *	with concurrent.futures.ThreadPoolExecutor(max_workers=3) as executor:
 *	    future1 = executor.submit(task, "A")
 *	    future2 = executor.submit(task, "B")
 *	    future3 = executor.submit(task, "C")
 *	    print(future1.result())
 *	    print(future2.result())
 *	    print(future3.result())
 *
 * Output (always in this order, because result() is asked in submission
 * order):
 *
 *	Task A completed
 *	Task B completed
 *	Task C completed
 *
 * The three "Task X is running" lines of the original are left out: the tasks
 * run at the same time on three threads, so those lines could come out in any
 * order.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

#include <ringpool.h>

#define N_TASKS 3

/* time.sleep(), for milliseconds. */
static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	/* thrd_sleep() leaves the time still to sleep in ts if interrupted. */
	while (thrd_sleep(&ts, &ts) == -1)
		;
}

/*
 * def task(name): ... return f"Task {name} completed"
 *
 * A ringpool task is `int fn(void *arg, int64_t *value)`: `arg` is what was
 * given to rp_submit() and the task's result goes into *value.  To return a
 * string the C way, the task allocates it and passes the pointer back through
 * *value; whoever takes the result owns the string and frees it.  A negative
 * return value is the task's error (Python: the task raised).
 */
static int task(void *arg, int64_t *value)
{
	const char *name = arg;
	char *result;
	int len;

	sleep_ms(100);		/* time.sleep(2): simulate a long task */

	len = snprintf(NULL, 0, "Task %s completed", name);
	result = malloc((size_t)len + 1);
	if (!result)
		return -ENOMEM;
	snprintf(result, (size_t)len + 1, "Task %s completed", name);

	*value = (int64_t)(intptr_t)result;
	return 0;
}

/* print(future.result()) */
static int print_result(rp_future *future)
{
	int64_t value;
	int error;
	int rc;
	char *result;

	/* Blocks until the task has ended (RP_FOREVER: no timeout). */
	rc = rp_future_result(future, RP_FOREVER, &value, &error);
	if (rc < 0) {
		fprintf(stderr, "basic: rp_future_result: %s\n", strerror(-rc));
		return -1;
	}
	if (error < 0) {
		/* The task itself failed (Python: result() re-raises). */
		fprintf(stderr, "basic: task failed: %s\n", strerror(-error));
		return -1;
	}

	result = (char *)(intptr_t)value;
	printf("%s\n", result);
	free(result);
	return 0;
}

/*
 * Frees the string of a task whose result was not taken (the loop in
 * main() stops at a failure): Python's garbage collector frees it there,
 * here nobody else would.  The task has ended: rp_executor_free() waited.
 */
static void drop_result(rp_future *future)
{
	int64_t value;
	int error;

	if (future && rp_future_result(future, 0, &value, &error) == 0 &&
	    error == 0)
		free((char *)(intptr_t)value);
}

int main(void)
{
	static const char *const names[N_TASKS] = { "A", "B", "C" };
	rp_future *futures[N_TASKS] = { NULL };
	struct rp_config cfg;
	rp_executor *executor;
	int status = EXIT_FAILURE;
	int rc;
	size_t i, taken = 0;

	/* ThreadPoolExecutor(max_workers=3) */
	rc = rp_config_init(&cfg);
	if (rc < 0) {
		fprintf(stderr, "basic: rp_config_init: %s\n", strerror(-rc));
		return EXIT_FAILURE;
	}
	cfg.workers = 3;
	rc = rp_executor_new(&cfg, &executor);
	if (rc < 0) {
		fprintf(stderr, "basic: rp_executor_new: %s\n", strerror(-rc));
		return EXIT_FAILURE;
	}

	/* future1 = executor.submit(task, "A"), and so on for "B" and "C" */
	for (i = 0; i < N_TASKS; i++) {
		rc = rp_submit(executor, task, (void *)names[i], &futures[i]);
		if (rc < 0) {
			fprintf(stderr, "basic: rp_submit: %s\n",
				strerror(-rc));
			goto out;
		}
	}

	/* print(future1.result()), print(future2.result()), ... */
	for (taken = 0; taken < N_TASKS; taken++) {
		if (print_result(futures[taken]) < 0) {
			taken++;	/* that one has no string to free */
			goto out;
		}
	}
	status = EXIT_SUCCESS;

out:
	/*
	 * The end of the `with` block: executor.shutdown(wait=True).
	 * rp_executor_free() waits for the tasks still running, stops the
	 * threads and frees the executor.
	 */
	rc = rp_executor_free(executor);
	if (rc < 0) {
		fprintf(stderr, "basic: rp_executor_free: %s\n", strerror(-rc));
		status = EXIT_FAILURE;
	}
	/* Python's garbage collector frees futures; in C we drop our refs. */
	for (i = 0; i < N_TASKS; i++) {
		if (i >= taken)
			drop_result(futures[i]);
		rp_future_unref(futures[i]);
	}
	return status;
}
