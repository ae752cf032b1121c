/* SPDX-License-Identifier: MIT */
/*
 * `ringpool bench`: measurements a user can run on their own machine.  This
 * file dispatches to the subjects and holds the CPU-pool one (`tasks`);
 * file I/O is in bench_file.c, the loopback echo in bench_net.c, the
 * downloads in bench_http.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringpool.h"
#include "cli.h"
#include "bench.h"

#define SUBJ "tasks"

int cli_parse_count(const char *s, unsigned long long *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		mul = 1000, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1000000, end++;
	if (*end || v == 0 || v > ~0ULL / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int empty_task(void *arg, int64_t *value)
{
	(void)arg;
	(void)value;
	return 0;
}

static void tasks_usage(FILE *out)
{
	fprintf(out,
"Usage: ringpool bench tasks [--tasks N] [--workers N] [--rtt N] [OPTIONS]\n"
"\n"
"Submits N empty tasks, waits for all of them and prints the rate (run\n"
"'throughput'); then times the round trip of one task (submit, wait for the\n"
"result) N times (run 'round-trip', with its latency percentiles).\n"
"\n"
"  --tasks N    tasks for the throughput run (default 1M; k and M suffixes)\n"
"  --workers N  worker threads (default: one per online CPU)\n"
"  --rtt N      round trips to time (default 100k)\n"
"  --ops N      sets both --tasks and --rtt\n"
"  --rounds N   repeat both runs N times\n"
"  --json       one JSON document on stdout instead of the table\n"
"  --report F   a self-contained HTML page with charts (- for stdout,\n"
"               the table then on stderr)\n"
"  -h, --help   show this help\n"
"\n"
"For the side-by-side comparison with libuv and GLib, run 'bench/run tasks'\n"
"from the source tree.\n");
}

static int tasks_throughput(rp_executor *ex, unsigned long long ntasks,
			    struct bench_run *r)
{
	rp_future **fs = calloc(ntasks, sizeof(*fs));
	double t0, u0, s0, u1, s1;
	unsigned long long i, n = 0;
	int ret = -ENOMEM;

	snprintf(r->engine, sizeof(r->engine), "throughput");
	if (!fs)
		goto out;
	bench_cpu_s(&u0, &s0);
	t0 = bench_now_s();
	for (n = 0; n < ntasks && !bench_stop; n++) {
		ret = rp_submit(ex, empty_task, NULL, &fs[n]);
		if (ret < 0)
			goto out;
	}
	ret = rp_wait(fs, n, RP_ALL_COMPLETED, RP_FOREVER, NULL, NULL);
	r->secs = bench_now_s() - t0;
	bench_cpu_s(&u1, &s1);
	r->user_s = u1 - u0;
	r->sys_s = s1 - s0;
	r->have_cpu = true;
	r->ops = r->ops_issued = n;
out:
	if (ret < 0)
		snprintf(r->error, sizeof(r->error), "%s", strerror(-ret));
	for (i = 0; fs && i < n; i++)
		rp_future_unref(fs[i]);
	free(fs);
	return ret;
}

static int tasks_rtt(rp_executor *ex, unsigned long long nrtt,
		     struct bench_run *r)
{
	double t0, u0, s0, u1, s1;
	unsigned long long i;
	int ret = 0;

	snprintf(r->engine, sizeof(r->engine), "round-trip");
	r->lat = calloc(1, sizeof(*r->lat));
	if (!r->lat) {
		snprintf(r->error, sizeof(r->error), "out of memory");
		return -ENOMEM;
	}
	r->series.interval_s = 0.1;
	bench_cpu_s(&u0, &s0);
	t0 = bench_now_s();
	for (i = 0; i < nrtt && !bench_stop; i++) {
		uint64_t a = bench_now_ns();
		rp_future *f;

		ret = rp_submit(ex, empty_task, NULL, &f);
		if (ret == 0)
			ret = rp_future_result(f, RP_FOREVER, NULL, NULL);
		rp_future_unref(f);
		if (ret < 0) {
			snprintf(r->error, sizeof(r->error), "%s",
				 strerror(-ret));
			break;
		}
		bench_hist_add(r->lat, bench_now_ns() - a);
		r->ops++;
		if (bench_now_s() - t0 >= r->series.interval_s *
		    (double)(r->series.n + 1)) {
			uint64_t before = 0;
			size_t k;

			for (k = 0; k < r->series.n; k++)
				before += r->series.ops[k];
			bench_series_push(&r->series, r->ops - before);
		}
	}
	r->secs = bench_now_s() - t0;
	bench_cpu_s(&u1, &s1);
	/*
	 * As bench_measure(): the last, partial interval is left out unless
	 * it is all there is (a run shorter than one interval).
	 */
	if (!r->series.n && r->ops)
		bench_series_push(&r->series, r->ops);
	r->user_s = u1 - u0;
	r->sys_s = s1 - s0;
	r->have_cpu = true;
	r->ops_issued = r->ops;
	bench_run_finish(r);
	return ret;
}

