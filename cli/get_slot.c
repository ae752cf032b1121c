/* SPDX-License-Identifier: MIT */
/*
 * `ringpool get`: a slot's life.  A slot holds one entry of the list and
 * walks through
 *
 *   [VERIFY ->] GET -> (BACKOFF -> GET)* -> FINISH -> free
 *
 * where VERIFY (with -c, when NAME exists and the line gives its sha256) is
 * a task on the CPU pool that hashes the existing NAME, which either ends
 * the slot as skipped or lets it download again, GET is an rp_http transfer
 * into NAME.part, BACKOFF an rp_sleep() before a retry, and FINISH a task on
 * the CPU pool that truncates, checks the SHA-256, syncs and renames
 * NAME.part to NAME (done on the main thread when there is nothing to hash
 * or sync).  A small new file has no name until FINISH links it as NAME:
 * see "Unnamed until whole" below.  Each step's future has on_done() as
 * its done-callback, which only queues the slot for the main thread
 * (get.c), and that thread alone moves it on.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "get_run.h"

#define MAX_BACKOFF_NS (60 * 1000000000LL)
#define VALIDATOR_XATTR "user.ringpool.validator"
#define MAX_RETRY_AFTER_NS (300 * 1000000000LL)

/*
 * Unnamed until whole.  A new file whose NAME and NAME.part are both
 * absent starts as an O_TMPFILE in the folder, with no name, and is linked
 * as NAME once it is complete: one change to the folder a file instead of
 * two (create NAME.part, rename it), which on ext4 saved 3-16% of the
 * client's CPU time for 16 KiB files (bench/RESULTS.md).  The file takes
 * the name NAME.part as soon as its body turns out to be UNNAMED_MAX or
 * more, or of unknown length, and when its download ends short (failed,
 * or the run stopped), so that what a run leaves for -c is as before.
 * Only a run killed outright loses the bytes of a small body in flight,
 * which a .part of a body that small would hardly have saved.
 */
#define UNNAMED_MAX (128u << 10)

int get_slot_can_unname(int dirfd, const char *want)
{
	bool proc_only = want && !strcmp(want, "proc");
	struct stat a, b;
	char path[64];
	int fd, how = UNNAME_NO;

	if (want && !strcmp(want, "no"))
		return UNNAME_NO;
	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return UNNAME_NO;
	/*
	 * linkat(fd, "", ..., AT_EMPTY_PATH) checks its right to the file
	 * (CAP_DAC_READ_SEARCH, or since Linux 6.10 having opened it) before
	 * it looks at the new name: "." says EEXIST when it may, and no name
	 * is made.  Else the /proc/self/fd link, which costs a /proc lookup
	 * a file.
	 */
	if (!proc_only && linkat(fd, "", dirfd, ".", AT_EMPTY_PATH) < 0 &&
	    errno == EEXIST) {
		how = UNNAME_FLINK;
	} else {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			how = UNNAME_PROC;
	}
	close(fd);
	return how;
}

bool get_slot_dir_empty(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *e;
	bool empty = true;
	DIR *d;

	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}

/* Gives the unnamed file of `s` the name `name` in the folder. */
static int link_unnamed(struct slot *s, int dirfd, const char *name)
{
	char path[64];
	int ret;

	if (s->run->unname == UNNAME_FLINK) {
		ret = linkat(s->fd, "", dirfd, name, AT_EMPTY_PATH);
	} else {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", s->fd);
		ret = linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW);
	}
	return ret < 0 ? -errno : 0;
}

/*
 * Names the unnamed file of `s` NAME.part, locked as open_part() locks
 * one.  A NAME.part that appeared meanwhile (another run) keeps its name,
 * and this file stays unnamed.
 */
