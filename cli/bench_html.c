/* SPDX-License-Identifier: MIT */
/*
 * `--report FILE.html`: one self-contained page (inline CSS and SVG, no
 * script, nothing fetched) with the settings, the results, throughput over
 * time per run and the latency distribution of each run.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ringpool.h"
#include "bench.h"

#define W 860
#define H 320
#define ML 70 /* margins */
#define MR 170
#define MT 20
#define MB 45

static const char *const colors[] = {
	"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
};
#define NCOLORS (sizeof(colors) / sizeof(colors[0]))

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static void run_label(FILE *f, const struct bench_run *r)
{
	fprintf(f, "%s %s%s%s #%u", r->tool, r->engine,
		r->variant[0] ? " " : "", r->variant, r->round);
}

/* A "nice" step for about `n` ticks over [0, max]. */
static double nice_step(double max, int n)
{
	double raw = max / n, p = pow(10, floor(log10(raw))), m = raw / p;

	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* 1234567 -> "1.23M": axis labels a reader takes in at a glance. */
static void fmt_si(char *buf, size_t len, double v)
{
	if (v >= 1e6)
		snprintf(buf, len, "%gM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%gk", v / 1e3);
	else
		snprintf(buf, len, "%g", v);
}

static void svg_open(FILE *f, const char *title)
{
	fprintf(f,
		"<h2>%s</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
		"width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n"
		"<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
		title, W, H, W, H, W, H);
}

/*
 * A run's line: its colour, dashed from the eleventh run on, so that a run
 * looks the same in both charts and no two of the first twenty look alike.
 */
static void stroke(FILE *f, size_t run)
{
	fprintf(f, "stroke=\"%s\"%s", colors[run % NCOLORS],
		run / NCOLORS % 2 ? " stroke-dasharray=\"6,3\"" : "");
}

/*
 * Entry `k` of `n` in a chart's legend, for the run at index `run`: the
 * entries share the plot's height, so that all of them stay on the page.
 */
static void legend(FILE *f, unsigned k, unsigned n, size_t run,
		   const struct bench_run *r)
{
	double step = n ? (double)(H - MT - 10) / n : 18;
	double y;

	if (step > 18)
		step = 18;
	y = MT + 10 + step * k;
	fprintf(f,
		"<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
		"stroke-width=\"3\" ",
		W - MR + 10, W - MR + 26, y - 4, y - 4);
	stroke(f, run);
	fprintf(f, "/><text x=\"%d\" y=\"%.1f\" font-size=\"%.0f\">",
		W - MR + 30, y, step < 13 ? step - 1 : 12);
	run_label(f, r);
	fputs("</text>\n", f);
}

/*
 * The length of a run's intervals in the chart: the series' own, or for a
 * run shorter than one (a short --ops run, whose one interval holds all of
 * it) the run's, so that its rate is the one the table gives.
 */
static double interval_of(const struct bench_run *r)
{
	const struct bench_series *s = &r->series;

	if (s->n == 1 && r->secs > 0 && r->secs < s->interval_s)
		return r->secs;
	return s->interval_s;
}

static void throughput_chart(FILE *f, const struct bench_doc *d)
{
	double tmax = 0, ymax = 0, step, v, iv;
	unsigned k = 0, n = 0;
	size_t i, t;

	for (i = 0; i < d->n_runs; i++) {
		const struct bench_series *s = &d->runs[i].series;

		iv = interval_of(&d->runs[i]);
		for (t = 0; t < s->n; t++) {
			v = (double)s->ops[t] / iv;
			if (v > ymax)
				ymax = v;
		}
		if (s->n * iv > tmax)
			tmax = (double)s->n * iv;
	}
	svg_open(f, "Throughput over time");
	if (tmax <= 0 || ymax <= 0) {
		fputs("<text x=\"20\" y=\"40\">no series: no run reported "
		      "throughput over time</text></svg>\n",
		      f);
		return;
	}
	ymax *= 1.1;
	fprintf(f, "<g stroke=\"#ccc\">");
	step = nice_step(ymax, 5);
	for (v = 0; v <= ymax; v += step)
		fprintf(f,
			"<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>",
			ML, W - MR, H - MB - v / ymax * (H - MT - MB),
			H - MB - v / ymax * (H - MT - MB));
	fputs("</g>\n", f);
	for (v = 0; v <= ymax; v += step) {
		char label[32];

		fmt_si(label, sizeof(label), v);
		fprintf(f,
			"<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">"
			"%s</text>\n",
			ML - 6, H - MB - v / ymax * (H - MT - MB) + 4, label);
	}
	step = nice_step(tmax, 8);
	for (v = 0; v <= tmax + 1e-9; v += step)
		fprintf(f,
			"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">"
			"%.3g</text>\n",
			ML + v / tmax * (W - ML - MR), H - MB + 16, v);
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">seconds "
		"into the measured window</text>\n",
		(ML + W - MR) / 2, H - 8);
	fprintf(f,
		"<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" "
		"text-anchor=\"middle\">%s</text>\n",
		H / 2, H / 2, d->ops_unit ? d->ops_unit : "ops/s");
	for (i = 0; i < d->n_runs; i++)
		if (d->runs[i].series.n)
			n++;
	for (i = 0; i < d->n_runs; i++) {
		const struct bench_run *r = &d->runs[i];
		const struct bench_series *s = &r->series;

		if (!s->n)
			continue;
		fputs("<polyline fill=\"none\" stroke-width=\"1.5\" ", f);
		stroke(f, i);
		fputs(" points=\"", f);
		iv = interval_of(r);
		/* One interval is a level line across it, not a dot. */
		if (s->n == 1)
			fprintf(f, "%d,%.1f ", ML,
				H - MB -
					(double)s->ops[0] / iv / ymax *
						(H - MT - MB));
		for (t = 0; t < s->n; t++)
			fprintf(f, "%.1f,%.1f ",
				ML + ((double)t + (s->n == 1 ? 1 : 0.5)) * iv /
						tmax * (W - ML - MR),
				H - MB -
					(double)s->ops[t] / iv / ymax *
						(H - MT - MB));
		fputs("\"/>\n", f);
		legend(f, k++, n, i, r);
	}
	fprintf(f,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
		"fill=\"none\" stroke=\"#000\"/></svg>\n",
		ML, MT, W - ML - MR, H - MT - MB);
}

