# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/misc/assertions.nix.
#
# Models: the `assertions` (list of { assertion; message; }) and `warnings` (list of strings)
# options; system.build.toplevel (system/activation/top-level.nix) throws the failed assertions'
# messages and prints the warnings when it is evaluated, as NixOS does.
# Leaves out: nothing observable.
{ lib, ... }:
{
  options = {
    assertions = lib.mkOption {
      type = lib.types.listOf lib.types.unspecified;
      internal = true;
      default = [ ];
    };
    warnings = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      internal = true;
      default = [ ];
    };
  };
}
