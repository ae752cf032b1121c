/* SPDX-License-Identifier: MIT */
/*
 * The I/O operations: each builds an I/O future holding the SQE io_uring
 * would be given and hands it to the executor's backend.  Also the choice of
 * backend, and the one place where an operation's raw result becomes the
 * future's value, error and final state, for both backends.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "internal.h"

/* ---- backend choice --------------------------------------------------- */

/* Reads RINGPOOL_BACKEND; returns the backend, AUTO when unset, -1 if bad. */
static int backend_from_env(void)
{
	const char *v = getenv("RINGPOOL_BACKEND");

	if (!v || !*v || !strcmp(v, "auto"))
		return RP_BACKEND_AUTO;
	if (!strcmp(v, "uring") || !strcmp(v, "io_uring"))
		return RP_BACKEND_URING;
	if (!strcmp(v, "threads"))
		return RP_BACKEND_THREADS;
	return -1;
}

int rp__io_start(rp_executor *ex, const struct rp_config *cfg)
{
	char why[sizeof(ex->io_why)] = "";
	int want = cfg->backend, ret;
	bool from_env = false;

	/*
	 * A misspelt RINGPOOL_RINGS or RINGPOOL_URING_SKIP is an error, not
	 * a reason to fall back.
	 */
	if (rp__ring_mode(cfg) < 0 || !rp__uring_skip_ok())
		return -EINVAL;
	ex->n_rings = cfg->rings ? cfg->rings : 1;
	if (want == RP_BACKEND_AUTO) {
		want = backend_from_env();
		if (want < 0)
			return -EINVAL;
		from_env = want != RP_BACKEND_AUTO;
	}
	if (want != RP_BACKEND_THREADS) {
		ret = rp__io_uring_backend.start(ex, cfg, why, sizeof(why));
		if (ret == 0) {
			ex->io = &rp__io_uring_backend;
			ex->backend = RP_BACKEND_URING;
			return 0;
		}
		/* Asked for io_uring by name: say so rather than fall back. */
		if (want == RP_BACKEND_URING)
			return ret;
	} else {
		snprintf(why, sizeof(why), "%s",
			 from_env ? "forced by RINGPOOL_BACKEND=threads" :
				    "forced by rp_config.backend");
	}
	ret = rp__io_threads_backend.start(ex, cfg, NULL, 0);
	if (ret < 0)
		return ret;
	ex->io = &rp__io_threads_backend;
	ex->backend = RP_BACKEND_THREADS;
	ex->poll_first = true;	/* io_blocking.c waits before the call */
	snprintf(ex->io_why, sizeof(ex->io_why), "%s", why);
	return 0;
}

void rp__io_destroy(rp_executor *ex)
{
	if (ex->io)
		ex->io->destroy(ex);
	ex->io = NULL;
	free(ex->fixed_fds);
	ex->fixed_fds = NULL;
	free(ex->fixed_bufs);
	ex->fixed_bufs = NULL;
}

int rp_executor_backend(const rp_executor *ex, int *backend, const char **why)
{
	if (!ex || !backend)
		return -EINVAL;
	*backend = ex->backend;
	if (why)
		*why = ex->io_why[0] ? ex->io_why : NULL;
	return 0;
}

/* ---- batches ---------------------------------------------------------- */

_Thread_local struct rp__plug rp__plug
	__attribute__((tls_model("initial-exec")));

int rp_io_batch_begin(rp_executor *ex)
{
	if (!ex || !ex->io)
		return -EINVAL;
	if (rp__plug.depth && rp__plug.ex != ex)
		return -EBUSY;
	rp__plug.ex = ex;
	rp__plug.depth++;
	return 0;
}

void rp__io_flush_plug(void)
{
	rp_executor *ex = rp__plug.ex;

	/* A batch left open across fork() goes nowhere in the child. */
	if (rp__plug.pending && ex->io->flush && !ex->forked)
		ex->io->flush(ex);
	rp__plug.pending = 0;
}

int rp_io_batch_end(rp_executor *ex)
{
	if (!ex || !rp__plug.depth || rp__plug.ex != ex)
		return -EINVAL;
	if (--rp__plug.depth == 0) {
		rp__io_flush_plug();
		rp__plug.ex = NULL;
	}
	return 0;
}

/* ---- completion ------------------------------------------------------- */

