/* SPDX-License-Identifier: MIT */
/*
 * Multishot I/O: rp_accept_multishot() and rp_recv_multishot() on loopback
 * TCP.  Every connection delivered once, data delivered whole and in order
 * with one last len-0 call at end of stream, cancellation, a peer's reset,
 * many connections receiving at once (more data than the io_uring backend's
 * provided buffers hold), an echo server built only from callbacks, invalid
 * arguments, errors of the operation, rp_executor_free() with multishot
 * operations still running, and receives stopped just as the io_uring
 * backend's buffers have run out.
 *
 * Registered twice: RINGPOOL_BACKEND=uring and RINGPOOL_BACKEND=threads.
 * With the fallback, each multishot operation holds one blocking-I/O thread
 * for as long as it runs, so tests that keep many of them running raise
 * rp_config::io_threads.
 *
 * Callbacks run on the ring's thread or a blocking-I/O thread, where CUnit's
 * assertions must not be used: they record what they see in their context
 * and the test thread checks it once the future has ended (the future's end
 * orders the callbacks' writes before the waiter's reads) or under a lock.
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

#include "iotest.h"
#include "ringpool.h"
#include "testutil.h"

/* The size of the buffers multishot receives land in (both backends). */
#define RECV_BUF_SIZE 4096

/* tu_scaled(n), but at least `min`. */
static size_t scaled_min(size_t n, size_t min)
{
	n = tu_scaled(n);
	return n < min ? min : n;
}

/* A client connected to `addr` with plain system calls. */
static int tcp_connect(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(connect(fd, (const struct sockaddr *)addr,
				      sizeof(*addr)), 0);
	return fd;
}

/* A connected TCP pair made with plain system calls. */
static void tcp_pair(int *client, int *server)
{
	struct sockaddr_in addr;
	int lfd = it_tcp_listener(&addr, 1);

	*client = tcp_connect(&addr);
	*server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	CU_ASSERT_FATAL(*server >= 0);
	close(lfd);
}

/* Makes the peer see a reset: SO_LINGER 0, then close. */
static void reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	CU_ASSERT_EQUAL(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
			0);
	CU_ASSERT_EQUAL(close(fd), 0);
}

/* The port a socket is bound to (own) or connected to (peer). */
static unsigned port_of(int fd, bool peer)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int ret = peer ? getpeername(fd, (struct sockaddr *)&a, &len) :
			 getsockname(fd, (struct sockaddr *)&a, &len);

	CU_ASSERT_EQUAL(ret, 0);
	return ret ? 0 : ntohs(a.sin_port);
}

/* Writes all of `buf` with plain blocking writes; false on an error. */
static bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "send: %s\n", strerror(errno));
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads exactly `len` bytes with plain blocking reads; false otherwise. */
static bool read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "recv: %s\n",
				n == 0 ? "end of stream" : strerror(errno));
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Bounds a client socket's blocking calls, so a bug fails, not hangs. */
static void bound_blocking_calls(int fd)
{
	int64_t ns = tu_stuck_timeout_ns();
	struct timeval tv = {
		.tv_sec = (time_t)(ns / 1000000000),
		.tv_usec = (suseconds_t)(ns % 1000000000 / 1000),
	};

	CU_ASSERT_EQUAL(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				   sizeof(tv)), 0);
	CU_ASSERT_EQUAL(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				   sizeof(tv)), 0);
}

/*
 * Takes a connection waiting in `lfd`'s backlog (with plain accept4), or
 * returns -1 when none comes within the stuck timeout.
 */
static int accept_waiting(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int ms = (int)(tu_stuck_timeout_ns() / MS);

	if (poll(&p, 1, ms) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

/* Waits on a latch for the stuck timeout, or reports the library stuck. */
static void latch_wait(struct tu_latch *l, unsigned target, const char *what)
{
	if (!tu_latch_wait_for(l, target, tu_stuck_timeout_ns()))
		it_stuck(what);
}

/* ---- a multishot accept's callback context ----------------------------- */

struct acc {
	pthread_mutex_t lock;
	int *fds;			/* delivered descriptors */
	size_t n_fds, cap;
	unsigned overflow;		/* deliveries past `cap` */
	unsigned bad_fd;		/* invalid or without FD_CLOEXEC */
	atomic_bool done;		/* set by the future's done-callback */
	atomic_uint late;		/* deliveries after the end */
	struct tu_latch got;		/* one post per delivery */
	struct tu_latch ended;		/* posted by the done-callback */
};

static void acc_init(struct acc *a, size_t cap)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	a->fds = calloc(cap ? cap : 1, sizeof(*a->fds));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a->fds);
	a->cap = cap;
	atomic_init(&a->done, false);
	atomic_init(&a->late, 0);
	tu_latch_init(&a->got);
	tu_latch_init(&a->ended);
}

/* Closes the delivered descriptors and frees the context. */
static void acc_destroy(struct acc *a)
{
	size_t i;

	for (i = 0; i < a->n_fds; i++)
		close(a->fds[i]);
	free(a->fds);
	tu_latch_destroy(&a->got);
	tu_latch_destroy(&a->ended);
	pthread_mutex_destroy(&a->lock);
}

