/* SPDX-License-Identifier: MIT */
/*
 * `ringpool bench http`: downloads through rp_http from a static HTTP/1.1
 * keep-alive server that the tool starts on 127.0.0.1: by default its own
 * (bench_srv.c: one epoll thread answering every GET with the same
 * in-memory body), with --server nginx an nginx (bench_nginx.c).  This file
 * holds the options, the folder of the downloads, the server and the
 * document; the downloads themselves are in bench_http_run.c.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringpool.h"
#include "bench.h"
#include "cli.h"

#define SUBJ "http"
#define MAX_CONNS 1024U
#define MAX_SIZE (1ULL << 30)

/* The options, and what was made of them. */
struct http_opts {
	unsigned conns;
	uint64_t size;
	const char *out; /* --out, or NULL */
	char dir[PATH_MAX];
	bool dir_made;
	int engines[ENG_COUNT], n_engines;
	bool nginx; /* --server nginx */
	unsigned port;
};

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
		"suffixes;\n"
		"                  --ops N is the same)\n"
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
		"  --report FILE   a self-contained HTML page with charts (-:\n"
		"                  stdout, the table then on stderr)\n"
		"  -h, --help      show this help\n");
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
			if (bench_parse_engines(SUBJ, optarg, ENG_SYNC,
						"uring or threads (the "
						"library's backends)",
						o->engines, &o->n_engines))
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
		default:
			if (bench_common_opt(c, SUBJ, opt, optarg, argv) == 2)
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
	const char *curl_version = rp_http_curl_version();
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
			       bench_json_secs(c->runtime));
	json_object_object_add(s, "warmup_s",
			       bench_json_secs(c->warmup));
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
			       json_object_new_string(curl_version ? curl_version
								   : "?"));
	bench_add_system(s);
	return s;
}

/* One run in the document; 0, or 1 when it failed (told on stderr). */
static int run_one(struct bench_doc *d, const struct http_opts *o,
		   const struct bench_common *c, unsigned round, int engine)
{
	struct bench_run *r = bench_doc_add_run(d);
	struct http_job j;
	int ret;

	if (!r)
		return 1;
	r->round = round;
	j.engine = engine;
	j.conns = o->conns;
	j.size = o->size;
	j.dir = o->dir;
	j.port = o->port;
	j.c = c;
	ret = bench_http_run(&j, r);
	r->settings = json_object_new_object();
	json_object_object_add(r->settings, "conns",
			       json_object_new_int64(o->conns));
	json_object_object_add(r->settings, "size",
			       json_object_new_int64((int64_t)o->size));
	if (!r->error[0])
		return 0;
	/* Only wrong lengths (a failed download ends the run instead). */
	if (ret == -EPROTO)
		bench_err(SUBJ,
			  "%s: %llu of %llu downloads failed the length "
			  "check: %s",
			  r->engine, (unsigned long long)r->errors,
			  (unsigned long long)r->ops, r->error);
	else
		bench_err(SUBJ, "%s: %s", r->engine, r->error);
	return 1;
}

/*
 * Each slot holds its file and both ends of its connection (the built-in
 * server is in this process).  Raises the soft limit on descriptors when
 * that is needed and allowed; otherwise says so up front, rather than the
 * run failing on connections the server could not accept.  0, or 1 after
 * telling.
 */
static int check_fds(unsigned conns)
{
	rlim_t need = 3 * (rlim_t)conns + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return 0;
	}
	bench_err(SUBJ,
		  "--conns %u needs about %llu descriptors (a file and "
		  "both ends of a connection each); the limit is %llu: "
		  "raise ulimit -n",
		  conns, (unsigned long long)need,
		  (unsigned long long)rl.rlim_max);
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
	if (check_fds(o.conns))
		return 1;
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
