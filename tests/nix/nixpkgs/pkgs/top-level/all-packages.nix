# Stand-in written for attest's CI (not nixpkgs code): the packages of the stand-in nixpkgs, the
# first layer of its fixpoint (`final` is the package set after every overlay).
#
# Models: real derivations (never built) with the pname, version, outputs and meta.mainProgram of
# nixpkgs' packages for what attest's Nix code and the test framework reference: qemu and its
# variants (qemu_test, qemu_kvm, qemu-utils; `.override`, the `ga` output, `.stdenv`), vde2,
# erofs-utils, e2fsprogs, util-linux, coreutils, bash/bashInteractive/bashNonInteractive,
# runtimeShell, iproute2, iputils, curl, tesseract, imagemagick, pkg-config, gtest (`dev`), boost,
# fmt, nlohmann_json, libnl, libedit, meson, ninja, firecracker, cloud-hypervisor, nix, python3
# (with python3Packages.pyflakes), mypy, openssh, inetutils, systemd (with lib paths used by the
# debug hook), linuxPackages (a kernel with a `dev` output, `extend`), the python
# nixos-test-driver (a placeholder taking the arguments driver.nix passes), xorg.xwininfo,
# netcat, breakpointHook (with `.attach`), OVMF (`.fd` with firmware/variables), swtpm, jq,
# gnutar, kmod, less, linux-pam, hello, and callPackage/newScope.
# Leaves out: every other package of nixpkgs; versions are plausible, not tracked.
{
  final,
  stdenv,
  stdenvNoCC,
}:
let
  # A package of the stand-in: a derivation with nixpkgs' name, outputs and mainProgram.
  stub =
    {
      pname,
      version,
      outputs ? [ "out" ],
      mainProgram ? null,
      passthru ? { },
      extra ? { },
    }:
    stdenv.mkDerivation (
      {
        inherit
          pname
          version
          outputs
          passthru
          ;
        meta = if mainProgram == null then { } else { inherit mainProgram; };
        buildCommand = "stand-in of ${pname} ${version}";
      }
      // extra
    );

  inherit (final) callPackage;
