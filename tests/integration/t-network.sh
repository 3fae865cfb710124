#!/bin/bash
# Networking: by default (--network none) a namespace of its own with only the loopback
# interface, up, usable inside, unreachable from the host and unable to reach it or anything
# else; --network host shares the host's interfaces, routes and loopback.
. "$(dirname "$0")/lib.sh"

host_ifaces=$(ls /sys/class/net | LC_ALL=C sort | tr '\n' ' ')
proc_net_dev_names() { tail -n +3 | cut -d: -f1 | tr -d ' ' | LC_ALL=C sort | tr '\n' ' '; }
free_port() { # a TCP port nobody listens on, on the host
    local port
    while :; do
        port=$((20000 + RANDOM % 20000))
        [ -z "$(ss -Htln "sport = :$port" 2>/dev/null)" ] && { echo "$port"; return; }
    done
}
wait_listen() { # wait_listen PORT [NETNS-FILE]: up to 5 s for a listener on 127.0.0.1:PORT
    local i
    for i in $(seq 100); do
        if [ -n "${2:-}" ]; then
            nsenter --net="$2" ss -Htln "sport = :$1" 2>/dev/null | grep -q . && return 0
        else
            ss -Htln "sport = :$1" 2>/dev/null | grep -q . && return 0
        fi
        sleep 0.05
    done
    return 1
}

# --network none (the default)
is "$(cage_run -- ls /sys/class/net | tr '\n' ' ')" "lo " "only lo in /sys/class/net"
is "$(cage_run -- cat /proc/net/dev | proc_net_dev_names)" "lo " "only lo in /proc/net/dev"
# ip talks netlink, which the default seccomp profile refuses (t-seccomp checks that): these
# views of the network run unconfined.
is "$(cage_run --seccomp unconfined -- /bin/sh -c 'ip -o link | wc -l' | tr -d ' ')" 1 "ip link shows one interface"
is "$(cage_run -- cat /sys/class/net/lo/flags)" 0x9 "lo is UP and LOOPBACK (flags 0x9)"
like "$(cage_run --seccomp unconfined -- ip -o -4 addr show dev lo)" "inet 127\.0\.0\.1/8 " "lo has 127.0.0.1/8"
for iface in $host_ifaces; do
    [ "$iface" = lo ] && continue
    is "$(cage_run -- /bin/sh -c "test -e /sys/class/net/$iface && echo visible || echo invisible")" invisible "the host's $iface is not visible"
done
routes=$(cage_run --seccomp unconfined -- /bin/sh -c 'ip route && echo listed')
is "$routes" listed "there is no route"
like "$(cage_run -- /bin/sh -c 'nc -w 2 198.51.100.1 80 </dev/null 2>&1')" "[Nn]etwork is unreachable" "nothing outside is reachable (network unreachable)"

# TCP over the container's loopback works. busybox nc may report success for a connection
# that delivered nothing (seen under heavy load), so a round that got no data starts again
# with a fresh listener.
port=$(free_port)
is "$(cage_run -- /bin/sh -c "for round in \$(seq 20); do
        nc -l -p $port 127.0.0.1 > /tmp/got & listener=\$!
        sent=no
        for i in \$(seq 50); do echo hello | nc 127.0.0.1 $port 2>/dev/null && { sent=yes; break; }; sleep 0.1; done
        [ \$sent = yes ] || kill \$listener
        wait \$listener
        [ \"\$(cat /tmp/got)\" = hello ] && break
    done; cat /tmp/got")" hello "a TCP connection over the container's loopback works"

# The host's loopback is not the container's: a listener on the host is unreachable by default,
# reachable with --network host.
port=$(free_port)
(echo hello-from-host | busybox nc -l -p "$port" 127.0.0.1 >/dev/null 2>&1) &
listener=$!
on_exit "_kill_job $listener"
if wait_listen "$port"; then
    like "$(cage_run -- /bin/sh -c "nc -w 2 127.0.0.1 $port </dev/null 2>&1")" "[Cc]onnection refused" \
        "a listener on the host's 127.0.0.1:$port is not reachable from inside"
    is "$(cage_run --network host -- /bin/sh -c "nc -w 2 127.0.0.1 $port </dev/null")" hello-from-host \
        "--network host: the host's listener is reachable"
else
    skip "could not start a listener on the host (busybox nc)"
    skip "could not start a listener on the host (busybox nc)"
fi
_kill_job "$listener"

# A listener inside is in the container's namespace only.
port=$(free_port)
start_probe -- "nc -l -p $port 127.0.0.1 </dev/null >/dev/null 2>&1 &" || bail "the container's command never appeared on the host"
if [ "$(id -u)" -eq 0 ] && command -v nsenter >/dev/null; then
    wait_listen "$port" "/proc/$PROBE_PID/ns/net"
    ok $? "the container's listener on 127.0.0.1:$port is in its own network namespace"
else
    skip "nsenter as root is needed to look into the container's network namespace"
fi
is "$(ss -Htln "sport = :$port" | wc -l | tr -d ' ')" 0 "the host has no listener on that port"
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
isnt $? 0 "the host cannot connect to it"
stop_probe

# --network host
is "$(cage_run --network host -- ls /sys/class/net | LC_ALL=C sort | tr '\n' ' ')" "$host_ifaces" "--network host: /sys/class/net lists the host's interfaces"
is "$(cage_run --network host -- cat /proc/net/dev | proc_net_dev_names)" "$(proc_net_dev_names </proc/net/dev)" "--network host: /proc/net/dev lists the host's interfaces"
is "$(cage_run --network host --seccomp unconfined -- ip route | awk '{print $1, $2, $3}')" "$(ip route | awk '{print $1, $2, $3}')" "--network host: the host's routes"
done_testing
