/* SPDX-License-Identifier: MIT */
/*
 * `ringpool get`: what get.c (the run) and get_slot.c (a slot's life) share.
 */
#ifndef RINGPOOL_CLI_GET_RUN_H
#define RINGPOOL_CLI_GET_RUN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ringpool.h"
#include "get.h"

#define PART_SUFFIX ".part"

enum slot_state { SLOT_FREE, SLOT_VERIFY, SLOT_GET, SLOT_BACKOFF,
		  SLOT_FINISH };

struct run;

struct slot {
	struct run *run;
	enum slot_state state;
	struct get_entry e;
	char part[GET_NAME_MAX + 16 + sizeof(PART_SUFFIX)];
	int fd;
	uint64_t offset;	/* where the current attempt starts */
	uint64_t final_len;
	uint64_t received;	/* body bytes over all attempts */
	unsigned retries;
	bool resumed, restarted;
	bool truncate;		/* the .part may hold bytes past the end */
	bool replacing;		/* NAME is there but failed its sha256 */
	rp_http_transfer *t;
	rp_future *f;		/* the verify or finish task, or the sleep */
	struct slot *next;	/* on the ready queue, or the free list */
	/* Written by the verify and finish tasks, read after they ended. */
	char fin_why[300];
	char sha_hex[65];
};

struct run {
	const struct get_opts *o;
	rp_executor *ex;
	/* One client per --loops, each on a ring of its own; slot i uses
	 * http[i % n_http]. */
	rp_http **http;
	size_t n_http;
	int dirfd;
	struct get_input in;
	struct get_progress *prog;
	struct slot *slots, *free_slots;
	size_t active;
	uint64_t rng;
	/* The ready queue: filled by done-callbacks on any thread. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot *ready;
	int signal;		/* SIGINT or SIGTERM once received */
	bool stopping;		/* main thread only */
	int out_err;		/* first errno of writing --json to stdout */
};

/* Takes a new entry into slot `s`: skip it, check it, fail it, or start it. */
void get_slot_start(struct run *r, struct slot *s);
/* Moves slot `s`, popped from the ready queue, to its next step. */
void get_slot_ready(struct run *r, struct slot *s);

#endif
