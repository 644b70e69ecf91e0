// The fault-injection suite: every way a test can go wrong ends in a typed error that names the
// machine, soon, with the console tail; nothing a test binary started outlives it, even under
// kill -9, and the next run removes what it left; the driver's descriptors and memory stay flat
// over 10 000 commands; the private state is private.
//
// The binary is also its own victim: run with ATTEST_FAULTS_CHILD=<file> it boots two machines on
// a vlan, writes its state directory to <file> and waits to be killed (see child_main); run with
// --global-timeout and the DISABLED_global_timeout_victim tests it must fail them and exit
// non-zero (global_timeout_fails_the_test_binary).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "attest/driver.hpp"
#include "attest/test.hpp"
#include "vm_util.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define ATTEST_FAULTS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ATTEST_FAULTS_ASAN 1
#endif
#endif

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using namespace std::chrono_literals;
using attest::vmtest::count_processes;
using attest::vmtest::seconds_since;
namespace fs = std::filesystem;

namespace {

/// Two copies of the guest, a and b, on vlan 1, the network made the given way.
attest::Config two_on_a_vlan(attest::NetworkMode mode) {
  auto config = attest::vmtest::minimal_config();
  config.network = mode;
  auto a = config.machines.at(0);
  a.vlans = {1};
  auto b = a;
  a.name = "a";
  b.name = "b";
  config.machines = {a, b};
  return config;
}

/// The victim of killed_test_binary: boots, reports its state directory, waits to be killed.
int child_main(const char* ready_file) {
  try {
    const std::string network = std::getenv("ATTEST_FAULTS_NETWORK");
    attest::Driver driver(
        two_on_a_vlan(network == "tap" ? attest::NetworkMode::tap : attest::NetworkMode::vde));
    driver.start_all();
    // Retried: on a loaded host b may not answer its first ping in time.
    driver.machine("a").wait_until_succeeds("ping -c1 -W2 b", 120s);
    const auto tmp = std::string(ready_file) + ".tmp";
    std::ofstream(tmp) << driver.machine("a").state_dir().parent_path().string();
    fs::rename(tmp, ready_file);
    std::this_thread::sleep_for(10min);
    std::cerr << "faults child: nobody killed me\n";
  } catch (const std::exception& e) {
    std::cerr << "faults child: " << e.what() << "\n";
  }
  return 1;
}

/// How long after the fault the error came: asserted below 1 s, printed and recorded (XML report)
/// so that CI logs show the figure.
void expect_error_within_a_second(double seconds) {
  std::cerr << "faults: the error came " << static_cast<int>(seconds * 1000)
            << " ms after the fault\n";
  ::testing::Test::RecordProperty("error_after_ms", static_cast<int>(seconds * 1000));
  EXPECT_LT(seconds, 1.0) << "the error came too late";
}

int open_descriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

long resident_kib() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* ready = std::getenv("ATTEST_FAULTS_CHILD")) return child_main(ready);
  return attest::testing::attest_main(argc, argv);
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
    expect_error_within_a_second(seconds_since(killed));
    EXPECT_THAT(
        e.what(),
        HasSubstr("QEMU was killed by signal 9 (SIGKILL) unexpectedly while running `sleep 100`"));
    EXPECT_EQ(e.machine(), "machine");
    EXPECT_THAT(e.what(), HasSubstr("console (last"));
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
    // The panic comes a fork after the command starts: the error must follow within a second.
    expect_error_within_a_second(seconds_since(t0));
    EXPECT_EQ(e.machine(), "machine");
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
  try {
    m.succeed("kill -9 $$; sleep 100");
    ADD_FAILURE() << "succeed returned";
  } catch (const attest::BootError& e) {
    expect_error_within_a_second(seconds_since(t0));
    EXPECT_EQ(e.machine(), "machine");
    EXPECT_THAT(e.what(), AllOf(HasSubstr("machine 'machine'"),
                                HasSubstr("backdoor shell exited while running"),
                                HasSubstr("console (last")));
  }
  // The machine was stopped with its shell: as after a panic, the next command boots it again.
  EXPECT_FALSE(m.is_up());
  EXPECT_EQ(m.succeed("echo back"), "back\n");
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

