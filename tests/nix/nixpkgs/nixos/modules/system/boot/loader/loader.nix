# Stand-in written for attest's CI (not nixpkgs code): the boot loader options that VM tests
# touch (nixos/modules/system/boot/loader/{loader.nix,grub/grub.nix,efi.nix,
# systemd-boot/systemd-boot.nix}).
#
# Models: boot.loader.grub.{enable (default: not a container), device, devices, efiSupport,
# configurationLimit}, boot.loader.efi.{efiSysMountPoint, canTouchEfiVariables},
# boot.loader.systemd-boot.enable, boot.loader.timeout, boot.loader.supportsInitrdSecrets,
# system.boot.loader.{id, kernelFile (the platform's kernel image), initrdFile ("initrd")}, and
# GRUB's assertion that an enabled GRUB has a device to install to.
# Leaves out: installing boot loaders, mirroredBoots, and every other loader.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  grub = config.boot.loader.grub;
in
{
  options = {
    boot.loader.grub = {
      enable = mkOption {
        type = types.bool;
        default = !config.boot.isContainer;
      };
      device = mkOption {
        type = types.str;
        default = "";
      };
      devices = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      efiSupport = mkOption {
        type = types.bool;
        default = false;
      };
      configurationLimit = mkOption {
        type = types.int;
        default = 100;
      };
    };
    boot.loader.efi = {
      efiSysMountPoint = mkOption {
        type = types.str;
        default = "/boot";
      };
      canTouchEfiVariables = mkOption {
        type = types.bool;
        default = false;
      };
    };
    boot.loader.systemd-boot.enable = mkOption {
      type = types.bool;
      default = false;
    };
    boot.loader.timeout = mkOption {
      type = types.nullOr types.int;
      default = 5;
    };
    boot.loader.supportsInitrdSecrets = mkOption {
      internal = true;
      type = types.bool;
      default = false;
    };
    system.boot.loader = {
      id = mkOption {
        internal = true;
        type = types.str;
        default = "";
      };
      kernelFile = mkOption {
        internal = true;
        type = types.str;
        default = pkgs.stdenv.hostPlatform.linux-kernel.target;
      };
      initrdFile = mkOption {
        internal = true;
        type = types.str;
        default = "initrd";
      };
    };
  };

  config = {
    boot.loader.grub.devices = lib.optional (grub.device != "") grub.device;
    assertions = [
      {
        assertion = grub.enable -> grub.devices != [ ];
        message = "You must set the option ‘boot.loader.grub.devices’ or 'boot.loader.grub.mirroredBoots' to make the system bootable.";
      }
    ];
  };
}
