/* SPDX-License-Identifier: MIT */
/*
 * echo-epoll: the reference echo server of the echo benchmark.
 *
 * One thread, one edge-triggered epoll set.  The listening socket is
 * non-blocking and accepted until EAGAIN; each connection is read until
 * EAGAIN (or until its buffer is full of bytes not yet written back), and
 * what was read is written back at once.  A short write leaves the rest in
 * the connection's buffer and waits for EPOLLOUT, and reading stops until
 * it has gone out, so a slow reader cannot make the server buffer without
 * bound.
 *
 *   echo-epoll [--port N] [--max-time S]
 *
 * Prints "listening 127.0.0.1:PORT" once it accepts connections; runs until
 * SIGINT or SIGTERM (or --max-time seconds, default 600), then prints its
 * CPU time per echo on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define MAX_EVENTS	256

struct conn {
	int fd;
	unsigned len;		/* bytes in buf */
	unsigned off;		/* of which already written back */
	char buf[ECHO_BUF_SIZE];
};

static volatile sig_atomic_t stop;
static uint64_t echoes;		/* recvs that returned data */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void conn_close(struct conn *c)
{
	close(c->fd);		/* also removes it from the epoll set */
	free(c);
}

/* Writes what is buffered.  Returns 1 when all went, 0 on EAGAIN, -1. */
static int flush_out(struct conn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -1;
		}
		c->off += (unsigned)n;
	}
	c->off = 0;
	c->len = 0;
	return 1;
}

/*
 * Reads until EAGAIN, echoing each read at once.  Returns false when the
 * connection is finished (peer closed or an error).
 */
static bool conn_io(struct conn *c)
{
	int ret;

	/* Earlier bytes still owed: EPOLLOUT brought us here. */
	ret = flush_out(c);
	if (ret <= 0)
		return ret == 0;
	for (;;) {
		ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN;
		}
		if (n == 0)
			return false;
		echoes++;
		c->len = (unsigned)n;
		ret = flush_out(c);
		if (ret < 0)
			return false;
		/* Short write: wait for EPOLLOUT before reading more. */
		if (ret == 0)
			return true;
	}
}

static void accept_all(int lfd, int efd)
{
	for (;;) {
		struct epoll_event ev;
		struct conn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				perror("accept4");
			return;
		}
		echo_nodelay(fd);
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->len = 0;
		c->off = 0;
		ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
		ev.data.ptr = c;
		if (epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev)) {
			perror("epoll_ctl");
			conn_close(c);
		}
	}
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--port N] [--max-time S]\n", prog);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "max-time", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct epoll_event evs[MAX_EVENTS], lev;
	unsigned port = 0, max_time = 600;
	struct sigaction sa;
	int opt, lfd, efd;
	/* A marker distinct from every struct conn pointer. */
	static char listen_tag;

	while ((opt = getopt_long(argc, argv, "p:m:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			max_time = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			usage(argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	echo_raise_nofile(65536);

	efd = epoll_create1(EPOLL_CLOEXEC);
	if (efd < 0) {
		perror("epoll_create1");
		return 1;
	}
	lfd = echo_listen(port, SOCK_NONBLOCK);
	if (lfd < 0)
		return 1;
	lev.events = EPOLLIN | EPOLLET;
	lev.data.ptr = &listen_tag;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, lfd, &lev)) {
		perror("epoll_ctl");
		return 1;
	}
	if (max_time)
		alarm(max_time);

	while (!stop) {
		int i, n = epoll_wait(efd, evs, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (evs[i].data.ptr == &listen_tag) {
				accept_all(lfd, efd);
				continue;
			}
			if ((evs[i].events & (EPOLLERR | EPOLLHUP)) ||
			    !conn_io(c))
				conn_close(c);
		}
	}
	echo_report_cpu("echo-epoll", echoes);
	/* Connections still open are released by exit. */
	close(lfd);
	close(efd);
	return 0;
}
