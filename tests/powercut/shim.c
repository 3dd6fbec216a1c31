/*
 * A write-cache simulator for power-cut tests (LD_PRELOAD).
 *
 * The server runs normally on its real files. Beside them this shim keeps
 * a "durable image": a directory that holds only what a disk that honours
 * fsync would still hold after a power cut. Bytes reach the image only
 * when the program fsyncs/fdatasyncs the file that holds them; names
 * (creations, renames, unlinks) only when a sync commits them (see below).
 * After a SIGKILL the test starts a fresh server on a copy of the image:
 * that is the state a power cut at that moment would have left.
 *
 * Environment:
 *   PC_ROOT    directory whose files are simulated (required)
 *   PC_IMAGE   the durable image of PC_ROOT (required, must exist)
 *   PC_NAMES   "journal" (default): a sync of any file or directory
 *              commits every pending name change first, like ext4's one
 *              journal in data=ordered mode; "strict": a name change is
 *              committed only by an fsync of its own directory (POSIX).
 *              In both modes fsyncing a file makes its current name
 *              durable (ext4 commits a new file's entry with it).
 *   PC_IGNORE_FDATASYNC=1  control run: fdatasync makes nothing durable
 *              (sled 0.34 never calls fdatasync itself; only the server's
 *              acknowledgement path does, so this is the server before it
 *              synced). fsync still counts.
 *
 * What is NOT simulated: sync_file_range (it never makes anything durable
 * here, which is the point), torn sectors inside one synced range, and
 * unsynced writes that a real disk happened to write back before the cut
 * (the image keeps none of them: the harshest legal outcome for data, and
 * the one that loses most).
 *
 * Dirty data is tracked per inode as one span [lo, hi) of offsets written
 * since the last sync: every byte outside the span equals its durable
 * value, so copying the whole span is exact.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 65536
#define MAX_INODES 4096
#define MAX_OPS 4096

static char root[PATH_MAX];
static size_t root_len;
static char image[PATH_MAX];
static int enabled;
static int strict_names;
static int ignore_fdatasync;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned char tracked[MAX_FDS];

struct inode {
    dev_t dev;
    ino_t ino;
    off_t lo, hi; /* dirty span; lo == hi: clean */
    int used;
};
static struct inode inodes[MAX_INODES];

enum op_kind { OP_CREATE, OP_RENAME, OP_UNLINK };
struct op {
    enum op_kind kind;
    char *a, *b; /* paths relative to root */
};
static struct op ops[MAX_OPS];
static int n_ops;

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_creat)(const char *, mode_t);
static int (*real_creat64)(const char *, mode_t);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_fallocate64)(int, int, off_t, off_t);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);

#define LOAD(name) real_##name = dlsym(RTLD_NEXT, #name)

__attribute__((constructor)) static void init(void) {
    LOAD(open); LOAD(open64); LOAD(openat); LOAD(openat64); LOAD(creat); LOAD(creat64);
    LOAD(close); LOAD(write); LOAD(writev); LOAD(pwrite); LOAD(pwrite64); LOAD(pwritev);
    LOAD(pwritev64); LOAD(fsync); LOAD(fdatasync); LOAD(ftruncate); LOAD(ftruncate64);
    LOAD(fallocate); LOAD(fallocate64); LOAD(rename); LOAD(renameat); LOAD(renameat2);
    LOAD(unlink); LOAD(unlinkat);
    const char *r = getenv("PC_ROOT"), *i = getenv("PC_IMAGE");
    if (!r || !i || !realpath(r, root) || !realpath(i, image)) return;
    root_len = strlen(root);
    const char *names = getenv("PC_NAMES");
    strict_names = names && strcmp(names, "strict") == 0;
    const char *ifd = getenv("PC_IGNORE_FDATASYNC");
    ignore_fdatasync = ifd && strcmp(ifd, "1") == 0;
    enabled = 1;
}

static void die(const char *what) {
    char msg[512];
    int n = snprintf(msg, sizeof msg, "powercut shim: %s: %s\n", what, strerror(errno));
    if (n > 0) (void)!real_write(2, msg, (size_t)n);
    abort();
}

/* The path relative to root of an absolute canonical path, or NULL. */
static const char *relative(const char *abs) {
    if (strncmp(abs, root, root_len) != 0) return NULL;
    if (abs[root_len] == '\0') return "";
    if (abs[root_len] != '/') return NULL;
    return abs + root_len + 1;
}

/* Canonical absolute path of (dirfd, path) without following the last
 * component (which may not exist, or be about to vanish). */
