/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend: one or more rings, each with a thread of its own.
 * This file is a ring's thread: submissions into the SQ, completions,
 * sleeping and waking.  io_uring_setup.c creates and frees the rings,
 * io_uring_submit.c is what the executor calls.
 *
 * Owned rings (the default) are driven by that thread alone.  Shared rings
 * (RP_RINGS_SHARED) are driven by whichever thread holds the ring's lock: a
 * submitter, or the end of a batch, takes it when it is free and submits and
 * reaps itself (kick(), rp__ring_drive()); the ring thread does the rest.
 * The comments below describe owned rings; rp__ring_drive() says what
 * differs.
 *
 * Why a dedicated thread per ring: the flags that cut the kernel's overhead
 * most (IORING_SETUP_SINGLE_ISSUER with DEFER_TASKRUN) require one thread to
 * do all submitting and reaping, and completions then run their callbacks on
 * a thread that never blocks in user code.
 *
 * Any thread submits by pushing the future on the ring's queue (queue.c);
 * the ring thread moves queued futures into SQEs in batches and reaps
 * completions in batches.  Wake-ups are coalesced: a submitter writes the
 * ring's eventfd only when the ring thread is about to sleep, with the same
 * Dekker pairing as the CPU pool: the submitter pushes (seq_cst) then reads
 * `sleeping`; the ring thread sets `sleeping` (seq_cst) then looks at the
 * queue once more.
 *
 * An owned ring with DEFER_TASKRUN sleeps in io_uring_enter(), waiting for
 * one CQE, and a multishot poll on the eventfd turns a submitter's write into
 * one: a completion then wakes the thread straight from the kernel's wait,
 * with no eventfd signal and no second system call to read it.  The echo
 * server at one connection without spinning went from 0.92x to 0.98x the
 * epoll server; a bare liburing loop of O_DIRECT reads at QD 32 did 2-9%
 * more IOPS than with the eventfd sleep below.
 *
 * Other rings, and every ring under valgrind, sleep in ppoll() on that
 * eventfd, which is then also the ring's registered eventfd: the kernel
 * signals it when completions or deferred task work arrive (with
 * DEFER_TASKRUN, a socket becoming ready only queues task work, which does
 * not make the ring's own descriptor readable).  The registration is toggled
 * off while the thread runs, so busy periods pay no eventfd signal per
 * completion.  valgrind (3.19) treats io_uring_enter as a system call that
 * cannot block and holds its scheduler lock through it, which would stop
 * every other thread.  A shared ring's thread sleeps unlocked, so that other
 * threads can drive the ring meanwhile, which they could not do safely while
 * it waited inside io_uring_enter() on the same ring.
 * While it spins, it watches IORING_SQ_TASKRUN (IORING_SETUP_TASKRUN_FLAG),
 * which says that deferred completions wait to be run.
 *
 * The CQ never overflows: at most cq_entries CQEs are owed at any time
 * (`owed`), and the ring thread stops taking work from its queue when that
 * limit is reached.  An operation with a deadline is linked to an
 * IORING_OP_LINK_TIMEOUT with an absolute time, so it can be resubmitted (by
 * the *_full helpers) without recomputing it; its future ends when both CQEs
 * have arrived (the count of owed CQEs per future is in its flags).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <time.h>


#include "io_uring_internal.h"

/* user_data of the ring's own requests; futures are 64-byte aligned. */
#define UD_CANCEL 2u		/* an async cancel: its CQE is ignored */
#define UD_WAKE 4u		/* the multishot poll on the wake-up eventfd */
#define UD_TIMEOUT_BIT 1u	/* future | 1: its linked timeout */

/* initial-exec: a plain %fs-relative access, not a __tls_get_addr call. */
_Thread_local struct ring *rp__cur_ring
	__attribute__((tls_model("initial-exec")));

static uint32_t owed_of(rp_future *f)
{
	return (atomic_load_explicit(&f->flags, memory_order_relaxed) &
		RP__F_PENDING_MASK) >> RP__F_PENDING_SHIFT;
}

/* ---- completions ------------------------------------------------------ */

static void maybe_finish(struct ring *r, rp_future *f)
{
	uint32_t fl = atomic_load_explicit(&f->flags, memory_order_acquire);

	(void)r;
	if (!(fl & RP__F_RESULT) || (fl & RP__F_PENDING_MASK))
		return;
	rp__io_complete(f, f->error);
	rp_future_unref(f);		/* the ring's reference */
}

static void queue_retry(struct ring *r, rp_future *f)
{
	if (r->n_retry == r->cap_retry) {
		unsigned cap = r->cap_retry ? r->cap_retry * 2 : 64;
		rp_future **v = realloc(r->retry, cap * sizeof(*v));

		if (!v) {
			/* Cannot resubmit: end with what was moved so far. */
			f->error = -ENOMEM;
			atomic_fetch_or(&f->flags, RP__F_RESULT);
			maybe_finish(r, f);
			return;
		}
		r->retry = v;
		r->cap_retry = cap;
	}
	r->retry[r->n_retry++] = f;
}

/*
 * The kernel writes the results of reads through the ring behind valgrind's
 * back; tell memcheck those bytes are now defined (a no-op elsewhere).
 */
static void mark_defined(const struct io_uring_sqe *sqe, int res)
{
	const struct iovec *iov;
	size_t left;

	if (res <= 0 && sqe->opcode != IORING_OP_ACCEPT)
		return;
	switch (sqe->opcode) {
	case IORING_OP_READ:
	case IORING_OP_RECV:
		VALGRIND_MAKE_MEM_DEFINED((void *)(uintptr_t)sqe->addr, res);
		break;
	case IORING_OP_READV:
		iov = (const struct iovec *)(uintptr_t)sqe->addr;
		for (left = (size_t)res; left > 0; iov++) {
			size_t n = iov->iov_len < left ? iov->iov_len : left;

			VALGRIND_MAKE_MEM_DEFINED(iov->iov_base, n);
			left -= n;
		}
		break;
	case IORING_OP_STATX:
		VALGRIND_MAKE_MEM_DEFINED((void *)(uintptr_t)sqe->off,
					  sizeof(struct statx));
		break;
	case IORING_OP_ACCEPT:
		if (res >= 0 && sqe->addr2) {
			socklen_t *len = (socklen_t *)(uintptr_t)sqe->addr2;

			VALGRIND_MAKE_MEM_DEFINED(len, sizeof(*len));
			VALGRIND_MAKE_MEM_DEFINED((void *)(uintptr_t)sqe->addr,
						  *len);
		}
		break;
	}
}

/*
 * The operation's own CQE.  Records the result in f->error (raw res, until
 * rp__io_complete maps it) or, for a short transfer of a *_full operation,
 * advances it and queues it again.
 */
/*
 * A simple operation (one SQE, no deadline, not *_full) has one CQE: it ends
 * here, with no bookkeeping in its flags.  Each locked instruction saved
 * counts, since the first touch of the future's line is a miss when its
 * waiter spins on it from another core.
 */
static bool simple(uint32_t fl)
{
	return !(fl & (RP__F_DEADLINE | RP__F_FULL | RP__F_MULTI));
}

/*
 * A recv with IORING_RECVSEND_POLL_FIRST on a descriptor that cannot be
 * polled (a regular file, a directory, /dev/null) ends with -EAGAIN: the
 * kernel skips the first attempt, finds nothing to wait on, and gives back
 * the skipped attempt's "would block" before it looks for a socket.  A recv
 * without the flag, and the fallback, say -ENOTSOCK; so say that.  A
 * socket can always be polled, so only a non-socket gets here without
 * MSG_DONTWAIT; a plain descriptor is checked all the same (a socket's
 * SO_RCVTIMEO in a worker of the kernel's).  A registered one is not: its
 * table is under io_lock, which a registration holds while it waits for
 * this thread.
 */
static int poll_first_res(const struct io_uring_sqe *sqe, int res)
{
	socklen_t len = sizeof(int);
	int type;

	if (res != -EAGAIN || sqe->opcode != IORING_OP_RECV ||
	    !(sqe->ioprio & IORING_RECVSEND_POLL_FIRST) ||
	    (sqe->msg_flags & MSG_DONTWAIT))
		return res;
	if (!(sqe->flags & IOSQE_FIXED_FILE) &&
	    (getsockopt(sqe->fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 ||
	     errno != ENOTSOCK))
		return res;
	return -ENOTSOCK;
}

static void op_done(struct ring *r, rp_future *f, int res)
{
	struct io_uring_sqe *sqe = &rp__iof(f)->sqe;
	uint32_t fl;

	mark_defined(sqe, res);
	if (res == -EAGAIN)
		res = poll_first_res(sqe, res);
	fl = atomic_load_explicit(&f->flags, memory_order_acquire);
	if (simple(fl)) {
		if (res == -ECANCELED && atomic_load(&r->cancel_inflight))
			atomic_fetch_or(&f->flags, RP__F_CANCEL_REQ);
		rp__io_complete(f, res);
		rp_future_unref(f);	/* the ring's reference */
		return;
	}
	fl = atomic_fetch_sub_explicit(&f->flags, RP__F_PENDING_ONE,
				       memory_order_acq_rel);
	if ((fl & RP__F_FULL) && res > 0 && (unsigned)res < sqe->len &&
	    !(fl & (RP__F_CANCEL_REQ | RP__F_TIMED_OUT))) {
		f->value += res;
		sqe->addr += (unsigned)res;
		sqe->len -= (unsigned)res;
		if (sqe->off != (uint64_t)-1)
			sqe->off += (unsigned)res;
		queue_retry(r, f);
		return;
	}
	/* Stopped by rp_executor_free: it ends cancelled, as if asked to. */
	if (res == -ECANCELED && atomic_load(&r->cancel_inflight))
		atomic_fetch_or(&f->flags, RP__F_CANCEL_REQ);
	/* Raw result; rp__io_complete maps it (and adds a last round). */
	f->error = res;
	atomic_fetch_or_explicit(&f->flags, RP__F_RESULT,
				 memory_order_release);
	maybe_finish(r, f);
}

static void timeout_done(struct ring *r, rp_future *f, int res)
{
	uint32_t set = res == -ETIME ? RP__F_TIMED_OUT : 0;

	atomic_fetch_or_explicit(&f->flags, set, memory_order_relaxed);
	atomic_fetch_sub_explicit(&f->flags, RP__F_PENDING_ONE,
				  memory_order_acq_rel);
	maybe_finish(r, f);
}

/* ---- provided buffers (multishot receive) ------------------------------ */

static void buf_recycle(struct ring *r, unsigned bid)
{
	io_uring_buf_ring_add(r->br, r->bufs + bid * RP__RECV_BUF_SIZE,
			      RP__RECV_BUF_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(BUF_COUNT), 0);
	io_uring_buf_ring_advance(r->br, 1);
}

/*
 * One CQE of a multishot request.  Delivers it; when the kernel ended the
 * request (no MORE flag) but the stream goes on (out of buffers, CQ full),
 * queues it again; otherwise records the final result.
 */
static void multi_done(struct ring *r, rp_future *f, int res, unsigned cflags)
{
	const void *data = NULL;
	bool goes_on = true;

	if (cflags & IORING_CQE_F_BUFFER) {
		unsigned bid = cflags >> IORING_CQE_BUFFER_SHIFT;

		data = r->bufs + (size_t)bid * RP__RECV_BUF_SIZE;
		VALGRIND_MAKE_MEM_DEFINED(data, res > 0 ? res : 0);
		goes_on = rp__io_multi_deliver(f, res, data);
		buf_recycle(r, bid);
	} else if (res != -ENOBUFS) {
		/* A descriptor, end of stream (0) or the error that stops it. */
		goes_on = rp__io_multi_deliver(f, res, NULL);
	}
	/* -ENOBUFS: every buffer was in use; they are back now, re-arm. */
	if (cflags & IORING_CQE_F_MORE)
		return;
	atomic_fetch_sub_explicit(&f->flags, RP__F_PENDING_ONE,
				  memory_order_acq_rel);
	if (goes_on) {
		if (!(atomic_load(&f->flags) & RP__F_CANCEL_REQ) &&
		    !atomic_load(&r->cancel_inflight)) {
			queue_retry(r, f);
			return;
		}
		/*
		 * Stopped between two rounds (the kernel ended the request with
		 * -ENOBUFS, or with data and no MORE): that result only meant
		 * "arm again", so the operation ends cancelled.
		 */
		res = -ECANCELED;
	}
	if (res == -ECANCELED && atomic_load(&r->cancel_inflight))
		atomic_fetch_or(&f->flags, RP__F_CANCEL_REQ);
	f->error = res < 0 ? res : 0;
	atomic_fetch_or_explicit(&f->flags, RP__F_RESULT,
				 memory_order_release);
	maybe_finish(r, f);
}

static unsigned fill(struct ring *r);
static int submit_only(struct ring *r);
static bool has_work(struct ring *r);
static void enter(struct ring *r);

/*
 * Completions that came while the thread was idle (spinning or asleep) are
 * asynchronous ones (a device, the network): what their callbacks queue
 * goes into the kernel every REAP_FLUSH_EVERY of them rather than after the
 * whole batch, so the device is not left idle while the rest of the batch
 * runs its callbacks, as fio's iodepth_batch_complete_max does: 3-6% more
 * 4k O_DIRECT reads at QD 32 on a virtio disk (docs/DESIGN.md).  This stops
 * as soon as a flush's operations complete inside the call (reads from the
 * page cache, sends on loopback), where the extra system calls would only
 * cost.  On a DEFER_TASKRUN ring the flush does not run deferred
 * completions (submit_only()), or the rest of the device's batch, posted by
 * that call, would look like operations that completed inside it.
 */
#define REAP_FLUSH_EVERY 8

/* Submits what the callbacks queued so far; false if it completed at once. */
static bool flush_early(struct ring *r, unsigned reaped)
{
	unsigned queued, before;

	/* Room in the CQ first: the enter may post CQEs. */
	io_uring_cq_advance(&r->ring, reaped);
	fill(r);
	queued = io_uring_sq_ready(&r->ring);
	before = io_uring_cq_ready(&r->ring);
	if (submit_only(r))
		enter(r);
	return io_uring_cq_ready(&r->ring) - before < queued;
}

static unsigned reap(struct ring *r)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0, since = 0;
	bool early = r->woke;

	r->woke = false;
	io_uring_for_each_cqe(&r->ring, head, cqe) {
		uint64_t ud = cqe->user_data;

		if (early && ++since > REAP_FLUSH_EVERY) {
			since = 1;
			if (has_work(r)) {
				early = flush_early(r, n);
				n = 0;
			}
		}
		n++;
		if (ud == UD_WAKE) {
			uint64_t v;

			/* Not counted in `owed`: its CQ slots are reserved. */
			(void)eventfd_read(r->efd, &v);
			if (!(cqe->flags & IORING_CQE_F_MORE))
				r->wake_armed = false;
			continue;
		}
		/* A multishot request owes CQEs until one comes without MORE. */
		if (!(cqe->flags & IORING_CQE_F_MORE))
			r->owed--;
		if (ud == UD_CANCEL)
			continue;
		if (ud & UD_TIMEOUT_BIT)
			timeout_done(r, (rp_future *)(uintptr_t)(ud & ~1ull),
				     cqe->res);
		else if (atomic_load_explicit(
				&((rp_future *)(uintptr_t)ud)->flags,
				memory_order_relaxed) & RP__F_MULTI)
			multi_done(r, (rp_future *)(uintptr_t)ud, cqe->res,
				   cqe->flags);
		else
			op_done(r, (rp_future *)(uintptr_t)ud, cqe->res);
	}
	io_uring_cq_advance(&r->ring, n);
	return n;
}

/* ---- submissions ------------------------------------------------------ */

/*
 * Makes room for `n` SQEs, submitting what fills the SQ.  Where it stays
 * full, with SQPOLL the kernel's thread has not taken it yet (wait until it
 * has), and otherwise the kernel refused the submission for now (-EAGAIN
 * when it is short of memory): try again a millisecond later.  (room()
 * keeps what is in flight within the CQ, so -EBUSY for completions that
 * could not be posted does not arise.)
 */
static void sq_reserve(struct ring *r, unsigned n)
{
	while (io_uring_sq_space_left(&r->ring) < n) {
		int ret = io_uring_submit(&r->ring);

		if (io_uring_sq_space_left(&r->ring) >= n)
			break;
		if (r->sqpoll) {
			(void)io_uring_sqring_wait(&r->ring);
		} else if (ret != -EINTR) {
			struct timespec nap = { 0, 1000000 };

			nanosleep(&nap, NULL);
		}
	}
}

/* An SQE; never NULL (sq_reserve()). */
static struct io_uring_sqe *get_sqe(struct ring *r)
{
	sq_reserve(r, 1);
	return io_uring_get_sqe(&r->ring);
}

/* Puts `f` (claimed, RUNNING) into the SQ, with its linked timeout. */
static void issue(struct ring *r, rp_future *f)
{
	uint32_t fl = atomic_load_explicit(&f->flags, memory_order_relaxed);
	struct io_uring_sqe *sqe;
	unsigned n = 1;

	/*
	 * A deadline that passed before the operation reached the SQ (a busy
	 * ring, a resubmitted *_full round): the fallback does not start such
	 * an operation, and neither does this.  Handed over, one that
	 * completes inline (a read from the page cache, a nop) would beat its
	 * expired linked timeout and succeed on this backend only.
	 */
	if ((fl & RP__F_DEADLINE) &&
	    rp__now_ns() >= (int64_t)f->u.io.deadline.tv_sec * 1000000000 +
			    f->u.io.deadline.tv_nsec) {
		f->error = -ETIMEDOUT;
		atomic_fetch_or(&f->flags, RP__F_TIMED_OUT | RP__F_RESULT);
		maybe_finish(r, f);
		return;
	}
	/*
	 * An operation and its linked timeout go into the SQ together: a
	 * submission made between them would send the operation alone,
	 * without its deadline, and the timeout with nothing to link to.
	 */
	sq_reserve(r, fl & RP__F_DEADLINE ? 2 : 1);
	sqe = io_uring_get_sqe(&r->ring);
	*sqe = rp__iof(f)->sqe;
	sqe->user_data = (uint64_t)(uintptr_t)f;
	if (fl & RP__F_DEADLINE) {
		struct io_uring_sqe *t;

		sqe->flags |= IOSQE_IO_LINK;
		t = io_uring_get_sqe(&r->ring);
		io_uring_prep_link_timeout(t, &f->u.io.deadline,
					   IORING_TIMEOUT_ABS);
		t->user_data = (uint64_t)(uintptr_t)f | UD_TIMEOUT_BIT;
		n = 2;
	}
	/* Simple operations keep no count: op_done() ends them at once. */
	if (!simple(fl))
		atomic_fetch_add_explicit(&f->flags, n * RP__F_PENDING_ONE,
					  memory_order_relaxed);
	r->owed += n;
}

static void issue_cancel(struct ring *r, rp_future *f)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)f, 0);
	sqe->user_data = UD_CANCEL;
	r->owed++;
}

