/* SPDX-License-Identifier: MIT */
/*
 * Future allocation without malloc on the hot path.
 *
 * Futures are carved from 64-byte-aligned chunks owned by the executor, in
 * two size classes: CPU futures (64 bytes) and I/O futures (128).  Each
 * thread keeps, per class, a small magazine of free futures for the executor
 * it used last, so allocating and freeing are a few plain stores; magazines
 * trade batches with the executor's depot under slab_lock.
 *
 * The depot keeps whole batches (MAG_BATCH futures, linked by `next`) on a
 * stack of their own, linked through the first future's task argument, so a
 * refill takes a batch without walking it: a walk is one dependent cache
 * miss per future once more futures are in flight than the caches hold.
 * Odd-sized returns go to a loose list.  New chunks are carved into batches
 * in address order, which the hardware prefetcher follows.
 *
 * Lifetime: a future may outlive rp_executor_free(), so the chunks (and the
 * executor struct, which holds the depots) are freed only when the handle has
 * been released *and* every future carved is back in its depot.  Futures in
 * a magazine count as out: a magazine flushes when its thread switches
 * executor, when the thread exits (a pthread key destructor), and for the
 * freeing thread inside rp_executor_free().
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CHUNK_BYTES (64 * 1024)
#define MAG_MAX 128
#define MAG_BATCH 64

_Static_assert(CHUNK_BYTES / sizeof(struct rp__iof) % MAG_BATCH == 0,
	       "chunks are carved into whole batches");

/* Thread-local cache of free futures of one class for one executor. */
struct magazine {
	rp_executor *ex;
	rp_future *head;
	uint32_t count;
};

static const size_t class_size[RP__N_CLASSES] = {
	[RP__CLASS_TASK] = sizeof(rp_future),
	[RP__CLASS_IO] = sizeof(struct rp__iof),
};

/* initial-exec: a plain %fs-relative access, not a __tls_get_addr call. */
static _Thread_local struct magazine mags[RP__N_CLASSES]
	__attribute__((tls_model("initial-exec")));
static pthread_key_t mag_key;
static pthread_once_t mag_once = PTHREAD_ONCE_INIT;

static void mag_destructor(void *unused)
{
	(void)unused;
	rp__magazine_flush();
}

static void mag_key_init(void)
{
	/* Without the key a thread's magazines are only flushed on switch. */
	(void)pthread_key_create(&mag_key, mag_destructor);
}

static rp_future *next_of(rp_future *f)
{
	return atomic_load_explicit(&f->next, memory_order_relaxed);
}

static void set_next(rp_future *f, rp_future *next)
{
	atomic_store_explicit(&f->next, next, memory_order_relaxed);
}

/* The depot's stack of whole batches: a free future's task is unused. */
static rp_future *batch_next(rp_future *first)
{
	return first->u.task.arg;
}

static void push_batch(struct rp__depot *d, rp_future *first)
{
	first->u.task.arg = d->full;
	d->full = first;
	d->count += MAG_BATCH;
}

/* Under slab_lock: true when the executor's memory may be freed now. */
static bool slab_idle_locked(const rp_executor *ex)
{
	int c;

	if (!ex->handle_released)
		return false;
	for (c = 0; c < RP__N_CLASSES; c++)
		if (ex->depot[c].count != ex->depot[c].total)
			return false;
	return true;
}

/* Returns a list of `n` futures of class `c`; may free the executor. */
static void depot_put(rp_executor *ex, int c, rp_future *first,
		      rp_future *last, size_t n)
{
	bool idle;

	pthread_mutex_lock(&ex->slab_lock);
	if (n == MAG_BATCH) {
		set_next(last, NULL);
		push_batch(&ex->depot[c], first);
	} else {
		set_next(last, ex->depot[c].head);
		ex->depot[c].head = first;
		ex->depot[c].count += n;
	}
	idle = slab_idle_locked(ex);
	pthread_mutex_unlock(&ex->slab_lock);
	if (idle)
		rp__executor_destroy(ex);
}

static void mag_flush(struct magazine *m, int c)
{
	rp_executor *ex = m->ex;
	rp_future *first = m->head, *last;
	size_t n = m->count;

	m->ex = NULL;
	m->head = NULL;
	m->count = 0;
	/* An empty magazine pins nothing. */
	if (!ex || !first)
		return;
	for (last = first; next_of(last); last = next_of(last))
		;
	depot_put(ex, c, first, last, n);
}

