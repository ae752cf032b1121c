/* SPDX-License-Identifier: MIT */
/*
 * The fallback backend's half of an I/O operation: the SQE that io_uring
 * would have been given, carried out with ordinary system calls on the
 * calling thread, with the result io_uring's CQE would have had.
 *
 * What a call may wait on decides how it is made.  A regular file at an
 * offset is never waited for with poll: the call is made at once, so that the
 * fallback costs what fio's psync engine costs.  Everything that can wait
 * without bound (a pipe, socket or tty that is not ready, a connect, a sleep)
 * waits in ppoll(2) on its descriptor and on the thread's cancel eventfd,
 * so that rp_future_cancel() and deadlines reach it, and then makes the call
 * when it no longer blocks.  A blocking descriptor stays blocking for every
 * other user of its file description: O_NONBLOCK is only changed for the
 * length of a connect, which has no per-call way to avoid blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#define NS_PER_SEC 1000000000LL
/* Back-off of a Unix-socket connect whose peer's backlog is full. */
#define NAP_NS 1000000LL

/* What ends a wait early: a cancel request or the operation's deadline. */
struct waiter {
	int cancel_fd;
	int64_t deadline;
	const _Atomic uint32_t *flags;
};

static bool cancel_requested(const struct waiter *w)
{
	return w->flags &&
	       (atomic_load_explicit(w->flags, memory_order_acquire) &
		RP__F_CANCEL_REQ);
}

static void drain(int fd)
{
	uint64_t count;

	while (read(fd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
}

/*
 * Waits until `fd` reports one of `events`, or only for the end when `fd` is
 * negative.  Returns the revents (> 0), -ECANCELED, -ETIMEDOUT once `until`
 * (absolute CLOCK_MONOTONIC ns, INT64_MAX for never) has passed, or an error.
 */
static int wait_fd(const struct waiter *w, int fd, short events, int64_t until)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = events },
		{ .fd = w->cancel_fd, .events = POLLIN },
	};
	struct timespec ts, *tsp = NULL;

	for (;;) {
		if (until != INT64_MAX) {
			int64_t left = until - rp__now_ns();

			if (left <= 0)
				return -ETIMEDOUT;
			ts.tv_sec = (time_t)(left / NS_PER_SEC);
			ts.tv_nsec = (long)(left % NS_PER_SEC);
			tsp = &ts;
		}
		if (ppoll(p, 2, tsp, NULL) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents & POLLNVAL) {
			/* No usable eventfd: only the deadline can end it. */
			p[1].fd = -1;
		} else if (p[1].revents) {
			/*
			 * The canceller sets the flag before it writes the
			 * eventfd, so a wake-up without the flag is left over
			 * from an earlier operation of this thread.
			 */
			drain(p[1].fd);
			if (cancel_requested(w))
				return -ECANCELED;
		}
		if (p[0].revents & POLLNVAL)
			return -EBADF;
		if (p[0].revents)
			return p[0].revents;
	}
}

/* A read or write, vectored or not, as the SQE describes it. */
struct rw {
	int fd;
	bool write;
	bool vec;
	int rwf;			/* the SQE's RWF_* flags */
	struct iovec one;		/* the buffer of READ and WRITE */
	const struct iovec *iov;	/* &one, or the SQE's array */
	int iovcnt;
};

/*
 * One call at `off` (-1: the file position).  A single buffer without RWF_*
 * flags, the common case, takes the plain calls, which spare the kernel
 * importing an iovec array.
 */
static ssize_t rw_call(const struct rw *rw, off_t off, int rwf)
{
	void *buf = rw->one.iov_base;
	size_t len = rw->one.iov_len;

	if (!rw->vec && !rwf && off == -1)
		return rw->write ? write(rw->fd, buf, len) :
				   read(rw->fd, buf, len);
	if (!rw->vec && !rwf)
		return rw->write ? pwrite(rw->fd, buf, len, off) :
				   pread(rw->fd, buf, len, off);
	if (rw->write)
		return pwritev2(rw->fd, rw->iov, rw->iovcnt, off, rwf);
	return preadv2(rw->fd, rw->iov, rw->iovcnt, off, rwf);
}

