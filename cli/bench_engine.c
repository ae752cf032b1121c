/* SPDX-License-Identifier: MIT */
/*
 * The engines of `ringpool bench file`: how one run issues its I/O.
 *
 * - uring, threads: the library, on its io_uring backend (one ring per job)
 *   or on its blocking-thread fallback (one I/O thread per job).  QD x jobs
 *   chains each keep one rp_read()/rp_write() in flight: a done-callback
 *   records the operation and queues the chain's next one, so no thread of
 *   the tool takes part in the I/O (callbacks run on the ring's thread, or
 *   on the fallback's I/O threads).
 * - sync: plain pread()/pwrite() in a loop on `jobs` threads, no library:
 *   what fio's psync engine does, the baseline.
 *
 * Every operation is timed from just before it is queued to its completion
 * and goes into its chain's own histogram (one writer each, merged at the
 * end), so no sample is lost or contended at any rate.  An operation counts
 * when it was issued inside the measured window (after the warm-up); every
 * such operation is waited for, so ops counted = ops issued.  The main
 * thread samples the completion counters every 100 ms for the series.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ringpool.h"
#include "bench.h"

const char *const bench_engine_names[ENG_COUNT] = {
	"uring",
	"threads",
	"sync",
};

/* One chain: one operation in flight at a time. */
struct chain {
	_Atomic uint64_t done; /* counted completions (one writer) */
	uint64_t issued;       /* counted issues; read after the drain */
	uint64_t bytes, errors;
	uint64_t rng;
	uint64_t t0;
	int64_t off; /* of the operation in flight */
	bool counted, is_write;
	void *buf;
	struct bench_hist *hist;
	struct chain *next_pending;
	pthread_t thread; /* sync */
} __attribute__((aligned(64)));

static struct {
	const struct file_job *j;
	rp_executor *ex;
	int op_fd;
	struct chain *chains;
	unsigned char *bufs; /* every chain's buffer, one after the other */
	size_t bufs_len;     /* the mapping's length with --huge-pages, or 0 */
	unsigned n;
	atomic_bool measuring, stopping;
	atomic_uint active;
	_Atomic uint64_t ended_ns; /* when active reached 0 */
	_Atomic uint64_t seq_cursor;
	_Atomic uint64_t issued_total; /* with --ops */
	_Atomic int first_error;
	_Atomic int64_t error_offset;
	atomic_bool error_write;
	sem_t drained;
	/*
	 * The threads that start chains (sync's, and uring's per job) wait
	 * here until the window opens: their creation is not measured.
	 */
	sem_t gate;
	unsigned gated; /* threads waiting at the gate */
	struct kick *kicks; /* uring with --jobs > 1 */
} st;

/* Waits until the window opens. */
static void gate_pass(void)
{
	while (sem_wait(&st.gate) < 0 && errno == EINTR)
		;
}

/* Lets every thread waiting at the gate go. */
static void gate_open(void)
{
	for (; st.gated; st.gated--)
		sem_post(&st.gate);
}

/* Recursion guard of the callback, see on_done(). */
static _Thread_local unsigned cb_depth;
static _Thread_local struct chain *pending_head;

