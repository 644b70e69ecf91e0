# Stand-in written for attest's CI (not nixpkgs code): the trivial builders of the stand-in
# nixpkgs, with the interfaces of nixpkgs' pkgs/build-support/trivial-builders and writers.
#
# Models: runCommandWith, runCommand, runCommandNoCC, runCommandLocal, runCommandCC,
# writeTextFile (name, text, executable, destination with meta.mainProgram for /bin/<name>,
# checkPhase, meta, passthru, allowSubstitutes, preferLocalBuild, derivationArgs), writeText,
# writeTextDir, writeScript, writeScriptBin, writeShellScript, writeShellScriptBin,
# writeShellApplication (runtimeInputs, runtimeEnv, bashOptions, inheritPath, meta, passthru,
# derivationArgs), writers.writeJSON/writeText, closureInfo, writeStringReferencesToFile,
# makeWrapper/makeBinaryWrapper (setup-hook stand-ins), buildEnv, symlinkJoin, makeBinPath.
# Every result is a real derivation whose inputs are what the real builder would reference.
# Leaves out: the build scripts themselves (never run), shellcheck, `writers.*` other than JSON
# and text, makeSetupHook's substitutions, and `__structuredAttrs` in closureInfo (the flat
# exportReferencesGraph form is used).
{
  stdenv,
  stdenvNoCC,
  runtimeShell,
  coreutils,
  jq,
}:
let
  getBin = p: p.bin or p.out or p;

  makeBinPath = paths: builtins.concatStringsSep ":" (map (p: "${getBin p}/bin") paths);

  runCommandWith =
    {
      name,
      stdenv,
      runLocal ? false,
      derivationArgs ? { },
    }:
    buildCommand:
    stdenv.mkDerivation (
      {
        enableParallelBuilding = true;
        inherit buildCommand name;
        passAsFile = [ "buildCommand" ] ++ (derivationArgs.passAsFile or [ ]);
      }
      // (
        if runLocal then
          {
            preferLocalBuild = true;
            allowSubstitutes = false;
          }
        else
          { }
      )
      // builtins.removeAttrs derivationArgs [ "passAsFile" ]
    );

  runCommand =
    name: env:
    runCommandWith {
      stdenv = stdenvNoCC;
      inherit name;
      derivationArgs = env;
    };

  writeTextFile =
    {
      name,
      text,
      executable ? false,
      destination ? "",
      checkPhase ? "",
      meta ? { },
      passthru ? { },
      allowSubstitutes ? false,
      preferLocalBuild ? true,
      derivationArgs ? { },
    }:
    let
      binName = builtins.match "/bin/([^/]+)" destination;
    in
    runCommand name
      (
        {
          inherit
            text
            executable
            checkPhase
            allowSubstitutes
            preferLocalBuild
            ;
          passAsFile = [ "text" ] ++ (derivationArgs.passAsFile or [ ]);
          meta =
            (if executable && binName != null then { mainProgram = builtins.head binName; } else { })
            // meta
            // (derivationArgs.meta or { });
          passthru = passthru // (derivationArgs.passthru or { });
        }
        // builtins.removeAttrs derivationArgs [
          "passAsFile"
          "meta"
          "passthru"
        ]
      )
      ''
        target=$out${destination}
        mkdir -p "$(dirname "$target")"
        cp "$textPath" "$target"
        [ -n "$executable" ] && chmod +x "$target"
        eval "$checkPhase"
      '';

  writeText = name: text: writeTextFile { inherit name text; };

  writeScript =
    name: text:
    writeTextFile {
      inherit name text;
      executable = true;
    };

  writeShellScript =
    name: text:
    writeTextFile {
      inherit name;
      executable = true;
      text = ''
        #!${runtimeShell}
        ${text}
      '';
      checkPhase = ''${stdenv.shellDryRun} "$target"'';
    };
