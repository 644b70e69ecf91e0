# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/run.nix, the derivation
# that runs a test.
#
# Models: passthru (lazyAttrsOf raw), enableDebugHook, rawTestDerivationArg (a function of the
# final attributes: name vm-test-run-<name>, requiredSystemFeatures nixos-test plus kvm on Linux
# or apple-virt on Darwin, openssh and inetutils with the debug hook, a build command running
# `<driver>/bin/nixos-test-driver -o $out` with LOGFILE=/dev/null and --debug-hook=<attach> when
# enabled, passthru, meta; asserting that the SSH backdoor and the debug hook are Linux-only),
# rawTestDerivation (stdenv.mkDerivation of it), test (lib.lazyDerivation of it with the test's
# passthru and meta), passthru.config, passthru.test and passthru.overrideTestDerivation (an
# extended test whose rawTestDerivationArg is extended by the given overrideAttrs-style function).
# Leaves out: nothing.
{
  config,
  hostPkgs,
  lib,
  options,
  ...
}:
let
  inherit (lib) mkOption types;
  inherit (hostPkgs.stdenv.hostPlatform) isLinux isDarwin;
  mkOneUp = opt: f: lib.mkOverride (opt.highestPrio - 1) (f opt.value);
in
{
  options = {
    passthru = mkOption {
      type = types.lazyAttrsOf types.raw;
      description = "Attributes added to the returned derivations.";
    };
    enableDebugHook = lib.mkEnableOption "the debug hook that halts a failed test for inspection";
    rawTestDerivation = mkOption {
      type = types.package;
      internal = true;
      description = "Unfiltered version of `test`.";
    };
    rawTestDerivationArg = mkOption {
      type = types.functionTo types.raw;
      description = "Argument passed to `mkDerivation` to create the `rawTestDerivation`.";
    };
    test = mkOption {
      type = types.package;
      description = "Derivation that runs the test as its build.";
    };
  };

  config = {
    rawTestDerivation = hostPkgs.stdenv.mkDerivation config.rawTestDerivationArg;
    rawTestDerivationArg =
      finalAttrs:
      assert lib.assertMsg (config.sshBackdoor.enable -> isLinux) "The SSH backdoor is not supported for macOS host systems!";
      assert lib.assertMsg (config.enableDebugHook -> isLinux) "The debugging hook is not supported for macOS host systems!";
      {
        name = "vm-test-run-${config.name}";
        requiredSystemFeatures = [ "nixos-test" ] ++ lib.optional isLinux "kvm" ++ lib.optional isDarwin "apple-virt";
        nativeBuildInputs = lib.optionals config.enableDebugHook [
          hostPkgs.openssh
          hostPkgs.inetutils
        ];
        buildCommand = ''
          mkdir -p $out
          export LOGFILE=/dev/null
          ${lib.optionalString config.enableDebugHook ''
            ln -sf ${hostPkgs.systemd}/lib/systemd/ssh_config.d/20-systemd-ssh-proxy.conf ssh_config
          ''}
          ${config.driver}/bin/nixos-test-driver -o $out ${lib.optionalString config.enableDebugHook "--debug-hook=${hostPkgs.breakpointHook.attach}"}
        '';
        passthru = config.passthru;
        meta = config.meta;
      };

    test = lib.lazyDerivation {
      derivation = config.rawTestDerivation;
      inherit (config) passthru meta;
    };

    passthru.config = config;
    passthru.test = config.test;
    passthru.overrideTestDerivation =
      f:
      config.passthru.extend {
        modules = [
          { rawTestDerivationArg = mkOneUp options.rawTestDerivationArg (lib.extends (lib.toExtension f)); }
        ];
      };
  };
}
