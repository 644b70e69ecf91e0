# Stand-in written for attest's CI (not nixpkgs code): the module list of the stand-in NixOS
# (nixos/modules/module-list.nix in nixpkgs), used as eval-config.nix's default base modules and
# by the test framework's nodes.
#
# Models: the options a NixOS test node, qemu-vm.nix, test-instrumentation.nix and attest's
# modules declare or set, with nixpkgs' types and defaults, and the free-form rest
# (misc/freeform.nix) so that any other NixOS option (services.nginx.enable, ...) evaluates.
# Leaves out: every other NixOS module (services, programs, hardware, security, ...), which only
# exist here as free-form values with no effect.
[
  ./misc/freeform.nix
  ./misc/assertions.nix
  ./misc/extra-arguments.nix
  ./misc/nixpkgs.nix
  ./misc/version.nix
  ./misc/documentation.nix
  ./config/networking.nix
  ./config/users-groups.nix
  ./config/system-path.nix
  ./system/etc/etc.nix
  ./system/boot/kernel.nix
  ./system/boot/stage-1.nix
  ./system/boot/stage-2.nix
  ./system/boot/systemd.nix
  ./system/boot/systemd/initrd.nix
  ./system/boot/loader/loader.nix
  ./system/activation/top-level.nix
  ./system/activation/specialisation.nix
  ./tasks/filesystems.nix
  ./services/system/nix-daemon.nix
]
