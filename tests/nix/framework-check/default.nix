# Self-checks of the stand-in nixpkgs (tests/nix/nixpkgs), written for attest's CI (not nixpkgs
# code): tests of nixpkgs' NixOS test framework as the stand-in models it, evaluated with
# `nix-instantiate --store dummy:// --eval --strict --json`, each case { actual; expected; }.
# `run` beside this file evaluates every case on its own (so that one failing evaluation names
# its case) with the stand-in's lib, or with another nixpkgs lib (NIXPKGS_LIB=<dir>).
#
# Covers: a one-node and a multi-node test (node numbers by sorted name, vlans with and without
# virtualisation.interfaces, addresses, /etc/hosts, QEMU NIC flags and MACs, udev rules, the
# driver configuration), test-instrumentation's and qemu-vm's effects on a node, a testScript
# function of { nodes, ... }, meta and passthru on the test derivation, `interactive`, a driver
# replaced with mkForce, node.pkgs (an overlay's package in a node, read-only nixpkgs.*),
# defaults / extraBaseModules / extraBaseNodeModules, an undeclared test option and a failed
# node assertion as errors, the SSH backdoor, qemu.forceAccel, passthru.extend and
# overrideTestDerivation, the Nix store image layout, free-form NixOS options, the kernel and
# initrd, and eval-config.nix on its own.
# Leaves out: building anything (nothing here is ever built).
let
  pkgs = import ../nixpkgs { };
  inherit (pkgs) lib;
  inherit (pkgs.testers) runNixOSTest;

  # lib.hasInfix / hasPrefix / hasSuffix on strings that refer to store paths.
  plain = builtins.unsafeDiscardStringContext;
  hasInfix = infix: s: lib.hasInfix (plain infix) (plain s);
  hasPrefix = prefix: s: lib.hasPrefix (plain prefix) (plain s);
  hasSuffix = suffix: s: lib.hasSuffix (plain suffix) (plain s);

  # Whether an evaluation fails (builtins.tryEval only says that it failed).
  fails = value: !(builtins.tryEval (builtins.deepSeq value value)).success;

  addresses = i: {
    ipv4 = map (a: "${a.address}/${toString a.prefixLength}") i.ipv4.addresses;
    ipv6 = map (a: "${a.address}/${toString a.prefixLength}") i.ipv6.addresses;
  };
  nicOptions = lib.filter (o: hasPrefix "-device virtio-net-pci" o || hasPrefix "-netdev vde" o);

  one = runNixOSTest {
    name = "one";
    nodes.machine = {
      services.nginx.enable = true;
    };
    testScript = "start_all()";
  };
  machine = one.nodes.machine;

  many = runNixOSTest {
    name = "many";
    # Defined out of order: numbers follow the sorted names.
    nodes.b = {
      virtualisation.vlans = [
        1
        2
      ];
    };
    nodes.a = { };
    nodes.c = {
      virtualisation.interfaces.enp1s0 = {
        vlan = 3;
        assignIP = true;
      };
    };
    nodes.d = {
      virtualisation.vlans = [ 10 ];
      networking.domain = "example.org";
    };
    testScript = "";
  };

  scripted = runNixOSTest {
    name = "scripted";
    nodes.machine = { };
    testScript =
      { nodes, ... }:
      ''
        # ${nodes.machine.system.build.toplevel}
      '';
  };

  described = runNixOSTest {
    name = "described";
    nodes.machine = { };
    meta.maintainers = [ "someone" ];
    meta.timeout = 600;
    passthru.marker = "hello";
    testScript = "";
  };

  myDriver = pkgs.writeShellScriptBin "nixos-test-driver" "exit 0";
  replaced = runNixOSTest {
    imports = [ ({ lib, ... }: { driver = lib.mkForce myDriver; }) ];
    name = "one";
    nodes.machine = {
      services.nginx.enable = true;
    };
    testScript = "start_all()";
  };

  overlaid = import ../nixpkgs {
    overlays = [
      (final: prev: {
        attestMarker = prev.hello.overrideAttrs { pname = "attest-marker"; };
      })
    ];
  };
  withPkgs = overlaid.testers.runNixOSTest {
    name = "pkgs";
    nodes.machine =
      { pkgs, ... }:
      {
        environment.systemPackages = [ pkgs.attestMarker ];
        environment.etc.marker.text = pkgs.attestMarker.name;
      };
    testScript = "";
  };
  withNixpkgsConfig = overlaid.testers.runNixOSTest {
    name = "pkgs";
    nodes.machine = {
      nixpkgs.config.allowUnfree = true;
    };
    testScript = "";
  };

  ownPkgs = runNixOSTest {
    name = "own-pkgs";
    node.pkgsReadOnly = false;
    nodes.machine =
      { pkgs, ... }:
      {
        nixpkgs.overlays = [
          (final: prev: {
            nodeMarker = prev.hello.overrideAttrs { pname = "node-marker"; };
          })
        ];
        nixpkgs.config.allowUnfree = true;
        environment.etc.marker.text = "${pkgs.nodeMarker.name} ${lib.boolToString pkgs.config.allowUnfree}";
      };
    testScript = "";
  };

  # The stand-in's package set itself.
  drvA = pkgs.stdenv.mkDerivation (finalAttrs: {
    pname = "a";
    version = "1";
    outputs = [
      "out"
      "dev"
    ];
    nativeBuildInputs = [ pkgs.pkg-config ];
    buildInputs = [ pkgs.fmt ];
    propagatedBuildInputs = [ pkgs.boost ];
    passthru.self = finalAttrs.finalPackage.name;
    meta.mainProgram = "a-tool";
    buildCommand = "true";
  });
  called = pkgs.callPackage (
    {
      hello,
      flag ? false,
    }:
    hello.overrideAttrs { pname = if flag then "flagged" else "plain"; }
  ) { };
  unfree = import ../nixpkgs { config.allowUnfree = true; };

  based = runNixOSTest {
    name = "based";
    nodes.a = { };
    nodes.b = { };
    defaults =
      { nodes, ... }:
      {
        environment.etc.fromDefaults.text = "defaults";
        environment.etc.peers.text = builtins.concatStringsSep "," (builtins.attrNames nodes);
      };
    extraBaseModules = {
      environment.etc.fromBase.text = "base";
    };
    extraBaseNodeModules = {
      environment.etc.fromNodeBase.text = "node base";
    };
  };

  undeclared = runNixOSTest {
    name = "undeclared";
    nodes.machine = { };
    testScript = "";
    notAnOption = true;
  };

  asserting = runNixOSTest {
    name = "asserting";
    nodes.machine = {
      assertions = [
        {
          assertion = false;
          message = "attest framework-check";
        }
      ];
    };
    testScript = "";
  };

  backdoored = runNixOSTest {
    name = "backdoored";
    nodes.a = { };
    nodes.b = { };
    sshBackdoor.enable = true;
    qemu.forceAccel = true;
    testScript = "";
  };

  storeImage = runNixOSTest {
    name = "store-image";
    nodes.machine = {
      virtualisation.useNixStoreImage = true;
      virtualisation.writableStore = true;
      virtualisation.emptyDiskImages = [ 512 ];
    };
    testScript = "# ${pkgs.hello}";
  };

  freeform = runNixOSTest {
    name = "freeform";
    nodes.machine =
      { pkgs, ... }:
      {
        services.nginx.enable = true;
        services.nginx.virtualHosts.localhost.root = "/srv";
        systemd.services.x = {
          script = "echo hi";
          wantedBy = [ "multi-user.target" ];
          serviceConfig.Restart = "always";
        };
        environment.systemPackages = [ pkgs.curl ];
        networking.firewall.allowedTCPPorts = [ 80 ];
      };
    testScript = "";
  };

  evaluated = import (pkgs.path + "/nixos/lib/eval-config.nix") {
    system = null;
    modules = [
      {
        nixpkgs.pkgs = pkgs;
        boot.loader.grub.enable = false;
        fileSystems."/".device = "/dev/vda";
        system.stateVersion = "26.05";
      }
    ];
  };
  noLoader = import (pkgs.path + "/nixos/lib/eval-config.nix") {
    system = null;
    modules = [
      {
        nixpkgs.pkgs = pkgs;
        fileSystems."/".device = "/dev/vda";
        system.stateVersion = "26.05";
      }
    ];
  };

  cases = {
    one-node = {
      actual = {
        testName = one.name;
        features = one.config.rawTestDerivation.requiredSystemFeatures;
        number = machine.virtualisation.test.nodeNumber;
        hostName = machine.networking.hostName;
        systemName = machine.system.name;
        toplevel = machine.system.build.toplevel.name;
        vlans = machine.virtualisation.vlans;
        interfaces = builtins.mapAttrs (_: addresses) machine.networking.interfaces;
        primary = [
          machine.networking.primaryIPAddress
          machine.networking.primaryIPv6Address
        ];
        extraHosts = machine.networking.extraHosts;
        hostsFile = hasInfix "192.168.1.1 machine\n" machine.environment.etc.hosts.text;
        vmProgram = machine.system.build.vm.meta.mainProgram;
        startScript = hasSuffix "-nixos-vm/bin/run-machine-vm" one.config.driverConfiguration.vms.machine.start_script;
        driverVlans = one.config.driverConfiguration.vlans;
        globalTimeout = one.config.driverConfiguration.global_timeout;
        containers = one.config.containers;
        nginx = machine.services.nginx.enable;
        runsDriver = hasInfix "${one.driver}/bin/nixos-test-driver -o $out" one.config.rawTestDerivation.buildCommand;
        driverName = one.driver.name;
        driverConfigFile = one.config.driverConfigurationFile.name;
      };
      expected = {
        testName = "vm-test-run-one";
        features = [
          "nixos-test"
          "kvm"
        ];
        number = 1;
        hostName = "machine";
        systemName = "machine";
        toplevel = "nixos-system-machine-test";
        vlans = [ 1 ];
        interfaces.eth1 = {
          ipv4 = [ "192.168.1.1/24" ];
          ipv6 = [ "2001:db8:1::1/64" ];
        };
        primary = [
          "192.168.1.1"
          "2001:db8:1::1"
        ];
        extraHosts = "192.168.1.1 machine\n2001:db8:1::1 machine\n";
        hostsFile = true;
        vmProgram = "run-machine-vm";
        startScript = true;
        driverVlans = [ 1 ];
        globalTimeout = 3600;
        containers = { };
        nginx = true;
        runsDriver = true;
        driverName = "nixos-test-driver-one";
        driverConfigFile = "driverConfiguration.json";
      };
    };

    instrumentation = {
      actual = {
        kernelParams = lib.filter (
          p:
          builtins.elem p [
            "console=ttyS0"
            "console=tty0"
            "panic=1"
            "boot.panic_on_fail"
            "clocksource=acpi_pm"
            "loglevel=7"
            "root=fstab"
          ]
        ) machine.boot.kernelParams;
        backdoor = {
          inherit (machine.systemd.services.backdoor) requires after wantedBy;
          killSignal = machine.systemd.services.backdoor.serviceConfig.KillSignal;
          hvc0 = hasInfix "/dev/hvc0" machine.systemd.services.backdoor.script;
        };
        gettys = [
          machine.systemd.services."serial-getty@ttyS0".enable
          machine.systemd.services."serial-getty@hvc0".enable
        ];
        manager = machine.systemd.settings.Manager;
        initrdManager = machine.boot.initrd.systemd.settings.Manager.DefaultTimeoutStartSec;
        systemdStage1 = machine.boot.initrd.systemd.enable;
        qemu = machine.virtualisation.qemu.package.name;
        consoleLogLevel = machine.boot.consoleLogLevel;
        panicOnOom = machine.boot.kernel.sysctl."vm.panic_on_oom";
        gateway = machine.networking.defaultGateway;
        nameservers = machine.networking.nameservers;
        predictable = machine.networking.usePredictableInterfaceNames;
        manual = machine.documentation.nixos.enable;
        label = machine.system.nixos.label;
        xwininfo = builtins.elem pkgs.xorg.xwininfo.outPath (map (p: p.outPath) machine.environment.systemPackages);
        rootPassword = hasSuffix "-hashed-password.root" machine.users.users.root.hashedPasswordFile;
        switch = machine.system.switch.enable;
      };
      expected = {
        kernelParams = [
          "console=ttyS0"
          "console=tty0"
          "panic=1"
          "boot.panic_on_fail"
          "clocksource=acpi_pm"
          "root=fstab"
          "loglevel=7"
        ];
        backdoor = {
          requires = [
            "dev-hvc0.device"
            "dev-ttyS0.device"
          ];
          after = [
            "dev-hvc0.device"
            "dev-ttyS0.device"
          ];
          wantedBy = [ "multi-user.target" ];
          killSignal = "SIGHUP";
          hvc0 = true;
        };
        gettys = [
          false
          false
        ];
        manager = {
          ShowStatus = false;
          DefaultTimeoutStartSec = 300;
          DefaultDeviceTimeoutSec = 300;
        };
        initrdManager = 300;
        systemdStage1 = true;
        qemu = "qemu-host-cpu-only-for-vm-tests-10.1.0";
        consoleLogLevel = 7;
        panicOnOom = 2;
        gateway = null;
        nameservers = [ ];
        predictable = false;
        manual = false;
        label = "test";
        xwininfo = true;
        rootPassword = true;
        switch = false;
      };
    };

    qemu-vm = {
      actual = {
        fileSystems = builtins.mapAttrs (_: fs: {
          inherit (fs) device fsType neededForBoot;
          options = lib.unique fs.options;
        }) machine.fileSystems;
        shares = builtins.mapAttrs (_: s: s.target) machine.virtualisation.sharedDirectories;
        drives = map (d: d.name) machine.virtualisation.qemu.drives;
        memory = machine.virtualisation.memorySize;
        cores = machine.virtualisation.cores;
        diskSize = machine.virtualisation.diskSize;
        diskImage = machine.virtualisation.diskImage;
        directBoot = hasPrefix "-append \"$(cat ${machine.system.build.toplevel}/kernel-params) init=${machine.system.build.toplevel}/init regInfo=" (
          lib.findFirst (hasPrefix "-append") "" machine.virtualisation.qemu.options
        );
        initrd = machine.virtualisation.directBoot.initrd == "${machine.system.build.initialRamdisk}/initrd";
        consoles = machine.virtualisation.qemu.consoles;
        networking = machine.virtualisation.qemu.networkingOptions;
        sharedMemory = builtins.elem "-machine memory-backend=mem" machine.virtualisation.qemu.options;
        additionalPaths = map (p: p.name) machine.virtualisation.additionalPaths;
        grubDevice = machine.boot.loader.grub.device;
        swap = machine.swapDevices;
      };
      expected = {
        fileSystems = {
          "/" = {
            device = "/dev/disk/by-label/nixos";
            fsType = "ext4";
            neededForBoot = false;
            options = [ "defaults" ];
          };
          "/nix/.ro-store" = {
            device = "nix-store";
            fsType = "9p";
            neededForBoot = true;
            options = [
              "trans=virtio"
              "version=9p2000.L"
              "msize=16384"
              "x-systemd.requires=modprobe@9pnet_virtio.service"
              "cache=loose"
            ];
          };
          "/nix/.rw-store" = {
            device = "tmpfs";
            fsType = "tmpfs";
            neededForBoot = true;
            options = [ "mode=0755" ];
          };
          "/nix/store" = {
            device = "overlay";
            fsType = "overlay";
            neededForBoot = false;
            options = [
              "lowerdir=/sysroot/nix/.ro-store"
              "upperdir=/sysroot/nix/.rw-store/upper"
              "workdir=/sysroot/nix/.rw-store/work"
            ];
          };
          "/tmp/shared" = {
            device = "shared";
            fsType = "9p";
            neededForBoot = true;
            options = [
              "trans=virtio"
              "version=9p2000.L"
              "msize=16384"
              "x-systemd.requires=modprobe@9pnet_virtio.service"
            ];
          };
          "/tmp/xchg" = {
            device = "xchg";
            fsType = "9p";
            neededForBoot = true;
            options = [
              "trans=virtio"
              "version=9p2000.L"
              "msize=16384"
              "x-systemd.requires=modprobe@9pnet_virtio.service"
            ];
          };
        };
        shares = {
          nix-store = "/nix/.ro-store";
          shared = "/tmp/shared";
          xchg = "/tmp/xchg";
        };
        drives = [ "root" ];
        memory = 1024;
        cores = 1;
        diskSize = 1024;
        diskImage = "./machine.qcow2";
        directBoot = true;
        initrd = true;
        consoles = [
          "ttyS0,115200n8"
          "tty0"
        ];
        networking = [
          "-net nic,netdev=user.0,model=virtio"
          "-netdev user,id=user.0,\"$QEMU_NET_OPTS\""
        ];
        sharedMemory = true;
        additionalPaths = [ "nixos-system-machine-test" ];
        grubDevice = "/dev/disk/by-id/virtio-root";
        swap = [ ];
      };
    };

    many-nodes = {
      actual = {
        numbers = builtins.mapAttrs (_: n: n.virtualisation.test.nodeNumber) many.nodes;
        hostNames = builtins.mapAttrs (_: n: n.networking.hostName) many.nodes;
        vlans = builtins.mapAttrs (_: n: n.virtualisation.vlans) many.nodes;
        allInterfaces = builtins.mapAttrs (_: n: builtins.attrNames n.virtualisation.allInterfaces) many.nodes;
        interfaces = builtins.mapAttrs (_: n: builtins.mapAttrs (_: addresses) n.networking.interfaces) many.nodes;
        nics = builtins.mapAttrs (_: n: nicOptions n.virtualisation.qemu.options) many.nodes;
        udev = many.nodes.d.boot.initrd.services.udev.rules;
        extraHosts = many.nodes.a.networking.extraHosts;
        sameHosts = lib.all (n: n.networking.extraHosts == many.nodes.a.networking.extraHosts) (
          builtins.attrValues many.nodes
        );
        driverVlans = many.config.driverConfiguration.vlans;
        vms = builtins.attrNames many.config.driverConfiguration.vms;
      };
      expected = {
        numbers = {
          a = 1;
          b = 2;
          c = 3;
          d = 4;
        };
        hostNames = {
          a = "a";
          b = "b";
          c = "c";
          d = "d";
        };
        vlans = {
          a = [ 1 ];
          b = [
            1
            2
          ];
          c = [ ];
          d = [ 10 ];
        };
        allInterfaces = {
          a = [ "eth1" ];
          b = [
            "eth1"
            "eth2"
          ];
          c = [ "enp1s0" ];
          d = [ "eth1" ];
        };
        interfaces = {
          a.eth1 = {
            ipv4 = [ "192.168.1.1/24" ];
            ipv6 = [ "2001:db8:1::1/64" ];
          };
          b.eth1 = {
            ipv4 = [ "192.168.1.2/24" ];
            ipv6 = [ "2001:db8:1::2/64" ];
          };
          b.eth2 = {
            ipv4 = [ "192.168.2.2/24" ];
            ipv6 = [ "2001:db8:2::2/64" ];
          };
          c.enp1s0 = {
            ipv4 = [ "192.168.3.3/24" ];
            ipv6 = [ "2001:db8:3::3/64" ];
          };
          d.eth1 = {
            ipv4 = [ "192.168.10.4/24" ];
            ipv6 = [ "2001:db8:10::4/64" ];
          };
        };
        nics = {
          a = [
            "-device virtio-net-pci,netdev=vlan1,mac=52:54:00:12:01:01"
            "-netdev vde,id=vlan1,sock=\"$QEMU_VDE_SOCKET_1\""
          ];
          b = [
            "-device virtio-net-pci,netdev=vlan1,mac=52:54:00:12:01:02"
            "-netdev vde,id=vlan1,sock=\"$QEMU_VDE_SOCKET_1\""
            "-device virtio-net-pci,netdev=vlan2,mac=52:54:00:12:02:02"
            "-netdev vde,id=vlan2,sock=\"$QEMU_VDE_SOCKET_2\""
          ];
          c = [
            "-device virtio-net-pci,netdev=vlan1,mac=52:54:00:12:03:03"
            "-netdev vde,id=vlan1,sock=\"$QEMU_VDE_SOCKET_3\""
          ];
          d = [
            "-device virtio-net-pci,netdev=vlan1,mac=52:54:00:12:0A:04"
            "-netdev vde,id=vlan1,sock=\"$QEMU_VDE_SOCKET_10\""
          ];
        };
        udev = "SUBSYSTEM==\"net\",ACTION==\"add\",ATTR{address}==\"52:54:00:12:0a:04\",NAME=\"eth1\"\n";
        extraHosts = builtins.concatStringsSep "" [
          "192.168.1.1 a\n"
          "2001:db8:1::1 a\n"
          "192.168.1.2 b\n"
          "2001:db8:1::2 b\n"
          "192.168.3.3 c\n"
          "2001:db8:3::3 c\n"
          "192.168.10.4 d.example.org d\n"
          "2001:db8:10::4 d.example.org d\n"
        ];
        sameHosts = true;
        driverVlans = [
          1
          2
          3
          10
        ];
        vms = [
          "a"
          "b"
          "c"
          "d"
        ];
      };
    };

    testscript-function = {
      actual = {
        script = scripted.config.testScriptString == "# ${scripted.nodes.machine.system.build.toplevel}\n";
        context = builtins.hasContext scripted.config.testScriptString;
        inDriver = scripted.driver.testScript == scripted.config.testScriptString;
      };
      expected = {
        script = true;
        context = true;
        inDriver = true;
      };
    };

    meta-passthru = {
      actual = {
        inherit (described) name;
        meta = builtins.removeAttrs described.meta [
          "platforms"
          "hydraPlatforms"
        ];
        linux = builtins.elem "x86_64-linux" described.meta.platforms;
        marker = described.marker;
        rawMeta = described.config.rawTestDerivation.meta.timeout;
        rawMarker = described.config.rawTestDerivation.marker;
        driverMeta = {
          inherit (described.driver.meta) mainProgram timeout;
        };
        driverMarker = described.driver.marker;
        nodes = builtins.attrNames described.nodes;
        hasConfig = described.config.name;
        hasTest = described.test.name;
      };
      expected = {
        name = "vm-test-run-described";
        meta = {
          maintainers = [ "someone" ];
          timeout = 600;
          broken = false;
        };
        linux = true;
        marker = "hello";
        rawMeta = 600;
        rawMarker = "hello";
        driverMeta = {
          mainProgram = "nixos-test-driver";
          timeout = 600;
        };
        driverMarker = "hello";
        nodes = [ "machine" ];
        hasConfig = "described";
        hasTest = "vm-test-run-described";
      };
    };

    interactive = {
      actual = {
        args = one.config.interactive.extraDriverArgs;
        qemu = one.config.interactive.qemu.package.name;
        regularQemu = one.config.qemu.package.name;
        nodeQemu = one.config.interactive.nodes.machine.virtualisation.qemu.package.name;
        flag = hasInfix "--interactive" one.driverInteractive.buildCommand;
        regularFlag = hasInfix "--interactive" one.driver.buildCommand;
        differs = one.driverInteractive.drvPath != one.driver.drvPath;
      };
      expected = {
        args = [ "--interactive" ];
        qemu = "qemu-10.1.0";
        regularQemu = "qemu-host-cpu-only-for-vm-tests-10.1.0";
        nodeQemu = "qemu-10.1.0";
        flag = true;
        regularFlag = false;
        differs = true;
      };
    };

    driver-override = {
      actual = {
        runs = hasInfix "${myDriver}/bin/nixos-test-driver -o $out" replaced.config.rawTestDerivation.buildCommand;
        input = builtins.hasAttr (plain myDriver.drvPath) (builtins.getContext replaced.config.rawTestDerivation.buildCommand);
        passthru = replaced.driver.outPath == myDriver.outPath;
        differs = replaced.drvPath != one.drvPath;
        sameNodes = replaced.nodes.machine.system.build.toplevel.outPath == machine.system.build.toplevel.outPath;
      };
      expected = {
        runs = true;
        input = true;
        passthru = true;
        differs = true;
        sameNodes = true;
      };
    };

    node-pkgs = {
      actual = {
        marker = withPkgs.nodes.machine.environment.etc.marker.text;
        installed = builtins.elem overlaid.attestMarker.outPath (
          map (p: p.outPath) withPkgs.nodes.machine.environment.systemPackages
        );
        samePkgs = withPkgs.nodes.machine.nixpkgs.pkgs.hello.outPath == overlaid.hello.outPath;
        hostPkgs = withPkgs.config.hostPkgs.attestMarker.outPath == overlaid.attestMarker.outPath;
        readOnly = withPkgs.config.node.pkgsReadOnly;
        configIsReadOnly = fails withNixpkgsConfig.nodes.machine.system.build.toplevel.drvPath;
        ownPkgs = ownPkgs.nodes.machine.environment.etc.marker.text;
      };
      expected = {
        marker = "attest-marker-2.12.2";
        installed = true;
        samePkgs = true;
        hostPkgs = true;
        readOnly = true;
        configIsReadOnly = true;
        ownPkgs = "node-marker-2.12.2 true";
      };
    };

    pkgs = {
      actual = {
        name = drvA.name;
        self = drvA.self;
        dev = drvA.dev.outputName;
        devMeta = drvA.dev.meta.mainProgram;
        exe = hasSuffix "-a-1/bin/a-tool" (lib.getExe drvA);
        # Derivation attributes, so inputs of the derivation.
        inputs =
          map (p: p.outPath) (drvA.nativeBuildInputs ++ drvA.buildInputs ++ drvA.propagatedBuildInputs)
          == map (p: p.outPath) [
            pkgs.pkg-config
            pkgs.fmt
            pkgs.boost
          ];
        overridden = (drvA.overrideAttrs (old: { version = old.version + ".1"; })).name;
        called = called.name;
        override = (called.override { flag = true; }).name;
        unfree = [
          pkgs.config.allowUnfree
          unfree.config.allowUnfree
        ];
        gtestDev = pkgs.gtest.dev.outputName;
        runtimeShell = hasSuffix "-bash-5.3p3/bin/bash" pkgs.runtimeShell;
        attach = pkgs.breakpointHook.attach.name;
        script = lib.getExe (pkgs.writeShellScriptBin "tool" "exit 0");
        platform = {
          inherit (pkgs.stdenv.hostPlatform)
            system
            isLinux
            isx86_64
            qemuArch
            is32bit
            ;
        };
      };
      expected = {
        name = "a-1";
        self = "a-1";
        dev = "dev";
        devMeta = "a-tool";
        exe = true;
        inputs = true;
        overridden = "a-1.1";
        called = "plain-2.12.2";
        override = "flagged-2.12.2";
        unfree = [
          false
          true
        ];
        gtestDev = "dev";
        runtimeShell = true;
        attach = "attach";
        script = "${pkgs.writeShellScriptBin "tool" "exit 0"}/bin/tool";
        platform = {
          system = "x86_64-linux";
          isLinux = true;
          isx86_64 = true;
          qemuArch = "x86_64";
          is32bit = false;
        };
      };
    };

    defaults-and-base-modules = {
      actual = builtins.mapAttrs (_: n: {
        defaults = n.environment.etc.fromDefaults.text;
        peers = n.environment.etc.peers.text;
        base = n.environment.etc.fromBase.text;
        nodeBase = n.environment.etc.fromNodeBase.text;
      }) based.nodes;
      expected =
        let
          each = {
            defaults = "defaults";
            peers = "a,b";
            base = "base";
            nodeBase = "node base";
          };
        in
        {
          a = each;
          b = each;
        };
    };

    errors = {
      actual = {
        undeclaredTestOption = fails undeclared.drvPath;
        declaredOnly = fails one.drvPath;
        failedAssertion = fails asserting.nodes.machine.system.build.toplevel.drvPath;
        failedAssertionTest = fails asserting.drvPath;
        noBootLoader = fails noLoader.config.system.build.toplevel.drvPath;
      };
      expected = {
        undeclaredTestOption = true;
        declaredOnly = false;
        failedAssertion = true;
        failedAssertionTest = true;
        noBootLoader = true;
      };
    };

    ssh-backdoor-and-accel = {
      actual = {
        args = backdoored.config.extraDriverArgs;
        vsock = builtins.mapAttrs (
          _: n: lib.filter (hasPrefix "-device vhost-vsock-pci") n.virtualisation.qemu.options
        ) backdoored.nodes;
        sshd = backdoored.nodes.a.services.openssh.enable;
        inConfig = backdoored.config.driverConfiguration.enable_ssh_backdoor;
        forceAccel = backdoored.nodes.a.virtualisation.qemu.forceAccel;
        defaultAccel = machine.virtualisation.qemu.forceAccel;
      };
      expected = {
        args = [ "--dump-vsocks=2" ];
        vsock = {
          a = [ "-device vhost-vsock-pci,guest-cid=3" ];
          b = [ "-device vhost-vsock-pci,guest-cid=4" ];
        };
        sshd = true;
        inConfig = true;
        forceAccel = true;
        defaultAccel = false;
      };
    };

    extend = {
      actual = {
        extended =
          (one.extend { modules = [ { nodes.machine.environment.etc.extended.text = "x"; } ]; })
          .nodes.machine.environment.etc.extended.text;
        overridden = (one.overrideTestDerivation (old: { name = old.name + "-overridden"; })).name;
      };
      expected = {
        extended = "x";
        overridden = "vm-test-run-one-overridden";
      };
    };

    store-image =
      let
        m = storeImage.nodes.machine;
      in
      {
        actual = {
          fileSystems =
            builtins.mapAttrs
              (_: fs: {
                inherit (fs) device fsType;
                options = lib.unique fs.options;
              })
              (
                lib.filterAttrs (mountPoint: _: hasPrefix "/nix" mountPoint) m.fileSystems
              );
          drives = map (d: d.name) m.virtualisation.qemu.drives;
          mountHostStore = m.virtualisation.mountHostNixStore;
          scriptReferences = map (p: p.name) m.virtualisation.additionalPaths;
        };
        expected = {
          fileSystems = {
            "/nix/.ro-store" = {
              device = "/dev/disk/by-label/nix-store";
              fsType = "erofs";
              options = [ "ro" ];
            };
            "/nix/.rw-store" = {
              device = "tmpfs";
              fsType = "tmpfs";
              options = [ "mode=0755" ];
            };
            "/nix/store" = {
              device = "overlay";
              fsType = "overlay";
              options = [
                "lowerdir=/sysroot/nix/.ro-store"
                "upperdir=/sysroot/nix/.rw-store/upper"
                "workdir=/sysroot/nix/.rw-store/work"
              ];
            };
          };
          drives = [
            "root"
            "nix-store"
            null
          ];
          mountHostStore = false;
          scriptReferences = [
            "string-references"
            "nixos-system-machine-test"
          ];
        };
      };

    freeform-and-units =
      let
        m = freeform.nodes.machine;
      in
      {
        actual = {
          nginx = m.services.nginx;
          restart = m.systemd.services.x.serviceConfig.Restart;
          execStart = hasInfix "-unit-script-x-start " m.systemd.services.x.serviceConfig.ExecStart;
          curl = builtins.elem pkgs.curl.outPath (map (p: p.outPath) m.environment.systemPackages);
          ports = m.networking.firewall.allowedTCPPorts;
          toplevel = m.system.build.toplevel.name;
        };
        expected = {
          nginx = {
            enable = true;
            virtualHosts.localhost.root = "/srv";
          };
          restart = "always";
          execStart = true;
          curl = true;
          ports = [ 80 ];
          toplevel = "nixos-system-machine-test";
        };
      };

    kernel-and-initrd = {
      actual = {
        devType = machine.boot.kernelPackages.kernel.dev.type;
        devOutput = machine.boot.kernelPackages.kernel.dev.outputName;
        kernel = machine.boot.kernelPackages.kernel.name;
        initrd = machine.system.build.initialRamdisk.name;
        initrdFile = machine.system.boot.loader.initrdFile;
        kernelFile = machine.system.boot.loader.kernelFile;
        toplevelKernel = machine.system.build.toplevel.kernel == "${machine.boot.kernelPackages.kernel}/bzImage";
      };
      expected = {
        devType = "derivation";
        devOutput = "dev";
        kernel = "linux-6.12.44";
        initrd = "initrd-linux-6.12.44";
        initrdFile = "initrd";
        kernelFile = "bzImage";
        toplevelKernel = true;
      };
    };

    eval-config = {
      actual = {
        toplevel = hasPrefix "nixos-system-nixos-" evaluated.config.system.build.toplevel.name;
        pkgs = evaluated.pkgs.hello.outPath == pkgs.hello.outPath;
        extended = (evaluated.extendModules { modules = [ { networking.hostName = "other"; } ]; }).config.system.name;
        hasType = evaluated.type.name;
        noQemu = evaluated.options ? virtualisation.qemu;
        stage1 = evaluated.config.boot.initrd.systemd.enable;
      };
      expected = {
        toplevel = true;
        pkgs = true;
        extended = "other";
        hasType = "submodule";
        noQemu = false;
        stage1 = true;
      };
    };
  };
in
{
  inherit cases;
  names = builtins.attrNames cases;
  # The tests themselves, to look into a failing case (`-A tests.many.nodes.b...`).
  tests = {
    inherit
      one
      many
      scripted
      described
      replaced
      withPkgs
      withNixpkgsConfig
      ownPkgs
      based
      undeclared
      asserting
      backdoored
      storeImage
      freeform
      evaluated
      noLoader
      ;
  };
}
