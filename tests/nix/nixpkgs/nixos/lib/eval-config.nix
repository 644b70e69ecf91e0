# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/eval-config.nix, which turns
# NixOS modules into a configuration.
#
# Models: the arguments system (null: set modularly), pkgs, baseModules (default: the stand-in's
# module list and a module setting nixpkgs.system / nixpkgs.pkgs from the arguments), extraArgs,
# specialArgs, modules, modulesLocation, check, prefix, lib (default ../../default-lib.nix),
# extraModules; the evaluation in two steps as nixpkgs does (the base modules with class "nixos"
# and `modulesPath`, then extendModules with the user's modules, located at the caller's file),
# the `noUserModules`, `baseModules`, `extraModules` and `modules` module arguments, and the
# result: evalModules' attributes (config, options, type, extendModules, _module, ...) plus
# `pkgs`, `lib` and `extraArgs`, with extendModules keeping those.
# Leaves out: the NIXOS_EXTRA_MODULE_PATH variable and the deprecation warnings of extraArgs,
# check and specialArgs.pkgs.
evalConfigArgs@{
  system ? builtins.currentSystem,
  pkgs ? null,
  baseModules ? import ../modules/module-list.nix ++ [
    {
      _file = ./eval-config.nix;
      key = toString ./eval-config.nix;
      config = lib.mkMerge (
        lib.optional (system != null) { nixpkgs.system = lib.mkDefault system; }
        ++ lib.optional (pkgs != null) { nixpkgs.pkgs = pkgs; }
      );
    }
  ],
  extraArgs ? { },
  specialArgs ? { },
  modules,
  modulesLocation ? (builtins.unsafeGetAttrPos "modules" evalConfigArgs).file or null,
  check ? true,
  prefix ? [ ],
  lib ? import ../../default-lib.nix,
  extraModules ? [ ],
}:
let
  legacyModules =
    lib.optional (evalConfigArgs ? extraArgs) { config._module.args = extraArgs; }
    ++ lib.optional (evalConfigArgs ? check) { config._module.check = lib.mkDefault check; };

  userModules =
    (if modulesLocation == null then modules else map (lib.setDefaultModuleLocation modulesLocation) modules)
    ++ legacyModules;

  noUserModules = lib.evalModules {
    inherit prefix;
    class = "nixos";
    specialArgs = {
      modulesPath = toString ../modules;
    }
    // specialArgs;
    modules = baseModules ++ extraModules ++ [
      {
        config._module.args = {
          inherit
            noUserModules
            baseModules
            extraModules
            modules
            ;
        };
      }
    ];
  };

  withExtraAttrs =
    evaluation:
    evaluation
    // {
      inherit extraArgs lib;
      inherit (evaluation._module.args) pkgs;
      extendModules = args: withExtraAttrs (evaluation.extendModules args);
    };
in
withExtraAttrs (noUserModules.extendModules { modules = userModules; })
