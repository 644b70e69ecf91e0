# Stand-in written for attest's CI (not nixpkgs code): `stdenv` and `stdenvNoCC` of the stand-in
# nixpkgs, whose `mkDerivation` makes real derivations (builtins.derivation: genuine drvPath,
# outPath and string contexts under `nix-instantiate --store dummy://`) that are never built.
#
# Models: mkDerivation taking an attribute set or a function of `finalAttrs` (with
# finalAttrs.finalPackage), name from pname and version, `outputs` (each output an attribute of
# the result carrying the same passthru and meta, as nixpkgs' extendDerivation does), `passthru`
# (merged into the result, kept out of the derivation), `meta` (result only), `env` (merged into
# the derivation's environment), `overrideAttrs` (attribute set, `prev:` or `final: prev:` form),
# nativeBuildInputs/buildInputs/propagatedBuildInputs and every other attribute as derivation
# environment (so their store paths are inputs), and `hostPlatform`/`buildPlatform`,
# `shell`, `shellDryRun`, `system`, `isLinux`/`isDarwin` on the stdenv, which is itself a derivation.
# Leaves out: the generic builder and its phases (the builder is /bin/sh with a script that only
# fails: nothing is ever built), setup hooks, cross compilation and splicing, meta checks
# (licenses, platforms, broken, unfree), `__structuredAttrs`, `separateDebugInfo` and the like.
# Attribute sets that are not derivations are passed to the derivation as JSON; functions as the
# string "<function>".
{ platform }:
let
  # Functions and functors (attribute sets with __functor), as lib.isFunction.
  isFunction = f: builtins.isFunction f || (builtins.isAttrs f && f ? __functor);

  dummyScript = "echo 'attest: a stand-in derivation of tests/nix/nixpkgs, never meant to be built' >&2; exit 1";

  isDerivationLike = v: builtins.isAttrs v && (v ? outPath);


  # One value of the derivation's environment, as builtins.derivation accepts it.
  envValue =
    v:
    # A function cannot be in a derivation's environment: it stands as a marker, decided per
    # attribute when the derivation is instantiated (dropping such attributes would force every
    # value as soon as the derivation is, which nixpkgs' mkDerivation does not).
    if isFunction v then
      "<function>"
    else if builtins.isAttrs v && !(isDerivationLike v) then
      builtins.toJSON v
    else if builtins.isList v then
      map (x: if builtins.isAttrs x && !(isDerivationLike x) then builtins.toJSON x else x) (
        builtins.filter (x: !(isFunction x)) v
      )
    else
      v;

  notInDerivation = [
    "passthru"
    "meta"
    "env"
    "pos"
    "finalPackage"
    "overrideAttrs"
    "builder"
    "args"
    "realBuilder"
  ];

  makeStdenv =
    { name, hasCC }:
    let
      stdenvDrv = derivation {
        inherit name;
        system = platform.system;
        builder = "/bin/sh";
        args = [
          "-c"
          dummyScript
        ];
      };

      # The derivation and the attributes nixpkgs' extendDerivation adds to it and to each output.
      package =
        args: overrideAttrs:
        let
          name = args.name or "${args.pname}-${args.version}";
          outputs = args.outputs or [ "out" ];
          passthru = args.passthru or { };
          meta = args.meta or { };
          kept = builtins.removeAttrs args notInDerivation;
          environment = builtins.mapAttrs (_: envValue) (kept // (args.env or { }));
          drv = derivation (
            environment
            // {
              inherit name outputs;
              system = platform.system;
              builder = "/bin/sh";
              args = [
                "-c"
                dummyScript
                "stand-in"
              ]
              ++ map toString (args.args or [ ]);
              stdenv = self;
            }
            // (if args ? builder then { attestStandInBuilder = args.builder; } else { })
          );
          extra = {
            inherit meta passthru overrideAttrs;
            stdenv = self;
          }
          // passthru;
          outputsSet = builtins.listToAttrs (
            map (o: {
              name = o;
              value =
                common
                // {
                  inherit (drv.${o}) outPath type;
                  outputName = o;
                  outputSpecified = true;
                  inherit (drv) drvPath;
                };
            }) outputs
          );
          common =
            drv
            // outputsSet
            // {
              all = map (o: outputsSet.${o}) outputs;
            }
            // extra;
        in
        common;

      # `rattrs` is a function of the final attributes.
      extensible =
        rattrs:
        let
          finalAttrs = rattrs (
            finalAttrs
            // {
              inherit finalPackage;
            }
          );
          finalPackage = package finalAttrs overrideAttrs;
          overrideAttrs =
            f:
            extensible (
              final:
              let
                prev = rattrs final;
                step = if isFunction f then f prev else f;
                layer = if isFunction step then f final prev else step;
              in
              prev // layer
            );
        in
        finalPackage;

      self = stdenvDrv // {
        mkDerivation = fpargs: extensible (if isFunction fpargs then fpargs else _: fpargs);
        hostPlatform = platform;
        buildPlatform = platform;
        targetPlatform = platform;
        inherit (platform) system isLinux isDarwin;
        shell = "/bin/sh";
        shellDryRun = "/bin/sh -n";
        cc = if hasCC then self.mkDerivation {
          pname = "gcc-wrapper";
          version = "14.3.0";
          buildCommand = "stand-in";
        } else null;
      };
    in
    self;
in
{
  stdenv = makeStdenv {
    name = "stdenv-linux";
    hasCC = true;
  };
  stdenvNoCC = makeStdenv {
    name = "stdenv-linux-nocc";
    hasCC = false;
  };
}
