# Every name the stand-in for nixpkgs' lib defines must exist at the same place in the real
# lib: a module using a name only the stand-in has would pass attest's CI and break on nixpkgs.
# Returns the attribute paths (as "a.b.c") of the stand-in missing from `real`. Namespaces are
# walked down to attribute sets that are values rather than namespaces (option types, options,
# derivations: anything with `_type` or `type`).
{ standIn, real }:
let
  isNamespace =
    v:
    let
      r = builtins.tryEval (builtins.isAttrs v && !(v ? _type) && !(v ? type));
    in
    r.success && r.value;
  walk =
    path: mine: theirs:
    builtins.concatMap (
      name:
      let
        here = path ++ [ name ];
      in
      if !(builtins.isAttrs theirs && theirs ? ${name}) then
        [ (builtins.concatStringsSep "." here) ]
      else if builtins.length here < 4 && isNamespace mine.${name} then
        walk here mine.${name} theirs.${name}
      else
        [ ]
    ) (builtins.attrNames mine);
in
walk [ ] standIn real