static inline uint64_t xorshift64s(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Records the run's first error (of the operation at `offset`, or -1). */
static void set_error(int err, int64_t offset, bool is_write)
{
	int zero = 0;

	if (atomic_compare_exchange_strong(&st.first_error, &zero, err)) {
		atomic_store(&st.error_offset, offset);
		atomic_store(&st.error_write, is_write);
	}
	atomic_store(&st.stopping, true);
}

static void chain_end(void)
{
	if (atomic_fetch_sub(&st.active, 1) == 1) {
		atomic_store(&st.ended_ns, bench_now_ns());
		sem_post(&st.drained);
	}
}

/*
 * Picks the chain's next operation; false when the chain should stop
 * (stopping, or --ops issued in full).
 */
static bool next_op(struct chain *c, int64_t *offset)
{
	const struct file_job *j = st.j;
	uint64_t blk;

	if (atomic_load_explicit(&st.stopping, memory_order_relaxed))
		return false;
	c->counted = atomic_load_explicit(&st.measuring, memory_order_relaxed);
	if (c->counted && j->ops &&
	    atomic_fetch_add_explicit(&st.issued_total, 1,
				      memory_order_relaxed) >= j->ops)
		return false;
	if (j->seq)
		blk = atomic_fetch_add_explicit(&st.seq_cursor, 1,
						memory_order_relaxed) %
		      j->nblocks;
	else
		blk = xorshift64s(&c->rng) % j->nblocks;
	c->is_write =
		j->read_pct == 0 || (j->read_pct < 100 &&
				     xorshift64s(&c->rng) % 100 >= j->read_pct);
	*offset = (int64_t)(blk * j->bs);
	c->off = *offset;
	if (c->counted)
		c->issued++;
	return true;
}

static void record(struct chain *c, int64_t value, uint64_t t1)
{
	if (!c->counted)
		return;
	bench_hist_add(c->hist, t1 - c->t0);
	c->bytes += (uint64_t)value;
	if ((uint64_t)value != st.j->bs)
		c->errors++; /* short transfer, or failed (value 0) */
	atomic_store_explicit(
		&c->done,
		atomic_load_explicit(&c->done, memory_order_relaxed) + 1,
		memory_order_relaxed);
}

/* ---- the library's engines ----------------------------------------------- */

static void on_done(rp_future *f, void *arg);

static void issue(struct chain *c)
{
	struct rp_io_opts io = {0};
	const struct file_job *j = st.j;
	int64_t off;
	rp_future *f;
	int ret;

	if (!next_op(c, &off)) {
		chain_end();
		return;
	}
	if (j->reg_files)
		io.flags |= RP_IO_FIXED_FILE;
	if (j->fixed_bufs) {
		io.flags |= RP_IO_FIXED_BUF;
		io.buf_index = (unsigned)(c - st.chains);
	}
	c->t0 = bench_now_ns();
	if (c->is_write)
		ret = rp_write(st.ex, st.op_fd, c->buf, j->bs, off, &io, &f);
	else
		ret = rp_read(st.ex, st.op_fd, c->buf, j->bs, off, &io, &f);
	if (ret < 0) {
		/* Never issued: it neither counts nor completes. */
		if (c->counted)
			c->issued--;
		set_error(ret, off, c->is_write);
		chain_end();
		return;
	}
	ret = rp_future_add_done_callback(f, on_done, c);
	rp_future_unref(f); /* the executor keeps its own until done */
	if (ret < 0) {
		/*
		 * The operation goes on without us; the buffer stays
		 * allocated until the executor is freed, which waits for it.
		 */
		set_error(ret, off, c->is_write);
		chain_end();
	}
}

/*
 * An operation ended: record it and queue the next.  When the next one ends
 * before its callback is registered, rp_future_add_done_callback() runs this
 * at once, inside issue(); such nested calls only park their chain on a list
 * of this thread that the outermost call works off, so the stack stays flat.
 */
static void on_done(rp_future *f, void *arg)
{
	uint64_t t1 = bench_now_ns();
	struct chain *c = arg;
	int64_t value = 0;
	int err = 0, ret;

	ret = rp_future_result(f, 0, &value, &err);
	if (ret < 0 || err < 0) {
		/*
		 * A failed operation was issued and has completed: it
		 * counts, as a failed one, so ops counted = ops issued.
		 */
		record(c, 0, t1);
		set_error(ret < 0 ? ret : err, c->off, c->is_write);
		chain_end();
		return;
	}
	record(c, value, t1);

	if (cb_depth) {
		c->next_pending = pending_head;
		pending_head = c;
		return;
	}
	cb_depth++;
	issue(c);
	while (pending_head) {
		c = pending_head;
		pending_head = c->next_pending;
		issue(c);
	}
	cb_depth--;
}

struct kick {
	unsigned first, count;
	bool threaded; /* on a thread of its own, which waits at the gate */
	pthread_t thread;
};

/*
 * The first operation of each job's chains, queued from a thread of its
 * own: the library puts a thread's operations on one ring (and a callback's
 * on its own ring), so each job's chains stay on their own ring.
 */
static void *kick_job(void *arg)
{
	struct kick *k = arg;
	unsigned i;

	if (k->threaded)
		gate_pass();
	for (i = 0; i < k->count; i++)
		issue(&st.chains[k->first + i]);
	return NULL;
}

/*
 * The executor of a run, with the file and buffers registered: before the
 * window starts, as fio sets its rings up before it counts.
 */
static int lib_setup(struct bench_run *r)
{
	const struct file_job *j = st.j;
	struct rp_config cfg;
	unsigned i, entries = 64;
	int ret;

	rp_config_init(&cfg);
	cfg.workers = 1;
	if (j->engine == ENG_URING) {
		cfg.backend = RP_BACKEND_URING;
		cfg.rings = j->jobs;
		while (entries < 2 * j->qd)
			entries *= 2;
		cfg.ring_entries = entries;
		cfg.io_threads = 1;
		/*
		 * The kernel's default idle time, which fio's sqthread_poll
		 * keeps too.
		 */
		if (j->sqpoll)
			cfg.sqpoll_idle_ms = 1000;
	} else {
		cfg.backend = RP_BACKEND_THREADS;
		cfg.io_threads = j->jobs;
	}
	ret = rp_executor_new(&cfg, &st.ex);
	if (ret < 0) {
		snprintf(r->error, sizeof(r->error),
			 "cannot start the %s "
			 "backend: %s",
			 j->engine == ENG_URING ? "io_uring"
						: "blocking-thread",
			 strerror(-ret));
		return ret;
	}
	bench_backend_name(st.ex, r->backend, sizeof(r->backend));
	st.op_fd = j->fd;
	if (j->reg_files) {
		ret = rp_register_files(st.ex, &j->fd, 1);
		if (ret < 0) {
			snprintf(r->error, sizeof(r->error),
				 "rp_register_files: %s", strerror(-ret));
			return ret;
		}
		st.op_fd = 0;
	}
	if (j->fixed_bufs) {
		struct iovec *iov = calloc(st.n, sizeof(*iov));

		if (!iov)
			return -ENOMEM;
		for (i = 0; i < st.n; i++) {
			iov[i].iov_base = st.chains[i].buf;
			iov[i].iov_len = j->bs;
		}
		ret = rp_register_buffers(st.ex, iov, st.n);
		free(iov);
		if (ret < 0) {
			snprintf(r->error, sizeof(r->error),
				 "rp_register_buffers: %s%s", strerror(-ret),
				 ret == -ENOMEM ? " (RLIMIT_MEMLOCK too low?)"
						: "");
			return ret;
		}
	}
	return 0;
}

/*
 * uring with --jobs > 1: a thread per job to start its chains, waiting at
 * the gate.  A job whose thread cannot be made is started from lib_go().
 */
static int lib_ready(void)
{
	const struct file_job *j = st.j;
	unsigned i;

	if (j->engine != ENG_URING || j->jobs == 1)
		return 0;
	st.kicks = calloc(j->jobs, sizeof(*st.kicks));
	if (!st.kicks)
		return -ENOMEM;
	for (i = 0; i < j->jobs; i++) {
		struct kick *k = &st.kicks[i];

		k->first = i * j->qd;
		k->count = j->qd;
		k->threaded = true;
		if (pthread_create(&k->thread, NULL, kick_job, k))
			k->threaded = false;
		else
			st.gated++;
	}
	return 0;
}

/* Starts the chains, once the gate is open: the first operation of each. */
static void lib_go(void)
{
	const struct file_job *j = st.j;
	unsigned i;

	if (!st.kicks) {
		for (i = 0; i < st.n; i++)
			issue(&st.chains[i]);
		return;
	}
	for (i = 0; i < j->jobs; i++)
		if (!st.kicks[i].threaded)
			kick_job(&st.kicks[i]);
	for (i = 0; i < j->jobs; i++)
		if (st.kicks[i].threaded)
			pthread_join(st.kicks[i].thread, NULL);
	free(st.kicks);
	st.kicks = NULL;
}

/* ---- sync: pread/pwrite on plain threads --------------------------------- */

static void *sync_thread(void *arg)
{
	const struct file_job *j = st.j;
	struct chain *c = arg;
	char name[16];
	int64_t off;
	ssize_t n;

	/* Named as the library's threads are, for top and ps. */
	snprintf(name, sizeof(name), "rp-sync%u", (unsigned)(c - st.chains));
	pthread_setname_np(pthread_self(), name);
	gate_pass();
	while (next_op(c, &off)) {
		c->t0 = bench_now_ns();
		if (c->is_write)
			n = pwrite(j->fd, c->buf, j->bs, off);
		else
			n = pread(j->fd, c->buf, j->bs, off);
		if (n < 0) {
			int err = -errno;

			/* Failed, but issued and ended: it counts. */
			record(c, 0, bench_now_ns());
			set_error(err, off, c->is_write);
			break;
		}
		record(c, n, bench_now_ns());
	}
	chain_end();
	return NULL;
}

static int sync_start(struct bench_run *r)
{
	unsigned i;
	int ret;

	snprintf(r->backend, sizeof(r->backend), "none");
	for (i = 0; i < st.n; i++) {
		ret = pthread_create(&st.chains[i].thread, NULL, sync_thread,
				     &st.chains[i]);
		if (ret) {
			snprintf(r->error, sizeof(r->error),
				 "pthread_create: %s", strerror(ret));
			/* The threads already started stop at once. */
			atomic_store(&st.stopping, true);
			gate_open();
			while (i--)
				pthread_join(st.chains[i].thread, NULL);
			return -ret;
		}
		st.gated++;
	}
	return 0;
}

/* ---- the run ------------------------------------------------------------- */

static uint64_t total_done(void)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < st.n; i++)
		sum += atomic_load_explicit(&st.chains[i].done,
					    memory_order_relaxed);
	return sum;
}

