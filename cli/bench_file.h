/* SPDX-License-Identifier: MIT */
/*
 * `ringpool bench file` inside: its options and its data file, shared by
 * bench_file.c (options, runs) and bench_datafile.c (the file).
 */
#ifndef RINGPOOL_CLI_BENCH_FILE_H
#define RINGPOOL_CLI_BENCH_FILE_H

#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench.h"

enum { RW_READ, RW_WRITE, RW_RANDREAD, RW_RANDWRITE, RW_RANDRW };

struct file_opts {
	int rw;
	int mix; /* read share of randrw, percent; -1 unset */
	uint64_t bs, size;
	unsigned qd, jobs;
	const char *file, *dir;
	bool force, direct, fixed_bufs, reg_files, sqpoll, cached, drop_cache;
	bool huge_pages; /* buffers in huge pages (MAP_HUGETLB), fio too */
	bool engines[ENG_COUNT];
	int order[ENG_COUNT], n_engines;
	bool compare_fio;
	const char *cpus; /* --cpus LIST, or NULL */
	cpu_set_t cpu_set;
};

extern const char *const file_rw_names[];

struct data_file {
	char path[PATH_MAX];
	bool created;
	uint64_t size;
};

/* True for write, randwrite and randrw. */
bool file_is_write(int rw);

/* The read share of the workload, in percent. */
unsigned file_read_pct(const struct file_opts *o);

/*
 * Makes the file (--dir, or a --file that does not exist: filled with
 * random bytes) or checks the one given.  Returns 0, 1 (a failure, told on
 * stderr) or 2 (a usage error, told on stderr).
 */
int file_prepare(struct file_opts *o, struct data_file *df);

/* Removes the file if the tool made it. */
void file_remove(struct data_file *df);

/*
 * Reads the file into the page cache (stopping at ^C), or with `drop`
 * drops its pages.
 */
void file_prime(const char *path, uint64_t size, bool drop);

/* Opens the file for a run; 0 and *fd, or 1 after printing why. */
int file_open_for_run(const struct file_opts *o, const char *path, int *fd);

#endif
