// process::run_foreground: the one way attest's tools run a program and wait for it (the image
// builder, a compiled test binary).
#include "process/foreground.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace attest::process {
namespace {

TEST(RunForeground, ReturnsTheExitCodeAndTheCapturedStdout) {
  const auto r =
      run_foreground({"/bin/sh", "-c", "printf 'one\\ntwo'; exit 3"}, {.capture_stdout = true});
  EXPECT_EQ(r.status, 3);
  EXPECT_EQ(r.out, "one\ntwo");
}

TEST(RunForeground, CapturesMoreThanAPipeHolds) {
  // 1 MiB: more than the pipe's buffer, so the parent must read while the child writes.
  const auto r =
      run_foreground({"/bin/sh", "-c", "head -c 1048576 /dev/zero"}, {.capture_stdout = true});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.size(), 1048576u);
}

TEST(RunForeground, ASignalIs128PlusItsNumber) {
  EXPECT_EQ(run_foreground({"/bin/sh", "-c", "kill -TERM $$"}).status, 128 + 15);
}

TEST(RunForeground, AProgramThatCannotRunIs127) {
  EXPECT_EQ(run_foreground({"/nonexistent/tool"}).status, 127);
  EXPECT_EQ(run_foreground({"attest-no-such-tool"}, {.search_path = true}).status, 127);
}

TEST(RunForeground, SearchesPathOnlyWhenAsked) {
  EXPECT_EQ(run_foreground({"true"}, {.search_path = true}).status, 0);
  EXPECT_EQ(run_foreground({"true"}).status, 127);  // "true" is not a path
}

TEST(RunForeground, NoProgramIsAnError) { EXPECT_THROW(run_foreground({}), std::invalid_argument); }

}  // namespace
}  // namespace attest::process