/* A regular file or block device, whose waits are short and unpollable. */
static bool is_file(int fd)
{
	struct stat st;

	return !fstat(fd, &st) && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

/*
 * A read or write that may wait: at the file position, or on a pipe or
 * socket.  RWF_NOWAIT makes the call itself non-blocking without touching
 * the file's O_NONBLOCK, and like io_uring a pipe write then moves what fits
 * instead of blocking until all of it does.  Files without RWF_NOWAIT (ttys)
 * get the plain call after ppoll reports them ready, which then normally does
 * not block.
 */
static int64_t rw_stream(const struct rw *rw, const struct waiter *w)
{
	bool can_nowait = true, checked = false, nowait;
	int rwf = rw->rwf | RWF_NOWAIT, ret, err;
	ssize_t n;

	for (;;) {
		n = rw_call(rw, -1, rwf);
		if (n >= 0)
			return n;
		err = errno;
		nowait = rwf != rw->rwf;	/* RWF_NOWAIT was ours */
		if (err == EINTR)
			continue;
		if (!(err == EAGAIN && !(rw->rwf & RWF_NOWAIT)) &&
		    !(err == EOPNOTSUPP && nowait))
			return -err;
		if (nowait && !checked) {
			/*
			 * A file's pages not in the cache, say: ppoll would
			 * call it ready at once.  Its plain call is bounded.
			 */
			checked = true;
			if (is_file(rw->fd)) {
				rwf = rw->rwf;
				continue;
			}
		}
		if (err == EOPNOTSUPP)
			can_nowait = false;
		ret = wait_fd(w, rw->fd, rw->write ? POLLOUT : POLLIN,
			      w->deadline);
		if (ret < 0)
			return ret;
		rwf = rw->rwf | (can_nowait ? RWF_NOWAIT : 0);
	}
}

static bool is_socket(int fd, int *err);

static int64_t do_rw(const struct io_uring_sqe *sqe, const struct waiter *w)
{
	struct rw rw = {
		.fd = sqe->fd,
		.write = sqe->opcode == IORING_OP_WRITE ||
			 sqe->opcode == IORING_OP_WRITEV,
		.vec = sqe->opcode == IORING_OP_READV ||
		       sqe->opcode == IORING_OP_WRITEV,
		.rwf = (int)sqe->rw_flags,
	};
	ssize_t n;

	if (rw.vec) {
		rw.iov = (const struct iovec *)(uintptr_t)sqe->addr;
		rw.iovcnt = (int)sqe->len;
	} else {
		rw.one.iov_base = (void *)(uintptr_t)sqe->addr;
		rw.one.iov_len = sqe->len;
		rw.iov = &rw.one;
		rw.iovcnt = 1;
	}
	if (sqe->off == (__u64)-1)
		return rw_stream(&rw, w);
	do
		n = rw_call(&rw, (off_t)sqe->off, rw.rwf);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	/*
	 * io_uring ignores the offset of a pipe, and of a socket when it is
	 * 0; a socket's own read and write refuse any other (-ESPIPE).
	 */
	if (errno == ESPIPE) {
		int err;

		if (sqe->off != 0 && is_socket(rw.fd, &err))
			return -ESPIPE;
		return rw_stream(&rw, w);
	}
	return -errno;
}

/* Whether `fd` is a socket; if not, why in `*err` (-ENOTSOCK, -EBADF). */
static bool is_socket(int fd, int *err)
{
	socklen_t len = sizeof(int);
	int type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0)
		return true;
	*err = -errno;
	return false;
}

static bool is_stream_socket(int fd)
{
	socklen_t len = sizeof(int);
	int type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return false;
	return type == SOCK_STREAM || type == SOCK_SEQPACKET;
}

