/* SPDX-License-Identifier: MIT */
/*
 * Cancellation of I/O: a stress of ten thousand reads on pipes and recvs on
 * socketpairs cancelled at random moments, each of which must end exactly
 * once as either cancelled or a read of bytes that were written; the return
 * codes of rp_future_cancel() on I/O; timeouts of the waits; and CPU tasks and
 * I/O mixed in one rp_wait() and one as-completed iterator.
 *
 * Registered twice: RINGPOOL_BACKEND=uring and RINGPOOL_BACKEND=threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "iotest.h"
#include "ringpool.h"
#include "testutil.h"

#define NEVER INT_MIN

/* ---- the stress ------------------------------------------------------- */

/* A pipe or a socketpair; reads on rfd, messages written to wfd. */
struct chan {
	int rfd, wfd;
	bool sock;
	uint32_t written;	/* messages written so far */
	uint32_t seen;		/* messages accounted for at the end */
	bool *got;		/* [k]: message seq seen */
};

/* A message: its channel and sequence number, 8 bytes, written atomically. */
struct msg {
	uint32_t chan;
	uint32_t seq;
};

struct op {
	struct chan *ch;
	uint32_t chan_idx;
	rp_future *f;
	struct msg buf;
	atomic_uint calls;
	atomic_bool cb_saw_cancelled;
	int cancel_ret;		/* NEVER when not cancelled */
	unsigned calls_after_cancel;
	int plan;
};

enum { PLAN_KEEP, PLAN_CANCEL_AT_ONCE, PLAN_CANCEL_LATER };

struct stress {
	rp_executor *ex;
	struct chan *chans;
	size_t n_chans;
	uint32_t k;		/* reads (and messages) per channel */
	struct op *ops;
	size_t n_ops;
	struct tu_latch ended;
	struct tu_rng rng;
	/* Tallies, printed at the end. */
	size_t n_cancel[4];	/* by return code: 0, -EINPROGRESS, -EALREADY, other */
	size_t n_cancelled, n_read, n_left_over;
};

static void op_done(rp_future *f, void *arg)
{
	struct op *op = arg;

	atomic_store(&op->cb_saw_cancelled, rp_future_cancelled(f));
	/* Last: after it, the stress may look at everything. */
	atomic_fetch_add(&op->calls, 1);
}

static void op_done_post(rp_future *f, void *arg)
{
	struct stress *s = arg;

	(void)f;
	tu_latch_post(&s->ended);
}

static void stress_channels(struct stress *s, size_t n_ops)
{
	size_t limit = it_raise_nofile(), avail, want, i;

	/* Four reads per channel, fewer channels if descriptors are short. */
	avail = limit > 300 ? (limit - 200) / 2 : 50;
	want = n_ops / 4 ? n_ops / 4 : 1;
	s->n_chans = want < avail ? want : avail;
	s->k = (uint32_t)((n_ops + s->n_chans - 1) / s->n_chans);
	s->chans = calloc(s->n_chans, sizeof(*s->chans));
	CU_ASSERT_PTR_NOT_NULL_FATAL(s->chans);
	for (i = 0; i < s->n_chans; i++) {
		struct chan *c = &s->chans[i];
		int fds[2], ret;

		c->sock = i % 2;
		if (c->sock)
			ret = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
					 fds);
		else
			ret = pipe2(fds, O_CLOEXEC);
		CU_ASSERT_EQUAL_FATAL(ret, 0);
		c->rfd = fds[0];
		c->wfd = fds[1];
		c->got = calloc(s->k, sizeof(*c->got));
		CU_ASSERT_PTR_NOT_NULL_FATAL(c->got);
	}
}

static void write_message(struct stress *s, uint32_t ci)
{
	struct chan *c = &s->chans[ci];
	struct msg m = { ci, c->written };

	CU_ASSERT_FATAL(c->written < s->k);
	CU_ASSERT_EQUAL_FATAL(write(c->wfd, &m, sizeof(m)), sizeof(m));
	c->written++;
}

static void cancel_op(struct op *op)
{
	op->cancel_ret = rp_future_cancel(op->f);
	op->calls_after_cancel = atomic_load(&op->calls);
}

