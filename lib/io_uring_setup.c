/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend's setup and teardown: which flags this kernel takes,
 * the rings and their threads, the provided buffers of multishot receives,
 * and stopping and freeing them (io_uring.c runs the rings).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io_uring_internal.h"

/*
 * The ring's buffer ring: BUF_COUNT buffers of RP__RECV_BUF_SIZE bytes that
 * the kernel picks from for multishot receives (buffer group 0).  Set up by
 * hand: io_uring_setup_buf_ring() is newer than Debian 12's liburing.
 */
static int bufs_setup(struct ring *r)
{
	struct io_uring_buf_reg reg;
	unsigned i;
	int ret;

	if (posix_memalign((void **)&r->br, 4096,
			   BUF_COUNT * sizeof(struct io_uring_buf)))
		return -ENOMEM;
	r->bufs = malloc((size_t)BUF_COUNT * RP__RECV_BUF_SIZE);
	if (!r->bufs)
		return -ENOMEM;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)r->br;
	reg.ring_entries = BUF_COUNT;
	reg.bgid = 0;
	ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (ret < 0)
		return ret;
	io_uring_buf_ring_init(r->br);
	for (i = 0; i < BUF_COUNT; i++)
		io_uring_buf_ring_add(r->br, r->bufs + i * RP__RECV_BUF_SIZE,
				      RP__RECV_BUF_SIZE, (unsigned short)i,
				      io_uring_buf_ring_mask(BUF_COUNT), (int)i);
	io_uring_buf_ring_advance(r->br, BUF_COUNT);
	return 0;
}

static const char *setup_hint(int err)
{
	switch (err) {
	case -EPERM:
		return "EPERM - blocked by seccomp or kernel.io_uring_disabled";
	case -ENOSYS:
		return "ENOSYS - kernel built without io_uring";
	case -ENOMEM:
		return "ENOMEM - RLIMIT_MEMLOCK too low or out of memory";
	case -EMFILE:
	case -ENFILE:
		return "EMFILE - too many open files";
	default:
		return NULL;
	}
}

/*
 * Creates a ring with the cheapest flags this kernel accepts, trying the
 * newest first: probing by trying, never by kernel version.  With
 * `sqpoll_idle_ms`, an SQPOLL ring: the kernel refuses the task-work flags
 * (DEFER_TASKRUN, COOP_TASKRUN, TASKRUN_FLAG) with SQPOLL, since its own
 * thread runs the task work.
 */
static int ring_init(struct io_uring *ring, unsigned entries,
		     unsigned *flags_inout, bool probe_flags, bool shared,
		     unsigned sqpoll_idle_ms)
{
	static const unsigned tries[] = {
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SUBMIT_ALL,
		0,
	};
	static const unsigned sq_tries[] = {
		IORING_SETUP_SQPOLL | IORING_SETUP_SUBMIT_ALL |
			IORING_SETUP_SINGLE_ISSUER,
		IORING_SETUP_SQPOLL | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_SQPOLL,
	};
	const unsigned *t = sqpoll_idle_ms ? sq_tries : tries;
	unsigned n = sqpoll_idle_ms ? sizeof(sq_tries) / sizeof(sq_tries[0])
				    : sizeof(tries) / sizeof(tries[0]);
	struct io_uring_params p;
	unsigned i;
	int ret = -EINVAL;

	for (i = 0; i < n; i++) {
		if (!probe_flags && t[i] != *flags_inout)
			continue;
		/*
		 * Shared rings have more than one issuer, and completions of
		 * what a user thread submitted must not wait for that thread
		 * to enter the kernel (COOP_TASKRUN).
		 */
		if (shared && (t[i] & (IORING_SETUP_SINGLE_ISSUER |
				       IORING_SETUP_COOP_TASKRUN)))
			continue;
		memset(&p, 0, sizeof(p));
		p.flags = t[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 2;
		p.sq_thread_idle = sqpoll_idle_ms;
		ret = io_uring_queue_init_params(entries, ring, &p);
		if (ret == 0) {
			*flags_inout = t[i];
			return 0;
		}
		if (ret != -EINVAL)
			return ret;
	}
	return ret;
}

static int ring_setup(struct ring *r, struct uring_state *st)
{
	int ret;

	ret = ring_init(&r->ring, st->entries, &st->setup_flags, false,
			st->shared, st->sqpoll_idle_ms);
	if (ret < 0)
		return ret;
	if (st->iowq[0] || st->iowq[1]) {
		unsigned vals[2] = { st->iowq[0], st->iowq[1] };

		(void)io_uring_register_iowq_max_workers(&r->ring, vals);
	}
	r->sqpoll = st->setup_flags & IORING_SETUP_SQPOLL;
	r->max_owed = r->ring.cq.ring_entries;
	r->wait_in_enter = !st->shared && !RUNNING_ON_VALGRIND &&
			   (st->setup_flags & IORING_SETUP_DEFER_TASKRUN);
	if (r->wait_in_enter) {
		/*
		 * CQ slots for the wake-up poll: one CQE per write, and a
		 * writer needs the thread asleep, which follows a reap.
		 */
		r->max_owed -= 2;
	} else {
		ret = io_uring_register_eventfd(&r->ring, r->efd);
		if (ret < 0) {
			io_uring_queue_exit(&r->ring);
			return ret;
		}
		(void)io_uring_cq_eventfd_toggle(&r->ring, false);
	}
	if (bufs_setup(r) < 0) {
		/* An older kernel: multishot receives are refused. */
		free(r->br);
		free(r->bufs);
		r->br = NULL;
		r->bufs = NULL;
		r->ex->no_multishot_recv = true;
	}
	return 0;
}

static void *ring_start(void *p)
{
	struct ring *r = p;
	rp_executor *ex = r->ex;

	/* SINGLE_ISSUER: the ring must be created by the thread that uses it. */
	r->setup_ret = ring_setup(r, state_of(ex));
	pthread_mutex_lock(&ex->start_lock);
	r->started = true;
	pthread_cond_broadcast(&ex->start_cond);
	pthread_mutex_unlock(&ex->start_lock);
	if (r->setup_ret < 0)
		return NULL;
	return rp__ring_main(r);
}

static void free_rings(struct uring_state *st, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		pthread_mutex_destroy(&st->rings[i].lock);
		if (st->rings[i].efd >= 0)
			close(st->rings[i].efd);
		free(st->rings[i].retry);
		free(st->rings[i].br);
		free(st->rings[i].bufs);
	}
	free(st->rings);
	if (st->aux) {
		rp__blocking_stop(st->aux, true, true, true);
		rp__blocking_free(st->aux);
	}
	free(st);
}

