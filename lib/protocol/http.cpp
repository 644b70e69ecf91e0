// HTTP/1.1 over a unix socket with Boost.Beast. Beast does the framing; this file adds what
// micro-http (the server in both Firecracker and cloud-hypervisor) needs on top: status lines
// without a reason phrase, answers without Content-Length, error bodies in three shapes, and a
// kept connection the server may have dropped while idle.
#include "protocol/http.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "core/util.hpp"

namespace attest::http {
namespace {

namespace bhttp = boost::beast::http;
using json = nlohmann::json;
using detail::trim;

/// How much of the first line is looked at for normalisation. micro-http itself refuses longer
/// lines (reference §3.2), so a longer one is garbage and Beast may reject it.
constexpr std::size_t max_status_line = 1024;
/// The largest header accepted, with its final empty line (Beast's default for responses).
constexpr std::size_t max_header = 8192;

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
std::string normalise_status_line(std::string& bytes, std::size_t eol) {
  const std::string_view line = std::string_view(bytes).substr(0, eol);
  const auto sp = line.find(' ');
  if (!line.starts_with("HTTP/") || sp == std::string_view::npos) return {};
  const std::string_view rest = line.substr(sp + 1);
  const bool code_only = rest.size() == 3 && std::all_of(rest.begin(), rest.end(), [](char c) {
                           return c >= '0' && c <= '9';
                         });
  if (!code_only) return rest.size() > 4 ? std::string(trim(rest.substr(4))) : std::string();
  bytes.insert(eol, 1, ' ');
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

namespace {

/// The text vmm_message() shows, before it is made printable and cut.
std::string message_text(std::string_view text) {
  // micro-http's own parse errors put a raw LF inside a JSON string (reference §3.4), which JSON
  // forbids. Outside strings a control byte is only whitespace, so blanking them all is safe.
  std::string cleaned(text);
  std::replace_if(
      cleaned.begin(), cleaned.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; },
      ' ');
  const json j = json::parse(cleaned, nullptr, false);
  if (j.is_object()) {
    for (const char* key : {"fault_message", "error"}) {
      const auto it = j.find(key);
      if (it != j.end() && it->is_string()) return it->get<std::string>();
    }
  } else if (j.is_string()) {
    return j.get<std::string>();
  } else if (j.is_array() && !j.empty() &&
             std::all_of(j.begin(), j.end(), [](const json& part) { return part.is_string(); })) {
    // Only a chain of strings is joined: anything else is shown as sent, which is also never
    // dump()ed (nlohmann's serialiser recurses, and a deeply nested body would overflow the stack).
    std::string joined;
    for (const auto& part : j) {
      if (!joined.empty()) joined += ": ";
      joined += part.get<std::string>();
    }
    return joined;
  }
  return std::string(text);
}

}  // namespace

std::string vmm_message(std::string_view body) {
  const std::string_view text = trim(body);
  if (text.empty()) return {};
  // Every shape ends up in an error message: printable and bounded (a JSON string may hold any
  // control byte, escaped or raw DEL), as the raw body always was.
  return detail::excerpt(trim(message_text(text)), 400);
}

struct ResponseParser::State {
  std::string what;
  /// The first bytes, until the header is complete: they are handed to Beast only then, once
  /// the status line is normalised.
  std::string start;
  bool started = false;
  bool in_beast = false;
  bhttp::response_parser<bhttp::string_body> beast;
  /// What Beast has not consumed yet: it parses the header only once the whole of it is there.
  boost::beast::flat_buffer pending;
  /// The first bytes as Beast got them, for messages.
  std::string head;
  std::string reason;
  bool done = false;
  bool reusable = false;
  bool bytes_after_end = false;

  Error malformed(std::string_view why, std::string_view received) const {
    return Error(0, fmt::format("{}: malformed HTTP response ({}); received \"{}\"", what, why,
                                detail::excerpt(received, 200)));
  }
  Error cut_short(const error_code& ec, std::string_view received) const {
    return Error(0, fmt::format("{}: the connection closed in the middle of the response ({}); "
                                "received \"{}\"",
                                what, ec.message(), detail::excerpt(received, 200)));
  }
  Error failed(const error_code& ec) const {
    if (ec == bhttp::error::body_limit)
      return Error(0, fmt::format("{}: the response body is larger than {} bytes", what, max_body));
    if (ec == bhttp::error::partial_message || ec == bhttp::error::end_of_stream ||
        closed_by_peer(ec))
      return cut_short(ec, head);
    if (is_beast_parse_error(ec)) return malformed(ec.message(), head);
    return Error(0, fmt::format("{}: reading the response failed: {}", what, ec.message()));
  }

  void complete(bool framed) {
    done = true;
    // The header's own view: Beast's keep_alive() is already false when the body would run to
    // EOF, which is the case told apart here.
    reusable = framed && beast.get().keep_alive() && !beast.need_eof() && pending.size() == 0;
  }

