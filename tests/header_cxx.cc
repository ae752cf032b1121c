// SPDX-License-Identifier: MIT
// The public header must compile as C++ too: this program includes it,
// takes the address of a few functions and uses its types.
#include <ringpool.h>

int main()
{
	struct rp_config cfg;
	struct rp_io_opts opts = {};
	int (*submit)(rp_executor *, rp_task_fn, void *, rp_future **) =
		rp_submit;

	(void)opts;
	return rp_config_init(&cfg) == 0 && submit != nullptr &&
		       cfg.backend == RP_BACKEND_AUTO
		       ? 0
		       : 1;
}