int bench_huge_pages(uint64_t *size, uint64_t *free_pages)
{
	FILE *f = fopen("/proc/meminfo", "r");
	unsigned long long v;
	char line[128];
	bool have_size = false, have_free = false;

	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Hugepagesize: %llu kB", &v) == 1) {
			*size = v * 1024;
			have_size = v > 0;
		} else if (sscanf(line, "HugePages_Free: %llu", &v) == 1) {
			*free_pages = v;
			have_free = true;
		}
	}
	fclose(f);
	return have_size && have_free ? 0 : -ENOENT;
}

/*
 * The buffers, in one block: page-aligned from the heap, or with
 * --huge-pages a mapping of huge pages (MAP_HUGETLB), in which a 1 MiB
 * buffer is a single physically contiguous piece for the device rather
 * than 256 pages.
 */
static int alloc_bufs(const struct file_job *j, size_t len)
{
	uint64_t huge, nfree;
	void *p;

	if (!j->huge_pages) {
		st.bufs = aligned_alloc(4096, len);
		return st.bufs ? 0 : -ENOMEM;
	}
	if (bench_huge_pages(&huge, &nfree))
		return -ENOENT;
	len = (len + huge - 1) / huge * huge;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	st.bufs = p;
	st.bufs_len = len;
	return 0;
}

