/* SPDX-License-Identifier: MIT */
/*
 * The fallback to blocking threads when io_uring is unusable.
 *
 * Each check runs in a forked child that first installs a seccomp filter
 * making io_uring_setup, io_uring_enter and io_uring_register fail with
 * EPERM (as Docker's default profile does), then creates executors.  The
 * child's exit status carries the verdict: 0 when every check held, else the
 * number of the first that failed (the child prints which; 99 is kept for
 * valgrind's errors).  The program sets
 * its own backend, so it is registered once.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "iotest.h"
#include "ringpool.h"
#include "testutil.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define TEST_AUDIT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TEST_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_S390X
#endif

/* A check in the child: on failure, say which and exit with its number. */
#define CHILD_CHECK(num, cond)                                                \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "child check %d failed: %s (%s:%d)\n", \
				(num), #cond, __FILE__, __LINE__);            \
			fflush(stderr);                                       \
			exit(num);                                            \
		}                                                             \
	} while (0)

#ifdef TEST_AUDIT_ARCH
static int block_io_uring(void)
{
	struct sock_filter filter[] = {
		/* Another ABI's numbers mean other calls: refuse it all. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
		/* The x32 ABI shares the arch value; its numbers are offset. */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1,
			 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
		.filter = filter,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
}
#endif

/* Whether this kernel lets this process set up a ring at all. */
static bool io_uring_usable(void)
{
	unsigned char params[120];	/* struct io_uring_params */
	long fd;

	memset(params, 0, sizeof(params));
	fd = syscall(__NR_io_uring_setup, 4, params);
	if (fd < 0)
		return false;
	close((int)fd);
	return true;
}

/* Child side: sets the filter up, checks io_uring is really blocked. */
static void child_block(void)
{
#ifdef TEST_AUDIT_ARCH
	unsigned char params[120];
	long ret;

	CHILD_CHECK(90, block_io_uring() == 0);
	memset(params, 0, sizeof(params));
	errno = 0;
	ret = syscall(__NR_io_uring_setup, 4, params);
	CHILD_CHECK(91, ret == -1 && errno == EPERM);
	errno = 0;
	ret = syscall(__NR_io_uring_enter, -1, 0, 0, 0, NULL, 0);
	CHILD_CHECK(92, ret == -1 && errno == EPERM);
	errno = 0;
	ret = syscall(__NR_io_uring_register, -1, 0, NULL, 0);
	CHILD_CHECK(93, ret == -1 && errno == EPERM);
#endif
}

/* Runs `fn` in a child and checks that it exits 0. */
static void in_child(void (*fn)(void))
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		fn();
		exit(0);
	}
	CU_ASSERT_EQUAL_FATAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(status));
	if (WIFEXITED(status)) {
		CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	} else {
		fprintf(stderr, "child killed by signal %d\n",
			WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	}
}

static bool can_filter(void)
{
#ifdef TEST_AUDIT_ARCH
	return true;
#else
	printf("\n    skipped: no seccomp arch value for this machine\n");
	return false;
#endif
}

