# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/testing/test-instrumentation.nix,
# which lets the test driver reach a VM through a root shell on a virtio console.
#
# Models: testing.backdoor (default true) and testing.initrdBackdoor (requires systemd stage 1,
# asserted); the backdoor service (requires and after dev-hvc0.device and the serial device, a
# script that runs bash on /dev/hvc0 with stderr on the serial console, KillSignal SIGHUP, wanted
# by multi-user.target) and its stage 1 twin with initrd-cleanup neutralised; journald to the
# serial console in stage 1 and 2; systemd Manager settings ShowStatus=false,
# DefaultTimeoutStartSec=300, DefaultDeviceTimeoutSec=300 (both stages); serial-getty@<serial>
# and serial-getty@hvc0 disabled; virtualisation.qemu.package = mkDefault pkgs.qemu_test when
# qemu-vm.nix is loaded; sysctl hung_task_timeout_secs 600 and vm.panic_on_oom (mkDefault 2);
# the kernel parameters console=<serial> console=tty0 panic=1 boot.panic_on_fail
# clocksource=acpi_pm; xwininfo in the system; consoleLogLevel 7; defaultGateway and nameservers
# emptied (mkOverride 150); usePredictableInterfaceNames off; root's empty hashed password file
# (mkOverride 150); logrotate off; the guest agent from qemu_test; stateVersion defaulted at
# priority 1200.
# Leaves out: system.requiredKernelConfig and the display manager setting's effect.
{
  options,
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.testing;
  qemu-common = import ../../lib/qemu-common.nix {
    inherit lib;
    inherit (pkgs) stdenv;
  };
  serial = qemu-common.qemuSerialDevice;

  backdoorService = {
    requires = [
      "dev-hvc0.device"
      "dev-${serial}.device"
    ];
    after = [
      "dev-hvc0.device"
      "dev-${serial}.device"
    ];
    script = ''
      export USER=root HOME=/root DISPLAY=:0.0
      if [[ -e /etc/profile ]]; then
        set +o nounset
        source /etc/profile
      fi
      export PAGER=
      cd /tmp
      exec < /dev/hvc0 > /dev/hvc0
      while ! exec 2> /dev/${serial}; do sleep 0.1; done
      echo "connecting to host..." >&2
      stty -F /dev/hvc0 raw -echo
      echo "Spawning backdoor root shell..."
      PS1="" exec ${pkgs.bashNonInteractive}/bin/bash --norc /dev/hvc0
    '';
    serviceConfig.KillSignal = "SIGHUP";
  };

  managerSettings = {
    ShowStatus = false;
    DefaultTimeoutStartSec = 300;
    DefaultDeviceTimeoutSec = 300;
  };
in
{
  options.testing = {
    backdoor = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether to enable the backdoor service in stage 2.";
    };
    initrdBackdoor = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Whether to enable the backdoor service in stage 1 (systemd stage 1 only).";
    };
  };

  config = {
    assertions = [
      {
        assertion = cfg.initrdBackdoor -> config.boot.initrd.systemd.enable;
        message = "testing.initrdBackdoor requires boot.initrd.systemd.enable to be enabled.";
      }
    ];

    systemd.services.backdoor = lib.mkIf cfg.backdoor (
      lib.mkMerge [
        backdoorService
        { wantedBy = [ "multi-user.target" ]; }
      ]
    );

    boot.initrd.systemd = lib.mkMerge [
      {
        contents."/etc/systemd/journald.conf".text = ''
          [Journal]
          ForwardToConsole=yes
          TTYPath=/dev/${serial}
          MaxLevelConsole=debug
        '';
        settings.Manager = managerSettings;
      }
      (lib.mkIf cfg.initrdBackdoor {
        services.initrd-cleanup.serviceConfig.ExecStart = [
          ""
          "/bin/true"
        ];
        services.backdoor = lib.mkMerge [
          backdoorService
          {
            wantedBy = [ "sysinit.target" ];
            unitConfig.DefaultDependencies = false;
            conflicts = [
              "shutdown.target"
              "initrd-switch-root.target"
            ];
            before = [
              "shutdown.target"
              "initrd-switch-root.target"
            ];
          }
        ];
        storePaths = [ "${pkgs.coreutils}/bin/env" ];
      })
    ];

    systemd.services."serial-getty@${serial}".enable = false;
    systemd.services."serial-getty@hvc0".enable = false;

    virtualisation = lib.optionalAttrs (options ? virtualisation.qemu) {
      qemu.package = lib.mkDefault pkgs.qemu_test;
    };

    boot.kernel.sysctl = {
      "kernel.hung_task_timeout_secs" = 600;
      "vm.panic_on_oom" = lib.mkDefault 2;
    };

    boot.kernelParams = [
      "console=${serial}"
      "console=tty0"
      "panic=1"
      "boot.panic_on_fail"
      "clocksource=acpi_pm"
    ];

    environment.systemPackages = [ pkgs.xorg.xwininfo ];

    services.journald.settings.Journal = {
      ForwardToConsole = true;
      TTYPath = "/dev/${serial}";
      MaxLevelConsole = "debug";
    };

    systemd.settings.Manager = managerSettings;
    systemd.user.extraConfig = ''
      DefaultTimeoutStartSec=300
      DefaultDeviceTimeoutSec=300
    '';

    boot.consoleLogLevel = 7;

    networking.defaultGateway = lib.mkOverride 150 null;
    networking.nameservers = lib.mkOverride 150 [ ];

    networking.usePredictableInterfaceNames = false;

    users.users.root.hashedPasswordFile = lib.mkOverride 150 "${pkgs.writeText "hashed-password.root" ""}";

    services.displayManager.logToJournal = true;
    services.logrotate.enable = lib.mkOverride 150 false;
    services.qemuGuest.package = pkgs.qemu_test.ga;

    system.stateVersion = lib.mkOverride 1200 lib.trivial.release;
  };
}
