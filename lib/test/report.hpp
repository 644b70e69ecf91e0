// Internal: what ATTEST_TEST's support shares between its parts: the run's report (the summary
// and the subtest JUnit file, report.cpp) and the state attest_main sets (test.cpp).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "attest/driver.hpp"

namespace attest::testing::detail {

// The report (report.cpp).

/// A subtest of the running test begins (SubtestScope).
void open_subtest(std::string label);
/// The innermost open subtest ends; returns whether it failed (`thrown`: an exception left it).
bool close_subtest(std::chrono::steady_clock::duration elapsed, bool thrown);
/// --junit-xml FILE / ATTEST_JUNIT_XML: where the subtest view goes.
void set_junit_path(std::filesystem::path path);
bool has_junit_path();
/// --no-summary (and listing tests) turns the summary off.
void set_summary(bool on);
/// The listener that collects the report; append it to GoogleTest's listeners once.
::testing::TestEventListener& report_listener();

// The test support's state (test.cpp).

/// --no-serial: serial lines are not echoed from each test's start on.
void set_serial_echo(bool on);
/// Whether a configuration was given (--config, or ATTEST_CONFIG).
bool has_config();
/// --per-test-restore, keeping a setup registered before.
void enable_per_test_restore();
/// The test run's driver if one was made (null before the first test that needs one).
Driver* current_driver() noexcept;

}  // namespace attest::testing::detail
