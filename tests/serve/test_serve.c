/* SPDX-License-Identifier: MIT */
/*
 * `ringpool serve` end to end: the built CLI serving a scratch folder on
 * 127.0.0.1, spoken to over plain sockets, so that what goes on the wire
 * (pipelined requests, requests cut in pieces, paths no client library
 * would send) is the test's choice.  Each test checks status lines, headers
 * and bodies byte for byte.
 *
 * Registered once per backend (RINGPOOL_BACKEND=uring / threads).  Under the
 * valgrind setup the servers themselves run under valgrind, and must exit 0
 * (no error, no leak) when stopped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static char root[256], www[300];
static unsigned char *big;
static size_t big_len;

/* ---- servers -------------------------------------------------------------- */

struct server {
	pid_t pid;
	int port;
	char out[320], err[320];
};

static struct server main_srv;
/* When above 0, the RLIMIT_NOFILE of the next server spawned. */
static rlim_t spawn_nofile;

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, got;

	if (!f)
		return calloc(1, 1);
	for (;;) {
		if (cap - n < 4096) {
			char *nb = realloc(buf, cap = cap * 2 + 65536);

			if (!nb)
				break;
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		if (!got)
			break;
		n += got;
	}
	fclose(f);
	if (!buf)
		return calloc(1, 1);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/*
 * How long a wait for the server to do something gives it: long, since a
 * server under valgrind or ThreadSanitizer on a loaded machine is slow (on
 * the blocking-thread backend it starts over a thousand threads), and a
 * wait that ends early fails the test when nothing is wrong.
 */
static int64_t server_wait_ns(void)
{
	return (tu_under_valgrind() ? 180 : 60) * 1000000000LL;
}

/* Runs `ringpool serve ARGS` (NULL-terminated) in the background. */
static pid_t spawn(struct server *s, const char *tag, const char *const *args)
{
	static const char *const vg_args[] = {
		"valgrind", "--error-exitcode=99", "--leak-check=full",
		"--show-leak-kinds=definite,indirect,possible",
		"--errors-for-leak-kinds=definite,indirect,possible",
		"--fair-sched=yes", "--quiet",
	};
	const char *argv[48];
	size_t n = 0, i;

	if (tu_under_valgrind())
		for (i = 0; i < sizeof(vg_args) / sizeof(vg_args[0]); i++)
			argv[n++] = vg_args[i];
	argv[n++] = getenv("RINGPOOL_BIN") ? getenv("RINGPOOL_BIN")
					   : "ringpool";
	argv[n++] = "serve";
	for (i = 0; args[i] && n < 47; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(s->out, sizeof(s->out), "%s/%s.out", root, tag);
	snprintf(s->err, sizeof(s->err), "%s/%s.err", root, tag);
	fflush(NULL);
	s->pid = fork();
	if (s->pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int o = open(s->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(s->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in < 0 || o < 0 || e < 0)
			_exit(126);
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		if (spawn_nofile) {
			struct rlimit rl = { spawn_nofile, spawn_nofile };

			if (setrlimit(RLIMIT_NOFILE, &rl))
				_exit(126);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return s->pid;
}

/* The port of the first "http://HOST:PORT/" in `text` ("[::1]" too), or 0. */
static int url_port(const char *text)
{
	const char *p = strstr(text, "http://");

	if (!p)
		return 0;
	p += strlen("http://");
	if (*p == '[' && !(p = strchr(p, ']')))
		return 0;
	p = strchr(p, ':');
	return p ? atoi(p + 1) : 0;
}

/*
 * Starts a server and waits for its "serving ... at http://HOST:PORT/"
 * line.  Returns 0, or -1 (with what it said on the log, the server killed
 * if it still runs) if it did not come.
 */
static int start(struct server *s, const char *tag, const char *const *args)
{
	int64_t give_up = tu_now_ns() + server_wait_ns();
	int st;

	s->port = 0;
	if (spawn(s, tag, args) < 0)
		return -1;
	while (tu_now_ns() < give_up) {
		char *err = slurp(s->err, NULL);

		s->port = url_port(err);
		free(err);
		if (s->port > 0)
			return 0;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			break;
		}
		usleep(20000);
	}
	/* Not left running after the test gives up on it (an orphan). */
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
			;
		s->pid = 0;
	}
	{
		char *err = slurp(s->err, NULL);

		printf("\n  server %s did not start: %s\n", tag, err);
		free(err);
	}
	return -1;
}

/* Sends `sig` and returns the exit status (128 + signal if killed by one). */
static int stop(struct server *s, int sig)
{
	int st;

	if (s->pid <= 0)
		return -1;
	kill(s->pid, sig);
	if (waitpid(s->pid, &st, 0) != s->pid)
		return -1;
	s->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs `ringpool serve ARGS` to its end; returns its status, stderr in `err`. */
static int run_to_end(const char *const *args, char **err)
{
	struct server s;
	int st = -1;

	if (spawn(&s, "once", args) > 0 && waitpid(s.pid, &st, 0) == s.pid)
		st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	*err = slurp(s.err, NULL);
	return st;
}

/* ---- a plain HTTP client -------------------------------------------------- */

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = tu_under_valgrind() ? 120 : 20 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads until the server closes (or the receive timeout); NUL-terminated. */
static char *read_all(int fd, size_t *len)
{
	size_t n = 0, cap = 65536;
	char *buf = malloc(cap);
	ssize_t got;

	while (buf) {
		if (cap - n < 8192) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb)
				break;
			buf = nb;
		}
		got = recv(fd, buf + n, cap - n - 1, 0);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

/* Sends `req` as is on a new connection and returns all the server sent. */
static char *exchange_on(int port, const char *req, size_t *len)
{
	int fd = dial(port);
	char *resp;

	*len = 0;
	if (fd < 0)
		return calloc(1, 1);
	send_all(fd, req, strlen(req));
	resp = read_all(fd, len);
	close(fd);
	return resp ? resp : calloc(1, 1);
}

static char *exchange(const char *req, size_t *len)
{
	return exchange_on(main_srv.port, req, len);
}

/* One parsed response from the front of `p`. */
struct resp {
	int status;
	char head[4096];
	const char *body;
	size_t body_len;	/* as Content-Length says, or what is left */
	const char *next;	/* after this response */
};

/* A header's value (first match, case-insensitive name), or NULL. */
static const char *header(const struct resp *r, const char *name,
			  char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = r->head;

	while ((p = strstr(p, "\r\n"))) {
		p += 2;
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1, *e;

			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			snprintf(out, cap, "%.*s", (int)(e ? e - v : 0), v);
			return out;
		}
	}
	return NULL;
}

/*
 * Parses the response at `p` (`len` bytes); `head_only` for one without a
 * body (to HEAD, or a 304).
 */
static bool parse(const char *p, size_t len, bool head_only, struct resp *r)
{
	const char *end = memmem(p, len, "\r\n\r\n", 4);
	char v[64];
	size_t hl;

	memset(r, 0, sizeof(*r));
	if (!end || sscanf(p, "HTTP/1.1 %d ", &r->status) != 1)
		return false;
	hl = (size_t)(end - p) + 2;
	if (hl >= sizeof(r->head))
		return false;
	memcpy(r->head, p, hl);
	r->head[hl] = '\0';
	r->body = end + 4;
	r->body_len = len - (size_t)(r->body - p);
	if (header(r, "Content-Length", v, sizeof(v))) {
		size_t cl = head_only ? 0 : strtoull(v, NULL, 10);

		if (cl > r->body_len)
			return false;
		r->body_len = cl;
	} else if (head_only) {
		r->body_len = 0;
	}
	r->next = r->body + r->body_len;
	return true;
}

/* GET or HEAD `path` with extra header lines; the parsed response. */
static char *request_on(int port, const char *method, const char *path,
			const char *extra, struct resp *r)
{
	char req[4096];
	size_t len;
	char *raw;

	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close"
		 "\r\n\r\n", method, path, extra ? extra : "");
	raw = exchange_on(port, req, &len);
	if (!parse(raw, len, !strcmp(method, "HEAD"), r))
		r->status = -1;
	return raw;
}

static char *request(const char *method, const char *path, const char *extra,
		     struct resp *r)
{
	return request_on(main_srv.port, method, path, extra, r);
}

/* The status of a GET of `path` at `port`, accepting `codings`. */
static int status_of_on(int port, const char *path, const char *codings)
{
	char extra[128];
	struct resp r;
	char *raw;

	snprintf(extra, sizeof(extra), "Accept-Encoding: %s\r\n", codings);
	raw = request_on(port, "GET", path, extra, &r);
	free(raw);
	return r.status;
}

static int status_of(const char *method, const char *path, const char *extra)
{
	struct resp r;
	char *raw = request(method, path, extra, &r);

	free(raw);
	return r.status;
}

/*
 * The kernel's view of the server's sockets, from /proc/net/tcp: what a
 * test waits for instead of sleeping for a time a slow run may overrun.
 * The state (1 established, 10 listening) of the socket on 127.0.0.1 with
 * local port `lport` and remote port `rport` (0: the listening socket), and
 * its receive queue, which for a listening socket counts the connections
 * not yet accepted.  -1: no such socket; -2: /proc/net/tcp cannot be read.
 */
static int tcp_socket(int lport, int rport, unsigned *rx_queue)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[256];
	int state = -1;

	if (!f)
		return -2;
	while (state < 0 && fgets(line, sizeof(line), f)) {
		unsigned la, lp, ra, rp, st, tx, rx;

		if (sscanf(line, " %*u: %x:%x %x:%x %x %x:%x", &la, &lp, &ra,
			   &rp, &st, &tx, &rx) != 7 ||
		    lp != (unsigned)lport || rp != (unsigned)rport ||
		    (rport == 0) != (st == 10))
			continue;
		state = (int)st;
		if (rx_queue)
			*rx_queue = rx;
	}
	fclose(f);
	return state;
}

/*
 * Waits until the server listening on `port` has accepted every connection
 * made to it so far.  False if it has not by server_wait_ns().
 */
static bool wait_all_accepted(int port)
{
	int64_t give_up = tu_now_ns() + server_wait_ns();
	unsigned queued = 0;
	int st;

	while ((st = tcp_socket(port, 0, &queued)) == 10 && queued > 0 &&
	       tu_now_ns() < give_up)
		usleep(10000);
	if (st == -2) {
		/* No /proc/net/tcp: a pause is the best there is. */
		usleep(tu_under_valgrind() ? 3000000 : 500000);
		return true;
	}
	return st == 10 && queued == 0;
}

/*
 * Waits until the server has taken what was sent on connection `fd` (to
 * `port`) from its side's receive queue, then a moment more: the
 * connection counts as having part of a request in from the receive's
 * done-callback, just after the queue empties.  False if the queue is not
 * empty by server_wait_ns().
 */
static bool wait_server_read(int fd, int port)
{
	int64_t give_up = tu_now_ns() + server_wait_ns();
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	unsigned rx = 1;
	int st;

	if (getsockname(fd, (struct sockaddr *)&me, &len))
		return false;
	while ((st = tcp_socket(port, ntohs(me.sin_port), &rx)) == 1 &&
	       rx > 0 && tu_now_ns() < give_up)
		usleep(10000);
	usleep(tu_under_valgrind() ? 1000000 : 100000);
	return st == -2 || (st == 1 && rx == 0);
}

/*
 * Waits until the server's side of connection `fd` (to `port`) is closed,
 * or at least no longer established.  False if it is still open after
 * server_wait_ns().
 */
static bool wait_server_closed(int fd, int port)
{
	int64_t give_up = tu_now_ns() + server_wait_ns();
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	int st;

	if (getsockname(fd, (struct sockaddr *)&me, &len))
		return false;
	while ((st = tcp_socket(port, ntohs(me.sin_port), NULL)) == 1 &&
	       tu_now_ns() < give_up)
		usleep(10000);
	if (st == -2) {
		sleep(tu_under_valgrind() ? 8 : 3);
		return true;
	}
	return st != 1;
}

/* ---- the tests ------------------------------------------------------------ */

/* Whether the server at `port` still answers: GET /hello.txt is 200. */
static bool serves_hello(int port)
{
	struct resp r;
	size_t len;
	char *raw = exchange_on(port,
				"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				"Connection: close\r\n\r\n",
				&len);
	bool ok = raw && parse(raw, len, false, &r) && r.status == 200;

	free(raw);
	return ok;
}

/*
 * Whether the server at `port` comes to answer GET /hello.txt with 200
 * within server_wait_ns(): after a connection ends, the server may take a
 * moment to see it and free its place.
 */
static bool comes_to_serve_hello(int port)
{
	int64_t give_up = tu_now_ns() + server_wait_ns();

	while (!serves_hello(port)) {
		if (tu_now_ns() >= give_up)
			return false;
		usleep(50000);
	}
	return true;
}

static void test_a_file_and_its_headers(void)
{
	char v[128];
	struct resp r;
	char *raw = request("GET", "/hello.txt", NULL, &r);

	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(r.body_len, 13);
	CU_ASSERT(r.body && !memcmp(r.body, "Hello, world\n", 13));
	CU_ASSERT(header(&r, "Content-Type", v, sizeof(v)) &&
		  !strcmp(v, "text/plain; charset=utf-8"));
	CU_ASSERT(header(&r, "Last-Modified", v, sizeof(v)) &&
		  strstr(v, " GMT"));
	CU_ASSERT(header(&r, "Accept-Ranges", v, sizeof(v)) &&
		  !strcmp(v, "bytes"));
	CU_ASSERT(header(&r, "Connection", v, sizeof(v)) &&
		  !strcmp(v, "close"));
	free(raw);

	raw = request("HEAD", "/hello.txt", NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(header(&r, "Content-Length", v, sizeof(v)) &&
		  !strcmp(v, "13"));
	/* Nothing after the headers. */
	CU_ASSERT(r.body && r.body[0] == '\0');
	free(raw);
}

static void test_a_big_file_whole(void)
{
	struct resp r;
	char *raw = request("GET", "/big.bin", NULL, &r);

	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(r.body_len, big_len);
	CU_ASSERT(r.body_len == big_len && !memcmp(r.body, big, big_len));
	free(raw);
}

static void test_missing_hidden_and_escaping_paths(void)
{
	struct resp r;
	char *raw;

	CU_ASSERT_EQUAL(status_of("GET", "/missing.txt", NULL), 404);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt/x", NULL), 404);
	/* A file's name with a '/' after it names a folder: there is none. */
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt/", NULL), 404);
	CU_ASSERT_EQUAL(status_of("GET", "/sub/index.html/", NULL), 404);
	/* So does one with "/." or an encoded '/' after it (nginx: 404). */
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt/.", NULL), 404);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt/%2e", NULL), 404);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt/./", NULL), 404);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt%2f", NULL), 404);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt%2F.", NULL), 404);
	/* "/hello.txt/.." is "/", a folder without index.html. */
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt/..", NULL), 403);
	CU_ASSERT_EQUAL(status_of("GET", "/.secret", NULL), 404);
	CU_ASSERT_EQUAL(status_of("GET", "/sub/.hidden/x", NULL), 404);
	CU_ASSERT_EQUAL(status_of("GET", "/../hello.txt", NULL), 400);
	CU_ASSERT_EQUAL(status_of("GET", "/%2e%2e/%2e%2e/etc/passwd", NULL),
			400);
	CU_ASSERT_EQUAL(status_of("GET", "/sub/..%2f..%2fetc/passwd", NULL),
			400);
	CU_ASSERT_EQUAL(status_of("GET", "/bad%zzescape", NULL), 400);
	CU_ASSERT_EQUAL(status_of("GET", "/nul%00byte", NULL), 400);
	/* Cleaned paths that stay inside are served. */
	raw = request("GET", "/sub/../hello.txt?x=1", NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(r.body && !memcmp(r.body, "Hello, world\n", 13));
	free(raw);
	CU_ASSERT_EQUAL(status_of("GET", "/with%20space.txt", NULL), 200);
	/* A link inside the folder to a file outside it is followed. */
	CU_ASSERT_EQUAL(status_of("GET", "/link.txt", NULL), 200);
	/* Not a regular file: a FIFO is not opened for reading at all. */
	CU_ASSERT_EQUAL(status_of("GET", "/fifo", NULL), 403);
}

