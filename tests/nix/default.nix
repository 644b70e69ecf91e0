# The pure Nix logic of nix/lib against expected values: `nix-instantiate --eval --strict --json
# tests/nix` prints { passed; failures; } (CI fails on any failure; the flake's nix-lib check
# too). The network cases are in expected.json, which the C++ unit suite also checks the driver's
# own network plan against (tests/unit/nix_expected_test.cpp): one layout, two implementations.
let
  alib = import ../../nix/lib;
  inherit (alib) network machines config script;
  expected = builtins.fromJSON (builtins.readFile ./expected.json);

  # An example: a test module (an attribute set) of nixpkgs' test framework.
  example = import;
  nginx = example ../../examples/nix/nginx.nix;
  ping = example ../../examples/nix/ping.nix;

  # The error of an evaluation that must fail (builtins.tryEval only says that it failed).
  fails = value: !(builtins.tryEval (builtins.deepSeq value value)).success;

  layoutCase =
    name:
    let
      e = expected.${name};
      l = network.layout e.vlans;
    in
    {
      inherit name;
      # `vlans` is the input; the rest is what the layout must give.
      actual = {
        numbers = builtins.mapAttrs (_: n: n.number) l;
        interfaces = builtins.mapAttrs (_: n: n.interfaces) l;
        hosts = network.hosts l;
        all_vlans = network.vlans l;
      };
      expected = builtins.removeAttrs e [ "vlans" ];
    };

  # Placeholders where make-test has store paths.
  fcMachine =
    node:
    machines.microvm {
      backend = "firecracker";
      kernel = "/nix/store/kernel-dev/vmlinux";
      initrd = "/nix/store/initrd/initrd";
      cmdline = machines.microvmCmdline {
        toplevel = "/nix/store/${node}-system";
        kernelParams = [ "loglevel=4" ];
      };
      disks = machines.microvmDisks {
        splitStore = true;
        storeImage = "/nix/store/store.erofs";
      };
      binary = "/nix/store/firecracker/bin/firecracker";
    };
  exampleConfig =
    args:
    let
      nodeNames = builtins.attrNames args.nodes;
    in
    config.mkConfig {
      inherit (args) name;
      machines = builtins.listToAttrs (
        map (n: {
          name = n;
          value = fcMachine n;
        }) nodeNames
      );
      vlansOf = config.vlansOf { inherit nodeNames; };
      network = "tap";
    };

  cases = map layoutCase [
    "two-nodes"
    "router"
    "numbers-as-text"
  ]
  ++ [
    {
      name = "mac-and-addresses";
      actual = [
        (network.mac 17 200)
        (network.ipv4 17 200)
        (network.ipv6 17 200)
        (network.mac 1 2)
      ];
      expected = [
        "52:54:00:12:11:c8"
        "192.168.17.200"
        "2001:db8:17::200"
        "52:54:00:12:01:02"
      ];
    }
    {
      name = "node-numbers-are-alphabetical";
      actual = network.nodeNumbers [
        "zeta"
        "alpha"
        "mid"
      ];
      expected = {
        alpha = 1;
        mid = 2;
        zeta = 3;
      };
    }
    {
      # As in NixOS tests: every node is on vlan 1 unless the network is off.
      name = "network-on-by-default";
      actual = [
        (config.vlansOf { nodeNames = [ "server" ]; })
        (config.vlansOf {
          nodeNames = [ "server" ];
          enableNetwork = false;
        })
        (config.vlansOf {
          nodeNames = [
            "a"
            "b"
          ];
        })
        (config.vlansOf {
          nodeNames = [
            "a"
            "b"
          ];
          enableNetwork = false;
        })
        (config.vlansOf {
          nodeNames = [
            "a"
            "b"
          ];
          vlans = [ 2 ];
          nodeVlans.b = [
            2
            3
          ];
        })
      ];
      expected = [
        { server = [ 1 ]; }
        { server = [ ]; }
        {
          a = [ 1 ];
          b = [ 1 ];
        }
        {
          a = [ ];
          b = [ ];
        }
        {
          a = [ 2 ];
          b = [
            2
            3
          ];
        }
      ];
    }
    {
      name = "config-nginx-firecracker";
      actual = exampleConfig nginx;
      expected = expected.config-nginx-firecracker;
    }
    {
      name = "config-ping-firecracker";
      actual = exampleConfig ping;
      expected = expected.config-ping-firecracker;
    }
    {
      name = "config-qemu-start-scripts";
      actual = config.mkConfig {
        name = "qemu";
        machines = {
          server = machines.qemu { startCommand = "/nix/store/vm/bin/run-server-vm"; };
          client = machines.qemu {
            startCommand = "/nix/store/vm/bin/run-client-vm";
            accel = "tcg";
          };
        };
        vlansOf = {
          server = [ 1 ];
          client = [
            1
            2
          ];
        };
        network = "vde";
        globalTimeout = 600;
      };
      expected = expected.config-qemu-start-scripts;
    }
    {
      name = "microvm-without-split-store";
      actual = machines.microvmDisks {
        splitStore = false;
        rootImage = "/nix/store/root.img";
      };
      expected = [
        {
          path = "/nix/store/root.img";
          id = "rootfs";
        }
      ];
    }
    {
      name = "gen-spec-of-the-examples";
      actual = map (
        args:
        script.genSpec {
          inherit (args) name testScript;
          nodeNames = builtins.attrNames args.nodes;
        }
      ) [ ping ];
      expected = [
        {
          name = "network-test";
          nodes = [
            "alice"
            "bob"
          ];
          script = ping.testScript;
          script_name = "testScript";
          prelude = "";
        }
      ];
    }
    {
      # What can be checked of the flake without fetching nixpkgs.
      name = "flake-shape";
      actual =
        let
          flake = import ../../flake.nix;
        in
        {
          inherit (flake) inputs;
          outputArgs = builtins.functionArgs flake.outputs;
          describes = builtins.isString flake.description;
        };
      expected = {
        inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
        outputArgs = {
          self = false;
          nixpkgs = false;
        };
        describes = true;
      };
    }
    {
      name = "bad-input-fails";
      actual = map fails [
        (network.layout { a = [ 0 ]; })
        (network.layout { a = [ 255 ]; })
        (network.layout {
          a = [
            1
            1
          ];
        })
        (network.layout { a = [ "1" ]; })
        (network.nodeNumbers (builtins.genList toString 255))
        (config.mkConfig {
          name = "empty";
          machines = { };
          vlansOf = { };
        })
        (config.mkConfig {
          name = "bad-backend";
          machines.a.backend = "bochs";
          vlansOf.a = [ ];
        })
        (script.genSpec {
          name = "t";
          nodeNames = [ "a" ];
          testScript = 42;
        })
        (machines.microvm {
          backend = "qemu";
          kernel = "k";
          initrd = "i";
          cmdline = "";
          disks = [ ];
        })
        (machines.microvmDisks { splitStore = true; })
      ];
      expected = builtins.genList (_: true) 10;
    }
  ];

  failures = builtins.filter (c: c.actual != c.expected) cases;
in
{
  passed = builtins.length cases - builtins.length failures;
  failures = map (c: { inherit (c) name actual expected; }) failures;
}
