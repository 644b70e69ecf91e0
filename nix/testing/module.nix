# attest as a module of nixpkgs' NixOS test framework (docs/nix.md). nixpkgs evaluates the test
# as it always does (`name`, `nodes`, `defaults`, `node.*`, `meta`, `passthru`, `interactive`,
# `globalTimeout`, `enableOCR`, `qemu.package`, `extraDriverArgs`, `vlans`, ...); this module
# replaces only the driver: `testScript` is C++ (a string, or a function of `{ nodes, ... }`),
# compiled by `attest gen` and the C++ compiler into the test program, which the framework's
# `vm-test-run-<name>` derivation runs through `driver`'s `bin/nixos-test-driver`, as it runs the
# Python driver. Use it as
#   pkgs.testers.runNixOSTest { imports = [ attest.nixosModules.testDriver ]; name = ...; ... }
# (the flake's module sets `attest.package`; this file alone needs it set, or pkgs.attest).
#
# QEMU nodes are nixpkgs' own (qemu-vm.nix, test-instrumentation.nix): attest starts each node's
# `run-<name>-vm` script. Firecracker and cloud-hypervisor nodes are the same NixOS nodes with
# ./microvm-node.nix added through `extraBaseNodeModules` (`extraBaseModules` in nixpkgs before
# 2026), booted directly from their kernel and initrd with the machine their `virtualisation.*`
# options describe (./machines.nix).
{
  config,
  options,
  lib,
  hostPkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.attest;
  alib = import ../lib;
  machines = import ./machines.nix { inherit lib; };
  images = import ./images.nix;

  name = config.name;
  microvm = cfg.backend != "qemu";
  nodeNames = lib.attrNames config.nodes;

  # The closure every node's store image holds: each node's additionalPaths (its toplevel and
  # what the test framework adds) with its Nix database registration, and what the test script
  # refers to. One image for the whole test, read-only and shared by every node.
  storeImage = images.storeImage {
    pkgs = hostPkgs;
    inherit name;
    rootPaths =
      lib.concatMap (
        node:
        let
          c = config.nodes.${node};
        in
        c.virtualisation.additionalPaths ++ [ (machines.regInfo c) ]
      ) nodeNames
      ++ lib.optional (builtins.hasContext config.testScriptString) (
        hostPkgs.writeStringReferencesToFile config.testScriptString
      );
  };

  nodeModule =
    if microvm then
      import ./microvm-node.nix { inherit (cfg) splitStore; }
    else
      import ./qemu-node.nix {
        inherit (cfg) splitStore;
        inherit storeImage;
      };

  # The node module reaches nodes only: nixpkgs' framework also applies extraBaseModules to its
  # nspawn containers (extraBaseNodeModules, since 2026); before it, extraBaseModules is all there is.
  nodeModuleDefinition =
    if options ? extraBaseNodeModules then
      { extraBaseNodeModules = nodeModule; }
    else
      { extraBaseModules = nodeModule; };

  machineOf =
    node: c:
    if microvm then
      machines.microvm {
        inherit (cfg) backend splitStore;
        inherit node;
        pkgs = hostPkgs;
        nodeConfig = c;
        storeImage = if cfg.splitStore then storeImage else null;
        binary = lib.getExe' cfg.vmm cfg.backend;
      }
    else
      machines.qemu {
        inherit node;
        nodeConfig = c;
        accel =
          if cfg.accel != null then
            cfg.accel
          else if config.qemu.forceAccel or false then
            "kvm"
          else
            null;
      };

  nodeVlans = lib.mapAttrs (_: machines.vlansOf) config.nodes;

  configuration = alib.config.mkConfig {
    inherit name;
    machines = lib.mapAttrs machineOf config.nodes;
    vlansOf = nodeVlans;
    globalTimeout = config.globalTimeout;
    network = if microvm then "tap" else "vde";
  };
  configFile = hostPkgs.writeText "attest-${name}-config.json" (builtins.toJSON configuration);

  # What `attest gen` turns into the test's C++ file. Only the node names, the script and the
  # prelude: the program is compiled once per script, whatever the nodes build.
  spec = alib.script.genSpec {
    inherit name nodeNames;
    testScript = config.testScriptString;
    testPrelude = cfg.testPrelude;
  };
  specFile = hostPkgs.writeText "attest-${name}-spec.json" (builtins.toJSON spec);

  program = import ./program.nix {
    pkgs = hostPkgs;
    inherit lib name specFile;
    attest = cfg.package;
    inherit (cfg) buildInputs pkgConfigModules cxxFlags;
  };

  needsTun = microvm && alib.network.vlans (alib.network.layout nodeVlans) != [ ];

  driver = import ./driver.nix {
    pkgs = hostPkgs;
    inherit
      lib
      name
      program
      configFile
      needsTun
      nodeNames
      ;
    attest = cfg.package;
    extraDriverArgs =
      lib.optional (config ? logLevel) "--log-level=${config.logLevel}"
      ++ lib.optional cfg.perTestRestore "--per-test-restore"
      ++ config.extraDriverArgs;
    runtimeInputs =
      (
        if microvm then
          [ cfg.vmm ]
        else
          [
            hostPkgs.vde2
            config.qemu.package
          ]
      )
      ++ lib.optionals config.enableOCR [
        hostPkgs.tesseract
        hostPkgs.imagemagick
      ];
  };

  # What the framework offers that attest's driver cannot do, as evaluation errors that say why.
  unsupported =
    lib.optional (config.containers or { } != { })
      "`containers` (systemd-nspawn nodes) are not supported by attest's driver; use `nodes`"
    ++ lib.optional (config.enableDebugHook or false)
      "`enableDebugHook` is not supported by attest's driver; run `.driverInteractive` (attest shell) to debug a test"
    ++ lib.optional (microvm && !hostPkgs.stdenv.hostPlatform.isx86_64)
      "the ${cfg.backend} backend boots the nodes' x86-64 ELF kernel and runs on x86_64-linux only, not on ${hostPkgs.stdenv.hostPlatform.system}"
    ++ lib.optional (microvm && config.sshBackdoor.enable or false)
      "`sshBackdoor` needs a vsock device the test driver does not use; on ${cfg.backend} the backdoor is the vsock root shell itself: use `.driverInteractive` (attest shell)"
    # nixpkgs from 2026 on gives the nodes no vsock device of their own: its Python driver
    # starts vhost-device-vsock and hands each QEMU its socket, which attest's driver does not.
    ++ lib.optional (
      !microvm
      && config.sshBackdoor.enable or false
      && !lib.any (lib.hasPrefix "--dump-vsocks=") config.extraDriverArgs
    ) "`sshBackdoor` of this nixpkgs needs the Python driver's vhost-device-vsock, which attest's driver does not start: use `.driverInteractive` (attest shell) to reach the machines";
in
{
  options.attest = {
    package = mkOption {
      type = types.package;
      default =
        hostPkgs.attest
          or (throw "attest: test '${name}': set `attest.package` (the flake's nixosModules.testDriver does), or add attest's overlay to hostPkgs");
      defaultText = lib.literalExpression "hostPkgs.attest";
      description = "The attest package the test program is compiled against and run with.";
    };
    backend = mkOption {
      type = types.enum [
        "qemu"
        "firecracker"
        "cloud-hypervisor"
      ];
      default = "qemu";
      description = ''
        The VMM of every node. `qemu` runs each node's own `run-<name>-vm` script; `firecracker`
        and `cloud-hypervisor` boot the nodes' kernel and initrd directly, with a vsock root shell,
        mapping `virtualisation.memorySize`, `cores`, `vlans`, `interfaces`, `diskSize`,
        `emptyDiskImages` and `diskImage` onto the machine (an option they cannot map is an
        evaluation error).
      '';
    };
    splitStore = mkOption {
      type = types.bool;
      default = false;
      description = ''
        The nodes' store from one compressed erofs image of every node's closure, built once per
        test (a derivation, shared read-only by every node), under a writable tmpfs overlay,
        instead of the host's store over 9p (QEMU) or a root image holding the closure (microVMs).
        Also what lets QEMU take snapshots.
      '';
    };
    perTestRestore = mkOption {
      type = types.bool;
      default = false;
      description = "Boot once, and start every `ATTEST_TEST` of the program from the same snapshot.";
    };
    testPrelude = mkOption {
      type = types.lines;
      default = "";
      description = "C++ placed before the test: `#include`s, helper functions, `using` declarations.";
    };
    buildInputs = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.nlohmann_json pkgs.curl ]";
      description = "Libraries the test program is compiled with (the C++ analogue of `extraPythonPackages`).";
    };
    pkgConfigModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "libcurl" ];
      description = "pkg-config modules of `attest.buildInputs` whose flags the test program is compiled and linked with.";
    };
    cxxFlags = mkOption {
      type = types.listOf types.str;
      default = [ "-O1" ];
      description = "Extra compiler flags of the test program.";
    };
    accel = mkOption {
      type = types.nullOr (
        types.enum [
          "kvm"
          "tcg"
          "kvm:tcg"
        ]
      );
      default = null;
      description = ''
        QEMU's accelerator for every node (null: the start script's own, KVM falling back to
        TCG; `kvm` when `qemu.forceAccel` is set). `ATTEST_ACCEL` overrides it at run time.
      '';
    };
    vmm = mkOption {
      type = types.package;
      default = if cfg.backend == "cloud-hypervisor" then hostPkgs.cloud-hypervisor else hostPkgs.firecracker;
      defaultText = lib.literalExpression "hostPkgs.firecracker or hostPkgs.cloud-hypervisor, after attest.backend";
      description = "The Firecracker or cloud-hypervisor package (its program is named after the backend).";
    };
    configuration = mkOption {
      type = types.raw;
      readOnly = true;
      internal = true;
      description = "The driver's JSON configuration (docs/config.md), as an attribute set.";
    };
    spec = mkOption {
      type = types.raw;
      readOnly = true;
      internal = true;
      description = "The input of `attest gen`.";
    };
  };

  config = {
    attest = {
      inherit configuration spec;
    };

    # The framework's own driver definition is never evaluated.
    driver = lib.mkForce (
      if unsupported != [ ] then
        throw "attest: test '${name}': ${lib.concatStringsSep "; " unsupported}"
      else
        driver
    );

    passthru = {
      storeImage = if cfg.splitStore then storeImage else null;
      testProgram = program;
      inherit configFile specFile;
    };
  }
  // nodeModuleDefinition;
}
