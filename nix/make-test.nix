# A NixOS VM test on QEMU with the testScript in C++, in the seed's call form (docs/nix.md):
#   import "${attest}/nix/make-test.nix" {
#     inherit pkgs; attest = attest.packages.x86_64-linux.default;
#     name = "my-test"; nodes = { ... }; testScript = ''...'';
#   }
# It is nixpkgs' own `pkgs.testers.runNixOSTest` with attest's driver module
# (nix/testing/module.nix): any other option of nixpkgs' test framework may be passed too.
import ./testing/make-test.nix "qemu"
