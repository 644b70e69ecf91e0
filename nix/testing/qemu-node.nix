# What attest adds to a QEMU test node: with `attest.splitStore`, the store from attest's erofs
# image of the test's closure, built once as a derivation and shared read-only by every node,
# under the writable overlay of qemu-vm.nix's `writableStore`. (qemu-vm.nix's own
# `useNixStoreImage` builds the same kind of image in the start script, again at every start.)
# Without `splitStore` the node is exactly nixpkgs' own.
{
  splitStore,
  storeImage,
}:
{ lib, ... }:
{
  config.virtualisation = lib.mkIf splitStore {
    useNixStoreImage = false;
    mountHostNixStore = false;
    writableStore = true;
    qemu.drives = [
      {
        name = "nix-store";
        file = "${storeImage}";
        driveExtraOpts = {
          format = "raw";
          readonly = "on";
        };
        deviceExtraOpts.bootindex = "2";
      }
    ];
    fileSystems = (import ./images.nix).storeFileSystems;
  };
}
