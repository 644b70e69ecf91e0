// The pure parts of the screen and keyboard: NixOS's character map and key-name parsing, the OCR
// tools' arguments, screenshot paths, the tty command and the xwininfo parser.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>

#include "core/keys.hpp"
#include "core/ocr.hpp"
#include "core/screen.hpp"
#include "coro.hpp"

namespace attest::detail {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

KeyPart qcode(std::string name) {
  KeyPart k;
  k.qcode = std::move(name);
  return k;
}

KeyPart number(unsigned n) {
  KeyPart k;
  k.is_number = true;
  k.number = n;
  return k;
}

TEST(KeysTest, CharactersMapAsNixosCharToKey) {
  EXPECT_EQ(key_for_char('a'), "a");
  EXPECT_EQ(key_for_char('7'), "7");
  EXPECT_EQ(key_for_char('A'), "shift-a");
  EXPECT_EQ(key_for_char('Z'), "shift-z");
  EXPECT_EQ(key_for_char('\n'), "ret");
  EXPECT_EQ(key_for_char(' '), "spc");
  EXPECT_EQ(key_for_char('-'), "0x0C");
  EXPECT_EQ(key_for_char('_'), "shift-0x0C");
  EXPECT_EQ(key_for_char('/'), "0x35");
  EXPECT_EQ(key_for_char('?'), "shift-0x35");
  EXPECT_EQ(key_for_char('"'), "shift-0x28");
  EXPECT_EQ(key_for_char('\''), "0x28");
  EXPECT_EQ(key_for_char('|'), "shift-0x2B");
  EXPECT_EQ(key_for_char('!'), "shift-0x02");
  EXPECT_EQ(key_for_char(')'), "shift-0x0B");
  EXPECT_EQ(key_for_char('\t'), "tab");
}

TEST(KeysTest, EveryPrintableAsciiCharacterHasAKey) {
  for (char c = 0x20; c < 0x7f; ++c) EXPECT_NO_THROW(parse_key_combo(key_for_char(c))) << c;
}

TEST(KeysTest, UntypeableCharactersAreRejectedByName) {
  try {
    (void)key_for_char('\x01');
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("0x01"));
  }
  EXPECT_THROW((void)key_for_char('\xe9'), std::invalid_argument);
}

TEST(KeysTest, SendKeyTranslatesSingleCharactersOnly) {
  EXPECT_EQ(normalize_key("A"), "shift-a");
  EXPECT_EQ(normalize_key("-"), "0x0C");
  EXPECT_EQ(normalize_key("a"), "a");
  EXPECT_EQ(normalize_key("ctrl-alt-delete"), "ctrl-alt-delete");
  EXPECT_EQ(normalize_key("ret"), "ret");
}

TEST(KeysTest, CombinationsSplitOnDashIntoQcodesAndScancodes) {
  EXPECT_THAT(parse_key_combo("ctrl-alt-delete"),
              ElementsAre(qcode("ctrl"), qcode("alt"), qcode("delete")));
  EXPECT_THAT(parse_key_combo("shift-0x0C"), ElementsAre(qcode("shift"), number(0x0c)));
  EXPECT_THAT(parse_key_combo("0x2B"), ElementsAre(number(0x2b)));
  EXPECT_THAT(parse_key_combo("ret"), ElementsAre(qcode("ret")));
  EXPECT_THAT(parse_key_combo("1"), ElementsAre(qcode("1")));
  EXPECT_THAT(parse_key_combo("alt-f2"), ElementsAre(qcode("alt"), qcode("f2")));
  EXPECT_THAT(parse_key_combo("kp_add"), ElementsAre(qcode("kp_add")));
}

TEST(KeysTest, MalformedCombinationsAreRejected) {
  EXPECT_THROW((void)parse_key_combo(""), std::invalid_argument);
  EXPECT_THROW((void)parse_key_combo("ctrl-"), std::invalid_argument);
  EXPECT_THROW((void)parse_key_combo("ctrl--a"), std::invalid_argument);
  EXPECT_THROW((void)parse_key_combo("Ctrl"), std::invalid_argument);
  EXPECT_THROW((void)parse_key_combo("0xZZ"), std::invalid_argument);
  EXPECT_THROW((void)parse_key_combo("0x10000"), std::invalid_argument);
  try {
    (void)parse_key_combo("ctrl-Alt");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("'Alt' in key name 'ctrl-Alt'"));
  }
}

