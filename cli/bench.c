/* SPDX-License-Identifier: MIT */
/*
 * `ringpool bench`: measurements a user can run on their own machine.
 * For now the CPU-pool measurement; file, net and http engines follow.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringpool.h"
#include "cli.h"

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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int empty_task(void *arg, int64_t *value)
{
	(void)arg;
	(void)value;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void tasks_usage(FILE *out)
{
	fprintf(out,
"Usage: ringpool bench tasks [--tasks N] [--workers N] [--rtt N]\n"
"\n"
"Submits N empty tasks, waits for all of them and prints the rate; then\n"
"measures the round trip of one task (submit, wait for the result) and\n"
"prints its median and 99th percentile.\n"
"\n"
"  --tasks N    tasks for the throughput run (default 1M; k and M suffixes)\n"
"  --workers N  worker threads (default: one per online CPU)\n"
"  --rtt N      round trips to time (default 100k)\n"
"  -h, --help   show this help\n"
"\n"
"For the side-by-side comparison with libuv and GLib, run 'bench/run tasks'\n"
"from the source tree.\n");
}

static int bench_tasks(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tasks", required_argument, NULL, 't' },
		{ "workers", required_argument, NULL, 'w' },
		{ "rtt", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long ntasks = 1000000, nrtt = 100000, workers = 0, i;
	struct rp_config cfg;
	rp_executor *ex = NULL;
	rp_future **fs = NULL;
	double *lat = NULL, t0, t1;
	int c, ret, status = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		unsigned long long *dst = c == 't' ? &ntasks :
					  c == 'w' ? &workers : &nrtt;

		switch (c) {
		case 't':
		case 'w':
		case 'r':
			if (cli_parse_count(optarg, dst) < 0 ||
			    (c == 'w' && *dst > 1024)) {
				fprintf(stderr, "ringpool bench tasks: invalid "
					"--%s '%s': expected a positive "
					"count%s\n", opts[c == 't' ? 0 :
					c == 'w' ? 1 : 2].name, optarg,
					c == 'w' ? " up to 1024" : "");
				return 2;
			}
			break;
		case 'h':
			tasks_usage(stdout);
			return 0;
		default:
			tasks_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringpool bench tasks: unexpected argument "
			"'%s'\n", argv[optind]);
		return 2;
	}

	rp_config_init(&cfg);
	cfg.workers = (unsigned)workers;
	ret = rp_executor_new(&cfg, &ex);
	if (ret < 0) {
		fprintf(stderr, "ringpool: cannot start the executor: %s\n",
			strerror(-ret));
		return 1;
	}
	fs = calloc(ntasks, sizeof(*fs));
	lat = calloc(nrtt, sizeof(*lat));
	if (!fs || !lat) {
		fprintf(stderr, "ringpool: out of memory for %llu tasks\n",
			ntasks);
		goto out;
	}

	t0 = now_s();
	for (i = 0; i < ntasks; i++) {
		ret = rp_submit(ex, empty_task, NULL, &fs[i]);
		if (ret < 0) {
			fprintf(stderr, "ringpool: submit failed: %s\n",
				strerror(-ret));
			ntasks = i;
			goto out;
		}
	}
	ret = rp_wait(fs, ntasks, RP_ALL_COMPLETED, RP_FOREVER, NULL, NULL);
	t1 = now_s();
	if (ret < 0) {
		fprintf(stderr, "ringpool: wait failed: %s\n", strerror(-ret));
		goto out;
	}
	printf("workers      %d\n", rp_executor_workers(ex));
	printf("tasks        %llu in %.3f s: %.0f tasks/s\n", ntasks,
	       t1 - t0, ntasks / (t1 - t0));

	for (i = 0; i < nrtt; i++) {
		rp_future *f;

		t0 = now_s();
		ret = rp_submit(ex, empty_task, NULL, &f);
		if (ret == 0)
			ret = rp_future_result(f, RP_FOREVER, NULL, NULL);
		rp_future_unref(f);
		lat[i] = now_s() - t0;
		if (ret < 0) {
			fprintf(stderr, "ringpool: round trip failed: %s\n",
				strerror(-ret));
			goto out;
		}
	}
	qsort(lat, nrtt, sizeof(*lat), cmp_double);
	printf("round trip   p50 %.2f us, p99 %.2f us over %llu\n",
	       lat[nrtt / 2] * 1e6, lat[nrtt * 99 / 100] * 1e6, nrtt);
	status = 0;
out:
	for (i = 0; fs && i < ntasks; i++)
		rp_future_unref(fs[i]);
	free(fs);
	free(lat);
	rp_executor_free(ex);
	return status;
}

static void bench_usage(FILE *out)
{
	fprintf(out,
"Usage: ringpool bench SUBJECT [OPTIONS]\n"
"\n"
"Subjects:\n"
"  tasks   the CPU pool: task throughput and round-trip latency\n");
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
	fprintf(stderr, "ringpool bench: unknown subject '%s'\n", argv[1]);
	bench_usage(stderr);
	return 2;
}
