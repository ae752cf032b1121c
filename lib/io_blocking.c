/* SPDX-License-Identifier: MIT */
#include "internal.h"

int64_t rp__io_blocking_execute(const struct io_uring_sqe *sqe, int cancel_fd,
				int64_t deadline, const _Atomic uint32_t *flags)
{
	(void)sqe; (void)cancel_fd; (void)deadline; (void)flags;
	return -ENOSYS;
}
