/* SPDX-License-Identifier: MIT */
/*
 * `ringpool serve`: a static HTTP/1.1 file server on the executor.
 *
 * Nothing but done-callbacks does the work, as in bench/echo's server.  One
 * rp_accept() is outstanding on the listening socket; each connection runs
 * a chain of one operation at a time,
 *
 *   rp_recv -> [parse] -> rp_openat -> (rp_read_full -> rp_write_full)* -> ...
 *
 * back to rp_recv (keep-alive; requests already in the buffer first), or
 * rp_close.  With io_uring the callbacks run on the ring thread, which queues
 * the next operation from inside the callback; with the blocking-thread
 * backend on the I/O threads.  Connections are dealt to the rings in turn
 * (RP_IO_RING on each one's first receive) and stay there.  Since a chain
 * has one operation in flight, a connection is only ever touched by the
 * callback of that operation: after queueing the next one, a function
 * returns without touching the connection again.
 *
 * Requests are parsed by http_parser (Debian's libhttp-parser), fed what
 * each receive brought; a complete request pauses it, so pipelined requests
 * wait in the buffer until the response before them is sent.  Files are
 * opened relative to the served folder's descriptor, with the path cleaned
 * by serve_map_path(); a body goes out at most PIECE_MAX at a time, the
 * status line and headers in front of the first piece.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <http_parser.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ringpool.h"
#include "cli.h"
#include "serve.h"

#define IN_CAP 8192u		/* receive buffer of a connection */
#define HEAD_CAP 4096u		/* room for a response's headers */
#define PIECE_MAX (32u << 10)	/* the most of a body sent at once */
#define SPLICE_MIN (128u << 10)	/* bodies spliced from this size on */
#define PIPE_BYTES (1u << 20)	/* what a pipe for splicing holds */
#define PIPES_PER_RING 16u	/* bodies spliced at once, per ring */
#define URL_CAP 2048u		/* request target */
#define REL_CAP 1024u		/* path under the folder */
/* --max-conns by default with the blocking-thread backend (a thread each). */
#define THREADS_MAX_CONNS 240u
#define NS_PER_S 1000000000LL
/*
 * After an error response to a request not read to its end, what the client
 * still sends is read and dropped, at most this much for at most this long,
 * before the close: closing with unread data would send a reset, which can
 * destroy the response before the client reads it.
 */
#define LINGER_BYTES (1u << 20)
/*
 * The largest request body read (and dropped, since nothing here takes
 * one); a larger one is 413 at once, as nginx's client_max_body_size has
 * it, rather than read for as long as the client sends.
 */
#define BODY_MAX (1u << 20)
#define LINGER_NS (2 * NS_PER_S)

struct opts {
	const char *dir, *bind, *user;
	unsigned port, rings, max_conns;
	double idle_timeout, send_timeout, grace;
	bool quiet, dotfiles, max_conns_given, precompressed, list;
	enum { SPLICE_AUTO, SPLICE_ON, SPLICE_OFF } splice;
};

/* The request headers the server reads; others are skipped. */
enum hdr {
	H_RANGE, H_IMS, H_INM, H_IF_RANGE, H_IF_MATCH, H_IUS, H_AE, H_EXPECT,
	H_TE, H_KEPT, H_OTHER = H_KEPT
};

static const char *const kept_names[H_KEPT] = {
	[H_RANGE] = "range",
	[H_IMS] = "if-modified-since",
	[H_INM] = "if-none-match",
	[H_IF_RANGE] = "if-range",
	[H_IF_MATCH] = "if-match",
	[H_IUS] = "if-unmodified-since",
	[H_AE] = "accept-encoding",
	[H_EXPECT] = "expect",
	[H_TE] = "transfer-encoding",
};

/*
 * Precompressed copies (--precompressed), in the order they are preferred:
 * NAME.br, then NAME.gz, each served with its Content-Encoding in place of
 * NAME when the request accepts that coding.
 */
static const struct coding {
	const char *suffix, *name;
	unsigned bit;
} codings[] = {
	{ ".br", "br", SERVE_ENC_BR },
	{ ".gz", "gzip", SERVE_ENC_GZIP },
};
#define N_CODINGS (unsigned)(sizeof(codings) / sizeof(codings[0]))

/* A kept header's value; `len` == sizeof(v) marks one too long to trust. */
struct kept {
	char v[256];
	size_t len;
};

/*
 * A multipart/byteranges body (RFC 9110, 14.6): for each range, a part's
 * own header lines, then its bytes of the file; then the closing
 * delimiter.  `next` is what goes out next: a part, or with `n` the
 * closing delimiter (past `n`, all is sent).
 */
struct parts {
	struct serve_range r[SERVE_MAX_RANGES];
	unsigned n, next;
	uint64_t size;
	const char *type;
	char boundary[24];
};

struct conn {
	int fd;
	http_parser parser;
	/* Received bytes: in[parsed..len) are not parsed yet. */
	char in[IN_CAP];
	size_t len, parsed;

	/* The request being read. */
	char url[URL_CAP];
	size_t url_len;
	bool url_long;
	char field[32];
	size_t field_len;
	bool field_long, in_value;
	enum hdr hdr;
	struct kept kept[H_KEPT];
	bool complete;		/* the whole request is in */
	bool in_body;		/* its headers are in */
	uint64_t req_body;	/* the sizes of its chunks so far */
	bool continue_due;	/* a 100 (Continue) to send before its body */
	bool chunked;		/* its body is chunked */
	/*
	 * A line end http-parser took on trust, to be checked where it
	 * paused just after it (see framing_ok()), and the last byte parsed
	 * before in[] was reused, for a CRLF that spans two receives.
	 */
	enum { CHK_NONE, CHK_HEAD_END, CHK_LF, CHK_CRLF } check;
	char prev;
	/*
	 * When the whole request, headers and body, must be in (monotonic
	 * ns): 0 before its first byte.
	 */
	int64_t req_until;
	int reject;		/* a status to answer with at once, or 0 */
	int refused;		/* one to answer with once it is all in */
	unsigned hosts;		/* Host header lines */
	bool te;		/* a Transfer-Encoding header */
	/*
	 * What the header callbacks see between one's bytes and the next's:
	 * in[gap..) is not looked at yet, and `gap_lf` tells whether a line
	 * ended since the last header bytes.  A value's bytes after a line
	 * end, with no name between, are an obsolete line folding.
	 */
	size_t gap;
	bool gap_lf;
	bool bad_head;		/* a header line to answer with 400 */

	/* The response. */
	unsigned method;	/* enum http_method */
	bool keep_alive, head;
	bool http10;		/* the request is HTTP/1.0 */
	char rel[REL_CAP];
	size_t query, query_len;	/* the target's query, in url[] */
	bool dir_slash, index;
	int file;
	bool file_nb;		/* c->file still has its O_NONBLOCK */
	/*
	 * Precompressed copies: the codings the request accepts, the one
	 * being tried (N_CODINGS: none), its path, the file itself's stat
	 * (c->file is still the file itself while a copy is tried), and the
	 * coding of what is sent (NULL: the file itself).
	 */
	unsigned accept_enc, enc;
	char vrel[REL_CAP + 8];
	struct stat plain;
	const char *coding;
	/* --list: the page a CPU task made (malloc()ed), and its length. */
	char *page;
	size_t page_len;
	uint64_t off, left;	/* body bytes still to send, from `off` */
	struct parts *parts;	/* a multipart/byteranges body, or NULL */
	/*
	 * A spliced body: the pipe (-1 without), the bytes in it, and the
	 * socket's file status flags from before O_NONBLOCK was added for
	 * the splices (-1 when not added).
	 */
	int pipe[2];
	size_t in_pipe;
	int sock_flags;
	char *out;		/* headers and a piece of the body */
	size_t out_cap;
	size_t hlen;		/* header bytes at the front of `out` */
	/*
	 * The response's status (0 once it is logged), the length of its
	 * body, of its status line and headers, and what the socket has
	 * taken of it all so far, for the log of a response cut short.
	 */
	int status;
	uint64_t body_len;
	size_t head_len;
	uint64_t wrote;
	bool linger;		/* the request was not read to its end */
	size_t linger_left;
	int64_t linger_until;

	char peer[64];

	/*
	 * Waiting for a request with none of it in (see idle_add()): the
	 * ring it is on, whether it has answered one (which list it goes
	 * on), whether it may be listed, and, under that ring's idle.lock,
	 * its place on the list and whether it was drained.
	 */
	unsigned ring;
	bool answered, may_idle;
	bool listed, drained;
	struct conn *idle_prev, *idle_next;
};

static struct opts o;
static rp_executor *ex;
static int listen_fd = -1, root_fd = -1;
static unsigned n_rings = 1;
static bool ring_backend;	/* io_uring, not the blocking threads */
static _Atomic unsigned next_ring, n_conns;
static atomic_bool stopping;
/*
 * A graceful stop is under way: no more accepts, no more keep-alive, the
 * responses in progress finishing (see drain_all()).
 */
static atomic_bool draining;
static _Atomic uint64_t n_requests, n_accepted;
static http_parser_settings settings;

static void arm_recv(struct conn *c, const struct rp_io_opts *opts);
static void feed(struct conn *c);
static void open_path(struct conn *c);

/* ---- connections -------------------------------------------------------- */

/*
 * The result of an ended I/O future: its value (>= 0), or a negative errno
 * (-ECANCELED when it was cancelled).
 */
static int64_t io_result(rp_future *f)
{
	int64_t value;
	int err, ret;

	ret = rp_future_result(f, 0, &value, &err);
	if (ret)
		return ret;
	return err ? err : value;
}

static void pipe_give(struct conn *c);

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

/*
 * Closes the file a response is done with.  On the rings the close goes out
 * with the ring's next submission (done inline, no worker), which spares
 * every response a system call of its own; with the fallback it would be a
 * hand-over to an I/O thread, so the file is closed here.
 *
 * ThreadSanitizer sees neither a close the kernel does for the ring nor the
 * openat() of a folder listing, and took a listing's closedir() of the same
 * number, later on a worker, for a race with this response's fstat(): its
 * builds close here, where it sees it.
 */
static void close_file(int fd)
{
#ifndef UNDER_TSAN
	rp_future *f;

	if (ring_backend && !rp_close(ex, fd, NULL, &f)) {
		rp_future_unref(f);
		return;
	}
#endif
	close(fd);
}

static void end_response(struct conn *c)
{
	pipe_give(c);
	if (c->file >= 0)
		close_file(c->file);
	c->file = -1;
	c->file_nb = false;
	free(c->out);
	c->out = NULL;
	c->out_cap = 0;
	free(c->page);
	c->page = NULL;
	free(c->parts);
	c->parts = NULL;
}

/*
 * A done-callback could not be registered (-ENOMEM): the chain would be
 * lost, and waiting for the operation on its own ring thread could never
 * end.  A server that is out of memory stops.
 */
static void fatal(const char *what, int err)
{
	fprintf(stderr, "ringpool serve: %s: %s\n", what, strerror(-err));
	exit(1);
}

/*
 * Connections waiting for a request with none of it in yet, oldest first,
 * per ring: those kept alive after a response on one list, those that have
 * not sent a first request on another.  At --max-conns a new connection
 * takes the place of the kept-alive one that waited longest instead of
 * getting 503, as nginx reuses its idle keep-alive connections: a browser
 * keeps a few connections open for the idle timeout whether or not it
 * sends more, and those idle ones would otherwise turn everyone else away.
 * A client is ready for a kept-alive connection to close while idle (RFC
 * 9112, 9.3.1: it may retry a request that met the close); one that has
 * not sent its first request yet is left alone then.  At most DRAIN_MAX
 * are being closed so at once (a descriptor pair each past --max-conns,
 * from the spare).  A graceful stop closes those on both lists (see
 * drain_all()), as nginx closes its idle connections.
 */
#define MAX_RINGS 64u
#define DRAIN_MAX 8u

