/* cage-probe: a static multi-call helper that the integration tests run INSIDE containers to
 * see what the kernel lets a contained process do.
 *
 *   cage-probe SUBCOMMAND [ARGS]
 *
 * Output goes to stdout as `key=value` lines (or the raw value). Exit 0 on success; an
 * unexpected failure prints "cage-probe: <what>: <strerror>" to stderr and exits 1; a bad
 * subcommand or argument prints the usage and exits 2. Expected refusals (mount, try-write,
 * write-everywhere, kcore, umount) are results, printed by errno name, not failures.
 * Plain C and libc only: it is linked statically so it runs in any rootfs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- helpers ---------------------------------------------------------------------------- */

static int fail(const char *what)
{
    fprintf(stderr, "cage-probe: %s: %s\n", what, strerror(errno));
    return 1;
}

static int fail_path(const char *what, const char *path)
{
    fprintf(stderr, "cage-probe: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

static int bad_arg(const char *what, const char *arg)
{
    fprintf(stderr, "cage-probe: invalid %s: '%s'\n", what, arg);
    return 2;
}

/* "EPERM", "EROFS", ...; "E<number>" for one glibc has no name for. */
static const char *errname(int e)
{
    static char unknown[24];
    const char *name = strerrorname_np(e);
    if (name)
        return name;
    snprintf(unknown, sizeof unknown, "E%d", e);
    return unknown;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > 1e9)
        return -1;
    *out = v;
    return 0;
}

static void sleep_seconds(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* dir + "/" + name into buf; 0, or -1 if it does not fit. "/" joins without a double slash. */
static int join(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- identity and environment ------------------------------------------------------------ */

static int cmd_status(char **args)
{
    (void)args;
    static const char *const keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                                       "NoNewPrivs", "Seccomp", "Uid", "Gid", "Groups"};
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return fail("open /proc/self/status");
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            if (strcmp(line, keys[i]) != 0)
                continue;
            char *value = colon + 1 + strspn(colon + 1, " \t");
            size_t len = strlen(value);
            while (len > 0 && strchr(" \t\n", value[len - 1]))
                value[--len] = '\0';
            for (char *p = value; *p; p++)
                if (*p == '\t')
                    *p = ' ';
            printf("%s=%s\n", keys[i], value);
        }
    }
    fclose(f);
    return 0;
}

static int cmd_ids(char **args)
{
    (void)args;
    printf("uid=%u gid=%u euid=%u egid=%u\n", getuid(), getgid(), geteuid(), getegid());
    return 0;
}

static int cmd_pid(char **args)
{
    (void)args;
    printf("pid=%d ppid=%d\n", getpid(), getppid());
    return 0;
}

static int cmd_cwd(char **args)
{
    (void)args;
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf))
        return fail("getcwd");
    puts(buf);
    return 0;
}

static int cmd_hostname(char **args)
{
    (void)args;
    struct utsname u;
    if (uname(&u) < 0)
        return fail("uname");
    puts(u.nodename);
    return 0;
}

static int cmd_isatty(char **args)
{
    (void)args;
    printf("0=%d 1=%d 2=%d\n", isatty(0), isatty(1), isatty(2));
    if (isatty(0)) {
        const char *name = ttyname(0);
        struct winsize ws;
        printf("tty=%s\n", name ? name : "?");
        if (ioctl(0, TIOCGWINSZ, &ws) < 0)
            return fail("TIOCGWINSZ");
        printf("winsize=%ux%u\n", ws.ws_row, ws.ws_col);
    }
    return 0;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_env(char **args)
{
    (void)args;
    size_t n = 0;
    while (environ[n])
        n++;
    char **sorted = calloc(n + 1, sizeof *sorted);
    if (!sorted)
        return fail("calloc");
    memcpy(sorted, environ, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_strings);
    for (size_t i = 0; i < n; i++)
        puts(sorted[i]);
    free(sorted);
    return 0;
}

static int cmd_ns(char **args)
{
    (void)args;
    static const char *const names[] = {"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[64], target[256];
        snprintf(path, sizeof path, "/proc/self/ns/%s", names[i]);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0 && errno != ENOENT) /* ENOENT: the kernel lacks that namespace type */
            return fail_path("readlink", path);
        target[n < 0 ? 0 : n] = '\0';
        printf("%s=%s\n", names[i], target);
    }
    return 0;
}

