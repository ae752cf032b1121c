/* SPDX-License-Identifier: MIT */
/*
 * The pure pieces of `ringpool get`: names from URLs, collision suffixes,
 * list lines, shards and option values.  No network, no child process.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "get.h"

static void check_name(const char *url, const char *want)
{
	char name[GET_NAME_MAX + 1];

	get_name_from_url(url, name);
	if (strcmp(name, want))
		printf("\n  %s -> '%s', expected '%s'\n", url, name, want);
	CU_ASSERT_STRING_EQUAL(name, want);
}

static void test_name_is_last_path_segment(void)
{
	check_name("http://h/a/b/file.tar.gz", "file.tar.gz");
	check_name("http://h/a/b/file.bin?x=1&y=/z#frag", "file.bin");
	check_name("https://h:8080/f#a/b", "f");
}

static void test_name_is_percent_decoded(void)
{
	check_name("http://h/my%20file%21.txt", "my file!.txt");
	check_name("http://h/caf%C3%A9", "caf\xc3\xa9");
	check_name("http://h/bad%zzescape%4", "bad%zzescape%4");
}

static void test_name_never_leaves_the_folder(void)
{
	check_name("http://h/..%2F..%2Fetc%2Fpasswd", "_.._etc_passwd");
	check_name("http://h/a/..", "index.html");
	check_name("http://h/a/.", "index.html");
	check_name("http://h/%2E%2E", "index.html");
	check_name("http://h/.bashrc", "bashrc");
	check_name("http://h/...hidden", "hidden");
	check_name("http://h/a%5Cb", "a_b");
	check_name("http://h/a%00b%0Ac%1Bd%7F", "a_b_c_d_");
}

static void test_name_of_a_bare_host_is_index(void)
{
	check_name("http://h", "index.html");
	check_name("http://h/", "index.html");
	check_name("http://h/dir/", "index.html");
	check_name("http://h/?q=1", "index.html");
}

static void test_long_name_is_cut_at_a_character(void)
{
	char url[2048], name[GET_NAME_MAX + 1];
	size_t i, n = 0;

	n = (size_t)snprintf(url, sizeof(url), "http://h/x");
	/* "é" is two bytes: after 'x', the 200th byte starts a character. */
	for (i = 0; i < 300; i++)
		n += (size_t)snprintf(url + n, sizeof(url) - n, "%%C3%%A9");
	get_name_from_url(url, name);
	CU_ASSERT(strlen(name) <= GET_NAME_MAX);
	CU_ASSERT_EQUAL(strlen(name), 199);
	CU_ASSERT((unsigned char)name[strlen(name) - 1] == 0xa9);
}

static void test_safe_names(void)
{
	CU_ASSERT(get_name_is_safe("a.txt"));
	CU_ASSERT(get_name_is_safe("x y"));
	CU_ASSERT_FALSE(get_name_is_safe(""));
	CU_ASSERT_FALSE(get_name_is_safe("../a"));
	CU_ASSERT_FALSE(get_name_is_safe("a/b"));
	CU_ASSERT_FALSE(get_name_is_safe(".hidden"));
	CU_ASSERT_FALSE(get_name_is_safe(".."));
	CU_ASSERT_FALSE(get_name_is_safe("a\nb"));
}

/* ---- names from random URLs ---------------------------------------------
 *
 * Whatever a URL holds, the name made of it is one a user can trust: checked
 * here byte by byte, independently of get_name_sanitize(), on random URLs
 * built from pieces that have gone wrong before (dots, slashes, escapes,
 * control characters, multi-byte characters, long runs).
 */

static struct tu_rng rnd = { 0x2545F4914F6CDD1DULL };

static uint32_t rnd_below(uint32_t n)
{
	return tu_rng_below(&rnd, n);
}

/* Well-formed UTF-8 (no stray continuation byte, no cut character). */
static bool utf8_whole(const unsigned char *s)
{
	while (*s) {
		unsigned n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 :
			     (*s & 0xF0) == 0xE0 ? 2 : (*s & 0xF8) == 0xF0 ? 3 :
									    9;

		if (n == 9)
			return false;
		for (s++; n; n--, s++) {
			if ((*s & 0xC0) != 0x80)
				return false;
		}
	}
	return true;
}

