// MachineImpl's state machine (lib/core/machine_impl.cpp, its operation runner run_step, and
// its parts machine_{boot,command,copy,power,snapshot,screen,systemd}.cpp) through the public
// attest::Driver / attest::Machine API, on machines of the fake backend (fake_backend.hpp,
// registered through the backend registry) whose VMM is attest-fake-vmm (fake_vmm.cpp: a host
// bash behind the backdoor protocol). The guest misbehaves on demand from
// inside, with ordinary commands, so each path (boot, commands, waits, power, reboots,
// snapshots, the global timeout) runs in milliseconds instead of a QEMU boot under TCG.
//
// The typed errors MachineImpl raises (lib/core/machine_*.cpp; and the facade's around them),
// and the test covering each:
//
// BootError
//   start: the VMM fails to come up (fail_start) ........ a_vmm_that_fails_to_start
//   snapshot_restore: the fresh VMM fails (fail_start) ... snapshot_create_and_restore
//   connect: no banner within the boot timeout .......... a_banner_that_never_comes
//   connect: the VMM exits before the banner ............ the_vmm_exiting_before_the_banner
//   a command: the VMM exits, or is killed .............. the_vmm_exiting_mid_command,
//                                                          the_vmm_killed_by_a_signal_mid_command,
//                                                          two_machines_are_independent
//   a command: a kernel panic on the console, with the
//     console up to it; later commands ................. a_kernel_panic_mid_command
//   a command: the backdoor shell exits; the error the
//     next command gets ................................ the_backdoor_shell_exiting
//   a command: the connection closes, the VMM runs on ... the_connection_closing_mid_command
//   wait_until: the machine goes down between attempts .. the_machine_going_down_during_a_wait
//   wait_for_console_text: down before a match .......... wait_for_console_text_and_a_vmm_exit
//   reboot: the VMM exits while rebooting ............... reboot_errors
//   switch_root: the VMM exits while switching .......... switch_root_errors
//   a copy: the VMM exits during one of its steps ....... a_copy_ends_when_the_machine_goes_down
//   not covered: connect failing otherwise ("connecting to the guest shell failed": the
//     connection closing before the banner while the VMM runs on costs the fixed 1 s
//     exit_settle, as the_connection_closing_mid_command does; fake_vmm's `hangup` reaches it);
//     `reboot` failing to be sent (the connection would have to close in the instant between two
//     commands); snapshot_create going down while saving (the fake saves at once); the restored
//     resumable shell not answering and restore_in_place (QEMU's resumable shell:
//     tests/vm/); the screen waits going down (poll, bounded: they need a screen); raw_exchange
//     (benchmarks only, not in the public API).
// TimeoutError
//   wait_until_succeeds / wait_until_fails .............. wait_until_succeeds_and_fails
//   wait_for_console_text ............................... wait_for_console_text_and_a_vmm_exit
//   reboot (ctrl-alt-delete ignored), reboot_from_shell
//     (`reboot` ignored): the guest does not go down .... reboot_errors
//   switch_root: no "Switching root." on the console .... switch_root_errors
//   shutdown: neither `poweroff` nor the power button ... shutdown_kills_a_guest_that_ignores_both
//   wait_for_shutdown ................................... crash_halt_and_wait_for_shutdown
//   wait_for_unit ....................................... wait_for_unit_and_unit_errors
//   the global timeout: a running command, the wait for
//     the shell, and every later call .................. global_timeout_ends_a_running_command,
//                                                          global_timeout_while_waiting_for_the_shell
//   a command past its host deadline, then the resync ... a_frozen_guest_command_times_out
//   not covered: crash (a VMM ignoring quit for 30 s), snapshot save/load past 5 minutes,
//     raw_exchange, the screen's bounded() and poll(), next_qmp_event (QMP).
// CommandFailed
//   succeed / fail (the facade) ......................... commands_status_and_output
//   succeed: the boot of the console log that has the
//     command's stderr ................................. the_console_log_file_keeps_every_boot
//   a copy's guest step fails; copy_from_machine cannot
//     read the guest's file ............................. copies_between_host_and_guest
//   get_unit_property (checked_unit_info) ............... wait_for_unit_and_unit_errors
//   not covered: get_tty_text, dump_tty_contents, window names and forward_port's guest step
//     (they need /dev/vcs*, xwininfo or a user-mode network card in the guest: tests/vm/).
// UnitError
//   wait_for_unit: failed, not found, inactive with no
//   pending jobs, no ActiveState; require_unit_state .... wait_for_unit_and_unit_errors
//   switch_root in a guest not in its initrd ............ switch_root_moves_on_to_the_system
// Unsupported
//   reboot, reboot_from_shell, start's allow_reboot and
//   snapshots without the capability, reboot without a keyboard, forward_port,
//   and what the backend lacks (screenshot, send_key,
//   send_console, the monitor, QMP events) .............. unsupported_operations
// BackendError
//   snapshot_create refused by the VMM .................. snapshot_create_failing
// ConfigError
//   a socket path too long (MachineImpl's constructor);
//   a field the backend's validate() rejects ............ config_errors_of_fake_machines
//   not covered: an unknown backend in make_backend (configuration validation rejects the name
//     first; config_test.cpp covers that message).
// Error
//   a command with a NUL byte, block() on no vlan, a
//   tty out of range, an invalid regex, a bad key name .. invalid_requests
//   invalid snapshot names, snapshots of a stopped
//   machine ............................................. snapshot_names_are_checked
//   a missing snapshot .................................. snapshot_create_and_restore
//   copy_from_host of a missing file .................... copies_between_host_and_guest
//   not covered: a snapshot or screenshot directory that cannot be made, OCR failures.
// ProtocolError
//   not covered: a malformed end of output cannot be produced by a guest (the end marker's nonce
//   is never sent literally); framing_test.cpp and shell_test.cpp cover the framing.
// PollingConditionError (the driver's, checked before commands and, through MachineImpl's
//   CallerLink, between a wait's attempts) ............. wait_until_succeeds_and_fails
//   (and between a copy's guest steps) .................. copies_between_host_and_guest
//
// Behaviour of MachineImpl these tests found wrong, fixed with them:
// the_vmm_killed_while_its_guest_holds_the_connection (a raw boost::system::system_error escaped
// instead of the BootError), a_guest_resetting_itself_mid_command (the command hung until its
// deadline and the machine could not reconnect afterwards) and
// the_console_log_file_keeps_every_boot (each start truncated <machine>.console.log, so the
// stderr a CommandFailed points at was gone after the next start).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <signal.h>
#include <unistd.h>

#include <cxxabi.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "attest/driver.hpp"
#include "attest/error.hpp"
#include "attest/machine.hpp"
#include "fake_backend.hpp"
#include "files.hpp"

namespace attest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_support::FakeControls;

std::string demangle(const char* name) {
  int status = 0;
  char* readable = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && readable != nullptr ? readable : name;
  std::free(readable);
  return out;
}

/// Runs `fn`, which must throw exactly `E` (neither a subclass nor a base); returns the error.
template <class E, class F>
std::optional<E> error_of(F&& fn) {
  try {
    std::forward<F>(fn)();
  } catch (const std::exception& e) {
    if (typeid(e) == typeid(E)) return dynamic_cast<const E&>(e);
    ADD_FAILURE() << "expected " << demangle(typeid(E).name()) << ", got "
                  << demangle(typeid(e).name()) << ": " << e.what();
    return std::nullopt;
  }
  ADD_FAILURE() << "expected " << demangle(typeid(E).name()) << ", nothing was thrown";
  return std::nullopt;
}

/// A guest command that sends `request` to the fake VMM (fake_vmm.cpp lists them).
std::string ask_vmm(const std::string& request) {
  return "echo " + shell_quote(request) + " > \"$ATTEST_FAKE_VMM_CONTROL\"";
}

/// The same, 0.1 s later, from a background job of the guest.
std::string ask_vmm_soon(const std::string& request) {
  return "(sleep 0.1; " + ask_vmm(request) + ") >/dev/null 2>&1 &";
}

milliseconds since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
}

using testing_support::read_file;

class machine_test : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("attest-machine-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // The configuration needs a kernel file; the fake backend boots none.
    std::ofstream(dir_ / "vmlinuz") << "not a kernel\n";
    // "fake" is registered anew for each test, wired to this test's controls (a registration
    // replaces the one of the same name).
    testing_support::register_fake_backend(controls_);
  }

  void TearDown() override {
    driver_.reset();
    fs::remove_all(dir_);
  }

  MachineConfig machine_config(const std::string& name) const {
    MachineConfig mc;
    mc.name = name;
    mc.backend = "fake";
    mc.kernel = dir_ / "vmlinuz";
    mc.boot_timeout = 10s;
    return mc;
  }

  Driver& make_driver(std::vector<MachineConfig> machines,
                      std::optional<milliseconds> global_timeout = std::nullopt,
                      const fs::path& output_dir = {}) {
    Config config;
    config.machines = std::move(machines);
    DriverOptions options;
    options.output_dir = output_dir.empty() ? dir_ / "out" : output_dir;
    options.global_timeout = global_timeout;
    driver_ = std::make_unique<Driver>(config, options);
    return *driver_;
  }

  /// One machine "m" with `tweak` applied to its configuration.
  Machine& make_machine(const std::function<void(MachineConfig&)>& tweak = {}) {
    auto mc = machine_config("m");
    if (tweak) tweak(mc);
    return make_driver({mc}).machine("m");
  }

  /// The fake VMM's pid as the guest sees it.
  static std::string vmm_pid(Machine& m) { return m.succeed("echo $ATTEST_FAKE_VMM_PID"); }

  FakeControls controls_;
  fs::path dir_;
  std::unique_ptr<Driver> driver_;
};

