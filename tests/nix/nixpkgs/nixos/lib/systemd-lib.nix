# Stand-in written for attest's CI (not nixpkgs code): the types of systemd units in the stand-in
# NixOS modules and the unit files made from them (nixpkgs spreads these over
# nixos/lib/systemd-lib.nix, systemd-types.nix and systemd-unit-options.nix).
#
# Models: `unitOption` (one value, or lists concatenated, as nixpkgs merges unit settings);
# services (enable, description, the dependency lists, wantedBy/requiredBy, path, environment,
# script/preStart/postStart/reload/preStop/postStop turned into ExecStart=/ExecStartPre=/... job
# scripts, scriptArgs, serviceConfig, unitConfig, startAt, restart triggers) and sockets
# (listenStreams, listenDatagrams, socketConfig, unitConfig); other unit kinds as free-form
# attribute sets; each accepts undeclared attributes (freeformType). unitText renders one unit:
# [Unit], [Service]/[Socket] and an [Install] section for wantedBy/requiredBy (nixpkgs links
# .wants/.requires directories instead); a disabled unit is masked (/dev/null).
# Leaves out: unit-name checks, timers made from startAt, drop-in overrides and
# overrideStrategy, aliases, the default PATH beyond coreutils and systemd, and upstream units.
{ lib, pkgs }:
let
  inherit (lib) mkOption types;

  listOfUnits = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };

  unitOption = lib.mkOptionType {
    name = "systemd option";
    description = "systemd unit setting";
    check =
      v:
      builtins.isBool v
      || builtins.isInt v
      || builtins.isString v
      || builtins.isPath v
      || builtins.isList v
      || (builtins.isAttrs v && v ? outPath);
    merge =
      loc: defs:
      if builtins.any (d: builtins.isList d.value) defs then
        builtins.concatMap (d: if builtins.isList d.value then d.value else [ d.value ]) defs
      else
        lib.mergeEqualOption loc defs;
  };

  commonOptions = {
    enable = mkOption {
      type = types.bool;
      default = true;
    };
    description = mkOption {
      type = types.str;
      default = "";
    };
    documentation = listOfUnits;
    requires = listOfUnits;
    wants = listOfUnits;
    upholds = listOfUnits;
    after = listOfUnits;
    before = listOfUnits;
    bindsTo = listOfUnits;
    partOf = listOfUnits;
    conflicts = listOfUnits;
    requisite = listOfUnits;
    onFailure = listOfUnits;
    onSuccess = listOfUnits;
    wantedBy = listOfUnits;
    requiredBy = listOfUnits;
    upheldBy = listOfUnits;
    aliases = listOfUnits;
    unitConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
    };
    restartTriggers = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    reloadTriggers = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
  };

  jobScript = name: text: "${pkgs.writeShellScript "unit-script-${name}" text}";

  serviceType = types.submodule (
    { name, config, ... }:
    {
      freeformType = types.attrsOf types.anything;
      options = commonOptions // {
        path = mkOption {
          type = types.listOf (types.either types.package types.str);
          default = [ ];
        };
        environment = mkOption {
          type = types.attrsOf (
            types.nullOr (
              types.oneOf [
                types.str
                types.path
                types.package
              ]
            )
          );
          default = { };
        };
        serviceConfig = mkOption {
          type = types.attrsOf unitOption;
          default = { };
        };
        script = mkOption {
          type = types.lines;
          default = "";
        };
        scriptArgs = mkOption {
          type = types.str;
          default = "";
        };
        preStart = mkOption {
          type = types.lines;
          default = "";
        };
        postStart = mkOption {
          type = types.lines;
          default = "";
        };
        reload = mkOption {
          type = types.lines;
          default = "";
        };
        preStop = mkOption {
          type = types.lines;
          default = "";
        };
        postStop = mkOption {
          type = types.lines;
          default = "";
        };
        startAt = mkOption {
          type = types.either types.str (types.listOf types.str);
          default = [ ];
        };
        restartIfChanged = mkOption {
          type = types.bool;
          default = true;
        };
        reloadIfChanged = mkOption {
          type = types.bool;
          default = false;
        };
        stopIfChanged = mkOption {
          type = types.bool;
          default = true;
        };
        startLimitBurst = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
        startLimitIntervalSec = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
        enableStrictShellChecks = mkOption {
          type = types.bool;
          default = false;
        };
      };
      config = lib.mkMerge [
        (lib.mkIf (config.preStart != "") {
          serviceConfig.ExecStartPre = [ (jobScript "${name}-pre-start" config.preStart) ];
        })
        (lib.mkIf (config.script != "") {
          serviceConfig.ExecStart = jobScript "${name}-start" config.script + " " + config.scriptArgs;
        })
        (lib.mkIf (config.postStart != "") {
          serviceConfig.ExecStartPost = [ (jobScript "${name}-post-start" config.postStart) ];
        })
        (lib.mkIf (config.reload != "") {
          serviceConfig.ExecReload = jobScript "${name}-reload" config.reload;
        })
        (lib.mkIf (config.preStop != "") {
          serviceConfig.ExecStop = jobScript "${name}-pre-stop" config.preStop;
        })
        (lib.mkIf (config.postStop != "") {
          serviceConfig.ExecStopPost = jobScript "${name}-post-stop" config.postStop;
        })
      ];
    }
  );

  socketType = types.submodule {
    freeformType = types.attrsOf types.anything;
    options = commonOptions // {
      listenStreams = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      listenDatagrams = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      socketConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };

  # A free-form unit (targets, timers, paths, slices): the common options and anything else.
  unitType = types.submodule {
    freeformType = types.attrsOf types.anything;
    options = commonOptions;
  };

  showValue =
    v:
    if builtins.isBool v then
      (if v then "true" else "false")
    else if builtins.isPath v then
      toString v
    else
      "${toString v}";

  section =
    name: settings:
    "[${name}]\n"
    + lib.concatStrings (
      lib.mapAttrsToList (
        k: v:
        if builtins.isList v then
          lib.concatMapStrings (x: "${k}=${showValue x}\n") v
        else
          "${k}=${showValue v}\n"
      ) settings
    );

  unitSection =
    u:
    lib.filterAttrs (_: v: v != [ ] && v != "") {
      Description = u.description;
      Documentation = u.documentation;
      Requires = u.requires;
      Wants = u.wants;
      Upholds = u.upholds;
      After = u.after;
      Before = u.before;
      BindsTo = u.bindsTo;
      PartOf = u.partOf;
      Conflicts = u.conflicts;
      Requisite = u.requisite;
      OnFailure = u.onFailure;
      OnSuccess = u.onSuccess;
    }
    // u.unitConfig;

  installSection =
    u:
    let
      s = lib.filterAttrs (_: v: v != [ ]) {
        WantedBy = u.wantedBy;
        RequiredBy = u.requiredBy;
        UpheldBy = u.upheldBy;
      };
    in
    if s == { } then "" else "\n" + section "Install" s;

  servicePath =
    s:
    builtins.concatStringsSep ":" (
      map (p: if builtins.isString p then p else "${p.bin or p.out or p}/bin") (
        s.path
        ++ [
          pkgs.coreutils
          pkgs.systemd
        ]
      )
    );
in
{
  inherit
    unitOption
    serviceType
    socketType
    unitType
    section
    ;

  serviceText =
    s:
    if !s.enable then
      null
    else
      section "Unit" (unitSection s)
      + "\n"
      + section "Service" (
        {
          Environment = [ "PATH=${servicePath s}" ]
            ++ lib.mapAttrsToList (k: v: "${k}=${toString v}") (
              lib.filterAttrs (_: v: v != null) s.environment
            );
        }
        // s.serviceConfig
      )
      + installSection s;

  socketText =
    s:
    if !s.enable then
      null
    else
      section "Unit" (unitSection s)
      + "\n"
      + section "Socket" (
        lib.filterAttrs (_: v: v != [ ]) {
          ListenStream = s.listenStreams;
          ListenDatagram = s.listenDatagrams;
        }
        // s.socketConfig
      )
      + installSection s;
}
