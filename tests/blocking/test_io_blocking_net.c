/* SPDX-License-Identifier: MIT */
/*
 * Tests of rp__io_blocking_execute() on socket pairs and loopback TCP:
 * send and recv (MSG_WAITALL too), socket, connect, accept (waiting, and
 * cancelled), a refused connect, poll and timeouts.
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "blk.h"
#include "internal.h"
#include "testutil.h"

/* ---- sockets ------------------------------------------------------------ */

static void test_socketpair_send_recv(void)
{
	struct io_uring_sqe sqe;
	char buf[16];
	int sv[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				   sv) == 0);
	io_uring_prep_send(&sqe, sv[0], "ping", 4, 0);
	CU_ASSERT_EQUAL(bk_exec(&sqe), 4);
	io_uring_prep_recv(&sqe, sv[1], buf, sizeof(buf), 0);
	CU_ASSERT_EQUAL(bk_exec(&sqe), 4);
	CU_ASSERT(!memcmp(buf, "ping", 4));

	/* MSG_DONTWAIT is the caller's: no waiting then. */
	io_uring_prep_recv(&sqe, sv[1], buf, sizeof(buf), MSG_DONTWAIT);
	CU_ASSERT_EQUAL(bk_exec(&sqe), -EAGAIN);
	/* MSG_PEEK goes through. */
	io_uring_prep_send(&sqe, sv[0], "xy", 2, 0);
	CU_ASSERT_EQUAL(bk_exec(&sqe), 2);
	io_uring_prep_recv(&sqe, sv[1], buf, sizeof(buf), MSG_PEEK);
	CU_ASSERT_EQUAL(bk_exec(&sqe), 2);
	io_uring_prep_recv(&sqe, sv[1], buf, sizeof(buf), 0);
	CU_ASSERT_EQUAL(bk_exec(&sqe), 2);

	/* Read and write work on sockets too. */
	io_uring_prep_write(&sqe, sv[1], "pong", 4, (__u64)-1);
	CU_ASSERT_EQUAL(bk_exec(&sqe), 4);
	io_uring_prep_read(&sqe, sv[0], buf, sizeof(buf), (__u64)-1);
	CU_ASSERT_EQUAL(bk_exec(&sqe), 4);

	io_uring_prep_shutdown(&sqe, sv[0], SHUT_WR);
	CU_ASSERT_EQUAL(bk_exec(&sqe), 0);
	io_uring_prep_recv(&sqe, sv[1], buf, sizeof(buf), 0);
	CU_ASSERT_EQUAL(bk_exec(&sqe), 0);
	close(sv[1]);
	io_uring_prep_send(&sqe, sv[0], "x", 1, MSG_NOSIGNAL);
	CU_ASSERT_EQUAL(bk_exec(&sqe), -EPIPE);
	close(sv[0]);

	io_uring_prep_recv(&sqe, bk_efd, buf, sizeof(buf), 0);
	CU_ASSERT_EQUAL(bk_exec(&sqe), -ENOTSOCK);
}

/* MSG_WAITALL collects the whole length across two writes. */
static void test_recv_waitall(void)
{
	struct bg b;
	char buf[8];
	int sv[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				   sv) == 0);
	io_uring_prep_recv(&b.sqe, sv[1], buf, 8, MSG_WAITALL);
	bk_bg_start(&b, INT64_MAX);
	CU_ASSERT_EQUAL(write(sv[0], "abc", 3), 3);
	CU_ASSERT(bk_bg_waiting(&b));
	CU_ASSERT(!bk_bg_finished(&b));
	CU_ASSERT_EQUAL(write(sv[0], "defgh", 5), 5);
	CU_ASSERT_EQUAL(bk_bg_join(&b), 8);
	CU_ASSERT(!memcmp(buf, "abcdefgh", 8));

	/* Cut short by the deadline, it gives what it had. */
	CU_ASSERT_EQUAL(write(sv[0], "ab", 2), 2);
	io_uring_prep_recv(&b.sqe, sv[1], buf, 8, MSG_WAITALL);
	CU_ASSERT_EQUAL(bk_exec_until(&b.sqe, tu_now_ns() + 30 * MS), 2);
	close(sv[0]);
	close(sv[1]);
}

static void test_socket_op(void)
{
	struct io_uring_sqe sqe;
	int64_t fd;

	io_uring_prep_socket(&sqe, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, 0);
	fd = bk_exec(&sqe);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(fcntl((int)fd, F_GETFD) & FD_CLOEXEC);
	close((int)fd);
	io_uring_prep_socket(&sqe, AF_INET, SOCK_DGRAM, 0, 1);
	CU_ASSERT_EQUAL(bk_exec(&sqe), -EINVAL);
	io_uring_prep_socket(&sqe, 4242, SOCK_STREAM, 0, 0);
	CU_ASSERT_EQUAL(bk_exec(&sqe), -EAFNOSUPPORT);
}

