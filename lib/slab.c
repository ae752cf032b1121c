/* SPDX-License-Identifier: MIT */
/*
 * Future allocation without malloc on the hot path.
 *
 * Futures are carved from 64-byte-aligned chunks owned by the executor.  Each
 * thread keeps a small magazine of free futures for the executor it used
 * last, so that allocating and freeing are a few plain stores; magazines
 * trade batches with the executor's depot under slab_lock.
 *
 * Lifetime: a future may outlive rp_executor_free(), so the chunks (and the
 * executor struct, which holds the depot) are freed only when the handle has
 * been released *and* every future carved is back in the depot.  Futures in
 * a magazine count as out: a magazine flushes when its thread switches
 * executor, when the thread exits (a pthread key destructor), and for the
 * freeing thread inside rp_executor_free().
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CHUNK_FUTURES 256
#define MAG_MAX 128
#define MAG_BATCH 64

static _Thread_local struct rp__magazine mag;
static pthread_key_t mag_key;
static pthread_once_t mag_once = PTHREAD_ONCE_INIT;

static void mag_destructor(void *unused)
{
	(void)unused;
	rp__magazine_flush();
}

static void mag_key_init(void)
{
	/* Without the key a thread's magazine is only flushed on switch. */
	(void)pthread_key_create(&mag_key, mag_destructor);
}

/* Under slab_lock: true when the executor's memory may be freed now. */
static bool slab_idle_locked(const rp_executor *ex)
{
	return ex->handle_released && ex->depot_count == ex->slab_total;
}

/* Returns a list of `n` futures to the depot; may free the executor. */
static void depot_put(rp_executor *ex, rp_future *first, rp_future *last,
		      size_t n)
{
	bool idle;

	pthread_mutex_lock(&ex->slab_lock);
	atomic_store_explicit(&last->next, ex->depot, memory_order_relaxed);
	ex->depot = first;
	ex->depot_count += n;
	idle = slab_idle_locked(ex);
	pthread_mutex_unlock(&ex->slab_lock);
	if (idle)
		rp__executor_destroy(ex);
}

void rp__magazine_flush(void)
{
	rp_executor *ex = mag.ex;
	rp_future *first = mag.head, *last;
	size_t n = mag.count;

	mag.ex = NULL;
	mag.head = NULL;
	mag.count = 0;
	if (!ex)
		return;
	if (!first) {
		/* No futures out: nothing pins the executor via this thread. */
		return;
	}
	for (last = first; atomic_load_explicit(&last->next,
			memory_order_relaxed); )
		last = atomic_load_explicit(&last->next, memory_order_relaxed);
	depot_put(ex, first, last, n);
}

/* Under slab_lock: carves a new chunk into the depot. */
static int grow_locked(rp_executor *ex)
{
	rp_future *chunk;
	size_t i;

	if (ex->n_chunks == ex->cap_chunks) {
		size_t cap = ex->cap_chunks ? ex->cap_chunks * 2 : 16;
		void **c = realloc(ex->chunks, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		ex->chunks = c;
		ex->cap_chunks = cap;
	}
	chunk = aligned_alloc(RP_CACHELINE, CHUNK_FUTURES * sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	ex->chunks[ex->n_chunks++] = chunk;
	for (i = 0; i < CHUNK_FUTURES; i++) {
		atomic_store_explicit(&chunk[i].next,
			i + 1 < CHUNK_FUTURES ? &chunk[i + 1] : ex->depot,
			memory_order_relaxed);
	}
	ex->depot = chunk;
	ex->depot_count += CHUNK_FUTURES;
	ex->slab_total += CHUNK_FUTURES;
	return 0;
}

/* Refills this thread's (empty) magazine from ex's depot. */
static int mag_refill(rp_executor *ex)
{
	rp_future *first, *last;
	size_t n;

	pthread_mutex_lock(&ex->slab_lock);
	if (ex->depot_count == 0 && grow_locked(ex) < 0) {
		pthread_mutex_unlock(&ex->slab_lock);
		return -ENOMEM;
	}
	first = last = ex->depot;
	for (n = 1; n < MAG_BATCH && n < ex->depot_count; n++)
		last = atomic_load_explicit(&last->next, memory_order_relaxed);
	ex->depot = atomic_load_explicit(&last->next, memory_order_relaxed);
	ex->depot_count -= n;
	pthread_mutex_unlock(&ex->slab_lock);

	atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
	mag.head = first;
	mag.count = n;
	return 0;
}

rp_future *rp__future_alloc(rp_executor *ex)
{
	rp_future *f;

	if (mag.ex != ex) {
		rp__magazine_flush();
		pthread_once(&mag_once, mag_key_init);
		/* Any non-NULL value makes the destructor run at exit. */
		pthread_setspecific(mag_key, &mag);
		mag.ex = ex;
	}
	if (!mag.head && mag_refill(ex) < 0)
		return NULL;
	f = mag.head;
	mag.head = atomic_load_explicit(&f->next, memory_order_relaxed);
	mag.count--;
	return f;
}

void rp__future_release(rp_future *f)
{
	rp_executor *ex = f->ex;
	rp_future *first, *last;
	uint32_t i;

	if (mag.ex != ex) {
		/* Another executor's future: straight back to its depot. */
		atomic_store_explicit(&f->next, NULL, memory_order_relaxed);
		depot_put(ex, f, f, 1);
		return;
	}
	atomic_store_explicit(&f->next, mag.head, memory_order_relaxed);
	mag.head = f;
	if (++mag.count < MAG_MAX)
		return;
	/* Full: hand the older half back so other threads can use it. */
	first = mag.head;
	for (i = 1, last = first; i < MAG_BATCH; i++)
		last = atomic_load_explicit(&last->next, memory_order_relaxed);
	mag.head = atomic_load_explicit(&last->next, memory_order_relaxed);
	mag.count -= MAG_BATCH;
	atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
	depot_put(ex, first, last, MAG_BATCH);
}

void rp__slab_release_handle(rp_executor *ex)
{
	bool idle;

	if (mag.ex == ex)
		rp__magazine_flush();
	pthread_mutex_lock(&ex->slab_lock);
	ex->handle_released = true;
	idle = slab_idle_locked(ex);
	pthread_mutex_unlock(&ex->slab_lock);
	if (idle)
		rp__executor_destroy(ex);
}

void rp__slab_destroy(rp_executor *ex)
{
	size_t i;

	for (i = 0; i < ex->n_chunks; i++)
		free(ex->chunks[i]);
	free(ex->chunks);
	ex->chunks = NULL;
	ex->n_chunks = 0;
}
