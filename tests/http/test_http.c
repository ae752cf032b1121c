/* SPDX-License-Identifier: MIT */
/*
 * HTTP downloads against the server of httpd.c on 127.0.0.1: the client's
 * configuration, bodies and their bytes, statuses and errors, Retry-After,
 * resume at an offset, redirects, schemes other than http and https,
 * refused connections, bad URLs and write errors.  test_http_flow.c has
 * how transfers move: stalls, back-pressure, the rate limit, cancellation,
 * many at once, progress.
 *
 * Registered three times: RINGPOOL_BACKEND=uring, RINGPOOL_BACKEND=threads
 * and shared rings.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "htenv.h"
#include "httpd.h"
#include "iotest.h"
#include "ringpool.h"
#include "testutil.h"

/* ---- tests ------------------------------------------------------------ */

/* Whether a libcurl is mapped into this process. */
static bool libcurl_mapped(void)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/libcurl"))
			found = true;
	fclose(f);
	return found;
}

/*
 * libringpool opens libcurl only for the first client (lib/http_curl.c).
 * Runs first: no client has been made in this process before it.
 */
static void test_libcurl_loaded_with_the_first_client(void)
{
	const char *v;
	struct env e;

	CU_ASSERT_FALSE(libcurl_mapped());
	ht_env_up(&e, NULL);
	CU_ASSERT_PTR_NOT_NULL(e.h);
	CU_ASSERT_TRUE(libcurl_mapped());
	v = rp_http_curl_version();
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT(v[0] >= '7' && v[0] <= '9' && strchr(v, '.') != NULL);
	ht_env_down(&e);
}

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
	CU_ASSERT_EQUAL(cfg.ring, -1);

	ht_env_up(&e, NULL);
	CU_ASSERT_EQUAL(rp_http_new(NULL, NULL, &e.h), -EINVAL);
	CU_ASSERT_EQUAL(rp_http_new(e.ex, NULL, NULL), -EINVAL);
	cfg.max_redirs = -1;
	CU_ASSERT_EQUAL(rp_http_new(e.ex, &cfg, &e.h), -EINVAL);
	cfg.max_redirs = 10;
	{
		static const char *const bad[] = {
			"NoColon", ": no name", "Two Words: x", "X: a\r\nY: b",
			"X: bell\a", "Range: bytes=0-", "range: bytes=5-",
		};
		static const char *const good[] = { "X-Token: a\tb", "Accept:",
						    NULL };
		const char *one[2] = { NULL, NULL };
		rp_http *h = NULL;
		size_t i;

		CU_ASSERT_PTR_NULL(cfg.headers);
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			one[0] = bad[i];
			cfg.headers = one;
			CU_ASSERT_EQUAL(rp_http_new(e.ex, &cfg, &h), -EINVAL);
		}
		cfg.headers = good;
		CU_ASSERT_EQUAL(rp_http_new(e.ex, &cfg, &h), 0);
		rp_http_free(h);
		cfg.headers = NULL;
	}
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
	ht_env_down(&e);
}

/* Where a transfer's done-callback ran, and a latch it posts after. */
struct ran_on {
	char name[16];
	struct tu_latch *done;
};

static void name_of_thread(rp_future *f, void *arg)
{
	struct ran_on *r = arg;

	(void)f;
	pthread_getname_np(pthread_self(), r->name, sizeof(r->name));
	tu_latch_post(r->done);
}

/*
 * rp_http_config::ring: out of range is -EINVAL; two clients, each on a
 * ring of its own, download at once, and with owned io_uring rings each
 * one's transfers end on its ring's thread.
 */