static int cmd_fds(char **args)
{
    (void)args;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return fail("open /proc/self/fd");
    int listing = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == listing)
            continue;
        char target[PATH_MAX];
        ssize_t n = readlinkat(listing, e->d_name, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = '\0';
        printf("%s -> %s\n", e->d_name, target);
    }
    closedir(d);
    return 0;
}

/* ---- files and mounts -------------------------------------------------------------------- */

static int cmd_stat(char **args)
{
    struct stat st;
    if (lstat(args[0], &st) < 0)
        return fail_path("stat", args[0]);
    const char *type = S_ISREG(st.st_mode)   ? "file"
                       : S_ISDIR(st.st_mode) ? "dir"
                       : S_ISCHR(st.st_mode) ? "char"
                       : S_ISLNK(st.st_mode) ? "link"
                                             : "other";
    printf("uid=%u gid=%u mode=%o type=%s rdev=%u:%u\n", st.st_uid, st.st_gid, st.st_mode & 07777u,
           type, major(st.st_rdev), minor(st.st_rdev));
    return 0;
}

static int cmd_readlink(char **args)
{
    char buf[PATH_MAX];
    ssize_t n = readlink(args[0], buf, sizeof buf - 1);
    if (n < 0)
        return fail_path("readlink", args[0]);
    buf[n] = '\0';
    puts(buf);
    return 0;
}

static int cmd_kcore(char **args)
{
    (void)args;
    int fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("error=%s\n", errname(errno));
        return 0;
    }
    char buf[16];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0)
        printf("error=%s\n", errname(errno));
    else
        printf("bytes=%zd\n", n);
    close(fd);
    return 0;
}

static int cmd_mount(char **args)
{
    (void)args;
    if (mount("none", "/mnt", "tmpfs", 0, NULL) == 0)
        puts("mount=ok");
    else
        printf("mount=%s\n", errname(errno));
    return 0;
}

static int cmd_umount(char **args)
{
    if (umount2(args[0], MNT_DETACH) == 0)
        puts("umount=ok");
    else
        printf("umount=%s\n", errname(errno));
    return 0;
}

static int cmd_open_write(char **args)
{
    int fd = open(args[0], O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        printf("open=%s\n", errname(errno));
        return 0;
    }
    close(fd);
    puts("open=ok");
    return 0;
}

#define PROBE_LINE "cage-probe-was-here\n"

