/* SPDX-License-Identifier: MIT */
/*
 * faultd: a small HTTP/1.1 server that misbehaves on purpose, for the tests
 * of `ringpool get`.
 *
 *   faultd LOGFILE        listens on 127.0.0.1, prints its port on stdout
 *
 * Every response closes its connection.  The body of any resource is
 * body_fill(body_seed(LAST_SEGMENT)), SIZE bytes (?size=N, default 1000).
 * Routes:
 *   /file/NAME          200; honours "Range: bytes=N-" (206, or 416 past end)
 *   /norange/NAME       200 with the whole body, ignoring Range
 *   /status/CODE        that status with a short body
 *   /flaky/NAME?fail=K&code=C&retry_after=S
 *                       the first K requests get status C (default 503,
 *                       with Retry-After S when given), then as /file
 *   /drop/NAME          the first request sends half the body and closes;
 *                       later ones as /file
 *   /short/NAME         announces SIZE bytes, sends half, closes (always)
 *   /once200/NAME?cut=K the first request gets 200 (Range ignored), the
 *                       whole length announced and only K bytes (default
 *                       half), then a clean close; later ones as /file
 *   /stall/NAME         sends the headers, then nothing for 30 s
 *   /halfstall/NAME?stall=MS
 *                       the first request gets the headers and half the
 *                       body, then nothing for MS ms (default 30000) or
 *                       until the client goes, then the rest; later ones
 *                       as /file
 *   /redir/N/NAME       302 to /redir/N-1/NAME; /redir/0/NAME is /file/NAME
 *   /loop/NAME          302 to itself
 *   /evil/NAME          as /file, with Content-Disposition naming
 *                       "../../evil.sh"
 *   /headers/NAME       200 with the request's header lines as the body
 *   /away/NAME          302 to http://localhost:PORT/headers/NAME: the same
 *                       server under another host name
 * And as a proxy for HTTPS: "CONNECT 127.0.0.1:PORT" (no other host) gets
 * 200 and the bytes both ways until either side closes.
 * Each request is logged to LOGFILE as "PATH RANGE-START" ("-" without
 * Range; "CONNECT HOST:PORT -" for a tunnel), one line, flushed, so tests
 * can count what reached the server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "body.h"

static FILE *log_fp;
static int my_port;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Requests seen per path, for /flaky and /drop. */
#define NCOUNT 4096
static struct { char *path; unsigned n; } counts[NCOUNT];

static unsigned bump(const char *path)
{
	unsigned i, n = 0;

	pthread_mutex_lock(&lock);
	for (i = 0; i < NCOUNT && counts[i].path; i++) {
		if (!strcmp(counts[i].path, path))
			break;
	}
	if (i < NCOUNT) {
		if (!counts[i].path)
			counts[i].path = strdup(path);
		n = ++counts[i].n;
	}
	pthread_mutex_unlock(&lock);
	return n;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static long query_num(const char *query, const char *key, long def)
{
	char pat[32];
	const char *p;

	if (!query)
		return def;
	snprintf(pat, sizeof(pat), "%s=", key);
	for (p = query; (p = strstr(p, pat)); p++) {
		if (p == query || p[-1] == '&' || p[-1] == '?')
			return strtol(p + strlen(pat), NULL, 10);
	}
	return def;
}

/* Sends body bytes [from, to) of `seed`. */
static int send_body(int fd, uint32_t seed, uint64_t from, uint64_t to)
{
	unsigned char buf[16384];

	while (from < to) {
		size_t n = to - from < sizeof(buf) ? (size_t)(to - from)
						    : sizeof(buf);

		body_fill(seed, from, buf, n);
		if (send_all(fd, buf, n) < 0)
			return -1;
		from += n;
	}
	return 0;
}

static void simple(int fd, int code, const char *extra)
{
	char buf[512];
	int n;

	char body[32];
	int blen = snprintf(body, sizeof(body), "error %d\n", code);

	n = snprintf(buf, sizeof(buf),
		     "HTTP/1.1 %d Status %d\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %d\r\nConnection: close\r\n%s\r\n%s",
		     code, code, blen, extra ? extra : "", body);
	send_all(fd, buf, (size_t)n);
}

/* A normal answer: 200, or 206/416 for a Range when `ranges`. */
static void serve_file(int fd, uint32_t seed, uint64_t size, long range,
		       bool ranges, const char *extra)
{
	char buf[512];
	int n;

	if (ranges && range >= 0 && (uint64_t)range >= size) {
		n = snprintf(buf, sizeof(buf),
			     "HTTP/1.1 416 Range Not Satisfiable\r\n"
			     "Content-Range: bytes */%llu\r\n"
			     "Content-Length: 0\r\nConnection: close\r\n\r\n",
			     (unsigned long long)size);
		send_all(fd, buf, (size_t)n);
		return;
	}
	if (ranges && range >= 0) {
		n = snprintf(buf, sizeof(buf),
			     "HTTP/1.1 206 Partial Content\r\n"
			     "Content-Range: bytes %ld-%llu/%llu\r\n"
			     "Content-Length: %llu\r\nConnection: close\r\n%s\r\n",
			     range, (unsigned long long)size - 1,
			     (unsigned long long)size,
			     (unsigned long long)(size - (uint64_t)range),
			     extra ? extra : "");
		if (send_all(fd, buf, (size_t)n) == 0)
			send_body(fd, seed, (uint64_t)range, size);
		return;
	}
	n = snprintf(buf, sizeof(buf),
		     "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n"
		     "Accept-Ranges: %s\r\nConnection: close\r\n%s\r\n",
		     (unsigned long long)size, ranges ? "bytes" : "none",
		     extra ? extra : "");
	if (send_all(fd, buf, (size_t)n) == 0)
		send_body(fd, seed, 0, size);
}

/* A 200 that promises SIZE bytes and sends the first CUT of them. */
static void send_cut(int fd, uint32_t seed, uint64_t size, uint64_t cut,
		     bool ranges)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n"
			 "%sConnection: close\r\n\r\n",
			 (unsigned long long)size,
			 ranges ? "Accept-Ranges: bytes\r\n" : "");

	if (send_all(fd, buf, (size_t)n) == 0)
		send_body(fd, seed, 0, cut);
}