static void test_client_on_a_chosen_ring(void)
{
	struct rp_http_config cfg;
	struct rp_config xc;
	rp_http_transfer *t[2];
	rp_http *h[2] = { NULL, NULL };
	struct ran_on ran[2];
	struct tu_latch done;
	int backend = -1, fd[2], i;
	rp_executor *keep;
	rp_http *keep_h;
	int64_t value;
	struct env e;

	tu_latch_init(&done);
	ran[0].done = ran[1].done = &done;
	ht_env_up(&e, NULL);
	rp_config_init(&xc);
	xc.rings = 2;
	/* The environment's server and folder, with an executor of 2 rings. */
	keep = e.ex;
	keep_h = e.h;
	e.ex = it_executor_new(&xc);
	CU_ASSERT_EQUAL(rp_http_config_init(&cfg), 0);
	cfg.ring = 2;
	CU_ASSERT_EQUAL(rp_http_new(e.ex, &cfg, &h[0]), -EINVAL);
	CU_ASSERT_PTR_NULL(h[0]);
	for (i = 0; i < 2; i++) {
		cfg.ring = i;
		CU_ASSERT_EQUAL_FATAL(rp_http_new(e.ex, &cfg, &h[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		char path[32];

		snprintf(path, sizeof(path), "ring%d", i);
		fd[i] = ht_dest(&e, path);
		e.h = h[i];
		/* Slow enough that the callback is in before it ends. */
		t[i] = ht_start(&e, i ? "/slow/12288/20" : "/slow/16384/20",
				fd[i], 0);
		CU_ASSERT_EQUAL(rp_future_add_done_callback(
				rp_http_transfer_future(t[i]), name_of_thread,
				&ran[i]), 0);
	}
	e.h = NULL;
	for (i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(t[i]),
					  &value), 0);
		CU_ASSERT_EQUAL(value, i ? 12288 : 16384);
		CU_ASSERT(ht_holds(fd[i], i ? 12288 : 16384, 0,
				   i ? 12288 : 16384));
		rp_http_transfer_free(t[i]);
		close(fd[i]);
	}
	/* A future is done before its callbacks have all run. */
	it_latch_wait(&done, 2, "the transfers' done-callbacks");
	CU_ASSERT_EQUAL(rp_executor_backend(e.ex, &backend, NULL), 0);
	if (backend == RP_BACKEND_URING &&
	    rp_executor_ring_mode(e.ex) == RP_RINGS_OWNED) {
		CU_ASSERT_STRING_EQUAL(ran[0].name, "rp-ring0");
		CU_ASSERT_STRING_EQUAL(ran[1].name, "rp-ring1");
	}
	for (i = 0; i < 2; i++)
		rp_http_free(h[i]);
	it_executor_free(e.ex);
	e.ex = keep;
	e.h = keep_h;
	ht_env_down(&e);
	tu_latch_destroy(&done);
}

static void test_ca_file_is_checked_and_copied(void)
{
	struct rp_http_config cfg;
	struct rp_http_info info;
	char ca[512];
	int64_t value;
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
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
	close(ht_dest(&e, "ca.pem"));
	cfg.ca_file = ca;
	CU_ASSERT_EQUAL_FATAL(rp_http_new(e.ex, &cfg, &e.h), 0);
	memset(ca, 'x', sizeof(ca) - 1);
	/* Plain HTTP does not read it. */
	fd = ht_dest(&e, "out");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/body/1000", fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 1000);
	close(fd);
	ht_env_down(&e);
}

static void test_body_200(void)
{
	struct rp_http_info info;
	int64_t value = -1;
	char url[256];
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "body");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/body/300000", fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 300000);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT_EQUAL(info.bytes, 300000);
	CU_ASSERT_EQUAL(info.size, 300000);
	CU_ASSERT_FALSE(info.resumed);
	CU_ASSERT_EQUAL(info.retry_after_ns, -1);
	CU_ASSERT_STRING_EQUAL(info.error, "");
	ht_url_of(&e, "/body/300000", url, sizeof(url));
	CU_ASSERT_STRING_EQUAL(info.effective_url, url);
	CU_ASSERT(ht_holds(fd, 300000, 0, 300000));
	close(fd);
	ht_env_down(&e);
}

static void test_empty_body(void)
{
	struct rp_http_info info;
	int64_t value = -1;
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "empty");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/body/0", fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 0);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT_EQUAL(info.size, 0);
	CU_ASSERT_EQUAL(ht_file_size(fd), 0);
	close(fd);
	ht_env_down(&e);
}

static void test_body_without_length(void)
{
	struct rp_http_info info;
	int64_t value = -1;
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "nolen");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/nolen/123457", fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 123457);
	CU_ASSERT_EQUAL(info.size, -1);
	CU_ASSERT(ht_holds(fd, 123457, 0, 123457));
	close(fd);
	ht_env_down(&e);
}

