/* SPDX-License-Identifier: MIT */
/* SHA-256 of a finished download, read back with positioned reads. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "get.h"

int get_sha256_fd(int fd, unsigned char out[32])
{
	/* Large reads keep the syscall count low on multi-GiB files. */
	const size_t cap = 256 * 1024;
	unsigned char *buf = malloc(cap);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 32;
	off_t off = 0;
	ssize_t n;
	int ret = 0;

	if (!buf || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		ret = -ENOMEM;
		goto out;
	}
	while ((n = pread(fd, buf, cap, off)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += n;
	}
	if (!EVP_DigestFinal_ex(ctx, out, &len))
		ret = -EIO;
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return ret;
}