TEST_F(machine_test, commands_status_and_output) {
  auto& m = make_machine();
  m.start();
  m.connect();
  EXPECT_TRUE(m.is_up());
  EXPECT_EQ(m.backend(), "fake");
  const auto r = m.execute("echo hello; exit 3");
  EXPECT_EQ(r.status, 3);
  EXPECT_EQ(r.output, "hello\n");
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "1\n");
  // A command's stderr goes to the serial console, as NixOS's backdoor's does.
  m.succeed("echo to-the-console >&2");
  m.wait_for_console_text("to-the-console", 5s);
  EXPECT_THAT(m.get_console_log(), HasSubstr("to-the-console"));

  const int line = __LINE__ + 1;
  auto failed = error_of<CommandFailed>([&] { m.succeed("echo oops; exit 4"); });
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status(), 4);
  EXPECT_EQ(failed->output(), "oops\n");
  EXPECT_EQ(failed->command(), "echo oops; exit 4");
  EXPECT_EQ(failed->machine(), "m");
  EXPECT_EQ(failed->operation(), "succeed");
  EXPECT_THAT(failed->what(), HasSubstr("machine 'm': command `echo oops; exit 4` failed (exit "
                                        "code 4)\noutput: oops"));
  EXPECT_THAT(failed->where().file_name(), HasSubstr("machine_test.cpp"));
  EXPECT_EQ(failed->where().line(), static_cast<unsigned>(line));

  auto succeeded = error_of<CommandFailed>([&] { (void)m.fail("echo fine"); });
  ASSERT_TRUE(succeeded);
  EXPECT_EQ(succeeded->status(), 0);
  EXPECT_THAT(succeeded->what(),
              HasSubstr("machine 'm': command `echo fine` unexpectedly succeeded\noutput: fine"));
  EXPECT_EQ(m.fail("echo no; false"), "no\n");
}

TEST_F(machine_test, a_command_starts_a_stopped_machine) {
  auto& m = make_machine();
  EXPECT_FALSE(m.is_up());
  EXPECT_EQ(m.succeed("echo started"), "started\n");
  EXPECT_TRUE(m.is_up());
}

TEST_F(machine_test, a_banner_split_across_writes) {
  controls_.banner = "split";
  auto& m = make_machine();
  EXPECT_EQ(m.succeed("echo ok"), "ok\n");
}

TEST_F(machine_test, a_late_banner_within_the_boot_timeout) {
  controls_.banner_delay = 150ms;
  auto& m = make_machine([](MachineConfig& mc) { mc.boot_timeout = 5s; });
  const auto t0 = std::chrono::steady_clock::now();
  m.start();
  EXPECT_EQ(m.succeed("echo late"), "late\n");
  EXPECT_GE(since(t0), 150ms);
}

TEST_F(machine_test, a_banner_that_never_comes) {
  controls_.banner = "none";
  auto& m = make_machine([](MachineConfig& mc) { mc.boot_timeout = 200ms; });
  const auto t0 = std::chrono::steady_clock::now();
  auto e = error_of<BootError>([&] { m.connect(); });
  ASSERT_TRUE(e);
  EXPECT_LT(since(t0), 3s);
  EXPECT_EQ(e->operation(), "connect");
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': the guest shell did not come up within the boot "
                                   "timeout of 200ms (no \"Spawning backdoor root shell...\" "
                                   "banner on the virtconsole socket"));
  // The console tail shows how far the guest got.
  EXPECT_THAT(e->what(), HasSubstr("console (last 30 lines)"));
  EXPECT_THAT(e->what(), HasSubstr("attest-fake-vmm: this guest starts no backdoor shell"));
  // A machine whose shell cannot be reached is stopped (one rule with a shell that exits or a
  // connection that closes): the next command starts it again, and here fails again.
  EXPECT_THAT(e->what(), HasSubstr("attest stopped the machine, and the next command on it starts "
                                   "it again"));
  EXPECT_FALSE(m.is_up());
  auto again = error_of<BootError>([&] { (void)m.execute("true"); });
  ASSERT_TRUE(again);
  EXPECT_THAT(again->what(), HasSubstr("did not come up within the boot timeout of 200ms"));
  controls_.banner = "normal";
  EXPECT_EQ(m.succeed("echo up"), "up\n");
}

TEST_F(machine_test, a_vmm_that_fails_to_start) {
  controls_.start_failure = "cannot open /dev/kvm: No such file or directory";
  auto& m = make_machine();
  auto e = error_of<BootError>([&] { m.start(); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->operation(), "start");
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': start: attest-fake-vmm exited with exit status 1 "
                                   "while starting: attest-fake-vmm: cannot open /dev/kvm"));
  EXPECT_THAT(e->what(), HasSubstr("\ncommand: " + controls_.program.string()));
  EXPECT_EQ(e->end().exit_code, 1);
  EXPECT_FALSE(m.is_up());
}

TEST_F(machine_test, the_vmm_exiting_before_the_banner) {
  controls_.banner = "none";
  auto& m = make_machine();
  m.start();
  // The test reaches the fake VMM's control FIFO from the host here: this guest runs nothing.
  std::ofstream(m.state_dir() / "fake-vmm.ctl") << "exit 5\n";
  auto e = error_of<BootError>([&] { m.connect(); });
  ASSERT_TRUE(e);
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': connect: attest-fake-vmm exited with exit status "
                                   "5 unexpectedly before the guest shell came up"));
  EXPECT_THAT(e->what(), HasSubstr("exiting with status 5 as the guest asked"));
  EXPECT_EQ(e->end().exit_code, 5);
}

TEST_F(machine_test, the_vmm_exiting_mid_command) {
  auto& m = make_machine();
  const auto first_vmm = vmm_pid(m);
  const auto command = ask_vmm("exit 3") + "; sleep 30";
  const auto t0 = std::chrono::steady_clock::now();
  auto e = error_of<BootError>([&] { m.succeed(command); });
  ASSERT_TRUE(e);
  EXPECT_LT(since(t0), 1s);
  EXPECT_EQ(e->operation(), "succeed");
  EXPECT_THAT(e->what(),
              HasSubstr("machine 'm': succeed: attest-fake-vmm exited with exit status 3 "
                        "unexpectedly while running `" +
                        command + "`"));
  EXPECT_THAT(e->what(), HasSubstr("attest-fake-vmm stderr (last lines)"));
  EXPECT_THAT(e->what(), HasSubstr("exiting with status 3 as the guest asked"));
  EXPECT_EQ(e->end().exit_code, 3);
  EXPECT_FALSE(e->end().exit_signal);
  EXPECT_FALSE(m.is_up());
  // As in NixOS, the next command starts the machine again: a new VMM.
  EXPECT_NE(vmm_pid(m), first_vmm);
}

TEST_F(machine_test, the_vmm_killed_by_a_signal_mid_command) {
  auto& m = make_machine();
  m.start();
  const std::string command = "kill -TERM $ATTEST_FAKE_VMM_PID; sleep 30";
  const auto t0 = std::chrono::steady_clock::now();
  auto e = error_of<BootError>([&] { (void)m.execute(command); });
  ASSERT_TRUE(e);
  EXPECT_LT(since(t0), 1s);
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': execute: attest-fake-vmm was killed by signal 15 "
                                   "(SIGTERM) unexpectedly while running `" +
                                   command + "`"));
  EXPECT_EQ(e->end().exit_signal, SIGTERM);
  EXPECT_FALSE(e->end().exit_code);
}

// The VMM's exit is reported (MachineImpl::on_exit) while a command's read is pending and before
// the connection's EOF arrives: here because the guest's processes hold the connection until the
// host kills the VMM's process group. The command must end with the BootError of the VMM's exit.
// (on_exit used to close the shell before setting the abort event, so the pending read ended
// first, as a cancellation, and a raw system_error "Operation canceled" escaped, in about one run
// of two; now the abort comes first, and a read cancelled by close() is a ChannelError.)
TEST_F(machine_test, the_vmm_killed_while_its_guest_holds_the_connection) {
  controls_.guest_holds_connection = true;
  auto& m = make_machine();
  for (int i = 0; i < 10; ++i) {
    m.start();
    auto e = error_of<BootError>([&] { m.succeed("kill -TERM $ATTEST_FAKE_VMM_PID; sleep 30"); });
    ASSERT_TRUE(e) << "run " << i;
    EXPECT_EQ(e->end().exit_signal, SIGTERM);
  }
}

