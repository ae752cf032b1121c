/* SPDX-License-Identifier: MIT */
/*
 * HTTP downloads against the server of httpd.c on 127.0.0.1: bodies and
 * their bytes, statuses and errors, resume at an offset, redirects,
 * Retry-After, back-pressure with a tiny buffer, the rate limit,
 * cancellation, many transfers at once, progress, stalls and refused
 * connections.
 *
 * Registered twice: RINGPOOL_BACKEND=uring and RINGPOOL_BACKEND=threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "httpd.h"
#include "iotest.h"
#include "ringpool.h"
#include "testutil.h"

/* An executor, a client, a server and a scratch directory. */
struct env {
	rp_executor *ex;
	rp_http *h;
	struct th_server *srv;
	uint16_t port;
	struct it_dir dir;
	char url[256];		/* fetch()'s copy of the effective URL */
};

static void env_up(struct env *e, const struct rp_http_config *cfg)
{
	int ret;

	memset(e, 0, sizeof(*e));
	e->ex = it_executor_new(NULL);
	ret = rp_http_new(e->ex, cfg, &e->h);
	CU_ASSERT_EQUAL_FATAL(ret, 0);
	CU_ASSERT_EQUAL_FATAL(th_start(&e->srv, &e->port), 0);
	it_dir_make(&e->dir, NULL);
}

static void env_down(struct env *e)
{
	rp_http_free(e->h);
	th_stop(e->srv);
	it_executor_free(e->ex);
	it_dir_remove(&e->dir);
}

static void url_of(const struct env *e, const char *path, char *buf,
		   size_t size)
{
	snprintf(buf, size, "http://127.0.0.1:%u%s", e->port, path);
}

