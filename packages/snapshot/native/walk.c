// The tree walk of a snapshot, in C: what TreeScan (src/engine/scan.ts) runs
// on Linux and other POSIX systems. Same entries, same order and the same
// guarantees as walkTree in walk.mjs, at a third of its CPU time: no
// JavaScript object, message or path lookup per entry (docs/snapshot.md).
//
// Every directory is read through an open descriptor: listed with
// fdopendir, its entries looked at with fstatat(AT_SYMLINK_NOFOLLOW) and
// readlinkat, its subdirectories opened with openat(O_NOFOLLOW|O_DIRECTORY)
// and used only if their dev:ino is the one fstatat reported inside the
// verified parent (the root's: the identity the caller took when the walk
// began). Nothing outside the tree is listed or looked at, whatever a session
// swaps or mounts while the walk runs.
//
// Work: a directory's listing (LIST) and then ranges of its sorted names
// (STAT, RANGE names each) are jobs, taken last-in first-out by `threads`
// worker threads, so the walk goes depth first and the directories needed next
// are read first. One more thread, the emitter, sends entries to JavaScript in
// walk order (depth first, names sorted by UTF-16 code units, a directory
// before its entries), in batches; when it needs a job nobody has started it
// runs that job itself, so the walk always progresses, including while the
// workers hold back: they take no new job while `buffered` entries wait to be
// sent or too many directories are open.
//
// An incremental snapshot's walk compares each file with the parent
// snapshot's record of the same path (setParent: the parent's entries in walk
// order, as its manifest's records, and for each whether it may be trusted at
// all), as createSnapshot would:
// a file whose size, mtime, ctime, inode, mode and owner are the record's,
// with one link, is sent as just the record's number. The rest are sent
// whole, with the number of the parent's record of their path, if any.
// Nothing is sent before setParent (the walk goes on meanwhile).
//
// Batches are byte buffers of records (little-endian):
//   directory: u8 1, u32 length + its manifest path (UTF-8, "" for the root), u8 length + its "dev:ino"
//   entry:     u8 2, u8 kind, u16 length + name, u32 mode & 07777, u32 uid, u32 gid, u32 nlink,
//              f64 size, f64 ino, f64 dev, u8 length + "dev:ino", u8 length + mtime ns, u8 length + ctime ns
//              (decimal), u32 length + symlink target (0xffffffff: not a symlink), i32 the parent's record (-1: none)
//   unchanged: u8 3, u32 the parent's record
// An entry belongs to the last directory record before it.
// The parent's entries (setParent) are manifest records of format 2 (src/engine/manifest-codec.ts), numbered
// from 0: u8 type (1 dir, 2 file, 3 symlink, 4 hardlink), u32 length + path; but for hardlinks u32 mode, u32 uid,
// u32 gid, u8 length + mtime ns; for files f64 size, f64 ino, u8 length + ctime ns, u32 chunks, each u8 0 + 32-byte
// id + f64 length or u8 1 + f64 length; for symlinks and hardlinks u32 length + target or link.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RANGE_DEFAULT 64
#define MAX_OPEN_DEFAULT 4096
#define TARGET_MAX 65536

enum { KIND_FILE = 1, KIND_DIR, KIND_SYMLINK, KIND_FIFO, KIND_SOCKET, KIND_DEVICE, KIND_UNKNOWN, KIND_NOT_UTF8 };
enum { ENTRY_PENDING = 0, ENTRY_PRESENT, ENTRY_GONE };
enum { JOB_LIST = 1, JOB_STAT };
enum { JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE };
enum { HOLD_OPEN = 1, HOLD_STAT };

typedef struct Dir Dir;

// A parent's file record (see setParent); its strings point into the walk's copy of the table.
typedef struct {
  uint32_t number, mode, uid, gid;
  uint8_t trusted;
  double size, ino;
  const char *mtime, *ctime, *path;
  uint8_t mtimeLen, ctimeLen;
  uint32_t pathLen;
} Parent;

typedef struct {
  char *name;
  uint16_t nameLen;
  uint8_t state;
  uint8_t kind;
  uint32_t mode, uid, gid, nlink;
  uint64_t size, ino, dev;
  struct timespec mtime, ctime;
  char *target;
  uint32_t targetLen;
  Dir *child;
} Entry;

typedef struct Job {
  int type, state;
  Dir *dir;
  size_t from, to;
  struct Job *prev, *next;
} Job;

struct Dir {
  char *rel;
  size_t relLen;
  char id[48];
  // Open from its LIST job until its entries are looked at and its subdirectories opened (see closeIfDone);
  // -1 before and after (and for a directory that was not the one its parent saw: it is recorded empty).
  int fd;
  // Its parent and its name there (it is opened through the parent's descriptor), and what its parent's
  // fstatat saw (it is used only if it is that directory).
  Dir *parent;
  const char *name;
  dev_t dev;
  ino_t ino;
  // Subdirectories found and not yet opened: the descriptor stays open for them.
  size_t unopened;
  Entry *entries;
  size_t count;
  Job list;
  Job *ranges;
  size_t rangeCount, rangesLeft;
};

typedef struct {
  // Set at start, read-only after.
  size_t threads, range, batch, bufferedMax, openMax, unreadMax;
  // Tests: a thread that reaches directory `holdAt` (HOLD_OPEN: before it opens it; HOLD_STAT: after its
  // listing, before its entries are looked at) tells JavaScript and waits for resume().
  char *holdAt;
  int holdBefore, holding;
  napi_threadsafe_function tsfn;
  pthread_t emitter;
  pthread_t *workers;
  size_t started;
  Dir *root;

  pthread_mutex_t mu;
  // Workers wait on `work` (for a job, or for the walk to stop holding back); the emitter (and a held
  // thread) on `progress`: the job it awaits done, a batch taken, the parent given, a resume.
  pthread_cond_t work, progress;
  Job *awaited;
  Job *top;  // the queue, last in first out (a doubly linked list)
  size_t buffered, open;
  // Batches sent and not yet taken by the reader (see ack).
  size_t unread;
  // The parent's files (setParent), and the emitter's place among them.
  int parentSet;
  char *parentData;
  Parent *parents;
  size_t parentCount, parentNext;
  int cancelled, finished;
  // Owners of this struct: the callback (until its finalizer ran) and the handle JavaScript holds (until collected).
  int owners, noEmitter;
  // The first failure: errno, the system call and the manifest path it was about.
  int err;
  const char *syscall;
  char *errRel;
} Walk;

// What the emitter hands JavaScript: a batch, the end, or a failure.
typedef struct {
  int type;  // 0 batch, 1 end, 2 error, 3 held (rel)
  char *data;
  size_t len;
  int err;
  const char *syscall;
  char *rel;
} Message;

// ---- Order and names ----

