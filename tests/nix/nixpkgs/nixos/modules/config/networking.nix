# Stand-in written for attest's CI (not nixpkgs code): the networking options of NixOS
# (nixos/modules/config/networking.nix, tasks/network-interfaces*.nix, services/networking/
# firewall.nix) that test nodes and the test framework use.
#
# Models: networking.hostName (nixpkgs' pattern, default "nixos"), domain, fqdn, fqdnOrHostName,
# hosts (127.0.0.1/::1 localhost, 127.0.0.2 the host name), extraHosts, hostFiles, and /etc/hosts
# made of them (environment.etc.hosts); nameservers, search, defaultGateway(6) (a string or
# { address, interface, metric, source }), enableIPv6, useDHCP, useNetworkd,
# usePredictableInterfaceNames (default true), interfaces.<name> (name, ipv4/ipv6.addresses and
# routes, useDHCP, macAddress, mtu, virtual, plus free-form), dhcpcd.extraConfig, and the
# firewall's enable / allowed ports and ranges / allowPing / trustedInterfaces / extraCommands /
# interfaces.<name>; the scripted network's network-addresses-<interface> services and a firewall
# service, so that addresses and ports reach the system.
# Leaves out: networkd, NetworkManager, bridges/bonds/vlans/wireless, the real ip and iptables
# scripts, the assertions on interface names, and hostFiles' contents (declared, but not added
# to /etc/hosts).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.networking;
  inherit (lib) mkOption types;

  addressOpts =
    bits:
    types.submodule {
      options = {
        address = mkOption { type = types.str; };
        prefixLength = mkOption {
          type = types.addCheck types.int (n: n >= 0 && n <= bits);
        };
      };
    };

  routeOpts = types.submodule {
    freeformType = types.attrsOf types.anything;
    options = {
      address = mkOption { type = types.str; };
      prefixLength = mkOption { type = types.int; };
      via = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
    };
  };

  interfaceOpts = types.submodule (
    { name, ... }:
    {
      freeformType = types.attrsOf types.anything;
      options = {
        name = mkOption {
          type = types.str;
          default = name;
        };
        ipv4.addresses = mkOption {
          type = types.listOf (addressOpts 32);
          default = [ ];
        };
        ipv6.addresses = mkOption {
          type = types.listOf (addressOpts 128);
          default = [ ];
        };
        ipv4.routes = mkOption {
          type = types.listOf routeOpts;
          default = [ ];
        };
        ipv6.routes = mkOption {
          type = types.listOf routeOpts;
          default = [ ];
        };
        useDHCP = mkOption {
          type = types.nullOr types.bool;
          default = null;
        };
        macAddress = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        mtu = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
        virtual = mkOption {
          type = types.bool;
          default = false;
        };
      };
    }
  );

  gatewayType = types.nullOr (
    types.coercedTo types.str (address: { inherit address; }) (
      types.submodule {
        options = {
          address = mkOption { type = types.str; };
          interface = mkOption {
            type = types.nullOr types.str;
            default = null;
          };
          metric = mkOption {
            type = types.nullOr types.int;
            default = null;
          };
          source = mkOption {
            type = types.nullOr types.str;
            default = null;
          };
        };
      }
    )
  );

  portList = mkOption {
    type = types.listOf types.port;
    default = [ ];
  };
  rangeList = mkOption {
    type = types.listOf (types.attrsOf types.port);
    default = [ ];
  };
  portOptions = {
    allowedTCPPorts = portList;
    allowedUDPPorts = portList;
    allowedTCPPortRanges = rangeList;
    allowedUDPPortRanges = rangeList;
  };

  hostLines = lib.concatStrings (
    lib.mapAttrsToList (ip: names: "${ip} ${builtins.concatStringsSep " " names}\n") (
      lib.filterAttrs (_: names: names != [ ]) cfg.hosts
    )
  );
  fw = cfg.firewall;
  portsText =
    ports: builtins.concatStringsSep " " (map toString ports);
