/* SPDX-License-Identifier: MIT */
/*
 * `ringpool bench net`: round trips of a loopback TCP echo, for each
 * combination of connection count and message size.
 *
 * The server is the same for every engine (bench_srv.c: one epoll
 * thread, echoing).  The client is what is measured:
 * - uring, threads: the library on its io_uring backend or its blocking-
 *   thread fallback; each connection is a chain of rp_send() then rp_recv()
 *   until the whole message is back, driven from done-callbacks;
 * - sync: one thread per connection with blocking send()/recv().
 * One operation is one message's round trip, timed from the send to the
 * last byte of its echo.  A round trip that fails (a reset, the echo ending
 * short) ends the run; it was issued and has ended, so it counts, as a
 * failed one, as bench file counts its operations, and the first failure
 * is named.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringpool.h"
#include "bench.h"
#include "cli.h"

#define SUBJ "net"
#define MAX_LIST 8
#define MAX_CONNS 4096U
#define MAX_MSG (1U << 20)

/* ---- the client ---------------------------------------------------------- */

enum { PH_SEND, PH_RECV };

struct conn {
	_Atomic uint64_t done;
	uint64_t issued, failed;
	uint64_t t0;
	unsigned moved; /* bytes of this phase so far */
	int phase;
	bool counted;
	int fd;
	char *sbuf, *rbuf;
	struct bench_hist *hist;
	int64_t res; /* result of the operation that ended */
	struct conn *next_pending;
	pthread_t thread;
} __attribute__((aligned(64)));

static struct {
	int engine;
	unsigned msg;
	rp_executor *ex;
	struct conn *conns;
	unsigned n;
	struct bench_chains ch;
	/* The first failure: its connection, phase, bytes moved, errno. */
	atomic_bool failed;
	unsigned fail_conn, fail_moved;
	int fail_phase, fail_err;
} nt;

static _Thread_local unsigned cb_depth;
static _Thread_local struct conn *pending_head;

/* Starts the next round trip; false when the chain should end. */
static bool next_msg(struct conn *c)
{
	if (!bench_chains_next(&nt.ch, &c->counted))
		return false;
	if (c->counted)
		c->issued++;
	c->t0 = bench_now_ns();
	return true;
}

static void finish_msg(struct conn *c)
{
	if (!c->counted)
		return;
	bench_hist_add(c->hist, bench_now_ns() - c->t0);
	atomic_store_explicit(
		&c->done,
		atomic_load_explicit(&c->done, memory_order_relaxed) + 1,
		memory_order_relaxed);
}

/*
 * The connection's round trip failed with `err` (0: the echo ended short):
 * counted when it was (it ended), the first failure kept, and the run
 * stopped.  `issued` false: the operation that
 * would have started it could not be queued, so it neither counts nor
 * ends.
 */
static void fail_msg(struct conn *c, int err, bool issued)
{
	bool no = false;

	if (c->counted && issued) {
		bench_hist_add(c->hist, bench_now_ns() - c->t0);
		c->failed++;
		atomic_store_explicit(
			&c->done,
			atomic_load_explicit(&c->done, memory_order_relaxed) +
				1,
			memory_order_relaxed);
	} else if (c->counted) {
		c->issued--;
	}
	if (atomic_compare_exchange_strong(&nt.failed, &no, true)) {
		nt.fail_conn = (unsigned)(c - nt.conns) + 1;
		nt.fail_phase = c->phase;
		nt.fail_moved = c->moved;
		nt.fail_err = err;
	}
	bench_chains_error(&nt.ch, err ? err : -ECONNRESET);
	bench_chains_end(&nt.ch);
}

