/* SPDX-License-Identifier: MIT */
/*
 * An intrusive multi-producer queue of futures (D. Vyukov's design), used as
 * the overflow list of the CPU pool's run queue (runq.c) and as each ring's
 * submission queue.
 *
 * Ordering guarantees that the callers' wake-up protocols rely on: a push
 * ends in a seq_cst exchange on `tail`, so it is ordered before the
 * producer's next seq_cst load; rp__q_empty() reads `tail` first, seq_cst.
 *
 * A push is one atomic exchange on `tail` and one store: wait-free, no lock.
 * Consumers pop under a small spin lock (the rings have one consumer, so it
 * is never contended there).  The price of the wait-free push: between a
 * producer's exchange and its store, the nodes behind it are not reachable
 * yet; a consumer that meets this state retries (Q_BUSY below).
 */
#include <sched.h>

#include "internal.h"

void rp__q_init(struct rp__queue *q)
{
	atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
	atomic_store_explicit(&q->tail, &q->stub, memory_order_relaxed);
	atomic_store_explicit(&q->head, &q->stub, memory_order_relaxed);
	atomic_store_explicit(&q->lock, false, memory_order_relaxed);
}

void rp__q_push(struct rp__queue *q, rp_future *f)
{
	rp_future *prev;

	atomic_store_explicit(&f->next, NULL, memory_order_relaxed);
	/*
	 * seq_cst: ordered before whatever the producer reads next to decide
	 * whether a consumer must be woken (see executor.c and io_uring.c).
	 */
	prev = atomic_exchange_explicit(&q->tail, f, memory_order_seq_cst);
	atomic_store_explicit(&prev->next, f, memory_order_release);
}

/*
 * True when nothing is queued.  The stub is an ordinary node of the queue: a
 * pop that takes the last node pushes the stub behind it, and a push racing
 * that one can land *before* the stub, leaving the tail at the stub while a
 * node waits.  So "empty" needs all three: the tail is the stub (read first,
 * seq_cst, for the callers' wake-up protocols), the head is the stub, and
 * nothing follows it.  While a node is queued the head is that node, or the
 * stub with a successor, or a push is in flight and the tail is not the stub.
 */
bool rp__q_empty(struct rp__queue *q)
{
	return atomic_load_explicit(&q->tail, memory_order_seq_cst) ==
		       &q->stub &&
	       atomic_load_explicit(&q->head, memory_order_acquire) ==
		       &q->stub &&
	       !atomic_load_explicit(&q->stub.next, memory_order_acquire);
}

/* A producer is between its exchange and its link store: retry shortly. */
#define Q_BUSY ((rp_future *)1)

/* Pops one node; lock held.  NULL when empty. */
static rp_future *pop_locked(struct rp__queue *q)
{
	rp_future *head, *next, *tail;

	head = atomic_load_explicit(&q->head, memory_order_relaxed);
	next = atomic_load_explicit(&head->next, memory_order_acquire);
	if (head == &q->stub) {
		if (!next)
			return NULL;
		atomic_store_explicit(&q->head, next, memory_order_release);
		head = next;
		next = atomic_load_explicit(&head->next, memory_order_acquire);
	}
	if (next) {
		atomic_store_explicit(&q->head, next, memory_order_release);
		return head;
	}
	tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	if (head != tail)
		return Q_BUSY;
	/* `head` is the last node: put the stub behind it to take it. */
	rp__q_push(q, &q->stub);
	next = atomic_load_explicit(&head->next, memory_order_acquire);
	if (next) {
		atomic_store_explicit(&q->head, next, memory_order_release);
		return head;
	}
	return Q_BUSY;
}

static void backoff(unsigned *spins)
{
	/* The other thread may have been preempted on a busy machine. */
	if (++*spins % 64 == 0)
		sched_yield();
	else
		rp__cpu_relax();
}

static void q_lock(struct rp__queue *q)
{
	unsigned spins = 0;

	while (atomic_load_explicit(&q->lock, memory_order_relaxed) ||
	       atomic_exchange_explicit(&q->lock, true, memory_order_acquire))
		backoff(&spins);
}

static void q_unlock(struct rp__queue *q)
{
	atomic_store_explicit(&q->lock, false, memory_order_release);
}

unsigned rp__q_pop_many(struct rp__queue *q, rp_future **out, unsigned max)
{
	unsigned n = 0, spins = 0;
	rp_future *f;

	if (rp__q_empty(q))
		return 0;
	q_lock(q);
	while (n < max) {
		f = pop_locked(q);
		if (!f)
			break;
		if (f == Q_BUSY) {
			if (n > 0)
				break;
			q_unlock(q);
			backoff(&spins);
			q_lock(q);
			continue;
		}
		out[n++] = f;
	}
	q_unlock(q);
	return n;
}
