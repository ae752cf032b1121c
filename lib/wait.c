/* SPDX-License-Identifier: MIT */
/*
 * Waiting on many futures: rp_wait() and the as-completed iterator.
 *
 * rp_wait() with RP_FIRST_COMPLETED or RP_FIRST_EXCEPTION marks each
 * future (RP__MANY) and sleeps on a global epoch that the finisher of every
 * marked future bumps, rescanning after each wake-up: nothing is left behind
 * when it times out.
 *
 * The iterator rests on a notifier: one allocation holding a callback node per future
 * and a lock-free stack of the nodes whose futures have ended.  The node's
 * callback pushes it and wakes the consumer if it sleeps.  The consumer may
 * give up (timeout) while futures are still running, so the notifier is
 * reference counted: one reference per node plus one for the consumer, and
 * a node drops its own only after its last touch of the notifier.  Freeing
 * the iterator takes the nodes of unfinished futures off their lists and
 * drops their references for them.
 *
 * RP_ALL_COMPLETED needs no notifier: it waits on each future in turn, which
 * costs one load per future that has already ended.
 */
#include <stdlib.h>

#include "internal.h"

struct node {
	struct rp__cb cb;		/* first: the callback list sees this */
	struct notifier *owner;
	struct node *ready_next;
	size_t index;
};

struct notifier {
	_Atomic(struct node *) ready;	/* ended, not yet taken */
	_Atomic uint32_t sleeping;	/* 1 while the consumer sleeps */
	_Atomic size_t refs;
	size_t n;
	struct node nodes[];
};

static void notifier_unref(struct notifier *nt)
{
	if (atomic_fetch_sub_explicit(&nt->refs, 1, memory_order_acq_rel) == 1)
		free(nt);
}

static void node_fired(struct rp__cb *cb, rp_future *f)
{
	struct node *nd = (struct node *)cb;
	struct notifier *nt = nd->owner;
	struct node *head;

	(void)f;
	head = atomic_load_explicit(&nt->ready, memory_order_relaxed);
	do {
		nd->ready_next = head;
	} while (!atomic_compare_exchange_weak_explicit(&nt->ready, &head, nd,
			memory_order_seq_cst, memory_order_relaxed));
	/* Pairs with the consumer's store of `sleeping` then load of `ready`. */
	if (atomic_exchange_explicit(&nt->sleeping, 0, memory_order_seq_cst))
		rp__futex_wake(&nt->sleeping, 1);
	notifier_unref(nt);
}

static struct notifier *notifier_new(size_t n)
{
	struct notifier *nt;
	size_t i;

	if (n > (SIZE_MAX - sizeof(*nt)) / sizeof(nt->nodes[0]))
		return NULL;
	nt = malloc(sizeof(*nt) + n * sizeof(nt->nodes[0]));
	if (!nt)
		return NULL;
	atomic_init(&nt->ready, NULL);
	atomic_init(&nt->sleeping, 0);
	atomic_init(&nt->refs, n + 1);
	nt->n = n;
	for (i = 0; i < n; i++) {
		nt->nodes[i].cb.run = node_fired;
		nt->nodes[i].owner = nt;
		nt->nodes[i].index = i;
	}
	return nt;
}

static void notifier_arm(struct notifier *nt, rp_future *const *fs)
{
	size_t i;

	for (i = 0; i < nt->n; i++)
		rp__future_add_cb(fs[i], &nt->nodes[i].cb);
}

/*
 * Takes every ready node, oldest first (the stack holds newest first).
 * Returns NULL if none ended before `deadline`.
 */
static struct node *notifier_take(struct notifier *nt, int64_t deadline)
{
	rp_executor *mine = rp__current_worker_executor();
	struct node *list, *prev, *next;
	int64_t until;

