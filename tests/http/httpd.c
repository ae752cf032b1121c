/* SPDX-License-Identifier: MIT */
/* The test HTTP server; see httpd.h for what it answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"
#include "iotest.h"

struct conn {
	struct conn *next;
	struct th_server *srv;
	pthread_t thread;
	int fd;
};

struct th_server {
	int lfd;
	int stop_fd;			/* eventfd: readable once stopping */
	pthread_t acceptor;
	pthread_mutex_t lock;
	struct conn *conns;
	atomic_uint requests;
	atomic_uint proxied;
};

/* Waits for `fd` to be readable; false when the server stops first. */
static bool wait_readable(struct th_server *s, int fd)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = s->stop_fd, .events = POLLIN },
	};

	if (poll(p, 2, -1) < 0)
		return false;
	return !p[1].revents && p[0].revents;
}

/* Sleeps `ms`; false when the server stops meanwhile. */
static bool nap(struct th_server *s, int ms)
{
	struct pollfd p = { .fd = s->stop_fd, .events = POLLIN };

	return poll(&p, 1, ms) == 0;
}

static bool send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Sends [from, to) of body `seed` in pieces of `piece`, `gap_ms` apart. */
static bool send_body(struct th_server *s, int fd, uint64_t seed,
		      uint64_t from, uint64_t to, size_t piece, int gap_ms)
{
	char buf[65536];

	if (piece > sizeof(buf))
		piece = sizeof(buf);
	while (from < to) {
		size_t n = to - from < piece ? (size_t)(to - from) : piece;

		it_fill(buf, n, seed, from);
		if (!send_all(fd, buf, n))
			return false;
		from += n;
		if (gap_ms && from < to && !nap(s, gap_ms))
			return false;
	}
	return true;
}

static bool send_head(int fd, int status, const char *reason,
		      const char *extra, int64_t length)
{
	char head[512];
	int n;

	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%s", status,
		     reason, extra);
	if (length >= 0)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			      "Content-Length: %lld\r\n", (long long)length);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
	return send_all(fd, head, (size_t)n);
}

static bool send_status(int fd, int code)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "error %d\n", code);

	return send_head(fd, code, code == 404 ? "Not Found" : "Error", "",
			 n) && send_all(fd, body, (size_t)n);
}

/* Whether an If-Range value (up to its line's end) is /body/N's. */
static bool if_range_matches(const char *path, const char *v)
{
	unsigned long long n;
	size_t len = strcspn(v, "\r\n");
	char tag[40];

	if (sscanf(path, "/body/%llu", &n) != 1)
		return false;
	snprintf(tag, sizeof(tag), "\"b%llu\"", n);
	return (len == strlen(tag) && !strncmp(v, tag, len)) ||
	       (len == strlen(TH_BODY_DATE) && !strncmp(v, TH_BODY_DATE, len));
}

/*
 * Answers one request.  Returns true when the connection may serve another.
 */
