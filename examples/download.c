/* SPDX-License-Identifier: MIT */
/*
 * download.c - Example 5 of the thread-pool tutorial, with real downloads.
 *
 * The Python original simulates four downloads with time.sleep() on a pool
 * of three threads and prints each result as it completes:
 *
 *	def download_file(file_name):
 *	    print(f"Downloading {file_name} started...")
 *	    time.sleep(2)  # Simulate network delay
 *	    print(f"Downloading {file_name} completed.")
 *	    return f"{file_name} downloaded"
 *
 *	files = ["file1.txt", "file2.txt", "file3.txt", "file4.txt"]
 *	with concurrent.futures.ThreadPoolExecutor(max_workers=3) as executor:
 *	    futures = [executor.submit(download_file, file) for file in files]
 *	    for future in concurrent.futures.as_completed(futures):
 *	        print(future.result())
 *
 * Here the files really come over HTTP, from a small server this program
 * starts on 127.0.0.1 (http_server.h) that answers the files one after the
 * other, 100 ms apart, in an order of its own.  rp_http drives the sockets
 * from the executor's ring and writes each body to its file with positioned
 * writes: on io_uring no thread waits on the network (on the blocking-thread
 * backend one thread of the client's polls every socket at once).
 * `max_workers=3` becomes three
 * connections at most to the host, so file4.txt waits for the first
 * connection to come free.
 *
 * Output (completion order, which the server sets):
 *
 *	Downloading file1.txt started...
 *	Downloading file2.txt started...
 *	Downloading file3.txt started...
 *	Downloading file4.txt started...
 *	Downloading file2.txt completed.
 *	file2.txt downloaded (2000 bytes)
 *	Downloading file4.txt completed.
 *	file4.txt downloaded (4000 bytes)
 *	Downloading file1.txt completed.
 *	file1.txt downloaded (1000 bytes)
 *	Downloading file3.txt completed.
 *	file3.txt downloaded (3000 bytes)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringpool.h>

#include "http_server.h"

#define N_FILES 4

/*
 * What the server serves: file N holds N * 1000 bytes.  file2.txt comes
 * first, then each of the others 100 ms after the one before it was sent
 * (file4.txt cannot be asked for before a connection is free).
 */
static char contents[N_FILES][4001];
static const char *const names[N_FILES] = {
	"/file1.txt", "/file2.txt", "/file3.txt", "/file4.txt",
};
static const int after[N_FILES] = { 3, -1, 0, 1 };
static const int delays_ms[N_FILES] = { 100, 50, 100, 100 };

/* Prints what failed; returns -1 for the caller to pass on. */
static int fail(const char *what, int err)
{
	fprintf(stderr, "download: %s: %s\n", what, strerror(-err));
	return -1;
}

/* True when the file at `fd` holds exactly `expected`. */
static int same(int fd, const char *expected)
{
	size_t len = strlen(expected);
	char buf[4096];

	return pread(fd, buf, sizeof(buf), 0) == (ssize_t)len &&
	       !memcmp(buf, expected, len);
}

/* Why transfer `t`, which ended with error `err`, failed, in words. */
static void transfer_failed(rp_http_transfer *t, const char *name, int err)
{
	struct rp_http_info info;

	if (rp_http_transfer_info(t, &info) == 0 && info.error[0])
		fprintf(stderr, "download: %s: %s\n", name, info.error);
	else
		fail(name, err);
}

