#!/usr/bin/env bash
# run-in-vm.sh: run a command inside a throw-away qemu guest with a pure cgroup v2 hierarchy.
# Adapted for cage from the measured reference runner (../shared/reference/run-in-vm.sh);
# PVH boot of the uncompressed kernel under TCG (the PVM KVM of CI machines cannot run a
# stock kernel), cgroup_no_v1=all, a busybox initramfs, switch_root into the overlay.
#
# usage: run-in-vm.sh [-t SECONDS] HOSTDIR COMMAND [ARGS...]
#
#   HOSTDIR  shared read-write (9p, uncached) at the SAME absolute path; the command's cwd.
#   COMMAND  runs as root in the guest over the host's own userland: the host / is the
#            read-only lower layer of an overlay with a tmpfs upper, so host-built binaries
#            run unchanged and nothing written outside HOSTDIR reaches the host.
#
# The command's stdout+stderr stream to this script's stdout (through the second serial
# port); the script exits with the command's status, 124 on timeout, 125 when the VM itself
# failed (the guest console tail then goes to stderr).
#
# In the guest:
#   /sys/fs/cgroup            cgroup2 (nsdelegate), subtree_control: cpuset cpu io memory pids
#   /sys/fs/cgroup/delegated  delegated to $CGV2_USER (uid $CGV2_UID) the way systemd delegates
#                             user@.service: the directory and its cgroup.procs, cgroup.threads
#                             and cgroup.subtree_control are the user's; controllers cpu io
#                             memory pids enabled; an empty leaf "init" for the user's processes
#   swap                      zram of VM_SWAP_MB (default 256) MiB, so memory.swap.max matters
#
# Knobs (environment):
#   VM_KERNEL   the kernel image (vmlinuz-*; decompressed once to a PVH-bootable vmlinux)
#   VM_MODROOT  a root directory holding lib/modules/<version> for it (a dpkg-deb -x of
#               linux-image-*; see fetch-kernel.sh)
#   VM_ACCEL    auto|tcg|kvm (auto: kvm only with real VT-x/AMD-V and no PVM; else tcg)
#   VM_MEM (MiB, 1024)  VM_SMP (2)  VM_SWAP_MB (256)  VM_TIMEOUT (s, 600; also -t)
#   VM_CACHE    where vmlinux and the initramfs are cached (${XDG_CACHE_HOME:-~/.cache}/cage-vm)
#   VM_VERBOSE=1  copy the guest console to stderr at the end
#   VM_TIMING=1   print qemu wall time and guest uptime at command start/end to stderr
#   VM_USER/VM_UID  the unprivileged guest user (cagevm/1500)
#   VM_QEMU     the qemu binary (qemu-system-x86_64)
#   VM_INIT=systemd  boot the host's systemd as the guest's PID 1 (about 10 s more): the
#               command runs as a oneshot service, user@$VM_UID.service is started (its
#               delegated cgroup: CGV2_DELEGATED) and `systemd-run --user` works for that user
set -u -o pipefail

die() { echo "run-in-vm: $*" >&2; exit 125; }

timeout_s=${VM_TIMEOUT:-600}
while [ $# -gt 0 ]; do
  case "$1" in
    -t) timeout_s=$2; shift 2 ;;
    -h|--help) awk 'NR>1 && /^#/{sub(/^# ?/,""); print; next} NR>1{exit}' "$0"; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || die "usage: $0 [-t SECONDS] HOSTDIR COMMAND [ARGS...]"
