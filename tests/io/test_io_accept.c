/* SPDX-License-Identifier: MIT */
/*
 * Multishot accepts: rp_accept_multishot() on loopback TCP, every
 * connection delivered once, cancellation; an echo server built only from
 * multishot callbacks; and the invalid arguments and errors of both
 * multishot operations.  test_io_multishot.c has multishot receives.
 *
 * Registered three times: RINGPOOL_BACKEND=uring, RINGPOOL_BACKEND=threads
 * and shared rings.  With the fallback, each multishot operation holds one
 * blocking-I/O thread for as long as it runs, so tests that keep many of
 * them running raise rp_config::io_threads.  mshot.h says how callbacks
 * report what they see.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "mshot.h"
#include "ringpool.h"
#include "testutil.h"

/* tu_scaled(n), but at least `min`. */
static size_t scaled_min(size_t n, size_t min)
{
	n = tu_scaled(n);
	return n < min ? min : n;
}

/* ---- accept ------------------------------------------------------------ */

static void test_accept_delivers_each_connection_once(void)
{
	size_t n = scaled_min(50, 5), i, j;
	rp_executor *ex = it_executor_new(NULL);
	struct sockaddr_in addr;
	unsigned *ports;
	bool *seen;
	int *cfd, lfd;
	struct acc a;
	rp_future *f;

	cfd = calloc(n, sizeof(*cfd));
	ports = calloc(n, sizeof(*ports));
	seen = calloc(n, sizeof(*seen));
	CU_ASSERT_FATAL(cfd && ports && seen);
	ms_acc_init(&a, n);
	lfd = tu_tcp_listener(&addr, (int)n);
	f = ms_acc_start(ex, lfd, &a);

	for (i = 0; i < n; i++) {
		cfd[i] = it_tcp_connect(&addr);
		ports[i] = it_port_of(cfd[i], false);
	}
	it_latch_wait(&a.got, (unsigned)n, "the multishot accept's deliveries");

	/* Each delivered descriptor is the server end of one client. */
	pthread_mutex_lock(&a.lock);
	CU_ASSERT_EQUAL(a.n_fds, n);
	CU_ASSERT_EQUAL(a.overflow, 0);
	CU_ASSERT_EQUAL(a.bad_fd, 0);
	for (i = 0; i < a.n_fds; i++) {
		unsigned port = it_port_of(a.fds[i], true);

		for (j = 0; j < n && ports[j] != port; j++)
			;
		CU_ASSERT(j < n);
		if (j < n) {
			CU_ASSERT_FALSE(seen[j]);
			seen[j] = true;
		}
		/* And it is connected to that client. */
		CU_ASSERT_EQUAL(send(a.fds[i], "k", 1, MSG_NOSIGNAL), 1);
	}
	pthread_mutex_unlock(&a.lock);
	for (i = 0; i < n; i++) {
		char c = 0;

		CU_ASSERT(seen[i]);
		CU_ASSERT_EQUAL(recv(cfd[i], &c, 1, 0), 1);
		CU_ASSERT_EQUAL(c, 'k');
	}

	/* Still accepting until cancelled. */
	CU_ASSERT_FALSE(rp_future_done(f));
	ms_cancel_running(f);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(tu_latch_count(&a.got), n);
	CU_ASSERT_EQUAL(atomic_load(&a.late), 0);

	for (i = 0; i < n; i++)
		close(cfd[i]);
	close(lfd);
	it_executor_free(ex);
	ms_acc_destroy(&a);
	free(cfd);
	free(ports);
	free(seen);
}