/* rp_config::ring_mode, or RINGPOOL_RINGS for AUTO; -1 if that is bad. */
int rp__ring_mode(const struct rp_config *cfg)
{
	const char *v = getenv("RINGPOOL_RINGS");

	if (cfg->ring_mode != RP_RINGS_AUTO)
		return cfg->ring_mode;
	if (!v || !*v || !strcmp(v, "auto") || !strcmp(v, "owned"))
		return RP_RINGS_OWNED;
	if (!strcmp(v, "shared"))
		return RP_RINGS_SHARED;
	return -1;
}

/*
 * Whether the kernel takes IORING_RECVSEND_POLL_FIRST (Linux 5.19): a
 * receive with it of a byte already waiting in a socket pair gets the byte
 * where it does, and -EINVAL where it does not.
 */
static bool probe_poll_first(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int sv[2] = { -1, -1 };
	bool ok = false;
	char c = 0;

	if (!sqe || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return false;
	io_uring_prep_recv(sqe, sv[0], &c, 1, 0);
	sqe->ioprio = IORING_RECVSEND_POLL_FIRST;
	if (write(sv[1], "p", 1) == 1 &&
	    io_uring_submit_and_wait(ring, 1) == 1 &&
	    !io_uring_peek_cqe(ring, &cqe)) {
		ok = cqe->res == 1;
		io_uring_cqe_seen(ring, cqe);
	}
	close(sv[0]);
	close(sv[1]);
	return ok;
}

/* The API's opcodes, by the names RINGPOOL_URING_SKIP takes. */
static const struct {
	const char *name;
	uint8_t op;
} api_ops[] = {
	{ "nop", IORING_OP_NOP },
	{ "read", IORING_OP_READ },
	{ "write", IORING_OP_WRITE },
	{ "readv", IORING_OP_READV },
	{ "writev", IORING_OP_WRITEV },
	{ "read_fixed", IORING_OP_READ_FIXED },
	{ "write_fixed", IORING_OP_WRITE_FIXED },
	{ "openat", IORING_OP_OPENAT },
	{ "close", IORING_OP_CLOSE },
	{ "fsync", IORING_OP_FSYNC },
	{ "fallocate", IORING_OP_FALLOCATE },
	{ "statx", IORING_OP_STATX },
	{ "unlinkat", IORING_OP_UNLINKAT },
	{ "renameat", IORING_OP_RENAMEAT },
	{ "mkdirat", IORING_OP_MKDIRAT },
	{ "socket", IORING_OP_SOCKET },
	{ "connect", IORING_OP_CONNECT },
	{ "accept", IORING_OP_ACCEPT },
	{ "send", IORING_OP_SEND },
	{ "recv", IORING_OP_RECV },
	{ "shutdown", IORING_OP_SHUTDOWN },
	{ "timeout", IORING_OP_TIMEOUT },
	{ "poll", IORING_OP_POLL_ADD },
	{ "splice", IORING_OP_SPLICE },
};

#define N_API_OPS (sizeof(api_ops) / sizeof(api_ops[0]))

static void set_missing(uint8_t *missing, uint8_t op)
{
	missing[op / 8] |= (uint8_t)(1u << (op % 8));
}

/*
 * Marks in `missing` the operations RINGPOOL_URING_SKIP names.  Returns
 * whether it named any, or -EINVAL for a name it does not know.
 */
static int parse_skip(uint8_t *missing)
{
	const char *env = getenv("RINGPOOL_URING_SKIP");
	unsigned i;
	int named = 0;

	while (env && *env) {
		size_t len = strcspn(env, ",");

		for (i = 0; i < N_API_OPS; i++)
			if (strlen(api_ops[i].name) == len &&
			    !strncmp(env, api_ops[i].name, len))
				break;
		if (len && i == N_API_OPS)
			return -EINVAL;
		if (len) {
			set_missing(missing, api_ops[i].op);
			named = 1;
		}
		env += len + (env[len] == ',');
	}
	return named;
}

bool rp__uring_skip_ok(void)
{
	uint8_t missing[256 / 8] = { 0 };

	return parse_skip(missing) >= 0;
}

/*
 * Marks in `missing` the API's opcodes the kernel's io_uring lacks (by
 * IORING_REGISTER_PROBE; a kernel without it, before 5.6, is taken to have
 * them all) and those RINGPOOL_URING_SKIP names (checked before, by
 * rp__uring_skip_ok()).  Returns how many are marked.
 */
static unsigned find_missing(struct io_uring *ring, uint8_t *missing,
			     bool *forced)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	unsigned i, n = 0;

	for (i = 0; p && i < N_API_OPS; i++)
		if (!io_uring_opcode_supported(p, api_ops[i].op))
			set_missing(missing, api_ops[i].op);
	if (p)
		io_uring_free_probe(p);
	*forced = parse_skip(missing) > 0;
	for (i = 0; i < N_API_OPS; i++)
		if (missing[api_ops[i].op / 8] & (1u << (api_ops[i].op % 8)))
			n++;
	return n;
}

