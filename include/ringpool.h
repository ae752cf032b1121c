/* SPDX-License-Identifier: MIT */
/**
 * @file ringpool.h
 * @brief ringpool: a hybrid executor for Linux with one future type.
 *
 * CPU work runs on a pool of worker threads; file and network I/O go through
 * io_uring rings.  Every submission returns the same ::rp_future, with one set
 * of ways to wait on it, modelled on Python's `concurrent.futures`:
 *
 * | Python                          | ringpool                               |
 * |---------------------------------|----------------------------------------|
 * | `ThreadPoolExecutor(n)`         | rp_config_init(), rp_executor_new()    |
 * | `executor.submit(fn, arg)`      | rp_submit()                            |
 * | `future.result(timeout)`        | rp_future_result()                     |
 * | `future.exception(timeout)`     | rp_future_exception()                  |
 * | `future.cancel()`               | rp_future_cancel()                     |
 * | `future.add_done_callback(cb)`  | rp_future_add_done_callback()          |
 * | `wait(fs, timeout, when)`       | rp_wait()                              |
 * | `as_completed(fs, timeout)`     | rp_as_completed_new(), _next(), _free()|
 * | `executor.map(fn, it)`          | rp_map_new(), rp_map_next(), _free()   |
 * | `executor.shutdown(wait, cancel_futures)` | rp_executor_shutdown()       |
 *
 * ## Conventions (they hold for every function unless its comment says otherwise)
 * - Functions return `0` on success or a negative `errno` value on failure.
 *   NULL or otherwise invalid arguments give `-EINVAL`.
 * - The library never prints, never exits and never aborts.
 * - A call that fails has no effect: it fires no callback and completes no
 *   future.
 * - Timeouts are in nanoseconds: a negative value (::RP_FOREVER) waits without
 *   limit, `0` only polls.
 * - All functions are thread safe unless their comment says otherwise.
 *
 * ## Ownership of futures
 * **Every function that hands out an ::rp_future hands out one reference, and
 * the receiver releases it with rp_future_unref().**  The executor keeps its
 * own reference while a task is queued or running, so releasing a future early
 * never stops or frees the work; a future outlives its executor for as long as
 * a reference is held.
 *
 * ## fork()
 * An executor belongs to the process that made it: its threads do not
 * survive fork(), and its rings are shared with the parent.  In the child an
 * executor made before the fork is *broken*: every call that would queue
 * work on it fails with `-ENOTRECOVERABLE`, and so do rp_executor_shutdown()
 * and rp_executor_free(), which free nothing there (the memory stays until
 * the child exits or execs).  Its futures that had not ended never end in
 * the child, and rp_future_cancel() leaves its I/O operations to the parent
 * (`-EBUSY`).  A child that wants an executor makes a new one.
 *
 * ## Signals
 * The library's own threads (the workers, each ring's thread, the blocking
 * pool's threads and an HTTP client's loop) start with every asynchronous
 * signal blocked, whatever the mask of the thread that made them: a signal
 * sent to the process (SIGINT from the terminal, SIGTERM, SIGCHLD, a
 * timer's) is taken by one of the program's threads, so its handler runs
 * there and a sigwait() thread sees it.  Tasks run on the workers with that
 * mask; a task that wants a signal unblocks it itself.  Signals raised by a
 * fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) are not blocked.
 * The library installs no signal handler and sends no signal.
 */
#ifndef RINGPOOL_H
#define RINGPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define RP_EXPORT __attribute__((visibility("default")))
#else
#define RP_EXPORT
#endif

/** Library version, as a string "MAJOR.MINOR.PATCH". */
#define RINGPOOL_VERSION "0.1.0"

/** A timeout that waits without limit. */
#define RP_FOREVER ((int64_t)-1)

/** An executor: a CPU worker pool (and, later, I/O rings). Opaque. */
typedef struct rp_executor rp_executor;
/** The result of one submitted operation, reference counted. Opaque. */
typedef struct rp_future rp_future;
/** An iterator over futures in the order they complete. Opaque. */
typedef struct rp_as_completed rp_as_completed;
/** An iterator over the results of rp_map_new() in input order. Opaque. */
typedef struct rp_map rp_map;

/**
 * A CPU task.
 *
 * Runs on one of the executor's worker threads.  It returns `0` and may store
 * its value in `*value` (which starts at 0), or returns a negative number that
 * becomes the future's error (by convention a negative `errno`).  Any other
 * nonzero return is the error too, passed on as it is (and ::RP_FIRST_EXCEPTION
 * counts it as one); `*value` is kept either way.  Pointers can travel through
 * `*value` as `(int64_t)(intptr_t)ptr`.
 */
typedef int (*rp_task_fn)(void *arg, int64_t *value);

/**
 * A done-callback, see rp_future_add_done_callback().
 *
 * @param f   the completed future; the callback borrows it (take a reference
 *            with rp_future_ref() to keep it past the call).
 * @param arg the pointer given at registration.
 */
typedef void (*rp_done_fn)(rp_future *f, void *arg);

/**
 * A per-worker initializer, see rp_config::initializer.  Returns 0, or a
 * negative errno that marks the executor broken.
 */
typedef int (*rp_init_fn)(void *arg);

/** Executor settings. Always fill with rp_config_init() first. */
struct rp_config {
	/** CPU worker threads; 0 means one per online CPU. At most 1024. */
	unsigned workers;
	/**
	 * Prefix of the worker threads' names (as `ps -L` and debuggers show
	 * them), followed by the worker's index.  Copied; truncated to fit
	 * Linux's 15-character limit.  Default "rp-worker"; NULL, like "",
	 * names the workers by their index alone.
	 */
	const char *thread_name_prefix;
	/**
	 * Runs once on each worker thread before it takes any task (Python's
	 * `initializer`).  If it fails on any worker the executor is *broken*:
	 * futures still queued end with `-ENOTRECOVERABLE` and every later
	 * rp_submit() fails with `-ENOTRECOVERABLE`.  (An executor is broken
	 * in the child of a fork() too, see the top of this header.)  NULL
	 * for none.
	 */
	rp_init_fn initializer;
	/** Argument passed to #initializer. */
	void *initializer_arg;
	/**
	 * I/O backend: ::RP_BACKEND_AUTO (default) uses io_uring when the
	 * kernel lets this process set up a ring and falls back to blocking
	 * threads otherwise.  With AUTO, the environment variable
	 * `RINGPOOL_BACKEND=uring|threads` forces one (`auto`, or unset,
	 * leaves the choice to the library).  Forcing ::RP_BACKEND_URING
	 * where io_uring is unusable makes rp_executor_new() fail with the
	 * error io_uring_setup gave.
	 */
	int backend;
	/**
	 * io_uring rings, each driven by its own thread.  Default 1, max 64;
	 * 0 means 1.
	 */
	unsigned rings;
	/**
	 * Submission queue entries per ring: a power of two, at most 32768;
	 * 0 means the default, 256.  The completion queue has twice as many,
	 * and a ring never has more operations in flight than it has
	 * completions to hold (one per operation, two with a deadline): past
	 * that, further operations wait in the ring's queue until some end.
	 * A program that keeps many long-lived operations in flight (a
	 * server's idle receives with timeouts on thousands of connections)
	 * sizes this for them, or new work such as a queued accept waits.
	 */
	unsigned ring_entries;
	/**
	 * Threads of the blocking-I/O pool, separate from the CPU workers: the
	 * fallback backend runs every operation there.  The io_uring backend
	 * makes one only where the kernel's io_uring lacks an operation the
	 * API offers (rp_socket() before Linux 5.19, rp_mkdirat() before
	 * 5.15, rp_shutdown(), rp_unlinkat() and rp_renameat() before 5.11;
	 * found with IORING_REGISTER_PROBE when the executor starts), and
	 * runs those operations, and only those, there as system calls:
	 * nothing changes for the caller but the thread their done-callbacks
	 * run on, and rp_executor_backend() names them.  The environment
	 * variable `RINGPOOL_URING_SKIP=openat,statx,...` (the operations'
	 * names without `rp_`, with read_fixed, write_fixed, timeout for
	 * rp_sleep() and poll for rp_poll()) sends those there too, as if the
	 * kernel lacked them, to test a program against such a kernel; an
	 * unknown name makes rp_executor_new() fail with -EINVAL.
	 * Default 16, max 1024; 0 means the default.
	 */
	unsigned io_threads;
	/**
	 * Cap on the kernel's io-wq worker threads per ring, for bounded
	 * (file) and unbounded (network) work; 0 keeps the kernel's default.
	 * Default 0 and 0.
	 */
	unsigned iowq_bounded, iowq_unbounded;
	/**
	 * How long an idle worker, and a thread waiting on a future, spins
	 * before it sleeps in the kernel, in nanoseconds.  Spinning keeps the
	 * round trip of a short task in the microseconds on machines where a
	 * cross-core wake-up costs tens of them.  A waiting thread and an
	 * idle ring thread spin only while what they wait for has lately come
	 * sooner than that on average, so that waiting on a slow device does
	 * not spin for nothing.  Default 50000; 0 disables.
	 */
	uint32_t spin_ns;
	/**
	 * Who may drive the io_uring rings: ::RP_RINGS_AUTO (default) is
	 * ::RP_RINGS_OWNED unless the environment variable
	 * `RINGPOOL_RINGS=owned|shared` says otherwise (`auto`, or unset,
	 * means owned).  Ignored by the
	 * fallback backend.
	 */
	int ring_mode;
	/**
	 * SQPOLL rings, when nonzero: a kernel thread per ring takes each
	 * submission from the SQ as it is written, so submitting costs no
	 * system call while that thread is awake; it sleeps after this many
	 * milliseconds without work, and the next submission wakes it (one
	 * system call).  While awake it keeps a CPU busy: worth it where a
	 * core can be spared for a ring that submits without pause.  The
	 * kernel refuses `DEFER_TASKRUN` and `COOP_TASKRUN` with SQPOLL, so
	 * the rings are set up without them.  Where it refuses SQPOLL itself
	 * (before Linux 5.11, without CAP_SYS_NICE), the io_uring backend does
	 * not start: with ::RP_BACKEND_AUTO the executor falls back and
	 * rp_executor_backend() says why.  Default 0 (no SQPOLL), at most
	 * 60000; ignored by the fallback backend.
	 */
	unsigned sqpoll_idle_ms;
};

