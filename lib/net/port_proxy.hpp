// Internal: a TCP port on the host's loopback whose connections are carried to a port that
// only exists inside the test's network namespace (forward_port on the TAP path).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "core/async.hpp"

namespace attest::net {

class PortProxy {
 public:
  /// Makes an inner connection; returns its socket's fd (owned by the proxy from then on).
  using Connect = std::function<awaitable<int>()>;

  /// Listens on 127.0.0.1:`host_port` at once. Throws: BackendError when the port is taken.
  PortProxy(const asio::any_io_executor& ex, std::uint16_t host_port, Connect connect);
  /// Stops listening and closes every carried connection.
  ~PortProxy();
  PortProxy(const PortProxy&) = delete;
  PortProxy& operator=(const PortProxy&) = delete;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace attest::net
