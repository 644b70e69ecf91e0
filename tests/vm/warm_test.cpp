// Warm starts (docs/snapshots.md, "Warm start") on the minimal guest: a Driver with warm starts
// on boots each machine cold once and saves it in the boot cache; a later Driver (a later run)
// restores it from there instead of booting. Each test has a boot cache of its own.
#include <gmock/gmock.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <string>

#include "attest/driver.hpp"
#include "attest/test.hpp"
#include "attest/version.hpp"
#include "vm_util.hpp"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

/// A boot cache directory of the test's own, empty.
fs::path fresh_cache() {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto dir = fs::path(::testing::TempDir()) /
                   ("attest-warm-" + std::to_string(::getpid()) + "-" + test->name());
  fs::remove_all(dir);
  return dir;
}

attest::DriverOptions warm(const fs::path& cache) {
  attest::DriverOptions o;
  o.warm = true;
  o.boot_cache_dir = cache;
  return o;
}

/// The boot cache's entries (directories named by a 64-digit key).
int entries(const fs::path& cache) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cache, ec))
    n += e.is_directory() && e.path().filename().string().size() == 64;
  return n;
}

/// Whether the machine booted in this run: its backdoor's first line is on the console since
/// its start (a restored machine's console starts after that line).
bool booted(attest::Machine& m) {
  m.connect();
  return m.get_console_log().find("connecting to host") != std::string::npos;
}

}  // namespace

ATTEST_TEST(a_later_run_restores_the_booted_machine) {
  const auto cache = fresh_cache();
  const auto config = attest::vmtest::minimal_config();
  {
    attest::Driver run(config, warm(cache));
    auto& m = run.machine("machine");
    EXPECT_TRUE(booted(m));
    // After the save: not part of what later runs restore.
    m.succeed("echo later > /tmp/written-after-the-save");
  }
  EXPECT_EQ(entries(cache), 1);
  attest::Driver run(config, warm(cache));
  auto& m = run.machine("machine");
  EXPECT_FALSE(booted(m)) << "the machine booted again instead of being restored";
  m.fail("test -e /tmp/written-after-the-save");
  // Commands, their status and output, as on a cold boot.
  EXPECT_EQ(m.succeed("echo hello; uname -s"), "hello\nLinux\n");
  EXPECT_EQ(m.execute("exit 3").status, 3);
  // The clock was set to the host's (it stood still in the cache).
  const double guest = std::stod(m.succeed("date +%s.%N"));
  const double host =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LT(std::abs(guest - host), 1.0) << "guest " << guest << ", host " << host;
  EXPECT_EQ(entries(cache), 1);
  fs::remove_all(cache);
}

ATTEST_TEST(a_changed_command_line_is_another_machine) {
  const auto cache = fresh_cache();
  auto config = attest::vmtest::minimal_config();
  {
    attest::Driver run(config, warm(cache));
    EXPECT_TRUE(booted(run.machine("machine")));
  }
  config.machines.at(0).cmdline += " attest.warm_test=1";
  attest::Driver run(config, warm(cache));
  auto& m = run.machine("machine");
  EXPECT_TRUE(booted(m));
  EXPECT_THAT(m.succeed("cat /proc/cmdline"), HasSubstr("attest.warm_test=1"));
  EXPECT_EQ(entries(cache), 2);
  fs::remove_all(cache);
}

ATTEST_TEST(a_truncated_entry_boots_cold_with_a_warning) {
  const auto cache = fresh_cache();
  const auto config = attest::vmtest::minimal_config();
  {
    attest::Driver run(config, warm(cache));
    EXPECT_TRUE(booted(run.machine("machine")));
  }
  ASSERT_EQ(entries(cache), 1);
  for (const auto& e : fs::directory_iterator(cache))
    if (fs::exists(e.path() / "vmstate.qcow2"))
      fs::resize_file(e.path() / "vmstate.qcow2", fs::file_size(e.path() / "vmstate.qcow2") / 2);
  ::testing::internal::CaptureStderr();
  bool second_booted = false;
  {
    attest::Driver run(config, warm(cache));
    second_booted = booted(run.machine("machine"));
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(second_booted);
  EXPECT_THAT(log, HasSubstr("was damaged (vmstate.qcow2 has"));
  // The cold boot saved the machine again; the next run restores that one.
  EXPECT_EQ(entries(cache), 1);
  attest::Driver run(config, warm(cache));
  EXPECT_FALSE(booted(run.machine("machine")));
  fs::remove_all(cache);
}

ATTEST_TEST(the_key_names_attests_version_and_every_input) {
  const auto cache = fresh_cache();
  {
    attest::Driver run(attest::vmtest::minimal_config(), warm(cache));
    run.machine("machine").connect();
  }
  std::string manifest;
  for (const auto& e : fs::directory_iterator(cache)) {
    std::ifstream in(e.path() / "manifest.json");
    manifest.assign(std::istreambuf_iterator<char>(in), {});
  }
  // A new attest, QEMU or kernel is a new key: each is in the text the key is made from.
  EXPECT_THAT(manifest, HasSubstr(std::string("attest ") + attest::version));
  EXPECT_THAT(manifest, HasSubstr("binary /"));
  EXPECT_THAT(manifest, HasSubstr("kernel /"));
  EXPECT_THAT(manifest, HasSubstr("-accel tcg"));
  // No path of the run that saved it.
  EXPECT_THAT(manifest, Not(HasSubstr(::testing::TempDir() + "attest-")));
  fs::remove_all(cache);
}

ATTEST_TEST(concurrent_runs_share_the_cache) {
  const auto cache = fresh_cache();
  const auto config = attest::vmtest::minimal_config();
  // Two cold runs at once (both save; one entry stays), then two warm runs at once (each
  // restores its own copy and writes only to it).
  for (int round = 0; round < 2; ++round) {
    auto one_run = [&](const std::string& mark) {
      attest::Driver run(config, warm(cache));
      auto& m = run.machine("machine");
      m.succeed("echo " + mark + " > /tmp/mark");
      return m.succeed("cat /tmp/mark");
    };
    auto a = std::async(std::launch::async, one_run, "a");
    auto b = std::async(std::launch::async, one_run, "b");
    EXPECT_EQ(a.get(), "a\n");
    EXPECT_EQ(b.get(), "b\n");
    EXPECT_EQ(entries(cache), 1);
  }
  fs::remove_all(cache);
}

ATTEST_TEST(restored_peers_on_a_vlan_reach_each_other) {
  const auto cache = fresh_cache();
  auto config = attest::vmtest::minimal_config();
  auto second = config.machines.at(0);
  config.machines[0].name = "a";
  config.machines[0].vlans = {1};
  second.name = "b";
  second.vlans = {1};
  config.machines.push_back(second);
  {
    attest::Driver run(config, warm(cache));
    run.start_all();
    run.machine("a").succeed("ping -c1 -W10 192.168.1.2");
  }
  EXPECT_EQ(entries(cache), 2);
  attest::Driver run(config, warm(cache));
  run.start_all();
  auto& a = run.machine("a");
  auto& b = run.machine("b");
  EXPECT_FALSE(booted(a));
  EXPECT_FALSE(booted(b));
  // a is node 1 (192.168.1.1), b node 2.
  a.succeed("ping -c1 -W10 192.168.1.2");
  b.succeed("ping -c1 -W10 192.168.1.1");
  fs::remove_all(cache);
}