void rp__io_complete(rp_future *f, int64_t res)
{
	uint32_t fl = atomic_load_explicit(&f->flags, memory_order_acquire);
	struct rp__iof *io = rp__iof(f);
	uint32_t state = RP__DONE;

	/* An async sleep ends by "timing out": that is its success. */
	if (io->sqe.opcode == IORING_OP_TIMEOUT && res == -ETIME)
		res = 0;
	if (fl & RP__F_MULTI) {
		/* value counts what the callbacks were given */
		f->error = res < 0 ? (int32_t)res : 0;
	} else if (fl & RP__F_FULL) {
		/* value already holds the bytes moved by earlier rounds */
		if (res > 0)
			f->value += res;
		f->error = res < 0 ? (int32_t)res : 0;
		/*
		 * A short round is not the end of the file: one that was not
		 * resubmitted because a cancel or the deadline came meanwhile
		 * was stopped by it (mapped below).
		 */
		if (res > 0 && (uint64_t)res < io->sqe.len &&
		    (fl & (RP__F_CANCEL_REQ | RP__F_TIMED_OUT)))
			f->error = -ECANCELED;
	} else {
		f->value = res > 0 ? res : 0;
		f->error = res < 0 ? (int32_t)res : 0;
	}
	if (f->error == -ECANCELED || f->error == -ETIMEDOUT ||
	    f->error == -ETIME) {
		if (fl & RP__F_TIMED_OUT) {
			f->error = -ETIMEDOUT;
		} else if ((fl & RP__F_CANCEL_REQ) && (fl & RP__F_FULL) &&
			   f->value > 0) {
			/*
			 * Bytes already moved stay in the value, as for a
			 * deadline: a cancelled future gives none, and what a
			 * read took from a pipe or socket would be lost.
			 */
			f->error = -ECANCELED;
		} else if (fl & RP__F_CANCEL_REQ) {
			state = RP__CANCELLED;
		}
	}
	rp__future_finish(f, state);
}

/* ---- building operations ---------------------------------------------- */

/*
 * Starts an operation: checks the common arguments, reserves the right to
 * queue (see rp__submit_enter) and allocates the future.  On success the
 * caller fills *sqe and calls io_end().  `takes`: which of the flags that
 * only some operations take (RP_IO_FIXED_FILE, RP_IO_FIXED_BUF,
 * RP_IO_POLL_FIRST) this one does.  RP_IO_FIXED_FILE only where io_uring
 * looks the SQE's fd up in the table: it refuses the flag (-EBADF) for
 * openat, statx, unlinkat, renameat, mkdirat and close, and ignores it for
 * socket and nop, while the fallback would translate the index (and close
 * the caller's descriptor), so the two backends would disagree.
 */
static int io_begin(rp_executor *ex, const struct rp_io_opts *opts,
		    unsigned takes, rp_future **out, struct rp__iof **iop)
{
	unsigned oflags = opts ? opts->flags : 0;
	struct rp__iof *io;
	rp_future *f;
	int ret;

	if (!ex || !out || ex->internal || !ex->io)
		return -EINVAL;
	if ((oflags & ~(RP_IO_RING | takes)) ||
	    ((oflags & RP_IO_RING) && opts->ring >= ex->n_rings))
		return -EINVAL;
	ret = rp__submit_enter(ex);
	if (ret)
		return ret;
	f = rp__future_alloc(ex, RP__CLASS_IO);
	if (!f) {
		rp__submit_exit(ex);
		return -ENOMEM;
	}
	rp__future_init(f, ex, NULL, NULL);
	atomic_store_explicit(&f->flags,
			      RP__F_IO | ((oflags & RP_IO_RING)
					  ? (opts->ring + 1) << RP__F_RING_SHIFT
					  : 0),
			      memory_order_relaxed);
	io = rp__iof(f);
	memset(&io->sqe, 0, sizeof(io->sqe));
	if (opts && opts->timeout_ns > 0) {
		int64_t at = rp__deadline(opts->timeout_ns);

		f->u.io.deadline.tv_sec = at / 1000000000;
		f->u.io.deadline.tv_nsec = at % 1000000000;
		atomic_fetch_or_explicit(&f->flags, RP__F_DEADLINE,
					 memory_order_relaxed);
	}
	/* Kept in the SQE's user_data until io_end() sets the flag. */
	io->sqe.user_data = oflags & RP_IO_FIXED_FILE;
	*iop = io;
	return 0;
}

