/* SPDX-License-Identifier: MIT */
/*
 * `ringpool serve`: the pieces that do not touch a socket (request paths,
 * content types, ranges, dates), which tests/serve/ links directly.
 */
#ifndef RINGPOOL_CLI_SERVE_H
#define RINGPOOL_CLI_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/*
 * A string built in p[cap], kept NUL-terminated and cut when full: response
 * headers, entity tags and dates are made for every response, and these
 * plain copies cost a fraction of snprintf()'s parsing of a format.
 */
struct sbuf {
	char *p;
	size_t n, cap;
};

static inline void sb_put(struct sbuf *b, const char *s, size_t len)
{
	size_t room;

	if (!b->cap)
		return;
	room = b->cap - 1 - b->n;
	if (len > room)
		len = room;
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

static inline void sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* `v` in base `base` (10 or 16), at least `width` digits. */
static inline void sb_num(struct sbuf *b, uint64_t v, unsigned base,
			  size_t width)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v || sizeof(d) - i < width);
	sb_put(b, d + i, sizeof(d) - i);
}

/*
 * Maps the path of a request target (`path`, `len` bytes, percent-encoded,
 * starting with '/') to a path relative to the served folder, written to
 * `out` ("." for the folder itself, else segments joined by '/', never
 * starting with '/' and never holding "." or ".." segments).  "." and
 * empty segments are dropped and ".." removes the segment before it.
 * `*dir_slash` tells whether the path names a folder: it ended with '/'
 * (or "%2F"), or with a "." or ".." segment ("/a/b/." is "/a/b/", RFC
 * 3986, 5.2.4).
 *
 * Returns 0; -EINVAL for a path that does not start with '/', a bad
 * percent escape or a NUL byte; -EPERM for a ".." that would leave the
 * folder; -EACCES for a segment starting with '.' when `dotfiles` is false;
 * -ENAMETOOLONG when the result does not fit `out_len`.
 */
int serve_map_path(const char *path, size_t len, bool dotfiles, char *out,
		   size_t out_len, bool *dir_slash);

/*
 * The Location of a folder's address with the final '/': `rel` as
 * serve_map_path() made it ("." for the served folder), percent-encoded
 * (all but unreserved bytes and '/'), after a '/' and before a '/'.  Made
 * from the cleaned path, never from the request's own bytes, so that a
 * target such as "//evil.example/../docs" cannot make it "//evil.example/...",
 * which a browser takes for another host.  Then the request's query
 * (`query_len` bytes, none when 0) after a '?', as nginx keeps it, its
 * bytes other than printable ASCII percent-encoded, when all of it fits.
 * Cut to fit `out_len`.
 */
void serve_dir_location(const char *rel, const char *query, size_t query_len,
			char *out, size_t out_len);

/* The Content-Type for a file name, from its extension. */
const char *serve_content_type(const char *name);

/* One byte range of a file: `count` bytes from `start`. */
struct serve_range {
	uint64_t start, count;
};

/* The most ranges one request gets as parts of a multipart response. */
#define SERVE_MAX_RANGES 16

/*
 * Reads a Range header value against a file of `size` bytes.  Returns the
 * number n >= 1 of its satisfiable ranges, in r[0..n) in the order asked
 * (those with no byte in the file are left out); 0 when the header is to
 * be ignored and the whole file sent (not a bytes range, malformed, a
 * suffix range of an empty file, or more than `max` satisfiable ranges,
 * or ranges that overlap, which RFC 9110, 14.2 lets a server decline:
 * together they would ask for more than the file); -ERANGE when no byte
 * of any of its ranges lies in the file (416).
 */
int serve_parse_range(const char *value, uint64_t size,
		      struct serve_range *r, unsigned max);

/*
 * The entity tag of a file version: its modification time (to the
 * nanosecond) and size, and the content coding of a precompressed copy
 * (`coding`, or NULL for the file itself), quoted, in `out` (64 bytes is
 * enough).
 */
void serve_etag(int64_t mtime_s, long mtime_ns, uint64_t size,
		const char *coding, char *out, size_t out_len);

/* Content codings the server can send from precompressed copies. */
enum serve_coding {
	SERVE_ENC_BR = 1u << 0,		/* NAME.br */
	SERVE_ENC_GZIP = 1u << 1,	/* NAME.gz */
	SERVE_ENC_ALL = SERVE_ENC_BR | SERVE_ENC_GZIP,
};

/*
 * Whether an Expect value (RFC 9110, 10.1.1: a comma-separated list)
 * holds "100-continue", in any case, without a value of its own.
 */
bool serve_expects_continue(const char *value);
/*
 * Whether a request's Transfer-Encoding list (all its lines, joined with
 * commas) can be served: 0 for chunked alone, 400 for chunked more than
 * once or not at all, 501 for any other coding (RFC 9112, 6.1).
 */
int serve_te_check(const char *value);

/*
 * The codings (SERVE_ENC_*) that an Accept-Encoding value accepts (RFC 9110,
 * 12.5.3): those it lists with a weight above 0 ("x-gzip" is "gzip"), and,
 * when it holds "*" with a weight above 0, those it does not list.  An
 * element with a malformed weight is ignored.
 */
unsigned serve_accepted_codings(const char *value);

/*
 * Whether an If-None-Match or If-Match value (`*`, or a comma-separated
 * list of entity tags) lists `etag`: with `weak`, by the weak comparison
 * (RFC 9110, 8.8.3.2: "W/" ignored), else by the strong one, which no weak
 * tag passes (If-Match).
 */
bool serve_etag_listed(const char *list, const char *etag, bool weak);

/* An HTTP date (IMF-fixdate, RFC 9110) of `t`, in `out` (30 bytes or more). */
void serve_http_date(time_t t, char *out, size_t out_len);

/*
 * Parses an HTTP date in any of the three forms RFC 9110 (5.6.7) has a
 * recipient take: IMF-fixdate, the obsolete RFC 850 form (a two-digit year
 * more than 50 years ahead is the century before) and asctime()'s.
 * Returns 0 with *t set, or -EINVAL.
 */
int serve_parse_http_date(const char *s, time_t *t);

/* The most entries a folder listing shows; it says how many it left out. */
#define SERVE_LIST_MAX 10000

/*
 * An HTML page listing the folder open at `dirfd` (which it does not
 * close), titled "Index of `title`": a "../" link unless `title` is "/",
 * then folders (with a '/') and then other entries, each sorted by name
 * (byte order), with modification time (UTC) and size.  Names starting
 * with '.' are left out unless `dotfiles`, as are entries that cannot be
 * stat()ed (a dangling link).  Names are escaped for HTML and
 * percent-encoded in links.  Returns 0 with the page in *page (malloc()ed,
 * *len bytes), or -errno (-ENOMEM, or what reading the folder gave).
 */
int serve_list_folder(int dirfd, const char *title, bool dotfiles,
		      char **page, size_t *len);

#endif
