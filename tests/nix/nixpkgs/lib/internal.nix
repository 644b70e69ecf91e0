# Part of the stand-in for nixpkgs' lib written for attest's CI (see default.nix): helpers the
# stand-in's files share and that are not exported, since the real lib has no such names (a
# module using them would break on the real one). They are:
# - showValue, a small printer of Nix values for error messages (the real lib uses
#   lib.generators.toPretty, which the stand-in does not provide); its output is close to, not
#   the same as, the real messages;
# - coherentCheck, coherentMerge and assertCoherent (see below).
{ lib }:
let
  show =
    depth: v:
    let
      t = builtins.typeOf v;
    in
    if t == "string" then
      lib.strings.escapeNixString v
    else if t == "int" || t == "float" then
      toString v
    else if t == "bool" then
      lib.trivial.boolToString v
    else if t == "null" then
      "null"
    else if t == "path" then
      toString v
    else if t == "lambda" then
      "<function>"
    else if t == "list" then
      if depth <= 0 then
        "[ ... ]"
      else
        "[ " + builtins.concatStringsSep " " (map (show (depth - 1)) v) + " ]"
    else if v ? _type && v ? text && builtins.isString v.text then
      v.text
    else if lib.attrsets.isDerivation v then
      "<derivation ${v.name or "???"}>"
    else if depth <= 0 then
      "{ ... }"
    else
      "{ "
      + builtins.concatStringsSep "" (
        map (n: "${lib.strings.escapeNixIdentifier n} = ${show (depth - 1) v.${n}}; ") (
          builtins.attrNames v
        )
      )
      + "}";
in
{
  # The real lib's composite types (listOf, attrsOf, submodules, either, coercedTo and addCheck
  # of those) check their definitions inside their own merge, so a copy of one with only `check`
  # replaced (`t // { check = f; }`) is an error there: the new check would be ignored. The
  # stand-in's types of those kinds mark both their `check` and their `merge`, and
  # assertCoherent (called by lib.modules.mergeDefinitions and by the types that merge with
  # other types) rejects a type whose merge is marked and whose check is not.
  coherentCheck = f: {
    __functor = _: f;
    isV2MergeCoherent = true;
  };
  coherentMerge = f: {
    __functor = _: f;
    needsCoherentCheck = true;
  };
  assertCoherent =
    loc: type: value:
    if (type.merge.needsCoherentCheck or false) && !(type.check.isV2MergeCoherent or false) then
      throw "The option `${lib.options.showOption loc}' has a type `${type.description}' whose check was replaced (`type // { check = ...; }'), which this type would ignore: use lib.types.addCheck."
    else
      value;

  # Never fails: a value that cannot be printed (it throws) prints as "<error>".
  showValue =
    v:
    let
      r = builtins.tryEval (
        let
          s = show 4 v;
        in
        builtins.seq s s
      );
    in
    if r.success then r.value else "<error>";
}
