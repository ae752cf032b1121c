/* SPDX-License-Identifier: MIT */
/*
 * File I/O: read, write, readv and writev at offsets and at the file position,
 * end of file and short reads, a sparse 1 GiB file, the *_full helpers on
 * pipes and files, openat, close, fsync, fallocate, statx, unlinkat, renameat
 * and mkdirat with their error paths, O_DIRECT alignment, and a file copy
 * pipeline driven by done-callbacks.
 *
 * Registered twice: RINGPOOL_BACKEND=uring and RINGPOOL_BACKEND=threads.
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

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)

static int open_rw(const struct it_dir *d, const char *name)
{
	int fd = openat(d->fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			0600);

	CU_ASSERT_FATAL(fd >= 0);
	return fd;
}

/*
 * A descriptor number that is closed: a high one, which the lowest-free rule
 * keeps from being reused by the library meanwhile.
 */
static int closed_fd(void)
{
	size_t limit = it_raise_nofile();
	int target = (int)(limit / 2 < 4000 ? limit / 2 : 4000);
	int fd, hi;

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	hi = fcntl(fd, F_DUPFD_CLOEXEC, target);
	CU_ASSERT_FATAL(hi >= target);
	close(fd);
	close(hi);
	return hi;
}

/*
 * An argument the kernel refuses with EINVAL may be refused by the call
 * (general convention) or by the operation (its errno): either will do.
 * `ret` is the call's return value, `*f` what it stored.
 */
static int einval_either(int ret, rp_future **f)
{
	if (ret)
		return ret;
	return it_end(*f, NULL);
}

static void test_backend_matches_environment(void)
{
	int want = it_expected_backend();
	const char *why = (const char *)1;
	rp_executor *ex = it_executor_new(NULL);
	int backend = -1;

	CU_ASSERT_EQUAL(rp_executor_backend(ex, &backend, &why), 0);
	printf("\n    backend %s, why: %s\n", it_backend_name(backend),
	       why ? why : "(null)");
	if (want != RP_BACKEND_AUTO)
		CU_ASSERT_EQUAL(backend, want);
	if (backend == RP_BACKEND_URING) {
		/* io_uring in use as asked: no reason. */
		CU_ASSERT_PTR_NULL(why);
	} else {
		/* The fallback is in use: a sentence says why. */
		CU_ASSERT_PTR_NOT_NULL(why);
		if (why)
			CU_ASSERT(strlen(why) > 0);
	}
	/* `why` is optional. */
	backend = -1;
	CU_ASSERT_EQUAL(rp_executor_backend(ex, &backend, NULL), 0);
	CU_ASSERT(backend == RP_BACKEND_URING ||
		  backend == RP_BACKEND_THREADS);
	CU_ASSERT_EQUAL(rp_executor_backend(NULL, &backend, &why), -EINVAL);
	CU_ASSERT_EQUAL(rp_executor_backend(ex, NULL, &why), -EINVAL);
	it_executor_free(ex);
}

