# Shared by the three make-test functions: writes the driver's configuration and the generator's
# input, generates the test's C++ file with `attest gen`, compiles it against attest, and runs
# it in the build sandbox. The result holds the log, the GoogleTest XML report and the console
# logs; `.driver` runs the same test outside the sandbox, `.driverInteractive` with the
# machines' consoles and debug logs on the terminal.
{
  pkgs,
  attest,
  name,
  # nix/lib/config.nix mkConfig
  config,
  # nix/lib/script.nix genSpec
  spec,
  # Extra arguments of the test program (--gtest_filter=..., --per-test-restore, ...).
  driverArgs ? [ ],
  # Programs the driver starts (VMMs, vde_switch, qemu-img, OCR tools).
  runtimeInputs ? [ ],
  # "kvm", "tcg" or "kvm:tcg" for every machine; null keeps each machine's setting.
  accel ? null,
  # TAP networks: the sandbox must have /dev/net/tun.
  needsTun ? false,
  requiredSystemFeatures ? [
    "nixos-test"
    "kvm"
  ],
}:
let
  inherit (pkgs) lib;
  configFile = pkgs.writeText "attest-${name}.json" (builtins.toJSON config);
  specFile = pkgs.writeText "attest-${name}-spec.json" (builtins.toJSON spec);

  testProgram = pkgs.stdenv.mkDerivation {
    name = "attest-test-${name}";
    dontUnpack = true;
    nativeBuildInputs = [
      attest
      pkgs.pkg-config
    ];
    buildInputs = [
      attest
      pkgs.gtest
    ];
    buildPhase = ''
      runHook preBuild
      attest gen --spec ${specFile} -o test.cpp
      $CXX -std=c++20 -O1 -o attest-test test.cpp $(pkg-config --cflags --libs attest-main gmock)
      runHook postBuild
    '';
    installPhase = ''
      runHook preInstall
      install -D -m 0755 attest-test $out/bin/attest-test-${name}
      install -D -m 0644 test.cpp $out/share/attest/${name}.cpp
      install -D -m 0644 ${configFile} $out/share/attest/${name}.json
      runHook postInstall
    '';
  };

  environment = ''
    export PATH=${lib.makeBinPath runtimeInputs}''${PATH:+:$PATH}
    ${lib.optionalString (accel != null) "export ATTEST_ACCEL=\${ATTEST_ACCEL:-${accel}}"}
  '';

  driver = pkgs.writeShellScriptBin "attest-driver-${name}" ''
    ${environment}
    exec ${testProgram}/bin/attest-test-${name} --config ${configFile} "$@"
  '';

  # NixOS's driverInteractive: the same program outside the sandbox, every console line on the
  # terminal and debug logs; arguments go to the program (e.g. --gtest_filter).
  driverInteractive = pkgs.writeShellScriptBin "attest-driver-interactive-${name}" ''
    ${environment}
    export ATTEST_LOG_LEVEL=''${ATTEST_LOG_LEVEL:-debug}
    export ATTEST_OUTPUT_DIR=''${ATTEST_OUTPUT_DIR:-$PWD/attest-out}
    echo "attest: running ${name}; console logs and reports in $ATTEST_OUTPUT_DIR" >&2
    exec ${testProgram}/bin/attest-test-${name} --config ${configFile} "$@"
  '';
in
pkgs.runCommand "attest-${name}"
  {
    inherit requiredSystemFeatures;
    passthru = {
      inherit
        driver
        driverInteractive
        testProgram
        configFile
        specFile
        config
        spec
        ;
    };
    meta.mainProgram = "attest-driver-${name}";
  }
  ''
    ${lib.optionalString needsTun ''
      if [ ! -c /dev/net/tun ]; then
        echo "attest: test '${name}' has a TAP network and the build sandbox has no /dev/net/tun;" >&2
        echo "attest: add it with nix.settings.extra-sandbox-paths = [ \"/dev/net/tun\" ] (docs/nix.md)" >&2
        exit 1
      fi
    ''}
    set -o pipefail
    mkdir -p $out
    export ATTEST_OUTPUT_DIR=$out
    ${driver}/bin/attest-driver-${name} --gtest_output=xml:$out/junit.xml \
      ${lib.escapeShellArgs driverArgs} 2>&1 | tee $out/log.txt
  ''
