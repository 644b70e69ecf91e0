# Facts about how nixpkgs' test framework treats attest's module that tests/nix/module/cases.nix
# does not pin down: which framework options exist, what the SSH backdoor, qemu.forceAccel,
# interactive mode and the run derivation give, how a node's network cards are ordered. `check`
# evaluates each attribute on its own, once with the stand-in nixpkgs and once with the tree of
# real files, and prints the ones that differ: they show where attest meets a framework other
# than the one the stand-in models. Nothing here is compared with fixed values.
{
  # A nixpkgs tree laid out as tests/nix/nixpkgs (the stand-in or check's hybrid of real files).
  nixpkgs ? ../nixpkgs,
}:
let
  pkgs = import nixpkgs { };
  inherit (pkgs) lib;
  attest = pkgs.stdenv.mkDerivation {
    pname = "attest";
    version = "0";
  };
  module = ../../../nix/testing/module.nix;

  runTest =
    m:
    pkgs.testers.runNixOSTest {
      imports = [
        module
        m
      ];
      attest.package = attest;
    };

  # The test's module evaluation itself (for `options`), as runNixOSTest sets it up.
  evalTest =
    m:
    (import (nixpkgs + "/nixos/lib") { inherit lib; }).evalTest {
      imports = [
        module
        m
      ];
      attest.package = attest;
      hostPkgs = pkgs;
      node.pkgs = pkgs;
    };

  one = extra: {
    name = "probe";
    nodes.machine = { };
    testScript = "";
  } // extra;

  hasOption = options: path: lib.hasAttrByPath (lib.splitString "." path) options;

  # Store paths without their hash, so that the two trees compare.
  unhash = s: builtins.replaceStrings [ "/nix/store/" ] [ "" ] (
    lib.concatStrings (
      map (p: if builtins.isList p then "HASH-" else p) (
        builtins.split "/nix/store/[0-9a-df-np-sv-z]{32}-" (builtins.unsafeDiscardStringContext s)
      )
    )
  );
in
{
  # Test-level options of the framework that attest's module uses or might want to.
  framework-options =
    let
      options = (evalTest (one { })).options;
    in
    lib.genAttrs [
      "extraBaseModules"
      "extraBaseNodeModules"
      "nodeDefaults"
      "containers"
      "containerDefaults"
      "driverConfiguration"
      "driverConfigurationFile"
      "pythonTestDriverPackage"
      "qemu.forceAccel"
      "logLevel"
      "sshBackdoor.enable"
      "sshBackdoor.vsockOffset"
      "enableDebugHook"
      "rawTestDerivationArg"
      "requiredFeatures"
      "assertions"
      "warnings"
    ] (hasOption options);

  # A QEMU test with the SSH backdoor: what the framework adds, and what attest's driver gets.
  ssh-backdoor-qemu =
    let
      t = runTest (one { sshBackdoor.enable = true; });
      node = t.nodes.machine;
    in
    {
      frameworkExtraDriverArgs = t.config.extraDriverArgs;
      attestDriverArgs = t.driver.extraDriverArgs;
      vsockQemuOptions = lib.filter (lib.hasInfix "vsock") node.virtualisation.qemu.options;
      sshd = node.services.openssh.enable or null;
    };

  # qemu.forceAccel: what attest's configuration and the node's QEMU get.
  force-accel =
    let
      t = runTest (one { qemu.forceAccel = true; });
    in
    {
      attestAccel = (builtins.head t.config.attest.configuration.machines).accel or null;
      nodeForceAccel = t.nodes.machine.virtualisation.qemu.forceAccel or "no such option";
    };

  # A node with a vlan and a named interface whose name sorts before eth1: the framework's card
  # order (allInterfaces, by name), the QEMU NICs, and the vlans attest gives a microVM machine.
  interface-order =
    let
      node = {
        virtualisation.vlans = [ 1 ];
        virtualisation.interfaces.enp1s0.vlan = 2;
      };
      q = runTest (one { nodes.machine = node; });
      m = runTest (
        one {
          attest.backend = "firecracker";
          attest.splitStore = true;
          nodes.machine = node;
        }
      );
    in
    {
      allInterfaces = lib.mapAttrsToList (n: i: "${n}:${toString i.vlan}") (
        q.nodes.machine.virtualisation.allInterfaces or { }
      );
      qemuNics = lib.filter (lib.hasInfix "virtio-net") q.nodes.machine.virtualisation.qemu.options;
      attestMicrovmVlans = (builtins.head m.config.attest.configuration.machines).vlans;
      hostsOfMachine = q.nodes.machine.networking.extraHosts;
    };

  # /etc/hosts of a node that shares only its second vlan with another (NixOS writes it; attest's
  # nix/lib/network.nix `nodeHosts` models it for direct-boot guests as "first vlan only").
  hosts-multi-vlan =
    let
      t = runTest {
        name = "probe";
        nodes.a.virtualisation.vlans = [
          1
          2
        ];
        nodes.b.virtualisation.vlans = [ 2 ];
        testScript = "";
      };
    in
    {
      a = t.nodes.a.networking.extraHosts;
      b = t.nodes.b.networking.extraHosts;
    };

  # The run derivation (vm-test-run-<name>): what it requires and how it calls the driver.
  run-derivation =
    let
      t = runTest (one { });
      drv = t.config.rawTestDerivation;
    in
    {
      inherit (drv) name;
      requiredSystemFeatures = drv.drvAttrs.requiredSystemFeatures or null;
      buildCommand = unhash (drv.drvAttrs.buildCommand or "");
    };

  # Interactive mode: the arguments attest's driver gets and the QEMU the nodes use.
  interactive =
    let
      t = runTest (one { });
    in
    {
      args = t.driverInteractive.extraDriverArgs;
      qemu = t.config.interactive.nodes.machine.virtualisation.qemu.package.name or null;
      qemuNonInteractive = t.nodes.machine.virtualisation.qemu.package.name or null;
    };

  # The arguments a testScript function can ask for.
  test-script-arguments =
    let
      t = runTest (
        one {
          testScript =
            {
              nodes,
              containers ? null,
              ...
            }:
            builtins.toJSON {
              nodes = builtins.attrNames nodes;
              containers = if containers == null then null else builtins.attrNames containers;
            };
        }
      );
    in
    builtins.fromJSON t.config.attest.spec.script;

  # A microVM node: test-instrumentation's hvc0 backdoor off, attest's vsock one on, and what is
  # left of the framework's QEMU-only settings.
  microvm-node-settings =
    let
      t = runTest (one { attest.backend = "firecracker"; attest.splitStore = true; });
      c = t.nodes.machine;
    in
    {
      testingBackdoor = c.testing.backdoor;
      hvc0Backdoor = c.systemd.services ? backdoor;
      attestBackdoor = c.systemd.sockets ? attest-backdoor;
      kernelParams = c.boot.kernelParams;
      enableSharedMemory = c.virtualisation.qemu.enableSharedMemory or "no such option";
    };
}
