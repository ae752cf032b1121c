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

#include <liburing.h>

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
/* rp_sleep() with options (rp_io_opts::flags: ::RP_IO_RING only). */
int rp__sleep(rp_executor *ex, int64_t ns, const struct rp_io_opts *opts,
	      rp_future **out);

/*
 * Whether to spin: `*avg` is a moving average (weight 1/8) of how long the
 * waits of one kind have lasted, each capped at twice the spin budget so
 * that one long pause is soon forgotten.  rp__spin_learn() adds a wait;
 * rp__spin_pays() says whether the next one should spin.  Used by waiting
 * threads (future.c) and idle ring threads (io_uring.c).
 */
static inline void rp__spin_learn(int64_t *avg, uint32_t budget,
				  int64_t waited)
{
	int64_t cap = 2 * (int64_t)budget;

	if (waited > cap)
		waited = cap;
	if (waited < 0)
		waited = 0;
	*avg += (waited - *avg) / 8;
}

static inline bool rp__spin_pays(int64_t avg, uint32_t budget)
{
	return avg < (int64_t)budget;
}
/*
 * Sleeps while *word == expected, until woken or `deadline` (absolute,
 * CLOCK_MONOTONIC ns; INT64_MAX for none).  Returns 0 when woken or the value
 * differed, -ETIMEDOUT at the deadline; spurious wake-ups return 0.
 */
int rp__futex_wait(_Atomic uint32_t *word, uint32_t expected,
		   int64_t deadline);
void rp__futex_wake(_Atomic uint32_t *word, int n);

/*
 * pthread_create() for the library's own threads (workers, ring threads,
 * the HTTP loop): they start with every asynchronous signal blocked, so
 * that a signal sent to the process (SIGINT, SIGTERM, SIGCHLD, a timer's)
 * is taken by a thread of the program, whose mask it chose, and never
 * interrupts a ring thread.  Returns 0 or an error number, as
 * pthread_create() does.
 */
int rp__thread_create(pthread_t *t, void *(*fn)(void *), void *arg);

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

/*
 * Low bits of rp_future::state; RP__WAITERS is or-ed in by sleepers.
 * RP__NO_CBS is set by rp__future_init() and cleared by the first callback
 * adder: while it is set the finisher knows the callback list is empty and
 * skips closing it (see future.c).  A transition that drops it (a CAS that
 * keeps only RP__WAITERS) is safe, only slower; keep it with
 * RP__STATE_FLAGS.
 */
enum {
	RP__PENDING = 0,
	RP__RUNNING = 1,
	RP__DONE = 2,
	RP__CANCELLED = 3,
	RP__STATE_MASK = 3,
	RP__WAITERS = 4,
	RP__NO_CBS = 8,
	/*
	 * Set by rp_wait() on a future it waits for: the finisher then bumps
	 * rp__many_epoch (future.c).  Unlike a callback node it needs no
	 * memory, so a wait that times out leaves nothing behind.
	 */
	RP__MANY = 16,
	RP__STATE_FLAGS = RP__WAITERS | RP__NO_CBS | RP__MANY,
};

/*
 * Bumped (seq_cst) by the finisher of every future with RP__MANY, which then
 * wakes the rp_wait() callers that sleep on it (rp__many_sleepers of them).
 */
extern _Atomic uint32_t rp__many_epoch;
extern _Atomic uint32_t rp__many_sleepers;

/*
 * The callback list of an ended future: adders run their node at once.
 * (Bit 1 of the list head is taken too, see future.c.)
 */
#define RP__CB_CLOSED ((struct rp__cb *)1)