/* Appends PROBE_LINE to path, creating it; 0 or an errno. */
static int append_line(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    int rc = write_all(fd, PROBE_LINE, sizeof PROBE_LINE - 1) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

static int cmd_try_write(char **args)
{
    for (; *args; args++) {
        struct stat st;
        int rc;
        if (stat(*args, &st) == 0 && S_ISDIR(st.st_mode)) {
            char child[PATH_MAX];
            rc = join(child, sizeof child, *args, "cage-probe-new") == 0 ? append_line(child)
                                                                        : ENAMETOOLONG;
        } else {
            rc = append_line(*args);
        }
        printf("%s %s\n", *args, rc == 0 ? "ok" : errname(rc));
    }
    return 0;
}

/* write-everywhere: every kind of write on every file and directory outside /proc, /sys
 * and /dev. Changes that succeed are left in place on purpose: a test can compare the
 * rootfs before and after. */
struct tally {
    long attempts, succeeded;
};

static void attempt(struct tally *t, const char *path, const char *op, int ok)
{
    t->attempts++;
    if (ok) {
        t->succeeded++;
        printf("wrote %s (%s)\n", path, op);
    }
}

static void write_file(struct tally *t, const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    attempt(t, path, "append", fd >= 0 && write_all(fd, "x", 1) == 0);
    if (fd >= 0)
        close(fd);
    attempt(t, path, "chmod", chmod(path, 0777) == 0);
    const struct timespec zero[2] = {{0, 0}, {0, 0}};
    attempt(t, path, "utimes", utimensat(AT_FDCWD, path, zero, AT_SYMLINK_NOFOLLOW) == 0);
}

static int is_probe_name(const char *name)
{
    return strncmp(name, ".cage-probe", 11) == 0;
}

static void write_dir(struct tally *t, const char *dir, int depth)
{
    char path[PATH_MAX], other[PATH_MAX];

    /* Read the entries first, so that what this function creates is not walked. */
    struct dirent **entries;
    int n = scandir(dir, &entries, NULL, alphasort);

    if (join(path, sizeof path, dir, ".cage-probe") == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
        attempt(t, path, "create", fd >= 0);
        if (fd >= 0)
            close(fd);
    }
    char name[64];
    snprintf(name, sizeof name, ".cage-probe-dir.%d", getpid());
    if (join(path, sizeof path, dir, name) == 0)
        attempt(t, path, "mkdir", mkdir(path, 0755) == 0);

    int renamed = 0;
    for (int i = 0; i < n; i++) {
        const char *entry = entries[i]->d_name;
        if (!strcmp(entry, ".") || !strcmp(entry, "..") || is_probe_name(entry))
            continue;
        if (join(path, sizeof path, dir, entry) < 0)
            continue;
        if (depth == 0 && (!strcmp(path, "/proc") || !strcmp(path, "/sys") || !strcmp(path, "/dev")))
            continue;
        if (!renamed && snprintf(other, sizeof other, "%s.cage-probe-renamed", path) < (int)sizeof other) {
            renamed = 1;
            int ok = renameat2(AT_FDCWD, path, AT_FDCWD, other, RENAME_NOREPLACE) == 0;
            attempt(t, path, "rename", ok);
            if (ok && rename(other, path) < 0)
                fail_path("rename back", other);
        }
        struct stat st;
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 256)
            write_dir(t, path, depth + 1);
        else if (S_ISREG(st.st_mode))
            write_file(t, path);
    }
    for (int i = 0; i < n; i++)
        free(entries[i]);
    if (n >= 0)
        free(entries);
}

static int cmd_write_everywhere(char **args)
{
    (void)args;
    struct tally t = {0, 0};
    write_dir(&t, "/", 0);
    printf("attempts=%ld succeeded=%ld\n", t.attempts, t.succeeded);
    return 0;
}

static int cmd_cat(char **args)
{
    (void)args;
    char buf[65536];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail("read stdin");
        if (n == 0)
            return 0;
        if (write_all(1, buf, (size_t)n) < 0)
            return fail("write stdout");
    }
}

/* ---- processes and signals --------------------------------------------------------------- */

static int cmd_exit(char **args)
{
    long status;
    if (parse_long(args[0], 0, 255, &status) < 0)
        return bad_arg("exit status", args[0]);
    return (int)status;
}

static int cmd_kill_self(char **args)
{
    long sig;
    if (parse_long(args[0], 1, SIGRTMAX, &sig) < 0)
        return bad_arg("signal number", args[0]);
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigaction((int)sig, &sa, NULL); /* fails harmlessly for SIGKILL and SIGSTOP */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, (int)sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise((int)sig);
    sleep_seconds(1);
    fprintf(stderr, "cage-probe: kill-self: still alive after signal %ld%s\n", sig,
            getpid() == 1 ? " (pid 1 of its namespace ignores it)" : "");
    return 1;
}

static int cmd_sleep(char **args)
{
    double seconds;
    if (parse_seconds(args[0], &seconds) < 0)
        return bad_arg("seconds", args[0]);
    sleep_seconds(seconds);
    return 0;
}

static int cmd_daemon(char **args)
{
    double seconds;
    if (parse_seconds(args[0], &seconds) < 0)
        return bad_arg("seconds", args[0]);
    const char *pidfile = args[1];
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", pidfile) >= (int)sizeof tmp)
        return bad_arg("pid file", pidfile);
    if (unlink(pidfile) < 0 && errno != ENOENT)
        return fail_path("unlink", pidfile);

    pid_t child = fork();
    if (child < 0)
        return fail("fork");
    if (child == 0) {
        pid_t grandchild = fork();
        if (grandchild != 0)
            _exit(grandchild < 0 ? 1 : 0);
        /* The daemon: its own session, stdio off the caller's pipes, pid file written atomically. */
        setsid();
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2)
                close(null);
        }
        FILE *f = fopen(tmp, "we");
        if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f) != 0 || rename(tmp, pidfile) < 0)
            _exit(1);
        sleep_seconds(seconds);
        _exit(0);
    }
    int status;
    if (waitpid(child, &status, 0) < 0)
        return fail("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errno = ECHILD;
        return fail("daemon fork");
    }
    for (int i = 0; i < 1000; i++) {
        if (access(pidfile, F_OK) == 0)
            return 0;
        sleep_seconds(0.01);
    }
    errno = ETIMEDOUT;
    return fail_path("waiting for", pidfile);
}