/* A fresh destination file in the scratch directory. */
static int dest(const struct env *e, const char *name)
{
	char path[512];
	int fd;

	it_path(&e->dir, name, path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	return fd;
}

static rp_http_transfer *start(struct env *e, const char *path, int fd,
			       uint64_t offset)
{
	struct rp_http_request req = { 0 };
	rp_http_transfer *t = NULL;
	char url[256];

	url_of(e, path, url, sizeof(url));
	req.url = url;
	req.fd = fd;
	req.offset = offset;
	CU_ASSERT_EQUAL_FATAL(rp_http_get(e->h, &req, &t), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	return t;
}

/*
 * Downloads `path` into `fd` and waits: returns the future's error
 * (-ECANCELED when cancelled), its value in `*value`, the info in `*info`.
 */
static int fetch(struct env *e, const char *path, int fd, uint64_t offset,
		 int64_t *value, struct rp_http_info *info)
{
	rp_http_transfer *t = start(e, path, fd, offset);
	int err = it_result(rp_http_transfer_future(t), value);

	CU_ASSERT_EQUAL(rp_http_transfer_info(t, info), 0);
	/* effective_url lives as long as the transfer. */
	snprintf(e->url, sizeof(e->url), "%s", info->effective_url);
	info->effective_url = e->url;
	rp_http_transfer_free(t);
	return err;
}

/* True when `fd` holds exactly body `seed` from `from` to its end. */
static bool holds(int fd, uint64_t seed, uint64_t from, uint64_t size)
{
	char *buf = malloc(size ? size : 1);
	struct stat st;
	bool ok;

	if (!buf || fstat(fd, &st) || (uint64_t)st.st_size != size) {
		free(buf);
		return false;
	}
	ok = pread(fd, buf, size, 0) == (ssize_t)size &&
	     it_check(buf + from, size - from, seed, from);
	free(buf);
	return ok;
}

static off_t file_size(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : st.st_size;
}

/* ---- tests ------------------------------------------------------------ */

static void test_config_and_bad_arguments(void)
{
	struct rp_http_request req = { .url = "http://127.0.0.1:1/", .fd = 1 };
	struct rp_http_config cfg;
	rp_http_transfer *t;
	struct rp_http_info info;
	uint64_t done = 7;
	int64_t total = 7;
	struct env e;

	CU_ASSERT_EQUAL(rp_http_config_init(NULL), -EINVAL);
	CU_ASSERT_EQUAL(rp_http_config_init(&cfg), 0);
	CU_ASSERT_EQUAL(cfg.max_per_host, 6);
	CU_ASSERT_EQUAL(cfg.max_redirs, 10);
	CU_ASSERT_EQUAL(cfg.buffer_bytes, 16u << 20);
	CU_ASSERT_EQUAL(cfg.stall_timeout_ns, 0);
	CU_ASSERT_PTR_NULL(cfg.user_agent);

	env_up(&e, NULL);
	CU_ASSERT_EQUAL(rp_http_new(NULL, NULL, &e.h), -EINVAL);
	CU_ASSERT_EQUAL(rp_http_new(e.ex, NULL, NULL), -EINVAL);
	cfg.max_redirs = -1;
	CU_ASSERT_EQUAL(rp_http_new(e.ex, &cfg, &e.h), -EINVAL);
	CU_ASSERT_EQUAL(rp_http_get(NULL, &req, &t), -EINVAL);
	CU_ASSERT_EQUAL(rp_http_get(e.h, NULL, &t), -EINVAL);
	CU_ASSERT_EQUAL(rp_http_get(e.h, &req, NULL), -EINVAL);
	req.fd = -1;
	CU_ASSERT_EQUAL(rp_http_get(e.h, &req, &t), -EINVAL);
	req.fd = 1;
	req.url = NULL;
	CU_ASSERT_EQUAL(rp_http_get(e.h, &req, &t), -EINVAL);
	CU_ASSERT_PTR_NULL(rp_http_transfer_future(NULL));
	CU_ASSERT_EQUAL(rp_http_transfer_info(NULL, &info), -EINVAL);
	rp_http_transfer_progress(NULL, &done, &total);
	CU_ASSERT_EQUAL(done, 0);
	CU_ASSERT_EQUAL(total, -1);
	rp_http_transfer_free(NULL);
	rp_http_free(NULL);
	env_down(&e);
}

static void test_ca_file_is_checked_and_copied(void)
{
	struct rp_http_config cfg;
	struct rp_http_info info;
	char ca[512];
	int64_t value;
	struct env e;
	int fd;

	env_up(&e, NULL);
	CU_ASSERT_EQUAL(rp_http_config_init(&cfg), 0);
	CU_ASSERT_PTR_NULL(cfg.ca_file);
	/* Said once, by the client, rather than by every HTTPS transfer. */
	cfg.ca_file = "/nonexistent/ca.pem";
	rp_http_free(e.h);
	e.h = NULL;
	CU_ASSERT_EQUAL(rp_http_new(e.ex, &cfg, &e.h), -ENOENT);
	CU_ASSERT_PTR_NULL(e.h);
	/* Any readable file will do here; the client keeps its own copy. */
	it_path(&e.dir, "ca.pem", ca, sizeof(ca));
	close(dest(&e, "ca.pem"));
	cfg.ca_file = ca;
	CU_ASSERT_EQUAL_FATAL(rp_http_new(e.ex, &cfg, &e.h), 0);
	memset(ca, 'x', sizeof(ca) - 1);
	/* Plain HTTP does not read it. */
	fd = dest(&e, "out");
	CU_ASSERT_EQUAL(fetch(&e, "/body/1000", fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 1000);
	close(fd);
	env_down(&e);
}

static void test_body_200(void)
{
	struct rp_http_info info;
	int64_t value = -1;
	char url[256];
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "body");
	CU_ASSERT_EQUAL(fetch(&e, "/body/300000", fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 300000);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT_EQUAL(info.bytes, 300000);
	CU_ASSERT_EQUAL(info.size, 300000);
	CU_ASSERT_FALSE(info.resumed);
	CU_ASSERT_EQUAL(info.retry_after_ns, -1);
	CU_ASSERT_STRING_EQUAL(info.error, "");
	url_of(&e, "/body/300000", url, sizeof(url));
	CU_ASSERT_STRING_EQUAL(info.effective_url, url);
	CU_ASSERT(holds(fd, 300000, 0, 300000));
	close(fd);
	env_down(&e);
}

static void test_empty_body(void)
{
	struct rp_http_info info;
	int64_t value = -1;
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "empty");
	CU_ASSERT_EQUAL(fetch(&e, "/body/0", fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 0);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT_EQUAL(info.size, 0);
	CU_ASSERT_EQUAL(file_size(fd), 0);
	close(fd);
	env_down(&e);
}

static void test_body_without_length(void)
{
	struct rp_http_info info;
	int64_t value = -1;
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "nolen");
	CU_ASSERT_EQUAL(fetch(&e, "/nolen/123457", fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 123457);
	CU_ASSERT_EQUAL(info.size, -1);
	CU_ASSERT(holds(fd, 123457, 0, 123457));
	close(fd);
	env_down(&e);
}

/* An HTTP error: -EREMOTEIO, its status, words, nothing written. */
static void check_status(int code)
{
	struct rp_http_info info;
	int64_t value = -1;
	char path[32];
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "status");
	snprintf(path, sizeof(path), "/status/%d", code);
	CU_ASSERT_EQUAL(fetch(&e, path, fd, 0, &value, &info), -EREMOTEIO);
	CU_ASSERT_EQUAL(value, 0);
	CU_ASSERT_EQUAL(info.status, code);
	CU_ASSERT_EQUAL(info.bytes, 0);
	CU_ASSERT(info.error[0] != '\0');
	CU_ASSERT_EQUAL(file_size(fd), 0);
	close(fd);
	env_down(&e);
}

static void test_not_found_404(void)
{
	check_status(404);
}

static void test_server_error_500(void)
{
	check_status(500);
}

static void test_retry_after_503(void)
{
	struct rp_http_info info;
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "retry");
	CU_ASSERT_EQUAL(fetch(&e, "/retry", fd, 0, NULL, &info), -EREMOTEIO);
	CU_ASSERT_EQUAL(info.status, 503);
	CU_ASSERT_EQUAL(info.retry_after_ns, (int64_t)7 * 1000000000);
	close(fd);
	env_down(&e);
}

static void test_resume_206_at_offset(void)
{
	const uint64_t size = 200000, from = 77777;
	struct rp_http_info info;
	int64_t value = -1;
	char *head;
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "resume");
	/* The first part, as an earlier transfer would have left it. */
	head = malloc(from);
	CU_ASSERT_PTR_NOT_NULL_FATAL(head);
	it_fill(head, from, size, 0);
	CU_ASSERT_EQUAL(pwrite(fd, head, from, 0), (ssize_t)from);
	free(head);

	CU_ASSERT_EQUAL(fetch(&e, "/body/200000", fd, from, &value, &info), 0);
	CU_ASSERT_EQUAL(value, (int64_t)(size - from));
	CU_ASSERT_EQUAL(info.status, 206);
	CU_ASSERT(info.resumed);
	CU_ASSERT_EQUAL(info.size, (int64_t)size);
	CU_ASSERT(holds(fd, size, 0, size));
	close(fd);
	env_down(&e);
}

