# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/misc/extra-arguments.nix.
#
# Models: the `utils` module argument (nixos/lib/utils.nix of the stand-in).
# Leaves out: nothing else exists in the real module.
{ lib, ... }:
{
  config._module.args.utils = import ../../lib/utils.nix { inherit lib; };
}
