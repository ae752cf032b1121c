/* SPDX-License-Identifier: MIT */
/*
 * Shared by the HTTP files only: http_client.c (clients and transfers as
 * callers see them), http.c (the client's lock, how a transfer ends),
 * http_drive.c (libcurl's sockets and timers on the ring or on the client's
 * own thread) and http_body.c (the body: pooled buffers, positioned writes,
 * back-pressure, the rate limit).
 *
 * Locking: everything in struct rp_http and the libcurl handles is guarded by
 * rp_http::mu, taken with rp__http_enter() and released with
 * rp__http_leave().  Done-callbacks of the client's own futures can run on
 * the thread that already holds it (a future that ended before its callback
 * was added, or one cancelled before the ring took it); enter() sees that
 * through a thread-local and does not lock again, and such a callback only
 * records what happened: libcurl is called from rp__http_leave() of the
 * outermost holder, never from inside a libcurl callback.
 */
#ifndef RP_HTTP_INTERNAL_H
#define RP_HTTP_INTERNAL_H

#include <poll.h>
#include <stddef.h>

#include <curl/curl.h>

#include "internal.h"

/* Reset easy handles a client keeps for its next transfers. */
#define RP__HTTP_EASY_POOL 64

/* ---- intrusive doubly linked lists ------------------------------------ */

struct rp__list {
	struct rp__list *next, *prev;
};

static inline void rp__list_init(struct rp__list *l)
{
	l->next = l->prev = l;
}

static inline bool rp__list_empty(const struct rp__list *l)
{
	return l->next == l;
}

static inline void rp__list_add_tail(struct rp__list *l, struct rp__list *n)
{
	n->prev = l->prev;
	n->next = l;
	l->prev->next = n;
	l->prev = n;
}

/* Unlinks `n` and leaves it pointing at itself (rp__list_linked() false). */
static inline void rp__list_del(struct rp__list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	rp__list_init(n);
}

static inline bool rp__list_linked(const struct rp__list *n)
{
	return n->next != n;
}

#define rp__container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

/* ---- the client ------------------------------------------------------- */

/* How a client waits for libcurl's sockets and timers. */
enum {
	/* rp_poll() and rp_sleep() futures on the executor's ring. */
	RP__HTTP_RING,
	/* Its own thread in ppoll(2) (the blocking-thread backend). */
	RP__HTTP_LOOP,
};

/* The client's timers: libcurl's, the rate limiter's, the stall check's. */
enum {
	RP__HTTP_T_CURL,
	RP__HTTP_T_RATE,
	RP__HTTP_T_STALL,
	RP__HTTP_N_TIMERS
};

struct rp__http_timer {
	rp_http *h;
	int64_t at;		/* absolute CLOCK_MONOTONIC ns; -1: disarmed */
	rp_future *f;		/* ring: a sleep ending at `armed` <= `at` */
	int64_t armed;		/* when `f` ends */
	bool fired;		/* due, not yet acted on */
};

/* A socket libcurl asked to watch (CURLMOPT_SOCKETFUNCTION). */
struct rp__http_sock {
	struct rp__list link;		/* rp_http::socks */
	struct rp__list ready;		/* rp_http::ready while linked */
	struct rp__list todo;		/* rp_http::todo: to arm or free */
	rp_http *h;
	curl_socket_t fd;
	uint64_t id;			/* unique in the client */
	unsigned want;			/* POLLIN | POLLOUT libcurl wants */
	unsigned revents;		/* seen, not yet given to libcurl */
	bool removed;			/* CURL_POLL_REMOVE came */
	rp_future *poll;		/* ring: the poll for `want`, or NULL */
	unsigned polls;			/* ring: in flight, stale ones too */
};

/* A pooled buffer: body bytes on their way to the destination. */
struct rp__http_chunk {
	struct rp__cb node;		/* done-callback of its write */
	struct rp__http_chunk *next;	/* rp_http::pool */
	rp_http_transfer *t;
	uint64_t off;			/* where in the destination */
	size_t len;
	char data[];
};

