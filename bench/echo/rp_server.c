/* SPDX-License-Identifier: MIT */
/*
 * echo-rp: the echo server of the echo benchmark on the ringpool executor.
 *
 * Nothing but done-callbacks does the work.  One rp_accept() is outstanding
 * on the listening socket and its callback queues the next one; each accepted
 * connection runs a chain of one operation at a time,
 *
 *	rp_recv -> rp_send (again after a short send) -> rp_recv -> ...
 *
 * until the peer closes, then rp_close().  With io_uring the callbacks run on
 * the ring thread, which queues the next operation from inside the callback
 * (no wake-up, no other thread involved); with --backend threads they run on
 * the blocking-I/O threads.  With --rings N the connections are dealt to the
 * N rings in turn (RP_IO_RING on each one's first receive).  The main thread only waits for SIGINT/SIGTERM.
 *
 *   echo-rp [--port N] [--rings N] [--backend uring|threads]
 *           [--spin-ns NS] [--io-threads N] [--max-time S]
 *           [--poll-first]
 *
 * Prints "listening 127.0.0.1:PORT" once it accepts connections, and the
 * backend in use on stderr; at the end, its CPU time per echo on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringpool.h"

#include "common.h"

struct conn {
	int fd;
	unsigned len;		/* bytes received, to echo */
	unsigned off;		/* of which sent */
	char buf[ECHO_BUF_SIZE];
};

static rp_executor *ex;
static int listen_fd = -1;
static atomic_bool stopping;
/* recvs that returned data; relaxed (one ring thread bumps it, usually). */
static _Atomic uint64_t echoes;

static void arm_recv(struct conn *c, const struct rp_io_opts *opts);
static void arm_send(struct conn *c);

/*
 * The receive after a reply.  With --poll-first it waits for data before
 * its first attempt (RP_IO_POLL_FIRST): the client has not had the reply
 * yet, so that attempt would mostly find nothing.  On the 2-vCPU VM at 300
 * connections that cut the server's CPU per echo by a fifth to a third,
 * but its requests/s fell 1-5% in 8 of 9 alternated pairs: a request
 * that came while the receive waited to be submitted is then read one
 * loop of the ring thread later, after the poll reports it.  So it is not
 * the default here, where requests/s is what is compared.
 */
static struct rp_io_opts after_reply;

/* A callback could not be registered: the chain would be lost. */
static void fatal(const char *what, int err)
{
	fprintf(stderr, "echo-rp: %s: %s\n", what, strerror(-err));
	exit(1);
}

/*
 * The result of an ended I/O future: its value (>= 0), or a negative errno
 * (-ECANCELED when it was cancelled).
 */
static int64_t io_result(rp_future *f)
{
	int64_t value;
	int err, ret;

	ret = rp_future_result(f, 0, &value, &err);
	if (ret)
		return ret;
	return err ? err : value;
}

static void on_closed(rp_future *f, void *arg)
{
	(void)f;
	free(arg);
}

static void conn_close(struct conn *c)
{
	rp_future *f;
	int ret;

	ret = rp_close(ex, c->fd, NULL, &f);
	if (ret) {
		/* Shutting down: no more operations.  Close it here. */
		close(c->fd);
		free(c);
		return;
	}
	ret = rp_future_add_done_callback(f, on_closed, c);
	if (ret)
		fatal("rp_future_add_done_callback", ret);
	rp_future_unref(f);
}

/*
 * Registers `cb` on the operation just queued (`ret` and `f` as rp_recv()
 * or rp_send() gave them) and drops our reference.  Returns false when the
 * operation was not queued (the executor is shutting down).
 */
static bool chain(int ret, rp_future *f, rp_done_fn cb, struct conn *c)
{
	if (ret)
		return false;
	ret = rp_future_add_done_callback(f, cb, c);
	if (ret)
		fatal("rp_future_add_done_callback", ret);
	rp_future_unref(f);
	return true;
}

static void on_send(rp_future *f, void *arg)
{
	struct conn *c = arg;
	int64_t n = io_result(f);

	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->off += (unsigned)n;
	if (c->off < c->len)
		arm_send(c);		/* short send: the rest */
	else
		arm_recv(c, &after_reply);
}

static void arm_send(struct conn *c)
{
	rp_future *f = NULL;
	int ret;

	ret = rp_send(ex, c->fd, c->buf + c->off, c->len - c->off,
		      MSG_NOSIGNAL, NULL, &f);
	if (!chain(ret, f, on_send, c))
		conn_close(c);
}

static void on_recv(rp_future *f, void *arg)
{
	struct conn *c = arg;
	int64_t n = io_result(f);

	if (n <= 0) {		/* peer closed, error or cancelled */
		conn_close(c);
		return;
	}
	atomic_fetch_add_explicit(&echoes, 1, memory_order_relaxed);
	c->len = (unsigned)n;
	c->off = 0;
	arm_send(c);
}

