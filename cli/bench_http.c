/* SPDX-License-Identifier: MIT */
/*
 * `ringpool bench http`: downloads through rp_http from a static HTTP/1.1
 * keep-alive server that the tool starts on 127.0.0.1: by default its own
 * (bench_srv.c: one epoll thread answering every GET with the same
 * in-memory body), with --server nginx an nginx (bench_nginx.c).
 *
 * The client is what is measured, on the library's io_uring backend or its
 * blocking-thread fallback: --conns slots each keep one transfer in flight,
 * into a file of their own that the tool creates and removes.  A download's
 * done-callback checks it (status, the future's value, the file's length),
 * truncates the file for the next use and starts the slot's next download,
 * so no thread of the tool takes part in the transfers.  One operation is
 * one download, timed from rp_http_get() to its done-callback.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringpool.h"
#include "bench.h"
#include "cli.h"

#define SUBJ "http"
#define MAX_CONNS 1024U
#define MAX_SIZE (1ULL << 30)

/* One slot: one download in flight at a time, into its own file. */
struct slot {
	_Atomic uint64_t done; /* counted completions (one writer at a time) */
	uint64_t issued;       /* counted issues; read after the drain */
	uint64_t bytes, bad;   /* verified bytes; downloads that failed it */
	uint64_t t0;
	bool counted;
	int fd;
	rp_http_transfer *t;	/* in flight */
	rp_http_transfer *prev; /* the one before: ended, not yet freed */
	struct bench_hist *hist;
	struct slot *next_pending;
} __attribute__((aligned(64)));

static struct {
	uint64_t size, ops;
	char url[64];
	rp_executor *ex;
	rp_http *http;
	struct slot *slots;
	unsigned n;
	atomic_bool measuring, stopping;
	atomic_uint active;
	_Atomic uint64_t ended_ns; /* when active reached 0 */
	_Atomic uint64_t issued_total;
	_Atomic int first_error;
	pthread_mutex_t why_lock;
	char why[160]; /* the first failure, in words; under why_lock */
	sem_t drained;
} ht;

/* Recursion guard of the callback, as in bench_engine.c. */
static _Thread_local unsigned cb_depth;
static _Thread_local struct slot *pending_head;

/* Keeps the first failure's description. */
static void tell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tell(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&ht.why_lock);
	if (!ht.why[0]) {
		va_start(ap, fmt);
		vsnprintf(ht.why, sizeof(ht.why), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&ht.why_lock);
}

static void set_error(int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&ht.first_error, &zero, err);
	atomic_store(&ht.stopping, true);
}

static void chain_end(void)
{
	if (atomic_fetch_sub(&ht.active, 1) == 1) {
		atomic_store(&ht.ended_ns, bench_now_ns());
		sem_post(&ht.drained);
	}
}

/* Takes the slot's next download; false when the chain should end. */
static bool next_dl(struct slot *s)
{
	if (atomic_load_explicit(&ht.stopping, memory_order_relaxed))
		return false;
	s->counted = atomic_load_explicit(&ht.measuring, memory_order_relaxed);
	if (s->counted && ht.ops &&
	    atomic_fetch_add_explicit(&ht.issued_total, 1,
				      memory_order_relaxed) >= ht.ops)
		return false;
	if (s->counted)
		s->issued++;
	return true;
}

static void on_done(rp_future *f, void *arg);

/* Starts the slot's next download, or ends its chain. */
static void issue(struct slot *s)
{
	struct rp_http_request req = {.url = ht.url, .fd = s->fd};
	int ret;

	if (!next_dl(s)) {
		chain_end();
		return;
	}
	s->t0 = bench_now_ns();
	ret = rp_http_get(ht.http, &req, &s->t);
	if (ret < 0) {
		s->t = NULL;
		tell("cannot start a download: %s", strerror(-ret));
		set_error(ret);
		chain_end();
		return;
	}
	ret = rp_future_add_done_callback(rp_http_transfer_future(s->t),
					  on_done, s);
	if (ret < 0) {
		/* It goes on unwatched; freeing it at the end waits for it. */
		tell("cannot watch a download: %s", strerror(-ret));
		set_error(ret);
		chain_end();
	}
}

/*
 * A download ended: verify it (a 2xx, --size bytes by the future and in
 * the file), record it, and make the file empty for the next one.  False
 * when the chain should end (the transfer failed, or the file did).
 */
