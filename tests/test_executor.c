/* SPDX-License-Identifier: MIT */
/*
 * Executor life cycle: configuration, creation, worker count, freeing, submit
 * errors, worker initializers, worker thread names and the version string.
 * test_shutdown.c has rp_executor_shutdown().
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <CUnit/CUnit.h>

#include "ringpool.h"
#include "testutil.h"

static void test_config_init_fills_documented_defaults(void)
{
	struct rp_config cfg;

	memset(&cfg, 0xa5, sizeof(cfg));
	CU_ASSERT_EQUAL(rp_config_init(&cfg), 0);
	CU_ASSERT_EQUAL(cfg.workers, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg.thread_name_prefix);
	CU_ASSERT_STRING_EQUAL(cfg.thread_name_prefix, "rp-worker");
	CU_ASSERT_PTR_NULL(cfg.initializer);
	CU_ASSERT_PTR_NULL(cfg.initializer_arg);
	CU_ASSERT_EQUAL(cfg.spin_ns, 50000);
}

static void test_config_init_null_returns_einval(void)
{
	CU_ASSERT_EQUAL(rp_config_init(NULL), -EINVAL);
}

static void test_executor_new_null_out_returns_einval(void)
{
	struct rp_config cfg;

	CU_ASSERT_EQUAL(rp_executor_new(NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.workers = 1;
	CU_ASSERT_EQUAL(rp_executor_new(&cfg, NULL), -EINVAL);
}

static void test_executor_new_over_1024_workers_returns_einval(void)
{
	rp_executor *ex = NULL;
	struct rp_config cfg;

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.workers = 1025;
	CU_ASSERT_EQUAL(rp_executor_new(&cfg, &ex), -EINVAL);
	cfg.workers = 100000;
	CU_ASSERT_EQUAL(rp_executor_new(&cfg, &ex), -EINVAL);
}

/*
 * The settings the header bounds are refused out of range, and 0 means the
 * default where it says so (the header used to name only the worker
 * count; rings, ring_entries and io_threads of 0 were silently defaulted).
 */