static void test_folders(void)
{
	char v[128];
	struct resp r;
	char *raw = request("GET", "/sub", NULL, &r);

	CU_ASSERT_EQUAL(r.status, 301);
	CU_ASSERT(header(&r, "Location", v, sizeof(v)) && !strcmp(v, "/sub/"));
	free(raw);
	/* The query goes along, as nginx sends it. */
	raw = request("GET", "/sub?q=1&r=%2F", NULL, &r);
	CU_ASSERT_EQUAL(r.status, 301);
	CU_ASSERT(header(&r, "Location", v, sizeof(v)) &&
		  !strcmp(v, "/sub/?q=1&r=%2F"));
	free(raw);
	raw = request("GET", "http://x/sub?q", NULL, &r);
	CU_ASSERT(r.status == 301 && header(&r, "Location", v, sizeof(v)) &&
		  !strcmp(v, "/sub/?q"));
	free(raw);
	raw = request("GET", "/sub/", NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(header(&r, "Content-Type", v, sizeof(v)) &&
		  !strcmp(v, "text/html; charset=utf-8"));
	CU_ASSERT(r.body_len == 13 && !memcmp(r.body, "<h1>sub</h1>\n", 13));
	free(raw);
	/* "/sub/." and "/sub/x/.." are "/sub/" (RFC 3986, 5.2.4), as in nginx. */
	raw = request("GET", "/sub/.", NULL, &r);
	CU_ASSERT(r.status == 200 && r.body_len == 13 &&
		  !memcmp(r.body, "<h1>sub</h1>\n", 13));
	free(raw);
	CU_ASSERT_EQUAL(status_of("GET", "/sub/x/..", NULL), 200);
	/*
	 * The Location is the cleaned path: one made from the target's bytes
	 * ("//evil.example/../sub/") would send a browser to evil.example.
	 */
	raw = request("GET", "//evil.example/..//sub", NULL, &r);
	CU_ASSERT_EQUAL(r.status, 301);
	CU_ASSERT(header(&r, "Location", v, sizeof(v)) && !strcmp(v, "/sub/"));
	free(raw);
	raw = request("GET", "/\\evil.example/%2e%2e/%73ub", NULL, &r);
	CU_ASSERT_EQUAL(r.status, 301);
	CU_ASSERT(header(&r, "Location", v, sizeof(v)) && !strcmp(v, "/sub/"));
	free(raw);
	/* No index.html: no listing. */
	CU_ASSERT_EQUAL(status_of("GET", "/noindex/", NULL), 403);
	CU_ASSERT_EQUAL(status_of("GET", "/", NULL), 403);
	/*
	 * The absolute form with no path names "/" (RFC 9110, 4.2.3: an
	 * empty path is "/"), as in nginx, whatever follows the host.
	 */
	CU_ASSERT_EQUAL(status_of("GET", "http://x", NULL), 403);
	CU_ASSERT_EQUAL(status_of("GET", "http://x?q=1", NULL), 403);
	CU_ASSERT_EQUAL(status_of("GET", "http://127.0.0.1:8080", NULL), 403);
	CU_ASSERT_EQUAL(status_of("GET", "http://x/sub", NULL), 301);
	CU_ASSERT_EQUAL(status_of("GET", "http://", NULL), 400);
}

/*
 * Whether the multipart/byteranges body of `r` holds, in order, the parts
 * want[2 * i] (start), want[2 * i + 1] (count) of `file` (`size` bytes,
 * sent as `type`), each with its Content-Type and Content-Range, and then
 * the closing delimiter and nothing else (RFC 9110, 14.6).
 */
static bool parts_are(const struct resp *r, const char *file, size_t size,
		      const char *type, const uint64_t *want, unsigned n)
{
	char v[128], delim[96], line[256];
	const char *p = r->body, *end = r->body + r->body_len, *bound;
	unsigned i;
	size_t dl;

	if (!header(r, "Content-Type", v, sizeof(v)) ||
	    strncmp(v, "multipart/byteranges; boundary=", 31))
		return false;
	bound = v + 31;
	dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", bound);
	for (i = 0; i < n; i++) {
		uint64_t a = want[2 * i], c = want[2 * i + 1];
		int ll = snprintf(line, sizeof(line),
				  "%s\r\nContent-Type: %s\r\nContent-Range: "
				  "bytes %llu-%llu/%zu\r\n\r\n", delim, type,
				  (unsigned long long)a,
				  (unsigned long long)(a + c - 1), size);

		if ((size_t)(end - p) < (size_t)ll + c ||
		    memcmp(p, line, (size_t)ll)) {
			printf("part %u: expected \"%s\"\n", i, line);
			return false;
		}
		p += ll;
		if (memcmp(p, file + a, c))
			return false;
		p += c;
	}
	return (size_t)(end - p) == dl + 4 && !memcmp(p, delim, dl) &&
	       !memcmp(p + dl, "--\r\n", 4);
}

static void test_ranges(void)
{
	char v[128];
	struct resp r;
	char *raw = request("GET", "/hello.txt", "Range: bytes=2-5\r\n", &r);

	CU_ASSERT_EQUAL(r.status, 206);
	CU_ASSERT(r.body_len == 4 && !memcmp(r.body, "llo,", 4));
	CU_ASSERT(header(&r, "Content-Range", v, sizeof(v)) &&
		  !strcmp(v, "bytes 2-5/13"));
	free(raw);
	raw = request("GET", "/hello.txt", "range: bytes=-3\r\n", &r);
	CU_ASSERT_EQUAL(r.status, 206);
	CU_ASSERT(r.body_len == 3 && !memcmp(r.body, "ld\n", 3));
	free(raw);
	raw = request("GET", "/big.bin", "Range: bytes=70000-\r\n", &r);
	CU_ASSERT_EQUAL(r.status, 206);
	CU_ASSERT(r.body_len == big_len - 70000 &&
		  !memcmp(r.body, big + 70000, big_len - 70000));
	free(raw);
	raw = request("GET", "/hello.txt", "Range: bytes=13-\r\n", &r);
	CU_ASSERT_EQUAL(r.status, 416);
	CU_ASSERT(header(&r, "Content-Range", v, sizeof(v)) &&
		  !strcmp(v, "bytes */13"));
	free(raw);
	/* Several ranges: a multipart/byteranges body, as nginx sends. */
	raw = request("GET", "/hello.txt", "Range: bytes=7-11,0-4\r\n", &r);
	CU_ASSERT_EQUAL(r.status, 206);
	CU_ASSERT(parts_are(&r, "Hello, world\n", 13,
			    "text/plain; charset=utf-8",
			    (const uint64_t[]){ 7, 5, 0, 5 }, 2));
	CU_ASSERT_FALSE(header(&r, "Content-Range", v, sizeof(v)));
	free(raw);
	/* Parts of more than one piece each (PIECE_MAX is 32 KiB). */
	raw = request("GET", "/big.bin", "Range: bytes=1-40000, 50000-\r\n",
		      &r);
	CU_ASSERT_EQUAL(r.status, 206);
	CU_ASSERT(parts_are(&r, (const char *)big, big_len,
			    "application/octet-stream",
			    (const uint64_t[]){ 1, 40000, 50000,
						big_len - 50000 }, 2));
	free(raw);
	/* HEAD: the same headers, the same Content-Length, no body. */
	raw = request("HEAD", "/hello.txt", "Range: bytes=7-11,0-4\r\n", &r);
	CU_ASSERT_EQUAL(r.status, 206);
	CU_ASSERT(header(&r, "Content-Type", v, sizeof(v)) &&
		  !strncmp(v, "multipart/byteranges; boundary=", 31));
	CU_ASSERT(header(&r, "Content-Length", v, sizeof(v)) &&
		  strtoull(v, NULL, 10) > 13);
	CU_ASSERT_EQUAL(r.body_len, 0);
	free(raw);
	/* Overlapping ranges: declined, the whole file. */
	raw = request("GET", "/hello.txt", "Range: bytes=0-5,3-8\r\n", &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(r.body_len, 13);
	free(raw);
	/* One in the file, one past it: that one, not 416. */
	raw = request("GET", "/hello.txt", "Range: bytes=500-600,0-1\r\n", &r);
	CU_ASSERT_EQUAL(r.status, 206);
	CU_ASSERT(r.body_len == 2 && !memcmp(r.body, "He", 2));
	CU_ASSERT(header(&r, "Content-Range", v, sizeof(v)) &&
		  !strcmp(v, "bytes 0-1/13"));
	free(raw);
	/*
	 * An empty file's last 5 bytes are satisfiable (RFC 9110, 14.1.2),
	 * but no Content-Range says so: the empty file, 200, as from nginx.
	 * From its first byte on, nothing is: 416.
	 */
	raw = request("GET", "/empty.txt", "Range: bytes=-5\r\n", &r);
	CU_ASSERT(r.status == 200 && r.body_len == 0 &&
		  header(&r, "Content-Length", v, sizeof(v)) &&
		  !strcmp(v, "0") && !header(&r, "Content-Range", v, sizeof(v)));
	free(raw);
	raw = request("GET", "/empty.txt", "Range: bytes=0-\r\n", &r);
	CU_ASSERT(r.status == 416 &&
		  header(&r, "Content-Range", v, sizeof(v)) &&
		  !strcmp(v, "bytes */0"));
	free(raw);
}

static void test_if_modified_since(void)
{
	struct resp r;
	char *raw = request("GET", "/hello.txt",
			    "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n",
			    &r);

	CU_ASSERT_EQUAL(r.status, 304);
	CU_ASSERT_EQUAL(r.body_len, 0);
	free(raw);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt",
				  "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 "
				  "GMT\r\n"), 200);
	/*
	 * The obsolete forms count as well (RFC 9110, 5.6.7: a recipient
	 * must take all three): RFC 850's, whose 74 is 2074 and 25 2025 (a
	 * two-digit year is the one no more than 50 years ahead) ...
	 */
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt",
				  "If-Modified-Since: Monday, 01-Jan-74 "
				  "00:00:00 GMT\r\n"), 304);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt",
				  "If-Modified-Since: Wednesday, 01-Jan-25 "
				  "00:00:00 GMT\r\n"), 200);
	/* ... and asctime()'s. */
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt",
				  "If-Modified-Since: Fri Jan  1 00:00:00 "
				  "2100\r\n"), 304);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt",
				  "If-Modified-Since: Thu Jan  1 00:00:00 "
				  "1970\r\n"), 200);
	/* What is no date at all is ignored. */
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt",
				  "If-Modified-Since: Friday, 01 Jan 2100 "
				  "00:00:00\r\n"), 200);
}

static int write_file(const char *dir, const char *name, const void *data,
		      size_t len);

/* The mtime of `path`, in seconds; 0 when it cannot be read. */
static time_t file_mtime(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : st.st_mtime;
}

static void test_entity_tags_and_if_range(void)
{
	char etag[64], lm[64], extra[160], v[64], path[400];
	struct timespec ts[2] = { { 0, 0 }, { 0, 0 } };
	struct resp r;
	char *raw;

	/* Changed an hour ago: its date is a strong validator (below). */
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 3600;
	snprintf(path, sizeof(path), "%s/hello.txt", www);
	CU_ASSERT_EQUAL_FATAL(utimensat(AT_FDCWD, path, ts, 0), 0);
	raw = request("GET", "/hello.txt", NULL, &r);

	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_FATAL(header(&r, "ETag", etag, sizeof(etag)) != NULL);
	CU_ASSERT(etag[0] == '"' && etag[strlen(etag) - 1] == '"');
	CU_ASSERT_FATAL(header(&r, "Last-Modified", lm, sizeof(lm)) != NULL);
	free(raw);

	snprintf(extra, sizeof(extra), "If-None-Match: \"nope\", %s\r\n",
		 etag);
	raw = request("GET", "/hello.txt", extra, &r);
	CU_ASSERT_EQUAL(r.status, 304);
	free(raw);
	/* If-None-Match decides over If-Modified-Since. */
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt",
				  "If-None-Match: \"nope\"\r\n"
				  "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 "
				  "GMT\r\n"), 200);

	/* A range of this version: 206; of another one: the whole file. */
	snprintf(extra, sizeof(extra), "Range: bytes=0-4\r\nIf-Range: %s\r\n",
		 etag);
	raw = request("GET", "/hello.txt", extra, &r);
	CU_ASSERT(r.status == 206 && r.body_len == 5);
	free(raw);
	snprintf(extra, sizeof(extra), "Range: bytes=0-4\r\nIf-Range: %s\r\n",
		 lm);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt", extra), 206);
	/* The same date in the asctime() form; a second later is another. */
	{
		struct tm tm = { 0 };
		time_t t;

		CU_ASSERT_FATAL(strptime(lm, "%a, %d %b %Y %H:%M:%S GMT",
					 &tm) != NULL);
		t = timegm(&tm);
		strftime(v, sizeof(v), "%a %b %e %H:%M:%S %Y", gmtime_r(&t, &tm));
		snprintf(extra, sizeof(extra),
			 "Range: bytes=0-4\r\nIf-Range: %s\r\n", v);
		CU_ASSERT_EQUAL(status_of("GET", "/hello.txt", extra), 206);
		t++;
		strftime(v, sizeof(v), "%a %b %e %H:%M:%S %Y", gmtime_r(&t, &tm));
		snprintf(extra, sizeof(extra),
			 "Range: bytes=0-4\r\nIf-Range: %s\r\n", v);
		CU_ASSERT_EQUAL(status_of("GET", "/hello.txt", extra), 200);
	}
	raw = request("GET", "/hello.txt",
		      "Range: bytes=0-4\r\nIf-Range: \"old\"\r\n", &r);
	CU_ASSERT(r.status == 200 && r.body_len == 13);
	free(raw);

	/*
	 * Changed within this second: its date could name two versions, so
	 * a range by date is refused (the whole file); by entity tag, given.
	 */
	CU_ASSERT_EQUAL_FATAL(write_file(www, "fresh.txt", "just written\n",
					 13), 0);
	raw = request("GET", "/fresh.txt", NULL, &r);
	CU_ASSERT_FATAL(header(&r, "Last-Modified", lm, sizeof(lm)) != NULL);
	CU_ASSERT_FATAL(header(&r, "ETag", etag, sizeof(etag)) != NULL);
	free(raw);
	snprintf(extra, sizeof(extra), "Range: bytes=0-4\r\nIf-Range: %s\r\n",
		 lm);
	raw = request("GET", "/fresh.txt", extra, &r);
	/* Unless the clock moved on to the next second meanwhile. */
	snprintf(path, sizeof(path), "%s/fresh.txt", www);
	CU_ASSERT(r.status == 200 ||
		  (r.status == 206 && file_mtime(path) < time(NULL)));
	free(raw);
	snprintf(extra, sizeof(extra), "Range: bytes=0-4\r\nIf-Range: %s\r\n",
		 etag);
	CU_ASSERT_EQUAL(status_of("GET", "/fresh.txt", extra), 206);
	unlink(path);
}

