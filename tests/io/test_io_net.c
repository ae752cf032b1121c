/* SPDX-License-Identifier: MIT */
/*
 * Network I/O on loopback TCP and socketpairs: socket, connect, accept,
 * send, recv (with flags), echo round trips, a thousand concurrent
 * connections, peer reset, refused connections, bulk transfers, and
 * operations placed on chosen rings, splice from a file through a pipe to
 * a socket.  test_io_waits.c has deadlines, poll,
 * shutdown, sleep and nop.
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
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "iotest.h"
#include "ringpool.h"
#include "testutil.h"

/* Sends all of `buf` with rp_send(); returns 0 or the first error. */
static int send_all(rp_executor *ex, int fd, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		int64_t v = -1;
		int err = it_send(ex, fd, (const char *)buf + off, len - off,
				  MSG_NOSIGNAL, &v);

		if (err)
			return err;
		CU_ASSERT(v > 0 && (size_t)v <= len - off);
		if (v <= 0)
			return -EIO;
		off += (size_t)v;
	}
	return 0;
}

/* Receives exactly `len` bytes with rp_recv(); -EPIPE at end of stream. */
static int recv_all(rp_executor *ex, int fd, void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		int64_t v = -1;
		int err = it_recv(ex, fd, (char *)buf + off, len - off, 0, &v);

		if (err)
			return err;
		CU_ASSERT(v >= 0 && (size_t)v <= len - off);
		if (v <= 0)
			return -EPIPE;
		off += (size_t)v;
	}
	return 0;
}

/* One echo: `c` sends, `s` receives and sends back, `c` checks. */
static void echo_once(rp_executor *ex, int c, int s, size_t len, uint64_t seed)
{
	unsigned char *msg = malloc(len), *mid = calloc(1, len),
		      *back = calloc(1, len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mid);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	it_fill(msg, len, seed, 0);
	CU_ASSERT_EQUAL(send_all(ex, c, msg, len), 0);
	CU_ASSERT_EQUAL(recv_all(ex, s, mid, len), 0);
	CU_ASSERT(memcmp(mid, msg, len) == 0);
	CU_ASSERT_EQUAL(send_all(ex, s, mid, len), 0);
	CU_ASSERT_EQUAL(recv_all(ex, c, back, len), 0);
	CU_ASSERT(memcmp(back, msg, len) == 0);
	free(msg);
	free(mid);
	free(back);
}

