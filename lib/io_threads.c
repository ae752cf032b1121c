/* SPDX-License-Identifier: MIT */
/*
 * The fallback I/O backend: operations run as blocking system calls on a
 * pool of threads of their own (an internal executor, separate from the CPU
 * workers), for where io_uring is unavailable: blocked by seccomp, disabled
 * by sysctl, or an old kernel.
 *
 * The operation is the same SQE the io_uring backend would submit;
 * io_blocking.c turns it into system calls.  Waits that may last (pipes,
 * sockets, sleeps) poll on the descriptor and on an eventfd of the thread, so
 * rp_future_cancel() can stop them: it marks the future and writes the
 * eventfd of the thread running it.  Each thread publishes what it runs in a
 * slot under a mutex, so a canceller never signals a thread that has moved on
 * to another operation.
 *
 * The same pool (struct rp__blocking) also serves the io_uring backend for
 * the operations its kernel's io_uring lacks (io_uring_submit.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

struct slot {
	pthread_mutex_t lock;
	rp_future *running;
	int efd;
} RP_ALIGNED;

struct rp__blocking {
	rp_executor *pool;
	unsigned n;
	struct slot *slots;
};

static struct rp__blocking *state_of(const rp_executor *ex)
{
	return ex->io_priv;
}

static void free_state(struct rp__blocking *st)
{
	unsigned i;

	for (i = 0; i < st->n; i++) {
		if (st->slots[i].efd >= 0)
			close(st->slots[i].efd);
		pthread_mutex_destroy(&st->slots[i].lock);
	}
	free(st->slots);
	free(st);
}

int rp__blocking_new(unsigned threads, uint32_t spin_ns,
		     struct rp__blocking **out)
{
	struct rp__blocking *st;
	struct rp_config pcfg;
	unsigned i;
	int ret;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->n = threads;
	st->slots = aligned_alloc(RP_CACHELINE, st->n * sizeof(*st->slots));
	if (!st->slots) {
		free(st);
		return -ENOMEM;
	}
	memset(st->slots, 0, st->n * sizeof(*st->slots));
	for (i = 0; i < st->n; i++) {
		pthread_mutex_init(&st->slots[i].lock, NULL);
		st->slots[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (st->slots[i].efd < 0) {
			ret = -errno;
			free_state(st);
			return ret;
		}
	}

	rp_config_init(&pcfg);
	pcfg.workers = st->n;
	pcfg.thread_name_prefix = "rp-io";
	pcfg.spin_ns = spin_ns;
	ret = rp__executor_create(&pcfg, true, &st->pool);
	if (ret < 0) {
		free_state(st);
		return ret;
	}
	/* Before any operation reaches it: its workers find the slots so. */
	st->pool->blocking = st;
	*out = st;
	return 0;
}

void rp__blocking_submit(struct rp__blocking *st, rp_future *f)
{
	rp__executor_enqueue(st->pool, f);
}

/* Marks `f` and wakes the thread running it, if it still runs it. */
static void signal_slot(struct slot *s, rp_future *f)
{
	pthread_mutex_lock(&s->lock);
	if (s->running && (!f || s->running == f)) {
		atomic_fetch_or(&s->running->flags, RP__F_CANCEL_REQ);
		(void)eventfd_write(s->efd, 1);
	}
	pthread_mutex_unlock(&s->lock);
}

void rp__blocking_cancel(struct rp__blocking *st, rp_future *f)
{
	uint32_t slot = (atomic_load(&f->flags) & RP__F_SLOT_MASK) >>
			RP__F_SLOT_SHIFT;

	/*
	 * Slot 0: claimed but not yet published; the thread checks the cancel
	 * flag (set before this call) before it starts the operation.
	 */
	if (slot > 0 && slot <= st->n)
		signal_slot(&st->slots[slot - 1], f);
}

void rp__blocking_stop(struct rp__blocking *st, bool cancel_pending,
		       bool cancel_inflight, bool wait)
{
	unsigned i;

	rp_executor_shutdown(st->pool, cancel_pending ?
			     RP_SHUTDOWN_CANCEL_PENDING : 0);
	if (cancel_inflight)
		for (i = 0; i < st->n; i++)
			signal_slot(&st->slots[i], NULL);
	if (wait)
		rp_executor_shutdown(st->pool, RP_SHUTDOWN_WAIT);
}

void rp__blocking_free(struct rp__blocking *st)
{
	if (!st)
		return;
	rp_executor_free(st->pool);
	free_state(st);
}

bool rp__blocking_on_own_thread(const struct rp__blocking *st)
{
	return st && rp__current_worker_executor() == st->pool;
}

/* ---- the fallback backend: every operation on the pool ----------------- */

static int threads_start(rp_executor *ex, const struct rp_config *cfg,
			 char *why, size_t whylen)
{
	struct rp__blocking *st;
	int ret;

	(void)why;
	(void)whylen;
	ret = rp__blocking_new(ex->io_threads, cfg->spin_ns, &st);
	if (ret < 0)
		return ret;
	ex->io_priv = st;
	return 0;
}

static void threads_submit(rp_executor *ex, rp_future *f)
{
	rp__blocking_submit(state_of(ex), f);
}

static void threads_cancel(rp_executor *ex, rp_future *f)
{
	rp__blocking_cancel(state_of(ex), f);
}

static void threads_stop(rp_executor *ex, bool cancel_pending,
			 bool cancel_inflight, bool wait)
{
	rp__blocking_stop(state_of(ex), cancel_pending, cancel_inflight, wait);
}

static void threads_destroy(rp_executor *ex)
{
	rp__blocking_free(state_of(ex));
	ex->io_priv = NULL;
}