static void submit_op(struct stress *s, struct op *op)
{
	int ret;

	op->buf.chan = UINT32_MAX;
	op->buf.seq = UINT32_MAX;
	op->cancel_ret = NEVER;
	if (op->ch->sock)
		ret = rp_recv(s->ex, op->ch->rfd, &op->buf, sizeof(op->buf), 0,
			      NULL, &op->f);
	else
		ret = rp_read(s->ex, op->ch->rfd, &op->buf, sizeof(op->buf), -1,
			      NULL, &op->f);
	CU_ASSERT_EQUAL_FATAL(ret, 0);
	CU_ASSERT_EQUAL_FATAL(rp_future_add_done_callback(op->f, op_done, op),
			      0);
	CU_ASSERT_EQUAL_FATAL(rp_future_add_done_callback(op->f, op_done_post,
							  s), 0);
}

/* Accounts one message read by an operation or left in a channel. */
static bool account(struct stress *s, uint32_t ci, const struct msg *m)
{
	struct chan *c = &s->chans[ci];

	if (m->chan != ci || m->seq >= s->k || m->seq >= c->written ||
	    c->got[m->seq]) {
		fprintf(stderr, "channel %u: bad or repeated message %u/%u\n",
			ci, m->chan, m->seq);
		return false;
	}
	c->got[m->seq] = true;
	c->seen++;
	return true;
}

static void check_op(struct stress *s, struct op *op)
{
	int64_t v = -1;
	int error = INT_MIN, ret;

	/* Ended exactly once. */
	CU_ASSERT_EQUAL(atomic_load(&op->calls), 1);
	CU_ASSERT_TRUE(rp_future_done(op->f));
	CU_ASSERT(op->cancel_ret == NEVER || op->cancel_ret == 0 ||
		  op->cancel_ret == -EINPROGRESS ||
		  op->cancel_ret == -EALREADY);
	switch (op->cancel_ret) {
	case NEVER:
		break;
	case 0:
		s->n_cancel[0]++;
		/* Its callbacks ran before rp_future_cancel() returned. */
		CU_ASSERT_EQUAL(op->calls_after_cancel, 1);
		break;
	case -EINPROGRESS:
		s->n_cancel[1]++;
		break;
	case -EALREADY:
		s->n_cancel[2]++;
		break;
	default:
		s->n_cancel[3]++;
		fprintf(stderr, "rp_future_cancel: %d\n", op->cancel_ret);
	}

	ret = rp_future_result(op->f, 0, &v, &error);
	if (ret == -ECANCELED) {
		/* Cancelled: only where asked, never after finishing. */
		s->n_cancelled++;
		CU_ASSERT_TRUE(rp_future_cancelled(op->f));
		CU_ASSERT_TRUE(atomic_load(&op->cb_saw_cancelled));
		CU_ASSERT(op->cancel_ret == 0 ||
			  op->cancel_ret == -EINPROGRESS);
		CU_ASSERT_EQUAL(op->buf.chan, UINT32_MAX);
		return;
	}
	/* Or done: a whole message of its own channel. */
	CU_ASSERT_EQUAL(ret, 0);
	CU_ASSERT_EQUAL(error, 0);
	CU_ASSERT_EQUAL(v, (int64_t)sizeof(op->buf));
	CU_ASSERT_FALSE(rp_future_cancelled(op->f));
	CU_ASSERT_FALSE(atomic_load(&op->cb_saw_cancelled));
	CU_ASSERT(op->cancel_ret != 0);
	if (ret || error || v != (int64_t)sizeof(op->buf)) {
		fprintf(stderr, "op: result %d error %d value %lld cancel %d\n",
			ret, error, (long long)v, op->cancel_ret);
		return;
	}
	s->n_read++;
	CU_ASSERT(account(s, op->chan_idx, &op->buf));
}

