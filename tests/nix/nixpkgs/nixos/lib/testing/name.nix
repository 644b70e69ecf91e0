# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/name.nix.
#
# Models: the `name` option of a test (a string, no default).
# Leaves out: nothing.
{ lib, ... }:
{
  options.name = lib.mkOption {
    type = lib.types.str;
    description = "The name of the test.";
  };
}