static void test_invalid_arguments_queue_nothing(void)
{
	rp_executor *ex = it_executor_new(NULL);
	char buf[16] = { 0 };
	struct iovec iov = { buf, sizeof(buf) };
	struct statx stx;
	rp_future *f = NULL;
	int fds[2];

	memset(&stx, 0, sizeof(stx));
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL(rp_read(NULL, fds[0], buf, 1, -1, NULL, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_read(ex, fds[0], buf, 1, -1, NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rp_read(ex, fds[0], NULL, 1, -1, NULL, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_write(ex, fds[1], NULL, 1, -1, NULL, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_readv(ex, fds[0], NULL, 1, -1, NULL, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_writev(ex, fds[1], &iov, 1, -1, NULL, NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_read_full(ex, fds[0], NULL, 1, -1, NULL, &f),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_write_full(NULL, fds[1], buf, 1, -1, NULL, &f),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_openat(ex, AT_FDCWD, NULL, O_RDONLY, 0, NULL, &f),
			-EINVAL);
	CU_ASSERT_EQUAL(rp_statx(ex, AT_FDCWD, "/", 0, STATX_TYPE, NULL, NULL,
				 &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_close(ex, fds[0], NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rp_nop(NULL, NULL, &f), -EINVAL);
	CU_ASSERT_EQUAL(rp_nop(ex, NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rp_sleep(ex, MS, NULL), -EINVAL);
	f = NULL;
	CU_ASSERT_EQUAL(einval_either(rp_read(ex, fds[0], buf, 1, -2, NULL, &f),
				      &f), -EINVAL);
	f = NULL;
	CU_ASSERT_EQUAL(einval_either(rp_write(ex, fds[1], buf, 1, -7, NULL,
					       &f), &f), -EINVAL);
	/* Nothing was queued: the pipe is untouched. */
	CU_ASSERT_EQUAL(write(fds[1], "x", 1), 1);
	CU_ASSERT_EQUAL(read(fds[0], buf, sizeof(buf)), 1);

	CU_ASSERT_EQUAL(rp_executor_shutdown(ex, RP_SHUTDOWN_WAIT), 0);
	CU_ASSERT_EQUAL(rp_read(ex, fds[0], buf, 1, -1, NULL, &f), -ESHUTDOWN);
	CU_ASSERT_EQUAL(rp_write(ex, fds[1], buf, 1, -1, NULL, &f),
			-ESHUTDOWN);
	CU_ASSERT_EQUAL(rp_nop(ex, NULL, &f), -ESHUTDOWN);
	CU_ASSERT_EQUAL(rp_close(ex, fds[1], NULL, &f), -ESHUTDOWN);
	/* The refused close did not close it. */
	CU_ASSERT_EQUAL(write(fds[1], "y", 1), 1);
	CU_ASSERT_EQUAL(read(fds[0], buf, sizeof(buf)), 1);
	CU_ASSERT_EQUAL(buf[0], 'y');
	it_executor_free(ex);
	close(fds[0]);
	close(fds[1]);
}

static void test_write_read_at_offsets(void)
{
	static const size_t sizes[] = { 0, 1, 4095, 4096 };
	static const int64_t offsets[] = { 0, 1, 3 * 4096 + 7, 1 << 20 };
	rp_executor *ex = it_executor_new(NULL);
	unsigned char *wbuf = calloc(1, 4096), *rbuf = calloc(1, 4096 + 64);
	struct it_dir d;
	size_t i, j;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(wbuf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rbuf);
	it_dir_make(&d, NULL);
	fd = open_rw(&d, "f");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (j = 0; j < sizeof(offsets) / sizeof(offsets[0]); j++) {
			size_t n = sizes[i];
			int64_t off = offsets[j], v = -1;
			uint64_t seed = n * 31 + (uint64_t)off;

			it_fill(wbuf, n, seed, 0);
			CU_ASSERT_EQUAL(it_write(ex, fd, wbuf, n, off, &v), 0);
			CU_ASSERT_EQUAL(v, (int64_t)n);
			memset(rbuf, 0xaa, 4096 + 64);
			v = -1;
			CU_ASSERT_EQUAL(it_read(ex, fd, rbuf, n, off, &v), 0);
			CU_ASSERT_EQUAL(v, (int64_t)n);
			CU_ASSERT(it_check(rbuf, n, seed, 0));
			/* Nothing past `n` was touched. */
			CU_ASSERT(it_all(rbuf + n, 64, 0xaa));
		}
	}
	close(fd);
	it_dir_remove(&d);
	free(wbuf);
	free(rbuf);
	it_executor_free(ex);
}

static void test_read_write_at_file_position(void)
{
	rp_executor *ex = it_executor_new(NULL);
	char buf[64];
	struct it_dir d;
	int64_t v = -1;
	int fd;

	it_dir_make(&d, NULL);
	fd = open_rw(&d, "f");
	CU_ASSERT_EQUAL(it_write(ex, fd, "hello ", 6, -1, &v), 0);
	CU_ASSERT_EQUAL(v, 6);
	CU_ASSERT_EQUAL(it_write(ex, fd, "world", 5, -1, &v), 0);
	CU_ASSERT_EQUAL(v, 5);
	/* Writes at the position moved it. */
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 11);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(pread(fd, buf, sizeof(buf), 0), 11);
	CU_ASSERT_STRING_EQUAL(buf, "hello world");

	/* A write at an offset leaves the position alone. */
	CU_ASSERT_EQUAL(it_write(ex, fd, "W", 1, 6, &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 11);

	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_SET), 0);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, 6, -1, &v), 0);
	CU_ASSERT_EQUAL(v, 6);
	CU_ASSERT_STRING_EQUAL(buf, "hello ");
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, sizeof(buf), -1, &v), 0);
	CU_ASSERT_EQUAL(v, 5);
	CU_ASSERT_STRING_EQUAL(buf, "World");
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 11);
	/* At the end of the file: 0 bytes. */
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, sizeof(buf), -1, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	/* A read at an offset leaves the position alone. */
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, 5, 0, &v), 0);
	CU_ASSERT_EQUAL(v, 5);
	CU_ASSERT_STRING_EQUAL(buf, "hello");
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 11);
	close(fd);
	it_dir_remove(&d);
	it_executor_free(ex);
}