/*
 * The latency distribution as a percentile curve: x is the percentile on
 * a log scale of 1/(1-p) (50%, 90%, 99%, 99.9%...), y the latency on a log
 * scale.  Runs with a histogram draw every bucket; fio runs their points.
 */
#define XDEC 5.0 /* decades on x: up to 99.999% */

static double px(double pct)
{
	double q = 1 - pct / 100;

	if (q < 1e-5)
		q = 1e-5;
	return ML + -log10(q) / XDEC * (W - ML - MR);
}

/*
 * Whether run `r` has a latency to draw: bench tasks' throughput run
 * counts tasks but times none of them.
 */
static bool has_latency(const struct bench_run *r)
{
	return r->ops && (r->lat ? r->lat->n > 0 : r->pct_ns[BENCH_NPCT - 1]);
}

static void latency_chart(FILE *f, const struct bench_doc *d)
{
	double lo = 1e30, hi = 0, v, ly0, ly1;
	unsigned k = 0, n = 0, b, p;
	size_t i;
	static const char *const xt[] = {"0%",	  "90%",    "99%",
					 "99.9%", "99.99%", "99.999%"};

	for (i = 0; i < d->n_runs; i++) {
		const struct bench_run *r = &d->runs[i];

		if (!r->ops)
			continue;
		if (r->pct_ns[0] && r->pct_ns[0] < lo)
			lo = (double)r->pct_ns[0];
		if (r->lat && r->lat->min && r->lat->min < lo)
			lo = (double)r->lat->min;
		if (r->pct_ns[BENCH_NPCT - 1] > hi)
			hi = (double)r->pct_ns[BENCH_NPCT - 1];
	}
	svg_open(f, "Latency distribution (percentile curve)");
	if (hi <= 0) {
		fputs("<text x=\"20\" y=\"40\">no latency samples</text>"
		      "</svg>\n",
		      f);
		return;
	}
	if (lo < 1)
		lo = 1;
	ly0 = floor(log10(lo / 1e3));
	ly1 = ceil(log10(hi / 1e3));
	if (ly1 <= ly0)
		ly1 = ly0 + 1;
#define PY(ns)                                                                 \
	(H - MB - (log10((ns) / 1e3) - ly0) / (ly1 - ly0) * (H - MT - MB))
	fputs("<g stroke=\"#ccc\">", f);
	for (v = ly0; v <= ly1; v++)
		fprintf(f,
			"<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" "
			"y2=\"%.1f\"/>",
			ML, W - MR, PY(pow(10, v) * 1e3), PY(pow(10, v) * 1e3));
	for (p = 0; p <= XDEC; p++)
		fprintf(f,
			"<line y1=\"%d\" y2=\"%d\" x1=\"%.1f\" "
			"x2=\"%.1f\"/>",
			MT, H - MB, ML + p / XDEC * (W - ML - MR),
			ML + p / XDEC * (W - ML - MR));
	fputs("</g>\n", f);
	for (v = ly0; v <= ly1; v++)
		fprintf(f,
			"<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">"
			"%g us</text>\n",
			ML - 6, PY(pow(10, v) * 1e3) + 4, pow(10, v));
	for (p = 0; p <= XDEC; p++)
		fprintf(f,
			"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">"
			"%s</text>\n",
			ML + p / XDEC * (W - ML - MR), H - MB + 16, xt[p]);
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">"
		"percentile of operations (latency from issue to completion)"
		"</text>\n",
		(ML + W - MR) / 2, H - 8);
	for (i = 0; i < d->n_runs; i++)
		if (has_latency(&d->runs[i]))
			n++;
	for (i = 0; i < d->n_runs; i++) {
		const struct bench_run *r = &d->runs[i];
		const char *col = colors[i % NCOLORS];

		if (!has_latency(r))
			continue;
		if (r->lat && r->lat->n) {
			uint64_t seen = 0;

			fputs("<polyline fill=\"none\" stroke-width=\"1.5\" ",
			      f);
			stroke(f, i);
			fputs(" points=\"", f);
			for (b = 0; b < BH_BUCKETS; b++) {
				uint64_t top;

				if (!r->lat->counts[b])
					continue;
				top = bench_hist_bucket_hi(b);
				if (top > r->lat->max)
					top = r->lat->max;
				if (!top)
					top = 1;
				fprintf(f, "%.1f,%.1f ",
					px(100.0 * (double)seen /
					   (double)r->lat->n),
					PY((double)top));
				seen += r->lat->counts[b];
				fprintf(f, "%.1f,%.1f ",
					px(100.0 * (double)seen /
					   (double)r->lat->n),
					PY((double)top));
			}
			fputs("\"/>\n", f);
		}
		for (p = 0; p < BENCH_NPCT - 1; p++)
			if (r->pct_ns[p])
				fprintf(f,
					"<circle cx=\"%.1f\" cy=\"%.1f\" "
					"r=\"3\" fill=\"%s\"/>",
					px(bench_pcts[p]),
					PY((double)r->pct_ns[p]), col);
		fputc('\n', f);
		legend(f, k++, n, i, r);
	}