static int cmd_spawn_sleepers(char **args)
{
    long n;
    double seconds;
    if (parse_long(args[0], 0, 10000, &n) < 0)
        return bad_arg("count", args[0]);
    if (parse_seconds(args[1], &seconds) < 0)
        return bad_arg("seconds", args[1]);
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return fail("fork");
        if (pid == 0) {
            sleep_seconds(seconds);
            _exit(0);
        }
    }
    printf("spawned=%ld\n", n);
    fflush(stdout);
    while (wait(NULL) > 0 || errno == EINTR) {
    }
    return 0;
}

/* hog MIB: allocate MIB MiB one MiB at a time, touching every page; "hogged=MIB" only if all of it fit. */
static int cmd_hog(char **args)
{
    long mib;
    if (parse_long(args[0], 1, 1 << 20, &mib) < 0)
        return bad_arg("MiB", args[0]);
    long page = sysconf(_SC_PAGESIZE);
    for (long i = 0; i < mib; i++) {
        char *chunk = malloc(1 << 20);
        if (!chunk)
            return fail("malloc");
        for (long off = 0; off < (1 << 20); off += page)
            chunk[off] = (char)(i + 1);
    }
    printf("hogged=%ld\n", mib);
    return 0;
}

/* fork-until-refused MAX HOLD: fork children that sleep HOLD+1 s until fork fails or MAX are up;
 * print "forked=N refused=ERRNAME" (refused=none when MAX was reached), then hold HOLD s. */
static int cmd_fork_until_refused(char **args)
{
    long max;
    double hold;
    if (parse_long(args[0], 0, 100000, &max) < 0)
        return bad_arg("count", args[0]);
    if (parse_seconds(args[1], &hold) < 0)
        return bad_arg("seconds", args[1]);
    long n = 0;
    const char *refused = "none";
    for (; n < max; n++) {
        pid_t pid = fork();
        if (pid < 0) {
            refused = errname(errno);
            break;
        }
        if (pid == 0) {
            sleep_seconds(hold + 1);
            _exit(0);
        }
    }
    printf("forked=%ld refused=%s\n", n, refused);
    fflush(stdout);
    sleep_seconds(hold);
    return 0;
}

/* busy SECONDS: spin for SECONDS of wall time; print the CPU time it got, "cpu_ms=N". */
static int cmd_busy(char **args)
{
    double seconds;
    if (parse_seconds(args[0], &seconds) < 0)
        return bad_arg("seconds", args[0]);
    struct timespec start, now, cpu;
    clock_gettime(CLOCK_MONOTONIC, &start);
    volatile unsigned long spin = 0;
    do {
        for (int i = 0; i < 100000; i++)
            spin++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    printf("cpu_ms=%ld\n", (long)cpu.tv_sec * 1000 + cpu.tv_nsec / 1000000);
    return 0;
}

static int count_zombies(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int zombies = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        if (fgets(buf, sizeof buf, f)) {
            const char *paren = strrchr(buf, ')'); /* comm may itself contain ')' */
            if (paren && paren[1] == ' ' && paren[2] == 'Z')
                zombies++;
        }
        fclose(f);
    }
    closedir(d);
    return zombies;
}

/* A forks B and exits; B outlives A by 0.2 s, so it dies an orphan that pid 1 must reap. */
static int cmd_zombie(char **args)
{
    (void)args;
    pid_t a = fork();
    if (a < 0)
        return fail("fork");
    if (a == 0) {
        pid_t b = fork();
        if (b == 0) {
            sleep_seconds(0.2);
            _exit(0);
        }
        _exit(b < 0 ? 1 : 0);
    }
    if (waitpid(a, NULL, 0) < 0)
        return fail("waitpid");
    sleep_seconds(0.5);
    int zombies = count_zombies();
    if (zombies < 0)
        return fail("open /proc");
    printf("zombies=%d\n", zombies);
    return 0;
}