TEST_F(machine_test, a_kernel_panic_mid_command) {
  auto& m = make_machine();
  m.start();
  const std::string panic = "Kernel panic - not syncing: Attempted to kill init! exitcode=0x100";
  const std::string command =
      "echo 'init: /sbin/init: No such file' >&2; echo '" + panic + "' >&2; sleep 30";
  const auto t0 = std::chrono::steady_clock::now();
  auto e = error_of<BootError>([&] { m.succeed(command); });
  ASSERT_TRUE(e);
  EXPECT_LT(since(t0), 1s);
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': succeed: the guest kernel panicked (" + panic +
                                   ") while running `"));
  // The console up to the panic: its cause is usually the line before it.
  EXPECT_THAT(e->what(), HasSubstr("console up to the panic:\n"));
  EXPECT_THAT(e->what(), HasSubstr("    init: /sbin/init: No such file\n    " + panic + "\n"));
  EXPECT_TRUE(e->end().panicked);
  // The VMM keeps running (a panicked guest does not end QEMU without panic=N), and every later
  // command fails at once with the same cause.
  const auto t1 = std::chrono::steady_clock::now();
  auto later = error_of<BootError>([&] { m.succeed("true"); });
  ASSERT_TRUE(later);
  EXPECT_LT(since(t1), 1s);
  EXPECT_THAT(later->what(), HasSubstr("the guest kernel panicked (" + panic + ") while running"));
  // A panic after which the VMM exits too (panic=1 with -no-reboot) still reports the panic.
  m.halt();
  auto exits = error_of<BootError>([&] {
    m.succeed("echo 'Kernel panic - not syncing: VFS: Unable to mount root fs' >&2; " +
              ask_vmm("exit 0") + "; sleep 30");
  });
  ASSERT_TRUE(exits);
  EXPECT_THAT(exits->what(),
              HasSubstr("the guest kernel panicked (Kernel panic - not syncing: VFS: "
                        "Unable to mount root fs) while running"));
  EXPECT_THAT(exits->what(), Not(HasSubstr("unexpectedly")));
  EXPECT_TRUE(exits->end().panicked);
}

TEST_F(machine_test, the_backdoor_shell_exiting) {
  auto& m = make_machine();
  const auto first_vmm = vmm_pid(m);
  auto e = error_of<BootError>([&] { m.succeed("kill -KILL $$"); });
  ASSERT_TRUE(e);
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': succeed: the guest's backdoor shell exited while "
                                   "running `kill -KILL $$`"));
  EXPECT_FALSE(e->end().exit_code || e->end().exit_signal || e->end().panicked);
  // One rule with a panic or a VMM exit: the machine is down, and the next command starts it.
  EXPECT_THAT(e->what(), HasSubstr("`kill -KILL $$`; attest stopped the machine, and the next "
                                   "command on it starts it again"));
  EXPECT_FALSE(m.is_up());
  EXPECT_EQ(m.succeed("echo back"), "back\n");
  EXPECT_NE(vmm_pid(m), first_vmm);
}

TEST_F(machine_test, the_connection_closing_mid_command) {
  auto& m = make_machine();
  m.start();
  const auto command = ask_vmm("hangup") + "; sleep 30";
  auto e = error_of<BootError>([&] { m.succeed(command); });
  ASSERT_TRUE(e);
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': succeed: the shell connection closed while "
                                   "running `" +
                                   command + "`"));
  EXPECT_THAT(e->what(), HasSubstr("the shell connection hung up"));
  EXPECT_THAT(e->what(), HasSubstr("attest stopped the machine, and the next command on it starts "
                                   "it again"));
  EXPECT_FALSE(m.is_up());
  EXPECT_EQ(m.succeed("echo back"), "back\n");
}

// The host gives a command with its own timeout that timeout plus the backend's command_grace()
// (10 s for a guest OS; 300 ms here) before it declares the guest frozen.
TEST_F(machine_test, a_frozen_guest_command_times_out) {
  controls_.command_grace = 300ms;
  auto& m = make_machine();
  const int shell = std::stoi(m.succeed("echo $ATTEST_FAKE_GUEST_SHELL_PID"));
  // Stopping the backdoor shell freezes the guest: the command's end marker never comes.
  const std::string command = "kill -STOP $ATTEST_FAKE_GUEST_SHELL_PID";
  auto e = error_of<TimeoutError>([&] { (void)m.execute(command, 1s); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->timeout(), 1s);
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': execute: command `" + command +
                                   "` did not finish within 1s (the guest's timeout did not stop "
                                   "it); it may still run in the guest"));
  // The guest thaws: the next command first takes the abandoned one's end, then runs in sync.
  ::kill(shell, SIGCONT);
  EXPECT_EQ(m.succeed("echo in-sync"), "in-sync\n");
  EXPECT_EQ(m.succeed("echo still-in-sync"), "still-in-sync\n");
}

// As in NixOS, a single-machine test reaches its machine as "machine" too.
TEST_F(machine_test, the_one_machine_is_also_machine) {
  auto& m = make_machine();
  EXPECT_EQ(&driver_->machine("machine"), &m);
  driver_.reset();
  make_driver({machine_config("a"), machine_config("b")});
  auto e = error_of<Error>([&] { (void)driver_->machine("machine"); });
  ASSERT_TRUE(e);
  EXPECT_THAT(e->what(), HasSubstr("there is no machine named 'machine' (machines: a, b)"));
}

// NixOS's keyword arguments as options structs, and succeed/fail with several commands.
TEST_F(machine_test, nixos_call_forms) {
  auto& m = make_machine();
  EXPECT_EQ(m.succeed("echo a", {.timeout = 30s}), "a\n");
  EXPECT_EQ(m.fail("echo b; false", {.timeout = 30s}), "b\n");
  EXPECT_EQ(m.wait_until_succeeds("echo c", {.timeout = 5s}), "c\n");
  EXPECT_EQ(m.wait_until_fails("false", {.timeout = 5s}), "");
  const auto unchecked = m.execute("echo d; exit 3", {.check_return = false});
  EXPECT_EQ(unchecked.status, -1);
  EXPECT_EQ(unchecked.output, "d\n");
  EXPECT_EQ(m.execute("exit 4", {.timeout = 10s}).status, 4);
  // A command with its own timeout is killed in the guest (status 124), as NixOS's is.
  EXPECT_EQ(m.execute("sleep 5", {.timeout = 100ms}).status, 124);

  // Several commands: in order, outputs concatenated; the first failure stops them.
  const std::string second = "echo two";
  EXPECT_EQ(m.succeed("echo one", second, std::string("echo three")), "one\ntwo\nthree\n");
  EXPECT_EQ(m.fail("echo x; false", "false"), "x\n");
  const int line = __LINE__ + 1;
  auto e = error_of<CommandFailed>([&] { m.succeed("touch ran-1", "false", "touch ran-3"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->command(), "false");
  EXPECT_EQ(e->where().line(), static_cast<unsigned>(line));
  EXPECT_EQ(m.execute("test -e ran-1").status, 0);
  EXPECT_EQ(m.execute("test -e ran-3").status, 1);
  auto unexpected = error_of<CommandFailed>([&] { m.fail("false", "true"); });
  ASSERT_TRUE(unexpected);
  EXPECT_THAT(unexpected->what(), HasSubstr("command `true` unexpectedly succeeded"));
}

// Every command runs under NixOS's `set -euo pipefail`, a simple `source FILE` too: the file's
// first failing line stops it, with the default timeout as with an explicit one.
TEST_F(machine_test, a_sourced_file_stops_at_its_first_failure) {
  auto& m = make_machine();
  std::ofstream(dir_ / "script.sh") << "echo before\nfalse\necho after\n";
  const auto script = shell_quote((dir_ / "script.sh").string());
  for (const auto& command : {"source " + script, ". " + script}) {
    const auto r = m.execute(command);
    EXPECT_EQ(r.status, 1) << command;
    EXPECT_EQ(r.output, "before\n") << command;
    EXPECT_EQ(m.execute(command, 10s).output, "before\n") << command;
  }
  // -u and pipefail too.
  EXPECT_EQ(m.execute("echo $undefined_variable").status, 1);
  EXPECT_EQ(m.execute("false | true").status, 1);
}

// milliseconds::max() means no limit: the host's deadline (the timeout plus the backend's grace)
// saturates instead of overflowing (UBSan in the sanitizer build checks the arithmetic).
// NixOS's execute(cmd, check_output=False): the command is sent and execute returns (-2, "") at
// once; the next command waits for its end and gets only its own output, so the shell stays in
// step (NixOS would read the earlier command's output as the next one's).
TEST_F(machine_test, execute_without_reading_the_output) {
  auto& m = make_machine();
  m.connect();
  auto t0 = std::chrono::steady_clock::now();
  auto r =
      m.execute("sleep 1; echo late > sent-file; echo discarded; exit 3", {.check_output = false});
  EXPECT_LT(since(t0), 500ms);  // sent, not waited for
  EXPECT_EQ(r.status, -2);
  EXPECT_EQ(r.output, "");
  EXPECT_EQ(m.succeed("cat sent-file; echo mine"), "late\nmine\n");
  EXPECT_GE(since(t0), 1s);  // the next command waited behind it
  // check_return does not matter then (-2, as NixOS's).
  r = m.execute("echo x", {.check_return = false, .check_output = false});
  EXPECT_EQ(r.status, -2);
  EXPECT_EQ(r.output, "");
  // Several in a row run in order, each after the one before.
  (void)m.execute("sleep 0.2; echo a >> order", {.check_output = false});
  (void)m.execute("echo b >> order", {.check_output = false});
  EXPECT_EQ(m.succeed("cat order"), "a\nb\n");

  // A later command whose time runs out while the unread one still runs: its TimeoutError names
  // the earlier command, and the machine stays in step after it.
  controls_.command_grace = 100ms;
  (void)m.execute("sleep 1; echo slow > slow-file", {.check_output = false});
  auto e = error_of<TimeoutError>([&] { m.succeed("echo next", 300ms); });
  ASSERT_TRUE(e);
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': succeed: command `echo next` did not finish "
                                   "within 300ms"));
  EXPECT_THAT(e->what(), HasSubstr("(it waited behind the earlier `sleep 1; echo slow > "
                                   "slow-file`, sent before it and not read)"));
  EXPECT_EQ(m.succeed("cat slow-file"), "slow\n");
  // Even the sending has a limit: a command sent behind a running one reports that it was not
  // sent.
  (void)m.execute("sleep 1", {.check_output = false});
  auto unsent = error_of<TimeoutError>(
      [&] { (void)m.execute("true", {.timeout = 300ms, .check_output = false}); });
  ASSERT_TRUE(unsent);
  EXPECT_THAT(unsent->what(), HasSubstr("machine 'm': execute: command `true` could not be sent "
                                        "within 300ms (it waited behind the earlier `sleep 1`"));
  EXPECT_EQ(m.succeed("echo in step"), "in step\n");

  // A guest reset drops a command that never ends: the new shell has nothing to wait for.
  (void)m.execute("sleep 1000", {.check_output = false});
  t0 = std::chrono::steady_clock::now();
  m.reboot();
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "2\n");
  EXPECT_LT(since(t0), 5s);
}

