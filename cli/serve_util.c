/* SPDX-License-Identifier: MIT */
/* `ringpool serve`: request paths, content types, ranges and dates. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "serve.h"

int serve_map_path(const char *path, size_t len, bool dotfiles, char *out,
		   size_t out_len, bool *dir_slash)
{
	/* Where each kept segment starts in `out`, to drop one on "..". */
	size_t starts[256], depth = 0, n = 0, i = 0;

	if (!len || path[0] != '/' || out_len < 2)
		return -EINVAL;
	*dir_slash = path[len - 1] == '/';
	while (i < len) {
		char seg[256];
		size_t sl = 0;

		while (i < len && path[i] == '/')
			i++;
		/* One segment, decoded; an encoded '/' ends it as a '/' would. */
		while (i < len && path[i] != '/') {
			char c = path[i++];

			if (c == '%') {
				int hi, lo;

				if (i + 2 > len || (hi = cli_hexval(path[i])) < 0 ||
				    (lo = cli_hexval(path[i + 1])) < 0)
					return -EINVAL;
				c = (char)(hi << 4 | lo);
				i += 2;
				if (c == '/') {
					/* Last: the path ends with a '/'. */
					*dir_slash |= i == len;
					break;
				}
			}
			if (c == '\0')
				return -EINVAL;
			if (sl + 1 >= sizeof(seg))
				return -ENAMETOOLONG;
			seg[sl++] = c;
		}
		/*
		 * A path ending in a "." or ".." segment names a folder, as
		 * one ending with '/': "/a/b/." is "/a/b/" (RFC 3986, 5.2.4).
		 */
		if (i == len && sl && seg[0] == '.' &&
		    (sl == 1 || (sl == 2 && seg[1] == '.')))
			*dir_slash = true;
		if (sl == 0 || (sl == 1 && seg[0] == '.'))
			continue;
		if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
			if (depth == 0)
				return -EPERM;
			n = starts[--depth];
			continue;
		}
		if (seg[0] == '.' && !dotfiles)
			return -EACCES;
		if (depth == sizeof(starts) / sizeof(starts[0]))
			return -ENAMETOOLONG;
		starts[depth++] = n;
		/* The separator (after the first segment) and the segment. */
		if (n + (n > 0) + sl + 1 > out_len)
			return -ENAMETOOLONG;
		if (n > 0)
			out[n++] = '/';
		memcpy(out + n, seg, sl);
		n += sl;
	}
	if (n == 0)
		out[n++] = '.';
	out[n] = '\0';
	return 0;
}

void serve_dir_location(const char *rel, const char *query, size_t query_len,
			char *out, size_t out_len)
{
	static const char hex[] = "0123456789ABCDEF";
	struct sbuf b = { out, 0, out_len };
	char e[3] = { '%' };
	size_t i, need;

	if (out_len)
		out[0] = '\0';
	sb_put(&b, "/", 1);
	if (!strcmp(rel, "."))
		rel = "";
	for (; *rel; rel++) {
		unsigned char ch = (unsigned char)*rel;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~/", ch)) {
			sb_put(&b, rel, 1);
			continue;
		}
		e[1] = hex[ch >> 4];
		e[2] = hex[ch & 15];
		sb_put(&b, e, 3);
	}
	if (b.n > 1)
		sb_put(&b, "/", 1);
	if (!query_len)
		return;
	/* A query cut short would be another query: all of it, or none. */
	for (i = 0, need = 1; i < query_len; i++)
		need += (unsigned char)query[i] > ' ' &&
				(unsigned char)query[i] < 0x7f ? 1 : 3;
	if (b.n + need >= out_len)
		return;
	sb_put(&b, "?", 1);
	for (i = 0; i < query_len; i++) {
		unsigned char ch = (unsigned char)query[i];

		if (ch > ' ' && ch < 0x7f) {
			sb_put(&b, query + i, 1);
			continue;
		}
		e[1] = hex[ch >> 4];
		e[2] = hex[ch & 15];
		sb_put(&b, e, 3);
	}
}

