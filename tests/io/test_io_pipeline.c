/* SPDX-License-Identifier: MIT */
/*
 * Operations queued from done-callbacks: a file copy pipeline with a
 * bounded window and no thread of its own, an endless chain that must
 * leave room for others, and more operations than a small ring has
 * entries.
 *
 * Registered three times: RINGPOOL_BACKEND=uring, RINGPOOL_BACKEND=threads
 * and shared rings.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "iotest.h"
#include "ringpool.h"
#include "testutil.h"

/*
 * A copy pipeline: WINDOW slots, each reading a chunk of the source and then
 * writing it to the destination, all from done-callbacks, with no thread of
 * its own.  At most WINDOW operations are in flight.
 */
#define WINDOW 4
#define CHUNK (64 * KiB)

struct copy_job;

struct copy_slot {
	struct copy_job *job;
	unsigned char *buf;
	uint64_t off;	/* of the chunk */
	size_t len;	/* of the chunk */
	size_t done;	/* bytes of the chunk read and written */
	size_t got;	/* bytes of the latest read */
	size_t wpos;	/* bytes of those written */
};

struct copy_job {
	rp_executor *ex;
	int in, out;
	uint64_t size;
	atomic_uint_fast64_t next;
	atomic_int error;
	atomic_int in_flight;
	atomic_int max_in_flight;
	atomic_uint reads, writes;
	struct tu_latch finished;
	struct copy_slot slots[WINDOW];
};

static void slot_next_chunk(struct copy_slot *s);
static void slot_read(struct copy_slot *s);
static void slot_write(struct copy_slot *s);

static void slot_fail(struct copy_slot *s, int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&s->job->error, &zero, err);
	tu_latch_post(&s->job->finished);
}

static void op_started(struct copy_job *job)
{
	int n = atomic_fetch_add(&job->in_flight, 1) + 1;
	int max = atomic_load(&job->max_in_flight);

	while (n > max &&
	       !atomic_compare_exchange_weak(&job->max_in_flight, &max, n))
		;
}

/* The operation's outcome, from a done-callback: it must not block. */
static int op_outcome(rp_future *f, int64_t *value)
{
	int error = 0;
	int ret = rp_future_result(f, 0, value, &error);

	if (ret)
		return ret == -ETIMEDOUT ? -EPROTO : ret;
	return error;
}

static void read_done(rp_future *f, void *arg)
{
	struct copy_slot *s = arg;
	int64_t v = 0;
	int err = op_outcome(f, &v);

	atomic_fetch_sub(&s->job->in_flight, 1);
	atomic_fetch_add(&s->job->reads, 1);
	if (err || v <= 0 || (size_t)v > s->len - s->done) {
		slot_fail(s, err ? err : -EIO);
		return;
	}
	s->got = (size_t)v;
	s->wpos = 0;
	slot_write(s);
}

static void write_done(rp_future *f, void *arg)
{
	struct copy_slot *s = arg;
	int64_t v = 0;
	int err = op_outcome(f, &v);

	atomic_fetch_sub(&s->job->in_flight, 1);
	atomic_fetch_add(&s->job->writes, 1);
	if (err || v <= 0 || (size_t)v > s->got - s->wpos) {
		slot_fail(s, err ? err : -EIO);
		return;
	}
	s->wpos += (size_t)v;
	if (s->wpos < s->got) {
		slot_write(s);
		return;
	}
	s->done += s->got;
	if (s->done < s->len)
		slot_read(s);
	else
		slot_next_chunk(s);
}

static void slot_submitted(struct copy_slot *s, int ret, rp_future *f,
			   rp_done_fn fn)
{
	if (ret) {
		atomic_fetch_sub(&s->job->in_flight, 1);
		slot_fail(s, ret);
		return;
	}
	/* May run fn at once, on this thread, if the operation has ended. */
	ret = rp_future_add_done_callback(f, fn, s);
	rp_future_unref(f);
	if (ret)
		slot_fail(s, ret);
}

static void slot_read(struct copy_slot *s)
{
	rp_future *f = NULL;
	int ret;

	op_started(s->job);
	ret = rp_read(s->job->ex, s->job->in, s->buf + s->done,
		      s->len - s->done, (int64_t)(s->off + s->done), NULL, &f);
	slot_submitted(s, ret, f, read_done);
}

static void slot_write(struct copy_slot *s)
{
	rp_future *f = NULL;
	int ret;

	op_started(s->job);
	ret = rp_write(s->job->ex, s->job->out, s->buf + s->done + s->wpos,
		       s->got - s->wpos,
		       (int64_t)(s->off + s->done + s->wpos), NULL, &f);
	slot_submitted(s, ret, f, write_done);
}