static bool finish(struct slot *s, uint64_t t1)
{
	rp_http_transfer *t = s->t;
	struct rp_http_info info;
	int64_t value = 0;
	struct stat st;
	int err = 0;

	memset(&info, 0, sizeof(info));
	rp_http_transfer_info(t, &info);
	if (rp_future_result(rp_http_transfer_future(t), 0, &value, &err) < 0)
		err = -ECANCELED;
	/* The previous transfer has ended; this one's callback is running. */
	rp_http_transfer_free(s->prev);
	s->prev = t;
	s->t = NULL;
	if (err < 0) {
		tell("a download failed: %s",
		     info.error[0] ? info.error : strerror(-err));
		set_error(err);
		return false;
	}
	if (fstat(s->fd, &st) < 0)
		st.st_size = -1;
	if ((uint64_t)value != ht.size || info.bytes != ht.size ||
	    st.st_size != (off_t)ht.size) {
		tell("a download has the wrong length: HTTP %ld, %lld bytes "
		     "written, the file holds %lld, expected %llu",
		     info.status, (long long)value, (long long)st.st_size,
		     (unsigned long long)ht.size);
		s->bad++;
	} else if (s->counted) {
		s->bytes += (uint64_t)value;
	}
	if (s->counted) {
		bench_hist_add(s->hist, t1 - s->t0);
		atomic_store_explicit(
			&s->done,
			atomic_load_explicit(&s->done, memory_order_relaxed) +
				1,
			memory_order_relaxed);
	}
	/* A short syscall on a file the slot alone uses: fine here. */
	if (ftruncate(s->fd, 0) < 0) {
		tell("cannot truncate a download's file: %s", strerror(errno));
		set_error(-errno);
		return false;
	}
	return true;
}

/*
 * Nested completions (a download that ended before its callback was
 * registered, or one ended by the drain inside rp_http_get()) only park
 * their slot on a list of this thread that the outermost call works off.
 */
static void on_done(rp_future *f, void *arg)
{
	uint64_t t1 = bench_now_ns();
	struct slot *s = arg;

	(void)f;
	if (!finish(s, t1)) {
		chain_end();
		return;
	}
	if (cb_depth) {
		s->next_pending = pending_head;
		pending_head = s;
		return;
	}
	cb_depth++;
	issue(s);
	while (pending_head) {
		s = pending_head;
		pending_head = s->next_pending;
		issue(s);
	}
	cb_depth--;
}

static uint64_t meter_done(void *arg)
{
	uint64_t sum = 0;
	unsigned i;

	(void)arg;
	for (i = 0; i < ht.n; i++)
		sum += atomic_load_explicit(&ht.slots[i].done,
					    memory_order_relaxed);
	return sum;
}

static bool meter_ended(void *arg)
{
	(void)arg;
	return atomic_load(&ht.first_error) ||
	       (ht.ops && atomic_load(&ht.active) == 0);
}

static void meter_measure(void *arg)
{
	(void)arg;
	atomic_store(&ht.measuring, true);
}

static uint64_t meter_ended_at(void *arg)
{
	(void)arg;
	/* Only an end the chains reached by themselves (--files). */
	return ht.ops ? atomic_load(&ht.ended_ns) : 0;
}

static void meter_stop(void *arg)
{
	(void)arg;
	atomic_store(&ht.stopping, true);
	sem_wait(&ht.drained);
}

/* ---- one run ------------------------------------------------------------- */

/* What a run needs from the options. */
struct http_opts {
	unsigned conns;
	uint64_t size;
	const char *out; /* --out, or NULL */
	char dir[PATH_MAX];
	bool dir_made;
	int engines[2], n_engines;
	bool nginx; /* --server nginx */
	unsigned port;
};

static void slot_path(const struct http_opts *o, unsigned i, char *buf,
		      size_t len)
{
	snprintf(buf, len, "%s/ringpool-http-%ld-%u", o->dir, (long)getpid(),
		 i);
}