	rp__before_wait();
	for (;;) {
		list = atomic_exchange_explicit(&nt->ready, NULL,
						memory_order_acquire);
		if (list)
			break;
		if (mine && rp__help_one(mine))
			continue;
		atomic_store_explicit(&nt->sleeping, 1, memory_order_seq_cst);
		if (atomic_load_explicit(&nt->ready, memory_order_seq_cst))
			continue;
		if (rp__now_ns() >= deadline)
			return NULL;
		until = deadline;
		if (mine) {
			/* A worker keeps an eye on its queue. */
			int64_t poll = rp__deadline(RP__HELPER_POLL_NS);

			if (poll < until)
				until = poll;
		}
		rp__futex_wait(&nt->sleeping, 1, until);
	}
	for (prev = NULL; list; list = next) {
		next = list->ready_next;
		list->ready_next = prev;
		prev = list;
	}
	return prev;
}

static bool args_ok(rp_future *const *fs, size_t n)
{
	size_t i;

	if (n > 0 && !fs)
		return false;
	for (i = 0; i < n; i++)
		if (!fs[i])
			return false;
	return true;
}

/*
 * Whether one of `fs` has not ended and only the calling thread could end
 * it (see rp__wait_would_deadlock()): a wait that needs it never ends.
 */
static bool any_would_deadlock(rp_future *const *fs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (rp__future_state(fs[i]) < RP__DONE &&
		    rp__wait_would_deadlock(fs[i]))
			return true;
	return false;
}

static bool failed(const rp_future *f)
{
	return rp__future_state(f) == RP__DONE && f->error != 0;
}

/* Fills the outputs and says whether `mode` is satisfied right now. */
static bool scan(rp_future *const *fs, size_t n, enum rp_wait_mode mode,
		 bool *done, size_t *n_done)
{
	bool any_done = false, any_failed = false;
	size_t i, count = 0;

	for (i = 0; i < n; i++) {
		bool d = rp__future_state(fs[i]) >= RP__DONE;

		if (done)
			done[i] = d;
		count += d;
		any_done |= d;
		any_failed |= d && failed(fs[i]);
	}
	if (n_done)
		*n_done = count;
	switch (mode) {
	case RP_FIRST_COMPLETED:
		return any_done || n == 0;
	case RP_FIRST_EXCEPTION:
		return any_failed || count == n;
	default:
		return count == n;
	}
}

static int wait_all(rp_future *const *fs, size_t n, int64_t timeout_ns)
{
	int64_t deadline = rp__deadline(timeout_ns);
	size_t i;

	for (i = 0; i < n; i++) {
		if (rp__future_state(fs[i]) >= RP__DONE)
			continue;
		if (timeout_ns == 0 || rp__future_wait(fs[i], deadline) < 0)
			return -ETIMEDOUT;
	}
	return 0;
}

