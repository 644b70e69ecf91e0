// attest: VM tests as GoogleTest tests. `ATTEST_TEST(name) { ... }` registers an ordinary gtest
// test (filters, XML reports, CTest's gtest_discover_tests all work) whose fixture gives the
// test's machines; an attest::Error becomes a failure at the test script's line.
//
// **Example**:
// ```
// ATTEST_TEST(nginx_serves) {
//   start_all();
//   auto& server = machine("server");
//   server.wait_for_open_port(80);
//   EXPECT_THAT(server.succeed("curl -s localhost"), ::testing::HasSubstr("nginx"));
// }
// ```
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "attest/driver.hpp"
#include "attest/error.hpp"
#include "attest/machine.hpp"

namespace attest::testing {

/// Sets the configuration file the tests' driver loads (attest_main does this from --config).
void set_config_path(const std::filesystem::path& config);
/// Sets driver options (output directory, global timeout) before the driver is created.
void set_driver_options(DriverOptions options);
/// The process-wide driver of the tests, created on first use from the configuration set with
/// set_config_path, else from $ATTEST_CONFIG. Throws: ConfigError when neither is set.
Driver& driver();
/// Destroys the driver: every VMM is stopped and its state removed.
void reset_driver() noexcept;
/// The GoogleTest suite name of ATTEST_TESTs: $ATTEST_SUITE or "attest".
const char* suite_name();

/// The snapshot per-test restore takes of every machine.
inline constexpr std::string_view baseline_snapshot = "attest-baseline";

/// Turns on per-test restore (docs/snapshots.md): before the first ATTEST_TEST every machine
/// boots, `setup` runs (when given) and each machine is saved as snapshot `attest-baseline`; every
/// ATTEST_TEST then starts by restoring that snapshot, so each test sees the same booted machines
/// without a reboot, whatever the tests before it did. Machines stay up between tests. Also on
/// with `--per-test-restore` or ATTEST_PER_TEST_RESTORE=1. Needs backends with
/// Capability::snapshot.
///
/// **Example** (at namespace scope in the test file):
/// ```
/// static const bool restored = (attest::testing::restore_before_each_test([](attest::Driver& d) {
///   d.machine("server").wait_for_unit("nginx.service");
/// }), true);
/// ```
void restore_before_each_test(std::function<void(Driver&)> setup = {});
/// Whether per-test restore is on.
bool per_test_restore();

namespace detail {

/// Logs a subtest's start and end (with its time) and adds it to failure traces.
class SubtestScope {
 public:
  SubtestScope(std::string_view label, const Where& where);
  ~SubtestScope();
  SubtestScope(const SubtestScope&) = delete;
  SubtestScope& operator=(const SubtestScope&) = delete;

 private:
  std::string label_;
  std::chrono::steady_clock::time_point start_;
  int uncaught_;
  ::testing::ScopedTrace trace_;
};

}  // namespace detail

/// A subtest as an object: it starts when made (VmTest::begin_subtest) and ends at end(), or
/// when destroyed (as failed, if an exception is leaving). For steps whose variables must stay
/// visible after them, as after Python's `with subtest(...):`, which, unlike a C++ block or
/// the lambda of VmTest::subtest, does not end its variables' lives. Subtests that overlap must
/// end in the reverse order of their start.
class Subtest {
 public:
  Subtest(std::string_view label, const Where& where);
  Subtest(Subtest&&) noexcept;
  Subtest& operator=(Subtest&&) noexcept;
  ~Subtest();
  /// Ends the subtest now (logged with its time); later calls do nothing.
  void end();

 private:
  std::unique_ptr<detail::SubtestScope> scope_;
};

namespace detail {

/// Calls `attempt(last_try)` until it returns true or stops throwing attest::Error, once a second,
/// until `timeout`. Throws: the last error, or TimeoutError.
void retry_loop(const std::function<bool(bool)>& attempt, std::chrono::milliseconds timeout,
                const Where& where);

}  // namespace detail

/// The fixture of every ATTEST_TEST. Machines still running after the test are halted, unless
/// per-test restore is on: then each test starts by restoring the machines' baseline snapshot.
class VmTest : public ::testing::Test {
 public:
  /// The test body (the braces after ATTEST_TEST).
  virtual void run() = 0;

 protected:
  void SetUp() override;
  void TestBody() final;
  void TearDown() override;

  /// The machine `name` of the configuration. Throws: Error naming the known machines.
  Machine& machine(std::string_view name, Where where = Where::current());
  /// Starts every machine; their boots overlap.
  void start_all(Where where = Where::current());
  /// The driver behind the machines.
  Driver& driver();