static volatile sig_atomic_t got_signal;

static void record_signal(int sig)
{
    if (!got_signal)
        got_signal = sig;
}

static int cmd_signal_wait(char **args)
{
    (void)args;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
    sigset_t block, wait_mask;
    sigemptyset(&block);
    struct sigaction sa = {.sa_handler = record_signal};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        sigaddset(&block, sigs[i]);
        if (sigaction(sigs[i], &sa, NULL) < 0)
            return fail("sigaction");
    }
    /* Blocked until sigsuspend, so a signal sent right after "ready" is not lost. */
    if (sigprocmask(SIG_BLOCK, &block, &wait_mask) < 0)
        return fail("sigprocmask");
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigdelset(&wait_mask, sigs[i]);
    puts("ready");
    fflush(stdout);
    while (!got_signal)
        sigsuspend(&wait_mask);
    printf("got=SIG%s\n", sigabbrev_np(got_signal));
    return 0;
}

/* ---- system calls, for the seccomp tests --------------------------------------------------- */

#define SYSCALL_ENTRY(name) {#name, SYS_##name}
static const struct {
    const char *name;
    long number;
} syscall_table[] = {
    SYSCALL_ENTRY(acct), SYSCALL_ENTRY(add_key), SYSCALL_ENTRY(bpf), SYSCALL_ENTRY(clock_settime),
    SYSCALL_ENTRY(clone), SYSCALL_ENTRY(clone3), SYSCALL_ENTRY(delete_module), SYSCALL_ENTRY(execveat),
    SYSCALL_ENTRY(finit_module), SYSCALL_ENTRY(fsconfig), SYSCALL_ENTRY(fsmount), SYSCALL_ENTRY(fsopen),
    SYSCALL_ENTRY(fspick), SYSCALL_ENTRY(getpid), SYSCALL_ENTRY(getppid), SYSCALL_ENTRY(init_module), SYSCALL_ENTRY(io_uring_setup),
    SYSCALL_ENTRY(ioctl), SYSCALL_ENTRY(kexec_file_load), SYSCALL_ENTRY(kexec_load), SYSCALL_ENTRY(keyctl),
    SYSCALL_ENTRY(memfd_create), SYSCALL_ENTRY(mount), SYSCALL_ENTRY(move_mount),
    SYSCALL_ENTRY(name_to_handle_at), SYSCALL_ENTRY(open_by_handle_at), SYSCALL_ENTRY(open_tree),
    SYSCALL_ENTRY(perf_event_open), SYSCALL_ENTRY(personality), SYSCALL_ENTRY(pivot_root),
    SYSCALL_ENTRY(process_vm_readv), SYSCALL_ENTRY(process_vm_writev), SYSCALL_ENTRY(ptrace),
    SYSCALL_ENTRY(quotactl), SYSCALL_ENTRY(reboot), SYSCALL_ENTRY(request_key), SYSCALL_ENTRY(setns),
    SYSCALL_ENTRY(settimeofday), SYSCALL_ENTRY(socket), SYSCALL_ENTRY(socketpair), SYSCALL_ENTRY(swapoff),
    SYSCALL_ENTRY(swapon), SYSCALL_ENTRY(syslog), SYSCALL_ENTRY(umount2), SYSCALL_ENTRY(unshare),
    SYSCALL_ENTRY(userfaultfd), SYSCALL_ENTRY(vhangup),
#ifdef __x86_64__
    SYSCALL_ENTRY(iopl), SYSCALL_ENTRY(ioperm), SYSCALL_ENTRY(uselib),
#endif
};

/* A system call by name (or number), with numeric arguments; "buf" passes a zeroed buffer.
 * Prints "ok" or the errno's name. A clone that succeeds ends its child at once. */
