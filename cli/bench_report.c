/* SPDX-License-Identifier: MIT */
/*
 * The outputs of `ringpool bench`: the table on stdout and the JSON
 * document (json-c).  The HTML page is in bench_html.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringpool.h"
#include "bench.h"

static double iops(const struct bench_run *r)
{
	return r->secs > 0 ? (double)r->ops / r->secs : 0;
}

static double mbps(const struct bench_run *r)
{
	return r->secs > 0 ? (double)r->bytes / r->secs / 1e6 : 0;
}

static double cpu_per_op_us(const struct bench_run *r)
{
	return r->ops ? (r->user_s + r->sys_s) * 1e6 / (double)r->ops : 0;
}

static json_object *run_json(const struct bench_run *r)
{
	json_object *o = json_object_new_object(), *cpu, *lat, *ser, *arr;
	unsigned i;

	json_object_object_add(o, "tool", json_object_new_string(r->tool));
	json_object_object_add(o, "engine", json_object_new_string(r->engine));
	json_object_object_add(
		o, "variant",
		r->variant[0] ? json_object_new_string(r->variant) : NULL);
	json_object_object_add(o, "backend",
			       json_object_new_string(r->backend));
	json_object_object_add(o, "round", json_object_new_int64(r->round));
	json_object_object_add(o, "ops",
			       json_object_new_int64((int64_t)r->ops));
	json_object_object_add(o, "ops_issued",
			       json_object_new_int64((int64_t)r->ops_issued));
	json_object_object_add(o, "short_or_failed",
			       json_object_new_int64((int64_t)r->errors));
	json_object_object_add(o, "bytes",
			       json_object_new_int64((int64_t)r->bytes));
	json_object_object_add(o, "seconds", json_object_new_double(r->secs));
	json_object_object_add(o, "iops", json_object_new_double(iops(r)));
	json_object_object_add(o, "mb_per_s", json_object_new_double(mbps(r)));
	cpu = json_object_new_object();
	json_object_object_add(cpu, "user_s",
			       json_object_new_double(r->user_s));
	json_object_object_add(cpu, "sys_s", json_object_new_double(r->sys_s));
	json_object_object_add(cpu, "per_op_us",
			       json_object_new_double(cpu_per_op_us(r)));
	json_object_object_add(o, "cpu", r->have_cpu ? cpu : NULL);
	if (!r->have_cpu)
		json_object_put(cpu);
	lat = json_object_new_object();
	for (i = 0; i < BENCH_NPCT; i++)
		json_object_object_add(
			lat, bench_pct_names[i],
			json_object_new_double((double)r->pct_ns[i] / 1e3));
	json_object_object_add(lat, "mean",
			       json_object_new_double(r->mean_ns / 1e3));
	json_object_object_add(
		lat, "samples",
		json_object_new_int64((int64_t)(r->lat ? r->lat->n : r->ops)));
	json_object_object_add(o, "latency_us", lat);
	if (r->series.interval_s > 0) {
		ser = json_object_new_object();
		json_object_object_add(
			ser, "interval_s",
			json_object_new_double(r->series.interval_s));
		arr = json_object_new_array();
		for (i = 0; i < r->series.n; i++)
			json_object_array_add(
				arr, json_object_new_int64(
					     (int64_t)r->series.ops[i]));
		json_object_object_add(ser, "ops", arr);
		json_object_object_add(o, "series", ser);
	} else {
		/* fio's runs: no series, but every run has the key. */
		json_object_object_add(o, "series", NULL);
	}
	json_object_object_add(o, "interrupted",
			       json_object_new_boolean(r->interrupted));
	json_object_object_add(o, "error",
			       r->error[0] ? json_object_new_string(r->error)
					   : NULL);
	json_object_object_add(o, "settings", json_object_get(r->settings));
	return o;
}

/* `v` as a JSON number when `ok`, else null (NULL). */
static json_object *num_if(double v, bool ok)
{
	return ok ? json_object_new_double(v) : NULL;
}

/* `v` with `decimals` into buf[24] when `ok`, else "-". */
static void fmt_if(char *buf, int decimals, double v, bool ok)
{
	if (ok)
		snprintf(buf, 24, "%.*f", decimals, v);
	else
		snprintf(buf, 24, "-");
}