int main(void)
{
	char dir[200] = "";
	const char *tmp = getenv("TMPDIR");
	struct page pages[N_FILES];
	rp_http_transfer *transfers[N_FILES] = { NULL };
	rp_future *futures[N_FILES];
	struct http_server server;
	struct rp_http_config cfg;
	char path[N_FILES][256];
	int fds[N_FILES];
	rp_as_completed *it = NULL;
	rp_executor *ex = NULL;
	rp_http *http = NULL;
	rp_future *f;
	int i, ret, status = EXIT_FAILURE;
	bool serving = false;

	for (i = 0; i < N_FILES; i++) {
		memset(contents[i], 'a' + i, (size_t)(i + 1) * 1000);
		pages[i] = (struct page){ names[i], "text/plain", contents[i],
					  after[i], delays_ms[i] };
		fds[i] = -1;
		path[i][0] = '\0';
	}
	if (http_server_start(&server, pages, N_FILES) < 0) {
		fail("http_server_start", -errno);
		goto out;
	}
	serving = true;
	/* The downloads go to a new folder under $TMPDIR. */
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/ringpool-download-XXXXXX",
			     tmp) >= sizeof(dir)) {
		*dir = '\0';
		fail("TMPDIR", -ENAMETOOLONG);
		goto out;
	}
	if (!mkdtemp(dir)) {
		fail(dir, -errno);
		*dir = '\0';
		goto out;
	}

	/* with concurrent.futures.ThreadPoolExecutor(max_workers=3) */
	ret = rp_executor_new(NULL, &ex);
	if (ret < 0) {
		fail("rp_executor_new", ret);
		goto out;
	}
	ret = rp_http_config_init(&cfg);
	if (ret < 0) {
		fail("rp_http_config_init", ret);
		goto out;
	}
	cfg.max_per_host = 3;
	ret = rp_http_new(ex, &cfg, &http);
	if (ret < 0) {
		fail("rp_http_new", ret);
		goto out;
	}

	/* futures = [executor.submit(download_file, file) for file in files] */
	for (i = 0; i < N_FILES; i++) {
		struct rp_http_request req = { 0 };
		char url[128];

		snprintf(path[i], sizeof(path[i]), "%s%s", dir, names[i]);
		fds[i] = open(path[i], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0644);
		if (fds[i] < 0) {
			fail(path[i], -errno);
			goto out;
		}
		snprintf(url, sizeof(url), "http://127.0.0.1:%u%s",
			 server.port, names[i]);
		req.url = url;
		req.fd = fds[i];
		printf("Downloading %s started...\n", names[i] + 1);
		ret = rp_http_get(http, &req, &transfers[i]);
		if (ret < 0) {
			fail("rp_http_get", ret);
			goto out;
		}
		futures[i] = rp_http_transfer_future(transfers[i]);
	}

	/* for future in concurrent.futures.as_completed(futures): */
	ret = rp_as_completed_new(futures, N_FILES, &it);
	if (ret < 0) {
		fail("rp_as_completed_new", ret);
		goto out;
	}
	while ((ret = rp_as_completed_next(it, RP_FOREVER, &f)) == 0) {
		int64_t bytes;
		int err;

		for (i = 0; futures[i] != f; i++)
			;
		ret = rp_future_result(f, RP_FOREVER, &bytes, &err);
		if (ret < 0 || err < 0) {
			transfer_failed(transfers[i], names[i] + 1,
					ret < 0 ? ret : err);
			goto out;
		}
		if (!same(fds[i], contents[i])) {
			fail(names[i] + 1, -EIO);
			goto out;
		}
		printf("Downloading %s completed.\n", names[i] + 1);
		printf("%s downloaded (%lld bytes)\n", names[i] + 1,
		       (long long)bytes);
	}
	if (ret != -ENODATA) {
		fail("rp_as_completed_next", ret);
		goto out;
	}
	status = EXIT_SUCCESS;

out:
	/*
	 * On a failure, transfers may still be running, writing to the
	 * files: rp_http_free() cancels them and returns once they have
	 * ended, so it comes before the files are closed.
	 */
	rp_as_completed_free(it);
	rp_http_free(http);		/* closes its connections */
	for (i = 0; i < N_FILES; i++)
		rp_http_transfer_free(transfers[i]);
	ret = rp_executor_free(ex);	/* leaving the with-block */
	if (ret < 0) {
		fail("rp_executor_free", ret);
		status = EXIT_FAILURE;
	}
	if (serving)
		http_server_stop(&server);
	for (i = 0; i < N_FILES; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		if (path[i][0] && unlink(path[i]) < 0 && errno != ENOENT)
			fail(path[i], -errno);
	}
	if (*dir && rmdir(dir) < 0)
		fail(dir, -errno);
	return status;
}
