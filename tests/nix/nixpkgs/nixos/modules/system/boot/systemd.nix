# Stand-in written for attest's CI (not nixpkgs code): the stage 2 systemd options of
# nixos/modules/system/boot/systemd.nix.
#
# Models: systemd.package, systemd.services / sockets (typed, see nixos/lib/systemd-lib.nix),
# systemd.targets / timers / paths / slices (free-form units), systemd.settings.Manager (unit
# settings, /etc/systemd/system.conf), and system.build.units: the unit files of every service
# and socket (disabled ones masked), linked as /etc/systemd/system.
# Leaves out: upstream units, user units (systemd.user.* is free-form), generators, the
# activation's unit reloading, and timers made from startAt.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.systemd;
  units = import ../../../lib/systemd-lib.nix { inherit lib pkgs; };
  unitOf =
    kind: render:
    lib.mapAttrs' (
      name: u:
      lib.nameValuePair "${name}.${kind}" (
        let
          text = render u;
        in
        if text == null then "/dev/null" else text
      )
    );
  freeUnits = mkOption {
    type = types.attrsOf units.unitType;
    default = { };
  };
in
{
  options.systemd = {
    package = mkOption {
      type = types.package;
      default = pkgs.systemd;
    };
    services = mkOption {
      type = types.attrsOf units.serviceType;
      default = { };
    };
    sockets = mkOption {
      type = types.attrsOf units.socketType;
      default = { };
    };
    targets = freeUnits;
    timers = freeUnits;
    paths = freeUnits;
    slices = freeUnits;
    settings.Manager = mkOption {
      type = types.attrsOf units.unitOption;
      default = { };
    };
  };

  config = {
    system.build.units = pkgs.runCommandLocal "system-units" {
      units = builtins.toJSON (
        unitOf "service" units.serviceText cfg.services // unitOf "socket" units.socketText cfg.sockets
      );
    } "mkdir -p $out # stand-in: one file per unit of $units";
    environment.etc."systemd/system".source = config.system.build.units;
    environment.etc."systemd/system.conf".text = units.section "Manager" cfg.settings.Manager;
  };
}