/** I/O backends, see rp_config::backend and rp_executor_backend(). */
enum rp_backend {
	RP_BACKEND_AUTO = 0,
	/** io_uring rings. */
	RP_BACKEND_URING = 1,
	/** Blocking system calls on the blocking-I/O pool. */
	RP_BACKEND_THREADS = 2,
};

/**
 * Who submits to and reaps a ring, see rp_config::ring_mode.
 *
 * Owned rings are the better choice for servers and for work that completes
 * asynchronously; shared rings for a thread that submits batches of short
 * operations and waits for them (see rp_io_batch_begin()), where the two
 * crossings between cores of an owned ring cost more than the operations.
 */
enum rp_ring_mode {
	RP_RINGS_AUTO = 0,
	/**
	 * Each ring is driven by a thread of its own, which alone submits and
	 * reaps, so the ring is set up with `IORING_SETUP_SINGLE_ISSUER` and
	 * `DEFER_TASKRUN` where the kernel has them.  Every operation crosses
	 * to that thread and its completion crosses back.
	 */
	RP_RINGS_OWNED = 1,
	/**
	 * A ring is driven by whichever thread holds its lock: a thread that
	 * submits, or that ends a batch, takes the lock when it is free and
	 * submits (and reaps what is ready) itself, with no wake-up and no
	 * crossing to another core; otherwise the ring's thread does it, as
	 * with owned rings, and it still reaps completions that come later.
	 * The ring is set up without `SINGLE_ISSUER` and `DEFER_TASKRUN`.
	 * Done-callbacks of *any* operation on the ring may then run on a
	 * thread that submits, cancels or ends a batch, inside that call (see
	 * @ref io): do not make those calls while holding a lock that a
	 * done-callback takes.  The HTTP client keeps to this itself.
	 */
	RP_RINGS_SHARED = 2,
};

/** Fills `cfg` with the defaults. Returns 0, or -EINVAL if `cfg` is NULL. */
RP_EXPORT int rp_config_init(struct rp_config *cfg);

/**
 * Creates an executor and starts its workers.
 *
 * Returns once every worker has started and run its initializer, so a failed
 * initializer is already visible: the executor is returned all the same (as
 * Python's is) and rp_submit() on it fails with `-ENOTRECOVERABLE`.
 *
 * @param cfg settings, or NULL for the defaults.
 * @param out receives the executor; release it with rp_executor_free().
 * @return 0; -EINVAL for a NULL `out`, a setting out of the range its
 *         comment in ::rp_config gives (workers, rings, ring_entries,
 *         io_threads, sqpoll_idle_ms; an unknown backend or ring_mode), or
 *         a value of `RINGPOOL_BACKEND` or `RINGPOOL_RINGS` other than
 *         those named there (checked whichever backend is used); with
 *         ::RP_BACKEND_URING asked for, the error of setting io_uring up;
 *         -ENOMEM; -EAGAIN when a thread cannot be created.
 */
RP_EXPORT int rp_executor_new(const struct rp_config *cfg, rp_executor **out);

/** Flags for rp_executor_shutdown(). */
enum rp_shutdown_flags {
	/**
	 * Block until every queued and running task, and every I/O operation
	 * queued or in flight, has ended.
	 */
	RP_SHUTDOWN_WAIT = 1u << 0,
	/**
	 * Cancel every task that has not started, and every I/O operation not
	 * yet handed to the kernel (or, with the fallback, not yet started):
	 * they end `-ECANCELED`.
	 */
	RP_SHUTDOWN_CANCEL_PENDING = 1u << 1,
};

/**
 * Stops the executor from taking new work (Python's `shutdown`).
 *
 * After it returns, rp_submit() and the I/O operations fail with
 * `-ESHUTDOWN`.  Tasks and operations already queued still run unless
 * ::RP_SHUTDOWN_CANCEL_PENDING is given.  Operations in flight are not
 * cancelled (rp_executor_free() cancels them): ::RP_SHUTDOWN_WAIT waits
 * for them to end, so a receive on an idle socket, or a multishot accept,
 * keeps it waiting until it is cancelled with rp_future_cancel() from
 * another thread.  May be called more than once: a later call with
 * ::RP_SHUTDOWN_CANCEL_PENDING cancels what is still queued then, and a
 * later call with ::RP_SHUTDOWN_WAIT waits too.
 *
 * @return 0; -EINVAL for a NULL executor or unknown flags; -EDEADLK when
 *         ::RP_SHUTDOWN_WAIT is asked from one of the executor's own threads
 *         (a worker, a ring's thread, a blocking-I/O thread, or a thread
 *         running done-callbacks while it drives a shared ring): the
 *         shutdown itself still takes effect; -ENOTRECOVERABLE, with
 *         no effect, in the child of a fork() (see the top of this header).
 */
RP_EXPORT int rp_executor_shutdown(rp_executor *ex, unsigned flags);

/**
 * Shuts the executor down and releases the caller's handle: queued and
 * running CPU tasks run to their end, I/O operations that have not ended are
 * cancelled (a recv on an idle socket would otherwise never end), and the
 * threads are joined.  Memory shared with futures that are still
 * referenced is freed when the last of them is released.
 *
 * @return 0 (also for NULL); -EDEADLK when called from one of the executor's
 *         own threads (as for rp_executor_shutdown(): from a done-callback
 *         of its tasks or operations, say), and -ENOTRECOVERABLE in the
 *         child of a fork() (see the top of this header): then nothing is
 *         freed.
 */