static void test_executor_new_checks_each_setting(void)
{
	static const struct {
		size_t off;
		unsigned bad;
	} cases[] = {
		{ offsetof(struct rp_config, rings), 65 },
		{ offsetof(struct rp_config, ring_entries), 3 },
		{ offsetof(struct rp_config, ring_entries), 65536 },
		{ offsetof(struct rp_config, io_threads), 1025 },
		{ offsetof(struct rp_config, sqpoll_idle_ms), 60001 },
	};
	rp_executor *ex = NULL;
	struct rp_config cfg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
		memcpy((char *)&cfg + cases[i].off, &cases[i].bad,
		       sizeof(unsigned));
		CU_ASSERT_EQUAL(rp_executor_new(&cfg, &ex), -EINVAL);
	}
	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.backend = 3;
	CU_ASSERT_EQUAL(rp_executor_new(&cfg, &ex), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.ring_mode = 3;
	CU_ASSERT_EQUAL(rp_executor_new(&cfg, &ex), -EINVAL);

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.workers = 1;
	cfg.rings = 0;
	cfg.ring_entries = 0;
	cfg.io_threads = 0;
	CU_ASSERT_EQUAL_FATAL(rp_executor_new(&cfg, &ex), 0);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_executor_new_accepts_1024_workers(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	int64_t value = 0;
	int error = 1;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1024, &ex), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	CU_ASSERT_EQUAL(rp_executor_workers(ex), 1024);
	CU_ASSERT_EQUAL(rp_submit(ex, tu_value_task, (void *)(intptr_t)5, &f),
			0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, &error), 0);
	CU_ASSERT_EQUAL(value, 5);
	CU_ASSERT_EQUAL(error, 0);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_executor_new_null_config_uses_one_worker_per_online_cpu(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	rp_executor *ex = NULL;

	CU_ASSERT_FATAL(cpus > 0);
	CU_ASSERT_EQUAL_FATAL(rp_executor_new(NULL, &ex), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	CU_ASSERT_EQUAL(rp_executor_workers(ex), (int)cpus);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_executor_new_zero_workers_uses_one_per_online_cpu(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	rp_executor *ex = NULL;

	CU_ASSERT_FATAL(cpus > 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(0, &ex), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	CU_ASSERT_EQUAL(rp_executor_workers(ex), (int)cpus);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_executor_workers_reports_configured_count(void)
{
	rp_executor *ex = NULL;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(3, &ex), 0);
	CU_ASSERT_EQUAL(rp_executor_workers(ex), 3);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL(rp_executor_workers(ex), 1);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_executor_workers_null_returns_einval(void)
{
	CU_ASSERT_EQUAL(rp_executor_workers(NULL), -EINVAL);
}

static void test_executor_free_null_returns_zero(void)
{
	CU_ASSERT_EQUAL(rp_executor_free(NULL), 0);
}

static void test_executor_free_waits_for_queued_tasks(void)
{
	atomic_uint ran = 0;
	rp_executor *ex = NULL;
	unsigned i;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	for (i = 0; i < 50; i++) {
		rp_future *f = NULL;

		CU_ASSERT_EQUAL(rp_submit(ex, tu_count_task, &ran, &f), 0);
		rp_future_unref(f);
	}
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&ran), 50);
}

static void test_submit_null_arguments_return_einval_and_run_nothing(void)
{
	atomic_uint ran = 0;
	rp_executor *ex = NULL;
	rp_future *f = NULL;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL(rp_submit(NULL, tu_count_task, &ran, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_submit(ex, NULL, &ran, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_submit(ex, tu_count_task, &ran, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT), 0);
	CU_ASSERT_EQUAL(atomic_load(&ran), 0);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_submit_null_arg_pointer_is_allowed(void)
{
	rp_executor *ex = NULL;
	rp_future *f = NULL;
	int64_t value = -1;
	int error = -1;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, NULL, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, &error), 0);
	CU_ASSERT_EQUAL(value, 0);
	CU_ASSERT_EQUAL(error, 0);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_submit_after_shutdown_returns_eshutdown(void)
{
	atomic_uint ran = 0;
	rp_executor *ex = NULL;
	rp_future *f = NULL;

	CU_ASSERT_EQUAL_FATAL(tu_executor_new(2, &ex), 0);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, 0), 0);
	CU_ASSERT_EQUAL(rp_submit(ex, tu_count_task, &ran, &f), -ESHUTDOWN);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT), 0);
	CU_ASSERT_EQUAL(atomic_load(&ran), 0);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

struct init_ctx {
	atomic_uint calls;
	/* The call (1-based) that fails, or 0 for none. */
	unsigned fail_call;
	int fail_ret;
	pthread_t main_thread;
	atomic_uint on_main_thread;
	_Atomic(void *) seen_arg;	/* written by every worker */
};

static _Thread_local bool worker_initialized;

static int counting_initializer(void *arg)
{
	struct init_ctx *ic = arg;
	unsigned call = atomic_fetch_add(&ic->calls, 1) + 1;

	atomic_store(&ic->seen_arg, arg);
	if (pthread_equal(pthread_self(), ic->main_thread))
		atomic_fetch_add(&ic->on_main_thread, 1);
	worker_initialized = true;
	if (call == ic->fail_call)
		return ic->fail_ret;
	return 0;
}

static int initialized_task(void *arg, int64_t *value)
{
	(void)arg;
	*value = worker_initialized;
	return 0;
}

static void init_ctx_setup(struct init_ctx *ic, unsigned fail_call,
			   int fail_ret)
{
	atomic_init(&ic->calls, 0);
	ic->fail_call = fail_call;
	ic->fail_ret = fail_ret;
	ic->main_thread = pthread_self();
	atomic_init(&ic->on_main_thread, 0);
	atomic_store(&ic->seen_arg, NULL);
}

static void test_initializer_runs_once_per_worker_before_any_task(void)
{
	struct rp_config cfg;
	struct init_ctx ic;
	rp_executor *ex = NULL;
	rp_future *fs[16];
	unsigned i;

	init_ctx_setup(&ic, 0, 0);
	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.workers = 3;
	cfg.initializer = counting_initializer;
	cfg.initializer_arg = &ic;
	CU_ASSERT_EQUAL_FATAL(rp_executor_new(&cfg, &ex), 0);

	/* rp_executor_new() returns after every initializer has run. */
	CU_ASSERT_EQUAL(atomic_load(&ic.calls), 3);
	CU_ASSERT_EQUAL(atomic_load(&ic.on_main_thread), 0);
	CU_ASSERT_PTR_EQUAL(atomic_load(&ic.seen_arg), &ic);

	for (i = 0; i < 16; i++)
		CU_ASSERT_EQUAL_FATAL(rp_submit(ex, initialized_task, NULL,
						&fs[i]), 0);
	for (i = 0; i < 16; i++) {
		int64_t value = 0;

		CU_ASSERT_EQUAL(rp_future_result(fs[i], RP_FOREVER, &value,
						 NULL), 0);
		CU_ASSERT_EQUAL(value, 1);
		rp_future_unref(fs[i]);
	}
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&ic.calls), 3);
}

