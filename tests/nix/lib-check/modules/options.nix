# Declarations used by the lib-check cases that load modules from files.
{ lib, ... }:
{
  options.items = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
  };
  options.count = lib.mkOption {
    type = lib.types.int;
    default = 0;
  };
}
