/* SPDX-License-Identifier: MIT */
/*
 * The test harness of `ringpool get`: a scratch folder, nginx with its own
 * configuration, the fault server, and a way to run the built CLI and keep
 * its exit status and output.
 */
#ifndef RINGPOOL_TESTS_GET_HARNESS_H
#define RINGPOOL_TESTS_GET_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The scratch folder of this run (removed by h_cleanup()). */
extern char h_root[];
/* Ports of the servers, 0 until started. */
extern int h_nginx_port, h_fault_port;

/*
 * Makes the scratch folder, and clears the environment's proxy settings
 * (a test sets its own).  Returns 0 or -errno.
 */
int h_setup(void);
/* Stops the servers and removes the scratch folder. */
void h_cleanup(void);

/*
 * Makes a throwaway CA and a server certificate for 127.0.0.1 signed by it
 * under `h_root`/tls (and other-ca.pem there, a CA that signed nothing), with the `openssl` command ($OPENSSL names another).
 * Call before h_start_nginx(), which then serves HTTPS on h_nginx_tls_port
 * too.  Returns 0, -ENOENT when there is no openssl command, or -EIO with
 * the reason in `h_root`/tls/openssl.log.
 */
int h_make_tls(void);
/* The CA's certificate (PEM) once h_make_tls() succeeded, else "". */
extern char h_ca_file[];
/* The HTTPS port of nginx; 0 when it serves no HTTPS. */
extern int h_nginx_tls_port;

/* Starts nginx serving `h_root`/www.  Returns 0 or -errno. */
int h_start_nginx(void);
/* Starts tests/get/faultd.  Returns 0 or -errno. */
int h_start_faultd(void);

/* Lines of nginx's access log / faultd's log that contain `needle`. */
unsigned h_nginx_requests(const char *needle);
unsigned h_fault_requests(const char *needle);

/* The output of one CLI run. */
struct h_result {
	int status;		/* exit status, or 128 + signal */
	char *out, *err;	/* stdout and stderr, NUL-terminated */
	double seconds;
	double after_signal;	/* from the signal to the exit; 0: none */
};

/*
 * Runs `ringpool get ARGS...` (NULL-terminated) with stdin from `stdin_path`
 * (NULL for /dev/null).  Under the valgrind setup it runs the CLI under
 * valgrind when `vg` is true.  Returns the result; free it with h_free().
 */
struct h_result h_get(const char *stdin_path, bool vg, ...);
struct h_result h_getv(const char *stdin_path, bool vg,
		       const char *const *args);
/*
 * As h_getv(), sending `sig` to the CLI once `ready(arg)` is true: it is
 * asked every 10 ms, for up to a minute (then the signal goes anyway, and
 * the test's assertions say what was missing).  A test that interrupts the
 * CLI waits for what it means to interrupt, not for a time that a slow
 * build on a loaded machine can overrun.
 */
struct h_result h_getv_signal(const char *stdin_path, bool vg,
			      const char *const *args,
			      bool (*ready)(void *arg), void *arg, int sig);

/* What the CLI has written to its stderr and stdout so far (free them). */
char *h_cli_err(void);
char *h_cli_out(void);
void h_free(struct h_result *r);

/* Makes a fresh folder `h_root`/NAME and returns its path (static buffer
 * per call: copy it). */
char *h_dir(const char *name);

/* A file path under `dir`, in a rotating static buffer. */
const char *h_path(const char *dir, const char *name);

bool h_exists(const char *path);
/* Number of entries in `dir` (without . and ..). */
unsigned h_count_entries(const char *dir);
/* Entries of `dir` whose names end with `suffix`. */
unsigned h_count_suffix(const char *dir, const char *suffix);

/* SHA-256 of a file as 64 hex digits; "" when it cannot be read. */
void h_sha_file(const char *path, char out[65]);
/* SHA-256 of the fault server's body for `key`, `size` bytes. */
void h_sha_body(const char *key, uint64_t size, char out[65]);
/* Writes the first `len` bytes of body `key` to `path`. */
int h_write_body(const char *path, const char *key, uint64_t len);

/* Asserts (CUnit) that `dir`/`name` holds body `key` of `size` bytes. */
void h_assert_body(const char *dir, const char *name, const char *key,
		   uint64_t size);
/* Whether `needle` is in `text`; says which was missing when not. */
bool h_has(const char *text, const char *needle);

/* The contents of `path`, NUL-terminated ("" when unreadable); free() it. */
char *h_slurp(const char *path);

/* Writes `text` to `path`.  Returns 0 or -errno. */
int h_write_text(const char *path, const char *text);

/* Whether the library's HTTP client works in this build. */
bool h_http_available(void);

#endif
