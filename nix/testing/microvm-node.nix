# What makes a NixOS test node (qemu-vm.nix and test-instrumentation.nix, as nixpkgs' test
# framework gives every node) boot on Firecracker or cloud-hypervisor. ./module.nix adds it to
# every node through the framework's `extraBaseModules`; the node's own modules stay as they are.
# - The root shell: the same banner and protocol as test-instrumentation.nix's backdoor on hvc0,
#   but on vsock port 1234 (one bash per connection), which the driver reaches through the VMM's
#   hybrid vsock socket. test-instrumentation.nix's hvc0 backdoor is switched off (there is no
#   hvc0); its other settings stay: no getty on the serial line the shell's stderr goes to,
#   `boot.panic_on_fail`, `panic=1`, the journal on the serial console.
# - The disks, in the order of ./machines.nix: the root (/dev/vda), with `splitStore` the store
#   image (by its label, nix-store) under the overlay qemu-vm.nix's `writableStore` mounts with
#   `fileSystems."/nix/store".overlay` (both stage 1s understand it), then the empty disk images.
# - No 9p: qemu-vm.nix's shared directories (the host store, xchg, shared) are left out of the
#   file systems; the store comes from the root image or the store image.
# - The network is nixpkgs' own: network.nix names the cards by their MAC (the driver gives them
#   the same 52:54:00:12:vv:nn) and sets the addresses and /etc/hosts.
{ splitStore }:
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkForce mkIf;
  v = config.virtualisation;

  # The backdoor of test-instrumentation.nix, on a vsock connection: bash reads its commands from
  # a FIFO fed with the socket's bytes, because the protocol points the shell's stdin at
  # /dev/null (commands see EOF there, as on QEMU) and a socket cannot be reopened by path.
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
in
{
  # The hvc0 backdoor of test-instrumentation.nix waits for a device these VMMs do not have.
  testing.backdoor = false;

  virtualisation = {
    # QEMU's guest agent would wait for a virtio port these VMMs do not offer.
    qemu.guestAgent.enable = false;
    # The store is the root image's or the store image's, never the host's over 9p; the image
    # is attest's (built once per test), not qemu-vm.nix's (built at every start).
    mountHostNixStore = false;
    useNixStoreImage = mkForce false;
    writableStore = splitStore;
    # A fresh root disk has no label yet: it is the first disk, formatted at first boot.
    rootDevice = mkIf splitStore "/dev/vda";
    fileSystems = mkIf splitStore (
      (import ./images.nix).storeFileSystems
      // {
        "/" = mkIf v.useDefaultFilesystems { autoFormat = true; };
      }
    );
  };

  # qemu-vm.nix's file systems without its 9p shares (./machines.nix rejects a node's own).
  fileSystems = lib.mkOverride 9 (
    lib.filterAttrs (_: fs: fs.fsType != "9p") v.fileSystems
  );

  boot.initrd.availableKernelModules = [
    "virtio_mmio"
    "virtio_pci"
    "virtio_blk"
    "virtio_net"
    "erofs"
    "overlay"
    "ext4"
  ];
  # Firecracker's devices are virtio-mmio: the bus must be there before stage 1 looks for disks.
  boot.initrd.kernelModules = [
    "virtio_mmio"
    "virtio_pci"
    "virtio_blk"
  ];
  boot.kernelModules = [
    "vsock"
    "vmw_vsock_virtio_transport"
  ];

  # The scripted stage 1 formats a blank root itself (the systemd one does from autoFormat).
  boot.initrd.postDeviceCommands = mkIf (splitStore && !config.boot.initrd.systemd.enable) ''
    if [ -z "$(blkid -o value -s TYPE /dev/vda || true)" ]; then
      mke2fs -q -t ext4 /dev/vda
    fi
  '';
  boot.initrd.extraUtilsCommands = mkIf (splitStore && !config.boot.initrd.systemd.enable) ''
    copy_bin_and_libs ${pkgs.e2fsprogs}/bin/mke2fs
  '';

  # The root shell: one bash per connection on vsock port 1234, up early as backdoor.service.
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
}
