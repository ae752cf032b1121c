/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <CUnit/CUnit.h>

#include "iotest.h"

int it_expected_backend(void)
{
	const char *v = getenv("RINGPOOL_BACKEND");

	if (v && !strcmp(v, "uring"))
		return RP_BACKEND_URING;
	if (v && !strcmp(v, "threads"))
		return RP_BACKEND_THREADS;
	return RP_BACKEND_AUTO;
}

int it_expected_ring_mode(void)
{
	const char *v = getenv("RINGPOOL_RINGS");

	return v && !strcmp(v, "shared") ? RP_RINGS_SHARED : RP_RINGS_OWNED;
}

const char *it_backend_name(int backend)
{
	switch (backend) {
	case RP_BACKEND_URING:
		return "uring";
	case RP_BACKEND_THREADS:
		return "threads";
	case RP_BACKEND_AUTO:
		return "auto";
	}
	return "?";
}

rp_executor *it_executor_new(const struct rp_config *cfg)
{
	int want = it_expected_backend();
	const char *why = NULL;
	rp_executor *ex = NULL;
	struct rp_config def;
	int backend = -1;
	int ret;

	if (!cfg) {
		CU_ASSERT_EQUAL_FATAL(rp_config_init(&def), 0);
		cfg = &def;
	}
	ret = rp_executor_new(cfg, &ex);
	if (ret)
		fprintf(stderr, "rp_executor_new: %s\n", strerror(-ret));
	CU_ASSERT_EQUAL_FATAL(ret, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	CU_ASSERT_EQUAL_FATAL(rp_executor_backend(ex, &backend, &why), 0);
	CU_ASSERT(backend == RP_BACKEND_URING || backend == RP_BACKEND_THREADS);
	if (want != RP_BACKEND_AUTO && backend != want)
		fprintf(stderr, "backend %s in use, %s asked (why: %s)\n",
			it_backend_name(backend), it_backend_name(want),
			why ? why : "(null)");
	if (want != RP_BACKEND_AUTO)
		CU_ASSERT_EQUAL_FATAL(backend, want);
	/* Operations sent to the blocking pool are said so. */
	if (backend == RP_BACKEND_URING && getenv("RINGPOOL_URING_SKIP"))
		CU_ASSERT(why && strstr(why, "blocking-I/O pool"));
	if (backend == RP_BACKEND_URING && cfg->ring_mode == RP_RINGS_AUTO) {
		CU_ASSERT_EQUAL_FATAL(rp_executor_ring_mode(ex),
				      it_expected_ring_mode());
	} else if (backend == RP_BACKEND_THREADS) {
		CU_ASSERT_EQUAL(rp_executor_ring_mode(ex), -ENOTSUP);
	}
	return ex;
}

void it_executor_free(rp_executor *ex)
{
	CU_ASSERT_EQUAL(rp_executor_free(ex), 0);
}

void it_each_thread(bool (*fn)(const char *tid, const char *comm, void *arg),
		    void *arg)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	while ((d = readdir(dir))) {
		char path[300], comm[32];
		FILE *fp;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 d->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		if (!fgets(comm, sizeof(comm), fp))
			comm[0] = 0;
		fclose(fp);
		comm[strcspn(comm, "\n")] = 0;
		if (!fn(d->d_name, comm, arg))
			break;
	}
	closedir(dir);
}

void it_stuck(const char *what)
{
	fprintf(stderr, "library stuck: %s did not end within %lld ms\n",
		what, (long long)(tu_stuck_timeout_ns() / MS));
	fflush(stdout);
	fflush(stderr);
	/* Operations may still write into buffers of the test: stop here. */
	_exit(1);
}

int it_result(rp_future *f, int64_t *value)
{
	int64_t v = INT64_MIN;
	int error = INT_MIN;
	int ret;

	ret = rp_future_result(f, tu_stuck_timeout_ns(), &v, &error);
	if (ret == -ETIMEDOUT)
		it_stuck("a future");
	if (value)
		*value = v;
	if (ret == -ECANCELED)
		return -ECANCELED;
	if (ret)
		fprintf(stderr, "rp_future_result: %d (%s)\n", ret,
			strerror(-ret));
	CU_ASSERT_EQUAL(ret, 0);
	if (ret)
		return INT_MIN;
	return error;
}