static void drain_channel(struct stress *s, uint32_t ci)
{
	struct chan *c = &s->chans[ci];
	struct msg m;
	ssize_t n;

	CU_ASSERT_EQUAL(fcntl(c->rfd, F_SETFL, O_NONBLOCK), 0);
	while ((n = read(c->rfd, &m, sizeof(m))) == (ssize_t)sizeof(m)) {
		s->n_left_over++;
		CU_ASSERT(account(s, ci, &m));
	}
	CU_ASSERT_EQUAL(n, -1);
	CU_ASSERT_EQUAL(errno, EAGAIN);
	/* Every message written was read once, by one operation or here. */
	CU_ASSERT_EQUAL(c->seen, c->written);
	CU_ASSERT_EQUAL(c->written, s->k);
}

static void shuffle(struct tu_rng *rng, uint32_t *v, size_t n)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = tu_rng_below(rng, (uint32_t)i);
		uint32_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

static void run_stress(uint64_t seed)
{
	size_t n_ops = tu_scaled(10000), i, n_events = 0;
	struct stress s;
	uint32_t *events;

	memset(&s, 0, sizeof(s));
	tu_rng_seed(&s.rng, seed);
	tu_latch_init(&s.ended);
	s.ex = it_executor_new(NULL);
	stress_channels(&s, n_ops);
	s.n_ops = n_ops;
	s.ops = calloc(n_ops, sizeof(*s.ops));
	/* Events: (op << 1) for a cancel, (channel << 1 | 1) for a write. */
	events = calloc(n_ops + s.n_chans * s.k, sizeof(*events));
	CU_ASSERT_FATAL(s.ops && events);

	/* Phase 1: queue every read; cancel some at once. */
	for (i = 0; i < n_ops; i++) {
		struct op *op = &s.ops[i];
		uint32_t r = tu_rng_below(&s.rng, 100);

		op->chan_idx = (uint32_t)(i % s.n_chans);
		op->ch = &s.chans[op->chan_idx];
		op->plan = r < 20 ? PLAN_CANCEL_AT_ONCE :
			   r < 55 ? PLAN_CANCEL_LATER : PLAN_KEEP;
		submit_op(&s, op);
		if (op->plan == PLAN_CANCEL_AT_ONCE)
			cancel_op(op);
		else if (op->plan == PLAN_CANCEL_LATER)
			events[n_events++] = (uint32_t)i << 1;
	}
	/* Some messages go out while the cancels happen. */
	for (i = 0; i < s.n_chans; i++) {
		uint32_t early = tu_rng_below(&s.rng, s.k + 1), j;

		for (j = 0; j < early; j++)
			events[n_events++] = (uint32_t)i << 1 | 1;
	}
	/* Phase 2: cancels and writes in a random order. */
	shuffle(&s.rng, events, n_events);
	for (i = 0; i < n_events; i++) {
		if (events[i] & 1)
			write_message(&s, events[i] >> 1);
		else
			cancel_op(&s.ops[events[i] >> 1]);
	}
	/*
	 * Phase 3: the rest of the messages, so that every read that is not
	 * cancelled can end.
	 */
	for (i = 0; i < s.n_chans; i++) {
		while (s.chans[i].written < s.k)
			write_message(&s, (uint32_t)i);
	}

	if (!tu_latch_wait_for(&s.ended, (unsigned)n_ops,
			       4 * tu_stuck_timeout_ns())) {
		fprintf(stderr, "%u of %zu operations ended\n",
			tu_latch_count(&s.ended), n_ops);
		it_stuck("the cancel stress");
	}
	/* Joins the library's threads: no callback can come later. */
	it_executor_free(s.ex);

	for (i = 0; i < n_ops; i++)
		check_op(&s, &s.ops[i]);
	for (i = 0; i < s.n_chans; i++)
		drain_channel(&s, (uint32_t)i);
	CU_ASSERT_EQUAL(s.n_cancelled + s.n_read, n_ops);
	CU_ASSERT_EQUAL(s.n_read + s.n_left_over, s.n_chans * s.k);
	CU_ASSERT_EQUAL(tu_latch_count(&s.ended), n_ops);
	printf("\n    seed %llu: %zu ops on %zu channels; cancel gave 0 x%zu, "
	       "-EINPROGRESS x%zu, -EALREADY x%zu; %zu cancelled, %zu read, "
	       "%zu messages left over\n",
	       (unsigned long long)seed, n_ops, s.n_chans, s.n_cancel[0],
	       s.n_cancel[1], s.n_cancel[2], s.n_cancelled, s.n_read,
	       s.n_left_over);

	for (i = 0; i < n_ops; i++)
		rp_future_unref(s.ops[i].f);
	for (i = 0; i < s.n_chans; i++) {
		close(s.chans[i].rfd);
		close(s.chans[i].wfd);
		free(s.chans[i].got);
	}
	free(s.chans);
	free(s.ops);
	free(events);
	tu_latch_destroy(&s.ended);
}

