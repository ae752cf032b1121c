/* SPDX-License-Identifier: MIT */
/*
 * The data file of `ringpool bench file`: made and removed by the tool, or
 * given and never written without --force; primed into or dropped from the
 * page cache before each run; opened with the run's flags, with a clear
 * word when the file system refuses O_DIRECT.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bench_file.h"

#define SUBJ "file"
#define FILL_CHUNK (1U << 20)
#define TMPFS_MAGIC 0x01021994 /* <linux/magic.h> */

const char *const file_rw_names[] = {
	"read", "write", "randread", "randwrite", "randrw",
};

bool file_is_write(int rw)
{
	return rw == RW_WRITE || rw == RW_RANDWRITE || rw == RW_RANDRW;
}

/* The read share of the workload, in percent. */
unsigned file_read_pct(const struct file_opts *o)
{
	if (o->rw == RW_RANDRW)
		return (unsigned)o->mix;
	return file_is_write(o->rw) ? 0 : 100;
}

/* Writes `size` bytes of pseudo-random data (so nothing compresses). */
static int fill(int fd, uint64_t size)
{
	uint64_t off, x = 0x243F6A8885A308D3ULL;
	uint64_t *buf = malloc(FILL_CHUNK);
	size_t i;

	if (!buf)
		return -ENOMEM;
	for (off = 0; off < size && !bench_stop; off += FILL_CHUNK) {
		size_t len = size - off < FILL_CHUNK ? size - off : FILL_CHUNK;
		ssize_t n;

		for (i = 0; i < FILL_CHUNK / 8; i++) {
			x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
			buf[i] = x * 0x2545F4914F6CDD1DULL;
		}
		n = pwrite(fd, buf, len, (off_t)off);
		if (n < 0 || (size_t)n != len) {
			int err = n < 0 ? errno : ENOSPC;

			free(buf);
			return -err;
		}
	}
	free(buf);
	return bench_stop ? -EINTR : 0;
}

/* Says that the file system of `path` refuses O_DIRECT; returns 1. */
static int refuses_direct(const char *path)
{
	bench_err(SUBJ, "%s: this file system refuses O_DIRECT (open: %s); "
		  "run on one that supports it (ext4, xfs) or leave out "
		  "--direct", path, strerror(EINVAL));
	return 1;
}

/*
 * --direct on the file at `path` (`sb` its stat): refused where it would
 * not measure a device, before any byte of the file is written.  tmpfs
 * takes O_DIRECT (since Linux 6.6) but keeps the file in memory all the
 * same; other file systems refuse the flag at open.  Returns 0, or 1 after
 * saying why.
 */
