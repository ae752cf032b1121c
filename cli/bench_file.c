/* SPDX-License-Identifier: MIT */
/*
 * `ringpool bench file`: options, the data file, and the runs (each engine
 * in turn, alternating with the equivalent fio job under --compare fio).
 * The engines themselves are in bench_engine.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_file.h"
#include "cli.h"

#define SUBJ "file"
#define MAX_BS (64ULL << 20)
#define MAX_QD 1024U
#define MAX_JOBS 64U
/* fio runs shorter than this are timed too coarsely to compare (1%). */
#define FIO_MIN_SECS 0.1

enum {
	OPT_RW = 1,
	OPT_MIX,
	OPT_BS,
	OPT_QD,
	OPT_SIZE,
	OPT_FILE,
	OPT_DIR,
	OPT_FORCE,
	OPT_DIRECT,
	OPT_ENGINE,
	OPT_JOBS,
	OPT_FIXED,
	OPT_REGFILES,
	OPT_SQPOLL,
	OPT_HUGE,
	OPT_CACHED,
	OPT_DROP,
	OPT_COMPARE,
	OPT_CPUS,
	OPT_HELP,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ringpool bench file (--file PATH | --dir DIR) "
		"[OPTIONS]\n"
		"\n"
		"Measures file I/O through ringpool's io_uring backend, its "
		"blocking-thread\n"
		"fallback and plain pread/pwrite threads, optionally against "
		"fio.\n"
		"\n"
		"Workload:\n"
		"  --rw MODE          read, write, randread (default), "
		"randwrite, randrw;\n"
		"                     writes are not synced: without "
		"--direct they\n"
		"                     measure the page cache, as fio's do by "
		"default\n"
		"  --mix PCT          read share of randrw in percent (default "
		"50)\n"
		"  --bs SIZE          block size (default 4k; the k, M, G "
		"suffixes are\n"
		"                     powers of 2: 1k = 1KiB = 1024, where "
		"fio reads\n"
		"                     1KiB as 1000)\n"
		"  --qd N             operations in flight per job (default "
		"32; sync: 1)\n"
		"  --jobs N           uring: rings; threads: I/O threads; "
		"sync: threads\n"
		"                     (default 1)\n"
		"  --size SIZE        bytes of the file to use (default: the "
		"file's or\n"
		"                     device's size, or 256M for a file the "
		"tool creates)\n"
		"  --file PATH        the file or block device; a file is "
		"created (and\n"
		"                     removed after) if missing\n"
		"  --dir DIR          create a temporary file in DIR and "
		"remove it after\n"
		"  --force            allow writes to a file the tool did not "
		"create\n"
		"  --direct           O_DIRECT (the file system must support "
		"it; refused\n"
		"                     on tmpfs, which keeps files in memory)\n"
		"  --cached           read the whole file before each run "
		"(page cache)\n"
		"  --drop-cache       drop the file's cached pages before each "
		"run\n"
		"Engines:\n"
		"  --engine LIST      comma list of uring, threads, sync "
		"(default uring)\n"
		"  --fixed-bufs       register the buffers "
		"(rp_register_buffers)\n"
		"  --register-files   register the file (rp_register_files)\n"
		"  --sqpoll           uring: SQPOLL rings, a kernel thread "
		"per ring takes\n"
		"                     the submissions (it keeps a CPU busy; "
		"fio: sqthread_poll)\n"
		"  --huge-pages       buffers in huge pages (MAP_HUGETLB; fio: "
		"iomem=shmhuge):\n"
		"                     large blocks reach the device in fewer "
		"pieces; needs\n"
		"                     free pages reserved (sysctl "
		"vm.nr_hugepages)\n"
		"Measurement:\n"
		"  --runtime S        seconds per run (default 5)\n"
		"  --ops N            end a run after N operations instead\n"
		"  --warmup S         seconds before measuring (default 0.5 "
		"timed, 0 --ops)\n"
		"  --rounds N         runs of each engine (default 1; 3 with "
		"--compare)\n"
		"  --compare fio      run the equivalent fio job, alternating, "
		"side by side\n"
		"  --cpus LIST        run on these CPUs only (e.g. 1 or 0-3,6), "
		"and fio too\n"
		"                     (its --cpus_allowed)\n"
		"Output:\n"
		"  --json             one JSON document on stdout instead of "
		"the table\n"
		"  --report FILE      a self-contained HTML page with charts (-:\n"
		"                     stdout, the table then on stderr)\n"
		"  -h, --help         show this help\n");
}