in
{
  stub = stub;

  qemu = callPackage (
    {
      hostCpuOnly ? false,
      nixosTestRunner ? false,
      vde2,
    }:
    stub {
      pname =
        "qemu"
        + (if hostCpuOnly then "-host-cpu-only" else "")
        + (if nixosTestRunner then "-for-vm-tests" else "");
      version = "10.1.0";
      outputs = [
        "out"
        "doc"
        "ga"
      ];
      mainProgram = "qemu-kvm";
      extra.buildInputs = [ vde2 ];
    }
  ) { };
  qemu_kvm = final.qemu.override { hostCpuOnly = true; };
  qemu_test = final.qemu.override {
    hostCpuOnly = true;
    nixosTestRunner = true;
  };
  qemu-utils = stub {
    pname = "qemu-utils";
    version = "10.1.0";
    mainProgram = "qemu-img";
  };
  vde2 = stub {
    pname = "vde2";
    version = "2.3.3";
  };
  erofs-utils = stub {
    pname = "erofs-utils";
    version = "1.8.10";
    mainProgram = "mkfs.erofs";
  };
  e2fsprogs = stub {
    pname = "e2fsprogs";
    version = "1.47.3";
    outputs = [
      "bin"
      "dev"
      "out"
      "man"
      "info"
    ];
  };
  util-linux = stub {
    pname = "util-linux";
    version = "2.41.1";
    outputs = [
      "bin"
      "dev"
      "out"
      "lib"
      "man"
    ];
  };
  coreutils = stub {
    pname = "coreutils";
    version = "9.7";
    outputs = [
      "out"
      "info"
    ];
  };
  bash = stub {
    pname = "bash";
    version = "5.3p3";
    outputs = [
      "out"
      "man"
      "doc"
      "info"
    ];
    mainProgram = "bash";
    passthru.shellPath = "/bin/bash";
  };
  bashNonInteractive = final.bash;
  bashInteractive = stub {
    pname = "bash-interactive";
    version = "5.3p3";
    outputs = [
      "out"
      "man"
      "doc"
      "info"
    ];
    mainProgram = "bash";
    passthru.shellPath = "/bin/bash";
  };
  runtimeShellPackage = final.bash;
  runtimeShell = "${final.runtimeShellPackage}${final.runtimeShellPackage.shellPath}";
  iproute2 = stub {
    pname = "iproute2";
    version = "6.16.0";
    mainProgram = "ip";
  };
  iputils = stub {
    pname = "iputils";
    version = "20250605";
    mainProgram = "ping";
  };
  curl = stub {
    pname = "curl";
    version = "8.15.0";
    outputs = [
      "bin"
      "dev"
      "out"
      "man"
      "devdoc"
    ];
    mainProgram = "curl";
  };
  tesseract = stub {
    pname = "tesseract";
    version = "5.5.1";
    mainProgram = "tesseract";
  };
  imagemagick = stub {
    pname = "imagemagick";
    version = "7.1.2-3";
    outputs = [
      "out"
      "dev"
      "doc"
    ];
    mainProgram = "magick";
  };
  pkg-config = stub {
    pname = "pkg-config-wrapper";
    version = "0.29.2";
    mainProgram = "pkg-config";
  };
  gtest = stub {
    pname = "gtest";
    version = "1.17.0";
    outputs = [
      "out"
      "dev"
    ];
  };
  boost = stub {
    pname = "boost";
    version = "1.87.0";
    outputs = [
      "out"
      "dev"
    ];
  };
  fmt = stub {
    pname = "fmt";
    version = "11.2.0";
    outputs = [
      "out"
      "dev"
    ];
  };
  nlohmann_json = stub {
    pname = "nlohmann_json";
    version = "3.12.0";
  };
  libnl = stub {
    pname = "libnl";
    version = "3.11.0";
    outputs = [
      "bin"
      "dev"
      "out"
      "man"
    ];
  };
  libedit = stub {
    pname = "libedit";
    version = "20250104-3.1";
    outputs = [
      "out"
      "dev"
    ];
  };
  meson = stub {
    pname = "meson";
    version = "1.9.0";
    mainProgram = "meson";
  };
  ninja = stub {
    pname = "ninja";
    version = "1.13.1";
    mainProgram = "ninja";
  };
  firecracker = stub {
    pname = "firecracker";
    version = "1.13.1";
    mainProgram = "firecracker";
  };
  cloud-hypervisor = stub {
    pname = "cloud-hypervisor";
    version = "48.0";
    mainProgram = "cloud-hypervisor";
  };
  nix = stub {
    pname = "nix";
    version = "2.31.2";
    outputs = [
      "out"
      "dev"
      "man"
      "doc"
    ];
    mainProgram = "nix";
  };
  python3Packages = {
    pyflakes = stub {
      pname = "python3.13-pyflakes";
      version = "3.4.0";
      mainProgram = "pyflakes";
    };
    mypy = final.mypy;
    callPackage = callPackage;
  };
  python3 = stub {
    pname = "python3";
    version = "3.13.7";
    mainProgram = "python3";
    passthru = {
      pkgs = final.python3Packages;
      withPackages =
        f:
        final.buildEnv {
          name = "python3-3.13.7-env";
          paths = [ final.python3 ] ++ f final.python3Packages;
        };
    };
  };
  mypy = stub {
    pname = "mypy";
    version = "1.17.1";
    mainProgram = "mypy";
  };
  openssh = stub {
    pname = "openssh";
    version = "10.0p2";
    mainProgram = "ssh";
  };
  inetutils = stub {
    pname = "inetutils";
    version = "2.6";
  };
  kmod = stub {
    pname = "kmod";
    version = "34.2";
    mainProgram = "kmod";
  };
  less = stub {
    pname = "less";
    version = "679";
    mainProgram = "less";
  };
  linux-pam = stub {
    pname = "linux-pam";
    version = "1.7.1";
  };
  systemd = stub {
    pname = "systemd";
    version = "258";
    outputs = [
      "out"
      "man"
      "dev"
    ];
    mainProgram = "systemctl";
    passthru = {
      inherit (final) kmod util-linux;
      withEfi = true;
    };
  };
  gnutar = stub {
    pname = "gnutar";
    version = "1.35";
    mainProgram = "tar";
  };
  jq = stub {
    pname = "jq";
    version = "1.8.1";
    outputs = [
      "bin"
      "out"
    ];
    mainProgram = "jq";
  };
  swtpm = stub {
    pname = "swtpm";
    version = "0.10.1";
    mainProgram = "swtpm";
  };
  tpm2-tools = stub {
    pname = "tpm2-tools";
    version = "5.7";
  };
  netcat = stub {
    pname = "libressl-nc";
    version = "4.1.0";
    mainProgram = "nc";
  };
  hello = stub {
    pname = "hello";
    version = "2.12.2";
    mainProgram = "hello";
  };
  xorg = {
    xwininfo = stub {
      pname = "xwininfo";
      version = "1.1.6";
      mainProgram = "xwininfo";
    };
  };

  OVMF = callPackage (
    {
      secureBoot ? false,
      stdenv,
    }:
    stdenv.mkDerivation (finalAttrs: {
      pname = "OVMF";
      version = "202508";
      outputs = [
        "out"
        "fd"
      ];
      inherit secureBoot;
      buildCommand = "stand-in of OVMF";
      passthru = {
        firmware = "${finalAttrs.finalPackage.fd}/FV/OVMF_CODE.fd";
        variables = "${finalAttrs.finalPackage.fd}/FV/OVMF_VARS.fd";
        systemManagementModeRequired = secureBoot && stdenv.hostPlatform.isx86;
      };
    })
  ) { };

  linuxKernel = {
    packagesFor =
      kernel:
      let
        scope = self: {
          inherit kernel;
          callPackage = final.newScope self;
        };
        make =
          f:
          let
            self = f self;
          in
          self
          // {
            extend = g: make (s: let prev = f s; in prev // g s prev);
          };
      in
      make scope;
    kernels.linux_6_12 = callPackage (
      {
        version ? "6.12.44",
        stdenv,
      }:
      stub {
        pname = "linux";
        inherit version;
        outputs = [
          "out"
          "dev"
        ];
        passthru = {
          modDirVersion = version;
          features = { };
          kernelOlder = v: builtins.compareVersions version v < 0;
          kernelAtLeast = v: builtins.compareVersions version v >= 0;
        };
      }
    ) { };
  };
  linux = final.linuxKernel.kernels.linux_6_12;
  linuxPackages = final.linuxKernel.packagesFor final.linux;
  linuxPackages_latest = final.linuxPackages;

  # The python test driver: a placeholder with the arguments nixos/lib/testing/driver.nix gives it.
  nixos-test-driver = callPackage (
    {
      enableOCR ? false,
      extraPythonPackages ? (_: [ ]),
      qemu_pkg ? final.qemu_test,
      enableNspawn ? false,
      python3Packages,
      imagemagick,
      tesseract,
      vde2,
      netcat,
      coreutils,
    }:
    stub {
      pname = "nixos-test-driver";
      version = "1.1";
      mainProgram = "nixos-test-driver";
      extra.propagatedBuildInputs = [
        qemu_pkg
        vde2
        netcat
        coreutils
      ]
      ++ (
        if enableOCR then
          [
            imagemagick
            tesseract
          ]
        else
          [ ]
      )
      ++ extraPythonPackages python3Packages;
      extra.enableNspawn = enableNspawn;
    }
  ) { };

  breakpointHook = stub {
    pname = "breakpoint-hook";
    version = "0";
    passthru.attach = final.writeShellScript "attach" ''
      # stand-in of nixpkgs' cntr attach script
      exit 1
    '';
  };

  emptyFile = final.runCommand "empty-file" { } "touch $out";
}