static void slot_next_chunk(struct copy_slot *s)
{
	uint64_t off = atomic_fetch_add(&s->job->next, CHUNK);

	if (off >= s->job->size) {
		tu_latch_post(&s->job->finished);
		return;
	}
	s->off = off;
	s->len = s->job->size - off < CHUNK ? (size_t)(s->job->size - off) :
					      CHUNK;
	s->done = 0;
	slot_read(s);
}

static void test_copy_pipeline_in_done_callbacks(void)
{
	const uint64_t size = tu_under_valgrind() ? 256 * KiB + 12345 :
						    8 * MiB + 12345;
	rp_executor *ex = it_executor_new(NULL);
	unsigned char *src = malloc(size), *back = calloc(1, size);
	struct copy_job *job = calloc(1, sizeof(*job));
	uint64_t chunks = (size + CHUNK - 1) / CHUNK;
	struct stat st;
	struct it_dir d;
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(src);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT_PTR_NOT_NULL_FATAL(job);
	it_dir_make(&d, NULL);
	it_fill(src, size, 41, 0);
	job->ex = ex;
	job->size = size;
	job->in = it_open_rw(&d, "src");
	CU_ASSERT_EQUAL_FATAL(pwrite(job->in, src, size, 0), (ssize_t)size);
	job->out = it_open_rw(&d, "dst");
	tu_latch_init(&job->finished);
	for (i = 0; i < WINDOW; i++) {
		job->slots[i].job = job;
		job->slots[i].buf = calloc(1, CHUNK);
		CU_ASSERT_PTR_NOT_NULL_FATAL(job->slots[i].buf);
	}
	for (i = 0; i < WINDOW; i++)
		slot_next_chunk(&job->slots[i]);
	if (!tu_latch_wait_for(&job->finished, WINDOW, 4 * tu_stuck_timeout_ns()))
		it_stuck("the copy pipeline");

	CU_ASSERT_EQUAL(atomic_load(&job->error), 0);
	CU_ASSERT_EQUAL(atomic_load(&job->in_flight), 0);
	CU_ASSERT(atomic_load(&job->max_in_flight) >= 1);
	CU_ASSERT(atomic_load(&job->max_in_flight) <= WINDOW);
	CU_ASSERT(atomic_load(&job->reads) >= chunks);
	CU_ASSERT(atomic_load(&job->writes) >= chunks);
	CU_ASSERT_EQUAL(fstat(job->out, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, (off_t)size);
	CU_ASSERT_EQUAL(pread(job->out, back, size, 0), (ssize_t)size);
	CU_ASSERT(memcmp(back, src, size) == 0);

	it_executor_free(ex);
	close(job->in);
	close(job->out);
	for (i = 0; i < WINDOW; i++)
		free(job->slots[i].buf);
	tu_latch_destroy(&job->finished);
	free(job);
	free(src);
	free(back);
	it_dir_remove(&d);
}

/*
 * A chain of reads, each queued by the last one's done-callback, never
 * ends on its own; with one blocking-I/O thread it must still leave room for
 * a read submitted from elsewhere.  The thread runs what a done-callback
 * queues next, before the shared queue, but only so many in a row.
 */
/*
 * A byte that another read fills, and the chain's `links` when a link first
 * ended after it was filled (0 until then).  With one I/O thread, that read
 * and the links run on the same thread.
 */
struct watch {
	char byte;
	atomic_uint seen_at;
};

struct chain {
	rp_executor *ex;
	int fd;
	char byte;
	atomic_bool stop;
	atomic_uint links;
	atomic_int error;
	atomic_int step;		/* CHAIN_IDLE, _SUBMITTING or _AGAIN */
	struct tu_latch ended;
	_Atomic(struct watch *) watch;
};

enum { CHAIN_IDLE, CHAIN_SUBMITTING, CHAIN_AGAIN };

static void chain_next(struct chain *c);

static void chain_done(rp_future *f, void *arg)
{
	struct chain *c = arg;
	int64_t v = 0;
	int err = op_outcome(f, &v);

	if (err || v != 1) {
		atomic_store(&c->error, err ? err : -EIO);
		tu_latch_post(&c->ended);
		return;
	}
	unsigned links = atomic_fetch_add(&c->links, 1) + 1;
	struct watch *w = atomic_load(&c->watch);

	if (w && w->byte && !atomic_load(&w->seen_at))
		atomic_store(&w->seen_at, links);
	if (atomic_load(&c->stop)) {
		tu_latch_post(&c->ended);
		return;
	}
	/* Still inside chain_next()'s submit: it goes on from there. */
	int expect = CHAIN_SUBMITTING;

	if (atomic_compare_exchange_strong(&c->step, &expect, CHAIN_AGAIN))
		return;
	chain_next(c);
}

/*
 * Submits the next read.  A trampoline: with shared rings the read can end
 * inside rp_read(), and its callback then runs inside
 * rp_future_add_done_callback(); calling chain_next() from there would nest
 * one stack frame deeper per read.
 */
static void chain_next(struct chain *c)
{
	int expect;

	do {
		rp_future *f = NULL;
		int ret;

		atomic_store(&c->step, CHAIN_SUBMITTING);
		ret = rp_read(c->ex, c->fd, &c->byte, 1, 0, NULL, &f);
		if (!ret)
			ret = rp_future_add_done_callback(f, chain_done, c);
		rp_future_unref(f);
		if (ret) {
			atomic_store(&c->error, ret);
			tu_latch_post(&c->ended);
			return;
		}
		expect = CHAIN_SUBMITTING;
	} while (!atomic_compare_exchange_strong(&c->step, &expect,
						 CHAIN_IDLE));
}

/*
 * Starts the chain.  With shared rings every read may end inside the
 * submit, so the thread that starts the chain runs it until it stops: not
 * the test's thread.
 */
static void *chain_main(void *arg)
{
	chain_next(arg);
	return NULL;
}

/* Starts a chain of reads of `d`'s file "f" on an executor of one I/O thread. */
static void chain_start(struct chain *c, struct it_dir *d, pthread_t *starter)
{
	struct rp_config cfg;
	int64_t until;

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.io_threads = 1;
	memset(c, 0, sizeof(*c));
	c->ex = it_executor_new(&cfg);
	it_dir_make(d, NULL);
	c->fd = it_open_rw(d, "f");
	CU_ASSERT_EQUAL_FATAL(pwrite(c->fd, "xy", 2, 0), 2);
	atomic_init(&c->stop, false);
	atomic_init(&c->links, 0);
	atomic_init(&c->error, 0);
	atomic_init(&c->step, CHAIN_IDLE);
	atomic_init(&c->watch, NULL);
	tu_latch_init(&c->ended);
	CU_ASSERT_EQUAL_FATAL(pthread_create(starter, NULL, chain_main, c), 0);
	until = tu_now_ns() + tu_stuck_timeout_ns();
	while (atomic_load(&c->links) < 100 && tu_now_ns() < until)
		usleep(1000);
	CU_ASSERT(atomic_load(&c->links) >= 100);
}

/* Stops the chain, checks that it ran without error, and frees it all. */
static void chain_end(struct chain *c, struct it_dir *d, pthread_t starter)
{
	unsigned at = atomic_load(&c->links);

	atomic_store(&c->stop, true);
	if (!tu_latch_wait_for(&c->ended, 1, tu_stuck_timeout_ns()))
		it_stuck("the chain of reads");
	pthread_join(starter, NULL);
	CU_ASSERT_EQUAL(atomic_load(&c->error), 0);
	CU_ASSERT(atomic_load(&c->links) >= at);
	CU_ASSERT_EQUAL(c->byte, 'x');
	it_executor_free(c->ex);
	tu_latch_destroy(&c->ended);
	close(c->fd);
	it_dir_remove(d);
}

static void test_endless_chain_leaves_room_for_others(void)
{
	pthread_t starter;
	struct chain c;
	struct it_dir d;
	rp_future *f = NULL;
	int64_t v = 0;
	char other = 0;

	chain_start(&c, &d, &starter);
	/* The chain runs on; a read from here must get its turn. */
	CU_ASSERT_EQUAL_FATAL(rp_read(c.ex, c.fd, &other, 1, 1, NULL, &f), 0);
	if (rp_future_result(f, tu_stuck_timeout_ns(), &v, NULL) == -ETIMEDOUT)
		it_stuck("a read queued beside an endless chain");
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(other, 'y');
	rp_future_unref(f);
	chain_end(&c, &d, starter);
}

/*
 * On the blocking-I/O pool a read from elsewhere waits for at most 4 of
 * the chain's reads: a link queued by a done-callback goes ahead of the
 * shared queue at most 4 times in a row while something waits there (32
 * while nothing does).  Counted from after the read was queued, the chain
 * may also end the link in progress, and the first link after the read
 * counts too: 6 at most, and 8 are allowed.  It used to run up to 32.
 */
static void test_a_read_beside_a_chain_goes_next(void)
{
	pthread_t starter;
	struct chain c;
	struct it_dir d;
	/* One each, never reused: the chain may still look at the last. */
	struct watch w[8];
	int round, worst = 0;

	if (it_expected_backend() != RP_BACKEND_THREADS) {
		printf("skipped: the order of the blocking-I/O pool\n");
		return;
	}
	for (round = 0; round < 8; round++) {
		w[round].byte = 0;
		atomic_init(&w[round].seen_at, 0);
	}
	chain_start(&c, &d, &starter);
	for (round = 0; round < 8; round++) {
		rp_future *f = NULL;
		int64_t until;
		int before;

		atomic_store(&c.watch, &w[round]);
		CU_ASSERT_EQUAL_FATAL(rp_read(c.ex, c.fd, &w[round].byte, 1, 1,
					      NULL, &f),
				      0);
		before = (int)atomic_load(&c.links);
		if (rp_future_result(f, tu_stuck_timeout_ns(), NULL, NULL))
			it_stuck("a read queued beside a chain");
		rp_future_unref(f);
		CU_ASSERT_EQUAL(w[round].byte, 'y');
		until = tu_now_ns() + tu_stuck_timeout_ns();
		while (!atomic_load(&w[round].seen_at) && tu_now_ns() < until)
			usleep(1000);
		CU_ASSERT(atomic_load(&w[round].seen_at) != 0);
		if ((int)atomic_load(&w[round].seen_at) - before > worst)
			worst = (int)atomic_load(&w[round].seen_at) - before;
	}
	atomic_store(&c.watch, NULL);
	CU_ASSERT(worst <= 8);
	if (worst > 8)
		printf("the chain ran %d reads first\n", worst);
	chain_end(&c, &d, starter);
}

/* More operations than a ring has entries, on small rings and pools. */
static void test_small_rings_take_more_operations_than_entries(void)
{
	enum { READS = 64, NOPS = 200 };
	struct rp_config cfg;
	rp_executor *ex;
	rp_future *reads[READS], *nops[NOPS];
	uint32_t bufs[READS];
	bool seen[READS];
	int fds[2];
	size_t n_done = 0;
	uint32_t i;

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.rings = 2;
	cfg.ring_entries = 8;
	cfg.io_threads = 2;
	ex = it_executor_new(&cfg);
	/* With the fallback these must not queue behind blocked reads. */
	for (i = 0; i < NOPS; i++)
		CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &nops[i]), 0);
	CU_ASSERT_EQUAL(rp_wait(nops, NOPS, RP_ALL_COMPLETED,
				tu_stuck_timeout_ns(), NULL, &n_done), 0);
	CU_ASSERT_EQUAL(n_done, NOPS);
	for (i = 0; i < NOPS; i++) {
		int64_t v = -1;

		CU_ASSERT_EQUAL(it_end(nops[i], &v), 0);
		CU_ASSERT_EQUAL(v, 0);
	}
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	for (i = 0; i < READS; i++) {
		bufs[i] = UINT32_MAX;
		CU_ASSERT_EQUAL_FATAL(rp_read(ex, fds[0], &bufs[i],
					      sizeof(bufs[i]), -1, NULL,
					      &reads[i]), 0);
	}
	/* No read can have ended yet: the pipe is empty. */
	for (i = 0; i < READS; i++)
		CU_ASSERT_FALSE(rp_future_done(reads[i]));
	for (i = 0; i < READS; i++)
		CU_ASSERT_EQUAL(write(fds[1], &i, sizeof(i)), sizeof(i));
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < READS; i++) {
		int64_t v = -1;

		CU_ASSERT_EQUAL(it_end(reads[i], &v), 0);
		CU_ASSERT_EQUAL(v, sizeof(bufs[i]));
		CU_ASSERT_FATAL(bufs[i] < READS);
		CU_ASSERT_FALSE(seen[bufs[i]]);
		seen[bufs[i]] = true;
	}
	close(fds[0]);
	close(fds[1]);
	it_executor_free(ex);
}

