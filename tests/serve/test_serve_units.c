/* SPDX-License-Identifier: MIT */
/*
 * The pure pieces of `ringpool serve`: request paths, content types, byte
 * ranges and HTTP dates.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "serve.h"

/* Maps `path`; returns the error or 0 with the result in `out`. */
static int map(const char *path, bool dotfiles, char *out, size_t cap,
	       bool *slash)
{
	return serve_map_path(path, strlen(path), dotfiles, out, cap, slash);
}

static void expect_path(const char *path, const char *want, bool want_slash)
{
	char out[256];
	bool slash = !want_slash;
	int ret = map(path, false, out, sizeof(out), &slash);

	CU_ASSERT_EQUAL(ret, 0);
	if (ret == 0) {
		CU_ASSERT_STRING_EQUAL(out, want);
		CU_ASSERT_EQUAL(slash, want_slash);
	}
}

static void expect_path_error(const char *path, int err)
{
	char out[256];
	bool slash;

	CU_ASSERT_EQUAL(map(path, false, out, sizeof(out), &slash), err);
}

static void test_paths_are_cleaned(void)
{
	expect_path("/", ".", true);
	expect_path("/a.txt", "a.txt", false);
	expect_path("/a/b/c.txt", "a/b/c.txt", false);
	expect_path("/a/", "a", true);
	expect_path("//a///b", "a/b", false);
	/*
	 * A last "." or ".." segment leaves a '/' at the end, as RFC 3986's
	 * remove_dot_segments (5.2.4) has it: "/a/b/." is "/a/b/", and "/a/.."
	 * "/".  These said no '/' before, so "/file.txt/." was the file,
	 * where "/file.txt/" is not (nginx: 404 for both).
	 */
	expect_path("/./a/./b/.", "a/b", true);
	expect_path("/a/b/../c", "a/c", false);
	expect_path("/a/..", ".", true);
	expect_path("/a.txt/.", "a.txt", true);
	expect_path("/a.txt/%2e", "a.txt", true);
	expect_path("/a.txt/x/%2E%2e", "a.txt", true);
	expect_path("/a.txt/..", ".", true);
	expect_path("/a/b.", "a/b.", false);
	expect_path("/a/b/../../c/", "c", true);
	expect_path("/hello%20world.txt", "hello world.txt", false);
	expect_path("/%41%62c", "Abc", false);
	/* An encoded '/' separates as a '/' does; it cannot hide a "..". */
	expect_path("/a%2fb", "a/b", false);
	expect_path("/a%2F..%2Fb", "b", false);
	expect_path("/a.txt%2f", "a.txt", true);
	expect_path("/a.txt%2F.", "a.txt", true);
}

static void test_paths_that_leave_the_folder_are_refused(void)
{
	expect_path_error("/..", -EPERM);
	expect_path_error("/../etc/passwd", -EPERM);
	expect_path_error("/a/../../etc/passwd", -EPERM);
	expect_path_error("/%2e%2e/etc/passwd", -EPERM);
	expect_path_error("/a/%2E%2E/%2e%2e/x", -EPERM);
	expect_path_error("/..%2fetc", -EPERM);
}

static void test_bad_paths_are_refused(void)
{
	expect_path_error("", -EINVAL);
	expect_path_error("a.txt", -EINVAL);
	expect_path_error("/a%00b", -EINVAL);
	expect_path_error("/a%zz", -EINVAL);
	expect_path_error("/a%4", -EINVAL);
	expect_path_error("/a%", -EINVAL);
}

static void test_dotfiles_are_kept_out_unless_asked(void)
{
	char out[64];
	bool slash;

	expect_path_error("/.git/config", -EACCES);
	expect_path_error("/a/.env", -EACCES);
	expect_path_error("/%2egit/config", -EACCES);
	CU_ASSERT_EQUAL(map("/.well-known/x", true, out, sizeof(out), &slash),
			0);
	CU_ASSERT_STRING_EQUAL(out, ".well-known/x");
	/* "." and ".." stay special with dotfiles allowed. */
	CU_ASSERT_EQUAL(map("/a/./../b", true, out, sizeof(out), &slash), 0);
	CU_ASSERT_STRING_EQUAL(out, "b");
}

