/* SPDX-License-Identifier: MIT */
/*
 * `ringpool get`: what get.c (the run) and get_slot.c (a slot's life) share.
 */
#ifndef RINGPOOL_CLI_GET_RUN_H
#define RINGPOOL_CLI_GET_RUN_H

#include <pthread.h>
#include <signal.h>
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
	/*
	 * The file is an O_TMPFILE with no name yet: linked as NAME once it
	 * is whole, or as NAME.part when its body turns out large or the
	 * download stops short (get_slot.c, "Unnamed until whole").  Set on
	 * the main thread, cleared there or by on_body() on the client's
	 * thread, which the transfer's future orders before the main thread
	 * looks again.
	 */
	bool unnamed;
	bool junk;		/* what the file holds is not worth keeping */
	/*
	 * The validator (a strong ETag, else Last-Modified) of the bytes in
	 * NAME.part, "" when none is known: sent as If-Range on a resume, and
	 * kept with a .part left behind in the user.ringpool.validator
	 * extended attribute, for a later -c.
	 */
	char validator[256];
	bool has_xattr;		/* NAME.part carries that attribute */
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
	int unname;		/* how files are made unnamed: UNNAME_* */
	/*
	 * The folder was empty when the run began and files are made
	 * unnamed: what this run names there, get_names.c keeps apart, so a
	 * NAME or NAME.part there is another process's, met (rarely) when
	 * the file is linked.  The two lookups a file that say both are
	 * absent are skipped.
	 */
	bool empty_dir;
	struct get_input in;
	struct get_progress *prog;
	struct slot *slots, *free_slots;
	size_t active;
	uint64_t rng;
	/* The ready queue: filled by done-callbacks on any thread. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot *ready;
	sigset_t stop_sigs;	/* the signals that stop the run */
	int signal;		/* one of them, once received */
	bool stopping;		/* main thread only */
	int out_err;		/* first errno of writing --json to stdout */
	/*
	 * A list on a pipe or a terminal is read on a thread of its own, so
	 * that waiting for its next line neither holds back the transfers
	 * that end meanwhile nor keeps SIGINT and SIGTERM from acting.  That
	 * thread reads ahead into `queue` (-j entries at most, under `lock`),
	 * waits on `input_cond` while it is full, and is woken only once the
	 * main thread has taken half of it: one wake-up per -j/2 entries.
	 */
	bool input_thread;
	pthread_t input_tid;
	int input_quit_fd;	/* an eventfd: written to end the reader's read */
	pthread_cond_t input_cond;
	struct get_entry *queue;
	size_t q_cap, q_head, q_len;
	bool reader_waits;
	bool input_end;		/* the reader is done: input_ret, input_why */
	bool input_quit;	/* main thread: no more entries wanted */
	int input_ret;
	char input_why[600];
};

/* How files are made unnamed in the folder, and named later. */
enum {
	UNNAME_NO,	/* they are not: no O_TMPFILE there, or no way to link */
	UNNAME_FLINK,	/* linkat(fd, "", AT_EMPTY_PATH) */
	UNNAME_PROC,	/* linkat("/proc/self/fd/N", AT_SYMLINK_FOLLOW) */
};
/*
 * Which of UNNAME_* the folder `dirfd` allows: the cheapest, or at most
 * what `want` names ("no", "proc"; NULL for no limit), for the tests.
 */
int get_slot_can_unname(int dirfd, const char *want);
/* Whether the folder `dirfd` holds nothing but "." and "..". */
bool get_slot_dir_empty(int dirfd);
/* Takes a new entry into slot `s`: skip it, check it, fail it, or start it. */
void get_slot_start(struct run *r, struct slot *s);
/* Moves slot `s`, popped from the ready queue, to its next step. */
void get_slot_ready(struct run *r, struct slot *s);

#endif