static void check_trustworthy(const char *url, const char *name)
{
	size_t len = strlen(name), i;
	bool ok = len > 0 && len <= GET_NAME_MAX && name[0] != '.' &&
		  name[0] != ' ' && strcmp(name, "..") != 0;

	for (i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		ok = c != '/' && c != '\\' && c >= 0x20 && c != 0x7f;
	}
	if (!ok)
		printf("\n  unsafe name '%s' from %s\n", name, url);
	CU_ASSERT(ok);
	CU_ASSERT(get_name_is_safe(name));
}

static void test_names_from_random_urls_are_safe(void)
{
	static const char *const pieces[] = {
		"/", "//", ".", "..", "...", "%2e", "%2E%2e", "%2f", "%2F",
		"%5c", "\\", "%00", "%0a", "%1b", "%7f", "%", "%z", "%4",
		"a", "file", ".txt", " ", "%20", "caf\xc3\xa9", "%C3%A9",
		"\xe2\x82\xac", "%E2%82", "\xf0\x9f\x98\x80", "\xc3",
		"\x80", "?", "#", "?q=/x", "name=", ";", ":", "~",
	};
	size_t rounds = tu_scaled(20000), r;

	for (r = 0; r < rounds; r++) {
		char url[2048], name[GET_NAME_MAX + 1];
		size_t len = (size_t)snprintf(url, sizeof(url), "http://h/");
		unsigned n = rnd_below(24) + 1, i;

		for (i = 0; i < n && len < 1500; i++) {
			const char *p = pieces[rnd_below(
				sizeof(pieces) / sizeof(pieces[0]))];
			unsigned rep = rnd_below(8) == 0 ? rnd_below(120) + 1
							 : 1;

			while (rep-- && len + strlen(p) < 1500)
				len += (size_t)snprintf(url + len,
							sizeof(url) - len,
							"%s", p);
		}
		get_name_from_url(url, name);
		check_trustworthy(url, name);
		/* Valid UTF-8 in, valid UTF-8 out: cuts fall between
		 * characters.  (Invalid input may stay invalid.) */
		if (utf8_whole((const unsigned char *)url) &&
		    !strchr(url, '%'))
			CU_ASSERT(utf8_whole((const unsigned char *)name));
	}
}

static void test_collisions_get_numbered_suffixes(void)
{
	char out[GET_NAME_MAX + 16];
	struct get_names s;

	get_names_init(&s);
	CU_ASSERT_EQUAL(get_names_claim(&s, "a", out), 0);
	CU_ASSERT_STRING_EQUAL(out, "a");
	get_names_claim(&s, "a", out);
	CU_ASSERT_STRING_EQUAL(out, "a.1");
	get_names_claim(&s, "a", out);
	CU_ASSERT_STRING_EQUAL(out, "a.2");
	/* "a.1" asked for outright is taken by now, too. */
	get_names_claim(&s, "a.1", out);
	CU_ASSERT_STRING_EQUAL(out, "a.1.1");
	get_names_free(&s);
}

static void test_part_names_never_collide(void)
{
	char out[GET_NAME_MAX + 16];
	struct get_names s;

	get_names_init(&s);
	get_names_claim(&s, "x", out);
	/* Another URL's "x.part" must not be x's temporary file. */
	get_names_claim(&s, "x.part", out);
	CU_ASSERT_STRING_EQUAL(out, "x.part.1");
	get_names_free(&s);

	get_names_init(&s);
	get_names_claim(&s, "y.part", out);
	get_names_claim(&s, "y", out);
	CU_ASSERT_STRING_EQUAL(out, "y.1");
	get_names_free(&s);
}

static void test_name_set_grows(void)
{
	char base[32], out[GET_NAME_MAX + 16];
	struct get_names s;
	size_t i, n = tu_scaled(100000);

	get_names_init(&s);
	for (i = 0; i < n; i++) {
		snprintf(base, sizeof(base), "f%zu", i);
		CU_ASSERT_EQUAL_FATAL(get_names_claim(&s, base, out), 0);
		CU_ASSERT_STRING_EQUAL_FATAL(out, base);
	}
	get_names_claim(&s, "f7", out);
	CU_ASSERT_STRING_EQUAL(out, "f7.1");
	get_names_free(&s);
}

