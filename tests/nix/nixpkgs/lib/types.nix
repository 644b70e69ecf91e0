# Stand-in for nixpkgs' lib.types, written for attest's CI (no nixpkgs there; see default.nix).
# Covers: mkOptionType and type merging (several declarations of one option), the scalar types
# (raw, anything, unspecified, bool, boolByOr, int, ints.*, port, float, number, numbers.*,
# str, nonEmptyStr, singleLineStr, strMatching, separatedString, lines, commas, envVar,
# passwdEntry, enum, path, pathInStore, externalPath, pathWith, package, shellPackage, pkgs,
# attrs, optionType), the composite ones (listOf, nonEmptyListOf, attrsOf, lazyAttrsOf,
# attrsWith, nullOr, either, oneOf, uniq, unique, functionTo, coercedTo, addCheck) and the
# module types (submodule, submoduleWith, deferredModule, deferredModuleWith).
# Leaves out: attrTag, attrListOf/attrListWith, fileset, json/toml/serializableValueWith,
# luaInline, loaOf, optionDeclaration, optionDescriptionPhrase, noCheckForDocsModule, and the
# "v2" merge protocol of the real types (`type.merge.v2`, which
# returns the value with a valueMeta): a type here is merged only as `type.merge loc defs`,
# after lib.modules has checked every definition with `type.check`. What the protocol makes
# observable is kept: overriding only the `check` of a composite type (`t // { check = f; }`)
# is an error (see internal.nix), `either` with definitions of both types is an error, and
# `either`'s merge called directly (freeformType = either ...) with definitions of neither
# type warns and takes the single definition.
{ lib }:
let
  inherit (builtins)
    all
    attrNames
    concatLists
    concatStringsSep
    elem
    elemAt
    filter
    head
    isAttrs
    isBool
    isFloat
    isInt
    isList
    isPath
    isString
    length
    mapAttrs
    match
    tail
    ;
  inherit (lib.trivial) isFunction;
  inherit (lib.options)
    getValues
    mergeDefaultOption
    mergeEqualOption
    mergeOneOption
    mergeUniqueOption
    showDefs
    showFiles
    showOption
    ;
  inherit (lib.strings) escapeNixString isStringLike;
  inherit (import ./internal.nix { inherit lib; }) coherentCheck coherentMerge assertCoherent;

  # For the functor of types with one nested type (listOf, nullOr, ...).
  elemTypeFunctor = name: payload: {
    inherit name payload;
    type = lib.types.${name};
    binOp =
      a: b:
      let
        merged = a.elemType.typeMerge b.elemType.functor;
      in
      if merged == null then null else { elemType = merged; };
  };

  # Inner types' descriptions in parentheses unless their class reads well unparenthesised.
  phrase =
    classes: t:
    if elem (t.descriptionClass or null) classes then t.description else "(${t.description})";

  allChecked = t: defs: all (def: t.check def.value) defs;

  # Whether a store path is a prefix of the path in the string s.
  hasStorePrefix =
    s:
    let
      parts = filter (p: p != "") (lib.strings.splitString "/" s);
      storeParts = filter (p: p != "") (lib.strings.splitString "/" builtins.storeDir);
      n = length storeParts;
    in
    (
      length parts > n
      && lib.lists.take n parts == storeParts
      && match ".{32}-.+" (elemAt parts n) != null
    )
    || (parts != [ ] && match "[0-9a-z]{52}" (head parts) != null);

  noCheckForDocsModule = {
    _file = "<built-in module that disables checks for the purpose of documentation generation>";
    config._module.check = lib.modules.mkForce false;
  };
