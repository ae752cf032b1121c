/* SPDX-License-Identifier: MIT */
/*
 * bench-fileio: file read throughput through ringpool, the counterpart of an
 * fio job.
 *
 * --qd slots each keep one rp_read() in flight on --file: random --bs-aligned
 * offsets (xorshift64*, one generator per slot) or, with --seq, consecutive
 * blocks taken from one shared cursor that wraps at the end of the file.
 * Each read's done-callback checks the result, counts it and queues the
 * slot's next read, so no thread of the benchmark takes part: with io_uring
 * the callbacks run on the ring's thread, with the fallback (--backend
 * threads) on the blocking-I/O threads.  The main thread only sleeps.
 *
 * The clock: every slot's count is read (relaxed loads of counters each
 * written by one slot) after --ramp seconds and again --runtime seconds
 * later; IOPS = completions in between / elapsed time.  Then the slots stop
 * resubmitting and the in-flight reads drain.  The last line of output is
 *
 *   fileio iops=N mbps=N ops=N secs=S cpu_pct=P backend=NAME
 *
 * for bench/io/run.sh to parse; MB/s are 10^6 bytes, as fio's "bw" / 1000.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ringpool.h"

#define MAX_QD		4096U
#define MAX_BS		(64U << 20)

struct opts {
	const char *file;
	unsigned qd;
	unsigned bs;
	double runtime;
	double ramp;
	bool direct;
	bool seq;
	bool fixed;		/* registered file and buffers */
	int backend;
	unsigned threads;	/* io_threads; 0 = library default */
	unsigned rings;		/* 0 = library default */
	unsigned entries;	/* ring_entries; 0 = library default */
	long spin_ns;		/* -1 = library default */
};

/* One chain of reads; only one of its reads is in flight at a time. */
struct slot {
	_Atomic uint64_t done;	/* reads completed (written by one chain) */
	uint64_t rng;
	void *buf;
	struct slot *next_pending;
} __attribute__((aligned(64)));

static struct opts o = {
	.qd = 32,
	.bs = 4096,
	.runtime = 5.0,
	.ramp = 0.5,
	.backend = RP_BACKEND_URING,
	.spin_ns = -1,
};

static rp_executor *ex;
static int fd;
static int op_fd;			/* fd, or 0 (its index) with --fixed */
static uint64_t nblocks;		/* whole --bs blocks in the file */
static struct slot *slots;
static atomic_bool stopping;
static atomic_uint active;		/* chains still running */
static _Atomic uint64_t seq_cursor;
static _Atomic uint64_t short_reads;
static _Atomic int first_error;
static sem_t drained;

/* Recursion guard of the callback: see on_done(). */
static _Thread_local unsigned cb_depth;
static _Thread_local struct slot *pending_head;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						     noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench-fileio: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static void sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static inline uint64_t xorshift64s(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static int64_t next_offset(struct slot *s)
{
	uint64_t blk;

	if (o.seq)
		blk = atomic_fetch_add_explicit(&seq_cursor, 1,
						memory_order_relaxed) % nblocks;
	else
		blk = xorshift64s(&s->rng) % nblocks;
	return (int64_t)(blk * o.bs);
}

static void set_error(int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&first_error, &zero, err);
	atomic_store(&stopping, true);
}

static void chain_end(void)
{
	if (atomic_fetch_sub(&active, 1) == 1)
		sem_post(&drained);
}

static void on_done(rp_future *f, void *arg);

/* Queues the slot's next read, or ends its chain. */
static void issue(struct slot *s)
{
	rp_future *f;
	int ret;

	if (atomic_load_explicit(&stopping, memory_order_relaxed)) {
		chain_end();
		return;
	}
	if (o.fixed) {
		struct rp_io_opts io = {
			.flags = RP_IO_FIXED_FILE | RP_IO_FIXED_BUF,
			.buf_index = (unsigned)(s - slots),
		};

		ret = rp_read(ex, op_fd, s->buf, o.bs, next_offset(s), &io,
			      &f);
	} else {
		ret = rp_read(ex, op_fd, s->buf, o.bs, next_offset(s), NULL,
			      &f);
	}
	if (ret < 0) {
		set_error(ret);
		chain_end();
		return;
	}
	ret = rp_future_add_done_callback(f, on_done, s);
	rp_future_unref(f);	/* the executor keeps its own until done */
	if (ret < 0) {
		/* The read goes on without us; its buffer is never freed. */
		set_error(ret);
		chain_end();
	}
}

/*
 * A read ended: count it and queue the next.  If the next read ends before
 * its callback is registered, rp_future_add_done_callback() runs this on the
 * spot, inside issue(); such nested calls only park their slot on a list of
 * this thread, which the outermost call works off, so the stack stays flat.
 */
