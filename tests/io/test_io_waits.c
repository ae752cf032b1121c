/* SPDX-License-Identifier: MIT */
/*
 * Operations that wait: a recv deadline, a deadline not reached and a
 * partial *_full operation, poll, shutdown, sleep and nop.
 *
 * Registered three times: RINGPOOL_BACKEND=uring, RINGPOOL_BACKEND=threads
 * and shared rings.  The tests never need more operations blocked at once
 * than the default pool of the fallback has threads: phases that wait for a
 * peer are queued after the operations they wait for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "iotest.h"
#include "ringpool.h"
#include "testutil.h"

/* A recv on an idle socket with a 50 ms deadline ends -ETIMEDOUT. */
static void recv_deadline_on(rp_executor *ex, int a, int b)
{
	struct rp_io_opts opts = { .timeout_ns = 50 * MS };
	rp_future *f = NULL;
	int64_t t0, elapsed, v = -1;
	char buf[16];
	int err;

	memset(buf, 0, sizeof(buf));
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, a, buf, sizeof(buf), 0, &opts, &f),
			      0);
	err = it_result(f, &v);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT_EQUAL(err, -ETIMEDOUT);
	CU_ASSERT_FALSE(rp_future_cancelled(f));
	CU_ASSERT(elapsed >= 50 * MS - MS);
	CU_ASSERT(elapsed < 50 * MS + tu_timeout_slack_ns());
	rp_future_unref(f);
	/* Nothing was lost: the socket still works. */
	CU_ASSERT_EQUAL(write(b, "late", 4), 4);
	CU_ASSERT_EQUAL(it_recv(ex, a, buf, sizeof(buf), 0, &v), 0);
	CU_ASSERT_EQUAL(v, 4);
	CU_ASSERT(memcmp(buf, "late", 4) == 0);
}

static void test_recv_deadline(void)
{
	rp_executor *ex = it_executor_new(NULL);
	int a, b;

	it_unix_pair(&a, &b);
	recv_deadline_on(ex, a, b);
	close(a);
	close(b);
	it_tcp_pair(&a, &b);
	recv_deadline_on(ex, a, b);
	close(a);
	close(b);
	it_executor_free(ex);
}

/*
 * An operation and its deadline's linked timeout take two SQEs, and must go
 * to the kernel in the same submission.  On a ring of 4 entries, a batch of
 * one NOP then receives with deadlines leaves a receive as the SQ's last
 * entry: its timeout must not be sent apart from it (the receive would then
 * wait for ever).  Every receive ends -ETIMEDOUT.
 */
static void test_deadlines_in_a_full_sq(void)
{
	struct rp_config cfg;
	struct rp_io_opts opts = { .timeout_ns = 100 * MS };
	rp_future *nop = NULL, *fs[9];
	rp_executor *ex;
	char buf[9][8];
	int a[9], b[9];
	size_t i, n = sizeof(fs) / sizeof(fs[0]);

	rp_config_init(&cfg);
	cfg.ring_entries = 4;
	ex = it_executor_new(&cfg);
	for (i = 0; i < n; i++)
		it_unix_pair(&a[i], &b[i]);
	CU_ASSERT_EQUAL(rp_io_batch_begin(ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &nop), 0);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(rp_recv(ex, a[i], buf[i], sizeof(buf[i]),
					      0, &opts, &fs[i]), 0);
	CU_ASSERT_EQUAL(rp_io_batch_end(ex), 0);
	CU_ASSERT_EQUAL(it_end(nop, NULL), 0);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(it_end(fs[i], NULL), -ETIMEDOUT);
		close(a[i]);
		close(b[i]);
	}
	it_executor_free(ex);
}

/*
 * A deadline that has passed by the time the operation would start ends it
 * with -ETIMEDOUT on both backends, even where it could complete at once:
 * io_uring once handed it to the kernel, where a nop, a page-cache read or
 * a ready poll beat the expired linked timeout and succeeded, while the
 * fallback never started it.  1 ns is always over before the operation
 * reaches a ring or a thread.
 */