/* Bits of rp_future::flags. */
enum {
	RP__F_IO = 1u << 0,		/* an I/O operation, described by sqe */
	RP__F_FULL = 1u << 1,		/* *_full: resubmit after short transfers */
	RP__F_DEADLINE = 1u << 2,	/* has a deadline (io.deadline) */
	RP__F_CANCEL_REQ = 1u << 3,	/* rp_future_cancel asked to stop it */
	RP__F_TIMED_OUT = 1u << 4,	/* its deadline fired */
	RP__F_RESULT = 1u << 5,		/* final operation result recorded */
	RP__F_MULTI = 1u << 6,		/* multishot: many CQEs, a callback each */
	RP__F_CTRL = 1u << 7,		/* a ring command (registrations) */
	/*
	 * Ended by its owner, not by a backend (http.c): rp_future_cancel()
	 * on it while RUNNING calls u.hook.cancel once, instead of a backend.
	 */
	RP__F_HOOK = 1u << 8,
	/* Bits 9-15: the ring asked for with RP_IO_RING, plus one; 0: any. */
	RP__F_RING_SHIFT = 9,
	RP__F_RING_MASK = 0x7fu << 9,
	/* Bits 16-19: CQEs the ring still owes this future (io_uring.c). */
	RP__F_PENDING_SHIFT = 16,
	RP__F_PENDING_ONE = 1u << 16,
	RP__F_PENDING_MASK = 15u << 16,
	/*
	 * Bits 20-31: where the operation runs: the ring's index (io_uring) or
	 * the blocking thread's index + 1 (fallback).
	 */
	RP__F_SLOT_SHIFT = 20,
	RP__F_SLOT_MASK = 0xfffu << 20,
};

/*
 * One future: 64 bytes, one cache line; all a CPU task touches.  The `next`
 * link comes first so the queues can treat a future as their node.
 */
struct rp_future {
	_Atomic(struct rp_future *) next;	/* queue / free list link */
	_Atomic uint32_t state;
	_Atomic uint32_t refs;
	union {
		struct {			/* CPU task */
			rp_task_fn fn;
			void *arg;
		} task;
		struct {			/* I/O operation */
			/* Absolute CLOCK_MONOTONIC deadline, see flags. */
			struct __kernel_timespec deadline;
		} io;
		struct {			/* multishot I/O */
			union {
				rp_accept_fn accept;
				rp_recv_fn recv;
			} fn;
			void *arg;
		} multi;
		struct {			/* RP__F_HOOK */
			void (*cancel)(rp_future *f);
			void *arg;
		} hook;
	} u;
	int64_t value;
	int32_t error;
	_Atomic uint32_t flags;
	_Atomic(struct rp__cb *) cbs;		/* LIFO until closed */
	rp_executor *ex;
} RP_ALIGNED;

/*
 * An I/O future: 128 bytes.  The operation is described as the SQE io_uring
 * would be given; the fallback backend decodes the same SQE into system
 * calls, so both backends share one description of every operation.  Kept
 * apart from CPU futures so those stay one cache line.
 */
struct rp__iof {
	rp_future f;
	struct io_uring_sqe sqe;
} RP_ALIGNED;

static inline struct rp__iof *rp__iof(rp_future *f)
{
	return (struct rp__iof *)f;
}

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
 * Takes a node added with rp__future_add_cb() off `f` before it runs.
 * Returns true if it did: the node will not run and is the caller's again.
 * False when the node has run or is being run by the finisher, which then
 * owns it until run() returns.  Safe against a concurrent finish and adds;
 * each node is removed by one thread at most.
 */
bool rp__future_remove_cb(rp_future *f, struct rp__cb *cb);
/*
 * A worker that waits must keep running queued tasks, or a task waiting on a
 * task queued behind it would wait forever with one worker.  It cannot sleep
 * on "this ended" and on "new work" at once, so it sleeps at most this long
 * before looking at the queue again (future.c, wait.c).
 */
#define RP__HELPER_POLL_NS 1000000

/*
 * Waits until `f` ends or `deadline`; a worker thread runs queued tasks
 * meanwhile.  Returns 0 or -ETIMEDOUT.
 */
int rp__future_wait(rp_future *f, int64_t deadline);
/*
 * True when `f` is an I/O operation on the io_uring ring that the calling
 * thread drives (its ring thread, or a thread driving a shared ring, inside
 * a done-callback): only this thread can end it, so waiting for it here
 * never ends.  The public waits answer -EDEADLK instead.
 */
bool rp__wait_would_deadlock(const rp_future *f);

static inline uint32_t rp__future_state(const rp_future *f)
{
	return atomic_load_explicit(&((rp_future *)f)->state,
				    memory_order_acquire) & RP__STATE_MASK;
}

/*
 * Moves a queued future from PENDING to RUNNING, keeping its flags.  False
 * when it is no longer pending: cancelled while queued, or claimed by
 * another (a waiter that runs it inline, see rp__run_inline()).
 */