in
{
  options.networking = {
    hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
    };
    domain = mkOption {
      type = types.nullOr types.str;
      default = null;
    };
    fqdn = mkOption {
      readOnly = true;
      type = types.str;
      default =
        if cfg.domain != null then
          "${cfg.hostName}.${cfg.domain}"
        else
          throw "The FQDN is required but cannot be determined: set networking.domain.";
    };
    fqdnOrHostName = mkOption {
      readOnly = true;
      type = types.str;
      default = if cfg.domain == null then cfg.hostName else cfg.fqdn;
    };
    hosts = mkOption {
      type = types.attrsOf (types.listOf types.str);
      default = { };
    };
    hostFiles = mkOption {
      type = types.listOf types.path;
      default = [ ];
    };
    extraHosts = mkOption {
      type = types.lines;
      default = "";
    };
    nameservers = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    search = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    defaultGateway = mkOption {
      type = gatewayType;
      default = null;
    };
    defaultGateway6 = mkOption {
      type = gatewayType;
      default = null;
    };
    enableIPv6 = mkOption {
      type = types.bool;
      default = true;
    };
    useDHCP = mkOption {
      type = types.bool;
      default = true;
    };
    useNetworkd = mkOption {
      type = types.bool;
      default = false;
    };
    usePredictableInterfaceNames = mkOption {
      type = types.bool;
      default = true;
    };
    interfaces = mkOption {
      type = types.attrsOf interfaceOpts;
      default = { };
    };
    dhcpcd.extraConfig = mkOption {
      type = types.lines;
      default = "";
    };
    firewall = portOptions // {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      allowPing = mkOption {
        type = types.bool;
        default = true;
      };
      logRefusedConnections = mkOption {
        type = types.bool;
        default = true;
      };
      trustedInterfaces = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      extraCommands = mkOption {
        type = types.lines;
        default = "";
      };
      interfaces = mkOption {
        type = types.attrsOf (types.submodule { options = portOptions; });
        default = { };
      };
    };
  };

  config = {
    networking.hosts = {
      "127.0.0.1" = [ "localhost" ];
      "::1" = [ "localhost" ];
    }
    // lib.optionalAttrs (cfg.hostName != "") {
      "127.0.0.2" = lib.optional (cfg.domain != null) cfg.fqdn ++ [ cfg.hostName ];
    };

    environment.etc.hosts.text = hostLines + cfg.extraHosts;

    environment.etc."resolv.conf".text = lib.concatMapStrings (ns: "nameserver ${ns}\n") cfg.nameservers;

    systemd.services =
      lib.mapAttrs' (
        name: i:
        lib.nameValuePair "network-addresses-${name}" {
          description = "Address configuration of ${name}";
          wantedBy = [ "network-setup.service" ];
          before = [ "network-setup.service" ];
          path = [ pkgs.iproute2 ];
          serviceConfig.Type = "oneshot";
          serviceConfig.RemainAfterExit = true;
          script = lib.concatMapStrings (a: "ip addr add ${a.address}/${toString a.prefixLength} dev ${i.name}\n") (
            i.ipv4.addresses ++ i.ipv6.addresses
          );
        }
      ) (lib.filterAttrs (_: i: !cfg.useNetworkd) cfg.interfaces)
      // lib.optionalAttrs fw.enable {
        firewall = {
          description = "Firewall";
          wantedBy = [ "sysinit.target" ];
          path = [ pkgs.iproute2 ];
          serviceConfig.Type = "oneshot";
          serviceConfig.RemainAfterExit = true;
          script = ''
            # stand-in: tcp ${portsText fw.allowedTCPPorts} udp ${portsText fw.allowedUDPPorts}
            # ping ${if fw.allowPing then "allowed" else "refused"}; trusted ${toString fw.trustedInterfaces}
            ${fw.extraCommands}
          '';
        };
      };
  };
}
