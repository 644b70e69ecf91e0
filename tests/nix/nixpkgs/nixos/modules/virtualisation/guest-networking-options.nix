# Stand-in written for attest's CI (not nixpkgs code):
# nixos/modules/virtualisation/guest-networking-options.nix, the network options shared by QEMU
# VMs and nspawn containers of the test framework.
#
# Models: networking.primaryIPAddress / primaryIPv6Address ("" by default),
# virtualisation.vlans (default [ 1 ], or [ ] when virtualisation.interfaces is set),
# virtualisation.interfaces.<name>.{name, vlan, assignIP (false)}, the read-only
# virtualisation.allInterfaces (eth<k> for the k-th vlan, with assignIP, then the named
# interfaces), and the assertions that both do not use one name.
# Leaves out: nothing observable.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.virtualisation;

  interfaceType = types.submodule (
    { name, ... }:
    {
      options = {
        name = mkOption {
          type = types.str;
          default = name;
        };
        vlan = mkOption { type = types.ints.unsigned; };
        assignIP = mkOption {
          type = types.bool;
          default = false;
        };
      };
    }
  );

  fromVlans = builtins.listToAttrs (
    lib.imap1 (k: vlan: {
      name = "eth${toString k}";
      value = {
        name = "eth${toString k}";
        inherit vlan;
        assignIP = true;
      };
    }) cfg.vlans
  );
in
{
  options = {
    networking.primaryIPAddress = mkOption {
      type = types.str;
      default = "";
      internal = true;
    };
    networking.primaryIPv6Address = mkOption {
      type = types.str;
      default = "";
      internal = true;
    };
    virtualisation.vlans = mkOption {
      type = types.listOf types.ints.unsigned;
      default = if cfg.interfaces == { } then [ 1 ] else [ ];
    };
    virtualisation.interfaces = mkOption {
      type = types.attrsOf interfaceType;
      default = { };
    };
    virtualisation.allInterfaces = mkOption {
      type = types.attrsOf interfaceType;
      readOnly = true;
      default = fromVlans // cfg.interfaces;
    };
  };

  config.assertions = [
    {
      assertion = builtins.intersectAttrs fromVlans cfg.interfaces == { };
      message = "`virtualisation.vlans` and `virtualisation.interfaces` have conflicting keys: ${builtins.concatStringsSep "," (builtins.attrNames (builtins.intersectAttrs fromVlans cfg.interfaces))}";
    }
    (
      let
        names = lib.mapAttrsToList (_: i: i.name) fromVlans ++ lib.mapAttrsToList (_: i: i.name) cfg.interfaces;
      in
      {
        assertion = lib.allUnique names;
        message = "`virtualisation.vlans` and `virtualisation.interfaces` have conflicting interface names: ${builtins.concatStringsSep "," names}";
      }
    )
  ];
}
