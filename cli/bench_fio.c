/* SPDX-License-Identifier: MIT */
/*
 * fio as the reference of `ringpool bench file --compare fio`: the
 * equivalent job is run as a child process and its JSON output read with
 * json-c into the same result as a ringpool run.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MAX_ARGS 40

bool bench_fio_available(void)
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("fio", "fio", "--version", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * Runs argv, collecting its stdout in a malloc'ed string.  A ^C of this
 * process (bench_stop) is passed on to the child: on a terminal it gets
 * the same signal, but not from `kill -INT` or `timeout -s INT`, and it
 * would otherwise run its whole --runtime first.
 */
static int run_capture(char **argv, char **out)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	int pfd[2], status;
	bool told = false;
	pid_t pid;
	ssize_t n;

	if (!buf || pipe(pfd)) {
		free(buf);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		free(buf);
		return -errno;
	}
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		if (len + 1 == cap) {
			char *p = realloc(buf, cap * 2);

			if (!p)
				break;
			buf = p;
			cap *= 2;
		}
		if (bench_stop && !told) {
			/* fio stops and still reports what it measured. */
			kill(pid, SIGINT);
			told = true;
		}
		/* Waits in steps, so a ^C between two looks is not missed. */
		if (!told && poll(&(struct pollfd){.fd = pfd[0],
						   .events = POLLIN},
				  1, 100) <= 0)
			continue;
		n = read(pfd[0], buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*out = buf;
	if (!WIFEXITED(status))
		return -EINTR;
	return WEXITSTATUS(status) == 127 ? -ENOENT
	       : WEXITSTATUS(status)	  ? -EIO
					  : 0;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static double num(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v ? json_object_get_double(v) : 0;
}

/*
 * Adds one direction's (read or write) figures to r; `lat_key` names the
 * latency fio measured the way the engine does (see bench_fio_run()).
 */
static void add_dir(struct bench_run *r, json_object *d, const char *lat_key,
		    uint64_t pct_w[], uint64_t ops_before)
{
	static const char *const keys[BENCH_NPCT - 1] = {
		"50.000000",
		"90.000000",
		"99.000000",
		"99.900000",
	};
	json_object *lat = get(d, lat_key), *pct = get(lat, "percentile");
	uint64_t ios = (uint64_t)num(d, "total_ios");
	unsigned i;

	r->ops += ios;
	r->bytes += (uint64_t)num(d, "io_bytes");
	if (num(d, "runtime") / 1000.0 > r->secs)
		r->secs = num(d, "runtime") / 1000.0;
	if (!ios)
		return;
	/* Mixed jobs: the larger of the two directions' percentiles. */
	for (i = 0; i < BENCH_NPCT - 1; i++) {
		uint64_t v = (uint64_t)num(pct, keys[i]);

		if (v > pct_w[i])
			pct_w[i] = v;
	}
	if ((uint64_t)num(lat, "max") > pct_w[BENCH_NPCT - 1])
		pct_w[BENCH_NPCT - 1] = (uint64_t)num(lat, "max");
	r->mean_ns = (r->mean_ns * (double)ops_before +
		      num(lat, "mean") * (double)ios) /
		     (double)(ops_before + ios);
}

int bench_fio_run(const struct fio_job *f, struct bench_run *r)
{
	char a[MAX_ARGS][160];
	/* The path whole, each ':' (fio's separator of files) escaped. */
	char fname[2 * PATH_MAX + 16];
	char *argv[MAX_ARGS + 1];
	bool too_long = false;
	size_t at;
	char *out = NULL, *start;
	json_object *doc, *job, *cmd;
	bool uring = !strcmp(f->ioengine, "io_uring");
	const char *lat_key = uring ? "lat_ns" : "clat_ns";
	unsigned n = 0, i;
	int ret;

#define ARG(...)                                                               \
	do {                                                                   \
		if (snprintf(a[n], sizeof(a[0]), __VA_ARGS__) >=               \
		    (int)sizeof(a[0]))                                         \
			too_long = true;                                       \
		argv[n] = a[n];                                                \
		n++;                                                           \
	} while (0)
	ARG("fio");
	ARG("--name=ringpool-compare");
	at = (size_t)snprintf(fname, sizeof(fname), "--filename=");
	for (i = 0; f->path[i] && at + 2 < sizeof(fname); i++) {
		if (f->path[i] == ':')
			fname[at++] = '\\';
		fname[at++] = f->path[i];
	}
	fname[at] = '\0';
	argv[n++] = fname;
	ARG("--rw=%s", f->rw);
	/* Also at 0 and 100: fio's own default is 50. */
	if (!strcmp(f->rw, "randrw"))
		ARG("--rwmixread=%u", f->read_pct);
	ARG("--bs=%llu", (unsigned long long)f->bs);
	ARG("--size=%llu", (unsigned long long)f->size);
	ARG("--direct=%d", f->direct);
	ARG("--invalidate=%d", f->invalidate);
	ARG("--ioengine=%s", f->ioengine);
	ARG("--numjobs=%u", f->numjobs);
	ARG("--thread");
	ARG("--group_reporting");
	if (f->cpus)
		ARG("--cpus_allowed=%s", f->cpus);
	/*
	 * The latency fio measures as the engine does, and only that one:
	 * uring times an operation from just before it is queued, which is
	 * fio's total latency ("lat", submission included), so its
	 * percentiles are asked for.  sync times the pread() alone, which is
	 * fio's completion latency ("clat", percentiles by default); fio's
	 * total latency of a psync job would add the time fio spends
	 * preparing each I/O, a third clock read and a second set of
	 * statistics per I/O that nothing here reads, so it is turned off.
	 */
	if (uring)
		ARG("--lat_percentiles=1");
	else
		ARG("--disable_lat=1");
	/*
	 * Page-aligned buffers, as the engines' (aligned_alloc(4096)): fio
	 * aligns them by default only for O_DIRECT, and its buffered psync
	 * buffer otherwise starts mid-page, so each 4 KiB read would be
	 * copied across two pages where the engine's is copied into one.
	 */
	ARG("--iomem_align=4096");
	if (f->hugepage_size) {
		/* Huge pages as the engines' MAP_HUGETLB buffers. */
		ARG("--iomem=shmhuge");
		ARG("--hugepage-size=%llu",
		    (unsigned long long)f->hugepage_size);
	}
	ARG("--randrepeat=0");
	/* Uniformly random blocks, as the engines pick them: no coverage map.
	 */
	ARG("--norandommap");
	if (uring) {
		unsigned batch = f->iodepth < 16 ? f->iodepth : 16;

		ARG("--iodepth=%u", f->iodepth);
		/* fio's fastest io_uring settings (bench/io/README.md). */
		ARG("--iodepth_batch_submit=%u", batch);
		ARG("--iodepth_batch_complete_max=%u", batch);
		ARG("--fixedbufs=%d", f->fixedbufs);
		ARG("--registerfiles=%d", f->registerfiles);
		if (f->sqthread_poll)
			ARG("--sqthread_poll=1");
	}
	if (f->ops) {
		/*
		 * Operations per job, counted from the end of the warm-up as
		 * the engines count them: a size (io_size) counts the I/O of
		 * fio's ramp too, and with --warmup fio measured fewer
		 * operations than --ops.  number_ios only stops a job, so
		 * io_size is set past anything a run reaches (past --size fio
		 * wraps, as the engines do).  fio still ends a job that
		 * reaches number_ios within its ramp; see below.
		 */
		ARG("--number_ios=%llu",
		    (unsigned long long)((f->ops + f->numjobs - 1) /
					 f->numjobs));
		ARG("--io_size=1P");
	} else {
		ARG("--time_based");
		ARG("--runtime=%.0fms", f->runtime * 1000);
	}
	if (f->warmup > 0)
		ARG("--ramp_time=%.0fms", f->warmup * 1000);
	ARG("--output-format=json");
#undef ARG
	argv[n] = NULL;

	snprintf(r->tool, sizeof(r->tool), "fio");
	snprintf(r->engine, sizeof(r->engine), "%s", f->ioengine);
	snprintf(r->backend, sizeof(r->backend), "fio");
	r->settings = json_object_new_object();
	cmd = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(cmd, json_object_new_string(argv[i]));
	json_object_object_add(r->settings, "command", cmd);
	json_object_object_add(r->settings, "iodepth",
			       json_object_new_int64(f->iodepth));
	json_object_object_add(r->settings, "numjobs",
			       json_object_new_int64(f->numjobs));

	if (too_long) {
		snprintf(r->error, sizeof(r->error),
			 "an option of the fio job is too long to pass on");
		return -ENAMETOOLONG;
	}
	ret = run_capture(argv, &out);
	start = out ? strchr(out, '{') : NULL;
	doc = start ? json_tokener_parse(start) : NULL;
	job = json_object_is_type(get(doc, "jobs"), json_type_array)
		      ? json_object_array_get_idx(get(doc, "jobs"), 0)
		      : NULL;
	if (!job && bench_stop) {
		/*
		 * ^C before fio had a job to report (it was starting): the
		 * run is empty and marked so, not an error.
		 */
		r->interrupted = true;
		json_object_put(doc);
		free(out);
		return -EINTR;
	}
	if (!job) {
		snprintf(r->error, sizeof(r->error), "fio %s",
			 ret == -ENOENT ? "is not installed"
					: "failed (run the command in "
					  "the JSON settings to see why)");
		json_object_put(doc);
		free(out);
		return ret < 0 ? ret : -EIO;
	}
	/*
	 * A job that did all its --ops within its ramp reports them with no
	 * latency measured: nothing of it is comparable.  (One stopped by
	 * ^C within its ramp looks the same, and is told as interrupted.)
	 */
	if (f->ops && !bench_stop && !num(job, "error") &&
	    num(get(job, "read"), "total_ios") +
			    num(get(job, "write"), "total_ios") > 0 &&
	    num(get(get(job, "read"), lat_key), "N") +
			    num(get(get(job, "write"), lat_key), "N") == 0) {
		snprintf(r->error, sizeof(r->error),
			 "fio did all %llu operations within its warm-up "
			 "and measured none: raise --ops or lower --warmup",
			 (unsigned long long)f->ops);
		json_object_put(doc);
		free(out);
		return -EIO;
	}
	if (num(job, "error"))
		snprintf(r->error, sizeof(r->error), "fio job error %d: %s",
			 (int)num(job, "error"),
			 strerror((int)num(job, "error")));
	add_dir(r, get(job, "read"), lat_key, r->pct_ns, 0);
	add_dir(r, get(job, "write"), lat_key, r->pct_ns, r->ops);
	r->ops_issued = r->ops;
	/* usr_cpu and sys_cpu: percent of the run, the mean over the jobs. */
	r->user_s = num(job, "usr_cpu") / 100 * r->secs * f->numjobs;
	r->sys_s = num(job, "sys_cpu") / 100 * r->secs * f->numjobs;
	r->have_cpu = true;
	r->interrupted = bench_stop != 0;
	json_object_put(doc);
	free(out);
	return 0;
}

/* Whether `arg` reaches fio unchanged when a shell reads it unquoted. */
static bool shell_plain(const char *arg)
{
	if (!*arg)
		return false;
	for (; *arg; arg++)
		if (!isalnum((unsigned char)*arg) &&
		    !strchr("_-=+,./:%@", *arg))
			return false;
	return true;
}

char *bench_fio_command_line(const struct bench_run *r)
{
	json_object *cmd = get(r->settings, "command");
	char *buf = NULL;
	size_t len = 0, i, n;
	const char *arg;
	FILE *f;

	if (!json_object_is_type(cmd, json_type_array))
		return NULL;
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	n = json_object_array_length(cmd);
	for (i = 0; i < n; i++) {
		arg = json_object_get_string(json_object_array_get_idx(cmd, i));
		if (i)
			fputc(' ', f);
		if (shell_plain(arg)) {
			fputs(arg, f);
			continue;
		}
		/* '...', each ' in it as '\'' */
		fputc('\'', f);
		for (; *arg; arg++)
			if (*arg == '\'')
				fputs("'\\''", f);
			else
				fputc(*arg, f);
		fputc('\'', f);
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