static void test_long_paths_are_refused(void)
{
	char path[600], out[32];
	bool slash;

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	/* One segment over 255 bytes: no file system takes such a name. */
	CU_ASSERT_EQUAL(map(path, false, out, sizeof(out), &slash),
			-ENAMETOOLONG);
	/* A result that does not fit the buffer. */
	CU_ASSERT_EQUAL(map("/abcdefghij/klmnopqrst/uvwxyz0123", false, out,
			    sizeof(out), &slash),
			-ENAMETOOLONG);
	CU_ASSERT_EQUAL(map("/abcdefghij/klmnopqrst/uvwxyz012", false, out,
			    sizeof(out), &slash),
			0);
	CU_ASSERT_STRING_EQUAL(out, "abcdefghij/klmnopqrst/uvwxyz012");
}

static void test_content_types(void)
{
	CU_ASSERT_STRING_EQUAL(serve_content_type("index.html"),
			       "text/html; charset=utf-8");
	CU_ASSERT_STRING_EQUAL(serve_content_type("a/b/STYLE.CSS"),
			       "text/css; charset=utf-8");
	CU_ASSERT_STRING_EQUAL(serve_content_type("x.png"), "image/png");
	CU_ASSERT_STRING_EQUAL(serve_content_type("data.json"),
			       "application/json");
	CU_ASSERT_STRING_EQUAL(serve_content_type("archive.tar.gz"),
			       "application/gzip");
	CU_ASSERT_STRING_EQUAL(serve_content_type("README"),
			       "application/octet-stream");
	CU_ASSERT_STRING_EQUAL(serve_content_type("dir.d/file"),
			       "application/octet-stream");
	CU_ASSERT_STRING_EQUAL(serve_content_type("trailing."),
			       "application/octet-stream");
	/* Any case; the longest extension known; longer ones and prefixes. */
	CU_ASSERT_STRING_EQUAL(serve_content_type("Font.WoFf2"), "font/woff2");
	CU_ASSERT_STRING_EQUAL(serve_content_type("clip.MOV"),
			       "video/quicktime");
	CU_ASSERT_STRING_EQUAL(serve_content_type("song.m4a"), "audio/mp4");
	CU_ASSERT_STRING_EQUAL(serve_content_type("a.otf"), "font/otf");
	CU_ASSERT_STRING_EQUAL(serve_content_type("scan.tif"), "image/tiff");
	CU_ASSERT_STRING_EQUAL(serve_content_type("b.zst"), "application/zstd");
	CU_ASSERT_STRING_EQUAL(serve_content_type("p.JPEG"), "image/jpeg");
	CU_ASSERT_STRING_EQUAL(serve_content_type("x.woff2woff2"),
			       "application/octet-stream");
	CU_ASSERT_STRING_EQUAL(serve_content_type("x.htmlx"),
			       "application/octet-stream");
	CU_ASSERT_STRING_EQUAL(serve_content_type("x.ht"),
			       "application/octet-stream");
}

/*
 * Checks one Range value against a 100-byte file: `ret` as
 * serve_parse_range() returns it, and for ret >= 1 the ranges, as
 * start,count pairs after it.
 */
static void expect_range(const char *v, int ret, ...)
{
	struct serve_range r[SERVE_MAX_RANGES];
	va_list ap;
	int i;

	memset(r, 0xff, sizeof(r));
	CU_ASSERT_EQUAL(serve_parse_range(v, 100, r, SERVE_MAX_RANGES), ret);
	va_start(ap, ret);
	for (i = 0; i < ret; i++) {
		uint64_t start = va_arg(ap, uint64_t);
		uint64_t count = va_arg(ap, uint64_t);

		CU_ASSERT_EQUAL(r[i].start, start);
		CU_ASSERT_EQUAL(r[i].count, count);
	}
	va_end(ap);
}

#define R(a, b) (uint64_t)(a), (uint64_t)(b)