// Walk order compares names by UTF-16 code units (as JavaScript sorts
// strings). UTF-8 bytes compare in code point order, which differs only
// where U+E000..U+FFFF (lead bytes EE, EF) meets a supplementary code point
// (F0..F4, a surrogate pair in UTF-16, which comes first).
static int rank(unsigned char c) { return c == 0xEE || c == 0xEF ? c + 0x12 : c; }  // past 0xFF: no real byte ranks with them

static int compareNames(const void *a, const void *b) {
  const Entry *x = a, *y = b;
  size_t n = x->nameLen < y->nameLen ? x->nameLen : y->nameLen;
  for (size_t i = 0; i < n; i++) {
    unsigned char p = (unsigned char)x->name[i], q = (unsigned char)y->name[i];
    if (p != q) return rank(p) - rank(q);
  }
  return (int)x->nameLen - (int)y->nameLen;
}

// Two manifest paths in walk order (scan.ts's walkOrder): as names, except that "/" comes before every other character.
static int walkOrder(const char *a, size_t an, const char *b, size_t bn) {
  size_t n = an < bn ? an : bn;
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x == y) continue;
    if (x == '/') return -1;
    if (y == '/') return 1;
    return rank(x) - rank(y);
  }
  return an < bn ? -1 : an > bn;
}

static int validUtf8(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return 0;
    if (i + len > n) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += len;
  }
  return 1;
}

static uint8_t kindOf(mode_t m) {
  if (S_ISREG(m)) return KIND_FILE;
  if (S_ISDIR(m)) return KIND_DIR;
  if (S_ISLNK(m)) return KIND_SYMLINK;
  if (S_ISFIFO(m)) return KIND_FIFO;
  if (S_ISSOCK(m)) return KIND_SOCKET;
  if (S_ISBLK(m) || S_ISCHR(m)) return KIND_DEVICE;
  return KIND_UNKNOWN;
}

static void identity(char *out, uint64_t dev, uint64_t ino) { snprintf(out, 48, "%llu:%llu", (unsigned long long)dev, (unsigned long long)ino); }

// ---- Failure, queue and accounting (called with the lock held) ----

static void failLocked(Walk *w, int err, const char *syscall, const char *rel, size_t relLen, const char *name) {
  if (w->err) return;
  w->err = err;
  w->syscall = syscall;
  size_t nameLen = name ? strlen(name) : 0;
  w->errRel = malloc(relLen + nameLen + 2);
  if (w->errRel) {
    memcpy(w->errRel, rel, relLen);
    size_t n = relLen;
    if (name) {
      if (relLen) w->errRel[n++] = '/';
      memcpy(w->errRel + n, name, nameLen);
      n += nameLen;
    }
    w->errRel[n] = 0;
  }
  pthread_cond_broadcast(&w->work);
  pthread_cond_broadcast(&w->progress);
}

static void fail(Walk *w, int err, const char *syscall, const Dir *d, const char *name) {
  pthread_mutex_lock(&w->mu);
  failLocked(w, err, syscall, d->rel, d->relLen, name);
  pthread_mutex_unlock(&w->mu);
}

static void pushLocked(Walk *w, Job *j) {
  j->state = JOB_QUEUED;
  j->prev = NULL;
  j->next = w->top;
  if (w->top) w->top->prev = j;
  w->top = j;
  pthread_cond_signal(&w->work);
}

static void takeLocked(Walk *w, Job *j) {
  if (j->prev) j->prev->next = j->next;
  else w->top = j->next;
  if (j->next) j->next->prev = j->prev;
  j->prev = j->next = NULL;
  j->state = JOB_RUNNING;
}

static int stopped(Walk *w) { return w->cancelled || w->err; }

// Closes directory d's descriptor once nothing needs it: its entries looked at, its subdirectories opened (lock held).
static void closeIfDoneLocked(Walk *w, Dir *d) {
  if (d->fd < 0 || d->rangesLeft || d->unopened || d->list.state != JOB_DONE) return;
  close(d->fd);
  d->fd = -1;
  if (w->open-- == w->openMax) pthread_cond_broadcast(&w->work);
}

static int send(Walk *w, void *m);

// The test hook (see holdAt): at directory rel, at point `when`, wait for resume().
static void hold(Walk *w, int when, const char *rel, size_t relLen) {
  if (!w->holdAt || w->holdBefore != when || strlen(w->holdAt) != relLen || memcmp(w->holdAt, rel, relLen) != 0) return;
  Message *m = calloc(1, sizeof(Message));
  if (!m) return;
  pthread_mutex_lock(&w->mu);
  w->holding = 1;
  pthread_mutex_unlock(&w->mu);
  m->type = 3;
  if (!send(w, m)) return;
  pthread_mutex_lock(&w->mu);
  while (w->holding && !w->cancelled) pthread_cond_wait(&w->progress, &w->mu);
  pthread_mutex_unlock(&w->mu);
}

// ---- Jobs ----

// Writes the manifest path of directory d's entry `name` into `out` (room for joinedLength bytes); returns its length.
static size_t joinedLength(const Dir *d, size_t nameLen) { return d->relLen + (d->relLen ? 1 : 0) + nameLen; }
static size_t join(char *out, const Dir *d, const char *name, size_t nameLen) {
  memcpy(out, d->rel, d->relLen);
  if (d->relLen) out[d->relLen] = '/';
  size_t n = joinedLength(d, nameLen);
  memcpy(out + n - nameLen, name, nameLen);
  return n;
}

// Directory `name` of `parent` (the root: parent NULL, name ""), as fstatat saw it (dev, ino); descriptor `fd`, or -1.
static Dir *newDir(Dir *parent, const char *name, size_t nameLen, int fd, dev_t dev, ino_t ino) {
  Dir *d = calloc(1, sizeof(Dir));
  if (!d) return NULL;
  size_t relLen = parent ? joinedLength(parent, nameLen) : 0;
  d->rel = malloc(relLen + 1);
  if (!d->rel) {
    free(d);
    return NULL;
  }
  if (parent) join(d->rel, parent, name, nameLen);
  d->rel[relLen] = 0;
  d->relLen = relLen;
  d->parent = parent;
  d->name = name;
  d->fd = fd;
  d->dev = dev;
  d->ino = ino;
  identity(d->id, dev, ino);
  d->list.type = JOB_LIST;
  d->list.dir = d;
  return d;
}

static void freeDir(Dir *d) {
  for (size_t i = 0; i < d->count; i++) {
    free(d->entries[i].name);
    free(d->entries[i].target);
  }
  free(d->entries);
  free(d->ranges);
  free(d->rel);
  free(d);
}

