# The files the attest package is built from (nix/package.nix), relative to the repository's root:
# the flake makes its `src` of exactly these (lib.fileset), so that an edit of the documentation,
# the Nix files or the VM tests does not rebuild the package; the Nix-sandbox rehearsal in CI
# (tests/sandbox/rehearse) builds from a copy of exactly these, so that a file missing here fails
# there first. The package builds with -Dvm_tests=false -Dnix_checks=false -Dbenchmarks=false.
[
  "LICENSE"
  "VERSION"
  "meson.build"
  "meson_options.txt"
  "cmake"
  "include"
  "lib"
  "examples/meson.build"
  "examples/hello.cpp"
  "examples/nginx.cpp"
  "tests/meson.build"
  "tests/doubles"
  "tests/fuzz"
  "tests/port"
  "tests/guests"
  "tests/unit"
  # the network layout the unit suite checks the driver against
  "tests/nix/expected.json"
]