TEST(OcrTest, TesseractPrintsSparseTextOnStdout) {
  EXPECT_THAT(tesseract_args("/s/shot.png"), ElementsAre("/s/shot.png", "-", "--oem", "3", "--psm",
                                                         "11", "-c", "debug_file=/dev/null"));
}

TEST(OcrTest, PreprocessingScalesUpGrayscalesAndNormalises) {
  const auto positive = preprocess_args("/s/in.png", "/s/in.positive.png", false);
  ASSERT_GE(positive.size(), 3u);
  EXPECT_EQ(positive.front(), "/s/in.png");
  EXPECT_EQ(positive.back(), "/s/in.positive.png");
  std::string joined;
  for (const auto& a : positive) joined += a + " ";
  EXPECT_THAT(joined, HasSubstr("-resize 400%"));
  EXPECT_THAT(joined, HasSubstr("-colorspace Gray"));
  EXPECT_THAT(joined, HasSubstr("-normalize"));
  EXPECT_THAT(joined, HasSubstr("-contrast"));
  EXPECT_THAT(joined, ::testing::Not(HasSubstr("-negate")));

  const auto negative = preprocess_args("/s/in.png", "/s/in.negative.png", true);
  EXPECT_EQ(negative.size(), positive.size() + 1);
  EXPECT_EQ(negative[negative.size() - 2], "-negate");
  EXPECT_EQ(negative.back(), "/s/in.negative.png");
}

TEST(OcrTest, AMissingToolIsNamedWithItsPackage) {
  const char* path = std::getenv("PATH");
  const std::string saved = path != nullptr ? path : "";
  ::setenv("PATH", "/nonexistent-attest-test", 1);
  std::string error;
  testing_support::run([&](asio::io_context&) -> awaitable<void> {
    try {
      (void)co_await ocr_screenshot("/nonexistent/shot.png", true, std::chrono::seconds(5));
    } catch (const OcrError& e) {
      error = e.what();
    }
  });
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_THAT(error, HasSubstr("the host has no 'tesseract' in PATH (install tesseract-ocr)"));
}

TEST(ScreenTest, ScreenshotPathsFollowNixosRules) {
  const std::filesystem::path out = "/out";
  EXPECT_EQ(screenshot_path("login", out), "/out/login.png");
  EXPECT_EQ(screenshot_path("login.jpg", out), "/out/login.jpg");
  EXPECT_EQ(screenshot_path("/tmp/x", out), "/tmp/x.png");
  EXPECT_EQ(screenshot_path("sub/x.png", out), "sub/x.png");
}

TEST(ScreenTest, TtyTextFoldsTheVcsAtTheConsoleWidth) {
  EXPECT_EQ(tty_text_command(3), "fold -w$(stty -F /dev/tty3 size | awk '{print $2}') /dev/vcs3");
}

TEST(ScreenTest, XReadinessNamesWhatIsMissing) {
  const auto cmd = x_ready_command();
  EXPECT_THAT(cmd, HasSubstr("Reached target Current graphical"));
  EXPECT_THAT(cmd, HasSubstr("/tmp/.X11-unix/X0"));
  EXPECT_THAT(cmd, HasSubstr("journalctl -b SYSLOG_IDENTIFIER=systemd"));
}

TEST(ScreenTest, WindowNamesComeFromXwininfoTrees) {
  const std::string tree = R"(
xwininfo: Window id: 0x1d6 (the root window) (has no name)

  Root window id: 0x1d6 (the root window) (has no name)
  Parent window id: 0x0 (none)
     6 children:
     0x1e00001 "xterm": ("xterm" "XTerm")  484x316+0+0  +0+0
        1 child:
        0x1e0000e (has no name): ()  1x1+-1+-1  +-1+-1
     0x800010 "Firefox — Mozilla": ("Navigator" "firefox")  10x10+10+10  +10+10
     0x400001 (has no name): ()  10x10+0+0  +0+0
     0x600003 "": ()  1x1+0+0  +0+0
     0x200007 "icewm": ("icewm" "IceWM")  1x1+0+0  +0+0
)";
  EXPECT_THAT(parse_window_names(tree), ElementsAre("xterm", "Firefox — Mozilla", "", "icewm"));
  EXPECT_TRUE(parse_window_names("").empty());
}

}  // namespace
}  // namespace attest::detail
