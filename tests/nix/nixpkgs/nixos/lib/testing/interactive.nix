# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/interactive.nix.
#
# Models: `interactive`, the whole test again (moduleType: any top-level test option can be set
# in it), whose qemu.package is hostPkgs.qemu and whose extraDriverArgs has --interactive, and
# passthru.driverInteractive, the driver of that test.
# Leaves out: nothing.
{
  config,
  lib,
  moduleType,
  hostPkgs,
  ...
}:
{
  options.interactive = lib.mkOption {
    description = "The test as run interactively (`.driverInteractive`); any test option can be set here.";
    type = moduleType;
    visible = "shallow";
  };

  config = {
    interactive.qemu.package = hostPkgs.qemu;
    interactive.extraDriverArgs = [ "--interactive" ];
    passthru.driverInteractive = config.interactive.driver;
  };
}