static uint64_t base_seed(void)
{
	const char *v = getenv("RINGPOOL_TEST_SEED");

	return v ? strtoull(v, NULL, 0) : 20240601;
}

static void test_cancel_stress(void)
{
	run_stress(base_seed());
}

static void test_cancel_stress_other_seed(void)
{
	run_stress(base_seed() * 7 + 1);
}

/* ---- cancel return codes ---------------------------------------------- */

struct counter {
	atomic_uint calls;
	atomic_bool saw_cancelled;
};

static void count_done(rp_future *f, void *arg)
{
	struct counter *c = arg;

	atomic_store(&c->saw_cancelled, rp_future_cancelled(f));
	atomic_fetch_add(&c->calls, 1);
}

/* Cancels `f`, which cannot finish by itself, and checks it ends cancelled. */
static void cancel_pending(rp_future *f)
{
	struct counter c;
	int64_t t0 = tu_now_ns();
	int ret;

	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL_FATAL(rp_future_add_done_callback(f, count_done, &c),
			      0);
	CU_ASSERT_FALSE(rp_future_done(f));
	ret = rp_future_cancel(f);
	CU_ASSERT(ret == 0 || ret == -EINPROGRESS);
	if (ret == 0)
		CU_ASSERT_EQUAL(atomic_load(&c.calls), 1);
	CU_ASSERT_EQUAL(it_result(f, NULL), -ECANCELED);
	CU_ASSERT(tu_now_ns() - t0 < tu_stuck_timeout_ns());
	CU_ASSERT_TRUE(rp_future_done(f));
	CU_ASSERT_TRUE(rp_future_cancelled(f));
	CU_ASSERT_EQUAL(rp_future_exception(f, 0, &ret), -ECANCELED);
	/* Cancelling again: it already was cancelled. */
	CU_ASSERT_EQUAL(rp_future_cancel(f), 0);
	/* The callback ran once (it may run on another thread: wait). */
	while (atomic_load(&c.calls) == 0 && tu_now_ns() - t0 <
	       tu_stuck_timeout_ns())
		sched_yield();
	CU_ASSERT_EQUAL(atomic_load(&c.calls), 1);
	CU_ASSERT_TRUE(atomic_load(&c.saw_cancelled));
	rp_future_unref(f);
}