int rp_wait(rp_future *const *fs, size_t n, enum rp_wait_mode mode,
	    int64_t timeout_ns, bool *done, size_t *n_done)
{
	rp_executor *mine = rp__current_worker_executor();
	int64_t deadline, now, until;
	uint32_t epoch;
	size_t i;
	int ret = 0;

	if (!args_ok(fs, n) || (mode != RP_FIRST_COMPLETED &&
				mode != RP_FIRST_EXCEPTION &&
				mode != RP_ALL_COMPLETED))
		return -EINVAL;
	if (mode == RP_ALL_COMPLETED) {
		if (timeout_ns != 0 && any_would_deadlock(fs, n)) {
			scan(fs, n, mode, done, n_done);
			return -EDEADLK;
		}
		ret = wait_all(fs, n, timeout_ns);
		scan(fs, n, mode, done, n_done);
		return ret;
	}
	if (scan(fs, n, mode, done, n_done))
		return 0;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	if (any_would_deadlock(fs, n))
		return -EDEADLK;

	/*
	 * No callback nodes here: a node stays on its future's list until the
	 * future ends, so a caller that polled long-running futures with a
	 * short timeout piled up memory (4 KiB per call on 100 futures) until
	 * they ended.  Mark the futures instead; their finishers bump a
	 * global epoch that this thread sleeps on.
	 */
	deadline = rp__deadline(timeout_ns);
	for (i = 0; i < n; i++)
		if (rp__future_state(fs[i]) < RP__DONE)
			atomic_fetch_or_explicit(&fs[i]->state, RP__MANY,
						 memory_order_seq_cst);
	rp__before_wait();
	for (;;) {
		epoch = atomic_load_explicit(&rp__many_epoch,
					     memory_order_seq_cst);
		if (scan(fs, n, mode, NULL, NULL))
			break;
		if (mine && rp__help_one(mine))
			continue;
		now = rp__now_ns();
		if (now >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		until = deadline;
		if (mine && deadline - now > RP__HELPER_POLL_NS)
			until = now + RP__HELPER_POLL_NS;
		atomic_fetch_add_explicit(&rp__many_sleepers, 1,
					  memory_order_seq_cst);
		rp__futex_wait(&rp__many_epoch, epoch, until);
		atomic_fetch_sub_explicit(&rp__many_sleepers, 1,
					  memory_order_relaxed);
	}
	scan(fs, n, mode, done, n_done);
	return ret;
}

struct rp_as_completed {
	struct notifier *nt;
	rp_future **fs;
	struct node *pending;		/* taken from the notifier, not yielded */
	size_t yielded;
};

int rp_as_completed_new(rp_future *const *fs, size_t n, rp_as_completed **out)
{
	rp_as_completed *it;
	size_t i;

	if (!out || !args_ok(fs, n))
		return -EINVAL;
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->fs = malloc((n ? n : 1) * sizeof(*it->fs));
	it->nt = notifier_new(n);
	if (!it->fs || !it->nt) {
		free(it->fs);
		free(it->nt);
		free(it);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		it->fs[i] = rp_future_ref(fs[i]);
	notifier_arm(it->nt, it->fs);
	*out = it;
	return 0;
}

int rp_as_completed_next(rp_as_completed *it, int64_t timeout_ns,
			 rp_future **out)
{
	struct node *nd;

	if (!it || !out)
		return -EINVAL;
	if (it->yielded == it->nt->n)
		return -ENODATA;
	if (!it->pending && timeout_ns != 0 &&
	    any_would_deadlock(it->fs, it->nt->n)) {
		it->pending = notifier_take(it->nt, 0);
		if (!it->pending)
			return -EDEADLK;
	}
	if (!it->pending) {
		it->pending = notifier_take(it->nt, timeout_ns == 0 ?
					    0 : rp__deadline(timeout_ns));
		if (!it->pending)
			return -ETIMEDOUT;
	}
	nd = it->pending;
	it->pending = nd->ready_next;
	it->yielded++;
	*out = it->fs[nd->index];
	return 0;
}

void rp_as_completed_free(rp_as_completed *it)
{
	struct notifier *nt;
	size_t i, n, drop = 1;	/* the consumer's reference */

	if (!it)
		return;
	nt = it->nt;
	n = nt->n;
	/*
	 * Take the nodes of the futures still running off their lists: left
	 * there, they would hold the notifier (a node per future) and cost a
	 * push and a wake-up at each future's end, for an iterator that is
	 * gone.  A node removed drops its reference here; one not found has
	 * run or is running on the finisher's thread, and drops its own.
	 * Newest first: a future listed many times has its nodes stacked in
	 * that order, so each is found at the head of its list.
	 */
	for (i = n; i-- > 0;)
		if (rp__future_remove_cb(it->fs[i], &nt->nodes[i].cb))
			drop++;
	if (atomic_fetch_sub_explicit(&nt->refs, drop,
				      memory_order_acq_rel) == drop)
		free(nt);
	for (i = 0; i < n; i++)
		rp_future_unref(it->fs[i]);
	free(it->fs);
	free(it);
}