RP_EXPORT int rp_executor_free(rp_executor *ex);

/**
 * Tells which I/O backend the executor uses and why.
 *
 * @param backend receives ::RP_BACKEND_URING or ::RP_BACKEND_THREADS.
 * @param why     optional; receives NULL when io_uring is in use as asked,
 *                otherwise a sentence saying why the fallback is used, e.g.
 *                "io_uring_setup: EPERM - blocked by seccomp or
 *                kernel.io_uring_disabled", or, with io_uring, which
 *                operations run on the blocking-I/O pool and why ("on the
 *                blocking-I/O pool (this kernel's io_uring lacks them):
 *                socket mkdirat"; see rp_config::io_threads).  Owned by the
 *                executor.
 * @return 0, or -EINVAL for a NULL `ex` or `backend`.
 */
RP_EXPORT int rp_executor_backend(const rp_executor *ex, int *backend,
				  const char **why);

/**
 * Tells who drives the executor's rings (see rp_config::ring_mode).
 *
 * @return ::RP_RINGS_OWNED or ::RP_RINGS_SHARED; -ENOTSUP with the fallback
 *         backend; -EINVAL for a NULL `ex`.
 */
RP_EXPORT int rp_executor_ring_mode(const rp_executor *ex);

/** Number of CPU worker threads, or -EINVAL for NULL. */
RP_EXPORT int rp_executor_workers(const rp_executor *ex);

/**
 * Submits `fn(arg)` to run on a worker (Python's `submit`).
 *
 * The task is queued without a system call when a worker is already awake.
 * Tasks start in submission order; with several workers they may end in any
 * order.
 *
 * @param out receives a new future (one reference, owned by the caller).
 * @return 0; -EINVAL for a NULL argument; -ESHUTDOWN after
 *         rp_executor_shutdown(); -ENOTRECOVERABLE when the executor is broken
 *         (a worker initializer failed); -ENOMEM.
 */
RP_EXPORT int rp_submit(rp_executor *ex, rp_task_fn fn, void *arg,
			rp_future **out);

/** Takes one more reference on `f`. Returns `f` (NULL-safe). */
RP_EXPORT rp_future *rp_future_ref(rp_future *f);

/**
 * Releases one reference on `f`; the last one frees it.  NULL-safe.  Never
 * cancels or interrupts the work the future stands for.
 */
RP_EXPORT void rp_future_unref(rp_future *f);

/**
 * Waits for `f` and reports how it ended (Python's `result`).
 *
 * The outcomes are told apart by the return value:
 * - `0`: the future is done; `*value` holds its value and `*error` its error:
 *   0 when the task succeeded, otherwise the task's own negative error.
 * - `-ETIMEDOUT`: the future did not end within `timeout_ns`.
 * - `-ECANCELED`: the future was cancelled.
 * - `-EINVAL`: `f` is NULL.
 * - `-EDEADLK`, at once, when `timeout_ns` is not 0 and `f` is an I/O
 *   operation that has not ended and that only the calling thread could end:
 *   a done-callback running on the thread that drives an io_uring ring
 *   waits for an operation on that ring (see "Threads" in @ref io).
 *
 * Called on a worker thread of the executor, it runs other queued tasks while
 * it waits (`f` itself first, when it is still queued), so a task may wait on
 * another task of the same executor without deadlock, even with a single
 * worker.  On such a thread the timeout is checked between those tasks, so it
 * can be overshot by the length of one.  A task run that way runs on top of
 * the waiting one, which cannot return before it does: so a task must not
 * wait on a task that waits, directly or through others, on it.  If task A
 * waits here and its worker picks up task C, which waits on A, the two wait
 * on each other (until C's timeout) even while other workers are free.  The
 * same holds for rp_wait(), rp_as_completed_next() and rp_map_next() called
 * on a worker.
 *
 * @param value may be NULL.
 * @param error may be NULL.
 */
RP_EXPORT int rp_future_result(rp_future *f, int64_t timeout_ns,
			       int64_t *value, int *error);

/**
 * Waits for `f` and gives only its error (Python's `exception`): returns 0 and
 * sets `*error` (0 or the task's negative error) when done, else -ETIMEDOUT,
 * -ECANCELED, -EDEADLK or -EINVAL as rp_future_result().  `error` is
 * required (NULL: -EINVAL, without waiting).
 */
RP_EXPORT int rp_future_exception(rp_future *f, int64_t timeout_ns,
				  int *error);

/** True once `f` is done or cancelled. False for NULL. Never blocks. */
RP_EXPORT bool rp_future_done(const rp_future *f);
/** True while `f`'s task is running. False for NULL. Never blocks. */
RP_EXPORT bool rp_future_running(const rp_future *f);
/** True if `f` was cancelled. False for NULL. Never blocks. */
RP_EXPORT bool rp_future_cancelled(const rp_future *f);

/**
 * Cancels `f` if its task has not started (Python's `cancel`).
 *
 * On success the future ends cancelled: waiters wake up with -ECANCELED and
 * the done-callbacks run on the calling thread before this returns.
 *
 * @return 0 when the future is now (or already was) cancelled; -EBUSY when its
 *         task is running (or, in the child of a fork(), its I/O operation
 *         is in flight); -EALREADY when it has finished; -EINPROGRESS for
 *         an I/O operation in flight, which has been asked to stop (see
 *         @ref io); -EINVAL for NULL.
 */
RP_EXPORT int rp_future_cancel(rp_future *f);

/**
 * Arranges for `fn(f, arg)` to run exactly once when `f` ends, whether done or
 * cancelled (Python's `add_done_callback`).  Callbacks run in the order they
 * were added, on the thread that ends the future: a worker for a finished
 * task, the caller of rp_future_cancel() for a cancelled one.  When `f` has
 * already ended, `fn` runs at once on the calling thread, before this returns.
 * A callback should be short; it may submit work, take references and call
 * any function of this header except waiting on futures of its own executor
 * that have not ended.
 *
 * @return 0; -EINVAL for NULL `f` or `fn`; -ENOMEM, in which case `fn` never
 *         runs.
 */
RP_EXPORT int rp_future_add_done_callback(rp_future *f, rp_done_fn fn,
					  void *arg);

/** When rp_wait() returns (Python's `return_when`). */
enum rp_wait_mode {
	/** When any future ends, done or cancelled. */
	RP_FIRST_COMPLETED = 0,
	/**
	 * When any future ends with an error; cancelled futures do not count.
	 * Like ::RP_ALL_COMPLETED when none fails.
	 */
	RP_FIRST_EXCEPTION = 1,
	/** When every future has ended. */
	RP_ALL_COMPLETED = 2,
};

/**
 * Waits on many futures (Python's `wait`).
 *
 * @param fs      `n` futures (borrowed, not NULL); the same future may appear
 *                more than once.
 * @param done    optional array of `n` flags, set to whether each future had
 *                ended when the call returned (in both outcomes).
 * @param n_done  optional; receives how many of the `n` had ended.
 * @return 0 when the condition of `mode` was met (always for `n == 0`);
 *         -ETIMEDOUT when it was not within `timeout_ns`; -EINVAL for a NULL
 *         `fs` with `n > 0`, a NULL element or an unknown mode; -EDEADLK, at
 *         once, when the condition is not met and one of the futures that
 *         have not ended is one that only the calling thread could end (see
 *         rp_future_result()); -ENOMEM.
 */
RP_EXPORT int rp_wait(rp_future *const *fs, size_t n, enum rp_wait_mode mode,
		      int64_t timeout_ns, bool *done, size_t *n_done);

/**
 * Creates an iterator that yields `fs` in the order they end (Python's
 * `as_completed`).  It takes its own reference on each future, so the caller
 * may release theirs.  A future listed twice is yielded twice.  Unlike the
 * rest of this header, an iterator is not thread safe: use it from one
 * thread at a time (rp_as_completed_next() and rp_as_completed_free() on one
 * iterator must not overlap); the futures it yields go anywhere.
 *
 * @return 0; -EINVAL for NULL `out`, NULL `fs` with `n > 0` or a NULL
 *         element; -ENOMEM.
 */
