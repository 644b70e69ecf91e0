// The main of a test binary (attest_main): attest's own flags, then GoogleTest's, the
// configuration loaded before any test, the report listener, and the driver torn down at the end.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "attest/test.hpp"
#include "core/log.hpp"
#include "core/options.hpp"
#include "test/report.hpp"

namespace attest::testing {

namespace {

constexpr const char* usage =
    "usage: TEST-BINARY [--config FILE] [--output-dir DIR] [--global-timeout SECONDS] "
    "[--per-test-restore] [--keep-machine-state] [--warm | --cold] [--boot-cache DIR] "
    "[--junit-xml FILE] [--no-summary] [--no-serial] [--gtest_* flags]";

/// What attest_main reads of its flags; the rest goes to GoogleTest.
struct MainOptions {
  DriverOptions driver;
  std::vector<std::string> rest;  ///< GoogleTest's flags
  bool listing = false;           ///< --gtest_list_tests
};

/// Reads attest's flags. Throws: attest::detail::UsageError.
MainOptions read_options(int argc, char** argv) {
  MainOptions o;
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  attest::detail::OptionReader r(args);
  while (r.next()) {
    const auto option = r.option();
    if (option == "--config") {
      set_config_path(r.value());
    } else if (option == "--output-dir") {
      o.driver.output_dir = r.value();
    } else if (option == "--global-timeout") {
      const auto v = r.value();
      char* end = nullptr;
      const double s = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(s > 0))
        throw attest::detail::UsageError(
            fmt::format("--global-timeout expects a positive number of seconds, got '{}'", v));
      o.driver.global_timeout = std::chrono::milliseconds(static_cast<long long>(s * 1000));
    } else if (option == "--junit-xml") {
      detail::set_junit_path(r.value());
    } else if (r.arg() == "--no-summary") {
      detail::set_summary(false);
    } else if (r.arg() == "--no-serial") {
      detail::set_serial_echo(false);
    } else if (r.arg() == "--keep-machine-state") {
      o.driver.keep_machine_state = true;
    } else if (r.arg() == "--warm") {
      o.driver.warm = true;
    } else if (r.arg() == "--cold") {
      o.driver.warm = false;
    } else if (option == "--boot-cache") {
      o.driver.boot_cache_dir = r.value();
    } else if (r.arg() == "--per-test-restore") {
      detail::enable_per_test_restore();
    } else {
      if (r.arg() == "--gtest_list_tests") o.listing = true;
      o.rest.emplace_back(r.arg());
    }
  }
  return o;
}

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "attest: %s\n%s\n", message.c_str(), usage);
  std::exit(2);
}

}  // namespace

int attest_main(int argc, char** argv) {
  MainOptions options;
  try {
    options = read_options(argc, argv);
  } catch (const attest::detail::UsageError& e) {
    usage_error(e.what());
  }
  set_driver_options(options.driver);
  std::vector<char*> rest{argv[0]};
  for (auto& arg : options.rest) rest.push_back(arg.data());
  int rest_argc = static_cast<int>(rest.size());
  rest.push_back(nullptr);
  ::testing::InitGoogleTest(&rest_argc, rest.data());
  for (int i = 1; i < rest_argc; ++i) usage_error(fmt::format("unknown argument '{}'", rest[i]));
  if (!options.listing && detail::has_config()) {
    // Load the configuration before any test so that a broken one stops the run with one message.
    try {
      (void)driver();
    } catch (const Error& e) {
      std::fprintf(stderr, "attest: %s\n", e.what());
      return 1;
    }
  }
  if (!detail::has_junit_path())
    if (const char* v = std::getenv("ATTEST_JUNIT_XML"); v != nullptr && *v != '\0')
      detail::set_junit_path(v);
  if (options.listing) detail::set_summary(false);
  ::testing::UnitTest::GetInstance()->listeners().Append(&detail::report_listener());
  const int rc = RUN_ALL_TESTS();
  reset_driver();
  return rc;
}

}  // namespace attest::testing