// Opens directory d through its parent, if it is the directory the parent saw (else it stays closed: empty).
static void openDir(Walk *w, Dir *d) {
  hold(w, HOLD_OPEN, d->rel, d->relLen);
  int fd = openat(d->parent->fd, d->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  struct stat now;
  if (fd >= 0 && (fstat(fd, &now) != 0 || now.st_dev != d->dev || now.st_ino != d->ino)) {
    close(fd);  // not the directory its parent saw
    fd = -1;
  }
  pthread_mutex_lock(&w->mu);
  d->fd = fd;
  if (fd >= 0) w->open++;
  d->parent->unopened--;
  closeIfDoneLocked(w, d->parent);
  if (fd < 0 && err && err != ENOENT && err != ENOTDIR && err != ELOOP) failLocked(w, err, "open", d->rel, d->relLen, NULL);
  pthread_mutex_unlock(&w->mu);
}

// Lists directory d (its names, sorted) and queues the ranges to look at.
static void runList(Walk *w, Dir *d) {
  if (d->parent) openDir(w, d);
  if (d->fd < 0) return;  // moved or replaced: recorded empty (or the walk failed)
  size_t cap = 64, n = 0;
  Entry *entries = malloc(cap * sizeof(Entry));
  int fd = dup(d->fd);
  DIR *dir = fd < 0 ? NULL : fdopendir(fd);
  if (!entries || !dir) {
    int err = entries ? errno : ENOMEM;
    if (dir) closedir(dir);
    else if (fd >= 0) close(fd);
    free(entries);
    return fail(w, err, "scandir", d, NULL);
  }
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(dir);
    if (!e) {
      if (errno) {
        int err = errno;
        for (size_t i = 0; i < n; i++) free(entries[i].name);
        free(entries);
        closedir(dir);
        return fail(w, err, "scandir", d, NULL);
      }
      break;
    }
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    if (n == cap) {
      Entry *more = realloc(entries, (cap *= 2) * sizeof(Entry));
      if (!more) {
        for (size_t i = 0; i < n; i++) free(entries[i].name);
        free(entries);
        closedir(dir);
        return fail(w, ENOMEM, "scandir", d, NULL);
      }
      entries = more;
    }
    size_t len = strlen(e->d_name);
    Entry *x = &entries[n];
    memset(x, 0, sizeof(Entry));
    x->name = malloc(len + 1);
    if (!x->name) {
      for (size_t i = 0; i < n; i++) free(entries[i].name);
      free(entries);
      closedir(dir);
      return fail(w, ENOMEM, "scandir", d, NULL);
    }
    memcpy(x->name, e->d_name, len + 1);
    x->nameLen = (uint16_t)len;
    n++;
  }
  closedir(dir);
  qsort(entries, n, sizeof(Entry), compareNames);
  hold(w, HOLD_STAT, d->rel, d->relLen);
  size_t ranges = (n + w->range - 1) / w->range;
  Job *jobs = ranges ? calloc(ranges, sizeof(Job)) : NULL;
  if (ranges && !jobs) {
    for (size_t i = 0; i < n; i++) free(entries[i].name);
    free(entries);
    return fail(w, ENOMEM, "scandir", d, NULL);
  }
  pthread_mutex_lock(&w->mu);
  d->entries = entries;
  d->count = n;
  d->ranges = jobs;
  d->rangeCount = d->rangesLeft = ranges;
  for (size_t r = ranges; r-- > 0;) {  // the first range on top
    jobs[r].type = JOB_STAT;
    jobs[r].dir = d;
    jobs[r].from = r * w->range;
    jobs[r].to = (r + 1) * w->range < n ? (r + 1) * w->range : n;
    pushLocked(w, &jobs[r]);
  }
  pthread_mutex_unlock(&w->mu);
}

// Looks at names [from, to) of directory d: their lstat, a symlink's target;
// a subdirectory is queued, to be opened (if it is still the one looked at here) and listed.
static void runStat(Walk *w, Dir *d, size_t from, size_t to) {
  Dir *children[RANGE_DEFAULT * 8];
  size_t nchildren = 0;
  for (size_t i = from; i < to; i++) {
    Entry *e = &d->entries[i];
    struct stat st;
    for (;;) {
      if (fstatat(d->fd, e->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
          e->state = ENTRY_GONE;  // removed since the listing
          break;
        }
        return fail(w, errno, "lstat", d, e->name);
      }
      if (!S_ISLNK(st.st_mode)) break;
      size_t cap = st.st_size > 0 && st.st_size < TARGET_MAX ? (size_t)st.st_size + 1 : 4096;
      for (;;) {
        char *buf = malloc(cap);
        if (!buf) return fail(w, ENOMEM, "readlink", d, e->name);
        ssize_t got = readlinkat(d->fd, e->name, buf, cap);
        if (got >= 0 && (size_t)got < cap) {
          e->target = buf;
          e->targetLen = (uint32_t)got;
          break;
        }
        free(buf);
        if (got >= 0 && cap < TARGET_MAX) {
          cap *= 4;  // grown since its lstat
          continue;
        }
        if (got >= 0) return fail(w, ENAMETOOLONG, "readlink", d, e->name);
        if (errno == ENOENT) {
          e->state = ENTRY_GONE;
          break;
        }
        if (errno != EINVAL) return fail(w, errno, "readlink", d, e->name);
        break;  // no longer a symlink since its lstat: look again
      }
      if (e->target || e->state == ENTRY_GONE) break;
    }
    if (e->state == ENTRY_GONE) continue;
    e->state = ENTRY_PRESENT;
    e->kind = validUtf8((const unsigned char *)e->name, e->nameLen) ? kindOf(st.st_mode) : KIND_NOT_UTF8;
    e->mode = st.st_mode & 07777;
    e->uid = st.st_uid;
    e->gid = st.st_gid;
    e->nlink = (uint32_t)st.st_nlink;
    e->size = (uint64_t)st.st_size;
    e->ino = st.st_ino;
    e->dev = st.st_dev;
#ifdef __APPLE__
    e->mtime = st.st_mtimespec;
    e->ctime = st.st_ctimespec;
#else
    e->mtime = st.st_mtim;
    e->ctime = st.st_ctim;
#endif
    if (e->kind != KIND_DIR) continue;
    // Opened by its own LIST job, through this directory, if it is still what fstatat just saw (openDir).
    Dir *child = newDir(d, e->name, e->nameLen, -1, st.st_dev, st.st_ino);
    if (!child) return fail(w, ENOMEM, "open", d, e->name);
    e->child = child;
    if (nchildren < sizeof children / sizeof *children) children[nchildren++] = child;
  }
  pthread_mutex_lock(&w->mu);
  d->unopened += nchildren;
  for (size_t c = nchildren; c-- > 0;) pushLocked(w, &children[c]->list);  // the first child on top
  w->buffered += to - from;
  d->rangesLeft--;
  closeIfDoneLocked(w, d);
  pthread_mutex_unlock(&w->mu);
}

