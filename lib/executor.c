/* SPDX-License-Identifier: MIT */
/*
 * The CPU worker pool.
 *
 * Run queue: the bounded ring of runq.c, with the linked queue of queue.c
 * behind it for overflow.  A submit is one uncontended compare-and-swap plus
 * two stores, never a lock and never a system call while a worker is awake.
 * Workers pop one task at a time.
 *
 * Sleeping and waking follow the "spinning worker" rule of Go's scheduler:
 * at most one idle worker spins (for rp_config::spin_ns) looking for work.
 * A submitter wakes a parked worker only when no worker spins; the woken
 * worker becomes the spinner, and a spinner that finds work wakes one more
 * worker if work remains.  So a burst of tasks wakes the pool up one worker
 * at a time, and a steady stream costs no wake-ups at all.  On machines where
 * waking a thread on another core costs tens of microseconds this is what
 * keeps the round trip of a short task short.
 */
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* initial-exec: a plain %fs-relative load, not a __tls_get_addr call. */
static _Thread_local struct rp__worker *cur_worker
	__attribute__((tls_model("initial-exec")));

rp_executor *rp__current_worker_executor(void)
{
	return cur_worker ? cur_worker->ex : NULL;
}

int rp__current_worker_index(void)
{
	return cur_worker ? (int)cur_worker->index : -1;
}

/* ---- sleeping and waking ---------------------------------------------- */

/*
 * Protocol.  A submitter pushes (ending in a seq_cst read-modify-write, see
 * runq.c) and then reads n_spinning and n_idle (seq_cst); a worker going to
 * sleep raises n_idle (seq_cst) and then reads the queue's producer side
 * (rp__runq_empty(), seq_cst).  In the single total order of these
 * operations one side sees the other, so either the worker finds the task or
 * the submitter finds the sleeper.  A spinner gives up spinning (n_spinning
 * down) before it raises n_idle and looks once more, so "someone spins" also
 * means "someone will look at the queue after this push".
 *
 * One look serves several submitters: all that saw the same spinner.  So a
 * worker that stops looking because it found work, spinning or after the
 * last look on its way to sleep, takes its task and then, if the queue still
 * holds work, wakes a helper (maybe_wake()), which looks again.  Without
 * that, the second of two tasks submitted while one worker spun waited until
 * some worker came back.  The check after the take misses nothing: the
 * worker's n_spinning decrement comes before it, and a submitter that saw
 * n_spinning > 0 had pushed before that.  Waking only when work remains
 * (rather than whenever the spinner found some) keeps a lone task's round
 * trip free of a futex wake-up: on a 16-vCPU VM the serial round trip of
 * `bench/run tasks` went from 5.6-7.1 us to 0.8-1.0 us at the median, with
 * throughput unchanged there and on 2 vCPUs.
 *
 * The waker moves the worker off the idle list, down from n_idle and up into
 * n_spinning under idle_lock, so a second submitter sees n_spinning > 0 and
 * makes no second wake-up for the same work.
 */
static void wake_one(rp_executor *ex)
{
	struct rp__worker *w;

	pthread_mutex_lock(&ex->idle_lock);
	if (atomic_load(&ex->n_spinning) != 0 || !ex->idle_head) {
		pthread_mutex_unlock(&ex->idle_lock);
		return;
	}
	w = ex->idle_head;
	ex->idle_head = w->next_idle;
	w->idle = false;
	atomic_fetch_sub(&ex->n_idle, 1);
	atomic_fetch_add(&ex->n_spinning, 1);
	atomic_store_explicit(&w->park, 1, memory_order_release);
	pthread_mutex_unlock(&ex->idle_lock);
	rp__futex_wake(&w->park, 1);
}

static inline void maybe_wake(rp_executor *ex)
{
	if (atomic_load(&ex->n_spinning) == 0 &&
	    atomic_load(&ex->n_idle) != 0)
		wake_one(ex);
}

