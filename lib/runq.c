/* SPDX-License-Identifier: MIT */
/*
 * The CPU pool's run queue: a bounded array ring (D. Vyukov's bounded MPMC
 * queue, one sequence number per slot) in front of the linked queue of
 * queue.c, which takes the overflow.
 *
 * Why a ring: in the linked queue, the consumer that takes the last node
 * pushes the stub with an exchange on `tail`, and a polling worker reads
 * `tail`, so the submitter's exchange missed its cache on nearly every submit
 * whenever the workers kept up.  Here producers write only `enq` and the
 * slots, consumers only `deq` and the slots, and an idle worker polls the one
 * slot it will take next (runq_ready()), a line the submitter writes once per
 * four submits.  Those are the only lines the two sides share.
 *
 * Order: while anything is in the overflow list, producers keep pushing there
 * (even if the ring has room again), and consumers take from the ring first;
 * so the tasks start roughly in submission order.
 *
 * Closing: rp__runq_close() sets RP__RUNQ_CLOSED in `enq`, so the CAS of a
 * later ring push fails and rp__runq_try_push() refuses.  That makes the
 * shutdown check of a submit part of the push's one locked instruction; only
 * the overflow path needs the executor's n_submitting handshake.
 *
 * Ordering for the executor's wake-up protocol (executor.c): a push ends in a
 * seq_cst read-modify-write (the CAS on `enq`, or the exchange of
 * rp__q_push()), ordered before the submitter's next seq_cst load; and
 * rp__runq_empty() reads `enq` seq_cst first.  A pushed task whose slot is
 * not written yet (the producer is between its CAS and its store) counts as
 * queued for rp__runq_empty() but is not poppable: rp__runq_pop() returns
 * NULL and the caller looks again later.
 */
#include <stdlib.h>

#include "internal.h"

/*
 * A slot stores its sequence number minus its index, so that all-zero memory
 * is an initialized ring: calloc() of a big ring maps zero pages, and only
 * the part that a queue this deep uses is ever touched.
 */
static size_t slot_seq(struct rp__runq *rq, size_t pos, memory_order mo)
{
	return atomic_load_explicit(&rq->slots[pos & rq->mask].seq, mo) +
	       (pos & rq->mask);
}

static void set_slot_seq(struct rp__runq *rq, size_t pos, size_t seq)
{
	atomic_store_explicit(&rq->slots[pos & rq->mask].seq,
			      seq - (pos & rq->mask), memory_order_release);
}

int rp__runq_init(struct rp__runq *rq, unsigned size)
{
	rq->slots = calloc(size, sizeof(*rq->slots));
	if (!rq->slots)
		return -ENOMEM;
	rq->mask = size - 1;
	atomic_store_explicit(&rq->enq, 0, memory_order_relaxed);
	atomic_store_explicit(&rq->deq, 0, memory_order_relaxed);
	rp__q_init(&rq->over);
	return 0;
}

void rp__runq_destroy(struct rp__runq *rq)
{
	free(rq->slots);
	rq->slots = NULL;
}

/* Into the ring: 0, -ENOSPC when it is full, -ESHUTDOWN when closed. */
static int ring_push(struct rp__runq *rq, rp_future *f)
{
	size_t pos = atomic_load_explicit(&rq->enq, memory_order_relaxed);
	struct rp__slot *slot;
	intptr_t dif;

	for (;;) {
		if (pos & RP__RUNQ_CLOSED)
			return -ESHUTDOWN;
		slot = &rq->slots[pos & rq->mask];
		dif = (intptr_t)slot_seq(rq, pos, memory_order_acquire) -
		      (intptr_t)pos;
		if (dif == 0) {
			/* seq_cst: see the ordering note at the top. */
			if (atomic_compare_exchange_weak_explicit(&rq->enq,
					&pos, pos + 1, memory_order_seq_cst,
					memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return -ENOSPC;	/* a lap behind: full */
		} else {
			pos = atomic_load_explicit(&rq->enq,
						   memory_order_relaxed);
		}
	}
	atomic_store_explicit(&slot->f, f, memory_order_relaxed);
	set_slot_seq(rq, pos, pos + 1);
	return 0;
}

int rp__runq_try_push(struct rp__runq *rq, rp_future *f)
{
	/* Once tasks overflowed, newer ones queue behind them. */
	if (!rp__q_empty(&rq->over))
		return -ENOSPC;
	return ring_push(rq, f);
}

void rp__runq_push(struct rp__runq *rq, rp_future *f)
{
	if (rp__runq_try_push(rq, f) < 0)
		rp__q_push(&rq->over, f);
}

void rp__runq_close(struct rp__runq *rq)
{
	atomic_fetch_or_explicit(&rq->enq, RP__RUNQ_CLOSED,
				 memory_order_seq_cst);
}

/* From the ring; NULL when empty or when the next slot is not written yet. */
static rp_future *ring_pop(struct rp__runq *rq)
{
	size_t pos = atomic_load_explicit(&rq->deq, memory_order_relaxed);
	struct rp__slot *slot;
	rp_future *f;
	intptr_t dif;

	for (;;) {
		slot = &rq->slots[pos & rq->mask];
		dif = (intptr_t)slot_seq(rq, pos, memory_order_acquire) -
		      (intptr_t)(pos + 1);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&rq->deq,
					&pos, pos + 1, memory_order_relaxed,
					memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return NULL;
		} else {
			pos = atomic_load_explicit(&rq->deq,
						   memory_order_relaxed);
		}
	}
	f = atomic_load_explicit(&slot->f, memory_order_relaxed);
	/* Free for the producer one lap on. */
	set_slot_seq(rq, pos, pos + rq->mask + 1);
	/*
	 * The future was written by its submitter, on another core: start
	 * fetching the next one now, for writing (its claim is a CAS), so
	 * that its miss overlaps with running this one.
	 */
	slot = &rq->slots[(pos + 1) & rq->mask];
	if (slot_seq(rq, pos + 1, memory_order_acquire) == pos + 2)
		__builtin_prefetch(atomic_load_explicit(&slot->f,
					memory_order_relaxed), 1);
	return f;
}

rp_future *rp__runq_pop(struct rp__runq *rq)
{
	rp_future *f = ring_pop(rq);

	if (!f && !rp__q_pop_many(&rq->over, &f, 1))
		f = NULL;
	return f;
}

bool rp__runq_ready(struct rp__runq *rq)
{
	size_t pos = atomic_load_explicit(&rq->deq, memory_order_relaxed);

	return slot_seq(rq, pos, memory_order_acquire) == pos + 1 ||
	       !rp__q_empty(&rq->over);
}

bool rp__runq_empty(struct rp__runq *rq)
{
	/* `enq` first and seq_cst: see the ordering note at the top. */
	size_t enq = atomic_load_explicit(&rq->enq, memory_order_seq_cst) &
		     ~RP__RUNQ_CLOSED;

	return enq == atomic_load_explicit(&rq->deq, memory_order_seq_cst) &&
	       rp__q_empty(&rq->over);
}
