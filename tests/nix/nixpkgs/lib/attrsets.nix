# Stand-in for nixpkgs' lib.attrsets, written for attest's CI (no nixpkgs there; see default.nix).
# Covers: attribute paths (attrByPath, setAttrByPath, getAttrFromPath, hasAttrByPath), mapping
# and filtering (mapAttrs', mapAttrsToList, filterAttrs, concatMapAttrs, foldlAttrs, ...),
# merging (recursiveUpdate, zipAttrsWith, mergeAttrsList), derivation outputs (isDerivation,
# getOutput, getBin, ...), cartesianProduct and the attribute-set builtins.
# Leaves out: updateManyAttrsByPath, mapAttrsToListRecursive(Cond), longestValidPathPrefix.
# getAttrFromPath throws where the real one aborts (both end the evaluation; only a throw can be
# caught by tryEval).
{ lib }:
let
  inherit (builtins)
    attrNames
    attrValues
    concatMap
    filter
    head
    isAttrs
    listToAttrs
    mapAttrs
    ;
in
rec {
  inherit (builtins)
    attrNames
    attrValues
    catAttrs
    getAttr
    hasAttr
    intersectAttrs
    isAttrs
    listToAttrs
    mapAttrs
    removeAttrs
    zipAttrsWith
    ;

  # The value at a path of attribute names, or `default` where the path stops.
  attrByPath =
    path: default: set:
    if path == [ ] then
      set
    else if isAttrs set && set ? ${head path} then
      attrByPath (builtins.tail path) default set.${head path}
    else
      default;
  hasAttrByPath =
    path: set:
    path == [ ]
    || (isAttrs set && set ? ${head path} && hasAttrByPath (builtins.tail path) set.${head path});
  setAttrByPath =
    path: value:
    if path == [ ] then value else { ${head path} = setAttrByPath (builtins.tail path) value; };
  getAttrFromPath =
    path: set:
    attrByPath path (throw "cannot find attribute '${builtins.concatStringsSep "." path}'") set;
  attrVals = names: set: map (n: set.${n}) names;
  getAttrs = names: set: genAttrs names (n: set.${n});

  nameValuePair = name: value: { inherit name value; };
  genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);
  "genAttrs'" = list: f: listToAttrs (map f list);
  optionalAttrs = cond: set: if cond then set else { };

  filterAttrs = pred: set: removeAttrs set (filter (n: !pred n set.${n}) (attrNames set));
  filterAttrsRecursive =
    pred: set:
    listToAttrs (
      concatMap (
        n:
        let
          v = set.${n};
        in
        if pred n v then
          [ (nameValuePair n (if isAttrs v then filterAttrsRecursive pred v else v)) ]
        else
          [ ]
      ) (attrNames set)
    );
  mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
  "mapAttrs'" = f: set: listToAttrs (mapAttrsToList f set);
  attrsToList = mapAttrsToList nameValuePair;
  concatMapAttrs = f: set: builtins.foldl' (acc: x: acc // x) { } (mapAttrsToList f set);
  foldlAttrs =
    f: init: set:
    builtins.foldl' (acc: n: f acc n set.${n}) init (attrNames set);
  foldAttrs =
    op: nul: sets:
    lib.lists.foldr (
      set: acc:
      lib.lists.foldr (n: a: a // { ${n} = op set.${n} (a.${n} or nul); }) acc (attrNames set)
    ) { } sets;
  mapAttrsRecursiveCond =
    cond: f: set:
    let
      walk =
        path:
        mapAttrs (
          n: v: if isAttrs v && cond v then walk (path ++ [ n ]) v else f (path ++ [ n ]) v
        );
    in
    walk [ ] set;
  mapAttrsRecursive = mapAttrsRecursiveCond (_: true);
  collect =
    pred: x:
    if pred x then
      [ x ]
    else if isAttrs x then
      concatMap (collect pred) (attrValues x)
    else
      [ ];

  zipAttrsWithNames =
    names: f: sets:
    genAttrs names (n: f n (builtins.catAttrs n sets));
  zipAttrs = builtins.zipAttrsWith (_: values: values);
  # `pred path lhs rhs` says where to stop descending and take the right-hand value.
  recursiveUpdateUntil =
    pred: lhs: rhs:
    let
      go =
        path: l: r:
        l
        // r
        // mapAttrs (
          n: _:
          let
            here = path ++ [ n ];
          in
          if pred here l.${n} r.${n} then r.${n} else go here l.${n} r.${n}
        ) (builtins.intersectAttrs l r);
    in
    go [ ] lhs rhs;
  recursiveUpdate = recursiveUpdateUntil (_: l: r: !(isAttrs l && isAttrs r));
  mergeAttrsList = list: builtins.foldl' (acc: x: acc // x) { } list;
  overrideExisting = old: new: mapAttrs (n: v: new.${n} or v) old;
  unionOfDisjoint =
    x: y:
    let
      common = builtins.intersectAttrs x y;
      names = builtins.concatStringsSep " " (attrNames common);
    in
    x // y // mapAttrs (n: _: throw "unionOfDisjoint: both sets have ${n} (all common names: ${names})") common;
  matchAttrs =
    pattern: set:
    assert isAttrs pattern;
    builtins.all (
      n:
      set ? ${n}
      && (
        if isAttrs pattern.${n} then
          isAttrs set.${n} && matchAttrs pattern.${n} set.${n}
        else
          pattern.${n} == set.${n}
      )
    ) (attrNames pattern);

  cartesianProduct =
    lists:
    builtins.foldl' (
      acc: n: concatMap (partial: map (v: partial // { ${n} = v; }) lists.${n}) acc
    ) [ { } ] (attrNames lists);
  mapCartesianProduct = f: lists: map f (cartesianProduct lists);

  showAttrPath =
    path:
    if path == [ ] then
      "<root attribute path>"
    else
      builtins.concatStringsSep "." (map lib.strings.escapeNixIdentifier path);

  isDerivation = x: x.type or null == "derivation";
  # A store path as a derivation-like attribute set (what types.package makes of paths).
  toDerivation =
    path:
    let
      storePath = builtins.storePath path;
      drv = {
        type = "derivation";
        name = lib.strings.sanitizeDerivationName (
          builtins.substring 33 (-1) (baseNameOf storePath)
        );
        outPath = storePath;
        outputs = [ "out" ];
        out = drv;
        outputName = "out";
      };
    in
    drv;
  # An output of a package, unless the package already names one (pkg.outputSpecified).
  getOutput =
    output: pkg:
    if !(pkg.outputSpecified or false) then pkg.${output} or pkg.out or pkg else pkg;
  getFirstOutput =
    candidates: pkg:
    let
      present = filter (o: pkg ? ${o}) candidates;
    in
    if pkg.outputSpecified or false || present == [ ] then pkg else pkg.${head present};
  getBin = getOutput "bin";
  getLib = getOutput "lib";
  getDev = getOutput "dev";
  getMan = getOutput "man";
  getStatic = getFirstOutput [
    "static"
    "lib"
    "out"
  ];
  getInclude = getFirstOutput [
    "include"
    "dev"
    "out"
  ];
  chooseDevOutputs = map getDev;
  recurseIntoAttrs = set: set // { recurseForDerivations = true; };
  dontRecurseIntoAttrs = set: set // { recurseForDerivations = false; };
}
