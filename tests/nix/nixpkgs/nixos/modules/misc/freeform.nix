# Stand-in written for attest's CI (not nixpkgs code): makes the stand-in NixOS accept every
# option it does not declare, as a free-form value (types.anything), so that a test node's
# `services.nginx.enable = true;` or `programs.foo = { ... };` evaluates.
#
# Models: nothing of nixpkgs (real NixOS declares all of these options); definitions of
# undeclared options merge as types.anything merges them (attribute sets recursively, lists
# concatenated, priorities and mkIf honoured, other values only when equal).
# Leaves out: the types, defaults and effects of the undeclared options; an option that real
# NixOS would reject as misspelt is accepted here. Submodules of the stand-in (systemd units,
# interfaces, users, ...) have a free-form type of their own.
{ lib, ... }:
{
  freeformType = lib.types.attrsOf lib.types.anything;
}
