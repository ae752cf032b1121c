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
	char src[64], dst[64];
	int in, out;			/* descriptors */
	char *buf;
	size_t size;
	rp_future *read;		/* the read of the whole file */
	rp_future *write;		/* the write of the copy */
};

static void die(const char *what, int err)
{
	fprintf(stderr, "io_bound: %s: %s\n", what, strerror(-err));
	exit(1);
}

/* Waits for an I/O future and gives its value (bytes, a descriptor). */
static int64_t io_value(rp_future *f, const char *what)
{
	int64_t value;
	int ret, err;

	ret = rp_future_result(f, RP_FOREVER, &value, &err);
	if (ret < 0)
		die(what, ret);
	if (err < 0)
		die(what, err);
	return value;
}

/* The files to "download": made here so the example needs nothing else. */
static void make_sources(const char *dir, struct copy *c)
{
	int i;

	for (i = 0; i < N_FILES; i++) {
		FILE *fp;

		snprintf(c[i].src, sizeof(c[i].src), "%s/file%d.txt", dir,
			 i + 1);
		snprintf(c[i].dst, sizeof(c[i].dst), "%s/copy%d.txt", dir,
			 i + 1);
		c[i].size = 1000 * (size_t)(i + 1);
		fp = fopen(c[i].src, "w");
		if (!fp)
			die(c[i].src, -errno);
		for (size_t j = 0; j < c[i].size; j++)
			fputc('a' + (int)(j % 26), fp);
		if (fclose(fp) != 0)
			die(c[i].src, -errno);
	}
}

int main(void)
{
	char dir[] = "/tmp/ringpool-io-bound-XXXXXX";
	rp_future *opens[2 * N_FILES], *reads[N_FILES];
	struct copy c[N_FILES];
	rp_as_completed *it;
	rp_executor *ex;
	rp_future *f;
	int i, ret;

	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	memset(c, 0, sizeof(c));
	make_sources(dir, c);

	ret = rp_executor_new(NULL, &ex);	/* ThreadPoolExecutor() */
	if (ret < 0)
		die("rp_executor_new", ret);

	/* Open every source and destination at once. */
	for (i = 0; i < N_FILES; i++) {
		ret = rp_openat(ex, AT_FDCWD, c[i].src, O_RDONLY | O_CLOEXEC, 0,
				NULL, &opens[2 * i]);
		if (ret < 0)
			die("rp_openat", ret);
		ret = rp_openat(ex, AT_FDCWD, c[i].dst,
				O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644,
				NULL, &opens[2 * i + 1]);
		if (ret < 0)
			die("rp_openat", ret);
	}
	ret = rp_wait(opens, 2 * N_FILES, RP_ALL_COMPLETED, RP_FOREVER, NULL,
		      NULL);
	if (ret < 0)
		die("rp_wait", ret);

	/* futures = [executor.submit(download_file, file) for file in files] */
	for (i = 0; i < N_FILES; i++) {
		c[i].in = (int)io_value(opens[2 * i], c[i].src);
		c[i].out = (int)io_value(opens[2 * i + 1], c[i].dst);
		rp_future_unref(opens[2 * i]);
		rp_future_unref(opens[2 * i + 1]);
		c[i].buf = malloc(c[i].size);
		if (!c[i].buf)
			die("malloc", -ENOMEM);
		ret = rp_read_full(ex, c[i].in, c[i].buf, c[i].size, 0, NULL,
				   &c[i].read);
		if (ret < 0)
			die("rp_read_full", ret);
		reads[i] = c[i].read;
	}

	/* for future in concurrent.futures.as_completed(futures): */
	ret = rp_as_completed_new(reads, N_FILES, &it);
	if (ret < 0)
		die("rp_as_completed_new", ret);
	while ((ret = rp_as_completed_next(it, RP_FOREVER, &f)) == 0) {
		for (i = 0; i < N_FILES && c[i].read != f; i++)
			;
		if ((size_t)io_value(f, c[i].src) != c[i].size)
			die(c[i].src, -EIO);
		/* The read is in: start this file's write right away. */
		ret = rp_write_full(ex, c[i].out, c[i].buf, c[i].size, 0, NULL,
				    &c[i].write);
		if (ret < 0)
			die("rp_write_full", ret);
	}
	if (ret != -ENODATA)
		die("rp_as_completed_next", ret);
	rp_as_completed_free(it);

	for (i = 0; i < N_FILES; i++) {
		int64_t n = io_value(c[i].write, c[i].dst);

		printf("file%d.txt copied: %lld bytes\n", i + 1, (long long)n);
		rp_future_unref(c[i].write);
		rp_future_unref(c[i].read);
		close(c[i].in);
		close(c[i].out);
		unlink(c[i].src);
		unlink(c[i].dst);
		free(c[i].buf);
	}
	rmdir(dir);
	rp_executor_free(ex);			/* leaving the with-block */
	return 0;
}
