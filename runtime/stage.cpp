// The orchestrator: what happens, in order, to start a container. Each step lives in the
// file of its kernel facility; this file only lists them.
//
//   parent (cage)                          pid 1 (in all new namespaces)        command
//   check the spec, stat every source
//   plan the id maps
//   block stop/resize signals
//   clone3(all namespaces, CLONE_PIDFD) ──▶ (mount, UTS, IPC, net namespaces when clone3
//   (the user, PID and cgroup ones only    left them out); private mounts, hostname,
//   when newuidmap writes the maps);       loopback (no id needs a map for these);
//   (move pid 1 into its cgroup if         wait for "go"
//   neither clone3 nor pid 1 can do it)
//   write uid/gid maps (as root: send      (cgroup namespace, unless the cgroup is
//   each layer idmapped), send "go" ─────▶ made late); attach idmapped layers; open
//   (as root: send each bind idmapped)     sources by path, check they are what the
//   (a v1 cgroup: make it now, send        parent saw; (as root: become container
//   its tasks file)                        root, the host's root being no id here);
//                                          overlay root, /proc, /sys, /dev, /tmp,
//                                          binds, masked paths, read-only root;
//                                          pivot_root; (a late cgroup: move itself
//                                          in, cgroup namespace); pty
//   receive the pty master  ◀──────────── send it
//                                          fork ──────────────────────────────▶ session, rlimits, caps,
//                                          (as root: take the command's ids);   ids, no_new_privs, cwd,
//                                          drop own caps; reap + forward        close-on-exec,
//   receive the seccomp listener  ◀─────── signals until the command ends ───── seccomp, execve
//   supervise (pidfd, signals, timeout, pty relay, seccomp refusals); collect the status
//
// As root, where a layer or a bind cannot be idmapped, the parent kills pid 1 before the
// command starts and starts again with the container's user as host root (see run).
#include <cage/cage.hpp>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdio>
#include <optional>

#include "runtime/caps.hpp"
#include "runtime/cgroups.hpp"
#include "runtime/devices.hpp"
#include "runtime/idmap.hpp"
#include "runtime/init.hpp"
#include "runtime/masked.hpp"
#include "runtime/mounts.hpp"
#include "runtime/namespaces.hpp"
#include "runtime/network.hpp"
#include "runtime/rootfs.hpp"
#include "runtime/safe_path.hpp"
#include "runtime/seccomp.hpp"
#include "runtime/security.hpp"
#include "runtime/supervise.hpp"
#include "runtime/sync.hpp"
#include "runtime/sys.hpp"
#include "runtime/terminal.hpp"
#include "runtime/usernet.hpp"
#include "runtime/util.hpp"

extern char** environ;