static int io_end(rp_executor *ex, struct rp__iof *io, rp_future **out)
{
	if (io->sqe.user_data & RP_IO_FIXED_FILE)
		io->sqe.flags |= IOSQE_FIXED_FILE;
	io->sqe.user_data = (uint64_t)(uintptr_t)&io->f;
	ex->io->submit(ex, &io->f);
	rp__submit_exit(ex);
	*out = &io->f;
	return 0;
}

/* Kernel I/O never moves more than this in one call (MAX_RW_COUNT). */
#define RP_MAX_RW 0x7ffff000u

static unsigned clamp_len(size_t len)
{
	return len > RP_MAX_RW ? RP_MAX_RW : (unsigned)len;
}

static int rw(rp_executor *ex, int op, int fd, const void *buf, size_t len,
	      int64_t offset, bool full, const struct rp_io_opts *opts,
	      rp_future **out)
{
	struct rp__iof *io;
	int ret;

	bool fixed = opts && (opts->flags & RP_IO_FIXED_BUF);

	if ((!buf && len) || offset < -1 || (full && len > UINT32_MAX))
		return -EINVAL;
	if (fixed && (!ex || opts->buf_index >= ex->n_fixed_bufs))
		return -EINVAL;
	ret = io_begin(ex, opts, RP_IO_FIXED_FILE | RP_IO_FIXED_BUF, out, &io);
	if (ret)
		return ret;
	if (fixed)
		op = op == IORING_OP_READ ? IORING_OP_READ_FIXED :
					    IORING_OP_WRITE_FIXED;
	io_uring_prep_rw(op, &io->sqe, fd, buf, full ? (unsigned)len :
			 clamp_len(len), (uint64_t)offset);
	if (fixed)
		io->sqe.buf_index = (uint16_t)opts->buf_index;
	if (full)
		atomic_fetch_or_explicit(&io->f.flags, RP__F_FULL,
					 memory_order_relaxed);
	return io_end(ex, io, out);
}

int rp_read(rp_executor *ex, int fd, void *buf, size_t len, int64_t offset,
	    const struct rp_io_opts *opts, rp_future **out)
{
	return rw(ex, IORING_OP_READ, fd, buf, len, offset, false, opts, out);
}

int rp_write(rp_executor *ex, int fd, const void *buf, size_t len,
	     int64_t offset, const struct rp_io_opts *opts, rp_future **out)
{
	return rw(ex, IORING_OP_WRITE, fd, buf, len, offset, false, opts, out);
}

int rp_read_full(rp_executor *ex, int fd, void *buf, size_t len,
		 int64_t offset, const struct rp_io_opts *opts,
		 rp_future **out)
{
	return rw(ex, IORING_OP_READ, fd, buf, len, offset, true, opts, out);
}

int rp_write_full(rp_executor *ex, int fd, const void *buf, size_t len,
		  int64_t offset, const struct rp_io_opts *opts,
		  rp_future **out)
{
	return rw(ex, IORING_OP_WRITE, fd, buf, len, offset, true, opts, out);
}

static int rwv(rp_executor *ex, int op, int fd, const struct iovec *iov,
	       int iovcnt, int64_t offset, const struct rp_io_opts *opts,
	       rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!iov || iovcnt <= 0 || iovcnt > IOV_MAX || offset < -1)
		return -EINVAL;
	ret = io_begin(ex, opts, RP_IO_FIXED_FILE, out, &io);
	if (ret)
		return ret;
	io_uring_prep_rw(op, &io->sqe, fd, iov, (unsigned)iovcnt,
			 (uint64_t)offset);
	return io_end(ex, io, out);
}

int rp_readv(rp_executor *ex, int fd, const struct iovec *iov, int iovcnt,
	     int64_t offset, const struct rp_io_opts *opts, rp_future **out)
{
	return rwv(ex, IORING_OP_READV, fd, iov, iovcnt, offset, opts, out);
}

int rp_writev(rp_executor *ex, int fd, const struct iovec *iov, int iovcnt,
	      int64_t offset, const struct rp_io_opts *opts, rp_future **out)
{
	return rwv(ex, IORING_OP_WRITEV, fd, iov, iovcnt, offset, opts, out);
}

int rp_splice(rp_executor *ex, int fd_in, int64_t off_in, int fd_out,
	      int64_t off_out, size_t len, unsigned flags,
	      const struct rp_io_opts *opts, rp_future **out)
{
	const unsigned takes = SPLICE_F_MOVE | SPLICE_F_NONBLOCK |
			       SPLICE_F_MORE;
	struct rp__iof *io;
	int ret;

	if (off_in < -1 || off_out < -1 || (flags & ~takes) ||
	    (opts && (opts->flags & RP_IO_FIXED_FILE)))
		return -EINVAL;
	ret = io_begin(ex, opts, 0, out, &io);
	if (ret)
		return ret;
	io_uring_prep_splice(&io->sqe, fd_in, off_in, fd_out, off_out,
			     clamp_len(len), flags);
	return io_end(ex, io, out);
}

