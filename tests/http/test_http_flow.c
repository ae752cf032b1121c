/* SPDX-License-Identifier: MIT */
/*
 * How HTTP transfers move, against the server of httpd.c on 127.0.0.1:
 * stalls, back-pressure with a tiny buffer and with many transfers, the
 * rate limit, cancellation (and its races), freeing running transfers and
 * clients, many transfers at once, progress, idle connections.
 *
 * Registered three times: RINGPOOL_BACKEND=uring, RINGPOOL_BACKEND=threads
 * and shared rings.
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

#include "htenv.h"
#include "httpd.h"
#include "iotest.h"
#include "ringpool.h"
#include "testutil.h"

/*
 * A server that sends its headers and 100 bytes, then nothing: the transfer
 * ends -ETIMEDOUT once stall_timeout_ns has passed without data, with the
 * response's status.  The stall clock starts when libcurl has a connection,
 * so the response must start within the timeout for there to be a status;
 * as the program's first test under valgrind on a loaded machine (all its
 * code still to translate) it can take longer than 500 ms to.  A try that
 * got no status is made again with a timeout twice as long, up to 4 s.
 */
static int stall_try(int64_t timeout_ns, struct rp_http_info *info,
		     int64_t *took)
{
	struct rp_http_config cfg;
	struct env e;
	int64_t t0;
	int fd, ret;

	rp_http_config_init(&cfg);
	cfg.stall_timeout_ns = timeout_ns;
	ht_env_up(&e, &cfg);
	fd = ht_dest(&e, "stall");
	t0 = tu_now_ns();
	ret = ht_fetch(&e, "/stall", fd, 0, NULL, info);
	*took = tu_now_ns() - t0;
	if (ret == -ETIMEDOUT && info->status == 0)
		printf("no response within %lld ms (%s): ",
		       (long long)(timeout_ns / MS), info->error);
	info->effective_url = NULL;	/* it was e's */
	close(fd);
	ht_env_down(&e);
	return ret;
}

static void test_stall_timeout(void)
{
	int64_t timeout_ns = 500 * MS, took = 0;
	struct rp_http_info info;
	int ret;

	for (;;) {
		ret = stall_try(timeout_ns, &info, &took);
		if (ret != -ETIMEDOUT || info.status != 0 ||
		    timeout_ns >= 4000 * MS)
			break;
		timeout_ns *= 2;
	}
	CU_ASSERT_EQUAL(ret, -ETIMEDOUT);
	CU_ASSERT(took >= timeout_ns - timeout_ns / 10);
	CU_ASSERT_EQUAL(info.status, 200);
	CU_ASSERT(info.error[0] != '\0');
}

