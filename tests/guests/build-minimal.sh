#!/usr/bin/env bash
# Builds the minimal attest test guest from Debian packages: the cloud kernel,
# an initramfs with busybox-static, bash-static as /bin/bash, netcat-openbsd and
# coreutils' timeout (as NixOS guests have them) and the virtio modules, whose PID 1 starts a
# NixOS-style backdoor shell on /dev/hvc0. Writes vmlinuz, initrd.img and
# minimal.json (the attest config that boots it) into OUTDIR.
#
# Cached: the guest is rebuilt only when this script, lib.sh, the files under
# minimal/ and the builder's backdoor or the resolved package versions change.
#
# usage: build-minimal.sh OUTDIR [STAMP]   (STAMP is touched when the guest is ready)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
guest=minimal
# The backdoor and lib.sh: the image builder's (one copy: lib/image/builder/).
builder="$here/../../lib/image/builder"
lib_sh="$builder/lib.sh"
# shellcheck source=../../lib/image/builder/lib.sh
source "$lib_sh"
start_build "${1:?usage: build-minimal.sh OUTDIR [STAMP]}"
stamp_out=${2:-}

need_tools apt-cache apt-get dpkg-deb depmod modprobe cpio objdump sha256sum

kernel_pkg=$(cloud_kernel_package)
packages=("$kernel_pkg" busybox-static bash-static netcat-openbsd coreutils libbsd0 libmd0 libc6)
mapfile -t pins < <(pin "${packages[@]}")
((${#pins[@]} == ${#packages[@]})) || die "cannot resolve the package versions"

key=$( {
  cat "$0" "$lib_sh" "$here"/minimal/* "$builder/attest-backdoor"
  printf '%s\n' "${pins[@]}"
} | sha256sum | cut -d' ' -f1)

use_cache "$key" "$kernel_pkg"
download_extract "$work" "${pins[@]}"

kver=${kernel_pkg#linux-image-}
x="$work/x"
root="$work/root"
say "assembling initramfs (kernel $kver)"
test_userland "$x" "$root"

add_modules "$x" "$kver" "$root" virtio_pci virtio_console virtio_net virtio_blk virtio_rng \
  erofs overlay

install -m 0755 "$here/minimal/init" "$root/init"
install -m 0755 "$builder/attest-backdoor" "$root/sbin/attest-backdoor"
install -m 0644 "$here/minimal/inittab" "$root/etc/inittab"
echo 'root:x:0:0:root:/root:/bin/bash' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo 'minimal' >"$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
printf 'hosts: files dns\npasswd: files\ngroup: files\n' >"$root/etc/nsswitch.conf"

make_cpio "$root" "$out/initrd.img"
cp "$x/boot/vmlinuz-$kver" "$out/vmlinuz"

# no_timer_check: under TCG on a busy host the kernel's check of the 8254 timer interrupt can fail
# ("..MP-BIOS bug: 8254 timer not connected to IO-APIC") and the boot hang or panic; the check
# only matters on real hardware.
cat >"$out/minimal.json" <<'JSON'
{
  "name": "minimal",
  "machines": [
    {
      "name": "machine",
      "backend": "qemu",
      "kernel": "vmlinuz",
      "initrd": "initrd.img",
      "cmdline": "console=tty0 console=ttyS0 panic=-1 quiet no_timer_check",
      "memory_mib": 256,
      "vcpus": 1
    }
  ]
}
JSON

finish_build "$key" "{vmlinuz,initrd.img,minimal.json}"