/*
 * Easy handles are reset and reused: a transfer after a ranged one on the
 * same client asks for the whole body again.
 */
static void test_reused_handle_forgets_range(void)
{
	struct rp_http_info info;
	int64_t value = -1;
	struct env e;
	int fd1, fd2;

	env_up(&e, NULL);
	fd1 = dest(&e, "ranged");
	fd2 = dest(&e, "whole");
	CU_ASSERT_EQUAL(fetch(&e, "/body/200000", fd1, 150000, &value, &info),
			0);
	CU_ASSERT_EQUAL(value, 50000);
	CU_ASSERT(info.resumed);
	CU_ASSERT_EQUAL(fetch(&e, "/body/200000", fd2, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 200000);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT_FALSE(info.resumed);
	CU_ASSERT(holds(fd2, 200000, 0, 200000));
	close(fd1);
	close(fd2);
	env_down(&e);
}

/* Resuming a file that is already whole: 416, and the length. */
static void test_resume_past_end_416(void)
{
	struct rp_http_info info;
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "whole");
	CU_ASSERT_EQUAL(fetch(&e, "/body/5000", fd, 5000, NULL, &info),
			-EREMOTEIO);
	CU_ASSERT_EQUAL(info.status, 416);
	CU_ASSERT_EQUAL(info.size, 5000);
	CU_ASSERT_FALSE(info.resumed);
	CU_ASSERT_EQUAL(file_size(fd), 0);
	close(fd);
	env_down(&e);
}

static void test_range_ignored_writes_from_0(void)
{
	const uint64_t size = 150000;
	struct rp_http_info info;
	int64_t value = -1;
	char junk[1000];
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "norange");
	memset(junk, 'x', sizeof(junk));
	CU_ASSERT_EQUAL(pwrite(fd, junk, sizeof(junk), 0),
			(ssize_t)sizeof(junk));
	CU_ASSERT_EQUAL(fetch(&e, "/norange/150000", fd, 1000, &value, &info),
			0);
	CU_ASSERT_EQUAL(value, (int64_t)size);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT_FALSE(info.resumed);
	CU_ASSERT_EQUAL(info.size, (int64_t)size);
	CU_ASSERT(holds(fd, size, 0, size));
	close(fd);
	env_down(&e);
}

static void test_short_body_is_eproto(void)
{
	struct rp_http_info info;
	int64_t value = -1;
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "short");
	CU_ASSERT_EQUAL(fetch(&e, "/short/100000", fd, 0, &value, &info),
			-EPROTO);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT(info.error[0] != '\0');
	/* All that arrived (half the body) was written, at its place. */
	CU_ASSERT_EQUAL(value, 50000);
	CU_ASSERT_EQUAL(info.bytes, (uint64_t)value);
	CU_ASSERT(holds(fd, 100000, 0, 50000));
	close(fd);
	env_down(&e);
}

