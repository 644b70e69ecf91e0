// ATTEST_TEST support: the process-wide driver, the VmTest fixture, subtest, retry, attest_main.
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

namespace {

/// The run as the summary and the subtest JUnit report see it: each test, its subtests and their
/// failures, collected by a GoogleTest listener and by SubtestScope.
class Report : public ::testing::EmptyTestEventListener {
 public:
  struct Subtest {
    std::string label;
    double seconds = 0;
    std::vector<std::string> failures;
    bool done = false;
  };
  struct Test {
    std::string name;  ///< Suite.name
    double seconds = 0;
    bool failed = false, skipped = false;
    std::vector<Subtest> subtests;
    std::vector<std::string> failures;  ///< outside every subtest
  };

  static constexpr const char* thrown_placeholder = "an exception left the subtest";

  std::filesystem::path junit;  ///< where the subtest view goes (--junit-xml); empty: nowhere
  bool summary = true;

  void open_subtest(std::string label) {
    std::lock_guard lock(mutex_);
    if (tests_.empty()) return;
    tests_.back().subtests.push_back({std::move(label), 0, {}, false});
    open_.push_back(tests_.back().subtests.size() - 1);
  }
  /// Returns whether the subtest failed (an exception left it, or a check in it failed).
  bool close_subtest(std::chrono::steady_clock::duration elapsed, bool thrown) {
    std::lock_guard lock(mutex_);
    if (tests_.empty() || open_.empty()) return thrown;
    auto& s = tests_.back().subtests[open_.back()];
    s.seconds = std::chrono::duration<double>(elapsed).count();
    s.done = true;
    // The exception itself becomes a failure at the test's level (ATTEST_TEST reports it);
    // mark the subtest it left as failed too.
    if (thrown && s.failures.empty()) s.failures.push_back(thrown_placeholder);
    open_.pop_back();
    return !s.failures.empty();
  }

  void OnTestStart(const ::testing::TestInfo& info) override {
    std::lock_guard lock(mutex_);
    tests_.push_back(
        {fmt::format("{}.{}", info.test_suite_name(), info.name()), 0, false, false, {}, {}});
    open_.clear();
  }
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::lock_guard lock(mutex_);
    if (tests_.empty()) return;
    std::string text =
        result.file_name() != nullptr
            ? fmt::format("{}:{}: {}", result.file_name(), result.line_number(), result.message())
            : std::string(result.message());
    auto& t = tests_.back();
    if (!open_.empty()) {
      auto& failures = t.subtests[open_.back()].failures;
      if (failures.size() == 1 && failures[0] == thrown_placeholder) failures.clear();
      failures.push_back(std::move(text));
    } else if (!t.subtests.empty() && t.subtests.back().failures.size() == 1 &&
               t.subtests.back().failures[0] == thrown_placeholder) {
      // The error that left the last subtest, reported by ATTEST_TEST once it reached the top.
      t.subtests.back().failures[0] = std::move(text);
    } else {
      t.failures.push_back(std::move(text));
    }
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    std::lock_guard lock(mutex_);
    if (tests_.empty()) return;
    auto& t = tests_.back();
    t.seconds = static_cast<double>(info.result()->elapsed_time()) / 1000;
    t.failed = info.result()->Failed();
    t.skipped = info.result()->Skipped();
  }
  void OnTestProgramEnd(const ::testing::UnitTest& unit) override {
    if (!junit.empty()) write_junit();
    if (summary && !tests_.empty()) print_summary(unit);
  }

