/* SPDX-License-Identifier: MIT */
/*
 * Driving libcurl's multi-socket interface: its socket callback says which
 * sockets to watch for what, its timer callback when to call it back, and
 * curl_multi_socket_action() is told what happened.
 *
 * With io_uring (RP__HTTP_RING) each watched socket has one rp_poll() in
 * flight and the timer is an rp_sleep(); their done-callbacks, on the ring's
 * thread, record the event and let libcurl act from rp__http_leave().  A
 * poll is one-shot: after libcurl acted, the socket is watched again if
 * libcurl still wants it.
 *
 * With the blocking-thread backend (RP__HTTP_LOOP) an rp_poll() would hold
 * one of the executor's io_threads for as long as its socket is idle, so 64
 * idle connections could stall every other operation of the executor.  The
 * client has a thread of its own instead: it ppoll()s a snapshot of the
 * watched sockets and an eventfd, with the nearest timer as the timeout.
 * Everything else (the body writes, the lock, the end of transfers) is the
 * same in both modes.
 *
 * libcurl's rules: a timer of -1 deletes the timer; a timer of 0 fires soon,
 * from the ring (a sleep of 0) or from the loop's next turn, never from
 * inside the callback; events on a socket already removed are dropped (the
 * poll future is compared with the socket's current one, and a removed
 * socket is freed only once its last poll has ended).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "http_internal.h"

/* ---- events ----------------------------------------------------------- */

/* poll(2) events as CURL_CSELECT bits, for a socket wanting `want`. */
static int cselect(unsigned revents, unsigned want)
{
	int ev = 0;

	if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
		/*
		 * Let libcurl read or write and find the error itself:
		 * CURL_CSELECT_ERR alone fails the transfer as a send error.
		 */
		revents |= want;
		ev |= CURL_CSELECT_ERR;
	}
	if (revents & POLLIN)
		ev |= CURL_CSELECT_IN;
	if (revents & POLLOUT)
		ev |= CURL_CSELECT_OUT;
	return ev;
}

static void make_ready(rp_http *h, struct rp__http_sock *s, unsigned revents)
{
	s->revents |= revents;
	if (!rp__list_linked(&s->ready))
		rp__list_add_tail(&h->ready, &s->ready);
}

static void todo(rp_http *h, struct rp__http_sock *s)
{
	if (!rp__list_linked(&s->todo))
		rp__list_add_tail(&h->todo, &s->todo);
}

bool rp__http_drive_pending(const rp_http *h)
{
	int i;

	if (!rp__list_empty(&h->ready))
		return true;
	for (i = 0; i < RP__HTTP_N_TIMERS; i++)
		if (h->timers[i].fired)
			return true;
	return false;
}

bool rp__http_drive_dispatch(rp_http *h)
{
	struct rp__http_timer *tm = &h->timers[RP__HTTP_T_CURL];
	bool any = false;
	int running;

	if (h->timers[RP__HTTP_T_RATE].fired) {
		/* rp__http_unpause() looks at the tokens. */
		h->timers[RP__HTTP_T_RATE].fired = false;
		any = true;
	}
	/* The stall timer is check_stalls()' (http.c). */
	if (tm->fired) {
		tm->fired = false;
		curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0,
					 &running);
		any = true;
	}
	while (!rp__list_empty(&h->ready)) {
		struct rp__http_sock *s = rp__container_of(h->ready.next,
				struct rp__http_sock, ready);
		unsigned ev = s->revents;

		rp__list_del(&s->ready);
		s->revents = 0;
		todo(h, s);	/* watch it again, or free it */
		if (s->removed || !ev)
			continue;
		/* s stays allocated: only rearm() frees sockets. */
		curl_multi_socket_action(h->multi, s->fd, cselect(ev, s->want),
					 &running);
		any = true;
	}
	return any;
}

/* ---- the ring: polls and sleeps --------------------------------------- */