static int resolve(int dirfd, const char *path, char *out) {
    char joined[PATH_MAX * 2];
    if (path[0] == '/') {
        snprintf(joined, sizeof joined, "%s", path);
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base)) return -1;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof base - 1);
            if (n < 0) return -1;
            base[n] = '\0';
        }
        snprintf(joined, sizeof joined, "%s/%s", base, path);
    }
    char *slash = strrchr(joined, '/');
    const char *name = slash + 1;
    char dir[PATH_MAX], canon[PATH_MAX];
    if (slash == joined) snprintf(dir, sizeof dir, "/");
    else { *slash = '\0'; snprintf(dir, sizeof dir, "%s", joined); }
    if (!realpath(dir, canon)) return -1;
    if (name[0] == '\0' || strcmp(name, ".") == 0) snprintf(out, PATH_MAX, "%s", canon);
    else snprintf(out, PATH_MAX, "%s/%s", strcmp(canon, "/") == 0 ? "" : canon, name);
    return 0;
}

static int fd_path(int fd, char *out) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, PATH_MAX - 1);
    if (n < 0) return -1;
    out[n] = '\0';
    return 0;
}

static int is_tracked(int fd) { return enabled && fd >= 0 && fd < MAX_FDS && tracked[fd]; }

/* Caller holds mu. */
static struct inode *inode_of(int fd, int create) {
    struct stat st;
    if (fstat(fd, &st) != 0) return NULL;
    struct inode *free_slot = NULL;
    for (int i = 0; i < MAX_INODES; i++) {
        if (inodes[i].used && inodes[i].dev == st.st_dev && inodes[i].ino == st.st_ino) return &inodes[i];
        if (!inodes[i].used && !free_slot) free_slot = &inodes[i];
    }
    if (!create) return NULL;
    if (!free_slot) { errno = ENOSPC; die("too many dirty files"); }
    free_slot->used = 1;
    free_slot->dev = st.st_dev;
    free_slot->ino = st.st_ino;
    free_slot->lo = free_slot->hi = 0;
    return free_slot;
}

static void mark_dirty(int fd, off_t lo, off_t hi) {
    if (hi <= lo) return;
    pthread_mutex_lock(&mu);
    struct inode *in = inode_of(fd, 1);
    if (in) {
        if (in->lo == in->hi) { in->lo = lo; in->hi = hi; }
        else {
            if (lo < in->lo) in->lo = lo;
            if (hi > in->hi) in->hi = hi;
        }
    }
    pthread_mutex_unlock(&mu);
}

static void push_op(enum op_kind kind, const char *a, const char *b) {
    pthread_mutex_lock(&mu);
    if (n_ops == MAX_OPS) { errno = ENOSPC; die("too many pending name changes"); }
    ops[n_ops].kind = kind;
    ops[n_ops].a = strdup(a);
    ops[n_ops].b = b ? strdup(b) : NULL;
    n_ops++;
    pthread_mutex_unlock(&mu);
}

static void image_path(const char *rel, char *out) { snprintf(out, PATH_MAX, "%s/%s", image, rel); }

static void mkdirs_for(const char *img) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", img);
    for (char *p = tmp + strlen(image) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) die("mkdir in image");
            *p = '/';
        }
    }
}

static void parent_of(const char *rel, char *out) {
    snprintf(out, PATH_MAX, "%s", rel);
    char *slash = strrchr(out, '/');
    if (slash) *slash = '\0'; else out[0] = '\0';
}

/* Apply pending name changes to the image: all of them, or (strict) only
 * those in directory `dir_rel`. Caller holds mu. */
static void commit_names(const char *dir_rel) {
    int kept = 0;
    for (int i = 0; i < n_ops; i++) {
        struct op *o = &ops[i];
        char pa[PATH_MAX], pb[PATH_MAX];
        parent_of(o->a, pa);
        if (o->b) parent_of(o->b, pb);
        int mine = !dir_rel || strcmp(pa, dir_rel) == 0 || (o->b && strcmp(pb, dir_rel) == 0);
        if (!mine) { ops[kept++] = *o; continue; }
        char ia[PATH_MAX], ib[PATH_MAX];
        image_path(o->a, ia);
        switch (o->kind) {
        case OP_CREATE: {
            mkdirs_for(ia);
            int fd = real_open(ia, O_WRONLY | O_CREAT, 0600);
            if (fd < 0) die("create in image");
            real_close(fd);
            break;
        }
        case OP_RENAME:
            image_path(o->b, ib);
            mkdirs_for(ib);
            /* A source the image never had (never synced): nothing moves. */
            if (real_rename(ia, ib) != 0 && errno != ENOENT) die("rename in image");
            break;
        case OP_UNLINK:
            if (real_unlink(ia) != 0 && errno != ENOENT && errno != EISDIR) die("unlink in image");
            break;
        }
        free(o->a);
        free(o->b);
    }
    n_ops = kept;
}

