#!/bin/bash
# Build the Debian rootfs the real-workload tests run in: bookworm with the toolchains an agent
# uses (node and npm, python3 with venv and pip, git, gcc, go, make, bash), from Debian's
# packages with mmdebstrap and the host's own apt sources. Usage: make-workload-rootfs.sh OUT
#
# Takes a few minutes the first time; a finished rootfs (marked by OUT/.complete) is reused.
set -euo pipefail
out=${1:?usage: make-workload-rootfs.sh OUT}
[ -f "$out/.complete" ] && exit 0

packages=(
    bash coreutils procps ca-certificates
    nodejs npm
    python3 python3-venv python3-pip
    git gcc libc6-dev make
    golang-go
)
mode=root
[ "$(id -u)" -eq 0 ] || mode=unshare

# The host's own sources and keyrings: no mirror is written into the project.
sources=()
for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$file" ] && sources+=("$file")
done

tmp="$out.tmp"
rm -rf "$tmp"
mmdebstrap --quiet --mode="$mode" --variant=minbase \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --customize-hook='chroot "$1" useradd --create-home --uid 1000 --shell /bin/bash agent' \
    --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
    bookworm "$tmp" "${sources[@]}" </dev/null
touch "$tmp/.complete"
rm -rf "$out"
mv "$tmp" "$out"