in
{
  inherit
    makeBinPath
    runCommandWith
    runCommand
    writeTextFile
    writeText
    writeScript
    writeShellScript
    ;

  runCommandNoCC = runCommand;
  runCommandCC =
    name: env:
    runCommandWith {
      inherit stdenv name;
      derivationArgs = env;
    };
  runCommandLocal =
    name: env:
    runCommandWith {
      stdenv = stdenvNoCC;
      runLocal = true;
      inherit name;
      derivationArgs = env;
    };

  writeTextDir =
    path: text:
    writeTextFile {
      inherit text;
      name = baseNameOf path;
      destination = "/${path}";
    };

  writeScriptBin =
    name: text:
    writeTextFile {
      inherit name text;
      executable = true;
      destination = "/bin/${name}";
    };

  writeShellScriptBin =
    name: text:
    writeTextFile {
      inherit name;
      executable = true;
      destination = "/bin/${name}";
      text = ''
        #!${runtimeShell}
        ${text}
      '';
      checkPhase = ''${stdenv.shellDryRun} "$target"'';
    };

  writeShellApplication =
    {
      name,
      text,
      runtimeInputs ? [ ],
      runtimeEnv ? null,
      meta ? { },
      passthru ? { },
      checkPhase ? null,
      excludeShellChecks ? [ ],
      extraShellCheckFlags ? [ ],
      bashOptions ? [
        "errexit"
        "nounset"
        "pipefail"
      ],
      inheritPath ? true,
      derivationArgs ? { },
    }:
    writeTextFile {
      inherit
        name
        meta
        passthru
        derivationArgs
        ;
      executable = true;
      destination = "/bin/${name}";
      allowSubstitutes = true;
      preferLocalBuild = false;
      text =
        "#!${runtimeShell}\n"
        + builtins.concatStringsSep "" (map (o: "set -o ${o}\n") bashOptions)
        + (
          if runtimeEnv == null then
            ""
          else
            builtins.concatStringsSep "" (
              map (n: "export ${n}=${builtins.toJSON (toString runtimeEnv.${n})}\n") (
                builtins.attrNames runtimeEnv
              )
            )
        )
        + (
          if runtimeInputs == [ ] then
            ""
          else
            "export PATH=\"${makeBinPath runtimeInputs}${if inheritPath then ":$PATH" else ""}\"\n"
        )
        + "\n"
        + text;
      checkPhase =
        if checkPhase == null then
          ''
            runHook preCheck
            ${stdenv.shellDryRun} "$target"
            runHook postCheck
          ''
        else
          checkPhase;
    };

  writers = {
    writeJSON =
      name: value:
      runCommand name {
        nativeBuildInputs = [ jq ];
        value = builtins.toJSON value;
        passAsFile = [ "value" ];
      } ''jq . "$valuePath" > $out'';
    writeText = writeText;
  };

  closureInfo =
    { rootPaths }:
    stdenvNoCC.mkDerivation {
      name = "closure-info";
      exportReferencesGraph = builtins.concatLists (
        builtins.genList (i: [
          "closure-${toString i}"
          (builtins.elemAt rootPaths i)
        ]) (builtins.length rootPaths)
      );
      preferLocalBuild = true;
      nativeBuildInputs = [
        coreutils
        jq
      ];
      empty = rootPaths == [ ];
      buildCommand = ''
        out=''${outputs[out]:-$out}
        mkdir $out
        # stand-in: store-paths, registration and total-nar-size come from the graphs
        touch $out/store-paths $out/registration $out/total-nar-size
      '';
    };

  # The derivation's environment holds the string, so every path the string refers to is one of
  # its inputs, as with the real builder.
  writeStringReferencesToFile =
    string:
    runCommand "string-references" {
      inherit string;
      passAsFile = [ "string" ];
    } ''grep -o '/nix/store/[a-z0-9]\{32\}-[^ /"]*' "$stringPath" | sort -u > $out'';

  makeWrapper = stdenvNoCC.mkDerivation {
    name = "make-shell-wrapper-hook";
    buildCommand = "stand-in of nixpkgs' makeWrapper setup hook";
  };
  makeBinaryWrapper = stdenvNoCC.mkDerivation {
    name = "make-binary-wrapper-hook";
    buildCommand = "stand-in of nixpkgs' makeBinaryWrapper setup hook";
  };

  buildEnv =
    {
      name,
      paths,
      pathsToLink ? [ "/" ],
      extraOutputsToInstall ? [ ],
      ignoreCollisions ? false,
      postBuild ? "",
      passthru ? { },
      meta ? { },
      ...
    }:
    runCommand name {
      inherit
        paths
        pathsToLink
        extraOutputsToInstall
        ignoreCollisions
        postBuild
        meta
        ;
      passthru = passthru // {
        inherit paths;
      };
      preferLocalBuild = true;
    } "mkdir -p $out # stand-in: links $paths";

  symlinkJoin =
    {
      name,
      paths,
      postBuild ? "",
      passthru ? { },
      meta ? { },
      ...
    }:
    runCommand name {
      inherit paths postBuild meta;
      passthru = passthru // {
        inherit paths;
      };
      preferLocalBuild = true;
    } "mkdir -p $out # stand-in: links $paths";
}
