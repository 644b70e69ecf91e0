# The NixOS module of a Firecracker or cloud-hypervisor test node (what test-instrumentation.nix
# and qemu-vm.nix are to a QEMU node): the root shell on vsock port 1234 that the driver connects
# to through the VMM's hybrid vsock socket, the virtio and vsock kernel modules, the disks (a
# root, and with splitStore the shared erofs image of the store under a writable overlay), and
# the test network as NixOS lays it out: cards named eth<k> by their MAC, static addresses,
# /etc/hosts and the hostname. The driver leaves the network to this module
# (`configure_network = false` in the machine's entry).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.attest;
  inherit (lib) mkDefault mkIf mkOption types;

  # The same banner and shell as the QEMU backdoor (test-instrumentation.nix): one root bash per
  # connection. bash reads its commands from a FIFO fed with the socket's bytes, because the
  # protocol points the shell's stdin at /dev/null (commands see EOF there, as under NixOS) and a
  # socket cannot be reopened by path.
  backdoor = pkgs.writeShellScript "attest-backdoor" ''
    export USER=root HOME=/root DISPLAY=:0.0
    if [[ -e /etc/profile ]]; then
      set +u
      source /etc/profile
    fi
    export PAGER=
    cd /tmp || exit 1
    exec 2>/dev/ttyS0
    echo "connecting to host..." >&2
    fifo=/run/attest-backdoor.$$
    mkfifo -m 0600 "$fifo" || exit 1
    {
      rm -f "$fifo"
      exec ${pkgs.coreutils}/bin/dd bs=65536 2>/dev/null
    } <&0 >"$fifo" &
    echo "Spawning backdoor root shell..."
    PS1="" exec ${pkgs.bashInteractive}/bin/bash --norc "$fifo" </dev/null
  '';

  # Names each vlan card eth<k> by its MAC, in two steps (through attest-net<i>) so that no
  # rename collides with a name the kernel gave another card.
  nameCards = pkgs.writeShellScript "attest-name-cards" ''
    set -eu
    card() {
      local d a try
      for try in $(seq 200); do
        for d in /sys/class/net/*; do
          read -r a <"$d/address" 2>/dev/null || continue
          if [[ "$a" == "$1" ]]; then
            echo "''${d##*/}"
            return 0
          fi
        done
        sleep 0.05
      done
      echo "attest: no network card has the MAC address $1 (after 10 s)" >&2
      return 1
    }
    ${lib.concatImapStrings (i: iface: ''
      dev=$(card ${iface.mac})
      if [[ "$dev" != ${iface.name} ]]; then
        ip link set dev "$dev" down
        ip link set dev "$dev" name attest-net${toString i}
      fi
    '') cfg.interfaces}
    ${lib.concatImapStrings (i: iface: ''
      if [[ -e /sys/class/net/attest-net${toString i} ]]; then
        ip link set dev attest-net${toString i} name ${iface.name}
      fi
    '') cfg.interfaces}
  '';
