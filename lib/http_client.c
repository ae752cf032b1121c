/* SPDX-License-Identifier: MIT */
/*
 * HTTP(S) downloads as callers see them: clients (rp_http_new(),
 * rp_http_free()), transfers (rp_http_get() and what a transfer tells),
 * and cancelling one.  http.c has the client's lock and how a transfer
 * ends; http_internal.h says how the files share the work.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http_internal.h"

/*
 * Orders cancel_hook() against rp_http_transfer_free(): a canceller that saw
 * the future RUNNING looks at it again under this lock, and a transfer is
 * freed only after its future ended and this lock was taken once, so the
 * hook never touches a freed transfer.
 */
static pthread_mutex_t cancel_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ret;

static void global_init(void)
{
	global_ret = rp__curl_load();
	if (global_ret == 0 && curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		global_ret = -ENOTSUP;
}

int rp_http_config_init(struct rp_http_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_per_host = 6;
	cfg->max_redirs = 10;
	cfg->buffer_bytes = 16u << 20;
	cfg->ring = -1;
	return 0;
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
	rp__http_ref(h);
	locked = rp__http_enter(h);
	rp__http_take_queued(h); /* `t` may still be on the way in */
	/* Out of libcurl already: it ends with its result. */
	if (t->state == RP__HTTP_ACTIVE && !t->cancel) {
		t->cancel = true;
		if (!rp__list_linked(&t->stop))
			rp__list_add_tail(&h->stop, &t->stop);
	}
	pthread_mutex_unlock(&cancel_lock);
	rp__http_leave(h, locked);
	rp__http_unref(h);
}

/* ---- clients ---------------------------------------------------------- */

/*
 * Whether `s` is a request header line: a token (RFC 9110's tchar), ':',
 * then a value without control characters (tabs allowed); and not Range.
 */
static bool header_ok(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	size_t n = 0;

	while (s[n] && s[n] != ':') {
		unsigned char ch = (unsigned char)s[n];

		if (!(ch >= '0' && ch <= '9') && !(ch >= 'a' && ch <= 'z') &&
		    !(ch >= 'A' && ch <= 'Z') && !strchr(tchar, ch))
			return false;
		n++;
	}
	if (!n || s[n] != ':' || (n == 5 && !strncasecmp(s, "range", 5)))
		return false;
	for (s += n + 1; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return false;
	return true;
}

/* Whether `s` (NULL or not) has no control character. */
static bool plain_text(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* A copy of `s` in `*out`, NULL for NULL.  Returns false when out of memory. */
static bool copy_opt(const char *s, char **out)
{
	*out = s ? strdup(s) : NULL;
	return !s || *out;
}

static int check_config(const struct rp_http_config *cfg)
{
	const char *const *hp;
	int fd;

	if (cfg->max_redirs < 0 || cfg->connect_timeout_ns < 0 ||
	    cfg->stall_timeout_ns < 0 || cfg->max_rate > INT64_MAX / 2)
		return -EINVAL;
	for (hp = cfg->headers; hp && *hp; hp++)
		if (!header_ok(*hp))
			return -EINVAL;
	if (!plain_text(cfg->proxy) || !plain_text(cfg->no_proxy))
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
	/* Nothing of it would run: its transfers would only fail later. */
	if (atomic_load_explicit(&ex->broken, memory_order_relaxed))
		return -ENOTRECOVERABLE;
	if (cfg && (ret = check_config(cfg)) < 0)
		return ret;
	if (cfg && cfg->ring >= 0 && (unsigned)cfg->ring >= ex->n_rings)
		return -EINVAL;
	pthread_once(&global_once, global_init);
	if (global_ret < 0)
		return global_ret;
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
	if (!copy_opt(h->cfg.proxy, &h->proxy) ||
	    !copy_opt(h->cfg.no_proxy, &h->no_proxy)) {
		ret = -ENOMEM;
		goto fail;
	}
	h->cfg.proxy = h->cfg.no_proxy = NULL;
	for (i = 0; h->cfg.headers && h->cfg.headers[i]; i++) {
		struct curl_slist *l = curl_slist_append(h->headers,
							 h->cfg.headers[i]);

		if (!l) {
			ret = -ENOMEM;
			goto fail;
		}
		h->headers = l;
	}
	h->cfg.headers = NULL;
	h->multi = curl_multi_init();
	if (!h->user_agent || !h->multi || (cfg && cfg->ca_file && !h->ca_file)) {
		ret = -ENOMEM;
		goto fail;
	}
	atomic_init(&h->refs, 1);
	h->ex = ex;
	if (h->cfg.ring >= 0) {
		h->io_opts.flags = RP_IO_RING;
		h->io_opts.ring = (unsigned)h->cfg.ring;
		h->io = &h->io_opts;
	}
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
	free(h->proxy);
	free(h->no_proxy);
	curl_slist_free_all(h->headers);
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
	rp__http_take_queued(h);
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
	rp__http_multi_cleanup(h);
	pthread_mutex_unlock(&h->mu);
	rp__http_drive_stop(h);

	/* The callbacks of polls and sleeps still touch h. */
	pthread_mutex_lock(&h->mu);
	while (h->ops)
		pthread_cond_wait(&h->cond, &h->mu);
	pthread_mutex_unlock(&h->mu);
	rp__http_drive_free(h);
	rp__http_body_free(h);
	rp__http_unref(h);
}

/* ---- transfers -------------------------------------------------------- */

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
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->h->headers);
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
	/* Unset, libcurl reads the environment's *_proxy variables. */
	if (t->h->proxy && curl_easy_setopt(e, CURLOPT_PROXY, t->h->proxy))
		return -ENOMEM;
	if (t->h->no_proxy &&
	    curl_easy_setopt(e, CURLOPT_NOPROXY, t->h->no_proxy))
		return -ENOMEM;
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
	if (t->req_headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->req_headers);
	rp__http_body_setopt(t);
	return 0;
}

static void transfer_release(rp_http_transfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->req_headers);
	free(t->etag);
	free(t->last_modified);
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
	rp__http_unref(h);
}

