// VM tests of the waiting methods, the console, sleep and file copies.
#include <gmock/gmock.h>

#include <fstream>
#include <random>

#include "attest/driver.hpp"
#include "attest/test.hpp"
#include "vm_util.hpp"

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using namespace std::chrono_literals;
using attest::vmtest::seconds_since;

ATTEST_TEST(wait_until_succeeds_and_fails) {
  start_all();
  auto& m = machine("machine");
  m.succeed("(sleep 2; touch /tmp/ready) >/dev/null 2>&1 &");
  EXPECT_EQ(m.wait_until_succeeds("test -e /tmp/ready && echo there", 30s), "there\n");
  m.succeed("(sleep 2; rm /tmp/ready) >/dev/null 2>&1 &");
  m.wait_until_fails("test -e /tmp/ready", 30s);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THAT([&] { m.wait_until_succeeds("echo nope; false", 3s); },
              ThrowsMessage<attest::TimeoutError>(
                  AllOf(HasSubstr("wait_until_succeeds(echo nope; false): timed out after 3s"),
                        HasSubstr("last exit status 1, last output: nope"))));
  EXPECT_LT(seconds_since(t0), 8.0);
}

ATTEST_TEST(wait_for_file) {
  start_all();
  auto& m = machine("machine");
  m.succeed("(sleep 1; touch '/tmp/a file') >/dev/null 2>&1 &");
  m.wait_for_file("/tmp/a file", 30s);
  EXPECT_THAT([&] { m.wait_for_file("/tmp/never", 2s); },
              ThrowsMessage<attest::TimeoutError>(HasSubstr("file /tmp/never to exist")));
}

ATTEST_TEST(wait_for_ports) {
  start_all();
  auto& m = machine("machine");
  m.succeed("mkdir -p /tmp/www; (sleep 1; httpd -p 8080 -h /tmp/www) >/dev/null 2>&1 &");
  m.wait_for_open_port(8080, "localhost", 30s);
  m.wait_for_open_port(8080, "127.0.0.1", 30s);
  m.succeed("killall httpd");
  m.wait_for_closed_port(8080, "localhost", 30s);
  EXPECT_THAT([&] { m.wait_for_open_port(8081, "localhost", 2s); },
              ThrowsMessage<attest::TimeoutError>(
                  HasSubstr("TCP port 8081 on localhost to accept connections")));
}

ATTEST_TEST(wait_for_unix_sockets) {
  start_all();
  auto& m = machine("machine");
  m.succeed("(sleep 1; nc -lkU /tmp/stream.sock) >/dev/null 2>&1 &");
  m.wait_for_open_unix_socket("/tmp/stream.sock", false, 30s);
  m.succeed("(nc -lkuU /tmp/dgram.sock) >/dev/null 2>&1 &");
  m.wait_for_open_unix_socket("/tmp/dgram.sock", true, 30s);
  EXPECT_THAT([&] { m.wait_for_open_unix_socket("/tmp/none.sock", false, 2s); },
              ThrowsMessage<attest::TimeoutError>(HasSubstr("unix stream socket /tmp/none.sock")));
}

ATTEST_TEST(console_text_and_log) {
  start_all();
  auto& m = machine("machine");
  m.succeed("echo hello-console-1 >&2");
  m.wait_for_console_text("hello-console-\\d", 30s);
  EXPECT_THAT(m.get_console_log(), HasSubstr("hello-console-1"));
  // Consumed text does not match again; new text does.
  EXPECT_THAT([&] { m.wait_for_console_text("hello-console-1", 1s); },
              ThrowsMessage<attest::TimeoutError>(HasSubstr("no match within 1s")));
  m.succeed("(sleep 1; echo later-line >/dev/ttyS0) >/dev/null 2>&1 &");
  m.wait_for_console_text("later-line", 30s);
  EXPECT_THAT([&] { m.wait_for_console_text("([", 1s); },
              ThrowsMessage<attest::Error>(HasSubstr("invalid regular expression")));
  std::ifstream log(driver().output_dir() / "machine.console.log");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("later-line"));
}

ATTEST_TEST(sleep_passes_in_the_guest) {
  start_all();
  auto& m = machine("machine");
  m.connect();
  const auto t0 = std::chrono::steady_clock::now();
  m.sleep(1500ms);
  EXPECT_GE(seconds_since(t0), 1.4);
}

ATTEST_TEST(copy_files_both_ways) {
  start_all();
  auto& m = machine("machine");
  std::string data;
  std::mt19937 rng(42);
  for (int i = 0; i < 200000; ++i) data.push_back(static_cast<char>(rng()));
  const auto host_file = std::filesystem::path(::testing::TempDir()) / "attest-copy-in.bin";
  std::ofstream(host_file, std::ios::binary) << data;
  m.copy_from_host_via_shell(host_file, "/tmp/copied.bin");
  EXPECT_EQ(m.succeed("cat /tmp/copied.bin"), data);
  EXPECT_THAT([&] { m.copy_from_host_via_shell("/nonexistent/file", "/tmp/x"); },
              ThrowsMessage<attest::Error>(HasSubstr("cannot read /nonexistent/file")));

  const auto out = m.copy_from_vm("/tmp/copied.bin", "copies");
  EXPECT_EQ(out, driver().output_dir() / "copies" / "copied.bin");
  std::ifstream in(out, std::ios::binary);
  std::stringstream back;
  back << in.rdbuf();
  EXPECT_EQ(back.str(), data);

  m.succeed("mkdir -p /tmp/tree/sub && echo a > /tmp/tree/a && echo b > /tmp/tree/sub/b");
  const auto tree = m.copy_from_machine("/tmp/tree");
  EXPECT_TRUE(std::filesystem::is_regular_file(tree / "a"));
  EXPECT_TRUE(std::filesystem::is_regular_file(tree / "sub" / "b"));
  EXPECT_THAT(
      [&] { m.copy_from_vm("/nonexistent"); },
      ThrowsMessage<attest::CommandFailed>(HasSubstr("cannot read /nonexistent in the guest")));
}
