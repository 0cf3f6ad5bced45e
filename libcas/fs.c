#include "fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int cas_fs_mkdir_p(const char *dir, char *err, size_t errsize)
{
	char buf[4096];
	size_t n = strlen(dir);
	if (n == 0)
		return 0;
	if (n >= sizeof buf) {
		snprintf(err, errsize, "unable to create folder %s: path too long", dir);
		return -1;
	}
	memcpy(buf, dir, n + 1);
	/* Walk every prefix ending before a '/', then the whole path. */
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue;	/* "a//b" */
		char saved = buf[i];
		buf[i] = '\0';
		struct stat st;
		if (stat(buf, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				snprintf(err, errsize, "unable to create folder %s: %s", dir, strerror(ENOTDIR));
				return -1;
			}
		} else if (errno != ENOENT || (mkdir(buf, 0700) < 0 && errno != EEXIST)) {
			snprintf(err, errsize, "unable to create folder %s: %s", dir, strerror(errno));
			return -1;
		}
		buf[i] = saved;
	}
	return 0;
}

int cas_fs_mkdir_parent(const char *path, char *err, size_t errsize)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL || slash == path)
		return 0;	/* in the working folder, or directly under / */
	char dir[4096];
	size_t n = (size_t)(slash - path);
	if (n >= sizeof dir) {
		snprintf(err, errsize, "unable to create folder for %s: path too long", path);
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = '\0';
	return cas_fs_mkdir_p(dir, err, errsize);
}
