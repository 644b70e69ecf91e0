# The seed's call form, `make-test.nix { pkgs, attest, name, nodes, testScript, ... }`, as a thin
# wrapper around nixpkgs' `pkgs.testers.runNixOSTest` with ./module.nix (nix/make-test.nix,
# nix/firecracker/make-test.nix and nix/cloud-hypervisor/make-test.nix pass the backend). Every
# other argument is a test option of nixpkgs' framework and is passed on as it is (`meta`,
# `passthru`, `interactive`, `node`, `extraBaseModules`, `skipLint`, `imports`, ...).
backend:
{
  pkgs,
  attest,
  # C++ declarations before the test (`attest.testPrelude`).
  testPrelude ? "",
  # `attest.splitStore`.
  splitStore ? false,
  # null: nixpkgs' default (every node on vlan 1, or on its `virtualisation.interfaces`);
  # false: no node on a vlan; true: every node on `vlans`.
  enableNetwork ? null,
  # The vlans of every node that sets neither `virtualisation.vlans` nor `interfaces`.
  vlans ? null,
  # Extra arguments of the test program (`extraDriverArgs`).
  driverArgs ? [ ],
  # QEMU: "kvm", "tcg" or "kvm:tcg" (`attest.accel`).
  accel ? null,
  # Firecracker or cloud-hypervisor: the VMM package (`attest.vmm`).
  vmm ? null,
  ...
}@args:
let
  inherit (pkgs) lib;
  testOptions = removeAttrs args [
    "pkgs"
    "attest"
    "testPrelude"
    "splitStore"
    "enableNetwork"
    "vlans"
    "driverArgs"
    "accel"
    "vmm"
  ];
  networkVlans =
    if enableNetwork == false then
      [ ]
    else if vlans != null then
      vlans
    else
      [ 1 ];
in
pkgs.testers.runNixOSTest {
  imports = [
    ./module.nix
    testOptions
    {
      attest = {
        package = attest;
        inherit backend splitStore testPrelude;
      }
      // lib.optionalAttrs (accel != null) { inherit accel; }
      // lib.optionalAttrs (vmm != null) { inherit vmm; };
      extraDriverArgs = driverArgs;
      # Above qemu-vm.nix's default, below a node's own setting; a node with named interfaces
      # keeps nixpkgs' default (no vlans besides them).
      defaults = lib.mkIf (enableNetwork != null || vlans != null) (
        { config, ... }:
        {
          virtualisation.vlans = lib.mkIf (config.virtualisation.interfaces == { }) (
            lib.mkOverride 900 networkVlans
          );
        }
      );
    }
  ];
}
