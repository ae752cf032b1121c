/* SPDX-License-Identifier: MIT */
/*
 * What the HTTP tests share: an executor, a client, a server of httpd.c and
 * a scratch directory, and downloads into it.
 */
#ifndef RINGPOOL_HTENV_H
#define RINGPOOL_HTENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "iotest.h"
#include "ringpool.h"

struct th_server;

/* An executor, a client, a server and a scratch directory. */
struct env {
	rp_executor *ex;
	rp_http *h;
	struct th_server *srv;
	uint16_t port;
	struct it_dir dir;
	char url[256];		/* ht_fetch()'s copy of the effective URL */
};

/* Starts an executor, a client (`cfg`, or defaults), a server, a folder. */
void ht_env_up(struct env *e, const struct rp_http_config *cfg);
void ht_env_down(struct env *e);
/* The server's URL for `path`. */
void ht_url_of(const struct env *e, const char *path, char *buf, size_t size);
/* A fresh destination file in the scratch directory. */
int ht_dest(const struct env *e, const char *name);
/* Starts downloading `path` into `fd` from `offset`. */
rp_http_transfer *ht_start(struct env *e, const char *path, int fd,
			   uint64_t offset);
/*
 * Downloads `path` into `fd` and waits: returns the future's error
 * (-ECANCELED when cancelled), its value in `*value`, the info in `*info`.
 */
int ht_fetch(struct env *e, const char *path, int fd, uint64_t offset,
	     int64_t *value, struct rp_http_info *info);
/* True when `fd` holds exactly body `seed` from `from` to its end. */
bool ht_holds(int fd, uint64_t seed, uint64_t from, uint64_t size);
/* The size of the file `fd`, or -1. */
off_t ht_file_size(int fd);

/* The program's main: runs `tests` with no proxy taken from the environment. */
int ht_main(int argc, char **argv, const char *name,
	    const struct tu_test *tests, size_t n);

#endif
