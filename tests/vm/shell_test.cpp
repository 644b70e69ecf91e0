// VM tests of the shell channel on the minimal guest (TCG): output framing, exit codes, quoting,
// stdin, background jobs, timeouts and resynchronisation.
#include <gmock/gmock.h>
#include <signal.h>

#include <string>
#include <thread>

#include "attest/test.hpp"
#include "vm_util.hpp"

using ::testing::HasSubstr;
using namespace std::chrono_literals;

namespace {

/// A printf format producing the bytes 0..255 once.
std::string all_bytes_printf() {
  std::string fmt;
  for (int i = 0; i < 256; ++i) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", i);
    fmt += buf;
  }
  return "printf " + attest::shell_quote(fmt);
}

std::string all_bytes(std::size_t repeat) {
  std::string s;
  for (std::size_t r = 0; r < repeat; ++r)
    for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

}  // namespace

ATTEST_TEST(output_is_byte_exact) {
  start_all();
  auto& m = machine("machine");
  EXPECT_EQ(m.succeed("echo hello"), "hello\n");
  EXPECT_EQ(m.succeed("printf abc"), "abc");
  EXPECT_EQ(m.succeed("true"), "");
  EXPECT_EQ(m.succeed(all_bytes_printf()), all_bytes(1));
  // Every byte value at every offset of a read, many times over.
  EXPECT_EQ(m.succeed("for i in $(seq 300); do " + all_bytes_printf() + "; done"), all_bytes(300));
  // Output that looks like the protocol's own end marker is still just output.
  EXPECT_EQ(m.succeed("echo 0123456789ab0123456789ab 0"), "0123456789ab0123456789ab 0\n");
  // \r and \n pass untouched (the channel is raw, the guest tty does no translation).
  EXPECT_EQ(m.succeed("printf 'a\\r\\nb\\rc\\n'"), "a\r\nb\rc\n");
}

ATTEST_TEST(fifty_megabytes_of_output) {
  start_all();
  auto& m = machine("machine");
  // A 1 MiB pattern of all byte values, then 50 copies of it.
  m.succeed(all_bytes_printf() +
            " >/tmp/p; for i in $(seq 12); do cat /tmp/p /tmp/p >/tmp/q; mv /tmp/q /tmp/p; done");
  const auto t0 = std::chrono::steady_clock::now();
  const std::string out = m.succeed("for i in $(seq 50); do cat /tmp/p; done");
  const double secs = attest::vmtest::seconds_since(t0);
  ASSERT_EQ(out.size(), 50u << 20);
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < out.size(); ++i)
    mismatches += static_cast<unsigned char>(out[i]) != (i & 0xff);
  EXPECT_EQ(mismatches, 0u);
  m.log("50 MiB in " + std::to_string(secs) + " s");
}

ATTEST_TEST(every_exit_code) {
  start_all();
  auto& m = machine("machine");
  for (int code = 0; code < 256; ++code) {
    auto r = m.execute("exit " + std::to_string(code));
    ASSERT_EQ(r.status, code);
    ASSERT_EQ(r.output, "");
  }
  // The same through the guest-side timeout path.
  EXPECT_EQ(m.execute("echo x; exit 7", 30s).status, 7);
  EXPECT_EQ(m.execute("echo x; exit 7", 30s).output, "x\n");
  // Killed by a signal: 128 + N, as bash reports it.
  EXPECT_EQ(m.execute("kill -9 $BASHPID").status, 137);
}

ATTEST_TEST(quoting_newlines_and_heredocs) {
  start_all();
  auto& m = machine("machine");
  EXPECT_EQ(m.succeed("echo \"it's\" 'a \"test\"' \\$HOME $HOME"), "it's a \"test\" $HOME /root\n");
  EXPECT_EQ(m.succeed("echo one\necho two"), "one\ntwo\n");
  EXPECT_EQ(m.succeed("cat <<'EOF'\nline $1 'q' \"d\"\nsecond\nEOF"),
            "line $1 'q' \"d\"\nsecond\n");
  EXPECT_EQ(m.succeed("cat <<EOF\nsum $((1 + 2))\nEOF"), "sum 3\n");
  EXPECT_EQ(m.succeed("x='a b'; printf '[%s]' \"$x\" $x"), "[a b][a][b]");
  EXPECT_EQ(m.succeed("printf '%s' 'ünïcödé ✓'"), "ünïcödé ✓");
  EXPECT_EQ(m.succeed("echo trailing # a comment"), "trailing\n");
  // NixOS semantics: set -euo pipefail.
  auto r = m.execute("false; echo not reached");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.output, "");
  EXPECT_EQ(m.execute("false | true").status, 1);
  EXPECT_NE(m.execute("echo $surely_unset_variable").status, 0);
  // A syntax error is the command's failure, not the channel's.
  EXPECT_EQ(m.execute("echo \"unterminated").status, 2);
  EXPECT_EQ(m.execute("if then fi").status, 2);
  EXPECT_EQ(m.succeed("echo still in sync"), "still in sync\n");
  // A command cannot change the shell that runs the next one.
  m.succeed("cd /; export FOO=1; unset PATH");
  EXPECT_EQ(m.succeed("pwd; echo ${FOO:-unset}"), "/tmp\nunset\n");
  EXPECT_THAT([&] { (void)m.execute(std::string("echo a\0b", 8)); },
              ::testing::ThrowsMessage<attest::Error>(HasSubstr("NUL byte")));
}