static void wake_all(rp_executor *ex)
{
	struct rp__worker *w;
	unsigned i;

	pthread_mutex_lock(&ex->idle_lock);
	for (w = ex->idle_head; w; w = w->next_idle) {
		w->idle = false;
		atomic_fetch_sub(&ex->n_idle, 1);
		atomic_fetch_add(&ex->n_spinning, 1);
		atomic_store_explicit(&w->park, 1, memory_order_release);
	}
	ex->idle_head = NULL;
	pthread_mutex_unlock(&ex->idle_lock);
	/*
	 * Every worker rather than the list just emptied: once the lock is let
	 * go, a worker on that list may wake (it sees `park`), find nothing and
	 * be back on the idle list, rewriting its next_idle under our feet.  A
	 * wake-up of a worker that is not waiting does nothing.
	 */
	for (i = 0; i < ex->n_workers; i++)
		rp__futex_wake(&ex->workers[i].park, 1);
}

/* ---- running tasks ---------------------------------------------------- */

/* Runs the claimed CPU task `f` and ends its future. */
static void call_task(rp_future *f)
{
	int64_t value = 0;
	int err = f->u.task.fn(f->u.task.arg, &value);

	f->value = value;
	f->error = err;
	rp__future_finish(f, RP__DONE);
}

static void run_task(rp_executor *ex, rp_future *f)
{
	if (atomic_load_explicit(&ex->cancel_pending, memory_order_relaxed))
		(void)rp_future_cancel(f);
	/* Losing the claim means it was cancelled while queued, or run inline. */
	if (rp__future_claim(f)) {
		if (atomic_load_explicit(&f->flags, memory_order_relaxed) &
		    RP__F_IO)
			/* A blocking-I/O pool running another executor's op. */
			rp__io_blocking_run(ex, f);
		else
			call_task(f);
	}
	rp_future_unref(f);
}

/*
 * Next task for worker `w`.  One at a time on purpose: a task held back in a
 * worker's private batch could wait behind a long task while another worker
 * idles, and measurements showed no gain from batching the pop.
 */
static rp_future *take(struct rp__worker *w)
{
	return rp__runq_pop(&w->ex->rq);
}

/*
 * A task that a waiting worker runs runs on top of the waiter's stack, and
 * it may wait and help in turn: N queued tasks that each wait on something
 * still running elsewhere nested N deep and overflowed the worker's stack
 * (100000 of them did, on 8 MiB).  Past this many nested helps a waiter
 * only waits; the awaited task is still run inline (rp__run_inline()).
 */
#define HELP_DEPTH_MAX 128

bool rp__help_one(rp_executor *ex)
{
	struct rp__worker *w = cur_worker;
	rp_future *f;

	if (!w || w->ex != ex || w->help_depth >= HELP_DEPTH_MAX)
		return false;
	f = take(w);
	if (!f)
		return false;
	w->help_depth++;
	run_task(ex, f);
	w->help_depth--;
	return true;
}

bool rp__run_inline(rp_executor *ex, rp_future *f)
{
	struct rp__worker *w = cur_worker;

	if (!w || w->ex != ex || f->ex != ex ||
	    (atomic_load_explicit(&f->flags, memory_order_relaxed) &
	     (RP__F_IO | RP__F_HOOK)))
		return false;
	if (atomic_load_explicit(&ex->cancel_pending, memory_order_relaxed))
		return rp_future_cancel(f) == 0;
	/*
	 * The queue keeps its reference: whoever pops `f` later finds it no
	 * longer pending and drops it, as for a task cancelled while queued.
	 */
	if (!rp__future_claim(f))
		return false;
	call_task(f);
	return true;
}

/*
 * Pauses between two looks of the spinning worker at the queue (a pause is
 * 10-40 ns on current x86).  Looking at every pause made the spinner take
 * each task the moment it was queued, so it read the line the submitter was
 * writing, on every submit, and the submitter missed on it just as often.
 * Looking about once a microsecond lets a few tasks queue up between looks;
 * the spinner then takes them from lines the submitter has moved past.  The
 * cost is under a microsecond of extra latency for a task queued while a
 * worker spins.
 */
#define SPIN_POLL_PAUSES 32

