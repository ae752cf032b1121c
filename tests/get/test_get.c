/* SPDX-License-Identifier: MIT */
/*
 * `ringpool get` end to end: the built CLI against a real nginx and against
 * faultd, which fails on purpose.  Each test checks the exit status, the
 * report, which files exist under which names, and their SHA-256.
 *
 * Registered once per backend (RINGPOOL_BACKEND=uring / threads).  While the
 * library's HTTP client is not built in (rp_http_* answer -ENOTSUP), only
 * the tests that need no download run; the others say they are skipped.
 * Under the valgrind setup the CLI itself runs under valgrind for the small
 * cases, and the large ones are scaled down.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "testutil.h"
#include "harness.h"

static bool http_ok;

/* False (and says so) when the test needs downloads and they cannot be. */
static bool need_http(void)
{
	if (!http_ok)
		printf("\n  skipped: rp_http is not available\n");
	return http_ok;
}

static char url_buf[16][512];
static unsigned url_next;

/* A URL on faultd (rotating static buffers). */
static const char *fu(const char *path)
{
	char *p = url_buf[url_next++ % 16];

	snprintf(p, 512, "http://127.0.0.1:%d%s", h_fault_port, path);
	return p;
}

/* A URL on nginx. */
static const char *nu(const char *path)
{
	char *p = url_buf[url_next++ % 16];

	snprintf(p, 512, "http://127.0.0.1:%d%s", h_nginx_port, path);
	return p;
}

/* ---- usage and input errors (no download) ------------------------------- */

static void test_no_url_is_a_usage_error(void)
{
	struct h_result r = h_get(NULL, true, (char *)NULL);

	CU_ASSERT_EQUAL(r.status, 2);
	CU_ASSERT(h_has(r.err, "no URL"));
	h_free(&r);
}

/* Only http:// and https:// are fetched: anything else is an input error. */
static void test_other_schemes_are_usage_errors(void)
{
	char list[256];
	char *dir = h_dir("schemes");
	struct h_result r;

	r = h_get(NULL, true, "-d", dir, "file:///etc/hostname", (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 2);
	CU_ASSERT(h_has(r.err, "'file:///etc/hostname' is not an http:// or "
			       "https:// URL"));
	h_free(&r);
	snprintf(list, sizeof(list), "%s/schemes.txt", h_root);
	h_write_text(list, "http://127.0.0.1:1/a\nftp://127.0.0.1:1/b\n");
	r = h_get(NULL, true, "-d", dir, "-i", list, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 2);
	CU_ASSERT(h_has(r.err, "schemes.txt:2: 'ftp://127.0.0.1:1/b'"));
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	h_free(&r);
}

static void test_bad_option_values_are_named(void)
{
	static const char *const cases[][3] = {
		{ "-j", "0", "-j '0'" },
		{ "--shard", "2/2", "--shard '2/2'" },
		{ "--limit-rate", "fast", "--limit-rate 'fast'" },
		{ "--stall-timeout", "-3", "--stall-timeout '-3'" },
		{ "-o", "../x", "-o '../x'" },
		{ "--retry", "many", "--retry 'many'" },
		{ "--loops", "0", "--loops '0'" },
		{ "--loops", "65", "--loops '65'" },
		{ "-H", "NoColon", "--header 'NoColon'" },
		{ "--header", "Range: bytes=0-", "--header 'Range: bytes=0-'" },
		{ "--header", "Two Words: x", "--header 'Two Words: x'" },
		{ "--proxy", "ftp://127.0.0.1:21", "--proxy 'ftp://127.0.0.1:21'" },
		{ "-x", "http://a\r\nX: y", "--proxy 'http://a" },
		{ "--noproxy", "a,\tb", "--noproxy 'a," },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct h_result r = h_get(NULL, false, cases[i][0], cases[i][1],
					  "http://127.0.0.1:1/x", (char *)NULL);

		CU_ASSERT_EQUAL(r.status, 2);
		CU_ASSERT(h_has(r.err, cases[i][2]));
		h_free(&r);
	}
}

static void test_bad_list_line_stops_before_any_download(void)
{
	char list[256];
	char *dir = h_dir("badline");
	struct h_result r;

	snprintf(list, sizeof(list), "%s/badline.txt", h_root);
	h_write_text(list, "http://127.0.0.1:1/a\n# ok\nhttp://127.0.0.1:1/b "
		     "sha256=xyz\n");
	r = h_get(NULL, true, "-d", dir, "-i", list, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 2);
	CU_ASSERT(h_has(r.err, "badline.txt:3:"));
	CU_ASSERT(h_has(r.err, "sha256"));
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	h_free(&r);
}

static void test_missing_list_file_is_named(void)
{
	struct h_result r = h_get(NULL, false, "-i", "/nonexistent/urls.txt",
				  (char *)NULL);

	CU_ASSERT_EQUAL(r.status, 2);
	CU_ASSERT(h_has(r.err, "/nonexistent/urls.txt"));
	h_free(&r);
}

static void test_bad_stdin_line_is_an_input_error(void)
{
	char list[256];
	struct h_result r;

	snprintf(list, sizeof(list), "%s/stdin-bad.txt", h_root);
	h_write_text(list, "\n\nnot a url\n");
	r = h_get(list, false, "-d", h_dir("stdin-bad"), "-i", "-", (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 2);
	CU_ASSERT(h_has(r.err, "stdin:3:"));
	h_free(&r);
}

/*
 * libringpool opens libcurl only for `get`; where the soname finds an empty
 * file, or a library without curl's functions, the run stops with a message
 * that names libcurl, before it touches the output folder.
 */
static void test_unloadable_libcurl_is_named(void)
{
	const char *fake = getenv("FAKECURL"), *soname = getenv("CURL_SONAME");
	char out[256], libdir[256], lib[1024];
	struct h_result r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fake);
	CU_ASSERT_PTR_NOT_NULL_FATAL(soname);
	snprintf(out, sizeof(out), "%s", h_dir("nocurl-out"));
	snprintf(libdir, sizeof(libdir), "%s", h_dir("nocurl-lib"));
	snprintf(lib, sizeof(lib), "%s/%s", libdir, soname);
	CU_ASSERT_EQUAL_FATAL(setenv("LD_LIBRARY_PATH", libdir, 1), 0);

	h_write_text(lib, "");
	r = h_get(NULL, false, "-d", out, "http://127.0.0.1:1/a.bin",
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "libcurl cannot be loaded"));
	h_free(&r);

	CU_ASSERT_EQUAL(unlink(lib), 0);
	CU_ASSERT_EQUAL_FATAL(symlink(fake, lib), 0);
	r = h_get(NULL, false, "-d", out, "http://127.0.0.1:1/a.bin",
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "lacks a function"));
	h_free(&r);

	unsetenv("LD_LIBRARY_PATH");
	CU_ASSERT_EQUAL(h_count_entries(out), 0);
}

/* ---- downloads ------------------------------------------------------------ */

static void test_nginx_files_arrive_whole(void)
{
	char list[256], text[2048], sha[65];
	char *dir = h_dir("nginx-basic");
	struct h_result r;

	if (!need_http())
		return;
	h_write_body(h_path(h_root, "www/one.bin"), "one.bin", 123457);
	h_write_body(h_path(h_root, "www/two.bin"), "two.bin", 0);
	h_write_body(h_path(h_root, "www/three.bin"), "three.bin", 3000000);
	h_sha_body("three.bin", 3000000, sha);
	snprintf(list, sizeof(list), "%s/nginx-basic.txt", h_root);
	snprintf(text, sizeof(text), "# three files\n%s\n\n%s name=zero\n"
		 "%s sha256=%s\n", nu("/one.bin"), nu("/two.bin"),
		 nu("/three.bin"), sha);
	h_write_text(list, text);
	r = h_get(NULL, true, "-d", dir, "-i", list, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "one.bin", "one.bin", 123457);
	h_assert_body(dir, "zero", "two.bin", 0);
	h_assert_body(dir, "three.bin", "three.bin", 3000000);
	CU_ASSERT_EQUAL(h_count_entries(dir), 3);
	/* Not a terminal: one plain line per file, then the totals. */
	CU_ASSERT(h_has(r.err, "done one.bin ("));
	CU_ASSERT(h_has(r.err, "done zero (0 B)"));
	CU_ASSERT(h_has(r.err, "3 done, 0 skipped, 0 failed"));
	CU_ASSERT_STRING_EQUAL(r.out, "");
	h_free(&r);
}

static void test_404_and_500_fail_with_their_status(void)
{
	char *dir = h_dir("errors");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, true, "-d", dir, "--retry", "2", "--retry-delay", "0.01",
		  fu("/status/404"), fu("/status/500"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "2 failed"));
	CU_ASSERT(h_has(r.err, "/status/404: HTTP 404"));
	CU_ASSERT(h_has(r.err, "/status/500: HTTP 500"));
	/* 404 is final; 500 is tried three times. */
	CU_ASSERT_EQUAL(h_fault_requests("/status/404 "), 1);
	CU_ASSERT_EQUAL(h_fault_requests("/status/500 "), 3);
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	h_free(&r);
}

