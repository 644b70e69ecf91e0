// ATTEST_TEST support: the process-wide driver, the VmTest fixture, subtest, retry, attest_main.
#include "attest/test.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "core/driver_impl.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"

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
    ADD_FAILURE_AT(e.where().file_name(), static_cast<int>(e.where().line())) << e.what();
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
  g.driver->serial_stdout_on();
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

SubtestScope::SubtestScope(std::string_view label, const Where& where)
    : label_(label),
      start_(std::chrono::steady_clock::now()),
      uncaught_(std::uncaught_exceptions()),
      trace_(where.file_name(), static_cast<int>(where.line()), fmt::format("subtest: {}", label)) {
  attest::detail::log_info("", fmt::format("subtest: {}", label_));
}

SubtestScope::~SubtestScope() {
  const auto took = attest::detail::format_duration(std::chrono::steady_clock::now() - start_);
  if (std::uncaught_exceptions() > uncaught_)
    attest::detail::log_error("", fmt::format("subtest '{}' failed after {}", label_, took));
  else
    attest::detail::log_info("", fmt::format("(finished: subtest: {}, in {})", label_, took));
}

void retry_loop(const std::function<bool(bool)>& attempt, std::chrono::milliseconds timeout,
                const Where& where) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  std::exception_ptr last;
  int attempts = 0;
  for (;;) {
    const bool last_try = Clock::now() >= deadline;
    ++attempts;
    try {
      if (attempt(last_try)) return;
      last = nullptr;
    } catch (const Error&) {
      last = std::current_exception();
    }
    if (last_try) break;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    testing::driver().host_sleep(
        std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(1000)));
  }
  if (last) std::rethrow_exception(last);
  throw TimeoutError(fmt::format("retry: the condition did not hold within {} ({} attempts)",
                                 attest::detail::format_duration(timeout), attempts),
                     "", "retry", timeout, where);
}

}  // namespace detail

namespace {

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(
      stderr,
      "attest: %s\nusage: %s [--config FILE] [--output-dir DIR] [--global-timeout SECONDS] "
      "[--per-test-restore] [--gtest_* flags]\n",
      message.c_str(), "TEST-BINARY");
  std::exit(2);
}

}  // namespace

int attest_main(int argc, char** argv) {
  std::vector<char*> rest{argv[0]};
  DriverOptions options;
  bool listing = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    auto value = [&](std::string_view flag) -> std::optional<std::string> {
      if (arg == flag) {
        if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", flag));
        return std::string(argv[++i]);
      }
      if (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag && arg[flag.size()] == '=')
        return std::string(arg.substr(flag.size() + 1));
      return std::nullopt;
    };
    if (auto v = value("--config")) {
      set_config_path(*v);
    } else if (auto v = value("--output-dir")) {
      options.output_dir = *v;
    } else if (auto v = value("--global-timeout")) {
      char* end = nullptr;
      const double s = std::strtod(v->c_str(), &end);
      if (end == v->c_str() || *end != '\0' || !(s > 0))
        usage_error(
            fmt::format("--global-timeout expects a positive number of seconds, got '{}'", *v));
      options.global_timeout = std::chrono::milliseconds(static_cast<long long>(s * 1000));
    } else if (arg == "--per-test-restore") {
      restore_before_each_test(std::move(globals().setup));
    } else {
      if (arg == "--gtest_list_tests") listing = true;
      rest.push_back(argv[i]);
    }
  }
  set_driver_options(options);
  int rest_argc = static_cast<int>(rest.size());
  rest.push_back(nullptr);
  ::testing::InitGoogleTest(&rest_argc, rest.data());
  for (int i = 1; i < rest_argc; ++i) usage_error(fmt::format("unknown argument '{}'", rest[i]));
  if (!listing && (globals().config || std::getenv("ATTEST_CONFIG") != nullptr)) {
    // Load the configuration before any test so that a broken one stops the run with one message.
    try {
      (void)driver();
    } catch (const Error& e) {
      std::fprintf(stderr, "attest: %s\n", e.what());
      return 1;
    }
  }
  const int rc = RUN_ALL_TESTS();
  reset_driver();
  return rc;
}

}  // namespace attest::testing
