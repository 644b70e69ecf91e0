# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/meta.nix.
#
# Models: meta.{maintainers ([ ]), timeout (3600, nullable), broken (false), platforms (Linux and
# Darwin), hydraPlatforms (Linux)}, with null values dropped (the option's apply), set on the
# driver and the test derivation by driver.nix and run.nix.
# Leaves out: nothing.
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.meta = mkOption {
    description = "The meta attributes set on the returned derivations.";
    apply = lib.filterAttrs (_: v: v != null);
    default = { };
    type = types.submodule {
      options = {
        maintainers = mkOption {
          type = types.listOf types.raw;
          default = [ ];
        };
        timeout = mkOption {
          type = types.nullOr types.int;
          default = 3600;
        };
        broken = mkOption {
          type = types.bool;
          default = false;
        };
        platforms = mkOption {
          type = types.listOf types.raw;
          default = lib.platforms.linux ++ lib.platforms.darwin;
        };
        hydraPlatforms = mkOption {
          type = types.listOf types.raw;
          default = lib.platforms.linux;
        };
      };
    };
  };
}
