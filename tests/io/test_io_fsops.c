/* SPDX-License-Identifier: MIT */
/*
 * File-system operations: openat, close, fsync and fdatasync, fallocate,
 * statx, unlinkat, renameat and mkdirat, each with its error paths.
 *
 * Registered three times: RINGPOOL_BACKEND=uring, RINGPOOL_BACKEND=threads
 * and shared rings.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "iotest.h"
#include "ringpool.h"
#include "testutil.h"

static void test_openat_and_close(void)
{
	rp_executor *ex = it_executor_new(NULL);
	char path[512], buf[8];
	rp_future *f = NULL;
	struct stat st;
	struct it_dir d;
	int64_t v = -1;
	int fds[2], fd;

	it_dir_make(&d, NULL);
	/* Create relative to a directory descriptor. */
	CU_ASSERT_EQUAL_FATAL(rp_openat(ex, d.fd, "new",
					O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
					0640, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_FATAL(v >= 0);
	fd = (int)v;
	CU_ASSERT_EQUAL(fstat(fd, &st), 0);
	CU_ASSERT(S_ISREG(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0640);
	CU_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CU_ASSERT_EQUAL(write(fd, "abc", 3), 3);
	CU_ASSERT_EQUAL(it_close(ex, fd), 0);

	/* Open by absolute path with AT_FDCWD, read-only. */
	it_path(&d, "new", path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(rp_openat(ex, AT_FDCWD, path, O_RDONLY | O_CLOEXEC,
					0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_FATAL(v >= 0);
	fd = (int)v;
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(read(fd, buf, sizeof(buf)), 3);
	CU_ASSERT(memcmp(buf, "abc", 3) == 0);
	CU_ASSERT_EQUAL(it_close(ex, fd), 0);

	/* Errors. */
	CU_ASSERT_EQUAL_FATAL(rp_openat(ex, d.fd, "missing", O_RDONLY, 0, NULL,
					&f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOENT);
	it_path(&d, "no/such/dir", path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(rp_openat(ex, AT_FDCWD, path,
					O_CREAT | O_RDWR, 0600, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOENT);
	CU_ASSERT_EQUAL_FATAL(rp_openat(ex, d.fd, "new",
					O_CREAT | O_EXCL | O_RDWR, 0600, NULL,
					&f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EEXIST);
	CU_ASSERT_EQUAL_FATAL(rp_openat(ex, AT_FDCWD, d.path, O_WRONLY, 0,
					NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EISDIR);
	CU_ASSERT_EQUAL_FATAL(rp_openat(ex, d.fd, "new/x", O_RDONLY, 0, NULL,
					&f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOTDIR);

	/* Closing the write end of a pipe gives its reader end of file. */
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL(it_close(ex, fds[1]), 0);
	CU_ASSERT_EQUAL(read(fds[0], buf, sizeof(buf)), 0);
	close(fds[0]);
	it_dir_remove(&d);
	it_executor_free(ex);
}

static void test_fsync_both_flags(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	struct it_dir d;
	int64_t v = -1;
	int fds[2], fd;

	it_dir_make(&d, NULL);
	fd = it_open_rw(&d, "f");
	CU_ASSERT_EQUAL(write(fd, "data", 4), 4);
	CU_ASSERT_EQUAL_FATAL(rp_fsync(ex, fd, 0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(write(fd, "more", 4), 4);
	v = -1;
	CU_ASSERT_EQUAL_FATAL(rp_fsync(ex, fd, RP_FSYNC_DATASYNC, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	/* A directory can be synced too. */
	CU_ASSERT_EQUAL_FATAL(rp_fsync(ex, d.fd, 0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), 0);
	/* A pipe cannot. */
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_fsync(ex, fds[1], 0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(rp_fsync(ex, fds[1], RP_FSYNC_DATASYNC, NULL,
				       &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EINVAL);
	close(fds[0]);
	close(fds[1]);
	close(fd);
	it_dir_remove(&d);
	it_executor_free(ex);
}

static void test_fallocate(void)
{
	rp_executor *ex = it_executor_new(NULL);
	rp_future *f = NULL;
	struct stat st;
	struct it_dir d;
	int64_t v = -1;
	int fds[2], fd, ro;

	it_dir_make(&d, NULL);
	fd = it_open_rw(&d, "f");
	CU_ASSERT_EQUAL_FATAL(rp_fallocate(ex, fd, 0, 0, (int64_t)MiB, NULL,
					   &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(fstat(fd, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, (off_t)MiB);
	CU_ASSERT(st.st_blocks * 512 >= (blkcnt_t)MiB);
	/* KEEP_SIZE reserves past the end without growing the file. */
	CU_ASSERT_EQUAL_FATAL(rp_fallocate(ex, fd, FALLOC_FL_KEEP_SIZE,
					   (int64_t)MiB, (int64_t)MiB, NULL,
					   &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), 0);
	CU_ASSERT_EQUAL(fstat(fd, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, (off_t)MiB);
	CU_ASSERT(st.st_blocks * 512 >= (blkcnt_t)(2 * MiB));
	/* Errors: zero length, a pipe, a read-only descriptor. */
	CU_ASSERT_EQUAL(it_einval_either(rp_fallocate(ex, fd, 0, 0, 0, NULL, &f),
				      &f), -EINVAL);
	CU_ASSERT_EQUAL(it_einval_either(rp_fallocate(ex, fd, 0, -1, 4096, NULL,
						   &f), &f), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(rp_fallocate(ex, fds[1], 0, 0, 4096, NULL, &f),
			      0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ESPIPE);
	ro = openat(d.fd, "f", O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(ro >= 0);
	CU_ASSERT_EQUAL_FATAL(rp_fallocate(ex, ro, 0, 0, 4096, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EBADF);
	close(ro);
	close(fds[0]);
	close(fds[1]);
	close(fd);
	it_dir_remove(&d);
	it_executor_free(ex);
}

static void test_statx(void)
{
	rp_executor *ex = it_executor_new(NULL);
	unsigned char data[12345];
	char path[512];
	struct statx stx;
	rp_future *f = NULL;
	struct it_dir d;
	int64_t v = -1;
	int fd;

	it_dir_make(&d, NULL);
	fd = it_open_rw(&d, "f");
	it_fill(data, sizeof(data), 1, 0);
	CU_ASSERT_EQUAL(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));

	it_path(&d, "f", path, sizeof(path));
	memset(&stx, 0xff, sizeof(stx));
	CU_ASSERT_EQUAL_FATAL(rp_statx(ex, AT_FDCWD, path, 0,
				       STATX_TYPE | STATX_SIZE, &stx, NULL,
				       &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT((stx.stx_mask & (STATX_TYPE | STATX_SIZE)) ==
		  (STATX_TYPE | STATX_SIZE));
	CU_ASSERT(S_ISREG(stx.stx_mode));
	CU_ASSERT_EQUAL(stx.stx_size, sizeof(data));

	/* Relative to a directory descriptor. */
	memset(&stx, 0, sizeof(stx));
	CU_ASSERT_EQUAL_FATAL(rp_statx(ex, d.fd, "f", 0, STATX_SIZE, &stx,
				       NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), 0);
	CU_ASSERT_EQUAL(stx.stx_size, sizeof(data));

	/* Of a descriptor, with AT_EMPTY_PATH. */
	memset(&stx, 0, sizeof(stx));
	CU_ASSERT_EQUAL_FATAL(rp_statx(ex, fd, "", AT_EMPTY_PATH,
				       STATX_TYPE | STATX_SIZE, &stx, NULL,
				       &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), 0);
	CU_ASSERT(S_ISREG(stx.stx_mode));
	CU_ASSERT_EQUAL(stx.stx_size, sizeof(data));

	/* Of the directory. */
	memset(&stx, 0, sizeof(stx));
	CU_ASSERT_EQUAL_FATAL(rp_statx(ex, AT_FDCWD, d.path, 0, STATX_TYPE,
				       &stx, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), 0);
	CU_ASSERT(S_ISDIR(stx.stx_mode));

	/* Errors. */
	CU_ASSERT_EQUAL_FATAL(rp_statx(ex, d.fd, "missing", 0, STATX_SIZE,
				       &stx, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOENT);
	CU_ASSERT_EQUAL_FATAL(rp_statx(ex, d.fd, "f/x", 0, STATX_SIZE, &stx,
				       NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -ENOTDIR);
	close(fd);
	it_dir_remove(&d);
	it_executor_free(ex);
}

static bool exists(const struct it_dir *d, const char *name)
{
	return faccessat(d->fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static void touch(const struct it_dir *d, const char *name, const char *text)
{
	size_t len = strlen(text);
	int fd;

	fd = openat(d->fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static bool has_text(const struct it_dir *d, const char *name,
		     const char *text)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = openat(d->fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == (ssize_t)strlen(text) && !memcmp(buf, text, (size_t)n);
}

static int unlink_op(rp_executor *ex, int dirfd, const char *path, int flags)
{
	rp_future *f = NULL;
	int64_t v = -1;
	int err;

	CU_ASSERT_EQUAL_FATAL(rp_unlinkat(ex, dirfd, path, flags, NULL, &f),
			      0);
	err = it_end(f, &v);
	if (!err)
		CU_ASSERT_EQUAL(v, 0);
	return err;
}

static void test_unlinkat(void)
{
	rp_executor *ex = it_executor_new(NULL);
	char path[512];
	struct it_dir d;

	it_dir_make(&d, NULL);
	touch(&d, "a", "A");
	CU_ASSERT_EQUAL(unlink_op(ex, d.fd, "a", 0), 0);
	CU_ASSERT_FALSE(exists(&d, "a"));
	CU_ASSERT_EQUAL(unlink_op(ex, d.fd, "a", 0), -ENOENT);
	/* By absolute path. */
	touch(&d, "b", "B");
	it_path(&d, "b", path, sizeof(path));
	CU_ASSERT_EQUAL(unlink_op(ex, AT_FDCWD, path, 0), 0);
	CU_ASSERT_FALSE(exists(&d, "b"));
	/* Directories need AT_REMOVEDIR and must be empty. */
	CU_ASSERT_EQUAL_FATAL(mkdirat(d.fd, "sub", 0700), 0);
	touch(&d, "sub/x", "X");
	CU_ASSERT_EQUAL(unlink_op(ex, d.fd, "sub", 0), -EISDIR);
	CU_ASSERT_EQUAL(unlink_op(ex, d.fd, "sub", AT_REMOVEDIR), -ENOTEMPTY);
	CU_ASSERT_EQUAL(unlink_op(ex, d.fd, "sub/x", AT_REMOVEDIR), -ENOTDIR);
	CU_ASSERT_EQUAL(unlink_op(ex, d.fd, "sub/x", 0), 0);
	CU_ASSERT_EQUAL(unlink_op(ex, d.fd, "sub", AT_REMOVEDIR), 0);
	CU_ASSERT_FALSE(exists(&d, "sub"));
	it_dir_remove(&d);
	it_executor_free(ex);
}

static int rename_op(rp_executor *ex, int olddir, const char *oldpath,
		     int newdir, const char *newpath, unsigned flags)
{
	rp_future *f = NULL;
	int64_t v = -1;
	int err;

	CU_ASSERT_EQUAL_FATAL(rp_renameat(ex, olddir, oldpath, newdir, newpath,
					  flags, NULL, &f), 0);
	err = it_end(f, &v);
	if (!err)
		CU_ASSERT_EQUAL(v, 0);
	return err;
}

static void test_renameat(void)
{
	rp_executor *ex = it_executor_new(NULL);
	char from[512], to[512];
	struct it_dir d;

	it_dir_make(&d, NULL);
	touch(&d, "a", "A");
	CU_ASSERT_EQUAL(rename_op(ex, d.fd, "a", d.fd, "b", 0), 0);
	CU_ASSERT_FALSE(exists(&d, "a"));
	CU_ASSERT(has_text(&d, "b", "A"));
	/* NOREPLACE refuses an existing target; plain rename replaces. */
	touch(&d, "c", "C");
	CU_ASSERT_EQUAL(rename_op(ex, d.fd, "b", d.fd, "c", RENAME_NOREPLACE),
			-EEXIST);
	CU_ASSERT(has_text(&d, "b", "A"));
	CU_ASSERT(has_text(&d, "c", "C"));
	CU_ASSERT_EQUAL(rename_op(ex, d.fd, "b", d.fd, "c", 0), 0);
	CU_ASSERT_FALSE(exists(&d, "b"));
	CU_ASSERT(has_text(&d, "c", "A"));
	/* EXCHANGE swaps. */
	touch(&d, "e", "E");
	CU_ASSERT_EQUAL(rename_op(ex, d.fd, "c", d.fd, "e", RENAME_EXCHANGE),
			0);
	CU_ASSERT(has_text(&d, "c", "E"));
	CU_ASSERT(has_text(&d, "e", "A"));
	/* Absolute paths with AT_FDCWD, into a subdirectory. */
	CU_ASSERT_EQUAL_FATAL(mkdirat(d.fd, "sub", 0700), 0);
	it_path(&d, "e", from, sizeof(from));
	it_path(&d, "sub/e2", to, sizeof(to));
	CU_ASSERT_EQUAL(rename_op(ex, AT_FDCWD, from, AT_FDCWD, to, 0), 0);
	CU_ASSERT(has_text(&d, "sub/e2", "A"));
	/* Errors. */
	CU_ASSERT_EQUAL(rename_op(ex, d.fd, "missing", d.fd, "x", 0), -ENOENT);
	CU_ASSERT_EQUAL(rename_op(ex, d.fd, "c", d.fd, "nodir/x", 0), -ENOENT);
	CU_ASSERT_EQUAL(rename_op(ex, d.fd, "c", d.fd, "missing",
				  RENAME_EXCHANGE), -ENOENT);
	CU_ASSERT(has_text(&d, "c", "E"));
	it_dir_remove(&d);
	it_executor_free(ex);
}

static int mkdir_op(rp_executor *ex, int dirfd, const char *path,
		    unsigned mode)
{
	rp_future *f = NULL;
	int64_t v = -1;
	int err;

	CU_ASSERT_EQUAL_FATAL(rp_mkdirat(ex, dirfd, path, mode, NULL, &f), 0);
	err = it_end(f, &v);
	if (!err)
		CU_ASSERT_EQUAL(v, 0);
	return err;
}

static void test_mkdirat(void)
{
	rp_executor *ex = it_executor_new(NULL);
	char path[512];
	struct stat st;
	struct it_dir d;

	it_dir_make(&d, NULL);
	CU_ASSERT_EQUAL(mkdir_op(ex, d.fd, "d", 0700), 0);
	CU_ASSERT_EQUAL(fstatat(d.fd, "d", &st, 0), 0);
	CU_ASSERT(S_ISDIR(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
	CU_ASSERT_EQUAL(mkdir_op(ex, d.fd, "d/e", 0755), 0);
	it_path(&d, "abs", path, sizeof(path));
	CU_ASSERT_EQUAL(mkdir_op(ex, AT_FDCWD, path, 0700), 0);
	CU_ASSERT_EQUAL(fstatat(d.fd, "abs", &st, 0), 0);
	CU_ASSERT(S_ISDIR(st.st_mode));
	/* Errors. */
	CU_ASSERT_EQUAL(mkdir_op(ex, d.fd, "d", 0700), -EEXIST);
	CU_ASSERT_EQUAL(mkdir_op(ex, d.fd, "missing/d", 0700), -ENOENT);
	touch(&d, "file", "F");
	CU_ASSERT_EQUAL(mkdir_op(ex, d.fd, "file/d", 0700), -ENOTDIR);
	it_dir_remove(&d);
	it_executor_free(ex);
}

static const struct tu_test tests[] = {
	{ "openat_and_close", test_openat_and_close, false },
	{ "fsync_both_flags", test_fsync_both_flags, false },
	{ "fallocate", test_fallocate, false },
	{ "statx", test_statx, false },
	{ "unlinkat", test_unlinkat, false },
	{ "renameat", test_renameat, false },
	{ "mkdirat", test_mkdirat, false },
};

int main(int argc, char **argv)
{
	umask(022);
	it_raise_nofile();
	return tu_run_tests(argc, argv, "io-fsops", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