RP_EXPORT int rp_as_completed_new(rp_future *const *fs, size_t n,
				  rp_as_completed **out);

/**
 * Gives the next future to end.
 *
 * @param out receives the future, borrowed from the iterator: it stays valid
 *            until rp_as_completed_free() (take a reference to keep it).
 * @return 0; -ENODATA when all `n` have been yielded; -ETIMEDOUT when none
 *         ended within `timeout_ns`; -EDEADLK, at once, when none has ended
 *         yet and one of those not yielded is one that only the calling
 *         thread could end (see rp_future_result()); -EINVAL.
 */
RP_EXPORT int rp_as_completed_next(rp_as_completed *it, int64_t timeout_ns,
				   rp_future **out);

/**
 * Frees the iterator and its references.  NULL-safe.  Never blocks.  May be
 * called before all the futures have been yielded, even while they end on
 * other threads: those that end later do no work for it.
 */
RP_EXPORT void rp_as_completed_free(rp_as_completed *it);

/** Options of rp_map_new(). Zero-initialize, then set what you need. */
struct rp_map_opts {
	/** Inputs handled by one task (Python's `chunksize`); 0 means 1. */
	size_t chunk_size;
	/**
	 * Most tasks queued or running at once; 0 means twice the number of
	 * workers.  Memory is proportional to this, not to the input count.
	 */
	size_t max_inflight;
};

/**
 * Applies `fn` to each of `n` inputs on the executor and yields the results in
 * input order (Python's `map`).
 *
 * Input `i` is passed to `fn` as `(char *)inputs + i * elem_size`; the array
 * must stay valid until rp_map_free().  Work is submitted lazily: at most
 * `max_inflight` tasks of `chunk_size` inputs exist at any time, and more are
 * submitted as results are taken.  `opts` may be NULL for the defaults.
 * Unlike the rest of this header, the iterator is not thread safe: use it
 * from one thread at a time (rp_map_next() and rp_map_free() on one map
 * must not overlap).
 *
 * @return 0; -EINVAL for NULL `ex`, `fn` or `out`, NULL `inputs` with `n > 0`,
 *         or `elem_size == 0`; -ENOMEM; any error of rp_submit().
 */
RP_EXPORT int rp_map_new(rp_executor *ex, rp_task_fn fn, const void *inputs,
			 size_t elem_size, size_t n,
			 const struct rp_map_opts *opts, rp_map **out);

/**
 * Gives the result for the next input, in input order.
 *
 * @param value receives the task's value (may be NULL).
 * @param error receives 0 or the task's own error for this input (may be
 *              NULL).
 * @return 0; -ENODATA when every result has been given; -ETIMEDOUT when the
 *         next result was not ready within `timeout_ns` (call again to keep
 *         waiting); -ECANCELED when its task was cancelled (by
 *         rp_executor_shutdown() with ::RP_SHUTDOWN_CANCEL_PENDING); any error
 *         of rp_submit() when more work could not be queued; -EINVAL.
 */
RP_EXPORT int rp_map_next(rp_map *m, int64_t timeout_ns, int64_t *value,
			  int *error);

/**
 * Cancels the map's tasks that have not started, waits for those running (they
 * read the inputs), and frees the iterator.  NULL-safe.
 */
RP_EXPORT void rp_map_free(rp_map *m);

/* ---- I/O ------------------------------------------------------------- */

/**
 * @defgroup io I/O operations
 *
 * Each function queues one operation and gives a future, the same type as
 * rp_submit()'s, so rp_wait(), the as-completed iterator, callbacks and
 * cancellation mix CPU work and I/O freely.
 *
 * - **Value and error.**  The future's value is what the system call would
 *   return on success (bytes moved, a new descriptor, 0); its error is the
 *   negative errno it would have set.  A short read or write is a success
 *   with fewer bytes (a short read is not end of file; 0 bytes is).
 * - **Offsets** of reads and writes (rp_read() and the like): -1 is the
 *   file position.  On a pipe or socket pass -1: a pipe ignores the offset,
 *   but a socket takes only 0 and ends the operation with `-ESPIPE` for
 *   any other, on both backends; so a *_full operation on a socket at
 *   offset 0 fails with `-ESPIPE` after its first short transfer, whose
 *   bytes are in its value.
 * - **Buffers and paths** passed to an operation belong to it until its
 *   future is done: do not free, reuse or let them go out of scope before.
 * - **Threads.**  With io_uring, done-callbacks of I/O futures run on the
 *   ring's thread, or with ::RP_RINGS_SHARED on the thread that drives the
 *   ring at that moment (one that submits or ends a batch, from inside that
 *   call); with the fallback, on a blocking-I/O thread, and so do those of
 *   an operation the kernel's io_uring lacks (see rp_config::io_threads).
 *   Either way a
 *   callback may queue the next operation (a pipeline needs no extra thread)
 *   but must not block: waiting there on a future that is not done is an
 *   error.  The library detects the wait that could never end, for an
 *   operation on the ring that the calling thread drives (rp_future_result(),
 *   rp_wait() and rp_as_completed_next() return `-EDEADLK` at once), but not
 *   every other (an operation on another ring whose callback waits in turn
 *   on this one, say).
 * - **Which ring.**  With several rings (rp_config::rings), a thread's
 *   operations go to one ring chosen for that thread, and operations queued
 *   by a done-callback on a ring's thread go to that same ring, which needs
 *   no wake-up.  ::RP_IO_RING places an operation on a ring of the caller's
 *   choosing; since what its callback queues stays there, a server spreads
 *   its connections over the rings by placing each connection's first
 *   operation (bench/echo/rp_server.c does so).
 * - **Cancellation.**  rp_future_cancel() on an operation not yet handed to
 *   the kernel (or, with the fallback, not yet started) cancels it at once
 *   and returns 0.  On one in flight it asks the kernel to stop it and
 *   returns `-EINPROGRESS`: the future then ends exactly once, with
 *   `-ECANCELED` (rp_future_cancelled() is true) or, if the operation
 *   finished first, with its result.  A *_full operation that had already
 *   moved bytes ends done instead, with error `-ECANCELED` and those bytes
 *   in its value, as with a deadline.
 * - **Deadlines.**  With rp_io_opts::timeout_ns an operation that has not
 *   finished in time ends with error `-ETIMEDOUT`; bytes it had already moved
 *   (by the *_full helpers) are in its value.  One whose deadline has passed
 *   before it starts (queued behind others) is not started, on either
 *   backend, even if it would have completed at once.
 * - **The fallback's threads.**  With ::RP_BACKEND_THREADS an operation that
 *   waits (on a pipe, a socket, a sleep) holds one of rp_config::io_threads
 *   threads while it waits; more waiting operations than threads queue
 *   behind each other.  io_uring has no such limit.
 * - **Errors of the call itself** (not of the operation): -EINVAL for a NULL
 *   executor, future pointer or required buffer, an option the operation
 *   does not take (see the flags below), a ring or registered buffer index
 *   out of range, or an argument the function checks (an offset below -1,
 *   `iovcnt` outside 1 to IOV_MAX, a `len` of 4 GiB or more for the *_full
 *   forms);
 *   -ESHUTDOWN after shutdown; -ENOTRECOVERABLE when the executor is broken
 *   (see rp_config::initializer); -ENOMEM.  Then no operation was queued.
 * @{
 */

struct iovec;
struct sockaddr;
struct statx;

