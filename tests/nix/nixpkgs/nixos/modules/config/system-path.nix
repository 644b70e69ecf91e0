# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/config/system-path.nix.
#
# Models: environment.systemPackages (with NixOS's always-present packages first),
# environment.pathsToLink, environment.extraOutputsToInstall, and system.path, the buildEnv of
# the packages that system.build.toplevel links as sw.
# Leaves out: environment.defaultPackages and the package outputs selection.
{
  config,
  lib,
  pkgs,
  ...
}:
{
  options = {
    environment.systemPackages = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
    };
    environment.pathsToLink = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
    };
    environment.extraOutputsToInstall = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
    };
    system.path = lib.mkOption {
      internal = true;
      type = lib.types.package;
    };
  };

  config = {
    environment.systemPackages = lib.mkBefore [
      pkgs.coreutils
      pkgs.bashInteractive
      pkgs.util-linux
      pkgs.systemd
    ];
    system.path = pkgs.buildEnv {
      name = "system-path";
      paths = config.environment.systemPackages;
      inherit (config.environment) pathsToLink extraOutputsToInstall;
    };
  };
}
