// VM tests of the screen, keyboard and consoles on the minimal guest (TCG): screenshots, OCR,
// typing on tty1, the virtual consoles' text, the QEMU monitor and its events, the serial
// console's input, and the X helpers against a fake xwininfo. One boot for all of them: the
// subtests share the machine.
#include <gmock/gmock.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>

#include "attest/driver.hpp"
#include "attest/test.hpp"
#include "vm_util.hpp"

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using namespace std::chrono_literals;
using attest::vmtest::seconds_since;

namespace {

std::uint32_t big_endian(const std::string& bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

/// A realistic `xwininfo -root -tree` of a small X session.
constexpr const char* fake_xwininfo = R"(#!/bin/sh
echo "$DISPLAY" > /tmp/xwininfo-display
cat <<'TREE'

xwininfo: Window id: 0x1d6 (the root window) (has no name)

  Root window id: 0x1d6 (the root window) (has no name)
  Parent window id: 0x0 (none)
     3 children:
     0x1e00001 "xterm": ("xterm" "XTerm")  484x316+0+0  +0+0
        1 child:
        0x1e0000e (has no name): ()  1x1+-1+-1  +-1+-1
     0x800010 "Mines": ("mines" "Mines")  300x400+10+10  +10+10
     0x400001 (has no name): ()  10x10+0+0  +0+0

TREE
)";

}  // namespace

// Validation happens before anything is sent, so a bad key needs no VM.
ATTEST_TEST(bad_keys_are_rejected_before_typing) {
  auto& m = machine("machine");
  EXPECT_THAT([&] { m.send_key("Ctrl-x"); },
              ThrowsMessage<attest::Error>(AllOf(HasSubstr("machine 'machine': send_key(Ctrl-x)"),
                                                 HasSubstr("not a QEMU key name"))));
  EXPECT_THAT([&] { m.send_chars("ok\x01"); },
              ThrowsMessage<attest::Error>(HasSubstr("no key types the character (0x01)")));
  EXPECT_FALSE(m.is_up());
}

