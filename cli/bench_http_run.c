/* SPDX-License-Identifier: MIT */
/*
 * The downloads of `ringpool bench http` (the options, the server and the
 * report are in bench_http.c).
 *
 * The client is what is measured, on the library's io_uring backend or its
 * blocking-thread fallback: --conns slots each keep one transfer in flight,
 * into a file of their own that this file creates and removes.  A
 * download's done-callback checks it (status, the future's value, the
 * file's length), truncates the file for the next use and starts the slot's
 * next download, so no thread of the tool takes part in the transfers.
 * One operation is one download, timed from rp_http_get() to its
 * done-callback.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "cli.h"
#include "bench.h"

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
	uint64_t size;
	const char *dir; /* where the slots' files are */
	char url[64];
	rp_executor *ex;
	rp_http *http;
	struct slot *slots;
	unsigned n;
	struct bench_chains ch;
	pthread_mutex_t why_lock;
	char why[160]; /* the first failure, in words; under why_lock */
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

/* Takes the slot's next download; false when the chain should end. */
static bool next_dl(struct slot *s)
{
	if (!bench_chains_next(&ht.ch, &s->counted))
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
		bench_chains_end(&ht.ch);
		return;
	}
	s->t0 = bench_now_ns();
	ret = rp_http_get(ht.http, &req, &s->t);
	if (ret < 0) {
		s->t = NULL;
		tell("cannot start a download: %s", strerror(-ret));
		bench_chains_error(&ht.ch, ret);
		bench_chains_end(&ht.ch);
		return;
	}
	ret = rp_future_add_done_callback(rp_http_transfer_future(s->t),
					  on_done, s);
	if (ret < 0) {
		/* It goes on unwatched; freeing it at the end waits for it. */
		tell("cannot watch a download: %s", strerror(-ret));
		bench_chains_error(&ht.ch, ret);
		bench_chains_end(&ht.ch);
	}
}

/* Counts a download that ended (in the window), whether it failed or not. */
static void count(struct slot *s, uint64_t t1)
{
	if (!s->counted)
		return;
	bench_hist_add(s->hist, t1 - s->t0);
	atomic_store_explicit(
		&s->done,
		atomic_load_explicit(&s->done, memory_order_relaxed) + 1,
		memory_order_relaxed);
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
		tell("a download into %.60s failed: %s", ht.dir,
		     info.error[0] ? info.error : strerror(-err));
		/*
		 * It was issued and has ended: it counts, as a failed one,
		 * so downloads counted = downloads issued.
		 */
		if (s->counted)
			s->bad++;
		count(s, t1);
		bench_chains_error(&ht.ch, err);
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
	count(s, t1);
	/* A short syscall on a file the slot alone uses: fine here. */
	if (ftruncate(s->fd, 0) < 0) {
		tell("cannot truncate a download's file: %s", strerror(errno));
		bench_chains_error(&ht.ch, -errno);
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
		bench_chains_end(&ht.ch);
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

/* ---- one run ------------------------------------------------------------- */

static void slot_path(const struct http_job *j, unsigned i, char *buf,
		      size_t len)
{
	snprintf(buf, len, "%s/ringpool-http-%ld-%u", j->dir, (long)getpid(),
		 i);
}

/* Frees what the run holds: transfers, client, executor, files. */
static void http_cleanup(const struct http_job *j)
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
			slot_path(j, i, path, sizeof(path));
			unlink(path);
		}
		free(ht.slots[i].hist);
	}
	free(ht.slots);
	ht.slots = NULL;
	sem_destroy(&ht.ch.drained);
	pthread_mutex_destroy(&ht.why_lock);
}

/* The client: the executor on `engine`'s backend and one rp_http on it. */
static int http_client(int engine, struct bench_run *r)
{
	struct rp_http_config hc;
	struct rp_config cfg;
	int ret;

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
	bench_backend_name(ht.ex, r->backend, sizeof(r->backend));
	rp_http_config_init(&hc);
	hc.max_per_host = ht.n;
	/* A server that hangs ends the run instead of the patience. */
	hc.stall_timeout_ns = 30 * 1000000000LL;
	ret = rp_http_new(ht.ex, &hc, &ht.http);
	if (ret < 0)
		snprintf(r->error, sizeof(r->error),
			 "HTTP downloads are not available: %s",
			 cli_http_new_error(ret));
	return ret;
}

int bench_http_run(const struct http_job *j, struct bench_run *r)
{
	const struct bench_common *c = j->c;
	int engine = j->engine;
	struct bench_meter m;
	char path[PATH_MAX + 64];
	struct bench_window win;
	uint64_t bad = 0;
	unsigned i;
	int ret = 0;

	memset(&ht, 0, sizeof(ht));
	ht.size = j->size;
	ht.dir = j->dir;
	ht.ch.ops = c->ops;
	ht.n = j->conns;
	snprintf(ht.url, sizeof(ht.url), "http://127.0.0.1:%u/body", j->port);
	snprintf(r->tool, sizeof(r->tool), "ringpool");
	snprintf(r->engine, sizeof(r->engine), "%s",
		 bench_engine_names[engine]);
	snprintf(r->variant, sizeof(r->variant), "%ux%lluB", j->conns,
		 (unsigned long long)j->size);
	snprintf(r->backend, sizeof(r->backend), "none");
	r->lat = calloc(1, sizeof(*r->lat));
	ht.slots = calloc(j->conns, sizeof(*ht.slots));
	if (!r->lat || !ht.slots || sem_init(&ht.ch.drained, 0, 0)) {
		free(ht.slots);
		ht.slots = NULL;
		snprintf(r->error, sizeof(r->error), "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&ht.why_lock, NULL);
	for (i = 0; i < j->conns; i++)
		ht.slots[i].fd = -1;
	for (i = 0; i < j->conns; i++) {
		struct slot *s = &ht.slots[i];

		s->hist = calloc(1, sizeof(*s->hist));
		slot_path(j, i, path, sizeof(path));
		s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (!s->hist || s->fd < 0) {
			ret = s->hist ? -errno : -ENOMEM;
			snprintf(r->error, sizeof(r->error),
				 "cannot create a file in %.80s: %s%s", j->dir,
				 strerror(-ret),
				 ret == -EMFILE ? " (raise ulimit -n)" : "");
			goto out;
		}
	}
	ret = http_client(engine, r);
	if (ret < 0)
		goto out;
	atomic_store(&ht.ch.active, j->conns);
	if (c->warmup <= 0)
		atomic_store(&ht.ch.measuring, true);
	bench_window_start(&win);
	for (i = 0; i < j->conns; i++)
		issue(&ht.slots[i]);
	bench_chains_meter(&ht.ch, meter_done, &m);
	bench_measure(c, r->engine, c->ops ? 0 : c->runtime, c->warmup, &win,
		      &m, r);
	for (i = 0; i < j->conns; i++) {
		bench_hist_merge(r->lat, ht.slots[i].hist);
		r->ops += atomic_load(&ht.slots[i].done);
		r->ops_issued += ht.slots[i].issued;
		r->bytes += ht.slots[i].bytes;
		bad += ht.slots[i].bad;
	}
	r->errors = bad;
	ret = atomic_load(&ht.ch.first_error);
	if (ret || bad)
		snprintf(r->error, sizeof(r->error), "%.140s%s", ht.why,
			 bad > 1 ? " (and more)" : "");
	if (bad && !ret)
		ret = -EPROTO;
	bench_run_finish(r);
out:
	http_cleanup(j);
	return ret;
}
