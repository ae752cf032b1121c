/* SPDX-License-Identifier: MIT */
/*
 * echo-loadgen: the load generator of the echo benchmark.
 *
 * Opens C connections to 127.0.0.1:PORT and keeps exactly one message of S
 * bytes outstanding on each: send S bytes, wait until S bytes have come back
 * (and match what was sent), send the next.  The connections are shared out
 * over one or more threads, each with its own edge-triggered epoll set and
 * non-blocking sockets.  After --warmup seconds the round trips that end
 * during the next --duration seconds are counted and their latencies (send of
 * the first byte to receipt of the last) recorded.
 *
 *   echo-loadgen --port N [--conns C] [--size S] [--duration T]
 *                [--warmup W] [--threads N] [--connect-timeout T]
 *
 * Prints one line:
 *   conns=C size=S threads=N secs=T requests=R rps=X p50_us=Y p99_us=Z
 *   cpu=P% errors=E
 * where cpu is the load generator's own CPU time over the run (warm-up and
 * window) as a share of one core: near 100% per thread means the load
 * generator, not the server, may be what limits the rate.
 * Exit status 1 when a connection failed or an echo did not match.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define MAX_EVENTS	512
#define MAX_THREADS	64
#define MAX_SIZE	(1u << 20)

struct lconn {
	int fd;
	bool dead;
	unsigned sent;		/* bytes of the current message sent */
	unsigned rcvd;		/* bytes of its echo received */
	uint64_t seq;		/* number of the current message */
	int64_t t0;		/* when its first byte went */
	char *out, *in;		/* S bytes each */
};

struct worker {
	pthread_t thread;
	struct lconn *conns;
	unsigned n;
	int efd;
	uint64_t requests;	/* round trips ended inside the window */
	uint64_t errors;
	uint32_t *lat;		/* their latencies, ns */
	size_t n_lat, cap_lat;
};

static unsigned msg_size = 128;
static int64_t t_measure, t_end;	/* the window, CLOCK_MONOTONIC ns */

/* The message numbered `seq`: its number, then a pattern derived from it. */
static void fill_msg(char *p, uint64_t seq)
{
	unsigned i;

	for (i = 0; i < msg_size; i++)
		p[i] = (char)(seq * 31 + i);
	if (msg_size >= sizeof(seq))
		memcpy(p, &seq, sizeof(seq));
}

