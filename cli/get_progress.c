/* SPDX-License-Identifier: MIT */
/*
 * What `ringpool get` tells the user: a live display on a terminal, one
 * plain line per finished file otherwise, NDJSON events on stdout with
 * --json, and a summary that lists every failure.
 *
 * Only the main thread calls these functions, so nothing here is locked.
 * Failures are kept (URL and cause) for the summary; successes are not.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "get.h"

struct failure {
	struct failure *next;
	char text[];		/* "URL: cause" */
};

struct get_progress {
	struct get_progress_opts o;
	long total;
	unsigned long done, failed, skipped;
	unsigned long replaced;	/* done, over a file that failed its check */
	uint64_t bytes;		/* of finished files, received this run */
	double t0;
	int drawn;		/* lines of the live display on screen */
	/* The rate shown: a moving average over the redraws. */
	double rate, last_t;
	uint64_t last_bytes;
	struct failure *fail_head, **fail_tail;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void get_format_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	/* Past 1023.95 the figure would print as "1024.0": the next unit. */
	while (v >= (u ? 1023.95 : 1024) && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

void get_format_eta(double seconds, char *buf, size_t len)
{
	long long s;

	/* Past 99 hours an estimate says nothing a person can use. */
	if (!(seconds >= 0) || seconds > 99 * 3600.0) {
		snprintf(buf, len, "--:--");
		return;
	}
	s = (long long)ceil(seconds);	/* 0.4 s left is not "0:00" */
	if (s >= 3600)
		snprintf(buf, len, "%lld:%02lld:%02lld", s / 3600,
			 s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%lld:%02lld", s / 60, s % 60);
}

struct get_progress *get_progress_new(const struct get_progress_opts *o)
{
	struct get_progress *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->o = *o;
	p->total = -1;
	p->t0 = now_s();
	p->last_t = p->t0;
	p->fail_tail = &p->fail_head;
	return p;
}

void get_progress_free(struct get_progress *p)
{
	struct failure *f, *next;

	if (!p)
		return;
	for (f = p->fail_head; f; f = next) {
		next = f->next;
		free(f);
	}
	free(p);
}

void get_progress_set_total(struct get_progress *p, long total)
{
	p->total = total;
}

/*
 * The length of the valid UTF-8 character at `s` (1 to 4 bytes), or 0 for
 * a byte that starts none: overlong forms, surrogates and code points past
 * U+10FFFF are invalid too.
 */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[0] == 0xe0 && s[1] < 0xa0) ||
		    (s[0] == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80 || (s[0] == 0xf0 && s[1] < 0x90) ||
		    (s[0] == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/*
 * A JSON string of `s`.  JSON text is UTF-8, but a name decoded from
 * "%FF" or a URL from a Latin-1 list need not be: each byte that is not
 * part of a valid character becomes U+FFFD, so that every line parses.
 */
static json_object *jstr(const char *s)
{
	const unsigned char *p;
	json_object *o;
	size_t n, len = 0;
	char *buf;

	for (p = (const unsigned char *)s; *p; p += n)
		if (!(n = utf8_len(p)))
			break;
	if (!*p)
		return json_object_new_string(s);
	buf = malloc(strlen(s) * 3 + 1);
	if (!buf)
		return json_object_new_string("");
	for (p = (const unsigned char *)s; *p; p += n) {
		n = utf8_len(p);
		if (n) {
			memcpy(buf + len, p, n);
			len += n;
		} else {
			memcpy(buf + len, "\xef\xbf\xbd", 3);
			len += 3;
			n = 1;
		}
	}
	buf[len] = '\0';
	o = json_object_new_string(buf);
	free(buf);
	return o;
}

/* Prints one NDJSON event and frees it. */
static void emit(json_object *ev)
{
	fputs(json_object_to_json_string_ext(
		      ev, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
	      stdout);
	fputc('\n', stdout);
	json_object_put(ev);
}

static json_object *event(const char *type, const char *url, const char *name)
{
	json_object *ev = json_object_new_object();

	json_object_object_add(ev, "event", json_object_new_string(type));
	if (url)
		json_object_object_add(ev, "url", jstr(url));
	if (name)
		json_object_object_add(ev, "name", jstr(name));
	return ev;
}

/* Wipes the live display so that a plain line can be printed above it. */
static void clear_display(struct get_progress *p)
{
	if (!p->drawn)
		return;
	/* Up to the display's first line, then erase to the end of screen. */
	if (p->drawn > 1)
		fprintf(stderr, "\033[%dA", p->drawn - 1);
	fputs("\r\033[J", stderr);
	p->drawn = 0;
}

/* Whether per-file lines go to stderr. */
static bool lines_on(const struct get_progress *p)
{
	return !p->o.quiet && !p->o.json && !p->o.tty;
}

void get_progress_start(struct get_progress *p, const char *url,
			const char *name, uint64_t offset)
{
	json_object *ev;

	if (!p->o.json)
		return;
	ev = event("start", url, name);
	json_object_object_add(ev, "offset", json_object_new_int64((int64_t)offset));
	emit(ev);
}

void get_progress_retry(struct get_progress *p, const char *url,
			const char *name, unsigned attempt, int64_t delay_ns,
			const char *why)
{
	json_object *ev;

	if (p->o.json) {
		ev = event("retry", url, name);
		json_object_object_add(ev, "attempt", json_object_new_int((int)attempt));
		json_object_object_add(ev, "delay", json_object_new_double(delay_ns / 1e9));
		json_object_object_add(ev, "reason", jstr(why));
		emit(ev);
	}
	if (lines_on(p))
		fprintf(stderr, "retry %s in %.1f s (attempt %u): %s\n", url,
			delay_ns / 1e9, attempt, why);
}

void get_progress_done(struct get_progress *p, const char *url,
		       const char *name, uint64_t size, uint64_t received,
		       bool resumed, bool replaced, unsigned retries,
		       const char *sha_hex)
{
	char b[32];
	json_object *ev;

	p->done++;
	p->replaced += replaced;
	p->bytes += received;
	if (p->o.json) {
		ev = event("done", url, name);
		json_object_object_add(ev, "size", json_object_new_int64((int64_t)size));
		json_object_object_add(ev, "received", json_object_new_int64((int64_t)received));
		json_object_object_add(ev, "resumed", json_object_new_boolean(resumed));
		if (replaced)
			json_object_object_add(ev, "replaced",
					       json_object_new_boolean(true));
		json_object_object_add(ev, "retries", json_object_new_int((int)retries));
		if (sha_hex)
			json_object_object_add(ev, "sha256", json_object_new_string(sha_hex));
		emit(ev);
	}
	if (lines_on(p)) {
		get_format_bytes(size, b, sizeof(b));
		fprintf(stderr, "done %s (%s%s%s)\n", name, b,
			resumed ? ", resumed" : "",
			replaced ? ", replaced the file that failed its check" : "");
	}
}

void get_progress_skipped(struct get_progress *p, const char *url,
			  const char *name, uint64_t size, const char *sha_hex)
{
	json_object *ev;

	p->skipped++;
	if (p->o.json) {
		ev = event("skipped", url, name);
		json_object_object_add(ev, "size", json_object_new_int64((int64_t)size));
		if (sha_hex)
			json_object_object_add(ev, "sha256", json_object_new_string(sha_hex));
		emit(ev);
	}
	if (lines_on(p))
		fprintf(stderr, "skip %s (already complete%s)\n", name,
			sha_hex ? ", sha256 checked" : "");
}

void get_progress_replacing(struct get_progress *p, const char *url,
			    const char *name, const char *why)
{
	json_object *ev;

	if (p->o.json) {
		ev = event("replacing", url, name);
		json_object_object_add(ev, "reason", jstr(why));
		emit(ev);
	}
	/* Shown on a terminal too: a file on disk was not what it should be. */
	if (!p->o.quiet && !p->o.json) {
		clear_display(p);
		fprintf(stderr, "replace %s: %s; downloading it again\n", name,
			why);
	}
}

void get_progress_failed(struct get_progress *p, const char *url,
			 const char *name, long status, unsigned retries,
			 const char *why)
{
	size_t len = strlen(url) + strlen(why) + 3;
	struct failure *f = malloc(sizeof(*f) + len);
	json_object *ev;

	p->failed++;
	if (f) {
		snprintf(f->text, len, "%s: %s", url, why);
		f->next = NULL;
		*p->fail_tail = f;
		p->fail_tail = &f->next;
	}
	if (p->o.json) {
		ev = event("failed", url, name);
		json_object_object_add(ev, "reason", jstr(why));
		if (status)
			json_object_object_add(ev, "status", json_object_new_int64(status));
		json_object_object_add(ev, "retries", json_object_new_int((int)retries));
		emit(ev);
	}
	if (!p->o.quiet && !p->o.json) {
		clear_display(p);
		fprintf(stderr, "%sFAILED%s %s: %s\n",
			p->o.color ? "\033[1;31m" : "",
			p->o.color ? "\033[0m" : "", url, why);
	}
}

void get_progress_tick(struct get_progress *p, const struct get_active *a,
		       size_t n)
{
	uint64_t bytes = p->bytes, left_bytes = 0;
	unsigned long finished = p->done + p->failed + p->skipped;
	double now = now_s(), el = now - p->t0, left = -1;
	bool sizes_known = true;
	char b[32], r[32], eta[32] = "--:--", tot[32] = "?";
	size_t i, shown = n < 5 ? n : 5;
	const char *bold = p->o.color ? "\033[1m" : "";
	const char *red = p->o.color ? "\033[31m" : "";
	const char *reset = p->o.color ? "\033[0m" : "";

	if (!p->o.tty || p->o.quiet)
		return;
	for (i = 0; i < n; i++) {
		bytes += a[i].done;
		if (a[i].total >= 0 && (uint64_t)a[i].total >= a[i].done)
			left_bytes += (uint64_t)a[i].total - a[i].done;
		else
			sizes_known = false;
	}
	if (now > p->last_t && bytes >= p->last_bytes) {
		double inst = (bytes - p->last_bytes) / (now - p->last_t);

		p->rate = p->rate > 0 ? 0.7 * p->rate + 0.3 * inst : inst;
	}
	p->last_t = now;
	p->last_bytes = bytes;
	if (p->total >= 0) {
		long rest = p->total - (long)finished;

		snprintf(tot, sizeof(tot), "%ld", p->total);
		/*
		 * The last files are all in flight with known sizes: count
		 * bytes.  Otherwise count files at the pace so far.
		 */
		if (rest == (long)n && sizes_known && p->rate > 0)
			left = left_bytes / p->rate;
		else if (finished > 0 && rest >= 0)
			left = el / finished * rest;
		if (left >= 0)
			get_format_eta(left, eta, sizeof(eta));
	}
	get_format_bytes(bytes, b, sizeof(b));
	get_format_bytes((uint64_t)p->rate, r, sizeof(r));
	clear_display(p);
	fprintf(stderr, "%s%lu/%s done%s, %s%lu failed%s, %s, %s/s, ETA %s",
		bold, p->done + p->skipped, tot, reset,
		p->failed ? red : "", p->failed, p->failed ? reset : "",
		b, r, eta);
	p->drawn = 1;
	for (i = 0; i < shown; i++) {
		char d[32], t[32] = "?";

		get_format_bytes(a[i].done, d, sizeof(d));
		if (a[i].total >= 0)
			get_format_bytes((uint64_t)a[i].total, t, sizeof(t));
		fprintf(stderr, "\n  %.50s  %s / %s", a[i].name, d, t);
		p->drawn++;
	}
	if (n > shown) {
		fprintf(stderr, "\n  ... and %zu more", n - shown);
		p->drawn++;
	}
	fflush(stderr);
}

unsigned long get_progress_finish(struct get_progress *p)
{
	double el = now_s() - p->t0;
	struct failure *f;
	json_object *ev;
	char b[32];

	clear_display(p);
	if (p->o.json) {
		ev = event("summary", NULL, NULL);
		json_object_object_add(ev, "done", json_object_new_int64((int64_t)p->done));
		json_object_object_add(ev, "skipped", json_object_new_int64((int64_t)p->skipped));
		json_object_object_add(ev, "failed", json_object_new_int64((int64_t)p->failed));
		json_object_object_add(ev, "replaced", json_object_new_int64((int64_t)p->replaced));
		json_object_object_add(ev, "bytes", json_object_new_int64((int64_t)p->bytes));
		json_object_object_add(ev, "seconds", json_object_new_double(el));
		/* Flushed by the caller, which keeps the error of it. */
		emit(ev);
	}
	if (!p->o.quiet && !p->o.json) {
		get_format_bytes(p->bytes, b, sizeof(b));
		if (p->replaced)
			fprintf(stderr, "%lu done (%lu replaced), %lu skipped, "
				"%lu failed; %s in %.1f s\n", p->done,
				p->replaced, p->skipped, p->failed, b, el);
		else
			fprintf(stderr, "%lu done, %lu skipped, %lu failed; "
				"%s in %.1f s\n", p->done, p->skipped,
				p->failed, b, el);
	}
	if (p->failed) {
		fprintf(stderr, "%s%lu failed:%s\n", p->o.color ? "\033[1;31m" : "",
			p->failed, p->o.color ? "\033[0m" : "");
		for (f = p->fail_head; f; f = f->next)
			fprintf(stderr, "  %s\n", f->text);
	}
	return p->failed;
}
