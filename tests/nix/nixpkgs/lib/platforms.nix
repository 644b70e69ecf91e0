# Stand-in for nixpkgs' lib.platforms, written for attest's CI (no nixpkgs there; see
# default.nix). Covers: platforms.linux and platforms.darwin, the lists of system strings
# packages use in meta.platforms (the same lists, in the same order, as the real ones).
# Leaves out: lib.systems and every other platform list.
{ lib }:
{
  linux = [
    "aarch64-linux"
    "arc-linux"
    "armv5tel-linux"
    "armv6l-linux"
    "armv7a-linux"
    "armv7l-linux"
    "i686-linux"
    "loongarch64-linux"
    "m68k-linux"
    "sh4-linux"
    "microblaze-linux"
    "microblazeel-linux"
    "mips-linux"
    "mips64-linux"
    "mips64el-linux"
    "mipsel-linux"
    "powerpc-linux"
    "powerpc64-linux"
    "powerpc64le-linux"
    "riscv32-linux"
    "riscv64-linux"
    "s390-linux"
    "s390x-linux"
    "x86_64-linux"
  ];
  darwin = [
    "x86_64-darwin"
    "aarch64-darwin"
  ];
}