static void test_readv_writev(void)
{
	rp_executor *ex = it_executor_new(NULL);
	static unsigned char a[10], b[4096], c[1], whole[4107], r1[7],
		r2[4200];
	struct iovec wiov[3] = { { a, sizeof(a) }, { b, sizeof(b) },
				 { c, sizeof(c) } };
	struct iovec riov[2] = { { r1, sizeof(r1) }, { r2, sizeof(r2) } };
	rp_future *f = NULL;
	struct it_dir d;
	int64_t v = -1;
	int fd;

	it_fill(whole, sizeof(whole), 77, 0);
	memcpy(a, whole, 10);
	memcpy(b, whole + 10, 4096);
	memcpy(c, whole + 4106, 1);
	it_dir_make(&d, NULL);
	fd = open_rw(&d, "f");

	/* At an offset. */
	CU_ASSERT_EQUAL_FATAL(rp_writev(ex, fd, wiov, 3, 100, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 4107);
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 0);
	memset(r1, 0, sizeof(r1));
	memset(r2, 0, sizeof(r2));
	CU_ASSERT_EQUAL_FATAL(rp_readv(ex, fd, riov, 2, 100, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 4107);
	CU_ASSERT(memcmp(r1, whole, 7) == 0);
	CU_ASSERT(memcmp(r2, whole + 7, 4100) == 0);
	CU_ASSERT(it_all(r2 + 4100, sizeof(r2) - 4100, 0));

	/* At the file position: append after the end, then read it back. */
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_END), 4207);
	CU_ASSERT_EQUAL_FATAL(rp_writev(ex, fd, wiov, 3, -1, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 4107);
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 4207 + 4107);
	CU_ASSERT_EQUAL(lseek(fd, 4207, SEEK_SET), 4207);
	memset(r1, 0, sizeof(r1));
	memset(r2, 0, sizeof(r2));
	CU_ASSERT_EQUAL_FATAL(rp_readv(ex, fd, riov, 2, -1, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 4107);
	CU_ASSERT(memcmp(r1, whole, 7) == 0);
	CU_ASSERT(memcmp(r2, whole + 7, 4100) == 0);
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 4207 + 4107);
	/* The gap before offset 100 reads as zeros. */
	memset(r2, 0xaa, sizeof(r2));
	CU_ASSERT_EQUAL(it_read(ex, fd, r2, 100, 0, &v), 0);
	CU_ASSERT_EQUAL(v, 100);
	CU_ASSERT(it_all(r2, 100, 0));
	close(fd);
	it_dir_remove(&d);
	it_executor_free(ex);
}

static void test_eof_gives_zero_and_short_reads_are_reported(void)
{
	rp_executor *ex = it_executor_new(NULL);
	char buf[100];
	struct it_dir d;
	int64_t v = -1;
	int fd;

	it_dir_make(&d, NULL);
	fd = open_rw(&d, "f");
	CU_ASSERT_EQUAL_FATAL(pwrite(fd, "0123456789", 10, 0), 10);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, sizeof(buf), 0, &v), 0);
	CU_ASSERT_EQUAL(v, 10);
	CU_ASSERT(memcmp(buf, "0123456789", 10) == 0);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, sizeof(buf), 5, &v), 0);
	CU_ASSERT_EQUAL(v, 5);
	CU_ASSERT(memcmp(buf, "56789", 5) == 0);
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, sizeof(buf), 10, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, sizeof(buf), 1000, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	/* The *_full form also stops at the end of the file. */
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(it_read_full(ex, fd, buf, sizeof(buf), 3, &v), 0);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT(memcmp(buf, "3456789", 7) == 0);
	close(fd);
	it_dir_remove(&d);
	it_executor_free(ex);
}

static void test_sparse_1gib_file(void)
{
	static const int64_t ends[] = { 1, 2, 3, 17 };
	rp_executor *ex = it_executor_new(NULL);
	unsigned char *buf = malloc(MiB), *pat = malloc(4096);
	struct stat st;
	struct it_dir d;
	int64_t v = -1;
	size_t i;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pat);
	it_dir_make(&d, NULL);
	fd = open_rw(&d, "sparse");
	CU_ASSERT_EQUAL_FATAL(ftruncate(fd, (off_t)GiB), 0);

	/* A few 4 KiB blocks near the end. */
	for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		int64_t off = (int64_t)GiB - ends[i] * 4096;

		memset(buf, 0xaa, 4096);
		CU_ASSERT_EQUAL(it_read(ex, fd, buf, 4096, off, &v), 0);
		CU_ASSERT_EQUAL(v, 4096);
		CU_ASSERT(it_all(buf, 4096, 0));
	}
	/* A read across the end is short; at the end it gives 0. */
	memset(buf, 0xaa, 4096);
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, 4096, (int64_t)GiB - 100, &v), 0);
	CU_ASSERT_EQUAL(v, 100);
	CU_ASSERT(it_all(buf, 100, 0));
	CU_ASSERT(it_all(buf + 100, 4096 - 100, 0xaa));
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, 4096, (int64_t)GiB, &v), 0);
	CU_ASSERT_EQUAL(v, 0);

	/* A full 1 MiB somewhere in the middle. */
	memset(buf, 0xaa, MiB);
	CU_ASSERT_EQUAL(it_read_full(ex, fd, buf, MiB,
				     (int64_t)(GiB / 2 + 4096), &v), 0);
	CU_ASSERT_EQUAL(v, (int64_t)MiB);
	CU_ASSERT(it_all(buf, MiB, 0));

	/* Data written near the end reads back; offsets past 4 GiB work. */
	it_fill(pat, 4096, 5, 0);
	CU_ASSERT_EQUAL(it_write(ex, fd, pat, 4096, (int64_t)GiB - 4096, &v),
			0);
	CU_ASSERT_EQUAL(v, 4096);
	memset(buf, 0, 4096);
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, 4096, (int64_t)GiB - 4096, &v),
			0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT(it_check(buf, 4096, 5, 0));
	CU_ASSERT_EQUAL(it_write(ex, fd, pat, 4096, (int64_t)(5 * GiB), &v), 0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT_EQUAL(fstat(fd, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, (off_t)(5 * GiB + 4096));
	memset(buf, 0, 4096);
	CU_ASSERT_EQUAL(it_read(ex, fd, buf, 4096, (int64_t)(5 * GiB), &v), 0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT(it_check(buf, 4096, 5, 0));
	close(fd);
	it_dir_remove(&d);
	free(buf);
	free(pat);
	it_executor_free(ex);
}

/* Writes `total` bytes of pattern into a pipe in small pieces. */
struct piece_writer {
	int fd;
	size_t total;
	uint64_t seed;
	bool close_after;
	struct tu_latch go;
	int error;
};

static void *piece_writer_main(void *arg)
{
	struct piece_writer *w = arg;
	unsigned char piece[1024];
	size_t off = 0, n = 1;

	tu_latch_wait(&w->go, 1);
	while (off < w->total) {
		size_t len = n < w->total - off ? n : w->total - off;
		ssize_t r;

		it_fill(piece, len, w->seed, off);
		r = write(w->fd, piece, len);
		if (r <= 0) {
			w->error = errno;
			break;
		}
		off += (size_t)r;
		n = n * 7 % 1021 + 1;
	}
	if (w->close_after)
		close(w->fd);
	return NULL;
}

static void test_read_full_assembles_pipe_pieces(void)
{
	const size_t total = tu_under_valgrind() ? 20000 : 300000;
	rp_executor *ex = it_executor_new(NULL);
	unsigned char *buf = calloc(1, total + 16);
	struct piece_writer w;
	rp_future *f = NULL;
	pthread_t th;
	int64_t v = -1;
	int fds[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	memset(&w, 0, sizeof(w));
	w.fd = fds[1];
	w.total = total;
	w.seed = 11;
	tu_latch_init(&w.go);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, piece_writer_main, &w),
			      0);
	/* Queued before any data exists: the reads come back short. */
	CU_ASSERT_EQUAL_FATAL(rp_read_full(ex, fds[0], buf, total, -1, NULL,
					   &f), 0);
	tu_latch_post(&w.go);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, (int64_t)total);
	CU_ASSERT(it_check(buf, total, 11, 0));
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(w.error, 0);
	tu_latch_destroy(&w.go);

	/* At end of file it gives what there was. */
	memset(&w, 0, sizeof(w));
	w.fd = fds[1];
	w.total = 1000;
	w.seed = 12;
	w.close_after = true;
	tu_latch_init(&w.go);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, piece_writer_main, &w),
			      0);
	memset(buf, 0, total);
	CU_ASSERT_EQUAL_FATAL(rp_read_full(ex, fds[0], buf, 5000, -1, NULL,
					   &f), 0);
	tu_latch_post(&w.go);
	CU_ASSERT_EQUAL(it_end(f, &v), 0);
	CU_ASSERT_EQUAL(v, 1000);
	CU_ASSERT(it_check(buf, 1000, 12, 0));
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(w.error, 0);
	tu_latch_destroy(&w.go);
	close(fds[0]);
	free(buf);
	it_executor_free(ex);
}

