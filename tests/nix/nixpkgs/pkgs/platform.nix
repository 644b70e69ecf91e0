# Stand-in written for attest's CI (not nixpkgs code): a small record of a platform for the
# stand-in's `stdenv.hostPlatform`/`buildPlatform` and for the `nixpkgs.hostPlatform` option of
# its NixOS modules, built from a system double ("x86_64-linux") or from `{ system = ...; }` with
# builtins only.
#
# Models: the fields of lib.systems.elaborate that the test framework, qemu-vm.nix and
# qemu-common.nix read: system, config, isLinux, isDarwin, isx86, isx86_64, isi686, isAarch,
# isAarch64, isAarch32, isRiscV, isPower, isLoongArch64, isMips64, is32bit, is64bit, qemuArch,
# linuxArch, efiArch, linux-kernel.target, parsed.{cpu,kernel}.name, uname, canExecute.
# Leaves out: cross compilation, gcc/libc/emulator settings and every other elaborated field; a
# record is not comparable with a real lib.systems.elaborate result.
let
  parse =
    system:
    let
      parts = builtins.filter builtins.isString (builtins.split "-" system);
      cpu = builtins.head parts;
      kernel = builtins.elemAt parts (builtins.length parts - 1);
    in
    {
      inherit cpu kernel;
    };

  qemuArchs = {
    x86_64 = "x86_64";
    i686 = "i386";
    aarch64 = "aarch64";
    armv7l = "arm";
    armv6l = "arm";
    riscv64 = "riscv64";
    riscv32 = "riscv32";
    powerpc64le = "ppc64";
    powerpc64 = "ppc64";
    loongarch64 = "loongarch64";
    mips64el = "mips64el";
  };
  linuxArchs = {
    x86_64 = "x86_64";
    i686 = "i386";
    aarch64 = "arm64";
    armv7l = "arm";
    armv6l = "arm";
    riscv64 = "riscv";
    riscv32 = "riscv";
    powerpc64le = "powerpc";
    powerpc64 = "powerpc";
    loongarch64 = "loongarch";
    mips64el = "mips";
  };
  efiArchs = {
    x86_64 = "x64";
    i686 = "ia32";
    aarch64 = "aa64";
    armv7l = "arm";
    riscv64 = "riscv64";
    loongarch64 = "loongarch64";
  };

  make =
    system:
    let
      p = parse system;
      inherit (p) cpu kernel;
      isx86_64 = cpu == "x86_64";
      isi686 = cpu == "i686";
      isAarch64 = cpu == "aarch64";
      isAarch32 = cpu == "armv7l" || cpu == "armv6l" || cpu == "armv5tel";
      is32bit = isi686 || isAarch32 || cpu == "riscv32" || cpu == "mips" || cpu == "mipsel";
      vendor = if kernel == "darwin" then "apple" else "unknown";
      abi = if kernel == "linux" then "-gnu" else "";
    in
    {
      inherit system;
      config = "${cpu}-${vendor}-${kernel}${abi}";
      parsed = {
        cpu.name = cpu;
        kernel.name = kernel;
      };
      uname.system =
        if kernel == "linux" then
          "Linux"
        else if kernel == "darwin" then
          "Darwin"
        else
          kernel;
      isLinux = kernel == "linux";
      isDarwin = kernel == "darwin";
      inherit
        isx86_64
        isi686
        isAarch64
        isAarch32
        is32bit
        ;
      isx86 = isx86_64 || isi686;
      isAarch = isAarch64 || isAarch32;
      isRiscV = cpu == "riscv64" || cpu == "riscv32";
      isPower = cpu == "powerpc64le" || cpu == "powerpc64";
      isLoongArch64 = cpu == "loongarch64";
      isMips64 = cpu == "mips64el" || cpu == "mips64";
      is64bit = !is32bit;
      qemuArch = qemuArchs.${cpu} or cpu;
      linuxArch = linuxArchs.${cpu} or cpu;
      efiArch = efiArchs.${cpu} or null;
      linux-kernel.target =
        if isx86_64 || isi686 then
          "bzImage"
        else if isAarch64 then
          "Image"
        else
          "zImage";
      canExecute = other: system == (other.system or other);
      _standIn = true;
    };
in
# A double, `{ system = ...; }`, or a record made here (returned as it is, so that `==` holds).
platform:
if builtins.isString platform then
  make platform
else if platform._standIn or false then
  platform
else
  make platform.system