static void test_ranges(void)
{
	struct serve_range r[SERVE_MAX_RANGES];
	char many[256] = "bytes=", more[300];
	int i;

	expect_range("bytes=0-9", 1, R(0, 10));
	expect_range("bytes=10-", 1, R(10, 90));
	expect_range("bytes=90-200", 1, R(90, 10));
	expect_range("bytes=-5", 1, R(95, 5));
	expect_range("bytes=-500", 1, R(0, 100));
	expect_range(" bytes=99-99 ", 1, R(99, 1));
	expect_range("bytes = 1-2", 0);
	expect_range("BYTES=1-2", 1, R(1, 2));
	/* Nothing of it in the file: 416. */
	expect_range("bytes=100-", -ERANGE);
	expect_range("bytes=150-160", -ERANGE);
	/* Several: each, in the order asked (a multipart response). */
	expect_range("bytes=0-1,5-6", 2, R(0, 2), R(5, 2));
	expect_range("bytes=50-59, 0-0, -10", 3, R(50, 10), R(0, 1), R(90, 10));
	/* Those with no byte in the file are left out: not 416. */
	expect_range("bytes=500-600,0-1", 1, R(0, 2));
	expect_range("bytes=-0, 0-1", 1, R(0, 2));
	/* Overlapping ranges: declined, the whole file. */
	expect_range("bytes=0-50,40-60", 0);
	expect_range("bytes=0-9,9-", 0);
	expect_range("bytes=-10,95-", 0);
	expect_range("bytes=0-9,10-19", 2, R(0, 10), R(10, 10));
	/* 416: none of several ranges is in the file. */
	expect_range("bytes=500-600,700-", -ERANGE);
	expect_range("bytes=100-, -0", -ERANGE);
	/* Empty list elements are allowed (RFC 9110, 5.6.1). */
	expect_range("bytes=0-9,", 1, R(0, 10));
	expect_range("bytes= , 0-9 ,,", 1, R(0, 10));
	expect_range("bytes=,", 0);
	/* One malformed range makes the whole header ignored. */
	expect_range("bytes=500-600,x", 0);
	expect_range("bytes=0-9 x", 0);
	expect_range("bytes=5-1", 0);
	expect_range("bytes=", 0);
	expect_range("bytes=-", 0);
	expect_range("items=0-1", 0);
	expect_range("bytes=a-b", 0);
	/* Numbers past 64 bits: bounds beyond any file, not malformed. */
	expect_range("bytes=99999999999999999999-", -ERANGE);
	expect_range("bytes=18446744073709551616-", -ERANGE);
	expect_range("bytes=0-99999999999999999999", 1, R(0, 100));
	expect_range("bytes=0-18446744073709551615", 1, R(0, 100));
	expect_range("bytes=10-00000000000000000000000000050", 1, R(10, 41));
	expect_range("bytes=-99999999999999999999", 1, R(0, 100));
	/* SERVE_MAX_RANGES ranges are parts; one more, the whole file. */
	for (i = 0; i < SERVE_MAX_RANGES; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
			 "%d-%d,", i * 2, i * 2);
	CU_ASSERT_EQUAL(serve_parse_range(many, 100, r, SERVE_MAX_RANGES),
			SERVE_MAX_RANGES);
	CU_ASSERT(r[SERVE_MAX_RANGES - 1].start == 30 &&
		  r[SERVE_MAX_RANGES - 1].count == 1);
	snprintf(more, sizeof(more), "%s99-99", many);
	CU_ASSERT_EQUAL(serve_parse_range(more, 100, r, SERVE_MAX_RANGES), 0);
	/* One past the file does not count. */
	snprintf(more, sizeof(more), "%s200-300", many);
	CU_ASSERT_EQUAL(serve_parse_range(more, 100, r, SERVE_MAX_RANGES),
			SERVE_MAX_RANGES);
	/*
	 * An empty file: the last 5 bytes are satisfiable (RFC 9110, 14.1.2),
	 * so not 416, but no Content-Range describes them: the Range is
	 * ignored (14.2 allows it for an empty representation) and the empty
	 * file sent, as nginx does.  A first byte at 0 or a suffix of 0 bytes
	 * is not satisfiable: 416.
	 */
	CU_ASSERT_EQUAL(serve_parse_range("bytes=-5", 0, r, 16), 0);
	CU_ASSERT_EQUAL(serve_parse_range(" bytes=-1 ", 0, r, 16), 0);
	CU_ASSERT_EQUAL(serve_parse_range("bytes=-0", 0, r, 16), -ERANGE);
	CU_ASSERT_EQUAL(serve_parse_range("bytes=0-", 0, r, 16), -ERANGE);
	CU_ASSERT_EQUAL(serve_parse_range("bytes=0-0", 0, r, 16), -ERANGE);
}

