/* SPDX-License-Identifier: MIT */
/*
 * rp_map: results in input order from a bounded window of chunk tasks.
 *
 * The window is a ring of `max_inflight` slots; each slot is one future that
 * runs `fn` over `chunk_size` consecutive inputs and stores per-input values
 * and errors in the slot's part of one preallocated array.  Results are taken
 * from the oldest slot; when it is used up its future is released and the
 * slot is refilled with the next chunk.  Memory is therefore
 * O(max_inflight * chunk_size) whatever the input count.
 */
#include <stdlib.h>

#include "internal.h"

struct slot {
	rp_map *m;
	rp_future *f;
	size_t first, count;
	int64_t *values;
	int *errors;
};

struct rp_map {
	rp_executor *ex;
	rp_task_fn fn;
	const char *inputs;
	size_t elem_size, n;
	size_t chunk, max_inflight;
	struct slot *slots;
	size_t head, inflight;		/* ring of slots in use */
	size_t next_submit;		/* first input not yet submitted */
	size_t next_result;		/* next input to yield */
	size_t pos;			/* position inside the head slot */
	int submit_error;
	int64_t *values;
	int *errors;
};

static int run_chunk(void *arg, int64_t *unused)
{
	struct slot *s = arg;
	const rp_map *m = s->m;
	size_t i;

	(void)unused;
	for (i = 0; i < s->count; i++) {
		s->values[i] = 0;
		s->errors[i] = m->fn((void *)(m->inputs +
				     (s->first + i) * m->elem_size),
				     &s->values[i]);
	}
	return 0;
}

/* Submits chunks until the window is full; keeps the first error. */
static int refill(rp_map *m)
{
	struct slot *s;
	int ret;

	while (m->inflight < m->max_inflight && m->next_submit < m->n &&
	       m->submit_error == 0) {
		s = &m->slots[(m->head + m->inflight) % m->max_inflight];
		s->first = m->next_submit;
		s->count = m->n - m->next_submit < m->chunk ?
			   m->n - m->next_submit : m->chunk;
		ret = rp_submit(m->ex, run_chunk, s, &s->f);
		if (ret < 0) {
			m->submit_error = ret;
			return ret;
		}
		m->next_submit += s->count;
		m->inflight++;
	}
	return 0;
}

int rp_map_new(rp_executor *ex, rp_task_fn fn, const void *inputs,
	       size_t elem_size, size_t n, const struct rp_map_opts *opts,
	       rp_map **out)
{
	size_t chunk = opts && opts->chunk_size ? opts->chunk_size : 1;
	size_t inflight, chunks, i;
	rp_map *m;
	int ret;

	if (!ex || !fn || !out || (n > 0 && !inputs) || elem_size == 0)
		return -EINVAL;
	inflight = opts && opts->max_inflight ? opts->max_inflight :
		   2 * (size_t)ex->n_workers;
	/*
	 * A chunk never holds more than the inputs: the arrays below are
	 * sized by it, and a chunk size far over `n` (Python takes any) made
	 * the call fail -ENOMEM, or -EINVAL, for a handful of inputs.
	 */
	if (n > 0 && chunk > n)
		chunk = n;
	chunks = n / chunk + (n % chunk != 0);
	if (inflight > chunks)
		inflight = chunks ? chunks : 1;
	if (chunk > SIZE_MAX / sizeof(int64_t) / inflight)
		return -EINVAL;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->ex = ex;
	m->fn = fn;
	m->inputs = inputs;
	m->elem_size = elem_size;
	m->n = n;
	m->chunk = chunk;
	m->max_inflight = inflight;
	m->slots = calloc(inflight, sizeof(*m->slots));
	m->values = malloc(inflight * chunk * sizeof(*m->values));
	m->errors = malloc(inflight * chunk * sizeof(*m->errors));
	if (!m->slots || !m->values || !m->errors) {
		rp_map_free(m);
		return -ENOMEM;
	}
	for (i = 0; i < inflight; i++) {
		m->slots[i].m = m;
		m->slots[i].values = m->values + i * chunk;
		m->slots[i].errors = m->errors + i * chunk;
	}
	ret = refill(m);
	if (ret < 0 && m->inflight == 0) {
		rp_map_free(m);
		return ret;
	}
	*out = m;
	return 0;
}

int rp_map_next(rp_map *m, int64_t timeout_ns, int64_t *value, int *error)
{
	struct slot *s;
	int ret;

	if (!m)
		return -EINVAL;
	if (m->next_result == m->n)
		return -ENODATA;
	if (m->inflight == 0)
		return m->submit_error ? m->submit_error : -EIO;
	s = &m->slots[m->head];
	ret = rp_future_result(s->f, timeout_ns, NULL, NULL);
	if (ret == -ETIMEDOUT)
		return ret;
	if (ret == 0) {
		if (value)
			*value = s->values[m->pos];
		if (error)
			*error = s->errors[m->pos];
	}
	m->pos++;
	m->next_result++;
	if (m->pos == s->count) {
		rp_future_unref(s->f);
		s->f = NULL;
		m->head = (m->head + 1) % m->max_inflight;
		m->inflight--;
		m->pos = 0;
		(void)refill(m);
	}
	return ret;
}

void rp_map_free(rp_map *m)
{
	struct slot *s;
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->inflight; i++) {
		s = &m->slots[(m->head + i) % m->max_inflight];
		(void)rp_future_cancel(s->f);
	}
	for (i = 0; i < m->inflight; i++) {
		s = &m->slots[(m->head + i) % m->max_inflight];
		/* A running chunk reads the inputs and writes our arrays. */
		(void)rp_future_result(s->f, RP_FOREVER, NULL, NULL);
		rp_future_unref(s->f);
	}
	free(m->slots);
	free(m->values);
	free(m->errors);
	free(m);
}
