/* SPDX-License-Identifier: MIT */
/*
 * What the `ringpool bench` CLI tests share: running the built binary and
 * reading what it printed.
 */
#ifndef RINGPOOL_BCLI_H
#define RINGPOOL_BCLI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "testutil.h"

/* What one run of the binary gave. */
struct out {
	int status;	 /* exit status, or 128 + signal */
	char *out, *err; /* malloc'ed */
};

extern const char *bc_bin;	/* RINGPOOL_BIN */
extern const char *bc_engine;	/* uring or threads, from RINGPOOL_BACKEND */
extern char bc_tmpdir[];	/* a scratch folder of the program's own */

/*
 * Runs `ringpool ARGS...` (NULL-terminated); with `sig`, sends it that
 * signal once the measured run is under way: its stderr is then a terminal,
 * and the signal goes when the progress line shows operations done past
 * the warm-up (or after a minute without).  Under the valgrind setup the
 * binary runs under memcheck too, unless bc_native is set.
 */
extern bool bc_native;
struct out bc_run_sig(int sig, const char *const *args);
#define RUN(...) bc_run_sig(0, (const char *const[]){__VA_ARGS__, NULL})
/*
 * As bc_run_sig(), the signal as soon as `ready()` is true instead (polled
 * every 20 ms, for a minute at most).
 */
struct out bc_run_sig_when(int sig, bool (*ready)(void),
			   const char *const *args);
/*
 * As bc_run_sig(), the signal `after_ms` after a child process of it with
 * the argument `child_arg` appeared; sent to the tool only, not to the
 * child.
 */
struct out bc_run_sig_child(int sig, const char *child_arg, int after_ms,
			    const char *const *args);
/* Runs it with stdout on the file `path` (opened for writing); out is "". */
struct out bc_run_to(const char *path, const char *const *args);
void bc_out_free(struct out *o);
/* All of `fd` from its start, NUL-terminated and malloc'ed, or NULL. */
char *bc_slurp(int fd);

/* Member `key` of `o`, or NULL. */
json_object *bc_get(json_object *o, const char *key);
/* Member `key` of `o` as a number; a failed assertion and -1 if missing. */
double bc_num(json_object *o, const char *key);
/* True when the folder `path` has no entries. */
bool bc_dir_empty(const char *path);
/* Whether process `pid` (a /proc name) has each of `words` (NULL-ended)
 * as one of its arguments. */
bool bc_cmdline_has(const char *pid, const char *const *words);
/* Whether process `pid` (a /proc name) is a child of `parent`. */
bool bc_parent_is(const char *pid, pid_t parent);
/* Whether `match(pid, arg)` holds for any process (by /proc). */
bool bc_any_process(bool (*match)(const char *pid, void *arg), void *arg);

/*
 * The program's main: checks RINGPOOL_BIN, sets bc_engine, makes
 * bc_tmpdir, runs `tests`, removes bc_tmpdir.
 */
int bc_main(int argc, char **argv, const char *name,
	    const struct tu_test *tests, size_t n);

#endif