#undef PY
	fprintf(f,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
		"fill=\"none\" stroke=\"#000\"/></svg>\n",
		ML, MT, W - ML - MR, H - MT - MB);
}

static void results_table(FILE *f, const struct bench_doc *d)
{
	size_t i, said;

	fprintf(f,
		"<h2>Results</h2>\n<table><tr><th>run</th><th>backend"
		"</th><th>%s</th><th>MB/s</th><th>ops</th><th>user s</th>"
		"<th>sys s</th><th>CPU us/op</th><th>p50 us</th><th>p90 us"
		"</th><th>p99 us</th><th>p99.9 us</th><th>max us</th></tr>\n",
		d->ops_unit ? d->ops_unit : "ops/s");
	for (i = 0; i < d->n_runs; i++) {
		const struct bench_run *r = &d->runs[i];
		double s = r->secs > 0 ? r->secs : 1;

		fputs("<tr><td>", f);
		run_label(f, r);
		fprintf(f,
			"</td><td>%s</td><td>%.0f</td><td>%.1f</td>"
			"<td>%llu</td><td>%.3f</td><td>%.3f</td><td>%.2f</td>"
			"<td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td>"
			"<td>%.1f</td></tr>\n",
			r->backend, (double)r->ops / s,
			(double)r->bytes / s / 1e6, (unsigned long long)r->ops,
			r->user_s, r->sys_s,
			r->ops ? (r->user_s + r->sys_s) * 1e6 / (double)r->ops
			       : 0,
			r->pct_ns[0] / 1e3, r->pct_ns[1] / 1e3,
			r->pct_ns[2] / 1e3, r->pct_ns[3] / 1e3,
			r->pct_ns[4] / 1e3);
		if (r->error[0]) {
			fputs("<tr><td colspan=\"13\">error: ", f);
			esc(f, r->error);
			fputs("</td></tr>\n", f);
		}
	}
	fputs("</table>\n", f);
	if (!d->n_pairs)
		return;
	fputs("<h2>Against fio (best round of each side)</h2>\n<table><tr>"
	      "<th>engine</th><th>ringpool</th><th>fio job</th><th>fio</th>"
	      "<th>ratio</th><th>median</th><th>paired</th>"
	      "<th>semantics</th></tr>\n",
	      f);
	for (i = 0; i < d->n_pairs; i++) {
		const struct bench_pair *p = &d->pairs[i];
		char fig[BENCH_PAIR_FIGURES][24];

		bench_pair_figures(p, fig);
		fprintf(f,
			"<tr><td>%s</td><td>%s</td><td>%s</td>"
			"<td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
			"<td>",
			p->engine, fig[0], p->fio_engine, fig[2], fig[4],
			fig[5], fig[6]);
		esc(f, p->match ? "match" : p->why);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
	for (i = 0, said = 0; i < d->n_pairs; i++) {
		if (!d->pairs[i].fio_command)
			continue;
		if (!said++)
			fputs("<p>The fio job of each engine, as "
			      "run:</p>\n<ul>\n",
			      f);
		fprintf(f, "<li>%s: <code>", d->pairs[i].engine);
		esc(f, d->pairs[i].fio_command);
		fputs("</code></li>\n", f);
	}
	if (said)
		fputs("</ul>\n", f);
}

int bench_report_html(const struct bench_doc *d, FILE *f)
{
	fprintf(f,
		"<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
		"charset=\"utf-8\"><title>ringpool bench %s</title>\n"
		"<style>body{font-family:sans-serif;margin:24px;color:#222}"
		"table{border-collapse:collapse;font-size:13px}"
		"td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
		"th{background:#f0f0f0}td:first-child{text-align:left}"
		"h2{font-size:17px;margin-top:26px}</style></head><body>\n"
		"<h1>ringpool bench %s</h1>\n<p>ringpool %s</p>\n",
		d->subject, d->subject, rp_version());
	results_table(f, d);
	throughput_chart(f, d);
	latency_chart(f, d);
	fputs("<h2>Settings</h2>\n<table>\n", f);
	json_object_object_foreach(d->settings, key, val)
	{
		fputs("<tr><td>", f);
		esc(f, key);
		fputs("</td><td style=\"text-align:left\">", f);
		esc(f, val ? (json_object_is_type(val, json_type_string)
				      ? json_object_get_string(val)
				      : json_object_to_json_string_ext(
						val, JSON_C_TO_STRING_PLAIN))
			   : "-");
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
	if (d->interrupted)
		fputs("<p>Interrupted: the figures cover what ran before "
		      "^C.</p>\n",
		      f);
	fputs("</body></html>\n", f);
	return ferror(f) ? -EIO : 0;
}
