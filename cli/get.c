/* SPDX-License-Identifier: MIT */
/*
 * `ringpool get`: download a list of URLs into a folder.
 *
 * One main thread owns all state.  It keeps at most -j transfers in flight
 * in a fixed array of slots, each walking through the steps get_slot.c
 * describes.  Every future's done-callback only pushes its slot on a queue
 * under a mutex; the main thread pops the queue and moves the slot on, so
 * no slot is ever touched by two threads at once.  The input is read one
 * entry each time a slot frees up, so memory follows -j, not the length of
 * the list; a list on a pipe or a terminal is read one entry ahead on a
 * thread of its own (run::input_thread), since its next line may be long
 * in coming.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ringpool.h"
#include "cli.h"
#include "get_run.h"

const char *cli_http_new_error(int err)
{
	if (err == -ELIBACC)
		return "libcurl cannot be loaded (is Debian's libcurl4 "
		       "installed?)";
	if (err == -ELIBBAD)
		return "the libcurl installed lacks a function ringpool calls";
	return strerror(-err);
}

/*
 * The signals that stop a run as its end would: SIGINT, SIGTERM (a pod
 * being stopped) and SIGHUP (the terminal or the ssh session went away),
 * so that the .part files keep their validators for -c.  Each only when it
 * is not ignored, as POSIX asks of a program that catches them: under
 * nohup the run goes on, and so it does on a ^C when a script started it
 * in the background (`ringpool get ... &`: the shell ignores SIGINT there).
 */
static void stop_signals(sigset_t *set)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	size_t i;

	sigemptyset(set);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], NULL, &sa) == 0 &&
		    sa.sa_handler != SIG_IGN)
			sigaddset(set, sigs[i]);
}

static const char *signal_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGTERM";
}

/*
 * Those signals are blocked in every thread and taken here, so that the
 * main thread hears of them through the ready queue's condition variable.
 * After the first one the signal is unblocked in this thread only and set
 * back to its default: a second Ctrl-C ends the process at once (the .part
 * files stay for -c).
 */
static void *signal_main(void *arg)
{
	struct run *r = arg;
	sigset_t set = r->stop_sigs;
	int sig;

	if (sigwait(&set, &sig) != 0)
		return NULL;
	pthread_mutex_lock(&r->lock);
	r->signal = sig;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	signal(sig, SIG_DFL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;)
		pause();	/* until cancelled, or killed by a second signal */
	return NULL;
}

/* Stops every transfer and backoff; the slots come back -ECANCELED. */
static void stop_all(struct run *r)
{
	size_t i;

	r->stopping = true;
	for (i = 0; i < r->o->jobs; i++) {
		struct slot *s = &r->slots[i];

		if (s->state == SLOT_GET)
			rp_future_cancel(rp_http_transfer_future(s->t));
		else if (s->state == SLOT_BACKOFF || s->state == SLOT_VERIFY)
			rp_future_cancel(s->f);	/* a running hash ends anyway */
	}
}

static void tick(struct run *r)
{
	struct get_active a[8];
	size_t n = 0, i, extra = 0;

	for (i = 0; i < r->o->jobs; i++) {
		struct slot *s = &r->slots[i];

		if (s->state == SLOT_FREE)
			continue;
		if (n == 8) {
			extra++;
			continue;
		}
		a[n].name = s->e.name;
		a[n].total = -1;
		a[n].done = 0;
		if (s->state == SLOT_GET)
			rp_http_transfer_progress(s->t, &a[n].done, &a[n].total);
		n++;
	}
	(void)extra;
	get_progress_tick(r->prog, a, n);
}

/* Flushes the NDJSON events; keeps the first write error for the end. */
static void flush_events(struct run *r)
{
	errno = 0;
	if (fflush(stdout) != 0 && !r->out_err)
		r->out_err = errno ? errno : EIO;
}

/*
 * The reader of a list that may block (see run::input_thread).  Its reads
 * end when input_stop() writes `input_quit_fd` (get_input_abortable()).
 */