static void poll_done(rp_future *f, void *arg)
{
	struct rp__http_sock *s = arg;
	rp_http *h = s->h;
	bool locked = rp__http_enter(h);
	int64_t revents = 0;
	int err = 0;

	h->ops--;
	s->polls--;
	if (f == s->poll) {
		s->poll = NULL;
		if (rp_future_result(f, 0, &revents, &err) == 0)
			make_ready(h, s, err ? POLLERR : (unsigned)revents);
		else
			h->drive_err = -ESHUTDOWN;	/* rp_executor_free */
	}
	todo(h, s);
	rp_future_unref(f);
	rp__http_leave(h, locked);
}

/* Stops watching `s` for what it was watched for. */
static void unwatch(struct rp__http_sock *s)
{
	rp_future *f = s->poll;

	if (!f)
		return;
	/* Cleared first: the callback may run inline and must see it stale. */
	s->poll = NULL;
	(void)rp_future_cancel(f);
}

static void arm(rp_http *h, struct rp__http_sock *s)
{
	rp_future *f;
	int ret;

	ret = rp_poll(h->ex, s->fd, s->want, h->io, &f);
	if (ret) {
		h->drive_err = ret;
		return;
	}
	s->poll = f;
	s->polls++;
	h->ops++;
	ret = rp_future_add_done_callback(f, poll_done, s);
	if (ret) {
		s->poll = NULL;
		s->polls--;
		h->ops--;
		(void)rp_future_cancel(f);
		rp_future_unref(f);
		h->drive_err = ret;
	}
}

bool rp__http_drive_rearm(rp_http *h)
{
	while (!rp__list_empty(&h->todo)) {
		struct rp__http_sock *s = rp__container_of(h->todo.next,
				struct rp__http_sock, todo);

		rp__list_del(&s->todo);
		if (rp__list_linked(&s->ready))
			continue;	/* dispatched first, then armed */
		if (s->removed) {
			if (s->polls == 0) {
				rp__list_del(&s->link);
				free(s);
			}
			continue;
		}
		if (h->mode == RP__HTTP_RING && s->want && !s->poll &&
		    h->multi)
			arm(h, s);
	}
	return rp__http_drive_pending(h);
}

static int timer_arm(rp_http *h, struct rp__http_timer *tm, int64_t now);

/*
 * A sleep ended.  Timers are lazy (see rp__http_timer_set()): the deadline
 * may have moved later meanwhile, and then the timer sleeps again for the
 * rest instead of firing.
 */
static void timer_done(rp_future *f, void *arg)
{
	struct rp__http_timer *tm = arg;
	rp_http *h = tm->h;
	bool locked = rp__http_enter(h);
	int64_t now;
	int ret;

	h->ops--;
	if (f == tm->f) {
		tm->f = NULL;
		if (rp_future_result(f, 0, NULL, NULL) != 0) {
			h->drive_err = -ESHUTDOWN;	/* rp_executor_free */
		} else if (tm->at >= 0) {
			now = rp__now_ns();
			if (now >= tm->at) {
				tm->at = -1;
				tm->fired = true;
			} else if ((ret = timer_arm(h, tm, now))) {
				h->drive_err = ret;
			}
		}
	}
	rp_future_unref(f);
	rp__http_leave(h, locked);
}

/* Starts the sleep of `tm` until tm->at. */
static int timer_arm(rp_http *h, struct rp__http_timer *tm, int64_t now)
{
	rp_future *f;
	int ret;

	ret = rp__sleep(h->ex, tm->at - now, h->io, &f);
	if (ret)
		return ret;
	tm->f = f;
	tm->armed = tm->at;
	h->ops++;
	ret = rp_future_add_done_callback(f, timer_done, tm);
	if (ret) {
		tm->f = NULL;
		h->ops--;
		(void)rp_future_cancel(f);
		rp_future_unref(f);
	}
	return ret;
}

/* Stops the sleep of `tm`, if any; its callback then sees it stale. */
static void timer_stop(struct rp__http_timer *tm)
{
	rp_future *f = tm->f;

	if (f) {
		tm->f = NULL;
		(void)rp_future_cancel(f);
	}
}

/*
 * libcurl moves its timer on nearly every event, mostly later.  A ring
 * timeout armed and cancelled each time costs two kernel operations, so the
 * sleep is lazy: one that ends no later than the new deadline is kept (when
 * it ends early, timer_done() sleeps again for the rest), and a deadline
 * already due fires without the ring, from rp__http_drain(), which runs once
 * the libcurl call in progress has returned.
 */