static void acc_fn(void *arg, int fd)
{
	struct acc *a = arg;
	int fl = fd >= 0 ? fcntl(fd, F_GETFD) : -1;

	if (atomic_load(&a->done))
		atomic_fetch_add(&a->late, 1);
	pthread_mutex_lock(&a->lock);
	if (fl < 0 || !(fl & FD_CLOEXEC))
		a->bad_fd++;
	if (fd >= 0 && a->n_fds < a->cap)
		a->fds[a->n_fds++] = fd;
	else if (fd >= 0) {
		a->overflow++;
		close(fd);
	}
	pthread_mutex_unlock(&a->lock);
	tu_latch_post(&a->got);
}

static void acc_done(rp_future *f, void *arg)
{
	struct acc *a = arg;

	(void)f;
	atomic_store(&a->done, true);
	tu_latch_post(&a->ended);
}

/* Starts a multishot accept on `lfd` delivering to `a`. */
static rp_future *acc_start(rp_executor *ex, int lfd, struct acc *a)
{
	rp_future *f = NULL;

	CU_ASSERT_EQUAL_FATAL(rp_accept_multishot(ex, lfd, SOCK_CLOEXEC, acc_fn,
						  a, NULL, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL_FATAL(rp_future_add_done_callback(f, acc_done, a), 0);
	return f;
}

/* Cancels an operation that runs and checks that it ends cancelled. */
static void cancel_running(rp_future *f)
{
	int ret = rp_future_cancel(f);
	int64_t v = -1;
	int error = 0;

	CU_ASSERT(ret == -EINPROGRESS || ret == 0);
	ret = rp_future_result(f, tu_stuck_timeout_ns(), &v, &error);
	if (ret == -ETIMEDOUT)
		it_stuck("a cancelled multishot operation");
	if (ret != -ECANCELED)
		fprintf(stderr, "after cancel: result %d, error %d, value %lld\n",
			ret, error, (long long)v);
	CU_ASSERT_EQUAL(ret, -ECANCELED);
	CU_ASSERT(rp_future_done(f));
	CU_ASSERT(rp_future_cancelled(f));
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
	acc_init(&a, n);
	lfd = it_tcp_listener(&addr, (int)n);
	f = acc_start(ex, lfd, &a);

	for (i = 0; i < n; i++) {
		cfd[i] = tcp_connect(&addr);
		ports[i] = port_of(cfd[i], false);
	}
	latch_wait(&a.got, (unsigned)n, "the multishot accept's deliveries");

	/* Each delivered descriptor is the server end of one client. */
	pthread_mutex_lock(&a.lock);
	CU_ASSERT_EQUAL(a.n_fds, n);
	CU_ASSERT_EQUAL(a.overflow, 0);
	CU_ASSERT_EQUAL(a.bad_fd, 0);
	for (i = 0; i < a.n_fds; i++) {
		unsigned port = port_of(a.fds[i], true);

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
	cancel_running(f);
	rp_future_unref(f);
	CU_ASSERT_EQUAL(tu_latch_count(&a.got), n);
	CU_ASSERT_EQUAL(atomic_load(&a.late), 0);

	for (i = 0; i < n; i++)
		close(cfd[i]);
	close(lfd);
	it_executor_free(ex);
	acc_destroy(&a);
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

	acc_init(&a, BEFORE + AFTER);
	lfd = it_tcp_listener(&addr, BEFORE + AFTER);
	f = acc_start(ex, lfd, &a);
	for (i = 0; i < BEFORE; i++)
		cfd[i] = tcp_connect(&addr);
	latch_wait(&a.got, BEFORE, "the multishot accept's deliveries");

	/* It is in flight: the cancel is a request, then it ends cancelled. */
	CU_ASSERT_EQUAL(rp_future_cancel(f), -EINPROGRESS);
	cancel_running(f);
	CU_ASSERT_EQUAL(rp_future_result(f, 0, NULL, NULL), -ECANCELED);
	latch_wait(&a.ended, 1, "the done-callback");

	/*
	 * Connections made after the end stay in the listener's backlog: no
	 * callback took them.
	 */
	for (i = BEFORE; i < BEFORE + AFTER; i++)
		cfd[i] = tcp_connect(&addr);
	for (i = 0; i < AFTER; i++) {
		int s = accept_waiting(lfd);

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
	acc_destroy(&a);
}

static void test_accept_cancel_when_idle(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct sockaddr_in addr;
	int lfd, cfd, s;
	struct acc a;
	rp_future *f;

	acc_init(&a, 1);
	lfd = it_tcp_listener(&addr, 1);
	f = acc_start(ex, lfd, &a);
	/* Queued or already waiting in the kernel: either way it ends. */
	cancel_running(f);
	latch_wait(&a.ended, 1, "the done-callback");
	rp_future_unref(f);
	/* The listener is untouched. */
	cfd = tcp_connect(&addr);
	s = accept_waiting(lfd);
	CU_ASSERT(s >= 0);
	if (s >= 0)
		close(s);
	CU_ASSERT_EQUAL(tu_latch_count(&a.got), 0);
	close(cfd);
	close(lfd);
	it_executor_free(ex);
	acc_destroy(&a);
}

/* ---- a multishot recv's callback context ------------------------------- */

struct rcv {
	unsigned char *buf;		/* what arrived, when kept */
	size_t cap;
	size_t got;			/* bytes delivered */
	atomic_size_t bytes;		/* the same, for other threads */
	uint64_t seed;			/* when checking it_fill()'s pattern */
	bool check_pattern;
	bool pattern_ok;
	unsigned calls;			/* calls with data */
	unsigned zero_calls;		/* calls with len 0 */
	unsigned after_zero;		/* calls after a len-0 call */
	unsigned too_long;		/* calls with more than a buffer */
	unsigned overflow;		/* bytes past `cap` */
	atomic_bool done;		/* set by the future's done-callback */
	atomic_uint late;		/* calls after the end */
	unsigned zero_at_done;		/* zero_calls seen by the done-callback */
	struct tu_latch data;		/* one post per call with data */
	struct tu_latch ended;		/* posted by the done-callback */
};

static void rcv_init(struct rcv *r, size_t cap, uint64_t seed, bool check)
{
	memset(r, 0, sizeof(*r));
	if (cap) {
		r->buf = malloc(cap);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r->buf);
	}
	r->cap = cap;
	r->seed = seed;
	r->check_pattern = check;
	r->pattern_ok = true;
	atomic_init(&r->bytes, 0);
	atomic_init(&r->done, false);
	atomic_init(&r->late, 0);
	tu_latch_init(&r->data);
	tu_latch_init(&r->ended);
}

static void rcv_destroy(struct rcv *r)
{
	free(r->buf);
	tu_latch_destroy(&r->data);
	tu_latch_destroy(&r->ended);
}

static void rcv_fn(void *arg, const void *data, size_t len)
{
	struct rcv *r = arg;

	if (atomic_load(&r->done))
		atomic_fetch_add(&r->late, 1);
	if (r->zero_calls)
		r->after_zero++;
	if (len == 0) {
		r->zero_calls++;
		return;
	}
	if (len > RECV_BUF_SIZE)
		r->too_long++;
	if (r->check_pattern && !it_check(data, len, r->seed, r->got))
		r->pattern_ok = false;
	if (r->buf && r->got + len <= r->cap)
		memcpy(r->buf + r->got, data, len);
	else if (r->buf)
		r->overflow += (unsigned)len;
	r->got += len;
	atomic_store(&r->bytes, r->got);
	r->calls++;
	tu_latch_post(&r->data);
}

static void rcv_done(rp_future *f, void *arg)
{
	struct rcv *r = arg;

	(void)f;
	r->zero_at_done = r->zero_calls;
	atomic_store(&r->done, true);
	tu_latch_post(&r->ended);
}

/* Waits until `r` has been given at least `n` bytes. */
static void rcv_wait_bytes(struct rcv *r, size_t n)
{
	while (atomic_load(&r->bytes) < n) {
		unsigned k = tu_latch_count(&r->data);

		if (atomic_load(&r->bytes) >= n)
			break;
		latch_wait(&r->data, k + 1, "a multishot recv's delivery");
	}
}

/* Starts a multishot recv on `fd` delivering to `r`. */
static rp_future *rcv_start(rp_executor *ex, int fd, struct rcv *r)
{
	struct rp_io_opts opts = { .timeout_ns = 0 };	/* no deadline: fine */
	rp_future *f = NULL;

	CU_ASSERT_EQUAL_FATAL(rp_recv_multishot(ex, fd, rcv_fn, r, &opts, &f),
			      0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL_FATAL(rp_future_add_done_callback(f, rcv_done, r), 0);
	return f;
}

/* ---- recv -------------------------------------------------------------- */

static void test_recv_delivers_bytes_in_order_then_eof(void)
{
	static const size_t sizes[] = {
		1, 2, 3, 100, 4095, 4096, 4097, 1, 8192, 10000, 65536, 7,
		200000, 12289, 1, 4096 * 3 + 1, 30000,
	};
	size_t n_sizes = sizeof(sizes) / sizeof(sizes[0]);
	size_t reps = scaled_min(4, 1), total = 0, off = 0, i, k;
	rp_executor *ex = it_executor_new(NULL);
	unsigned char *out;
	int64_t v = -1;
	struct rcv r;
	rp_future *f;
	int c, s;

	for (k = 0; k < reps; k++)
		for (i = 0; i < n_sizes; i++)
			total += sizes[i];
	out = malloc(total);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	it_fill(out, total, 42, 0);
	rcv_init(&r, total, 42, true);
	tcp_pair(&c, &s);
	f = rcv_start(ex, s, &r);

	/* Writes of mixed sizes, each one send(2) of its own... */
	for (k = 0; k < reps; k++) {
		for (i = 0; i < n_sizes; i++) {
			CU_ASSERT_FATAL(write_all(c, out + off, sizes[i]));
			off += sizes[i];
		}
	}
	/* ...then end of stream. */
	CU_ASSERT_EQUAL(shutdown(c, SHUT_WR), 0);

	CU_ASSERT_EQUAL(it_result(f, &v), 0);
	CU_ASSERT_FALSE(rp_future_cancelled(f));
	CU_ASSERT_EQUAL(v, (int64_t)total);
	CU_ASSERT_EQUAL(r.got, total);
	CU_ASSERT_EQUAL(r.overflow, 0);
	CU_ASSERT(r.pattern_ok);
	CU_ASSERT(memcmp(r.buf, out, total) == 0);
	/* At most one buffer a call: the big writes arrived split. */
	CU_ASSERT_EQUAL(r.too_long, 0);
	CU_ASSERT(r.calls >= (total + RECV_BUF_SIZE - 1) / RECV_BUF_SIZE);
	/* One len-0 call, the last one, before the future ended. */
	CU_ASSERT_EQUAL(r.zero_calls, 1);
	CU_ASSERT_EQUAL(r.after_zero, 0);
	latch_wait(&r.ended, 1, "the done-callback");
	CU_ASSERT_EQUAL(r.zero_at_done, 1);
	CU_ASSERT_EQUAL(atomic_load(&r.late), 0);
	rp_future_unref(f);

	close(c);
	close(s);
	it_executor_free(ex);
	rcv_destroy(&r);
	free(out);
}

/*
 * Holds the ring's thread (or, with the fallback, one blocking-I/O thread)
 * in a recv callback until the test opens the gate, so that data piles up
 * in many sockets before any of it is received.  Only a test does this: a
 * callback must not block.  The wait is bounded.  (A done-callback would not
 * do: registered on a future that has already ended, it runs at once on the
 * registering thread.)
 */
struct gate {
	struct tu_latch entered;
	struct tu_latch open;
	atomic_bool timed_out;
	atomic_uint calls;
};

static void gate_fn(void *arg, const void *data, size_t len)
{
	struct gate *g = arg;

	(void)data;
	if (len == 0 || atomic_fetch_add(&g->calls, 1) > 0)
		return;
	tu_latch_post(&g->entered);
	if (!tu_latch_wait_for(&g->open, 1, tu_stuck_timeout_ns()))
		atomic_store(&g->timed_out, true);
}

static void test_many_connections_data_intact(void)
{
	/*
	 * Well over the 256 buffers of a ring in flight at once, so that the
	 * kernel runs out of them and the receives must be re-armed
	 * (-ENOBUFS).  Each connection needs many buffers of its own: the
	 * kernel runs a limited batch of the ring's deferred receives per
	 * io_uring_enter, and between batches the ring thread gives buffers
	 * back (16 or 32 KiB a connection never ran out; 64 KiB did).
	 */
	size_t n = tu_under_valgrind() ? 10 : 100;
	size_t per = tu_under_valgrind() ? 128 * 1024 : 64 * 1024;
	size_t limit = it_raise_nofile(), i, *sent;
	struct rp_config cfg;
	rp_executor *ex;
	rp_future **fs, *gf = NULL;
	unsigned char *out;
	struct rcv *r;
	struct gate g;
	int *c, *s, gc, gs;
	int64_t v = -1;
	bool progress;

	if (2 * n + 100 > limit) {
		n = (limit - 100) / 2;
		printf("\n    only %zu connections: RLIMIT_NOFILE is %zu\n", n,
		       limit);
	}
	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.io_threads = (unsigned)n + 16;	/* the fallback: all at once */
	ex = it_executor_new(&cfg);
	c = calloc(n, sizeof(*c));
	s = calloc(n, sizeof(*s));
	fs = calloc(n, sizeof(*fs));
	r = calloc(n, sizeof(*r));
	sent = calloc(n, sizeof(*sent));
	out = malloc(n * per);
	CU_ASSERT_FATAL(c && s && fs && r && sent && out);
	tu_latch_init(&g.entered);
	tu_latch_init(&g.open);
	atomic_init(&g.timed_out, false);
	atomic_init(&g.calls, 0);

	for (i = 0; i < n; i++) {
		tcp_pair(&c[i], &s[i]);
		it_fill(out + i * per, per, 1000 + i, 0);
		rcv_init(&r[i], 0, 1000 + i, true);
		fs[i] = rcv_start(ex, s[i], &r[i]);
	}
	/* Queued after the receives, so they are armed when it holds. */
	tcp_pair(&gc, &gs);
	CU_ASSERT_EQUAL_FATAL(rp_recv_multishot(ex, gs, gate_fn, &g, NULL, &gf),
			      0);
	CU_ASSERT_FATAL(write_all(gc, "g", 1));
	latch_wait(&g.entered, 1, "the gate");

	/* Every client writes what its socket takes without waiting... */
	do {
		progress = false;
		for (i = 0; i < n; i++) {
			ssize_t k;

			if (sent[i] == per)
				continue;
			k = send(c[i], out + i * per + sent[i], per - sent[i],
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (k > 0) {
				sent[i] += (size_t)k;
				progress = true;
			}
		}
	} while (progress);
	/* ...then the receives run, and the clients finish and close. */
	tu_latch_post(&g.open);
	for (i = 0; i < n; i++) {
		CU_ASSERT_FATAL(write_all(c[i], out + i * per + sent[i],
					  per - sent[i]));
		CU_ASSERT_EQUAL(shutdown(c[i], SHUT_WR), 0);
	}

	for (i = 0; i < n; i++) {
		v = -1;
		CU_ASSERT_EQUAL(it_result(fs[i], &v), 0);
		CU_ASSERT_EQUAL(v, (int64_t)per);
		CU_ASSERT_EQUAL(r[i].got, per);
		CU_ASSERT(r[i].pattern_ok);
		CU_ASSERT_EQUAL(r[i].too_long, 0);
		CU_ASSERT_EQUAL(r[i].zero_calls, 1);
		CU_ASSERT_EQUAL(r[i].after_zero, 0);
		CU_ASSERT_EQUAL(atomic_load(&r[i].late), 0);
		if (r[i].got != per || !r[i].pattern_ok)
			fprintf(stderr, "connection %zu: %zu of %zu bytes, "
				"pattern %s\n", i, r[i].got, per,
				r[i].pattern_ok ? "ok" : "wrong");
		rp_future_unref(fs[i]);
	}
	CU_ASSERT_EQUAL(shutdown(gc, SHUT_WR), 0);
	CU_ASSERT_EQUAL(it_end(gf, &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_FALSE(atomic_load(&g.timed_out));
	close(gc);
	close(gs);

	for (i = 0; i < n; i++) {
		close(c[i]);
		close(s[i]);
	}
	it_executor_free(ex);
	for (i = 0; i < n; i++) {
		latch_wait(&r[i].ended, 1, "a done-callback");
		rcv_destroy(&r[i]);
	}
	tu_latch_destroy(&g.entered);
	tu_latch_destroy(&g.open);
	free(c);
	free(s);
	free(fs);
	free(r);
	free(sent);
	free(out);
}

static void test_recv_cancel_on_idle_socket(void)
{
	rp_executor *ex = it_executor_new(NULL);
	char buf[8] = { 0 };
	struct rcv r;
	rp_future *f;
	int c, s;

	rcv_init(&r, 64, 0, false);
	tcp_pair(&c, &s);
	f = rcv_start(ex, s, &r);
	/* A first delivery shows it is in flight, then the socket idles. */
	CU_ASSERT_FATAL(write_all(c, "hello", 5));
	rcv_wait_bytes(&r, 5);
	CU_ASSERT_EQUAL(rp_future_cancel(f), -EINPROGRESS);
	cancel_running(f);
	latch_wait(&r.ended, 1, "the done-callback");
	CU_ASSERT_EQUAL(r.got, 5);
	CU_ASSERT(memcmp(r.buf, "hello", 5) == 0);
	CU_ASSERT_EQUAL(r.zero_calls, 0);

	/* Data sent after the end is left in the socket. */
	CU_ASSERT_FATAL(write_all(c, "later", 5));
	bound_blocking_calls(s);
	CU_ASSERT(read_all(s, buf, 5));
	CU_ASSERT(memcmp(buf, "later", 5) == 0);
	CU_ASSERT_EQUAL(r.got, 5);
	CU_ASSERT_EQUAL(atomic_load(&r.late), 0);
	rp_future_unref(f);

	close(c);
	close(s);
	it_executor_free(ex);
	rcv_destroy(&r);
}

/* A client that writes as fast as it can until told to stop. */
struct flood {
	int fd;
	atomic_bool stop;
	size_t sent;
	pthread_t thread;
};

static void *flood_main(void *p)
{
	struct flood *fl = p;
	static char chunk[65536];

	memset(chunk, 'x', sizeof(chunk));
	while (!atomic_load(&fl->stop)) {
		struct pollfd pfd = { .fd = fl->fd, .events = POLLOUT };
		ssize_t n = send(fl->fd, chunk, sizeof(chunk),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			fl->sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
		else
			(void)poll(&pfd, 1, 10);
	}
	return NULL;
}

static void test_recv_cancel_while_data_flows(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct flood fl;
	struct rcv r;
	rp_future *f;
	int64_t v = -1;
	unsigned calls;
	int c, s, ret, err = 0;

	rcv_init(&r, 0, 0, false);
	tcp_pair(&c, &s);
	f = rcv_start(ex, s, &r);
	fl.fd = c;
	fl.sent = 0;
	atomic_init(&fl.stop, false);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&fl.thread, NULL, flood_main,
					     &fl), 0);
	latch_wait(&r.data, 10, "the first deliveries");

	/* The stream never pauses; the cancel must stop it all the same. */
	CU_ASSERT_EQUAL(rp_future_cancel(f), -EINPROGRESS);
	ret = rp_future_result(f, tu_stuck_timeout_ns(), &v, &err);
	if (ret == -ETIMEDOUT)
		fprintf(stderr, "cancelled multishot recv still running after "
			"%lld ms of continuous data (%u calls)\n",
			(long long)(tu_stuck_timeout_ns() / MS),
			tu_latch_count(&r.data));
	CU_ASSERT_EQUAL(ret, -ECANCELED);
	/* Let it end whatever happened, then stop the client. */
	atomic_store(&fl.stop, true);
	pthread_join(fl.thread, NULL);
	if (ret == -ETIMEDOUT)
		(void)it_result(f, NULL);
	latch_wait(&r.ended, 1, "the done-callback");
	CU_ASSERT(rp_future_cancelled(f));
	calls = tu_latch_count(&r.data);
	CU_ASSERT(calls >= 10);
	CU_ASSERT_EQUAL(r.zero_calls, 0);
	CU_ASSERT_EQUAL(atomic_load(&r.late), 0);
	rp_future_unref(f);

	close(c);
	close(s);
	it_executor_free(ex);
	rcv_destroy(&r);
}

static void test_recv_peer_reset_ends_once(void)
{
	rp_executor *ex = it_executor_new(NULL);
	int64_t v = -1;
	struct rcv r;
	rp_future *f;
	int c, s, err;

	rcv_init(&r, 64, 0, false);
	tcp_pair(&c, &s);
	f = rcv_start(ex, s, &r);
	CU_ASSERT_FATAL(write_all(c, "0123456789", 10));
	rcv_wait_bytes(&r, 10);
	reset(c);

	err = it_result(f, &v);
	CU_ASSERT_FALSE(rp_future_cancelled(f));
	/* Exactly one of the two outcomes: the reset, or end of stream. */
	if (err == -ECONNRESET) {
		CU_ASSERT_EQUAL(r.zero_calls, 0);
	} else {
		CU_ASSERT_EQUAL(err, 0);
		CU_ASSERT_EQUAL(r.zero_calls, 1);
		CU_ASSERT_EQUAL(r.after_zero, 0);
	}
	if (err != -ECONNRESET && err != 0)
		fprintf(stderr, "multishot recv after reset: error %d\n", err);
	CU_ASSERT_EQUAL(v, 10);
	CU_ASSERT_EQUAL(r.got, 10);
	CU_ASSERT(memcmp(r.buf, "0123456789", 10) == 0);
	latch_wait(&r.ended, 1, "the done-callback");
	CU_ASSERT_EQUAL(atomic_load(&r.late), 0);
	rp_future_unref(f);

	close(s);
	it_executor_free(ex);
	rcv_destroy(&r);
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
			if (!write_all(fds[i], msg, len) ||
			    !read_all(fds[i], back, len) ||
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
	lfd = it_tcp_listener(&cl.addr, (int)cl.conns);
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
	latch_wait(&srv.closed, (unsigned)cl.conns, "the echo connections");
	CU_ASSERT_EQUAL(atomic_load(&srv.accepted), cl.conns);
	CU_ASSERT_EQUAL(atomic_load(&srv.errors), 0);

	cancel_running(fa);
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

	lfd = it_tcp_listener(&addr, 4);
	tcp_pair(&c, &s);

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
	cfd = tcp_connect(&addr);
	a = accept_waiting(lfd);
	CU_ASSERT(a >= 0);
	CU_ASSERT_FATAL(write_all(c, "abc", 3));
	bound_blocking_calls(s);
	CU_ASSERT(read_all(s, buf, 3));
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

	lfd = it_tcp_listener(&addr, 1);
	tcp_pair(&c, &s);
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
	int fd, err;

	/* Accepting on a socket that does not listen. */
	acc_init(&a, 1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0);
	f = acc_start(ex, fd, &a);
	err = it_end(f, &v);
	CU_ASSERT_EQUAL(err, -EINVAL);
	CU_ASSERT_EQUAL(v, 0);
	latch_wait(&a.ended, 1, "the done-callback");
	CU_ASSERT_EQUAL(tu_latch_count(&a.got), 0);
	close(fd);
	acc_destroy(&a);

	/* Receiving on a descriptor that is not open. */
	rcv_init(&r, 0, 0, false);
	f = rcv_start(ex, -1, &r);
	v = -1;
	err = it_end(f, &v);
	CU_ASSERT_EQUAL(err, -EBADF);
	CU_ASSERT_EQUAL(v, 0);
	latch_wait(&r.ended, 1, "the done-callback");
	CU_ASSERT_EQUAL(r.calls + r.zero_calls, 0);
	rcv_destroy(&r);

	it_executor_free(ex);
}

/* ---- rp_executor_free -------------------------------------------------- */

struct freer {
	rp_executor *ex;
	int ret;
	struct tu_latch done;
};

static void *freer_main(void *p)
{
	struct freer *fr = p;

	fr->ret = rp_executor_free(fr->ex);
	tu_latch_post(&fr->done);
	return NULL;
}

static void test_executor_free_ends_running_multishots(void)
{
	enum { N = 4 };
	rp_executor *ex = it_executor_new(NULL);
	int c[N], s[N], lfd, cfd, i;
	struct sockaddr_in addr;
	rp_future *fa, *fr[N];
	struct freer fre;
	pthread_t t;
	struct rcv r[N];
	struct acc a;

	acc_init(&a, 1);
	lfd = it_tcp_listener(&addr, 4);
	fa = acc_start(ex, lfd, &a);
	cfd = tcp_connect(&addr);
	latch_wait(&a.got, 1, "the multishot accept's delivery");
	for (i = 0; i < N; i++) {
		rcv_init(&r[i], 64, 0, false);
		tcp_pair(&c[i], &s[i]);
		fr[i] = rcv_start(ex, s[i], &r[i]);
		CU_ASSERT_FATAL(write_all(c[i], "ping", 4));
		rcv_wait_bytes(&r[i], 4);
	}

	/* Every one of them is running and idle: free must stop them. */
	fre.ex = ex;
	fre.ret = -1;
	tu_latch_init(&fre.done);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, freer_main, &fre), 0);
	if (!tu_latch_wait_for(&fre.done, 1, 2 * tu_stuck_timeout_ns()))
		it_stuck("rp_executor_free with multishot operations");
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(fre.ret, 0);

	CU_ASSERT(rp_future_done(fa));
	CU_ASSERT(rp_future_cancelled(fa));
	CU_ASSERT_EQUAL(rp_future_result(fa, 0, NULL, NULL), -ECANCELED);
	CU_ASSERT_EQUAL(tu_latch_count(&a.ended), 1);
	CU_ASSERT_EQUAL(atomic_load(&a.late), 0);
	rp_future_unref(fa);
	for (i = 0; i < N; i++) {
		CU_ASSERT(rp_future_done(fr[i]));
		CU_ASSERT(rp_future_cancelled(fr[i]));
		CU_ASSERT_EQUAL(rp_future_result(fr[i], 0, NULL, NULL),
				-ECANCELED);
		CU_ASSERT_EQUAL(tu_latch_count(&r[i].ended), 1);
		CU_ASSERT_EQUAL(r[i].got, 4);
		CU_ASSERT_EQUAL(r[i].zero_calls, 0);
		CU_ASSERT_EQUAL(atomic_load(&r[i].late), 0);
		rp_future_unref(fr[i]);
		close(c[i]);
		close(s[i]);
		rcv_destroy(&r[i]);
	}
	close(cfd);
	close(lfd);
	acc_destroy(&a);
	tu_latch_destroy(&fre.done);
}

/* ---- stopped while the buffers have run out ---------------------------- */

/*
 * Receives stopped at a moment when the kernel has just run out of provided
 * buffers for some of them.  Two gates on the ring's thread set it up:
 * while gate A holds the thread, gate B's byte and then a burst of data for
 * `n` connections arrive; when A opens, the kernel runs those receives in
 * the order their data came, so gate B's completion comes before the
 * receives' data and their -ENOBUFS in the same batch.  While gate B holds
 * the thread, the test stops the receives; then B opens and the ring thread
 * goes on with the completions already there.  With the fallback the gates
 * only hold two blocking-I/O threads and nothing runs out.
 */
struct burst {
	rp_executor *ex;
	size_t n, per;
	int ga[2], gb[2];		/* gate sockets: client, server */
	struct gate a, b;
	struct rcv ra, rb;		/* unused contexts for the gates' ends */
	rp_future *fa, *fb;
	int *c, *s;
	struct rcv *r;
	rp_future **fs;
	unsigned char *out;
};

static void burst_start(struct burst *bu)
{
	struct rp_config cfg;
	size_t i, *sent;
	bool progress;

	bu->n = tu_under_valgrind() ? 10 : 30;
	bu->per = tu_under_valgrind() ? 128 * 1024 : 64 * 1024;
	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.io_threads = (unsigned)bu->n + 16;
	bu->ex = it_executor_new(&cfg);
	bu->c = calloc(bu->n, sizeof(*bu->c));
	bu->s = calloc(bu->n, sizeof(*bu->s));
	bu->r = calloc(bu->n, sizeof(*bu->r));
	bu->fs = calloc(bu->n, sizeof(*bu->fs));
	bu->out = malloc(bu->per);
	sent = calloc(bu->n, sizeof(*sent));
	CU_ASSERT_FATAL(bu->c && bu->s && bu->r && bu->fs && bu->out && sent);
	memset(bu->out, 'z', bu->per);

	for (i = 0; i < bu->n; i++) {
		tcp_pair(&bu->c[i], &bu->s[i]);
		rcv_init(&bu->r[i], 0, 0, false);
		bu->fs[i] = rcv_start(bu->ex, bu->s[i], &bu->r[i]);
	}
	tu_latch_init(&bu->a.entered);
	tu_latch_init(&bu->a.open);
	tu_latch_init(&bu->b.entered);
	tu_latch_init(&bu->b.open);
	atomic_init(&bu->a.timed_out, false);
	atomic_init(&bu->b.timed_out, false);
	atomic_init(&bu->a.calls, 0);
	atomic_init(&bu->b.calls, 0);
	tcp_pair(&bu->ga[0], &bu->ga[1]);
	tcp_pair(&bu->gb[0], &bu->gb[1]);
	CU_ASSERT_EQUAL_FATAL(rp_recv_multishot(bu->ex, bu->ga[1], gate_fn,
						&bu->a, NULL, &bu->fa), 0);
	CU_ASSERT_EQUAL_FATAL(rp_recv_multishot(bu->ex, bu->gb[1], gate_fn,
						&bu->b, NULL, &bu->fb), 0);

	CU_ASSERT_FATAL(write_all(bu->ga[0], "a", 1));
	latch_wait(&bu->a.entered, 1, "gate A");
	CU_ASSERT_FATAL(write_all(bu->gb[0], "b", 1));
	do {
		progress = false;
		for (i = 0; i < bu->n; i++) {
			ssize_t k;

			if (sent[i] == bu->per)
				continue;
			k = send(bu->c[i], bu->out + sent[i],
				 bu->per - sent[i],
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (k > 0) {
				sent[i] += (size_t)k;
				progress = true;
			}
		}
	} while (progress);
	tu_latch_post(&bu->a.open);
	latch_wait(&bu->b.entered, 1, "gate B");
	free(sent);
}

/* After the receives ended: opens and ends the gates, frees the rest. */
static void burst_finish(struct burst *bu, bool ex_freed)
{
	size_t i;

	CU_ASSERT_FALSE(atomic_load(&bu->a.timed_out));
	CU_ASSERT_FALSE(atomic_load(&bu->b.timed_out));
	if (!ex_freed) {
		cancel_running(bu->fa);
		cancel_running(bu->fb);
		it_executor_free(bu->ex);
	}
	CU_ASSERT(rp_future_done(bu->fa) && rp_future_done(bu->fb));
	rp_future_unref(bu->fa);
	rp_future_unref(bu->fb);
	for (i = 0; i < 2; i++) {
		close(bu->ga[i]);
		close(bu->gb[i]);
	}
	for (i = 0; i < bu->n; i++) {
		rp_future_unref(bu->fs[i]);
		close(bu->c[i]);
		close(bu->s[i]);
		rcv_destroy(&bu->r[i]);
	}
	tu_latch_destroy(&bu->a.entered);
	tu_latch_destroy(&bu->a.open);
	tu_latch_destroy(&bu->b.entered);
	tu_latch_destroy(&bu->b.open);
	free(bu->c);
	free(bu->s);
	free(bu->r);
	free(bu->fs);
	free(bu->out);
}

/* Every receive of the burst ended cancelled, with no call after its end. */
static void burst_check_cancelled(struct burst *bu)
{
	size_t i, bad = 0;

	for (i = 0; i < bu->n; i++) {
		int64_t v = -1;
		int err = 0, ret;

		ret = rp_future_result(bu->fs[i], tu_stuck_timeout_ns(), &v,
				       &err);
		if (ret == -ETIMEDOUT)
			it_stuck("a stopped multishot recv");
		if (ret != -ECANCELED) {
			if (bad++ == 0)
				fprintf(stderr, "\n    connection %zu: not "
					"cancelled: result %d, error %d (%s), "
					"value %lld\n", i, ret, err,
					strerror(-err), (long long)v);
		}
		CU_ASSERT(rp_future_cancelled(bu->fs[i]));
		CU_ASSERT_EQUAL(bu->r[i].zero_calls, 0);
		CU_ASSERT_EQUAL(atomic_load(&bu->r[i].late), 0);
	}
	if (bad)
		fprintf(stderr, "    %zu of %zu receives not cancelled\n", bad,
			bu->n);
	CU_ASSERT_EQUAL(bad, 0);
}

static void test_recv_cancel_when_out_of_buffers(void)
{
	struct burst bu;
	size_t i;

	burst_start(&bu);
	for (i = 0; i < bu.n; i++) {
		int ret = rp_future_cancel(bu.fs[i]);

		CU_ASSERT(ret == -EINPROGRESS || ret == 0);
	}
	tu_latch_post(&bu.b.open);
	burst_check_cancelled(&bu);
	burst_finish(&bu, false);
}

static void test_executor_free_when_out_of_buffers(void)
{
	struct freer fre;
	struct burst bu;
	pthread_t t;

	burst_start(&bu);
	fre.ex = bu.ex;
	fre.ret = -1;
	tu_latch_init(&fre.done);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, freer_main, &fre), 0);
	/*
	 * Gate B opens once rp_executor_free has (very likely) asked the
	 * rings to stop.  No event marks that moment, so this gives it time;
	 * the checks hold whichever comes first, only the case under test
	 * needs the free to come first.
	 */
	(void)tu_latch_wait_for(&fre.done, 1, 100 * MS);
	tu_latch_post(&bu.b.open);
	if (!tu_latch_wait_for(&fre.done, 1, 2 * tu_stuck_timeout_ns()))
		it_stuck("rp_executor_free");
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(fre.ret, 0);
	tu_latch_destroy(&fre.done);
	burst_check_cancelled(&bu);
	CU_ASSERT(rp_future_cancelled(bu.fa));
	CU_ASSERT(rp_future_cancelled(bu.fb));
	burst_finish(&bu, true);
}

static const struct tu_test tests[] = {
	{ "accept_delivers_each_connection_once",
	  test_accept_delivers_each_connection_once, false },
	{ "accept_cancel_ends_cancelled_no_late_callback",
	  test_accept_cancel_ends_cancelled_no_late_callback, false },
	{ "accept_cancel_when_idle", test_accept_cancel_when_idle, false },
	{ "recv_delivers_bytes_in_order_then_eof",
	  test_recv_delivers_bytes_in_order_then_eof, false },
	{ "many_connections_data_intact", test_many_connections_data_intact,
	  false },
	{ "recv_cancel_on_idle_socket", test_recv_cancel_on_idle_socket,
	  false },
	{ "recv_cancel_while_data_flows", test_recv_cancel_while_data_flows,
	  false },
	{ "recv_peer_reset_ends_once", test_recv_peer_reset_ends_once, false },
	{ "echo_server_from_callbacks", test_echo_server_from_callbacks,
	  false },
	{ "invalid_arguments_queue_nothing",
	  test_invalid_arguments_queue_nothing, false },
	{ "refused_after_shutdown", test_refused_after_shutdown, false },
	{ "errors_end_the_future", test_errors_end_the_future, false },
	{ "executor_free_ends_running_multishots",
	  test_executor_free_ends_running_multishots, false },
	{ "recv_cancel_when_out_of_buffers",
	  test_recv_cancel_when_out_of_buffers, false },
	{ "executor_free_when_out_of_buffers",
	  test_executor_free_when_out_of_buffers, false },
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	it_raise_nofile();
	return tu_run_tests(argc, argv, "io-multishot", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