static void *input_main(void *arg)
{
	struct run *r = arg;
	struct get_entry e;
	char why[sizeof(r->input_why)];
	int ret;

	for (;;) {
		why[0] = '\0';
		ret = get_input_next(&r->in, &e, why, sizeof(why));
		pthread_mutex_lock(&r->lock);
		while (r->q_len == r->q_cap && !r->input_quit) {
			r->reader_waits = true;
			pthread_cond_wait(&r->input_cond, &r->lock);
		}
		r->reader_waits = false;
		if (r->input_quit || ret <= 0) {
			r->input_end = true;
			r->input_ret = ret;
			memcpy(r->input_why, why, sizeof(why));
			pthread_cond_signal(&r->cond);
			pthread_mutex_unlock(&r->lock);
			if (ret > 0)
				get_entry_clear(&e);
			return NULL;
		}
		r->queue[(r->q_head + r->q_len++) % r->q_cap] = e;
		/* The main thread waits for input only on an empty queue. */
		if (r->q_len == 1)
			pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
	}
}

/* Starts the reader thread for a list on a pipe or a terminal. */
static void input_start(struct run *r)
{
	r->q_cap = r->o->jobs;
	r->queue = calloc(r->q_cap, sizeof(*r->queue));
	r->input_quit_fd = eventfd(0, EFD_CLOEXEC);
	/* Without them the list is read on the main thread, as a file is. */
	if (!r->queue || r->input_quit_fd < 0)
		return;
	if (get_input_abortable(&r->in, r->input_quit_fd) == 0 &&
	    pthread_create(&r->input_tid, NULL, input_main, r) == 0)
		r->input_thread = true;
}

/*
 * The next entry for a free slot: 1 and `e` filled, 0 at the end of the
 * list, a negative errno with `why` for an input error, or -EAGAIN when
 * the reader thread has nothing yet.
 */