static void test_many_same_names_stay_fast(void)
{
	char out[GET_NAME_MAX + 16], want[64];
	struct get_names s;
	size_t i, n = tu_scaled(200000);
	int64_t t0 = tu_now_ns();

	get_names_init(&s);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(get_names_claim(&s, "download", out), 0);
	snprintf(want, sizeof(want), "download.%zu", n - 1);
	CU_ASSERT_STRING_EQUAL(out, want);
	/* Remembered suffixes: linear, not quadratic (which takes minutes). */
	CU_ASSERT(tu_now_ns() - t0 < 20 * 1000000000LL);
	get_names_free(&s);
}

static int parse(const char *text, char **url, char **name, bool *has_sha,
		 char *why)
{
	static char line[512];
	unsigned char sha[32];

	snprintf(line, sizeof(line), "%s", text);
	return get_parse_line(line, url, name, has_sha, sha, why, 256);
}

static void test_list_lines(void)
{
	char *url, *name, why[256];
	bool has_sha;

	CU_ASSERT_EQUAL(parse("", &url, &name, &has_sha, why), 0);
	CU_ASSERT_EQUAL(parse("   \t\r\n", &url, &name, &has_sha, why), 0);
	CU_ASSERT_EQUAL(parse("# a comment", &url, &name, &has_sha, why), 0);
	CU_ASSERT_EQUAL(parse("  http://h/a  # trailing\r\n", &url, &name,
			      &has_sha, why), 1);
	CU_ASSERT_STRING_EQUAL(url, "http://h/a");
	CU_ASSERT_PTR_NULL(name);
	CU_ASSERT_FALSE(has_sha);
	CU_ASSERT_EQUAL(parse("http://h/a name=b.bin sha256="
			      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			      &url, &name, &has_sha, why), 1);
	CU_ASSERT_STRING_EQUAL(name, "b.bin");
	CU_ASSERT(has_sha);
}

static void test_bad_list_lines_say_why(void)
{
	char *url, *name, why[256];
	bool has_sha;

	CU_ASSERT_EQUAL(parse("not-a-url", &url, &name, &has_sha, why), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "not an http:// or https:// URL"));
	/* Only HTTP: other schemes and a URL without a host are refused. */
	CU_ASSERT_EQUAL(parse("ftp://h/a", &url, &name, &has_sha, why),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "ftp://h/a"));
	CU_ASSERT_EQUAL(parse("file:///etc/passwd", &url, &name, &has_sha, why),
			-EINVAL);
	CU_ASSERT_EQUAL(parse("http:///a", &url, &name, &has_sha, why),
			-EINVAL);
	CU_ASSERT_EQUAL(parse("HTTPS://h/a", &url, &name, &has_sha, why), 1);
	CU_ASSERT_EQUAL(parse("http://h/a sha256=12", &url, &name, &has_sha,
			      why), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "sha256"));
	CU_ASSERT_EQUAL(parse("http://h/a name=../x", &url, &name, &has_sha,
			      why), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "../x"));
	CU_ASSERT_EQUAL(parse("http://h/a size=3", &url, &name, &has_sha, why),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "size=3"));
	CU_ASSERT_EQUAL(parse("http:///nohost", &url, &name, &has_sha, why),
			-EINVAL);
}

/*
 * A URL with a control character (or, as an argument, a space) is an input
 * error found before any download: libcurl would refuse it only later, and
 * the message would have echoed its escape sequences to the terminal.
 * Messages show control characters as \xNN.
 */
