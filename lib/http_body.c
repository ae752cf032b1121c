/* SPDX-License-Identifier: MIT */
/*
 * The body of a transfer: libcurl's write callback copies what arrives into
 * pooled chunks, and each chunk goes to the destination with one
 * rp_write_full() at its offset.  No write blocks the thread that drives
 * libcurl.
 *
 * Memory is bounded by rp_http_config::buffer_bytes, counted in chunk
 * capacity over the whole client: a write callback that would need a chunk
 * beyond it pauses its transfer (CURL_WRITEFUNC_PAUSE: libcurl keeps the data
 * and offers it again), and a chunk that comes back from its write lets
 * paused transfers go on.  One chunk is always allowed, so a buffer smaller
 * than a chunk still moves.  The rate limit (rp_http_config::max_rate) is a
 * token bucket shared by the client's transfers and pauses them the same
 * way, with a timer for when tokens are back.
 *
 * A partly filled chunk is written when rp__http_drain() has let libcurl act
 * (rp_http::dirty), so data never waits for more data.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_internal.h"

/* Chunks: at most this big, at least one write callback's worth. */
#define CHUNK_MAX (256u << 10)
#define CHUNK_MIN ((size_t)CURL_MAX_WRITE_SIZE)

void rp__http_body_init(rp_http *h)
{
	size_t cap = h->cfg.buffer_bytes / 8;

	if (cap > CHUNK_MAX)
		cap = CHUNK_MAX;
	if (cap < CHUNK_MIN)
		cap = CHUNK_MIN;
	h->chunk_cap = cap;
	if (h->cfg.max_rate) {
		/* An eighth of a second's worth may come in one go. */
		h->tokens = (int64_t)(h->cfg.max_rate / 8) + 1;
		h->tokens_at = rp__now_ns();
	}
}

void rp__http_body_free(rp_http *h)
{
	while (h->pool) {
		struct rp__http_chunk *c = h->pool;

		h->pool = c->next;
		free(c);
	}
	h->pooled = 0;
}

/* ---- chunks ----------------------------------------------------------- */

static struct rp__http_chunk *chunk_get(rp_http *h)
{
	struct rp__http_chunk *c = h->pool;

	if (c) {
		h->pool = c->next;
		h->pooled--;
	} else {
		c = malloc(sizeof(*c) + h->chunk_cap);
		if (!c)
			return NULL;
	}
	h->buffered += h->chunk_cap;
	return c;
}

static void chunk_put(rp_http *h, struct rp__http_chunk *c)
{
	h->buffered -= h->chunk_cap;
	if (!rp__list_empty(&h->paused))
		h->kick = true;
	/* Keep free chunks only as far as the budget goes. */
	if ((h->pooled + 1) * h->chunk_cap + h->buffered <=
	    h->cfg.buffer_bytes) {
		c->next = h->pool;
		h->pool = c;
		h->pooled++;
	} else {
		free(c);
	}
}

/* Stops `t` after a failed write; `err` is kept for rp_http_info. */
static void write_failed(rp_http_transfer *t, int err)
{
	if (!t->write_err)
		t->write_err = err;
	if (t->state == RP__HTTP_ACTIVE && !rp__list_linked(&t->stop))
		rp__list_add_tail(&t->h->stop, &t->stop);
}

static void write_done(struct rp__cb *node, rp_future *f)
{
	struct rp__http_chunk *c = rp__container_of(node,
			struct rp__http_chunk, node);
	rp_http_transfer *t = c->t;
	rp_http *h = t->h;
	bool locked = rp__http_enter(h);
	int64_t value = 0;
	int ret, err = 0;

	ret = rp_future_result(f, 0, &value, &err);
	h->ops--;
	t->writes--;
	if (ret == 0 && err == 0 && (size_t)value == c->len) {
		t->written += c->len;
	} else {
		if (ret == 0 && value > 0)
			t->written += (uint64_t)value;
		/* Cancelled: rp_executor_free() stopped it. */
		write_failed(t, ret ? ret : err ? err : -EIO);
	}
	chunk_put(h, c);
	rp_future_unref(f);
	rp__http_maybe_end(t);
	rp__http_leave(h, locked);
}