/* An HTTP error: -EREMOTEIO, its status, words, nothing written. */
static void check_status(int code)
{
	struct rp_http_info info;
	int64_t value = -1;
	char path[32];
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "status");
	snprintf(path, sizeof(path), "/status/%d", code);
	CU_ASSERT_EQUAL(ht_fetch(&e, path, fd, 0, &value, &info), -EREMOTEIO);
	CU_ASSERT_EQUAL(value, 0);
	CU_ASSERT_EQUAL(info.status, code);
	CU_ASSERT_EQUAL(info.bytes, 0);
	CU_ASSERT(info.error[0] != '\0');
	CU_ASSERT_EQUAL(ht_file_size(fd), 0);
	close(fd);
	ht_env_down(&e);
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

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "retry");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/retry", fd, 0, NULL, &info), -EREMOTEIO);
	CU_ASSERT_EQUAL(info.status, 503);
	CU_ASSERT_EQUAL(info.retry_after_ns, (int64_t)7 * 1000000000);
	close(fd);
	ht_env_down(&e);
}

static void test_resume_206_at_offset(void)
{
	const uint64_t size = 200000, from = 77777;
	struct rp_http_info info;
	int64_t value = -1;
	char *head;
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "resume");
	/* The first part, as an earlier transfer would have left it. */
	head = malloc(from);
	CU_ASSERT_PTR_NOT_NULL_FATAL(head);
	it_fill(head, from, size, 0);
	CU_ASSERT_EQUAL(pwrite(fd, head, from, 0), (ssize_t)from);
	free(head);

	CU_ASSERT_EQUAL(ht_fetch(&e, "/body/200000", fd, from, &value, &info),
			0);
	CU_ASSERT_EQUAL(value, (int64_t)(size - from));
	CU_ASSERT_EQUAL(info.status, 206);
	CU_ASSERT(info.resumed);
	CU_ASSERT_EQUAL(info.size, (int64_t)size);
	CU_ASSERT(ht_holds(fd, size, 0, size));
	close(fd);
	ht_env_down(&e);
}

/* What rp_http_request::on_body saw. */
struct seen_body {
	int calls;
	long status;
	int64_t size;
	bool resumed;
	uint64_t bytes;
	char etag[64];
	int fd;
	off_t file_size;	/* the destination's, during the call */
};

static void record_body(void *arg, const struct rp_http_info *info)
{
	struct seen_body *b = arg;
	struct stat st;

	b->calls++;
	b->status = info->status;
	b->size = info->size;
	b->resumed = info->resumed;
	b->bytes = info->bytes;
	snprintf(b->etag, sizeof(b->etag), "%s", info->etag ? info->etag : "");
	b->file_size = fstat(b->fd, &st) == 0 ? st.st_size : -1;
}

static int fetch_seen(struct env *e, const char *path, int fd,
		      uint64_t offset, struct seen_body *b)
{
	struct rp_http_request req = { 0 };
	struct rp_http_info info;
	rp_http_transfer *t;
	char url[256];
	int err;

	memset(b, 0, sizeof(*b));
	b->fd = fd;
	ht_url_of(e, path, url, sizeof(url));
	req.url = url;
	req.fd = fd;
	req.offset = offset;
	req.on_body = record_body;
	req.arg = b;
	CU_ASSERT_EQUAL_FATAL(rp_http_get(e->h, &req, &t), 0);
	err = it_result(rp_http_transfer_future(t), NULL);
	CU_ASSERT_EQUAL(rp_http_transfer_info(t, &info), 0);
	/* The same headers as at the end. */
	CU_ASSERT_STRING_EQUAL(b->etag, info.etag ? info.etag : "");
	rp_http_transfer_free(t);
	return err;
}

/*
 * on_body runs once, before any byte of the body is written, with what the
 * headers said; for a response that has no body to write, at the end.
 */
static void test_on_body_before_the_first_write(void)
{
	struct seen_body b;
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "on-body");
	CU_ASSERT_EQUAL(fetch_seen(&e, "/body/300000", fd, 0, &b), 0);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.status, 200);
	CU_ASSERT_EQUAL(b.size, 300000);
	CU_ASSERT_FALSE(b.resumed);
	CU_ASSERT_EQUAL(b.bytes, 0);
	CU_ASSERT_EQUAL(b.file_size, 0);
	CU_ASSERT(ht_holds(fd, 300000, 0, 300000));

	/* A resume: the bytes there are the first 77777. */
	CU_ASSERT_EQUAL(ftruncate(fd, 77777), 0);
	CU_ASSERT_EQUAL(fetch_seen(&e, "/body/300000", fd, 77777, &b), 0);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.status, 206);
	CU_ASSERT(b.resumed);
	CU_ASSERT_EQUAL(b.size, 300000);
	CU_ASSERT_EQUAL(b.file_size, 77777);
	CU_ASSERT(ht_holds(fd, 300000, 0, 300000));

	CU_ASSERT_EQUAL(fetch_seen(&e, "/status/404", fd, 0, &b), -EREMOTEIO);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.status, 404);
	close(fd);
	ht_env_down(&e);
}

