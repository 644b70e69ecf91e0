# Stand-in written for attest's CI (not nixpkgs code): the parts of
# nixos/modules/system/boot/stage-2.nix and tmp.nix that VM tests touch.
#
# Models: boot.postBootCommands (in the stage 2 init script, system.build.bootStage2, which
# system.build.toplevel links as init), boot.tmp.{useTmpfs, tmpfsSize, cleanOnBoot}.
# Leaves out: the activation script and the real stage 2 init.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
in
{
  options.boot = {
    postBootCommands = mkOption {
      type = types.lines;
      default = "";
    };
    tmp.useTmpfs = mkOption {
      type = types.bool;
      default = false;
    };
    tmp.tmpfsSize = mkOption {
      type = types.oneOf [
        types.str
        types.ints.positive
      ];
      default = "50%";
    };
    tmp.cleanOnBoot = mkOption {
      type = types.bool;
      default = false;
    };
  };

  config.system.build.bootStage2 = pkgs.writeScript "stage-2-init.sh" ''
    #!${pkgs.runtimeShell}
    # stand-in of NixOS's stage 2 init
    ${config.boot.postBootCommands}
    exec ${pkgs.systemd}/lib/systemd/systemd
  '';
}