/* Waiting for a connection (max_per_host) is no stall. */
static void test_queued_transfer_is_not_stalled(void)
{
	/*
	 * 16 pieces `gap` apart hold the only connection for twice the stall
	 * timeout, which is 8 gaps: a gap that a loaded machine stretches
	 * past the timeout would stall the slow transfer itself, so the gap
	 * is longer where the slack is (valgrind, sanitizers).
	 */
	const int64_t gap_ms = tu_timeout_slack_ns() > 2000 * MS ? 150 : 50;
	struct rp_http_config cfg;
	rp_http_transfer *slow, *queued;
	int64_t value = -1;
	char path[64];
	struct env e;
	int fd1, fd2;

	rp_http_config_init(&cfg);
	cfg.max_per_host = 1;
	cfg.stall_timeout_ns = 8 * gap_ms * MS;
	ht_env_up(&e, &cfg);
	fd1 = ht_dest(&e, "slow");
	fd2 = ht_dest(&e, "queued");
	snprintf(path, sizeof(path), "/slow/65536/%lld", (long long)gap_ms);
	slow = ht_start(&e, path, fd1, 0);
	queued = ht_start(&e, "/body/1000", fd2, 0);
	CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(slow), &value), 0);
	CU_ASSERT_EQUAL(value, 65536);
	CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(queued), &value),
			0);
	CU_ASSERT_EQUAL(value, 1000);
	CU_ASSERT(ht_holds(fd1, 65536, 0, 65536));
	CU_ASSERT(ht_holds(fd2, 1000, 0, 1000));
	rp_http_transfer_free(slow);
	rp_http_transfer_free(queued);
	close(fd1);
	close(fd2);
	ht_env_down(&e);
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
	ht_env_up(&e, &cfg);
	fd = ht_dest(&e, "bp");
	snprintf(path, sizeof(path), "/body/%llu", (unsigned long long)size);
	CU_ASSERT_EQUAL(ht_fetch(&e, path, fd, 0, &value, &info), 0);
	CU_ASSERT_EQUAL(value, (int64_t)size);
	CU_ASSERT(ht_holds(fd, size, 0, size));
	close(fd);
	ht_env_down(&e);
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
	ht_env_up(&e, &cfg);
	snprintf(path, sizeof(path), "/body/%llu", (unsigned long long)size);
	for (i = 0; i < n; i++) {
		fd[i] = ht_dest(&e, i % 2 ? "bpa" : "bpb");
		t[i] = NULL;
	}
	/* Two files, each written by four transfers of the same body. */
	for (i = 0; i < n; i++)
		t[i] = ht_start(&e, path, fd[i], 0);
	for (i = 0; i < n; i++) {
		int64_t value = -1;

		CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(t[i]),
					  &value), 0);
		CU_ASSERT_EQUAL(value, (int64_t)size);
		rp_http_transfer_free(t[i]);
	}
	CU_ASSERT(ht_holds(fd[0], size, 0, size));
	CU_ASSERT(ht_holds(fd[1], size, 0, size));
	for (i = 0; i < n; i++)
		close(fd[i]);
	ht_env_down(&e);
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
	ht_env_up(&e, &cfg);
	fd = ht_dest(&e, "rate");
	t0 = tu_now_ns();
	CU_ASSERT_EQUAL(ht_fetch(&e, "/body/262144", fd, 0, &value, &info), 0);
	took = tu_now_ns() - t0;
	CU_ASSERT_EQUAL(value, (int64_t)size);
	CU_ASSERT(ht_holds(fd, size, 0, size));
	/* An eighth of a second may come in one go. */
	CU_ASSERT(took >= 100000000);
	if (took < 100000000)
		fprintf(stderr, "rate: %lld ms\n", (long long)(took / 1000000));
	close(fd);
	ht_env_down(&e);
}

static atomic_uint ends;

static void count_end(rp_future *f, void *arg)
{
	(void)f;
	(void)arg;
	atomic_fetch_add(&ends, 1);
}

/*
 * Callbacks run just after waiters wake, on another thread: waits until
 * `n` have run, or tu_stuck_timeout_ns() has passed.
 */
static void wait_ends(unsigned n)
{
	int64_t until = tu_now_ns() + tu_stuck_timeout_ns();

	while (atomic_load(&ends) < n && tu_now_ns() < until)
		usleep(1000);
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

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "cancel");
	atomic_store(&ends, 0);
	t = ht_start(&e, "/stall", fd, 0);
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
	wait_ends(1);
	/* Time for a second call, which must not come. */
	usleep(20000);
	CU_ASSERT_EQUAL(atomic_load(&ends), 1);
	CU_ASSERT_EQUAL(rp_http_transfer_info(t, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.error, "cancelled");
	/* The 100 bytes received were written before it ended, or dropped. */
	CU_ASSERT(info.bytes == 0 || info.bytes == 100);
	rp_http_transfer_free(t);
	CU_ASSERT_EQUAL(atomic_load(&ends), 1);
	close(fd);
	ht_env_down(&e);
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
	struct tu_rng rng;
	struct env e;
	int *fd;

	rp_http_config_init(&cfg);
	cfg.max_per_host = 16;
	ht_env_up(&e, &cfg);
	tu_rng_seed(&rng, 42);
	atomic_store(&ends, 0);
	t = calloc(n, sizeof(*t));
	fd = calloc(n, sizeof(*fd));
	CU_ASSERT_FATAL(t && fd);
	for (i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "race%u", i);
		fd[i] = ht_dest(&e, name);
		t[i] = ht_start(&e, "/body/200000", fd[i], 0);
		CU_ASSERT_EQUAL(rp_future_add_done_callback(
			rp_http_transfer_future(t[i]), count_end, NULL), 0);
		if (tu_rng_below(&rng, 4) == 0)
			usleep(tu_rng_below(&rng, 2000));
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
			CU_ASSERT(ht_holds(fd[i], 200000, 0, 200000));
			whole++;
		}
		rp_http_transfer_free(t[i]);
		close(fd[i]);
	}
	CU_ASSERT_EQUAL(cancelled + whole, n);
	CU_ASSERT(cancelled <= (n + 1) / 2);
	wait_ends(n);
	CU_ASSERT_EQUAL(atomic_load(&ends), n);
	free(t);
	free(fd);
	ht_env_down(&e);
}

