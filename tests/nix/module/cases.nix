# attest's test-framework module (nix/testing/module.nix) evaluated the way nixpkgs evaluates a
# test (`pkgs.testers.runNixOSTest`), here against the stand-in nixpkgs of tests/nix/nixpkgs (CI
# has no nixpkgs). Each attribute is one case; `run` evaluates them, replaces store hashes with
# HASH and compares them with expected.json. errors.nix holds the cases that must fail.
let
  pkgs = import ../nixpkgs {
    overlays = [
      (final: _prev: {
        # An overlay's package, to see that nodes get the caller's pkgs (node.pkgs).
        attest-overlay-marker = final.writeText "from-the-callers-overlay" "";
      })
    ];
  };
  inherit (pkgs) lib;
  # Stands for the attest package (the real one needs a C++ build).
  attest = pkgs.stdenv.mkDerivation {
    pname = "attest";
    version = "0";
  };

  # The flake's outputs with the stand-in as its nixpkgs input (what a `nix flake check` on a
  # builder would see: names, systems, which examples are checks).
  flake =
    let
      nixpkgsInput = {
        outPath = ../nixpkgs;
        inherit lib;
      };
      self = (import ../../../flake.nix).outputs {
        inherit self;
        nixpkgs = nixpkgsInput;
      }
      // {
        outPath = ../../..;
      };
    in
    self;

  runTest =
    module:
    pkgs.testers.runNixOSTest {
      imports = [
        ../../../nix/testing/module.nix
        module
      ];
      attest.package = attest;
    };

  # A derivation's direct inputs (the store paths its attributes name).
  inputNames = drv: lib.attrNames (builtins.getContext (builtins.toJSON drv.drvAttrs));
  hasInput = drv: name: lib.any (i: lib.hasInfix name i) (inputNames drv);

  # What a case shows of a test: its driver configuration, the generator's input, names.
  summary = t: {
    inherit (t.config.attest) configuration spec;
    name = t.name;
    driverName = t.driver.name;
  };

  oneNode = runTest ../../../examples/nix/nginx.nix;
  twoNodes = runTest {
    name = "vlans";
    nodes = {
      client.virtualisation.vlans = [ 1 ];
      router.virtualisation.vlans = [
        1
        2
      ];
      server = {
        # Only a named interface: no vlan 1 besides it (nixpkgs' default).
        virtualisation.interfaces.uplink.vlan = 2;
      };
    };
    testScript = "start_all();";
  };
  scriptOfNodes = runTest {
    name = "script-of-nodes";
    nodes.webserver = { };
    testScript =
      { nodes, ... }:
      ''
        webserver.succeed("${nodes.webserver.system.build.toplevel}/bin/switch-to-configuration test");
      '';
  };
  nodePkgs = runTest {
    name = "node-pkgs";
    nodes.machine =
      { pkgs, ... }:
      {
        virtualisation.additionalPaths = [ pkgs.attest-overlay-marker ];
      };
    testScript = "";
  };
  withMeta = runTest {
    name = "meta";
    meta.timeout = 600;
    meta.maintainers = [ "someone" ];
    passthru.answer = 42;
    nodes.machine = { };
    testScript = "machine.succeed(\"true\");";
    skipLint = true;
    skipTypeCheck = true;
  };
  microvm = runTest {
    name = "microvm";
    attest.backend = "firecracker";
    attest.splitStore = true;
    nodes.server = {
      virtualisation.memorySize = 2048;
      virtualisation.cores = 2;
      virtualisation.vlans = [
        1
        2
      ];
      virtualisation.diskSize = 4096;
      virtualisation.emptyDiskImages = [ 512 ];
    };
    nodes.client = { };
    testScript = "start_all();";
  };
  microvmRootImage = runTest {
    name = "microvm-root-image";
    attest.backend = "cloud-hypervisor";
    nodes.machine.virtualisation.vlans = [ ];
    testScript = "machine.succeed(\"true\");";
  };
  portedNginx = runTest ../../../examples/nix/nixpkgs-nginx.nix;
  sshBackdoor = runTest {
    name = "ssh-backdoor";
    sshBackdoor.enable = true;
    nodes.machine = { };
    testScript = "";
  };
  seedForm = import ../../../nix/make-test.nix {
    inherit pkgs attest;
    name = "seed-form";
    nodes.machine = { };
    testScript = "machine.succeed(\"true\");";
    driverArgs = [ "--gtest_filter=*" ];
    meta.timeout = 120;
  };
  seedFormNoNetwork = import ../../../nix/firecracker/make-test.nix {
    inherit pkgs attest;
    name = "seed-form-no-network";
    enableNetwork = false;
    splitStore = true;
    nodes.machine = { };
    testScript = "machine.succeed(\"true\");";
  };
