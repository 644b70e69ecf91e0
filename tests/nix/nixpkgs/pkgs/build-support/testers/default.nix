# Stand-in written for attest's CI (not nixpkgs code): `pkgs.testers` of the stand-in nixpkgs.
#
# Models: runNixOSTest as nixpkgs defines it: nixos/lib's runTest of the caller's module (located
# as "the argument that was passed to pkgs.runNixOSTest"), with `hostPkgs = pkgs` and
# `node.pkgs = pkgsLinux` (the same pkgs on a Linux host); and testBuildFailure's interface as a
# derivation that only differs in its name.
# Leaves out: nixosTest (the legacy make-test-python interface), testVersion, testEqualContents,
# invalidateFetcherByDrvHash, hasPkgConfigModules, lycheeLinkCheck, shellcheck and the rest.
{
  lib,
  pkgs,
  pkgsLinux,
}:
{
  runNixOSTest =
    let
      nixos = import ../../../nixos/lib { inherit lib; };
    in
    testModule:
    nixos.runTest {
      _file = "pkgs.runNixOSTest implementation";
      imports = [
        (lib.setDefaultModuleLocation "the argument that was passed to pkgs.runNixOSTest" testModule)
      ];
      hostPkgs = pkgs;
      node.pkgs = pkgsLinux;
    };

  testBuildFailure =
    drv:
    drv.overrideAttrs (old: {
      name = "${old.name or "${old.pname}-${old.version}"}-build-failure";
    });
}
