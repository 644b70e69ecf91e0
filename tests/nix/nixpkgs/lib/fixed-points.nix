# Stand-in for nixpkgs' lib.fixedPoints, written for attest's CI (no nixpkgs there; see
# default.nix). Covers: fix, fix', extends, composeExtensions, composeManyExtensions,
# toExtension, makeExtensible, makeExtensibleWithCustomName.
# Leaves out: converge.
{ lib }:
rec {
  # The value x with x == f x (f must not be strict in its argument).
  fix =
    f:
    let
      x = f x;
    in
    x;
  # fix, remembering f in __unfix__.
  "fix'" =
    f:
    let
      x = f x // {
        __unfix__ = f;
      };
    in
    x;
  # Applies an overlay `final: prev: { ... }` to a function of `final`.
  extends =
    overlay: f: final:
    let
      prev = f final;
    in
    prev // overlay final prev;
  composeExtensions =
    f: g: final: prev:
    let
      fromF = f final prev;
    in
    fromF // g final (prev // fromF);
  composeManyExtensions = lib.lists.foldr composeExtensions (_: _: { });
  # An overlay from an attribute set, a function of `prev` or an overlay.
  toExtension =
    f:
    if lib.trivial.isFunction f then
      final: prev:
      let
        ofPrev = f prev;
      in
      if lib.trivial.isFunction ofPrev then f final prev else ofPrev
    else
      _: _: f;
  makeExtensibleWithCustomName =
    extenderName: rattrs:
    fix' (
      self:
      rattrs self
      // {
        ${extenderName} = f: makeExtensibleWithCustomName extenderName (extends f rattrs);
      }
    );
  makeExtensible = makeExtensibleWithCustomName "extend";
}
