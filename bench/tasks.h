/* SPDX-License-Identifier: MIT */
/*
 * bench-tasks: what the driver (tasks.c) and the three pools under test
 * (tasks_pools.c) share.
 */
#ifndef RINGPOOL_BENCH_TASKS_H
#define RINGPOOL_BENCH_TASKS_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>
#include <uv.h>

#include "ringpool.h"

enum impl {
	IMPL_RINGPOOL,
	IMPL_LIBUV,
	IMPL_GLIB,
	IMPL_COUNT,
};

struct opts {
	unsigned workers;
	unsigned long tasks;
	unsigned reps;
	unsigned long rtt;
	unsigned timeout_s;
	bool rp_each;		/* --rp-mode result */
	bool count_shared;	/* --count shared */
	enum impl only;		/* --only; IMPL_COUNT = all */
};

/* Prints "bench-tasks: ..." and exits 1 (tasks.c). */
void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* Phases of one ringpool pass, for the breakdown line. */
struct rpb_phases {
	double submit;
	double wait;
	double unref;
};

struct rpb_bench {
	rp_executor *ex;
	rp_future **fs;
	bool each;
};

struct luv_bench {
	uv_loop_t loop;
	uv_work_t *reqs;
	unsigned long after;	/* after_work callbacks run (loop thread) */
	unsigned long bad;	/* after_work callbacks with status != 0 */
};

struct gtp_bench {
	GThreadPool *pool;
	unsigned workers;
	int item;		/* pushed as the (non-NULL) task data */
};

/* ---- tasks_pools.c ---------------------------------------------------- */

/*
 * The tasks' counters: room for `max` threads; with `shared` each task also
 * bumps one shared atomic counter (see task_body()).
 */
void tally_init(unsigned max, bool shared);
void tally_free(void);

void rpb_init(struct rpb_bench *b, const struct opts *o);
void rpb_fini(struct rpb_bench *b);
double rpb_pass(struct rpb_bench *b, unsigned long n, struct rpb_phases *ph);
/* Serial round trip: submit one task, wait for it, release it. */
void rpb_rtt(struct rpb_bench *b, unsigned long n, double *p50, double *p99,
	     double *mean);
void luv_init(struct luv_bench *b, const struct opts *o);
void luv_fini(struct luv_bench *b);
double luv_pass(struct luv_bench *b, unsigned long n);
void gtp_init(struct gtp_bench *b, const struct opts *o);
void gtp_fini(struct gtp_bench *b);
double gtp_pass(struct gtp_bench *b, unsigned long n);

#endif
