/* SPDX-License-Identifier: MIT */
/*
 * The harness of the blocking backend's tests (blk.h): one SQE run on the
 * calling thread or a thread of its own, with the cancel eventfd and flags
 * word a blocking-I/O worker has.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "blk.h"
#include "internal.h"
#include "testutil.h"

int bk_efd = -1;
_Atomic uint32_t bk_flags;

int64_t bk_exec_until(const struct io_uring_sqe *sqe, int64_t deadline)
{
	return rp__io_blocking_execute(sqe, bk_efd, deadline, &bk_flags);
}

int64_t bk_exec(const struct io_uring_sqe *sqe)
{
	return bk_exec_until(sqe, INT64_MAX);
}

void bk_sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Nothing is left in the eventfd: waits drained what woke them. */
bool bk_eventfd_empty(void)
{
	struct pollfd p = { .fd = bk_efd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

/*
 * Whether the eventfd is drained within a second: the thread that drains
 * it may not have run yet on a loaded machine.
 */
bool bk_eventfd_drained(void)
{
	int i;

	for (i = 0; i < 1000 && !bk_eventfd_empty(); i++)
		bk_sleep_ns(MS);
	return bk_eventfd_empty();
}

void bk_eventfd_kick(void)
{
	uint64_t one = 1;

	CU_ASSERT_EQUAL(write(bk_efd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

void bk_tmpdir_open(struct tmpdir *d)
{
	strcpy(d->path, "/tmp/rp-io-blocking-XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(d->path) != NULL);
	d->fd = open(d->path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(d->fd >= 0);
}

/* Removes the directory and any of the names the tests use in it. */
void bk_tmpdir_close(struct tmpdir *d)
{
	static const char *const files[] = { "f", "g", "h" };
	static const char *const dirs[] = { "sub", "sub2" };
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlinkat(d->fd, files[i], 0);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		unlinkat(d->fd, dirs[i], AT_REMOVEDIR);
	close(d->fd);
	CU_ASSERT_EQUAL(rmdir(d->path), 0);
}

static void *bg_main(void *arg)
{
	struct bg *b = arg;

	atomic_store(&b->tid, (int)syscall(SYS_gettid));
	b->res = bk_exec_until(&b->sqe, b->deadline);
	tu_latch_post(&b->done);
	return NULL;
}

void bk_bg_start(struct bg *b, int64_t deadline)
{
	b->deadline = deadline;
	b->res = INT64_MIN;
	atomic_store(&b->tid, 0);
	tu_latch_init(&b->done);
	CU_ASSERT_FATAL(pthread_create(&b->thread, NULL, bg_main, b) == 0);
}

bool bk_bg_finished(struct bg *b)
{
	return tu_latch_count(&b->done) > 0;
}

/* The number of the system call thread `tid` is in, or -1. */
static long syscall_of(int tid)
{
	char path[64], line[128];
	long nr = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f))
		nr = strtol(line, NULL, 10);	/* "running" gives 0 */
	fclose(f);
	return nr;
}

bool bk_bg_waiting(struct bg *b)
{
	int64_t give_up = tu_now_ns() + tu_stuck_timeout_ns();
	int tid;

	while (tu_now_ns() < give_up) {
		if (bk_bg_finished(b))
			return false;
		tid = atomic_load(&b->tid);
		if (tid && syscall_of(tid) == SYS_ppoll)
			return true;
		bk_sleep_ns(MS);
	}
	return false;
}

int64_t bk_bg_join(struct bg *b)
{
	CU_ASSERT(tu_latch_wait_for(&b->done, 1, tu_stuck_timeout_ns()));
	pthread_join(b->thread, NULL);
	tu_latch_destroy(&b->done);
	return b->res;
}

int bk_main(int argc, char **argv, const char *name,
	    const struct tu_test *tests, size_t n)
{
	int ret;

	/* A write to a closed pipe must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	bk_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (bk_efd < 0) {
		perror("eventfd");
		return 1;
	}
	ret = tu_run_tests(argc, argv, name, tests, n);
	close(bk_efd);
	return ret;
}