enum { WAIT_FIRST, WAIT_NEXT };	/* the lists, by c->answered */

static struct idle_list {
	pthread_mutex_t lock;
	struct conn_list {
		struct conn *head, *tail;
	} waiting[2];
} idle[MAX_RINGS];
static _Atomic unsigned n_draining, next_drain;

static void idle_init(void)
{
	unsigned i;

	for (i = 0; i < MAX_RINGS; i++)
		pthread_mutex_init(&idle[i].lock, NULL);
}

/*
 * Lists `c`, whose receive was just queued (its callback not yet added).
 * During a graceful stop it is ended at once instead, as drain_all() ends
 * those listed: whichever takes the lock second sees the other's doing.
 */
static void idle_add(struct conn *c)
{
	struct idle_list *l = &idle[c->ring];
	struct conn_list *q = &l->waiting[c->answered ? WAIT_NEXT : WAIT_FIRST];

	pthread_mutex_lock(&l->lock);
	if (atomic_load(&draining)) {
		(void)shutdown(c->fd, SHUT_RD);
		pthread_mutex_unlock(&l->lock);
		return;
	}
	c->idle_prev = q->tail;
	c->idle_next = NULL;
	if (q->tail)
		q->tail->idle_next = c;
	else
		q->head = c;
	q->tail = c;
	c->listed = true;
	pthread_mutex_unlock(&l->lock);
}

/* Takes `c` off its list; c->answered has not changed since it was added. */
static void idle_unlink(struct idle_list *l, struct conn *c)
{
	struct conn_list *q = &l->waiting[c->answered ? WAIT_NEXT : WAIT_FIRST];

	if (c->idle_prev)
		c->idle_prev->idle_next = c->idle_next;
	else
		q->head = c->idle_next;
	if (c->idle_next)
		c->idle_next->idle_prev = c->idle_prev;
	else
		q->tail = c->idle_prev;
	c->listed = false;
}

/* Its receive ended: off the list, if the drain did not take it first. */
static void idle_remove(struct conn *c)
{
	struct idle_list *l = &idle[c->ring];

	if (!c->may_idle)
		return;
	c->may_idle = false;
	pthread_mutex_lock(&l->lock);
	if (c->listed)
		idle_unlink(l, c);
	pthread_mutex_unlock(&l->lock);
}

/*
 * Ends the receive of the kept-alive connection that has waited longest on
 * a ring (the rings taken in turn): shutdown(SHUT_RD) makes it see an end
 * of stream, and on_recv() closes it (on its own thread, as any other
 * end).  Its descriptor stays open until then: while it is listed, its
 * receive has not reached on_recv(), which takes it off the list under the
 * same lock first.  False when none waits or DRAIN_MAX are closing
 * already.
 */
static bool drain_idle(void)
{
	unsigned i, start = atomic_fetch_add(&next_drain, 1);

	for (i = 0; i < n_rings; i++) {
		struct idle_list *l = &idle[(start + i) % n_rings];
		struct conn *c;

		pthread_mutex_lock(&l->lock);
		c = l->waiting[WAIT_NEXT].head;
		if (c && atomic_fetch_add(&n_draining, 1) < DRAIN_MAX) {
			idle_unlink(l, c);
			c->drained = true;
			(void)shutdown(c->fd, SHUT_RD);
			pthread_mutex_unlock(&l->lock);
			return true;
		}
		if (c) {
			atomic_fetch_sub(&n_draining, 1);
			pthread_mutex_unlock(&l->lock);
			return false;
		}
		pthread_mutex_unlock(&l->lock);
	}
	return false;
}

/*
 * The start of a graceful stop: ends the receive of every connection
 * listed as waiting for a request, its first or its next (see
 * drain_idle()).  Those in the middle of a request or a response go on;
 * they close after it.
 */
static void drain_all(void)
{
	unsigned i, k;

	atomic_store(&draining, true);
	for (i = 0; i < n_rings; i++) {
		struct idle_list *l = &idle[i];

		pthread_mutex_lock(&l->lock);
		for (k = WAIT_FIRST; k <= WAIT_NEXT; k++) {
			struct conn *c;

			while ((c = l->waiting[k].head)) {
				idle_unlink(l, c);
				atomic_fetch_add(&n_draining, 1);
				c->drained = true;
				(void)shutdown(c->fd, SHUT_RD);
			}
		}
		pthread_mutex_unlock(&l->lock);
	}
}

static void conn_free(rp_future *f, void *arg)
{
	struct conn *c = arg;

	(void)f;
	if (c->drained)
		atomic_fetch_sub(&n_draining, 1);
	free(c);
	atomic_fetch_sub(&n_conns, 1);
}

static void log_request(struct conn *c, uint64_t body_bytes);

/*
 * Ends the connection.  A response cut short (the client gone or too
 * slow, the file shrunk, a stop) is logged with the body bytes the socket
 * took, as nginx logs it, so that the log does not lose it.
 */
static void conn_close(struct conn *c)
{
	rp_future *f;
	int ret;

	if (c->status)
		log_request(c, c->wrote > c->head_len ? c->wrote - c->head_len
						      : 0);
	end_response(c);
	if (rp_close(ex, c->fd, NULL, &f)) {
		/* Shutting down: no more operations.  Close it here. */
		close(c->fd);
		conn_free(NULL, c);
		return;
	}
	ret = rp_future_add_done_callback(f, conn_free, c);
	if (ret)
		fatal("rp_future_add_done_callback", ret);
	rp_future_unref(f);
}

/*
 * Registers `cb` on the operation just queued (`ret` and `*f` as the call
 * gave them: `f` is read only here, after the call) and drops our reference.  False when nothing was queued; then
 * the caller still owns the connection.
 */
static bool chain(int ret, rp_future *const *f, rp_done_fn cb, void *arg)
{
	if (ret)
		return false;
	ret = rp_future_add_done_callback(*f, cb, arg);
	if (ret)
		fatal("rp_future_add_done_callback", ret);
	rp_future_unref(*f);
	return true;
}

/* ---- the access log ----------------------------------------------------- */

/* Appends `s` (`n` bytes) to `out`, escaping what a log line must not hold. */
static size_t log_escape(char *out, size_t cap, const char *s, size_t n)
{
	size_t k = 0, i;

	for (i = 0; i < n && k + 5 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			k += (size_t)snprintf(out + k, cap - k, "\\x%02x", ch);
		else
			out[k++] = (char)ch;
	}
	out[k] = '\0';
	return k;
}

/*
 * The current second as the Date header and the access log write it, made
 * once a second on each thread (a ring thread answers thousands a second).
 */
struct clock_strings {
	time_t t;
	char http[40];	/* IMF-fixdate */
	char clf[32];	/* Common Log Format */
	/* The Server and Date header lines, and their length. */
	char head[128];
	size_t head_len;
};

static const struct clock_strings *clock_now(void)
{
	static _Thread_local struct clock_strings cs = { .t = -1 };
	time_t now = time(NULL);
	struct tm tm;

	if (now != cs.t) {
		cs.t = now;
		serve_http_date(now, cs.http, sizeof(cs.http));
		gmtime_r(&now, &tm);
		strftime(cs.clf, sizeof(cs.clf), "%d/%b/%Y:%H:%M:%S +0000",
			 &tm);
		cs.head_len = (size_t)snprintf(cs.head, sizeof(cs.head),
					       "Server: ringpool/%s\r\n"
					       "Date: %s\r\n",
					       rp_version(), cs.http);
	}
	return &cs;
}

/*
 * One line per response on stdout, in the Common Log Format, with
 * `body_bytes` as its size.  stdout is fully buffered unless it is a
 * terminal; the main thread flushes it every second, so a line is written
 * within about a second.
 */
static void log_request(struct conn *c, uint64_t body_bytes)
{
	char target[URL_CAP * 2];
	int status = c->status;

	c->status = 0;
	atomic_fetch_add_explicit(&n_requests, 1, memory_order_relaxed);
	if (o.quiet)
		return;
	/* A request line not all in (a 408): "-", as nginx logs it. */
	if (!c->parser.http_major && !c->parser.http_minor) {
		printf("%s - - [%s] \"-\" %d %llu\n", c->peer,
		       clock_now()->clf, status,
		       (unsigned long long)body_bytes);
		return;
	}
	log_escape(target, sizeof(target), c->url, c->url_len);
	printf("%s - - [%s] \"%s %s%s HTTP/%u.%u\" %d %llu\n", c->peer,
	       clock_now()->clf,
	       http_method_str((enum http_method)c->method), target,
	       c->url_long ? "..." : "", c->parser.http_major,
	       c->parser.http_minor, status,
	       (unsigned long long)body_bytes);
}

/*
 * A request that did not all come within --idle-timeout of its first byte
 * (see feed()): logged with 408, as nginx logs its client_header_timeout
 * and client_body_timeout, and the connection closed without a response.
 */
static void request_timed_out(struct conn *c)
{
	/* Taken from the parser once the headers are in: not yet, maybe. */
	c->method = c->parser.method;
	c->status = 408;
	log_request(c, 0);
	conn_close(c);
}

/* ---- responses ---------------------------------------------------------- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/*
 * Makes c->out hold the headers and `body` bytes of body, up to PIECE_MAX
 * of it (a larger body goes out in pieces).  False when out of memory.
 */
static bool out_alloc(struct conn *c, uint64_t body)
{
	size_t cap = HEAD_CAP + (body < PIECE_MAX ? (size_t)body : PIECE_MAX);
	char *p;

	if (c->out && c->out_cap >= cap)
		return true;
	p = realloc(c->out, cap);
	if (!p)
		return false;
	c->out = p;
	c->out_cap = cap;
	return true;
}

/*
 * A response's headers are appended to c->out (c->hlen bytes so far); what
 * does not fit in HEAD_CAP - 1 bytes is cut.  Plain copies: formatting
 * every response's headers with snprintf() cost about 4% of the server's
 * CPU time (4 KiB files, 64 connections).
 */
static void put(struct conn *c, const char *s, size_t len)
{
	struct sbuf b = { c->out, c->hlen, HEAD_CAP };

	sb_put(&b, s, len);
	c->hlen = b.n;
}

#define PUT_LIT(c, lit) put((c), (lit), sizeof(lit) - 1)

static void put_str(struct conn *c, const char *s)
{
	put(c, s, strlen(s));
}

static void put_u64(struct conn *c, uint64_t v)
{
	struct sbuf b = { c->out, c->hlen, HEAD_CAP };

	sb_num(&b, v, 10, 1);
	c->hlen = b.n;
}

/* The status line and the headers every response has. */
static void head_begin(struct conn *c, int status)
{
	const struct clock_strings *cs = clock_now();

	c->status = status;
	c->hlen = 0;
	c->wrote = 0;
	PUT_LIT(c, "HTTP/1.1 ");
	put_u64(c, (uint64_t)status);
	PUT_LIT(c, " ");
	put_str(c, reason(status));
	PUT_LIT(c, "\r\n");
	put(c, cs->head, cs->head_len);
}

/*
 * The last header line, if any, and the blank line.  An HTTP/1.0 client
 * that asked for keep-alive only keeps the connection when the response
 * says so (RFC 9112, C.2.2, and RFC 2068, 19.7.1); without it, it would
 * wait for the close.
 */
static void head_end(struct conn *c)
{
	if (atomic_load(&draining))
		c->keep_alive = false;
	if (!c->keep_alive)
		PUT_LIT(c, "Connection: close\r\n");
	else if (c->http10)
		PUT_LIT(c, "Connection: keep-alive\r\n");
	PUT_LIT(c, "\r\n");
	c->head_len = c->hlen;
}