/* Names the run's first failure, and how many failed, in r->error. */
static void tell_failure(struct bench_run *r)
{
	char what[96];
	int n;

	if (!nt.fail_err)
		snprintf(what, sizeof(what),
			 "the echo ended after %u of %u bytes", nt.fail_moved,
			 nt.msg);
	else if (nt.fail_moved)
		snprintf(what, sizeof(what), "%s after %u of %u bytes: %s",
			 nt.fail_phase == PH_SEND ? "send" : "receive",
			 nt.fail_moved, nt.msg, strerror(-nt.fail_err));
	else
		snprintf(what, sizeof(what), "%s: %s",
			 nt.fail_phase == PH_SEND ? "send" : "receive",
			 strerror(-nt.fail_err));
	n = r->errors ? snprintf(r->error, sizeof(r->error),
				 "%llu of %llu round trips failed; the first, ",
				 (unsigned long long)r->errors,
				 (unsigned long long)r->ops)
		      : 0;
	snprintf(r->error + n, sizeof(r->error) - (size_t)n,
		 "on connection %u: %s", nt.fail_conn, what);
}

static void on_done(rp_future *f, void *arg);

/* Queues the connection's next operation, or ends its chain. */
static void step(struct conn *c)
{
	rp_future *f;
	int ret;

	if (c->phase == PH_SEND && c->moved == 0 && !next_msg(c)) {
		bench_chains_end(&nt.ch);
		return;
	}
	if (c->phase == PH_SEND)
		ret = rp_send(nt.ex, c->fd, c->sbuf + c->moved,
			      nt.msg - c->moved, MSG_NOSIGNAL, NULL, &f);
	else
		ret = rp_recv(nt.ex, c->fd, c->rbuf + c->moved,
			      nt.msg - c->moved, 0, NULL, &f);
	if (ret < 0) {
		/* Not queued: the round trip began only if a send went. */
		fail_msg(c, ret, c->phase == PH_RECV || c->moved);
		return;
	}
	ret = rp_future_add_done_callback(f, on_done, c);
	rp_future_unref(f);
	if (ret < 0)
		fail_msg(c, ret, true);
}

/* Advances the state machine after an operation; false: the chain ended. */
static bool advance(struct conn *c)
{
	if (c->res < 0 || (c->res == 0 && c->phase == PH_RECV)) {
		fail_msg(c, (int)c->res, true);
		return false;
	}
	c->moved += (unsigned)c->res;
	if (c->moved < nt.msg)
		return true;
	c->moved = 0;
	if (c->phase == PH_SEND) {
		c->phase = PH_RECV;
	} else {
		finish_msg(c);
		c->phase = PH_SEND;
	}
	return true;
}

/* As in bench_engine.c: nested completions are parked, not recursed into. */
static void on_done(rp_future *f, void *arg)
{
	struct conn *c = arg;
	int64_t value = 0;
	int err = 0;

	if (rp_future_result(f, 0, &value, &err) < 0)
		err = -ECANCELED;
	c->res = err < 0 ? err : value;
	if (cb_depth) {
		c->next_pending = pending_head;
		pending_head = c;
		return;
	}
	cb_depth++;
	if (advance(c))
		step(c);
	while (pending_head) {
		c = pending_head;
		pending_head = c->next_pending;
		if (advance(c))
			step(c);
	}
	cb_depth--;
}

static void *sync_conn(void *arg)
{
	struct conn *c = arg;
	ssize_t n;

	while (next_msg(c)) {
		c->phase = PH_SEND;
		for (c->moved = 0; c->moved < nt.msg; c->moved += (unsigned)n) {
			n = send(c->fd, c->sbuf + c->moved, nt.msg - c->moved,
				 MSG_NOSIGNAL);
			if (n < 0)
				goto fail;
		}
		c->phase = PH_RECV;
		for (c->moved = 0; c->moved < nt.msg; c->moved += (unsigned)n) {
			n = recv(c->fd, c->rbuf + c->moved, nt.msg - c->moved,
				 0);
			if (n <= 0)
				goto fail;
		}
		finish_msg(c);
	}
	bench_chains_end(&nt.ch);
	return NULL;
fail:
	fail_msg(c, n < 0 ? -errno : 0, true);
	return NULL;
}

static uint64_t meter_done(void *arg)
{
	uint64_t sum = 0;
	unsigned i;

	(void)arg;
	for (i = 0; i < nt.n; i++)
		sum += atomic_load_explicit(&nt.conns[i].done,
					    memory_order_relaxed);
	return sum;
}

