/* SPDX-License-Identifier: MIT */
/*
 * The echo server of `ringpool bench net`: one thread with an epoll set
 * that echoes what it reads on 127.0.0.1 (level-triggered; a short write
 * parks the rest and waits for EPOLLOUT, and the connection is not read
 * meanwhile, so a slow reader cannot make it buffer without bound).  The
 * same for every engine, so only the client differs between runs.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define SRV_BUF (64U << 10)

struct srv_conn {
	struct srv_conn *prev, *next; /* the server's list */
	int fd;
	unsigned off, len;
	char buf[SRV_BUF];
};

static void srv_close(struct bench_echo *s, struct srv_conn *c)
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

/* Writes what is parked; 1 when all went, 0 on EAGAIN, -1 on error. */
static int srv_flush(struct srv_conn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off,
				 MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : errno == EINTR ? 1 : -1;
		c->off += (unsigned)n;
	}
	c->off = c->len = 0;
	return 1;
}

static void *server_main(void *arg)
{
	struct bench_echo *s = arg;
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
				int fd = accept4(s->lfd, NULL, NULL,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);
				int one = 1;

				if (fd < 0)
					continue;
				c = malloc(sizeof(*c));
				if (!c) {
					close(fd);
					continue;
				}
				c->fd = fd;
				c->off = c->len = 0;
				c->prev = NULL;
				c->next = s->head;
				if (s->head)
					s->head->prev = c;
				s->head = c;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
					   sizeof(one));
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev))
					srv_close(s, c);
				continue;
			}
			if (c->len) { /* EPOLLOUT */
				ret = srv_flush(c);
			} else {
				got = recv(c->fd, c->buf, SRV_BUF, 0);
				if (got <= 0) {
					if (got < 0 &&
					    (errno == EAGAIN || errno == EINTR))
						continue;
					srv_close(s, c);
					continue;
				}
				c->len = (unsigned)got;
				ret = srv_flush(c);
			}
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

int bench_echo_start(struct bench_echo *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct epoll_event ev;
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->efd = eventfd(0, EFD_CLOEXEC);
	if (s->lfd < 0 || s->ep < 0 || s->efd < 0)
		return -errno;
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s->lfd, 4096) ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &len))
		return -errno;
	s->port = ntohs(sa.sin_port);
	ev.events = EPOLLIN;
	ev.data.ptr = s;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev))
		return -errno;
	ev.data.ptr = NULL;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->efd, &ev))
		return -errno;
	if (pthread_create(&s->thread, NULL, server_main, s))
		return -EAGAIN;
	return 0;
}

/* Stops the server; connections it still has are closed with it. */
void bench_echo_stop(struct bench_echo *s)
{
	eventfd_write(s->efd, 1);
	pthread_join(s->thread, NULL);
	while (s->head)
		srv_close(s, s->head);
	close(s->lfd);
	close(s->efd);
	close(s->ep);
}
