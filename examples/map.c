/* SPDX-License-Identifier: MIT */
/*
 * map.c - Example 3 of the thread-pool tutorial: executor.map().
 *
 * The Python original:
 *
 *	def task(duration):
 *	    print(f"Task with duration {duration} started")
 *	    return f"Task with duration {duration} completed"
 *
 *	durations = [1, 2, 3, 4]
 *
 *	with concurrent.futures.ThreadPoolExecutor(max_workers=3) as executor:
 *	    results = executor.map(task, durations)
 *	    for result in results:
 *	        print(result)
 *
 * Output (in input order, whichever task finishes first):
 *
 *	Task with duration 1 completed
 *	Task with duration 2 completed
 *	Task with duration 3 completed
 *	Task with duration 4 completed
 *
 * The "Task with duration N started" lines of the original are left out: the
 * tasks run on three threads at once, so those lines could come out in any
 * order.
 *
 * Python's map() takes any iterable; rp_map_new() takes a C array: its address,
 * the size of one element and the number of elements.  Task i gets a pointer
 * to element i.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringpool.h>

/*
 * def task(duration): return f"Task with duration {duration} completed"
 *
 * `arg` points at one element of the durations array.  The result string is
 * allocated here and handed back through *value; the loop in main() that takes
 * the result frees it.
 */
static int task(void *arg, int64_t *value)
{
	const int *duration = arg;
	char *result;
	int len;

	len = snprintf(NULL, 0, "Task with duration %d completed", *duration);
	result = malloc((size_t)len + 1);
	if (!result)
		return -ENOMEM;
	snprintf(result, (size_t)len + 1, "Task with duration %d completed",
		 *duration);

	*value = (int64_t)(intptr_t)result;
	return 0;
}

int main(void)
{
	/* durations = [1, 2, 3, 4]; must stay valid until rp_map_free(). */
	static const int durations[] = { 1, 2, 3, 4 };
	const size_t n = sizeof(durations) / sizeof(durations[0]);
	struct rp_map_opts opts = { 0 };	/* defaults: chunksize=1 */
	struct rp_config cfg;
	rp_executor *executor;
	rp_map *results = NULL;
	int status = EXIT_FAILURE;
	int64_t value;
	int error;
	int rc;

	/* ThreadPoolExecutor(max_workers=3) */
	rc = rp_config_init(&cfg);
	if (rc < 0) {
		fprintf(stderr, "map: rp_config_init: %s\n", strerror(-rc));
		return EXIT_FAILURE;
	}
	cfg.workers = 3;
	rc = rp_executor_new(&cfg, &executor);
	if (rc < 0) {
		fprintf(stderr, "map: rp_executor_new: %s\n", strerror(-rc));
		return EXIT_FAILURE;
	}

	/* results = executor.map(task, durations) */
	rc = rp_map_new(executor, task, durations, sizeof(durations[0]), n,
			&opts, &results);
	if (rc < 0) {
		fprintf(stderr, "map: rp_map_new: %s\n", strerror(-rc));
		goto out;
	}

	/*
	 * for result in results: print(result)
	 *
	 * rp_map_next() waits for the result of the next input, in input
	 * order, and returns -ENODATA (Python: StopIteration) after the last.
	 */
	while ((rc = rp_map_next(results, RP_FOREVER, &value, &error)) == 0) {
		char *result;

		if (error < 0) {
			/* task() failed for this input (Python: it raised) */
			fprintf(stderr, "map: task failed: %s\n",
				strerror(-error));
			goto out;
		}
		result = (char *)(intptr_t)value;
		printf("%s\n", result);
		free(result);
	}
	if (rc != -ENODATA) {
		fprintf(stderr, "map: rp_map_next: %s\n", strerror(-rc));
		goto out;
	}
	status = EXIT_SUCCESS;

out:
	/*
	 * After a failure, the results not taken yet still own their
	 * strings, and rp_map_free() would drop them unfreed (Python's
	 * garbage collector frees them): take and free what is left first.
	 * This runs the tasks still to come, as leaving the with-block would.
	 */
	while (status != EXIT_SUCCESS && results &&
	       rp_map_next(results, RP_FOREVER, &value, &error) == 0)
		if (error == 0)
			free((char *)(intptr_t)value);
	rp_map_free(results);
	/* End of the `with` block: executor.shutdown(wait=True). */
	rc = rp_executor_free(executor);
	if (rc < 0) {
		fprintf(stderr, "map: rp_executor_free: %s\n", strerror(-rc));
		status = EXIT_FAILURE;
	}
	return status;
}