static int connect_all(unsigned port, struct bench_run *r)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	unsigned i;
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	for (i = 0; i < nt.n; i++) {
		struct conn *c = &nt.conns[i];

		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0 ||
		    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
			snprintf(r->error, sizeof(r->error),
				 "connection %u: "
				 "%s%s",
				 i + 1, strerror(errno),
				 errno == EMFILE ? " (raise ulimit -n)" : "");
			return -errno;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return 0;
}

static void net_cleanup(void)
{
	unsigned i;

	rp_executor_free(nt.ex);
	nt.ex = NULL;
	for (i = 0; nt.conns && i < nt.n; i++) {
		if (nt.conns[i].fd >= 0)
			close(nt.conns[i].fd);
		free(nt.conns[i].sbuf);
		free(nt.conns[i].rbuf);
		free(nt.conns[i].hist);
	}
	free(nt.conns);
	nt.conns = NULL;
	sem_destroy(&nt.ch.drained);
}

static int net_run(int engine, unsigned conns, unsigned msg, unsigned port,
		   const struct bench_common *c, struct bench_run *r)
{
	struct bench_meter m;
	struct bench_window win;
	struct rp_config cfg;
	unsigned i;
	int ret = 0;

	memset(&nt, 0, sizeof(nt));
	nt.engine = engine;
	nt.msg = msg;
	nt.ch.ops = c->ops;
	nt.n = conns;
	snprintf(r->tool, sizeof(r->tool), "ringpool");
	snprintf(r->engine, sizeof(r->engine), "%s",
		 bench_engine_names[engine]);
	snprintf(r->variant, sizeof(r->variant), "%ux%uB", conns, msg);
	snprintf(r->backend, sizeof(r->backend), "none");
	r->lat = calloc(1, sizeof(*r->lat));
	nt.conns = calloc(conns, sizeof(*nt.conns));
	if (!r->lat || !nt.conns || sem_init(&nt.ch.drained, 0, 0)) {
		free(nt.conns);
		nt.conns = NULL;
		snprintf(r->error, sizeof(r->error), "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < conns; i++) {
		struct conn *cn = &nt.conns[i];

		cn->fd = -1;
		cn->sbuf = malloc(msg);
		cn->rbuf = malloc(msg);
		cn->hist = calloc(1, sizeof(*cn->hist));
		if (!cn->sbuf || !cn->rbuf || !cn->hist) {
			snprintf(r->error, sizeof(r->error), "out of memory");
			ret = -ENOMEM;
			goto out;
		}
		memset(cn->sbuf, 'a' + (int)(i % 26), msg);
	}
	ret = connect_all(port, r);
	if (ret < 0)
		goto out;
	if (engine != ENG_SYNC) {
		rp_config_init(&cfg);
		cfg.workers = 1;
		cfg.backend = engine == ENG_URING ? RP_BACKEND_URING
						  : RP_BACKEND_THREADS;
		/* The fallback holds one thread per waiting recv. */
		cfg.io_threads = engine == ENG_URING ? 1
				 : conns < 1024	     ? conns
						     : 1024;
		ret = rp_executor_new(&cfg, &nt.ex);
		if (ret < 0) {
			snprintf(r->error, sizeof(r->error),
				 "cannot start the "
				 "%s backend: %s",
				 engine == ENG_URING ? "io_uring"
						     : "blocking-thread",
				 strerror(-ret));
			goto out;
		}
		bench_backend_name(nt.ex, r->backend, sizeof(r->backend));
	}
	atomic_store(&nt.ch.active, conns);
	if (c->warmup <= 0)
		atomic_store(&nt.ch.measuring, true);
	bench_window_start(&win);
	for (i = 0; i < conns; i++) {
		if (engine != ENG_SYNC) {
			step(&nt.conns[i]);
		} else if (pthread_create(&nt.conns[i].thread, NULL, sync_conn,
					  &nt.conns[i])) {
			snprintf(r->error, sizeof(r->error),
				 "cannot start "
				 "thread %u of %u",
				 i + 1, conns);
			atomic_store(&nt.ch.stopping, true);
			atomic_fetch_sub(&nt.ch.active, conns - i);
			while (i--)
				pthread_join(nt.conns[i].thread, NULL);
			ret = -EAGAIN;
			goto out;
		}
	}
	bench_chains_meter(&nt.ch, meter_done, &m);
	bench_measure(c, r->engine, c->ops ? 0 : c->runtime, c->warmup, &win,
		      &m, r);
	for (i = 0; i < conns; i++) {
		if (engine == ENG_SYNC)
			pthread_join(nt.conns[i].thread, NULL);
		bench_hist_merge(r->lat, nt.conns[i].hist);
		r->ops += atomic_load(&nt.conns[i].done);
		r->ops_issued += nt.conns[i].issued;
		r->errors += nt.conns[i].failed;
	}
	r->bytes = 2 * (r->ops - r->errors) * msg;
	ret = atomic_load(&nt.ch.first_error);
	if (ret)
		tell_failure(r);
	bench_run_finish(r);
out:
	net_cleanup();
	return ret;
}

/* One run in the document; 0, or 1 when it failed (told on stderr). */
static int run_one(struct bench_doc *d, const struct bench_common *c,
		   unsigned round, int engine, unsigned conns, unsigned msg,
		   unsigned port)
{
	struct bench_run *r = bench_doc_add_run(d);

	if (!r)
		return 1;
	r->round = round;
	net_run(engine, conns, msg, port, c, r);
	r->settings = json_object_new_object();
	json_object_object_add(r->settings, "conns",
			       json_object_new_int64(conns));
	json_object_object_add(r->settings, "msg", json_object_new_int64(msg));
	if (!r->error[0])
		return 0;
	bench_err(SUBJ, "%s %s: %s", r->engine, r->variant, r->error);
	return 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ringpool bench net [OPTIONS]\n"
		"\n"
		"Round trips of a loopback TCP echo (an epoll server thread in "
		"the same\n"
		"process), for each connection count x message size.  msg/s "
		"counts round\n"
		"trips; MB/s the bytes sent and received (twice the messages' "
		"size).\n"
		"\n"
		"  --conns LIST    comma list of connection counts (default "
		"16; max 4096)\n"
		"  --msg LIST      comma list of message sizes (default 64; k, "
		"M; max 1M)\n"
		"  --engine LIST   comma list of uring, threads, sync (default "
		"uring)\n"
		"  --runtime S     seconds per run (default 5)\n"
		"  --ops N         end a run after N round trips instead\n"
		"  --warmup S      seconds before measuring (default 0.5 "
		"timed, 0 --ops)\n"
		"  --rounds N      runs of each combination (default 1)\n"
		"  --json          one JSON document on stdout instead of the "
		"table\n"
		"  --report FILE   a self-contained HTML page with charts (-:\n"
		"                  stdout, the table then on stderr)\n"
		"  -h, --help      show this help\n");
}