/* Frees what the run holds: transfers, client, executor, files. */
static void http_cleanup(const struct http_opts *o)
{
	char path[PATH_MAX + 64];
	unsigned i;

	for (i = 0; ht.slots && i < ht.n; i++) {
		rp_http_transfer_free(ht.slots[i].t);
		rp_http_transfer_free(ht.slots[i].prev);
	}
	rp_http_free(ht.http);
	ht.http = NULL;
	rp_executor_free(ht.ex);
	ht.ex = NULL;
	for (i = 0; ht.slots && i < ht.n; i++) {
		if (ht.slots[i].fd >= 0) {
			close(ht.slots[i].fd);
			slot_path(o, i, path, sizeof(path));
			unlink(path);
		}
		free(ht.slots[i].hist);
	}
	free(ht.slots);
	ht.slots = NULL;
	sem_destroy(&ht.drained);
	pthread_mutex_destroy(&ht.why_lock);
}

/* The client: the executor on `engine`'s backend and one rp_http on it. */
static int http_client(int engine, struct bench_run *r)
{
	struct rp_http_config hc;
	struct rp_config cfg;
	int ret, backend;

	rp_config_init(&cfg);
	/* No CPU tasks: the downloads run on the ring or the I/O threads. */
	cfg.workers = 1;
	cfg.backend =
		engine == ENG_URING ? RP_BACKEND_URING : RP_BACKEND_THREADS;
	ret = rp_executor_new(&cfg, &ht.ex);
	if (ret < 0) {
		snprintf(r->error, sizeof(r->error),
			 "cannot start the %s backend: %s",
			 engine == ENG_URING ? "io_uring" : "blocking-thread",
			 strerror(-ret));
		return ret;
	}
	rp_executor_backend(ht.ex, &backend, NULL);
	snprintf(r->backend, sizeof(r->backend), "%s",
		 backend == RP_BACKEND_URING ? "io_uring" : "threads");
	rp_http_config_init(&hc);
	hc.max_per_host = ht.n;
	/* A server that hangs ends the run instead of the patience. */
	hc.stall_timeout_ns = 30 * 1000000000LL;
	ret = rp_http_new(ht.ex, &hc, &ht.http);
	if (ret < 0)
		snprintf(r->error, sizeof(r->error),
			 "HTTP downloads are not available: %s",
			 strerror(-ret));
	return ret;
}

static int http_run(const struct http_opts *o, int engine,
		    const struct bench_common *c, struct bench_run *r)
{
	const struct bench_meter m = {
		.done = meter_done,
		.ended = meter_ended,
		.measure = meter_measure,
		.stop_and_drain = meter_stop,
		.ended_at = meter_ended_at,
	};
	char path[PATH_MAX + 64];
	struct bench_window win;
	uint64_t bad = 0;
	unsigned i;
	int ret = 0;

	memset(&ht, 0, sizeof(ht));
	ht.size = o->size;
	ht.ops = c->ops;
	ht.n = o->conns;
	snprintf(ht.url, sizeof(ht.url), "http://127.0.0.1:%u/body", o->port);
	snprintf(r->tool, sizeof(r->tool), "ringpool");
	snprintf(r->engine, sizeof(r->engine), "%s",
		 bench_engine_names[engine]);
	snprintf(r->variant, sizeof(r->variant), "%ux%lluB", o->conns,
		 (unsigned long long)o->size);
	snprintf(r->backend, sizeof(r->backend), "none");
	r->lat = calloc(1, sizeof(*r->lat));
	ht.slots = calloc(o->conns, sizeof(*ht.slots));
	if (!r->lat || !ht.slots || sem_init(&ht.drained, 0, 0)) {
		free(ht.slots);
		ht.slots = NULL;
		snprintf(r->error, sizeof(r->error), "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&ht.why_lock, NULL);
	for (i = 0; i < o->conns; i++)
		ht.slots[i].fd = -1;
	for (i = 0; i < o->conns; i++) {
		struct slot *s = &ht.slots[i];

		s->hist = calloc(1, sizeof(*s->hist));
		slot_path(o, i, path, sizeof(path));
		s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (!s->hist || s->fd < 0) {
			ret = s->hist ? -errno : -ENOMEM;
			snprintf(r->error, sizeof(r->error),
				 "cannot create a file in %.80s: %s%s", o->dir,
				 strerror(-ret),
				 ret == -EMFILE ? " (raise ulimit -n)" : "");
			goto out;
		}
	}
	ret = http_client(engine, r);
	if (ret < 0)
		goto out;
	atomic_store(&ht.active, o->conns);
	if (c->warmup <= 0)
		atomic_store(&ht.measuring, true);
	bench_window_start(&win);
	for (i = 0; i < o->conns; i++)
		issue(&ht.slots[i]);
	bench_measure(c, r->engine, c->ops ? 0 : c->runtime, c->warmup, &win,
		      &m, r);
	for (i = 0; i < o->conns; i++) {
		bench_hist_merge(r->lat, ht.slots[i].hist);
		r->ops += atomic_load(&ht.slots[i].done);
		r->ops_issued += ht.slots[i].issued;
		r->bytes += ht.slots[i].bytes;
		bad += ht.slots[i].bad;
	}
	r->errors = bad;
	ret = atomic_load(&ht.first_error);
	if (ret || bad)
		snprintf(r->error, sizeof(r->error), "%.140s%s", ht.why,
			 bad > 1 ? " (and more)" : "");
	if (bad && !ret)
		ret = -EPROTO;
	bench_run_finish(r);
out:
	http_cleanup(o);
	return ret;
}

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ringpool bench http [OPTIONS]\n"
		"\n"
		"Downloads through ringpool's HTTP client (rp_http: libcurl "
		"driven by the\n"
		"executor) from a static HTTP/1.1 keep-alive server the tool "
		"starts on\n"
		"127.0.0.1 (an epoll thread in the same process, or nginx).  "
		"Each\n"
		"download's body goes to a file of its slot, and its length is "
		"checked.\n"
		"\n"
		"  --engine LIST   comma list of uring, threads: the library's "
		"backends\n"
		"                  (default uring)\n"
		"  --conns N       downloads in flight (default 16; max 1024)\n"
		"  --size SIZE     body of each download (default 16k; k, M, "
		"G; max 1G)\n"
		"  --files N       end a run after N downloads (k and M "
		"suffixes)\n"
		"  --runtime S     or after S seconds (default 5)\n"
		"  --warmup S      seconds before measuring (default 0.5 "
		"timed, 0 --files)\n"
		"  --rounds N      runs of each engine (default 1)\n"
		"  --server NAME   builtin (default) or nginx (installed; "
		"run with a\n"
		"                  temporary configuration of its own)\n"
		"  --out DIR       write the files in DIR (made if missing; "
		"the files, and\n"
		"                  DIR if made, are removed after); default: "
		"a temporary\n"
		"                  folder\n"
		"  --json          one JSON document on stdout instead of the "
		"table\n"
		"  --report FILE   a self-contained HTML page with charts\n"
		"  -h, --help      show this help\n");
}

