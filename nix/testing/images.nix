# The disk images of a test's nodes, built once per test as derivations, and how a node mounts
# the store image.
{
  # `virtualisation.fileSystems` of a node whose store is the store image (its label, nix-store)
  # under the writable overlay qemu-vm.nix's `writableStore` gives (/nix/.rw-store, a tmpfs):
  # `fileSystems."/nix/store".overlay` is what both stage 1s understand.
  storeFileSystems = {
    "/nix/.ro-store" = {
      device = "/dev/disk/by-label/nix-store";
      fsType = "erofs";
      options = [ "ro" ];
      neededForBoot = true;
    };
    "/nix/store".overlay = {
      lowerdir = [ "/nix/.ro-store" ];
      upperdir = "/nix/.rw-store/upper";
      workdir = "/nix/.rw-store/work";
    };
  };

  # The closure of `rootPaths` as one compressed erofs image labelled `nix-store` whose root
  # directory is the store: mounted at /nix/.ro-store under the store's overlay
  # (./qemu-node.nix, ./microvm-node.nix). Read-only, so every node of the test shares it.
  storeImage =
    {
      pkgs,
      name,
      rootPaths,
    }:
    pkgs.runCommand "${name}-store.erofs"
      {
        nativeBuildInputs = [ pkgs.erofs-utils ];
        closure = pkgs.closureInfo { inherit rootPaths; };
      }
      ''
        mkdir store
        while read -r path; do
          cp -a "$path" store/
        done <"$closure/store-paths"
        mkfs.erofs -zlz4hc -T0 --all-root -L nix-store "$out" store
      '';

  # A microVM node's root without the split store: an ext4 image labelled `nixos` (qemu-vm.nix's
  # root label) holding the closure of `storePaths`; the driver copies it per machine.
  rootImage =
    {
      pkgs,
      name,
      storePaths,
    }:
    pkgs.callPackage (pkgs.path + "/nixos/lib/make-ext4-fs.nix") {
      inherit storePaths;
      volumeLabel = "nixos";
      compressImage = false;
    };
}