const char *serve_content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ "html", "text/html; charset=utf-8" },
		{ "htm", "text/html; charset=utf-8" },
		{ "css", "text/css; charset=utf-8" },
		{ "js", "text/javascript; charset=utf-8" },
		{ "mjs", "text/javascript; charset=utf-8" },
		{ "json", "application/json" },
		{ "txt", "text/plain; charset=utf-8" },
		{ "md", "text/markdown; charset=utf-8" },
		{ "csv", "text/csv; charset=utf-8" },
		{ "xml", "application/xml" },
		{ "svg", "image/svg+xml" },
		{ "png", "image/png" },
		{ "jpg", "image/jpeg" },
		{ "jpeg", "image/jpeg" },
		{ "gif", "image/gif" },
		{ "webp", "image/webp" },
		{ "avif", "image/avif" },
		{ "ico", "image/vnd.microsoft.icon" },
		{ "pdf", "application/pdf" },
		{ "wasm", "application/wasm" },
		{ "zip", "application/zip" },
		{ "gz", "application/gzip" },
		{ "tar", "application/x-tar" },
		{ "mp4", "video/mp4" },
		{ "webm", "video/webm" },
		{ "mp3", "audio/mpeg" },
		{ "ogg", "audio/ogg" },
		{ "woff", "font/woff" },
		{ "woff2", "font/woff2" },
		{ "ttf", "font/ttf" },
		{ "otf", "font/otf" },
		{ "bmp", "image/bmp" },
		{ "tif", "image/tiff" },
		{ "tiff", "image/tiff" },
		{ "apng", "image/apng" },
		{ "mov", "video/quicktime" },
		{ "mkv", "video/x-matroska" },
		{ "m4a", "audio/mp4" },
		{ "wav", "audio/wav" },
		{ "flac", "audio/flac" },
		{ "opus", "audio/ogg" },
		{ "xz", "application/x-xz" },
		{ "bz2", "application/x-bzip2" },
		{ "zst", "application/zstd" },
		{ "7z", "application/x-7z-compressed" },
		{ "iso", "application/x-iso9660-image" },
	};
	const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');
	char ext[8];
	size_t i, n;

	if (!dot || (slash && dot < slash))
		return "application/octet-stream";
	/*
	 * Lower-cased once, then compared byte for byte: every response looks
	 * its type up, and 30 strcasecmp() calls for a name the table does not
	 * have were 1.5% of the server's CPU time.
	 */
	for (n = 0; dot[1 + n]; n++) {
		if (n == sizeof(ext) - 1)
			return "application/octet-stream";	/* none so long */
		ext[n] = (char)tolower((unsigned char)dot[1 + n]);
	}
	ext[n] = '\0';
	for (i = 0; n && i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].ext[0] == ext[0] && !strcmp(ext, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/*
 * A decimal number at *p; advances *p past it.  One past UINT64_MAX is
 * UINT64_MAX: as a range's bound it means the same (no file is that
 * large), so "bytes=0-99999999999999999999" is the whole file and
 * "bytes=99999999999999999999-" none of it, not a malformed header (RFC
 * 9110, 14.1.1, has a recipient anticipate large numerals).
 */
static bool read_u64(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	size_t n = 0;

	while (*s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s++ - '0');

		n++;
		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
	}
	if (!n)
		return false;
	*v = x;
	*p = s;
	return true;
}

/*
 * One range-spec at *p, against a file of `size` bytes: its first and last
 * byte in *a and *b, cut to the file; *none when no byte of it lies in the
 * file, *empty for a suffix range of an empty file.  False when malformed.
 */