int rp__http_timer_set(rp_http *h, int which, int64_t at)
{
	struct rp__http_timer *tm = &h->timers[which];
	int64_t now;
	int ret;

	tm->at = at;
	tm->fired = false;
	if (h->mode == RP__HTTP_LOOP) {
		h->loop_wake = true;
		return 0;
	}
	if (at < 0) {
		timer_stop(tm);
		return 0;
	}
	now = rp__now_ns();
	if (at <= now) {
		tm->at = -1;
		tm->fired = true;
		return 0;
	}
	if (tm->f && tm->armed <= at)
		return 0;
	timer_stop(tm);
	ret = timer_arm(h, tm, now);
	if (ret)
		tm->at = -1;
	return ret;
}

/* ---- libcurl's callbacks ---------------------------------------------- */

static int timer_cb(CURLM *multi, long ms, void *arg)
{
	rp_http *h = arg;
	int ret;

	(void)multi;
	ret = rp__http_timer_set(h, RP__HTTP_T_CURL,
				 ms < 0 ? -1 : rp__now_ns() + ms * 1000000);
	if (ret)
		h->drive_err = ret;	/* drain fails the transfers */
	return 0;
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *arg,
		   void *sockp)
{
	struct rp__http_sock *s = sockp;
	rp_http *h = arg;
	unsigned want;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			s->removed = true;
			s->want = 0;
			unwatch(s);
			todo(h, s);
			h->loop_wake = true;
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			h->drive_err = -ENOMEM;
			return 0;
		}
		s->h = h;
		s->fd = fd;
		s->id = ++h->next_sock_id;
		rp__list_init(&s->ready);
		rp__list_init(&s->todo);
		rp__list_add_tail(&h->socks, &s->link);
		curl_multi_assign(h->multi, fd, s);
	}
	want = (what & CURL_POLL_IN ? POLLIN : 0) |
	       (what & CURL_POLL_OUT ? POLLOUT : 0);
	if (want != s->want) {
		s->want = want;
		unwatch(s);
		todo(h, s);
		h->loop_wake = true;
	}
	return 0;
}

/* ---- the loop thread (blocking-thread backend) ------------------------ */

struct snapshot {
	struct pollfd *pfd;
	uint64_t *ids;
	size_t n, cap;
};

/* Room for one more socket and the eventfd after it. */
static bool snap_reserve(struct snapshot *sn)
{
	size_t cap = sn->cap ? 2 * sn->cap : 16;
	struct pollfd *p;
	uint64_t *ids;

	if (sn->n + 1 < sn->cap)
		return true;
	p = realloc(sn->pfd, cap * sizeof(*p));
	if (!p)
		return false;
	sn->pfd = p;
	ids = realloc(sn->ids, cap * sizeof(*ids));
	if (!ids)
		return false;
	sn->ids = ids;
	sn->cap = cap;
	return true;
}

/* The watched sockets, then the eventfd; false when memory ran out. */
static bool take_snapshot(rp_http *h, struct snapshot *sn)
{
	struct rp__list *n;

	sn->n = 0;
	if (!snap_reserve(sn))
		return false;
	for (n = h->socks.next; n != &h->socks; n = n->next) {
		struct rp__http_sock *s = rp__container_of(n,
				struct rp__http_sock, link);

		if (s->removed || !s->want)
			continue;
		if (!snap_reserve(sn))
			return false;
		sn->pfd[sn->n].fd = s->fd;
		sn->pfd[sn->n].events = (short)s->want;
		sn->pfd[sn->n].revents = 0;
		sn->ids[sn->n++] = s->id;
	}
	return true;
}

/* The events of the snapshot's sockets that still exist. */
static void take_events(rp_http *h, const struct snapshot *sn)
{
	struct rp__list *n = h->socks.next;
	size_t i;

	/* Both in the order of `id`: sockets are added at the tail. */
	for (i = 0; i < sn->n; i++) {
		struct rp__http_sock *s = NULL;

		if (!sn->pfd[i].revents)
			continue;
		for (; n != &h->socks; n = n->next) {
			s = rp__container_of(n, struct rp__http_sock, link);
			if (s->id >= sn->ids[i])
				break;
		}
		if (n == &h->socks)
			break;
		if (s->id == sn->ids[i] && !s->removed)
			make_ready(h, s, (unsigned)sn->pfd[i].revents);
	}
}

