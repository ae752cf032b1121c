/* SPDX-License-Identifier: MIT */
#ifndef RINGPOOL_CLI_H
#define RINGPOOL_CLI_H

/* `ringpool bench ...`; argv[0] is "bench".  Returns the exit status. */
int cli_bench(int argc, char **argv);

/* `ringpool get ...`; argv[0] is "get".  Returns the exit status. */
int cli_get(int argc, char **argv);

/* `ringpool serve ...`; argv[0] is "serve".  Returns the exit status. */
int cli_serve(int argc, char **argv);

/*
 * Parses a positive count such as "1000000", "1M" or "250k" into *out.
 * Returns 0, or -EINVAL with nothing stored.
 */
int cli_parse_count(const char *s, unsigned long long *out);

/*
 * Why rp_http_new() failed with `err`, in words for a message that goes on
 * "HTTP downloads are not available: ".
 */
const char *cli_http_new_error(int err);

/* The value of one hex digit, or -1 for another character. */
static inline int cli_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
