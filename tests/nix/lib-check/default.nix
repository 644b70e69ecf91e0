# Differential test of the stand-in for nixpkgs' lib (tests/nix/nixpkgs/lib): each case must
# give the same value with the stand-in and with the real lib. `./run` evaluates them and
# compares the stand-in's results with expected.json (the real lib's results, checked in) and,
# given a real lib, with that lib's results.
#
# Returns [ { name; value; } ]: every value forced and JSON-able, and { error = true; } for a
# case whose evaluation throws (builtins.tryEval catches `throw` and `assert` only, so every
# error these cases expect is a throw in both libs). messages.nix checks the wording of the
# errors. Outside the cases themselves only builtins are used, so that the harness does not
# depend on the lib under test.
{ lib }:
let
  inherit (lib)
    mkAfter
    mkBefore
    mkDefault
    mkForce
    mkIf
    mkMerge
    mkOption
    mkOptionDefault
    mkOrder
    mkOverride
    types
    ;

  try =
    value:
    let
      r = builtins.tryEval (builtins.deepSeq value value);
    in
    if r.success then r.value else { error = true; };

  # Paths of this directory as "<lib-check>", so that results do not depend on the checkout.
  here = toString ./.;
  scrub =
    v:
    if builtins.isString v then
      builtins.replaceStrings [ here ] [ "<lib-check>" ] v
    else if builtins.isList v then
      builtins.map scrub v
    else if builtins.isAttrs v then
      builtins.mapAttrs (_: scrub) v
    else
      v;

  eval = modules: lib.evalModules { inherit modules; };
  evalConfig = modules: (eval modules).config;

  # config.x, x being declared with the attributes `decl` and defined once by each of `defs`.
  valueOf' =
    decl: defs:
    (evalConfig ([ { options.x = mkOption decl; } ] ++ map (d: { x = d; }) defs)).x;
  valueOf = type: valueOf' { inherit type; };
  # What options.x says about its definitions.
  optionOf' =
    decl: defs:
    let
      o = (eval ([ { options.x = mkOption decl; } ] ++ map (d: { x = d; }) defs)).options.x;
    in
    {
      inherit (o) isDefined highestPrio files;
      definitions = builtins.length o.definitions;
    };

  # A derivation-like attribute set, as types.package and getExe take it, without a derivation.
  fakeDrv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/0ds4wsk9dxqhvkwyw5grh9bs7vks1bzh-${name}";
      drvPath = "/nix/store/3ws1n2jkrw6r3pzd5lyv0dqgi9grbq8h-${name}.drv";
      outputs = [ "out" ];
      outputName = "out";
    }
    // extra;
  hello = fakeDrv "hello-2.12.1" {
    pname = "hello";
    version = "2.12.1";
    meta.mainProgram = "hello";
  };
  withBin =
    let
      self = fakeDrv "tool-1.0" {
        pname = "tool";
        outputs = [
          "out"
          "bin"
        ];
        out = self;
        bin = fakeDrv "tool-1.0-bin" { outputName = "bin"; };
      };
    in
    self;
  noMainProgram = fakeDrv "curl-8.1.0" { };

  # A real derivation (it evaluates under `--store dummy://`).
  realDrv = derivation {
    name = "real-1.0";
    system = "x86_64-linux";
    builder = "/bin/sh";
    outputs = [ "out" ];
  };

  listOfStr = types.listOf types.str;
  # Inputs of the list functions.
  n12 = [
    1
    2
  ];
  n123 = [
    1
    2
    3
  ];
  n1234 = [
    1
    2
    3
    4
  ];
  ab = [
    "a"
    "b"
  ];

  cases = [
    # ---- priorities ----
    {
      name = "prio/plain-beats-default";
      value = valueOf' {
        type = types.int;
        default = 1;
      } [ 2 ];
    }
    {
      name = "prio/plain-beats-mkDefault";
      value = valueOf types.int [
        (mkDefault 1)
        2
      ];
    }
    {
      name = "prio/mkForce-beats-plain";
      value = valueOf types.int [
        2
        (mkForce 3)
      ];
    }
    {
      name = "prio/mkOverride-900-beats-mkDefault";
      value = valueOf types.int [
        (mkDefault 6)
        (mkOverride 900 5)
      ];
    }
    {
      name = "prio/two-mkForce-equal";
      value = valueOf types.int [
        (mkForce 4)
        (mkForce 4)
        7
      ];
    }
    {
      name = "prio/conflict";
      value = valueOf types.int [
        1
        2
      ];
    }
    {
      name = "prio/equal-values";
      value = valueOf types.int [
        1
        1
      ];
    }
    {
      name = "prio/mkOptionDefault-conflicts-with-default";
      value = valueOf' {
        type = types.int;
        default = 1;
      } [ (mkOptionDefault 2) ];
    }
    {
      name = "prio/mkForce-of-mkDefault-is-not-an-int";
      value = valueOf types.int [ (mkForce (mkDefault 1)) ];
    }
    {
      name = "prio/highestPrio";
      value = map (defs: optionOf' { type = types.int; } defs) [
        [ ]
        [ 1 ]
        [ (mkDefault 1) ]
        [
          (mkDefault 1)
          (mkForce 2)
        ]
        [ (mkIf false 1) ]
        [ (mkMerge [ ]) ]
      ];
    }
    {
      name = "prio/highestPrio-of-default";
      value = optionOf' {
        type = types.int;
        default = 3;
      } [ ];
    }
    {
      name = "prio/defaultOverridePriority";
      value = [
        lib.modules.defaultOverridePriority
        lib.modules.defaultOrderPriority
      ];
    }
    {
      name = "prio/files";
      value =
        (eval [
          { options.x = mkOption { type = listOfStr; }; }
          {
            _file = "first.nix";
            x = [ "a" ];
          }
          {
            _file = "second.nix";
            x = mkIf false [ "b" ];
          }
          {
            _file = "third.nix";
            x = [ "c" ];
          }
        ]).options.x.files;
    }

    # ---- mkIf / mkMerge ----
    {
      name = "mkIf/false-keeps-default";
      value = valueOf' {
        type = types.int;
        default = 1;
      } [ (mkIf false 2) ];
    }
    {
      name = "mkIf/true";
      value = valueOf' {
        type = types.int;
        default = 1;
      } [ (mkIf true 2) ];
    }
    {
      name = "mkIf/non-bool-condition";
      value = valueOf types.int [ (mkIf "yes" 2) ];
    }
    {
      name = "mkIf/mkForce-inside";
      value = valueOf types.int [
        2
        (mkIf true (mkForce 1))
      ];
    }
    {
      name = "mkIf/mkMerge-nested";
      value = valueOf listOfStr [
        (mkMerge [
          [ "a" ]
          (mkIf false [ "b" ])
          (mkIf true (mkMerge [
            [ "c" ]
            (mkIf false [ "d" ])
          ]))
        ])
        [ "e" ]
      ];
    }
    {
      name = "mkIf/on-attribute-set-reads-config";
      value = evalConfig [
        {
          options.enable = lib.mkEnableOption "the thing";
          options.a = mkOption {
            type = types.int;
            default = 0;
          };
          options.b = mkOption {
            type = types.str;
            default = "off";
          };
        }
        (
          { config, ... }:
          {
            config = mkIf config.enable {
              a = 1;
              b = mkForce "on";
            };
          }
        )
        { enable = true; }
      ];
    }
    {
      name = "mkIf/false-on-attribute-set";
      value = evalConfig [
        {
          options.enable = lib.mkEnableOption "the thing";
          options.a = mkOption {
            type = types.int;
            default = 0;
          };
        }
        ({ config, ... }: mkIf config.enable { a = 1; })
      ];
    }
    {
      name = "mkIf/false-still-needs-declared-options";
      value = evalConfig [
        { options.a = mkOption { type = types.int; }; }
        { config = mkIf false { undeclared = 1; }; }
      ];
    }
    {
      name = "mkMerge/of-configs";
      value = evalConfig [
        {
          options.a = mkOption { type = listOfStr; };
          options.b = mkOption { type = types.int; };
        }
        {
          config = mkMerge [
            { a = [ "x" ]; }
            (mkIf true { b = 1; })
            (mkIf false { b = 2; })
            { a = mkBefore [ "w" ]; }
          ];
        }
      ];
    }
    {
      name = "mkAssert";
      value = [
        (valueOf types.int [ (lib.mkAssert true "fine" 3) ])
        (try (valueOf types.int [ (lib.mkAssert false "broken" 3) ]))
      ];
    }
    {
      name = "mkDefinition";
      value =
        let
          e = eval [
            { options.x = mkOption { type = listOfStr; }; }
            {
              x = lib.mkDefinition {
                file = "elsewhere.nix";
                value = [ "a" ];
              };
            }
          ];
        in
        {
          inherit (e.config) x;
          inherit (e.options.x) files;
        };
    }

    # ---- ordering ----
    {
      name = "order/list-definition-order";
      value = evalConfig [
        { options.x = mkOption { type = listOfStr; }; }
        { x = [ "first" ]; }
        { x = [ "second" ]; }
        {
          imports = [ { x = [ "imported" ]; } ];
          x = [ "third" ];
        }
      ];
    }
    {
      name = "order/list-mkBefore-mkAfter";
      value = valueOf listOfStr [
        (mkAfter [ "z" ])
        [ "m1" ]
        (mkBefore [ "a" ])
        [ "m2" ]
        (mkOrder 1200 [ "y" ])
        (mkOrder 400 [ "first" ])
      ];
    }
    {
      name = "order/list-mkForce-drops-others";
      value = valueOf listOfStr [
        [ "a" ]
        (mkForce [ "forced" ])
        (mkBefore [ "b" ])
      ];
    }
    {
      name = "order/list-mkForce-of-mkBefore";
      value = valueOf listOfStr [
        (mkForce [ "f1" ])
        (mkForce (mkBefore [ "f0" ]))
      ];
    }
    {
      name = "order/list-elements-with-mkIf";
      value = valueOf listOfStr [
        [
          "a"
          (mkIf false "b")
          (mkIf true "c")
          (mkMerge [ ])
        ]
      ];
    }
    {
      name = "order/list-default-replaced";
      value = valueOf' {
        type = listOfStr;
        default = [ "default" ];
      } [ [ "defined" ] ];
    }
    {
      name = "order/list-default-and-mkDefault";
      value = valueOf' {
        type = listOfStr;
        default = [ "default" ];
      } [ (mkDefault [ "mkDefault" ]) ];
    }
    {
      name = "order/list-no-definition-is-empty";
      value = valueOf listOfStr [ ];
    }
    {
      name = "order/lines";
      value = valueOf types.lines [
        "middle"
        (mkAfter "last")
        (mkBefore "first")
        "middle 2"
      ];
    }
    {
      name = "order/lines-default";
      value = valueOf' {
        type = types.lines;
        default = "default";
      } [ "set" ];
    }
    {
      name = "order/commas-envVar";
      value = [
        (valueOf types.commas [
          "a"
          "b"
        ])
        (valueOf types.envVar [
          "/bin"
          (mkBefore "/sbin")
        ])
        (valueOf (types.separatedString " ") [
          "x"
          "y"
        ])
      ];
    }
    {
      name = "order/no-definition-of-lines";
      value = valueOf types.lines [ ];
    }

    # ---- defaults, apply, readOnly ----
    {
      name = "default/apply";
      value = [
        (valueOf' {
          type = types.int;
          default = 2;
          apply = x: x * 10;
        } [ ])
        (valueOf' {
          type = types.int;
          apply = x: x * 10;
        } [ 3 ])
        (valueOf' {
          type = listOfStr;
          apply = builtins.length;
        } [
          [ "a" ]
          [ "b" ]
        ])
      ];
    }
    {
      name = "default/no-value";
      value = valueOf types.int [ ];
    }
    {
      name = "default/no-value-isDefined";
      value = (optionOf' { type = types.int; } [ ]).isDefined;
    }
    {
      name = "default/no-type-unspecified";
      value = [
        (valueOf' { } [
          [ 1 ]
          [ 2 ]
        ])
        (valueOf' { } [
          { a = 1; }
          { b = 2; }
        ])
        (valueOf' { } [
          "a"
          "b"
        ])
        (valueOf' { } [
          true
          false
        ])
        (valueOf' { default = 5; } [ ])
        (try (valueOf' { } [
          1
          2
        ]))
        (try (valueOf' { } [
          1
          "a"
        ]))
      ];
    }
    {
      name = "default/option-fields";
      value =
        let
          o =
            (eval [
              {
                _file = "decl.nix";
                options.x = mkOption {
                  type = types.int;
                  default = 1;
                  description = "The x.";
                  example = 2;
                  internal = true;
                  visible = false;
                  defaultText = lib.literalExpression "1";
                };
              }
            ]).options.x;
        in
        {
          inherit (o)
            description
            example
            internal
            visible
            defaultText
            declarations
            loc
            ;
          type = o.type.name;
          shown = "${o}";
        };
    }
    {
      name = "readOnly/one-definition";
      value = valueOf' {
        type = types.int;
        readOnly = true;
      } [ 1 ];
    }
    {
      name = "readOnly/default-only";
      value = valueOf' {
        type = types.int;
        readOnly = true;
        default = 1;
      } [ ];
    }
    {
      name = "readOnly/default-and-definition";
      value = valueOf' {
        type = types.int;
        readOnly = true;
        default = 1;
      } [ 2 ];
    }
    {
      name = "readOnly/two-definitions";
      value = valueOf' {
        type = types.int;
        readOnly = true;
      } [
        1
        1
      ];
    }

    # ---- undeclared options ----
    {
      name = "undeclared/top-level";
      value = evalConfig [
        { options.a = mkOption { type = types.int; }; }
        {
          a = 1;
          b = 2;
        }
      ];
    }
    {
      name = "undeclared/nested";
      value = evalConfig [
        { options.a.b = mkOption { type = types.int; }; }
        {
          a.b = 1;
          a.c = 2;
        }
      ];
    }
    {
      name = "undeclared/no-options-at-all";
      value = evalConfig [ { a = 1; } ];
    }
    {
      name = "undeclared/value-for-a-namespace";
      value = evalConfig [
        { options.a.b = mkOption { type = types.int; }; }
        { a = 5; }
      ];
    }
    {
      name = "undeclared/check-off";
      value = evalConfig [
        { options.a = mkOption { type = types.int; }; }
        {
          a = 1;
          b = 2;
          _module.check = false;
        }
      ];
    }
    {
      name = "undeclared/options-are-checked-too";
      value =
        builtins.attrNames
          (eval [
            { options.a = mkOption { type = types.int; }; }
            { b = 2; }
          ]).options;
    }
    {
      name = "undeclared/module-argument-config-not-checked";
      value =
        let
          e = eval [
            {
              options.a = mkOption { type = types.int; };
              options.seen = mkOption { type = types.raw; };
            }
            (
              { config, ... }:
              {
                a = 1;
                seen = config.a;
                undeclared = true;
              }
            )
          ];
        in
        [
          (try e.config.a)
          (try e.options.seen.value)
        ];
    }
    {
      name = "undeclared/in-submodule";
      value = evalConfig [
        {
          options.s = mkOption {
            type = types.submodule { options.a = mkOption { type = types.int; }; };
          };
        }
        {
          s.a = 1;
          s.b = 2;
        }
      ];
    }
    {
      name = "declaration/not-wrapped-in-mkOption";
      value = evalConfig [
        { options.a = types.int; }
        { a = 1; }
      ];
    }
    {
      name = "declaration/twice-compatible";
      value = evalConfig [
        { options.a = mkOption { type = listOfStr; }; }
        {
          options.a = mkOption {
            type = listOfStr;
            default = [ "d" ];
          };
        }
      ];
    }
    {
      name = "declaration/twice-incompatible-types";
      value = evalConfig [
        { options.a = mkOption { type = types.int; }; }
        { options.a = mkOption { type = types.str; }; }
        { a = 1; }
      ];
    }
    {
      name = "declaration/twice-with-defaults";
      value = evalConfig [
        {
          options.a = mkOption {
            type = types.int;
            default = 1;
          };
        }
        {
          options.a = mkOption {
            type = types.int;
            default = 1;
          };
        }
      ];
    }
    {
      name = "declaration/enum-merged";
      value = evalConfig [
        { options.a = mkOption { type = types.enum [ "x" ]; }; }
        { options.a = mkOption { type = types.enum [ "y" ]; }; }
        { a = "y"; }
      ];
    }
    {
      name = "declaration/submodule-options-from-two-modules";
      value = evalConfig [
        {
          options.s = mkOption {
            type = types.submodule {
              options.a = mkOption {
                type = types.int;
                default = 1;
              };
            };
          };
        }
        {
          options.s = mkOption {
            type = types.submodule {
              options.b = mkOption {
                type = types.int;
                default = 2;
              };
            };
          };
        }
        {
          options.s.c = mkOption {
            type = types.int;
            default = 3;
          };
        }
        { s.b = 20; }
      ];
    }
    {
      name = "declaration/parent-of-non-submodule";
      value = evalConfig [
        { options.a = mkOption { type = types.attrs; }; }
        { options.a.b = mkOption { type = types.int; }; }
      ];
    }
    {
      name = "declaration/option-type-merge";
      value = [
        (types.mergeTypes (types.listOf types.int) (types.listOf types.int)).name
        (types.mergeTypes types.int types.str)._type
      ];
    }

    # ---- types: checks ----
    {
      name = "types/int";
      value = [
        (try (valueOf types.int [ 3 ]))
        (try (valueOf types.int [ "3" ]))
        (try (valueOf types.int [ 1.5 ]))
      ];
    }
    {
      name = "types/ints";
      value =
        builtins.map
          (
            t:
            builtins.map (v: try (valueOf t [ v ])) [
              (-129)
              (-1)
              0
              1
              10
              11
              255
              256
              65535
              65536
              4294967295
              4294967296
            ]
          )
          [
            (types.ints.between 1 10)
            types.ints.positive
            types.ints.unsigned
            types.ints.u8
            types.ints.u16
            types.ints.u32
            types.ints.s8
            types.port
          ];
    }
    {
      name = "types/ints-between-bad-bounds";
      value = types.ints.between 5 1;
    }
    {
      name = "types/bool";
      value = [
        (try (valueOf types.bool [ true ]))
        (try (valueOf types.bool [
          true
          true
        ]))
        (try (valueOf types.bool [
          true
          false
        ]))
        (try (valueOf types.bool [ 1 ]))
        (try (valueOf types.boolByOr [
          false
          true
        ]))
      ];
    }
    {
      name = "types/float-number";
      value = [
        (try (valueOf types.float [ 1.5 ]))
        (try (valueOf types.float [ 1 ]))
        (try (valueOf types.number [ 1 ]))
        (try (valueOf types.number [ 1.5 ]))
        (try (valueOf types.number [ "1" ]))
        (try (valueOf (types.numbers.between 0 1) [ 0.5 ]))
        (try (valueOf (types.numbers.between 0 1) [ 2 ]))
        (try (valueOf types.numbers.nonnegative [ 0 ]))
        (try (valueOf types.numbers.positive [ 0 ]))
      ];
    }
    {
      name = "types/strings";
      value = [
        (try (valueOf types.str [ "a" ]))
        (try (valueOf types.str [
          "a"
          "b"
        ]))
        (try (valueOf types.str [ 1 ]))
        (try (valueOf types.nonEmptyStr [ "a" ]))
        (try (valueOf types.nonEmptyStr [ " \n" ]))
        (try (valueOf types.singleLineStr [ "line\n" ]))
        (try (valueOf types.singleLineStr [ "two\nlines" ]))
        (try (valueOf (types.strMatching "[a-z]+") [ "abc" ]))
        (try (valueOf (types.strMatching "[a-z]+") [ "ABC" ]))
        (try (valueOf (types.passwdEntry types.str) [ "ok" ]))
        (try (valueOf (types.passwdEntry types.str) [ "not:ok" ]))
      ];
    }
    {
      name = "types/enum";
      value = [
        (try (valueOf (types.enum (ab ++ [ 3 ])) [ "a" ]))
        (try (valueOf (types.enum (ab ++ [ 3 ])) [ 3 ]))
        (try (valueOf (types.enum (ab ++ [ 3 ])) [ "c" ]))
        (try (valueOf (types.enum ab) [
          "a"
          "b"
        ]))
      ];
    }
    {
      name = "types/nullOr";
      value = [
        (try (valueOf (types.nullOr types.int) [ null ]))
        (try (valueOf (types.nullOr types.int) [ 1 ]))
        (try (valueOf (types.nullOr types.int) [ "x" ]))
        (try (valueOf (types.nullOr types.int) [
          null
          1
        ]))
        (try (valueOf (types.nullOr types.int) [
          null
          null
        ]))
        (try (valueOf (types.nullOr types.int) [ ]))
        (try (valueOf (types.nullOr listOfStr) [
          [ "a" ]
          [ "b" ]
        ]))
      ];
    }
    {
      name = "types/either-oneOf";
      value = [
        (try (valueOf (types.either types.int types.str) [ 1 ]))
        (try (valueOf (types.either types.int types.str) [ "a" ]))
        (try (valueOf (types.either types.int types.str) [ true ]))
        (try (valueOf (types.either types.int types.str) [
          1
          "a"
        ]))
        (try (valueOf (types.either listOfStr types.str) [
          [ "a" ]
          [ "b" ]
        ]))
        (try (valueOf (types.either types.str listOfStr) [
          "a"
          "b"
        ]))
        (try (valueOf (types.oneOf [
          types.int
          types.bool
          types.str
        ]) [ true ]))
        (try (valueOf (types.oneOf [
          types.int
          types.bool
        ]) [ "x" ]))
        (try (types.oneOf [ ]).name)
      ];
    }
    {
      name = "types/uniq-unique";
      value = [
        (try (valueOf (types.uniq types.int) [ 1 ]))
        (try (valueOf (types.uniq types.int) [
          1
          1
        ]))
        (try (valueOf (types.unique { message = "once"; } listOfStr) [
          [ "a" ]
          [ "b" ]
        ]))
        (try (valueOf (types.uniq listOfStr) [
          (mkDefault [ "a" ])
          [ "b" ]
        ]))
      ];
    }
    {
      name = "types/raw";
      value = [
        (try (builtins.isFunction (valueOf types.raw [ (x: x) ])))
        (try (valueOf types.raw [ { a = mkIf false 1; } ]))
        (try (valueOf types.raw [
          1
          1
        ]))
      ];
    }
    {
      name = "types/anything";
      value = [
        (try (valueOf types.anything [
          {
            a.b = 1;
            l = [ 1 ];
          }
          {
            a.c = mkIf true 2;
            a.d = mkIf false 3;
            l = [ 1 ];
          }
        ]))
        (try (valueOf types.anything [
          [ 1 ]
          [ 2 ]
        ]))
        (try (valueOf types.anything [
          1
          "a"
        ]))
        (try (valueOf types.anything [
          { a = 1; }
          { a = mkForce 2; }
        ]))
        (try ((valueOf types.anything [
          (x: { a = x; })
          (x: { b = x; })
        ]) 5))
        (try (valueOf types.anything [
          null
          null
        ]))
      ];
    }
    {
      name = "types/attrs";
      value = [
        (try (valueOf types.attrs [
          {
            a.x = 1;
            b = 1;
          }
          { a.y = 2; }
        ]))
        (try (valueOf types.attrs [ ]))
        (try (valueOf types.attrs [ [ ] ]))
      ];
    }
    {
      name = "types/path";
      value = [
        (try (valueOf types.path [ "/etc/hosts" ]))
        (try (valueOf types.path [ "relative" ]))
        (try (valueOf types.path [ 1 ]))
        (try (valueOf types.path [ hello ]).name)
        (try (valueOf types.pathInStore [ "/nix/store/0ds4wsk9dxqhvkwyw5grh9bs7vks1bzh-x/bin" ]))
        (try (valueOf types.pathInStore [ "/nix/store" ]))
        (try (valueOf types.pathInStore [ "/etc/hosts" ]))
        (try (valueOf types.externalPath [ "/etc/hosts" ]))
        (try (valueOf types.externalPath [ "/nix/store/0ds4wsk9dxqhvkwyw5grh9bs7vks1bzh-x" ]))
      ];
    }
    {
      name = "types/package";
      value = [
        (try (valueOf types.package [ hello ]).name)
        (try (valueOf types.package [ realDrv ]).name)
        (try (valueOf types.package [ "hello" ]))
        (try (valueOf types.package [ { name = "not-a-drv"; } ]))
        (try (valueOf types.package [
          hello
          hello
        ]).name)
        (try (valueOf (types.nullOr types.package) [ null ]))
        (try (valueOf types.package [ "/nix/store/0ds4wsk9dxqhvkwyw5grh9bs7vks1bzh-foo-1.0" ]).name)
      ];
    }
    {
      name = "types/pkgs";
      value = [
        (try (valueOf types.pkgs [ { _type = "pkgs"; } ]))
        (try (valueOf types.pkgs [ { } ]))
        (try (valueOf types.pkgs [
          { _type = "pkgs"; }
          { _type = "pkgs"; }
        ]))
      ];
    }
    {
      name = "types/listOf-attrsOf-checks";
      value = [
        (try (valueOf listOfStr [ "a" ]))
        (try (valueOf listOfStr [ [ 1 ] ]))
        (try (valueOf (types.attrsOf types.int) [ { a = "x"; } ]))
        (try (valueOf (types.attrsOf types.int) [ [ ] ]))
        (try (valueOf (types.nonEmptyListOf types.int) [ [ ] ]))
        (try (valueOf (types.nonEmptyListOf types.int) [ [ 1 ] ]))
        (try (valueOf (types.nonEmptyListOf types.int) [ ]))
      ];
    }
    {
      name = "types/attrsOf-merge";
      value = valueOf (types.attrsOf listOfStr) [
        {
          a = [ "1" ];
          b = mkIf false [ "x" ];
        }
        {
          a = mkBefore [ "0" ];
          c = mkMerge [
            [ "c1" ]
            [ "c2" ]
          ];
        }
        { d = mkForce [ ]; }
        { d = [ "dropped" ]; }
      ];
    }
    {
      name = "types/nested-composites";
      value = [
        (try (valueOf (types.attrsOf (types.attrsOf types.int)) [
          { a.x = 1; }
          {
            a.y = 2;
            a.x = mkForce 3;
          }
          { b = { }; }
        ]))
        (try (valueOf (types.listOf (types.listOf types.str)) [
          [ [ "a" ] ]
          [
            [
              "b"
              "c"
            ]
          ]
        ]))
        (try (valueOf (types.attrsOf (types.listOf types.int)) [
          { a = [ 1 ]; }
          { a = mkDefault [ 2 ]; }
        ]))
        (try (valueOf (types.uniq (types.listOf types.str)) [ [ "a" ] ]))
        (try (valueOf (types.nullOr (types.attrsOf types.int)) [
          { a = 1; }
          { b = 2; }
        ]))
        (try (valueOf (types.either (types.listOf types.int) (types.attrsOf types.int)) [
          { a = 1; }
          { b = 2; }
        ]))
      ];
    }
    {
      name = "types/anything-with-derivations";
      value = [
        (try (valueOf types.anything [
          { p = hello; }
          { q = 1; }
        ]).p.name)
        (try (valueOf types.anything [
          { p = hello; }
          { p = hello; }
        ]).p.name)
      ];
    }
    {
      name = "types/attrsOf-conflict-in-element";
      value = valueOf (types.attrsOf types.int) [
        { a = 1; }
        { a = 2; }
      ];
    }
    {
      name = "types/attrsOf-vs-lazyAttrsOf-names";
      value =
        builtins.map
          (
            t:
            try (
              builtins.attrNames (valueOf t [
                {
                  a = 1;
                  b = mkIf false 2;
                }
              ])
            )
          )
          [
            (types.attrsOf types.int)
            (types.lazyAttrsOf types.int)
          ];
    }
    {
      name = "types/lazyAttrsOf-undefined-attribute";
      value = [
        (try (valueOf (types.lazyAttrsOf types.int) [ { b = mkIf false 2; } ]).b)
        (try (valueOf (types.lazyAttrsOf listOfStr) [ { b = mkIf false [ "x" ]; } ]).b)
        (try (valueOf (types.lazyAttrsOf (types.nullOr types.int)) [ { b = mkIf false 2; } ]).b)
      ];
    }
    {
      name = "types/lazyAttrsOf-laziness";
      value =
        builtins.map
          (
            t:
            try (
              (valueOf t [
                {
                  a = throw "not needed";
                  b = 2;
                }
              ]).b
            )
          )
          [
            (types.attrsOf types.int)
            (types.lazyAttrsOf types.int)
          ];
    }
    {
      name = "types/functionTo";
      value =
        let
          f = valueOf (types.functionTo listOfStr) [
            (x: [ "one-${x}" ])
            (x: mkBefore [ "zero-${x}" ])
          ];
          g = valueOf (types.functionTo (types.attrsOf types.int)) [
            (x: { a = x; })
            (x: { b = x + 1; })
          ];
          h = valueOf (types.functionTo types.int) [
            (
              {
                a,
                b ? 1,
                ...
              }:
              a + b
            )
            (
              {
                a,
                c ? 2,
                ...
              }:
              a + c
            )
          ];
        in
        [
          (try (f "x"))
          (try (g 1))
          (try (lib.functionArgs h))
          (try (h {
            a = 1;
            b = 1;
            c = 0;
          }))
          (try (valueOf (types.functionTo types.int) [ 1 ]))
        ];
    }
    {
      name = "types/coercedTo";
      value = [
        (try (valueOf (types.coercedTo types.int toString types.str) [ 5 ]))
        (try (valueOf (types.coercedTo types.int toString types.str) [ "x" ]))
        (try (valueOf (types.coercedTo types.int toString types.str) [ true ]))
        (try (valueOf (types.coercedTo types.str (s: [ s ]) listOfStr) [
          "a"
          [ "b" ]
        ]))
      ];
    }
    {
      name = "types/addCheck";
      value = [
        (try (valueOf (types.addCheck types.int (x: x > 2)) [ 3 ]))
        (try (valueOf (types.addCheck types.int (x: x > 2)) [ 1 ]))
        (try (valueOf (types.addCheck listOfStr (l: builtins.length l < 2)) [ [ "a" ] ]))
        (try (valueOf (types.addCheck listOfStr (l: builtins.length l < 2)) [
          [
            "a"
            "b"
          ]
        ]))
      ];
    }
    {
      name = "types/ad-hoc-check-override";
      value = [
        (try (valueOf (types.int // { check = x: x > 2; }) [ 1 ]))
        (try (valueOf (types.int // { check = x: x > 2; }) [ 3 ]))
        (try (valueOf (listOfStr // { check = builtins.isList; }) [ [ "a" ] ]))
        (try (valueOf (types.attrsOf types.int // { check = builtins.isAttrs; }) [ { a = 1; } ]))
        (try (
          valueOf (types.addCheck (listOfStr // { check = builtins.isList; }) (_: true)) [ [ "a" ] ]
        ))
        (try (valueOf (types.submodule { } // { check = builtins.isAttrs; }) [ { } ]))
        (try (valueOf (types.either types.int listOfStr // { check = _: true; }) [ 1 ]))
        (try (valueOf (types.either types.int (listOfStr // { check = _: true; })) [ 1 ]))
        (try (valueOf (types.either types.int (listOfStr // { check = _: true; })) [ [ "a" ] ]))
        (try (valueOf (types.nullOr (listOfStr // { check = _: true; })) [ [ "a" ] ]))
      ];
    }
    {
      name = "types/optionType";
      value = [
        (try (valueOf types.optionType [ types.int ]).name)
        (try (valueOf types.optionType [
          (types.listOf types.int)
          (types.listOf types.int)
        ]).name)
        (try (valueOf types.optionType [
          types.int
          types.str
        ]).name)
        (try (valueOf types.optionType [ 1 ]))
      ];
    }
    {
      name = "types/descriptions";
      value = builtins.map (t: t.description) [
        types.raw
        types.anything
        types.unspecified
        types.bool
        types.int
        types.str
        types.lines
        types.commas
        types.path
        types.pathInStore
        types.package
        types.pkgs
        types.attrs
        types.port
        types.float
        types.number
        types.nonEmptyStr
        types.singleLineStr
        (types.strMatching "[0-9]+")
        (types.ints.between 1 254)
        types.ints.positive
        types.ints.unsigned
        types.ints.u8
        types.ints.u32
        (types.listOf types.str)
        (types.listOf (types.listOf types.int))
        (types.attrsOf (types.submodule { }))
        (types.lazyAttrsOf types.raw)
        (types.nullOr types.int)
        (types.nullOr (types.listOf types.str))
        (types.either types.int types.str)
        (types.either types.ints.positive types.str)
        (types.oneOf [
          types.int
          types.str
          types.bool
        ])
        (types.enum [ ])
        (types.enum [ "a" ])
        (types.enum [
          "a"
          1
          true
        ])
        (types.uniq types.int)
        (types.functionTo types.str)
        (types.coercedTo types.int toString types.str)
        (types.submodule { })
        (types.submodule { freeformType = types.attrsOf types.str; })
        types.deferredModule
        (types.nonEmptyListOf types.str)
        (types.separatedString ";")
        types.optionType
        types.boolByOr
      ];
    }
    {
      name = "types/names";
      value = builtins.map (t: t.name) [
        types.raw
        types.lines
        types.port
        (types.ints.between 1 2)
        types.ints.u8
        types.ints.s16
        (types.listOf types.int)
        (types.attrsOf types.int)
        (types.lazyAttrsOf types.int)
        (types.submodule { })
        types.deferredModule
        (types.strMatching "x")
        types.pkgs
        types.package
        types.pathInStore
        (types.uniq types.int)
        (types.coercedTo types.int toString types.str)
      ];
    }
    {
      name = "types/isType";
      value = [
        (types.isOptionType types.int)
        (types.isOptionType (mkOption { }))
        (lib.isOption (mkOption { }))
        (lib.isType "option" (mkOption { }))
        (lib.setType "thing" { a = 1; })
      ];
    }

    # ---- submodules ----
    {
      name = "submodule/name-argument";
      value = evalConfig [
        {
          options.users = mkOption {
            type = types.attrsOf (
              types.submodule (
                { name, config, ... }:
                {
                  options.name = mkOption {
                    type = types.str;
                    default = name;
                  };
                  options.home = mkOption {
                    type = types.str;
                    default = "/home/${config.name}";
                  };
                }
              )
            );
          };
        }
        {
          users.alice = { };
          users.bob.name = "robert";
        }
      ];
    }
    {
      name = "submodule/name-without-attribute";
      value = evalConfig [
        {
          options.single = mkOption {
            type = types.submodule (
              { name, ... }:
              {
                options.n = mkOption {
                  type = types.str;
                  default = name;
                };
              }
            );
          };
          options.unset = mkOption {
            type = types.submodule (
              { name, ... }:
              {
                options.n = mkOption {
                  type = types.str;
                  default = name;
                };
              }
            );
          };
          options.list = mkOption {
            type = types.listOf (
              types.submodule (
                { name, ... }:
                {
                  options.n = mkOption {
                    type = types.str;
                    default = name;
                  };
                }
              )
            );
          };
        }
        {
          single = { };
          list = [
            { }
            { }
          ];
        }
        { list = [ { } ]; }
      ];
    }
    {
      name = "submodule/several-definitions";
      value = evalConfig [
        {
          options.s = mkOption {
            type = types.submodule {
              options.l = mkOption { type = listOfStr; };
              options.i = mkOption {
                type = types.int;
                default = 0;
              };
            };
          };
        }
        { s.l = [ "a" ]; }
        {
          s = {
            l = [ "b" ];
            i = mkForce 2;
          };
        }
        { s = mkIf true { i = 1; }; }
      ];
    }
    {
      name = "submodule/function-definition";
      value = evalConfig [
        {
          options.s = mkOption {
            type = types.submodule { options.v = mkOption { type = types.str; }; };
          };
          options.top = mkOption {
            type = types.str;
            default = "top";
          };
        }
        (
          { config, ... }:
          {
            s =
              { config, lib, ... }:
              {
                v = lib.mkDefault "from-function";
              };
          }
        )
      ];
    }
    {
      name = "submodule/shorthand-vs-submoduleWith";
      value = [
        (try (evalConfig [
          {
            options.s = mkOption {
              type = types.submodule { options.a = mkOption { type = types.int; }; };
            };
          }
          {
            s = {
              options.b = mkOption { type = types.int; };
              config.a = 1;
            };
          }
        ]))
        (try (evalConfig [
          {
            options.s = mkOption {
              type = types.submoduleWith {
                modules = [ { options.a = mkOption { type = types.int; }; } ];
              };
            };
          }
          {
            s = {
              options.b = mkOption {
                type = types.int;
                default = 2;
              };
              config.a = 1;
            };
          }
        ]))
      ];
    }
    {
      name = "submodule/specialArgs-and-class";
      value = [
        (try (evalConfig [
          {
            options.s = mkOption {
              type = types.submoduleWith {
                specialArgs.greeting = "hi";
                class = "thing";
                modules = [
                  (
                    { greeting, ... }:
                    {
                      _class = "thing";
                      options.g = mkOption {
                        type = types.str;
                        default = greeting;
                      };
                    }
                  )
                ];
              };
            };
          }
          { s = { }; }
        ]))
        (try (evalConfig [
          {
            options.s = mkOption {
              type = types.submoduleWith {
                class = "thing";
                modules = [ ];
              };
            };
          }
          {
            s = {
              _class = "other";
            };
          }
        ]))
      ];
    }
    {
      name = "submodule/empty-value";
      value =
        (evalConfig [
          {
            options.s = mkOption {
              type = types.submodule {
                options.a = mkOption {
                  type = types.int;
                  default = 7;
                };
              };
            };
          }
        ]).s;
    }
    {
      name = "submodule/freeformType";
      value = evalConfig [
        {
          options.settings = mkOption {
            type = types.submodule {
              freeformType = types.attrsOf types.str;
              options.port = mkOption {
                type = types.port;
                default = 80;
              };
            };
          };
        }
        {
          settings.name = "x";
          settings.port = 8080;
        }
        { settings.other = "y"; }
      ];
    }
    {
      name = "submodule/freeformType-type-error";
      value = evalConfig [
        {
          options.settings = mkOption {
            type = types.submodule { freeformType = types.attrsOf types.str; };
          };
        }
        { settings.n = 1; }
      ];
    }
    {
      name = "submodule/nullOr-and-attrsOf-defaults";
      value = evalConfig [
        {
          options.maybe = mkOption {
            type = types.nullOr (types.submodule { options.a = mkOption { type = types.int; }; });
            default = null;
          };
          options.set = mkOption {
            type = types.nullOr (types.submodule { options.a = mkOption { type = types.int; }; });
          };
        }
        { set.a = 1; }
      ];
    }

    {
      name = "submodule/mkForce-on-whole-value";
      value = evalConfig [
        {
          options.s = mkOption {
            type = types.submodule {
              options.x = mkOption {
                type = types.int;
                default = 0;
              };
              options.y = mkOption {
                type = types.int;
                default = 0;
              };
            };
          };
        }
        { s.y = 2; }
        { s = mkForce { x = 1; }; }
      ];
    }
    {
      name = "submodule/highestPrio-and-definitions";
      value =
        let
          e = eval [
            {
              options.s = mkOption {
                type = types.submodule { options.x = mkOption { type = types.int; }; };
              };
            }
            { s = mkDefault { x = 1; }; }
            { s = mkDefault { x = 1; }; }
          ];
        in
        {
          inherit (e.options.s) highestPrio isDefined;
          definitions = e.options.s.definitions;
          inherit (e.config) s;
        };
    }
    {
      name = "submodule/attrsOf-from-several-modules";
      value = evalConfig [
        {
          options.nodes = mkOption {
            type = types.attrsOf (
              types.submodule (
                { name, ... }:
                {
                  options.tags = mkOption {
                    type = listOfStr;
                    default = [ name ];
                  };
                  options.n = mkOption {
                    type = types.int;
                    default = 1;
                  };
                }
              )
            );
          };
        }
        {
          nodes.a.tags = [ "x" ];
          nodes.b = mkIf false { n = 5; };
        }
        {
          nodes = mkMerge [
            { a.n = 2; }
            (mkIf true { c = { }; })
          ];
        }
        { nodes.a = mkIf true { tags = mkAfter [ "y" ]; }; }
      ];
    }
    {
      name = "submodule/lazyAttrsOf-laziness";
      value =
        builtins.map
          (
            attrsType:
            try
              (evalConfig [
                {
                  options.nodes = mkOption {
                    type = attrsType (
                      types.submodule { options.v = mkOption { type = types.int; }; }
                    );
                  };
                }
                {
                  nodes.a.v = 1;
                  nodes.b = throw "node b is broken";
                }
              ]).nodes.a.v
          )
          [
            types.attrsOf
            types.lazyAttrsOf
          ];
    }
    {
      name = "submodule/listOf-with-mkIf";
      value = evalConfig [
        {
          options.l = mkOption {
            type = types.listOf (
              types.submodule {
                options.v = mkOption {
                  type = types.int;
                  default = 0;
                };
              }
            );
          };
        }
        {
          l = [
            { v = 1; }
            (mkIf false { v = 2; })
            { }
          ];
        }
        { l = mkBefore [ { v = 3; } ]; }
      ];
    }
    {
      name = "submodule/coercedTo-and-either";
      value =
        let
          sub = types.submodule (
            { name, ... }:
            {
              options.name = mkOption {
                type = types.str;
                default = name;
              };
              options.port = mkOption {
                type = types.int;
                default = 80;
              };
            }
          );
        in
        evalConfig [
          {
            options.coerced = mkOption {
              type = types.attrsOf (types.coercedTo types.int (port: { inherit port; }) sub);
            };
            options.either = mkOption {
              type = types.attrsOf (types.either types.str sub);
            };
          }
          {
            coerced.a = 8080;
            coerced.b = {
              name = "bee";
            };
            either.s = "plain";
            either.m.port = 1;
          }
        ];
    }
    {
      name = "submodule/nullOr-null-and-value";
      value = evalConfig [
        {
          options.s = mkOption {
            type = types.nullOr (types.submodule { options.a = mkOption { type = types.int; }; });
          };
        }
        { s = null; }
        { s.a = 1; }
      ];
    }
    {
      name = "submodule/check-off-inside";
      value = evalConfig [
        {
          options.s = mkOption {
            type = types.submodule { options.a = mkOption { type = types.int; }; };
          };
        }
        {
          s = {
            a = 1;
            b = 2;
            _module.check = false;
          };
        }
      ];
    }
    {
      name = "submodule/name-overridden";
      value = evalConfig [
        {
          options.s = mkOption {
            type = types.attrsOf (
              types.submodule (
                { name, ... }:
                {
                  options.n = mkOption {
                    type = types.str;
                    default = name;
                  };
                }
              )
            );
          };
        }
        { s.a._module.args.name = mkForce "renamed"; }
      ];
    }
    {
      name = "submodule/getSubOptions";
      value =
        let
          o =
            (eval [
              {
                options.s = mkOption {
                  type = types.attrsOf (
                    types.submodule {
                      options.a = mkOption { type = types.int; };
                      options.b.c = mkOption { type = types.str; };
                    }
                  );
                };
              }
            ]).options.s;
          sub = o.type.getSubOptions o.loc;
        in
        {
          names = builtins.attrNames sub;
          aLoc = sub.a.loc;
          cLoc = sub.b.c.loc;
          aType = sub.a.type.name;
          nested = builtins.attrNames o.type.nestedTypes;
          elem = o.type.nestedTypes.elemType.name;
        };
    }
    {
      name = "submodule/attrsWith-placeholder-and-description";
      value =
        let
          t = types.attrsWith {
            elemType = types.submodule { options.a = mkOption { type = types.int; }; };
            placeholder = "node";
          };
        in
        {
          inherit (t) name description;
          loc = (t.getSubOptions [ "nodes" ]).a.loc;
          described = (types.submoduleWith {
            modules = [ ];
            description = "thing";
          }).description;
        };
    }
    {
      name = "submodule/deferredModuleWith-staticModules";
      value =
        let
          e = eval [
            {
              options.m = mkOption {
                type = types.deferredModuleWith {
                  staticModules = [ { options.s = mkOption { type = types.str; }; } ];
                };
              };
            }
            { m.s = "x"; }
          ];
        in
        {
          imports = builtins.length e.config.m.imports;
          subOptions = builtins.attrNames (e.options.m.type.getSubOptions [ "m" ]);
          value =
            (lib.evalModules {
              modules = [ e.config.m ];
            }).config.s;
        };
    }
    {
      name = "submodule/conflicting-shorthandOnlyDefinesConfig";
      value = evalConfig [
        {
          options.s = mkOption {
            type = types.submoduleWith {
              modules = [ ];
              shorthandOnlyDefinesConfig = true;
            };
          };
        }
        {
          options.s = mkOption {
            type = types.submoduleWith {
              modules = [ ];
              shorthandOnlyDefinesConfig = false;
            };
          };
        }
        { s = { }; }
      ];
    }
    {
      name = "submodule/readOnly";
      value = [
        (try (evalConfig [
          {
            options.s = mkOption {
              readOnly = true;
              type = types.submodule { options.a = mkOption { type = types.int; }; };
            };
          }
          { s.a = 1; }
        ]))
        (try (evalConfig [
          {
            options.s = mkOption {
              readOnly = true;
              type = types.submodule { options.a = mkOption { type = types.int; }; };
            };
          }
          { s.a = 1; }
          { s.a = 1; }
        ]))
      ];
    }

    # ---- freeformType at the top ----
    {
      name = "freeform/top-level";
      value = evalConfig [
        {
          freeformType = types.attrsOf (types.either types.int types.str);
          options.declared = mkOption {
            type = types.int;
            default = 1;
          };
        }
        {
          anything = "x";
          number = 5;
          declared = 2;
        }
      ];
    }
    {
      name = "freeform/via-_module";
      value = evalConfig [
        {
          config._module.freeformType = types.attrsOf types.int;
          options.a = mkOption {
            type = types.int;
            default = 1;
          };
        }
        { b = 2; }
        { c = mkIf false 3; }
      ];
    }
    {
      name = "freeform/nested-namespace";
      value = evalConfig [
        {
          freeformType = types.attrsOf (types.attrsOf types.str);
          options.ns.declared = mkOption {
            type = types.str;
            default = "d";
          };
        }
        { ns.free = "f"; }
        { other.x = "o"; }
      ];
    }
    {
      name = "freeform/lazyAttrsOf-anything-nested";
      value = evalConfig [
        { freeformType = types.lazyAttrsOf types.anything; }
        { a.b.c = 1; }
        { a.b.d = mkDefault 2; }
        { a.b.d = 3; }
      ];
    }

    # ---- deferredModule ----
    {
      name = "deferredModule/two-definitions-imported-in-submodules";
      value =
        (evalConfig [
        (
          { config, ... }:
          {
            options.common = mkOption {
              type = types.deferredModule;
              default = { };
            };
            options.nodes = mkOption {
              type = types.attrsOf (
                types.submodule {
                  imports = [ config.common ];
                  options.items = mkOption {
                    type = listOfStr;
                    default = [ ];
                  };
                }
              );
            };
          }
        )
        { common.items = [ "from-attrs" ]; }
        {
          common =
            { name, ... }:
            {
              items = mkBefore [ "from-function-${name}" ];
            };
        }
        {
          nodes.a.items = [ "own" ];
          nodes.b = { };
        }
      ]).nodes;
    }
    {
      name = "deferredModule/value";
      value =
        let
          v = valueOf types.deferredModule [
            { a = 1; }
            { b = 2; }
          ];
        in
        {
          names = builtins.attrNames v;
          imports = builtins.length v.imports;
        };
    }
    {
      name = "deferredModule/as-imports";
      value = evalConfig [
        (
          { config, ... }:
          {
            options.extra = mkOption {
              type = types.deferredModule;
              default = { };
            };
            options.out = mkOption {
              type = types.lazyAttrsOf types.raw;
            };
            config.out =
              (lib.evalModules {
                modules = [
                  { options.l = mkOption { type = listOfStr; }; }
                  { imports = [ config.extra ]; }
                  { l = [ "base" ]; }
                ];
              }).config;
          }
        )
        { extra.l = [ "x" ]; }
        { extra.l = mkAfter [ "y" ]; }
      ];
    }
    {
      name = "deferredModule/bad-value";
      value = valueOf types.deferredModule [ 5 ];
    }

    # ---- module arguments ----
    {
      name = "args/module-args-and-specialArgs";
      value =
        (lib.evalModules {
          specialArgs.special = "S";
          modules = [
            {
              options.out = mkOption { type = listOfStr; };
              config._module.args.extra = "E";
            }
            (
              {
                special,
                extra,
                lib,
                options,
                config,
                ...
              }:
              {
                out = [
                  special
                  extra
                  (lib.boolToString (options ? out))
                  (builtins.typeOf config)
                ];
              }
            )
            (args: { out = [ (builtins.concatStringsSep "," (builtins.attrNames args)) ]; })
          ];
        }).config;
    }
    {
      name = "args/specialArgs-in-imports";
      value =
        (lib.evalModules {
          specialArgs.which = "b";
          modules = [
            { options.out = mkOption { type = types.str; }; }
            (
              { which, ... }:
              {
                imports = [
                  (
                    if which == "a" then
                      { out = "imported a"; }
                    else
                      { out = "imported b"; }
                  )
                ];
              }
            )
          ];
        }).config;
    }
    {
      name = "args/module-args-conflict";
      value = evalConfig [
        { options.out = mkOption { type = types.str; }; }
        { _module.args.v = "a"; }
        { _module.args.v = "b"; }
        ({ v, ... }: { out = v; })
      ];
    }
    {
      name = "args/module-args-priority";
      value = evalConfig [
        { options.out = mkOption { type = types.str; }; }
        { _module.args.v = mkDefault "default"; }
        { _module.args.v = "set"; }
        ({ v, ... }: { out = v; })
      ];
    }
    {
      name = "args/lib-and-specialArgs";
      value =
        (lib.evalModules {
          specialArgs.lib = lib // {
            marker = "custom lib";
          };
          modules = [
            { options.out = mkOption { type = types.str; }; }
            ({ lib, ... }: { out = lib.marker; })
          ];
        }).config;
    }
    {
      name = "args/_module-visible";
      value =
        let
          e = lib.evalModules {
            specialArgs.s = 1;
            modules = [
              { _module.args.a = 2; }
            ];
          };
        in
        {
          config = builtins.attrNames e.config;
          module = builtins.attrNames e._module;
          args = builtins.attrNames e._module.args;
          inherit (e._module) check freeformType specialArgs;
          options = builtins.attrNames e.options._module;
          type = e.type.name;
          class = e.class;
        };
    }

    # ---- module forms ----
    {
      name = "modules/files-and-dedup";
      value = evalConfig [
        ./modules/options.nix
        ./modules/function.nix
        ./modules/shared.nix
        { imports = [ ./modules/shared.nix ]; }
        { count = 2; }
      ];
    }
    {
      name = "modules/key-dedup";
      value = evalConfig [
        { options.l = mkOption { type = listOfStr; }; }
        {
          key = "once";
          l = [ "keyed" ];
        }
        {
          imports = [
            {
              key = "once";
              l = [ "keyed" ];
            }
          ];
        }
        { l = [ "anonymous" ]; }
        { imports = [ { l = [ "anonymous" ]; } ]; }
      ];
    }
    {
      name = "modules/disabledModules";
      value = evalConfig [
        ./modules/options.nix
        ./modules/function.nix
        { disabledModules = [ ./modules/function.nix ]; }
        {
          key = "by-key";
          items = [ "keyed" ];
        }
        { disabledModules = [ { key = "by-key"; } ]; }
      ];
    }
    {
      name = "modules/nested-imports-list";
      value = evalConfig [ { imports = [ [ { } ] ]; } ];
    }
    {
      name = "modules/unsupported-top-level-attribute";
      value = evalConfig [
        {
          config = { };
          stray = 1;
        }
      ];
    }
    {
      name = "modules/not-a-module";
      value = evalConfig [ { _type = "configuration"; } ];
    }
    {
      name = "modules/mkIf-as-module";
      value = evalConfig [
        { options.a = mkOption { type = types.int; }; }
        (mkIf true { a = 1; })
      ];
    }
    {
      name = "modules/class";
      value = [
        (try (lib.evalModules {
          class = "nixos";
          modules = [ { _class = "nixos"; } ];
        }).config)
        (try (lib.evalModules {
          class = "nixos";
          modules = [ { _class = "darwin"; } ];
        }).config)
        (try (lib.evalModules {
          modules = [ { _class = "darwin"; } ];
        }).config)
      ];
    }
    {
      name = "modules/options-and-config-split";
      value = evalConfig [
        {
          options.a = mkOption { type = types.int; };
          config.a = 1;
        }
        {
          imports = [ ];
          config.a = mkForce 2;
        }
      ];
    }
    {
      name = "modules/import-order";
      value = evalConfig [
        { options.l = mkOption { type = listOfStr; }; }
        {
          l = [ "A" ];
          imports = [
            {
              l = [ "A1" ];
              imports = [ { l = [ "A11" ]; } ];
            }
            { l = [ "A2" ]; }
          ];
        }
        {
          l = [ "B" ];
          imports = [ { l = [ "B1" ]; } ];
        }
      ];
    }
    {
      name = "modules/string-path-dedup";
      value = evalConfig [
        ./modules/options.nix
        (toString ./modules/shared.nix)
        ./modules/shared.nix
      ];
    }
    {
      name = "modules/disabled-by-modulesPath";
      value =
        (lib.evalModules {
          specialArgs.modulesPath = toString ./modules;
          modules = [
            ./modules/options.nix
            ./modules/shared.nix
            { disabledModules = [ "shared.nix" ]; }
            { items = [ "kept" ]; }
          ];
        }).config;
    }
    {
      name = "modules/pkgs-argument";
      value = evalConfig [
        { options.out = mkOption { type = types.str; }; }
        { _module.args.pkgs = { hello = hello; }; }
        ({ pkgs, ... }: { out = pkgs.hello.name; })
      ];
    }
    {
      name = "modules/meta-and-require";
      value = evalConfig [
        {
          options.meta = mkOption {
            type = types.attrsOf types.str;
            default = { };
          };
          options.l = mkOption {
            type = listOfStr;
            default = [ ];
          };
        }
        {
          config.l = [ "explicit" ];
          meta.a = "1";
        }
        {
          meta.b = "2";
          require = [ { l = [ "required" ]; } ];
        }
      ];
    }
    {
      name = "modules/namespace-mkIf-on-non-attrs";
      value = evalConfig [
        { options.a.b = mkOption { type = types.int; }; }
        { a = mkIf false 5; }
      ];
    }
    {
      name = "modules/namespace-mkForce";
      value = evalConfig [
        {
          options.a.b = mkOption { type = types.int; };
          options.a.c = mkOption {
            type = types.int;
            default = 0;
          };
        }
        {
          a = mkForce {
            b = 1;
            c = 1;
          };
        }
        {
          a.b = 2;
          a.c = mkOverride 10 2;
        }
      ];
    }
    {
      name = "modules/definitions-of-option";
      value =
        (eval [
          { options.l = mkOption { type = listOfStr; }; }
          { l = mkAfter [ "z" ]; }
          { l = [ "a" ]; }
          { l = mkIf false [ "no" ]; }
        ]).options.l.definitions;
    }
    {
      name = "modules/prefix";
      value = [
        (try (lib.evalModules {
          prefix = [ "outer" ];
          modules = [
            { options.a = mkOption { type = types.int; }; }
            { a = 1; }
          ];
        }).config)
        (try (lib.evalModules {
          prefix = [ "outer" ];
          modules = [
            { options.a = mkOption { type = types.int; }; }
            { b = 1; }
          ];
        }).config)
      ];
    }
    {
      name = "modules/importApply";
      value =
        let
          e = eval [
            ./modules/options.nix
            (lib.modules.importApply ./modules/apply.nix "hello")
            { count = 3; }
          ];
        in
        {
          inherit (e.config) items;
          inherit (e.options.items) files;
        };
    }
    {
      name = "modules/positions";
      value =
        let
          o =
            (eval [
              {
                options.x = mkOption {
                  type = listOfStr;
                  default = [ ];
                };
              }
              { options.x = mkOption { type = listOfStr; }; }
              {
                _file = "def.nix";
                x = [ "a" ];
              }
            ]).options.x;
        in
        {
          inherit (o) declarations definitionsWithLocations;
          # Lines depend on this file's layout: only their kind and order are compared.
          positions = builtins.map (p: {
            inherit (p) file;
            line = builtins.typeOf p.line;
          }) o.declarationPositions;
          later =
            (builtins.elemAt o.declarationPositions 0).line
            > (builtins.elemAt o.declarationPositions 1).line;
        };
    }
    {
      name = "modules/legacy-check-argument";
      value = [
        (try (lib.evalModules {
          modules = [ { undeclared = 1; } ];
          check = false;
        }).config)
        (try (lib.evalModules {
          modules = [
            {
              options.a = mkOption { type = types.int; };
              options.b = mkOption { type = types.int; };
            }
            { a = 1; }
            ({ extra, ... }: { b = extra; })
          ];
          args.extra = 2;
        }).config)
      ];
    }
    {
      name = "modules/graph-disabled";
      value =
        (eval [
          {
            key = "a";
            imports = [
              {
                key = "b";
                disabledModules = [ { key = "c"; } ];
              }
            ];
          }
          { key = "c"; }
        ]).graph;
    }
    {
      name = "modules/graph";
      value =
        (eval [
          ./modules/options.nix
          {
            key = "k";
            imports = [ ./modules/shared.nix ];
          }
        ]).graph;
    }
    {
      name = "modules/setDefaultModuleLocation";
      value =
        (eval [
          { options.x = mkOption { type = listOfStr; }; }
          (lib.setDefaultModuleLocation "somewhere.nix" { x = [ "a" ]; })
        ]).options.x.files;
    }

    # ---- extendModules and moduleType ----
    {
      name = "extend/extendModules";
      value =
        let
          base = lib.evalModules {
            modules = [
              {
                options.l = mkOption { type = listOfStr; };
                options.i = mkOption {
                  type = types.int;
                  default = 1;
                };
              }
              { l = [ "base" ]; }
            ];
          };
          extended = base.extendModules {
            modules = [
              {
                l = [ "extension" ];
                i = mkForce 2;
              }
            ];
          };
          twice = extended.extendModules { modules = [ { l = mkBefore [ "first" ]; } ]; };
        in
        {
          base = base.config;
          extended = extended.config;
          twice = twice.config;
        };
    }
    {
      name = "extend/module-argument";
      value =
        let
          e = lib.evalModules {
            modules = [
              (
                { extendModules, ... }:
                {
                  options.l = mkOption { type = listOfStr; };
                  options.more = mkOption {
                    type = types.raw;
                    default = (extendModules { modules = [ { l = [ "more" ]; } ]; }).config.l;
                  };
                }
              )
              { l = [ "base" ]; }
            ];
          };
        in
        e.config;
    }
    {
      name = "extend/moduleType-interactive";
      value =
        let
          c = evalConfig [
            (
              { moduleType, ... }:
              {
                options.interactive = mkOption {
                  type = moduleType;
                  visible = "shallow";
                };
                options.args = mkOption {
                  type = listOfStr;
                  default = [ ];
                };
                options.name = mkOption { type = types.str; };
              }
            )
            {
              name = "t";
              args = [ "--base" ];
            }
            { interactive.args = [ "--interactive" ]; }
          ];
        in
        {
          inherit (c) args name;
          interactive = {
            inherit (c.interactive) args name;
          };
        };
    }
    {
      name = "extend/type-of-evaluation";
      value =
        let
          e = lib.evalModules {
            modules = [
              {
                options.a = mkOption {
                  type = types.int;
                  default = 1;
                };
              }
            ];
          };
          c = evalConfig [
            {
              options.sub = mkOption { type = e.type; };
            }
            { sub.a = 5; }
          ];
        in
        c;
    }

    # ---- aliases ----
    {
      name = "alias/mkAliasOptionModule";
      value = evalConfig [
        {
          options.new = mkOption {
            type = listOfStr;
            default = [ ];
          };
        }
        (lib.mkAliasOptionModule [ "old" ] [ "new" ])
        { old = [ "via-old" ]; }
        { new = [ "via-new" ]; }
      ];
    }
    {
      name = "alias/mkRemovedOptionModule";
      value =
        let
          c = evalConfig [
            {
              options.assertions = mkOption {
                type = types.listOf types.unspecified;
                default = [ ];
              };
            }
            (lib.mkRemovedOptionModule [ "gone" ] "Use something else.")
            { gone = 1; }
          ];
        in
        builtins.map (a: a.assertion) c.assertions;
    }
    {
      name = "alias/mkAliasDefinitions";
      value = evalConfig [
        (
          { options, ... }:
          {
            options.a = mkOption { type = listOfStr; };
            options.b = mkOption { type = listOfStr; };
            config.b = lib.mkAliasDefinitions options.a;
          }
        )
        { a = [ "x" ]; }
        { a = [ "y" ]; }
      ];
    }
    {
      name = "alias/mkRenamedOptionModule";
      value =
        (evalConfig [
          {
            options.new = mkOption {
              type = types.int;
              default = 0;
            };
          }
          (lib.mkRenamedOptionModule [ "old" ] [ "new" ])
          { old = mkDefault 3; }
        ]).new;
    }
    {
      name = "alias/mkDerivedConfig-wins";
      value = evalConfig [
        (
          { options, ... }:
          {
            options.text = mkOption { type = types.str; };
            options.upper = mkOption { type = types.str; };
            config.upper = lib.mkDerivedConfig options.text lib.toUpper;
          }
        )
        { text = "abc"; }
      ];
    }
    {
      name = "alias/mkDerivedConfig";
      value = evalConfig [
        (
          { options, ... }:
          {
            options.text = mkOption { type = types.str; };
            options.upper = mkOption { type = types.str; };
            config.upper = lib.mkDerivedConfig options.text lib.toUpper;
          }
        )
        { text = mkDefault "abc"; }
        { upper = "explicit"; }
      ];
    }

    {
      name = "extend/lib-extend";
      value =
        let
          l = lib.extend (
            final: prev: {
              answer = 42;
              double = x: final.answer * x;
            }
          );
        in
        [
          l.answer
          (l.double 2)
          (l ? mkOption)
          (l.extend (final: prev: { answer = 1; })).answer
        ];
    }

    # ---- options functions ----
    {
      name = "options/mkPackageOption";
      value =
        let
          pkgs = {
            inherit hello;
            tools.hello = hello;
          };
          e = eval [
            {
              options.p = lib.mkPackageOption pkgs "hello" { };
              options.q = lib.mkPackageOption pkgs "hello" {
                default = [
                  "tools"
                  "hello"
                ];
                example = "pkgs.other";
                extraDescription = "More.";
              };
              options.n = lib.mkPackageOption pkgs "missing" {
                nullable = true;
                default = null;
              };
            }
          ];
        in
        {
          p = e.config.p.name;
          q = e.config.q.name;
          inherit (e.config) n;
          pText = e.options.p.defaultText;
          qText = e.options.q.defaultText;
          qExample = e.options.q.example;
          descriptions = [
            e.options.p.description
            e.options.q.description
            e.options.n.description
          ];
          types = [
            e.options.p.type.name
            e.options.n.type.name
          ];
        };
    }
    {
      name = "options/mkSinkUndeclaredOptions";
      value =
        let
          e = eval [
            { options.sink = lib.mkSinkUndeclaredOptions { }; }
            { sink.anything.at.all = 1; }
          ];
        in
        [
          e.options.sink.isDefined
          (try e.config.sink)
        ];
    }
    {
      name = "options/mapDefinitionValue";
      value = [
        (lib.modules.mapDefinitionValue (x: x + 1) (mkForce (mkIf true 1)))
        (lib.modules.mapDefinitionValue (x: x + 1) (mkMerge [
          1
          (mkBefore 2)
        ]))
        (lib.modules.mapDefinitionValue (x: x + 1) 5)
      ];
    }
    {
      name = "options/mkEnableOption";
      value =
        let
          o = lib.mkEnableOption "the feature";
        in
        {
          inherit (o) default example description;
          type = o.type.name;
        };
    }
    {
      name = "options/literals-and-showOption";
      value = [
        (lib.literalExpression "pkgs.hello")
        (lib.literalMD "*text*")
        (try (lib.literalExpression 1))
        (lib.showOption [
          "a"
          "b c"
          "<name>"
          "*"
          "let"
        ])
        (lib.showFiles [
          "a.nix"
          "b.nix"
        ])
        (lib.options.getValues [ { value = 1; } ])
        (lib.options.getFiles [ { file = "f"; } ])
        (lib.mergeOneOption [ "x" ] [ { value = 1; } ])
        (try (lib.mergeOneOption [ "x" ] [
          {
            file = "a";
            value = 1;
          }
          {
            file = "b";
            value = 1;
          }
        ]))
        (lib.mergeEqualOption [ "x" ] [
          {
            file = "a";
            value = 1;
          }
          {
            file = "b";
            value = 1;
          }
        ])
        (lib.mergeDefaultOption [ "x" ] [
          {
            file = "a";
            value = [ 1 ];
          }
          {
            file = "b";
            value = [ 2 ];
          }
        ])
      ];
    }
    {
      name = "options/module-internals";
      value = [
        (lib.modules.mergeDefinitions [ "x" ] types.int [
          {
            file = "a";
            value = mkDefault 1;
          }
          {
            file = "b";
            value = 2;
          }
        ]).mergedValue
        (lib.filterOverrides [
          {
            file = "a";
            value = mkForce 1;
          }
          {
            file = "b";
            value = 2;
          }
        ])
        (lib.sortProperties [
          {
            file = "a";
            value = mkAfter 1;
          }
          {
            file = "b";
            value = 2;
          }
        ])
        (lib.mkIf true 1)
        (lib.mkMerge [ 1 ])
        (lib.mkOverride 5 1)
        (lib.mkOrder 5 1)
        (mkBefore 1)
        (mkAfter 1)
        (mkOptionDefault 1)
        (lib.mkVMOverride 1)
        (lib.mkImageMediaOverride 1)
      ];
    }

    # ---- library: trivial ----
    {
      name = "trivial/basics";
      value = [
        (lib.id 1)
        (lib.const 1 2)
        (lib.flip builtins.sub 1 10)
        (lib.pipe 2 [
          (x: x + 1)
          (x: x * 10)
        ])
        (lib.boolToString true)
        (lib.boolToString false)
        (lib.min 1 2)
        (lib.max 1 2)
        (lib.mod 7 3)
        (lib.compare 1 2)
        (lib.defaultTo 1 null)
        (lib.mapNullable (x: x + 1) null)
        (lib.mapNullable (x: x + 1) 1)
        (lib.trivial.release)
        (lib.version)
        (lib.trivial.oldestSupportedReleaseIsAtLeast 2411)
        (lib.trivial.oldestSupportedReleaseIsAtLeast 2705)
        (lib.toFunction 5 0)
        (lib.toFunction (x: x + 1) 1)
        (lib.xor true false)
        (lib.trivial.bitNot 0)
        (builtins.map lib.toHexString [
          0
          9
          10
          255
          4096
          3735928559
        ])
        (lib.trivial.toBaseDigits 2 10)
        (try (lib.trivial.toBaseDigits 1 10))
        (lib.mergeAttrs { a = 1; } { b = 2; })
      ];
    }
    {
      name = "trivial/throws";
      value = [
        (try (lib.throwIf true "no" 1))
        (try (lib.throwIf false "no" 1))
        (try (lib.throwIfNot false "no" 1))
        (try (lib.throwIfNot true "no" 1))
        (try (lib.warnIf false "never" 1))
        (try (lib.warnIfNot true "never" 2))
        (try (
          assert lib.assertMsg false "message";
          1
        ))
        (try (
          assert lib.assertMsg true "message";
          1
        ))
        (try (
          assert lib.assertOneOf "x" "a" [
            "a"
            "b"
          ];
          1
        ))
        (try (
          assert lib.assertOneOf "x" "c" [
            "a"
            "b"
          ];
          1
        ))
      ];
    }
    {
      name = "trivial/functionArgs";
      value = [
        (lib.functionArgs (
          { a, b ? 1 }: a
        ))
        (lib.functionArgs (x: x))
        (lib.functionArgs (lib.setFunctionArgs (x: x) { a = false; }))
        (lib.functionArgs (lib.mirrorFunctionArgs ({ a ? 1 }: a) (args: args)))
        (lib.isFunction (x: x))
        (lib.isFunction { __functor = self: x: x; })
        (lib.isFunction { })
        (lib.setFunctionArgs (x: x.a + 1) { a = false; } { a = 1; })
      ];
    }
    {
      name = "trivial/fixed-points";
      value = [
        (lib.fix (self: {
          a = 1;
          b = self.a + 1;
        }))
        (lib.fix (
          lib.extends
            (final: prev: {
              a = prev.a + 10;
              c = final.b;
            })
            (self: {
              a = 1;
              b = self.a + 1;
            })
        ))
        (
          let
            e = lib.makeExtensible (self: {
              a = 1;
              b = self.a + 1;
            });
            e2 = e.extend (final: prev: { a = 5; });
          in
          {
            inherit (e2) a b;
          }
        )
        (lib.toExtension { a = 1; } { } { })
        (lib.toExtension (prev: { a = prev.a + 1; }) { } { a = 1; })
        (lib.toExtension (final: prev: { a = prev.a + 2; }) { } { a = 1; })
        (lib.composeExtensions (final: prev: { a = 1; }) (final: prev: { b = prev.a + 1; }) { } { })
      ];
    }

    # ---- library: lists ----
    {
      name = "lists/basics";
      value = [
        (lib.optional true 1)
        (lib.optional false 1)
        (lib.optionals true [
          1
          2
        ])
        (lib.optionals false [ 1 ])
        (lib.concatMap (x: [
          x
          x
        ]) n12)
        (lib.flatten [
          1
          [
            2
            [
              3
              [ ]
            ]
          ]
          4
        ])
        (lib.flatten 5)
        (lib.unique [
          3
          1
          3
          2
          1
        ])
        (lib.elem 2 [
          1
          2
        ])
        (lib.filter (x: x > 1) [
          1
          2
          3
        ])
        (lib.foldl' (a: x: a + x) 0 [
          1
          2
          3
        ])
        (lib.foldr (x: acc: [ x ] ++ acc) [ ] [
          1
          2
          3
        ])
        (lib.foldl (acc: x: [ x ] ++ acc) [ ] [
          1
          2
          3
        ])
        (lib.head [
          1
          2
        ])
        (lib.tail [
          1
          2
        ])
        (lib.last [
          1
          2
          3
        ])
        (try (lib.last [ ]))
        (lib.init [
          1
          2
          3
        ])
        (try (lib.init [ ]))
        (lib.take 2 [
          1
          2
          3
        ])
        (lib.take 5 [ 1 ])
        (lib.drop 2 [
          1
          2
          3
        ])
        (lib.drop 5 [ 1 ])
        (lib.lists.takeEnd 2 [
          1
          2
          3
        ])
        (lib.lists.dropEnd 2 [
          1
          2
          3
        ])
        (lib.sublist 1 2 [
          1
          2
          3
          4
        ])
        (lib.range 2 5)
        (lib.range 5 2)
        (lib.replicate 3 "x")
      ];
    }
    {
      name = "lists/indexed-and-zips";
      value = [
        (lib.imap0 (i: x: "${toString i}${x}") [
          "a"
          "b"
        ])
        (lib.imap1 (i: x: "${toString i}${x}") [
          "a"
          "b"
        ])
        (lib.forEach [
          1
          2
        ] (x: x * 2))
        (lib.zipLists n123 ab)
        (lib.zipListsWith (a: b: a + b) n12 (builtins.map (x: x * 10) n123))
        (lib.toList 1)
        (lib.toList [ 1 ])
        (lib.length [
          1
          2
        ])
        (lib.reverseList [
          1
          2
          3
        ])
        (lib.genList (i: i * i) 4)
        (lib.concatLists [
          [ 1 ]
          [
            2
            3
          ]
        ])
        (lib.singleton 1)
        (lib.lists.ifilter0 (i: _: i != 1) [
          "a"
          "b"
          "c"
        ])
        (lib.remove 1 [
          1
          2
          1
        ])
      ];
    }
    {
      name = "lists/searching-and-sets";
      value = [
        (lib.sort (a: b: a < b) [
          3
          1
          2
        ])
        (lib.sortOn (x: x.k) [
          {
            k = 2;
            v = "a";
          }
          {
            k = 1;
            v = "b";
          }
          {
            k = 2;
            v = "c";
          }
        ])
        (lib.all (x: x > 0) [
          1
          2
        ])
        (lib.any (x: x > 1) [
          1
          2
        ])
        (lib.all (x: x > 0) [ ])
        (lib.count (x: x > 1) [
          1
          2
          3
        ])
        (lib.findFirst (x: x > 1) "none" [
          1
          2
          3
        ])
        (lib.findFirst (x: x > 5) "none" [
          1
          2
        ])
        (lib.lists.findFirstIndex (x: x == "b") null [
          "a"
          "b"
        ])
        (lib.findSingle (x: x > 1) "none" "many" [
          1
          2
        ])
        (lib.findSingle (x: x > 0) "none" "many" [
          1
          2
        ])
        (lib.partition (x: x > 1) [
          1
          2
          3
        ])
        (lib.groupBy (x: if x > 1 then "big" else "small") [
          1
          2
          3
        ])
        (lib.groupBy' builtins.add 0 (x: if x > 1 then "big" else "small") [
          1
          2
          3
        ])
        (lib.subtractLists [ 2 ] [
          1
          2
          3
          2
        ])
        (lib.intersectLists [
          2
          3
        ] n1234)
        (lib.mutuallyExclusive [ 1 ] [ 2 ])
        (lib.mutuallyExclusive [ 1 ] [ 1 ])
        (lib.allUnique [
          1
          2
        ])
        (lib.uniqueStrings [
          "b"
          "a"
          "b"
        ])
        (lib.compareLists lib.compare n12 [
          1
          3
        ])
      ];
    }

    # ---- library: attrsets ----
    {
      name = "attrsets/mapping";
      value = [
        (lib.mapAttrs (n: v: "${n}=${toString v}") {
          a = 1;
          b = 2;
        })
        (lib.mapAttrs' (n: v: lib.nameValuePair "x-${n}" (v + 1)) {
          a = 1;
          b = 2;
        })
        (lib.mapAttrsToList (n: v: "${n}${toString v}") {
          b = 2;
          a = 1;
        })
        (lib.filterAttrs (n: v: v > 1) {
          a = 1;
          b = 2;
        })
        (lib.genAttrs [
          "x"
          "y"
        ] (n: "${n}!"))
        (lib.attrNames {
          b = 1;
          a = 2;
        })
        (lib.attrValues {
          b = 1;
          a = 2;
        })
        (lib.concatMapAttrs (n: v: {
          ${n} = v;
          "${n}2" = v * 2;
        }) { a = 1; })
        (lib.foldlAttrs (acc: n: v: acc ++ [ "${n}${toString v}" ]) [ "init" ] {
          b = 2;
          a = 1;
        })
        (lib.attrsToList { a = 1; })
        (lib.mapAttrsRecursive (path: v: builtins.concatStringsSep "." path) {
          a.b = 1;
          c = 2;
        })
        (lib.mapAttrsRecursiveCond (as: !(as ? stop)) (path: v: path) {
          a.b = 1;
          s = {
            stop = true;
          };
        })
        (lib.filterAttrsRecursive (n: v: n != "drop") {
          a.drop = 1;
          a.keep = 2;
          drop = 3;
        })
        (lib.collect builtins.isInt {
          a.b = 1;
          c = [ 2 ];
          d = 3;
        })
      ];
    }
    {
      name = "attrsets/paths";
      value = [
        (lib.attrByPath [
          "a"
          "b"
        ] "default" { a.b = 1; })
        (lib.attrByPath [
          "a"
          "x"
        ] "default" { a.b = 1; })
        (lib.attrByPath [
          "a"
          "b"
          "c"
        ] "default" { a.b = 1; })
        (lib.attrByPath [ ] "default" { a = 1; })
        (lib.setAttrByPath [
          "a"
          "b"
        ] 1)
        (lib.setAttrByPath [ ] 1)
        (lib.getAttrFromPath [
          "a"
          "b"
        ] { a.b = 1; })
        (lib.hasAttrByPath [
          "a"
          "b"
        ] { a.b = 1; })
        (lib.hasAttrByPath [
          "a"
          "c"
        ] { a.b = 1; })
        (lib.hasAttrByPath [
          "a"
          "b"
          "c"
        ] { a.b = 1; })
        (lib.hasAttrByPath [ ] 1)
        (lib.attrVals [
          "a"
          "b"
        ] {
          a = 1;
          b = 2;
          c = 3;
        })
        (lib.getAttrs [ "a" ] {
          a = 1;
          b = 2;
        })
        (lib.catAttrs "a" [
          { a = 1; }
          { b = 2; }
          { a = 3; }
        ])
        (lib.showAttrPath [
          "a"
          "b.c"
          "let"
        ])
        (lib.showAttrPath [ ])
      ];
    }
    {
      name = "attrsets/merging";
      value = [
        (lib.recursiveUpdate
          {
            a.b = 1;
            a.c = 2;
            d = 3;
            e.f = 1;
          }
          {
            a.b = 10;
            d.x = 1;
            e = 5;
          }
        )
        (lib.optionalAttrs true { a = 1; })
        (lib.optionalAttrs false { a = 1; })
        (lib.listToAttrs [
          (lib.nameValuePair "a" 1)
          (lib.nameValuePair "a" 2)
          (lib.nameValuePair "b" 3)
        ])
        (lib.intersectAttrs { a = 1; } {
          a = 2;
          b = 3;
        })
        (lib.removeAttrs {
          a = 1;
          b = 2;
        } [ "a" ])
        (lib.zipAttrsWith (n: vs: vs) [
          { a = 1; }
          {
            a = 2;
            b = 3;
          }
        ])
        (lib.zipAttrs [
          { a = 1; }
          { a = 2; }
        ])
        (lib.mergeAttrsList [
          {
            a = 1;
            b = 1;
          }
          { b = 2; }
          { c = 3; }
        ])
        (lib.mergeAttrsList [ ])
        (lib.foldAttrs (x: acc: [ x ] ++ acc) [ ] [
          { a = 1; }
          {
            a = 2;
            b = 3;
          }
        ])
        (lib.cartesianProduct {
          a = [
            1
            2
          ];
          b = [
            "x"
            "y"
          ];
        })
        (lib.overrideExisting {
          a = 1;
          b = 2;
        } {
          a = 10;
          c = 3;
        })
        (lib.matchAttrs { a.b = 1; } {
          a.b = 1;
          c = 2;
        })
        (lib.matchAttrs { a = 2; } { a = 1; })
        (lib.recurseIntoAttrs { a = 1; })
      ];
    }
    {
      name = "attrsets/derivations";
      value = [
        (lib.isDerivation hello)
        (lib.isDerivation { a = 1; })
        (lib.isDerivation realDrv)
        "${lib.getBin hello}"
        "${lib.getBin withBin}"
        "${lib.getOutput "dev" withBin}"
        "${lib.getOutput "bin" (withBin // { outputSpecified = true; })}"
        "${lib.getDev withBin}"
        "${lib.getLib hello}"
      ];
    }

    # ---- library: strings ----
    {
      name = "strings/concat";
      value = [
        (lib.concatStrings [
          "a"
          "b"
        ])
        (lib.concatStringsSep ", " [
          "a"
          "b"
        ])
        (lib.concatMapStrings (x: x + ";") [
          "a"
          "b"
        ])
        (lib.concatMapStringsSep "-" (x: x + x) [
          "a"
          "b"
        ])
        (lib.concatImapStrings (i: x: "${toString i}${x}") [
          "a"
          "b"
        ])
        (lib.concatImapStringsSep "," (i: x: "${toString i}${x}") [
          "a"
          "b"
        ])
        (lib.concatLines [
          "a"
          "b"
        ])
        (lib.concatLines [ ])
        (lib.optionalString true "yes")
        (lib.optionalString false "yes")
        (lib.intersperse "," [
          "a"
          "b"
          "c"
        ])
        (lib.concatMapAttrsStringSep "&" (n: v: "${n}=${v}") {
          b = "2";
          a = "1";
        })
      ];
    }
    {
      name = "strings/escaping";
      value = [
        (lib.escapeShellArg "simple")
        (lib.escapeShellArg "with space")
        (lib.escapeShellArg "it's")
        (lib.escapeShellArg "")
        (lib.escapeShellArg "$HOME")
        (lib.escapeShellArg "--flag=a,b:c@d%e/f+g.h")
        (lib.escapeShellArg 42)
        (lib.escapeShellArgs [
          "a"
          "b c"
          "it's"
          ""
          "$x"
          "--flag=1"
          "semi;colon"
          "new\nline"
        ])
        (lib.escapeShellArgs [ ])
        (lib.strings.escapeNixString "a\"b$c\n")
        (lib.strings.escapeNixIdentifier "simple")
        (lib.strings.escapeNixIdentifier "with-dash")
        (lib.strings.escapeNixIdentifier "1st")
        (lib.strings.escapeNixIdentifier "rec")
        (lib.escapeRegex "a.b*c[d]")
        (lib.escape [ "$" ] "a$b")
        (lib.toShellVar "v" "a b")
        (lib.toShellVar "l" [
          "a"
          "b c"
        ])
        (lib.toShellVars {
          a = "1";
          b = [ "x" ];
        })
        (try (lib.toShellVar "1bad" "x"))
        (lib.isValidPosixName "a_1")
        (lib.isValidPosixName "1a")
      ];
    }
    {
      name = "strings/affixes-and-case";
      value = [
        (lib.hasPrefix "ab" "abc")
        (lib.hasPrefix "b" "abc")
        (lib.hasSuffix "bc" "abc")
        (lib.hasSuffix "abcd" "abc")
        (lib.hasInfix "b" "abc")
        (lib.hasInfix "x" "abc")
        (lib.hasInfix "" "abc")
        (lib.removePrefix "ab" "abc")
        (lib.removePrefix "x" "abc")
        (lib.removeSuffix "bc" "abc")
        (lib.removeSuffix "x" "abc")
        (lib.removeSuffix "abcd" "abc")
        (lib.toUpper "aBc1")
        (lib.toLower "AbC1")
        (lib.stringAsChars (c: if c == "a" then "A" else c) "banana")
        (lib.stringToCharacters "abc")
        (lib.stringToCharacters "")
        (lib.substring 1 2 "abcd")
        (lib.stringLength "abc")
        (lib.replaceStrings
          [
            "a"
            "b"
          ]
          [
            "1"
            "2"
          ]
          "abc"
        )
        (lib.replaceString "a" "x" "banana")
      ];
    }
    {
      name = "strings/splitting-and-trimming";
      value = [
        (lib.splitString "," "a,b,,c")
        (lib.splitString "." "a.b")
        (lib.splitString ", " "a, b")
        (lib.splitString "," "")
        (lib.splitString "\n" "l1\nl2\n")
        (lib.trim "  a b \n\t")
        (lib.trim "")
        (lib.trim "   ")
        (lib.trim "x")
        ((lib.trimWith { start = true; }) "  a  ")
        ((lib.trimWith { end = true; }) "  a  ")
        ((lib.trimWith { }) "  a  ")
      ];
    }
    {
      name = "strings/numbers-and-versions";
      value = [
        (lib.toInt "42")
        (lib.toInt " -7 ")
        (try (lib.toInt "042"))
        (try (lib.toInt "4.2"))
        (try (lib.toInt "x"))
        (lib.toInt "0")
        (lib.toIntBase10 "042")
        (lib.toIntBase10 "000")
        (try (lib.toIntBase10 "a1"))
        (lib.versionOlder "1.2" "1.10")
        (lib.versionAtLeast "1.10" "1.2")
        (lib.versionAtLeast "1.2" "1.2")
        (lib.fixedWidthString 5 "0" "12")
        (lib.fixedWidthNumber 3 7)
        (try (lib.fixedWidthString 1 "0" "12"))
        (lib.boolToString (lib.isString "a"))
        (lib.isInt 1)
        (lib.isBool false)
        (lib.isList [ ])
        (lib.isAttrs { })
        (lib.isFunction lib.id)
        (lib.isPath ./default.nix)
        (lib.isPath "/a")
        (lib.typeOf 1.5)
      ];
    }
    {
      name = "strings/packages-and-paths";
      value = [
        (lib.getName "hello-2.12.1")
        (lib.getName hello)
        (lib.getName (fakeDrv "no-pname-1.0" { }))
        (lib.getVersion "hello-2.12.1")
        (lib.getVersion hello)
        (lib.makeBinPath [
          hello
          withBin
          null
        ])
        (lib.makeSearchPath "lib" [
          "/a"
          "/b"
        ])
        (lib.makeSearchPath "share/x" [ ])
        (lib.makeLibraryPath [ "/a" ])
        (lib.isStorePath "/nix/store/0ds4wsk9dxqhvkwyw5grh9bs7vks1bzh-hello")
        (lib.isStorePath "/nix/store/0ds4wsk9dxqhvkwyw5grh9bs7vks1bzh-hello/bin")
        (lib.isStorePath "/etc")
        (lib.isStorePath hello)
        (lib.isStringLike hello)
        (lib.isStringLike 1)
        (lib.strings.sanitizeDerivationName "a b/c")
        (lib.strings.sanitizeDerivationName ".hidden")
        (lib.strings.sanitizeDerivationName "fine-1.0")
        (lib.mesonBool "tests" false)
        (lib.mesonEnable "docs" true)
        (lib.mesonOption "prefix" "/usr")
        (lib.cmakeBool "X" true)
        (lib.cmakeFeature "Y" "v")
        (lib.enableFeature true "x")
        (lib.enableFeatureAs false "x" "v")
        (lib.withFeature false "y")
        (lib.withFeatureAs true "y" "v")
        (lib.strings.hasPrefix "a" "abc")
        (lib.strings.concatStringsSep "/" [
          "a"
          "b"
        ])
      ];
    }
    {
      name = "meta/getExe";
      value = [
        (lib.getExe hello)
        (lib.getExe (fakeDrv "tool-1.0" { meta.mainProgram = "t"; }))
        (lib.getExe' hello "other")
        (lib.getExe' withBin "tool")
        (try (lib.getExe' hello "a/b"))
        (try (lib.getExe' { } "x"))
        (lib.meta.getExe hello)
      ];
    }
    {
      name = "meta/getExe-without-mainProgram";
      value = [
        (lib.getExe noMainProgram)
        (lib.getExe (fakeDrv "with-pname-1.0" { pname = "pn"; }))
      ];
    }
    {
      name = "meta/platforms-licenses";
      value = {
        linux = lib.platforms.linux;
        darwin = lib.platforms.darwin;
        mit = lib.licenses.mit;
        asl20 = lib.licenses.asl20;
      };
    }

    # ---- derivations ----
    {
      name = "lazyDerivation/passthru-without-derivation";
      value =
        let
          d = lib.lazyDerivation {
            derivation = throw "the derivation is not needed";
            passthru = {
              tests = "t";
              value = 1;
            };
            meta.description = "described";
          };
        in
        {
          names = builtins.attrNames d;
          inherit (d) type tests value meta outputs;
          isDerivation = lib.isDerivation d;
        };
    }
    {
      name = "lazyDerivation/forwards";
      value =
        let
          d = lib.lazyDerivation {
            derivation = realDrv;
            passthru.extra = true;
          };
        in
        {
          inherit (d)
            name
            drvPath
            outputName
            system
            extra
            ;
          path = d.outPath;
          out = d.out.outPath;
          str = "${d}";
        };
    }
    {
      name = "lazyDerivation/meta-from-derivation";
      value =
        (lib.lazyDerivation {
          derivation = realDrv // {
            meta.from = "drv";
          };
        }).meta;
    }
    {
      name = "lazyDerivation/not-a-derivation";
      value = (lib.lazyDerivation { derivation = { type = "other"; }; }).name;
    }
    {
      name = "lazyDerivation/outputs-mismatch";
      value =
        (lib.lazyDerivation {
          derivation = realDrv;
          outputs = [
            "out"
            "dev"
          ];
        }).outPath;
    }

    # ---- namespaces ----
    {
      name = "namespaces";
      value =
        builtins.map
          (
            path:
            let
              go =
                set: names:
                if names == [ ] then
                  true
                else
                  builtins.isAttrs set
                  && set ? ${builtins.head names}
                  && go set.${builtins.head names} (builtins.tail names);
            in
            go lib path
          )
          [
            [
              "attrsets"
              "mapAttrs"
            ]
            [
              "attrsets"
              "recursiveUpdate"
            ]
            [
              "lists"
              "unique"
            ]
            [
              "lists"
              "foldl'"
            ]
            [
              "strings"
              "concatMapStringsSep"
            ]
            [
              "strings"
              "escapeShellArgs"
            ]
            [
              "strings"
              "optionalString"
            ]
            [
              "trivial"
              "release"
            ]
            [
              "trivial"
              "warn"
            ]
            [
              "options"
              "mkOption"
            ]
            [
              "options"
              "showOption"
            ]
            [
              "types"
              "submoduleWith"
            ]
            [
              "types"
              "ints"
              "u32"
            ]
            [
              "modules"
              "evalModules"
            ]
            [
              "modules"
              "defaultOverridePriority"
            ]
            [
              "modules"
              "mkForce"
            ]
            [
              "meta"
              "getExe'"
            ]
            [
              "derivations"
              "lazyDerivation"
            ]
            [
              "fixedPoints"
              "fix"
            ]
            [
              "asserts"
              "assertMsg"
            ]
            [
              "debug"
              "traceIf"
            ]
            [ "mdDoc" ]
            [
              "options"
              "mdDoc"
            ]
          ];
    }
  ];
in
builtins.map (c: {
  inherit (c) name;
  value = scrub (try c.value);
}) cases
