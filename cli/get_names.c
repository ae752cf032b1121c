/* SPDX-License-Identifier: MIT */
/*
 * File names for `ringpool get`: derived from the URL path only, never from
 * response headers (Content-Disposition) or anything else the server
 * controls beyond the URL, and made safe so that no name leaves the output
 * folder or hides in it (no '/', no "..", no leading dot, no control
 * character, no name longer than GET_NAME_MAX).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "get.h"

void get_name_sanitize(const char *in, size_t len, char *out)
{
	size_t i = 0, o = 0;

	while (i < len && (in[i] == '.' || in[i] == ' ' || in[i] == '\t'))
		i++;
	for (; i < len && o < GET_NAME_MAX; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			c = '_';
		out[o++] = (char)c;
	}
	/*
	 * Cut at a character boundary: if the last bytes kept start a UTF-8
	 * sequence that the cut left incomplete, drop them.
	 */
	if (i < len && o > 0) {
		size_t start = o;

		while (start > 0 && ((unsigned char)out[start - 1] & 0xc0) == 0x80)
			start--;
		if (start > 0 && (unsigned char)out[start - 1] >= 0xc0) {
			unsigned char lead = (unsigned char)out[start - 1];
			size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;

			if (o - (start - 1) < need)
				o = start - 1;
		}
	}
	out[o] = '\0';
}

bool get_name_is_safe(const char *name)
{
	char buf[GET_NAME_MAX + 1];
	size_t len = strlen(name);

	if (len == 0 || len > GET_NAME_MAX)
		return false;
	get_name_sanitize(name, len, buf);
	return strcmp(buf, name) == 0;
}

void get_name_from_url(const char *url, char *out)
{
	const char *p = url, *end, *seg, *s;
	char decoded[GET_NAME_MAX * 3 + 1];
	size_t n = 0;

	/* Skip "scheme://authority"; a URL without it is all path. */
	s = strstr(p, "://");
	if (s) {
		p = s + 3;
		p += strcspn(p, "/?#");
	}
	end = p + strcspn(p, "?#");
	seg = end;
	while (seg > p && seg[-1] != '/')
		seg--;
	for (s = seg; s < end && n < sizeof(decoded) - 1; s++) {
		int hi, lo;

		if (*s == '%' && s + 2 < end && (hi = cli_hexval(s[1])) >= 0 &&
		    (lo = cli_hexval(s[2])) >= 0) {
			decoded[n++] = (char)(hi * 16 + lo);
			s += 2;
		} else {
			decoded[n++] = *s;
		}
	}
	/* A decoded NUL would end the name early: treat it as any control. */
	for (size_t i = 0; i < n; i++) {
		if (decoded[i] == '\0')
			decoded[i] = '_';
	}
	get_name_sanitize(decoded, n, out);
	if (!out[0])
		strcpy(out, "index.html");
}

/* ---- the set of names given out ---------------------------------------- */

static uint64_t name_hash(const char *s, const char *suffix)
{
	/* FNV-1a, then a final mix so that the low bits index well. */
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	for (; suffix && *suffix; suffix++)
		h = (h ^ (unsigned char)*suffix) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h ? h : 1;	/* 0 marks an empty slot */
}

static void table_free(struct get_table *t)
{
	free(t->keys);
	free(t->vals);
	memset(t, 0, sizeof(*t));
}

/* The slot of `h`: where it is, or the empty slot where it would go. */
static size_t table_find(const struct get_table *t, uint64_t h)
{
	size_t i = h & (t->cap - 1);

	while (t->keys[i] && t->keys[i] != h)
		i = (i + 1) & (t->cap - 1);
	return i;
}

static bool table_get(const struct get_table *t, uint64_t h, uint64_t *val)
{
	size_t i;

	if (!t->cap)
		return false;
	i = table_find(t, h);
	if (!t->keys[i])
		return false;
	if (val)
		*val = t->vals ? t->vals[i] : 0;
	return true;
}

/* Makes room for one more key; keeps the load under one half. */
static int table_reserve(struct get_table *t, bool with_vals)
{
	struct get_table old = *t;
	size_t cap = t->cap ? t->cap : 1024, i;

	if ((t->used + 1) * 2 <= t->cap)
		return 0;
	while ((t->used + 1) * 2 > cap)
		cap *= 2;
	t->keys = calloc(cap, sizeof(*t->keys));
	t->vals = with_vals ? calloc(cap, sizeof(*t->vals)) : NULL;
	if (!t->keys || (with_vals && !t->vals)) {
		free(t->keys);
		free(t->vals);
		*t = old;
		return -ENOMEM;
	}
	t->cap = cap;
	for (i = 0; i < old.cap; i++) {
		if (old.keys[i]) {
			size_t j = table_find(t, old.keys[i]);

			t->keys[j] = old.keys[i];
			if (with_vals)
				t->vals[j] = old.vals[i];
		}
	}
	free(old.keys);
	free(old.vals);
	return 0;
}

static int table_put(struct get_table *t, uint64_t h, uint64_t val,
		     bool with_vals)
{
	int ret = table_reserve(t, with_vals);
	size_t i;

	if (ret < 0)
		return ret;
	i = table_find(t, h);
	if (!t->keys[i]) {
		t->keys[i] = h;
		t->used++;
	}
	if (with_vals)
		t->vals[i] = val;
	return 0;
}

void get_names_init(struct get_names *s)
{
	memset(s, 0, sizeof(*s));
}

void get_names_free(struct get_names *s)
{
	table_free(&s->taken);
	table_free(&s->next);
}

/*
 * Whether `name` may be given out: neither it nor its ".part" twin is
 * taken, and it is not the ".part" of a name that is, so that "x.part"
 * from one URL never shares a file with the download of "x" from another.
 */
static bool name_free(const struct get_names *s, const char *name)
{
	size_t len = strlen(name), pl = strlen(".part");
	char stem[GET_NAME_MAX + 16];

	if (table_get(&s->taken, name_hash(name, NULL), NULL) ||
	    table_get(&s->taken, name_hash(name, ".part"), NULL))
		return false;
	if (len > pl && len - pl < sizeof(stem) &&
	    !strcmp(name + len - pl, ".part")) {
		memcpy(stem, name, len - pl);
		stem[len - pl] = '\0';
		if (table_get(&s->taken, name_hash(stem, NULL), NULL))
			return false;
	}
	return true;
}

int get_names_claim(struct get_names *s, const char *base, char *out)
{
	uint64_t bh = name_hash(base, NULL), n = 1;
	int ret;

	snprintf(out, GET_NAME_MAX + 16, "%s", base);
	if (!name_free(s, out)) {
		/* Every suffix below the remembered one is taken already. */
		table_get(&s->next, bh, &n);
		for (;; n++) {
			snprintf(out, GET_NAME_MAX + 16, "%s.%llu", base,
				 (unsigned long long)n);
			if (name_free(s, out))
				break;
		}
		ret = table_put(&s->next, bh, n + 1, true);
		if (ret < 0)
			return ret;
	}
	return table_put(&s->taken, name_hash(out, NULL), 0, false);
}
