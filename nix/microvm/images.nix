# The disk images of Firecracker and cloud-hypervisor nodes.
{ pkgs }:
{
  # The closure of `rootPaths` (every node's system) as one compressed erofs image whose root
  # directory is the store (mounted at /nix/.ro-store under the overlay of nix/microvm/guest.nix).
  # Read-only, so every node of the test shares it.
  storeImage =
    { name, rootPaths }:
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

  # Without splitStore: an ext4 root image holding the system's whole closure (the driver copies
  # it per machine, sparse or reflinked).
  rootImage =
    { name, toplevel }:
    pkgs.callPackage (pkgs.path + "/nixos/lib/make-ext4-fs.nix") {
      storePaths = [ toplevel ];
      volumeLabel = "nixos";
      compressImage = false;
    };

  # The registration of a closure, loaded into the guest's Nix database at boot.
  regInfo = rootPaths: pkgs.closureInfo { inherit rootPaths; };
}
