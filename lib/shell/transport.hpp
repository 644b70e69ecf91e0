// Internal: how the host gets a connected stream to the guest's backdoor shell. QEMU's
// virtconsole connects to a socket the host listens on; the microVMs' hybrid vsock is a socket
// the host connects to, followed by a CONNECT handshake. Both yield a unix stream socket that
// Shell then drives.
#pragma once

#include <memory>
#include <string>

#include "core/async.hpp"

namespace attest::shell {

using Socket = asio::local::stream_protocol::socket;

/// A connection to the guest shell: `control` carries the banner and the commands; `data`, when
/// the VMM offers it, is a flow-controlled stream for the commands' output (see framing.hpp).
struct Channel {
  std::unique_ptr<Socket> control;
  std::unique_ptr<Socket> data;
};

class Transport {
 public:
  virtual ~Transport() = default;
  /// A human-readable description for messages, e.g. "virtconsole socket /run/.../shell".
  virtual std::string describe() const = 0;
  /// Yields the next connection to the guest shell (no deadline: the caller races it).
  virtual awaitable<Channel> connect() = 0;
  /// Whether a connection carries one guest shell only and ends with it (the microVMs' vsock:
  /// one bash per connection), so that a new shell in the same guest (after a switch of root)
  /// needs a new connection. Else the connection outlives the guest's shells, and the next
  /// shell's banner comes on it (QEMU's virtconsole: the VMM holds the host's end).
  virtual bool one_shell_per_connection() const noexcept { return false; }
};

/// QEMU `-chardev socket,id=shell,path=…` (the NixOS console, /dev/hvc0) plus an optional
/// virtio-serial port for output: the host listens before the VMM starts (QEMU exits at once
/// when nobody listens) and accepts one connection on each per connect().
class VirtconsoleTransport final : public Transport {
 public:
  /// Binds and listens on `path` (and `data_path` unless empty), replacing stale sockets.
  /// Throws: boost::system::system_error.
  VirtconsoleTransport(const asio::any_io_executor& ex, std::string path, std::string data_path);
  ~VirtconsoleTransport() override;
  std::string describe() const override;
  awaitable<Channel> connect() override;

 private:
  std::string path_;
  std::string data_path_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::unique_ptr<asio::local::stream_protocol::acceptor> data_acceptor_;
};

}  // namespace attest::shell