in
{
  # The derivation names of the flake's checks per system (the package's needs lib.fileset,
  # which the stand-in lib leaves out); the microVM checks have no vlan, so they need no
  # /dev/net/tun; those with a network are in legacyPackages.<system>.tapTests.
  flake = {
    checks = lib.mapAttrs (
      _: checks: lib.mapAttrs (_: c: c.name) (removeAttrs checks [ "attest" ])
    ) flake.checks;
    microvmCheckVlans = lib.mapAttrs (_: c: c.config.attest.configuration.vlans or [ ]) {
      inherit (flake.checks.x86_64-linux) bench-firecracker bench-cloud-hypervisor;
    };
    tapTests = lib.mapAttrs (_: p: lib.mapAttrs (_: t: t.name) p.tapTests) flake.legacyPackages;
    packages = lib.mapAttrs (_: lib.attrNames) flake.packages;
  };
  # nixpkgs' nginx test ported by hand: its spec (tests/nix/meson.build compiles the C++).
  ported-nginx = {
    inherit (portedNginx.config.attest) spec;
    specials = lib.attrNames portedNginx.nodes.webserver.specialisation;
  };
  one-node = summary oneNode // {
    # attest.splitStore on QEMU: attest's store image as a drive, under the store's overlay.
    drives = map (d: d.name) oneNode.nodes.server.virtualisation.qemu.drives;
    store = oneNode.nodes.server.fileSystems."/nix/store".fsType;
    roStore = oneNode.nodes.server.fileSystems."/nix/.ro-store".device;
    storeImage = lib.hasSuffix "-nginx-store.erofs" (
      lib.findFirst (d: d.name == "nix-store") null oneNode.nodes.server.virtualisation.qemu.drives
    ).file;
  };
  two-nodes-vlans = summary twoNodes;
  script-of-nodes = {
    inherit (scriptOfNodes.config.attest.spec) script;
    # The script names the node's system, so the program depends on it: as in NixOS.
    specDependsOnTheSystem = hasInput scriptOfNodes.specFile "nixos-system-webserver";
  };
  # nixpkgs' passthru.extend and overrideTestDerivation reach attest's options too.
  extend-and-override = {
    extended = (withMeta.extend { modules = [ { attest.perTestRestore = true; } ]; }).driver.extraDriverArgs;
    overridden =
      (withMeta.overrideTestDerivation (_: {
        requiredSystemFeatures = [ "nixos-test" ];
      })).config.rawTestDerivation.drvAttrs.requiredSystemFeatures;
  };
  meta-and-passthru = {
    inherit (withMeta) name;
    meta = {
      inherit (withMeta.meta) timeout maintainers;
    };
    inherit (withMeta) answer;
    # The run derivation calls attest's driver, not the Python one.
    runsAttestsDriver = hasInput withMeta.config.rawTestDerivation "attest-driver-meta";
    inherit (withMeta.config.rawTestDerivation.drvAttrs) requiredSystemFeatures;
  };
  # The program is compiled once per script: it depends on no node's build.
  program-independent-of-nodes = {
    # Store paths without /nix/store/ and the hash.
    inputs = map (builtins.substring 44 (-1)) (inputNames oneNode.testProgram);
    configDependsOnTheNode = hasInput oneNode.configFile "nixos-vm";
  };
  interactive = {
    # driverInteractive passes --interactive (the framework's interactive.extraDriverArgs).
    args = oneNode.driverInteractive.extraDriverArgs;
    differs = oneNode.driverInteractive.drvPath != oneNode.driver.drvPath;
    name = oneNode.driverInteractive.name;
  };
  node-pkgs-from-the-caller = map (p: p.name) nodePkgs.nodes.machine.virtualisation.additionalPaths;
  microvm-node = summary microvm // {
    backdoor = microvm.nodes.server.testing.backdoor;
    socket = microvm.nodes.server.systemd.sockets.attest-backdoor.socketConfig.ListenStream;
    fileSystems = lib.mapAttrs (_: fs: {
      inherit (fs) fsType device;
    }) microvm.nodes.server.fileSystems;
    # What test-instrumentation.nix gives every node, now microVM nodes too: a panic in stage 1
    # ends the boot, and no getty competes for the serial line the shell's stderr goes to.
    panicOnFail = lib.elem "boot.panic_on_fail" microvm.nodes.server.boot.kernelParams;
    serialGetty = microvm.nodes.server.systemd.services."serial-getty@ttyS0".enable;
    # The Nix database registration the kernel command line names is in the store image.
    registrationInTheImage =
      let
        cmdline = (lib.head microvm.config.attest.configuration.machines).cmdline;
        regInfo = lib.head (builtins.match ".*regInfo=([^ ]*)/registration.*" cmdline);
      in
      lib.hasInfix (builtins.unsafeDiscardStringContext regInfo) (
        builtins.toJSON microvm.storeImage.drvAttrs.closure.drvAttrs
      );
  };
  microvm-root-image = summary microvmRootImage;
  # nixpkgs (before 2026) gives each QEMU node a vsock device and the driver --dump-vsocks.
  ssh-backdoor-on-qemu = {
    inherit (sshBackdoor.driver) extraDriverArgs;
    vsock = lib.any (lib.hasInfix "vhost-vsock") sshBackdoor.nodes.machine.virtualisation.qemu.options;
  };
  seed-form = summary seedForm // {
    meta.timeout = seedForm.meta.timeout;
    inherit (seedForm.driver) extraDriverArgs;
  };
  seed-form-no-network = summary seedFormNoNetwork;
}
