// VM tests of a machine's life: start, shutdown, crash, reboot, NixOS start scripts. The ways it
// can go wrong (VMM killed, kernel panic, shell gone, a kernel that is not one, the global
// timeout) are in tests/faults/; a guest that never starts its shell is here, for its progress
// lines (the faults suite logs at warning).
#include <gmock/gmock.h>

#include <fstream>
#include <iostream>

#include "attest/driver.hpp"
#include "attest/test.hpp"
#include "vm_util.hpp"

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using namespace std::chrono_literals;
using attest::vmtest::seconds_since;

ATTEST_TEST(start_is_idempotent_and_connect_waits_for_the_shell) {
  auto& m = machine("machine");
  EXPECT_FALSE(m.is_up());
  m.start();
  m.start();
  m.connect();
  EXPECT_TRUE(m.is_up());
  EXPECT_EQ(m.backend(), "qemu");
  EXPECT_TRUE(m.has(attest::Capability::snapshot));
  EXPECT_THAT(m.get_console_log(), HasSubstr(""));
}

ATTEST_TEST(a_command_starts_a_stopped_machine) {
  auto& m = machine("machine");
  EXPECT_EQ(m.succeed("echo booted on demand"), "booted on demand\n");
}

ATTEST_TEST(shutdown_and_start_again) {
  start_all();
  auto& m = machine("machine");
  m.succeed("echo before > /tmp/state");
  m.shutdown();
  EXPECT_FALSE(m.is_up());
  m.wait_for_shutdown(1s);  // already down: returns at once
  m.start();
  // A fresh boot: the initramfs starts clean.
  EXPECT_EQ(m.execute("cat /tmp/state").status, 1);
  m.shutdown();
}

ATTEST_TEST(crash_stops_the_vmm_at_once) {
  start_all();
  auto& m = machine("machine");
  m.connect();
  const auto t0 = std::chrono::steady_clock::now();
  m.crash();
  EXPECT_LT(seconds_since(t0), 5.0);
  EXPECT_FALSE(m.is_up());
  EXPECT_EQ(attest::vmtest::vmm_pid(m), -1);
}

ATTEST_TEST(wait_for_shutdown_times_out_on_a_running_machine) {
  start_all();
  auto& m = machine("machine");
  m.connect();
  EXPECT_THAT([&] { m.wait_for_shutdown(1s); },
              ThrowsMessage<attest::TimeoutError>(HasSubstr("QEMU did not exit within 1s")));
  m.succeed("(sleep 1; poweroff) >/dev/null 2>&1 &");
  m.wait_for_shutdown(60s);
  EXPECT_FALSE(m.is_up());
}

ATTEST_TEST(bad_accelerator_setting_is_reported) {
  auto config = attest::vmtest::minimal_config();
  // With the configuration, naming the machine (issue 23)...
  ::setenv("ATTEST_ACCEL", "hvf", 1);
  EXPECT_THAT([&] { attest::Driver driver(config); },
              ThrowsMessage<attest::ConfigError>(HasSubstr(
                  "machine 'machine': environment variable ATTEST_ACCEL='hvf' is not one of kvm, "
                  "tcg, kvm:tcg")));
  ::setenv("ATTEST_ACCEL", "tcg", 1);
  // ... and again at the start when it changed since.
  attest::Driver driver(config);
  ::setenv("ATTEST_ACCEL", "hvf", 1);
  EXPECT_THAT([&] { driver.machine("machine").start(); },
              ThrowsMessage<attest::ConfigError>(
                  HasSubstr("machine 'machine': environment variable ATTEST_ACCEL='hvf'")));
  ::setenv("ATTEST_ACCEL", "tcg", 1);
}

ATTEST_TEST(a_missing_qemu_says_how_to_install_it) {
  auto config = attest::vmtest::minimal_config();
  config.machines[0].qemu_binary = "attest-no-such-qemu";
  attest::Driver driver(config);
  try {
    driver.machine("machine").start();
    ADD_FAILURE() << "start() did not throw";
  } catch (const attest::BootError& e) {
    EXPECT_THAT(e.what(), HasSubstr("machine 'machine': start: cannot start QEMU "
                                    "(attest-no-such-qemu): cannot find 'attest-no-such-qemu' in "
                                    "PATH; install QEMU (Debian: apt-get install qemu-system-x86"));
    EXPECT_THAT(e.what(), HasSubstr("\"qemu_binary\""));
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("[system:")));
  }
}

