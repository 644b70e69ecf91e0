// VM tests of per-test restore: the machine boots once, the setup runs once, and every test
// starts from the baseline snapshot, so tests that change the guest do not see each other's
// changes, in whatever order they run.
#include <gmock/gmock.h>

#include <string>

#include "attest/test.hpp"
#include "vm_util.hpp"

namespace {

/// What the baseline's setup saw: the guest's boot and how often it ran.
struct Baseline {
  std::string boot_id;
  int setups = 0;
};

Baseline& baseline() {
  static Baseline b;
  return b;
}

const bool restored = (attest::testing::restore_before_each_test([](attest::Driver& d) {
                         auto& m = d.machine("machine");
                         m.succeed("echo from-setup > /tmp/setup; echo 0 > /tmp/counter");
                         m.succeed("sleep 1000 >/dev/null 2>&1 & echo $! > /tmp/daemon.pid");
                         baseline().boot_id = m.succeed("cat /proc/sys/kernel/random/boot_id");
                         ++baseline().setups;
                       }),
                       true);

/// The checks every test starts with: the baseline's state, untouched by the other tests.
void expect_baseline(attest::Machine& m) {
  EXPECT_TRUE(attest::testing::per_test_restore());
  EXPECT_EQ(baseline().setups, 1);
  // The same boot: restored, not rebooted.
  EXPECT_EQ(m.succeed("cat /proc/sys/kernel/random/boot_id"), baseline().boot_id);
  EXPECT_EQ(m.succeed("cat /tmp/setup"), "from-setup\n");
  EXPECT_EQ(m.succeed("cat /tmp/counter"), "0\n");
  m.succeed("kill -0 $(cat /tmp/daemon.pid)");
  m.fail("ls /tmp/touched-by-*");
}

}  // namespace

ATTEST_TEST(first_test_changes_the_guest) {
  auto& m = machine("machine");
  expect_baseline(m);
  m.succeed("echo 1 > /tmp/counter; touch /tmp/touched-by-first; kill $(cat /tmp/daemon.pid)");
}

ATTEST_TEST(second_test_sees_none_of_it) {
  auto& m = machine("machine");
  expect_baseline(m);
  m.succeed("echo 2 > /tmp/counter; touch /tmp/touched-by-second; rm /tmp/setup");
}

ATTEST_TEST(a_crashed_machine_is_restored_for_the_next_test) {
  auto& m = machine("machine");
  expect_baseline(m);
  m.succeed("touch /tmp/touched-by-crash");
  m.crash();
}

ATTEST_TEST(third_test_starts_from_the_baseline_after_a_crash) {
  auto& m = machine("machine");
  expect_baseline(m);
}