/*
 * A 206 whose part starts elsewhere than asked is refused, before any byte
 * of it is written: later, it would leave a hole; earlier, it would count
 * bytes twice.
 */
static void test_resume_from_another_offset_is_eproto(void)
{
	static const long long offs[] = { 1000, -1000 };
	struct rp_http_info info;
	int64_t value = -1;
	char path[64];
	struct env e;
	size_t i;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "offrange");
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		CU_ASSERT_EQUAL(ftruncate(fd, 0), 0);
		CU_ASSERT_EQUAL(ftruncate(fd, 50000), 0);
		snprintf(path, sizeof(path), "/offrange/200000/%lld", offs[i]);
		CU_ASSERT_EQUAL(ht_fetch(&e, path, fd, 50000, &value, &info),
				-EPROTO);
		CU_ASSERT_EQUAL(value, 0);
		CU_ASSERT_EQUAL(info.bytes, 0);
		CU_ASSERT_EQUAL(info.status, 206);
		CU_ASSERT_PTR_NOT_NULL(strstr(info.error, "not from byte "
						      "50000"));
		CU_ASSERT_EQUAL(ht_file_size(fd), 50000);
	}
	close(fd);
	ht_env_down(&e);
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

	ht_env_up(&e, NULL);
	fd1 = ht_dest(&e, "ranged");
	fd2 = ht_dest(&e, "whole");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/body/200000", fd1, 150000, &value,
				 &info), 0);
	CU_ASSERT_EQUAL(value, 50000);
	CU_ASSERT(info.resumed);
	CU_ASSERT_EQUAL(ht_fetch(&e, "/body/200000", fd2, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 200000);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT_FALSE(info.resumed);
	CU_ASSERT(ht_holds(fd2, 200000, 0, 200000));
	close(fd1);
	close(fd2);
	ht_env_down(&e);
}

/* Resuming a file that is already whole: 416, and the length. */
static void test_resume_past_end_416(void)
{
	struct rp_http_info info;
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "whole");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/body/5000", fd, 5000, NULL, &info),
			-EREMOTEIO);
	CU_ASSERT_EQUAL(info.status, 416);
	CU_ASSERT_EQUAL(info.size, 5000);
	CU_ASSERT_FALSE(info.resumed);
	CU_ASSERT_EQUAL(ht_file_size(fd), 0);
	close(fd);
	ht_env_down(&e);
}

static void test_range_ignored_writes_from_0(void)
{
	const uint64_t size = 150000;
	struct rp_http_info info;
	int64_t value = -1;
	char junk[1000];
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "norange");
	memset(junk, 'x', sizeof(junk));
	CU_ASSERT_EQUAL(pwrite(fd, junk, sizeof(junk), 0),
			(ssize_t)sizeof(junk));
	CU_ASSERT_EQUAL(ht_fetch(&e, "/norange/150000", fd, 1000, &value,
				 &info), 0);
	CU_ASSERT_EQUAL(value, (int64_t)size);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT_FALSE(info.resumed);
	CU_ASSERT_EQUAL(info.size, (int64_t)size);
	CU_ASSERT(ht_holds(fd, size, 0, size));
	close(fd);
	ht_env_down(&e);
}

/*
 * Downloads /body/SIZE into `fd` from `offset` with If-Range `validator`;
 * the response's ETag and Last-Modified are copied out ("" for none).
 */
