# Tests that must not evaluate, each with a part of the message it must fail with (tests/nix/module
# `run` checks both). The message must name what is wrong, where, and what to do.
let
  pkgs = import ../nixpkgs { };
  attest = pkgs.stdenv.mkDerivation {
    pname = "attest";
    version = "0";
  };
  testOf =
    module:
    pkgs.testers.runNixOSTest {
      imports = [
        ../../../nix/testing/module.nix
        module
      ];
      attest.package = attest;
    };
  # The driver configuration of a test: what fails when a node cannot be mapped.
  configurationOf = module: (testOf module).config.attest.configuration;
  driverOf = module: (testOf module).driver.drvPath;
  microvm = extra: {
    name = "unmappable";
    attest.backend = "firecracker";
    nodes.server = extra;
    testScript = "";
  };
in
{
  shared-directory-on-firecracker = {
    message = "node 'server': option `virtualisation.sharedDirectories' cannot be mapped to the firecracker backend: firecracker has no shared file systems (data)";
    value = configurationOf (microvm {
      virtualisation.sharedDirectories.data = {
        source = "/srv/data";
        target = "/data";
      };
    });
  };
  forward-ports-on-firecracker = {
    message = "option `virtualisation.forwardPorts' cannot be mapped to the firecracker backend";
    value = configurationOf (microvm {
      virtualisation.forwardPorts = [
        {
          host.port = 8080;
          guest.port = 80;
        }
      ];
    });
  };
  boot-loader-on-firecracker = {
    message = "option `virtualisation.useBootLoader' cannot be mapped to the firecracker backend";
    value = configurationOf (microvm { virtualisation.useBootLoader = true; });
  };
  tmpfs-root-without-split-store = {
    message = "option `virtualisation.diskImage' is null (a tmpfs root) on the firecracker backend";
    value = configurationOf (microvm { virtualisation.diskImage = null; });
  };
  ssh-backdoor-on-a-microvm = {
    message = "`sshBackdoor` needs a vsock device";
    value = driverOf (microvm { } // { sshBackdoor.enable = true; });
  };
  debug-hook = {
    message = "`enableDebugHook` is not supported by attest's driver";
    value = driverOf {
      name = "debug-hook";
      enableDebugHook = true;
      nodes.machine = { };
      testScript = "";
    };
  };
  microvm-on-aarch64 = {
    message = "runs on x86_64-linux only, not on aarch64-linux";
    value =
      ((import ../nixpkgs { system = "aarch64-linux"; }).testers.runNixOSTest {
        imports = [
          ../../../nix/testing/module.nix
          (microvm { })
        ];
        attest.package = attest;
      }).driver.drvPath;
  };
  testscript-not-a-string = {
    message = "testScript";
    value = driverOf {
      name = "bad-script";
      nodes.machine = { };
      testScript = 42;
    };
  };
  unknown-backend = {
    message = "attest.backend";
    value = driverOf {
      name = "bad-backend";
      attest.backend = "bochs";
      nodes.machine = { };
      testScript = "";
    };
  };
  containers = {
    message = "`containers` (systemd-nspawn nodes) are not supported by attest's driver";
    value = driverOf {
      name = "containers";
      nodes.machine = { };
      containers.ct = { };
      testScript = "";
    };
  };
  unknown-test-option = {
    message = "nodez";
    value = driverOf {
      name = "typo";
      nodez.machine = { };
      testScript = "";
    };
  };
}
