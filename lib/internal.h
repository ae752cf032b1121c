/* SPDX-License-Identifier: MIT */
/*
 * Internal interface shared by the library's files.  Nothing here is public:
 * non-static names carry the rp__ prefix and are hidden by the version script.
 */
#ifndef RP_INTERNAL_H
#define RP_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ringpool.h"

#define RP_CACHELINE 64
#define RP_ALIGNED __attribute__((aligned(RP_CACHELINE)))

#if defined(__x86_64__) || defined(__i386__)
#define rp__cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define rp__cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define rp__cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

/* ---- time and futexes (futex.c) ---------------------------------------- */

/* CLOCK_MONOTONIC now, in nanoseconds. */
int64_t rp__now_ns(void);
/* Absolute deadline for a relative timeout; INT64_MAX for "forever". */
int64_t rp__deadline(int64_t timeout_ns);
/*
 * Sleeps while *word == expected, until woken or `deadline` (absolute,
 * CLOCK_MONOTONIC ns; INT64_MAX for none).  Returns 0 when woken or the value
 * differed, -ETIMEDOUT at the deadline; spurious wake-ups return 0.
 */
int rp__futex_wait(_Atomic uint32_t *word, uint32_t expected,
		   int64_t deadline);
void rp__futex_wake(_Atomic uint32_t *word, int n);

/* ---- callbacks -------------------------------------------------------- */

/*
 * A node on a future's callback list.  User callbacks get a malloc'd node
 * that frees itself; waiters embed nodes in their own objects.  `run` is
 * called exactly once, when the future ends (or at once if it had).
 */
struct rp__cb {
	struct rp__cb *next;
	void (*run)(struct rp__cb *cb, rp_future *f);
};

/* ---- futures (future.c) ----------------------------------------------- */

/* Low bits of rp_future::state; RP__WAITERS is or-ed in by sleepers. */
enum {
	RP__PENDING = 0,
	RP__RUNNING = 1,
	RP__DONE = 2,
	RP__CANCELLED = 3,
	RP__STATE_MASK = 3,
	RP__WAITERS = 4,
};

/* The callback list of an ended future: adders run their node at once. */
#define RP__CB_CLOSED ((struct rp__cb *)1)

/*
 * One future; 64 bytes, one cache line.  The `next` link comes first so the
 * run queue can treat a future as its node (see executor.c).
 */
struct rp_future {
	_Atomic(struct rp_future *) next;	/* run queue / free list link */
	_Atomic uint32_t state;
	_Atomic uint32_t refs;
	rp_task_fn fn;
	void *arg;
	int64_t value;
	int32_t error;
	uint32_t flags;
	_Atomic(struct rp__cb *) cbs;		/* LIFO until closed */
	rp_executor *ex;
} RP_ALIGNED;

/* Initializes a fresh future: pending, two references (caller + executor). */
void rp__future_init(rp_future *f, rp_executor *ex, rp_task_fn fn, void *arg);
/*
 * Ends `f` (final state RP__DONE or RP__CANCELLED, value and error already
 * stored): publishes the state, wakes sleepers, runs callbacks.  Called once
 * per future, by the thread that won the transition out of PENDING/RUNNING.
 */
void rp__future_finish(rp_future *f, uint32_t final_state);
/* Registers a callback node; runs it at once if `f` has ended. */
void rp__future_add_cb(rp_future *f, struct rp__cb *cb);
/*
 * Waits until `f` ends or `deadline`; a worker thread runs queued tasks
 * meanwhile.  Returns 0 or -ETIMEDOUT.
 */
int rp__future_wait(rp_future *f, int64_t deadline);

static inline uint32_t rp__future_state(const rp_future *f)
{
	return atomic_load_explicit(&((rp_future *)f)->state,
				    memory_order_acquire) & RP__STATE_MASK;
}

/* ---- executor (executor.c) -------------------------------------------- */

/* One CPU worker thread. */
struct rp__worker {
	/* Set to 1 by the waker; the worker sleeps on it while idle. */
	_Atomic uint32_t park RP_ALIGNED;
	struct rp__worker *next_idle;	/* idle list link, under idle_lock */
	bool idle;			/* on the idle list, under idle_lock */
	rp_executor *ex;
	pthread_t thread;
	unsigned index;
};

/* Thread-local cache of free futures for one executor (slab.c). */
struct rp__magazine {
	rp_executor *ex;
	rp_future *head;
	uint32_t count;
};

struct rp_executor {
	/* Producer side of the run queue: written by every submitter. */
	_Atomic(rp_future *) tail RP_ALIGNED;
	_Atomic uint32_t n_submitting;

	/* Consumer side: one worker at a time pops, holding pop_lock. */
	_Atomic(rp_future *) head RP_ALIGNED;	/* written under pop_lock */
	_Atomic bool pop_lock;

	/*
	 * Sleep/wake bookkeeping; the protocol is described above
	 * rp__executor_wake() in executor.c.  Read by every submitter, written
	 * only when a worker parks or is woken.
	 */
	_Atomic uint32_t n_spinning RP_ALIGNED;
	_Atomic uint32_t n_idle;
	_Atomic bool shutdown;
	_Atomic bool cancel_pending;
	_Atomic bool broken;
	pthread_mutex_t idle_lock;
	struct rp__worker *idle_head;

	/* Slab of futures (slab.c), guarded by slab_lock. */
	pthread_mutex_t slab_lock RP_ALIGNED;
	rp_future *depot;		/* free futures */
	size_t depot_count;
	size_t slab_total;		/* futures carved from chunks */
	void **chunks;
	size_t n_chunks, cap_chunks;
	bool handle_released;		/* rp_executor_free has run */

	/* Stub node of the run queue (never handed out). */
	rp_future stub;

	/* Start-up, join and settings. */
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	unsigned started;
	unsigned n_workers;
	bool joined;
	struct rp__worker *workers;
	uint32_t spin_ns;
	rp_init_fn initializer;
	void *initializer_arg;
	char name_prefix[16];
};

/* The executor whose worker is running on this thread, or NULL. */
rp_executor *rp__current_worker_executor(void);
/*
 * On a worker thread: pops one queued task of `ex` and runs it.  Returns true
 * if a task ran.  Used by waiters so that nested waits never deadlock.
 */
bool rp__help_one(rp_executor *ex);

/* ---- slab (slab.c) ---------------------------------------------------- */

/* A zeroed-enough future for `ex`, or NULL when out of memory. */
rp_future *rp__future_alloc(rp_executor *ex);
/* Returns `f` to its executor's slab. */
void rp__future_release(rp_future *f);
/* Returns this thread's cached futures to their executor (any executor). */
void rp__magazine_flush(void);
/*
 * Called once by rp_executor_free() after the threads are joined; frees the
 * executor's memory now or when the last future comes back.
 */
void rp__slab_release_handle(rp_executor *ex);
/* Frees the slab's chunks; the executor must be unused. */
void rp__slab_destroy(rp_executor *ex);
/* Final free of an executor (executor.c). */
void rp__executor_destroy(rp_executor *ex);

#endif /* RP_INTERNAL_H */
