/* SPDX-License-Identifier: MIT */
/*
 * `ringpool bench` usage errors, from the outside: every invalid
 * combination of options gives a clear message and exit status 2, and
 * `bench file` refuses to overwrite a file it did not create, or to use a
 * FIFO; and what
 * `ringpool --version` says.
 *
 * Registered once per backend: RINGPOOL_BACKEND=uring runs the library
 * engines as --engine uring, =threads as --engine threads (sync, which
 * uses no library, runs in both); with threads only file_refuses_overwrite
 * (the one test that does I/O) and the `--version` test run.  bcli.c runs
 * the binary.
 *
 * Under the valgrind setup the usage errors run the binary itself, not
 * under memcheck: a hundred of them cost two minutes of valgrind for a
 * path (parse, print, exit 2) that the ASan+UBSan build checks, leaks
 * included, on every case.  file_refuses_overwrite runs under memcheck.
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bcli.h"
#include "testutil.h"

/* ---- usage errors -----------------------------------------------------------
 */

struct bad_case {
	const char *args[12];
	const char *says; /* a piece of the message on stderr */
};

static void expect_usage_errors(const struct bad_case *cases, size_t n)
{
	size_t i;

	bc_native = true;
	for (i = 0; i < n; i++) {
		struct out o = bc_run_sig(0, cases[i].args);

		if (o.status != 2 || !strstr(o.err, cases[i].says))
			printf("\n%s %s %s...: exit %d, stderr: %s",
			       cases[i].args[0], cases[i].args[1],
			       cases[i].args[2] ? cases[i].args[2] : "",
			       o.status, o.err);
		CU_ASSERT_EQUAL(o.status, 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(o.err, cases[i].says));
		CU_ASSERT_STRING_EQUAL(o.out, "");
		bc_out_free(&o);
	}
	bc_native = false;
}