static int ring_register(struct ring *r, const struct reg_cmd *c)
{
	int ret = 0;

	if (c->kind == RP__REG_FILES) {
		if (r->files_registered)
			(void)io_uring_unregister_files(&r->ring);
		r->files_registered = false;
		if (c->n)
			ret = io_uring_register_files(&r->ring, c->ptr, c->n);
		r->files_registered = c->n && ret == 0;
	} else {
		if (r->bufs_registered)
			(void)io_uring_unregister_buffers(&r->ring);
		r->bufs_registered = false;
		if (c->n)
			ret = io_uring_register_buffers(&r->ring, c->ptr,
							c->n);
		r->bufs_registered = c->n && ret == 0;
	}
	return ret;
}

/* One future from the queue: a new operation or a cancel request. */
void rp__ring_take(struct ring *r, rp_future *f)
{
	uint32_t st = rp__future_state(f);

	if (st == RP__RUNNING) {
		/*
		 * A cancel request (rp_future_cancel pushed it again).  A simple
		 * operation that is RUNNING is in the kernel (it ends on this
		 * thread, in op_done); others may be waiting to be resubmitted.
		 */
		if (simple(atomic_load(&f->flags)) || owed_of(f) > 0)
			issue_cancel(r, f);
		rp_future_unref(f);	/* the request's reference */
		return;
	}
	if (st != RP__PENDING || atomic_load(&r->cancel_pending)) {
		if (st == RP__PENDING)
			(void)rp_future_cancel(f);
		rp_future_unref(f);
		return;
	}
	if (!rp__future_claim(f)) {	/* cancelled while queued */
		rp_future_unref(f);
		return;
	}
	if (atomic_load(&f->flags) & RP__F_CTRL) {
		/* SINGLE_ISSUER: only this thread may register with the ring. */
		f->error = ring_register(r, f->u.multi.arg);
		atomic_fetch_or(&f->flags, RP__F_RESULT);
		maybe_finish(r, f);
		return;
	}
	issue(r, f);
}