static bool answer(struct th_server *s, int fd, const char *path,
		   int64_t range_from)
{
	unsigned long long n, k;
	long long d;
	char extra[256];

	if (sscanf(path, "/body/%llu", &n) == 1) {
		char tags[128];

		snprintf(tags, sizeof(tags), "ETag: \"b%llu\"\r\n"
			 "Last-Modified: " TH_BODY_DATE "\r\n", n);
		if (range_from >= 0 && (uint64_t)range_from < n) {
			snprintf(extra, sizeof(extra),
				 "%sContent-Range: bytes %lld-%llu/%llu\r\n",
				 tags, (long long)range_from, n - 1, n);
			return send_head(fd, 206, "Partial Content", extra,
					 (int64_t)(n - (uint64_t)range_from)) &&
			       send_body(s, fd, n, (uint64_t)range_from, n,
					 65536, 0);
		}
		if (range_from >= 0) {
			snprintf(extra, sizeof(extra),
				 "Content-Range: bytes */%llu\r\n", n);
			return send_head(fd, 416, "Range Not Satisfiable",
					 extra, 0);
		}
		return send_head(fd, 200, "OK", tags, (int64_t)n) &&
		       send_body(s, fd, n, 0, n, 65536, 0);
	}
	/* A range that starts `d` bytes off the one asked for. */
	if (sscanf(path, "/offrange/%llu/%lld", &n, &d) == 2 &&
	    range_from >= 0 && range_from + d >= 0 &&
	    (uint64_t)(range_from + d) < n) {
		uint64_t from = (uint64_t)(range_from + d);

		snprintf(extra, sizeof(extra),
			 "Content-Range: bytes %llu-%llu/%llu\r\n",
			 (unsigned long long)from, n - 1, n);
		return send_head(fd, 206, "Partial Content", extra,
				 (int64_t)(n - from)) &&
		       send_body(s, fd, n, from, n, 65536, 0);
	}
	if (sscanf(path, "/norange/%llu", &n) == 1)
		return send_head(fd, 200, "OK", "", (int64_t)n) &&
		       send_body(s, fd, n, 0, n, 65536, 0);
	if (sscanf(path, "/nolen/%llu", &n) == 1) {
		if (send_head(fd, 200, "OK", "Connection: close\r\n", -1))
			send_body(s, fd, n, 0, n, 65536, 0);
		return false;
	}
	if (sscanf(path, "/slow/%llu/%llu", &n, &k) == 2)
		return send_head(fd, 200, "OK", "", (int64_t)n) &&
		       send_body(s, fd, n, 0, n, 4096, (int)k);
	if (sscanf(path, "/short/%llu", &n) == 1) {
		if (send_head(fd, 200, "OK", "", (int64_t)n))
			send_body(s, fd, n, 0, n / 2, 65536, 0);
		return false;
	}
	if (!strcmp(path, "/stall")) {
		if (send_head(fd, 200, "OK", "", 1000) &&
		    send_body(s, fd, 1000, 0, 100, 100, 0))
			/* Until the client goes away or the server stops. */
			while (wait_readable(s, fd)) {
				char junk[256];

				if (recv(fd, junk, sizeof(junk), 0) <= 0)
					break;
			}
		return false;
	}
	if (sscanf(path, "/status/%llu", &n) == 1)
		return send_status(fd, (int)n);
	if (!strcmp(path, "/retry"))
		return send_head(fd, 503, "Service Unavailable",
				 "Retry-After: 7\r\n", 0);
	if (sscanf(path, "/redir/%llu", &n) == 1) {
		if (n == 0)
			snprintf(extra, sizeof(extra),
				 "Location: /body/1000\r\n");
		else
			snprintf(extra, sizeof(extra),
				 "Location: /redir/%llu\r\n", n - 1);
		/* A body of its own, which must not reach the file. */
		return send_head(fd, 302, "Found", extra, 6) &&
		       send_all(fd, "moved\n", 6);
	}
	/* Redirects off HTTP, which the client must refuse to follow. */
	if (!strcmp(path, "/to-file"))
		return send_head(fd, 302, "Found",
				 "Location: file:///etc/hostname\r\n", 6) &&
		       send_all(fd, "moved\n", 6);
	if (!strcmp(path, "/to-ftp"))
		return send_head(fd, 302, "Found",
				 "Location: ftp://127.0.0.1:9/x\r\n", 6) &&
		       send_all(fd, "moved\n", 6);
	if (!strcmp(path, "/loop"))
		return send_head(fd, 302, "Found", "Location: /loop\r\n", 6) &&
		       send_all(fd, "moved\n", 6);
	return send_status(fd, 404);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct th_server *s = c->srv;
	char req[4096];
	size_t have = 0;

	for (;;) {
		char path[512], *end, *line;
		int64_t range_from = -1;
		size_t used;
		ssize_t n;

		end = have ? memmem(req, have, "\r\n\r\n", 4) : NULL;
		if (!end) {
			if (have == sizeof(req) || !wait_readable(s, c->fd))
				break;
			n = recv(c->fd, req + have, sizeof(req) - have, 0);
			if (n <= 0)
				break;
			have += (size_t)n;
			continue;
		}
		*end = '\0';
		used = (size_t)(end - req) + 4;
		if (sscanf(req, "GET %511s", path) != 1)
			break;
		/* The absolute form a client sends to a proxy: answered too. */
		if (!strncmp(path, "http://", 7)) {
			char *slash = strchr(path + 7, '/');

			if (!slash)
				break;
			memmove(path, slash, strlen(slash) + 1);
			atomic_fetch_add(&s->proxied, 1);
		}
		for (line = strstr(req, "\r\n"); line; line = strstr(line + 2,
								    "\r\n"))
			if (!strncasecmp(line + 2, "Range: bytes=", 13))
				range_from = strtoll(line + 15, NULL, 10);
		/*
		 * If-Range: the range only when the validator is /body/N's
		 * (its entity tag or its date), else the whole body.
		 */
		for (line = strstr(req, "\r\n"); line; line = strstr(line + 2,
								    "\r\n"))
			if (!strncasecmp(line + 2, "If-Range: ", 10) &&
			    !if_range_matches(path, line + 12))
				range_from = -1;
		atomic_fetch_add(&s->requests, 1);
		if (!answer(s, c->fd, path, range_from))
			break;
		memmove(req, req + used, have - used);
		have -= used;
	}
	close(c->fd);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct th_server *s = arg;

	while (wait_readable(s, s->lfd)) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			continue;
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->srv = s;
		c->fd = fd;
		if (pthread_create(&c->thread, NULL, conn_main, c)) {
			close(fd);
			free(c);
			continue;
		}
		pthread_mutex_lock(&s->lock);
		c->next = s->conns;
		s->conns = c;
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

int th_start(struct th_server **out, uint16_t *port)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	struct th_server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s->lfd < 0 || s->stop_fd < 0 ||
	    bind(s->lfd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(s->lfd, 512) ||
	    getsockname(s->lfd, (struct sockaddr *)&addr, &len))
		goto fail;
	pthread_mutex_init(&s->lock, NULL);
	if (pthread_create(&s->acceptor, NULL, accept_main, s)) {
		pthread_mutex_destroy(&s->lock);
		goto fail;
	}
	*port = ntohs(addr.sin_port);
	*out = s;
	return 0;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s);
	return -errno;
}

void th_stop(struct th_server *s)
{
	uint64_t one = 1;

	if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
		abort();
	pthread_join(s->acceptor, NULL);
	while (s->conns) {
		struct conn *c = s->conns;

		s->conns = c->next;
		pthread_join(c->thread, NULL);
		free(c);
	}
	close(s->lfd);
	close(s->stop_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

unsigned th_proxied(struct th_server *s)
{
	return atomic_load(&s->proxied);
}

unsigned th_requests(struct th_server *s)
{
	return atomic_load(&s->requests);
}