/*
 * Spins for work as the (single) spinning worker.  Returns true when work
 * was found; either way the worker no longer counts as spinning.
 */
static bool spin_for_work(struct rp__worker *w)
{
	rp_executor *ex = w->ex;
	int64_t until = rp__now_ns() + ex->spin_ns;
	unsigned i = 0, j;

	for (;;) {
		if (rp__runq_ready(&ex->rq)) {
			/* The last spinner to find work: see wake_if_more. */
			if (atomic_fetch_sub(&ex->n_spinning, 1) == 1)
				w->wake_if_more = true;
			return true;
		}
		if (atomic_load_explicit(&ex->shutdown, memory_order_relaxed))
			break;
		if ((++i & 7) == 0 && rp__now_ns() >= until)
			break;
		for (j = 0; j < SPIN_POLL_PAUSES; j++)
			rp__cpu_relax();
	}
	atomic_fetch_sub(&ex->n_spinning, 1);
	return false;
}

/*
 * Called when worker `w` found nothing to do.  Returns false when the worker
 * should exit (shut down and the queue is empty).
 */
static bool worker_idle(struct rp__worker *w)
{
	rp_executor *ex = w->ex;
	bool spinning;

	spinning = false;
	if (ex->spin_ns > 0) {
		uint32_t none = 0;

		spinning = atomic_compare_exchange_strong(&ex->n_spinning,
							  &none, 1);
	}

	for (;;) {
		if (spinning && spin_for_work(w))
			return true;
		if (atomic_load(&ex->shutdown) && rp__runq_empty(&ex->rq))
			return false;

		pthread_mutex_lock(&ex->idle_lock);
		atomic_store_explicit(&w->park, 0, memory_order_relaxed);
		w->idle = true;
		w->next_idle = ex->idle_head;
		ex->idle_head = w;
		atomic_fetch_add(&ex->n_idle, 1);
		pthread_mutex_unlock(&ex->idle_lock);

		if (!rp__runq_empty(&ex->rq) || atomic_load(&ex->shutdown)) {
			pthread_mutex_lock(&ex->idle_lock);
			if (w->idle) {
				struct rp__worker **pp = &ex->idle_head;

				while (*pp != w)
					pp = &(*pp)->next_idle;
				*pp = w->next_idle;
				w->idle = false;
				atomic_fetch_sub(&ex->n_idle, 1);
				pthread_mutex_unlock(&ex->idle_lock);
				if (atomic_load(&ex->shutdown) && rp__runq_empty(&ex->rq))
					return false;
				/*
				 * As a spinner that finds work: what we saw may
				 * be two tasks whose submitters counted on us.
				 */
				w->wake_if_more = true;
				return true;
			}
			pthread_mutex_unlock(&ex->idle_lock);
			/* A waker already chose us: we count as spinning. */
		} else {
			while (atomic_load_explicit(&w->park,
						    memory_order_acquire) == 0)
				rp__futex_wait(&w->park, 0, INT64_MAX);
		}
		/* Woken: the waker made us the spinner. */
		spinning = true;
		if (ex->spin_ns == 0) {
			if (atomic_fetch_sub(&ex->n_spinning, 1) == 1)
				w->wake_if_more = true;
			return true;
		}
	}
}

static void *worker_main(void *p)
{
	struct rp__worker *w = p;
	rp_executor *ex = w->ex;
	char name[16];
	rp_future *f;
	int ret = 0;

	snprintf(name, sizeof(name), "%.*s%u",
		 (int)(15 - (w->index >= 100 ? 4 : w->index >= 10 ? 2 : 1)),
		 ex->name_prefix, w->index);
	pthread_setname_np(pthread_self(), name);
	cur_worker = w;

	if (ex->initializer)
		ret = ex->initializer(ex->initializer_arg);
	if (ret != 0)
		atomic_store(&ex->broken, true);

	pthread_mutex_lock(&ex->start_lock);
	ex->started++;
	pthread_cond_broadcast(&ex->start_cond);
	pthread_mutex_unlock(&ex->start_lock);

	for (;;) {
		f = w->next;
		if (f) {
			w->next = NULL;
			w->next_runs++;
			run_task(ex, f);
			continue;
		}
		w->next_runs = 0;
		f = take(w);
		if (w->wake_if_more) {
			w->wake_if_more = false;
			if (!rp__runq_empty(&ex->rq))
				maybe_wake(ex);
		}
		if (f) {
			run_task(ex, f);
			continue;
		}
		if (!worker_idle(w))
			break;
	}
	cur_worker = NULL;
	rp__magazine_flush();
	return NULL;
}