/* Copy what fd's file has dirty into the image at its current name. */
static void sync_file(int fd, struct stat *st) {
    char abs[PATH_MAX], img[PATH_MAX];
    if (fd_path(fd, abs) != 0) die("readlink fd");
    const char *rel = relative(abs);
    if (!rel) return; /* renamed out of the root */
    image_path(rel, img);
    struct inode *in = inode_of(fd, 0);
    struct stat ist;
    int fresh = stat(img, &ist) != 0;
    off_t lo = 0, hi = st->st_size;
    if (!fresh) {
        if (!in || in->lo == in->hi) { lo = hi = 0; }
        else { lo = in->lo; hi = in->hi; }
    }
    /* Read through a fresh descriptor: the program's may be write-only. */
    int src = real_open(abs, O_RDONLY);
    if (src < 0) die("open source");
    mkdirs_for(img);
    int dst = real_open(img, O_WRONLY | O_CREAT, 0600);
    if (dst < 0) die("open image file");
    char buf[1 << 16];
    for (off_t at = lo; at < hi;) {
        size_t want = (size_t)(hi - at) < sizeof buf ? (size_t)(hi - at) : sizeof buf;
        ssize_t n = pread(src, buf, want, at);
        if (n < 0) die("read source");
        if (n == 0) break; /* truncated meanwhile */
        for (ssize_t done = 0; done < n;) {
            ssize_t w = real_pwrite(dst, buf + done, (size_t)(n - done), at + done);
            if (w < 0) die("write image");
            done += w;
        }
        at += n;
    }
    if (real_ftruncate(dst, st->st_size) != 0) die("size image");
    real_close(dst);
    real_close(src);
    /* Clean again: forget the inode, so the table only holds dirty ones. */
    if (in) in->used = 0;
}

static void on_sync(int fd, int is_fdatasync) {
    if (!is_tracked(fd)) return;
    if (is_fdatasync && ignore_fdatasync) return;
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    pthread_mutex_lock(&mu);
    if (S_ISDIR(st.st_mode)) {
        char abs[PATH_MAX];
        if (fd_path(fd, abs) == 0 && relative(abs)) commit_names(strict_names ? relative(abs) : NULL);
    } else if (S_ISREG(st.st_mode)) {
        if (!strict_names) commit_names(NULL);
        sync_file(fd, &st);
    }
    pthread_mutex_unlock(&mu);
}

/* ---- interposed calls ---- */

static int after_open(int fd, const char *abs, int existed, int flags, off_t old_size) {
    if (fd < 0 || !enabled || fd >= MAX_FDS) return fd;
    const char *rel = relative(abs);
    tracked[fd] = rel != NULL;
    if (!rel) return fd;
    if (!existed && (flags & O_CREAT)) push_op(OP_CREATE, rel, NULL);
    if (existed && (flags & O_TRUNC) && old_size > 0) mark_dirty(fd, 0, old_size);
    return fd;
}

static int open_common(int dirfd, const char *path, int flags, mode_t mode, int at) {
    char abs[PATH_MAX];
    struct stat st;
    int known = enabled && resolve(dirfd, path, abs) == 0;
    int existed = known && stat(abs, &st) == 0;
    off_t old_size = existed ? st.st_size : 0;
    int fd = at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
    if (!known) {
        if (fd >= 0 && fd < MAX_FDS) tracked[fd] = 0;
        return fd;
    }
    return after_open(fd, abs, existed, flags, old_size);
}

#define MODE_ARG(flags) \
    mode_t mode = 0; \
    if ((flags) & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }

int open(const char *path, int flags, ...) { MODE_ARG(flags); return open_common(AT_FDCWD, path, flags, mode, 0); }
int open64(const char *path, int flags, ...) { MODE_ARG(flags); return open_common(AT_FDCWD, path, flags | O_LARGEFILE, mode, 0); }
int openat(int d, const char *path, int flags, ...) { MODE_ARG(flags); return open_common(d, path, flags, mode, 1); }
int openat64(int d, const char *path, int flags, ...) { MODE_ARG(flags); return open_common(d, path, flags | O_LARGEFILE, mode, 1); }
int creat(const char *path, mode_t mode) { return open_common(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0); }
int creat64(const char *path, mode_t mode) { return creat(path, mode); }

int close(int fd) {
    if (fd >= 0 && fd < MAX_FDS) tracked[fd] = 0;
    return real_close(fd);
}

static void after_write(int fd, ssize_t n) {
    if (n <= 0 || !is_tracked(fd)) return;
    off_t end = lseek(fd, 0, SEEK_CUR);
    if (end >= 0) mark_dirty(fd, end - n, end);
}