static void test_redirect_chain(void)
{
	struct rp_http_info info;
	int64_t value = -1;
	char url[256];
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "redir");
	CU_ASSERT_EQUAL(fetch(&e, "/redir/3", fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 1000);
	CU_ASSERT_EQUAL(info.status, 200);
	url_of(&e, "/body/1000", url, sizeof(url));
	CU_ASSERT_STRING_EQUAL(info.effective_url, url);
	CU_ASSERT(holds(fd, 1000, 0, 1000));
	close(fd);
	env_down(&e);
}

static void test_redirect_loop_is_eloop(void)
{
	struct rp_http_config cfg;
	struct rp_http_info info;
	struct env e;
	int fd;

	rp_http_config_init(&cfg);
	cfg.max_redirs = 5;
	env_up(&e, &cfg);
	fd = dest(&e, "loop");
	CU_ASSERT_EQUAL(fetch(&e, "/loop", fd, 0, NULL, &info), -ELOOP);
	CU_ASSERT(info.error[0] != '\0');
	CU_ASSERT_EQUAL(file_size(fd), 0);
	close(fd);
	env_down(&e);
}

static void test_no_redirects_allowed(void)
{
	struct rp_http_config cfg;
	struct rp_http_info info;
	struct env e;
	int fd;

	rp_http_config_init(&cfg);
	cfg.max_redirs = 0;
	env_up(&e, &cfg);
	fd = dest(&e, "noredir");
	CU_ASSERT_EQUAL(fetch(&e, "/redir/0", fd, 0, NULL, &info), -ELOOP);
	close(fd);
	env_down(&e);
}

/*
 * Only http:// and https:// are fetched, whether given or redirected to:
 * libcurl alone would read a file:// URL from the local disk.
 */
static void test_other_schemes_refused(void)
{
	static const char *const urls[] = {
		"file:///etc/hostname",
		"ftp://127.0.0.1:9/x",
		"dict://127.0.0.1:9/x",
	};
	struct rp_http_request req = { 0 };
	struct rp_http_info info;
	rp_http_transfer *t;
	struct env e;
	unsigned i;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "scheme");
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		req.url = urls[i];
		req.fd = fd;
		CU_ASSERT_EQUAL_FATAL(rp_http_get(e.h, &req, &t), 0);
		CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(t), NULL),
				-EPROTONOSUPPORT);
		CU_ASSERT_EQUAL(rp_http_transfer_info(t, &info), 0);
		CU_ASSERT(info.error[0] != '\0');
		rp_http_transfer_free(t);
	}
	CU_ASSERT_EQUAL(fetch(&e, "/to-file", fd, 0, NULL, &info),
			-EPROTONOSUPPORT);
	CU_ASSERT_EQUAL(info.status, 302);
	CU_ASSERT_EQUAL(info.write_error, 0);
	CU_ASSERT_EQUAL(fetch(&e, "/to-ftp", fd, 0, NULL, &info),
			-EPROTONOSUPPORT);
	/* Neither the redirect's own body nor the file reached the file. */
	CU_ASSERT_EQUAL(file_size(fd), 0);
	close(fd);
	env_down(&e);
}

static void test_connect_refused(void)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	struct rp_http_request req = { 0 };
	struct rp_http_info info;
	rp_http_transfer *t;
	char url[128];
	struct env e;
	int s, fd;

	env_up(&e, NULL);
	/* Bound, not listening: a connect to it is refused. */
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_EQUAL_FATAL(bind(s, (struct sockaddr *)&addr, sizeof(addr)),
			      0);
	CU_ASSERT_EQUAL_FATAL(getsockname(s, (struct sockaddr *)&addr, &len),
			      0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/body/10",
		 ntohs(addr.sin_port));
	fd = dest(&e, "refused");
	req.url = url;
	req.fd = fd;
	CU_ASSERT_EQUAL_FATAL(rp_http_get(e.h, &req, &t), 0);
	CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(t), NULL),
			-ECONNREFUSED);
	CU_ASSERT_EQUAL(rp_http_transfer_info(t, &info), 0);
	CU_ASSERT_EQUAL(info.status, 0);
	CU_ASSERT(info.error[0] != '\0');
	rp_http_transfer_free(t);
	close(s);
	close(fd);
	env_down(&e);
}