/* ---- public API ------------------------------------------------------- */

/*
 * fork() copies an executor into the child without its threads, and its
 * rings with it: the child's copy shares their memory with the parent's
 * kernel rings.  A pthread_atfork() child handler marks every live executor
 * broken and `forked`, so that the child gets -ENOTRECOVERABLE from it
 * instead of work that never runs, a joined thread that does not exist
 * (rp_executor_free() crashed) or a submission into the parent's ring.
 * Submits already check `broken`, so this costs them nothing.  The list's
 * lock is held across fork() by the prepare handler, so the child finds
 * the list whole and the lock free.
 */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static rp_executor *live_head;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
	pthread_mutex_lock(&live_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&live_lock);
}

static void atfork_child(void)
{
	rp_executor *ex;

	for (ex = live_head; ex; ex = ex->live_next) {
		ex->forked = true;
		atomic_store(&ex->broken, true);
	}
	pthread_mutex_unlock(&live_lock);
}

static void atfork_register(void)
{
	(void)pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void live_add(rp_executor *ex)
{
	(void)pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&live_lock);
	ex->live_prev = NULL;
	ex->live_next = live_head;
	if (live_head)
		live_head->live_prev = ex;
	live_head = ex;
	pthread_mutex_unlock(&live_lock);
}

static void live_remove(rp_executor *ex)
{
	pthread_mutex_lock(&live_lock);
	if (ex->live_prev)
		ex->live_prev->live_next = ex->live_next;
	else
		live_head = ex->live_next;
	if (ex->live_next)
		ex->live_next->live_prev = ex->live_prev;
	pthread_mutex_unlock(&live_lock);
}

/*
 * Slots of the run queue's ring (16 bytes each, 1 MiB of address space, but
 * pages are touched only as deep as the queue ever gets, see runq.c).  A
 * burst of submits easily runs thousands of tasks ahead of the workers, and
 * beyond the ring tasks queue in the linked overflow list, which costs the
 * submitter two more locked instructions and the workers a lock: with 4096
 * slots most of a burst of a million went there and throughput fell by a
 * third.
 */
#define RUNQ_SIZE 65536

int rp_config_init(struct rp_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->thread_name_prefix = "rp-worker";
	cfg->spin_ns = 50000;
	cfg->backend = RP_BACKEND_AUTO;
	cfg->rings = 1;
	cfg->ring_entries = 256;
	cfg->io_threads = 16;
	return 0;
}

static void join_workers(rp_executor *ex, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		pthread_join(ex->workers[i].thread, NULL);
}

void rp__executor_destroy(rp_executor *ex)
{
	rp__slab_destroy(ex);
	rp__runq_destroy(&ex->rq);
	pthread_mutex_destroy(&ex->io_lock);
	pthread_mutex_destroy(&ex->idle_lock);
	pthread_mutex_destroy(&ex->slab_lock);
	pthread_mutex_destroy(&ex->start_lock);
	pthread_cond_destroy(&ex->start_cond);
	free(ex->workers);
	free(ex);
}

static bool config_ok(const struct rp_config *cfg)
{
	return cfg->workers <= 1024 && cfg->rings <= 64 &&
	       cfg->ring_entries <= 32768 && cfg->io_threads <= 1024 &&
	       (cfg->ring_entries & (cfg->ring_entries - 1)) == 0 &&
	       cfg->backend >= RP_BACKEND_AUTO &&
	       cfg->backend <= RP_BACKEND_THREADS &&
	       cfg->ring_mode >= RP_RINGS_AUTO &&
	       cfg->ring_mode <= RP_RINGS_SHARED &&
	       cfg->sqpoll_idle_ms <= 60000;
}

