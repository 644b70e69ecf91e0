// The test run as ATTEST_TEST's summary and its subtest JUnit report see it: a GoogleTest
// listener collecting each test, its subtests (from SubtestScope) and their failures.
#include "test/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "attest/driver.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"

namespace attest::testing::detail {

namespace {

/// The run: each test, its subtests and their failures.
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
    if (Driver* driver = current_driver()) {
      for (Machine& m : driver->machines()) {
        const auto st = m.impl().stats();
        if (st.boots == 0 && st.commands == 0) continue;
        out += fmt::format(
            "  machine {}: {} boot{}{}, {} command{}{}\n", m.name(), st.boots,
            st.boots == 1 ? "" : "s",
            st.boots > 0
                ? fmt::format(" (mean {:.1f} s to the shell)",
                              std::chrono::duration<double>(st.boot_time).count() / st.boots)
                : std::string(),
            st.commands, st.commands == 1 ? "" : "s",
            st.warm.empty() ? std::string() : "; warm start: " + st.warm);
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

/// GoogleTest owns the listener once it is appended, so it is never freed.
Report& report() {
  static Report* r = new Report;
  return *r;
}

}  // namespace

void open_subtest(std::string label) { report().open_subtest(std::move(label)); }

bool close_subtest(std::chrono::steady_clock::duration elapsed, bool thrown) {
  return report().close_subtest(elapsed, thrown);
}

void set_junit_path(std::filesystem::path path) { report().junit = std::move(path); }

bool has_junit_path() { return !report().junit.empty(); }

void set_summary(bool on) { report().summary = on; }

::testing::TestEventListener& report_listener() { return report(); }

}  // namespace attest::testing::detail