void rp__http_flush(rp_http_transfer *t)
{
	struct rp__http_chunk *c = t->fill;
	rp_http *h = t->h;
	rp_future *f;
	int ret;

	if (!c)
		return;
	t->fill = NULL;
	rp__list_del(&t->dirty);
	ret = rp_write_full(h->ex, t->fd, c->data, c->len, (int64_t)c->off,
			    h->io, &f);
	if (ret) {
		chunk_put(h, c);
		write_failed(t, ret);
		return;
	}
	t->writes++;
	h->ops++;
	c->node.run = write_done;
	/* May run at once, on this thread, if the write is already done. */
	rp__future_add_cb(f, &c->node);
}

void rp__http_drop_fill(rp_http_transfer *t)
{
	if (!t->fill)
		return;
	chunk_put(t->h, t->fill);
	t->fill = NULL;
	rp__list_del(&t->dirty);
}

/* ---- back-pressure and rate ------------------------------------------- */

static void refill(rp_http *h)
{
	int64_t now = rp__now_ns(), burst, add;

	burst = (int64_t)(h->cfg.max_rate / 8) + 1;
	if (now <= h->tokens_at)
		return;
	add = (int64_t)((__int128)(now - h->tokens_at) *
			(__int128)h->cfg.max_rate / 1000000000);
	if (add == 0)
		return;		/* let the fraction build up */
	h->tokens_at = now;
	h->tokens = h->tokens + add > burst ? burst : h->tokens + add;
}

/* Arms the rate timer for when the bucket holds a token again. */
static void wait_tokens(rp_http *h)
{
	int64_t need, ns;
	int ret;

	if (h->timers[RP__HTTP_T_RATE].at >= 0)
		return;
	need = 1 - h->tokens;
	ns = (int64_t)(((__int128)need * 1000000000 +
			(__int128)h->cfg.max_rate - 1) /
		       (__int128)h->cfg.max_rate);
	if (ns < 1000000)
		ns = 1000000;
	ret = rp__http_timer_set(h, RP__HTTP_T_RATE, rp__now_ns() + ns);
	if (ret)
		h->drive_err = ret;
}

/* Whether `len` more bytes of `t` fit the buffer budget and the rate. */
static bool may_take(rp_http *h, const rp_http_transfer *t, size_t len)
{
	size_t room = t->fill ? h->chunk_cap - t->fill->len : 0, need;

	if (len > room) {
		need = (len - room + h->chunk_cap - 1) / h->chunk_cap;
		if (h->buffered &&
		    h->buffered + need * h->chunk_cap > h->cfg.buffer_bytes)
			return false;
	}
	if (h->cfg.max_rate) {
		refill(h);
		if (h->tokens <= 0)
			return false;
	}
	return true;
}

bool rp__http_unpause(rp_http *h)
{
	struct rp__list todo;
	bool any = false;

	h->kick = false;
	if (rp__list_empty(&h->paused))
		return false;
	rp__list_init(&todo);
	todo.next = h->paused.next;
	todo.prev = h->paused.prev;
	todo.next->prev = &todo;
	todo.prev->next = &todo;
	rp__list_init(&h->paused);
	while (!rp__list_empty(&todo)) {
		rp_http_transfer *t = rp__container_of(todo.next,
				rp_http_transfer, paused);

		rp__list_del(&t->paused);
		if (t->state != RP__HTTP_ACTIVE)
			continue;
		if (!may_take(h, t, 1)) {
			rp__list_add_tail(&h->paused, &t->paused);
			continue;
		}
		/* Waiting for the client was no stall. */
		if (t->moving_at)
			t->moving_at = rp__now_ns();
		/* May call write_cb() at once with the data it kept. */
		curl_easy_pause(t->easy, CURLPAUSE_CONT);
		any = true;
	}
	if (!rp__list_empty(&h->paused) && h->cfg.max_rate && h->tokens <= 0)
		wait_tokens(h);
	return any;
}

