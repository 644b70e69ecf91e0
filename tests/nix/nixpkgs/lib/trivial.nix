# Stand-in for nixpkgs' lib.trivial, written for attest's CI (no nixpkgs there; see default.nix).
# Covers: the small combinators (id, const, flip, pipe, ...), warnings and conditional throws,
# function-argument helpers (functionArgs, setFunctionArgs, mirrorFunctionArgs, toFunction,
# isFunction), the release/version strings and the builtins the real one re-exports.
# Leaves out: fromHexString, inNixShell, showWarnings, info, checkListOfEnum, nixpkgsVersion,
# revisionWithDefault and isInOldestRelease. warn always traces (Nix 2.8 has no builtins.warn,
# which the real one uses where it exists).
{ lib }:
let
  # The snapshot of nixpkgs the stand-in is checked against (tests/nix/lib-check).
  releaseNumber = "26.11";

  # NIX_ABORT_ON_WARN makes warnings fatal, as with the real lib.
  abortOnWarn = builtins.elem (builtins.getEnv "NIX_ABORT_ON_WARN") [
    "1"
    "true"
    "yes"
  ];
  esc = builtins.fromJSON ''"\u001b"'';
in
{
  id = x: x;
  const = x: _: x;
  flip =
    f: a: b:
    f b a;
  pipe = value: fns: builtins.foldl' (acc: f: f acc) value fns;
  concat = a: b: a ++ b;
  "or" = a: b: a || b;
  and = a: b: a && b;
  xor = a: b: a != b;
  inherit (builtins)
    add
    sub
    mul
    div
    bitAnd
    bitOr
    bitXor
    lessThan
    seq
    deepSeq
    isBool
    isInt
    isFloat
    pathExists
    readFile
    genericClosure
    ceil
    floor
    ;
  bitNot = builtins.sub (-1);
  boolToString = b: if b then "true" else "false";
  boolToYesNo = b: if b then "yes" else "no";
  mergeAttrs = a: b: a // b;
  defaultTo = fallback: x: if x == null then fallback else x;
  mapNullable = f: x: if x == null then null else f x;
  min = a: b: if a < b then a else b;
  max = a: b: if a > b then a else b;
  mod = n: d: n - d * (builtins.div n d);
  compare =
    a: b:
    if a < b then
      -1
    else if a > b then
      1
    else
      0;
  splitByAndCompare =
    p: yes: no: a: b:
    if p a then
      (if p b then yes a b else -1)
    else if p b then
      1
    else
      no a b;

  # The digits of a natural number in a base, most significant first: toBaseDigits 16 255 is
  # [ 15 15 ].
  toBaseDigits =
    base: n:
    assert builtins.isInt base && builtins.isInt n && base >= 2 && n >= 0;
    let
      digits =
        k:
        if k < base then
          [ k ]
        else
          digits (builtins.div k base) ++ [ (k - base * builtins.div k base) ];
    in
    digits n;
  # Upper-case hexadecimal digits, without a prefix: toHexString 255 is "FF".
  toHexString =
    n:
    builtins.concatStringsSep "" (
      map (d: builtins.substring d 1 "0123456789ABCDEF") (lib.trivial.toBaseDigits 16 n)
    );

  importJSON = file: builtins.fromJSON (builtins.readFile file);
  importTOML = file: builtins.fromTOML (builtins.readFile file);

  warn =
    msg: value:
    assert builtins.isString msg;
    if abortOnWarn then
      builtins.trace "${esc}[1;31mevaluation warning:${esc}[0m ${msg}" (
        abort "NIX_ABORT_ON_WARN=true; warnings are treated as unrecoverable errors."
      )
    else
      builtins.trace "${esc}[1;35mevaluation warning:${esc}[0m ${msg}" value;
  warnIf = cond: msg: if cond then lib.trivial.warn msg else x: x;
  warnIfNot = cond: msg: if cond then x: x else lib.trivial.warn msg;
  throwIf = cond: msg: if cond then throw msg else x: x;
  throwIfNot = cond: msg: if cond then x: x else throw msg;

  # Functions and functors (attribute sets with __functor) alike.
  isFunction = f: builtins.isFunction f || (f ? __functor && builtins.isFunction (f.__functor f));
  functionArgs =
    f:
    if f ? __functor then
      f.__functionArgs or (builtins.functionArgs (f.__functor f))
    else
      builtins.functionArgs f;
  setFunctionArgs = f: args: {
    __functor = _: f;
    __functionArgs = args;
  };
  mirrorFunctionArgs =
    f:
    let
      args = lib.trivial.functionArgs f;
    in
    g: lib.trivial.setFunctionArgs g args;
  toFunction = v: if lib.trivial.isFunction v then v else _: v;

  release = releaseNumber;
  versionSuffix = "pre-git";
  version = releaseNumber + "pre-git";
  codeName = "Zokor";
  oldestSupportedRelease = 2511;
  # `release` as a number such as 2505.
  oldestSupportedReleaseIsAtLeast = release: release <= lib.trivial.oldestSupportedRelease;

  inPureEvalMode = !builtins ? currentSystem;
}