static bool read_range_spec(const char **p, uint64_t size, uint64_t *a,
			    uint64_t *b, bool *none, bool *empty)
{
	*empty = false;
	if (**p == '-') {
		/* The last N bytes. */
		(*p)++;
		if (!read_u64(p, b))
			return false;
		/*
		 * Of an empty file, the last N > 0 bytes are satisfiable (RFC
		 * 9110, 14.1.2: "When a selected representation has zero
		 * length, the only satisfiable form of range-spec in a GET
		 * request is a suffix-range with a non-zero suffix-length"),
		 * so not 416; yet no Content-Range can describe none of its
		 * bytes.  14.2 lets a server ignore a Range on a representation
		 * with no content: the whole, empty, file goes out, as nginx
		 * sends it.
		 */
		*empty = !size && *b;
		*a = *b >= size ? 0 : size - *b;
		*b = size ? size - 1 : 0;
		*none = !size || *b < *a;
		return true;
	}
	if (!read_u64(p, a) || *(*p)++ != '-')
		return false;
	if (**p >= '0' && **p <= '9') {
		if (!read_u64(p, b) || *b < *a)
			return false;
	} else {
		*b = UINT64_MAX;
	}
	*none = *a >= size;
	if (*b >= size)
		*b = size - 1;
	return true;
}

static void skip_ows(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

/* Whether two of the ranges r[0..n) share a byte. */
static bool ranges_overlap(const struct serve_range *r, unsigned n)
{
	unsigned i, j;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (r[i].start < r[j].start + r[j].count &&
			    r[j].start < r[i].start + r[i].count)
				return true;
	return false;
}

int serve_parse_range(const char *value, uint64_t size,
		      struct serve_range *r, unsigned max)
{
	const char *p = value;
	bool none, empty, any_empty = false, too_many = false;
	unsigned specs = 0, n = 0;

	skip_ows(&p);
	if (strncasecmp(p, "bytes=", 6))
		return 0;
	p += 6;
	/*
	 * A list of range-specs, commas between (empty elements allowed, as
	 * in every list of RFC 9110, 5.6.1).  A malformed one makes the whole
	 * header ignored.
	 */
	for (;;) {
		uint64_t x, y;

		skip_ows(&p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (!*p)
			break;
		if (!read_range_spec(&p, size, &x, &y, &none, &empty))
			return 0;
		specs++;
		any_empty |= empty;
		if (!none && n < max) {
			r[n].start = x;
			r[n].count = y - x + 1;
			n++;
		} else if (!none) {
			too_many = true;
		}
		skip_ows(&p);
		if (*p && *p != ',')
			return 0;
	}
	if (!specs || any_empty)
		return 0;
	/* 416 when no range has a byte in the file, however many there are. */
	if (!n && !too_many)
		return -ERANGE;
	if (too_many || ranges_overlap(r, n))
		return 0;
	return (int)n;
}

void serve_etag(int64_t mtime_s, long mtime_ns, uint64_t size,
		const char *coding, char *out, size_t out_len)
{
	struct sbuf b = { out, 0, out_len };

	if (out_len)
		out[0] = '\0';
	sb_put(&b, "\"", 1);
	sb_num(&b, (uint64_t)mtime_s, 16, 1);
	sb_put(&b, ".", 1);
	sb_num(&b, (unsigned long)mtime_ns, 16, 1);
	sb_put(&b, "-", 1);
	sb_num(&b, size, 16, 1);
	if (coding) {
		sb_put(&b, "-", 1);
		sb_str(&b, coding);
	}
	sb_put(&b, "\"", 1);
}

/*
 * The weight of one Accept-Encoding element from its parameters at `p` (up
 * to the next ',' or the end): 1 accepted, 0 refused (q=0), -1 malformed.
 */
static int coding_weight(const char *p)
{
	int w = 1;

	while (*p && *p != ',') {
		if (*p == ';' || *p == ' ' || *p == '\t') {
			p++;
			continue;
		}
		if ((*p == 'q' || *p == 'Q') && p[1] == '=') {
			char *end;
			double q;

			p += 2;
			if (*p < '0' || *p > '9')
				return -1;
			q = strtod(p, &end);
			if (end == p || q > 1)
				return -1;
			w = q > 0;
			p = end;
			continue;
		}
		/* Some other parameter: skip it. */
		while (*p && *p != ',' && *p != ';')
			p++;
	}
	return w;
}

unsigned serve_accepted_codings(const char *v)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "br", SERVE_ENC_BR },
		{ "gzip", SERVE_ENC_GZIP },
		{ "x-gzip", SERVE_ENC_GZIP },
	};
	unsigned yes = 0, listed = 0, star = 0;

	while (*v) {
		const char *tok;
		size_t len, i;
		int w;

		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		tok = v;
		while (*v && *v != ',' && *v != ';' && *v != ' ' && *v != '\t')
			v++;
		len = (size_t)(v - tok);
		w = coding_weight(v);
		while (*v && *v != ',')
			v++;
		if (!len || w < 0)
			continue;
		if (len == 1 && *tok == '*') {
			star = w ? SERVE_ENC_ALL : 0;
			continue;
		}
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (strlen(names[i].name) == len &&
			    !strncasecmp(tok, names[i].name, len)) {
				listed |= names[i].bit;
				if (w)
					yes |= names[i].bit;
			}
		}
	}
	return yes | (star & ~listed);
}