in
rec {
  isType = type: x: (x._type or "") == type;
  setType = type: value: value // { _type = type; };
  isOptionType = isType "option-type";

  defaultFunctor = name: {
    inherit name;
    type = lib.types.${name} or null;
    payload = null;
    binOp = _: _: null;
  };
  # Merges two declarations' types, or gives null when they do not merge.
  defaultTypeMerge =
    f: f':
    if f.name != f'.name then
      null
    else if
      assert (f.payload == null) == (f'.payload == null);
      f.payload == null
    then
      f.type
    else
      let
        payload = f.binOp f.payload f'.payload;
      in
      if payload == null then null else f.type payload;

  mkOptionType =
    {
      name,
      description ? null,
      descriptionClass ? null,
      check ? (_: true),
      merge ? mergeDefaultOption,
      emptyValue ? { },
      getSubOptions ? _: { },
      getSubModules ? null,
      substSubModules ? _: null,
      typeMerge ? defaultTypeMerge functor,
      functor ? defaultFunctor name,
      deprecationMessage ? null,
      nestedTypes ? { },
    }:
    {
      _type = "option-type";
      inherit
        name
        descriptionClass
        check
        merge
        emptyValue
        getSubOptions
        getSubModules
        substSubModules
        typeMerge
        functor
        deprecationMessage
        nestedTypes
        ;
      description = if description == null then name else description;
    };

  mergeTypes =
    a: b:
    assert isOptionType a && isOptionType b;
    let
      merged = a.typeMerge b.functor;
    in
    if merged == null then setType "merge-error" { error = "Cannot merge types"; } else merged;

  # ---- scalars ----

  raw = mkOptionType {
    name = "raw";
    description = "raw value";
    descriptionClass = "noun";
    merge = mergeOneOption;
  };

  # Attribute sets merge attribute-wise, functions by merging their results, everything else
  # must be defined equally; all definitions must be of one kind.
  anything = mkOptionType {
    name = "anything";
    description = "anything";
    descriptionClass = "noun";
    merge =
      loc: defs:
      let
        kind = v: if isAttrs v && isStringLike v then "stringCoercibleSet" else builtins.typeOf v;
        first = kind (head defs).value;
        common =
          if all (def: kind def.value == first) defs then
            first
          else
            throw "The option `${showOption loc}' has definitions of different kinds (in ${showFiles (lib.options.getFiles defs)})";
      in
      if common == "set" then
        (attrsOf anything).merge loc defs
      else if common == "stringCoercibleSet" then
        mergeOneOption loc defs
      else if common == "lambda" then
        arg:
        anything.merge (loc ++ [ "<function body>" ]) (
          map (def: {
            inherit (def) file;
            value = def.value arg;
          }) defs
        )
      else
        mergeEqualOption loc defs;
  };

  unspecified = mkOptionType {
    name = "unspecified";
    description = "unspecified value";
    descriptionClass = "noun";
  };

  bool = mkOptionType {
    name = "bool";
    description = "boolean";
    descriptionClass = "noun";
    check = isBool;
    merge = mergeEqualOption;
  };

  boolByOr = mkOptionType {
    name = "boolByOr";
    description = "boolean (merged using or)";
    descriptionClass = "noun";
    check = isBool;
    merge = _: defs: builtins.any (def: def.value) defs;
  };

  int = mkOptionType {
    name = "int";
    description = "signed integer";
    descriptionClass = "noun";
    check = isInt;
    merge = mergeEqualOption;
  };

  ints =
    let
      range = lo: hi: "${toString lo} and ${toString hi} (both inclusive)";
      between =
        lo: hi:
        assert lib.asserts.assertMsg (lo <= hi) "ints.between: the lowest value is above the highest";
        addCheck int (x: x >= lo && x <= hi)
        // {
          name = "intBetween";
          description = "integer between ${range lo hi}";
        };
      sized =
        name: text: lo: hi:
        between lo hi
        // {
          inherit name;
          description = "${text}; between ${range lo hi}";
        };
      unsignedBits =
        bits: size:
        sized "unsignedInt${toString bits}" "${toString bits} bit unsigned integer" 0 (size - 1);
      signedBits =
        bits: size:
        sized "signedInt${toString bits}" "${toString bits} bit signed integer" (0 - size / 2) (
          size / 2 - 1
        );
    in
    {
      inherit between;
      unsigned = addCheck int (x: x >= 0) // {
        name = "unsignedInt";
        description = "unsigned integer, meaning >=0";
        descriptionClass = "nonRestrictiveClause";
      };
      positive = addCheck int (x: x > 0) // {
        name = "positiveInt";
        description = "positive integer, meaning >0";
        descriptionClass = "nonRestrictiveClause";
      };
      u8 = unsignedBits 8 256;
      u16 = unsignedBits 16 65536;
      u32 = unsignedBits 32 4294967296;
      s8 = signedBits 8 256;
      s16 = signedBits 16 65536;
      s32 = signedBits 32 4294967296;
    };

  port = ints.u16;

  float = mkOptionType {
    name = "float";
    description = "floating point number";
    descriptionClass = "noun";
    check = isFloat;
    merge = mergeEqualOption;
  };

  number = either int float;

  numbers =
    let
      range = lo: hi: "${builtins.toJSON lo} and ${builtins.toJSON hi} (both inclusive)";
    in
    {
      between =
        lo: hi:
        assert lib.asserts.assertMsg (
          lo <= hi
        ) "numbers.between: the lowest value is above the highest";
        addCheck number (x: x >= lo && x <= hi)
        // {
          name = "numberBetween";
          description = "integer or floating point number between ${range lo hi}";
        };
      nonnegative = addCheck number (x: x >= 0) // {
        name = "numberNonnegative";
        description = "nonnegative integer or floating point number, meaning >=0";
        descriptionClass = "nonRestrictiveClause";
      };
      positive = addCheck number (x: x > 0) // {
        name = "numberPositive";
        description = "positive integer or floating point number, meaning >0";
        descriptionClass = "nonRestrictiveClause";
      };
    };

  str = mkOptionType {
    name = "str";
    description = "string";
    descriptionClass = "noun";
    check = isString;
    merge = mergeEqualOption;
  };

  nonEmptyStr = mkOptionType {
    name = "nonEmptyStr";
    description = "non-empty string";
    descriptionClass = "noun";
    check = x: isString x && match "[ \t\n]*" x == null;
    merge = mergeEqualOption;
  };

  strMatching =
    pattern:
    mkOptionType {
      name = "strMatching ${escapeNixString pattern}";
      description = "string matching the pattern ${pattern}";
      descriptionClass = "noun";
      check = x: isString x && match pattern x != null;
      merge = mergeEqualOption;
      functor = defaultFunctor "strMatching" // {
        type = payload: strMatching payload.pattern;
        payload = { inherit pattern; };
        binOp = a: b: if a == b then a else null;
      };
    };

  # One line, optionally ending in a newline, which the value drops.
  singleLineStr = mkOptionType {
    name = "singleLineStr";
    description = "(optionally newline-terminated) single-line string";
    descriptionClass = "noun";
    check = (strMatching "[^\n\r]*\n?").check;
    merge = loc: defs: lib.strings.removeSuffix "\n" (mergeEqualOption loc defs);
  };

  # Strings of all definitions joined with sep (in definition order, mkBefore/mkAfter apply).
  separatedString =
    sep:
    mkOptionType {
      name = "separatedString";
      description = "strings concatenated with ${builtins.toJSON sep}";
      descriptionClass = "noun";
      check = isString;
      merge = _: defs: concatStringsSep sep (getValues defs);
      functor = defaultFunctor "separatedString" // {
        type = payload: separatedString payload.sep;
        payload = { inherit sep; };
        binOp = a: b: if a.sep == b.sep then { inherit (a) sep; } else null;
      };
    };
  lines = separatedString "\n";
  commas = separatedString ",";
  envVar = separatedString ":";

  passwdEntry =
    entryType:
    addCheck entryType (s: !(lib.strings.hasInfix ":" s || lib.strings.hasInfix "\n" s))
    // {
      name = "passwdEntry ${entryType.name}";
      description = "${phrase [ "noun" ] entryType}, not containing newlines or colons";
      descriptionClass = "nonRestrictiveClause";
    };

  enum =
    values:
    let
      show =
        v:
        if isString v then
          ''"${v}"''
        else if isInt v then
          toString v
        else if isBool v then
          lib.trivial.boolToString v
        else
          "<${builtins.typeOf v}>";
    in
    mkOptionType {
      name = "enum";
      description =
        if values == [ ] then
          "impossible (empty enum)"
        else if length values == 1 then
          "value ${show (head values)} (singular enum)"
        else
          "one of ${concatStringsSep ", " (map show values)}";
      descriptionClass = if length values < 2 then "noun" else "conjunction";
      check = x: elem x values;
      merge = mergeEqualOption;
      functor = defaultFunctor "enum" // {
        type = payload: enum payload.values;
        payload = { inherit values; };
        binOp = a: b: { values = lib.lists.unique (a.values ++ b.values); };
      };
    };

  attrs = mkOptionType {
    name = "attrs";
    description = "attribute set";
    check = isAttrs;
    merge = _: defs: builtins.foldl' (acc: def: acc // def.value) { } defs;
    emptyValue.value = { };
  };

  # inStore: null (either), true or false; absolute: null (either), true or false.
  pathWith =
    {
      inStore ? null,
      absolute ? null,
    }:
    lib.trivial.throwIf (inStore != null && absolute != null && inStore && !absolute)
      "pathWith: a path in the store is absolute (inStore = true, absolute = false)"
      mkOptionType
      {
        name = "path";
        description =
          (
            if absolute == null then
              ""
            else if absolute then
              "absolute "
            else
              "relative "
          )
          + "path"
          + (
            if inStore == null then
              ""
            else if inStore then
              " in the Nix store"
            else
              " not in the Nix store"
          );
        descriptionClass = "noun";
        check =
          x:
          (if inStore == null || inStore then isStringLike x else isString x)
          && (
            inStore == null
            || inStore == hasStorePrefix (
              let
                s = builtins.unsafeDiscardStringContext (toString x);
              in
              if lib.strings.hasPrefix "/" s then s else "/" + s
            )
          )
          && (absolute == null || absolute == (builtins.substring 0 1 (toString x) == "/"));
        merge = mergeEqualOption;
        functor = defaultFunctor "path" // {
          type = pathWith;
          payload = { inherit inStore absolute; };
          binOp = a: b: if a == b then a else null;
        };
      };
  path = pathWith { absolute = true; };
  pathInStore = pathWith { inStore = true; };
  externalPath = pathWith {
    absolute = true;
    inStore = false;
  };

  # A derivation or a store path; a plain store path becomes a derivation-like set.
  package = mkOptionType {
    name = "package";
    descriptionClass = "noun";
    check = x: lib.attrsets.isDerivation x || lib.strings.isStorePath x;
    merge =
      loc: defs:
      let
        value = mergeOneOption loc defs;
      in
      if isPath value || (isString value && !builtins.hasContext value) then
        lib.attrsets.toDerivation value
      else
        value;
  };
  shellPackage = package // {
    check = x: lib.attrsets.isDerivation x && x ? shellPath;
  };

  # A Nixpkgs package set (its _type is "pkgs"), defined once.
  pkgs = addCheck (
    unique { message = "A Nixpkgs pkgs set can not be merged with another pkgs set."; } attrs
    // {
      name = "pkgs";
      descriptionClass = "noun";
      description = "Nixpkgs package set";
    }
  ) (x: (x._type or null) == "pkgs");

  # An option type as a value (freeformType); several definitions merge like declarations.
  optionType = mkOptionType {
    name = "optionType";
    description = "optionType";
    descriptionClass = "noun";
    check = isType "option-type";
    merge =
      loc: defs:
      if length defs == 1 then
        (head defs).value
      else
        (lib.modules.fixupOptionType loc (
          lib.modules.mergeOptionDecls loc (
            map (
              { file, value }:
              {
                _file = file;
                options = lib.options.mkOption { type = value; };
              }
            ) defs
          )
        )).type;
  };

  # ---- composites ----

  # Elements of all definitions, in definition order; an element may be `mkIf false`.
  listOf =
    elemType:
    mkOptionType {
      name = "listOf";
      description = "list of ${
        phrase [
          "noun"
          "composite"
        ] elemType
      }";
      descriptionClass = "composite";
      check = coherentCheck isList;
      merge = coherentMerge (
        loc: defs:
        let
          elements = concatLists (
            lib.lists.imap1 (
              n: def:
              lib.lists.imap1 (
                m: value:
                lib.modules.mergeDefinitions
                  (loc ++ [ "[definition ${toString n}-entry ${toString m}]" ])
                  elemType
                  [
                    {
                      inherit (def) file;
                      inherit value;
                    }
                  ]
              ) def.value
            ) defs
          );
        in
        map (e: e.mergedValue) (filter (e: e.isDefined) elements)
      );
      emptyValue.value = [ ];
      getSubOptions = prefix: elemType.getSubOptions (prefix ++ [ "*" ]);
      getSubModules = elemType.getSubModules;
      substSubModules = m: listOf (elemType.substSubModules m);
      functor = elemTypeFunctor "listOf" { inherit elemType; } // {
        type = payload: listOf payload.elemType;
      };
      nestedTypes.elemType = elemType;
    };

  nonEmptyListOf =
    elemType:
    let
      list = addCheck (listOf elemType) (l: l != [ ]);
    in
    list
    // {
      description = "non-empty ${phrase [ "noun" ] list}";
      emptyValue = { };
      substSubModules = m: nonEmptyListOf (elemType.substSubModules m);
    };

  attrsOf = elemType: attrsWith { inherit elemType; };
  lazyAttrsOf =
    elemType:
    attrsWith {
      inherit elemType;
      lazy = true;
    };
  # Attributes of all definitions merged by name with elemType. Lazy: the attribute names
  # do not depend on the definitions' conditions (an attribute defined only under `mkIf false`
  # is present and fails when read, unless elemType has an empty value).
  attrsWith =
    {
      elemType,
      lazy ? false,
      placeholder ? "name",
    }:
    mkOptionType {
      name = if lazy then "lazyAttrsOf" else "attrsOf";
      description =
        (if lazy then "lazy attribute set" else "attribute set")
        + " of ${
          phrase [
            "noun"
            "composite"
          ] elemType
        }";
      descriptionClass = "composite";
      check = coherentCheck isAttrs;
      merge = coherentMerge (
        loc: defs:
        let
          byName = builtins.zipAttrsWith (
            name: defs: lib.modules.mergeDefinitions (loc ++ [ name ]) elemType defs
          ) (
            map (
              def:
              mapAttrs (_: value: {
                inherit (def) file;
                inherit value;
              }) def.value
            ) defs
          );
        in
        if lazy then
          mapAttrs (
            _: m: if m.isDefined then m.mergedValue else elemType.emptyValue.value or m.mergedValue
          ) byName
        else
          mapAttrs (_: m: m.mergedValue) (lib.attrsets.filterAttrs (_: m: m.isDefined) byName)
      );
      emptyValue.value = { };
      getSubOptions = prefix: elemType.getSubOptions (prefix ++ [ "<${placeholder}>" ]);
      getSubModules = elemType.getSubModules;
      substSubModules =
        m:
        attrsWith {
          elemType = elemType.substSubModules m;
          inherit lazy placeholder;
        };
      functor = elemTypeFunctor "attrsWith" { inherit elemType lazy placeholder; } // {
        binOp =
          a: b:
          let
            elemType = a.elemType.typeMerge b.elemType.functor;
            lazy = if a.lazy == b.lazy then a.lazy else null;
            placeholder =
              if a.placeholder == b.placeholder then
                a.placeholder
              else if a.placeholder == "name" then
                b.placeholder
              else if b.placeholder == "name" then
                a.placeholder
              else
                null;
          in
          if elemType == null || lazy == null || placeholder == null then
            null
          else
            { inherit elemType lazy placeholder; };
      };
      nestedTypes.elemType = elemType;
    };

  # One definition only (uniq) or with a message (unique), otherwise like `type`.
  unique =
    { message }:
    type:
    mkOptionType {
      name = "unique";
      inherit (type) description descriptionClass check;
      merge = mergeUniqueOption {
        inherit message;
        inherit (type) merge;
      };
      inherit (type) emptyValue getSubOptions getSubModules;
      substSubModules = m: uniq (type.substSubModules m);
      functor = elemTypeFunctor "unique" { elemType = type; } // {
        type = payload: unique { inherit message; } payload.elemType;
      };
      nestedTypes.elemType = type;
    };
  uniq = unique { message = ""; };

  nullOr =
    elemType:
    mkOptionType {
      name = "nullOr";
      description = "null or ${
        phrase [
          "noun"
          "conjunction"
        ] elemType
      }";
      descriptionClass = "conjunction";
      check = x: x == null || elemType.check x;
      merge =
        loc: defs:
        let
          nulls = length (filter (def: def.value == null) defs);
        in
        if nulls == 0 then
          elemType.merge loc defs
        else if nulls == length defs then
          null
        else
          throw "The option `${showOption loc}` is defined both null and not null, in ${showFiles (lib.options.getFiles defs)}.";
      emptyValue.value = null;
      inherit (elemType) getSubOptions getSubModules;
      substSubModules = m: nullOr (elemType.substSubModules m);
      functor = elemTypeFunctor "nullOr" { inherit elemType; } // {
        type = payload: nullOr payload.elemType;
      };
      nestedTypes.elemType = elemType;
    };

  # A function whose result is the merge (with elemType) of every definition's result.
  functionTo =
    elemType:
    mkOptionType {
      name = "functionTo";
      description = "function that evaluates to a(n) ${
        phrase [
          "noun"
          "composite"
        ] elemType
      }";
      descriptionClass = "composite";
      check = isFunction;
      merge = loc: defs: {
        __functionArgs = builtins.zipAttrsWith (_: all (x: x)) (
          map (def: lib.trivial.functionArgs def.value) defs
        );
        __functor =
          _: arg:
          (lib.modules.mergeDefinitions (loc ++ [ "<function body>" ]) elemType (
            map (def: {
              inherit (def) file;
              value = def.value arg;
            }) defs
          )).mergedValue;
      };
      getSubOptions = prefix: elemType.getSubOptions (prefix ++ [ "<function body>" ]);
      getSubModules = elemType.getSubModules;
      substSubModules = m: functionTo (elemType.substSubModules m);
      functor = elemTypeFunctor "functionTo" { inherit elemType; } // {
        type = payload: functionTo payload.elemType;
      };
      nestedTypes.elemType = elemType;
    };

  # t1 if every definition is a t1, else t2 if every one is a t2.
  either =
    t1: t2:
    mkOptionType rec {
      name = "either";
      description =
        if t1.descriptionClass or null == "nonRestrictiveClause" then
          "${t1.description}, or ${
            phrase [
              "noun"
              "conjunction"
            ] t2
          }"
        else
          "${
            phrase [
              "noun"
              "conjunction"
            ] t1
          } or ${
            phrase [
              "noun"
              "conjunction"
              "composite"
            ] t2
          }";
      descriptionClass = "conjunction";
      check = coherentCheck (x: t1.check x || t2.check x);
      merge = coherentMerge (
        loc: defs:
        if assertCoherent loc t1 (allChecked t1 defs) then
          t1.merge loc defs
        else if assertCoherent loc t2 (allChecked t2 defs) then
          t2.merge loc defs
        else if all (def: t1.check def.value || t2.check def.value) defs then
          # Some definitions of each type (the module system has checked every one).
          throw "A definition for option `${showOption loc}' is not of type `${description}'. Its definitions are not all of type `${t1.description}` nor all of type `${t2.description}`. Definition values:${showDefs defs}"
        else
          # Only when the merge is called directly (freeformType), without the checks.
          lib.trivial.warn
            "`${showOption loc}`: definitions that are neither of type `${t1.description}` nor of type `${t2.description}` (an `either` type used directly as freeformType? use attrsOf (either ...)). Definition values:${showDefs defs}"
            (mergeOneOption loc defs)
      );
      typeMerge =
        f':
        let
          mt1 = t1.typeMerge (head f'.payload.elemType).functor;
          mt2 = t2.typeMerge (elemAt f'.payload.elemType 1).functor;
        in
        if name == f'.name && mt1 != null && mt2 != null then functor.type mt1 mt2 else null;
      functor = elemTypeFunctor "either" {
        elemType = [
          t1
          t2
        ];
      };
      nestedTypes.left = t1;
      nestedTypes.right = t2;
    };

  oneOf =
    ts:
    if ts == [ ] then
      throw "types.oneOf: the list of types is empty"
    else
      builtins.foldl' either (head ts) (tail ts);

  # Definitions of coercedType are converted with coerceFunc, then merged as finalType.
  coercedTo =
    coercedType: coerceFunc: finalType:
    assert lib.asserts.assertMsg (
      coercedType.getSubModules == null
    ) "coercedTo: the type to coerce from (${coercedType.description}) cannot be a submodule";
    mkOptionType {
      name = "coercedTo";
      description = "${phrase [ "noun" ] finalType} or ${
        phrase [ "noun" ] coercedType
      } convertible to it";
      check = coherentCheck (
        x: (coercedType.check x && finalType.check (coerceFunc x)) || finalType.check x
      );
      merge = coherentMerge (
        loc: defs:
        let
          coerced = map (
            def:
            def
            // {
              value =
                if assertCoherent loc coercedType (coercedType.check def.value) then
                  coerceFunc def.value
                else
                  def.value;
            }
          ) defs;
        in
        assertCoherent loc finalType (
          if !(finalType.merge.needsCoherentCheck or false) || allChecked finalType coerced then
            finalType.merge loc coerced
          else
            throw "A definition for option `${showOption loc}' is not of type `${finalType.description}'. Definition values:${
              showDefs (filter (def: !finalType.check def.value) coerced)
            }"
        )
      );
      inherit (finalType) emptyValue getSubOptions getSubModules;
      substSubModules = m: coercedTo coercedType coerceFunc (finalType.substSubModules m);
      typeMerge = _: null;
      functor = defaultFunctor "coercedTo";
      nestedTypes.coercedType = coercedType;
      nestedTypes.finalType = finalType;
    };

  # `type` with a further check. Its merge is type's, so a further check that fails only
  # below the top level of the value is not enforced (as in the real lib).
  addCheck =
    type: extra:
    let
      check = x: type.check x && extra x;
    in
    type
    // {
      check =
        if (type.merge.needsCoherentCheck or false) && (type.check.isV2MergeCoherent or false) then
          coherentCheck check
        else
          check;
    };

  # ---- modules ----

  submodule =
    modules:
    submoduleWith {
      shorthandOnlyDefinesConfig = true;
      modules = lib.lists.toList modules;
    };

  # A value evaluated as a configuration of `modules` plus the definitions; the `name`
  # module argument is the last element of the option path (the attribute name in attrsOf).
  submoduleWith =
    {
      modules,
      specialArgs ? { },
      shorthandOnlyDefinesConfig ? false,
      description ? null,
      class ? null,
    }@args:
    let
      # A definition that is an attribute set is the module's config (submodule) or a module.
      # Only `file` and `value` are accepted, as in the real lib: a definition sorted by mkOrder
      # (it has a `priority`) is an error there too.
      asModule =
        { file, value }:
        if isAttrs value && shorthandOnlyDefinesConfig then
          {
            _file = file;
            config = value;
          }
        else
          {
            _file = file;
            imports = [ value ];
          };
      base = lib.modules.evalModules {
        inherit class specialArgs;
        modules = [ { _module.args.name = lib.modules.mkOptionDefault "‹name›"; } ] ++ modules;
      };
      freeformType = base._module.freeformType;
      docsEval = base.extendModules { modules = [ noCheckForDocsModule ]; };
    in
    mkOptionType {
      name = "submodule";
      description =
        if description != null then
          description
        else if docsEval._module.freeformType ? description then
          "open submodule of ${
            phrase [
              "noun"
              "composite"
            ] docsEval._module.freeformType
          }"
        else
          "submodule";
      check = coherentCheck (x: isAttrs x || isFunction x || path.check x);
      merge = coherentMerge (
        loc: defs:
        (base.extendModules {
          modules = [ { _module.args.name = lib.lists.last loc; } ] ++ map asModule defs;
          prefix = loc;
        }).config
      );
      emptyValue.value = base.config;
      getSubOptions =
        prefix:
        let
          eval = base.extendModules {
            inherit prefix;
            modules = [ noCheckForDocsModule ];
          };
        in
        eval.options
        // lib.attrsets.optionalAttrs (eval._module.freeformType != null) {
          _freeformOptions = eval._module.freeformType.getSubOptions prefix;
        };
      getSubModules = modules;
      substSubModules = m: submoduleWith (args // { modules = m; });
      nestedTypes = lib.attrsets.optionalAttrs (freeformType != null) { inherit freeformType; };
      functor = defaultFunctor "submodule" // {
        type = submoduleWith;
        payload = {
          inherit
            modules
            class
            specialArgs
            shorthandOnlyDefinesConfig
            description
            ;
        };
        binOp =
          a: b:
          let
            # null on one side gives the other; two non-null values must agree.
            agree =
              what: x: y:
              if x == null then
                y
              else if y == null then
                x
              else if x == y then
                x
              else
                throw "Declarations of one submoduleWith option disagree on ${what}";
            sharedArgs = builtins.intersectAttrs a.specialArgs b.specialArgs;
          in
          {
            class =
              let
                x = a.class or null;
                y = b.class or null;
              in
              if x == null || y == null || x == y then
                (if x == null then y else x)
              else
                throw "Declarations of one submoduleWith option disagree on the class: \"${toString x}\" and \"${toString y}\".";
            modules = a.modules ++ b.modules;
            specialArgs =
              if sharedArgs == { } then
                a.specialArgs // b.specialArgs
              else
                throw "Declarations of one submoduleWith option both give the specialArgs ${toString (attrNames sharedArgs)}";
            shorthandOnlyDefinesConfig =
              agree "shorthandOnlyDefinesConfig" a.shorthandOnlyDefinesConfig
                b.shorthandOnlyDefinesConfig;
            description = agree "the description" a.description b.description;
          };
      };
    };

  # A module, not evaluated: all definitions become one module importing each of them, which
  # can be used as `imports = [ value ]` or as a submodule definition.
  deferredModule = deferredModuleWith { };
  deferredModuleWith =
    {
      staticModules ? [ ],
    }@args:
    let
      static = submoduleWith { modules = staticModules; };
    in
    mkOptionType {
      name = "deferredModule";
      description = "module";
      descriptionClass = "noun";
      check = x: isAttrs x || isFunction x || path.check x;
      merge = loc: defs: {
        imports =
          staticModules
          ++ map (
            def:
            lib.modules.setDefaultModuleLocation "${def.file}, via option ${showOption loc}" (
              def.value
            )
          ) defs;
      };
      inherit (static) getSubOptions getSubModules;
      substSubModules = m: deferredModuleWith (args // { staticModules = m; });
      functor = defaultFunctor "deferredModuleWith" // {
        type = deferredModuleWith;
        payload = { inherit staticModules; };
        binOp = a: b: { staticModules = a.staticModules ++ b.staticModules; };
      };
    };
}
