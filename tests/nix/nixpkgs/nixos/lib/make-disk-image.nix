# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/make-disk-image.nix, the disk
# image builder qemu-vm.nix uses for useBootLoader.
#
# Models: the arguments qemu-vm.nix and common callers pass (pkgs, config, lib, format,
# partitionTableType, label, additionalPaths, installBootLoader, touchEFIVars, diskSize, OVMF,
# ...) and a derivation named nixos-disk-image whose inputs are the system and those paths.
# Leaves out: building an image.
{
  pkgs,
  lib,
  config,
  format ? "raw",
  partitionTableType ? "legacy",
  label ? "nixos",
  additionalPaths ? [ ],
  installBootLoader ? true,
  touchEFIVars ? false,
  diskSize ? "auto",
  name ? "nixos-disk-image",
  baseName ? "nixos",
  ...
}:
pkgs.runCommand name {
  inherit
    format
    partitionTableType
    label
    additionalPaths
    installBootLoader
    touchEFIVars
    ;
  diskSize = toString diskSize;
  toplevel = config.system.build.toplevel;
} "mkdir -p $out # stand-in: $out/${baseName}.${if format == "qcow2" then "qcow2" else "img"}"
