# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/legacy.nix.
#
# Models: the deprecated `machine` option, which becomes nodes.machine with a warning.
# Leaves out: nothing.
{
  config,
  options,
  lib,
  ...
}:
{
  options.machine = lib.mkOption {
    internal = true;
    type = lib.types.raw;
  };

  config.nodes = lib.mkIf options.machine.isDefined (
    lib.warn "In test `${config.name}': The `machine' attribute in NixOS tests (pkgs.nixosTest / make-test-python.nix / testing-python.nix / makeTest) is deprecated. Please set the equivalent `nodes.machine'." {
      inherit (config) machine;
    }
  );
}
