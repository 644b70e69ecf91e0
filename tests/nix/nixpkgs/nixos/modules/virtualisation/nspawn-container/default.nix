# Stand-in written for attest's CI (not nixpkgs code): the container profile
# nixos/modules/virtualisation/nspawn-container that the test framework gives `containers`.
#
# Models: the shared network options (guest-networking-options.nix), boot.isContainer, and
# system.build.nspawn, a derivation with meta.mainProgram run-<system.name>-nspawn linking the
# system (what driver-configuration.nix starts).
# Leaves out: the container runtime (run-nspawn), its options (cmdline, rootDir, ...) and its
# network setup; the stand-in only lets the `containers` option evaluate.
{ config, pkgs, ... }:
{
  imports = [ ../guest-networking-options.nix ];

  boot.isContainer = true;

  system.build.nspawn = pkgs.runCommand "nixos-nspawn" {
    meta.mainProgram = "run-${config.system.name}-nspawn";
  } ''
    mkdir -p $out/bin
    ln -s ${config.system.build.toplevel} $out/system
    ln -s ${pkgs.writeScript "run-nspawn" "exit 1 # stand-in"} $out/bin/run-${config.system.name}-nspawn
  '';
}
