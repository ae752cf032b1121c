/* SPDX-License-Identifier: MIT */
/*
 * http_server.h - a tiny HTTP/1.1 server for the download examples, so that
 * they need no network and print the same thing every time.
 *
 * It listens on 127.0.0.1 at a port the kernel picks and serves a fixed
 * table of pages, each after a delay of its own (the "network latency" the
 * Python originals simulate with time.sleep).  One thread accepts, and each
 * connection gets a thread, so slow pages overlap.
 *
 * So that the examples print their results in the same order every time,
 * even under valgrind where requests may go out far apart, a page can wait
 * for another page to have been sent before its own delay starts: the
 * completion order is then the server's, whatever the timing.
 *
 * Not a real server: GET only, no error handling beyond closing the
 * connection.
 */
#ifndef RINGPOOL_EXAMPLE_HTTP_SERVER_H
#define RINGPOOL_EXAMPLE_HTTP_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct page {
	const char *path;	/* "/file1.txt" */
	const char *type;	/* Content-Type */
	const char *body;
	int after;		/* index of the page sent first, or -1 */
	int delay_ms;		/* then this long before the response */
};

#define SERVER_MAX_CONNS 32
#define SERVER_MAX_PAGES 8

struct http_server {
	pthread_mutex_t lock;
	pthread_cond_t sent_cond;
	int sent[SERVER_MAX_PAGES];	/* under lock */
	int stopping;			/* under lock */
	const struct page *pages;
	size_t n_pages;
	uint16_t port;
	int lfd, stop_fd;
	pthread_t acceptor;
	pthread_t conns[SERVER_MAX_CONNS];
	int n_conns;
};

struct server_conn {
	struct http_server *srv;
	int fd;
};

/* Waits for `fd` (or for `ms` with fd -1); false once the server stops. */
static int server_wait(struct http_server *s, int fd, int ms)
{
	struct pollfd p[2] = {
		{ .fd = s->stop_fd, .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};

	if (poll(p, fd >= 0 ? 2 : 1, ms) < 0 || p[0].revents)
		return 0;
	return 1;
}

/* Waits until page `after` was sent; false once the server stops. */
static int server_wait_sent(struct http_server *s, int after)
{
	int ok;

	pthread_mutex_lock(&s->lock);
	while (after >= 0 && !s->sent[after] && !s->stopping)
		pthread_cond_wait(&s->sent_cond, &s->lock);
	ok = !s->stopping;
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static void server_mark_sent(struct http_server *s, size_t page)
{
	pthread_mutex_lock(&s->lock);
	s->sent[page] = 1;
	pthread_cond_broadcast(&s->sent_cond);
	pthread_mutex_unlock(&s->lock);
}

static void *server_conn_main(void *arg)
{
	struct http_server *s = ((struct server_conn *)arg)->srv;
	int fd = ((struct server_conn *)arg)->fd;
	char req[2048], head[256], path[256];
	size_t have = 0, i;

	free(arg);
	for (;;) {
		const struct page *pg = NULL;
		char *end;
		ssize_t n;
		int len;

		end = memmem(req, have, "\r\n\r\n", 4);
		if (!end) {
			if (have == sizeof(req) || !server_wait(s, fd, -1))
				break;
			n = recv(fd, req + have, sizeof(req) - have, 0);
			if (n <= 0)
				break;
			have += (size_t)n;
			continue;
		}
		if (sscanf(req, "GET %255s", path) != 1)
			break;
		for (i = 0; i < s->n_pages; i++)
			if (!strcmp(path, s->pages[i].path))
				pg = &s->pages[i];
		if (pg && (!server_wait_sent(s, pg->after) ||
			   (pg->delay_ms && !server_wait(s, -1, pg->delay_ms))))
			break;
		len = snprintf(head, sizeof(head),
			       "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
			       "Content-Length: %zu\r\n\r\n",
			       pg ? "200 OK" : "404 Not Found",
			       pg ? pg->type : "text/plain",
			       pg ? strlen(pg->body) : 0);
		if (send(fd, head, (size_t)len, MSG_NOSIGNAL) != len ||
		    (pg && send(fd, pg->body, strlen(pg->body), MSG_NOSIGNAL) !=
		     (ssize_t)strlen(pg->body)))
			break;
		if (pg)
			server_mark_sent(s, (size_t)(pg - s->pages));
		have -= (size_t)(end + 4 - req);
		memmove(req, end + 4, have);
	}
	close(fd);
	return NULL;
}

static void *server_accept_main(void *arg)
{
	struct http_server *s = arg;

	while (server_wait(s, s->lfd, -1)) {
		struct server_conn *c;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			continue;
		c = malloc(sizeof(*c));
		if (!c || s->n_conns == SERVER_MAX_CONNS) {
			free(c);
			close(fd);
			continue;
		}
		c->srv = s;
		c->fd = fd;
		if (pthread_create(&s->conns[s->n_conns], NULL,
				   server_conn_main, c)) {
			free(c);
			close(fd);
			continue;
		}
		s->n_conns++;
	}
	return NULL;
}

/*
 * Starts serving `pages`; returns 0, or -1 with errno set (and nothing to
 * stop).
 */
static int http_server_start(struct http_server *s, const struct page *pages,
			     size_t n_pages)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);

	int err;

	memset(s, 0, sizeof(*s));
	if (n_pages > SERVER_MAX_PAGES) {
		errno = EINVAL;
		return -1;
	}
	s->pages = pages;
	s->n_pages = n_pages;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->lfd < 0 || s->stop_fd < 0 ||
	    bind(s->lfd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(s->lfd, 16) ||
	    getsockname(s->lfd, (struct sockaddr *)&addr, &len)) {
		err = errno;
		goto fail;
	}
	s->port = ntohs(addr.sin_port);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->sent_cond, NULL);
	err = pthread_create(&s->acceptor, NULL, server_accept_main, s);
	if (!err)
		return 0;
	pthread_cond_destroy(&s->sent_cond);
	pthread_mutex_destroy(&s->lock);
fail:
	/* Nothing is left open: http_server_stop() is not called. */
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	errno = err;
	return -1;
}

/* Closes every connection and joins the threads. */
static void http_server_stop(struct http_server *s)
{
	uint64_t one = 1;
	int i;

	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->sent_cond);
	pthread_mutex_unlock(&s->lock);
	if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
		perror("http_server_stop");
	pthread_join(s->acceptor, NULL);
	for (i = 0; i < s->n_conns; i++)
		pthread_join(s->conns[i], NULL);
	close(s->lfd);
	close(s->stop_fd);
	pthread_cond_destroy(&s->sent_cond);
	pthread_mutex_destroy(&s->lock);
}

#endif /* RINGPOOL_EXAMPLE_HTTP_SERVER_H */
