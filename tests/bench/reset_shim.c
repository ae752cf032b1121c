/* SPDX-License-Identifier: MIT */
/*
 * Preloaded into `ringpool bench net` by a test (LD_PRELOAD): from the
 * RINGPOOL_TEST_RESET_AFTER-th call of sendmsg() on, each one resets its
 * connection (a connect() to AF_UNSPEC disconnects a TCP socket with a
 * reset), or with RINGPOOL_TEST_EOF set ends its sending side (the peer
 * reads an end of stream), and fails with ECONNRESET instead of sending.
 * In that command only the in-process echo server calls sendmsg(), so the
 * clients' round trips fail the way they do when a real peer resets them
 * or goes away.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>

static _Atomic long calls;

ssize_t sendmsg(int fd, const struct msghdr *mh, int flags)
{
	static ssize_t (*real)(int, const struct msghdr *, int);
	const char *after = getenv("RINGPOOL_TEST_RESET_AFTER");
	struct sockaddr sa = {.sa_family = AF_UNSPEC};

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "sendmsg");
	if (!after || atomic_fetch_add(&calls, 1) + 1 < atol(after))
		return real(fd, mh, flags);
	if (getenv("RINGPOOL_TEST_EOF"))
		(void)shutdown(fd, SHUT_WR);
	else
		(void)connect(fd, &sa, sizeof(sa));
	errno = ECONNRESET;
	return -1;
}
