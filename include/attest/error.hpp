// attest: typed errors thrown by the Driver and Machine facades.
#pragma once

#include <chrono>
#include <cstdint>
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
  Error(std::string message, std::string machine = {}, std::string operation = {},
        Where where = Where::current());

  /// The machine the error is about, or empty for driver-level errors.
  const std::string& machine() const noexcept { return machine_; }
  /// The operation that failed, e.g. "succeed" or "start".
  const std::string& operation() const noexcept { return operation_; }
  /// The call site: the test script line once the error has passed through the facade.
  const Where& where() const noexcept { return where_; }
  /// Replaces the call site; the facade does this with its caller's location.
  void set_where(const Where& where) noexcept { where_ = where; }

 private:
  std::string machine_;
  std::string operation_;
  Where where_;
};

/// A guest command did not end as required (NixOS: `RequestedAssertionFailed`).
class CommandFailed : public Error {
 public:
  CommandFailed(std::string message, std::string machine, std::string operation,
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
  TimeoutError(std::string message, std::string machine, std::string operation,
               std::chrono::milliseconds timeout, Where where = Where::current());
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }

 private:
  std::chrono::milliseconds timeout_;
};

/// A systemd unit is not in the state an operation needs: `wait_for_unit` on a failed unit, or
/// an inactive one with no pending jobs, `require_unit_state` on another state. The message
/// carries the unit's `systemctl status` and its last journal lines.
class UnitError : public Error {
 public:
  UnitError(std::string message, std::string machine, std::string operation, std::string unit,
            std::string state, Where where = Where::current());
  const std::string& unit() const noexcept { return unit_; }
  /// The unit's ActiveState when the error was raised, e.g. "failed".
  const std::string& state() const noexcept { return state_; }

 private:
  std::string unit_;
  std::string state_;
};

/// The machine did not come up, or went down unexpectedly (VMM exit, kernel panic, shell gone).
/// The message carries the VMM status and the tails of its stderr and of the console.
class BootError : public Error {
  using Error::Error;
};

/// The VMM refused an operation or could not be driven (spawn failed, QMP error, ...).
class BackendError : public Error {
  using Error::Error;
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
  PollingConditionError(std::string message, std::string machine, std::string operation,
                        std::string description, Where where = Where::current());
  /// The condition's description.
  const std::string& description() const noexcept { return description_; }

 private:
  std::string description_;
};

}  // namespace attest