/* All of a response's headers, those between formatted as by printf. */
__attribute__((format(printf, 3, 4)))
static void head_printf(struct conn *c, int status, const char *fmt, ...)
{
	size_t room;
	va_list ap;
	int n;

	head_begin(c, status);
	room = HEAD_CAP - c->hlen;
	va_start(ap, fmt);
	n = vsnprintf(c->out + c->hlen, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->hlen += (size_t)n < room ? (size_t)n : room - 1;
	head_end(c);
}

static void send_piece(struct conn *c, size_t n);

/*
 * A response with a short text body (none for HEAD).  A 414 ends the
 * connection, whichever limit the target broke (its length, or its path's
 * once decoded), as nginx ends it after a 414.
 */
static void respond_text(struct conn *c, int status, const char *extra)
{
	char body[128];
	int n;

	if (status == 414)
		c->keep_alive = false;
	if (!out_alloc(c, 0)) {
		conn_close(c);
		return;
	}
	n = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
	head_printf(c, status,
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Length: %d\r\n%s",
		    n, extra ? extra : "");
	c->body_len = 0;
	if (!c->head && c->hlen + (size_t)n <= c->out_cap) {
		memcpy(c->out + c->hlen, body, (size_t)n);
		c->hlen += (size_t)n;
		c->body_len = (uint64_t)n;
	}
	c->left = 0;
	send_piece(c, 0);
}

/*
 * An error that ends the connection after its response, the rest of the
 * request unread.
 */
static void respond_fatal(struct conn *c, int status, const char *extra)
{
	c->keep_alive = false;
	c->linger = true;
	respond_text(c, status, extra);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void arm_linger(struct conn *c);

static void on_linger(rp_future *f, void *arg)
{
	struct conn *c = arg;
	int64_t n = io_result(f);

	if (n > 0 && (size_t)n < c->linger_left &&
	    now_ns() < c->linger_until) {
		c->linger_left -= (size_t)n;
		arm_linger(c);
		return;
	}
	conn_close(c);
}

static void arm_linger(struct conn *c)
{
	struct rp_io_opts io = { .timeout_ns = c->linger_until - now_ns() };
	rp_future *f = NULL;

	if (io.timeout_ns <= 0 ||
	    !chain(rp_recv(ex, c->fd, c->in, IN_CAP, 0, &io, &f), &f,
		   on_linger, c))
		conn_close(c);
}

/* Ends the sending side, then drops what still comes before closing. */
static void linger_close(struct conn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(c);
		return;
	}
	c->linger_left = LINGER_BYTES;
	c->linger_until = now_ns() + LINGER_NS;
	arm_linger(c);
}

/* The response is out: the next request, or the end of the connection. */
static void request_done(struct conn *c)
{
	bool keep = c->keep_alive && !atomic_load(&draining) &&
		    !atomic_load(&stopping);
	unsigned i;

	log_request(c, c->body_len);
	end_response(c);
	if (!keep) {
		/*
		 * Requests sent after this one (pipelined) are not read: with
		 * them in the socket, a close would send a reset.  nginx
		 * lingers then too.
		 */
		if ((c->linger || c->parsed < c->len) &&
		    !atomic_load(&stopping))
			linger_close(c);
		else
			conn_close(c);
		return;
	}
	c->url_len = c->field_len = 0;
	for (i = 0; i < H_KEPT; i++)
		c->kept[i].len = 0;
	c->url_long = c->field_long = c->in_value = c->complete = false;
	c->hdr = H_OTHER;
	c->reject = c->refused = 0;
	c->hosts = 0;
	c->te = false;
	c->gap_lf = c->bad_head = c->in_body = false;
	c->body_len = 0;
	c->req_until = 0;
	c->req_body = 0;
	c->continue_due = false;
	/* Set again by the next request line: until then, none is in. */
	c->parser.http_major = c->parser.http_minor = 0;
	http_parser_pause(&c->parser, 0);
	if (c->parsed < c->len) {
		feed(c);
		return;
	}
	c->len = c->parsed = 0;
	c->answered = true;
	arm_recv(c, NULL);
}

static void on_written(rp_future *f, void *arg);
static void on_read(rp_future *f, void *arg);
static void read_piece(struct conn *c);
static void next_part(struct conn *c);
static size_t part_head(const struct parts *m, unsigned i, char *out,
			size_t cap);

/* Sends c->out: the headers (c->hlen bytes) and `n` bytes of body after. */
static void send_piece(struct conn *c, size_t n)
{
	struct rp_io_opts io = { .timeout_ns = (int64_t)(o.send_timeout *
							 NS_PER_S) };
	rp_future *f = NULL;
	size_t total = c->hlen + n;

	c->off += n;
	c->left -= n;
	c->hlen = 0;
	if (!chain(rp_write_full(ex, c->fd, c->out, total, -1, &io, &f), &f,
		   on_written, c))
		conn_close(c);
}

/*
 * A read of the body failed (`n` < 0) or came short (the file shrank under
 * us): the length is promised, so the connection ends and the client sees
 * a short body.
 */
static void body_unread(struct conn *c, int64_t n)
{
	if (n != -ECANCELED)
		fprintf(stderr, "ringpool serve: cannot read %s: %s\n", c->rel,
			n < 0 ? strerror((int)-n) : "the file got shorter");
	conn_close(c);
}

/*
 * Clears the O_NONBLOCK that c->file was opened with; false if it cannot.
 *
 * Reads of a regular file ignore the flag, and so does io_uring on the
 * kernels that let it hand a read that would wait to its workers even then
 * (6.x); older ones end such a read with -EAGAIN, or short.  So the flag is
 * kept, which spares every response an fcntl(), and cleared when a read
 * comes back short, before that piece is read again; and before a splice,
 * which the flag would make non-blocking.
 */
static bool file_blocking(struct conn *c)
{
	if (!c->file_nb)
		return true;
	if (fcntl(c->file, F_SETFL, 0) < 0)
		return false;
	c->file_nb = false;
	return true;
}

/* Reads the next piece of the body behind what c->out already holds. */
static void read_piece(struct conn *c)
{
	size_t room = c->out_cap - c->hlen;
	size_t n = c->left < room ? (size_t)c->left : room;
	rp_future *f = NULL;

	if (!chain(rp_read_full(ex, c->file, c->out + c->hlen, n,
				(int64_t)c->off, NULL, &f),
		   &f, on_read, c))
		conn_close(c);
}

static void on_read(rp_future *f, void *arg)
{
	struct conn *c = arg;
	size_t want = c->out_cap - c->hlen;
	int64_t n = io_result(f);

	if (c->left < want)
		want = (size_t)c->left;
	if (n != (int64_t)want && n != -ECANCELED && c->file_nb &&
	    file_blocking(c)) {
		/* Perhaps only the flag: once more, without it. */
		read_piece(c);
		return;
	}
	if (n != (int64_t)want) {
		body_unread(c, n);
		return;
	}
	send_piece(c, (size_t)n);
}

/* What an ended write moved, also when it failed part of the way. */
static size_t io_moved(rp_future *f)
{
	int64_t value = 0;
	int err;

	if (rp_future_result(f, 0, &value, &err) || value < 0)
		return 0;
	return (size_t)value;
}

/*
 * Part i's delimiter and header lines, or the closing delimiter for i ==
 * n, into `out` (`cap` bytes); returns their length.  The first part's
 * delimiter starts with a CRLF too, as nginx sends it: RFC 2046, 5.1.1
 * lets a body start with one.
 */
static size_t part_head(const struct parts *m, unsigned i, char *out,
			size_t cap)
{
	struct sbuf b = { out, 0, cap };

#define LIT(s) sb_put(&b, (s), sizeof(s) - 1)
	LIT("\r\n--");
	sb_str(&b, m->boundary);
	if (i == m->n) {
		LIT("--\r\n");
		return b.n;
	}
	LIT("\r\nContent-Type: ");
	sb_str(&b, m->type);
	LIT("\r\nContent-Range: bytes ");
	sb_num(&b, m->r[i].start, 10, 1);
	LIT("-");
	sb_num(&b, m->r[i].start + m->r[i].count - 1, 10, 1);
	LIT("/");
	sb_num(&b, m->size, 10, 1);
	LIT("\r\n\r\n");
#undef LIT
	return b.n;
}

/*
 * Puts the next part's head after what c->out holds and starts on its
 * bytes; after the last part, sends the closing delimiter.
 */
static void next_part(struct conn *c)
{
	struct parts *m = c->parts;
	unsigned i = m->next++;

	c->hlen += part_head(m, i, c->out + c->hlen, HEAD_CAP - c->hlen);
	if (i == m->n) {
		send_piece(c, 0);
		return;
	}
	c->off = m->r[i].start;
	c->left = m->r[i].count;
	read_piece(c);
}

static void on_written(rp_future *f, void *arg)
{
	struct conn *c = arg;

	c->wrote += io_moved(f);
	if (io_result(f) < 0) {
		/* The peer went away, a send timed out, or shutdown. */
		conn_close(c);
		return;
	}
	if (c->left)
		read_piece(c);
	else if (c->parts && c->parts->next <= c->parts->n)
		next_part(c);
	else
		request_done(c);
}

/* ---- spliced bodies ------------------------------------------------------ */

/*
 * Pipes for splicing, shared by the rings (and the fallback's threads): a
 * body takes one for as long as it is sent and gives it back empty, or
 * closes it when it ends with bytes still in it.  At most `cap` are open;
 * a body that finds none free is copied instead.
 */
static struct {
	pthread_mutex_t lock;
	int (*free)[2];
	unsigned n_free, n_open, cap;
} pipes = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool pipe_take(struct conn *c)
{
	int p[2];
	bool ok = false;

	pthread_mutex_lock(&pipes.lock);
	if (pipes.n_free) {
		pipes.n_free--;
		c->pipe[0] = pipes.free[pipes.n_free][0];
		c->pipe[1] = pipes.free[pipes.n_free][1];
		ok = true;
	} else if (pipes.n_open < pipes.cap &&
		   !pipe2(p, O_CLOEXEC | O_NONBLOCK)) {
		/*
		 * Smaller pipes would move a large body in more splices than
		 * copying costs.  An unprivileged user's pipes may not grow
		 * past fs.pipe-max-size, nor all together past
		 * fs.pipe-user-pages-soft: the pipes open are then all there
		 * will be.
		 */
		if (fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES) >= (int)PIPE_BYTES) {
			c->pipe[0] = p[0];
			c->pipe[1] = p[1];
			pipes.n_open++;
			ok = true;
		} else {
			close(p[0]);
			close(p[1]);
			pipes.cap = pipes.n_open;
		}
	}
	pthread_mutex_unlock(&pipes.lock);
	c->in_pipe = 0;
	return ok;
}

/* Gives the body's pipe back (closed if bytes are left in it). */
static void pipe_give(struct conn *c)
{
	if (c->pipe[0] < 0)
		return;
	pthread_mutex_lock(&pipes.lock);
	if (c->in_pipe == 0 && pipes.n_free < pipes.cap) {
		pipes.free[pipes.n_free][0] = c->pipe[0];
		pipes.free[pipes.n_free][1] = c->pipe[1];
		pipes.n_free++;
	} else {
		close(c->pipe[0]);
		close(c->pipe[1]);
		pipes.n_open--;
	}
	pthread_mutex_unlock(&pipes.lock);
	c->pipe[0] = c->pipe[1] = -1;
	c->in_pipe = 0;
}

/*
 * Room for PIPES_PER_RING pipes per ring, or none (bodies are copied): with
 * --splice off, when out of memory, and by default on fewer than 4 CPUs.
 * Every splice runs on one of io_uring's kernel workers (see rp_splice()),
 * two hand-offs per pipe's worth: with cores to spare they run beside the
 * ring's thread and a 1 MiB body costs about half the CPU of copying it
 * through a buffer, at up to twice the MB/s; on 2 vCPUs the workers take
 * turns with the ring's thread and the client, and one connection's
 * responses came slower than copied (bench/serve/README.md).
 */
