# A stand-in for nixpkgs' `lib`, written for attest's CI, which has Debian's nix-bin (2.8) and
# neither nixpkgs nor a network. `import ./tests/nix/nixpkgs/lib` is used as `lib` to evaluate
# attest's modules for nixpkgs' NixOS test framework against stand-ins of the parts of nixpkgs
# they touch.
#
# It is a test fixture that must be faithful: a module that evaluates with it must evaluate to
# the same config with the real lib, and the errors attest relies on (type errors, conflicting
# definitions, undeclared options, missing values) are errors in both. tests/nix/lib-check
# compares the two on a set of cases (expected.json holds the real lib's results).
#
# Covers the module system (modules.nix, options.nix, types.nix) and the common library
# functions (attrsets, lists, strings, trivial, fixed points, asserts, debug, meta,
# derivations), re-exported at the top level under the same names as in the real lib, in the
# same namespaces. Each file's header says what it covers and what it leaves out; beyond those,
# there is no lib.systems, lib.fileset, lib.generators, lib.path, lib.versions, lib.cli,
# lib.customisation (callPackageWith, makeOverridable, ...), lib.sources, lib.filesystem, and
# lib.platforms and lib.licenses have only the entries attest uses.
# Nothing here exists under a name the real lib does not have (tests/nix/lib-check/run checks
# that too when given the real lib).
let
  lib = makeLib lib;

  makeLib =
    self:
    let
      call = file: import file { lib = self; };
    in
    {
      trivial = call ./trivial.nix;
      lists = call ./lists.nix;
      strings = call ./strings.nix;
      attrsets = call ./attrsets.nix;
      fixedPoints = call ./fixed-points.nix;
      asserts = call ./asserts.nix;
      debug = call ./debug.nix;
      meta = call ./meta.nix;
      derivations = call ./derivations.nix;
      modules = call ./modules.nix;
      options = call ./options.nix;
      types = call ./types.nix;
      platforms = call ./platforms.nix;
      licenses = call ./licenses.nix;

      # lib.extend (final: prev: { ... }): this lib with an overlay applied.
      extend = f: self.fixedPoints.fix (self.fixedPoints.extends f makeLib);

      inherit (builtins)
        getContext
        hasContext
        hashString
        parseDrvName
        placeholder
        fromJSON
        fromTOML
        toFile
        toJSON
        toString
        toXML
        tryEval
        ;
      inherit (self.trivial)
        id
        const
        pipe
        concat
        "or"
        and
        mul
        div
        xor
        bitAnd
        bitOr
        bitXor
        bitNot
        boolToString
        boolToYesNo
        mergeAttrs
        flip
        defaultTo
        mapNullable
        isFloat
        min
        max
        importJSON
        importTOML
        warn
        warnIf
        warnIfNot
        throwIf
        throwIfNot
        version
        oldestSupportedReleaseIsAtLeast
        mod
        compare
        splitByAndCompare
        seq
        deepSeq
        lessThan
        add
        sub
        functionArgs
        setFunctionArgs
        isFunction
        toFunction
        mirrorFunctionArgs
        inPureEvalMode
        toHexString
        toBaseDigits
        isBool
        isInt
        pathExists
        genericClosure
        readFile
        ceil
        floor
        ;
      inherit (self.fixedPoints)
        fix
        fix'
        extends
        composeExtensions
        composeManyExtensions
        makeExtensible
        makeExtensibleWithCustomName
        toExtension
        ;
      inherit (self.attrsets)
        attrByPath
        hasAttrByPath
        setAttrByPath
        getAttrFromPath
        attrVals
        attrNames
        attrValues
        getAttrs
        catAttrs
        filterAttrs
        filterAttrsRecursive
        foldlAttrs
        foldAttrs
        collect
        nameValuePair
        mapAttrs
        mapAttrs'
        mapAttrsToList
        attrsToList
        concatMapAttrs
        mapAttrsRecursive
        mapAttrsRecursiveCond
        genAttrs
        genAttrs'
        isDerivation
        toDerivation
        optionalAttrs
        zipAttrsWithNames
        zipAttrsWith
        zipAttrs
        recursiveUpdateUntil
        recursiveUpdate
        matchAttrs
        mergeAttrsList
        overrideExisting
        showAttrPath
        getOutput
        getFirstOutput
        getBin
        getLib
        getStatic
        getDev
        getInclude
        getMan
        chooseDevOutputs
        recurseIntoAttrs
        dontRecurseIntoAttrs
        cartesianProduct
        mapCartesianProduct
        listToAttrs
        hasAttr
        getAttr
        isAttrs
        intersectAttrs
        removeAttrs
        ;
      inherit (self.lists)
        singleton
        forEach
        map
        foldr
        foldl
        foldl'
        imap0
        imap1
        filter
        ifilter0
        concatMap
        flatten
        remove
        findSingle
        findFirst
        any
        all
        count
        optional
        optionals
        toList
        range
        replicate
        partition
        zipListsWith
        zipLists
        reverseList
        sort
        sortOn
        compareLists
        take
        takeEnd
        drop
        dropEnd
        sublist
        last
        init
        unique
        uniqueStrings
        allUnique
        intersectLists
        subtractLists
        mutuallyExclusive
        groupBy
        groupBy'
        concatLists
        genList
        length
        head
        tail
        elem
        elemAt
        isList
        concatAttrValues
        ;
      inherit (self.strings)
        concatStrings
        concatMapStrings
        concatImapStrings
        stringLength
        substring
        isString
        replaceString
        replaceStrings
        intersperse
        concatStringsSep
        concatMapStringsSep
        concatMapAttrsStringSep
        concatImapStringsSep
        concatLines
        makeSearchPath
        makeSearchPathOutput
        makeLibraryPath
        makeIncludePath
        makeBinPath
        optionalString
        hasInfix
        hasPrefix
        hasSuffix
        join
        stringToCharacters
        stringAsChars
        escape
        escapeShellArg
        escapeShellArgs
        isStorePath
        isStringLike
        isValidPosixName
        toShellVar
        toShellVars
        trim
        trimWith
        escapeRegex
        lowerChars
        upperChars
        toLower
        toUpper
        typeOf
        addContextFrom
        splitString
        removePrefix
        removeSuffix
        versionOlder
        versionAtLeast
        getName
        getVersion
        match
        split
        cmakeOptionType
        cmakeBool
        cmakeFeature
        mesonOption
        mesonBool
        mesonEnable
        enableFeature
        enableFeatureAs
        withFeature
        withFeatureAs
        fixedWidthString
        fixedWidthNumber
        toInt
        toIntBase10
        fileContents
        appendContext
        unsafeDiscardStringContext
        ;
      inherit (self.derivations)
        lazyDerivation
        optionalDrvAttr
        unsafeDiscardOutputDependency
        ;
      inherit (self.meta)
        addMetaAttrs
        setPrio
        lowPrio
        hiPrio
        getExe
        getExe'
        ;
      inherit (builtins)
        baseNameOf
        dirOf
        isPath
        hashFile
        readDir
        compareVersions
        splitVersion
        ;
      inherit (self.modules)
        evalModules
        setDefaultModuleLocation
        mergeOptionDecls
        mergeDefinitions
        pushDownProperties
        dischargeProperties
        filterOverrides
        sortProperties
        fixupOptionType
        mkIf
        mkAssert
        mkDefinition
        mkMerge
        mkOverride
        mkOptionDefault
        mkDefault
        mkImageMediaOverride
        mkForce
        mkVMOverride
        mkOrder
        mkBefore
        mkAfter
        mkAliasDefinitions
        mkAliasAndWrapDefinitions
        mkRemovedOptionModule
        mkRenamedOptionModule
        mkAliasOptionModule
        mkDerivedConfig
        doRename
        ;
      inherit (self.options)
        isOption
        mkEnableOption
        mkSinkUndeclaredOptions
        mergeDefaultOption
        mergeOneOption
        mergeEqualOption
        mergeUniqueOption
        getValues
        getFiles
        scrubOptionValue
        literalExpression
        showOption
        showOptionWithDefLocs
        showFiles
        unknownModule
        mkOption
        mkPackageOption
        literalMD
        ;
      inherit (self.types)
        isType
        setType
        defaultTypeMerge
        defaultFunctor
        isOptionType
        mkOptionType
        ;
      inherit (self.asserts)
        assertMsg
        assertOneOf
        ;
      inherit (self.debug)
        trace
        traceIf
        traceVal
        traceValFn
        traceSeq
        traceValSeq
        traceValSeqFn
        addErrorContext
        unsafeGetAttrPos
        ;
    };
in
lib