static void test_bad_url_is_einval(void)
{
	struct rp_http_request req = { 0 };
	struct rp_http_info info;
	rp_http_transfer *t;
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "bad");
	/* An IPv6 literal never closed; an unknown scheme: see above. */
	req.url = "http://[127.0.0.1/";
	req.fd = fd;
	CU_ASSERT_EQUAL_FATAL(rp_http_get(e.h, &req, &t), 0);
	CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(t), NULL), -EINVAL);
	CU_ASSERT_EQUAL(rp_http_transfer_info(t, &info), 0);
	CU_ASSERT(info.error[0] != '\0');
	rp_http_transfer_free(t);
	close(fd);
	env_down(&e);
}

static void test_write_error_is_eio(void)
{
	struct rp_http_info info;
	char path[512];
	struct env e;
	int fd;

	env_up(&e, NULL);
	close(dest(&e, "ro"));
	it_path(&e.dir, "ro", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(fetch(&e, "/body/100000", fd, 0, NULL, &info), -EIO);
	CU_ASSERT(strstr(info.error, "descriptor") != NULL);
	CU_ASSERT_EQUAL(info.write_error, -EBADF);
	close(fd);
	env_down(&e);
}

static void test_stall_timeout(void)
{
	struct rp_http_config cfg;
	struct rp_http_info info;
	struct env e;
	int64_t t0;
	int fd;

	rp_http_config_init(&cfg);
	cfg.stall_timeout_ns = 1000000000 / 2;
	env_up(&e, &cfg);
	fd = dest(&e, "stall");
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(fetch(&e, "/stall", fd, 0, NULL, &info), -ETIMEDOUT);
	CU_ASSERT(tu_now_ns() - t0 >= 450000000);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT(info.error[0] != '\0');
	close(fd);
	env_down(&e);
}

/* Waiting for a connection (max_per_host) is no stall. */
static void test_queued_transfer_is_not_stalled(void)
{
	struct rp_http_config cfg;
	rp_http_transfer *slow, *queued;
	int64_t value = -1;
	struct env e;
	int fd1, fd2;

	rp_http_config_init(&cfg);
	cfg.max_per_host = 1;
	cfg.stall_timeout_ns = 400000000;
	env_up(&e, &cfg);
	fd1 = dest(&e, "slow");
	fd2 = dest(&e, "queued");
	/* 16 pieces 50 ms apart: 800 ms on the only connection. */
	slow = start(&e, "/slow/65536/50", fd1, 0);
	queued = start(&e, "/body/1000", fd2, 0);
	CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(slow), &value), 0);
	CU_ASSERT_EQUAL(value, 65536);
	CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(queued), &value),
			0);
	CU_ASSERT_EQUAL(value, 1000);
	CU_ASSERT(holds(fd1, 65536, 0, 65536));
	CU_ASSERT(holds(fd2, 1000, 0, 1000));
	rp_http_transfer_free(slow);
	rp_http_transfer_free(queued);
	close(fd1);
	close(fd2);
	env_down(&e);
}

static void test_back_pressure_tiny_buffer(void)
{
	const uint64_t size = tu_under_valgrind() ? 512 << 10 : 6 << 20;
	struct rp_http_config cfg;
	struct rp_http_info info;
	int64_t value = -1;
	char path[64];
	struct env e;
	int fd;

	rp_http_config_init(&cfg);
	cfg.buffer_bytes = 4096;
	env_up(&e, &cfg);
	fd = dest(&e, "bp");
	snprintf(path, sizeof(path), "/body/%llu", (unsigned long long)size);
	CU_ASSERT_EQUAL(fetch(&e, path, fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, (int64_t)size);
	CU_ASSERT(holds(fd, size, 0, size));
	close(fd);
	env_down(&e);
}

static void test_back_pressure_many_transfers(void)
{
	const unsigned n = 8;
	const uint64_t size = tu_under_valgrind() ? 100000 : 1 << 20;
	rp_http_transfer *t[8];
	struct rp_http_config cfg;
	char path[64];
	int fd[8];
	struct env e;
	unsigned i;

	rp_http_config_init(&cfg);
	cfg.buffer_bytes = 64 << 10;
	env_up(&e, &cfg);
	snprintf(path, sizeof(path), "/body/%llu", (unsigned long long)size);
	for (i = 0; i < n; i++) {
		fd[i] = dest(&e, i % 2 ? "bpa" : "bpb");
		t[i] = NULL;
	}
	/* Two files, each written by four transfers of the same body. */
	for (i = 0; i < n; i++)
		t[i] = start(&e, path, fd[i], 0);
	for (i = 0; i < n; i++) {
		int64_t value = -1;

		CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(t[i]),
					  &value), 0);
		CU_ASSERT_EQUAL(value, (int64_t)size);
		rp_http_transfer_free(t[i]);
	}
	CU_ASSERT(holds(fd[0], size, 0, size));
	CU_ASSERT(holds(fd[1], size, 0, size));
	for (i = 0; i < n; i++)
		close(fd[i]);
	env_down(&e);
}

