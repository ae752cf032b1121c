/* SPDX-License-Identifier: MIT */
/*
 * fail_first_task.c - an LD_PRELOAD module for check-failure.sh: the first
 * CPU task a program submits (with rp_submit(), or the first input of
 * rp_map_new()) fails with -EIO instead of running, so that the test sees
 * what an example does when a task fails: it must say so and still free
 * what the other tasks returned.
 *
 * Not an example: nothing in it is for copying.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

#include <ringpool.h>

static atomic_flag failed_one = ATOMIC_FLAG_INIT;
static rp_task_fn map_fn;
static const void *map_first;

static int fail(void *arg, int64_t *value)
{
	(void)arg;
	(void)value;
	return -EIO;
}

int rp_submit(rp_executor *ex, rp_task_fn fn, void *arg, rp_future **out)
{
	int (*real)(rp_executor *, rp_task_fn, void *, rp_future **);

	*(void **)&real = dlsym(RTLD_NEXT, "rp_submit");
	if (!real)
		return -ENOSYS;
	if (fn != NULL && !atomic_flag_test_and_set(&failed_one))
		fn = fail;
	return real(ex, fn, arg, out);
}

/* rp_map_new()'s tasks: input 0 fails (a chunk of one input each). */
static int map_task(void *arg, int64_t *value)
{
	if (arg == map_first)
		return -EIO;
	return map_fn(arg, value);
}

int rp_map_new(rp_executor *ex, rp_task_fn fn, const void *inputs,
	       size_t elem_size, size_t n, const struct rp_map_opts *opts,
	       rp_map **out)
{
	int (*real)(rp_executor *, rp_task_fn, const void *, size_t, size_t,
		    const struct rp_map_opts *, rp_map **);

	*(void **)&real = dlsym(RTLD_NEXT, "rp_map_new");
	if (!real)
		return -ENOSYS;
	/* Its own submissions are not the program's. */
	atomic_flag_test_and_set(&failed_one);
	map_fn = fn;
	map_first = inputs;
	return real(ex, fn ? map_task : NULL, inputs, elem_size, n, opts, out);
}
