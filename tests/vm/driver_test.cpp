// VM tests of the driver-level API: polling conditions, create_machine, wait_all, join_all,
// serial_stdout_on/off and copy_from_host. Few boots: each test boots what it uses once; the
// second machine is created from the first's configuration.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "attest/driver.hpp"
#include "attest/test.hpp"
#include "vm_util.hpp"

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::ThrowsMessage;
using namespace std::chrono_literals;
using attest::vmtest::seconds_since;

namespace {

/// The machine "second", a copy of the configuration's machine, created on first use.
attest::Machine& second_machine(attest::Driver& driver) {
  for (attest::Machine& m : driver.machines())
    if (m.name() == "second") return m;
  auto config = driver.config().machines.front();
  config.name = "second";
  return driver.create_machine(config);
}

}  // namespace

ATTEST_TEST(polling_conditions) {
  auto& m = machine("machine");
  m.connect();
  subtest("checked before commands, at its interval, without recursion", [&] {
    int calls = 0;
    {
      auto counted = polling_condition("counted", [&] {
        ++calls;
        // A command inside the condition does not check the condition again.
        m.succeed("true");
        return true;
      });
      EXPECT_EQ(counted.description(), "counted");
      EXPECT_TRUE(counted.active());
      m.succeed("true");
      EXPECT_EQ(calls, 1);
      m.succeed("true");
      (void)m.execute("true");
      EXPECT_EQ(calls, 1) << "checked again within its 2s interval";
      driver().host_sleep(2100ms);
      m.succeed("true");
      EXPECT_EQ(calls, 2);
    }
    driver().host_sleep(2100ms);
    m.succeed("true");
    EXPECT_EQ(calls, 2) << "checked after its guard was destroyed";
  });

  subtest("a failing condition aborts the command", [&] {
    m.succeed("rm -f /tmp/flag /tmp/ran");
    auto flag = polling_condition(
        "guest flag file exists", [&] { return m.execute("test -e /tmp/flag").status == 0; }, 0ms);
    const auto line = __LINE__ + 2;
    try {
      m.succeed("touch /tmp/ran");
      ADD_FAILURE() << "the command ran despite the failing condition";
    } catch (const attest::PollingConditionError& e) {
      EXPECT_EQ(e.description(), "guest flag file exists");
      EXPECT_EQ(e.machine(), "machine");
      EXPECT_THAT(e.what(), HasSubstr("machine 'machine': succeed: polling condition failed: "
                                      "guest flag file exists (it returned false)"));
      EXPECT_EQ(e.where().line(), line);
    }
    flag.release();
    EXPECT_FALSE(flag.active());
    m.fail("test -e /tmp/ran");  // released: this runs, and the aborted command never did

    // An exception from the condition fails it too, with its message.
    auto throwing = polling_condition("throws", []() -> bool { throw std::runtime_error("boom"); });
    EXPECT_THAT([&] { m.succeed("true"); },
                ThrowsMessage<attest::PollingConditionError>(HasSubstr("throws (it threw: boom)")));
  });

  subtest("checked between the attempts of a wait", [&] {
    m.succeed("rm -f /tmp/later /tmp/stop");
    std::atomic<int> calls{0};
    {
      auto counted = polling_condition(
          "counted", [&] { return ++calls > 0; }, 0ms);
      m.succeed("(sleep 2; touch /tmp/later) >/dev/null 2>&1 &");
      const int before = calls;
      m.wait_until_succeeds("test -e /tmp/later", 30s);
      EXPECT_GE(calls - before, 2) << "the condition was not checked before further attempts";
    }
    // A condition that starts failing during a wait ends the wait at once.
    auto stop = polling_condition(
        "no stop file", [&] { return m.execute("test -e /tmp/stop").status != 0; }, 0ms);
    m.succeed("(sleep 2; touch /tmp/stop) >/dev/null 2>&1 &");
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_THAT([&] { m.wait_until_succeeds("false", 60s); },
                ThrowsMessage<attest::PollingConditionError>(HasSubstr(
                    "wait_until_succeeds(false): polling condition failed: no stop file")));
    EXPECT_LT(seconds_since(t0), 20.0);
  });

  subtest("wait retries until the condition holds", [&] {
    m.succeed("rm -f /tmp/ready; (sleep 2; touch /tmp/ready) >/dev/null 2>&1 &");
    auto ready = polling_condition(
        "ready file", [&] { return m.execute("test -e /tmp/ready").status == 0; }, 1h);
    ready.wait(30s);
    auto never = polling_condition(
        "never holds", [] { return false; }, 1h);
    EXPECT_THAT([&] { never.wait(1500ms); },
                ThrowsMessage<attest::TimeoutError>(
                    HasSubstr("polling condition 'never holds': it did not hold within 1.5s")));
  });
}

