# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/nixos-test-base.nix, the
# base of every machine of a test (kept even in specialisations that do not inherit the
# parent's configuration).
#
# Models: test-instrumentation.nix; documentation.nixos.enable = false; the revision metadata
# made constant (system.nixos.revision "constant-nixos-revision", versionSuffix and label "test",
# all mkForce), so a system's name is nixos-system-<name>-test; system.switch.enable defaulting to
# false unless the machine is a specialisation, has specialisations, or installs a boot loader.
# qemu-vm.nix is not imported here: as in current nixpkgs, the framework adds it to `nodes` only
# (nodes.nix), so that containers share this base.
# Leaves out: nothing observable.
{ lib, ... }:
{
  imports = [
    ../../modules/testing/test-instrumentation.nix
    {
      key = "no-manual";
      documentation.nixos.enable = false;
    }
    {
      key = "no-revision";
      config.system.nixos = {
        revision = lib.mkForce "constant-nixos-revision";
        versionSuffix = lib.mkForce "test";
        label = lib.mkForce "test";
      };
    }
    (
      { config, ... }:
      {
        key = "no-switch-to-configuration";
        system.switch.enable = lib.mkDefault (
          config.isSpecialisation
          || config.specialisation != { }
          || (config.virtualisation.installBootLoader or false)
        );
      }
    )
  ];
}