/*
 * The next element of a comma-separated header list (RFC 9110, 5.6.1) at
 * *v, without the whitespace around it (empty elements are skipped); *v
 * moves past it.  False at the end of the list.
 */
static bool list_next(const char **v, const char **tok, size_t *len)
{
	const char *p = *v;
	size_t n;

	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	if (!*p)
		return false;
	*tok = p;
	while (*p && *p != ',')
		p++;
	n = (size_t)(p - *tok);
	while (n && ((*tok)[n - 1] == ' ' || (*tok)[n - 1] == '\t'))
		n--;
	*len = n;
	*v = p;
	return true;
}

bool serve_expects_continue(const char *v)
{
	static const char want[] = "100-continue";
	const char *tok;
	size_t len;

	while (list_next(&v, &tok, &len))
		if (len == sizeof(want) - 1 && !strncasecmp(tok, want, len))
			return true;
	return false;
}

int serve_te_check(const char *v)
{
	unsigned chunked = 0, other = 0;
	const char *tok;
	size_t len;

	while (list_next(&v, &tok, &len)) {
		const char *semi = memchr(tok, ';', len);

		/* A coding's parameters do not change which coding it is. */
		if (semi)
			for (len = (size_t)(semi - tok);
			     len && (tok[len - 1] == ' ' || tok[len - 1] == '\t');
			     len--)
				;
		if (len == 7 && !strncasecmp(tok, "chunked", 7))
			chunked++;
		else
			other++;
	}
	if (chunked != 1)
		return 400;
	return other ? 501 : 0;
}

bool serve_etag_listed(const char *list, const char *etag, bool weak)
{
	size_t el = strlen(etag);
	const char *p = list;

	while (*p) {
		const char *start;
		bool is_weak = false;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (!strncmp(p, "W/", 2)) {
			p += 2;
			is_weak = true;
		}
		start = p;
		if (*p == '"') {
			p = strchr(p + 1, '"');
			if (!p)
				return false;
			p++;
		} else {
			while (*p && *p != ',' && *p != ' ' && *p != '\t')
				p++;
		}
		if ((size_t)(p - start) == el && !strncmp(start, etag, el) &&
		    (weak || !is_weak))
			return true;
	}
	return false;
}

static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed",
				     "Thu", "Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
				      "May", "Jun", "Jul", "Aug",
				      "Sep", "Oct", "Nov", "Dec" };

void serve_http_date(time_t t, char *out, size_t out_len)
{
	struct sbuf b = { out, 0, out_len };
	struct tm tm;

	if (out_len)
		out[0] = '\0';
	if (!gmtime_r(&t, &tm) || tm.tm_year < -1900) {
		sb_put(&b, "Thu, 01 Jan 1970 00:00:00 GMT", 29);
		return;
	}
	/* "%s, %02d %s %04d %02d:%02d:%02d GMT" */
	sb_put(&b, wdays[tm.tm_wday], 3);
	sb_put(&b, ", ", 2);
	sb_num(&b, (uint64_t)tm.tm_mday, 10, 2);
	sb_put(&b, " ", 1);
	sb_put(&b, months[tm.tm_mon], 3);
	sb_put(&b, " ", 1);
	sb_num(&b, (uint64_t)(tm.tm_year + 1900), 10, 4);
	sb_put(&b, " ", 1);
	sb_num(&b, (uint64_t)tm.tm_hour, 10, 2);
	sb_put(&b, ":", 1);
	sb_num(&b, (uint64_t)tm.tm_min, 10, 2);
	sb_put(&b, ":", 1);
	sb_num(&b, (uint64_t)tm.tm_sec, 10, 2);
	sb_put(&b, " GMT", 4);
}

