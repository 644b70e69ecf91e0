# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/system/etc/etc.nix.
#
# Models: environment.etc.<name> (enable, target (the name), text, source (from text, through
# writeText, at the priority of `text`), mode, user, group, uid, gid) and system.build.etc, a
# derivation over every enabled entry (so their texts and sources are inputs of the system).
# Leaves out: the activation that links /etc, and checks of modes.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  enabled = lib.filter (e: e.enable) (builtins.attrValues config.environment.etc);
  sourceString = s: if builtins.isPath s then toString s else "${s}";
in
{
  options.environment.etc = mkOption {
    default = { };
    type = types.attrsOf (
      types.submodule (
        {
          name,
          config,
          options,
          ...
        }:
        {
          options = {
            enable = mkOption {
              type = types.bool;
              default = true;
            };
            target = mkOption {
              type = types.str;
              default = name;
            };
            text = mkOption {
              type = types.nullOr types.lines;
              default = null;
            };
            source = mkOption { type = types.path; };
            mode = mkOption {
              type = types.str;
              default = "symlink";
            };
            user = mkOption {
              type = types.str;
              default = "+${toString config.uid}";
            };
            group = mkOption {
              type = types.str;
              default = "+${toString config.gid}";
            };
            uid = mkOption {
              type = types.int;
              default = 0;
            };
            gid = mkOption {
              type = types.int;
              default = 0;
            };
          };
          config.source = lib.mkIf (config.text != null) (
            lib.mkDerivedConfig options.text (
              pkgs.writeText ("etc-" + builtins.replaceStrings [ "/" ] [ "-" ] name)
            )
          );
        }
      )
    );
  };

  config.system.build.etc = pkgs.runCommandLocal "etc" {
    entries = builtins.toJSON (
      map (e: {
        inherit (e) target mode;
        source = sourceString e.source;
      }) enabled
    );
  } "mkdir -p $out/etc # stand-in: links every entry of $entries";
}