static int fetch_if_range(struct env *e, uint64_t size, int fd,
			  uint64_t offset, const char *validator,
			  int64_t *value, struct rp_http_info *info,
			  char *etag, char *date)
{
	struct rp_http_request req = { 0 };
	rp_http_transfer *t;
	char path[64], url[256];
	int err;

	snprintf(path, sizeof(path), "/body/%llu", (unsigned long long)size);
	ht_url_of(e, path, url, sizeof(url));
	req.url = url;
	req.fd = fd;
	req.offset = offset;
	req.if_range = validator;
	CU_ASSERT_EQUAL_FATAL(rp_http_get(e->h, &req, &t), 0);
	err = it_result(rp_http_transfer_future(t), value);
	CU_ASSERT_EQUAL(rp_http_transfer_info(t, info), 0);
	snprintf(etag, 64, "%s", info->etag ? info->etag : "");
	snprintf(date, 64, "%s", info->last_modified ? info->last_modified
						     : "");
	info->etag = info->last_modified = info->effective_url = NULL;
	rp_http_transfer_free(t);
	return err;
}

/*
 * If-Range: the range when the bytes already there are of the version the
 * validator names, else the whole body from 0, so that two versions are
 * never spliced; and the validators of the response are reported.
 */
static void test_if_range_resumes_only_the_same_version(void)
{
	const uint64_t size = 150000, from = 50000;
	struct rp_http_request req = { 0 };
	struct rp_http_info info;
	char etag[64], date[64], junk[1000], url[256];
	rp_http_transfer *t = NULL;
	int64_t value = -1;
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	/* The same version (its entity tag): only the rest comes. */
	fd = ht_dest(&e, "same");
	memset(junk, 0, sizeof(junk));
	CU_ASSERT_EQUAL(fetch_if_range(&e, size, fd, 0, NULL, &value, &info,
				       etag, date), 0);
	CU_ASSERT_STRING_EQUAL(etag, "\"b150000\"");
	CU_ASSERT_STRING_EQUAL(date, TH_BODY_DATE);
	CU_ASSERT_EQUAL(ftruncate(fd, (off_t)from), 0);
	CU_ASSERT_EQUAL(fetch_if_range(&e, size, fd, from, "\"b150000\"",
				       &value, &info, etag, date), 0);
	CU_ASSERT_EQUAL(info.status, 206);
	CU_ASSERT(info.resumed);
	CU_ASSERT_EQUAL(value, (int64_t)(size - from));
	CU_ASSERT_STRING_EQUAL(etag, "\"b150000\"");
	CU_ASSERT(ht_holds(fd, size, 0, size));
	close(fd);
	/* By date too. */
	fd = ht_dest(&e, "date");
	CU_ASSERT_EQUAL(fetch_if_range(&e, size, fd, 0, NULL, &value, &info,
				       etag, date), 0);
	CU_ASSERT_EQUAL(ftruncate(fd, (off_t)from), 0);
	CU_ASSERT_EQUAL(fetch_if_range(&e, size, fd, from, TH_BODY_DATE,
				       &value, &info, etag, date), 0);
	CU_ASSERT(info.resumed);
	CU_ASSERT(ht_holds(fd, size, 0, size));
	close(fd);
	/* Another version's bytes: all of it, from 0, over them. */
	fd = ht_dest(&e, "changed");
	memset(junk, 'x', sizeof(junk));
	CU_ASSERT_EQUAL(pwrite(fd, junk, sizeof(junk), 0),
			(ssize_t)sizeof(junk));
	CU_ASSERT_EQUAL(fetch_if_range(&e, size, fd, sizeof(junk),
				       "\"an-older-version\"", &value, &info,
				       etag, date), 0);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT_FALSE(info.resumed);
	CU_ASSERT_EQUAL(value, (int64_t)size);
	CU_ASSERT(ht_holds(fd, size, 0, size));
	/* A value that cannot be sent as it is. */
	ht_url_of(&e, "/body/10", url, sizeof(url));
	req.url = url;
	req.fd = fd;
	req.offset = 5;
	req.if_range = "\"a\"\r\nX-Injected: 1";
	CU_ASSERT_EQUAL(rp_http_get(e.h, &req, &t), -EINVAL);
	req.if_range = "";
	CU_ASSERT_EQUAL(rp_http_get(e.h, &req, &t), -EINVAL);
	CU_ASSERT_PTR_NULL(t);
	close(fd);
	ht_env_down(&e);
}

static void test_short_body_is_eproto(void)
{
	struct rp_http_info info;
	int64_t value = -1;
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "short");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/short/100000", fd, 0, &value, &info),
			-EPROTO);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT(info.error[0] != '\0');
	/* All that arrived (half the body) was written, at its place. */
	CU_ASSERT_EQUAL(value, 50000);
	CU_ASSERT_EQUAL(info.bytes, (uint64_t)value);
	CU_ASSERT(ht_holds(fd, 100000, 0, 50000));
	close(fd);
	ht_env_down(&e);
}

