# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/misc/version.nix.
#
# Models: system.nixos.{release, versionSuffix, version, revision, codeName, distroId,
# distroName, tags, label} with nixpkgs' defaults from `lib.trivial` (label: the sorted tags and
# the version, joined by "-"), and system.stateVersion (default: the release, with NixOS's warning
# when nothing defines it).
# Leaves out: /etc/os-release and the NIXOS_LABEL environment override; revision defaults to null
# (nixpkgs reads the .git-revision file of its source).
{
  config,
  options,
  lib,
  ...
}:
let
  cfg = config.system.nixos;
  inherit (lib) mkOption types;
in
{
  options.system = {
    nixos = {
      release = mkOption {
        readOnly = true;
        type = types.str;
        default = lib.trivial.release;
      };
      versionSuffix = mkOption {
        internal = true;
        type = types.str;
        default = lib.trivial.versionSuffix;
      };
      version = mkOption {
        internal = true;
        type = types.str;
        default = cfg.release + cfg.versionSuffix;
      };
      revision = mkOption {
        internal = true;
        type = types.nullOr types.str;
        default = null;
      };
      codeName = mkOption {
        readOnly = true;
        type = types.str;
        default = lib.trivial.codeName;
      };
      distroId = mkOption {
        internal = true;
        type = types.str;
        default = "nixos";
      };
      distroName = mkOption {
        internal = true;
        type = types.str;
        default = "NixOS";
      };
      tags = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      label = mkOption {
        type = types.strMatching "[a-zA-Z0-9:_\\.-]*";
        default = builtins.concatStringsSep "-" (
          builtins.sort (a: b: a < b) cfg.tags ++ [ cfg.version ]
        );
      };
    };
    stateVersion = mkOption {
      type = types.str;
      default = cfg.release;
    };
  };

  config.warnings = lib.optional (
    options.system.stateVersion.highestPrio == (lib.mkOptionDefault { }).priority
  ) "system.stateVersion is not set, defaulting to ${cfg.release}.";
}
