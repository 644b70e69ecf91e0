# Stand-in written for attest's CI (not nixpkgs code): the initrd of NixOS
# (nixos/modules/system/boot/stage-1.nix for the scripted stage 1, and the initrd part of
# systemd/initrd.nix and services/hardware/udev.nix).
#
# Models: boot.initrd.{enable, availableKernelModules, kernelModules, services.udev.rules,
# preDeviceCommands, postDeviceCommands, preLVMCommands, postMountCommands, postResumeCommands,
# preFailCommands, extraUtilsCommands, extraUtilsCommandsTest, extraUdevRulesCommands,
# network.enable, network.postCommands, luks.devices, secrets, prepend, compressor} and
# system.build.initialRamdisk: a derivation named initrd-<kernel name> whose inputs are the
# kernel, the modules, the udev rules, the file systems stage 1 mounts, and either the scripted
# stage 1's commands or the systemd stage 1's contents and units.
# Leaves out: the real initrd build (module closure, extra-utils, cpio), LVM/RAID/LUKS handling
# and supportedFilesystems (free-form here).
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.boot.initrd;
  lines = mkOption {
    type = types.lines;
    default = "";
  };
  units = import ../../../lib/systemd-lib.nix { inherit lib pkgs; };
  kernel = config.boot.kernelPackages.kernel;
  stage1FileSystems = lib.filter utils.fsNeededForBoot (builtins.attrValues config.fileSystems);

  scriptedStage1 = pkgs.writeScript "stage-1-init.sh" ''
    #!/bin/sh
    # stand-in of NixOS's scripted stage 1
    ${cfg.preDeviceCommands}
    ${cfg.postDeviceCommands}
    ${cfg.preLVMCommands}
    ${cfg.postResumeCommands}
    ${cfg.postMountCommands}
  '';
  extraUtils = pkgs.runCommand "extra-utils" {
    commands = cfg.extraUtilsCommands;
    tests = cfg.extraUtilsCommandsTest;
  } "mkdir -p $out # stand-in";

  systemdStage1 = builtins.toJSON {
    contents = lib.mapAttrs (_: c: if c.text != null then c.text else "${c.source}") (
      lib.filterAttrs (_: c: c.enable) cfg.systemd.contents
    );
    services = lib.mapAttrs (_: units.serviceText) cfg.systemd.services;
    manager = units.section "Manager" cfg.systemd.settings.Manager;
    storePaths = map toString cfg.systemd.storePaths;
    root = cfg.systemd.root;
  };
in
{
  options.boot.initrd = {
    enable = mkOption {
      type = types.bool;
      default = !config.boot.isContainer;
    };
    availableKernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    services.udev.rules = lines;
    preDeviceCommands = lines;
    postDeviceCommands = lines;
    preLVMCommands = lines;
    postMountCommands = lines;
    postResumeCommands = lines;
    preFailCommands = lines;
    extraUtilsCommands = lines;
    extraUtilsCommandsTest = lines;
    extraUdevRulesCommands = lines;
    network.enable = mkOption {
      type = types.bool;
      default = false;
    };
    network.postCommands = lines;
    luks.devices = mkOption {
      type = types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; });
      default = { };
    };
    secrets = mkOption {
      type = types.attrsOf (types.nullOr types.path);
      default = { };
    };
    prepend = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    compressor = mkOption {
      type = types.either types.str (types.functionTo types.str);
      default = "zstd";
    };
  };

  config = lib.mkIf cfg.enable {
    system.build.initialRamdisk = pkgs.stdenvNoCC.mkDerivation {
      name = "initrd-${kernel.name}";
      inherit kernel;
      modules = lib.unique (cfg.availableKernelModules ++ cfg.kernelModules);
      loadModules = cfg.kernelModules;
      udevRules = cfg.services.udev.rules;
      fileSystems = builtins.toJSON (
        map (fs: {
          inherit (fs)
            mountPoint
            device
            fsType
            options
            ;
        }) stage1FileSystems
      );
      stage1 = if cfg.systemd.enable then systemdStage1 else scriptedStage1;
      extraUtils = if cfg.systemd.enable then "" else extraUtils;
      compressor = if lib.isFunction cfg.compressor then cfg.compressor pkgs else cfg.compressor;
      buildCommand = "mkdir -p $out # stand-in: $out/initrd";
    };
  };
}