static void name_part(struct slot *s, int dirfd)
{
	if (flock(s->fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		return;
	if (link_unnamed(s, dirfd, s->part) == 0)
		s->unnamed = false;
}

/* The file's name in messages: NAME for one that has no name yet. */
static const char *file_name(const struct slot *s)
{
	return s->unnamed ? s->e.name : s->part;
}

static void on_done(rp_future *f, void *arg)
{
	struct slot *s = arg;
	struct run *r = s->run;

	(void)f;
	pthread_mutex_lock(&r->lock);
	s->next = r->ready;
	r->ready = s;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static uint64_t next_rand(struct run *r)
{
	/* xorshift64*: jitter only, no need for more. */
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 0x2545F4914F6CDD1DULL;
}

static void release(struct run *r, struct slot *s)
{
	get_entry_clear(&s->e);
	s->state = SLOT_FREE;
	s->next = r->free_slots;
	r->free_slots = s;
	r->active--;
}

/*
 * Keeps the validator of a .part left for -c with it, or removes a stale
 * one.  A file system without user extended attributes (ENOTSUP) just
 * resumes without If-Range, as curl -C and wget -c always do.
 */
static void keep_validator(struct slot *s)
{
	if (s->validator[0])
		(void)fsetxattr(s->fd, VALIDATOR_XATTR, s->validator,
				strlen(s->validator), 0);
	else if (s->has_xattr)
		(void)fremovexattr(s->fd, VALIDATOR_XATTR);
}

/*
 * What the last response says about the bytes now in NAME.part.  A 200
 * wrote them from 0: its validator, or none.  A 206 added to them: its
 * validator, or the one we had.  Anything else wrote nothing.  A strong
 * entity tag is preferred; Last-Modified only when there is none (RFC 9110
 * calls a date strong only when the response's Date is a second later,
 * which is not checked: two changes within a second could go unseen).
 */
static void take_validator(struct slot *s, const struct rp_http_info *info)
{
	const char *v = NULL;

	if (info->status != 200 && info->status != 206)
		return;
	if (info->etag && strncmp(info->etag, "W/", 2))
		v = info->etag;
	else if (info->last_modified)
		v = info->last_modified;
	if (v && strlen(v) < sizeof(s->validator))
		snprintf(s->validator, sizeof(s->validator), "%s", v);
	else if (info->status == 200)
		s->validator[0] = '\0';
}

/*
 * Ends a slot as failed.  What arrived stays in NAME.part for -c, unless it
 * is nothing or junk.
 */
static void fail_slot(struct run *r, struct slot *s, long status,
		      const char *why)
{
	char more[700];
	struct stat st;

	/* Only ever the .part here: verify_ended() closes NAME itself. */
	if (s->fd >= 0) {
		if (s->junk || (fstat(s->fd, &st) == 0 && st.st_size == 0)) {
			if (!s->unnamed)
				unlinkat(r->dirfd, s->part, 0);
		} else {
			keep_validator(s);
			if (s->unnamed)
				name_part(s, r->dirfd);
		}
		close(s->fd);
		s->fd = -1;
	}
	if (s->replacing) {
		snprintf(more, sizeof(more), "%s (%s, which failed its sha256 "
			 "check, is left as it was)", why, s->e.name);
		why = more;
	}
	get_progress_failed(r->prog, s->e.url, s->e.name, status, s->retries,
			    why);
	release(r, s);
}

/*
 * The response's headers are in and its body is about to be written (on
 * the client's thread, before any write of it): NAME.part gets the
 * validator of the bytes now coming, so that a run killed before the end
 * (SIGKILL, the OOM killer, a second ^C), which has no chance to record it
 * then, still leaves -c what it needs to resume them safely.  A new body
 * under UNNAMED_MAX that has no name yet is left out: it is over in
 * moments, the attribute would cost two system calls a file, and a kill
 * leaves nothing of it to resume.  One written as NAME.part (a resume, or
 * a file system without O_TMPFILE) gets it like any other.  A 200 to a
 * resume is written from 0 over the bytes there: they go first, or a kill
 * partway would leave the new bytes followed by old ones under the new
 * validator.
 */
static void on_body(void *arg, const struct rp_http_info *info)
{
	struct slot *s = arg;

	if (info->status != 200 && info->status != 206)
		return;
	if (info->status == 200 && s->offset > 0 && ftruncate(s->fd, 0) < 0)
		return;		/* left to transfer_ended() */
	if (s->unnamed) {
		if (info->size >= 0 && info->size < UNNAMED_MAX)
			return;
		name_part(s, s->run->dirfd);
	}
	take_validator(s, info);
	keep_validator(s);
	s->has_xattr = s->validator[0] != '\0';
}

static void begin_get(struct run *r, struct slot *s)
{
	struct rp_http_request req = {
		.url = s->e.url, .fd = s->fd, .offset = s->offset,
		.if_range = s->offset > 0 && s->validator[0] ? s->validator
							     : NULL,
		.on_body = on_body, .arg = s,
	};
	char why[128];
	int ret;

	if (s->offset > 0)
		s->truncate = true;
	ret = rp_http_get(r->http[(size_t)(s - r->slots) % r->n_http], &req,
			  &s->t);
	if (ret < 0) {
		snprintf(why, sizeof(why), "cannot start the transfer: %s",
			 strerror(-ret));
		fail_slot(r, s, 0, why);
		return;
	}
	s->state = SLOT_GET;
	ret = rp_future_add_done_callback(rp_http_transfer_future(s->t),
					  on_done, s);
	if (ret < 0) {
		rp_http_transfer_free(s->t);
		s->t = NULL;
		fail_slot(r, s, 0, "out of memory");
	}
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * The finish, on a CPU worker: cut NAME.part to its length (a server that
 * ignored our Range wrote from 0), check the checksum, sync, rename.  Runs
 * on the pool so that hashing a large file overlaps with the downloads.
 */
static int finish_task(void *arg, int64_t *value)
{
	struct slot *s = arg;
	const struct get_opts *o = s->run->o;
	int dirfd = s->run->dirfd;
	unsigned char got[32];
	int ret;

	(void)value;
	s->fin_why[0] = '\0';
	if (s->truncate && ftruncate(s->fd, (off_t)s->final_len) < 0) {
		ret = -errno;
		snprintf(s->fin_why, sizeof(s->fin_why), "cannot truncate %s: %s",
			 file_name(s), strerror(errno));
		return ret;
	}
	if (s->e.has_sha) {
		char want[65];

		ret = get_sha256_fd(s->fd, got);
		if (ret < 0) {
			snprintf(s->fin_why, sizeof(s->fin_why),
				 "cannot read %s back: %s", file_name(s),
				 strerror(-ret));
			return ret;
		}
		hex(got, 32, s->sha_hex);
		if (memcmp(got, s->e.sha, 32)) {
			hex(s->e.sha, 32, want);
			/* A wrong body is not worth resuming: remove it. */
			s->junk = true;
			snprintf(s->fin_why, sizeof(s->fin_why),
				 "sha256 mismatch: expected %s, got %s", want,
				 s->sha_hex);
			return -EBADMSG;
		}
	}
	/* NAME is whole: what a resume needed goes with the .part name. */
	if (s->has_xattr)
		(void)fremovexattr(s->fd, VALIDATOR_XATTR);
	if (o->fsync && fsync(s->fd) < 0) {
		ret = -errno;
		snprintf(s->fin_why, sizeof(s->fin_why), "cannot sync %s: %s",
			 file_name(s), strerror(errno));
		return ret;
	}
	/*
	 * An unnamed file is linked as NAME, unless NAME appeared meanwhile
	 * (another process): then it goes through NAME.part, whose rename
	 * replaces it, as a named one does.
	 */
	if (s->unnamed) {
		ret = link_unnamed(s, dirfd, s->e.name);
		if (ret == 0) {
			s->unnamed = false;
			goto linked;
		}
		if (ret != -EEXIST || (ret = link_unnamed(s, dirfd, s->part))) {
			snprintf(s->fin_why, sizeof(s->fin_why),
				 "cannot link %s into the folder: %s",
				 s->e.name, strerror(-ret));
			return ret;
		}
		s->unnamed = false;
	}
	if (renameat(dirfd, s->part, dirfd, s->e.name) < 0) {
		ret = -errno;
		snprintf(s->fin_why, sizeof(s->fin_why),
			 "cannot rename %s to %s: %s", s->part, s->e.name,
			 strerror(errno));
		return ret;
	}
linked:
	if (o->fsync && fsync(dirfd) < 0) {
		ret = -errno;
		snprintf(s->fin_why, sizeof(s->fin_why),
			 "cannot sync the folder: %s", strerror(errno));
		return ret;
	}
	return 0;
}

static void finish_done(struct run *r, struct slot *s, int err);
static void verify_ended(struct run *r, struct slot *s);

static void begin_finish(struct run *r, struct slot *s)
{
	int64_t value = 0;
	char why[128];
	int ret;

	s->sha_hex[0] = '\0';
	/*
	 * Without a checksum or a sync the finish is a rename (and maybe a
	 * truncate): two quick system calls, cheaper here than a hand-off to
	 * a worker and back.
	 */
	if (!s->e.has_sha && !r->o->fsync) {
		finish_done(r, s, finish_task(s, &value));
		return;
	}
	ret = rp_submit(r->ex, finish_task, s, &s->f);
	if (ret < 0) {
		snprintf(why, sizeof(why), "cannot finish: %s", strerror(-ret));
		fail_slot(r, s, 0, why);
		return;
	}
	s->state = SLOT_FINISH;
	if (rp_future_add_done_callback(s->f, on_done, s) < 0) {
		rp_future_result(s->f, RP_FOREVER, NULL, NULL);
		rp_future_unref(s->f);
		s->f = NULL;
		fail_slot(r, s, 0, "out of memory");
	}
}

static bool retryable(int err, long status)
{
	switch (err) {
	case -EREMOTEIO:
		return status == 408 || status == 429 || status >= 500;
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -EHOSTUNREACH:
	case -ETIMEDOUT:
	case -EPROTO:
		return true;
	default:
		return false;
	}
}

static int64_t backoff_ns(struct run *r, unsigned retry, int64_t retry_after)
{
	int64_t d = r->o->retry_delay_ns;
	unsigned i;

	if (retry_after >= 0)
		return retry_after < MAX_RETRY_AFTER_NS ? retry_after
							: MAX_RETRY_AFTER_NS;
	for (i = 1; i < retry && d < MAX_BACKOFF_NS; i++)
		d *= 2;
	if (d > MAX_BACKOFF_NS)
		d = MAX_BACKOFF_NS;
	/* Jitter: somewhere in [d/2, d], so that clients spread out. */
	if (d > 1)
		d = d / 2 + (int64_t)(next_rand(r) % (uint64_t)(d / 2 + 1));
	return d;
}

static void describe(const struct run *r, const struct slot *s, int err,
		     const struct rp_http_info *info, char *why, size_t len)
{
	if (err == -EIO && info->write_error)
		snprintf(why, len, "writing %s/%s: %s", r->o->dir,
			 file_name(s), strerror(-info->write_error));
	else if (err == -EREMOTEIO && info->status)
		snprintf(why, len, "HTTP %ld", info->status);
	else if (err == -EKEYREJECTED)
		snprintf(why, len, "%s (the server's certificate is not "
			 "trusted; --cacert FILE names the CA that signed it)",
			 info->error[0] ? info->error : strerror(-err));
	else if (info->error[0])
		snprintf(why, len, "%s", info->error);
	else
		snprintf(why, len, "%s", strerror(-err));
}

static void transfer_ended(struct run *r, struct slot *s)
{
	struct rp_http_info info;
	int64_t value = 0, delay;
	char why[400];
	int err = 0, ret;

	memset(&info, 0, sizeof(info));
	rp_http_transfer_info(s->t, &info);
	ret = rp_future_result(rp_http_transfer_future(s->t), 0, &value, &err);
	if (ret == -ECANCELED)
		err = -ECANCELED;
	describe(r, s, err, &info, why, sizeof(why));
	take_validator(s, &info);	/* before the free: info's strings */
	rp_http_transfer_free(s->t);
	s->t = NULL;
	s->received += info.bytes;

	/*
	 * A 2xx other than 206 to a request with a Range wrote its body from
	 * byte 0.  Broken off, it leaves its bytes followed by the older ones
	 * of the .part, which its validator (taken above) does not describe:
	 * cut them, so that what is kept, and what a retry or a later -c
	 * resumes from, is the new prefix alone.
	 */
	if (err && s->offset > 0 && !info.resumed && info.status >= 200 &&
	    info.status <= 299) {
		if (ftruncate(s->fd, (off_t)info.bytes) < 0) {
			snprintf(why, sizeof(why), "cannot truncate %s/%s: %s",
				 r->o->dir, file_name(s), strerror(errno));
			s->junk = true;
			fail_slot(r, s, info.status, why);
			return;
		}
		s->offset = 0;
	}
	if (err && r->stopping) {
		fail_slot(r, s, info.status, "interrupted");
		return;
	}
	if (err == 0) {
		s->final_len = (info.resumed ? s->offset : 0) + info.bytes;
		s->resumed |= info.resumed;
		if (info.size >= 0 && (uint64_t)info.size != s->final_len) {
			snprintf(why, sizeof(why), "length mismatch: %llu bytes "
				 "for a resource of %lld",
				 (unsigned long long)s->final_len,
				 (long long)info.size);
			fail_slot(r, s, info.status, why);
			return;
		}
		begin_finish(r, s);
		return;
	}
	/* 416 on a resume: either NAME.part is already whole, or it is junk. */
	if (err == -EREMOTEIO && info.status == 416 && s->offset > 0) {
		if (info.size >= 0 && (uint64_t)info.size == s->offset) {
			s->final_len = s->offset;
			s->resumed = true;
			begin_finish(r, s);
			return;
		}
		if (!s->restarted && ftruncate(s->fd, 0) == 0) {
			s->restarted = true;
			s->offset = 0;
			begin_get(r, s);
			return;
		}
	}
	if (!retryable(err, info.status) || s->retries >= r->o->retries) {
		if (s->retries)
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 " (after %u retr%s)", s->retries,
				 s->retries == 1 ? "y" : "ies");
		fail_slot(r, s, info.status, why);
		return;
	}
	/* Keep what arrived: the next attempt asks for the rest. */
	if (info.bytes)
		s->offset = (info.resumed ? s->offset : 0) + info.bytes;
	s->retries++;
	delay = backoff_ns(r, s->retries, info.retry_after_ns);
	get_progress_retry(r->prog, s->e.url, s->e.name, s->retries, delay, why);
	ret = rp_sleep(r->ex, delay, &s->f);
	if (ret < 0) {
		snprintf(why, sizeof(why), "cannot wait to retry: %s",
			 strerror(-ret));
		fail_slot(r, s, 0, why);
		return;
	}
	s->state = SLOT_BACKOFF;
	if (rp_future_add_done_callback(s->f, on_done, s) < 0) {
		rp_future_cancel(s->f);
		rp_future_result(s->f, RP_FOREVER, NULL, NULL);
		rp_future_unref(s->f);
		s->f = NULL;
		fail_slot(r, s, 0, "out of memory");
	}
}

static void finish_done(struct run *r, struct slot *s, int err)
{
	if (err) {
		fail_slot(r, s, 0, s->fin_why[0] ? s->fin_why : strerror(-err));
		return;
	}
	close(s->fd);
	s->fd = -1;
	get_progress_done(r->prog, s->e.url, s->e.name, s->final_len,
			  s->received, s->resumed, s->replacing, s->retries,
			  s->e.has_sha ? s->sha_hex : NULL);
	release(r, s);
}

static void finish_ended(struct run *r, struct slot *s)
{
	int err = 0;

	if (rp_future_result(s->f, 0, NULL, &err) == -ECANCELED)
		err = -ECANCELED;
	rp_future_unref(s->f);
	s->f = NULL;
	finish_done(r, s, err);
}

void get_slot_ready(struct run *r, struct slot *s)
{
	switch (s->state) {
	case SLOT_GET:
		transfer_ended(r, s);
		break;
	case SLOT_BACKOFF:
		rp_future_unref(s->f);
		s->f = NULL;
		if (r->stopping)
			fail_slot(r, s, 0, "interrupted");
		else
			begin_get(r, s);
		break;
	case SLOT_VERIFY:
		verify_ended(r, s);
		break;
	case SLOT_FINISH:
		finish_ended(r, s);
		break;
	case SLOT_FREE:
		break;
	}
}

/*
 * Opens the file to download into and starts the GET: an unnamed one when
 * `fresh` (NAME is absent) and NAME.part is absent too, else NAME.part
 * (continued with -c, else emptied).
 */
static void open_part(struct run *r, struct slot *s, bool fresh)
{
	/* Read too: the checksum is computed from the file itself. */
	int flags = O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW;
	char why[400];
	struct stat st;
	bool created;

	if (fresh && r->unname != UNNAME_NO &&
	    (r->empty_dir ||
	     (fstatat(r->dirfd, s->part, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	      errno == ENOENT))) {
		s->fd = openat(r->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
			       0644);
		if (s->fd >= 0) {
			s->unnamed = true;
			s->offset = 0;
			get_progress_start(r->prog, s->e.url, s->e.name, 0);
			begin_get(r, s);
			return;
		}
	}

	/*
	 * Most often NAME.part is new: made with O_EXCL it is known to be
	 * empty and to carry no validator, which saves three system calls a
	 * file on the loop's thread.  One that is there already is opened
	 * as it is, and emptied or continued below, under its lock.
	 */
	s->fd = openat(r->dirfd, s->part, flags | O_EXCL, 0644);
	created = s->fd >= 0;
	if (!created && errno == EEXIST)
		s->fd = openat(r->dirfd, s->part, flags, 0644);
	if (s->fd < 0) {
		snprintf(why, sizeof(why), "cannot open %s/%s: %s", r->o->dir,
			 s->part, strerror(errno));
		fail_slot(r, s, 0, why);
		return;
	}
	/*
	 * One writer per NAME.part.  A second run into the same folder (a
	 * cron job that overlaps the last one) would otherwise empty, or
	 * write into, a file that the first is still downloading, and the
	 * first could publish it with the bytes it wrote before that gone.
	 * Taken before anything is cut, and held until the file is closed,
	 * after its rename.  A file system without flock() goes on without.
	 */
	if (flock(s->fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		/* Not ours: closed first, so that fail_slot() leaves it be. */
		close(s->fd);
		s->fd = -1;
		snprintf(why, sizeof(why), "%s/%s is being written by another "
			 "process (another ringpool get into this folder?)",
			 r->o->dir, s->part);
		fail_slot(r, s, 0, why);
		return;
	}
	if (created) {
		st.st_size = 0;
	} else if (r->o->cont ? fstat(s->fd, &st) < 0
			      : ftruncate(s->fd, 0) < 0) {
		snprintf(why, sizeof(why), "cannot %s %s/%s: %s",
			 r->o->cont ? "read the size of" : "empty", r->o->dir,
			 s->part, strerror(errno));
		fail_slot(r, s, 0, why);
		return;
	}
	s->offset = r->o->cont ? (uint64_t)st.st_size : 0;
	if (s->offset > 0) {
		ssize_t n = fgetxattr(s->fd, VALIDATOR_XATTR, s->validator,
				      sizeof(s->validator) - 1);

		s->has_xattr = n >= 0;
		s->validator[n > 0 ? n : 0] = '\0';
	} else if (!created) {
		/*
		 * Emptying a file keeps its attributes: the validator of
		 * bytes that are gone would otherwise stay with the new
		 * ones, and on NAME once it is renamed.
		 */
		(void)fremovexattr(s->fd, VALIDATOR_XATTR);
	}
	get_progress_start(r->prog, s->e.url, s->e.name, s->offset);
	begin_get(r, s);
}

/* Hashes the existing NAME, open in s->fd, on a CPU worker. */
static int verify_task(void *arg, int64_t *value)
{
	struct slot *s = arg;
	unsigned char got[32];
	int ret;

	(void)value;
	ret = get_sha256_fd(s->fd, got);
	if (ret < 0)
		return ret;
	hex(got, 32, s->sha_hex);
	return memcmp(got, s->e.sha, 32) ? -EBADMSG : 0;
}

/*
 * -c found NAME, and the line gives its sha256: a file of that name is not
 * taken on trust (a run that was stopped cannot have left it half written,
 * but the disk, another program or a new checksum in the list can make it
 * wrong).  Hashing runs on the pool, as the finish's does.
 */
static void begin_verify(struct run *r, struct slot *s)
{
	char why[400];
	int ret;

	s->fd = openat(r->dirfd, s->e.name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (s->fd < 0) {
		snprintf(why, sizeof(why), "cannot open %s/%s to check it: %s",
			 r->o->dir, s->e.name, strerror(errno));
		fail_slot(r, s, 0, why);
		return;
	}
	ret = rp_submit(r->ex, verify_task, s, &s->f);
	if (ret < 0) {
		close(s->fd);
		s->fd = -1;
		snprintf(why, sizeof(why), "cannot check %s: %s", s->e.name,
			 strerror(-ret));
		fail_slot(r, s, 0, why);
		return;
	}
	s->state = SLOT_VERIFY;
	if (rp_future_add_done_callback(s->f, on_done, s) < 0) {
		rp_future_result(s->f, RP_FOREVER, NULL, NULL);
		rp_future_unref(s->f);
		s->f = NULL;
		close(s->fd);
		s->fd = -1;
		fail_slot(r, s, 0, "out of memory");
	}
}

/*
 * The check of an existing NAME ended: skip it when it matches, else
 * download it again through NAME.part, whose rename replaces the bad file
 * in one step (a failed download leaves it as it was).
 */
static void verify_ended(struct run *r, struct slot *s)
{
	char want[65], why[400];
	struct stat st;
	int err = 0;

	if (rp_future_result(s->f, 0, NULL, &err) == -ECANCELED)
		err = -ECANCELED;
	rp_future_unref(s->f);
	s->f = NULL;
	if (fstat(s->fd, &st) < 0)
		st.st_size = 0;
	close(s->fd);
	s->fd = -1;
	if (err == 0) {
		get_progress_skipped(r->prog, s->e.url, s->e.name,
				     (uint64_t)st.st_size, s->sha_hex);
		release(r, s);
		return;
	}
	if (err == -ECANCELED || (err == -EBADMSG && r->stopping)) {
		fail_slot(r, s, 0, "interrupted");
		return;
	}
	if (err != -EBADMSG) {
		snprintf(why, sizeof(why), "cannot read %s/%s to check it: %s",
			 r->o->dir, s->e.name, strerror(-err));
		fail_slot(r, s, 0, why);
		return;
	}
	hex(s->e.sha, 32, want);
	snprintf(why, sizeof(why), "sha256 mismatch in the existing file: "
		 "expected %s, got %s", want, s->sha_hex);
	get_progress_replacing(r->prog, s->e.url, s->e.name, why);
	s->replacing = true;
	open_part(r, s, false);
}

void get_slot_start(struct run *r, struct slot *s)
{
	char why[400];
	struct stat st;
	bool fresh;
	int ret;

	s->fd = -1;
	s->offset = s->received = 0;
	s->retries = 0;
	s->resumed = s->restarted = s->truncate = s->replacing = false;
	s->unnamed = s->junk = false;
	s->validator[0] = '\0';
	s->has_xattr = false;
	s->t = NULL;
	s->f = NULL;
	snprintf(s->part, sizeof(s->part), "%s%s", s->e.name, PART_SUFFIX);
	if (r->empty_dir) {
		ret = -1;
		fresh = true;
	} else {
		ret = fstatat(r->dirfd, s->e.name, &st, AT_SYMLINK_NOFOLLOW);
		fresh = ret < 0 && errno == ENOENT;
	}
	/*
	 * A folder of that name: the rename at the end would fail, after the
	 * whole download, and again on every run.  Said now instead.
	 */
	if (ret == 0 && S_ISDIR(st.st_mode)) {
		snprintf(why, sizeof(why), "%s/%s is a folder: the file cannot "
			 "take its name (name= on the line gives another)",
			 r->o->dir, s->e.name);
		fail_slot(r, s, 0, why);
		return;
	}
	if (r->o->cont && ret == 0 && S_ISREG(st.st_mode)) {
		if (s->e.has_sha) {
			begin_verify(r, s);
			return;
		}
		get_progress_skipped(r->prog, s->e.url, s->e.name,
				     (uint64_t)st.st_size, NULL);
		release(r, s);
		return;
	}
	open_part(r, s, fresh);
}
