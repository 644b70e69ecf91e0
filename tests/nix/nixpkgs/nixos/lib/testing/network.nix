# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/network.nix, the test
# network.
#
# Models: machine numbers 1, 2, ... in the sorted order of the names of nodes and containers;
# for every machine (extraBaseModules): virtualisation.test.nodeName (the attribute name, kept
# in specialisations) and the read-only virtualisation.test.nodeNumber; networking.hostName
# (mkDefault the node name); for each interface of virtualisation.allInterfaces with assignIP,
# networking.interfaces.<name> with 192.168.<vlan>.<number>/24 and 2001:db8:<vlan>::<number>/64;
# networking.primaryIPAddress / primaryIPv6Address from the first of them; networking.extraHosts
# naming every machine (its primary IPv4 and IPv6 address, then <host>.<domain> when a domain
# is set, and the host name); system.build.networkConfig (the same settings). For QEMU nodes
# (extraBaseNodeModules): per interface k of allInterfaces (in attribute order), QEMU's
# virtio-net-pci/VDE flags with MAC 52:54:00:12:<vlan>:<number> (qemu-common.nix) in
# virtualisation.qemu.options, and initrd udev rules naming each card by its (lowercase) MAC.
# Leaves out: nothing observable.
{ lib, allMachines, ... }:
let
  inherit (lib) mkOption types;

  nodeNumbers = builtins.listToAttrs (
    lib.imap1 (number: name: {
      inherit name;
      value = number;
    }) (builtins.attrNames allMachines)
  );

  networkModule =
    { config, ... }:
    let
      number = toString config.virtualisation.test.nodeNumber;
      addressed = lib.filter (i: i.assignIP) (builtins.attrValues config.virtualisation.allInterfaces);
      addresses = map (i: {
        inherit (i) name;
        ipv4 = {
          address = "192.168.${toString i.vlan}.${number}";
          prefixLength = 24;
        };
        ipv6 = {
          address = "2001:db8:${toString i.vlan}::${number}";
          prefixLength = 64;
        };
      }) addressed;
      first = builtins.head addresses;

      hostsOf =
        machine:
        let
          net = machine.networking;
          names =
            lib.optionalString (net.domain != null) "${net.hostName}.${net.domain} " + "${net.hostName}\n";
        in
        lib.optionalString (net.primaryIPAddress != "") "${net.primaryIPAddress} ${names}"
        + lib.optionalString (net.primaryIPv6Address != "") "${net.primaryIPv6Address} ${names}";

      networkConfig = {
        networking.hostName = lib.mkDefault config.virtualisation.test.nodeName;
        networking.interfaces = builtins.listToAttrs (
          map (a: {
            inherit (a) name;
            value = {
              ipv4.addresses = [ a.ipv4 ];
              ipv6.addresses = [ a.ipv6 ];
            };
          }) addresses
        );
        networking.primaryIPAddress = lib.optionalString (addresses != [ ]) first.ipv4.address;
        networking.primaryIPv6Address = lib.optionalString (addresses != [ ]) first.ipv6.address;
        networking.extraHosts = lib.concatStrings (map hostsOf (builtins.attrValues allMachines));
      };
    in
    {
      key = "network-interfaces";
      config = networkConfig // {
        system.build.networkConfig = networkConfig;
      };
    };

  qemuNetworkModule =
    { config, pkgs, ... }:
    let
      qemu-common = import ../qemu-common.nix {
        inherit lib;
        inherit (pkgs) stdenv;
      };
      number = config.virtualisation.test.nodeNumber;
      interfaces = builtins.attrValues config.virtualisation.allInterfaces;
    in
    {
      virtualisation.qemu.options = lib.concatLists (
        lib.imap1 (nic: i: qemu-common.qemuNICFlags nic i.vlan number) interfaces
      );
      boot.initrd.services.udev.rules = lib.concatMapStrings (
        i:
        ''SUBSYSTEM=="net",ACTION=="add",ATTR{address}=="${lib.toLower (qemu-common.qemuNicMac i.vlan number)}",NAME="${i.name}"''
        + "\n"
      ) interfaces;
    };

  nodeNumberModule =
    regular@{ config, name, ... }:
    {
      options = {
        virtualisation.test.nodeName = mkOption {
          internal = true;
          default = name;
        };
        virtualisation.test.nodeNumber = mkOption {
          internal = true;
          type = types.int;
          readOnly = true;
          default = nodeNumbers.${config.virtualisation.test.nodeName};
        };
        # A specialisation gets its own `name`; its node name stays the machine's.
        specialisation = mkOption {
          type = types.attrsOf (
            types.submodule {
              options.configuration = mkOption {
                type = types.submoduleWith {
                  modules = [
                    { config.virtualisation.test.nodeName = regular.config.virtualisation.test.nodeName; }
                  ];
                };
              };
            }
          );
        };
      };
    };
in
{
  config = {
    extraBaseModules.imports = [
      networkModule
      nodeNumberModule
    ];
    extraBaseNodeModules.imports = [ qemuNetworkModule ];
  };
}
