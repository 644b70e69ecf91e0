# Stand-in written for attest's CI (not nixpkgs code):
# nixos/modules/system/activation/specialisation.nix.
#
# Models: specialisation.<name>.{inheritParentConfig, configuration} (configuration is the
# configuration extended by the given modules, or the base modules only when
# inheritParentConfig is false; inside it isSpecialisation is true and it has no
# specialisations of its own) and isSpecialisation; each specialisation's system is an input of
# the parent's system.build.toplevel.
# Leaves out: the specialisation directories of the built system.
{
  lib,
  extendModules,
  noUserModules ? null,
  ...
}:
let
  inherit (lib) mkOption types;
  inner = {
    isSpecialisation = true;
    specialisation = lib.mkOverride 0 { };
  };
in
{
  options = {
    isSpecialisation = mkOption {
      internal = true;
      type = types.bool;
      default = false;
    };
    specialisation = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          local@{ ... }:
          let
            extend =
              if local.config.inheritParentConfig || noUserModules == null then
                extendModules
              else
                noUserModules.extendModules;
          in
          {
            options.inheritParentConfig = mkOption {
              type = types.bool;
              default = true;
            };
            options.configuration = mkOption {
              default = { };
              type = (extend { modules = [ inner ]; }).type;
            };
          }
        )
      );
    };
  };
}
