# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/misc/nixpkgs.nix, where the
# `pkgs` module argument of a NixOS configuration comes from.
#
# Models: nixpkgs.pkgs (types.pkgs; when set, `pkgs` is it with nixpkgs.overlays appended),
# nixpkgs.config (attribute sets or functions, merged as nixpkgs merges them), nixpkgs.overlays,
# nixpkgs.hostPlatform / buildPlatform (a double or an attribute set, elaborated), the legacy
# nixpkgs.system / localSystem / crossSystem (nixpkgs.system throws when read and not set), and
# `_module.args.pkgs` at the default priority, otherwise the stand-in nixpkgs (../../..)
# imported with the configuration's config, overlays, platform and the evaluation's `lib`.
# The assertion that nixpkgs.config is not set together with nixpkgs.pkgs.
# Leaves out: cross compilation, the system-mismatch and legacy-option assertions, and the
# elaboration of platforms by lib.systems (pkgs/platform.nix of the stand-in makes the records).
{
  config,
  options,
  lib,
  ...
}:
let
  cfg = config.nixpkgs;
  opt = options.nixpkgs;
  elaborate = import ../../../pkgs/platform.nix;

  optCall = f: x: if lib.isFunction f then f x else f;

  configType = lib.mkOptionType {
    name = "nixpkgs-config";
    description = "nixpkgs config";
    check = x: builtins.isAttrs x || lib.isFunction x;
    merge =
      loc: defs:
      lib.foldr (
        def: acc:
        let
          value = optCall def.value { inherit lib; };
        in
        lib.zipAttrsWith (
          _: values:
          if builtins.all builtins.isList values then builtins.concatLists values else builtins.head values
        ) [
          value
          acc
        ]
      ) { } defs;
  };

  overlayType = lib.mkOptionType {
    name = "nixpkgs-overlay";
    description = "nixpkgs overlay";
    check = lib.isFunction;
    merge = lib.mergeOneOption;
  };

  platformType = lib.types.either lib.types.str lib.types.attrs;

  defaultPkgs = import ../../.. {
    inherit lib;
    inherit (cfg) config overlays;
    localSystem = if opt.hostPlatform.isDefined then cfg.hostPlatform else cfg.localSystem;
  };

  finalPkgs = if opt.pkgs.isDefined then cfg.pkgs.appendOverlays cfg.overlays else defaultPkgs;
in
{
  options.nixpkgs = {
    pkgs = lib.mkOption {
      type = lib.types.pkgs;
      description = "The package set of the configuration, with nixpkgs.overlays appended.";
    };
    config = lib.mkOption {
      type = configType;
      default = { };
      description = "The nixpkgs configuration; ignored when nixpkgs.pkgs is set.";
    };
    overlays = lib.mkOption {
      type = lib.types.listOf overlayType;
      default = [ ];
      description = "Overlays applied to the package set.";
    };
    hostPlatform = lib.mkOption {
      type = platformType;
      apply = elaborate;
      description = "The platform the configuration runs on.";
    };
    buildPlatform = lib.mkOption {
      type = platformType;
      default = cfg.hostPlatform;
      apply = p: if elaborate p == cfg.hostPlatform then cfg.hostPlatform else elaborate p;
      description = "The platform the configuration is built on.";
    };
    localSystem = lib.mkOption {
      type = lib.types.attrs;
      default = {
        inherit (cfg) system;
      };
      apply = elaborate;
      description = "Legacy: the platform the configuration is built on and for.";
    };
    crossSystem = lib.mkOption {
      type = lib.types.nullOr lib.types.attrs;
      default = null;
      description = "Legacy: the platform to cross-compile for (unsupported by the stand-in).";
    };
    system = lib.mkOption {
      type = lib.types.str;
      default =
        if opt.hostPlatform.isDefined then
          throw "Neither nixpkgs.system nor any other option in nixpkgs.* is meant to be read by modules and configurations. Use pkgs.stdenv.hostPlatform instead."
        else
          throw "Neither nixpkgs.hostPlatform nor the legacy option nixpkgs.system has been set.";
      description = "Legacy: the system double of the configuration.";
    };
  };

  config = {
    _module.args.pkgs = lib.mkOverride 100 finalPkgs;

    assertions = [
      {
        assertion = opt.pkgs.isDefined -> cfg.config == { };
        message = "Your system configures nixpkgs with an externally created instance (nixpkgs.pkgs); nixpkgs.config options should be passed when creating that instance instead.";
      }
    ];
  };
}