int rp_openat(rp_executor *ex, int dirfd, const char *path, int flags,
	      unsigned mode, const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!path)
		return -EINVAL;
	ret = io_begin(ex, opts, 0, out, &io);
	if (ret)
		return ret;
	io_uring_prep_openat(&io->sqe, dirfd, path, flags, mode);
	return io_end(ex, io, out);
}

int rp_close(rp_executor *ex, int fd, const struct rp_io_opts *opts,
	     rp_future **out)
{
	struct rp__iof *io;
	int ret = io_begin(ex, opts, 0, out, &io);

	if (ret)
		return ret;
	io_uring_prep_close(&io->sqe, fd);
	return io_end(ex, io, out);
}

int rp_fsync(rp_executor *ex, int fd, unsigned flags,
	     const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (flags & ~RP_FSYNC_DATASYNC)
		return -EINVAL;
	ret = io_begin(ex, opts, RP_IO_FIXED_FILE, out, &io);
	if (ret)
		return ret;
	io_uring_prep_fsync(&io->sqe, fd, flags & RP_FSYNC_DATASYNC ?
			    IORING_FSYNC_DATASYNC : 0);
	return io_end(ex, io, out);
}

int rp_fallocate(rp_executor *ex, int fd, int mode, int64_t offset,
		 int64_t len, const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (offset < 0 || len <= 0)
		return -EINVAL;
	ret = io_begin(ex, opts, RP_IO_FIXED_FILE, out, &io);
	if (ret)
		return ret;
	io_uring_prep_fallocate(&io->sqe, fd, mode, (uint64_t)offset,
				(uint64_t)len);
	return io_end(ex, io, out);
}

int rp_statx(rp_executor *ex, int dirfd, const char *path, int flags,
	     unsigned mask, struct statx *stx, const struct rp_io_opts *opts,
	     rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!path || !stx)
		return -EINVAL;
	ret = io_begin(ex, opts, 0, out, &io);
	if (ret)
		return ret;
	io_uring_prep_statx(&io->sqe, dirfd, path, flags, mask, stx);
	return io_end(ex, io, out);
}

int rp_unlinkat(rp_executor *ex, int dirfd, const char *path, int flags,
		const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!path)
		return -EINVAL;
	ret = io_begin(ex, opts, 0, out, &io);
	if (ret)
		return ret;
	io_uring_prep_unlinkat(&io->sqe, dirfd, path, flags);
	return io_end(ex, io, out);
}

int rp_renameat(rp_executor *ex, int olddirfd, const char *oldpath,
		int newdirfd, const char *newpath, unsigned flags,
		const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!oldpath || !newpath)
		return -EINVAL;
	ret = io_begin(ex, opts, 0, out, &io);
	if (ret)
		return ret;
	io_uring_prep_renameat(&io->sqe, olddirfd, oldpath, newdirfd, newpath,
			       flags);
	return io_end(ex, io, out);
}

int rp_mkdirat(rp_executor *ex, int dirfd, const char *path, unsigned mode,
	       const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!path)
		return -EINVAL;
	ret = io_begin(ex, opts, 0, out, &io);
	if (ret)
		return ret;
	io_uring_prep_mkdirat(&io->sqe, dirfd, path, mode);
	return io_end(ex, io, out);
}

int rp_socket(rp_executor *ex, int domain, int type, int protocol,
	      const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret = io_begin(ex, opts, 0, out, &io);

	if (ret)
		return ret;
	io_uring_prep_socket(&io->sqe, domain, type, protocol, 0);
	return io_end(ex, io, out);
}

int rp_connect(rp_executor *ex, int fd, const struct sockaddr *addr,
	       unsigned addrlen, const struct rp_io_opts *opts,
	       rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!addr || addrlen == 0)
		return -EINVAL;
	ret = io_begin(ex, opts, RP_IO_FIXED_FILE, out, &io);
	if (ret)
		return ret;
	io_uring_prep_connect(&io->sqe, fd, addr, addrlen);
	return io_end(ex, io, out);
}