static void free_bufs(void)
{
	if (st.bufs && st.bufs_len)
		munmap(st.bufs, st.bufs_len);
	else
		free(st.bufs);
	st.bufs = NULL;
	st.bufs_len = 0;
}

static void cleanup(void)
{
	unsigned i;

	rp_executor_free(st.ex); /* waits for what is in flight */
	st.ex = NULL;
	for (i = 0; st.chains && i < st.n; i++)
		free(st.chains[i].hist);
	free_bufs();
	free(st.chains);
	st.chains = NULL;
	sem_destroy(&st.drained);
	sem_destroy(&st.gate);
}

static uint64_t meter_done(void *arg)
{
	(void)arg;
	return total_done();
}

static bool meter_ended(void *arg)
{
	(void)arg;
	return atomic_load(&st.first_error) ||
	       (st.j->ops && atomic_load(&st.active) == 0);
}

static void meter_measure(void *arg)
{
	(void)arg;
	atomic_store(&st.measuring, true);
}

static uint64_t meter_ended_at(void *arg)
{
	(void)arg;
	/* Only an end the chains reached by themselves (--ops). */
	return st.j->ops ? atomic_load(&st.ended_ns) : 0;
}

static void meter_wait(void *arg, double s)
{
	(void)arg;
	bench_wait_sem(&st.drained, s);
}

static void meter_stop(void *arg)
{
	(void)arg;
	atomic_store(&st.stopping, true);
	sem_wait(&st.drained);
}

