// The shell protocol against a real bash on the host standing in for the guest's backdoor (the
// same `bash --norc <channel>` NixOS runs, with the channel a socket pair), so the framing, the
// setup, resync and shell-exit detection are tested in milliseconds, without a VM.
#include "shell/shell.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>

#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coro.hpp"
#include "files.hpp"

extern char** environ;

namespace attest::shell {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

/// A bash "guest" on the far end of a socket pair.
class HostBash {
 public:
  /// `console` is where the guest shell's stderr goes (NixOS: the serial console).
  explicit HostBash(asio::io_context& io,
                    const std::string& preamble = "echo 'Spawning backdoor root shell...'",
                    const std::string& console = "/dev/null")
      : host_(io) {
    Socket guest(io);
    asio::local::connect_pair(host_, guest);
    const int fd = guest.native_handle();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 0);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_addopen(&fa, 2, console.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    // bash reads its script from a pipe fed by cat (a socket cannot be opened as a file), so
    // that, as on hvc0, the script is not the shell's stdin.
    // SIGPIPE ignored, as systemd starts the NixOS backdoor service (IgnoreSIGPIPE=yes): bash
    // and what it runs inherit that and cannot undo it.
    const std::string script = "trap '' PIPE; " + preamble + "; exec bash --norc <(exec cat)";
    const char* argv[] = {"bash", "--norc", "-c", script.c_str(), nullptr};
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group, killed as one
    posix_spawnattr_setpgroup(&attr, 0);
    if (posix_spawnp(&pid_, "bash", &fa, &attr, const_cast<char**>(argv), environ) != 0) pid_ = -1;
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
  }
  ~HostBash() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Channel channel() {
    Channel c;
    c.control = std::make_unique<Socket>(std::move(host_));
    return c;
  }

 private:
  Socket host_;
  pid_t pid_ = -1;
};

/// Runs a coroutine to completion on a fresh io_context, rethrowing its exception.
using testing_support::run;

TEST(shell_test, commands_status_and_output) {
  run([](asio::io_context& io) -> awaitable<void> {
    HostBash bash(io);
    Shell shell(bash.channel(), "host-bash");
    co_await shell.handshake();
    EXPECT_TRUE(shell.ready());
    auto r = co_await shell.run("echo hello; exit 3", std::nullopt);
    EXPECT_EQ(r.status, 3);
    EXPECT_EQ(r.output, "hello\n");
    r = co_await shell.run("printf 'no newline'", std::nullopt);
    EXPECT_EQ(r.output, "no newline");
    r = co_await shell.run("printf '\\x00\\xff\\x01'", std::nullopt);
    EXPECT_EQ(r.output, std::string("\0\xff\x01", 3));
    r = co_await shell.run("cat <<EOF\nit's \"here\"\nEOF", std::nullopt);
    EXPECT_EQ(r.output, "it's \"here\"\n");
    r = co_await shell.run("false; echo unreachable", std::nullopt);
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.output, "");
    r = co_await shell.run("cat; echo stdin-is-empty", std::nullopt);
    EXPECT_EQ(r.output, "stdin-is-empty\n");
    r = co_await shell.run("echo 'unbalanced", std::nullopt);
    EXPECT_EQ(r.status, 2);
    r = co_await shell.run("echo in sync", std::nullopt);
    EXPECT_EQ(r.output, "in sync\n");
  });
}

TEST(shell_test, banner_split_across_writes) {
  run([](asio::io_context& io) -> awaitable<void> {
    HostBash bash(io, "printf 'noise\\nSpawning back'; sleep 0.2; printf 'door root shell...\\n'");
    Shell shell(bash.channel(), "host-bash");
    co_await shell.handshake();
    auto r = co_await shell.run("echo ok", std::nullopt);
    EXPECT_EQ(r.output, "ok\n");
  });
}

TEST(shell_test, guest_timeout_kills_the_command) {
  run([](asio::io_context& io) -> awaitable<void> {
    HostBash bash(io);
    Shell shell(bash.channel(), "host-bash");
    co_await shell.handshake();
    auto r = co_await shell.run("echo started; sleep 30", 300ms);
    EXPECT_EQ(r.status, 124);
    EXPECT_EQ(r.output, "started\n");
  });
}

TEST(shell_test, background_job_keeping_stdout_does_not_block) {
  run([](asio::io_context& io) -> awaitable<void> {
    HostBash bash(io);
    Shell shell(bash.channel(), "host-bash");
    co_await shell.handshake();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = co_await shell.run("sleep 30 & echo hi", std::nullopt);
    EXPECT_EQ(r.output, "hi\n");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  });
}

using testing_support::read_file;

/// The console file of one test, removed after it.
struct ConsoleFile {
  std::string path = fmt::format("/tmp/attest-shell-test-{}-console", ::getpid());
  ~ConsoleFile() { ::unlink(path.c_str()); }
};

awaitable<void> pause(asio::io_context& io, std::chrono::milliseconds t) {
  asio::steady_timer timer(io, t);
  co_await timer.async_wait(use_awaitable);
}

