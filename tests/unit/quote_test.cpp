// shell_quote, the one quoting function every interpolated shell argument goes through, against
// hostile strings: bash must get back exactly the bytes that went in, and run none of them.
#include <gmock/gmock.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "attest/machine.hpp"

namespace {

namespace fs = std::filesystem;

/// What `bash -c SCRIPT` prints, with the working directory `dir`. bash is the one on PATH: the
/// Nix build sandbox, which runs the unit suite, has no /bin/bash.
std::string bash_output(const std::string& script, const fs::path& dir) {
  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::close(out[1]);
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    ::execlp("bash", "bash", "-c", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, n);
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("bash failed on a script of " + std::to_string(script.size()) +
                             " bytes");
  return text;
}

std::vector<std::string> hostile_strings() {
  std::vector<std::string> v = {"",
                                " ",
                                "'",
                                "''",
                                "\"",
                                "\\",
                                "\\'",
                                "$HOME",
                                "${HOME}",
                                "$(touch pwned)",
                                "`touch pwned`",
                                "'$(touch pwned)'",
                                "\"$(touch pwned)\"",
                                "a b\tc\nd",
                                "*",
                                "?",
                                "[a]",
                                "~",
                                "-n",
                                "--",
                                "-e \\x41",
                                "!",
                                "!!",
                                ";",
                                "&& touch pwned",
                                "| touch pwned",
                                "> pwned",
                                "< /etc/passwd",
                                "# comment",
                                "%s %d",
                                "$'\\x41'",
                                "\x01\x02\x1b[31m\x1f\x7f",
                                "é ü 日本",
                                "\xff\xfe\x80",
                                "trailing newline\n",
                                "it's a \"test\" of $every `kind` \\of thing"};
  // 20 000 quotes: 80 000 bytes quoted, within one argument's 128 KiB limit of exec.
  v.push_back(std::string(20000, '\''));
  std::string all_bytes;
  for (int c = 1; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  v.push_back(all_bytes);
  return v;
}

TEST(shell_quote, bash_gets_back_every_hostile_string_exactly_and_runs_nothing) {
  const auto dir = fs::path(::testing::TempDir()) / ("attest-quote-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const auto& s : hostile_strings()) {
    SCOPED_TRACE(::testing::PrintToString(s.size() > 80 ? s.substr(0, 80) + "..." : s));
    EXPECT_EQ(bash_output("printf %s " + attest::shell_quote(s), dir), s);
    // As one word among others, and inside a command substitution.
    EXPECT_EQ(bash_output("set -- x " + attest::shell_quote(s) + " y; printf %s \"$2\"", dir), s);
    EXPECT_EQ(bash_output("v=$(printf %s " + attest::shell_quote(s) +
                              "; echo .); printf %s "
                              "\"${v%.}\"",
                          dir),
              s);
  }
  EXPECT_FALSE(fs::exists(dir / "pwned")) << "a quoted string ran a command";
  fs::remove_all(dir);
}

}  // namespace