/*
 * rp_executor_backend()'s sentence for operations on the blocking pool:
 * why, then which ones (as many names as fit, then "...").
 */
static void say_missing(rp_executor *ex, const uint8_t *missing, bool forced)
{
	size_t len, cap = sizeof(ex->io_why);
	unsigned i;

	len = (size_t)snprintf(ex->io_why, cap, "on the blocking-I/O pool (%s):",
			       forced ? "RINGPOOL_URING_SKIP" :
					"this kernel's io_uring lacks them");
	for (i = 0; i < N_API_OPS; i++) {
		const char *name = api_ops[i].name;

		if (!(missing[api_ops[i].op / 8] & (1u << (api_ops[i].op % 8))))
			continue;
		if (len + 1 + strlen(name) + 4 >= cap) {
			snprintf(ex->io_why + len, cap - len, " ...");
			break;
		}
		len += (size_t)snprintf(ex->io_why + len, cap - len, " %s",
					name);
	}
}

int rp__uring_start(rp_executor *ex, const struct rp_config *cfg, char *why,
		    size_t whylen)
{
	uint8_t missing[256 / 8] = { 0 };
	unsigned n_missing;
	bool forced;
	struct uring_state *st;
	struct io_uring probe;
	unsigned i, flags = 0;
	const char *hint;
	int ret, mode = rp__ring_mode(cfg);

	if (mode < 0) {
		snprintf(why, whylen, "RINGPOOL_RINGS: not owned or shared");
		return -EINVAL;
	}
	/* Can this process have a ring at all, and with which flags? */
	ret = ring_init(&probe, 8, &flags, true, mode == RP_RINGS_SHARED,
			cfg->sqpoll_idle_ms);
	if (ret < 0) {
		const char *sq = cfg->sqpoll_idle_ms ? " (SQPOLL)" : "";

		hint = setup_hint(ret);
		if (hint)
			snprintf(why, whylen, "io_uring_setup%s: %s", sq, hint);
		else
			snprintf(why, whylen, "io_uring_setup%s: %s", sq,
				 strerror(-ret));
		return ret;
	}
	ex->poll_first = probe_poll_first(&probe);
	n_missing = find_missing(&probe, missing, &forced);
	io_uring_queue_exit(&probe);

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->n = cfg->rings ? cfg->rings : 1;
	st->entries = cfg->ring_entries ? cfg->ring_entries : 256;
	st->setup_flags = flags;
	st->sqpoll_idle_ms = cfg->sqpoll_idle_ms;
	st->iowq[0] = cfg->iowq_bounded;
	st->iowq[1] = cfg->iowq_unbounded;
	st->spin_ns = cfg->spin_ns;
	st->shared = mode == RP_RINGS_SHARED;
	memcpy(st->missing, missing, sizeof(st->missing));
	if (n_missing) {
		ret = rp__blocking_new(ex->io_threads, cfg->spin_ns, &st->aux);
		if (ret < 0) {
			free(st);
			snprintf(why, whylen, "blocking-I/O pool: %s",
				 strerror(-ret));
			return ret;
		}
	}
	st->rings = aligned_alloc(RP_CACHELINE, st->n * sizeof(*st->rings));
	if (!st->rings) {
		free_rings(st, 0);
		return -ENOMEM;
	}
	memset(st->rings, 0, st->n * sizeof(*st->rings));
	for (i = 0; i < st->n; i++) {
		st->rings[i].efd = -1;
		st->rings[i].shared = st->shared;
		pthread_mutex_init(&st->rings[i].lock, NULL);
		rp__q_init(&st->rings[i].q);
	}
	for (i = 0; i < st->n; i++) {
		struct ring *r = &st->rings[i];

		r->ex = ex;
		r->index = i;
		r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (r->efd < 0) {
			ret = -errno;
			break;
		}
	}
	if (i < st->n) {
		free_rings(st, st->n);
		return ret;
	}
	ex->io_priv = st;

	for (i = 0; i < st->n; i++) {
		struct ring *r = &st->rings[i];

		ret = -rp__thread_create(&r->thread, ring_start, r);
		if (ret < 0)
			break;
		pthread_mutex_lock(&ex->start_lock);
		while (!r->started)
			pthread_cond_wait(&ex->start_cond, &ex->start_lock);
		pthread_mutex_unlock(&ex->start_lock);
		if (r->setup_ret < 0) {
			ret = r->setup_ret;
			pthread_join(r->thread, NULL);
			break;
		}
	}
	if (i < st->n) {
		unsigned j;

		for (j = 0; j < i; j++) {
			atomic_store(&st->rings[j].stopping, true);
			(void)eventfd_write(st->rings[j].efd, 1);
			pthread_join(st->rings[j].thread, NULL);
			io_uring_queue_exit(&st->rings[j].ring);
		}
		ex->io_priv = NULL;
		free_rings(st, st->n);
		snprintf(why, whylen, "ring setup: %s", strerror(-ret));
		return ret;
	}
	if (n_missing)
		say_missing(ex, missing, forced);
	return 0;
}

