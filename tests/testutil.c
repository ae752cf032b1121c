/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <CUnit/Basic.h>

#include "testutil.h"

/*
 * The tests to run: all of them without arguments; those named; or, when
 * every argument is "-NAME", all but those.
 */
static bool name_selected(int argc, char **argv, const char *name)
{
	bool excluding;
	int i;

	if (argc <= 1)
		return true;
	excluding = argv[1][0] == '-';	/* names_known() refuses a mix */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i] + (excluding ? 1 : 0), name))
			return !excluding;
	}
	return excluding;
}

static bool names_known(int argc, char **argv, const struct tu_test *tests,
			size_t n_tests)
{
	bool ok = true;
	size_t j;
	int i;

	for (i = 2; i < argc; i++) {
		if ((argv[i][0] == '-') != (argv[1][0] == '-')) {
			fprintf(stderr, "give test names or -names, not both\n");
			return false;
		}
	}
	for (i = 1; i < argc; i++) {
		const char *name = argv[i] + (argv[i][0] == '-');

		for (j = 0; j < n_tests; j++) {
			if (!strcmp(name, tests[j].name))
				break;
		}
		if (j == n_tests) {
			fprintf(stderr, "unknown test: %s\n", argv[i]);
			ok = false;
		}
	}
	return ok;
}

int tu_run_tests(int argc, char **argv, const char *suite_name,
		 const struct tu_test *tests, size_t n_tests)
{
	unsigned failures, tests_failed;
	CU_ErrorCode err;
	CU_pSuite suite;
	size_t i, added = 0, skipped = 0;

	if (!names_known(argc, argv, tests, n_tests))
		return 2;
	/* Show progress even when the test is killed by a timeout. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		return 1;
	}
	suite = CU_add_suite(suite_name, NULL, NULL);
	if (!suite)
		goto cunit_error;
	for (i = 0; i < n_tests; i++) {
		if (!name_selected(argc, argv, tests[i].name))
			continue;
		if (tests[i].skip_under_valgrind && tu_under_valgrind()) {
			printf("skipped under valgrind: %s\n", tests[i].name);
			skipped++;
			continue;
		}
		if (!CU_add_test(suite, tests[i].name, tests[i].fn))
			goto cunit_error;
		added++;
	}
	if (!added && skipped) {
		/* Meson's "skipped": nothing was run, so nothing passed. */
		CU_cleanup_registry();
		return 77;
	}

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();

	failures = CU_get_number_of_failures();
	tests_failed = CU_get_number_of_tests_failed();
	err = CU_get_error();
	CU_cleanup_registry();

	if (err != CUE_SUCCESS)
		fprintf(stderr, "CUnit error %d\n", (int)err);
	if (failures || tests_failed || err != CUE_SUCCESS)
		return 1;
	return 0;

cunit_error:
	fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
	CU_cleanup_registry();
	return 1;
}

void tu_rng_seed(struct tu_rng *r, uint64_t seed)
{
	r->s = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t tu_rng_next(struct tu_rng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint32_t tu_rng_below(struct tu_rng *r, uint32_t n)
{
	return (uint32_t)((tu_rng_next(r) >> 32) % n);
}

bool tu_under_valgrind(void)
{
	const char *v = getenv("RINGPOOL_UNDER_VALGRIND");

	return v && !strcmp(v, "1");
}

size_t tu_scaled(size_t n)
{
	if (!tu_under_valgrind())
		return n;
	n /= 100;
	return n ? n : 1;
}

int64_t tu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Built with a sanitizer: everything runs several times slower (up to 20
 * times with ThreadSanitizer), and more so on a loaded machine, so the
 * limits below that only stop a broken library from hanging the test are
 * those of valgrind.  GCC and clang both define these.
 */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define TU_SANITIZED 1
#endif
#endif
#ifndef TU_SANITIZED
#define TU_SANITIZED 0
#endif

int64_t tu_timeout_slack_ns(void)
{
	if (tu_under_valgrind() || TU_SANITIZED)
		return (int64_t)30 * 1000000000;
	return (int64_t)2 * 1000000000;
}

int64_t tu_stuck_timeout_ns(void)
{
	if (tu_under_valgrind() || TU_SANITIZED)
		return (int64_t)30 * 1000000000;
	return (int64_t)5 * 1000000000;
}

void tu_latch_init(struct tu_latch *l)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &attr);
	pthread_condattr_destroy(&attr);
	l->count = 0;
}

