/* SPDX-License-Identifier: MIT */
/*
 * io_bound.c - Example 5 of the thread-pool tutorial: I/O-bound tasks.
 *
 * The Python original "downloads" four files, each task sleeping to simulate
 * the network, and handles them as they complete:
 *
 *	files = ["file1.txt", "file2.txt", "file3.txt", "file4.txt"]
 *	with concurrent.futures.ThreadPoolExecutor(max_workers=3) as executor:
 *	    futures = [executor.submit(download_file, file) for file in files]
 *	    for future in concurrent.futures.as_completed(futures):
 *	        print(future.result())
 *
 * In C with ringpool the I/O does not occupy a thread at all: it goes
 * through the executor's io_uring ring (or, where io_uring is unavailable,
 * its blocking-I/O threads, with the same code).  This program copies four
 * files concurrently: it opens them all at once, reads each whole file, and
 * as each read completes (as_completed) it starts that file's write.  Every
 * step is a future of the same type as a CPU task's.
 *
 * Output (in the order of the file list, after all copies are done):
 *
 *	file1.txt copied: 1000 bytes
 *	file2.txt copied: 2000 bytes
 *	file3.txt copied: 3000 bytes
 *	file4.txt copied: 4000 bytes
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringpool.h>

#define N_FILES 4

struct copy {
	char src[256], dst[256];
	int in, out;			/* descriptors, -1 when not open */
	char *buf;
	size_t size;
	rp_future *read;		/* the read of the whole file */
	rp_future *write;		/* the write of the copy */
};

/* Prints what failed; returns -1 for the caller to pass on. */
static int fail(const char *what, int err)
{
	fprintf(stderr, "io_bound: %s: %s\n", what, strerror(-err));
	return -1;
}

/* Waits for an I/O future: its value (bytes, a descriptor), or -1. */
static int64_t io_value(rp_future *f, const char *what)
{
	int64_t value;
	int ret, err;

	ret = rp_future_result(f, RP_FOREVER, &value, &err);
	if (ret < 0)
		return fail(what, ret);
	if (err < 0)
		return fail(what, err);
	return value;
}

/*
 * The files to "download": made here, in a new folder under $TMPDIR, so the
 * example needs nothing else.  Returns 0 or -1; what it made is in `c` and
 * `dir` (emptied by remove_files()) either way.
 */
static int make_sources(char *dir, size_t dir_size, struct copy *c)
{
	const char *tmp = getenv("TMPDIR");
	int i;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(dir, dir_size, "%s/ringpool-io-bound-XXXXXX",
			     tmp) >= dir_size) {
		*dir = '\0';
		return fail("TMPDIR", -ENAMETOOLONG);
	}
	if (!mkdtemp(dir)) {
		fail(dir, -errno);
		*dir = '\0';
		return -1;
	}
	for (i = 0; i < N_FILES; i++) {
		FILE *fp;
		size_t j;

		snprintf(c[i].src, sizeof(c[i].src), "%s/file%d.txt", dir,
			 i + 1);
		snprintf(c[i].dst, sizeof(c[i].dst), "%s/copy%d.txt", dir,
			 i + 1);
		c[i].size = 1000 * (size_t)(i + 1);
		fp = fopen(c[i].src, "w");
		if (!fp)
			return fail(c[i].src, -errno);
		for (j = 0; j < c[i].size; j++)
			fputc('a' + (int)(j % 26), fp);
		/* fclose() reports a write error, fputc()'s included. */
		if (fclose(fp) != 0)
			return fail(c[i].src, -errno);
	}
	return 0;
}

/* Removes what make_sources() and the copies made. */
static void remove_files(const char *dir, struct copy *c)
{
	int i;

	if (!*dir)
		return;
	for (i = 0; i < N_FILES; i++) {
		/* ENOENT: not made, the run failed before it. */
		if (unlink(c[i].src) < 0 && errno != ENOENT)
			fail(c[i].src, -errno);
		if (unlink(c[i].dst) < 0 && errno != ENOENT)
			fail(c[i].dst, -errno);
	}
	if (rmdir(dir) < 0)
		fail(dir, -errno);
}

