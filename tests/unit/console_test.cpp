// The console: line assembly across chunks, '\r' removal, the tail, the memory bound, and the
// log file's sections, one a boot.
#include "core/console.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "files.hpp"

namespace attest::detail {
namespace {

TEST(console_test, assembles_lines_across_chunks) {
  Console c("m");
  std::vector<std::string> lines;
  c.on_line = [&](std::string_view l) { lines.emplace_back(l); };
  c.append("first li");
  c.append("ne\r\nsecond\n\nthi");
  EXPECT_EQ(lines, (std::vector<std::string>{"first line", "second", ""}));
  c.flush_partial();
  EXPECT_EQ(lines.back(), "thi");
  EXPECT_EQ(c.text(), "first line\nsecond\n\nthi\n");
}

TEST(console_test, tail_returns_the_last_lines) {
  Console c("m");
  c.append("a\nb\nc\nd\n");
  EXPECT_EQ(c.tail(2), "c\nd\n");
  EXPECT_EQ(c.tail(10), "a\nb\nc\nd\n");
  EXPECT_EQ(c.tail(0), "");
  c.append("partial");
  EXPECT_EQ(c.tail(1), "d\npartial\n");
}

TEST(console_test, memory_is_bounded_by_dropping_old_lines) {
  Console c("m", 1000);
  for (int i = 0; i < 500; ++i) c.append("line " + std::to_string(i) + "\n");
  EXPECT_LE(c.text().size(), 1000u);
  EXPECT_THAT(c.text(), ::testing::EndsWith("line 499\n"));
  EXPECT_EQ(c.end_position(), c.dropped() + c.text().size());
  EXPECT_GT(c.dropped(), 0u);
  EXPECT_EQ(c.text().front(), 'l') << "whole lines are dropped";
}

using testing_support::read_file;

// The first boot in this process truncates the file (an earlier run's boots go); later ones
// append after a separator line, which starts a line of its own after a boot that ended
// mid-line. The in-memory text is the console since the last clear().
TEST(console_test, the_log_file_keeps_every_boot_of_the_process) {
  namespace fs = std::filesystem;
  // A file of its own even under --gtest_repeat: the sections are counted per process.
  static int repeat = 0;
  const auto dir =
      fs::path(::testing::TempDir()) / fmt::format("attest-console-{}-{}", ::getpid(), ++repeat);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto file = dir / "m.console.log";
  std::ofstream(file) << "an earlier run\n";
  auto header = [](int boot, std::string_view what) {
    return fmt::format(
        "==== attest: boot {} of machine 'm' in this run: {} at "
        "[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}Z ====\n",
        boot, what);
  };
  {
    Console c("m");
    EXPECT_EQ(c.boot(), 0u);
    c.begin_boot(file, "starting QEMU");
    EXPECT_EQ(c.boot(), 1u);
    c.append("first boot\r\nno newline");
    c.flush_partial();
    c.clear();
    c.begin_boot(file, "starting QEMU");
    EXPECT_EQ(c.boot(), 2u);
    c.append("second boot\n");
    EXPECT_EQ(c.text(), "second boot\n");
    // A restore in a new VMM: a new section; the text goes on.
    c.begin_boot(file, "restoring snapshot 's' in a new QEMU");
    c.append("restored\n");
    EXPECT_EQ(c.text(), "second boot\nrestored\n");
  }
  // Another Console of this process (a later Driver's) on the same file appends too.
  Console later("m");
  later.begin_boot(file, "starting QEMU");
  EXPECT_EQ(later.boot(), 4u);
  EXPECT_THAT(read_file(file),
              ::testing::MatchesRegex(header(1, "starting QEMU") + "first boot\r\nno newline\n" +
                                      header(2, "starting QEMU") + "second boot\n" +
                                      header(3, "restoring snapshot 's' in a new QEMU") +
                                      "restored\n" + header(4, "starting QEMU")));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace attest::detail