struct rp_http {
	pthread_mutex_t mu;
	pthread_cond_t cond;		/* rp_http_free() waits on it */
	/* One for the handle, one per transfer not freed, one per finisher. */
	_Atomic unsigned refs;
	rp_executor *ex;
	struct rp_http_config cfg;
	/*
	 * Options of every operation the client queues: RP_IO_RING when
	 * rp_http_config::ring chose one; `io` is NULL otherwise.
	 */
	struct rp_io_opts io_opts;
	const struct rp_io_opts *io;
	char *user_agent;
	char *ca_file;			/* NULL: libcurl's default */
	char *proxy, *no_proxy;		/* NULL: the environment's */
	struct curl_slist *headers;	/* rp_http_config::headers, copied */
	int mode;			/* RP__HTTP_RING or RP__HTTP_LOOP */
	CURLM *multi;			/* NULL once rp_http_free() is done */
	bool shutting;			/* rp_http_free() began */

	/* Transfers. */
	struct rp__list live;		/* not ended */
	struct rp__list stop;		/* cancel or write error to act on */
	struct rp__list dirty;		/* holding a partly filled chunk */
	struct rp__list paused;		/* paused by back-pressure or rate */
	struct rp__list ended;		/* futures to end after unlocking */
	struct rp__list incoming;	/* from rp_http_get(), not yet added */
	/*
	 * Ring mode: rp_http_get() queues here under `in_mu` alone, so the
	 * thread that starts transfers never waits for `mu` while libcurl
	 * runs; the drain moves them to `live` and `incoming` (lock order:
	 * mu, then in_mu).  `in_sched`: a NOP is on its way to do that.
	 */
	pthread_mutex_t in_mu;
	struct rp__list inq;
	bool in_sched, in_closed;
	unsigned unfinished;		/* transfers whose future is to end */
	/* Futures in flight whose done-callback will touch the client. */
	unsigned ops;

	/* Sockets and timers (http_drive.c). */
	struct rp__list socks;
	struct rp__list ready;		/* sockets with revents */
	struct rp__list todo;		/* sockets to arm again or free */
	uint64_t next_sock_id;
	struct rp__http_timer timers[RP__HTTP_N_TIMERS];
	int drive_err;			/* a poll or sleep was not queued */
	/* RP__HTTP_LOOP: the thread, its wake-up eventfd. */
	pthread_t loop;
	bool loop_started, loop_stop, loop_polling, loop_wake;
	int efd;

	/* Body buffers and back-pressure (http_body.c). */
	size_t chunk_cap;		/* bytes per chunk */
	size_t buffered;		/* capacity of chunks in use */
	struct rp__http_chunk *pool;	/* free chunks */
	size_t pooled;
	bool kick;			/* a chunk came back: try unpausing */

	/*
	 * Easy handles of ended transfers, reset, for the next ones: a new
	 * handle would allocate its receive buffer (a chunk's size) afresh,
	 * and fresh pages fault in on the first receive.  A leaf lock.
	 */
	pthread_mutex_t easy_mu;
	CURL *easy_pool[RP__HTTP_EASY_POOL];
	unsigned n_easy;
	int64_t tokens;			/* rate limiter, bytes */
	int64_t tokens_at;		/* when last refilled */
};

/* Where a transfer is in its life. */
enum {
	RP__HTTP_ACTIVE,	/* in the multi handle */
	RP__HTTP_DRAINING,	/* out of it; body writes still in flight */
	RP__HTTP_ENDED,		/* future ended or about to be */
};

struct rp_http_transfer {
	rp_http *h;
	rp_future *f;
	CURL *easy;			/* NULL once out of the multi handle */
	struct rp__list live, stop, dirty, paused, ended, incoming;
	int state;
	int fd;
	uint64_t offset;		/* asked for (Range) */
	char *url;
	void (*on_body)(void *arg, const struct rp_http_info *info);
	void *arg;
	/* rp_http_config::headers, plus If-Range; NULL: the client's list. */
	struct curl_slist *req_headers;

