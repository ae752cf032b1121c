/* SPDX-License-Identifier: MIT */
/* The HTTP tests' shared set-up and downloads (htenv.h). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "htenv.h"
#include "httpd.h"

void ht_env_up(struct env *e, const struct rp_http_config *cfg)
{
	int ret;

	memset(e, 0, sizeof(*e));
	e->ex = it_executor_new(NULL);
	ret = rp_http_new(e->ex, cfg, &e->h);
	CU_ASSERT_EQUAL_FATAL(ret, 0);
	CU_ASSERT_EQUAL_FATAL(th_start(&e->srv, &e->port), 0);
	it_dir_make(&e->dir, NULL);
}

void ht_env_down(struct env *e)
{
	rp_http_free(e->h);
	th_stop(e->srv);
	it_executor_free(e->ex);
	it_dir_remove(&e->dir);
}

void ht_url_of(const struct env *e, const char *path, char *buf, size_t size)
{
	snprintf(buf, size, "http://127.0.0.1:%u%s", e->port, path);
}

/* A fresh destination file in the scratch directory. */
int ht_dest(const struct env *e, const char *name)
{
	char path[512];
	int fd;

	it_path(&e->dir, name, path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	return fd;
}

rp_http_transfer *ht_start(struct env *e, const char *path, int fd,
			   uint64_t offset)
{
	struct rp_http_request req = {0};
	rp_http_transfer *t = NULL;
	char url[256];

	ht_url_of(e, path, url, sizeof(url));
	req.url = url;
	req.fd = fd;
	req.offset = offset;
	CU_ASSERT_EQUAL_FATAL(rp_http_get(e->h, &req, &t), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	return t;
}

/*
 * Downloads `path` into `fd` and waits: returns the future's error
 * (-ECANCELED when cancelled), its value in `*value`, the info in `*info`.
 */
int ht_fetch(struct env *e, const char *path, int fd, uint64_t offset,
	     int64_t *value, struct rp_http_info *info)
{
	rp_http_transfer *t = ht_start(e, path, fd, offset);
	int err = it_result(rp_http_transfer_future(t), value);

	CU_ASSERT_EQUAL(rp_http_transfer_info(t, info), 0);
	/* effective_url lives as long as the transfer. */
	snprintf(e->url, sizeof(e->url), "%s", info->effective_url);
	info->effective_url = e->url;
	rp_http_transfer_free(t);
	return err;
}

/* True when `fd` holds exactly body `seed` from `from` to its end. */
bool ht_holds(int fd, uint64_t seed, uint64_t from, uint64_t size)
{
	char *buf = malloc(size ? size : 1);
	struct stat st;
	bool ok;

	if (!buf || fstat(fd, &st) || (uint64_t)st.st_size != size) {
		free(buf);
		return false;
	}
	ok = pread(fd, buf, size, 0) == (ssize_t)size &&
	     it_check(buf + from, size - from, seed, from);
	free(buf);
	return ok;
}

off_t ht_file_size(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : st.st_size;
}

int ht_main(int argc, char **argv, const char *name,
	    const struct tu_test *tests, size_t n)
{
	/* Only 127.0.0.1 is talked to: no proxy from the environment. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	return tu_run_tests(argc, argv, name, tests, n);
}