static void test_accept_cancel_ends_cancelled_no_late_callback(void)
{
	enum { BEFORE = 3, AFTER = 3 };
	rp_executor *ex = it_executor_new(NULL);
	int cfd[BEFORE + AFTER], lfd, i;
	struct sockaddr_in addr;
	struct acc a;
	rp_future *f;

	ms_acc_init(&a, BEFORE + AFTER);
	lfd = tu_tcp_listener(&addr, BEFORE + AFTER);
	f = ms_acc_start(ex, lfd, &a);
	for (i = 0; i < BEFORE; i++)
		cfd[i] = it_tcp_connect(&addr);
	it_latch_wait(&a.got, BEFORE, "the multishot accept's deliveries");

	/* It is in flight: the cancel is a request, then it ends cancelled. */
	CU_ASSERT_EQUAL(rp_future_cancel(f), -EINPROGRESS);
	ms_cancel_running(f);
	CU_ASSERT_EQUAL(rp_future_result(f, 0, NULL, NULL), -ECANCELED);
	it_latch_wait(&a.ended, 1, "the done-callback");

	/*
	 * Connections made after the end stay in the listener's backlog: no
	 * callback took them.
	 */
	for (i = BEFORE; i < BEFORE + AFTER; i++)
		cfd[i] = it_tcp_connect(&addr);
	for (i = 0; i < AFTER; i++) {
		int s = it_accept_waiting(lfd);

		CU_ASSERT(s >= 0);
		if (s >= 0)
			close(s);
	}
	CU_ASSERT_EQUAL(tu_latch_count(&a.got), BEFORE);
	CU_ASSERT_EQUAL(atomic_load(&a.late), 0);
	/* Cancelling again changes nothing. */
	CU_ASSERT_EQUAL(rp_future_cancel(f), 0);
	CU_ASSERT(rp_future_cancelled(f));
	rp_future_unref(f);

	for (i = 0; i < BEFORE + AFTER; i++)
		close(cfd[i]);
	close(lfd);
	it_executor_free(ex);
	pthread_mutex_lock(&a.lock);
	CU_ASSERT_EQUAL(a.n_fds, BEFORE);
	CU_ASSERT_EQUAL(a.bad_fd, 0);
	pthread_mutex_unlock(&a.lock);
	ms_acc_destroy(&a);
}

static void test_accept_cancel_when_idle(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct sockaddr_in addr;
	int lfd, cfd, s;
	struct acc a;
	rp_future *f;

	ms_acc_init(&a, 1);
	lfd = tu_tcp_listener(&addr, 1);
	f = ms_acc_start(ex, lfd, &a);
	/* Queued or already waiting in the kernel: either way it ends. */
	ms_cancel_running(f);
	it_latch_wait(&a.ended, 1, "the done-callback");
	rp_future_unref(f);
	/* The listener is untouched. */
	cfd = it_tcp_connect(&addr);
	s = it_accept_waiting(lfd);
	CU_ASSERT(s >= 0);
	if (s >= 0)
		close(s);
	CU_ASSERT_EQUAL(tu_latch_count(&a.got), 0);
	close(cfd);
	close(lfd);
	it_executor_free(ex);
	ms_acc_destroy(&a);
}

/* ---- an echo server made of callbacks ---------------------------------- */

struct echo_srv {
	rp_executor *ex;
	atomic_uint accepted;
	atomic_uint errors;		/* failed calls, sends, receives */
	struct tu_latch closed;		/* one post per connection freed */
};

/*
 * One connection: what was received and not yet sent waits in `pend`; one
 * send at a time is in flight, from `out`, so the echo keeps the order.
 */
struct echo_conn {
	struct echo_srv *srv;
	int fd;
	pthread_mutex_t lock;
	char *pend, *out;
	size_t pend_len, pend_cap, out_len, out_off, out_cap;
	bool sending, recv_ended;
};

static void echo_conn_free(struct echo_conn *c)
{
	struct echo_srv *srv = c->srv;

	close(c->fd);
	free(c->pend);
	free(c->out);
	pthread_mutex_destroy(&c->lock);
	free(c);
	tu_latch_post(&srv->closed);
}

/* Moves `pend` into `out`; under the lock, with no send in flight. */
static void echo_swap(struct echo_conn *c)
{
	char *b = c->out;
	size_t cap = c->out_cap;

	c->out = c->pend;
	c->out_cap = c->pend_cap;
	c->out_len = c->pend_len;
	c->out_off = 0;
	c->pend = b;
	c->pend_cap = cap;
	c->pend_len = 0;
}

static void echo_sent(rp_future *f, void *arg);

/* Sends the rest of `out`; the caller owns the send (c->sending). */
static void echo_send(struct echo_conn *c)
{
	rp_future *f = NULL;
	bool fin;
	int ret;

	ret = rp_send(c->srv->ex, c->fd, c->out + c->out_off,
		      c->out_len - c->out_off, MSG_NOSIGNAL, NULL, &f);
	if (ret == 0)
		ret = rp_future_add_done_callback(f, echo_sent, c);
	if (ret == 0) {
		rp_future_unref(f);
		return;
	}
	/* Not queued (or, for a failed registration, not followed). */
	atomic_fetch_add(&c->srv->errors, 1);
	rp_future_unref(f);
	pthread_mutex_lock(&c->lock);
	c->sending = false;
	fin = c->recv_ended;
	pthread_mutex_unlock(&c->lock);
	if (fin)
		echo_conn_free(c);
}

