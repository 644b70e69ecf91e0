// A project's ordinary GoogleTest test and an ATTEST_TEST side by side in one program.
#include <gmock/gmock.h>

#include <string>

#include "attest/test.hpp"

TEST(consumer, shell_quote_is_there) { EXPECT_EQ(attest::shell_quote("it's"), "'it'\\''s'"); }

ATTEST_TEST(consumer_boots_a_machine) {
  start_all();
  auto& m = machine("machine");
  EXPECT_THAT(m.succeed("echo hello from the guest"), ::testing::HasSubstr("hello"));
}
