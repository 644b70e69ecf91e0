# Stand-in for nixpkgs' lib.asserts, written for attest's CI (no nixpkgs there; see default.nix).
# Covers: assertMsg, assertOneOf, assertEachOneOf. The messages print values with the stand-in's
# own printer, not lib.generators.toPretty, so their wording differs slightly.
# Leaves out: checkAssertWarn.
{ lib }:
let
  inherit (import ./internal.nix { inherit lib; }) showValue;
in
rec {
  # `assert assertMsg cond "message"; ...`: throws the message when cond is false.
  assertMsg = cond: msg: cond || throw msg;
  assertOneOf =
    name: value: allowed:
    assertMsg (builtins.elem value allowed)
      "${name} must be one of ${showValue allowed}, but is: ${showValue value}";
  assertEachOneOf =
    name: values: allowed:
    assertMsg (builtins.all (v: builtins.elem v allowed) values)
      "each element in ${name} must be one of ${showValue allowed}, but is: ${showValue values}";
}
