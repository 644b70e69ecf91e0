# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/virtualisation/qemu-vm.nix,
# which makes system.build.vm, the run-<name>-vm script that starts the configuration in QEMU.
#
# Models: every virtualisation.* option of qemu-vm.nix with its type and default: fileSystems
# (the type of fileSystems), memorySize, msize, diskImage, bootLoaderDevice, bootPartition,
# rootDevice, emptyDiskImages, graphics, resolution, cores, sharedDirectories, additionalPaths,
# forwardPorts, restrictNetwork, writableStore, writableStoreUseTmpfs, host.pkgs,
# qemu.{package, options, consoles, networkingOptions, drives, diskInterface, guestAgent.enable,
# virtioKeyboard, enableSharedMemory, forceAccel}, useNixStoreImage, mountHostNixStore,
# directBoot.{enable, initrd}, useBootLoader, installBootLoader, useBIOSBoot, useEFIBoot,
# efi.{OVMF, firmware, variables, keepVariables}, tpm.{enable, package, deviceModel,
# provisioning}, useDefaultFilesystems, useSecureBoot, bios, useHostCerts; diskSize and the
# vlans/interfaces through the modules it imports (disk-size-option.nix,
# guest-networking-options.nix, profiles/qemu-guest.nix). Its configuration: the forwardPorts,
# memory and directBoot assertions, the direct-boot warning, GRUB's device (mkVMOverride), the
# Nix database loading in postBootCommands, the SCSI/TPM initrd modules, additionalPaths with the
# system, the default shared directories (nix-store when the host store is mounted, xchg,
# shared, certs), the SLiRP networking options with port forwards, the QEMU options (keyboard,
# USB tablet on x86, ARM devices, -kernel/-initrd/-append with the system's kernel-params, init,
# regInfo and consoles for direct boot, EFI pflash, BIOS, -nographic, TPM, SMM, shared memory),
# the drives (root with serial "root", the store image, empty disks), virtualisation.fileSystems
# exactly as nixpkgs lays it out (9p shares, the root from rootDevice or a tmpfs, /tmp on tmpfs,
# /nix/store as an overlay over /nix/.ro-store or a bind mount, the erofs /nix/.ro-store, the
# tmpfs /nix/.rw-store, the ESP) given to fileSystems with mkVMOverride, swapDevices and LUKS
# emptied, usePredictableInterfaceNames off, timesyncd off, the guest agent, dhcpcd's noarp;
# and system.build.vm (meta.mainProgram run-<system.name>-vm) linking the system and a start
# script that references the QEMU binary, the disk and store images, the shares, drives, NIC and
# other options, as the real script does.
# Leaves out: the X server settings, system.requiredKernelConfig, boot.loader.limine, the exact
# text of the start script, and building anything.
{
  config,
  lib,
  pkgs,
  options,
  ...
}:
let
  inherit (lib)
    mkOption
    mkIf
    mkMerge
    types
    ;
  mkVMOverride = lib.mkOverride 10;
  cfg = config.virtualisation;
  hostPkgs = cfg.host.pkgs;
  qemu = cfg.qemu.package;
  qemu-common = import ../../lib/qemu-common.nix {
    inherit lib;
    inherit (pkgs) stdenv;
  };
  toplevel = config.system.build.toplevel;

  rootFilesystemLabel = "nixos";
  espFilesystemLabel = "ESP";
  nixStoreFilesystemLabel = "nix-store";
  rootDriveSerialAttr = "root";

  regInfo = hostPkgs.closureInfo { rootPaths = cfg.additionalPaths; };

  systemImage = import ../../lib/make-disk-image.nix {
    inherit pkgs config lib;
    additionalPaths = [ regInfo ];
    format = "qcow2";
    label = rootFilesystemLabel;
    partitionTableType =
      if !cfg.useDefaultFilesystems then
        "none"
      else if cfg.useEFIBoot then
        "efi"
      else if cfg.useBIOSBoot then
        "legacy+boot"
      else
        "legacy";
    installBootLoader = cfg.installBootLoader;
    touchEFIVars = cfg.useEFIBoot;
    OVMF = cfg.efi.OVMF;
  };

  driveType = types.submodule {
    options = {
      file = mkOption { type = types.str; };
      driveExtraOpts = mkOption {
        type = types.attrsOf types.str;
        default = { };
      };
      deviceExtraOpts = mkOption {
        type = types.attrsOf types.str;
        default = { };
      };
      name = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
    };
  };

  keyValues = attrs: builtins.concatStringsSep "," (lib.mapAttrsToList (k: v: "${k}=${toString v}") attrs);

  driveFlags =
    index: drive:
    let
      id = "drive${toString index}";
      device =
        if cfg.qemu.diskInterface == "scsi" then
          "-device lsi53c895a -device scsi-hd,${keyValues (drive.deviceExtraOpts // { drive = id; })}"
        else
          "-device virtio-blk-pci,${keyValues (drive.deviceExtraOpts // { drive = id; })}";
    in
    "-drive ${
      keyValues (
        drive.driveExtraOpts
        // {
          inherit index id;
          "if" = "none";
          inherit (drive) file;
        }
      )
    } ${device}";

  consoleParams = builtins.concatStringsSep " " (map (c: "console=${c}") cfg.qemu.consoles);

  shellIdentifier =
    s:
    lib.concatMapStrings (c: if builtins.match "[A-Za-z0-9]" c != null then c else "_") (lib.stringToCharacters s);

  createRootImage =
    if cfg.useBootLoader && cfg.useDefaultFilesystems then
      ''${qemu}/bin/qemu-img create -f qcow2 -b ${systemImage}/nixos.qcow2 -F qcow2 "$NIX_DISK_IMAGE" "${toString cfg.diskSize}M"''
    else if cfg.useDefaultFilesystems then
      ''
        raw=$(mktemp)
        ${qemu}/bin/qemu-img create -f raw "$raw" "${toString cfg.diskSize}M"
        ${hostPkgs.e2fsprogs}/bin/mkfs.ext4 -L ${rootFilesystemLabel} "$raw"
        ${qemu}/bin/qemu-img convert -f raw -O qcow2 "$raw" "$NIX_DISK_IMAGE"
        rm "$raw"
      ''
    else
      ''${qemu}/bin/qemu-img create -f qcow2 "$NIX_DISK_IMAGE" "${toString cfg.diskSize}M"'';

  # The start script: the same inputs and QEMU command line as nixpkgs', in fewer words.
  startVM = ''
    #!${hostPkgs.runtimeShell}
    export PATH=${lib.makeBinPath [ hostPkgs.coreutils ]}''${PATH:+:}$PATH
    set -e
    NIX_DISK_IMAGE=$(readlink -f "''${NIX_DISK_IMAGE:-${toString cfg.diskImage}}") || test -z "$NIX_DISK_IMAGE"
    if test -n "$NIX_DISK_IMAGE" && ! test -e "$NIX_DISK_IMAGE"; then
      ${createRootImage}
    fi
    if [ -z "$TMPDIR" ] || [ -z "$USE_TMPDIR" ]; then
      TMPDIR=$(mktemp -d nix-vm.XXXXXXXXXX --tmpdir)
    fi
    ${lib.optionalString cfg.useNixStoreImage ''
      ${hostPkgs.gnutar}/bin/tar --create --absolute-names --files-from ${
        hostPkgs.closureInfo {
          rootPaths = [
            toplevel
            regInfo
          ];
        }
      }/store-paths | ${hostPkgs.erofs-utils}/bin/mkfs.erofs --quiet -L ${nixStoreFilesystemLabel} --tar=f "$TMPDIR"/store.img
    ''}
    mkdir -p "$TMPDIR/xchg"
    ${lib.optionalString cfg.useEFIBoot ''
      NIX_EFI_VARS=$(readlink -f "''${NIX_EFI_VARS:-${config.system.name}-efi-vars.fd}")
      test -e "$NIX_EFI_VARS" || cp ${
        if cfg.efi.keepVariables then "${systemImage}/efi-vars.fd" else cfg.efi.variables
      } "$NIX_EFI_VARS"
    ''}
    ${lib.optionalString cfg.tpm.enable ''
      NIX_SWTPM_DIR=$(readlink -f "''${NIX_SWTPM_DIR:-${config.system.name}-swtpm}")
      mkdir -p "$NIX_SWTPM_DIR"
      ${lib.getExe cfg.tpm.package} socket --tpmstate dir="$NIX_SWTPM_DIR" --ctrl type=unixio,path="$NIX_SWTPM_DIR"/socket.ctrl --daemon --tpm2
      enable -f ${hostPkgs.bash}/lib/bash/fdflags fdflags
    ''}
    cd "$TMPDIR"
    ${lib.concatImapStrings (
      i: size: ''test -e "empty${toString (i - 1)}.qcow2" || ${qemu}/bin/qemu-img create -f qcow2 "empty${toString (i - 1)}.qcow2" "${toString size}M"
      ''
    ) cfg.emptyDiskImages}
    exec ${qemu-common.qemuBinaryWith {
      qemuPkg = qemu;
      inherit (cfg.qemu) forceAccel;
    }} \
        -name ${config.system.name} \
        -m ${toString cfg.memorySize} \
        -smp ${toString cfg.cores} \
        -device virtio-rng-pci \
        ${builtins.concatStringsSep " " cfg.qemu.networkingOptions} \
        ${
          builtins.concatStringsSep " \\\n    " (
            lib.mapAttrsToList (
              tag: share: "-virtfs local,path=${share.source},security_model=${share.securityModel},mount_tag=${tag}"
            ) cfg.sharedDirectories
          )
        } \
        ${builtins.concatStringsSep " \\\n    " (lib.imap1 driveFlags cfg.qemu.drives)} \
        ${builtins.concatStringsSep " \\\n    " cfg.qemu.options} \
        $QEMU_OPTS \
        "$@"
  '';

  shareType = types.submodule {
    options = {
      source = mkOption { type = types.str; };
      target = mkOption { type = types.path; };
      securityModel = mkOption {
        type = types.enum [
          "passthrough"
          "mapped-xattr"
          "mapped-file"
          "none"
        ];
        default = "mapped-xattr";
      };
    };
  };

  forwardType = types.submodule {
    options = {
      from = mkOption {
        type = types.enum [
          "host"
          "guest"
        ];
        default = "host";
      };
      proto = mkOption {
        type = types.enum [
          "tcp"
          "udp"
        ];
        default = "tcp";
      };
      host.address = mkOption {
        type = types.str;
        default = "";
      };
      host.port = mkOption { type = types.port; };
      guest.address = mkOption {
        type = types.str;
        default = "";
      };
      guest.port = mkOption { type = types.port; };
    };
  };

  bool =
    default:
    mkOption {
      type = types.bool;
      inherit default;
    };
