# A NixOS test on cloud-hypervisor with the testScript in C++ (docs/nix.md); the arguments are
# those of nix/make-test.nix.
import ../testing/make-test.nix "cloud-hypervisor"
