# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/pkgs.nix.
#
# Models: the test modules' `pkgs` argument, which is hostPkgs (with nixpkgs' warning on Darwin
# hosts).
# Leaves out: nothing.
{ lib, hostPkgs, ... }:
{
  config._module.args.pkgs =
    lib.warnIf hostPkgs.stdenv.hostPlatform.isDarwin
      "Do not use the `pkgs` module argument in tests you want to run on darwin. It is ambiguous, and many tests are broken because of it. If you need to use a package on the VM host, use `hostPkgs`. Otherwise, use `config.node.pkgs`, or `config.nodes.<name>.nixpkgs.pkgs`."
      hostPkgs;
}
