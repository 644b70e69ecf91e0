# A NixOS VM test on QEMU with the testScript in C++ (docs/nix.md):
#   import "${attest}/nix/make-test.nix" {
#     inherit pkgs; attest = attest.packages.x86_64-linux.default;
#     name = "my-test"; nodes = { ... }; testScript = ''...'';
#   }
# The nodes are evaluated by nixpkgs' own test framework (nixos/lib/testing: qemu-vm.nix,
# test-instrumentation.nix and the test network), so each node's run-<name>-vm script is exactly
# the one the Python driver would start; attest starts it instead, speaks the same backdoor
# protocol, and makes the VDE hubs the scripts' QEMU_VDE_SOCKET_<vlan> name.
{
  pkgs,
  attest,
  name,
  # { <node> = NixOS module; }
  nodes,
  # C++ statements: the body of the test; each node is an `attest::Machine&` of its name.
  testScript,
  # C++ declarations placed before the test (helper functions, #includes).
  testPrelude ? "",
  # The store from an erofs image (virtualisation.useNixStoreImage) under a writable overlay,
  # instead of the host's store shared over 9p/virtiofs; also what lets QEMU take snapshots.
  splitStore ? false,
  # The test network: on by itself for several nodes.
  enableNetwork ? null,
  # The vlans of every node when the network is on (a node's virtualisation.vlans overrides them).
  vlans ? [ 1 ],
  # Seconds the whole test may take.
  globalTimeout ? 3600,
  # Extra arguments of the test program.
  driverArgs ? [ ],
  # A NixOS module given to every node.
  defaults ? { },
  # "kvm", "tcg" or "kvm:tcg" for every machine (null: QEMU's kvm:tcg from the start script).
  accel ? null,
  # get_screen_text and wait_for_text need tesseract and ImageMagick on the host.
  enableOCR ? false,
}:
let
  inherit (pkgs) lib;
  alib = import ./lib;
  nodeNames = builtins.attrNames nodes;
  networkOn = alib.config.networkEnabled { inherit enableNetwork nodeNames; };

  test = (import (pkgs.path + "/nixos/lib") { }).evalTest {
    imports = [
      {
        inherit name nodes globalTimeout;
        hostPkgs = pkgs;
        # Never run: attest runs the C++ script.
        testScript = "";
        defaults = {
          imports = [ defaults ];
          # Above qemu-vm.nix's default ([ 1 ]), below a node's own setting.
          virtualisation.vlans = lib.mkOverride 900 (if networkOn then vlans else [ ]);
          virtualisation.useNixStoreImage = lib.mkIf splitStore true;
          virtualisation.writableStore = lib.mkIf splitStore true;
        };
      }
    ];
  };
  systems = test.config.nodes;

  machines = lib.mapAttrs (
    _: c:
    alib.machines.qemu {
      startCommand = "${c.system.build.vm}/bin/run-${c.system.name}-vm";
      inherit accel;
    }
  ) systems;

  # A node's vlans: virtualisation.vlans and those of virtualisation.interfaces, once each.
  vlansOf = lib.mapAttrs (
    _: c:
    alib.network.unique (
      c.virtualisation.vlans
      ++ map (i: i.vlan) (builtins.attrValues (c.virtualisation.interfaces or { }))
    )
  ) systems;

  config = alib.config.mkConfig {
    inherit name machines vlansOf globalTimeout;
    network = "vde";
  };
in
(import ./run-test.nix {
  inherit pkgs attest name config driverArgs accel;
  spec = alib.script.genSpec { inherit name nodeNames testScript testPrelude; };
  runtimeInputs = [
    pkgs.vde2
    pkgs.qemu-utils
  ]
  ++ lib.optionals enableOCR [
    pkgs.tesseract
    pkgs.imagemagick
  ];
  requiredSystemFeatures = [ "nixos-test" ] ++ lib.optional (accel != "tcg") "kvm";
}).overrideAttrs
  (old: {
    passthru = old.passthru // {
      nodes = systems;
    };
  })
