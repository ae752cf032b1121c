/* SPDX-License-Identifier: MIT */
/*
 * HTTP(S) downloads: clients and transfers, the client's lock, and how a
 * transfer ends.  libcurl's sockets and timers are driven in http_drive.c,
 * the body is buffered and written in http_body.c; DESIGN.md, "HTTP
 * downloads", has the picture.
 *
 * A transfer's future is made here and ended here (RP__F_HOOK): it is
 * RUNNING from rp_http_get() on, and rp_future_cancel() on it calls
 * cancel_hook(), which asks the client to stop the transfer.  The future
 * ends only once the transfer is out of libcurl and every body write it
 * queued has completed, so a done future means the data reached the file.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_internal.h"

/* The client whose lock this thread holds, if any (see http_internal.h). */
static _Thread_local rp_http *holder;

/*
 * Orders cancel_hook() against rp_http_transfer_free(): a canceller that saw
 * the future RUNNING looks at it again under this lock, and a transfer is
 * freed only after its future ended and this lock was taken once, so the
 * hook never touches a freed transfer.
 */
static pthread_mutex_t cancel_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_ret;

static void global_init(void)
{
	global_ret = curl_global_init(CURL_GLOBAL_ALL);
}

static void http_ref(rp_http *h)
{
	atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
}

static void http_unref(rp_http *h)
{
	if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
		return;
	while (h->n_easy)
		curl_easy_cleanup(h->easy_pool[--h->n_easy]);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->mu);
	pthread_mutex_destroy(&h->in_mu);
	pthread_mutex_destroy(&h->easy_mu);
	free(h->user_agent);
	free(h->ca_file);
	free(h);
}

int rp_http_config_init(struct rp_http_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_per_host = 6;
	cfg->max_redirs = 10;
	cfg->buffer_bytes = 16u << 20;
	return 0;
}

/* ---- the lock --------------------------------------------------------- */

bool rp__http_enter(rp_http *h)
{
	if (holder == h)
		return false;
	pthread_mutex_lock(&h->mu);
	holder = h;
	rp__no_drive++;		/* see internal.h */
	return true;
}

/* Ends the futures of `list` (taken from rp_http::ended); no lock held. */
static void finish_ended(rp_http *h, struct rp__list *list)
{
	unsigned n = 0;

	while (!rp__list_empty(list)) {
		rp_http_transfer *t = rp__container_of(list->next,
				rp_http_transfer, ended);
		rp_future *f = t->f;
		uint32_t state = t->cancel ? RP__CANCELLED : RP__DONE;

		rp__list_del(&t->ended);
		/* From here on `t` may be freed by its owner. */
		rp__future_finish(f, state);
		rp_future_unref(f);		/* the client's reference */
		n++;
	}
	if (!n)
		return;
	pthread_mutex_lock(&h->mu);
	h->unfinished -= n;
	if (h->unfinished == 0)
		pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->mu);
	http_unref(h);
}

void rp__http_leave(rp_http *h, bool locked)
{
	if (!locked)
		return;
	rp__http_drain(h);
	rp__http_unlock(h);
}

void rp__http_unlock(rp_http *h)
{
	struct rp__list ended;

	rp__list_init(&ended);
	if (!rp__list_empty(&h->ended)) {
		/* Splice the list: its nodes point at the head. */
		ended.next = h->ended.next;
		ended.prev = h->ended.prev;
		ended.next->prev = &ended;
		ended.prev->next = &ended;
		rp__list_init(&h->ended);
		http_ref(h);	/* finish_ended() touches h after unlock */
	}
	/* The loop thread polls a snapshot of the sockets: tell it. */
	if (h->mode == RP__HTTP_LOOP && h->loop_wake && h->loop_polling) {
		uint64_t one = 1;

		h->loop_wake = false;
		(void)!write(h->efd, &one, sizeof(one));
	}
	if (h->shutting)
		pthread_cond_broadcast(&h->cond);
	holder = NULL;
	rp__no_drive--;
	pthread_mutex_unlock(&h->mu);
	if (!rp__list_empty(&ended))
		finish_ended(h, &ended);
}

/* ---- how a transfer ends ---------------------------------------------- */