json_object *bench_doc_json(const struct bench_doc *d)
{
	json_object *o = json_object_new_object(), *runs, *cmp;
	size_t i;

	json_object_object_add(o, "tool", json_object_new_string("ringpool"));
	json_object_object_add(o, "version",
			       json_object_new_string(rp_version()));
	json_object_object_add(o, "subject",
			       json_object_new_string(d->subject));
	json_object_object_add(o, "settings", json_object_get(d->settings));
	json_object_object_add(o, "interrupted",
			       json_object_new_boolean(d->interrupted));
	runs = json_object_new_array();
	for (i = 0; i < d->n_runs; i++)
		json_object_array_add(runs, run_json(&d->runs[i]));
	json_object_object_add(o, "runs", runs);
	if (!d->n_pairs)
		return o;
	cmp = json_object_new_array();
	for (i = 0; i < d->n_pairs; i++) {
		const struct bench_pair *p = &d->pairs[i];
		json_object *c = json_object_new_object();

		json_object_object_add(c, "engine",
				       json_object_new_string(p->engine));
		json_object_object_add(c, "fio_job",
				       json_object_new_string(p->fio_engine));
		json_object_object_add(c, "semantics_match",
				       json_object_new_boolean(p->match));
		json_object_object_add(
			c, "why",
			p->why[0] ? json_object_new_string(p->why) : NULL);
		bool rp = p->rp_best > 0, fio = p->fio_best > 0;

		/* A side that measured nothing (^C) has no figures: null. */
		json_object_object_add(c, "ringpool_iops",
				       num_if(p->rp_best, rp));
		json_object_object_add(c, "fio_iops", num_if(p->fio_best, fio));
		json_object_object_add(c, "ringpool_mb_per_s",
				       num_if(p->rp_mbps, rp));
		json_object_object_add(c, "fio_mb_per_s",
				       num_if(p->fio_mbps, fio));
		json_object_object_add(
			c, "ratio",
			num_if(fio ? p->rp_best / p->fio_best : 0, rp && fio));
		json_object_object_add(c, "ringpool_median_iops",
				       num_if(p->rp_median, rp));
		json_object_object_add(c, "fio_median_iops",
				       num_if(p->fio_median, fio));
		json_object_object_add(
			c, "ratio_median",
			num_if(p->fio_median > 0 ? p->rp_median / p->fio_median
						 : 0,
			       rp && fio && p->fio_median > 0));
		json_object_object_add(c, "ratio_paired",
				       num_if(p->paired, p->paired > 0));
		json_object_object_add(
			c, "fio_command",
			p->fio_command ? json_object_new_string(p->fio_command)
				       : NULL);
		json_object_array_add(cmp, c);
	}
	json_object_object_add(o, "compare", cmp);
	return o;
}

void bench_pair_figures(const struct bench_pair *p,
			char f[BENCH_PAIR_FIGURES][24])
{
	bool rp = p->rp_best > 0, fio = p->fio_best > 0;

	fmt_if(f[0], 0, p->rp_best, rp);
	fmt_if(f[1], 1, p->rp_mbps, rp);
	fmt_if(f[2], 0, p->fio_best, fio);
	fmt_if(f[3], 1, p->fio_mbps, fio);
	fmt_if(f[4], 2, fio ? p->rp_best / p->fio_best : 0, rp && fio);
	fmt_if(f[5], 2, p->fio_median > 0 ? p->rp_median / p->fio_median : 0,
	       rp && fio && p->fio_median > 0);
	fmt_if(f[6], 2, p->paired, p->paired > 0);
}

static void print_settings(FILE *out, const struct bench_doc *d)
{
	json_object_object_foreach(d->settings, key, val)
	{
		if (!val)
			continue;
		fprintf(out, "%-14s %s\n", key,
			json_object_is_type(val, json_type_string)
				? json_object_get_string(val)
				: json_object_to_json_string_ext(
					  val, JSON_C_TO_STRING_PLAIN));
	}
}

/* "engine variant", as the table's engine column shows a run. */
static void engine_label(const struct bench_run *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", r->engine, r->variant[0] ? " " : "",
		 r->variant);
}