static void test_cancel_return_codes(void)
{
	struct rp_io_opts far = { .timeout_ns = 10000 * MS };
	rp_executor *ex = it_executor_new(NULL);
	struct sockaddr_in addr;
	socklen_t alen = sizeof(addr);
	rp_future *f = NULL;
	char buf[8] = { 0 };
	int64_t v = -1;
	int fds[2], sv[2], lfd, c, s;

	/* A read of an empty pipe; the pipe keeps its later data. */
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fds[0], buf, sizeof(buf), -1, NULL,
				      &f), 0);
	cancel_pending(f);
	CU_ASSERT_EQUAL(write(fds[1], "x", 1), 1);
	CU_ASSERT_EQUAL(read(fds[0], buf, sizeof(buf)), 1);
	CU_ASSERT_EQUAL(buf[0], 'x');
	CU_ASSERT_EQUAL(buf[1], 0);

	/* A recv with a far deadline ends cancelled, not timed out. */
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
					 0, sv), 0);
	CU_ASSERT_EQUAL_FATAL(rp_recv(ex, sv[0], buf, sizeof(buf), 0, &far,
				      &f), 0);
	cancel_pending(f);

	/* A long sleep. */
	CU_ASSERT_EQUAL_FATAL(rp_sleep(ex, (int64_t)3600 * 1000 * MS, &f), 0);
	cancel_pending(f);

	/* A poll. */
	CU_ASSERT_EQUAL_FATAL(rp_poll(ex, sv[0], POLLIN, NULL, &f), 0);
	cancel_pending(f);

	/* An accept; the listener still works afterwards. */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(lfd >= 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_EQUAL_FATAL(bind(lfd, (struct sockaddr *)&addr,
				   sizeof(addr)), 0);
	CU_ASSERT_EQUAL_FATAL(listen(lfd, 4), 0);
	CU_ASSERT_EQUAL_FATAL(getsockname(lfd, (struct sockaddr *)&addr, &alen),
			      0);
	CU_ASSERT_EQUAL_FATAL(rp_accept(ex, lfd, NULL, NULL, SOCK_CLOEXEC, NULL,
					&f), 0);
	cancel_pending(f);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(c >= 0);
	CU_ASSERT_EQUAL(connect(c, (struct sockaddr *)&addr, sizeof(addr)), 0);
	CU_ASSERT_EQUAL_FATAL(rp_accept(ex, lfd, NULL, NULL, SOCK_CLOEXEC, NULL,
					&f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT(v >= 0);
	s = (int)v;
	close(s);
	close(c);
	close(lfd);

	/* Finished: -EALREADY, and the result stays. */
	CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_result(f, &v), 0);
	CU_ASSERT_EQUAL(rp_future_cancel(f), -EALREADY);
	CU_ASSERT_EQUAL(it_result(f, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_FALSE(rp_future_cancelled(f));
	rp_future_unref(f);
	CU_ASSERT_EQUAL(write(fds[1], "yz", 2), 2);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fds[0], buf, sizeof(buf), -1, NULL,
				      &f), 0);
	CU_ASSERT_EQUAL(it_result(f, &v), 0);
	CU_ASSERT_EQUAL(v, 2);
	CU_ASSERT_EQUAL(rp_future_cancel(f), -EALREADY);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 2);

	CU_ASSERT_EQUAL(rp_future_cancel(NULL), -EINVAL);
	close(sv[0]);
	close(sv[1]);
	close(fds[0]);
	close(fds[1]);
	it_executor_free(ex);
}

/* ---- waits that time out ----------------------------------------------- */

static void test_waits_on_pending_io_time_out(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_as_completed *it = NULL;
	rp_future *f = NULL, *g = NULL;
	int64_t t0, elapsed, v = -1;
	bool done[1] = { true };
	size_t n_done = 99;
	int fds[2], error = 1;
	char buf[4] = { 0 };

	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fds[0], buf, sizeof(buf), -1, NULL,
				      &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, 0, &v, &error), -ETIMEDOUT);
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(rp_future_result(f, 20 * MS, &v, &error), -ETIMEDOUT);
	elapsed = tu_now_ns() - t0;
	CU_ASSERT(elapsed >= 20 * MS);
	CU_ASSERT(elapsed < 20 * MS + tu_timeout_slack_ns());
	CU_ASSERT_EQUAL(rp_future_exception(f, 10 * MS, &error), -ETIMEDOUT);
	CU_ASSERT_EQUAL(rp_wait(&f, 1, RP_ALL_COMPLETED, 10 * MS, done,
				&n_done), -ETIMEDOUT);
	CU_ASSERT_FALSE(done[0]);
	CU_ASSERT_EQUAL(n_done, 0);
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(&f, 1, &it), 0);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, 10 * MS, &g), -ETIMEDOUT);
	CU_ASSERT_FALSE(rp_future_done(f));
	CU_ASSERT_FALSE(rp_future_cancelled(f));

	/* Still in flight: data ends it normally. */
	CU_ASSERT_EQUAL(write(fds[1], "abc", 3), 3);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, tu_stuck_timeout_ns(), &g),
			0);
	CU_ASSERT_PTR_EQUAL(g, f);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, 0, &g), -ENODATA);
	rp_as_completed_free(it);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 3);
	CU_ASSERT(memcmp(buf, "abc", 3) == 0);
	close(fds[0]);
	close(fds[1]);
	it_executor_free(ex);
}

/* ---- CPU and I/O together -------------------------------------------- */