/* The error a libcurl result stands for, see the header's list. */
static int map_code(const rp_http_transfer *t)
{
	switch (t->code) {
	case CURLE_OK:
		return 0;
	case CURLE_HTTP_RETURNED_ERROR:
		return -EREMOTEIO;
	case CURLE_COULDNT_CONNECT:
		if (t->os_errno == EHOSTUNREACH || t->os_errno == ENETUNREACH)
			return -EHOSTUNREACH;
		if (t->os_errno == ETIMEDOUT)
			return -ETIMEDOUT;
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_RANGE_ERROR:
	case CURLE_GOT_NOTHING:
		return -EPROTO;
	case CURLE_TOO_MANY_REDIRECTS:
		return -ELOOP;
	case CURLE_URL_MALFORMAT:
		return -EINVAL;
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTONOSUPPORT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return -ECONNRESET;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
		return -EIO;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	/* Not trusted: asking again will not change the certificate. */
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return -EKEYREJECTED;
	case CURLE_SSL_CACERT_BADFILE:
		return -EINVAL;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		return -EPROTO;
	default:
		return -EIO;
	}
}

/* Sets the future's value and error and the info's words. */
static void settle(rp_http_transfer *t)
{
	struct rp_http_info *info = &t->info;
	rp_future *f = t->f;
	int err;

	f->value = (int64_t)t->written;
	if (t->cancel) {
		err = -ECANCELED;
		snprintf(info->error, sizeof(info->error), "cancelled");
	} else if (t->fail_err) {
		err = t->fail_err;
		snprintf(info->error, sizeof(info->error), "%s", t->errbuf);
	} else if (t->write_err) {
		err = -EIO;
		info->write_error = t->write_err;
		snprintf(info->error, sizeof(info->error),
			 "writing the body to descriptor %d: %s", t->fd,
			 strerror(-t->write_err));
	} else {
		err = map_code(t);
		if (err == 0 && info->status &&
		    (info->status < 200 || info->status > 299)) {
			err = -EREMOTEIO;
			snprintf(info->error, sizeof(info->error),
				 "HTTP status %ld", info->status);
		} else if (err) {
			snprintf(info->error, sizeof(info->error), "%s",
				 t->errbuf[0] ? t->errbuf :
				 curl_easy_strerror(t->code));
		}
	}
	f->error = err;
	info->bytes = t->written;
	info->effective_url = t->effective_url ? t->effective_url : t->url;
	if (err == 0 && atomic_load_explicit(&t->progress_total,
					     memory_order_relaxed) < 0)
		atomic_store_explicit(&t->progress_total,
				      (int64_t)t->received,
				      memory_order_relaxed);
}

void rp__http_maybe_end(rp_http_transfer *t)
{
	rp_http *h = t->h;

	if (t->state != RP__HTTP_DRAINING || t->writes)
		return;
	t->state = RP__HTTP_ENDED;
	settle(t);
	rp__list_del(&t->live);
	rp__list_add_tail(&h->ended, &t->ended);
}

void rp__http_start_body(rp_http_transfer *t)
{
	curl_off_t cl = -1;
	long status = 0;

	if (t->started)
		return;
	t->started = true;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	t->info.status = status;
	t->info.resumed = t->offset > 0 && status == 206;
	/* Where the server says the part starts; it should be the offset. */
	t->base = !t->info.resumed ? 0 : t->range_start >= 0 ?
		  (uint64_t)t->range_start : t->offset;
	if (status >= 200 && status <= 299) {
		if (t->info.resumed)
			t->info.size = t->range_total >= 0 ? t->range_total :
				cl >= 0 ? (int64_t)t->offset + cl : -1;
		else
			t->info.size = cl >= 0 ? cl : t->range_total;
		atomic_store_explicit(&t->progress_total, cl >= 0 ? cl : -1,
				      memory_order_relaxed);
	}
}

/* An easy handle for a new transfer: a reset one if the client has one. */
static CURL *easy_get(rp_http *h)
{
	CURL *e = NULL;

	pthread_mutex_lock(&h->easy_mu);
	if (h->n_easy)
		e = h->easy_pool[--h->n_easy];
	pthread_mutex_unlock(&h->easy_mu);
	return e ? e : curl_easy_init();
}