ATTEST_TEST(start_all_reports_every_machine_that_failed) {
  // Two machines whose QEMU is missing: the first failure is thrown, the other one logged, so
  // that the second machine's problem is not found only after the first is fixed.
  auto config = attest::vmtest::minimal_config();
  config.machines[0].qemu_binary = "attest-no-such-qemu-a";
  auto second = config.machines[0];
  second.name = "second";
  second.qemu_binary = "attest-no-such-qemu-b";
  config.machines.push_back(second);
  attest::Driver driver(config);
  ::testing::internal::CaptureStderr();
  std::string thrown;
  try {
    driver.start_all();
  } catch (const attest::BootError& e) {
    thrown = e.what();
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(thrown.empty()) << "start_all() did not throw";
  // Whichever failed first is thrown; the other is in the log.
  const bool a_thrown = thrown.find("attest-no-such-qemu-a") != std::string::npos;
  EXPECT_THAT(log, HasSubstr("start_all: another machine failed too: machine '" +
                             std::string(a_thrown ? "second" : "machine") + "'"));
  EXPECT_THAT(log, HasSubstr(a_thrown ? "attest-no-such-qemu-b" : "attest-no-such-qemu-a"));
}

ATTEST_TEST(qemu_without_kvm_points_at_tcg) {
  // A QEMU that fails as a real one does on a host without a usable /dev/kvm.
  const auto dir = std::filesystem::path(::testing::TempDir()) / "attest-no-kvm";
  std::filesystem::create_directories(dir);
  const auto fake = dir / "qemu-system-x86_64";
  std::ofstream(fake) << "#!/bin/sh\necho 'Could not access KVM kernel module: No such file or "
                         "directory' >&2\necho 'qemu-system-x86_64: failed to initialize kvm' "
                         ">&2\nexit 1\n";
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  auto config = attest::vmtest::minimal_config();
  config.machines[0].qemu_binary = fake.string();
  attest::Driver driver(config);
  EXPECT_THAT([&] { driver.machine("machine").start(); },
              ThrowsMessage<attest::BootError>(::testing::AllOf(
                  HasSubstr("QEMU exited with exit status 1 while starting; KVM is not usable "
                            "here"),
                  HasSubstr("ATTEST_ACCEL=tcg"), HasSubstr("failed to initialize kvm"))));
}

ATTEST_TEST(boot_error_when_the_banner_never_comes) {
  auto config = attest::vmtest::minimal_config();
  // PID 1 is a plain shell on the console: the guest runs, but no backdoor ever starts.
  config.machines[0].cmdline += " rdinit=/bin/sh";
  // Long enough for the kernel to print to the console even on a loaded host under ASan, and for
  // one progress line (every 10 s).
  config.machines[0].boot_timeout = 13s;
  attest::Driver driver(config);
  auto& m = driver.machine("machine");
  const auto t0 = std::chrono::steady_clock::now();
  ::testing::internal::CaptureStderr();
  EXPECT_THAT(
      [&] { m.succeed("true"); },
      ThrowsMessage<attest::BootError>(::testing::AllOf(
          HasSubstr("did not come up within the boot timeout of 13s"),
          HasSubstr("Spawning backdoor root shell..."), HasSubstr("console (last 30 lines)"))));
  const std::string log = ::testing::internal::GetCapturedStderr();
  std::cerr << log;
  EXPECT_LT(seconds_since(t0), 28.0);
  // The wait said, every 10 s, that it was still waiting and what the console last printed.
  EXPECT_THAT(log, HasSubstr("machine: waiting for the guest shell… 10 s ("));
}

ATTEST_TEST(nixos_start_script) {
  // A stand-in for a NixOS `run-<name>-vm` script: it fixes the VM and appends the driver's
  // arguments ("$@"), as qemu-vm.nix's script does.
  auto config = attest::vmtest::minimal_config();
  auto direct = config.machines[0];
  const auto dir = std::filesystem::path(::testing::TempDir()) / "attest-nixos-script";
  std::filesystem::create_directories(dir);
  const auto script = dir / "run-machine-vm";
  {
    std::ofstream s(script);
    s << "#!/bin/sh\n"
      << "echo \"TMPDIR=$TMPDIR SHARED_DIR=$SHARED_DIR USE_TMPDIR=$USE_TMPDIR PWD=$(pwd)\" > "
         "\"$TMPDIR/env-seen\"\n"
      << "exec qemu-system-x86_64 -machine accel=kvm:tcg -cpu max -name machine -m 256 -smp 1 "
      << "-kernel " << direct.kernel << " -initrd " << direct.initrd << " -append '"
      << direct.cmdline << "' $QEMU_OPTS \"$@\"\n";
  }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  attest::MachineConfig scripted;
  scripted.name = "machine";
  scripted.start_command = script;
  config.machines = {scripted};
  attest::Driver driver(config);
  auto& m = driver.machine("machine");
  EXPECT_EQ(m.succeed("echo started by the script"), "started by the script\n");
  std::ifstream env(m.state_dir() / "env-seen");
  std::string seen;
  std::getline(env, seen);
  const auto state = m.state_dir().string();
  EXPECT_EQ(seen, "TMPDIR=" + state +
                      " SHARED_DIR=" + (m.state_dir().parent_path() / "shared-xchg").string() +
                      " USE_TMPDIR=1 PWD=" + state);
  m.shutdown();
}

ATTEST_TEST(reboot_brings_the_shell_back_on_the_same_machine) {
  start_all();
  auto& m = machine("machine");
  const auto boot_id = m.succeed("cat /proc/sys/kernel/random/boot_id");
  const int pid = attest::vmtest::vmm_pid(m);
  // ctrl-alt-delete, as NixOS: busybox init's ::ctrlaltdel: entry reboots the guest.
  auto t0 = std::chrono::steady_clock::now();
  m.reboot();
  m.log("reboot (ctrl-alt-delete) went down in " + std::to_string(seconds_since(t0)) + " s");
  const auto second_boot = m.succeed("cat /proc/sys/kernel/random/boot_id");
  EXPECT_NE(second_boot, boot_id);
  // The same QEMU, and it still exits on a guest-initiated reboot (-no-reboot) afterwards.
  EXPECT_EQ(attest::vmtest::vmm_pid(m), pid);
  t0 = std::chrono::steady_clock::now();
  m.reboot_from_shell();
  m.log("reboot_from_shell went down in " + std::to_string(seconds_since(t0)) + " s");
  EXPECT_NE(m.succeed("cat /proc/sys/kernel/random/boot_id"), second_boot);
  EXPECT_EQ(attest::vmtest::vmm_pid(m), pid);
  m.succeed("(sleep 0.5; reboot) >/dev/null 2>&1 &");
  m.wait_for_shutdown(60s);
  EXPECT_FALSE(m.is_up());
}

// NixOS's start(allow_reboot=True): the guest's own reboot resets it on the same QEMU (QMP
// set-action reboot=reset on a QEMU started with -no-reboot), and the next command waits for the
// new shell.
ATTEST_TEST(start_with_allow_reboot_keeps_the_vmm_on_a_guest_reboot) {
  auto& m = machine("machine");
  m.halt();  // a fresh VMM whatever the tests before left running
  m.start({.allow_reboot = true});
  const auto boot_id = m.succeed("cat /proc/sys/kernel/random/boot_id");
  const int pid = attest::vmtest::vmm_pid(m);
  m.succeed("(sleep 0.5; reboot) >/dev/null 2>&1 &");
  (void)m.wait_for_qmp_event([](const attest::QmpEvent& e) { return e.event == "RESET"; }, 60s);
  EXPECT_NE(m.succeed("cat /proc/sys/kernel/random/boot_id"), boot_id);
  EXPECT_EQ(attest::vmtest::vmm_pid(m), pid);
}
