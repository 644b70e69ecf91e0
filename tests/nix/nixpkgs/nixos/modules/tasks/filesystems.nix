# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/tasks/filesystems.nix, its
# overlay part (tasks/filesystems/overlayfs.nix) and config/swap.nix.
#
# Models: fileSystems.<mount point> (mountPoint from the attribute name, device, label (device
# /dev/disk/by-label/<label> by default), fsType ("auto"; device = fsType for proc, sysfs, tmpfs,
# ramfs, devtmpfs, devpts), options (["defaults"]), depends, noCheck, neededForBoot, autoFormat,
# autoResize, formatOptions, and overlay.{lowerdir, upperdir, workdir, useStage1BaseDirectories}
# turned into fsType overlay, device "overlay", depends and lowerdir=/upperdir=/workdir= options
# (prefixed with /sysroot for stage 1 mounts under systemd stage 1), with nixpkgs' overlay
# assertions), swapDevices (device, label, size, priority, randomEncryption.enable, options,
# plus free-form), /etc/fstab made of them, and the overlay kernel module in the initrd when a
# stage 1 mount is an overlay.
# Leaves out: mount units and the mkdir services of writable overlays, automount/x-systemd
# options processing, encrypted devices, and supportedFilesystems.
{
  config,
  lib,
  utils,
  ...
}:
let
  inherit (lib) mkOption types;
  outer = config;
  specialFSTypes = [
    "proc"
    "sysfs"
    "tmpfs"
    "ramfs"
    "devtmpfs"
    "devpts"
  ];

  fileSystemType = types.submodule (
    { name, config, ... }:
    let
      prefix =
        if outer.boot.initrd.systemd.enable && config.overlay.useStage1BaseDirectories && utils.fsNeededForBoot config then
          "/sysroot"
        else
          "";
    in
    {
      options = {
        mountPoint = mkOption {
          type = types.addCheck types.str (p: p == "/" || !(lib.hasSuffix "/" p));
          default = name;
        };
        device = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        label = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        fsType = mkOption {
          type = types.str;
          default = "auto";
        };
        options = mkOption {
          type = types.nonEmptyListOf types.str;
          default = [ "defaults" ];
        };
        depends = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        noCheck = mkOption {
          type = types.bool;
          default = false;
        };
        neededForBoot = mkOption {
          type = types.bool;
          default = false;
        };
        autoFormat = mkOption {
          type = types.bool;
          default = false;
        };
        autoResize = mkOption {
          type = types.bool;
          default = false;
        };
        formatOptions = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        overlay = {
          lowerdir = mkOption {
            type = types.nullOr (types.nonEmptyListOf types.str);
            default = null;
          };
          upperdir = mkOption {
            type = types.nullOr types.str;
            default = null;
          };
          workdir = mkOption { type = types.nullOr types.str; };
          useStage1BaseDirectories = mkOption {
            type = types.bool;
            default = true;
          };
        };
      };
      config = lib.mkMerge [
        {
          device = lib.mkIf (builtins.elem config.fsType specialFSTypes) (lib.mkDefault config.fsType);
        }
        {
          device = lib.mkIf (config.label != null) (lib.mkDefault "/dev/disk/by-label/${config.label}");
        }
        (lib.mkIf (config.overlay.lowerdir != null) {
          fsType = "overlay";
          device = lib.mkDefault "overlay";
          depends =
            config.overlay.lowerdir
            ++ lib.optionals (config.overlay.upperdir != null) [
              config.overlay.upperdir
              config.overlay.workdir
            ];
          options = [
            "lowerdir=${builtins.concatStringsSep ":" (map (d: prefix + d) config.overlay.lowerdir)}"
          ]
          ++ lib.optionals (config.overlay.upperdir != null) [
            "upperdir=${prefix + config.overlay.upperdir}"
            "workdir=${prefix + config.overlay.workdir}"
          ];
        })
      ];
    }
  );

  overlays = lib.filterAttrs (_: fs: fs.overlay.lowerdir != null) config.fileSystems;
  fstabLine =
    fs:
    "${if fs.device != null then fs.device else "none"} ${fs.mountPoint} ${fs.fsType} ${
      builtins.concatStringsSep "," (fs.options ++ lib.optional (utils.fsNeededForBoot fs) "x-initrd.mount")
    } 0 ${if fs.noCheck || fs.fsType == "tmpfs" then "0" else "2"}\n";
in
{
  options = {
    fileSystems = mkOption {
      default = { };
      type = types.attrsOf fileSystemType;
    };
    swapDevices = mkOption {
      default = [ ];
      type = types.listOf (
        types.submodule {
          freeformType = types.attrsOf types.anything;
          options = {
            device = mkOption { type = types.str; };
            label = mkOption {
              type = types.nullOr types.str;
              default = null;
            };
            size = mkOption {
              type = types.nullOr types.int;
              default = null;
            };
            priority = mkOption {
              type = types.nullOr types.int;
              default = null;
            };
            randomEncryption.enable = mkOption {
              type = types.bool;
              default = false;
            };
            options = mkOption {
              type = types.nonEmptyListOf types.str;
              default = [ "defaults" ];
            };
          };
        }
      );
    };
  };

  config = {
    environment.etc.fstab.text = lib.concatMapStrings fstabLine (
      lib.sort (a: b: a.mountPoint < b.mountPoint) (builtins.attrValues config.fileSystems)
    );

    boot.initrd.availableKernelModules = lib.mkIf (lib.filterAttrs (_: utils.fsNeededForBoot) overlays != { }) [
      "overlay"
    ];

    assertions = lib.concatLists (
      lib.mapAttrsToList (_: fs: [
        {
          assertion = (fs.overlay.upperdir == null) == (fs.overlay.workdir == null);
          message = "You cannot define a `lowerdir` without a `workdir` and vice versa for mount point: ${fs.mountPoint}";
        }
        {
          assertion = fs.overlay.upperdir == null -> builtins.length fs.overlay.lowerdir >= 2;
          message = "A read-only overlay (without an `upperdir`) requires at least 2 `lowerdir`s: ${fs.mountPoint}";
        }
        {
          assertion = !fs.overlay.useStage1BaseDirectories -> config.boot.initrd.systemd.enable;
          message = "Stage 1 overlay file system ${fs.mountPoint} has 'useStage1BaseDirectories' set to false, which is not supported with scripted initrd. Please enable 'boot.initrd.systemd.enable'.";
        }
      ]) overlays
    );
  };
}
