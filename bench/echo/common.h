/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the echo benchmark's programs: the listening socket,
 * socket options, the descriptor limit and a monotonic clock.
 */
#ifndef ECHO_COMMON_H
#define ECHO_COMMON_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Per-connection buffer of both servers: one recv takes at most this. */
#define ECHO_BUF_SIZE	16384
#define ECHO_BACKLOG	4096

static inline int64_t echo_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Prints, on stderr, how much CPU time the process used per echo (a recv
 * that returned data): a measure of the server's cost per request that does
 * not depend on what else the machine runs.
 */
static inline void echo_report_cpu(const char *name, uint64_t echoes)
{
	struct rusage ru;
	double user, sys;

	getrusage(RUSAGE_SELF, &ru);
	user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	fprintf(stderr,
		"%s: echoes=%llu cpu_s=%.3f user_s=%.3f sys_s=%.3f "
		"cpu_us_per_echo=%.2f vcsw=%ld ivcsw=%ld\n", name,
		(unsigned long long)echoes, user + sys, user, sys,
		echoes ? (user + sys) * 1e6 / (double)echoes : 0.0,
		ru.ru_nvcsw, ru.ru_nivcsw);
}

/* Raises RLIMIT_NOFILE's soft limit to `want`, or to the hard limit. */
static inline void echo_raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		want = rl.rlim_max;
	rl.rlim_cur = want;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

static inline void echo_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * Listens on 127.0.0.1:port (0: any free port) and prints
 * "listening 127.0.0.1:PORT" on stdout, which run.sh waits for.  Returns the
 * socket, or -1 with a message on stderr.
 */
static inline int echo_listen(unsigned port, int sock_flags)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | sock_flags, 0);
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, ECHO_BACKLOG) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		perror("bind/listen");
		close(fd);
		return -1;
	}
	printf("listening 127.0.0.1:%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

#endif /* ECHO_COMMON_H */