/* `e` is out of the multi handle; kept (reset) or cleaned up. */
static void easy_put(rp_http *h, CURL *e)
{
	bool kept = false;

	curl_easy_reset(e);
	pthread_mutex_lock(&h->easy_mu);
	if (h->n_easy < RP__HTTP_EASY_POOL) {
		h->easy_pool[h->n_easy++] = e;
		kept = true;
	}
	pthread_mutex_unlock(&h->easy_mu);
	if (!kept)
		curl_easy_cleanup(e);
}

void rp__http_detach(rp_http_transfer *t)
{
	rp_http *h = t->h;
	long status = 0, os_errno = 0;
	char *url = NULL;

	if (t->state != RP__HTTP_ACTIVE)
		return;
	rp__http_start_body(t);
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
	t->info.status = status;
	t->os_errno = (int)os_errno;
	/* A 416 tells the length in "Content-Range: bytes *" "/LENGTH". */
	if (t->info.size < 0 && t->range_total >= 0)
		t->info.size = t->range_total;
	if (t->retry_after_s >= 0)
		t->info.retry_after_ns = t->retry_after_s * 1000000000;
	if (url && strcmp(url, t->url))
		t->effective_url = strdup(url);	/* NULL: t->url will do */
	/*
	 * What arrived goes to the file, also when the transfer failed
	 * partway: with FAILONERROR it is a prefix of the body, which a retry
	 * resumes from.  A cancelled transfer, or one whose writes fail,
	 * writes nothing more.
	 */
	if (!t->cancel && !t->write_err)
		rp__http_flush(t);
	else
		rp__http_drop_fill(t);
	if (rp__list_linked(&t->paused))
		rp__list_del(&t->paused);
	if (rp__list_linked(&t->stop))
		rp__list_del(&t->stop);
	if (rp__list_linked(&t->incoming))
		rp__list_del(&t->incoming);	/* never added: nothing to remove */
	else
		curl_multi_remove_handle(h->multi, t->easy);
	easy_put(h, t->easy);
	t->easy = NULL;
	t->state = RP__HTTP_DRAINING;
	rp__http_maybe_end(t);
}

/* Transfers libcurl has finished. */
static void read_done(rp_http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		rp_http_transfer *t = NULL;
		CURLcode code = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
		if (!t)
			continue;
		t->code = code;
		rp__http_detach(t);	/* msg is invalid from here */
	}
}

/* Stops transfers that were cancelled or whose write failed. */
static bool stop_requested(rp_http *h)
{
	bool any = false;

	while (!rp__list_empty(&h->stop)) {
		rp_http_transfer *t = rp__container_of(h->stop.next,
				rp_http_transfer, stop);

		rp__list_del(&t->stop);
		t->code = t->stalled ? CURLE_OPERATION_TIMEDOUT :
				       CURLE_ABORTED_BY_CALLBACK;
		rp__http_detach(t);
		any = true;
	}
	return any;
}

/*
 * The stall check: a tick of a quarter of rp_http_config::stall_timeout_ns
 * (at most a second) looks at the transfers libcurl has started.  libcurl's
 * own LOW_SPEED_LIMIT averages over several seconds, so a transfer that
 * stops after a burst would go on for that much longer.  A transfer paused
 * by back-pressure or the rate limit is waiting for the client, not
 * stalled.
 */
static void check_stalls(rp_http *h)
{
	struct rp__http_timer *tm = &h->timers[RP__HTTP_T_STALL];
	int64_t limit = h->cfg.stall_timeout_ns, now, tick;
	struct rp__list *n;
	int ret;

	if (!limit)
		return;
	if (tm->fired) {
		tm->fired = false;
		now = rp__now_ns();
		for (n = h->live.next; n != &h->live; n = n->next) {
			rp_http_transfer *t = rp__container_of(n,
					rp_http_transfer, live);

			if (t->state != RP__HTTP_ACTIVE || !t->moving_at ||
			    rp__list_linked(&t->paused) || t->stalled ||
			    now - t->moving_at < limit)
				continue;
			t->stalled = true;
			snprintf(t->errbuf, sizeof(t->errbuf),
				 "no data for %lld ms",
				 (long long)((now - t->moving_at) / 1000000));
			if (!rp__list_linked(&t->stop))
				rp__list_add_tail(&h->stop, &t->stop);
		}
	}
	if (tm->at >= 0 || rp__list_empty(&h->live))
		return;
	tick = limit / 4;
	if (tick > 1000000000)
		tick = 1000000000;
	if (tick < 1000000)
		tick = 1000000;
	ret = rp__http_timer_set(h, RP__HTTP_T_STALL, rp__now_ns() + tick);
	if (ret)
		h->drive_err = ret;
}