static inline bool rp__future_claim(rp_future *f)
{
	uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);

	do {
		if ((s & RP__STATE_MASK) != RP__PENDING)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&f->state, &s,
			(s & RP__STATE_FLAGS) | RP__RUNNING,
			memory_order_acq_rel, memory_order_acquire));
	return true;
}

/* ---- queue (queue.c) --------------------------------------------------- */

/* Intrusive multi-producer queue of futures; see queue.c. */
struct rp__queue {
	_Atomic(rp_future *) tail RP_ALIGNED;	/* producers */
	_Atomic(rp_future *) head RP_ALIGNED;	/* consumers, under lock */
	_Atomic bool lock;
	rp_future stub;				/* never handed out */
};

void rp__q_init(struct rp__queue *q);
void rp__q_push(struct rp__queue *q, rp_future *f);
bool rp__q_empty(struct rp__queue *q);
/*
 * Pops up to `max` futures into `out`, oldest first.  Returns how many; waits
 * out a producer that is mid-push, so 0 really means empty.
 */
unsigned rp__q_pop_many(struct rp__queue *q, rp_future **out, unsigned max);

/*
 * The API above is also each ring's submission queue (io_uring.c: one
 * consumer) and its wake-up protocol relies on two guarantees, kept by
 * queue.c: rp__q_push() ends in a seq_cst exchange, ordered before the
 * producer's next seq_cst load; and rp__q_empty() reads the producer-visible
 * `tail` first, seq_cst.
 */

/* ---- the CPU run queue (runq.c) ---------------------------------------- */

struct rp__slot {
	_Atomic size_t seq;		/* lap marker, see runq.c */
	_Atomic(rp_future *) f;		/* atomic only for the prefetch peek */
};

/*
 * A bounded ring with the linked queue behind it for overflow; see runq.c.
 * Producers write `enq`, consumers `deq`; each has a line of its own.
 */
struct rp__runq {
	_Atomic size_t enq RP_ALIGNED;
	_Atomic size_t deq RP_ALIGNED;
	struct rp__slot *slots RP_ALIGNED;	/* read-only after init */
	size_t mask;
	struct rp__queue over;
};

/* The top bit of `enq`: set by rp__runq_close(). */
#define RP__RUNQ_CLOSED ((size_t)1 << (sizeof(size_t) * 8 - 1))

/* `size` is a power of two.  Returns 0 or -ENOMEM. */
int rp__runq_init(struct rp__runq *rq, unsigned size);
void rp__runq_destroy(struct rp__runq *rq);
/*
 * Queues `f` into the ring: 0, or -ESHUTDOWN after rp__runq_close(), or
 * -ENOSPC when it must go to the overflow list (use rp__runq_push()).
 * A success ends in a seq_cst read-modify-write (see runq.c).
 */
int rp__runq_try_push(struct rp__runq *rq, rp_future *f);
/*
 * Queues `f`, into the overflow list if need be, even when closed: the
 * caller keeps shutdown from completing meanwhile (n_submitting).  Ends in a
 * seq_cst read-modify-write.
 */
void rp__runq_push(struct rp__runq *rq, rp_future *f);
/* Makes every later rp__runq_try_push() fail with -ESHUTDOWN. */
void rp__runq_close(struct rp__runq *rq);
/*
 * Takes the oldest task, or NULL.  NULL also while a push is half done, so
 * NULL with !rp__runq_empty() means "look again soon".
 */
rp_future *rp__runq_pop(struct rp__runq *rq);
/* True when nothing is queued; reads `enq` first, seq_cst. */
bool rp__runq_empty(struct rp__runq *rq);
/*
 * A cheap hint for polling: true when rp__runq_pop() would likely return a
 * task.  Reads no line that the producers write on every push.
 */
bool rp__runq_ready(struct rp__runq *rq);

/* ---- I/O -------------------------------------------------------------- */

/*
 * Runs the operation described by `sqe` as blocking system calls on the
 * calling thread and returns what io_uring's CQE res would be (>= 0, or a
 * negative errno) (io_blocking.c).
 *
 * Waits that can last (readiness of a pipe or socket, a connect, a sleep) are
 * made with poll(2) on the operation's descriptor and on `cancel_fd`, an
 * eventfd of the calling thread:
 *  - when `cancel_fd` becomes readable and `*flags & RP__F_CANCEL_REQ`, the
 *    operation ends with -ECANCELED (the eventfd is drained);
 *  - when it becomes readable without that flag, the wake-up was meant for an
 *    earlier operation: drain it and keep waiting;
 *  - at `deadline` (absolute CLOCK_MONOTONIC ns; INT64_MAX for none) the
 *    operation ends with -ETIMEDOUT.
 * Regular-file reads and writes at an offset >= 0 are made directly.
 */
