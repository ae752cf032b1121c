/* SPDX-License-Identifier: MIT */
/*
 * Multishot receives: rp_recv_multishot() on loopback TCP.  Data delivered
 * whole and in order with one last len-0 call at end of stream,
 * cancellation, a peer's reset, many connections receiving at once (more
 * data than the io_uring backend's provided buffers hold),
 * rp_executor_free() with multishot operations still running, and
 * receives stopped just as the io_uring backend's buffers have run out.
 * test_io_accept.c has multishot accepts.
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
	ms_rcv_init(&r, total, 42, true);
	it_tcp_pair(&c, &s);
	f = ms_rcv_start(ex, s, &r);

	/* Writes of mixed sizes, each one send(2) of its own... */
	for (k = 0; k < reps; k++) {
		for (i = 0; i < n_sizes; i++) {
			CU_ASSERT_FATAL(it_write_all(c, out + off, sizes[i]));
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
	it_latch_wait(&r.ended, 1, "the done-callback");
	CU_ASSERT_EQUAL(r.zero_at_done, 1);
	CU_ASSERT_EQUAL(atomic_load(&r.late), 0);
	rp_future_unref(f);

	close(c);
	close(s);
	it_executor_free(ex);
	ms_rcv_destroy(&r);
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
		it_tcp_pair(&c[i], &s[i]);
		it_fill(out + i * per, per, 1000 + i, 0);
		ms_rcv_init(&r[i], 0, 1000 + i, true);
		fs[i] = ms_rcv_start(ex, s[i], &r[i]);
	}
	/* Queued after the receives, so they are armed when it holds. */
	it_tcp_pair(&gc, &gs);
	CU_ASSERT_EQUAL_FATAL(rp_recv_multishot(ex, gs, gate_fn, &g, NULL, &gf),
			      0);
	CU_ASSERT_FATAL(it_write_all(gc, "g", 1));
	it_latch_wait(&g.entered, 1, "the gate");

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
		CU_ASSERT_FATAL(it_write_all(c[i], out + i * per + sent[i],
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
		it_latch_wait(&r[i].ended, 1, "a done-callback");
		ms_rcv_destroy(&r[i]);
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

	ms_rcv_init(&r, 64, 0, false);
	it_tcp_pair(&c, &s);
	f = ms_rcv_start(ex, s, &r);
	/* A first delivery shows it is in flight, then the socket idles. */
	CU_ASSERT_FATAL(it_write_all(c, "hello", 5));
	ms_rcv_wait_bytes(&r, 5);
	CU_ASSERT_EQUAL(rp_future_cancel(f), -EINPROGRESS);
	ms_cancel_running(f);
	it_latch_wait(&r.ended, 1, "the done-callback");
	CU_ASSERT_EQUAL(r.got, 5);
	CU_ASSERT(memcmp(r.buf, "hello", 5) == 0);
	CU_ASSERT_EQUAL(r.zero_calls, 0);

	/* Data sent after the end is left in the socket. */
	CU_ASSERT_FATAL(it_write_all(c, "later", 5));
	it_bound_blocking_calls(s);
	CU_ASSERT(it_read_all(s, buf, 5));
	CU_ASSERT(memcmp(buf, "later", 5) == 0);
	CU_ASSERT_EQUAL(r.got, 5);
	CU_ASSERT_EQUAL(atomic_load(&r.late), 0);
	rp_future_unref(f);

	close(c);
	close(s);
	it_executor_free(ex);
	ms_rcv_destroy(&r);
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

	ms_rcv_init(&r, 0, 0, false);
	it_tcp_pair(&c, &s);
	f = ms_rcv_start(ex, s, &r);
	fl.fd = c;
	fl.sent = 0;
	atomic_init(&fl.stop, false);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&fl.thread, NULL, flood_main,
					     &fl), 0);
	it_latch_wait(&r.data, 10, "the first deliveries");

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
	it_latch_wait(&r.ended, 1, "the done-callback");
	CU_ASSERT(rp_future_cancelled(f));
	calls = tu_latch_count(&r.data);
	CU_ASSERT(calls >= 10);
	CU_ASSERT_EQUAL(r.zero_calls, 0);
	CU_ASSERT_EQUAL(atomic_load(&r.late), 0);
	rp_future_unref(f);

	close(c);
	close(s);
	it_executor_free(ex);
	ms_rcv_destroy(&r);
}

