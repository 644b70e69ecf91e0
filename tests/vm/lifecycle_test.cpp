// VM tests of a machine's life: start, shutdown, crash, and every way it can go down under a
// command (VMM killed, kernel panic, shell gone), boot failures and the global timeout.
#include <gmock/gmock.h>
#include <signal.h>

#include <fstream>
#include <thread>

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

ATTEST_TEST(vmm_killed_mid_command) {
  start_all();
  auto& m = machine("machine");
  m.connect();
  const int pid = attest::vmtest::vmm_pid(m);
  ASSERT_GT(pid, 0);
  std::chrono::steady_clock::time_point killed;
  std::thread killer([&] {
    std::this_thread::sleep_for(1s);
    killed = std::chrono::steady_clock::now();
    ::kill(pid, SIGKILL);
  });
  try {
    m.succeed("sleep 100");
    ADD_FAILURE() << "succeed returned";
  } catch (const attest::BootError& e) {
    EXPECT_LT(seconds_since(killed), 1.0) << "the error came too late";
    EXPECT_THAT(
        e.what(),
        HasSubstr("QEMU was killed by signal 9 (SIGKILL) unexpectedly while running `sleep 100`"));
    EXPECT_EQ(e.machine(), "machine");
  }
  killer.join();
  EXPECT_FALSE(m.is_up());
}

ATTEST_TEST(kernel_panic_mid_command) {
  start_all();
  auto& m = machine("machine");
  m.connect();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    m.succeed("echo c > /proc/sysrq-trigger; sleep 100");
    ADD_FAILURE() << "succeed returned";
  } catch (const attest::BootError& e) {
    EXPECT_LT(seconds_since(t0), 5.0);
    EXPECT_THAT(
        e.what(),
        HasSubstr("the guest kernel panicked (Kernel panic - not syncing: sysrq triggered crash)"));
    EXPECT_THAT(e.what(), HasSubstr("console (last 30 lines)"));
    EXPECT_THAT(e.what(), HasSubstr("sysrq"));
  }
  // As in NixOS, the next command boots the machine again.
  EXPECT_EQ(m.succeed("echo back"), "back\n");
}

ATTEST_TEST(backdoor_shell_killed_mid_command) {
  start_all();
  auto& m = machine("machine");
  m.connect();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THAT([&] { m.succeed("kill -9 $$; sleep 1"); },
              ThrowsMessage<attest::BootError>(HasSubstr("backdoor shell exited while running")));
  EXPECT_LT(seconds_since(t0), 10.0);
  EXPECT_THAT([&] { m.succeed("true"); },
              ThrowsMessage<attest::BootError>(HasSubstr("backdoor shell has exited")));
}

ATTEST_TEST(boot_error_for_a_kernel_that_is_not_one) {
  auto config = attest::vmtest::minimal_config();
  const auto bogus = std::filesystem::path(::testing::TempDir()) / "not-a-kernel";
  std::ofstream(bogus) << "this is not a kernel image\n";
  config.machines[0].kernel = bogus;
  attest::Driver driver(config);
  auto& m = driver.machine("machine");
  const auto t0 = std::chrono::steady_clock::now();
  try {
    m.start();
    m.succeed("true");
    ADD_FAILURE() << "a bogus kernel booted";
  } catch (const attest::BootError& e) {
    EXPECT_LT(seconds_since(t0), 30.0);
    EXPECT_THAT(e.what(), HasSubstr("machine 'machine'"));
    EXPECT_THAT(e.what(), HasSubstr("QEMU exited with exit status 1"));
    EXPECT_THAT(e.what(), HasSubstr("QEMU stderr"));
  }
}

ATTEST_TEST(boot_error_when_the_banner_never_comes) {
  auto config = attest::vmtest::minimal_config();
  // PID 1 is a plain shell on the console: the guest runs, but no backdoor ever starts.
  config.machines[0].cmdline += " rdinit=/bin/sh";
  config.machines[0].boot_timeout = 8s;
  attest::Driver driver(config);
  auto& m = driver.machine("machine");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THAT(
      [&] { m.succeed("true"); },
      ThrowsMessage<attest::BootError>(AllOf(
          HasSubstr("did not come up within the boot timeout of 8s"),
          HasSubstr("Spawning backdoor root shell..."), HasSubstr("console (last 30 lines)"))));
  EXPECT_LT(seconds_since(t0), 20.0);
}

ATTEST_TEST(global_timeout_halts_everything) {
  auto config = attest::vmtest::minimal_config();
  config.global_timeout = 20s;
  attest::Driver driver(config);
  auto& m = driver.machine("machine");
  m.connect();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THAT([&] { m.succeed("sleep 1000"); },
              ThrowsMessage<attest::TimeoutError>(HasSubstr("global timeout of 20s expired")));
  EXPECT_LT(seconds_since(t0), 25.0);
  EXPECT_FALSE(m.is_up());
  EXPECT_THAT([&] { m.succeed("true"); },
              ThrowsMessage<attest::TimeoutError>(HasSubstr("global timeout")));
}

ATTEST_TEST(no_vmm_outlives_its_driver) {
  std::string state;
  {
    attest::Driver driver(attest::vmtest::minimal_config());
    auto& m = driver.machine("machine");
    m.connect();
    state = m.state_dir().string();
    EXPECT_EQ(attest::vmtest::count_processes(state), 1);
  }
  EXPECT_EQ(attest::vmtest::count_processes(state), 0);
  EXPECT_FALSE(std::filesystem::exists(state));
}

ATTEST_TEST(bad_accelerator_setting_is_reported) {
  auto config = attest::vmtest::minimal_config();
  ::setenv("ATTEST_ACCEL", "hvf", 1);
  attest::Driver driver(config);
  EXPECT_THAT([&] { driver.machine("machine").start(); },
              ThrowsMessage<attest::ConfigError>(
                  HasSubstr("ATTEST_ACCEL='hvf' is not one of kvm, tcg, kvm:tcg")));
  ::setenv("ATTEST_ACCEL", "tcg", 1);
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
  m.reboot();
  EXPECT_NE(m.succeed("cat /proc/sys/kernel/random/boot_id"), boot_id);
  // The same QEMU, and it still exits on a guest-initiated reboot (-no-reboot) afterwards.
  EXPECT_EQ(attest::vmtest::vmm_pid(m), pid);
  m.reboot();
  EXPECT_EQ(m.succeed("echo twice"), "twice\n");
  m.succeed("(sleep 0.5; reboot) >/dev/null 2>&1 &");
  m.wait_for_shutdown(60s);
  EXPECT_FALSE(m.is_up());
}
