/* SPDX-License-Identifier: MIT */
/*
 * Callback contexts of multishot operations, shared by test_io_multishot.c
 * and test_io_accept.c.  Callbacks run on the ring's thread or a
 * blocking-I/O thread, where CUnit's assertions must not be used: they
 * record what they see here, and the test thread checks it once the
 * future has ended (its end orders the callbacks' writes before the
 * waiter's reads) or under the context's lock.
 */
#ifndef RINGPOOL_MSHOT_H
#define RINGPOOL_MSHOT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iotest.h"

/* The size of the buffers multishot receives land in (both backends). */
#define RECV_BUF_SIZE 4096

/* What a multishot accept delivered. */
struct acc {
	pthread_mutex_t lock;
	int *fds;			/* delivered descriptors */
	size_t n_fds, cap;
	unsigned overflow;		/* deliveries past `cap` */
	unsigned bad_fd;		/* invalid or without FD_CLOEXEC */
	atomic_bool done;		/* set by the future's done-callback */
	atomic_uint late;		/* deliveries after the end */
	struct tu_latch got;		/* one post per delivery */
	struct tu_latch ended;		/* posted by the done-callback */
};

void ms_acc_init(struct acc *a, size_t cap);
/* Closes the delivered descriptors and frees the context. */
void ms_acc_destroy(struct acc *a);
/* Starts a multishot accept on `lfd` delivering to `a`. */
rp_future *ms_acc_start(rp_executor *ex, int lfd, struct acc *a);
/* Cancels an operation that runs and checks that it ends cancelled. */
void ms_cancel_running(rp_future *f);

/* What a multishot recv delivered. */
struct rcv {
	unsigned char *buf;		/* what arrived, when kept */
	size_t cap;
	size_t got;			/* bytes delivered */
	atomic_size_t bytes;		/* the same, for other threads */
	uint64_t seed;			/* when checking it_fill()'s pattern */
	bool check_pattern;
	bool pattern_ok;
	unsigned calls;			/* calls with data */
	unsigned zero_calls;		/* calls with len 0 */
	unsigned after_zero;		/* calls after a len-0 call */
	unsigned too_long;		/* calls with more than a buffer */
	unsigned overflow;		/* bytes past `cap` */
	atomic_bool done;		/* set by the future's done-callback */
	atomic_uint late;		/* calls after the end */
	unsigned zero_at_done;		/* zero_calls seen by the done-callback */
	struct tu_latch data;		/* one post per call with data */
	struct tu_latch ended;		/* posted by the done-callback */
};

/* `cap` bytes kept (0: none); with `check`, it_fill()'s pattern checked. */
void ms_rcv_init(struct rcv *r, size_t cap, uint64_t seed, bool check);
void ms_rcv_destroy(struct rcv *r);
/* Waits until `r` has been given at least `n` bytes. */
void ms_rcv_wait_bytes(struct rcv *r, size_t n);
/* Starts a multishot recv on `fd` delivering to `r`. */
rp_future *ms_rcv_start(rp_executor *ex, int fd, struct rcv *r);

#endif