static int cmd_syscall(char **args)
{
    static char buffer[4096];
    long number = -1;
    for (size_t i = 0; i < sizeof syscall_table / sizeof syscall_table[0]; i++)
        if (strcmp(args[0], syscall_table[i].name) == 0)
            number = syscall_table[i].number;
    if (number < 0 && parse_long(args[0], 0, 1L << 31, &number) != 0)
        return bad_arg("system call", args[0]);
    unsigned long a[6] = {0};
    for (int i = 0; i < 6 && args[i + 1]; i++)
        a[i] = strcmp(args[i + 1], "buf") == 0 ? (unsigned long)buffer : strtoul(args[i + 1], NULL, 0);
    long rc = syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (rc < 0) {
        printf("%s\n", errname(errno));
        return 0;
    }
    if ((number == SYS_clone || number == SYS_clone3) && rc == 0)
        _exit(0);
    if (number == SYS_clone || number == SYS_clone3)
        waitpid((pid_t)rc, NULL, __WALL);
    printf("ok\n");
    return 0;
}

/* A 32-bit system call through int 0x80 (x86_64 only): i386's getpid is 20. */
static int cmd_int80(char **args)
{
#ifdef __x86_64__
    long number, rc;
    if (parse_long(args[0], 0, 1000, &number) != 0)
        return bad_arg("system call number", args[0]);
    __asm__ volatile("int $0x80" : "=a"(rc) : "a"(number) : "memory");
    if (rc < 0 && rc > -4096)
        printf("%s\n", errname((int)-rc));
    else
        printf("ok\n");
    return 0;
#else
    (void)args;
    printf("unsupported\n");
    return 0;
#endif
}

/* ---- dispatch ---------------------------------------------------------------------------- */

struct command {
    const char *name;
    const char *usage; /* the arguments */
    int min_args;      /* extra arguments are ignored (tests add a token to find a process) */
    int (*run)(char **args);
};

static const struct command commands[] = {
    {"status", "", 0, cmd_status},
    {"ids", "", 0, cmd_ids},
    {"pid", "", 0, cmd_pid},
    {"cwd", "", 0, cmd_cwd},
    {"hostname", "", 0, cmd_hostname},
    {"isatty", "", 0, cmd_isatty},
    {"env", "", 0, cmd_env},
    {"ns", "", 0, cmd_ns},
    {"fds", "", 0, cmd_fds},
    {"stat", "PATH", 1, cmd_stat},
    {"readlink", "PATH", 1, cmd_readlink},
    {"kcore", "", 0, cmd_kcore},
    {"mount", "", 0, cmd_mount},
    {"umount", "PATH", 1, cmd_umount},
    {"open-write", "PATH", 1, cmd_open_write},
    {"try-write", "PATH...", 1, cmd_try_write},
    {"write-everywhere", "", 0, cmd_write_everywhere},
    {"cat", "", 0, cmd_cat},
    {"exit", "N", 1, cmd_exit},
    {"kill-self", "SIGNUM", 1, cmd_kill_self},
    {"sleep", "SECONDS", 1, cmd_sleep},
    {"daemon", "SECONDS PIDFILE", 2, cmd_daemon},
    {"spawn-sleepers", "N SECONDS", 2, cmd_spawn_sleepers},
    {"zombie", "", 0, cmd_zombie},
    {"hog", "MIB", 1, cmd_hog},
    {"fork-until-refused", "MAX HOLD-SECONDS", 2, cmd_fork_until_refused},
    {"busy", "SECONDS", 1, cmd_busy},
    {"signal-wait", "", 0, cmd_signal_wait},
    {"syscall", "NAME|NUMBER [ARG...]", 1, cmd_syscall},
    {"int80", "NUMBER", 1, cmd_int80},
};

static int usage(void)
{
    fputs("usage: cage-probe SUBCOMMAND [ARGS]\nsubcommands:\n", stderr);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(stderr, "  %s%s%s\n", commands[i].name, *commands[i].usage ? " " : "", commands[i].usage);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (argc - 2 < commands[i].min_args) {
            fprintf(stderr, "usage: cage-probe %s %s\n", commands[i].name, commands[i].usage);
            return 2;
        }
        return commands[i].run(argv + 2);
    }
    fprintf(stderr, "cage-probe: unknown subcommand '%s'\n", argv[1]);
    return usage();
}
