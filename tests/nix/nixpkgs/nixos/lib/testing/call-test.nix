# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/call-test.nix.
#
# Models: the internal `result` option (what runTest returns; the whole config by default) and
# passthru.extend { modules, specialArgs ? { } }: the test extended with more modules (located at
# the call), returning its `test` derivation.
# Leaves out: nothing observable.
{
  config,
  extendModules,
  lib,
  ...
}:
{
  options.result = lib.mkOption {
    internal = true;
    default = config;
  };

  config.passthru.extend =
    args@{
      modules,
      specialArgs ? { },
    }:
    let
      position = builtins.unsafeGetAttrPos "modules" args;
      location =
        if position == null then
          "<test.extend module>"
        else
          "${position.file}:${toString position.line}:${toString position.column}";
    in
    (extendModules {
      inherit specialArgs;
      modules = map (lib.setDefaultModuleLocation location) modules;
    }).config.test;
}
