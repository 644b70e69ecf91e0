# Stand-in written for attest's CI (not nixpkgs code): the options of
# nixos/modules/system/boot/systemd/initrd.nix (systemd in stage 1).
#
# Models: boot.initrd.systemd.enable, defaulting to true as in current nixpkgs (systemd stage 1 is
# the default there since mid-2026; the scripted stage 1 needs `enable = false`), package,
# contents.<path> (enable, target, text, source), storePaths, services / sockets (the stage 2
# unit types), settings.Manager, extraBin, initrdBin, emergencyAccess, root (fstab or gpt-auto),
# managerEnvironment, suppressedUnits, additionalUpstreamUnits, strip; and, when it is enabled:
# the assertions that a root file system is declared and that none of the scripted stage 1's
# command options is set, autofs among the initrd modules, root=<root> (and rw for gpt-auto) on
# the kernel command line, and /etc/hostname and system.conf in the initrd's contents.
# Leaves out: the unit generation and the real initrd contents (binaries, modules closure).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.boot.initrd.systemd;
  units = import ../../../../lib/systemd-lib.nix { inherit lib pkgs; };
  scriptedOnly = [
    "preFailCommands"
    "preDeviceCommands"
    "preLVMCommands"
    "postDeviceCommands"
    "postResumeCommands"
    "postMountCommands"
    "extraUdevRulesCommands"
    "extraUtilsCommands"
    "extraUtilsCommandsTest"
  ];
in
{
  options.boot.initrd.systemd = {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to enable systemd in initrd.";
    };
    package = mkOption {
      type = types.package;
      default = config.systemd.package;
    };
    contents = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              enable = mkOption {
                type = types.bool;
                default = true;
              };
              target = mkOption {
                type = types.str;
                default = name;
              };
              text = mkOption {
                type = types.nullOr types.lines;
                default = null;
              };
              source = mkOption { type = types.path; };
            };
          }
        )
      );
    };
    storePaths = mkOption {
      type = types.listOf (types.either types.str types.package);
      default = [ ];
    };
    services = mkOption {
      type = types.attrsOf units.serviceType;
      default = { };
    };
    sockets = mkOption {
      type = types.attrsOf units.socketType;
      default = { };
    };
    settings.Manager = mkOption {
      type = types.attrsOf units.unitOption;
      default = { };
    };
    extraBin = mkOption {
      type = types.attrsOf types.path;
      default = { };
    };
    initrdBin = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };
    emergencyAccess = mkOption {
      type = types.either types.bool (types.nullOr types.str);
      default = false;
    };
    root = mkOption {
      type = types.enum [
        "fstab"
        "gpt-auto"
      ];
      default = "fstab";
    };
    managerEnvironment = mkOption {
      type = types.attrsOf (types.nullOr (types.either types.str types.package));
      default = { };
    };
    suppressedUnits = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    additionalUpstreamUnits = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    strip = mkOption {
      type = types.bool;
      default = true;
    };
  };

  config = lib.mkIf (config.boot.initrd.enable && cfg.enable) {
    assertions = [
      {
        assertion =
          cfg.root == "fstab" -> builtins.any (fs: fs.mountPoint == "/") (builtins.attrValues config.fileSystems);
        message = "The ‘fileSystems’ option does not specify your root file system.";
      }
    ]
    ++ map (name: {
      assertion = config.boot.initrd.${name} == "";
      message = "systemd stage 1 does not support 'boot.initrd.${name}'. Please convert it to analogous systemd units in 'boot.initrd.systemd'.";
    }) scriptedOnly
    ++ [
      {
        assertion = config.boot.initrd.network.postCommands == "";
        message = "systemd stage 1 does not support 'boot.initrd.network.postCommands'. Please convert it to analogous systemd units in 'boot.initrd.systemd'.";
      }
    ];

    boot.initrd.availableKernelModules = [ "autofs" ] ++ lib.optional (cfg.package.withEfi or false) "efivarfs";
    boot.kernelParams = [ "root=${cfg.root}" ] ++ lib.optional (cfg.root == "gpt-auto") "rw";

    boot.initrd.systemd.initrdBin = [
      pkgs.bashInteractive
      pkgs.coreutils
      cfg.package
    ];
    boot.initrd.systemd.contents = {
      "/init".source = "${cfg.package}/lib/systemd/systemd";
      "/etc/hostname".text = config.networking.hostName;
      "/etc/systemd/system.conf".text = units.section "Manager" cfg.settings.Manager;
    };
  };
}
