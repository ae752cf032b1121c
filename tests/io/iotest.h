/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the I/O test programs: an executor on the backend that
 * RINGPOOL_BACKEND asks for, waiting on a future without hanging, a scratch
 * directory, the descriptor limit and a small random number generator.
 */
#ifndef RINGPOOL_IOTEST_H
#define RINGPOOL_IOTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringpool.h"
#include "testutil.h"

#define MS ((int64_t)1000000)
#define KiB ((size_t)1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)

/*
 * The backend that the environment asks for: RP_BACKEND_URING for
 * RINGPOOL_BACKEND=uring, RP_BACKEND_THREADS for RINGPOOL_BACKEND=threads,
 * RP_BACKEND_AUTO (any will do) when it is unset.
 */
int it_expected_backend(void);
/* RP_RINGS_SHARED when RINGPOOL_RINGS=shared, else RP_RINGS_OWNED. */
int it_expected_ring_mode(void);

/* "uring", "threads" or "auto". */
const char *it_backend_name(int backend);

/*
 * Creates an executor from `cfg` (NULL: rp_config_init() defaults) and checks
 * with rp_executor_backend() that it uses the backend the environment asks
 * for.  Fails the test fatally when it cannot.
 */
rp_executor *it_executor_new(const struct rp_config *cfg);

/* Frees `ex` and checks that rp_executor_free() succeeded. */
void it_executor_free(rp_executor *ex);

/*
 * Waits for `f` for at most tu_stuck_timeout_ns() and releases it.  Returns the
 * future's error (0 or a negative errno) and stores its value in `*value`
 * (may be NULL).  A future that does not end in time means the library is
 * stuck: the program reports it and exits (its buffers may still be in use).
 * A cancelled future returns -ECANCELED.
 */
int it_end(rp_future *f, int64_t *value);

/* As it_end(), without releasing `f`. */
int it_result(rp_future *f, int64_t *value);

/*
 * Synchronous forms: queue the operation (checking that the call succeeds),
 * wait with it_end() and return the operation's error; its value goes to
 * `*value` (may be NULL).  A call that fails returns IT_NOT_QUEUED.
 */
#define IT_NOT_QUEUED (-100000)
int it_read(rp_executor *ex, int fd, void *buf, size_t len, int64_t off,
	    int64_t *value);
int it_write(rp_executor *ex, int fd, const void *buf, size_t len,
	     int64_t off, int64_t *value);
int it_read_full(rp_executor *ex, int fd, void *buf, size_t len, int64_t off,
		 int64_t *value);
int it_write_full(rp_executor *ex, int fd, const void *buf, size_t len,
		  int64_t off, int64_t *value);
int it_send(rp_executor *ex, int fd, const void *buf, size_t len, int flags,
	    int64_t *value);
int it_recv(rp_executor *ex, int fd, void *buf, size_t len, int flags,
	    int64_t *value);
int it_close(rp_executor *ex, int fd);

/* Reports a stuck library and exits the program with status 1. */
void it_stuck(const char *what);

/*
 * Calls fn(tid, comm, arg) for each thread of this process, with the
 * thread's id (as /proc/self/task names it) and its name without the
 * newline, until fn returns false.  Threads that end meanwhile are skipped.
 */
void it_each_thread(bool (*fn)(const char *tid, const char *comm, void *arg),
		    void *arg);

/* A scratch directory, removed with everything in it by it_dir_remove(). */
struct it_dir {
	char path[256];
	int fd;
};

/*
 * Creates a scratch directory under the first of `base` (may be NULL),
 * /var/tmp, /tmp and the working directory that allows it.
 */
void it_dir_make(struct it_dir *d, const char *base);
void it_dir_remove(struct it_dir *d);

/* Writes "<dir>/<name>" into `buf`. */
void it_path(const struct it_dir *d, const char *name, char *buf,
	     size_t size);

/* A file `name` in `d`, created or emptied, open for reading and writing. */
int it_open_rw(const struct it_dir *d, const char *name);

/*
 * An argument the kernel refuses with EINVAL may be refused by the call
 * (general convention) or by the operation (its errno): either will do.
 * `ret` is the call's return value, `*f` what it stored; returns the error.
 */
int it_einval_either(int ret, rp_future **f);

struct sockaddr_in;

/* A connected AF_UNIX stream pair (fatal if not). */
void it_unix_pair(int *a, int *b);
/* Waits for all of `fs`, or reports the library stuck. */
void it_wait_all(rp_future **fs, size_t n);
/* A client connected to `addr` with plain system calls (fatal if not). */
int it_tcp_connect(const struct sockaddr_in *addr);
/* A connected TCP pair made with plain system calls (fatal if not). */
void it_tcp_pair(int *client, int *server);
/* Makes the peer see a reset: SO_LINGER 0, then close. */
void it_reset(int fd);
/* The port a socket is bound to (own) or connected to (peer). */
unsigned it_port_of(int fd, bool peer);
/* Writes all of `buf` with plain blocking sends; false on an error. */
bool it_write_all(int fd, const void *buf, size_t len);
/* Reads exactly `len` bytes with plain blocking receives; false otherwise. */
bool it_read_all(int fd, void *buf, size_t len);
/* Bounds a socket's blocking calls by the stuck timeout: a bug fails. */
void it_bound_blocking_calls(int fd);
/*
 * Takes a connection waiting in `lfd`'s backlog (plain accept4, made
 * non-blocking), or returns -1 when none comes within the stuck timeout.
 */
int it_accept_waiting(int lfd);
/* Waits on a latch for the stuck timeout, or reports the library stuck. */
void it_latch_wait(struct tu_latch *l, unsigned target, const char *what);

/* Raises the soft RLIMIT_NOFILE to the hard one; returns the soft limit. */
size_t it_raise_nofile(void);

/* Fills `buf` with a pattern that depends on `seed` and the byte's offset. */
void it_fill(void *buf, size_t len, uint64_t seed, uint64_t offset);
/* True when `buf` holds it_fill()'s pattern. */
bool it_check(const void *buf, size_t len, uint64_t seed, uint64_t offset);
/* True when all `len` bytes of `buf` are `c`. */
bool it_all(const void *buf, size_t len, unsigned char c);

#endif /* RINGPOOL_IOTEST_H */