static void test_tcp_connect_accept(void)
{
	struct sockaddr_in addr, peer;
	socklen_t plen = sizeof(peer);
	struct io_uring_sqe sqe;
	int lfd, cfd, fl;
	int64_t afd;
	char buf[8];

	lfd = tu_tcp_listener(&addr, 8);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(cfd >= 0);
	fl = fcntl(cfd, F_GETFL);
	io_uring_prep_connect(&sqe, cfd, (struct sockaddr *)&addr,
			      sizeof(addr));
	CU_ASSERT_EQUAL(bk_exec(&sqe), 0);
	/* The socket is blocking again. */
	CU_ASSERT_EQUAL(fcntl(cfd, F_GETFL), fl);

	io_uring_prep_accept(&sqe, lfd, (struct sockaddr *)&peer, &plen,
			     SOCK_CLOEXEC);
	afd = bk_exec(&sqe);
	CU_ASSERT_FATAL(afd >= 0);
	CU_ASSERT(fcntl((int)afd, F_GETFD) & FD_CLOEXEC);
	CU_ASSERT_EQUAL(plen, sizeof(peer));
	CU_ASSERT_EQUAL(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	/* An error leaves the flags as they were too. */
	fl = fcntl((int)afd, F_GETFL);
	io_uring_prep_connect(&sqe, (int)afd, (struct sockaddr *)&addr,
			      sizeof(addr));
	CU_ASSERT_EQUAL(bk_exec(&sqe), -EISCONN);
	CU_ASSERT_EQUAL(fcntl((int)afd, F_GETFL), fl);

	io_uring_prep_send(&sqe, cfd, "tcp!", 4, 0);
	CU_ASSERT_EQUAL(bk_exec(&sqe), 4);
	io_uring_prep_recv(&sqe, (int)afd, buf, sizeof(buf), MSG_WAITALL);
	sqe.len = 4;
	CU_ASSERT_EQUAL(bk_exec(&sqe), 4);
	CU_ASSERT(!memcmp(buf, "tcp!", 4));

	/* Bad flags, as accept4 says. */
	io_uring_prep_accept(&sqe, lfd, NULL, NULL, 0x4000000);
	CU_ASSERT_EQUAL(bk_exec(&sqe), -EINVAL);
	close((int)afd);
	close(cfd);
	close(lfd);
}

static void test_accept_waits_and_cancels(void)
{
	struct sockaddr_in addr;
	struct bg b;
	int lfd, cfd;
	int64_t t0;

	lfd = tu_tcp_listener(&addr, 8);
	io_uring_prep_accept(&b.sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(bk_exec_until(&b.sqe, t0 + 30 * MS), -ETIMEDOUT);
	CU_ASSERT(tu_now_ns() - t0 >= 30 * MS);

	bk_bg_start(&b, INT64_MAX);
	CU_ASSERT(bk_bg_waiting(&b));
	CU_ASSERT(!bk_bg_finished(&b));
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(cfd >= 0);
	CU_ASSERT_EQUAL(connect(cfd, (struct sockaddr *)&addr, sizeof(addr)),
			0);
	b.res = bk_bg_join(&b);
	CU_ASSERT(b.res >= 0);
	if (b.res >= 0)
		close((int)b.res);

	bk_bg_start(&b, INT64_MAX);
	CU_ASSERT(bk_bg_waiting(&b));
	atomic_fetch_or(&bk_flags, RP__F_CANCEL_REQ);
	bk_eventfd_kick();
	CU_ASSERT_EQUAL(bk_bg_join(&b), -ECANCELED);
	atomic_store(&bk_flags, 0);
	close(cfd);
	close(lfd);
}

static void test_connect_refused(void)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	struct io_uring_sqe sqe;
	int fd, fl, bound;

	/*
	 * A port bound and not listening: a connect to it is refused.  It
	 * stays bound to the end, so that neither another process's listener
	 * nor the connecting socket's own port (a connection to itself) can
	 * take it in between.
	 */
	bound = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(bound >= 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(bound, (struct sockaddr *)&addr, len) == 0);
	CU_ASSERT_FATAL(getsockname(bound, (struct sockaddr *)&addr, &len) ==
			0);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0);
	fl = fcntl(fd, F_GETFL);
	CU_ASSERT(!(fl & O_NONBLOCK));
	io_uring_prep_connect(&sqe, fd, (struct sockaddr *)&addr,
			      sizeof(addr));
	CU_ASSERT_EQUAL(bk_exec(&sqe), -ECONNREFUSED);
	CU_ASSERT_EQUAL(fcntl(fd, F_GETFL), fl);
	close(fd);

	/* A non-blocking socket stays non-blocking, and still waits. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	CU_ASSERT_FATAL(fd >= 0);
	fl = fcntl(fd, F_GETFL);
	io_uring_prep_connect(&sqe, fd, (struct sockaddr *)&addr,
			      sizeof(addr));
	CU_ASSERT_EQUAL(bk_exec(&sqe), -ECONNREFUSED);
	CU_ASSERT_EQUAL(fcntl(fd, F_GETFL), fl);
	close(fd);

	io_uring_prep_connect(&sqe, bk_efd, (struct sockaddr *)&addr,
			      sizeof(addr));
	CU_ASSERT_EQUAL(bk_exec(&sqe), -ENOTSOCK);
	io_uring_prep_connect(&sqe, -1, (struct sockaddr *)&addr,
			      sizeof(addr));
	CU_ASSERT_EQUAL(bk_exec(&sqe), -EBADF);
	close(bound);
}

/* ---- poll and timeout --------------------------------------------------- */

static void test_poll_add(void)
{
	struct io_uring_sqe sqe;
	struct bg b;
	int64_t t0;
	int p[2];

	CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
	io_uring_prep_poll_add(&sqe, p[1], POLLOUT);
	CU_ASSERT_EQUAL(bk_exec(&sqe), POLLOUT);

	io_uring_prep_poll_add(&sqe, p[0], POLLIN);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(bk_exec_until(&sqe, t0 + 30 * MS), -ETIMEDOUT);
	CU_ASSERT(tu_now_ns() - t0 >= 30 * MS);

	io_uring_prep_poll_add(&b.sqe, p[0], POLLIN);
	bk_bg_start(&b, INT64_MAX);
	CU_ASSERT(bk_bg_waiting(&b));
	CU_ASSERT(!bk_bg_finished(&b));
	CU_ASSERT_EQUAL(write(p[1], "x", 1), 1);
	CU_ASSERT_EQUAL(bk_bg_join(&b), POLLIN);

	/* Hang-up is reported even when not asked for. */
	close(p[1]);
	CU_ASSERT_EQUAL(bk_exec(&sqe), POLLIN | POLLHUP);
	/* Multishot needs a ring. */
	sqe.len = IORING_POLL_ADD_MULTI;
	CU_ASSERT_EQUAL(bk_exec(&sqe), -EINVAL);
	close(p[0]);
}

static void test_timeout_sleep(void)
{
	struct __kernel_timespec ts = { 0, 50 * MS };
	struct io_uring_sqe sqe;
	int64_t t0, elapsed;
	struct bg b;

	io_uring_prep_timeout(&sqe, &ts, 0, 0);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(bk_exec(&sqe), -ETIME);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 50 * MS);
	CU_ASSERT(elapsed < 50 * MS + tu_timeout_slack_ns());

	/* Absolute, on CLOCK_MONOTONIC. */
	t0 = tu_now_ns();
	ts.tv_sec = (t0 + 30 * MS) / 1000000000;
	ts.tv_nsec = (t0 + 30 * MS) % 1000000000;
	io_uring_prep_timeout(&sqe, &ts, 0, IORING_TIMEOUT_ABS);
	CU_ASSERT_EQUAL(bk_exec(&sqe), -ETIME);
	CU_ASSERT(tu_now_ns() - t0 >= 30 * MS);

	/* The operation's deadline comes first. */
	ts.tv_sec = 10;
	ts.tv_nsec = 0;
	io_uring_prep_timeout(&sqe, &ts, 0, 0);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(bk_exec_until(&sqe, t0 + 30 * MS), -ETIMEDOUT);
	CU_ASSERT(tu_now_ns() - t0 < 30 * MS + tu_timeout_slack_ns());

	/* Cancelled while it sleeps. */
	io_uring_prep_timeout(&b.sqe, &ts, 0, 0);
	bk_bg_start(&b, INT64_MAX);
	CU_ASSERT(bk_bg_waiting(&b));
	atomic_fetch_or(&bk_flags, RP__F_CANCEL_REQ);
	bk_eventfd_kick();
	CU_ASSERT_EQUAL(bk_bg_join(&b), -ECANCELED);
	atomic_store(&bk_flags, 0);

	/* Completion counts and updates need a ring. */
	io_uring_prep_timeout(&sqe, &ts, 1, 0);
	CU_ASSERT_EQUAL(bk_exec(&sqe), -EINVAL);
	io_uring_prep_timeout(&sqe, &ts, 0, IORING_TIMEOUT_UPDATE);
	CU_ASSERT_EQUAL(bk_exec(&sqe), -EINVAL);
	ts.tv_nsec = -1;
	io_uring_prep_timeout(&sqe, &ts, 0, 0);
	CU_ASSERT_EQUAL(bk_exec(&sqe), -EINVAL);
}

static const struct tu_test tests[] = {
	{ "socketpair_send_recv", test_socketpair_send_recv, false },
	{ "recv_waitall", test_recv_waitall, false },
	{ "socket_op", test_socket_op, false },
	{ "tcp_connect_accept", test_tcp_connect_accept, false },
	{ "accept_waits_and_cancels", test_accept_waits_and_cancels, false },
	{ "connect_refused", test_connect_refused, false },
	{ "poll_add", test_poll_add, false },
	{ "timeout_sleep", test_timeout_sleep, false },
};

int main(int argc, char **argv)
{
	return bk_main(argc, argv, "io_blocking_net", tests,
		       sizeof(tests) / sizeof(tests[0]));
}