static void pipes_init(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (o.splice == SPLICE_OFF || (o.splice == SPLICE_AUTO && cpus < 4))
		return;
	pipes.free = calloc((size_t)PIPES_PER_RING * n_rings,
			    sizeof(*pipes.free));
	pipes.cap = pipes.free ? PIPES_PER_RING * n_rings : 0;
}

static void pipes_free(void)
{
	unsigned i;

	for (i = 0; i < pipes.n_free; i++) {
		close(pipes.free[i][0]);
		close(pipes.free[i][1]);
	}
	free(pipes.free);
}

/*
 * The socket while its body is spliced: non-blocking, so that a splice into
 * it ends with -EAGAIN when it is full instead of holding one of the
 * kernel's workers (or a fallback thread) until the client reads; the
 * connection then waits for POLLOUT with rp_poll().  Only the splices and
 * that poll are in flight meanwhile, and the flags are put back before the
 * next request's receive.
 */
static bool sock_nonblocking(struct conn *c, bool on)
{
	if (on) {
		c->sock_flags = fcntl(c->fd, F_GETFL);
		return c->sock_flags >= 0 &&
		       !fcntl(c->fd, F_SETFL, c->sock_flags | O_NONBLOCK);
	}
	if (c->sock_flags >= 0)
		(void)fcntl(c->fd, F_SETFL, c->sock_flags);
	c->sock_flags = -1;
	return true;
}

static void splice_fill(struct conn *c);
static void splice_drain(struct conn *c);

static void on_writable(rp_future *f, void *arg)
{
	struct conn *c = arg;

	if (io_result(f) < 0) {
		/* The send timeout, or shutdown. */
		conn_close(c);
		return;
	}
	splice_drain(c);
}

static void on_drained(rp_future *f, void *arg)
{
	struct rp_io_opts io = { .timeout_ns = (int64_t)(o.send_timeout *
							 NS_PER_S) };
	struct conn *c = arg;
	int64_t n = io_result(f);
	rp_future *g = NULL;

	if (n == -EAGAIN) {
		/* The socket is full: on when the client has read some. */
		if (!chain(rp_poll(ex, c->fd, POLLOUT, &io, &g), &g,
			   on_writable, c))
			conn_close(c);
		return;
	}
	if (n <= 0 || (size_t)n > c->in_pipe) {
		/* The peer went away, or shutdown. */
		conn_close(c);
		return;
	}
	c->wrote += (uint64_t)n;
	c->in_pipe -= (size_t)n;
	if (c->in_pipe)
		splice_drain(c);
	else if (c->left)
		splice_fill(c);
	else {
		sock_nonblocking(c, false);
		request_done(c);
	}
}

/* Pipe to socket: what the pipe holds. */
static void splice_drain(struct conn *c)
{
	rp_future *f = NULL;

	if (!chain(rp_splice(ex, c->pipe[0], -1, c->fd, -1, c->in_pipe,
			     SPLICE_F_MOVE | (c->left ? SPLICE_F_MORE : 0),
			     NULL, &f),
		   &f, on_drained, c))
		conn_close(c);
}

static void on_filled(rp_future *f, void *arg)
{
	struct conn *c = arg;
	int64_t n = io_result(f);

	if (n == -EINVAL) {
		/*
		 * A file system that cannot splice (nothing moved yet): the
		 * rest of the body is copied, the headers being out.
		 */
		pipe_give(c);
		sock_nonblocking(c, false);
		c->hlen = 0;
		read_piece(c);
		return;
	}
	if (n <= 0 || (uint64_t)n > c->left) {
		body_unread(c, n);
		return;
	}
	c->in_pipe = (size_t)n;
	c->off += (uint64_t)n;
	c->left -= (uint64_t)n;
	splice_drain(c);
}

/* File to pipe: as much of the rest as the pipe holds. */
static void splice_fill(struct conn *c)
{
	size_t n = c->left < PIPE_BYTES ? (size_t)c->left : PIPE_BYTES;
	rp_future *f = NULL;

	if (!chain(rp_splice(ex, c->file, (int64_t)c->off, c->pipe[1], -1, n,
			     0, NULL, &f),
		   &f, on_filled, c))
		conn_close(c);
}

static void on_head_sent(rp_future *f, void *arg)
{
	struct conn *c = arg;

	c->wrote += io_moved(f);
	if (io_result(f) != (int64_t)c->hlen || !sock_nonblocking(c, true)) {
		conn_close(c);
		return;
	}
	splice_fill(c);
}

/*
 * A body of SPLICE_MIN bytes or more goes from the file to the socket
 * through a pipe (rp_splice()), never through the process: file to pipe,
 * pipe to socket, a pipe's worth at a time.  The headers go first, with
 * MSG_MORE so that they leave with the body's first bytes.  False when no
 * pipe is free: the body is copied instead.
 */
static bool splice_body(struct conn *c)
{
	struct rp_io_opts io = { .timeout_ns = (int64_t)(o.send_timeout *
							 NS_PER_S) };
	rp_future *f = NULL;

	if (c->left < SPLICE_MIN || !file_blocking(c) || !pipe_take(c))
		return false;
	if (!chain(rp_send(ex, c->fd, c->out, c->hlen,
			   MSG_MORE | MSG_WAITALL | MSG_NOSIGNAL, &io, &f),
		   &f, on_head_sent, c))
		conn_close(c);
	return true;
}

/*
 * Sets up c->parts for the ranges rs[0..n) of a file of `size` bytes, and
 * its body's length in *len.  False when out of memory.
 */
static bool multipart(struct conn *c, const struct serve_range *rs,
		      unsigned n, uint64_t size, uint64_t *len)
{
	static _Atomic uint64_t seq;
	struct parts *m = calloc(1, sizeof(*m));
	char head[256];
	uint64_t x;
	unsigned i;

	if (!m)
		return false;
	memcpy(m->r, rs, n * sizeof(*rs));
	m->n = n;
	m->size = size;
	m->type = serve_content_type(c->rel);
	/* Unlike any file's bytes, in practice: 20 hex digits, mixed. */
	x = (atomic_fetch_add(&seq, 1) + 1) * 0x9E3779B97F4A7C15ULL ^
	    (uint64_t)now_ns();
	snprintf(m->boundary, sizeof(m->boundary), "%04x%016llx",
		 (unsigned)getpid() & 0xffff, (unsigned long long)x);
	*len = 0;
	for (i = 0; i <= n; i++)
		*len += part_head(m, i, head, sizeof(head)) +
			(i < n ? m->r[i].count : 0);
	c->parts = m;
	return true;
}

/* A regular file, open in c->file: its headers, then its body. */
static void respond_file(struct conn *c, const struct stat *st)
{
	const struct kept *k = c->kept;
	char lm[40], etag[64], cr[96] = "", ce[64] = "";
	uint64_t size = (uint64_t)st->st_size, start = 0, count = size;
	struct serve_range rs[SERVE_MAX_RANGES];
	int status = 200, r;
	bool fresh;
	time_t since;

	if (!out_alloc(c, c->head ? 0 : size)) {
		conn_close(c);
		return;
	}
	serve_http_date(st->st_mtime, lm, sizeof(lm));
	serve_etag(st->st_mtim.tv_sec, st->st_mtim.tv_nsec, size, c->coding,
		   etag, sizeof(etag));
	/* What is sent depends on Accept-Encoding: caches must know. */
	if (o.precompressed)
		snprintf(ce, sizeof(ce), "%s%s%sVary: Accept-Encoding\r\n",
			 c->coding ? "Content-Encoding: " : "",
			 c->coding ? c->coding : "", c->coding ? "\r\n" : "");
	/*
	 * RFC 9110, 13.2.2: If-Match, when given, else If-Unmodified-Since,
	 * first.  The client wants this version only (a download resumed,
	 * a cache completing what it has): another is 412, as nginx
	 * answers.  If-Match compares strongly (RFC 9110, 13.1.1; "*": any
	 * current file); a date that cannot be parsed is ignored.
	 */
	if (k[H_IF_MATCH].len
		    ? !serve_etag_listed(k[H_IF_MATCH].v, etag, false)
		    : k[H_IUS].len &&
			      !serve_parse_http_date(k[H_IUS].v, &since) &&
			      st->st_mtime > since) {
		respond_text(c, 412, NULL);
		return;
	}
	/* If-None-Match, when given, decides; else If-Modified-Since. */
	if (k[H_INM].len)
		fresh = serve_etag_listed(k[H_INM].v, etag, true);
	else
		fresh = k[H_IMS].len &&
			!serve_parse_http_date(k[H_IMS].v, &since) &&
			st->st_mtime <= since;
	if (fresh) {
		head_printf(c, 304, "ETag: %s\r\nLast-Modified: %s\r\n%s",
			    etag, lm, ce);
		c->left = 0;
		send_piece(c, 0);
		return;
	}
	/*
	 * A range of the version the client has (If-Range: its entity tag,
	 * or its date in any of the three forms), or none.  A date names one
	 * version only when the file was last changed a second or more
	 * before now (RFC 9110, 8.8.2.2 and 13.1.5: Last-Modified is a strong
	 * validator only then): within the second of a change, a second
	 * change could carry the same date.
	 */
	if (k[H_RANGE].len &&
	    (!k[H_IF_RANGE].len || !strcmp(k[H_IF_RANGE].v, etag) ||
	     (k[H_IF_RANGE].v[0] != '"' &&
	      !serve_parse_http_date(k[H_IF_RANGE].v, &since) &&
	      since == st->st_mtime && st->st_mtime < time(NULL)))) {
		r = serve_parse_range(k[H_RANGE].v, size, rs,
				      SERVE_MAX_RANGES);
		if (r == -ERANGE) {
			snprintf(cr, sizeof(cr), "Content-Range: bytes */%llu\r\n",
				 (unsigned long long)size);
			respond_text(c, 416, cr);
			return;
		}
		if (r == 1) {
			status = 206;
			start = rs[0].start;
			count = rs[0].count;
			snprintf(cr, sizeof(cr),
				 "Content-Range: bytes %llu-%llu/%llu\r\n",
				 (unsigned long long)start,
				 (unsigned long long)(start + count - 1),
				 (unsigned long long)size);
		} else if (r > 1) {
			status = 206;
			if (!multipart(c, rs, (unsigned)r, size, &count)) {
				conn_close(c);
				return;
			}
		}
	}
	head_begin(c, status);
	PUT_LIT(c, "Content-Type: ");
	if (c->parts) {
		PUT_LIT(c, "multipart/byteranges; boundary=");
		put_str(c, c->parts->boundary);
	} else {
		put_str(c, serve_content_type(c->rel));
	}
	PUT_LIT(c, "\r\nContent-Length: ");
	put_u64(c, count);
	PUT_LIT(c, "\r\nETag: ");
	put_str(c, etag);
	PUT_LIT(c, "\r\nLast-Modified: ");
	put_str(c, lm);
	PUT_LIT(c, "\r\nAccept-Ranges: bytes\r\n");
	put_str(c, ce);
	put_str(c, cr);
	head_end(c);
	c->off = start;
	c->left = c->head ? 0 : count;
	c->body_len = c->left;
	if (c->parts) {
		if (c->head) {
			send_piece(c, 0);
			return;
		}
		/* Each part's head goes out in front of its first piece. */
		c->left = 0;
		next_part(c);
		return;
	}
	if (splice_body(c))
		return;
	if (c->left)
		read_piece(c);
	else
		send_piece(c, 0);
}

/* The first coding from the `i`-th on that the request accepts. */
static unsigned next_coding(const struct conn *c, unsigned i)
{
	for (; i < N_CODINGS; i++)
		if (c->accept_enc & codings[i].bit)
			return i;
	return N_CODINGS;
}

/* Whether the copy's modification time is before the file's. */
static bool older(const struct stat *copy, const struct stat *file)
{
	return copy->st_mtim.tv_sec < file->st_mtim.tv_sec ||
	       (copy->st_mtim.tv_sec == file->st_mtim.tv_sec &&
		copy->st_mtim.tv_nsec < file->st_mtim.tv_nsec);
}

