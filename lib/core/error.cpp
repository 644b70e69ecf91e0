// The facade's error types. Messages are composed where the error is raised (they know the
// machine and the operation); the facade only replaces where() with its caller's location.
#include "attest/error.hpp"

#include <utility>

#include "attest/capability.hpp"
#include "attest/machine.hpp"

namespace attest {

Error::Error(const std::string& message, std::string machine, std::string operation, Where where)
    : std::runtime_error(message),
      machine_(std::move(machine)),
      operation_(std::move(operation)),
      where_(where) {}

CommandFailed::CommandFailed(const std::string& message, std::string machine, std::string operation,
                             std::string command, int status, std::string output, Where where)
    : Error(message, std::move(machine), std::move(operation), where),
      command_(std::move(command)),
      status_(status),
      output_(std::move(output)) {}

TimeoutError::TimeoutError(const std::string& message, std::string machine, std::string operation,
                           std::chrono::milliseconds timeout, Where where)
    : TimeoutError(message, std::move(machine), std::move(operation), timeout, timeout, where) {}

TimeoutError::TimeoutError(const std::string& message, std::string machine, std::string operation,
                           std::chrono::milliseconds timeout, std::chrono::milliseconds elapsed,
                           Where where)
    : Error(message, std::move(machine), std::move(operation), where),
      timeout_(timeout),
      elapsed_(elapsed) {}

BootError::BootError(const std::string& message, std::string machine, std::string operation,
                     VmmEnd end, Where where)
    : Error(message, std::move(machine), std::move(operation), where), end_(end) {}

BackendError::BackendError(const std::string& message, std::string machine, std::string operation,
                           Request request, Where where)
    : Error(message, std::move(machine), std::move(operation), where),
      request_(std::move(request)) {}

std::string describe(const std::exception& e) {
  std::string out = e.what();
  const auto* error = dynamic_cast<const Error*>(&e);
  std::exception_ptr cause = error ? error->cause() : nullptr;
  // A chain is short; the bound only guards against a cycle made by hand.
  for (int depth = 0; cause && depth < 16; ++depth) {
    try {
      std::rethrow_exception(cause);
    } catch (const std::exception& inner) {
      const std::string text = inner.what();
      if (!text.empty() && out.find(text) == std::string::npos) out += "\ncaused by: " + text;
      const auto* inner_error = dynamic_cast<const Error*>(&inner);
      cause = inner_error ? inner_error->cause() : nullptr;
    } catch (...) {
      out += "\ncaused by: an exception that is not a std::exception";
      cause = nullptr;
    }
  }
  return out;
}

UnitError::UnitError(const std::string& message, std::string machine, std::string operation,
                     std::string unit, std::string state, Where where)
    : Error(message, std::move(machine), std::move(operation), where),
      unit_(std::move(unit)),
      state_(std::move(state)) {}

PollingConditionError::PollingConditionError(const std::string& message, std::string machine,
                                             std::string operation, std::string description,
                                             Where where)
    : Error(message, std::move(machine), std::move(operation), where),
      description_(std::move(description)) {}

std::string_view to_string(Capability c) noexcept {
  switch (c) {
    case Capability::screenshot:
      return "screenshot";
    case Capability::send_key:
      return "send_key";
    case Capability::network_control:
      return "network_control";
    case Capability::port_forward:
      return "port_forward";
    case Capability::snapshot:
      return "snapshot";
    case Capability::reboot:
      return "reboot";
  }
  return "unknown";
}

std::string shell_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('\'');
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace attest