static void test_file_usage_errors(void)
{
	static const struct bad_case cases[] = {
		{{"bench", "file", NULL}, "give --file"},
		{{"bench", "file", "--file", "/tmp/x", "--dir", "/tmp", NULL},
		 "exclude each other"},
		{{"bench", "file", "--dir", "/tmp", "--rw", "sideways", NULL},
		 "invalid --rw"},
		/* fio's spellings: pointed to this tool's. */
		{{"bench", "file", "--dir", "/tmp", "--direct=1", NULL},
		 "--direct takes no value, not '1'"},
		{{"bench", "file", "--dir", "/tmp", "--iodepth=8", NULL},
		 "fio's --iodepth is --qd here"},
		{{"bench", "file", "--dir", "/tmp", "--numjobs", "2", NULL},
		 "fio's --numjobs is --jobs here"},
		{{"bench", "file", "--dir", "/tmp", "--mix", "30", NULL},
		 "--mix applies to --rw randrw"},
		{{"bench", "file", "--dir", "/tmp", "--rw", "randrw", "--mix",
		  "101", NULL},
		 "invalid --mix"},
		{{"bench", "file", "--dir", "/tmp", "--bs", "0", NULL},
		 "invalid --bs"},
		{{"bench", "file", "--dir", "/tmp", "--bs", "128M", NULL},
		 "invalid --bs"},
		{{"bench", "file", "--dir", "/tmp", "--bs", "4q", NULL},
		 "invalid --bs"},
		{{"bench", "file", "--dir", "/tmp", "--qd", "0", NULL},
		 "invalid --qd"},
		{{"bench", "file", "--dir", "/tmp", "--qd", "5000", NULL},
		 "invalid --qd"},
		/* 512 GiB of buffers, one per operation in flight. */
		{{"bench", "file", "--dir", "/tmp", "--bs", "64M", "--qd",
		  "1024", "--jobs", "8", NULL},
		 "more than half this machine's"},
		{{"bench", "file", "--dir", "/tmp", "--jobs", "65", NULL},
		 "invalid --jobs"},
		{{"bench", "file", "--dir", "/tmp", "--runtime", "1", "--ops",
		  "10", NULL},
		 "exclude each other"},
		{{"bench", "file", "--dir", "/tmp", "--runtime", "soon", NULL},
		 "invalid --runtime"},
		{{"bench", "file", "--dir", "/tmp", "--runtime", "0", NULL},
		 "invalid --runtime"},
		{{"bench", "file", "--dir", "/tmp", "--warmup", "-1", NULL},
		 "invalid --warmup"},
		{{"bench", "file", "--dir", "/tmp", "--ops", "0", NULL},
		 "invalid --ops"},
		{{"bench", "file", "--dir", "/tmp", "--rounds", "0", NULL},
		 "invalid --rounds"},
		{{"bench", "file", "--dir", "/tmp", "--cached", "--drop-cache",
		  NULL},
		 "exclude each other"},
		{{"bench", "file", "--dir", "/tmp", "--cached", "--direct",
		  NULL},
		 "--cached has no effect with --direct"},
		{{"bench", "file", "--dir", "/tmp", "--direct", "--bs", "1000",
		  NULL},
		 "multiple of 512"},
		{{"bench", "file", "--dir", "/tmp", "--size", "1k", NULL},
		 "smaller than one block"},
		{{"bench", "file", "--dir", "/tmp", "--engine", "posix", NULL},
		 "unknown engine 'posix'"},
		{{"bench", "file", "--dir", "/tmp", "--cpus", "x", NULL},
		 "invalid --cpus 'x'"},
		{{"bench", "file", "--dir", "/tmp", "--cpus", "3-1", NULL},
		 "invalid --cpus '3-1'"},
		{{"bench", "file", "--dir", "/tmp", "--cpus", "0,", NULL},
		 "invalid --cpus '0,'"},
		{{"bench", "file", "--dir", "/tmp", "--cpus", "99999", NULL},
		 "invalid --cpus '99999'"},
		{{"bench", "file", "--dir", "/tmp", "--cpus", "1023", NULL},
		 "not CPUs this process may use"},
		{{"bench", "file", "--dir", "/tmp", "--engine", "uring,uring",
		  NULL},
		 "listed twice"},
		{{"bench", "file", "--dir", "/tmp", "--engine", ",", NULL},
		 "at least one engine"},
		{{"bench", "file", "--dir", "/tmp", "--engine", "uring,,sync",
		  NULL},
		 "--engine 'uring,,sync' has an empty item"},
		{{"bench", "file", "--dir", "/tmp", "--engine", "sync,threads",
		  "--sqpoll", NULL},
		 "--sqpoll applies to the uring engine"},
		{{"bench", "file", "--dir", "/tmp", "--compare", "dd", NULL},
		 "invalid --compare"},
		{{"bench", "file", "--dir", "/tmp", "--engine", "sync",
		  "--fixed-bufs", NULL},
		 "not sync"},
		{{"bench", "file", "--dir", "/tmp", "--engine", "sync",
		  "--register-files", NULL},
		 "not sync"},
		{{"bench", "file", "--dir", "/tmp", "--engine", "sync", "--qd",
		  "8", NULL},
		 "use --jobs"},
		{{"bench", "file", "--dir", "/tmp", "--fixed-bufs", "--qd",
		  "1024", "--jobs", "2", NULL},
		 "at most 1024"},
		{{"bench", "file", "--dir", "/tmp", "--frobnicate", NULL},
		 "unknown option '--frobnicate'"},
		{{"bench", "file", "--dir", "/tmp", "--bs", NULL},
		 "--bs needs a value"},
		{{"bench", "file", "--dir", "/tmp", "extra", NULL},
		 "unexpected argument 'extra'"},
		{{"bench", "file", "--dir", "/tmp", "--json", "--report", "-",
		  NULL},
		 "name a file"},
		{{"bench", "file", "--dir", "/nonexistent/dir", "--ops", "1",
		  NULL},
		 "cannot create a file in /nonexistent/dir"},
		{{"bench", "file", "--dir", "/tmp", "--report",
		  "/nonexistent/dir/page.html", NULL},
		 "cannot write the report /nonexistent/dir/page.html: No such"},
		{{"bench", "file", "--dir", "/tmp", "--report", "/tmp", NULL},
		 "cannot write the report /tmp: Is a directory"},
		{{"bench", "file", "--file", "/tmp", "--size", "1M", NULL},
		 "/tmp is a folder: --dir /tmp"},
		{{"bench", "file", "--dir", "", "--ops", "1", NULL},
		 "--dir needs a folder"},
		{{"bench", "file", "--file", "", "--ops", "1", NULL},
		 "--file needs a path"},
	};

	expect_usage_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_other_usage_errors(void)
{
	static const struct bad_case cases[] = {
		{{"bench", NULL}, "Usage"},
		{{"bench", "disk", NULL}, "unknown subject"},
		{{"bench", "http", "--engine", "sync", NULL},
		 "unknown engine 'sync': expected uring or threads"},
		{{"bench", "net", "--conns", "0", NULL}, "invalid --conns"},
		{{"bench", "net", "--conns", "5000", NULL}, "invalid --conns"},
		{{"bench", "net", "--msg", "2M", NULL}, "invalid --msg"},
		{{"bench", "net", "--engine", "epoll", NULL},
		 "unknown engine 'epoll'"},
		{{"bench", "net", "--engine", "uring,uring", NULL},
		 "engine 'uring' is listed twice"},
		{{"bench", "net", "--conns", "1,,2", NULL},
		 "--conns '1,,2' has an empty item"},
		{{"bench", "net", "--msg", "64,", NULL},
		 "--msg '64,' has an empty item"},
		{{"bench", "net", "--conns", "4,4", NULL},
		 "--conns lists 4 twice"},
		{{"bench", "net", "--engine", "sync", "--conns", "2000", NULL},
		 "at most 1024"},
		{{"bench", "net", "--ops", "5", "--runtime", "1", NULL},
		 "exclude each other"},
		{{"bench", "net", "--direct", NULL}, "unknown option"},
		{{"bench", "tasks", "--runtime", "1", NULL}, "do not apply"},
		{{"bench", "tasks", "--workers", "2000", NULL},
		 "invalid --workers"},
		{{"bench", "tasks", "--tasks", "x", NULL}, "invalid --tasks"},
		{{"bench", "tasks", "--tasks", "5", "--ops", "10", NULL},
		 "--ops sets both --tasks and --rtt"},
		{{"bench", "tasks", "--ops", "10", "--rtt", "5", NULL},
		 "--ops sets both --tasks and --rtt"},
		{{"bench", "tasks", "--report", "/nonexistent/dir/t.html", NULL},
		 "cannot write the report /nonexistent/dir/t.html"},
		{{"bench", "net", "--report", "/", NULL},
		 "cannot write the report /: Is a directory"},
	};

	expect_usage_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_http_usage_errors(void)
{
	static const struct bad_case cases[] = {
		{{"bench", "http", "--engine", "sync", NULL},
		 "unknown engine 'sync': expected uring or threads"},
		{{"bench", "http", "--engine", "uring,uring", NULL},
		 "listed twice"},
		{{"bench", "http", "--engine", ",uring", NULL},
		 "has an empty item"},
		{{"bench", "http", "--engine", ",", NULL},
		 "at least one engine"},
		{{"bench", "http", "--conns", "0", NULL}, "invalid --conns"},
		{{"bench", "http", "--conns", "2000", NULL}, "invalid --conns"},
		{{"bench", "http", "--size", "0", NULL}, "invalid --size"},
		{{"bench", "http", "--size", "2G", NULL}, "invalid --size"},
		{{"bench", "http", "--size", "16q", NULL}, "invalid --size"},
		{{"bench", "http", "--files", "0", NULL}, "invalid --files"},
		{{"bench", "http", "--files", "10", "--runtime", "1", NULL},
		 "exclude each other"},
		{{"bench", "http", "--files", "10", "--ops", "10", NULL},
		 "give one"},
		{{"bench", "http", "--ops", "10", "--runtime", "1", NULL},
		 "exclude each other"},
		{{"bench", "http", "--warmup", "-1", NULL}, "invalid --warmup"},
		{{"bench", "http", "--server", "apache", NULL},
		 "invalid --server"},
		{{"bench", "http", "--out", "", NULL}, "--out needs a folder"},
		{{"bench", "http", "--out", "/nonexistent/dir/x", "--files",
		  "1", NULL},
		 "cannot use '/nonexistent/dir/x'"},
		{{"bench", "http", "--out", "/dev/null", "--files", "1", NULL},
		 "not a folder"},
		{{"bench", "http", "--json", "--report", "-", NULL},
		 "name a file"},
		{{"bench", "http", "--bs", "4k", NULL},
		 "unknown option '--bs'"},
		{{"bench", "http", "--size", NULL}, "--size needs a value"},
		{{"bench", "http", "extra", NULL},
		 "unexpected argument 'extra'"},
	};

	expect_usage_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

/*
 * `ringpool --version`: the version, the backend this run gets (forced by
 * RINGPOOL_BACKEND here, and saying so for threads), and libcurl's version.
 */
static void test_version_names_backend_and_libcurl(void)
{
	struct out o;
	const char *curl;

	bc_native = true;
	o = RUN("--version");
	bc_native = false;
	CU_ASSERT_EQUAL(o.status, 0);
	CU_ASSERT(strncmp(o.out, "ringpool ", 9) == 0);
	if (!strcmp(bc_engine, "uring")) {
		CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "\nbackend: io_uring"));
	} else {
		CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "\nbackend: threads - "
					      "forced by RINGPOOL_BACKEND"));
	}
	curl = strstr(o.out, "\nlibcurl: ");
	CU_ASSERT_PTR_NOT_NULL_FATAL(curl);
	CU_ASSERT(curl[10] >= '7' && curl[10] <= '9');
	bc_out_free(&o);
}

