// Unit-test helper: runs a coroutine to completion on a fresh io_context.
#pragma once

#include <exception>

#include "core/async.hpp"

namespace attest::testing_support {

/// Runs `body(io)` (a coroutine factory) until it ends; its exception is rethrown here.
template <class F>
void run(F body) {
  asio::io_context io;
  std::exception_ptr failure;
  asio::co_spawn(io, body(io), [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace attest::testing_support