static void run(Walk *w, Job *j) {
  if (j->type == JOB_LIST) runList(w, j->dir);
  else runStat(w, j->dir, j->from, j->to);
  pthread_mutex_lock(&w->mu);
  j->state = JOB_DONE;
  if (j->type == JOB_LIST) closeIfDoneLocked(w, j->dir);
  if (w->awaited == j) pthread_cond_broadcast(&w->progress);  // (a thread held by the test hook waits on it too)
  pthread_mutex_unlock(&w->mu);
}

static void *worker(void *arg) {
  Walk *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    if (stopped(w) || w->finished) break;
    int holding = w->buffered >= w->bufferedMax || w->open >= w->openMax;
    if (!w->top || holding) {
      pthread_cond_wait(&w->work, &w->mu);
      continue;
    }
    Job *j = w->top;
    takeLocked(w, j);
    pthread_mutex_unlock(&w->mu);
    run(w, j);
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

// ---- The emitter ----

typedef struct {
  char *data;
  size_t len, cap, entries;
  const Dir *context;
} Batch;

static int reserve(Batch *b, size_t more) {
  if (b->len + more <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 65536;
  while (cap < b->len + more) cap *= 2;
  char *data = realloc(b->data, cap);
  if (!data) return 0;
  b->data = data;
  b->cap = cap;
  return 1;
}

static void put8(Batch *b, uint8_t v) { b->data[b->len++] = (char)v; }
static void put16(Batch *b, uint16_t v) { memcpy(b->data + b->len, &v, 2), b->len += 2; }
static void put32(Batch *b, uint32_t v) { memcpy(b->data + b->len, &v, 4), b->len += 4; }
static void putF64(Batch *b, double v) { memcpy(b->data + b->len, &v, 8), b->len += 8; }
static void putBytes(Batch *b, const char *s, size_t n) { memcpy(b->data + b->len, s, n), b->len += n; }
static void putShort(Batch *b, const char *s) {
  size_t n = strlen(s);
  put8(b, (uint8_t)n);
  putBytes(b, s, n);
}

// Nanoseconds since the epoch, in decimal (exact, as Node's bigint stat gives them).
static void nanos(char *out, struct timespec t) {
  __int128 v = (__int128)t.tv_sec * 1000000000 + t.tv_nsec;
  char digits[48];
  int n = 0, negative = v < 0;
  unsigned __int128 u = negative ? -(unsigned __int128)v : (unsigned __int128)v;
  // In 64 bits while it fits (until 2554): a 128-bit division is a library call per digit, ~30 ms of a walk of 54k
  // entries; a 64-bit one by 10 is a multiplication.
  if (u <= UINT64_MAX) {
    uint64_t w = (uint64_t)u;
    do digits[n++] = (char)('0' + (int)(w % 10)), w /= 10;
    while (w);
  } else {
    do digits[n++] = (char)('0' + (int)(u % 10)), u /= 10;
    while (u);
  }
  int k = 0;
  if (negative) out[k++] = '-';
  while (n) out[k++] = digits[--n];
  out[k] = 0;
}

// The parent's record of directory d's entry e (walk order: the records before it are passed for good), or NULL.
static const Parent *parentOf(Walk *w, const Dir *d, const Entry *e) {
  char rel[8192];
  if (joinedLength(d, e->nameLen) > sizeof rel) return NULL;
  size_t n = join(rel, d, e->name, e->nameLen);
  while (w->parentNext < w->parentCount) {
    const Parent *p = &w->parents[w->parentNext];
    int order = walkOrder(p->path, p->pathLen, rel, n);
    if (order > 0) return NULL;  // new since the parent
    w->parentNext++;
    if (order == 0) return p;
  }
  return NULL;
}

static int same(const char *s, const char *t, size_t tn) { return strlen(s) == tn && memcmp(s, t, tn) == 0; }

static int emitEntry(Walk *w, Batch *b, const Dir *d, const Entry *e) {
  char dev[48], mt[48], ct[48];
  nanos(mt, e->mtime);
  nanos(ct, e->ctime);
  const Parent *p = parentOf(w, d, e);
  if (p && p->trusted && e->kind == KIND_FILE && e->nlink == 1 && p->size == (double)e->size && p->ino == (double)e->ino && p->mode == e->mode && p->uid == e->uid &&
      p->gid == e->gid && same(mt, p->mtime, p->mtimeLen) && same(ct, p->ctime, p->ctimeLen)) {
    if (!reserve(b, 5)) return 0;
    put8(b, 3);
    put32(b, p->number);
    b->entries++;
    return 1;
  }
  identity(dev, e->dev, e->ino);
  if (!reserve(b, 1 + 4 + d->relLen + 1 + 48 + 1 + 1 + 2 + e->nameLen + 16 + 24 + 3 * 48 + 4 + e->targetLen + 4)) return 0;
  if (b->context != d) {
    put8(b, 1);
    put32(b, (uint32_t)d->relLen);
    putBytes(b, d->rel, d->relLen);
    putShort(b, d->id);
    b->context = d;
  }
  put8(b, 2);
  put8(b, e->kind);
  put16(b, e->nameLen);
  putBytes(b, e->name, e->nameLen);
  put32(b, e->mode);
  put32(b, e->uid);
  put32(b, e->gid);
  put32(b, e->nlink);
  putF64(b, (double)e->size);
  putF64(b, (double)e->ino);
  putF64(b, (double)e->dev);
  putShort(b, dev);
  putShort(b, mt);
  putShort(b, ct);
  if (e->target) {
    put32(b, e->targetLen);
    putBytes(b, e->target, e->targetLen);
  } else {
    put32(b, 0xffffffffu);
  }
  put32(b, p ? p->number : 0xffffffffu);
  b->entries++;
  return 1;
}

// Hands a message to JavaScript, a batch once the reader has fewer than unreadMax (see ack); false once JavaScript is gone.
static int send(Walk *w, void *message) {
  Message *m = message;
  if (m->type == 0) {
    pthread_mutex_lock(&w->mu);
    while (w->unread >= w->unreadMax && !w->cancelled) pthread_cond_wait(&w->progress, &w->mu);
    w->unread++;
    pthread_mutex_unlock(&w->mu);
  }
  if (napi_call_threadsafe_function(w->tsfn, m, napi_tsfn_blocking) == napi_ok) return 1;
  free(m->data);
  free(m->rel);
  free(m);
  return 0;
}

static int flush(Walk *w, Batch *b) {
  if (!b->entries) return 1;
  Message *m = calloc(1, sizeof(Message));
  if (!m) return 0;
  m->type = 0;
  m->data = b->data;
  m->len = b->len;
  b->data = NULL;
  b->len = b->cap = b->entries = 0;
  b->context = NULL;
  return send(w, m);
}

static double nowMs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// Waits for job j, or runs it if nobody has started it (with the lock held; false if the walk stopped).
static int await(Walk *w, Job *j, Batch *b, double *since) {
  while (j->state != JOB_DONE) {
    if (stopped(w)) return 0;
    if (j->state == JOB_QUEUED) {
      takeLocked(w, j);
      pthread_mutex_unlock(&w->mu);
      run(w, j);
      pthread_mutex_lock(&w->mu);
      continue;
    }
    if (b->entries && nowMs() - *since > 15) {  // slow going: what is ready goes out meanwhile
      pthread_mutex_unlock(&w->mu);
      int ok = flush(w, b);
      pthread_mutex_lock(&w->mu);
      if (!ok) return 0;
      *since = nowMs();
      continue;
    }
    w->awaited = j;
    if (b->entries) {  // until the job is done, or it is time to send what is ready
      double ms = *since + 15 - nowMs() + 1;
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      long ns = until.tv_nsec + (long)(ms * 1e6);
      until.tv_sec += ns / 1000000000;
      until.tv_nsec = ns % 1000000000;
      pthread_cond_timedwait(&w->progress, &w->mu, &until);
    } else {
      pthread_cond_wait(&w->progress, &w->mu);
    }
    w->awaited = NULL;
  }
  return !stopped(w);
}

typedef struct {
  Dir *dir;
  size_t next;
} Frame;

static void *emitter(void *arg) {
  Walk *w = arg;
  Batch b = {0};
  size_t depth = 0, cap = 64;
  Frame *stack = malloc(cap * sizeof(Frame));
  double since = nowMs();
  int ok = stack != NULL;
  if (ok) stack[depth++] = (Frame){w->root, 0};
  pthread_mutex_lock(&w->mu);
  while (!w->parentSet && !stopped(w)) pthread_cond_wait(&w->progress, &w->mu);
  while (ok && depth) {
    Frame *f = &stack[depth - 1];
    Dir *d = f->dir;
    if (!(ok = await(w, &d->list, &b, &since))) break;
    if (f->next == d->count) {
      depth--;
      pthread_mutex_unlock(&w->mu);
      freeDir(d);
      pthread_mutex_lock(&w->mu);
      continue;
    }
    if (!(ok = await(w, &d->ranges[f->next / w->range], &b, &since))) break;
    Entry *e = &d->entries[f->next++];
    if (w->buffered-- == w->bufferedMax) pthread_cond_broadcast(&w->work);  // workers may go on
    if (e->state != ENTRY_PRESENT) continue;
    pthread_mutex_unlock(&w->mu);
    ok = emitEntry(w, &b, d, e);
    if (!ok) {
      pthread_mutex_lock(&w->mu);
      failLocked(w, ENOMEM, "scandir", d->rel, d->relLen, NULL);
      break;
    }
    if (b.entries >= w->batch) {
      ok = flush(w, &b);
      since = nowMs();
    }
    pthread_mutex_lock(&w->mu);
    if (!ok) break;
    if (e->child) {
      if (depth == cap) {
        Frame *more = realloc(stack, (cap *= 2) * sizeof(Frame));
        if (!more) {
          failLocked(w, ENOMEM, "scandir", d->rel, d->relLen, NULL);
          ok = 0;
          break;
        }
        stack = more;
      }
      stack[depth++] = (Frame){e->child, 0};
      e->child = NULL;  // the stack owns it now
    }
  }
  w->finished = 1;
  pthread_cond_broadcast(&w->work);
  int err = w->err, cancelled = w->cancelled;
  pthread_mutex_unlock(&w->mu);
  for (size_t i = 0; i < w->started; i++) pthread_join(w->workers[i], NULL);
  // What the stack and the queue still hold (a walk broken off): directories not yet sent are freed with their parents' entries.
  for (size_t i = 0; i < depth; i++) {
    Dir *d = stack[i].dir;
    for (size_t k = 0; k < d->count; k++) {  // (children the stack took are NULL here)
      Dir *c = d->entries[k].child;
      if (!c) continue;
      // A child's own children were never sent either; free the subtree.
      Dir **todo = malloc(sizeof(Dir *) * 64);
      size_t n = 0, tcap = 64;
      if (todo) todo[n++] = c;
      while (todo && n) {
        Dir *x = todo[--n];
        for (size_t q = 0; q < x->count; q++)
          if (x->entries[q].child) {
            if (n == tcap) {
              Dir **more = realloc(todo, sizeof(Dir *) * (tcap *= 2));
              if (!more) break;
              todo = more;
            }
            todo[n++] = x->entries[q].child;
          }
        if (x->fd >= 0) close(x->fd);
        freeDir(x);
      }
      free(todo);
    }
    if (d->fd >= 0) close(d->fd);
    freeDir(d);
  }
  free(stack);
  if (ok && !cancelled) ok = flush(w, &b);
  free(b.data);
  // The last message (also after stop(): close() waits for it, when every descriptor is closed).
  {
    Message *m = calloc(1, sizeof(Message));
    if (m) {
      if (err && !cancelled) {
        m->type = 2;
        m->err = err;
        m->syscall = w->syscall;
        m->rel = w->errRel;
        w->errRel = NULL;
      } else {
        m->type = 1;
      }
      send(w, m);
    }
  }
  napi_release_threadsafe_function(w->tsfn, napi_tsfn_release);
  return NULL;
}

// ---- JavaScript ----

static const char *codeOf(int err) {
  switch (err) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case ELOOP: return "ELOOP";
    case EIO: return "EIO";
    case ENOMEM: return "ENOMEM";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ESTALE: return "ESTALE";
    case EOVERFLOW: return "EOVERFLOW";
    case ECHILD: return "ECHANGED";  // stands for: the root is not the directory the walk began with
    default: return NULL;
  }
}

// Calls onMessage(null, batch) for a batch, onMessage(null, null) at the end, onMessage(error) on failure.
static void callJs(napi_env env, napi_value onMessage, void *context, void *data) {
  Message *m = data;
  if (env && onMessage) {
    napi_value undefined, args[2];
    napi_get_undefined(env, &undefined);
    napi_get_null(env, &args[0]);
    napi_get_null(env, &args[1]);
    if (m->type == 0) {
      void *copy;
      napi_create_buffer_copy(env, m->len, m->data, &copy, &args[1]);
    } else if (m->type == 3) {
      napi_get_boolean(env, true, &args[1]);
    } else if (m->type == 2) {
      napi_value error, v;
      napi_create_object(env, &error);
      char fallback[32];
      const char *code = codeOf(m->err);
      if (!code) snprintf(fallback, sizeof fallback, "E%d", m->err), code = fallback;
      napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &v);
      napi_set_named_property(env, error, "code", v);
      napi_create_string_utf8(env, m->err == ECHILD ? "was moved or replaced as its walk began" : strerror(m->err), NAPI_AUTO_LENGTH, &v);
      napi_set_named_property(env, error, "description", v);
      napi_create_string_utf8(env, m->syscall ? m->syscall : "scandir", NAPI_AUTO_LENGTH, &v);
      napi_set_named_property(env, error, "syscall", v);
      napi_create_buffer_copy(env, m->rel ? strlen(m->rel) : 0, m->rel ? m->rel : "", NULL, &v);
      napi_set_named_property(env, error, "rel", v);
      args[0] = error;
    }
    napi_call_function(env, undefined, onMessage, 2, args, NULL);
  }
  free(m->data);
  free(m->rel);
  free(m);
}