int64_t rp__io_blocking_execute(const struct io_uring_sqe *sqe, int cancel_fd,
				int64_t deadline, const _Atomic uint32_t *flags);

/*
 * An I/O backend: io_uring*.c or io_threads.c.  The executor holds one; the
 * operations in io.c only build a future and hand it to `submit`.
 */
struct rp__io_backend {
	const char *name;
	/*
	 * Starts the backend for `ex`.  Returns 0 or a negative errno; on
	 * failure it leaves nothing running and may describe the cause in
	 * `why` (size `whylen`).
	 */
	int (*start)(rp_executor *ex, const struct rp_config *cfg, char *why,
		     size_t whylen);
	/* Queues `f` (state PENDING; the backend owns one reference). */
	void (*submit)(rp_executor *ex, rp_future *f);
	/*
	 * Asks the in-flight operation `f` (RP__F_CANCEL_REQ already set) to
	 * stop; `f` ends later, with -ECANCELED or its result.
	 */
	void (*cancel)(rp_executor *ex, rp_future *f);
	/*
	 * After shutdown: `cancel_pending` cancels operations not yet started,
	 * `cancel_inflight` asks those in flight to stop too; `wait` waits
	 * until every operation ended and the backend's threads are joined.
	 */
	void (*stop)(rp_executor *ex, bool cancel_pending, bool cancel_inflight,
		     bool wait);
	/*
	 * Registers files (`kind` RP__REG_FILES: `ptr` an int array) or
	 * buffers (RP__REG_BUFFERS: an iovec array), `n` of them, with every
	 * ring; n 0 removes them.  Returns 0 or a negative errno.
	 */
	int (*reg)(rp_executor *ex, int kind, const void *ptr, unsigned n);
	/* Frees what start made; the backend is stopped and joined. */
	void (*destroy)(rp_executor *ex);
	/* True when the calling thread is one of the backend's. */
	bool (*on_own_thread)(const rp_executor *ex);
	/*
	 * Sends what the calling thread queued inside a batch (the rings in
	 * rp__plug.pending) to the kernel; NULL when batches change nothing.
	 */
	void (*flush)(rp_executor *ex);
};

/*
 * The calling thread's batch (rp_io_batch_begin): operations it submits to
 * `ex` while `depth` > 0 are queued without a wake-up; `pending` has a bit
 * per ring they went to.  Flushed at the outermost end and before the thread
 * waits on a future (rp__io_flush_plug).
 */
struct rp__plug {
	rp_executor *ex;
	unsigned depth;
	uint64_t pending;
};

extern _Thread_local struct rp__plug rp__plug
	__attribute__((tls_model("initial-exec")));

/*
 * The ring mode asked for: rp_config::ring_mode, or for RP_RINGS_AUTO the
 * environment's RINGPOOL_RINGS (owned when unset); -1 when that names
 * neither (io_uring_setup.c).
 */
int rp__ring_mode(const struct rp_config *cfg);

/*
 * Nonzero while the calling thread holds a lock that done-callbacks of I/O
 * may take (the HTTP client's `mu`).  A submit to a shared ring then wakes
 * the ring's thread instead of driving the ring on this thread, since
 * driving runs other operations' callbacks here, which could wait for a
 * lock held by a thread that waits for this one (io_uring.c).
 */
extern _Thread_local unsigned rp__no_drive
	__attribute__((tls_model("initial-exec")));

/* Sends the calling thread's queued batch, if any (io.c). */
void rp__io_flush_plug(void);

enum { RP__REG_FILES = 1, RP__REG_BUFFERS = 2 };

extern const struct rp__io_backend rp__io_uring_backend;
/* Whether RINGPOOL_URING_SKIP, if set, names only known operations. */
bool rp__uring_skip_ok(void);
extern const struct rp__io_backend rp__io_threads_backend;

