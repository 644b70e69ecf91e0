# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/driver.nix, the program
# that runs a test.
#
# Models: the options pythonTestDriverPackage (read-only, hostPkgs.nixos-test-driver), driver
# (a package; by default the wrapped python driver below, which a module such as attest's
# replaces with mkForce), hostPkgs (raw; also the `hostPkgs` module argument), qemu.package
# (hostPkgs.qemu_test), qemu.forceAccel (false), globalTimeout (3600), enableOCR, extraPythonPackages
# (a function of a python package set), extraDriverArgs, skipLint, skipTypeCheck, logLevel (info);
# the default driver: nixos-test-driver-<name>, made from the python driver package overridden
# with enableOCR, extraPythonPackages, qemu_pkg and enableNspawn, with the test script, the driver
# configuration file, pyflakes unless skipLint, mypy unless skipTypeCheck, `--config <file>`,
# `--log-level <level>` and extraDriverArgs as wrapper flags, passthru = the test's passthru,
# meta = the test's meta with mainProgram nixos-test-driver, and nixpkgs' warning when linting is
# off; passthru.driver; the nodes' default virtualisation.qemu.enableSharedMemory (on Linux hosts)
# and the assertion that the SSH backdoor has it.
# Leaves out: the type hints and machine-name symbols given to mypy and pyflakes (their checks
# never run here).
{
  config,
  lib,
  hostPkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  isLinux = hostPkgs.stdenv.hostPlatform.isLinux;
  sshBackdoor = config.sshBackdoor;

  pythonDriver = config.pythonTestDriverPackage.override {
    inherit (config) enableOCR extraPythonPackages;
    qemu_pkg = config.qemu.package;
    enableNspawn = config.containers != { };
  };

  wrapperFlags =
    [
      "--add-flags"
      "--config ${config.driverConfigurationFile}"
      "--add-flags"
      "--log-level ${config.logLevel}"
    ]
    ++ builtins.concatMap (arg: [
      "--add-flags"
      arg
    ]) config.extraDriverArgs;

  driver = hostPkgs.runCommand "nixos-test-driver-${config.name}" {
    nativeBuildInputs = [ hostPkgs.makeWrapper ] ++ lib.optional (!config.skipTypeCheck) hostPkgs.mypy;
    buildInputs = [ pythonDriver ];
    testScript = config.testScriptString;
    preferLocalBuild = true;
    passthru = config.passthru;
    meta = config.meta // {
      mainProgram = "nixos-test-driver";
    };
  } ''
    mkdir -p $out/bin
    cp ${config.driverConfiguration.test_script} $out/test-script
    ln -s ${pythonDriver}/bin/nixos-test-driver $out/bin/nixos-test-driver
    ${lib.optionalString (!config.skipLint) "${hostPkgs.python3Packages.pyflakes}/bin/pyflakes $out/test-script"}
    wrapProgram $out/bin/nixos-test-driver ${lib.escapeShellArgs wrapperFlags}
  '';
in
{
  options = {
    pythonTestDriverPackage = mkOption {
      type = types.package;
      default = hostPkgs.nixos-test-driver;
      readOnly = true;
      description = "The python NixOS test driver.";
    };
    driver = mkOption {
      type = types.package;
      description = "Package containing a script that runs the test.";
    };
    hostPkgs = mkOption {
      type = types.raw;
      description = "Nixpkgs attrset used outside the nodes.";
    };
    qemu.package = mkOption {
      type = types.package;
      default = hostPkgs.qemu_test;
      description = "The QEMU package of the nodes.";
    };
    qemu.forceAccel = mkOption {
      type = types.bool;
      default = false;
      description = "Whether QEMU must use hardware acceleration rather than fall back to TCG.";
    };
    globalTimeout = mkOption {
      type = types.int;
      default = 60 * 60;
      description = "A global timeout for the complete test, in seconds.";
    };
    enableOCR = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable optical character recognition.";
    };
    extraPythonPackages = mkOption {
      type = types.functionTo (types.listOf types.package);
      default = _: [ ];
      description = "Python packages to add to the test driver.";
    };
    extraDriverArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra arguments of the test driver.";
    };
    skipLint = mkOption {
      type = types.bool;
      default = false;
      description = "Do not run the linters.";
    };
    skipTypeCheck = mkOption {
      type = types.bool;
      default = false;
      description = "Disable type checking.";
    };
    logLevel = mkOption {
      type = types.enum [
        "debug"
        "info"
        "warning"
        "error"
      ];
      default = "info";
      description = "Log level for the test driver.";
    };
  };

  config = {
    _module.args.hostPkgs = lib.mkOverride 100 config.hostPkgs;

    driver = lib.warnIf config.skipLint "Linting is disabled" driver;

    passthru.driver = config.driver;

    nodeDefaults =
      { config, ... }:
      {
        virtualisation.qemu.enableSharedMemory = lib.mkDefault isLinux;
        assertions = [
          {
            assertion = sshBackdoor.enable -> config.virtualisation.qemu.enableSharedMemory;
            message = "When turning on the SSH backdoor of the NixOS test-framework, `virtualisation.qemu.enableSharedMemory` MUST be `true` (affected: ${config.networking.hostName}).";
          }
        ];
      };
  };
}
