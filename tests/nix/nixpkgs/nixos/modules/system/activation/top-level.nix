# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/system/activation/top-level.nix.
#
# Models: system.build (free-form, each attribute defined once), system.name (the host name, or
# "unnamed"), system.switch.enable, system.extraDependencies, system.systemBuilderCommands, and
# system.build.toplevel: a derivation named nixos-system-<system.name>-<system.nixos.label> whose
# inputs are the kernel and initrd (as <kernel>/<kernelFile> and <initrd>/<initrdFile>), the
# kernel parameters (written to kernel-params by the real builder), the stage 2 init, system.path,
# /etc, the units, the specialisations' systems, and a JSON summary of the configuration (host
# name, addresses, /etc/hosts, file systems, users, firewall, sysctl, ...); evaluating it throws
# "Failed assertions:" with the failed assertions' messages, and prints the warnings, as NixOS.
# Leaves out: the real system builder, switch-to-configuration, bootspec, and the activation
# script.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  kernel = config.boot.kernelPackages.kernel;
  net = config.networking;

  summary = {
    hostName = net.hostName;
    inherit (net)
      domain
      extraHosts
      nameservers
      useDHCP
      usePredictableInterfaceNames
      ;
    interfaces = lib.mapAttrs (_: i: {
      ipv4 = map (a: "${a.address}/${toString a.prefixLength}") i.ipv4.addresses;
      ipv6 = map (a: "${a.address}/${toString a.prefixLength}") i.ipv6.addresses;
    }) net.interfaces;
    defaultGateway = if net.defaultGateway == null then null else net.defaultGateway.address;
    firewall = {
      inherit (net.firewall)
        enable
        allowedTCPPorts
        allowedUDPPorts
        allowPing
        ;
    };
    fileSystems = lib.mapAttrs (_: fs: {
      inherit (fs)
        device
        fsType
        options
        neededForBoot
        autoFormat
        depends
        ;
    }) config.fileSystems;
    swapDevices = map (s: s.device or s.label or null) config.swapDevices;
    users = lib.mapAttrs (_: u: {
      inherit (u)
        uid
        isNormalUser
        group
        extraGroups
        home
        hashedPasswordFile
        ;
    }) config.users.users;
    sysctl = config.boot.kernel.sysctl;
    kernelModules = config.boot.kernelModules;
    documentation = config.documentation.enable;
    stateVersion = config.system.stateVersion;
    nix = config.nix.enable;
  };

  system = pkgs.stdenvNoCC.mkDerivation {
    name = "nixos-system-${config.system.name}-${config.system.nixos.label}";
    preferLocalBuild = true;
    allowSubstitutes = false;
    kernel = "${kernel}/${config.system.boot.loader.kernelFile}";
    initrd = lib.optionalString config.boot.initrd.enable "${config.system.build.initialRamdisk}/${config.system.boot.loader.initrdFile}";
    kernelParams = config.boot.kernelParams;
    init = config.system.build.bootStage2;
    systemPath = config.system.path;
    etc = config.system.build.etc;
    units = config.system.build.units;
    specialisations = builtins.toJSON (
      lib.mapAttrs (_: s: s.configuration.system.build.toplevel) config.specialisation
    );
    configuration = builtins.toJSON summary;
    extraDependencies = config.system.extraDependencies;
    nixosLabel = config.system.nixos.label;
    nixosVersion = config.system.nixos.version;
    systemBuilderCommands = config.system.systemBuilderCommands;
    buildCommand = ''
      mkdir -p $out
      ln -s $kernel $out/kernel
      ln -s $initrd $out/initrd
      echo -n "$kernelParams" > $out/kernel-params
      ln -s $init $out/init
      ln -s $systemPath $out/sw
      ln -s $etc/etc $out/etc
      eval "$systemBuilderCommands"
    '';
  };

  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);

  checked =
    if failedAssertions != [ ] then
      throw "\nFailed assertions:\n${lib.concatMapStringsSep "\n" (m: "- ${m}") failedAssertions}"
    else
      lib.foldr (w: acc: lib.warn w acc) system config.warnings;
in
{
  options.system = {
    build = mkOption {
      internal = true;
      default = { };
      type = types.submoduleWith {
        modules = [ { freeformType = types.lazyAttrsOf (types.uniq types.unspecified); } ];
      };
    };
    name = mkOption {
      type = types.str;
      default = if net.hostName == "" then "unnamed" else net.hostName;
    };
    switch.enable = mkOption {
      type = types.bool;
      default = true;
    };
    extraDependencies = mkOption {
      type = types.listOf (types.either types.str types.package);
      default = [ ];
    };
    systemBuilderCommands = mkOption {
      internal = true;
      type = types.lines;
      default = "";
    };
  };

  config.system.build.toplevel = checked;
}