/*
 * If-Match, else If-Unmodified-Since: the client wants the version it
 * names and no other (a download resumed, a cache completing a range).
 * Another is 412, as nginx answers, on a connection kept alive.
 */
static void test_if_match_and_if_unmodified_since(void)
{
	char etag[64], lm[64], before[64], extra[256], path[400];
	struct timespec ts[2] = { { 0, 0 }, { 0, 0 } };
	time_t t = time(NULL) - 3600;
	struct tm tm;
	struct resp r;
	char *raw;

	ts[0].tv_sec = ts[1].tv_sec = t;
	snprintf(path, sizeof(path), "%s/hello.txt", www);
	CU_ASSERT_EQUAL_FATAL(utimensat(AT_FDCWD, path, ts, 0), 0);
	raw = request("GET", "/hello.txt", NULL, &r);
	CU_ASSERT_FATAL(header(&r, "ETag", etag, sizeof(etag)) != NULL);
	CU_ASSERT_FATAL(header(&r, "Last-Modified", lm, sizeof(lm)) != NULL);
	free(raw);
	t -= 60;
	strftime(before, sizeof(before), "%a, %d %b %Y %H:%M:%S GMT",
		 gmtime_r(&t, &tm));

	snprintf(extra, sizeof(extra), "If-Match: \"x\", %s\r\n", etag);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt", extra), 200);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt", "If-Match: *\r\n"),
			200);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt",
				  "If-Match: \"nope\"\r\n"), 412);
	/* Strong comparison: a weak tag never matches. */
	snprintf(extra, sizeof(extra), "If-Match: W/%s\r\n", etag);
	CU_ASSERT_EQUAL(status_of("HEAD", "/hello.txt", extra), 412);
	snprintf(extra, sizeof(extra), "If-Unmodified-Since: %s\r\n", lm);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt", extra), 200);
	snprintf(extra, sizeof(extra), "If-Unmodified-Since: %s\r\n", before);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt", extra), 412);
	/* If-Match decides over If-Unmodified-Since; a bad date is none. */
	snprintf(extra, sizeof(extra),
		 "If-Match: %s\r\nIf-Unmodified-Since: %s\r\n", etag, before);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt", extra), 200);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt",
				  "If-Unmodified-Since: yesterday\r\n"), 200);
	/* Before a range, and before If-None-Match. */
	snprintf(extra, sizeof(extra),
		 "Range: bytes=0-4\r\nIf-Unmodified-Since: %s\r\n", before);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt", extra), 412);
	snprintf(extra, sizeof(extra),
		 "If-None-Match: %s\r\nIf-Match: \"nope\"\r\n", etag);
	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt", extra), 412);
	/* Kept alive, as after a 304. */
	{
		struct resp r1, r2;
		size_t len;

		raw = exchange("GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
			       "If-Match: \"nope\"\r\n\r\n"
			       "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
			       "Connection: close\r\n\r\n", &len);
		CU_ASSERT(parse(raw, len, false, &r1) && r1.status == 412 &&
			  parse(r1.next, len - (size_t)(r1.next - raw), false,
				&r2) && r2.status == 200 &&
			  r2.next == raw + len);
		free(raw);
	}
}

/*
 * Sends `req` as it is and parses the first response: its status, or -1
 * when none could be parsed.  With `whole`, whether that response was all
 * the server sent before closing.
 */
static int raw_status(const char *req, bool head_only, bool *whole)
{
	struct resp r;
	size_t len;
	char *raw = exchange(req, &len);
	int status = -1;

	if (whole)
		*whole = false;
	if (parse(raw, len, head_only, &r)) {
		status = r.status;
		if (whole)
			*whole = r.next == raw + len;
	}
	free(raw);
	return status;
}

static void test_bad_requests(void)
{
	bool whole;
	char v[64], req[8192];
	struct resp r;
	size_t len;
	char *raw;

	raw = request("POST", "/hello.txt", "Content-Length: 0\r\n", &r);
	CU_ASSERT_EQUAL(r.status, 405);
	CU_ASSERT(header(&r, "Allow", v, sizeof(v)) &&
		  !strcmp(v, "GET, HEAD"));
	free(raw);
	CU_ASSERT_EQUAL(status_of("DELETE", "/hello.txt", NULL), 405);

	/*
	 * A body over 1 MiB is 413 at once, not read for as long as the
	 * client sends (nginx's client_max_body_size), declared whole or
	 * chunk by chunk; 1 MiB is read, and the next request after it.
	 */
	CU_ASSERT(raw_status("GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
			     "Content-Length: 1048577\r\n\r\nabc", false,
			     &whole) == 413 && whole);
	CU_ASSERT(raw_status("GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
			     "Content-Length: 1000000000000\r\n\r\n", false,
			     &whole) == 413 && whole);
	CU_ASSERT(raw_status("GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n"
			     "fffffffffff\r\nabc", false, &whole) == 413 &&
		  whole);
	CU_ASSERT(raw_status("GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n"
			     "1\r\na\r\n100000\r\nabc", false, &whole) ==
		  413 && whole);
	{
		static const char head[] = "GET /hello.txt HTTP/1.1\r\n"
					   "Host: x\r\nTransfer-Encoding: "
					   "chunked\r\n\r\n100000\r\n";
		static const char tail[] = "\r\n0\r\n\r\n"
					   "GET /hello.txt HTTP/1.1\r\n"
					   "Host: x\r\nConnection: close"
					   "\r\n\r\n";
		size_t n = sizeof(head) - 1 + (1u << 20) + sizeof(tail);
		char *one_mib = malloc(n);
		struct resp r2;

		CU_ASSERT_FATAL(one_mib != NULL);
		memcpy(one_mib, head, sizeof(head) - 1);
		memset(one_mib + sizeof(head) - 1, 'b', 1u << 20);
		memcpy(one_mib + sizeof(head) - 1 + (1u << 20), tail,
		       sizeof(tail));
		raw = exchange(one_mib, &len);
		CU_ASSERT(parse(raw, len, false, &r) && r.status == 200 &&
			  parse(r.next, len - (size_t)(r.next - raw), false,
				&r2) && r2.status == 200 &&
			  r2.next == raw + len);
		free(raw);
		free(one_mib);
	}

	/* RFC 9112, 3.2: an HTTP/1.1 request names one Host. */
	CU_ASSERT_EQUAL(raw_status("GET /hello.txt HTTP/1.1\r\n\r\n", false,
				   NULL), 400);
	CU_ASSERT_EQUAL(raw_status("GET /hello.txt HTTP/1.1\r\nHost: a\r\n"
				   "Host: b\r\n\r\n", false, NULL), 400);
	CU_ASSERT_EQUAL(raw_status("GET /hello.txt HTTP/1.0\r\n\r\n", false,
				   NULL), 200);
	/*
	 * RFC 9112, 6.1: Transfer-Encoding in an HTTP/1.0 request is faulty
	 * framing (nginx: 400), even kept alive: a 1.0 hop in front would
	 * send the chunked body on as the next request.
	 */
	CU_ASSERT(raw_status("GET /hello.txt HTTP/1.0\r\n"
			     "Connection: keep-alive\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
			     "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
			     "Connection: close\r\n\r\n", false, &whole) ==
		  400 && whole);
	CU_ASSERT_EQUAL(raw_status("GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				   "Transfer-Encoding: chunked\r\n"
				   "Connection: close\r\n\r\n0\r\n\r\n",
				   false, NULL), 200);

	/*
	 * Another major version is not spoken: 505 (nginx too), and the
	 * connection ends.  A later minor version of 1 is HTTP/1.1 (RFC 9110,
	 * 2.5).
	 */
	CU_ASSERT(raw_status("GET /hello.txt HTTP/2.0\r\nHost: x\r\n\r\n",
			     false, &whole) == 505 && whole);
	CU_ASSERT(raw_status("GET /hello.txt HTTP/3.0\r\nHost: x\r\n"
			     "Connection: keep-alive\r\n\r\n", false,
			     &whole) == 505 && whole);
	CU_ASSERT(raw_status("HEAD /hello.txt HTTP/0.9\r\nHost: x\r\n\r\n",
			     true, &whole) == 505 && whole);
	CU_ASSERT_EQUAL(raw_status("GET /hello.txt HTTP/1.2\r\nHost: x\r\n"
				   "Connection: close\r\n\r\n", false, NULL),
			200);

	raw = exchange("NONSENSE\r\n\r\n", &len);
	CU_ASSERT(parse(raw, len, false, &r) && r.status == 400);
	free(raw);

	memset(req, 'a', sizeof(req));
	memcpy(req, "GET /", 5);
	strcpy(req + 3000, " HTTP/1.1\r\nHost: x\r\n\r\n");
	raw = exchange(req, &len);
	CU_ASSERT(parse(raw, len, false, &r) && r.status == 414);
	free(raw);

	{
		/* Headers past http_parser's limit (80 KiB). */
		size_t n = 100000;
		char *big_req = malloc(n + 64);

		CU_ASSERT_FATAL(big_req != NULL);
		strcpy(big_req, "GET /hello.txt HTTP/1.1\r\nX-Big: ");
		memset(big_req + strlen(big_req), 'b', n);
		strcpy(big_req + 32 + n - 1, "\r\n\r\n");
		big_req[32 + n + 3] = '\0';
		raw = exchange(big_req, &len);
		CU_ASSERT(parse(raw, len, false, &r) && r.status == 431);
		free(raw);
		free(big_req);
	}
}

/*
 * Which error responses end the connection.  One to a request read to its
 * end keeps it, as nginx does (the next request is answered); a 400 ends
 * it, as nginx's do, and so does a 405 to a client waiting for a 100
 * (Continue), which may or may not send its body next.
 */
/*
 * A 414 ends the connection whichever limit the target broke, with
 * Connection: close and the request pipelined after it left unanswered:
 * its length (2 KiB), its path's once decoded (1 KiB), or a segment's
 * (255 bytes).
 */
static void test_a_414_ends_the_connection(void)
{
	static const char next[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				   "Connection: close\r\n\r\n";
	static const size_t lens[] = { 3000, 1100, 300 };
	char req[4096], conn[64];
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct resp r;
		size_t len;
		char *raw;

		memcpy(req, "GET /", 5);
		memset(req + 5, 'a', lens[i]);
		snprintf(req + 5 + lens[i], sizeof(req) - 5 - lens[i],
			 " HTTP/1.1\r\nHost: x\r\n\r\n%s", next);
		raw = exchange(req, &len);
		CU_ASSERT(parse(raw, len, false, &r) && r.status == 414 &&
			  header(&r, "Connection", conn, sizeof(conn)) &&
			  !strcmp(conn, "close") && r.next == raw + len);
		if (!parse(raw, len, false, &r) || r.next != raw + len)
			printf("\n  case %zu: %.200s\n", i, raw);
		free(raw);
	}
}

static void test_which_errors_keep_the_connection(void)
{
	static const struct {
		const char *req;
		int status;
		bool kept;
	} cases[] = {
		{ "POST /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", 405, true },
		{ "DELETE /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Content-Length: 0\r\n\r\n", 405, true },
		{ "POST /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Content-Length: 5\r\n\r\nGET /", 405, true },
		{ "PUT /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n"
		  "3\r\nabc\r\n0\r\n\r\n", 405, true },
		{ "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 405, true },
		{ "POST /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n"
		  "Content-Length: 3\r\n\r\nabc", 405, true },
		{ "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", 404, true },
		{ "GET /noindex/ HTTP/1.1\r\nHost: x\r\n\r\n", 403, true },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Range: bytes=100-\r\n\r\n", 416, true },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "If-None-Match: *\r\n\r\n", 304, true },
		{ "GET /sub HTTP/1.1\r\nHost: x\r\n\r\n", 301, true },
		{ "GET /../hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400,
		  false },
		{ "GET /nul%00byte HTTP/1.1\r\nHost: x\r\n\r\n", 400, false },
		{ "GET /hello.txt HTTP/1.1\r\n\r\n", 400, false },
		{ "POST /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Content-Length: 3\r\nExpect: 100-continue\r\n\r\n", 405,
		  false },
	};
	static const char next[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				   "Connection: close\r\n\r\n";
	char req[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resp r1, r2;
		size_t len;
		char *raw;
		bool one;

		snprintf(req, sizeof(req), "%s%s", cases[i].req, next);
		raw = exchange(req, &len);
		/* A 304 has no body, and no length to say so. */
		one = parse(raw, len, cases[i].status == 304, &r1);
		CU_ASSERT(one && r1.status == cases[i].status);
		if (cases[i].kept) {
			CU_ASSERT(one && parse(r1.next,
					       len - (size_t)(r1.next - raw),
					       false, &r2) &&
				  r2.status == 200 && r2.body_len == 13 &&
				  r2.next == raw + len);
		} else {
			CU_ASSERT(one && r1.next == raw + len);
		}
		if (!one || r1.status != cases[i].status ||
		    (cases[i].kept ? r1.next == raw + len
				   : r1.next != raw + len))
			printf("\n  case %zu: %.200s\n", i, raw);
		free(raw);
	}
}

/* The status `req` gets, sent whole, or a byte at a time when `bytewise`. */
static int status_sent(const char *req, bool bytewise)
{
	struct resp r;
	size_t len, i;
	char *raw;
	int fd = dial(main_srv.port);

	if (fd < 0)
		return -1;
	for (i = 0; bytewise && req[i]; i++) {
		send_all(fd, req + i, 1);
		usleep(1000);
	}
	if (!bytewise)
		send_all(fd, req, strlen(req));
	raw = read_all(fd, &len);
	close(fd);
	if (!raw || !parse(raw, len, false, &r))
		r.status = -1;
	free(raw);
	return r.status;
}

/*
 * Header lines RFC 9112 has a server refuse (400), as nginx does, sent
 * whole and a byte at a time (where the server sees them in pieces), and
 * their lookalikes that are fine.
 */
static void test_malformed_header_lines(void)
{
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		/* 5.2: an obsolete line folding (obs-fold). */
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n"
		  "Connection: close\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A:\r\n\tb\r\n"
		  "Connection: close\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\nHost: x\nRange: bytes=0-\n 4\n"
		  "Connection: close\n\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: a\r\n \r\n"
		  "Connection: close\r\n\r\n", 400 },
		/* 5.1: whitespace between a name and its colon. */
		{ "GET /hello.txt HTTP/1.1\r\nHost : x\r\n"
		  "Connection: close\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange : bytes=0-1\r\n"
		  "Connection: close\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A  :a\r\n"
		  "Connection: close\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A\t: a\r\n"
		  "Connection: close\r\n\r\n", 400 },
		/* The same in the trailer section of a chunked body. */
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		  "3\r\nabc\r\n0\r\nT: v\r\n w\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		  "0\r\nT: v\r\nU:\r\n\tw\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		  "0\r\nT : v\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		  "2;a=b\r\n\nb\r\n0\r\nT: v  w\r\nU:\r\n\r\n", 200 },
		/*
		 * A line end that is not one, where the headers, a chunk's
		 * size line or data, or the trailers end (http-parser, built
		 * lax, takes any byte for it), so that the request ends
		 * elsewhere than a strict reader sees it; and bare LFs, which
		 * are fine (RFC 9112, 2.2).
		 */
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close"
		  "\r\n\rX", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close"
		  "\r\nContent-Length: 3\r\n\rXabc", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		  "3\r\nabcdef\r\n0\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		  "3\r\nabcXX0\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		  "3\rXabc\r\n0\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		  "0\rX\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		  "0\r\nT: v\r\n\rX", 400 },
		{ "GET /hello.txt HTTP/1.1\nHost: x\nContent-Length: 2\n"
		  "Connection: close\n\nab", 200 },
		{ "GET /hello.txt HTTP/1.1\nHost: x\nConnection: close\n"
		  "Transfer-Encoding: chunked\n\n2\r\n\r\n\r\n0\r\nT: v\n\n",
		  200 },
		/*
		 * 6.1: chunked applied twice, on one line or two, is 400; a
		 * coding before it that is not implemented, 501 (nginx
		 * answers both so); chunked alone, in any case, is fine.
		 */
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked, chunked\r\n"
		  "Connection: close\r\n\r\n0\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
		  "\r\nConnection: close\r\n\r\n0\r\n\r\n", 400 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: gzip, chunked\r\n"
		  "Connection: close\r\n\r\n0\r\n\r\n", 501 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked"
		  "\r\nConnection: close\r\n\r\n0\r\n\r\n", 501 },
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: Chunked\r\n"
		  "Connection: close\r\n\r\n0\r\n\r\n", 200 },
		/* Spaces inside a value, and empty values, are no folding. */
		{ "GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: a  b \r\n"
		  "X-B:\r\nX-C:   \r\nConnection: close\r\n\r\n", 200 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int whole = status_sent(cases[i].req, false);
		int bytewise = status_sent(cases[i].req, true);

		if (whole != cases[i].status || bytewise != cases[i].status)
			printf("\n  case %zu: %d, a byte at a time %d\n", i,
			       whole, bytewise);
		CU_ASSERT_EQUAL(whole, cases[i].status);
		CU_ASSERT_EQUAL(bytewise, cases[i].status);
	}
	/*
	 * Trailer fields are no header fields: a Range, If-None-Match or Host
	 * there changes nothing (RFC 9110, 6.5.1; nginx ignores them too).
	 */
	{
		struct resp r;
		size_t len;
		char *raw = exchange("GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				     "Range: bytes=0-3\r\n"
				     "Transfer-Encoding: chunked\r\n"
				     "Connection: close\r\n\r\n"
				     "0\r\nRange: bytes=0-1\r\n"
				     "If-None-Match: *\r\nHost: y\r\n\r\n",
				     &len);

		CU_ASSERT(parse(raw, len, false, &r) && r.status == 206 &&
			  r.body_len == 4 && !memcmp(r.body, "Hell", 4));
		free(raw);
	}
	/* After a request that is fine, on the same connection. */
	{
		struct resp r1, r2;
		size_t len;
		char *raw = exchange("GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				     "X-A: a\r\n\r\n"
				     "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				     "X-A: a\r\n\tb\r\n\r\n", &len);

		CU_ASSERT(parse(raw, len, false, &r1) && r1.status == 200 &&
			  parse(r1.next, len - (size_t)(r1.next - raw), false,
				&r2) && r2.status == 400);
		free(raw);
	}
}

