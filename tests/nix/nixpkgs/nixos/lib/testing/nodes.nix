# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/nodes.nix, the machines
# of a test.
#
# Models: `nodes` (lazyAttrsOf node.type; each node a NixOS configuration of the stand-in: its
# module list, nixos-test-base.nix, the `nodes` argument, nixpkgs.system from hostPkgs unless
# node.pkgs is set or nixpkgs.pkgs is defined, extraBaseModules, `defaults`; then qemu-vm.nix,
# nodeDefaults, virtualisation.qemu.{package, forceAccel} from the test and
# virtualisation.host.pkgs = hostPkgs, extraBaseNodeModules), `containers` (same base with
# guest-networking-options.nix, the stand-in's nspawn module and containerDefaults; empty by
# default), allMachines (both, names must not collide), defaults / nodeDefaults /
# containerDefaults / extraBaseModules / extraBaseNodeModules (deferred modules), node.type,
# container.type, node.pkgs (types.pkgs or null; when set, nodes get nixpkgs.pkgs = it and
# nixpkgs/read-only.nix, node.pkgsReadOnly defaulting to node.pkgs != null), node.specialArgs,
# nodesCompat (nodes with a deprecated `.config`), the `nodes`, `containers` and `allMachines`
# module arguments, passthru.{nodes, containers, extendNixOS}, sshBackdoor.{enable (default:
# enableDebugHook), vsockOffset} with --dump-vsocks, sshd in every machine and a vhost-vsock
# device (guest-cid = node number + offset) in every node when enabled.
# Leaves out: the real nspawn container module (system.build.nspawn is a stub) and its PAM
# settings.
testModuleArgs@{
  config,
  lib,
  hostPkgs,
  options,
  ...
}:
let
  inherit (lib) mkOption types mkIf;
  hostPlatform = hostPkgs.stdenv.hostPlatform;

  guestSystem =
    if hostPlatform.isLinux then
      hostPlatform.system
    else
      {
        x86_64-darwin = "x86_64-linux";
        aarch64-darwin = "aarch64-linux";
      }
      .${hostPlatform.system}
        or (throw "NixOS Test: don't know which VM guest system to pair with VM host system: ${hostPlatform.system}.");

  baseOS = import ../eval-config.nix {
    inherit lib;
    system = null;
    inherit (config.node) specialArgs;
    modules = [ config.defaults ];
    baseModules = import ../../modules/module-list.nix ++ [
      ./nixos-test-base.nix
      {
        key = "nodes";
        _module.args.nodes = config.nodesCompat;
      }
      (
        { options, ... }:
        {
          key = "nodes.nix-pkgs";
          config = lib.optionalAttrs (!config.node.pkgsReadOnly) (
            mkIf (!options.nixpkgs.pkgs.isDefined) { nixpkgs.system = guestSystem; }
          );
        }
      )
      testModuleArgs.config.extraBaseModules
    ];
  };

  baseQemuOS = baseOS.extendModules {
    modules = [
      ../../modules/virtualisation/qemu-vm.nix
      config.nodeDefaults
      {
        key = "base-qemu";
        virtualisation.qemu.package = testModuleArgs.config.qemu.package;
        virtualisation.qemu.forceAccel = testModuleArgs.config.qemu.forceAccel;
        virtualisation.host.pkgs = hostPkgs;
      }
      testModuleArgs.config.extraBaseNodeModules
    ];
  };

  baseNspawnOS = baseOS.extendModules {
    modules = [
      ../../modules/virtualisation/nspawn-container
      config.containerDefaults
      { key = "base-nspawn"; }
    ];
  };

  # Overrides an option of this evaluation from an extended one, one priority above.
  mkOneUp = opt: f: lib.mkOverride (opt.highestPrio - 1) (f opt.value);

  deferred =
    description:
    mkOption {
      inherit description;
      type = types.deferredModule;
      default = { };
    };