/*
 * send(2) or recv(2).  MSG_WAITALL on a stream socket collects the whole
 * length across waits, as io_uring does; bytes already moved are the result
 * even when a later wait or call fails, as io_uring reports partial I/O.
 * IORING_RECVSEND_POLL_FIRST (RP_IO_POLL_FIRST) waits before the first call.
 */
static int64_t do_xfer(const struct io_uring_sqe *sqe, const struct waiter *w,
		       bool is_send)
{
	char *buf = (char *)(uintptr_t)sqe->addr;
	int flags = (int)sqe->msg_flags;
	size_t len = sqe->len, done = 0;
	ssize_t n;
	int ret;

	if ((sqe->ioprio & IORING_RECVSEND_POLL_FIRST) &&
	    !(flags & MSG_DONTWAIT)) {
		/*
		 * As io_uring: a negative descriptor fails at once (poll(2)
		 * would skip it and wait for ever), and a send looks for a
		 * socket before it waits (a recv only after).
		 */
		if (sqe->fd < 0)
			return -EBADF;
		if (is_send && !is_socket(sqe->fd, &ret))
			return ret;
		ret = wait_fd(w, sqe->fd, is_send ? POLLOUT : POLLIN,
			      w->deadline);
		if (ret < 0)
			return ret;
	}
	for (;;) {
		if (is_send)
			n = send(sqe->fd, buf + done, len - done,
				 flags | MSG_DONTWAIT);
		else
			n = recv(sqe->fd, buf + done, len - done,
				 flags | MSG_DONTWAIT);
		if (n > 0) {
			done += (size_t)n;
			if (!(flags & MSG_WAITALL) || done == len ||
			    !is_stream_socket(sqe->fd))
				return (int64_t)done;
			continue;
		}
		if (n == 0)
			return (int64_t)done;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || (flags & MSG_DONTWAIT))
			return done ? (int64_t)done : -errno;
		ret = wait_fd(w, sqe->fd, is_send ? POLLOUT : POLLIN,
			      w->deadline);
		if (ret < 0)
			return done ? (int64_t)done : ret;
	}
}

static bool is_listening(int fd)
{
	socklen_t len = sizeof(int);
	int on = 0;

	return !getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) && on;
}

