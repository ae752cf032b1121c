/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ringpool.h"
#include "testutil.h"
#include "harness.h"
#include "body.h"
#include "get.h"

char h_root[64];
int h_nginx_port, h_fault_port, h_nginx_tls_port;
char h_ca_file[256];
static bool tls_made;
static pid_t nginx_pid = -1, fault_pid = -1;

int h_setup(void)
{
	static const char *const proxies[] = {
		"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
		"all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
	};
	const char *tmp = getenv("TMPDIR");
	size_t i;

	/* Only 127.0.0.1 is talked to: no proxy from the environment. */
	for (i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]);

	snprintf(h_root, sizeof(h_root), "%s/rp-get-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(h_root))
		return -errno;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
	}
	*pid = -1;
}

void h_cleanup(void)
{
	stop(&nginx_pid);
	stop(&fault_pid);
	if (h_root[0] && !getenv("RINGPOOL_KEEP_TMP"))
		nftw(h_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int h_write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int ret = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		ret = -EIO;
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	return ret;
}

/* Runs `argv` with its output appended to `log`; returns its exit status. */
static int run_logged(const char *const *argv, const char *log)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (in < 0 || out < 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -ECHILD;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int h_make_tls(void)
{
	const char *ossl = getenv("OPENSSL") ? getenv("OPENSSL") : "openssl";
	char dir[128], log[160], ca_key[160], srv_key[160], srv_csr[160];
	char srv_pem[160], ext[160], other_key[160], other_pem[160];
	int ret;

	snprintf(dir, sizeof(dir), "%s/tls", h_root);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(log, sizeof(log), "%s/openssl.log", dir);
	snprintf(ca_key, sizeof(ca_key), "%s/ca.key", dir);
	snprintf(srv_key, sizeof(srv_key), "%s/srv.key", dir);
	snprintf(srv_csr, sizeof(srv_csr), "%s/srv.csr", dir);
	snprintf(srv_pem, sizeof(srv_pem), "%s/srv.pem", dir);
	snprintf(ext, sizeof(ext), "%s/ext.cnf", dir);
	snprintf(h_ca_file, sizeof(h_ca_file), "%s/ca.pem", dir);
	snprintf(other_key, sizeof(other_key), "%s/other-ca.key", dir);
	snprintf(other_pem, sizeof(other_pem), "%s/other-ca.pem", dir);
	{
		/* P-256 keys: quick to make, and fine at any security level. */
		const char *const ca[] = {
			ossl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
			"ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
			"-out", h_ca_file, "-days", "2",
			"-subj", "/CN=ringpool test CA",
			"-addext", "basicConstraints=critical,CA:TRUE",
			"-addext", "keyUsage=critical,keyCertSign,cRLSign",
			NULL,
		};
		/* A CA that signed nothing here, for "wrong CA" tests. */
		const char *const other[] = {
			ossl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
			"ec_paramgen_curve:P-256", "-nodes", "-keyout",
			other_key, "-out", other_pem, "-days", "2",
			"-subj", "/CN=ringpool other CA",
			"-addext", "basicConstraints=critical,CA:TRUE",
			"-addext", "keyUsage=critical,keyCertSign,cRLSign",
			NULL,
		};
		const char *const csr[] = {
			ossl, "req", "-new", "-newkey", "ec", "-pkeyopt",
			"ec_paramgen_curve:P-256", "-nodes", "-keyout",
			srv_key, "-out", srv_csr, "-subj", "/CN=127.0.0.1",
			NULL,
		};
		const char *const sign[] = {
			ossl, "x509", "-req", "-in", srv_csr, "-CA", h_ca_file,
			"-CAkey", ca_key, "-set_serial", "2", "-days", "2",
			"-extfile", ext, "-out", srv_pem, NULL,
		};

		ret = h_write_text(ext, "subjectAltName=IP:127.0.0.1\n"
				   "extendedKeyUsage=serverAuth\n");
		if (ret < 0)
			return ret;
		ret = run_logged(ca, log);
		if (ret == 127) {
			h_ca_file[0] = '\0';
			return -ENOENT;
		}
		if (ret == 0)
			ret = run_logged(csr, log);
		if (ret == 0)
			ret = run_logged(sign, log);
		if (ret == 0)
			ret = run_logged(other, log);
	}
	if (ret != 0) {
		h_ca_file[0] = '\0';
		return -EIO;
	}
	tls_made = true;
	return 0;
}

/*
 * A socket listening on 127.0.0.1 at a port the kernel picked, for nginx to
 * inherit (it takes listening sockets from $NGINX, as in a binary upgrade):
 * nginx cannot be told to pick a port, and one found free and released
 * before nginx bound it could be taken by another program meanwhile.
 * Close-on-exec: only nginx's child clears it.  Returns the descriptor and
 * the port in `port`, or -errno.
 */
static int listen_any(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

int h_start_nginx(void)
{
	const char *nginx = getenv("NGINX") ? getenv("NGINX") : "nginx";
	char conf[4096], path[256], www[128], pidfile[256], tls[1024] = "";
	int fd = -1, tls_fd = -1, tries, ret;
	pid_t pid;

	snprintf(www, sizeof(www), "%s/www", h_root);
	if (mkdir(www, 0755) < 0 && errno != EEXIST)
		return -errno;
	fd = listen_any(&h_nginx_port);
	if (fd < 0)
		return fd;
	if (tls_made) {
		tls_fd = listen_any(&h_nginx_tls_port);
		if (tls_fd < 0) {
			close(fd);
			return tls_fd;
		}
		snprintf(tls, sizeof(tls),
			 " server {\n  listen 127.0.0.1:%d ssl;\n"
			 "  ssl_certificate %s/tls/srv.pem;\n"
			 "  ssl_certificate_key %s/tls/srv.key;\n"
			 "  root %s;\n }\n",
			 h_nginx_tls_port, h_root, h_root, www);
	}
	/*
	 * Every path nginx would write to is inside the scratch folder, so it
	 * runs unprivileged or as root alike ("user root" is ignored, with a
	 * warning, when not root; as root it lets the worker read the 0700
	 * scratch folder).
	 */
	snprintf(pidfile, sizeof(pidfile), "%s/nginx.pid", h_root);
	snprintf(conf, sizeof(conf),
		 "daemon off;\nworker_processes 1;\n%s"
		 "pid %s;\nerror_log %s/error.log;\n"
		 "events { worker_connections 1024; }\n"
		 "http {\n access_log %s/access.log;\n"
		 " client_body_temp_path %s/tmp_body;\n"
		 " proxy_temp_path %s/tmp_proxy;\n"
		 " fastcgi_temp_path %s/tmp_fcgi;\n"
		 " uwsgi_temp_path %s/tmp_uwsgi;\n"
		 " scgi_temp_path %s/tmp_scgi;\n"
		 " default_type application/octet-stream;\n"
		 " keepalive_requests 100000;\n"
		 " server {\n  listen 127.0.0.1:%d;\n  root %s;\n }\n%s}\n",
		 geteuid() == 0 ? "user root;\n" : "",
		 pidfile, h_root, h_root, h_root, h_root, h_root, h_root,
		 h_root, h_nginx_port, www, tls);
	snprintf(path, sizeof(path), "%s/nginx.conf", h_root);
	ret = h_write_text(path, conf);
	pid = ret < 0 ? -1 : fork();
	if (ret == 0 && pid < 0)
		ret = -errno;
	if (pid == 0) {
		char elog[256], fds[32];
		int devnull = open("/dev/null", O_RDWR);

		/* The sockets nginx takes over instead of binding its own. */
		snprintf(fds, sizeof(fds), "%d;", fd);
		if (tls_fd >= 0)
			snprintf(fds + strlen(fds), sizeof(fds) - strlen(fds),
				 "%d;", tls_fd);
		if (fcntl(fd, F_SETFD, 0) < 0 ||
		    (tls_fd >= 0 && fcntl(tls_fd, F_SETFD, 0) < 0) ||
		    setenv("NGINX", fds, 1) < 0)
			_exit(126);
		snprintf(elog, sizeof(elog), "%s/error.log", h_root);
		dup2(devnull, 0);
		execlp(nginx, nginx, "-p", h_root, "-c", path, "-e", elog,
		       (char *)NULL);
		_exit(127);
	}
	/*
	 * nginx holds the sockets now: were it to exit, a client is refused
	 * rather than left waiting in a backlog nobody accepts from.
	 */
	close(fd);
	if (tls_fd >= 0)
		close(tls_fd);
	if (ret < 0)
		return ret;
	nginx_pid = pid;
	/*
	 * The ports accept from the start (connections wait in the backlog);
	 * nginx writes its pid file once its configuration is taken.
	 */
	for (tries = 0; tries < 1000; tries++) {
		int st;

		if (h_exists(pidfile))
			return 0;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			nginx_pid = -1;
			fprintf(stderr, "nginx exited; see %s/error.log\n", h_root);
			return -ECHILD;
		}
		usleep(10000);
	}
	return -ETIMEDOUT;
}

int h_start_faultd(void)
{
	const char *faultd = getenv("FAULTD");
	char logpath[256], buf[32];
	int pfd[2];
	ssize_t n;
	pid_t pid;

	if (!faultd)
		return -ENOENT;
	snprintf(logpath, sizeof(logpath), "%s/faultd.log", h_root);
	if (pipe(pfd) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(faultd, faultd, logpath, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	fault_pid = pid;
	n = read(pfd[0], buf, sizeof(buf) - 1);
	close(pfd[0]);
	if (n <= 0)
		return -ECHILD;
	buf[n] = '\0';
	h_fault_port = atoi(buf);
	return h_fault_port > 0 ? 0 : -EPROTO;
}

static unsigned count_lines(const char *file, const char *needle)
{
	char path[256], line[4096];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", h_root, file);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, needle))
			n++;
	}
	fclose(f);
	return n;
}

unsigned h_nginx_requests(const char *needle)
{
	return count_lines("access.log", needle);
}

unsigned h_fault_requests(const char *needle)
{
	return count_lines("faultd.log", needle);
}

char *h_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f) {
		do {
			if (cap - len < 4096) {
				cap = cap ? cap * 2 : 8192;
				buf = realloc(buf, cap);
				if (!buf)
					abort();
			}
			n = fread(buf + len, 1, cap - len - 1, f);
			len += n;
		} while (n > 0);
		fclose(f);
	}
	if (!buf)
		buf = calloc(1, 1);
	else
		buf[len] = '\0';
	return buf;
}

struct h_result h_getv(const char *stdin_path, bool vg,
		       const char *const *args)
{
	return h_getv_signal(stdin_path, vg, args, NULL, NULL, 0);
}

char *h_cli_err(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/cli.err", h_root);
	return h_slurp(path);
}

char *h_cli_out(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/cli.out", h_root);
	return h_slurp(path);
}

struct h_result h_getv_signal(const char *stdin_path, bool vg,
			      const char *const *args,
			      bool (*ready)(void *arg), void *arg, int sig)
{
	static const char *const vg_args[] = {
		"valgrind", "--error-exitcode=99", "--leak-check=full",
		"--show-leak-kinds=definite,indirect,possible",
		"--errors-for-leak-kinds=definite,indirect,possible",
		"--track-origins=yes", "--fair-sched=yes", "--quiet",
	};
	const char *argv[64];
	char out[256], err[256];
	struct h_result r = { .status = -1 };
	size_t n = 0, i;
	int64_t t0 = tu_now_ns(), t_sig = 0;
	bool exited = false;
	pid_t pid;
	int st;

	if (vg && tu_under_valgrind()) {
		for (i = 0; i < sizeof(vg_args) / sizeof(vg_args[0]); i++)
			argv[n++] = vg_args[i];
	}
	argv[n++] = getenv("RINGPOOL_BIN") ? getenv("RINGPOOL_BIN") : "ringpool";
	argv[n++] = "get";
	for (i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(out, sizeof(out), "%s/cli.out", h_root);
	snprintf(err, sizeof(err), "%s/cli.err", h_root);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in < 0 || o < 0 || e < 0)
			_exit(126);
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid > 0 && sig) {
		int64_t give_up = tu_now_ns() + (int64_t)60 * 1000000000;

		while (!(exited = waitpid(pid, &st, WNOHANG) == pid) &&
		       !(ready && ready(arg)) && tu_now_ns() < give_up)
			usleep(10000);
		if (!exited) {
			if (ready && !ready(arg))
				printf("\n  not ready after 60 s: signalled anyway");
			t_sig = tu_now_ns();
			kill(pid, sig);
		}
	}
	if (pid > 0 && (exited || waitpid(pid, &st, 0) == pid))
		r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.seconds = (tu_now_ns() - t0) / 1e9;
	if (t_sig)
		r.after_signal = (tu_now_ns() - t_sig) / 1e9;
	r.out = h_slurp(out);
	r.err = h_slurp(err);
	/* The log shows what the CLI said when an assertion fails. */
	printf("\n  $ ringpool get");
	for (i = 0; args[i]; i++)
		printf(" %s", args[i]);
	printf("  -> %d in %.2f s\n", r.status, r.seconds);
	if (r.err[0] && strlen(r.err) < 4000)
		printf("%s", r.err);
	return r;
}

