# The test framework's `driver`: a package whose `bin/nixos-test-driver` (./driver-script.nix)
# takes the NixOS test driver's command line and runs attest's test program on the test's
# configuration.
{
  pkgs,
  lib,
  attest,
  name,
  # ./program.nix
  program,
  # The driver's JSON configuration.
  configFile,
  # The machines' names in the driver's order (for --dump-vsocks).
  nodeNames,
  # Arguments before the caller's (the framework's extraDriverArgs and attest's options).
  extraDriverArgs ? [ ],
  # Programs the driver starts (VMMs, vde_switch, qemu-img, OCR tools).
  runtimeInputs ? [ ],
  # The machines are on TAP devices: /dev/net/tun must be in the sandbox.
  needsTun ? false,
}:
let
  script = pkgs.writeShellScript "nixos-test-driver" (
    import ./driver-script.nix {
      inherit
        lib
        name
        nodeNames
        extraDriverArgs
        needsTun
        ;
      program = lib.getExe program;
      attestTool = "${attest}/bin/attest";
      configFile = "${configFile}";
      binPath = lib.makeBinPath runtimeInputs;
    }
  );
in
pkgs.runCommand "attest-driver-${name}"
  {
    passthru = {
      inherit program configFile extraDriverArgs;
    };
    meta.mainProgram = "nixos-test-driver";
  }
  ''
    mkdir -p $out/bin
    ln -s ${script} $out/bin/nixos-test-driver
  ''
