/* SPDX-License-Identifier: MIT */
/*
 * cpu_bound.c - Example 6 of the thread-pool tutorial: CPU-bound tasks with
 * executor.map().
 *
 * The Python original:
 *
 *	def cpu_bound_task(n):
 *	    result = 0
 *	    for i in range(1, n+1):
 *	        result += i**2
 *	    return f"Sum of squares up to {n} is {result}"
 *
 *	with concurrent.futures.ThreadPoolExecutor(max_workers=3) as executor:
 *	    numbers = [100000, 200000, 300000]
 *	    results = executor.map(cpu_bound_task, numbers)
 *	    for result in results:
 *	        print(result)
 *
 * Output:
 *
 *	Sum of squares up to 100000 is 333338333350000
 *	Sum of squares up to 200000 is 2666686666700000
 *	Sum of squares up to 300000 is 9000045000050000
 *
 * The tutorial warns that Python threads do not speed up CPU-bound work
 * because of the Global Interpreter Lock.  C has no such lock: ringpool's
 * workers are plain threads, so the three sums really are computed in
 * parallel on a machine with three or more cores.
 *
 * Unlike the other examples, the task returns a number instead of a string:
 * a task's value is an int64_t, which holds the largest sum here (about
 * 9.0e15) with room to spare, and main() formats the message.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringpool.h>

/*
 * def cpu_bound_task(n): result = sum of i**2 for i in 1..n
 *
 * `arg` points at one element of the numbers array; the sum is the task's
 * value.
 */
static int cpu_bound_task(void *arg, int64_t *value)
{
	const int64_t n = *(const int64_t *)arg;
	int64_t result = 0;
	int64_t i;

	for (i = 1; i <= n; i++)	/* for i in range(1, n+1): */
		result += i * i;	/*     result += i**2 */

	*value = result;
	return 0;
}

int main(void)
{
	/* numbers = [100000, 200000, 300000]; valid until rp_map_free() */
	static const int64_t numbers[] = { 100000, 200000, 300000 };
	const size_t n = sizeof(numbers) / sizeof(numbers[0]);
	struct rp_map_opts opts = { 0 };	/* defaults: chunksize=1 */
	struct rp_config cfg;
	rp_executor *executor;
	rp_map *results = NULL;
	int status = EXIT_FAILURE;
	int64_t sum;
	size_t i;
	int error;
	int rc;

	/* ThreadPoolExecutor(max_workers=3) */
	rc = rp_config_init(&cfg);
	if (rc < 0) {
		fprintf(stderr, "cpu_bound: rp_config_init: %s\n",
			strerror(-rc));
		return EXIT_FAILURE;
	}
	cfg.workers = 3;
	rc = rp_executor_new(&cfg, &executor);
	if (rc < 0) {
		fprintf(stderr, "cpu_bound: rp_executor_new: %s\n",
			strerror(-rc));
		return EXIT_FAILURE;
	}

	/* results = executor.map(cpu_bound_task, numbers) */
	rc = rp_map_new(executor, cpu_bound_task, numbers, sizeof(numbers[0]),
			n, &opts, &results);
	if (rc < 0) {
		fprintf(stderr, "cpu_bound: rp_map_new: %s\n", strerror(-rc));
		goto out;
	}

	/*
	 * for result in results: print(result)
	 *
	 * Results come in input order, so result number i belongs to
	 * numbers[i].  -ENODATA (Python: StopIteration) ends the loop.
	 */
	for (i = 0; (rc = rp_map_next(results, RP_FOREVER, &sum, &error)) == 0;
	     i++) {
		if (i >= n) {
			fprintf(stderr,
				"cpu_bound: more results than inputs\n");
			goto out;
		}
		if (error < 0) {
			fprintf(stderr, "cpu_bound: task failed: %s\n",
				strerror(-error));
			goto out;
		}
		printf("Sum of squares up to %" PRId64 " is %" PRId64 "\n",
		       numbers[i], sum);
	}
	if (rc != -ENODATA) {
		fprintf(stderr, "cpu_bound: rp_map_next: %s\n", strerror(-rc));
		goto out;
	}
	if (i != n) {
		fprintf(stderr, "cpu_bound: got %zu results for %zu inputs\n",
			i, n);
		goto out;
	}
	status = EXIT_SUCCESS;

out:
	rp_map_free(results);
	/* End of the `with` block: executor.shutdown(wait=True). */
	rc = rp_executor_free(executor);
	if (rc < 0) {
		fprintf(stderr, "cpu_bound: rp_executor_free: %s\n",
			strerror(-rc));
		status = EXIT_FAILURE;
	}
	return status;
}