int rp_accept(rp_executor *ex, int fd, struct sockaddr *addr,
	      unsigned *addrlen, int flags, const struct rp_io_opts *opts,
	      rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!addr != !addrlen)
		return -EINVAL;
	ret = io_begin(ex, opts, RP_IO_FIXED_FILE, out, &io);
	if (ret)
		return ret;
	io_uring_prep_accept(&io->sqe, fd, addr, (socklen_t *)addrlen, flags);
	return io_end(ex, io, out);
}

/* RP_IO_POLL_FIRST, where the backend carries it out. */
static void poll_first(const rp_executor *ex, struct rp__iof *io,
		       const struct rp_io_opts *opts)
{
	if (opts && (opts->flags & RP_IO_POLL_FIRST) && ex->poll_first)
		io->sqe.ioprio |= IORING_RECVSEND_POLL_FIRST;
}

int rp_send(rp_executor *ex, int fd, const void *buf, size_t len, int flags,
	    const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!buf && len)
		return -EINVAL;
	ret = io_begin(ex, opts, RP_IO_FIXED_FILE | RP_IO_POLL_FIRST, out,
		       &io);
	if (ret)
		return ret;
	/*
	 * io_uring's send gives -EPIPE without SIGPIPE for a peer that has
	 * gone (Linux 6.18), while send(2) on the fallback raised it and
	 * killed a program that had not ignored it: ask for that everywhere.
	 */
	io_uring_prep_send(&io->sqe, fd, buf, clamp_len(len),
			   flags | MSG_NOSIGNAL);
	poll_first(ex, io, opts);
	return io_end(ex, io, out);
}

int rp_recv(rp_executor *ex, int fd, void *buf, size_t len, int flags,
	    const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!buf && len)
		return -EINVAL;
	ret = io_begin(ex, opts, RP_IO_FIXED_FILE | RP_IO_POLL_FIRST, out,
		       &io);
	if (ret)
		return ret;
	io_uring_prep_recv(&io->sqe, fd, buf, clamp_len(len), flags);
	poll_first(ex, io, opts);
	return io_end(ex, io, out);
}

int rp_shutdown(rp_executor *ex, int fd, int how,
		const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret = io_begin(ex, opts, RP_IO_FIXED_FILE, out, &io);

	if (ret)
		return ret;
	io_uring_prep_shutdown(&io->sqe, fd, how);
	return io_end(ex, io, out);
}

int rp_poll(rp_executor *ex, int fd, unsigned events,
	    const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret = io_begin(ex, opts, RP_IO_FIXED_FILE, out, &io);

	if (ret)
		return ret;
	io_uring_prep_poll_add(&io->sqe, fd, events);
	return io_end(ex, io, out);
}

int rp_sleep(rp_executor *ex, int64_t ns, rp_future **out)
{
	return rp__sleep(ex, ns, NULL, out);
}

int rp__sleep(rp_executor *ex, int64_t ns, const struct rp_io_opts *opts,
	      rp_future **out)
{
	struct rp__iof *io;
	int64_t at;
	int ret;

	if (ns < 0 || (opts && (opts->timeout_ns > 0 ||
				(opts->flags & ~RP_IO_RING))))
		return -EINVAL;
	ret = io_begin(ex, opts, 0, out, &io);
	if (ret)
		return ret;
	/* Absolute, so the timespec means the same whenever it is read. */
	at = rp__deadline(ns);
	io->f.u.io.deadline.tv_sec = at / 1000000000;
	io->f.u.io.deadline.tv_nsec = at % 1000000000;
	io_uring_prep_timeout(&io->sqe, &io->f.u.io.deadline, 0,
			      IORING_TIMEOUT_ABS);
	return io_end(ex, io, out);
}

int rp_nop(rp_executor *ex, const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret = io_begin(ex, opts, 0, out, &io);

	if (ret)
		return ret;
	io_uring_prep_nop(&io->sqe);
	return io_end(ex, io, out);
}

/* ---- multishot -------------------------------------------------------- */

bool rp__io_multi_deliver(rp_future *f, int64_t res, const void *data)
{
	if (rp__iof(f)->sqe.opcode == IORING_OP_ACCEPT) {
		if (res < 0)
			return false;
		f->value++;
		f->u.multi.fn.accept(f->u.multi.arg, (int)res);
		return true;
	}
	if (res < 0)
		return false;
	f->value += res;
	f->u.multi.fn.recv(f->u.multi.arg, data, (size_t)res);
	return res > 0;
}

