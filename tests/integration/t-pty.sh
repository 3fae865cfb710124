#!/bin/bash
# With a terminal on stdin and stdout: a pty inside from the container's own devpts, raw-mode
# relay, window size and SIGWINCH, Ctrl-C to the foreground job, the caller's terminal restored.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 is needed to drive a pseudo-terminal"

# in_pty ROWS COLS SCRIPT -- CMD...: run CMD on a new pty of that size; SCRIPT (python) may use
# `fd` (the master), `pid`, `send(bytes)`, `resize(rows, cols)`, `wait_for(bytes)`. Prints the
# output seen on the terminal, then `status=N` and `stty=SAME|CHANGED`.
in_pty() {
    local rows=$1 cols=$2 script=$3
    shift 4
    python3 - "$rows" "$cols" "$script" "$@" <<'PY'
import fcntl, os, select, struct, sys, termios, time, pty
rows, cols, script, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
before = termios.tcgetattr(fd)
output = b""
def pump(timeout):
    global output
    r, _, _ = select.select([fd], [], [], timeout)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        output += data
    return True
def wait_for(text, limit=10):
    end = time.time() + limit
    while text not in output and time.time() < end:
        if not pump(0.1):
            break
def send(data):
    os.write(fd, data)
def resize(r, c):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))
    os.kill(pid, 28)
exec(script)
end = time.time() + 15
while time.time() < end:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    pump(0.05)
else:
    os.kill(pid, 9); done, status = os.waitpid(pid, 0)
while pump(0.05):
    pass
after = termios.tcgetattr(fd)
sys.stdout.write(output.decode(errors="replace").replace("\r\n", "\n"))
print("status=%d" % (os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)))
print("stty=%s" % ("SAME" if before == after else "CHANGED"))
PY
}

# The command line of cage as the cage user (setpriv/env exec, so the pty stays cage's).
CAGE_RUN=("${AS_USER[@]}" "$CAGE" run --rootfs "$ROOTFS")
[ ${#AS_USER[@]} -gt 0 ] && CAGE_RUN=("${AS_USER[@]}" TERM=xterm "$CAGE" run --rootfs "$ROOTFS")

out=$(in_pty 33 101 "" -- "${CAGE_RUN[@]}" -- /usr/bin/cage-probe isatty)
like "$out" "0=1 1=1 2=1" "stdin, stdout and stderr are a terminal inside"
like "$out" "tty=/dev/pts/0" "the terminal is /dev/pts/0 of the container's own devpts"
like "$out" "winsize=33x101" "the window size is the caller's"
like "$out" "status=0" "the command's status comes back"
out=$(in_pty 24 80 "" -- "${CAGE_RUN[@]}" --user 1234:5678 -- /usr/bin/cage-probe stat /dev/pts/0)
like "$out" "^uid=1234 gid=5678 " "the terminal belongs to the command's user (tools like screen check)"
like "$out" "stty=SAME" "the caller's terminal settings are restored"

out=$(in_pty 24 80 'wait_for(b"first"); resize(50, 132)' -- "${CAGE_RUN[@]}" -- /bin/sh -c 'stty size; echo first; sleep 1; stty size')
like "$out" "24 80" "stty size inside sees the initial size"
like "$out" "50 132" "a resize (SIGWINCH to cage) reaches the pty inside"

out=$(in_pty 24 80 'wait_for(b"ready"); send(b"\x03")' -- "${CAGE_RUN[@]}" -- /usr/bin/cage-probe signal-wait)
like "$out" "got=SIGINT" "Ctrl-C reaches the foreground job as SIGINT"
out=$(in_pty 24 80 'wait_for(b"go"); send(b"\x03")' -- "${CAGE_RUN[@]}" -- /bin/sh -c 'echo go; exec sleep 30')
like "$out" "status=130" "Ctrl-C kills a foreground sleep: exit 130"
like "$out" "stty=SAME" "the terminal is restored after Ctrl-C"

out=$(in_pty 24 80 'wait_for(b"$ "); send(b"echo typed-$((6*7))\n"); wait_for(b"typed-42"); send(b"exit 3\n")' -- "${CAGE_RUN[@]}" -- /bin/sh)
like "$out" "typed-42" "an interactive shell reads what is typed"
like "$out" "status=3" "and its exit status comes back"

out=$(in_pty 24 80 "" -- "${CAGE_RUN[@]}" -- /bin/sh -c 'seq 1 20000')
is "$(printf '%s\n' "$out" | grep -cE '^[0-9]+$')" 20000 "all output arrives when the command exits right after printing it"

out=$(in_pty 24 80 "" -- "${CAGE_RUN[@]}" -T -- /usr/bin/cage-probe isatty)
like "$out" "0=1 1=1" "-T passes the caller's terminal fds instead of a pty"
unlike "$out" "tty=/dev/pts/0$" "-T allocates no pty inside"
done_testing
