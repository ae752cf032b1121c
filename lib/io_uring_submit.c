/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend as the executor sees it: which ring an operation goes
 * to, the calling thread's batch for it, cancels and registrations, and the
 * backend's table (io_uring.c runs the rings, io_uring_setup.c makes them).
 */
#include <limits.h>
#include <string.h>

#include "io_uring_internal.h"

/*
 * Threads keep to one ring, so one thread's operations stay in order; a ring
 * thread (a callback queueing the next operation) keeps to its own ring,
 * which needs no wake-up and no crossing to another core.
 */
static struct ring *pick_ring(struct uring_state *st)
{
	static _Atomic unsigned next;
	static _Thread_local unsigned mine
		__attribute__((tls_model("initial-exec"))) = UINT_MAX;

	if (st->n == 1)
		return &st->rings[0];
	if (rp__cur_ring && rp__cur_ring->ex == st->rings[0].ex)
		return rp__cur_ring;
	if (mine == UINT_MAX)
		mine = atomic_fetch_add_explicit(&next, 1,
						 memory_order_relaxed);
	return &st->rings[mine % st->n];
}

/*
 * The calling thread's batch for one ring (threads keep to one ring): a list
 * of its own, linked through `next`, so a batch costs no atomic operation on
 * the ring's queue until it is sent.
 */
static _Thread_local struct {
	struct ring *r;
	rp_future *head, *tail;
} batch __attribute__((tls_model("initial-exec")));

static void uring_submit(rp_executor *ex, rp_future *f)
{
	struct uring_state *st = state_of(ex);
	uint32_t flags = atomic_load_explicit(&f->flags, memory_order_relaxed);
	uint32_t want = (flags & RP__F_RING_MASK) >> RP__F_RING_SHIFT;
	struct ring *r;

	if (__builtin_expect(uring_missing(st, f), 0)) {
		rp__blocking_submit(st->aux, f);
		return;
	}
	r = want ? &st->rings[want - 1] : pick_ring(st);
	/* Nobody else sees `f` yet: no locked instruction needed. */
	atomic_store_explicit(&f->flags, flags | r->index << RP__F_SLOT_SHIFT,
			      memory_order_relaxed);
	if (rp__plug.depth && rp__plug.ex == ex && rp__cur_ring != r &&
	    (!batch.r || batch.r == r)) {
		atomic_store_explicit(&f->next, NULL, memory_order_relaxed);
		if (batch.tail)
			atomic_store_explicit(&batch.tail->next, f,
					      memory_order_relaxed);
		else
			batch.head = f;
		batch.tail = f;
		batch.r = r;
		rp__plug.pending |= 1ull << r->index;
		return;
	}
	rp__q_push(&r->q, f);
	/*
	 * From the thread driving the ring (a callback), no wake-up is needed:
	 * its loop takes the queue next.  Inside a batch, the end sends it.
	 */
	if (rp__cur_ring == r)
		return;
	if (rp__plug.depth && rp__plug.ex == ex) {
		rp__plug.pending |= 1ull << r->index;
		return;
	}
	kick(r);
}

/*
 * Sends the thread's batch list: straight into the SQ when the shared ring
 * is free (as far as there is room; the rest goes through the queue), else
 * through the ring's queue.  Then the ring is driven or its thread woken.
 */
static void send_batch(void)
{
	struct ring *r = batch.r;
	rp_future *f = batch.head, *next;
	bool locked;
	struct ring *prev;

	batch.r = NULL;
	batch.head = batch.tail = NULL;
	locked = may_drive(r) && pthread_mutex_trylock(&r->lock) == 0;
	prev = rp__cur_ring;
	if (locked)
		rp__cur_ring = r; /* for callbacks rp__ring_take() runs */
	for (; f; f = next) {
		next = atomic_load_explicit(&f->next, memory_order_relaxed);
		if (locked && room(r))
			rp__ring_take(r, f);
		else
			rp__q_push(&r->q, f);
	}
	rp__cur_ring = prev;
	if (locked) {
		bool left = rp__ring_drive(r);

		pthread_mutex_unlock(&r->lock);
		if (left)
			wake(r);
	} else {
		wake(r);
	}
}