/* Reads a pipe in small pieces until end of file, checking the pattern. */
struct piece_reader {
	int fd;
	uint64_t seed;
	size_t got;
	bool pattern_ok;
};

static void *piece_reader_main(void *arg)
{
	struct piece_reader *r = arg;
	unsigned char piece[1000];
	ssize_t n;

	r->pattern_ok = true;
	while ((n = read(r->fd, piece, sizeof(piece))) > 0) {
		if (!it_check(piece, (size_t)n, r->seed, r->got))
			r->pattern_ok = false;
		r->got += (size_t)n;
	}
	return NULL;
}

static void test_write_full_feeds_a_slow_pipe(void)
{
	const size_t total = tu_under_valgrind() ? 100000 : MiB + 333;
	rp_executor *ex = it_executor_new(NULL);
	unsigned char *buf = malloc(total);
	struct piece_reader r;
	pthread_t th;
	int64_t v = -1;
	int fds[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	it_fill(buf, total, 21, 0);
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	memset(&r, 0, sizeof(r));
	r.fd = fds[0];
	r.seed = 21;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, piece_reader_main, &r),
			      0);
	/* Far more than the pipe holds: writes come back short. */
	CU_ASSERT_EQUAL(it_write_full(ex, fds[1], buf, total, -1, &v), 0);
	CU_ASSERT_EQUAL(v, (int64_t)total);
	close(fds[1]);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(r.got, total);
	CU_ASSERT(r.pattern_ok);
	close(fds[0]);
	free(buf);
	it_executor_free(ex);
}