static void test_rate_limit(void)
{
	const uint64_t size = 256 << 10;
	struct rp_http_config cfg;
	struct rp_http_info info;
	int64_t value = -1, t0, took;
	struct env e;
	int fd;

	rp_http_config_init(&cfg);
	cfg.max_rate = 1 << 20;		/* 256 KiB: about 0.25 s */
	env_up(&e, &cfg);
	fd = dest(&e, "rate");
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(fetch(&e, "/body/262144", fd, 0, &value, &info), 0);
	took = tu_now_ns() - t0;
	CU_ASSERT_EQUAL(value, (int64_t)size);
	CU_ASSERT(holds(fd, size, 0, size));
	/* An eighth of a second may come in one go. */
	CU_ASSERT(took >= 100000000);
	if (took < 100000000)
		fprintf(stderr, "rate: %lld ms\n", (long long)(took / 1000000));
	close(fd);
	env_down(&e);
}

static atomic_uint ends;

static void count_end(rp_future *f, void *arg)
{
	(void)f;
	(void)arg;
	atomic_fetch_add(&ends, 1);
}

/* Waits until `t` has received something; false if it never does. */
static bool wait_progress(rp_http_transfer *t)
{
	int64_t until = tu_now_ns() + tu_stuck_timeout_ns();
	uint64_t done = 0;

	while (tu_now_ns() < until) {
		rp_http_transfer_progress(t, &done, NULL);
		if (done > 0)
			return true;
		usleep(1000);
	}
	return false;
}

static void test_cancel_mid_transfer(void)
{
	struct rp_http_info info;
	rp_http_transfer *t;
	rp_future *f;
	struct env e;
	int fd, ret;

	env_up(&e, NULL);
	fd = dest(&e, "cancel");
	atomic_store(&ends, 0);
	t = start(&e, "/stall", fd, 0);
	f = rp_http_transfer_future(t);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(f, count_end, NULL), 0);
	CU_ASSERT(wait_progress(t));
	CU_ASSERT(rp_future_running(f));
	CU_ASSERT_EQUAL(rp_http_transfer_info(t, &info), -EBUSY);
	ret = rp_future_cancel(f);
	CU_ASSERT(ret == -EINPROGRESS || ret == 0);
	CU_ASSERT_EQUAL(it_result(f, NULL), -ECANCELED);
	CU_ASSERT(rp_future_cancelled(f));
	/* Again: already cancelled. */
	CU_ASSERT_EQUAL(rp_future_cancel(f), 0);
	/* Callbacks run just after waiters wake: give it a moment. */
	for (ret = 0; ret < 5000 && atomic_load(&ends) == 0; ret++)
		usleep(1000);
	usleep(20000);
	CU_ASSERT_EQUAL(atomic_load(&ends), 1);
	CU_ASSERT_EQUAL(rp_http_transfer_info(t, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.error, "cancelled");
	/* The 100 bytes received were written before it ended, or dropped. */
	CU_ASSERT(info.bytes == 0 || info.bytes == 100);
	rp_http_transfer_free(t);
	CU_ASSERT_EQUAL(atomic_load(&ends), 1);
	close(fd);
	env_down(&e);
}

/*
 * Cancels transfers at random points of their lives: each ends exactly once,
 * either cancelled or with its whole body, never anything else.
 */
