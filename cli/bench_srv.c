/* SPDX-License-Identifier: MIT */
/*
 * The in-process server of `ringpool bench net` and `bench http`: one
 * thread with an epoll set on 127.0.0.1, speaking one of two protocols:
 *
 * - SRV_ECHO: sends back what it reads (bench net);
 * - SRV_HTTP: a static HTTP/1.1 keep-alive server that answers every GET
 *   with the same in-memory body (bench http).
 *
 * Level-triggered; a short write parks the rest and waits for EPOLLOUT, and
 * the connection is not read meanwhile, so a slow reader cannot make it
 * buffer without bound.  The same for every engine, so only the client
 * differs between runs.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench.h"

#define SRV_BUF (64U << 10)

struct srv_conn {
	struct srv_conn *prev, *next; /* the server's list */
	int fd;
	/* The response being sent: out[cur..n_out) from off in out[cur]. */
	struct iovec out[2];
	unsigned n_out, cur;
	size_t off;
	unsigned consume; /* input bytes the response answers */
	unsigned in_len;
	char head[160];
	char in[SRV_BUF];
};

static void srv_close(struct bench_srv *s, struct srv_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/*
 * Sends what is left of the response; 1 when all went (its input is then
 * dropped), 0 on EAGAIN, -1 on error.
 */
static int srv_flush(struct srv_conn *c)
{
	while (c->cur < c->n_out) {
		struct iovec iov[2];
		struct msghdr mh = {.msg_iov = iov};
		unsigned i;
		ssize_t n;

		for (i = c->cur; i < c->n_out; i++)
			iov[i - c->cur] = c->out[i];
		iov[0].iov_base = (char *)iov[0].iov_base + c->off;
		iov[0].iov_len -= c->off;
		mh.msg_iovlen = c->n_out - c->cur;
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN ? 0 : errno == EINTR ? 1 : -1;
		/* Advance over what went, piece by piece. */
		while (n > 0 && c->cur < c->n_out) {
			size_t left = c->out[c->cur].iov_len - c->off;

			if ((size_t)n < left) {
				c->off += (size_t)n;
				n = 0;
			} else {
				n -= (ssize_t)left;
				c->off = 0;
				c->cur++;
			}
		}
		while (c->cur < c->n_out && !c->out[c->cur].iov_len)
			c->cur++;
	}
	memmove(c->in, c->in + c->consume, c->in_len - c->consume);
	c->in_len -= c->consume;
	c->consume = c->n_out = c->cur = 0;
	c->off = 0;
	return 1;
}

/* Echo: the response is the input itself. */
static int echo_serve(struct srv_conn *c)
{
	if (!c->in_len)
		return 0;
	c->out[0].iov_base = c->in;
	c->out[0].iov_len = c->in_len;
	c->n_out = 1;
	c->consume = c->in_len;
	return 1;
}

/*
 * HTTP: one complete request in the input gets the head and the body;
 * anything but GET closes the connection.  1 when a response is queued,
 * 0 when the request is not all there yet, -1 to close.
 */
static int http_serve(struct bench_srv *s, struct srv_conn *c)
{
	char *end = c->in_len ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
	int n;

	if (!end)
		return c->in_len == SRV_BUF ? -1 : 0;
	if (strncmp(c->in, "GET ", 4))
		return -1;
	n = snprintf(c->head, sizeof(c->head),
		     "HTTP/1.1 200 OK\r\nContent-Type: "
		     "application/octet-stream\r\nContent-Length: %llu\r\n\r\n",
		     (unsigned long long)s->body_len);
	c->out[0].iov_base = c->head;
	c->out[0].iov_len = (size_t)n;
	c->out[1].iov_base = (void *)s->body;
	c->out[1].iov_len = s->body_len;
	c->n_out = 2;
	c->consume = (unsigned)(end - c->in) + 4;
	atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
	return 1;
}

/*
 * Answers what the input holds while the socket takes it: 1 when all is
 * sent (wait for input), 0 when a response is parked (wait for EPOLLOUT),
 * -1 to close.
 */
static int srv_progress(struct bench_srv *s, struct srv_conn *c)
{
	int ret;

	for (;;) {
		if (c->n_out) {
			ret = srv_flush(c);
			if (ret <= 0)
				return ret;
		}
		ret = s->kind == SRV_HTTP ? http_serve(s, c) : echo_serve(c);
		if (ret <= 0)
			return ret < 0 ? -1 : 1;
	}
}

static void srv_accept(struct bench_srv *s)
{
	struct epoll_event ev;
	struct srv_conn *c;
	int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int one = 1;

	if (fd < 0)
		return;
	c = malloc(sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	memset(c, 0, offsetof(struct srv_conn, in));
	c->fd = fd;
	c->next = s->head;
	if (s->head)
		s->head->prev = c;
	s->head = c;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev))
		srv_close(s, c);
}

static void *server_main(void *arg)
{
	struct bench_srv *s = arg;
	struct epoll_event evs[64], ev;
	int n, i;

	for (;;) {
		n = epoll_wait(s->ep, evs, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (i = 0; i < n; i++) {
			struct srv_conn *c = evs[i].data.ptr;
			ssize_t got;
			int ret;

			if (!c) /* the eventfd: stop */
				goto out;
			if ((void *)c == (void *)s) {
				srv_accept(s);
				continue;
			}
			if (!c->n_out) { /* EPOLLIN */
				got = recv(c->fd, c->in + c->in_len,
					   SRV_BUF - c->in_len, 0);
				if (got <= 0) {
					if (got < 0 &&
					    (errno == EAGAIN || errno == EINTR))
						continue;
					srv_close(s, c);
					continue;
				}
				c->in_len += (unsigned)got;
			}
			ret = srv_progress(s, c);
			if (ret < 0) {
				srv_close(s, c);
				continue;
			}
			ev.events = ret ? EPOLLIN : EPOLLOUT;
			ev.data.ptr = c;
			epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
	}
out:
	return NULL;
}

int bench_srv_start(struct bench_srv *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct epoll_event ev;
	int one = 1;

	s->head = NULL;
	atomic_init(&s->requests, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->efd = eventfd(0, EFD_CLOEXEC);
	if (s->lfd < 0 || s->ep < 0 || s->efd < 0)
		goto fail;
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s->lfd, 4096) ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &len))
		goto fail;
	s->port = ntohs(sa.sin_port);
	ev.events = EPOLLIN;
	ev.data.ptr = s;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev))
		goto fail;
	ev.data.ptr = NULL;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->efd, &ev))
		goto fail;
	if (pthread_create(&s->thread, NULL, server_main, s)) {
		errno = EAGAIN;
		goto fail;
	}
	return 0;
fail : {
	int err = -errno;

	if (s->lfd >= 0)
		close(s->lfd);
	if (s->ep >= 0)
		close(s->ep);
	if (s->efd >= 0)
		close(s->efd);
	s->lfd = s->ep = s->efd = -1;
	return err;
}
}

void bench_srv_stop(struct bench_srv *s)
{
	eventfd_write(s->efd, 1);
	pthread_join(s->thread, NULL);
	while (s->head)
		srv_close(s, s->head);
	close(s->lfd);
	close(s->efd);
	close(s->ep);
}