/**
 * rp_io_opts::flags: `fd` is an index into rp_register_files()' table.
 * Taken by the operations on an open descriptor `fd`: rp_read(),
 * rp_write(), rp_readv(), rp_writev(), the *_full forms, rp_fsync(),
 * rp_fallocate(), rp_connect(), rp_accept(), rp_send(), rp_recv(),
 * rp_shutdown() and rp_poll().  Not by rp_close() (a registered descriptor
 * stays the caller's to close, see rp_register_files()), rp_splice(), the
 * operations on a directory descriptor and path, rp_socket(), rp_nop() and
 * the multishot operations: there it gives -EINVAL.
 */
#define RP_IO_FIXED_FILE 1u
/**
 * rp_io_opts::flags, for rp_read(), rp_write() and their *_full forms: the
 * buffer lies inside registered buffer rp_io_opts::buf_index (see
 * rp_register_buffers()), which saves the kernel mapping it on every call.
 * An operation whose buffer does not lie wholly inside it ends with
 * -EFAULT, on both backends.
 */
#define RP_IO_FIXED_BUF 2u
/**
 * rp_io_opts::flags: run the operation on ring rp_io_opts::ring (an index
 * below rp_config::rings) instead of the ring the library would pick (see
 * "Which ring" above).  Its done-callback runs on that ring's thread (with
 * ::RP_RINGS_SHARED, on whichever thread drives that ring).  With the
 * fallback backend the index is checked and the operation runs as any
 * other.  It is the one flag multishot operations take (others: -EINVAL).
 */
#define RP_IO_RING 4u
/**
 * rp_io_opts::flags, for rp_recv() and rp_send(): wait until the socket is
 * ready before the first attempt, instead of attempting first.  For an
 * operation that would almost surely find nothing to do yet, such as a
 * server's receive of the next request just after it sent a reply: it
 * saves the attempt that would fail.  Where the kernel lacks it (before
 * Linux 5.19; probed when the executor starts) operations attempt first as
 * without the flag, which changes nothing but the cost.  On a descriptor
 * that is not a socket both operations fail with -ENOTSOCK, as without the
 * flag, on both backends; but where the flag is carried out a receive
 * fails only once the descriptor is readable, since the kernel waits
 * before it looks (a pipe that stays empty keeps it waiting), while a send
 * fails at once.
 */
#define RP_IO_POLL_FIRST 8u

/** Options common to every I/O operation.  Zero-initialize. */
struct rp_io_opts {
	/** Deadline relative to the call, in ns; 0 or negative for none. */
	int64_t timeout_ns;
	/**
	 * ::RP_IO_FIXED_FILE, ::RP_IO_FIXED_BUF, ::RP_IO_RING,
	 * ::RP_IO_POLL_FIRST; others (and these on operations that do not take
	 * them) give -EINVAL.
	 */
	unsigned flags;
	/**
	 * With ::RP_IO_FIXED_BUF: which registered buffer; -EINVAL when no
	 * buffer of that index is registered.
	 */
	unsigned buf_index;
	/** With ::RP_IO_RING: which ring; -EINVAL when out of range. */
	unsigned ring;
};

/**
 * Starts a batch on the calling thread: the operations it submits to `ex`
 * until rp_io_batch_end() are queued without waking the ring's thread, and
 * go to the kernel together, in one `io_uring_enter()`, at the end (the
 * equivalent of preparing many SQEs and submitting once).  Batches nest; the
 * outermost end submits.  Waiting on a future (rp_future_result(),
 * rp_wait()...) inside a batch submits what was queued first, so it cannot
 * wait on an operation that was never sent.  With the fallback backend
 * operations start at once and a batch changes nothing.
 *
 * @return 0; -EINVAL for a NULL `ex`; -EBUSY when the thread is inside a
 *         batch of another executor.
 */
RP_EXPORT int rp_io_batch_begin(rp_executor *ex);

/**
 * Ends a batch started by rp_io_batch_begin().  At the outermost end, with
 * ::RP_RINGS_SHARED the calling thread submits the batch itself when the
 * ring is free (and reaps, running the done-callbacks of what has already
 * completed, such as NOPs); otherwise it wakes the ring's thread once.
 *
 * @return 0; -EINVAL for a NULL `ex` or one with no batch open on this
 *         thread.
 */
RP_EXPORT int rp_io_batch_end(rp_executor *ex);

/**
 * Registers descriptors with every ring, so operations given
 * ::RP_IO_FIXED_FILE and an index into `fds` skip the kernel's descriptor
 * lookup.  Replaces an earlier table; `n` 0 removes it.  Call while no
 * operation uses the table.  The descriptors stay the caller's to close.
 * The fallback keeps the same table and translates indexes.
 *
 * @return 0; -EINVAL (NULL `fds` with `n` > 0, or `n` over 32768); -ENOMEM;
 *         -EDEADLK from a done-callback of an I/O operation (a thread of
 *         the rings or of the blocking-I/O pool); -ESHUTDOWN after
 *         rp_executor_shutdown(); -ENOTRECOVERABLE when the executor is
 *         broken; the kernel's error.
 */
RP_EXPORT int rp_register_files(rp_executor *ex, const int *fds, unsigned n);

/**
 * Registers buffers with every ring for ::RP_IO_FIXED_BUF operations.
 * Replaces an earlier set; `n` 0 removes it.  The memory stays the caller's
 * and must outlive the registration.  Call while no operation uses them.
 *
 * @return 0; -EINVAL (NULL `iov` with `n` > 0, or `n` over 1024); -ENOMEM
 *         (also when RLIMIT_MEMLOCK is too low on older kernels); -EDEADLK,
 *         -ESHUTDOWN and -ENOTRECOVERABLE as rp_register_files(); the
 *         kernel's error.
 */
RP_EXPORT int rp_register_buffers(rp_executor *ex, const struct iovec *iov,
				  unsigned n);

/** Reads up to `len` bytes at `offset` (-1: the file position). */
RP_EXPORT int rp_read(rp_executor *ex, int fd, void *buf, size_t len,
		      int64_t offset, const struct rp_io_opts *opts,
		      rp_future **out);
/** Writes up to `len` bytes at `offset` (-1: the file position). */
RP_EXPORT int rp_write(rp_executor *ex, int fd, const void *buf, size_t len,
		       int64_t offset, const struct rp_io_opts *opts,
		       rp_future **out);
/** Vectored read; `iov` (and its buffers) belong to the operation. */
RP_EXPORT int rp_readv(rp_executor *ex, int fd, const struct iovec *iov,
		       int iovcnt, int64_t offset,
		       const struct rp_io_opts *opts, rp_future **out);
/** Vectored write; `iov` (and its buffers) belong to the operation. */
RP_EXPORT int rp_writev(rp_executor *ex, int fd, const struct iovec *iov,
			int iovcnt, int64_t offset,
			const struct rp_io_opts *opts, rp_future **out);
/**
 * Reads until `len` bytes are in or end of file or an error, resubmitting
 * after short reads.  The value is the bytes read (less than `len` only at end
 * of file, or with an error, where it says how far it got).  With `offset`
 * -1 it reads at the file position (pipes and sockets).
 */
RP_EXPORT int rp_read_full(rp_executor *ex, int fd, void *buf, size_t len,
			   int64_t offset, const struct rp_io_opts *opts,
			   rp_future **out);
/** Writes all `len` bytes, resubmitting after short writes; as rp_read_full. */
RP_EXPORT int rp_write_full(rp_executor *ex, int fd, const void *buf,
			    size_t len, int64_t offset,
			    const struct rp_io_opts *opts, rp_future **out);
/** openat(2); the value is the new descriptor.  `path` belongs to the op. */
RP_EXPORT int rp_openat(rp_executor *ex, int dirfd, const char *path,
			int flags, unsigned mode, const struct rp_io_opts *opts,
			rp_future **out);
/**
 * close(2).
 *
 * With io_uring the kernel closes the descriptor for the ring, out of sight
 * of tools that follow descriptors by intercepting the C library's calls:
 * ThreadSanitizer, which also misses openat(2), can take a later use of the
 * same number on another thread for a race with a use before the close.  A
 * program checked with it can close with close(2) in its checked builds.
 */