static int parse_engines(struct file_opts *o, char *list)
{
	int k;

	memset(o->engines, 0, sizeof(o->engines));
	if (bench_parse_engines(SUBJ, list, ENG_COUNT,
				"uring, threads or sync", o->order,
				&o->n_engines))
		return 2;
	for (k = 0; k < o->n_engines; k++)
		o->engines[o->order[k]] = true;
	return 0;
}

/* A CPU list as taskset and fio take it: "1", "0-3,6". */
static int parse_cpus(const char *list, cpu_set_t *set)
{
	const char *p = list;
	unsigned long lo, hi;
	char *end;

	CPU_ZERO(set);
	for (;;) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		lo = hi = strtoul(p, &end, 10);
		if (*end == '-') {
			p = end + 1;
			if (*p < '0' || *p > '9')
				return -EINVAL;
			hi = strtoul(p, &end, 10);
		}
		if (lo > hi || hi >= CPU_SETSIZE)
			return -EINVAL;
		for (; lo <= hi; lo++)
			CPU_SET(lo, set);
		if (!*end)
			return 0;
		if (*end != ',')
			return -EINVAL;
		p = end + 1;
	}
}

static int bad(const char *opt, const char *arg, const char *expected)
{
	bench_err(SUBJ, "invalid %s '%s': expected %s", opt, arg, expected);
	return 2;
}

/*
 * --huge-pages: whether enough huge pages are free for the largest run's
 * buffers (and fio's, which come in a segment per job).  Returns 0, or 2
 * after saying how many to reserve.
 */
static int check_huge_pages(const struct file_opts *o)
{
	uint64_t size, nfree, stride = (o->bs + 4095) & ~(uint64_t)4095;
	uint64_t need = 0, n, total = 0;
	FILE *f;
	int e;

	if (bench_huge_pages(&size, &nfree)) {
		bench_err(SUBJ, "--huge-pages: this kernel has no huge pages "
				"(no Hugepagesize in /proc/meminfo)");
		return 2;
	}
	for (e = 0; e < ENG_COUNT; e++) {
		if (!o->engines[e])
			continue;
		n = e == ENG_SYNC ? o->jobs : (uint64_t)o->qd * o->jobs;
		n = (stride * n + size - 1) / size;
		if (n > need)
			need = n;
		if (o->compare_fio) {
			uint64_t depth = e == ENG_URING ? o->qd : 1;

			/* fio 3.33 took 4 pages for 4 MiB: one spare each. */
			n = o->jobs *
			    ((o->bs * depth + 4096 + size - 1) / size + 1);
			if (n > need)
				need = n;
		}
	}
	if (nfree >= need)
		return 0;
	f = fopen("/proc/sys/vm/nr_hugepages", "r");
	if (!f || fscanf(f, "%" SCNu64, &total) != 1)
		total = 0;
	if (f)
		fclose(f);
	bench_err(SUBJ, "--huge-pages needs %" PRIu64 " free huge pages of "
		  "%" PRIu64 " KiB and %" PRIu64 " are free: reserve them "
		  "first (as root: sysctl -w vm.nr_hugepages=%" PRIu64 ")",
		  need, size >> 10, nfree, total + need - nfree);
	return 2;
}