int rp__executor_create(const struct rp_config *cfg, bool internal,
			rp_executor **out)
{
	struct rp_config defaults;
	rp_executor *ex;
	unsigned i, n;
	long cpus;
	int ret;

	if (!out)
		return -EINVAL;
	if (!cfg) {
		rp_config_init(&defaults);
		cfg = &defaults;
	}
	if (!config_ok(cfg))
		return -EINVAL;
	n = cfg->workers;
	if (n == 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? (unsigned)(cpus > 1024 ? 1024 : cpus) : 1;
	}

	ex = aligned_alloc(RP_CACHELINE, sizeof(*ex));
	if (!ex)
		return -ENOMEM;
	memset(ex, 0, sizeof(*ex));
	/* Each worker's park word has a cache line of its own. */
	ex->workers = aligned_alloc(RP_CACHELINE, n * sizeof(*ex->workers));
	if (ex->workers)
		memset(ex->workers, 0, n * sizeof(*ex->workers));
	if (!ex->workers) {
		free(ex);
		return -ENOMEM;
	}
	if (rp__runq_init(&ex->rq, RUNQ_SIZE) < 0) {
		free(ex->workers);
		free(ex);
		return -ENOMEM;
	}
	pthread_mutex_init(&ex->io_lock, NULL);
	pthread_mutex_init(&ex->idle_lock, NULL);
	pthread_mutex_init(&ex->slab_lock, NULL);
	pthread_mutex_init(&ex->start_lock, NULL);
	pthread_cond_init(&ex->start_cond, NULL);
	ex->internal = internal;
	ex->n_workers = n;
	ex->spin_ns = cfg->spin_ns;
	ex->io_threads = cfg->io_threads ? cfg->io_threads : 16;
	ex->initializer = cfg->initializer;
	ex->initializer_arg = cfg->initializer_arg;
	snprintf(ex->name_prefix, sizeof(ex->name_prefix), "%s",
		 cfg->thread_name_prefix ? cfg->thread_name_prefix : "");

	for (i = 0; i < n; i++) {
		ex->workers[i].ex = ex;
		ex->workers[i].index = i;
		ret = rp__thread_create(&ex->workers[i].thread, worker_main,
				       &ex->workers[i]);
		if (ret != 0) {
			atomic_store(&ex->shutdown, true);
			wake_all(ex);
			join_workers(ex, i);
			rp__executor_destroy(ex);
			return -EAGAIN;
		}
	}
	pthread_mutex_lock(&ex->start_lock);
	while (ex->started < n)
		pthread_cond_wait(&ex->start_cond, &ex->start_lock);
	pthread_mutex_unlock(&ex->start_lock);

	if (!internal) {
		ret = rp__io_start(ex, cfg);
		if (ret < 0) {
			rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT);
			ex->joined = true;
			rp__slab_release_handle(ex);
			return ret;
		}
		live_add(ex);
	}
	*out = ex;
	return 0;
}

int rp_executor_new(const struct rp_config *cfg, rp_executor **out)
{
	return rp__executor_create(cfg, false, out);
}

int rp_executor_workers(const rp_executor *ex)
{
	return ex ? (int)ex->n_workers : -EINVAL;
}

int rp__submit_enter(rp_executor *ex)
{
	if (atomic_load_explicit(&ex->broken, memory_order_relaxed))
		return -ENOTRECOVERABLE;
	/*
	 * n_submitting lets shutdown wait for submitters that passed the
	 * check below, so no work is queued after shutdown has returned.
	 */
	atomic_fetch_add_explicit(&ex->n_submitting, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&ex->shutdown, memory_order_seq_cst)) {
		rp__submit_exit(ex);
		return -ESHUTDOWN;
	}
	return 0;
}

void rp__submit_exit(rp_executor *ex)
{
	atomic_fetch_sub_explicit(&ex->n_submitting, 1, memory_order_release);
}