static void echo_sent(rp_future *f, void *arg)
{
	struct echo_conn *c = arg;
	bool again = false, fin;
	int64_t v = 0;
	int err = 0, ret;

	/* Ended, so this does not wait. */
	ret = rp_future_result(f, 0, &v, &err);
	pthread_mutex_lock(&c->lock);
	if (ret || err || v <= 0) {
		atomic_fetch_add(&c->srv->errors, 1);
		c->sending = false;
	} else {
		c->out_off += (size_t)v;
		if (c->out_off < c->out_len) {
			again = true;
		} else if (c->pend_len) {
			echo_swap(c);
			again = true;
		} else {
			c->sending = false;
		}
	}
	fin = !c->sending && c->recv_ended;
	pthread_mutex_unlock(&c->lock);
	if (again)
		echo_send(c);
	else if (fin)
		echo_conn_free(c);
}

static void echo_recv(void *arg, const void *data, size_t len)
{
	struct echo_conn *c = arg;
	bool start = false;

	if (len == 0)
		return;		/* end of stream: echo_recv_ended() follows */
	pthread_mutex_lock(&c->lock);
	if (c->pend_len + len > c->pend_cap) {
		size_t cap = 2 * (c->pend_len + len);
		char *p = realloc(c->pend, cap);

		if (!p) {
			atomic_fetch_add(&c->srv->errors, 1);
			pthread_mutex_unlock(&c->lock);
			return;
		}
		c->pend = p;
		c->pend_cap = cap;
	}
	memcpy(c->pend + c->pend_len, data, len);
	c->pend_len += len;
	if (!c->sending) {
		echo_swap(c);
		c->sending = true;
		start = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (start)
		echo_send(c);
}

static void echo_recv_ended(rp_future *f, void *arg)
{
	struct echo_conn *c = arg;
	int64_t v = 0;
	int err = 0;
	bool fin;

	/* The client closes after its last echo: end of stream, error 0. */
	if (rp_future_result(f, 0, &v, &err) || err)
		atomic_fetch_add(&c->srv->errors, 1);
	pthread_mutex_lock(&c->lock);
	c->recv_ended = true;
	fin = !c->sending;
	pthread_mutex_unlock(&c->lock);
	if (fin)
		echo_conn_free(c);
}

static void echo_accept(void *arg, int fd)
{
	struct echo_srv *srv = arg;
	struct echo_conn *c;
	rp_future *f = NULL;
	int one = 1;

	atomic_fetch_add(&srv->accepted, 1);
	c = calloc(1, sizeof(*c));
	if (!c) {
		atomic_fetch_add(&srv->errors, 1);
		close(fd);
		tu_latch_post(&srv->closed);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	pthread_mutex_init(&c->lock, NULL);
	/* Echoes go out in pieces: no Nagle wait for the peer's delayed ACK. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rp_recv_multishot(srv->ex, fd, echo_recv, c, NULL, &f)) {
		atomic_fetch_add(&srv->errors, 1);
		echo_conn_free(c);
		return;
	}
	if (rp_future_add_done_callback(f, echo_recv_ended, c))
		atomic_fetch_add(&srv->errors, 1);
	rp_future_unref(f);
}

struct echo_client {
	struct sockaddr_in addr;
	size_t conns, rounds;
	unsigned failures;
	struct tu_latch finished;
};

static void *echo_client_main(void *p)
{
	static const size_t sizes[] = { 1, 5, 100, 1000, 4096, 4097, 9000,
					30000 };
	size_t n_sizes = sizeof(sizes) / sizeof(sizes[0]);
	struct echo_client *cl = p;
	unsigned char *msg = malloc(30000), *back = malloc(30000);
	int *fds = calloc(cl->conns, sizeof(*fds));
	size_t i, k;

	if (!msg || !back || !fds) {
		cl->failures++;
		goto out;
	}
	/* Every connection stays open for the whole run. */
	for (i = 0; i < cl->conns; i++) {
		struct timeval tv = {
			.tv_sec = (time_t)(tu_stuck_timeout_ns() / 1000000000),
		};

		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv,
			       sizeof(tv)) ||
		    setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv,
			       sizeof(tv)) ||
		    connect(fds[i], (struct sockaddr *)&cl->addr,
			    sizeof(cl->addr))) {
			cl->failures++;
			goto out;
		}
	}
	for (k = 0; k < cl->rounds; k++) {
		for (i = 0; i < cl->conns; i++) {
			size_t len = sizes[(k + i) % n_sizes];
			uint64_t seed = k * 1000 + i;

			it_fill(msg, len, seed, 0);
			if (!it_write_all(fds[i], msg, len) ||
			    !it_read_all(fds[i], back, len) ||
			    memcmp(msg, back, len) != 0) {
				fprintf(stderr, "echo: connection %zu round %zu "
					"(%zu bytes) wrong\n", i, k, len);
				cl->failures++;
				goto out;
			}
		}
	}