static void on_done(rp_future *f, void *arg)
{
	struct slot *s = arg;
	int64_t value = 0;
	int err = 0, ret;

	ret = rp_future_result(f, 0, &value, &err);
	if (ret < 0 || err < 0) {
		set_error(ret < 0 ? ret : err);
		chain_end();
		return;
	}
	if (value != (int64_t)o.bs)
		atomic_fetch_add_explicit(&short_reads, 1,
					  memory_order_relaxed);
	atomic_store_explicit(&s->done,
			      atomic_load_explicit(&s->done,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);

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

static uint64_t total_done(void)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < o.qd; i++)
		sum += atomic_load_explicit(&slots[i].done,
					    memory_order_relaxed);
	return sum;
}

static unsigned long parse_ul(const char *what, const char *s,
			      unsigned long min, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s)
		die("--%s: not a number: '%s'", what, s);
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (*end || v < min || v > max)
		die("--%s: '%s' is not in [%lu, %lu]", what, s, min, max);
	return v;
}

static double parse_secs(const char *what, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 3600)
		die("--%s: '%s' is not a number of seconds in [0, 3600]",
		    what, s);
	return v;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-fileio --file PATH [--qd N] [--bs N[k|m]] [--runtime S]\n"
		"                    [--ramp S] [--direct] [--seq] [--fixed]\n"
		"                    [--backend uring|threads] [--threads N]\n"
		"                    [--rings N] [--ring-entries N] [--spin-ns N]\n"
		"  --qd N          reads kept in flight (default 32)\n"
		"  --bs N          bytes per read, offsets aligned to it (default 4096)\n"
		"  --runtime S     measured seconds (default 5)\n"
		"  --ramp S        unmeasured seconds before (default 0.5)\n"
		"  --direct        open with O_DIRECT (buffers are 4096-aligned anyway)\n"
		"  --seq           consecutive blocks instead of random ones\n"
		"  --fixed         register the file and the buffers (rp_register_files,\n"
		"                  rp_register_buffers; RP_IO_FIXED_FILE | RP_IO_FIXED_BUF)\n"
		"  --backend B     uring (default) or threads (the blocking fallback)\n"
		"  --threads N     io_threads of the executor (the fallback's pool)\n"
		"  --rings N, --ring-entries N, --spin-ns N: rp_config fields\n");
}

static void parse_args(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "qd", required_argument, NULL, 'q' },
		{ "bs", required_argument, NULL, 'b' },
		{ "runtime", required_argument, NULL, 't' },
		{ "ramp", required_argument, NULL, 'r' },
		{ "direct", no_argument, NULL, 'd' },
		{ "seq", no_argument, NULL, 's' },
		{ "fixed", no_argument, NULL, 'F' },
		{ "backend", required_argument, NULL, 'B' },
		{ "threads", required_argument, NULL, 'T' },
		{ "rings", required_argument, NULL, 'R' },
		{ "ring-entries", required_argument, NULL, 'E' },
		{ "spin-ns", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o.file = optarg;
			break;
		case 'q':
			o.qd = (unsigned)parse_ul("qd", optarg, 1, MAX_QD);
			break;
		case 'b':
			o.bs = (unsigned)parse_ul("bs", optarg, 1, MAX_BS);
			break;
		case 't':
			o.runtime = parse_secs("runtime", optarg);
			break;
		case 'r':
			o.ramp = parse_secs("ramp", optarg);
			break;
		case 'd':
			o.direct = true;
			break;
		case 's':
			o.seq = true;
			break;
		case 'F':
			o.fixed = true;
			break;
		case 'B':
			if (!strcmp(optarg, "uring") ||
			    !strcmp(optarg, "io_uring"))
				o.backend = RP_BACKEND_URING;
			else if (!strcmp(optarg, "threads"))
				o.backend = RP_BACKEND_THREADS;
			else
				die("--backend: 'uring' or 'threads', not '%s'",
				    optarg);
			break;
		case 'T':
			o.threads = (unsigned)parse_ul("threads", optarg, 1,
						       1024);
			break;
		case 'R':
			o.rings = (unsigned)parse_ul("rings", optarg, 1, 64);
			break;
		case 'E':
			o.entries = (unsigned)parse_ul("ring-entries", optarg,
						       1, 32768);
			break;
		case 'S':
			o.spin_ns = (long)parse_ul("spin-ns", optarg, 0,
						   UINT32_MAX);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	if (!o.file)
		die("--file is required");
	if (o.runtime <= 0)
		die("--runtime must be more than 0");
	if (o.direct && o.bs % 512)
		die("--direct needs --bs a multiple of 512");
	if (o.fixed && o.qd > 1024)
		die("--fixed registers one buffer per slot: at most 1024");
}