static void resubmit(struct ring *r)
{
	unsigned i = 0;

	while (i < r->n_retry && room(r)) {
		rp_future *f = r->retry[i++];
		uint32_t fl = atomic_load(&f->flags);

		if ((fl & (RP__F_CANCEL_REQ | RP__F_TIMED_OUT)) ||
		    atomic_load(&r->cancel_inflight)) {
			/* Stopped by rp_executor_free: as if asked to. */
			if (!(fl & RP__F_TIMED_OUT))
				atomic_fetch_or(&f->flags, RP__F_CANCEL_REQ);
			f->error = -ECANCELED;
			atomic_fetch_or(&f->flags, RP__F_RESULT);
			maybe_finish(r, f);
			continue;
		}
		issue(r, f);
	}
	if (i == 0)
		return;
	memmove(r->retry, r->retry + i, (r->n_retry - i) * sizeof(*r->retry));
	r->n_retry -= i;
}

/* Moves queued work into SQEs while there is room.  Returns how many. */
static unsigned fill(struct ring *r)
{
	rp_future *fs[32];
	unsigned n = 0, got, i, fit;

	resubmit(r);
	/* Popped in batches: the queue's lock is taken once per batch. */
	while (room(r)) {
		fit = (r->max_owed - r->owed) / 2;
		got = rp__q_pop_many(&r->q, fs, fit < 32 ? fit : 32);
		for (i = 0; i < got; i++)
			rp__ring_take(r, fs[i]);
		n += got;
		if (got < 32)
			break;
	}
	return n;
}

