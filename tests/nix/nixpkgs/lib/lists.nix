# Stand-in for nixpkgs' lib.lists, written for attest's CI (no nixpkgs there; see default.nix).
# Covers: the list builtins the real one re-exports, folds, indexed maps, searching
# (findFirst, findSingle, elem, count, all/any), slicing (take, drop, sublist, last, init),
# set-like operations (unique, intersectLists, subtractLists), grouping and sorting (groupBy,
# partition, sortOn, compareLists).
# Leaves out: naturalSort, listDfs, toposort, crossLists, replaceElemAt, commonPrefix,
# lists.hasPrefix/removePrefix and the deprecated fold.
{ lib }:
let
  inherit (builtins)
    elemAt
    genList
    length
    ;
  inherit (lib.trivial) max;
in
rec {
  inherit (builtins)
    map
    filter
    head
    tail
    elem
    elemAt
    genList
    length
    isList
    concatLists
    concatMap
    all
    any
    sort
    partition
    groupBy
    ;
  "foldl'" = builtins."foldl'";

  singleton = x: [ x ];
  forEach = list: f: map f list;
  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  toList = x: if isList x then x else [ x ];
  replicate = n: x: genList (_: x) n;
  range = first: last: if first > last then [ ] else genList (i: first + i) (last - first + 1);

  # Right fold: op x0 (op x1 (... (op xn nul))).
  foldr =
    op: nul: list:
    let
      n = length list;
      from = i: if i == n then nul else op (elemAt list i) (from (i + 1));
    in
    from 0;
  # Left fold, lazy in the accumulator (foldl' is the strict one).
  foldl =
    op: nul: list:
    let
      upTo = i: if i < 0 then nul else op (upTo (i - 1)) (elemAt list i);
    in
    upTo (length list - 1);

  imap0 = f: list: genList (i: f i (elemAt list i)) (length list);
  imap1 = f: list: genList (i: f (i + 1) (elemAt list i)) (length list);
  ifilter0 =
    pred: list:
    map (i: elemAt list i) (filter (i: pred i (elemAt list i)) (genList (i: i) (length list)));

  flatten = x: if isList x then concatMap flatten x else [ x ];
  remove = x: filter (y: y != x);
  count = pred: builtins.foldl' (n: x: if pred x then n + 1 else n) 0;

  findFirstIndex =
    pred: default: list:
    let
      go =
        i:
        if i == length list then
          default
        else if pred (elemAt list i) then
          i
        else
          go (i + 1);
    in
    go 0;
  findFirst =
    pred: default: list:
    let
      i = findFirstIndex pred null list;
    in
    if i == null then default else elemAt list i;
  findSingle =
    pred: default: multiple: list:
    let
      found = filter pred list;
    in
    if found == [ ] then
      default
    else if length found == 1 then
      head found
    else
      multiple;

  zipListsWith =
    f: xs: ys:
    genList (i: f (elemAt xs i) (elemAt ys i)) (lib.trivial.min (length xs) (length ys));
  zipLists = zipListsWith (fst: snd: { inherit fst snd; });
  reverseList =
    list:
    let
      n = length list;
    in
    genList (i: elemAt list (n - 1 - i)) n;

  sublist =
    start: n: list:
    let
      len = length list;
      size =
        if start >= len then
          0
        else if start + n > len then
          len - start
        else
          n;
    in
    genList (i: elemAt list (start + i)) size;
  take = n: sublist 0 n;
  drop = n: list: sublist n (length list) list;
  takeEnd = n: list: drop (max 0 (length list - n)) list;
  dropEnd = n: list: take (max 0 (length list - n)) list;
  last =
    list:
    assert lib.asserts.assertMsg (list != [ ]) "lists.last: list must not be empty!";
    elemAt list (length list - 1);
  init =
    list:
    assert lib.asserts.assertMsg (list != [ ]) "lists.init: list must not be empty!";
    take (length list - 1) list;

  unique = builtins.foldl' (seen: x: if elem x seen then seen else seen ++ [ x ]) [ ];
  uniqueStrings = list: builtins.attrNames (groupBy (x: x) list);
  allUnique = list: length (unique list) == length list;
  intersectLists = xs: filter (x: elem x xs);
  subtractLists = xs: filter (x: !(elem x xs));
  mutuallyExclusive = xs: ys: xs == [ ] || !(any (y: elem y xs) ys);

  "groupBy'" =
    op: nul: key: list:
    builtins.mapAttrs (_: foldl op nul) (groupBy key list);

  # Sorts by a key computed once per element; stable like builtins.sort.
  sortOn =
    f: list:
    map (pair: pair.value) (
      sort (a: b: a.key < b.key) (
        map (x: {
          key = f x;
          value = x;
        }) list
      )
    );
  compareLists =
    cmp: xs: ys:
    if xs == [ ] then
      (if ys == [ ] then 0 else -1)
    else if ys == [ ] then
      1
    else
      let
        c = cmp (head xs) (head ys);
      in
      if c == 0 then compareLists cmp (tail xs) (tail ys) else c;

  concatAttrValues = set: concatLists (builtins.attrValues set);
}
