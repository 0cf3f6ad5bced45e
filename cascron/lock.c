/* The run lock: flock(2) on a small file that also names the holder's pid.
 * The kernel drops the lock when its holder exits, however it exits, so a
 * crashed run never blocks the next one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cascron.h"
#include "fs.h"

int cron_lock_take(struct cron_lock *l, const char *path, long *holder, char *err, size_t errsize)
{
	char buf[32];
	l->fd = -1;
	*holder = 0;
	if (cas_fs_mkdir_parent(path, err, errsize) < 0)
		return -1;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errsize, "unable to open lock file %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e == EWOULDBLOCK) {
			ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
			if (n > 0) {
				buf[n] = '\0';
				*holder = strtol(buf, NULL, 10);
			}
			close(fd);
			return 1;
		}
		close(fd);
		snprintf(err, errsize, "unable to lock %s: %s", path, strerror(e));
		return -1;
	}
	int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		snprintf(err, errsize, "unable to write lock file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	l->fd = fd;
	return 0;
}

void cron_lock_release(struct cron_lock *l)
{
	if (l->fd < 0)
		return;
	/* Empty the file first, so that a run reading it before the next
	 * holder writes its pid finds none rather than ours.  The lock goes
	 * with close() whatever ftruncate() says. */
	int r = ftruncate(l->fd, 0);
	(void)r;
	close(l->fd);
	l->fd = -1;
}