out:
	if (fds)
		for (i = 0; i < cl->conns; i++)
			if (fds[i] > 0)
				close(fds[i]);
	free(fds);
	free(msg);
	free(back);
	tu_latch_post(&cl->finished);
	return NULL;
}

static void test_echo_server_from_callbacks(void)
{
	struct echo_client cl = { .conns = 8, .rounds = scaled_min(40, 3) };
	struct echo_srv srv;
	struct rp_config cfg;
	pthread_t client;
	rp_future *fa = NULL;
	int lfd;

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.io_threads = 32;	/* the fallback: a thread per connection */
	srv.ex = it_executor_new(&cfg);
	atomic_init(&srv.accepted, 0);
	atomic_init(&srv.errors, 0);
	tu_latch_init(&srv.closed);
	tu_latch_init(&cl.finished);
	cl.failures = 0;
	lfd = tu_tcp_listener(&cl.addr, (int)cl.conns);
	CU_ASSERT_EQUAL_FATAL(rp_accept_multishot(srv.ex, lfd, SOCK_CLOEXEC,
						  echo_accept, &srv, NULL,
						  &fa), 0);

	CU_ASSERT_EQUAL_FATAL(pthread_create(&client, NULL, echo_client_main,
					     &cl), 0);
	if (!tu_latch_wait_for(&cl.finished, 1, 4 * tu_stuck_timeout_ns()))
		it_stuck("the echo client");
	pthread_join(client, NULL);
	CU_ASSERT_EQUAL(cl.failures, 0);
	/* The clients closed: every connection ends and is freed. */
	it_latch_wait(&srv.closed, (unsigned)cl.conns, "the echo connections");
	CU_ASSERT_EQUAL(atomic_load(&srv.accepted), cl.conns);
	CU_ASSERT_EQUAL(atomic_load(&srv.errors), 0);

	ms_cancel_running(fa);
	rp_future_unref(fa);
	close(lfd);
	it_executor_free(srv.ex);
	tu_latch_destroy(&srv.closed);
	tu_latch_destroy(&cl.finished);
}

/* ---- arguments and errors ---------------------------------------------- */

static void acc_nop(void *arg, int fd)
{
	(void)arg;
	close(fd);
}

static void rcv_nop(void *arg, const void *data, size_t len)
{
	(void)arg;
	(void)data;
	(void)len;
}