int it_end(rp_future *f, int64_t *value)
{
	int error = it_result(f, value);

	rp_future_unref(f);
	return error;
}

static int queued(int ret, rp_future *f, int64_t *value)
{
	CU_ASSERT_EQUAL(ret, 0);
	if (ret) {
		fprintf(stderr, "operation not queued: %s\n", strerror(-ret));
		return IT_NOT_QUEUED;
	}
	return it_end(f, value);
}

int it_read(rp_executor *ex, int fd, void *buf, size_t len, int64_t off,
	    int64_t *value)
{
	rp_future *f = NULL;
	int ret = rp_read(ex, fd, buf, len, off, NULL, &f);

	return queued(ret, f, value);
}

int it_write(rp_executor *ex, int fd, const void *buf, size_t len,
	     int64_t off, int64_t *value)
{
	rp_future *f = NULL;
	int ret = rp_write(ex, fd, buf, len, off, NULL, &f);

	return queued(ret, f, value);
}

int it_read_full(rp_executor *ex, int fd, void *buf, size_t len, int64_t off,
		 int64_t *value)
{
	rp_future *f = NULL;
	int ret = rp_read_full(ex, fd, buf, len, off, NULL, &f);

	return queued(ret, f, value);
}

int it_write_full(rp_executor *ex, int fd, const void *buf, size_t len,
		  int64_t off, int64_t *value)
{
	rp_future *f = NULL;
	int ret = rp_write_full(ex, fd, buf, len, off, NULL, &f);

	return queued(ret, f, value);
}

int it_send(rp_executor *ex, int fd, const void *buf, size_t len, int flags,
	    int64_t *value)
{
	rp_future *f = NULL;
	int ret = rp_send(ex, fd, buf, len, flags, NULL, &f);

	return queued(ret, f, value);
}

int it_recv(rp_executor *ex, int fd, void *buf, size_t len, int flags,
	    int64_t *value)
{
	rp_future *f = NULL;
	int ret = rp_recv(ex, fd, buf, len, flags, NULL, &f);

	return queued(ret, f, value);
}

int it_close(rp_executor *ex, int fd)
{
	rp_future *f = NULL;
	int64_t value = -1;
	int err;

	err = rp_close(ex, fd, NULL, &f);
	err = queued(err, f, &value);
	if (!err)
		CU_ASSERT_EQUAL(value, 0);
	return err;
}

void it_dir_make(struct it_dir *d, const char *base)
{
	const char *bases[] = { base, "/var/tmp", "/tmp", "." };
	char path[sizeof(d->path)];
	size_t i, n_bases = sizeof(bases) / sizeof(bases[0]);

	for (i = 0; i < n_bases; i++) {
		int n;

		if (!bases[i])
			continue;
		n = snprintf(path, sizeof(path), "%s/ringpool-io-XXXXXX",
			     bases[i]);
		if (n > 0 && (size_t)n < sizeof(path) && mkdtemp(path))
			break;
	}
	if (i == n_bases)
		CU_FAIL_FATAL("cannot create a scratch directory");
	memcpy(d->path, path, sizeof(path));
	d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(d->fd >= 0);
}

static void remove_tree(int dirfd)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	fd = dup(dirfd);
	if (fd < 0)
		return;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!unlinkat(dirfd, de->d_name, 0))
			continue;
		sub = openat(dirfd, de->d_name,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub >= 0) {
			remove_tree(sub);
			close(sub);
			unlinkat(dirfd, de->d_name, AT_REMOVEDIR);
		}
	}
	closedir(dir);
}

void it_dir_remove(struct it_dir *d)
{
	if (d->fd < 0)
		return;
	remove_tree(d->fd);
	close(d->fd);
	d->fd = -1;
	CU_ASSERT_EQUAL(rmdir(d->path), 0);
}

void it_path(const struct it_dir *d, const char *name, char *buf,
	     size_t size)
{
	int n = snprintf(buf, size, "%s/%s", d->path, name);

	CU_ASSERT_FATAL(n > 0 && (size_t)n < size);
}

