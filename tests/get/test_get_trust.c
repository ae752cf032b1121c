/* SPDX-License-Identifier: MIT */
/*
 * What `ringpool get` trusts: HTTPS servers only when their certificate
 * chains to a known CA (the system's, or --cacert's), and with -c a file
 * already under its final name only when it matches the list's sha256=.
 *
 * HTTPS runs against the tests' own nginx with a CA and server certificate
 * made for this run by the openssl command (h_make_tls()); without one the
 * HTTPS tests say they are skipped.  Registered once per backend, like
 * test_get.  The library's side (rp_http_config::ca_file, -EKEYREJECTED)
 * is checked here too, where the HTTPS server is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringpool.h"
#include "testutil.h"
#include "harness.h"

#define TLS_SIZE 300001

static bool http_ok, tls_ok;

static bool need_tls(void)
{
	if (!tls_ok)
		printf("\n  skipped: no HTTPS server (see above)\n");
	return tls_ok;
}

static bool need_http(void)
{
	if (!http_ok)
		printf("\n  skipped: rp_http is not available\n");
	return http_ok;
}

static char url_buf[8][512];
static unsigned url_next;

/* A URL on nginx's HTTPS port. */
static const char *tu(const char *path)
{
	char *p = url_buf[url_next++ % 8];

	snprintf(p, 512, "https://127.0.0.1:%d%s", h_nginx_tls_port, path);
	return p;
}

/* A URL on faultd. */
static const char *fu(const char *path)
{
	char *p = url_buf[url_next++ % 8];

	snprintf(p, 512, "http://127.0.0.1:%d%s", h_fault_port, path);
	return p;
}

/* ---- HTTPS ---------------------------------------------------------------- */

