# Stand-in for nixpkgs' lib.modules, written for attest's CI (no nixpkgs there; see default.nix).
# Covers the module system as the NixOS test framework and attest's modules use it:
# - evalModules { modules, specialArgs, class, prefix } (and the deprecated args/check) giving
#   { config, options, type, extendModules, _module, graph, class };
# - modules as attribute sets, functions (their arguments by name from specialArgs, `lib`,
#   `config`, `options` and config._module.args, lazily) and paths; `imports`, `key`, `_file`,
#   `_class`, `disabledModules`, `meta` and `freeformType` at a module's top level, the
#   options/config split or the config-only shorthand;
# - definitions with mkIf, mkMerge, mkOverride (mkDefault, mkForce, mkOptionDefault, ...),
#   mkOrder (mkBefore, mkAfter), mkDefinition; option defaults, apply, readOnly;
# - per-option results: value, isDefined, highestPrio, definitions, files,
#   definitionsWithLocations, declarations;
# - the errors: undeclared options (unless _module.check is off or a freeformType takes them),
#   type errors, conflicting and duplicate definitions, options declared twice, options read
#   without a value;
# - _module.args (with extendModules and moduleType), _module.specialArgs,
#   _module.freeformType, _module.check;
# - mkAliasDefinitions, mkAliasAndWrapDefinitions, mkAliasAndWrapDefsWithPriority,
#   mkDerivedConfig, mkRemovedOptionModule, mkRenamedOptionModule, mkAliasOptionModule,
#   doRename, setDefaultModuleLocation, importApply, importJSON, mapDefinitionValue.
# Leaves out: the option-name suggestions ("Did you mean ...") of the undeclared-option error,
# the valueMeta of options, mkMergedOptionModule/mkChangedOptionModule,
# mkRenamedOptionModuleWith, mkAliasOptionModuleMD, mkAliasIfDef, mkFixStrictness,
# fixMergeModules, mergeAttrDefinitionsWithPrio, importTOML and the deprecated low-level
# exports (mergeModules, mergeModules', unifyModuleSyntax, collectModules,
# applyModuleArgsIfFunction). Error messages say the same things as the real ones (the option's
# path first) in other words, except the phrases quoted in tests/nix/lib-check/messages.nix.
{ lib }:
let
  inherit (builtins)
    addErrorContext
    all
    any
    attrNames
    concatLists
    concatMap
    concatStringsSep
    elem
    filter
    head
    isAttrs
    isBool
    isList
    isString
    length
    mapAttrs
    substring
    ;
  inherit (lib.lists) imap1 last optional reverseList;
  inherit (lib.attrsets)
    attrByPath
    mapAttrsToList
    optionalAttrs
    setAttrByPath
    zipAttrs
    ;
  inherit (lib.trivial) isFunction;
  inherit (lib.options)
    isOption
    mkOption
    showDefs
    showFiles
    showOption
    unknownModule
    ;
  inherit (lib) types;
  inherit (import ./internal.nix { inherit lib; }) assertCoherent;

  defaultOverridePriority = 100;
  defaultOrderPriority = 1000;

  # ---- definitions with properties ----

  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };
  mkOverride = priority: content: {
    _type = "override";
    inherit priority content;
  };
  mkOrder = priority: content: {
    _type = "order";
    inherit priority content;
  };
  # A definition with its own file (for definitions made on behalf of another file).
  mkDefinition = args@{ file, value, ... }: args // { _type = "definition"; };

  # A config value as a list of attribute sets without mkMerge or mkIf/mkOverride at the top:
  # those are moved onto each attribute, so that a condition is only evaluated by the options
  # below it (which is what lets mkIf conditions read config).
  pushDownProperties =
    cfg:
    let
      kind = cfg._type or "";
      wrapEach = f: v: if isAttrs v then mapAttrs (_: f) v else v;
    in
    if kind == "merge" then
      concatMap pushDownProperties cfg.contents
    else if kind == "if" then
      map (wrapEach (mkIf cfg.condition)) (pushDownProperties cfg.content)
    else if kind == "override" then
      map (wrapEach (mkOverride cfg.priority)) (pushDownProperties cfg.content)
    else
      [ cfg ];

  # An option's definition as a list of values: mkMerge flattened, mkIf decided.
  dischargeProperties =
    def:
    let
      kind = def._type or "";
    in
    if kind == "merge" then
      concatMap dischargeProperties def.contents
    else if kind == "if" then
      if !isBool def.condition then
        throw "‘mkIf’ called with a non-Boolean condition"
      else if def.condition then
        dischargeProperties def.content
      else
        [ ]
    else
      [ def ];

  # The definitions of the best (numerically lowest) priority, mkOverride removed.
  priorityOf =
    def:
    if def.value._type or "" == "override" then def.value.priority else defaultOverridePriority;
  unwrapOverride =
    def: if def.value._type or "" == "override" then def // { value = def.value.content; } else def;
  filterOverrides' =
    defs:
    let
      best =
        if length defs == 1 then
          priorityOf (head defs)
        else
          builtins.foldl' (p: def: lib.trivial.min p (priorityOf def)) 9999 defs;
    in
    {
      highestPrio = best;
      values = map unwrapOverride (filter (def: length defs == 1 || priorityOf def == best) defs);
    };
  filterOverrides = defs: (filterOverrides' defs).values;

  # Stable sort by mkOrder priority (default 1000), mkOrder removed.
  sortProperties =
    defs:
    let
      unwrap =
        def:
        if def.value._type or "" == "order" then
          def
          // {
            value = def.value.content;
            inherit (def.value) priority;
          }
        else
          def;
    in
    builtins.sort (
      a: b: (a.priority or defaultOrderPriority) < (b.priority or defaultOrderPriority)
    ) (map unwrap defs);

  # ---- merging one option ----

  # { mergedValue, isDefined, optionalValue, defsFinal, defsFinal' } of definitions
  # [ { file, value } ] of an option at `loc` of type `type`.
  mergeDefinitions = loc: type: defs: rec {
    defsFinal' =
      let
        discharged = concatMap (
          def:
          map (
            value:
            if value._type or null == "definition" then
              value
            else
              {
                inherit (def) file;
                inherit value;
              }
          ) (
            addErrorContext "while evaluating definitions from `${def.file}':" (
              dischargeProperties def.value
            )
          )
        ) defs;
        filtered = filterOverrides' discharged;
      in
      # A single definition without properties is taken as it is.
      if
        length defs == 1
        && addErrorContext "while evaluating definitions from `${(head defs).file}':" (
          !(isAttrs (head defs).value && (head defs).value ? _type)
        )
      then
        {
          values = defs;
          highestPrio = defaultOverridePriority;
        }
      else
        {
          inherit (filtered) highestPrio;
          values =
            if any (def: def.value._type or "" == "order") filtered.values then
              sortProperties filtered.values
            else
              filtered.values;
        };
    defsFinal = defsFinal'.values;
    isDefined = defsFinal != [ ];
    mergedValue =
      if isDefined then
        assertCoherent loc type (
          if all (def: type.check def.value) defsFinal then
            type.merge loc defsFinal
          else
            throw "A definition for option `${showOption loc}' is not of type `${type.description}'. Definition values:${
              showDefs (filter (def: !type.check def.value) defsFinal)
            }"
        )
      else if type.emptyValue ? value then
        type.emptyValue.value
      else
        throw "The option `${showOption loc}' was accessed but has no value defined. Try setting the option.";
    optionalValue = if isDefined then { value = mergedValue; } else { };
  };

  # Several declarations of one option (from different modules) as one: their types merge,
  # at most one of them may give default, example, description or apply, and the submodules
  # of their types are collected in `options` (see fixupOptionType).
  mergeOptionDecls =
    loc: decls:
    builtins.foldl' (
      acc: decl:
      let
        opt = decl.options;
        duplicate = throw "The option `${showOption loc}' in `${decl._file}' is already declared in ${showFiles acc.declarations}.";
        both = k: opt ? ${k} && acc ? ${k};
        mergedType =
          if opt ? type && acc ? type then
            let
              t = acc.type.typeMerge opt.type.functor;
            in
            if t == null then duplicate else { type = t; }
          else
            { };
        subModules = opt.type.getSubModules or null;
      in
      if both "default" || both "example" || both "description" || both "apply" then
        duplicate
      else
        opt
        // acc
        // {
          declarations = acc.declarations ++ [ decl._file ];
          declarationPositions =
            acc.declarationPositions
            ++ [
              (
                if decl.pos or null != null then
                  decl.pos
                else
                  {
                    file = decl._file;
                    line = null;
                    column = null;
                  }
              )
            ];
          options =
            if subModules != null then
              map (setDefaultModuleLocation decl._file) subModules ++ acc.options
            else
              acc.options;
        }
        // mergedType
    ) {
      inherit loc;
      declarations = [ ];
      declarationPositions = [ ];
      options = [ ];
    } decls;

  # Gives the option its final type: the declared submodules go into the type.
  fixupOptionType =
    loc: opt:
    if opt.type.getSubModules or null == null then
      opt // { type = opt.type or types.unspecified; }
    else
      opt
      // {
        type = opt.type.substSubModules opt.options;
        options = [ ];
      };

  # The option record of config.<loc>: the declaration and the merged definitions.
  evalOptionValue =
    loc: opt: defs:
    let
      withDefault =
        optional (opt ? default) {
          file = head opt.declarations;
          value = mkOptionDefault opt.default;
        }
        ++ defs;
      merged =
        if opt.readOnly or false && length withDefault > 1 then
          throw "The option `${showOption loc}' is read-only, but it's set multiple times. Definition values:${
            showDefs (
              map (
                def: def // { value = (mergeDefinitions loc opt.type [ def ]).mergedValue; }
              ) withDefault
            )
          }"
        else
          mergeDefinitions loc opt.type withDefault;
      value = if opt ? apply then opt.apply merged.mergedValue else merged.mergedValue;
      deprecated =
        if opt.type.deprecationMessage or null != null then
          lib.trivial.warn "The option `${showOption loc}' (declared in ${showFiles opt.declarations}) has a deprecated type, types.${opt.type.name}: ${opt.type.deprecationMessage}"
        else
          x: x;
    in
    deprecated opt
    // {
      value = addErrorContext "while evaluating the option `${showOption loc}':" value;
      inherit (merged.defsFinal') highestPrio;
      definitions = map (def: def.value) merged.defsFinal;
      files = map (def: def.file) merged.defsFinal;
      definitionsWithLocations = merged.defsFinal;
      inherit (merged) isDefined;
      __toString = _: showOption loc;
    };

  # ---- merging modules ----

  # Declarations and definitions of all modules, level by level of the option tree:
  # { matchedOptions = <tree of option records>; unmatchedDefns = [ { file, prefix, value } ]; }
  mergeModules =
    prefix: modules:
    mergeModules' prefix modules (
      concatMap (
        m:
        map (config: {
          file = m._file;
          inherit config;
        }) (pushDownProperties m.config)
      ) modules
    );

  # `decls`: [ { _file, options } ] with `options` this level's declarations;
  # `defs`: [ { file, config } ] with `config` this level's definitions.
  mergeModules' =
    prefix: decls: defs:
    let
      declsByName = zipAttrs (
        map (
          decl:
          if !isAttrs decl.options then
            throw "The options declared at `${concatStringsSep "." prefix}' are a ${builtins.typeOf decl.options}, not an attribute set of options (is this a definition that belongs outside `options'?)"
          else
            mapAttrs (name: option: {
              inherit (decl) _file;
              pos = builtins.unsafeGetAttrPos name decl.options;
              options = option;
            }) decl.options
        ) decls
      );
      checkedDefs =
        assert all (
          def:
          isAttrs def.config
          || throw "In module `${def.file}', `${concatStringsSep "." prefix}' is defined as a value of type ${builtins.typeOf def.config} rather than an attribute set: it is not an option but holds options."
        ) defs;
        defs;
      # For the levels below: each attribute's definitions with properties pushed down again.
      subDefsByName = builtins.zipAttrsWith (_: concatLists) (
        map (
          def:
          mapAttrs (
            _: value:
            map (config: {
              inherit (def) file;
              inherit config;
            }) (pushDownProperties value)
          ) def.config
        ) checkedDefs
      );
      # For options of this level: each attribute's definitions as they are.
      defsByName = zipAttrs (
        map (
          def:
          mapAttrs (_: value: {
            inherit (def) file;
            inherit value;
          }) def.config
        ) checkedDefs
      );
      results = mapAttrs (
        name: decls:
        let
          loc = prefix ++ [ name ];
          optionDecls = filter (
            d:
            d.options ? _type
            && (
              d.options._type == "option" || throwDeclarationTypeError loc d.options._type d._file
            )
          ) decls;
          asOption =
            decls': {
              matchedOptions =
                evalOptionValue loc (fixupOptionType loc (mergeOptionDecls loc decls'))
                  (defsByName.${name} or [ ]);
              unmatchedDefns = [ ];
            };
        in
        if length optionDecls == length decls then
          asOption decls
        else if optionDecls != [ ] then
          # Options declared inside a submodule option's namespace join the submodule.
          if all (d: d.options.type.name or null == "submodule") optionDecls then
            asOption (
              map (
                d:
                if isOption d.options then
                  d
                else
                  d
                  // {
                    options = mkOption {
                      type = types.submoduleWith {
                        modules = [ { options = d.options; } ];
                        shorthandOnlyDefinesConfig = null;
                      };
                    };
                  }
              ) decls
            )
          else
            throw "The option `${showOption loc}' in module `${(head optionDecls)._file}' has options declared below it, but its type `${
              (head optionDecls).options.type.description or "<no description>"
            }' is not a submodule:\n${
              concatStringsSep "\n" (
                builtins.sort (a: b: a < b) (
                  concatMap (
                    d:
                    map (
                      n:
                      " - `${showOption (loc ++ [ n ])}' in module `${d._file}'"
                    ) (attrNames d.options)
                  ) (filter (d: !isOption d.options) decls)
                )
              )
            }"
        else
          mergeModules' loc decls (subDefsByName.${name} or [ ])
      ) declsByName;
      matchedOptions = mapAttrs (_: r: r.matchedOptions) results;
      unmatchedByName =
        mapAttrs (_: r: r.unmatchedDefns) results
        // removeAttrs defsByName (attrNames matchedOptions);
    in
    {
      inherit matchedOptions;
      unmatchedDefns =
        if defs == [ ] then
          [ ]
        else
          concatLists (
            mapAttrsToList (
              name: defs': map (def: def // { prefix = [ name ] ++ (def.prefix or [ ]); }) defs'
            ) unmatchedByName
          );
    };

  throwDeclarationTypeError =
    loc: tag: file:
    throw (
      "In module ${file}: the declaration at option path `${showOption loc}` is not an option (mkOption) but an attribute set of _type ${tag}."
      + lib.strings.optionalString (
        tag == "option-type"
      ) " Declare it as `${lib.strings.escapeNixIdentifier (last loc)} = lib.mkOption { type = ...; }`."
    );

  # ---- loading modules ----

  # A module in the form { _file, _class, key, disabledModules, imports, options, config }.
  unifyModuleSyntax =
    file: key: m:
    let
      withMeta =
        config:
        if m ? meta then
          mkMerge [
            config
            { meta = m.meta; }
          ]
        else
          config;
      withFreeform =
        config:
        if m ? freeformType then
          mkMerge [
            config
            { _module.freeformType = m.freeformType; }
          ]
        else
          config;
      common = {
        _file = toString (m._file or file);
        _class = m._class or null;
        key = toString (m.key or key);
        disabledModules = m.disabledModules or [ ];
      };
      extra = removeAttrs m [
        "_class"
        "_file"
        "key"
        "disabledModules"
        "imports"
        "options"
        "config"
        "meta"
        "freeformType"
      ];
    in
    if m ? config || m ? options then
      if extra != { } then
        throw "Module `${key}' has an unsupported attribute `${head (attrNames extra)}'. A module with `config' or `options' can have no other definitions at its top level: move ${toString (attrNames extra)} into `config', or drop `config' and `options'."
      else
        common
        // {
          imports = m.imports or [ ];
          options = m.options or { };
          config = withFreeform (withMeta (m.config or { }));
        }
    else if !isAttrs m then
      throw "module ${file} (${key}) is neither an attribute set nor a function, so not a module."
    else
      # Shorthand: everything but the module's own attributes is config.
      common
      // {
        imports = m.require or [ ] ++ m.imports or [ ];
        options = { };
        config = withFreeform (
          removeAttrs m [
            "_class"
            "_file"
            "key"
            "disabledModules"
            "require"
            "imports"
            "freeformType"
          ]
        );
      };

  # Calls a module function with the arguments it names: those given (lib, config, options,
  # specialArgs and its attributes, ...) or else config._module.args.<name>. Each is looked up
  # only when the module uses it.
  applyModuleArgs =
    key: f:
    args@{ config, ... }:
    f (
      args
      // mapAttrs (
        name: _:
        addErrorContext "while evaluating the module argument `${name}' in \"${key}\":" (
          args.${name} or config._module.args.${name}
        )
      ) (lib.trivial.functionArgs f)
    );
  applyModuleArgsIfFunction =
    key: f: args: if isFunction f then applyModuleArgs key f args else f;

  # All modules reachable from `initialModules` through imports, each once (by key), without
  # the disabled ones, in breadth-first order; and the import graph.
  collectModules =
    class: modulesPath: initialModules: args:
    let
      load =
        file: key: m:
        if isFunction m then
          unifyModuleSyntax file key (applyModuleArgs key m args)
        else if isAttrs m then
          if m._type or "module" == "module" then
            unifyModuleSyntax file key m
          else if m._type == "if" || m._type == "override" then
            load file key { config = m; }
          else
            throw "A value of _type \"${m._type}\" is not a module${
              lib.strings.optionalString (
                file != null && file != unknownModule
              ) " (imported by ${toString file})"
            }${
              lib.strings.optionalString (
                args._prefix != [ ]
              ) " (in a module evaluation at ${showOption args._prefix})"
            }."
        else if isList m then
          throw "A module in `imports' is a list: imports must be a flat list of modules. Definitions: ${
            showDefs [
              {
                inherit file;
                value = m;
              }
            ]
          }"
        else
          unifyModuleSyntax (toString m) (toString m) (
            applyModuleArgsIfFunction (toString m) (import m) args
          );

      checkClass =
        m:
        if class == null || m._class == null || m._class == class then
          m
        else
          throw "The module `${m._file or m.key}` (class: ${lib.strings.escapeNixString m._class}) is not for this evaluation, whose modules are of class ${lib.strings.escapeNixString class}.";

      # [ { key, module, modules = <its imports, likewise>, disabled } ]
      tree =
        parentFile: parentKey: modules:
        imap1 (
          n: x:
          let
            module = checkClass (load parentFile "${parentKey}:anon-${toString n}" x);
            imported = tree module._file module.key module.imports;
          in
          {
            inherit (module) key;
            inherit module;
            modules = imported;
            disabled =
              optional (module.disabledModules != [ ]) {
                file = module._file;
                disabled = module.disabledModules;
              }
              ++ concatMap (t: t.disabled) imported;
          }
        ) modules;
      roots = tree unknownModule "" initialModules;

      disabledKeys = concatMap (
        { file, disabled }: map (disabledKey file) disabled
      ) (concatMap (t: t.disabled) roots);
      disabledKey =
        file: m:
        if isString m then
          (if substring 0 1 m == "/" then m else toString modulesPath + "/" + m)
        else if lib.strings.isConvertibleWithToString m then
          if m ? key && m.key != toString m then
            throw "In module `${file}`, a disabledModules item both is a string (${toString m}) and has a different key (${m.key}): which module it disables is ambiguous."
          else
            toString m
        else if m ? key then
          m.key
        else if isAttrs m then
          throw "In module `${file}`, a disabledModules item is an attribute set without a `key`, so it names no module: disable a module by its path, its path relative to modulesPath, or its key."
        else
          throw "In module `${toString file}`, a disabledModules item is a ${builtins.typeOf m}: it must be a path, a string or an attribute set with a key.";
      isDisabled = t: elem t.key disabledKeys;
      enabled = filter (t: !isDisabled t);

      toGraph = t: {
        disabled = isDisabled t;
        inherit (t) key;
        file = t.module._file;
        imports = map toGraph t.modules;
      };
    in
    {
      modules = map (t: t.module) (
        builtins.genericClosure {
          startSet = enabled roots;
          operator = t: enabled t.modules;
        }
      );
      graph = map toGraph (filter (t: t.key != "lib/modules.nix") roots);
    };

  # ---- evaluation ----

  evalModules =
    evalArgs@{
      modules,
      prefix ? [ ],
      specialArgs ? { },
      class ? null,
      # Deprecated: config._module.args and config._module.check instead.
      args ? { },
      check ? true,
    }:
    let
      legacyModules =
        optional (evalArgs ? args) { config._module.args = args; }
        ++ optional (evalArgs ? check) { config._module.check = mkDefault check; };
      warnLegacy =
        x:
        lib.trivial.warnIf (evalArgs ? args)
          "The args argument to evalModules is deprecated. Please set config._module.args instead."
          (
            lib.trivial.warnIf (evalArgs ? check)
              "The check argument to evalModules is deprecated. Please set config._module.check instead."
              x
          );
      allModules = modules ++ legacyModules;

      # The options every evaluation has.
      internalModule = {
        _file = "lib/modules.nix";
        key = "lib/modules.nix";
        options._module.args = mkOption (
          {
            type = types.lazyAttrsOf types.raw;
            description = "Arguments of the module functions, besides lib, config, options and specialArgs.";
          }
          // optionalAttrs (prefix != [ ]) { internal = true; }
        );
        options._module.check = mkOption {
          type = types.bool;
          internal = true;
          default = true;
          description = "Whether a definition of an undeclared option is an error.";
        };
        options._module.freeformType = mkOption {
          type = types.nullOr types.optionType;
          internal = true;
          default = null;
          description = "The type of the definitions of undeclared options, which then belong to config.";
        };
        options._module.specialArgs = mkOption {
          readOnly = true;
          internal = true;
          description = "The specialArgs of the evaluation: module arguments fixed from outside, usable in imports.";
        };
        config._module.args = {
          inherit extendModules;
          moduleType = type;
        };
        config._module.specialArgs = specialArgs;
      };

      # What module functions are called with (besides config._module.args).
      moduleArgs = {
        inherit lib options specialArgs;
        _class = class;
        _prefix = prefix;
        config = addErrorContext "while reading `config` for a module argument (imports cannot depend on config: import unconditionally and use mkIf instead)" config;
      }
      // specialArgs;
      collected = collectModules class (specialArgs.modulesPath or "") (
        allModules ++ [ internalModule ]
      ) moduleArgs;

      merged = mergeModules prefix (reverseList collected.modules);
      options = merged.matchedOptions;

      declaredConfig = lib.attrsets.mapAttrsRecursiveCond (v: !isOption v) (
        _: opt: opt.value
      ) options;
      freeformType = declaredConfig._module.freeformType;
      # Definitions no option takes, merged with the freeform type.
      freeformConfig =
        let
          defs = map (def: {
            inherit (def) file;
            value = setAttrByPath def.prefix def.value;
          }) merged.unmatchedDefns;
        in
        if defs == [ ] then { } else freeformType.merge prefix defs;
      config =
        if freeformType == null then
          declaredConfig
        else
          lib.attrsets.recursiveUpdate freeformConfig declaredConfig;

      # The error for a definition of an option that is not declared.
      checkUnmatched =
        if
          config._module.check
          && config._module.freeformType == null
          && merged.unmatchedDefns != [ ]
        then
          let
            def = head merged.unmatchedDefns;
            optText = showOption (prefix ++ def.prefix);
            message = "The option `${optText}' does not exist. Definition values:${
              addErrorContext "while showing the definitions of the undeclared option `${optText}'" (
                showDefs [ def ]
              )
            }";
          in
          if attrNames options == [ "_module" ] then
            if prefix == [ ] then
              throw ''
                ${message}

                No option is declared at all: is it set in `config' rather than `options' (with mkOption)?
              ''
            else
              throw ''
                ${message}

                `${showOption prefix}' declares no options at all: were its options written under `config' instead of `options' (in types.submodule, for instance)?
              ''
          else
            throw message
        else
          null;
      checked = builtins.seq checkUnmatched;

      extendModules =
        extendArgs@{
          modules ? [ ],
          specialArgs ? { },
          prefix ? [ ],
        }:
        evalModules (
          evalArgs
          // {
            modules = allModules ++ modules;
            specialArgs = evalArgs.specialArgs or { } // specialArgs;
            prefix = extendArgs.prefix or evalArgs.prefix or [ ];
          }
        );

      # This evaluation's modules as the type of a submodule option.
      type = types.submoduleWith { inherit modules specialArgs class; };
    in
    warnLegacy {
      _type = "configuration";
      options = checked options;
      config = checked (removeAttrs config [ "_module" ]);
      _module = checked config._module;
      inherit (collected) graph;
      inherit extendModules type class;
    };

  # ---- helpers for modules ----

  setDefaultModuleLocation = file: m: {
    _file = file;
    imports = [ m ];
  };
  importApply = modulePath: arg: setDefaultModuleLocation modulePath (import modulePath arg);
  importJSON = file: {
    _file = file;
    config = lib.trivial.importJSON file;
  };

  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkImageMediaOverride = mkOverride 60;
  mkForce = mkOverride 50;
  mkVMOverride = mkOverride 10;
  mkBefore = mkOrder 500;
  mkAfter = mkOrder 1500;
  mkAssert =
    assertion: message: content:
    mkIf (if assertion then true else throw "\nFailed assertion: ${message}") content;

  # f applied to the value inside a definition, keeping mkIf, mkOverride, mkOrder, ...
  mapDefinitionValue =
    f: def:
    let
      kind = def._type or null;
    in
    if kind == "merge" then
      def // { contents = map (mapDefinitionValue f) def.contents; }
    else if kind == "if" || kind == "override" || kind == "order" then
      def // { content = mapDefinitionValue f def.content; }
    else if kind == "definition" then
      def // { value = mapDefinitionValue f def.value; }
    else
      f def;

  # Definitions for another option from an option's definitions (see doRename).
  mkAliasAndWrapDefinitions =
    wrap: option: mkIf option.isDefined (wrap (mkMerge option.definitions));
  mkAliasDefinitions = mkAliasAndWrapDefinitions (x: x);
  mkAliasAndWrapDefsWithPriority =
    wrap: option:
    mkIf option.isDefined (
      wrap (
        mkMerge (
          map (mkOverride (option.highestPrio or defaultOverridePriority)) option.definitions
        )
      )
    );
  mkDerivedConfig = opt: f: mkOverride (opt.highestPrio or defaultOverridePriority) (f opt.value);

  # Declares `from` as an alias of the existing option `to`.
  doRename =
    {
      from,
      to,
      visible,
      warn,
      use,
      withPriority ? true,
      condition ? true,
    }:
    { config, options, ... }:
    let
      fromOpt = lib.attrsets.getAttrFromPath from options;
      toOf = attrByPath to (abort "Renaming error: option `${showOption to}' does not exist.");
      toType = (attrByPath to { } options).type or (types.submodule { });
    in
    {
      options = setAttrByPath from (
        mkOption {
          inherit visible;
          description = "Another name of `${showOption to}`.";
          apply = _: use (toOf config);
        }
        // optionalAttrs (toType != null) { type = toType; }
      );
      config = mkIf condition (mkMerge [
        (optionalAttrs (options ? warnings) {
          warnings =
            optional (warn && fromOpt.isDefined)
              "`${showOption from}' (defined in ${showFiles fromOpt.files}) is an old name of `${showOption to}': use that.";
        })
        (
          if withPriority then
            mkAliasAndWrapDefsWithPriority (setAttrByPath to) fromOpt
          else
            mkAliasAndWrapDefinitions (setAttrByPath to) fromOpt
        )
      ]);
    };
  mkRenamedOptionModule =
    from: to:
    doRename {
      inherit from to;
      visible = false;
      warn = true;
      use =
        builtins.trace "`${showOption from}' is read, an old name of `${showOption to}'.";
    };
  mkAliasOptionModule =
    from: to:
    doRename {
      inherit from to;
      visible = true;
      warn = false;
      use = x: x;
    };
  mkRemovedOptionModule =
    optionName: replacementInstructions:
    { options, ... }:
    {
      options = setAttrByPath optionName (mkOption {
        visible = false;
        apply =
          _:
          throw "The option `${showOption optionName}' has been removed. ${replacementInstructions}";
      });
      config.assertions =
        let
          opt = lib.attrsets.getAttrFromPath optionName options;
        in
        [
          {
            assertion = !opt.isDefined;
            message = ''
              The option `${showOption optionName}' (defined in ${showFiles opt.files}) has been removed and does nothing: remove its definitions.
              ${replacementInstructions}
            '';
          }
        ];
    };
in
{
  inherit
    defaultOrderPriority
    defaultOverridePriority
    dischargeProperties
    doRename
    evalModules
    evalOptionValue
    filterOverrides
    filterOverrides'
    fixupOptionType
    importApply
    importJSON
    mapDefinitionValue
    mergeDefinitions
    mergeOptionDecls
    mkAfter
    mkAliasAndWrapDefinitions
    mkAliasAndWrapDefsWithPriority
    mkAliasDefinitions
    mkAliasOptionModule
    mkAssert
    mkBefore
    mkDefault
    mkDefinition
    mkDerivedConfig
    mkForce
    mkIf
    mkImageMediaOverride
    mkMerge
    mkOptionDefault
    mkOrder
    mkOverride
    mkRemovedOptionModule
    mkRenamedOptionModule
    mkVMOverride
    pushDownProperties
    setDefaultModuleLocation
    sortProperties
    ;
}