static void test_control_characters_are_refused_and_escaped(void)
{
	char *url, *name, why[256];
	bool has_sha;

	CU_ASSERT_EQUAL(parse("http://h/a\033[2J\033[31mred", &url, &name,
			      &has_sha, why), -EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "'http://h/a\\x1b[2J\\x1b[31mred' holds a "
			       "space or a control character (percent-encode "
			       "it)");
	CU_ASSERT_EQUAL(parse("http://h/a\x7f", &url, &name, &has_sha, why),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "\\x7f"));
	CU_ASSERT_EQUAL(parse("\033]0;title\007", &url, &name, &has_sha, why),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "'\\x1b]0;title\\x07' is not an http:// or "
			       "https:// URL");
	CU_ASSERT_EQUAL(parse("http://h/a name=\033[1mx", &url, &name,
			      &has_sha, why), -EINVAL);
	CU_ASSERT_PTR_NULL(strchr(why, '\033'));
	CU_ASSERT_EQUAL(parse("http://h/a \033[1m", &url, &name, &has_sha,
			      why), -EINVAL);
	CU_ASSERT_PTR_NULL(strchr(why, '\033'));
	/* Bytes past ASCII (UTF-8 paths) are still taken. */
	CU_ASSERT_EQUAL(parse("http://h/\xc3\xbc.txt", &url, &name, &has_sha,
			      why), 1);
}

static void test_urls_with_spaces_are_input_errors(void)
{
	char *args[] = { "http://h/a b", "http://h/\tc" };
	struct get_input in;
	char why[600];

	CU_ASSERT_EQUAL(get_input_open(&in, args, 1, NULL, 0, 1, NULL, why,
				       sizeof(why)), 0);
	CU_ASSERT_EQUAL(get_input_precheck(&in, why, sizeof(why)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "argument 'http://h/a b' holds a space or "
			       "a control character (percent-encode it)");
	get_input_close(&in);
	CU_ASSERT_EQUAL(get_input_open(&in, args + 1, 1, NULL, 0, 1, NULL, why,
				       sizeof(why)), 0);
	CU_ASSERT_EQUAL(get_input_precheck(&in, why, sizeof(why)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "argument 'http://h/\\x09c' holds a space "
			       "or a control character (percent-encode it)");
	get_input_close(&in);
}

static void test_option_values(void)
{
	unsigned long k, n;
	uint64_t rate;
	int64_t ns;

	CU_ASSERT_EQUAL(get_parse_shard("0/3", &k, &n), 0);
	CU_ASSERT(k == 0 && n == 3);
	CU_ASSERT_EQUAL(get_parse_shard("2/3", &k, &n), 0);
	CU_ASSERT_EQUAL(get_parse_shard("3/3", &k, &n), -EINVAL);
	CU_ASSERT_EQUAL(get_parse_shard("1/0", &k, &n), -EINVAL);
	CU_ASSERT_EQUAL(get_parse_shard("-1/3", &k, &n), -EINVAL);
	CU_ASSERT_EQUAL(get_parse_shard("1/3x", &k, &n), -EINVAL);
	CU_ASSERT_EQUAL(get_parse_shard("13", &k, &n), -EINVAL);
	CU_ASSERT_EQUAL(get_parse_rate("500k", &rate), 0);
	CU_ASSERT_EQUAL(rate, 500 * 1024);
	CU_ASSERT_EQUAL(get_parse_rate("2M", &rate), 0);
	CU_ASSERT_EQUAL(rate, 2 * 1024 * 1024);
	CU_ASSERT_EQUAL(get_parse_rate("0", &rate), -EINVAL);
	CU_ASSERT_EQUAL(get_parse_rate("1x", &rate), -EINVAL);
	CU_ASSERT_EQUAL(get_parse_seconds("1.5", &ns), 0);
	CU_ASSERT_EQUAL(ns, 1500000000);
	CU_ASSERT_EQUAL(get_parse_seconds("-1", &ns), -EINVAL);
	CU_ASSERT_EQUAL(get_parse_seconds("abc", &ns), -EINVAL);
}

static void test_progress_figures(void)
{
	static const struct {
		uint64_t bytes;
		const char *shown;
	} sizes[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 3 << 19, "1.5 MiB" },
		{ (1 << 20) - 1, "1.0 MiB" },	/* not "1024.0 KiB" */
		{ UINT64_MAX, "16777216.0 TiB" },
	};
	static const struct {
		double seconds;
		const char *shown;
	} etas[] = {
		{ 0, "0:00" },
		{ 0.4, "0:01" },	/* rounded up: 0.4 s to go is not "0:00" */
		{ 59.2, "1:00" },
		{ 3599, "59:59" },
		{ 3661, "1:01:01" },
		/* Unknown, or too far off to mean anything. */
		{ -1, "--:--" },
		{ NAN, "--:--" },
		{ 1e300, "--:--" },
		{ INFINITY, "--:--" },
	};
	char b[32];
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		get_format_bytes(sizes[i].bytes, b, sizeof(b));
		CU_ASSERT_STRING_EQUAL(b, sizes[i].shown);
	}
	for (i = 0; i < sizeof(etas) / sizeof(etas[0]); i++) {
		get_format_eta(etas[i].seconds, b, sizeof(b));
		CU_ASSERT_STRING_EQUAL(b, etas[i].shown);
	}
}

