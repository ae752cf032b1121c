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
struct chain {
	rp_executor *ex;
	int fd;
	char byte;
	atomic_bool stop;
	atomic_uint links;
	atomic_int error;
	atomic_int step;		/* CHAIN_IDLE, _SUBMITTING or _AGAIN */
	struct tu_latch ended;
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
	atomic_fetch_add(&c->links, 1);
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

static void test_endless_chain_leaves_room_for_others(void)
{
	pthread_t starter;
	struct rp_config cfg;
	struct chain c;
	struct it_dir d;
	rp_future *f = NULL;
	int64_t v = 0;
	char other = 0;
	int64_t until;
	unsigned at;

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.io_threads = 1;
	memset(&c, 0, sizeof(c));
	c.ex = it_executor_new(&cfg);
	it_dir_make(&d, NULL);
	c.fd = it_open_rw(&d, "f");
	CU_ASSERT_EQUAL_FATAL(pwrite(c.fd, "xy", 2, 0), 2);
	atomic_init(&c.stop, false);
	atomic_init(&c.links, 0);
	atomic_init(&c.error, 0);
	atomic_init(&c.step, CHAIN_IDLE);
	tu_latch_init(&c.ended);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&starter, NULL, chain_main, &c),
			      0);
	until = tu_now_ns() + tu_stuck_timeout_ns();
	while (atomic_load(&c.links) < 100 && tu_now_ns() < until)
		usleep(1000);
	CU_ASSERT(atomic_load(&c.links) >= 100);

	/* The chain runs on; a read from here must get its turn. */
	CU_ASSERT_EQUAL_FATAL(rp_read(c.ex, c.fd, &other, 1, 1, NULL, &f), 0);
	if (rp_future_result(f, tu_stuck_timeout_ns(), &v, NULL) == -ETIMEDOUT)
		it_stuck("a read queued beside an endless chain");
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(other, 'y');
	rp_future_unref(f);
	at = atomic_load(&c.links);
	atomic_store(&c.stop, true);
	if (!tu_latch_wait_for(&c.ended, 1, tu_stuck_timeout_ns()))
		it_stuck("the chain of reads");
	pthread_join(starter, NULL);
	CU_ASSERT_EQUAL(atomic_load(&c.error), 0);
	CU_ASSERT(atomic_load(&c.links) >= at);
	CU_ASSERT_EQUAL(c.byte, 'x');

	it_executor_free(c.ex);
	tu_latch_destroy(&c.ended);
	close(c.fd);
	it_dir_remove(&d);
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

static const struct tu_test tests[] = {
	{ "copy_pipeline_in_done_callbacks",
	  test_copy_pipeline_in_done_callbacks, false },
	{ "small_rings_take_more_operations_than_entries",
	  test_small_rings_take_more_operations_than_entries, false },
	{ "endless_chain_leaves_room_for_others",
	  test_endless_chain_leaves_room_for_others, false },
};

int main(int argc, char **argv)
{
	umask(022);
	it_raise_nofile();
	return tu_run_tests(argc, argv, "io-pipeline", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