RP_EXPORT int rp_close(rp_executor *ex, int fd, const struct rp_io_opts *opts,
		       rp_future **out);
/** Flag of rp_fsync(): sync data only, as fdatasync(2). */
#define RP_FSYNC_DATASYNC 1u
/** fsync(2), or fdatasync(2) with ::RP_FSYNC_DATASYNC. */
RP_EXPORT int rp_fsync(rp_executor *ex, int fd, unsigned flags,
		       const struct rp_io_opts *opts, rp_future **out);
/** fallocate(2). */
RP_EXPORT int rp_fallocate(rp_executor *ex, int fd, int mode, int64_t offset,
			   int64_t len, const struct rp_io_opts *opts,
			   rp_future **out);
/** statx(2) into `stx`, which belongs to the operation. */
RP_EXPORT int rp_statx(rp_executor *ex, int dirfd, const char *path,
		       int flags, unsigned mask, struct statx *stx,
		       const struct rp_io_opts *opts, rp_future **out);
/** unlinkat(2). */
RP_EXPORT int rp_unlinkat(rp_executor *ex, int dirfd, const char *path,
			  int flags, const struct rp_io_opts *opts,
			  rp_future **out);
/** renameat2(2) (`flags` 0 is renameat(2)). */
RP_EXPORT int rp_renameat(rp_executor *ex, int olddirfd, const char *oldpath,
			  int newdirfd, const char *newpath, unsigned flags,
			  const struct rp_io_opts *opts, rp_future **out);
/** mkdirat(2). */
RP_EXPORT int rp_mkdirat(rp_executor *ex, int dirfd, const char *path,
			 unsigned mode, const struct rp_io_opts *opts,
			 rp_future **out);
/** socket(2); the value is the new descriptor. */
RP_EXPORT int rp_socket(rp_executor *ex, int domain, int type, int protocol,
			const struct rp_io_opts *opts, rp_future **out);
/** connect(2); `addr` belongs to the operation. */
RP_EXPORT int rp_connect(rp_executor *ex, int fd, const struct sockaddr *addr,
			 unsigned addrlen, const struct rp_io_opts *opts,
			 rp_future **out);
/**
 * accept4(2); the value is the new descriptor.  `addr` and `addrlen` may
 * both be NULL (one alone: -EINVAL); otherwise they belong to the
 * operation.
 */
RP_EXPORT int rp_accept(rp_executor *ex, int fd, struct sockaddr *addr,
			unsigned *addrlen, int flags,
			const struct rp_io_opts *opts, rp_future **out);
/**
 * send(2), with `MSG_NOSIGNAL` always added: a peer that has gone gives
 * `-EPIPE`, never SIGPIPE, on both backends.
 * rp_write(), rp_writev() and rp_splice() on a socket may raise SIGPIPE,
 * as write(2) does.
 */
RP_EXPORT int rp_send(rp_executor *ex, int fd, const void *buf, size_t len,
		      int flags, const struct rp_io_opts *opts,
		      rp_future **out);
/**
 * recv(2); 0 bytes means the peer closed (or `len` was 0: that receive
 * still waits, as recv(2) does, until the socket has data or is closed).
 * With `MSG_WAITALL`, a receive that a deadline or a cancel stops after
 * some bytes came ends with those bytes and error 0, as recv(2) interrupted
 * by a signal does, on both backends: fewer than `len` bytes then do not
 * mean that the peer closed.  rp_read_full() tells the two apart.
 */
RP_EXPORT int rp_recv(rp_executor *ex, int fd, void *buf, size_t len,
		      int flags, const struct rp_io_opts *opts,
		      rp_future **out);
/**
 * splice(2): moves up to `len` bytes from `fd_in` to `fd_out`, one of them
 * a pipe, without copying them through memory of the process: a file's
 * pages go into a pipe, and from a pipe into a socket, by reference (what
 * `sendfile()` does in one call, in two operations).  `off_in`, `off_out`:
 * the offset in a file, or -1 for none (always -1 for a pipe or socket).
 * `flags`: `SPLICE_F_MOVE`, `SPLICE_F_NONBLOCK`, `SPLICE_F_MORE`; others
 * give -EINVAL, as does ::RP_IO_FIXED_FILE.  The value is the bytes moved,
 * which may be fewer than `len` (what the pipe held or had room for, what
 * the socket took); 0 at the end of `fd_in`.
 *
 * The kernel never runs a splice inline: io_uring hands it to one of its
 * workers, and the fallback makes the call on an I/O thread.  A blocking
 * descriptor that is not ready holds that thread until it is, and neither
 * a deadline nor rp_future_cancel() reaches a fallback thread inside the
 * call.  So pass non-blocking sockets: a splice into a full one ends with
 * -EAGAIN, and rp_poll() for POLLOUT says when to try again (the pipe
 * keeps what it held).  `SPLICE_F_NONBLOCK` does the same for the pipe.
 * As with write(2), a socket whose peer has gone may raise SIGPIPE: servers
 * ignore it.
 */
RP_EXPORT int rp_splice(rp_executor *ex, int fd_in, int64_t off_in,
			int fd_out, int64_t off_out, size_t len,
			unsigned flags, const struct rp_io_opts *opts,
			rp_future **out);
/** shutdown(2). */
RP_EXPORT int rp_shutdown(rp_executor *ex, int fd, int how,
			  const struct rp_io_opts *opts, rp_future **out);
/**
 * Waits until `fd` is ready for `events` (POLLIN, POLLOUT...); the value is
 * the events that are ready.
 *
 * A descriptor the kernel cannot poll (a regular file, a directory,
 * /dev/null) is always ready for POLLIN and POLLOUT and never for anything
 * else.  Asked only for other events (or none), io_uring fails at once with
 * -EINVAL, while the fallback waits until the deadline or a cancel, since
 * poll(2) cannot tell such a file from one that may still report them (a
 * sysfs attribute's POLLPRI).
 */
RP_EXPORT int rp_poll(rp_executor *ex, int fd, unsigned events,
		      const struct rp_io_opts *opts, rp_future **out);
/** An asynchronous sleep of `ns` nanoseconds; ends with value 0. */
RP_EXPORT int rp_sleep(rp_executor *ex, int64_t ns, rp_future **out);
/** Does nothing, through the ring: the cost of one operation. */
RP_EXPORT int rp_nop(rp_executor *ex, const struct rp_io_opts *opts,
		     rp_future **out);

/**
 * A connection delivered by rp_accept_multishot(): `fd` is the new socket,
 * owned by the callee.  Runs on the ring's thread (or a blocking-I/O thread
 * with the fallback); must not block.
 */
typedef void (*rp_accept_fn)(void *arg, int fd);

/**
 * Accepts connections on the listening socket `fd` until stopped, calling
 * `fn` for each (one kernel request serves them all with io_uring).
 *
 * The future ends when accepting stops: cancelled (rp_future_cancel(), or
 * rp_executor_free()), or with the error that stopped it.  Its value is the
 * number of connections delivered.  `flags` are accept4(2)'s (SOCK_NONBLOCK,
 * SOCK_CLOEXEC).  Deadlines are not supported (-EINVAL).
 */
RP_EXPORT int rp_accept_multishot(rp_executor *ex, int fd, int flags,
				  rp_accept_fn fn, void *arg,
				  const struct rp_io_opts *opts,
				  rp_future **out);

/**
 * Data delivered by rp_recv_multishot(): `len` bytes at `data`, valid only
 * during the call (the buffer goes back to the kernel after it).  `len` 0
 * means the peer closed the connection; it is the last call.
 */
typedef void (*rp_recv_fn)(void *arg, const void *data, size_t len);

/**
 * Receives on the socket `fd` until the peer closes it or it is stopped,
 * calling `fn` with each piece of data.  With io_uring the data lands in
 * buffers the library provides to the kernel (a buffer ring per ring, 4 KiB
 * buffers), so no buffer waits per idle connection.
 *
 * The future ends with value = bytes received and error 0 at end of stream,
 * cancelled when stopped, or with the error that stopped it.  Deadlines are
 * not supported (-EINVAL).  -EOPNOTSUPP when the kernel's io_uring lacks
 * provided-buffer rings.
 */
