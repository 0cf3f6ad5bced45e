#ifndef CAS_FS_H
#define CAS_FS_H
/* Small file-system helpers shared by the database, the master key and the
 * backups. */
#include <stddef.h>

/* mkdir -p: creates `dir` and its missing parents (new folders get mode
 * 0700: they hold the database and the master key).  Returns 0, or -1 with
 * "unable to create folder DIR: reason" in err. */
int cas_fs_mkdir_p(const char *dir, char *err, size_t errsize);

/* cas_fs_mkdir_p() of the folder that holds the file `path` ("." needs
 * nothing). */
int cas_fs_mkdir_parent(const char *path, char *err, size_t errsize);

#endif