static void open_copy(struct conn *c);

/*
 * A precompressed copy opened, or not there.  It is sent in place of the
 * file when it is a regular file no older than the file itself (a copy left
 * behind by an edit of the file is never sent); else the next coding is
 * tried, and after the last the file itself is sent.
 */
static void on_copy_open(rp_future *f, void *arg)
{
	struct conn *c = arg;
	int64_t fd = io_result(f);
	struct stat st;

	if (fd == -ECANCELED) {
		conn_close(c);
		return;
	}
	if (fd >= 0) {
		if (!fstat((int)fd, &st) && S_ISREG(st.st_mode) &&
		    !older(&st, &c->plain)) {
			close(c->file);
			c->file = (int)fd;
			c->file_nb = true;
			c->coding = codings[c->enc].name;
			respond_file(c, &st);
			return;
		}
		close((int)fd);
	}
	c->enc = next_coding(c, c->enc + 1);
	if (c->enc < N_CODINGS) {
		open_copy(c);
		return;
	}
	respond_file(c, &c->plain);
}

static void open_copy(struct conn *c)
{
	rp_future *f = NULL;

	snprintf(c->vrel, sizeof(c->vrel), "%s%s", c->rel,
		 codings[c->enc].suffix);
	if (!chain(rp_openat(ex, root_fd, c->vrel,
			     O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0,
			     NULL, &f),
		   &f, on_copy_open, c))
		conn_close(c);
}

/* ---- folder listings (--list) ------------------------------------------ */

static int status_of_errno(int err);

/*
 * Reading a folder is blocking work with no io_uring operation (getdents),
 * and a large one takes a while: it runs as a task on the CPU pool, the
 * same future type as the connection's I/O.  The task's done-callback
 * (on the worker) queues the response's write, and the connection's chain
 * goes on from there; only one step is ever in flight, so no lock.
 */
static int list_task(void *arg, int64_t *value)
{
	struct conn *c = arg;
	char title[REL_CAP + 2];
	int fd, ret;

	(void)value;
	snprintf(title, sizeof(title), "/%s%s", strcmp(c->rel, ".") ? c->rel
			: "", strcmp(c->rel, ".") ? "/" : "");
	fd = openat(root_fd, c->rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = serve_list_folder(fd, title, o.dotfiles, &c->page, &c->page_len);
	close(fd);
	return ret;
}

static void on_listed(rp_future *f, void *arg)
{
	struct conn *c = arg;
	int64_t ret = io_result(f);
	char *p;

	if (ret == -ECANCELED) {
		conn_close(c);
		return;
	}
	if (ret < 0) {
		respond_text(c, status_of_errno((int)ret), NULL);
		return;
	}
	p = realloc(c->out, HEAD_CAP + c->page_len);
	if (!p) {
		free(c->page);
		c->page = NULL;
		respond_text(c, 503, NULL);
		return;
	}
	c->out = p;
	c->out_cap = HEAD_CAP + c->page_len;
	head_printf(c, 200, "Content-Type: text/html; charset=utf-8\r\n"
			    "Content-Length: %zu\r\n", c->page_len);
	if (!c->head) {
		memcpy(c->out + c->hlen, c->page, c->page_len);
		c->hlen += c->page_len;
		c->body_len = c->page_len;
	}
	free(c->page);
	c->page = NULL;
	c->left = 0;
	send_piece(c, 0);
}

/* c->rel names a folder without index.html: its listing. */
static void list_folder(struct conn *c)
{
	rp_future *f = NULL;

	if (!chain(rp_submit(ex, list_task, c, &f), &f, on_listed, c))
		conn_close(c);
}

static int status_of_errno(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
		return 404;
	case -EACCES:
	case -EPERM:
	case -ELOOP:
		return 403;
	case -ENAMETOOLONG:
		return 414;
	case -EMFILE:
	case -ENFILE:
	case -ENOMEM:
		return 503;
	default:
		return 500;
	}
}

static void on_open(rp_future *f, void *arg)
{
	struct conn *c = arg;
	int64_t fd = io_result(f);
	char loc[REL_CAP * 3 + 32];
	struct stat st;

	if (fd == -ECANCELED) {
		conn_close(c);
		return;
	}
	if (fd < 0) {
		if (c->index && fd == -ENOENT && o.list) {
			/* Back to the folder's own path. */
			char *slash = strrchr(c->rel, '/');

			if (slash)
				*slash = '\0';
			else
				strcpy(c->rel, ".");
			list_folder(c);
			return;
		}
		/* A folder without index.html: no listing unless --list. */
		respond_text(c, c->index && fd == -ENOENT ? 403
				: status_of_errno((int)fd), NULL);
		return;
	}
	c->file = (int)fd;
	if (fstat(c->file, &st) < 0) {
		respond_text(c, 500, NULL);
		return;
	}
	if (S_ISREG(st.st_mode) && c->dir_slash && !c->index) {
		/* "/file.txt/": a file is not a folder (open(2): ENOTDIR). */
		respond_text(c, 404, NULL);
		return;
	}
	if (S_ISREG(st.st_mode)) {
		/*
		 * Opened O_NONBLOCK so that a FIFO cannot hold the open.  A
		 * regular file keeps the flag (see file_blocking()).
		 */
		c->file_nb = true;
		c->enc = next_coding(c, 0);
		if (c->enc < N_CODINGS) {
			c->plain = st;
			open_copy(c);
			return;
		}
		respond_file(c, &st);
		return;
	}
	if (!S_ISDIR(st.st_mode) || c->index) {
		respond_text(c, 403, NULL);
		return;
	}
	close(c->file);
	c->file = -1;
	if (!c->dir_slash) {
		/*
		 * The cleaned path with a '/' after it, then the query, not
		 * the request's bytes: "//evil.example/../docs" would
		 * otherwise send the browser to evil.example.
		 */
		char where[REL_CAP * 3 + 4];

		serve_dir_location(c->rel, c->url + c->query, c->query_len,
				   where, sizeof(where));
		snprintf(loc, sizeof(loc), "Location: %s\r\n", where);
		respond_text(c, 301, loc);
		return;
	}
	if (strlen(c->rel) + sizeof("/index.html") > sizeof(c->rel)) {
		respond_text(c, 414, NULL);
		return;
	}
	if (!strcmp(c->rel, "."))
		strcpy(c->rel, "index.html");
	else
		strcat(c->rel, "/index.html");
	c->index = true;
	open_path(c);
}

static void open_path(struct conn *c)
{
	rp_future *f = NULL;

	if (!chain(rp_openat(ex, root_fd, c->rel,
			     O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0,
			     NULL, &f),
		   &f, on_open, c))
		conn_close(c);
}

/* A whole request is in: answer it. */
static void handle_request(struct conn *c)
{
	struct http_parser_url u;
	const char *path;
	size_t plen;
	int ret;

	c->head = c->method == HTTP_HEAD;
	c->index = false;
	c->file = -1;
	c->coding = NULL;
	c->accept_enc = o.precompressed && c->kept[H_AE].len
			? serve_accepted_codings(c->kept[H_AE].v) : 0;
	c->off = c->left = 0;
	if (c->url_long) {
		/* Read to its end (the rest of the target dropped). */
		respond_text(c, 414, NULL);
		return;
	}
	if (c->refused) {
		respond_text(c, c->refused, "Allow: GET, HEAD\r\n");
		return;
	}
	http_parser_url_init(&u);
	if (http_parser_parse_url(c->url, c->url_len, 0, &u) ||
	    !(u.field_set & (1 << UF_PATH | 1 << UF_HOST))) {
		respond_fatal(c, 400, NULL);
		return;
	}
	c->query = u.field_data[UF_QUERY].off;
	c->query_len = u.field_set & (1 << UF_QUERY)
		       ? u.field_data[UF_QUERY].len : 0;
	if (u.field_set & (1 << UF_PATH)) {
		path = c->url + u.field_data[UF_PATH].off;
		plen = u.field_data[UF_PATH].len;
	} else {
		/*
		 * The absolute form with no path ("http://host", "http://host?q"):
		 * an empty path is "/" (RFC 9110, 4.2.3), as nginx has it.
		 */
		path = "/";
		plen = 1;
	}
	ret = serve_map_path(path, plen, o.dotfiles, c->rel, sizeof(c->rel),
			     &c->dir_slash);
	if (ret == -EACCES || ret == -ENAMETOOLONG) {
		respond_text(c, ret == -EACCES ? 404 : 414, NULL);
		return;
	}
	if (ret) {
		/*
		 * A path out of the folder or that cannot be decoded: 400,
		 * which ends the connection, as every 400 here does and as
		 * nginx has it.
		 */
		respond_fatal(c, 400, NULL);
		return;
	}
	open_path(c);
}

/* ---- requests ------------------------------------------------------------ */

static struct conn *conn_of(http_parser *p)
{
	return p->data;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);

	if (c->url_len + len > sizeof(c->url)) {
		len = sizeof(c->url) - c->url_len;
		c->url_long = true;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	return 0;
}

/*
 * Notes whether a line ended between the last header bytes and `at`, where
 * a header callback's bytes start; returns it, and moves on past them.
 */
static bool line_ended(struct conn *c, const char *at, size_t len)
{
	size_t to = (size_t)(at - c->in);
	bool lf = c->gap_lf || (to > c->gap &&
				memchr(c->in + c->gap, '\n', to - c->gap));

	c->gap = to + len;
	c->gap_lf = false;
	return lf;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);

	line_ended(c, at, len);
	/*
	 * RFC 9112, 5.1: a server MUST answer whitespace between a name and
	 * its colon ("Host : x") with 400.  http-parser refuses a tab there,
	 * and takes a space as part of the name.
	 */
	if (memchr(at, ' ', len))
		c->bad_head = true;

	if (c->in_value) {
		c->in_value = c->field_long = false;
		c->field_len = 0;
	}
	if (c->field_len + len >= sizeof(c->field)) {
		c->field_long = true;	/* none of the names we keep */
		return 0;
	}
	memcpy(c->field + c->field_len, at, len);
	c->field_len += len;
	return 0;
}

