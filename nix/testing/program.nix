# The test program: `attest gen` wraps the testScript (C++ statements) into one ATTEST_TEST, and
# the C++ compiler builds it against attest. It depends on the script, the node names and the
# libraries only, never on what the nodes build: it is compiled once per script, in parallel with
# the nodes, and reads the machines from the configuration file at run time.
{
  pkgs,
  lib,
  attest,
  name,
  # The JSON input of `attest gen` (nix/lib/script.nix genSpec).
  specFile,
  # Libraries the program links, and their pkg-config modules.
  buildInputs ? [ ],
  pkgConfigModules ? [ ],
  cxxFlags ? [ "-O1" ],
}:
pkgs.stdenv.mkDerivation {
  name = "attest-test-program-${name}";
  dontUnpack = true;
  nativeBuildInputs = [
    attest
    pkgs.pkg-config
  ];
  # attest propagates the GoogleTest it was built with: the program links that one.
  buildInputs = [ attest ] ++ buildInputs;
  buildPhase = ''
    runHook preBuild
    attest gen --spec ${specFile} -o test.cpp
    $CXX -std=c++20 ${lib.escapeShellArgs cxxFlags} -o attest-test test.cpp \
      $(pkg-config --cflags --libs attest-main gmock ${lib.escapeShellArgs pkgConfigModules})
    runHook postBuild
  '';
  installPhase = ''
    runHook preInstall
    install -D -m 0755 attest-test $out/bin/attest-test
    install -D -m 0644 test.cpp $out/share/attest/test.cpp
    runHook postInstall
  '';
  meta.mainProgram = "attest-test";
}