int main(void)
{
	char dir[200] = "";
	rp_future *opens[2 * N_FILES] = { NULL }, *reads[N_FILES];
	struct copy c[N_FILES];
	rp_as_completed *it = NULL;
	rp_executor *ex = NULL;
	rp_future *f;
	int64_t n;
	int i, ret, status = EXIT_FAILURE;

	memset(c, 0, sizeof(c));
	for (i = 0; i < N_FILES; i++)
		c[i].in = c[i].out = -1;
	if (make_sources(dir, sizeof(dir), c) < 0)
		goto out;

	ret = rp_executor_new(NULL, &ex);	/* ThreadPoolExecutor() */
	if (ret < 0) {
		fail("rp_executor_new", ret);
		goto out;
	}

	/* Open every source and destination at once. */
	for (i = 0; i < N_FILES; i++) {
		ret = rp_openat(ex, AT_FDCWD, c[i].src, O_RDONLY | O_CLOEXEC, 0,
				NULL, &opens[2 * i]);
		if (ret < 0) {
			fail("rp_openat", ret);
			goto out;
		}
		ret = rp_openat(ex, AT_FDCWD, c[i].dst,
				O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644,
				NULL, &opens[2 * i + 1]);
		if (ret < 0) {
			fail("rp_openat", ret);
			goto out;
		}
	}
	ret = rp_wait(opens, 2 * N_FILES, RP_ALL_COMPLETED, RP_FOREVER, NULL,
		      NULL);
	if (ret < 0) {
		fail("rp_wait", ret);
		goto out;
	}
	/* Every open has ended: take each descriptor, to be closed at out. */
	for (i = 0; i < N_FILES; i++) {
		n = io_value(opens[2 * i], c[i].src);
		c[i].in = (int)n;
		n = io_value(opens[2 * i + 1], c[i].dst);
		c[i].out = (int)n;
	}
	for (i = 0; i < N_FILES; i++)
		if (c[i].in < 0 || c[i].out < 0)
			goto out;

	/* futures = [executor.submit(download_file, file) for file in files] */
	for (i = 0; i < N_FILES; i++) {
		c[i].buf = malloc(c[i].size);
		if (!c[i].buf) {
			fail("malloc", -ENOMEM);
			goto out;
		}
		ret = rp_read_full(ex, c[i].in, c[i].buf, c[i].size, 0, NULL,
				   &c[i].read);
		if (ret < 0) {
			fail("rp_read_full", ret);
			goto out;
		}
		reads[i] = c[i].read;
	}

	/* for future in concurrent.futures.as_completed(futures): */
	ret = rp_as_completed_new(reads, N_FILES, &it);
	if (ret < 0) {
		fail("rp_as_completed_new", ret);
		goto out;
	}
	while ((ret = rp_as_completed_next(it, RP_FOREVER, &f)) == 0) {
		for (i = 0; i < N_FILES && c[i].read != f; i++)
			;
		n = io_value(f, c[i].src);
		if (n < 0)
			goto out;
		if ((size_t)n != c[i].size) {
			fail(c[i].src, -EIO);	/* the file changed */
			goto out;
		}
		/* The read is in: start this file's write right away. */
		ret = rp_write_full(ex, c[i].out, c[i].buf, c[i].size, 0, NULL,
				    &c[i].write);
		if (ret < 0) {
			fail("rp_write_full", ret);
			goto out;
		}
	}
	if (ret != -ENODATA) {
		fail("rp_as_completed_next", ret);
		goto out;
	}

	for (i = 0; i < N_FILES; i++) {
		n = io_value(c[i].write, c[i].dst);
		if (n < 0)
			goto out;
		printf("file%d.txt copied: %lld bytes\n", i + 1, (long long)n);
	}
	status = EXIT_SUCCESS;

out:
	/*
	 * Leaving the with-block.  On a failure, operations may still be in
	 * flight, using the buffers and descriptors: rp_executor_free()
	 * cancels them and returns once they have ended, so it comes first.
	 */
	rp_as_completed_free(it);
	ret = rp_executor_free(ex);
	if (ret < 0) {
		fail("rp_executor_free", ret);
		status = EXIT_FAILURE;
	}
	for (i = 0; i < 2 * N_FILES; i++)
		rp_future_unref(opens[i]);
	for (i = 0; i < N_FILES; i++) {
		rp_future_unref(c[i].read);
		rp_future_unref(c[i].write);
		if (c[i].in >= 0)
			close(c[i].in);
		/* Some file systems report a write error only at close(). */
		if (c[i].out >= 0 && close(c[i].out) < 0) {
			fail(c[i].dst, -errno);
			status = EXIT_FAILURE;
		}
		free(c[i].buf);
	}
	remove_files(dir, c);
	return status;
}
