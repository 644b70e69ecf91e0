// attest: typed errors thrown by the Driver and Machine facades.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

#if defined(__has_builtin)
#if __has_builtin(__builtin_COLUMN)
#define ATTEST_DETAIL_COLUMN __builtin_COLUMN()
#endif
#endif
#ifndef ATTEST_DETAIL_COLUMN
#define ATTEST_DETAIL_COLUMN 0
#endif

namespace attest {

/// The call site of a facade method, so that a failure points at the test script line. The same
/// interface as std::source_location, built on the compiler builtins both g++ and clang have
/// (clang before 15 cannot provide std::source_location with libstdc++), so that code built by
/// either compiler agrees on the type.
class Where {
 public:
  static constexpr Where current(const char* file = __builtin_FILE(),
                                 const char* function = __builtin_FUNCTION(),
                                 std::uint_least32_t line = __builtin_LINE(),
                                 std::uint_least32_t column = ATTEST_DETAIL_COLUMN) noexcept {
    Where w;
    w.file_ = file;
    w.function_ = function;
    w.line_ = line;
    w.column_ = column;
    return w;
  }
  constexpr Where() noexcept = default;
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }
  constexpr std::uint_least32_t line() const noexcept { return line_; }
  constexpr std::uint_least32_t column() const noexcept { return column_; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  std::uint_least32_t line_ = 0;
  std::uint_least32_t column_ = 0;
};

/// Root of every error attest throws. `what()` is one complete paragraph: which machine, which
/// operation, and why.
///
/// **Example**:
/// ```
/// try { server.succeed("false"); } catch (const attest::Error& e) { std::cerr << e.what(); }
/// ```
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, std::string machine = {}, std::string operation = {},
        Where where = Where::current());

  /// The machine the error is about, or empty for driver-level errors.
  const std::string& machine() const noexcept { return machine_; }
  /// The operation that failed, e.g. "succeed" or "start".
  const std::string& operation() const noexcept { return operation_; }
  /// The call site: the test script line once the error has passed through the facade.
  const Where& where() const noexcept { return where_; }
  /// Replaces the call site; the facade does this with its caller's location.
  void set_where(const Where& where) noexcept { where_ = where; }
  /// The exception this error came from, when it wraps one (QEMU's QMP error, a file system
  /// error, ...), else null. describe() shows the whole chain.
  const std::exception_ptr& cause() const noexcept { return cause_; }
  void set_cause(std::exception_ptr cause) noexcept { cause_ = std::move(cause); }

 private:
  std::string machine_;
  std::string operation_;
  Where where_;
  std::exception_ptr cause_;
};

/// `e.what()`, followed by what each cause in its chain (Error::cause()) adds, one per line
/// ("caused by: ..."); a cause whose text the message already holds adds nothing. What a failed
/// ATTEST_TEST prints.
std::string describe(const std::exception& e);

/// A guest command did not end as required (NixOS: `RequestedAssertionFailed`).
class CommandFailed : public Error {
 public:
  CommandFailed(const std::string& message, std::string machine, std::string operation,
                std::string command, int status, std::string output,
                Where where = Where::current());
  const std::string& command() const noexcept { return command_; }
  /// The command's exit status (0..255).
  int status() const noexcept { return status_; }
  /// The command's standard output.
  const std::string& output() const noexcept { return output_; }

 private:
  std::string command_;
  int status_;
  std::string output_;
};

/// An operation did not finish within its timeout (or the global timeout expired).
class TimeoutError : public Error {
 public:
  TimeoutError(const std::string& message, std::string machine, std::string operation,
               std::chrono::milliseconds timeout, Where where = Where::current());
  TimeoutError(const std::string& message, std::string machine, std::string operation,
               std::chrono::milliseconds timeout, std::chrono::milliseconds elapsed,
               Where where = Where::current());
  /// The limit that expired: the operation's timeout, or the global timeout.
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }
  /// How long the operation ran before it was given up (at least timeout() for the operation's
  /// own limit; less when the global timeout ended it first).
  std::chrono::milliseconds elapsed() const noexcept { return elapsed_; }

 private:
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds elapsed_;
};

/// A systemd unit is not in the state an operation needs: `wait_for_unit` on a failed unit, or
/// an inactive one with no pending jobs, `require_unit_state` on another state. The message
/// carries the unit's `systemctl status` and its last journal lines.
class UnitError : public Error {
 public:
  UnitError(const std::string& message, std::string machine, std::string operation,
            std::string unit, std::string state, Where where = Where::current());
  const std::string& unit() const noexcept { return unit_; }
  /// The unit's ActiveState when the error was raised, e.g. "failed".
  const std::string& state() const noexcept { return state_; }

 private:
  std::string unit_;
  std::string state_;
};

/// How a machine's VMM ended, when a BootError was raised because it went down.
struct VmmEnd {
  std::optional<int> exit_code;    ///< the VMM's exit code, when it exited
  std::optional<int> exit_signal;  ///< the signal that killed it, when one did
  bool panicked = false;           ///< the guest kernel panicked
};

/// The machine did not come up, or went down unexpectedly (VMM exit, kernel panic, shell gone).
/// The message carries the VMM status and the tails of its stderr and of the console.
///
/// **Example**: `catch (const attest::BootError& e) { EXPECT_TRUE(e.end().panicked); }`
class BootError : public Error {
 public:
  using Error::Error;
  BootError(const std::string& message, std::string machine, std::string operation, VmmEnd end,
            Where where = Where::current());
  /// How the VMM ended; all empty when it had not (a shell that never came up, a closed
  /// connection, a backdoor shell that exited).
  const VmmEnd& end() const noexcept { return end_; }

 private:
  VmmEnd end_;
};

/// The VMM refused an operation or could not be driven (spawn failed, QMP error, API error, ...).
class BackendError : public Error {
 public:
  /// What was asked of the VMM, and how it refused.
  struct Request {
    std::string what;  ///< the QMP command (`human-monitor-command`) or API call (`PUT /actions`)
    std::string qmp_class;  ///< QEMU's error class when QMP refused, e.g. "GenericError"
    int http_status = 0;    ///< the HTTP status of a Firecracker / cloud-hypervisor API call
  };
  using Error::Error;
  BackendError(const std::string& message, std::string machine, std::string operation,
               Request request, Where where = Where::current());
  /// The request the VMM refused (empty when the error is not about one request).
  const Request& request() const noexcept { return request_; }

 private:
  Request request_;
};

/// A peer broke its protocol (shell framing, QMP, HTTP).
class ProtocolError : public Error {
  using Error::Error;
};

/// The test configuration is invalid; the message names the file, the machine and the field.
class ConfigError : public Error {
  using Error::Error;
};

/// The machine's backend does not support the operation.
class Unsupported : public Error {
  using Error::Error;
};

/// An active polling condition (Driver::polling_condition) returned false or threw before a
/// command; the command did not run (NixOS `PollingConditionError`).
class PollingConditionError : public Error {
 public:
  PollingConditionError(const std::string& message, std::string machine, std::string operation,
                        std::string description, Where where = Where::current());
  /// The condition's description.
  const std::string& description() const noexcept { return description_; }

 private:
  std::string description_;
};

}  // namespace attest
