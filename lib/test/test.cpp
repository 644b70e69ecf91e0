// ATTEST_TEST support: the process-wide driver, the VmTest fixture (with per-test restore),
// subtest and retry. The report is report.cpp's, the test binary's main attest_main.cpp's.
#include "attest/test.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/driver_impl.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"
#include "core/poll.hpp"
#include "test/report.hpp"

namespace attest::testing {

namespace {

struct Globals {
  std::optional<std::filesystem::path> config;
  DriverOptions options;
  std::unique_ptr<Driver> driver;
  // Per-test restore.
  bool restore = false;
  std::function<void(Driver&)> setup;
  std::vector<std::string> baseline;  ///< the machines saved in the baseline snapshot
  bool baseline_taken = false;
  std::string baseline_failure;  ///< why the baseline could not be taken
  bool serial = true;            ///< whether serial lines are echoed at the start of each test
};

Globals& globals() {
  static Globals g;
  return g;
}

}  // namespace

void set_config_path(const std::filesystem::path& config) { globals().config = config; }

void set_driver_options(DriverOptions options) { globals().options = std::move(options); }

Driver& driver() {
  auto& g = globals();
  if (!g.driver) {
    std::filesystem::path config;
    if (g.config) {
      config = *g.config;
    } else if (const char* env = std::getenv("ATTEST_CONFIG"); env != nullptr && *env != '\0') {
      config = env;
    } else {
      throw ConfigError(
          "no test configuration: pass --config FILE to the test binary or set ATTEST_CONFIG", "",
          "driver");
    }
    g.driver = std::make_unique<Driver>(config, g.options);
  }
  return *g.driver;
}

void reset_driver() noexcept {
  auto& g = globals();
  g.driver.reset();
  g.baseline.clear();
  g.baseline_taken = false;
  g.baseline_failure.clear();
}

void restore_before_each_test(std::function<void(Driver&)> setup) {
  auto& g = globals();
  g.restore = true;
  g.setup = std::move(setup);
}

bool per_test_restore() {
  const char* env = std::getenv("ATTEST_PER_TEST_RESTORE");
  return globals().restore || (env != nullptr && std::string_view(env) == "1");
}

const char* suite_name() {
  const char* env = std::getenv("ATTEST_SUITE");
  return env != nullptr && *env != '\0' ? env : "attest";
}

namespace {

/// Boots every machine, runs the setup and saves the baseline. Throws: Error.
void take_baseline(Globals& g) {
  auto& d = testing::driver();
  const auto t0 = std::chrono::steady_clock::now();
  attest::detail::log_info("", "per-test restore: booting the machines for the baseline snapshot");
  d.start_all();
  for (Machine& m : d.machines()) m.connect();
  if (g.setup) g.setup(d);
  for (Machine& m : d.machines()) {
    m.snapshot_create(baseline_snapshot);
    g.baseline.push_back(m.name());
  }
  attest::detail::log_info(
      "", fmt::format("per-test restore: baseline of {} machine(s) taken in {}", g.baseline.size(),
                      attest::detail::format_duration(std::chrono::steady_clock::now() - t0)));
}

}  // namespace

void VmTest::SetUp() {
  auto& g = globals();
  if (!per_test_restore()) return;
  if (!g.baseline_failure.empty()) FAIL() << g.baseline_failure;
  if (!g.baseline_taken) {
    g.baseline_taken = true;
    try {
      take_baseline(g);
    } catch (const Error& e) {
      // Without a baseline no test can start from it: the later tests fail with this cause.
      g.baseline_failure =
          fmt::format("per-test restore: the baseline snapshot could not be taken: {}", e.what());
      FAIL() << g.baseline_failure;
    }
    return;
  }
  try {
    for (const auto& name : g.baseline)
      testing::driver().machine(name).snapshot_restore(baseline_snapshot);
  } catch (const Error& e) {
    FAIL() << "per-test restore: " << e.what();
  }
}

void VmTest::TestBody() {
  try {
    run();
  } catch (const Error& e) {
    ADD_FAILURE_AT(e.where().file_name(), static_cast<int>(e.where().line())) << describe(e);
  } catch (const AssertionFailed&) {
    // ATTEST_REQUIRE: the failure is recorded already.
  }
}

void VmTest::TearDown() {
  auto& g = globals();
  if (!g.driver) return;
  if (HasFailure()) {
    for (Machine& m : g.driver->machines()) {
      try {
        auto& impl = m.impl();
        auto context = impl.driver().run(impl.failure_context(30));
        attest::detail::log_info(m.name(), fmt::format("at the failure:{}", context));
      } catch (const std::exception& e) {
        attest::detail::log_error(m.name(), fmt::format("cannot collect its state: {}", e.what()));
      }
    }
  }
  // Back to the run's setting (--no-serial) for the next test.
  if (g.serial)
    g.driver->serial_stdout_on();
  else
    g.driver->serial_stdout_off();
  if (!per_test_restore() || !g.baseline_failure.empty()) {
    g.driver->halt_all();
    return;
  }
  // Per-test restore: the baseline machines stay up for the next test's restore; any others
  // (created by the test) go.
  for (Machine& m : g.driver->machines())
    if (std::find(g.baseline.begin(), g.baseline.end(), m.name()) == g.baseline.end()) m.halt();
}

Machine& VmTest::machine(std::string_view name, Where where) {
  return testing::driver().machine(name, where);
}

void VmTest::start_all(Where where) { testing::driver().start_all(where); }

Driver& VmTest::driver() { return testing::driver(); }

void VmTest::join_all(std::chrono::milliseconds timeout, Where where) {
  testing::driver().join_all(timeout, where);
}

Machine& VmTest::create_machine(MachineConfig config, Where where) {
  return testing::driver().create_machine(std::move(config), where);
}

void VmTest::wait_all(const std::vector<std::reference_wrapper<Machine>>& machines,
                      const std::function<void(Machine&)>& fn, Where where) {
  testing::driver().wait_all(machines, fn, where);
}

void VmTest::serial_stdout_on() { testing::driver().serial_stdout_on(); }

void VmTest::serial_stdout_off() { testing::driver().serial_stdout_off(); }

PollingCondition VmTest::polling_condition(std::string description, std::function<bool()> condition,
                                           std::chrono::milliseconds interval) {
  return testing::driver().polling_condition(std::move(description), std::move(condition),
                                             interval);
}

namespace detail {

void set_serial_echo(bool on) {
  globals().serial = on;
  attest::detail::Log::get().set_serial_echo(on);
}

bool has_config() {
  const char* env = std::getenv("ATTEST_CONFIG");
  return globals().config || (env != nullptr && *env != '\0');
}

void enable_per_test_restore() { restore_before_each_test(std::move(globals().setup)); }

Driver* current_driver() noexcept { return globals().driver.get(); }

SubtestScope::SubtestScope(std::string_view label, const Where& where)
    : label_(label),
      start_(std::chrono::steady_clock::now()),
      uncaught_(std::uncaught_exceptions()),
      trace_(where.file_name(), static_cast<int>(where.line()), fmt::format("subtest: {}", label)) {
  attest::detail::Log::get().open_block(fmt::format("subtest: {}", label_));
  open_subtest(label_);
}

SubtestScope::~SubtestScope() {
  const auto elapsed = std::chrono::steady_clock::now() - start_;
  const auto took = attest::detail::format_duration(elapsed);
  const bool failed = close_subtest(elapsed, std::uncaught_exceptions() > uncaught_);
  if (failed)
    attest::detail::Log::get().close_block(
        fmt::format("subtest '{}' failed after {}", label_, took), true);
  else
    attest::detail::Log::get().close_block(
        fmt::format("(finished: subtest: {}, in {})", label_, took), false);
}

}  // namespace detail

int detail::failures_so_far() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return 0;
  const auto* result = info->result();
  int n = 0;
  for (int i = 0; i < result->total_part_count(); ++i)
    if (result->GetTestPartResult(i).failed()) ++n;
  return n;
}