static void test_rp_wait_mixes_cpu_tasks_and_io(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct tu_blocker b;
	rp_future *fs[2], *bad[2];
	bool done[2];
	size_t n_done = 0;
	int fds[2];
	char buf[4] = { 0 };
	int64_t v = -1;

	tu_blocker_init(&b, 7, 0);
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &b, &fs[0]), 0);
	tu_latch_wait(&b.started, 1);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fds[0], buf, sizeof(buf), -1, NULL,
				      &fs[1]), 0);

	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_COMPLETED, 0, done, &n_done),
			-ETIMEDOUT);
	CU_ASSERT_EQUAL(n_done, 0);
	/* The I/O ends first. */
	CU_ASSERT_EQUAL(write(fds[1], "io", 2), 2);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_FIRST_COMPLETED,
				tu_stuck_timeout_ns(), done, &n_done), 0);
	CU_ASSERT_FALSE(done[0]);
	CU_ASSERT_TRUE(done[1]);
	CU_ASSERT_EQUAL(n_done, 1);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_ALL_COMPLETED, 10 * MS, done,
				&n_done), -ETIMEDOUT);

	/* An I/O error counts for FIRST_EXCEPTION while the task runs. */
	bad[0] = fs[0];
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, -1, buf, sizeof(buf), -1, NULL,
				      &bad[1]), 0);
	CU_ASSERT_EQUAL(rp_wait(bad, 2, RP_FIRST_EXCEPTION,
				tu_stuck_timeout_ns(), done, &n_done), 0);
	CU_ASSERT_FALSE(done[0]);
	CU_ASSERT_TRUE(done[1]);
	CU_ASSERT_EQUAL(it_end(bad[1], NULL), -EBADF);

	/* Then the task. */
	tu_latch_post(&b.release);
	CU_ASSERT_EQUAL(rp_wait(fs, 2, RP_ALL_COMPLETED, tu_stuck_timeout_ns(),
				done, &n_done), 0);
	CU_ASSERT_EQUAL(n_done, 2);
	CU_ASSERT_EQUAL(it_end(fs[0], &v), 0);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(it_end(fs[1], &v), 0);
	CU_ASSERT_EQUAL(v, 2);
	close(fds[0]);
	close(fds[1]);
	tu_blocker_destroy(&b);
	it_executor_free(ex);
}