ATTEST_TEST(global_timeout_halts_everything) {
  auto config = attest::vmtest::minimal_config();
  // The machine must boot well within it, also on a loaded host (CI runs three suites at once;
  // a boot there has taken over 20 s).
  config.global_timeout = 40s;
  attest::Driver driver(config);
  auto& m = driver.machine("machine");
  m.connect();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THAT([&] { m.succeed("sleep 1000"); },
              ThrowsMessage<attest::TimeoutError>(HasSubstr("global timeout of 40s expired")));
  EXPECT_LT(seconds_since(t0), 45.0);
  EXPECT_FALSE(m.is_up());
  EXPECT_THAT([&] { m.succeed("true"); },
              ThrowsMessage<attest::TimeoutError>(HasSubstr("global timeout")));
}

// The victims of global_timeout_fails_the_test_binary (disabled: only that test runs them, in a
// child process with --global-timeout). The first is stopped mid-command by the global timeout;
// the second starts after it expired and must fail at once.
ATTEST_TEST(DISABLED_global_timeout_victim_1) {
  start_all();
  auto& m = machine("machine");
  m.connect();
  std::ofstream(std::getenv("ATTEST_FAULTS_STATE_FILE")) << m.state_dir().string() << "\n";
  m.succeed("sleep 1000");
}

ATTEST_TEST(DISABLED_global_timeout_victim_2) { machine("machine").succeed("true"); }

ATTEST_TEST(global_timeout_fails_the_test_binary) {
  const auto dir = fs::path(::testing::TempDir());
  const auto tag = std::to_string(::getpid());
  const auto state_file = dir / ("attest-faults-state-" + tag);
  const auto output = dir / ("attest-faults-global-" + tag + ".log");
  fs::remove(state_file);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::setenv("ATTEST_FAULTS_STATE_FILE", state_file.c_str(), 1);
    const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    // 45 s: enough for the victim to boot on a loaded host under ASan (CI runs three suites at
    // once).
    ::execl("/proc/self/exe", "attest-faults", "--global-timeout", "45",
            "--gtest_also_run_disabled_tests", "--gtest_filter=*.DISABLED_global_timeout_victim_*",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(child, &status, WNOHANG) != child) {
    if (seconds_since(t0) > 120) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      FAIL() << "the test binary did not exit within 120 s of a 45 s global timeout";
    }
    std::this_thread::sleep_for(50ms);
  }
  const double took = seconds_since(t0);
  std::stringstream log;
  log << std::ifstream(output).rdbuf();
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status << "\n" << log.str();
  EXPECT_NE(WEXITSTATUS(status), 0) << log.str();
  EXPECT_LT(took, 45 + 10.0) << log.str();
  EXPECT_THAT(log.str(), HasSubstr("the global timeout of 45s expired: halting every machine"));
  EXPECT_THAT(log.str(), HasSubstr("[  FAILED  ] 2 tests"));
  std::string state;
  std::getline(std::ifstream(state_file), state);
  ASSERT_FALSE(state.empty()) << "the victim did not boot:\n" << log.str();
  EXPECT_EQ(count_processes(state), 0) << "a VMM survived the global timeout";
  EXPECT_FALSE(fs::exists(state)) << "the test binary did not remove " << state;
  fs::remove(state_file);
  fs::remove(output);
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

ATTEST_TEST(guest_poweroff_mid_command) {
  start_all();
  auto& m = machine("machine");
  m.connect();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    m.succeed("poweroff -f; sleep 100");
    ADD_FAILURE() << "succeed returned";
  } catch (const attest::BootError& e) {
    expect_error_within_a_second(seconds_since(t0));
    EXPECT_EQ(e.machine(), "machine");
    EXPECT_THAT(e.what(), AllOf(HasSubstr("machine 'machine'"), HasSubstr("poweroff -f")));
    EXPECT_THAT(e.what(), HasSubstr("console (last"));
  }
  EXPECT_FALSE(m.is_up());
}