static void test_redirect_chain(void)
{
	struct rp_http_info info;
	int64_t value = -1;
	char url[256];
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "redir");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/redir/3", fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, 1000);
	CU_ASSERT_EQUAL(info.status, 200);
	ht_url_of(&e, "/body/1000", url, sizeof(url));
	CU_ASSERT_STRING_EQUAL(info.effective_url, url);
	CU_ASSERT(ht_holds(fd, 1000, 0, 1000));
	close(fd);
	ht_env_down(&e);
}

static void test_redirect_loop_is_eloop(void)
{
	struct rp_http_config cfg;
	struct rp_http_info info;
	struct env e;
	int fd;

	rp_http_config_init(&cfg);
	cfg.max_redirs = 5;
	ht_env_up(&e, &cfg);
	fd = ht_dest(&e, "loop");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/loop", fd, 0, NULL, &info), -ELOOP);
	CU_ASSERT(info.error[0] != '\0');
	CU_ASSERT_EQUAL(ht_file_size(fd), 0);
	close(fd);
	ht_env_down(&e);
}

static void test_no_redirects_allowed(void)
{
	struct rp_http_config cfg;
	struct rp_http_info info;
	struct env e;
	int fd;

	rp_http_config_init(&cfg);
	cfg.max_redirs = 0;
	ht_env_up(&e, &cfg);
	fd = ht_dest(&e, "noredir");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/redir/0", fd, 0, NULL, &info), -ELOOP);
	close(fd);
	ht_env_down(&e);
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

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "scheme");
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
	CU_ASSERT_EQUAL(ht_fetch(&e, "/to-file", fd, 0, NULL, &info),
			-EPROTONOSUPPORT);
	CU_ASSERT_EQUAL(info.status, 302);
	CU_ASSERT_EQUAL(info.write_error, 0);
	CU_ASSERT_EQUAL(ht_fetch(&e, "/to-ftp", fd, 0, NULL, &info),
			-EPROTONOSUPPORT);
	/* Neither the redirect's own body nor the file reached the file. */
	CU_ASSERT_EQUAL(ht_file_size(fd), 0);
	close(fd);
	ht_env_down(&e);
}

/* A loopback port that refuses connections while `*s` is open. */
static uint16_t refusing_port(int *s)
{
	struct sockaddr_in addr;

	*s = tu_tcp_listener(&addr, -1);
	return ntohs(addr.sin_port);
}

static void test_connect_refused(void)
{
	struct rp_http_request req = { 0 };
	struct rp_http_info info;
	rp_http_transfer *t;
	char url[128];
	struct env e;
	int s, fd;

	ht_env_up(&e, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/body/10",
		 refusing_port(&s));
	fd = ht_dest(&e, "refused");
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
	ht_env_down(&e);
}

/*
 * Downloads `url` into a fresh file with a new client made with `cfg`
 * (replacing e->h), `scribble` (if not NULL) overwritten once the client
 * is made, and returns the future's error; 0 only when the file holds
 * /body/5000's bytes.
 */
static int fetch_with(struct env *e, const struct rp_http_config *cfg,
		      const char *url, char *scribble)
{
	struct rp_http_request req = { 0 };
	rp_http_transfer *t;
	int64_t value = -1;
	int fd, err;

	rp_http_free(e->h);
	e->h = NULL;
	CU_ASSERT_EQUAL_FATAL(rp_http_new(e->ex, cfg, &e->h), 0);
	if (scribble)
		memset(scribble, 'x', strlen(scribble));
	fd = ht_dest(e, "proxied");
	req.url = url;
	req.fd = fd;
	CU_ASSERT_EQUAL_FATAL(rp_http_get(e->h, &req, &t), 0);
	err = it_result(rp_http_transfer_future(t), &value);
	if (err == 0 && (value != 5000 || !ht_holds(fd, 5000, 0, 5000)))
		err = -EBADMSG;
	rp_http_transfer_free(t);
	close(fd);
	return err;
}

/*
 * rp_http_config::proxy and no_proxy.  The URL names a port that refuses
 * connections, so it comes only through the proxy: the test server, which
 * answers the absolute form a proxy is sent.  no_proxy naming the host
 * sends the request straight there; with no proxy in the configuration the
 * environment's http_proxy is used, and "" turns that off.  Control
 * characters are refused.
 */