/*
 * A request refused before its body is read: the server ends its side with
 * a FIN and reads what still comes, so the client sees the response and
 * then an orderly end.  Closing with the body unread would send a reset
 * instead (ECONNRESET here), which some clients' stacks answer by dropping
 * the response they have not read yet.
 */
static void test_an_error_ends_in_order_while_the_client_sends(void)
{
	static const struct {
		const char *head;
		int status;
	} cases[] = {
		{ "POST /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Content-Length: 2097152\r\n\r\n", 413 },
		{ "POST /hello.txt HTTP/1.1\r\nHost: x\r\n"
		  "Content-Length: 1048576\r\nExpect: 100-continue\r\n\r\n",
		  405 },
	};
	size_t n = 64 << 10, i;
	char *body = calloc(1, n), buf[4096];

	CU_ASSERT_FATAL(body != NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resp r;
		ssize_t got = 0;
		size_t len = 0;
		int fd = dial(main_srv.port), err = 0;

		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT(send_all(fd, cases[i].head, strlen(cases[i].head)));
		CU_ASSERT(send_all(fd, body, n));
		/* Wait for the server to answer and end its side. */
		usleep(tu_under_valgrind() ? 2000000 : 300000);
		while (len < sizeof(buf) - 1 &&
		       (got = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) >
			       0)
			len += (size_t)got;
		err = got < 0 ? errno : 0;
		buf[len] = '\0';
		close(fd);
		CU_ASSERT(parse(buf, len, false, &r) &&
			  r.status == cases[i].status);
		CU_ASSERT_EQUAL(got, 0);
		CU_ASSERT_EQUAL(err, 0);
	}
	free(body);
}

/*
 * A response that ends the connection (Connection: close) with requests
 * pipelined after it, more than the server reads at once: the close is
 * orderly too, not a reset with those requests unread.
 */
static void test_a_close_with_requests_pipelined_after_it_is_orderly(void)
{
	static const char first[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				    "Connection: close\r\n\r\n";
	static const char more[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t n = sizeof(first) - 1 + 1000 * (sizeof(more) - 1), len = 0, i;
	char *req = malloc(n + 1), buf[4096];
	struct resp r;
	ssize_t got = 0;
	int fd = dial(main_srv.port), err = 0;

	CU_ASSERT_FATAL(req != NULL && fd >= 0);
	memcpy(req, first, sizeof(first) - 1);
	for (i = 0; i < 1000; i++)
		memcpy(req + sizeof(first) - 1 + i * (sizeof(more) - 1), more,
		       sizeof(more) - 1);
	CU_ASSERT(send_all(fd, req, n));
	CU_ASSERT(wait_server_closed(fd, main_srv.port));
	while (len < sizeof(buf) - 1 &&
	       (got = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
		len += (size_t)got;
	err = got < 0 ? errno : 0;
	buf[len] = '\0';
	close(fd);
	CU_ASSERT(parse(buf, len, false, &r) && r.status == 200 &&
		  r.next == buf + len);
	CU_ASSERT_EQUAL(got, 0);
	CU_ASSERT_EQUAL(err, 0);
	free(req);
}

/*
 * A client that sends "Expect: 100-continue" waits for a 100 (Continue)
 * before its body, which the server reads before it answers: without the
 * 100 both waited (RFC 9110, 10.1.1).  The final response follows the
 * body, on a connection kept alive.
 */
static void test_a_100_continue_is_sent_before_the_body(void)
{
	static const char *const heads[] = {
		"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		"Expect: 100-continue\r\n\r\n",
		"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nexpect: 100-Continue"
		"\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	static const char *const bodies[] = { "abc", "3\r\nabc\r\n0\r\n\r\n" };
	static const char next[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				   "Connection: close\r\n\r\n";
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	size_t i;

	for (i = 0; i < 2; i++) {
		char buf[sizeof(cont)] = "";
		struct resp r1, r2;
		size_t len, got = 0;
		ssize_t n = 1;
		char *raw;
		int fd = dial(main_srv.port);

		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT(send_all(fd, heads[i], strlen(heads[i])));
		while (got < sizeof(cont) - 1 &&
		       (n = recv(fd, buf + got, sizeof(cont) - 1 - got, 0)) > 0)
			got += (size_t)n;
		CU_ASSERT_STRING_EQUAL(buf, cont);
		CU_ASSERT(send_all(fd, bodies[i], strlen(bodies[i])));
		CU_ASSERT(send_all(fd, next, sizeof(next) - 1));
		raw = read_all(fd, &len);
		close(fd);
		CU_ASSERT(parse(raw, len, i == 1, &r1) && r1.status == 200 &&
			  parse(r1.next, len - (size_t)(r1.next - raw), false,
				&r2) && r2.status == 200 &&
			  r2.next == raw + len);
		free(raw);
	}
	/*
	 * No 100 without a body to wait for, nor for HTTP/1.0 (RFC 9110,
	 * 10.1.1).
	 */
	{
		static const char *const reqs[] = {
			"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
			"Expect: 100-continue\r\nConnection: close\r\n\r\n",
			"GET /hello.txt HTTP/1.0\r\nContent-Length: 3\r\n"
			"Expect: 100-continue\r\n\r\nabc",
		};

		for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
			bool whole;

			CU_ASSERT(raw_status(reqs[i], false, &whole) == 200 &&
				  whole);
		}
	}
}

static void test_keep_alive_and_pipelining(void)
{
	static const char req[] =
		"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
		"HEAD /sub/ HTTP/1.1\r\nHost: x\r\n\r\n"
		"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
		"GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\n"
		"Connection: close\r\n\r\n";
	struct resp r1, r2, r3, r4;
	size_t len;
	char *raw = exchange(req, &len);
	const char *end = raw + len;

	CU_ASSERT_FATAL(parse(raw, len, false, &r1));
	CU_ASSERT_EQUAL(r1.status, 200);
	CU_ASSERT(!memcmp(r1.body, "Hello, world\n", 13));
	CU_ASSERT_FATAL(parse(r1.next, (size_t)(end - r1.next), true, &r2));
	CU_ASSERT_EQUAL(r2.status, 200);
	CU_ASSERT_FATAL(parse(r2.next, (size_t)(end - r2.next), false, &r3));
	CU_ASSERT_EQUAL(r3.status, 404);
	CU_ASSERT_FATAL(parse(r3.next, (size_t)(end - r3.next), false, &r4));
	CU_ASSERT_EQUAL(r4.status, 206);
	CU_ASSERT(r4.body_len == 5 && !memcmp(r4.body, "Hello", 5));
	CU_ASSERT_EQUAL(r4.next, end);
	free(raw);
}

static void test_http10_and_requests_in_pieces(void)
{
	static const char *const pieces[] = {
		"GET /hel", "lo.txt HTTP/1.1\r\nHo", "st: x\r\nRan",
		"ge: bytes=7-11\r\nConnec", "tion: close\r\n", "\r\n",
	};
	struct resp r;
	size_t len, i;
	char *raw = exchange("GET /hello.txt HTTP/1.0\r\n\r\n", &len);
	int fd;

	/* HTTP/1.0 without keep-alive: the server closes after it. */
	CU_ASSERT(parse(raw, len, false, &r) && r.status == 200 &&
		  r.next == raw + len);
	free(raw);
	/*
	 * With keep-alive asked for, it keeps the connection, and says so:
	 * an HTTP/1.0 client keeps it only then (RFC 2068, 19.7.1).
	 */
	{
		struct resp r2, r3;
		char v[64];

		raw = exchange("GET /hello.txt HTTP/1.0\r\n"
			       "Connection: keep-alive\r\n\r\n"
			       "HEAD /missing HTTP/1.0\r\n"
			       "Connection: Keep-Alive\r\n\r\n"
			       "GET /hello.txt HTTP/1.0\r\n\r\n", &len);
		CU_ASSERT_FATAL(parse(raw, len, false, &r));
		CU_ASSERT(r.status == 200 &&
			  header(&r, "Connection", v, sizeof(v)) &&
			  !strcmp(v, "keep-alive"));
		CU_ASSERT_FATAL(parse(r.next, len - (size_t)(r.next - raw),
				      true, &r2));
		CU_ASSERT(r2.status == 404 &&
			  header(&r2, "Connection", v, sizeof(v)) &&
			  !strcmp(v, "keep-alive"));
		CU_ASSERT_FATAL(parse(r2.next, len - (size_t)(r2.next - raw),
				      false, &r3));
		CU_ASSERT(r3.status == 200 &&
			  header(&r3, "Connection", v, sizeof(v)) &&
			  !strcmp(v, "close") && r3.next == raw + len);
		free(raw);
	}

	fd = dial(main_srv.port);
	CU_ASSERT_FATAL(fd >= 0);
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		send_all(fd, pieces[i], strlen(pieces[i]));
		usleep(30000);
	}
	raw = read_all(fd, &len);
	close(fd);
	CU_ASSERT(parse(raw, len, false, &r) && r.status == 206 &&
		  r.body_len == 5 && !memcmp(r.body, "world", 5));
	free(raw);
}

static void test_an_idle_connection_is_closed(void)
{
	int64_t t0 = tu_now_ns();
	char buf[16];
	int fd = dial(main_srv.port);

	CU_ASSERT_FATAL(fd >= 0);
	/* --idle-timeout 1: the server ends it without a word. */
	CU_ASSERT_EQUAL(recv(fd, buf, sizeof(buf), 0), 0);
	CU_ASSERT(tu_now_ns() - t0 >= 900000000LL);
	close(fd);
}

/*
 * Sends `head` whole, then `slow` a byte at a time, 200 ms apart; the time
 * from the first byte to when the server closed the connection (-1: it did
 * not within 5 s).
 */
static long long logged_size(const char *path, const char *what,
			     int want);

static int64_t closed_after_trickle(const char *head, const char *slow)
{
	int64_t t0 = tu_now_ns(), closed_after = -1;
	int fd = dial(main_srv.port);
	size_t i, n = strlen(slow);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(send_all(fd, head, strlen(head)));
	for (i = 0; i < n; i++) {
		char buf[16];

		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) == 0 ||
		    !send_all(fd, slow + i, 1)) {
			closed_after = tu_now_ns() - t0;
			break;
		}
		if (tu_now_ns() - t0 > (tu_under_valgrind() ? 20 : 5) *
					       1000000000LL)
			break;
		usleep(200000);
	}
	close(fd);
	return closed_after;
}

/* Closed (after `t` ns) once --idle-timeout (1 s) was over, not before. */
static void assert_cut_off_in_time(int64_t t)
{
	CU_ASSERT(t >= 900000000LL);
	CU_ASSERT(t > 0 && t < (tu_under_valgrind() ? 10 : 3) * 1000000000LL);
}

/*
 * Headers sent a byte at a time, each well within --idle-timeout (1 s):
 * the receive timeout alone never fired, so a client could hold a
 * connection for as long as it liked (and --max-conns of them the
 * server).  The headers must all be in within the timeout of the first
 * byte, as nginx's client_header_timeout has it.
 */
static void test_slow_headers_are_cut_off(void)
{
	int64_t t = closed_after_trickle("GET /hello.txt?slow-head HTTP/1.1"
					 "\r\n", "Host: x\r\nX-Slow: aaaaaaaa"
					 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	/* And one whose request line never ends: "-" in the log. */
	int64_t tl = closed_after_trickle("", "GET /hello.txt?slow-line "
					  "HTTP/1.1\r\nHost: x\r\n\r\n");

	assert_cut_off_in_time(t);
	assert_cut_off_in_time(tl);
	/* Logged with 408, as nginx logs its client_header_timeout. */
	CU_ASSERT_EQUAL(logged_size(main_srv.out,
				    "\"GET /hello.txt?slow-head HTTP/1.1\"",
				    408), 0);
	CU_ASSERT_EQUAL(logged_size(main_srv.out, "\"-\"", 408), 0);
}

/* The same for a body (the server reads it to find the next request). */
static void test_a_slow_body_is_cut_off(void)
{
	static const char body[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	int64_t t = closed_after_trickle("GET /hello.txt?slow-body HTTP/1.1"
					 "\r\nHost: x\r\nContent-Length: 40"
					 "\r\n\r\n", body);
	int64_t tc = closed_after_trickle("GET /hello.txt?slow-chunks "
					  "HTTP/1.1\r\nHost: x\r\n"
					  "Transfer-Encoding: chunked"
					  "\r\n\r\n28\r\n", body);

	assert_cut_off_in_time(t);
	assert_cut_off_in_time(tc);
	/* Nothing was answered: 408 in the log (nginx's client_body_timeout). */
	CU_ASSERT_EQUAL(logged_size(main_srv.out,
				    "\"GET /hello.txt?slow-body HTTP/1.1\"",
				    408), 0);
	CU_ASSERT_EQUAL(logged_size(main_srv.out,
				    "\"GET /hello.txt?slow-chunks HTTP/1.1\"",
				    408), 0);
}

static void *client(void *arg)
{
	unsigned i, *bad = arg;

	for (i = 0; i < 6; i++) {
		struct resp r;
		char *raw = request("GET", i % 2 ? "/hello.txt" : "/big.bin",
				    NULL, &r);

		if (r.status != 200 ||
		    (i % 2 ? r.body_len != 13
			   : r.body_len != big_len ||
				     memcmp(r.body, big, big_len)))
			(*bad)++;
		free(raw);
	}
	return NULL;
}

/*
 * Runs `fn` on `n` threads at once (at most 64), each given a counter of
 * what went wrong; returns the sum.
 */
static unsigned at_once(void *(*fn)(void *), unsigned n)
{
	pthread_t t[64];
	unsigned bad[64] = { 0 }, i, all = 0;

	CU_ASSERT_FATAL(n <= 64);
	for (i = 0; i < n; i++)
		CU_ASSERT_FATAL(!pthread_create(&t[i], NULL, fn, &bad[i]));
	for (i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		all += bad[i];
	}
	return all;
}

static void test_many_clients_at_once(void)
{
	CU_ASSERT_EQUAL(at_once(client, 12), 0);
}

/* Two big bodies, pipelined on one connection: each must be the file. */
/*
 * Hundreds of idle connections, under --max-conns: each one's receive and
 * its timeout stay owed on the ring, and with the library's default ring
 * (256 entries, 512 CQEs) the 256th connection's accept was never taken
 * from the queue, so the server answered no one new until one of them
 * ended.  A new client must get its answer at once.
 */
static void test_idle_connections_do_not_stop_accepting(void)
{
	static const char *const args[] = { "--port", "0", "-q", "--max-conns",
					    "400", "--idle-timeout", "60",
					    www, NULL };
	enum { IDLE = 300 };
	struct timeval tv = { .tv_sec = tu_under_valgrind() ? 30 : 5 };
	static const char req[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				  "Connection: close\r\n\r\n";
	struct server s;
	int fds[IDLE], fd, i, n = 0;
	char buf[64];
	ssize_t got;

	CU_ASSERT_FATAL(start(&s, "idle", args) == 0);
	for (i = 0; i < IDLE; i++)
		if ((fds[i] = dial(s.port)) >= 0)
			n++;
	CU_ASSERT_EQUAL(n, IDLE);
	fd = dial(s.port);
	CU_ASSERT(fd >= 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		CU_ASSERT(send_all(fd, req, sizeof(req) - 1));
		got = recv(fd, buf, sizeof(buf) - 1, 0);
		buf[got > 0 ? got : 0] = '\0';
		CU_ASSERT(!strncmp(buf, "HTTP/1.1 200 ", 13));
		close(fd);
	}
	for (i = 0; i < IDLE; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	CU_ASSERT_EQUAL(stop(&s, SIGTERM), 0);
}

static void *big_twice(void *arg)
{
	static const char req[] =
		"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
		"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-\r\n"
		"Connection: close\r\n\r\n";
	unsigned *bad = arg;
	struct resp r1, r2;
	size_t len;
	char *raw = exchange(req, &len);

	if (!raw || !parse(raw, len, false, &r1) || r1.status != 200 ||
	    r1.body_len != big_len || memcmp(r1.body, big, big_len) ||
	    !parse(r1.next, (size_t)(raw + len - r1.next), false, &r2) ||
	    r2.status != 206 || r2.body_len != big_len - 1000 ||
	    memcmp(r2.body, big + 1000, big_len - 1000) ||
	    r2.next != raw + len)
		(*bad)++;
	free(raw);
	return NULL;
}

/* Pipes among the server's open descriptors (its free spliced-body pipes). */
static unsigned server_pipes(const struct server *s)
{
	char dir[64], path[320], target[64];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)s->pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		ssize_t k;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		k = readlink(path, target, sizeof(target) - 1);
		if (k > 0) {
			target[k] = '\0';
			n += !strncmp(target, "pipe:", 5);
		}
	}
	closedir(d);
	return n;
}

/*
 * With --splice on (the main server), bodies of 128 KiB and more go
 * through pipes, at most 16 at once per ring (two rings, or one thread
 * pool): 40 connections at once each get two big bodies, pipelined, some
 * spliced and some copied when every pipe is taken, and the connection
 * carries on after each.  The pipes stay open afterwards, for the next.
 */
static void test_big_bodies_spliced_on_more_connections_than_pipes(void)
{
	CU_ASSERT_EQUAL(at_once(big_twice, 40), 0);
	CU_ASSERT(server_pipes(&main_srv) >= 2);
}

/* start() with `opts` (at most 14, NULL-terminated), then the folder. */
static int start_on_www(struct server *s, const char *tag,
			const char *const *opts)
{
	const char *a[16];
	unsigned n = 0;

	while (opts[n] && n < 14) {
		a[n] = opts[n];
		n++;
	}
	a[n++] = www;
	a[n] = NULL;
	return start(s, tag, a);
}

/* --splice off: big bodies are copied, and the server opens no pipe. */
static void test_splice_off_copies(void)
{
	static const char *const opts[] = { "--port", "0", "--splice", "off",
					    "-q", NULL };
	struct server s;
	struct resp r;
	size_t len;
	char *raw;

	CU_ASSERT_FATAL(start_on_www(&s, "nosplice", opts) == 0);
	raw = exchange_on(s.port,
			  "GET /big.bin HTTP/1.1\r\nHost: x\r\n"
			  "Connection: close\r\n\r\n",
			  &len);
	CU_ASSERT(parse(raw, len, false, &r) && r.status == 200 &&
		  r.body_len == big_len && !memcmp(r.body, big, big_len));
	free(raw);
	CU_ASSERT_EQUAL(server_pipes(&s), 0);
	CU_ASSERT_EQUAL(stop(&s, SIGTERM), 0);
}

/*
 * A file cut short while its body is sent (`splice` "on": spliced, "off":
 * copied): the length was promised, so the connection ends early, the
 * server says why on stderr and goes on serving.
 */
static void shrinking_file(const char *splice)
{
	const char *const opts[] = { "--port", "0", "--splice", splice, "-q",
				     NULL };
	static const char req[] = "GET /shrink.bin HTTP/1.1\r\nHost: x\r\n\r\n";
	char path[400], buf[65536], *err;
	size_t total = 0;
	struct server s;
	int fd, file;

	snprintf(path, sizeof(path), "%s/shrink.bin", www);
	file = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CU_ASSERT_FATAL(file >= 0);
	/* 64 MiB, sparse: far more than the sockets' buffers hold. */
	CU_ASSERT_FATAL(ftruncate(file, 64 << 20) == 0);
	CU_ASSERT_FATAL(start_on_www(&s, strcmp(splice, "on") ? "shrink-off"
							      : "shrink-on",
				     opts) == 0);
	fd = dial(s.port);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(send_all(fd, req, sizeof(req) - 1));
	while (total < sizeof(buf)) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0)
			break;
		total += (size_t)n;
	}
	CU_ASSERT(total >= sizeof(buf));
	CU_ASSERT(ftruncate(file, 0) == 0);
	close(file);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0) {
			/* An orderly end, within dial()'s receive timeout. */
			CU_ASSERT_EQUAL(n, 0);
			break;
		}
		total += (size_t)n;
	}
	close(fd);
	CU_ASSERT(total < (64u << 20));
	CU_ASSERT(serves_hello(s.port));
	CU_ASSERT_EQUAL(stop(&s, SIGTERM), 0);
	err = slurp(s.err, NULL);
	CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "shrink.bin: the file got "
						 "shorter"));
	free(err);
	unlink(path);
}