/*
 * A blocking-I/O pool (io_threads.c): threads that run operations as
 * system calls.  The fallback backend sends every operation to one; the
 * io_uring backend those its kernel's io_uring lacks.  `f` is an I/O future
 * of another executor, with the backend's reference.
 */
struct rp__blocking;
int rp__blocking_new(unsigned threads, uint32_t spin_ns,
		     struct rp__blocking **out);
void rp__blocking_submit(struct rp__blocking *b, rp_future *f);
/* As rp__io_backend.cancel and .stop, for the pool's operations. */
void rp__blocking_cancel(struct rp__blocking *b, rp_future *f);
void rp__blocking_stop(struct rp__blocking *b, bool cancel_pending,
		       bool cancel_inflight, bool wait);
/* Frees a stopped pool; NULL is a no-op. */
void rp__blocking_free(struct rp__blocking *b);
/* Whether the calling thread is one of the pool's (false for NULL). */
bool rp__blocking_on_own_thread(const struct rp__blocking *b);

/*
 * Runs an I/O future on the calling blocking-pool thread (io_threads.c):
 * called by run_task() for futures marked RP__F_IO, after the claim.
 */
void rp__io_blocking_run(rp_executor *pool, rp_future *f);
/*
 * Ends an I/O future whose operation gave `res` (a CQE's res): maps the
 * outcome (deadline, cancellation, sleeps) onto value, error and final state
 * and finishes it (io.c).  Does not drop any reference.
 */
void rp__io_complete(rp_future *f, int64_t res);
/*
 * Chooses and starts the I/O backend of a new executor (io.c).  Returns 0, or
 * a negative errno when the backend asked for cannot run.
 */
int rp__io_start(rp_executor *ex, const struct rp_config *cfg);
/* Frees the I/O backend; its threads are stopped and joined (io.c). */
void rp__io_destroy(rp_executor *ex);

/* Size of the buffers multishot receives land in (both backends). */
#define RP__RECV_BUF_SIZE 4096
/*
 * Calls a multishot operation's callback for one result `res` of its
 * operation (a descriptor, or bytes at `data`) and accounts for it in the
 * future's value.  Returns true when the operation goes on (io.c).
 */
bool rp__io_multi_deliver(rp_future *f, int64_t res, const void *data);

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
	/*
	 * Blocking-I/O pools only, this thread only: the operation that a
	 * done-callback queued while this thread ended the one before
	 * (rp__executor_enqueue()), run next, before anything of the shared
	 * queue; and how many ran that way in a row.
	 */
	rp_future *next;
	unsigned next_runs;
	bool completing;	/* inside rp__worker_completing(true/false) */
	/*
	 * This worker stopped being the one that looks at the queue (it found
	 * work): once it has taken its task, it wakes a helper if more is
	 * queued (worker_main()).
	 */
	bool wake_if_more;
	/* Tasks this worker runs nested inside waits (rp__help_one()). */
	unsigned help_depth;
};

/* Size classes of the slab: CPU futures and I/O futures. */
enum { RP__CLASS_TASK, RP__CLASS_IO, RP__N_CLASSES };

/* Free futures of one size class of an executor, under slab_lock. */
struct rp__depot {
	rp_future *full;		/* whole magazine batches, see slab.c */
	rp_future *head;		/* loose futures */
	size_t count;			/* in the depot */
	size_t total;			/* carved from chunks */
};

struct rp_executor {
	/* The CPU run queue. */
	struct rp__runq rq;
	/* Submitters past the shutdown check (see rp_submit). */
	_Atomic uint32_t n_submitting RP_ALIGNED;

	/*
	 * Read by every submit and written about never, so on a line of their
	 * own: sharing one with n_spinning made submits miss.
	 */
	_Atomic bool shutdown RP_ALIGNED;
	_Atomic bool cancel_pending;
	_Atomic bool broken;
	uint32_t spin_ns;
	/*
	 * Set in the child of a fork() (with `broken`): the threads are the
	 * parent's, and its rings and descriptors are shared with the parent.
	 */
	bool forked;

	/*
	 * Sleep/wake bookkeeping; the protocol is described above wake_one()
	 * in executor.c.  Read by every submitter, written only when a worker
	 * starts or stops spinning, parks or is woken.
	 */
	_Atomic uint32_t n_spinning RP_ALIGNED;
	_Atomic uint32_t n_idle;
	pthread_mutex_t idle_lock;
	struct rp__worker *idle_head;

