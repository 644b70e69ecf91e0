# The wording of the errors attest relies on (see default.nix for the values): each entry is an
# expression that must fail, with a piece of text its error message must contain, the same with
# the stand-in and with the real lib. `./run` evaluates each one on its own (tryEval cannot see
# messages) and looks for `message` in the error output.
{ lib }:
let
  inherit (lib) mkOption types;
  evalConfig = modules: (lib.evalModules { inherit modules; }).config;
  valueOf =
    type: defs:
    (evalConfig ([ { options.x = mkOption { inherit type; }; } ] ++ map (d: { x = d; }) defs)).x;
in
{
  undeclared = {
    message = "The option `a.c' does not exist.";
    expr = evalConfig [
      { options.a.b = mkOption { type = types.int; }; }
      { a.c = 1; }
    ];
  };
  undeclared-in-config-only = {
    message = "`config' rather than `options'";
    expr = evalConfig [ { a = 1; } ];
  };
  undeclared-in-submodule = {
    message = "The option `s.b' does not exist.";
    expr = evalConfig [
      {
        options.s = mkOption {
          type = types.submodule { options.a = mkOption { type = types.int; }; };
        };
      }
      { s.b = 1; }
    ];
  };
  undeclared-in-attrsOf-submodule = {
    message = "The option `s.name.b' does not exist.";
    expr = evalConfig [
      {
        options.s = mkOption {
          type = types.attrsOf (types.submodule { options.a = mkOption { type = types.int; }; });
        };
      }
      { s.name.b = 1; }
    ];
  };
  undeclared-with-prefix = {
    message = "The option `outer.b' does not exist.";
    expr =
      (lib.evalModules {
        prefix = [ "outer" ];
        modules = [
          { options.a = mkOption { type = types.int; }; }
          { b = 1; }
        ];
      }).config;
  };
  type-error = {
    message = "A definition for option `x' is not of type `signed integer'.";
    expr = valueOf types.int [ "1" ];
  };
  type-error-attrsOf-element = {
    message = "A definition for option `x.a' is not of type `signed integer'.";
    expr = valueOf (types.attrsOf types.int) [ { a = "1"; } ];
  };
  type-error-listOf-element = {
    message = "A definition for option `x.\"[definition 1-entry 2]\"' is not of type `string'.";
    expr = valueOf (types.listOf types.str) [
      [
        "a"
        1
      ]
    ];
  };
  type-error-ints-between = {
    message = "is not of type `integer between 1 and 10 (both inclusive)'.";
    expr = valueOf (types.ints.between 1 10) [ 11 ];
  };
  type-error-enum = {
    message = "A definition for option `x' is not of type `one of \"a\", \"b\"'.";
    expr = valueOf (types.enum [
      "a"
      "b"
    ]) [ "c" ];
  };
  type-error-either = {
    message = "A definition for option `x' is not of type `signed integer or string'.";
    expr = valueOf (types.either types.int types.str) [ true ];
  };
  type-error-submodule = {
    message = "A definition for option `s' is not of type `submodule'.";
    expr = evalConfig [
      { options.s = mkOption { type = types.submodule { }; }; }
      { s = 1; }
    ];
  };
  conflict = {
    message = "The option `x' has conflicting definition values:";
    expr = valueOf types.int [
      1
      2
    ];
  };
  conflict-hint = {
    message = "lib.mkForce";
    expr = valueOf types.str [
      "a"
      "b"
    ];
  };
  unique = {
    message = "The option `x' is defined multiple times while it's expected to be unique.";
    expr = valueOf types.raw [
      1
      2
    ];
  };
  null-and-not-null = {
    message = "The option `x` is defined both null and not null";
    expr = valueOf (types.nullOr types.int) [
      null
      1
    ];
  };
  read-only = {
    message = "The option `x' is read-only, but it's set multiple times.";
    expr = (evalConfig [
      {
        options.x = mkOption {
          type = types.int;
          readOnly = true;
          default = 1;
        };
      }
      { x = 2; }
    ]).x;
  };
  no-value = {
    message = "The option `a.b' was accessed but has no value defined. Try setting the option.";
    expr = (evalConfig [ { options.a.b = mkOption { type = types.int; }; } ]).a.b;
  };
  declared-twice = {
    message = "The option `x' in `first.nix' is already declared in `second.nix'.";
    expr = evalConfig [
      {
        _file = "first.nix";
        options.x = mkOption { type = types.int; };
      }
      {
        _file = "second.nix";
        options.x = mkOption { type = types.str; };
      }
    ];
  };
  not-wrapped-in-mkOption = {
    message = "option path `a`";
    expr = evalConfig [ { options.a = types.int; } ];
  };
  value-for-namespace = {
    message = "rather than an attribute set";
    expr = evalConfig [
      { options.a.b = mkOption { type = types.int; }; }
      { a = 5; }
    ];
  };
  mkIf-condition = {
    message = "‘mkIf’ called with a non-Boolean condition";
    expr = valueOf types.int [ (lib.mkIf "yes" 1) ];
  };
  unsupported-attribute = {
    message = "has an unsupported attribute `stray'.";
    expr = evalConfig [
      {
        config = { };
        stray = 1;
      }
    ];
  };
  class-mismatch = {
    message = "(class: \"darwin\")";
    expr =
      (lib.evalModules {
        class = "nixos";
        modules = [ { _class = "darwin"; } ];
      }).config;
  };
  missing-module-argument = {
    message = "attribute 'nonexistent' missing";
    expr = evalConfig [
      { options.out = mkOption { type = types.str; }; }
      ({ nonexistent, ... }: { out = nonexistent; })
    ];
  };
  lists-last = {
    message = "lists.last: list must not be empty!";
    expr = lib.last [ ];
  };
  getExe-nested-path = {
    message = "lib.meta.getExe': ";
    expr = lib.getExe' {
      type = "derivation";
      outPath = "/nix/store/x";
    } "a/b";
  };
  toInt = {
    message = "toInt: Could not convert \"x\" to int.";
    expr = lib.toInt "x";
  };
}