static void expect_location(const char *rel, const char *query,
			    const char *want)
{
	char out[64];

	serve_dir_location(rel, query, query ? strlen(query) : 0, out,
			   sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, want);
}

/* A folder's redirect: the cleaned path, encoded, never "//host". */
static void test_folder_locations(void)
{
	expect_location(".", NULL, "/");
	expect_location("docs", NULL, "/docs/");
	expect_location("a/b.", NULL, "/a/b./");
	expect_location("a b/c\\d?#", NULL, "/a%20b/c%5Cd%3F%23/");
	expect_location("\\evil.example", NULL, "/%5Cevil.example/");
	/* The query, as nginx keeps it: all of it or none. */
	expect_location(".", "a=1", "/?a=1");
	expect_location("docs", "a=1&b=%20/?", "/docs/?a=1&b=%20/?");
	expect_location("docs", "\t\x7f\xc3\xa9", "/docs/?%09%7F%C3%A9");
	expect_location("docs", "", "/docs/");
	expect_location("docs", "0123456789012345678901234567890123456789"
			"01234567890123456789", "/docs/");
}

/* Parses `t` written as an RFC 850 date, as an old client would send it. */
static int parse_rfc850(time_t t, time_t *out)
{
	char day[16], buf[64];
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(day, sizeof(day), "%A", &tm))
		return -1;
	snprintf(buf, sizeof(buf), "%s, %02d-%s-%02d %02d:%02d:%02d GMT", day,
		 tm.tm_mday, (const char *[]){ "Jan", "Feb", "Mar", "Apr",
					       "May", "Jun", "Jul", "Aug",
					       "Sep", "Oct", "Nov",
					       "Dec" }[tm.tm_mon],
		 (tm.tm_year + 1900) % 100, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return serve_parse_http_date(buf, out);
}

static void test_http_dates(void)
{
	char buf[40];
	time_t t;

	serve_http_date(784111777, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
	CU_ASSERT_EQUAL(serve_parse_http_date(buf, &t), 0);
	CU_ASSERT_EQUAL(t, 784111777);
	serve_http_date(0, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
	/* Single digits padded; a buffer too small gets what fits. */
	serve_http_date(1704067199, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "Sun, 31 Dec 2023 23:59:59 GMT");
	serve_http_date(1709258645, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "Fri, 01 Mar 2024 02:04:05 GMT");
	serve_http_date(1709258645, buf, 9);
	CU_ASSERT_STRING_EQUAL(buf, "Fri, 01 ");
	CU_ASSERT_EQUAL(serve_parse_http_date("Sat, 28 Nov 2026 07:16:14 GMT",
					      &t), 0);
	CU_ASSERT_EQUAL(t, 1795850174);
	/*
	 * The obsolete forms, which RFC 9110 (5.6.7) has a recipient take:
	 * RFC 850 and asctime().
	 */
	t = 0;
	CU_ASSERT_EQUAL(serve_parse_http_date("Sun Nov  6 08:49:37 1994", &t),
			0);
	CU_ASSERT_EQUAL(t, 784111777);
	t = 0;
	CU_ASSERT_EQUAL(serve_parse_http_date("Sat Nov 28 07:16:14 2026", &t),
			0);
	CU_ASSERT_EQUAL(t, 1795850174);
	/*
	 * RFC 850's two-digit year is the one with those digits no more
	 * than 50 years ahead, so what it means depends on the year now.
	 */
	{
		const time_t now = time(NULL), year = 31556952;	/* s */

		t = 0;
		CU_ASSERT_EQUAL(parse_rfc850(now - 30 * year, &t), 0);
		CU_ASSERT_EQUAL(t, now - 30 * year);
		CU_ASSERT_EQUAL(parse_rfc850(now + 40 * year, &t), 0);
		CU_ASSERT_EQUAL(t, now + 40 * year);
		/* 60 years ago reads as 40 ahead: a century later. */
		CU_ASSERT_EQUAL(parse_rfc850(now - 60 * year, &t), 0);
		t -= now - 60 * year;
		CU_ASSERT(t > 100 * year - 2 * 86400 &&
			  t < 100 * year + 2 * 86400);
	}
	/* Each form whole, with its own day names and separators. */
	CU_ASSERT_EQUAL(serve_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT",
					      &t), 0);
	CU_ASSERT_EQUAL(serve_parse_http_date("Sun, 06-Nov-94 08:49:37 GMT",
					      &t), -EINVAL);
	CU_ASSERT_EQUAL(serve_parse_http_date("Sundae, 06-Nov-94 08:49:37 GMT",
					      &t), -EINVAL);
	CU_ASSERT_EQUAL(serve_parse_http_date("Sunday, 06-Nov-94 08:49:37",
					      &t), -EINVAL);
	CU_ASSERT_EQUAL(serve_parse_http_date("Sun Nov  6 08:49:37 1994 GMT",
					      &t), -EINVAL);
	CU_ASSERT_EQUAL(serve_parse_http_date("Sun Nov  6 08:49:37", &t),
			-EINVAL);
	CU_ASSERT_EQUAL(serve_parse_http_date("Sun Foo  6 08:49:37 1994", &t),
			-EINVAL);
	/* Junk is not taken. */
	CU_ASSERT_EQUAL(serve_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT x",
					      &t), -EINVAL);
	CU_ASSERT_EQUAL(serve_parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT",
					      &t), -EINVAL);
	CU_ASSERT_EQUAL(serve_parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT",
					      &t), -EINVAL);
	CU_ASSERT_EQUAL(serve_parse_http_date("", &t), -EINVAL);
}