in
{
  options.attest = {
    backend = mkOption {
      type = types.enum [
        "firecracker"
        "cloud-hypervisor"
      ];
      description = "The VMM that runs this node.";
    };
    splitStore = mkOption {
      type = types.bool;
      default = false;
      description = ''
        The store comes from a read-only erofs image (/dev/vdb), shared by every node, under a
        tmpfs overlay; the root (/dev/vda) is a fresh disk formatted on first boot. Otherwise the
        root image holds the whole closure.
      '';
    };
    vlans = mkOption {
      type = types.listOf (types.ints.between 1 254);
      default = [ ];
      description = "The vlans of this node, in interface order: vlans[k-1] is eth<k>.";
    };
    memoryMiB = mkOption {
      type = types.ints.between 16 1048576;
      default = 1024;
      description = "Guest memory.";
    };
    vcpus = mkOption {
      type = types.ints.between 1 255;
      default = 1;
      description = "Virtual CPUs.";
    };
    rootSizeMiB = mkOption {
      type = types.ints.positive;
      default = 2048;
      description = "With splitStore: the size of the node's fresh root disk.";
    };
    interfaces = mkOption {
      type = types.listOf types.attrs;
      internal = true;
      description = "This node's vlan interfaces (nix/lib/network.nix `interfaces`), set by make-test.";
    };
    hosts = mkOption {
      type = types.lines;
      internal = true;
      default = "";
      description = "/etc/hosts lines naming every node, set by make-test.";
    };
  };

  config = {
    boot.loader.grub.enable = false;
    boot.initrd.availableKernelModules = [
      "virtio_mmio"
      "virtio_pci"
      "virtio_blk"
      "virtio_net"
      "virtio_console"
      "erofs"
      "overlay"
      "ext4"
    ];
    # The disks must be there before stage 1 looks for the root.
    boot.initrd.kernelModules = [
      "virtio_mmio"
      "virtio_pci"
      "virtio_blk"
    ];
    boot.kernelModules = [
      "vsock"
      "vmw_vsock_virtio_transport"
    ];
    boot.consoleLogLevel = mkDefault 7;

    fileSystems = lib.mkMerge [
      {
        "/" = {
          device = "/dev/vda";
          fsType = "ext4";
          autoFormat = cfg.splitStore;
        };
      }
      (mkIf cfg.splitStore {
        "/nix/.ro-store" = {
          device = "/dev/vdb";
          fsType = "erofs";
          options = [ "ro" ];
          neededForBoot = true;
        };
        "/nix/.rw-store" = {
          device = "tmpfs";
          fsType = "tmpfs";
          options = [ "mode=0755" ];
          neededForBoot = true;
        };
        # Stage 1 makes the upper and work directories of an overlay it mounts.
        "/nix/store" = {
          device = "overlay";
          fsType = "overlay";
          options = [
            "lowerdir=/nix/.ro-store"
            "upperdir=/nix/.rw-store/store"
            "workdir=/nix/.rw-store/work"
          ];
          depends = [
            "/nix/.ro-store"
            "/nix/.rw-store"
          ];
          neededForBoot = true;
        };
      })
    ];
    # With splitStore the root is a blank disk: formatted on first boot, as qemu-vm.nix does for
    # its blank root image (systemd's stage 1 does it from autoFormat).
    boot.initrd.postDeviceCommands = mkIf (cfg.splitStore && !config.boot.initrd.systemd.enable) ''
      if [ -z "$(blkid -o value -s TYPE /dev/vda || true)" ]; then
        mke2fs -q -t ext4 /dev/vda
      fi
    '';
    boot.initrd.extraUtilsCommands = mkIf (cfg.splitStore && !config.boot.initrd.systemd.enable) ''
      copy_bin_and_libs ${pkgs.e2fsprogs}/bin/mke2fs
    '';

    # Register the closure with Nix when the guest has it (make-test passes attest.reginfo=).
    boot.postBootCommands = mkIf config.nix.enable ''
      if [[ "$(cat /proc/cmdline)" =~ attest.reginfo=([^ ]*) ]]; then
        ${config.nix.package.out}/bin/nix-store --load-db < ''${BASH_REMATCH[1]}
      fi
    '';

    # The root shell: one bash per connection on vsock port 1234, up early in the boot as
    # NixOS's backdoor.service.
    systemd.sockets.attest-backdoor = {
      wantedBy = [ "sockets.target" ];
      after = [ "systemd-modules-load.service" ];
      unitConfig.DefaultDependencies = false;
      socketConfig = {
        ListenStream = "vsock::1234";
        Accept = true;
      };
    };
    systemd.services."attest-backdoor@" = {
      unitConfig.DefaultDependencies = false;
      path = [
        pkgs.coreutils
        pkgs.util-linux
      ];
      serviceConfig = {
        ExecStart = backdoor;
        StandardInput = "socket";
        StandardOutput = "socket";
        StandardError = "journal";
        KillMode = "process";
      };
    };

    # The test network, as nixos/lib/testing/network.nix gives QEMU nodes.
    networking.usePredictableInterfaceNames = false;
    networking.useDHCP = false;
    networking.extraHosts = cfg.hosts;
    networking.interfaces = lib.listToAttrs (
      map (iface: {
        inherit (iface) name;
        value = {
          ipv4.addresses = [
            {
              address = iface.ipv4;
              prefixLength = 24;
            }
          ];
          ipv6.addresses = [
            {
              address = iface.ipv6;
              prefixLength = 64;
            }
          ];
        };
      }) cfg.interfaces
    );
    systemd.services.attest-name-cards = mkIf (cfg.interfaces != [ ]) {
      description = "Name the test's network cards by their MAC";
      wantedBy = [ "network-pre.target" ];
      before = [ "network-pre.target" ];
      after = [ "systemd-udevd.service" ];
      path = [
        pkgs.iproute2
        pkgs.coreutils
      ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = nameCards;
      };
    };

    # As test-instrumentation.nix: no waiting for things a test guest never has.
    systemd.settings.Manager.DefaultTimeoutStartSec = mkDefault "300s";
    documentation.enable = mkDefault false;
    system.stateVersion = mkDefault lib.trivial.release;
  };
}