  /// Driver::join_all: waits for every machine to power off, then cancels the global timeout.
  void join_all(std::chrono::milliseconds timeout = default_timeout,
                Where where = Where::current());
  /// Driver::create_machine: adds a machine that is not in the configuration. It stays for the
  /// rest of the test binary (halted after each test, like the others).
  Machine& create_machine(MachineConfig config, Where where = Where::current());
  /// Driver::wait_all: runs `fn(m)` for each machine at once, one thread each.
  ///
  /// **Example**: `wait_all({server, client}, [](attest::Machine& m) { m.wait_for_unit("x"); });`
  void wait_all(const std::vector<std::reference_wrapper<Machine>>& machines,
                const std::function<void(Machine&)>& fn, Where where = Where::current());
  /// Driver::serial_stdout_on / serial_stdout_off (turned back on after each test).
  void serial_stdout_on();
  void serial_stdout_off();
  /// Driver::polling_condition: active until the returned guard is destroyed.
  ///
  /// **Example**:
  /// ```
  /// auto up = polling_condition("server is up", [&] { return server.is_up(); });
  /// client.succeed("curl server");   // throws PollingConditionError if the server went down
  /// ```
  PollingCondition polling_condition(std::string description, std::function<bool()> condition,
                                     std::chrono::milliseconds interval = 2s);

  /// Runs `fn` once as a named step: logged with its time, named in failures. Returns fn's result.
  template <class F>
  decltype(auto) subtest(std::string_view label, F&& fn, Where where = Where::current()) {
    detail::SubtestScope scope(label, where);
    return std::forward<F>(fn)();
  }

  /// The same step as an object, for when what it sets must stay visible after it (Python's
  /// `with subtest(...)`): it ends at `.end()`, or with the enclosing block.
  ///
  /// **Example**:
  /// ```
  /// auto step = begin_subtest("the client fetches the page");
  /// const auto page = client.succeed("curl -s http://server/");
  /// step.end();
  /// EXPECT_THAT(page, HasSubstr("nginx"));
  /// ```
  Subtest begin_subtest(std::string_view label, Where where = Where::current()) {
    return Subtest(label, where);
  }

  /// Retries `fn` once a second until it succeeds: a `bool` result must be true, a `void` one must
  /// not throw attest::Error. `fn` may take `bool last_try` (true on the final attempt), as NixOS.
  /// Throws: TimeoutError, or the last attest::Error.
  template <class F>
  void retry(F&& fn, std::chrono::milliseconds timeout = default_timeout,
             Where where = Where::current()) {
    detail::retry_loop(
        [&fn](bool last_try) -> bool {
          if constexpr (std::is_invocable_v<F&, bool>) {
            if constexpr (std::is_same_v<std::invoke_result_t<F&, bool>, void>) {
              fn(last_try);
              return true;
            } else {
              return static_cast<bool>(fn(last_try));
            }
          } else {
            (void)last_try;
            if constexpr (std::is_same_v<std::invoke_result_t<F&>, void>) {
              fn();
              return true;
            } else {
              return static_cast<bool>(fn());
            }
          }
        },
        timeout, where);
  }
};

/// What ATTEST_REQUIRE throws once its check has recorded a failure. An ATTEST_TEST catches it
/// without reporting it again: the test ends there, as a NixOS test ends at a failed `assert`.
class AssertionFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
/// How many failures the running test has recorded so far.
int failures_so_far();
}  // namespace detail

/// The entry point for test binaries: takes `--config FILE` (or $ATTEST_CONFIG),
/// `--output-dir DIR`, `--global-timeout SECONDS` and `--per-test-restore`, plus GoogleTest's
/// flags, runs every test and stops every machine. Returns the exit code.
int attest_main(int argc, char** argv);

}  // namespace attest::testing

/// Python's `assert` where ASSERT_* cannot go: in a lambda or helper function, whose return
/// ASSERT_* would only leave (and which may return a value, where ASSERT_* does not compile).
/// Runs an EXPECT_* (or EXPECT_THAT) statement; if it failed, throws AssertionFailed, which ends
/// the test (a subtest it leaves is marked failed).
///
/// **Example**: `auto etag = [&] { ...; ATTEST_REQUIRE(EXPECT_EQ(code, "304") << url); return e;
/// };`
#define ATTEST_REQUIRE(...)                                                                 \
  do {                                                                                      \
    const int attest_failures_before_ = ::attest::testing::detail::failures_so_far();       \
    __VA_ARGS__;                                                                            \
    if (::attest::testing::detail::failures_so_far() > attest_failures_before_)             \
      throw ::attest::testing::AssertionFailed("a required check failed (reported above)"); \
  } while (false)

/// Defines a VM test. The body runs with the VmTest fixture's members in scope.
#define ATTEST_TEST(name)                                                               \
  class AttestTest_##name final : public ::attest::testing::VmTest {                    \
   public:                                                                              \
    void run() override;                                                                \
  };                                                                                    \
  [[maybe_unused]] static ::testing::TestInfo* const attest_registered_##name =         \
      ::testing::RegisterTest(                                                          \
          ::attest::testing::suite_name(), #name, nullptr, nullptr, __FILE__, __LINE__, \
          []() -> ::attest::testing::VmTest* { return new AttestTest_##name; });        \
  void AttestTest_##name::run()