static void test_entity_tags(void)
{
	char tag[64];

	serve_etag(1795850174, 123456789, 13, NULL, tag, sizeof(tag));
	CU_ASSERT_STRING_EQUAL(tag, "\"6b0a7fbe.75bcd15-d\"");
	CU_ASSERT(serve_etag_listed(tag, tag, true));
	CU_ASSERT(serve_etag_listed("*", tag, true));
	CU_ASSERT(serve_etag_listed("\"x\", \"6b0a7fbe.75bcd15-d\"", tag,
				    true));
	CU_ASSERT(serve_etag_listed("W/\"6b0a7fbe.75bcd15-d\"", tag, true));
	CU_ASSERT(serve_etag_listed(" \"a\" ,W/\"b\",\"6b0a7fbe.75bcd15-d\"",
				    tag, true));
	CU_ASSERT(!serve_etag_listed("\"6b0a7fbe.75bcd15-e\"", tag, true));
	CU_ASSERT(!serve_etag_listed("\"6b0a7fbe.75bcd15-d", tag, true));
	CU_ASSERT(!serve_etag_listed("", tag, true));
	CU_ASSERT(!serve_etag_listed("W/, ,", tag, true));
	/* Strongly (If-Match): a weak tag never matches. */
	CU_ASSERT(serve_etag_listed(tag, tag, false));
	CU_ASSERT(serve_etag_listed("*", tag, false));
	CU_ASSERT(serve_etag_listed("W/\"x\", \"6b0a7fbe.75bcd15-d\"", tag,
				    false));
	CU_ASSERT(!serve_etag_listed("W/\"6b0a7fbe.75bcd15-d\"", tag, false));
	/* Another version of the same size: another tag. */
	serve_etag(1795850174, 123456790, 13, NULL, tag, sizeof(tag));
	CU_ASSERT(!serve_etag_listed("\"6b0a7fbe.75bcd15-d\"", tag, true));
	/* A precompressed copy: a tag of its own. */
	serve_etag(1795850174, 123456789, 13, "gzip", tag, sizeof(tag));
	CU_ASSERT_STRING_EQUAL(tag, "\"6b0a7fbe.75bcd15-d-gzip\"");
	CU_ASSERT(!serve_etag_listed("\"6b0a7fbe.75bcd15-d\"", tag, true));
	/* Zeros, and a buffer too small. */
	serve_etag(0, 0, 0, NULL, tag, sizeof(tag));
	CU_ASSERT_STRING_EQUAL(tag, "\"0.0-0\"");
	serve_etag(1795850174, 123456789, 13, NULL, tag, 6);
	CU_ASSERT_STRING_EQUAL(tag, "\"6b0a");
}