int main(int argc, char **argv)
{
	struct rp_config cfg;
	const char *why = NULL;
	uint64_t ops0, ops1;
	double t0, t1, c0, c1, iops, mbps;
	struct stat st;
	int backend, ret;
	unsigned i;

	parse_args(argc, argv);

	fd = open(o.file, O_RDONLY | O_CLOEXEC | (o.direct ? O_DIRECT : 0));
	if (fd < 0)
		die("open %s: %s", o.file, strerror(errno));
	if (fstat(fd, &st))
		die("fstat %s: %s", o.file, strerror(errno));
	nblocks = (uint64_t)st.st_size / o.bs;
	if (nblocks == 0)
		die("%s is smaller than one block of %u bytes", o.file, o.bs);

	slots = aligned_alloc(64, o.qd * sizeof(*slots));
	if (!slots)
		die("out of memory");
	memset(slots, 0, o.qd * sizeof(*slots));
	for (i = 0; i < o.qd; i++) {
		if (posix_memalign(&slots[i].buf, 4096, o.bs))
			die("out of memory");
		memset(slots[i].buf, 0, o.bs);
		slots[i].rng = 0x9E3779B97F4A7C15ULL * (i + 1) ^
			       (uint64_t)getpid() << 32;
		if (!slots[i].rng)
			slots[i].rng = 1;
	}
	if (sem_init(&drained, 0, 0))
		die("sem_init: %s", strerror(errno));

	rp_config_init(&cfg);
	cfg.backend = o.backend;
	if (o.threads)
		cfg.io_threads = o.threads;
	if (o.rings)
		cfg.rings = o.rings;
	if (o.entries)
		cfg.ring_entries = o.entries;
	if (o.spin_ns >= 0)
		cfg.spin_ns = (uint32_t)o.spin_ns;
	/* The CPU pool is not used; keep it from taking a core. */
	cfg.workers = 1;
	ret = rp_executor_new(&cfg, &ex);
	if (ret < 0)
		die("rp_executor_new: %s", strerror(-ret));
	rp_executor_backend(ex, &backend, &why);
	if (backend != o.backend)
		die("asked for backend %d, got %d (%s)", o.backend, backend,
		    why ? why : "?");

	op_fd = fd;
	if (o.fixed) {
		struct iovec *iov = calloc(o.qd, sizeof(*iov));

		if (!iov)
			die("out of memory");
		for (i = 0; i < o.qd; i++) {
			iov[i].iov_base = slots[i].buf;
			iov[i].iov_len = o.bs;
		}
		ret = rp_register_files(ex, &fd, 1);
		if (ret < 0)
			die("rp_register_files: %s", strerror(-ret));
		ret = rp_register_buffers(ex, iov, o.qd);
		if (ret < 0)
			die("rp_register_buffers: %s", strerror(-ret));
		free(iov);	/* the registration copied it */
		op_fd = 0;	/* index 0 of the table */
	}

	printf("ringpool %s: %s, %s %s reads of %u B, qd %u%s, file %s "
	       "(%" PRIu64 " blocks)\n",
	       rp_version(),
	       backend == RP_BACKEND_URING ? "io_uring" : "threads",
	       o.direct ? "O_DIRECT" : "buffered",
	       o.seq ? "sequential" : "random", o.bs, o.qd,
	       o.fixed ? ", registered file and buffers" : "", o.file,
	       nblocks);
	if (backend == RP_BACKEND_THREADS)
		printf("  io_threads %u\n", o.threads ? o.threads : 16);
	fflush(stdout);

	atomic_store(&active, o.qd);
	/* From a callback-free thread: no nesting guard needed here. */
	for (i = 0; i < o.qd; i++)
		issue(&slots[i]);

	sleep_s(o.ramp);
	ops0 = total_done();
	t0 = now_s();
	c0 = cpu_s();
	sleep_s(o.runtime);
	ops1 = total_done();
	t1 = now_s();
	c1 = cpu_s();
	atomic_store(&stopping, true);
	while (sem_wait(&drained) && errno == EINTR)
		;

	ret = atomic_load(&first_error);
	if (ret)
		die("read failed: %s", strerror(-ret));
	if (atomic_load(&short_reads))
		die("%" PRIu64 " short reads (is the file shorter than it "
		    "was?)", (uint64_t)atomic_load(&short_reads));

	iops = (double)(ops1 - ops0) / (t1 - t0);
	mbps = iops * o.bs / 1e6;
	printf("  %" PRIu64 " reads in %.3f s: %.0f IOPS, %.1f MB/s, "
	       "CPU %.0f%% of one core\n",
	       ops1 - ops0, t1 - t0, iops, mbps, 100 * (c1 - c0) / (t1 - t0));
	printf("fileio iops=%.0f mbps=%.1f ops=%" PRIu64 " secs=%.3f "
	       "cpu_pct=%.0f backend=%s\n",
	       iops, mbps, ops1 - ops0, t1 - t0, 100 * (c1 - c0) / (t1 - t0),
	       backend == RP_BACKEND_URING ? "io_uring" : "threads");

	ret = rp_executor_free(ex);
	if (ret < 0)
		die("rp_executor_free: %s", strerror(-ret));
	for (i = 0; i < o.qd; i++)
		free(slots[i].buf);
	free(slots);
	close(fd);
	return 0;
}