/* libcurl started the transfer (it has a connection), or data moved. */
static int xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	rp_http_transfer *t = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (!t->moving_at)
		t->moving_at = rp__now_ns();
	return 0;
}

/* A poll or sleep could not be queued: nothing would move again. */
static void fail_all(rp_http *h)
{
	struct rp__list *n, *next;

	for (n = h->live.next; n != &h->live; n = next) {
		rp_http_transfer *t = rp__container_of(n, rp_http_transfer,
						       live);

		next = n->next;
		if (t->state != RP__HTTP_ACTIVE)
			continue;
		t->fail_err = h->drive_err;
		snprintf(t->errbuf, sizeof(t->errbuf),
			 "cannot wait for the network: %s",
			 strerror(-h->drive_err));
		rp__http_detach(t);
	}
}

/*
 * Moves what rp_http_get() queued in ring mode to the client's lists, as
 * the loop mode's rp_http_get() does under `mu` itself.  Lock held.
 */
static void take_queued(rp_http *h)
{
	struct rp__list *n;

	pthread_mutex_lock(&h->in_mu);
	h->in_sched = false;
	while ((n = h->inq.next) != &h->inq) {
		rp_http_transfer *t = rp__container_of(n, rp_http_transfer,
						       incoming);

		rp__list_del(&t->incoming);
		rp__list_add_tail(&h->live, &t->live);
		rp__list_add_tail(&h->incoming, &t->incoming);
		h->unfinished++;
	}
	pthread_mutex_unlock(&h->in_mu);
}

/* Hands the transfers rp_http_get() queued to libcurl. */
static bool adopt(rp_http *h)
{
	bool any = false;

	take_queued(h);
	while (!rp__list_empty(&h->incoming)) {
		rp_http_transfer *t = rp__container_of(h->incoming.next,
				rp_http_transfer, incoming);

		rp__list_del(&t->incoming);
		if (curl_multi_add_handle(h->multi, t->easy) != CURLM_OK) {
			t->code = CURLE_OUT_OF_MEMORY;
			rp__http_detach(t);
		}
		any = true;
	}
	return any;
}

void rp__http_drain(rp_http *h)
{
	bool more;

	if (!h->multi)
		return;
	do {
		more = adopt(h);
		more |= rp__http_drive_dispatch(h);
		more |= stop_requested(h);
		more |= rp__http_unpause(h);
		read_done(h);
		while (!rp__list_empty(&h->dirty))
			rp__http_flush(rp__container_of(h->dirty.next,
					rp_http_transfer, dirty));
		check_stalls(h);
		more |= rp__http_drive_rearm(h);
		if (h->drive_err) {
			fail_all(h);
			h->drive_err = 0;
			more = true;
		}
		/* Callbacks that ran inline may have recorded more. */
	} while (more || h->kick || rp__http_drive_pending(h) ||
		 !rp__list_empty(&h->incoming));
}

/* ---- cancellation ----------------------------------------------------- */

static void cancel_hook(rp_future *f)
{
	rp_http_transfer *t;
	bool locked;
	rp_http *h;

	pthread_mutex_lock(&cancel_lock);
	if (rp__future_state(f) != RP__RUNNING) {
		pthread_mutex_unlock(&cancel_lock);
		return;
	}
	t = f->u.hook.arg;
	h = t->h;
	http_ref(h);
	locked = rp__http_enter(h);
	take_queued(h);		/* `t` may still be on the way in */
	/* Out of libcurl already: it ends with its result. */
	if (t->state == RP__HTTP_ACTIVE && !t->cancel) {
		t->cancel = true;
		if (!rp__list_linked(&t->stop))
			rp__list_add_tail(&h->stop, &t->stop);
	}
	pthread_mutex_unlock(&cancel_lock);
	rp__http_leave(h, locked);
	http_unref(h);
}