/* A few operations on the executor, which must all work. */
static void child_do_io(rp_executor *ex, int base)
{
	char dir[] = "/tmp/ringpool-fallback-XXXXXX";
	char buf[64], path[128];
	struct statx stx;
	rp_future *f = NULL;
	int64_t v = -1;
	int fds[2], error = -1, fd;

	/* A pipe round trip. */
	CHILD_CHECK(base + 1, pipe2(fds, O_CLOEXEC) == 0);
	CHILD_CHECK(base + 2, rp_write(ex, fds[1], "fallback", 8, -1, NULL,
				       &f) == 0);
	CHILD_CHECK(base + 3, rp_future_result(f, tu_stuck_timeout_ns(), &v,
					       &error) == 0);
	CHILD_CHECK(base + 4, error == 0 && v == 8);
	rp_future_unref(f);
	memset(buf, 0, sizeof(buf));
	CHILD_CHECK(base + 5, rp_read(ex, fds[0], buf, sizeof(buf), -1, NULL,
				      &f) == 0);
	CHILD_CHECK(base + 6, rp_future_result(f, tu_stuck_timeout_ns(), &v,
					       &error) == 0);
	CHILD_CHECK(base + 7, error == 0 && v == 8 &&
				      !memcmp(buf, "fallback", 8));
	rp_future_unref(f);
	close(fds[0]);
	close(fds[1]);

	/* A file: create, write, sync, stat, read back, close, unlink. */
	CHILD_CHECK(base + 8, mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/f", dir);
	CHILD_CHECK(base + 9, rp_openat(ex, AT_FDCWD, path,
					O_CREAT | O_RDWR | O_CLOEXEC, 0600,
					NULL, &f) == 0);
	CHILD_CHECK(base + 10, rp_future_result(f, tu_stuck_timeout_ns(), &v,
						&error) == 0);
	CHILD_CHECK(base + 11, error == 0 && v >= 0);
	rp_future_unref(f);
	fd = (int)v;
	CHILD_CHECK(base + 12, rp_write_full(ex, fd, "0123456789", 10, 0, NULL,
					     &f) == 0);
	CHILD_CHECK(base + 13, rp_future_result(f, tu_stuck_timeout_ns(), &v,
						&error) == 0);
	CHILD_CHECK(base + 14, error == 0 && v == 10);
	rp_future_unref(f);
	CHILD_CHECK(base + 15, rp_fsync(ex, fd, 0, NULL, &f) == 0);
	CHILD_CHECK(base + 16, rp_future_result(f, tu_stuck_timeout_ns(), &v,
						&error) == 0);
	CHILD_CHECK(base + 17, error == 0);
	rp_future_unref(f);
	memset(&stx, 0, sizeof(stx));
	CHILD_CHECK(base + 18, rp_statx(ex, fd, "", AT_EMPTY_PATH, STATX_SIZE,
					&stx, NULL, &f) == 0);
	CHILD_CHECK(base + 19, rp_future_result(f, tu_stuck_timeout_ns(), &v,
						&error) == 0);
	CHILD_CHECK(base + 20, error == 0 && stx.stx_size == 10);
	rp_future_unref(f);
	memset(buf, 0, sizeof(buf));
	CHILD_CHECK(base + 21, rp_read_full(ex, fd, buf, sizeof(buf), 2, NULL,
					    &f) == 0);
	CHILD_CHECK(base + 22, rp_future_result(f, tu_stuck_timeout_ns(), &v,
						&error) == 0);
	CHILD_CHECK(base + 23, error == 0 && v == 8 &&
				       !memcmp(buf, "23456789", 8));
	rp_future_unref(f);
	CHILD_CHECK(base + 24, rp_close(ex, fd, NULL, &f) == 0);
	CHILD_CHECK(base + 25, rp_future_result(f, tu_stuck_timeout_ns(), &v,
						&error) == 0);
	CHILD_CHECK(base + 26, error == 0);
	rp_future_unref(f);
	CHILD_CHECK(base + 27, rp_unlinkat(ex, AT_FDCWD, path, 0, NULL, &f) ==
				       0);
	CHILD_CHECK(base + 28, rp_future_result(f, tu_stuck_timeout_ns(), &v,
						&error) == 0);
	CHILD_CHECK(base + 29, error == 0);
	rp_future_unref(f);
	CHILD_CHECK(base + 30, rmdir(dir) == 0);

	/* A nop and a short sleep. */
	CHILD_CHECK(base + 31, rp_nop(ex, NULL, &f) == 0);
	CHILD_CHECK(base + 32, rp_future_result(f, tu_stuck_timeout_ns(), &v,
						&error) == 0);
	CHILD_CHECK(base + 33, error == 0 && v == 0);
	rp_future_unref(f);
	CHILD_CHECK(base + 34, rp_sleep(ex, MS, &f) == 0);
	CHILD_CHECK(base + 35, rp_future_result(f, tu_stuck_timeout_ns(), &v,
						&error) == 0);
	CHILD_CHECK(base + 36, error == 0 && v == 0);
	rp_future_unref(f);
}

static void child_auto_falls_back(void)
{
	struct rp_config cfg;
	rp_executor *ex = NULL;
	const char *why = NULL;
	int backend = -1;

	CHILD_CHECK(1, unsetenv("RINGPOOL_BACKEND") == 0);
	child_block();
	CHILD_CHECK(2, rp_config_init(&cfg) == 0);
	CHILD_CHECK(3, cfg.backend == RP_BACKEND_AUTO);
	CHILD_CHECK(4, rp_executor_new(&cfg, &ex) == 0 && ex);
	CHILD_CHECK(5, rp_executor_backend(ex, &backend, &why) == 0);
	CHILD_CHECK(6, backend == RP_BACKEND_THREADS);
	CHILD_CHECK(7, why != NULL);
	printf("\n    why: %s\n", why);
	CHILD_CHECK(8, strstr(why, "io_uring_setup") != NULL);
	CHILD_CHECK(9, strstr(why, "EPERM") != NULL);
	child_do_io(ex, 10);
	CHILD_CHECK(80, rp_executor_free(ex) == 0);

	/* NULL settings are the defaults: AUTO too. */
	ex = NULL;
	CHILD_CHECK(81, rp_executor_new(NULL, &ex) == 0 && ex);
	CHILD_CHECK(82, rp_executor_backend(ex, &backend, &why) == 0);
	CHILD_CHECK(83, backend == RP_BACKEND_THREADS && why != NULL);
	CHILD_CHECK(84, rp_executor_free(ex) == 0);
}

static void test_auto_falls_back_when_seccomp_blocks_io_uring(void)
{
	if (can_filter())
		in_child(child_auto_falls_back);
}

static void child_forced_uring_fails(void)
{
	struct rp_config cfg;
	rp_executor *ex = NULL;

	CHILD_CHECK(1, unsetenv("RINGPOOL_BACKEND") == 0);
	child_block();
	CHILD_CHECK(2, rp_config_init(&cfg) == 0);
	cfg.backend = RP_BACKEND_URING;
	CHILD_CHECK(3, rp_executor_new(&cfg, &ex) == -EPERM);
	CHILD_CHECK(4, ex == NULL);
	/* The environment forces it the same way under AUTO. */
	CHILD_CHECK(5, setenv("RINGPOOL_BACKEND", "uring", 1) == 0);
	CHILD_CHECK(6, rp_config_init(&cfg) == 0);
	CHILD_CHECK(7, rp_executor_new(&cfg, &ex) == -EPERM);
	CHILD_CHECK(8, ex == NULL);
	/* Asking for threads works, and says why it is not io_uring. */
	CHILD_CHECK(9, unsetenv("RINGPOOL_BACKEND") == 0);
	cfg.backend = RP_BACKEND_THREADS;
	CHILD_CHECK(10, rp_executor_new(&cfg, &ex) == 0 && ex);
	{
		const char *why = NULL;
		int backend = -1;

		CHILD_CHECK(11, rp_executor_backend(ex, &backend, &why) == 0);
		CHILD_CHECK(12, backend == RP_BACKEND_THREADS && why != NULL);
	}
	child_do_io(ex, 20);
	CHILD_CHECK(80, rp_executor_free(ex) == 0);
}

static void test_forced_uring_fails_with_eperm(void)
{
	if (can_filter())
		in_child(child_forced_uring_fails);
}

static void child_env_threads_under_seccomp(void)
{
	struct rp_config cfg;
	rp_executor *ex = NULL;
	const char *why = NULL;
	int backend = -1;

	CHILD_CHECK(1, setenv("RINGPOOL_BACKEND", "threads", 1) == 0);
	child_block();
	CHILD_CHECK(2, rp_config_init(&cfg) == 0);
	CHILD_CHECK(3, rp_executor_new(&cfg, &ex) == 0 && ex);
	CHILD_CHECK(4, rp_executor_backend(ex, &backend, &why) == 0);
	CHILD_CHECK(5, backend == RP_BACKEND_THREADS && why != NULL);
	CHILD_CHECK(6, rp_executor_free(ex) == 0);
}

static void test_environment_threads_under_seccomp(void)
{
	if (can_filter())
		in_child(child_env_threads_under_seccomp);
}

/* Without a filter: what each setting gives on this machine. */
static void child_backends_without_filter(void)
{
	bool usable = io_uring_usable();
	struct rp_config cfg;
	rp_executor *ex = NULL;
	const char *why = NULL;
	int backend = -1, ret;

	CHILD_CHECK(1, unsetenv("RINGPOOL_BACKEND") == 0);
	CHILD_CHECK(2, rp_config_init(&cfg) == 0);
	cfg.backend = RP_BACKEND_THREADS;
	CHILD_CHECK(3, rp_executor_new(&cfg, &ex) == 0 && ex);
	CHILD_CHECK(4, rp_executor_backend(ex, &backend, &why) == 0);
	CHILD_CHECK(5, backend == RP_BACKEND_THREADS && why != NULL);
	child_do_io(ex, 10);
	CHILD_CHECK(50, rp_executor_free(ex) == 0);

	ex = NULL;
	cfg.backend = RP_BACKEND_URING;
	ret = rp_executor_new(&cfg, &ex);
	if (!usable) {
		printf("\n    io_uring unusable here: forced uring gave %d\n",
		       ret);
		CHILD_CHECK(51, ret < 0 && ex == NULL);
		return;
	}
	CHILD_CHECK(52, ret == 0 && ex);
	CHILD_CHECK(53, rp_executor_backend(ex, &backend, &why) == 0);
	CHILD_CHECK(54, backend == RP_BACKEND_URING && why == NULL);
	child_do_io(ex, 60);
	CHILD_CHECK(95, rp_executor_free(ex) == 0);

	ex = NULL;
	cfg.backend = RP_BACKEND_AUTO;
	CHILD_CHECK(96, rp_executor_new(&cfg, &ex) == 0 && ex);
	CHILD_CHECK(97, rp_executor_backend(ex, &backend, &why) == 0);
	CHILD_CHECK(98, backend == RP_BACKEND_URING && why == NULL);
	CHILD_CHECK(100, rp_executor_free(ex) == 0);
}

static void test_backends_without_filter(void)
{
	in_child(child_backends_without_filter);
}

/* Settings out of their documented ranges are refused. */
static void child_bad_settings(void)
{
	static const struct {
		unsigned rings, ring_entries, io_threads;
		int backend;
	} bad[] = {
		{ 65, 256, 16, RP_BACKEND_AUTO },	/* rings: max 64 */
		{ 1, 100, 16, RP_BACKEND_AUTO },	/* not a power of two */
		{ 1, 256, 1025, RP_BACKEND_AUTO },	/* io_threads: max 1024 */
		{ 1, 256, 16, 7 },			/* no such backend */
		{ 1, 256, 16, -1 },
	};
	struct rp_config cfg;
	rp_executor *ex;
	size_t i;

	CHILD_CHECK(1, unsetenv("RINGPOOL_BACKEND") == 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret;

		CHILD_CHECK(2, rp_config_init(&cfg) == 0);
		cfg.rings = bad[i].rings;
		cfg.ring_entries = bad[i].ring_entries;
		cfg.io_threads = bad[i].io_threads;
		cfg.backend = bad[i].backend;
		ex = NULL;
		ret = rp_executor_new(&cfg, &ex);
		if (ret != -EINVAL)
			fprintf(stderr, "setting %zu: rp_executor_new gave %d\n",
				i, ret);
		if (ex)
			rp_executor_free(ex);
		CHILD_CHECK(10 + (int)i, ret == -EINVAL);
	}
	/* The limits themselves are fine. */
	CHILD_CHECK(3, rp_config_init(&cfg) == 0);
	cfg.rings = 64;
	cfg.ring_entries = 4;
	cfg.io_threads = tu_under_valgrind() ? 4 : 1024;
	ex = NULL;
	CHILD_CHECK(4, rp_executor_new(&cfg, &ex) == 0 && ex);
	child_do_io(ex, 30);
	CHILD_CHECK(80, rp_executor_free(ex) == 0);
}

static void test_bad_settings_are_refused(void)
{
	in_child(child_bad_settings);
}

static const struct tu_test tests[] = {
	{ "auto_falls_back_when_seccomp_blocks_io_uring",
	  test_auto_falls_back_when_seccomp_blocks_io_uring, false },
	{ "forced_uring_fails_with_eperm", test_forced_uring_fails_with_eperm,
	  false },
	{ "environment_threads_under_seccomp",
	  test_environment_threads_under_seccomp, false },
	{ "backends_without_filter", test_backends_without_filter, false },
	{ "bad_settings_are_refused", test_bad_settings_are_refused, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "io-fallback", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
