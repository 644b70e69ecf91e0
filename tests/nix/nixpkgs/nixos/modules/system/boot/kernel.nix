# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/system/boot/kernel.nix.
#
# Models: boot.kernelPackages (default pkgs.linuxPackages; `.kernel`, `.kernel.dev`),
# boot.kernelParams (with nixpkgs' pattern, and NixOS's loglevel=<consoleLogLevel> first),
# boot.kernelModules (NixOS adds loop and atkbd), boot.extraModulePackages,
# boot.blacklistedKernelModules, boot.extraModprobeConfig, boot.consoleLogLevel (4),
# boot.kernel.sysctl, boot.kernel.enable, boot.isContainer, boot.initrd.includeDefaultModules
# (a subset of NixOS's default initrd modules), system.modulesTree and system.build.kernel.
# Leaves out: kernel patches and structured config (kernelPackages has no apply here), the
# modules closure, sysctl's special merging, and system.requiredKernelConfig.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  kernel = config.boot.kernelPackages.kernel;
in
{
  options = {
    boot.kernelPackages = mkOption {
      type = types.raw;
      default = pkgs.linuxPackages;
    };
    boot.kernelParams = mkOption {
      type = types.listOf (types.strMatching ''([^"[:space:]]|"[^"]*")+'');
      default = [ ];
    };
    boot.kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    boot.extraModulePackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };
    boot.blacklistedKernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    boot.extraModprobeConfig = mkOption {
      type = types.lines;
      default = "";
    };
    boot.consoleLogLevel = mkOption {
      type = types.int;
      default = 4;
    };
    boot.kernel.enable = mkOption {
      type = types.bool;
      default = true;
    };
    boot.kernel.sysctl = mkOption {
      type = types.attrsOf (
        types.nullOr (
          types.oneOf [
            types.bool
            types.str
            types.int
          ]
        )
      );
      default = { };
    };
    boot.isContainer = mkOption {
      type = types.bool;
      default = false;
    };
    boot.initrd.includeDefaultModules = mkOption {
      type = types.bool;
      default = true;
    };
    system.modulesTree = mkOption {
      internal = true;
      type = types.listOf types.path;
    };
  };

  config = lib.mkIf config.boot.kernel.enable {
    boot.kernelParams = [ "loglevel=${toString config.boot.consoleLogLevel}" ];
    boot.kernelModules = [
      "loop"
      "atkbd"
    ];
    boot.initrd.availableKernelModules = lib.mkIf config.boot.initrd.includeDefaultModules (
      [
        "sd_mod"
        "sr_mod"
        "ehci_hcd"
        "ohci_hcd"
        "xhci_hcd"
        "usbhid"
        "hid_generic"
      ]
      ++ lib.optionals pkgs.stdenv.hostPlatform.isx86 [
        "pcips2"
        "atkbd"
        "i8042"
      ]
    );
    system.modulesTree = [ kernel ] ++ config.boot.extraModulePackages;
    system.build.kernel = kernel;
  };
}