static void test_free_running_transfer(void)
{
	rp_http_transfer *t;
	struct env e;
	int fd;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "freerun");
	t = ht_start(&e, "/stall", fd, 0);
	CU_ASSERT(wait_progress(t));
	rp_http_transfer_free(t);	/* cancels and waits */
	close(fd);
	ht_env_down(&e);
}

static void test_client_free_cancels_transfers(void)
{
	rp_http_transfer *t[4];
	rp_future *f[4];
	struct env e;
	int fd, i;

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "freeall");
	for (i = 0; i < 4; i++) {
		t[i] = ht_start(&e, i < 3 ? "/stall" : "/body/1000", fd, 0);
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
	ht_env_down(&e);
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
	ht_env_up(&e, &cfg);
	t = calloc(n, sizeof(*t));
	fd = calloc(n, sizeof(*fd));
	CU_ASSERT_FATAL(t && fd);
	for (i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "many%u", i);
		fd[i] = ht_dest(&e, name);
		snprintf(path, sizeof(path), "/body/%u", 1000 + 4099 * i);
		t[i] = ht_start(&e, path, fd[i], 0);
	}
	for (i = 0; i < n; i++) {
		int64_t value = -1;

		CU_ASSERT_EQUAL(it_result(rp_http_transfer_future(t[i]),
					  &value), 0);
		CU_ASSERT_EQUAL(value, 1000 + 4099 * (int64_t)i);
		CU_ASSERT(ht_holds(fd[i], 1000 + 4099 * i, 0, 1000 + 4099 * i));
		rp_http_transfer_free(t[i]);
		close(fd[i]);
	}
	/* Connections were reused: fewer connections than requests. */
	CU_ASSERT_EQUAL(th_requests(e.srv), n);
	free(t);
	free(fd);
	ht_env_down(&e);
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

	ht_env_up(&e, NULL);
	fd = ht_dest(&e, "progress");
	t = ht_start(&e, "/slow/65536/5", fd, 0);
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
	CU_ASSERT(ht_holds(fd, size, 0, size));
	close(fd);
	ht_env_down(&e);
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
	int fd, fd2;

	it_raise_nofile();
	rp_http_config_init(&cfg);
	cfg.max_per_host = 64;
	ht_env_up(&e, &cfg);
	fd = ht_dest(&e, "idle");
	t = calloc(n, sizeof(*t));
	CU_ASSERT_FATAL(t != NULL);
	for (i = 0; i < n; i++)
		t[i] = ht_start(&e, "/stall", fd, 0);
	for (i = 0; i < n; i++)
		CU_ASSERT(wait_progress(t[i]));
	CU_ASSERT_EQUAL(it_write(e.ex, fd, "x", 1, 5000, NULL), 0);
	fd2 = ht_dest(&e, "idle2");
	CU_ASSERT_EQUAL(ht_fetch(&e, "/body/100000", fd2, 0, &value, &info),
			0);
	CU_ASSERT_EQUAL(value, 100000);
	CU_ASSERT(ht_holds(fd2, 100000, 0, 100000));
	/* The stalled transfers write into `fd` until they are freed. */
	for (i = 0; i < n; i++)
		rp_http_transfer_free(t[i]);
	free(t);
	close(fd);
	close(fd2);
	ht_env_down(&e);
}

static const struct tu_test tests[] = {
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
	return ht_main(argc, argv, "http-flow", tests,
		       sizeof(tests) / sizeof(tests[0]));
}