static void uring_flush(rp_executor *ex)
{
	struct uring_state *st = state_of(ex);
	uint64_t pending = rp__plug.pending;
	unsigned i;

	if (batch.r) {
		pending &= ~(1ull << batch.r->index);
		send_batch();
	}
	for (i = 0; pending; i++, pending >>= 1)
		if (pending & 1)
			kick(&st->rings[i]);
}

static void uring_cancel(rp_executor *ex, rp_future *f)
{
	struct uring_state *st = state_of(ex);
	uint32_t slot = (atomic_load(&f->flags) & RP__F_SLOT_MASK) >>
			RP__F_SLOT_SHIFT;
	struct ring *r;

	if (uring_missing(st, f)) {
		rp__blocking_cancel(st->aux, f);
		return;
	}
	r = &st->rings[slot];
	/* The request travels as the future itself; it holds a reference. */
	rp_future_ref(f);
	rp__q_push(&r->q, f);
	if (rp__cur_ring != r)
		kick(r);
}

/* Sends a registration to every ring in turn and waits for each. */
static int uring_reg(rp_executor *ex, int kind, const void *ptr, unsigned n)
{
	struct uring_state *st = state_of(ex);
	struct reg_cmd cmd = { kind, ptr, n };
	unsigned i;
	int ret = 0;

	if (rp__cur_ring)
		return -EDEADLK;
	for (i = 0; i < st->n && ret == 0; i++) {
		struct ring *r = &st->rings[i];
		rp_future *f;

		ret = rp__submit_enter(ex);
		if (ret)
			break;
		f = rp__future_alloc(ex, RP__CLASS_IO);
		if (!f) {
			rp__submit_exit(ex);
			return -ENOMEM;
		}
		rp__future_init(f, ex, NULL, NULL);
		atomic_store(&f->flags, RP__F_IO | RP__F_CTRL |
			     (i << RP__F_SLOT_SHIFT));
		memset(&rp__iof(f)->sqe, 0, sizeof(rp__iof(f)->sqe));
		rp__iof(f)->sqe.opcode = IORING_OP_NOP;
		f->u.multi.arg = &cmd;
		rp__q_push(&r->q, f);
		wake(r);
		rp__submit_exit(ex);
		(void)rp__future_wait(f, INT64_MAX);
		ret = f->error;
		rp_future_unref(f);
	}
	return ret;
}

bool rp__wait_would_deadlock(const rp_future *f)
{
	struct ring *r = rp__cur_ring;
	uint32_t fl;

	if (!r || r->ex != f->ex)
		return false;
	fl = atomic_load_explicit(&f->flags, memory_order_relaxed);
	/* Operations the blocking-I/O pool runs end without this thread. */
	if ((fl & (RP__F_IO | RP__F_CTRL)) != RP__F_IO ||
	    uring_missing(state_of(f->ex), (rp_future *)f))
		return false;
	return (fl & RP__F_SLOT_MASK) >> RP__F_SLOT_SHIFT == r->index;
}

static bool uring_on_own_thread(const rp_executor *ex)
{
	return (rp__cur_ring && rp__cur_ring->ex == ex) ||
	       rp__blocking_on_own_thread(state_of(ex)->aux);
}

const struct rp__io_backend rp__io_uring_backend = {
	.name = "io_uring",
	.start = rp__uring_start,
	.submit = uring_submit,
	.cancel = uring_cancel,
	.stop = rp__uring_stop,
	.reg = uring_reg,
	.destroy = rp__uring_destroy,
	.on_own_thread = uring_on_own_thread,
	.flush = uring_flush,
};