static void test_failing_initializer_makes_submit_return_enotrecoverable(void)
{
	struct rp_config cfg;
	struct init_ctx ic;
	atomic_uint ran = 0;
	rp_executor *ex = NULL;
	rp_future *f = NULL;

	/* The second of three workers fails. */
	init_ctx_setup(&ic, 2, -EIO);
	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.workers = 3;
	cfg.initializer = counting_initializer;
	cfg.initializer_arg = &ic;
	CU_ASSERT_EQUAL_FATAL(rp_executor_new(&cfg, &ex), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	CU_ASSERT_EQUAL(atomic_load(&ic.calls), 3);

	CU_ASSERT_EQUAL(rp_submit(ex, tu_count_task, &ran, &f),
			-ENOTRECOVERABLE);
	CU_ASSERT_EQUAL(rp_submit(ex, tu_count_task, &ran, &f),
			-ENOTRECOVERABLE);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT), 0);
	CU_ASSERT_EQUAL(atomic_load(&ran), 0);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

static void test_failing_initializer_on_single_worker_breaks_executor(void)
{
	struct rp_config cfg;
	struct init_ctx ic;
	atomic_uint ran = 0;
	rp_executor *ex = NULL;
	rp_future *f = NULL;

	init_ctx_setup(&ic, 1, -EPERM);
	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.workers = 1;
	cfg.initializer = counting_initializer;
	cfg.initializer_arg = &ic;
	CU_ASSERT_EQUAL_FATAL(rp_executor_new(&cfg, &ex), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	CU_ASSERT_EQUAL(rp_executor_workers(ex), 1);
	CU_ASSERT_EQUAL(rp_submit(ex, tu_count_task, &ran, &f),
			-ENOTRECOVERABLE);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&ran), 0);
}

/*
 * Thread names.  A task reads its worker's name with pthread_getname_np();
 * `n` such tasks hold each other at a barrier so that with `n` workers each
 * runs on a different worker.
 */
struct name_ctx {
	struct tu_latch arrived;
	unsigned n;
	char names[8][16];
	atomic_uint next;
	atomic_int getname_errors;
	atomic_int barrier_timeouts;
};

static int name_task(void *arg, int64_t *value)
{
	struct name_ctx *nc = arg;
	unsigned slot = atomic_fetch_add(&nc->next, 1);
	char buf[16];

	(void)value;
	memset(buf, 0, sizeof(buf));
	if (pthread_getname_np(pthread_self(), buf, sizeof(buf)))
		atomic_fetch_add(&nc->getname_errors, 1);
	if (slot < 8)
		memcpy(nc->names[slot], buf, sizeof(buf));
	tu_latch_post(&nc->arrived);
	/*
	 * With n workers all n tasks must be running at once.  Should they
	 * not be, give up (once) rather than hang the executor.
	 */
	if (atomic_load(&nc->barrier_timeouts) == 0 &&
	    !tu_latch_wait_for(&nc->arrived, nc->n, tu_stuck_timeout_ns()))
		atomic_fetch_add(&nc->barrier_timeouts, 1);
	return 0;
}

/* Runs `n` name tasks on an executor of `n` workers named after `prefix`. */
static void collect_worker_names(struct name_ctx *nc, unsigned n,
				 const char *prefix)
{
	struct rp_config cfg;
	rp_executor *ex = NULL;
	rp_future *fs[8];
	unsigned i;

	memset(nc, 0, sizeof(*nc));
	tu_latch_init(&nc->arrived);
	nc->n = n;
	atomic_init(&nc->next, 0);
	atomic_init(&nc->getname_errors, 0);
	atomic_init(&nc->barrier_timeouts, 0);

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.workers = n;
	if (prefix)
		cfg.thread_name_prefix = prefix;
	CU_ASSERT_EQUAL_FATAL(rp_executor_new(&cfg, &ex), 0);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(rp_submit(ex, name_task, nc, &fs[i]), 0);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(rp_future_result(fs[i], RP_FOREVER, NULL, NULL),
				0);
		rp_future_unref(fs[i]);
	}
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&nc->getname_errors), 0);
	CU_ASSERT_EQUAL(atomic_load(&nc->barrier_timeouts), 0);
	tu_latch_destroy(&nc->arrived);
}