int bench_file_run(const struct file_job *j, struct bench_run *r)
{
	struct bench_window win;
	size_t stride;
	unsigned i;
	int ret, err;

	memset(&st, 0, sizeof(st));
	st.j = j;
	st.n = j->engine == ENG_SYNC ? j->jobs : j->qd * j->jobs;
	snprintf(r->tool, sizeof(r->tool), "ringpool");
	snprintf(r->engine, sizeof(r->engine), "%s",
		 bench_engine_names[j->engine]);
	r->lat = calloc(1, sizeof(*r->lat));
	st.chains = calloc(st.n, sizeof(*st.chains));
	/* One block for all buffers, as fio allocates its own. */
	stride = (j->bs + 4095) & ~(size_t)4095;
	err = alloc_bufs(j, stride * st.n);
	if (!r->lat || !st.chains || err || sem_init(&st.drained, 0, 0) ||
	    sem_init(&st.gate, 0, 0)) {
		free(st.chains);
		st.chains = NULL;
		free_bufs();
		if (err && j->huge_pages)
			snprintf(r->error, sizeof(r->error),
				 "no huge pages for %u buffers of %llu bytes "
				 "(--huge-pages): %s", st.n,
				 (unsigned long long)j->bs, strerror(-err));
		else
			snprintf(r->error, sizeof(r->error),
				 "out of memory for %u buffers of %llu bytes",
				 st.n, (unsigned long long)j->bs);
		return err ? err : -ENOMEM;
	}
	for (i = 0; i < st.n; i++) {
		struct chain *c = &st.chains[i];

		c->rng = 0x9E3779B97F4A7C15ULL * (i + 1) ^ bench_now_ns();
		c->buf = st.bufs + i * stride;
		c->hist = calloc(1, sizeof(*c->hist));
		if (!c->hist) {
			st.n = i + 1;
			cleanup();
			snprintf(r->error, sizeof(r->error), "out of memory");
			return -ENOMEM;
		}
		memset(c->buf, 0x5a ^ (int)i, j->bs);
	}
	atomic_store(&st.active, st.n);
	/* Measured from the start when there is no warm-up. */
	if (j->warmup <= 0)
		atomic_store(&st.measuring, true);
	/* Everything is set up and waits at the gate... */
	if (j->engine == ENG_SYNC) {
		ret = sync_start(r);
	} else {
		ret = lib_setup(r);
		if (ret == 0)
			ret = lib_ready();
	}
	if (ret == 0) {
		/* ...when the window (without warm-up) opens. */
		bench_window_start(&win);
		gate_open();
		if (j->engine != ENG_SYNC)
			lib_go();
	}
	if (ret < 0) {
		/* Nothing was issued, or what was has been waited for. */
		cleanup();
		if (!r->error[0])
			snprintf(r->error, sizeof(r->error), "%s",
				 strerror(-ret));
		return ret;
	}
	{
		const struct bench_meter m = {
			.done = meter_done,
			.ended = meter_ended,
			.measure = meter_measure,
			.stop_and_drain = meter_stop,
			.ended_at = meter_ended_at,
			.wait = meter_wait,
		};

		bench_measure(j->c, bench_engine_names[j->engine], j->runtime,
			      j->warmup, &win, &m, r);
	}
	for (i = 0; i < st.n; i++) {
		if (j->engine == ENG_SYNC)
			pthread_join(st.chains[i].thread, NULL);
		bench_hist_merge(r->lat, st.chains[i].hist);
		r->ops += atomic_load(&st.chains[i].done);
		r->ops_issued += st.chains[i].issued;
		r->bytes += st.chains[i].bytes;
		r->errors += st.chains[i].errors;
	}
	err = atomic_load(&st.first_error);
	if (err) {
		int64_t off = atomic_load(&st.error_offset);

		if (off >= 0)
			snprintf(r->error, sizeof(r->error),
				 "%s at offset %lld: %s",
				 atomic_load(&st.error_write) ? "write"
							      : "read",
				 (long long)off, strerror(-err));
		else
			snprintf(r->error, sizeof(r->error), "%s",
				 strerror(-err));
	}
	cleanup();
	bench_run_finish(r);
	return 0;
}
