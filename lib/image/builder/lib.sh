# Functions shared by the guest builders: the image builder (./build) and the project's test
# guests (tests/guests/build-*.sh). Sourced, not run; the caller sets `guest` (its name for
# messages).

say() { printf '[guest %s] %s\n' "$guest" "$*" >&2; }
die() {
  printf '[guest %s] error: %s\n' "$guest" "$*" >&2
  exit 1
}

# start_build OUTDIR: makes OUTDIR and sets `out` (its absolute path) and `started`, then takes
# OUTDIR's lock: one build at a time per cache directory (several build trees share it).
start_build() {
  mkdir -p "$1"
  out=$(cd "$1" && pwd)
  started=$(date +%s%N)
  exec 9>"$out/.lock"
  flock 9
}

# use_cache KEY DESCRIPTION: exits (touching $stamp_out) when OUTDIR already holds the build for
# KEY; otherwise sets `work` to a fresh scratch directory under it.
use_cache() {
  if [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$1" ]]; then
    say "up to date in $out ($2)"
    [[ -z "${stamp_out:-}" ]] || touch "$stamp_out"
    exit 0
  fi
  work="$out/work"
  clean_dir "$work"
  rm -f "$out/.stamp"
  mkdir -p "$work"
}

# finish_build KEY FILES: removes the scratch directory, records KEY and reports.
finish_build() {
  clean_dir "$work"
  echo "$1" >"$out/.stamp"
  say "built in $(elapsed "$started"): $out/$2"
  [[ -z "${stamp_out:-}" ]] || touch "$stamp_out"
}

need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed (run scripts/install-deps)"
  done
}

# pin PKG...: prints PKG=VERSION for each package, with one apt-cache call (it is slow).
pin() {
  local out
  out=$(apt-cache policy "$@" 2>/dev/null | awk '
    /^[^ ]/ { pkg = $1; sub(/:$/, "", pkg) }
    /^  Candidate:/ { print pkg "=" $2 }')
  local p line
  for p in "$@"; do
    line=$(grep -m1 "^$p=" <<<"$out" || true)
    [[ -n "$line" && "$line" != *"=(none)" ]] ||
      die "package '$p' has no installable version; run 'apt-get update' first"
    printf '%s\n' "$line"
  done
}

# The concrete kernel package behind Debian's cloud kernel metapackage.
cloud_kernel_package() {
  local p
  p=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [[ -n "$p" ]] ||
    die "cannot resolve linux-image-cloud-amd64 to a kernel package; run 'apt-get update' first"
  printf '%s' "$p"
}

# download_extract DIR PKG=VER...: downloads the packages and unpacks them all into DIR/x.
download_extract() {
  local dir=$1 deb
  shift
  mkdir -p "$dir/debs" "$dir/x"
  say "downloading $#: $*"
  (cd "$dir/debs" && apt-get -q -o APT::Sandbox::User=root download "$@" >/dev/null) ||
    die "apt-get download failed for: $*"
  for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/x"; done
}

# copy_needed BINARY FROM ROOT: copies the shared libraries BINARY needs (transitively, by its
# NEEDED entries) from the unpacked packages in FROM into ROOT/lib.
declare -A copied_libs=()
copy_needed() {
  local bin=$1 from=$2 root=$3 lib path
  for lib in $(objdump -p "$bin" | awk '/NEEDED/ {print $2}'); do
    [[ -n "${copied_libs[$lib]:-}" ]] && continue
    copied_libs[$lib]=1
    path=$(find "$from/lib" "$from/usr/lib" -name "$lib" \( -type f -o -type l \) | head -n1)
    [[ -n "$path" ]] || die "library $lib (needed by $(basename "$bin")) not found in the packages"
    cp -L "$path" "$root/lib/$lib"
    copy_needed "$root/lib/$lib" "$from" "$root"
  done
}

# add_modules FROM KVER ROOT MODULE...: copies the modules and their dependencies from the
# unpacked kernel in FROM into ROOT/lib/modules and lists them in load order in
# ROOT/etc/modules.order (the initramfs init loads them with insmod).
add_modules() {
  local from=$1 kver=$2 root=$3 m path rel
  shift 3
  depmod -b "$from" "$kver"
  : >"$root/etc/modules.order"
  local -A loaded=()
  for m in "$@"; do
    while read -r _ path; do
      rel=${path#"$from/lib/modules/"}
      [[ -n "${loaded[$rel]:-}" ]] && continue
      loaded[$rel]=1
      mkdir -p "$root/lib/modules/$(dirname "$rel")"
      cp "$path" "$root/lib/modules/$rel"
      echo "$rel" >>"$root/etc/modules.order"
    done < <(modprobe -d "$from" -S "$kver" -D "$m" | grep '^insmod ')
  done
}

# busybox_root FROM ROOT: a skeleton root with busybox-static and all its applets.
busybox_root() {
  local from=$1 root=$2 applet
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,lib,lib64}
  cp "$from/bin/busybox" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [[ "$applet" == busybox ]] || ln -sf busybox "$root/bin/$applet"
  done
}

# test_userland FROM ROOT: the userland both busybox test guests share: busybox with all its
# applets, bash-static as /bin/bash, netcat-openbsd (NixOS's port waits use `nc -z`, `nc -U`)
# and coreutils' timeout (status 124, as on NixOS; busybox's reports 143), with the shared
# libraries they need.
test_userland() {
  local from=$1 root=$2
  busybox_root "$from" "$root"
  cp "$from/bin/bash-static" "$root/bin/bash"
  ln -sf bash "$root/bin/sh.bash"
  cp "$from/bin/nc.openbsd" "$root/usr/bin/nc"
  cp "$from/usr/bin/timeout" "$root/usr/bin/timeout"
  copy_needed "$root/usr/bin/nc" "$from" "$root"
  copy_needed "$root/usr/bin/timeout" "$from" "$root"
  cp -L "$from/lib64/ld-linux-x86-64.so.2" "$root/lib64/ld-linux-x86-64.so.2"
  mkdir -p "$root/lib/x86_64-linux-gnu"
  echo /lib >"$root/etc/ld.so.conf"
}

# make_cpio ROOT OUT: a reproducible newc archive of ROOT.
make_cpio() {
  (cd "$1" && find . -print0 | LC_ALL=C sort -z |
    cpio --null --create --format=newc --owner=0:0 --quiet) >"$2.tmp"
  mv "$2.tmp" "$2"
}

# elapsed STARTED_NS: "12.3 s" since then.
elapsed() {
  local ms=$((($(date +%s%N) - $1) / 1000000))
  printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100))
}