static void test_https_with_cacert_arrives_whole(void)
{
	char *dir = h_dir("tls-ok");
	struct h_result r;

	if (!need_tls())
		return;
	r = h_get(NULL, true, "-d", dir, "--cacert", h_ca_file,
		  tu("/tls.bin"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "tls.bin", "tls.bin", TLS_SIZE);
	CU_ASSERT_EQUAL(h_count_entries(dir), 1);
	CU_ASSERT(h_has(r.err, "1 done, 0 skipped, 0 failed"));
	h_free(&r);
}

static void test_https_from_an_unknown_ca_fails_and_is_not_retried(void)
{
	char *dir = h_dir("tls-untrusted");
	const char *url = tu("/tls.bin");
	char line[600];
	struct h_result r;

	if (!need_tls())
		return;
	r = h_get(NULL, true, "-d", dir, "--retry", "3", "--retry-delay",
		  "0.01", url, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	/* The summary names the URL and the cause, with the way out. */
	snprintf(line, sizeof(line), "%s: SSL certificate problem", url);
	CU_ASSERT(h_has(r.err, line));
	CU_ASSERT(h_has(r.err, "--cacert"));
	CU_ASSERT(h_has(r.err, "1 failed"));
	/* Asking again would meet the same certificate. */
	CU_ASSERT(strstr(r.err, "retry ") == NULL);
	/* No body came: neither the file nor an empty .part is left. */
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	h_free(&r);
}

static void test_cacert_of_another_ca_is_not_trusted(void)
{
	char *dir = h_dir("tls-other-ca");
	struct h_result r;

	if (!need_tls())
		return;
	r = h_get(NULL, false, "-d", dir, "--retry", "0", "--cacert",
		  h_path(h_root, "tls/other-ca.pem"), tu("/tls.bin"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "certificate"));
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	h_free(&r);
}

/*
 * An https:// URL through an HTTP proxy (faultd, which tunnels CONNECT to
 * 127.0.0.1): the file arrives whole through the tunnel, and the server at
 * its end is still verified, so without --cacert it fails as it would
 * without the proxy.
 */
static void test_https_through_a_proxy_tunnel(void)
{
	char *dir = h_dir("tls-proxy");
	char proxy[64], tunnel[64];
	struct h_result r;

	if (!need_tls())
		return;
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", h_fault_port);
	snprintf(tunnel, sizeof(tunnel), "CONNECT 127.0.0.1:%d ",
		 h_nginx_tls_port);
	r = h_get(NULL, true, "-d", dir, "--cacert", h_ca_file, "-x", proxy,
		  tu("/tls.bin"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "tls.bin", "tls.bin", TLS_SIZE);
	CU_ASSERT_EQUAL(h_fault_requests(tunnel), 1);
	h_free(&r);

	dir = h_dir("tls-proxy-untrusted");
	r = h_get(NULL, false, "-d", dir, "--retry", "0", "-x", proxy,
		  tu("/tls.bin"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "SSL certificate problem"));
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	CU_ASSERT_EQUAL(h_fault_requests(tunnel), 2);
	h_free(&r);
}

static void test_unreadable_cacert_is_an_input_error(void)
{
	char *dir = h_dir("tls-nofile");
	struct h_result r;

	r = h_get(NULL, true, "-d", dir, "--cacert", "/nonexistent/ca.pem",
		  "https://127.0.0.1:1/x", (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 2);
	CU_ASSERT(h_has(r.err, "--cacert '/nonexistent/ca.pem'"));
	CU_ASSERT(h_has(r.err, "No such file"));
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	h_free(&r);
}

/*
 * The library on its own: downloads `url` into `path` with a client whose
 * CA file is `ca` (NULL for the system's); returns the transfer's error.
 */
static int lib_fetch(const char *url, const char *ca, const char *path,
		     struct rp_http_info *info)
{
	struct rp_http_request req = { .url = url };
	struct rp_http_config cfg;
	rp_http_transfer *t = NULL;
	rp_executor *ex = NULL;
	rp_http *h = NULL;
	char *copy = ca ? strdup(ca) : NULL;
	int err = -1;

	memset(info, 0, sizeof(*info));
	CU_ASSERT_EQUAL_FATAL(tu_executor_new(1, &ex), 0);
	CU_ASSERT_EQUAL(rp_http_config_init(&cfg), 0);
	cfg.ca_file = copy;
	CU_ASSERT_EQUAL(rp_http_new(ex, &cfg, &h), 0);
	/* The client took its own copy. */
	free(copy);
	req.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CU_ASSERT(req.fd >= 0);
	if (h && req.fd >= 0 && rp_http_get(h, &req, &t) == 0) {
		CU_ASSERT_EQUAL(rp_future_result(rp_http_transfer_future(t),
						 RP_FOREVER, NULL, &err), 0);
		CU_ASSERT_EQUAL(rp_http_transfer_info(t, info), 0);
		info->effective_url = NULL;
	}
	rp_http_transfer_free(t);
	rp_http_free(h);
	rp_executor_free(ex);
	if (req.fd >= 0)
		close(req.fd);
	return err;
}

static void test_library_downloads_https_with_ca_file(void)
{
	char *dir = h_dir("tls-lib-ok");
	struct rp_http_info info;

	if (!need_tls())
		return;
	CU_ASSERT_EQUAL(lib_fetch(tu("/tls.bin"), h_ca_file,
				  h_path(dir, "tls.bin"), &info), 0);
	CU_ASSERT_EQUAL(info.status, 200);
	h_assert_body(dir, "tls.bin", "tls.bin", TLS_SIZE);
}

static void test_library_untrusted_certificate_is_ekeyrejected(void)
{
	char *dir = h_dir("tls-lib-untrusted");
	struct rp_http_info info;

	if (!need_tls())
		return;
	CU_ASSERT_EQUAL(lib_fetch(tu("/tls.bin"), NULL, h_path(dir, "a"),
				  &info), -EKEYREJECTED);
	CU_ASSERT(h_has(info.error, "certificate"));
	CU_ASSERT_EQUAL(info.bytes, 0);
	CU_ASSERT_EQUAL(lib_fetch(tu("/tls.bin"),
				  h_path(h_root, "tls/other-ca.pem"),
				  h_path(dir, "b"), &info), -EKEYREJECTED);
}

/* ---- -c and sha256= --------------------------------------------------------- */

/* Writes a list of one line: URL sha256=(sha of body `key`, `size`). */
static const char *list_with_sha(const char *name, const char *url,
				 const char *key, uint64_t size)
{
	static char list[256];
	char text[1024], sha[65];

	h_sha_body(key, size, sha);
	snprintf(list, sizeof(list), "%s/%s.txt", h_root, name);
	snprintf(text, sizeof(text), "%s sha256=%s\n", url, sha);
	h_write_text(list, text);
	return list;
}

static void test_continue_replaces_a_file_that_fails_its_sha256(void)
{
	char *dir = h_dir("recheck-bad");
	const char *list;
	struct h_result r;

	if (!need_http())
		return;
	/* Right length, wrong bytes: only the hash can tell. */
	h_write_body(h_path(dir, "v.bin"), "not-v.bin", 5000);
	list = list_with_sha("recheck-bad", fu("/file/v.bin?size=5000"),
			     "v.bin", 5000);
	r = h_get(NULL, true, "-d", dir, "-c", "-i", list, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "v.bin", "v.bin", 5000);
	CU_ASSERT(h_has(r.err, "replace v.bin: sha256 mismatch in the "
			"existing file"));
	CU_ASSERT(h_has(r.err, "done v.bin (4.9 KiB, replaced"));
	CU_ASSERT(h_has(r.err, "1 done (1 replaced), 0 skipped, 0 failed"));
	CU_ASSERT_EQUAL(h_fault_requests("/file/v.bin?size=5000 -"), 1);
	CU_ASSERT_EQUAL(h_count_entries(dir), 1);
	h_free(&r);
}

static void test_continue_skips_a_file_whose_sha256_matches(void)
{
	char *dir = h_dir("recheck-good");
	unsigned before = h_fault_requests("/file/g.bin");
	const char *list;
	struct h_result r;

	if (!need_http())
		return;
	h_write_body(h_path(dir, "g.bin"), "g.bin", 70000);
	list = list_with_sha("recheck-good", fu("/file/g.bin?size=70000"),
			     "g.bin", 70000);
	r = h_get(NULL, true, "-d", dir, "-c", "-i", list, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT(h_has(r.err, "skip g.bin (already complete, sha256 checked)"));
	CU_ASSERT(h_has(r.err, "0 done, 1 skipped, 0 failed"));
	CU_ASSERT_EQUAL(h_fault_requests("/file/g.bin"), before);
	h_assert_body(dir, "g.bin", "g.bin", 70000);
	h_free(&r);
}

static void test_continue_leaves_the_bad_file_when_the_download_fails(void)
{
	char *dir = h_dir("recheck-fail");
	const char *list;
	struct h_result r;

	if (!need_http())
		return;
	h_write_body(h_path(dir, "404"), "stale", 3000);
	list = list_with_sha("recheck-fail", fu("/status/404"), "fresh", 3000);
	r = h_get(NULL, true, "-d", dir, "-c", "-i", list, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "replace 404: sha256 mismatch"));
	CU_ASSERT(h_has(r.err, "/status/404: HTTP 404 (404, which failed its "
			"sha256 check, is left as it was)"));
	/* Untouched, and no .part beside it. */
	h_assert_body(dir, "404", "stale", 3000);
	CU_ASSERT_EQUAL(h_count_entries(dir), 1);
	h_free(&r);
}

static void test_continue_recheck_events_in_json(void)
{
	char *dir = h_dir("recheck-json");
	const char *list;
	struct h_result r;

	if (!need_http())
		return;
	h_write_body(h_path(dir, "j.bin"), "not-j.bin", 100);
	list = list_with_sha("recheck-json", fu("/file/j.bin?size=100"),
			     "j.bin", 100);
	r = h_get(NULL, false, "-d", dir, "-c", "--json", "-i", list,
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT(h_has(r.out, "\"event\":\"replacing\""));
	CU_ASSERT(h_has(r.out, "\"replaced\":true"));
	CU_ASSERT(h_has(r.out, "\"replaced\":1"));
	h_free(&r);
}

static const struct tu_test tests[] = {
	{ "https_with_cacert_arrives_whole", test_https_with_cacert_arrives_whole, false },
	{ "https_from_an_unknown_ca_fails_and_is_not_retried", test_https_from_an_unknown_ca_fails_and_is_not_retried, false },
	{ "cacert_of_another_ca_is_not_trusted", test_cacert_of_another_ca_is_not_trusted, false },
	{ "https_through_a_proxy_tunnel", test_https_through_a_proxy_tunnel, false },
	{ "library_downloads_https_with_ca_file", test_library_downloads_https_with_ca_file, false },
	{ "library_untrusted_certificate_is_ekeyrejected", test_library_untrusted_certificate_is_ekeyrejected, false },
	{ "unreadable_cacert_is_an_input_error", test_unreadable_cacert_is_an_input_error, false },
	{ "continue_replaces_a_file_that_fails_its_sha256", test_continue_replaces_a_file_that_fails_its_sha256, false },
	{ "continue_skips_a_file_whose_sha256_matches", test_continue_skips_a_file_whose_sha256_matches, false },
	{ "continue_leaves_the_bad_file_when_the_download_fails", test_continue_leaves_the_bad_file_when_the_download_fails, false },
	{ "continue_recheck_events_in_json", test_continue_recheck_events_in_json, false },
};

int main(int argc, char **argv)
{
	int ret;

	if (!getenv("RINGPOOL_BIN") || !getenv("FAULTD")) {
		fprintf(stderr, "test_get_trust: run through meson "
			"(RINGPOOL_BIN and FAULTD name the programs under test)\n");
		return 1;
	}
	if (h_setup() < 0) {
		perror("test_get_trust: scratch folder");
		return 1;
	}
	http_ok = h_http_available();
	if (http_ok) {
		ret = h_make_tls();
		if (ret == -ENOENT)
			printf("no openssl command (scripts/quickstart installs "
			       "it, $OPENSSL names another): the HTTPS tests "
			       "are skipped\n");
		else if (ret < 0)
			printf("cannot make test certificates (see %s/tls/"
			       "openssl.log): the HTTPS tests are skipped\n",
			       h_root);
		tls_ok = ret == 0;
		ret = 0;
		if (tls_ok)
			ret = h_start_nginx();
		if (tls_ok && ret == 0)
			ret = h_write_body(h_path(h_root, "www/tls.bin"),
					   "tls.bin", TLS_SIZE);
		if (ret == 0)
			ret = h_start_faultd();
		if (ret < 0) {
			fprintf(stderr, "test_get_trust: cannot start the "
				"servers: %s\n", strerror(-ret));
			h_cleanup();
			return 1;
		}
	}
	ret = tu_run_tests(argc, argv, "get-trust", tests,
			   sizeof(tests) / sizeof(tests[0]));
	h_cleanup();
	return ret;
}