  bool to_beast(std::string_view bytes) {
    if (head.size() < 200) head.append(bytes.substr(0, 200 - head.size()));
    pending.commit(asio::buffer_copy(pending.prepare(bytes.size()), asio::buffer(bytes)));
    while (pending.size() > 0) {
      error_code ec;
      const std::size_t n = beast.put(pending.data(), ec);
      pending.consume(n);
      if (ec == bhttp::error::need_more) return false;
      if (ec) throw failed(ec);
      if (beast.is_done()) {
        complete(true);
        return true;
      }
      // HTTP would read the body up to EOF, which a kept-alive micro-http connection never
      // sends: it frames every body with Content-Length, so an answer without one has none
      // (reference §3.5). The stream cannot be trusted after such an answer, so it is not reused.
      if (beast.is_header_done() && !beast.content_length() && !beast.chunked() &&
          beast.get().keep_alive()) {
        complete(false);
        return true;
      }
      if (n == 0) return false;
    }
    return false;
  }
};

ResponseParser::ResponseParser(std::string what, bool head_request)
    : s_(std::make_unique<State>()) {
  s_->what = std::move(what);
  s_->beast.body_limit(max_body);
  // Larger than any header handed over (feed() enforces max_header), so it never applies.
  s_->beast.header_limit(2 * max_header);
  if (head_request) s_->beast.skip(true);
}

ResponseParser::~ResponseParser() = default;

bool ResponseParser::started() const noexcept { return s_->started; }
bool ResponseParser::done() const noexcept { return s_->done; }
bool ResponseParser::reusable() const noexcept {
  return s_->done && s_->reusable && !s_->bytes_after_end;
}

bool ResponseParser::feed(std::string_view bytes) {
  State& s = *s_;
  if (bytes.empty()) return s.done;
  s.started = true;
  if (s.done) {
    s.bytes_after_end = true;
    return true;
  }
  if (s.in_beast) return s.to_beast(bytes);
  // The header is collected here rather than by Beast, so that garbage fails at once instead of
  // waiting for line ends that may never come, and the status line can be normalised first.
  // Beast gets the header whole: it finds some malformed lines only when it parses the header in
  // one piece, and applies its size limit differently to the first piece and to later ones, and
  // the outcome must not depend on how bytes arrive.
  s.start.append(bytes);
  const std::string_view seen = s.start;
  if (!may_be_http(seen)) throw s.malformed("no \"HTTP/\" status line", seen);
  if (seen.substr(0, max_header).find("\r\n\r\n") == std::string_view::npos) {
    if (seen.size() < max_header) return false;
    throw s.malformed(fmt::format("a header longer than {} bytes", max_header), seen);
  }
  std::string start = std::move(s.start);
  s.start.clear();
  const auto eol = std::string_view(start).substr(0, max_status_line).find("\r\n");
  if (eol != std::string_view::npos) s.reason = normalise_status_line(start, eol);
  s.in_beast = true;
  return s.to_beast(start);
}

void ResponseParser::finish(const error_code& ec) {
  State& s = *s_;
  if (s.done) return;
  if (!s.started)
    throw Error(
        0, fmt::format("{}: the connection closed without an answer ({})", s.what, ec.message()));
  if (!s.in_beast) throw s.cut_short(ec, s.start);
  if (ec != asio::error::eof) throw s.failed(ec);
  // As Beast's own read does at EOF: a body that runs to the end of the stream is now complete.
  error_code eof;
  if (s.beast.got_some())
    s.beast.put_eof(eof);
  else
    eof = bhttp::error::partial_message;
  if (eof) throw s.failed(eof);
  s.complete(true);
}

Response ResponseParser::take() {
  State& s = *s_;
  Response out;
  if (!s.done) return out;
  auto& message = s.beast.get();
  out.status = static_cast<int>(message.result_int());
  out.reason = std::move(s.reason);
  out.body = std::move(message.body());
  return out;
}

Response parse_response(std::string_view bytes, std::string what) {
  ResponseParser parser(std::move(what));
  if (!parser.feed(bytes)) parser.finish(asio::error::eof);
  return parser.take();
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

  auto op = run(x);
  auto outcome = co_await detail::race(std::move(op), deadline);
  if (outcome.end != detail::RaceEnd::done)
    throw Error(0, fmt::format("{}: timed out after {} while {}", x.what,
                               detail::format_duration(Clock::now() - started), x.phase));
  Response response = std::move(*outcome.value);
  if (response.status >= 200 && response.status <= 299) co_return response;
  std::string message = vmm_message(response.body);
  std::string sentence =
      fmt::format("{}: {}", x.what, status_text(response.status, response.reason));
  if (!message.empty()) sentence += ": " + message;
  throw Error(response.status, sentence, std::move(message));
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
  // An exchange that throws leaves the connection to run()'s Turn, which drops it.
  ResponseParser parser(x.what, x.request.method() == bhttp::verb::head);
  std::array<char, 4096> chunk;
  for (;;) {
    auto [ec, n] =
        co_await socket_.async_read_some(asio::buffer(chunk), asio::as_tuple(use_awaitable));
    if (parser.feed(std::string_view(chunk.data(), n))) break;
    if (!ec) continue;
    close();
    if (!parser.started() && may_resend && closed_by_peer(ec)) co_return false;
    parser.finish(ec);
    break;
  }
  out = parser.take();
  if (!parser.reusable()) close();
  co_return true;
}

}  // namespace attest::http
