/* SPDX-License-Identifier: MIT */
/*
 * `ringpool bench file`: options, the data file, and the runs (each engine
 * in turn, alternating with the equivalent fio job under --compare fio).
 * The engines themselves are in bench_engine.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

#define SUBJ		"file"
#define MAX_BS		(64ULL << 20)
#define MAX_QD		1024U
#define MAX_JOBS	64U
#define FILL_CHUNK	(1U << 20)

enum { RW_READ, RW_WRITE, RW_RANDREAD, RW_RANDWRITE, RW_RANDRW };
static const char *const rw_names[] = {
	"read", "write", "randread", "randwrite", "randrw",
};

struct file_opts {
	int rw;
	int mix;		/* read share of randrw, percent; -1 unset */
	uint64_t bs, size;
	unsigned qd, jobs;
	const char *file, *dir;
	bool force, direct, fixed_bufs, reg_files, cached, drop_cache;
	bool engines[ENG_COUNT];
	int order[ENG_COUNT], n_engines;
	bool compare_fio;
};

enum {
	OPT_RW = 1, OPT_MIX, OPT_BS, OPT_QD, OPT_SIZE, OPT_FILE, OPT_DIR,
	OPT_FORCE, OPT_DIRECT, OPT_ENGINE, OPT_JOBS, OPT_FIXED, OPT_REGFILES, OPT_SQPOLL, OPT_CACHED, OPT_DROP,
	OPT_COMPARE, OPT_HELP,
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ringpool bench file (--file PATH | --dir DIR) [OPTIONS]\n"
"\n"
"Measures file I/O through ringpool's io_uring backend, its blocking-thread\n"
"fallback and plain pread/pwrite threads, optionally against fio.\n"
"\n"
"Workload:\n"
"  --rw MODE          read, write, randread (default), randwrite, randrw\n"
"  --mix PCT          read share of randrw in percent (default 50)\n"
"  --bs SIZE          block size (default 4k; k, M, G suffixes, powers of 2)\n"
"  --qd N             operations in flight per job (default 32; sync: 1)\n"
"  --jobs N           uring: rings; threads: I/O threads; sync: threads\n"
"                     (default 1)\n"
"  --size SIZE        bytes of the file to use (default: the file's size,\n"
"                     or 256M for a file the tool creates)\n"
"  --file PATH        the file; created (and removed after) if missing\n"
"  --dir DIR          create a temporary file in DIR and remove it after\n"
"  --force            allow writes to a file the tool did not create\n"
"  --direct           O_DIRECT (the file system must support it)\n"
"  --cached           read the whole file before each run (page cache)\n"
"  --drop-cache       drop the file's cached pages before each run\n"
"Engines:\n"
"  --engine LIST      comma list of uring, threads, sync (default uring)\n"
"  --fixed-bufs       register the buffers (rp_register_buffers)\n"
"  --register-files   register the file (rp_register_files)\n"
"  --sqpoll           SQPOLL rings: not supported by the library (exit 2)\n"
"Measurement:\n"
"  --runtime S        seconds per run (default 5)\n"
"  --ops N            end a run after N operations instead\n"
"  --warmup S         seconds before measuring (default 0.5 timed, 0 --ops)\n"
"  --rounds N         runs of each engine (default 1; 3 with --compare)\n"
"  --compare fio      run the equivalent fio job, alternating, side by side\n"
"Output:\n"
"  --json             one JSON document on stdout instead of the table\n"
"  --report FILE      a self-contained HTML page with charts\n"
"  -h, --help         show this help\n");
}

static int parse_engines(struct file_opts *o, char *list)
{
	char *tok, *save = NULL;
	int e;

	memset(o->engines, 0, sizeof(o->engines));
	o->n_engines = 0;
	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (e = 0; e < ENG_COUNT; e++)
			if (!strcmp(tok, bench_engine_names[e]))
				break;
		if (e == ENG_COUNT) {
			bench_err(SUBJ, "unknown engine '%s': expected uring, "
				  "threads or sync", tok);
			return 2;
		}
		if (o->engines[e]) {
			bench_err(SUBJ, "engine '%s' is listed twice", tok);
			return 2;
		}
		o->engines[e] = true;
		o->order[o->n_engines++] = e;
	}
	if (!o->n_engines) {
		bench_err(SUBJ, "--engine needs at least one engine");
		return 2;
	}
	return 0;
}

