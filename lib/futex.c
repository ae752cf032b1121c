/* SPDX-License-Identifier: MIT */
/*
 * Time, futex and thread helpers.  Futexes are used directly rather than
 * through pthread condition variables so that a waker can skip the system
 * call when it knows nobody sleeps (the callers keep a "sleepers" flag or
 * count).
 */
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

int64_t rp__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t rp__deadline(int64_t timeout_ns)
{
	int64_t now;

	if (timeout_ns < 0)
		return INT64_MAX;
	now = rp__now_ns();
	if (timeout_ns > INT64_MAX - now)
		return INT64_MAX;
	return now + timeout_ns;
}

int rp__futex_wait(_Atomic uint32_t *word, uint32_t expected,
		   int64_t deadline)
{
	struct timespec ts, *tsp = NULL;
	long ret;

	if (deadline != INT64_MAX) {
		int64_t left = deadline - rp__now_ns();

		if (left <= 0)
			return -ETIMEDOUT;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tsp = &ts;
	}
	/* Relative timeout: FUTEX_WAIT measures it on CLOCK_MONOTONIC. */
	ret = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, tsp,
		      NULL, 0);
	if (ret < 0 && errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0;
}

void rp__futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

int rp__thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	/* Those a fault raises reach the thread that faulted in any case. */
	static const int faults[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL,
				      SIGTRAP, SIGSYS };
	sigset_t all, old;
	size_t i;
	int ret;

	sigfillset(&all);
	for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		sigdelset(&all, faults[i]);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}
