/* SPDX-License-Identifier: MIT */
/*
 * scrape.c - Example 7 of the thread-pool tutorial: web scraping.
 *
 * The Python original fetches three pages at once, each with a random
 * simulated latency, and prints each as it completes:
 *
 *	def fetch_url(url):
 *	    print(f"Fetching {url}...")
 *	    time.sleep(random.randint(1, 3))  # Simulate varying network latency
 *	    return f"Fetched {url}"
 *
 *	urls = ["https://example.com/page1", "https://example.com/page2",
 *	        "https://example.com/page3"]
 *	with concurrent.futures.ThreadPoolExecutor(max_workers=3) as executor:
 *	    futures = [executor.submit(fetch_url, url) for url in urls]
 *	    for future in concurrent.futures.as_completed(futures):
 *	        print(future.result())
 *
 * Here the pages come over HTTP from a small server this program starts on
 * 127.0.0.1 (http_server.h), each with a latency of its own: page2 first,
 * then page3 and page1, 100 ms apart (fixed, not random, so that the output
 * is the same every time).  Each page is
 * downloaded into an anonymous in-memory file (memfd) and then scraped: its
 * title and the number of its links.  The URLs are printed without the
 * server's port, which changes from run to run.
 *
 * Output:
 *
 *	Fetching /page1...
 *	Fetching /page2...
 *	Fetching /page3...
 *	Fetched /page2: "Page two", 1 link
 *	Fetched /page3: "Page three", 2 links
 *	Fetched /page1: "Page one", 3 links
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ringpool.h>

#include "http_server.h"

#define N_PAGES 3

static const struct page pages[N_PAGES] = {
	{ "/page1", "text/html",
	  "<html><head><title>Page one</title></head><body>"
	  "<a href=\"/page2\">two</a> <a href=\"/page3\">three</a> "
	  "<a href=\"/about\">about</a></body></html>\n", 2, 100 },
	{ "/page2", "text/html",
	  "<html><head><title>Page two</title></head><body>"
	  "<a href=\"/page1\">one</a></body></html>\n", -1, 50 },
	{ "/page3", "text/html",
	  "<html><head><title>Page three</title></head><body>"
	  "<a href=\"/page1\">one</a> <a href=\"/page2\">two</a>"
	  "</body></html>\n", 1, 100 },
};

/* Prints what failed; returns -1 for the caller to pass on. */
static int fail(const char *what, int err)
{
	fprintf(stderr, "scrape: %s: %s\n", what, strerror(-err));
	return -1;
}

/* The "scraping": a page's title and how many links it has. */
static void scrape(const char *html, char *title, size_t size, int *links)
{
	const char *p = strstr(html, "<title>"), *end;

	*title = '\0';
	if (p && (end = strstr(p, "</title>")) != NULL)
		snprintf(title, size, "%.*s", (int)(end - p - 7), p + 7);
	*links = 0;
	for (p = html; (p = strstr(p, "<a href=")) != NULL; p++)
		(*links)++;
}

int main(void)
{
	rp_http_transfer *transfers[N_PAGES] = { NULL };
	rp_future *futures[N_PAGES];
	struct http_server server;
	int fds[N_PAGES] = { -1, -1, -1 };
	rp_as_completed *it = NULL;
	rp_executor *ex = NULL;
	rp_http *http = NULL;
	rp_future *f;
	int i, ret, status = EXIT_FAILURE;
	bool serving = false;

	if (http_server_start(&server, pages, N_PAGES) < 0) {
		fail("http_server_start", -errno);
		goto out;
	}
	serving = true;
	ret = rp_executor_new(NULL, &ex);
	if (ret < 0) {
		fail("rp_executor_new", ret);
		goto out;
	}
	ret = rp_http_new(ex, NULL, &http);
	if (ret < 0) {
		fail("rp_http_new", ret);
		goto out;
	}

	/* futures = [executor.submit(fetch_url, url) for url in urls] */
	for (i = 0; i < N_PAGES; i++) {
		struct rp_http_request req = { 0 };
		char url[128];

		fds[i] = memfd_create(pages[i].path + 1, MFD_CLOEXEC);
		if (fds[i] < 0) {
			fail("memfd_create", -errno);
			goto out;
		}
		snprintf(url, sizeof(url), "http://127.0.0.1:%u%s",
			 server.port, pages[i].path);
		req.url = url;
		req.fd = fds[i];
		printf("Fetching %s...\n", pages[i].path);
		ret = rp_http_get(http, &req, &transfers[i]);
		if (ret < 0) {
			fail("rp_http_get", ret);
			goto out;
		}
		futures[i] = rp_http_transfer_future(transfers[i]);
	}

	/* for future in concurrent.futures.as_completed(futures): */
	ret = rp_as_completed_new(futures, N_PAGES, &it);
	if (ret < 0) {
		fail("rp_as_completed_new", ret);
		goto out;
	}
	while ((ret = rp_as_completed_next(it, RP_FOREVER, &f)) == 0) {
		struct rp_http_info info;
		char html[1024], title[64];
		int64_t len;
		int err, links;

		for (i = 0; futures[i] != f; i++)
			;
		ret = rp_future_result(f, RP_FOREVER, &len, &err);
		if (ret < 0 || err < 0) {
			/* The library says why, in words. */
			if (rp_http_transfer_info(transfers[i], &info) == 0 &&
			    info.error[0])
				fprintf(stderr, "scrape: %s: %s\n",
					pages[i].path, info.error);
			else
				fail(pages[i].path, ret < 0 ? ret : err);
			goto out;
		}
		if (len >= (int64_t)sizeof(html)) {
			fail(pages[i].path, -EFBIG);	/* not this page */
			goto out;
		}
		/* The body is in the memfd: done means written. */
		if (pread(fds[i], html, (size_t)len, 0) != len) {
			fail("pread", -EIO);
			goto out;
		}
		html[len] = '\0';
		scrape(html, title, sizeof(title), &links);
		printf("Fetched %s: \"%s\", %d link%s\n", pages[i].path, title,
		       links, links == 1 ? "" : "s");
	}
	if (ret != -ENODATA) {
		fail("rp_as_completed_next", ret);
		goto out;
	}
	status = EXIT_SUCCESS;

out:
	/*
	 * On a failure, transfers may still be running, writing to the
	 * memfds: rp_http_free() cancels them and returns once they have
	 * ended, so it comes before the memfds are closed.
	 */
	rp_as_completed_free(it);
	rp_http_free(http);
	for (i = 0; i < N_PAGES; i++)
		rp_http_transfer_free(transfers[i]);
	ret = rp_executor_free(ex);
	if (ret < 0) {
		fail("rp_executor_free", ret);
		status = EXIT_FAILURE;
	}
	if (serving)
		http_server_stop(&server);
	for (i = 0; i < N_PAGES; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return status;
}
