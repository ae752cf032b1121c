/* SPDX-License-Identifier: MIT */
/*
 * What the blocking backend's tests share: running one SQE through
 * rp__io_blocking_execute() as a blocking-I/O worker would, on this thread
 * or a thread of its own, and the scratch places they run it on.
 */
#ifndef RINGPOOL_BLK_H
#define RINGPOOL_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"
#include "testutil.h"

#define MS 1000000LL

/* The calling thread's cancel eventfd and flags word, as a worker has. */
extern int bk_efd;
extern _Atomic uint32_t bk_flags;

/* Runs `sqe` here until `deadline` (absolute, CLOCK_MONOTONIC ns). */
int64_t bk_exec_until(const struct io_uring_sqe *sqe, int64_t deadline);
/* Runs `sqe` here with no deadline. */
int64_t bk_exec(const struct io_uring_sqe *sqe);
void bk_sleep_ns(int64_t ns);
/* Nothing is left in the eventfd: waits drained what woke them. */
bool bk_eventfd_empty(void);
/* Whether the eventfd is drained within a second. */
bool bk_eventfd_drained(void);
/* Wakes a wait through the eventfd, as a cancel does. */
void bk_eventfd_kick(void);

/* A temporary directory with an open descriptor on it. */
struct tmpdir {
	char path[64];
	int fd;
};

void bk_tmpdir_open(struct tmpdir *d);
/* Removes the directory and any of the names the tests use in it. */
void bk_tmpdir_close(struct tmpdir *d);

/* Runs one SQE on its own thread, for the tests that wake it from here. */
struct bg {
	pthread_t thread;
	_Atomic int tid;		/* the thread's id once it runs */
	struct io_uring_sqe sqe;
	int64_t deadline;
	int64_t res;
	struct tu_latch done;
};

/* Starts `b->sqe` on its own thread, until `deadline`. */
void bk_bg_start(struct bg *b, int64_t deadline);
bool bk_bg_finished(struct bg *b);
/*
 * Waits (for the stuck timeout) until the thread sleeps in ppoll(), where
 * the fallback waits for a descriptor, a deadline or a cancel: a fixed
 * sleep would not tell on a loaded machine whether it got there yet.
 */
bool bk_bg_waiting(struct bg *b);
/* Waits for the thread (for the stuck timeout) and returns its result. */
int64_t bk_bg_join(struct bg *b);

int bk_main(int argc, char **argv, const char *name,
	    const struct tu_test *tests, size_t n);

#endif