static void record(struct worker *w, int64_t lat)
{
	if (w->n_lat == w->cap_lat) {
		size_t cap = w->cap_lat ? w->cap_lat * 2 : 65536;
		uint32_t *v = realloc(w->lat, cap * sizeof(*v));

		if (!v)
			return;		/* keep counting, stop sampling */
		w->lat = v;
		w->cap_lat = cap;
	}
	w->lat[w->n_lat++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
}

static void conn_fail(struct worker *w, struct lconn *c, const char *what)
{
	if (!c->dead) {
		fprintf(stderr, "echo-loadgen: connection %d: %s\n", c->fd,
			what);
		w->errors++;
		c->dead = true;
		close(c->fd);
	}
}

/* Sends what is left of the current message; false on error. */
static bool push_out(struct lconn *c)
{
	while (c->sent < msg_size) {
		ssize_t n = send(c->fd, c->out + c->sent, msg_size - c->sent,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN;
		}
		c->sent += (unsigned)n;
	}
	return true;
}

static void start_msg(struct lconn *c, int64_t now)
{
	c->seq++;
	fill_msg(c->out, c->seq);
	c->sent = 0;
	c->rcvd = 0;
	c->t0 = now;
}

/* An event on `c`: send what is owed, take what came back. */
static void conn_event(struct worker *w, struct lconn *c)
{
	if (!push_out(c)) {
		conn_fail(w, c, strerror(errno));
		return;
	}
	while (c->rcvd < msg_size) {
		ssize_t n = recv(c->fd, c->in + c->rcvd, msg_size - c->rcvd,
				 0);
		int64_t now;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_fail(w, c, strerror(errno));
			return;
		}
		if (n == 0) {
			conn_fail(w, c, "closed by the server");
			return;
		}
		c->rcvd += (unsigned)n;
		if (c->rcvd > c->sent) {
			conn_fail(w, c, "more bytes back than were sent");
			return;
		}
		if (c->rcvd < msg_size)
			continue;
		/* A full echo: check it, count it, send the next. */
		if (memcmp(c->in, c->out, msg_size)) {
			conn_fail(w, c, "echo differs from the message");
			return;
		}
		now = echo_now_ns();
		if (now >= t_measure && now < t_end) {
			w->requests++;
			record(w, now - c->t0);
		}
		start_msg(c, now);
		if (!push_out(c))
			conn_fail(w, c, strerror(errno));
		/*
		 * Nothing more can be waiting: the server has only this
		 * message to echo, and it was sent just now.  Its echo is new
		 * data, so the edge-triggered epoll reports it; a recv() here
		 * would only fail with EAGAIN, one wasted system call per
		 * request, about a tenth of what the load generator spends.
		 */
		return;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];
	unsigned i;

	for (i = 0; i < w->n; i++) {
		struct lconn *c = &w->conns[i];

		start_msg(c, echo_now_ns());
		if (!push_out(c))
			conn_fail(w, c, strerror(errno));
	}
	while (echo_now_ns() < t_end) {
		int k, n = epoll_wait(w->efd, evs, MAX_EVENTS, 20);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll_wait");
			w->errors++;
			break;
		}
		for (k = 0; k < n; k++) {
			struct lconn *c = evs[k].data.ptr;

			if (!c->dead)
				conn_event(w, c);
		}
	}
	return NULL;
}

/* A blocking connect, retried while the server is not listening yet. */
static int connect_retry(unsigned port, int64_t deadline)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int err;

		if (fd < 0)
			return -errno;
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		err = errno;
		close(fd);
		if ((err != ECONNREFUSED && err != EINTR && err != EAGAIN) ||
		    echo_now_ns() >= deadline)
			return -err;
		usleep(10000);
	}
}

/* CPU time of the process (all threads, user + system), in ns. */
static int64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
		       1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile `p` (0-100) of sorted `v`, in microseconds. */
