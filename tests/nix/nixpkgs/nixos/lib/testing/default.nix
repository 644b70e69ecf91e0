# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/default.nix, the NixOS
# test framework as a module system of class "nixosTest".
#
# Models: evalTest (evalModules of the framework's modules and the caller's module), runTest
# (its `test` derivation, through the `result` option of call-test.nix) and testModules: the
# option interface and the behaviour that a module replacing the driver can observe (each file
# says what it models).
# Leaves out, for the framework as a whole: the python side (linting with pyflakes and type
# checking with mypy are not modelled beyond their packages being inputs of the default driver;
# the machine-name type hints and driver symbols), video recording and the jquery/docs helpers,
# nspawn containers beyond the `containers` option and a stub system.build.nspawn, and the
# newer files of nixpkgs' testing directory that the framework does not import by default
# (matrix.nix, params.nix, machine/options.nix, test-configuration.nix, alternate-vm-host.nix,
# macos-host.nix, nspawn-in-qemu.nix).
{ lib }:
let
  testModules = [
    ./call-test.nix
    ./driver.nix
    ./driver-configuration.nix
    ./interactive.nix
    ./legacy.nix
    ./meta.nix
    ./name.nix
    ./network.nix
    ./nodes.nix
    ./pkgs.nix
    ./run.nix
    ./testScript.nix
  ];

  evalTest =
    module:
    lib.evalModules {
      class = "nixosTest";
      modules = testModules ++ [ module ];
    };

  runTest =
    module:
    (evalTest (
      { config, ... }:
      {
        imports = [ module ];
        result = config.test;
      }
    )).config.result;
in
{
  inherit evalTest runTest testModules;
}