/* Reads every shard of a list; returns how many entries each got. */
static void read_shards(const char *path, unsigned long n, unsigned *seen,
			size_t n_urls, unsigned long *per_shard)
{
	unsigned long k;

	for (k = 0; k < n; k++) {
		struct get_input in;
		struct get_entry e;
		char why[512];
		int ret;

		per_shard[k] = 0;
		CU_ASSERT_EQUAL_FATAL(get_input_open(&in, NULL, 0, path, k, n,
						     NULL, why, sizeof(why)), 0);
		CU_ASSERT_EQUAL(get_input_precheck(&in, why, sizeof(why)),
				(long)(n_urls / n + (k < n_urls % n)));
		while ((ret = get_input_next(&in, &e, why, sizeof(why))) > 0) {
			unsigned long u = strtoul(strrchr(e.url, '/') + 2, NULL, 10);

			CU_ASSERT(u < n_urls);
			if (u < n_urls)
				seen[u]++;
			per_shard[k]++;
			get_entry_clear(&e);
		}
		CU_ASSERT_EQUAL(ret, 0);
		get_input_close(&in);
	}
}

static void test_shards_are_disjoint_and_complete(void)
{
	char path[] = "/tmp/rp-get-list-XXXXXX";
	size_t n_urls = 1000, i;
	unsigned seen[1000] = { 0 };
	unsigned long per[7], total = 0, k;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "# list\n\n");
	for (i = 0; i < n_urls; i++)
		fprintf(f, "http://h/d/u%zu\n", i);
	fclose(f);
	read_shards(path, 7, seen, n_urls, per);
	for (i = 0; i < n_urls; i++)
		CU_ASSERT_EQUAL(seen[i], 1);
	for (k = 0; k < 7; k++)
		total += per[k];
	CU_ASSERT_EQUAL(total, n_urls);
	unlink(path);
}

static void test_shards_agree_on_collision_names(void)
{
	char path[] = "/tmp/rp-get-list-XXXXXX";
	int fd = mkstemp(path);
	struct get_input in;
	struct get_entry e;
	char why[512];
	unsigned long k;

	/* Three URLs that all want "same": each shard sees the same suffix. */
	dprintf(fd, "http://a/same\nhttp://b/same\nhttp://c/same\n");
	close(fd);
	for (k = 0; k < 3; k++) {
		static const char *const want[] = { "same", "same.1", "same.2" };

		get_input_open(&in, NULL, 0, path, k, 3, NULL, why, sizeof(why));
		CU_ASSERT_EQUAL(get_input_next(&in, &e, why, sizeof(why)), 1);
		CU_ASSERT_STRING_EQUAL(e.name, want[k]);
		get_entry_clear(&e);
		CU_ASSERT_EQUAL(get_input_next(&in, &e, why, sizeof(why)), 0);
		get_input_close(&in);
	}
	unlink(path);
}

static void test_bad_line_is_named_by_file_and_number(void)
{
	char path[] = "/tmp/rp-get-list-XXXXXX";
	int fd = mkstemp(path);
	struct get_input in;
	char why[512], want[64];

	dprintf(fd, "http://h/a\n# fine\n\nftp:/x\n");
	close(fd);
	get_input_open(&in, NULL, 0, path, 0, 1, NULL, why, sizeof(why));
	CU_ASSERT_EQUAL(get_input_precheck(&in, why, sizeof(why)), -EINVAL);
	snprintf(want, sizeof(want), "%s:4: ", path);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, want));
	get_input_close(&in);
	unlink(path);

	CU_ASSERT_EQUAL(get_input_open(&in, NULL, 0, "/nonexistent/list", 0, 1,
				       NULL, why, sizeof(why)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "/nonexistent/list"));
}

