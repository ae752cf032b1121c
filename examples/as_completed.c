/* SPDX-License-Identifier: MIT */
/*
 * as_completed.c - Example 4 of the thread-pool tutorial: handling results in
 * the order the tasks finish, with as_completed().
 *
 * The Python original (delays in seconds; here they are milliseconds so the
 * example runs fast):
 *
 *	def task(name, delay):
 *	    print(f"Task {name} started")
 *	    return f"Task {name} completed in {delay} seconds"
 *
 *	with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
 *	    futures = [
 *	        executor.submit(task, "A", 2),
 *	        executor.submit(task, "B", 1),
 *	        executor.submit(task, "C", 3),
 *	    ]
 *	    for future in concurrent.futures.as_completed(futures):
 *	        print(future.result())
 *
 * Output (in completion order, not submission order):
 *
 *	Task B completed in 10 ms
 *	Task A completed in 100 ms
 *	Task C completed in 200 ms
 *
 * The tutorial's task does not sleep for its delay, so its tasks finish in
 * whatever order they happen to; here each one sleeps (time.sleep(delay)),
 * which is what shows as_completed() at work.  The delays are 90 ms and
 * more apart, so the three tasks, which all start at once on four threads,
 * finish in this order unless a thread is held up for longer than that (a
 * machine loaded enough, or valgrind, can do it: the example's test accepts
 * the lines in any order).  The "Task X started" lines of the original are
 * left out because they could come out in any order.
 */
#include <errno.h>
#include <stdbool.h>
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
 * The two Python arguments travel in a struct job.  The result string is
 * allocated here and handed back through *value; the thread that takes the
 * result frees it.
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
		fprintf(stderr, "as_completed: rp_future_result: %s\n",
			strerror(-rc));
		return -1;
	}
	if (error < 0) {
		fprintf(stderr, "as_completed: task failed: %s\n",
			strerror(-error));
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
		{ "A", 100 },	/* executor.submit(task, "A", 2) */
		{ "B", 10 },	/* executor.submit(task, "B", 1) */
		{ "C", 200 },	/* executor.submit(task, "C", 3) */
	};
	rp_future *futures[N_TASKS] = { NULL };
	bool taken[N_TASKS] = { false };
	rp_as_completed *completed = NULL;
	rp_future *future;
	struct rp_config cfg;
	rp_executor *executor;
	int status = EXIT_FAILURE;
	int rc;
	size_t i;

	/* ThreadPoolExecutor(max_workers=4) */
	rc = rp_config_init(&cfg);
	if (rc < 0) {
		fprintf(stderr, "as_completed: rp_config_init: %s\n",
			strerror(-rc));
		return EXIT_FAILURE;
	}
	cfg.workers = 4;
	rc = rp_executor_new(&cfg, &executor);
	if (rc < 0) {
		fprintf(stderr, "as_completed: rp_executor_new: %s\n",
			strerror(-rc));
		return EXIT_FAILURE;
	}

	/* futures = [executor.submit(task, "A", 2), ...] */
	for (i = 0; i < N_TASKS; i++) {
		rc = rp_submit(executor, task, (void *)&jobs[i], &futures[i]);
		if (rc < 0) {
			fprintf(stderr, "as_completed: rp_submit: %s\n",
				strerror(-rc));
			goto out;
		}
	}

	/* concurrent.futures.as_completed(futures) */
	rc = rp_as_completed_new(futures, N_TASKS, &completed);
	if (rc < 0) {
		fprintf(stderr, "as_completed: rp_as_completed_new: %s\n",
			strerror(-rc));
		goto out;
	}

	/*
	 * for future in as_completed(futures): print(future.result())
	 *
	 * rp_as_completed_next() waits for the next future to finish and
	 * returns -ENODATA (Python: StopIteration) once all have been given.
	 * The future it gives is borrowed from the iterator: no unref here.
	 */
	while ((rc = rp_as_completed_next(completed, RP_FOREVER,
					  &future)) == 0) {
		for (i = 0; futures[i] != future; i++)
			;
		taken[i] = true;
		/* The future has ended: result() no longer waits. */
		if (print_result(future) < 0)
			goto out;
	}
	if (rc != -ENODATA) {
		fprintf(stderr, "as_completed: rp_as_completed_next: %s\n",
			strerror(-rc));
		goto out;
	}
	status = EXIT_SUCCESS;

out:
	rp_as_completed_free(completed);
	/* End of the `with` block: executor.shutdown(wait=True). */
	rc = rp_executor_free(executor);
	if (rc < 0) {
		fprintf(stderr, "as_completed: rp_executor_free: %s\n",
			strerror(-rc));
		status = EXIT_FAILURE;
	}
	for (i = 0; i < N_TASKS; i++) {
		if (!taken[i])
			drop_result(futures[i]);
		rp_future_unref(futures[i]);
	}
	return status;
}