in
{
  imports = [
    ../profiles/qemu-guest.nix
    ./disk-size-option.nix
    ./guest-networking-options.nix
  ];

  options.virtualisation = {
    fileSystems = options.fileSystems;
    memorySize = mkOption {
      type = types.ints.positive;
      default = 1024;
    };
    msize = mkOption {
      type = types.ints.positive;
      default = 16384;
    };
    diskImage = mkOption {
      type = types.nullOr types.str;
      default = "./${config.system.name}.qcow2";
    };
    bootLoaderDevice = mkOption {
      type = types.path;
      default = "/dev/disk/by-id/virtio-${rootDriveSerialAttr}";
    };
    bootPartition = mkOption {
      type = types.nullOr types.path;
      default =
        if cfg.useEFIBoot then
          "/dev/disk/by-label/${espFilesystemLabel}"
        else if cfg.useBIOSBoot then
          "/dev/disk/by-label/BOOT"
        else
          null;
    };
    rootDevice = mkOption {
      type = types.nullOr types.path;
      default = "/dev/disk/by-label/${rootFilesystemLabel}";
    };
    emptyDiskImages = mkOption {
      type = types.listOf types.ints.positive;
      default = [ ];
    };
    graphics = bool true;
    resolution = mkOption {
      type = types.submodule {
        options.x = mkOption { type = types.int; };
        options.y = mkOption { type = types.int; };
      };
      default = {
        x = 1024;
        y = 768;
      };
    };
    cores = mkOption {
      type = types.ints.positive;
      default = 1;
    };
    sharedDirectories = mkOption {
      type = types.attrsOf shareType;
      default = { };
    };
    additionalPaths = mkOption {
      type = types.listOf types.path;
      default = [ ];
    };
    forwardPorts = mkOption {
      type = types.listOf forwardType;
      default = [ ];
    };
    restrictNetwork = bool false;
    writableStore = bool cfg.mountHostNixStore;
    writableStoreUseTmpfs = bool true;
    host.pkgs = mkOption {
      type = options.nixpkgs.pkgs.type;
      default = pkgs;
    };
    qemu = {
      package = mkOption {
        type = types.package;
        default =
          if hostPkgs.stdenv.hostPlatform.qemuArch == pkgs.stdenv.hostPlatform.qemuArch then
            hostPkgs.qemu_kvm
          else
            hostPkgs.qemu;
      };
      options = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      consoles = mkOption {
        type = types.listOf types.str;
        default =
          let
            both = [
              "${qemu-common.qemuSerialDevice},115200n8"
              "tty0"
            ];
          in
          if cfg.graphics then both else lib.reverseList both;
      };
      networkingOptions = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      drives = mkOption { type = types.listOf driveType; };
      diskInterface = mkOption {
        type = types.enum [
          "virtio"
          "scsi"
          "ide"
        ];
        default = "virtio";
      };
      guestAgent.enable = bool true;
      virtioKeyboard = bool true;
      enableSharedMemory = bool false;
      forceAccel = bool false;
    };
    useNixStoreImage = bool false;
    mountHostNixStore = bool (!cfg.useNixStoreImage && !cfg.useBootLoader);
    directBoot = {
      enable = bool (!cfg.useBootLoader);
      initrd = mkOption {
        type = types.str;
        default = "${config.system.build.initialRamdisk}/${config.system.boot.loader.initrdFile}";
      };
    };
    useBootLoader = bool false;
    installBootLoader = bool (cfg.useBootLoader && cfg.useDefaultFilesystems);
    useBIOSBoot = bool false;
    useEFIBoot = bool false;
    efi = {
      OVMF = mkOption {
        type = types.package;
        default = (pkgs.OVMF.override { secureBoot = cfg.useSecureBoot; }).fd;
      };
      firmware = mkOption {
        type = types.path;
        default = cfg.efi.OVMF.firmware;
      };
      variables = mkOption {
        type = types.path;
        default = cfg.efi.OVMF.variables;
      };
      keepVariables = bool cfg.useBootLoader;
    };
    tpm = {
      enable = bool false;
      package = mkOption {
        type = types.package;
        default = cfg.host.pkgs.swtpm;
      };
      deviceModel = mkOption {
        type = types.str;
        default =
          {
            "i686-linux" = "tpm-tis";
            "x86_64-linux" = "tpm-tis";
            "ppc64-linux" = "tpm-spapr";
            "armv7-linux" = "tpm-tis-device";
            "aarch64-linux" = "tpm-tis-device";
          }
          .${pkgs.stdenv.hostPlatform.system} or (throw "Unsupported system for TPM2 emulation in QEMU");
      };
      provisioning = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
    };
    useDefaultFilesystems = bool true;
    useSecureBoot = bool false;
    bios = mkOption {
      type = types.nullOr types.package;
      default = null;
    };
    useHostCerts = bool false;
  };

  config = {
    assertions =
      lib.concatLists (
        lib.imap1 (i: rule: [
          {
            assertion = rule.from == "guest" -> rule.proto == "tcp";
            message = "Invalid virtualisation.forwardPorts.<entry ${toString i}>.proto: Guest forwarding supports only TCP connections.";
          }
          {
            assertion = rule.from == "guest" -> lib.hasPrefix "10.0.2." rule.guest.address;
            message = "Invalid virtualisation.forwardPorts.<entry ${toString i}>.guest.address: The address must be in the default VLAN (10.0.2.0/24).";
          }
        ]) cfg.forwardPorts
      )
      ++ [
        {
          assertion = pkgs.stdenv.hostPlatform.is32bit -> cfg.memorySize < 2047;
          message = "virtualisation.memorySize is above 2047, but qemu is only able to allocate 2047 MiB RAM on 32bit max.";
        }
        {
          assertion =
            cfg.directBoot.enable || cfg.directBoot.initrd == options.virtualisation.directBoot.initrd.default;
          message = "You changed the default of `virtualisation.directBoot.initrd` but you are not using QEMU direct boot.";
        }
        {
          assertion = cfg.installBootLoader -> config.system.switch.enable;
          message = "`system.switch.enable` must be enabled for `virtualisation.installBootLoader` to work.";
        }
      ];

    warnings = lib.optional (cfg.directBoot.enable && cfg.useBootLoader) "You enabled direct boot and a bootloader, QEMU will not boot your bootloader, rendering `useBootLoader` useless. You might want to disable one of those options.";

    boot.loader.grub.device = mkVMOverride (if cfg.useEFIBoot then "nodev" else cfg.bootLoaderDevice);
    boot.loader.supportsInitrdSecrets = mkIf (!cfg.useBootLoader) (mkVMOverride false);

    boot.postBootCommands = mkIf config.nix.enable ''
      if [[ "$(cat /proc/cmdline)" =~ regInfo=([^ ]*) ]]; then
        ${config.nix.package.out}/bin/nix-store --load-db < ''${BASH_REMATCH[1]}
      fi
    '';

    boot.initrd.availableKernelModules =
      lib.optional (cfg.qemu.diskInterface == "scsi") "sym53c8xx" ++ lib.optional cfg.tpm.enable "tpm_tis";

    virtualisation.additionalPaths = [ toplevel ];

    virtualisation.sharedDirectories = {
      nix-store = mkIf cfg.mountHostNixStore {
        source = builtins.storeDir;
        target = "/nix/.ro-store";
        securityModel = "none";
      };
      xchg = {
        source = ''"$TMPDIR"/xchg'';
        target = "/tmp/xchg";
        securityModel = "none";
      };
      shared = {
        source = ''"''${SHARED_DIR:-$TMPDIR/xchg}"'';
        target = "/tmp/shared";
        securityModel = "none";
      };
      certs = mkIf cfg.useHostCerts {
        source = ''"$TMPDIR"/certs'';
        target = "/etc/ssl/certs";
        securityModel = "none";
      };
    };

    virtualisation.qemu.networkingOptions =
      let
        forwards = lib.concatMapStrings (
          rule:
          if rule.from == "host" then
            "hostfwd=${rule.proto}:${rule.host.address}:${toString rule.host.port}-${rule.guest.address}:${toString rule.guest.port},"
          else
            "'guestfwd=${rule.proto}:${rule.guest.address}:${toString rule.guest.port}-cmd:${pkgs.netcat}/bin/nc ${rule.host.address} ${toString rule.host.port}',"
        ) cfg.forwardPorts;
      in
      [
        "-net nic,netdev=user.0,model=virtio"
        "-netdev user,id=user.0,${forwards}${lib.optionalString cfg.restrictNetwork "restrict=on,"}\"$QEMU_NET_OPTS\""
      ];

    virtualisation.qemu.options = mkMerge [
      (mkIf cfg.qemu.virtioKeyboard [ "-device virtio-keyboard" ])
      (mkIf pkgs.stdenv.hostPlatform.isx86 [
        "-usb"
        "-device usb-tablet,bus=usb-bus.0"
      ])
      (mkIf pkgs.stdenv.hostPlatform.isAarch [
        "-device virtio-gpu-pci"
        "-device usb-ehci,id=usb0"
        "-device usb-kbd"
        "-device usb-tablet"
      ])
      (mkIf cfg.directBoot.enable [
        "-kernel \${NIXPKGS_QEMU_KERNEL_${shellIdentifier config.system.name}:-${toplevel}/kernel}"
        "-initrd ${cfg.directBoot.initrd}"
        ''-append "$(cat ${toplevel}/kernel-params) init=${toplevel}/init regInfo=${regInfo}/registration ${consoleParams} $QEMU_KERNEL_PARAMS"''
      ])
      (mkIf cfg.useEFIBoot [
        "-drive if=pflash,format=raw,unit=0,readonly=on,file=${cfg.efi.firmware}"
        "-drive if=pflash,format=raw,unit=1,readonly=off,file=$NIX_EFI_VARS"
      ])
      (mkIf (cfg.bios != null) [ "-bios ${cfg.bios}/bios.bin" ])
      (mkIf (!cfg.graphics) [ "-nographic" ])
      (mkIf cfg.tpm.enable [
        "-chardev socket,id=chrtpm,path=\"$NIX_SWTPM_DIR\"/socket.ctrl"
        "-tpmdev emulator,id=tpm_dev_0,chardev=chrtpm"
        "-device ${cfg.tpm.deviceModel},tpmdev=tpm_dev_0"
      ])
      (mkIf (pkgs.stdenv.hostPlatform.isx86 && cfg.efi.OVMF.systemManagementModeRequired) [
        "-machine"
        "q35,smm=on"
        "-global"
        "driver=cfi.pflash01,property=secure,value=on"
      ])
      (mkIf cfg.qemu.enableSharedMemory [
        "-object memory-backend-memfd,id=mem,size=${toString cfg.memorySize}M,share=on"
        "-machine memory-backend=mem"
      ])
    ];

    virtualisation.qemu.drives = mkMerge [
      (mkIf (cfg.diskImage != null) [
        {
          name = "root";
          file = ''"$NIX_DISK_IMAGE"'';
          driveExtraOpts.cache = "writeback";
          driveExtraOpts.werror = "report";
          deviceExtraOpts.bootindex = "1";
          deviceExtraOpts.serial = rootDriveSerialAttr;
        }
      ])
      (mkIf cfg.useNixStoreImage [
        {
          name = "nix-store";
          file = ''"$TMPDIR"/store.img'';
          deviceExtraOpts.bootindex = "2";
          driveExtraOpts.format = "raw";
        }
      ])
      (lib.imap0 (i: _: {
        file = "$(pwd)/empty${toString i}.qcow2";
        driveExtraOpts.werror = "report";
      }) cfg.emptyDiskImages)
    ];

    fileSystems = mkIf (cfg.fileSystems != { }) (mkVMOverride cfg.fileSystems);

    virtualisation.diskSizeAutoSupported = false;

    virtualisation.fileSystems =
      let
        share = tag: s: {
          name = s.target;
          value = {
            device = tag;
            fsType = "9p";
            neededForBoot = true;
            options = [
              "trans=virtio"
              "version=9p2000.L"
              "msize=${toString cfg.msize}"
              "x-systemd.requires=modprobe@9pnet_virtio.service"
            ]
            ++ lib.optional (tag == "nix-store") "cache=loose";
          };
        };
      in
      mkMerge [
        (lib.mapAttrs' share cfg.sharedDirectories)
        {
          "/" = mkIf cfg.useDefaultFilesystems (
            if cfg.diskImage == null then
              {
                device = "tmpfs";
                fsType = "tmpfs";
                options = [ "mode=755" ];
              }
            else
              {
                device = cfg.rootDevice;
                fsType = "ext4";
              }
          );
          "/tmp" = mkIf config.boot.tmp.useTmpfs {
            device = "tmpfs";
            fsType = "tmpfs";
            neededForBoot = true;
            options = [
              "mode=1777"
              "strictatime"
              "nosuid"
              "nodev"
              "size=${toString config.boot.tmp.tmpfsSize}"
            ];
          };
          "/nix/store" = mkIf (cfg.useNixStoreImage || cfg.mountHostNixStore) (
            if cfg.writableStore then
              {
                overlay = {
                  lowerdir = [ "/nix/.ro-store" ];
                  upperdir = "/nix/.rw-store/upper";
                  workdir = "/nix/.rw-store/work";
                };
              }
            else
              {
                device = "/nix/.ro-store";
                options = [ "bind" ];
              }
          );
          "/nix/.ro-store" = mkIf cfg.useNixStoreImage {
            device = "/dev/disk/by-label/${nixStoreFilesystemLabel}";
            fsType = "erofs";
            neededForBoot = true;
            options = [ "ro" ];
          };
          "/nix/.rw-store" = mkIf (cfg.writableStore && cfg.writableStoreUseTmpfs) {
            fsType = "tmpfs";
            options = [ "mode=0755" ];
            neededForBoot = true;
          };
          "${config.boot.loader.efi.efiSysMountPoint}" = mkIf (cfg.useBootLoader && cfg.bootPartition != null) {
            device = cfg.bootPartition;
            fsType = "vfat";
          };
        }
      ];

    swapDevices = (if cfg.useDefaultFilesystems then mkVMOverride else lib.mkDefault) [ ];
    boot.initrd.luks.devices = (if cfg.useDefaultFilesystems then mkVMOverride else lib.mkDefault) { };

    services.timesyncd.enable = false;
    services.qemuGuest.enable = cfg.qemu.guestAgent.enable;
    networking.wireless.enable = mkVMOverride false;
    services.connman.enable = mkVMOverride false;
    networking.dhcpcd.extraConfig = "noarp";
    networking.usePredictableInterfaceNames = false;
    security.pki.installCACerts = mkIf cfg.useHostCerts false;

    system.build.vm = hostPkgs.runCommand "nixos-vm" {
      preferLocalBuild = true;
      meta.mainProgram = "run-${config.system.name}-vm";
    } ''
      mkdir -p $out/bin
      ln -s ${toplevel} $out/system
      ln -s ${hostPkgs.writeScript "run-nixos-vm" startVM} $out/bin/run-${config.system.name}-vm
    '';
  };
}