static void print_table(FILE *out, const struct bench_doc *d)
{
	const char *unit = d->ops_unit ? d->ops_unit : "ops/s";
	int ew = 16, fw = 16;	/* engine and fio job columns: the widest */
	unsigned said = 0; /* fio command lines printed */
	char eng[72];
	size_t i;

	for (i = 0; i < d->n_runs; i++) {
		engine_label(&d->runs[i], eng, sizeof(eng));
		if ((int)strlen(eng) > ew)
			ew = (int)strlen(eng);
	}
	for (i = 0; i < d->n_pairs; i++)
		if ((int)strlen(d->pairs[i].fio_engine) > fw)
			fw = (int)strlen(d->pairs[i].fio_engine);
	fprintf(out, "ringpool bench %s (ringpool %s)\n", d->subject,
		rp_version());
	print_settings(out, d);
	fprintf(out,
		"\n%-8s %-*s %-15s %2s %11s %9s %8s %7s %7s %8s %8s %8s "
		"%8s %9s\n",
		"tool", ew, "engine", "backend", "#", unit, "MB/s", "ops",
		"user s", "sys s", "CPU us/op", "p50 us", "p90 us", "p99 us",
		"p99.9 us");
	for (i = 0; i < d->n_runs; i++) {
		const struct bench_run *r = &d->runs[i];
		char mb[16], lat[64];

		engine_label(r, eng, sizeof(eng));
		/* A run that moves no bytes or times no operation shows "-". */
		if (r->bytes)
			snprintf(mb, sizeof(mb), "%.1f", mbps(r));
		else
			snprintf(mb, sizeof(mb), "-");
		if (r->pct_ns[4] > 0)
			snprintf(lat, sizeof(lat),
				 "%8.1f %8.1f %8.1f %9.1f  max %.1f",
				 r->pct_ns[0] / 1e3, r->pct_ns[1] / 1e3,
				 r->pct_ns[2] / 1e3, r->pct_ns[3] / 1e3,
				 r->pct_ns[4] / 1e3);
		else
			snprintf(lat, sizeof(lat), "%8s %8s %8s %9s", "-",
				 "-", "-", "-");
		fprintf(out,
			"%-8s %-*s %-15s %2u %11.0f %9s %8llu %7.3f "
			"%7.3f %8.2f %s%s%s\n",
			r->tool, ew, eng, r->backend, r->round, iops(r), mb,
			(unsigned long long)r->ops, r->user_s, r->sys_s,
			cpu_per_op_us(r), lat,
			r->interrupted ? " (interrupted)" : "",
			r->error[0] ? " ERROR" : "");
		if (r->error[0])
			fprintf(out, "         error: %s\n", r->error);
	}
	if (d->n_pairs) {
		fprintf(out, "\n--compare fio (IOPS of the best round of each "
			     "side; ratio of the best rounds, of the medians, "
			     "and the median of each round's own ratio)\n");
		fprintf(out, "%-8s %12s %9s   %-*s %12s %9s %7s %7s %7s  %s\n",
			"engine", "ringpool", "MB/s", fw, "fio job", "fio", "MB/s",
			"ratio", "median", "paired", "semantics");
		for (i = 0; i < d->n_pairs; i++) {
			const struct bench_pair *p = &d->pairs[i];
			char f[BENCH_PAIR_FIGURES][24];

			bench_pair_figures(p, f);
			fprintf(out,
				"%-8s %12s %9s   %-*s %12s %9s %7s %7s %7s  "
				"%s%s\n",
				p->engine, f[0], f[1], fw, p->fio_engine, f[2],
				f[3], f[4], f[5], f[6],
				p->match ? "match" : "differ: ", p->why);
		}
		for (i = 0; i < d->n_pairs; i++) {
			if (!d->pairs[i].fio_command)
				continue;
			if (!said++)
				fprintf(out, "\nthe fio job of each engine, as "
					     "run:\n");
			fprintf(out, "%-8s %s\n", d->pairs[i].engine,
				d->pairs[i].fio_command);
		}
	}
	if (d->interrupted)
		fprintf(out, "\ninterrupted: the figures cover what ran "
			     "before ^C\n");
}

int bench_report_check(const char *path)
{
	char copy[PATH_MAX];
	struct stat st;

	if (!strcmp(path, "-"))
		return 0;
	if (strlen(path) >= sizeof(copy))
		return -ENAMETOOLONG;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return -EISDIR;
	strcpy(copy, path);
	/* dirname() of "page.html" is ".". */
	return access(dirname(copy), W_OK | X_OK) ? -errno : 0;
}

/*
 * The page goes to PATH.PID.tmp beside PATH and is renamed over PATH once
 * written and closed, so a full disk or a failed write leaves no half page
 * and no earlier report under PATH truncated.
 */
static int write_report(const struct bench_doc *d, const char *path)
{
	char tmp[PATH_MAX + 32];
	FILE *f;
	int fd, ret;

	if (!strcmp(path, "-")) {
		ret = bench_report_html(d, stdout);
		return fflush(stdout) ? -errno : ret;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path,
		     (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		ret = -errno;
		close(fd);
		unlink(tmp);
		return ret;
	}
	ret = bench_report_html(d, f);
	if (fflush(f) && !ret)
		ret = -errno;
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

/*
 * Whether everything printed on stdout reached it: a full disk or a closed
 * descriptor under `> results.json` must not pass for a run that was
 * recorded.  Returns 0, or 1 after saying why.
 */
static int check_stdout(const char *subject)
{
	int err;

	errno = 0;
	if (!fflush(stdout) && !ferror(stdout))
		return 0;
	err = errno ? errno : EIO;
	fprintf(stderr, "ringpool bench %s: cannot write the results to "
		"stdout: %s\n", subject, strerror(err));
	return 1;
}

int bench_output(const struct bench_doc *d, const struct bench_common *c)
{
	/* With the page on stdout (--report -), the table goes to stderr. */
	bool page_out = c->report && !strcmp(c->report, "-");
	int ret, status;

	if (c->json) {
		json_object *o = bench_doc_json(d);

		fputs(json_object_to_json_string_ext(
			      o, JSON_C_TO_STRING_PRETTY |
					 JSON_C_TO_STRING_SPACED |
					 JSON_C_TO_STRING_NOSLASHESCAPE),
		      stdout);
		fputc('\n', stdout);
		json_object_put(o);
	} else {
		print_table(page_out ? stderr : stdout, d);
	}
	/* The report is still written when stdout failed: it is a copy. */
	status = page_out ? 0 : check_stdout(d->subject);
	if (!c->report)
		return status;
	ret = write_report(d, c->report);
	if (ret < 0) {
		fprintf(stderr,
			"ringpool bench %s: cannot write the report "
			"%s: %s\n",
			d->subject, page_out ? "to stdout" : c->report,
			strerror(-ret));
		return 1;
	}
	if (!c->json && !page_out) {
		printf("report: %s\n", c->report);
		if (!status)
			status = check_stdout(d->subject);
	}
	return status;
}
