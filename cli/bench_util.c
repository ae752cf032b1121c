/* SPDX-License-Identifier: MIT */
/*
 * Helpers of `ringpool bench`: clocks, CPU time, signals, the parsing of
 * sizes and seconds, the options every subject shares, the progress line and
 * what the report says about the system.
 */
#include <errno.h>
#include <getopt.h>
#include <liburing.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

volatile sig_atomic_t bench_stop;

static void on_signal(int sig)
{
	(void)sig;
	bench_stop = 1;
}

/*
 * No SA_RESTART: a sleeping main thread wakes up at once; the benchmark
 * loops check bench_stop and end their run as if its time were up.
 */
void bench_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_cpu_s(double *user, double *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6;
	*sys = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

void bench_sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	/* A signal cuts the sleep short; the caller looks at bench_stop. */
	nanosleep(&ts, NULL);
}

int bench_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	default:
		break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	/* "4kB", "1MiB", and "4096B" as fio takes it. */
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || v == 0 || v > (~0ULL >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

bool bench_list_has_empty(const char *list)
{
	size_t len = strlen(list);

	return len && (list[0] == ',' || list[len - 1] == ',' ||
		       strstr(list, ",,"));
}

int bench_parse_engines(const char *subject, char *list, int allowed,
			const char *expected, int order[ENG_COUNT], int *n)
{
	char *tok, *save = NULL;
	int e, k;

	*n = 0;
	if (list[strspn(list, ",")] && bench_list_has_empty(list)) {
		bench_err(subject, "--engine '%s' has an empty item", list);
		return 2;
	}
	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (e = 0; e < allowed; e++)
			if (!strcmp(tok, bench_engine_names[e]))
				break;
		if (e == allowed) {
			bench_err(subject, "unknown engine '%s': expected %s",
				  tok, expected);
			return 2;
		}
		for (k = 0; k < *n; k++)
			if (order[k] == e)
				break;
		if (k < *n) {
			bench_err(subject, "engine '%s' is listed twice", tok);
			return 2;
		}
		order[(*n)++] = e;
	}
	if (!*n) {
		bench_err(subject, "--engine needs at least one engine");
		return 2;
	}
	return 0;
}

int bench_parse_secs(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end == 's')
		end++;
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 86400)
		return -EINVAL;
	*out = v;
	return 0;
}

json_object *bench_json_secs(double s)
{
	char buf[40];

	snprintf(buf, sizeof(buf), "%.15g", s);
	/* Still a fraction to a reader of the JSON: 5.0, not 5. */
	if (!strpbrk(buf, ".e"))
		strcat(buf, ".0");
	return json_object_new_double_s(s, buf);
}