# clean_dir DIR: removes DIR, first unmounting whatever an interrupted earlier build (mmdebstrap
# mounts /proc, /sys and /dev inside its target) left mounted below it, and never crossing into
# another file system.
clean_dir() {
  local dir mnt
  dir=$(realpath -m "$1")
  while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done < <(awk -v d="$dir/" 'index($2 "/", d) == 1 {print $2}' /proc/mounts | sort -r)
  rm -rf --one-file-system "$dir"
}

# le32 FILE OFFSET: the little-endian 32-bit unsigned integer at byte OFFSET of FILE.
le32() {
  local b
  read -r -a b < <(od -An -v -t u1 -j "$2" -N 4 "$1")
  ((${#b[@]} == 4)) || die "$1 is too short to hold 4 bytes at offset $2"
  printf '%d' $((b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24))
}

# hexbytes FILE OFFSET COUNT: the COUNT bytes at OFFSET of FILE as hex, e.g. "7f454c46".
hexbytes() { od -An -v -t x1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }

# extract_vmlinux IN OUT: writes the uncompressed ELF kernel inside the bzImage IN to OUT (the
# microVM monitors, Firecracker and cloud-hypervisor, boot an ELF through its PVH entry point,
# not a bzImage). Handles the LZ4 payload of Debian's kernels (CONFIG_KERNEL_LZ4): the payload
# starts (setup_sects + 1) * 512 + payload_offset bytes in (setup_sects is the byte at 0x1f1,
# payload_offset the le32 at 0x248, its length the le32 at 0x24c) and is an LZ4 legacy stream
# followed by the le32 size of the uncompressed kernel. Checks the result is an ELF file with
# the Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY, type 0x12).
extract_vmlinux() {
  local in=$1 vmlinux=$2 setup_sects start length magic size actual notes
  need_tools od lz4 readelf dd
  [[ -f "$in" ]] || die "extract_vmlinux: no kernel image at $in"
  [[ "$(hexbytes "$in" 0x202 4)" == 48647253 ]] ||
    die "extract_vmlinux: $in is not an x86 bzImage (no 'HdrS' boot header at 0x202)"
  setup_sects=$(od -An -t u1 -j 0x1f1 -N 1 "$in" | tr -d ' ')
  ((setup_sects != 0)) || setup_sects=4
  start=$(((setup_sects + 1) * 512 + $(le32 "$in" 0x248)))
  length=$(le32 "$in" 0x24c)
  ((length > 8 && start + length <= $(stat -c %s "$in"))) ||
    die "extract_vmlinux: $in has an invalid payload (offset $start, length $length)"
  magic=$(hexbytes "$in" "$start" 4)
  [[ "$magic" == 02214c18 ]] || die "extract_vmlinux: the payload of $in is not LZ4 legacy" \
    "(magic $magic; gzip is 1f8b08.., xz fd377a58, zstd 28b52ffd): only LZ4 kernels are handled"
  # The stream itself, without the size trailer (lz4 reads it as a garbage block).
  size=$(le32 "$in" $((start + length - 4)))
  dd if="$in" iflag=skip_bytes,count_bytes skip="$start" count=$((length - 4)) bs=1M \
    status=none | lz4 -dc >"$vmlinux.tmp" ||
    die "extract_vmlinux: cannot decompress the LZ4 payload of $in"
  actual=$(stat -c %s "$vmlinux.tmp")
  ((actual == size)) ||
    die "extract_vmlinux: the payload of $in decompressed to $actual bytes, its trailer says $size"
  [[ "$(hexbytes "$vmlinux.tmp" 0 4)" == 7f454c46 ]] ||
    die "extract_vmlinux: the payload of $in is not an ELF file"
  notes=$(readelf -W -n "$vmlinux.tmp") || die "extract_vmlinux: readelf cannot read the kernel"
  grep -Eq '^ *Xen[[:space:]]+0x[0-9a-f]+[[:space:]].*(\(0x00000012\)|PHYS32_ENTRY)' <<<"$notes" ||
    die "extract_vmlinux: the kernel in $in has no PVH entry point (Xen note 0x12;" \
      "CONFIG_PVH is off?), which Firecracker and cloud-hypervisor need"
  mv "$vmlinux.tmp" "$vmlinux"
}