ssize_t write(int fd, const void *buf, size_t len) {
    ssize_t n = real_write(fd, buf, len);
    after_write(fd, n);
    return n;
}
ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    ssize_t n = real_writev(fd, iov, cnt);
    after_write(fd, n);
    return n;
}
ssize_t pwrite(int fd, const void *buf, size_t len, off_t off) {
    ssize_t n = real_pwrite(fd, buf, len, off);
    if (n > 0 && is_tracked(fd)) mark_dirty(fd, off, off + n);
    return n;
}
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) {
    ssize_t n = real_pwrite64(fd, buf, len, off);
    if (n > 0 && is_tracked(fd)) mark_dirty(fd, off, off + n);
    return n;
}
ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    ssize_t n = real_pwritev(fd, iov, cnt, off);
    if (n > 0 && is_tracked(fd)) mark_dirty(fd, off, off + n);
    return n;
}
ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) {
    ssize_t n = real_pwritev64(fd, iov, cnt, off);
    if (n > 0 && is_tracked(fd)) mark_dirty(fd, off, off + n);
    return n;
}

static int truncate_common(int fd, off_t len, int (*real)(int, off_t)) {
    struct stat st;
    int known = is_tracked(fd) && fstat(fd, &st) == 0;
    int r = real(fd, len);
    if (r == 0 && known) mark_dirty(fd, st.st_size < len ? st.st_size : len, st.st_size < len ? len : st.st_size);
    return r;
}
int ftruncate(int fd, off_t len) { return truncate_common(fd, len, real_ftruncate); }
int ftruncate64(int fd, off_t len) { return truncate_common(fd, len, real_ftruncate64); }

int fallocate(int fd, int mode, off_t off, off_t len) {
    int r = real_fallocate(fd, mode, off, len);
    if (r == 0 && is_tracked(fd)) mark_dirty(fd, off, off + len);
    return r;
}
int fallocate64(int fd, int mode, off_t off, off_t len) {
    int r = real_fallocate64(fd, mode, off, len);
    if (r == 0 && is_tracked(fd)) mark_dirty(fd, off, off + len);
    return r;
}

int fsync(int fd) {
    int r = real_fsync(fd);
    if (r == 0) on_sync(fd, 0);
    return r;
}
int fdatasync(int fd) {
    int r = real_fdatasync(fd);
    if (r == 0) on_sync(fd, 1);
    return r;
}

static void record_rename(int fd1, const char *from, int fd2, const char *to) {
    char a[PATH_MAX], b[PATH_MAX];
    if (resolve(fd1, from, a) != 0 || resolve(fd2, to, b) != 0) return;
    const char *ra = relative(a), *rb = relative(b);
    if (ra && rb) push_op(OP_RENAME, ra, rb);
    else if (ra) push_op(OP_UNLINK, ra, NULL);
    else if (rb) push_op(OP_CREATE, rb, NULL); /* moved in: its data is synced by fsync */
}

int rename(const char *from, const char *to) {
    /* Resolve before: the source name is gone after. */
    char a[PATH_MAX], b[PATH_MAX];
    int known = enabled && resolve(AT_FDCWD, from, a) == 0 && resolve(AT_FDCWD, to, b) == 0;
    int r = real_rename(from, to);
    if (r == 0 && known) record_rename(AT_FDCWD, a, AT_FDCWD, b);
    return r;
}
int renameat(int d1, const char *from, int d2, const char *to) {
    char a[PATH_MAX], b[PATH_MAX];
    int known = enabled && resolve(d1, from, a) == 0 && resolve(d2, to, b) == 0;
    int r = real_renameat(d1, from, d2, to);
    if (r == 0 && known) record_rename(AT_FDCWD, a, AT_FDCWD, b);
    return r;
}
int renameat2(int d1, const char *from, int d2, const char *to, unsigned flags) {
    char a[PATH_MAX], b[PATH_MAX];
    int known = enabled && resolve(d1, from, a) == 0 && resolve(d2, to, b) == 0;
    int r = real_renameat2(d1, from, d2, to, flags);
    if (r == 0 && known) record_rename(AT_FDCWD, a, AT_FDCWD, b);
    return r;
}

int unlink(const char *path) {
    char a[PATH_MAX];
    int known = enabled && resolve(AT_FDCWD, path, a) == 0;
    int r = real_unlink(path);
    if (r == 0 && known && relative(a)) push_op(OP_UNLINK, relative(a), NULL);
    return r;
}
int unlinkat(int d, const char *path, int flags) {
    char a[PATH_MAX];
    int known = enabled && !(flags & AT_REMOVEDIR) && resolve(d, path, a) == 0;
    int r = real_unlinkat(d, path, flags);
    if (r == 0 && known && relative(a)) push_op(OP_UNLINK, relative(a), NULL);
    return r;
}