static void *loop_main(void *arg)
{
	struct snapshot sn = { 0 };
	rp_http *h = arg;
	struct pollfd *wake;
	struct timespec ts;
	int64_t due, now;
	uint64_t junk;
	bool complete;
	int i;

	(void)rp__http_enter(h);
	while (!h->loop_stop) {
		rp__http_drain(h);
		/* Out of memory: poll what fits, look again soon. */
		complete = take_snapshot(h, &sn) && sn.pfd;
		due = complete ? -1 : rp__now_ns() + 10000000;
		for (i = 0; i < RP__HTTP_N_TIMERS; i++)
			if (h->timers[i].at >= 0 &&
			    (due < 0 || h->timers[i].at < due))
				due = h->timers[i].at;
		h->loop_polling = true;
		h->loop_wake = false;
		rp__http_unlock(h);

		now = rp__now_ns();
		if (due >= 0) {
			due = due > now ? due - now : 0;
			ts.tv_sec = due / 1000000000;
			ts.tv_nsec = due % 1000000000;
		}
		if (sn.pfd) {
			wake = &sn.pfd[sn.n];
			wake->fd = h->efd;
			wake->events = POLLIN;
			wake->revents = 0;
			(void)ppoll(sn.pfd, sn.n + 1, due >= 0 ? &ts : NULL,
				    NULL);
			if (wake->revents)
				(void)!read(h->efd, &junk, sizeof(junk));
		} else {
			(void)ppoll(NULL, 0, &ts, NULL);
		}

		(void)rp__http_enter(h);
		h->loop_polling = false;
		if (sn.pfd)
			take_events(h, &sn);
		now = rp__now_ns();
		for (i = 0; i < RP__HTTP_N_TIMERS; i++) {
			struct rp__http_timer *tm = &h->timers[i];

			if (tm->at >= 0 && now >= tm->at) {
				tm->at = -1;
				tm->fired = true;
			}
		}
	}
	rp__http_unlock(h);
	free(sn.pfd);
	free(sn.ids);
	return NULL;
}

/* ---- set-up and tear-down --------------------------------------------- */

int rp__http_drive_init(rp_http *h)
{
	int backend = RP_BACKEND_URING, ret;

	(void)rp_executor_backend(h->ex, &backend, NULL);
	h->mode = backend == RP_BACKEND_THREADS ? RP__HTTP_LOOP :
						  RP__HTTP_RING;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	if (h->mode != RP__HTTP_LOOP)
		return 0;
	h->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->efd < 0)
		return -errno;
	ret = rp__thread_create(&h->loop, loop_main, h);
	if (ret) {
		close(h->efd);
		h->efd = -1;
		return -ret;
	}
	pthread_setname_np(h->loop, "rp-http");
	h->loop_started = true;
	return 0;
}

void rp__http_drive_stop(rp_http *h)
{
	bool locked = rp__http_enter(h);
	struct rp__list *n;
	int i;

	for (i = 0; i < RP__HTTP_N_TIMERS; i++)
		(void)rp__http_timer_set(h, i, -1);
	/* Sockets libcurl closed without telling: stop their polls too. */
	for (n = h->socks.next; n != &h->socks; n = n->next)
		unwatch(rp__container_of(n, struct rp__http_sock, link));
	h->loop_stop = true;
	h->loop_wake = true;
	if (locked)
		rp__http_unlock(h);
	if (h->loop_started) {
		uint64_t one = 1;

		(void)!write(h->efd, &one, sizeof(one));
		pthread_join(h->loop, NULL);
		h->loop_started = false;
	}
}

void rp__http_drive_free(rp_http *h)
{
	while (!rp__list_empty(&h->socks)) {
		struct rp__http_sock *s = rp__container_of(h->socks.next,
				struct rp__http_sock, link);

		rp__list_del(&s->link);
		free(s);
	}
	if (h->efd >= 0)
		close(h->efd);
	h->efd = -1;
}