	/* Slab of futures (slab.c), guarded by slab_lock. */
	pthread_mutex_t slab_lock RP_ALIGNED;
	struct rp__depot depot[RP__N_CLASSES];
	void **chunks;
	size_t n_chunks, cap_chunks;
	bool handle_released;		/* rp_executor_free has run */

	/* I/O: the backend in use, and why when it is the fallback. */
	const struct rp__io_backend *io;
	void *io_priv;			/* the backend's state */
	int backend;			/* RP_BACKEND_URING or _THREADS */
	char io_why[160];		/* empty when io_uring runs as asked */
	bool internal;			/* a blocking pool: no I/O of its own */
	pthread_mutex_t io_lock;	/* guards the tables below */
	struct rp__blocking *blocking;	/* internal: the pool it runs for */
	uint32_t io_threads;		/* blocking-I/O pool size */
	bool no_multishot_recv;		/* io_uring without buffer rings */
	bool poll_first;		/* RP_IO_POLL_FIRST is carried out */
	unsigned n_rings;		/* rp_config::rings, for RP_IO_RING */
	/* Registered files and buffers (io.c), under io_lock. */
	int *fixed_fds;
	struct iovec *fixed_bufs;	/* rp_register_buffers()' copy */
	unsigned n_fixed_fds, n_fixed_bufs;

	/* Start-up, join and settings. */
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	unsigned started;
	unsigned n_workers;
	bool joined;
	struct rp__worker *workers;
	/* The list of live executors, for the fork handler (executor.c). */
	rp_executor *live_prev, *live_next;
	rp_init_fn initializer;
	void *initializer_arg;
	char name_prefix[16];
};

/*
 * Creates an executor; `internal` ones (blocking-I/O pools) start no I/O
 * backend of their own.
 */
int rp__executor_create(const struct rp_config *cfg, bool internal,
			rp_executor **out);
/*
 * Bracket the queueing of work so that no work is queued after
 * rp_executor_shutdown() returns: enter returns 0, -ESHUTDOWN or
 * -ENOTRECOVERABLE (then do not call exit).
 */
int rp__submit_enter(rp_executor *ex);
void rp__submit_exit(rp_executor *ex);
/*
 * Queues `f` on `pool`'s run queue and wakes a worker if needed; or, from a
 * worker of `pool` that is ending an operation (see rp__worker_completing),
 * keeps it as that worker's next task.
 */
void rp__executor_enqueue(rp_executor *pool, rp_future *f);
/*
 * Brackets the done-callbacks of an operation that a blocking-I/O worker
 * ended: what they queue on the same pool runs next on this thread.
 */
void rp__worker_completing(bool on);
/* Hands this thread's next task to the shared queue (before it waits). */
void rp__worker_flush_next(void);
/*
 * Before a thread blocks on a future: sends out what it holds back (the
 * operations of an open batch, a blocking-I/O worker's next task), which
 * the future may be waiting for.
 */
static inline void rp__before_wait(void)
{
	if (rp__plug.pending)
		rp__io_flush_plug();
	rp__worker_flush_next();
}
/* Index of the calling worker thread of its executor; -1 elsewhere. */
int rp__current_worker_index(void);

/* The executor whose worker is running on this thread, or NULL. */
rp_executor *rp__current_worker_executor(void);
/*
 * On a worker thread: pops one queued task of `ex` and runs it.  Returns true
 * if a task ran.  Used by waiters so that nested waits never deadlock.
 */
bool rp__help_one(rp_executor *ex);
/*
 * On a worker thread of `ex`: runs the CPU task `f` of `ex` right here if it
 * is still queued, as a waiter on it.  Returns true if `f` has now ended.
 * Waiting on a queued task by helping with the queue in order would run
 * every task queued before it first, nested on this stack.
 */
bool rp__run_inline(rp_executor *ex, rp_future *f);

/* ---- slab (slab.c) ---------------------------------------------------- */

/* A future of size class `cls` for `ex`, or NULL when out of memory. */
rp_future *rp__future_alloc(rp_executor *ex, int cls);
/* Returns `f` to its executor's slab. */
void rp__future_release(rp_future *f);
/* Returns this thread's cached futures to their executors. */
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
