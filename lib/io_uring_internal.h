/* SPDX-License-Identifier: MIT */
/*
 * Shared by the io_uring backend's files only: io_uring.c (a ring's thread:
 * submissions into the SQ, completions, sleeping and waking),
 * io_uring_setup.c (creating, stopping and freeing the rings) and
 * io_uring_submit.c (what the executor calls: which ring, the calling
 * thread's batch, cancels, registrations).
 */
#ifndef RP_IO_URING_INTERNAL_H
#define RP_IO_URING_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>

#include "internal.h"

#ifdef RP_HAVE_MEMCHECK_H
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#define RUNNING_ON_VALGRIND 0
#endif

/* One ring and its thread. */
struct ring {
	struct rp__queue q;			/* submissions, cancel requests */
	_Atomic uint32_t sleeping RP_ALIGNED;
	/* Shared rings: held by whichever thread drives the ring. */
	pthread_mutex_t lock;
	struct io_uring ring RP_ALIGNED;
	rp_executor *ex;
	bool shared;
	unsigned index;
	int efd;
	/* Sleeps in io_uring_enter(), woken through a poll on `efd`. */
	bool wait_in_enter, wake_armed;
	bool sqpoll;				/* IORING_SETUP_SQPOLL */
	/* The CQEs to reap came while the thread was idle: see reap(). */
	bool woke;
	int64_t idle_avg_ns[2];			/* see idle_kind() */
	bool files_registered, bufs_registered;
	struct io_uring_buf_ring *br;		/* provided buffers, or NULL */
	char *bufs;
	unsigned owed, max_owed;		/* CQEs the kernel owes us */
	/* *_full operations to resubmit; a vector, since `next` may be busy. */
	rp_future **retry;
	unsigned n_retry, cap_retry;
	_Atomic bool stopping;
	_Atomic bool cancel_pending, cancel_inflight;
	int setup_ret;				/* ring creation, for start() */
	pthread_t thread;
	bool started;
};

/* The backend's state in an executor (rp_executor::io_priv). */
struct uring_state {
	unsigned n;
	struct ring *rings;
	unsigned setup_flags, entries, iowq[2];
	unsigned sqpoll_idle_ms;		/* 0: no SQPOLL */
	uint32_t spin_ns;
	bool shared;				/* RP_RINGS_SHARED */
	bool joined;
	/*
	 * Operations whose opcode the kernel's io_uring lacks run as system
	 * calls on a blocking-I/O pool of their own, made only where some
	 * opcode is missing (io_uring_setup.c).
	 */
	struct rp__blocking *aux;
	uint8_t missing[256 / 8];		/* a bit per opcode */
};

/* Whether `f`'s operation goes to the blocking pool (st->aux). */
static inline bool uring_missing(const struct uring_state *st, rp_future *f)
{
	uint8_t op = rp__iof(f)->sqe.opcode;

	return st->aux && (st->missing[op / 8] & (1u << (op % 8)));
}

/*
 * The ring the calling thread drives (it is that ring's thread, or holds a
 * shared ring's lock), or NULL.  initial-exec: a plain %fs-relative access.
 */
extern _Thread_local struct ring *rp__cur_ring
	__attribute__((tls_model("initial-exec")));

/* io_uring.c */
void *rp__ring_main(void *ring);
void rp__ring_take(struct ring *r, rp_future *f);
bool rp__ring_drive(struct ring *r);

/* io_uring_setup.c */
int rp__uring_start(rp_executor *ex, const struct rp_config *cfg, char *why,
		    size_t whylen);
void rp__uring_stop(rp_executor *ex, bool cancel_pending,
		    bool cancel_inflight, bool wait);
void rp__uring_destroy(rp_executor *ex);

#define BUF_COUNT 256		/* buffers per ring, a power of two */

/* A registration asked by rp__io_uring_backend.reg, run on the ring thread. */
struct reg_cmd {
	int kind;
	const void *ptr;
	unsigned n;
};

static inline struct uring_state *state_of(const rp_executor *ex)
{
	return ex->io_priv;
}

/* Room for one operation (two SQEs, two CQEs) right now? */
static inline bool room(struct ring *r)
{
	return r->owed + 2 <= r->max_owed;
}

/* Wakes the ring's thread if it sleeps (the Dekker pairing in io_uring.c). */
static inline void wake(struct ring *r)
{
	if (atomic_load_explicit(&r->sleeping, memory_order_seq_cst) &&
	    atomic_exchange(&r->sleeping, 0))
		(void)eventfd_write(r->efd, 1);
}

/* May the calling thread drive the shared ring `r` now? */
static inline bool may_drive(struct ring *r)
{
	return r->shared && !rp__no_drive &&
	       !atomic_load_explicit(&r->stopping, memory_order_relaxed);
}

/*
 * Gets queued work of `r` going: on a shared ring that is free, the calling
 * thread drives it; otherwise the ring thread is woken if it sleeps.  Work
 * pushed while another thread drives is not lost: that thread's last look at
 * the queue comes after the push, or the pusher's wake() sees the ring
 * thread asleep, or the ring thread is awake and sees the queue.
 */
static inline void kick(struct ring *r)
{
	if (may_drive(r) && pthread_mutex_trylock(&r->lock) == 0) {
		bool left = rp__ring_drive(r);

		pthread_mutex_unlock(&r->lock);
		if (left)
			wake(r);
		return;
	}
	wake(r);
}

#endif