/* Queues the NOP whose done-callback adopts; 0 or -errno. */
static int queue_adopt(rp_http *h)
{
	rp_future *f;
	int ret = rp_nop(h->ex, h->io, &f);

	if (ret)
		return ret;
	ret = rp_future_add_done_callback(f, adopt_done, h);
	if (ret)
		rp_future_unref(f);	/* the NOP runs, unwatched */
	return ret;
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
	bool locked;

	if (h->mode == RP__HTTP_LOOP) {
		h->loop_wake = true;
		rp__http_unlock(h);
		return;
	}
	rp__http_ref(h);
	if (queue_adopt(h) == 0)
		return;
	locked = rp__http_enter(h);
	rp__http_leave(h, locked);
	rp__http_unref(h);
}

/*
 * The client's headers and "If-Range: VALUE", for one transfer: 0, -EINVAL
 * for a value that could not be sent as it is, -ENOMEM.
 */
static int if_range_headers(rp_http *h, const char *value,
			    struct curl_slist **out)
{
	struct curl_slist *l = NULL, *n;
	const struct curl_slist *c;
	char line[1024 + 16];
	const char *p;

	if (!*value || strlen(value) > 1024)
		return -EINVAL;
	for (p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -EINVAL;
	snprintf(line, sizeof(line), "If-Range: %s", value);
	for (c = h->headers; c; c = c->next) {
		if (!(n = curl_slist_append(l, c->data)))
			goto nomem;
		l = n;
	}
	if (!(n = curl_slist_append(l, line)))
		goto nomem;
	*out = n;
	return 0;
nomem:
	curl_slist_free_all(l);
	return -ENOMEM;
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
	t->on_body = req->on_body;
	t->arg = req->arg;
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
	if (req->if_range && req->offset > 0) {
		ret = if_range_headers(h, req->if_range, &t->req_headers);
		if (ret) {
			transfer_release(t);
			return ret;
		}
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
		rp__http_ref(h);	/* dropped by rp_http_transfer_free */
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
	rp__http_ref(h);		/* dropped by rp_http_transfer_free */
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
	rp__http_unref(h);
}