/* The year of an RFC 850 date's two digits (RFC 9110, 5.6.7). */
static int rfc850_year(int yy)
{
	time_t now = time(NULL);
	struct tm tm;
	int year, this_year = 1970;

	if (gmtime_r(&now, &tm))
		this_year = tm.tm_year + 1900;
	/*
	 * The year with those last two digits in this century, or, when that
	 * is more than 50 years ahead, the one a century before.
	 */
	year = this_year - this_year % 100 + yy;
	if (year > this_year + 50)
		year -= 100;
	return year;
}

/* Whether `s` is a day's full name, as an RFC 850 date has it. */
static bool long_wday(const char *s)
{
	static const char *const names[] = { "Sunday", "Monday", "Tuesday",
					     "Wednesday", "Thursday",
					     "Friday", "Saturday" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i]))
			return true;
	return false;
}

int serve_parse_http_date(const char *s, time_t *t)
{
	char wd[10], mon[4], gmt[4];
	struct tm tm = { 0 };
	int day, year, h, m, sec, used = 0, i;
	bool ok;

	/*
	 * RFC 9110, 5.6.7: a recipient must take all three forms.  The
	 * IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"; ...
	 */
	ok = sscanf(s, "%3[A-Za-z], %d %3[A-Za-z] %d %d:%d:%d %3s%n", wd, &day,
		    mon, &year, &h, &m, &sec, gmt, &used) == 8 &&
	     s[used] == '\0' && strlen(wd) == 3 && !strcmp(gmt, "GMT");
	if (!ok) {
		/* ... the obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT"; */
		used = 0;
		ok = sscanf(s, "%9[A-Za-z], %2d-%3[A-Za-z]-%2d %d:%d:%d %3s%n",
			    wd, &day, mon, &year, &h, &m, &sec, gmt,
			    &used) == 8 &&
		     s[used] == '\0' && !strcmp(gmt, "GMT") && long_wday(wd) &&
		     year >= 0;
		if (ok)
			year = rfc850_year(year);
	}
	if (!ok) {
		/* ... and asctime()'s "Sun Nov  6 08:49:37 1994". */
		used = 0;
		ok = sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %d:%d:%d %4d%n", wd,
			    mon, &day, &h, &m, &sec, &year, &used) == 7 &&
		     s[used] == '\0' && strlen(wd) == 3;
	}
	if (!ok)
		return -EINVAL;
	for (i = 0; i < 12 && strcmp(mon, months[i]); i++)
		;
	if (i == 12 || day < 1 || day > 31 || year < 1970 || h > 23 ||
	    m > 59 || sec > 60 || h < 0 || m < 0 || sec < 0)
		return -EINVAL;
	tm.tm_mday = day;
	tm.tm_mon = i;
	tm.tm_year = year - 1900;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	*t = timegm(&tm);
	return 0;
}

/* ---- folder listings ------------------------------------------------------ */

struct entry {
	char *name;
	bool dir;
	time_t mtime;
	uint64_t size;
};

/* A growing buffer; `failed` once an allocation failed. */
struct page {
	char *p;
	size_t len, cap;
	bool failed;
};

static void put(struct page *pg, const char *s, size_t n)
{
	if (pg->failed)
		return;
	if (pg->cap - pg->len <= n) {
		size_t cap = pg->cap ? pg->cap : 4096;
		char *p;

		while (cap - pg->len <= n)
			cap *= 2;
		p = realloc(pg->p, cap);
		if (!p) {
			pg->failed = true;
			return;
		}
		pg->p = p;
		pg->cap = cap;
	}
	memcpy(pg->p + pg->len, s, n);
	pg->len += n;
	pg->p[pg->len] = '\0';
}

static void puts_(struct page *pg, const char *s)
{
	put(pg, s, strlen(s));
}

