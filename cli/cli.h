/* SPDX-License-Identifier: MIT */
#ifndef RINGPOOL_CLI_H
#define RINGPOOL_CLI_H

/* `ringpool bench ...`; argv[0] is "bench".  Returns the exit status. */
int cli_bench(int argc, char **argv);

/* `ringpool get ...`; argv[0] is "get".  Returns the exit status. */
int cli_get(int argc, char **argv);

/*
 * Parses a positive count such as "1000000", "1M" or "250k" into *out.
 * Returns 0, or -EINVAL with nothing stored.
 */
int cli_parse_count(const char *s, unsigned long long *out);

#endif
