# Stand-in written for attest's CI (not nixpkgs code): what `import nixpkgs { ... }` gives, for
# evaluating attest's Nix code without nixpkgs (tests/nix/framework-check). The tree mirrors
# nixpkgs' layout, so that `pkgs.path + "/nixos/lib"` and the like reach the stand-in's nixos/.
#
# Models: the arguments system / localSystem / crossSystem (only its absence) / config (an
# attribute set or a function of { pkgs, lib }) / overlays (a final: prev: fixpoint, as nixpkgs
# applies them), plus `lib` to choose the lib (default: ./default-lib.nix); and a small `pkgs`:
# lib, pkgs (itself, as callPackage's argument), path (this directory), system, config
# (allowUnfree etc. with nixpkgs' defaults), overlays, `_type = "pkgs"` (for types.pkgs),
# __splicedPackages, appendOverlays (the same set for no overlay) / extend, pkgsLinux,
# buildPackages, hostPlatform/buildPlatform, stdenv/stdenvNoCC (pkgs/stdenv.nix), callPackage
# (arguments from pkgs by functionArgs, `override`), newScope, the trivial builders
# (pkgs/build-support/trivial-builders.nix), testers (pkgs/build-support/testers) and the
# packages of pkgs/top-level/all-packages.nix.
# Leaves out: cross compilation, splicing, config checks (allowUnfree is only visible, never
# enforced), package sets beyond those listed, and `nixos` (the NixOS entry point of pkgs).
{
  system ? "x86_64-linux",
  localSystem ? {
    inherit system;
  },
  crossSystem ? null,
  config ? { },
  overlays ? [ ],
  lib ? import ./default-lib.nix,
  ...
}@args:
let
  platform = import ./pkgs/platform.nix localSystem;

  # Functions and functors (attribute sets with __functor), as lib.isFunction.
  isFunction = f: builtins.isFunction f || (builtins.isAttrs f && f ? __functor);

  configDefaults = {
    allowUnfree = false;
    allowBroken = false;
    allowUnsupportedSystem = false;
    allowAliases = true;
    checkMeta = false;
  };

  callPackageWith =
    autoArgs: fn: args:
    let
      f = if isFunction fn then fn else import fn;
      overridable =
        given:
        let
          result = f given;
          override =
            newArgs: overridable (given // (if isFunction newArgs then newArgs given else newArgs));
        in
        if builtins.isAttrs result then
          result
          // {
            inherit override;
          }
          // (
            if result ? overrideAttrs then
              {
                overrideAttrs = g: (result.overrideAttrs g) // { inherit override; };
              }
            else
              { }
          )
        else
          result;
    in
    overridable (builtins.intersectAttrs (builtins.functionArgs f) autoArgs // args);

  # The package set before overlays, as a function of the final one.
  base =
    final:
    let
      stdenvs = import ./pkgs/stdenv.nix { inherit platform; };
      builders = import ./pkgs/build-support/trivial-builders.nix {
        inherit (stdenvs) stdenv stdenvNoCC;
        inherit (final) runtimeShell coreutils jq;
      };
      evaluatedConfig =
        configDefaults
        // (if isFunction config then config { inherit lib; pkgs = final; } else config);
    in
    builders
    // import ./pkgs/top-level/all-packages.nix {
      inherit final;
      inherit (stdenvs) stdenv stdenvNoCC;
    }
    // {
      inherit lib system;
      inherit (stdenvs) stdenv stdenvNoCC;
      _type = "pkgs";
      pkgs = final;
      path = ./.;
      config = evaluatedConfig;
      inherit overlays;
      __splicedPackages = final;
      pkgsLinux = final;
      buildPackages = final;
      pkgsBuildBuild = final;
      pkgsBuildHost = final;
      pkgsHostTarget = final;
      hostPlatform = platform;
      buildPlatform = platform;
      targetPlatform = platform;
      callPackage = callPackageWith final;
      newScope = scope: callPackageWith (final // scope);
      appendOverlays =
        extra:
        if extra == [ ] then
          final
        else
          import ./. (
            builtins.removeAttrs args [ "overlays" ]
            // {
              inherit lib;
              overlays = overlays ++ extra;
            }
          );
      extend = overlay: final.appendOverlays [ overlay ];
      testers = import ./pkgs/build-support/testers {
        inherit lib;
        pkgs = final;
        pkgsLinux = final;
      };
    };

  # Each overlay sees the final set and the one before it; the last one wins.
  layered = builtins.foldl' (
    inner: overlay: final:
    let
      prev = inner final;
    in
    prev // overlay final prev
  ) base overlays;

  pkgs = layered pkgs;
in
assert crossSystem == null || throw "attest: the stand-in nixpkgs does not cross-compile";
pkgs
