// HTTP/1.1 over a unix socket with Boost.Beast. Beast does the framing; this file adds what
// micro-http (the server in both Firecracker and cloud-hypervisor) needs on top: status lines
// without a reason phrase, answers without Content-Length, error bodies in three shapes, and a
// kept connection the server may have dropped while idle.
#include "protocol/http.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "core/log.hpp"

namespace attest::http {
namespace {

namespace bhttp = boost::beast::http;
using json = nlohmann::json;

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

/// How much of the first line is read before handing the stream to Beast. micro-http itself
/// refuses longer lines (reference §3.2), so a longer one is garbage and Beast may reject it.
constexpr std::size_t max_status_line = 1024;

std::string_view buffered(const boost::beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

/// Whether the bytes so far can still be the start of "HTTP/": lets garbage fail at once instead
/// of waiting for line ends that may never come.
bool may_be_http(std::string_view seen) {
  constexpr std::string_view prefix = "HTTP/";
  const auto n = std::min(seen.size(), prefix.size());
  return seen.substr(0, n) == prefix.substr(0, n);
}

/// Beast requires "HTTP/1.1 SP 3DIGIT SP [reason] CRLF". micro-http sends "HTTP/1.1 204 \r\n",
/// which Beast takes, but its "too many connections" answer is "HTTP/1.1 503\r\n" (no space
/// after the code), which Beast rejects as "bad status". Only that line is patched (a space is
/// inserted) so that everything else stays Beast's job. Returns the reason phrase as sent, since
/// Beast's reason() substitutes the standard phrase for an empty one.
std::string normalise_status_line(boost::beast::flat_buffer& buffer, std::size_t eol) {
  const std::string_view all = buffered(buffer);
  const std::string_view line = all.substr(0, eol);
  const auto sp = line.find(' ');
  if (!line.starts_with("HTTP/") || sp == std::string_view::npos) return {};
  const std::string_view rest = line.substr(sp + 1);
  const bool code_only = rest.size() == 3 && std::all_of(rest.begin(), rest.end(), [](char c) {
                           return c >= '0' && c <= '9';
                         });
  if (!code_only) return rest.size() > 4 ? std::string(trim(rest.substr(4))) : std::string();
  std::string fixed;
  fixed.reserve(all.size() + 1);
  fixed.append(line);
  fixed.push_back(' ');
  fixed.append(all.substr(eol));
  buffer.consume(buffer.size());
  const auto n = boost::asio::buffer_copy(buffer.prepare(fixed.size()), asio::buffer(fixed));
  buffer.commit(n);
  return {};
}

/// The server closed the connection: on a kept connection this means it timed out the idle
/// connection (or went away) before seeing the request.
bool closed_by_peer(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::not_connected;
}

std::string status_text(int status, const std::string& reason) {
  if (!reason.empty()) return fmt::format("{} {}", status, reason);
  const auto known = bhttp::int_to_status(static_cast<unsigned>(status));
  if (known == bhttp::status::unknown) return std::to_string(status);
  return fmt::format("{} {}", status, std::string_view(bhttp::obsolete_reason(known)));
}

bool is_beast_parse_error(const error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category();
}

}  // namespace

std::string vmm_message(std::string_view body) {
  const std::string_view text = trim(body);
  if (text.empty()) return {};
  // micro-http's own parse errors put a raw LF inside a JSON string (reference §3.4), which JSON
  // forbids. Outside strings a control byte is only whitespace, so blanking them all is safe.
  std::string cleaned(text);
  std::replace_if(
      cleaned.begin(), cleaned.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; },
      ' ');
  const json j = json::parse(cleaned, nullptr, false);
  if (!j.is_discarded()) {
    if (j.is_object()) {
      for (const char* key : {"fault_message", "error"}) {
        const auto it = j.find(key);
        if (it != j.end() && it->is_string()) return std::string(trim(it->get<std::string>()));
      }
    } else if (j.is_array() && !j.empty()) {
      std::string joined;
      for (const auto& part : j) {
        if (!joined.empty()) joined += ": ";
        joined += part.is_string() ? part.get<std::string>() : part.dump();
      }
      return joined;
    } else if (j.is_string()) {
      return std::string(trim(j.get<std::string>()));
    }
  }
  return detail::excerpt(text, 400);
}

struct Client::Exchange {
  /// "Firecracker API: PUT /actions", the start of every message.
  std::string what;
  /// What the request is doing now, for the message when the deadline passes.
  std::string phase;
  bhttp::request<bhttp::string_body> request;
};

Client::Client(const asio::any_io_executor& ex, std::string socket_path, std::string vmm)
    : ex_(ex), socket_path_(std::move(socket_path)), vmm_(std::move(vmm)), socket_(ex), idle_(ex) {}

Client::~Client() { close(); }

void Client::close() noexcept {
  error_code ec;
  socket_.close(ec);
}

awaitable<Response> Client::request(std::string method, std::string target, std::string json_body,
                                    Deadline deadline) {
  const auto started = Clock::now();
  Exchange x;
  x.what = fmt::format("{} API: {} {}", vmm_, method, target);
  x.phase = busy_ ? "waiting for an earlier request to finish" : "starting";
  auto& req = x.request;
  const auto verb = bhttp::string_to_verb(method);
  if (verb == bhttp::verb::unknown)
    req.method_string(method);
  else
    req.method(verb);
  req.target(target);
  req.version(11);
  req.set(bhttp::field::host, "localhost");
  req.set(bhttp::field::accept, "application/json");
  // Without a body neither Content-Type nor Content-Length is sent: Firecracker refuses a body on
  // a GET, cloud-hypervisor on its payload-less PUT actions (reference §2.1, §2.2, §3.2).
  if (!json_body.empty()) {
    req.set(bhttp::field::content_type, "application/json");
    req.set(bhttp::field::content_length, std::to_string(json_body.size()));
    req.body() = std::move(json_body);
  }

  detail::Event never(ex_);
  auto op = run(x);
  auto outcome = co_await detail::race(std::move(op), deadline, never);
  if (outcome.end != detail::RaceEnd::done)
    throw Error(0, fmt::format("{}: timed out after {} while {}", x.what,
                               detail::format_duration(Clock::now() - started), x.phase));
  Response response = std::move(*outcome.value);
  if (response.status >= 200 && response.status <= 299) co_return response;
  std::string message = vmm_message(response.body);
  std::string sentence =
      fmt::format("{}: {}", x.what, status_text(response.status, response.reason));
  if (!message.empty()) sentence += ": " + message;
  throw Error(response.status, std::move(sentence), std::move(message));
}

awaitable<Response> Client::run(Exchange& x) {
  while (busy_) co_await idle_.wait();
  // Holds the turn until this exchange ends in any way. An exchange that did not complete (an
  // error, or cancelled at the deadline mid-write or mid-read) leaves the stream at an unknown
  // position, so its connection is dropped.
  struct Turn {
    Client& c;
    bool completed = false;
    explicit Turn(Client& client) : c(client) {
      c.busy_ = true;
      c.idle_.reset();
    }
    ~Turn() {
      if (!completed) c.close();
      c.busy_ = false;
      c.idle_.set();
    }
  } turn(*this);

  // At most two attempts: the second only when a kept connection turned out to be closed.
  for (int attempt = 0;; ++attempt) {
    const bool kept = socket_.is_open();
    if (!kept) co_await connect(x);
    Response response;
    const bool answered = co_await send_and_receive(x, kept && attempt == 0, response);
    if (answered) {
      turn.completed = true;
      co_return response;
    }
    detail::log_debug("", fmt::format("{}: the kept connection was closed; sending again", x.what));
  }
}

awaitable<void> Client::connect(Exchange& x) {
  asio::local::stream_protocol::endpoint endpoint;
  try {
    endpoint = asio::local::stream_protocol::endpoint(socket_path_);
  } catch (const boost::system::system_error& e) {
    throw Error(
        0, fmt::format("{}: cannot connect to {}: {}", x.what, socket_path_, e.code().message()));
  }
  asio::steady_timer pause(ex_);
  x.phase = fmt::format("connecting to {}", socket_path_);
  for (;;) {
    auto [ec] = co_await socket_.async_connect(endpoint, asio::as_tuple(use_awaitable));
    if (!ec) co_return;
    close();
    // The VMM creates the socket file (ENOENT before) and then listens on it (ECONNREFUSED in
    // between) a moment after it starts; anything else will not get better by waiting.
    if (ec != boost::system::errc::no_such_file_or_directory &&
        ec != boost::system::errc::connection_refused)
      throw Error(0,
                  fmt::format("{}: cannot connect to {}: {}", x.what, socket_path_, ec.message()));
    x.phase = fmt::format("connecting to {} (last attempt: {})", socket_path_, ec.message());
    pause.expires_after(connect_retry_interval);
    auto [wait_ec] = co_await pause.async_wait(asio::as_tuple(use_awaitable));
    if (wait_ec) throw boost::system::system_error(wait_ec);
  }
}

awaitable<bool> Client::send_and_receive(Exchange& x, bool may_resend, Response& out) {
  x.phase = "sending the request";
  auto [write_ec, written] =
      co_await bhttp::async_write(socket_, x.request, asio::as_tuple(use_awaitable));
  (void)written;
  if (write_ec) {
    close();
    if (may_resend && closed_by_peer(write_ec)) co_return false;
    throw Error(0, fmt::format("{}: sending the request failed: {}", x.what, write_ec.message()));
  }

  x.phase = "waiting for the response";
  boost::beast::flat_buffer buffer;
  // The status line is read here rather than by Beast so it can be normalised first.
  std::size_t eol = std::string_view::npos;
  for (;;) {
    const std::string_view seen = buffered(buffer);
    eol = seen.find("\r\n");
    if (eol != std::string_view::npos || seen.size() >= max_status_line || !may_be_http(seen))
      break;
    auto [ec, n] =
        co_await socket_.async_read_some(buffer.prepare(4096), asio::as_tuple(use_awaitable));
    buffer.commit(n);
    if (!ec) continue;
    close();
    if (buffer.size() == 0 && may_resend && closed_by_peer(ec)) co_return false;
    if (buffer.size() == 0)
      throw Error(
          0, fmt::format("{}: the connection closed without an answer ({})", x.what, ec.message()));
    throw Error(0, fmt::format("{}: the connection closed in the middle of the response ({}); "
                               "received \"{}\"",
                               x.what, ec.message(), detail::excerpt(buffered(buffer), 200)));
  }
  if (!may_be_http(buffered(buffer))) {
    // Beast would wait for a complete header before judging the first line, which may never come.
    close();
    throw Error(0, fmt::format("{}: malformed HTTP response (no \"HTTP/\" status line); received "
                               "\"{}\"",
                               x.what, detail::excerpt(buffered(buffer), 200)));
  }
  std::string reason;
  if (eol != std::string_view::npos) reason = normalise_status_line(buffer, eol);
  const std::string head(buffered(buffer).substr(0, 200));

  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(max_body);
  if (x.request.method() == bhttp::verb::head) parser.skip(true);
  auto read_failed = [&](const error_code& ec) {
    close();
    if (ec == bhttp::error::body_limit)
      return Error(0,
                   fmt::format("{}: the response body is larger than {} bytes", x.what, max_body));
    if (ec == bhttp::error::partial_message || ec == bhttp::error::end_of_stream ||
        closed_by_peer(ec))
      return Error(0, fmt::format("{}: the connection closed in the middle of the response ({}); "
                                  "received \"{}\"",
                                  x.what, ec.message(), detail::excerpt(head, 200)));
    if (is_beast_parse_error(ec))
      return Error(0, fmt::format("{}: malformed HTTP response ({}); received \"{}\"", x.what,
                                  ec.message(), detail::excerpt(head, 200)));
    return Error(0, fmt::format("{}: reading the response failed: {}", x.what, ec.message()));
  };

  auto [header_ec, header_bytes] =
      co_await bhttp::async_read_header(socket_, buffer, parser, asio::as_tuple(use_awaitable));
  (void)header_bytes;
  if (header_ec) throw read_failed(header_ec);
  // The header's own view: Beast's parser.keep_alive() is already false when the body would run
  // to EOF, which is the case being told apart here.
  const bool keep_alive = parser.get().keep_alive();
  bool reusable = keep_alive;
  if (!parser.is_done()) {
    if (!parser.content_length() && !parser.chunked() && keep_alive) {
      // HTTP would read the body up to EOF, which a kept-alive micro-http connection never sends:
      // it frames every body with Content-Length, so an answer without one has none (reference
      // §3.5). The stream cannot be trusted after such an answer, so it is not reused.
      reusable = false;
    } else {
      auto [body_ec, body_bytes] =
          co_await bhttp::async_read(socket_, buffer, parser, asio::as_tuple(use_awaitable));
      (void)body_bytes;
      if (body_ec) throw read_failed(body_ec);
    }
  }
  auto& message = parser.get();
  out.status = static_cast<int>(message.result_int());
  out.reason = std::move(reason);
  out.body = std::move(message.body());
  // Bytes beyond the answer were not asked for: the stream is out of step, start afresh.
  if (!reusable || parser.need_eof() || buffer.size() > 0) close();
  co_return true;
}

}  // namespace attest::http
