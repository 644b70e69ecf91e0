# For lib.modules.importApply: a function of one argument returning a module.
greeting:
{ config, ... }:
{
  items = [ "${greeting}, ${toString config.count}" ];
}