TEST_F(machine_test, the_longest_timeouts_mean_no_limit) {
  auto& m = make_machine();
  constexpr auto forever = std::chrono::milliseconds::max();
  EXPECT_EQ(m.execute("echo once", forever).output, "once\n");
  EXPECT_EQ(m.succeed("echo twice", forever), "twice\n");
  EXPECT_EQ(m.wait_until_succeeds("echo at-once", forever), "at-once\n");
  EXPECT_EQ(m.wait_until_fails("echo failing; false", forever), "failing\n");
}

// reboot() presses ctrl-alt-delete (NixOS), reboot_from_shell() runs `reboot` on the shell; both
// return once the guest went down, and the next command waits for its new shell.
TEST_F(machine_test, reboot_brings_the_shell_back) {
  auto& m = make_machine();
  m.succeed("echo kept > disk-file");
  const auto vmm = vmm_pid(m);
  m.reboot();
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "2\n");
  EXPECT_EQ(m.succeed("cat disk-file"), "kept\n");
  EXPECT_EQ(vmm_pid(m), vmm);  // the same VMM: a guest reset, not a restart
  // The machine switched the VMM to resetting for this reboot and back once the new shell was up,
  // as it does with QEMU's set-action.
  EXPECT_EQ(controls_.guest_reboot_calls(), (std::vector<bool>{true, false}));
  auto console = m.get_console_log();
  EXPECT_THAT(console, HasSubstr("attest-fake-vmm: keys pressed: ctrl-alt-delete"));
  EXPECT_THAT(console, HasSubstr("reboot: Restarting system"));
  EXPECT_THAT(console, HasSubstr(std::string(testing_support::fake_reset_marker)));
  // A guest that ignores ctrl-alt-delete still reboots from its shell.
  m.succeed(ask_vmm("ignore-ctrlaltdel"));
  m.reboot_from_shell();
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "3\n");
  EXPECT_EQ(vmm_pid(m), vmm);
  EXPECT_EQ(controls_.guest_reboot_calls(), (std::vector<bool>{true, false, true, false}));
  console = m.get_console_log();
  EXPECT_EQ(console.find("keys pressed"), console.rfind("keys pressed"));  // no second key press
}

TEST_F(machine_test, reboot_of_a_machine_that_allows_reboots) {
  auto& m = make_machine([](MachineConfig& mc) { mc.allow_reboot = true; });
  m.start();
  m.reboot();
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "2\n");
  m.reboot_from_shell();
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "3\n");
  EXPECT_TRUE(controls_.guest_reboot_calls().empty());
}

// NixOS's start(allow_reboot=True): the guest's own reboots reset it on the same VMM until the VMM
// stops, whatever the configuration says; the next VMM follows the configuration again.
TEST_F(machine_test, start_with_allow_reboot) {
  auto& m = make_machine();
  m.start({.allow_reboot = true});
  const auto vmm = vmm_pid(m);
  EXPECT_EQ(controls_.guest_reboot_calls(), (std::vector<bool>{true}));
  auto reset = error_of<BootError>([&] { (void)m.execute("reboot; sleep 30"); });
  ASSERT_TRUE(reset);
  EXPECT_THAT(reset->what(), HasSubstr("the guest rebooted while running `reboot; sleep 30`"));
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "2\n");
  EXPECT_EQ(vmm_pid(m), vmm);
  // reboot() keeps the setting: no switch of the VMM's reboot action, and a guest reboot after it
  // still resets the guest.
  m.reboot();
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "3\n");
  EXPECT_EQ(controls_.guest_reboot_calls(), (std::vector<bool>{true}));
  (void)error_of<BootError>([&] { (void)m.execute("reboot; sleep 30"); });
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "4\n");
  EXPECT_EQ(vmm_pid(m), vmm);
  // The next VMM, started without it, ends on a guest reboot (allow_reboot false in the config).
  m.crash();
  m.start();
  auto ended = error_of<BootError>([&] { m.succeed("reboot; sleep 30"); });
  ASSERT_TRUE(ended);
  EXPECT_THAT(ended->what(), HasSubstr("attest-fake-vmm exited with exit status 0 unexpectedly"));
  // On a machine already running, start({.allow_reboot = true}) allows them from then on.
  m.start();
  const auto second = vmm_pid(m);
  m.start({.allow_reboot = true});
  EXPECT_EQ(vmm_pid(m), second);
  EXPECT_EQ(controls_.guest_reboot_calls(), (std::vector<bool>{true, true}));
  (void)error_of<BootError>([&] { (void)m.execute("reboot; sleep 30"); });
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "2\n");
  EXPECT_EQ(vmm_pid(m), second);
}

// Either the configuration's allow_reboot or start's allows the guest's reboots.
TEST_F(machine_test, start_with_allow_reboot_on_a_machine_that_allows_reboots) {
  auto& m = make_machine([](MachineConfig& mc) { mc.allow_reboot = true; });
  m.start({.allow_reboot = false});
  const auto vmm = vmm_pid(m);
  (void)error_of<BootError>([&] { (void)m.execute("reboot; sleep 30"); });
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "2\n");
  m.start({.allow_reboot = true});
  EXPECT_EQ(vmm_pid(m), vmm);
  EXPECT_TRUE(controls_.guest_reboot_calls().empty());
}

// docs/architecture.md ("Reboot"): a command in flight when a guest resets on its own fails at
// once (the reset ends it, before the new shell's banner comes), and the next command waits for
// the new shell. (It used to run into its host deadline and read the new banner as output, which
// left the machine unable to reconnect.)
TEST_F(machine_test, a_guest_resetting_itself_mid_command) {
  auto& m = make_machine([](MachineConfig& mc) {
    mc.allow_reboot = true;
    mc.boot_timeout = 2s;
  });
  m.start();
  const auto t0 = std::chrono::steady_clock::now();
  auto e = error_of<BootError>([&] { (void)m.execute("reboot; sleep 30"); });
  EXPECT_LT(since(t0), 2s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->operation(), "execute");
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': execute: the guest rebooted while running "
                                   "`reboot; sleep 30`; the next command waits for its new shell"));
  EXPECT_FALSE(e->end().exit_code);
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "2\n");
}

TEST_F(machine_test, reboot_errors) {
  auto& m = make_machine();
  // A guest that reboots by itself under -no-reboot ends the VMM.
  auto itself = error_of<BootError>([&] { m.succeed("reboot; sleep 30"); });
  ASSERT_TRUE(itself);
  EXPECT_THAT(itself->what(), HasSubstr("machine 'm': succeed: attest-fake-vmm exited with exit "
                                        "status 0 unexpectedly while running `reboot; sleep 30`"));
  // A guest that ignores ctrl-alt-delete.
  m.succeed(ask_vmm("ignore-ctrlaltdel"));
  auto ignored = error_of<TimeoutError>([&] { m.reboot(200ms); });
  ASSERT_TRUE(ignored);
  EXPECT_EQ(ignored->timeout(), 200ms);
  EXPECT_EQ(ignored->operation(), "reboot");
  EXPECT_THAT(ignored->what(), HasSubstr("machine 'm': reboot: the guest did not go down within "
                                         "200ms after ctrl-alt-delete"));
  // A guest that ignores `reboot`.
  m.succeed(ask_vmm("ignore-poweroff"));
  auto shell_ignored = error_of<TimeoutError>([&] { m.reboot_from_shell(200ms); });
  ASSERT_TRUE(shell_ignored);
  EXPECT_EQ(shell_ignored->operation(), "reboot_from_shell");
  EXPECT_THAT(shell_ignored->what(), HasSubstr("machine 'm': reboot_from_shell: the guest did not "
                                               "go down within 200ms after `reboot`"));
  // A VMM that ends while the guest is rebooting.
  m.succeed(ask_vmm_soon("exit 4"));
  auto ended = error_of<BootError>([&] { m.reboot(5s); });
  ASSERT_TRUE(ended);
  EXPECT_THAT(ended->what(), HasSubstr("machine 'm': reboot: attest-fake-vmm exited with exit "
                                       "status 4 unexpectedly while rebooting"));
}