static void release(Walk *w) {
  if (--w->owners) return;
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->work);
  pthread_cond_destroy(&w->progress);
  free(w->workers);
  free(w->errRel);
  free(w->holdAt);
  free(w->parents);
  free(w->parentData);
  free(w);
}

// The callback's finalizer (the main thread, once the emitter let go of it, or as the environment closes).
static void finalizeWalk(napi_env env, void *data, void *hint) {
  Walk *w = data;
  pthread_mutex_lock(&w->mu);
  w->cancelled = 1;
  pthread_cond_broadcast(&w->work);
  pthread_cond_broadcast(&w->progress);
  pthread_mutex_unlock(&w->mu);
  if (!w->noEmitter) pthread_join(w->emitter, NULL);
  release(w);
}

static void finalizeHandle(napi_env env, void *data, void *hint) { release(data); }

static napi_value throwError(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int getUint(napi_env env, napi_value options, const char *name, size_t fallback, size_t *out) {
  napi_value v;
  napi_valuetype t;
  *out = fallback;
  if (napi_get_named_property(env, options, name, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_undefined) return 1;
  uint32_t n;
  if (t != napi_number || napi_get_value_uint32(env, v, &n) != napi_ok || n == 0) return 0;
  *out = n;
  return 1;
}

// start(root: string, id: string, options: { threads, range, batch, bufferedMax, openMax }, onMessage) → walk handle
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return throwError(env, "start(root, id, options, onMessage)");
  char root[4096], id[64];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], root, sizeof root, &len) != napi_ok || len >= sizeof root - 1) return throwError(env, "start: root must be a path");
  if (napi_get_value_string_utf8(env, argv[1], id, sizeof id, &len) != napi_ok) return throwError(env, "start: id must be a string");
  Walk *w = calloc(1, sizeof(Walk));
  if (!w) return throwError(env, "out of memory");
  if (!getUint(env, argv[2], "threads", 3, &w->threads) || !getUint(env, argv[2], "range", RANGE_DEFAULT, &w->range) || !getUint(env, argv[2], "batch", 512, &w->batch) ||
      !getUint(env, argv[2], "bufferedMax", 131072, &w->bufferedMax) || !getUint(env, argv[2], "openMax", MAX_OPEN_DEFAULT, &w->openMax) || !getUint(env, argv[2], "unreadMax", 256, &w->unreadMax)) {
    free(w);
    return throwError(env, "start: options must be positive integers");
  }
  if (w->range > RANGE_DEFAULT * 8) w->range = RANGE_DEFAULT * 8;
  // Directories open at once: a quarter of this process's descriptors at most.
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY && w->openMax > files.rlim_cur / 4) w->openMax = files.rlim_cur / 4 ? files.rlim_cur / 4 : 1;
  napi_value hold;
  napi_valuetype holdType;
  if (napi_get_named_property(env, argv[2], "holdAt", &hold) == napi_ok && napi_typeof(env, hold, &holdType) == napi_ok && holdType == napi_string) {
    size_t n;
    napi_get_value_string_utf8(env, hold, NULL, 0, &n);
    w->holdAt = malloc(n + 1);
    if (w->holdAt) napi_get_value_string_utf8(env, hold, w->holdAt, n + 1, &n);
    size_t when;
    getUint(env, argv[2], "holdBefore", HOLD_OPEN, &when);
    w->holdBefore = (int)when;
  }
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->work, NULL);
  pthread_cond_init(&w->progress, NULL);

  // The root, if it is still the directory the caller saw.
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  char now[48] = "";
  if (fd >= 0 && fstat(fd, &st) == 0) identity(now, st.st_dev, st.st_ino);
  if (fd < 0 || strcmp(now, id) != 0) {
    if (fd >= 0) close(fd);
    w->err = fd < 0 && errno != ENOENT && errno != ENOTDIR && errno != ELOOP ? errno : ECHILD;
    w->syscall = "open";
    w->root = NULL;
  } else {
    w->root = newDir(NULL, "", 0, fd, st.st_dev, st.st_ino);
    if (!w->root) {
      close(fd);
      free(w);
      return throwError(env, "out of memory");
    }
    w->open = 1;
    pushLocked(w, &w->root->list);
  }

  napi_value name, handle;
  napi_create_string_utf8(env, "daybox walk", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &handle);
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 2, 1, w, finalizeWalk, NULL, callJs, &w->tsfn) != napi_ok) {
    if (w->root) {
      close(w->root->fd);
      freeDir(w->root);
    }
    free(w);
    return throwError(env, "start: could not create the walk's callback");
  }
  if (w->root) {
    w->workers = calloc(w->threads, sizeof(pthread_t));
    for (size_t i = 0; w->workers && i < w->threads; i++) {
      if (pthread_create(&w->workers[i], NULL, worker, w) != 0) break;
      w->started++;
    }
  }
  if (!w->root) {
    // Nothing to walk: the emitter only reports the failure.
    w->root = newDir(NULL, "", 0, -1, 0, 0);
    if (!w->root) abort();  // out of memory before the walk began
    w->root->list.state = JOB_DONE;
    w->open = 0;
  }
  w->owners = 2;
  if (pthread_create(&w->emitter, NULL, emitter, w) != 0) {
    // No thread to end the walk: stop the workers, let go of the callback (its finalizer joins no emitter), fail.
    pthread_mutex_lock(&w->mu);
    w->cancelled = w->finished = 1;
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->started; i++) pthread_join(w->workers[i], NULL);
    w->noEmitter = 1;
    w->owners = 1;  // (no handle: the callback's finalizer frees it; what the workers walked is left, as the process is out of threads)
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    return throwError(env, "start: could not start the walk's thread");
  }
  napi_wrap(env, handle, w, finalizeHandle, NULL, NULL);
  return handle;
}