/* ---- the ring thread -------------------------------------------------- */

/*
 * A shared ring's state (SQ, CQ, `owed`, the retry vector, registrations) is
 * touched only under `lock`; an owned ring's only by its thread, which needs
 * no lock.
 */
static void ring_lock(struct ring *r)
{
	if (r->shared)
		pthread_mutex_lock(&r->lock);
}

static void ring_unlock(struct ring *r)
{
	if (r->shared)
		pthread_mutex_unlock(&r->lock);
}

static void cancel_all_inflight(struct ring *r)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	/* Every request in flight; the cancel's own CQE is ignored. */
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	sqe->user_data = UD_CANCEL;
	r->owed++;
}

/*
 * Submits what is in the SQ and runs the kernel's deferred completions.
 * -EBUSY and -EAGAIN mean completions must be reaped before more go in,
 * which the caller does next anyway.
 */
static void enter(struct ring *r)
{
	int ret;

	/*
	 * An SQPOLL ring's own kernel thread takes the SQ and runs the task
	 * work: the system call is needed only to wake that thread, which
	 * io_uring_submit() does when the kernel asks for it.
	 */
	do
		ret = r->sqpoll ? io_uring_submit(&r->ring)
				: io_uring_submit_and_get_events(&r->ring);
	while (ret == -EINTR);
}