static void test_invalid_arguments_queue_nothing(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct rp_io_opts dl = { .timeout_ns = 1000 * MS };
	rp_future *sentinel = (rp_future *)(uintptr_t)0x1234, *f;
	struct sockaddr_in addr;
	int lfd, c, s, cfd, a;
	char buf[4];

	lfd = tu_tcp_listener(&addr, 4);
	it_tcp_pair(&c, &s);

	f = sentinel;
	CU_ASSERT_EQUAL(rp_accept_multishot(ex, lfd, 0, NULL, NULL, NULL, &f),
			-EINVAL);
	CU_ASSERT_PTR_EQUAL(f, sentinel);
	CU_ASSERT_EQUAL(rp_accept_multishot(ex, lfd, 0, acc_nop, NULL, &dl,
					    &f), -EINVAL);
	CU_ASSERT_PTR_EQUAL(f, sentinel);
	CU_ASSERT_EQUAL(rp_accept_multishot(NULL, lfd, 0, acc_nop, NULL, NULL,
					    &f), -EINVAL);
	CU_ASSERT_PTR_EQUAL(f, sentinel);
	CU_ASSERT_EQUAL(rp_accept_multishot(ex, lfd, 0, acc_nop, NULL, NULL,
					    NULL), -EINVAL);

	CU_ASSERT_EQUAL(rp_recv_multishot(ex, s, NULL, NULL, NULL, &f),
			-EINVAL);
	CU_ASSERT_PTR_EQUAL(f, sentinel);
	CU_ASSERT_EQUAL(rp_recv_multishot(ex, s, rcv_nop, NULL, &dl, &f),
			-EINVAL);
	CU_ASSERT_PTR_EQUAL(f, sentinel);
	CU_ASSERT_EQUAL(rp_recv_multishot(NULL, s, rcv_nop, NULL, NULL, &f),
			-EINVAL);
	CU_ASSERT_PTR_EQUAL(f, sentinel);
	CU_ASSERT_EQUAL(rp_recv_multishot(ex, s, rcv_nop, NULL, NULL, NULL),
			-EINVAL);

	/* Nothing took the connection or the data. */
	cfd = it_tcp_connect(&addr);
	a = it_accept_waiting(lfd);
	CU_ASSERT(a >= 0);
	CU_ASSERT_FATAL(it_write_all(c, "abc", 3));
	it_bound_blocking_calls(s);
	CU_ASSERT(it_read_all(s, buf, 3));
	CU_ASSERT(memcmp(buf, "abc", 3) == 0);

	if (a >= 0)
		close(a);
	close(cfd);
	close(c);
	close(s);
	close(lfd);
	it_executor_free(ex);
}

static void test_refused_after_shutdown(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	int c, s, lfd;
	struct sockaddr_in addr;

	lfd = tu_tcp_listener(&addr, 1);
	it_tcp_pair(&c, &s);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, 0), 0);
	CU_ASSERT_EQUAL(rp_accept_multishot(ex, lfd, 0, acc_nop, NULL, NULL,
					    &f), -ESHUTDOWN);
	CU_ASSERT_EQUAL(rp_recv_multishot(ex, s, rcv_nop, NULL, NULL, &f),
			-ESHUTDOWN);
	CU_ASSERT_PTR_NULL(f);
	close(c);
	close(s);
	close(lfd);
	it_executor_free(ex);
}

static void test_errors_end_the_future(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct acc a;
	struct rcv r;
	rp_future *f;
	int64_t v = -1;
	int fd, peer, err, i;

	/*
	 * Accepting on a socket that does not listen: one not connected, and
	 * one connected (on which the fallback used to wait for ever).
	 */
	for (i = 0; i < 2; i++) {
		peer = -1;
		ms_acc_init(&a, 1);
		if (i == 0) {
			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			CU_ASSERT_FATAL(fd >= 0);
		} else {
			it_unix_pair(&fd, &peer);
		}
		f = ms_acc_start(ex, fd, &a);
		v = -1;
		err = it_end(f, &v);
		CU_ASSERT_EQUAL(err, -EINVAL);
		CU_ASSERT_EQUAL(v, 0);
		it_latch_wait(&a.ended, 1, "the done-callback");
		CU_ASSERT_EQUAL(tu_latch_count(&a.got), 0);
		close(fd);
		if (peer >= 0)
			close(peer);
		ms_acc_destroy(&a);
	}

	/* Receiving on a descriptor that is not open. */
	ms_rcv_init(&r, 0, 0, false);
	f = ms_rcv_start(ex, -1, &r);
	v = -1;
	err = it_end(f, &v);
	CU_ASSERT_EQUAL(err, -EBADF);
	CU_ASSERT_EQUAL(v, 0);
	it_latch_wait(&r.ended, 1, "the done-callback");
	CU_ASSERT_EQUAL(r.calls + r.zero_calls, 0);
	ms_rcv_destroy(&r);

	it_executor_free(ex);
}

static const struct tu_test tests[] = {
	{ "accept_delivers_each_connection_once",
	  test_accept_delivers_each_connection_once, false },
	{ "accept_cancel_ends_cancelled_no_late_callback",
	  test_accept_cancel_ends_cancelled_no_late_callback, false },
	{ "accept_cancel_when_idle", test_accept_cancel_when_idle, false },
	{ "echo_server_from_callbacks", test_echo_server_from_callbacks,
	  false },
	{ "invalid_arguments_queue_nothing",
	  test_invalid_arguments_queue_nothing, false },
	{ "refused_after_shutdown", test_refused_after_shutdown, false },
	{ "errors_end_the_future", test_errors_end_the_future, false },
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	it_raise_nofile();
	return tu_run_tests(argc, argv, "io-accept", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