/* ---- clients ---------------------------------------------------------- */

static int check_config(const struct rp_http_config *cfg)
{
	int fd;

	if (cfg->max_redirs < 0 || cfg->connect_timeout_ns < 0 ||
	    cfg->stall_timeout_ns < 0 || cfg->max_rate > INT64_MAX / 2)
		return -EINVAL;
	/*
	 * libcurl reads the CA file only when a TLS connection starts, and
	 * a missing one would then fail every HTTPS transfer alike: say it
	 * once, here.
	 */
	if (cfg->ca_file) {
		fd = open(cfg->ca_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		close(fd);
	}
	return 0;
}

int rp_http_new(rp_executor *ex, const struct rp_http_config *cfg,
		rp_http **out)
{
	rp_http *h;
	int ret, i;

	if (!ex || !out)
		return -EINVAL;
	if (cfg && (ret = check_config(cfg)) < 0)
		return ret;
	pthread_once(&global_once, global_init);
	if (global_ret != CURLE_OK)
		return -ENOTSUP;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	if (cfg)
		h->cfg = *cfg;
	else
		rp_http_config_init(&h->cfg);
	if (!h->cfg.buffer_bytes)
		h->cfg.buffer_bytes = 16u << 20;
	h->user_agent = strdup(h->cfg.user_agent ? h->cfg.user_agent :
			       "ringpool/" RINGPOOL_VERSION);
	h->cfg.user_agent = NULL;	/* not kept: the caller's memory */
	if (h->cfg.ca_file)
		h->ca_file = strdup(h->cfg.ca_file);
	h->cfg.ca_file = NULL;
	h->multi = curl_multi_init();
	if (!h->user_agent || !h->multi || (cfg && cfg->ca_file && !h->ca_file)) {
		ret = -ENOMEM;
		goto fail;
	}
	atomic_init(&h->refs, 1);
	h->ex = ex;
	h->efd = -1;
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_init(&h->in_mu, NULL);
	pthread_mutex_init(&h->easy_mu, NULL);
	pthread_cond_init(&h->cond, NULL);
	rp__list_init(&h->inq);
	rp__list_init(&h->live);
	rp__list_init(&h->stop);
	rp__list_init(&h->dirty);
	rp__list_init(&h->paused);
	rp__list_init(&h->ended);
	rp__list_init(&h->socks);
	rp__list_init(&h->ready);
	rp__list_init(&h->todo);
	rp__list_init(&h->incoming);
	for (i = 0; i < RP__HTTP_N_TIMERS; i++) {
		h->timers[i].h = h;
		h->timers[i].at = -1;
	}
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)h->cfg.max_per_host);
	/*
	 * libcurl sizes its cache of idle connections from the transfers in
	 * the multi handle at the moment; between one transfer ending and the
	 * next being added that is too few, and a connection is closed only
	 * to be opened again.
	 */
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS,
			  h->cfg.max_per_host > 64 ?
			  4L * (long)h->cfg.max_per_host : 256L);
	rp__http_body_init(h);
	ret = rp__http_drive_init(h);
	if (ret) {
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->mu);
		goto fail;
	}
	*out = h;
	return 0;
fail:
	if (h->multi)
		curl_multi_cleanup(h->multi);
	free(h->user_agent);
	free(h->ca_file);
	free(h);
	return ret;
}

void rp_http_free(rp_http *h)
{
	struct rp__list *n;
	bool locked;

	if (!h)
		return;
	locked = rp__http_enter(h);
	h->shutting = true;
	pthread_mutex_lock(&h->in_mu);
	h->in_closed = true;
	pthread_mutex_unlock(&h->in_mu);
	take_queued(h);
	for (n = h->live.next; n != &h->live; n = n->next) {
		rp_http_transfer *t = rp__container_of(n, rp_http_transfer,
						       live);

		if (t->state == RP__HTTP_ACTIVE && !t->cancel) {
			t->cancel = true;
			rp__list_add_tail(&h->stop, &t->stop);
		}
	}
	rp__http_leave(h, locked);

	/* Every transfer ends once its writes are in. */
	pthread_mutex_lock(&h->mu);
	while (h->unfinished)
		pthread_cond_wait(&h->cond, &h->mu);
	/* Closing cached connections tells the socket callback. */
	holder = h;
	rp__no_drive++;
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, NULL);
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	holder = NULL;
	rp__no_drive--;
	pthread_mutex_unlock(&h->mu);
	rp__http_drive_stop(h);

	/* The callbacks of polls and sleeps still touch h. */
	pthread_mutex_lock(&h->mu);
	while (h->ops)
		pthread_cond_wait(&h->cond, &h->mu);
	pthread_mutex_unlock(&h->mu);
	rp__http_drive_free(h);
	rp__http_body_free(h);
	http_unref(h);
}