static void test_deadline_passed_before_start(void)
{
	struct rp_io_opts past = { .timeout_ns = 1 };
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	struct it_dir d;
	char buf[8];
	int file, p[2];

	it_dir_make(&d, NULL);
	file = it_open_rw(&d, "f");
	CU_ASSERT_EQUAL(write(file, "abc", 3), 3);
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	CU_ASSERT_EQUAL(write(p[1], "x", 1), 1);

	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, &past, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ETIMEDOUT);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, file, buf, sizeof(buf), 0, &past,
				      &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ETIMEDOUT);
	CU_ASSERT_EQUAL_FATAL(rp_poll(ex, p[0], POLLIN, &past, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ETIMEDOUT);
	/* Not started: the pipe still holds its byte. */
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, p[0], buf, sizeof(buf), -1, &past,
				      &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ETIMEDOUT);
	CU_ASSERT_EQUAL(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	CU_ASSERT_EQUAL(read(p[0], buf, sizeof(buf)), 1);

	close(p[0]);
	close(p[1]);
	close(file);
	it_dir_remove(&d);
	it_executor_free(ex);
}

static void test_deadline_not_reached_and_partial_full(void)
{
	struct rp_io_opts opts = { .timeout_ns = 10000 * MS };
	/*
	 * Long enough for the operation to start before it (a pool thread
	 * on a loaded machine can take tens of ms to get to it, and one
	 * started past its deadline moves nothing), short enough to wait
	 * for: 250 ms, 1 s where the slack is larger (valgrind, sanitizers).
	 */
	struct rp_io_opts quick = {
		.timeout_ns = tu_timeout_slack_ns() / 8 > 1000 * MS
				      ? 1000 * MS
				      : tu_timeout_slack_ns() / 8,
	};
	rp_executor *ex = it_executor_new(NULL);
	unsigned char *big, *drain;
	size_t drained = 0;
	rp_future *f = NULL;
	char buf[100];
	int64_t v = -1, t0;
	int a, b, fds[2], err;
	ssize_t n;

	/* Done well before its deadline: a plain success. */
	it_unix_pair(&a, &b);
	CU_ASSERT_EQUAL(write(b, "hello", 5), 5);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, a, buf, sizeof(buf), 0, &opts, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 5);
	CU_ASSERT(memcmp(buf, "hello", 5) == 0);
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, &opts, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	close(a);
	close(b);

	/* read_full that times out keeps the count of what it read. */
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL(write(fds[1], "0123456789", 10), 10);
	memset(buf, 0, sizeof(buf));
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL_FATAL(rp_read_full(ex, fds[0], buf, sizeof(buf), -1,
					   &quick, &f), 0);
	err = it_end(f, &v);
	CU_ASSERT_EQUAL(err, -ETIMEDOUT);
	CU_ASSERT_EQUAL(v, 10);
	CU_ASSERT(memcmp(buf, "0123456789", 10) == 0);
	CU_ASSERT(tu_now_ns() - t0 >= quick.timeout_ns - MS);

	/* write_full into a small pipe nobody reads: the count is exact. */
	CU_ASSERT(fcntl(fds[1], F_SETPIPE_SZ, 4096) >= 4096);
	big = calloc(1, 65536);
	drain = calloc(1, 65536);
	CU_ASSERT_FATAL(big && drain);
	CU_ASSERT_EQUAL_FATAL(rp_write_full(ex, fds[1], big, 65536, -1, &quick,
					    &f), 0);
	err = it_end(f, &v);
	CU_ASSERT_EQUAL(err, -ETIMEDOUT);
	CU_ASSERT(v > 0 && v < 65536);
	CU_ASSERT_EQUAL(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	while ((n = read(fds[0], drain, 65536)) > 0)
		drained += (size_t)n;
	CU_ASSERT_EQUAL((int64_t)drained, v);
	free(big);
	free(drain);
	close(fds[0]);
	close(fds[1]);
	it_executor_free(ex);
}