static void test_te_check(void)
{
	CU_ASSERT_EQUAL(serve_te_check("chunked"), 0);
	CU_ASSERT_EQUAL(serve_te_check("CHUNKED "), 0);
	CU_ASSERT_EQUAL(serve_te_check(" , chunked,"), 0);
	CU_ASSERT_EQUAL(serve_te_check("chunked, chunked"), 400);
	CU_ASSERT_EQUAL(serve_te_check("chunked,chunked;x=1"), 400);
	CU_ASSERT_EQUAL(serve_te_check(""), 400);
	CU_ASSERT_EQUAL(serve_te_check("gzip"), 400);
	CU_ASSERT_EQUAL(serve_te_check("gzip, chunked"), 501);
	CU_ASSERT_EQUAL(serve_te_check("identity,chunked"), 501);
	CU_ASSERT_EQUAL(serve_te_check("chunkedx"), 400);
}

static void test_expects_continue(void)
{
	CU_ASSERT(serve_expects_continue("100-continue"));
	CU_ASSERT(serve_expects_continue("100-Continue "));
	CU_ASSERT(serve_expects_continue("foo=1, 100-continue"));
	CU_ASSERT(serve_expects_continue(" ,100-CONTINUE,"));
	CU_ASSERT(!serve_expects_continue(""));
	CU_ASSERT(!serve_expects_continue("100-continued"));
	CU_ASSERT(!serve_expects_continue("100-continue=1"));
	CU_ASSERT(!serve_expects_continue("x-100-continue"));
}

static void test_accepted_codings(void)
{
	const unsigned br = SERVE_ENC_BR, gz = SERVE_ENC_GZIP;

	CU_ASSERT_EQUAL(serve_accepted_codings(""), 0);
	CU_ASSERT_EQUAL(serve_accepted_codings("identity"), 0);
	CU_ASSERT_EQUAL(serve_accepted_codings("gzip"), gz);
	CU_ASSERT_EQUAL(serve_accepted_codings("GZip"), gz);
	CU_ASSERT_EQUAL(serve_accepted_codings("x-gzip"), gz);
	CU_ASSERT_EQUAL(serve_accepted_codings("gzip, deflate, br, zstd"),
			br | gz);
	CU_ASSERT_EQUAL(serve_accepted_codings("br;q=1.0, gzip;q=0.8"),
			br | gz);
	/* q=0 refuses, in any spelling, and parameters may have spaces. */
	CU_ASSERT_EQUAL(serve_accepted_codings("br;q=0, gzip"), gz);
	CU_ASSERT_EQUAL(serve_accepted_codings("br ; q=0.000,gzip"), gz);
	CU_ASSERT_EQUAL(serve_accepted_codings("gzip;Q=0"), 0);
	CU_ASSERT_EQUAL(serve_accepted_codings("gzip;q=0.001"), gz);
	/* Tokens are whole names. */
	CU_ASSERT_EQUAL(serve_accepted_codings("gzipx, brotli, b"), 0);
	/* "*" covers what is not listed; a listed q=0 still refuses. */
	CU_ASSERT_EQUAL(serve_accepted_codings("*"), br | gz);
	CU_ASSERT_EQUAL(serve_accepted_codings("*;q=0.5, br;q=0"), gz);
	CU_ASSERT_EQUAL(serve_accepted_codings("*;q=0"), 0);
	CU_ASSERT_EQUAL(serve_accepted_codings("*;q=0, gzip"), gz);
	/* Malformed weights and empty elements are passed over. */
	CU_ASSERT_EQUAL(serve_accepted_codings("br;q=x, gzip;q=2"), 0);
	CU_ASSERT_EQUAL(serve_accepted_codings("br;q=-1, , ;q=1, gzip"), gz);
	CU_ASSERT_EQUAL(serve_accepted_codings(",,,"), 0);
	CU_ASSERT_EQUAL(serve_accepted_codings("gzip;level=9;q=1"), gz);
}