// NixOS's switch_root: from a systemd initrd (testing.initrdBackdoor) on to the system, without a
// reset or a restart; switch_root returns once the new root's shell is up, and the next command
// runs there.
TEST_F(machine_test, switch_root_moves_on_to_the_system) {
  controls_.initrd = true;
  auto& m = make_machine();
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_ROOT"), "initrd\n");
  const auto vmm = vmm_pid(m);
  const auto old_shell = m.succeed("echo $ATTEST_FAKE_GUEST_SHELL_PID");
  m.switch_root();
  EXPECT_TRUE(m.is_up());
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_ROOT"), "system\n");
  EXPECT_NE(m.succeed("echo $ATTEST_FAKE_GUEST_SHELL_PID"), old_shell);
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "1\n");  // no reset
  EXPECT_EQ(vmm_pid(m), vmm);                                   // nor a restart
  EXPECT_TRUE(controls_.guest_reboot_calls().empty());
  auto console = m.get_console_log();
  EXPECT_THAT(console, HasSubstr("systemd[1]: Switching root."));
  EXPECT_THAT(console, Not(HasSubstr(std::string(testing_support::fake_reset_marker))));
  // Nothing of the old shell (its unread `systemctl isolate`, its end) is in a command's output.
  EXPECT_EQ(m.succeed("echo one; echo two"), "one\ntwo\n");
  // The system is no initrd: the wait for initrd.target fails, naming switch_root.
  auto again = error_of<UnitError>([&] { m.switch_root(5s); });
  ASSERT_TRUE(again);
  EXPECT_THAT(again->what(), HasSubstr("machine 'm': switch_root: wait_for_unit(initrd.target): "
                                       "unit initrd.target does not exist"));
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_ROOT"), "system\n");
  // A reboot brings the guest back to its initrd, from which it switches again.
  m.reboot();
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_ROOT $ATTEST_FAKE_GUEST_BOOT"), "initrd 2\n");
  m.switch_root();
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_ROOT $ATTEST_FAKE_GUEST_BOOT"), "system 2\n");
  EXPECT_EQ(vmm_pid(m), vmm);
  console = m.get_console_log();
  EXPECT_NE(console.find("Switching root."), console.rfind("Switching root."));
}

// The old shell's output copier may outlive the switch, when a job of the initrd that ignores
// SIGHUP holds its pipe: its closed sentinel then arrives on the connection while the new root's
// shell runs a command. It is neither that command's output nor the end of the new shell.
TEST_F(machine_test, switch_root_with_the_old_shells_end_arriving_late) {
  controls_.initrd = true;
  auto& m = make_machine();
  m.succeed("(trap '' HUP; while [ ! -e release ]; do sleep 0.05; done) &");
  const auto vmm = vmm_pid(m);
  m.switch_root();
  // The job ends (and with it the old copier) once `release` exists: during this command.
  EXPECT_EQ(m.succeed("touch release; sleep 0.5; echo new-root"), "new-root\n");
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_ROOT"), "system\n");
  EXPECT_EQ(vmm_pid(m), vmm);
}

// Where a connection carries one shell only (the microVMs' vsock), the new root's shell comes on
// a new connection.
TEST_F(machine_test, switch_root_with_one_shell_per_connection) {
  controls_.initrd = true;
  controls_.shell_per_connection = true;
  auto& m = make_machine();
  const auto vmm = vmm_pid(m);
  m.switch_root();
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_ROOT"), "system\n");
  EXPECT_EQ(vmm_pid(m), vmm);
}

TEST_F(machine_test, switch_root_errors) {
  controls_.initrd = true;
  auto& m = make_machine();
  const auto vmm = vmm_pid(m);
  // An initrd that never switches: the old shell stays, in step.
  m.succeed(ask_vmm("ignore-switch-root"));
  auto never = error_of<TimeoutError>([&] { m.switch_root(500ms); });
  ASSERT_TRUE(never);
  EXPECT_EQ(never->operation(), "switch_root");
  EXPECT_EQ(never->timeout(), 500ms);
  EXPECT_THAT(never->what(),
              HasSubstr("machine 'm': switch_root: systemd did not switch root within 500ms (no "
                        "\"systemd[1]: … Switching root.\" on the console after `systemctl "
                        "isolate --no-block initrd-switch-root.target"));
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_ROOT"), "initrd\n");
  EXPECT_EQ(vmm_pid(m), vmm);
  // The VMM ending while the guest switches root.
  m.succeed("(sleep 0.5; " + ask_vmm("exit 4") + ") >/dev/null 2>&1 &");
  auto ended = error_of<BootError>([&] { m.switch_root(5s); });
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->operation(), "switch_root");
  EXPECT_THAT(ended->what(), HasSubstr("machine 'm': switch_root: attest-fake-vmm exited with exit "
                                       "status 4 unexpectedly while waiting for systemd to switch "
                                       "root"));
}

TEST_F(machine_test, shutdown_powers_off) {
  auto& m = make_machine();
  const auto vmm = vmm_pid(m);
  m.shutdown(5s);
  EXPECT_FALSE(m.is_up());
  EXPECT_THAT(m.get_console_log(), HasSubstr("reboot: Power down"));
  m.shutdown(5s);  // a machine that is off stays off
  EXPECT_NE(vmm_pid(m), vmm);
}

TEST_F(machine_test, shutdown_presses_the_power_button_when_poweroff_is_ignored) {
  auto& m = make_machine();
  m.succeed(ask_vmm("ignore-poweroff"));
  m.shutdown(300ms);
  EXPECT_FALSE(m.is_up());
  EXPECT_THAT(m.get_console_log(), HasSubstr("attest-fake-vmm: power button pressed"));
}

TEST_F(machine_test, shutdown_kills_a_guest_that_ignores_both) {
  auto& m = make_machine();
  m.succeed(ask_vmm("ignore-poweroff") + "; " + ask_vmm("ignore-powerdown"));
  auto e = error_of<TimeoutError>([&] { m.shutdown(300ms); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->timeout(), 300ms);
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': shutdown: the guest did not power off within "
                                   "300ms (neither `poweroff` nor the power button ended "
                                   "attest-fake-vmm; it was killed)"));
  EXPECT_FALSE(m.is_up());
  EXPECT_THAT(m.get_console_log(), HasSubstr("power button pressed"));
}

TEST_F(machine_test, crash_halt_and_wait_for_shutdown) {
  auto& m = make_machine();
  m.start();
  m.crash();
  EXPECT_FALSE(m.is_up());
  m.crash();  // nothing left to crash
  m.start();
  m.halt();
  EXPECT_FALSE(m.is_up());
  // A guest powering off by itself.
  m.succeed("(sleep 0.1; poweroff) >/dev/null 2>&1 &");
  m.wait_for_shutdown(5s);
  EXPECT_FALSE(m.is_up());
  m.start();
  m.connect();
  auto e = error_of<TimeoutError>([&] { m.wait_for_shutdown(100ms); });
  ASSERT_TRUE(e);
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': wait_for_shutdown: attest-fake-vmm did not exit "
                                   "within 100ms"));
  EXPECT_THAT(e->what(), HasSubstr("console (last 30 lines)"));
  EXPECT_TRUE(m.is_up());
}

// The console log file used to be truncated at every start, so the stderr a CommandFailed points
// at was gone once the machine had started again (the next test's start, the restart after a
// fault). The file keeps every boot of the process, each after a separator line;
// get_console_log() stays the console since the last start, as in NixOS.
TEST_F(machine_test, the_console_log_file_keeps_every_boot) {
  // A fresh output directory even under --gtest_repeat: a file's first boot in this process
  // truncates it, later ones append.
  static int repeat = 0;
  const auto out = dir_ / ("out-" + std::to_string(++repeat));
  const auto file = out / "m.console.log";
  fs::create_directories(out);
  std::ofstream(file) << "the console of an earlier run\n";
  auto& m = make_driver({machine_config("m")}, std::nullopt, out).machine("m");
  m.succeed("echo marker-1 >&2");
  m.wait_for_console_text("marker-1", 5s);
  m.crash();
  m.start();
  auto failed = error_of<CommandFailed>([&] { m.succeed("echo marker-2 >&2; false"); });
  ASSERT_TRUE(failed);
  // The message says which boot's part of the file has the command's stderr.
  EXPECT_THAT(failed->what(),
              HasSubstr("the 'm # ' lines of the log and boot 2 in " + file.string() + ")"));
  m.wait_for_console_text("marker-2", 5s);
  EXPECT_THAT(m.get_console_log(), HasSubstr("marker-2"));
  EXPECT_THAT(m.get_console_log(), Not(HasSubstr("marker-1")));
  EXPECT_THAT(m.get_console_log(), Not(HasSubstr("==== attest")));
  // A fault, then the start the next command makes.
  ASSERT_TRUE(error_of<BootError>([&] { m.succeed(ask_vmm("exit 3") + "; sleep 30"); }));
  m.succeed("echo marker-3 >&2");
  m.wait_for_console_text("marker-3", 5s);
  // A restore in a new VMM begins a part of the file; get_console_log() goes on.
  m.snapshot_create("s1");
  m.snapshot_restore("s1");
  EXPECT_THAT(m.get_console_log(), HasSubstr("marker-3"));
  // A later Driver of this process on the same output directory appends too.
  driver_.reset();
  make_driver({machine_config("m")}, std::nullopt, out).machine("m").start();
  driver_.reset();

  const auto log = read_file(file);
  const std::string header = "==== attest: boot ";
  const std::string of_m = " of machine 'm' in this run: ";
  std::size_t at = 0;
  for (const auto& next : std::vector<std::string>{
           header + "1" + of_m + "starting attest-fake-vmm at ", "marker-1",
           "\n" + header + "2" + of_m + "starting attest-fake-vmm at ", "marker-2",
           "\n" + header + "3" + of_m + "starting attest-fake-vmm at ", "marker-3",
           "\n" + header + "4" + of_m + "restoring snapshot 's1' in a new attest-fake-vmm at ",
           "\n" + header + "5" + of_m + "starting attest-fake-vmm at "}) {
    const auto found = log.find(next, at);
    ASSERT_NE(found, std::string::npos) << "no '" << next << "' after byte " << at << " of:\n"
                                        << log;
    at = found + next.size();
  }
  EXPECT_EQ(log.rfind(header + "1 ", 0), 0u) << "the earlier run's console stays:\n" << log;
}

