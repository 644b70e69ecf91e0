# Stand-in written for attest's CI (not nixpkgs code): the switches of
# nixos/modules/misc/documentation.nix.
#
# Models: documentation.{enable, man.enable, info.enable, doc.enable, dev.enable, nixos.enable}
# with nixpkgs' defaults (all on but dev); their values reach system.build.toplevel.
# Leaves out: the manuals and man pages themselves.
{ lib, ... }:
let
  switch =
    default:
    lib.mkOption {
      type = lib.types.bool;
      inherit default;
    };
in
{
  options.documentation = {
    enable = switch true;
    man.enable = switch true;
    info.enable = switch true;
    doc.enable = switch true;
    dev.enable = switch false;
    nixos.enable = switch true;
  };
}
