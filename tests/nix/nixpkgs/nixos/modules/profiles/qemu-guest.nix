# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/profiles/qemu-guest.nix.
#
# Models: the virtio, 9p initrd modules it makes available and the virtio modules it loads.
# Leaves out: nothing else exists in the real profile.
{ ... }:
{
  boot.initrd.availableKernelModules = [
    "virtio_net"
    "virtio_pci"
    "virtio_mmio"
    "virtio_blk"
    "virtio_scsi"
    "9p"
    "9pnet_virtio"
  ];
  boot.initrd.kernelModules = [
    "virtio_balloon"
    "virtio_console"
    "virtio_rng"
    "virtio_gpu"
  ];
}