static void test_through_a_proxy(void)
{
	struct rp_http_config cfg;
	char proxy[64], url[128];
	rp_http *h = NULL;
	struct env e;
	int s;

	ht_env_up(&e, NULL);
	CU_ASSERT_EQUAL(rp_http_config_init(&cfg), 0);
	CU_ASSERT_PTR_NULL(cfg.proxy);
	CU_ASSERT_PTR_NULL(cfg.no_proxy);
	cfg.proxy = "http://127.0.0.1:1\r\nX: y";
	CU_ASSERT_EQUAL(rp_http_new(e.ex, &cfg, &h), -EINVAL);
	cfg.proxy = NULL;
	cfg.no_proxy = "a,\tb";
	CU_ASSERT_EQUAL(rp_http_new(e.ex, &cfg, &h), -EINVAL);
	CU_ASSERT_PTR_NULL(h);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/body/5000",
		 refusing_port(&s));
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%u", e.port);
	cfg.no_proxy = NULL;
	cfg.proxy = proxy;
	CU_ASSERT_EQUAL(fetch_with(&e, &cfg, url, NULL), 0);
	CU_ASSERT_EQUAL(th_proxied(e.srv), 1);
	/* The client keeps its own copy: the caller's may change. */
	CU_ASSERT_EQUAL(fetch_with(&e, &cfg, url, proxy), 0);
	CU_ASSERT_EQUAL(th_proxied(e.srv), 2);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%u", e.port);

	cfg.no_proxy = "example.org,127.0.0.1";
	CU_ASSERT_EQUAL(fetch_with(&e, &cfg, url, NULL), -ECONNREFUSED);
	CU_ASSERT_EQUAL(th_proxied(e.srv), 2);

	cfg.proxy = cfg.no_proxy = NULL;
	CU_ASSERT_EQUAL(setenv("http_proxy", proxy, 1), 0);
	CU_ASSERT_EQUAL(fetch_with(&e, &cfg, url, NULL), 0);
	CU_ASSERT_EQUAL(th_proxied(e.srv), 3);
	cfg.proxy = "";
	CU_ASSERT_EQUAL(fetch_with(&e, &cfg, url, NULL), -ECONNREFUSED);
	CU_ASSERT_EQUAL(th_proxied(e.srv), 3);
	unsetenv("http_proxy");
	close(s);
	ht_env_down(&e);
}

static void test_bad_url_is_einval(void)
{
	struct rp_http_request req = { 0 };
	struct rp_http_info info;
	rp_http_transfer *t;
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "bad");
	/* An IPv6 literal never closed; an unknown scheme: see above. */
	req.url = "http://[127.0.0.1/";
	req.fd = fd;
	CU_ASSERT_EQUAL_FATAL(rp_http_get(e.h, &req, &t), 0);
	CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(t), NULL), -EINVAL);
	CU_ASSERT_EQUAL(rp_http_transfer_info(t, &info), 0);
	CU_ASSERT(info.error[0] != '\0');
	rp_http_transfer_free(t);
	close(fd);
	ht_env_down(&e);
}

static void test_write_error_is_eio(void)
{
	struct rp_http_info info;
	char path[512];
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	close(ht_dest(&e, "ro"));
	it_path(&e.dir, "ro", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ht_fetch(&e, "/body/100000", fd, 0, NULL, &info), -EIO);
	CU_ASSERT(strstr(info.error, "descriptor") != NULL);
	CU_ASSERT_EQUAL(info.write_error, -EBADF);
	close(fd);
	ht_env_down(&e);
}

static volatile sig_atomic_t usr1_handled;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_handled = 1;
}

static int one_task(void *arg, int64_t *value)
{
	(void)arg;
	*value = 7;
	return 0;
}

/*
 * A signal sent to the process is left to the program's threads.  Once
 * the workers, the I/O threads and an HTTP client's loop run, the test
 * blocks SIGUSR1 in its own thread (the only one of the program): each
 * SIGUSR1 then waits for its sigtimedwait(), where a library thread that
 * took it would run the handler instead.
 */