static double pct_us(const uint32_t *v, size_t n, double p)
{
	size_t rank;

	if (!n)
		return 0;
	rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	return v[rank - 1] / 1000.0;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s --port N [--conns C] [--size S] [--duration T]\n"
		"       [--warmup W] [--threads N] [--connect-timeout T]\n",
		prog);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "conns", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "threads", required_argument, NULL, 't' },
		{ "connect-timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned port = 0, n_conns = 1, n_threads = 1, i;
	double duration = 3, warmup = 0.5, conn_timeout = 5;
	struct worker *ws;
	struct lconn *conns;
	uint64_t requests = 0, errors = 0;
	uint32_t *lat;
	size_t n_lat = 0;
	int64_t t_start, cpu0;
	double cpu_pct;
	int opt;

	while ((opt = getopt_long(argc, argv, "p:c:s:d:w:t:T:h", opts,
				  NULL)) != -1) {
		switch (opt) {
		case 'p':
			port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			n_conns = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			msg_size = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			duration = strtod(optarg, NULL);
			break;
		case 'w':
			warmup = strtod(optarg, NULL);
			break;
		case 't':
			n_threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'T':
			conn_timeout = strtod(optarg, NULL);
			break;
		default:
			usage(argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!port || port > 65535 || !n_conns || !msg_size ||
	    msg_size > MAX_SIZE || duration <= 0 || warmup < 0 ||
	    !n_threads || n_threads > MAX_THREADS) {
		usage(argv[0]);
		return 2;
	}
	if (n_threads > n_conns)
		n_threads = n_conns;
	signal(SIGPIPE, SIG_IGN);
	echo_raise_nofile(n_conns + 64);
	/* Watchdog: whatever happens, the run ends. */
	alarm((unsigned)(conn_timeout + warmup + duration) + 30);

	conns = calloc(n_conns, sizeof(*conns));
	ws = calloc(n_threads, sizeof(*ws));
	if (!conns || !ws) {
		perror("calloc");
		return 1;
	}
	t_start = echo_now_ns() + (int64_t)(conn_timeout * 1e9);
	for (i = 0; i < n_conns; i++) {
		struct lconn *c = &conns[i];
		int fd = connect_retry(port, t_start);

		if (fd < 0) {
			fprintf(stderr, "echo-loadgen: connect: %s\n",
				strerror(-fd));
			return 1;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		echo_nodelay(fd);
		c->fd = fd;
		c->out = malloc(msg_size);
		c->in = malloc(msg_size);
		if (!c->out || !c->in) {
			perror("malloc");
			return 1;
		}
	}

	t_start = echo_now_ns();
	t_measure = t_start + (int64_t)(warmup * 1e9);
	t_end = t_measure + (int64_t)(duration * 1e9);
	for (i = 0; i < n_threads; i++) {
		struct worker *w = &ws[i];
		unsigned lo = (unsigned)((uint64_t)n_conns * i / n_threads);
		unsigned hi = (unsigned)((uint64_t)n_conns * (i + 1) /
					 n_threads);
		unsigned k;

		w->conns = conns + lo;
		w->n = hi - lo;
		w->efd = epoll_create1(EPOLL_CLOEXEC);
		if (w->efd < 0) {
			perror("epoll_create1");
			return 1;
		}
		for (k = 0; k < w->n; k++) {
			struct epoll_event ev = {
				.events = EPOLLIN | EPOLLOUT | EPOLLET,
				.data.ptr = &w->conns[k],
			};

			if (epoll_ctl(w->efd, EPOLL_CTL_ADD, w->conns[k].fd,
				      &ev)) {
				perror("epoll_ctl");
				return 1;
			}
		}
	}
	cpu0 = cpu_ns();
	for (i = 0; i < n_threads; i++) {
		if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i])) {
			fprintf(stderr, "echo-loadgen: pthread_create failed\n");
			return 1;
		}
	}
	for (i = 0; i < n_threads; i++) {
		pthread_join(ws[i].thread, NULL);
		requests += ws[i].requests;
		errors += ws[i].errors;
		n_lat += ws[i].n_lat;
	}
	cpu_pct = 100.0 * (double)(cpu_ns() - cpu0) /
		  (double)(echo_now_ns() - t_start);

	lat = malloc((n_lat ? n_lat : 1) * sizeof(*lat));
	if (!lat) {
		perror("malloc");
		return 1;
	}
	n_lat = 0;
	for (i = 0; i < n_threads; i++) {
		memcpy(lat + n_lat, ws[i].lat, ws[i].n_lat * sizeof(*lat));
		n_lat += ws[i].n_lat;
	}
	qsort(lat, n_lat, sizeof(*lat), cmp_u32);
	printf("conns=%u size=%u threads=%u secs=%.2f requests=%" PRIu64
	       " rps=%.0f p50_us=%.1f p99_us=%.1f cpu=%.0f%% errors=%" PRIu64
	       "\n", n_conns, msg_size, n_threads, duration, requests,
	       (double)requests / duration, pct_us(lat, n_lat, 50),
	       pct_us(lat, n_lat, 99), cpu_pct, errors);
	for (i = 0; i < n_conns; i++) {
		if (!conns[i].dead)
			close(conns[i].fd);
		free(conns[i].out);
		free(conns[i].in);
	}
	for (i = 0; i < n_threads; i++) {
		close(ws[i].efd);
		free(ws[i].lat);
	}
	free(lat);
	free(ws);
	free(conns);
	return errors || !requests ? 1 : 0;
}