Subtest::Subtest(std::string_view label, const Where& where)
    : scope_(std::make_unique<detail::SubtestScope>(label, where)) {}
Subtest::Subtest(Subtest&&) noexcept = default;
Subtest& Subtest::operator=(Subtest&&) noexcept = default;
Subtest::~Subtest() = default;
void Subtest::end() { scope_.reset(); }

namespace detail {

void retry_loop(const std::function<bool(bool)>& attempt, std::chrono::milliseconds timeout,
                const Where& where) {
  attest::detail::PollSchedule schedule(timeout);
  std::exception_ptr last;
  for (;;) {
    schedule.attempt("", "");
    const bool last_try = schedule.expired();
    try {
      if (attempt(last_try)) return;
      last = nullptr;
    } catch (const Error&) {
      last = std::current_exception();
    }
    if (last_try) break;
    const auto pause = std::chrono::duration_cast<std::chrono::milliseconds>(
        schedule.next() - attest::detail::PollSchedule::Clock::now());
    testing::driver().host_sleep(std::max(pause, std::chrono::milliseconds(0)));
  }
  if (last) std::rethrow_exception(last);
  throw TimeoutError(
      fmt::format("retry: the condition did not hold within {} ({})",
                  attest::detail::format_duration(timeout), schedule.attempts_text()),
      "", "retry", timeout, schedule.elapsed(), where);
}

}  // namespace detail

}  // namespace attest::testing
