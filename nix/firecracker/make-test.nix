# A NixOS test on Firecracker with the testScript in C++ (docs/nix.md):
#   import "${attest}/nix/firecracker/make-test.nix" {
#     inherit pkgs; attest = attest.packages.x86_64-linux.default;
#     name = "my-test"; splitStore = true; nodes = { ... }; testScript = ''...'';
#   }
# The arguments are those of nix/make-test.nix.
import ../testing/make-test.nix "firecracker"