static void test_as_completed_mixes_cpu_tasks_and_io(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct tu_blocker b;
	rp_as_completed *it = NULL;
	rp_future *fs[3], *g = NULL;
	int fds[2];
	char buf[4] = { 0 };
	int64_t v = -1;
	int error = 1, ret;

	tu_blocker_init(&b, 9, 0);
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, tu_blocker_task, &b, &fs[0]), 0);
	tu_latch_wait(&b.started, 1);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fds[0], buf, sizeof(buf), -1, NULL,
				      &fs[1]), 0);
	CU_ASSERT_EQUAL_FATAL(rp_sleep(ex, (int64_t)3600 * 1000 * MS, &fs[2]),
			      0);
	CU_ASSERT_EQUAL_FATAL(rp_as_completed_new(fs, 3, &it), 0);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, 0, &g), -ETIMEDOUT);

	CU_ASSERT_EQUAL(write(fds[1], "a", 1), 1);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, tu_stuck_timeout_ns(), &g), 0);
	CU_ASSERT_PTR_EQUAL(g, fs[1]);
	tu_latch_post(&b.release);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, tu_stuck_timeout_ns(), &g), 0);
	CU_ASSERT_PTR_EQUAL(g, fs[0]);
	CU_ASSERT_EQUAL(rp_future_result(g, 0, &v, &error), 0);
	CU_ASSERT_EQUAL(v, 9);
	/* A cancelled sleep is yielded too. */
	ret = rp_future_cancel(fs[2]);
	CU_ASSERT(ret == 0 || ret == -EINPROGRESS);
	CU_ASSERT_EQUAL(rp_as_completed_next(it, tu_stuck_timeout_ns(), &g), 0);
	CU_ASSERT_PTR_EQUAL(g, fs[2]);
	CU_ASSERT_TRUE(rp_future_cancelled(g));
	CU_ASSERT_EQUAL(rp_as_completed_next(it, 0, &g), -ENODATA);
	rp_as_completed_free(it);
	CU_ASSERT_EQUAL(it_end(fs[1], &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	rp_future_unref(fs[0]);
	rp_future_unref(fs[2]);
	close(fds[0]);
	close(fds[1]);
	tu_blocker_destroy(&b);
	it_executor_free(ex);
}

/* A CPU task that queues I/O and waits for it on its worker. */
static int nop_waiting_task(void *arg, int64_t *value)
{
	rp_executor *ex = arg;
	rp_future *f = NULL;
	int64_t v = -1;
	int error = -1, ret;

	ret = rp_nop(ex, NULL, &f);
	if (ret)
		return ret;
	ret = rp_future_result(f, RP_FOREVER, &v, &error);
	rp_future_unref(f);
	if (ret)
		return ret;
	if (error)
		return error;
	*value = v + 100;
	return 0;
}

/* An I/O done-callback that submits a CPU task. */
struct chain {
	rp_executor *ex;
	rp_future *task;
	int submit_ret;
	struct tu_latch submitted;
};

static void submit_from_io_callback(rp_future *f, void *arg)
{
	struct chain *c = arg;
	int64_t v = 0;

	rp_future_result(f, 0, &v, NULL);
	c->submit_ret = rp_submit(c->ex, tu_value_task, (void *)(intptr_t)v,
				  &c->task);
	tu_latch_post(&c->submitted);
}

static void test_tasks_and_io_call_each_other(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct chain c;
	rp_future *f = NULL;
	int64_t v = -1;
	char buf[8] = { 0 };
	int fds[2];

	CU_ASSERT_EQUAL_FATAL(rp_submit(ex, nop_waiting_task, ex, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 100);

	memset(&c, 0, sizeof(c));
	c.ex = ex;
	tu_latch_init(&c.submitted);
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fds[0], buf, sizeof(buf), -1, NULL,
				      &f), 0);
	CU_ASSERT_EQUAL_FATAL(rp_future_add_done_callback(f,
				submit_from_io_callback, &c), 0);
	/* Released early: the read goes on. */
	rp_future_unref(f);
	CU_ASSERT_EQUAL(write(fds[1], "12345", 5), 5);
	if (!tu_latch_wait_for(&c.submitted, 1, tu_stuck_timeout_ns()))
		it_stuck("a read whose future was released");
	CU_ASSERT_EQUAL(c.submit_ret, 0);
	if (!c.submit_ret) {
		CU_ASSERT_EQUAL(it_end(c.task, &v), 0);
		CU_ASSERT_EQUAL(v, 5);
	}
	CU_ASSERT(memcmp(buf, "12345", 5) == 0);
	tu_latch_destroy(&c.submitted);
	close(fds[0]);
	close(fds[1]);
	it_executor_free(ex);
}

/* I/O queued before rp_executor_shutdown() still completes. */
static void test_io_queued_before_shutdown_completes(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL, *g = NULL;
	char buf[4] = { 0 };
	int64_t v = -1;
	int fds[2];

	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fds[0], buf, sizeof(buf), -1, NULL,
				      &f), 0);
	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, 0), 0);
	CU_ASSERT_EQUAL(rp_nop(ex, NULL, &g), -ESHUTDOWN);
	CU_ASSERT_EQUAL(write(fds[1], "ok", 2), 2);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 2);
	CU_ASSERT(memcmp(buf, "ok", 2) == 0);
	close(fds[0]);
	close(fds[1]);
	it_executor_free(ex);
}

/*
 * A *_full read cancelled after it took some bytes from a socket ends done,
 * with -ECANCELED and those bytes in its value (as a deadline does): ended
 * cancelled it would give no value, and the bytes would be lost to the
 * program.  One cancelled before it took any ends cancelled.
 */