/*
 * Submits the SQ without running deferred completions (no
 * IORING_ENTER_GETEVENTS, which liburing's submit adds whenever
 * IORING_SQ_TASKRUN is up): on a DEFER_TASKRUN ring the CQEs that appear
 * during the call are then those of operations that completed inline.
 * Publishing the tail is all the flush needs: liburing maps SQ slot i to
 * SQE i when it sets the ring up.  Returns nonzero where it could not
 * (SQPOLL, an error): enter() then does.
 */
static int submit_only(struct ring *r)
{
	struct io_uring_sq *sq = &r->ring.sq;
	int ret;

	if (r->sqpoll || !(r->ring.flags & IORING_SETUP_DEFER_TASKRUN))
		return 1;
	if (sq->sqe_head != sq->sqe_tail) {
		sq->sqe_head = sq->sqe_tail;
		IO_URING_WRITE_ONCE(*sq->ktail, sq->sqe_tail);
	}
	do
		ret = io_uring_enter(r->ring.ring_fd,
				     sq->sqe_tail - IO_URING_READ_ONCE(*sq->khead),
				     0, 0, NULL);
	while (ret == -EINTR);
	return ret < 0;
}

/* True when the kernel holds completions we have not seen yet. */
static bool kernel_has_work(struct ring *r)
{
	return io_uring_cq_ready(&r->ring) ||
	       (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

/*
 * Whether the loop enters the kernel before it reaps: to submit, to run
 * deferred completions (IORING_SQ_TASKRUN), or because there is nothing to
 * reap yet.  A thread woken in io_uring_enter() finds the CQEs that woke it
 * already posted, and reaps them without a second system call.
 */
static bool must_enter(struct ring *r)
{
	return io_uring_sq_ready(&r->ring) || !io_uring_cq_ready(&r->ring) ||
	       (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

/*
 * Sleeps until the kernel signals a completion or a submitter writes the
 * eventfd.  The kernel's signal is enabled only for the sleep, and the check
 * after enabling it closes the window in which a completion could have
 * arrived unsignalled.
 */
static void sleep_until_woken(struct ring *r)
{
	struct pollfd pfd = { .fd = r->efd, .events = POLLIN };
	uint64_t v;

	(void)io_uring_cq_eventfd_toggle(&r->ring, true);
	enter(r);
	if (!io_uring_cq_ready(&r->ring)) {
		ring_unlock(r);
		while (ppoll(&pfd, 1, NULL, NULL) < 0 && errno == EINTR)
			;
		ring_lock(r);
	}
	(void)eventfd_read(r->efd, &v);
	(void)io_uring_cq_eventfd_toggle(&r->ring, false);
}

/*
 * The same, waiting in the kernel for one CQE: a completion, or the poll on
 * the eventfd (re-armed here if the kernel ended it, as a cancel of
 * everything in flight does).
 */
static void sleep_in_enter(struct ring *r)
{
	if (!r->wake_armed) {
		struct io_uring_sqe *sqe = get_sqe(r);

		io_uring_prep_poll_multishot(sqe, r->efd, POLLIN);
		sqe->user_data = UD_WAKE;
		r->wake_armed = true;
	}
	(void)io_uring_submit_and_wait(&r->ring, 1);
}

static bool has_work(struct ring *r)
{
	return room(r) && (r->n_retry || !rp__q_empty(&r->q));
}

/*
 * What the ring thread watches while it spins.  A shared ring is unlocked
 * then, so only what other threads may touch is read, atomically: the queue
 * and the CQ (work waiting for room comes back with a completion).
 */
static bool worth_waking(struct ring *r)
{
	if (!r->shared)
		return has_work(r) || kernel_has_work(r);
	return !rp__q_empty(&r->q) ||
	       __atomic_load_n(r->ring.cq.khead, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(r->ring.cq.ktail, __ATOMIC_ACQUIRE);
}

/*
 * Whether an idle ring thread spins: it keeps how long it waited for work
 * (rp__spin_learn()) apart for idle periods with operations in the kernel
 * (`owed` > 0: the next work is often their completion) and without (only
 * another thread's submission can end them), and spins only while the
 * average of the kind at hand is under spin_ns.
 *
 * Spinning is for work that comes within microseconds, where it saves the
 * wake-up (tens of microseconds across cores on a VM).  Where the next
 * completion is a device's millisecond away (1 MiB O_DIRECT reads at QD 4)
 * every spin ran to its end for nothing and cost 6-8% of a core.  The two
 * kinds are apart because a thread that submits a slow operation and waits
 * for it alternates both: one average would swing around spin_ns and spin
 * through the slow wait while missing the quick resubmission.  A pause
 * measured without spinning is as good a sample as one that ended in a
 * spin, so the thread takes up spinning again as soon as work comes sooner.
 */
static unsigned idle_kind(const struct ring *r)
{
	return r->owed > 0;
}

static bool finished(struct ring *r)
{
	return atomic_load(&r->stopping) && r->owed == 0 && r->n_retry == 0 &&
	       rp__q_empty(&r->q);
}

void *rp__ring_main(void *p)
{
	struct ring *r = p;
	struct uring_state *st = state_of(r->ex);
	bool cancelled_inflight = false;
	int64_t spin_until, idle_from, now;
	unsigned kind;
	char name[16];

	snprintf(name, sizeof(name), "rp-ring%u", r->index);
	pthread_setname_np(pthread_self(), name);
	rp__cur_ring = r;

	ring_lock(r);
	for (;;) {
		fill(r);
		if (atomic_load(&r->cancel_inflight) && !cancelled_inflight &&
		    r->owed > 0) {
			cancel_all_inflight(r);
			cancelled_inflight = true;
		}
		if (must_enter(r))
			enter(r);
		reap(r);
		if (has_work(r))
			continue;
		if (finished(r))
			break;
		/* What completes from now on does so asynchronously. */
		r->woke = true;

		/*
		 * Spin a little when new work has been following soon: see
		 * idle_kind().  A shared ring is free meanwhile for
		 * submitters to drive.
		 */
		kind = idle_kind(r);
		ring_unlock(r);
		idle_from = now = rp__now_ns();
		if (rp__spin_pays(r->idle_avg_ns[kind], st->spin_ns)) {
			spin_until = now + st->spin_ns;
			while (!worth_waking(r) &&
			       !atomic_load_explicit(&r->stopping,
						     memory_order_relaxed) &&
			       (now = rp__now_ns()) < spin_until)
				rp__cpu_relax();
		}
		ring_lock(r);
		if (has_work(r) || kernel_has_work(r) || finished(r)) {
			rp__spin_learn(&r->idle_avg_ns[kind], st->spin_ns,
				       now - idle_from);
			continue;
		}

		/* Pairs with the submitter's push, then load of `sleeping`. */
		atomic_store_explicit(&r->sleeping, 1, memory_order_seq_cst);
		if (has_work(r) || finished(r) ||
		    (atomic_load(&r->cancel_inflight) && !cancelled_inflight)) {
			atomic_store(&r->sleeping, 0);
			continue;
		}
		if (r->wait_in_enter)
			sleep_in_enter(r);
		else
			sleep_until_woken(r);
		atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
		rp__spin_learn(&r->idle_avg_ns[kind], st->spin_ns,
			       rp__now_ns() - idle_from);
	}
	ring_unlock(r);
	rp__cur_ring = NULL;
	rp__magazine_flush();
	return NULL;
}

/*
 * A shared ring driven by the calling thread, which holds its lock: submit
 * what is queued, reap what is ready, until the queue is empty or
 * DRIVE_ROUNDS rounds have gone by.  Callbacks run here see `rp__cur_ring`
 * set, as on the ring thread: what they submit is queued and taken by this
 * loop, and they may not wait.  The bound is for the caller: callbacks that
 * keep queueing the next operation (a chain of reads that end inside the
 * submit) would otherwise keep the thread that merely submitted one
 * operation here for as long as the chain runs.  Returns true when work is
 * left, which the caller hands to the ring thread with wake() once it has
 * let go of the lock.
 *
 * While the ring thread sleeps, the kernel's signal on the eventfd is on, so
 * the completions this thread causes would wake it for nothing: the signal
 * is off while this thread drives and back on before it lets go, then a
 * last look catches a completion that came in between.  `sleeping` cannot
 * go from 0 to 1 meanwhile (the ring thread sets it under the lock); a
 * submitter's wake() may clear it, and then the ring thread is woken anyway.
 */
#define DRIVE_ROUNDS 16

bool rp__ring_drive(struct ring *r)
{
	struct ring *prev = rp__cur_ring;
	bool asleep = atomic_load_explicit(&r->sleeping, memory_order_relaxed);
	unsigned rounds = 0;
	bool left = false;

	rp__cur_ring = r;
	if (asleep)
		(void)io_uring_cq_eventfd_toggle(&r->ring, false);
	for (;;) {
		fill(r);
		enter(r);
		reap(r);
		if (has_work(r)) {
			if (++rounds < DRIVE_ROUNDS)
				continue;
			left = true;
		}
		if (!asleep)
			break;
		(void)io_uring_cq_eventfd_toggle(&r->ring, true);
		if (left || !io_uring_cq_ready(&r->ring))
			break;
		(void)io_uring_cq_eventfd_toggle(&r->ring, false);
	}
	rp__cur_ring = prev;
	return left || io_uring_cq_ready(&r->ring);
}

_Thread_local unsigned rp__no_drive
	__attribute__((tls_model("initial-exec")));
