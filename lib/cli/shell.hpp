// `attest shell`: the NixOS driver's --interactive workflow. A prompt runs shell commands on a
// chosen machine; lines starting with ':' control the machines (start, screenshot, snapshot,
// restore, ...). The session logic (Repl) is separate from the terminal, so it can be driven by
// a test with plain streams.
#pragma once

#include <chrono>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <string_view>

#include "attest/driver.hpp"

namespace attest::cli {

/// One interactive session over a driver: every line is either a shell command for the current
/// machine or a ':' command. Errors are printed and the session goes on.
class Repl {
 public:
  Repl(Driver& driver, std::ostream& out);

  /// Runs one line. Returns false when the session ends (`:quit`).
  bool run_line(std::string_view line);
  /// "attest(NAME)> ": the prompt naming the current machine.
  std::string prompt() const;
  /// The machine shell commands go to.
  const std::string& current() const noexcept { return current_; }

 private:
  void command(std::string_view name, std::string_view rest);
  /// `:start NAME`: boots NAME (the current machine when empty), or every machine for "all".
  void start(std::string_view name);
  void execute(Machine& m, std::string_view command);
  Machine& target(std::string_view name);

  Driver& driver_;
  std::ostream& out_;
  std::string current_;
  std::chrono::milliseconds timeout_{default_timeout};
};

/// What `attest shell` was asked to do.
struct ShellOptions {
  std::filesystem::path config;
  std::filesystem::path output_dir;
  /// Boot every machine before the first prompt.
  bool start_all = false;
  /// Keep each machine's disks between sessions (NixOS --keep-vm-state).
  bool keep_machine_state = false;
  /// Where the command history is kept (empty: $XDG_STATE_HOME/attest/shell_history).
  std::filesystem::path history;
  bool verbose = false;
};

/// Runs the session on the terminal (line editing and history when standard input is one) until
/// `:quit` or end of input; the machines are halted on the way out. Returns the exit status.
int run_shell(const ShellOptions& options);

/// The help text of the ':' commands.
std::string_view shell_help();

}  // namespace attest::cli
