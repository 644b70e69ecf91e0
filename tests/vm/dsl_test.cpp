// The test DSL end to end: subtest, retry, errors reported at the calling line, attest_main's
// handling of a broken configuration, and what happens to VMMs when the test binary is killed.
// Some tests run this binary again as a child, selecting a DISABLED_ helper test.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <thread>

#include "attest/test.hpp"
#include "vm_util.hpp"

using ::testing::HasSubstr;
using namespace std::chrono_literals;

namespace {

struct ChildResult {
  int status;
  std::string output;
};

/// Runs this test binary with `args`, capturing stdout and stderr together.
ChildResult run_self(std::vector<std::string> args, int kill_after_marker = 0) {
  int fds[2];
  if (::pipe(fds) != 0) return {-1, "pipe failed"};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    std::vector<char*> argv{const_cast<char*>("/proc/self/exe")};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  std::array<char, 4096> buf{};
  bool killed = false;
  for (;;) {
    const auto n = ::read(fds[0], buf.data(), buf.size());
    if (n <= 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
    if (kill_after_marker != 0 && !killed && out.find("HELPER-BOOTED") != std::string::npos) {
      ::kill(pid, kill_after_marker);
      killed = true;
    }
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {status, out};
}

}  // namespace

ATTEST_TEST(subtest_runs_once_and_returns_its_value) {
  int runs = 0;
  const int v = subtest("compute", [&] {
    ++runs;
    return 42;
  });
  EXPECT_EQ(v, 42);
  EXPECT_EQ(runs, 1);
  EXPECT_THROW(subtest("throws", [] { throw attest::Error("boom"); }), attest::Error);
}

ATTEST_TEST(retry_until_true_or_no_error) {
  int calls = 0;
  retry([&] { return ++calls == 3; }, 30s);
  EXPECT_EQ(calls, 3);
  calls = 0;
  retry(
      [&](bool last_try) {
        ++calls;
        if (calls < 2 && !last_try) throw attest::Error("not yet");
      },
      30s);
  EXPECT_EQ(calls, 2);
  EXPECT_THAT([&] { retry([] { return false; }, 2s); },
              ::testing::ThrowsMessage<attest::TimeoutError>(
                  HasSubstr("retry: the condition did not hold within 2s")));
  EXPECT_THAT([&] { retry([] { throw attest::Error("the last error"); }, 1s); },
              ::testing::ThrowsMessage<attest::Error>(HasSubstr("the last error")));
}

ATTEST_TEST(DISABLED_helper_failing_command) {
  start_all();
  machine("machine").succeed("echo from the guest; exit 9");  // DSL-FAILING-LINE
}

ATTEST_TEST(an_error_becomes_a_failure_at_the_calling_line) {
  int line = 0;
  {
    std::ifstream src(__FILE__);
    std::string text;
    for (int n = 1; std::getline(src, text); ++n)
      if (text.find("// DSL-FAILING-LINE") != std::string::npos &&
          text.find("find") == std::string::npos)
        line = n;
  }
  ASSERT_GT(line, 0);
  auto r = run_self(
      {"--gtest_also_run_disabled_tests", "--gtest_filter=attest.DISABLED_helper_failing_command"});
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("dsl_test.cpp:" + std::to_string(line) + ": Failure"));
  EXPECT_THAT(r.output, HasSubstr("machine 'machine': command `echo from the guest; exit 9` failed "
                                  "(exit code 9)\noutput: from the guest"));
  EXPECT_THAT(r.output, HasSubstr("console (last 30 lines)"))
      << "the fixture shows the console after a failure";
}

ATTEST_TEST(a_broken_configuration_stops_the_run_with_one_message) {
  const auto bad = std::filesystem::path(::testing::TempDir()) / "attest-bad-config.json";
  std::ofstream(bad) << R"({"machines": [{"name": "m", "kernel": "/nonexistent/vmlinuz"}]})";
  auto r = run_self(
      {"--config", bad.string(), "--gtest_filter=attest.subtest_runs_once_and_returns_its_value"});
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("attest: config " + bad.string() +
                        ": machine 'm': field 'kernel': file /nonexistent/vmlinuz does not exist"));
  auto usage = run_self({"--no-such-flag"});
  EXPECT_TRUE(WIFEXITED(usage.status) && WEXITSTATUS(usage.status) == 2);
  EXPECT_THAT(usage.output, HasSubstr("attest: unknown argument '--no-such-flag'"));
}

ATTEST_TEST(DISABLED_helper_boot_and_wait) {
  auto& m = machine("machine");
  m.connect();
  std::printf("HELPER-BOOTED %s\n", m.state_dir().c_str());
  std::fflush(stdout);
  m.succeed("sleep 600");
}

ATTEST_TEST(killing_the_test_binary_leaves_no_vmm) {
  auto r = run_self(
      {"--gtest_also_run_disabled_tests", "--gtest_filter=attest.DISABLED_helper_boot_and_wait"},
      SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(r.status)) << r.output;
  const auto at = r.output.find("HELPER-BOOTED ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const auto state = r.output.substr(at + 14, r.output.find('\n', at) - at - 14);
  // The kernel delivers the parent-death signal; give it a moment to reap.
  for (int i = 0; i < 50 && attest::vmtest::count_processes(state) > 0; ++i)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(attest::vmtest::count_processes(state), 0) << "a VMM of the killed binary survived";
  // The next driver removes the dead binary's state directory.
  const auto dead_root = std::filesystem::path(state).parent_path();
  EXPECT_TRUE(std::filesystem::exists(dead_root));
  { attest::Driver next(attest::vmtest::minimal_config()); }
  EXPECT_FALSE(std::filesystem::exists(dead_root));
}