void bench_err(const char *subject, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ringpool bench %s: ", subject);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * fio's names of the options of `bench file`, which a fio user types first;
 * "file" takes them under the names on the right.
 */
static const char *const fio_names[][2] = {
	{"filename", "--file"},		{"directory", "--dir"},
	{"readwrite", "--rw"},		{"rwmixread", "--mix"},
	{"blocksize", "--bs"},		{"iodepth", "--qd"},
	{"numjobs", "--jobs"},		{"ioengine", "--engine"},
	{"ramp_time", "--warmup"},	{"number_ios", "--ops"},
	{"invalidate", "--drop-cache"}, {"cpus_allowed", "--cpus"},
	{"fixedbufs", "--fixed-bufs"},	{"registerfiles", "--register-files"},
	{"sqthread_poll", "--sqpoll"},	{"hugepage-size", "--huge-pages"},
	{"iomem", "--huge-pages"},
};

/*
 * getopt_long's '?' for `arg`: an option that takes no value given one
 * (glibc sets optopt to its code), or one it does not know, pointed to
 * this tool's name when it is fio's.
 */
static void unknown_option(const char *subject, const char *arg)
{
	const char *name = arg, *eq = strchr(arg, '=');
	size_t len, i;

	if (!strncmp(name, "--", 2))
		name += 2;
	len = eq && eq > name ? (size_t)(eq - name) : strlen(name);
	if (optopt && eq && name != arg) {
		bench_err(subject, "--%.*s takes no value, not '%s'", (int)len,
			  name, eq + 1);
		return;
	}
	for (i = 0; !strcmp(subject, "file") && name != arg &&
		    i < sizeof(fio_names) / sizeof(fio_names[0]);
	     i++) {
		if (strlen(fio_names[i][0]) == len &&
		    !strncmp(name, fio_names[i][0], len)) {
			bench_err(subject,
				  "unknown option '%s': fio's --%s is %s here "
				  "(see --help)",
				  arg, fio_names[i][0], fio_names[i][1]);
			return;
		}
	}
	bench_err(subject, "unknown option '%s' (see --help)", arg);
}

int bench_common_opt(struct bench_common *c, const char *subject, int opt,
		     const char *arg, char **argv)
{
	unsigned long long n;

	switch (opt) {
	case ':':
		bench_err(subject, "%s needs a value", argv[optind - 1]);
		return 2;
	case '?':
		unknown_option(subject, argv[optind - 1]);
		return 2;
	case BO_JSON:
		c->json = true;
		return 1;
	case BO_REPORT:
		if (!*arg) {
			bench_err(subject, "--report needs a file name");
			return 2;
		}
		c->report = arg;
		return 1;
	case BO_RUNTIME:
		if (bench_parse_secs(arg, &c->runtime) < 0 || c->runtime <= 0) {
			bench_err(subject,
				  "invalid --runtime '%s': expected "
				  "seconds, more than 0 and at most 86400",
				  arg);
			return 2;
		}
		return 1;
	case BO_WARMUP:
		if (bench_parse_secs(arg, &c->warmup) < 0) {
			bench_err(subject,
				  "invalid --warmup '%s': expected "
				  "seconds from 0 to 86400",
				  arg);
			return 2;
		}
		return 1;
	case BO_OPS:
		if (cli_parse_count(arg, &n) < 0) {
			bench_err(subject,
				  "invalid --ops '%s': expected a "
				  "positive count (k and M suffixes)",
				  arg);
			return 2;
		}
		c->ops = n;
		return 1;
	case BO_ROUNDS:
		if (cli_parse_count(arg, &n) < 0 || n > 100) {
			bench_err(subject,
				  "invalid --rounds '%s': expected a "
				  "count from 1 to 100",
				  arg);
			return 2;
		}
		c->rounds = (unsigned)n;
		return 1;
	default:
		return 0;
	}
}

int bench_common_check(struct bench_common *c, const char *subject)
{
	int ret;

	if (c->ops && c->runtime > 0) {
		bench_err(subject, "--runtime and --ops exclude each other: "
				   "a run ends after a time or after a count");
		return 2;
	}
	if (c->json && c->report && !strcmp(c->report, "-")) {
		bench_err(subject, "--report - would mix HTML into the JSON "
				   "on stdout; name a file");
		return 2;
	}
	if (c->report && (ret = bench_report_check(c->report))) {
		bench_err(subject, "cannot write the report %s: %s", c->report,
			  strerror(-ret));
		return 2;
	}
	c->progress = isatty(STDERR_FILENO);
	return 0;
}

void bench_progress(const struct bench_common *c, const char *what,
		    double elapsed, double total, uint64_t ops)
{
	if (!c->progress)
		return;
	if (total > 0)
		fprintf(stderr, "\r%-24s %5.1f/%.1f s  %12llu ops  %10.0f/s ",
			what, elapsed, total, (unsigned long long)ops,
			elapsed > 0 ? (double)ops / elapsed : 0.0);
	else
		fprintf(stderr, "\r%-24s %5.1f s  %12llu ops  %10.0f/s ", what,
			elapsed, (unsigned long long)ops,
			elapsed > 0 ? (double)ops / elapsed : 0.0);
	fflush(stderr);
}

void bench_progress_end(const struct bench_common *c)
{
	if (c->progress)
		fprintf(stderr, "\r%78s\r", "");
}

/* The features io_uring_setup reports on this kernel, by name. */
static void add_ring_features(json_object *settings)
{
	static const struct {
		unsigned bit;
		const char *name;
	} feats[] = {
		{IORING_FEAT_SINGLE_MMAP, "single_mmap"},
		{IORING_FEAT_NODROP, "nodrop"},
		{IORING_FEAT_SUBMIT_STABLE, "submit_stable"},
		{IORING_FEAT_RW_CUR_POS, "rw_cur_pos"},
		{IORING_FEAT_CUR_PERSONALITY, "cur_personality"},
		{IORING_FEAT_FAST_POLL, "fast_poll"},
		{IORING_FEAT_POLL_32BITS, "poll_32bits"},
		{IORING_FEAT_SQPOLL_NONFIXED, "sqpoll_nonfixed"},
		{IORING_FEAT_EXT_ARG, "ext_arg"},
		{IORING_FEAT_NATIVE_WORKERS, "native_workers"},
		{IORING_FEAT_RSRC_TAGS, "rsrc_tags"},
		{IORING_FEAT_CQE_SKIP, "cqe_skip"},
		{IORING_FEAT_LINKED_FILE, "linked_file"},
	};
	struct io_uring_params p;
	struct io_uring ring;
	json_object *arr;
	size_t i;

	memset(&p, 0, sizeof(p));
	if (io_uring_queue_init_params(4, &ring, &p) < 0) {
		json_object_object_add(settings, "ring_features", NULL);
		return;
	}
	io_uring_queue_exit(&ring);
	arr = json_object_new_array();
	for (i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
		if (p.features & feats[i].bit)
			json_object_array_add(
				arr, json_object_new_string(feats[i].name));
	json_object_object_add(settings, "ring_features", arr);
}

void bench_backend_name(rp_executor *ex, char *buf, size_t len)
{
	int backend = RP_BACKEND_URING;

	rp_executor_backend(ex, &backend, NULL);
	snprintf(buf, len, "%s",
		 backend != RP_BACKEND_URING ? "threads" :
		 rp_executor_ring_mode(ex) == RP_RINGS_SHARED ?
			"io_uring/shared" : "io_uring");
}

void bench_add_system(json_object *settings)
{
	struct utsname u;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (uname(&u) == 0) {
		json_object_object_add(settings, "kernel",
				       json_object_new_string(u.release));
		json_object_object_add(settings, "machine",
				       json_object_new_string(u.machine));
	}
	json_object_object_add(settings, "cpus", json_object_new_int64(ncpu));
	add_ring_features(settings);
}

#define INTERVAL_S 0.1

void bench_window_start(struct bench_window *w)
{
	bench_cpu_s(&w->user0, &w->sys0);
	w->t0 = bench_now_s();
}

void bench_measure(const struct bench_common *c, const char *what,
		   double runtime, double warmup, struct bench_window *w,
		   const struct bench_meter *m, struct bench_run *r)
{
	double t_start, t_end, next, u1, s1, left;
	uint64_t last, now_done;

	next = bench_now_s() + warmup;
	while (warmup > 0 && !bench_stop && !m->ended(m->arg) &&
	       (left = next - bench_now_s()) > 0) {
		bench_progress(c, "warm-up", warmup - left, warmup, 0);
		bench_sleep_s(left > INTERVAL_S ? INTERVAL_S : left);
	}
	if (warmup > 0 && bench_stop) {
		/*
		 * ^C in the warm-up: nothing was measured, and nothing is
		 * counted after it; the run is empty and marked so.
		 */
		m->stop_and_drain(m->arg);
		bench_progress_end(c);
		r->interrupted = true;
		return;
	}
	if (warmup > 0)
		bench_window_start(w);
	t_start = w->t0;
	/*
	 * The first interval starts at t_start with nothing counted: without
	 * warm-up the operations that completed while the chains were being
	 * started (all of a short --ops run) are already counted and belong
	 * to it, and with one nothing is counted before measure().
	 */
	last = 0;
	m->measure(m->arg);
	r->series.interval_s = INTERVAL_S;
	next = t_start + INTERVAL_S;
	for (;;) {
		double now;

		left = next - bench_now_s();
		if (runtime > 0 && t_start + runtime - bench_now_s() < left)
			left = t_start + runtime - bench_now_s();
		if (m->wait)
			m->wait(m->arg, left);
		else
			bench_sleep_s(left);
		now = bench_now_s();
		now_done = m->done(m->arg);
		if (now >= next) {
			bench_series_push(&r->series, now_done - last);
			last = now_done;
			next += INTERVAL_S;
		}
		bench_progress(c, what, now - t_start, runtime, now_done);
		if (bench_stop || m->ended(m->arg) ||
		    (runtime > 0 && now - t_start >= runtime))
			break;
	}
	m->stop_and_drain(m->arg);
	t_end = bench_now_s();
	if (m->ended_at && m->ended_at(m->arg))
		t_end = (double)m->ended_at(m->arg) * 1e-9;
	/*
	 * Chains that ended (an error) during the warm-up ended before the
	 * window opened: it is empty, not of negative length.
	 */
	if (t_end < t_start)
		t_end = t_start;
	bench_cpu_s(&u1, &s1);
	bench_progress_end(c);
	/*
	 * The last, partial interval would plot as a drop: it is left out
	 * unless it is all there is (a short --ops run).
	 */
	now_done = m->done(m->arg);
	if (now_done > last && !r->series.n)
		bench_series_push(&r->series, now_done - last);
	r->secs = t_end - t_start;
	r->user_s = u1 - w->user0;
	r->sys_s = s1 - w->sys0;
	r->have_cpu = true;
	r->interrupted = bench_stop != 0;
}

void bench_wait_sem(sem_t *sem, double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)s;
	ts.tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	/* A signal cuts the wait short; the caller looks at bench_stop. */
	if (sem_clockwait(sem, CLOCK_MONOTONIC, &ts) == 0)
		sem_post(sem);
}

/* ---- chains of net and http runs ----------------------------------------- */

void bench_chains_error(struct bench_chains *ch, int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&ch->first_error, &zero, err);
	atomic_store(&ch->stopping, true);
}