ATTEST_TEST(commands_reading_stdin_get_eof) {
  start_all();
  auto& m = machine("machine");
  EXPECT_EQ(m.succeed("cat; echo done"), "done\n");
  EXPECT_EQ(m.execute("read line").status, 1);
  EXPECT_EQ(m.succeed("head -c 10 | wc -c"), "0\n");
  EXPECT_EQ(m.succeed("echo after"), "after\n");
}

ATTEST_TEST(background_job_holding_stdout_does_not_hang) {
  start_all();
  auto& m = machine("machine");
  m.connect();  // the bound below is about the command, not the boot
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(m.succeed("sleep 1000 & echo hi"), "hi\n");
  EXPECT_LT(attest::vmtest::seconds_since(t0), 5.0);
  // A job that writes after its command ended: its bytes are reported, not mixed into the next
  // command's output.
  EXPECT_EQ(m.succeed("(sleep 1; echo late) & echo early"), "early\n");
  m.sleep(2s);
  EXPECT_EQ(m.succeed("echo next"), "next\n");
  // One that writes while a later command runs: the later command's output is its own, and the
  // job's line reaches the console instead.
  EXPECT_EQ(m.succeed("(sleep 1; echo during-the-next) & echo early"), "early\n");
  EXPECT_EQ(m.succeed("sleep 3; echo mine"), "mine\n");
  m.wait_for_console_text("during-the-next", 10s);
  EXPECT_EQ(m.succeed("echo still in step"), "still in step\n");
}

ATTEST_TEST(guest_timeout_gives_status_124) {
  start_all();
  auto& m = machine("machine");
  m.connect();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = m.execute("echo started; sleep 60", 2s);
  EXPECT_EQ(r.status, 124);
  EXPECT_EQ(r.output, "started\n");
  EXPECT_LT(attest::vmtest::seconds_since(t0), 10.0);
  EXPECT_EQ(m.succeed("echo ok", 5s), "ok\n");
  EXPECT_THAT([&] { m.succeed("sleep 60", 1s); },
              ::testing::ThrowsMessage<attest::CommandFailed>(
                  HasSubstr("(exit code 124: it ran out of its 1s timeout)")));
}

ATTEST_TEST(a_failed_command_says_where_its_stderr_went) {
  start_all();
  auto& m = machine("machine");
  EXPECT_THAT([&] { m.succeed("attest-no-such-program"); },
              ::testing::ThrowsMessage<attest::CommandFailed>(::testing::AllOf(
                  HasSubstr("failed (exit code 127: a program it runs is not installed in the "
                            "guest)"),
                  HasSubstr("its stderr is not captured: it went to the guest's serial console, "
                            "the 'machine # ' lines of the log and "),
                  HasSubstr("machine.console.log)"))));
  // The stderr is where the message says.
  m.wait_for_console_text("attest-no-such-program");
}

ATTEST_TEST(host_deadline_then_resync) {
  start_all();
  auto& m = machine("machine");
  m.succeed("true");
  // Freeze the VM: the guest cannot answer, so only the host deadline can end the command.
  const int pid = attest::vmtest::vmm_pid(m);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THAT(
      [&] { (void)m.execute("echo first", 1s); },
      ::testing::ThrowsMessage<attest::TimeoutError>(HasSubstr("did not finish within 1s")));
  EXPECT_LT(attest::vmtest::seconds_since(t0), 20.0);
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  // The abandoned command ends first; its output does not leak into this one.
  EXPECT_EQ(m.succeed("echo second"), "second\n");
  EXPECT_EQ(m.succeed("echo third"), "third\n");
}

ATTEST_TEST(failures_point_at_the_calling_line) {
  start_all();
  auto& m = machine("machine");
  int line = 0;
  try {
    line = __LINE__ + 1;
    m.succeed("echo some output; exit 4");
    FAIL() << "succeed did not throw";
  } catch (const attest::CommandFailed& e) {
    EXPECT_EQ(e.where().line(), static_cast<unsigned>(line));
    EXPECT_THAT(e.where().file_name(), HasSubstr("shell_test.cpp"));
    EXPECT_EQ(e.status(), 4);
    EXPECT_EQ(e.output(), "some output\n");
    EXPECT_EQ(e.machine(), "machine");
    EXPECT_THAT(
        e.what(),
        HasSubstr("machine 'machine': command `echo some output; exit 4` failed (exit code 4)"));
  }
  EXPECT_THAT([&] { m.fail("true"); },
              ::testing::ThrowsMessage<attest::CommandFailed>(HasSubstr("unexpectedly succeeded")));
  EXPECT_EQ(m.fail("echo out; false"), "out\n");
}
