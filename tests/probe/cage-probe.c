/* cage-probe: a static multi-call helper that integration tests run INSIDE containers to
 * observe what the kernel allows. Usage: cage-probe SUBCOMMAND [ARGS]. Output is key=value
 * lines; unexpected failures print "cage-probe: <what>: <strerror>" and exit 1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
    fprintf(stderr, "cage-probe: %s: %s\n", what, strerror(errno));
    return 1;
}

static const char *errname(int e)
{
    switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EROFS: return "EROFS";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case EBUSY: return "EBUSY";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EEXIST: return "EEXIST";
    case ETXTBSY: return "ETXTBSY";
    case ENOTTY: return "ENOTTY";
    case ESRCH: return "ESRCH";
    case EXDEV: return "EXDEV";
    default: return "EOTHER";
    }
}

static void sleep_seconds(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int cmd_status(int argc, char **argv)
{
    (void)argc; (void)argv;
    static const char *keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
                                 "Seccomp", "Uid", "Gid", "Groups", NULL};
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return fail("open /proc/self/status");
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        for (int i = 0; keys[i]; i++) {
            if (strcmp(line, keys[i]) != 0)
                continue;
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            value[strcspn(value, "\n")] = '\0';
            for (char *p = value; *p; p++)
                if (*p == '\t')
                    *p = ' ';
            printf("%s=%s\n", keys[i], value);
        }
    }
    fclose(f);
    return 0;
}

static int cmd_ids(int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("uid=%d gid=%d euid=%d egid=%d\n", getuid(), getgid(), geteuid(), getegid());
    return 0;
}

static int cmd_pid(int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("pid=%d ppid=%d\n", getpid(), getppid());
    return 0;
}

static int cmd_cwd(int argc, char **argv)
{
    (void)argc; (void)argv;
    char buf[4096];
    if (!getcwd(buf, sizeof buf))
        return fail("getcwd");
    puts(buf);
    return 0;
}

static int cmd_hostname(int argc, char **argv)
{
    (void)argc; (void)argv;
    struct utsname u;
    uname(&u);
    puts(u.nodename);
    return 0;
}

static int cmd_isatty(int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("0=%d 1=%d 2=%d\n", isatty(0), isatty(1), isatty(2));
    if (isatty(0)) {
        char *name = ttyname(0);
        struct winsize ws;
        printf("tty=%s\n", name ? name : "?");
        if (ioctl(0, TIOCGWINSZ, &ws) == 0)
            printf("winsize=%ux%u\n", ws.ws_row, ws.ws_col);
    }
    return 0;
}

static int cmd_mount(int argc, char **argv)
{
    (void)argc; (void)argv;
    if (mount("none", "/mnt", "tmpfs", 0, NULL) == 0)
        puts("mount=ok");
    else
        printf("mount=%s\n", errname(errno));
    return 0;
}

static int cmd_umount(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (umount2(argv[1], MNT_DETACH) == 0)
        puts("umount=ok");
    else
        printf("umount=%s\n", errname(errno));
    return 0;
}

static int try_write_one(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        char child[4096];
        snprintf(child, sizeof child, "%s/cage-probe-new", path);
        int fd = open(child, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0)
            return errno;
        close(fd);
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return errno;
    int rc = write(fd, "cage-probe-was-here\n", 20) == 20 ? 0 : errno;
    close(fd);
    return rc;
}

static int cmd_try_write(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int rc = try_write_one(argv[i]);
        printf("%s %s\n", argv[i], rc == 0 ? "ok" : errname(rc));
    }
    return 0;
}

static long attempts, successes;

static void note(const char *path, const char *what, int ok)
{
    attempts++;
    if (ok) {
        successes++;
        printf("wrote %s (%s)\n", path, what);
    }
}

static void write_everywhere(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/.cage-probe", strcmp(dir, "/") ? dir : "");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    note(path, "create", fd >= 0);
    if (fd >= 0)
        close(fd);
    note(dir, "mkdir", mkdir(strcat(strcpy(path, strcmp(dir, "/") ? dir : ""), "/.cage-probe-dir"), 0755) == 0);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strncmp(e->d_name, ".cage-probe", 11))
            continue;
        snprintf(path, sizeof path, "%s/%s", strcmp(dir, "/") ? dir : "", e->d_name);
        if (!strcmp(path, "/proc") || !strcmp(path, "/sys") || !strcmp(path, "/dev"))
            continue;
        struct stat st;
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            write_everywhere(path);
            continue;
        }
        if (S_ISREG(st.st_mode)) {
            int wfd = open(path, O_WRONLY | O_APPEND);
            note(path, "append", wfd >= 0 && write(wfd, "x", 1) == 1);
            if (wfd >= 0)
                close(wfd);
            note(path, "chmod", chmod(path, 0777) == 0);
            struct timespec zero[2] = {{0, 0}, {0, 0}};
            note(path, "utimes", utimensat(AT_FDCWD, path, zero, 0) == 0);
        }
        char renamed[4200];
        snprintf(renamed, sizeof renamed, "%s.cage-probe-renamed", path);
        if (rename(path, renamed) == 0) {
            note(path, "rename", 1);
            rename(renamed, path);
        } else {
            note(path, "rename", 0);
        }
    }
    closedir(d);
}

static int cmd_write_everywhere(int argc, char **argv)
{
    (void)argc; (void)argv;
    write_everywhere("/");
    printf("attempts=%ld succeeded=%ld\n", attempts, successes);
    return 0;
}

static int cmd_kcore(int argc, char **argv)
{
    (void)argc; (void)argv;
    int fd = open("/proc/kcore", O_RDONLY);
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

static int cmd_readlink(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    char buf[4096];
    ssize_t n = readlink(argv[1], buf, sizeof buf - 1);
    if (n < 0) {
        printf("error=%s\n", errname(errno));
        return 1;
    }
    buf[n] = '\0';
    puts(buf);
    return 0;
}

static int cmd_ns(int argc, char **argv)
{
    (void)argc; (void)argv;
    static const char *names[] = {"cgroup", "ipc", "mnt", "net", "pid", "user", "uts", NULL};
    for (int i = 0; names[i]; i++) {
        char path[64], buf[128];
        snprintf(path, sizeof path, "/proc/self/ns/%s", names[i]);
        ssize_t n = readlink(path, buf, sizeof buf - 1);
        buf[n < 0 ? 0 : n] = '\0';
        printf("%s=%s\n", names[i], buf);
    }
    return 0;
}

static int cmd_exit(int argc, char **argv)
{
    return argc > 1 ? atoi(argv[1]) : 0;
}

static int cmd_kill_self(int argc, char **argv)
{
    int sig = argc > 1 ? atoi(argv[1]) : SIGTERM;
    signal(sig, SIG_DFL);
    raise(sig);
    sleep_seconds(1);
    return 1;
}

static int cmd_sleep(int argc, char **argv)
{
    sleep_seconds(argc > 1 ? atof(argv[1]) : 1);
    return 0;
}

static int cmd_daemon(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    double seconds = atof(argv[1]);
    pid_t child = fork();
    if (child < 0)
        return fail("fork");
    if (child == 0) {
        setsid();
        if (fork() != 0)
            _exit(0);
        FILE *f = fopen(argv[2], "w");
        if (f) {
            fprintf(f, "%d\n", getpid());
            fclose(f);
        }
        sleep_seconds(seconds);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    for (int i = 0; i < 200 && access(argv[2], F_OK) != 0; i++)
        sleep_seconds(0.01);
    return 0;
}

static int cmd_spawn_sleepers(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2;
    double seconds = argc > 2 ? atof(argv[2]) : 10;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            sleep_seconds(seconds);
            _exit(0);
        }
    }
    printf("spawned=%d\n", n);
    fflush(stdout);
    while (wait(NULL) > 0) {
    }
    return 0;
}

static int count_zombies(void)
{
    DIR *d = opendir("/proc");
    int zombies = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(buf, sizeof buf, f)) {
            char *paren = strrchr(buf, ')');
            if (paren && paren[1] == ' ' && paren[2] == 'Z')
                zombies++;
        }
        fclose(f);
    }
    if (d)
        closedir(d);
    return zombies;
}

static int cmd_zombie(int argc, char **argv)
{
    (void)argc; (void)argv;
    pid_t a = fork();
    if (a == 0) {
        if (fork() == 0) {
            sleep_seconds(0.2);
            _exit(0);
        }
        _exit(0);
    }
    waitpid(a, NULL, 0);
    sleep_seconds(0.6);
    printf("zombies=%d\n", count_zombies());
    return 0;
}

static int cmd_cat(int argc, char **argv)
{
    (void)argc; (void)argv;
    char buf[65536];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            if (w <= 0)
                return fail("write");
            off += w;
        }
    }
    return n < 0 ? fail("read") : 0;
}

static int compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_env(int argc, char **argv)
{
    (void)argc; (void)argv;
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    qsort(environ, n, sizeof(char *), compare);
    for (size_t i = 0; i < n; i++)
        puts(environ[i]);
    return 0;
}

static volatile sig_atomic_t got_signal;
static void record(int sig) { got_signal = sig; }

static int cmd_signal_wait(int argc, char **argv)
{
    (void)argc; (void)argv;
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
    for (int i = 0; i < 4; i++)
        signal(sigs[i], record);
    puts("ready");
    fflush(stdout);
    while (!got_signal)
        pause();
    printf("got=SIG%s\n", sigabbrev_np(got_signal));
    return 0;
}

static int cmd_fds(int argc, char **argv)
{
    (void)argc; (void)argv;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return fail("open /proc/self/fd");
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == self)
            continue;
        char path[300], target[4096];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = '\0';
        printf("%s -> %s\n", e->d_name, target);
    }
    closedir(d);
    return 0;
}

static int cmd_stat(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    struct stat st;
    if (lstat(argv[1], &st) < 0) {
        printf("error=%s\n", errname(errno));
        return 1;
    }
    const char *type = S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir"
                     : S_ISCHR(st.st_mode) ? "char" : S_ISLNK(st.st_mode) ? "link" : "other";
    printf("uid=%u gid=%u mode=%o type=%s rdev=%u:%u\n", st.st_uid, st.st_gid, st.st_mode & 07777, type,
           major(st.st_rdev), minor(st.st_rdev));
    return 0;
}

static int cmd_open_write(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int fd = open(argv[1], O_WRONLY);
    if (fd < 0)
        printf("open=%s\n", errname(errno));
    else
        puts("open=ok");
    return 0;
}

struct command {
    const char *name;
    int (*run)(int, char **);
};

static const struct command commands[] = {
    {"status", cmd_status},       {"ids", cmd_ids},
    {"pid", cmd_pid},             {"cwd", cmd_cwd},
    {"hostname", cmd_hostname},   {"isatty", cmd_isatty},
    {"mount", cmd_mount},         {"umount", cmd_umount},
    {"try-write", cmd_try_write}, {"write-everywhere", cmd_write_everywhere},
    {"kcore", cmd_kcore},         {"readlink", cmd_readlink},
    {"ns", cmd_ns},               {"exit", cmd_exit},
    {"kill-self", cmd_kill_self}, {"sleep", cmd_sleep},
    {"daemon", cmd_daemon},       {"spawn-sleepers", cmd_spawn_sleepers},
    {"zombie", cmd_zombie},       {"cat", cmd_cat},
    {"env", cmd_env},             {"signal-wait", cmd_signal_wait},
    {"fds", cmd_fds},             {"stat", cmd_stat},
    {"open-write", cmd_open_write},
};

int main(int argc, char **argv)
{
    if (argc >= 2)
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            if (strcmp(argv[1], commands[i].name) == 0)
                return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "usage: cage-probe SUBCOMMAND [ARGS]; subcommands:");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(stderr, " %s", commands[i].name);
    fputc('\n', stderr);
    return 2;
}