static int parse(int argc, char **argv, struct file_opts *o,
		 struct bench_common *c)
{
	static const struct option opts[] = {
		{"rw", required_argument, NULL, OPT_RW},
		{"mix", required_argument, NULL, OPT_MIX},
		{"bs", required_argument, NULL, OPT_BS},
		{"qd", required_argument, NULL, OPT_QD},
		{"size", required_argument, NULL, OPT_SIZE},
		{"file", required_argument, NULL, OPT_FILE},
		{"dir", required_argument, NULL, OPT_DIR},
		{"force", no_argument, NULL, OPT_FORCE},
		{"direct", no_argument, NULL, OPT_DIRECT},
		{"engine", required_argument, NULL, OPT_ENGINE},
		{"jobs", required_argument, NULL, OPT_JOBS},
		{"fixed-bufs", no_argument, NULL, OPT_FIXED},
		{"register-files", no_argument, NULL, OPT_REGFILES},
		{"sqpoll", no_argument, NULL, OPT_SQPOLL},
		{"huge-pages", no_argument, NULL, OPT_HUGE},
		{"cached", no_argument, NULL, OPT_CACHED},
		{"drop-cache", no_argument, NULL, OPT_DROP},
		{"compare", required_argument, NULL, OPT_COMPARE},
		{"cpus", required_argument, NULL, OPT_CPUS},
		{"help", no_argument, NULL, 'h'},
		BENCH_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
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
				if (!strcmp(optarg, file_rw_names[i]))
					break;
			if (i > RW_RANDRW)
				return bad("--rw", optarg,
					   "read, write, "
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
				return bad("--size", optarg,
					   "a size such as "
					   "64M or 1G");
			break;
		case OPT_QD:
		case OPT_JOBS:
			if (cli_parse_count(optarg, &n) < 0 ||
			    n > (opt == OPT_QD ? MAX_QD : MAX_JOBS))
				return bad(opt == OPT_QD ? "--qd" : "--jobs",
					   optarg,
					   opt == OPT_QD
						   ? "a count from 1 to 1024"
						   : "a count from 1 to 64");
			if (opt == OPT_QD) {
				o->qd = (unsigned)n;
				qd_set = true;
			} else {
				o->jobs = (unsigned)n;
			}
			break;
		case OPT_FILE:
		case OPT_DIR:
			/*
			 * An empty --dir (an unset variable) would put the
			 * file in /, an empty --file fail obscurely.
			 */
			if (!*optarg) {
				bench_err(SUBJ, "%s needs a %s", opt == OPT_DIR
					  ? "--dir" : "--file", opt == OPT_DIR
					  ? "folder" : "path");
				return 2;
			}
			if (opt == OPT_DIR)
				o->dir = optarg;
			else
				o->file = optarg;
			break;
		case OPT_FORCE:
			o->force = true;
			break;
		case OPT_DIRECT:
			o->direct = true;
			break;
		case OPT_ENGINE:
			ret = parse_engines(o, optarg);
			if (ret)
				return ret;
			break;
		case OPT_FIXED:
			o->fixed_bufs = true;
			break;
		case OPT_REGFILES:
			o->reg_files = true;
			break;
		case OPT_SQPOLL:
			o->sqpoll = true;
			break;
		case OPT_HUGE:
			o->huge_pages = true;
			break;
		case OPT_CACHED:
			o->cached = true;
			break;
		case OPT_DROP:
			o->drop_cache = true;
			break;
		case OPT_COMPARE:
			if (strcmp(optarg, "fio"))
				return bad("--compare", optarg, "fio");
			o->compare_fio = true;
			break;
		case OPT_CPUS:
			if (parse_cpus(optarg, &o->cpu_set) < 0)
				return bad("--cpus", optarg,
					   "CPU numbers and ranges such as 1 "
					   "or 0-3,6");
			o->cpus = optarg;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			ret = bench_common_opt(c, SUBJ, opt, optarg, argv);
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
		bench_err(SUBJ,
			  "--direct needs --bs to be a multiple of 512 "
			  "(of the device's logical block size), not %llu",
			  (unsigned long long)o->bs);
		return 2;
	}
	if (o->size && o->size < o->bs) {
		bench_err(SUBJ,
			  "--size %llu is smaller than one block of "
			  "--bs %llu",
			  (unsigned long long)o->size,
			  (unsigned long long)o->bs);
		return 2;
	}
	if ((o->fixed_bufs || o->reg_files) && o->n_engines == 1 &&
	    o->engines[ENG_SYNC]) {
		bench_err(SUBJ, "--fixed-bufs and --register-files apply to "
				"the uring and threads engines, not sync");
		return 2;
	}
	if (o->sqpoll && !o->engines[ENG_URING]) {
		bench_err(SUBJ, "--sqpoll applies to the uring engine: "
				"add it to --engine");
		return 2;
	}
	if (o->fixed_bufs && o->qd * o->jobs > 1024) {
		bench_err(SUBJ,
			  "--fixed-bufs registers one buffer per "
			  "operation in flight: --qd x --jobs at most 1024");
		return 2;
	}
	/*
	 * A buffer per operation in flight (--qd x --jobs; sync: --jobs),
	 * filled before the run: more than half the machine's memory is a
	 * typo, not a benchmark, and would end in the OOM killer.
	 */
	{
		long pages = sysconf(_SC_PHYS_PAGES);
		long psize = sysconf(_SC_PAGESIZE);
		bool sync_only = o->engines[ENG_SYNC] && o->n_engines == 1;
		uint64_t need = (uint64_t)o->bs * (sync_only ? 1 : o->qd) *
				o->jobs;

		if (pages > 0 && psize > 0 &&
		    need > (uint64_t)pages * (uint64_t)psize / 2) {
			bench_err(SUBJ, "--bs x --qd x --jobs needs %llu MiB "
				  "of buffers, more than half this "
				  "machine's %llu MiB of memory",
				  (unsigned long long)(need >> 20),
				  (unsigned long long)(((uint64_t)pages *
							(uint64_t)psize) >>
						       20));
			return 2;
		}
	}
	if (o->engines[ENG_SYNC] && qd_set && o->qd > 1 && o->n_engines == 1) {
		bench_err(SUBJ, "--engine sync keeps one operation in flight "
				"per thread; use --jobs for more, not --qd");
		return 2;
	}
	if (o->huge_pages && (ret = check_huge_pages(o)))
		return ret;
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

/* ---- runs ---------------------------------------------------------------- */

/*
 * The ring options of a run, shown beside its engine in the table, the
 * report's legends and the JSON "variant": "sqpoll+fixed-bufs+reg-files",
 * or "" for none.
 */
static void file_variant(const struct file_job *j, char *buf, size_t len)
{
	const char *opt[4];
	unsigned n = 0, i;
	size_t at = 0;

	if (j->huge_pages)
		opt[n++] = "huge-pages";
	if (j->sqpoll)
		opt[n++] = "sqpoll";
	if (j->fixed_bufs)
		opt[n++] = "fixed-bufs";
	if (j->reg_files)
		opt[n++] = "reg-files";
	buf[0] = '\0';
	for (i = 0; i < n && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s",
				       i ? "+" : "", opt[i]);
}

static json_object *run_settings(const struct file_opts *o, int engine,
				 const struct file_job *j)
{
	json_object *s = json_object_new_object();

	json_object_object_add(
		s, "engine",
		json_object_new_string(bench_engine_names[engine]));
	json_object_object_add(
		s, "qd", json_object_new_int64(engine == ENG_SYNC ? 1 : j->qd));
	json_object_object_add(s, "jobs", json_object_new_int64(j->jobs));
	json_object_object_add(s, "fixed_bufs",
			       json_object_new_boolean(j->fixed_bufs));
	json_object_object_add(s, "register_files",
			       json_object_new_boolean(j->reg_files));
	json_object_object_add(s, "sqpoll", json_object_new_boolean(j->sqpoll));
	json_object_object_add(s, "huge_pages",
			       json_object_new_boolean(j->huge_pages));
	return s;
}

static json_object *doc_settings(const struct file_opts *o,
				 const struct bench_common *c,
				 const struct data_file *df)
{
	json_object *s = json_object_new_object();

	json_object_object_add(s, "rw",
			       json_object_new_string(file_rw_names[o->rw]));
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
	json_object_object_add(s, "cache",
			       json_object_new_string(o->cached ? "primed"
						      : o->drop_cache
							      ? "dropped"
							      : "as is"));
	json_object_object_add(s, "runtime_s",
			       bench_json_secs(c->runtime));
	json_object_object_add(s, "ops",
			       json_object_new_int64((int64_t)c->ops));
	json_object_object_add(s, "warmup_s",
			       bench_json_secs(c->warmup));
	json_object_object_add(s, "rounds", json_object_new_int64(c->rounds));
	json_object_object_add(s, "compare",
			       o->compare_fio ? json_object_new_string("fio")
					      : NULL);
	json_object_object_add(s, "cpus_allowed",
			       o->cpus ? json_object_new_string(o->cpus) : NULL);
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
	f->rw = file_rw_names[o->rw];
	f->read_pct = file_read_pct(o);
	f->bs = o->bs;
	f->size = df->size;
	f->direct = o->direct;
	f->invalidate = o->drop_cache;
	f->cpus = o->cpus;
	if (o->huge_pages)
		(void)bench_huge_pages(&f->hugepage_size, &(uint64_t){ 0 });
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
		f->sqthread_poll = o->sqpoll;
	} else {
		/*
		 * Blocking threads: psync, one thread per I/O thread.  The
		 * threads engine keeps --qd operations in flight per job,
		 * qd x jobs on its `jobs` threads; psync one per thread.
		 */
		f->ioengine = "psync";
		f->iodepth = 1;
		f->numjobs = o->jobs;
		if (engine == ENG_THREADS && o->qd != 1) {
			p->match = false;
			snprintf(p->why, sizeof(p->why),
				 "threads keeps %u in flight on %u threads; "
				 "psync %u",
				 o->qd * o->jobs, o->jobs, o->jobs);
		}
	}
	/*
	 * Sequential with several jobs: the tool's jobs take their blocks
	 * from one pass over the file; each fio job makes its own pass.
	 */
	if ((o->rw == RW_READ || o->rw == RW_WRITE) && o->jobs > 1 &&
	    p->match) {
		p->match = false;
		snprintf(p->why, sizeof(p->why),
			 "sequential: %u jobs share one pass, fio's make %u",
			 o->jobs, o->jobs);
	}
	/* fio's number_ios is per job: --ops is rounded up to a multiple. */
	if (f->ops && f->ops % f->numjobs && p->match) {
		unsigned long long each =
			(f->ops + f->numjobs - 1) / f->numjobs;

		p->match = false;
		snprintf(p->why, sizeof(p->why),
			 "--ops %llu over %u jobs: fio's do %llu each, %llu "
			 "in all",
			 (unsigned long long)f->ops, f->numjobs, each,
			 each * f->numjobs);
	}
	snprintf(p->fio_engine, sizeof(p->fio_engine), "%s x%u%s", f->ioengine,
		 f->numjobs, f->iodepth > 1 ? " QD" : "");
	if (f->iodepth > 1)
		snprintf(p->fio_engine + strlen(p->fio_engine),
			 sizeof(p->fio_engine) - strlen(p->fio_engine), "%u",
			 f->iodepth);
	if (f->sqthread_poll)
		snprintf(p->fio_engine + strlen(p->fio_engine),
			 sizeof(p->fio_engine) - strlen(p->fio_engine),
			 " SQPOLL");
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

/*
 * The median of the rounds' IOPS in `v` (n of them), leaving out rounds
 * that did not run (negative); 0 when none did.
 */
static double median_iops(const double *v, unsigned n)
{
	double s[100];
	unsigned i, m = 0;

	for (i = 0; i < n && m < 100; i++)
		if (v[i] >= 0)
			s[m++] = v[i];
	if (!m)
		return 0;
	qsort(s, m, sizeof(s[0]), cmp_double);
	return m % 2 ? s[m / 2] : (s[m / 2 - 1] + s[m / 2]) / 2;
}

/*
 * The median of a[i] / b[i] over the rounds where both sides measured
 * something; 0 when none did.  Sorts a scratch copy in `a`.
 */
static double median_ratio(double *a, const double *b, unsigned n)
{
	unsigned i, m = 0;

	for (i = 0; i < n; i++)
		if (a[i] > 0 && b[i] > 0)
			a[m++] = a[i] / b[i];
	if (!m)
		return 0;
	qsort(a, m, sizeof(a[0]), cmp_double);
	return m % 2 ? a[m / 2] : (a[m / 2 - 1] + a[m / 2]) / 2;
}

/* One ringpool run of `engine`; 0, or 1 when the file would not open. */
static int run_engine(const struct file_opts *o, const struct bench_common *c,
		      const struct data_file *df, int engine,
		      struct bench_run *r)
{
	struct file_job j;
	int fd;

	if (file_open_for_run(o, df->path, &fd))
		return 1;
	memset(&j, 0, sizeof(j));
	j.engine = engine;
	j.fd = fd;
	j.seq = o->rw == RW_READ || o->rw == RW_WRITE;
	j.read_pct = file_read_pct(o);
	j.bs = o->bs;
	j.nblocks = df->size / o->bs;
	j.qd = o->qd;
	j.jobs = o->jobs;
	j.fixed_bufs = o->fixed_bufs && engine != ENG_SYNC;
	j.reg_files = o->reg_files && engine != ENG_SYNC;
	j.sqpoll = o->sqpoll && engine == ENG_URING;
	j.huge_pages = o->huge_pages;
	j.runtime = c->ops ? 0 : c->runtime;
	j.warmup = c->warmup;
	j.ops = c->ops;
	j.c = c;
	bench_file_run(&j, r);
	file_variant(&j, r->variant, sizeof(r->variant));
	r->settings = run_settings(o, engine, &j);
	close(fd);
	return 0;
}

/* Keeps the best round of each side of a comparison. */
static void keep_best(struct bench_pair *p, const struct bench_run *r, bool fio)
{
	double *best = fio ? &p->fio_best : &p->rp_best;
	double *mbps = fio ? &p->fio_mbps : &p->rp_mbps;

	if (iops_of(r) <= *best)
		return;
	*best = iops_of(r);
	*mbps = r->secs > 0 ? (double)r->bytes / r->secs / 1e6 : 0;
}

static int run_all(struct file_opts *o, struct bench_common *c,
		   struct data_file *df, struct bench_doc *d)
{
	struct fio_job fj[ENG_COUNT];
	int k, side, sides = o->compare_fio ? 2 : 1, status = 0;
	unsigned round;
	/*
	 * IOPS of each round for the medians and the pairing:
	 * per_round[side][k][round - 1], side 0 ringpool and 1 fio, laid out
	 * flat; -1 for a round that did not run.  A pair's medians come from
	 * its own rounds: threads and sync both compare with psync, whose
	 * runs must not mix.
	 */
	double *per_round = NULL, shortest = FIO_MIN_SECS;
	size_t side_len = (size_t)o->n_engines * c->rounds, i;

	if (o->compare_fio) {
		d->pairs = calloc((size_t)o->n_engines, sizeof(*d->pairs));
		per_round = calloc(2 * side_len, sizeof(*per_round));
		if (!d->pairs || !per_round) {
			free(per_round);
			return 1;
		}
		for (k = 0; k < (int)(2 * side_len); k++)
			per_round[k] = -1;
		d->n_pairs = (size_t)o->n_engines;
		for (k = 0; k < o->n_engines; k++)
			fio_counterpart(o, o->order[k], df, c, &fj[k],
					&d->pairs[k]);
	}
	for (round = 1; round <= c->rounds && !bench_stop; round++) {
		for (k = 0; k < o->n_engines && !bench_stop; k++) {
			/* The side that goes first alternates by round. */
			for (side = 0; side < sides && !bench_stop; side++) {
				bool fio = o->compare_fio &&
					   (side ^ (int)(round % 2 == 0));
				struct bench_run *r = bench_doc_add_run(d);

				if (!r) {
					free(per_round);
					return 1;
				}
				r->round = round;
				if (o->cached || o->drop_cache)
					file_prime(df->path, df->size,
						   o->drop_cache);
				/* ^C while the file was read: no run. */
				if (bench_stop) {
					d->n_runs--;
					break;
				}
				if (fio)
					bench_fio_run(&fj[k], r);
				else if (run_engine(o, c, df, o->order[k], r)) {
					/*
					 * Nothing ran (the file was removed,
					 * say): no row of zeros for it, and
					 * no more runs; what was measured is
					 * still printed.
					 */
					d->n_runs--;
					status = 1;
					goto done;
				}
				if (r->error[0]) {
					bench_err(SUBJ, "%s %s: %s", r->tool,
						  r->engine, r->error);
					status = 1;
				}
				if (fio && !d->pairs[k].fio_command)
					d->pairs[k].fio_command =
						bench_fio_command_line(r);
				if (o->compare_fio) {
					keep_best(&d->pairs[k], r, fio);
					per_round[fio * side_len +
						  (size_t)k * c->rounds +
						  round - 1] = iops_of(r);
				}
			}
		}
	}
done:
	/*
	 * fio gives a job's run time in whole milliseconds: a short run's
	 * rate is off by as much as a millisecond is of it (50 reads in
	 * 0.1 ms count as taking 1 ms).
	 */
	for (i = 0; i < d->n_runs; i++)
		if (!strcmp(d->runs[i].tool, "fio") && d->runs[i].ops &&
		    d->runs[i].secs < shortest)
			shortest = d->runs[i].secs;
	if (shortest < FIO_MIN_SECS)
		bench_err(SUBJ,
			  "note: a fio run took %.0f ms as fio counts, in "
			  "whole milliseconds, so its rates are coarse (a "
			  "millisecond is %.0f%% of it); measure for longer "
			  "(--runtime, or more --ops)",
			  shortest * 1e3,
			  shortest > 0 ? 1e-3 / shortest * 100 : 100.0);
	for (k = 0; k < (int)d->n_pairs; k++) {
		d->pairs[k].rp_median = median_iops(
			per_round + (size_t)k * c->rounds, c->rounds);
		d->pairs[k].fio_median = median_iops(
			per_round + side_len + (size_t)k * c->rounds,
			c->rounds);
		d->pairs[k].paired = median_ratio(
			per_round + (size_t)k * c->rounds,
			per_round + side_len + (size_t)k * c->rounds,
			c->rounds);
	}
	free(per_round);
	return status;
}

int bench_file(int argc, char **argv)
{
	struct file_opts o = {
		.rw = RW_RANDREAD,
		.mix = -1,
		.bs = 4096,
		.qd = 32,
		.jobs = 1,
	};
	struct bench_common c = {.warmup = -1};
	struct data_file df = {.created = false};
	struct bench_doc d = {.subject = SUBJ, .ops_unit = "IOPS"};
	int ret, status;

	o.engines[ENG_URING] = true;
	o.order[0] = ENG_URING;
	o.n_engines = 1;
	ret = parse(argc, argv, &o, &c);
	if (ret)
		return ret < 0 ? 0 : ret;
	if (o.rw == RW_RANDRW && o.mix < 0)
		o.mix = 50;
	/* Before any thread starts: every thread of the run inherits it. */
	if (o.cpus && sched_setaffinity(0, sizeof(o.cpu_set), &o.cpu_set)) {
		bench_err(SUBJ, "--cpus %s: %s (not CPUs this process may use)",
			  o.cpus, strerror(errno));
		return 2;
	}
	/* Signals first: ^C while the file is written removes it too. */
	bench_catch_signals();
	ret = file_prepare(&o, &df);
	if (ret) {
		file_remove(&df);
		/* ^C while the file was written: as any other ^C. */
		return bench_stop ? 130 : ret;
	}
	d.settings = doc_settings(&o, &c, &df);
	status = run_all(&o, &c, &df, &d);
	file_remove(&df);
	d.interrupted = bench_stop != 0;
	if (bench_output(&d, &c))
		status = 1;
	bench_doc_release(&d);
	if (bench_stop)
		return 130;
	return status;
}