/* Reads the list `text` whole: precheck, then every entry's URL. */
static long read_list(const char *text, char urls[][32], size_t max,
		      char *why, size_t why_len)
{
	char path[] = "/tmp/rp-get-list-XXXXXX";
	int fd = mkstemp(path);
	struct get_input in;
	struct get_entry e;
	size_t n = 0;
	long count;
	int ret;

	memset(urls, 0, max * sizeof(urls[0]));
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	CU_ASSERT_EQUAL_FATAL(get_input_open(&in, NULL, 0, path, 0, 1, NULL,
					     why, why_len), 0);
	count = get_input_precheck(&in, why, why_len);
	while (count >= 0 &&
	       (ret = get_input_next(&in, &e, why, why_len)) > 0) {
		if (n < max)
			snprintf(urls[n++], 32, "%s", e.url);
		get_entry_clear(&e);
	}
	get_input_close(&in);
	unlink(path);
	return count;
}

/*
 * Lists written on Windows: a UTF-8 byte order mark before the first URL,
 * CR LF line ends.  A list with CR alone between lines would read as one
 * line, the first URL and nothing else: an input error, not a run that
 * fetches one file and says it is done.
 */
static void test_list_line_ends_and_byte_order_mark(void)
{
	char urls[4][32], why[512];

	CU_ASSERT_EQUAL(read_list("\xef\xbb\xbfhttp://h/a\r\n"
				  "http://h/b name=c \r\n", urls, 4, why,
				  sizeof(why)), 2);
	CU_ASSERT_STRING_EQUAL(urls[0], "http://h/a");
	CU_ASSERT_STRING_EQUAL(urls[1], "http://h/b");
	CU_ASSERT_EQUAL(read_list("http://h/a\rhttp://h/b\rhttp://h/c\r",
				  urls, 4, why, sizeof(why)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, ":1: a carriage return (CR) "
					   "inside the line"));
	CU_ASSERT_EQUAL(read_list("# list\rhttp://h/a\rhttp://h/b\r", urls,
				  4, why, sizeof(why)), -EINVAL);
	/* A byte order mark is a mark on the first line only. */
	CU_ASSERT_EQUAL(read_list("http://h/a\n\xef\xbb\xbfhttp://h/b\n",
				  urls, 4, why, sizeof(why)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, ":2: "));
}

static const struct tu_test tests[] = {
	{ "name_is_last_path_segment", test_name_is_last_path_segment, false },
	{ "name_is_percent_decoded", test_name_is_percent_decoded, false },
	{ "name_never_leaves_the_folder", test_name_never_leaves_the_folder, false },
	{ "name_of_a_bare_host_is_index", test_name_of_a_bare_host_is_index, false },
	{ "long_name_is_cut_at_a_character", test_long_name_is_cut_at_a_character, false },
	{ "safe_names", test_safe_names, false },
	{ "names_from_random_urls_are_safe",
	  test_names_from_random_urls_are_safe, false },
	{ "collisions_get_numbered_suffixes", test_collisions_get_numbered_suffixes, false },
	{ "part_names_never_collide", test_part_names_never_collide, false },
	{ "name_set_grows", test_name_set_grows, false },
	{ "many_same_names_stay_fast", test_many_same_names_stay_fast, false },
	{ "list_lines", test_list_lines, false },
	{ "bad_list_lines_say_why", test_bad_list_lines_say_why, false },
	{ "control_characters_are_refused_and_escaped", test_control_characters_are_refused_and_escaped, false },
	{ "urls_with_spaces_are_input_errors", test_urls_with_spaces_are_input_errors, false },
	{ "option_values", test_option_values, false },
	{ "progress_figures", test_progress_figures, false },
	{ "shards_are_disjoint_and_complete", test_shards_are_disjoint_and_complete, false },
	{ "shards_agree_on_collision_names", test_shards_agree_on_collision_names, false },
	{ "bad_line_is_named_by_file_and_number", test_bad_line_is_named_by_file_and_number, false },
	{ "list_line_ends_and_byte_order_mark", test_list_line_ends_and_byte_order_mark, false },
};

int main(int argc, char **argv)
{
	return tu_run_tests(argc, argv, "get-units", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
