# A test on Firecracker or cloud-hypervisor (the two make-test.nix files beside it pass the
# backend): each node is a NixOS system with nix/microvm/guest.nix, booted directly from its
# kernel and initrd; the test's C++ script is compiled against attest and run in the sandbox, the
# VMMs on TAP devices inside a user+net namespace when the test has a network.
# The arguments are those of nix/make-test.nix (docs/nix.md has the table), except that
# splitStore means the shared erofs store of guest.nix, a node's own vlans are `attest.vlans`,
# and `vmm` is the VMM package (its binary is named after the backend).
backend:
{
  pkgs,
  attest,
  name,
  nodes,
  testScript,
  testPrelude ? "",
  splitStore ? false,
  enableNetwork ? null,
  vlans ? [ 1 ],
  globalTimeout ? 3600,
  driverArgs ? [ ],
  defaults ? { },
  vmm ? (if backend == "firecracker" then pkgs.firecracker else pkgs.cloud-hypervisor),
}:
let
  inherit (pkgs) lib;
  alib = import ../lib;
  images = import ./images.nix { inherit pkgs; };
  nodeNames = builtins.attrNames nodes;
  defaultVlans = alib.config.vlansOf { inherit nodeNames enableNetwork vlans; };

  # The layout needs every node's vlans, and each node needs the layout: lazy evaluation lets
  # them refer to each other (a node's vlans never depend on the layout).
  nodeVlans = lib.mapAttrs (_: system: system.config.attest.vlans) systems;
  layout = alib.network.layout nodeVlans;
  hosts = alib.network.nodeHosts layout;

  systems = lib.mapAttrs (
    node: module:
    import (pkgs.path + "/nixos/lib/eval-config.nix") {
      # The platform comes from nixpkgs.pkgs below.
      system = null;
      modules = [
        ./guest.nix
        defaults
        module
        {
          nixpkgs.pkgs = pkgs;
          networking.hostName = lib.mkDefault node;
          attest = {
            inherit backend splitStore hosts;
            vlans = lib.mkDefault defaultVlans.${node};
            interfaces = layout.${node}.interfaces;
          };
        }
      ];
    }
  ) nodes;

  toplevels = map (node: systems.${node}.config.system.build.toplevel) nodeNames;
  storeImage = if splitStore then images.storeImage { inherit name; rootPaths = toplevels; } else null;
  regInfo = images.regInfo toplevels;

  machines = lib.mapAttrs (
    node: system:
    let
      c = system.config;
      toplevel = c.system.build.toplevel;
    in
    alib.machines.microvm {
      inherit backend;
      # Both VMMs boot the uncompressed ELF kernel (PVH for cloud-hypervisor).
      kernel = "${c.boot.kernelPackages.kernel.dev}/vmlinux";
      initrd = "${c.system.build.initialRamdisk}/${c.system.boot.loader.initrdFile}";
      cmdline = alib.machines.microvmCmdline {
        inherit toplevel;
        kernelParams = c.boot.kernelParams ++ [ "attest.reginfo=${regInfo}/registration" ];
      };
      disks = alib.machines.microvmDisks {
        inherit splitStore storeImage;
        inherit (c.attest) rootSizeMiB;
        rootImage = if splitStore then null else images.rootImage { inherit name toplevel; };
      };
      memoryMiB = c.attest.memoryMiB;
      inherit (c.attest) vcpus;
      binary = lib.getExe' vmm backend;
    }
  ) systems;

  config = alib.config.mkConfig {
    inherit name machines globalTimeout;
    vlansOf = nodeVlans;
    network = "tap";
  };
in
(import ../run-test.nix {
  inherit pkgs attest name config driverArgs;
  spec = alib.script.genSpec { inherit name nodeNames testScript testPrelude; };
  runtimeInputs = [ vmm ];
  needsTun = alib.network.vlans layout != [ ];
  # microVMs need KVM: Firecracker and cloud-hypervisor have no emulation.
  requiredSystemFeatures = [
    "nixos-test"
    "kvm"
  ];
}).overrideAttrs
  (old: {
    passthru = old.passthru // {
      inherit systems storeImage;
      nodes = lib.mapAttrs (_: system: system.config) systems;
    };
  })