static void test_503_then_success_honours_retry_after(void)
{
	char *dir = h_dir("flaky");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, true, "-d", dir, "--retry-delay", "0.01",
		  fu("/flaky/f1.bin?fail=1&retry_after=1&size=5000"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "f1.bin", "f1.bin", 5000);
	CU_ASSERT_EQUAL(h_fault_requests("/flaky/f1.bin"), 2);
	/* Retry-After: 1 wins over the 10 ms backoff. */
	CU_ASSERT(r.seconds >= 0.9);
	h_free(&r);
}

/* The delay of the first "retry" event on `out`, in seconds; -1 if none. */
static double retry_delay(const char *out)
{
	char *copy = strdup(out), *line, *save = NULL;
	double d = -1;

	for (line = strtok_r(copy, "\n", &save); line && d < 0;
	     line = strtok_r(NULL, "\n", &save)) {
		json_object *ev = json_tokener_parse(line), *v;

		if (ev && json_object_object_get_ex(ev, "event", &v) &&
		    !strcmp(json_object_get_string(v), "retry") &&
		    json_object_object_get_ex(ev, "delay", &v))
			d = json_object_get_double(v);
		json_object_put(ev);
	}
	free(copy);
	return d;
}

/* Ready (see h_getv_signal()) once the CLI has announced a retry. */
static bool retry_announced(void *arg)
{
	char *out = h_cli_out();
	bool seen = retry_delay(out) >= 0;

	(void)arg;
	free(out);
	return seen;
}

/*
 * Ready once the CLI has said every string of the NULL-terminated list
 * `arg` on its stderr.
 */
static bool err_has_all(void *arg)
{
	const char *const *want = arg;
	char *err = h_cli_err();
	bool all = true;

	for (; *want && all; want++)
		all = h_has(err, *want);
	free(err);
	return all;
}

/*
 * A Retry-After too large for nanoseconds in 64 bits waits the longest
 * (300 s), not what the overflow wrapped it to (18446744074 s was 0.29 s).
 */
static void test_huge_retry_after_waits_the_longest(void)
{
	const char *args[] = { "-d", NULL, "--json", "--retry", "1", NULL,
			       NULL };
	char *dir = h_dir("huge_ra");
	struct h_result r;

	if (!need_http())
		return;
	args[1] = dir;
	args[5] = fu("/flaky/ra.bin?fail=1&retry_after=18446744074");
	r = h_getv_signal(NULL, false, args, retry_announced, NULL, SIGINT);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT_DOUBLE_EQUAL(retry_delay(r.out), 300, 0.001);
	CU_ASSERT_EQUAL(h_fault_requests("/flaky/ra.bin"), 1);
	h_free(&r);
}

static void test_429_and_408_are_retried(void)
{
	char *dir = h_dir("429");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, false, "-d", dir, "--retry-delay", "0.01",
		  fu("/flaky/t1.bin?fail=2&code=429"),
		  fu("/flaky/t2.bin?fail=1&code=408"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "t1.bin", "t1.bin", 1000);
	h_assert_body(dir, "t2.bin", "t2.bin", 1000);
	h_free(&r);
}

static void test_dropped_connection_resumes_with_range(void)
{
	char *dir = h_dir("drop");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, true, "-d", dir, "--retry-delay", "0.01",
		  fu("/drop/d.bin?size=400000"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "d.bin", "d.bin", 400000);
	CU_ASSERT_EQUAL(h_fault_requests("/drop/d.bin"), 2);
	/* The retry asked for the rest, not for all of it again. */
	CU_ASSERT_EQUAL(h_fault_requests("/drop/d.bin?size=400000 -"), 1);
	CU_ASSERT_EQUAL(h_count_entries(dir), 1);
	h_free(&r);
}

static void test_short_body_never_gets_its_name(void)
{
	char *dir = h_dir("short");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, true, "-d", dir, "--retry", "1", "--retry-delay", "0.01",
		  fu("/short/s.bin?size=100000"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "/short/s.bin?size=100000: "));
	CU_ASSERT_FALSE(h_exists(h_path(dir, "s.bin")));
	h_free(&r);
}

/*
 * The size of the largest unnamed file (an O_TMPFILE) that a process has
 * open in `dir`, or -1: its /proc/PID/fd link reads "DIR/#INODE (deleted)".
 */