struct h_result h_get(const char *stdin_path, bool vg, ...)
{
	const char *args[48];
	size_t n = 0;
	va_list ap;

	va_start(ap, vg);
	while (n < 47 && (args[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	args[n] = NULL;
	return h_getv(stdin_path, vg, args);
}

void h_free(struct h_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

char *h_dir(const char *name)
{
	static char bufs[4][256];
	static unsigned next;
	char *p = bufs[next++ % 4];

	snprintf(p, 256, "%s/%s", h_root, name);
	mkdir(p, 0755);
	return p;
}

const char *h_path(const char *dir, const char *name)
{
	static char bufs[8][512];
	static unsigned next;
	char *p = bufs[next++ % 8];

	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

bool h_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

unsigned h_count_suffix(const char *dir, const char *suffix)
{
	size_t sl = strlen(suffix);
	struct dirent *d;
	unsigned n = 0;
	DIR *dp = opendir(dir);

	if (!dp)
		return 0;
	while ((d = readdir(dp))) {
		size_t l = strlen(d->d_name);

		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (l >= sl && !strcmp(d->d_name + l - sl, suffix))
			n++;
	}
	closedir(dp);
	return n;
}

unsigned h_count_entries(const char *dir)
{
	return h_count_suffix(dir, "");
}

static void hex32(const unsigned char *b, char out[65])
{
	int i;

	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

void h_sha_file(const char *path, char out[65])
{
	unsigned char sha[32];
	int fd = open(path, O_RDONLY);

	out[0] = '\0';
	if (fd < 0)
		return;
	if (get_sha256_fd(fd, sha) == 0)
		hex32(sha, out);
	close(fd);
}

void h_sha_body(const char *key, uint64_t size, char out[65])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint32_t seed = body_seed(key);
	unsigned char buf[8192], sha[32];
	unsigned len = 32;
	uint64_t off;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);

		body_fill(seed, off, buf, n);
		EVP_DigestUpdate(ctx, buf, n);
	}
	EVP_DigestFinal_ex(ctx, sha, &len);
	EVP_MD_CTX_free(ctx);
	hex32(sha, out);
}

int h_write_body(const char *path, const char *key, uint64_t len)
{
	unsigned char buf[8192];
	uint32_t seed = body_seed(key);
	uint64_t off;
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	for (off = 0; off < len; off += sizeof(buf)) {
		size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);

		body_fill(seed, off, buf, n);
		fwrite(buf, 1, n, f);
	}
	return fclose(f) == 0 ? 0 : -EIO;
}

bool h_http_available(void)
{
	struct rp_http_config c;
	rp_executor *ex;
	rp_http *h = NULL;
	int ret;

	if (rp_http_config_init(&c) < 0 || tu_executor_new(1, &ex) < 0)
		return false;
	ret = rp_http_new(ex, &c, &h);
	rp_http_free(h);
	rp_executor_free(ex);
	return ret == 0;
}

void h_assert_body(const char *dir, const char *name, const char *key,
		   uint64_t size)
{
	char got[65], want[65];

	h_sha_file(h_path(dir, name), got);
	h_sha_body(key, size, want);
	if (strcmp(got, want))
		printf("\n  %s/%s: sha256 %s, expected %s\n", dir, name,
		       got[0] ? got : "(missing)", want);
	CU_ASSERT_STRING_EQUAL(got, want);
}

bool h_has(const char *text, const char *needle)
{
	bool ok = strstr(text, needle) != NULL;

	if (!ok)
		printf("\n  expected to find '%s'\n", needle);
	return ok;
}