/* What a done-callback saw when it waited on an operation it queued. */
struct waits_in_cb {
	rp_executor *ex;
	rp_future *sleep;
	int queued, result, poll, wait_all, wait_first, next;
	struct tu_latch ran;
};

static void wait_in_callback(rp_future *f, void *arg)
{
	struct waits_in_cb *w = arg;
	rp_as_completed *it = NULL;
	rp_future *g = NULL;
	/* Bounded, so that a wait that cannot end fails the test. */
	int64_t limit = tu_stuck_timeout_ns();

	(void)f;
	w->queued = rp_sleep(w->ex, 20 * MS, &w->sleep);
	if (w->queued == 0) {
		w->poll = rp_future_result(w->sleep, 0, NULL, NULL);
		w->result = rp_future_result(w->sleep, limit, NULL, NULL);
		w->wait_all = rp_wait(&w->sleep, 1, RP_ALL_COMPLETED, limit,
				      NULL, NULL);
		w->wait_first = rp_wait(&w->sleep, 1, RP_FIRST_COMPLETED,
					limit, NULL, NULL);
		if (rp_as_completed_new(&w->sleep, 1, &it) == 0)
			w->next = rp_as_completed_next(it, limit, &g);
		rp_as_completed_free(it);
	}
	tu_latch_post(&w->ran);
}