/* `s` as HTML text. */
static void put_html(struct page *pg, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': puts_(pg, "&amp;"); break;
		case '<': puts_(pg, "&lt;"); break;
		case '>': puts_(pg, "&gt;"); break;
		case '"': puts_(pg, "&quot;"); break;
		case '\'': puts_(pg, "&#39;"); break;
		default: put(pg, s, 1);
		}
	}
}

/* `s` as a relative link: unreserved bytes as they are, others %XX. */
static void put_href(struct page *pg, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3] = { '%' };

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			put(pg, s, 1);
			continue;
		}
		e[1] = hex[ch >> 4];
		e[2] = hex[ch & 15];
		put(pg, e, 3);
	}
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->dir != y->dir)
		return x->dir ? -1 : 1;
	return strcmp(x->name, y->name);
}

int serve_list_folder(int dirfd, const char *title, bool dotfiles,
		      char **out, size_t *out_len)
{
	struct entry *ents = NULL;
	size_t n = 0, cap = 0, more = 0, i;
	struct page pg = { 0 };
	struct dirent *d;
	int fd, ret = 0;
	DIR *dir;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		ret = -errno;
		close(fd);
		return ret;
	}
	for (;;) {
		struct stat st;

		errno = 0;
		d = readdir(dir);
		if (!d) {
			ret = -errno;
			break;
		}
		if (d->d_name[0] == '.' &&
		    (!dotfiles || !d->d_name[1] ||
		     (d->d_name[1] == '.' && !d->d_name[2])))
			continue;
		if (fstatat(dirfd, d->d_name, &st, 0) < 0)
			continue;
		if (n == SERVE_LIST_MAX) {
			more++;
			continue;
		}
		if (n == cap) {
			struct entry *e = realloc(ents, (cap = cap ? cap * 2 : 64) *
							  sizeof(*e));

			if (!e) {
				ret = -ENOMEM;
				break;
			}
			ents = e;
		}
		ents[n].name = strdup(d->d_name);
		if (!ents[n].name) {
			ret = -ENOMEM;
			break;
		}
		ents[n].dir = S_ISDIR(st.st_mode);
		ents[n].mtime = st.st_mtime;
		ents[n].size = (uint64_t)st.st_size;
		n++;
	}
	closedir(dir);
	if (!ret) {
		char line[96];

		if (n > 1)
			qsort(ents, n, sizeof(*ents), entry_cmp);
		puts_(&pg, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
			   "<title>Index of ");
		put_html(&pg, title);
		puts_(&pg, "</title></head>\n<body>\n<h1>Index of ");
		put_html(&pg, title);
		puts_(&pg, "</h1>\n<table>\n<tr><th>Name</th>"
			   "<th>Last modified (UTC)</th><th>Size</th></tr>\n");
		if (strcmp(title, "/"))
			puts_(&pg, "<tr><td><a href=\"../\">../</a></td>"
				   "<td></td><td></td></tr>\n");
		for (i = 0; i < n; i++) {
			struct tm tm;

			puts_(&pg, "<tr><td><a href=\"");
			put_href(&pg, ents[i].name);
			puts_(&pg, ents[i].dir ? "/\">" : "\">");
			put_html(&pg, ents[i].name);
			puts_(&pg, ents[i].dir ? "/</a></td>" : "</a></td>");
			gmtime_r(&ents[i].mtime, &tm);
			strftime(line, sizeof(line), "<td>%Y-%m-%d %H:%M</td>", &tm);
			puts_(&pg, line);
			if (ents[i].dir)
				snprintf(line, sizeof(line), "<td>-</td></tr>\n");
			else
				snprintf(line, sizeof(line), "<td>%llu</td></tr>\n",
					 (unsigned long long)ents[i].size);
			puts_(&pg, line);
		}
		puts_(&pg, "</table>\n");
		if (more) {
			snprintf(line, sizeof(line),
				 "<p>%zu more entries not shown.</p>\n", more);
			puts_(&pg, line);
		}
		puts_(&pg, "</body></html>\n");
		if (pg.failed)
			ret = -ENOMEM;
	}
	for (i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	if (ret) {
		free(pg.p);
		return ret;
	}
	*out = pg.p;
	*out_len = pg.len;
	return 0;
}