// The walk a call's first argument is the handle of (NULL if it is none); its second argument into *arg, if asked for.
static Walk *walkOf(napi_env env, napi_callback_info info, napi_value *args, size_t nargs) {
  size_t argc = 3;
  napi_value argv[3];
  Walk *w;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 + nargs || napi_unwrap(env, argv[0], (void **)&w) != napi_ok) return NULL;
  for (size_t i = 0; i < nargs; i++) args[i] = argv[1 + i];
  return w;
}

// stop(handle): the walk ends as soon as its threads notice; then its last message comes (the end).
static napi_value stop(napi_env env, napi_callback_info info) {
  Walk *w = walkOf(env, info, NULL, 0);
  if (!w) return throwError(env, "stop(handle)");
  pthread_mutex_lock(&w->mu);
  w->cancelled = 1;
  pthread_cond_broadcast(&w->work);
  pthread_cond_broadcast(&w->progress);
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

// One manifest record (see the format above), its fields pointing into the records' buffer; those its type lacks
// are left as they were.
typedef struct {
  uint8_t type;
  const char *path, *mtime, *ctime;
  uint32_t pathLen, mode, uid, gid, chunkCount;
  uint8_t mtimeLen, ctimeLen;
  double size, ino;
  const uint8_t *chunks;  // chunkCount times: u8 0 + 32-byte id + f64 length, or u8 1 + f64 length
} Record;

// The record at data[*i] into *r, *i past it; false if it is malformed (runs past `len`, an unknown type or chunk kind).
static int nextRecord(const char *data, size_t len, size_t *at, Record *r) {
  size_t i = *at;
  uint32_t n;
#define NEED(k) \
  if (len - i < (size_t)(k)) return 0
#define TEXT(ptr, length)          \
  NEED(4);                         \
  memcpy(&(length), data + i, 4);  \
  i += 4;                          \
  NEED(length);                    \
  ptr = data + i;                  \
  i += (length)
  NEED(1);
  r->type = (uint8_t)data[i++];
  if (r->type < 1 || r->type > 4) return 0;
  TEXT(r->path, r->pathLen);
  if (r->type != 4) {
    NEED(13);
    memcpy(&r->mode, data + i, 4);
    memcpy(&r->uid, data + i + 4, 4);
    memcpy(&r->gid, data + i + 8, 4);
    r->mtimeLen = (uint8_t)data[i + 12];
    i += 13;
    NEED(r->mtimeLen);
    r->mtime = data + i;
    i += r->mtimeLen;
  }
  if (r->type == 2) {
    NEED(17);
    memcpy(&r->size, data + i, 8);
    memcpy(&r->ino, data + i + 8, 8);
    r->ctimeLen = (uint8_t)data[i + 16];
    i += 17;
    NEED(r->ctimeLen + 4);
    r->ctime = data + i;
    i += r->ctimeLen;
    memcpy(&r->chunkCount, data + i, 4);
    i += 4;
    r->chunks = (const uint8_t *)data + i;
    for (uint32_t c = 0; c < r->chunkCount; c++) {
      NEED(1);
      size_t k = data[i] == 0 ? 41 : data[i] == 1 ? 9 : 0;
      if (!k) return 0;
      NEED(k);
      i += k;
    }
  } else if (r->type == 3 || r->type == 4) {
    const char *skip;
    TEXT(skip, n);
    (void)skip;
  }
#undef NEED
#undef TEXT
  *at = i;
  return 1;
}

// The files among records `data` (see the format above) into *parents, *count, trusted as `trusted` says (one byte
// per record); false if the records are malformed.
static int parseRecords(const char *data, size_t len, const uint8_t *trusted, size_t trustedLen, Parent **parents, size_t *count) {
  size_t cap = 1024, n = 0, i = 0;
  Parent *out = malloc(cap * sizeof(Parent));
  if (!out) return 0;
  for (uint32_t number = 0; i < len; number++) {
    Record r;
    if (!nextRecord(data, len, &i, &r)) goto bad;
    if (r.type != 2) continue;
    if (n == cap) {
      Parent *more = realloc(out, (cap *= 2) * sizeof(Parent));
      if (!more) goto bad;
      out = more;
    }
    out[n++] = (Parent){.number = number,
                        .mode = r.mode,
                        .uid = r.uid,
                        .gid = r.gid,
                        .trusted = number < trustedLen ? trusted[number] : 0,
                        .size = r.size,
                        .ino = r.ino,
                        .mtime = r.mtime,
                        .ctime = r.ctime,
                        .path = r.path,
                        .mtimeLen = r.mtimeLen,
                        .ctimeLen = r.ctimeLen,
                        .pathLen = r.pathLen};
  }
  *parents = out;
  *count = n;
  return 1;
bad:
  free(out);
  return 0;
}

// setParent(handle, records | null, trusted): the parent's entries to compare with (see above); the walk's entries
// go out from now on.
static napi_value setParent(napi_env env, napi_callback_info info) {
  napi_value args[2];
  Walk *w = walkOf(env, info, args, 2);
  if (!w) return throwError(env, "setParent(handle, records, trusted)");
  napi_value table = args[0];
  bool isBuffer = false, isTyped = false;
  napi_is_buffer(env, table, &isBuffer);
  void *trusted = NULL;
  size_t trustedLen = 0;
  if (isBuffer) {
    napi_is_typedarray(env, args[1], &isTyped);
    napi_typedarray_type type;
    if (isTyped) napi_get_typedarray_info(env, args[1], &type, &trustedLen, &trusted, NULL, NULL);
    if (!isTyped || type != napi_uint8_array) return throwError(env, "setParent(handle, records, trusted): trusted must be a Uint8Array");
  }
  pthread_mutex_lock(&w->mu);
  int set = w->parentSet;
  pthread_mutex_unlock(&w->mu);
  if (set) return throwError(env, "setParent: the parent was given already");
  if (isBuffer) {
    void *data;
    size_t len;
    napi_get_buffer_info(env, table, &data, &len);
    w->parentData = malloc(len ? len : 1);
    if (!w->parentData) return throwError(env, "out of memory");
    if (len) memcpy(w->parentData, data, len);
    if (!parseRecords(w->parentData, len, trusted, trustedLen, &w->parents, &w->parentCount)) {
      free(w->parentData);
      w->parentData = NULL;
      return throwError(env, "setParent: the records are malformed");
    }
  }
  pthread_mutex_lock(&w->mu);
  w->parentSet = 1;
  pthread_cond_broadcast(&w->progress);
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

// ack(handle): the reader took a batch (the emitter keeps at most unreadMax untaken).
static napi_value ack(napi_env env, napi_callback_info info) {
  Walk *w = walkOf(env, info, NULL, 0);
  if (!w) return throwError(env, "ack(handle)");
  pthread_mutex_lock(&w->mu);
  if (w->unread) w->unread--;
  pthread_cond_broadcast(&w->progress);
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

// resume(handle): a thread held at holdAt goes on.
static napi_value resume(napi_env env, napi_callback_info info) {
  Walk *w = walkOf(env, info, NULL, 0);
  if (!w) return throwError(env, "resume(handle)");
  pthread_mutex_lock(&w->mu);
  w->holding = 0;
  pthread_cond_broadcast(&w->progress);
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

// The chunk table's lookups (src/engine/chunk-table.ts: ChunkTable), here because they run before an incremental
// snapshot's first read: ~50k ids and ~50k records take ~2 ms here, where JavaScript not yet optimized took 60-90 ms.
// Ids are 32 bytes, end to end in `raw`; `slots` (a power of two long) holds an id's position + 1 in the slot its first
// four bytes (big-endian) lead to, or the next free one.

static uint32_t idKey(const uint8_t *id) { return ((uint32_t)id[0] << 24) | ((uint32_t)id[1] << 16) | ((uint32_t)id[2] << 8) | id[3]; }

static int idKnown(const int32_t *slots, size_t mask, const uint8_t *raw, size_t rawLen, const uint8_t *id) {
  for (size_t slot = idKey(id) & mask, probes = 0; probes <= mask; slot = (slot + 1) & mask, probes++) {
    if (slots[slot] <= 0 || (size_t)slots[slot] * 32 > rawLen) return 0;
    if (memcmp(raw + (size_t)(slots[slot] - 1) * 32, id, 32) == 0) return 1;
  }
  return 0;
}

static int typedArray(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  bool is = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  return napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) == napi_ok && type == want;
}

// indexSlots(raw, valid | null, slots): fills `slots` (zeroed, at least twice as long as there are ids) with the ids of
// `raw` but those `valid` marks 0; an id listed twice keeps its later position. Returns how many distinct ids it holds.
static napi_value indexSlots(napi_env env, napi_callback_info info) {
  size_t argc = 3, rawLen, validLen = 0, slotCount;
  napi_value argv[3], out;
  void *raw, *valid = NULL, *slots;
  napi_valuetype t = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || !typedArray(env, argv[0], napi_uint8_array, &raw, &rawLen) ||
      !typedArray(env, argv[2], napi_int32_array, &slots, &slotCount))
    return throwError(env, "indexSlots(raw, valid, slots)");
  napi_typeof(env, argv[1], &t);
  if (t != napi_null && t != napi_undefined && !typedArray(env, argv[1], napi_uint8_array, &valid, &validLen)) return throwError(env, "indexSlots: valid must be a Uint8Array or null");
  size_t count = rawLen / 32, mask = slotCount - 1, distinct = 0;
  if (slotCount == 0 || (slotCount & mask) != 0 || slotCount < 2 * count || (valid && validLen < count)) return throwError(env, "indexSlots: bad lengths");
  int32_t *s = slots;
  const uint8_t *r = raw;
  for (size_t p = 0; p < count; p++) {
    if (valid && !((uint8_t *)valid)[p]) continue;
    for (size_t slot = idKey(r + p * 32) & mask;; slot = (slot + 1) & mask) {
      if (s[slot] == 0) {
        s[slot] = (int32_t)(p + 1);
        distinct++;
        break;
      }
      if (memcmp(r + (size_t)(s[slot] - 1) * 32, r + p * 32, 32) == 0) {
        s[slot] = (int32_t)(p + 1);  // listed again: the later one
        break;
      }
    }
  }
  napi_create_double(env, (double)distinct, &out);
  return out;
}

// trustRecords(records, slots, raw, limitNs, coarseLimitNs, trusted): for each of a manifest's records (format 2, see
// setParent), whether it may be trusted: a file whose ctime is before limitNs (coarseLimitNs for a ctime in whole
// seconds) and whose data chunks the table (slots, raw) all holds. Throws if the records are malformed.
static napi_value trustRecords(napi_env env, napi_callback_info info) {
  size_t argc = 6, len, slotCount, rawLen, trustedLen;
  napi_value argv[6];
  void *data, *slots, *raw, *trusted;
  double limit, coarseLimit;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 || !typedArray(env, argv[0], napi_uint8_array, &data, &len) ||
      !typedArray(env, argv[1], napi_int32_array, &slots, &slotCount) || !typedArray(env, argv[2], napi_uint8_array, &raw, &rawLen) ||
      napi_get_value_double(env, argv[3], &limit) != napi_ok || napi_get_value_double(env, argv[4], &coarseLimit) != napi_ok ||
      !typedArray(env, argv[5], napi_uint8_array, &trusted, &trustedLen) || slotCount == 0 || (slotCount & (slotCount - 1)) != 0)
    return throwError(env, "trustRecords(records, slots, raw, limitNs, coarseLimitNs, trusted)");
  uint8_t *out = trusted;
  size_t i = 0, number = 0;
  for (; i < len; number++) {
    Record r;
    if (number >= trustedLen || !nextRecord((const char *)data, len, &i, &r)) return throwError(env, "trustRecords: the records are malformed");
    out[number] = 0;
    if (r.type != 2) continue;
    // The ctime in nanoseconds (a double: its ~256 ns of rounding is far inside the limits' margins), and whether it
    // is in whole seconds.
    const char *ct = r.ctime;
    int negative = r.ctimeLen > 0 && ct[0] == '-', whole = r.ctimeLen >= 9;
    double ns = 0;
    for (size_t k = negative; k < r.ctimeLen; k++) {
      ns = ns * 10 + (ct[k] - '0');
      if (k + 9 >= r.ctimeLen && ct[k] != '0') whole = 0;
    }
    if (negative) ns = -ns;
    int ok = ns < (whole ? coarseLimit : limit);
    const uint8_t *c = r.chunks;
    for (uint32_t k = 0; ok && k < r.chunkCount; k++) {
      if (*c == 0 && !idKnown(slots, slotCount - 1, raw, rawLen, c + 1)) ok = 0;
      c += *c == 0 ? 41 : 9;
    }
    out[number] = (uint8_t)ok;
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "indexSlots", NAPI_AUTO_LENGTH, indexSlots, NULL, &fn);
  napi_set_named_property(env, exports, "indexSlots", fn);
  napi_create_function(env, "trustRecords", NAPI_AUTO_LENGTH, trustRecords, NULL, &fn);
  napi_set_named_property(env, exports, "trustRecords", fn);
  napi_create_function(env, "ack", NAPI_AUTO_LENGTH, ack, NULL, &fn);
  napi_set_named_property(env, exports, "ack", fn);
  napi_create_function(env, "resume", NAPI_AUTO_LENGTH, resume, NULL, &fn);
  napi_set_named_property(env, exports, "resume", fn);
  napi_create_function(env, "setParent", NAPI_AUTO_LENGTH, setParent, NULL, &fn);
  napi_set_named_property(env, exports, "setParent", fn);
  napi_create_function(env, "start", NAPI_AUTO_LENGTH, start, NULL, &fn);
  napi_set_named_property(env, exports, "start", fn);
  napi_create_function(env, "stop", NAPI_AUTO_LENGTH, stop, NULL, &fn);
  napi_set_named_property(env, exports, "stop", fn);
  return exports;
}
