# Stand-in for nixpkgs' lib.strings, written for attest's CI (no nixpkgs there; see default.nix).
# Covers: concatenation (concatStrings, concatMapStringsSep, concatLines, ...), prefixes and
# suffixes, splitting and trimming, case, shell and Nix escaping, search paths (makeBinPath,
# makeSearchPath), package names (getName, getVersion), version comparison, toInt, the
# meson/cmake/configure flag helpers and the string builtins the real one re-exports.
# Leaves out: the deprecation warnings the real one gives for path arguments to
# hasPrefix/hasSuffix/hasInfix/removePrefix/removeSuffix (the results are the same),
# levenshtein/levenshteinAtMost, commonPrefixLength/commonSuffixLength, escapeURL, escapeXML,
# escapeC, normalizePath, splitStringBy, toCamelCase/toSentenceCase, nameFromURL, charToInt,
# floatToString, and the list and file builtins the real lib.strings also re-exports (elem,
# head, readFile, storeDir, ...).
{ lib }:
let
  inherit (builtins)
    concatStringsSep
    elem
    filter
    genList
    head
    isList
    isString
    length
    match
    replaceStrings
    stringLength
    substring
    ;
  inherit (lib.trivial) boolToString;
in
rec {
  inherit (builtins)
    concatStringsSep
    replaceStrings
    stringLength
    substring
    isString
    match
    split
    typeOf
    unsafeDiscardStringContext
    appendContext
    parseDrvName
    compareVersions
    ;
  join = concatStringsSep;
  replaceString = from: to: replaceStrings [ from ] [ to ];

  concatStrings = concatStringsSep "";
  concatMapStrings = f: list: concatStrings (map f list);
  concatImapStrings = f: list: concatStrings (lib.lists.imap1 f list);
  concatMapStringsSep =
    sep: f: list:
    concatStringsSep sep (map f list);
  concatImapStringsSep =
    sep: f: list:
    concatStringsSep sep (lib.lists.imap1 f list);
  concatMapAttrsStringSep =
    sep: f: attrs:
    concatStringsSep sep (builtins.attrValues (builtins.mapAttrs f attrs));
  # Every line followed by a newline; "" for no lines.
  concatLines = lines: if lines == [ ] then "" else concatStringsSep "\n" lines + "\n";
  intersperse =
    sep: list:
    if length list < 2 then
      list
    else
      builtins.tail (
        builtins.concatMap (x: [
          sep
          x
        ]) list
      );

  optionalString = cond: s: if cond then s else "";

  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
  hasSuffix =
    suffix: s:
    let
      n = stringLength s;
      k = stringLength suffix;
    in
    n >= k && substring (n - k) n s == suffix;
  hasInfix = infix: s: match ".*${escapeRegex infix}.*" "${s}" != null;
  removePrefix =
    prefix: s:
    let
      k = stringLength prefix;
    in
    if substring 0 k s == prefix then substring k (-1) s else s;
  removeSuffix =
    suffix: s:
    let
      n = stringLength s;
      k = stringLength suffix;
    in
    if k <= n && substring (n - k) k s == suffix then substring 0 (n - k) s else s;

  stringToCharacters = s: genList (i: substring i 1 s) (stringLength s);
  stringAsChars = f: s: concatStrings (map f (stringToCharacters s));

  lowerChars = stringToCharacters "abcdefghijklmnopqrstuvwxyz";
  upperChars = stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  toLower = replaceStrings upperChars lowerChars;
  toUpper = replaceStrings lowerChars upperChars;

  # Prefix every occurrence of the given characters with a backslash.
  escape = chars: replaceStrings chars (map (c: "\\" + c) chars);
  escapeRegex = escape (stringToCharacters "\\[{()^$?*+|.");
  # Words of safe characters stay as they are; anything else is single-quoted.
  escapeShellArg =
    arg:
    let
      s = toString arg;
    in
    if match "[[:alnum:],._+:@%/-]+" s != null then
      s
    else
      "'" + replaceStrings [ "'" ] [ "'\\''" ] s + "'";
  escapeShellArgs = args: concatStringsSep " " (map escapeShellArg args);
  escapeNixString = s: escape [ "$" ] (builtins.toJSON s);
  escapeNixIdentifier =
    s:
    if
      match "[a-zA-Z_][a-zA-Z0-9_'-]*" s != null
      && !elem s [
        "assert"
        "else"
        "if"
        "in"
        "inherit"
        "let"
        "or"
        "rec"
        "then"
        "with"
      ]
    then
      s
    else
      escapeNixString s;
  isValidPosixName = name: match "[a-zA-Z_][a-zA-Z0-9_]*" name != null;
  toShellVar =
    name: value:
    lib.trivial.throwIfNot (isValidPosixName name)
      "toShellVar: ${name} is not a valid shell variable name"
      (
      if builtins.isAttrs value && !isStringLike value then
        "declare -A ${name}=(${
          concatStringsSep " " (
            lib.attrsets.mapAttrsToList (n: v: "[${escapeShellArg n}]=${escapeShellArg v}") value
          )
        })"
      else if isList value then
        "declare -a ${name}=(${escapeShellArgs value})"
      else
        "${name}=${escapeShellArg value}"
    );
  toShellVars = vars: concatStringsSep "\n" (lib.attrsets.mapAttrsToList toShellVar vars);

  splitString =
    sep: s:
    map (part: addContextFrom s part) (
      filter isString (builtins.split (escapeRegex (toString sep)) (toString s))
    );
  addContextFrom = src: target: substring 0 0 src + target;

  # Whitespace is space, tab, CR and LF.
  trimWith =
    {
      start ? false,
      end ? false,
    }:
    let
      ws = "[ \t\r\n]*";
      pattern =
        if start && end then
          "${ws}(.*[^ \t\r\n])${ws}"
        else if start then
          "${ws}(.*)"
        else if end then
          "(.*[^ \t\r\n])${ws}"
        else
          "(.*)";
    in
    s:
    let
      m = match pattern s;
    in
    if m == null then "" else head m;
  trim = trimWith {
    start = true;
    end = true;
  };

  isStringLike = x: isString x || builtins.isPath x || x ? outPath || x ? __toString;
  isConvertibleWithToString =
    x:
    isStringLike x
    || elem (builtins.typeOf x) [
      "null"
      "int"
      "float"
      "bool"
    ]
    || (isList x && builtins.all isConvertibleWithToString x);
  isStorePath =
    x:
    if isStringLike x then
      let
        s = toString x;
      in
      substring 0 1 s == "/"
      && (builtins.dirOf s == builtins.storeDir || match "/[0-9a-z]{52}" s != null)
    else
      false;

  makeSearchPath =
    subDir: paths: concatStringsSep ":" (map (p: p + "/" + subDir) (filter (p: p != null) paths));
  makeSearchPathOutput =
    output: subDir: pkgs:
    makeSearchPath subDir (map (lib.attrsets.getOutput output) pkgs);
  makeBinPath = makeSearchPathOutput "bin" "bin";
  makeLibraryPath = makeSearchPathOutput "lib" "lib";
  makeIncludePath = makeSearchPathOutput "dev" "include";

  getName =
    x:
    if isString x then
      (builtins.parseDrvName x).name
    else
      x.pname or (builtins.parseDrvName x.name).name;
  getVersion =
    x:
    if isString x then
      (builtins.parseDrvName x).version
    else
      x.version or (builtins.parseDrvName x.name).version;
  versionOlder = a: b: builtins.compareVersions b a == 1;
  versionAtLeast = a: b: !(versionOlder a b);

  sanitizeDerivationName =
    s:
    let
      plain = builtins.unsafeDiscardStringContext s;
      stripped = head (match "\\.*(.*)" plain);
      dashed = concatStrings (
        map (part: if isList part then "-" else part) (
          builtins.split "[^[:alnum:]+._?=-]+" stripped
        )
      );
      clipped = substring (lib.trivial.max (stringLength dashed - 207) 0) (-1) dashed;
    in
    if stringLength s <= 207 && match "[[:alnum:]+_?=-][[:alnum:]+._?=-]*" s != null then
      plain
    else if clipped == "" then
      "unknown"
    else
      clipped;

  fixedWidthString =
    width: filler: s:
    let
      n = stringLength s;
    in
    assert lib.asserts.assertMsg (n <= width)
      "fixedWidthString: the string is longer (${toString n}) than the width (${toString width})";
    if n == width then s else filler + fixedWidthString (width - stringLength filler) filler s;
  fixedWidthNumber = width: n: fixedWidthString width "0" (toString n);

  # Decimal integers only: surrounding whitespace is allowed, leading zeros are not.
  toInt =
    s:
    let
      digits = match "[[:space:]]*(-?[[:digit:]]+)[[:space:]]*" s;
      fail = throw "toInt: Could not convert ${escapeNixString s} to int.";
    in
    if digits == null then
      fail
    else if match "0[[:digit:]]+" (head digits) != null then
      throw "toInt: ${escapeNixString s} has leading zeros (octal or decimal?): use toIntBase10 for decimal."
    else
      let
        n = builtins.fromJSON (head digits);
      in
      if builtins.isInt n then n else fail;
  # Like toInt, but leading zeros are read as decimal.
  toIntBase10 =
    s:
    let
      digits = match "[[:space:]]*0*(-?[[:digit:]]+)[[:space:]]*" s;
      fail = throw "toIntBase10: Could not convert ${escapeNixString s} to int.";
    in
    if digits == null then
      fail
    else if match "0+" (head digits) != null then
      0
    else
      let
        n = builtins.fromJSON (head digits);
      in
      if builtins.isInt n then n else fail;

  fileContents = file: removeSuffix "\n" (builtins.readFile file);

  mesonOption =
    feature: value:
    assert isString feature;
    assert isString value;
    "-D${feature}=${value}";
  mesonBool =
    condition: flag:
    assert isString condition;
    assert builtins.isBool flag;
    mesonOption condition (boolToString flag);
  mesonEnable =
    feature: flag:
    assert isString feature;
    assert builtins.isBool flag;
    mesonOption feature (if flag then "enabled" else "disabled");
  cmakeOptionType =
    type: feature: value:
    assert elem (toUpper type) [
      "BOOL"
      "FILEPATH"
      "PATH"
      "STRING"
      "INTERNAL"
      "LIST"
    ];
    assert isString feature;
    assert isString value;
    "-D${feature}:${toUpper type}=${value}";
  cmakeBool =
    condition: flag:
    assert isString condition;
    assert builtins.isBool flag;
    cmakeOptionType "bool" condition (toUpper (boolToString flag));
  cmakeFeature =
    feature: value:
    assert isString feature;
    assert isString value;
    cmakeOptionType "string" feature value;
  enableFeature =
    flag: feature:
    assert builtins.isBool flag;
    assert isString feature;
    "--${if flag then "enable" else "disable"}-${feature}";
  enableFeatureAs =
    flag: feature: value:
    enableFeature flag feature + optionalString flag "=${value}";
  withFeature =
    flag: feature:
    assert isString feature;
    "--${if flag then "with" else "without"}-${feature}";
  withFeatureAs =
    flag: feature: value:
    withFeature flag feature + optionalString flag "=${value}";
}
