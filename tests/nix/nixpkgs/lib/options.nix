# Stand-in for nixpkgs' lib.options, written for attest's CI (no nixpkgs there; see default.nix).
# Covers: mkOption, mkEnableOption, mkPackageOption, mkSinkUndeclaredOptions, the standard merge
# functions of option types (mergeDefaultOption, mergeOneOption, mergeUniqueOption,
# mergeEqualOption), literalExpression/literalMD/literalCode, and what error messages use
# (showOption, showFiles, showDefs, showOptionWithDefLocs, getValues, getFiles).
# Leaves out: optionAttrSetToDocList and the rest of the documentation machinery, and
# renderOptionValue. showDefs prints values with the stand-in's own printer (internal.nix), so
# messages read a little differently from the real ones. There is no mdDoc: the real lib has
# removed it, and a module using it must fail here as it does there.
{ lib }:
let
  inherit (builtins)
    all
    concatLists
    concatStringsSep
    head
    isAttrs
    isBool
    isInt
    isList
    isString
    length
    tail
    ;
  inherit (lib.trivial) isFunction;
  inherit (import ./internal.nix { inherit lib; }) showValue;

  overrideHint = "Definitions of another priority (lib.mkForce, lib.mkDefault) would replace one another.";
in
rec {
  isOption = lib.types.isType "option";

  # Only the listed attributes are accepted, as with the real mkOption.
  mkOption =
    {
      default ? null,
      defaultText ? null,
      example ? null,
      description ? null,
      relatedPackages ? null,
      type ? null,
      apply ? null,
      internal ? null,
      visible ? null,
      readOnly ? null,
    }@attrs:
    attrs // { _type = "option"; };

  mkEnableOption =
    name:
    mkOption {
      default = false;
      example = true;
      description = "Whether to enable ${name}.";
      type = lib.types.bool;
    };

  # mkPackageOption pkgs "hello" { } declares a package option defaulting to pkgs.hello;
  # `default` may be an attribute path (list) or null, `nullable` allows null.
  mkPackageOption =
    pkgs: name:
    {
      nullable ? false,
      default ? name,
      example ? null,
      extraDescription ? "",
      pkgsText ? "pkgs",
    }:
    let
      shortName = if isList name then lib.lists.last name else name;
      path = lib.lists.toList default;
      pathText = lib.attrsets.showAttrPath path;
      defaults =
        if default != null then
          {
            default = lib.attrsets.attrByPath path (throw "${pathText} cannot be found in ${pkgsText}") pkgs;
            defaultText = literalExpression "${pkgsText}.${pathText}";
          }
        else if nullable then
          { default = null; }
        else
          { };
    in
    mkOption (
      defaults
      // {
        description =
          "The ${shortName} package to use." + (if extraDescription == "" then "" else " ") + extraDescription;
        type = if nullable then lib.types.nullOr lib.types.package else lib.types.package;
      }
      // lib.attrsets.optionalAttrs (example != null) {
        example = literalExpression (
          if isList example then "${pkgsText}.${lib.attrsets.showAttrPath example}" else example
        );
      }
    );

  mkSinkUndeclaredOptions =
    attrs:
    mkOption (
      {
        internal = true;
        visible = false;
        default = false;
        description = "Takes any definitions of options that are not declared.";
        type = lib.types.mkOptionType {
          name = "sink";
          check = _: true;
          merge = _: _: false;
        };
        apply = _: throw "This option only takes definitions: it has no value.";
      }
      // attrs
    );

  getValues = map (def: def.value);
  getFiles = map (def: def.file);

  # The merge of types.unspecified: one value, or values of a kind that combine naturally.
  mergeDefaultOption =
    loc: defs:
    let
      values = getValues defs;
    in
    if length values == 1 then
      head values
    else if all isFunction values then
      arg: mergeDefaultOption loc (map (f: f arg) values)
    else if all isList values then
      concatLists values
    else if all isAttrs values then
      builtins.foldl' (acc: v: acc // v) { } values
    else if all isBool values then
      builtins.any (v: v) values
    else if all isString values then
      concatStringsSep "" values
    else if all isInt values && all (v: v == head values) values then
      head values
    else
      throw "Cannot merge definitions of `${showOption loc}'. Definition values:${showDefs defs}";

  # Exactly one definition; `merge` then makes the value of it.
  mergeUniqueOption =
    {
      message,
      merge ? _: defs: (head defs).value,
    }:
    loc: defs:
    if length defs == 1 then
      merge loc defs
    else
      assert length defs > 1;
      throw "The option `${showOption loc}' is defined multiple times while it's expected to be unique.\n${message}\nDefinition values:${showDefs defs}\n${overrideHint}\n";
  mergeOneOption = mergeUniqueOption { message = ""; };

  # Any number of definitions, all equal.
  mergeEqualOption =
    loc: defs:
    if defs == [ ] then
      abort "This case should never happen."
    else
      let
        first = head defs;
        different = lib.lists.findFirst (def: def.value != first.value) null (tail defs);
      in
      if different == null then
        first.value
      else
        throw "The option `${showOption loc}' has conflicting definition values:${
          showDefs [
            first
            different
          ]
        }\n${overrideHint}";

  literalExpression =
    text:
    if !isString text then
      throw "literalExpression expects a string."
    else
      {
        _type = "literalExpression";
        inherit text;
      };
  literalMD =
    text:
    if !isString text then
      throw "literalMD expects a string."
    else
      {
        _type = "literalMD";
        inherit text;
      };
  literalCode =
    languageTag: text:
    literalMD ''
      ```${languageTag}
      ${text}
      ```
    '';

  # ["a" "b c" "<name>"] -> a."b c".<name>
  showOption =
    loc:
    concatStringsSep "." (
      map (
        part:
        if part == "*" || builtins.match "<(.*)>" part != null then
          part
        else
          lib.strings.escapeNixIdentifier part
      ) loc
    );
  showFiles = files: concatStringsSep " and " (map (f: "`${f}'") files);
  showDefs =
    defs: concatStringsSep "" (map (def: "\n- In `${def.file}': ${showValue def.value}") defs);
  showOptionWithDefLocs = opt: ''
    ${showOption opt.loc}, with values defined in:
    ${concatStringsSep "\n" (map (f: "  - ${f}") opt.files)}
  '';
  unknownModule = "<unknown-file>";

  scrubOptionValue =
    x:
    if lib.attrsets.isDerivation x then
      {
        type = "derivation";
        drvPath = x.name;
        outPath = x.name;
        name = x.name;
      }
    else if isList x then
      map scrubOptionValue x
    else if isAttrs x then
      builtins.mapAttrs (_: scrubOptionValue) (removeAttrs x [ "_args" ])
    else
      x;
}