/* Parses a comma list of sizes or counts into out[]; returns the count. */
static int parse_list(const char *opt, char *arg, bool sizes, unsigned max,
		      unsigned out[MAX_LIST])
{
	char *tok, *save = NULL;
	int n = 0, k;

	if (bench_list_has_empty(arg)) {
		bench_err(SUBJ, "%s '%s' has an empty item", opt, arg);
		return -1;
	}
	for (tok = strtok_r(arg, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long long v;
		uint64_t sz;
		int ret = sizes ? bench_parse_size(tok, &sz)
				: cli_parse_count(tok, &v);

		if (sizes)
			v = sz;
		if (ret < 0 || v > max || n == MAX_LIST) {
			bench_err(SUBJ,
				  "invalid %s '%s': expected up to %d "
				  "values from 1 to %u",
				  opt, tok, MAX_LIST, max);
			return -1;
		}
		for (k = 0; k < n && out[k] != (unsigned)v; k++)
			;
		if (k < n) {
			bench_err(SUBJ, "%s lists %s twice", opt, tok);
			return -1;
		}
		out[n++] = (unsigned)v;
	}
	if (!n)
		bench_err(SUBJ, "%s needs at least one value", opt);
	return n ? n : -1;
}

int bench_net(int argc, char **argv)
{
	static const struct option opts[] = {
		{"conns", required_argument, NULL, 'c'},
		{"msg", required_argument, NULL, 'm'},
		{"engine", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		BENCH_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	unsigned conns[MAX_LIST] = {16}, msgs[MAX_LIST] = {64};
	int n_conns = 1, n_msgs = 1, engines[ENG_COUNT] = {ENG_URING};
	int n_engines = 1, opt, k, ci, mi, status = 0, ret;
	struct bench_common c = {.warmup = -1};
	struct bench_doc d = {.subject = SUBJ, .ops_unit = "msg/s"};
	struct bench_srv srv = {.kind = SRV_ECHO};
	unsigned round;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			n_conns = parse_list("--conns", optarg, false,
					     MAX_CONNS, conns);
			if (n_conns < 0)
				return 2;
			break;
		case 'm':
			n_msgs = parse_list("--msg", optarg, true, MAX_MSG,
					    msgs);
			if (n_msgs < 0)
				return 2;
			break;
		case 'e':
			if (bench_parse_engines(SUBJ, optarg, ENG_COUNT,
						"uring, threads or sync",
						engines, &n_engines))
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (bench_common_opt(&c, SUBJ, opt, optarg, argv) == 2)
				return 2;
			break;
		}
	}
	if (optind < argc) {
		bench_err(SUBJ, "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (bench_common_check(&c, SUBJ))
		return 2;
	for (k = 0; k < n_engines; k++)
		for (ci = 0; ci < n_conns; ci++)
			if (engines[k] == ENG_SYNC && conns[ci] > 1024) {
				bench_err(SUBJ, "--engine sync runs a thread "
						"per connection: at most 1024");
				return 2;
			}
	if (!c.runtime && !c.ops)
		c.runtime = 5;
	if (c.warmup < 0)
		c.warmup = c.ops ? 0 : 0.5;
	if (!c.rounds)
		c.rounds = 1;

	bench_catch_signals();
	ret = bench_srv_start(&srv);
	if (ret < 0) {
		bench_err(SUBJ, "cannot start the echo server: %s",
			  strerror(-ret));
		return 1;
	}
	d.settings = json_object_new_object();
	{
		json_object *a = json_object_new_array();
		json_object *b = json_object_new_array();

		for (ci = 0; ci < n_conns; ci++)
			json_object_array_add(a,
					      json_object_new_int64(conns[ci]));
		for (mi = 0; mi < n_msgs; mi++)
			json_object_array_add(b,
					      json_object_new_int64(msgs[mi]));
		json_object_object_add(d.settings, "conns", a);
		json_object_object_add(d.settings, "msg", b);
	}
	json_object_object_add(
		d.settings, "server",
		json_object_new_string("epoll thread, 127.0.0.1, TCP_NODELAY"));
	json_object_object_add(d.settings, "runtime_s",
			       bench_json_secs(c.runtime));
	json_object_object_add(d.settings, "ops",
			       json_object_new_int64((int64_t)c.ops));
	json_object_object_add(d.settings, "warmup_s",
			       bench_json_secs(c.warmup));
	json_object_object_add(d.settings, "rounds",
			       json_object_new_int64(c.rounds));
	bench_add_system(d.settings);
	for (round = 1; round <= c.rounds && !bench_stop; round++)
		for (k = 0; k < n_engines && !bench_stop; k++)
			for (ci = 0; ci < n_conns && !bench_stop; ci++)
				for (mi = 0; mi < n_msgs && !bench_stop; mi++)
					if (run_one(&d, &c, round, engines[k],
						    conns[ci], msgs[mi],
						    srv.port))
						status = 1;
	bench_srv_stop(&srv);
	d.interrupted = bench_stop != 0;
	if (bench_output(&d, &c))
		status = 1;
	bench_doc_release(&d);
	return bench_stop ? 130 : status;
}