// A background job that writes after its command ended must not end up in a later command's
// output: its process group outlived the command (the `+` after the status), so the shell's stdout
// moves to a new pipe before the next command, and the job's late output goes to the console.
TEST(shell_test, a_background_job_writing_later_goes_to_the_console) {
  ConsoleFile console;
  run([&](asio::io_context& io) -> awaitable<void> {
    HostBash bash(io, "echo 'Spawning backdoor root shell...'", console.path);
    Shell shell(bash.channel(), "host-bash");
    co_await shell.handshake();
    auto r = co_await shell.run("(sleep 0.3; echo late; sleep 0.3; echo later) & echo early",
                                std::nullopt);
    EXPECT_EQ(r.output, "early\n");
    r = co_await shell.run("sleep 1; echo mine", std::nullopt);
    EXPECT_EQ(r.output, "mine\n");
    // Also with the guest's own timeout (a `timeout` process leading the group).
    r = co_await shell.run("(sleep 0.3; echo timed-late) & echo timed-early", 5s);
    EXPECT_EQ(r.output, "timed-early\n");
    r = co_await shell.run("sleep 0.6; echo mine again", 5s);
    EXPECT_EQ(r.output, "mine again\n");
    EXPECT_EQ(r.status, 0);
  });
  const auto text = read_file(console.path);
  EXPECT_THAT(text, HasSubstr("late\nlater\n"));
  EXPECT_THAT(text, HasSubstr("timed-late\n"));
}

// A process that left the command's process group (as `setsid` or a daemon's fork does; here a
// job of a bash with job control, which needs nothing outside bash, as the Nix build sandbox
// has no `setsid`) is not seen when the command ends;
// its first output between commands is reported (and dropped), and from then on it writes to the
// console, not into the next command's output.
TEST(shell_test, output_between_commands_moves_the_output_pipe_too) {
  ConsoleFile console;
  run([&](asio::io_context& io) -> awaitable<void> {
    HostBash bash(io, "echo 'Spawning backdoor root shell...'", console.path);
    Shell shell(bash.channel(), "host-bash");
    co_await shell.handshake();
    auto r = co_await shell.run(
        "bash -c 'set -m; (sleep 0.2; echo first; sleep 0.8; echo second) &'; echo started",
        std::nullopt);
    EXPECT_EQ(r.output, "started\n");
    co_await pause(io, 600ms);
    r = co_await shell.run("sleep 1; echo mine", std::nullopt);
    EXPECT_EQ(r.output, "mine\n");
  });
  EXPECT_THAT(read_file(console.path), HasSubstr("second\n"));
}

// A background job that is gone when its command ends changes nothing, and one that closed its
// stdout is moved away harmlessly: later commands run as before.
TEST(shell_test, finished_or_silent_background_jobs_leave_commands_as_they_were) {
  run([](asio::io_context& io) -> awaitable<void> {
    HostBash bash(io);
    Shell shell(bash.channel(), "host-bash");
    co_await shell.handshake();
    auto r = co_await shell.run("(echo inside) & wait; echo done", std::nullopt);
    EXPECT_EQ(r.output, "inside\ndone\n");
    r = co_await shell.run("sleep 5 >/dev/null & echo quiet", std::nullopt);
    EXPECT_EQ(r.output, "quiet\n");
    for (int i = 0; i < 3; ++i) {
      r = co_await shell.run("echo $((1 + 1)) && false || echo fine", std::nullopt);
      EXPECT_EQ(r.output, "2\nfine\n");
    }
  });
}

TEST(shell_test, abandoned_command_is_finished_before_the_next) {
  run([](asio::io_context& io) -> awaitable<void> {
    HostBash bash(io);
    Shell shell(bash.channel(), "host-bash");
    co_await shell.handshake();
    detail::Event never(io.get_executor());
    auto op = shell.run("sleep 0.5; echo old", std::nullopt);
    auto r = co_await detail::race(std::move(op), deadline_after(100ms), never);
    EXPECT_EQ(r.end, detail::RaceEnd::deadline);
    EXPECT_TRUE(shell.busy());
    EXPECT_EQ(shell.busy_command(), "sleep 0.5; echo old");
    auto next = co_await shell.run("echo new", std::nullopt);
    EXPECT_EQ(next.output, "new\n");
    EXPECT_FALSE(shell.busy());
  });
}

TEST(shell_test, shell_exit_is_reported_at_once) {
  run([](asio::io_context& io) -> awaitable<void> {
    HostBash bash(io);
    Shell shell(bash.channel(), "host-bash");
    co_await shell.handshake();
    try {
      co_await shell.run("kill -9 $$", std::nullopt);
      ADD_FAILURE() << "no error";
    } catch (const ChannelError& e) {
      EXPECT_EQ(e.kind(), ChannelError::Kind::shell_exited);
      EXPECT_THAT(e.what(), HasSubstr("backdoor shell exited"));
    }
  });
}

TEST(shell_test, connection_closed_before_the_banner) {
  run([](asio::io_context& io) -> awaitable<void> {
    HostBash bash(io, "exit 0");
    Shell shell(bash.channel(), "host-bash");
    try {
      co_await shell.handshake();
      ADD_FAILURE() << "no error";
    } catch (const ChannelError& e) {
      EXPECT_EQ(e.kind(), ChannelError::Kind::eof);
      EXPECT_THAT(e.what(), HasSubstr("before the backdoor banner arrived"));
    }
  });
}

}  // namespace
}  // namespace attest::shell
