/* SPDX-License-Identifier: MIT */
/* The options of `ringpool get`, its --help, and the output folder. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "get.h"

static void get_usage(FILE *out)
{
	fprintf(out,
"Usage: ringpool get [OPTIONS] [URL...]\n"
"\n"
"Downloads http:// and https:// URLs into a folder, many at once.  Each\n"
"file gets the name NAME only once it is complete and checked (until then\n"
"it has none, or is NAME.part), replacing a file of that name only then\n"
"(-c keeps it).  Redirects are followed to http:// and https:// only.\n"
"\n"
"Input:\n"
"  -i, --input FILE       read URLs from FILE ('-' for stdin), one per line:\n"
"                         URL [name=NAME] [sha256=HEX]; '#' starts a comment\n"
"  -d, --dir DIR          output folder (default '.'; created if missing)\n"
"  -o, --output NAME      file name, for a single URL\n"
"      --shard K/N        only the K-th (0 <= K < N) of N slices of the input\n"
"Transfers:\n"
"  -j, --jobs N           transfers in flight (default 16)\n"
"      --per-host N       connections per host (default 6)\n"
"      --loops N          split the transfers over N libcurl loops, each on\n"
"                         an io_uring ring and thread of its own (default 1;\n"
"                         at most --per-host and -j): for many small files\n"
"                         on a machine with cores to spare\n"
"      --max-redirs N     redirects followed (default 10)\n"
"      --connect-timeout S  limit on connecting, in seconds\n"
"      --stall-timeout S  abort a transfer that moves no byte for S seconds\n"
"      --limit-rate RATE  aggregate bytes/s (k, M, G suffixes)\n"
"      --retry N          retries of a failed transfer (default 3)\n"
"      --retry-delay S    first backoff, doubled per retry (default 1)\n"
"      --cacert FILE      trust only the CA certificates (PEM) in FILE for\n"
"                         HTTPS, e.g. a private CA; servers are always verified\n"
"  -H, --header 'NAME: VALUE'  send this header with every request (as many\n"
"                         as needed; 'NAME:' drops one curl would send).\n"
"                         Authorization and Cookie go to the URL's own host\n"
"                         only; other headers follow redirects anywhere\n"
"  -A, --user-agent TEXT  the User-Agent header (default ringpool/VERSION)\n"
"  -x, --proxy URL        go through this proxy (http://HOST:PORT, https://,\n"
"                         socks5h://...; USER:PASSWORD@ in it is sent to the\n"
"                         proxy); '' for none.  Without it the environment's\n"
"                         http_proxy, https_proxy, all_proxy apply, as in curl\n"
"      --noproxy HOSTS    reach these hosts directly: a comma list of names\n"
"                         (subdomains too) and addresses, '*' for all\n"
"                         (default: the environment's no_proxy)\n"
"  -c, --continue         resume NAME.part files; skip files already there\n"
"                         (after checking their sha256= when the line has one)\n"
"      --fsync            sync the data before a file gets its name, and\n"
"                         the folder after\n"
"Output:\n"
"      --json             NDJSON events on stdout\n"
"  -q, --quiet            print failures only\n"
"  -h, --help             show this help\n"
"\n"
"Exit status: 0 all files done, 1 some failed, 2 usage or input error.\n");
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ringpool get: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'ringpool get --help' for the options.\n");
	return 2;
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	unsigned long long v;
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned long)v;
	return 0;
}

/*
 * What is wrong with a --header line, in words, or NULL: the library takes
 * the same lines (rp_http_config::headers), but a message here can say
 * which part is wrong.
 */