/* Appends to a kept header value; too long a value is marked so. */
static void keep_value(struct kept *k, const char *at, size_t len)
{
	if (k->len == sizeof(k->v))
		return;
	if (k->len + len >= sizeof(k->v)) {
		k->len = sizeof(k->v);
		return;
	}
	memcpy(k->v + k->len, at, len);
	k->len += len;
	k->v[k->len] = '\0';
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);

	/*
	 * A value continued on a line of its own, after a space or tab (RFC
	 * 9112, 5.2: obs-fold), which http-parser takes as part of the
	 * value: 400, as nginx answers.  (An empty value comes as no bytes
	 * at the start of the next line.)
	 */
	if (line_ended(c, at, len) && len)
		c->bad_head = true;

	if (!c->in_value) {
		unsigned i;

		c->in_value = true;
		c->field[c->field_len] = '\0';
		c->hdr = H_OTHER;
		/*
		 * Trailer fields (after a chunked body) are checked as header
		 * lines are, but none counts: RFC 9110, 6.5.1 has a recipient
		 * not merge one into the header section (nginx ignores them).
		 */
		if (c->in_body)
			return 0;
		/* Lengths first: most headers are none of these. */
		for (i = 0; i < H_KEPT && !c->field_long; i++)
			if (c->field_len == strlen(kept_names[i]) &&
			    !strcasecmp(c->field, kept_names[i])) {
				c->hdr = (enum hdr)i;
				break;
			}
		/*
		 * A repeated header: the last one counts, except
		 * Transfer-Encoding, whose lines make one list (RFC 9110,
		 * 5.3): each coding applied in turn.
		 */
		if (c->hdr == H_TE) {
			if (c->te)
				keep_value(&c->kept[H_TE], ",", 1);
			c->te = true;
		} else if (c->hdr != H_OTHER) {
			c->kept[c->hdr].len = 0;
		} else if (c->field_len == 4 && !strcasecmp(c->field, "host")) {
			c->hosts++;
		}
	}
	if (c->hdr != H_OTHER)
		keep_value(&c->kept[c->hdr], at, len);
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct conn *c = conn_of(p);
	unsigned i;
	int te;

	/*
	 * Values cut short are not trusted: as if absent, but for a
	 * Transfer-Encoding, which frames the body.
	 */
	if (c->te && c->kept[H_TE].len == sizeof(c->kept[H_TE].v))
		c->bad_head = true;
	for (i = 0; i < H_KEPT; i++)
		if (c->kept[i].len == sizeof(c->kept[i].v))
			c->kept[i].len = 0;
	c->method = p->method;
	c->keep_alive = http_should_keep_alive(p);
	c->http10 = p->http_major == 1 && p->http_minor == 0;
	c->in_body = true;
	/*
	 * A major version other than 1 (HTTP/2.0, HTTP/0.9 with headers) is
	 * not spoken here: 505 (RFC 9110, 15.6.6), as nginx answers.  RFC
	 * 9112, 3.2: 400 for an HTTP/1.1 request without a Host header, and
	 * for any with more than one.
	 */
	if (p->http_major != 1) {
		c->reject = 505;
		http_parser_pause(p, 1);
	} else if (c->bad_head || (c->http10 && c->te)) {
		/*
		 * RFC 9112, 6.1: an HTTP/1.0 request with Transfer-Encoding
		 * has faulty framing (a 1.0 hop in front knows no chunks, so
		 * it reads the body as the next request): 400, as nginx.
		 */
		c->reject = 400;
		http_parser_pause(p, 1);
	} else if (c->te && (te = serve_te_check(c->kept[H_TE].v))) {
		/*
		 * http-parser has seen that chunked comes last; it takes
		 * "chunked, chunked" and codings before chunked ("gzip,
		 * chunked") as chunked.  RFC 9112, 6.1: chunked applied
		 * twice is 400; a coding not implemented, 501 (nginx
		 * answers both so).  Either way the body cannot be read.
		 */
		c->reject = te;
		http_parser_pause(p, 1);
	} else if (c->hosts > 1 || (!c->hosts && (p->http_major > 1 ||
					   (p->http_major == 1 &&
					    p->http_minor >= 1)))) {
		c->reject = 400;
		http_parser_pause(p, 1);
	} else if ((p->flags & F_CONTENTLENGTH) &&
		   p->content_length > BODY_MAX) {
		c->reject = 413;
		http_parser_pause(p, 1);
	} else if (c->kept[H_EXPECT].len && !c->http10 &&
		   ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) &&
					       p->content_length))) {
		/*
		 * The client waits for a 100 (Continue) before it sends the
		 * body, which is read before the answer: send one (RFC 9110,
		 * 10.1.1; nginx does).  An HTTP/1.0 request's expectation is
		 * ignored, as the RFC has it.
		 */
		c->continue_due = serve_expects_continue(c->kept[H_EXPECT].v);
	}
	if (!c->reject && p->method != HTTP_GET && p->method != HTTP_HEAD) {
		/*
		 * 405, once the request is read to its end, on a connection
		 * kept alive (as nginx answers); but at once, ending the
		 * connection, to a client that waits for a 100 (Continue):
		 * whether it sends the body after a final status is its choice
		 * (RFC 9110, 10.1.1), so where the next request starts is not
		 * known.
		 */
		if (c->continue_due) {
			c->continue_due = false;
			c->reject = 405;
			http_parser_pause(p, 1);
		} else {
			c->refused = 405;
		}
	}
	c->chunked = p->flags & F_CHUNKED;
	if (!c->reject) {
		c->check = CHK_HEAD_END;
		http_parser_pause(p, 1);
	}
	return 0;
}

/* A chunk's size line is in (p->content_length: its size). */
static int on_chunk_header(http_parser *p)
{
	struct conn *c = conn_of(p);

	c->req_body += p->content_length;
	if (p->content_length > BODY_MAX || c->req_body > BODY_MAX)
		c->reject = 413;
	else
		c->check = CHK_LF;
	http_parser_pause(p, 1);
	return 0;
}

/* A chunk's data and the line end after it are in. */
static int on_chunk_complete(http_parser *p)
{
	struct conn *c = conn_of(p);

	/* Also called at the end of the trailers: on_message_complete(). */
	if (!(p->flags & F_TRAILING)) {
		c->check = CHK_CRLF;
		http_parser_pause(p, 1);
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct conn *c = conn_of(p);

	/*
	 * A malformed trailer line (on_headers_complete() saw the header
	 * lines, http-parser calls nothing between the trailers and here).
	 */
	if (c->bad_head)
		c->reject = 400;
	else if (c->chunked)
		c->check = CHK_LF;	/* of the line that ends the trailers */
	c->complete = true;
	http_parser_pause(p, 1);
	return 0;
}

static void on_continue_sent(rp_future *f, void *arg)
{
	struct conn *c = arg;

	if (io_result(f) < 0) {
		conn_close(c);
		return;
	}
	arm_recv(c, NULL);
}

/* Sends the 100 (Continue) the request asked for, then reads its body. */
static void send_continue(struct conn *c)
{
	static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct rp_io_opts io = { .timeout_ns = (int64_t)(o.send_timeout *
							 NS_PER_S) };
	rp_future *f = NULL;

	c->continue_due = false;
	if (!chain(rp_write_full(ex, c->fd, line, sizeof(line) - 1, -1, &io,
				 &f),
		   &f, on_continue_sent, c))
		conn_close(c);
}

/* The byte `k` bytes before in[parsed] (1 or 2), perhaps of the last in[]. */
static char parsed_back(const struct conn *c, size_t k)
{
	return c->parsed >= k ? c->in[c->parsed - k] : c->prev;
}

/*
 * Checks the line end c->check names.  The Debian build of http-parser is
 * not strict (HTTP_PARSER_STRICT=0): where it expects the LF of a CRLF that
 * ends the headers, a chunk's size line, its data or the trailers, and
 * where it expects the CR after a chunk's data, it takes any byte.  So a
 * chunk longer than its size ("3\r\nabcdef"), or "\r\n\rX" for the end of
 * the headers, framed the request differently from how any strict parser
 * in front of the server (a proxy) reads it: a request smuggled past it.
 * Each is 400, as nginx answers.
 */
static bool framing_ok(const struct conn *c)
{
	switch (c->check) {
	case CHK_HEAD_END:	/* paused before the LF */
		return c->in[c->parsed] == '\n';
	case CHK_LF:		/* after it */
		return parsed_back(c, 1) == '\n';
	case CHK_CRLF:
		return parsed_back(c, 2) == '\r' && parsed_back(c, 1) == '\n';
	default:
		return true;
	}
}

/* Parses what came in; answers a complete request or asks for more. */
static void feed(struct conn *c)
{
	enum http_errno e;
	size_t n;

	c->gap = c->parsed;
	for (;;) {
		bool ok;

		n = http_parser_execute(&c->parser, &settings,
					c->in + c->parsed, c->len - c->parsed);
		c->parsed += n;
		if (c->check == CHK_NONE)
			break;
		ok = framing_ok(c);
		c->check = CHK_NONE;
		if (!ok && !c->reject)
			c->reject = 400;
		if (c->reject || c->complete)
			break;
		/* Paused only for the check: on. */
		http_parser_pause(&c->parser, 0);
		if (c->parsed == c->len)
			break;
	}
	/* Before in[] is reused: whether a line ended in what is left. */
	if (c->parsed > c->gap &&
	    memchr(c->in + c->gap, '\n', c->parsed - c->gap))
		c->gap_lf = true;
	e = HTTP_PARSER_ERRNO(&c->parser);
	if (c->reject) {
		c->head = c->method == HTTP_HEAD;
		/* Its body is not read. */
		respond_fatal(c, c->reject, c->reject == 405
			      ? "Allow: GET, HEAD\r\n" : NULL);
		return;
	}
	if (c->complete) {
		if (c->parser.upgrade)
			c->keep_alive = false;
		handle_request(c);
		return;
	}
	if (e != HPE_OK) {
		c->method = HTTP_GET;
		c->head = false;
		respond_fatal(c, e == HPE_HEADER_OVERFLOW ? 431 : 400, NULL);
		return;
	}
	/*
	 * All of it parsed, the request not complete yet: read on.  Its
	 * headers and body must all come within --idle-timeout of its first
	 * byte, so that a client cannot hold the connection by sending them
	 * a byte at a time, each just before the idle timeout.
	 */
	if (!c->req_until)
		c->req_until = now_ns() +
				(int64_t)(o.idle_timeout * NS_PER_S);
	if (c->parsed)
		c->prev = c->in[c->parsed - 1];
	c->len = c->parsed = 0;
	if (c->continue_due) {
		send_continue(c);
		return;
	}
	arm_recv(c, NULL);
}

static void on_recv(rp_future *f, void *arg)
{
	struct conn *c = arg;
	int64_t n = io_result(f);

	idle_remove(c);
	if (n == -ETIMEDOUT && c->req_until) {
		request_timed_out(c);
		return;
	}
	if (n <= 0) {
		/* Closed, idle too long, reset, or shutting down. */
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	feed(c);
}

/* `opts` NULL: on the ring the library picks (a callback's own). */
static void arm_recv(struct conn *c, const struct rp_io_opts *opts)
{
	struct rp_io_opts io = { 0 };
	rp_future *f = NULL;

	if (opts)
		io = *opts;
	io.timeout_ns = (int64_t)(o.idle_timeout * NS_PER_S);
	if (c->req_until) {
		int64_t left = c->req_until - now_ns();

		if (left <= 0) {
			request_timed_out(c);
			return;
		}
		if (left < io.timeout_ns)
			io.timeout_ns = left;
	}
	if (rp_recv(ex, c->fd, c->in + c->len, IN_CAP - c->len, 0, &io, &f)) {
		conn_close(c);
		return;
	}
	/* Listed before its callback is added, which may run at once. */
	c->may_idle = !c->len && !c->req_until;
	if (c->may_idle)
		idle_add(c);
	chain(0, &f, on_recv, c);
}

/* ---- accepting ----------------------------------------------------------- */

static void arm_accept(void);

static void peer_name(int fd, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	snprintf(out, cap, "-");
	if (!getpeername(fd, (struct sockaddr *)&ss, &sl) &&
	    !getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), NULL,
			 0, NI_NUMERICHOST))
		snprintf(out, cap, "%s", host);
}

static void on_pause_over(rp_future *f, void *arg)
{
	(void)f;
	(void)arg;
	if (!atomic_load(&stopping) && !atomic_load(&draining))
		arm_accept();
}

/*
 * Out of descriptors: accept again in 10 ms (the connections being served
 * close meanwhile), on a timer rather than sleeping on the ring thread.
 */
static void pause_accepting(void)
{
	rp_future *f;
	int ret = rp_sleep(ex, 10 * 1000000LL, &f);

	if (ret)
		return;		/* shutting down */
	ret = rp_future_add_done_callback(f, on_pause_over, NULL);
	if (ret)
		fatal("rp_future_add_done_callback", ret);
	rp_future_unref(f);
}

/*
 * A connection past --max-conns gets 503 and a lingering close of its own,
 * lighter than a connection's: the request it sends is read and dropped
 * (up to BUSY_LINGER_BYTES, for up to BUSY_LINGER_NS) after the server has
 * ended its side, so that the close sends a FIN, not a reset that would
 * fail the client's receive.  At most BUSY_LINGER_MAX linger at once, out
 * of the descriptors fit_conns_to_nofile() keeps spare; past that, what
 * has already come is dropped and the connection closed at once.
 */
#define BUSY_LINGER_MAX 8u
#define BUSY_LINGER_BYTES (64u << 10)
#define BUSY_LINGER_NS (NS_PER_S / 2)