namespace cage::runtime {
namespace {

struct Identity {
    dev_t device = 0;
    ino_t inode = 0;
    bool is_directory = false;
};

// What the parent learned before any namespace existed.
struct Prepared {
    idmap::Plan maps;
    std::vector<Identity> lowers;
    std::vector<Identity> binds;
    std::optional<winsize> window;
    seccomp::Filter audited_filter;  // spec.seccomp with refusals sent to the supervisor
    std::unique_ptr<cgroups::Manager> cgroup;  // limits written; removed when this goes
    std::uint64_t made_by_pid1 = 0;  // namespaces pid 1 unshares itself (namespaces::made_by_pid1)
    std::string resolv_conf;         // the container's /etc/resolv.conf; empty: the image's
};

// Spec::resolv_conf, or what the network calls for.
std::string resolv_conf_of(const Spec& spec)
{
    if (spec.resolv_conf)
        return *spec.resolv_conf;
    if (spec.network == Network::slirp4netns)
        return "nameserver " + std::string(usernet::dns_server) + "\n";
    if (spec.network == Network::host)
        return read_small_file("/etc/resolv.conf").value_or("");
    return {};
}

Expected<Identity> identify(const std::string& path, const char* role)
{
    struct stat st{};
    if (::stat(path.c_str(), &st) < 0) {
        auto error = errno_error(std::string("cannot use the ") + role, path);
        return std::unexpected(error);
    }
    return Identity{st.st_dev, st.st_ino, S_ISDIR(st.st_mode)};
}

// A source opened again (by pid 1, in its mount namespace: a descriptor from the host's
// namespace cannot be cloned there) must still be the object the parent checked.
Expected<void> check_identity(int fd, const Identity& expected, const std::string& path)
{
    struct stat st{};
    if (::fstat(fd, &st) < 0)
        return std::unexpected(errno_error("inspect", path));
    if (st.st_dev != expected.device || st.st_ino != expected.inode)
        return std::unexpected(plain_error("the path changed while the container was starting", path));
    return {};
}

Expected<void> check_spec(const Spec& spec)
{
    if (spec.args.empty())
        return std::unexpected(plain_error("no command given", {}, "name the command to run"));
    if (spec.lower_dirs.empty())
        return std::unexpected(plain_error("no root filesystem given", {}, "give a rootfs directory"));
    if (spec.cwd.empty() || spec.cwd.front() != '/')
        return std::unexpected(plain_error("the working directory must be an absolute path", spec.cwd));
    for (const auto& bind : spec.binds)
        if (bind.destination.empty() || bind.destination.front() != '/')
            return std::unexpected(plain_error("a mount destination must be an absolute path", bind.destination));
    return {};
}

std::function<void(const std::string&)> warn_of(const Spec& spec)
{
    if (spec.warn)
        return spec.warn;
    return [](const std::string& text) { std::fprintf(stderr, "cage: warning: %s\n", text.c_str()); };
}

// The id maps. As root they are shifted unless this start is the fallback where they cannot
// be (see run): then the container user is host root, which the caller protects against first.
Expected<idmap::Plan> plan_maps(const Spec& spec, bool host_root)
{
    auto maps = host_root ? idmap::map_host_root(spec.uid, spec.gid) : CAGE_TRY(idmap::plan(spec.uid, spec.gid, warn_of(spec)));
    if (maps.host_root_inside() && spec.before_host_root)
        CAGE_TRY(spec.before_host_root());
    return maps;
}

// A kept upper directory. With shifted maps it belongs to the container's root, who writes
// it through the overlay and is no longer host root.
Expected<void> make_upper_directories(const Spec& spec, const idmap::Plan& maps)
{
    auto work = mounts::work_dir_of(spec.upper_dir);
    if (!make_host_directories(spec.upper_dir, 0755) || !make_host_directories(work, 0700))
        return std::unexpected(errno_error("create the upper directory", spec.upper_dir));
    if (!maps.shifted())
        return {};
    for (const auto& path : {spec.upper_dir, work}) {
        UniqueFd directory(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!directory || ::fchown(directory.get(), maps.uid_map.front().outside, maps.gid_map.front().outside) < 0)
            return std::unexpected(errno_error("give the upper directory to the container's root", path));
    }
    return {};
}

Expected<Prepared> prepare(const Spec& spec, bool host_root)
{
    CAGE_TRY(check_spec(spec));
    Prepared prepared;
    for (const auto& lower : spec.lower_dirs) {
        auto identity = CAGE_TRY(identify(lower, "root filesystem"));
        if (!identity.is_directory) {
            errno = ENOTDIR;
            return std::unexpected(errno_error("cannot use the root filesystem", lower));
        }
        prepared.lowers.push_back(identity);
    }
    for (const auto& bind : spec.binds)
        prepared.binds.push_back(CAGE_TRY(identify(bind.source, "mount source")));
    prepared.maps = CAGE_TRY(plan_maps(spec, host_root));
    if (!spec.upper_dir.empty())
        CAGE_TRY(make_upper_directories(spec, prepared.maps));
    if (prepared.maps.method == idmap::Method::helper)
        prepared.made_by_pid1 = namespaces::made_by_pid1(spec);
    prepared.resolv_conf = resolv_conf_of(spec);
    if (spec.terminal)
        prepared.window = terminal::window_size(STDIN_FILENO);
    if (!spec.seccomp.empty()) {
        CAGE_TRY(seccomp::check_loadable(spec.seccomp));
        prepared.audited_filter = seccomp::with_notifications(spec.seccomp);
    }
    prepared.cgroup = CAGE_TRY(cgroups::make_manager(spec.limits, spec.warn_limits ? spec.warn_limits : warn_of(spec)));
    return prepared;
}

// --- pid 1: building the container --------------------------------------------------------

// Idmapped layers (see send_idmapped_layers) go where the layers are, in this mount
// namespace: the overlay takes its layers from here (before Linux 6.15 it clones no detached
// mount), and open_lower_dirs then finds them by path.
Expected<void> attach_idmapped_layers(const Spec& spec, const std::vector<UniqueFd>& layers)
{
    if (layers.empty())
        return {};
    if (layers.size() != spec.lower_dirs.size())
        return std::unexpected(plain_error("cage sent the wrong number of mounts"));
    for (std::size_t i = 0; i < layers.size(); ++i) {
        UniqueFd target(::open(spec.lower_dirs[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!target)
            return std::unexpected(errno_error("open the root filesystem", spec.lower_dirs[i]));
        CAGE_TRY(mounts::attach(layers[i].get(), target.get(), spec.lower_dirs[i]));
    }
    return {};
}

Expected<std::vector<UniqueFd>> open_lower_dirs(const Spec& spec, const Prepared& prepared)
{
    std::vector<UniqueFd> lowers;
    for (std::size_t i = 0; i < spec.lower_dirs.size(); ++i) {
        UniqueFd fd(::open(spec.lower_dirs[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!fd)
            return std::unexpected(errno_error("open the root filesystem", spec.lower_dirs[i]));
        CAGE_TRY(check_identity(fd.get(), prepared.lowers[i], spec.lower_dirs[i]));
        lowers.push_back(std::move(fd));
    }
    return lowers;
}

Expected<std::vector<UniqueFd>> clone_bind_sources(const Spec& spec, const Prepared& prepared)
{
    std::vector<UniqueFd> trees;
    for (std::size_t i = 0; i < spec.binds.size(); ++i) {
        auto tree = CAGE_TRY(mounts::clone_tree(AT_FDCWD, spec.binds[i].source, true));
        CAGE_TRY(check_identity(tree.get(), prepared.binds[i], spec.binds[i].source));
        trees.push_back(std::move(tree));
    }
    return trees;
}

// A read-only root with nowhere to keep writes needs no upper layer when the mount points
// are all there already (a mount point the root lacks is created in the upper layer).
bool mount_points_exist(const Spec& spec, const Prepared& prepared, int layer_fd)
{
    for (const char* directory : {"/proc", "/sys", "/dev", "/tmp"})
        if (!safe_path::open_in_root(layer_fd, directory, O_PATH | O_DIRECTORY))
            return false;
    for (std::size_t i = 0; i < spec.binds.size(); ++i) {
        struct stat target{};
        auto existing = safe_path::open_in_root(layer_fd, spec.binds[i].destination, O_PATH);
        if (!existing || ::fstat(existing->get(), &target) < 0 || prepared.binds[i].is_directory != S_ISDIR(target.st_mode))
            return false;
    }
    struct stat resolv{};
    auto existing = safe_path::open_in_root(layer_fd, "/etc/resolv.conf", O_PATH);
    return prepared.resolv_conf.empty() || (existing && ::fstat(existing->get(), &resolv) == 0 && !S_ISDIR(resolv.st_mode));
}

// What pid 1 finds on the host by path. It opens it all with cage's own ids, before it may
// take the container root's (see take_ids), which could not pass a directory of
// host root's closed to others.
struct HostPaths {
    std::vector<UniqueFd> lowers;
    std::vector<UniqueFd> sources;  // of the binds (shifted maps: cage sends them, see receive_binds)
    mounts::UpperDirectory kept;    // a kept upper directory (none: a tmpfs of this namespace)
};

Expected<mounts::UpperDirectory> open_upper_directory(const Spec& spec)
{
    mounts::UpperDirectory kept;
    if (spec.upper_dir.empty())
        return kept;
    auto work = mounts::work_dir_of(spec.upper_dir);
    kept.upper.reset(::open(spec.upper_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    kept.work.reset(::open(work.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!kept.upper || !kept.work)
        return std::unexpected(errno_error("open the upper directory", spec.upper_dir));
    return kept;
}

Expected<HostPaths> open_host_paths(const Spec& spec, const Prepared& prepared, const std::vector<UniqueFd>& layers)
{
    HostPaths paths;
    CAGE_TRY(attach_idmapped_layers(spec, layers));
    paths.lowers = CAGE_TRY(open_lower_dirs(spec, prepared));
    if (!prepared.maps.shifted())
        paths.sources = CAGE_TRY(clone_bind_sources(spec, prepared));
    paths.kept = CAGE_TRY(open_upper_directory(spec));
    return paths;
}

// Shifted maps: the idmapped binds cage makes while this process builds the root, one "bind"
// message each after "go" (see send_idmapped_binds). Cage kills this process instead when
// they cannot be made.
Expected<std::vector<UniqueFd>> receive_binds(const sync::Channel& channel, std::size_t count)
{
    std::vector<UniqueFd> binds;
    while (binds.size() < count) {
        auto received = CAGE_TRY(channel.receive());
        if (!received)
            ::_exit(exit_cage_error);  // cage is gone
        if (received->message.type != sync::MsgType::bind || !received->fd)
            return std::unexpected(plain_error("unexpected message from cage while waiting for the mounts"));
        binds.push_back(std::move(received->fd));
    }
    return binds;
}

// Shifted maps: pid 1 starts with cage's ids, host root's, which name nothing in here. It
// takes the container root's to build the root (creating a file would otherwise fail with
// EOVERFLOW), then the command's user's (to signal the command without CAP_KILL). Any change
// of ids clears the parent-death signal: it is set again, and cage checked to be still there.
Expected<void> take_ids(uid_t uid, gid_t gid, const sync::Channel& channel)
{
    if (::setgroups(0, nullptr) < 0 || ::setresgid(gid, gid, gid) < 0 || ::setresuid(uid, uid, uid) < 0)
        return std::unexpected(errno_error("give pid 1 the ids " + std::to_string(uid) + ":" + std::to_string(gid)));
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    pollfd cage{channel.fd(), POLLRDHUP, 0};
    if (::poll(&cage, 1, 0) > 0 && (cage.revents & (POLLHUP | POLLRDHUP)))
        ::_exit(exit_cage_error);
    return {};
}

Expected<UniqueFd> root_mount(const Spec& spec, const Prepared& prepared, const HostPaths& paths)
{
    bool read_only = spec.read_only_root && !paths.kept.upper && paths.lowers.size() == 1;
    if (read_only && mount_points_exist(spec, prepared, paths.lowers.front().get()))
        return mounts::read_only_layer(paths.lowers.front().get());
    return mounts::overlay_root(spec, paths.lowers, paths.kept);
}

// What needs no id map: it runs while the parent writes the maps (for a subordinate range,
// newuidmap and newgidmap take milliseconds). Files made in a filesystem of this namespace
// would belong to an unmapped id until then, so the root is built after "go".
Expected<void> set_up_before_maps(const Spec& spec, std::uint64_t made_by_pid1)
{
    if (made_by_pid1 && ::unshare(static_cast<int>(made_by_pid1)) < 0)
        return std::unexpected(errno_error("create the container's namespaces (unshare)"));
    if (auto privately = mounts::make_everything_private(); !privately) {
        // The first privileged step: an LSM that lets the namespace exist but strips its
        // capabilities (Ubuntu's AppArmor restriction) shows up here.
        if (privately.error().errnum == EPERM)
            return std::unexpected(namespaces::userns_refused("set up the mount namespace", EPERM));
        return privately;
    }
    if (::sethostname(spec.hostname.data(), spec.hostname.size()) < 0)
        return std::unexpected(errno_error("set the hostname", spec.hostname));
    if (spec.network != Network::host)  // (slirp4netns brings it up too, but maybe later)
        CAGE_TRY(network::bring_up_loopback());
    return {};
}

Expected<void> build_root(const Spec& spec, const Prepared& prepared, HostPaths& paths, const sync::Channel& channel)
{
    auto root = CAGE_TRY(root_mount(spec, prepared, paths));
    // Attach the root somewhere in this namespace (over its own top layer: nothing else here
    // will look there) so that mounts can go under it.
    CAGE_TRY(mounts::attach(root.get(), paths.lowers.front().get(), spec.lower_dirs.front()));
    CAGE_TRY(mounts::mount_proc(root.get()));
    CAGE_TRY(mounts::mount_sys(root.get(), spec.network));
    // /dev, /dev/shm and /tmp are container root's, as on any system.
    auto owner = mounts::root_owned(prepared.maps.method != idmap::Method::single);
    CAGE_TRY(devices::mount_dev(root.get(), owner));
    CAGE_TRY(mounts::mount_tmp(root.get(), owner));
    if (prepared.maps.shifted())
        paths.sources = CAGE_TRY(receive_binds(channel, spec.binds.size()));
    for (std::size_t i = 0; i < spec.binds.size(); ++i)
        CAGE_TRY(mounts::bind_into_root(root.get(), paths.sources[i].get(), spec.binds[i]));
    if (!prepared.resolv_conf.empty())
        CAGE_TRY(mounts::file_into_root(root.get(), "/etc/resolv.conf", prepared.resolv_conf, owner));
    CAGE_TRY(masked::apply(root.get()));
    if (spec.read_only_root)
        CAGE_TRY(rootfs::make_root_read_only(root.get()));
    return rootfs::pivot_into(root.get());
}

// pid 1 is a fork of cage, not an exec: it still holds what cage inherited. Close every
// descriptor but stdio and the sync socket, and wipe the caller's environment strings, which
// /proc/1/environ would otherwise show (to the host: pid 1 is non-dumpable inside).
Expected<void> shed_inheritance(int keep_fd)
{
    if ((keep_fd > 3 && sys::close_range(3, static_cast<unsigned>(keep_fd) - 1, 0) < 0) ||
        sys::close_range(static_cast<unsigned>(keep_fd) + 1, ~0U, 0) < 0)
        return std::unexpected(errno_error("close the descriptors pid 1 inherited"));
    for (char** entry = environ; entry && *entry; ++entry)
        std::memset(*entry, 0, std::strlen(*entry));
    ::clearenv();
    return {};
}

// pid 1 keeps nothing it does not need while it waits for the command.
Expected<void> restrict_init(const Spec& spec, const Prepared& prepared, const sync::Channel& channel)
{
    CAGE_TRY(shed_inheritance(channel.fd()));
    CAGE_TRY(caps::drop_bounding_set());
    if (prepared.maps.shifted())
        CAGE_TRY(take_ids(spec.uid, spec.gid, channel));
    // (After any change of ids: that resets it to the fs.suid_dumpable sysctl.)
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return std::unexpected(errno_error("make pid 1 non-dumpable"));
    CAGE_TRY(caps::clear_all());
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return std::unexpected(errno_error("set no_new_privs on pid 1"));
    return {};
}

Expected<pid_t> start_command(const Spec& spec, const Prepared& prepared, const sync::Channel& channel)
{
    std::optional<terminal::Pty> pty;
    if (spec.terminal) {
        pty = CAGE_TRY(terminal::open_pty(prepared.window));
        // The terminal is its user's (pid 1 may be another id): a tool like screen checks.
        if (::fchown(pty->slave.get(), spec.uid, spec.gid) < 0)
            return std::unexpected(errno_error("give the terminal to the container's user"));
        CAGE_TRY(channel.send(sync::Message{sync::MsgType::pty_master}, pty->master.get()));
        pty->master.reset();
    }
    pid_t command = ::fork();
    if (command < 0)
        return std::unexpected(errno_error("fork the command"));
    if (command == 0) {
        ::prctl(PR_SET_NAME, "cage-exec", 0, 0, 0);
        auto hand_over = [&](int listener) {
            return channel.send(sync::Message{sync::MsgType::seccomp_listener}, listener);
        };
        security::ExecContext context{spec, prepared.maps.can_setgroups(), pty ? pty->slave.get() : -1,
                                      spec.seccomp, prepared.audited_filter, hand_over,
                                      prepared.cgroup->nproc_fallback()};
        auto error = security::exec_command(context);
        (void)channel.send(sync::error_message(error));
        ::_exit(error.exit_code);
    }
    return command;
}

[[noreturn]] void fail(const sync::Channel& channel, const Error& error)
{
    (void)channel.send(sync::error_message(error));
    ::_exit(error.exit_code);
}

// Moves pid 1 into the container's cgroup through TASKS where the manager lets it (see
// self_enter_fd; -1: the parent moved it), then makes its cgroup namespace there.
Expected<void> enter_cgroup(int tasks)
{
    if (tasks >= 0) {
        bool moved = ::write(tasks, "0", 1) == 1;
        auto error = errno_error("move the container into its cgroup");
        ::close(tasks);
        if (!moved)
            return std::unexpected(error);
    }
    if (::unshare(CLONE_NEWCGROUP) < 0)
        return std::unexpected(errno_error("create the container's cgroup namespace"));
    return {};
}

// A cgroup made after clone3 (made_late): the parent sends its "tasks" file once it exists.
Expected<void> enter_late_cgroup(const sync::Channel& channel)
{
    auto received = CAGE_TRY(channel.receive());
    if (!received)  // cage is gone, or failed to make the cgroup
        ::_exit(exit_cage_error);
    if (received->message.type != sync::MsgType::cgroup || !received->fd)
        return std::unexpected(plain_error("unexpected message from cage while waiting for the cgroup"));
    return enter_cgroup(received->fd.release());
}

// The user-mode network: the command starts once slirp4netns has configured tap0.
Expected<void> wait_for_network(const sync::Channel& channel)
{
    auto received = CAGE_TRY(channel.receive());
    if (!received)  // cage is gone, or slirp4netns failed (cage says why)
        ::_exit(exit_cage_error);
    if (received->message.type != sync::MsgType::network)
        return std::unexpected(plain_error("unexpected message from cage while waiting for the network"));
    return {};
}

// Zero or more "layer" messages (the idmapped layers), then "go"; nullopt when cage is gone.
std::optional<std::vector<UniqueFd>> wait_for_go(const sync::Channel& channel)
{
    std::vector<UniqueFd> layers;
    while (true) {
        auto received = channel.receive();
        if (!received || !*received)
            return std::nullopt;
        if ((*received)->message.type == sync::MsgType::go)
            return layers;
        if ((*received)->message.type != sync::MsgType::layer || !(*received)->fd)
            return std::nullopt;
        layers.push_back(std::move((*received)->fd));
    }
}

// cgroupns_now: clone3 made no cgroup namespace, nor put this process in the container's
// cgroup (see clone_into_cgroup).
[[noreturn]] void container_main(const Spec& spec, const Prepared& prepared, const sync::Channel& channel,
                                 bool cgroupns_now)
{
    // If cage dies, so does the container (and with pid 1, everything in it).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    ::prctl(PR_SET_NAME, "cage-init", 0, 0, 0);
    init::block_signals();
    auto early = set_up_before_maps(spec, prepared.made_by_pid1);
    auto idmapped = wait_for_go(channel);
    if (!idmapped)  // cage is gone, or failed to write the maps
        ::_exit(exit_cage_error);
    if (!early)
        fail(channel, early.error());
    bool late_cgroup = prepared.cgroup->made_late();
    if (cgroupns_now && !late_cgroup)
        if (auto entered = enter_cgroup(prepared.cgroup->self_enter_fd()); !entered)
            fail(channel, entered.error());

    auto paths = open_host_paths(spec, prepared, *idmapped);
    if (!paths)
        fail(channel, paths.error());
    if (prepared.maps.shifted())
        if (auto became = take_ids(0, 0, channel); !became)
            fail(channel, became.error());
    if (auto built = build_root(spec, prepared, *paths, channel); !built)
        fail(channel, built.error());
    if (late_cgroup)
        if (auto entered = enter_late_cgroup(channel); !entered)
            fail(channel, entered.error());
    if (spec.network == Network::slirp4netns)
        if (auto up = wait_for_network(channel); !up)
            fail(channel, up.error());
    auto command = start_command(spec, prepared, channel);
    if (!command)
        fail(channel, command.error());
    if (auto restricted = restrict_init(spec, prepared, channel); !restricted)
        fail(channel, restricted.error());
    init::run(*command, channel);
}

// --- the parent -----------------------------------------------------------------------------

class BlockedSignals {
public:
    explicit BlockedSignals(const sigset_t& set) { ::sigprocmask(SIG_BLOCK, &set, &saved_); }
    BlockedSignals(const BlockedSignals&) = delete;
    BlockedSignals& operator=(const BlockedSignals&) = delete;
    ~BlockedSignals() { ::sigprocmask(SIG_SETMASK, &saved_, nullptr); }

private:
    sigset_t saved_{};
};

// Kills and reaps the container unless it was reaped normally.
class ContainerGuard {
public:
    explicit ContainerGuard(int pidfd) : pidfd_(pidfd) {}
    ContainerGuard(const ContainerGuard&) = delete;
    ContainerGuard& operator=(const ContainerGuard&) = delete;
    ~ContainerGuard()
    {
        sys::pidfd_send_signal(pidfd_.get(), SIGKILL);
        siginfo_t info{};
        ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED);
    }
    int pidfd() const { return pidfd_.get(); }

private:
    UniqueFd pidfd_;
};

// An idmapped clone through USERNS of each of PATHS, checked to be what the parent identified,
// sent to pid 1 as one TYPE message each (ATTRIBUTES: MOUNT_ATTR_* set with the idmapping).
// False, with nothing sent: the kernel or a filesystem cannot idmap.
Expected<bool> send_idmapped(const std::vector<std::string>& paths, const std::vector<Identity>& identities,
                             int userns, bool recursive, std::uint64_t attributes, sync::MsgType type,
                             const sync::Channel& channel)
{
    std::vector<UniqueFd> clones;
    for (std::size_t i = 0; i < paths.size(); ++i) {
        auto clone = mounts::idmapped_clone(paths[i], userns, recursive, attributes);
        if (!clone && mounts::cannot_idmap(clone.error().errnum))
            return false;
        if (!clone)
            return std::unexpected(clone.error());
        CAGE_TRY(check_identity(clone->get(), identities[i], paths[i]));
        clones.push_back(std::move(*clone));
    }
    for (const auto& clone : clones)
        CAGE_TRY(channel.send(sync::Message{type}, clone.get()));
    return true;
}

// As root the layers' files, owned by root on disk, would show as nobody's (shifted maps) or
// as the container user's (host root inside). Root idmaps each layer through the container's
// user namespace instead: an owner on disk shows as that id inside (0 as root, 1000 as the
// agent). One "layer" message per layer, before "go". False: the kernel or a filesystem
// cannot idmap, which only the shifted maps need (the layers otherwise show their host owners).
Expected<bool> send_idmapped_layers(const Spec& spec, const Prepared& prepared, pid_t pid,
                                    const sync::Channel& channel)
{
    // Overlay takes idmapped layers from Linux 5.19 (a single read-only layer from 5.12, but
    // one rule is simpler than two, and the distributions cage targets are past both).
    if (prepared.maps.method != idmap::Method::direct || !kernel_at_least("5.19"))
        return true;
    auto userns_path = "/proc/" + std::to_string(pid) + "/ns/user";
    UniqueFd userns(::open(userns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!userns)
        return std::unexpected(errno_error("open the container's user namespace", userns_path));
    bool sent = CAGE_TRY(send_idmapped(spec.lower_dirs, prepared.lowers, userns.get(), false,
                                       MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                                       sync::MsgType::layer, channel));
    return sent || !prepared.maps.shifted();
}

// Shifted maps: each bind idmapped through a user namespace with the bind maps, so that host
// root's files show as the container user's. Only host root can make these; one "bind"
// message each, after "go" (pid 1 needs them last). False: the kernel or a filesystem cannot
// idmap.
Expected<bool> send_idmapped_binds(const Spec& spec, const Prepared& prepared, const sync::Channel& channel)
{
    if (!prepared.maps.shifted())
        return true;
    auto userns = CAGE_TRY(idmap::user_namespace_with(prepared.maps.bind_uid_map, prepared.maps.bind_gid_map));
    std::vector<std::string> sources;
    for (const auto& bind : spec.binds)
        sources.push_back(bind.source);
    return send_idmapped(sources, prepared.binds, userns.get(), true, 0, sync::MsgType::bind, channel);
}

// The error pid 1 sent, if it has sent one: when slirp4netns fails because pid 1 (and with
// it the network namespace) is gone, pid 1's error is the one that says why.
std::optional<Error> reported_by_pid1(const sync::Channel& channel)
{
    pollfd waiting{channel.fd(), POLLIN, 0};
    if (::poll(&waiting, 1, 0) <= 0)
        return std::nullopt;
    auto received = channel.receive();
    if (!received || !*received || (*received)->message.type != sync::MsgType::error)
        return std::nullopt;
    return sync::to_error((*received)->message);
}

// A message to pid 1 that failed because it has exited (with an error of its own to report).
bool pid1_is_gone(const Error& error)
{
    return error.errnum == EPIPE || error.errnum == ECONNRESET;
}

Error clone_error(int errnum)
{
    if (errnum == EPERM || errnum == ENOSPC || errnum == EUSERS)
        return namespaces::userns_refused("create the container's namespaces", errnum);
    errno = errnum;
    return errno_error("create the container's namespaces (clone3)");
}

// clone3 straight into the container's cgroup (CLONE_INTO_CGROUP, Linux 5.7+), so the new
// cgroup namespace is rooted there. Otherwise (a kernel that refuses it, a cgroup v1 group:
// CLONE_INTO_CGROUP takes only a cgroup2 directory, or no cgroup) a plain clone3 without
// CLONE_NEWCGROUP: a cgroup namespace is rooted where its creator is at that moment, so the
// child makes its own only after the parent has moved it in (see container_main).
pid_t clone_into_cgroup(clone_args& args, int cgroup_fd)
{
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
        pid_t pid = sys::clone3(&args);
        if (pid >= 0 || (errno != EINVAL && errno != E2BIG))
            return pid;
        args.flags &= ~static_cast<std::uint64_t>(CLONE_INTO_CGROUP);
        args.cgroup = 0;
    }
    args.flags &= ~static_cast<std::uint64_t>(CLONE_NEWCGROUP);
    return sys::clone3(&args);
}

// One start; nullopt when it was stopped before the command started because the shifted maps
// cannot be used (the guard kills pid 1, and the cgroup goes with prepared).
Expected<std::optional<Result>> start(const Spec& spec, std::chrono::steady_clock::time_point started, bool host_root)
{
    auto prepared = CAGE_TRY(prepare(spec, host_root));
    auto [parent_end, child_end] = CAGE_TRY(sync::Channel::pair());

    sigset_t handled = supervise::handled_signals();
    BlockedSignals blocked(handled);
    UniqueFd signal_fd(::signalfd(-1, &handled, SFD_CLOEXEC));
    if (!signal_fd)
        return std::unexpected(errno_error("create a signalfd"));

    int pidfd = -1;
    clone_args args{};
    args.flags = (namespaces::clone_flags(spec) & ~prepared.made_by_pid1) | CLONE_PIDFD;
    args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    pid_t pid = clone_into_cgroup(args, prepared.cgroup->clone_fd());
    if (pid < 0)
        return std::unexpected(clone_error(errno));
    if (pid == 0) {
        parent_end.close();
        signal_fd.reset();
        container_main(spec, prepared, child_end, !(args.flags & CLONE_NEWCGROUP));
    }
    ContainerGuard guard(pidfd);
    child_end.close();

    auto& cgroup = *prepared.cgroup;
    if (!(args.flags & CLONE_INTO_CGROUP) && cgroup.self_enter_fd() < 0 && !cgroup.made_late())
        CAGE_TRY(cgroup.enter(pid));
    CAGE_TRY(idmap::apply(prepared.maps, pid));
    // Started now, ready before the command starts: pid 1 waits for "network" (it builds the
    // root meanwhile).
    std::optional<usernet::UserNetwork> user_network;
    if (spec.network == Network::slirp4netns)
        user_network = CAGE_TRY(usernet::UserNetwork::start(pid, prepared.maps.method != idmap::Method::single));
    if (!CAGE_TRY(send_idmapped_layers(spec, prepared, pid, parent_end)))
        return std::nullopt;
    CAGE_TRY(parent_end.send(sync::Message{sync::MsgType::go}));
    // pid 1 builds the root meanwhile; the binds are the last thing it mounts. (It may have
    // failed meanwhile: then the error it sent is the one to report.)
    auto binds_sent = send_idmapped_binds(spec, prepared, parent_end);
    if (binds_sent && !*binds_sent)
        return std::nullopt;
    if (!binds_sent && !pid1_is_gone(binds_sent.error()))
        return std::unexpected(binds_sent.error());
    if (cgroup.made_late()) {
        CAGE_TRY(cgroup.make_late());
        auto sent = parent_end.send(sync::Message{sync::MsgType::cgroup}, cgroup.self_enter_fd());
        if (!sent && !pid1_is_gone(sent.error()))
            return std::unexpected(sent.error());
    }
    if (user_network) {
        if (auto up = user_network->wait_until_ready(); !up)
            return std::unexpected(reported_by_pid1(parent_end).value_or(up.error()));
        auto sent = parent_end.send(sync::Message{sync::MsgType::network});
        if (!sent && !pid1_is_gone(sent.error()))
            return std::unexpected(sent.error());
    }
    auto result = CAGE_TRY(supervise::run({spec, guard.pidfd(), parent_end, signal_fd.get(), started,
                                           prepared.cgroup.get()}));
    auto usage = prepared.cgroup->usage();
    result.memory_peak = usage.memory_peak;
    result.oom_kills = usage.oom_kills;
    CAGE_TRY(prepared.cgroup->destroy());
    return result;
}

}  // namespace

// As root, a start whose binds or layers cannot be idmapped is made again with the container
// user as host root. Known only once pid 1 exists (the user namespace the layers are idmapped
// through is its own), and rare enough that a second start costs less than checking first.
// A caller that already knows (Spec::host_root_maps) starts that way at once.
Expected<Result> run(const Spec& spec)
{
    auto started = std::chrono::steady_clock::now();
    if (!spec.host_root_maps || ::getuid() != 0)
        if (auto result = CAGE_TRY(start(spec, started, false)))
            return *result;
    if (auto result = CAGE_TRY(start(spec, started, true)))
        return *result;
    return std::unexpected(plain_error("cannot start the container with the container user as host root"));
}

}  // namespace cage::runtime

