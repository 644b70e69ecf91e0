// The `attest` tool's pieces that need no VM: attest run's depfile reading, test-file
// detection and --shard, the shell's ':' commands and their errors (the machines are never
// started), the driver's keep-machine-state directory, and the log's blocks and wait progress
// lines.
#include <gmock/gmock.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "attest/driver.hpp"
#include "attest/log.hpp"
#include "cli/cache.hpp"
#include "cli/run.hpp"
#include "cli/shell.hpp"
#include "core/log.hpp"

namespace attest::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(cli_test, parse_depfile_reads_every_prerequisite) {
  EXPECT_THAT(
      parse_depfile("test.tmp: /src/a.cpp /usr/include/attest/test.hpp \\\n"
                    " /usr/include/attest/machine.hpp\n"),
      ElementsAre("/src/a.cpp", "/usr/include/attest/test.hpp", "/usr/include/attest/machine.hpp"));
  EXPECT_THAT(parse_depfile("t: /my\\ dir/a.cpp b.hpp"), ElementsAre("/my dir/a.cpp", "b.hpp"));
  EXPECT_THAT(parse_depfile("no rule here"), ElementsAre());
}

TEST(cli_test, parse_shard_reads_part_i_of_n_and_names_what_is_wrong) {
  const auto s = parse_shard("2/3");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.total, 3);
  EXPECT_EQ(parse_shard("1/1").total, 1);
  for (const char* bad : {"", "3", "0/3", "-1/3", "1/0", "a/3", "1/3x", "1//3", " 1/3"})
    EXPECT_THAT([&] { parse_shard(bad); },
                ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("--shard wants I/N")))
        << bad;
  EXPECT_THAT([] { parse_shard("4/3"); }, ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr(
                                              "there is no part 4 of 3 (parts are 1 to 3)")));
}

TEST(cli_test, is_test_file_tells_a_test_file_from_a_test_script) {
  EXPECT_TRUE(is_test_file("#include <attest/test.hpp>\nATTEST_TEST(x) {\n}\n"));
  EXPECT_TRUE(is_test_file("  ATTEST_TEST (spaced) {}"));
  EXPECT_FALSE(is_test_file("machine.succeed(\"true\");\n"));
  EXPECT_FALSE(is_test_file("machine.succeed(\"echo ATTEST_TEST(x)\");\n"));
}

class repl_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("attest-cli-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "vmlinuz") << "kernel";
    Config config;
    for (const char* name : {"server", "client"}) {
      MachineConfig m;
      m.name = name;
      m.kernel = dir_ / "vmlinuz";
      config.machines.push_back(m);
    }
    DriverOptions options;
    options.output_dir = dir_ / "out";
    options.keep_machine_state = true;
    driver_ = std::make_unique<Driver>(config, options);
  }
  void TearDown() override {
    driver_.reset();
    fs::remove_all(dir_);
  }
  /// What the session prints for `line`.
  std::string run(Repl& repl, std::string_view line) {
    out_.str("");
    EXPECT_TRUE(repl.run_line(line));
    return out_.str();
  }

  fs::path dir_;
  std::unique_ptr<Driver> driver_;
  std::ostringstream out_;
};

TEST_F(repl_test, commands_choose_machines_and_errors_name_the_cause) {
  Repl repl(*driver_, out_);
  // The first machine is the current one at first.
  EXPECT_EQ(repl.prompt(), "attest(server)> ");
  EXPECT_EQ(run(repl, ":machines"), "* server (qemu)\n  client (qemu)\n");
  EXPECT_EQ(run(repl, ":use client"), "");
  EXPECT_EQ(repl.prompt(), "attest(client)> ");
  EXPECT_THAT(run(repl, ":use nosuch"), HasSubstr("error: driver: there is no machine named "
                                                  "'nosuch' (machines: server, client)"));
  EXPECT_EQ(repl.current(), "client");
  EXPECT_EQ(run(repl, ":frobnicate"),
            "error: unknown command ':frobnicate' (':help' lists them)\n");
  EXPECT_THAT(run(repl, ":timeout soon"), HasSubstr("error: :timeout takes a number of seconds"));
  EXPECT_THAT(run(repl, ":serial maybe"), HasSubstr("error: :serial takes 'on' or 'off'"));
  EXPECT_THAT(run(repl, ":on server"), HasSubstr("error: :on needs a machine name and a command"));
  EXPECT_THAT(run(repl, ":snapshot"), HasSubstr("error: :snapshot needs a snapshot name"));
  EXPECT_THAT(run(repl, ":help"), HasSubstr(":restore NAME"));
  EXPECT_EQ(run(repl, "   "), "");
  EXPECT_EQ(run(repl, "# a comment"), "");
  EXPECT_FALSE(repl.run_line(":quit"));
  // Nothing was started by any of it.
  for (Machine& m : driver_->machines()) EXPECT_FALSE(m.is_up()) << m.name();
}

TEST_F(repl_test, keep_machine_state_gives_each_machine_a_private_kept_directory) {
  const fs::path kept = dir_ / "out" / "machine-state";
  ASSERT_TRUE(fs::is_directory(kept));
  EXPECT_EQ(fs::status(kept).permissions() & fs::perms::all, fs::perms::owner_all);
  driver_.reset();
  // The driver removes its private state, not the kept one.
  EXPECT_TRUE(fs::is_directory(kept));
}

TEST(log_test, blocks_indent_their_lines_and_end_with_their_time) {
  ::testing::internal::CaptureStderr();
  {
    LogBlock outer("outer step");
    log("in the outer block");
    {
      LogBlock inner("inner step");
      detail::log_info("server", "in the inner block");
    }
  }
  log("after the blocks");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("outer step\n  in the outer block\n  inner step\n"
                             "    server: in the inner block\n  (finished: inner step, in "));
  EXPECT_THAT(err, HasSubstr("(finished: outer step, in "));
  EXPECT_THAT(err, HasSubstr("\nafter the blocks\n"));
}

TEST(log_test, a_block_left_by_an_exception_says_it_failed) {
  ::testing::internal::CaptureStderr();
  try {
    LogBlock block("doomed step");
    throw std::runtime_error("no");
  } catch (const std::runtime_error&) {
  }
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("!!! doomed step failed after "));
}

TEST(log_test, wait_progress_logs_every_ten_seconds_of_a_wait) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now() - std::chrono::seconds(12);
  auto next = start + std::chrono::seconds(10);
  ::testing::internal::CaptureStderr();
  detail::wait_progress("server", "unit ", "nginx.service", start, next);
  detail::wait_progress("server", "unit ", "nginx.service", start, next);  // not due again yet
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "server: waiting for unit nginx.service… 12 s\n");
  EXPECT_GT(next, Clock::now() + std::chrono::seconds(9));
}

TEST(cache_size, bytes_or_a_power_of_1024) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("1500"), 1500u);
  EXPECT_EQ(parse_size("2K"), 2048u);
  EXPECT_EQ(parse_size("3M"), 3u << 20);
  EXPECT_EQ(parse_size("20G"), 20ull << 30);
  EXPECT_EQ(parse_size("1TiB"), 1ull << 40);
  EXPECT_EQ(parse_size("5mb"), 5u << 20);
  for (const char* bad : {"", "G", "12X", "1.5G", "-1", "12GG", "9999999999999999"})
    EXPECT_THROW(parse_size(bad), std::invalid_argument) << bad;
}

}  // namespace
}  // namespace attest::cli