void bench_chains_end(struct bench_chains *ch)
{
	if (atomic_fetch_sub(&ch->active, 1) == 1) {
		atomic_store(&ch->ended_ns, bench_now_ns());
		sem_post(&ch->drained);
	}
}

bool bench_chains_next(struct bench_chains *ch, bool *counted)
{
	if (atomic_load_explicit(&ch->stopping, memory_order_relaxed))
		return false;
	*counted = atomic_load_explicit(&ch->measuring, memory_order_relaxed);
	return !(*counted && ch->ops &&
		 atomic_fetch_add_explicit(&ch->issued_total, 1,
					   memory_order_relaxed) >= ch->ops);
}

static bool chains_ended(void *arg)
{
	struct bench_chains *ch = arg;

	return atomic_load(&ch->first_error) ||
	       (ch->ops && atomic_load(&ch->active) == 0);
}

static void chains_measure(void *arg)
{
	struct bench_chains *ch = arg;

	atomic_store(&ch->measuring, true);
}

static uint64_t chains_ended_at(void *arg)
{
	struct bench_chains *ch = arg;

	/* Only an end the chains reached by themselves (--ops). */
	return ch->ops ? atomic_load(&ch->ended_ns) : 0;
}

static void chains_wait(void *arg, double s)
{
	struct bench_chains *ch = arg;

	bench_wait_sem(&ch->drained, s);
}

static void chains_stop(void *arg)
{
	struct bench_chains *ch = arg;

	atomic_store(&ch->stopping, true);
	sem_wait(&ch->drained);
}

void bench_chains_meter(struct bench_chains *ch, uint64_t (*done)(void *),
			struct bench_meter *m)
{
	m->arg = ch;
	m->done = done;
	m->ended = chains_ended;
	m->measure = chains_measure;
	m->stop_and_drain = chains_stop;
	m->ended_at = chains_ended_at;
	m->wait = chains_wait;
}
