/* SPDX-License-Identifier: MIT */
/*
 * HTTP(S) downloads: libcurl's multi-socket interface driven by the
 * executor's ring.  Not implemented yet: every entry point says so.
 */
#include <errno.h>

#include "ringpool.h"
#include "internal.h"

int rp_http_config_init(struct rp_http_config *cfg)
{
	return cfg ? -ENOTSUP : -EINVAL;
}

int rp_http_new(rp_executor *ex, const struct rp_http_config *cfg,
			  rp_http **out)
{
	(void)cfg;
	return ex && out ? -ENOTSUP : -EINVAL;
}

void rp_http_free(rp_http *h)
{
	(void)h;
}

int rp_http_get(rp_http *h, const struct rp_http_request *req,
			  rp_http_transfer **out)
{
	return h && req && out ? -ENOTSUP : -EINVAL;
}

rp_future *rp_http_transfer_future(rp_http_transfer *t)
{
	(void)t;
	return NULL;
}

void rp_http_transfer_progress(const rp_http_transfer *t,
					 uint64_t *done, int64_t *total)
{
	(void)t;
	if (done)
		*done = 0;
	if (total)
		*total = -1;
}

int rp_http_transfer_info(const rp_http_transfer *t,
				    struct rp_http_info *info)
{
	return t && info ? -ENOTSUP : -EINVAL;
}

void rp_http_transfer_free(rp_http_transfer *t)
{
	(void)t;
}
