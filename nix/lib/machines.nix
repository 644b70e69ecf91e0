# The machine entries of the test configuration (docs/config.md) for each backend, from what the
# NixOS evaluation of a node gives. builtins only: CI evaluates them with
# `nix-instantiate --eval --strict --json`.
rec {
  # A QEMU node: NixOS's own `run-<name>-vm` script (qemu-vm.nix), started by the driver with the
  # NixOS driver's extra arguments; the guest configures its own network.
  qemu =
    {
      startCommand,
      accel ? null,
      bootTimeout ? null,
    }:
    {
      start_command = startCommand;
      inherit accel;
      boot_timeout = bootTimeout;
    };

  # The kernel command line of a NixOS microVM guest: the node's own kernel parameters (with
  # test-instrumentation.nix's), then the serial console as the primary one (the last), a panic
  # that ends the VM at once (the VMM exits on a reboot), and stage 2 from the system's closure.
  microvmCmdline =
    {
      toplevel,
      kernelParams ? [ ],
    }:
    builtins.concatStringsSep " " (
      kernelParams
      ++ [
        "console=ttyS0"
        "reboot=k"
        "panic=-1"
        "init=${toplevel}/init"
      ]
    );

  # The disks of a microVM guest, in device order (the root is /dev/vda):
  #   splitStore: a fresh root (`rootSizeMiB`, formatted by stage 1 on first boot) and the
  #               erofs image of the closure (/dev/vdb), read-only and shared by every node;
  #   otherwise:  one root image holding the whole closure, copied per machine by the driver.
  microvmDisks =
    {
      splitStore,
      rootImage ? null,
      storeImage ? null,
      rootSizeMiB ? 2048,
    }:
    if splitStore then
      if storeImage == null then
        throw "attest: splitStore needs the store image"
      else
        [
          {
            size_mib = rootSizeMiB;
            id = "rootfs";
          }
          {
            path = storeImage;
            read_only = true;
            id = "store";
          }
        ]
    else if rootImage == null then
      throw "attest: a microVM node without splitStore needs a root image"
    else
      [
        {
          path = rootImage;
          id = "rootfs";
        }
      ];

  # A Firecracker or cloud-hypervisor node.
  microvm =
    {
      backend,
      kernel,
      initrd,
      cmdline,
      disks,
      memoryMiB ? 1024,
      vcpus ? 1,
      binary ? null,
      bootTimeout ? null,
    }:
    if backend != "firecracker" && backend != "cloud-hypervisor" then
      throw "attest: microvm: backend must be firecracker or cloud-hypervisor, not '${backend}'"
    else
      {
        inherit
          backend
          kernel
          initrd
          cmdline
          disks
          vcpus
          ;
        memory_mib = memoryMiB;
        boot_timeout = bootTimeout;
        # The guest's NixOS module sets its addresses, /etc/hosts and hostname.
        configure_network = false;
        firecracker_binary = if backend == "firecracker" then binary else null;
        cloud_hypervisor_binary = if backend == "cloud-hypervisor" then binary else null;
      };
}
