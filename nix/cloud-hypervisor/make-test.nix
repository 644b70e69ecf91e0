# A NixOS test on cloud-hypervisor with the testScript in C++ (docs/nix.md); the arguments are
# those of nix/firecracker/make-test.nix.
import ../microvm/make-test.nix "cloud-hypervisor"
