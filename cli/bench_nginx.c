/* SPDX-License-Identifier: MIT */
/*
 * `ringpool bench http --server nginx`: an nginx of the tool's own, in a
 * temporary folder that holds its configuration, logs, temporary paths and
 * the body (one file, sent with sendfile), listening on 127.0.0.1.
 *
 * nginx runs in the foreground (`daemon off`) as a child in a process group
 * of its own, so that the ^C meant for the tool does not stop the server
 * under downloads still in flight; PR_SET_PDEATHSIG stops it should the
 * tool die.  Its port is one the kernel picked for a socket the tool then
 * closed: another process could take it meanwhile, in which case nginx
 * fails to start and says so in its log, which the error message quotes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static const char *const nginx_paths[] = {
	"/usr/sbin/nginx",
	"/usr/local/sbin/nginx",
	"/usr/bin/nginx",
	"/usr/local/nginx/sbin/nginx",
};

const char *bench_nginx_path(void)
{
	size_t i;

	for (i = 0; i < sizeof(nginx_paths) / sizeof(nginx_paths[0]); i++)
		if (access(nginx_paths[i], X_OK) == 0)
			return nginx_paths[i];
	return NULL;
}

/* A port free a moment ago on 127.0.0.1; 0 when none could be had. */
static unsigned free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	unsigned port = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static bool can_connect(unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int write_file(const char *path, const char *data, uint64_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	uint64_t off = 0;

	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n <= 0) {
			int err = n < 0 ? -errno : -ENOSPC;

			close(fd);
			return err;
		}
		off += (uint64_t)n;
	}
	return close(fd) ? -errno : 0;
}

static int write_conf(const struct bench_nginx *n, char *path, size_t len)
{
	char conf[2048];
	int k;

	k = snprintf(conf, sizeof(conf),
		     "%s"
		     "worker_processes 1;\n"
		     "daemon off;\n"
		     "pid %s/nginx.pid;\n"
		     "error_log %s/error.log warn;\n"
		     "events { worker_connections 4096; }\n"
		     "http {\n"
		     "  access_log off;\n"
		     "  sendfile on;\n"
		     "  tcp_nodelay on;\n"
		     "  keepalive_requests 100000000;\n"
		     "  keepalive_timeout 300s;\n"
		     "  default_type application/octet-stream;\n"
		     "  client_body_temp_path %s/tmp-body;\n"
		     "  proxy_temp_path %s/tmp-proxy;\n"
		     "  fastcgi_temp_path %s/tmp-fastcgi;\n"
		     "  uwsgi_temp_path %s/tmp-uwsgi;\n"
		     "  scgi_temp_path %s/tmp-scgi;\n"
		     "  server {\n"
		     "    listen 127.0.0.1:%u;\n"
		     "    root %s;\n"
		     "    location / { try_files /body =404; }\n"
		     "  }\n"
		     "}\n",
		     /*
		      * Started as root, nginx would run its worker as
		      * `nobody`, who may not reach a private TMPDIR: it stays
		      * root, serving one file on 127.0.0.1 for the length of
		      * the benchmark.
		      */
		     geteuid() == 0 ? "user root;\n" : "", n->dir, n->dir,
		     n->dir, n->dir, n->dir, n->dir, n->dir, n->port, n->dir);
	if (k < 0 || (size_t)k >= sizeof(conf))
		return -ENAMETOOLONG;
	snprintf(path, len, "%s/nginx.conf", n->dir);
	return write_file(path, conf, (uint64_t)k);
}

/* The last line of nginx's log, as the reason it did not start. */
static void log_tail(const struct bench_nginx *n, char *why, size_t len)
{
	char path[PATH_MAX + 16], buf[4096], *line, *end;
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "%s/error.log", n->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	got = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
	if (fd >= 0)
		close(fd);
	if (got <= 0) {
		snprintf(why, len, "nginx exited without a word");
		return;
	}
	buf[got] = '\0';
	while (got > 0 && buf[got - 1] == '\n')
		buf[--got] = '\0';
	line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	end = strstr(line, "[emerg]");
	snprintf(why, len, "nginx: %s", end ? end : line);
}

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

int bench_nginx_start(struct bench_nginx *n, const char *body, uint64_t len,
		      char *why, size_t why_len)
{
	const char *tmp = getenv("TMPDIR"), *bin = bench_nginx_path();
	char conf[PATH_MAX + 16], path[PATH_MAX + 16], elog[PATH_MAX + 16];
	int ret, i, status;

	n->pid = -1;
	snprintf(n->dir, sizeof(n->dir), "%s/ringpool-bench-nginx.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!bin) {
		snprintf(why, why_len, "nginx is not installed");
		n->dir[0] = '\0';
		return -ENOENT;
	}
	if (!mkdtemp(n->dir)) {
		ret = -errno;
		snprintf(why, why_len, "cannot make a folder for nginx: %s",
			 strerror(errno));
		n->dir[0] = '\0';
		return ret;
	}
	snprintf(path, sizeof(path), "%s/body", n->dir);
	snprintf(elog, sizeof(elog), "%s/error.log", n->dir);
	n->port = free_port();
	ret = n->port ? write_file(path, body, len) : -EADDRNOTAVAIL;
	if (ret == 0)
		ret = write_conf(n, conf, sizeof(conf));
	if (ret < 0) {
		snprintf(why, why_len, "cannot set nginx up in %s: %s", n->dir,
			 strerror(-ret));
		bench_nginx_stop(n);
		return ret;
	}
	n->pid = fork();
	if (n->pid < 0) {
		ret = -errno;
		snprintf(why, why_len, "cannot start nginx: %s",
			 strerror(errno));
		bench_nginx_stop(n);
		return ret;
	}
	if (n->pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
		execl(bin, "nginx", "-p", n->dir, "-e", elog, "-c", conf,
		      (char *)NULL);
		_exit(127);
	}
	/* Up to 5 s for it to listen. */
	for (i = 0; i < 500; i++) {
		if (can_connect(n->port))
			return 0;
		if (waitpid(n->pid, &status, WNOHANG) == n->pid) {
			n->pid = -1;
			log_tail(n, why, why_len);
			bench_nginx_stop(n);
			return -ECHILD;
		}
		bench_sleep_s(0.01);
	}
	snprintf(why, why_len, "nginx did not listen within 5 s");
	bench_nginx_stop(n);
	return -ETIMEDOUT;
}

void bench_nginx_stop(struct bench_nginx *n)
{
	if (n->pid > 0) {
		/* Fast shutdown; the master waits for its worker. */
		kill(n->pid, SIGTERM);
		while (waitpid(n->pid, NULL, 0) < 0 && errno == EINTR)
			;
		n->pid = -1;
	}
	/* Only what is in the folder the tool made. */
	if (n->dir[0])
		nftw(n->dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
	n->dir[0] = '\0';
}
