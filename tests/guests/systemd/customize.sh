#!/usr/bin/env bash
# Turns a bookworm minbase root (ROOT) into the systemd test guest: the backdoor service, no
# serial gettys (hvc0 and ttyS0 belong to attest), journal on the console, a test user "alice"
# whose user manager runs from boot (linger), the kernel's modules, and no first-boot prompts.
# usage: customize.sh ROOT MODULES_DIR   (MODULES_DIR: the unpacked kernel's lib/modules)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The backdoor, its unit and the journal's setup: the image builder's (one copy).
builder="$here/../../../lib/image/builder"
root=${1:?ROOT}
modules=${2:?MODULES_DIR}

install -D -m 0755 "$builder/attest-backdoor" "$root/usr/local/sbin/attest-backdoor"
install -D -m 0644 "$builder/attest-backdoor.service" \
  "$root/etc/systemd/system/attest-backdoor.service"
ln -sf /etc/systemd/system/attest-backdoor.service \
  "$root/etc/systemd/system/multi-user.target.wants/attest-backdoor.service"
install -D -m 0644 "$builder/journald.conf" "$root/etc/systemd/journald.conf.d/attest.conf"

# hvc0 is the shell's and ttyS0 the console's: no gettys there (getty@tty1 stays). Units that
# only cost boot time in a throwaway test VM (measured under TCG: e2scrub_reap alone took 11 s)
# are masked; a test that needs one can unmask it.
for unit in serial-getty@ttyS0.service serial-getty@hvc0.service \
  apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer systemd-timesyncd.service systemd-firstboot.service \
  modprobe@configfs.service modprobe@dm_mod.service modprobe@drm.service \
  modprobe@efi_pstore.service modprobe@fuse.service modprobe@loop.service \
  dev-hugepages.mount sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount \
  sys-fs-fuse-connections.mount systemd-update-utmp.service \
  systemd-update-utmp-runlevel.service systemd-pstore.service systemd-journal-flush.service \
  systemd-random-seed.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
ln -sf /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"

echo systemd >"$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
: >"$root/etc/fstab"
# An empty machine-id: systemd makes one at boot, so every machine has its own.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
passwd -R "$root" -d root >/dev/null

chroot "$root" useradd --create-home --uid 1000 --shell /bin/bash alice
mkdir -p "$root/var/lib/systemd/linger"
: >"$root/var/lib/systemd/linger/alice"

rm -rf "$root/lib/modules"
mkdir -p "$root/lib/modules"
cp -a "$modules"/. "$root/lib/modules/"
for kver in "$root"/lib/modules/*; do depmod -b "$root" "$(basename "$kver")"; done

# What apt and dpkg keep for themselves is not needed in a read-only test image.
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
