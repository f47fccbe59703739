/* sessions/atomic_write.c: temp file, fsync, rename, fsync of the folder (atomic_write.h). */
#include "atomic_write.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

int atomic_write_file(const char *path, const void *data, size_t len, atomic_guard_fn guard,
                      void *ctx, char *err, size_t errlen)
{
    char dir[4096], tmp[4096];
    const char *base;
    if (atomic_split_path(path, dir, sizeof dir, &base) != 0) {
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
    if (stat(path, &st) == 0) {
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
    if (rename(tmp, path) != 0)
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
