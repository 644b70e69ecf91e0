// The driver-level API without booting anything: polling conditions (interval, re-entrancy,
// release, errors), create_machine's validation, wait_all's threads and errors, and the copy
// helpers of copy_from_host (the guest-side placing step runs in the host's sh here).
#include "attest/driver.hpp"

#include <gmock/gmock.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/driver_impl.hpp"
#include "core/log.hpp"
#include "core/util.hpp"
#include "scoped_env.hpp"

namespace attest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

class driver_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("attest-driver-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "vmlinuz") << "kernel";
    Config config;
    MachineConfig a;
    a.name = "a";
    a.kernel = dir_ / "vmlinuz";
    config.machines.push_back(a);
    DriverOptions options;
    options.output_dir = dir_ / "out";
    driver_ = std::make_unique<Driver>(config, options);
  }
  void TearDown() override {
    driver_.reset();
    fs::remove_all(dir_);
  }
  /// What the facade does before a command of machine "a".
  void before_command() { driver_->impl().check_polling_conditions("a", "succeed"); }
  /// Runs `script` with the host's sh; returns its exit status.
  int sh(const std::string& script) {
    return std::system(("sh -c " + shell_quote(script) + " >/dev/null 2>&1").c_str());
  }

  fs::path dir_;
  std::unique_ptr<Driver> driver_;
};

TEST_F(driver_test, polling_condition_runs_when_due_and_not_recursively) {
  int calls = 0;
  auto cond = driver_->polling_condition(
      "counted",
      [&] {
        ++calls;
        before_command();  // the condition's own command: must not check it again
        return true;
      },
      200ms);
  before_command();
  EXPECT_EQ(calls, 1);
  before_command();
  EXPECT_EQ(calls, 1);
  driver_->host_sleep(250ms);
  before_command();
  EXPECT_EQ(calls, 2);
  cond.release();
  driver_->host_sleep(250ms);
  before_command();
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(cond.active());
}

TEST_F(driver_test, a_moved_guard_keeps_the_condition_and_destruction_ends_it) {
  int calls = 0;
  {
    auto outer = driver_->polling_condition(
        "", [&] { return ++calls > 0; }, 0ms);
    EXPECT_EQ(outer.description(), "polling condition");
    auto moved = std::move(outer);
    EXPECT_TRUE(moved.active());
    before_command();
    EXPECT_EQ(calls, 1);
  }
  before_command();
  EXPECT_EQ(calls, 1);
}

TEST_F(driver_test, polling_condition_failure_names_machine_operation_and_description) {
  auto cond = driver_->polling_condition("service alive", [] { return false; });
  EXPECT_THAT([&] { before_command(); },
              ThrowsMessage<PollingConditionError>(
                  HasSubstr("machine 'a': succeed: polling condition failed: service alive (it "
                            "returned false); the command did not run")));
  // A failed check counts as a check: within its interval the condition is not run again.
  before_command();
  auto throws = driver_->polling_condition(
      "throws", []() -> bool { throw Error("bad"); }, 0ms);
  EXPECT_THAT([&] { before_command(); },
              ThrowsMessage<PollingConditionError>(HasSubstr("throws (it threw: bad)")));
}

TEST_F(driver_test, polling_condition_wait) {
  std::atomic<int> calls{0};
  auto third = driver_->polling_condition(
      "third time", [&] { return ++calls >= 3; }, 1h);
  third.wait(10s);
  EXPECT_EQ(calls, 3);
  auto never = driver_->polling_condition(
      "never", [] { return false; }, 1h);
  EXPECT_THAT([&] { never.wait(300ms); },
              ThrowsMessage<TimeoutError>(HasSubstr("polling condition 'never': it did not hold "
                                                    "within 300ms")));
}

TEST_F(driver_test, create_machine_adds_a_validated_machine) {
  MachineConfig b;
  b.name = "b";
  EXPECT_THAT([&] { driver_->create_machine(b); },
              ThrowsMessage<ConfigError>(HasSubstr(
                  "driver: create_machine: config <in memory>: machine 'b': field 'kernel'")));
  b.kernel = dir_ / "vmlinuz";
  b.memory_mib = 1;
  EXPECT_THAT([&] { driver_->create_machine(b); },
              ThrowsMessage<ConfigError>(HasSubstr("field 'memory_mib'")));
  b.memory_mib = 128;
  b.name = "a";
  EXPECT_THAT([&] { driver_->create_machine(b); },
              ThrowsMessage<ConfigError>(HasSubstr("machine 'a': field 'name': a machine of "
                                                   "that name exists already")));
  b.name = "0-first";
  auto& added = driver_->create_machine(b);
  EXPECT_EQ(&driver_->machine("0-first"), &added);
  ASSERT_EQ(driver_->machines().size(), 2u);
  EXPECT_EQ(driver_->machines().front().get().name(), "0-first");  // sorted by name
  EXPECT_FALSE(added.is_up());
  // A NixOS start script is accepted as well.
  std::ofstream(dir_ / "run-c-vm") << "#!/bin/sh\n";
  fs::permissions(dir_ / "run-c-vm", fs::perms::owner_all);
  MachineConfig c;
  c.name = "c";
  c.start_command = dir_ / "run-c-vm";
  EXPECT_EQ(driver_->create_machine(c).name(), "c");
}