static void test_read_full_write_full_on_files(void)
{
	const size_t total = tu_under_valgrind() ? 300000 : 3 * MiB + 123;
	rp_executor *ex = it_executor_new(NULL);
	unsigned char *buf = malloc(total), *back = calloc(1, total + 5000);
	struct it_dir d;
	int64_t v = -1;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	it_fill(buf, total, 31, 0);
	it_dir_make(&d, NULL);
	fd = open_rw(&d, "f");
	CU_ASSERT_EQUAL(it_write_full(ex, fd, buf, total, 4096, &v), 0);
	CU_ASSERT_EQUAL(v, (int64_t)total);
	CU_ASSERT_EQUAL(it_read_full(ex, fd, back, total + 5000, 4096, &v), 0);
	CU_ASSERT_EQUAL(v, (int64_t)total);
	CU_ASSERT(memcmp(back, buf, total) == 0);
	/* At the file position. */
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_SET), 0);
	CU_ASSERT_EQUAL(it_write_full(ex, fd, buf, 4096, -1, &v), 0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 4096);
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_SET), 0);
	memset(back, 0, total + 5000);
	CU_ASSERT_EQUAL(it_read_full(ex, fd, back, total + 5000, -1, &v), 0);
	CU_ASSERT_EQUAL(v, (int64_t)(total + 4096));
	CU_ASSERT(memcmp(back, buf, 4096) == 0);
	CU_ASSERT(memcmp(back + 4096, buf, total) == 0);
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), (off_t)(total + 4096));
	/* Zero bytes. */
	CU_ASSERT_EQUAL(it_read_full(ex, fd, back, 0, 0, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(it_write_full(ex, fd, buf, 0, 0, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	close(fd);
	it_dir_remove(&d);
	free(buf);
	free(back);
	it_executor_free(ex);
}

static void test_closed_descriptor_gives_ebadf(void)
{
	rp_executor *ex = it_executor_new(NULL);
	int bad = closed_fd();
	char buf[16] = { 0 };
	struct iovec iov = { buf, sizeof(buf) };
	rp_future *f = NULL;
	int64_t v = 0;
	int fds[2];

	CU_ASSERT_EQUAL(it_read(ex, bad, buf, sizeof(buf), -1, NULL), -EBADF);
	CU_ASSERT_EQUAL(it_read(ex, bad, buf, sizeof(buf), 0, NULL), -EBADF);
	CU_ASSERT_EQUAL(it_write(ex, bad, buf, sizeof(buf), 0, NULL), -EBADF);
	CU_ASSERT_EQUAL(it_read_full(ex, bad, buf, sizeof(buf), -1, &v),
			-EBADF);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(it_write_full(ex, bad, buf, sizeof(buf), -1, &v),
			-EBADF);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL_FATAL(rp_readv(ex, bad, &iov, 1, 0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EBADF);
	CU_ASSERT_EQUAL_FATAL(rp_fsync(ex, bad, 0, NULL, &f), 0);
	CU_ASSERT_EQUAL(it_end(f, NULL), -EBADF);
	CU_ASSERT_EQUAL(it_close(ex, bad), -EBADF);
	/* Wrong direction: reading the write end of a pipe. */
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL(it_read(ex, fds[1], buf, sizeof(buf), -1, NULL),
			-EBADF);
	CU_ASSERT_EQUAL(it_write(ex, fds[0], buf, sizeof(buf), -1, NULL),
			-EBADF);
	close(fds[0]);
	close(fds[1]);
	it_executor_free(ex);
}

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
	fd = open_rw(&d, "f");
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
	fd = open_rw(&d, "f");
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
	CU_ASSERT_EQUAL(einval_either(rp_fallocate(ex, fd, 0, 0, 0, NULL, &f),
				      &f), -EINVAL);
	CU_ASSERT_EQUAL(einval_either(rp_fallocate(ex, fd, 0, -1, 4096, NULL,
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
	fd = open_rw(&d, "f");
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

static void test_o_direct_misaligned_read_fails_cleanly(void)
{
	rp_executor *ex = it_executor_new(NULL);
	unsigned char *mem = NULL;
	struct it_dir d;
	int64_t v = -1;
	int fd, err;

	it_dir_make(&d, "/var/tmp");
	fd = openat(d.fd, "direct", O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC,
		    0600);
	if (fd < 0 && errno == EINVAL) {
		printf("\n    skipped: %s refuses O_DIRECT\n", d.path);
		it_dir_remove(&d);
		it_executor_free(ex);
		return;
	}
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(posix_memalign((void **)&mem, 4096, 3 * 4096), 0);
	it_fill(mem, 8192, 9, 0);
	CU_ASSERT_EQUAL_FATAL(pwrite(fd, mem, 8192, 0), 8192);

	/* Aligned: works. */
	memset(mem, 0, 3 * 4096);
	CU_ASSERT_EQUAL(it_read(ex, fd, mem, 4096, 4096, &v), 0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT(it_check(mem, 4096, 9, 4096));

	/* Misaligned buffer: an error, not a crash. */
	v = -1;
	err = it_read(ex, fd, mem + 1, 4096, 0, &v);
	CU_ASSERT_EQUAL(err, -EINVAL);
	/* Misaligned offset and length too. */
	err = it_read(ex, fd, mem, 4096, 1, &v);
	CU_ASSERT_EQUAL(err, -EINVAL);
	err = it_read(ex, fd, mem, 4095, 0, &v);
	CU_ASSERT_EQUAL(err, -EINVAL);
	/* And the descriptor still works. */
	memset(mem, 0, 3 * 4096);
	CU_ASSERT_EQUAL(it_read(ex, fd, mem, 8192, 0, &v), 0);
	CU_ASSERT_EQUAL(v, 8192);
	CU_ASSERT(it_check(mem, 8192, 9, 0));
	free(mem);
	close(fd);
	it_dir_remove(&d);
	it_executor_free(ex);
}

/*
 * A copy pipeline: WINDOW slots, each reading a chunk of the source and then
 * writing it to the destination, all from done-callbacks, with no thread of
 * its own.  At most WINDOW operations are in flight.
 */
#define WINDOW 4
#define CHUNK (64 * KiB)

struct copy_job;

struct copy_slot {
	struct copy_job *job;
	unsigned char *buf;
	uint64_t off;	/* of the chunk */
	size_t len;	/* of the chunk */
	size_t done;	/* bytes of the chunk read and written */
	size_t got;	/* bytes of the latest read */
	size_t wpos;	/* bytes of those written */
};

struct copy_job {
	rp_executor *ex;
	int in, out;
	uint64_t size;
	atomic_uint_fast64_t next;
	atomic_int error;
	atomic_int in_flight;
	atomic_int max_in_flight;
	atomic_uint reads, writes;
	struct tu_latch finished;
	struct copy_slot slots[WINDOW];
};

static void slot_next_chunk(struct copy_slot *s);
static void slot_read(struct copy_slot *s);
static void slot_write(struct copy_slot *s);

static void slot_fail(struct copy_slot *s, int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&s->job->error, &zero, err);
	tu_latch_post(&s->job->finished);
}

static void op_started(struct copy_job *job)
{
	int n = atomic_fetch_add(&job->in_flight, 1) + 1;
	int max = atomic_load(&job->max_in_flight);

	while (n > max &&
	       !atomic_compare_exchange_weak(&job->max_in_flight, &max, n))
		;
}

/* The operation's outcome, from a done-callback: it must not block. */
static int op_outcome(rp_future *f, int64_t *value)
{
	int error = 0;
	int ret = rp_future_result(f, 0, value, &error);

	if (ret)
		return ret == -ETIMEDOUT ? -EPROTO : ret;
	return error;
}

static void read_done(rp_future *f, void *arg)
{
	struct copy_slot *s = arg;
	int64_t v = 0;
	int err = op_outcome(f, &v);

	atomic_fetch_sub(&s->job->in_flight, 1);
	atomic_fetch_add(&s->job->reads, 1);
	if (err || v <= 0 || (size_t)v > s->len - s->done) {
		slot_fail(s, err ? err : -EIO);
		return;
	}
	s->got = (size_t)v;
	s->wpos = 0;
	slot_write(s);
}

static void write_done(rp_future *f, void *arg)
{
	struct copy_slot *s = arg;
	int64_t v = 0;
	int err = op_outcome(f, &v);

	atomic_fetch_sub(&s->job->in_flight, 1);
	atomic_fetch_add(&s->job->writes, 1);
	if (err || v <= 0 || (size_t)v > s->got - s->wpos) {
		slot_fail(s, err ? err : -EIO);
		return;
	}
	s->wpos += (size_t)v;
	if (s->wpos < s->got) {
		slot_write(s);
		return;
	}
	s->done += s->got;
	if (s->done < s->len)
		slot_read(s);
	else
		slot_next_chunk(s);
}

static void slot_submitted(struct copy_slot *s, int ret, rp_future *f,
			   rp_done_fn fn)
{
	if (ret) {
		atomic_fetch_sub(&s->job->in_flight, 1);
		slot_fail(s, ret);
		return;
	}
	/* May run fn at once, on this thread, if the operation has ended. */
	ret = rp_future_add_done_callback(f, fn, s);
	rp_future_unref(f);
	if (ret)
		slot_fail(s, ret);
}

static void slot_read(struct copy_slot *s)
{
	rp_future *f = NULL;
	int ret;

	op_started(s->job);
	ret = rp_read(s->job->ex, s->job->in, s->buf + s->done,
		      s->len - s->done, (int64_t)(s->off + s->done), NULL, &f);
	slot_submitted(s, ret, f, read_done);
}

static void slot_write(struct copy_slot *s)
{
	rp_future *f = NULL;
	int ret;

	op_started(s->job);
	ret = rp_write(s->job->ex, s->job->out, s->buf + s->done + s->wpos,
		       s->got - s->wpos,
		       (int64_t)(s->off + s->done + s->wpos), NULL, &f);
	slot_submitted(s, ret, f, write_done);
}

static void slot_next_chunk(struct copy_slot *s)
{
	uint64_t off = atomic_fetch_add(&s->job->next, CHUNK);

	if (off >= s->job->size) {
		tu_latch_post(&s->job->finished);
		return;
	}
	s->off = off;
	s->len = s->job->size - off < CHUNK ? (size_t)(s->job->size - off) :
					      CHUNK;
	s->done = 0;
	slot_read(s);
}

static void test_copy_pipeline_in_done_callbacks(void)
{
	const uint64_t size = tu_under_valgrind() ? 256 * KiB + 12345 :
						    8 * MiB + 12345;
	rp_executor *ex = it_executor_new(NULL);
	unsigned char *src = malloc(size), *back = calloc(1, size);
	struct copy_job *job = calloc(1, sizeof(*job));
	uint64_t chunks = (size + CHUNK - 1) / CHUNK;
	struct stat st;
	struct it_dir d;
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(src);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT_PTR_NOT_NULL_FATAL(job);
	it_dir_make(&d, NULL);
	it_fill(src, size, 41, 0);
	job->ex = ex;
	job->size = size;
	job->in = open_rw(&d, "src");
	CU_ASSERT_EQUAL_FATAL(pwrite(job->in, src, size, 0), (ssize_t)size);
	job->out = open_rw(&d, "dst");
	tu_latch_init(&job->finished);
	for (i = 0; i < WINDOW; i++) {
		job->slots[i].job = job;
		job->slots[i].buf = calloc(1, CHUNK);
		CU_ASSERT_PTR_NOT_NULL_FATAL(job->slots[i].buf);
	}
	for (i = 0; i < WINDOW; i++)
		slot_next_chunk(&job->slots[i]);
	if (!tu_latch_wait_for(&job->finished, WINDOW, 4 * tu_stuck_timeout_ns()))
		it_stuck("the copy pipeline");

	CU_ASSERT_EQUAL(atomic_load(&job->error), 0);
	CU_ASSERT_EQUAL(atomic_load(&job->in_flight), 0);
	CU_ASSERT(atomic_load(&job->max_in_flight) >= 1);
	CU_ASSERT(atomic_load(&job->max_in_flight) <= WINDOW);
	CU_ASSERT(atomic_load(&job->reads) >= chunks);
	CU_ASSERT(atomic_load(&job->writes) >= chunks);
	CU_ASSERT_EQUAL(fstat(job->out, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, (off_t)size);
	CU_ASSERT_EQUAL(pread(job->out, back, size, 0), (ssize_t)size);
	CU_ASSERT(memcmp(back, src, size) == 0);

	it_executor_free(ex);
	close(job->in);
	close(job->out);
	for (i = 0; i < WINDOW; i++)
		free(job->slots[i].buf);
	tu_latch_destroy(&job->finished);
	free(job);
	free(src);
	free(back);
	it_dir_remove(&d);
}

/*
 * A chain of reads, each queued by the last one's done-callback, never
 * ends on its own; with one blocking-I/O thread it must still leave room for
 * a read submitted from elsewhere.  The thread runs what a done-callback
 * queues next, before the shared queue, but only so many in a row.
 */
struct chain {
	rp_executor *ex;
	int fd;
	char byte;
	atomic_bool stop;
	atomic_uint links;
	atomic_int error;
	atomic_int step;		/* CHAIN_IDLE, _SUBMITTING or _AGAIN */
	struct tu_latch ended;
};

enum { CHAIN_IDLE, CHAIN_SUBMITTING, CHAIN_AGAIN };

static void chain_next(struct chain *c);

static void chain_done(rp_future *f, void *arg)
{
	struct chain *c = arg;
	int64_t v = 0;
	int err = op_outcome(f, &v);

	if (err || v != 1) {
		atomic_store(&c->error, err ? err : -EIO);
		tu_latch_post(&c->ended);
		return;
	}
	atomic_fetch_add(&c->links, 1);
	if (atomic_load(&c->stop)) {
		tu_latch_post(&c->ended);
		return;
	}
	/* Still inside chain_next()'s submit: it goes on from there. */
	int expect = CHAIN_SUBMITTING;

	if (atomic_compare_exchange_strong(&c->step, &expect, CHAIN_AGAIN))
		return;
	chain_next(c);
}

/*
 * Submits the next read.  A trampoline: with shared rings the read can end
 * inside rp_read(), and its callback then runs inside
 * rp_future_add_done_callback(); calling chain_next() from there would nest
 * one stack frame deeper per read.
 */
static void chain_next(struct chain *c)
{
	int expect;

	do {
		rp_future *f = NULL;
		int ret;

		atomic_store(&c->step, CHAIN_SUBMITTING);
		ret = rp_read(c->ex, c->fd, &c->byte, 1, 0, NULL, &f);
		if (!ret)
			ret = rp_future_add_done_callback(f, chain_done, c);
		rp_future_unref(f);
		if (ret) {
			atomic_store(&c->error, ret);
			tu_latch_post(&c->ended);
			return;
		}
		expect = CHAIN_SUBMITTING;
	} while (!atomic_compare_exchange_strong(&c->step, &expect,
						 CHAIN_IDLE));
}

/*
 * Starts the chain.  With shared rings every read may end inside the
 * submit, so the thread that starts the chain runs it until it stops: not
 * the test's thread.
 */
static void *chain_main(void *arg)
{
	chain_next(arg);
	return NULL;
}

static void test_endless_chain_leaves_room_for_others(void)
{
	pthread_t starter;
	struct rp_config cfg;
	struct chain c;
	struct it_dir d;
	rp_future *f = NULL;
	int64_t v = 0;
	char other = 0;
	unsigned at;
	int i;

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.io_threads = 1;
	memset(&c, 0, sizeof(c));
	c.ex = it_executor_new(&cfg);
	it_dir_make(&d, NULL);
	c.fd = open_rw(&d, "f");
	CU_ASSERT_EQUAL_FATAL(pwrite(c.fd, "xy", 2, 0), 2);
	atomic_init(&c.stop, false);
	atomic_init(&c.links, 0);
	atomic_init(&c.error, 0);
	atomic_init(&c.step, CHAIN_IDLE);
	tu_latch_init(&c.ended);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&starter, NULL, chain_main, &c),
			      0);
	for (i = 0; i < 10000 && atomic_load(&c.links) < 100; i++)
		usleep(1000);
	CU_ASSERT(atomic_load(&c.links) >= 100);

	/* The chain runs on; a read from here must get its turn. */
	CU_ASSERT_EQUAL_FATAL(rp_read(c.ex, c.fd, &other, 1, 1, NULL, &f), 0);
	if (rp_future_result(f, tu_stuck_timeout_ns(), &v, NULL) == -ETIMEDOUT)
		it_stuck("a read queued beside an endless chain");
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(other, 'y');
	rp_future_unref(f);
	at = atomic_load(&c.links);
	atomic_store(&c.stop, true);
	if (!tu_latch_wait_for(&c.ended, 1, tu_stuck_timeout_ns()))
		it_stuck("the chain of reads");
	pthread_join(starter, NULL);
	CU_ASSERT_EQUAL(atomic_load(&c.error), 0);
	CU_ASSERT(atomic_load(&c.links) >= at);
	CU_ASSERT_EQUAL(c.byte, 'x');

	it_executor_free(c.ex);
	tu_latch_destroy(&c.ended);
	close(c.fd);
	it_dir_remove(&d);
}

/* More operations than a ring has entries, on small rings and pools. */
static void test_small_rings_take_more_operations_than_entries(void)
{
	enum { READS = 64, NOPS = 200 };
	struct rp_config cfg;
	rp_executor *ex;
	rp_future *reads[READS], *nops[NOPS];
	uint32_t bufs[READS];
	bool seen[READS];
	int fds[2];
	size_t n_done = 0;
	uint32_t i;

	CU_ASSERT_EQUAL_FATAL(rp_config_init(&cfg), 0);
	cfg.rings = 2;
	cfg.ring_entries = 8;
	cfg.io_threads = 2;
	ex = it_executor_new(&cfg);
	/* With the fallback these must not queue behind blocked reads. */
	for (i = 0; i < NOPS; i++)
		CU_ASSERT_EQUAL_FATAL(rp_nop(ex, NULL, &nops[i]), 0);
	CU_ASSERT_EQUAL(rp_wait(nops, NOPS, RP_ALL_COMPLETED,
				tu_stuck_timeout_ns(), NULL, &n_done), 0);
	CU_ASSERT_EQUAL(n_done, NOPS);
	for (i = 0; i < NOPS; i++) {
		int64_t v = -1;

		CU_ASSERT_EQUAL(it_end(nops[i], &v), 0);
		CU_ASSERT_EQUAL(v, 0);
	}
	CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
	for (i = 0; i < READS; i++) {
		bufs[i] = UINT32_MAX;
		CU_ASSERT_EQUAL_FATAL(rp_read(ex, fds[0], &bufs[i],
					      sizeof(bufs[i]), -1, NULL,
					      &reads[i]), 0);
	}
	/* No read can have ended yet: the pipe is empty. */
	for (i = 0; i < READS; i++)
		CU_ASSERT_FALSE(rp_future_done(reads[i]));
	for (i = 0; i < READS; i++)
		CU_ASSERT_EQUAL(write(fds[1], &i, sizeof(i)), sizeof(i));
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < READS; i++) {
		int64_t v = -1;

		CU_ASSERT_EQUAL(it_end(reads[i], &v), 0);
		CU_ASSERT_EQUAL(v, sizeof(bufs[i]));
		CU_ASSERT_FATAL(bufs[i] < READS);
		CU_ASSERT_FALSE(seen[bufs[i]]);
		seen[bufs[i]] = true;
	}
	close(fds[0]);
	close(fds[1]);
	it_executor_free(ex);
}

static const struct tu_test tests[] = {
	{ "backend_matches_environment", test_backend_matches_environment,
	  false },
	{ "invalid_arguments_queue_nothing",
	  test_invalid_arguments_queue_nothing, false },
	{ "write_read_at_offsets", test_write_read_at_offsets, false },
	{ "read_write_at_file_position", test_read_write_at_file_position,
	  false },
	{ "readv_writev", test_readv_writev, false },
	{ "eof_gives_zero_and_short_reads_are_reported",
	  test_eof_gives_zero_and_short_reads_are_reported, false },
	{ "sparse_1gib_file", test_sparse_1gib_file, false },
	{ "read_full_assembles_pipe_pieces",
	  test_read_full_assembles_pipe_pieces, false },
	{ "write_full_feeds_a_slow_pipe", test_write_full_feeds_a_slow_pipe,
	  false },
	{ "read_full_write_full_on_files", test_read_full_write_full_on_files,
	  false },
	{ "closed_descriptor_gives_ebadf", test_closed_descriptor_gives_ebadf,
	  false },
	{ "openat_and_close", test_openat_and_close, false },
	{ "fsync_both_flags", test_fsync_both_flags, false },
	{ "fallocate", test_fallocate, false },
	{ "statx", test_statx, false },
	{ "unlinkat", test_unlinkat, false },
	{ "renameat", test_renameat, false },
	{ "mkdirat", test_mkdirat, false },
	{ "o_direct_misaligned_read_fails_cleanly",
	  test_o_direct_misaligned_read_fails_cleanly, false },
	{ "copy_pipeline_in_done_callbacks",
	  test_copy_pipeline_in_done_callbacks, false },
	{ "small_rings_take_more_operations_than_entries",
	  test_small_rings_take_more_operations_than_entries, false },
	{ "endless_chain_leaves_room_for_others",
	  test_endless_chain_leaves_room_for_others, false },
};

int main(int argc, char **argv)
{
	umask(022);
	it_raise_nofile();
	return tu_run_tests(argc, argv, "io-file", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
