# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/make-ext4-fs.nix (called with
# callPackage), which makes an ext4 image holding store paths.
#
# Models: the arguments storePaths, volumeLabel, compressImage, populateImageCommands, uuid and
# a derivation named ext4-fs.img (ext4-fs.img.zst when compressed) whose inputs are the
# closure of those paths.
# Leaves out: building the image.
{
  pkgs,
  lib,
  storePaths,
  volumeLabel,
  compressImage ? false,
  populateImageCommands ? "",
  uuid ? "44444444-4444-4444-8888-888888888888",
  ...
}:
pkgs.runCommand "ext4-fs.img${lib.optionalString compressImage ".zst"}" {
  closureInfo = pkgs.closureInfo { rootPaths = storePaths; };
  inherit volumeLabel populateImageCommands uuid;
  nativeBuildInputs = [ pkgs.e2fsprogs ];
} "touch $out # stand-in"
