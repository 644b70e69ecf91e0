#!/usr/bin/env bash
# Builds the microVM attest test guest (for the Firecracker and cloud-hypervisor backends) from
# Debian packages. Writes into OUTDIR:
#   vmlinux      the cloud kernel as an uncompressed ELF (both monitors boot it through its PVH
#                entry point; they cannot boot a bzImage), extracted from its vmlinuz
#   initrd.img   stage 1: the image builder's stage1-init on busybox-static, with
#                the virtio (mmio and pci), vsock, erofs, overlay, ACPI button and evdev
#                modules; it mounts the store under a writable overlay and switches to it
#   store.erofs  the real root, read-only and shared by every machine: busybox-static,
#                bash-static as /bin/bash, netcat-openbsd and coreutils' timeout (as the minimal
#                guest), microvm/init as PID 1 and busybox init (microvm/inittab) running
#                vsock-listen (microvm/vsock-listen.c, compiled here), which gives each
#                connection to vsock port 1234 a NixOS-style backdoor shell
#                (microvm/attest-backdoor-vsock), plus acpid for the power button
#   microvm.json the attest config that boots it on Firecracker
#
# Devices: the Debian cloud kernel has CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES unset, so virtio-mmio
# devices cannot be given as virtio_mmio.device= on the command line; Firecracker (>= 1.8) and
# cloud-hypervisor describe theirs in ACPI, which the virtio_mmio module binds to, so loading it
# (stage 1 does) is enough. cloud-hypervisor's devices may be virtio-pci (virtio_pci is loaded
# too). The power button (cloud-hypervisor's vm.power-button, an ACPI power button press) comes
# through the `button` module and evdev to acpid, which runs poweroff; Firecracker's
# SendCtrlAltDel reaches busybox init as ctrl-alt-del, which reboots (with reboot=k the monitor
# exits).
#
# Command line contract (see microvm.json): attest.store=DEV (the erofs store),
# attest.upper=DEV (the per-machine writable layer, formatted on first boot), attest.init=
# /sbin/init, optional attest.hostname=NAME and, for the test doubles that run the guest under
# QEMU without a vsock device, attest.vsock_emulation=tcp:MAC: the NIC with that MAC becomes
# vsockemu0 with 10.0.2.15/24 and the shell listens on TCP 10.0.2.15:1234 instead of vsock 1234.
#
# Cached: rebuilt only when this script, lib.sh, the files under microvm/, stage1-init, the host
# compiler or the resolved package versions change.
#
# usage: build-microvm.sh OUTDIR [STAMP]   (STAMP is touched when the guest is ready)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
guest=microvm
# The stage 1 and lib.sh: the image builder's (one copy: lib/image/builder/).
builder="$here/../../lib/image/builder"
lib_sh="$builder/lib.sh"
# shellcheck source=../../lib/image/builder/lib.sh
source "$lib_sh"
start_build "${1:?usage: build-microvm.sh OUTDIR [STAMP]}"
stamp_out=${2:-}

need_tools apt-cache apt-get dpkg-deb depmod modprobe cpio objdump sha256sum mkfs.erofs gcc \
  lz4 readelf od

kernel_pkg=$(cloud_kernel_package)
packages=("$kernel_pkg" busybox-static bash-static netcat-openbsd coreutils libbsd0 libmd0 libc6)
mapfile -t pins < <(pin "${packages[@]}")
((${#pins[@]} == ${#packages[@]})) || die "cannot resolve the package versions"

# vsock-listen is linked statically against the host's C library: its version is an input too.
compiler="$(gcc --version | head -n1) / libc6-dev $(dpkg-query -W -f='${Version}' libc6-dev \
  2>/dev/null || echo unknown)"

key=$( {
  cat "$0" "$lib_sh" "$here"/microvm/* "$builder/stage1-init"
  printf '%s\n' "${pins[@]}" "$compiler"
} | sha256sum | cut -d' ' -f1)

use_cache "$key" "$kernel_pkg"
download_extract "$work" "${pins[@]}"

kver=${kernel_pkg#linux-image-}
x="$work/x"

say "extracting the ELF kernel from vmlinuz-$kver"
extract_vmlinux "$x/boot/vmlinuz-$kver" "$work/vmlinux"

say "compiling vsock-listen"
gcc -static -O2 -Wall -Wextra -Werror -o "$work/vsock-listen" "$here/microvm/vsock-listen.c" ||
  die "cannot compile microvm/vsock-listen.c (gcc and libc6-dev installed? scripts/install-deps)"

say "assembling the store (the root file system)"
root="$work/root"
test_userland "$x" "$root"
mkdir -p "$root/var/log" "$root/var/tmp" "$root/etc/acpi"
ln -sf ../run "$root/var/run"

install -m 0755 "$here/microvm/init" "$root/sbin/init"
install -m 0755 "$work/vsock-listen" "$root/sbin/vsock-listen"
install -m 0755 "$here/microvm/attest-backdoor-vsock" "$root/sbin/attest-backdoor-vsock"
install -m 0644 "$here/microvm/inittab" "$root/etc/inittab"
install -m 0644 "$here/microvm/acpid.conf" "$root/etc/acpid.conf"
# acpid runs /etc/acpi/ACTION as ./ACTION: busybox picks the applet from that name.
ln -sf /bin/busybox "$root/etc/acpi/poweroff"
echo 'root:x:0:0:root:/root:/bin/bash' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo 'microvm' >"$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
printf 'hosts: files dns\npasswd: files\ngroup: files\n' >"$root/etc/nsswitch.conf"

mkfs.erofs --quiet -zlz4hc -T0 --all-root "$out/store.erofs.tmp" "$root" ||
  die "mkfs.erofs failed"
mv "$out/store.erofs.tmp" "$out/store.erofs"

say "assembling the initramfs (kernel $kver)"
initrd="$work/initrd"
busybox_root "$x" "$initrd"
modules=(virtio_mmio virtio_pci virtio_blk virtio_net virtio_rng vsock vmw_vsock_virtio_transport
  erofs overlay button evdev)
# ext4 (the upper layer's file system) is built into the Debian cloud kernel; load it otherwise.
grep -q '/ext4\.ko' "$x/lib/modules/$kver/modules.builtin" || modules+=(ext4)
add_modules "$x" "$kver" "$initrd" "${modules[@]}"
install -m 0755 "$builder/stage1-init" "$initrd/init"
make_cpio "$initrd" "$out/initrd.img"
mv "$work/vmlinux" "$out/vmlinux"

cat >"$out/microvm.json" <<'JSON'
{
  "name": "microvm",
  "machines": [
    {
      "name": "machine",
      "backend": "firecracker",
      "kernel": "vmlinux",
      "initrd": "initrd.img",
      "cmdline": "console=ttyS0 reboot=k panic=-1 quiet attest.store=/dev/vdb attest.upper=/dev/vda attest.init=/sbin/init",
      "memory_mib": 256,
      "vcpus": 1,
      "disks": [
        { "size_mib": 64 },
        { "path": "store.erofs", "read_only": true, "id": "store" }
      ]
    }
  ]
}
JSON

finish_build "$key" "{vmlinux,initrd.img,store.erofs,microvm.json}"