static int touch(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void test_folder_listings(void)
{
	char tmp[] = "/tmp/rp-list-XXXXXX", cmd[64], name[32];
	char *page = NULL;
	const char *a, *b, *c;
	size_t len = 0;
	int dfd, i;

	CU_ASSERT_FATAL(mkdtemp(tmp) != NULL);
	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(dfd >= 0);
	CU_ASSERT(touch(dfd, "b.txt", "abc") == 0);
	CU_ASSERT(touch(dfd, "<x>&'\".html", "") == 0);
	CU_ASSERT(touch(dfd, ".hidden", "") == 0);
	CU_ASSERT(mkdirat(dfd, "a dir", 0755) == 0);
	CU_ASSERT(symlinkat("nowhere", dfd, "dead") == 0);

	CU_ASSERT_EQUAL_FATAL(serve_list_folder(dfd, "/sub/<t>/", false, &page,
						&len), 0);
	CU_ASSERT_EQUAL(strlen(page), len);
	CU_ASSERT_PTR_NOT_NULL(strstr(page, "<title>Index of /sub/&lt;t&gt;/"
					    "</title>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(page, "<a href=\"../\">../</a>"));
	/* Folders first, then by name; escaped text, encoded links. */
	a = strstr(page, "<a href=\"a%20dir/\">a dir/</a></td><td>");
	b = strstr(page, "<a href=\"%3Cx%3E%26%27%22.html\">"
			 "&lt;x&gt;&amp;&#39;&quot;.html</a>");
	c = strstr(page, "<a href=\"b.txt\">b.txt</a></td><td>");
	CU_ASSERT(a && b && c && a < b && b < c);
	CU_ASSERT(c && strstr(c, "</td><td>3</td></tr>"));
	CU_ASSERT(a && strstr(a, "</td><td>-</td></tr>"));
	CU_ASSERT_PTR_NULL(strstr(page, "hidden"));
	CU_ASSERT_PTR_NULL(strstr(page, "dead"));
	free(page);

	/* The top has no "../"; --dotfiles shows dotfiles, not . and .. */
	CU_ASSERT_EQUAL_FATAL(serve_list_folder(dfd, "/", true, &page, &len),
			      0);
	CU_ASSERT_PTR_NULL(strstr(page, "../"));
	CU_ASSERT_PTR_NOT_NULL(strstr(page, "<a href=\".hidden\">"));
	CU_ASSERT_PTR_NULL(strstr(page, "<a href=\".\">"));
	CU_ASSERT_PTR_NULL(strstr(page, "<a href=\"..\">"));
	free(page);

	/* An empty folder: the "../" link and nothing else. */
	{
		int sub = openat(dfd, "a dir", O_RDONLY | O_DIRECTORY |
						O_CLOEXEC);

		CU_ASSERT_FATAL(sub >= 0);
		CU_ASSERT_EQUAL_FATAL(serve_list_folder(sub, "/a dir/", false,
							&page, &len), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(page, "<a href=\"../\">"));
		CU_ASSERT_PTR_NULL(strstr(strstr(page, "<a href") + 1,
					  "<a href"));
		free(page);
		close(sub);
	}

	/* Past SERVE_LIST_MAX entries the page says how many it left out. */
	for (i = 0; i < SERVE_LIST_MAX; i++) {
		snprintf(name, sizeof(name), "f%05d", i);
		if (touch(dfd, name, "")) {
			CU_FAIL("cannot make the files");
			break;
		}
	}
	CU_ASSERT_EQUAL_FATAL(serve_list_folder(dfd, "/", false, &page, &len),
			      0);
	CU_ASSERT_PTR_NOT_NULL(strstr(page, "<p>3 more entries not shown."));
	free(page);

	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

int main(int argc, char **argv)
{
	static const struct tu_test tests[] = {
		{ "paths_are_cleaned", test_paths_are_cleaned, false },
		{ "paths_that_leave_the_folder_are_refused",
		  test_paths_that_leave_the_folder_are_refused, false },
		{ "bad_paths_are_refused", test_bad_paths_are_refused, false },
		{ "dotfiles_are_kept_out_unless_asked",
		  test_dotfiles_are_kept_out_unless_asked, false },
		{ "long_paths_are_refused", test_long_paths_are_refused,
		  false },
		{ "content_types", test_content_types, false },
		{ "ranges", test_ranges, false },
		{ "folder_locations", test_folder_locations, false },
		{ "http_dates", test_http_dates, false },
		{ "entity_tags", test_entity_tags, false },
		{ "expects_continue", test_expects_continue, false },
		{ "te_check", test_te_check, false },
		{ "accepted_codings", test_accepted_codings, false },
		{ "folder_listings", test_folder_listings, false },
	};

	return tu_run_tests(argc, argv, "serve-units", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
