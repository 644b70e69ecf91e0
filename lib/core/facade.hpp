// Internal: what every facade method does around its call into the I/O thread.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "attest/error.hpp"
#include "core/driver_impl.hpp"
#include "core/machine_impl.hpp"
#include "core/util.hpp"

namespace attest::detail {

/// Runs `fn`; an attest::Error leaving it gets the caller's location, so that a test failure
/// points at the test script's line rather than at attest.
template <class F>
decltype(auto) at(const Where& where, F&& fn) {
  try {
    return std::forward<F>(fn)();
  } catch (Error& e) {
    e.set_where(where);
    throw;
  }
}

/// "op(arg)" with a long argument shortened, for operation names.
inline std::string op_name(std::string_view op, std::string_view arg) {
  return fmt::format("{}({})", op, excerpt(arg, 120));
}

/// Runs a guest command's coroutine once the due polling conditions held (NixOS checks them
/// before every command).
template <class T>
T polled(MachineImpl& m, std::string_view operation, awaitable<T> op) {
  m.driver().check_polling_conditions(m.name(), operation);
  return m.driver().run(std::move(op));
}

/// The same for a wait, whose coroutine also has them checked before each further attempt.
template <class Make>
auto polled_wait(MachineImpl& m, std::string_view operation, Make make) {
  auto& d = m.driver();
  d.check_polling_conditions(m.name(), operation);
  auto link = std::make_shared<CallerLink>(d.executor());
  return d.run_polled(make(link), link, m.name(), operation);
}

}  // namespace attest::detail
