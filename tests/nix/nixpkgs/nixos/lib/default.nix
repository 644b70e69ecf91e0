# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/default.nix, what
# `import (pkgs.path + "/nixos/lib") { }` gives.
#
# Models: the arguments lib (default ../../default-lib.nix), featureFlags and any other; the
# functions evalModules (a NixOS evaluation of exactly the given modules, class "nixos", with
# `modulesPath`), evalTest and runTest (the test framework of ./testing).
# Leaves out: the warning that nixos/lib's evalModules is experimental.
{
  lib ? import ../../default-lib.nix,
  featureFlags ? { },
  ...
}:
let
  testing = import ./testing/default.nix { inherit lib; };
in
{
  evalModules =
    {
      prefix ? [ ],
      modules ? [ ],
      specialArgs ? { },
    }:
    lib.evalModules {
      inherit prefix modules;
      class = "nixos";
      specialArgs = {
        modulesPath = toString ../modules;
      }
      // specialArgs;
    };

  inherit (testing) evalTest runTest;
}