/* ---- transfers -------------------------------------------------------- */

static int setup_easy(rp_http_transfer *t)
{
	const struct rp_http_config *cfg = &t->h->cfg;
	CURL *e = t->easy;
	char range[32];

	if (curl_easy_setopt(e, CURLOPT_URL, t->url) != CURLE_OK)
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, cfg->max_redirs);
	/*
	 * HTTP and HTTPS only, redirects included: libcurl would otherwise
	 * take file://, ftp:// and a dozen more, so a URL from an untrusted
	 * list, or a server's Location header, could read local files or
	 * reach services the caller never meant to talk to.
	 */
#if LIBCURL_VERSION_NUM >= 0x075500
	if (curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"))
		return -ENOMEM;
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS,
			 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS,
			 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (curl_easy_setopt(e, CURLOPT_USERAGENT, t->h->user_agent))
		return -ENOMEM;
	/*
	 * Only this file: with libcurl's CA directory left on, the system's
	 * authorities would be trusted as well, which is not what naming a
	 * private CA asks for.
	 */
	if (t->h->ca_file) {
		if (curl_easy_setopt(e, CURLOPT_CAINFO, t->h->ca_file))
			return -ENOMEM;
		/* CURLE_NOT_BUILT_IN where the TLS library has no directory. */
		(void)curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	if (cfg->connect_timeout_ns > 0)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
				 (long)((cfg->connect_timeout_ns + 999999) /
					1000000));
	if (cfg->stall_timeout_ns > 0) {
		/* Called once libcurl has a connection: see check_stalls(). */
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, t);
	}
	if (t->offset > 0) {
		/*
		 * CURLOPT_RANGE rather than RESUME_FROM: libcurl then takes
		 * a 200 (range ignored) too, which is written from 0.
		 */
		snprintf(range, sizeof(range), "%" PRIu64 "-", t->offset);
		if (curl_easy_setopt(e, CURLOPT_RANGE, range))
			return -ENOMEM;
	}
	rp__http_body_setopt(t);
	return 0;
}

static void transfer_release(rp_http_transfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	free(t->effective_url);
	free(t->url);
	free(t);
}

/* The NOP of hand_over(): on the ring's thread, the drain adopts. */
static void adopt_done(rp_future *f, void *arg)
{
	rp_http *h = arg;
	bool locked = rp__http_enter(h);

	rp_future_unref(f);
	rp__http_leave(h, locked);
	http_unref(h);
}

/*
 * Leaves the work of starting what rp_http_get() queued to the thread that
 * drives libcurl: with io_uring the ring's (a NOP's done-callback; one for
 * any number of transfers queued before it runs), else the client's loop
 * thread.  The caller, typically the thread that opens and finishes files,
 * is then free for that, and the two overlap.  With the loop it is called
 * under `mu`, and unlocks; on the ring, without: the NOP holds a reference
 * to the client, since it may run after rp_http_free() (finding nothing to
 * do).  When the NOP cannot be queued, the caller drains.
 */
static void hand_over(rp_http *h)
{
	rp_future *f;
	bool locked;

	if (h->mode == RP__HTTP_LOOP) {
		h->loop_wake = true;
		rp__http_unlock(h);
		return;
	}
	http_ref(h);
	if (rp_nop(h->ex, NULL, &f) == 0) {
		if (rp_future_add_done_callback(f, adopt_done, h) == 0)
			return;
		rp_future_unref(f);	/* the NOP runs, unwatched */
	}
	locked = rp__http_enter(h);
	rp__http_leave(h, locked);
	http_unref(h);
}