TEST_F(machine_test, snapshot_names_are_checked) {
  auto& m = make_machine();
  auto stopped = error_of<Error>([&] { m.snapshot_create("ok"); });
  ASSERT_TRUE(stopped);
  EXPECT_THAT(stopped->what(), HasSubstr("machine 'm': snapshot_create(ok): the machine is not "
                                         "running (start it first)"));
  m.start();
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "..", "a/b", "with space", std::string(65, 'x')}) {
    auto e = error_of<Error>([&] { m.snapshot_create(bad); });
    ASSERT_TRUE(e) << bad;
    EXPECT_THAT(e->what(), HasSubstr("'" + bad + "' is not a valid snapshot name")) << bad;
    auto r = error_of<Error>([&] { m.snapshot_restore(bad); });
    ASSERT_TRUE(r) << bad;
    EXPECT_THAT(r->what(), HasSubstr("'" + bad + "' is not a valid snapshot name")) << bad;
  }
  EXPECT_EQ(controls_.snapshots_saved(), 0);
}

TEST_F(machine_test, snapshot_create_failing) {
  controls_.snapshot_failure = "no space left on device";
  auto& m = make_machine();
  m.start();
  auto e = error_of<BackendError>([&] { m.snapshot_create("s1"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->operation(), "snapshot_create(s1)");
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': snapshot_create(s1): attest-fake-vmm could not "
                                   "save the snapshot: no space left on device"));
  EXPECT_EQ(m.succeed("echo still-up"), "still-up\n");
}

TEST_F(machine_test, snapshot_create_and_restore) {
  auto& m = make_machine();
  const auto vmm = vmm_pid(m);
  m.snapshot_create("s1");
  EXPECT_EQ(controls_.snapshots_saved(), 1);
  // The snapshot reset the shell connection; a new shell answers on the same VMM.
  EXPECT_EQ(vmm_pid(m), vmm);
  m.snapshot_restore("s1");
  EXPECT_EQ(controls_.snapshots_restored(), 1);
  EXPECT_NE(vmm_pid(m), vmm);  // restored on a fresh VMM
  auto missing = error_of<Error>([&] { m.snapshot_restore("never-taken"); });
  ASSERT_TRUE(missing);
  EXPECT_THAT(missing->what(), HasSubstr("machine 'm': snapshot_restore(never-taken): there is no "
                                         "snapshot 'never-taken' (take it with snapshot_create "
                                         "first)"));
  // A snapshot the VMM cannot load: the restore fails as a start does.
  const auto dir = m.state_dir().parent_path() / "snapshots" / "m" / "s1";
  ASSERT_TRUE(fs::remove(dir / "fake-snapshot"));
  auto broken = error_of<BootError>([&] { m.snapshot_restore("s1"); });
  ASSERT_TRUE(broken);
  EXPECT_THAT(broken->what(),
              HasSubstr("machine 'm': snapshot_restore(s1): " + dir.string() +
                        " holds no fake snapshot\ncommand: " + controls_.program.string()));
}

TEST_F(machine_test, global_timeout_ends_a_running_command) {
  const auto t0 = std::chrono::steady_clock::now();
  make_driver({machine_config("m")}, 500ms);
  auto& m = driver_->machine("m");
  EXPECT_EQ(m.succeed("echo before"), "before\n");
  auto e = error_of<TimeoutError>([&] { m.succeed("sleep 30"); });
  ASSERT_TRUE(e);
  EXPECT_LT(since(t0), 3s);
  EXPECT_EQ(e->timeout(), 500ms);
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': succeed: the global timeout of 500ms expired"));
  // Every later call fails at once.
  const auto t1 = std::chrono::steady_clock::now();
  auto later = error_of<TimeoutError>([&] { (void)m.execute("true"); });
  ASSERT_TRUE(later);
  EXPECT_THAT(later->what(),
              HasSubstr("machine 'm': execute: the global timeout of 500ms expired"));
  auto console = error_of<TimeoutError>([&] { m.wait_for_console_text("never printed", 10s); });
  ASSERT_TRUE(console);
  EXPECT_THAT(console->what(),
              HasSubstr("wait_for_console_text(/never printed/): the global timeout of 500ms"));
  auto start = error_of<TimeoutError>([&] { m.start(); });
  ASSERT_TRUE(start);
  EXPECT_THAT(start->what(), HasSubstr("machine 'm': start: the global timeout of 500ms expired"));
  EXPECT_LT(since(t1), 1s);
  EXPECT_FALSE(m.is_up());
}