static void log_line(const char *what, long range)
{
	pthread_mutex_lock(&lock);
	if (range >= 0)
		fprintf(log_fp, "%s %ld\n", what, range);
	else
		fprintf(log_fp, "%s -\n", what);
	fflush(log_fp);
	pthread_mutex_unlock(&lock);
}

/*
 * A CONNECT tunnel to 127.0.0.1:`port`: 200, then what either side sends
 * goes to the other until one of them closes.
 */
static void tunnel(int fd, long port)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct pollfd p[2];
	char buf[16384];
	int up;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (up < 0 || connect(up, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (up >= 0)
			close(up);
		simple(fd, 502, NULL);
		return;
	}
	if (send_all(fd, ok, sizeof(ok) - 1) < 0) {
		close(up);
		return;
	}
	p[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = up, .events = POLLIN };
	while (poll(p, 2, 30000) > 0) {
		int from = p[0].revents ? 0 : 1;
		ssize_t n = recv(p[from].fd, buf, sizeof(buf), 0);

		if (n <= 0 || send_all(p[!from].fd, buf, (size_t)n) < 0)
			break;
	}
	close(up);
}

static void handle(int fd)
{
	char req[8192], path[2048], *query, *seg, *hdr, *end;
	size_t got = 0;
	long range = -1;
	uint64_t size;
	uint32_t seed;

	for (;;) {
		ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);

		if (n <= 0)
			return;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
		if (got == sizeof(req) - 1)
			return;
	}
	if (sscanf(req, "CONNECT %2000s", path) == 1) {
		char line[sizeof(path) + 16];

		snprintf(line, sizeof(line), "CONNECT %s", path);
		log_line(line, -1);
		/* Never anywhere but here. */
		if (strncmp(path, "127.0.0.1:", 10))
			simple(fd, 403, NULL);
		else
			tunnel(fd, strtol(path + 10, NULL, 10));
		return;
	}
	if (sscanf(req, "GET %2047s", path) != 1) {
		simple(fd, 400, NULL);
		return;
	}
	hdr = strcasestr(req, "\r\nRange: bytes=");
	if (hdr)
		range = strtol(hdr + 15, NULL, 10);
	log_line(path, range);

	query = strchr(path, '?');
	if (query)
		*query++ = '\0';
	size = (uint64_t)query_num(query, "size", 1000);
	seg = strrchr(path, '/');
	seed = body_seed(seg ? seg + 1 : path);

	if (!strncmp(path, "/file/", 6)) {
		serve_file(fd, seed, size, range, true, NULL);
	} else if (!strncmp(path, "/norange/", 9)) {
		serve_file(fd, seed, size, range, false, NULL);
	} else if (!strncmp(path, "/status/", 8)) {
		simple(fd, (int)strtol(path + 8, NULL, 10), NULL);
	} else if (!strncmp(path, "/flaky/", 7)) {
		long fail = query_num(query, "fail", 1);
		long code = query_num(query, "code", 503);
		long ra = query_num(query, "retry_after", -1);
		char extra[64] = "";

		if (bump(path) <= (unsigned long)fail) {
			if (ra >= 0)
				snprintf(extra, sizeof(extra),
					 "Retry-After: %ld\r\n", ra);
			simple(fd, (int)code, extra);
		} else {
			serve_file(fd, seed, size, range, true, NULL);
		}
	} else if (!strncmp(path, "/drop/", 6)) {
		if (bump(path) == 1) {
			send_cut(fd, seed, size, size / 2, true);
			/* A reset, not a clean close: as a crashed peer. */
			struct linger lg = { 1, 0 };
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		} else {
			serve_file(fd, seed, size, range, true, NULL);
		}
	} else if (!strncmp(path, "/once200/", 9)) {
		long cut = query_num(query, "cut", (long)(size / 2));

		if (bump(path) == 1)
			send_cut(fd, seed, size, (uint64_t)cut, true);
		else
			serve_file(fd, seed, size, range, true, NULL);
	} else if (!strncmp(path, "/short/", 7)) {
		send_cut(fd, seed, size, size / 2, false);
	} else if (!strncmp(path, "/stall/", 7)) {
		static const char head[] = "HTTP/1.1 200 OK\r\n"
			"Content-Length: 1000\r\nConnection: close\r\n\r\n";
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (send_all(fd, head, sizeof(head) - 1) == 0)
			poll(&p, 1, 30000);	/* until the client gives up */
	} else if (!strncmp(path, "/halfstall/", 11)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (bump(path) > 1) {
			serve_file(fd, seed, size, range, true, NULL);
		} else {
			send_cut(fd, seed, size, size / 2, true);
			if (poll(&p, 1, (int)query_num(query, "stall", 30000)) == 0)
				send_body(fd, seed, size / 2, size);
		}
	} else if (!strncmp(path, "/redir/", 7)) {
		long n = strtol(path + 7, &end, 10);
		char loc[2200];

		if (n <= 0) {
			serve_file(fd, seed, size, range, true, NULL);
		} else {
			snprintf(loc, sizeof(loc), "Location: /redir/%ld%s%s%s\r\n",
				 n - 1, end, query ? "?" : "", query ? query : "");
			simple(fd, 302, loc);
		}
	} else if (!strncmp(path, "/loop/", 6)) {
		char loc[2100];

		snprintf(loc, sizeof(loc), "Location: %s\r\n", path);
		simple(fd, 302, loc);
	} else if (!strncmp(path, "/headers/", 9)) {
		/* The header lines, after the request line, as they came. */
		char *first = strstr(req, "\r\n") + 2;
		char *last = strstr(req, "\r\n\r\n") + 2;
		char head[256];
		int n = snprintf(head, sizeof(head),
				 "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
				 "Connection: close\r\n\r\n",
				 (int)(last - first));

		if (send_all(fd, head, (size_t)n) == 0)
			send_all(fd, first, (size_t)(last - first));
	} else if (!strncmp(path, "/away/", 6)) {
		char loc[2200];

		snprintf(loc, sizeof(loc),
			 "Location: http://localhost:%d/headers/%s\r\n",
			 my_port, path + 6);
		simple(fd, 302, loc);
	} else if (!strncmp(path, "/evil/", 6)) {
		serve_file(fd, seed, size, range, true,
			   "Content-Disposition: attachment; "
			   "filename=\"../../evil.sh\"\r\n");
	} else {
		simple(fd, 404, NULL);
	}
}

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;

	handle(fd);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	pthread_attr_t attr;
	int lfd, one = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: faultd LOGFILE\n");
		return 2;
	}
	log_fp = fopen(argv[1], "a");
	if (!log_fp) {
		perror(argv[1]);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 1024) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
		perror("faultd: listen");
		return 1;
	}
	my_port = ntohs(sa.sin_port);
	printf("%d\n", my_port);
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		pthread_t th;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE)
				continue;
			perror("faultd: accept");
			return 1;
		}
		if (pthread_create(&th, &attr, conn_main, (void *)(intptr_t)fd))
			close(fd);
	}
}