/*
 * Whether rp_executor_backend()'s `why` names operation `name` as run on
 * the blocking-I/O pool: 1 yes, 0 no, -1 when the list was cut short.
 */
static int on_blocking_pool(const char *why, const char *name)
{
	const char *p = why ? strchr(why, ':') : NULL;
	size_t len = strlen(name);

	for (; p && *p; p += strcspn(p, " ")) {
		p += strspn(p, " ");
		if (strncmp(p, name, len) == 0 && (p[len] == ' ' || !p[len]))
			return 1;
		if (strncmp(p, "...", 3) == 0)
			return -1;
	}
	return 0;
}

/*
 * A done-callback on a ring's thread that waits for an operation of that
 * ring would wait forever: only that thread can send the operation and
 * reap it.  The waits say -EDEADLK instead.  Where the callback runs on a
 * blocking-I/O thread, or the operation there, the wait just works.
 */
static void test_waiting_in_a_callback_on_its_own_ring_is_edeadlk(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct waits_in_cb w;
	rp_future *f = NULL;
	const char *why = NULL;
	int backend = 0, fds[2], want, read_pool, sleep_pool;
	char c = 0;

	memset(&w, 0, sizeof(w));
	w.ex = ex;
	w.queued = w.result = w.poll = -1;
	tu_latch_init(&w.ran);
	CU_ASSERT_EQUAL(rp_executor_backend(ex, &backend, &why), 0);
	/*
	 * With the read and the sleep on the ring, the callback runs on the
	 * ring's thread and waits for its own ring.
	 */
	read_pool = on_blocking_pool(why, "read");
	sleep_pool = on_blocking_pool(why, "timeout");
	want = backend == RP_BACKEND_URING && !read_pool && !sleep_pool ?
	       -EDEADLK : 0;
	if (read_pool < 0 || sleep_pool < 0)
		want = 1;	/* either outcome, but no hang */

	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fds[0], &c, 1, -1, NULL, &f), 0);
	CU_ASSERT_EQUAL_FATAL(rp_future_add_done_callback(f, wait_in_callback,
							  &w), 0);
	CU_ASSERT_EQUAL(write(fds[1], "x", 1), 1);
	CU_ASSERT_EQUAL(it_end(f, NULL), 0);
	/* The callback's four waits may each run to their bound. */
	CU_ASSERT_TRUE_FATAL(tu_latch_wait_for(&w.ran, 1,
					       5 * tu_stuck_timeout_ns()));
	CU_ASSERT_EQUAL_FATAL(w.queued, 0);
	CU_ASSERT(w.poll == -ETIMEDOUT || w.poll == 0);
	if (want == 1)
		want = w.result;
	CU_ASSERT(want == 0 || want == -EDEADLK);
	CU_ASSERT_EQUAL(w.result, want);
	CU_ASSERT_EQUAL(w.wait_all, want);
	CU_ASSERT_EQUAL(w.wait_first, want);
	CU_ASSERT_EQUAL(w.next, want);
	/* The operation itself still ends, once the callback has returned. */
	CU_ASSERT_EQUAL(it_end(w.sleep, NULL), 0);
	close(fds[0]);
	close(fds[1]);
	tu_latch_destroy(&w.ran);
	it_executor_free(ex);
}

static const struct tu_test tests[] = {
	{ "copy_pipeline_in_done_callbacks",
	  test_copy_pipeline_in_done_callbacks, false },
	{ "small_rings_take_more_operations_than_entries",
	  test_small_rings_take_more_operations_than_entries, false },
	{ "endless_chain_leaves_room_for_others",
	  test_endless_chain_leaves_room_for_others, false },
	{ "a_read_beside_a_chain_goes_next",
	  test_a_read_beside_a_chain_goes_next, false },
	{ "waiting_in_a_callback_on_its_own_ring_is_edeadlk",
	  test_waiting_in_a_callback_on_its_own_ring_is_edeadlk, false },
};

int main(int argc, char **argv)
{
	umask(022);
	it_raise_nofile();
	return tu_run_tests(argc, argv, "io-pipeline", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