/* ---- libcurl's callbacks ---------------------------------------------- */

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	rp_http_transfer *t = arg;
	size_t len = size * nmemb, done = 0;
	rp_http *h = t->h;

	if (t->cancel || t->write_err)
		return 0;		/* anything but len: an error */
	rp__http_start_body(t);
	if (!len || t->fail_err)
		return 0;
	if (!may_take(h, t, len)) {
		if (!rp__list_linked(&t->paused))
			rp__list_add_tail(&h->paused, &t->paused);
		if (h->cfg.max_rate && h->tokens <= 0)
			wait_tokens(h);
		return CURL_WRITEFUNC_PAUSE;
	}
	while (done < len) {
		struct rp__http_chunk *c = t->fill;
		size_t n;

		if (!c) {
			c = chunk_get(h);
			if (!c) {
				write_failed(t, -ENOMEM);
				return 0;
			}
			c->t = t;
			c->off = t->base + t->received;
			c->len = 0;
			t->fill = c;
			rp__list_add_tail(&h->dirty, &t->dirty);
		}
		n = h->chunk_cap - c->len;
		if (n > len - done)
			n = len - done;
		memcpy(c->data + c->len, data + done, n);
		c->len += n;
		t->received += n;
		done += n;
		if (c->len == h->chunk_cap)
			rp__http_flush(t);
	}
	if (h->cfg.max_rate)
		h->tokens -= (int64_t)len;
	if (h->cfg.stall_timeout_ns)
		t->moving_at = rp__now_ns();
	atomic_store_explicit(&t->progress_done, t->received,
			      memory_order_relaxed);
	return len;
}

/* Case-insensitive "name:" at the start of a header line; the value. */
static const char *header_value(const char *line, size_t len,
				const char *name)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n))
		return NULL;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

static size_t header_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	rp_http_transfer *t = arg;
	size_t len = size * nmemb;
	char line[256];
	const char *v;

	/* A copy with a terminating NUL; long lines are none we parse. */
	if (len >= sizeof(line))
		return len;
	memcpy(line, buf, len);
	line[len] = '\0';
	if (!strncmp(line, "HTTP/", 5)) {
		/* A new response (redirect, after a 100): forget the last. */
		t->range_start = -1;
		t->range_total = -1;
		t->retry_after_s = -1;
		free(t->etag);
		free(t->last_modified);
		t->etag = t->last_modified = NULL;
	} else if ((v = header_value(line, len, "etag:"))) {
		free(t->etag);
		t->etag = strndup(v, strcspn(v, "\r\n"));
	} else if ((v = header_value(line, len, "last-modified:"))) {
		free(t->last_modified);
		t->last_modified = strndup(v, strcspn(v, "\r\n"));
	} else if ((v = header_value(line, len, "content-range:"))) {
		const char *slash = strchr(v, '/');

		/* "bytes FIRST-LAST/TOTAL", TOTAL maybe "*" */
		if (!strncasecmp(v, "bytes ", 6) && v[6] >= '0' && v[6] <= '9')
			t->range_start = strtoll(v + 6, NULL, 10);
		if (slash && slash[1] >= '0' && slash[1] <= '9')
			t->range_total = strtoll(slash + 1, NULL, 10);
	} else if ((v = header_value(line, len, "retry-after:"))) {
		if (*v >= '0' && *v <= '9') {
			t->retry_after_s = strtoll(v, NULL, 10);
		} else {
			time_t at = curl_getdate(v, NULL);

			if (at != -1)
				t->retry_after_s = at > time(NULL) ?
						   at - time(NULL) : 0;
		}
	}
	return len;
}

void rp__http_body_setopt(rp_http_transfer *t)
{
	/*
	 * libcurl reads one buffer per event on a plain socket: a chunk's
	 * worth makes one event, one chunk and one write of it.
	 */
	curl_easy_setopt(t->easy, CURLOPT_BUFFERSIZE, (long)t->h->chunk_cap);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
}