void tu_latch_destroy(struct tu_latch *l)
{
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
}

void tu_latch_post(struct tu_latch *l)
{
	pthread_mutex_lock(&l->lock);
	l->count++;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

void tu_latch_wait(struct tu_latch *l, unsigned target)
{
	pthread_mutex_lock(&l->lock);
	while (l->count < target)
		pthread_cond_wait(&l->cond, &l->lock);
	pthread_mutex_unlock(&l->lock);
}

bool tu_latch_wait_for(struct tu_latch *l, unsigned target, int64_t timeout_ns)
{
	int64_t deadline = tu_now_ns() + timeout_ns;
	struct timespec ts;
	bool reached;

	ts.tv_sec = (time_t)(deadline / 1000000000);
	ts.tv_nsec = (long)(deadline % 1000000000);
	pthread_mutex_lock(&l->lock);
	while (l->count < target) {
		int ret = pthread_cond_timedwait(&l->cond, &l->lock, &ts);

		if (ret == ETIMEDOUT)
			break;
	}
	reached = l->count >= target;
	pthread_mutex_unlock(&l->lock);
	return reached;
}

unsigned tu_latch_count(struct tu_latch *l)
{
	unsigned count;

	pthread_mutex_lock(&l->lock);
	count = l->count;
	pthread_mutex_unlock(&l->lock);
	return count;
}

void tu_blocker_init(struct tu_blocker *b, int64_t value, int ret)
{
	tu_latch_init(&b->started);
	tu_latch_init(&b->release);
	b->value = value;
	b->ret = ret;
}

void tu_blocker_destroy(struct tu_blocker *b)
{
	tu_latch_destroy(&b->started);
	tu_latch_destroy(&b->release);
}

int tu_blocker_task(void *arg, int64_t *value)
{
	struct tu_blocker *b = arg;

	tu_latch_post(&b->started);
	tu_latch_wait(&b->release, 1);
	*value = b->value;
	return b->ret;
}

void tu_busy_exec_start(struct tu_busy_exec *be)
{
	be->ex = NULL;
	be->running = NULL;
	tu_blocker_init(&be->b, 1000, 0);
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &be->ex), 0);
	CU_ASSERT_EQUAL_FATAL(rp_submit(be->ex, tu_blocker_task, &be->b,
					&be->running), 0);
	tu_latch_wait(&be->b.started, 1);
}

void tu_busy_exec_finish(struct tu_busy_exec *be)
{
	int64_t value = 0;

	tu_latch_post(&be->b.release);
	CU_ASSERT_EQUAL(rp_future_result(be->running, RP_FOREVER, &value,
					 NULL), 0);
	CU_ASSERT_EQUAL(value, 1000);
	rp_future_unref(be->running);
	CU_ASSERT_EQUAL(rp_executor_free(be->ex), 0);
	tu_blocker_destroy(&be->b);
}

int tu_value_task(void *arg, int64_t *value)
{
	*value = (int64_t)(intptr_t)arg;
	return 0;
}

int tu_error_task(void *arg, int64_t *value)
{
	(void)value;
	return (int)(intptr_t)arg;
}

int tu_count_task(void *arg, int64_t *value)
{
	atomic_uint *counter = arg;

	(void)value;
	atomic_fetch_add(counter, 1);
	return 0;
}

int tu_executor_new(unsigned workers, rp_executor **out)
{
	struct rp_config cfg;
	int ret;

	ret = rp_config_init(&cfg);
	if (ret)
		return ret;
	cfg.workers = workers;
	return rp_executor_new(&cfg, out);
}

int tu_tcp_listener(struct sockaddr_in *addr, int backlog)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CU_ASSERT_FATAL(fd >= 0);
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)addr, sizeof(*addr)),
			      0);
	if (backlog >= 0)
		CU_ASSERT_EQUAL_FATAL(listen(fd, backlog), 0);
	CU_ASSERT_EQUAL_FATAL(getsockname(fd, (struct sockaddr *)addr, &len),
			      0);
	return fd;
}
