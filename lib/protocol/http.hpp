// Internal: an HTTP/1.1 client for the REST APIs of Firecracker and cloud-hypervisor, which both
// serve micro-http on a unix socket (shared/reference/vmm-api.md §3). Requests are JSON in, JSON
// (or nothing) out; a non-2xx answer becomes an Error carrying the VMM's own message.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/async.hpp"

namespace attest::http {

/// A 2xx answer.
struct Response {
  int status = 0;
  /// The reason phrase as sent; micro-http sends none ("HTTP/1.1 204 \r\n"), so usually empty.
  std::string reason;
  std::string body;
};

/// A failed request: a transport or framing failure (status 0) or a non-2xx answer. what() is a
/// complete sentence, e.g. "Firecracker API: PUT /machine-config: 400 Bad Request: <message>".
class Error : public std::runtime_error {
 public:
  Error(int status, const std::string& message, std::string vmm_message = {})
      : std::runtime_error(message), status_(status), vmm_message_(std::move(vmm_message)) {}
  /// The HTTP status, or 0 when there was no HTTP answer (connect, I/O, timeout, parse).
  int status() const noexcept { return status_; }
  /// The VMM's own error text (see vmm_message()); empty without an answer.
  const std::string& vmm_message() const noexcept { return vmm_message_; }

 private:
  int status_;
  std::string vmm_message_;
};

/// The VMM's own text in an error body: Firecracker's {"fault_message": "..."}; micro-http's
/// {"error": "..."}; cloud-hypervisor's error chain ["Error from API", "...", "<root cause>"],
/// joined with ": " so it reads as the usual "<what failed>: <why>"; a JSON string; otherwise the
/// raw body. Always trimmed, printable (control bytes escaped as detail::excerpt does) and cut to
/// a few hundred bytes. Never throws (but std::bad_alloc).
std::string vmm_message(std::string_view body);

/// Largest response body accepted.
inline constexpr std::size_t max_body = std::size_t{8} * 1024 * 1024;

/// Reads one response from the bytes of a connection, as they arrive, without doing I/O: the
/// client's own parser, so it can be tested (and fuzzed) apart from sockets. Beast does the
/// framing; this adds micro-http's quirks (a status line without a space after the code, a
/// kept-alive answer without Content-Length that has no body). The result does not depend on
/// how the bytes are split. Every Error it throws has status 0.
class ResponseParser {
 public:
  /// `what` starts every message ("Firecracker API: GET /"); the answer to a HEAD has no body.
  explicit ResponseParser(std::string what, bool head_request = false);
  ~ResponseParser();
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  /// Adds bytes; returns true once the response is complete (later bytes are kept apart, and
  /// make the connection unusable). Throws: Error on a malformed response or a body over
  /// max_body.
  bool feed(std::string_view bytes);
  /// The connection ended (`ec`: EOF, reset, ...) before the response was complete: completes a
  /// body read to EOF. Throws: Error for anything else (a response cut short, a read error).
  void finish(const error_code& ec);
  /// Whether any byte has arrived.
  bool started() const noexcept;
  bool done() const noexcept;
  /// Whether the connection can carry the next exchange: the server keeps it alive, the body
  /// was framed, and nothing came after the response.
  bool reusable() const noexcept;
  /// The response (2xx or not), once done().
  Response take();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

/// The response in `bytes`, a whole connection's worth: the bytes are parsed as a stream that
/// then ends; bytes after a complete response are ignored. Throws: Error (status 0) as
/// ResponseParser does.
Response parse_response(std::string_view bytes, std::string what = "HTTP response");

/// One VMM's API socket. Requests are serialised: micro-http answers one at a time anyway, and a
/// kept-alive connection can carry only one exchange at a time. Use on the I/O thread only.
class Client {
 public:
  /// `vmm` names the VMM in messages ("Firecracker", "cloud-hypervisor").
  Client(const asio::any_io_executor& ex, std::string socket_path, std::string vmm);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Largest response body accepted.
  static constexpr std::size_t max_body = http::max_body;
  /// Pause between connect attempts while the VMM has not created or bound its socket yet.
  static constexpr std::chrono::milliseconds connect_retry_interval{50};

  /// Sends `method target` with `json_body` (empty: no body and no Content-Type/Content-Length,
  /// which is what cloud-hypervisor's body-less actions require) and returns a 2xx answer. The
  /// connection is kept for the next request; if the VMM closed it before answering, the request
  /// is sent once more on a new one. Connecting is retried while the socket is missing or refuses,
  /// until `deadline`; nothing outlives `deadline`. Throws: Error.
  awaitable<Response> request(std::string method, std::string target, std::string json_body,
                              Deadline deadline);
  /// Drops the kept connection, if any; the next request connects again.
  void close() noexcept;

  const std::string& socket_path() const noexcept { return socket_path_; }

 private:
  struct Exchange;
  awaitable<Response> run(Exchange& x);
  awaitable<void> connect(Exchange& x);
  awaitable<bool> send_and_receive(Exchange& x, bool kept, Response& out);

  asio::any_io_executor ex_;
  std::string socket_path_;
  std::string vmm_;
  asio::local::stream_protocol::socket socket_;
  bool busy_ = false;
  detail::Event idle_;
};

}  // namespace attest::http