// Issue 23: a bad ATTEST_ACCEL fails when the Driver is made (and in create_machine), naming the
// machine, not at the machine's first start.
TEST_F(driver_test, a_bad_attest_accel_fails_the_driver_and_create_machine) {
  testing_support::ScopedEnv accel("ATTEST_ACCEL", "hvf");
  Config config;
  MachineConfig server;
  server.name = "server";
  server.kernel = dir_ / "vmlinuz";
  config.machines.push_back(server);
  DriverOptions options;
  options.output_dir = dir_ / "out2";
  const auto message = HasSubstr(
      "machine 'server': environment variable ATTEST_ACCEL='hvf' is not one of kvm, "
      "tcg, kvm:tcg");
  EXPECT_THAT([&] { Driver d(config, options); }, ThrowsMessage<ConfigError>(message));
  EXPECT_THAT([&] { driver_->create_machine(server); }, ThrowsMessage<ConfigError>(message));
  EXPECT_EQ(driver_->machines().size(), 1u);
}

TEST_F(driver_test, wait_all_runs_in_parallel_and_rethrows_the_first_error) {
  MachineConfig b;
  b.name = "b";
  b.kernel = dir_ / "vmlinuz";
  driver_->create_machine(b);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  driver_->wait_all(driver_->machines(), [&](Machine&) {
    const int now = ++inside;
    for (int seen = most; now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    driver_->host_sleep(300ms);
    --inside;
  });
  EXPECT_EQ(most, 2);
  EXPECT_THAT(
      [&] {
        driver_->wait_all(driver_->machines(), [](Machine& m) {
          if (m.name() == "b") throw std::runtime_error("broken");
        });
      },
      ThrowsMessage<Error>(HasSubstr("machine 'b': wait_all: broken")));
  EXPECT_THAT(
      [&] {
        driver_->wait_all(driver_->machines(), [](Machine& m) {
          throw CommandFailed("typed " + m.name(), m.name(), "succeed", "x", 1, "");
        });
      },
      ThrowsMessage<CommandFailed>(HasSubstr("typed ")));
}

TEST_F(driver_test, serial_stdout_toggles_the_echo) {
  driver_->serial_stdout_off();
  EXPECT_FALSE(detail::Log::get().serial_echo());
  driver_->serial_stdout_on();
  EXPECT_TRUE(detail::Log::get().serial_echo());
}

TEST_F(driver_test, place_copy_command_copies_like_cp_r_keeping_modes) {
  const auto stage = dir_ / "stage";
  fs::create_directories(stage / "tree" / "sub");
  std::ofstream(stage / "f") << "f";
  std::ofstream(stage / "tree" / "sub" / "x") << "x";
  ::chmod((stage / "f").c_str(), 0741);
  ::chmod((stage / "tree" / "sub" / "x").c_str(), 0700);
  const auto t = dir_ / "t";
  // The command runs as root in the guest and ends with `chown -R 0:0`. Not root here (the Nix
  // build sandbox runs the unit suite as uid 1000), a chown that records its arguments stands in.
  const bool root = ::geteuid() == 0;
  std::string path;
  if (!root) {
    fs::create_directories(dir_ / "bin");
    std::ofstream(dir_ / "bin" / "chown")
        << "#!/bin/sh\necho \"$*\" >>" << shell_quote((dir_ / "chown.log").string()) << "\n";
    fs::permissions(dir_ / "bin" / "chown", fs::perms::owner_all);
    path = "PATH=" + shell_quote((dir_ / "bin").string()) + ":\"$PATH\"; ";
  }
  const auto place = [&](const fs::path& from, const fs::path& to) {
    return sh(path + detail::place_copy_command(from.string(), to.string()));
  };
  ASSERT_EQ(place(stage / "f", t / "a" / "b"), 0);
  EXPECT_EQ(fs::status(t / "a" / "b").permissions(), static_cast<fs::perms>(0741));
  fs::create_directories(t / "into");
  ASSERT_EQ(place(stage / "tree", t / "into"), 0);
  EXPECT_TRUE(fs::is_regular_file(t / "into" / "tree" / "sub" / "x"));
  EXPECT_EQ(fs::status(t / "into" / "tree" / "sub" / "x").permissions(),
            static_cast<fs::perms>(0700));
  ASSERT_EQ(place(stage / "tree", t / "as"), 0);
  EXPECT_TRUE(fs::is_regular_file(t / "as" / "sub" / "x"));
  EXPECT_NE(place(stage / "missing", t / "m"), 0);
  if (root) {
    struct stat st {};
    ASSERT_EQ(::stat((t / "into" / "tree" / "sub" / "x").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
  } else {
    std::ifstream log(dir_ / "chown.log");
    std::vector<std::string> calls;
    for (std::string line; std::getline(log, line);) calls.push_back(line);
    EXPECT_THAT(calls, ::testing::ElementsAre("-R 0:0 " + (t / "a" / "b").string(),
                                              "-R 0:0 " + (t / "into" / "tree").string(),
                                              "-R 0:0 " + (t / "as").string()));
  }
}

TEST_F(driver_test, create_tar_archives_a_tree_that_extract_tar_restores) {
  fs::create_directories(dir_ / "src" / "tree" / "sub");
  std::ofstream(dir_ / "src" / "tree" / "sub" / "x") << "payload";
  ::chmod((dir_ / "src" / "tree" / "sub" / "x").c_str(), 0751);
  const auto archive = detail::create_tar(dir_ / "src" / "tree", dir_, "a", "copy_from_host");
  fs::create_directories(dir_ / "dst");
  detail::extract_tar(archive, dir_ / "dst", "a", "copy_from_host");
  std::ifstream in(dir_ / "dst" / "tree" / "sub" / "x");
  std::string text;
  in >> text;
  EXPECT_EQ(text, "payload");
  EXPECT_EQ(fs::status(dir_ / "dst" / "tree" / "sub" / "x").permissions(),
            static_cast<fs::perms>(0751));
  EXPECT_THAT([&] { (void)detail::create_tar(dir_ / "nope", dir_, "a", "copy_from_host"); },
              ThrowsMessage<Error>(HasSubstr("machine 'a': copy_from_host: host `tar")));
}

}  // namespace
}  // namespace attest
