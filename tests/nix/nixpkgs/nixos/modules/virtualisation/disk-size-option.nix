# Stand-in written for attest's CI (not nixpkgs code):
# nixos/modules/virtualisation/disk-size-option.nix.
#
# Models: virtualisation.diskSize ("auto" or MiB; "auto" unless diskSizeAutoSupported is false,
# then 1024) and virtualisation.diskSizeAutoSupported.
# Leaves out: nothing observable.
{ config, lib, ... }:
{
  options.virtualisation = {
    diskSizeAutoSupported = lib.mkOption {
      type = lib.types.bool;
      default = true;
      internal = true;
    };
    diskSize = lib.mkOption {
      type = lib.types.either (lib.types.enum [ "auto" ]) lib.types.ints.positive;
      default = if config.virtualisation.diskSizeAutoSupported then "auto" else 1024;
    };
  };
}
