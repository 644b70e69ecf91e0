#!/usr/bin/env bash
# Builds the systemd attest test guest from Debian packages: a bookworm root (mmdebstrap
# minbase + systemd, udev, nginx, curl, ...) with a NixOS-style backdoor.service, packed into a
# read-only erofs image that every machine of a test shares, and a small initramfs (the image
# builder's stage1-init) that mounts it under a per-machine writable overlay. Writes vmlinuz,
# initrd.img, root.erofs and systemd.json (the attest config that boots it) into OUTDIR.
#
# Cached: rebuilt only when this script, lib.sh, the files under systemd/, the builder's files
# it uses or the resolved package versions change. Needs root (or unprivileged user namespaces) for
# mmdebstrap.
#
# usage: build-systemd.sh OUTDIR [STAMP]   (STAMP is touched when the guest is ready)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
guest=systemd
# The stage 1, the backdoor, its unit and lib.sh: the image builder's (one copy:
# lib/image/builder/).
builder="$here/../../lib/image/builder"
lib_sh="$builder/lib.sh"
# shellcheck source=../../lib/image/builder/lib.sh
source "$lib_sh"
start_build "${1:?usage: build-systemd.sh OUTDIR [STAMP]}"
stamp_out=${2:-}

need_tools apt-cache apt-get dpkg-deb depmod modprobe cpio objdump sha256sum mmdebstrap \
  mkfs.erofs

suite=bookworm
# The issue's package list, plus what the Machine API relies on in the guest: netcat for the
# port waits, dbus and libpam-systemd for user managers (systemctl --user), util-linux for su.
root_packages=(systemd systemd-sysv udev dbus libpam-systemd bash coreutils util-linux iproute2
  iputils-ping curl nginx procps kmod netcat-openbsd)
kernel_pkg=$(cloud_kernel_package)
initrd_packages=("$kernel_pkg" busybox-static)
mapfile -t pins < <(pin "${root_packages[@]}" "${initrd_packages[@]}")
((${#pins[@]} == ${#root_packages[@]} + ${#initrd_packages[@]})) ||
  die "cannot resolve the package versions"

key=$( {
  cat "$0" "$lib_sh" "$here"/systemd/* \
    "$builder"/{stage1-init,attest-backdoor,attest-backdoor.service,journald.conf}
  printf '%s\n' "$suite" "${pins[@]}"
} | sha256sum | cut -d' ' -f1)

use_cache "$key" "$kernel_pkg"
download_extract "$work" "${pins[@]: -${#initrd_packages[@]}}"
kver=${kernel_pkg#linux-image-}
x="$work/x"

# The host's own package sources, so the guest gets the versions apt-cache resolved above.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -s "$f" ]] && grep -q 'debian' "$f" && sources+=("$f")
done
((${#sources[@]} > 0)) || sources=(http://deb.debian.org/debian)

say "bootstrapping $suite with ${root_packages[*]} (mmdebstrap)"
t=$(date +%s%N)
rootfs="$work/rootfs"
include=$(
  IFS=,
  echo "${root_packages[*]}"
)
mmdebstrap --quiet --variant=minbase --include="$include" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  "$suite" "$rootfs" "${sources[@]}" ||
  die "mmdebstrap failed (it needs root or unprivileged user namespaces, and the Debian archive)"
say "bootstrapped in $(elapsed "$t")"

"$here/systemd/customize.sh" "$rootfs" "$x/lib/modules"

say "packing the root into an erofs image (lz4hc)"
t=$(date +%s%N)
mkfs.erofs --quiet -zlz4hc -T0 "$out/root.erofs.tmp" "$rootfs" ||
  die "mkfs.erofs failed"
mv "$out/root.erofs.tmp" "$out/root.erofs"
say "root.erofs: $(du -h --apparent-size "$out/root.erofs" | cut -f1) in $(elapsed "$t")"

say "assembling the initramfs (kernel $kver)"
initrd="$work/initrd"
busybox_root "$x" "$initrd"
add_modules "$x" "$kver" "$initrd" virtio_pci virtio_blk erofs overlay
install -m 0755 "$builder/stage1-init" "$initrd/init"
make_cpio "$initrd" "$out/initrd.img"
cp "$x/boot/vmlinuz-$kver" "$out/vmlinuz"

# no_timer_check: as in build-minimal.sh (TCG on a busy host can fail the 8254 timer check).
cat >"$out/systemd.json" <<'JSON'
{
  "name": "systemd",
  "machines": [
    {
      "name": "server",
      "backend": "qemu",
      "kernel": "vmlinuz",
      "initrd": "initrd.img",
      "cmdline": "console=ttyS0 panic=-1 quiet no_timer_check net.ifnames=0 attest.store=/dev/vda attest.upper=/dev/vdb",
      "memory_mib": 512,
      "vcpus": 1,
      "disks": [
        { "path": "root.erofs", "read_only": true },
        { "size_mib": 1024 }
      ]
    }
  ]
}
JSON

finish_build "$key" "{vmlinuz,initrd.img,root.erofs,systemd.json}"
