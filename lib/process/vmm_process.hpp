// Internal: a VMM child process. Its own process group, killed by the kernel when the test binary
// dies (PR_SET_PDEATHSIG, also under kill -9), stdout (the serial console) and stderr captured,
// and its exit noticed the moment it happens (pidfd). Used by every backend.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/async.hpp"

namespace attest::process {

/// How a process ended.
struct ExitStatus {
  bool signaled = false;
  int code = 0;  ///< exit code, or the signal number when signaled
  std::string to_string() const;
  bool success() const noexcept { return !signaled && code == 0; }
};

struct SpawnSpec {
  std::string program;  ///< a path, or a name looked up in PATH
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  ///< added to the inherited environment
  std::string cwd;                                       ///< empty: inherit
  /// Namespaces to join before exec (setns), e.g. net::Namespace::user_ns_fd(); -1: none.
  int join_user_ns = -1;
  int join_net_ns = -1;
};

struct Hooks {
  std::function<void(std::string_view)> on_stdout;       ///< raw bytes
  std::function<void(std::string_view)> on_stderr_line;  ///< one line, no newline
  std::function<void(const ExitStatus&)> on_exit;
};

/// A program could not be started: not found, not executable, no resources. what() is plain text
/// ("cannot find 'qemu-system-x86_64' in PATH", "cannot start /x: Permission denied").
class SpawnError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class VmmProcess {
 public:
  /// Spawns the process. Throws: SpawnError when it cannot be started.
  VmmProcess(const asio::any_io_executor& ex, const SpawnSpec& spec, Hooks hooks);
  /// Kills the process group if it still runs.
  ~VmmProcess();
  VmmProcess(const VmmProcess&) = delete;
  VmmProcess& operator=(const VmmProcess&) = delete;

  int pid() const noexcept;
  bool running() const noexcept;
  std::optional<ExitStatus> exit_status() const;
  /// Sends `sig` to the whole process group.
  void signal_group(int sig) noexcept;
  /// Completes once the exit has been observed and the output pipes are drained.
  awaitable<void> wait_exited();
  /// Writes to the process's stdin (QEMU: the serial console).
  awaitable<void> write_stdin(std::string data);
  /// The last `lines` lines the process wrote to stderr.
  std::string stderr_tail(std::size_t lines) const;

 public:
  struct State;  // shared with the pump coroutines

 private:
  std::shared_ptr<State> state_;
};

}  // namespace attest::process