in
{
  options = {
    sshBackdoor = {
      enable = mkOption {
        type = types.bool;
        default = config.enableDebugHook;
        description = "Whether to turn on the VSOCK-based access to all VMs.";
      };
      vsockOffset = mkOption {
        type = types.ints.between 2 4294967296;
        default = 2;
        description = "Added to each node number to make its vsock CID.";
      };
    };

    node.type = mkOption {
      type = types.raw;
      default = baseQemuOS.type;
      internal = true;
    };

    nodes = mkOption {
      type = types.lazyAttrsOf config.node.type;
      default = { };
      visible = "shallow";
      description = "The NixOS configurations of the QEMU VMs of the test.";
    };

    container.type = mkOption {
      type = types.raw;
      default = baseNspawnOS.type;
      internal = true;
    };

    containers = mkOption {
      type = types.lazyAttrsOf config.container.type;
      default = { };
      visible = "shallow";
      description = "The NixOS configurations of the systemd-nspawn containers of the test.";
    };

    allMachines = mkOption {
      readOnly = true;
      internal = true;
      default =
        let
          both = lib.intersectLists (builtins.attrNames config.nodes) (builtins.attrNames config.containers);
        in
        lib.throwIfNot (both == [ ])
          "The following names are used in both `nodes` and `containers`: ${builtins.concatStringsSep ", " both}"
          (config.nodes // config.containers);
    };

    defaults = deferred "NixOS configuration applied to all nodes and containers.";
    nodeDefaults = deferred "NixOS configuration applied to all nodes.";
    containerDefaults = deferred "NixOS configuration applied to all containers.";
    extraBaseModules = deferred "Like defaults, but kept in specialisations that do not inherit their parent's configuration.";
    extraBaseNodeModules = deferred "Like extraBaseModules, for nodes only.";

    node.pkgs = mkOption {
      type = types.nullOr types.pkgs;
      default = null;
      description = "The Nixpkgs of the nodes and containers; makes the nixpkgs.* options read-only.";
    };

    node.pkgsReadOnly = mkOption {
      type = types.bool;
      default = config.node.pkgs != null;
      description = "Whether to make the nixpkgs.* options of the nodes read-only.";
    };

    node.specialArgs = mkOption {
      type = types.lazyAttrsOf types.raw;
      default = { };
      description = "Module arguments of the nodes that are available in `imports`.";
    };

    nodesCompat = mkOption {
      internal = true;
      description = "`nodes` with the deprecated `nodes.<name>.config`.";
    };
  };

  config = {
    _module.args.allMachines = config.allMachines;
    _module.args.containers = config.containers;
    _module.args.nodes = config.nodesCompat;

    nodesCompat = builtins.mapAttrs (
      name: node:
      node
      // {
        config =
          lib.warnIf (lib.oldestSupportedReleaseIsAtLeast 2211)
            "Module argument `nodes.${name}.config` is deprecated. Use `nodes.${name}` instead."
            node;
      }
    ) config.nodes;

    passthru.nodes = config.nodesCompat;
    passthru.containers = config.containers;

    extraDriverArgs = mkIf config.sshBackdoor.enable [
      "--dump-vsocks=${toString config.sshBackdoor.vsockOffset}"
    ];

    defaults = lib.mkMerge [
      (mkIf config.node.pkgsReadOnly {
        nixpkgs.pkgs = config.node.pkgs;
        imports = [ ../../modules/misc/nixpkgs/read-only.nix ];
      })
      (mkIf config.sshBackdoor.enable {
        services.openssh = {
          enable = true;
          settings = {
            PermitRootLogin = "yes";
            PermitEmptyPasswords = "yes";
          };
        };
        security.pam.services.sshd.allowNullPassword = true;
      })
    ];

    nodeDefaults = mkIf config.sshBackdoor.enable (
      { config, ... }:
      {
        virtualisation.qemu.options = [
          "-device vhost-vsock-pci,guest-cid=${
            toString (config.virtualisation.test.nodeNumber + testModuleArgs.config.sshBackdoor.vsockOffset)
          }"
        ];
      }
    );

    passthru.extendNixOS =
      {
        module,
        specialArgs ? { },
      }:
      config.passthru.extend {
        modules = [
          {
            extraBaseModules = module;
            node.specialArgs = mkOneUp options.node.specialArgs (_: specialArgs);
          }
        ];
      };
  };
}