static long long unnamed_size(const char *dir)
{
	char link[1024], fdpath[600], prefix[600];
	struct dirent *p, *f;
	long long best = -1;
	DIR *procs, *fds;
	struct stat st;
	ssize_t n;

	snprintf(prefix, sizeof(prefix), "%s/#", dir);
	procs = opendir("/proc");
	if (!procs)
		return -1;
	while ((p = readdir(procs))) {
		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(fdpath, sizeof(fdpath), "/proc/%s/fd", p->d_name);
		fds = opendir(fdpath);
		if (!fds)
			continue;
		while ((f = readdir(fds))) {
			snprintf(fdpath, sizeof(fdpath), "/proc/%s/fd/%s",
				 p->d_name, f->d_name);
			n = readlink(fdpath, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (strncmp(link, prefix, strlen(prefix)) ||
			    !strstr(link, " (deleted)") ||
			    stat(fdpath, &st) < 0)
				continue;
			if (st.st_size > best)
				best = st.st_size;
		}
		closedir(fds);
	}
	closedir(procs);
	return best;
}

struct unnamed_watch {
	const char *dir;
	long long want;		/* bytes the unnamed file must hold */
	const char *then_write;	/* a file to make in `dir` once it does */
	bool name_seen;		/* anything had a name in `dir` before */
	bool held;		/* it did: asked again, the answer stays */
};

static bool unnamed_holds(void *arg)
{
	struct unnamed_watch *w = arg;

	if (w->held)
		return true;
	if (h_count_entries(w->dir) != 0)
		w->name_seen = true;
	if (unnamed_size(w->dir) < w->want)
		return false;
	if (w->then_write)
		CU_ASSERT_EQUAL(h_write_text(h_path(w->dir, w->then_write),
					     "another program's file\n"), 0);
	w->held = true;
	return true;
}

/*
 * A small new file has no name until it is whole: a run killed outright
 * halfway leaves nothing in the folder, neither NAME nor NAME.part.  One
 * stopped with SIGINT keeps the half as NAME.part, which -c resumes.
 */
static void test_small_file_has_no_name_until_whole(void)
{
	const char *args[] = { "-d", NULL, "--retry", "0", NULL, NULL };
	struct unnamed_watch w = { .want = 1000 };
	char *dir = h_dir("unnamed-kill");
	struct h_result r;

	if (!need_http())
		return;
	w.dir = args[1] = dir;
	args[4] = fu("/halfstall/k.bin?size=2000");
	r = h_getv_signal(NULL, false, args, unnamed_holds, &w, SIGKILL);
	CU_ASSERT_EQUAL(r.status, 128 + SIGKILL);
	CU_ASSERT_FALSE(w.name_seen);
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	h_free(&r);

	dir = h_dir("unnamed-int");
	w = (struct unnamed_watch){ .dir = dir, .want = 1000 };
	args[1] = dir;
	args[4] = fu("/halfstall/i.bin?size=2000");
	r = h_getv_signal(NULL, false, args, unnamed_holds, &w, SIGINT);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "/halfstall/i.bin?size=2000: interrupted"));
	CU_ASSERT_FALSE(w.name_seen);
	CU_ASSERT_EQUAL(h_count_entries(dir), 1);
	h_assert_body(dir, "i.bin.part", "i.bin", 1000);
	h_free(&r);

	r = h_get(NULL, true, "-d", dir, "-c", fu("/halfstall/i.bin?size=2000"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT(h_has(r.err, "done i.bin"));
	h_assert_body(dir, "i.bin", "i.bin", 2000);
	CU_ASSERT_EQUAL(h_fault_requests("/halfstall/i.bin?size=2000 1000"), 1);
	CU_ASSERT_EQUAL(h_count_entries(dir), 1);
	h_free(&r);
}

/*
 * A file that another program puts under NAME while the download is still
 * unnamed is replaced when the download is whole, as a rename of NAME.part
 * replaces it, and no NAME.part is left.
 */
static void test_name_taken_meanwhile_is_replaced(void)
{
	/* Linked with AT_EMPTY_PATH, then as older kernels let others. */
	static const char *const how[] = { NULL, "proc" };
	const char *args[] = { "-d", NULL, NULL, NULL };
	struct unnamed_watch w;
	struct h_result r;
	char *dir;
	size_t i;

	if (!need_http())
		return;
	for (i = 0; i < 2; i++) {
		dir = h_dir(how[i] ? "unnamed-taken-proc" : "unnamed-taken");
		w = (struct unnamed_watch){ .dir = dir, .want = 1000,
					    .then_write = "m.bin" };
		args[1] = dir;
		args[2] = fu(how[i] ? "/halfstall/mp.bin?size=2000&stall=1000"
				    : "/halfstall/m.bin?size=2000&stall=1000");
		w.then_write = how[i] ? "mp.bin" : "m.bin";
		if (how[i])
			setenv("RINGPOOL_GET_UNNAME", how[i], 1);
		r = h_getv_signal(NULL, false, args, unnamed_holds, &w, SIGCONT);
		unsetenv("RINGPOOL_GET_UNNAME");
		CU_ASSERT_EQUAL(r.status, 0);
		CU_ASSERT_FALSE(w.name_seen);
		h_assert_body(dir, w.then_write, w.then_write, 2000);
		CU_ASSERT_EQUAL(h_count_entries(dir), 1);
		h_free(&r);
	}
}

/*
 * A full file system: the report names the file being written and the
 * cause, the write error is not retried, and nothing gets the final name.
 * Needs a small tmpfs, so root; skipped otherwise.
 */
static void test_disk_full_names_the_file(void)
{
	char *dir = h_dir("full");
	char want[600], slash[520];
	struct h_result r;

	if (!need_http())
		return;
	if (mount("none", dir, "tmpfs", 0, "size=64k")) {
		printf("skipped: cannot mount a tmpfs (%s; needs root)\n",
		       strerror(errno));
		return;
	}
	/* "DIR/" as typed with a shell's completion: one '/' in messages. */
	snprintf(slash, sizeof(slash), "%s/", dir);
	r = h_get(NULL, true, "-d", slash, "--retry-delay", "0.01",
		  fu("/file/big.bin?size=1000000"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	snprintf(want, sizeof(want), "writing %s/big.bin.part: %s", dir,
		 strerror(ENOSPC));
	CU_ASSERT(h_has(r.err, want));
	if (!h_has(r.err, want))
		printf("stderr: %s\n", r.err);
	CU_ASSERT_EQUAL(h_fault_requests("/file/big.bin"), 1);
	CU_ASSERT_FALSE(h_exists(h_path(dir, "big.bin")));
	h_free(&r);
	umount2(dir, MNT_DETACH);
}

/*
 * A folder that cannot be written to is one error before any download,
 * not one failure per entry of the list.
 */
static void test_unwritable_folder_is_one_error(void)
{
	char *dir = h_dir("readonly"), want[400];
	bool mounted = false;
	struct h_result r;

	if (!need_http())
		return;
	if (geteuid() == 0) {
		/* Root writes whatever the mode says: a read-only mount. */
		if (mount("none", dir, "tmpfs", MS_RDONLY, "size=64k")) {
			printf("skipped: cannot mount a tmpfs (%s)\n",
			       strerror(errno));
			return;
		}
		mounted = true;
	} else {
		CU_ASSERT_EQUAL_FATAL(chmod(dir, 0555), 0);
	}
	r = h_get(NULL, true, "-d", dir, fu("/file/ro1.bin"),
		  fu("/file/ro2.bin"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 2);
	snprintf(want, sizeof(want), "ringpool get: cannot use folder '%s': "
		 "%s\n", dir, strerror(mounted ? EROFS : EACCES));
	CU_ASSERT(h_has(r.err, want));
	CU_ASSERT_EQUAL(h_fault_requests("/file/ro"), 0);
	h_free(&r);
	if (mounted)
		umount2(dir, MNT_DETACH);
	else
		chmod(dir, 0755);
}

static void test_stall_after_headers_times_out(void)
{
	char *dir = h_dir("stall");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, true, "-d", dir, "--retry", "0", "--stall-timeout", "1",
		  fu("/stall/st.bin"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "/stall/st.bin: "));
	CU_ASSERT(r.seconds < 15);
	CU_ASSERT_FALSE(h_exists(h_path(dir, "st.bin")));
	CU_ASSERT_FALSE(h_exists(h_path(dir, "st.bin.part")));
	h_free(&r);
}

static void test_redirect_chain_is_followed(void)
{
	char *dir = h_dir("redir");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, true, "-d", dir, fu("/redir/4/r.bin?size=7777"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	/* Named after the URL asked for, not after where it led. */
	h_assert_body(dir, "r.bin", "r.bin", 7777);
	CU_ASSERT_EQUAL(h_count_entries(dir), 1);
	h_free(&r);
}

/* A file's text, NUL-terminated ("" when it cannot be read); free() it. */
static char *file_text(const char *path)
{
	char *buf = calloc(1, 65536);
	FILE *f = fopen(path, "rb");

	if (buf && f)
		buf[fread(buf, 1, 65535, f)] = '\0';
	if (f)
		fclose(f);
	return buf;
}

/*
 * Runs `ringpool get -d DIR ARGS... faultd-URL PATH` and returns the text
 * of the file NAME it made there (for /headers/, the request's headers).
 */
static char *fetch_text(const char *dir, const char *path, const char *name,
			const char *const *args)
{
	const char *argv[16] = { "-d", dir };
	struct h_result r;
	size_t n = 2;

	while (*args && n < 14)
		argv[n++] = *args++;
	argv[n++] = fu(path);
	argv[n] = NULL;
	r = h_getv(NULL, true, argv);
	CU_ASSERT_EQUAL(r.status, 0);
	h_free(&r);
	return file_text(h_path(dir, name));
}

/*
 * --header and --user-agent reach the server; after a redirect to another
 * host name, Authorization no longer goes with them.
 */
static void test_headers_are_sent(void)
{
	static const char *const direct[] = {
		"-H", "X-Token: abc123", "--header",
		"Authorization: Bearer s3cret", "-A", "bulk-fetcher/2", "-H",
		"Accept:", NULL,
	};
	static const char *const away[] = {
		"-H", "X-Token: abc123", "--header",
		"Authorization: Bearer s3cret", NULL,
	};
	char *dir = h_dir("headers"), *got;

	if (!need_http())
		return;
	got = fetch_text(dir, "/headers/h.txt", "h.txt", direct);
	CU_ASSERT(h_has(got, "\r\nX-Token: abc123\r\n"));
	CU_ASSERT(h_has(got, "\r\nAuthorization: Bearer s3cret\r\n"));
	CU_ASSERT(h_has(got, "\r\nUser-Agent: bulk-fetcher/2\r\n"));
	/* "Accept:" removed the header libcurl sends by default. */
	CU_ASSERT_PTR_NULL(strstr(got, "\nAccept:"));
	free(got);

	got = fetch_text(dir, "/away/a.txt", "a.txt", away);
	CU_ASSERT(h_has(got, "Host: localhost:"));
	CU_ASSERT(h_has(got, "\r\nX-Token: abc123\r\n"));
	CU_ASSERT(h_has(got, "\r\nUser-Agent: ringpool/"));
	CU_ASSERT_PTR_NULL(strstr(got, "s3cret"));
	free(got);
}

/*
 * --proxy: a URL whose port refuses connections comes through nginx as the
 * proxy (it answers the absolute form a proxy is sent); --noproxy naming
 * the host goes straight there and fails, saying so; the environment's
 * http_proxy is used without --proxy, and --proxy '' turns it off.
 */
static void test_through_a_proxy(void)
{
	char *dir = h_dir("proxy");
	char www[512], url[128], proxy[64], logged[160];
	struct sockaddr_in addr;
	struct h_result r;
	int s;

	if (!need_http())
		return;
	snprintf(www, sizeof(www), "%s/www/px.bin", h_root);
	CU_ASSERT_EQUAL_FATAL(h_write_body(www, "px.bin", 5000), 0);
	s = tu_tcp_listener(&addr, -1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/px.bin",
		 ntohs(addr.sin_port));
	snprintf(logged, sizeof(logged), "GET %s ", url);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", h_nginx_port);

	r = h_get(NULL, true, "-d", dir, "--proxy", proxy, url, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "px.bin", "px.bin", 5000);
	CU_ASSERT_EQUAL(h_nginx_requests(logged), 1);
	h_free(&r);
	CU_ASSERT_EQUAL(unlink(h_path(dir, "px.bin")), 0);

	r = h_get(NULL, false, "-d", dir, "-x", proxy, "--noproxy",
		  "example.org,127.0.0.1", "--retry", "0", url, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, url));
	CU_ASSERT(h_has(r.err, "Failed to connect"));
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	CU_ASSERT_EQUAL(h_nginx_requests(logged), 1);
	h_free(&r);

	CU_ASSERT_EQUAL(setenv("http_proxy", proxy, 1), 0);
	r = h_get(NULL, false, "-d", dir, url, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "px.bin", "px.bin", 5000);
	CU_ASSERT_EQUAL(h_nginx_requests(logged), 2);
	h_free(&r);
	CU_ASSERT_EQUAL(unlink(h_path(dir, "px.bin")), 0);
	r = h_get(NULL, false, "-d", dir, "--proxy", "", "--retry", "0", url,
		  (char *)NULL);
	unsetenv("http_proxy");
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	CU_ASSERT_EQUAL(h_nginx_requests(logged), 2);
	h_free(&r);
	close(s);
}

static void test_redirect_loop_fails(void)
{
	char *dir = h_dir("loop");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, true, "-d", dir, "--max-redirs", "5", fu("/loop/l.bin"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "/loop/l.bin: "));
	/* One request, five redirects followed, then it gives up. */
	CU_ASSERT_EQUAL(h_fault_requests("/loop/l.bin"), 6);
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	h_free(&r);
}

static void test_dangerous_names_stay_inside(void)
{
	char *dir = h_dir("evil/inside");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, true, "-d", dir, fu("/evil/safe.bin"),
		  fu("/file/..%2F..%2Fescaped"), fu("/file/.hidden"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "safe.bin", "safe.bin", 1000);
	/* faultd's body key is its last '/' segment: "..%2F..%2Fescaped". */
	h_assert_body(dir, "_.._escaped", "..%2F..%2Fescaped", 1000);
	h_assert_body(dir, "hidden", ".hidden", 1000);
	CU_ASSERT_EQUAL(h_count_entries(dir), 3);
	CU_ASSERT_EQUAL(h_count_entries(h_path(h_root, "evil")), 1);
	CU_ASSERT_FALSE(h_exists(h_path(h_root, "evil.sh")));
	CU_ASSERT_FALSE(h_exists(h_path(h_root, "escaped")));
	h_free(&r);
}

static void test_collisions_get_suffixes(void)
{
	char *dir = h_dir("collide");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, false, "-d", dir, "-j", "1", fu("/file/c.bin?size=10"),
		  fu("/norange/c.bin?size=20"), fu("/redir/0/c.bin?size=30"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "c.bin", "c.bin", 10);
	h_assert_body(dir, "c.bin.1", "c.bin", 20);
	h_assert_body(dir, "c.bin.2", "c.bin", 30);
	h_free(&r);
}

static void test_checksum_mismatch_leaves_nothing(void)
{
	char list[256], text[1024], sha[65];
	char *dir = h_dir("badsum");
	struct h_result r;

	if (!need_http())
		return;
	h_sha_body("other", 1000, sha);
	snprintf(list, sizeof(list), "%s/badsum.txt", h_root);
	snprintf(text, sizeof(text), "%s sha256=%s\n", fu("/file/b.bin"), sha);
	h_write_text(list, text);
	r = h_get(NULL, true, "-d", dir, "-i", list, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "sha256 mismatch"));
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	h_free(&r);
}

static void test_continue_resumes_part_files(void)
{
	char *dir = h_dir("resume");
	struct h_result r;

	if (!need_http())
		return;
	h_write_body(h_path(dir, "p.bin.part"), "p.bin", 60000);
	/* A server that ignores Range: the .part is rewritten from 0. */
	h_write_body(h_path(dir, "q.bin.part"), "q.bin", 70000);
	r = h_get(NULL, true, "-d", dir, "-c", fu("/file/p.bin?size=150001"),
		  fu("/norange/q.bin?size=90000"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "p.bin", "p.bin", 150001);
	h_assert_body(dir, "q.bin", "q.bin", 90000);
	CU_ASSERT_EQUAL(h_fault_requests("/file/p.bin?size=150001 60000"), 1);
	CU_ASSERT_EQUAL(h_count_suffix(dir, ".part"), 0);
	h_free(&r);
}

static void test_continue_with_a_whole_part_file(void)
{
	char *dir = h_dir("whole-part");
	struct h_result r;

	if (!need_http())
		return;
	/* Complete but never renamed: the server answers 416. */
	h_write_body(h_path(dir, "w.bin.part"), "w.bin", 5000);
	r = h_get(NULL, false, "-d", dir, "-c", fu("/file/w.bin?size=5000"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "w.bin", "w.bin", 5000);
	h_free(&r);
}

/*
 * A resume that the server answers with 200 rewrites the .part from byte 0.
 * If that answer breaks off, the bytes past what it wrote are the old
 * .part's, not the file's: a later resume must start where the new bytes
 * end, not where the old ones did, or it splices the two.
 */
static void test_broken_200_on_resume_leaves_no_stale_tail(void)
{
	char *dir = h_dir("stale-tail");
	struct stat st;
	struct h_result r;

	if (!need_http())
		return;
	/* Left for the next run: 300 new bytes, then 500 old ones. */
	h_write_body(h_path(dir, "t1.bin.part"), "other", 800);
	r = h_get(NULL, true, "-d", dir, "-c", "--retry", "0",
		  fu("/once200/t1.bin?size=1000&cut=300"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	h_free(&r);
	CU_ASSERT_EQUAL(stat(h_path(dir, "t1.bin.part"), &st), 0);
	CU_ASSERT_EQUAL(st.st_size, 300);
	r = h_get(NULL, false, "-d", dir, "-c",
		  fu("/once200/t1.bin?size=1000&cut=300"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "t1.bin", "t1.bin", 1000);
	h_free(&r);

	/* The same within one run: the 200 broke off before any byte. */
	h_write_body(h_path(dir, "t2.bin.part"), "other", 800);
	r = h_get(NULL, false, "-d", dir, "-c", "--retry", "1",
		  "--retry-delay", "0", fu("/once200/t2.bin?size=1000&cut=0"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "t2.bin", "t2.bin", 1000);
	CU_ASSERT_EQUAL(h_count_suffix(dir, ".part"), 0);
	h_free(&r);
}

/*
 * -j beyond what the soft limit on open files allows (a .part and a
 * connection each): the limit is raised, not every file past it failed
 * with "Too many open files"; where the hard limit is too low, -j is
 * lowered to fit, and the run says so.
 */
static void test_many_jobs_fit_the_open_file_limit(void)
{
	char *dir = h_dir("nofile"), list[256], line[256], *err;
	struct rlimit old, low;
	struct h_result r;
	pid_t pid;
	FILE *f;
	int i, st;

	if (!need_http())
		return;
	/* Valgrind keeps a limit of its own for the program it runs. */
	if (tu_under_valgrind()) {
		printf("skipped: under valgrind, RLIMIT_NOFILE is emulated\n");
		return;
	}
	snprintf(list, sizeof(list), "%s/nofile.txt", h_root);
	f = fopen(list, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (i = 0; i < 150; i++)
		fprintf(f, "%s\n", fu((snprintf(line, sizeof(line),
					       "/file/nf%d?size=300000", i),
					      line)));
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_NOFILE, &old), 0);
	if (old.rlim_max != RLIM_INFINITY && old.rlim_max < 400) {
		printf("skipped: the hard limit on open files is %llu\n",
		       (unsigned long long)old.rlim_max);
		return;
	}
	low = old;
	low.rlim_cur = 64;
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_NOFILE, &low), 0);
	r = h_get(NULL, false, "-q", "-d", dir, "-j", "150", "-i", list,
		  (char *)NULL);
	CU_ASSERT_EQUAL(setrlimit(RLIMIT_NOFILE, &old), 0);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_EQUAL(h_count_entries(dir), 150);
	CU_ASSERT_PTR_NULL(strstr(r.err, "Too many open files"));
	h_free(&r);

	/* A hard limit too low for -j: set in a child, which cannot undo it. */
	dir = h_dir("nofile-hard");
	snprintf(line, sizeof(line), "%s/nofile-hard.err", h_root);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int fd = open(line, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		low.rlim_cur = low.rlim_max = 128;
		if (fd < 0 || dup2(fd, 2) < 0 ||
		    setrlimit(RLIMIT_NOFILE, &low) < 0)
			_exit(126);
		execl(getenv("RINGPOOL_BIN"), "ringpool", "get", "-q", "-d",
		      dir, "-j", "150", "-i", list, (char *)NULL);
		_exit(127);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT_EQUAL(h_count_entries(dir), 150);
	err = h_slurp(line);
	CU_ASSERT(h_has(err, "at most 30 transfers at once (not -j 150): "
			     "the limit on open files (ulimit -n) is 128"));
	free(err);
}

/*
 * A .part that another process is writing (a run into the same folder
 * that overlaps this one) is neither emptied nor written to: the entry
 * fails, saying why, and the file is left to its writer.
 */
static void test_part_being_written_elsewhere_is_left_alone(void)
{
	char *dir = h_dir("locked"), want[65], got[65];
	const char *part = h_path(dir, "lk.bin.part");
	struct h_result r;
	int fd;

	if (!need_http())
		return;
	h_write_body(part, "other", 5000);
	h_sha_file(part, want);
	fd = open(part, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(flock(fd, LOCK_EX), 0);
	r = h_get(NULL, true, "-d", dir, fu("/file/lk.bin?size=9000"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "lk.bin.part is being written by another "
			       "process"));
	h_free(&r);
	r = h_get(NULL, true, "-d", dir, "-c", fu("/file/lk.bin?size=9000"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	h_free(&r);
	h_sha_file(part, got);
	CU_ASSERT_STRING_EQUAL(got, want);
	CU_ASSERT_FALSE(h_exists(h_path(dir, "lk.bin")));
	CU_ASSERT_EQUAL(h_fault_requests("/file/lk.bin"), 0);
	close(fd);
	/* Once its writer is gone, the file is this run's to redo. */
	r = h_get(NULL, false, "-d", dir, fu("/file/lk.bin?size=9000"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "lk.bin", "lk.bin", 9000);
	h_free(&r);
}

/*
 * A folder where the file should go fails the entry before its download,
 * not after it, at the rename (and again on every run).
 */
static void test_folder_in_the_way_fails_before_the_download(void)
{
	char *dir = h_dir("folder-name");
	struct h_result r;

	if (!need_http())
		return;
	CU_ASSERT_EQUAL_FATAL(mkdir(h_path(dir, "fo.bin"), 0755), 0);
	r = h_get(NULL, true, "-d", dir, fu("/file/fo.bin?size=5000"),
		  fu("/file/fine.bin"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "/fo.bin is a folder: the file cannot take "
			       "its name"));
	CU_ASSERT_EQUAL(h_fault_requests("/file/fo.bin"), 0);
	CU_ASSERT_FALSE(h_exists(h_path(dir, "fo.bin.part")));
	h_assert_body(dir, "fine.bin", "fine.bin", 1000);
	h_free(&r);
}

static void test_output_name_for_one_url(void)
{
	char *dir = h_dir("output");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, false, "-d", dir, "-o", "chosen.dat",
		  fu("/file/o.bin?size=321"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "chosen.dat", "o.bin", 321);
	CU_ASSERT_EQUAL(h_count_entries(dir), 1);
	h_free(&r);
}

static void test_quiet_prints_only_failures(void)
{
	char *dir = h_dir("quiet");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, false, "-q", "-d", dir, fu("/file/q1.bin"),
		  fu("/status/403?q"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT_PTR_NULL(strstr(r.err, "done"));
	CU_ASSERT(h_has(r.err, "1 failed:\n  "));
	CU_ASSERT(h_has(r.err, "/status/403?q: HTTP 403"));
	h_assert_body(dir, "q1.bin", "q1.bin", 1000);
	h_free(&r);
}

static void test_fsync_finish(void)
{
	char *dir = h_dir("fsync");
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, true, "-d", dir, "--fsync", fu("/file/s1.bin?size=70000"),
		  fu("/norange/s2.bin?size=10"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "s1.bin", "s1.bin", 70000);
	h_assert_body(dir, "s2.bin", "s2.bin", 10);
	CU_ASSERT_EQUAL(h_count_entries(dir), 2);
	h_free(&r);
}

static void test_limit_rate_is_aggregate(void)
{
	char *dir = h_dir("rate");
	struct h_result r;

	if (!need_http())
		return;
	/* 1.2 MB at 1 MiB/s in all: over a second, whatever the split. */
	r = h_get(NULL, false, "-d", dir, "--limit-rate", "1M",
		  fu("/file/r1.bin?size=600000"), fu("/file/r2.bin?size=600000"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT(r.seconds > 0.8);
	h_assert_body(dir, "r1.bin", "r1.bin", 600000);
	h_assert_body(dir, "r2.bin", "r2.bin", 600000);
	h_free(&r);
}

/* The "done NAME (...)" line of `err` says "resumed". */
static bool done_resumed(const char *err, const char *name)
{
	char key[128];
	const char *line, *end;

	snprintf(key, sizeof(key), "done %s (", name);
	line = strstr(err, key);
	if (!line)
		return false;
	end = strchr(line, '\n');
	line = strstr(line, "resumed");
	return line && (!end || line < end);
}

/* Ready once both .part files of the -d folder `arg` have bytes in. */
static bool both_parts_begun(void *arg)
{
	const char *dir = arg;
	struct stat st;

	return stat(h_path(dir, "same.bin.part"), &st) == 0 && st.st_size > 0 &&
	       stat(h_path(dir, "changed.bin.part"), &st) == 0 &&
	       st.st_size > 0;
}

static bool part_begun(void *arg);

/*
 * A run killed outright (SIGKILL, the OOM killer) has no chance to record
 * anything at its end: a body that has a .part while it comes carries its
 * validator from the body's start, so that -c after the server's file
 * changed still gets the new version whole instead of splicing it onto the
 * old bytes.  Such a .part is one of 128 KiB or more, or any body where
 * new files cannot start unnamed (RINGPOOL_GET_UNNAME=no stands for a
 * file system without O_TMPFILE).
 */
static void killed_run_leaves_the_validator(const char *name, size_t size,
					    const char *rate,
					    const char *unname)
{
	const char *args[] = { "-d", NULL, "--limit-rate", rate, NULL, NULL };
	char *dir = h_dir(name);
	char part[512], www[512], tag1[64], tag2[64], path[64], done[80];
	struct timespec ts[2];
	struct h_result r;

	if (!need_http())
		return;
	snprintf(part, sizeof(part), "%s.part", h_path(dir, name));
	snprintf(www, sizeof(www), "%s/www/%s", h_root, name);
	snprintf(tag1, sizeof(tag1), "%s-v1", name);
	snprintf(tag2, sizeof(tag2), "%s-v2", name);
	snprintf(path, sizeof(path), "/%s", name);
	snprintf(done, sizeof(done), "done %s", name);
	CU_ASSERT_EQUAL_FATAL(h_write_body(www, tag1, size), 0);
	args[1] = dir;
	args[4] = nu(path);
	if (unname)
		setenv("RINGPOOL_GET_UNNAME", unname, 1);
	r = h_getv_signal(NULL, false, args, part_begun, part, SIGKILL);
	unsetenv("RINGPOOL_GET_UNNAME");
	CU_ASSERT_EQUAL(r.status, 128 + SIGKILL);
	h_free(&r);
	CU_ASSERT_FATAL(h_exists(part));
	if (getxattr(part, "user.ringpool.validator", NULL, 0) < 0) {
		CU_ASSERT_EQUAL(errno, ENOTSUP);
		printf("skipped: no user extended attributes in %s (%s)\n",
		       dir, strerror(errno));
		return;
	}
	/* Other bytes, the same size, a later date (nginx's ETag). */
	CU_ASSERT_EQUAL_FATAL(h_write_body(www, tag2, size), 0);
	CU_ASSERT_EQUAL(clock_gettime(CLOCK_REALTIME, &ts[0]), 0);
	ts[0].tv_sec += 100;
	ts[1] = ts[0];
	CU_ASSERT_EQUAL(utimensat(AT_FDCWD, www, ts, 0), 0);
	r = h_get(NULL, true, "-d", dir, "-c", nu(path), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT(h_has(r.err, done));
	CU_ASSERT_FALSE(done_resumed(r.err, name));
	h_assert_body(dir, name, tag2, size);
	CU_ASSERT(getxattr(h_path(dir, name), "user.ringpool.validator",
			   NULL, 0) < 0);
	h_free(&r);
}

static void test_killed_run_leaves_the_validator(void)
{
	killed_run_leaves_the_validator("big.bin", 400000, "100k", NULL);
}

/* A small body written as NAME.part throughout, at 10 KiB/s: 6 s. */
static void test_killed_run_leaves_the_validator_of_a_small_part(void)
{
	killed_run_leaves_the_validator("small.bin", 60000, "10k", "no");
}

/*
 * -c after the server's file changed: the .part's validator (its ETag,
 * kept in an extended attribute) goes as If-Range, so the new version
 * comes whole instead of its end being spliced onto the old beginning;
 * the unchanged file beside it resumes.
 */
static void test_continue_after_the_file_changed(void)
{
	const char *args[] = { "-d", NULL, "--limit-rate", "100k",
			       NULL, NULL, NULL };
	char *dir = h_dir("changed");
	char same[512], changed[512];
	struct timespec ts[2];
	struct h_result r;

	if (!need_http())
		return;
	snprintf(same, sizeof(same), "%s/www/same.bin", h_root);
	snprintf(changed, sizeof(changed), "%s/www/changed.bin", h_root);
	CU_ASSERT_EQUAL_FATAL(h_write_body(same, "same-v1", 400000), 0);
	CU_ASSERT_EQUAL_FATAL(h_write_body(changed, "changed-v1", 400000), 0);
	args[1] = dir;
	args[4] = nu("/same.bin");
	args[5] = nu("/changed.bin");
	/*
	 * Once some bytes of both have arrived (an empty .part is removed);
	 * at 100 KiB/s the rest takes seconds more.
	 */
	r = h_getv_signal(NULL, false, args, both_parts_begun, dir, SIGINT);
	CU_ASSERT_EQUAL(r.status, 1);
	h_free(&r);
	CU_ASSERT_FATAL(h_exists(h_path(dir, "changed.bin.part")));
	CU_ASSERT_FATAL(h_exists(h_path(dir, "same.bin.part")));
	if (getxattr(h_path(dir, "changed.bin.part"),
		     "user.ringpool.validator", NULL, 0) < 0) {
		CU_ASSERT_EQUAL(errno, ENOTSUP);
		printf("skipped: no user extended attributes in %s (%s)\n",
		       dir, strerror(errno));
		return;
	}
	/* Other bytes, the same size, a later date (nginx's ETag). */
	CU_ASSERT_EQUAL_FATAL(h_write_body(changed, "changed-v2", 400000), 0);
	CU_ASSERT_EQUAL(clock_gettime(CLOCK_REALTIME, &ts[0]), 0);
	ts[0].tv_sec += 100;
	ts[1] = ts[0];
	CU_ASSERT_EQUAL(utimensat(AT_FDCWD, changed, ts, 0), 0);
	r = h_get(NULL, true, "-d", dir, "-c", nu("/same.bin"),
		  nu("/changed.bin"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT(done_resumed(r.err, "same.bin"));
	CU_ASSERT(h_has(r.err, "done changed.bin"));
	CU_ASSERT_FALSE(done_resumed(r.err, "changed.bin"));
	h_assert_body(dir, "same.bin", "same-v1", 400000);
	h_assert_body(dir, "changed.bin", "changed-v2", 400000);
	/* What -c needed does not stay on the finished file. */
	CU_ASSERT(getxattr(h_path(dir, "same.bin"), "user.ringpool.validator",
			   NULL, 0) < 0);
	h_free(&r);

	/* Nor does the validator of a .part that a fresh start emptied. */
	h_write_body(h_path(dir, "fresh.bin.part"), "same-v1", 1000);
	CU_ASSERT_EQUAL(setxattr(h_path(dir, "fresh.bin.part"),
				 "user.ringpool.validator", "\"old\"", 5, 0), 0);
	r = h_get(NULL, false, "-d", dir, "-o", "fresh.bin", nu("/same.bin"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "fresh.bin", "same-v1", 400000);
	CU_ASSERT(getxattr(h_path(dir, "fresh.bin"), "user.ringpool.validator",
			   NULL, 0) < 0);
	h_free(&r);
}

/*
 * Ready when the three transfers of test_sigint_stops_and_keeps_parts() are
 * where it interrupts them.
 */
static bool in_flight_and_in_backoff(void *arg)
{
	static const char *const retries[] = {
		"/flaky/i2.bin?fail=1 in ", "/drop/i3.bin?size=300000 in ", NULL
	};

	(void)arg;
	return h_fault_requests("/stall/i1.bin") > 0 &&
	       err_has_all((void *)retries);
}

static void test_sigint_stops_and_keeps_parts(void)
{
	const char *args[] = { "-d", NULL, "--retry-delay", "30",
			       NULL, NULL, NULL, NULL };
	char *dir = h_dir("sigint");
	struct h_result r;

	if (!need_http())
		return;
	args[1] = dir;
	args[4] = fu("/stall/i1.bin");		/* in flight */
	args[5] = fu("/flaky/i2.bin?fail=1");	/* in its backoff */
	args[6] = fu("/drop/i3.bin?size=300000");	/* half, then backoff */
	r = h_getv_signal(NULL, false, args, in_flight_and_in_backoff, NULL,
			  SIGINT);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "interrupted by SIGINT"));
	CU_ASSERT(h_has(r.err, "/stall/i1.bin: interrupted"));
	CU_ASSERT(h_has(r.err, "/flaky/i2.bin?fail=1: interrupted"));
	/* At once, not after the 30 s stall or backoff. */
	CU_ASSERT(r.after_signal < 10);
	/* Nothing under a final name; the half file stays for -c. */
	CU_ASSERT_EQUAL(h_count_entries(dir), 1);
	CU_ASSERT(h_exists(h_path(dir, "i3.bin.part")));
	h_free(&r);
}

static bool part_begun(void *arg)
{
	struct stat st;

	return stat(arg, &st) == 0 && st.st_size > 0;
}

/*
 * SIGHUP (the terminal or the ssh session went away) stops the run as
 * SIGINT does: the .part stays with its validator for -c, the summary is
 * written, the exit status is 1.  Under nohup (SIGHUP ignored) the run
 * goes on.
 */
static void test_sighup_stops_as_sigint_does(void)
{
	void (*old_hup)(int);
	const char *args[] = { "-d", NULL, "--limit-rate", "100k", NULL, NULL };
	char *dir = h_dir("sighup"), www[512];
	const char *part = h_path(dir, "hup.bin.part");
	struct h_result r;

	if (!need_http())
		return;
	snprintf(www, sizeof(www), "%s/www/hup.bin", h_root);
	CU_ASSERT_EQUAL_FATAL(h_write_body(www, "hup", 250000), 0);
	args[1] = dir;
	args[4] = nu("/hup.bin");
	/*
	 * The run inherits what this process does with SIGHUP, which is to
	 * ignore it when the suite itself runs under nohup.
	 */
	old_hup = signal(SIGHUP, SIG_DFL);
	r = h_getv_signal(NULL, false, args, part_begun, (void *)part, SIGHUP);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "interrupted by SIGHUP"));
	CU_ASSERT(h_has(r.err, "/hup.bin: interrupted"));
	CU_ASSERT(h_exists(part));
	CU_ASSERT_FALSE(h_exists(h_path(dir, "hup.bin")));
	if (getxattr(part, "user.ringpool.validator", NULL, 0) < 0)
		CU_ASSERT_EQUAL(errno, ENOTSUP);
	h_free(&r);

	dir = h_dir("nohup");
	args[1] = dir;
	part = h_path(dir, "hup.bin.part");
	signal(SIGHUP, SIG_IGN);
	r = h_getv_signal(NULL, false, args, part_begun, (void *)part, SIGHUP);
	signal(SIGHUP, old_hup);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "hup.bin", "hup", 250000);
	h_free(&r);

	/* Started with SIGINT ignored, as a script's `ringpool get ... &`. */
	dir = h_dir("bg-sigint");
	args[1] = dir;
	part = h_path(dir, "hup.bin.part");
	signal(SIGINT, SIG_IGN);
	r = h_getv_signal(NULL, false, args, part_begun, (void *)part, SIGINT);
	signal(SIGINT, SIG_DFL);
	CU_ASSERT_EQUAL(r.status, 0);
	h_assert_body(dir, "hup.bin", "hup", 250000);
	h_free(&r);
}

/*
 * Starts a writer that puts `line` into the FIFO `fifo` and then keeps it
 * open for 90 s, longer than h_getv_signal() waits for the CLI to be ready
 * (opened read-write, so that neither side blocks on open): a list whose
 * next line is long in coming.
 */
static pid_t slow_list_writer(const char *fifo, const char *line)
{
	pid_t writer;

	fflush(NULL);
	writer = fork();
	if (writer == 0) {
		int wfd = open(fifo, O_RDWR);

		if (wfd < 0 || write(wfd, line, strlen(line)) < 0)
			_exit(1);
		sleep(90);
		_exit(0);
	}
	return writer;
}

/*
 * Runs `ringpool get -d DIR -i -` with a FIFO for stdin that gets `url` as
 * its one line and then stays open (slow_list_writer()), sending `sig`
 * once `ready(arg)` (see h_getv_signal()).
 */
static struct h_result run_on_slow_list(const char *dir, const char *url,
					bool (*ready)(void *arg), void *arg,
					int sig)
{
	const char *args[] = { "-d", dir, "-i", "-", NULL };
	char fifo[256], line[600];
	struct h_result r;
	pid_t writer;

	snprintf(fifo, sizeof(fifo), "%s/slow.fifo", h_root);
	unlink(fifo);
	CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
	snprintf(line, sizeof(line), "%s\n", url);
	writer = slow_list_writer(fifo, line);
	CU_ASSERT_FATAL(writer >= 0);
	r = h_getv_signal(fifo, false, args, ready, arg, sig);
	kill(writer, SIGKILL);
	waitpid(writer, NULL, 0);
	unlink(fifo);
	return r;
}

/*
 * A list on a pipe whose writer is slow: SIGTERM (a pod being stopped)
 * stops the transfers in flight at once, also while the next line is
 * awaited, not once it comes (or never).
 */
/* Ready once the server has had the request for the path `arg`. */
static bool requested(void *arg)
{
	return h_fault_requests(arg) > 0;
}

static void test_sigterm_while_waiting_for_stdin(void)
{
	char *dir = h_dir("sigterm_stdin");
	struct h_result r;

	if (!need_http())
		return;
	r = run_on_slow_list(dir, fu("/stall/w1.bin"), requested,
			     "/stall/w1.bin", SIGTERM);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "interrupted by SIGTERM"));
	CU_ASSERT(h_has(r.err, "/stall/w1.bin: interrupted"));
	/* Not the 90 s of the writer nor the 30 s of the stall. */
	CU_ASSERT(r.after_signal < 10);
	CU_ASSERT_EQUAL(h_count_entries(dir), 0);
	h_free(&r);
}

/*
 * A file ends under its final name, and is reported, while the list's
 * next line is still awaited: a slow producer (a crawler feeding URLs)
 * does not hold back the files already downloaded.
 */
static void test_file_finishes_while_list_waits(void)
{
	char *dir = h_dir("slow_list");
	struct h_result r;

	if (!need_http())
		return;
	/*
	 * Interrupted once it reports the file done: a CLI that held it back
	 * until the list ends never does, and is interrupted after a minute
	 * without it.
	 */
	r = run_on_slow_list(dir, fu("/file/early.bin?size=5000"), err_has_all,
			     (void *)(const char *const[]){ "done early.bin",
							    NULL },
			     SIGINT);
	CU_ASSERT_EQUAL(r.status, 1);
	CU_ASSERT(h_has(r.err, "done early.bin"));
	CU_ASSERT(h_exists(h_path(dir, "early.bin")));
	CU_ASSERT_FALSE(h_exists(h_path(dir, "early.bin.part")));
	CU_ASSERT(r.after_signal < 10);
	h_free(&r);
}

/* Counts the NDJSON events of each type on `out`; all lines must parse. */
static void count_events(const char *out, unsigned *start, unsigned *done,
			 unsigned *failed, unsigned *skipped,
			 json_object **summary)
{
	char *copy = strdup(out), *line, *save = NULL;

	*start = *done = *failed = *skipped = 0;
	*summary = NULL;
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_object *ev = json_tokener_parse(line), *t;
		const char *type;

		CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
		CU_ASSERT_FATAL(json_object_object_get_ex(ev, "event", &t));
		type = json_object_get_string(t);
		if (!strcmp(type, "start"))
			(*start)++;
		else if (!strcmp(type, "done"))
			(*done)++;
		else if (!strcmp(type, "failed"))
			(*failed)++;
		else if (!strcmp(type, "skipped"))
			(*skipped)++;
		if (!strcmp(type, "summary")) {
			json_object_put(*summary);
			*summary = ev;
		} else {
			json_object_put(ev);
		}
	}
	free(copy);
}

static int64_t field(json_object *o, const char *key)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v)
		       ? json_object_get_int64(v) : -1;
}

static void test_json_events(void)
{
	char *dir = h_dir("json");
	unsigned start, done, failed, skipped;
	json_object *summary;
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, true, "-d", dir, "--json", "--retry", "0",
		  fu("/file/j1.bin"), fu("/status/404?j"), (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	count_events(r.out, &start, &done, &failed, &skipped, &summary);
	CU_ASSERT_EQUAL(start, 2);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_EQUAL(failed, 1);
	CU_ASSERT_EQUAL(field(summary, "done"), 1);
	CU_ASSERT_EQUAL(field(summary, "failed"), 1);
	CU_ASSERT(h_has(r.out, "\"reason\":\"HTTP 404\""));
	/* The failure summary still goes to stderr. */
	CU_ASSERT(h_has(r.err, "/status/404?j: HTTP 404"));
	json_object_put(summary);
	h_free(&r);
}

/*
 * Every event is valid JSON, and so valid UTF-8, also when a name decoded
 * from the URL is not ("%FF%FE"): such bytes are U+FFFD in the event, and
 * the file keeps its name.
 */
static void test_json_is_utf8_for_any_name(void)
{
	char *dir = h_dir("json_utf8");
	char *copy, *line, *save = NULL, want[600];
	struct json_tokener *tok;
	unsigned lines = 0;
	struct h_result r;

	if (!need_http())
		return;
	r = h_get(NULL, true, "-d", dir, "--json", "--retry", "0",
		  fu("/file/%FF%FEu1.bin"), fu("/status/404/%C3%28u2"),
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 1);
	tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	copy = strdup(r.out);
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_object *ev;

		json_tokener_reset(tok);
		ev = json_tokener_parse_ex(tok, line, (int)strlen(line) + 1);
		CU_ASSERT_PTR_NOT_NULL(ev);
		if (!ev)
			printf("  not UTF-8 JSON: %s\n", line);
		json_object_put(ev);
		lines++;
	}
	CU_ASSERT_EQUAL(lines, 5);	/* 2 start, done, failed, summary */
	CU_ASSERT(h_has(r.out, "\"name\":\"\xef\xbf\xbd\xef\xbf\xbdu1.bin\""));
	/* A URL reads as itself, so that grep finds it: no "\/". */
	snprintf(want, sizeof(want), "\"url\":\"%s\"",
		 fu("/status/404/%C3%28u2"));
	CU_ASSERT(h_has(r.out, want));
	h_assert_body(dir, "\xff\xfeu1.bin", "%FF%FEu1.bin", 1000);
	free(copy);
	json_tokener_free(tok);
	h_free(&r);
}

/*
 * The reader of the --json events goes away (| head -1): the run stops as
 * on SIGTERM, says why and exits 1, rather than dying of SIGPIPE with
 * empty .part files left behind.
 */
static void test_json_reader_gone_stops_the_run(void)
{
	char *dir = h_dir("json_epipe");
	char err[256], c, *text;
	int out[2], st = -1, efd;
	double t0;
	pid_t pid;

	if (!need_http())
		return;
	snprintf(err, sizeof(err), "%s/json_epipe.err", h_root);
	efd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(efd >= 0);
	CU_ASSERT_EQUAL_FATAL(pipe(out), 0);
	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(efd, 2);
		close(out[0]);
		/*
		 * A closed reader shows at the next write: ep2's end, 1 s
		 * or so in, while ep3 waits on its stalled server.
		 */
		execl(getenv("RINGPOOL_BIN"), "ringpool", "get", "--json",
		      "-d", dir, "--limit-rate", "200k",
		      fu("/file/ep1.bin?size=1000"),
		      fu("/file/ep2.bin?size=200000"), fu("/stall/ep3.bin"),
		      (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(efd);
	t0 = tu_now_ns() / 1e9;
	/* The first event, then the reader is gone. */
	CU_ASSERT_EQUAL(read(out[0], &c, 1), 1);
	close(out[0]);
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	/* Not the 30 s of the stall. */
	CU_ASSERT(tu_now_ns() / 1e9 - t0 < 10);
	text = h_slurp(err);
	CU_ASSERT(h_has(text, "stdout was closed"));
	free(text);
	/* The stalled one had no byte: no empty .part. */
	CU_ASSERT_FALSE(h_exists(h_path(dir, "ep3.bin.part")));
}

/*
 * A reader that went away when every file was done already: the events
 * are lost (exit 1), but there is nothing to run again for.
 */
static void test_json_reader_gone_after_all_done(void)
{
	char *dir = h_dir("json_epipe_done");
	char err[256], *text;
	int out[2], st = -1, efd;
	pid_t pid;

	if (!need_http())
		return;
	CU_ASSERT_EQUAL_FATAL(h_write_body(h_path(dir, "done.bin"), "d", 10),
			      0);
	snprintf(err, sizeof(err), "%s/json_epipe_done.err", h_root);
	efd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(efd >= 0);
	CU_ASSERT_EQUAL_FATAL(pipe(out), 0);
	close(out[0]);		/* gone before the first event */
	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(efd, 2);
		execl(getenv("RINGPOOL_BIN"), "ringpool", "get", "--json", "-c",
		      "-d", dir, nu("/done.bin"), (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(efd);
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	text = h_slurp(err);
	CU_ASSERT(h_has(text, "stdout was closed"));
	CU_ASSERT(h_has(text, "every file is done"));
	CU_ASSERT_FALSE(h_has(text, "run again"));
	free(text);
}

/* Events that cannot be written (stdout on a full disk) are an error. */
static void test_json_write_error_is_reported(void)
{
	char *dir = h_dir("json_full");
	char cmd[1024], err[256], *text;
	int st;

	if (!need_http())
		return;
	snprintf(err, sizeof(err), "%s/json_full.err", h_root);
	snprintf(cmd, sizeof(cmd), "'%s' get --json -d '%s' '%s' >/dev/full "
		 "2>'%s'", getenv("RINGPOOL_BIN"), dir, fu("/file/jf.bin"),
		 err);
	st = system(cmd);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	text = h_slurp(err);
	CU_ASSERT(h_has(text, "cannot write the --json events to stdout: "
			      "No space left on device"));
	free(text);
	/* The download itself is done. */
	h_assert_body(dir, "jf.bin", "jf.bin", 1000);
}

/* Writes a list of `n` nginx files "many/fI" (I from 0) and creates them. */
static void make_many(const char *list, size_t n)
{
	FILE *f = fopen(list, "w");
	char path[512];
	size_t i;

	mkdir(h_path(h_root, "www/many"), 0755);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/www/many/f%zu", h_root, i);
		if (!h_exists(path)) {
			char key[32];

			snprintf(key, sizeof(key), "f%zu", i);
			h_write_body(path, key, 64 + i % 512);
		}
		fprintf(f, "http://127.0.0.1:%d/many/f%zu\n", h_nginx_port, i);
	}
	fclose(f);
}

static void assert_many(const char *dir, size_t n)
{
	size_t i, bad = 0;

	for (i = 0; i < n; i++) {
		char name[32], got[65], want[65];

		snprintf(name, sizeof(name), "f%zu", i);
		h_sha_file(h_path(dir, name), got);
		h_sha_body(name, 64 + i % 512, want);
		bad += strcmp(got, want) != 0;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(h_count_entries(dir), n);
}

static void test_ten_thousand_files_then_rerun_transfers_nothing(void)
{
	size_t n = tu_scaled(10000);
	char list[256];
	char *dir = h_dir("many");
	unsigned before;
	struct h_result r;

	if (!need_http())
		return;
	snprintf(list, sizeof(list), "%s/many.txt", h_root);
	make_many(list, n);
	before = h_nginx_requests("/many/");
	r = h_get(NULL, true, "-d", dir, "-q", "-j", "32", "-i", list,
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_EQUAL(h_nginx_requests("/many/") - before, n);
	assert_many(dir, n);
	h_free(&r);

	r = h_get(NULL, true, "-d", dir, "-c", "--json", "-i", list,
		  (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_EQUAL(h_nginx_requests("/many/") - before, n);
	CU_ASSERT(h_has(r.out, "\"skipped\":"));
	h_free(&r);
}

/*
 * A long list on a pipe, read ahead by its own thread a few entries at a
 * time (-j 4): every entry is fetched once, and the run ends at the pipe's
 * end.
 */
static void test_long_list_on_a_pipe(void)
{
	size_t n = tu_scaled(1000);
	char list[256], fifo[256];
	char *dir = h_dir("pipe_list");
	unsigned before;
	struct h_result r;
	pid_t writer;

	if (!need_http())
		return;
	snprintf(list, sizeof(list), "%s/pipe_list.txt", h_root);
	snprintf(fifo, sizeof(fifo), "%s/pipe_list.fifo", h_root);
	make_many(list, n);
	CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
	before = h_nginx_requests("/many/");
	fflush(NULL);
	writer = fork();
	CU_ASSERT_FATAL(writer >= 0);
	if (writer == 0) {
		char buf[4096];
		int in = open(list, O_RDONLY), out = open(fifo, O_WRONLY);
		ssize_t k;

		if (in < 0 || out < 0)
			_exit(1);
		while ((k = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)k) != k)
				_exit(1);
		_exit(k < 0);
	}
	r = h_get(fifo, true, "-d", dir, "-q", "-j", "4", "-i", "-",
		  (char *)NULL);
	waitpid(writer, NULL, 0);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_EQUAL(h_nginx_requests("/many/") - before, n);
	assert_many(dir, n);
	h_free(&r);
	unlink(fifo);
}

/*
 * --loops: each loop needs a connection per host and a transfer; within
 * that, the transfers split over several loops arrive whole, each once.
 */
static void test_loops_split_the_transfers(void)
{
	size_t n = tu_scaled(600);
	char list[256];
	char *dir = h_dir("loops");
	unsigned before;
	struct h_result r;

	r = h_get(NULL, false, "--loops", "8", "--per-host", "4",
		  "http://127.0.0.1:1/x", (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 2);
	CU_ASSERT(h_has(r.err, "--loops 8: each loop needs a connection per "
			       "host and a transfer of its own (--per-host 4"));
	h_free(&r);
	r = h_get(NULL, false, "--loops", "3", "-j", "2",
		  "http://127.0.0.1:1/x", (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 2);
	CU_ASSERT(h_has(r.err, "-j 2)"));
	h_free(&r);

	if (!need_http())
		return;
	snprintf(list, sizeof(list), "%s/loops.txt", h_root);
	make_many(list, n);
	before = h_nginx_requests("/many/");
	r = h_get(NULL, true, "-d", dir, "-q", "-j", "16", "--per-host", "8",
		  "--loops", "3", "-i", list, (char *)NULL);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_EQUAL(h_nginx_requests("/many/") - before, n);
	assert_many(dir, n);
	h_free(&r);
}

static void test_shards_split_the_work(void)
{
	size_t n = tu_scaled(3000), i;
	unsigned long total = 0;
	char list[256], shard[16], cmd[1024];
	char *all = h_dir("shards-all");
	unsigned before;

	if (!need_http())
		return;
	snprintf(list, sizeof(list), "%s/shards.txt", h_root);
	make_many(list, n);
	before = h_nginx_requests("/many/");
	for (i = 0; i < 3; i++) {
		char name[32];
		char *dir;
		struct h_result r;

		snprintf(name, sizeof(name), "shard%zu", i);
		dir = h_dir(name);
		snprintf(shard, sizeof(shard), "%zu/3", i);
		r = h_get(NULL, i == 0, "-d", dir, "-q", "--shard", shard,
			  "-i", list, (char *)NULL);
		CU_ASSERT_EQUAL(r.status, 0);
		CU_ASSERT_EQUAL(h_count_entries(dir), n / 3 + (i < n % 3));
		total += h_count_entries(dir);
		h_free(&r);
		/* Gather the shards as a job's outputs would be gathered. */
		snprintf(cmd, sizeof(cmd), "cp -n %s/* %s/", dir, all);
		CU_ASSERT_EQUAL(system(cmd), 0);
	}
	/* Disjoint (each URL fetched once) and together complete. */
	CU_ASSERT_EQUAL(total, n);
	CU_ASSERT_EQUAL(h_nginx_requests("/many/") - before, n);
	assert_many(all, n);
}

static const struct tu_test tests[] = {
	{ "no_url_is_a_usage_error", test_no_url_is_a_usage_error, false },
	{ "other_schemes_are_usage_errors", test_other_schemes_are_usage_errors,
	  false },
	{ "bad_option_values_are_named", test_bad_option_values_are_named, false },
	{ "bad_list_line_stops_before_any_download", test_bad_list_line_stops_before_any_download, false },
	{ "unloadable_libcurl_is_named", test_unloadable_libcurl_is_named,
	  false },
	{ "missing_list_file_is_named", test_missing_list_file_is_named, false },
	{ "bad_stdin_line_is_an_input_error", test_bad_stdin_line_is_an_input_error, false },
	{ "nginx_files_arrive_whole", test_nginx_files_arrive_whole, false },
	{ "404_and_500_fail_with_their_status", test_404_and_500_fail_with_their_status, false },
	{ "503_then_success_honours_retry_after", test_503_then_success_honours_retry_after, false },
	{ "huge_retry_after_waits_the_longest", test_huge_retry_after_waits_the_longest, false },
	{ "429_and_408_are_retried", test_429_and_408_are_retried, false },
	{ "dropped_connection_resumes_with_range", test_dropped_connection_resumes_with_range, false },
	{ "short_body_never_gets_its_name", test_short_body_never_gets_its_name, false },
	{ "stall_after_headers_times_out", test_stall_after_headers_times_out, false },
	{ "disk_full_names_the_file", test_disk_full_names_the_file, false },
	{ "unwritable_folder_is_one_error", test_unwritable_folder_is_one_error, false },
	{ "redirect_chain_is_followed", test_redirect_chain_is_followed, false },
	{ "redirect_loop_fails", test_redirect_loop_fails, false },
	{ "headers_are_sent", test_headers_are_sent, false },
	{ "dangerous_names_stay_inside", test_dangerous_names_stay_inside, false },
	{ "collisions_get_suffixes", test_collisions_get_suffixes, false },
	{ "checksum_mismatch_leaves_nothing", test_checksum_mismatch_leaves_nothing, false },
	{ "continue_resumes_part_files", test_continue_resumes_part_files, false },
	{ "continue_with_a_whole_part_file", test_continue_with_a_whole_part_file, false },
	{ "broken_200_on_resume_leaves_no_stale_tail", test_broken_200_on_resume_leaves_no_stale_tail, false },
	{ "many_jobs_fit_the_open_file_limit", test_many_jobs_fit_the_open_file_limit, false },
	{ "part_being_written_elsewhere_is_left_alone", test_part_being_written_elsewhere_is_left_alone, false },
	{ "folder_in_the_way_fails_before_the_download", test_folder_in_the_way_fails_before_the_download, false },
	{ "output_name_for_one_url", test_output_name_for_one_url, false },
	{ "quiet_prints_only_failures", test_quiet_prints_only_failures, false },
	{ "fsync_finish", test_fsync_finish, false },
	{ "limit_rate_is_aggregate", test_limit_rate_is_aggregate, false },
	{ "through_a_proxy", test_through_a_proxy, false },
	{ "killed_run_leaves_the_validator", test_killed_run_leaves_the_validator, false },
	{ "killed_run_leaves_the_validator_of_a_small_part", test_killed_run_leaves_the_validator_of_a_small_part, false },
	{ "continue_after_the_file_changed", test_continue_after_the_file_changed, false },
	{ "sigint_stops_and_keeps_parts", test_sigint_stops_and_keeps_parts, false },
	{ "small_file_has_no_name_until_whole", test_small_file_has_no_name_until_whole, false },
	{ "name_taken_meanwhile_is_replaced", test_name_taken_meanwhile_is_replaced, false },
	{ "sighup_stops_as_sigint_does", test_sighup_stops_as_sigint_does, false },
	{ "sigterm_while_waiting_for_stdin", test_sigterm_while_waiting_for_stdin, false },
	{ "file_finishes_while_list_waits", test_file_finishes_while_list_waits, false },
	{ "long_list_on_a_pipe", test_long_list_on_a_pipe, false },
	{ "json_events", test_json_events, false },
	{ "json_is_utf8_for_any_name", test_json_is_utf8_for_any_name, false },
	{ "json_write_error_is_reported", test_json_write_error_is_reported, false },
	{ "json_reader_gone_stops_the_run", test_json_reader_gone_stops_the_run, false },
	{ "json_reader_gone_after_all_done", test_json_reader_gone_after_all_done, false },
	{ "ten_thousand_files_then_rerun_transfers_nothing", test_ten_thousand_files_then_rerun_transfers_nothing, false },
	{ "loops_split_the_transfers", test_loops_split_the_transfers, false },
	{ "shards_split_the_work", test_shards_split_the_work, false },
};

int main(int argc, char **argv)
{
	int ret;

	if (!getenv("RINGPOOL_BIN") || !getenv("FAULTD")) {
		fprintf(stderr, "test_get: run through meson (RINGPOOL_BIN and "
			"FAULTD name the programs under test)\n");
		return 1;
	}
	if (h_setup() < 0) {
		perror("test_get: scratch folder");
		return 1;
	}
	http_ok = h_http_available();
	if (!http_ok) {
		printf("rp_http is not available in this build: the download "
		       "tests are skipped\n");
	} else if ((ret = h_start_nginx()) < 0) {
		fprintf(stderr, "test_get: cannot start nginx (%s); "
			"scripts/quickstart installs it, $NGINX names another\n",
			strerror(-ret));
		h_cleanup();
		return 1;
	} else if ((ret = h_start_faultd()) < 0) {
		fprintf(stderr, "test_get: cannot start %s: %s\n",
			getenv("FAULTD"), strerror(-ret));
		h_cleanup();
		return 1;
	}
	ret = tu_run_tests(argc, argv, "get", tests,
			   sizeof(tests) / sizeof(tests[0]));
	h_cleanup();
	return ret;
}