static int check_direct(const char *path, const struct stat *sb)
{
	struct statfs fs;
	int fd;

	if (S_ISREG(sb->st_mode) && statfs(path, &fs) == 0 &&
	    fs.f_type == TMPFS_MAGIC) {
		bench_err(SUBJ,
			  "%s is on tmpfs, which keeps files in memory: "
			  "O_DIRECT there measures memory, not a device; run "
			  "on a disk's file system (ext4, xfs) or leave out "
			  "--direct",
			  path);
		return 1;
	}
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0 && errno == EINVAL) {
		return refuses_direct(path);
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/* The capacity of the block device at `path`; 0, or 1 after saying why. */
static int device_size(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0 || ioctl(fd, BLKGETSIZE64, size)) {
		bench_err(SUBJ, "cannot read the size of %s: %s", path,
			  strerror(errno));
		ret = 1;
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Makes or checks the file; returns 0, 1 (run error) or 2 (usage error). */
int file_prepare(struct file_opts *o, struct data_file *df)
{
	struct stat sb;
	uint64_t have = 0;
	int fd, ret;

	if (o->dir) {
		snprintf(df->path, sizeof(df->path), "%s/ringpool-bench.XXXXXX",
			 o->dir);
		fd = mkstemp(df->path);
		if (fd < 0) {
			bench_err(SUBJ, "cannot create a file in %s: %s",
				  o->dir, strerror(errno));
			return errno == ENOENT || errno == ENOTDIR ? 2 : 1;
		}
		df->created = true;
	} else {
		snprintf(df->path, sizeof(df->path), "%s", o->file);
		fd = open(df->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			  0644);
		if (fd >= 0) {
			df->created = true;
		} else if (errno != EEXIST) {
			bench_err(SUBJ, "cannot create %s: %s", df->path,
				  strerror(errno));
			return 1;
		}
	}
	if (!df->created) {
		if (stat(df->path, &sb)) {
			bench_err(SUBJ, "%s: %s", df->path, strerror(errno));
			return 1;
		}
		if (file_is_write(o->rw) && !o->force) {
			bench_err(SUBJ,
				  "%s exists and was not created by "
				  "this tool: --rw %s would overwrite it; "
				  "pass --force to allow that",
				  df->path, file_rw_names[o->rw]);
			return 2;
		}
		if (S_ISDIR(sb.st_mode)) {
			bench_err(SUBJ,
				  "%s is a folder: --dir %s creates a "
				  "temporary file in it",
				  df->path, df->path);
			return 2;
		}
		/* Opening a FIFO would wait for a writer; neither has offsets. */
		if (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode)) {
			bench_err(SUBJ,
				  "%s is a %s: the runs read and write blocks "
				  "at offsets; give a regular file or a block "
				  "device",
				  df->path,
				  S_ISFIFO(sb.st_mode) ? "FIFO" : "socket");
			return 2;
		}
		/* A block device's size is its capacity, as fio takes it. */
		if (S_ISBLK(sb.st_mode) && (ret = device_size(df->path, &have)))
			return ret;
		if (S_ISREG(sb.st_mode))
			have = (uint64_t)sb.st_size;
		if (!S_ISREG(sb.st_mode) && !S_ISBLK(sb.st_mode) && !o->size) {
			bench_err(SUBJ,
				  "%s is not a regular file: give "
				  "--size",
				  df->path);
			return 2;
		}
		df->size = o->size ? o->size : have;
		if ((S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode)) &&
		    df->size > have) {
			bench_err(SUBJ,
				  "%s holds %llu bytes, less than "
				  "--size %llu",
				  df->path, (unsigned long long)have,
				  (unsigned long long)df->size);
			return 2;
		}
		if (df->size < o->bs) {
			bench_err(SUBJ,
				  "%s holds less than one block of "
				  "--bs %llu",
				  df->path, (unsigned long long)o->bs);
			return 2;
		}
		return o->direct ? check_direct(df->path, &sb) : 0;
	}
	if (o->direct && !fstat(fd, &sb) && check_direct(df->path, &sb)) {
		close(fd);
		return 1;
	}
	df->size = o->size ? o->size : 256ULL << 20;
	ret = fill(fd, df->size);
	if (ret == 0 && fdatasync(fd))
		ret = -errno;
	close(fd);
	if (ret < 0) {
		if (ret == -ENOSPC)
			bench_err(SUBJ,
				  "no space left on device while "
				  "writing the %llu-byte file %s",
				  (unsigned long long)df->size, df->path);
		else if (ret != -EINTR)
			bench_err(SUBJ, "cannot write %s: %s", df->path,
				  strerror(-ret));
		return 1;
	}
	return 0;
}

void file_remove(struct data_file *df)
{
	if (df->created && unlink(df->path) == 0)
		df->created = false;
}

void file_prime(const char *path, uint64_t size, bool drop)
{
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t off;

	if (fd < 0)
		return;
	if (drop) {
		/* Only clean pages go: write back first. */
		(void)fdatasync(fd);
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
		return;
	}
	buf = malloc(FILL_CHUNK);
	/* A large file takes a while: ^C stops the reading too. */
	for (off = 0; buf && off < size && !bench_stop; off += FILL_CHUNK)
		if (pread(fd, buf, FILL_CHUNK, (off_t)off) <= 0)
			break;
	free(buf);
	close(fd);
}

/* Opens the file for a run; 0 and *fd, or 1 after printing why. */
int file_open_for_run(const struct file_opts *o, const char *path, int *fd)
{
	int flags = (file_is_write(o->rw) ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	void *buf;
	ssize_t n;

	if (o->direct)
		flags |= O_DIRECT;
	*fd = open(path, flags);
	if (*fd < 0 && errno == EINVAL && o->direct) {
		return refuses_direct(path);
	}
	if (*fd < 0) {
		bench_err(SUBJ, "cannot open %s: %s", path, strerror(errno));
		return 1;
	}
	if (!o->direct)
		return 0;
	/* Some file systems take the flag and refuse the first read. */
	buf = aligned_alloc(4096, (o->bs + 4095) & ~4095ULL);
	n = buf ? pread(*fd, buf, o->bs, 0) : 0;
	free(buf);
	if (n < 0 && errno == EINVAL) {
		bench_err(SUBJ,
			  "%s: an O_DIRECT read of %llu bytes fails "
			  "with EINVAL: the file system refuses O_DIRECT or "
			  "--bs is not a multiple of its block size",
			  path, (unsigned long long)o->bs);
		close(*fd);
		return 1;
	}
	return 0;
}