void rp__magazine_flush(void)
{
	int c;

	for (c = 0; c < RP__N_CLASSES; c++)
		mag_flush(&mags[c], c);
}

/* Under slab_lock: carves a new chunk into the depot of class `c`. */
static int grow_locked(rp_executor *ex, int c)
{
	size_t size = class_size[c], n = CHUNK_BYTES / size, i;
	rp_future *f;
	char *chunk;

	if (ex->n_chunks == ex->cap_chunks) {
		size_t cap = ex->cap_chunks ? ex->cap_chunks * 2 : 16;
		void **p = realloc(ex->chunks, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		ex->chunks = p;
		ex->cap_chunks = cap;
	}
	chunk = aligned_alloc(RP_CACHELINE, CHUNK_BYTES);
	if (!chunk)
		return -ENOMEM;
	ex->chunks[ex->n_chunks++] = chunk;
	/* n is a multiple of MAG_BATCH: whole batches, in address order. */
	for (i = 0; i < n; i++) {
		f = (rp_future *)(chunk + i * size);
		set_next(f, (i + 1) % MAG_BATCH ?
			 (rp_future *)(chunk + (i + 1) * size) : NULL);
	}
	for (i = n; i > 0; i -= MAG_BATCH)
		push_batch(&ex->depot[c],
			   (rp_future *)(chunk + (i - MAG_BATCH) * size));
	ex->depot[c].total += n;
	return 0;
}

/* Refills this thread's (empty) magazine of class `c` from ex's depot. */
static int mag_refill(struct magazine *m, rp_executor *ex, int c)
{
	struct rp__depot *d = &ex->depot[c];
	rp_future *first, *last;
	size_t n;

	pthread_mutex_lock(&ex->slab_lock);
	if (!d->full && !d->head && grow_locked(ex, c) < 0) {
		pthread_mutex_unlock(&ex->slab_lock);
		return -ENOMEM;
	}
	if (d->full) {
		first = d->full;
		d->full = batch_next(first);
		n = MAG_BATCH;
	} else {
		first = last = d->head;
		for (n = 1; n < MAG_BATCH && next_of(last); n++)
			last = next_of(last);
		d->head = next_of(last);
		set_next(last, NULL);
	}
	d->count -= n;
	pthread_mutex_unlock(&ex->slab_lock);

	m->head = first;
	m->count = n;
	return 0;
}

rp_future *rp__future_alloc(rp_executor *ex, int c)
{
	struct magazine *m = &mags[c];
	rp_future *f;

	if (m->ex != ex) {
		mag_flush(m, c);
		pthread_once(&mag_once, mag_key_init);
		/* Any non-NULL value makes the destructor run at exit. */
		pthread_setspecific(mag_key, mags);
		m->ex = ex;
	}
	if (!m->head && mag_refill(m, ex, c) < 0)
		return NULL;
	f = m->head;
	m->head = next_of(f);
	m->count--;
	/*
	 * The next future's line is likely not cached (futures in flight can
	 * be many MiB) and the next alloc reads it first: fetch it now, for
	 * writing, as the submitter initializes it.
	 */
	if (m->head)
		__builtin_prefetch(m->head, 1);
	return f;
}

void rp__future_release(rp_future *f)
{
	int c = (atomic_load_explicit(&f->flags, memory_order_relaxed) &
		 RP__F_IO) ? RP__CLASS_IO : RP__CLASS_TASK;
	struct magazine *m = &mags[c];
	rp_executor *ex = f->ex;
	rp_future *first, *last;
	uint32_t i;

	if (m->ex != ex) {
		/* Another executor's future: straight back to its depot. */
		set_next(f, NULL);
		depot_put(ex, c, f, f, 1);
		return;
	}
	set_next(f, m->head);
	m->head = f;
	if (++m->count < MAG_MAX)
		return;
	/* Full: hand the older half back so other threads can use it. */
	first = m->head;
	for (i = 1, last = first; i < MAG_BATCH; i++)
		last = next_of(last);
	m->head = next_of(last);
	m->count -= MAG_BATCH;
	set_next(last, NULL);
	depot_put(ex, c, first, last, MAG_BATCH);
}

void rp__slab_release_handle(rp_executor *ex)
{
	bool idle;
	int c;

	for (c = 0; c < RP__N_CLASSES; c++)
		if (mags[c].ex == ex)
			mag_flush(&mags[c], c);
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
