# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/driver-configuration.nix,
# what the python driver reads.
#
# Models: driverConfiguration (vms.<name>.{name, start_script: the node's run-<name>-vm},
# containers.<name>.{name, start_script: run-<name>-nspawn}, vlans: every vlan of every machine,
# once, from virtualisation.vlans and virtualisation.interfaces, global_timeout, test_script: the
# test script as a file, enable_ssh_backdoor) and driverConfigurationFile, its JSON
# (writers.writeJSON "driverConfiguration.json").
# Leaves out: nothing.
{
  config,
  lib,
  hostPkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  machineEntries = mkOption {
    internal = true;
    type = types.attrsOf (
      types.submodule {
        options = {
          name = mkOption {
            internal = true;
            type = types.str;
          };
          start_script = mkOption {
            internal = true;
            type = types.path;
          };
        };
      }
    );
  };
  internalOf =
    type:
    mkOption {
      internal = true;
      inherit type;
    };
in
{
  options = {
    driverConfiguration = mkOption {
      internal = true;
      description = "Configuration attribute set for test driver invocation";
      type = types.submodule {
        options = {
          vms = machineEntries;
          containers = machineEntries;
          vlans = internalOf (types.listOf types.ints.unsigned);
          global_timeout = internalOf types.ints.unsigned;
          enable_ssh_backdoor = internalOf types.bool;
          test_script = internalOf types.path;
        };
      };
    };
    driverConfigurationFile = internalOf types.path;
  };

  config = {
    driverConfiguration = {
      vms = builtins.mapAttrs (name: node: {
        inherit name;
        start_script = lib.getExe node.system.build.vm;
      }) config.nodes;
      containers = builtins.mapAttrs (name: container: {
        inherit name;
        start_script = lib.getExe container.system.build.nspawn;
      }) config.containers;
      vlans = lib.unique (
        builtins.concatMap (
          m: m.virtualisation.vlans ++ lib.mapAttrsToList (_: i: i.vlan) m.virtualisation.interfaces
        ) (builtins.attrValues config.nodes ++ builtins.attrValues config.containers)
      );
      global_timeout = config.globalTimeout;
      test_script = hostPkgs.writeText "test-script" config.testScriptString;
      enable_ssh_backdoor = config.sshBackdoor.enable;
    };
    driverConfigurationFile = hostPkgs.writers.writeJSON "driverConfiguration.json" config.driverConfiguration;
  };
}