static void test_cancel_race_ends_once(void)
{
	const unsigned n = tu_under_valgrind() ? 8 : 48;
	unsigned i, cancelled = 0, whole = 0;
	struct rp_http_config cfg;
	rp_http_transfer **t;
	struct it_rng rng;
	struct env e;
	int *fd;

	rp_http_config_init(&cfg);
	cfg.max_per_host = 16;
	env_up(&e, &cfg);
	it_rng_seed(&rng, 42);
	atomic_store(&ends, 0);
	t = calloc(n, sizeof(*t));
	fd = calloc(n, sizeof(*fd));
	CU_ASSERT_FATAL(t && fd);
	for (i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "race%u", i);
		fd[i] = dest(&e, name);
		t[i] = start(&e, "/body/200000", fd[i], 0);
		CU_ASSERT_EQUAL(rp_future_add_done_callback(
			rp_http_transfer_future(t[i]), count_end, NULL), 0);
		if (it_rng_below(&rng, 4) == 0)
			usleep(it_rng_below(&rng, 2000));
		if (i % 2 == 0) {
			int ret = rp_future_cancel(rp_http_transfer_future(t[i]));

			CU_ASSERT(ret == 0 || ret == -EINPROGRESS ||
				  ret == -EALREADY);
		}
	}
	for (i = 0; i < n; i++) {
		int64_t value = -1;
		int err = it_result(rp_http_transfer_future(t[i]), &value);

		if (err == -ECANCELED) {
			cancelled++;
		} else {
			CU_ASSERT_EQUAL(err, 0);
			CU_ASSERT_EQUAL(value, 200000);
			CU_ASSERT(holds(fd[i], 200000, 0, 200000));
			whole++;
		}
		rp_http_transfer_free(t[i]);
		close(fd[i]);
	}
	CU_ASSERT_EQUAL(cancelled + whole, n);
	CU_ASSERT(cancelled <= (n + 1) / 2);
	for (i = 0; i < 5000 && atomic_load(&ends) < n; i++)
		usleep(1000);
	CU_ASSERT_EQUAL(atomic_load(&ends), n);
	free(t);
	free(fd);
	env_down(&e);
}

static void test_free_running_transfer(void)
{
	rp_http_transfer *t;
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "freerun");
	t = start(&e, "/stall", fd, 0);
	CU_ASSERT(wait_progress(t));
	rp_http_transfer_free(t);	/* cancels and waits */
	close(fd);
	env_down(&e);
}

static void test_client_free_cancels_transfers(void)
{
	rp_http_transfer *t[4];
	rp_future *f[4];
	struct env e;
	int fd, i;

	env_up(&e, NULL);
	fd = dest(&e, "freeall");
	for (i = 0; i < 4; i++) {
		t[i] = start(&e, i < 3 ? "/stall" : "/body/1000", fd, 0);
		f[i] = rp_future_ref(rp_http_transfer_future(t[i]));
	}
	CU_ASSERT(wait_progress(t[0]));
	rp_http_free(e.h);
	e.h = NULL;
	for (i = 0; i < 4; i++) {
		CU_ASSERT(rp_future_done(f[i]));
		if (i < 3)
			CU_ASSERT(rp_future_cancelled(f[i]));
		rp_http_transfer_free(t[i]);
		/* The future outlives the transfer while referenced. */
		CU_ASSERT(rp_future_done(f[i]));
		CU_ASSERT_EQUAL(rp_future_cancel(f[i]),
				rp_future_cancelled(f[i]) ? 0 : -EALREADY);
		rp_future_unref(f[i]);
	}
	close(fd);
	env_down(&e);
}

static void test_many_concurrent_transfers(void)
{
	const unsigned n = tu_under_valgrind() ? 10 : 100;
	struct rp_http_config cfg;
	rp_http_transfer **t;
	char path[64];
	struct env e;
	int *fd;
	unsigned i;

	it_raise_nofile();
	rp_http_config_init(&cfg);
	cfg.max_per_host = 32;
	env_up(&e, &cfg);
	t = calloc(n, sizeof(*t));
	fd = calloc(n, sizeof(*fd));
	CU_ASSERT_FATAL(t && fd);
	for (i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "many%u", i);
		fd[i] = dest(&e, name);
		snprintf(path, sizeof(path), "/body/%u", 1000 + 4099 * i);
		t[i] = start(&e, path, fd[i], 0);
	}
	for (i = 0; i < n; i++) {
		int64_t value = -1;

		CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(t[i]),
					  &value), 0);
		CU_ASSERT_EQUAL(value, 1000 + 4099 * (int64_t)i);
		CU_ASSERT(holds(fd[i], 1000 + 4099 * i, 0, 1000 + 4099 * i));
		rp_http_transfer_free(t[i]);
		close(fd[i]);
	}
	/* Connections were reused: fewer connections than requests. */
	CU_ASSERT_EQUAL(th_requests(e.srv), n);
	free(t);
	free(fd);
	env_down(&e);
}