RP_EXPORT int rp_recv_multishot(rp_executor *ex, int fd, rp_recv_fn fn,
				void *arg, const struct rp_io_opts *opts,
				rp_future **out);

/** @} */

/* ---- HTTP downloads ---------------------------------------------------- */

/**
 * @defgroup http HTTP(S) downloads
 *
 * Downloads through libcurl's multi-socket interface, driven from the
 * executor: the sockets libcurl watches become rp_poll() operations, its
 * timer an rp_sleep(), and the body is copied into pooled buffers and written
 * to the destination with rp_write() at its offsets, so nothing blocks on a
 * disk write while data arrives.  Memory is bounded by
 * rp_http_config::buffer_bytes: when writes lag, transfers are paused
 * (`CURL_WRITEFUNC_PAUSE`) until the buffered data is on its way to disk.
 *
 * One ::rp_http client holds one libcurl multi handle, so connections are
 * reused across transfers to the same host.  Both backends are supported:
 * with ::RP_BACKEND_THREADS the client waits for its sockets on a thread of
 * its own (an rp_poll() there would hold one of rp_config::io_threads for as
 * long as a connection idles), and the body is still written with rp_write().
 * The executor must outlive the client.
 *
 * The future of a transfer ends when the transfer does:
 * - **value**: body bytes written to the destination by this transfer;
 *   a transfer that fails partway (a reset connection, a short body, a
 *   stall) still writes what it received before the failure, so a retry
 *   can resume from there;
 * - **error**: 0 when a 2xx response was received completely (its length
 *   matches Content-Length when the server sent one); otherwise a negative
 *   errno: `-EREMOTEIO` for an HTTP status >= 400 (see rp_http_info::status),
 *   `-ECONNREFUSED`, `-ECONNRESET`, `-EHOSTUNREACH` (also for a host name that
 *   does not resolve), `-ETIMEDOUT` (connect
 *   timeout, or no progress for rp_http_config::stall_timeout_ns),
 *   `-EPROTO` (a body shorter than announced, a malformed response, a 206
 *   whose part starts elsewhere than rp_http_request::offset, a TLS
 *   handshake that failed), `-EKEYREJECTED` (the server's certificate is
 *   not trusted: an unknown authority, see rp_http_config::ca_file, an
 *   expired certificate, or one for another host name; never retried by
 *   `ringpool get`),
 *   `-ELOOP` (more redirects than allowed), `-EPROTONOSUPPORT` (a URL,
 *   or a redirect's target, that is not `http://` or `https://`: no other
 *   scheme is ever used), `-EINVAL` (a URL libcurl refuses, or a CA file it
 *   cannot use), `-EIO` (the write to the destination failed;
 *   rp_http_info::error names the cause; also any other libcurl failure),
 *   `-ENOMEM`,
 *   `-ECANCELED` when cancelled.
 *   rp_http_info::error holds a message in words for any failure.
 * - **Cancelling**: rp_future_cancel() on a running transfer returns
 *   `-EINPROGRESS` (as for an I/O operation in flight): the transfer stops,
 *   the body writes already queued complete, and then the future ends,
 *   cancelled, exactly once.  A transfer that libcurl had already finished
 *   ends with its result.
 * - **Threads**: the future's done-callbacks run on the thread that ended
 *   the transfer: the ring's thread, a blocking-I/O thread, the client's own
 *   thread (fallback), or a thread that called into the client (rp_http_get(),
 *   rp_future_cancel(), rp_http_free()).  They must not block, and must not
 *   call rp_http_free() or free a transfer that has not ended.
 * @{
 */

/** A download client: one libcurl multi handle driven by one executor. */
typedef struct rp_http rp_http;
/** One download, from rp_http_get() until rp_http_transfer_free(). */
typedef struct rp_http_transfer rp_http_transfer;

/** Settings of a client.  Start from rp_http_config_init(). */
struct rp_http_config {
	/**
	 * Connections per host at once; more transfers wait (and are not
	 * stalled while they wait).  Default 6; 0 for no limit.
	 */
	unsigned max_per_host;
	/**
	 * Redirects followed per transfer; default 10, 0 follows none (a
	 * redirect then ends the transfer with `-ELOOP`).  Negative: -EINVAL.
	 */
	long max_redirs;
	/** Limit on connecting (DNS, TCP, TLS), ns; 0 for libcurl's default. */
	int64_t connect_timeout_ns;
	/**
	 * A transfer that moves no body byte for this long ends with
	 * `-ETIMEDOUT`; 0 for no limit.  Default 0.  Counted from when the
	 * transfer has a connection; time paused by back-pressure or
	 * #max_rate does not count.  Checked every quarter of it (at most
	 * every second), so it may be overshot by that much.
	 */
	int64_t stall_timeout_ns;
	/**
	 * Aggregate receive rate of the client, bytes per second; 0: none.
	 * A token bucket holding an eighth of a second's worth; transfers
	 * over it are paused.
	 */
	uint64_t max_rate;
	/**
	 * Body bytes received but not yet written, over the whole client,
	 * before transfers are paused.  Default 16 MiB; 0 means the default.
	 * Counted in buffers of 16 to 256 KiB (an eighth of this, within
	 * those bounds); one buffer is always allowed, so a smaller value
	 * still makes progress, one buffer at a time.
	 */
	size_t buffer_bytes;
	/** The User-Agent header; NULL for "ringpool/VERSION". */
	const char *user_agent;
	/**
	 * A file of PEM certificates, the only authorities HTTPS servers are
	 * checked against (`CURLOPT_CAINFO`; libcurl's CA directory is
	 * turned off with it): for servers whose certificate comes from a
	 * private CA.  To trust public servers too, name a file holding the
	 * system's bundle and yours.  NULL for the system's default.  The
	 * path is copied; libcurl reads the file when it connects.  Servers
	 * are always verified (certificate and host name): there is no
	 * setting to turn that off.
	 */
	const char *ca_file;
	/**
	 * Request headers added to every request of the client, each a
	 * "Name: value" string, in an array ended by NULL; NULL for none.
	 * As with curl's `-H`, a header of the same name replaces the one
	 * libcurl would send (User-Agent, Accept), and "Name:" with no value
	 * removes it.  The strings are copied.  libcurl sends `Authorization`
	 * and `Cookie` only to the host, port and scheme of the URL, not to
	 * another one a redirect leads to; every other header follows
	 * redirects.  A string without a header name and ':', or with a CR,
	 * LF or other control character, and a `Range` header (the library
	 * makes the ranges that resume transfers) are -EINVAL.
	 */
	const char *const *headers;
	/**
	 * The proxy every transfer goes through (`CURLOPT_PROXY`), as a URL:
	 * "http://host:port" (an `https://` URL is then fetched through a
	 * CONNECT tunnel, its server still verified), "https://", "socks5h://"
	 * and the others libcurl knows; "user:password@" in it is sent to the
	 * proxy.  NULL (the default) leaves it to the environment, as curl
	 * does: `http_proxy`, `https_proxy` (or `HTTPS_PROXY`), `all_proxy`
	 * and `no_proxy`, read when each transfer starts.  "" for no proxy,
	 * whatever the environment says.  Copied.  A control character in it:
	 * -EINVAL.
	 */
	const char *proxy;
	/**
	 * Hosts reached directly, not through the proxy (`CURLOPT_NOPROXY`):
	 * a comma-separated list of host names (each matching its
	 * subdomains too) and IP addresses, or "*" for all.  NULL (the
	 * default): `no_proxy` from the environment.  Copied.  A control
	 * character in it: -EINVAL.
	 */
	const char *no_proxy;
	/**
	 * The ring (an index below rp_config::rings) that runs all of the
	 * client's operations, so that its libcurl work stays on that ring's
	 * thread; -1 (the default) leaves the choice to the library (see
	 * "Which ring").  Several clients, each on a ring of its own and each
	 * given a share of the transfers, drive libcurl on that many threads
	 * at once.  An index out of range: -EINVAL.  With the fallback
	 * backend each client has a thread of its own anyway, and the index
	 * is only checked.
	 */
	int ring;
};

