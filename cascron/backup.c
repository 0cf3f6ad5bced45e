/* Database backups: DIR/STEM-YYYYmmdd-HHMMSS.db (UTC), where STEM is the
 * database file name without ".db".  The time in the name is the truth:
 * the newest name says when the last backup was made, and the names sort
 * by age, so keeping the N newest is keeping the N last names. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cascron.h"
#include "fs.h"

#define STAMP_LEN 15	/* YYYYmmdd-HHMMSS */

static void stem_of(const char *db_path, char *out, size_t size)
{
	const char *base = strrchr(db_path, '/');
	base = base ? base + 1 : db_path;
	size_t n = strlen(base);
	if (n > 3 && strcmp(base + n - 3, ".db") == 0)
		n -= 3;
	snprintf(out, size, "%.*s", (int)n, base);
}

static int all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Is `name` STEM-YYYYmmdd-HHMMSS.db (tmp: with ".tmp" after it)?  Sets
 * *when from the stamp. */
static int backup_name(const char *name, const char *stem, int tmp, int64_t *when)
{
	size_t sl = strlen(stem), n = strlen(name);
	size_t want = sl + 1 + STAMP_LEN + 3 + (tmp ? 4 : 0);
	if (n != want || strncmp(name, stem, sl) != 0 || name[sl] != '-')
		return 0;
	const char *s = name + sl + 1;
	if (!all_digits(s, 8) || s[8] != '-' || !all_digits(s + 9, 6) ||
	    strncmp(s + STAMP_LEN, ".db", 3) != 0 || (tmp && strcmp(s + STAMP_LEN + 3, ".tmp") != 0))
		return 0;
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
	tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
	tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
	tm.tm_hour = (s[9] - '0') * 10 + (s[10] - '0');
	tm.tm_min = (s[11] - '0') * 10 + (s[12] - '0');
	tm.tm_sec = (s[13] - '0') * 10 + (s[14] - '0');
	/* Only real times: a stamp that timegm() would normalise (month 13,
	 * 31 April, second 61) is not one of ours. */
	struct tm back = tm;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL || tm.tm_year != back.tm_year ||
	    tm.tm_mon != back.tm_mon || tm.tm_mday != back.tm_mday || tm.tm_hour != back.tm_hour ||
	    tm.tm_min != back.tm_min || tm.tm_sec != back.tm_sec)
		return 0;
	if (when)
		*when = (int64_t)t;
	return 1;
}

/* The names of the backups (or of the leftovers when tmp) in dir, sorted.
 * A missing folder has none. */
static int list_backups(const char *dir, const char *stem, int tmp, char ***names, size_t *count,
			char *err, size_t errsize)
{
	*names = NULL;
	*count = 0;
	DIR *d = opendir(dir);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errsize, "unable to read backup folder %s: %s", dir, strerror(errno));
		return -1;
	}
	size_t n = 0, cap = 0;
	char **v = NULL;
	struct dirent *e;
	int ret = 0;
	while ((e = readdir(d)) != NULL) {
		if (!backup_name(e->d_name, stem, tmp, NULL))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **p = realloc(v, ncap * sizeof *p);
			if (p == NULL)
				goto oom;
			v = p;
			cap = ncap;
		}
		if ((v[n] = strdup(e->d_name)) == NULL)
			goto oom;
		n++;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++) {	/* insertion sort: a few names */
		char *x = v[i];
		size_t j = i;
		for (; j > 0 && strcmp(v[j - 1], x) > 0; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	*names = v;
	*count = n;
	return ret;
oom:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	snprintf(err, errsize, "out of memory");
	return -1;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int backup_newest(const char *dir, const char *db_path, int64_t now, int64_t *when, char *err,
		  size_t errsize)
{
	char stem[256], **v;
	size_t n;
	*when = 0;
	stem_of(db_path, stem, sizeof stem);
	if (list_backups(dir, stem, 0, &v, &n, err, errsize) < 0)
		return -1;
	for (size_t i = n; i-- > 0;) {
		int64_t t;
		backup_name(v[i], stem, 0, &t);
		if (t <= now) {
			*when = t;
			break;
		}
	}
	free_names(v, n);
	return 0;
}

int backup_make_name(const char *db_path, int64_t now, char *name)
{
	char stem[256];
	struct tm tm;
	time_t t = (time_t)now;
	stem_of(db_path, stem, sizeof stem);
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999)
		return -1;
	snprintf(name, BACKUP_NAME_SIZE, "%s-%04d%02d%02d-%02d%02d%02d.db", stem, tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

int backup_write(struct cas_db *db, const char *dir, const char *name, char *err, size_t errsize)
{
	char path[4400];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
		snprintf(err, errsize, "unable to back up to %s: path too long", dir);
		return -1;
	}
	if (cas_fs_mkdir_p(dir, err, errsize) < 0)
		return -1;
	if (cas_db_backup(db, path) < 0) {
		snprintf(err, errsize, "%s", cas_db_errmsg(db));
		return -1;
	}
	return 0;
}

static int remove_names(const char *dir, char **v, size_t n, int *removed, char *err, size_t errsize)
{
	char path[4400];
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, v[i]);
		if (unlink(path) < 0 && errno != ENOENT) {
			snprintf(err, errsize, "unable to remove old backup %s: %s", path, strerror(errno));
			return -1;
		}
		(*removed)++;
	}
	return 0;
}

int backup_prune(const char *dir, const char *db_path, int keep, int *removed, char *err,
		 size_t errsize)
{
	char stem[256], **v;
	size_t n;
	int ret;
	*removed = 0;
	stem_of(db_path, stem, sizeof stem);
	/* Leftovers of an interrupted backup: the lock says no backup runs. */
	if (list_backups(dir, stem, 1, &v, &n, err, errsize) < 0)
		return -1;
	int tmp_removed = 0;
	ret = remove_names(dir, v, n, &tmp_removed, err, errsize);
	free_names(v, n);
	if (ret < 0)
		return -1;
	if (list_backups(dir, stem, 0, &v, &n, err, errsize) < 0)
		return -1;
	ret = 0;
	if (n > (size_t)keep)
		ret = remove_names(dir, v, n - (size_t)keep, removed, err, errsize);
	free_names(v, n);
	return ret;
}
