/* SPDX-License-Identifier: MIT */
#include "bench.h"

int bench_net(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	bench_err("net", "not written yet");
	return 2;
}