void rp__uring_stop(rp_executor *ex, bool cancel_pending,
		    bool cancel_inflight, bool wait)
{
	struct uring_state *st = state_of(ex);
	unsigned i;

	if (st->aux)
		rp__blocking_stop(st->aux, cancel_pending, cancel_inflight,
				  false);
	for (i = 0; i < st->n; i++) {
		struct ring *r = &st->rings[i];

		if (cancel_pending)
			atomic_store(&r->cancel_pending, true);
		if (cancel_inflight)
			atomic_store(&r->cancel_inflight, true);
		atomic_store(&r->stopping, true);
		(void)eventfd_write(r->efd, 1);
	}
	if (!wait)
		return;
	pthread_mutex_lock(&ex->start_lock);
	if (!st->joined) {
		for (i = 0; i < st->n; i++)
			pthread_join(st->rings[i].thread, NULL);
		st->joined = true;
	}
	pthread_mutex_unlock(&ex->start_lock);
	if (st->aux)
		rp__blocking_stop(st->aux, cancel_pending, cancel_inflight,
				  true);
}

void rp__uring_destroy(rp_executor *ex)
{
	struct uring_state *st = state_of(ex);
	unsigned i;

	if (!st)
		return;
	for (i = 0; i < st->n; i++)
		io_uring_queue_exit(&st->rings[i].ring);
	free_rings(st, st->n);
	ex->io_priv = NULL;
}

int rp_executor_ring_mode(const rp_executor *ex)
{
	if (!ex)
		return -EINVAL;
	if (ex->io != &rp__io_uring_backend)
		return -ENOTSUP;
	return state_of(ex)->shared ? RP_RINGS_SHARED : RP_RINGS_OWNED;
}