static int bad(const char *opt, const char *arg, const char *expected)
{
	bench_err(SUBJ, "invalid %s '%s': expected %s", opt, arg, expected);
	return 2;
}

static int parse(int argc, char **argv, struct file_opts *o,
		 struct bench_common *c)
{
	static const struct option opts[] = {
		{ "rw", required_argument, NULL, OPT_RW },
		{ "mix", required_argument, NULL, OPT_MIX },
		{ "bs", required_argument, NULL, OPT_BS },
		{ "qd", required_argument, NULL, OPT_QD },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "direct", no_argument, NULL, OPT_DIRECT },
		{ "engine", required_argument, NULL, OPT_ENGINE },
		{ "jobs", required_argument, NULL, OPT_JOBS },
		{ "fixed-bufs", no_argument, NULL, OPT_FIXED },
		{ "register-files", no_argument, NULL, OPT_REGFILES },
		{ "sqpoll", no_argument, NULL, OPT_SQPOLL },
		{ "cached", no_argument, NULL, OPT_CACHED },
		{ "drop-cache", no_argument, NULL, OPT_DROP },
		{ "compare", required_argument, NULL, OPT_COMPARE },
		{ "help", no_argument, NULL, 'h' },
		BENCH_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long n;
	bool qd_set = false;
	int opt, ret, i;
	char *end;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_RW:
			for (i = 0; i <= RW_RANDRW; i++)
				if (!strcmp(optarg, rw_names[i]))
					break;
			if (i > RW_RANDRW)
				return bad("--rw", optarg, "read, write, "
					   "randread, randwrite or randrw");
			o->rw = i;
			break;
		case OPT_MIX:
			errno = 0;
			o->mix = (int)strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || o->mix < 0 ||
			    o->mix > 100)
				return bad("--mix", optarg,
					   "a percentage from 0 to 100");
			break;
		case OPT_BS:
			if (bench_parse_size(optarg, &o->bs) < 0 ||
			    o->bs > MAX_BS)
				return bad("--bs", optarg,
					   "a size from 1 byte to 64M");
			break;
		case OPT_SIZE:
			if (bench_parse_size(optarg, &o->size) < 0)
				return bad("--size", optarg, "a size such as "
					   "64M or 1G");
			break;
		case OPT_QD:
		case OPT_JOBS:
			if (cli_parse_count(optarg, &n) < 0 ||
			    n > (opt == OPT_QD ? MAX_QD : MAX_JOBS))
				return bad(opt == OPT_QD ? "--qd" : "--jobs",
					   optarg, opt == OPT_QD ?
					   "a count from 1 to 1024" :
					   "a count from 1 to 64");
			if (opt == OPT_QD) {
				o->qd = (unsigned)n;
				qd_set = true;
			} else {
				o->jobs = (unsigned)n;
			}
			break;
		case OPT_FILE: o->file = optarg; break;
		case OPT_DIR: o->dir = optarg; break;
		case OPT_FORCE: o->force = true; break;
		case OPT_DIRECT: o->direct = true; break;
		case OPT_ENGINE:
			ret = parse_engines(o, optarg);
			if (ret)
				return ret;
			break;
		case OPT_FIXED: o->fixed_bufs = true; break;
		case OPT_REGFILES: o->reg_files = true; break;
		case OPT_SQPOLL:
			bench_err(SUBJ, "--sqpoll is not supported: the "
				  "library has no SQPOLL ring option, so the "
				  "tool cannot measure one");
			return 2;
		case OPT_CACHED: o->cached = true; break;
		case OPT_DROP: o->drop_cache = true; break;
		case OPT_COMPARE:
			if (strcmp(optarg, "fio"))
				return bad("--compare", optarg, "fio");
			o->compare_fio = true;
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
			ret = bench_common_opt(c, SUBJ, opt, optarg);
			if (ret == 2)
				return 2;
			break;
		}
	}
	if (optind < argc) {
		bench_err(SUBJ, "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (bench_common_check(c, SUBJ))
		return 2;
	if (!o->file == !o->dir) {
		bench_err(SUBJ, o->file ? "--file and --dir exclude each other"
			  : "give --file PATH or --dir DIR");
		return 2;
	}
	if (o->mix >= 0 && o->rw != RW_RANDRW) {
		bench_err(SUBJ, "--mix applies to --rw randrw only");
		return 2;
	}
	if (o->cached && o->drop_cache) {
		bench_err(SUBJ, "--cached and --drop-cache exclude each other");
		return 2;
	}
	if (o->cached && o->direct) {
		bench_err(SUBJ, "--cached has no effect with --direct, which "
			  "bypasses the page cache");
		return 2;
	}
	if (o->direct && o->bs % 512) {
		bench_err(SUBJ, "--direct needs --bs to be a multiple of 512 "
			  "(of the device's logical block size), not %llu",
			  (unsigned long long)o->bs);
		return 2;
	}
	if (o->size && o->size < o->bs) {
		bench_err(SUBJ, "--size %llu is smaller than one block of "
			  "--bs %llu", (unsigned long long)o->size,
			  (unsigned long long)o->bs);
		return 2;
	}
	if ((o->fixed_bufs || o->reg_files) && o->n_engines == 1 &&
	    o->engines[ENG_SYNC]) {
		bench_err(SUBJ, "--fixed-bufs and --register-files apply to "
			  "the uring and threads engines, not sync");
		return 2;
	}
	if (o->fixed_bufs && o->qd * o->jobs > 1024) {
		bench_err(SUBJ, "--fixed-bufs registers one buffer per "
			  "operation in flight: --qd x --jobs at most 1024");
		return 2;
	}
	if (o->engines[ENG_SYNC] && qd_set && o->qd > 1 && o->n_engines == 1) {
		bench_err(SUBJ, "--engine sync keeps one operation in flight "
			  "per thread; use --jobs for more, not --qd");
		return 2;
	}
	if (o->compare_fio && !bench_fio_available()) {
		bench_err(SUBJ, "--compare fio: fio is not installed (or does "
			  "not run)");
		return 2;
	}
	if (!c->runtime && !c->ops)
		c->runtime = 5;
	if (c->warmup < 0)
		c->warmup = c->ops ? 0 : 0.5;
	if (o->compare_fio && !c->rounds)
		c->rounds = 3;
	if (!c->rounds)
		c->rounds = 1;
	return 0;
}

/* ---- the data file -------------------------------------------------------- */

struct data_file {
	char path[PATH_MAX];
	bool created;
	uint64_t size;
};

static bool is_write_rw(int rw)
{
	return rw == RW_WRITE || rw == RW_RANDWRITE || rw == RW_RANDRW;
}

/* Writes `size` bytes of pseudo-random data (so nothing compresses). */
static int fill(int fd, uint64_t size)
{
	uint64_t off, x = 0x243F6A8885A308D3ULL;
	uint64_t *buf = malloc(FILL_CHUNK);
	size_t i;

	if (!buf)
		return -ENOMEM;
	for (off = 0; off < size && !bench_stop; off += FILL_CHUNK) {
		size_t len = size - off < FILL_CHUNK ? size - off : FILL_CHUNK;
		ssize_t n;

		for (i = 0; i < FILL_CHUNK / 8; i++) {
			x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
			buf[i] = x * 0x2545F4914F6CDD1DULL;
		}
		n = pwrite(fd, buf, len, (off_t)off);
		if (n < 0 || (size_t)n != len) {
			int err = n < 0 ? errno : ENOSPC;

			free(buf);
			return -err;
		}
	}
	free(buf);
	return bench_stop ? -EINTR : 0;
}

/* Makes or checks the file; returns 0, 1 (run error) or 2 (usage error). */
static int prepare_file(struct file_opts *o, struct data_file *df)
{
	struct stat sb;
	int fd, ret;

	if (o->dir) {
		snprintf(df->path, sizeof(df->path), "%s/ringpool-bench.XXXXXX",
			 o->dir);
		fd = mkstemp(df->path);
		if (fd < 0) {
			bench_err(SUBJ, "cannot create a file in %s: %s",
				  o->dir, strerror(errno));
			return errno == ENOENT || errno == ENOTDIR ? 2 : 1;
		}
		df->created = true;
	} else {
		snprintf(df->path, sizeof(df->path), "%s", o->file);
		fd = open(df->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			  0644);
		if (fd >= 0) {
			df->created = true;
		} else if (errno != EEXIST) {
			bench_err(SUBJ, "cannot create %s: %s", df->path,
				  strerror(errno));
			return 1;
		}
	}
	if (!df->created) {
		if (stat(df->path, &sb)) {
			bench_err(SUBJ, "%s: %s", df->path, strerror(errno));
			return 1;
		}
		if (is_write_rw(o->rw) && !o->force) {
			bench_err(SUBJ, "%s exists and was not created by "
				  "this tool: --rw %s would overwrite it; "
				  "pass --force to allow that", df->path,
				  rw_names[o->rw]);
			return 2;
		}
		if (!S_ISREG(sb.st_mode) && !o->size) {
			bench_err(SUBJ, "%s is not a regular file: give "
				  "--size", df->path);
			return 2;
		}
		df->size = o->size ? o->size : (uint64_t)sb.st_size;
		if (S_ISREG(sb.st_mode) && df->size > (uint64_t)sb.st_size) {
			bench_err(SUBJ, "%s holds %llu bytes, less than "
				  "--size %llu", df->path,
				  (unsigned long long)sb.st_size,
				  (unsigned long long)df->size);
			return 2;
		}
		if (df->size < o->bs) {
			bench_err(SUBJ, "%s holds less than one block of "
				  "--bs %llu", df->path,
				  (unsigned long long)o->bs);
			return 2;
		}
		return 0;
	}
	df->size = o->size ? o->size : 256ULL << 20;
	ret = fill(fd, df->size);
	if (ret == 0 && fdatasync(fd))
		ret = -errno;
	close(fd);
	if (ret < 0) {
		if (ret == -ENOSPC)
			bench_err(SUBJ, "no space left on device while "
				  "writing the %llu-byte file %s",
				  (unsigned long long)df->size, df->path);
		else if (ret != -EINTR)
			bench_err(SUBJ, "cannot write %s: %s", df->path,
				  strerror(-ret));
		return 1;
	}
	return 0;
}

static void remove_file(struct data_file *df)
{
	if (df->created && unlink(df->path) == 0)
		df->created = false;
}

static void prime(const char *path, uint64_t size, bool drop)
{
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t off;

	if (fd < 0)
		return;
	if (drop) {
		/* Only clean pages go: write back first. */
		(void)fdatasync(fd);
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
		return;
	}
	buf = malloc(FILL_CHUNK);
	for (off = 0; buf && off < size; off += FILL_CHUNK)
		if (pread(fd, buf, FILL_CHUNK, (off_t)off) <= 0)
			break;
	free(buf);
	close(fd);
}

/* Opens the file for a run; 0 and *fd, or 1 after printing why. */
static int open_for_run(const struct file_opts *o, const char *path, int *fd)
{
	int flags = (is_write_rw(o->rw) ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	void *buf;
	ssize_t n;

	if (o->direct)
		flags |= O_DIRECT;
	*fd = open(path, flags);
	if (*fd < 0 && errno == EINVAL && o->direct) {
		bench_err(SUBJ, "%s: this file system refuses O_DIRECT "
			  "(open: %s); run on one that supports it (ext4, "
			  "xfs) or leave out --direct", path,
			  strerror(EINVAL));
		return 1;
	}
	if (*fd < 0) {
		bench_err(SUBJ, "cannot open %s: %s", path, strerror(errno));
		return 1;
	}
	if (!o->direct)
		return 0;
	/* Some file systems take the flag and refuse the first read. */
	buf = aligned_alloc(4096, (o->bs + 4095) & ~4095ULL);
	n = buf ? pread(*fd, buf, o->bs, 0) : 0;
	free(buf);
	if (n < 0 && errno == EINVAL) {
		bench_err(SUBJ, "%s: an O_DIRECT read of %llu bytes fails "
			  "with EINVAL: the file system refuses O_DIRECT or "
			  "--bs is not a multiple of its block size",
			  path, (unsigned long long)o->bs);
		close(*fd);
		return 1;
	}
	return 0;
}

/* ---- runs ------------------------------------------------------------------- */

static json_object *run_settings(const struct file_opts *o, int engine,
				 const struct file_job *j)
{
	json_object *s = json_object_new_object();

	json_object_object_add(s, "engine",
			       json_object_new_string(bench_engine_names[engine]));
	json_object_object_add(s, "qd", json_object_new_int64(
				       engine == ENG_SYNC ? 1 : j->qd));
	json_object_object_add(s, "jobs", json_object_new_int64(j->jobs));
	json_object_object_add(s, "fixed_bufs",
			       json_object_new_boolean(j->fixed_bufs));
	json_object_object_add(s, "register_files",
			       json_object_new_boolean(j->reg_files));
	json_object_object_add(s, "sqpoll", json_object_new_boolean(0));
	return s;
}

static json_object *doc_settings(const struct file_opts *o,
				 const struct bench_common *c,
				 const struct data_file *df)
{
	json_object *s = json_object_new_object();

	json_object_object_add(s, "rw", json_object_new_string(rw_names[o->rw]));
	if (o->rw == RW_RANDRW)
		json_object_object_add(s, "mix", json_object_new_int64(o->mix));
	json_object_object_add(s, "bs", json_object_new_int64((int64_t)o->bs));
	json_object_object_add(s, "qd", json_object_new_int64(o->qd));
	json_object_object_add(s, "jobs", json_object_new_int64(o->jobs));
	json_object_object_add(s, "size",
			       json_object_new_int64((int64_t)df->size));
	json_object_object_add(s, "file", json_object_new_string(df->path));
	json_object_object_add(s, "file_created",
			       json_object_new_boolean(df->created));
	json_object_object_add(s, "direct", json_object_new_boolean(o->direct));
	json_object_object_add(s, "cache", json_object_new_string(
		o->cached ? "primed" : o->drop_cache ? "dropped" : "as is"));
	json_object_object_add(s, "runtime_s", json_object_new_double(c->runtime));
	json_object_object_add(s, "ops", json_object_new_int64((int64_t)c->ops));
	json_object_object_add(s, "warmup_s", json_object_new_double(c->warmup));
	json_object_object_add(s, "rounds", json_object_new_int64(c->rounds));
	json_object_object_add(s, "compare", o->compare_fio ?
			       json_object_new_string("fio") : NULL);
	bench_add_system(s);
	return s;
}

static void fio_counterpart(const struct file_opts *o, int engine,
			    const struct data_file *df,
			    const struct bench_common *c, struct fio_job *f,
			    struct bench_pair *p)
{
	memset(f, 0, sizeof(*f));
	f->path = df->path;
	f->rw = rw_names[o->rw];
	f->read_pct = o->rw == RW_RANDRW ? (unsigned)o->mix :
		      is_write_rw(o->rw) ? 0 : 100;
	f->bs = o->bs;
	f->size = df->size;
	f->direct = o->direct;
	f->invalidate = o->drop_cache;
	f->runtime = c->runtime;
	f->warmup = c->warmup;
	f->ops = c->ops;
	snprintf(p->engine, sizeof(p->engine), "%s",
		 bench_engine_names[engine]);
	p->match = true;
	if (engine == ENG_URING) {
		f->ioengine = "io_uring";
		f->iodepth = o->qd;
		f->numjobs = o->jobs;
		f->fixedbufs = o->fixed_bufs;
		f->registerfiles = o->reg_files;
	} else {
		/* Blocking threads: psync, one thread per I/O thread. */
		f->ioengine = "psync";
		f->iodepth = 1;
		f->numjobs = o->jobs;
		if (engine == ENG_THREADS && o->qd != o->jobs) {
			p->match = false;
			snprintf(p->why, sizeof(p->why), "threads keeps QD %u "
				 "in flight on %u threads; psync %u", o->qd,
				 o->jobs, o->jobs);
		}
	}
	snprintf(p->fio_engine, sizeof(p->fio_engine), "%s x%u%s",
		 f->ioengine, f->numjobs, f->iodepth > 1 ? " QD" : "");
	if (f->iodepth > 1)
		snprintf(p->fio_engine + strlen(p->fio_engine),
			 sizeof(p->fio_engine) - strlen(p->fio_engine), "%u",
			 f->iodepth);
}

static double iops_of(const struct bench_run *r)
{
	return r->secs > 0 ? (double)r->ops / r->secs : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median IOPS of the runs of `tool` and `engine`. */
static double median_iops(const struct bench_doc *d, const char *tool,
			  const char *engine)
{
	double v[100];
	size_t i, n = 0;

	for (i = 0; i < d->n_runs && n < 100; i++)
		if (!strcmp(d->runs[i].tool, tool) &&
		    !strcmp(d->runs[i].engine, engine))
			v[n++] = iops_of(&d->runs[i]);
	if (!n)
		return 0;
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run_all(struct file_opts *o, struct bench_common *c,
		   struct data_file *df, struct bench_doc *d)
{
	struct fio_job fj[ENG_COUNT];
	unsigned round;
	int k, side, status = 0;

	if (o->compare_fio) {
		d->pairs = calloc((size_t)o->n_engines, sizeof(*d->pairs));
		if (!d->pairs)
			return 1;
		d->n_pairs = (size_t)o->n_engines;
		for (k = 0; k < o->n_engines; k++)
			fio_counterpart(o, o->order[k], df, c, &fj[k],
					&d->pairs[k]);
	}
	for (round = 1; round <= c->rounds && !bench_stop; round++) {
		for (k = 0; k < o->n_engines && !bench_stop; k++) {
			int engine = o->order[k];

			/* The side that goes first alternates by round. */
			for (side = 0; side < (o->compare_fio ? 2 : 1) &&
			     !bench_stop; side++) {
				bool fio = o->compare_fio &&
					   (side ^ (int)(round % 2 == 0));
				struct bench_run *r = bench_doc_add_run(d);
				struct file_job j;
				int fd;

				if (!r)
					return 1;
				r->round = round;
				if (o->cached || o->drop_cache)
					prime(df->path, df->size,
					      o->drop_cache);
				if (fio) {
					bench_fio_run(&fj[k], r);
				} else {
					if (open_for_run(o, df->path, &fd))
						return 1;
					memset(&j, 0, sizeof(j));
					j.engine = engine;
					j.fd = fd;
					j.seq = o->rw == RW_READ ||
						o->rw == RW_WRITE;
					j.read_pct = o->rw == RW_RANDRW ?
						(unsigned)o->mix :
						is_write_rw(o->rw) ? 0 : 100;
					j.bs = o->bs;
					j.nblocks = df->size / o->bs;
					j.qd = o->qd;
					j.jobs = o->jobs;
					j.fixed_bufs = o->fixed_bufs &&
						       engine != ENG_SYNC;
					j.reg_files = o->reg_files &&
						      engine != ENG_SYNC;
					j.runtime = c->ops ? 0 : c->runtime;
					j.warmup = c->warmup;
					j.ops = c->ops;
					j.c = c;
					bench_file_run(&j, r);
					r->settings = run_settings(o, engine,
								   &j);
					close(fd);
				}
				if (r->error[0]) {
					bench_err(SUBJ, "%s %s: %s", r->tool,
						  r->engine, r->error);
					status = 1;
				}
				if (!o->compare_fio)
					continue;
				if (fio) {
					if (iops_of(r) > d->pairs[k].fio_best) {
						d->pairs[k].fio_best = iops_of(r);
						d->pairs[k].fio_mbps = r->secs > 0 ?
							r->bytes / r->secs / 1e6 : 0;
					}
				} else if (iops_of(r) > d->pairs[k].rp_best) {
					d->pairs[k].rp_best = iops_of(r);
					d->pairs[k].rp_mbps = r->secs > 0 ?
						r->bytes / r->secs / 1e6 : 0;
				}
			}
		}
	}
	for (k = 0; k < (int)d->n_pairs; k++) {
		d->pairs[k].rp_median = median_iops(d, "ringpool",
						    d->pairs[k].engine);
		d->pairs[k].fio_median = median_iops(d, "fio",
						     fj[k].ioengine);
	}
	return status;
}

int bench_file(int argc, char **argv)
{
	struct file_opts o = {
		.rw = RW_RANDREAD, .mix = -1, .bs = 4096, .qd = 32, .jobs = 1,
	};
	struct bench_common c = { .warmup = -1 };
	struct data_file df = { .created = false };
	struct bench_doc d = { .subject = SUBJ, .ops_unit = "IOPS" };
	int ret, status;

	o.engines[ENG_URING] = true;
	o.order[0] = ENG_URING;
	o.n_engines = 1;
	ret = parse(argc, argv, &o, &c);
	if (ret)
		return ret < 0 ? 0 : ret;
	if (o.rw == RW_RANDRW && o.mix < 0)
		o.mix = 50;
	/* Signals first: ^C while the file is written removes it too. */
	bench_catch_signals();
	ret = prepare_file(&o, &df);
	if (ret) {
		remove_file(&df);
		return ret;
	}
	d.settings = doc_settings(&o, &c, &df);
	status = run_all(&o, &c, &df, &d);
	remove_file(&df);
	d.interrupted = bench_stop != 0;
	if (bench_output(&d, &c))
		status = 1;
	bench_doc_release(&d);
	if (bench_stop)
		return 130;
	return status;
}
