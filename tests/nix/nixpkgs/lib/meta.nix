# Stand-in for nixpkgs' lib.meta, written for attest's CI (no nixpkgs there; see default.nix).
# Covers: getExe and getExe' (the program of a package's bin output), addMetaAttrs, setPrio,
# lowPrio, hiPrio.
# Leaves out: the licence and platform helpers (getLicenseFromSpdxId, licensesSpdx,
# availableOn, platformMatch), setName/updateName/appendToName, mapDerivationAttrset,
# lowPrioSet/hiPrioSet, defaultPriority, dontDistribute and cpeFullVersionWithVendor.
{ lib }:
rec {
  # "<bin output>/bin/<meta.mainProgram>"; without meta.mainProgram the package's name
  # (pname, or name without its version), with a warning.
  getExe =
    pkg:
    getExe' pkg (
      pkg.meta.mainProgram or (lib.trivial.warn
        "getExe: package ${
          lib.strings.escapeNixIdentifier pkg.meta.name or pkg.pname or pkg.name
        } has no meta.mainProgram, so its program is taken to be its name. Set meta.mainProgram, or name the program with lib.getExe' pkg \"program\"."
        (lib.strings.getName pkg)
      )
    );
  "getExe'" =
    pkg: program:
    assert lib.asserts.assertMsg (lib.attrsets.isDerivation pkg)
      "lib.meta.getExe': the package is a ${builtins.typeOf pkg}, not a derivation.";
    assert lib.asserts.assertMsg (builtins.isString program)
      "lib.meta.getExe': the program name is a ${builtins.typeOf program}, not a string.";
    assert lib.asserts.assertMsg (builtins.match ".*/.*" program == null)
      "lib.meta.getExe': the program name \"${program}\" has a \"/\": it must be a file name in bin/.";
    "${lib.attrsets.getBin pkg}/bin/${program}";

  # Through overrideAttrs when the package has it (so the change survives further overrides).
  addMetaAttrs =
    newAttrs: drv:
    if drv ? overrideAttrs then
      drv.overrideAttrs (old: { meta = (old.meta or { }) // newAttrs; })
    else
      drv // { meta = (drv.meta or { }) // newAttrs; };
  setPrio = priority: addMetaAttrs { inherit priority; };
  lowPrio = setPrio 10;
  hiPrio = setPrio (-10);
}