/** Fills `cfg` with the defaults.  @return 0; -EINVAL for NULL. */
RP_EXPORT int rp_http_config_init(struct rp_http_config *cfg);

/**
 * The version of the libcurl that rp_http clients use ("7.88.1"), loading it
 * if no client has yet.  @return a static string; NULL when libcurl cannot
 * be loaded.
 */
RP_EXPORT const char *rp_http_curl_version(void);

/**
 * Makes a client that runs its transfers on `ex`.  `cfg` may be NULL for the
 * defaults; it is copied (the user agent and CA file strings too).  The
 * first call loads libcurl, by the soname the library was built against
 * (libringpool does not load it at start-up, so that programs that make no
 * HTTP client do not pay for it), and initializes it (curl_global_init(),
 * once per process).
 *
 * @return 0; -EINVAL (NULL `ex` or `out`, a negative timeout or
 *         rp_http_config::max_redirs); the error of opening
 *         rp_http_config::ca_file for reading (-ENOENT, -EACCES...);
 *         -ENOMEM; -ENOTRECOVERABLE when `ex` is broken (a failed
 *         rp_config::initializer, or the child of a fork()); -EAGAIN
 *         when its thread cannot be created (fallback backend); -ELIBACC
 *         when libcurl cannot be loaded (not installed), -ELIBBAD when it
 *         lacks a function the library needs; -ENOTSUP when libcurl could
 *         not be set up.
 */
RP_EXPORT int rp_http_new(rp_executor *ex, const struct rp_http_config *cfg,
			  rp_http **out);

/**
 * Cancels the client's transfers that have not ended, waits until each has
 * ended (they end cancelled, once their queued writes are in), and frees the
 * client.  Transfers still need rp_http_transfer_free(), which may come
 * before or after.  Must not be called from a done-callback.  NULL-safe.
 */
RP_EXPORT void rp_http_free(rp_http *h);

struct rp_http_info;

/** What to download, and where to. */
struct rp_http_request {
	/** http://, https:// (and what else libcurl allows). Copied. */
	const char *url;
	/**
	 * Destination descriptor, open for writing; the body is written at
	 * `offset + n` with positioned writes (so not a pipe or socket).
	 * Owned by the caller, who must keep it open until the transfer's
	 * future has ended.  Several transfers may write to one descriptor.
	 */
	int fd;
	/**
	 * Resume: ask for the body from this byte on (`Range: bytes=OFFSET-`).
	 * When the server ignores the range (200 instead of 206) the whole
	 * body is written from 0, and rp_http_info::resumed is false; the
	 * file is not truncated.  An offset at or past the end typically
	 * gets a 416 (`-EREMOTEIO`), with rp_http_info::size telling the
	 * length.  At most INT64_MAX.
	 */
	uint64_t offset;
	/**
	 * With an `offset`: the validator of the bytes already there, as an
	 * earlier response gave it (rp_http_info::etag when strong, else
	 * rp_http_info::last_modified), sent as `If-Range`.  A server whose
	 * resource has changed since then sends all of it (200), written
	 * from 0, instead of a range that would splice two versions
	 * together.  NULL (the default) for none.  Copied; at most 1024
	 * bytes without control characters, else -EINVAL.
	 */
	const char *if_range;
	/**
	 * Called once, when the body's first bytes have arrived and before
	 * any is written (for a response without a body, or a transfer that
	 * failed before one, when the transfer ends; never for a 206 refused
	 * because its part starts elsewhere than asked), with what the
	 * response's headers say: rp_http_info::status, size, resumed, etag
	 * and last_modified; `bytes` is 0 and the error empty.  `info` and
	 * its strings are valid during the call only.  A downloader records
	 * here what it needs to resume later (the validator of the bytes
	 * about to be written), so that a process killed partway leaves it
	 * with its file.  Runs on the thread that drives the client (as the
	 * done-callbacks do, see above) with the client's lock held: it must
	 * not block, call into the client or free the transfer.  The
	 * destination may be changed (truncated, say) from here, since no
	 * write of this transfer has begun.  NULL (the default) for none.
	 */
	void (*on_body)(void *arg, const struct rp_http_info *info);
	/** Passed to `on_body`. */
	void *arg;
};

/** What is known about a transfer that has ended. */
struct rp_http_info {
	/** The last HTTP status received; 0 when none was. */
	long status;
	/** Body bytes written to the destination by this transfer. */
	uint64_t bytes;
	/**
	 * The full length of the resource when the server told it
	 * (Content-Length, plus the offset for a 206; or the total of
	 * Content-Range, also on a 416), else -1.
	 */
	int64_t size;
	/** The server honoured rp_http_request::offset (206). */
	bool resumed;
	/** From a Retry-After header, in ns from the response; -1 if none. */
	int64_t retry_after_ns;
	/** The URL after redirects; valid until rp_http_transfer_free(). */
	const char *effective_url;
	/**
	 * The last response's `ETag` and `Last-Modified` headers as sent
	 * (an entity tag keeps its quotes, and its `W/` when weak), NULL when
	 * it had none; valid until rp_http_transfer_free().  A download to be
	 * resumed later keeps one as rp_http_request::if_range.
	 */
	const char *etag;
	const char *last_modified;
	/** Why it failed, in words; "" on success. */
	char error[256];
	/**
	 * When the transfer failed with `-EIO` because a write to the
	 * destination failed: that write's negative errno (`-ENOSPC`,
	 * `-EDQUOT`, ...); otherwise 0.
	 */
	int write_error;
};

/**
 * Starts downloading `req->url` into `req->fd`.
 *
 * @param out receives the transfer; its future is rp_http_transfer_future().
 * @return 0; -EINVAL; -ENOMEM; -ESHUTDOWN after rp_http_free() began.
 */
RP_EXPORT int rp_http_get(rp_http *h, const struct rp_http_request *req,
			  rp_http_transfer **out);

/**
 * The transfer's future (a borrowed pointer, valid until
 * rp_http_transfer_free(); take rp_future_ref() to keep it longer).  Waiting,
 * callbacks and rp_future_cancel() work on it as on any other future.
 */
RP_EXPORT rp_future *rp_http_transfer_future(rp_http_transfer *t);

/**
 * Progress, at any time and from any thread, without blocking: `done`, the
 * body bytes received so far by this transfer (taken from the network; they
 * reach the file shortly after), never decreasing; and `total`, the body
 * bytes this transfer expects, from the response's Content-Length (for a
 * resumed transfer that is what remains, not rp_http_info::size), or -1
 * while unknown; once the transfer succeeded it equals `done`.  Either
 * pointer may be NULL; a NULL `t` gives 0 and -1.
 */
RP_EXPORT void rp_http_transfer_progress(const rp_http_transfer *t,
					 uint64_t *done, int64_t *total);

/**
 * Fills `info` once the transfer has ended.
 *
 * @return 0; -EBUSY while it runs; -EINVAL.
 */
RP_EXPORT int rp_http_transfer_info(const rp_http_transfer *t,
				    struct rp_http_info *info);

/**
 * Frees the transfer; one that has not ended is cancelled first and waited
 * for.  Must not be called from the transfer's own done-callback.  The
 * future stays valid for whoever took a reference on it.  NULL-safe.
 */
RP_EXPORT void rp_http_transfer_free(rp_http_transfer *t);

/** @} */

/** The library's version string, e.g. "0.1.0". Never NULL. */
RP_EXPORT const char *rp_version(void);

#ifdef __cplusplus
}
#endif

#endif /* RINGPOOL_H */