/*
 * Tasks in a row that a worker may take from its `next` slot before the
 * next one goes through the shared queue, so that a chain of operations
 * (each queued by the last one's done-callback) cannot keep a worker from
 * the queue for long: NEXT_RUNS_MAX while the queue is empty, and
 * NEXT_RUNS_BUSY while tasks wait in it.  With 64 reads in flight on 2
 * threads (each read's callback queueing the next), 32 in a row made the
 * 99th percentile of a read's latency 1.8-2.6 ms against a median of
 * 2 us; 4 brings it to 0.32-0.55 ms at the same throughput (medians of 6
 * alternated rounds: 1.03 M reads/s against 1.02 M), and going through the
 * queue every time to 0.16 ms, at a third less throughput.
 */
#define NEXT_RUNS_MAX 32
#define NEXT_RUNS_BUSY 4

void rp__executor_enqueue(rp_executor *pool, rp_future *f)
{
	struct rp__worker *w = cur_worker;

	/*
	 * A done-callback that queues the next operation, on the thread that
	 * ended the last one: that thread is about to look for work, so the
	 * operation stays with it.  Through the shared queue it would cost
	 * three or four cache lines moved between cores (the queue's two
	 * ends and the slot), about a microsecond on the 2-vCPU VMs, which
	 * is a third of a cached 4 KiB pread.  Callbacks must not block
	 * (ringpool.h), so the operation waits at most for the other
	 * callbacks of the one that ended; a library wait on this thread
	 * hands it to the queue first (rp__worker_flush_next()).
	 *
	 * An operation kept here goes ahead of those queued, so while any
	 * wait there a chain keeps its thread NEXT_RUNS_BUSY times in a row,
	 * not NEXT_RUNS_MAX.  The look at the queue comes only past the
	 * former, and costs no miss while the queue is empty (its two ends
	 * are lines no one writes).
	 */
	if (w && w->ex == pool && w->completing && !w->next &&
	    (w->next_runs < NEXT_RUNS_BUSY ||
	     (w->next_runs < NEXT_RUNS_MAX && rp__runq_empty(&pool->rq)))) {
		w->next = f;
		return;
	}
	/*
	 * The owner's submit gate (rp__submit_enter) ends before the pool is
	 * shut down, so the ring cannot be closed here; the overflow list takes
	 * what the ring cannot.
	 */
	rp__runq_push(&pool->rq, f);
	maybe_wake(pool);
}

void rp__worker_completing(bool on)
{
	if (cur_worker)
		cur_worker->completing = on;
}

void rp__worker_flush_next(void)
{
	struct rp__worker *w = cur_worker;
	rp_future *f;

	if (!w || !w->next)
		return;
	f = w->next;
	w->next = NULL;
	rp__runq_push(&w->ex->rq, f);
	maybe_wake(w->ex);
}

/*
 * The overflow path of a submit.  n_submitting lets shutdown wait for
 * submitters that passed the check below, so no task is queued after
 * shutdown has returned.
 */
static int submit_slow(rp_executor *ex, rp_future *f)
{
	int ret = 0;

	atomic_fetch_add_explicit(&ex->n_submitting, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&ex->shutdown, memory_order_seq_cst))
		ret = -ESHUTDOWN;
	else
		rp__runq_push(&ex->rq, f);
	atomic_fetch_sub_explicit(&ex->n_submitting, 1, memory_order_release);
	return ret;
}

/*
 * The common case is one locked instruction: the ring's CAS, which also
 * checks for shutdown (rp__runq_close()) and orders the push before the
 * loads of maybe_wake().  Every locked instruction waits for the stores
 * before it (the new future's line, often a cache miss) to complete, so
 * each one saved shows.
 */