ATTEST_TEST(create_machine_validates_its_configuration) {
  auto config = driver().config().machines.front();
  EXPECT_THAT([&] { create_machine(config); },
              ThrowsMessage<attest::ConfigError>(
                  HasSubstr("create_machine: machine 'machine': field 'name': a machine of that "
                            "name exists already")));
  config.name = "bad name!";
  EXPECT_THAT([&] { create_machine(config); },
              ThrowsMessage<attest::ConfigError>(HasSubstr("field 'name'")));
  config.name = "other";
  config.kernel = "/nonexistent/vmlinuz";
  EXPECT_THAT([&] { create_machine(config); },
              ThrowsMessage<attest::ConfigError>(HasSubstr(
                  "create_machine: config <in memory>: machine 'other': field 'kernel'")));
  config = driver().config().machines.front();
  config.name = "other";
  config.vlans = {1};
  EXPECT_THAT([&] { create_machine(config); },
              ThrowsMessage<attest::ConfigError>(HasSubstr("field 'vlans'")));
  EXPECT_THAT([&] { (void)machine("other"); }, ThrowsMessage<attest::Error>(HasSubstr("other")));
}

ATTEST_TEST(copy_from_host_copies_files_and_trees_with_their_modes) {
  namespace fs = std::filesystem;
  auto& m = machine("machine");
  const fs::path root = fs::path(::testing::TempDir()) / "attest-copy-from-host";
  fs::remove_all(root);
  fs::create_directories(root / "tree" / "sub" / "empty");
  std::ofstream(root / "file.txt") << "hello\n";
  std::ofstream(root / "tree" / "a.txt") << "a\n";
  std::ofstream(root / "tree" / "sub" / "b.sh") << "#!/bin/sh\necho b\n";
  ::chmod((root / "file.txt").c_str(), 0750);
  ::chmod((root / "tree" / "a.txt").c_str(), 0604);
  ::chmod((root / "tree" / "sub" / "b.sh").c_str(), 0755);
  ::chmod((root / "tree" / "sub").c_str(), 0711);

  subtest("a file, into missing parent directories", [&] {
    m.copy_from_host(root / "file.txt", "/tmp/dst/deep/f.txt");
    EXPECT_EQ(m.succeed("cat /tmp/dst/deep/f.txt"), "hello\n");
    EXPECT_EQ(m.succeed("stat -c '%a %u %g' /tmp/dst/deep/f.txt"), "750 0 0\n");
  });
  subtest("a directory tree, as a new path", [&] {
    m.copy_from_host(root / "tree", "/tmp/copied");
    EXPECT_EQ(m.succeed("cat /tmp/copied/a.txt; /tmp/copied/sub/b.sh"), "a\nb\n");
    EXPECT_EQ(m.succeed("stat -c '%a' /tmp/copied/a.txt /tmp/copied/sub/b.sh /tmp/copied/sub"),
              "604\n755\n711\n");
    m.succeed("test -d /tmp/copied/sub/empty");
  });
  subtest("a directory into an existing directory", [&] {
    m.succeed("mkdir -p /tmp/into");
    m.copy_from_host(root / "tree", "/tmp/into");
    EXPECT_EQ(m.succeed("cat /tmp/into/tree/a.txt"), "a\n");
  });
  subtest("the guest shell path was used and cleaned up", [&] {
    // The minimal guest does not mount the shared directory.
    m.fail("test -e /tmp/shared");
    EXPECT_EQ(m.succeed("ls -A /tmp | grep -c attest-copy || true"), "0\n");
  });
  EXPECT_THAT([&] { m.copy_from_host(root / "missing", "/tmp/x"); },
              ThrowsMessage<attest::Error>(HasSubstr("cannot read")));
}

ATTEST_TEST(wait_all_runs_machines_in_parallel_and_reports_the_failing_one) {
  auto& m = machine("machine");
  auto& second = second_machine(driver());
  start_all();
  EXPECT_EQ(driver().machines().size(), 2u);
  std::mutex mutex;
  std::set<std::string> hostnames;
  wait_all({m, second}, [&](attest::Machine& x) {
    x.connect();
    // Each guest's host is named after its machine, on no vlan too (issue 23), also one added by
    // create_machine.
    const std::string hostname = x.succeed("hostname");
    std::lock_guard lock(mutex);
    hostnames.insert(hostname);
  });
  EXPECT_EQ(hostnames, (std::set<std::string>{"machine\n", "second\n"}));

  const auto t0 = std::chrono::steady_clock::now();
  wait_all({m, second}, [](attest::Machine& x) { x.succeed("sleep 3"); });
  EXPECT_LT(seconds_since(t0), 5.5) << "the machines did not run in parallel";

  EXPECT_THAT(
      [&] {
        wait_all({m, second},
                 [](attest::Machine& x) { x.succeed(x.name() == "second" ? "exit 3" : "true"); });
      },
      ThrowsMessage<attest::CommandFailed>(HasSubstr("machine 'second': command `exit 3` failed")));
  EXPECT_THAT(
      [&] {
        wait_all({m, second}, [](attest::Machine& x) {
          if (x.name() == "machine") throw std::runtime_error("oops");
        });
      },
      ThrowsMessage<attest::Error>(HasSubstr("machine 'machine': wait_all: oops")));
}