static int parse_engines(struct http_opts *o, char *list)
{
	char *tok, *save = NULL;
	int e, k;

	o->n_engines = 0;
	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (e = 0; e < ENG_SYNC; e++)
			if (!strcmp(tok, bench_engine_names[e]))
				break;
		for (k = 0; k < o->n_engines; k++)
			if (o->engines[k] == e)
				break;
		if (e == ENG_SYNC || k < o->n_engines) {
			bench_err(SUBJ,
				  "invalid engine '%s': expected uring or "
				  "threads (the library's backends), once "
				  "each",
				  tok);
			return 2;
		}
		o->engines[o->n_engines++] = e;
	}
	if (!o->n_engines) {
		bench_err(SUBJ, "--engine needs at least one engine");
		return 2;
	}
	return 0;
}

enum { OPT_ENGINE = 1, OPT_CONNS, OPT_SIZE, OPT_FILES, OPT_OUT, OPT_SERVER };

/* 0 to run, -1 after --help, 2 after a usage error (told). */
static int parse(int argc, char **argv, struct http_opts *o,
		 struct bench_common *c)
{
	static const struct option opts[] = {
		{"engine", required_argument, NULL, OPT_ENGINE},
		{"conns", required_argument, NULL, OPT_CONNS},
		{"size", required_argument, NULL, OPT_SIZE},
		{"files", required_argument, NULL, OPT_FILES},
		{"out", required_argument, NULL, OPT_OUT},
		{"server", required_argument, NULL, OPT_SERVER},
		{"help", no_argument, NULL, 'h'},
		BENCH_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	unsigned long long n, files = 0;
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_ENGINE:
			if (parse_engines(o, optarg))
				return 2;
			break;
		case OPT_CONNS:
			if (cli_parse_count(optarg, &n) < 0 || n > MAX_CONNS) {
				bench_err(SUBJ,
					  "invalid --conns '%s': expected a "
					  "count from 1 to %u",
					  optarg, MAX_CONNS);
				return 2;
			}
			o->conns = (unsigned)n;
			break;
		case OPT_SIZE:
			if (bench_parse_size(optarg, &o->size) < 0 ||
			    o->size > MAX_SIZE) {
				bench_err(SUBJ,
					  "invalid --size '%s': expected "
					  "bytes from 1 to 1G (k, M, G "
					  "suffixes)",
					  optarg);
				return 2;
			}
			break;
		case OPT_FILES:
			if (cli_parse_count(optarg, &files) < 0) {
				bench_err(SUBJ,
					  "invalid --files '%s': expected a "
					  "positive count (k and M suffixes)",
					  optarg);
				return 2;
			}
			break;
		case OPT_SERVER:
			if (strcmp(optarg, "builtin") &&
			    strcmp(optarg, "nginx")) {
				bench_err(SUBJ,
					  "invalid --server '%s': expected "
					  "builtin or nginx",
					  optarg);
				return 2;
			}
			o->nginx = !strcmp(optarg, "nginx");
			break;
		case OPT_OUT:
			if (!*optarg) {
				bench_err(SUBJ, "--out needs a folder");
				return 2;
			}
			o->out = optarg;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case ':':
			bench_err(SUBJ, "%s needs a value", argv[optind - 1]);
			return 2;
		case '?':
			bench_err(SUBJ, "unknown option '%s' (see --help)",
				  argv[optind - 1]);
			return 2;
		default:
			if (bench_common_opt(c, SUBJ, opt, optarg) == 2)
				return 2;
			break;
		}
	}
	if (optind < argc) {
		bench_err(SUBJ, "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (files && c->ops) {
		bench_err(SUBJ,
			  "--files and --ops say the same here: give one");
		return 2;
	}
	if (files && c->runtime > 0) {
		bench_err(SUBJ, "--runtime and --files exclude each other: a "
				"run ends after a time or after a count");
		return 2;
	}
	if (o->nginx && !bench_nginx_path()) {
		bench_err(SUBJ, "--server nginx: nginx is not installed");
		return 2;
	}
	if (files)
		c->ops = files;
	if (bench_common_check(c, SUBJ))
		return 2;
	if (!c->runtime && !c->ops)
		c->runtime = 5;
	if (c->warmup < 0)
		c->warmup = c->ops ? 0 : 0.5;
	if (!c->rounds)
		c->rounds = 1;
	return 0;
}

