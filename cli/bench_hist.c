/* SPDX-License-Identifier: MIT */
/*
 * The latency histogram, the throughput series and the bookkeeping of runs
 * and documents that every `ringpool bench` subject shares.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

const double bench_pcts[BENCH_NPCT] = {50, 90, 99, 99.9, 100};
const char *const bench_pct_names[BENCH_NPCT] = {
	"p50", "p90", "p99", "p99.9", "max",
};

void bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	unsigned i;

	if (!src->n)
		return;
	for (i = 0; i < BH_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	if (!dst->n || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->sum += src->sum;
	dst->n += src->n;
}

uint64_t bench_hist_bucket_lo(unsigned i)
{
	unsigned j, shift;

	if (i < (1u << BH_SUB_BITS))
		return i;
	j = i - (1u << BH_SUB_BITS);
	shift = j / BH_HALF + 1;
	return (uint64_t)(j % BH_HALF + BH_HALF) << shift;
}

uint64_t bench_hist_bucket_hi(unsigned i)
{
	unsigned j, shift;

	if (i < (1u << BH_SUB_BITS))
		return i;
	j = i - (1u << BH_SUB_BITS);
	shift = j / BH_HALF + 1;
	return ((uint64_t)(j % BH_HALF + BH_HALF + 1) << shift) - 1;
}

uint64_t bench_hist_percentile(const struct bench_hist *h, double p)
{
	uint64_t rank, seen = 0, v;
	unsigned i;

	if (!h->n)
		return 0;
	if (p >= 100)
		return h->max;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->n);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < BH_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank)
			break;
	}
	v = bench_hist_bucket_hi(i);
	if (v > h->max)
		v = h->max;
	if (v < h->min)
		v = h->min;
	return v;
}

int bench_series_push(struct bench_series *s, uint64_t ops)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		uint64_t *p = realloc(s->ops, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->ops = p;
		s->cap = cap;
	}
	s->ops[s->n++] = ops;
	return 0;
}

void bench_run_finish(struct bench_run *r)
{
	unsigned i;

	if (!r->lat)
		return;
	for (i = 0; i < BENCH_NPCT; i++)
		r->pct_ns[i] = bench_hist_percentile(r->lat, bench_pcts[i]);
	r->mean_ns = r->lat->n ? r->lat->sum / (double)r->lat->n : 0;
}

void bench_run_release(struct bench_run *r)
{
	free(r->lat);
	free(r->series.ops);
	json_object_put(r->settings);
	memset(r, 0, sizeof(*r));
}

struct bench_run *bench_doc_add_run(struct bench_doc *d)
{
	struct bench_run *r;

	if (d->n_runs == d->cap_runs) {
		size_t cap = d->cap_runs ? 2 * d->cap_runs : 8;
		struct bench_run *p = realloc(d->runs, cap * sizeof(*p));

		if (!p)
			return NULL;
		d->runs = p;
		d->cap_runs = cap;
	}
	r = &d->runs[d->n_runs++];
	memset(r, 0, sizeof(*r));
	return r;
}

void bench_doc_release(struct bench_doc *d)
{
	size_t i;

	for (i = 0; i < d->n_runs; i++)
		bench_run_release(&d->runs[i]);
	free(d->runs);
	for (i = 0; i < d->n_pairs; i++)
		free(d->pairs[i].fio_command);
	free(d->pairs);
	json_object_put(d->settings);
	memset(d, 0, sizeof(*d));
}
