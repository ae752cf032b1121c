/* SPDX-License-Identifier: MIT */
/*
 * The future: one state word, one value, one error, and a lock-free list of
 * callbacks.
 *
 * State machine (low two bits of `state`):
 *
 *	PENDING --worker claims--> RUNNING --task returns--> DONE
 *	PENDING --rp_future_cancel--> CANCELLED
 *
 * Leaving PENDING is a compare-and-swap, so a worker picking the task up and a
 * canceller racing it cannot both win: every future ends exactly once.  The
 * thread that won then calls rp__future_finish(), which publishes the final
 * state with one atomic exchange (release: value and error are visible to
 * whoever sees the state) and wakes sleepers only when the RP__WAITERS bit
 * says there are some.
 *
 * Callbacks are a Treiber stack closed by the finisher, which swaps in
 * RP__CB_CLOSED: an adder that finds the list closed runs its callback
 * itself, so each callback runs exactly once without a lock.
 *
 * Most futures never get a callback, and closing the list is a locked
 * exchange on the future's line.  So the state word starts with RP__NO_CBS
 * set, and an adder clears it (CAS on the state) before it pushes.  The
 * finisher's exchange of the state returns the old word: if RP__NO_CBS was
 * still set, no adder got past the CAS before the future ended, and every
 * later adder's CAS sees the final state and runs its callback itself; so the
 * list is and stays empty and need not be closed.  If it was clear, the list
 * is closed as before.  Either way exactly one side runs each callback.
 *
 * A node can also be taken off before the future ends (an as-completed
 * iterator freed early).  Unlinking from the middle of a Treiber stack while
 * others push and the finisher takes it whole is not safe lock-free, so the
 * remover locks the list: it sets CB_LOCKED in `cbs`, unlinks its node and
 * stores the head back.  Adders and the finisher wait while the bit is set;
 * they never hold it, and the remover holds it only for a walk of the list,
 * so nobody who takes it waits long.  Futures nobody removes from pay
 * nothing: the finisher's exchange became a compare-and-swap.
 */
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

void rp__future_init(rp_future *f, rp_executor *ex, rp_task_fn fn, void *arg)
{
	atomic_store_explicit(&f->next, NULL, memory_order_relaxed);
	atomic_store_explicit(&f->state, RP__PENDING | RP__NO_CBS,
			      memory_order_relaxed);
	atomic_store_explicit(&f->refs, 2, memory_order_relaxed);
	f->u.task.fn = fn;
	f->u.task.arg = arg;
	f->value = 0;
	f->error = 0;
	f->flags = 0;
	atomic_store_explicit(&f->cbs, NULL, memory_order_relaxed);
	f->ex = ex;
}

_Atomic uint32_t rp__many_epoch;
_Atomic uint32_t rp__many_sleepers;

/* Set in `cbs` while rp__future_remove_cb() edits the list (see above). */
#define CB_LOCKED ((uintptr_t)2)

static bool cbs_locked(const struct rp__cb *head)
{
	return ((uintptr_t)head & CB_LOCKED) != 0;
}

/* Waits out a remover; it may have been preempted on a busy machine. */
static struct rp__cb *cbs_wait_unlocked(rp_future *f, struct rp__cb *head)
{
	unsigned spins = 0;

	while (cbs_locked(head)) {
		if (++spins % 64 == 0)
			sched_yield();
		else
			rp__cpu_relax();
		head = atomic_load_explicit(&f->cbs, memory_order_acquire);
	}
	return head;
}

void rp__future_finish(rp_future *f, uint32_t final_state)
{
	struct rp__cb *cb, *prev = NULL, *next;
	uint32_t old;

	old = atomic_exchange_explicit(&f->state, final_state,
				       memory_order_acq_rel);
	if (old & RP__WAITERS)
		rp__futex_wake(&f->state, INT_MAX);
	if (old & RP__MANY) {
		/* Pairs with rp_wait(): bump, then look for sleepers. */
		atomic_fetch_add_explicit(&rp__many_epoch, 1,
					  memory_order_seq_cst);
		if (atomic_load_explicit(&rp__many_sleepers,
					 memory_order_seq_cst))
			rp__futex_wake(&rp__many_epoch, INT_MAX);
	}
	if (old & RP__NO_CBS)
		return;		/* no adder came; later ones run their own */

	cb = atomic_load_explicit(&f->cbs, memory_order_acquire);
	do {
		cb = cbs_wait_unlocked(f, cb);
	} while (!atomic_compare_exchange_weak_explicit(&f->cbs, &cb,
			RP__CB_CLOSED, memory_order_acq_rel,
			memory_order_acquire));
	/* The stack holds the newest first: reverse to run in added order. */
	while (cb) {
		next = cb->next;
		cb->next = prev;
		prev = cb;
		cb = next;
	}
	for (cb = prev; cb; cb = next) {
		next = cb->next;	/* run() may free the node */
		cb->run(cb, f);
	}
}

