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

#include "get.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

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

		if (*s == '%' && s + 2 < end && (hi = hexval(s[1])) >= 0 &&
		    (lo = hexval(s[2])) >= 0) {
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

void get_names_init(struct get_names *s)
{
	s->slots = NULL;
	s->cap = 0;
	s->used = 0;
}

void get_names_free(struct get_names *s)
{
	free(s->slots);
	get_names_init(s);
}

static bool names_has(const struct get_names *s, uint64_t h)
{
	size_t i;

	if (!s->cap)
		return false;
	for (i = h & (s->cap - 1); s->slots[i]; i = (i + 1) & (s->cap - 1)) {
		if (s->slots[i] == h)
			return true;
	}
	return false;
}

static void names_put(struct get_names *s, uint64_t h)
{
	size_t i = h & (s->cap - 1);

	while (s->slots[i] && s->slots[i] != h)
		i = (i + 1) & (s->cap - 1);
	if (!s->slots[i]) {
		s->slots[i] = h;
		s->used++;
	}
}

static int names_reserve(struct get_names *s, size_t more)
{
	uint64_t *old = s->slots;
	size_t old_cap = s->cap, cap = s->cap ? s->cap : 1024, i;

	/* Keep the load under one half so that probes stay short. */
	while ((s->used + more) * 2 > cap)
		cap *= 2;
	if (cap == old_cap)
		return 0;
	s->slots = calloc(cap, sizeof(*s->slots));
	if (!s->slots) {
		s->slots = old;
		return -ENOMEM;
	}
	s->cap = cap;
	s->used = 0;
	for (i = 0; i < old_cap; i++) {
		if (old[i])
			names_put(s, old[i]);
	}
	free(old);
	return 0;
}

int get_names_claim(struct get_names *s, const char *base, char *out)
{
	unsigned long n;
	int ret;

	ret = names_reserve(s, 2);
	if (ret < 0)
		return ret;
	/*
	 * A name is free when neither it nor its ".part" twin was given out,
	 * so that "x.part" from one URL never shares a file with the download
	 * of "x" from another.
	 */
	snprintf(out, GET_NAME_MAX + 16, "%s", base);
	for (n = 1;; n++) {
		if (!names_has(s, name_hash(out, NULL)) &&
		    !names_has(s, name_hash(out, ".part")))
			break;
		snprintf(out, GET_NAME_MAX + 16, "%s.%lu", base, n);
	}
	names_put(s, name_hash(out, NULL));
	names_put(s, name_hash(out, ".part"));
	return 0;
}