static int multi_begin(rp_executor *ex, const struct rp_io_opts *opts,
		       rp_future **out, struct rp__iof **iop)
{
	struct rp_io_opts ring = {0};
	int ret;

	if (opts && (opts->timeout_ns > 0 || (opts->flags & ~RP_IO_RING)))
		return -EINVAL;
	if (opts && (opts->flags & RP_IO_RING)) {
		ring.flags = RP_IO_RING;
		ring.ring = opts->ring;
	}
	ret = io_begin(ex, &ring, 0, out, iop);
	if (ret)
		return ret;
	atomic_fetch_or_explicit(&(*iop)->f.flags, RP__F_MULTI,
				 memory_order_relaxed);
	return 0;
}

int rp_accept_multishot(rp_executor *ex, int fd, int flags, rp_accept_fn fn,
			void *arg, const struct rp_io_opts *opts,
			rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!fn)
		return -EINVAL;
	ret = multi_begin(ex, opts, out, &io);
	if (ret)
		return ret;
	io_uring_prep_multishot_accept(&io->sqe, fd, NULL, NULL, flags);
	io->f.u.multi.fn.accept = fn;
	io->f.u.multi.arg = arg;
	return io_end(ex, io, out);
}

int rp_recv_multishot(rp_executor *ex, int fd, rp_recv_fn fn, void *arg,
		      const struct rp_io_opts *opts, rp_future **out)
{
	struct rp__iof *io;
	int ret;

	if (!fn)
		return -EINVAL;
	if (ex && ex->no_multishot_recv)
		return -EOPNOTSUPP;
	ret = multi_begin(ex, opts, out, &io);
	if (ret)
		return ret;
	/* Buffer group 0: each ring's own buffer ring (io_uring_setup.c). */
	io_uring_prep_recv_multishot(&io->sqe, fd, NULL, 0, 0);
	io->sqe.flags |= IOSQE_BUFFER_SELECT;
	io->sqe.buf_group = 0;
	io->f.u.multi.fn.recv = fn;
	io->f.u.multi.arg = arg;
	return io_end(ex, io, out);
}

/* ---- registered files and buffers ------------------------------------- */

/*
 * What both backends refuse alike: io_uring's registration waits for each
 * ring's thread, so it cannot be made from one (-EDEADLK), and it goes
 * through the submit gate (-ESHUTDOWN, -ENOTRECOVERABLE).  The fallback's
 * table needs neither, but the same program must get the same answers.
 */
static int reg_begin(rp_executor *ex)
{
	int ret;

	if (ex->io->on_own_thread(ex))
		return -EDEADLK;
	ret = rp__submit_enter(ex);
	if (ret == 0)
		rp__submit_exit(ex);
	return ret;
}

/*
 * Registers `n` items of `size` bytes (files or buffers, `kind`) and keeps a
 * copy in the executor for the fallback, which translates indexes and
 * checks ranges itself: the copy replaces the old one under io_lock once
 * the backend took the registration.
 */
static int reg_table(rp_executor *ex, int kind, const void *items, unsigned n,
		     size_t size)
{
	void *copy = NULL, *old;
	int ret = reg_begin(ex);

	if (ret)
		return ret;
	if (n) {
		copy = malloc(n * size);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, items, n * size);
	}
	pthread_mutex_lock(&ex->io_lock);
	ret = ex->io->reg(ex, kind, items, n);
	if (ret == 0 && kind == RP__REG_FILES) {
		old = ex->fixed_fds;
		ex->fixed_fds = copy;
		ex->n_fixed_fds = n;
		copy = old;
	} else if (ret == 0) {
		old = ex->fixed_bufs;
		ex->fixed_bufs = copy;
		ex->n_fixed_bufs = n;
		copy = old;
	}
	pthread_mutex_unlock(&ex->io_lock);
	free(copy);
	return ret;
}

int rp_register_files(rp_executor *ex, const int *fds, unsigned n)
{
	if (!ex || ex->internal || !ex->io || (n && !fds) || n > 32768)
		return -EINVAL;
	return reg_table(ex, RP__REG_FILES, fds, n, sizeof(*fds));
}

int rp_register_buffers(rp_executor *ex, const struct iovec *iov, unsigned n)
{
	if (!ex || ex->internal || !ex->io || (n && !iov) || n > 1024)
		return -EINVAL;
	/* Kept so that the fallback refuses what the kernel would (-EFAULT). */
	return reg_table(ex, RP__REG_BUFFERS, iov, n, sizeof(*iov));
}