static void test_worker_threads_are_named_prefix_and_index(void)
{
	struct name_ctx nc;
	bool seen[3] = { false, false, false };
	unsigned i;

	collect_worker_names(&nc, 3, "tname");
	for (i = 0; i < 3; i++) {
		const char *name = nc.names[i];
		char *end = NULL;
		unsigned long idx;

		CU_ASSERT_EQUAL(strncmp(name, "tname", 5), 0);
		if (strncmp(name, "tname", 5) || !name[5])
			continue;
		idx = strtoul(name + 5, &end, 10);
		CU_ASSERT_EQUAL(*end, '\0');
		CU_ASSERT(idx < 3);
		if (idx < 3) {
			CU_ASSERT_FALSE(seen[idx]);
			seen[idx] = true;
		}
	}
	CU_ASSERT_TRUE(seen[0] && seen[1] && seen[2]);
}

static void test_default_thread_name_is_rp_worker_and_index(void)
{
	struct name_ctx nc;

	collect_worker_names(&nc, 1, NULL);
	CU_ASSERT_STRING_EQUAL(nc.names[0], "rp-worker0");
}

static void test_thread_name_prefix_is_copied(void)
{
	char prefix[16];
	struct name_ctx nc;
	struct rp_config cfg;
	rp_executor *ex = NULL;
	rp_future *f = NULL;

	memset(&nc, 0, sizeof(nc));
	tu_latch_init(&nc.arrived);
	nc.n = 1;
	atomic_init(&nc.next, 0);
	atomic_init(&nc.getname_errors, 0);
	atomic_init(&nc.barrier_timeouts, 0);

	strcpy(prefix, "copied");
	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.workers = 1;
	cfg.thread_name_prefix = prefix;
	CU_ASSERT_EQUAL_FATAL(rp_executor_new(&cfg, &ex), 0);
	/* Scribble over the caller's buffer before the worker is asked. */
	strcpy(prefix, "XXXXXXXXXX");
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, name_task, &nc, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, NULL, NULL), 0);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	CU_ASSERT_EQUAL(atomic_load(&nc.getname_errors), 0);
	CU_ASSERT_STRING_EQUAL(nc.names[0], "copied0");
	tu_latch_destroy(&nc.arrived);
}

static void test_long_thread_name_prefix_is_truncated_to_15_chars(void)
{
	const char *prefix = "averyveryverylongprefix";
	struct name_ctx nc;
	size_t len;

	collect_worker_names(&nc, 2, prefix);
	len = strlen(nc.names[0]);
	CU_ASSERT(len > 0 && len <= 15);
	CU_ASSERT_EQUAL(strncmp(nc.names[0], prefix, 8), 0);
	len = strlen(nc.names[1]);
	CU_ASSERT(len > 0 && len <= 15);
	CU_ASSERT_EQUAL(strncmp(nc.names[1], prefix, 8), 0);
}

static void test_version_string_matches_header(void)
{
	const char *v = rp_version();

	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(v, RINGPOOL_VERSION);
	CU_ASSERT_STRING_EQUAL(v, "0.1.0");
}

/*
 * The child's side of the fork test: each check that fails sets a bit of
 * the exit status.  alarm() ends a child that hangs (the parent sees the
 * signal).
 */
static int fork_child_checks(rp_executor *ex, rp_future *queued)
{
	rp_executor *fresh = NULL;
	rp_future *f = NULL;
	int64_t value = 0;
	int bad = 0;

	alarm(30);
	if (rp_submit(ex, tu_value_task, (void *)(intptr_t)5, &f) !=
	    -ENOTRECOVERABLE)
		bad |= 1;
	if (rp_nop(ex, NULL, &f) != -ENOTRECOVERABLE)
		bad |= 2;
	if (rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT) != -ENOTRECOVERABLE)
		bad |= 4;
	if (rp_executor_free(ex) != -ENOTRECOVERABLE)
		bad |= 8;
	/* Queued in the parent: nothing runs it here, and nothing hangs. */
	if (rp_future_result(queued, 10 * 1000000, NULL, NULL) != -ETIMEDOUT)
		bad |= 16;
