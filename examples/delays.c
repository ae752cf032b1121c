/* SPDX-License-Identifier: MIT */
/*
 * delays.c - Example 2 of the thread-pool tutorial: several tasks that take
 * different times.
 *
 * The Python original (delays in seconds; here they are milliseconds so the
 * example runs fast):
 *
 *	def task(name, delay):
 *	    print(f"Task {name} started")
 *	    time.sleep(delay)  # Simulate a task taking time
 *	    return f"Task {name} completed in {delay} seconds"
 *
 *	with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
 *	    future1 = executor.submit(task, "A", 2)
 *	    future2 = executor.submit(task, "B", 1)
 *	    future3 = executor.submit(task, "C", 3)
 *	    print(future1.result())  # Output after 2 seconds
 *	    print(future2.result())  # Output after 1 second
 *	    print(future3.result())  # Output after 3 seconds
 *
 * Output:
 *
 *	Task A completed in 30 ms
 *	Task B completed in 10 ms
 *	Task C completed in 50 ms
 *
 * The tasks run at the same time, so B finishes first and the whole program
 * takes about 50 ms, not 30 + 10 + 50.  The results still come out in
 * submission order because we ask for them in that order: future1's result()
 * waits for A, and by then B's result is already there.  (See as_completed.c
 * for taking results in the order the tasks finish.)
 *
 * The "Task X started" lines of the original are left out: the three tasks
 * start at the same time on different threads, so those lines could come out
 * in any order.
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

/* The arguments of one call task(name, delay). */
struct job {
	const char *name;
	long delay_ms;
};

/* time.sleep(), for milliseconds. */
static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	/* thrd_sleep() leaves the time still to sleep in ts if interrupted. */
	while (thrd_sleep(&ts, &ts) == -1)
		;
}

/*
 * def task(name, delay): ... return f"Task {name} completed in {delay} seconds"
 *
 * A ringpool task takes a single pointer, so the two Python arguments travel
 * in a struct job.  The result string is allocated here and handed back
 * through *value; the thread that takes the result frees it.
 */
static int task(void *arg, int64_t *value)
{
	const struct job *job = arg;
	char *result;
	int len;

	sleep_ms(job->delay_ms);	/* time.sleep(delay) */

	len = snprintf(NULL, 0, "Task %s completed in %ld ms",
		       job->name, job->delay_ms);
	result = malloc((size_t)len + 1);
	if (!result)
		return -ENOMEM;
	snprintf(result, (size_t)len + 1, "Task %s completed in %ld ms",
		 job->name, job->delay_ms);

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

	rc = rp_future_result(future, RP_FOREVER, &value, &error);
	if (rc < 0) {
		fprintf(stderr, "delays: rp_future_result: %s\n",
			strerror(-rc));
		return -1;
	}
	if (error < 0) {
		fprintf(stderr, "delays: task failed: %s\n", strerror(-error));
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
	/* The arguments must stay valid until the tasks have run. */
	static const struct job jobs[N_TASKS] = {
		{ "A", 30 },	/* executor.submit(task, "A", 2) */
		{ "B", 10 },	/* executor.submit(task, "B", 1) */
		{ "C", 50 },	/* executor.submit(task, "C", 3) */
	};
	rp_future *futures[N_TASKS] = { NULL };
	struct rp_config cfg;
	rp_executor *executor;
	int status = EXIT_FAILURE;
	int rc;
	size_t i, taken = 0;

	/* ThreadPoolExecutor(max_workers=4) */
	rc = rp_config_init(&cfg);
	if (rc < 0) {
		fprintf(stderr, "delays: rp_config_init: %s\n", strerror(-rc));
		return EXIT_FAILURE;
	}
	cfg.workers = 4;
	rc = rp_executor_new(&cfg, &executor);
	if (rc < 0) {
		fprintf(stderr, "delays: rp_executor_new: %s\n",
			strerror(-rc));
		return EXIT_FAILURE;
	}

	/* future1 = executor.submit(task, "A", 2), ... */
	for (i = 0; i < N_TASKS; i++) {
		rc = rp_submit(executor, task, (void *)&jobs[i], &futures[i]);
		if (rc < 0) {
			fprintf(stderr, "delays: rp_submit: %s\n",
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
	/* End of the `with` block: wait for the tasks, stop the threads. */
	rc = rp_executor_free(executor);
	if (rc < 0) {
		fprintf(stderr, "delays: rp_executor_free: %s\n",
			strerror(-rc));
		status = EXIT_FAILURE;
	}
	for (i = 0; i < N_TASKS; i++) {
		if (i >= taken)
			drop_result(futures[i]);
		rp_future_unref(futures[i]);
	}
	return status;
}