/* ---- the folder ---------------------------------------------------------- */

/*
 * Makes --out if missing, or a temporary folder.  0; 2 when --out cannot
 * be used, 1 when no temporary folder can be made (both told).
 */
static int dir_prepare(struct http_opts *o)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;

	if (o->out) {
		snprintf(o->dir, sizeof(o->dir), "%s", o->out);
		if (mkdir(o->dir, 0700) == 0) {
			o->dir_made = true;
			return 0;
		}
		if (errno == EEXIST && stat(o->dir, &st) == 0 &&
		    S_ISDIR(st.st_mode))
			return 0;
		bench_err(SUBJ, "cannot use '%s' for the downloads: %s", o->dir,
			  errno == EEXIST ? "not a folder" : strerror(errno));
		return 2;
	}
	snprintf(o->dir, sizeof(o->dir), "%s/ringpool-bench-http.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(o->dir)) {
		bench_err(SUBJ, "cannot make a temporary folder (%s): %s",
			  o->dir, strerror(errno));
		return 1;
	}
	o->dir_made = true;
	return 0;
}

static json_object *doc_settings(const struct http_opts *o,
				 const struct bench_common *c)
{
	json_object *s = json_object_new_object(), *e;
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
	int k;

	e = json_object_new_array();
	for (k = 0; k < o->n_engines; k++)
		json_object_array_add(
			e, json_object_new_string(
				   bench_engine_names[o->engines[k]]));
	json_object_object_add(s, "engines", e);
	json_object_object_add(s, "conns", json_object_new_int64(o->conns));
	json_object_object_add(s, "size",
			       json_object_new_int64((int64_t)o->size));
	json_object_object_add(s, "files",
			       json_object_new_int64((int64_t)c->ops));
	json_object_object_add(s, "runtime_s",
			       json_object_new_double(c->runtime));
	json_object_object_add(s, "warmup_s",
			       json_object_new_double(c->warmup));
	json_object_object_add(s, "rounds", json_object_new_int64(c->rounds));
	json_object_object_add(
		s, "server",
		json_object_new_string(
			o->nginx ? "nginx, 127.0.0.1, HTTP/1.1 keep-alive, "
				   "sendfile from a file"
				 : "built-in epoll thread, 127.0.0.1, "
				   "HTTP/1.1 keep-alive, body in memory"));
	json_object_object_add(s, "out", json_object_new_string(o->dir));
	json_object_object_add(s, "out_made",
			       json_object_new_boolean(o->dir_made));
	json_object_object_add(s, "libcurl",
			       json_object_new_string(cv ? cv->version : "?"));
	bench_add_system(s);
	return s;
}