void rp__future_add_cb(rp_future *f, struct rp__cb *cb)
{
	uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);
	struct rp__cb *head;

	/*
	 * Waiters wake before the finisher closes the list: a thread that saw
	 * the future end must get its callback run now, on its own thread.
	 * Otherwise clear RP__NO_CBS first, so that the finisher will close
	 * the list (see the top of this file).
	 */
	for (;;) {
		if ((s & RP__STATE_MASK) >= RP__DONE) {
			cb->run(cb, f);
			return;
		}
		if (!(s & RP__NO_CBS) ||
		    atomic_compare_exchange_weak_explicit(&f->state, &s,
				s & ~(uint32_t)RP__NO_CBS,
				memory_order_acq_rel, memory_order_acquire))
			break;
	}
	head = atomic_load_explicit(&f->cbs, memory_order_acquire);
	do {
		head = cbs_wait_unlocked(f, head);
		if (head == RP__CB_CLOSED) {
			cb->run(cb, f);
			return;
		}
		cb->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&f->cbs, &head, cb,
			memory_order_acq_rel, memory_order_acquire));
}

bool rp__future_remove_cb(rp_future *f, struct rp__cb *cb)
{
	struct rp__cb *head, **link;
	bool found;

	head = atomic_load_explicit(&f->cbs, memory_order_acquire);
	do {
		head = cbs_wait_unlocked(f, head);
		if (head == RP__CB_CLOSED)
			return false;	/* the finisher has the list */
	} while (!atomic_compare_exchange_weak_explicit(&f->cbs, &head,
			(struct rp__cb *)((uintptr_t)head | CB_LOCKED),
			memory_order_acq_rel, memory_order_acquire));

	/*
	 * The list is ours until the store below: no push, no close.  The
	 * acquire of the lock saw every pushed node's `next`; the release
	 * below publishes the edit to whoever takes the list next.
	 */
	for (link = &head; *link && *link != cb; link = &(*link)->next)
		;
	found = *link != NULL;
	if (found)
		*link = cb->next;
	atomic_store_explicit(&f->cbs, head, memory_order_release);
	return found;
}

static uint32_t spin_budget(const rp_future *f)
{
	return f->ex ? f->ex->spin_ns : 0;
}

/*
 * How long this thread's waits have lasted, for CPU tasks ([0]) and for
 * everything else ([1]: I/O, downloads), see rp__spin_learn(): a wait
 * spins only while the average of its kind is under the spin budget.  A
 * short task ends sooner than a wake-up, so spinning for it pays; a thread
 * that waits on a disk that answers in milliseconds would spin out the
 * whole budget on every wait for nothing.  Idle ring threads learn the same
 * way (io_uring.c).
 */
static _Thread_local int64_t wait_avg_ns[2];