struct busy {
	int fd;
	size_t left;
	int64_t until;
	char buf[2048];
};

static _Atomic unsigned n_busy;

static void busy_close(struct busy *b)
{
	close(b->fd);
	free(b);
	atomic_fetch_sub(&n_busy, 1);
}

static void arm_busy(struct busy *b);

static void on_busy(rp_future *f, void *arg)
{
	struct busy *b = arg;
	int64_t n = io_result(f);

	if (n > 0 && (size_t)n < b->left && now_ns() < b->until) {
		b->left -= (size_t)n;
		arm_busy(b);
		return;
	}
	busy_close(b);
}

static void arm_busy(struct busy *b)
{
	struct rp_io_opts io = { .timeout_ns = b->until - now_ns() };
	rp_future *f = NULL;

	if (io.timeout_ns <= 0 ||
	    !chain(rp_recv(ex, b->fd, b->buf, sizeof(b->buf), 0, &io, &f),
		   &f, on_busy, b))
		busy_close(b);
}

static void refuse(int fd)
{
	static const char msg[] =
		"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
		"Connection: close\r\nRetry-After: 1\r\n\r\n";
	struct busy *b = NULL;
	char drop[4096];
	int i;

	/* A non-blocking send of a few bytes: it cannot wait. */
	(void)!send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (shutdown(fd, SHUT_WR) == 0) {
		if (atomic_fetch_add(&n_busy, 1) < BUSY_LINGER_MAX &&
		    (b = malloc(sizeof(*b)))) {
			b->fd = fd;
			b->left = BUSY_LINGER_BYTES;
			b->until = now_ns() + BUSY_LINGER_NS;
			arm_busy(b);
			return;
		}
		atomic_fetch_sub(&n_busy, 1);
	}
	for (i = 0; i < 16 && recv(fd, drop, sizeof(drop), MSG_DONTWAIT) > 0;
	     i++)
		;
	close(fd);
}

/*
 * Logs a failed accept.  Out of descriptors, the accept fails again every
 * 10 ms (see pause_accepting()) until a connection ends: at most a line a
 * second, which counts the failures left out since the line before.
 */
static void log_accept_error(int err)
{
	static _Atomic int64_t next_line;
	static _Atomic unsigned long left_out;
	int64_t now = now_ns();
	unsigned long n;

	if (now < atomic_load(&next_line)) {
		atomic_fetch_add(&left_out, 1);
		return;
	}
	atomic_store(&next_line, now + NS_PER_S);
	n = atomic_exchange(&left_out, 0);
	if (n)
		fprintf(stderr, "ringpool serve: accept: %s (and %lu more "
			"failure%s since the last line)\n", strerror(err), n,
			n == 1 ? "" : "s");
	else
		fprintf(stderr, "ringpool serve: accept: %s\n",
			strerror(err));
}

static void on_accept(rp_future *f, void *arg)
{
	struct rp_io_opts io = { .flags = RP_IO_RING };
	int64_t fd = io_result(f);
	struct conn *c;
	int one = 1;

	(void)arg;
	if (fd == -ECANCELED || atomic_load(&stopping) ||
	    atomic_load(&draining)) {
		if (fd >= 0)
			close((int)fd);
		return;
	}
	if (fd < 0) {
		/* EMFILE and the like: keep serving those already open. */
		log_accept_error((int)-fd);
		if (fd == -EMFILE || fd == -ENFILE)
			pause_accepting();
		else
			arm_accept();
		return;
	}
	atomic_fetch_add(&n_accepted, 1);
	if (atomic_fetch_add(&n_conns, 1) >= o.max_conns && !drain_idle()) {
		atomic_fetch_sub(&n_conns, 1);
		refuse((int)fd);
		arm_accept();
		return;
	}
	setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c) {
		close((int)fd);
		atomic_fetch_sub(&n_conns, 1);
		arm_accept();
		return;
	}
	c->fd = (int)fd;
	c->file = -1;
	c->pipe[0] = c->pipe[1] = -1;
	c->sock_flags = -1;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	if (!o.quiet)
		peer_name(c->fd, c->peer, sizeof(c->peer));
	io.ring = atomic_fetch_add(&next_ring, 1) % n_rings;
	c->ring = io.ring;
	arm_recv(c, &io);
	arm_accept();
}

static void arm_accept(void)
{
	rp_future *f;
	int ret;

	if (atomic_load(&draining))
		return;
	ret = rp_accept(ex, listen_fd, NULL, NULL, SOCK_CLOEXEC, NULL, &f);
	if (ret) {
		if (!atomic_load(&stopping))
			fprintf(stderr, "ringpool serve: cannot accept: %s\n",
				strerror(-ret));
		return;
	}
	ret = rp_future_add_done_callback(f, on_accept, NULL);
	if (ret)
		fatal("rp_future_add_done_callback", ret);
	rp_future_unref(f);
}

/* ---- options and the main thread ----------------------------------------- */

static void serve_usage(FILE *out)
{
	fprintf(out,
"Usage: ringpool serve [OPTIONS] [DIR]\n"
"\n"
"Serves the files under DIR (default '.') over HTTP/1.1: GET and HEAD,\n"
"keep-alive and pipelining, byte ranges (several as multipart/byteranges;\n"
"with If-Range), ETag and Last-Modified with If-Match, If-Unmodified-Since,\n"
"If-None-Match and If-Modified-Since, and DIR/index.html for a folder's\n"
"address (without one, 403, or a listing with --list).  Names starting\n"
"with '.' are not served unless --dotfiles; symbolic links are followed.\n"
"Each response is logged on stdout (Common Log Format, written out at\n"
"least once a second).\n"
"\n"
"SIGINT (Ctrl-C) or SIGTERM stops it gracefully: it stops listening,\n"
"closes the connections that wait for a request with none of it sent\n"
"(kept alive, or new), and lets the requests and responses in progress\n"
"finish (each with 'Connection: close') for up to --grace seconds.  A\n"
"second signal, or the end of the grace period, stops it at once,\n"
"closing every connection.\n"
"\n"
"  -d, --dir DIR          the folder to serve (or as the argument)\n"
"  -b, --bind ADDR        address to listen on (default 127.0.0.1; 0.0.0.0\n"
"                         or :: for every interface; ::1 or [::1])\n"
"  -p, --port N           port (default 8080; 0 picks a free one)\n"
"      --rings N          io_uring rings, each with a thread, that share the\n"
"                         connections (default 1)\n"
"      --max-conns N      connections at once; past it a new one replaces an\n"
"                         idle kept-alive one, or gets 503 (default 1024;\n"
"                         240 with the blocking-thread backend, at most 1008;\n"
"                         lowered to what the open-file limit allows)\n"
"      --idle-timeout S   close a connection idle for S seconds, or whose\n"
"                         request (headers and body) takes longer than S\n"
"                         from its first byte (default 60)\n"
"      --send-timeout S   close a connection that takes no data for S\n"
"                         seconds (default 60)\n"
"      --grace S          on a signal, let responses in progress finish\n"
"                         for up to S seconds; 0 stops at once (default 10)\n"
"  -u, --user NAME        after binding, run as user NAME (and its groups);\n"
"                         needs root.  Started as root without it, the\n"
"                         server reads every file as root and says so\n"
"      --dotfiles         serve names that start with '.'\n"
"      --list             list a folder that has no index.html (an HTML\n"
"                         page; names starting with '.' only with\n"
"                         --dotfiles)\n"
"      --precompressed    send NAME.br or NAME.gz, when there and no older\n"
"                         than NAME, to clients that accept that coding\n"
"      --splice WHEN      send bodies of 128 KiB or more from the file to\n"
"                         the socket through a pipe, not through a buffer:\n"
"                         auto (the default: with 4 or more CPUs), on, off\n"
"  -q, --quiet            no access log\n"
"  -h, --help             show this help\n"
"\n"
"The I/O backend is io_uring where the kernel allows it; RINGPOOL_BACKEND=\n"
"threads picks the blocking-thread fallback (a thread per connection).\n"
"Exit status: 0 stopped by a signal, 1 cannot listen (or be --user),\n"
"2 usage error.\n");
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ringpool serve: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'ringpool serve --help' for the options.\n");
	return 2;
}

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *v)
{
	char *end;
	unsigned long x;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	x = strtoul(s, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return false;
	*v = (unsigned)x;
	return true;
}

static bool parse_seconds(const char *s, double *v)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(s, &end);
	if (errno || end == s || *end || !(x > 0) || x > 86400 * 365)
		return false;
	*v = x;
	return true;
}

