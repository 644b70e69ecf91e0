# A module file that is a function: its key is its path.
{ config, lib, ... }:
{
  imports = [ ./shared.nix ];
  items = lib.mkAfter [ "function:${toString config.count}" ];
}
