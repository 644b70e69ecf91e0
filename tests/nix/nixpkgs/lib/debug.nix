# Stand-in for nixpkgs' lib.debug, written for attest's CI (no nixpkgs there; see default.nix).
# Covers: trace, traceIf, traceVal, traceValFn, traceSeq, traceValSeq, addErrorContext,
# unsafeGetAttrPos.
# Leaves out: the depth-limited variants (traceSeqN, traceValSeqN, traceValSeqNFn, traceFnSeqN),
# runTests, testAllTrue and throwTestFailures.
{ lib }:
rec {
  inherit (builtins) trace addErrorContext unsafeGetAttrPos;
  traceIf = cond: msg: x: if cond then builtins.trace msg x else x;
  traceValFn = f: x: builtins.trace (f x) x;
  traceVal = traceValFn (x: x);
  traceSeq = x: y: builtins.trace (builtins.deepSeq x x) y;
  traceValSeqFn = f: x: traceValFn f (builtins.deepSeq x x);
  traceValSeq = traceValSeqFn (x: x);
}