static void test_progress_monotonic(void)
{
	const uint64_t size = 64 << 10;
	struct rp_http_info info;
	uint64_t done, last = 0;
	int64_t total, value = -1;
	rp_http_transfer *t;
	bool bad = false;
	struct env e;
	int fd;

	env_up(&e, NULL);
	fd = dest(&e, "progress");
	t = start(&e, "/slow/65536/5", fd, 0);
	while (!rp_future_done(rp_http_transfer_future(t))) {
		rp_http_transfer_progress(t, &done, &total);
		if (done < last || (total != -1 && total != (int64_t)size) ||
		    done > size)
			bad = true;
		last = done;
		usleep(500);
	}
	CU_ASSERT_FALSE(bad);
	CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(t), &value), 0);
	rp_http_transfer_progress(t, &done, &total);
	CU_ASSERT(done >= last);
	CU_ASSERT_EQUAL(done, size);
	CU_ASSERT_EQUAL(total, (int64_t)size);
	CU_ASSERT_EQUAL(rp_http_transfer_info(t, &info), 0);
	CU_ASSERT_EQUAL(info.size, (int64_t)size);
	CU_ASSERT_EQUAL(value, (int64_t)size);
	rp_http_transfer_free(t);
	CU_ASSERT(holds(fd, size, 0, size));
	close(fd);
	env_down(&e);
}

/*
 * More idle connections than the fallback has blocking threads: the other
 * transfers and the executor's own I/O still go on.
 */
static void test_idle_connections_do_not_stall(void)
{
	const unsigned n = tu_under_valgrind() ? 20 : 40;
	struct rp_http_config cfg;
	struct rp_http_info info;
	rp_http_transfer **t;
	int64_t value = -1;
	struct env e;
	unsigned i;
	int fd;

	it_raise_nofile();
	rp_http_config_init(&cfg);
	cfg.max_per_host = 64;
	env_up(&e, &cfg);
	fd = dest(&e, "idle");
	t = calloc(n, sizeof(*t));
	CU_ASSERT_FATAL(t != NULL);
	for (i = 0; i < n; i++)
		t[i] = start(&e, "/stall", fd, 0);
	for (i = 0; i < n; i++)
		CU_ASSERT(wait_progress(t[i]));
	CU_ASSERT_EQUAL(it_write(e.ex, fd, "x", 1, 5000, NULL), 0);
	close(fd);
	fd = dest(&e, "idle2");
	CU_ASSERT_EQUAL(fetch(&e, "/body/100000", fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 100000);
	CU_ASSERT(holds(fd, 100000, 0, 100000));
	for (i = 0; i < n; i++)
		rp_http_transfer_free(t[i]);
	free(t);
	close(fd);
	env_down(&e);
}

static const struct tu_test tests[] = {
	{ "config_and_bad_arguments", test_config_and_bad_arguments, false },
	{ "ca_file_is_checked_and_copied", test_ca_file_is_checked_and_copied, false },
	{ "body_200", test_body_200, false },
	{ "empty_body", test_empty_body, false },
	{ "body_without_length", test_body_without_length, false },
	{ "not_found_404", test_not_found_404, false },
	{ "server_error_500", test_server_error_500, false },
	{ "retry_after_503", test_retry_after_503, false },
	{ "resume_206_at_offset", test_resume_206_at_offset, false },
	{ "reused_handle_forgets_range", test_reused_handle_forgets_range,
	  false },
	{ "resume_past_end_416", test_resume_past_end_416, false },
	{ "range_ignored_writes_from_0", test_range_ignored_writes_from_0,
	  false },
	{ "short_body_is_eproto", test_short_body_is_eproto, false },
	{ "redirect_chain", test_redirect_chain, false },
	{ "redirect_loop_is_eloop", test_redirect_loop_is_eloop, false },
	{ "no_redirects_allowed", test_no_redirects_allowed, false },
	{ "other_schemes_refused", test_other_schemes_refused, false },
	{ "connect_refused", test_connect_refused, false },
	{ "bad_url_is_einval", test_bad_url_is_einval, false },
	{ "write_error_is_eio", test_write_error_is_eio, false },
	{ "stall_timeout", test_stall_timeout, false },
	{ "queued_transfer_is_not_stalled",
	  test_queued_transfer_is_not_stalled, false },
	{ "back_pressure_tiny_buffer", test_back_pressure_tiny_buffer, false },
	{ "back_pressure_many_transfers", test_back_pressure_many_transfers,
	  false },
	{ "rate_limit", test_rate_limit, false },
	{ "cancel_mid_transfer", test_cancel_mid_transfer, false },
	{ "cancel_race_ends_once", test_cancel_race_ends_once, false },
	{ "free_running_transfer", test_free_running_transfer, false },
	{ "client_free_cancels_transfers", test_client_free_cancels_transfers,
	  false },
	{ "many_concurrent_transfers", test_many_concurrent_transfers, false },
	{ "progress_monotonic", test_progress_monotonic, false },
	{ "idle_connections_do_not_stall", test_idle_connections_do_not_stall,
	  false },
};

int main(int argc, char **argv)
{
	/* Only 127.0.0.1 is talked to: no proxy from the environment. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	return tu_run_tests(argc, argv, "http", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