ATTEST_TEST(serial_stdout_off_stops_the_echo_but_not_the_console_log) {
  auto& m = machine("machine");
  m.connect();
  serial_stdout_off();
  ::testing::internal::CaptureStderr();
  m.succeed("echo SERIAL-$((40 + 2))-OFF > /dev/console");
  m.wait_for_console_text("SERIAL-42-OFF", 30s);
  const auto off = ::testing::internal::GetCapturedStderr();
  serial_stdout_on();
  ::testing::internal::CaptureStderr();
  m.succeed("echo SERIAL-$((40 + 3))-ON > /dev/console");
  m.wait_for_console_text("SERIAL-43-ON", 30s);
  const auto on = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(off, Not(HasSubstr("machine # SERIAL-42-OFF")));
  EXPECT_THAT(on, HasSubstr("machine # SERIAL-43-ON"));
  EXPECT_THAT(m.get_console_log(), HasSubstr("SERIAL-42-OFF"));
}

// The victim of no_serial_turns_the_echo_off_for_the_whole_run (disabled: only that test runs
// it, in a child process with --no-serial): two tests, so that the setting outlives the first.
ATTEST_TEST(DISABLED_no_serial_victim_1) {
  auto& m = machine("machine");
  m.succeed("echo SERIAL-$((40 + 4))-FIRST > /dev/console");
  m.wait_for_console_text("SERIAL-44-FIRST", 30s);
}

ATTEST_TEST(DISABLED_no_serial_victim_2) {
  auto& m = machine("machine");
  m.succeed("echo SERIAL-$((40 + 5))-SECOND > /dev/console");
  m.wait_for_console_text("SERIAL-45-SECOND", 30s);
}

ATTEST_TEST(no_serial_turns_the_echo_off_for_the_whole_run) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("attest-no-serial-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto log_file = dir / "log";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execl("/proc/self/exe", "attest-vm-driver", "--no-serial", "--output-dir",
            (dir / "out").c_str(), "--gtest_also_run_disabled_tests",
            "--gtest_filter=*.DISABLED_no_serial_victim_*", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  std::stringstream log;
  log << std::ifstream(log_file).rdbuf();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log.str();
  // Neither test echoed the serial lines; the console log file has them.
  EXPECT_THAT(log.str(), Not(HasSubstr("machine # SERIAL-44-FIRST"))) << log.str();
  EXPECT_THAT(log.str(), Not(HasSubstr("machine # SERIAL-45-SECOND"))) << log.str();
  std::stringstream console;
  console << std::ifstream(dir / "out" / "machine.console.log").rdbuf();
  EXPECT_THAT(console.str(), HasSubstr("SERIAL-45-SECOND"));
  std::filesystem::remove_all(dir);
}

// Last: join_all cancels the global timeout for the rest of the binary.
ATTEST_TEST(join_all_returns_once_every_machine_powered_off) {
  auto& m = machine("machine");
  auto& second = second_machine(driver());
  start_all();
  wait_all({m, second},
           [](attest::Machine& x) { x.succeed("(sleep 1; poweroff) >/dev/null 2>&1 &"); });
  const auto t0 = std::chrono::steady_clock::now();
  join_all(60s);
  EXPECT_LT(seconds_since(t0), 60.0);
  EXPECT_FALSE(m.is_up());
  EXPECT_FALSE(second.is_up());
}

ATTEST_TEST(create_machine_with_a_start_command) {
  // A stand-in for a NixOS `run-<name>-vm` script (as in lifecycle_test's nixos_start_script),
  // on a driver of its own so that the fixture's machines stay as they are.
  auto config = attest::vmtest::minimal_config();
  const auto direct = config.machines[0];
  const auto dir = std::filesystem::path(::testing::TempDir()) / "attest-create-machine-script";
  std::filesystem::create_directories(dir);
  const auto script = dir / "run-scripted-vm";
  {
    std::ofstream s(script);
    s << "#!/bin/sh\n"
      << "exec qemu-system-x86_64 -machine accel=kvm:tcg -cpu max -name scripted -m 256 -smp 1 "
      << "-kernel " << direct.kernel << " -initrd " << direct.initrd << " -append '"
      << direct.cmdline << "' $QEMU_OPTS \"$@\"\n";
  }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  attest::Driver own(config);
  attest::MachineConfig scripted;
  scripted.name = "scripted";
  scripted.start_command = script;
  auto& m = own.create_machine(scripted);
  EXPECT_EQ(own.machines().size(), 2u);
  EXPECT_EQ(m.succeed("echo started by the script"), "started by the script\n");
  m.shutdown();
}