static void test_socket_connect_accept_echo(void)
{
	static const size_t sizes[] = { 1, 100, 4096 };
	rp_executor *ex = it_executor_new(NULL);
	struct sockaddr_in addr, peer, local;
	unsigned peer_len = sizeof(peer);
	socklen_t local_len = sizeof(local);
	rp_future *f = NULL, *fa = NULL;
	int64_t v = -1;
	int lfd, cfd, sfd;
	size_t i;

	/* A listener made with rp_socket(). */
	CU_ASSERT_EQUAL_FATAL(rp_socket(ex, AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
					0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_FATAL(v >= 0);
	lfd = (int)v;
	CU_ASSERT(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_EQUAL_FATAL(bind(lfd, (struct sockaddr *)&addr,
				   sizeof(addr)), 0);
	CU_ASSERT_EQUAL_FATAL(listen(lfd, 4), 0);
	local_len = sizeof(addr);
	CU_ASSERT_EQUAL_FATAL(getsockname(lfd, (struct sockaddr *)&addr,
					  &local_len), 0);

	/* The accept is queued before anyone connects. */
	memset(&peer, 0, sizeof(peer));
	CU_ASSERT_EQUAL_FATAL(rp_accept(ex, lfd, (struct sockaddr *)&peer,
					&peer_len, SOCK_CLOEXEC, NULL, &fa),
			      0);
	CU_ASSERT_EQUAL_FATAL(rp_socket(ex, AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
					0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_FATAL(v >= 0);
	cfd = (int)v;
	CU_ASSERT_EQUAL_FATAL(rp_connect(ex, cfd, (struct sockaddr *)&addr,
					 sizeof(addr), NULL, &f), 0);
	v = -1;
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	v = -1;
	CU_ASSERT_EQUAL(it_end(fa, &v), 0);
	CU_ASSERT_FATAL(v >= 0);
	sfd = (int)v;
	CU_ASSERT(fcntl(sfd, F_GETFD) & FD_CLOEXEC);
	/* The peer address is the client's. */
	local_len = sizeof(local);
	CU_ASSERT_EQUAL(getsockname(cfd, (struct sockaddr *)&local, &local_len),
			0);
	CU_ASSERT_EQUAL(peer_len, sizeof(peer));
	CU_ASSERT_EQUAL(peer.sin_family, AF_INET);
	CU_ASSERT_EQUAL(peer.sin_port, local.sin_port);
	CU_ASSERT_EQUAL(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		echo_once(ex, cfd, sfd, sizes[i], i);

	/* A second connection, accepted without an address. */
	{
		int c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), s2;

		CU_ASSERT_FATAL(c2 >= 0);
		CU_ASSERT_EQUAL_FATAL(connect(c2, (struct sockaddr *)&addr,
					      sizeof(addr)), 0);
		CU_ASSERT_EQUAL_FATAL(rp_accept(ex, lfd, NULL, NULL, 0, NULL,
						&fa), 0);
		CU_ASSERT_EQUAL(it_end(fa, &v), 0);
		CU_ASSERT_FATAL(v >= 0);
		s2 = (int)v;
		echo_once(ex, c2, s2, 10, 99);
		CU_ASSERT_EQUAL(it_close(ex, s2), 0);
		close(c2);
	}

	CU_ASSERT_EQUAL(it_close(ex, sfd), 0);
	CU_ASSERT_EQUAL(it_close(ex, cfd), 0);
	CU_ASSERT_EQUAL(it_close(ex, lfd), 0);
	it_executor_free(ex);
}

static void test_socketpair_echo_round_trips(void)
{
	size_t rounds = tu_scaled(2000), i;
	rp_executor *ex = it_executor_new(NULL);
	int a, b;

	it_unix_pair(&a, &b);
	for (i = 0; i < rounds; i++)
		echo_once(ex, a, b, 1 + i * 37 % 3000, i);
	close(a);
	close(b);
	it_executor_free(ex);
}

static void test_recv_flags_pass_through(void)
{
	rp_executor *ex = it_executor_new(NULL);
	char buf[16];
	int64_t v = -1;
	int a, b;

	it_unix_pair(&a, &b);
	/* MSG_DONTWAIT on an empty socket. */
	CU_ASSERT_EQUAL(it_recv(ex, a, buf, sizeof(buf), MSG_DONTWAIT, &v),
			-EAGAIN);
	CU_ASSERT_EQUAL(write(b, "peek", 4), 4);
	/* MSG_PEEK leaves the data in place. */
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(it_recv(ex, a, buf, sizeof(buf), MSG_PEEK, &v), 0);
	CU_ASSERT_EQUAL(v, 4);
	CU_ASSERT(memcmp(buf, "peek", 4) == 0);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(it_recv(ex, a, buf, sizeof(buf), 0, &v), 0);
	CU_ASSERT_EQUAL(v, 4);
	CU_ASSERT(memcmp(buf, "peek", 4) == 0);
	/* Short: asks for 2 of 4 bytes. */
	CU_ASSERT_EQUAL(write(b, "abcd", 4), 4);
	CU_ASSERT_EQUAL(it_recv(ex, a, buf, 2, 0, &v), 0);
	CU_ASSERT_EQUAL(v, 2);
	CU_ASSERT(memcmp(buf, "ab", 2) == 0);
	CU_ASSERT_EQUAL(it_recv(ex, a, buf, sizeof(buf), 0, &v), 0);
	CU_ASSERT_EQUAL(v, 2);
	CU_ASSERT(memcmp(buf, "cd", 2) == 0);
	/* Zero bytes means the peer closed. */
	close(b);
	CU_ASSERT_EQUAL(it_recv(ex, a, buf, sizeof(buf), 0, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	close(a);
	it_executor_free(ex);
}

/*
 * A MSG_WAITALL receive that its deadline stops after some bytes came ends
 * with those bytes and no error, on both backends, as the header says.
 */
static void test_waitall_recv_stopped_by_deadline_keeps_its_bytes(void)
{
	struct rp_io_opts soon = { .timeout_ns = 30 * MS };
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	char buf[16] = { 0 };
	int64_t v = -1;
	int a, b;

	it_unix_pair(&a, &b);
	CU_ASSERT_EQUAL(write(b, "abcd", 4), 4);
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, a, buf, 10, MSG_WAITALL, &soon, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 4);
	CU_ASSERT(memcmp(buf, "abcd", 4) == 0);
	close(a);
	close(b);
	it_executor_free(ex);
}

static atomic_uint sigpipes;

static void count_sigpipe(int sig)
{
	(void)sig;
	atomic_fetch_add(&sigpipes, 1);
}

/*
 * A send to a peer that has gone ends with -EPIPE and raises no SIGPIPE,
 * on both backends (the fallback's send(2) raised it, which kills a
 * program that has not ignored it).
 */
static void test_send_to_a_closed_peer_is_epipe_without_sigpipe(void)
{
	struct sigaction count = { .sa_handler = count_sigpipe }, old;
	rp_executor *ex = it_executor_new(NULL);
	int64_t v = -1;
	int a, b;

	atomic_store(&sigpipes, 0);
	sigemptyset(&count.sa_mask);
	CU_ASSERT_EQUAL_FATAL(sigaction(SIGPIPE, &count, &old), 0);
	it_unix_pair(&a, &b);
	close(b);
	CU_ASSERT_EQUAL(it_send(ex, a, "abc", 3, 0, &v), -EPIPE);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(atomic_load(&sigpipes), 0);
	CU_ASSERT_EQUAL(sigaction(SIGPIPE, &old, NULL), 0);
	close(a);
	it_executor_free(ex);
}

/*
 * Reads and writes on a socket take offset 0 as -1 and refuse any other
 * with -ESPIPE, on both backends (the fallback moved the bytes): so a
 * *_full read at offset 0 stops at its first short piece.
 */
static void test_socket_refuses_offsets_but_zero(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	char buf[8] = { 0 };
	int64_t v = -1;
	int a, b;

	it_unix_pair(&a, &b);
	CU_ASSERT_EQUAL(it_write(ex, b, "abc", 3, 5, &v), -ESPIPE);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(it_write(ex, b, "abc", 3, 0, &v), 0);
	CU_ASSERT_EQUAL(v, 3);
	CU_ASSERT_EQUAL(it_read(ex, a, buf, 2, 5, &v), -ESPIPE);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(it_read(ex, a, buf, 2, 0, &v), 0);
	CU_ASSERT_EQUAL(v, 2);
	CU_ASSERT(memcmp(buf, "ab", 2) == 0);
	/* One byte is there; the second piece would be at offset 1. */
	CU_ASSERT_EQUAL_FATAL(rp_read_full(ex, a, buf, 4, 0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), -ESPIPE);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(buf[0], 'c');
	close(a);
	close(b);
	it_executor_free(ex);
}

/*
 * RP_IO_POLL_FIRST waits for readiness before the first attempt: a receive
 * on an empty socket stays pending until data comes, one on a socket with
 * data ends at once, and deadlines and cancellation still reach it.  Only
 * rp_recv() and rp_send() take the flag.
 */
static void test_poll_first(void)
{
	const struct rp_io_opts pf = { .flags = RP_IO_POLL_FIRST };
	struct rp_io_opts pf_dl = pf;
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	char buf[16] = "";
	int64_t v = -1;
	int a, b, ret;

	it_unix_pair(&a, &b);
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, a, buf, sizeof(buf), 0, &pf, &f), 0);
	usleep(20000);
	CU_ASSERT_FALSE(rp_future_done(f));
	CU_ASSERT_EQUAL(write(b, "x", 1), 1);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(buf[0], 'x');

	/* Data already there: ready at once. */
	CU_ASSERT_EQUAL(write(b, "yz", 2), 2);
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, a, buf, sizeof(buf), 0, &pf, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 2);
	CU_ASSERT(memcmp(buf, "yz", 2) == 0);

	/* A send on a socket with room. */
	CU_ASSERT_EQUAL_FATAL(rp_send(ex, a, "ping", 4, MSG_NOSIGNAL, &pf, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 4);
	CU_ASSERT(it_read_all(b, buf, 4));
	CU_ASSERT(memcmp(buf, "ping", 4) == 0);

	/* A deadline, then a cancel, on an empty socket. */
	pf_dl.timeout_ns = 50 * 1000000LL;
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, a, buf, sizeof(buf), 0, &pf_dl, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, &v), -ETIMEDOUT);
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, a, buf, sizeof(buf), 0, &pf, &f), 0);
	usleep(20000);
	ret = rp_future_cancel(f);
	CU_ASSERT(ret == 0 || ret == -EINPROGRESS);
	CU_ASSERT_EQUAL(it_end(f, &v), -ECANCELED);

	/* Other operations refuse the flag. */
	f = NULL;
	CU_ASSERT_EQUAL(rp_read(ex, a, buf, sizeof(buf), -1, &pf, &f),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_poll(ex, a, POLLIN, &pf, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_accept(ex, a, NULL, NULL, 0, &pf, &f), -EINVAL);
	CU_ASSERT_PTR_NULL(f);
	close(a);
	close(b);
	it_executor_free(ex);
}

/*
 * RP_IO_POLL_FIRST on a descriptor that is not a socket fails with
 * -ENOTSOCK, as without the flag, on both backends.  io_uring's recv once
 * gave -EAGAIN on a file it cannot poll (a regular file, /dev/null), and
 * the fallback waited for ever on a negative descriptor and on a send to a
 * descriptor that never becomes writable (a pipe's read end), where
 * io_uring fails at once.
 */
static void test_poll_first_on_a_non_socket(void)
{
	const struct rp_io_opts pf = { .flags = RP_IO_POLL_FIRST };
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	struct it_dir d;
	char buf[16] = "";
	int file, null, p[2];

	it_dir_make(&d, NULL);
	file = it_open_rw(&d, "f");
	CU_ASSERT_EQUAL(write(file, "abc", 3), 3);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	CU_ASSERT_FATAL(null >= 0);
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	CU_ASSERT_EQUAL(write(p[1], "x", 1), 1);

	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, file, buf, sizeof(buf), 0, &pf, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOTSOCK);
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, null, buf, sizeof(buf), 0, &pf, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOTSOCK);
	/* A pipe with data: ready, then refused. */
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, p[0], buf, sizeof(buf), 0, &pf, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOTSOCK);
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, -1, buf, sizeof(buf), 0, &pf, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EBADF);

	CU_ASSERT_EQUAL_FATAL(rp_send(ex, file, "a", 1, MSG_NOSIGNAL, &pf, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOTSOCK);
	CU_ASSERT_EQUAL_FATAL(rp_send(ex, p[0], "a", 1, MSG_NOSIGNAL, &pf, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOTSOCK);
	CU_ASSERT_EQUAL_FATAL(rp_send(ex, -1, "a", 1, MSG_NOSIGNAL, &pf, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EBADF);

	close(p[0]);
	close(p[1]);
	close(null);
	close(file);
	it_dir_remove(&d);
	it_executor_free(ex);
}

static void test_socket_errors(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct sockaddr_in addr;
	rp_future *f = NULL;
	char buf[4] = { 0 };
	int fds[2], s, a;

	CU_ASSERT_EQUAL_FATAL(rp_socket(ex, 12345, SOCK_STREAM, 0, NULL, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EAFNOSUPPORT);
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL(it_recv(ex, fds[0], buf, sizeof(buf), 0, NULL),
			-ENOTSOCK);
	CU_ASSERT_EQUAL(it_send(ex, fds[1], buf, sizeof(buf), 0, NULL),
			-ENOTSOCK);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons(9);
	CU_ASSERT_EQUAL_FATAL(rp_connect(ex, fds[0], (struct sockaddr *)&addr,
					 sizeof(addr), NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOTSOCK);
	/* Accept on a socket that does not listen. */
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(s >= 0);
	CU_ASSERT_EQUAL_FATAL(rp_accept(ex, s, NULL, NULL, 0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EINVAL);
	close(s);
	/*
	 * Nor on a connected one, which poll never reports readable for a
	 * connection: the fallback waited for ever where io_uring fails.
	 */
	it_unix_pair(&s, &a);
	CU_ASSERT_EQUAL_FATAL(rp_accept(ex, s, NULL, NULL, 0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EINVAL);
	close(s);
	close(a);
	/* A datagram socket cannot accept at all. */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(s >= 0);
	CU_ASSERT_EQUAL_FATAL(rp_accept(ex, s, NULL, NULL, 0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EOPNOTSUPP);
	close(s);
	close(fds[0]);
	close(fds[1]);
	it_executor_free(ex);
}

/* Writes `i` (below 10^7) as 7 decimal digits and a NUL. */
static void number7(char *dst, size_t i)
{
	int k;

	for (k = 6; k >= 0; k--) {
		dst[k] = (char)('0' + i % 10);
		i /= 10;
	}
	dst[7] = '\0';
}

static void test_many_concurrent_connections(void)
{
	size_t n = tu_scaled(1000), limit = it_raise_nofile(), i;
	rp_executor *ex = it_executor_new(NULL);
	struct sockaddr_in addr;
	rp_future **fs;
	int *cfd, *sfd, lfd;
	char (*msg)[8], (*mid)[8], (*back)[8];
	bool *seen;

	if (2 * n + 100 > limit) {
		n = (limit - 100) / 2;
		printf("\n    only %zu connections: RLIMIT_NOFILE is %zu\n", n,
		       limit);
	}
	fs = calloc(n, sizeof(*fs));
	cfd = calloc(n, sizeof(*cfd));
	sfd = calloc(n, sizeof(*sfd));
	msg = calloc(n, sizeof(*msg));
	mid = calloc(n, sizeof(*mid));
	back = calloc(n, sizeof(*back));
	seen = calloc(n, sizeof(*seen));
	CU_ASSERT_FATAL(fs && cfd && sfd && msg && mid && back && seen);
	lfd = tu_tcp_listener(&addr, (int)n);

	/* Every connection completes in the kernel's backlog. */
	for (i = 0; i < n; i++) {
		cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CU_ASSERT_FATAL(cfd[i] >= 0);
		CU_ASSERT_EQUAL_FATAL(rp_connect(ex, cfd[i],
						 (struct sockaddr *)&addr,
						 sizeof(addr), NULL, &fs[i]),
				      0);
	}
	it_wait_all(fs, n);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(it_end(fs[i], NULL), 0);

	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(rp_accept(ex, lfd, NULL, NULL,
						SOCK_CLOEXEC, NULL, &fs[i]),
				      0);
	it_wait_all(fs, n);
	for (i = 0; i < n; i++) {
		int64_t v = -1;

		CU_ASSERT_EQUAL(it_end(fs[i], &v), 0);
		CU_ASSERT_FATAL(v >= 0);
		sfd[i] = (int)v;
	}

	/* Each client sends its number... */
	for (i = 0; i < n; i++) {
		number7(msg[i], i);
		CU_ASSERT_EQUAL_FATAL(rp_send(ex, cfd[i], msg[i], 8,
					      MSG_NOSIGNAL, NULL, &fs[i]), 0);
	}
	it_wait_all(fs, n);
	for (i = 0; i < n; i++) {
		int64_t v = -1;

		CU_ASSERT_EQUAL(it_end(fs[i], &v), 0);
		CU_ASSERT_EQUAL(v, 8);
	}
	/* ...the server side gets each number once... */
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(rp_recv(ex, sfd[i], mid[i], 8, 0, NULL,
					      &fs[i]), 0);
	it_wait_all(fs, n);
	for (i = 0; i < n; i++) {
		int64_t v = -1;
		unsigned long k;
		char *end;

		CU_ASSERT_EQUAL(it_end(fs[i], &v), 0);
		CU_ASSERT(v > 0 && v <= 8);
		if (v > 0 && v < 8)
			CU_ASSERT_EQUAL(recv_all(ex, sfd[i], mid[i] + v,
						 8 - (size_t)v), 0);
		k = strtoul(mid[i], &end, 10);
		CU_ASSERT_FATAL(end == mid[i] + 7 && k < n);
		CU_ASSERT_FALSE(seen[k]);
		seen[k] = true;
	}
	/* ...and echoes it. */
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(rp_send(ex, sfd[i], mid[i], 8,
					      MSG_NOSIGNAL, NULL, &fs[i]), 0);
	it_wait_all(fs, n);
	for (i = 0; i < n; i++) {
		int64_t v = -1;

		CU_ASSERT_EQUAL(it_end(fs[i], &v), 0);
		CU_ASSERT_EQUAL(v, 8);
	}
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(rp_recv(ex, cfd[i], back[i], 8, 0, NULL,
					      &fs[i]), 0);
	it_wait_all(fs, n);
	for (i = 0; i < n; i++) {
		int64_t v = -1;

		CU_ASSERT_EQUAL(it_end(fs[i], &v), 0);
		CU_ASSERT(v > 0 && v <= 8);
		if (v > 0 && v < 8)
			CU_ASSERT_EQUAL(recv_all(ex, cfd[i], back[i] + v,
						 8 - (size_t)v), 0);
		CU_ASSERT(memcmp(back[i], msg[i], 8) == 0);
	}

	for (i = 0; i < n; i++) {
		close(cfd[i]);
		close(sfd[i]);
	}
	close(lfd);
	it_executor_free(ex);
	free(fs);
	free(cfd);
	free(sfd);
	free(msg);
	free(mid);
	free(back);
	free(seen);
}

static void check_reset_outcome(int err, int64_t v)
{
	/* Either documented outcome: the reset, or end of stream. */
	CU_ASSERT(err == -ECONNRESET || (err == 0 && v == 0));
	if (!(err == -ECONNRESET || (err == 0 && v == 0)))
		fprintf(stderr, "recv after reset: error %d value %lld\n", err,
			(long long)v);
}

static void test_peer_reset(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	char buf[16];
	int64_t v = -1;
	int c, s, err;

	/* The recv is queued before the reset. */
	it_tcp_pair(&c, &s);
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, c, buf, sizeof(buf), 0, NULL, &f), 0);
	it_reset(s);
	err = it_end(f, &v);
	check_reset_outcome(err, v);
	/* Later sends fail. */
	err = it_send(ex, c, "x", 1, MSG_NOSIGNAL, &v);
	CU_ASSERT(err == -EPIPE || err == -ECONNRESET);
	close(c);

	/* The reset comes before the recv. */
	it_tcp_pair(&c, &s);
	echo_once(ex, c, s, 16, 3);
	it_reset(s);
	err = it_recv(ex, c, buf, sizeof(buf), 0, &v);
	check_reset_outcome(err, v);
	close(c);
	it_executor_free(ex);
}

static void test_connection_refused(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	rp_future *f = NULL;
	int64_t v = -1;
	int bound, c;

	/* A bound socket that does not listen answers SYN with RST. */
	bound = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(bound >= 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_EQUAL_FATAL(bind(bound, (struct sockaddr *)&addr,
				   sizeof(addr)), 0);
	CU_ASSERT_EQUAL_FATAL(getsockname(bound, (struct sockaddr *)&addr,
					  &len), 0);

	CU_ASSERT_EQUAL_FATAL(rp_socket(ex, AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
					0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_FATAL(v >= 0);
	c = (int)v;
	CU_ASSERT_EQUAL_FATAL(rp_connect(ex, c, (struct sockaddr *)&addr,
					 sizeof(addr), NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ECONNREFUSED);
	close(c);
	close(bound);
	it_executor_free(ex);
}

/* Megabytes through a stream while both ends are in flight. */
static void bulk_on(rp_executor *ex, int a, int b, size_t len)
{
	unsigned char *out = malloc(len), *in = calloc(1, len);
	rp_future *fw = NULL, *fr = NULL;
	int64_t v = -1;

	CU_ASSERT_FATAL(out && in);
	it_fill(out, len, len, 0);
	CU_ASSERT_EQUAL_FATAL(rp_read_full(ex, b, in, len, -1, NULL, &fr), 0);
	CU_ASSERT_EQUAL_FATAL(rp_write_full(ex, a, out, len, -1, NULL, &fw), 0);
	CU_ASSERT_EQUAL(it_end(fw, &v), 0);
	CU_ASSERT_EQUAL(v, (int64_t)len);
	CU_ASSERT_EQUAL(it_end(fr, &v), 0);
	CU_ASSERT_EQUAL(v, (int64_t)len);
	CU_ASSERT(memcmp(in, out, len) == 0);
	free(out);
	free(in);
}

static void test_bulk_transfer(void)
{
	size_t len = tu_under_valgrind() ? 256 * 1024 : 8 * 1024 * 1024;
	rp_executor *ex = it_executor_new(NULL);
	int a, b;

	it_unix_pair(&a, &b);
	bulk_on(ex, a, b, len);
	close(a);
	close(b);
	it_tcp_pair(&a, &b);
	bulk_on(ex, a, b, len);
	bulk_on(ex, b, a, len + 1);
	close(a);
	close(b);
	it_executor_free(ex);
}

/* ---- splice ------------------------------------------------------------ */

/* One rp_splice(), waited for; returns its error, the value in `*v`. */
static int splice_once(rp_executor *ex, int in, int64_t off_in, int out,
		       size_t len, unsigned flags, int64_t *v)
{
	rp_future *f = NULL;
	int ret = rp_splice(ex, in, off_in, out, -1, len, flags, NULL, &f);

	CU_ASSERT_EQUAL(ret, 0);
	if (ret)
		return IT_NOT_QUEUED;
	return it_end(f, v);
}

/*
 * A file goes to a TCP peer through a pipe, as a server sends a body: file
 * to pipe at an offset, pipe to a non-blocking socket, until the file's
 * end (a splice of 0).  The peer's bytes are the file's, from the offset.
 */
static void splice_file_to_peer(rp_executor *ex, int file, size_t size,
				size_t from, int sock, int peer)
{
	unsigned char *got = malloc(size);
	int p[2];
	size_t off = from, sent = 0;
	int64_t v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	for (;;) {
		size_t held;

		v = -1;
		CU_ASSERT_EQUAL_FATAL(splice_once(ex, file, (int64_t)off, p[1],
						  64 * KiB, 0, &v), 0);
		if (v == 0)
			break;
		CU_ASSERT_FATAL(v > 0 && v <= (int64_t)(64 * KiB));
		off += (size_t)v;
		for (held = (size_t)v; held > 0; held -= (size_t)v) {
			v = -1;
			CU_ASSERT_EQUAL_FATAL(splice_once(ex, p[0], -1, sock,
							  held, SPLICE_F_MOVE,
							  &v),
					      0);
			CU_ASSERT_FATAL(v > 0 && (size_t)v <= held);
			sent += (size_t)v;
		}
	}
	CU_ASSERT_EQUAL(off, size);
	CU_ASSERT_EQUAL(sent, size - from);
	CU_ASSERT(it_read_all(peer, got, size - from));
	CU_ASSERT(it_check(got, size - from, 7, from));
	close(p[0]);
	close(p[1]);
	free(got);
}

static void test_splice(void)
{
	size_t size = 300 * KiB + 17;
	unsigned char *data = malloc(size);
	rp_executor *ex = it_executor_new(NULL);
	struct rp_io_opts fixed = { .flags = RP_IO_FIXED_FILE };
	struct it_dir d;
	rp_future *f = NULL;
	int file, a, b, p[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	it_dir_make(&d, NULL);
	file = it_open_rw(&d, "body");
	it_fill(data, size, 7, 0);
	CU_ASSERT_EQUAL_FATAL(pwrite(file, data, size, 0), (ssize_t)size);
	it_tcp_pair(&a, &b);
	it_bound_blocking_calls(a);
	CU_ASSERT_EQUAL(fcntl(b, F_SETFL, O_NONBLOCK), 0);
	splice_file_to_peer(ex, file, size, 0, b, a);
	splice_file_to_peer(ex, file, size, 4097, b, a);

	/* A full non-blocking socket: -EAGAIN, the pipe keeps its bytes. */
	{
		size_t held = 0, drained = 0;
		unsigned char *got = malloc(MiB);
		int64_t v;
		int err = 0;

		CU_ASSERT_PTR_NOT_NULL_FATAL(got);
		CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
		CU_ASSERT_EQUAL(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
		while (err == 0) {
			if (held == 0) {
				v = -1;
				CU_ASSERT_EQUAL_FATAL(
					splice_once(ex, file, 0, p[1],
						    size < 64 * KiB ? size
								    : 64 * KiB,
						    0, &v),
					0);
				CU_ASSERT_FATAL(v > 0);
				held = (size_t)v;
			}
			v = -1;
			err = splice_once(ex, p[0], -1, b, held, SPLICE_F_MOVE,
					  &v);
			if (err == 0) {
				CU_ASSERT_FATAL(v > 0 && (size_t)v <= held);
				held -= (size_t)v;
			}
		}
		CU_ASSERT_EQUAL(err, -EAGAIN);
		/* The peer reads what came: the socket is writable again. */
		for (;;) {
			ssize_t n = recv(a, got, MiB, MSG_DONTWAIT);

			if (n < 0 && errno == EAGAIN)
				break;
			CU_ASSERT_FATAL(n > 0);
			drained += (size_t)n;
		}
		CU_ASSERT(drained > 0);
		CU_ASSERT_EQUAL_FATAL(rp_poll(ex, b, POLLOUT, NULL, &f), 0);
		v = 0;
		CU_ASSERT_EQUAL(it_end(f, &v), 0);
		CU_ASSERT(v & POLLOUT);
		if (held) {
			v = -1;
			CU_ASSERT_EQUAL(splice_once(ex, p[0], -1, b, held,
						    SPLICE_F_MOVE, &v),
					0);
			CU_ASSERT(v > 0);
		}
		close(p[0]);
		close(p[1]);
		free(got);
	}

	/* What the call refuses. */
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	CU_ASSERT_EQUAL(rp_splice(ex, file, -2, p[1], -1, 1, 0, NULL, &f),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_splice(ex, file, 0, p[1], -2, 1, 0, NULL, &f),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_splice(ex, file, 0, p[1], -1, 1, 1u << 30, NULL,
				  &f),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_splice(ex, file, 0, p[1], -1, 1, 0, &fixed, &f),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_splice(NULL, file, 0, p[1], -1, 1, 0, NULL, &f),
			-EINVAL);
	/* And what the kernel refuses: neither side a pipe, a bad one. */
	CU_ASSERT_EQUAL(splice_once(ex, file, 0, a, 1, 0, NULL), -EINVAL);
	CU_ASSERT_EQUAL(splice_once(ex, -1, 0, p[1], 1, 0, NULL), -EBADF);
	close(p[0]);
	close(p[1]);
	close(a);
	close(b);
	close(file);
	it_dir_remove(&d);
	free(data);
	it_executor_free(ex);
}

/* ---- placing connections on rings (RP_IO_RING) ------------------------ */

#define PLACED_RINGS 3
#define PLACED_CONNS 7

struct placed {
	rp_executor *ex;
	int fd;
	char buf[8];
	char recv_thread[16], send_thread[16];
	_Atomic int sent; /* 0 while in flight, then 1 or a negative errno */
};

static void on_placed_sent(rp_future *f, void *arg)
{
	struct placed *c = arg;
	int64_t v = -1;
	int err = -1;

	pthread_getname_np(pthread_self(), c->send_thread,
			   sizeof(c->send_thread));
	CU_ASSERT_EQUAL(rp_future_result(f, 0, &v, &err), 0);
	atomic_store(&c->sent, err < 0 ? err : v == 4 ? 1 : -EIO);
}

/*
 * A server's callback: echoes what came, with no RP_IO_RING, so the send
 * goes to the ring the library picks for a callback, its own.
 */
static void on_placed_recv(rp_future *f, void *arg)
{
	struct placed *c = arg;
	rp_future *g = NULL;
	int64_t v = -1;
	int err = -1, ret;

	pthread_getname_np(pthread_self(), c->recv_thread,
			   sizeof(c->recv_thread));
	CU_ASSERT_EQUAL(rp_future_result(f, 0, &v, &err), 0);
	if (err < 0 || v != 4) {
		atomic_store(&c->sent, err < 0 ? err : -EIO);
		return;
	}
	ret = rp_send(c->ex, c->fd, c->buf, 4, 0, NULL, &g);
	if (ret == 0)
		ret = rp_future_add_done_callback(g, on_placed_sent, c);
	if (g)
		rp_future_unref(g);
	if (ret < 0)
		atomic_store(&c->sent, ret);
}

static void never_accepts(void *arg, int fd)
{
	(void)arg;
	(void)fd;
	CU_FAIL("an operation that was refused delivered a connection");
}

static void test_operations_placed_on_rings(void)
{
	struct rp_io_opts opts = { .flags = RP_IO_RING };
	struct placed conns[PLACED_CONNS];
	int clients[PLACED_CONNS];
	struct rp_config cfg;
	const char *skip = getenv("RINGPOOL_URING_SKIP");
	bool recv_skipped = skip && strstr(skip, "recv");
	rp_executor *ex;
	rp_future *f = NULL;
	bool uring;
	int backend = -1;
	unsigned i;

	rp_config_init(&cfg);
	cfg.rings = PLACED_RINGS;
	cfg.ring_mode = RP_RINGS_OWNED; /* callbacks on the rings' threads */
	ex = it_executor_new(&cfg);
	CU_ASSERT_EQUAL(rp_executor_backend(ex, &backend, NULL), 0);
	uring = backend == RP_BACKEND_URING;

	/* A ring that does not exist is refused on either backend. */
	opts.ring = PLACED_RINGS;
	CU_ASSERT_EQUAL(rp_nop(ex, &opts, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_accept_multishot(ex, 0, 0, never_accepts, NULL,
					    &opts, &f), -EINVAL);
	opts.ring = UINT32_MAX;
	CU_ASSERT_EQUAL(rp_nop(ex, &opts, &f), -EINVAL);
	/* The ring is the only flag a multishot operation takes. */
	opts.ring = 0;
	opts.flags = RP_IO_RING | RP_IO_FIXED_FILE;
	CU_ASSERT_EQUAL(rp_accept_multishot(ex, 0, 0, never_accepts, NULL,
					    &opts, &f), -EINVAL);
	opts.flags = RP_IO_RING;

	for (i = 0; i < PLACED_CONNS; i++) {
		struct placed *c = &conns[i];

		memset(c, 0, sizeof(*c));
		c->ex = ex;
		it_unix_pair(&clients[i], &c->fd);
		opts.ring = i % PLACED_RINGS;
		CU_ASSERT_EQUAL_FATAL(rp_recv(ex, c->fd, c->buf, sizeof(c->buf),
					      0, &opts, &f), 0);
		CU_ASSERT_EQUAL_FATAL(
			rp_future_add_done_callback(f, on_placed_recv, c), 0);
		rp_future_unref(f);
		/*
		 * Only now: a callback added to a future already done runs at
		 * once, on this thread.
		 */
		CU_ASSERT_EQUAL_FATAL(write(clients[i], "ping", 4), 4);
	}
	for (i = 0; i < PLACED_CONNS; i++) {
		struct placed *c = &conns[i];
		struct pollfd p = { .fd = clients[i], .events = POLLIN };
		char echo[8] = "";
		char want[16];
		int64_t until = tu_now_ns() + tu_stuck_timeout_ns();

		if (poll(&p, 1, (int)(tu_stuck_timeout_ns() / MS)) != 1)
			it_stuck("the echo of a placed connection");
		CU_ASSERT_EQUAL(read(clients[i], echo, sizeof(echo)), 4);
		CU_ASSERT(memcmp(echo, "ping", 4) == 0);
		while (atomic_load(&c->sent) == 0 && tu_now_ns() < until)
			usleep(1000);
		CU_ASSERT_EQUAL(atomic_load(&c->sent), 1);
		if (uring && recv_skipped) {
			/*
			 * recv ran on the blocking pool, as on a kernel
			 * without it.  (The send its callback made is on a
			 * ring, but its callback may have run at once on the
			 * pool's thread, had the send ended first.)
			 */
			CU_ASSERT_NSTRING_EQUAL(c->recv_thread, "rp-io", 5);
		} else if (uring) {
			/* Both callbacks ran on the ring it was placed on. */
			snprintf(want, sizeof(want), "rp-ring%u",
				 i % PLACED_RINGS);
			CU_ASSERT_STRING_EQUAL(c->recv_thread, want);
			CU_ASSERT_STRING_EQUAL(c->send_thread, want);
		}
		close(clients[i]);
		close(c->fd);
	}
	it_executor_free(ex);

	/* One ring by default: only index 0 exists. */
	ex = it_executor_new(NULL);
	opts.ring = 1;
	CU_ASSERT_EQUAL(rp_nop(ex, &opts, &f), -EINVAL);
	opts.ring = 0;
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, &opts, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), 0);
	it_executor_free(ex);
}

static const struct tu_test tests[] = {
	{ "socket_connect_accept_echo", test_socket_connect_accept_echo,
	  false },
	{ "socketpair_echo_round_trips", test_socketpair_echo_round_trips,
	  false },
	{ "socket_refuses_offsets_but_zero",
	  test_socket_refuses_offsets_but_zero, false },
	{ "waitall_recv_stopped_by_deadline_keeps_its_bytes",
	  test_waitall_recv_stopped_by_deadline_keeps_its_bytes, false },
	{ "send_to_a_closed_peer_is_epipe_without_sigpipe",
	  test_send_to_a_closed_peer_is_epipe_without_sigpipe, false },
	{ "recv_flags_pass_through", test_recv_flags_pass_through, false },
	{ "poll_first", test_poll_first, false },
	{ "poll_first_on_a_non_socket", test_poll_first_on_a_non_socket,
	  false },
	{ "socket_errors", test_socket_errors, false },
	{ "many_concurrent_connections", test_many_concurrent_connections,
	  false },
	{ "peer_reset", test_peer_reset, false },
	{ "connection_refused", test_connection_refused, false },
	{ "bulk_transfer", test_bulk_transfer, false },
	{ "splice", test_splice, false },
	{ "operations_placed_on_rings", test_operations_placed_on_rings,
	  false },
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	it_raise_nofile();
	return tu_run_tests(argc, argv, "io-net", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
