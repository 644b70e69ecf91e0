// Internal: the microVM backends' way to the guest's backdoor shell. Firecracker and
// cloud-hypervisor expose the guest's vsock as a unix socket the host connects to; a
// `CONNECT <port>\n` / `OK <n>\n` handshake turns the connection into a guest vsock stream
// (vmm-api.md §4.1), which Shell then drives like QEMU's virtconsole.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shell/transport.hpp"

namespace attest::shell {

/// The longest reply line (with its '\n') accepted after CONNECT; `OK 4294967295\n` is 14 bytes.
inline constexpr std::size_t max_connect_reply = 64;

/// The VMM's answer to `CONNECT <port>\n`, as far as it has arrived.
struct ConnectReply {
  enum class State { incomplete, ok, rejected };
  State state = State::incomplete;
  std::uint32_t host_port = 0;  ///< ok: the host-side port the VMM assigned (2^30 upwards)
  std::string reason;           ///< rejected: what was wrong with the reply, for messages
};

/// Parses the bytes received after CONNECT up to and including the first '\n': `OK <decimal
/// u32>` is ok; any other line, or max_connect_reply bytes without a newline, is rejected; a
/// shorter line without its newline is incomplete. Example: "OK 1073741824\n" → ok, 1073741824.
ConnectReply parse_connect_reply(std::string_view received);

/// Firecracker / cloud-hypervisor hybrid vsock: the VMM listens on a unix socket (`uds_path`);
/// the host connects, sends `CONNECT <port>\n` in a single write, reads `OK <n>\n`, and from then
/// on the stream is the guest's vsock connection to `port` (the backdoor's banner comes next).
class HybridVsockTransport final : public Transport {
 public:
  /// How long one attempt may wait for the VMM's reply line. Longer than the VMM's own
  /// CONN_REQUEST_TIMEOUT (2000 ms, after which it closes the connection), so the VMM's verdict
  /// wins when it gives one; this bound only catches a VMM that hangs.
  static constexpr std::chrono::milliseconds default_reply_timeout{3000};

  /// Throws: boost::system::system_error when `uds_path` is too long for a unix socket address.
  HybridVsockTransport(const asio::any_io_executor& ex, std::string uds_path, std::uint32_t port,
                       std::chrono::milliseconds reply_timeout = default_reply_timeout);

  /// E.g. "hybrid vsock /s/v.sock port 1234 (last attempt: the VMM closed the connection after
  /// CONNECT: no guest listener on port 1234 yet)".
  std::string describe() const override;

  /// Connects, retrying every 50 ms (backing off to 250 ms) while the socket is missing or
  /// refuses, the VMM closes the connection after CONNECT (no guest listener yet: a connectable
  /// socket does not mean a ready guest), answers something other than OK, or does not answer
  /// within the reply timeout. No deadline of its own: the caller races it (detail::race), and
  /// cancelling it leaves nothing pending. Yields {control = the socket positioned right after the
  /// OK line, data = nullptr}, so the banner that may follow in the same segment is Shell's.
  awaitable<Channel> connect() override;

  /// The guest's backdoor is one bash per vsock connection (nix/testing/microvm-node.nix).
  bool one_shell_per_connection() const noexcept override { return true; }

  /// Why the last attempt of the latest connect() failed ("" if none has failed).
  const std::string& last_failure() const noexcept { return last_failure_; }

 private:
  struct Attempt;
  awaitable<Attempt> attempt();

  asio::any_io_executor ex_;
  std::string path_;
  asio::local::stream_protocol::endpoint endpoint_;
  std::uint32_t port_;
  std::chrono::milliseconds reply_timeout_;
  std::string last_failure_;
};

}  // namespace attest::shell