/* One run in the document; 0, or 1 when it failed (told on stderr). */
static int run_one(struct bench_doc *d, const struct http_opts *o,
		   const struct bench_common *c, unsigned round, int engine)
{
	struct bench_run *r = bench_doc_add_run(d);

	if (!r)
		return 1;
	r->round = round;
	http_run(o, engine, c, r);
	r->settings = json_object_new_object();
	json_object_object_add(r->settings, "conns",
			       json_object_new_int64(o->conns));
	json_object_object_add(r->settings, "size",
			       json_object_new_int64((int64_t)o->size));
	if (!r->error[0])
		return 0;
	if (r->errors)
		bench_err(SUBJ,
			  "%s: %llu of %llu downloads failed the length "
			  "check: %s",
			  r->engine, (unsigned long long)r->errors,
			  (unsigned long long)r->ops, r->error);
	else
		bench_err(SUBJ, "%s: %s", r->engine, r->error);
	return 1;
}

/* The server the run needs, one or the other. */
struct http_server {
	struct bench_srv srv;
	struct bench_nginx ng;
	char *body;
};

/* Starts the server; 0, or 1 after telling why. */
static int server_start(struct http_opts *o, struct http_server *hs)
{
	char why[200];
	int ret;

	hs->body = malloc(o->size);
	if (!hs->body) {
		bench_err(SUBJ, "out of memory for a body of %llu bytes",
			  (unsigned long long)o->size);
		return 1;
	}
	memset(hs->body, 'r', o->size);
	if (o->nginx) {
		ret = bench_nginx_start(&hs->ng, hs->body, o->size, why,
					sizeof(why));
		o->port = hs->ng.port;
	} else {
		hs->srv.kind = SRV_HTTP;
		hs->srv.body = hs->body;
		hs->srv.body_len = o->size;
		ret = bench_srv_start(&hs->srv);
		snprintf(why, sizeof(why), "%s", strerror(-ret));
		o->port = hs->srv.port;
	}
	if (ret < 0) {
		bench_err(SUBJ, "cannot start the HTTP server: %s", why);
		free(hs->body);
		return 1;
	}
	return 0;
}

static void server_stop(const struct http_opts *o, struct http_server *hs)
{
	if (o->nginx)
		bench_nginx_stop(&hs->ng);
	else
		bench_srv_stop(&hs->srv);
	free(hs->body);
}

int bench_http(int argc, char **argv)
{
	struct http_opts o = {.conns = 16, .size = 16384, .n_engines = 1};
	struct bench_common c = {.warmup = -1};
	struct bench_doc d = {.subject = SUBJ, .ops_unit = "files/s"};
	struct http_server hs;
	unsigned round;
	int ret, k, status = 0;

	o.engines[0] = ENG_URING;
	ret = parse(argc, argv, &o, &c);
	if (ret)
		return ret < 0 ? 0 : ret;
	/* Signals first: ^C while the folders are made removes them too. */
	bench_catch_signals();
	memset(&hs, 0, sizeof(hs));
	if (server_start(&o, &hs))
		return 1;
	ret = dir_prepare(&o);
	if (ret) {
		server_stop(&o, &hs);
		return ret;
	}
	d.settings = doc_settings(&o, &c);
	for (round = 1; round <= c.rounds && !bench_stop; round++)
		for (k = 0; k < o.n_engines && !bench_stop; k++)
			if (run_one(&d, &o, &c, round, o.engines[k]))
				status = 1;
	server_stop(&o, &hs);
	if (o.dir_made && rmdir(o.dir) < 0) {
		bench_err(SUBJ, "cannot remove %s: %s", o.dir, strerror(errno));
		status = 1;
	}
	d.interrupted = bench_stop != 0;
	if (bench_output(&d, &c))
		status = 1;
	bench_doc_release(&d);
	return bench_stop ? 130 : status;
}
