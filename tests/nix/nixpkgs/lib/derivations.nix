# Stand-in for nixpkgs' lib.derivations, written for attest's CI (no nixpkgs there; see
# default.nix). Covers: lazyDerivation (what the NixOS test framework returns as its `test`),
# optionalDrvAttr and the output-dependency builtins.
# Leaves out: warnOnInstantiate and addDrvOutputDependencies (not a builtin of Nix 2.8). The
# error messages of lazyDerivation are worded differently.
{ lib }:
{
  inherit (builtins) unsafeDiscardOutputDependency;

  # A derivation-like attribute set whose attribute names do not depend on `derivation`:
  # meta and passthru (and `outputs`) are read without evaluating it, outPath, drvPath, name,
  # system, outputName and the outputs come from it when read.
  lazyDerivation =
    args@{
      derivation,
      meta ? null,
      passthru ? { },
      outputs ? [ "out" ],
    }:
    let
      checked =
        if derivation.type or null != "derivation" then
          throw "lib.lazyDerivation: `derivation' is not a derivation."
        else if derivation.outputs != outputs then
          throw "lib.lazyDerivation: the outputs of ${derivation.name or "the derivation"} (${toString derivation.outputs}) are not the `outputs' given (${toString outputs})."
        else
          derivation;
    in
    {
      type = "derivation";
      inherit outputs;
      inherit (checked)
        outPath
        outputName
        drvPath
        name
        system
        ;
      meta = args.meta or checked.meta;
    }
    // lib.attrsets.genAttrs outputs (output: checked.${output})
    // passthru;

  optionalDrvAttr = cond: value: if cond then value else null;
}
