# Functions shared by the guest builders (sourced, not run). The caller sets `guest` (its name
# for messages) before sourcing.

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
