/* SPDX-License-Identifier: MIT */
/*
 * The URL list of `ringpool get`, read one line at a time so that a list of
 * a million URLs costs one line buffer, not a million entries; and the
 * parsers of the command's option values.
 *
 * Sharding is by position: entry i (counting every URL of the input, in
 * order, arguments first) belongs to shard i mod N.  Every shard reads the
 * whole input and claims every entry's name, so a name and its collision
 * suffix are the same whichever machine downloads it.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "get.h"

void get_entry_clear(struct get_entry *e)
{
	free(e->url);
	free(e->name);
	e->url = NULL;
	e->name = NULL;
}

int get_parse_sha256(const char *hex, unsigned char sha[32])
{
	size_t i;

	if (strlen(hex) != 64)
		return -EINVAL;
	for (i = 0; i < 32; i++) {
		unsigned v;

		if (!isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		sha[i] = (unsigned char)v;
	}
	return 0;
}

/*
 * A URL to fetch: "http://" or "https://" (any case) and a host.  Nothing
 * else is fetched (rp_http refuses other schemes too), so a list that names
 * one is an input error, reported before anything is downloaded.  So is a
 * space or a control character, which libcurl would refuse only once the
 * run started, and which messages would echo to the terminal.
 */
static bool looks_like_url(const char *s)
{
	const char *p;
	size_t n;

	if (!strncasecmp(s, "http://", 7))
		n = 7;
	else if (!strncasecmp(s, "https://", 8))
		n = 8;
	else
		return false;
	for (p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return s[n] && s[n] != '/';
}

/* What is wrong with `s`, which looks_like_url() refused, in words. */
static const char *url_why(const char *s)
{
	if (strncasecmp(s, "http://", 7) && strncasecmp(s, "https://", 8))
		return "is not an http:// or https:// URL";
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return "holds a space or a control character "
			       "(percent-encode it)";
	return "is not an http:// or https:// URL";
}

/*
 * `in`, at most `max` bytes of it, fit to quote in a message: a space
 * stays, other control characters are written as \xNN, so that a list
 * cannot send escape sequences to the terminal.
 */
static const char *shown(const char *in, size_t max, char *out, size_t len)
{
	size_t i, o = 0;

	for (i = 0; in[i] && i < max && o + 5 < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < ' ' || c == 0x7f)
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

int get_parse_line(char *line, char **url, char **name, bool *has_sha,
		   unsigned char sha[32], char *why, size_t why_len)
{
	char *tok, *save = NULL, q[400];
	size_t len;

	*url = NULL;
	*name = NULL;
	*has_sha = false;
	/* The end of the line: LF or CR LF, and blanks before it. */
	len = strlen(line);
	while (len && strchr(" \t\r\n", line[len - 1]))
		len--;
	line[len] = '\0';
	/*
	 * A CR that is not part of the line's end: most likely a list with
	 * CR alone between lines, which would read as one line whose first
	 * URL is taken and the rest silently lost.
	 */
	if (strchr(line, '\r')) {
		snprintf(why, why_len, "a carriage return (CR) inside the line: "
			 "lines end with LF or CR LF, one URL a line");
		return -EINVAL;
	}
	for (tok = strtok_r(line, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (tok[0] == '#')
			break;
		if (!*url) {
			if (!looks_like_url(tok)) {
				snprintf(
					why, why_len,
					"'%s' %s", shown(tok, 80, q, sizeof(q)),
					url_why(tok));
				return -EINVAL;
			}
			*url = tok;
		} else if (!strncmp(tok, "name=", 5)) {
			if (*name) {
				snprintf(why, why_len, "name= given twice");
				return -EINVAL;
			}
			if (!get_name_is_safe(tok + 5)) {
				snprintf(why, why_len,
					 "name '%s' is not a plain file name "
					 "(no '/', no leading dot, no control "
					 "characters, at most %d bytes)",
					 shown(tok + 5, 80, q, sizeof(q)),
					 GET_NAME_MAX);
				return -EINVAL;
			}
			*name = tok + 5;
		} else if (!strncmp(tok, "sha256=", 7)) {
			if (*has_sha) {
				snprintf(why, why_len, "sha256= given twice");
				return -EINVAL;
			}
			if (get_parse_sha256(tok + 7, sha) < 0) {
				snprintf(why, why_len, "sha256 '%s' is not 64 "
					 "hex digits", shown(tok + 7, 80, q,
							     sizeof(q)));
				return -EINVAL;
			}
			*has_sha = true;
		} else {
			snprintf(why, why_len, "unexpected '%s' (expected "
				 "name=NAME or sha256=HEX after the URL)",
				 shown(tok, 80, q, sizeof(q)));
			return -EINVAL;
		}
	}
	return *url ? 1 : 0;
}

int get_parse_shard(const char *s, unsigned long *k, unsigned long *n)
{
	unsigned long kk, nn;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	kk = strtoul(s, &end, 10);
	if (errno || *end != '/' || !isdigit((unsigned char)end[1]))
		return -EINVAL;
	nn = strtoul(end + 1, &end, 10);
	if (errno || *end || nn == 0 || kk >= nn)
		return -EINVAL;
	*k = kk;
	*n = nn;
	return 0;
}

int get_parse_seconds(const char *s, int64_t *ns)
{
	char *end;
	double v;

	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > 1e9)
		return -EINVAL;
	*ns = (int64_t)(v * 1e9);
	return 0;
}

int get_parse_rate(const char *s, uint64_t *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	}
	if (*end || v == 0 || v > ~0ULL / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

/* ---- the input stream -------------------------------------------------- */

/*
 * Where line `lineno` starts: past a UTF-8 byte order mark on the first
 * line, which editors on Windows write and which would otherwise make the
 * first URL an invisible "not an http:// URL".
 */
static char *line_text(char *line, unsigned long lineno)
{
	if (lineno == 1 && !strncmp(line, "\xef\xbb\xbf", 3))
		return line + 3;
	return line;
}

/* How messages name the list. */
static const char *label(const struct get_input *in)
{
	return strcmp(in->path, "-") ? in->path : "stdin";
}

int get_input_open(struct get_input *in, char **args, int n_args,
		   const char *path, unsigned long shard_k,
		   unsigned long shard_n, const char *out_name,
		   char *why, size_t why_len)
{
	memset(in, 0, sizeof(*in));
	in->args = args;
	in->n_args = n_args;
	in->path = path;
	in->shard_k = shard_k;
	in->shard_n = shard_n ? shard_n : 1;
	in->out_name = out_name;
	get_names_init(&in->names);
	if (!path)
		return 0;
	if (!strcmp(path, "-")) {
		in->fp = stdin;
		return 0;
	}
	in->fp = fopen(path, "re");
	if (!in->fp) {
		int err = errno;

		snprintf(why, why_len, "cannot read %s: %s", path, strerror(err));
		return -err;
	}
	return 0;
}

/* The list's descriptor, and an eventfd whose count ends every read. */
struct abortable {
	int fd;
	int quit_fd;
};

static ssize_t abortable_read(void *cookie, char *buf, size_t size)
{
	struct abortable *a = cookie;
	struct pollfd p[2] = { { a->fd, POLLIN, 0 }, { a->quit_fd, POLLIN, 0 } };
	ssize_t n;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p[1].revents) {
			errno = ECANCELED;
			return -1;
		}
		n = read(a->fd, buf, size);
		if (n >= 0 || (errno != EINTR && errno != EAGAIN))
			return n;
	}
}

static int abortable_close(void *cookie)
{
	free(cookie);
	return 0;
}

int get_input_abortable(struct get_input *in, int quit_fd)
{
	static const cookie_io_functions_t io = {
		.read = abortable_read,
		.close = abortable_close,
	};
	struct abortable *a;
	FILE *fp;

	if (!in->fp)
		return 0;
	a = malloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->fd = fileno(in->fp);
	a->quit_fd = quit_fd;
	fp = fopencookie(a, "r", io);
	if (!fp) {
		free(a);
		return -ENOMEM;
	}
	in->raw_fp = in->fp;
	in->fp = fp;
	return 0;
}

void get_input_close(struct get_input *in)
{
	if (in->raw_fp) {
		fclose(in->fp);		/* the cookie's stream only */
		in->fp = in->raw_fp;
		in->raw_fp = NULL;
	}
	if (in->fp && in->fp != stdin)
		fclose(in->fp);
	in->fp = NULL;
	free(in->buf);
	in->buf = NULL;
	get_names_free(&in->names);
}

long get_input_precheck(struct get_input *in, char *why, size_t why_len)
{
	unsigned long index = 0, lineno = 0;
	unsigned char sha[32];
	long count = 0;
	struct stat st;
	char *url, *name, *line = NULL;
	size_t cap = 0;
	bool has_sha;
	off_t start;
	int i, ret = 0;

	for (i = 0; i < in->n_args; i++, index++) {
		if (!looks_like_url(in->args[i])) {
			char q[1000];

			snprintf(why, why_len, "argument '%s' %s",
				 shown(in->args[i], 200, q, sizeof(q)), url_why(in->args[i]));
			return -EINVAL;
		}
		count += get_shard_has(index, in->shard_k, in->shard_n);
	}
	if (!in->fp)
		return count;
	if (fstat(fileno(in->fp), &st) < 0 || !S_ISREG(st.st_mode) ||
	    (start = ftello(in->fp)) < 0)
		return -ESPIPE;
	while (getline(&line, &cap, in->fp) >= 0) {
		char reason[256];

		lineno++;
		ret = get_parse_line(line_text(line, lineno), &url, &name,
				     &has_sha, sha, reason, sizeof(reason));
		if (ret < 0) {
			snprintf(why, why_len, "%s:%lu: %s", label(in), lineno,
				 reason);
			break;
		}
		if (ret > 0)
			count += get_shard_has(index++, in->shard_k, in->shard_n);
		ret = 0;
	}
	if (!ret && ferror(in->fp)) {
		ret = -errno;
		snprintf(why, why_len, "cannot read %s: %s", label(in),
			 strerror(errno));
	}
	free(line);
	clearerr(in->fp);
	if (fseeko(in->fp, start, SEEK_SET) < 0 && !ret) {
		ret = -errno;
		snprintf(why, why_len, "cannot rewind %s: %s", in->path,
			 strerror(errno));
	}
	return ret < 0 ? ret : count;
}

/* Fills `e` from the parsed pieces; claims its name. */
static int make_entry(struct get_input *in, const char *url, const char *name,
		      bool has_sha, const unsigned char sha[32],
		      struct get_entry *e)
{
	char base[GET_NAME_MAX + 1], unique[GET_NAME_MAX + 16];
	int ret;

	if (name)
		snprintf(base, sizeof(base), "%s", name);
	else
		get_name_from_url(url, base);
	ret = get_names_claim(&in->names, base, unique);
	if (ret < 0)
		return ret;
	e->index = in->next_index++;
	if (!get_shard_has(e->index, in->shard_k, in->shard_n))
		return 0;
	e->url = strdup(url);
	e->name = strdup(unique);
	e->has_sha = has_sha;
	if (has_sha)
		memcpy(e->sha, sha, 32);
	if (!e->url || !e->name) {
		get_entry_clear(e);
		return -ENOMEM;
	}
	return 1;
}

int get_input_next(struct get_input *in, struct get_entry *e,
		   char *why, size_t why_len)
{
	unsigned char sha[32];
	char *url, *name;
	bool has_sha;
	int ret;

	memset(e, 0, sizeof(*e));
	while (in->next_arg < in->n_args) {
		url = in->args[in->next_arg++];
		if (!looks_like_url(url)) {
			char q[1000];

			snprintf(why, why_len, "argument '%s' %s",
				 shown(url, 200, q, sizeof(q)), url_why(url));
			return -EINVAL;
		}
		ret = make_entry(in, url, in->out_name, false, NULL, e);
		if (ret)
			goto out;
	}
	while (in->fp) {
		char reason[256];

		errno = 0;
		if (getline(&in->buf, &in->buf_cap, in->fp) < 0) {
			if (ferror(in->fp)) {
				ret = errno ? -errno : -EIO;
				snprintf(why, why_len, "cannot read %s: %s",
					 label(in), strerror(-ret));
				return ret;
			}
			return 0;
		}
		in->lineno++;
		ret = get_parse_line(line_text(in->buf, in->lineno), &url,
				     &name, &has_sha, sha, reason,
				     sizeof(reason));
		if (ret < 0) {
			snprintf(why, why_len, "%s:%lu: %s", label(in),
				 in->lineno, reason);
			return ret;
		}
		if (ret == 0)
			continue;
		ret = make_entry(in, url, name, has_sha, sha, e);
		if (ret)
			goto out;
	}
	return 0;
out:
	if (ret == -ENOMEM)
		snprintf(why, why_len, "out of memory");
	return ret;
}