ATTEST_TEST(screen_keyboard_and_consoles) {
  start_all();
  auto& m = machine("machine");
  ASSERT_TRUE(m.has(attest::Capability::screenshot));
  ASSERT_TRUE(m.has(attest::Capability::send_key));

  subtest("the root shell on tty1 shows its prompt", [&] {
    m.wait_until_tty_matches(1, "# ", 120s);
    EXPECT_THAT(m.get_tty_text(1), HasSubstr("#"));
  });

  subtest("send_chars types on tty1", [&] {
    const auto t0 = std::chrono::steady_clock::now();
    m.send_chars("touch /tmp/typed\n");
    m.wait_for_file("/tmp/typed", 60s);
    m.log("send_chars of 17 keys and the file appeared in " + std::to_string(seconds_since(t0)) +
          " s");
    // Shifted letters and punctuation go through NixOS's map.
    m.send_chars("echo Hello-World_1 > /tmp/typed2\n");
    m.wait_until_succeeds("grep -qx Hello-World_1 /tmp/typed2", 60s);
    m.send_key("ctrl-l");  // clears the screen in ash's line editor; must be accepted
  });

  subtest("get_tty_text reads what tty1 shows", [&] {
    m.succeed("printf '\\033c' >/dev/tty1; echo ATTEST-TTY-7 >/dev/tty1");
    const auto text = m.get_tty_text(1);
    EXPECT_THAT(text, HasSubstr("ATTEST-TTY-7"));
    // Folded at the console's width (80 columns in VGA text mode), one line per row.
    EXPECT_GE(std::count(text.begin(), text.end(), '\n'), 24);
    m.wait_until_tty_matches(1, "ATTEST-TTY-[0-9]", 30s);
    EXPECT_THAT([&] { m.wait_until_tty_matches(1, "NEVER-THERE", 2s); },
                ThrowsMessage<attest::TimeoutError>(
                    AllOf(HasSubstr("machine 'machine': wait_until_tty_matches(1, /NEVER-THERE/)"),
                          HasSubstr("ATTEST-TTY-7"))));
    EXPECT_THROW(m.get_tty_text(0), attest::Error);
  });

  subtest("screenshot writes a PNG into the output directory", [&] {
    const auto t0 = std::chrono::steady_clock::now();
    const auto png = m.screenshot("screen");
    m.log("screenshot took " + std::to_string(seconds_since(t0)) + " s");
    EXPECT_EQ(png, driver().output_dir() / "screen.png");
    std::ifstream in(png, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GE(bytes.size(), 33u);
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_EQ(bytes.substr(12, 4), "IHDR");
    // VGA text mode: 80x25 cells of 9x16 pixels.
    EXPECT_EQ(big_endian(bytes, 16), 720u);
    EXPECT_EQ(big_endian(bytes, 20), 400u);
  });

  subtest("OCR reads the screen", [&] {
    m.succeed("printf '\\033c' >/dev/tty1; echo ATTEST-OCR-42 >/dev/tty1");
    auto t0 = std::chrono::steady_clock::now();
    const auto variants = m.get_screen_text_variants();
    m.log("get_screen_text_variants took " + std::to_string(seconds_since(t0)) + " s");
    ASSERT_EQ(variants.size(), 3u);
    EXPECT_TRUE(std::any_of(variants.begin(), variants.end(), [](const std::string& t) {
      return t.find("ATTEST-OCR-42") != std::string::npos;
    })) << ::testing::PrintToString(variants);
    t0 = std::chrono::steady_clock::now();
    EXPECT_THAT(m.get_screen_text(), HasSubstr("OCR"));
    m.log("get_screen_text took " + std::to_string(seconds_since(t0)) + " s");
    t0 = std::chrono::steady_clock::now();
    m.wait_for_text("ATTEST-OCR-4[0-9]", 120s);
    m.log("wait_for_text took " + std::to_string(seconds_since(t0)) + " s");
    EXPECT_THAT([&] { m.wait_for_text("NOT-ON-THE-SCREEN", 1s); },
                ThrowsMessage<attest::TimeoutError>(
                    AllOf(HasSubstr("machine 'machine': wait_for_text(/NOT-ON-THE-SCREEN/)"),
                          HasSubstr("OCR-42"))));
  });

  subtest("the QEMU monitor and its events", [&] {
    EXPECT_THAT(m.send_monitor_command("info status"), HasSubstr("running"));
    const auto before = std::chrono::system_clock::now();
    m.send_monitor_command("stop");
    int seen = 0;
    const auto stop = m.wait_for_qmp_event(
        [&](const attest::QmpEvent& e) {
          ++seen;
          return e.event == "STOP";
        },
        30s);
    EXPECT_EQ(stop.event, "STOP");
    EXPECT_EQ(stop.data, "{}");
    EXPECT_GE(stop.timestamp, before - 5s);
    EXPECT_GE(seen, 1);
    EXPECT_THAT(m.send_monitor_command("info status"), HasSubstr("paused"));
    m.send_monitor_command("cont");
    // The RESUME arrived before this call: it still counts.
    const auto resume =
        m.wait_for_qmp_event([](const attest::QmpEvent& e) { return e.event == "RESUME"; }, 30s);
    EXPECT_EQ(resume.event, "RESUME");
    EXPECT_GE(resume.timestamp, stop.timestamp);
    EXPECT_THAT([&] { m.wait_for_qmp_event([](const attest::QmpEvent&) { return false; }, 1s); },
                ThrowsMessage<attest::TimeoutError>(HasSubstr(
                    "machine 'machine': wait_for_qmp_event: no matching QMP event within 1s")));
    EXPECT_EQ(m.succeed("echo alive"), "alive\n");
  });

  subtest("send_console writes to the serial port", [&] {
    m.succeed("(timeout 60 head -n 1 /dev/ttyS0 >/tmp/console-in) </dev/null >/dev/null 2>&1 &");
    m.wait_until_succeeds("pidof head", 30s);
    m.send_console("from-the-host\n");
    m.wait_until_succeeds("grep -qx from-the-host /tmp/console-in", 30s);
  });

  subtest("dump_tty_contents", [&] {
    // Without systemd-cat (this guest) the text goes to the test log; with it, to the journal.
    m.dump_tty_contents(1);
    m.succeed(
        "printf '#!/bin/sh\\ncat >/tmp/journal\\n' >/usr/bin/systemd-cat && "
        "chmod +x /usr/bin/systemd-cat");
    m.dump_tty_contents(1);
    EXPECT_THAT(m.succeed("cat /tmp/journal"), HasSubstr("ATTEST-OCR-42"));
  });

  subtest("X windows through xwininfo", [&] {
    EXPECT_THAT([&] { (void)m.get_window_names(); },
                ThrowsMessage<attest::CommandFailed>(
                    AllOf(HasSubstr("machine 'machine': get_window_names"),
                          HasSubstr("xwininfo is not installed in the guest"))));
    m.succeed("cat >/usr/bin/xwininfo <<'EOF'\n" + std::string(fake_xwininfo) +
              "EOF\nchmod +x /usr/bin/xwininfo");
    EXPECT_THAT(m.get_window_names(), ElementsAre("xterm", "Mines"));
    EXPECT_EQ(m.succeed("cat /tmp/xwininfo-display"), ":0\n");
    m.wait_for_window("^Mi", 30s);
    EXPECT_THAT([&] { m.wait_for_window("firefox", 2s); },
                ThrowsMessage<attest::TimeoutError>(
                    AllOf(HasSubstr("machine 'machine': wait_for_window(/firefox/)"),
                          HasSubstr("windows: xterm, Mines"))));
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_THAT([&] { m.wait_for_x(2s); },
                ThrowsMessage<attest::TimeoutError>(
                    AllOf(HasSubstr("machine 'machine': wait_for_x: timed out after 2s"),
                          HasSubstr("the guest has no journalctl"))));
    EXPECT_LT(seconds_since(t0), 15.0);
  });
}