int rp_submit(rp_executor *ex, rp_task_fn fn, void *arg, rp_future **out)
{
	rp_future *f;
	int ret;

	if (!ex || !fn || !out)
		return -EINVAL;
	if (atomic_load_explicit(&ex->broken, memory_order_relaxed))
		return -ENOTRECOVERABLE;
	/* Not needed for correctness: saves an allocation after shutdown. */
	if (atomic_load_explicit(&ex->shutdown, memory_order_relaxed))
		return -ESHUTDOWN;
	f = rp__future_alloc(ex, RP__CLASS_TASK);
	if (!f)
		return -ENOMEM;
	rp__future_init(f, ex, fn, arg);
	ret = rp__runq_try_push(&ex->rq, f);
	if (ret == -ENOSPC)
		ret = submit_slow(ex, f);
	if (ret < 0) {
		rp__future_release(f);	/* never published */
		return ret;
	}
	maybe_wake(ex);
	*out = f;
	return 0;
}

/* Cancels every task still in the shared queue. */
static void cancel_queued(rp_executor *ex)
{
	rp_future *f;

	/*
	 * A submit whose CAS came before the ring was closed may not have
	 * written its slot yet: wait for it rather than leave it to a worker.
	 */
	while (!rp__runq_empty(&ex->rq)) {
		f = rp__runq_pop(&ex->rq);
		if (!f) {
			sched_yield();
			continue;
		}
		(void)rp_future_cancel(f);
		rp_future_unref(f);	/* the queue's ref */
	}
}

/* True when the calling thread belongs to `ex` (a worker or an I/O thread). */
static bool on_own_thread(const rp_executor *ex)
{
	return (cur_worker && cur_worker->ex == ex) ||
	       (ex->io && ex->io->on_own_thread(ex));
}

static void shutdown_flags(rp_executor *ex, unsigned flags)
{
	atomic_store_explicit(&ex->shutdown, true, memory_order_seq_cst);
	rp__runq_close(&ex->rq);
	while (atomic_load_explicit(&ex->n_submitting, memory_order_acquire))
		sched_yield();
	if (flags & RP_SHUTDOWN_CANCEL_PENDING) {
		/* Workers cancel instead of running what they pop next. */
		atomic_store(&ex->cancel_pending, true);
		cancel_queued(ex);
	}
	wake_all(ex);
}

static void join_all(rp_executor *ex)
{
	pthread_mutex_lock(&ex->start_lock);
	if (!ex->joined) {
		join_workers(ex, ex->n_workers);
		ex->joined = true;
	}
	pthread_mutex_unlock(&ex->start_lock);
}

int rp_executor_shutdown(rp_executor *ex, unsigned flags)
{
	bool wait;

	if (!ex || (flags & ~(unsigned)(RP_SHUTDOWN_WAIT |
					RP_SHUTDOWN_CANCEL_PENDING)))
		return -EINVAL;
	if (ex->forked)
		return -ENOTRECOVERABLE;
	wait = (flags & RP_SHUTDOWN_WAIT) && !on_own_thread(ex);
	if (rp__plug.ex == ex && rp__plug.pending)
		rp__io_flush_plug();
	shutdown_flags(ex, flags);
	if (ex->io)
		ex->io->stop(ex, flags & RP_SHUTDOWN_CANCEL_PENDING, false,
			     wait);
	if (!(flags & RP_SHUTDOWN_WAIT))
		return 0;
	if (!wait)
		return -EDEADLK;
	join_all(ex);
	return 0;
}

int rp_executor_free(rp_executor *ex)
{
	if (!ex)
		return 0;
	if (ex->forked)
		return -ENOTRECOVERABLE;
	if (on_own_thread(ex))
		return -EDEADLK;
	if (!ex->internal)
		live_remove(ex);
	/* A batch still open on this thread is sent, then ended. */
	if (rp__plug.ex == ex) {
		rp__io_flush_plug();
		rp__plug.depth = 0;
		rp__plug.ex = NULL;
	}
	shutdown_flags(ex, 0);
	/* I/O that may never end (a recv on an idle socket) is cancelled. */
	if (ex->io)
		ex->io->stop(ex, true, true, true);
	join_all(ex);
	rp__io_destroy(ex);
	rp__slab_release_handle(ex);
	return 0;
}

const char *rp_version(void)
{
	return RINGPOOL_VERSION;
}
