# Stand-in written for attest's CI (not nixpkgs code). The one place that picks the `lib` of the
# stand-in nixpkgs (tests/nix/nixpkgs) when a caller passes none: every file of the stand-in that
# takes a `lib` argument defaults to this one, as nixpkgs' own files default to `../../lib`.
#
# Models: nothing of nixpkgs; it selects either the stand-in's own ./lib (another engineer's
# stand-in of nixpkgs' lib) or, when the environment variable ATTEST_STANDIN_LIB names a directory
# (the real nixpkgs lib, e.g. /tmp/nixlib/lib), that one, so that the same checks run with both
# (tests/nix/framework-check/run sets it from NIXPKGS_LIB).
# Leaves out: everything else; an explicit `lib` argument always wins over this default.
let
  override = builtins.getEnv "ATTEST_STANDIN_LIB";
in
if override != "" then
  import override
else if builtins.pathExists ./lib/default.nix then
  import ./lib
else
  throw "attest: the stand-in nixpkgs has no lib yet (tests/nix/nixpkgs/lib/default.nix); set ATTEST_STANDIN_LIB to a nixpkgs lib directory"