/* Writes to a file the tool did not create need --force. */
static void test_file_refuses_overwrite(void)
{
	char path[256];
	struct out o;
	int fd;

	snprintf(path, sizeof(path), "%s/mine", bc_tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 1 << 20), 0);
	close(fd);
	o = RUN("bench", "file", "--file", path, "--rw", "randwrite", "--ops",
		"10");
	CU_ASSERT_EQUAL(o.status, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.err, "--force"));
	bc_out_free(&o);
	/* Reading it is fine, and it stays. */
	o = RUN("bench", "file", "--file", path, "--ops", "100", "--engine",
		bc_engine, "--json");
	CU_ASSERT_EQUAL(o.status, 0);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	bc_out_free(&o);
	o = RUN("bench", "file", "--file", path, "--rw", "randwrite", "--ops",
		"100", "--force", "--engine", bc_engine, "--json");
	CU_ASSERT_EQUAL(o.status, 0);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	bc_out_free(&o);
	unlink(path);
}

/*
 * A FIFO has no offsets, and opening it would wait for a writer: refused
 * before any run.  The test holds it open for writing and runs sync,
 * whose pread() fails at once on a pipe: a tool that opened it anyway
 * fails the test instead of hanging it.
 */
static void test_file_refuses_fifo(void)
{
	char path[256];
	struct out o;
	int keep;

	snprintf(path, sizeof(path), "%s/fifo", bc_tmpdir);
	CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0644), 0);
	keep = open(path, O_RDWR | O_CLOEXEC);
	CU_ASSERT(keep >= 0);
	o = RUN("bench", "file", "--file", path, "--size", "1M", "--ops",
		"10", "--engine", "sync");
	CU_ASSERT_EQUAL(o.status, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.err, "is a FIFO"));
	if (!strstr(o.err, "is a FIFO"))
		printf("exit %d, stderr: %s\n", o.status, o.err);
	CU_ASSERT_STRING_EQUAL(o.out, "");
	bc_out_free(&o);
	if (keep >= 0)
		close(keep);
	unlink(path);
}

int main(int argc, char **argv)
{
	static const struct tu_test tests[] = {
		{"file_usage_errors", test_file_usage_errors, false},
		{"other_usage_errors", test_other_usage_errors, false},
		{"http_usage_errors", test_http_usage_errors, false},
		{"version_names_backend_and_libcurl",
		 test_version_names_backend_and_libcurl, false},
		{"file_refuses_overwrite", test_file_refuses_overwrite, false},
		{"file_refuses_fifo", test_file_refuses_fifo, false},
	};

	return bc_main(argc, argv, "bench-usage", tests,
		       sizeof(tests) / sizeof(tests[0]));
}
