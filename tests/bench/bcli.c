/* SPDX-License-Identifier: MIT */
/* Running the built `ringpool` for the bench CLI tests (bcli.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

const char *bc_bin;
const char *bc_engine;
char bc_tmpdir[] = "/tmp/ringpool-bench-test.XXXXXX";
bool bc_native;

char *bc_slurp(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	while (buf && (n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			char *p = realloc(buf, cap *= 2);

			if (!p)
				break;
			buf = p;
		}
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}


bool bc_cmdline_has(const char *pid, const char *const *words)
{
	char path[300], buf[4096], *p;
	size_t i, found = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	/* The arguments, each ended by a NUL. */
	buf[n] = '\0';
	for (i = 0; words[i]; i++) {
		for (p = buf; p < buf + n; p += strlen(p) + 1) {
			if (!strcmp(p, words[i])) {
				found++;
				break;
			}
		}
	}
	return found == i;
}

bool bc_any_process(bool (*match)(const char *pid, void *arg), void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	while (d && !found && (e = readdir(d)))
		found = e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
			match(e->d_name, arg);
	if (d)
		closedir(d);
	return found;
}

bool bc_parent_is(const char *pid, pid_t parent)
{
	char path[300], buf[4096], *p;
	int ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	/* "PID (COMM) STATE PPID ...": COMM may hold anything. */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		(void)sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid == parent;
}

struct child_with {
	pid_t parent;
	const char *arg;
};

static bool is_child_with(const char *pid, void *arg)
{
	const struct child_with *w = arg;

	return bc_parent_is(pid, w->parent) &&
	       bc_cmdline_has(pid, (const char *const[]){ w->arg, NULL });
}

/*
 * Whether `parent` has a child process one of whose arguments is `arg`
 * (by /proc).
 */
static bool has_child(pid_t parent, const char *arg)
{
	struct child_with w = { parent, arg };

	return bc_any_process(is_child_with, &w);
}

/*
 * Whether the progress lines in `buf` (see bench_progress()) show the
 * measured run under way: a line past the warm-up with operations done.
 */
static bool measuring(const char *buf)
{
	const char *line = buf, *ops, *end;

	while (line) {
		while (*line == '\r')
			line++;
		end = strchr(line, '\r');
		ops = strstr(line, " ops ");
		if (strncmp(line, "warm-up", 7) && ops && (!end || ops < end)) {
			while (ops > line && ops[-1] >= '0' && ops[-1] <= '9')
				ops--;
			if (strtoull(ops, NULL, 10) > 0)
				return true;
		}
		line = end;
	}
	return false;
}

/*
 * Reads the child's terminal (`master`) into a string until the child has
 * closed it, sending it `sig` once measuring() sees the run under way.
 */
static char *watch_and_signal(int master, pid_t pid, int sig)
{
	int64_t give_up = tu_now_ns() + (int64_t)60 * 1000000000;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	bool sent = false;

	if (!buf)
		abort();
	buf[0] = '\0';
	for (;;) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) > 0) {
			if (cap - len < 1024) {
				buf = realloc(buf, cap *= 2);
				if (!buf)
					abort();
			}
			n = read(master, buf + len, cap - len - 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;	/* EIO: the child's end is closed */
			len += (size_t)n;
			buf[len] = '\0';
		}
		if (!sent && (measuring(buf) || tu_now_ns() >= give_up)) {
			if (!measuring(buf))
				printf("\n  no operations after 60 s: "
				       "signalled anyway");
			kill(pid, sig);
			sent = true;
		}
	}
	return buf;
}