int bench_tasks(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tasks", required_argument, NULL, 't' },
		{ "workers", required_argument, NULL, 'w' },
		{ "rtt", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		BENCH_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long ntasks = 1000000, nrtt = 100000, workers = 0;
	struct bench_common c = { .warmup = 0 };
	struct bench_doc d = { .subject = SUBJ, .ops_unit = "tasks/s" };
	struct rp_config cfg;
	rp_executor *ex = NULL;
	const char *why = NULL;
	int opt, ret, backend, status = 0;
	bool counts_set = false; /* --tasks or --rtt */
	unsigned round, k;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		unsigned long long *dst = opt == 't' ? &ntasks :
					  opt == 'w' ? &workers : &nrtt;

		switch (opt) {
		case 't':
		case 'w':
		case 'r':
			if (cli_parse_count(optarg, dst) < 0 ||
			    (opt == 'w' && *dst > 1024)) {
				bench_err(SUBJ, "invalid --%s '%s': expected a "
					  "positive count%s", opts[opt == 't' ?
					  0 : opt == 'w' ? 1 : 2].name, optarg,
					  opt == 'w' ? " up to 1024" : "");
				return 2;
			}
			if (opt != 'w')
				counts_set = true;
			break;
		case 'h':
			tasks_usage(stdout);
			return 0;
		case BO_RUNTIME:
		case BO_WARMUP:
			bench_err(SUBJ, "--runtime and --warmup do not apply: "
				  "tasks counts (--tasks, --rtt, --ops)");
			return 2;
		default:
			if (bench_common_opt(&c, SUBJ, opt, optarg, argv) == 2)
				return 2;
			break;
		}
	}
	if (optind < argc) {
		bench_err(SUBJ, "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (bench_common_check(&c, SUBJ))
		return 2;
	if (c.ops && counts_set) {
		/* Either would be overridden without a word. */
		bench_err(SUBJ, "--ops sets both --tasks and --rtt: give "
			  "either --ops or those");
		return 2;
	}
	if (c.ops)
		ntasks = nrtt = c.ops;
	if (!c.rounds)
		c.rounds = 1;

	rp_config_init(&cfg);
	cfg.workers = (unsigned)workers;
	ret = rp_executor_new(&cfg, &ex);
	if (ret < 0) {
		bench_err(SUBJ, "cannot start the executor: %s",
			  strerror(-ret));
		return 1;
	}
	rp_executor_backend(ex, &backend, &why);
	bench_catch_signals();
	d.settings = json_object_new_object();
	json_object_object_add(d.settings, "workers",
			       json_object_new_int64(rp_executor_workers(ex)));
	json_object_object_add(d.settings, "tasks",
			       json_object_new_int64((int64_t)ntasks));
	json_object_object_add(d.settings, "round_trips",
			       json_object_new_int64((int64_t)nrtt));
	json_object_object_add(d.settings, "backend", json_object_new_string(
		backend == RP_BACKEND_URING ? "io_uring" : "threads"));
	json_object_object_add(d.settings, "rounds",
			       json_object_new_int64(c.rounds));
	bench_add_system(d.settings);
	for (round = 1; round <= c.rounds && !bench_stop; round++) {
		for (k = 0; k < 2 && !bench_stop; k++) {
			struct bench_run *r = bench_doc_add_run(&d);

			if (!r) {
				status = 1;
				break;
			}
			r->round = round;
			snprintf(r->tool, sizeof(r->tool), "ringpool");
			snprintf(r->backend, sizeof(r->backend), "%s",
				 backend == RP_BACKEND_URING ? "io_uring" :
				 "threads");
			ret = k == 0 ? tasks_throughput(ex, ntasks, r) :
				       tasks_rtt(ex, nrtt, r);
			r->interrupted = bench_stop != 0;
			if (ret < 0) {
				bench_err(SUBJ, "%s: %s", r->engine, r->error);
				status = 1;
			}
		}
	}
	rp_executor_free(ex);
	d.interrupted = bench_stop != 0;
	if (bench_output(&d, &c))
		status = 1;
	bench_doc_release(&d);
	return bench_stop ? 130 : status;
}

static void bench_usage(FILE *out)
{
	fprintf(out,
"Usage: ringpool bench SUBJECT [OPTIONS]\n"
"\n"
"Subjects:\n"
"  file    file I/O: io_uring vs blocking threads vs pread/pwrite (and fio)\n"
"  net     loopback TCP echo: connections x message size\n"
"  tasks   the CPU pool: task throughput and round-trip latency\n"
"  http    downloads through rp_http from a local server it starts\n"
"\n"
"Every subject takes --json (one JSON document on stdout) and --report\n"
"FILE.html (a self-contained page with charts).  Run 'ringpool bench\n"
"SUBJECT --help' for its options.\n");
}

int cli_bench(int argc, char **argv)
{
	if (argc < 2) {
		bench_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		bench_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "tasks"))
		return bench_tasks(argc - 1, argv + 1);
	if (!strcmp(argv[1], "file"))
		return bench_file(argc - 1, argv + 1);
	if (!strcmp(argv[1], "net"))
		return bench_net(argc - 1, argv + 1);
	if (!strcmp(argv[1], "http"))
		return bench_http(argc - 1, argv + 1);
	bench_err(argv[1], "unknown subject (expected file, net, tasks or "
		  "http)");
	bench_usage(stderr);
	return 2;
}