/*
 * `opts` NULL: on the ring the library picks, which for a callback is its
 * own; the first receive of a connection names its ring instead.
 */
static void arm_recv(struct conn *c, const struct rp_io_opts *opts)
{
	rp_future *f = NULL;
	int ret;

	ret = rp_recv(ex, c->fd, c->buf, sizeof(c->buf), 0, opts, &f);
	if (!chain(ret, f, on_recv, c))
		conn_close(c);
}

static void arm_accept(void);

/*
 * Connections go to the rings in turn: each one's chain then stays on the
 * ring of its first receive, so with --rings N, N ring threads serve.
 */
static unsigned n_rings = 1, next_ring;

static void on_accept(rp_future *f, void *arg)
{
	struct rp_io_opts opts = { .flags = RP_IO_RING };
	int64_t fd = io_result(f);
	struct conn *c;

	(void)arg;
	if (fd == -ECANCELED || atomic_load(&stopping))
		goto out;
	if (fd < 0) {
		fprintf(stderr, "echo-rp: accept: %s\n", strerror((int)-fd));
		/* EMFILE and the like: keep serving those already open. */
		if (fd != -EINTR && fd != -ECONNABORTED && fd != -EAGAIN)
			goto out;
		arm_accept();
		return;
	}
	echo_nodelay((int)fd);
	c = malloc(sizeof(*c));
	if (!c) {
		close((int)fd);
	} else {
		c->fd = (int)fd;
		opts.ring = next_ring++ % n_rings;
		arm_recv(c, &opts);
	}
	arm_accept();
	return;
out:
	if (fd >= 0)
		close((int)fd);
}

static void arm_accept(void)
{
	rp_future *f;
	int ret;

	ret = rp_accept(ex, listen_fd, NULL, NULL, SOCK_CLOEXEC, NULL, &f);
	if (ret) {
		if (!atomic_load(&stopping))
			fprintf(stderr, "echo-rp: rp_accept: %s\n",
				strerror(-ret));
		return;
	}
	ret = rp_future_add_done_callback(f, on_accept, NULL);
	if (ret)
		fatal("rp_future_add_done_callback", ret);
	rp_future_unref(f);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--port N] [--rings N] [--backend uring|threads]\n"
		"       [--spin-ns NS] [--io-threads N] [--max-time S]\n"
		"       [--poll-first]\n",
		prog);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "rings", required_argument, NULL, 'r' },
		{ "backend", required_argument, NULL, 'b' },
		{ "spin-ns", required_argument, NULL, 's' },
		{ "io-threads", required_argument, NULL, 'i' },
		{ "max-time", required_argument, NULL, 'm' },
		{ "poll-first", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned port = 0, max_time = 600;
	struct rp_config cfg;
	const char *why;
	sigset_t set;
	int opt, ret, sig, backend;

	rp_config_init(&cfg);
	cfg.workers = 1;	/* no CPU tasks here; keep the pool small */
	cfg.backend = RP_BACKEND_URING;
	while ((opt = getopt_long(argc, argv, "p:r:b:s:i:m:fh", opts,
				  NULL)) != -1) {
		switch (opt) {
		case 'p':
			port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			cfg.rings = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'b':
			if (!strcmp(optarg, "uring")) {
				cfg.backend = RP_BACKEND_URING;
			} else if (!strcmp(optarg, "threads")) {
				cfg.backend = RP_BACKEND_THREADS;
			} else {
				usage(argv[0]);
				return 2;
			}
			break;
		case 's':
			cfg.spin_ns = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'i':
			cfg.io_threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			max_time = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'f':
			after_reply.flags = RP_IO_POLL_FIRST;
			break;
		default:
			usage(argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}

	/* Blocked here, so every thread the executor starts inherits it. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	echo_raise_nofile(65536);

	listen_fd = echo_listen(port, 0);
	if (listen_fd < 0)
		return 1;
	ret = rp_executor_new(&cfg, &ex);
	if (ret) {
		fprintf(stderr, "echo-rp: rp_executor_new: %s\n",
			strerror(-ret));
		return 1;
	}
	rp_executor_backend(ex, &backend, &why);
	fprintf(stderr, "echo-rp: backend %s, rings %u%s%s\n",
		backend == RP_BACKEND_URING ? "io_uring" : "threads",
		cfg.rings, why ? ": " : "", why ? why : "");
	n_rings = cfg.rings ? cfg.rings : 1;
	arm_accept();

	if (max_time)
		alarm(max_time);
	do {
		ret = sigwait(&set, &sig);
	} while (ret == EINTR);

	atomic_store(&stopping, true);
	/* Cancels what is in flight; the callbacks close and free. */
	rp_executor_free(ex);
	echo_report_cpu("echo-rp", atomic_load(&echoes));
	close(listen_fd);
	return 0;
}