static int parse_opts(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "bind", required_argument, NULL, 'b' },
		{ "port", required_argument, NULL, 'p' },
		{ "rings", required_argument, NULL, 'r' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "send-timeout", required_argument, NULL, 's' },
		{ "grace", required_argument, NULL, 'g' },
		{ "user", required_argument, NULL, 'u' },
		{ "dotfiles", no_argument, NULL, '.' },
		{ "precompressed", no_argument, NULL, 'z' },
		{ "splice", required_argument, NULL, 'S' },
		{ "list", no_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	o = (struct opts){ .dir = NULL, .bind = "127.0.0.1", .port = 8080,
			   .rings = 1, .max_conns = 1024, .idle_timeout = 60,
			   .send_timeout = 60, .grace = 10 };
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":d:b:p:u:qh", longs, NULL)) !=
	       -1) {
		switch (opt) {
		case 'd':
			o.dir = optarg;
			break;
		case 'b':
			o.bind = optarg;
			break;
		case 'p':
			if (!parse_uint(optarg, 0, 65535, &o.port))
				return usage_error("--port '%s' is not a port "
						   "(0-65535)", optarg);
			break;
		case 'r':
			if (!parse_uint(optarg, 1, MAX_RINGS, &o.rings))
				return usage_error("--rings '%s' is not 1-64",
						   optarg);
			break;
		case 'm':
			if (!parse_uint(optarg, 1, 1000000, &o.max_conns))
				return usage_error("--max-conns '%s' is not "
						   "1-1000000", optarg);
			o.max_conns_given = true;
			break;
		case 'i':
			if (!parse_seconds(optarg, &o.idle_timeout))
				return usage_error("--idle-timeout '%s' is not "
						   "a number of seconds above 0",
						   optarg);
			break;
		case 's':
			if (!parse_seconds(optarg, &o.send_timeout))
				return usage_error("--send-timeout '%s' is not "
						   "a number of seconds above 0",
						   optarg);
			break;
		case 'g':
			o.grace = 0;
			if (strcmp(optarg, "0") &&
			    !parse_seconds(optarg, &o.grace))
				return usage_error("--grace '%s' is not 0 or a "
						   "number of seconds", optarg);
			break;
		case 'u':
			o.user = optarg;
			break;
		case '.':
			o.dotfiles = true;
			break;
		case 'z':
			o.precompressed = true;
			break;
		case 'S':
			if (!strcmp(optarg, "auto"))
				o.splice = SPLICE_AUTO;
			else if (!strcmp(optarg, "on"))
				o.splice = SPLICE_ON;
			else if (!strcmp(optarg, "off"))
				o.splice = SPLICE_OFF;
			else
				return usage_error("--splice: auto, on or off, "
						   "not '%s'", optarg);
			break;
		case 'l':
			o.list = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			serve_usage(stdout);
			return 0;
		case ':':
			return usage_error("%s needs a value",
					   argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind < argc) {
		if (o.dir || optind + 1 < argc)
			return usage_error("one folder to serve, not '%s'",
					   argv[argc - 1]);
		o.dir = argv[optind];
	}
	if (!o.dir)
		o.dir = ".";
	return -1;
}

/* Listens on o.bind:o.port.  Returns the socket, or -1 with a message. */
static int listen_on(char *url, size_t url_len)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICHOST |
					      AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM };
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo *ai;
	char port[8], host[INET6_ADDRSTRLEN], addr[INET6_ADDRSTRLEN + 16];
	size_t len = strlen(o.bind);
	int fd, one = 1, ret;

	/* "[::1]", as an IPv6 address is written in a URL, is "::1". */
	if (len > 2 && o.bind[0] == '[' && o.bind[len - 1] == ']')
		snprintf(addr, sizeof(addr), "%.*s", (int)len - 2, o.bind + 1);
	else
		snprintf(addr, sizeof(addr), "%s", o.bind);
	snprintf(port, sizeof(port), "%u", o.port);
	ret = len >= sizeof(addr) ? EAI_NONAME
				  : getaddrinfo(addr, port, &hints, &ai);
	if (ret) {
		fprintf(stderr, "ringpool serve: --bind '%s' is not an IPv4 or "
			"IPv6 address\n", o.bind);
		return -2;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		fprintf(stderr, "ringpool serve: cannot listen on %s port %u: "
			"%s\n", o.bind, o.port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
		    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(url, url_len, "http://%s%s%s:%s/",
		 ss.ss_family == AF_INET6 ? "[" : "", host,
		 ss.ss_family == AF_INET6 ? "]" : "", port);
	return fd;
}

/*
 * Runs the rest as o.user, its groups included, as nginx's workers run as
 * its `user`: the listening socket, the served folder and the log are
 * open already.  Called before the executor starts its threads, so that
 * they and io_uring's workers carry the new credentials.  Started as root
 * without --user, says that every file is read as root.  Returns 0, or an
 * exit status with a message.
 */
static int switch_user(const char *real)
{
	struct passwd *pw;

	if (!o.user) {
		if (geteuid() == 0)
			fprintf(stderr, "ringpool serve: running as root: every "
				"file the folder holds or links to can be "
				"served; --user NAME runs as NAME after "
				"binding\n");
		return 0;
	}
	errno = 0;
	pw = getpwnam(o.user);
	if (!pw) {
		fprintf(stderr, "ringpool serve: --user '%s': %s\n", o.user,
			errno ? strerror(errno) : "no such user");
		return 2;
	}
	if (geteuid() != 0 && pw->pw_uid != geteuid()) {
		fprintf(stderr, "ringpool serve: --user '%s' needs root\n",
			o.user);
		return 2;
	}
	if ((geteuid() == 0 && initgroups(pw->pw_name, pw->pw_gid)) ||
	    setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		fprintf(stderr, "ringpool serve: cannot run as user '%s': %s\n",
			o.user, strerror(errno));
		return 1;
	}
	/* Else every request would be 403. */
	if (faccessat(root_fd, ".", R_OK | X_OK, AT_EACCESS)) {
		fprintf(stderr, "ringpool serve: user '%s' cannot read %s: %s\n",
			o.user, real, strerror(errno));
		return 1;
	}
	return 0;
}

static void raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

/* Descriptors open now (counted in /proc/self/fd), or -1. */
static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = -1;	/* the directory's own descriptor */

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * A connection holds two descriptors while it sends a file: --max-conns is
 * lowered to what RLIMIT_NOFILE leaves (keeping 16 spare, and two for each
 * pipe of spliced bodies), so that a full house gets 503 at the door rather
 * than every request failing to open its file.
 */
static void fit_conns_to_nofile(void)
{
	long used = open_fds();
	struct rlimit rl;
	rlim_t room, spare;

	if (used < 0 || getrlimit(RLIMIT_NOFILE, &rl) ||
	    rl.rlim_cur == RLIM_INFINITY)
		return;
	spare = 16 + 2 * DRAIN_MAX + 2 * (rlim_t)pipes.cap;
	room = rl.rlim_cur > (rlim_t)used + spare + 2
		       ? (rl.rlim_cur - (rlim_t)used - spare) / 2 : 1;
	if (o.max_conns <= room)
		return;
	o.max_conns = (unsigned)room;
	fprintf(stderr, "ringpool serve: at most %u connection%s: the limit on "
		"open files (RLIMIT_NOFILE) is %llu, two per connection\n",
		o.max_conns, o.max_conns == 1 ? "" : "s",
		(unsigned long long)rl.rlim_cur);
}

/*
 * io_uring entries per ring for --max-conns connections.  A ring takes no
 * more work while its whole CQ (twice its entries) is owed, and every
 * connection owes CQEs all the time: its one operation and that
 * operation's linked timeout (the idle receive included), and for a
 * moment the close of the file it answered from.  With the library's
 * default 256 entries, 255 idle connections held the CQ, and the accept
 * queued behind them never ran: the server took no new connection until
 * one of them ended, far below --max-conns.  Connections are dealt to the
 * rings in turn but may end unevenly, so each ring has room for all of
 * them; past the kernel's 32768 entries --max-conns is lowered.
 */
#define RING_ENTRIES_MAX 32768u
#define CQES_PER_CONN 3u
#define CQES_SPARE 64u	/* the accept, its timer, 503s lingering */

static unsigned ring_entries_for_conns(void)
{
	unsigned long need = ((unsigned long)o.max_conns * CQES_PER_CONN +
			      CQES_SPARE + 1) / 2;
	unsigned entries = 256;

	if (need > RING_ENTRIES_MAX) {
		o.max_conns = (2 * RING_ENTRIES_MAX - CQES_SPARE) /
			      CQES_PER_CONN;
		fprintf(stderr, "ringpool serve: at most %u connections: "
			"io_uring rings hold %u entries\n", o.max_conns,
			RING_ENTRIES_MAX);
		return RING_ENTRIES_MAX;
	}
	while (entries < need)
		entries *= 2;
	return entries;
}

/*
 * A graceful stop after signal `sig`: no more connections, the idle ones
 * closed, and up to --grace seconds for the others to end.  Returns the
 * signal to report: `sig`, or a second one that cut the wait short.
 */
static int drain(const sigset_t *set, int sig)
{
	int64_t until = now_ns() + (int64_t)(o.grace * NS_PER_S),
		flush_at = now_ns() + NS_PER_S;
	bool told = false;

	/*
	 * The listening socket shut down: connections are refused, those
	 * not accepted yet are reset, and the accept waiting ends (EINVAL).
	 */
	drain_all();
	(void)shutdown(listen_fd, SHUT_RDWR);
	/* Polled: a connection's end has no way to wake this thread. */
	while (atomic_load(&n_conns) > 0) {
		int64_t left = until - now_ns();
		struct timespec tick = { .tv_nsec = 10 * 1000000L };
		int s;

		if (left <= 0)
			break;
		if (left < tick.tv_nsec)
			tick.tv_nsec = (long)left;
		s = sigtimedwait(set, NULL, &tick);
		if (s > 0)
			return s;
		if (now_ns() >= flush_at) {
			fflush(stdout);
			flush_at = now_ns() + NS_PER_S;
			/*
			 * Said once the wait is a second old, so that a person
			 * at the terminal knows why the server has not ended
			 * and how to end it now.
			 */
			if (!told) {
				unsigned n = atomic_load(&n_conns);

				fprintf(stderr, "ringpool serve: stopping; "
					"waiting up to %.0f s for %u "
					"connection%s to finish (%s again "
					"stops at once)\n", o.grace,
					n, n == 1 ? "" : "s",
					sig == SIGINT ? "Ctrl-C" :
					"the signal");
				told = true;
			}
		}
	}
	return sig;
}

int cli_serve(int argc, char **argv)
{
	struct rp_config cfg;
	char url[96], real[PATH_MAX];
	const char *why = NULL;
	int ret, sig, backend;
	sigset_t set;

	ret = parse_opts(argc, argv);
	if (ret >= 0)
		return ret;
	root_fd = open(o.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		fprintf(stderr, "ringpool serve: cannot serve '%s': %s\n",
			o.dir, strerror(errno));
		return 2;
	}
	if (!realpath(o.dir, real))
		snprintf(real, sizeof(real), "%s", o.dir);

	/* Blocked here, so every thread the executor starts inherits it. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
#ifdef M_TRIM_THRESHOLD
	/*
	 * A response's buffer is freed when it ends, so that idle keep-alive
	 * connections hold none.  With glibc's default threshold (128 KiB) a
	 * ring thread's heap was given back to the kernel and faulted in again
	 * over and over under load: 4% of the server's CPU time in sysmalloc()
	 * (4 KiB files, 64 connections).  Each heap may keep 4 MiB free.
	 */
	(void)mallopt(M_TRIM_THRESHOLD, 4 << 20);
#endif
	raise_nofile(2 * (rlim_t)o.max_conns + 64 +
		     2 * (rlim_t)PIPES_PER_RING * o.rings);

	listen_fd = listen_on(url, sizeof(url));
	if (listen_fd < 0) {
		close(root_fd);
		return listen_fd == -2 ? 2 : 1;
	}
	ret = switch_user(real);
	if (ret) {
		close(listen_fd);
		close(root_fd);
		return ret;
	}
	rp_config_init(&cfg);
	cfg.workers = 1;	/* CPU tasks: folder listings only */
	cfg.rings = o.rings;
	cfg.ring_entries = ring_entries_for_conns();
	ret = rp_executor_new(&cfg, &ex);
	if (!ret) {
		rp_executor_backend(ex, &backend, &why);
		if (backend == RP_BACKEND_THREADS) {
			/*
			 * A waiting receive holds a thread: one each, and a
			 * few for the files.  The library's limit is 1024.
			 */
			if (!o.max_conns_given)
				o.max_conns = THREADS_MAX_CONNS;
			if (o.max_conns > 1024 - 16)
				o.max_conns = 1024 - 16;
			rp_executor_free(ex);
			cfg.io_threads = o.max_conns + 16;
			ret = rp_executor_new(&cfg, &ex);
		}
	}
	if (ret) {
		fprintf(stderr, "ringpool serve: cannot start the executor: "
			"%s\n", strerror(-ret));
		close(listen_fd);
		close(root_fd);
		return 1;
	}
	rp_executor_backend(ex, &backend, &why);
	ring_backend = backend == RP_BACKEND_URING;
	n_rings = ring_backend ? o.rings : 1;
	idle_init();
	pipes_init();
	fit_conns_to_nofile();

	settings = (http_parser_settings){
		.on_url = on_url,
		.on_header_field = on_header_field,
		.on_header_value = on_header_value,
		.on_headers_complete = on_headers_complete,
		.on_chunk_header = on_chunk_header,
		.on_chunk_complete = on_chunk_complete,
		.on_message_complete = on_message_complete,
	};
	/*
	 * A write per response would cost a third of the requests/s (4 KiB
	 * files, 50 connections): lines go out in 64 KiB blocks, flushed
	 * below every second, or one by one to a terminal.
	 */
	setvbuf(stdout, NULL, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF,
		64u << 10);
	if (backend == RP_BACKEND_URING)
		fprintf(stderr, "ringpool serve: serving %s at %s (io_uring, %u "
			"ring%s)\n", real, url, n_rings, n_rings == 1 ? "" : "s");
	else
		fprintf(stderr, "ringpool serve: serving %s at %s (blocking "
			"threads%s%s)\n", real, url, why ? ": " : "",
			why ? why : "");
	arm_accept();

	for (;;) {
		struct timespec tick = { .tv_sec = 1 };

		sig = sigtimedwait(&set, NULL, &tick);
		if (sig > 0)
			break;
		if (errno == EAGAIN)
			fflush(stdout);
	}
	if (o.grace > 0)
		sig = drain(&set, sig);

	atomic_store(&stopping, true);
	/* Cancels what is in flight; the callbacks close and free. */
	rp_executor_free(ex);
	pipes_free();
	close(listen_fd);
	close(root_fd);
	fflush(stdout);
	{
		unsigned long long nr = atomic_load(&n_requests),
				   nc = atomic_load(&n_accepted);

		fprintf(stderr, "ringpool serve: stopped (%s): %llu request%s "
			"on %llu connection%s\n", strsignal(sig), nr,
			nr == 1 ? "" : "s", nc, nc == 1 ? "" : "s");
	}
	return 0;
}
