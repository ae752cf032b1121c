/* SPDX-License-Identifier: MIT */
/*
 * Callback contexts of multishot operations for the tests that use them
 * (test_io_multishot.c, test_io_accept.c): what a multishot accept or recv
 * delivered, recorded from whichever thread runs the callbacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "mshot.h"

void ms_acc_init(struct acc *a, size_t cap)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	a->fds = calloc(cap ? cap : 1, sizeof(*a->fds));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a->fds);
	a->cap = cap;
	atomic_init(&a->done, false);
	atomic_init(&a->late, 0);
	tu_latch_init(&a->got);
	tu_latch_init(&a->ended);
}

/* Closes the delivered descriptors and frees the context. */
void ms_acc_destroy(struct acc *a)
{
	size_t i;

	for (i = 0; i < a->n_fds; i++)
		close(a->fds[i]);
	free(a->fds);
	tu_latch_destroy(&a->got);
	tu_latch_destroy(&a->ended);
	pthread_mutex_destroy(&a->lock);
}

static void acc_fn(void *arg, int fd)
{
	struct acc *a = arg;
	int fl = fd >= 0 ? fcntl(fd, F_GETFD) : -1;

	if (atomic_load(&a->done))
		atomic_fetch_add(&a->late, 1);
	pthread_mutex_lock(&a->lock);
	if (fl < 0 || !(fl & FD_CLOEXEC))
		a->bad_fd++;
	if (fd >= 0 && a->n_fds < a->cap)
		a->fds[a->n_fds++] = fd;
	else if (fd >= 0) {
		a->overflow++;
		close(fd);
	}
	pthread_mutex_unlock(&a->lock);
	tu_latch_post(&a->got);
}

static void acc_done(rp_future *f, void *arg)
{
	struct acc *a = arg;

	(void)f;
	atomic_store(&a->done, true);
	tu_latch_post(&a->ended);
}

/* Starts a multishot accept on `lfd` delivering to `a`. */
rp_future *ms_acc_start(rp_executor *ex, int lfd, struct acc *a)
{
	rp_future *f = NULL;

	CU_ASSERT_EQUAL_FATAL(rp_accept_multishot(ex, lfd, SOCK_CLOEXEC, acc_fn,
						  a, NULL, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL_FATAL(rp_future_add_done_callback(f, acc_done, a), 0);
	return f;
}

/* Cancels an operation that runs and checks that it ends cancelled. */
void ms_cancel_running(rp_future *f)
{
	int ret = rp_future_cancel(f);
	int64_t v = -1;
	int error = 0;

	CU_ASSERT(ret == -EINPROGRESS || ret == 0);
	ret = rp_future_result(f, tu_stuck_timeout_ns(), &v, &error);
	if (ret == -ETIMEDOUT)
		it_stuck("a cancelled multishot operation");
	if (ret != -ECANCELED)
		fprintf(stderr, "after cancel: result %d, error %d, value %lld\n",
			ret, error, (long long)v);
	CU_ASSERT_EQUAL(ret, -ECANCELED);
	CU_ASSERT(rp_future_done(f));
	CU_ASSERT(rp_future_cancelled(f));
}

void ms_rcv_init(struct rcv *r, size_t cap, uint64_t seed, bool check)
{
	memset(r, 0, sizeof(*r));
	if (cap) {
		r->buf = malloc(cap);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r->buf);
	}
	r->cap = cap;
	r->seed = seed;
	r->check_pattern = check;
	r->pattern_ok = true;
	atomic_init(&r->bytes, 0);
	atomic_init(&r->done, false);
	atomic_init(&r->late, 0);
	tu_latch_init(&r->data);
	tu_latch_init(&r->ended);
}

void ms_rcv_destroy(struct rcv *r)
{
	free(r->buf);
	tu_latch_destroy(&r->data);
	tu_latch_destroy(&r->ended);
}

static void rcv_fn(void *arg, const void *data, size_t len)
{
	struct rcv *r = arg;

	if (atomic_load(&r->done))
		atomic_fetch_add(&r->late, 1);
	if (r->zero_calls)
		r->after_zero++;
	if (len == 0) {
		r->zero_calls++;
		return;
	}
	if (len > RECV_BUF_SIZE)
		r->too_long++;
	if (r->check_pattern && !it_check(data, len, r->seed, r->got))
		r->pattern_ok = false;
	if (r->buf && r->got + len <= r->cap)
		memcpy(r->buf + r->got, data, len);
	else if (r->buf)
		r->overflow += (unsigned)len;
	r->got += len;
	atomic_store(&r->bytes, r->got);
	r->calls++;
	tu_latch_post(&r->data);
}

static void rcv_done(rp_future *f, void *arg)
{
	struct rcv *r = arg;

	(void)f;
	r->zero_at_done = r->zero_calls;
	atomic_store(&r->done, true);
	tu_latch_post(&r->ended);
}

/* Waits until `r` has been given at least `n` bytes. */
void ms_rcv_wait_bytes(struct rcv *r, size_t n)
{
	while (atomic_load(&r->bytes) < n) {
		unsigned k = tu_latch_count(&r->data);

		if (atomic_load(&r->bytes) >= n)
			break;
		it_latch_wait(&r->data, k + 1, "a multishot recv's delivery");
	}
}

/* Starts a multishot recv on `fd` delivering to `r`. */
rp_future *ms_rcv_start(rp_executor *ex, int fd, struct rcv *r)
{
	struct rp_io_opts opts = { .timeout_ns = 0 };	/* no deadline: fine */
	rp_future *f = NULL;

	CU_ASSERT_EQUAL_FATAL(rp_recv_multishot(ex, fd, rcv_fn, r, &opts, &f),
			      0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL_FATAL(rp_future_add_done_callback(f, rcv_done, r), 0);
	return f;
}
