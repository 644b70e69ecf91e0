# libattest, its headers, pkg-config files and the `attest` tool, built with Meson; the unit
# suite runs as the check phase (the VM suites need the Debian test guests: CI runs them). `src`
# is the files of nix/source-files.nix; CI builds and checks the package that way in a rehearsal
# of the Nix sandbox (tests/sandbox/rehearse): no /bin/bash, no host tools, no network.
{
  lib,
  stdenv,
  meson,
  ninja,
  pkg-config,
  cmake,
  python3,
  boost,
  fmt,
  gtest,
  nlohmann_json,
  libnl,
  libedit,
  src,
}:
stdenv.mkDerivation {
  pname = "attest";
  version = lib.removeSuffix "\n" (builtins.readFile ../VERSION);
  inherit src;

  nativeBuildInputs = [
    meson
    ninja
    pkg-config
    # meson's cmake module writes the CMake package's version file (find_package(attest)).
    cmake
    # `attest port` is a Python program (docs/architecture.md); the tool runs it with this
    # Python, whose store path it keeps (a runtime dependency).
    python3
  ];
  # cmake is a tool of the meson build here, not the build system.
  dontUseCmakeConfigure = true;
  buildInputs = [
    boost
    fmt
    nlohmann_json
    libnl
    # line editing in `attest shell`
    libedit
  ];
  # Test programs include <gtest/gtest.h> and <gmock/gmock.h> through attest's headers.
  propagatedBuildInputs = [ gtest ];

  mesonBuildType = "release";
  mesonFlags = [
    (lib.mesonBool "vm_tests" false)
    (lib.mesonBool "nix_checks" false)
    (lib.mesonBool "benchmarks" false)
    # nixpkgs' meson hook turns every `auto` feature on; the fuzz targets need clang.
    (lib.mesonEnable "fuzz" false)
    # -Werror guards the project's own CI; a newer compiler's new warnings must not break users.
    (lib.mesonBool "werror" false)
  ];

  doCheck = true;
  checkPhase = ''
    runHook preCheck
    meson test --suite unit --print-errorlogs
    runHook postCheck
  '';

  meta = {
    description = "NixOS-style VM integration tests written in C++ (QEMU, Firecracker, cloud-hypervisor)";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "attest";
  };
}
