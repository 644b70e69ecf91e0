# The driver's machine entries (docs/config.md) from NixOS nodes that nixpkgs' test framework
# evaluated (qemu-vm.nix's `virtualisation.*` options and the test network of
# nixos/lib/testing/network.nix).
{ lib }:
let
  alib = import ../lib;

  # The sharedDirectories qemu-vm.nix defines itself (the host store, the NixOS driver's
  # exchange directories, the host's certificates): a microVM node does without them.
  frameworkShares = [
    "nix-store"
    "xchg"
    "shared"
    "certs"
  ];

  # qemu-vm.nix options a Firecracker or cloud-hypervisor machine cannot have, each with the
  # condition under which the node asks for it.
  unmappable =
    backend: c:
    let
      v = c.virtualisation;
      shares = lib.subtractLists frameworkShares (lib.attrNames v.sharedDirectories);
    in
    lib.optional (shares != [ ]) {
      option = "virtualisation.sharedDirectories";
      why = "${backend} has no shared file systems (${lib.concatStringsSep ", " shares}); copy files in with copy_from_host";
    }
    ++ lib.optional (v.forwardPorts != [ ]) {
      option = "virtualisation.forwardPorts";
      why = "it forwards ports of QEMU's user-mode network, which ${backend} nodes do not have; use Machine::forward_port";
    }
    ++ lib.optional v.useBootLoader {
      option = "virtualisation.useBootLoader";
      why = "${backend} boots the kernel directly";
    }
    ++ lib.optional v.useEFIBoot {
      option = "virtualisation.useEFIBoot";
      why = "${backend} has no UEFI firmware";
    }
    ++ lib.optional (v.tpm.enable or false) {
      option = "virtualisation.tpm.enable";
      why = "${backend} has no TPM";
    }
    # qemu-vm.nix's own drives: the root, and one per empty disk image.
    ++ lib.optional (lib.length v.qemu.drives > ownDrives v) {
      option = "virtualisation.qemu.drives";
      why = "QEMU drives mean nothing to ${backend}: use virtualisation.emptyDiskImages";
    };

  ownDrives = v: (if v.diskImage != null then 1 else 0) + lib.length v.emptyDiskImages;
in
rec {
  # A node's vlans: `virtualisation.vlans`, then those of `virtualisation.interfaces`, each once
  # (one card per vlan: its MAC is made of the vlan and the node's number, and the guest names
  # the card from its MAC with network.nix's udev rules, whatever order the VMM gives them).
  vlansOf =
    c:
    alib.network.unique (
      c.virtualisation.vlans ++ lib.mapAttrsToList (_: i: i.vlan) c.virtualisation.interfaces
    );

  # The registration of a node's closure that qemu-vm.nix passes as `regInfo=` and loads into
  # the guest's Nix database at boot: the same derivation as qemu-vm.nix's own.
  regInfo =
    c: c.virtualisation.host.pkgs.closureInfo { rootPaths = c.virtualisation.additionalPaths; };

  # A QEMU node: the node's own run-<name>-vm script, started as the NixOS driver starts it.
  qemu =
    {
      node,
      nodeConfig,
      accel ? null,
    }:
    alib.machines.qemu {
      startCommand = lib.getExe nodeConfig.system.build.vm;
      inherit accel;
    };

  # A Firecracker or cloud-hypervisor node: its kernel (uncompressed ELF) and initrd booted
  # directly, with the memory, vCPUs and disks its virtualisation options describe.
  microvm =
    {
      backend,
      node,
      nodeConfig,
      pkgs,
      splitStore,
      storeImage,
      binary,
    }:
    let
      c = nodeConfig;
      v = c.virtualisation;
      toplevel = c.system.build.toplevel;
      bad = unmappable backend c;
      # Without splitStore: an ext4 root image labelled as qemu-vm.nix's root holding the node's
      # closure and its registration (copied per machine by the driver).
      rootImage = (import ./images.nix).rootImage {
        inherit pkgs;
        name = "${node}-root";
        storePaths = v.additionalPaths ++ [ (regInfo c) ];
      };
      root =
        if v.diskImage == null then
          [ ]
        else if splitStore then
          [
            {
              size_mib = v.diskSize;
              id = "rootfs";
            }
          ]
        else
          [
            {
              path = rootImage;
              id = "rootfs";
            }
          ];
      store = lib.optional splitStore {
        path = storeImage;
        read_only = true;
        id = "store";
      };
      empty = lib.imap0 (i: size: {
        size_mib = size;
        id = "empty${toString i}";
      }) v.emptyDiskImages;
    in
    if bad != [ ] then
      throw (
        "attest: node '${node}': "
        + lib.concatMapStringsSep "; " (
          b: "option `${b.option}' cannot be mapped to the ${backend} backend: ${b.why}"
        ) bad
      )
    else if v.diskImage == null && !splitStore then
      throw "attest: node '${node}': option `virtualisation.diskImage' is null (a tmpfs root) on the ${backend} backend, which then needs attest.splitStore = true to get the store"
    else
      alib.machines.microvm {
        inherit backend binary;
        kernel = "${c.boot.kernelPackages.kernel.dev}/vmlinux";
        initrd = v.directBoot.initrd;
        cmdline = alib.machines.microvmCmdline {
          inherit toplevel;
          kernelParams = c.boot.kernelParams ++ [ "regInfo=${regInfo c}/registration" ];
        };
        disks = root ++ store ++ empty;
        memoryMiB = v.memorySize;
        vcpus = v.cores;
      };
}
