// Hybrid vsock transport: connects to the VMM's vsock unix socket and performs the host-initiated
// CONNECT handshake (vmm-api.md §4.1), retrying until the guest's backdoor listens on the port.
// Runs on the Driver's I/O thread only.
#include "shell/vsock.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "core/log.hpp"

namespace attest::shell {

namespace {

using namespace std::chrono_literals;

// The guest listener appears some time into the boot; a short first pause catches a guest that is
// almost ready, and the cap keeps a slow boot from costing more than a quarter second of latency.
constexpr std::chrono::milliseconds first_retry_delay = 50ms;
constexpr std::chrono::milliseconds max_retry_delay = 250ms;

std::string connect_failure(const error_code& ec) {
  if (ec == boost::system::errc::no_such_file_or_directory)
    return "the socket does not exist yet (the VMM has not bound it)";
  if (ec == asio::error::connection_refused)
    return "the socket refuses connections (a stale file, or the VMM is not listening yet)";
  return fmt::format("connecting to the socket failed: {}", ec.message());
}

/// Why sending CONNECT failed: an error, or a short write of `written` of its `size` bytes.
std::string write_failure(const error_code& ec, std::size_t written, std::size_t size) {
  if (ec) return fmt::format("sending CONNECT failed: {}", ec.message());
  return fmt::format("sending CONNECT failed: only {} of its {} bytes went out in one write",
                     written, size);
}

/// Why the attempt failed when the VMM closed the connection after `received` of its reply.
std::string closed_failure(std::string_view received, std::uint32_t port) {
  if (received.empty())
    return fmt::format(
        "the VMM closed the connection after CONNECT: no guest listener on port {} yet", port);
  return fmt::format("the VMM closed the connection in the middle of its reply \"{}\"",
                     detail::excerpt(received, 80));
}

}  // namespace

ConnectReply parse_connect_reply(std::string_view received) {
  ConnectReply reply;
  const auto newline = received.find('\n');
  if (newline == std::string_view::npos && received.size() < max_connect_reply) return reply;
  reply.state = ConnectReply::State::rejected;
  if (newline == std::string_view::npos || newline + 1 > max_connect_reply) {
    reply.reason =
        fmt::format("the VMM's reply to CONNECT has no newline within {} bytes: \"{}\"",
                    max_connect_reply, detail::excerpt(received.substr(0, max_connect_reply), 80));
    return reply;
  }
  const std::string_view line = received.substr(0, newline);
  constexpr std::string_view ok = "OK ";
  if (line.starts_with(ok)) {
    // from_chars rejects signs, and overflow, for an unsigned type; the whole rest must be digits.
    const std::string_view digits = line.substr(ok.size());
    const char* end = digits.data() + digits.size();
    std::uint32_t port = 0;
    const auto parsed = std::from_chars(digits.data(), end, port);
    if (!digits.empty() && parsed.ec == std::errc() && parsed.ptr == end) {
      reply.state = ConnectReply::State::ok;
      reply.host_port = port;
      return reply;
    }
  }
  reply.reason =
      fmt::format("the VMM answered \"{}\" instead of \"OK <port>\"", detail::excerpt(line, 80));
  return reply;
}

struct HybridVsockTransport::Attempt {
  std::unique_ptr<Socket> socket;  ///< past the OK line; null when the attempt failed
  std::string failure;
};

HybridVsockTransport::HybridVsockTransport(const asio::any_io_executor& ex, std::string uds_path,
                                           std::uint32_t port,
                                           std::chrono::milliseconds reply_timeout)
    : ex_(ex),
      path_(std::move(uds_path)),
      endpoint_(path_),  // throws now for an over-long path, instead of failing every attempt
      port_(port),
      reply_timeout_(reply_timeout) {}

std::string HybridVsockTransport::describe() const {
  std::string text = fmt::format("hybrid vsock {} port {}", path_, port_);
  if (!last_failure_.empty()) text += fmt::format(" (last attempt: {})", last_failure_);
  return text;
}

awaitable<HybridVsockTransport::Attempt> HybridVsockTransport::attempt() {
  Attempt result;
  auto socket = std::make_unique<Socket>(ex_);
  auto [connect_ec] = co_await socket->async_connect(endpoint_, asio::as_tuple(use_awaitable));
  if (connect_ec == asio::error::operation_aborted) throw boost::system::system_error(connect_ec);
  if (connect_ec) {
    result.failure = connect_failure(connect_ec);
    co_return result;
  }

  // Firecracker parses the command from its first read of the connection and drops it when the
  // line arrived split across writes (vmm-api.md §4.1), so the line goes out in one write_some;
  // a short write would be exactly such a split, and counts as a failed attempt.
  const std::string command = fmt::format("CONNECT {}\n", port_);
  auto [write_ec, written] =
      co_await socket->async_write_some(asio::buffer(command), asio::as_tuple(use_awaitable));
  if (write_ec == asio::error::operation_aborted) throw boost::system::system_error(write_ec);
  if (write_ec || written != command.size()) {
    result.failure = write_failure(write_ec, written, command.size());
    co_return result;
  }

  // The guest may send its banner in the same segment as the VMM's OK line. Shell reads the
  // stream with its own buffer and a Channel cannot carry bytes already read, so the reply is read
  // one byte at a time: the socket is left exactly at the first byte after "OK <n>\n". An OK line
  // is at most 14 bytes (any reply at most 64), once per connection: the extra reads cost nothing.
  std::string received;
  char byte = 0;
  for (;;) {
    auto [read_ec, n] =
        co_await socket->async_read_some(asio::buffer(&byte, 1), asio::as_tuple(use_awaitable));
    if (read_ec == asio::error::operation_aborted) throw boost::system::system_error(read_ec);
    if (read_ec == asio::error::eof || read_ec == asio::error::connection_reset) {
      // How both VMMs say "no guest listener on that port" (the guest answered RST), and also
      // how they report a malformed command or their own 2 s request timeout.
      result.failure = closed_failure(received, port_);
      co_return result;
    }
    if (read_ec) {
      result.failure = fmt::format("reading the reply to CONNECT failed: {}", read_ec.message());
      co_return result;
    }
    received.append(&byte, n);
    ConnectReply reply = parse_connect_reply(received);
    if (reply.state == ConnectReply::State::ok) {
      result.socket = std::move(socket);
      co_return result;
    }
    if (reply.state == ConnectReply::State::rejected) {
      result.failure = std::move(reply.reason);
      co_return result;
    }
  }
}

awaitable<Channel> HybridVsockTransport::connect() {
  last_failure_.clear();
  asio::steady_timer pause(ex_);
  auto delay = first_retry_delay;
  for (;;) {
    // Each attempt is bounded on its own, so that a VMM that hangs mid-handshake leads to a new
    // attempt rather than to the caller's (boot) deadline.
    auto op = attempt();
    auto raced = co_await detail::race(std::move(op), deadline_after(reply_timeout_));
    // The caller's cancellation reaches the attempt through the inner race and may end it as a
    // "deadline"; that is not the VMM's failure, so stop without recording it.
    const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none)
      throw boost::system::system_error(asio::error::operation_aborted);
    if (raced.end == detail::RaceEnd::done && raced.value->socket) {
      Channel channel;
      channel.control = std::move(raced.value->socket);
      co_return channel;
    }
    last_failure_ =
        raced.end == detail::RaceEnd::done
            ? std::move(raced.value->failure)
            : fmt::format("no reply to CONNECT within {}", detail::format_duration(reply_timeout_));
    pause.expires_after(delay);
    co_await pause.async_wait(use_awaitable);
    delay = std::min(delay * 2, max_retry_delay);
  }
}

}  // namespace attest::shell