static int64_t do_accept(const struct io_uring_sqe *sqe,
			 const struct waiter *w)
{
	struct sockaddr *addr = (struct sockaddr *)(uintptr_t)sqe->addr;
	socklen_t *addrlen = (socklen_t *)(uintptr_t)sqe->addr2;
	int fd, ret;

	/* Checked before the wait, as io_uring does when it is queued. */
	if (sqe->accept_flags & ~(__u32)(SOCK_CLOEXEC | SOCK_NONBLOCK))
		return -EINVAL;
	if (sqe->fd < 0)
		return -EBADF;
	/*
	 * A socket that is not listening would never be reported ready, so
	 * the wait would last for ever where io_uring fails at once: make the
	 * call, which fails without waiting (-EINVAL, -EOPNOTSUPP, -ENOTSOCK).
	 */
	if (!is_listening(sqe->fd)) {
		fd = accept4(sqe->fd, addr, addrlen, (int)sqe->accept_flags);
		return fd >= 0 ? fd : -errno;
	}
	for (;;) {
		ret = wait_fd(w, sqe->fd, POLLIN, w->deadline);
		if (ret < 0)
			return ret;
		/* EAGAIN: another thread took the connection first. */
		fd = accept4(sqe->fd, addr, addrlen, (int)sqe->accept_flags);
		if (fd >= 0)
			return fd;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

/*
 * connect(2) has no per-call non-blocking flag, so a blocking socket is made
 * non-blocking for the length of the call, and its flags put back after.
 */
static int64_t do_connect(const struct io_uring_sqe *sqe,
			  const struct waiter *w)
{
	const struct sockaddr *addr =
		(const struct sockaddr *)(uintptr_t)sqe->addr;
	int fd = sqe->fd, fl, ret, err;
	int64_t until;
	socklen_t len;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	for (;;) {
		ret = connect(fd, addr, (socklen_t)sqe->off) ? -errno : 0;
		if (ret != -EAGAIN)
			break;
		/* A Unix socket's full backlog, which poll can't show. */
		until = rp__now_ns() + NAP_NS;
		ret = wait_fd(w, -1, 0, until < w->deadline ?
				       until : w->deadline);
		if (ret != -ETIMEDOUT || until >= w->deadline)
			break;
	}
	if (ret == -EINPROGRESS || ret == -EINTR) {
		ret = wait_fd(w, fd, POLLOUT, w->deadline);
		len = sizeof(err);
		if (ret >= 0)
			ret = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) ?
			      -errno : -err;
	}
	if (!(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl);
	return ret;
}

static int64_t do_poll(const struct io_uring_sqe *sqe, const struct waiter *w)
{
	/* The helper swaps halves on big-endian machines: its own inverse. */
	unsigned events = __io_uring_prep_poll_mask(sqe->poll32_events);

	/* Multishot polls and poll updates need a ring. */
	if (sqe->len & ~IORING_POLL_ADD_LEVEL)
		return -EINVAL;
	/* poll(2) would skip it and wait for nothing. */
	if (sqe->fd < 0)
		return -EBADF;
	return wait_fd(w, sqe->fd, (short)(events & 0xffff), w->deadline);
}

/*
 * A TIMEOUT without a completion count: a sleep that ends with -ETIME, as an
 * expired io_uring timeout does.  Other clocks than CLOCK_MONOTONIC are read
 * once and the sleep is made on the monotonic clock.
 */
static int64_t do_timeout(const struct io_uring_sqe *sqe,
			  const struct waiter *w)
{
	const struct __kernel_timespec *ts =
		(const struct __kernel_timespec *)(uintptr_t)sqe->addr;
	uint32_t tf = sqe->timeout_flags;
	int64_t now = rp__now_ns(), ns, end;
	struct timespec clk;
	int ret;

	if (sqe->len != 1 || sqe->off || !ts ||
	    (tf & ~(IORING_TIMEOUT_ABS | IORING_TIMEOUT_CLOCK_MASK |
		    IORING_TIMEOUT_ETIME_SUCCESS)) ||
	    (tf & IORING_TIMEOUT_CLOCK_MASK) == IORING_TIMEOUT_CLOCK_MASK)
		return -EINVAL;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= NS_PER_SEC)
		return -EINVAL;
	if (ts->tv_sec >= INT64_MAX / NS_PER_SEC - 1)
		ns = INT64_MAX / 2;	/* centuries: as good as never */
	else
		ns = ts->tv_sec * NS_PER_SEC + ts->tv_nsec;
	end = now + ns;
	if ((tf & IORING_TIMEOUT_ABS) && !(tf & IORING_TIMEOUT_CLOCK_MASK)) {
		end = ns;
	} else if (tf & IORING_TIMEOUT_ABS) {
		clock_gettime(tf & IORING_TIMEOUT_BOOTTIME ? CLOCK_BOOTTIME :
			      CLOCK_REALTIME, &clk);
		end -= clk.tv_sec * NS_PER_SEC + clk.tv_nsec;
	}
	if (end > w->deadline)
		return wait_fd(w, -1, 0, w->deadline);
	ret = wait_fd(w, -1, 0, end);
	return ret == -ETIMEDOUT ? -ETIME : ret;
}

/*
 * Operations that cannot wait for another party: one call each.  Returns its
 * result or -errno (EINTR included, for the caller to retry).
 */
static int64_t do_simple(const struct io_uring_sqe *sqe)
{
	const char *path = (const char *)(uintptr_t)sqe->addr;
	long r;

	switch (sqe->opcode) {
	case IORING_OP_OPENAT:
		r = openat(sqe->fd, path, (int)sqe->open_flags,
			   (mode_t)sqe->len);
		break;
	case IORING_OP_OPENAT2:
		r = syscall(SYS_openat2, sqe->fd, path,
			    (void *)(uintptr_t)sqe->off, (size_t)sqe->len);
		break;
	case IORING_OP_FSYNC:
		if (sqe->fsync_flags & ~IORING_FSYNC_DATASYNC)
			return -EINVAL;
		if (sqe->fsync_flags & IORING_FSYNC_DATASYNC)
			r = fdatasync(sqe->fd);
		else
			r = fsync(sqe->fd);
		break;
	case IORING_OP_FALLOCATE:
		r = fallocate(sqe->fd, (int)sqe->len, (off_t)sqe->off,
			      (off_t)sqe->addr);
		break;
	case IORING_OP_STATX:
		r = statx(sqe->fd, path, (int)sqe->statx_flags, sqe->len,
			  (struct statx *)(uintptr_t)sqe->off);
		break;
	case IORING_OP_UNLINKAT:
		r = unlinkat(sqe->fd, path, (int)sqe->unlink_flags);
		break;
	case IORING_OP_RENAMEAT:
		r = renameat2(sqe->fd, path, (int)sqe->len,
			      (const char *)(uintptr_t)sqe->off,
			      sqe->rename_flags);
		break;
	case IORING_OP_MKDIRAT:
		r = mkdirat(sqe->fd, path, (mode_t)sqe->len);
		break;
	case IORING_OP_SOCKET:
		/* io_uring takes SOCK_NONBLOCK etc. in the type only. */
		if (sqe->rw_flags)
			return -EINVAL;
		r = socket(sqe->fd, (int)sqe->off, (int)sqe->len);
		break;
	case IORING_OP_SHUTDOWN:
		r = shutdown(sqe->fd, (int)sqe->len);
		break;
	default:
		return -EINVAL;
	}
	return r < 0 ? -errno : r;
}

/*
 * splice(2) as io_uring's worker makes it: one call, which waits as the
 * descriptors and flags say (rp_splice() tells callers to pass non-blocking
 * ones where a wait could be long).
 */
static int64_t do_splice(const struct io_uring_sqe *sqe)
{
	loff_t in = (loff_t)sqe->splice_off_in, out = (loff_t)sqe->off;
	bool at_in = sqe->splice_off_in != (__u64)-1;
	bool at_out = sqe->off != (__u64)-1;
	ssize_t n;

	do
		n = splice(sqe->splice_fd_in, at_in ? &in : NULL, sqe->fd,
			   at_out ? &out : NULL, sqe->len, sqe->splice_flags);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int64_t rp__io_blocking_execute(const struct io_uring_sqe *sqe, int cancel_fd,
				int64_t deadline, const _Atomic uint32_t *flags)
{
	const struct waiter w = { cancel_fd, deadline, flags };
	int64_t ret;

	if (!sqe)
		return -EINVAL;
	if (cancel_requested(&w))
		return -ECANCELED;
	if (deadline != INT64_MAX && rp__now_ns() >= deadline)
		return -ETIMEDOUT;

	switch (sqe->opcode) {
	case IORING_OP_NOP:
		return 0;
	case IORING_OP_READ:
	case IORING_OP_WRITE:
	case IORING_OP_READV:
	case IORING_OP_WRITEV:
		return do_rw(sqe, &w);
	case IORING_OP_SEND:
		return do_xfer(sqe, &w, true);
	case IORING_OP_RECV:
		return do_xfer(sqe, &w, false);
	case IORING_OP_ACCEPT:
		return do_accept(sqe, &w);
	case IORING_OP_CONNECT:
		return do_connect(sqe, &w);
	case IORING_OP_POLL_ADD:
		return do_poll(sqe, &w);
	case IORING_OP_SPLICE:
		return do_splice(sqe);
	case IORING_OP_TIMEOUT:
		return do_timeout(sqe, &w);
	case IORING_OP_CLOSE:
		/* Never retried: Linux has closed the descriptor on EINTR. */
		return close(sqe->fd) < 0 ? -errno : 0;
	default:
		do
			ret = do_simple(sqe);
		while (ret == -EINTR);
		return ret;
	}
}
