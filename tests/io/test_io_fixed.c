/* SPDX-License-Identifier: MIT */
/*
 * Registered files and fixed buffers (rp_register_files,
 * rp_register_buffers, RP_IO_FIXED_FILE, RP_IO_FIXED_BUF), on the backend
 * RINGPOOL_BACKEND asks for: the fallback must accept the same code.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "iotest.h"

#define BUF_SIZE 16384

/* A scratch file holding it_fill()'s pattern (seed 7), open read-write. */
static int pattern_file(struct it_dir *d, size_t size)
{
	char path[512];
	void *data = malloc(size);
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	it_path(d, "data", path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	it_fill(data, size, 7, 0);
	CU_ASSERT_EQUAL_FATAL(pwrite(fd, data, size, 0), (ssize_t)size);
	free(data);
	return fd;
}

static void test_fixed_file_and_buffer_read(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct rp_io_opts o = { .flags = RP_IO_FIXED_FILE | RP_IO_FIXED_BUF };
	void *buf = aligned_alloc(4096, BUF_SIZE);
	struct iovec iov = { buf, BUF_SIZE };
	struct it_dir d;
	rp_future *f;
	int64_t v = -1;
	int fd, fds[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	it_dir_make(&d, NULL);
	fd = pattern_file(&d, BUF_SIZE);
	fds[0] = -1;			/* a hole in the table is allowed */
	fds[1] = fd;
	CU_ASSERT_EQUAL(rp_register_files(ex, fds, 2), 0);
	CU_ASSERT_EQUAL(rp_register_buffers(ex, &iov, 1), 0);

	memset(buf, 0, BUF_SIZE);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, 1, buf, 4096, 4096, &o, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT_TRUE(it_check(buf, 4096, 7, 4096));

	/* The whole file, in a part of the registered buffer. */
	memset(buf, 0, BUF_SIZE);
	CU_ASSERT_EQUAL_FATAL(rp_read_full(ex, 1, (char *)buf + 1024,
					   BUF_SIZE - 1024, 0, &o, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, BUF_SIZE - 1024);
	CU_ASSERT_TRUE(it_check((char *)buf + 1024, BUF_SIZE - 1024, 7, 0));

	CU_ASSERT_EQUAL(rp_register_files(ex, NULL, 0), 0);
	CU_ASSERT_EQUAL(rp_register_buffers(ex, NULL, 0), 0);
	it_executor_free(ex);
	close(fd);
	it_dir_remove(&d);
	free(buf);
}

static void test_fixed_write_lands_in_the_file(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct rp_io_opts o = { .flags = RP_IO_FIXED_FILE | RP_IO_FIXED_BUF };
	char *buf = malloc(BUF_SIZE), *back = malloc(BUF_SIZE);
	struct iovec iov = { buf, BUF_SIZE };
	struct it_dir d;
	rp_future *f;
	int64_t v = -1;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	it_dir_make(&d, NULL);
	fd = pattern_file(&d, 100);
	CU_ASSERT_EQUAL(rp_register_files(ex, &fd, 1), 0);
	CU_ASSERT_EQUAL(rp_register_buffers(ex, &iov, 1), 0);
	it_fill(buf, BUF_SIZE, 9, 0);
	CU_ASSERT_EQUAL_FATAL(rp_write_full(ex, 0, buf, BUF_SIZE, 0, &o, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, BUF_SIZE);
	CU_ASSERT_EQUAL(pread(fd, back, BUF_SIZE, 0), BUF_SIZE);
	CU_ASSERT_TRUE(it_check(back, BUF_SIZE, 9, 0));
	it_executor_free(ex);
	close(fd);
	it_dir_remove(&d);
	free(buf);
	free(back);
}

static void test_fixed_file_index_out_of_table_gives_ebadf(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct rp_io_opts o = { .flags = RP_IO_FIXED_FILE };
	char buf[16];
	rp_future *f;
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(rp_register_files(ex, &fd, 1), 0);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, 5, buf, sizeof(buf), 0, &o, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EBADF);
	/* Unregistered: index 0 means nothing any more. */
	CU_ASSERT_EQUAL(rp_register_files(ex, NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, 0, buf, sizeof(buf), 0, &o, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EBADF);
	it_executor_free(ex);
	close(fd);
}

static void test_fixed_options_are_checked_by_the_call(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct rp_io_opts o = { .flags = RP_IO_FIXED_BUF, .buf_index = 0 };
	char buf[64];
	rp_future *f = NULL;
	struct iovec iov = { buf, sizeof(buf) };

	/* No buffers registered yet. */
	CU_ASSERT_EQUAL(rp_read(ex, 0, buf, 8, 0, &o, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_register_buffers(ex, &iov, 1), 0);
	o.buf_index = 1;
	CU_ASSERT_EQUAL(rp_read(ex, 0, buf, 8, 0, &o, &f), -EINVAL);
	/* Fixed buffers only for reads and writes; unknown flags refused. */
	o.buf_index = 0;
	CU_ASSERT_EQUAL(rp_send(ex, 0, buf, 8, 0, &o, &f), -EINVAL);
	o.flags = 1u << 20;
	CU_ASSERT_EQUAL(rp_nop(ex, &o, &f), -EINVAL);
	CU_ASSERT_PTR_NULL(f);
	CU_ASSERT_EQUAL(rp_register_files(NULL, NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(rp_register_files(ex, NULL, 3), -EINVAL);
	CU_ASSERT_EQUAL(rp_register_buffers(ex, NULL, 2), -EINVAL);
	CU_ASSERT_EQUAL(rp_register_buffers(NULL, &iov, 1), -EINVAL);
	it_executor_free(ex);
}

/*
 * RP_IO_FIXED_FILE on an operation that does not take it is refused by the
 * call on both backends.  io_uring refused rp_close() and the path
 * operations (-EBADF) and ignored the flag on rp_socket() and rp_nop(),
 * while the fallback translated the index: its rp_close() closed the
 * caller's registered descriptor and its rp_openat() opened relative to it.
 */
static void test_fixed_file_refused_where_not_taken(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct rp_io_opts o = { .flags = RP_IO_FIXED_FILE };
	struct statx stx;
	rp_future *f = NULL;
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(rp_register_files(ex, &fd, 1), 0);
	CU_ASSERT_EQUAL(rp_close(ex, 0, &o, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_openat(ex, 0, ".", O_RDONLY, 0, &o, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_statx(ex, 0, ".", 0, STATX_BASIC_STATS, &stx, &o,
				 &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_unlinkat(ex, 0, "rp-none", 0, &o, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_renameat(ex, 0, "rp-none", 0, "rp-none2", 0, &o,
				    &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_mkdirat(ex, 0, "rp-none", 0700, &o, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_socket(ex, AF_UNIX, SOCK_STREAM, 0, &o, &f),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_nop(ex, &o, &f), -EINVAL);
	CU_ASSERT_PTR_NULL(f);
	/* The registered descriptor is still open, and still usable. */
	CU_ASSERT(fcntl(fd, F_GETFD) >= 0);
	CU_ASSERT_EQUAL_FATAL(rp_fsync(ex, 0, 0, &o, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), 0);
	it_executor_free(ex);
	close(fd);
}

struct reg_from_cb {
	rp_executor *ex;
	int fd;
	int files, bufs;
	struct tu_latch ran;
};

static void register_in_callback(rp_future *f, void *arg)
{
	struct reg_from_cb *r = arg;
	char buf[8];
	struct iovec iov = { buf, sizeof(buf) };

	(void)f;
	r->files = rp_register_files(r->ex, &r->fd, 1);
	r->bufs = rp_register_buffers(r->ex, &iov, 1);
	tu_latch_post(&r->ran);
}

static int failing_initializer(void *arg)
{
	(void)arg;
	return -EPERM;
}

/*
 * Registration answers the same on both backends where it cannot go on:
 * io_uring refused it from a ring's thread (-EDEADLK), after shutdown
 * (-ESHUTDOWN) and on a broken executor (-ENOTRECOVERABLE), while the
 * fallback accepted all three.
 */
static void test_register_refused_alike_on_both_backends(void)
{
	struct reg_from_cb r = { .fd = 0, .files = 1, .bufs = 1 };
	struct rp_config cfg;
	char buf[8];
	struct iovec iov = { buf, sizeof(buf) };
	rp_future *f = NULL;
	int fd = 0, p[2];

	tu_latch_init(&r.ran);
	r.ex = it_executor_new(NULL);
	/*
	 * A poll that can end only after the callback is on it, so that the
	 * callback runs on the thread that ends the operation, not inline
	 * here (a 1 ms sleep could end first under valgrind).
	 */
	CU_ASSERT_EQUAL_FATAL(pipe2(p, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_poll(r.ex, p[0], POLLIN, NULL, &f), 0);
	CU_ASSERT_EQUAL(rp_future_add_done_callback(f, register_in_callback,
						    &r), 0);
	CU_ASSERT_EQUAL(write(p[1], "x", 1), 1);
	CU_ASSERT(it_end(f, NULL) >= 0);
	close(p[0]);
	close(p[1]);
	it_latch_wait(&r.ran, 1, "the done-callback");
	CU_ASSERT_EQUAL(r.files, -EDEADLK);
	CU_ASSERT_EQUAL(r.bufs, -EDEADLK);
	/* From the caller's own thread it works. */
	CU_ASSERT_EQUAL(rp_register_files(r.ex, &fd, 1), 0);
	CU_ASSERT_EQUAL(rp_executor_shutdown(r.ex, 0), 0);
	CU_ASSERT_EQUAL(rp_register_files(r.ex, &fd, 1), -ESHUTDOWN);
	CU_ASSERT_EQUAL(rp_register_files(r.ex, NULL, 0), -ESHUTDOWN);
	CU_ASSERT_EQUAL(rp_register_buffers(r.ex, &iov, 1), -ESHUTDOWN);
	it_executor_free(r.ex);
	tu_latch_destroy(&r.ran);

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.initializer = failing_initializer;
	r.ex = it_executor_new(&cfg);
	CU_ASSERT_EQUAL(rp_register_files(r.ex, &fd, 1), -ENOTRECOVERABLE);
	CU_ASSERT_EQUAL(rp_register_buffers(r.ex, &iov, 1),
			-ENOTRECOVERABLE);
	it_executor_free(r.ex);
}

/*
 * A fixed-buffer read or write must lie inside its registered buffer: the
 * kernel refuses one that does not with -EFAULT, and so does the fallback,
 * which could otherwise have done it as a plain read.
 */
static void test_fixed_buf_outside_its_buffer_faults(void)
{
	rp_executor *ex = it_executor_new(NULL);
	struct rp_io_opts o = { .flags = RP_IO_FIXED_BUF, .buf_index = 0 };
	char *buf = malloc(2 * BUF_SIZE);
	struct iovec iov = { buf, BUF_SIZE };
	rp_future *f;
	int64_t v = -1;
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(rp_register_buffers(ex, &iov, 1), 0);
	/* Its last 16 bytes: inside. */
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fd, buf + BUF_SIZE - 16, 16, -1, &o,
				      &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 16);
	/* Across its end. */
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fd, buf + BUF_SIZE - 8, 16, -1, &o,
				      &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EFAULT);
	/* Wholly past it. */
	CU_ASSERT_EQUAL_FATAL(rp_read(ex, fd, buf + BUF_SIZE, 16, -1, &o, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EFAULT);
	CU_ASSERT_EQUAL(rp_register_buffers(ex, NULL, 0), 0);
	it_executor_free(ex);
	close(fd);
	free(buf);
}

static const struct tu_test tests[] = {
	{"fixed_buf_outside_its_buffer_faults",
	 test_fixed_buf_outside_its_buffer_faults, false},
	{ "fixed_file_and_buffer_read", test_fixed_file_and_buffer_read,
	  false },
	{ "fixed_write_lands_in_the_file", test_fixed_write_lands_in_the_file,
	  false },
	{ "fixed_file_index_out_of_table_gives_ebadf",
	  test_fixed_file_index_out_of_table_gives_ebadf, false },
	{ "fixed_options_are_checked_by_the_call",
	  test_fixed_options_are_checked_by_the_call, false },
	{ "fixed_file_refused_where_not_taken",
	  test_fixed_file_refused_where_not_taken, false },
	{ "register_refused_alike_on_both_backends",
	  test_register_refused_alike_on_both_backends, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "io-fixed", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
