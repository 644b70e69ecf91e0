# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/misc/nixpkgs/read-only.nix,
# which the test framework imports into every node when node.pkgs is set (node.pkgsReadOnly).
#
# Models: disabling ../nixpkgs.nix (disabledModules), nixpkgs.pkgs as the only source of the
# `pkgs` argument (its __splicedPackages), and nixpkgs.config / overlays / hostPlatform /
# buildPlatform taken from that pkgs and made read-only (types.unique: defining them in a node is
# an error, raised when `pkgs` is used).
# Leaves out: nothing observable.
{ lib, config, ... }:
let
  cfg = config.nixpkgs;
  readOnly =
    what:
    lib.mkOption {
      internal = true;
      type = lib.types.unique { message = "nixpkgs.${what} is set to read-only"; } lib.types.anything;
    };
in
{
  disabledModules = [ ../nixpkgs.nix ];

  options.nixpkgs = {
    pkgs = lib.mkOption {
      type = lib.types.pkgs;
      description = "The pkgs module argument.";
    };
    config = readOnly "config";
    overlays = readOnly "overlays";
    hostPlatform = lib.mkOption {
      internal = true;
      readOnly = true;
    };
    buildPlatform = lib.mkOption {
      internal = true;
      readOnly = true;
    };
  };

  config = {
    _module.args.pkgs = builtins.seq cfg.config (
      builtins.seq cfg.overlays (
        builtins.seq cfg.hostPlatform (builtins.seq cfg.buildPlatform cfg.pkgs.__splicedPackages)
      )
    );
    nixpkgs.config = cfg.pkgs.config;
    nixpkgs.overlays = cfg.pkgs.overlays;
    nixpkgs.hostPlatform = cfg.pkgs.stdenv.hostPlatform;
    nixpkgs.buildPlatform = cfg.pkgs.stdenv.buildPlatform;
  };
}