static void test_cancelled_full_read_keeps_the_bytes_it_moved(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	char buf[8] = { 0 };
	int64_t t0, v = -1;
	int sv[2], queued = -1, ret, err = 0;

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
					 0, sv), 0);
	CU_ASSERT_EQUAL(write(sv[1], "abcd", 4), 4);
	CU_ASSERT_EQUAL_FATAL(rp_read_full(ex, sv[0], buf, sizeof(buf), -1,
					   NULL, &f), 0);
	/* Wait until its first round has taken the four bytes. */
	t0 = tu_now_ns();
	while ((ioctl(sv[0], FIONREAD, &queued) < 0 || queued != 0) &&
	       tu_now_ns() - t0 < tu_stuck_timeout_ns())
		sched_yield();
	CU_ASSERT_EQUAL_FATAL(queued, 0);
	ret = rp_future_cancel(f);
	CU_ASSERT_EQUAL(ret, -EINPROGRESS);
	CU_ASSERT_EQUAL(rp_future_result(f, tu_stuck_timeout_ns(), &v, &err),
			0);
	CU_ASSERT_EQUAL(err, -ECANCELED);
	CU_ASSERT_EQUAL(v, 4);
	CU_ASSERT_FALSE(rp_future_cancelled(f));
	CU_ASSERT(memcmp(buf, "abcd", 4) == 0);
	rp_future_unref(f);

	/* Nothing taken: cancelled as any other operation. */
	CU_ASSERT_EQUAL_FATAL(rp_read_full(ex, sv[0], buf, sizeof(buf), -1,
					   NULL, &f), 0);
	ret = rp_future_cancel(f);
	CU_ASSERT(ret == 0 || ret == -EINPROGRESS);
	CU_ASSERT_EQUAL(it_result(f, &v), -ECANCELED);
	CU_ASSERT_TRUE(rp_future_cancelled(f));
	rp_future_unref(f);
	close(sv[0]);
	close(sv[1]);
	it_executor_free(ex);
}

/*
 * A read in flight when the process forks is the parent's: in the child,
 * cancelling it must not reach the ring the two share (with shared rings
 * the child would submit the cancel into the parent's ring itself), nor can
 * new work be queued.  The parent's read goes on as if nothing happened.
 */
static void test_fork_leaves_operations_in_flight_to_the_parent(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL, *g = NULL;
	char buf[8] = { 0 };
	int64_t t0, v = -1;
	int fds[2], status = 0;
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fds[0], buf, sizeof(buf), -1, NULL,
				      &f), 0);
	t0 = tu_now_ns();
	while (!rp_future_running(f) &&
	       tu_now_ns() - t0 < tu_stuck_timeout_ns())
		sched_yield();
	CU_ASSERT_TRUE_FATAL(rp_future_running(f));
	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		int bad = 0;

		alarm(30);
		if (rp_future_cancel(f) != -EBUSY)
			bad |= 1;
		if (rp_nop(ex, NULL, &g) != -ENOTRECOVERABLE)
			bad |= 2;
		if (rp_executor_free(ex) != -ENOTRECOVERABLE)
			bad |= 4;
		_exit(bad);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);

	CU_ASSERT_EQUAL(write(fds[1], "x", 1), 1);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(buf[0], 'x');
	close(fds[0]);
	close(fds[1]);
	it_executor_free(ex);
}

static const struct tu_test tests[] = {
	{ "cancel_stress", test_cancel_stress, false },
	{ "cancel_stress_other_seed", test_cancel_stress_other_seed, false },
	{ "cancel_return_codes", test_cancel_return_codes, false },
	{ "waits_on_pending_io_time_out", test_waits_on_pending_io_time_out,
	  false },
	{ "rp_wait_mixes_cpu_tasks_and_io",
	  test_rp_wait_mixes_cpu_tasks_and_io, false },
	{ "as_completed_mixes_cpu_tasks_and_io",
	  test_as_completed_mixes_cpu_tasks_and_io, false },
	{ "tasks_and_io_call_each_other", test_tasks_and_io_call_each_other,
	  false },
	{ "io_queued_before_shutdown_completes",
	  test_io_queued_before_shutdown_completes, false },
	{ "cancelled_full_read_keeps_the_bytes_it_moved",
	  test_cancelled_full_read_keeps_the_bytes_it_moved, false },
	{ "fork_leaves_operations_in_flight_to_the_parent",
	  test_fork_leaves_operations_in_flight_to_the_parent, false },
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	it_raise_nofile();
	return tu_run_tests(argc, argv, "io-cancel", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
