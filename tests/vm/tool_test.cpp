// `attest shell` as a user meets it: on a pseudo-terminal, typing commands with line editing and
// history, reading their output back, snapshotting and restoring, and leaving with no VMM behind.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "attest/machine.hpp"
#include "vm_util.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

/// A child process on the master side of a pseudo-terminal: what it writes is collected, and
/// expect() waits for text to appear after what was already consumed.
class Terminal {
 public:
  explicit Terminal(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    struct winsize size {};
    size.ws_row = 40;
    size.ws_col = 200;
    pid_ = ::forkpty(&master_, nullptr, nullptr, &size);
    if (pid_ == 0) {
      ::setenv("TERM", "xterm", 1);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    if (pid_ < 0) ADD_FAILURE() << "forkpty: " << std::strerror(errno);
  }
  ~Terminal() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) ::close(master_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& seen() const { return seen_; }

  /// Types `keys` once the program reads keys itself (see wait_raw_mode), so that editing keys
  /// reach libedit rather than the terminal's line discipline.
  void type(std::string_view keys) {
    ASSERT_TRUE(wait_raw_mode()) << "the shell did not start reading keys: " << seen_;
    while (!keys.empty()) {
      const ssize_t n = ::write(master_, keys.data(), keys.size());
      if (n < 0 && errno == EINTR) continue;
      ASSERT_GT(n, 0) << std::strerror(errno);
      keys.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// Waits until `text` appears after the cursor, then moves the cursor past it.
  bool expect(std::string_view text, std::chrono::seconds timeout = 120s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (const auto at = seen_.find(text, cursor_); at != std::string::npos) {
        cursor_ = at + text.size();
        return true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms || !read_some(left)) return false;
    }
  }

  /// Waits until the program reads keys one by one (libedit's raw mode, not the terminal's line
  /// mode): a Ctrl-D typed before that is taken by the line discipline and can be lost when
  /// libedit switches modes. On Linux the master side reports the terminal's modes.
  bool wait_raw_mode(std::chrono::seconds timeout = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      termios modes{};
      if (::tcgetattr(master_, &modes) == 0 && (modes.c_lflag & ICANON) == 0) return true;
      read_some(20ms);
    }
    return false;
  }

  /// Waits for the child to exit; returns its exit status, or -1 on timeout.
  int wait_exit(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      read_some(100ms);
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    return -1;
  }

 private:
  bool read_some(std::chrono::milliseconds timeout) {
    pollfd p{master_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buffer[4096];
    const ssize_t n = ::read(master_, buffer, sizeof buffer);
    if (n <= 0) return false;  // EIO once the child has closed the terminal
    seen_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  int master_ = -1;
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string seen_;
  std::size_t cursor_ = 0;
};

std::string tool() {
  const char* v = std::getenv("ATTEST_TOOL");
  return v != nullptr ? v : "attest";
}

std::string config_path() {
  const char* v = std::getenv("ATTEST_CONFIG");
  return v != nullptr ? v : "";
}

TEST(attest_shell, runs_commands_typed_on_a_terminal_with_editing_history_and_snapshots) {
  const fs::path out = fs::path(::testing::TempDir()) / "attest-shell-out";
  fs::remove_all(out);
  const fs::path history = out / "history";
  Terminal t({tool(), "shell", "--output-dir", out.string(), "--history", history.string(),
              config_path()});
  const std::string prompt = "attest(machine)> ";
  ASSERT_TRUE(t.expect(prompt)) << t.seen();

  // The command runs in the guest: the shell arithmetic is the guest bash's.
  t.type("echo pty-$((6*7))\r");
  ASSERT_TRUE(t.expect("(machine is up after")) << t.seen();
  ASSERT_TRUE(t.expect("\r\npty-42\r\n")) << t.seen();
  ASSERT_TRUE(t.expect(prompt)) << t.seen();

  // Line editing: a backspace takes back the last character typed.
  t.type(
      "echo abc\x7f"
      "d\r");
  ASSERT_TRUE(t.expect("\r\nabd\r\n")) << t.seen();
  ASSERT_TRUE(t.expect(prompt)) << t.seen();
  // History: the up arrow brings the last line back.
  t.type("\x1b[A\r");
  ASSERT_TRUE(t.expect("\r\nabd\r\n")) << t.seen();
  ASSERT_TRUE(t.expect(prompt)) << t.seen();

  // A failing command shows its status; a bad ':' command an error, and the session goes on.
  t.type("false\r");
  ASSERT_TRUE(t.expect("[exit status 1; stderr goes to the serial console: ':serial on' shows it]"))
      << t.seen();
  t.type(":use nosuch\r");
  ASSERT_TRUE(t.expect("error: driver: there is no machine named 'nosuch'")) << t.seen();
  ASSERT_TRUE(t.expect(prompt)) << t.seen();

  // Snapshot, change the guest, restore: the change is gone.
  t.type(":snapshot before\r");
  ASSERT_TRUE(t.expect("saved snapshot 'before' of machine")) << t.seen();
  t.type("touch /tmp/marker && echo made=$?\r");
  ASSERT_TRUE(t.expect("\r\nmade=0\r\n")) << t.seen();
  t.type(":restore before\r");
  ASSERT_TRUE(t.expect("machine is back at snapshot 'before'")) << t.seen();
  t.type("test -e /tmp/marker && echo marker=kept || echo marker=gone\r");
  ASSERT_TRUE(t.expect("\r\nmarker=gone\r\n")) << t.seen();

  t.type(":screenshot shot\r");
  ASSERT_TRUE(t.expect((out / "shot.png").string())) << t.seen();
  EXPECT_GT(fs::file_size(out / "shot.png"), 0u);

  // Ctrl-D leaves; the machines are halted and their state removed.
  ASSERT_TRUE(t.expect(prompt)) << t.seen();
  t.type("\x04");
  EXPECT_EQ(t.wait_exit(60s), 0) << t.seen();
  EXPECT_THAT(t.seen(), HasSubstr("halting the machines"));
  EXPECT_EQ(attest::vmtest::count_processes(fmt::format("attest-{}-", t.pid())), 0);
  // The history file holds the lines typed (libedit's format writes a space as \040).
  std::ifstream in(history);
  const std::string saved{std::istreambuf_iterator<char>(in), {}};
  EXPECT_THAT(saved, HasSubstr(R"(echo\040abd)"));
  EXPECT_THAT(saved, HasSubstr(R"(:snapshot\040before)"));
}

/// Runs `attest shell` with `input` on standard input (a pipe: no prompt, no line editing) and
/// returns what it printed.
std::string shell_session(const std::vector<std::string>& options, const std::string& input) {
  const fs::path dir = ::testing::TempDir();
  const fs::path in = dir / "shell-input", out = dir / "shell-output";
  std::ofstream(in, std::ios::trunc) << input;
  std::string command = attest::shell_quote(tool()) + " shell";
  for (const auto& o : options) command += " " + attest::shell_quote(o);
  command += fmt::format(" < {} > {} 2>&1", attest::shell_quote(in.string()),
                         attest::shell_quote(out.string()));
  const int status = std::system(command.c_str());
  std::ifstream got(out);
  std::string text{std::istreambuf_iterator<char>(got), {}};
  EXPECT_EQ(status, 0) << text;
  return text;
}

TEST(attest_shell, keeps_a_machines_disk_between_sessions_when_asked) {
  // The minimal guest with a fresh disk (/dev/vda), written raw in one session and read back in
  // the next. The VMM is killed when the shell ends, so the write is flushed (fsync) first.
  const attest::MachineConfig m = attest::vmtest::minimal_config().machines.at(0);
  const fs::path config = attest::vmtest::temp_file(
      "keep.json", fmt::format(R"({{"machines": [{{"name": "machine", "kernel": "{}",
        "initrd": "{}", "cmdline": "{}", "memory_mib": {}, "disks": [{{"size_mib": 8}}]}}]}})",
                               m.kernel.string(), m.initrd.string(), m.cmdline, m.memory_mib));
  const fs::path out = fs::path(::testing::TempDir()) / "attest-keep-out";
  fs::remove_all(out);
  const std::vector<std::string> keep = {"--keep-machine-state", "--output-dir", out.string(),
                                         config.string()};
  const std::string write_it =
      "printf kept-%s 42 | dd of=/dev/vda conv=notrunc,fsync 2>/dev/null && echo wrote\n:quit\n";
  const std::string read_it = "echo \"disk=$(head -c 7 /dev/vda)\"\n";
  EXPECT_THAT(shell_session(keep, write_it), HasSubstr("wrote"));
  const fs::path kept = out / "machine-state" / "machine";
  ASSERT_TRUE(fs::is_directory(kept));
  EXPECT_EQ(fs::status(kept).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_THAT(shell_session(keep, read_it), HasSubstr("disk=kept-42"));
  // Without the option, each session starts from a blank disk.
  const std::string fresh = shell_session({"--output-dir", out.string(), config.string()}, read_it);
  EXPECT_THAT(fresh, HasSubstr("disk="));
  EXPECT_THAT(fresh, Not(HasSubstr("kept-42")));
}

}  // namespace