static void test_recv_peer_reset_ends_once(void)
{
	rp_executor *ex = it_executor_new(NULL);
	int64_t v = -1;
	struct rcv r;
	rp_future *f;
	int c, s, err;

	ms_rcv_init(&r, 64, 0, false);
	it_tcp_pair(&c, &s);
	f = ms_rcv_start(ex, s, &r);
	CU_ASSERT_FATAL(it_write_all(c, "0123456789", 10));
	ms_rcv_wait_bytes(&r, 10);
	it_reset(c);

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
	it_latch_wait(&r.ended, 1, "the done-callback");
	CU_ASSERT_EQUAL(atomic_load(&r.late), 0);
	rp_future_unref(f);

	close(s);
	it_executor_free(ex);
	ms_rcv_destroy(&r);
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

	ms_acc_init(&a, 1);
	lfd = tu_tcp_listener(&addr, 4);
	fa = ms_acc_start(ex, lfd, &a);
	cfd = it_tcp_connect(&addr);
	it_latch_wait(&a.got, 1, "the multishot accept's delivery");
	for (i = 0; i < N; i++) {
		ms_rcv_init(&r[i], 64, 0, false);
		it_tcp_pair(&c[i], &s[i]);
		fr[i] = ms_rcv_start(ex, s[i], &r[i]);
		CU_ASSERT_FATAL(it_write_all(c[i], "ping", 4));
		ms_rcv_wait_bytes(&r[i], 4);
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
		ms_rcv_destroy(&r[i]);
	}
	close(cfd);
	close(lfd);
	ms_acc_destroy(&a);
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
		it_tcp_pair(&bu->c[i], &bu->s[i]);
		ms_rcv_init(&bu->r[i], 0, 0, false);
		bu->fs[i] = ms_rcv_start(bu->ex, bu->s[i], &bu->r[i]);
	}
	tu_latch_init(&bu->a.entered);
	tu_latch_init(&bu->a.open);
	tu_latch_init(&bu->b.entered);
	tu_latch_init(&bu->b.open);
	atomic_init(&bu->a.timed_out, false);
	atomic_init(&bu->b.timed_out, false);
	atomic_init(&bu->a.calls, 0);
	atomic_init(&bu->b.calls, 0);
	it_tcp_pair(&bu->ga[0], &bu->ga[1]);
	it_tcp_pair(&bu->gb[0], &bu->gb[1]);
	CU_ASSERT_EQUAL_FATAL(rp_recv_multishot(bu->ex, bu->ga[1], gate_fn,
						&bu->a, NULL, &bu->fa), 0);
	CU_ASSERT_EQUAL_FATAL(rp_recv_multishot(bu->ex, bu->gb[1], gate_fn,
						&bu->b, NULL, &bu->fb), 0);

	CU_ASSERT_FATAL(it_write_all(bu->ga[0], "a", 1));
	it_latch_wait(&bu->a.entered, 1, "gate A");
	CU_ASSERT_FATAL(it_write_all(bu->gb[0], "b", 1));
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
	it_latch_wait(&bu->b.entered, 1, "gate B");
	free(sent);
}

/* After the receives ended: opens and ends the gates, frees the rest. */
static void burst_finish(struct burst *bu, bool ex_freed)
{
	size_t i;

	CU_ASSERT_FALSE(atomic_load(&bu->a.timed_out));
	CU_ASSERT_FALSE(atomic_load(&bu->b.timed_out));
	if (!ex_freed) {
		ms_cancel_running(bu->fa);
		ms_cancel_running(bu->fb);
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
		ms_rcv_destroy(&bu->r[i]);
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
	{ "recv_delivers_bytes_in_order_then_eof",
	  test_recv_delivers_bytes_in_order_then_eof, false },
	{ "many_connections_data_intact", test_many_connections_data_intact,
	  false },
	{ "recv_cancel_on_idle_socket", test_recv_cancel_on_idle_socket,
	  false },
	{ "recv_cancel_while_data_flows", test_recv_cancel_while_data_flows,
	  false },
	{ "recv_peer_reset_ends_once", test_recv_peer_reset_ends_once, false },
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