size_t it_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = rl;

		want.rlim_cur = rl.rlim_max;
		if (!setrlimit(RLIMIT_NOFILE, &want))
			rl = want;
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 20)
		return 1u << 20;
	return (size_t)rl.rlim_cur;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static unsigned char pattern_byte(uint64_t seed, uint64_t off)
{
	return (unsigned char)(mix(seed ^ (off >> 3)) >> ((off & 7) * 8));
}

void it_fill(void *buf, size_t len, uint64_t seed, uint64_t offset)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern_byte(seed, offset + i);
}

bool it_check(const void *buf, size_t len, uint64_t seed, uint64_t offset)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != pattern_byte(seed, offset + i))
			return false;
	}
	return true;
}

bool it_all(const void *buf, size_t len, unsigned char c)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != c)
			return false;
	}
	return true;
}

int it_open_rw(const struct it_dir *d, const char *name)
{
	int fd = openat(d->fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			0600);

	CU_ASSERT_FATAL(fd >= 0);
	return fd;
}

int it_einval_either(int ret, rp_future **f)
{
	if (ret)
		return ret;
	return it_end(*f, NULL);
}

void it_unix_pair(int *a, int *b)
{
	int sv[2];

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
					 sv), 0);
	*a = sv[0];
	*b = sv[1];
}

void it_wait_all(rp_future **fs, size_t n)
{
	size_t n_done = 0;
	int ret;

	ret = rp_wait(fs, n, RP_ALL_COMPLETED, 4 * tu_stuck_timeout_ns(), NULL,
		      &n_done);
	if (ret == -ETIMEDOUT)
		it_stuck("rp_wait(RP_ALL_COMPLETED)");
	CU_ASSERT_EQUAL(ret, 0);
	CU_ASSERT_EQUAL(n_done, n);
}

/* A client connected to `addr` with plain system calls. */
int it_tcp_connect(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(connect(fd, (const struct sockaddr *)addr,
				      sizeof(*addr)), 0);
	return fd;
}

/* A connected TCP pair made with plain system calls. */
void it_tcp_pair(int *client, int *server)
{
	struct sockaddr_in addr;
	int lfd = tu_tcp_listener(&addr, 1);

	*client = it_tcp_connect(&addr);
	*server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	CU_ASSERT_FATAL(*server >= 0);
	close(lfd);
}

/* Makes the peer see a reset: SO_LINGER 0, then close. */
void it_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	CU_ASSERT_EQUAL(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
			0);
	CU_ASSERT_EQUAL(close(fd), 0);
}

/* The port a socket is bound to (own) or connected to (peer). */
unsigned it_port_of(int fd, bool peer)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int ret = peer ? getpeername(fd, (struct sockaddr *)&a, &len) :
			 getsockname(fd, (struct sockaddr *)&a, &len);

	CU_ASSERT_EQUAL(ret, 0);
	return ret ? 0 : ntohs(a.sin_port);
}

/* Writes all of `buf` with plain blocking writes; false on an error. */
bool it_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "send: %s\n", strerror(errno));
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads exactly `len` bytes with plain blocking reads; false otherwise. */
bool it_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "recv: %s\n",
				n == 0 ? "end of stream" : strerror(errno));
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Bounds a client socket's blocking calls, so a bug fails, not hangs. */
void it_bound_blocking_calls(int fd)
{
	int64_t ns = tu_stuck_timeout_ns();
	struct timeval tv = {
		.tv_sec = (time_t)(ns / 1000000000),
		.tv_usec = (suseconds_t)(ns % 1000000000 / 1000),
	};

	CU_ASSERT_EQUAL(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				   sizeof(tv)), 0);
	CU_ASSERT_EQUAL(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				   sizeof(tv)), 0);
}

/*
 * Takes a connection waiting in `lfd`'s backlog (with plain accept4), or
 * returns -1 when none comes within the stuck timeout.
 */
int it_accept_waiting(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int ms = (int)(tu_stuck_timeout_ns() / MS);

	if (poll(&p, 1, ms) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

/* Waits on a latch for the stuck timeout, or reports the library stuck. */
void it_latch_wait(struct tu_latch *l, unsigned target, const char *what)
{
	if (!tu_latch_wait_for(l, target, tu_stuck_timeout_ns()))
		it_stuck(what);
}