int rp__future_wait(rp_future *f, int64_t deadline)
{
	rp_executor *mine = rp__current_worker_executor();
	uint32_t budget = spin_budget(f);
	unsigned kind = (atomic_load_explicit(&f->flags, memory_order_relaxed) &
			 (RP__F_IO | RP__F_HOOK)) != 0;
	int64_t spin_until = 0, t0 = 0, now;
	unsigned iter = 0;
	uint32_t s;
	int ret;

	rp__before_wait();
	for (;;) {
		s = atomic_load_explicit(&f->state, memory_order_acquire);
		if ((s & RP__STATE_MASK) >= RP__DONE) {
			ret = 0;
			break;
		}
		if (mine && (rp__run_inline(mine, f) || rp__help_one(mine)))
			continue;

		/* Spin briefly when waits like this one end soon. */
		if (spin_until == 0) {
			t0 = rp__now_ns();
			spin_until = t0;
			if (rp__spin_pays(wait_avg_ns[kind], budget))
				spin_until += budget;
		}
		if ((++iter & 31) != 0 || rp__now_ns() < spin_until) {
			if (deadline != INT64_MAX && (iter & 31) == 0 &&
			    rp__now_ns() >= deadline) {
				ret = -ETIMEDOUT;
				break;
			}
			rp__cpu_relax();
			continue;
		}

		if (!(s & RP__WAITERS) &&
		    !atomic_compare_exchange_weak_explicit(&f->state, &s,
				s | RP__WAITERS, memory_order_acq_rel,
				memory_order_acquire))
			continue;
		now = rp__now_ns();
		if (now >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		if (mine && deadline - now > RP__HELPER_POLL_NS)
			rp__futex_wait(&f->state, s | RP__WAITERS,
				       now + RP__HELPER_POLL_NS);
		else
			rp__futex_wait(&f->state, s | RP__WAITERS, deadline);
	}
	if (t0)
		rp__spin_learn(&wait_avg_ns[kind], budget, rp__now_ns() - t0);
	return ret;
}

rp_future *rp_future_ref(rp_future *f)
{
	if (f)
		atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
	return f;
}

void rp_future_unref(rp_future *f)
{
	if (!f)
		return;
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
		rp__future_release(f);
}

static int wait_ended(rp_future *f, int64_t timeout_ns)
{
	if (rp__future_state(f) >= RP__DONE)
		return 0;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	if (rp__wait_would_deadlock(f))
		return -EDEADLK;
	return rp__future_wait(f, rp__deadline(timeout_ns));
}

int rp_future_result(rp_future *f, int64_t timeout_ns, int64_t *value,
		     int *error)
{
	int ret;

	if (!f)
		return -EINVAL;
	ret = wait_ended(f, timeout_ns);
	if (ret)
		return ret;
	if (rp__future_state(f) == RP__CANCELLED)
		return -ECANCELED;
	if (value)
		*value = f->value;
	if (error)
		*error = f->error;
	return 0;
}

int rp_future_exception(rp_future *f, int64_t timeout_ns, int *error)
{
	if (!error)
		return -EINVAL;
	return rp_future_result(f, timeout_ns, NULL, error);
}

bool rp_future_done(const rp_future *f)
{
	return f && rp__future_state(f) >= RP__DONE;
}

bool rp_future_running(const rp_future *f)
{
	return f && rp__future_state(f) == RP__RUNNING;
}

bool rp_future_cancelled(const rp_future *f)
{
	return f && rp__future_state(f) == RP__CANCELLED;
}

/*
 * A running CPU task cannot be stopped; an I/O operation, or a future its
 * owner ends (RP__F_HOOK), can be asked to.
 */
static int cancel_running(rp_future *f)
{
	uint32_t fl = atomic_load_explicit(&f->flags, memory_order_relaxed);

	/*
	 * In the child of a fork() the operation is the parent's: asking
	 * the ring to stop it would write into the ring the two share.
	 */
	if (!(fl & (RP__F_IO | RP__F_HOOK)) || f->ex->forked)
		return -EBUSY;
	fl = atomic_fetch_or_explicit(&f->flags, RP__F_CANCEL_REQ,
				      memory_order_acq_rel);
	if (fl & RP__F_CANCEL_REQ)
		return -EINPROGRESS;
	if (fl & RP__F_HOOK)
		f->u.hook.cancel(f);
	else
		f->ex->io->cancel(f->ex, f);
	return -EINPROGRESS;
}

int rp_future_cancel(rp_future *f)
{
	uint32_t s;

	if (!f)
		return -EINVAL;
	s = atomic_load_explicit(&f->state, memory_order_acquire);
	for (;;) {
		switch (s & RP__STATE_MASK) {
		case RP__CANCELLED:
			return 0;
		case RP__RUNNING:
			return cancel_running(f);
		case RP__DONE:
			return -EALREADY;
		}
		/* Keep the flags: finish() reads them. */
		if (atomic_compare_exchange_weak_explicit(&f->state, &s,
				(s & RP__STATE_FLAGS) | RP__CANCELLED,
				memory_order_acq_rel, memory_order_acquire))
			break;
	}
	f->error = -ECANCELED;
	rp__future_finish(f, RP__CANCELLED);
	return 0;
}

struct user_cb {
	struct rp__cb node;
	rp_done_fn fn;
	void *arg;
};

static void run_user_cb(struct rp__cb *node, rp_future *f)
{
	struct user_cb *ucb = (struct user_cb *)node;

	ucb->fn(f, ucb->arg);
	free(ucb);
}

int rp_future_add_done_callback(rp_future *f, rp_done_fn fn, void *arg)
{
	struct user_cb *ucb;

	if (!f || !fn)
		return -EINVAL;
	ucb = malloc(sizeof(*ucb));
	if (!ucb)
		return -ENOMEM;
	ucb->node.run = run_user_cb;
	ucb->fn = fn;
	ucb->arg = arg;
	rp__future_add_cb(f, &ucb->node);
	return 0;
}
