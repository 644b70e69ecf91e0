# The Nix path on the Debian test guests: an example's test module (examples/nix/) gives the
# generator's input (`-A spec`) and, through the same nix/lib functions as nix/testing/module.nix,
# the driver's configuration (`-A config`), with every node booting the Debian guest described by
# `guestConfig` (one of the guest builders' JSON files) instead of a NixOS system. CI compiles
# the generated test and runs it with that configuration (tests/nix/meson.build).
{
  # Absolute path of an example file.
  example,
  # Absolute path of a Debian guest's configuration (build/guests/*/*.json); only `config`
  # reads it.
  guestConfig ? null,
  # Seconds the whole test may take.
  globalTimeout ? 900,
  # For the microVM guest: "firecracker" or "cloud-hypervisor", and the VMM program (the doubles
  # of tests/doubles here).
  backend ? null,
  vmm ? null,
}:
let
  alib = import ../../nix/lib;
  args = import example;
  nodeNames = builtins.attrNames args.nodes;
  # As in NixOS tests: vlan 1, unless the node (an attribute set here) says otherwise.
  vlansOf = builtins.mapAttrs (
    _: node: if builtins.isAttrs node then node.virtualisation.vlans or [ 1 ] else [ 1 ]
  ) args.nodes;

  guest = builtins.fromJSON (builtins.readFile guestConfig);
  dir = dirOf guestConfig;
  absolute = p: if builtins.substring 0 1 p == "/" then p else "${dir}/${p}";
  base = builtins.head guest.machines;
  disks = map (d: if d ? path then d // { path = absolute d.path; } else d) (base.disks or [ ]);
  machine =
    builtins.removeAttrs base [ "name" ]
    // {
      kernel = absolute base.kernel;
      initrd = absolute base.initrd;
      inherit disks;
    }
    // (
      if backend == null then
        { }
      else
        alib.machines.microvm {
          inherit backend;
          inherit (base) cmdline vcpus;
          kernel = absolute base.kernel;
          initrd = absolute base.initrd;
          inherit disks;
          memoryMiB = base.memory_mib;
          binary = vmm;
        }
        # The Debian guest has no NixOS module: the driver configures its network.
        // {
          configure_network = true;
        }
    );
in
{
  spec = alib.script.genSpec {
    inherit (args) name testScript;
    inherit nodeNames;
    testPrelude = args.attest.testPrelude or "";
  };
  config = alib.config.mkConfig {
    inherit (args) name;
    inherit globalTimeout;
    machines = builtins.listToAttrs (
      map (name: {
        inherit name;
        value = machine;
      }) nodeNames
    );
    inherit vlansOf;
  };
}