static void test_library_threads_leave_signals_to_the_program(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 }, old_sa;
	const struct timespec second = { 1, 0 };
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	rp_http *h = NULL;
	sigset_t usr1, old;
	int64_t value = 0;
	char c = 'x';
	int p[2], i;

	CU_ASSERT_EQUAL_FATAL(rp_http_new(ex, NULL, &h), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	CU_ASSERT_EQUAL(write(p[1], &c, 1), 1);
	CU_ASSERT_EQUAL(it_read(ex, p[0], &c, 1, -1, &value), 0);
	CU_ASSERT_EQUAL(value, 1);
	CU_ASSERT_EQUAL(rp_submit(ex, one_task, NULL, &f), 0);
	CU_ASSERT_EQUAL(rp_future_result(f, RP_FOREVER, &value, NULL), 0);
	CU_ASSERT_EQUAL(value, 7);
	rp_future_unref(f);

	usr1_handled = 0;
	sigemptyset(&sa.sa_mask);
	CU_ASSERT_EQUAL_FATAL(sigaction(SIGUSR1, &sa, &old_sa), 0);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, &old);
	for (i = 0; i < 20; i++) {
		CU_ASSERT_EQUAL(kill(getpid(), SIGUSR1), 0);
		CU_ASSERT_EQUAL(sigtimedwait(&usr1, NULL, &second), SIGUSR1);
	}
	CU_ASSERT_EQUAL(usr1_handled, 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGUSR1, &old_sa, NULL);

	close(p[0]);
	close(p[1]);
	rp_http_free(h);
	it_executor_free(ex);
}

/*
 * In the child of a fork() the executor is broken (ringpool.h, "fork()"):
 * a client made on it there is refused at once, not left to fail, or wait
 * on the parent's ring, at its first transfer.
 */
static void test_client_refused_in_a_forked_child(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_http *h = NULL;
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		alarm(10);
		_exit(rp_http_new(ex, NULL, &h) == -ENOTRECOVERABLE && !h ? 0
									 : 1);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
	/* The parent's executor still makes clients. */
	CU_ASSERT_EQUAL(rp_http_new(ex, NULL, &h), 0);
	rp_http_free(h);
	it_executor_free(ex);
}

static const struct tu_test tests[] = {
	{ "libcurl_loaded_with_the_first_client",
	  test_libcurl_loaded_with_the_first_client, false },
	{ "config_and_bad_arguments", test_config_and_bad_arguments, false },
	{ "client_on_a_chosen_ring", test_client_on_a_chosen_ring, false },
	{ "ca_file_is_checked_and_copied", test_ca_file_is_checked_and_copied, false },
	{ "client_refused_in_a_forked_child",
	  test_client_refused_in_a_forked_child, false },
	{ "library_threads_leave_signals_to_the_program",
	  test_library_threads_leave_signals_to_the_program, false },
	{ "body_200", test_body_200, false },
	{ "empty_body", test_empty_body, false },
	{ "body_without_length", test_body_without_length, false },
	{ "not_found_404", test_not_found_404, false },
	{ "server_error_500", test_server_error_500, false },
	{ "retry_after_503", test_retry_after_503, false },
	{ "resume_206_at_offset", test_resume_206_at_offset, false },
	{ "resume_from_another_offset_is_eproto",
	  test_resume_from_another_offset_is_eproto, false },
	{ "on_body_before_the_first_write",
	  test_on_body_before_the_first_write, false },
	{ "reused_handle_forgets_range", test_reused_handle_forgets_range,
	  false },
	{ "resume_past_end_416", test_resume_past_end_416, false },
	{ "if_range_resumes_only_the_same_version",
	  test_if_range_resumes_only_the_same_version, false },
	{ "range_ignored_writes_from_0", test_range_ignored_writes_from_0,
	  false },
	{ "short_body_is_eproto", test_short_body_is_eproto, false },
	{ "redirect_chain", test_redirect_chain, false },
	{ "redirect_loop_is_eloop", test_redirect_loop_is_eloop, false },
	{ "no_redirects_allowed", test_no_redirects_allowed, false },
	{ "other_schemes_refused", test_other_schemes_refused, false },
	{ "connect_refused", test_connect_refused, false },
	{ "through_a_proxy", test_through_a_proxy, false },
	{ "bad_url_is_einval", test_bad_url_is_einval, false },
	{ "write_error_is_eio", test_write_error_is_eio, false },
};

int main(int argc, char **argv)
{
	return ht_main(argc, argv, "http", tests,
		       sizeof(tests) / sizeof(tests[0]));
}