TEST_F(machine_test, global_timeout_while_waiting_for_the_shell) {
  controls_.banner = "none";
  make_driver({machine_config("m")}, 300ms);
  auto& m = driver_->machine("m");
  auto e = error_of<TimeoutError>([&] { m.connect(); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->operation(), "connect");
  EXPECT_THAT(e->what(), HasSubstr("machine 'm': waiting for the guest shell: the global timeout "
                                   "of 300ms expired"));
}

// The fake guest's files are the host's and it mounts no shared directory, so copies into it go
// the shell's way: a probe, a staging directory, the archive in base64 and its unpacking, each a
// guest step under the copy's one deadline.
TEST_F(machine_test, copies_between_host_and_guest) {
  if (::geteuid() != 0) {
    // Outside root (a Nix build sandbox) the fake guest cannot give its copies to root, as a
    // real guest's root shell does: a stand-in chown lets the copy's last step pass.
    const auto bin = dir_ / "guest-bin";
    fs::create_directories(bin);
    std::ofstream(bin / "chown") << "exit 0\n";
    fs::permissions(bin / "chown", fs::perms::owner_all);
    controls_.guest_path = bin;
  }
  auto& m = make_machine();
  const auto guest = dir_ / "guest";
  fs::create_directories(guest);
  const auto site = dir_ / "site";
  fs::create_directories(site / "bin");
  std::ofstream(site / "index.html") << "hello\n";
  std::ofstream(site / "bin" / "run") << "#!/bin/sh\n";
  fs::permissions(site / "bin" / "run", fs::perms::owner_exec, fs::perm_options::add);
  int checks = 0;
  auto condition = driver_->polling_condition(
      "counted",
      [&] {
        ++checks;
        return true;
      },
      0ms);
  m.copy_from_host(site, (guest / "www").string());
  // Before the copy and before each guest step after the first (as each of NixOS's commands).
  EXPECT_EQ(checks, 4);
  condition.release();
  EXPECT_EQ(read_file(guest / "www" / "index.html"), "hello\n");
  EXPECT_EQ(m.execute("test -x " + shell_quote((guest / "www" / "bin" / "run").string())).status,
            0);
  // Into an existing directory: the copy goes inside it under its own name.
  m.copy_from_host(site / "index.html", (guest / "www" / "bin").string());
  EXPECT_EQ(read_file(guest / "www" / "bin" / "index.html"), "hello\n");
  m.copy_from_host_via_shell(site / "index.html", (guest / "single").string());
  EXPECT_EQ(read_file(guest / "single"), "hello\n");
  // As NixOS's, copy_from_host_via_shell makes the target's parent directory.
  m.copy_from_host_via_shell(site / "index.html", (guest / "new" / "dir" / "file").string());
  EXPECT_EQ(read_file(guest / "new" / "dir" / "file"), "hello\n");

  EXPECT_EQ(m.copy_from_machine((guest / "single").string()), dir_ / "out" / "single");
  EXPECT_EQ(read_file(dir_ / "out" / "single"), "hello\n");
  EXPECT_EQ(m.copy_from_vm((guest / "www").string(), "back"), dir_ / "out" / "back" / "www");
  EXPECT_EQ(read_file(dir_ / "out" / "back" / "www" / "index.html"), "hello\n");

  const auto missing = (dir_ / "missing").string();
  auto no_source = error_of<Error>([&] { m.copy_from_host(missing, "/x"); });
  ASSERT_TRUE(no_source);
  EXPECT_THAT(no_source->what(),
              HasSubstr(fmt::format("machine 'm': copy_from_host({0}, /x): cannot read {0}: no "
                                    "such file or directory",
                                    missing)));
  auto no_guest_file = error_of<CommandFailed>([&] { (void)m.copy_from_machine(missing); });
  ASSERT_TRUE(no_guest_file);
  EXPECT_THAT(no_guest_file->what(),
              HasSubstr(fmt::format("machine 'm': copy_from_machine({0}): cannot read {0} in the "
                                    "guest (exit code 1)",
                                    missing)));
  auto unwritable = error_of<CommandFailed>([&] { m.copy_from_host(site, "/proc/attest-no"); });
  ASSERT_TRUE(unwritable);
  EXPECT_THAT(unwritable->what(), HasSubstr("unpacking the copy failed (exit code 1)"));
}

// A machine that goes down in the middle of a copy ends it with the BootError saying how.
TEST_F(machine_test, a_copy_ends_when_the_machine_goes_down) {
  const auto bin = dir_ / "guest-bin";
  fs::create_directories(bin);
  // The guest's tar crashes the VMM instead of unpacking.
  std::ofstream(bin / "tar") << ask_vmm("exit 7") << "\nsleep 10\n";
  fs::permissions(bin / "tar", fs::perms::owner_all);
  controls_.guest_path = bin;
  auto& m = make_machine();
  std::ofstream(dir_ / "file") << "data\n";
  const auto t0 = std::chrono::steady_clock::now();
  auto e = error_of<BootError>([&] { m.copy_from_host(dir_ / "file", "/tmp/attest-never"); });
  ASSERT_TRUE(e);
  EXPECT_LT(since(t0), 5s);
  EXPECT_EQ(e->operation(),
            fmt::format("copy_from_host({}, /tmp/attest-never)", (dir_ / "file").string()));
  EXPECT_THAT(e->what(), HasSubstr("attest-fake-vmm exited with exit status 7"));
  EXPECT_EQ(e->end().exit_code, 7);
}

TEST_F(machine_test, wait_until_succeeds_and_fails) {
  auto& m = make_machine();
  // A polling condition is checked before the wait and before each further attempt.
  int checks = 0;
  auto condition = driver_->polling_condition(
      "no stop file",
      [&] {
        ++checks;
        return m.execute("test ! -e stop").status == 0;
      },
      0ms);
  const std::string counter = "n=$(cat tries 2>/dev/null || echo 0); echo $((n + 1)) > tries; ";
  EXPECT_EQ(m.wait_until_succeeds(counter + "echo attempt-$((n + 1)); [ $n -ge 1 ]", 10s),
            "attempt-2\n");
  EXPECT_EQ(checks, 2);
  // The same loop waiting for a failure (its retries are the ones above).
  EXPECT_EQ(m.wait_until_fails("echo failing; false", 10s), "failing\n");
  auto e =
      error_of<TimeoutError>([&] { (void)m.wait_until_fails("echo still-waiting; true", 200ms); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->timeout(), 200ms);
  EXPECT_EQ(e->operation(), "wait_until_fails(echo still-waiting; true)");
  // Two attempts as a rule (one at the start, the last at the deadline, as NixOS's retry()
  // makes), one if the first took the whole 200 ms.
  EXPECT_THAT(e->what(),
              AllOf(HasSubstr("machine 'm': wait_until_fails(echo still-waiting; true): timed out "
                              "after 200ms waiting for the command to fail ("),
                    HasSubstr(" of `echo still-waiting; true`; last exit status 0, last output: "
                              "still-waiting")));
  // The condition failing stops the next command before it runs.
  m.succeed("touch stop");
  auto stopped = error_of<PollingConditionError>([&] { m.succeed("echo never"); });
  ASSERT_TRUE(stopped);
  EXPECT_THAT(stopped->what(), HasSubstr("no stop file (it returned false)"));
  // So does every other call that runs guest commands, and the monitor (as in NixOS), before
  // anything else could fail.
  const std::vector<std::pair<std::string, std::function<void()>>> guarded = {
      {"get_tty_text", [&] { (void)m.get_tty_text(1); }},
      {"wait_until_tty_matches", [&] { m.wait_until_tty_matches(1, "x", 1s); }},
      {"dump_tty_contents", [&] { m.dump_tty_contents(1); }},
      {"wait_for_x", [&] { m.wait_for_x(1s); }},
      {"get_window_names", [&] { (void)m.get_window_names(); }},
      {"wait_for_window", [&] { m.wait_for_window("x", 1s); }},
      {"send_monitor_command", [&] { (void)m.send_monitor_command("info status"); }},
      {"wait_for_unit", [&] { m.wait_for_unit("x.service", {}, 1s); }},
  };
  for (const auto& [operation, call] : guarded) {
    auto error = error_of<PollingConditionError>(call);
    ASSERT_TRUE(error) << operation;
    EXPECT_THAT(error->what(), HasSubstr("no stop file")) << operation;
  }
}

TEST_F(machine_test, the_machine_going_down_during_a_wait) {
  auto& m = make_machine();
  m.start();
  const auto t0 = std::chrono::steady_clock::now();
  auto e =
      error_of<BootError>([&] { (void)m.wait_until_succeeds(ask_vmm_soon("exit 6") + " false"); });
  ASSERT_TRUE(e);
  EXPECT_LT(since(t0), 1s);
  EXPECT_THAT(e->what(), HasSubstr("attest-fake-vmm exited with exit status 6 unexpectedly while "
                                   "waiting for the command to succeed"));
}

TEST_F(machine_test, wait_for_console_text_and_a_vmm_exit) {
  auto& m = make_machine();
  m.start();
  m.wait_for_console_text("guest booting", 5s);
  m.succeed("echo 'hello console 42' >&2");
  m.wait_for_console_text("hello console [0-9]+", 5s);
  // A match consumes the console up to its line: the boot line does not match again.
  auto e = error_of<TimeoutError>([&] { m.wait_for_console_text("guest booting", 100ms); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->timeout(), 100ms);
  EXPECT_THAT(e->what(),
              HasSubstr("machine 'm': wait_for_console_text(/guest booting/): no match within "
                        "100ms"));
  EXPECT_THAT(e->what(), HasSubstr("hello console 42"));  // the console tail
  // As NixOS's: complete lines, each without its trailing white space and carriage return,
  // joined with nothing between them, so a regex may span lines.
  m.succeed("printf 'first part  \\r\\nsecond part\\n' >&2");
  m.wait_for_console_text("first partsecond part", 5s);
  m.succeed("printf 'no line end yet' >&2");
  auto partial = error_of<TimeoutError>([&] { m.wait_for_console_text("line end yet", 300ms); });
  ASSERT_TRUE(partial);
  m.succeed("printf ' now\\n' >&2");
  m.wait_for_console_text("line end yet now", 5s);
  m.succeed(ask_vmm_soon("exit 7"));
  auto down = error_of<BootError>([&] { m.wait_for_console_text("never printed", 10s); });
  ASSERT_TRUE(down);
  EXPECT_THAT(down->what(), HasSubstr("machine 'm': wait_for_console_text(/never printed/): "
                                      "attest-fake-vmm exited with exit status 7 unexpectedly "
                                      "before the console matched"));
}

TEST_F(machine_test, wait_for_unit_and_unit_errors) {
  // A stand-in of systemctl on the guest's PATH: unit states from files in fake-units/ (the
  // guest's working directory is the machine's state directory); no jobs are ever pending.
  const auto bin = dir_ / "guest-bin";
  fs::create_directories(bin);
  std::ofstream(bin / "systemctl") << R"(verb= unit=
for a in "$@"; do case $a in show|status|list-jobs) verb=$a ;; -*|0) ;; *) unit=$a ;; esac; done
state=$(cat "fake-units/$unit" 2>/dev/null || echo inactive)
load=loaded; [ -e "fake-units/$unit" ] || load=not-found
case $verb in
  show) [ "$unit" = silent.service ] && exit 0
        printf 'ActiveState=%s\nSubState=%s\nLoadState=%s\nResult=success\n' "$state" "$state" "$load" ;;
  status) echo "* $unit - a fake unit"; echo "   Active: $state" ;;
esac
)";
  fs::permissions(bin / "systemctl", fs::perms::owner_all);
  controls_.guest_path = bin;
  auto& m = make_machine();
  m.succeed(
      "mkdir fake-units; echo active > fake-units/up.service; "
      "echo failed > fake-units/broken.service; echo activating > fake-units/slow.service; "
      "echo activating > fake-units/late.service; touch fake-units/silent.service; echo inactive > "
      "fake-units/idle.service");
  m.wait_for_unit("up.service", {}, 5s);
  m.succeed("(sleep 0.05; echo active > fake-units/late.service) >/dev/null 2>&1 &");
  m.wait_for_unit("late.service", {}, 5s);
  m.require_unit_state("up.service");

  auto failed = error_of<UnitError>([&] { m.wait_for_unit("broken.service", {}, 5s); });
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->unit(), "broken.service");
  EXPECT_EQ(failed->state(), "failed");
  EXPECT_THAT(failed->what(), HasSubstr("machine 'm': wait_for_unit(broken.service): unit "
                                        "broken.service has failed (SubState=failed, "
                                        "Result=success)"));
  EXPECT_THAT(failed->what(), HasSubstr("systemctl status broken.service:\n"));
  EXPECT_THAT(failed->what(), HasSubstr("Active: failed"));
  auto missing = error_of<UnitError>([&] { m.wait_for_unit("missing.service", {}, 5s); });
  ASSERT_TRUE(missing);
  EXPECT_THAT(missing->what(),
              HasSubstr("unit missing.service does not exist (LoadState=not-found)"));
  auto idle = error_of<UnitError>([&] { m.wait_for_unit("idle.service", {}, 5s); });
  ASSERT_TRUE(idle);
  EXPECT_THAT(idle->what(), HasSubstr("unit idle.service is inactive and there are no pending jobs "
                                      "(SubState=inactive, Result=success)"));
  auto silent = error_of<UnitError>([&] { m.wait_for_unit("silent.service", {}, 5s); });
  ASSERT_TRUE(silent);
  EXPECT_THAT(silent->what(),
              HasSubstr("systemctl show reported no ActiveState for silent.service (got: "
                        "nothing)"));
  auto slow = error_of<TimeoutError>([&] { m.wait_for_unit("slow.service", {}, 200ms); });
  ASSERT_TRUE(slow);
  EXPECT_THAT(slow->what(),
              AllOf(HasSubstr("machine 'm': wait_for_unit(slow.service): timed out after 200ms "
                              "waiting for unit slow.service ("),
                    HasSubstr("; it is still activating, SubState=")));
  auto state = error_of<UnitError>([&] { m.require_unit_state("slow.service"); });
  ASSERT_TRUE(state);
  EXPECT_THAT(state->what(), HasSubstr("unit slow.service is activating, expected active"));
  auto property = error_of<CommandFailed>([&] { m.get_unit_property("up.service", "MainPID"); });
  ASSERT_TRUE(property);
  EXPECT_THAT(property->what(),
              HasSubstr("did not report the property (exit code 0): ActiveState=active"));
}