static int next_entry(struct run *r, struct get_entry *e, char *why,
		      size_t why_len)
{
	int ret = -EAGAIN;

	if (!r->input_thread)
		return get_input_next(&r->in, e, why, why_len);
	pthread_mutex_lock(&r->lock);
	if (r->q_len) {
		*e = r->queue[r->q_head];
		r->q_head = (r->q_head + 1) % r->q_cap;
		r->q_len--;
		if (r->reader_waits && r->q_len <= r->q_cap / 2) {
			r->reader_waits = false;
			pthread_cond_signal(&r->input_cond);
		}
		ret = 1;
	} else if (r->input_end) {
		ret = r->input_ret;
		snprintf(why, why_len, "%s", r->input_why);
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

/* Whether the reader thread has an entry or the end for a free slot. */
static bool input_waiting(const struct run *r, bool input_done)
{
	return r->input_thread && !input_done && !r->stopping &&
	       r->free_slots && (r->q_len || r->input_end);
}

/* Stops the reader thread, blocked in a read or not, and frees its queue. */
static void input_stop(struct run *r)
{
	uint64_t one = 1;

	if (r->input_thread) {
		pthread_mutex_lock(&r->lock);
		r->input_quit = true;
		pthread_cond_signal(&r->input_cond);
		pthread_mutex_unlock(&r->lock);
		/* An eventfd's count cannot overflow from one write of 1. */
		while (write(r->input_quit_fd, &one, sizeof(one)) < 0 &&
		       errno == EINTR)
			;
		pthread_join(r->input_tid, NULL);
		r->input_thread = false;
	}
	for (; r->q_len; r->q_len--, r->q_head = (r->q_head + 1) % r->q_cap)
		get_entry_clear(&r->queue[r->q_head]);
	free(r->queue);
	r->queue = NULL;
	if (r->input_quit_fd >= 0)
		close(r->input_quit_fd);
	r->input_quit_fd = -1;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The loop: top the slots up from the input, wait for a ready slot (or the
 * next redraw of the live display), move the ready slots on.  Returns 0, or
 * the input's error with its message in `why`.
 */
static int run_loop(struct run *r, bool tty, char *why, size_t why_len)
{
	bool input_done = false;
	int input_err = 0;
	double last_tick = 0;

	for (;;) {
		struct slot *ready, *s;
		int sig;

		while (!input_done && !r->stopping && r->free_slots) {
			int ret;

			s = r->free_slots;
			ret = next_entry(r, &s->e, why, why_len);
			if (ret == -EAGAIN)
				break;
			if (ret <= 0) {
				input_done = true;
				input_err = ret;
				break;
			}
			r->free_slots = s->next;
			r->active++;
			get_slot_start(r, s);
		}
		if (!r->active && (input_done || r->stopping))
			break;
		pthread_mutex_lock(&r->lock);
		while (!r->ready && !(r->signal && !r->stopping) &&
		       !input_waiting(r, input_done)) {
			struct timespec ts;

			if (!tty) {
				pthread_cond_wait(&r->cond, &r->lock);
				continue;
			}
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += 200000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (pthread_cond_timedwait(&r->cond, &r->lock, &ts))
				break;
		}
		ready = r->ready;
		r->ready = NULL;
		sig = r->signal;
		pthread_mutex_unlock(&r->lock);
		/* Cancelling may run done-callbacks here: not under the lock. */
		if (sig && !r->stopping)
			stop_all(r);
		while (ready) {
			s = ready;
			ready = s->next;
			get_slot_ready(r, s);
		}
		/* NDJSON readers (| jq) see events as they happen, a batch a write. */
		if (r->o->json)
			flush_events(r);
		/*
		 * The reader of the events went away (| head -1): stop as on
		 * SIGTERM, the .part files kept for -c, rather than die of
		 * SIGPIPE with the empty ones left behind.
		 */
		if (r->out_err == EPIPE && !r->stopping)
			stop_all(r);
		if (tty && mono_s() - last_tick >= 0.2) {
			tick(r);
			last_tick = mono_s();
		}
	}
	return input_err;
}

/*
 * Each transfer in flight holds its NAME.part and, at worst, a connection
 * of its own: -j 2000 needs some 4,000 descriptors where the usual soft
 * limit is 1,024, and past it every further file would fail with "Too many
 * open files".  The soft limit is raised as far as needed (the hard limit
 * allows it nearly everywhere); where the hard limit is too low, -j is
 * lowered to what fits, and the run says so.
 */
static void fit_jobs_to_nofile(struct get_opts *o)
{
	/* The executor's rings and eventfds, stdio, the list, slack. */
	rlim_t spare = 64 + 4 * (rlim_t)o->loops, need, fit;
	struct rlimit rl;

	need = 2 * (rlim_t)o->jobs + spare;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need
			      ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur >= need)
		return;
	fit = rl.rlim_cur > spare + 2 ? (rl.rlim_cur - spare) / 2 : 1;
	if (fit < o->loops)
		fit = o->loops;
	if (fit >= o->jobs)
		return;
	fprintf(stderr, "ringpool get: at most %llu transfers at once (not "
		"-j %lu): the limit on open files (ulimit -n) is %llu, two per "
		"transfer\n", (unsigned long long)fit, o->jobs,
		(unsigned long long)rl.rlim_cur);
	o->jobs = (unsigned long)fit;
}

static int setup(struct run *r, const struct get_opts *o, char *why,
		 size_t len)
{
	struct rp_http_config hc;
	struct rp_config cfg;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i;
	int ret;

	r->dirfd = -1;
	ret = get_make_dirs(o->dir);
	if (ret == 0) {
		r->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ret = r->dirfd < 0 ? -errno : 0;
	}
	/*
	 * Without -c every entry writes its NAME.part: a folder that cannot
	 * be written to (its mode, a read-only mount) would fail them all,
	 * one by one, with the same cause.  Said once, before any byte.  With
	 * -c the files already there need no write, so a read-only copy can
	 * still be checked against its list.
	 */
	if (ret == 0 && !o->cont && faccessat(r->dirfd, ".", W_OK | X_OK, 0))
		ret = -errno;
	if (ret < 0) {
		snprintf(why, len, "cannot use folder '%s': %s", o->dir,
			 strerror(-ret));
		return 2;
	}
	r->unname = get_slot_can_unname(r->dirfd, getenv("RINGPOOL_GET_UNNAME"));
	r->empty_dir = r->unname != UNNAME_NO && get_slot_dir_empty(r->dirfd);
	/* rp_http_new() would refuse it too, but as "not available". */
	if (o->cacert) {
		int fd = open(o->cacert, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			snprintf(why, len, "cannot read --cacert '%s': %s",
				 o->cacert, strerror(errno));
			return 2;
		}
		close(fd);
	}
	rp_config_init(&cfg);
	/* Workers only finish files (hash, rename): a few are plenty. */
	cfg.workers = ncpu > 4 ? 4 : ncpu > 0 ? (unsigned)ncpu : 1;
	cfg.thread_name_prefix = "rp-get";
	cfg.rings = (unsigned)o->loops;
	/*
	 * Completions come a few per millisecond at most: spinning for the
	 * next one would only burn the CPU that the downloads should save.
	 */
	cfg.spin_ns = 0;
	ret = rp_executor_new(&cfg, &r->ex);
	if (ret < 0) {
		snprintf(why, len, "cannot start the executor: %s",
			 strerror(-ret));
		return 1;
	}
	r->http = calloc(o->loops, sizeof(*r->http));
	ret = r->http ? rp_http_config_init(&hc) : -ENOMEM;
	/*
	 * With --loops N each client gets ring i and its share of the limits
	 * (o->loops <= o->per_host, checked with the options), so that
	 * together they keep to what the options say.
	 */
	for (i = 0; ret == 0 && i < o->loops; i++) {
		hc.max_per_host = (unsigned)(o->per_host / o->loops +
					     (i < o->per_host % o->loops));
		hc.max_redirs = o->max_redirs;
		hc.connect_timeout_ns = o->connect_ns;
		hc.stall_timeout_ns = o->stall_ns;
		hc.max_rate = o->rate ? (o->rate + o->loops - 1) / o->loops : 0;
		hc.ca_file = o->cacert;
		hc.user_agent = o->user_agent;
		hc.proxy = o->proxy;
		hc.no_proxy = o->no_proxy;
		hc.headers = o->n_headers ? o->headers : NULL;
		hc.ring = o->loops > 1 ? (int)i : -1;
		ret = rp_http_new(r->ex, &hc, &r->http[i]);
		if (ret == 0)
			r->n_http++;
	}
	if (ret < 0) {
		snprintf(why, len, "HTTP downloads are not available: %s",
			 cli_http_new_error(ret));
		return 1;
	}
	r->slots = calloc(o->jobs, sizeof(*r->slots));
	if (!r->slots) {
		snprintf(why, len, "out of memory");
		return 1;
	}
	for (i = o->jobs; i-- > 0;) {
		r->slots[i].run = r;
		r->slots[i].fd = -1;
		r->slots[i].next = r->free_slots;
		r->free_slots = &r->slots[i];
	}
	return 0;
}

int cli_get(int argc, char **argv)
{
	struct get_opts o = {
		.dir = ".", .jobs = 16, .per_host = 6, .loops = 1, .retries = 3,
		.max_redirs = 10, .retry_delay_ns = 1000000000LL,
		.shard_n = 1,
	};
	struct get_progress_opts po;
	pthread_condattr_t ca;
	pthread_t sig_thread;
	sigset_t old_sigs;
	bool sig_started;
	struct run r;
	int sig;
	char why[600];
	long total;
	size_t i;
	int status, ret;

	status = get_parse_opts(argc, argv, &o);
	if (status >= 0)
		return status;
	fit_jobs_to_nofile(&o);
	/*
	 * Every transfer has receive and body buffers of 256 KiB.  glibc
	 * would map each such block afresh and unmap it when freed, or, once
	 * its adaptive threshold rose, keep trimming the heap's top and then
	 * growing it again: either way fresh pages, faulted in on the next
	 * receive.  Below 1 MiB from the heap, always, and the heap trimmed
	 * only past 64 MiB free (a fixed mmap threshold would otherwise leave
	 * the trim threshold at 128 KiB, which cost 4 x 128 MiB downloads a
	 * third more CPU): on 2,000 files of 16 KiB a quarter to a third less
	 * CPU, and half the page faults.
	 */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	memset(&r, 0, sizeof(r));
	r.o = &o;
	r.input_quit_fd = -1;
	r.rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
	r.rng |= 1;
	why[0] = '\0';

	ret = get_input_open(&r.in, argv + optind, argc - optind, o.input,
			     o.shard_k, o.shard_n, o.out_name, why, sizeof(why));
	if (ret < 0) {
		fprintf(stderr, "ringpool get: %s\n", why);
		return 2;
	}
	/* Check a list file up front, so a bad line stops us before any byte. */
	total = get_input_precheck(&r.in, why, sizeof(why));
	if (total < 0 && total != -ESPIPE) {
		fprintf(stderr, "ringpool get: %s\n", why);
		get_input_close(&r.in);
		return 2;
	}

	pthread_mutex_init(&r.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r.cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&r.input_cond, NULL);

	po.json = o.json;
	po.quiet = o.quiet;
	po.tty = !o.json && isatty(STDERR_FILENO);
	po.color = po.tty && !getenv("NO_COLOR");
	r.prog = get_progress_new(&po);

	/* A closed stdout is EPIPE from the write (see run_loop()). */
	signal(SIGPIPE, SIG_IGN);
	/* Before the executor starts, so that its threads inherit the mask. */
	stop_signals(&r.stop_sigs);
	pthread_sigmask(SIG_BLOCK, &r.stop_sigs, &old_sigs);
	sig_started = pthread_create(&sig_thread, NULL, signal_main, &r) == 0;

	status = r.prog ? setup(&r, &o, why, sizeof(why)) : 1;
	if (status) {
		fprintf(stderr, "ringpool get: %s\n", r.prog ? why : "out of memory");
	} else {
		get_progress_set_total(r.prog, total);
		/* After the mask above: the stop signals stay blocked there. */
		if (total == -ESPIPE)
			input_start(&r);
		ret = run_loop(&r, po.tty && !o.quiet, why, sizeof(why));
		input_stop(&r);
		status = get_progress_finish(r.prog) ? 1 : 0;
		/*
		 * Events that never reached stdout (a full disk, a closed
		 * file) are output lost: say so, and do not exit 0.
		 */
		if (o.json) {
			flush_events(&r);
			if (ferror(stdout) && !r.out_err)
				r.out_err = EIO;
		}
		if (r.out_err == EPIPE) {
			fprintf(stderr, "ringpool get: stdout was closed (the "
				"reader of the --json events went away): %s\n",
				status ? "stopped; run again with -c to finish"
				       : "every file is done, but events were "
					 "lost");
			status = 1;
		} else if (r.out_err) {
			fprintf(stderr, "ringpool get: cannot write the --json "
				"events to stdout: %s\n", strerror(r.out_err));
			status = 1;
		}
		pthread_mutex_lock(&r.lock);
		sig = r.signal;
		pthread_mutex_unlock(&r.lock);
		if (sig) {
			fprintf(stderr, "ringpool get: interrupted by %s; run "
				"again with -c to finish\n",
				signal_name(sig));
			status = 1;
		}
		if (ret < 0) {
			fprintf(stderr, "ringpool get: %s\n", why);
			status = 2;
		}
	}
	for (i = 0; i < r.n_http; i++)
		rp_http_free(r.http[i]);
	free(r.http);
	rp_executor_free(r.ex);
	if (sig_started) {
		pthread_cancel(sig_thread);
		pthread_join(sig_thread, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &old_sigs, NULL);
	if (r.dirfd >= 0)
		close(r.dirfd);
	free(r.slots);
	get_progress_free(r.prog);
	get_input_close(&r.in);
	pthread_cond_destroy(&r.cond);
	pthread_cond_destroy(&r.input_cond);
	pthread_mutex_destroy(&r.lock);
	return status;
}
