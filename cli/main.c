/* SPDX-License-Identifier: MIT */
/*
 * ringpool: the command-line tool.
 *
 * Subcommands live in their own files as they grow; this file parses the
 * top level and dispatches.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringpool.h"
#include "cli.h"

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ringpool [-h|--help] [-V|--version] COMMAND [ARGS...]\n"
"\n"
"A hybrid executor: io_uring for I/O, a thread pool for CPU work.\n"
"\n"
"Commands:\n"
"  bench file [OPTIONS]   file I/O: io_uring vs blocking threads vs\n"
"                         pread/pwrite, and against fio (--compare fio)\n"
"  bench net [OPTIONS]    loopback TCP echo: connections x message size\n"
"  bench tasks [OPTIONS]  the CPU pool: throughput of empty tasks and the\n"
"                         submit-to-result round trip\n"
"  bench http [OPTIONS]   downloads through rp_http from a local HTTP\n"
"                         server it starts: uring vs threads\n"
"  get [OPTIONS] [URL...] download URLs into a folder, many at once, with\n"
"                         retries, resume and checksums\n"
"  serve [OPTIONS] [DIR]  serve the files under DIR over HTTP/1.1\n"
"  help                   show this help\n"
"\n"
"Run 'ringpool COMMAND --help' for a command's options.\n");
}

/*
 * The version, the I/O backend this machine gives and why, and the libcurl
 * that downloads would use.
 */
static int print_version(void)
{
	const char *why = NULL, *curl;
	rp_executor *ex;
	struct rp_config cfg;
	int backend, ret;

	printf("ringpool %s\n", rp_version());
	rp_config_init(&cfg);
	cfg.workers = 1;
	cfg.io_threads = 1;
	ret = rp_executor_new(&cfg, &ex);
	if (ret == -EINVAL && getenv("RINGPOOL_BACKEND")) {
		fprintf(stderr, "ringpool: RINGPOOL_BACKEND='%s' is not one of "
			"uring, threads, auto\n", getenv("RINGPOOL_BACKEND"));
		return 2;
	}
	if (ret == -EINVAL && getenv("RINGPOOL_RINGS")) {
		fprintf(stderr, "ringpool: RINGPOOL_RINGS='%s' is not one of "
			"owned, shared, auto\n", getenv("RINGPOOL_RINGS"));
		return 2;
	}
	if (ret == -EINVAL && getenv("RINGPOOL_URING_SKIP")) {
		fprintf(stderr, "ringpool: RINGPOOL_URING_SKIP='%s' names an "
			"operation that is not one of the library's\n",
			getenv("RINGPOOL_URING_SKIP"));
		return 2;
	}
	if (ret < 0) {
		printf("backend: unavailable (%s)\n", strerror(-ret));
		return 0;
	}
	rp_executor_backend(ex, &backend, &why);
	printf("backend: %s%s%s%s\n",
	       backend == RP_BACKEND_URING ? "io_uring" : "threads",
	       backend != RP_BACKEND_URING ? "" :
	       rp_executor_ring_mode(ex) == RP_RINGS_SHARED ? " (shared rings)" :
							     " (owned rings)",
	       why ? " - " : "", why ? why : "");
	rp_executor_free(ex);
	curl = rp_http_curl_version();
	printf("libcurl: %s\n", curl ? curl : "not available (cannot be "
	       "loaded; `ringpool get` and `bench http` need it)");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
		return print_version();
	if (!strcmp(argv[1], "bench"))
		return cli_bench(argc - 1, argv + 1);
	if (!strcmp(argv[1], "get"))
		return cli_get(argc - 1, argv + 1);
	if (!strcmp(argv[1], "serve"))
		return cli_serve(argc - 1, argv + 1);
	fprintf(stderr, "ringpool: unknown command '%s'\n"
		"Run 'ringpool --help' for the list of commands.\n", argv[1]);
	return 2;
}
