/* SPDX-License-Identifier: MIT */
/*
 * File I/O: read, write, readv and writev at offsets and at the file
 * position, end of file and short reads, a sparse 1 GiB file, the *_full
 * helpers on pipes and files, a closed descriptor, and O_DIRECT alignment.
 * test_io_fsops.c has the file-system operations, test_io_pipeline.c
 * operations queued from done-callbacks.
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
	if (backend == RP_BACKEND_URING && getenv("RINGPOOL_URING_SKIP")) {
		/* Some operations on the blocking pool: which ones, why. */
		CU_ASSERT(why && strstr(why, "(RINGPOOL_URING_SKIP): read "));
	} else if (backend == RP_BACKEND_URING) {
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
	CU_ASSERT_EQUAL(it_einval_either(rp_read(ex, fds[0], buf, 1, -2, NULL, &f),
				      &f), -EINVAL);
	f = NULL;
	CU_ASSERT_EQUAL(it_einval_either(rp_write(ex, fds[1], buf, 1, -7, NULL,
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
	fd = it_open_rw(&d, "f");
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
	fd = it_open_rw(&d, "f");
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
	fd = it_open_rw(&d, "f");

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
	fd = it_open_rw(&d, "f");
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
	fd = it_open_rw(&d, "sparse");
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
	fd = it_open_rw(&d, "f");
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
	{ "o_direct_misaligned_read_fails_cleanly",
	  test_o_direct_misaligned_read_fails_cleanly, false },
};

int main(int argc, char **argv)
{
	umask(022);
	it_raise_nofile();
	return tu_run_tests(argc, argv, "io-file", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
