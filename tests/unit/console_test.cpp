// The console: line assembly across chunks, '\r' removal, the tail, the memory bound.
#include "core/console.hpp"

#include <gmock/gmock.h>

#include <vector>

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

}  // namespace
}  // namespace attest::detail
