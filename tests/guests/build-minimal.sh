#!/usr/bin/env bash
# Builds the minimal attest test guest from Debian packages: the cloud kernel,
# an initramfs with busybox-static, bash-static as /bin/bash, netcat-openbsd and
# coreutils' timeout (as NixOS guests have them) and the virtio modules, whose PID 1 starts a
# NixOS-style backdoor shell on /dev/hvc0. Writes vmlinuz, initrd.img and
# minimal.json (the attest config that boots it) into OUTDIR.
#
# Cached: the guest is rebuilt only when this script, the files under
# minimal/ or the resolved package versions change.
#
# usage: build-minimal.sh OUTDIR [STAMP]   (STAMP is touched when the guest is ready)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build-minimal.sh OUTDIR [STAMP]}
stamp_out=${2:-}
mkdir -p "$out"
out=$(cd "$out" && pwd)
started=$(date +%s%N)

say() { printf '[guest minimal] %s\n' "$*" >&2; }
die() { printf '[guest minimal] error: %s\n' "$*" >&2; exit 1; }

for tool in apt-cache apt-get dpkg-deb depmod cpio objdump sha256sum; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed (run scripts/install-deps)"
done

candidate() {
  local v
  v=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
  [[ -n "$v" && "$v" != "(none)" ]] ||
    die "package '$1' has no installable version; run 'apt-get update' first"
  printf '%s' "$v"
}

kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
  awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[[ -n "$kernel_pkg" ]] ||
  die "cannot resolve linux-image-cloud-amd64 to a kernel package; run 'apt-get update' first"

packages=("$kernel_pkg" busybox-static bash-static netcat-openbsd coreutils libbsd0 libmd0 libc6)
pins=()
for p in "${packages[@]}"; do pins+=("$p=$(candidate "$p")"); done

key=$( {
  cat "$0" "$here"/minimal/*
  printf '%s\n' "${pins[@]}"
} | sha256sum | cut -d' ' -f1)

if [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$key" ]]; then
  say "up to date in $out ($kernel_pkg)"
  [[ -z "$stamp_out" ]] || touch "$stamp_out"
  exit 0
fi

work="$out/work"
rm -rf "$work" "$out/.stamp"
mkdir -p "$work/debs" "$work/x"

say "downloading ${#pins[@]} packages: ${pins[*]}"
(cd "$work/debs" && apt-get -q -o APT::Sandbox::User=root download "${pins[@]}" >/dev/null) ||
  die "apt-get download failed for: ${pins[*]}"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/x"; done

kver=${kernel_pkg#linux-image-}
x="$work/x"
root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,lib,lib64}

say "assembling initramfs (kernel $kver)"
cp "$x/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [[ "$applet" == busybox ]] || ln -sf busybox "$root/bin/$applet"
done
cp "$x/bin/bash-static" "$root/bin/bash"
ln -sf bash "$root/bin/sh.bash"

# netcat-openbsd (NixOS's port waits use `nc -z`, `nc -U`) and coreutils' timeout (status 124,
# as on NixOS; busybox's reports 143), with the shared libraries they need, resolved via NEEDED.
cp "$x/bin/nc.openbsd" "$root/usr/bin/nc"
cp "$x/usr/bin/timeout" "$root/usr/bin/timeout"
declare -A seen=()
copy_needed() {
  local lib path
  for lib in $(objdump -p "$1" | awk '/NEEDED/ {print $2}'); do
    [[ -n "${seen[$lib]:-}" ]] && continue
    seen[$lib]=1
    path=$(find "$x/lib" "$x/usr/lib" -name "$lib" \( -type f -o -type l \) | head -n1)
    [[ -n "$path" ]] || die "library $lib (needed by $(basename "$1")) not found in the packages"
    cp -L "$path" "$root/lib/$lib"
    copy_needed "$root/lib/$lib"
  done
}
copy_needed "$root/usr/bin/nc"
copy_needed "$root/usr/bin/timeout"
cp -L "$x/lib64/ld-linux-x86-64.so.2" "$root/lib64/ld-linux-x86-64.so.2"
mkdir -p "$root/lib/x86_64-linux-gnu"
echo /lib >"$root/etc/ld.so.conf"

# Kernel modules in load order, as modprobe resolves them.
modules=(virtio_pci virtio_console virtio_net virtio_blk virtio_rng erofs overlay)
depmod -b "$x" "$kver"
: >"$root/etc/modules.order"
declare -A loaded=()
for m in "${modules[@]}"; do
  while read -r _ path; do
    rel=${path#"$x/lib/modules/"}
    [[ -n "${loaded[$rel]:-}" ]] && continue
    loaded[$rel]=1
    mkdir -p "$root/lib/modules/$(dirname "$rel")"
    cp "$path" "$root/lib/modules/$rel"
    echo "$rel" >>"$root/etc/modules.order"
  done < <(modprobe -d "$x" -S "$kver" -D "$m" | grep '^insmod ')
done

install -m 0755 "$here/minimal/init" "$root/init"
install -m 0755 "$here/minimal/backdoor" "$root/sbin/attest-backdoor"
install -m 0644 "$here/minimal/inittab" "$root/etc/inittab"
echo 'root:x:0:0:root:/root:/bin/bash' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo 'minimal' >"$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
printf 'hosts: files dns\npasswd: files\ngroup: files\n' >"$root/etc/nsswitch.conf"

(cd "$root" && find . -print0 | LC_ALL=C sort -z |
  cpio --null --create --format=newc --owner=0:0 --quiet) >"$out/initrd.img.tmp"
mv "$out/initrd.img.tmp" "$out/initrd.img"
cp "$x/boot/vmlinuz-$kver" "$out/vmlinuz"

cat >"$out/minimal.json" <<'EOF'
{
  "name": "minimal",
  "machines": [
    {
      "name": "machine",
      "backend": "qemu",
      "kernel": "vmlinuz",
      "initrd": "initrd.img",
      "cmdline": "console=ttyS0 panic=-1 quiet",
      "memory_mib": 256,
      "vcpus": 1
    }
  ]
}
EOF

rm -rf "$work"
echo "$key" >"$out/.stamp"
ms=$((($(date +%s%N) - started) / 1000000))
say "built in $((ms / 1000)).$((ms % 1000 / 100)) s: $out/{vmlinuz,initrd.img,minimal.json}"
[[ -z "$stamp_out" ]] || touch "$stamp_out"
