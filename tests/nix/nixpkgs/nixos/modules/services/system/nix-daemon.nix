# Stand-in written for attest's CI (not nixpkgs code): the options of
# nixos/modules/services/system/nix-daemon.nix and config/nix.nix that test nodes touch.
#
# Models: nix.enable (true), nix.package (pkgs.nix), nix.settings (free-form, /etc/nix/nix.conf),
# nix.nixPath, nix.extraOptions; when enabled, the package in the system path and a nix-daemon
# service.
# Leaves out: build users, the daemon socket, registry, channels and gc.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.nix;
  showSetting =
    v:
    if builtins.isList v then
      builtins.concatStringsSep " " (map toString v)
    else if builtins.isBool v then
      (if v then "true" else "false")
    else
      toString v;
in
{
  options.nix = {
    enable = mkOption {
      type = types.bool;
      default = true;
    };
    package = mkOption {
      type = types.package;
      default = pkgs.nix;
    };
    settings = mkOption {
      type = types.submodule { freeformType = types.attrsOf types.anything; };
      default = { };
    };
    nixPath = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    extraOptions = mkOption {
      type = types.lines;
      default = "";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ cfg.package ];
    environment.etc."nix/nix.conf".text =
      lib.concatStrings (lib.mapAttrsToList (k: v: "${k} = ${showSetting v}\n") cfg.settings)
      + cfg.extraOptions;
    systemd.services.nix-daemon = {
      description = "Nix Daemon";
      path = [ cfg.package ];
      serviceConfig.ExecStart = "${cfg.package}/bin/nix-daemon --daemon";
    };
  };
}
