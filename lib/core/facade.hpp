// Internal: what every facade method does around its call into the I/O thread.
#pragma once

#include <utility>

#include "attest/error.hpp"

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

}  // namespace attest::detail