 private:
  static std::string xml(std::string_view text) {
    std::string out;
    for (const char c : text) {
      switch (c) {
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '&':
          out += "&amp;";
          break;
        case '"':
          out += "&quot;";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t')
            out += ' ';
          else
            out.push_back(c);
      }
    }
    return out;
  }
  static std::string first_line(std::string_view text) {
    return std::string(text.substr(0, std::min(text.find('\n'), std::size_t{300})));
  }
  static void testcase(std::string& out, const std::string& suite, const std::string& name,
                       double seconds, const std::vector<std::string>& failures, bool skipped) {
    out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3f}\"", xml(suite),
                       xml(name), seconds);
    if (failures.empty() && !skipped) {
      out += "/>\n";
      return;
    }
    out += ">\n";
    if (skipped && failures.empty()) out += "      <skipped/>\n";
    if (!failures.empty()) {
      std::string all;
      for (const auto& f : failures) all += f + "\n";
      out += fmt::format("      <failure message=\"{}\">{}</failure>\n",
                         xml(first_line(failures[0])), xml(all));
    }
    out += "    </testcase>\n";
  }

  /// One <testsuite> per test, one <testcase> per subtest (as the NixOS driver's JUnit log has),
  /// plus "main" for what failed outside every subtest; a test without subtests is one testcase.
  void write_junit() const {
    std::string body;
    std::size_t total = 0, failures = 0;
    for (const auto& t : tests_) {
      std::string cases;
      std::size_t n = 0, failed = 0;
      for (const auto& s : t.subtests) {
        testcase(cases, t.name, s.label, s.seconds, s.failures, false);
        ++n;
        failed += !s.failures.empty();
      }
      std::vector<std::string> main_failures = t.failures;
      if (main_failures.empty() && t.failed && failed == 0)
        main_failures.push_back("the test failed");
      if (t.subtests.empty() || !main_failures.empty()) {
        testcase(cases, t.name, t.subtests.empty() ? t.name : "main", t.seconds, main_failures,
                 t.skipped);
        ++n;
        failed += !main_failures.empty();
      }
      body += fmt::format(
          "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.3f}\">\n{}"
          "  </testsuite>\n",
          xml(t.name), n, failed, t.seconds, cases);
      total += n;
      failures += failed;
    }
    const std::string text = fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"attest "
        "subtests\" tests=\"{}\" failures=\"{}\">\n{}</testsuites>\n",
        total, failures, body);
    std::error_code ec;
    if (junit.has_parent_path()) std::filesystem::create_directories(junit.parent_path(), ec);
    std::ofstream out(junit, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush())
      std::fprintf(stderr, "attest: cannot write the JUnit report %s\n", junit.c_str());
  }

  void print_summary(const ::testing::UnitTest& unit) const {
    auto& log = attest::detail::Log::get();
    if (!log.enabled(attest::detail::LogLevel::info)) return;
    const bool color = log.color();
    const auto paint = [&](const char* code, std::string_view text) {
      return color ? fmt::format("\033[{}m{}\033[0m", code, text) : std::string(text);
    };
    std::string out = paint("1", "attest: summary") + "\n";
    std::size_t passed = 0, failed = 0, skipped = 0;
    for (const auto& t : tests_) {
      const char* mark = t.failed ? "FAILED " : t.skipped ? "SKIPPED" : "PASSED ";
      passed += !t.failed && !t.skipped;
      failed += t.failed;
      skipped += t.skipped && !t.failed;
      out += fmt::format("  {} {} ({:.1f} s)\n",
                         paint(t.failed    ? "31"
                               : t.skipped ? "33"
                                           : "32",
                               mark),
                         t.name, t.seconds);
      for (const auto& s : t.subtests)
        out +=
            fmt::format("      {} subtest: {} ({:.1f} s)\n",
                        s.failures.empty() ? "ok    " : paint("31", "failed"), s.label, s.seconds);
      if (t.failed) {
        const auto& f = !t.failures.empty() ? t.failures : std::vector<std::string>{};
        if (!f.empty()) out += fmt::format("      {}\n", first_line(f[0]));
      }
    }
    if (globals().driver) {
      for (Machine& m : globals().driver->machines()) {
        const auto st = m.impl().stats();
        if (st.boots == 0 && st.commands == 0) continue;
        out += fmt::format(
            "  machine {}: {} boot{}{}, {} command{}\n", m.name(), st.boots,
            st.boots == 1 ? "" : "s",
            st.boots > 0
                ? fmt::format(" (mean {:.1f} s to the shell)",
                              std::chrono::duration<double>(st.boot_time).count() / st.boots)
                : std::string(),
            st.commands, st.commands == 1 ? "" : "s");
      }
    }
    out += fmt::format("  {} test{} in {:.1f} s: {} passed, {} failed{}\n", tests_.size(),
                       tests_.size() == 1 ? "" : "s",
                       static_cast<double>(unit.elapsed_time()) / 1000, passed, failed,
                       skipped > 0 ? fmt::format(", {} skipped", skipped) : std::string());
    std::fwrite(out.data(), 1, out.size(), stderr);
  }

  mutable std::mutex mutex_;
  std::vector<Test> tests_;
  std::vector<std::size_t> open_;  ///< the open subtests of the current test, innermost last
};

/// The process's report; GoogleTest owns the listener once it is appended, so it is never freed.
Report& report() {
  static Report* r = new Report;
  return *r;
}

}  // namespace

namespace detail {

SubtestScope::SubtestScope(std::string_view label, const Where& where)
    : label_(label),
      start_(std::chrono::steady_clock::now()),
      uncaught_(std::uncaught_exceptions()),
      trace_(where.file_name(), static_cast<int>(where.line()), fmt::format("subtest: {}", label)) {
  attest::detail::Log::get().open_block(fmt::format("subtest: {}", label_));
  report().open_subtest(label_);
}

SubtestScope::~SubtestScope() {
  const auto elapsed = std::chrono::steady_clock::now() - start_;
  const auto took = attest::detail::format_duration(elapsed);
  const bool failed = report().close_subtest(elapsed, std::uncaught_exceptions() > uncaught_);
  if (failed)
    attest::detail::Log::get().close_block(
        fmt::format("subtest '{}' failed after {}", label_, took), true);
  else
    attest::detail::Log::get().close_block(
        fmt::format("(finished: subtest: {}, in {})", label_, took), false);
}

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

namespace {

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(
      stderr,
      "attest: %s\nusage: %s [--config FILE] [--output-dir DIR] [--global-timeout SECONDS] "
      "[--per-test-restore] [--keep-machine-state] [--junit-xml FILE] [--no-summary] "
      "[--no-serial] "
      "[--gtest_* flags]\n",
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
    } else if (auto v = value("--junit-xml")) {
      report().junit = *v;
    } else if (arg == "--no-summary") {
      report().summary = false;
    } else if (arg == "--no-serial") {
      globals().serial = false;
      attest::detail::Log::get().set_serial_echo(false);
    } else if (arg == "--keep-machine-state") {
      options.keep_machine_state = true;
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
  if (report().junit.empty())
    if (const char* v = std::getenv("ATTEST_JUNIT_XML"); v != nullptr && *v != '\0')
      report().junit = v;
  if (listing) report().summary = false;
  ::testing::UnitTest::GetInstance()->listeners().Append(&report());
  const int rc = RUN_ALL_TESTS();
  reset_driver();
  return rc;
}

}  // namespace attest::testing
