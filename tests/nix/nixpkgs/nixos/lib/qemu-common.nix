# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/qemu-common.nix, the QEMU
# helpers shared by qemu-vm.nix and the test framework's network module.
#
# Models: qemuNicMac (52:54:00:12:<vlan>:<node>, two hex digits each, uppercase as
# lib.toHexString gives them; more than 255 throws), qemuNICFlags (a virtio-net-pci device
# netdev=vlan<nic> with that MAC, and a VDE netdev on "$QEMU_VDE_SOCKET_<vlan>"), qemuSerialDevice
# (ttyS0 on x86/RISC-V/LoongArch/MIPS64, ttyAMA0 on ARM/POWER), and qemuBinary (the
# qemu-system-<arch> command of a Linux guest on a Linux host, accel=kvm:tcg, or accel=kvm when
# forced through qemuBinaryWith). Takes `{ lib, pkgs }` or `{ lib, stdenv }`, as the two callers in
# nixpkgs pass it.
# Leaves out: Darwin hosts (hvf) and the less common guest systems.
{
  lib,
  pkgs ? null,
  stdenv ? pkgs.stdenv,
}:
let
  platform = stdenv.hostPlatform;
  hexDigits = [
    "0"
    "1"
    "2"
    "3"
    "4"
    "5"
    "6"
    "7"
    "8"
    "9"
    "A"
    "B"
    "C"
    "D"
    "E"
    "F"
  ];
  twoHex =
    n:
    if n > 255 then
      throw "Can't have more than 255 nets or nodes!"
    else
      builtins.elemAt hexDigits (n / 16) + builtins.elemAt hexDigits (n - 16 * (n / 16));

  qemuBinaryWith =
    {
      qemuPkg,
      forceAccel ? false,
    }:
    let
      accel = name: if forceAccel then name else "${name}:tcg";
      bySystem = {
        x86_64-linux = "${qemuPkg}/bin/qemu-system-x86_64 -machine accel=${accel "kvm"} -cpu max";
        i686-linux = "${qemuPkg}/bin/qemu-system-i386 -machine accel=${accel "kvm"} -cpu max";
        aarch64-linux = "${qemuPkg}/bin/qemu-system-aarch64 -machine virt,gic-version=max,accel=${accel "kvm"} -cpu max";
        armv7l-linux = "${qemuPkg}/bin/qemu-system-arm -machine virt,accel=${accel "kvm"} -cpu max";
        riscv64-linux = "${qemuPkg}/bin/qemu-system-riscv64 -machine virt";
        powerpc64le-linux = "${qemuPkg}/bin/qemu-system-ppc64 -machine powernv";
      };
    in
    bySystem.${platform.system} or "${qemuPkg}/bin/qemu-kvm";
in
rec {
  qemuNicMac = net: machine: "52:54:00:12:${twoHex net}:${twoHex machine}";

  qemuNICFlags = nic: net: machine: [
    "-device virtio-net-pci,netdev=vlan${toString nic},mac=${qemuNicMac net machine}"
    ''-netdev vde,id=vlan${toString nic},sock="$QEMU_VDE_SOCKET_${toString net}"''
  ];

  qemuSerialDevice =
    if platform.isx86 || platform.isRiscV || platform.isLoongArch64 || platform.isMips64 then
      "ttyS0"
    else if platform.isAarch || platform.isPower then
      "ttyAMA0"
    else
      throw "Unknown QEMU serial device for system '${platform.system}'";

  inherit qemuBinaryWith;
  qemuBinary = qemuPkg: qemuBinaryWith { inherit qemuPkg; };
}