hostdir=$(realpath -e -- "$1") || die "no such directory: $1"
[ -d "$hostdir" ] || die "not a directory: $hostdir"
shift
case "$hostdir" in *[$'\n\'']*) die "HOSTDIR must not contain newlines or single quotes" ;; esac
case "$hostdir" in /|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/run|/run/*) die "HOSTDIR may not be $hostdir" ;; esac

qemu=${VM_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || die "$qemu missing (apt-get install qemu-system-x86)"
[ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install busybox-static)"
ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is dynamically linked (apt-get install busybox-static)"

kernel=${VM_KERNEL:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)}
[ -n "$kernel" ] && [ -r "$kernel" ] || die "no kernel in /boot (apt-get install linux-image-amd64)"
kver=${VM_KVER:-$(basename "$kernel" | sed -E 's/^vmlinu[xz]-//')}
modroot=${VM_MODROOT:-}          # a root dir holding lib/modules/$kver (e.g. a dpkg-deb -x of linux-image-*)
moddir=$modroot/lib/modules/$kver
[ -d "$moddir" ] || die "no $moddir for $kernel"
[ -s "$moddir/modules.dep" ] || depmod -b "${modroot:-/}" "$kver" 2>/dev/null || die "no modules.dep in $moddir (run depmod)"

mem=${VM_MEM:-1024}; smp=${VM_SMP:-2}; swap_mb=${VM_SWAP_MB:-256}
cache=${VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cage-vm}
msize=512000

# ---------------------------------------------------------------- accel
accel=${VM_ACCEL:-auto}
if [ "$accel" = auto ]; then
  accel=tcg
  # A KVM that is backed by real VT-x/AMD-V is fast.  The KVM offered on these
  # CI VMs is PVM (kvm_pvm, "nested_pvm=1"): it only runs PVM-patched guest
  # kernels fast and *emulates* a stock kernel instruction by instruction,
  # which is orders of magnitude slower than TCG.
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo \
     && [ ! -d /sys/module/kvm_pvm ]; then accel=kvm; fi
fi
case "$accel" in
  kvm) accel_args=(-accel kvm -cpu "${VM_CPU:-host}") ;;
  tcg) accel_args=(-accel tcg,thread=multi,tb-size=256 -cpu "${VM_CPU:-max}") ;;
  *) die "VM_ACCEL must be auto, tcg or kvm" ;;
esac

# ---------------------------------------------------------------- kernel
# Boot the *uncompressed* vmlinux through QEMU's PVH entry when possible: it
# skips SeaBIOS real mode and the in-guest XZ decompression of ~65 MB, which
# under TCG costs ~2.8 s per boot.  Falls back to the bzImage.
extract_vmlinux() { # $1 = bzImage, $2 = output; returns 0 if $2 is a PVH-capable ELF
  local magic dec off
  command -v readelf >/dev/null || return 1
  for fmt in xz zstd gzip lz4; do
    case $fmt in
      xz)   magic='\xfd7zXZ\x00'; dec=(xz -dc) ;;
      zstd) magic='\x28\xb5\x2f\xfd'; dec=(zstd -dcq) ;;
      gzip) magic='\x1f\x8b\x08\x00'; dec=(gzip -dc) ;;
      lz4)  magic='\x02\x21\x4c\x18'; dec=(lz4 -dc) ;;
    esac
    command -v "${dec[0]}" >/dev/null || continue
    for off in $(LC_ALL=C grep -abo -P "$magic" "$1" 2>/dev/null | head -3 | cut -d: -f1); do
      tail -c +$((off + 1)) "$1" | "${dec[@]}" > "$2.tmp.$$" 2>/dev/null
      if [ "$(head -c 4 "$2.tmp.$$" | od -An -c | tr -d ' ')" = '177ELF' ] \
         && readelf -n "$2.tmp.$$" 2>/dev/null | grep -q 'note type: (0x00000012)'; then
        mv "$2.tmp.$$" "$2"; return 0
      fi
    done
  done
  rm -f "$2.tmp.$$"; return 1
}
if [ "${VM_PVH:-1}" = 1 ] && [ "$(head -c 4 "$kernel" | od -An -c | tr -d ' ')" != '177ELF' ]; then
  mkdir -p "$cache" || die "cannot create $cache"
  vmlinux=$cache/vmlinux-$kver-$(stat -c %s "$kernel")
  if [ -s "$vmlinux" ] || extract_vmlinux "$kernel" "$vmlinux"; then kernel=$vmlinux; fi
fi

# ---------------------------------------------------------------- initramfs
read -r -d '' STAGE1 <<'EOF_STAGE1'
#!/bin/busybox sh
# stage 1: runs from the initramfs as PID 1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "CGV2-STAGE1-FAIL: $*"; sleep 1; poweroff -f; }
while read -r m; do insmod "/modules/$m" || echo "insmod $m failed"; done < /modules/order
mkdir -p /ctl /lower /rw /newroot
o="trans=virtio,version=9p2000.L,msize=__MSIZE__"
mount -t 9p -o "$o" cgv2ctl /ctl || fail "mount ctl"
. /ctl/config
mount -t 9p -o "$o,ro,cache=loose" hostroot /lower || fail "mount hostroot"
mount -t tmpfs -o mode=0755 rw /rw && mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "overlay"
N=/newroot
mount -t proc proc $N/proc
mount -t sysfs sysfs $N/sys
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 $N/sys/fs/cgroup || fail "cgroup2"
mount -t devtmpfs devtmpfs $N/dev
mkdir -p $N/dev/pts $N/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts $N/dev/pts
mount -t tmpfs -o mode=1777 shm $N/dev/shm
mount -t tmpfs -o mode=0755 run $N/run
mount -t tmpfs -o mode=1777 tmp $N/tmp
mkdir -p $N/run/cgv2/ctl $N/run/cgv2/bin
mount --move /ctl $N/run/cgv2/ctl
mkdir -p "$N$CGV2_HOSTDIR"
mount -t 9p -o "$o" hostdir "$N$CGV2_HOSTDIR" || fail "mount hostdir"
cp /bin/busybox /stage2 /cgv2-as-user $N/run/cgv2/
mv $N/run/cgv2/cgv2-as-user $N/run/cgv2/bin/
if [ "${CGV2_SWAP_MB:-0}" -gt 0 ] && [ -e /sys/block/zram0 ]; then
  echo "${CGV2_SWAP_MB}M" > /sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0
fi
if [ "${CGV2_INIT:-}" = systemd ] && [ -x $N/lib/systemd/systemd ]; then
  mkdir -p $N/etc/systemd/system
  printf '%s\n' '[Unit]' 'Description=cage VM command' 'Requires=basic.target' 'After=basic.target' \
    '[Service]' 'Type=oneshot' 'ExecStart=/run/cgv2/busybox sh /run/cgv2/stage2 systemd' \
    > $N/etc/systemd/system/cgv2.service
  exec switch_root $N /lib/systemd/systemd --unit=cgv2.service
fi
exec switch_root $N /run/cgv2/busybox sh /run/cgv2/stage2
EOF_STAGE1

read -r -d '' STAGE2 <<'EOF_STAGE2'
# stage 2: PID 1 in the overlay root (host userland)
export PATH=/run/cgv2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8 CGV2_GUEST=1
BB=/run/cgv2/busybox
C=/run/cgv2/ctl
. $C/config
CG=/sys/fs/cgroup
add_user() {
  U=$CGV2_USER; UID_=$CGV2_UID
  grep -q "^$U:" /etc/passwd || echo "$U:x:$UID_:$UID_:cage vm test user:/home/$U:/bin/bash" >> /etc/passwd
  grep -q "^$U:" /etc/group  || echo "$U:x:$UID_:" >> /etc/group
  grep -q "^$U:" /etc/shadow || echo "$U:*:19000:0:99999:7:::" >> /etc/shadow
  grep -q "^$U:" /etc/subuid 2>/dev/null || echo "$U:200000:65536" >> /etc/subuid
  grep -q "^$U:" /etc/subgid 2>/dev/null || echo "$U:200000:65536" >> /etc/subgid
  mkdir -p /home/$U && chown $UID_:$UID_ /home/$U
}
run_command() {
  $BB stty -F /dev/ttyS1 raw -echo 2>/dev/null
  echo "CGV2-READY $(cat /proc/uptime)" > /dev/console
  cd "$CGV2_HOSTDIR"
  /bin/bash $C/cmd.sh < /dev/null > /dev/ttyS1 2>&1
  rc=$?
  echo $rc > $C/rc
  echo "CGV2-EXIT $rc $(cat /proc/uptime)" > /dev/console
  sync
  $BB poweroff -f
}
if [ "${1:-}" = systemd ]; then   # systemd owns the tree; the user's manager delegates
  add_user
  [ -e /proc/sys/kernel/unprivileged_userns_clone ] && echo 1 > /proc/sys/kernel/unprivileged_userns_clone
  systemctl start user@$CGV2_UID.service
  export CGV2_DELEGATED=$CG/user.slice/user-$CGV2_UID.slice/user@$CGV2_UID.service
  run_command
fi
# cgroup v2: enable every controller we care about at the root
echo "+cpuset +cpu +io +memory +pids" > $CG/cgroup.subtree_control 2>/dev/null \
  || echo "+cpu +io +memory +pids" > $CG/cgroup.subtree_control
for c in hugetlb misc rdma; do echo "+$c" > $CG/cgroup.subtree_control 2>/dev/null; done
# unprivileged user + delegated subtree (same layout systemd uses for user@.service)
add_user
mkdir -p /run/user/$UID_ && chown $UID_:$UID_ /run/user/$UID_ && chmod 700 /run/user/$UID_
D=$CG/delegated
mkdir -p $D/init
echo "+cpu +io +memory +pids" > $D/cgroup.subtree_control
chown $UID_:$UID_ $D $D/cgroup.procs $D/cgroup.threads $D/cgroup.subtree_control
chown -R $UID_:$UID_ $D/init
export CGV2_USER=$U CGV2_UID=$UID_ CGV2_DELEGATED=$D
# user namespaces for unprivileged users (Debian knob; absent on other kernels)
[ -e /proc/sys/kernel/unprivileged_userns_clone ] && echo 1 > /proc/sys/kernel/unprivileged_userns_clone
run_command
EOF_STAGE2

read -r -d '' ASUSER <<'EOF_ASUSER'
#!/bin/sh
# cgv2-as-user CMD...: run CMD as the unprivileged user in the delegated subtree
[ $# -gt 0 ] || set -- /bin/bash
echo $$ > "$CGV2_DELEGATED/init/cgroup.procs" || exit 126
export HOME=/home/$CGV2_USER USER=$CGV2_USER LOGNAME=$CGV2_USER XDG_RUNTIME_DIR=/run/user/$CGV2_UID
exec setpriv --reuid="$CGV2_UID" --regid="$CGV2_UID" --init-groups -- "$@"
EOF_ASUSER

mods=(virtio_pci 9pnet_virtio 9p overlay zram)
key=$(printf '%s\n' "$kver" "${mods[*]}" "$msize" "$STAGE1" "$STAGE2" "$ASUSER" "$(sha1sum /bin/busybox)" | sha1sum | cut -c1-16)
initrd=$cache/initramfs-$kver-$key.cpio.gz
if [ ! -s "$initrd" ]; then
  mkdir -p "$cache" || die "cannot create $cache"
  build=$(mktemp -d) || die mktemp
  mkdir -p "$build"/{bin,proc,sys,dev,modules}
  cp /bin/busybox "$build/bin/busybox"
  printf '%s\n' "${STAGE1//__MSIZE__/$msize}" > "$build/init"
  printf '%s\n' "$STAGE2" > "$build/stage2"
  printf '%s\n' "$ASUSER" > "$build/cgv2-as-user"
  chmod 755 "$build/init" "$build/cgv2-as-user"
  : > "$build/modules/order"
  for m in "${mods[@]}"; do
    modprobe -d "${modroot:-/}" -S "$kver" --show-depends "$m" 2>/dev/null || die "modprobe cannot resolve $m for $kver"
  done | awk '$1=="insmod"{print $2}' | awk '!seen[$0]++' | while read -r ko; do
    b=$(basename "$ko"); b=${b%.xz}; b=${b%.zst}; b=${b%.gz}
    case "$ko" in
      *.xz) xz -dc "$ko" > "$build/modules/$b" ;;
      *.zst) zstd -qdc "$ko" > "$build/modules/$b" ;;
      *.gz) gzip -dc "$ko" > "$build/modules/$b" ;;
      *) cp "$ko" "$build/modules/$b" ;;
    esac
    echo "$b" >> "$build/modules/order"
  done
  (cd "$build" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd.tmp.$$" && mv "$initrd.tmp.$$" "$initrd" \
    || die "initramfs build failed"
  find "$cache" -maxdepth 1 -name "initramfs-$kver-*.cpio.gz" ! -path "$initrd" -mmin +60 -delete 2>/dev/null
  rm -rf "$build"
fi

# ---------------------------------------------------------------- per run
run=$(mktemp -d "${TMPDIR:-/tmp}/cage-vm-run.XXXXXX") || die mktemp
ctl=$run/ctl; mkdir -p "$ctl"
cleanup() { [ "${VM_KEEP:-0}" = 1 ] && echo "run-in-vm: kept $run" >&2 || rm -rf "$run"; }
trap cleanup EXIT
{
  echo "CGV2_HOSTDIR='$hostdir'"
  echo "CGV2_SWAP_MB=$swap_mb"
  echo "CGV2_USER=${VM_USER:-cagevm}"
  echo "CGV2_UID=${VM_UID:-1500}"
  echo "CGV2_INIT=${VM_INIT:-}"
} > "$ctl/config"
{ printf 'exec'; printf ' %q' "$@"; printf '\n'; } > "$ctl/cmd.sh"


append="console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init mitigations=off"
append+=" cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 8250.nr_uarts=2 tsc=reliable ${VM_APPEND:-}"

fs_args=()
fs9p() { # id path mount_tag [extra options]; commas in a path are doubled (QEMU escaping)
  fs_args+=(-fsdev "local,id=$1,path=${2//,/,,},security_model=none,multidevs=remap$4"
            -device "virtio-9p-pci,fsdev=$1,mount_tag=$3")
}
fs9p fsroot / hostroot ",readonly=on"
fs9p fsctl "$ctl" cgv2ctl ""
fs9p fsdir "$hostdir" hostdir ""
# A guest that has not started the command (CGV2-READY on the console) after VM_BOOT_TIMEOUT
# seconds never will: under TCG a boot very rarely hangs silently. It is stopped and booted
# once more; nothing of the command's output has been written by then.
boot_s=${VM_BOOT_TIMEOUT:-150}
boot() {
  : > "$ctl/console.log"
  timeout -k 5 "$timeout_s" "$qemu" \
    -nodefaults -no-user-config -display none -no-reboot \
    -machine pc "${accel_args[@]}" -m "$mem" -smp "$smp" \
    -kernel "$kernel" -initrd "$initrd" -append "$append" \
    -serial "file:$ctl/console.log" \
    -chardev stdio,id=out,signal=off -serial chardev:out \
    "${fs_args[@]}" < /dev/null &
  local vm=$! waited=0
  while ! grep -q CGV2-READY "$ctl/console.log" 2>/dev/null && kill -0 "$vm" 2>/dev/null; do
    if [ "$waited" -ge "$boot_s" ]; then
      kill "$vm" 2>/dev/null; wait "$vm"
      echo "run-in-vm: the guest did not start the command within ${boot_s}s" >&2
      return 200
    fi
    sleep 1; waited=$((waited + 1))
  done
  wait "$vm"
}
t0=$(date +%s%N)
boot
qrc=$?
[ "$qrc" = 200 ] && { boot; qrc=$?; }
[ "$qrc" = 200 ] && qrc=124
t1=$(date +%s%N)
[ "${VM_VERBOSE:-0}" = 1 ] && { echo "----- guest console -----" >&2; tr -d '\r' < "$ctl/console.log" >&2; }
if [ "${VM_TIMING:-0}" = 1 ]; then
  ready=$(awk '/CGV2-READY/{print $2; exit}' "$ctl/console.log" 2>/dev/null | tr -d '\r')
  done_=$(awk '/CGV2-EXIT/{print $3; exit}' "$ctl/console.log" 2>/dev/null | tr -d '\r')
  echo "run-in-vm: accel=$accel kernel=${kernel##*/} qemu-wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)/1e9}')s guest-uptime: command-start=${ready:-?}s command-end=${done_:-?}s" >&2
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  echo "run-in-vm: timed out after ${timeout_s}s; guest console tail:" >&2
  tail -n 40 "$ctl/console.log" | tr -d '\r' >&2
  exit 124
fi
if [ ! -s "$ctl/rc" ]; then
  echo "run-in-vm: guest produced no exit status (qemu rc=$qrc); guest console tail:" >&2
  tail -n 60 "$ctl/console.log" 2>/dev/null | tr -d '\r' >&2
  exit 125
fi
exit "$(cat "$ctl/rc")"