TEST_F(machine_test, unsupported_operations) {
  controls_.can_reboot = false;
  controls_.can_snapshot = false;
  controls_.keyboard = false;
  auto& m = make_machine();
  m.connect();
  EXPECT_FALSE(m.has(Capability::reboot));
  auto reboot = error_of<Unsupported>([&] { m.reboot(); });
  ASSERT_TRUE(reboot);
  EXPECT_THAT(reboot->what(), HasSubstr("machine 'm': reboot: the fake backend cannot reboot a "
                                        "guest in place (the test turned reboots off)"));
  auto from_shell = error_of<Unsupported>([&] { m.reboot_from_shell(); });
  ASSERT_TRUE(from_shell);
  EXPECT_THAT(from_shell->what(), HasSubstr("machine 'm': reboot_from_shell: the fake backend "
                                            "cannot reboot a guest in place"));
  auto start = error_of<Unsupported>([&] { m.start({.allow_reboot = true}); });
  ASSERT_TRUE(start);
  EXPECT_EQ(start->operation(), "start");
  EXPECT_THAT(start->what(), HasSubstr("machine 'm': start: the fake backend cannot reboot a "
                                       "guest in place (the test turned reboots off)"));
  auto snapshot = error_of<Unsupported>([&] { m.snapshot_create("s"); });
  ASSERT_TRUE(snapshot);
  EXPECT_THAT(snapshot->what(),
              HasSubstr("machine 'm': snapshot_create(s): the fake backend has no snapshots"));
  auto restore = error_of<Unsupported>([&] { m.snapshot_restore("s"); });
  ASSERT_TRUE(restore);
  EXPECT_THAT(restore->what(),
              HasSubstr("machine 'm': snapshot_restore(s): the fake backend has no snapshots"));
  auto forward = error_of<Unsupported>([&] { m.forward_port(8080, 80); });
  ASSERT_TRUE(forward);
  EXPECT_THAT(forward->what(), HasSubstr("machine 'm': forward_port: the fake backend has no "
                                         "user-mode networking"));
  // What the backend lacks (an optional interface) is the machine's Unsupported.
  const std::vector<std::pair<std::string, std::function<void()>>> backend_ops = {
      {"screenshot: the fake backend has no display", [&] { (void)m.screenshot("shot"); }},
      {"get_screen_text: the fake backend has no display", [&] { (void)m.get_screen_text(); }},
      {"send_key: the fake backend has no keyboard", [&] { m.send_key("ctrl-alt-delete"); }},
      {"send_chars: the fake backend has no keyboard", [&] { m.send_chars("x"); }},
      {"send_console: the fake backend has no console input", [&] { m.send_console("x"); }},
      {"send_monitor_command: the fake backend has no monitor",
       [&] { (void)m.send_monitor_command("info status"); }},
      {"wait_for_qmp_event: the fake backend has no QMP events",
       [&] { (void)m.wait_for_qmp_event([](const QmpEvent&) { return true; }, 1s); }},
  };
  for (const auto& [message, call] : backend_ops) {
    auto e = error_of<Unsupported>(call);
    ASSERT_TRUE(e) << message;
    EXPECT_THAT(e->what(), HasSubstr("machine 'm': " + message));
  }
  for (const auto c : {Capability::screenshot, Capability::send_key, Capability::network_control,
                       Capability::port_forward})
    EXPECT_FALSE(m.has(c)) << to_string(c);
  EXPECT_TRUE(m.is_up());
  // A backend that can reboot in place but has no keyboard: reboot() cannot press
  // ctrl-alt-delete, reboot_from_shell() works.
  controls_.can_reboot = true;
  auto no_keys = error_of<Unsupported>([&] { m.reboot(); });
  ASSERT_TRUE(no_keys);
  EXPECT_EQ(no_keys->operation(), "reboot");
  EXPECT_THAT(no_keys->what(), HasSubstr("machine 'm': reboot: the fake backend has no keyboard "
                                         "to press ctrl-alt-delete on"));
  m.reboot_from_shell();
  EXPECT_EQ(m.succeed("echo $ATTEST_FAKE_GUEST_BOOT"), "2\n");
}

TEST_F(machine_test, invalid_requests) {
  auto& m = make_machine();
  m.start();
  auto nul = error_of<Error>([&] { (void)m.execute(std::string("echo a\0b", 8)); });
  ASSERT_TRUE(nul);
  EXPECT_THAT(nul->what(), HasSubstr("machine 'm': execute: the command contains a NUL byte"));
  auto block = error_of<Error>([&] { m.block(); });
  ASSERT_TRUE(block);
  EXPECT_THAT(block->what(), HasSubstr("machine 'm': block: the machine is on no vlan"));
  auto tty = error_of<Error>([&] { (void)m.get_tty_text(0); });
  ASSERT_TRUE(tty);
  EXPECT_THAT(tty->what(),
              HasSubstr("machine 'm': get_tty_text(0): there is no virtual console 0 (1-63)"));
  // NixOS's tests give the console as text: a number is taken, anything else is an error.
  auto tty_text = error_of<Error>([&] { (void)m.get_tty_text("0"); });
  ASSERT_TRUE(tty_text);
  EXPECT_THAT(tty_text->what(), HasSubstr("there is no virtual console 0 (1-63)"));
  auto not_a_number = error_of<Error>([&] { m.wait_until_tty_matches("tty1", "login", 1s); });
  ASSERT_TRUE(not_a_number);
  EXPECT_THAT(not_a_number->what(),
              HasSubstr("machine 'm': wait_until_tty_matches: \"tty1\" is not a virtual console "
                        "number (give \"1\" for /dev/tty1)"));
  auto regex = error_of<Error>([&] { m.wait_for_console_text("(", 1s); });
  ASSERT_TRUE(regex);
  EXPECT_THAT(regex->what(),
              HasSubstr("machine 'm': wait_for_console_text(/(/): invalid regular expression"));
  auto key = error_of<Error>([&] { m.send_key("ctrl--alt"); });
  ASSERT_TRUE(key);
  EXPECT_THAT(
      key->what(),
      HasSubstr("machine 'm': send_key(ctrl--alt): key name 'ctrl--alt' has an empty part"));
  EXPECT_EQ(m.succeed("echo fine"), "fine\n");
}

TEST_F(machine_test, config_errors_of_fake_machines) {
  auto on_vlan = machine_config("m");
  on_vlan.vlans = {1};
  auto vlan = error_of<ConfigError>([&] { make_driver({on_vlan}); });
  ASSERT_TRUE(vlan);
  EXPECT_THAT(vlan->what(), HasSubstr("vlans"));
  EXPECT_THAT(vlan->what(), HasSubstr("the fake backend has no network cards"));
  // A state directory so deep that the machine's sockets cannot be named.
  const auto deep = dir_ / std::string(100, 'd');
  fs::create_directories(deep);
  const char* old = std::getenv("XDG_RUNTIME_DIR");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ::setenv("XDG_RUNTIME_DIR", deep.c_str(), 1);
  auto socket = error_of<ConfigError>([&] { make_driver({machine_config("m")}); });
  if (saved)
    ::setenv("XDG_RUNTIME_DIR", saved->c_str(), 1);
  else
    ::unsetenv("XDG_RUNTIME_DIR");
  ASSERT_TRUE(socket);
  EXPECT_THAT(socket->what(), HasSubstr("machine 'm': the socket path "));
  EXPECT_THAT(socket->what(), HasSubstr("is longer than the 107 bytes unix sockets allow"));
}

TEST_F(machine_test, two_machines_are_independent) {
  make_driver({machine_config("a"), machine_config("b")});
  driver_->start_all();
  auto& a = driver_->machine("a");
  auto& b = driver_->machine("b");
  auto e = error_of<BootError>([&] { a.succeed(ask_vmm("exit 2") + "; sleep 30"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->machine(), "a");
  EXPECT_THAT(e->what(), HasSubstr("machine 'a': succeed: attest-fake-vmm exited with exit status "
                                   "2 unexpectedly"));
  b.connect();
  EXPECT_TRUE(b.is_up());
  EXPECT_EQ(b.succeed("echo b-still-up"), "b-still-up\n");
  EXPECT_FALSE(a.is_up());
}

}  // namespace
}  // namespace attest
