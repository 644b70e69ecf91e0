// The test binary report_check runs: ATTEST_TESTs that need no machine, with passing and failing
// subtests, a log block and an error thrown out of a subtest, so that the summary and the subtest
// JUnit report (--junit-xml) have every case to show.
#include <gmock/gmock.h>

#include "attest/log.hpp"
#include "attest/test.hpp"

ATTEST_TEST(with_subtests) {
  subtest("first step", [] {
    attest::LogBlock block("inside a block");
    attest::log("a line in the block");
  });
  subtest("second step", [] { EXPECT_EQ(1 + 1, 3) << "arithmetic & <markup>"; });
}

ATTEST_TEST(throws_in_a_subtest) {
  subtest("explodes", [] { throw attest::Error("the thing went wrong", "", "explodes"); });
}

ATTEST_TEST(subtest_objects) {
  auto step = begin_subtest("object step");
  const int value = 6 * 7;
  step.end();
  step.end();  // a second end does nothing
  EXPECT_EQ(value, 42);
  auto failing = begin_subtest("object step that fails");
  EXPECT_EQ(value, 43);
}

ATTEST_TEST(requires_in_a_helper) {
  const auto half = [](int n) {
    ATTEST_REQUIRE(EXPECT_EQ(n % 2, 0) << "odd: " << n);
    return n / 2;
  };
  EXPECT_EQ(half(4), 2);
  subtest("require fails", [&] { (void)half(3); });
  ADD_FAILURE() << "reached after a failed ATTEST_REQUIRE";
}

ATTEST_TEST(no_subtests) { attest::log("nothing to see"); }
