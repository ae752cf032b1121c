/* SPDX-License-Identifier: MIT */
/*
 * SQPOLL rings (rp_config::sqpoll_idle_ms), on the backend RINGPOOL_BACKEND
 * asks for: on io_uring each ring gets a kernel thread that takes the SQ
 * (seen as an "iou-sqp-*" thread of the process); the fallback ignores the
 * setting and runs the same code.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "iotest.h"

#define FILE_SIZE (1 * MiB)
#define PIECE (64 * KiB)
#define NREADS 256

static rp_executor *sqpoll_executor(unsigned idle_ms, unsigned entries)
{
	struct rp_config cfg;

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.sqpoll_idle_ms = idle_ms;
	if (entries)
		cfg.ring_entries = entries;
	return it_executor_new(&cfg);
}

static bool count_sq_thread(const char *tid, const char *comm, void *arg)
{
	(void)tid;
	if (!strncmp(comm, "iou-sqp-", 8))
		++*(unsigned *)arg;
	return true;
}

/* Threads of this process whose name starts with "iou-sqp-". */
static unsigned sq_threads(void)
{
	unsigned n = 0;

	it_each_thread(count_sq_thread, &n);
	return n;
}

/*
 * sq_threads(), once there is one or the library is stuck.  The kernel
 * makes the SQ thread in io_uring_setup(), but the thread names itself
 * "iou-sqp-" only once it first runs, which on a loaded machine can come
 * after the executor is up (a ThreadSanitizer run in CI saw none).
 */
static unsigned sq_threads_started(void)
{
	int64_t give_up = tu_now_ns() + tu_stuck_timeout_ns();
	unsigned n;

	while ((n = sq_threads()) == 0 && tu_now_ns() < give_up)
		usleep(1000);
	return n;
}

static bool on_uring(rp_executor *ex)
{
	int backend = -1;

	CU_ASSERT_EQUAL_FATAL(rp_executor_backend(ex, &backend, NULL), 0);
	return backend == RP_BACKEND_URING;
}

/*
 * Writes a file in pieces, reads it back with NREADS reads in flight at
 * once, and checks every byte: the submissions all go through the SQ
 * thread.
 */
static void write_then_read_back(rp_executor *ex, int fd)
{
	char *data = malloc(FILE_SIZE), *back = malloc(FILE_SIZE);
	rp_future *f[NREADS];
	size_t off, len = FILE_SIZE / NREADS;
	unsigned i;
	int64_t v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	it_fill(data, FILE_SIZE, 11, 0);
	for (off = 0; off < FILE_SIZE; off += PIECE) {
		v = -1;
		CU_ASSERT_EQUAL(it_write_full(ex, fd, data + off, PIECE,
					      (int64_t)off, &v), 0);
		CU_ASSERT_EQUAL(v, (int64_t)PIECE);
	}
	memset(back, 0, FILE_SIZE);
	for (i = 0; i < NREADS; i++)
		CU_ASSERT_EQUAL_FATAL(rp_read(ex, fd, back + i * len, len,
					      (int64_t)(i * len), NULL, &f[i]),
				      0);
	for (i = 0; i < NREADS; i++) {
		v = -1;
		CU_ASSERT_EQUAL(it_end(f[i], &v), 0);
		CU_ASSERT_EQUAL(v, (int64_t)len);
	}
	CU_ASSERT_TRUE(it_check(back, FILE_SIZE, 11, 0));
	free(data);
	free(back);
}

static void test_sqpoll_rings_read_and_write(void)
{
	rp_executor *ex = sqpoll_executor(20, 0);
	struct it_dir d;
	char path[512];
	int fd;

	/* At least one: the kernel may still be ending the probe's. */
	if (on_uring(ex)) {
		CU_ASSERT(sq_threads_started() >= 1);
	} else {
		CU_ASSERT_EQUAL(sq_threads(), 0);
	}
	it_dir_make(&d, NULL);
	it_path(&d, "data", path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	write_then_read_back(ex, fd);
	close(fd);
	it_dir_remove(&d);
	it_executor_free(ex);
}

/*
 * After more than the idle time without work the SQ thread sleeps, and the
 * next submission must wake it: a NOP after a pause still completes.
 */
static void test_sqpoll_thread_woken_after_idle(void)
{
	rp_executor *ex = sqpoll_executor(5, 0);
	struct timespec pause = { 0, 30 * 1000000 };
	unsigned round;

	for (round = 0; round < 3; round++) {
		rp_future *f;
		int64_t v = -1;

		nanosleep(&pause, NULL);
		CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &f), 0);
		CU_ASSERT_EQUAL(it_end(f, &v), 0);
		CU_ASSERT_EQUAL(v, 0);
	}
	it_executor_free(ex);
}

/*
 * More operations at once than the SQ (8 entries) holds: the ring waits for
 * the SQ thread to take entries instead of losing any.
 */
static void test_sqpoll_small_sq_many_operations(void)
{
	enum { N = 2000 };
	rp_executor *ex = sqpoll_executor(20, 8);
	rp_future **f = calloc(N, sizeof(*f));
	unsigned i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (i = 0; i < N; i++)
		CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &f[i]), 0);
	for (i = 0; i < N; i++)
		CU_ASSERT_EQUAL(it_end(f[i], NULL), 0);
	free(f);
	it_executor_free(ex);
}

/* A read that waits on an empty pipe is cancelled and ends so, once. */
static void test_sqpoll_cancel_in_flight(void)
{
	rp_executor *ex = sqpoll_executor(20, 0);
	char buf[16];
	rp_future *f;
	int p[2], ret;

	CU_ASSERT_EQUAL_FATAL(pipe2(p, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, p[0], buf, sizeof(buf), -1, NULL,
				      &f), 0);
	ret = rp_future_cancel(f);
	CU_ASSERT(ret == 0 || ret == -EINPROGRESS);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ECANCELED);
	close(p[0]);
	close(p[1]);
	it_executor_free(ex);
}

static void test_sqpoll_idle_over_a_minute_refused(void)
{
	struct rp_config cfg;
	rp_executor *ex = NULL;

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	CU_ASSERT_EQUAL(cfg.sqpoll_idle_ms, 0u);
	cfg.sqpoll_idle_ms = 60001;
	CU_ASSERT_EQUAL(rp_executor_new(&cfg, &ex), -EINVAL);
	CU_ASSERT_PTR_NULL(ex);
}

static const struct tu_test tests[] = {
	{ "sqpoll_rings_read_and_write", test_sqpoll_rings_read_and_write,
	  false },
	{ "sqpoll_thread_woken_after_idle",
	  test_sqpoll_thread_woken_after_idle, false },
	{ "sqpoll_small_sq_many_operations",
	  test_sqpoll_small_sq_many_operations, false },
	{ "sqpoll_cancel_in_flight", test_sqpoll_cancel_in_flight, false },
	{ "sqpoll_idle_over_a_minute_refused",
	  test_sqpoll_idle_over_a_minute_refused, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "io-sqpoll", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