ATTEST_TEST(ten_thousand_commands_leave_descriptors_and_memory_flat) {
  start_all();
  auto& m = machine("machine");
  // Warm up: buffers reach their working size, the allocator its arenas.
  for (int i = 0; i < 500; ++i) m.succeed("true");
  const int fds = open_descriptors();
  const long rss = resident_kib();
#ifndef ATTEST_FAULTS_ASAN
  constexpr int commands = 10000;
#else
  // What this build checks (a descriptor or an allocation left behind by a command, or a memory
  // error on the way) shows on every command, so fewer do; the g++ build runs all 10 000 for the
  // resident memory bound.
  constexpr int commands = 2000;
#endif
  for (int i = 0; i < commands; ++i) m.succeed("true");
  EXPECT_EQ(open_descriptors(), fds);
#ifndef ATTEST_FAULTS_ASAN
  EXPECT_LT(resident_kib() - rss, 2048) << "resident memory grew from " << rss << " KiB";
#else
  // AddressSanitizer keeps freed memory in quarantine (up to 256 MiB), so resident memory says
  // nothing here; LeakSanitizer checks for leaks when the binary exits instead.
  (void)rss;
#endif
}

ATTEST_TEST(state_directories_are_private) {
  start_all();
  auto& m = machine("machine");
  m.connect();
  const fs::path root = m.state_dir().parent_path();
  for (const auto& dir : {root, m.state_dir()}) {
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0) << dir;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << dir;
    EXPECT_EQ(st.st_uid, ::getuid()) << dir;
  }
  int sockets = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
    EXPECT_EQ(st.st_mode & S_IWOTH, 0u) << entry.path() << " is world-writable";
    EXPECT_EQ(st.st_uid, ::getuid()) << entry.path();
    sockets += S_ISSOCK(st.st_mode);
  }
  EXPECT_GE(sockets, 2) << "the shell and QMP sockets live in the state directory";
}

class killed_test_binary : public ::testing::TestWithParam<attest::NetworkMode> {};

TEST_P(killed_test_binary, leaves_nothing_running_and_the_next_run_removes_its_state) {
  const bool tap = GetParam() == attest::NetworkMode::tap;
  const auto ready =
      fs::path(::testing::TempDir()) /
      ("attest-faults-ready-" + std::to_string(::getpid()) + (tap ? "-tap" : "-vde"));
  fs::remove(ready);
  // The child's own command line carries the marker, and so do its forks (the namespace holder).
  const std::string marker = "attest-faults-victim-" + ready.filename().string();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::setenv("ATTEST_FAULTS_CHILD", ready.c_str(), 1);
    ::setenv("ATTEST_FAULTS_NETWORK", tap ? "tap" : "vde", 1);
    ::execl("/proc/self/exe", "attest-faults", marker.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  while (!fs::exists(ready) && seconds_since(t0) < 120) {
    if (::waitpid(child, &status, WNOHANG) == child)
      FAIL() << "the child ended before it was ready";
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(fs::exists(ready)) << "the child did not boot its machines within 120 s";
  std::string state;
  std::getline(std::ifstream(ready), state);
  ASSERT_FALSE(state.empty());

  // Two VMMs, the hub or the namespace holder, and the child itself.
  EXPECT_GE(count_processes(state) + count_processes(marker), 4);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  const auto killed = std::chrono::steady_clock::now();
  while (count_processes(state) + count_processes(marker) > 0 && seconds_since(killed) < 5)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(count_processes(state), 0) << "a VMM or hub survived the test binary";
  EXPECT_EQ(count_processes(marker), 0) << "a forked helper survived the test binary";

  // Its state (sockets included) is left behind; the next driver removes it.
  EXPECT_TRUE(fs::exists(state));
  { attest::Driver next(attest::vmtest::minimal_config()); }
  EXPECT_FALSE(fs::exists(state)) << "the next run did not remove " << state;
  fs::remove(ready);
}

INSTANTIATE_TEST_SUITE_P(networks, killed_test_binary,
                         ::testing::Values(attest::NetworkMode::vde, attest::NetworkMode::tap),
                         [](const auto& info) {
                           return info.param == attest::NetworkMode::tap ? "tap" : "vde";
                         });