int rp_http_get(rp_http *h, const struct rp_http_request *req,
		rp_http_transfer **out)
{
	rp_http_transfer *t;
	bool locked;
	rp_future *f;
	int ret;

	if (!h || !req || !req->url || req->fd < 0 || !out ||
	    req->offset > INT64_MAX)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->h = h;
	t->fd = req->fd;
	t->offset = req->offset;
	t->range_start = -1;
	t->range_total = -1;
	t->retry_after_s = -1;
	t->info.size = -1;
	t->info.retry_after_ns = -1;
	atomic_init(&t->progress_done, 0);
	atomic_init(&t->progress_total, -1);
	rp__list_init(&t->live);
	rp__list_init(&t->stop);
	rp__list_init(&t->dirty);
	rp__list_init(&t->paused);
	rp__list_init(&t->ended);
	rp__list_init(&t->incoming);
	t->url = strdup(req->url);
	t->easy = easy_get(h);
	if (!t->url || !t->easy) {
		transfer_release(t);
		return -ENOMEM;
	}
	ret = setup_easy(t);
	if (ret) {
		transfer_release(t);
		return ret;
	}
	f = rp__future_alloc(h->ex, RP__CLASS_TASK);
	if (!f) {
		transfer_release(t);
		return -ENOMEM;
	}
	/* Two references: the caller's (t->f) and the client's, see end. */
	rp__future_init(f, h->ex, NULL, NULL);
	f->u.hook.cancel = cancel_hook;
	f->u.hook.arg = t;
	atomic_store_explicit(&f->flags, RP__F_HOOK, memory_order_relaxed);
	atomic_store_explicit(&f->state, RP__RUNNING | RP__NO_CBS,
			      memory_order_relaxed);
	t->f = f;

	if (h->mode == RP__HTTP_RING) {
		bool sched;

		pthread_mutex_lock(&h->in_mu);
		if (h->in_closed) {
			pthread_mutex_unlock(&h->in_mu);
			rp__future_release(f);
			transfer_release(t);
			return -ESHUTDOWN;
		}
		rp__list_add_tail(&h->inq, &t->incoming);
		http_ref(h);	/* dropped by rp_http_transfer_free */
		sched = !h->in_sched;
		h->in_sched = true;
		pthread_mutex_unlock(&h->in_mu);
		*out = t;
		if (sched)
			hand_over(h);
		return 0;
	}
	locked = rp__http_enter(h);
	if (h->shutting) {
		rp__http_leave(h, locked);
		rp__future_release(f);
		transfer_release(t);
		return -ESHUTDOWN;
	}
	rp__list_add_tail(&h->live, &t->live);
	rp__list_add_tail(&h->incoming, &t->incoming);
	h->unfinished++;
	http_ref(h);		/* dropped by rp_http_transfer_free */
	if (locked)
		hand_over(h);
	*out = t;
	return 0;
}

rp_future *rp_http_transfer_future(rp_http_transfer *t)
{
	return t ? t->f : NULL;
}

void rp_http_transfer_progress(const rp_http_transfer *t, uint64_t *done,
			       int64_t *total)
{
	if (done)
		*done = t ? atomic_load_explicit(&t->progress_done,
						 memory_order_relaxed) : 0;
	if (total)
		*total = t ? atomic_load_explicit(&t->progress_total,
						  memory_order_relaxed) : -1;
}

int rp_http_transfer_info(const rp_http_transfer *t, struct rp_http_info *info)
{
	if (!t || !info)
		return -EINVAL;
	/* Acquire: the info was written before the future ended. */
	if (!rp_future_done(t->f))
		return -EBUSY;
	*info = t->info;
	return 0;
}

void rp_http_transfer_free(rp_http_transfer *t)
{
	rp_http *h;

	if (!t)
		return;
	if (!rp_future_done(t->f)) {
		(void)rp_future_cancel(t->f);
		(void)rp__future_wait(t->f, INT64_MAX);
	}
	/* Wait out a cancel_hook() that saw the future running. */
	pthread_mutex_lock(&cancel_lock);
	pthread_mutex_unlock(&cancel_lock);
	h = t->h;
	rp_future_unref(t->f);
	transfer_release(t);
	http_unref(h);
}