	/* Body. */
	bool started;			/* first body byte decided `base` */
	uint64_t base;			/* destination offset of body byte 0 */
	uint64_t received;		/* body bytes taken from libcurl */
	uint64_t written;		/* body bytes the writes reported */
	struct rp__http_chunk *fill;	/* partly filled chunk */
	unsigned writes;		/* in flight */
	int write_err;			/* first failed write, -errno */
	int fail_err;			/* the client could not go on, -errno */
	bool cancel;			/* rp_future_cancel, rp_http_free */
	bool stalled;			/* no body byte for stall_timeout_ns */
	int64_t moving_at;		/* last body byte, start; 0: pending */
	_Atomic uint64_t progress_done;
	_Atomic int64_t progress_total;

	/* From the headers of the current response. */
	int64_t range_start;		/* Content-Range's first byte, or -1 */
	int64_t range_total;		/* Content-Range's total, or -1 */
	int64_t retry_after_s;		/* Retry-After, or -1 */
	char *etag, *last_modified;	/* as sent, or NULL */

	/* The end. */
	CURLcode code;
	int os_errno;
	char *effective_url;
	struct rp_http_info info;
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- http.c ----------------------------------------------------------- */

/*
 * Loads libcurl once per process (http_curl.c): 0; -ELIBACC when it cannot
 * be opened, -ELIBBAD when it lacks a function the library calls.
 */
int rp__curl_load(void);
/*
 * Takes the client's lock unless this thread holds it already; returns
 * whether it did, for rp__http_leave().
 */
bool rp__http_enter(rp_http *h);
/*
 * When `locked`: lets libcurl act on what was recorded, ends the transfers
 * that are done (their futures after unlocking), releases the lock.
 */
void rp__http_leave(rp_http *h, bool locked);
/* As rp__http_leave() without letting libcurl act first. */
void rp__http_unlock(rp_http *h);
/* Acts on everything recorded; the caller holds the lock (enter()). */
void rp__http_drain(rp_http *h);
/* A transfer's first body byte or its end: where the body goes. */
void rp__http_start_body(rp_http_transfer *t);
/* Takes a transfer out of the multi handle, after libcurl or a stop. */
void rp__http_detach(rp_http_transfer *t);
/* Ends `t` when it is out of libcurl and its writes are done. */
void rp__http_maybe_end(rp_http_transfer *t);
/* A reference to the client; the last rp__http_unref() frees it. */
void rp__http_ref(rp_http *h);
void rp__http_unref(rp_http *h);
/* Moves what rp_http_get() queued in ring mode to the lists; lock held. */
void rp__http_take_queued(rp_http *h);
/* Frees the multi handle as the lock's holder; `mu` held (rp_http_free()). */
void rp__http_multi_cleanup(rp_http *h);

/* ---- http_drive.c ----------------------------------------------------- */

/* Sets up how the client waits (mode, callbacks, thread): 0 or -errno. */
int rp__http_drive_init(rp_http *h);
/* Stops what drive_init started; the multi handle is gone. */
void rp__http_drive_stop(rp_http *h);
/* Frees the socket records; every operation has ended. */
void rp__http_drive_free(rp_http *h);
/* Hands libcurl the events and timeouts that came in.  Returns true if any. */
bool rp__http_drive_dispatch(rp_http *h);
/*
 * Watches what libcurl wants again (ring) and frees removed sockets.
 * Returns true if that made something due already.
 */
bool rp__http_drive_rearm(rp_http *h);
/* True when an event or a timer waits to be dispatched. */
bool rp__http_drive_pending(const rp_http *h);
/* Arms timer `which` for `at` (absolute ns), or disarms it with -1. */
int rp__http_timer_set(rp_http *h, int which, int64_t at);

/* ---- http_body.c ------------------------------------------------------ */

/* Chunk size and the rate limiter for a new client. */
void rp__http_body_init(rp_http *h);
/* Frees the pool; no chunk is in use. */
void rp__http_body_free(rp_http *h);
/* Sets the write and header callbacks of a new easy handle. */
void rp__http_body_setopt(rp_http_transfer *t);
/* Queues the write of the transfer's partly filled chunk. */
void rp__http_flush(rp_http_transfer *t);
/* Drops the transfer's partly filled chunk unwritten. */
void rp__http_drop_fill(rp_http_transfer *t);
/* Unpauses what back-pressure and the rate allow.  True if any. */
bool rp__http_unpause(rp_http *h);

#endif /* RP_HTTP_INTERNAL_H */