#ifndef __SANITIZE_THREAD__
	/*
	 * A new executor works in the child.  (ThreadSanitizer ends a child
	 * of a threaded process that starts a thread.)
	 */
	if (tu_executor_new(1, &fresh) != 0)
		return bad | 32;
	if (rp_submit(fresh, tu_value_task, (void *)(intptr_t)6, &f) != 0 ||
	    rp_future_result(f, tu_stuck_timeout_ns(), &value, NULL) != 0 ||
	    value != 6)
		bad |= 64;
	rp_future_unref(f);
	if (rp_executor_free(fresh) != 0)
		bad |= 128;
#else
	(void)fresh;
	(void)value;
#endif
	return bad;
}

static void test_executor_is_broken_in_a_forked_child(void)
{
	struct tu_blocker b;
	rp_executor *ex = NULL;
	rp_future *running = NULL, *queued = NULL, *f = NULL;
	int64_t value = 0;
	int status = 0;
	pid_t pid;

	tu_blocker_init(&b, 1, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &b, &running), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_value_task, (void *)(intptr_t)4,
					&queued), 0);
	tu_latch_wait(&b.started, 1);
	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0)
		_exit(fork_child_checks(ex, queued));
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);

	/* The parent's executor is untouched by what the child did. */
	tu_latch_post(&b.release);
	CU_ASSERT_EQUAL(rp_future_result(queued, RP_FOREVER, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 4);
	CU_ASSERT_EQUAL(rp_future_result(running, RP_FOREVER, NULL, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, tu_stuck_timeout_ns(), NULL, NULL),
			0);
	rp_future_unref(f);
	rp_future_unref(queued);
	rp_future_unref(running);
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
	tu_blocker_destroy(&b);
}

static const struct tu_test tests[] = {
	{ "config_init_fills_documented_defaults",
	  test_config_init_fills_documented_defaults, false },
	{ "config_init_null_returns_einval",
	  test_config_init_null_returns_einval, false },
	{ "executor_new_checks_each_setting",
	  test_executor_new_checks_each_setting, false },
	{ "executor_new_null_out_returns_einval",
	  test_executor_new_null_out_returns_einval, false },
	{ "executor_new_over_1024_workers_returns_einval",
	  test_executor_new_over_1024_workers_returns_einval, false },
	{ "executor_new_accepts_1024_workers",
	  test_executor_new_accepts_1024_workers, true },
	{ "executor_new_null_config_uses_one_worker_per_online_cpu",
	  test_executor_new_null_config_uses_one_worker_per_online_cpu, false },
	{ "executor_new_zero_workers_uses_one_per_online_cpu",
	  test_executor_new_zero_workers_uses_one_per_online_cpu, false },
	{ "executor_workers_reports_configured_count",
	  test_executor_workers_reports_configured_count, false },
	{ "executor_workers_null_returns_einval",
	  test_executor_workers_null_returns_einval, false },
	{ "executor_free_null_returns_zero",
	  test_executor_free_null_returns_zero, false },
	{ "executor_free_waits_for_queued_tasks",
	  test_executor_free_waits_for_queued_tasks, false },
	{ "submit_null_arguments_return_einval_and_run_nothing",
	  test_submit_null_arguments_return_einval_and_run_nothing, false },
	{ "submit_null_arg_pointer_is_allowed",
	  test_submit_null_arg_pointer_is_allowed, false },
	{ "submit_after_shutdown_returns_eshutdown",
	  test_submit_after_shutdown_returns_eshutdown, false },
	{ "initializer_runs_once_per_worker_before_any_task",
	  test_initializer_runs_once_per_worker_before_any_task, false },
	{ "failing_initializer_makes_submit_return_enotrecoverable",
	  test_failing_initializer_makes_submit_return_enotrecoverable, false },
	{ "failing_initializer_on_single_worker_breaks_executor",
	  test_failing_initializer_on_single_worker_breaks_executor, false },
	{ "worker_threads_are_named_prefix_and_index",
	  test_worker_threads_are_named_prefix_and_index, false },
	{ "default_thread_name_is_rp_worker_and_index",
	  test_default_thread_name_is_rp_worker_and_index, false },
	{ "thread_name_prefix_is_copied",
	  test_thread_name_prefix_is_copied, false },
	{ "long_thread_name_prefix_is_truncated_to_15_chars",
	  test_long_thread_name_prefix_is_truncated_to_15_chars, false },
	{ "version_string_matches_header",
	  test_version_string_matches_header, false },
	{ "executor_is_broken_in_a_forked_child",
	  test_executor_is_broken_in_a_forked_child, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "executor", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