static void test_poll(void)
{
	struct rp_io_opts quick = { .timeout_ns = 30 * MS };
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	int64_t v = -1;
	char c;
	int a, b;

	it_unix_pair(&a, &b);
	CU_ASSERT_EQUAL_FATAL(rp_poll(ex, a, POLLOUT, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT(v & POLLOUT);
	CU_ASSERT_FALSE(v & POLLIN);

	/* Not readable yet: pending until the peer writes. */
	CU_ASSERT_EQUAL_FATAL(rp_poll(ex, a, POLLIN, NULL, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, 0, NULL, NULL), -ETIMEDOUT);
	CU_ASSERT_EQUAL(rp_future_result(f, 10 * MS, NULL, NULL), -ETIMEDOUT);
	CU_ASSERT_FALSE(rp_future_done(f));
	CU_ASSERT_EQUAL(write(b, "x", 1), 1);
	v = 0;
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT(v & POLLIN);
	CU_ASSERT_EQUAL(read(a, &c, 1), 1);

	/* With a deadline on an idle socket. */
	CU_ASSERT_EQUAL_FATAL(rp_poll(ex, a, POLLIN, &quick, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ETIMEDOUT);

	/* The peer hanging up wakes it too. */
	CU_ASSERT_EQUAL_FATAL(rp_poll(ex, a, POLLIN, NULL, &f), 0);
	close(b);
	v = 0;
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT(v & (POLLIN | POLLHUP | POLLRDHUP));
	close(a);
	it_executor_free(ex);
}

static void test_shutdown(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	char buf[8];
	int64_t v = -1;
	int a, b, fds[2];

	it_unix_pair(&a, &b);
	CU_ASSERT_EQUAL_FATAL(rp_shutdown(ex, a, SHUT_WR, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	/* The peer sees end of stream; a's sends fail... */
	CU_ASSERT_EQUAL(it_recv(ex, b, buf, sizeof(buf), 0, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(it_send(ex, a, "x", 1, MSG_NOSIGNAL, &v), -EPIPE);
	/* ...but a still receives. */
	CU_ASSERT_EQUAL(write(b, "back", 4), 4);
	CU_ASSERT_EQUAL(it_recv(ex, a, buf, sizeof(buf), 0, &v), 0);
	CU_ASSERT_EQUAL(v, 4);
	close(a);
	close(b);

	it_tcp_pair(&a, &b);
	CU_ASSERT_EQUAL_FATAL(rp_shutdown(ex, b, SHUT_RDWR, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), 0);
	CU_ASSERT_EQUAL(it_recv(ex, a, buf, sizeof(buf), 0, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	close(a);
	close(b);

	/* Not a socket. */
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_shutdown(ex, fds[1], SHUT_WR, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOTSOCK);
	close(fds[0]);
	close(fds[1]);
	it_executor_free(ex);
}

static void test_sleep(void)
{
	size_t n = tu_scaled(50), i;
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL, **fs = calloc(n, sizeof(*fs));
	int64_t t0, elapsed, v = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL_FATAL(rp_sleep(ex, 30 * MS, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT(elapsed >= 30 * MS);
	CU_ASSERT(elapsed < 30 * MS + tu_timeout_slack_ns());

	v = -1;
	CU_ASSERT_EQUAL_FATAL(rp_sleep(ex, 0, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 0);

	/*
	 * Sleeps overlap: n of 100 ms take far less than n * 100 ms, the 5 s
	 * they would take one after the other.  They take 100 ms and a little;
	 * the rest is for a loaded machine or a sanitizer's build, where 50
	 * submissions and completions can be held up for a second or more.
	 */
	t0 = tu_now_ns();
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(rp_sleep(ex, 100 * MS, &fs[i]), 0);
	it_wait_all(fs, n);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 100 * MS);
	if (n >= 10)
		CU_ASSERT(elapsed < (int64_t)n * 100 * MS);
	for (i = 0; i < n; i++) {
		v = -1;
		CU_ASSERT_EQUAL(it_end(fs[i], &v), 0);
		CU_ASSERT_EQUAL(v, 0);
	}
	free(fs);
	it_executor_free(ex);
}

struct thread_cpu {
	const char *name;
	int64_t ns;
};

static bool read_thread_cpu(const char *tid, const char *comm, void *arg)
{
	struct thread_cpu *t = arg;
	char path[300];
	FILE *fp;

	if (strcmp(comm, t->name))
		return true;
	snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", tid);
	fp = fopen(path, "r");
	if (fp) {
		long long v;

		if (fscanf(fp, "%lld", &v) == 1)
			t->ns = v;
		fclose(fp);
	}
	return t->ns < 0;
}

/*
 * CPU time of this process's thread named `name`, in ns (schedstat), or -1
 * when there is none.
 */
static int64_t thread_cpu_ns(const char *name)
{
	struct thread_cpu t = { name, -1 };

	it_each_thread(read_thread_cpu, &t);
	return t.ns;
}

/*
 * A ring thread whose operations take long to complete stops spinning for
 * them: a chain of 40 sleeps of 10 ms, each queued by the previous one's
 * done-callback (so no wait for this thread's next submission comes in
 * between), with spin_ns 2 ms.  A thread that spun through every wait would
 * use 80 ms of CPU on top of its work; one that learns spins through the
 * first six (12 ms) and then sleeps.  The work itself is measured by the
 * same chain with spinning off, since it is not the same everywhere (4-6 ms
 * in a plain build, several times that under ThreadSanitizer).  The sleeps
 * are checked on every backend; the ring thread's CPU with io_uring (the
 * fallback's I/O threads do not spin for I/O), not under valgrind, which
 * runs one thread at a time and times them its own way.
 */
struct sleep_chain {
	rp_executor *ex;
	_Atomic int left, errors;
	struct tu_latch done;
};

static void sleep_chain_next(rp_future *f, void *arg)
{
	struct sleep_chain *c = arg;
	int64_t v = -1;
	int err = 0;

	if (rp_future_result(f, 0, &v, &err) || err || v != 0)
		atomic_fetch_add(&c->errors, 1);
	if (atomic_fetch_sub(&c->left, 1) > 1 &&
	    (rp_sleep(c->ex, 10 * MS, &f) == 0)) {
		if (rp_future_add_done_callback(f, sleep_chain_next, c))
			atomic_fetch_add(&c->errors, 1);
		rp_future_unref(f);
		return;
	}
	tu_latch_post(&c->done);
}

/*
 * Runs the chain on a new executor with `spin_ns`; returns the ring
 * thread's CPU over it in ns, or -1 where there is no ring thread to
 * measure (`*backend` says which backend ran).
 */
static int64_t sleep_chain_cpu(uint32_t spin_ns, int *backend)
{
	struct sleep_chain c = { .left = 40 };
	struct rp_config cfg;
	rp_future *f = NULL;
	int64_t cpu0, cpu1, until;

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.spin_ns = spin_ns;
	c.ex = it_executor_new(&cfg);
	tu_latch_init(&c.done);
	CU_ASSERT_EQUAL(rp_executor_backend(c.ex, backend, NULL), 0);
	/*
	 * The ring thread names itself when it starts; on a shared ring the
	 * NOP may have been driven by this thread before that.
	 */
	CU_ASSERT_EQUAL_FATAL(rp_nop(c.ex, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), 0);
	until = tu_now_ns() + tu_stuck_timeout_ns();
	while ((cpu0 = thread_cpu_ns("rp-ring0")) < 0 &&
	       *backend == RP_BACKEND_URING && tu_now_ns() < until)
		usleep(1000);
	CU_ASSERT_EQUAL_FATAL(rp_sleep(c.ex, 10 * MS, &f), 0);
	CU_ASSERT_EQUAL_FATAL(
		rp_future_add_done_callback(f, sleep_chain_next, &c), 0);
	rp_future_unref(f);
	it_latch_wait(&c.done, 1, "the chain of sleeps");
	cpu1 = thread_cpu_ns("rp-ring0");
	CU_ASSERT_EQUAL(atomic_load(&c.errors), 0);
	CU_ASSERT_EQUAL(atomic_load(&c.left), 0);
	it_executor_free(c.ex);
	tu_latch_destroy(&c.done);
	if (*backend != RP_BACKEND_URING || tu_under_valgrind())
		return -1;
	CU_ASSERT_FATAL(cpu0 >= 0 && cpu1 >= cpu0);
	return cpu1 - cpu0;
}

/*
 * A thread that never learned would spin 80 ms over the chain; one that did,
 * 12-16 ms.  On a loaded machine one measure can land in between (a thread
 * preempted mid-spin, a slow wake-up taken for a quick one), so it is taken
 * up to three times and must be under 40 ms once.
 */
static void test_slow_completions_stop_the_spin(void)
{
	int64_t work = -1, spun = -1;
	int backend = -1, tries;

	for (tries = 0; tries < 3; tries++) {
		work = sleep_chain_cpu(0, &backend);
		spun = sleep_chain_cpu(2 * MS, &backend);
		if (work < 0 || spun < 0) {
			printf("ring thread CPU not checked (%s)\n",
			       backend != RP_BACKEND_URING ? "no ring"
							   : "valgrind");
			return;
		}
		printf("ring thread CPU over 40 sleeps of 10 ms: %.1f ms "
		       "spinning up to 2 ms, %.1f ms not spinning\n",
		       (double)spun / MS, (double)work / MS);
		if (spun - work < 40 * MS)
			break;
	}
	CU_ASSERT(spun - work < 40 * MS);
}

/*
 * A thread waiting on operations that take long stops spinning for them:
 * 40 sleeps of 10 ms, each waited for in turn, with spin_ns 2 ms.  Spinning
 * through every wait would cost this thread 80 ms of CPU; learning, it
 * spins through the first six (12 ms).  On both backends; not checked
 * under valgrind.
 */
/* This thread's CPU over 40 sleeps of 10 ms, each waited for in turn. */
static int64_t waiting_cpu(void)
{
	struct timespec a, b;
	struct rp_config cfg;
	rp_executor *ex;
	rp_future *f = NULL;
	int64_t v;
	int i;

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.spin_ns = 2 * MS;
	ex = it_executor_new(&cfg);
	CU_ASSERT_EQUAL_FATAL(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a), 0);
	for (i = 0; i < 40; i++) {
		v = -1;
		CU_ASSERT_EQUAL_FATAL(rp_sleep(ex, 10 * MS, &f), 0);
		CU_ASSERT_EQUAL(it_end(f, &v), 0);
		CU_ASSERT_EQUAL(v, 0);
	}
	CU_ASSERT_EQUAL_FATAL(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b), 0);
	it_executor_free(ex);
	return (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
}

/* Measured up to three times, as the ring thread's above. */
static void test_slow_waits_stop_the_spin(void)
{
	int64_t cpu = -1;
	int tries;

	for (tries = 0; tries < 3; tries++) {
		cpu = waiting_cpu();
		if (tu_under_valgrind()) {
			printf("waiting thread's CPU not checked (valgrind)\n");
			return;
		}
		printf("waiting thread's CPU over 40 sleeps of 10 ms: %.1f ms\n",
		       (double)cpu / MS);
		if (cpu < 45 * MS)
			break;
	}
	CU_ASSERT(cpu < 45 * MS);
}

static void test_nop(void)
{
	size_t n = tu_scaled(1000), i, got = 0;
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL, **fs = calloc(n, sizeof(*fs));
	rp_as_completed *it = NULL;
	int64_t v = -1;
	int ret;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &fs[i]), 0);
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(fs, n, &it), 0);
	for (i = 0; i < n; i++)
		rp_future_unref(fs[i]);
	while ((ret = rp_as_completed_next(it, tu_stuck_timeout_ns(), &f)) ==
	       0) {
		int error = -1;

		v = -1;
		CU_ASSERT_EQUAL(rp_future_result(f, 0, &v, &error), 0);
		CU_ASSERT_EQUAL(error, 0);
		CU_ASSERT_EQUAL(v, 0);
		got++;
	}
	if (ret == -ETIMEDOUT)
		it_stuck("rp_as_completed_next");
	CU_ASSERT_EQUAL(ret, -ENODATA);
	CU_ASSERT_EQUAL(got, n);
	rp_as_completed_free(it);
	free(fs);
	it_executor_free(ex);
}

static const struct tu_test tests[] = {
	{ "recv_deadline", test_recv_deadline, false },
	{ "deadlines_in_a_full_sq", test_deadlines_in_a_full_sq, false },
	{ "deadline_passed_before_start", test_deadline_passed_before_start,
	  false },
	{ "deadline_not_reached_and_partial_full",
	  test_deadline_not_reached_and_partial_full, false },
	{ "poll", test_poll, false },
	{ "shutdown", test_shutdown, false },
	{ "sleep", test_sleep, false },
	{ "slow_completions_stop_the_spin",
	  test_slow_completions_stop_the_spin, false },
	{ "slow_waits_stop_the_spin", test_slow_waits_stop_the_spin, false },
	{ "nop", test_nop, false },
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	it_raise_nofile();
	return tu_run_tests(argc, argv, "io-waits", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