static const char *header_problem(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	const char *colon = strchr(s, ':'), *p;

	if (!colon)
		return "expected 'NAME: VALUE'";
	if (colon == s)
		return "the header has no name";
	for (p = s; p < colon; p++)
		if (!(isascii((unsigned char)*p) &&
		      isalnum((unsigned char)*p)) && !strchr(tchar, *p))
			return "a header name is letters, digits and "
			       "!#$%&'*+-.^_`|~ only";
	if (colon - s == 5 && !strncasecmp(s, "range", 5))
		return "ranges are ringpool's own (-c resumes with them)";
	for (p = colon + 1; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return "the value holds a control character";
	return NULL;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/*
 * What is wrong with the --proxy value `s`, or NULL.  A scheme, when
 * given, must be one libcurl reaches proxies by; without one it is http.
 */
static const char *proxy_problem(const char *s)
{
	static const char *const schemes[] = {
		"http", "https", "socks4", "socks4a", "socks5", "socks5h",
	};
	const char *end = strstr(s, "://");
	size_t i;

	if (has_control(s))
		return "the URL holds a control character";
	if (!end)
		return NULL;
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if ((size_t)(end - s) == strlen(schemes[i]) &&
		    !strncasecmp(s, schemes[i], (size_t)(end - s)))
			return NULL;
	return "a proxy is reached by http://, https://, socks4://, "
	       "socks4a://, socks5:// or socks5h://";
}

/* Parses argv into `o`; returns -1 to go on, else the exit status. */
int get_parse_opts(int argc, char **argv, struct get_opts *o)
{
	enum {
		OPT_PER_HOST = 256, OPT_MAX_REDIRS, OPT_CONNECT, OPT_STALL,
		OPT_RATE, OPT_RETRY, OPT_RETRY_DELAY, OPT_FSYNC, OPT_SHARD,
		OPT_JSON, OPT_CACERT, OPT_LOOPS, OPT_NOPROXY,
	};
	const char *why;
	size_t n;
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "dir", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "per-host", required_argument, NULL, OPT_PER_HOST },
		{ "loops", required_argument, NULL, OPT_LOOPS },
		{ "max-redirs", required_argument, NULL, OPT_MAX_REDIRS },
		{ "connect-timeout", required_argument, NULL, OPT_CONNECT },
		{ "stall-timeout", required_argument, NULL, OPT_STALL },
		{ "limit-rate", required_argument, NULL, OPT_RATE },
		{ "retry", required_argument, NULL, OPT_RETRY },
		{ "retry-delay", required_argument, NULL, OPT_RETRY_DELAY },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ "header", required_argument, NULL, 'H' },
		{ "user-agent", required_argument, NULL, 'A' },
		{ "proxy", required_argument, NULL, 'x' },
		{ "noproxy", required_argument, NULL, OPT_NOPROXY },
		{ "continue", no_argument, NULL, 'c' },
		{ "fsync", no_argument, NULL, OPT_FSYNC },
		{ "shard", required_argument, NULL, OPT_SHARD },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":i:d:o:j:H:A:x:cqh", opts,
				NULL)) != -1) {
		switch (c) {
		case 'i': o->input = optarg; break;
		case 'd':
			/* "out/" names files "out/a.part", not "out//a.part". */
			for (n = strlen(optarg); n > 1 && optarg[n - 1] == '/';)
				optarg[--n] = '\0';
			o->dir = optarg;
			break;
		case 'o':
			if (!get_name_is_safe(optarg))
				return usage_error("-o '%s': not a plain file name "
						   "(use -d for the folder)",
						   optarg);
			o->out_name = optarg;
			break;
		case 'j':
			if (parse_ulong(optarg, 1, 100000, &o->jobs))
				return usage_error("-j '%s': not a number from 1 "
						   "to 100000", optarg);
			break;
		case OPT_PER_HOST:
			if (parse_ulong(optarg, 1, 10000, &o->per_host))
				return usage_error("--per-host '%s': not a number "
						   "from 1 to 10000", optarg);
			break;
		case OPT_LOOPS:
			if (parse_ulong(optarg, 1, 64, &o->loops))
				return usage_error("--loops '%s': not a number "
						   "from 1 to 64", optarg);
			break;
		case OPT_MAX_REDIRS:
			if (parse_ulong(optarg, 0, 1000, &v))
				return usage_error("--max-redirs '%s': not a number "
						   "from 0 to 1000", optarg);
			o->max_redirs = (long)v;
			break;
		case OPT_CONNECT:
			if (get_parse_seconds(optarg, &o->connect_ns))
				return usage_error("--connect-timeout '%s': not a "
						   "number of seconds", optarg);
			break;
		case OPT_STALL:
			if (get_parse_seconds(optarg, &o->stall_ns))
				return usage_error("--stall-timeout '%s': not a "
						   "number of seconds", optarg);
			break;
		case OPT_RATE:
			if (get_parse_rate(optarg, &o->rate))
				return usage_error("--limit-rate '%s': not a rate "
						   "such as 500k or 2M", optarg);
			break;
		case OPT_RETRY:
			if (parse_ulong(optarg, 0, 1000, &o->retries))
				return usage_error("--retry '%s': not a number from "
						   "0 to 1000", optarg);
			break;
		case OPT_RETRY_DELAY:
			if (get_parse_seconds(optarg, &o->retry_delay_ns))
				return usage_error("--retry-delay '%s': not a number "
						   "of seconds", optarg);
			break;
		case OPT_CACERT:
			if (!*optarg)
				return usage_error("--cacert needs a file name");
			o->cacert = optarg;
			break;
		case 'H':
			why = header_problem(optarg);
			if (why)
				return usage_error("--header '%s': %s", optarg,
						   why);
			if (o->n_headers == GET_MAX_HEADERS)
				return usage_error("at most %d --header options",
						   GET_MAX_HEADERS);
			o->headers[o->n_headers++] = optarg;
			o->headers[o->n_headers] = NULL;
			break;
		case 'A':
			if (strpbrk(optarg, "\r\n"))
				return usage_error("--user-agent must be one "
						   "line");
			o->user_agent = optarg;
			break;
		case 'x':
			why = proxy_problem(optarg);
			if (why)
				return usage_error("--proxy '%s': %s", optarg,
						   why);
			o->proxy = optarg;
			break;
		case OPT_NOPROXY:
			if (has_control(optarg))
				return usage_error("--noproxy '%s': the list holds "
						   "a control character", optarg);
			o->no_proxy = optarg;
			break;
		case 'c': o->cont = true; break;
		case OPT_FSYNC: o->fsync = true; break;
		case OPT_SHARD:
			if (get_parse_shard(optarg, &o->shard_k, &o->shard_n))
				return usage_error("--shard '%s': expected K/N with "
						   "0 <= K < N", optarg);
			break;
		case OPT_JSON: o->json = true; break;
		case 'q': o->quiet = true; break;
		case 'h':
			get_usage(stdout);
			return 0;
		case ':':
			return usage_error("option '%s' needs a value",
					   argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind == argc && !o->input)
		return usage_error("no URL given (as arguments or with -i FILE)");
	if (o->loops > o->per_host || o->loops > o->jobs)
		return usage_error("--loops %lu: each loop needs a connection "
				   "per host and a transfer of its own (--per-host "
				   "%lu, -j %lu)", o->loops, o->per_host, o->jobs);
	if (o->out_name && (o->input || argc - optind != 1))
		return usage_error("-o names one file: give exactly one URL and "
				   "no -i");
	return -1;
}

int get_make_dirs(const char *dir)
{
	char *p, *copy, c;
	int ret = 0;

	if (!*dir)
		return -ENOENT;
	copy = strdup(dir);
	if (!copy)
		return -ENOMEM;
	for (p = copy + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
			ret = -errno;
			break;
		}
		*p = c;
		if (!c)
			break;
	}
	free(copy);
	return ret;
}