static struct out run(int sig, int after_ms, const char *child_arg,
		      bool (*ready)(void), const char *out_to,
		      const char *const *args)
{
	char o_path[] = "/tmp/rb-out.XXXXXX", e_path[] = "/tmp/rb-err.XXXXXX";
	int ofd = mkstemp(o_path), efd = mkstemp(e_path), status = 0;
	const char *argv[64];
	struct out r = {0};
	/* A signal at no set time: when the run is measuring (see above). */
	bool watch = sig && after_ms < 0;
	int master = -1, slave = -1;
	pid_t pid;
	size_t n = 0;

	unlink(o_path);
	unlink(e_path);
	/*
	 * Under the valgrind setup the tool itself runs under memcheck too:
	 * the test program alone would say nothing about it.  Fair
	 * scheduling: memcheck runs one thread at a time, and without it a
	 * busy ring thread can keep the main thread from seeing ^C for
	 * many seconds.
	 */
	if (tu_under_valgrind() && !bc_native) {
		argv[n++] = "valgrind";
		argv[n++] = "--error-exitcode=99";
		argv[n++] = "--leak-check=full";
		argv[n++] = "--errors-for-leak-kinds=definite,indirect";
		argv[n++] = "--fair-sched=yes";
		argv[n++] = "--quiet";
	}
	argv[n++] = bc_bin;
	while (*args && n < 63)
		argv[n++] = *args++;
	argv[n] = NULL;
	if (watch)
		CU_ASSERT_FATAL(openpty(&master, &slave, NULL, NULL, NULL) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		if (out_to) {
			close(ofd);
			ofd = open(out_to, O_WRONLY | O_CLOEXEC);
			if (ofd < 0)
				_exit(126);
		}
		dup2(ofd, STDOUT_FILENO);
		dup2(watch ? slave : efd, STDERR_FILENO);
		if (watch) {
			close(master);
			close(slave);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (watch) {
		close(slave);
		r.err = watch_and_signal(master, pid, sig);
		close(master);
	} else if (sig) {
		/* A minute at most for the child, or `ready`, to appear. */
		for (int i = 0; i < 3000 &&
				((child_arg && !has_child(pid, child_arg)) ||
				 (ready && !ready()));
		     i++)
			usleep(20000);
		usleep((useconds_t)after_ms * 1000);
		kill(pid, sig);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	r.status = WIFEXITED(status) ? WEXITSTATUS(status)
				     : 128 + WTERMSIG(status);
	r.out = bc_slurp(ofd);
	if (!watch)
		r.err = bc_slurp(efd);
	close(ofd);
	close(efd);
	return r;
}

struct out bc_run_sig(int sig, const char *const *args)
{
	return run(sig, -1, NULL, NULL, NULL, args);
}

struct out bc_run_sig_when(int sig, bool (*ready)(void),
			   const char *const *args)
{
	return run(sig, 0, NULL, ready, NULL, args);
}

struct out bc_run_sig_child(int sig, const char *child_arg, int after_ms,
			    const char *const *args)
{
	return run(sig, after_ms, child_arg, NULL, NULL, args);
}

struct out bc_run_to(const char *path, const char *const *args)
{
	return run(0, 0, NULL, NULL, path, args);
}

void bc_out_free(struct out *o)
{
	free(o->out);
	free(o->err);
}

json_object *bc_get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

double bc_num(json_object *o, const char *key)
{
	json_object *v = bc_get(o, key);

	CU_ASSERT_PTR_NOT_NULL(v);
	if (!v)
		printf("missing field '%s'\n", key);
	return v ? json_object_get_double(v) : -1;
}

bool bc_dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	if (d)
		closedir(d);
	return empty;
}

int bc_main(int argc, char **argv, const char *name,
	    const struct tu_test *tests, size_t n)
{
	const char *b = getenv("RINGPOOL_BACKEND");
	int ret;

	bc_bin = getenv("RINGPOOL_BIN");
	if (!bc_bin || access(bc_bin, X_OK)) {
		fprintf(stderr, "RINGPOOL_BIN must name the built ringpool\n");
		return 1;
	}
	bc_engine = b && !strcmp(b, "threads") ? "threads" : "uring";
	if (!mkdtemp(bc_tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = tu_run_tests(argc, argv, name, tests, n);
	rmdir(bc_tmpdir);
	return ret;
}