/* The table lives in the executor (io.c); indexes are translated per call. */
static int threads_reg(rp_executor *ex, int kind, const void *ptr, unsigned n)
{
	(void)ex;
	(void)kind;
	(void)ptr;
	(void)n;
	return 0;
}

static bool threads_on_own_thread(const rp_executor *ex)
{
	return rp__blocking_on_own_thread(state_of(ex));
}

static int64_t timespec_ns(const struct __kernel_timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/*
 * Whether [addr, addr + len) lies inside registered buffer `index`, as the
 * kernel checks a fixed-buffer read or write (-EFAULT otherwise).
 */
static bool in_fixed_buf(rp_executor *ex, unsigned index, uint64_t addr,
			 uint32_t len)
{
	const struct iovec *b;
	uint64_t start;
	bool in;

	pthread_mutex_lock(&ex->io_lock);
	in = index < ex->n_fixed_bufs;
	if (in) {
		b = &ex->fixed_bufs[index];
		start = (uint64_t)(uintptr_t)b->iov_base;
		in = addr >= start && addr - start <= b->iov_len &&
		     len <= b->iov_len - (addr - start);
	}
	pthread_mutex_unlock(&ex->io_lock);
	return in;
}

/*
 * Registered files and buffers mean nothing to plain system calls: turn an
 * index into its descriptor, and a fixed-buffer read or write into a plain
 * one (the address in the SQE is the real one, checked against the
 * registered buffer as io_uring checks it).
 */
static int translate_fixed(rp_executor *ex, struct io_uring_sqe *sqe)
{
	if (sqe->opcode == IORING_OP_READ_FIXED ||
	    sqe->opcode == IORING_OP_WRITE_FIXED) {
		if (!in_fixed_buf(ex, sqe->buf_index, sqe->addr, sqe->len))
			return -EFAULT;
		sqe->opcode = sqe->opcode == IORING_OP_READ_FIXED ?
				      IORING_OP_READ : IORING_OP_WRITE;
	}
	if (!(sqe->flags & IOSQE_FIXED_FILE))
		return 0;
	sqe->flags &= ~IOSQE_FIXED_FILE;
	pthread_mutex_lock(&ex->io_lock);
	if (sqe->fd < 0 || (unsigned)sqe->fd >= ex->n_fixed_fds) {
		pthread_mutex_unlock(&ex->io_lock);
		return -EBADF;
	}
	sqe->fd = ex->fixed_fds[sqe->fd];
	pthread_mutex_unlock(&ex->io_lock);
	return 0;
}

/*
 * A multishot operation, one system call at a time: the same accept or
 * recv again and again on this thread, each result handed to the callback.
 * Returns the result that stopped it.
 */
static int64_t run_multishot(rp_future *f, int cancel_fd)
{
	const struct io_uring_sqe *ms = &rp__iof(f)->sqe;
	char buf[RP__RECV_BUF_SIZE];
	struct io_uring_sqe one;
	int64_t res;

	memset(&one, 0, sizeof(one));
	if (ms->opcode == IORING_OP_ACCEPT)
		io_uring_prep_accept(&one, ms->fd, NULL, NULL,
				     (int)ms->accept_flags);
	else
		io_uring_prep_recv(&one, ms->fd, buf, sizeof(buf), 0);
	do
		res = rp__io_blocking_execute(&one, cancel_fd, INT64_MAX,
					      &f->flags);
	while (rp__io_multi_deliver(f, res, buf));
	return res;
}

void rp__io_blocking_run(rp_executor *pool, rp_future *f)
{
	struct rp__blocking *st = pool->blocking;
	struct io_uring_sqe *sqe = &rp__iof(f)->sqe;
	int idx = rp__current_worker_index();
	struct slot *s = &st->slots[idx];
	int64_t deadline = INT64_MAX, res;

	if (atomic_load(&f->flags) & RP__F_DEADLINE)
		deadline = timespec_ns(&f->u.io.deadline);

	pthread_mutex_lock(&s->lock);
	s->running = f;
	atomic_fetch_or(&f->flags, (uint32_t)(idx + 1) << RP__F_SLOT_SHIFT);
	pthread_mutex_unlock(&s->lock);

	if (atomic_load(&f->flags) & RP__F_MULTI) {
		res = run_multishot(f, s->efd);
		goto done;
	}
	res = translate_fixed(f->ex, sqe);
	if (res < 0)
		goto done;
	for (;;) {
		res = rp__io_blocking_execute(sqe, s->efd, deadline, &f->flags);
		if (!(atomic_load(&f->flags) & RP__F_FULL) || res <= 0 ||
		    (uint64_t)res >= sqe->len)
			break;
		/* A short transfer of a *_full operation: go on from there. */
		f->value += res;
		sqe->addr += (uint64_t)res;
		sqe->len -= (unsigned)res;
		if (sqe->off != (uint64_t)-1)
			sqe->off += (uint64_t)res;
	}

done:
	pthread_mutex_lock(&s->lock);
	s->running = NULL;
	atomic_fetch_and(&f->flags, ~(uint32_t)RP__F_SLOT_MASK);
	pthread_mutex_unlock(&s->lock);

	if (res == -ETIMEDOUT && deadline != INT64_MAX)
		atomic_fetch_or(&f->flags, RP__F_TIMED_OUT);
	rp__worker_completing(true);
	rp__io_complete(f, res);
	rp__worker_completing(false);
}

const struct rp__io_backend rp__io_threads_backend = {
	.name = "threads",
	.start = threads_start,
	.submit = threads_submit,
	.cancel = threads_cancel,
	.stop = threads_stop,
	.reg = threads_reg,
	.destroy = threads_destroy,
	.on_own_thread = threads_on_own_thread,
};
