/* sessions/atomic_write.c: temp file, fsync, rename, fsync of the folder; what is at the
 * target decides whether that happens at all (atomic_write.h). */
#include "atomic_write.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Splits path into its folder ("." when none) and its last component. */
static int atomic_split_path(const char *path, char *dir, size_t dirlen, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dirlen, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(dir, dirlen, "/");
        *base = slash + 1;
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= dirlen)
            return -1;
        memcpy(dir, path, n);
        dir[n] = 0;
        *base = slash + 1;
    }
    return **base ? 0 : -1;
}

/* Removes ".BASE.tmp-PID-*" files whose writer process no longer exists. */
static void atomic_remove_stale(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char prefix[512];
    int np = snprintf(prefix, sizeof prefix, ".%s.tmp-", base);
    if (np <= 0 || (size_t)np >= sizeof prefix) {
        closedir(d);
        return;
    }
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (strncmp(ent->d_name, prefix, (size_t)np) != 0)
            continue;
        char *end;
        long pid = strtol(ent->d_name + np, &end, 10);
        if (pid <= 0 || *end != '-')
            continue;
        if (pid != (long)getpid() && kill((pid_t)pid, 0) == -1 && errno == ESRCH) {
            char p[4096];
            if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, ent->d_name) < sizeof p)
                unlink(p);
        }
    }
    closedir(d);
}

static int atomic_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : len;
        ssize_t w = write(fd, data, chunk);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* What is at a path decides how it is written (the rule in atomic_write.h). */
enum atomic_target { ATOMIC_NEW, ATOMIC_REGULAR, ATOMIC_DEVICE };

/* Finds what path names: nothing yet, a regular file (real = the file itself, through any
 * symbolic links, so the rename replaces the target and not the link) or a character device
 * (written in place). Anything else is refused with err set. */
static int atomic_target_of(const char *path, char *real, size_t reallen,
                            enum atomic_target *kind, char *err, size_t errlen)
{
    struct stat lst, st;
    size_t plen = strlen(path);
    if (plen == 0 || path[plen - 1] == '/') {
        snprintf(err, errlen, "%s: names a folder, not a file", path);
        return -1;
    }
    if (plen >= reallen) {
        snprintf(err, errlen, "%s: name too long", path);
        return -1;
    }
    memcpy(real, path, plen + 1);
    if (lstat(path, &lst) != 0) {
        if (errno == ENOENT) {
            *kind = ATOMIC_NEW;
            return 0;
        }
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    bool link = S_ISLNK(lst.st_mode);
    st = lst;
    if (link && stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: a symbolic link to %s (not written)", path,
                 errno == ENOENT ? "a missing file" : strerror(errno));
        return -1;
    }
    const char *what = S_ISDIR(st.st_mode)    ? "a folder"
                       : S_ISFIFO(st.st_mode) ? "a named pipe"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                                              : NULL;
    if (what) {
        snprintf(err, errlen, "%s: is %s%s, not a file (not written)", path,
                 link ? "a symbolic link to " : "", what);
        return -1;
    }
    if (S_ISCHR(st.st_mode)) {
        *kind = ATOMIC_DEVICE;
        return 0;
    }
    *kind = ATOMIC_REGULAR;
    if (link) {
        char buf[PATH_MAX];
        if (!realpath(path, buf) || strlen(buf) >= reallen) {
            snprintf(err, errlen, "%s: cannot follow the symbolic link: %s", path,
                     strerror(errno ? errno : ENAMETOOLONG));
            return -1;
        }
        memcpy(real, buf, strlen(buf) + 1);
    }
    return 0;
}

int atomic_write_check(const char *path, char *err, size_t errlen)
{
    char real[4096], dir[4096];
    enum atomic_target kind;
    const char *base;
    if (atomic_target_of(path, real, sizeof real, &kind, err, errlen) != 0)
        return -1;
    if (kind == ATOMIC_DEVICE)
        return 0;
    if (atomic_split_path(real, dir, sizeof dir, &base) != 0) {
        snprintf(err, errlen, "%s: not a file name", path);
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: the folder %s %s", path, dir,
                 errno == ENOENT || !S_ISDIR(st.st_mode) ? "does not exist" : strerror(errno));
        return -1;
    }
    if (access(dir, W_OK) != 0) {
        snprintf(err, errlen, "%s: cannot write in %s: %s", path, dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* A character device (/dev/null, a terminal) is written as it is: never renamed over. */
static int atomic_write_device(const char *path, const void *data, size_t len,
                               atomic_guard_fn guard, void *ctx, char *err, size_t errlen)
{
    if (guard && guard(path, ctx, err, errlen) != 0)
        return -1;
    int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = atomic_write_all(fd, data, len);
    int e = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0)
        snprintf(err, errlen, "%s: write: %s", path, strerror(e));
    return rc;
}

int atomic_write_file(const char *path, const void *data, size_t len, atomic_guard_fn guard,
                      void *ctx, char *err, size_t errlen)
{
    char real[4096], dir[4096], tmp[4096];
    enum atomic_target kind;
    if (atomic_target_of(path, real, sizeof real, &kind, err, errlen) != 0)
        return -1;
    if (kind == ATOMIC_DEVICE)
        return atomic_write_device(path, data, len, guard, ctx, err, errlen);
    const char *base;
    if (atomic_split_path(real, dir, sizeof dir, &base) != 0) {
        snprintf(err, errlen, "%s: not a file name", path);
        return -1;
    }
    atomic_remove_stale(dir, base);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%ld-XXXXXX", dir, base, (long)getpid())
        >= sizeof tmp) {
        snprintf(err, errlen, "%s: name too long", path);
        return -1;
    }

    /* The new file keeps the old one's mode; a new one follows the umask. */
    mode_t mode;
    struct stat st;
    if (kind == ATOMIC_REGULAR && stat(real, &st) == 0) {
        mode = st.st_mode & 07777;
    } else {
        mode_t um = umask(0);
        umask(um);
        mode = 0666 & ~um;
    }

    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a file in %s: %s (the old file is kept)", path,
                 dir, strerror(errno));
        return -1;
    }
    const char *what = "write";
    if (atomic_write_all(fd, data, len) != 0)
        goto fail_fd;
    what = "fsync";
    if (fsync(fd) != 0)
        goto fail_fd;
    what = "chmod";
    if (fchmod(fd, mode) != 0)
        goto fail_fd;
    what = "close";
    if (close(fd) != 0) {
        fd = -1;
        goto fail_fd;
    }
    fd = -1;
    if (guard && guard(path, ctx, err, errlen) != 0) {
        unlink(tmp);
        return -1;
    }
    what = "rename";
    if (rename(tmp, real) != 0)
        goto fail_fd;

    /* The rename is only durable once the folder's entry is on disk. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL) {
            int e = errno;
            close(dfd);
            snprintf(err, errlen, "%s: fsync of %s: %s (the file is written)", path, dir,
                     strerror(e));
            return -1;
        }
        close(dfd);
    }
    return 0;

fail_fd: {
        int e = errno;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        snprintf(err, errlen, "%s: %s: %s (the old file is kept)", path, what, strerror(e));
        return -1;
    }
}
