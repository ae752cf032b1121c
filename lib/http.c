/* SPDX-License-Identifier: MIT */
/*
 * HTTP(S) downloads: the client's lock, and how a transfer ends.  Clients
 * and transfers are made in http_client.c, libcurl's sockets and timers are
 * driven in http_drive.c, the body is buffered and written in http_body.c;
 * DESIGN.md, "HTTP downloads", has the picture.
 *
 * A transfer's future is made by rp_http_get() and ended here (RP__F_HOOK):
 * it is RUNNING from rp_http_get() on, and rp_future_cancel() on it calls
 * http_client.c's cancel_hook(), which asks the client to stop the
 * transfer.  The future ends only once the transfer is out of libcurl and
 * every body write it queued has completed, so a done future means the
 * data reached the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

/* The client whose lock this thread holds, if any (see http_internal.h). */
static _Thread_local rp_http *holder;

void rp__http_ref(rp_http *h)
{
	atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
}

void rp__http_unref(rp_http *h)
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
	free(h->proxy);
	free(h->no_proxy);
	curl_slist_free_all(h->headers);
	free(h);
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
	rp__http_unref(h);
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
		/* finish_ended() touches h after the unlock. */
		rp__http_ref(h);
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

/*
 * Cleans up the multi handle, under `mu` taken by the caller
 * (rp_http_free()) without rp__http_enter(): closing the cached connections
 * tells the socket callback, which must find this thread the lock's holder.
 */
void rp__http_multi_cleanup(rp_http *h)
{
	holder = h;
	rp__no_drive++;
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, NULL);
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	holder = NULL;
	rp__no_drive--;
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
		/* Said already where it was found (rp__http_start_body()). */
		if (!info->error[0])
			snprintf(info->error, sizeof(info->error), "%s",
				 t->errbuf);
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
	info->etag = t->etag;
	info->last_modified = t->last_modified;
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
	/*
	 * A part that starts elsewhere than asked would leave a hole, or
	 * rewrite bytes and count them twice: no ordinary server sends one,
	 * and the transfer fails (write_cb() stops it) rather than guess.
	 */
	if (t->info.resumed && t->range_start >= 0 &&
	    (uint64_t)t->range_start != t->offset) {
		t->fail_err = -EPROTO;
		snprintf(t->info.error, sizeof(t->info.error),
			 "the server sent the part from byte %lld, not from "
			 "byte %llu as asked (Content-Range)",
			 (long long)t->range_start,
			 (unsigned long long)t->offset);
		return;
	}
	t->base = t->info.resumed ? t->offset : 0;
	if (status >= 200 && status <= 299) {
		if (t->info.resumed)
			t->info.size = t->range_total >= 0 ? t->range_total :
				cl >= 0 ? (int64_t)t->offset + cl : -1;
		else
			t->info.size = cl >= 0 ? cl : t->range_total;
		atomic_store_explicit(&t->progress_total, cl >= 0 ? cl : -1,
				      memory_order_relaxed);
	}
	if (t->on_body) {
		struct rp_http_info info = t->info;

		info.etag = t->etag;
		info.last_modified = t->last_modified;
		t->on_body(t->arg, &info);
	}
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
	/* Clamped: "Retry-After: 18446744074" must not wrap to 0.29 s. */
	if (t->retry_after_s >= 0)
		t->info.retry_after_ns =
			t->retry_after_s > INT64_MAX / 1000000000 ?
			INT64_MAX : t->retry_after_s * 1000000000;
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
void rp__http_take_queued(rp_http *h)
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

	rp__http_take_queued(h);
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