static void test_a_file_that_shrinks_ends_its_response(void)
{
	shrinking_file("off");
	shrinking_file("on");
}

static void test_over_max_conns_gets_503(void)
{
	static const char *const args[] = { "--port", "0", "--max-conns", "1",
					    "-q", NULL, NULL };
	const char *a[8];
	struct server s;
	struct resp r;
	size_t len;
	char *raw;
	int hold, i, bad = 0;

	memcpy(a, args, sizeof(args));
	a[5] = www;
	CU_ASSERT_FATAL(start(&s, "maxconns", a) == 0);
	hold = dial(s.port);
	CU_ASSERT(hold >= 0);
	/* Let the server take the first one before the second comes. */
	usleep(tu_under_valgrind() ? 2000000 : 200000);
	raw = exchange_on(s.port, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", &len);
	CU_ASSERT(parse(raw, len, false, &r) && r.status == 503);
	free(raw);
	/*
	 * Each ends in order: the request is read before the close, which
	 * with data unread would send a reset (ECONNRESET for the client's
	 * next receive, and a client stack that drops what it has not read).
	 */
	for (i = 0; i < 20; i++) {
		static const char req[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
		char buf[1024];
		ssize_t got = 0;
		int fd = dial(s.port);

		len = 0;
		if (fd < 0 || !send_all(fd, req, sizeof(req) - 1)) {
			bad++;
			if (fd >= 0)
				close(fd);
			continue;
		}
		while (len < sizeof(buf) - 1 &&
		       (got = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
			len += (size_t)got;
		close(fd);
		if (got != 0 || !parse(buf, len, false, &r) || r.status != 503)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
	/* Its place is free again once the server has seen it close. */
	close(hold);
	CU_ASSERT(comes_to_serve_hello(s.port));
	CU_ASSERT_EQUAL(stop(&s, SIGINT), 0);
}

/*
 * At --max-conns, a connection kept alive that waits for its next request
 * makes room for a new one (nginx reuses idle keep-alive connections so);
 * one in the middle of a request is left alone, and so is one that has
 * sent nothing yet (test_over_max_conns_gets_503).  The new one is served,
 * not turned away with 503.
 */
static void test_an_idle_connection_makes_room(void)
{
	static const char *const args[] = { "--port", "0", "--max-conns", "2",
					    "-q", NULL, NULL };
	static const char first[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				    "\r\n";
	static const char close_req[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
					"Connection: close\r\n\r\n";
	int64_t until = tu_now_ns() + server_wait_ns();
	const char *a[8];
	struct server s;
	struct resp r;
	char buf[1024], *raw;
	size_t len = 0;
	ssize_t got = 1;
	int idle, busy, status = -1;

	memcpy(a, args, sizeof(args));
	a[5] = www;
	CU_ASSERT_FATAL(start(&s, "idleroom", a) == 0);
	idle = dial(s.port);
	CU_ASSERT_FATAL(idle >= 0);
	CU_ASSERT(send_all(idle, first, sizeof(first) - 1));
	while (!(len && parse(buf, len, false, &r) && r.next == buf + len) &&
	       len < sizeof(buf) - 1 &&
	       (got = recv(idle, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
		len += (size_t)got;
	buf[len] = '\0';
	CU_ASSERT(parse(buf, len, false, &r) && r.status == 200);
	busy = dial(s.port);
	CU_ASSERT_FATAL(busy >= 0);
	/* Its request line only. */
	CU_ASSERT(send_all(busy, close_req, 25));
	/* Until the server has listed the first one as waiting. */
	while (status != 200 && tu_now_ns() < until) {
		raw = exchange_on(s.port, close_req, &len);
		status = parse(raw, len, false, &r) ? r.status : -1;
		free(raw);
		if (status != 200)
			usleep(20000);
	}
	CU_ASSERT_EQUAL(status, 200);
	/* The idle one was closed; the busy one goes on. */
	CU_ASSERT_EQUAL(recv(idle, buf, sizeof(buf), 0), 0);
	CU_ASSERT(send_all(busy, close_req + 25, strlen(close_req + 25)));
	raw = read_all(busy, &len);
	CU_ASSERT(raw && parse(raw, len, false, &r) && r.status == 200 &&
		  r.next == raw + len);
	free(raw);
	close(idle);
	close(busy);
	CU_ASSERT_EQUAL(stop(&s, SIGINT), 0);
}

/*
 * --list: a folder without index.html gets a listing, made by a task on the
 * CPU pool; the connection goes on after it (keep-alive); a folder with an
 * index.html still gets that.
 */
static void test_folder_listings(void)
{
	static const char *const args[] = { "--port", "0", "--list", "-q",
					    NULL, NULL };
	static const char two[] =
		"GET /noindex/ HTTP/1.1\r\nHost: x\r\n\r\n"
		"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close"
		"\r\n\r\n";
	const char *a[8];
	struct server s;
	struct resp r, r2;
	char v[64], *raw;
	size_t len;

	memcpy(a, args, sizeof(args));
	a[4] = www;
	CU_ASSERT_FATAL(start(&s, "list", a) == 0);
	raw = request_on(s.port, "GET", "/", NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(header(&r, "Content-Type", v, sizeof(v)) &&
		  !strcmp(v, "text/html; charset=utf-8"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "<title>Index of /</title>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "<a href=\"hello.txt\">"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "<a href=\"sub/\">sub/</a>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body,
				      "<a href=\"with%20space.txt\">"));
	CU_ASSERT_PTR_NULL(strstr(r.body, "secret"));
	CU_ASSERT_PTR_NULL(strstr(r.body, "href=\"../\""));
	free(raw);
	/* A listing, then a file, on one connection. */
	raw = exchange_on(s.port, two, &len);
	CU_ASSERT(parse(raw, len, false, &r) && r.status == 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.head, "text/html"));
	CU_ASSERT(r.body && memmem(r.body, r.body_len, "Index of /noindex/",
				   18));
	CU_ASSERT(r.next && parse(r.next, len - (size_t)(r.next - raw), false,
				  &r2) && r2.status == 200);
	CU_ASSERT(r2.body_len == 13 && !memcmp(r2.body, "Hello, world\n", 13));
	free(raw);
	/* HEAD: the length, no body; a folder with index.html serves it. */
	raw = request_on(s.port, "HEAD", "/noindex/", NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(header(&r, "Content-Length", v, sizeof(v)) && atoi(v) > 0);
	CU_ASSERT(r.body && r.body[0] == '\0');
	free(raw);
	raw = request_on(s.port, "GET", "/sub/", NULL, &r);
	CU_ASSERT(r.status == 200 && r.body_len == 13 &&
		  !memcmp(r.body, "<h1>sub</h1>\n", 13));
	free(raw);
	CU_ASSERT_EQUAL(stop(&s, SIGINT), 0);
}

/*
 * One request to the --precompressed server at `port`: checks the status,
 * the body, Content-Encoding (`coding`, NULL for none) and that Vary names
 * Accept-Encoding; returns the ETag in `etag`.
 */
static void check_copy(int port, const char *method, const char *path,
		       const char *extra, int status, const char *body,
		       const char *coding, const char *type, char *etag,
		       size_t etag_cap)
{
	char v[128];
	struct resp r;
	char *raw = request_on(port, method, path, extra, &r);

	CU_ASSERT_EQUAL(r.status, status);
	if (body) {
		CU_ASSERT_EQUAL(r.body_len, strlen(body));
		CU_ASSERT(r.body_len == strlen(body) &&
			  !memcmp(r.body, body, r.body_len));
	}
	if (coding) {
		CU_ASSERT(header(&r, "Content-Encoding", v, sizeof(v)) &&
			  !strcmp(v, coding));
	} else {
		CU_ASSERT_PTR_NULL(header(&r, "Content-Encoding", v,
					  sizeof(v)));
	}
	CU_ASSERT(header(&r, "Vary", v, sizeof(v)) &&
		  !strcmp(v, "Accept-Encoding"));
	if (type) {
		CU_ASSERT(header(&r, "Content-Type", v, sizeof(v)) &&
			  !strcmp(v, type));
	}
	if (etag && !header(&r, "ETag", etag, etag_cap))
		etag[0] = '\0';
	free(raw);
}

/*
 * --precompressed: NAME.br or NAME.gz goes to a client that accepts the
 * coding, with its own entity tag and NAME's type; a copy older than NAME,
 * or not a regular file, is passed over; without the option the copies are
 * only files of their own.
 */
static void test_precompressed_copies(void)
{
	static const char *const args[] = { "--port", "0", "--precompressed",
					    "-q", NULL, NULL };
	const char *a[8];
	const char *text = "text/plain; charset=utf-8";
	char plain_tag[64], gz_tag[64], br_tag[64], hdr[160], v[64];
	struct server s;
	struct resp r;
	char *raw;
	int p;

	memcpy(a, args, sizeof(args));
	a[4] = www;
	CU_ASSERT_FATAL(start(&s, "precompressed", a) == 0);
	p = s.port;

	check_copy(p, "GET", "/page.txt", NULL, 200, "plain page\n", NULL,
		   text, plain_tag, sizeof(plain_tag));
	check_copy(p, "GET", "/page.txt", "Accept-Encoding: gzip\r\n", 200,
		   "GZ COPY\n", "gzip", text, gz_tag, sizeof(gz_tag));
	check_copy(p, "GET", "/page.txt",
		   "Accept-Encoding: gzip, deflate, br, zstd\r\n", 200,
		   "BR COPY\n", "br", text, br_tag, sizeof(br_tag));
	CU_ASSERT(plain_tag[0] && gz_tag[0] && br_tag[0]);
	CU_ASSERT(strcmp(plain_tag, gz_tag) && strcmp(plain_tag, br_tag) &&
		  strcmp(gz_tag, br_tag));
	/* Refused codings, and "*". */
	check_copy(p, "GET", "/page.txt",
		   "Accept-Encoding: br;q=0, gzip;q=0\r\n", 200,
		   "plain page\n", NULL, NULL, NULL, 0);
	check_copy(p, "GET", "/page.txt", "Accept-Encoding: *;q=1, br;q=0\r\n",
		   200, "GZ COPY\n", "gzip", NULL, NULL, 0);
	/* HEAD, a range of the copy, and the copy's tag in If-None-Match. */
	check_copy(p, "HEAD", "/page.txt", "Accept-Encoding: gzip\r\n", 200,
		   NULL, "gzip", text, NULL, 0);
	check_copy(p, "GET", "/page.txt",
		   "Accept-Encoding: gzip\r\nRange: bytes=3-5\r\n", 206,
		   "COP", "gzip", NULL, NULL, 0);
	snprintf(hdr, sizeof(hdr), "Accept-Encoding: gzip\r\n"
		 "If-None-Match: %s\r\n", gz_tag);
	check_copy(p, "GET", "/page.txt", hdr, 304, "", "gzip", NULL, NULL, 0);
	/* The plain tag does not match the copy. */
	snprintf(hdr, sizeof(hdr), "Accept-Encoding: gzip\r\n"
		 "If-None-Match: %s\r\n", plain_tag);
	check_copy(p, "GET", "/page.txt", hdr, 200, "GZ COPY\n", "gzip", NULL,
		   NULL, 0);
	/* Only one coding there; a stale copy; a copy that is a folder. */
	check_copy(p, "GET", "/page.css",
		   "Accept-Encoding: br, gzip\r\n", 200, "css gz\n", "gzip",
		   "text/css; charset=utf-8", NULL, 0);
	check_copy(p, "GET", "/stale.txt", "Accept-Encoding: gzip\r\n", 200,
		   "new text\n", NULL, NULL, NULL, 0);
	check_copy(p, "GET", "/odd.txt", "Accept-Encoding: gzip\r\n", 200,
		   "odd\n", NULL, NULL, NULL, 0);
	/* A file without copies, and a folder's index.html.gz. */
	check_copy(p, "GET", "/hello.txt", "Accept-Encoding: gzip, br\r\n",
		   200, "Hello, world\n", NULL, NULL, NULL, 0);
	check_copy(p, "GET", "/sub/", "Accept-Encoding: gzip\r\n", 200,
		   "index gz\n", "gzip", "text/html; charset=utf-8", NULL, 0);
	/* No file, no copy: a copy alone is not served for the file. */
	CU_ASSERT_EQUAL(status_of_on(p, "/lonely.txt", "gzip"), 404);
	/* Asked for by its own name, a copy is a file like any other. */
	raw = request_on(p, "GET", "/page.txt.gz", "Accept-Encoding: gzip\r\n",
			 &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(header(&r, "Content-Type", v, sizeof(v)) &&
		  !strcmp(v, "application/gzip"));
	CU_ASSERT_PTR_NULL(header(&r, "Content-Encoding", v, sizeof(v)));
	free(raw);
	CU_ASSERT_EQUAL(stop(&s, SIGINT), 0);

	/* The main server runs without --precompressed. */
	raw = request("GET", "/page.txt", "Accept-Encoding: gzip, br\r\n", &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(r.body_len == 11 && !memcmp(r.body, "plain page\n", 11));
	CU_ASSERT_PTR_NULL(header(&r, "Content-Encoding", v, sizeof(v)));
	CU_ASSERT_PTR_NULL(header(&r, "Vary", v, sizeof(v)));
	free(raw);
}

/*
 * A client that asks for a large file and reads none of it: the server
 * gives up after --send-timeout and closes, and goes on serving others.
 */
/* The same with bodies spliced (`splice` "on") or copied ("off"). */
static void stalled_reader(const char *splice)
{
	static const char *const args[] = { "--port", "0", "--send-timeout",
					    "1", "--max-conns", "8", "-q",
					    "--splice", NULL, NULL, NULL };
	const char *a[12];
	int rcvbuf = 4096, fd;
	struct server s;
	size_t total = 0;
	char req[] = "GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 30 };

	memcpy(a, args, sizeof(args));
	a[8] = splice;
	a[9] = www;
	/* A tag of its own: start() reads the port from the tag's log. */
	CU_ASSERT_FATAL(start(&s, strcmp(splice, "on") ? "stall-off"
							: "stall-on",
			      a) == 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0);
	/* A small window, so that the server's sends back up soon. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sa.sin_port = htons((uint16_t)s.port);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT(send_all(fd, req, sizeof(req) - 1));
	/*
	 * Read nothing until the server gives up: reading before then would
	 * let it go on to the end.
	 */
	CU_ASSERT(wait_server_closed(fd, s.port));
	for (;;) {
		char buf[65536];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0)
			break;
		total += (size_t)n;
	}
	close(fd);
	/* Cut off well before the 32 MiB it promised. */
	CU_ASSERT(total > 0 && total < (32u << 20));
	CU_ASSERT(serves_hello(s.port));
	CU_ASSERT_EQUAL(stop(&s, SIGTERM), 0);
}

static void test_a_reader_that_stalls_is_cut_off(void)
{
	stalled_reader("off");
	stalled_reader("on");
}

/*
 * A low RLIMIT_NOFILE (room for a few connections): --max-conns comes down
 * to what it allows, with a message, so that each client gets its file or
 * a 503 at once, never a request that fails for want of a descriptor.
 */
static void test_a_low_open_file_limit_lowers_max_conns(void)
{
	static const char *const args[] = { "--port", "0", "-q", "--max-conns",
					    "40", NULL, NULL };
	static const char req[] =
		"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
		"Connection: close\r\n\r\n";
	const char *backend = getenv("RINGPOOL_BACKEND");
	enum { N = 30 };
	const char *a[8];
	int fds[N], ok = 0, busy = 0, i;
	struct server s;
	char *err;

	memcpy(a, args, sizeof(args));
	a[5] = www;
	/* The fallback holds a descriptor per I/O thread (56 here). */
	spawn_nofile = backend && !strcmp(backend, "threads") ? 90 : 40;
	i = start(&s, "nofile", a);
	spawn_nofile = 0;
	CU_ASSERT_FATAL(i == 0);
	/*
	 * All connected and taken by the server before any asks, so the
	 * house is full: otherwise the first served make room for the rest.
	 */
	for (i = 0; i < N; i++)
		fds[i] = dial(s.port);
	CU_ASSERT(wait_all_accepted(s.port));
	for (i = 0; i < N; i++)
		if (fds[i] >= 0)
			send_all(fds[i], req, sizeof(req) - 1);
	for (i = 0; i < N; i++) {
		struct resp r;
		size_t len;
		char *raw;

		if (fds[i] < 0)
			continue;
		raw = read_all(fds[i], &len);
		close(fds[i]);
		if (raw && parse(raw, len, false, &r) && r.status == 200)
			ok++;
		else if (raw && parse(raw, len, false, &r) && r.status == 503)
			busy++;
		else
			printf("\n  connection %d: %zu bytes: %.60s", i, len,
			       raw ? raw : "");
		free(raw);
	}
	CU_ASSERT(ok > 0);
	CU_ASSERT(busy > 0);
	CU_ASSERT_EQUAL(ok + busy, N);
	CU_ASSERT_EQUAL(stop(&s, SIGTERM), 0);
	err = slurp(s.err, NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "the limit on open files"));
	free(err);
}

/* ---- random requests ----------------------------------------------------
 *
 * Requests put together at random from pieces that servers get wrong (odd
 * methods and versions, escapes and dot segments, ranges at the edges of
 * 64-bit numbers, conditional and coding headers with garbage in them,
 * bodies, bare LF line ends, unfinished heads, raw bytes), one to three to
 * a connection, sent whole or in 7-byte pieces, the connection then ended
 * or dropped.  Whatever comes back must be HTTP/1.1 responses, and the
 * server must still serve a plain GET afterwards and exit 0 when stopped:
 * under the sanitizers and valgrind that also means no memory error or
 * leak on any of those paths.
 */

static struct tu_rng fz_rng = { 0x853c49e6748fea9bULL };

static uint32_t fz_below(uint32_t n)
{
	return tu_rng_below(&fz_rng, n);
}

#define FZ_PICK(a) (a)[fz_below(sizeof(a) / sizeof((a)[0]))]

static size_t fz_request(char *buf, size_t cap)
{
	static const char *const methods[] = {
		"GET", "GET", "GET", "HEAD", "POST", "PUT", "OPTIONS",
		"G ET", "", "get", "CONNECT",
	};
	static const char *const targets[] = {
		"/", "/hello.txt", "/sub", "/sub/", "/noindex/", "/.secret",
		"/page.txt", "/big.bin", "/nope", "/%2e%2e/%2e%2e/etc/passwd",
		"/hello.txt%00", "/%", "/%zz", "/sub/../hello.txt", "//hello.txt",
		"*", "http://x/hello.txt", "/hello.txt?q=1#f", "/with%20space.txt",
		"/fifo", "/link.txt", "/sub/.hidden/x", "/page.txt.gz",
	};
	static const char *const versions[] = {
		"HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1x", "",
		"HTTP/0.9", "HTTP/1.",
	};
	static const char *const headers[] = {
		"Range: bytes=0-3", "Range: bytes=-5", "Range: bytes=5-",
		"Range: bytes=99999999-", "Range: bytes=3-1",
		"Range: bytes=0-0,2-3", "Range: bytes=", "Range: items=1-2",
		"Range: bytes=-0", "Range: bytes=18446744073709551615-",
		"Range: bytes=-18446744073709551616", "Range: bytes=1-2-3",
		"If-None-Match: *", "If-None-Match: \"x\", W/\"y\"",
		"If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT",
		"If-Modified-Since: garbage", "If-Range: \"abc\"",
		"If-Range: Thu, 01 Jan 2099 00:00:00 GMT",
		"Accept-Encoding: gzip", "Accept-Encoding: br;q=0, gzip;q=0.5",
		"Accept-Encoding: *;q=0", "Accept-Encoding: gzip;q=abc",
		"Accept-Encoding: ,,,;;;q=", "Connection: close",
		"Connection: keep-alive", "Content-Length: 5",
		"Content-Length: -1", "Content-Length: 99999999999999999999",
		"Transfer-Encoding: chunked", "Expect: 100-continue", "Host:",
		"Bad Header", "Upgrade: h2c", "X: \x01\x7f\xff",
	};
	size_t n = 0;
	int chunked = 0, body = 0;
	unsigned i, nh;

	if (fz_below(20) == 0) {		/* raw bytes */
		size_t len = 1 + fz_below((uint32_t)(cap < 400 ? cap : 400));

		for (n = 0; n < len; n++)
			buf[n] = (char)fz_below(256);
		return n;
	}
	n += (size_t)snprintf(buf + n, cap - n, "%s %s %s\r\nHost: x\r\n",
			      FZ_PICK(methods), FZ_PICK(targets),
			      FZ_PICK(versions));
	nh = fz_below(5);
	for (i = 0; i < nh && n < cap; i++) {
		const char *h = FZ_PICK(headers);

		chunked |= !strcmp(h, "Transfer-Encoding: chunked");
		body |= !strcmp(h, "Content-Length: 5");
		n += (size_t)snprintf(buf + n, cap - n, "%s\r\n", h);
	}
	if (fz_below(10) && n < cap)		/* else: an unfinished head */
		n += (size_t)snprintf(buf + n, cap - n, "\r\n%s",
				      chunked ? "5\r\nhello\r\n0\r\n\r\n" :
				      body ? "hello" : "");
	if (n > cap)
		n = cap;
	if (fz_below(10) == 0) {		/* bare LF line ends */
		size_t r, w = 0;

		for (r = 0; r < n; r++) {
			if (buf[r] != '\r')
				buf[w++] = buf[r];
		}
		n = w;
	}
	return n;
}

/* Every response in `p` starts with an HTTP/1.1 status line. */
static bool only_responses(const char *p, size_t len)
{
	return len == 0 || (len >= 12 && !memcmp(p, "HTTP/1.1 ", 9) &&
			    p[9] >= '1' && p[9] <= '5');
}

static void test_random_requests(void)
{
	static const char *const args[] = { "--port", "0", "--list",
					    "--precompressed", "-q", NULL, NULL };
	const char *a[8];
	/* Fewer under valgrind, where a connection costs ~0.1 s. */
	size_t rounds = tu_under_valgrind() ? 60 : 1500, r, len;
	unsigned bad = 0;
	struct server s;
	char *resp;

	memcpy(a, args, sizeof(args));
	a[5] = www;
	CU_ASSERT_FATAL(start(&s, "random", a) == 0);
	for (r = 0; r < rounds; r++) {
		char req[4096];
		size_t n = 0, k;
		unsigned reqs = 1 + fz_below(3), i;
		int fd = dial(s.port);

		CU_ASSERT_FATAL(fd >= 0);
		for (i = 0; i < reqs; i++)
			n += fz_request(req + n, sizeof(req) - n);
		if (fz_below(3) == 0) {
			for (k = 0; k < n; k += 7)
				send_all(fd, req + k, n - k < 7 ? n - k : 7);
		} else {
			send_all(fd, req, n);
		}
		if (fz_below(5) == 0) {		/* gone without reading */
			close(fd);
			continue;
		}
		shutdown(fd, SHUT_WR);
		resp = read_all(fd, &len);
		close(fd);
		if (resp && !only_responses(resp, len) && bad++ < 3)
			printf("\n  round %zu: %.60s...\n", r, resp);
		free(resp);
	}
	CU_ASSERT_EQUAL(bad, 0);
	resp = exchange_on(s.port, "GET /hello.txt HTTP/1.0\r\n\r\n", &len);
	CU_ASSERT(len > 12 && !memcmp(resp, "HTTP/1.1 200 ", 13));
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, "Hello, world\n"));
	free(resp);
	CU_ASSERT_EQUAL(stop(&s, SIGTERM), 0);
}

/*
 * --bind takes an IPv6 address in brackets too, as URLs write it (and as
 * the server prints its own address).
 */
static void test_bind_takes_a_bracketed_ipv6_address(void)
{
	static const char req[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				  "Connection: close\r\n\r\n";
	const char *a[] = { "--bind", "[::1]", "--port", "0", "-q", www,
			    NULL };
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct server s;
	char *err, *resp;
	size_t len = 0;
	int fd;

	/* Without IPv6 on the loopback, there is nothing to test. */
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		printf("skipped: no IPv6 loopback here (%s)\n",
		       strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	CU_ASSERT_FATAL(start(&s, "bind6", a) == 0);
	err = slurp(s.err, NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "http://[::1]:"));
	free(err);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin6_port = htons((uint16_t)s.port);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT(send_all(fd, req, sizeof(req) - 1));
	resp = read_all(fd, &len);
	close(fd);
	CU_ASSERT(resp && len > 13 && !memcmp(resp, "HTTP/1.1 200 ", 13));
	free(resp);
	CU_ASSERT_EQUAL(stop(&s, SIGTERM), 0);
}

static void test_usage_errors(void)
{
	static const char *const cases[][4] = {
		{ "--port", "70000", NULL, "--port '70000'" },
		{ "--port", "x", NULL, "--port 'x'" },
		{ "--rings", "0", NULL, "--rings '0'" },
		{ "--max-conns", "0", NULL, "--max-conns '0'" },
		{ "--idle-timeout", "-1", NULL, "--idle-timeout '-1'" },
		{ "--grace", "-1", NULL, "--grace '-1'" },
		{ "--bogus", NULL, NULL, "unknown option '--bogus'" },
		{ "/nonexistent-dir", NULL, NULL, "'/nonexistent-dir'" },
		{ "--bind", "1.2.3.999", NULL, "'1.2.3.999'" },
		{ "--bind", "[127.0.0.1", NULL, "'[127.0.0.1'" },
		{ "--bind", "[]", NULL, "'[]'" },
		{ "a", "b", NULL, "one folder" },
		{ "--port", NULL, NULL, "needs a value" },
		{ "--splice", "sometimes", NULL, "auto, on or off" },
		{ "--user", "no-such-user-here", NULL,
		  "--user 'no-such-user-here'" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[4] = { cases[i][0], cases[i][1], cases[i][2],
					NULL };
		char *err;
		int st = run_to_end(args, &err);

		CU_ASSERT_EQUAL(st, 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i][3]));
		if (st != 2 || !strstr(err, cases[i][3]))
			printf("\n  case %zu: status %d, said: %s\n", i, st,
			       err);
		free(err);
	}
	{
		static const char *const args[] = { "--help", NULL };
		char *err, *out;
		struct server s;
		int st = -1;

		if (spawn(&s, "help", args) > 0 &&
		    waitpid(s.pid, &st, 0) == s.pid)
			st = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		CU_ASSERT_EQUAL(st, 0);
		out = slurp(s.out, NULL);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "Usage: ringpool serve"));
		free(out);
		err = slurp(s.err, NULL);
		free(err);
	}
}

/*
 * --user: after binding, the server runs as that user, so a file only root
 * may read is 403, as under nginx's workers; without it, a server started
 * as root reads it, and says on stderr that it runs as root.  A folder the
 * user cannot read is an error at the start, not a 403 for every request.
 * As root only (the test runs as another user otherwise).
 */
static void test_user_drops_root(void)
{
	static const char *args[] = { "--port", "0", "-q", "--user", "nobody",
				      NULL, NULL };
	char dir[320], path[400];
	struct server s;
	char *err;
	int fd, st;

	if (geteuid() != 0 || !getpwnam("nobody")) {
		printf("(needs root and a user 'nobody') ");
		return;
	}
	/*
	 * A folder of its own, under the scratch root (removed at the end
	 * whatever happens here), which `nobody` may pass through meanwhile.
	 */
	snprintf(dir, sizeof(dir), "%s/as-user", root);
	CU_ASSERT_FATAL(mkdir(dir, 0755) == 0);
	CU_ASSERT_FATAL(chmod(root, 0711) == 0);
	snprintf(path, sizeof(path), "%s/public.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CU_ASSERT(fd >= 0 && write(fd, "public\n", 7) == 7);
	close(fd);
	snprintf(path, sizeof(path), "%s/secret.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT(fd >= 0 && write(fd, "secret\n", 7) == 7);
	close(fd);

	args[5] = dir;
	CU_ASSERT_FATAL(start(&s, "user", args) == 0);
	CU_ASSERT_EQUAL(status_of_on(s.port, "/public.txt", "identity"), 200);
	CU_ASSERT_EQUAL(status_of_on(s.port, "/secret.txt", "identity"), 403);
	CU_ASSERT_EQUAL(stop(&s, SIGTERM), 0);
	err = slurp(s.err, NULL);
	CU_ASSERT_PTR_NULL(strstr(err, "running as root"));
	free(err);

	args[3] = "-q";	/* no --user */
	args[4] = dir;
	args[5] = NULL;
	CU_ASSERT_FATAL(start(&s, "user-root", args) == 0);
	CU_ASSERT_EQUAL(status_of_on(s.port, "/secret.txt", "identity"), 200);
	CU_ASSERT_EQUAL(stop(&s, SIGTERM), 0);
	err = slurp(s.err, NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "running as root"));
	free(err);

	/* A folder `nobody` cannot enter. */
	CU_ASSERT_FATAL(chmod(dir, 0700) == 0);
	args[3] = "--user";
	args[4] = "nobody";
	args[5] = dir;
	st = run_to_end(args, &err);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "user 'nobody' cannot read"));
	if (st != 1)
		printf("\n  status %d, said: %s\n", st, err);
	free(err);

	CU_ASSERT(chmod(root, 0700) == 0);
}

static void test_a_port_in_use_is_an_error(void)
{
	char port[16], *err;
	const char *args[] = { "--port", port, www, NULL };
	int st;

	snprintf(port, sizeof(port), "%d", main_srv.port);
	st = run_to_end(args, &err);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot listen"));
	free(err);
}

/* Log lines reach the file within about a second, not only at the end. */
static void test_the_log_is_written_while_serving(void)
{
	int64_t give_up = tu_now_ns() + (tu_under_valgrind() ? 20 : 5) *
						1000000000LL;
	bool seen = false;

	CU_ASSERT_EQUAL(status_of("GET", "/hello.txt?while-serving", NULL),
			200);
	while (!seen && tu_now_ns() < give_up) {
		char *out = slurp(main_srv.out, NULL);

		seen = strstr(out, "\"GET /hello.txt?while-serving HTTP/1.1\" "
				   "200 13") != NULL;
		free(out);
		if (!seen)
			usleep(100000);
	}
	CU_ASSERT(seen);
}

/* Lines of the file at `path` that contain `what`. */
static unsigned lines_with(const char *path, const char *what)
{
	char *text = slurp(path, NULL), *p = text;
	unsigned n = 0;

	while ((p = strstr(p, what))) {
		n++;
		p += strlen(what);
	}
	free(text);
	return n;
}

/*
 * Out of descriptors, the server retries its accept every 10 ms; it logs
 * the failure at most once a second, with a count of those left out, and
 * serves the connection once descriptors are free again.
 */
static void test_out_of_descriptors_is_logged_once_a_second(void)
{
	static const char *args[] = { "--port", "0", "-q", NULL, NULL };
	static const char what[] = "accept: Too many open files";
	static const char req[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
				  "Connection: close\r\n\r\n";
	struct rlimit low, old;
	int64_t give_up;
	unsigned n;
	struct server s;
	struct resp r;
	size_t len;
	char *raw;
	int fd;

	args[3] = www;
	CU_ASSERT_FATAL(start(&s, "emfile", args) == 0);
	CU_ASSERT_FATAL(prlimit(s.pid, RLIMIT_NOFILE, NULL, &old) == 0);
	/*
	 * Nothing new fits under 3: accepts fail with EMFILE, whether a
	 * connection waits or not (an io_uring accept queued before may
	 * still take this one: it read the limit then).
	 */
	low = old;
	low.rlim_cur = 3;
	CU_ASSERT_FATAL(prlimit(s.pid, RLIMIT_NOFILE, &low, NULL) == 0);
	fd = dial(s.port);
	CU_ASSERT(fd >= 0);
	give_up = tu_now_ns() + server_wait_ns();
	while (!lines_with(s.err, what) && tu_now_ns() < give_up)
		usleep(10000);
	/* About 250 failures in this time; lines at 0, 1 and 2 s. */
	usleep(2500000);
	n = lines_with(s.err, what);
	CU_ASSERT(n >= 2 && n <= 4);
	CU_ASSERT(lines_with(s.err, "more failures since the last line") >=
		  1);
	if (n < 2 || n > 4)
		printf("\n  %u lines\n", n);
	CU_ASSERT_FATAL(prlimit(s.pid, RLIMIT_NOFILE, &old, NULL) == 0);
	CU_ASSERT(send_all(fd, req, sizeof(req) - 1));
	raw = read_all(fd, &len);
	CU_ASSERT(raw && parse(raw, len, false, &r) && r.status == 200);
	free(raw);
	close(fd);
	CU_ASSERT_EQUAL(stop(&s, SIGTERM), 0);
}

/* ---- stopping gracefully -------------------------------------------------- */

/*
 * The exit status of server `s` if it ends within `ns`, else -1 (it runs
 * on).
 */
static int exits_within(struct server *s, int64_t ns)
{
	int64_t give_up = tu_now_ns() + ns;
	int st;

	for (;;) {
		pid_t p = waitpid(s->pid, &st, WNOHANG);

		if (p == s->pid) {
			s->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st)
					     : 128 + WTERMSIG(st);
		}
		if (p < 0 || tu_now_ns() >= give_up)
			return -1;
		usleep(10000);
	}
}

/*
 * A connection with GET /huge.bin (32 MiB) sent and the response's headers
 * in (`*got` bytes so far), read no further: with a small receive window
 * the server's sends back up, and the response stays in progress until
 * the client reads on.  `close_hdr`: whether it said Connection: close.
 */
static int huge_in_flight(int port, size_t *got, bool *close_hdr)
{
	static const char req[] = "GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = tu_under_valgrind() ? 120 : 30 };
	int rcvbuf = 4096, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char buf[4096];

	*got = 0;
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    !send_all(fd, req, sizeof(req) - 1)) {
		close(fd);
		return -1;
	}
	while (*got < sizeof(buf) - 1) {
		ssize_t n = recv(fd, buf + *got, sizeof(buf) - 1 - *got, 0);

		if (n <= 0)
			break;
		*got += (size_t)n;
		buf[*got] = '\0';
		if (strstr(buf, "\r\n\r\n")) {
			*close_hdr = strcasestr(buf, "Connection: close") != NULL;
			return fd;
		}
	}
	close(fd);
	return -1;
}

/* Reads until the end of stream: the bytes, and whether it ended cleanly. */
static size_t read_to_end(int fd, size_t max, bool *clean)
{
	static char buf[1 << 16];
	size_t total = 0;

	*clean = false;
	while (total < max) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0) {
			*clean = n == 0;
			break;
		}
		total += (size_t)n;
	}
	return total;
}

/*
 * Whether the server stops listening on `port` within server_wait_ns():
 * its socket leaves the listening ones, and a connection is refused.  Not
 * by connecting until refused, which could add a connection of its own.
 */
static bool stops_listening(int port)
{
	int64_t give_up = tu_now_ns() + server_wait_ns();
	int fd, st;

	while ((st = tcp_socket(port, 0, NULL)) == 10 &&
	       tu_now_ns() < give_up)
		usleep(10000);
	if (st == 10)
		return false;
	fd = dial(port);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	if (errno != ECONNREFUSED)
		printf("\n  connecting after the stop: %s\n", strerror(errno));
	return errno == ECONNREFUSED;
}

#define HUGE_LEN (32u << 20)

/*
 * On SIGTERM the server stops listening and closes a kept-alive connection
 * that waits for a request at once, but finishes the response in progress
 * (then closes its connection) and a request already being read, answered
 * with Connection: close; then it exits 0 without waiting out --grace.
 */
static void test_a_signal_lets_responses_in_flight_finish(void)
{
	static const char *args[] = { "--port", "0", "--idle-timeout", "300",
				      "--grace", "300", "-q", NULL, NULL };
	static const char ka[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
	struct server s;
	size_t got = 0, len;
	bool clean, close_hdr = false;
	char buf[512];
	int fd, idle, part;
	struct resp r;
	char *raw;

	args[7] = www;
	CU_ASSERT_FATAL(start(&s, "grace", args) == 0);
	fd = huge_in_flight(s.port, &got, &close_hdr);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(!close_hdr);
	/* Kept alive after a response: idle. */
	idle = dial(s.port);
	CU_ASSERT_FATAL(idle >= 0);
	CU_ASSERT(send_all(idle, ka, sizeof(ka) - 1));
	len = 0;
	while (len < sizeof(buf) - 1) {
		ssize_t n = recv(idle, buf + len, sizeof(buf) - 1 - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (parse(buf, len, false, &r) && r.next == buf + len)
			break;
	}
	CU_ASSERT(parse(buf, len, false, &r) && r.status == 200);
	/* Half a request in. */
	part = dial(s.port);
	CU_ASSERT_FATAL(part >= 0);
	CU_ASSERT(send_all(part, "GET /hello.txt HTTP/1.1\r\n", 25));
	CU_ASSERT(wait_all_accepted(s.port));
	/* Read by then, or the stop would find it with nothing in. */
	CU_ASSERT(wait_server_read(part, s.port));

	kill(s.pid, SIGTERM);
	CU_ASSERT(stops_listening(s.port));
	CU_ASSERT_EQUAL(recv(idle, buf, sizeof(buf), 0), 0);
	close(idle);
	CU_ASSERT_EQUAL(exits_within(&s, 300000000LL), -1);
	CU_ASSERT(send_all(part, "Host: x\r\n\r\n", 11));
	raw = read_all(part, &len);
	CU_ASSERT(raw && parse(raw, len, false, &r) && r.status == 200 &&
		  r.next == raw + len &&
		  header(&r, "Connection", buf, sizeof(buf)) &&
		  !strcmp(buf, "close"));
	free(raw);
	close(part);
	/* All of it, then the end. */
	got += read_to_end(fd, HUGE_LEN + 4096, &clean);
	CU_ASSERT(clean);
	CU_ASSERT(got > HUGE_LEN && got < HUGE_LEN + 1024);
	close(fd);
	CU_ASSERT_EQUAL(exits_within(&s, server_wait_ns()), 0);
	if (s.pid > 0)
		stop(&s, SIGKILL);
	{
		char *err = slurp(s.err, NULL);

		CU_ASSERT_PTR_NOT_NULL(strstr(err, "stopped (Terminated): 3 "
						   "requests on 3 connections"));
		free(err);
	}
}

/*
 * Connections accepted that have not sent a byte of a request do not hold
 * a graceful stop: like the kept-alive ones waiting for their next
 * request, they are closed at once (as nginx closes them), and the server
 * exits without waiting out --grace.  Several, so that both rings get one.
 */
static void test_a_signal_closes_connections_that_sent_nothing(void)
{
	static const char *args[] = { "--port", "0", "--idle-timeout", "300",
				      "--grace", "300", "--rings", "2", "-q",
				      NULL, NULL };
	enum { N = 4 };
	struct server s;
	char buf[64];
	int fds[N], i;

	args[9] = www;
	CU_ASSERT_FATAL(start(&s, "grace_fresh", args) == 0);
	for (i = 0; i < N; i++) {
		fds[i] = dial(s.port);
		CU_ASSERT(fds[i] >= 0);
	}
	CU_ASSERT(wait_all_accepted(s.port));
	kill(s.pid, SIGTERM);
	/* Ended by the server, cleanly, not by the receive timeout. */
	for (i = 0; i < N; i++) {
		if (fds[i] < 0)
			continue;
		CU_ASSERT_EQUAL(recv(fds[i], buf, sizeof(buf), 0), 0);
		close(fds[i]);
	}
	CU_ASSERT_EQUAL(exits_within(&s, server_wait_ns()), 0);
	if (s.pid > 0)
		stop(&s, SIGKILL);
	{
		char *err = slurp(s.err, NULL);

		CU_ASSERT_PTR_NOT_NULL(strstr(err, "stopped (Terminated): 0 "
						   "requests"));
		free(err);
	}
}

/*
 * A second signal stops at once, the response in progress cut short (the
 * default --grace, 10 s, is not waited out).
 */
static void test_a_second_signal_stops_at_once(void)
{
#define WAIT_LINE "stopping; waiting up to 10 s for 1 connection to finish"
	static const char *args[] = { "--port", "0", "-q", NULL, NULL };
	int64_t give_up;
	struct server s;
	size_t got = 0, more;
	bool clean, close_hdr;
	int fd;

	args[3] = www;
	CU_ASSERT_FATAL(start(&s, "grace2", args) == 0);
	fd = huge_in_flight(s.port, &got, &close_hdr);
	CU_ASSERT_FATAL(fd >= 0);
	kill(s.pid, SIGTERM);
	CU_ASSERT(stops_listening(s.port));
	/* Still sending after the first. */
	more = read_to_end(fd, 4u << 20, &clean);
	CU_ASSERT(more >= (4u << 20));
	/* Why it has not ended, said once, when the wait is a second old. */
	give_up = tu_now_ns() + server_wait_ns();
	while (!lines_with(s.err, WAIT_LINE) && tu_now_ns() < give_up)
		usleep(20000);
	CU_ASSERT_EQUAL(lines_with(s.err, WAIT_LINE), 1);
	kill(s.pid, SIGINT);
	CU_ASSERT_EQUAL(exits_within(&s, server_wait_ns()), 0);
	if (s.pid > 0)
		stop(&s, SIGKILL);
	got += more + read_to_end(fd, HUGE_LEN, &clean);
	CU_ASSERT(got < HUGE_LEN);
	close(fd);
	{
		char *err = slurp(s.err, NULL);

		CU_ASSERT_PTR_NOT_NULL(strstr(err, "stopped (Interrupt)"));
		free(err);
	}
#undef WAIT_LINE
}

/* --grace 0: the first signal stops at once. */
static void test_grace_0_stops_at_once(void)
{
	static const char *args[] = { "--port", "0", "--grace", "0", "-q",
				      NULL, NULL };
	struct server s;
	size_t got = 0;
	bool clean, close_hdr;
	int fd;

	args[5] = www;
	CU_ASSERT_FATAL(start(&s, "grace0", args) == 0);
	fd = huge_in_flight(s.port, &got, &close_hdr);
	CU_ASSERT_FATAL(fd >= 0);
	kill(s.pid, SIGTERM);
	CU_ASSERT_EQUAL(exits_within(&s, server_wait_ns()), 0);
	if (s.pid > 0)
		stop(&s, SIGKILL);
	got += read_to_end(fd, HUGE_LEN, &clean);
	CU_ASSERT(got < HUGE_LEN);
	close(fd);
}

/*
 * The size the first log line of `what` (the request line, quoted) with
 * status `want` in the log at `path` gives, once the line is there; -1 if
 * it is not within server_wait_ns() (the log is written out once a
 * second).
 */
static long long logged_size(const char *path, const char *what,
			     int want)
{
	int64_t give_up = tu_now_ns() + server_wait_ns();
	long long size = -1;

	for (;;) {
		char *out = slurp(path, NULL), *p = out;
		int status;

		/* Any line of `what` with that status: "-" may have several. */
		while ((p = strstr(p, what))) {
			p += strlen(what);
			if (sscanf(p, " %d %lld", &status, &size) == 2 &&
			    status == want) {
				free(out);
				return size;
			}
		}
		free(out);
		if (tu_now_ns() >= give_up)
			return -1;
		usleep(50000);
	}
}

/*
 * A client that goes away in the middle of a body: the response is logged
 * all the same, with the body bytes the socket took, as nginx logs it; a
 * download cut short must not vanish from the log.
 */
static void response_cut_short(const struct server *s, const char *tag)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char req[128], what[96], buf[4096];
	size_t got = 0;
	long long size;
	int fd = dial(s->port);

	CU_ASSERT_FATAL(fd >= 0);
	snprintf(what, sizeof(what), "\"GET /huge.bin?%s HTTP/1.1\"", tag);
	snprintf(req, sizeof(req), "GET /huge.bin?%s HTTP/1.1\r\nHost: x\r\n"
		 "\r\n", tag);
	CU_ASSERT(send_all(fd, req, strlen(req)));
	while (got < 64 << 10) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	CU_ASSERT(got >= 64 << 10);
	/* A reset: the server's next send fails. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	size = logged_size(s->out, what, 200);
	if (size < 0)
		printf("\n  no log line for %s\n", what);
	CU_ASSERT(size >= 0 && size < (long long)HUGE_LEN);
}

static void test_a_response_cut_short_is_logged(void)
{
	static const char *const opts[] = { "--port", "0", "--splice", "off",
					    NULL };
	struct server s;

	response_cut_short(&main_srv, "cut-spliced");
	CU_ASSERT_FATAL(start_on_www(&s, "cut-copied", opts) == 0);
	response_cut_short(&s, "cut-copied");
	CU_ASSERT_EQUAL(stop(&s, SIGTERM), 0);
}

/* Last: stops the main server and reads its log. */
static void test_stops_on_a_signal_and_logs(void)
{
	char *out, *err;

	CU_ASSERT_EQUAL(stop(&main_srv, SIGTERM), 0);
	out = slurp(main_srv.out, NULL);
	err = slurp(main_srv.err, NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "127.0.0.1 - - ["));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"GET /hello.txt HTTP/1.1\" 200 13"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"HEAD /hello.txt HTTP/1.1\" 200 0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"GET /missing.txt HTTP/1.1\" 404"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "stopped (Terminated)"));
	free(out);
	free(err);
}

/* ---- the scratch folder --------------------------------------------------- */

static int write_file(const char *dir, const char *name, const void *data,
		      size_t len)
{
	char path[512];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static int make_www(void)
{
	char path[512];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i;

	snprintf(root, sizeof(root), "%s/rp-serve-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root))
		return -1;
	snprintf(www, sizeof(www), "%s/www", root);
	big_len = tu_under_valgrind() ? 200000 : 2500000;
	big = malloc(big_len);
	if (!big || mkdir(www, 0755))
		return -1;
	for (i = 0; i < big_len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		big[i] = (unsigned char)(x >> 24);
	}
	snprintf(path, sizeof(path), "%s/sub", www);
	if (mkdir(path, 0755))
		return -1;
	snprintf(path, sizeof(path), "%s/noindex", www);
	if (mkdir(path, 0755))
		return -1;
	snprintf(path, sizeof(path), "%s/sub/.hidden", www);
	if (mkdir(path, 0755))
		return -1;
	snprintf(path, sizeof(path), "%s/fifo", www);
	if (mkfifo(path, 0644))
		return -1;
	if (write_file(root, "outside.txt", "outside\n", 8) ||
	    write_file(www, "hello.txt", "Hello, world\n", 13) ||
	    write_file(www, "with space.txt", "space\n", 6) ||
	    write_file(www, "empty.txt", "", 0) ||
	    write_file(www, ".secret", "secret\n", 7) ||
	    write_file(www, "sub/index.html", "<h1>sub</h1>\n", 13) ||
	    write_file(www, "sub/.hidden/x", "x\n", 2) ||
	    write_file(www, "big.bin", big, big_len))
		return -1;
	/* Precompressed copies (their bodies need not be compressed). */
	if (write_file(www, "page.txt", "plain page\n", 11) ||
	    write_file(www, "page.txt.gz", "GZ COPY\n", 8) ||
	    write_file(www, "page.txt.br", "BR COPY\n", 8) ||
	    write_file(www, "page.css", "css\n", 4) ||
	    write_file(www, "page.css.gz", "css gz\n", 7) ||
	    write_file(www, "stale.txt.gz", "old text gz\n", 12) ||
	    write_file(www, "stale.txt", "new text\n", 9) ||
	    write_file(www, "odd.txt", "odd\n", 4) ||
	    write_file(www, "sub/index.html.gz", "index gz\n", 9) ||
	    write_file(www, "lonely.txt.gz", "lonely\n", 7))
		return -1;
	{
		/* stale.txt.gz a minute older than stale.txt. */
		struct timespec ts[2] = { { .tv_nsec = UTIME_NOW },
					  { .tv_sec = time(NULL) - 60 } };

		snprintf(path, sizeof(path), "%s/stale.txt.gz", www);
		if (utimensat(AT_FDCWD, path, ts, 0))
			return -1;
		snprintf(path, sizeof(path), "%s/odd.txt.gz", www);
		if (mkdir(path, 0755))
			return -1;
	}
	/* 32 MiB of zeros, sparse: more than any socket buffers hold. */
	snprintf(path, sizeof(path), "%s/huge.bin", www);
	if (truncate(path, 0) < 0 && errno != ENOENT)
		return -1;
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0 || ftruncate(fd, 32 << 20) < 0) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/link.txt", www);
	return symlink("../outside.txt", path);
}

static void remove_www(void)
{
	char cmd[600];

	if (!root[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	free(big);
}

int main(int argc, char **argv)
{
	static const struct tu_test tests[] = {
		{ "a_file_and_its_headers", test_a_file_and_its_headers,
		  false },
		{ "a_big_file_whole", test_a_big_file_whole, false },
		{ "missing_hidden_and_escaping_paths",
		  test_missing_hidden_and_escaping_paths, false },
		{ "folders", test_folders, false },
		{ "ranges", test_ranges, false },
		{ "if_modified_since", test_if_modified_since, false },
		{ "entity_tags_and_if_range", test_entity_tags_and_if_range,
		  false },
		{ "if_match_and_if_unmodified_since",
		  test_if_match_and_if_unmodified_since, false },
		{ "bad_requests", test_bad_requests, false },
		{ "which_errors_keep_the_connection",
		  test_which_errors_keep_the_connection, false },
		{ "a_414_ends_the_connection",
		  test_a_414_ends_the_connection, false },
		{ "malformed_header_lines", test_malformed_header_lines,
		  false },
		{ "an_error_ends_in_order_while_the_client_sends",
		  test_an_error_ends_in_order_while_the_client_sends, false },
		{ "a_close_with_requests_pipelined_after_it_is_orderly",
		  test_a_close_with_requests_pipelined_after_it_is_orderly,
		  false },
		{ "a_100_continue_is_sent_before_the_body",
		  test_a_100_continue_is_sent_before_the_body, false },
		{ "keep_alive_and_pipelining", test_keep_alive_and_pipelining,
		  false },
		{ "http10_and_requests_in_pieces",
		  test_http10_and_requests_in_pieces, false },
		{ "an_idle_connection_is_closed",
		  test_an_idle_connection_is_closed, false },
		{ "slow_headers_are_cut_off", test_slow_headers_are_cut_off,
		  false },
		{ "a_slow_body_is_cut_off", test_a_slow_body_is_cut_off,
		  false },
		{ "many_clients_at_once", test_many_clients_at_once, false },
		{ "idle_connections_do_not_stop_accepting",
		  test_idle_connections_do_not_stop_accepting, false },
		{ "big_bodies_spliced_on_more_connections_than_pipes",
		  test_big_bodies_spliced_on_more_connections_than_pipes,
		  false },
		{ "splice_off_copies", test_splice_off_copies, false },
		{ "a_file_that_shrinks_ends_its_response",
		  test_a_file_that_shrinks_ends_its_response, false },
		{ "over_max_conns_gets_503", test_over_max_conns_gets_503,
		  false },
		{ "an_idle_connection_makes_room",
		  test_an_idle_connection_makes_room, false },
		{ "a_reader_that_stalls_is_cut_off",
		  test_a_reader_that_stalls_is_cut_off, false },
		/* valgrind needs descriptors of its own under the limit. */
		{ "a_low_open_file_limit_lowers_max_conns",
		  test_a_low_open_file_limit_lowers_max_conns, true },
		{ "precompressed_copies", test_precompressed_copies, false },
		{ "folder_listings", test_folder_listings, false },
		{ "random_requests", test_random_requests, false },
		{ "bind_takes_a_bracketed_ipv6_address",
		  test_bind_takes_a_bracketed_ipv6_address, false },
		{ "usage_errors", test_usage_errors, false },
		{ "user_drops_root", test_user_drops_root, false },
		{ "a_port_in_use_is_an_error", test_a_port_in_use_is_an_error,
		  false },
		{ "the_log_is_written_while_serving",
		  test_the_log_is_written_while_serving, false },
		/* valgrind needs descriptors of its own under the limit. */
		{ "out_of_descriptors_is_logged_once_a_second",
		  test_out_of_descriptors_is_logged_once_a_second, true },
		{ "a_signal_lets_responses_in_flight_finish",
		  test_a_signal_lets_responses_in_flight_finish, false },
		{ "a_signal_closes_connections_that_sent_nothing",
		  test_a_signal_closes_connections_that_sent_nothing, false },
		{ "a_second_signal_stops_at_once",
		  test_a_second_signal_stops_at_once, false },
		{ "grace_0_stops_at_once", test_grace_0_stops_at_once, false },
		{ "a_response_cut_short_is_logged",
		  test_a_response_cut_short_is_logged, false },
		{ "stops_on_a_signal_and_logs",
		  test_stops_on_a_signal_and_logs, false },
	};
	const char *args[] = { "--port", "0", "--idle-timeout", "1",
			       "--max-conns", "64", "--rings", "2",
			       "--splice", "on", www, NULL };
	int ret;

	signal(SIGPIPE, SIG_IGN);
	if (make_www()) {
		perror("making the scratch folder");
		remove_www();
		return 1;
	}
	if (start(&main_srv, "main", args)) {
		stop(&main_srv, SIGKILL);
		remove_www();
		return 1;
	}
	ret = tu_run_tests(argc, argv, "serve", tests,
			   sizeof(tests) / sizeof(tests[0]));
	if (main_srv.pid > 0 && stop(&main_srv, SIGTERM) != 0)
		ret = 1;
	remove_www();
	return ret;
}
